using System.Numerics.Tensors;

namespace NumLstm.Losses;

/// <summary>
/// Keras' <c>sample_weight</c> on any <see cref="ILoss{T}"/>: sample i of a batch of B (row i of the predictions
/// [B, K]) weighs wᵢ, and the batch loss is Σᵢ wᵢ·lᵢ / B, lᵢ the sample's own loss (Keras 3's
/// <c>reduce_weighted_values</c> with the default reduction <c>sum_over_batch_size</c>, keras/src/losses/loss.py: divided
/// by B, not by Σᵢ wᵢ). Its gradient with respect to row i is wᵢ times the unweighted batch mean's row. Weights are float32,
/// as Keras keeps sample weights in floatx; the sum is taken in double. A batch whose weights are all 1 gives the
/// unweighted mean and gradient bit for bit.
/// </summary>
public static class SampleWeighting
{
    /// <summary>
    /// Σᵢ wᵢ·lᵢ / B over the B = <paramref name="sampleWeights"/>.Length rows of <paramref name="predictions"/>, and
    /// (unless <paramref name="predictionGradient"/> is empty) its gradient with respect to the predictions, overwritten.
    /// Each weight must be finite and ≥ 0, and target rows, when given (labels, or values with their row count), must be B.
    /// </summary>
    public static double Forward<T>(ILoss<T> loss, ReadOnlySpan<T> predictions, LossTargets<T> targets, ReadOnlySpan<float> sampleWeights,
        Span<T> predictionGradient) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(loss);
        int b = sampleWeights.Length;
        if (b == 0 || predictions.Length % b != 0)
            throw new ArgumentException($"sampleWeights: expected one weight per row of the predictions [B, K]; got {b} weights for {predictions.Length} values.", nameof(sampleWeights));
        if (targets.Kind == LossTargetKind.Labels && targets.Labels.Length != b)
            throw new ArgumentException($"sampleWeights: expected one weight per label, {targets.Labels.Length}; got {b}.", nameof(sampleWeights));
        // Target rows given (a row-wise loss needs them) must be the weights' rows: else the batch mean and its gradient
        // would read the batch as those rows and the weighting as B rows of another width.
        if (targets.Kind == LossTargetKind.Values && targets.Rows != 0 && targets.Rows != b)
            throw new ArgumentException($"sampleWeights: expected one weight per target row, {targets.Rows}; got {b}.", nameof(sampleWeights));
        for (int i = 0; i < b; i++)
            if (!(sampleWeights[i] >= 0) || !float.IsFinite(sampleWeights[i]))
                throw new ArgumentOutOfRangeException(nameof(sampleWeights), sampleWeights[i], $"sampleWeights[{i}]: a sample weight must be finite and ≥ 0, got {sampleWeights[i]:R}.");
        T mean = loss.Forward(predictions, targets, predictionGradient);
        return Reweigh(loss, predictions, targets, sampleWeights, predictionGradient, double.CreateTruncating(mean));
    }

    /// <summary>
    /// The weighting step alone, for a caller that already has the unweighted batch mean and its gradient (the trainer,
    /// which computes them with its metric): every loss here is a mean of per-sample losses, so the gradient rows are
    /// ∂lᵢ/B and weighting a row is one multiply, exact for a weight of 1; each lᵢ is the loss on that row alone.
    /// </summary>
    internal static double Reweigh<T>(ILoss<T> loss, ReadOnlySpan<T> predictions, LossTargets<T> targets, ReadOnlySpan<float> sampleWeights,
        Span<T> predictionGradient, double unweightedMean) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // All 1: the unweighted batch, its loss as the loss computed it (the row sums below would round it differently,
        // and early stopping reads it).
        if (!sampleWeights.ContainsAnyExcept(1f)) return unweightedMean;
        int b = sampleWeights.Length, width = predictions.Length / b;
        double weighted = 0;
        for (int i = 0; i < b; i++)
        {
            LossTargets<T> rowTargets = targets.Kind == LossTargetKind.Labels
                ? LossTargets<T>.FromLabels(targets.Labels.Slice(i, 1))
                : LossTargets<T>.FromValues(targets.Values.Slice(i * width, width), 1);
            weighted += sampleWeights[i] * double.CreateTruncating(loss.Forward(predictions.Slice(i * width, width), rowTargets, default));
            if (!predictionGradient.IsEmpty)
            {
                Span<T> row = predictionGradient.Slice(i * width, width);
                TensorPrimitives.Multiply(row, T.CreateTruncating(sampleWeights[i]), row);
            }
        }
        return weighted / b;
    }
}
