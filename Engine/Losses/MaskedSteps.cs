namespace NumLstm.Losses;

/// <summary>
/// Keras' reduction of a loss over per-step targets with a mask: predictions [B, T, K] read as R = B·T rows, a mask
/// m [B, T] (the lengths' mask, or a Masking layer's, carried to the output: <see cref="Models.Sequential{T}.OutputMask"/>)
/// and optional sample weights s, one per row. Keras 3 (keras/src/losses/loss.py, <c>reduce_weighted_values</c> with
/// <c>apply_mask</c> and the default <c>sum_over_batch_size</c>) turns the mask into weights m·R/valid, valid = Σ m
/// (<c>ops.divide_no_nan(total, valid)</c>: 0 when no step is valid; keras-team/keras#21908 removed the former
/// <c>total / (valid + backend.epsilon())</c>), multiplies them into the sample weights and divides the weighted sum by R:
/// <code>
///   L = Σ_r s_r·m_r·(R/valid)·l_r / R  =  Σ_r s_r·m_r·l_r / valid   (to float32 rounding)
/// </code>
/// so a masked step adds nothing, and without sample weights the loss is the mean over the valid steps. Its gradient
/// with respect to row r is that row's weight times the unweighted mean's row (<see cref="SampleWeighting"/>); a masked
/// row's is 0. A batch with no valid step has loss 0 and gradient 0, as in Keras.
/// </summary>
public static class MaskedSteps
{
    /// <summary>
    /// Each row's loss weight, s_r · m_r · R/valid (0 for every row when valid = 0, Keras' divide_no_nan), computed in
    /// float32 in Keras' order (the mask's scale first, then the sample weight); <paramref name="sampleWeights"/> empty means 1 each, and may be <paramref name="weights"/> itself
    /// (each is read before it is written). Returns valid, the number of kept rows.
    /// </summary>
    public static int LossWeights(ReadOnlySpan<bool> mask, ReadOnlySpan<float> sampleWeights, Span<float> weights)
    {
        int rows = mask.Length;
        if (rows == 0) throw new ArgumentException("mask: expected one value per target row [B, T], got none.", nameof(mask));
        if (weights.Length != rows)
            throw new ArgumentException($"weights: expected room for {rows} row weights (one per mask value), got {weights.Length}.", nameof(weights));
        if (!sampleWeights.IsEmpty && sampleWeights.Length != rows)
            throw new ArgumentException($"sampleWeights: expected {rows} weights (one per mask value) or none, got {sampleWeights.Length}.", nameof(sampleWeights));
        int valid = 0;
        foreach (bool kept in mask) if (kept) valid++;
        float scale = valid == 0 ? 0f : (float)rows / valid;   // Keras 3: mask *= ops.divide_no_nan(total, valid)
        for (int r = 0; r < rows; r++)
        {
            float masked = mask[r] ? scale : 0f;
            weights[r] = sampleWeights.IsEmpty ? masked : sampleWeights[r] * masked;
        }
        return valid;
    }

    /// <summary>
    /// The masked loss L above over the R = <paramref name="mask"/>.Length rows of <paramref name="predictions"/>, and
    /// (unless <paramref name="predictionGradient"/> is empty) its gradient with respect to the predictions, overwritten.
    /// <paramref name="sampleWeights"/>: one per row (a sequence's weight repeated over its steps, or a weight per step),
    /// finite and ≥ 0, or empty for none.
    /// </summary>
    public static double Forward<T>(ILoss<T> loss, ReadOnlySpan<T> predictions, LossTargets<T> targets, ReadOnlySpan<bool> mask,
        ReadOnlySpan<float> sampleWeights, Span<T> predictionGradient) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(loss);
        var weights = new float[mask.Length];
        LossWeights(mask, sampleWeights, weights);
        return SampleWeighting.Forward(loss, predictions, targets, weights, predictionGradient);
    }
}
