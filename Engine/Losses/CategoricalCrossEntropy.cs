namespace NumLstm.Losses;

/// <summary>
/// Categorical cross-entropy with one-hot or soft-label target rows t_b of the predictions' shape [B, K] (Keras
/// <c>categorical_crossentropy</c>, PyTorch <c>CrossEntropyLoss</c> with class-probability targets).
/// L = (1/B) Σ_b ℓ_b, with S_b = Σ_k t_bk (1 for one-hot targets).
/// <para>From logits (<c>fromLogits: true</c>, the default, as PyTorch; Keras' default is False):
/// ℓ_b = −Σ_k t_bk·log softmax(x_b)_k, log softmax(x)_k = (x_k − m) − log Σ_j exp(x_j − m), m = max_j x_j;
/// dL/dx_bk = (S_b·softmax(x_b)_k − t_bk) / B.</para>
/// <para>From probabilities (<c>fromLogits: false</c>, Keras' default), as keras/src/backend/jax/nn.py (also numpy/,
/// torch/, tensorflow/): s_b = Σ_k p_bk, q = p / s, c = clip(q, ε, 1 − ε) with ε = 1e-7, ℓ_b = −Σ_k t_bk·log c_bk;
/// dL/dp_bj = (Σ_k m_bk·t_bk − m_bj·t_bj / c_bj) / (B·s_b), m = 1 where q is inside [ε, 1 − ε], else 0 (the clip's
/// derivative).</para>
/// <para>Label smoothing (<c>labelSmoothing</c> = ls, default 0; Keras' <c>label_smoothing</c>, PyTorch's for
/// probability targets): every target row is first replaced by t̃_bk = t_bk·(1 − ls) + ls/K, then the loss and its
/// gradient above are taken with t̃ (keras/src/losses/losses.py <c>categorical_crossentropy</c>; torch.nn.CrossEntropyLoss
/// docs, <c>label_smoothing</c>). The weights are rounded to T as Keras rounds them (<see cref="CrossEntropyKernels{T}.Smoothing"/>).</para>
/// </summary>
public sealed class CategoricalCrossEntropy<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <param name="fromLogits">true: predictions are logits (PyTorch; our models end in a linear Dense).
    /// false: predictions are probabilities, e.g. a softmax output (Keras' default).</param>
    /// <param name="labelSmoothing">ls in [0, 1]: targets become t·(1 − ls) + ls/K. 0 (the default) leaves them.</param>
    public CategoricalCrossEntropy(bool fromLogits = true, double labelSmoothing = 0)
    {
        FromLogits = fromLogits;
        LabelSmoothing = CrossEntropyKernels<T>.CheckLabelSmoothing("CategoricalCrossEntropy", labelSmoothing);
    }

    public string Name => "categorical_crossentropy";
    public LossTargetKind TargetKind => LossTargetKind.Values;
    public bool FromLogits { get; }
    /// <summary>ls: targets are smoothed to t·(1 − ls) + ls/K before the loss (0: none).</summary>
    public double LabelSmoothing { get; }

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("CategoricalCrossEntropy", targets);
        if (targets.Rows == 0)
            throw new ArgumentException(
                "CategoricalCrossEntropy works row by row and needs the batch size: pass LossTargets<T>.FromValues(values, rows).", nameof(targets));
        return Forward(predictions, targets.Values, targets.Rows, predictionGradient);
    }

    /// <summary>
    /// predictions: [B, K] logits (or probabilities when <see cref="FromLogits"/> is false), targets: [B, K] (finite,
    /// non-negative), predictionGradient: [B, K] or empty; K = predictions.Length / batch. Returns the mean loss over
    /// B; overwrites the gradient.
    /// </summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, int batch, Span<T> predictionGradient)
    {
        if (batch <= 0)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "CategoricalCrossEntropy: the batch needs at least one row.");
        if (predictions.IsEmpty || predictions.Length % batch != 0)
            throw new ArgumentException(
                $"CategoricalCrossEntropy: predictions must be [B={batch}, K] (a multiple of {batch} values), got {predictions.Length}.", nameof(predictions));
        int classes = predictions.Length / batch;
        if (targets.Length != predictions.Length)
            throw new ArgumentException(
                $"CategoricalCrossEntropy: targets must have the predictions' shape [B={batch}, K={classes}] ({predictions.Length} values), got {targets.Length}.", nameof(targets));
        Loss.CheckGradient("CategoricalCrossEntropy", predictions.Length, predictionGradient);
        for (int k = 0; k < targets.Length; k++)
        {
            if (!(targets[k] >= T.Zero && T.IsFinite(targets[k])))
                throw new ArgumentOutOfRangeException(nameof(targets), targets[k],
                    $"CategoricalCrossEntropy: targets[{k / classes}, {k % classes}] = {targets[k]}; targets must be finite and non-negative.");
        }
        (T keep, T share) = CrossEntropyKernels<T>.Smoothing(LabelSmoothing, classes);
        if (FromLogits) return FromLogitRows(predictions, targets, batch, keep, share, predictionGradient);
        CrossEntropyKernels<T>.CheckProbabilityRows("CategoricalCrossEntropy", predictions, batch, classes);
        return FromProbabilityRows(predictions, targets, batch, keep, share, predictionGradient);
    }

    // t̃ = t·keep + share (label smoothing; keep 1 and share 0 leave t as it is).
    private static T FromLogitRows(ReadOnlySpan<T> logits, ReadOnlySpan<T> targets, int batch, T keep, T share, Span<T> predictionGradient)
    {
        int classes = logits.Length / batch;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseBatch = T.CreateTruncating(1.0 / batch);
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> row = logits.Slice(b * classes, classes);
            ReadOnlySpan<T> targetRow = targets.Slice(b * classes, classes);
            T sumExp = CrossEntropyKernels<T>.SumExp(row, out T max);
            T logSumExp = T.Log(sumExp);
            T targetSum = T.Zero, weighted = T.Zero;
            for (int k = 0; k < classes; k++)
            {
                T target = targetRow[k] * keep + share;
                targetSum += target;
                weighted += target * (row[k] - max - logSumExp);   // t·log softmax, as Keras' log_softmax
            }
            sum += double.CreateTruncating(-weighted);

            if (withGradient)
            {
                Span<T> gradientRow = predictionGradient.Slice(b * classes, classes);
                CrossEntropyKernels<T>.ScaledExp(row, max, targetSum * inverseBatch / sumExp, gradientRow);
                for (int k = 0; k < classes; k++) gradientRow[k] -= (targetRow[k] * keep + share) * inverseBatch;
            }
        }
        return T.CreateTruncating(sum / batch);
    }

    private static T FromProbabilityRows(ReadOnlySpan<T> probabilities, ReadOnlySpan<T> targets, int batch, T keep, T share, Span<T> predictionGradient)
    {
        int classes = probabilities.Length / batch;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseBatch = T.CreateTruncating(1.0 / batch);
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> row = probabilities.Slice(b * classes, classes);
            ReadOnlySpan<T> targetRow = targets.Slice(b * classes, classes);
            T rowSum = CrossEntropyKernels<T>.Sum(row);
            T weighted = T.Zero, passedTargetSum = T.Zero;
            for (int k = 0; k < classes; k++)
            {
                T q = row[k] / rowSum, target = targetRow[k] * keep + share;
                weighted += target * T.Log(CrossEntropyKernels<T>.Clip(q));
                if (CrossEntropyKernels<T>.ClipPasses(q)) passedTargetSum += target;
            }
            sum += double.CreateTruncating(-weighted);

            if (withGradient)
            {
                // dℓ/dp_j = (Σ_k m_k·t_k − m_j·t_j / c_j) / s: the clip passes m_k, the division by s couples the row.
                Span<T> gradientRow = predictionGradient.Slice(b * classes, classes);
                T scale = inverseBatch / rowSum;
                for (int k = 0; k < classes; k++)
                {
                    T q = row[k] / rowSum;
                    T own = CrossEntropyKernels<T>.ClipPasses(q) ? (targetRow[k] * keep + share) / q : T.Zero;
                    gradientRow[k] = (passedTargetSum - own) * scale;
                }
            }
        }
        return T.CreateTruncating(sum / batch);
    }
}
