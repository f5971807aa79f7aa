using System.Globalization;
using NumLstm.Data;
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
    /// <summary>The metrics as compiled: their strings, and Keras' AUC, Precision and Recall objects with their config
    /// (Precision, Recall and AUC read as Keras computes them: <see cref="MetricConfig.FromLogits"/> false unless AUC's
    /// from_logits); <see cref="ToTrainingOptions"/> logs the first (NumLstm logs one metric beside the loss,
    /// <see cref="TrainingOptions.Metric"/>).</summary>
    public IReadOnlyList<MetricConfig> Metrics { get; init; } = [];
    /// <summary>The weighted metrics as compiled; the first becomes <see cref="TrainingOptions.WeightedMetric"/>.</summary>
    public IReadOnlyList<MetricConfig> WeightedMetrics { get; init; } = [];

    /// <summary>Keras 3's optimizer classes with their constructors' defaults (keras/src/optimizers/*.py).</summary>
    internal static readonly Dictionary<string, (double LearningRate, Dictionary<string, double> Defaults, string[] Flags)> Optimizers = new(StringComparer.Ordinal)
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
    internal static readonly Dictionary<string, string> OptimizerNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["adam"] = "Adam", ["adamw"] = "AdamW", ["sgd"] = "SGD", ["rmsprop"] = "RMSprop", ["adagrad"] = "Adagrad", ["adamax"] = "Adamax", ["nadam"] = "Nadam",
    };

    /// <summary>Keras' loss keys (keras/src/losses/__init__.py: class names, function names and the short aliases) for the
    /// losses NumLstm has, with NumLstm's name.</summary>
    internal static readonly Dictionary<string, string> LossNames = new(StringComparer.Ordinal)
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

    internal static bool IsCrossEntropy(string loss) => loss is "binary_crossentropy" or "categorical_crossentropy" or "sparse_categorical_crossentropy";

    /// <summary>The <c>compile_config</c> of a Keras model config (the whole <c>config.json</c>); null when the model was
    /// not compiled (no compile_config, or null).</summary>
    public static KerasCompileConfig? FromModelConfig(string json, string? source = null) => Models.KerasConfig.ReadCompileConfig(json, source);

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

    public override string ToString()
        => $"{Optimizer}(learning_rate={LearningRate.ToString("R", CultureInfo.InvariantCulture)}), loss {Loss}" + (Metrics.Count > 0 ? $", metrics {string.Join(", ", Metrics)}" : "");
}
