namespace NumLstm.Losses;

/// <summary>
/// Keras' log-cosh loss (<c>log_cosh</c>, <c>keras.losses.LogCosh</c>): with x = p − y, ℓ(x) = log cosh x, which Keras
/// writes x + softplus(−2x) − log 2; L = (1/N) Σ ℓ over all N = B·K elements (each sample's mean over its K outputs,
/// then the mean over the batch). dL/dp = tanh(x) / N. Evaluated without overflow (|x| = 100 in float gives 100 − log 2)
/// or cancellation near 0 (see <see cref="RegressionTerms.LogCosh"/>).
/// </summary>
public sealed class LogCosh<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public string Name => "log_cosh";
    public LossTargetKind TargetKind => LossTargetKind.Values;

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("LogCosh", targets);
        return Forward(predictions, targets.Values, predictionGradient);
    }

    /// <summary>predictions, targets, predictionGradient: [B, K]. Returns the mean loss; overwrites the gradient.</summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckElementwise("LogCosh", predictions, targets, predictionGradient);
        int n = predictions.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        double inverseN = 1.0 / n;
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            double x = double.CreateTruncating(predictions[k]) - double.CreateTruncating(targets[k]);
            sum += RegressionTerms.LogCosh(x);                                                                   // (C1)
            if (withGradient) predictionGradient[k] = T.CreateTruncating(RegressionTerms.LogCoshDerivative(x) * inverseN);   // (C2)
        }
        return T.CreateTruncating(sum / n);
    }
}
