using System.Globalization;
using System.Text.Json.Serialization;

namespace NumLstm.Layers;

/// <summary>Which of Keras' weight regularizer classes a <see cref="WeightRegularizer"/> is (they differ only in their
/// defaults and in the config Keras writes for them; all three compute the same penalty).</summary>
public enum RegularizerKind
{
    /// <summary>Keras' <c>L1(l1=0.01)</c>: config <c>{"l1": ...}</c>.</summary>
    L1,
    /// <summary>Keras' <c>L2(l2=0.01)</c>: config <c>{"l2": ...}</c>.</summary>
    L2,
    /// <summary>Keras' <c>L1L2(l1=0.0, l2=0.0)</c>: config <c>{"l1": ..., "l2": ...}</c>.</summary>
    L1L2,
}

/// <summary>
/// A weight penalty as Keras' regularizers compute it (keras/src/regularizers/regularizers.py, L1L2.__call__):
/// penalty(w) = l1·Σ|wⱼ| + l2·Σwⱼ², added to the loss of every training batch (and of every evaluation, as Keras'
/// compute_loss adds <c>model.losses</c> in test_step too); its gradient l1·sign(wⱼ) + 2·l2·wⱼ (sign(0) = 0, as the
/// gradient of TensorFlow's, JAX's and PyTorch's abs at 0) is added to the weight's gradient before clipping and the
/// optimizer's step. The penalty is a sum, not scaled by the batch size or the number of weights. Set on a layer
/// (<see cref="Lstm{T}.KernelRegularizer"/>, <see cref="Dense{T}.KernelRegularizer"/>, <see cref="LayerNorm{T}.GammaRegularizer"/>,
/// ...) or through <see cref="Models.ModelBuilder"/>; equations (R1)–(R2) in docs/math-losses-optimizers.md.
/// </summary>
public sealed record WeightRegularizer
{
    /// <summary>Keras' default factor of <c>L1()</c> and <c>L2()</c> (and of the strings "l1" and "l2").</summary>
    public const double KerasDefaultFactor = 0.01;

    /// <summary>A regularizer of the given kind; each factor finite and ≥ 0, and an L1 has no l2 factor, an L2 no l1 factor.
    /// (The parameters are named as the properties, so a model spec's JSON reads through this constructor and its checks.)</summary>
    public WeightRegularizer(RegularizerKind kind, double l1Factor, double l2Factor)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown regularizer kind (expected L1, L2 or L1L2).");
        Check(l1Factor, "l1");
        Check(l2Factor, "l2");
        if (kind == RegularizerKind.L1 && l2Factor != 0)
            throw new ArgumentException($"An L1 regularizer has no l2 factor (got l2 = {Text(l2Factor)}); use RegularizerKind.L1L2 for both.", nameof(l2Factor));
        if (kind == RegularizerKind.L2 && l1Factor != 0)
            throw new ArgumentException($"An L2 regularizer has no l1 factor (got l1 = {Text(l1Factor)}); use RegularizerKind.L1L2 for both.", nameof(l1Factor));
        Kind = kind;
        L1Factor = l1Factor + 0.0;   // −0 as +0
        L2Factor = l2Factor + 0.0;
    }

    // A model spec's JSON reads through this one (System.Text.Json binds the parameters by name, and passes a parameter's
    // default for a field left out; JSON has no NaN, so NaN is "left out"): "kind" is required, and a factor left out
    // takes the kind's Keras default (L1 and L2 0.01, L1L2 0 and 0; the other factor 0), as the Keras reader and Keras'
    // classes do. Read through the public constructor, a missing factor was 0: {"kind": "l2"} penalized nothing.
    [JsonConstructor]
    private WeightRegularizer(double l1Factor = double.NaN, double l2Factor = double.NaN, RegularizerKind kind = (RegularizerKind)(-1))
        : this(Enum.IsDefined(kind) ? kind : throw new ArgumentException("A regularizer needs its \"kind\" (l1, l2 or l1_l2).", nameof(kind)),
            double.IsNaN(l1Factor) ? (kind == RegularizerKind.L1 ? KerasDefaultFactor : 0) : l1Factor,
            double.IsNaN(l2Factor) ? (kind == RegularizerKind.L2 ? KerasDefaultFactor : 0) : l2Factor)
    {
    }

    /// <summary>Keras' <c>regularizers.L1(l1)</c>: l1·Σ|w|.</summary>
    public static WeightRegularizer L1(double l1 = KerasDefaultFactor) => new(RegularizerKind.L1, l1, 0);

    /// <summary>Keras' <c>regularizers.L2(l2)</c>: l2·Σw² (no ½: the gradient is 2·l2·w).</summary>
    public static WeightRegularizer L2(double l2 = KerasDefaultFactor) => new(RegularizerKind.L2, 0, l2);

    /// <summary>Keras' <c>regularizers.L1L2(l1, l2)</c>: l1·Σ|w| + l2·Σw² (Keras' defaults 0 and 0).</summary>
    public static WeightRegularizer L1L2(double l1 = 0, double l2 = 0) => new(RegularizerKind.L1L2, l1, l2);

    public RegularizerKind Kind { get; }
    /// <summary>The factor of Σ|w| (0 for <see cref="RegularizerKind.L2"/>); "l1" in a model spec's JSON, as in Keras' config.</summary>
    [JsonPropertyName("l1")]
    public double L1Factor { get; }
    /// <summary>The factor of Σw² (0 for <see cref="RegularizerKind.L1"/>); "l2" in a model spec's JSON.</summary>
    [JsonPropertyName("l2")]
    public double L2Factor { get; }

    /// <summary>Keras' rule (validate_float_arg): a factor is a finite number ≥ 0.</summary>
    public static bool IsUsableFactor(double factor) => double.IsFinite(factor) && factor >= 0;

    // (R1) in docs/math-losses-optimizers.md: l1·Σ|wⱼ| + l2·Σwⱼ², summed in double.
    public double Penalty<T>(ReadOnlySpan<T> weights) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double absolute = 0, squares = 0;
        for (int j = 0; j < weights.Length; j++)
        {
            double w = double.CreateTruncating(weights[j]);
            absolute += Math.Abs(w);
            squares += w * w;
        }
        return (L1Factor != 0 ? L1Factor * absolute : 0) + (L2Factor != 0 ? L2Factor * squares : 0);
    }

    // (R2) in docs/math-losses-optimizers.md: gradient[j] += l1·sign(wⱼ) + 2·l2·wⱼ, accumulated as every backward pass accumulates.
    public void AddGradient<T>(ReadOnlySpan<T> weights, Span<T> gradient) where T : unmanaged, IFloatingPointIeee754<T>
        => AddGradient(weights, gradient, 1.0);

    /// <summary>gradient[j] += scale·(l1·sign(wⱼ) + 2·l2·wⱼ), the factors scaled in double (an activity penalty's 1/B).</summary>
    public void AddGradient<T>(ReadOnlySpan<T> weights, Span<T> gradient, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gradient.Length != weights.Length)
            throw new ArgumentException($"Regularizer gradient: expected {weights.Length} gradient values (one per weight), got {gradient.Length}.", nameof(gradient));
        T l1 = T.CreateTruncating(scale * L1Factor), twoL2 = T.CreateTruncating(scale * 2 * L2Factor);
        if (L1Factor != 0)
            for (int j = 0; j < weights.Length; j++)
            {
                T w = weights[j];   // sign(w), and NaN for NaN (T.Sign would throw)
                gradient[j] += w > T.Zero ? l1 : w < T.Zero ? -l1 : w * l1;
            }
        if (L2Factor != 0)
            for (int j = 0; j < weights.Length; j++) gradient[j] += twoL2 * weights[j];
    }

    public override string ToString() => Kind switch
    {
        RegularizerKind.L1 => $"L1(l1={Text(L1Factor)})",
        RegularizerKind.L2 => $"L2(l2={Text(L2Factor)})",
        _ => $"L1L2(l1={Text(L1Factor)}, l2={Text(L2Factor)})",
    };

    private static void Check(double factor, string name)
    {
        if (!IsUsableFactor(factor))
            throw new ArgumentOutOfRangeException(name, factor, $"A regularizer's {name} factor must be a finite number ≥ 0 (Keras: \"expected a non-negative float\"), got {Text(factor)}.");
    }

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
