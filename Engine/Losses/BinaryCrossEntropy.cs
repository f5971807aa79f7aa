namespace NumLstm.Losses;

/// <summary>
/// Binary cross-entropy, targets y in [0, 1] (Keras <c>binary_crossentropy</c>, PyTorch <c>BCEWithLogitsLoss</c> /
/// <c>BCELoss</c>). L = (1/N) Σ ℓ over N = B·K (Keras: the mean over the last axis, then over the batch).
/// <para>From logits (<c>fromLogits: true</c>, the default, as PyTorch; Keras' default is False): per element, in
/// the stable form of tf.nn.sigmoid_cross_entropy_with_logits (which keras/src/backend/tensorflow/nn.py calls)
/// ℓ = max(x, 0) − x·y + log(1 + exp(−|x|)); dL/dx = (σ(x) − y) / N.</para>
/// <para>From probabilities (<c>fromLogits: false</c>, Keras' default), as keras/src/backend/tensorflow/nn.py (and
/// jax/, numpy/, torch/): c = clip(p, ε, 1 − ε) with ε = 1e-7, ℓ = −(y·log c + (1 − y)·log(1 − c));
/// dL/dp = m·((1 − y)/(1 − c) − y/c) / N, m = 1 where p is inside [ε, 1 − ε], else 0 (the clip's derivative).
/// Probabilities must lie in [0, 1].</para>
/// <para>Label smoothing (<c>labelSmoothing</c> = ls, default 0; Keras' <c>label_smoothing</c>): every target is first
/// replaced by ỹ = y·(1 − ls) + ls/2, then the loss and gradient above are taken with ỹ
/// (keras/src/losses/losses.py <c>binary_crossentropy</c>). PyTorch's BCE losses have no such option.</para>
/// </summary>
public sealed class BinaryCrossEntropy<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <param name="fromLogits">true: predictions are logits (PyTorch; our models end in a linear Dense).
    /// false: predictions are probabilities, e.g. a sigmoid output (Keras' default).</param>
    /// <param name="labelSmoothing">ls in [0, 1]: targets become y·(1 − ls) + ls/2. 0 (the default) leaves them.</param>
    public BinaryCrossEntropy(bool fromLogits = true, double labelSmoothing = 0)
    {
        FromLogits = fromLogits;
        LabelSmoothing = CrossEntropyKernels<T>.CheckLabelSmoothing("BinaryCrossEntropy", labelSmoothing);
    }

    public string Name => "binary_crossentropy";
    public LossTargetKind TargetKind => LossTargetKind.Values;
    public bool FromLogits { get; }
    /// <summary>ls: targets are smoothed to y·(1 − ls) + ls/2 before the loss (0: none).</summary>
    public double LabelSmoothing { get; }

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("BinaryCrossEntropy", targets);
        return Forward(predictions, targets.Values, predictionGradient);
    }

    /// <summary>
    /// predictions (logits, or probabilities when <see cref="FromLogits"/> is false), targets, predictionGradient:
    /// [B, K]. Returns the mean loss; overwrites the gradient.
    /// </summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckElementwise("BinaryCrossEntropy", predictions, targets, predictionGradient);
        for (int k = 0; k < targets.Length; k++)
        {
            if (!(targets[k] >= T.Zero && targets[k] <= T.One))
                throw new ArgumentOutOfRangeException(nameof(targets), targets[k],
                    $"BinaryCrossEntropy: targets[{k}] = {targets[k]} is outside [0, 1].");
        }
        (T keep, T share) = CrossEntropyKernels<T>.Smoothing(LabelSmoothing, 2);
        if (FromLogits) return FromLogitElements(predictions, targets, keep, share, predictionGradient);
        for (int k = 0; k < predictions.Length; k++)
        {
            T p = predictions[k];
            if (!T.IsFinite(p))
                throw new ArgumentException(
                    $"BinaryCrossEntropy: with fromLogits = false the predictions are probabilities and must be finite; predictions[{k}] = {p}.",
                    nameof(predictions));
            if (!(p >= T.Zero && p <= T.One))
                throw new ArgumentOutOfRangeException(nameof(predictions), p,
                    $"BinaryCrossEntropy: with fromLogits = false the predictions are probabilities; predictions[{k}] = {p} is outside [0, 1].");
        }
        return FromProbabilityElements(predictions, targets, keep, share, predictionGradient);
    }

    // ỹ = y·keep + share (label smoothing; keep 1 and share 0 leave y as it is).
    private static T FromLogitElements(ReadOnlySpan<T> logits, ReadOnlySpan<T> targets, T keep, T share, Span<T> predictionGradient)
    {
        int n = logits.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseN = T.CreateTruncating(1.0 / n);
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            T x = logits[k], y = targets[k] * keep + share;
            T expNegAbs = T.Exp(-T.Abs(x));                 // in (0, 1]: never overflows
            T loss = T.Max(x, T.Zero) - x * y + LogOnePlus(expNegAbs);
            sum += double.CreateTruncating(loss);
            if (withGradient)
            {
                // σ(x) from the same exp(−|x|): 1/(1+e) for x ≥ 0, e/(1+e) for x < 0.
                T sigmoid = x >= T.Zero ? T.One / (T.One + expNegAbs) : expNegAbs / (T.One + expNegAbs);
                predictionGradient[k] = (sigmoid - y) * inverseN;
            }
        }
        return T.CreateTruncating(sum / n);
    }

    private static T FromProbabilityElements(ReadOnlySpan<T> probabilities, ReadOnlySpan<T> targets, T keep, T share, Span<T> predictionGradient)
    {
        int n = probabilities.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseN = T.CreateTruncating(1.0 / n);
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            T p = probabilities[k], y = targets[k] * keep + share;
            T c = CrossEntropyKernels<T>.Clip(p);
            T loss = -(y * T.Log(c) + (T.One - y) * T.Log(T.One - c));
            sum += double.CreateTruncating(loss);
            if (withGradient)
                predictionGradient[k] = CrossEntropyKernels<T>.ClipPasses(p) ? ((T.One - y) / (T.One - c) - y / c) * inverseN : T.Zero;
        }
        return T.CreateTruncating(sum / n);
    }

    /// <summary>
    /// log(1 + u) accurate for small u (T.LogP1 is log(1 + u) as written, which loses u below ε).
    /// With w = 1 + u rounded, log(w)·u/(w − 1) corrects the rounding of w (Goldberg, 1991, Theorem 4).
    /// </summary>
    internal static T LogOnePlus(T u)
    {
        T w = T.One + u;
        return w == T.One ? u : T.Log(w) * u / (w - T.One);
    }
}
