namespace NumLstm.Losses;

/// <summary>
/// Pieces shared by the cross-entropies: the shifted sum of exponentials of a row of logits (the logsumexp loop),
/// Keras' clip of a probability to [ε, 1 − ε], and the checks of probability inputs. Equations in
/// docs/math-losses-optimizers.md.
/// </summary>
/// <remarks>
/// The probability path follows Keras 3, keras/src/backend/{numpy,jax,torch}/nn.py (<c>categorical_crossentropy</c>,
/// <c>sparse_categorical_crossentropy</c>: the row divided by its sum, clipped to [epsilon, 1 − epsilon], then
/// −Σ target·log) and keras/src/backend/tensorflow/nn.py (<c>binary_crossentropy</c>: clipped, then
/// −(target·log(output) + (1 − target)·log(1 − output))), with epsilon = keras.config.epsilon() = 1e-7. The reduction
/// is keras/src/losses/losses.py (<c>binary_crossentropy</c> takes the mean over the last axis; the categorical ones
/// return one value per row) and keras/src/losses/loss.py (<c>sum_over_batch_size</c>: the sum divided by the number
/// of values, B). TensorFlow's <c>sparse_categorical_crossentropy</c> alone differs: it clips without dividing by the
/// row sum and feeds log(c) to a log-softmax, ℓ = −log c_y + log Σ_k c_k, which equals ours on normalized rows away
/// from the clip.
/// </remarks>
internal static class CrossEntropyKernels<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>keras.config.epsilon(); the bounds are rounded to T as Keras converts its Python floats
    /// (float32: 1.00000001e-7 and 0.99999988).</summary>
    public const double Epsilon = 1e-7;

    public static readonly T ClipLow = T.CreateTruncating(Epsilon);
    public static readonly T ClipHigh = T.CreateTruncating(1.0 - Epsilon);

    /// <summary>
    /// Label smoothing's weights: t̃ = t·keep + share with keep = 1 − ls and share = ls/K (categorical) or ls/2 (binary),
    /// rounded to T as Keras' <c>y_true * (1.0 - label_smoothing) + label_smoothing / num_classes</c> computes them in
    /// the targets' dtype (keep from the double 1 − ls; share as T(ls) / T(K)). ls = 0 gives keep 1 and share 0, so
    /// t̃ = t·1 + 0 = t, bit for bit, for the targets these losses accept (finite, non-negative).
    /// </summary>
    public static (T Keep, T Share) Smoothing(double labelSmoothing, int classes) =>
        (T.CreateTruncating(1.0 - labelSmoothing), T.CreateTruncating(labelSmoothing) / T.CreateTruncating(classes));

    /// <summary>Checks a label-smoothing amount: in [0, 1] (PyTorch's rule; Keras takes any float).</summary>
    public static double CheckLabelSmoothing(string loss, double labelSmoothing) =>
        labelSmoothing is >= 0 and <= 1
            ? labelSmoothing
            : throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing,
                $"{loss}: labelSmoothing must be in [0, 1] (0: none), got {labelSmoothing}.");

    /// <summary>
    /// row: [K]. Returns Σ_k exp(x_k − m) with m = max_k x_k (out), so no exp overflows; logsumexp = m + log(sum).
    /// </summary>
    public static T SumExp(ReadOnlySpan<T> row, out T max)
    {
        max = row[0];
        for (int k = 1; k < row.Length; k++) max = T.MaxNumber(max, row[k]);
        T sumExp = T.Zero;
        for (int k = 0; k < row.Length; k++) sumExp += T.Exp(row[k] - max);
        return sumExp;
    }

    /// <summary>row, gradientRow: [K]. gradientRow[k] = exp(x_k − m)·scale, i.e. softmax(x)_k·scale·sumExp.</summary>
    public static void ScaledExp(ReadOnlySpan<T> row, T max, T scale, Span<T> gradientRow)
    {
        for (int k = 0; k < row.Length; k++) gradientRow[k] = T.Exp(row[k] - max) * scale;
    }

    /// <summary>Σ_k p_k in T, in index order (Keras sums the row in its own dtype).</summary>
    public static T Sum(ReadOnlySpan<T> row)
    {
        T sum = T.Zero;
        for (int k = 0; k < row.Length; k++) sum += row[k];
        return sum;
    }

    /// <summary>clip(q, ε, 1 − ε) as tf.clip_by_value, jnp.clip and torch.clip compute it.</summary>
    public static T Clip(T q) => q < ClipLow ? ClipLow : q > ClipHigh ? ClipHigh : q;

    /// <summary>
    /// d clip(q)/dq: 1 on the closed interval [ε, 1 − ε], 0 outside. At q = ε or 1 − ε exactly this is TensorFlow's and
    /// PyTorch's value (tf.clip_by_value is minimum then maximum, whose gradients pass a tie to the clipped tensor;
    /// torch's clamp passes min ≤ q ≤ max); JAX gives ½ there (lax.max/min split a tie's gradient).
    /// </summary>
    public static bool ClipPasses(T q) => q >= ClipLow && q <= ClipHigh;

    /// <summary>
    /// predictions: [B, K] probabilities (any positive scale; each row is divided by its sum). Every value finite and
    /// non-negative, every row with a positive sum: refused here, where Keras clips p / s to [ε, 1 − ε] whatever the signs
    /// (a finite loss for a negative value) and can give NaN only for a row summing to 0 (0/0).
    /// </summary>
    public static void CheckProbabilityRows(string loss, ReadOnlySpan<T> predictions, int batch, int classes)
    {
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> row = predictions.Slice(b * classes, classes);
            for (int k = 0; k < classes; k++)
            {
                T p = row[k];
                if (!T.IsFinite(p))
                    throw new ArgumentException(
                        $"{loss}: with fromLogits = false the predictions are probabilities and must be finite; row {b} has {p} at class {k}.",
                        nameof(predictions));
                if (p < T.Zero)
                    throw new ArgumentOutOfRangeException(nameof(predictions), p,
                        $"{loss}: with fromLogits = false the predictions are probabilities; row {b} has the negative value {p} at class {k}.");
            }
            if (!(Sum(row) > T.Zero))
                throw new ArgumentException(
                    $"{loss}: with fromLogits = false each row of probabilities is divided by its sum; row {b} sums to 0.",
                    nameof(predictions));
        }
    }
}
