namespace NumLstm.Losses;

/// <summary>
/// Keras' Huber loss (<c>huber</c>, <c>keras.losses.Huber(delta=1.0)</c>; PyTorch <c>HuberLoss(delta)</c>): with e = p − y,
/// ℓ(e) = ½e² if |e| ≤ δ, else δ|e| − ½δ²; L = (1/N) Σ ℓ over all N = B·K elements (each sample's mean over its K
/// outputs, then the mean over the batch). dL/dp = (e if |e| ≤ δ, else δ·sign(e)) / N, continuous, 0 at e = 0.
/// </summary>
public sealed class Huber<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly double delta;

    /// <param name="delta">Where the loss turns from quadratic to linear; default 1.0 (Keras). Must be positive and finite
    /// once rounded to T (Keras takes any float: with δ ≤ 0 its loss is δ|e| − ½δ², negative for δ &lt; 0).</param>
    public Huber(double delta = 1.0)
    {
        T rounded = T.CreateTruncating(delta);
        if (!(rounded > T.Zero) || !T.IsFinite(rounded))
            throw new ArgumentOutOfRangeException(nameof(delta), delta,
                $"Huber: delta must be positive and finite (as {typeof(T).Name}), got {delta}.");
        // δ in T, as Keras converts it to the predictions' dtype.
        this.delta = double.CreateTruncating(rounded);
    }

    /// <summary>δ as used: the constructor's value rounded to T.</summary>
    public double Delta => delta;

    public string Name => "huber";
    public LossTargetKind TargetKind => LossTargetKind.Values;

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("Huber", targets);
        return Forward(predictions, targets.Values, predictionGradient);
    }

    /// <summary>predictions, targets, predictionGradient: [B, K]. Returns the mean loss; overwrites the gradient.</summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckElementwise("Huber", predictions, targets, predictionGradient);
        int n = predictions.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        double inverseN = 1.0 / n;
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            double error = double.CreateTruncating(predictions[k]) - double.CreateTruncating(targets[k]);
            sum += RegressionTerms.Huber(error, delta);                                                                    // (H1)
            if (withGradient) predictionGradient[k] = T.CreateTruncating(RegressionTerms.HuberDerivative(error, delta) * inverseN);   // (H2)
        }
        return T.CreateTruncating(sum / n);
    }
}
