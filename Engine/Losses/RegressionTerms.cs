namespace NumLstm.Losses;

/// <summary>
/// The per-element terms of Keras 3's regression losses Huber, LogCosh, MeanSquaredLogarithmicError and
/// MeanAbsolutePercentageError, and their derivatives with respect to the prediction p (keras/src/losses/losses.py:
/// <c>huber</c>, <c>log_cosh</c>, <c>mean_squared_logarithmic_error</c>, <c>mean_absolute_percentage_error</c>).
/// Evaluated in double; the losses and the metrics (<see cref="Metrics"/>) share them, so a loss and its metric agree.
/// Equations in docs/math-losses-optimizers.md ("Huber", "Log-cosh", "Mean squared logarithmic error", "Mean absolute
/// percentage error").
/// </summary>
/// <remarks>
/// Where Keras' expression has a kink, the derivative is the one TensorFlow's autodiff gives for it: d|x|/dx = sign(x)
/// with sign(0) = 0 (<c>_AbsGrad</c>), and maximum(x, ε) passes the gradient to x where x ≥ ε, ties included
/// (<c>_MaximumGrad</c> selects with <c>greater_equal</c>). JAX and PyTorch split a tie of maximum in halves.
/// </remarks>
internal static class RegressionTerms
{
    /// <summary>keras.config.epsilon(), rounded to T as Keras converts it to the tensor's dtype (<see cref="EpsilonOf{T}"/>).</summary>
    public const double Epsilon = 1e-7;

    private static readonly double Ln2 = Math.Log(2.0);

    /// <summary>ε rounded to T, as a double (float: 1.0000000116860974e-7; double: 1e-7).</summary>
    public static double EpsilonOf<T>() where T : unmanaged, IFloatingPointIeee754<T>
        => double.CreateTruncating(T.CreateTruncating(Epsilon));

    /// <summary>(H1) ½e² if |e| ≤ δ, else δ|e| − ½δ² (Keras picks the quadratic branch at |e| = δ).</summary>
    public static double Huber(double error, double delta)
    {
        double absError = Math.Abs(error);
        return absError <= delta ? 0.5 * error * error : delta * absError - 0.5 * delta * delta;
    }

    /// <summary>(H2) e if |e| ≤ δ, else δ·sign(e): continuous (both give ±δ at |e| = δ), 0 at e = 0.</summary>
    public static double HuberDerivative(double error, double delta)
        => Math.Abs(error) <= delta ? error : error > 0 ? delta : -delta;

    /// <summary>
    /// (C1) log cosh x = x + softplus(−2x) − log 2, Keras' form, evaluated without overflow or cancellation: for |x| &gt; 1
    /// as |x| + log(1 + exp(−2|x|)) − log 2 (the same function, log cosh being even; exp(−2|x|) &lt; 1 never overflows,
    /// so |x| = 100 gives 100 − log 2 in float too), and for |x| ≤ 1 as log(1 + 2 sinh²(x/2)) = log(1 + (cosh x − 1)),
    /// because there the softplus form loses the small result x²/2 to cancellation (x = 1e-3 in float32: terms near
    /// log 2 rounded to 3e-8 each, against a result of 5e-7).
    /// </summary>
    public static double LogCosh(double x)
    {
        double a = Math.Abs(x);
        if (a > 1) return a + LogOnePlus(Math.Exp(-2 * a)) - Ln2;
        double s = Math.Sinh(0.5 * a);
        return LogOnePlus(2 * s * s);
    }

    /// <summary>(C2) d log cosh x / dx = tanh x (= 1 − 2σ(2x), the derivative of the softplus form). No kink.</summary>
    public static double LogCoshDerivative(double x) => Math.Tanh(x);

    /// <summary>(S1) log(1 + max(v, ε)), with log1p accurate for small arguments (Keras computes log(max(v, ε) + 1)).</summary>
    public static double LogOnePlusClamped(double value, double epsilon) => LogOnePlus(Math.Max(value, epsilon));   // NaN stays NaN

    /// <summary>(S2) d log(1 + max(p, ε)) / dp: 1/(1 + p) where p ≥ ε (ties to p, as TensorFlow's maximum), else 0.</summary>
    public static double LogOnePlusClampedDerivative(double value, double epsilon) => value >= epsilon ? 1 / (1 + value) : 0;

    /// <summary>(A1) 100·|y − p| / max(|y|, ε): Keras' 100·|(y − p) / max(|y|, ε)| (the divisor is positive).</summary>
    public static double AbsolutePercentageError(double prediction, double target, double epsilon)
        => 100 * Math.Abs(target - prediction) / Math.Max(Math.Abs(target), epsilon);

    /// <summary>(A2) d/dp: 100·sign(p − y) / max(|y|, ε), with sign(0) = 0 (TensorFlow's d|x|/dx at 0).</summary>
    public static double AbsolutePercentageErrorDerivative(double prediction, double target, double epsilon)
    {
        double diff = prediction - target;
        double sign = diff > 0 ? 1 : diff < 0 ? -1 : 0;
        return 100 * sign / Math.Max(Math.Abs(target), epsilon);
    }

    /// <summary>log(1 + u) accurate for small u (<see cref="BinaryCrossEntropy{T}.LogOnePlus"/>: Goldberg's correction).</summary>
    private static double LogOnePlus(double u) => BinaryCrossEntropy<double>.LogOnePlus(u);
}
