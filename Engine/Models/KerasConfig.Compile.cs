using System.Globalization;
using System.Text.Json;
using NumLstm.IO;
using NumLstm.Training;

namespace NumLstm.Models;

// The compile_config of a Keras 3 model config (KerasCompileConfig), read by the same reader as the model config: its
// objects' fields once each (a repeated key refused), strings and keys that are not valid text refused, Keras' serialized
// objects checked by BuiltInObject, every message naming the JSON path.
public static partial class KerasConfig
{
    /// <summary>The <c>compile_config</c> of a Keras model config (the whole <c>config.json</c>); null when the model
    /// was not compiled (no compile_config, or null). See <see cref="KerasCompileConfig"/>.</summary>
    internal static KerasCompileConfig? ReadCompileConfig(string json, string? source)
    {
        ArgumentNullException.ThrowIfNull(json);
        var reader = new Reader(source, "Keras compile config");
        using JsonDocument document = reader.Parse(json);
        Obj model = reader.Object(document.RootElement, "");
        if (model.Get("compile_config") is not { ValueKind: not JsonValueKind.Null } compile) return null;
        return reader.ReadCompile(compile, model.At("compile_config"));
    }

    private sealed partial class Reader
    {
        public KerasCompileConfig ReadCompile(JsonElement element, string path)
        {
            Obj compile = Object(element, path);
            compile.OnlyKnown(["optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"]);
            if (compile.Get("loss_weights") is { ValueKind: not JsonValueKind.Null } weights)
                throw Fail(compile.At("loss_weights"), $"{Describe(weights)} not supported (one output, one loss: NumLstm weighs it 1).");
            if (compile.Get("steps_per_execution") is { ValueKind: not JsonValueKind.Null } steps
                && !(steps.ValueKind == JsonValueKind.Number && steps.TryGetInt32(out int count) && count >= 1))
                throw Fail(compile.At("steps_per_execution"), $"must be a positive integer, got {Describe(steps)}.");
            KerasCompileConfig optimizer = ReadOptimizer(compile.Get("optimizer"), compile.At("optimizer"));
            KerasCompileConfig loss = ReadLoss(compile.Get("loss"), compile.At("loss"));
            return optimizer with
            {
                Loss = loss.Loss, FromLogits = loss.FromLogits, LabelSmoothing = loss.LabelSmoothing, HuberDelta = loss.HuberDelta,
                Metrics = ReadMetrics(compile, "metrics"), WeightedMetrics = ReadMetrics(compile, "weighted_metrics"),
            };
        }

        private bool Bool(JsonElement value, string path) => value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail(path, $"must be true or false, got {Describe(value)}."),
        };

        private static string Num(double value) => value.ToString("R", CultureInfo.InvariantCulture);

        private KerasCompileConfig ReadOptimizer(JsonElement? element, string path)
        {
            if (element is not { ValueKind: not JsonValueKind.Null } value)
                throw Fail(path, "missing: Keras' compile takes \"rmsprop\" by default, but a saved compile config names its optimizer; expected one.");
            string className;
            Obj? config = null;
            if (value.ValueKind == JsonValueKind.String)
            {
                string text = String(value, path);
                className = KerasCompileConfig.OptimizerNames.TryGetValue(text, out string? known) ? known
                    : throw Fail(path, $"'{Echo.Name(text)}' not supported (NumLstm has Keras' {string.Join(", ", KerasCompileConfig.Optimizers.Keys)}).");
            }
            else if (value.ValueKind == JsonValueKind.Object)
            {
                (Obj wrapper, string given, Obj c) = BuiltInObject(value, path);
                className = KerasCompileConfig.OptimizerNames.TryGetValue(given, out string? known) ? known
                    : throw Fail(wrapper.At("class_name"), $"'{Echo.Name(given)}' not supported (NumLstm has Keras' {string.Join(", ", KerasCompileConfig.Optimizers.Keys)}).");
                config = c;
            }
            else throw Fail(path, $"expected an optimizer (a name or Keras' serialized object), got {Describe(value)}.");

            (double learningRate, Dictionary<string, double> defaults, string[] flags) = KerasCompileConfig.Optimizers[className];
            var hyperparameters = new Dictionary<string, double>(defaults, StringComparer.Ordinal);
            ClipMode clip = ClipMode.None;
            bool clipSet = false;
            double clipValue = 1.0;
            string configPath = $"{path}.config";
            if (config is not null)
            {
                configPath = config.Path;
                string[] common = ["name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema", "ema_momentum",
                    "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps"];
                config.OnlyKnown([.. common, .. defaults.Keys, .. flags]);
                foreach (string key in config.Keys)
                {
                    string keyPath = config.At(key);
                    JsonElement v = config.Get(key)!.Value;
                    switch (key)
                    {
                        case "name":
                            if (v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)) throw Fail(keyPath, $"must be a string, got {Describe(v)}.");
                            break;
                        case "learning_rate":
                            if (v.ValueKind == JsonValueKind.Object)
                                throw Fail(keyPath, "a learning-rate schedule not supported (Keras changes the rate at every step; NumLstm's LearningRateSchedule callback at every epoch): compile with a float rate.");
                            learningRate = Number(v, keyPath);
                            if (!(learningRate >= 0)) throw Fail(keyPath, $"must be ≥ 0, got {Describe(v)}.");
                            break;
                        case "use_ema":
                            if (Bool(v, keyPath)) throw Fail(keyPath, "true not supported (NumLstm keeps no exponential moving average of the weights).");
                            break;
                        case "ema_momentum" or "ema_overwrite_frequency":
                            break;   // read by Keras only with use_ema
                        case "loss_scale_factor" or "gradient_accumulation_steps":
                            if (v.ValueKind != JsonValueKind.Null)
                                throw Fail(keyPath, $"{Describe(v)} not supported (NumLstm steps after every batch, unscaled).");
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
                            if (number < 0) throw Fail(keyPath, $"must be ≥ 0, got {Describe(v)}.");
                            hyperparameters[key] = number;
                            break;
                    }
                }
            }
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

        private KerasCompileConfig ReadLoss(JsonElement? element, string path)
        {
            if (element is not { ValueKind: not JsonValueKind.Null } value)
                throw Fail(path, "missing: a model compiled without a loss (add_loss only) is not one NumLstm can train.");
            if (value.ValueKind is JsonValueKind.Array)
                throw Fail(path, $"{Describe(value)} not supported (one loss per output; a NumLstm model has one output).");
            string className;
            Obj? config = null;
            if (value.ValueKind == JsonValueKind.String) className = String(value, path);
            else if (value.ValueKind == JsonValueKind.Object)
            {
                Obj loss = Object(value, path);
                if (loss.Get("class_name") is null)
                    throw Fail(path, "a dict of losses by output name not supported (a NumLstm model has one output).");
                if (loss.Get("module") is { ValueKind: JsonValueKind.String } module && module.ValueEquals("builtins"))
                {
                    // A loss function (keras.losses.mean_squared_error): serialization_lib writes {"module": "builtins",
                    // "class_name": "function", "config": "<its name>", "registered_name": "function"}.
                    loss.OnlyKnown(["module", "class_name", "config", "registered_name"]);
                    if (!(loss.Get("class_name") is { ValueKind: JsonValueKind.String } function && function.ValueEquals("function")
                          && loss.Get("config") is { ValueKind: JsonValueKind.String }))
                        throw Fail(path, "a builtins object other than a Keras loss function (class_name \"function\", config its name) not supported.");
                    className = RequiredString(loss, "config");
                    if (!char.IsLower(className.FirstOrDefault()))
                        throw Fail(loss.At("config"), $"'{Echo.Name(className)}' is not a loss function's name.");
                }
                else (_, className, config) = BuiltInObject(value, path);
            }
            else throw Fail(path, $"expected a loss (a name or Keras' serialized object), got {Describe(value)}.");
            if (!KerasCompileConfig.LossNames.TryGetValue(className, out string? name))
                throw Fail(value.ValueKind == JsonValueKind.Object ? $"{path}.class_name" : path, className is "crossentropy" or "ce" or "CE" or "Crossentropy"
                    ? $"'{Echo.Name(className)}' not supported (Keras picks the binary, sparse or categorical cross-entropy from the shapes; name the one meant)."
                    : $"'{Echo.Name(className)}' not supported (NumLstm's losses, as Keras names them, case-sensitive: {string.Join(", ", KerasCompileConfig.LossNames.Keys)}).");
            bool? fromLogits = KerasCompileConfig.IsCrossEntropy(name) ? false : null;   // Keras' from_logits=False
            double smoothing = 0;
            double? delta = name == "huber" ? 1.0 : null;
            if (config is not null)
            {
                config.OnlyKnown(name switch
                {
                    "huber" => ["name", "reduction", "dtype", "delta"],
                    "binary_crossentropy" or "categorical_crossentropy" => ["name", "reduction", "dtype", "from_logits", "label_smoothing", "axis"],
                    "sparse_categorical_crossentropy" => ["name", "reduction", "dtype", "from_logits", "ignore_class"],
                    _ => ["name", "reduction", "dtype"],
                });
                foreach (string key in config.Keys)
                {
                    string keyPath = config.At(key);
                    JsonElement v = config.Get(key)!.Value;
                    switch (key)
                    {
                        case "name":
                            if (v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)) throw Fail(keyPath, $"must be a string, got {Describe(v)}.");
                            break;
                        case "dtype":
                            if (v.ValueKind is not (JsonValueKind.Null or JsonValueKind.String or JsonValueKind.Object)) throw Fail(keyPath, $"must be a dtype, got {Describe(v)}.");
                            break;
                        case "reduction":
                            if (!(v.ValueKind == JsonValueKind.String && (v.ValueEquals("sum_over_batch_size") || v.ValueEquals("auto"))))
                                throw Fail(keyPath, $"{Describe(v)} not supported (NumLstm's losses are means over the batch: sum_over_batch_size).");
                            break;
                        case "from_logits":
                            fromLogits = Bool(v, keyPath);
                            break;
                        case "label_smoothing":
                            smoothing = Number(v, keyPath);
                            if (!(smoothing is >= 0 and <= 1)) throw Fail(keyPath, $"must be in [0, 1], got {Describe(v)}.");
                            break;
                        case "axis":
                            if (!(v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int axis) && axis == -1))
                                throw Fail(keyPath, $"{Describe(v)} not supported (NumLstm's cross-entropies run over the last axis: -1).");
                            break;
                        case "ignore_class":
                            if (v.ValueKind != JsonValueKind.Null) throw Fail(keyPath, $"{Describe(v)} not supported (NumLstm ignores no class; mask the sequences instead).");
                            break;
                        case "delta":
                            delta = Number(v, keyPath);
                            if (!(delta > 0)) throw Fail(keyPath, $"must be > 0, got {Describe(v)}.");
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

        private IReadOnlyList<MetricConfig> ReadMetrics(Obj compile, string key)
        {
            if (compile.Get(key) is not { ValueKind: not JsonValueKind.Null } value) return [];
            string at = compile.At(key);
            // CompileMetrics.__init__: `if metrics and not isinstance(metrics, (list, tuple, dict)): raise ValueError(...)`; an
            // empty string is falsy there (no metrics).
            if (value.ValueKind == JsonValueKind.String)
            {
                if (String(value, at).Length == 0) return [];
                throw Fail(at, $"{Describe(value)} not supported (Keras raises: expected `{key}` to be a list, tuple, or dict; a single-output model's is a list).");
            }
            if (value.ValueKind != JsonValueKind.Array)
                throw Fail(at, $"expected a list of metric names, got {Describe(value)} (metrics by output name: NumLstm models have one output).");
            var metrics = new List<MetricConfig>(value.GetArrayLength());
            int k = 0;
            foreach (JsonElement item in value.EnumerateArray())
            {
                string itemPath = $"{at}[{k++}]";
                if (item.ValueKind == JsonValueKind.Object)
                {
                    metrics.Add(ReadMetricObject(item, itemPath));
                    continue;
                }
                if (item.ValueKind != JsonValueKind.String)
                    throw Fail(itemPath, $"{Describe(item)} not supported (NumLstm reads metrics by their Keras strings, e.g. \"accuracy\" or \"mae\", and Keras' AUC, Precision and Recall objects).");
                string name = String(item, itemPath);
                if (!Trainer.MetricNames.Contains(name) && !name.Equals("accuracy", StringComparison.OrdinalIgnoreCase) && !name.Equals("acc", StringComparison.OrdinalIgnoreCase))
                    throw Fail(itemPath, $"'{Echo.Name(name)}' not supported (NumLstm's metrics: {string.Join(", ", Trainer.MetricNames)}).");
                // As Keras computes them: its Precision, Recall and AUC(from_logits=False) threshold the outputs as they are.
                bool confusion = name is "precision" or "Precision" or "recall" or "Recall" or "auc" or "AUC";
                metrics.Add(new MetricConfig(name) { FromLogits = confusion ? false : null });
            }
            return metrics;
        }

        /// <summary>
        /// A serialized Keras metric object of class AUC, Precision or Recall ({"module": "keras.metrics", "class_name",
        /// "config", "registered_name"}), its config read as Keras' get_config writes it (a missing key takes the
        /// constructor's default): logged under its config's name (the class's snake_case when missing), computed as Keras
        /// computes it (the outputs as they are unless AUC's from_logits). What NumLstm does not build (top_k, class_id,
        /// multi_label, num_labels, label_weights, several Precision/Recall thresholds) is refused, naming the path.
        /// </summary>
        private MetricConfig ReadMetricObject(JsonElement item, string path)
        {
            (Obj wrapper, string className, Obj config) = BuiltInObject(item, path);
            string[] common = ["name", "dtype"];
            switch (className)
            {
                case "Precision" or "Recall":
                    config.OnlyKnown([.. common, "thresholds", "top_k", "class_id"]);
                    break;
                case "AUC":
                    config.OnlyKnown([.. common, "num_thresholds", "curve", "summation_method", "thresholds", "multi_label", "num_labels", "label_weights", "from_logits"]);
                    break;
                default:
                    throw Fail(wrapper.At("class_name"), $"an object of class_name '{Echo.Name(className)}' not supported (NumLstm reads Keras' AUC, Precision and Recall objects; "
                        + "other metrics by their strings, e.g. \"mae\").");
            }
            string? name = null;
            IReadOnlyList<double>? thresholds = null;
            int? numThresholds = null;
            string? curve = null, summation = null;
            bool fromLogits = false;
            foreach (string key in config.Keys)
            {
                string keyPath = config.At(key);
                JsonElement v = config.Get(key)!.Value;
                switch (key)
                {
                    case "name":
                        if (v.ValueKind == JsonValueKind.Null) break;
                        name = String(v, keyPath);
                        if (name.Length == 0 || name == "loss" || name.StartsWith("val_", StringComparison.Ordinal))
                            throw Fail(keyPath, $"{Describe(v)} not supported (a name logged beside loss and the val_ names: non-empty, not loss or val_…).");
                        break;
                    case "dtype":
                        if (v.ValueKind is not (JsonValueKind.Null or JsonValueKind.String or JsonValueKind.Object)) throw Fail(keyPath, $"must be a dtype, got {Describe(v)}.");
                        break;
                    case "top_k" or "class_id" or "num_labels" or "label_weights":
                        if (v.ValueKind != JsonValueKind.Null)
                            throw Fail(keyPath, $"{Describe(v)} not supported (NumLstm's {className} counts every output: no top_k, class_id, num_labels or label_weights).");
                        break;
                    case "multi_label":
                        if (Bool(v, keyPath)) throw Fail(keyPath, "true not supported (NumLstm's AUC flattens the outputs into one label, Keras' multi_label=False).");
                        break;
                    case "from_logits":
                        fromLogits = Bool(v, keyPath);
                        break;
                    case "num_thresholds":
                        if (v.ValueKind == JsonValueKind.Null) break;
                        if (!(v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n)))
                            throw Fail(keyPath, $"must be an integer, got {Describe(v)}.");
                        numThresholds = n;
                        break;
                    case "curve":
                        curve = String(v, keyPath);
                        if (curve is not ("ROC" or "roc" or "PR" or "pr"))
                            throw Fail(keyPath, $"{Describe(v)} not supported (Keras raises: invalid AUC curve value; expected ROC or PR).");
                        break;
                    case "summation_method":
                        summation = String(v, keyPath);
                        if (summation is not ("interpolation" or "Interpolation" or "minoring" or "Minoring" or "majoring" or "Majoring"))
                            throw Fail(keyPath, $"{Describe(v)} not supported (Keras raises: invalid AUC summation method value; expected interpolation, majoring or minoring).");
                        break;
                    case "thresholds":
                        thresholds = ReadThresholds(v, keyPath, className);
                        break;
                }
            }
            if (className == "AUC")
            {
                // Keras' AUC ignores num_thresholds when thresholds are given (get_config writes len + 2 beside them).
                if (thresholds is not null) numThresholds = null;
                else if (numThresholds is <= 1)
                    throw Fail(config.At("num_thresholds"), $"{numThresholds} not supported (Keras raises: `num_thresholds` must be an integer > 1).");
                return MetricConfig.Auc(numThresholds ?? 200, curve ?? "ROC", summation ?? "interpolation", name, thresholds, fromLogits) with { NumThresholds = numThresholds ?? (thresholds is null ? 200 : null) };
            }
            double? threshold = thresholds is null ? null : thresholds[0];
            return className == "Precision"
                ? MetricConfig.Precision(threshold, name, fromLogits: false)
                : MetricConfig.Recall(threshold, name, fromLogits: false);
        }

        // Keras' thresholds: Precision and Recall take a float or a list (each in [0, 1], parse_init_thresholds; NumLstm
        // one value), AUC a list (any finite values, sorted by it).
        private IReadOnlyList<double>? ReadThresholds(JsonElement v, string path, string className)
        {
            if (v.ValueKind == JsonValueKind.Null) return null;
            bool auc = className == "AUC";
            double[] values;
            if (v.ValueKind == JsonValueKind.Number && !auc) values = [Number(v, path)];
            else if (v.ValueKind == JsonValueKind.Array)
            {
                values = new double[v.GetArrayLength()];
                int k = 0;
                foreach (JsonElement t in v.EnumerateArray()) { values[k] = Number(t, $"{path}[{k}]"); k++; }
            }
            else throw Fail(path, $"must be {(auc ? "a list of numbers" : "a number or a list of numbers")}, got {Describe(v)}.");
            if (auc) return values;
            if (values.Length != 1)
                throw Fail(path, $"{Describe(v)} not supported (one threshold: Keras' list of several gives a value per threshold; NumLstm logs one).");
            if (!(values[0] is >= 0 and <= 1))
                throw Fail(path, $"{Describe(v)} not supported (Keras raises: threshold values must be in [0, 1]).");
            return values;
        }
    }
}
