namespace NumLstm.Losses;

/// <summary>
/// Keras' mean squared logarithmic error (<c>mean_squared_logarithmic_error</c>, <c>msle</c>): with
/// a = log(1 + max(p, ε)) and b = log(1 + max(y, ε)), ε = 1e-7 rounded to T, L = (1/N) Σ (a − b)² over all N = B·K
/// elements (each sample's mean over its K outputs, then the mean over the batch);
/// dL/dp = 2(a − b) / ((1 + p)·N) where p ≥ ε, and 0 where p &lt; ε (maximum(p, ε) passes the gradient to p on a tie, as
/// TensorFlow's autodiff does). So a prediction below ε gets no gradient, as in Keras. log(1 + u) is computed
/// accurately for small u, where Keras rounds 1 + u in T first.
/// </summary>
public sealed class MeanSquaredLogarithmicError<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly double Epsilon = RegressionTerms.EpsilonOf<T>();

    public string Name => "msle";
    public LossTargetKind TargetKind => LossTargetKind.Values;

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("MeanSquaredLogarithmicError", targets);
        return Forward(predictions, targets.Values, predictionGradient);
    }

    /// <summary>predictions, targets, predictionGradient: [B, K]. Returns the mean loss; overwrites the gradient.</summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckElementwise("MeanSquaredLogarithmicError", predictions, targets, predictionGradient);
        int n = predictions.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        double inverseN = 1.0 / n;
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            double p = double.CreateTruncating(predictions[k]);
            double diff = RegressionTerms.LogOnePlusClamped(p, Epsilon)                                  // (S1)
                - RegressionTerms.LogOnePlusClamped(double.CreateTruncating(targets[k]), Epsilon);
            sum += diff * diff;
            if (withGradient)
                predictionGradient[k] = T.CreateTruncating(2 * diff * RegressionTerms.LogOnePlusClampedDerivative(p, Epsilon) * inverseN);   // (S2)
        }
        return T.CreateTruncating(sum / n);
    }
}
