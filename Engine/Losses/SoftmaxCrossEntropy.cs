namespace NumLstm.Losses;

/// <summary>
/// Softmax cross-entropy from logits with integer labels (Keras <c>sparse_categorical_crossentropy(from_logits=True)</c>,
/// PyTorch <c>CrossEntropyLoss</c>). Per row b: ℓ_b = logsumexp(x_b) − x_b[y_b], with
/// logsumexp(x) = m + log Σ_k exp(x_k − m), m = max_k x_k, so no exp overflows. L = (1/B) Σ_b ℓ_b;
/// dL/dx_bk = (softmax(x_b)_k − [k = y_b]) / B.
/// </summary>
public sealed class SoftmaxCrossEntropy<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public string Name => "sparse_categorical_crossentropy";
    public LossTargetKind TargetKind => LossTargetKind.Labels;

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckLabels("SoftmaxCrossEntropy", targets);
        return Forward(predictions, targets.Labels, predictionGradient);
    }

    /// <summary>
    /// logits: [B, K], labels: [B] with values in [0, K), predictionGradient: [B, K] or empty.
    /// K is logits.Length / B. Returns the mean loss over B; overwrites the gradient.
    /// </summary>
    public T Forward(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, Span<T> predictionGradient)
    {
        int batch = labels.Length;
        if (batch == 0)
            throw new ArgumentException("SoftmaxCrossEntropy: labels are empty; a batch needs at least one row.", nameof(labels));
        if (logits.IsEmpty || logits.Length % batch != 0)
            throw new ArgumentException(
                $"SoftmaxCrossEntropy: logits must be [B={batch}, K] (a multiple of {batch} values), got {logits.Length}.", nameof(logits));
        int classes = logits.Length / batch;
        Loss.CheckGradient("SoftmaxCrossEntropy", logits.Length, predictionGradient);
        for (int b = 0; b < batch; b++)
        {
            if ((uint)labels[b] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[b],
                    $"SoftmaxCrossEntropy: labels[{b}] = {labels[b]} is outside [0, {classes}).");
        }

        bool withGradient = !predictionGradient.IsEmpty;
        T inverseBatch = T.CreateTruncating(1.0 / batch);
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> row = logits.Slice(b * classes, classes);
            T max = row[0];
            for (int k = 1; k < classes; k++) max = T.MaxNumber(max, row[k]);
            T sumExp = T.Zero;
            for (int k = 0; k < classes; k++) sumExp += T.Exp(row[k] - max);
            T logSumExp = max + T.Log(sumExp);
            sum += double.CreateTruncating(logSumExp - row[labels[b]]);

            if (withGradient)
            {
                Span<T> gradientRow = predictionGradient.Slice(b * classes, classes);
                T scale = inverseBatch / sumExp;
                for (int k = 0; k < classes; k++) gradientRow[k] = T.Exp(row[k] - max) * scale;
                gradientRow[labels[b]] -= inverseBatch;
            }
        }
        return T.CreateTruncating(sum / batch);
    }
}
