namespace NumLstm.Losses;

/// <summary>
/// Categorical cross-entropy with integer labels (Keras <c>sparse_categorical_crossentropy</c>, PyTorch
/// <c>CrossEntropyLoss</c>). L = (1/B) Σ_b ℓ_b.
/// <para>From logits (<c>fromLogits: true</c>, the default, as PyTorch; Keras' default is False): per row b,
/// ℓ_b = logsumexp(x_b) − x_b[y_b] = (m − x_b[y_b]) + log Σ_k exp(x_k − m), m = max_k x_k, so no exp overflows and
/// the difference is taken before log Σ is added (as PyTorch's log_softmax); dL/dx_bk = (softmax(x_b)_k − [k = y_b]) / B.</para>
/// <para>From probabilities (<c>fromLogits: false</c>, Keras' default), as keras/src/backend/jax/nn.py (also numpy/,
/// torch/): q_b = p_b / Σ_k p_bk, c = clip(q, ε, 1 − ε) with ε = 1e-7, ℓ_b = −log c_b[y_b];
/// dL/dp_bj = m_b·(1 − [j = y_b] / c_b[y_b]) / (B·s_b) with s_b = Σ_k p_bk and m_b = 1 if the label's q is inside
/// [ε, 1 − ε], else 0 (the clip's derivative).</para>
/// <para>Label smoothing (<c>labelSmoothing</c> = ls, default 0), as PyTorch's <c>CrossEntropyLoss(label_smoothing)</c>
/// with class indices: the target is the one-hot row smoothed, t̃_k = [k = y]·(1 − ls) + ls/K, so from logits
/// ℓ_b = (1 − ls)·(logsumexp(x_b) − x_b[y_b]) + (ls/K)·Σ_k (logsumexp(x_b) − x_bk) and dL/dx_bk = (softmax(x_b)_k − t̃_bk) / B;
/// from probabilities, the categorical loss of t̃ (<see cref="CategoricalCrossEntropy{T}"/>). So this equals
/// <see cref="CategoricalCrossEntropy{T}"/> with the same ls on one-hot rows. Keras' sparse loss has no such option.</para>
/// </summary>
public sealed class SoftmaxCrossEntropy<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <param name="fromLogits">true: predictions are logits (PyTorch; our models end in a linear Dense).
    /// false: predictions are probabilities, e.g. a softmax output (Keras' default).</param>
    /// <param name="labelSmoothing">ls in [0, 1]: the one-hot target becomes [k = y]·(1 − ls) + ls/K. 0 (the default)
    /// leaves it.</param>
    public SoftmaxCrossEntropy(bool fromLogits = true, double labelSmoothing = 0)
    {
        FromLogits = fromLogits;
        LabelSmoothing = CrossEntropyKernels<T>.CheckLabelSmoothing("SoftmaxCrossEntropy", labelSmoothing);
    }

    public string Name => "sparse_categorical_crossentropy";
    public LossTargetKind TargetKind => LossTargetKind.Labels;
    public bool FromLogits { get; }
    /// <summary>ls: the one-hot target is smoothed to [k = y]·(1 − ls) + ls/K before the loss (0: none).</summary>
    public double LabelSmoothing { get; }

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
        if (LabelSmoothing != 0)
        {
            (T keep, T share) = CrossEntropyKernels<T>.Smoothing(LabelSmoothing, classes);
            if (FromLogits) return SmoothedFromLogitRows(predictions, labels, classes, keep, share, predictionGradient);
            CrossEntropyKernels<T>.CheckProbabilityRows("SoftmaxCrossEntropy", predictions, batch, classes);
            return SmoothedFromProbabilityRows(predictions, labels, classes, keep, share, predictionGradient);
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
            // −log softmax_y = (m − x_y) + log Σ: the difference first, as PyTorch's log_softmax and TensorFlow's sparse
            // kernel take it; (m + log Σ) − x_y lost log Σ to m's rounding on rows far from zero (0 for ln 2 at 1e30).
            sum += double.CreateTruncating((max - row[labels[b]]) + T.Log(sumExp));

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

    // Label smoothing from logits, as torch.nn.functional.cross_entropy: (1 − ls)·nll + (ls/K)·Σ_k (−log softmax_k), each
    // row's loss formed in T and the rows summed in double; the gradient softmax − t̃ with t̃ = [k = y]·keep + share
    // (keep + share at the label).
    private static T SmoothedFromLogitRows(ReadOnlySpan<T> logits, ReadOnlySpan<int> labels, int classes, T keep, T share, Span<T> predictionGradient)
    {
        int batch = labels.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseBatch = T.CreateTruncating(1.0 / batch);
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> row = logits.Slice(b * classes, classes);
            int label = labels[b];
            T sumExp = CrossEntropyKernels<T>.SumExp(row, out T max);
            T logSum = T.Log(sumExp);
            T negativeLogSum = T.Zero;   // Σ_k −log softmax_k, each (m − x_k) + log Σ as above
            for (int k = 0; k < classes; k++) negativeLogSum += (max - row[k]) + logSum;
            sum += double.CreateTruncating(keep * ((max - row[label]) + logSum) + share * negativeLogSum);

            if (withGradient)
            {
                Span<T> gradientRow = predictionGradient.Slice(b * classes, classes);
                CrossEntropyKernels<T>.ScaledExp(row, max, inverseBatch / sumExp, gradientRow);
                for (int k = 0; k < classes; k++) gradientRow[k] -= share * inverseBatch;
                gradientRow[label] -= keep * inverseBatch;
            }
        }
        return T.CreateTruncating(sum / batch);
    }

    // Label smoothing from probabilities: the categorical probability loss of t̃ = [k = y]·keep + share (Keras' clip and
    // row sum), dℓ/dp_j = (Σ_k m_k·t̃_k − m_j·t̃_j / q_j) / s.
    private static T SmoothedFromProbabilityRows(ReadOnlySpan<T> probabilities, ReadOnlySpan<int> labels, int classes, T keep, T share, Span<T> predictionGradient)
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
            T weighted = T.Zero, passedTargetSum = T.Zero;
            for (int k = 0; k < classes; k++)
            {
                T q = row[k] / rowSum, target = k == label ? keep + share : share;
                weighted += target * T.Log(CrossEntropyKernels<T>.Clip(q));
                if (CrossEntropyKernels<T>.ClipPasses(q)) passedTargetSum += target;
            }
            sum += double.CreateTruncating(-weighted);

            if (withGradient)
            {
                Span<T> gradientRow = predictionGradient.Slice(b * classes, classes);
                T scale = inverseBatch / rowSum;
                for (int k = 0; k < classes; k++)
                {
                    T q = row[k] / rowSum;
                    T own = CrossEntropyKernels<T>.ClipPasses(q) ? (k == label ? keep + share : share) / q : T.Zero;
                    gradientRow[k] = (passedTargetSum - own) * scale;
                }
            }
        }
        return T.CreateTruncating(sum / batch);
    }
}
