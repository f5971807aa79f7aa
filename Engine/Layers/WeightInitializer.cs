using System.Globalization;
using System.Text.Json.Serialization;

namespace NumLstm.Layers;

/// <summary>Which of Keras 3's built-in initializer classes a <see cref="WeightInitializer"/> is (keras/src/initializers/).
/// The six presets are VarianceScaling with fixed arguments, kept apart because Keras serializes them under their own
/// class names.</summary>
public enum InitializerKind
{
    /// <summary>VarianceScaling(1, fan_avg, uniform): U(−l, l), l = √(6/(fan_in + fan_out)). Keras' default kernel initializer.</summary>
    GlorotUniform,
    /// <summary>VarianceScaling(1, fan_avg, truncated_normal).</summary>
    GlorotNormal,
    /// <summary>VarianceScaling(2, fan_in, uniform).</summary>
    HeUniform,
    /// <summary>VarianceScaling(2, fan_in, truncated_normal).</summary>
    HeNormal,
    /// <summary>VarianceScaling(1, fan_in, uniform).</summary>
    LecunUniform,
    /// <summary>VarianceScaling(1, fan_in, truncated_normal) (the one for selu).</summary>
    LecunNormal,
    /// <summary>VarianceScaling(scale=1, mode="fan_in", distribution="truncated_normal").</summary>
    VarianceScaling,
    /// <summary>RandomNormal(mean=0, stddev=0.05).</summary>
    RandomNormal,
    /// <summary>RandomUniform(minval=−0.05, maxval=0.05): U[minval, maxval).</summary>
    RandomUniform,
    /// <summary>TruncatedNormal(mean=0, stddev=0.05): a normal draw, redrawn while more than 2·stddev from the mean.</summary>
    TruncatedNormal,
    /// <summary>Zeros().</summary>
    Zeros,
    /// <summary>Ones().</summary>
    Ones,
    /// <summary>Constant(value=0).</summary>
    Constant,
    /// <summary>Orthogonal(gain=1) (Keras 3.0's OrthogonalInitializer): 2-D weights only.</summary>
    Orthogonal,
    /// <summary>Identity(gain=1) (Keras 3's Identity; keras.initializers.IdentityInitializer is an alias): gain·eye(rows, cols) of Keras' kernel, 2-D weights only.</summary>
    Identity,
}

/// <summary>VarianceScaling's mode: which fan n divides the scale (fan_avg: (fan_in + fan_out)/2).</summary>
public enum FanMode { FanIn, FanOut, FanAvg }

/// <summary>VarianceScaling's distribution ("normal" is read as truncated_normal, as Keras does).</summary>
public enum InitializerDistribution { TruncatedNormal, UntruncatedNormal, Uniform }

/// <summary>
/// How a weight is initialized, as Keras 3's built-in initializers draw it (keras/src/initializers/random_initializers.py,
/// constant_initializers.py): the same distribution (bounds, mean, stddev, truncation), drawn from NumLstm's one seeded
/// <see cref="Random"/> per model in the layers' order, so the values are not Keras' bit for bit (another generator).
/// Fans are Keras': a kernel of Keras shape (inputs, outputs) has fan_in = inputs and fan_out = outputs (4·units for an
/// LSTM kernel), whatever NumLstm's transposed storage; a 1-D weight of n values has fan_in = fan_out = n
/// (compute_fans). Keras' seed is not carried (NumLstm's model seed drives every draw). Set on a layer
/// (<see cref="Lstm{T}.KernelInitializer"/>, <see cref="Dense{T}.KernelInitializer"/>,
/// <see cref="LayerNorm{T}.GammaInitializer"/>, ...) or through <see cref="Models.ModelBuilder"/>; null there is the
/// layer's Keras default. Equations (I1)–(I4) in docs/math.md.
/// </summary>
public sealed record WeightInitializer
{
    /// <summary>√(variance) of a standard normal truncated to [−2, 2]: Keras divides VarianceScaling's stddev by it, so
    /// the truncated draw has variance scale/n.</summary>
    public const double TruncatedNormalStddev = 0.87962566103423978;

    /// <summary>
    /// An initializer of the given kind. A value left null takes the kind's Keras default (mean 0, stddev 0.05, minval
    /// −0.05, maxval 0.05, value 0, scale 1, mode fan_in, distribution truncated_normal, gain 1); a value the kind does
    /// not take must be null. Every value finite in float; stddev ≥ 0 and minval ≤ maxval (Keras does not check these,
    /// and its backends then differ), scale &gt; 0 (Keras raises). Parameters named as the properties, so a model spec's
    /// JSON reads through these checks.
    /// </summary>
    public WeightInitializer(InitializerKind kind, double? mean = null, double? stddev = null, double? minValue = null, double? maxValue = null,
        double? value = null, double? scale = null, FanMode? mode = null, InitializerDistribution? distribution = null, double? gain = null)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown initializer kind.");
        bool normal = kind is InitializerKind.RandomNormal or InitializerKind.TruncatedNormal, uniform = kind == InitializerKind.RandomUniform,
            variance = kind == InitializerKind.VarianceScaling, gained = kind is InitializerKind.Orthogonal or InitializerKind.Identity;
        Mean = Take(kind, mean, normal, 0, nameof(mean));
        Stddev = Take(kind, stddev, normal, 0.05, nameof(stddev));
        MinValue = Take(kind, minValue, uniform, -0.05, "minval");
        MaxValue = Take(kind, maxValue, uniform, 0.05, "maxval");
        Value = Take(kind, value, kind == InitializerKind.Constant, 0, nameof(value));
        Scale = Take(kind, scale, variance, 1, nameof(scale));
        Gain = Take(kind, gain, gained, 1, nameof(gain));
        if (mode is not null && !variance) throw Unused(kind, "mode");
        if (distribution is not null && !variance) throw Unused(kind, "distribution");
        if (mode is { } m && !Enum.IsDefined(m)) throw new ArgumentOutOfRangeException(nameof(mode), m, "Unknown mode (expected fan_in, fan_out or fan_avg, as Keras).");
        if (distribution is { } d && !Enum.IsDefined(d))
            throw new ArgumentOutOfRangeException(nameof(distribution), d, "Unknown distribution (expected truncated_normal, untruncated_normal or uniform, as Keras).");
        Mode = variance ? mode ?? FanMode.FanIn : null;
        Distribution = variance ? distribution ?? InitializerDistribution.TruncatedNormal : null;
        if (Stddev < 0) throw new ArgumentOutOfRangeException(nameof(stddev), stddev, $"An initializer's stddev must be ≥ 0, got {Text(Stddev.Value)}.");
        if (MinValue > MaxValue)
            throw new ArgumentOutOfRangeException(nameof(minValue), minValue, $"An initializer's minval ({Text(MinValue!.Value)}) must be ≤ its maxval ({Text(MaxValue!.Value)}).");
        if (Scale <= 0)
            throw new ArgumentOutOfRangeException(nameof(scale), scale, $"VarianceScaling's scale must be > 0 (Keras raises \"Argument `scale` must be positive float\"), got {Text(Scale.Value)}.");
        Kind = kind;
    }

    // A model spec's JSON reads through this one: "kind" is required (System.Text.Json passes a parameter's default for
    // a field left out), and the values left out take the kind's Keras defaults through the public constructor.
    [JsonConstructor]
    private WeightInitializer(double? mean, double? stddev, double? minValue, double? maxValue, double? value, double? scale, FanMode? mode,
        InitializerDistribution? distribution, double? gain, InitializerKind kind = (InitializerKind)(-1))
        : this(Enum.IsDefined(kind) ? kind : throw new ArgumentException("An initializer needs its \"kind\" (glorot_uniform, he_normal, random_normal, constant, ...)."),
            mean, stddev, minValue, maxValue, value, scale, mode, distribution, gain)
    {
    }

    public static WeightInitializer GlorotUniform() => new(InitializerKind.GlorotUniform);
    public static WeightInitializer GlorotNormal() => new(InitializerKind.GlorotNormal);
    public static WeightInitializer HeUniform() => new(InitializerKind.HeUniform);
    public static WeightInitializer HeNormal() => new(InitializerKind.HeNormal);
    public static WeightInitializer LecunUniform() => new(InitializerKind.LecunUniform);
    public static WeightInitializer LecunNormal() => new(InitializerKind.LecunNormal);

    /// <summary>Keras' <c>VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal")</c>.</summary>
    public static WeightInitializer VarianceScaling(double scale = 1, FanMode mode = FanMode.FanIn, InitializerDistribution distribution = InitializerDistribution.TruncatedNormal)
        => new(InitializerKind.VarianceScaling, scale: scale, mode: mode, distribution: distribution);

    /// <summary>Keras' <c>RandomNormal(mean=0.0, stddev=0.05)</c>.</summary>
    public static WeightInitializer RandomNormal(double mean = 0, double stddev = 0.05) => new(InitializerKind.RandomNormal, mean, stddev);

    /// <summary>Keras' <c>TruncatedNormal(mean=0.0, stddev=0.05)</c>: values beyond 2·stddev from the mean are redrawn.</summary>
    public static WeightInitializer TruncatedNormal(double mean = 0, double stddev = 0.05) => new(InitializerKind.TruncatedNormal, mean, stddev);

    /// <summary>Keras' <c>RandomUniform(minval=-0.05, maxval=0.05)</c>: U[minval, maxval).</summary>
    public static WeightInitializer RandomUniform(double minValue = -0.05, double maxValue = 0.05)
        => new(InitializerKind.RandomUniform, minValue: minValue, maxValue: maxValue);

    public static WeightInitializer Zeros() => new(InitializerKind.Zeros);
    public static WeightInitializer Ones() => new(InitializerKind.Ones);

    /// <summary>Keras' <c>Constant(value=0.0)</c>.</summary>
    public static WeightInitializer Constant(double value) => new(InitializerKind.Constant, value: value);

    /// <summary>Keras' <c>Orthogonal(gain=1.0)</c>: a kernel only.</summary>
    public static WeightInitializer Orthogonal(double gain = 1) => new(InitializerKind.Orthogonal, gain: gain);

    /// <summary>Keras' <c>Identity(gain=1.0)</c>: gain·eye(inputs, outputs) of Keras' kernel (non-square too, as Keras' ops.eye), a kernel only.</summary>
    public static WeightInitializer Identity(double gain = 1) => new(InitializerKind.Identity, gain: gain);

    public InitializerKind Kind { get; }
    /// <summary>RandomNormal's and TruncatedNormal's mean; null for the other kinds.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Mean { get; }
    /// <summary>RandomNormal's and TruncatedNormal's stddev (before truncation); null for the other kinds.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Stddev { get; }
    /// <summary>RandomUniform's minval ("minval" in a spec's JSON, as in Keras' config).</summary>
    [JsonPropertyName("minval"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MinValue { get; }
    /// <summary>RandomUniform's maxval.</summary>
    [JsonPropertyName("maxval"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MaxValue { get; }
    /// <summary>Constant's value.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Value { get; }
    /// <summary>VarianceScaling's scale (the presets' is implied by their kind: <see cref="VarianceArguments"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Scale { get; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public FanMode? Mode { get; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public InitializerDistribution? Distribution { get; }
    /// <summary>Orthogonal's and Identity's gain.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Gain { get; }

    /// <summary>Whether Keras raises for it on a 1-D weight (a bias, γ, β): Orthogonal and Identity need a matrix.</summary>
    public bool NeedsMatrix => Kind is InitializerKind.Orthogonal or InitializerKind.Identity;

    /// <summary>The (scale, mode, distribution) of a VarianceScaling or of one of its presets; null for the other kinds.</summary>
    public (double Scale, FanMode Mode, InitializerDistribution Distribution)? VarianceArguments => Kind switch
    {
        InitializerKind.GlorotUniform => (1, FanMode.FanAvg, InitializerDistribution.Uniform),
        InitializerKind.GlorotNormal => (1, FanMode.FanAvg, InitializerDistribution.TruncatedNormal),
        InitializerKind.HeUniform => (2, FanMode.FanIn, InitializerDistribution.Uniform),
        InitializerKind.HeNormal => (2, FanMode.FanIn, InitializerDistribution.TruncatedNormal),
        InitializerKind.LecunUniform => (1, FanMode.FanIn, InitializerDistribution.Uniform),
        InitializerKind.LecunNormal => (1, FanMode.FanIn, InitializerDistribution.TruncatedNormal),
        InitializerKind.VarianceScaling => (Scale!.Value, Mode!.Value, Distribution!.Value),
        _ => null,
    };

    /// <summary>
    /// Fills a kernel of Keras shape (<paramref name="kerasRows"/>, <paramref name="kerasCols"/>) = (inputs, outputs),
    /// stored transposed as NumLstm stores it, [kerasCols, kerasRows]: fan_in = kerasRows, fan_out = kerasCols.
    /// </summary>
    public void FillKernel<T>(Span<T> values, int kerasRows, int kerasCols, Random random) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(random);
        if (kerasRows <= 0 || kerasCols <= 0 || values.Length != (long)kerasRows * kerasCols)
            throw new ArgumentException($"Initializer {this}: expected {(long)kerasRows * kerasCols} values for a ({kerasRows}, {kerasCols}) kernel, got {values.Length}.", nameof(values));
        switch (Kind)
        {
            case InitializerKind.Orthogonal: Initializers.OrthogonalTransposed(values, kerasRows, kerasCols, random, Gain!.Value); break;
            case InitializerKind.Identity: Initializers.IdentityTransposed(values, kerasRows, kerasCols, Gain!.Value); break;
            default: Fill(values, kerasRows, kerasCols, random); break;
        }
    }

    /// <summary>Fills a 1-D weight of n values (fan_in = fan_out = n, as Keras' compute_fans); Orthogonal and Identity raise, as in Keras.</summary>
    public void FillVector<T>(Span<T> values, Random random) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(random);
        if (NeedsMatrix) throw new ArgumentException($"Initializer {this} needs a 2-D weight (Keras raises for a 1-D one).", nameof(values));
        Fill(values, values.Length, values.Length, random);
    }

    /// <summary>Refuses an initializer Keras cannot apply to a 1-D weight (a bias, γ, β); the layers' setters call it.</summary>
    internal static WeightInitializer? ForVector(WeightInitializer? initializer, string weight)
        => initializer is { NeedsMatrix: true }
            ? throw new ArgumentException($"{weight}: {initializer} needs a 2-D weight, and this one is 1-D (Keras raises).", weight)
            : initializer;

    private void Fill<T>(Span<T> values, int fanIn, int fanOut, Random random) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (Kind)
        {
            case InitializerKind.Zeros: values.Clear(); break;
            case InitializerKind.Ones: values.Fill(T.One); break;
            case InitializerKind.Constant: values.Fill(T.CreateTruncating(Value!.Value)); break;
            case InitializerKind.RandomNormal: Initializers.Normal(values, Mean!.Value, Stddev!.Value, random); break;
            case InitializerKind.TruncatedNormal: Initializers.TruncatedNormal(values, Mean!.Value, Stddev!.Value, random); break;
            case InitializerKind.RandomUniform: Initializers.Uniform(values, MinValue!.Value, MaxValue!.Value, random); break;
            default:
                var (scale, mode, distribution) = VarianceArguments!.Value;
                Initializers.VarianceScaling(values, scale, mode, distribution, fanIn, fanOut, random);
                break;
        }
    }

    public override string ToString() => Kind switch
    {
        InitializerKind.VarianceScaling => $"VarianceScaling(scale={Text(Scale!.Value)}, mode={Snake(Mode!.Value)}, distribution={Snake(Distribution!.Value)})",
        InitializerKind.RandomNormal or InitializerKind.TruncatedNormal => $"{Kind}(mean={Text(Mean!.Value)}, stddev={Text(Stddev!.Value)})",
        InitializerKind.RandomUniform => $"RandomUniform(minval={Text(MinValue!.Value)}, maxval={Text(MaxValue!.Value)})",
        InitializerKind.Constant => $"Constant(value={Text(Value!.Value)})",
        InitializerKind.Orthogonal or InitializerKind.Identity => $"{Kind}(gain={Text(Gain!.Value)})",
        _ => $"{Kind}()",
    };

    /// <summary>Keras' name of a mode or distribution (fan_in, truncated_normal, ...).</summary>
    public static string Snake<TEnum>(TEnum value) where TEnum : struct, Enum
        => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    private static double? Take(InitializerKind kind, double? given, bool taken, double fallback, string name)
    {
        if (!taken) return given is null ? null : throw new ArgumentException($"A {kind} initializer has no {name} (got {Text(given.Value)}).", name);
        double value = given ?? fallback;
        if (!float.IsFinite((float)value)) throw new ArgumentOutOfRangeException(name, value, $"An initializer's {name} must be finite, also in float, got {Text(value)}.");
        return value;
    }

    private static ArgumentException Unused(InitializerKind kind, string name) => new($"A {kind} initializer has no {name}.", name);

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
