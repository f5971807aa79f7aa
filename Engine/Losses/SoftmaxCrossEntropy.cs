namespace NumLstm.Losses;

/// <summary>
/// Categorical cross-entropy with integer labels (Keras <c>sparse_categorical_crossentropy</c>, PyTorch
/// <c>CrossEntropyLoss</c>). L = (1/B) Σ_b ℓ_b.
/// <para>From logits (<c>fromLogits: true</c>, the default, as PyTorch; Keras' default is False): per row b,
/// ℓ_b = logsumexp(x_b) − x_b[y_b], with logsumexp(x) = m + log Σ_k exp(x_k − m), m = max_k x_k, so no exp
/// overflows; dL/dx_bk = (softmax(x_b)_k − [k = y_b]) / B.</para>
/// <para>From probabilities (<c>fromLogits: false</c>, Keras' default), as keras/src/backend/jax/nn.py (also numpy/,
/// torch/): q_b = p_b / Σ_k p_bk, c = clip(q, ε, 1 − ε) with ε = 1e-7, ℓ_b = −log c_b[y_b];
/// dL/dp_bj = m_b·(1 − [j = y_b] / c_b[y_b]) / (B·s_b) with s_b = Σ_k p_bk and m_b = 1 if the label's q is inside
/// [ε, 1 − ε], else 0 (the clip's derivative).</para>
/// </summary>
public sealed class SoftmaxCrossEntropy<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <param name="fromLogits">true: predictions are logits (PyTorch; our models end in a linear Dense).
    /// false: predictions are probabilities, e.g. a softmax output (Keras' default).</param>
    public SoftmaxCrossEntropy(bool fromLogits = true) => FromLogits = fromLogits;

    public string Name => "sparse_categorical_crossentropy";
    public LossTargetKind TargetKind => LossTargetKind.Labels;
    public bool FromLogits { get; }

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckLabels("SoftmaxCrossEntropy", targets);
        return Forward(predictions, targets.Labels, predictionGradient);
    }

    /// <summary>
    /// predictions: [B, K] logits (or probabilities when <see cref="FromLogits"/> is false), labels: [B] with values
    /// in [0, K), predictionGradient: [B, K] or empty. K is predictions.Length / B. Returns the mean loss over B;
    /// overwrites the gradient.
    /// </summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<int> labels, Span<T> predictionGradient)
    {
        int batch = labels.Length;
        if (batch == 0)
            throw new ArgumentException("SoftmaxCrossEntropy: labels are empty; a batch needs at least one row.", nameof(labels));
        if (predictions.IsEmpty || predictions.Length % batch != 0)
            throw new ArgumentException(
                $"SoftmaxCrossEntropy: predictions must be [B={batch}, K] (a multiple of {batch} values), got {predictions.Length}.", nameof(predictions));
        int classes = predictions.Length / batch;
        Loss.CheckGradient("SoftmaxCrossEntropy", predictions.Length, predictionGradient);
        for (int b = 0; b < batch; b++)
        {
            if ((uint)labels[b] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[b],
                    $"SoftmaxCrossEntropy: labels[{b}] = {labels[b]} is outside [0, {classes}).");
        }
        if (FromLogits) return FromLogitRows(predictions, labels, classes, predictionGradient);
        CrossEntropyKernels<T>.CheckProbabilityRows("SoftmaxCrossEntropy", predictions, batch, classes);
        return FromProbabilityRows(predictions, labels, classes, predictionGradient);
    }

    private static T FromLogitRows(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int classes, Span<T> predictionGradient)
    {
        int batch = labels.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseBatch = T.CreateTruncating(1.0 / batch);
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> row = logits.Slice(b * classes, classes);
            T sumExp = CrossEntropyKernels<T>.SumExp(row, out T max);
            T logSumExp = max + T.Log(sumExp);
            sum += double.CreateTruncating(logSumExp - row[labels[b]]);

            if (withGradient)
            {
                Span<T> gradientRow = predictionGradient.Slice(b * classes, classes);
                CrossEntropyKernels<T>.ScaledExp(row, max, inverseBatch / sumExp, gradientRow);
                gradientRow[labels[b]] -= inverseBatch;
            }
        }
        return T.CreateTruncating(sum / batch);
    }

    private static T FromProbabilityRows(ReadOnlySpan<T> probabilities, ReadOnlySpan<int> labels, int classes, Span<T> predictionGradient)
    {
        int batch = labels.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseBatch = T.CreateTruncating(1.0 / batch);
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> row = probabilities.Slice(b * classes, classes);
            int label = labels[b];
            T rowSum = CrossEntropyKernels<T>.Sum(row);
            T q = row[label] / rowSum;
            T clipped = CrossEntropyKernels<T>.Clip(q);
            sum += double.CreateTruncating(-T.Log(clipped));

            if (withGradient)
            {
                // dℓ/dp_j = m·(1 − [j = y] / c_y) / s: m is the clip's derivative at the label's q, s couples the row.
                Span<T> gradientRow = predictionGradient.Slice(b * classes, classes);
                if (!CrossEntropyKernels<T>.ClipPasses(q))
                {
                    gradientRow.Clear();
                    continue;
                }
                T scale = inverseBatch / rowSum;
                gradientRow.Fill(scale);
                gradientRow[label] = (T.One - T.One / clipped) * scale;
            }
        }
        return T.CreateTruncating(sum / batch);
    }
}
