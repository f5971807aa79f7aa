namespace NumLstm.Losses;

/// <summary>
/// L = (1/N) Σ |p − y| over all N = B·K elements (Keras <c>mae</c>, PyTorch <c>L1Loss(reduction='mean')</c>);
/// dL/dp = sign(p − y) / N with sign(0) = 0, the subgradient PyTorch uses.
/// </summary>
public sealed class MeanAbsoluteError<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public string Name => "mae";
    public LossTargetKind TargetKind => LossTargetKind.Values;

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("MeanAbsoluteError", targets);
        return Forward(predictions, targets.Values, predictionGradient);
    }

    /// <summary>predictions, targets, predictionGradient: [B, K]. Returns the mean loss; overwrites the gradient.</summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckElementwise("MeanAbsoluteError", predictions, targets, predictionGradient);
        int n = predictions.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseN = T.CreateTruncating(1.0 / n);
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            T diff = predictions[k] - targets[k];
            sum += double.CreateTruncating(T.Abs(diff));
            if (withGradient)
                predictionGradient[k] = diff > T.Zero ? inverseN : diff < T.Zero ? -inverseN : T.Zero;
        }
        return T.CreateTruncating(sum / n);
    }
}
