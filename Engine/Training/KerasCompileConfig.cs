using System.Globalization;
using System.Text.Json;
using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Losses;
using NumLstm.Optimizers;

namespace NumLstm.Training;

/// <summary>
/// What a Keras 3 model was compiled with, read from the <c>compile_config</c> of its <c>config.json</c>
/// (<c>model.save("m.keras")</c> of a compiled model; keras/src/trainers/trainer.py <c>get_compile_config</c>): the
/// optimizer with its hyperparameters and clipping, the loss, the metrics. <see cref="ToTrainingOptions"/> turns it
/// into <see cref="TrainingOptions"/> that train as Keras' <c>fit</c> would: each optimizer with its Keras formula
/// (<see cref="AdamFormula.Keras"/> and kin, Keras' decoupled weight decay), the loss with Keras' defaults
/// (from_logits=False for a cross-entropy named by a string). What NumLstm cannot honour is refused with a
/// <see cref="FormatException"/> naming the JSON path: a learning-rate schedule, EMA, gradient accumulation, a loss
/// scale factor, per-output losses, losses or optimizers NumLstm has no counterpart for. docs/formats.md, "Keras files".
/// </summary>
public sealed record KerasCompileConfig
{
    /// <summary>The Keras optimizer class: Adam, AdamW, SGD, RMSprop, Adagrad, Adamax or Nadam.</summary>
    public required string Optimizer { get; init; }
    /// <summary>The optimizer's learning rate as Keras wrote it (a float32 value widened, e.g. 0.0010000000474974513).</summary>
    public required double LearningRate { get; init; }
    /// <summary>The optimizer's other hyperparameters by Keras' config keys (beta_1, epsilon, momentum, weight_decay, ...),
    /// each as read or as Keras' default for the class.</summary>
    public required IReadOnlyDictionary<string, double> Hyperparameters { get; init; }
    /// <summary>Keras' clipnorm, global_clipnorm or clipvalue (at most one is set) as NumLstm's clip mode; None for none.</summary>
    public ClipMode Clip { get; init; }
    public double ClipValue { get; init; } = 1.0;
    /// <summary>The loss, a name <see cref="Losses.Loss.FromName"/> takes (Keras' aliases mapped: MSE, MeanSquaredError,
    /// bce, ... become mse, binary_crossentropy, ...).</summary>
    public required string Loss { get; init; }
    /// <summary>A cross-entropy's from_logits (Keras' default false for a loss named by a string or a class without it); null for the other losses.</summary>
    public bool? FromLogits { get; init; }
    /// <summary>A cross-entropy's label_smoothing (0 by default).</summary>
    public double LabelSmoothing { get; init; }
    /// <summary>Huber's delta (1.0 by default); null for the other losses.</summary>
    public double? HuberDelta { get; init; }
    /// <summary>The metrics as compiled (their strings); <see cref="ToTrainingOptions"/> logs the first (NumLstm logs one
    /// metric beside the loss, <see cref="TrainingOptions.Metric"/>).</summary>
    public IReadOnlyList<string> Metrics { get; init; } = [];
    /// <summary>The weighted metrics as compiled; the first becomes <see cref="TrainingOptions.WeightedMetric"/>.</summary>
    public IReadOnlyList<string> WeightedMetrics { get; init; } = [];

    /// <summary>Keras 3's optimizer classes with their constructors' defaults (keras/src/optimizers/*.py).</summary>
    private static readonly Dictionary<string, (double LearningRate, Dictionary<string, double> Defaults, string[] Flags)> Optimizers = new(StringComparer.Ordinal)
    {
        ["Adam"] = (1e-3, new() { ["beta_1"] = 0.9, ["beta_2"] = 0.999, ["epsilon"] = 1e-7, ["weight_decay"] = 0 }, ["amsgrad"]),
        ["AdamW"] = (1e-3, new() { ["beta_1"] = 0.9, ["beta_2"] = 0.999, ["epsilon"] = 1e-7, ["weight_decay"] = 0.004 }, ["amsgrad"]),
        ["SGD"] = (0.01, new() { ["momentum"] = 0, ["weight_decay"] = 0 }, ["nesterov"]),
        ["RMSprop"] = (1e-3, new() { ["rho"] = 0.9, ["momentum"] = 0, ["epsilon"] = 1e-7, ["weight_decay"] = 0 }, ["centered"]),
        ["Adagrad"] = (1e-3, new() { ["initial_accumulator_value"] = 0.1, ["epsilon"] = 1e-7, ["weight_decay"] = 0 }, []),
        ["Adamax"] = (1e-3, new() { ["beta_1"] = 0.9, ["beta_2"] = 0.999, ["epsilon"] = 1e-7, ["weight_decay"] = 0 }, []),
        ["Nadam"] = (1e-3, new() { ["beta_1"] = 0.9, ["beta_2"] = 0.999, ["epsilon"] = 1e-7, ["weight_decay"] = 0 }, []),
    };

    /// <summary>The names optimizers.get and deserialize take for them, in any case (keras/src/optimizers/__init__.py keys
    /// the classes by their lower-cased names and lower-cases the name it is given).</summary>
    private static readonly Dictionary<string, string> OptimizerNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["adam"] = "Adam", ["adamw"] = "AdamW", ["sgd"] = "SGD", ["rmsprop"] = "RMSprop", ["adagrad"] = "Adagrad", ["adamax"] = "Adamax", ["nadam"] = "Nadam",
    };

    /// <summary>Keras' loss keys (keras/src/losses/__init__.py: class names, function names and the short aliases) for the
    /// losses NumLstm has, with NumLstm's name.</summary>
    private static readonly Dictionary<string, string> LossNames = new(StringComparer.Ordinal)
    {
        ["mse"] = "mse", ["MSE"] = "mse", ["mean_squared_error"] = "mse", ["MeanSquaredError"] = "mse",
        ["mae"] = "mae", ["MAE"] = "mae", ["mean_absolute_error"] = "mae", ["MeanAbsoluteError"] = "mae",
        ["mape"] = "mape", ["MAPE"] = "mape", ["mean_absolute_percentage_error"] = "mape", ["MeanAbsolutePercentageError"] = "mape",
        ["msle"] = "msle", ["MSLE"] = "msle", ["mean_squared_logarithmic_error"] = "msle", ["MeanSquaredLogarithmicError"] = "msle",
        ["huber"] = "huber", ["Huber"] = "huber",
        ["log_cosh"] = "log_cosh", ["LogCosh"] = "log_cosh",
        ["binary_crossentropy"] = "binary_crossentropy", ["BinaryCrossentropy"] = "binary_crossentropy", ["bce"] = "binary_crossentropy", ["BCE"] = "binary_crossentropy",
        ["categorical_crossentropy"] = "categorical_crossentropy", ["CategoricalCrossentropy"] = "categorical_crossentropy",
        ["sparse_categorical_crossentropy"] = "sparse_categorical_crossentropy", ["SparseCategoricalCrossentropy"] = "sparse_categorical_crossentropy",
    };

    private static bool IsCrossEntropy(string loss) => loss is "binary_crossentropy" or "categorical_crossentropy" or "sparse_categorical_crossentropy";

    /// <summary>The <c>compile_config</c> of a Keras model config (the whole <c>config.json</c>); null when the model was
    /// not compiled (no compile_config, or null).</summary>
    public static KerasCompileConfig? FromModelConfig(string json, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        var reader = new Reader(source);
        try
        {
            using JsonDocument document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw reader.Fail("", $"expected a model config object, got {Kind(document.RootElement)}.");
            if (!document.RootElement.TryGetProperty("compile_config", out JsonElement compile) || compile.ValueKind == JsonValueKind.Null) return null;
            return reader.Read(compile, "compile_config");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{reader.Where}: invalid JSON at {e.Path ?? "?"} (line {e.LineNumber}): {e.Message}", e);
        }
        catch (InvalidOperationException e)   // System.Text.Json unescaping a lone surrogate in a name it compares
        {
            throw new FormatException($"{reader.Where}: a string or field name that is not valid UTF-16 (a lone surrogate escape): {e.Message}", e);
        }
    }

    /// <summary>
    /// Training options that train as Keras' <c>fit</c> with this compile config would: the optimizer (Keras' formula,
    /// hyperparameters and weight decay), the loss (Keras' from_logits, label_smoothing, Huber's delta), the first metric
    /// and weighted metric, the clipping; and the fit arguments given here.
    /// </summary>
    public TrainingOptions ToTrainingOptions(int epochs = 1, int batchSize = 32, bool shuffle = true, int seed = 0, SequenceDataset? validation = null,
        double validationSplit = 0, IList<ITrainingCallback>? callbacks = null, IReadOnlyDictionary<int, double>? classWeight = null)
    {
        bool lossObject = HuberDelta is not null;
        return new TrainingOptions
        {
            Epochs = epochs, BatchSize = batchSize, Shuffle = shuffle, Seed = seed, Validation = validation, ValidationSplit = validationSplit,
            Callbacks = callbacks ?? new List<ITrainingCallback>(), ClassWeight = classWeight,
            Loss = lossObject ? null : Loss,
            FromLogits = lossObject ? null : FromLogits,
            LabelSmoothing = lossObject ? 0 : LabelSmoothing,
            LossFunction = lossObject ? new Huber<float>(HuberDelta!.Value) : null,
            Metric = Metrics.Count > 0 ? Metrics[0] : null,
            WeightedMetric = WeightedMetrics.Count > 0 ? WeightedMetrics[0] : null,
            LearningRate = LearningRate,
            OptimizerFactory = CreateOptimizer,
            Clip = Clip,
            ClipValue = ClipValue,
        };
    }

    /// <summary>The optimizer over <paramref name="parameters"/> at <paramref name="learningRate"/>, with Keras' formula and this config's hyperparameters.</summary>
    public Optimizer<float> CreateOptimizer(IReadOnlyList<Parameter<float>> parameters, double learningRate)
    {
        double H(string key) => Hyperparameters[key];
        bool Flag(string key) => Hyperparameters.TryGetValue(key, out double value) && value != 0;
        return Optimizer switch
        {
            "Adam" => new Adam<float>(parameters, learningRate, H("beta_1"), H("beta_2"), H("epsilon"), H("weight_decay"), Flag("amsgrad"), AdamFormula.Keras),
            "AdamW" => new AdamW<float>(parameters, learningRate, H("beta_1"), H("beta_2"), H("epsilon"), H("weight_decay"), Flag("amsgrad"), AdamFormula.Keras),
            // Keras' SGD keeps no momentum buffer at momentum 0 and then ignores nesterov (sgd.py: `if m is not None:` holds the
            // Nesterov branch, else plain SGD); NumLstm's Sgd refuses nesterov without momentum, so it is passed only with one.
            "SGD" => new Sgd<float>(parameters, learningRate, H("momentum"), 0, Flag("nesterov") && H("momentum") != 0, H("weight_decay"), SgdFormula.Keras),
            "RMSprop" => new RmsProp<float>(parameters, learningRate, H("rho"), H("epsilon"), H("momentum"), Flag("centered"), H("weight_decay"), RmsPropFormula.Keras),
            "Adagrad" => new Adagrad<float>(parameters, learningRate, H("initial_accumulator_value"), H("epsilon"), 0, H("weight_decay"), AdagradFormula.Keras),
            "Adamax" => new Adamax<float>(parameters, learningRate, H("beta_1"), H("beta_2"), H("epsilon"), H("weight_decay"), AdamFormula.Keras),
            "Nadam" => new NAdam<float>(parameters, learningRate, H("beta_1"), H("beta_2"), H("epsilon"), H("weight_decay"), formula: AdamFormula.Keras),
            _ => throw new InvalidOperationException($"Unknown optimizer '{Optimizer}' (expected one of {string.Join(", ", Optimizers.Keys)})."),
        };
    }

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => $"a list of {value.GetArrayLength()}",
        JsonValueKind.String => TryText(value) is { } text ? $"'{Echo.Name(text)}'" : "a string that is not valid UTF-16 (a lone surrogate escape)",
        JsonValueKind.Number => value.GetRawText().Length <= 32 ? value.GetRawText() : "a number",
        _ => value.GetRawText(),
    };

    // A JSON string's value, or null when it holds a lone surrogate escape (GetString throws InvalidOperationException).
    private static string? TryText(JsonElement value)
    {
        try { return value.GetString(); }
        catch (InvalidOperationException) { return null; }
    }

    private sealed class Reader(string? source)
    {
        private string Text(JsonElement value, string path)
            => TryText(value) ?? throw Fail(path, "a string that is not valid UTF-16 (a lone surrogate escape) not supported.");

        public string Where { get; } = source is null ? "Keras compile config" : $"Keras compile config '{Echo.Name(source)}'";

        public FormatException Fail(string path, string message) => new(path.Length == 0 ? $"{Where}: {message}" : $"{Where}: {path}: {message}");

        public KerasCompileConfig Read(JsonElement compile, string path)
        {
            if (compile.ValueKind != JsonValueKind.Object) throw Fail(path, $"expected an object, got {Kind(compile)}.");
            OnlyKnown(compile, path, ["optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"]);
            if (compile.TryGetProperty("loss_weights", out JsonElement weights) && weights.ValueKind != JsonValueKind.Null)
                throw Fail($"{path}.loss_weights", $"{Kind(weights)} not supported (one output, one loss: NumLstm weighs it 1).");
            if (compile.TryGetProperty("steps_per_execution", out JsonElement steps) && steps.ValueKind != JsonValueKind.Null
                && !(steps.ValueKind == JsonValueKind.Number && steps.TryGetInt32(out int count) && count >= 1))
                throw Fail($"{path}.steps_per_execution", $"must be a positive integer, got {Kind(steps)}.");
            KerasCompileConfig optimizer = ReadOptimizer(compile.TryGetProperty("optimizer", out JsonElement o) ? o : default, $"{path}.optimizer");
            KerasCompileConfig loss = ReadLoss(compile.TryGetProperty("loss", out JsonElement l) ? l : default, $"{path}.loss");
            return optimizer with
            {
                Loss = loss.Loss, FromLogits = loss.FromLogits, LabelSmoothing = loss.LabelSmoothing, HuberDelta = loss.HuberDelta,
                Metrics = ReadMetrics(compile, "metrics", path), WeightedMetrics = ReadMetrics(compile, "weighted_metrics", path),
            };
        }

        private void OnlyKnown(JsonElement obj, string path, string[] keys)
        {
            foreach (JsonProperty property in obj.EnumerateObject())
            {
                if (keys.Any(property.NameEquals)) continue;
                string name;
                try { name = property.Name; }
                catch (InvalidOperationException) { throw Fail(path, "a field name that is not valid UTF-16 (a lone surrogate escape) not supported."); }
                throw Fail($"{path}.{Echo.Name(name)}", $"'{Echo.Name(name)}' is not a field NumLstm knows here, so it cannot say it trains as Keras would; remove it if it changes nothing.");
            }
        }

        // A built-in Keras object: {"module": "keras.<kind>", "class_name", "config", "registered_name": null} (Keras 3) or
        // {"class_name", "config"}; its class and config (an empty one when missing or null).
        private (string ClassName, JsonElement? Config) BuiltIn(JsonElement value, string path, string module)
        {
            // shared_object_id: Keras 3 marks an object serialized twice (one loss object also a metric) with its id; each
            // config stays complete, so the id changes nothing here.
            OnlyKnown(value, path, ["module", "class_name", "config", "registered_name", "shared_object_id"]);
            if (value.TryGetProperty("shared_object_id", out JsonElement shared) && !(shared.ValueKind == JsonValueKind.Number && shared.TryGetInt64(out _)))
                throw Fail($"{path}.shared_object_id", $"must be an integer (Keras writes the shared object's id), got {Kind(shared)}.");
            if (!value.TryGetProperty("class_name", out JsonElement classElement) || classElement.ValueKind != JsonValueKind.String)
                throw Fail($"{path}.class_name", "expected the class name, a string.");
            string className = Text(classElement, $"{path}.class_name");
            if (value.TryGetProperty("module", out JsonElement moduleElement) && moduleElement.ValueKind != JsonValueKind.Null
                && !(moduleElement.ValueKind == JsonValueKind.String && (moduleElement.ValueEquals(module) || moduleElement.ValueEquals("keras"))))
                throw Fail($"{path}.module", $"{Kind(moduleElement)} is not {module}: '{Echo.Name(className)}' is a custom class, which NumLstm does not read.");
            if (value.TryGetProperty("registered_name", out JsonElement registered) && registered.ValueKind != JsonValueKind.Null
                && !(registered.ValueKind == JsonValueKind.String && registered.ValueEquals(className)))
                throw Fail($"{path}.registered_name", $"{Kind(registered)} is a custom class registered by a user, which NumLstm does not read.");
            JsonElement? config = value.TryGetProperty("config", out JsonElement c) && c.ValueKind != JsonValueKind.Null ? c : null;
            if (config is { ValueKind: not JsonValueKind.Object } bad) throw Fail($"{path}.config", $"expected an object, got {Kind(bad)}.");
            return (className, config);
        }

        private double Number(JsonElement value, string path)
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double number) || !double.IsFinite(number))
                throw Fail(path, $"must be a finite number, got {Kind(value)}.");
            return number;
        }

        private bool Bool(JsonElement value, string path) => value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail(path, $"must be true or false, got {Kind(value)}."),
        };

        private KerasCompileConfig ReadOptimizer(JsonElement value, string path)
        {
            if (value.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
                throw Fail(path, "missing: Keras' compile takes \"rmsprop\" by default, but a saved compile config names its optimizer; expected one.");
            string className;
            JsonElement? config = null;
            if (value.ValueKind == JsonValueKind.String)
            {
                string text = Text(value, path);
                className = OptimizerNames.TryGetValue(text, out string? known) ? known
                    : throw Fail(path, $"'{Echo.Name(text)}' not supported (NumLstm has Keras' {string.Join(", ", Optimizers.Keys)}).");
            }
            else if (value.ValueKind == JsonValueKind.Object)
            {
                (string given, config) = BuiltIn(value, path, "keras.optimizers");
                className = OptimizerNames.TryGetValue(given, out string? known) ? known
                    : throw Fail($"{path}.class_name", $"'{Echo.Name(given)}' not supported (NumLstm has Keras' {string.Join(", ", Optimizers.Keys)}).");
            }
            else throw Fail(path, $"expected an optimizer (a name or Keras' serialized object), got {Kind(value)}.");

            (double learningRate, Dictionary<string, double> defaults, string[] flags) = Optimizers[className];
            var hyperparameters = new Dictionary<string, double>(defaults, StringComparer.Ordinal);
            ClipMode clip = ClipMode.None;
            bool clipSet = false;
            double clipValue = 1.0;
            if (config is JsonElement c)
            {
                string at = $"{path}.config";
                string[] common = ["name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema", "ema_momentum",
                    "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps"];
                OnlyKnown(c, at, [.. common, .. defaults.Keys, .. flags]);
                foreach (JsonProperty property in c.EnumerateObject())
                {
                    string key = property.Name, keyPath = $"{at}.{key}";
                    JsonElement v = property.Value;
                    switch (key)
                    {
                        case "name":
                            if (v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)) throw Fail(keyPath, $"must be a string, got {Kind(v)}.");
                            break;
                        case "learning_rate":
                            if (v.ValueKind == JsonValueKind.Object)
                                throw Fail(keyPath, "a learning-rate schedule not supported (Keras changes the rate at every step; NumLstm's LearningRateSchedule callback at every epoch): compile with a float rate.");
                            learningRate = Number(v, keyPath);
                            if (!(learningRate >= 0)) throw Fail(keyPath, $"must be ≥ 0, got {Kind(v)}.");
                            break;
                        case "use_ema":
                            if (Bool(v, keyPath)) throw Fail(keyPath, "true not supported (NumLstm keeps no exponential moving average of the weights).");
                            break;
                        case "ema_momentum" or "ema_overwrite_frequency":
                            break;   // read by Keras only with use_ema
                        case "loss_scale_factor" or "gradient_accumulation_steps":
                            if (v.ValueKind != JsonValueKind.Null)
                                throw Fail(keyPath, $"{Kind(v)} not supported (NumLstm steps after every batch, unscaled).");
                            break;
                        case "clipnorm" or "global_clipnorm" or "clipvalue":
                            if (v.ValueKind == JsonValueKind.Null) break;
                            if (clipSet)
                                throw Fail(keyPath, "a second clipping not supported (Keras raises: only one of clipnorm, clipvalue and global_clipnorm can be set).");
                            clipSet = true;   // Keras counts every one that is not None, 0 too
                            double limit = Number(v, keyPath);
                            // base_optimizer._clip_gradients: `if self.clipnorm and self.clipnorm > 0:` (and so for the others):
                            // 0 or a negative limit clips nothing.
                            if (!(limit > 0)) break;
                            clipValue = limit;
                            clip = key switch { "clipnorm" => ClipMode.Norm, "global_clipnorm" => ClipMode.GlobalNormKeras, _ => ClipMode.Value };
                            break;
                        default:
                            if (Array.IndexOf(flags, key) >= 0) { hyperparameters[key] = Bool(v, keyPath) ? 1 : 0; break; }
                            if (key == "weight_decay" && v.ValueKind == JsonValueKind.Null)
                            {
                                if (className == "AdamW") throw Fail(keyPath, "null not supported (Keras' AdamW raises: weight_decay must be a float).");
                                hyperparameters[key] = 0;   // Keras: None, no decay
                                break;
                            }
                            double number = Number(v, keyPath);
                            if (number < 0) throw Fail(keyPath, $"must be ≥ 0, got {Kind(v)}.");
                            hyperparameters[key] = number;
                            break;
                    }
                }
            }
            string configPath = $"{path}.config";
            // Keras' SGD.__init__: `if not isinstance(momentum, float) or momentum < 0 or momentum > 1: raise ValueError`.
            if (className == "SGD" && hyperparameters["momentum"] > 1)
                throw Fail($"{configPath}.momentum", $"{Num(hyperparameters["momentum"])} not supported (Keras raises: `momentum` must be a float between [0, 1]).");
            // What NumLstm's optimizers cannot take (Keras checks none of these): refused here, naming the field, rather than
            // by the optimizer's constructor when Fit builds it.
            foreach (string key in (string[])["beta_1", "beta_2", "rho"])
                if (hyperparameters.TryGetValue(key, out double beta) && !(beta < 1))
                    throw Fail($"{configPath}.{key}", $"{Num(beta)} not supported (NumLstm's {className} takes {key} in [0, 1)).");
            if (hyperparameters.TryGetValue("epsilon", out double epsilon) && !(epsilon > 0))
                throw Fail($"{configPath}.epsilon", $"{Num(epsilon)} not supported (NumLstm's {className} takes epsilon > 0).");
            var read = new KerasCompileConfig
            {
                Optimizer = className, LearningRate = learningRate, Hyperparameters = hyperparameters, Clip = clip, ClipValue = clipValue, Loss = "",
            };
            // Whatever else the constructor refuses, refused now as a FormatException.
            try { read.CreateOptimizer([new Parameter<float>("probe", 1)], learningRate); }
            catch (ArgumentException e) { throw Fail(configPath, $"not supported by NumLstm's {className}: {e.Message}"); }
            return read;
        }

        private static string Num(double value) => value.ToString("R", CultureInfo.InvariantCulture);

        private KerasCompileConfig ReadLoss(JsonElement value, string path)
        {
            if (value.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
                throw Fail(path, "missing: a model compiled without a loss (add_loss only) is not one NumLstm can train.");
            if (value.ValueKind is JsonValueKind.Array)
                throw Fail(path, $"{Kind(value)} not supported (one loss per output; a NumLstm model has one output).");
            string className;
            JsonElement? config = null;
            if (value.ValueKind == JsonValueKind.String) className = Text(value, path);
            else if (value.ValueKind == JsonValueKind.Object)
            {
                if (!value.TryGetProperty("class_name", out _))
                    throw Fail(path, "a dict of losses by output name not supported (a NumLstm model has one output).");
                if (value.TryGetProperty("module", out JsonElement module) && module.ValueKind == JsonValueKind.String && module.ValueEquals("builtins"))
                {
                    // A loss function (keras.losses.mean_squared_error): serialization_lib writes {"module": "builtins",
                    // "class_name": "function", "config": "<its name>", "registered_name": "function"}.
                    OnlyKnown(value, path, ["module", "class_name", "config", "registered_name"]);
                    if (!(value.GetProperty("class_name").ValueKind == JsonValueKind.String && value.GetProperty("class_name").ValueEquals("function")
                          && value.TryGetProperty("config", out JsonElement function) && function.ValueKind == JsonValueKind.String))
                        throw Fail(path, "a builtins object other than a Keras loss function (class_name \"function\", config its name) not supported.");
                    className = Text(function, $"{path}.config");
                    if (!char.IsLower(className.FirstOrDefault()))
                        throw Fail($"{path}.config", $"'{Echo.Name(className)}' is not a loss function's name.");
                }
                else (className, config) = BuiltIn(value, path, "keras.losses");
            }
            else throw Fail(path, $"expected a loss (a name or Keras' serialized object), got {Kind(value)}.");
            if (!LossNames.TryGetValue(className, out string? name))
                throw Fail(value.ValueKind == JsonValueKind.Object ? $"{path}.class_name" : path, className is "crossentropy" or "ce" or "CE" or "Crossentropy"
                    ? $"'{Echo.Name(className)}' not supported (Keras picks the binary, sparse or categorical cross-entropy from the shapes; name the one meant)."
                    : $"'{Echo.Name(className)}' not supported (NumLstm's losses, as Keras names them, case-sensitive: {string.Join(", ", LossNames.Keys)}).");
            bool? fromLogits = IsCrossEntropy(name) ? false : null;   // Keras' from_logits=False
            double smoothing = 0;
            double? delta = name == "huber" ? 1.0 : null;
            if (config is JsonElement c)
            {
                string at = $"{path}.config";
                string[] keys = name switch
                {
                    "huber" => ["name", "reduction", "dtype", "delta"],
                    "binary_crossentropy" or "categorical_crossentropy" => ["name", "reduction", "dtype", "from_logits", "label_smoothing", "axis"],
                    "sparse_categorical_crossentropy" => ["name", "reduction", "dtype", "from_logits", "ignore_class"],
                    _ => ["name", "reduction", "dtype"],
                };
                OnlyKnown(c, at, keys);
                foreach (JsonProperty property in c.EnumerateObject())
                {
                    string keyPath = $"{at}.{property.Name}";
                    JsonElement v = property.Value;
                    switch (property.Name)
                    {
                        case "name":
                            if (v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)) throw Fail(keyPath, $"must be a string, got {Kind(v)}.");
                            break;
                        case "dtype":
                            if (v.ValueKind is not (JsonValueKind.Null or JsonValueKind.String or JsonValueKind.Object)) throw Fail(keyPath, $"must be a dtype, got {Kind(v)}.");
                            break;
                        case "reduction":
                            if (!(v.ValueKind == JsonValueKind.String && (v.ValueEquals("sum_over_batch_size") || v.ValueEquals("auto"))))
                                throw Fail(keyPath, $"{Kind(v)} not supported (NumLstm's losses are means over the batch: sum_over_batch_size).");
                            break;
                        case "from_logits":
                            fromLogits = Bool(v, keyPath);
                            break;
                        case "label_smoothing":
                            smoothing = Number(v, keyPath);
                            if (!(smoothing is >= 0 and <= 1)) throw Fail(keyPath, $"must be in [0, 1], got {Kind(v)}.");
                            break;
                        case "axis":
                            if (!(v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int axis) && axis == -1))
                                throw Fail(keyPath, $"{Kind(v)} not supported (NumLstm's cross-entropies run over the last axis: -1).");
                            break;
                        case "ignore_class":
                            if (v.ValueKind != JsonValueKind.Null) throw Fail(keyPath, $"{Kind(v)} not supported (NumLstm ignores no class; mask the sequences instead).");
                            break;
                        case "delta":
                            delta = Number(v, keyPath);
                            if (!(delta > 0)) throw Fail(keyPath, $"must be > 0, got {Kind(v)}.");
                            break;
                    }
                }
            }
            return new KerasCompileConfig
            {
                Optimizer = "", LearningRate = 0, Hyperparameters = new Dictionary<string, double>(), Loss = name, FromLogits = fromLogits,
                LabelSmoothing = smoothing, HuberDelta = delta,
            };
        }

        private IReadOnlyList<string> ReadMetrics(JsonElement compile, string key, string path)
        {
            if (!compile.TryGetProperty(key, out JsonElement value) || value.ValueKind == JsonValueKind.Null) return [];
            string at = $"{path}.{key}";
            var items = new List<(JsonElement Item, string Path)>();
            // CompileMetrics.__init__: `if metrics and not isinstance(metrics, (list, tuple, dict)): raise ValueError(...)`; an
            // empty string is falsy there (no metrics).
            if (value.ValueKind == JsonValueKind.String)
            {
                if (Text(value, at).Length == 0) return [];
                throw Fail(at, $"{Kind(value)} not supported (Keras raises: expected `{key}` to be a list, tuple, or dict; a single-output model's is a list).");
            }
            if (value.ValueKind == JsonValueKind.Array)
            {
                int k = 0;
                foreach (JsonElement item in value.EnumerateArray()) items.Add((item, $"{at}[{k++}]"));
            }
            else throw Fail(at, $"expected a list of metric names, got {Kind(value)} (metrics by output name: NumLstm models have one output).");
            var names = new List<string>(items.Count);
            foreach ((JsonElement item, string itemPath) in items)
            {
                if (item.ValueKind != JsonValueKind.String)
                    throw Fail(itemPath, $"{Kind(item)} not supported (NumLstm reads metrics by their Keras strings, e.g. \"accuracy\" or \"mae\"; a metric object logs under its own name).");
                string name = Text(item, itemPath);
                if (!Trainer.MetricNames.Contains(name) && !name.Equals("accuracy", StringComparison.OrdinalIgnoreCase) && !name.Equals("acc", StringComparison.OrdinalIgnoreCase))
                    throw Fail(itemPath, $"'{Echo.Name(name)}' not supported (NumLstm's metrics: {string.Join(", ", Trainer.MetricNames)}).");
                names.Add(name);
            }
            return names;
        }
    }

    public override string ToString()
        => $"{Optimizer}(learning_rate={LearningRate.ToString("R", CultureInfo.InvariantCulture)}), loss {Loss}" + (Metrics.Count > 0 ? $", metrics {string.Join(", ", Metrics)}" : "");
}
