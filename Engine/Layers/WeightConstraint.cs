using System.Globalization;
using System.Text.Json.Serialization;

namespace NumLstm.Layers;

/// <summary>Which of Keras' weight constraint classes a <see cref="WeightConstraint"/> is.</summary>
public enum ConstraintKind
{
    /// <summary>Keras' <c>MaxNorm(max_value=2, axis=0)</c>: w·clip(‖w‖, 0, max)/(ε + ‖w‖).</summary>
    MaxNorm,
    /// <summary>Keras' <c>NonNeg()</c>: max(w, 0).</summary>
    NonNeg,
    /// <summary>Keras' <c>UnitNorm(axis=0)</c>: w/(ε + ‖w‖).</summary>
    UnitNorm,
    /// <summary>Keras' <c>MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0)</c>:
    /// w·(rate·clip(‖w‖, min, max) + (1 − rate)·‖w‖)/(ε + ‖w‖).</summary>
    MinMaxNorm,
}

/// <summary>
/// A projection applied to a weight after every optimizer step, as Keras' constraints (keras/src/constraints/
/// constraints.py; base_optimizer.py applies them to the trainable variables after the update). The norms are taken
/// along Keras' <c>axis</c> in Keras' layout: a kernel's axis 0 is its input axis, so <c>MaxNorm(axis=0)</c> bounds the
/// norm of each unit's incoming weights; NumLstm stores kernels transposed ([out, in]), and the constraint maps the axis
/// (Keras axis 0 or −2: each row's norm here; 1 or −1: each column's; <see cref="Axis"/> null, Keras' [0, 1]: the whole
/// weight). A 1-D weight (bias, γ, β) takes axis 0 or −1 (the whole vector). ε = 1e-7 (Keras' backend.epsilon()) is
/// added to the norm in the denominator. Equations (C1)–(C4) in docs/math-losses-optimizers.md.
/// </summary>
public sealed record WeightConstraint
{
    /// <summary>Keras' backend.epsilon(), added to the norm in the constraints' denominators.</summary>
    public const double Epsilon = 1e-7;

    /// <summary>A constraint of the given kind. The values a kind does not use must be their defaults (maxValue: 2 for
    /// MaxNorm, 1 for MinMaxNorm; minValue 0; rate 1; axis 0; NonNeg takes none). Parameters named as the properties, so
    /// a model spec's JSON reads through these checks.</summary>
    public WeightConstraint(ConstraintKind kind, double maxValue, double minValue = 0, double rate = 1, int? axis = 0)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown constraint kind (expected MaxNorm, NonNeg, UnitNorm or MinMaxNorm).");
        if (!double.IsFinite(maxValue) || maxValue < 0)
            throw new ArgumentOutOfRangeException(nameof(maxValue), maxValue, $"A constraint's max_value must be a finite number ≥ 0, got {Text(maxValue)}.");
        if (!double.IsFinite(minValue) || minValue < 0 || minValue > maxValue)
            throw new ArgumentOutOfRangeException(nameof(minValue), minValue, $"A constraint's min_value must be finite, ≥ 0 and ≤ max_value ({Text(maxValue)}), got {Text(minValue)}.");
        if (!(rate is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"A constraint's rate must be in [0, 1] (1: strict), got {Text(rate)}.");
        if (axis is not (null or -2 or -1 or 0 or 1))
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"A constraint's axis must be 0, 1, -1, -2 or null (all axes) for NumLstm's 1-D and 2-D weights, got {axis}.");
        bool usesNorm = kind != ConstraintKind.NonNeg, usesMin = kind == ConstraintKind.MinMaxNorm;
        double defaultMax = kind == ConstraintKind.MaxNorm ? 2 : 1;
        if ((!usesNorm || kind == ConstraintKind.UnitNorm) && maxValue != defaultMax)
            throw new ArgumentException($"A {kind} constraint has no max_value (got {Text(maxValue)}).", nameof(maxValue));
        if (!usesMin && (minValue != 0 || rate != 1))
            throw new ArgumentException($"A {kind} constraint has no min_value or rate (got {Text(minValue)}, {Text(rate)}).", nameof(minValue));
        if (!usesNorm && axis != 0)
            throw new ArgumentException($"A NonNeg constraint has no axis (got {axis}).", nameof(axis));
        Kind = kind;
        MaxValue = maxValue + 0.0;
        MinValue = minValue + 0.0;
        Rate = rate + 0.0;
        Axis = axis;
    }

    // A model spec's JSON reads through this one (System.Text.Json binds the parameters by name, and passes a parameter's
    // default for a field left out; JSON has no NaN, so NaN is "left out"): "kind" is required, and a value left out takes
    // the kind's Keras default (max_value 2 for MaxNorm, 1 otherwise; min_value 0; rate 1; axis 0, an explicit null axis
    // being all axes). Read through the public constructor, a missing max_value was 0: {"kind": "max_norm"} zeroed the
    // weight after every step, and {"kind": "non_neg"} was refused for a max_value it does not have.
    [JsonConstructor]
    private WeightConstraint(int? axis = 0, double maxValue = double.NaN, double minValue = double.NaN, double rate = double.NaN, ConstraintKind kind = (ConstraintKind)(-1))
        : this(Enum.IsDefined(kind) ? kind : throw new ArgumentException("A constraint needs its \"kind\" (max_norm, non_neg, unit_norm or min_max_norm).", nameof(kind)),
            double.IsNaN(maxValue) ? (kind == ConstraintKind.MaxNorm ? 2 : 1) : maxValue, double.IsNaN(minValue) ? 0 : minValue, double.IsNaN(rate) ? 1 : rate, axis)
    {
    }

    /// <summary>Keras' <c>MaxNorm(max_value=2, axis=0)</c>.</summary>
    public static WeightConstraint MaxNorm(double maxValue = 2, int? axis = 0) => new(ConstraintKind.MaxNorm, maxValue, 0, 1, axis);

    /// <summary>Keras' <c>NonNeg()</c>.</summary>
    public static WeightConstraint NonNeg() => new(ConstraintKind.NonNeg, 1);

    /// <summary>Keras' <c>UnitNorm(axis=0)</c>.</summary>
    public static WeightConstraint UnitNorm(int? axis = 0) => new(ConstraintKind.UnitNorm, 1, 0, 1, axis);

    /// <summary>Keras' <c>MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)</c>.</summary>
    public static WeightConstraint MinMaxNorm(double minValue = 0, double maxValue = 1, double rate = 1, int? axis = 0)
        => new(ConstraintKind.MinMaxNorm, maxValue, minValue, rate, axis);

    public ConstraintKind Kind { get; }
    [JsonPropertyName("max_value")]
    public double MaxValue { get; }
    [JsonPropertyName("min_value")]
    public double MinValue { get; }
    public double Rate { get; }
    /// <summary>Keras' axis in Keras' layout (0: a kernel's input axis); null for all axes (Keras' [0, 1]).</summary>
    public int? Axis { get; }

    /// <summary>Whether the axis fits a weight of this rank (1 or 2): a 1-D weight has no axis 1 or −2.</summary>
    public bool FitsRank(int rank) => Kind == ConstraintKind.NonNeg || (rank == 2 && Axis is not null) || Axis is null || Axis is 0 or -1;

    /// <summary>
    /// Projects <paramref name="weights"/> in place: a 1-D weight of <paramref name="shape"/> [n], or a 2-D one stored
    /// [out, in] (NumLstm's layout, Keras' (in, out) transposed). Norms in double, each value scaled in T.
    /// </summary>
    public void Apply<T>(Span<T> weights, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (shape.Length is not (1 or 2) || (shape.Length == 1 ? shape[0] : (long)shape[0] * shape[1]) != weights.Length)
            throw new ArgumentException($"Constraint: expected a 1-D or 2-D shape holding {weights.Length} values, got [{string.Join(", ", shape.ToArray())}].", nameof(shape));
        if (!FitsRank(shape.Length))
            throw new ArgumentException($"Constraint {this}: axis {Axis} does not exist on a {shape.Length}-D weight.", nameof(shape));
        if (Kind == ConstraintKind.NonNeg)
        {
            // (C2): max(w, 0); NaN stays NaN.
            for (int j = 0; j < weights.Length; j++) if (weights[j] <= T.Zero) weights[j] = T.Zero;
            return;
        }
        if (shape.Length == 1 || Axis is null) { Project(weights, 0, 1, weights.Length); return; }
        int rows = shape[0], columns = shape[1];
        if (Axis is 0 or -2)   // Keras' input axis: each row [in] of the [out, in] layout
            for (int r = 0; r < rows; r++) Project(weights, r * columns, 1, columns);
        else                   // Keras' output axis: each column [out]
            for (int c = 0; c < columns; c++) Project(weights, c, columns, rows);
    }

    // (C1), (C3), (C4) on the values start, start + stride, ...: w·desired/(ε + ‖w‖).
    private void Project<T>(Span<T> weights, int start, int stride, int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double squares = 0;
        for (int k = 0, j = start; k < count; k++, j += stride) { double w = double.CreateTruncating(weights[j]); squares += w * w; }
        double norm = Math.Sqrt(squares);
        double desired = Kind switch
        {
            ConstraintKind.MaxNorm => Math.Clamp(norm, 0, MaxValue),
            ConstraintKind.UnitNorm => 1,
            _ => Rate * Math.Clamp(norm, MinValue, MaxValue) + (1 - Rate) * norm,
        };
        T scale = T.CreateTruncating(desired / (Epsilon + norm));
        for (int k = 0, j = start; k < count; k++, j += stride) weights[j] *= scale;
    }

    public override string ToString() => Kind switch
    {
        ConstraintKind.MaxNorm => $"MaxNorm(max_value={Text(MaxValue)}, axis={AxisText})",
        ConstraintKind.NonNeg => "NonNeg()",
        ConstraintKind.UnitNorm => $"UnitNorm(axis={AxisText})",
        _ => $"MinMaxNorm(min_value={Text(MinValue)}, max_value={Text(MaxValue)}, rate={Text(Rate)}, axis={AxisText})",
    };

    private string AxisText => Axis?.ToString(CultureInfo.InvariantCulture) ?? "[0, 1]";

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
