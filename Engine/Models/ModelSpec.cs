using System.Text.Json;
using System.Text.Json.Serialization;
using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>One layer of a model spec. Which fields matter depends on <see cref="Type"/>.</summary>
public sealed record LayerSpec
{
    /// <summary>"lstm", "bidirectional" (an LSTM wrapped), "layer_norm", "dense", "dropout" or "masking".</summary>
    public required string Type { get; init; }
    public string? Name { get; init; }
    public int Units { get; init; }
    public bool ReturnSequences { get; init; }
    public bool GoBackwards { get; init; }
    /// <summary>Keras' zero_output_for_mask for a plain LSTM (a Bidirectional sets it from return_sequences).</summary>
    public bool ZeroOutputForMask { get; init; }
    public double Dropout { get; init; }
    public double RecurrentDropout { get; init; }
    public GateNormalization CellGates { get; init; }
    public CellStateNormalization CellState { get; init; }
    public bool CellHidden { get; init; }
    public double CellEpsilon { get; init; } = 1e-3;
    public MergeMode Merge { get; init; } = MergeMode.Concat;
    public double Epsilon { get; init; } = LayerNorm<float>.KerasEpsilon;
    public bool Center { get; init; } = true;
    public bool Scale { get; init; } = true;
    public Activation Activation { get; init; } = Activation.Linear;
    public bool UseBias { get; init; } = true;
    /// <summary>A dropout layer's rate, in [0, 1); 0 (and left out of the JSON) for every other type.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double Rate { get; init; }
    /// <summary>A masking layer's mask value (Keras' mask_value, default 0.0, then left out of the JSON), finite; 0 for
    /// every other type.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double MaskValue { get; init; }
    /// <summary>A dense layer wrapped in Keras' TimeDistributed (<see cref="Dense{T}.TimeDistributed"/>): on a sequence
    /// only; false (default, and left out of the JSON) for every other layer.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool TimeDistributed { get; init; }

    /// <summary>Keras' kernel_regularizer of an lstm, bidirectional (both directions) or dense layer; null (default, and
    /// left out of the JSON) for none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightRegularizer? KernelRegularizer { get; init; }
    /// <summary>Keras' recurrent_regularizer of an lstm or bidirectional layer.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightRegularizer? RecurrentRegularizer { get; init; }
    /// <summary>Keras' bias_regularizer of an lstm, bidirectional or dense layer (no effect on a dense without bias, as in Keras).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightRegularizer? BiasRegularizer { get; init; }
    /// <summary>Keras' gamma_regularizer of a layer_norm (no effect without scale, as in Keras).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightRegularizer? GammaRegularizer { get; init; }
    /// <summary>Keras' beta_regularizer of a layer_norm (no effect without center, as in Keras).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightRegularizer? BetaRegularizer { get; init; }
    /// <summary>Keras' activity_regularizer of an lstm, bidirectional (on its merged output), dense or layer_norm layer: a
    /// penalty on the layer's output divided by the batch size; null (default, and left out of the JSON) for none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightRegularizer? ActivityRegularizer { get; init; }
    /// <summary>Keras' kernel_constraint of an lstm, bidirectional (both directions) or dense layer, applied after each
    /// optimizer step; null (default, and left out of the JSON) for none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightConstraint? KernelConstraint { get; init; }
    /// <summary>Keras' recurrent_constraint of an lstm or bidirectional layer.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightConstraint? RecurrentConstraint { get; init; }
    /// <summary>Keras' bias_constraint of an lstm, bidirectional or dense layer.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightConstraint? BiasConstraint { get; init; }
    /// <summary>Keras' gamma_constraint of a layer_norm.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightConstraint? GammaConstraint { get; init; }
    /// <summary>Keras' beta_constraint of a layer_norm.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightConstraint? BetaConstraint { get; init; }
    /// <summary>Keras' kernel_initializer of an lstm, bidirectional (both directions) or dense layer; null (default, and
    /// left out of the JSON) for Keras' glorot_uniform.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightInitializer? KernelInitializer { get; init; }
    /// <summary>Keras' recurrent_initializer of an lstm or bidirectional layer; null (default) for orthogonal.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightInitializer? RecurrentInitializer { get; init; }
    /// <summary>Keras' bias_initializer of an lstm, bidirectional or dense layer; null (default) for zeros.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightInitializer? BiasInitializer { get; init; }
    /// <summary>Keras' gamma_initializer of a layer_norm; null (default) for ones.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightInitializer? GammaInitializer { get; init; }
    /// <summary>Keras' beta_initializer of a layer_norm; null (default) for zeros.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WeightInitializer? BetaInitializer { get; init; }
    /// <summary>Keras' unit_forget_bias of an lstm or bidirectional layer (default true: the forget gate's bias starts at 1).</summary>
    [JsonIgnore]
    public bool UnitForgetBias { get; init; } = true;

    // unit_forget_bias in the JSON: written only when false (its default, true, is left out as every other default).
    [JsonInclude, JsonPropertyName("unit_forget_bias"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    private bool? UnitForgetBiasField { get => UnitForgetBias ? null : false; init => UnitForgetBias = value ?? true; }

    public CellNormalization CellNormalization => new(CellGates, CellState, CellHidden, CellEpsilon);

    public static LayerSpec Lstm(int units, bool returnSequences = false, double dropout = 0, double recurrentDropout = 0, CellNormalization? cell = null, bool goBackwards = false)
    {
        cell ??= CellNormalization.None;
        return new LayerSpec
        {
            Type = "lstm", Units = units, ReturnSequences = returnSequences, Dropout = dropout, RecurrentDropout = recurrentDropout, GoBackwards = goBackwards,
            CellGates = cell.Gates, CellState = cell.CellState, CellHidden = cell.Hidden, CellEpsilon = cell.Epsilon,
        };
    }

    public static LayerSpec Bidirectional(LayerSpec lstm, MergeMode merge = MergeMode.Concat)
    {
        if (lstm.Type != "lstm") throw new ArgumentException($"Bidirectional wraps an LSTM spec, got '{lstm.Type}'.", nameof(lstm));
        if (lstm.GoBackwards) throw new ArgumentException(BidirectionalGoBackwards, nameof(lstm));
        return lstm with { Type = "bidirectional", Merge = merge };
    }

    public static LayerSpec LayerNorm(double epsilon = LayerNorm<float>.KerasEpsilon, bool center = true, bool scale = true)
        => new() { Type = "layer_norm", Epsilon = epsilon, Center = center, Scale = scale };

    public static LayerSpec Dense(int units, Activation activation = Activation.Linear, bool useBias = true)
        => new() { Type = "dense", Units = units, Activation = activation, UseBias = useBias };

    /// <summary>A dropout layer (Keras' Dropout(rate)); named so, not Dropout, as <see cref="Dropout"/> is an LSTM's input rate.</summary>
    public static LayerSpec DropoutLayer(double rate) => new() { Type = "dropout", Rate = rate };

    /// <summary>A masking layer (Keras' Masking(mask_value)): masks the steps whose values all equal maskValue.</summary>
    public static LayerSpec Masking(double maskValue = 0.0) => new() { Type = "masking", MaskValue = maskValue + 0.0 };   // −0 as +0

    /// <summary>Why a bidirectional layer refuses go_backwards: Keras 3 builds the backward copy with go_backwards = true, so
    /// a wrapped go_backwards layer would give two backward directions, and its _verify_layer_config raises.</summary>
    internal const string BidirectionalGoBackwards =
        "go_backwards must be false for a bidirectional layer: it wraps the forward LSTM and builds the go_backwards copy itself (Keras 3 raises for both directions going backwards).";

    internal Layer<T> Create<T>(string name) where T : unmanaged, IFloatingPointIeee754<T> => Type switch
    {
        "bidirectional" when GoBackwards => throw new ArgumentException($"Layer '{name}': {BidirectionalGoBackwards}"),
        "lstm" => new Lstm<T>(Units, ReturnSequences, GoBackwards, Dropout, RecurrentDropout, CellNormalization, name, ZeroOutputForMask)
        {
            KernelRegularizer = KernelRegularizer, RecurrentRegularizer = RecurrentRegularizer, BiasRegularizer = BiasRegularizer,
            KernelConstraint = KernelConstraint, RecurrentConstraint = RecurrentConstraint, BiasConstraint = BiasConstraint,
            ActivityRegularizer = ActivityRegularizer,
            KernelInitializer = KernelInitializer, RecurrentInitializer = RecurrentInitializer, BiasInitializer = BiasInitializer, UnitForgetBias = UnitForgetBias,
        },
        "bidirectional" => new Bidirectional<T>(new Lstm<T>(Units, ReturnSequences, false, Dropout, RecurrentDropout, CellNormalization, name + "_forward")
        {
            KernelRegularizer = KernelRegularizer, RecurrentRegularizer = RecurrentRegularizer, BiasRegularizer = BiasRegularizer,
            KernelConstraint = KernelConstraint, RecurrentConstraint = RecurrentConstraint, BiasConstraint = BiasConstraint,
            KernelInitializer = KernelInitializer, RecurrentInitializer = RecurrentInitializer, BiasInitializer = BiasInitializer, UnitForgetBias = UnitForgetBias,
        }, Merge, name: name) { ActivityRegularizer = ActivityRegularizer },
        "layer_norm" => new LayerNorm<T>(Epsilon, Center, Scale, name)
        {
            GammaRegularizer = GammaRegularizer, BetaRegularizer = BetaRegularizer, GammaConstraint = GammaConstraint, BetaConstraint = BetaConstraint,
            ActivityRegularizer = ActivityRegularizer, GammaInitializer = GammaInitializer, BetaInitializer = BetaInitializer,
        },
        "dense" => new Dense<T>(Units, Activation, UseBias, name)
        {
            KernelRegularizer = KernelRegularizer, BiasRegularizer = BiasRegularizer, KernelConstraint = KernelConstraint, BiasConstraint = BiasConstraint,
            ActivityRegularizer = ActivityRegularizer, KernelInitializer = KernelInitializer, BiasInitializer = BiasInitializer, TimeDistributed = TimeDistributed,
        },
        "dropout" => new Dropout<T>(Rate, name),
        "masking" => new Masking<T>(MaskValue, name),
        _ => throw new ArgumentException($"Unknown layer type '{Type}' (expected lstm, bidirectional, layer_norm, dense, dropout or masking)."),
    };
}

/// <summary>
/// A model as data: input features, seed and layers. Round-trips through JSON exactly and builds a
/// <see cref="Sequential{T}"/> for either element type. Unnamed layers get Keras-like names (lstm_1, layer_norm_2, ...).
/// </summary>
public sealed record ModelSpec
{
    public const int FormatVersion = 1;
    /// <summary>Longest layer name accepted (names become tensor names in model files).</summary>
    public const int MaxNameLength = 256;
    /// <summary>Most layers a spec holds.</summary>
    public const int MaxLayers = 1000;
    /// <summary>Most units of an LSTM or Bidirectional layer in a spec.</summary>
    public const int MaxRecurrentUnits = 1 << 16;
    /// <summary>Most units of a Dense layer in a spec.</summary>
    public const int MaxDenseUnits = 1 << 20;

    public int Version { get; init; } = FormatVersion;
    public required int InputFeatures { get; init; }
    public int Seed { get; init; }
    public required IReadOnlyList<LayerSpec> Layers { get; init; }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        MaxDepth = 16,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // A repeated field is an error, not "the last one wins": the spec travels in file headers, read as hostile input.
        AllowDuplicateProperties = false,
    };

    public Sequential<T> Build<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var counters = new Dictionary<string, int>();
        var layers = new List<Layer<T>>();
        foreach (LayerSpec spec in Layers)
        {
            string name = spec.Name ?? $"{spec.Type}_{counters[spec.Type] = counters.GetValueOrDefault(spec.Type) + 1}";
            layers.Add(spec.Create<T>(name));
        }
        return new Sequential<T>(InputFeatures, layers, Seed);
    }

    /// <summary>The spec with every layer's name filled in, as <see cref="Build{T}"/> names them.</summary>
    public ModelSpec WithLayerNames()
    {
        var counters = new Dictionary<string, int>();
        return this with
        {
            Layers = Layers.Select(spec => spec with { Name = spec.Name ?? $"{spec.Type}_{counters[spec.Type] = counters.GetValueOrDefault(spec.Type) + 1}" }).ToList(),
        };
    }

    /// <summary>
    /// The number of values the built model holds (PyTorch's zero second LSTM bias not counted), computed from the spec
    /// alone, so a loader can compare it with what a file holds before it allocates anything. long.MaxValue if it overflows.
    /// Call on a validated spec.
    /// </summary>
    public long ParameterCount()
    {
        try
        {
            checked
            {
                long total = 0, features = InputFeatures;
                foreach (LayerSpec layer in Layers)
                {
                    long u = layer.Units, g = 4 * u;
                    switch (layer.Type)
                    {
                        case "lstm" or "bidirectional":
                            long cell = g * features + g * u + g
                                + (layer.CellGates switch { GateNormalization.Summed => 2 * g, GateNormalization.Separate => 4 * g, _ => 0 })
                                + (layer.CellState != CellStateNormalization.None ? 2 * u : 0) + (layer.CellHidden ? 2 * u : 0);
                            bool both = layer.Type == "bidirectional";
                            total += both ? 2 * cell : cell;
                            features = both && layer.Merge == MergeMode.Concat ? 2 * u : u;
                            break;
                        case "layer_norm":
                            total += (layer.Scale ? features : 0) + (layer.Center ? features : 0);
                            break;
                        case "dense":
                            total += u * features + (layer.UseBias ? u : 0);
                            features = u;
                            break;
                    }
                }
                return total;
            }
        }
        catch (OverflowException)
        {
            return long.MaxValue;
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>
    /// The model as Keras 3 serializes it (the <c>config.json</c> of a <c>.keras</c> archive, <c>model.to_json()</c>):
    /// Keras' classes, Keras' defaults for what NumLstm has no option for, an InputLayer of shape (timeSteps or None,
    /// features). <see cref="FromKerasJson"/> reads it back to this spec. A layer normalized inside its cell has no
    /// Keras counterpart (<see cref="ArgumentException"/>). docs/formats.md, "Keras files".
    /// </summary>
    public string ToKerasJson(int? timeSteps = null, string dtype = "float32") => KerasConfigWriter.ToJson(this, timeSteps, dtype);

    /// <summary>The spec of a Keras Sequential model config (<c>model.to_json()</c>, Keras 3 or tf.keras 2); options
    /// NumLstm does not implement raise <see cref="FormatException"/> naming the JSON path. See <see cref="KerasConfig.ToSpec"/>.</summary>
    public static ModelSpec FromKerasJson(string json, int seed = 0, int? inputFeatures = null, string? source = null)
        => KerasConfig.ToSpec(json, seed, inputFeatures, source);

    /// <summary>Parses a spec; malformed JSON or invalid fields raise <see cref="FormatException"/> naming the field.</summary>
    public static ModelSpec FromJson(string json, string? source = null)
    {
        ModelSpec? spec;
        try
        {
            spec = JsonSerializer.Deserialize<ModelSpec>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new FormatException($"Model spec{(source is null ? "" : $" '{source}'")}: invalid JSON at {e.Path ?? "?"} (line {e.LineNumber}): {e.Message}", e);
        }
        catch (ArgumentException e)   // a value a constructor refuses (a regularizer's negative factor)
        {
            throw new FormatException($"Model spec{(source is null ? "" : $" '{source}'")}: {e.Message}", e);
        }
        if (spec is null) throw new FormatException($"Model spec{(source is null ? "" : $" '{source}'")}: the JSON is null.");
        spec.Validate(source);
        return spec;
    }

    // Which layer takes which regularizer, constraint and initializer, as Keras' layers take them: a misplaced one would be
    // silently ignored; a constraint's axis must exist on its weight (a bias or γ is 1-D), and an Orthogonal or Identity
    // initializer needs a 2-D one.
    private static void CheckRegularizers(LayerSpec layer, string at)
    {
        bool recurrent = layer.Type is "lstm" or "bidirectional", dense = layer.Type == "dense", norm = layer.Type == "layer_norm";
        const string Weights = "lstm, bidirectional and dense layers", Recurrent = "lstm and bidirectional layers", Norms = "layer_norm layers";
        (string Field, object? Value, bool Taken, string Takers, int Rank)[] fields =
        [
            ("kernel_regularizer", layer.KernelRegularizer, recurrent || dense, Weights, 2),
            ("recurrent_regularizer", layer.RecurrentRegularizer, recurrent, Recurrent, 2),
            ("bias_regularizer", layer.BiasRegularizer, recurrent || dense, Weights, 1),
            ("gamma_regularizer", layer.GammaRegularizer, norm, Norms, 1),
            ("beta_regularizer", layer.BetaRegularizer, norm, Norms, 1),
            ("kernel_constraint", layer.KernelConstraint, recurrent || dense, Weights, 2),
            ("recurrent_constraint", layer.RecurrentConstraint, recurrent, Recurrent, 2),
            ("bias_constraint", layer.BiasConstraint, recurrent || dense, Weights, 1),
            ("gamma_constraint", layer.GammaConstraint, norm, Norms, 1),
            ("beta_constraint", layer.BetaConstraint, norm, Norms, 1),
            ("activity_regularizer", layer.ActivityRegularizer, recurrent || dense || norm, "lstm, bidirectional, dense and layer_norm layers", 0),
            ("kernel_initializer", layer.KernelInitializer, recurrent || dense, Weights, 2),
            ("recurrent_initializer", layer.RecurrentInitializer, recurrent, Recurrent, 2),
            ("bias_initializer", layer.BiasInitializer, recurrent || dense, Weights, 1),
            ("gamma_initializer", layer.GammaInitializer, norm, Norms, 1),
            ("beta_initializer", layer.BetaInitializer, norm, Norms, 1),
            ("unit_forget_bias", layer.UnitForgetBias ? null : "false", recurrent, Recurrent, 0),
        ];
        foreach ((string field, object? value, bool taken, string takers, int rank) in fields)
        {
            if (value is not null && !taken)
                throw new FormatException($"{at}.{field} is taken by {takers}; a {IO.Echo.Name(layer.Type)} layer has no such weight (got {value}).");
            if (value is WeightConstraint constraint && !constraint.FitsRank(rank))
                throw new FormatException($"{at}.{field}: {constraint} has no axis {constraint.Axis} on a {rank}-D weight (use 0, -1 or all axes).");
            if (value is WeightInitializer { NeedsMatrix: true } initializer && rank == 1)
                throw new FormatException($"{at}.{field}: {initializer} needs a 2-D weight, and this one is 1-D (Keras raises).");
        }
    }

    public void Validate(string? source = null)
    {
        string where = source is null ? "Model spec" : $"Model spec '{source}'";
        if (Version != FormatVersion) throw new FormatException($"{where}: version {Version} is not supported (expected {FormatVersion}).");
        if (InputFeatures <= 0) throw new FormatException($"{where}: input_features must be positive, got {InputFeatures}.");
        if (Layers is null || Layers.Count == 0) throw new FormatException($"{where}: layers is empty.");
        if (Layers.Count > MaxLayers) throw new FormatException($"{where}: {Layers.Count} layers is more than the {MaxLayers} allowed.");
        var names = new HashSet<string>(StringComparer.Ordinal);
        var counters = new Dictionary<string, int>();
        bool sequence = true;
        int vectorFrom = -1;   // the recurrent layer that returned the vector the layers after it see (the LayerNorm, Dense or
                               // Dropout after it keep the vector), named in the messages
        for (int k = 0; k < Layers.Count; k++)
        {
            LayerSpec layer = Layers[k];
            string at = $"{where}: layers[{k}]";
            if (layer is null) throw new FormatException($"{at} is null.");
            if (layer.Name is { Length: 0 or > MaxNameLength })
                throw new FormatException($"{at}.name must have 1..{MaxNameLength} characters (or be left out for a generated one), got {layer.Name.Length}.");
            string name = layer.Name ?? $"{layer.Type}_{counters[layer.Type ?? ""] = counters.GetValueOrDefault(layer.Type ?? "") + 1}";
            if (!names.Add(name)) throw new FormatException($"{at}.name '{name}' is already used by an earlier layer; names must be unique.");
            if (layer.Type != "dropout" && layer.Rate != 0)
                throw new FormatException($"{at}.rate is a dropout layer's field; a {IO.Echo.Name(layer.Type)} layer takes none (got {layer.Rate:R}).");
            if (layer.Type != "masking" && layer.MaskValue != 0)
                throw new FormatException($"{at}.mask_value is a masking layer's field; a {IO.Echo.Name(layer.Type)} layer takes none (got {layer.MaskValue:R}).");
            if (layer.Type != "dense" && layer.TimeDistributed)
                throw new FormatException($"{at}.time_distributed is a dense layer's field; a {IO.Echo.Name(layer.Type)} layer takes none (NumLstm reads Keras' TimeDistributed around a Dense only).");
            CheckRegularizers(layer, at);
            switch (layer.Type)
            {
                case "lstm" or "bidirectional":
                    if (!sequence) throw new FormatException($"{at} ({layer.Type}) needs a sequence input, but layers[{vectorFrom}] returns a vector (set return_sequences: true on it).");
                    sequence = layer.ReturnSequences;
                    if (!sequence) vectorFrom = k;
                    if (layer.Units <= 0 || layer.Units > MaxRecurrentUnits) throw new FormatException($"{at}.units must be in 1..{MaxRecurrentUnits}, got {layer.Units}.");
                    if (!(layer.Dropout >= 0 && layer.Dropout < 1)) throw new FormatException($"{at}.dropout must be in [0, 1), got {layer.Dropout}.");
                    if (!(layer.RecurrentDropout >= 0 && layer.RecurrentDropout < 1)) throw new FormatException($"{at}.recurrent_dropout must be in [0, 1), got {layer.RecurrentDropout}.");
                    if (!LayerNorm<float>.IsUsableEpsilon(layer.CellEpsilon))
                        throw new FormatException($"{at}.cell_epsilon must be finite and > 0, also in float (at least {float.Epsilon:R}), got {layer.CellEpsilon:R}.");
                    if (layer.Type == "bidirectional" && layer.GoBackwards) throw new FormatException($"{at}.go_backwards: {LayerSpec.BidirectionalGoBackwards}");
                    if (!Enum.IsDefined(layer.CellGates) || !Enum.IsDefined(layer.CellState) || !Enum.IsDefined(layer.Merge))
                        throw new FormatException($"{at}: unknown cell_gates, cell_state or merge value.");
                    break;
                case "layer_norm":
                    if (!LayerNorm<float>.IsUsableEpsilon(layer.Epsilon))
                        throw new FormatException($"{at}.epsilon must be finite and > 0, also in float (at least {float.Epsilon:R}), got {layer.Epsilon:R}.");
                    break;
                case "dense":
                    if (layer.Units <= 0 || layer.Units > MaxDenseUnits) throw new FormatException($"{at}.units must be in 1..{MaxDenseUnits}, got {layer.Units}.");
                    if (layer.TimeDistributed && !sequence)
                        throw new FormatException($"{at} (time-distributed dense) needs a sequence input, but layers[{vectorFrom}] returns a vector (set return_sequences: true on it).");
                    if (!Enum.IsDefined(layer.Activation)) throw new FormatException($"{at}.activation is unknown.");
                    break;
                case "dropout":
                    if (!Dropout<float>.IsUsableRate(layer.Rate)) throw new FormatException($"{at}.rate must be in [0, 1), got {layer.Rate:R}.");
                    break;
                case "masking":
                    if (!sequence) throw new FormatException($"{at} (masking) needs a sequence input, but layers[{vectorFrom}] returns a vector (set return_sequences: true on it; Masking masks time steps).");
                    if (!Masking<float>.IsUsableMaskValue(layer.MaskValue)) throw new FormatException($"{at}.mask_value {Masking<float>.UsableRule}, got {layer.MaskValue:R}.");
                    break;
                default:
                    throw new FormatException($"{at}.type '{IO.Echo.Name(layer.Type)}' is unknown (expected lstm, bidirectional, layer_norm, dense, dropout or masking).");
            }
        }
    }
}
