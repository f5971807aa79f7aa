namespace NumLstm.Losses;

/// <summary>
/// L = (1/N) Σ (p − y)² over all N = B·K elements (Keras <c>mse</c>, PyTorch <c>MSELoss(reduction='mean')</c>);
/// dL/dp = 2 (p − y) / N.
/// </summary>
public sealed class MeanSquaredError<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public string Name => "mse";
    public LossTargetKind TargetKind => LossTargetKind.Values;

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("MeanSquaredError", targets);
        return Forward(predictions, targets.Values, predictionGradient);
    }

    /// <summary>predictions, targets, predictionGradient: [B, K]. Returns the mean loss; overwrites the gradient.</summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckElementwise("MeanSquaredError", predictions, targets, predictionGradient);
        int n = predictions.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        T gradientScale = T.CreateTruncating(2.0 / n);
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            T diff = predictions[k] - targets[k];
            sum += double.CreateTruncating(diff * diff);
            if (withGradient) predictionGradient[k] = gradientScale * diff;
        }
        return T.CreateTruncating(sum / n);
    }
}
