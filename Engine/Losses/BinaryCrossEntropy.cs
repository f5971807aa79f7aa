namespace NumLstm.Losses;

/// <summary>
/// Binary cross-entropy from logits (Keras <c>binary_crossentropy(from_logits=True)</c>, PyTorch
/// <c>BCEWithLogitsLoss</c>), targets y in [0, 1]. Per element, in the stable form
/// ℓ = max(x, 0) − x·y + log(1 + exp(−|x|)); L = (1/N) Σ ℓ over N = B·K; dL/dx = (σ(x) − y) / N.
/// </summary>
public sealed class BinaryCrossEntropy<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public string Name => "binary_crossentropy";
    public LossTargetKind TargetKind => LossTargetKind.Values;

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("BinaryCrossEntropy", targets);
        return Forward(predictions, targets.Values, predictionGradient);
    }

    /// <summary>logits, targets, predictionGradient: [B, K]. Returns the mean loss; overwrites the gradient.</summary>
    public T Forward(ReadOnlySpan<T> logits, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckElementwise("BinaryCrossEntropy", logits, targets, predictionGradient);
        for (int k = 0; k < targets.Length; k++)
        {
            if (!(targets[k] >= T.Zero && targets[k] <= T.One))
                throw new ArgumentOutOfRangeException(nameof(targets), targets[k],
                    $"BinaryCrossEntropy: targets[{k}] = {targets[k]} is outside [0, 1].");
        }

        int n = logits.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        T inverseN = T.CreateTruncating(1.0 / n);
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            T x = logits[k], y = targets[k];
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
