using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>
/// Writes a spec as Keras 3 serializes a Sequential model (<c>serialize_keras_object(model)</c>, the
/// <c>config.json</c> of a <c>.keras</c> archive and <c>model.to_json()</c>): every field Keras 3.4 and later write, in
/// their order, with Keras' defaults for what a spec leaves out (initializers, regularizers, constraints), an
/// InputLayer first, and each layer's <c>build_config</c> (its input shape), so that <c>keras.models.load_model</c>
/// builds the model and can load its weights. The reader (<see cref="KerasConfig"/>) reads it back to the same spec.
/// </summary>
internal static class KerasConfigWriter
{
    public static string ToJson(ModelSpec spec, int? timeSteps, string dtype)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (dtype is not ("float32" or "float64"))
            throw new ArgumentException($"Expected the dtype 'float32' or 'float64', got '{dtype}'.", nameof(dtype));
        if (timeSteps is <= 0)
            throw new ArgumentOutOfRangeException(nameof(timeSteps), timeSteps, "Expected a positive number of time steps, or null (any length, Keras' None).");
        JsonNode? time = timeSteps is int t ? JsonValue.Create(t) : null;
        JsonArray Sequence(int features) => new(null, time?.DeepClone(), features);
        JsonArray Vector(int features) => new(null, features);

        var layers = new JsonArray
        {
            new JsonObject
            {
                ["module"] = "keras.layers",
                ["class_name"] = "InputLayer",
                ["config"] = new JsonObject
                {
                    ["batch_shape"] = Sequence(spec.InputFeatures), ["dtype"] = dtype, ["sparse"] = false, ["ragged"] = false,
                    ["name"] = "input_layer", ["optional"] = false,
                },
                ["registered_name"] = null,
            },
        };
        var names = new HashSet<string>(StringComparer.Ordinal) { "input_layer" };
        var counters = new Dictionary<string, int>(StringComparer.Ordinal);
        int lstms = 0;
        bool sequence = true;
        int features = spec.InputFeatures;
        foreach (LayerSpec layer in spec.Layers)
        {
            string name = layer.Name ?? $"{layer.Type}_{counters[layer.Type] = counters.GetValueOrDefault(layer.Type) + 1}";
            if (name.Contains('/') || !names.Add(name))
                throw new ArgumentException($"Layer '{name}': Keras needs unique layer names without '/' ('input_layer' is the InputLayer's).", nameof(spec));
            JsonArray inputShape = sequence ? Sequence(features) : Vector(features);
            JsonObject config = Base(name, dtype);
            // Keras' base Layer.get_config writes activity_regularizer after dtype when one is set; LSTM.get_config always, in its place.
            if (layer.ActivityRegularizer is not null && layer.Type != "lstm") config["activity_regularizer"] = Regularizer(layer.ActivityRegularizer);
            string className;
            switch (layer.Type)
            {
                case "lstm":
                    RefuseCellNormalization(layer, name);
                    className = "LSTM";
                    lstms++;
                    AddLstm(config, layer, layer.GoBackwards, layer.ZeroOutputForMask, layer.ActivityRegularizer);
                    sequence = layer.ReturnSequences;
                    features = layer.Units;
                    break;
                case "bidirectional":
                {
                    RefuseCellNormalization(layer, name);
                    className = "Bidirectional";
                    string inner = lstms++ == 0 ? "lstm" : $"lstm_{lstms - 1}";
                    config["merge_mode"] = layer.Merge switch
                    {
                        MergeMode.Concat => "concat", MergeMode.Sum => "sum", MergeMode.Mul => "mul", MergeMode.Ave => "ave",
                        _ => throw new ArgumentException($"Layer '{name}': merge mode {layer.Merge} has no Keras name.", nameof(spec)),
                    };
                    foreach (var (key, prefix, backwards) in new[] { ("layer", "forward_", false), ("backward_layer", "backward_", true) })
                    {
                        JsonObject wrapped = Base(prefix + inner, dtype);
                        AddLstm(wrapped, layer, backwards, zeroOutputForMask: layer.ReturnSequences, activity: null);   // the wrapper's is on the wrapper
                        config[key] = Serialized("keras.layers", "LSTM", wrapped, inputShape.DeepClone());
                    }
                    sequence = layer.ReturnSequences;
                    features = layer.Merge == MergeMode.Concat ? 2 * layer.Units : layer.Units;
                    break;
                }
                case "layer_norm":
                    className = "LayerNormalization";
                    config["axis"] = new JsonArray(-1);
                    config["epsilon"] = PythonFloat(layer.Epsilon);
                    config["center"] = layer.Center;
                    config["scale"] = layer.Scale;
                    config["rms_scaling"] = false;
                    config["beta_initializer"] = Initializer(layer.BetaInitializer ?? WeightInitializer.Zeros());
                    config["gamma_initializer"] = Initializer(layer.GammaInitializer ?? WeightInitializer.Ones());
                    config["beta_regularizer"] = Regularizer(layer.BetaRegularizer); config["gamma_regularizer"] = Regularizer(layer.GammaRegularizer);
                    config["beta_constraint"] = Constraint(layer.BetaConstraint, 1); config["gamma_constraint"] = Constraint(layer.GammaConstraint, 1);
                    break;
                case "dense":
                {
                    // A time-distributed Dense is Keras' TimeDistributed wrapper around the Dense, built on one step's shape.
                    JsonObject dense = layer.TimeDistributed ? Base($"{name}_dense", dtype) : config;
                    dense["units"] = layer.Units;
                    if (!Enum.IsDefined(layer.Activation)) throw new ArgumentException($"Layer '{name}': activation {layer.Activation} has no Keras name.", nameof(spec));
                    dense["activation"] = ActivationNames.KerasName(layer.Activation);
                    dense["use_bias"] = layer.UseBias;
                    dense["kernel_initializer"] = Initializer(layer.KernelInitializer ?? WeightInitializer.GlorotUniform());
                    dense["bias_initializer"] = Initializer(layer.BiasInitializer ?? WeightInitializer.Zeros());
                    dense["kernel_regularizer"] = Regularizer(layer.KernelRegularizer); dense["bias_regularizer"] = Regularizer(layer.BiasRegularizer);
                    dense["kernel_constraint"] = Constraint(layer.KernelConstraint, 2); dense["bias_constraint"] = Constraint(layer.BiasConstraint, 1);
                    if (layer.TimeDistributed)
                    {
                        if (!sequence) throw new ArgumentException($"Layer '{name}': a time-distributed Dense needs a sequence input.", nameof(spec));
                        className = "TimeDistributed";
                        config["layer"] = Serialized("keras.layers", "Dense", dense, Vector(features));
                    }
                    else className = "Dense";
                    features = layer.Units;
                    break;
                }
                case "dropout":
                    className = "Dropout";
                    config["rate"] = PythonFloat(layer.Rate);
                    config["seed"] = null;
                    config["noise_shape"] = null;
                    break;
                case "masking":
                    className = "Masking";
                    config["mask_value"] = PythonFloat(layer.MaskValue);
                    break;
                default:
                    throw new ArgumentException($"Layer '{name}': type '{layer.Type}' has no Keras counterpart.", nameof(spec));
            }
            layers.Add(Serialized("keras.layers", className, config, inputShape));
        }

        var model = new JsonObject
        {
            ["module"] = "keras",
            ["class_name"] = "Sequential",
            ["config"] = new JsonObject
            {
                ["name"] = "sequential", ["trainable"] = true, ["dtype"] = Policy(dtype), ["layers"] = layers,
                ["build_input_shape"] = Sequence(spec.InputFeatures),
            },
            ["registered_name"] = null,
            ["build_config"] = new JsonObject { ["input_shape"] = Sequence(spec.InputFeatures) },
        };
        return model.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }

    /// <summary>A float as Python's json.dumps writes it (repr: 1.0, 0.001, 1e-05, 1e+16), kept as that text.</summary>
    internal static JsonNode PythonFloat(double x) => JsonNode.Parse(PythonRepr(x))!;

    internal static string PythonRepr(double x)
    {
        if (!double.IsFinite(x)) throw new ArgumentException($"Expected a finite number for a Keras config, got {x}.", nameof(x));
        if (x == 0) return double.IsNegative(x) ? "-0.0" : "0.0";
        // The shortest round-trip digits, then Python's float_repr_style 'short' layout: positional for decimal
        // exponents -4..15, else d.ddde±XX.
        string r = Math.Abs(x).ToString("R", CultureInfo.InvariantCulture);
        int e = 0, at = r.IndexOfAny(['E', 'e']);
        string mantissa = r;
        if (at >= 0) { e = int.Parse(r[(at + 1)..], CultureInfo.InvariantCulture); mantissa = r[..at]; }
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int point = (dot < 0 ? mantissa.Length : dot) + e;     // value = 0.digits × 10^point
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') lead++;
        digits = digits[lead..].TrimEnd('0');
        point -= lead;
        if (digits.Length == 0) digits = "0";
        int exponent = point - 1;
        string sign = x < 0 ? "-" : "";
        if (exponent is < -4 or >= 16)
            return $"{sign}{digits[0]}{(digits.Length > 1 ? "." + digits[1..] : "")}e{(exponent < 0 ? "-" : "+")}{Math.Abs(exponent):00}";
        if (exponent < 0) return $"{sign}0.{new string('0', -exponent - 1)}{digits}";
        string whole = digits.Length > exponent + 1 ? digits[..(exponent + 1)] : digits.PadRight(exponent + 1, '0');
        string fraction = digits.Length > exponent + 1 ? digits[(exponent + 1)..] : "0";
        return $"{sign}{whole}.{fraction}";
    }

    private static void RefuseCellNormalization(LayerSpec layer, string name)
    {
        if (!layer.CellNormalization.IsNone)
            throw new ArgumentException($"Layer '{name}' normalizes inside its cell ({layer.CellNormalization}); Keras' LSTM has no such option, so no Keras config can describe it.", "spec");
    }

    private static JsonObject Base(string name, string dtype) => new() { ["name"] = name, ["trainable"] = true, ["dtype"] = Policy(dtype) };

    private static JsonObject Policy(string dtype) => new()
    {
        ["module"] = "keras", ["class_name"] = "DTypePolicy", ["config"] = new JsonObject { ["name"] = dtype }, ["registered_name"] = null,
    };

    /// <summary>An initializer as Keras 3 serializes it: keras.initializers, its class and get_config's values (and
    /// "seed": null for the random ones). Orthogonal under Keras 3.0's class name, OrthogonalInitializer, which every
    /// Keras 3 version reads (later ones as an alias; "Orthogonal" is not in every version's ALL_OBJECTS_DICT).
    /// Identity under its class name, Identity, as every Keras 3 version writes and reads it (IdentityInitializer is
    /// only an export alias, read by initializers.get from the versions that added it to ALL_OBJECTS_DICT on); with its
    /// gain (Keras' Identity.get_config writes {}, losing a gain other than 1; its from_config takes it).</summary>
    private static JsonObject Initializer(WeightInitializer initializer)
    {
        JsonObject config = initializer.Kind switch
        {
            InitializerKind.Zeros or InitializerKind.Ones => new JsonObject(),
            InitializerKind.Constant => new JsonObject { ["value"] = PythonFloat(initializer.Value!.Value) },
            InitializerKind.Identity => new JsonObject { ["gain"] = PythonFloat(initializer.Gain!.Value) },
            InitializerKind.Orthogonal => new JsonObject { ["gain"] = PythonFloat(initializer.Gain!.Value), ["seed"] = null },
            InitializerKind.RandomNormal or InitializerKind.TruncatedNormal => new JsonObject
            {
                ["mean"] = PythonFloat(initializer.Mean!.Value), ["stddev"] = PythonFloat(initializer.Stddev!.Value), ["seed"] = null,
            },
            InitializerKind.RandomUniform => new JsonObject
            {
                ["minval"] = PythonFloat(initializer.MinValue!.Value), ["maxval"] = PythonFloat(initializer.MaxValue!.Value), ["seed"] = null,
            },
            InitializerKind.VarianceScaling => new JsonObject
            {
                ["scale"] = PythonFloat(initializer.Scale!.Value), ["mode"] = WeightInitializer.Snake(initializer.Mode!.Value),
                ["distribution"] = WeightInitializer.Snake(initializer.Distribution!.Value), ["seed"] = null,
            },
            _ => new JsonObject { ["seed"] = null },   // the VarianceScaling presets
        };
        string className = initializer.Kind switch
        {
            InitializerKind.Orthogonal => "OrthogonalInitializer",
            _ => initializer.Kind.ToString(),
        };
        return new JsonObject { ["module"] = "keras.initializers", ["class_name"] = className, ["config"] = config, ["registered_name"] = null };
    }

    private static JsonObject Serialized(string module, string className, JsonObject config, JsonNode inputShape) => new()
    {
        ["module"] = module, ["class_name"] = className, ["config"] = config, ["registered_name"] = null,
        ["build_config"] = new JsonObject { ["input_shape"] = inputShape },
    };

    /// <summary>A regularizer as Keras 3 serializes it (serialize_with_public_class): keras.regularizers, its class, and
    /// its get_config (L1: {"l1"}, L2: {"l2"}, L1L2: {"l1", "l2"}, each float(...)); null for none.</summary>
    private static JsonNode? Regularizer(WeightRegularizer? regularizer) => regularizer is null ? null : new JsonObject
    {
        ["module"] = "keras.regularizers",
        ["class_name"] = regularizer.Kind.ToString(),
        ["config"] = regularizer.Kind switch
        {
            RegularizerKind.L1 => new JsonObject { ["l1"] = PythonFloat(regularizer.L1Factor) },
            RegularizerKind.L2 => new JsonObject { ["l2"] = PythonFloat(regularizer.L2Factor) },
            _ => new JsonObject { ["l1"] = PythonFloat(regularizer.L1Factor), ["l2"] = PythonFloat(regularizer.L2Factor) },
        },
        ["registered_name"] = null,
    };

    /// <summary>A constraint as Keras 3 serializes it: keras.constraints, its class and get_config (MaxNorm: max_value,
    /// axis; NonNeg: nothing; UnitNorm: axis; MinMaxNorm: min_value, max_value, rate, axis); all axes of a kernel as
    /// [0, 1], of a 1-D weight (rank 1) as 0, its only axis.</summary>
    private static JsonNode? Constraint(WeightConstraint? constraint, int rank)
    {
        if (constraint is null) return null;
        JsonNode Axis() => constraint.Axis is int axis ? JsonValue.Create(axis) : rank == 1 ? JsonValue.Create(0) : new JsonArray(0, 1);
        return new JsonObject
        {
            ["module"] = "keras.constraints",
            ["class_name"] = constraint.Kind.ToString(),
            ["config"] = constraint.Kind switch
            {
                ConstraintKind.MaxNorm => new JsonObject { ["max_value"] = PythonFloat(constraint.MaxValue), ["axis"] = Axis() },
                ConstraintKind.NonNeg => new JsonObject(),
                ConstraintKind.UnitNorm => new JsonObject { ["axis"] = Axis() },
                _ => new JsonObject
                {
                    ["min_value"] = PythonFloat(constraint.MinValue), ["max_value"] = PythonFloat(constraint.MaxValue),
                    ["rate"] = PythonFloat(constraint.Rate), ["axis"] = Axis(),
                },
            },
            ["registered_name"] = null,
        };
    }

    /// <summary>RNN.get_config then LSTM.get_config, in Keras 3's order.</summary>
    private static void AddLstm(JsonObject config, LayerSpec layer, bool goBackwards, bool zeroOutputForMask, WeightRegularizer? activity)
    {
        config["return_sequences"] = layer.ReturnSequences;
        config["return_state"] = false;
        config["go_backwards"] = goBackwards;
        config["stateful"] = false;
        config["unroll"] = false;
        config["zero_output_for_mask"] = zeroOutputForMask;
        config["units"] = layer.Units;
        config["activation"] = "tanh";
        config["recurrent_activation"] = "sigmoid";
        config["use_bias"] = true;
        config["kernel_initializer"] = Initializer(layer.KernelInitializer ?? WeightInitializer.GlorotUniform());
        config["recurrent_initializer"] = Initializer(layer.RecurrentInitializer ?? WeightInitializer.Orthogonal());
        config["bias_initializer"] = Initializer(layer.BiasInitializer ?? WeightInitializer.Zeros());
        config["unit_forget_bias"] = layer.UnitForgetBias;
        config["kernel_regularizer"] = Regularizer(layer.KernelRegularizer);
        config["recurrent_regularizer"] = Regularizer(layer.RecurrentRegularizer);
        config["bias_regularizer"] = Regularizer(layer.BiasRegularizer);
        config["activity_regularizer"] = Regularizer(activity);
        config["kernel_constraint"] = Constraint(layer.KernelConstraint, 2);
        config["recurrent_constraint"] = Constraint(layer.RecurrentConstraint, 2);
        config["bias_constraint"] = Constraint(layer.BiasConstraint, 1);
        config["dropout"] = PythonFloat(layer.Dropout);
        config["recurrent_dropout"] = PythonFloat(layer.RecurrentDropout);
        config["seed"] = null;
    }
}
