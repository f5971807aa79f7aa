using System.Diagnostics;
using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;

namespace NumLstm.Training;

/// <summary>How gradients are clipped before each optimizer step.</summary>
public enum ClipMode
{
    None,
    /// <summary>Each element clamped to [−c, c].</summary>
    Value,
    /// <summary>Each parameter's gradient scaled to norm ≤ c (Keras' clipnorm).</summary>
    Norm,
    /// <summary>All gradients scaled together to global norm ≤ c (torch.nn.utils.clip_grad_norm_: c/(n + 1e-6)).</summary>
    GlobalNorm,
    /// <summary>All gradients scaled together to global norm ≤ c as Keras' global_clipnorm (c·min(1/n, 1/c), no 1e-6).</summary>
    GlobalNormKeras,
}

/// <summary>Options of <see cref="Trainer.Fit"/>, Keras' fit arguments in C#.</summary>
public sealed class TrainingOptions
{
    /// <summary>Epochs to train in this Fit call; default 1, as Keras' fit.</summary>
    public int Epochs { get; init; } = 1;
    public int BatchSize { get; init; } = 32;
    public bool Shuffle { get; init; } = true;
    /// <summary>Seeds shuffling and dropout. Same seed, data and thread count: bitwise-identical weights.</summary>
    public int Seed { get; init; }
    /// <summary>Held-out data evaluated after each epoch; or use <see cref="ValidationSplit"/>.</summary>
    public SequenceDataset? Validation { get; init; }
    /// <summary>Fraction of the training data held out when no validation set is given, as Keras takes it: the last
    /// N − ⌊N·(1 − split)⌋ sequences, before any shuffling.</summary>
    public double ValidationSplit { get; init; }
    /// <summary>Keras loss name (see <see cref="Losses.Loss.Names"/>); default sparse_categorical_crossentropy for
    /// classification, mse for regression. categorical_crossentropy takes one-hot (or soft) target rows, i.e. a
    /// regression-kind dataset whose target width is the class count.</summary>
    public string? Loss { get; init; }
    /// <summary>
    /// A loss object instead of a name, as Keras' <c>compile(loss=keras.losses.Huber(delta=0.5))</c>: one built with its
    /// own options (<c>new Huber&lt;float&gt;(0.5)</c>, <c>new BinaryCrossEntropy&lt;float&gt;(fromLogits: false, labelSmoothing: 0.1)</c>).
    /// Not with <see cref="Loss"/>, <see cref="FromLogits"/> or <see cref="LabelSmoothing"/>, which the object carries
    /// itself. Its target kind must fit the dataset's, and a cross-entropy on logits after a Softmax or Sigmoid output is
    /// refused as with <see cref="FromLogits"/>. Used for the validation loss too. Unlike a name (whose
    /// <see cref="FromLogits"/> defaults from the output layer), an object says itself: the cross-entropies' constructors
    /// default to <c>fromLogits: true</c> (PyTorch's reading; Keras' loss classes default to from_logits=False), so on a
    /// Softmax or Sigmoid output build them with <c>fromLogits: false</c> (the default is refused there).
    /// </summary>
    public ILoss<float>? LossFunction { get; init; }
    /// <summary>
    /// Whether the cross-entropy losses read the model's outputs as logits (Keras' <c>from_logits</c>). Null (default):
    /// logits, unless the model ends in a Dense with Softmax or Sigmoid activation, whose outputs are probabilities
    /// (what Keras' loss names expect by default, from_logits=False). True with such a last layer is an error, as the
    /// activation would be applied twice. The regression losses (mse, mae, huber, log_cosh, msle, mape) ignore it.
    /// </summary>
    public bool? FromLogits { get; init; }
    /// <summary>
    /// Label smoothing of the cross-entropy losses (Keras' <c>label_smoothing</c>, PyTorch's for the sparse loss), in
    /// [0, 1]; default 0. The reported <c>loss</c> and <c>val_loss</c> are the smoothed loss, as Keras reports them;
    /// accuracy is not affected. The regression losses have no such option: a nonzero value with them is an error.
    /// </summary>
    public double LabelSmoothing { get; init; }
    /// <summary>Learning rate of the default optimizer (Adam) and the starting rate for schedules.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Builds the optimizer over the model's parameters; default Adam(LearningRate).</summary>
    public Func<IReadOnlyList<Parameter<float>>, double, Optimizer<float>>? OptimizerFactory { get; init; }
    public ClipMode Clip { get; init; } = ClipMode.None;
    public double ClipValue { get; init; } = 1.0;
    public IList<ITrainingCallback> Callbacks { get; init; } = new List<ITrainingCallback>();
    public IProgress<TrainingProgress>? Progress { get; init; }
    /// <summary>Apply the datasets' sequence lengths as a mask (Keras masking). Default: decided per dataset, the training
    /// part and the validation part each masked when its own sequences are of variable length (as
    /// <see cref="Trainer.Evaluate"/> decides), so a ragged held-out part is masked even if every training sequence is full length.</summary>
    public bool? UseMask { get; init; }
    /// <summary>NaN or infinite values in the training or validation inputs or targets: Reject (default) throws an
    /// ArgumentException naming the first one before training starts; Allow lets them through (the loss will not be finite).</summary>
    public NonFiniteInputs NonFiniteInputs { get; init; } = NonFiniteInputs.Reject;
    /// <summary>
    /// The metric logged beside the loss, a string Keras' <c>compile(metrics=[...])</c> accepts for it (see
    /// <see cref="Trainer.MetricNames"/>: the snake_case and class names, mse/MSE, mae/MAE), logged under the name as
    /// given, as Keras logs it. Null (default): <c>accuracy</c> for class labels and the cross-entropy losses, <c>mae</c>
    /// for the regression losses on real-valued targets. <c>accuracy</c> and <c>acc</c> (in any case) are resolved as Keras resolves them, by shape: one
    /// output per sequence → binary accuracy; class labels → sparse categorical accuracy; else (target rows as wide as
    /// the output) categorical accuracy. Also Keras' Precision, Recall and AUC, as strings (<c>"AUC"</c>, <c>"auc"</c>, …:
    /// their defaults) or configured (<see cref="MetricConfig.Auc"/>, <see cref="MetricConfig.Precision"/>,
    /// <see cref="MetricConfig.Recall"/>), kept as confusion counts over the whole epoch or set.
    /// </summary>
    public MetricConfig? Metric { get; init; }
    /// <summary>
    /// Keras' <c>compile(weighted_metrics=[name])</c>: a second metric (any <see cref="Metric"/> string) weighted by the
    /// samples' weights, Σᵢ wᵢ·mᵢ / Σᵢ wᵢ over the epoch (0 when the weights sum to 0, Keras' divide_no_nan; RMSE the root
    /// of that mean). In training the weights are <see cref="ClassWeight"/>'s or the training set's
    /// <see cref="SequenceDataset.SampleWeights"/>; in validation the validation set's own (each 1 if it has none).
    /// Logged under its name, or <c>weighted_</c> + its name when <see cref="Metric"/> logs the same name (as Keras). Null
    /// (default): none. Precision, Recall and AUC weigh each sample's outputs in their confusion counts, as Keras'
    /// sample_weight does.
    /// </summary>
    public MetricConfig? WeightedMetric { get; init; }
    /// <summary>
    /// Keras' <c>class_weight</c>: a weight per class id (a class not named weighs 1.0), multiplying each training
    /// sample's loss, so a batch's loss is Σᵢ wᵢ·lᵢ / B and its gradient Σᵢ wᵢ·∂lᵢ / B (see <see cref="ClassWeights"/> for
    /// how a sample's class is found: its label, or from target rows as Keras does). As in Keras it weights the training
    /// loss and the training <see cref="WeightedMetric"/> only: the logged metric (Keras' <c>metrics=</c>, not <c>weighted_metrics=</c>) and the validation loss and
    /// metric are not weighted by class (a validation set's own <see cref="SequenceDataset.SampleWeights"/> still weigh its
    /// loss, as Keras' <c>validation_data=(x, y, sample_weight)</c>). Weights must be finite and ≥ 0. Null (default): every sample weighs 1. Not with a training
    /// set that carries <see cref="SequenceDataset.SampleWeights"/> (Keras 3 refuses class_weight with sample_weight).
    /// </summary>
    public IReadOnlyDictionary<int, double>? ClassWeight { get; init; }

    internal void Validate()
    {
        if (Epochs < 0) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be ≥ 0.");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "Batch size must be positive.");
        if (!(ValidationSplit >= 0 && ValidationSplit < 1)) throw new ArgumentOutOfRangeException(nameof(ValidationSplit), ValidationSplit, "Validation split must be in [0, 1).");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "Learning rate must be positive and finite.");
        if (Clip != ClipMode.None && (!(ClipValue > 0) || !double.IsFinite(ClipValue)))
            throw new ArgumentOutOfRangeException(nameof(ClipValue), ClipValue, "Clip value must be positive and finite.");
        if (!(LabelSmoothing is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(LabelSmoothing), LabelSmoothing, $"{nameof(TrainingOptions)}.{nameof(LabelSmoothing)} must be in [0, 1] (0: none).");
        if (!Enum.IsDefined(Clip)) throw new ArgumentOutOfRangeException(nameof(Clip), Clip, "Unknown clip mode.");
        if (!Enum.IsDefined(NonFiniteInputs)) throw new ArgumentOutOfRangeException(nameof(NonFiniteInputs), NonFiniteInputs, "Unknown NonFiniteInputs value.");
        if (ClassWeight is not null) ClassWeights.Validate(ClassWeight, nameof(ClassWeight));
        if (LossFunction is not null && (Loss is not null || FromLogits is not null || LabelSmoothing != 0))
            throw new ArgumentException($"{nameof(TrainingOptions)}.{nameof(LossFunction)} ('{LossFunction.Name}') carries its own options: leave "
                + $"{nameof(Loss)} (got {(Loss is null ? "null" : $"'{Loss}'")}), {nameof(FromLogits)} (got {(FromLogits?.ToString() ?? "null")}) and "
                + $"{nameof(LabelSmoothing)} (got {LabelSmoothing}) unset.", nameof(LossFunction));
        if (Callbacks is null) throw new ArgumentNullException(nameof(Callbacks), "Callbacks: expected a list (empty for none), got null.");
        for (int k = 0; k < Callbacks.Count; k++)
            if (Callbacks[k] is null) throw new ArgumentNullException(nameof(Callbacks), $"Callbacks[{k}] is null: expected a callback.");
    }
}

/// <summary>Reported through <see cref="TrainingOptions.Progress"/> after each batch and each epoch.</summary>
public readonly record struct TrainingProgress(int Epoch, int Epochs, int Batch, int Batches, double Loss, EpochRecord? Completed);

/// <summary>What one epoch did.</summary>
public sealed record EpochRecord
{
    public required int Epoch { get; init; }
    public required double TrainLoss { get; init; }
    /// <summary>The run's metric (<see cref="TrainingOptions.Metric"/>): by default accuracy, resolved as Keras resolves it, or MAE for the regression losses.</summary>
    public required double TrainMetric { get; init; }
    public double? ValidationLoss { get; init; }
    public double? ValidationMetric { get; init; }
    /// <summary>The weighted metric (<see cref="TrainingOptions.WeightedMetric"/>), null when none was asked for.</summary>
    public double? TrainWeightedMetric { get; init; }
    public double? ValidationWeightedMetric { get; init; }
    public required double LearningRate { get; init; }
    public required double Seconds { get; init; }
    /// <summary>The largest global gradient norm (before clipping) of any step in the epoch.</summary>
    public required double MaxGradientNorm { get; init; }
    public required double MeanGradientNorm { get; init; }
    /// <summary>Per layer: the largest norm of that layer's gradients (before clipping) in the epoch.</summary>
    public required IReadOnlyDictionary<string, double> MaxLayerGradientNorms { get; init; }
    /// <summary>The loss of every batch, in order (the study counts spikes from it).</summary>
    public required IReadOnlyList<double> BatchLosses { get; init; }
}

/// <summary>Per-epoch history of one Fit, as Keras' History.</summary>
public sealed class TrainingHistory
{
    public List<EpochRecord> Epochs { get; } = new();
    public string MetricName { get; init; } = "accuracy";
    /// <summary>The logged name of the weighted metric (<see cref="TrainingOptions.WeightedMetric"/>), null if none.</summary>
    public string? WeightedMetricName { get; init; }
    /// <summary>Whether the epochs logged validation quantities.</summary>
    public bool HasValidation { get; init; }
    public bool StoppedEarly { get; internal set; }

    /// <summary>The names each epoch logged, as Keras' logs keys in its order: loss, the metric, the weighted metric if
    /// any, and with validation the same with val_ before each.</summary>
    public IReadOnlyList<string> LoggedNames
    {
        get
        {
            string[] trained = WeightedMetricName is null ? ["loss", MetricName] : ["loss", MetricName, WeightedMetricName];
            return HasValidation ? [.. trained, .. trained.Select(name => "val_" + name)] : trained;
        }
    }

    /// <summary>Keras' <c>history.epoch</c>: the epoch numbers run (counted over Fit calls, see <see cref="Trainer.CompletedEpochs"/>).</summary>
    public IReadOnlyList<int> Epoch => Epochs.Select(e => e.Epoch).ToArray();

    /// <summary>Keras' <c>history.history</c>: each logged name (<see cref="LoggedNames"/>) with its value at each epoch, in order.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<double>> History
    {
        get
        {
            var values = new Dictionary<string, IReadOnlyList<double>>
            {
                ["loss"] = Epochs.Select(e => e.TrainLoss).ToArray(),
                [MetricName] = Epochs.Select(e => e.TrainMetric).ToArray(),
            };
            if (WeightedMetricName is not null) values[WeightedMetricName] = Epochs.Select(e => e.TrainWeightedMetric ?? double.NaN).ToArray();
            if (HasValidation)
            {
                values["val_loss"] = Epochs.Select(e => e.ValidationLoss ?? double.NaN).ToArray();
                values["val_" + MetricName] = Epochs.Select(e => e.ValidationMetric ?? double.NaN).ToArray();
                if (WeightedMetricName is not null)
                    values["val_" + WeightedMetricName] = Epochs.Select(e => e.ValidationWeightedMetric ?? double.NaN).ToArray();
            }
            return values;
        }
    }
}

/// <summary>Raised when a loss or gradient stops being finite. The model keeps the weights of the last good step.</summary>
public sealed class TrainingDivergedException : Exception
{
    public TrainingDivergedException(int epoch, int batch, string what)
        : base($"Training diverged at epoch {epoch}, batch {batch}: {what}. The weights of the last good step were restored.")
    {
        Epoch = epoch;
        Batch = batch;
    }

    public int Epoch { get; }
    public int Batch { get; }
}

/// <summary>What a callback sees of a Fit call (Keras' <c>callback.model</c> and the quantities each epoch logs).</summary>
public sealed class TrainingRun
{
    // metricIncreases and weightedIncreases: the metrics' directions (a named metric object's name says nothing); null:
    // from the name (Trainer.IsAccuracyMetric), after any weighted_ for the weighted metric.
    internal TrainingRun(Sequential<float> model, bool hasValidation, string metricName, string? weightedMetricName = null,
        bool? metricIncreases = null, bool? weightedIncreases = null)
    {
        Model = model;
        HasValidation = hasValidation;
        MetricName = metricName;
        MetricIncreases = metricIncreases ?? Trainer.IsAccuracyMetric(metricName);
        WeightedMetricName = weightedMetricName;
        // Its name, or weighted_ + its name (no metric string starts with weighted_).
        WeightedIncreases = weightedMetricName is null ? false : weightedIncreases
            ?? Trainer.IsAccuracyMetric(weightedMetricName.StartsWith("weighted_", StringComparison.Ordinal) ? weightedMetricName["weighted_".Length..] : weightedMetricName);
    }

    private bool WeightedIncreases { get; }

    /// <summary>The weighted metric's logged name (<see cref="TrainingOptions.WeightedMetric"/>), null if none.</summary>
    public string? WeightedMetricName { get; }

    /// <summary>The value an epoch logged under <paramref name="name"/> (one of <see cref="LoggedNames"/>), null where the
    /// epoch has none.</summary>
    public double? Value(EpochRecord record, string name)
    {
        ArgumentNullException.ThrowIfNull(record);
        bool validation = name.StartsWith("val_", StringComparison.Ordinal);
        string logged = validation ? name[4..] : name;
        if (logged == "loss") return validation ? record.ValidationLoss : record.TrainLoss;
        if (logged == MetricName) return validation ? record.ValidationMetric : record.TrainMetric;
        if (logged == WeightedMetricName) return validation ? record.ValidationWeightedMetric : record.TrainWeightedMetric;
        throw new ArgumentException($"'{name}' is not logged by this run; it logs {string.Join(", ", LoggedNames)}.", nameof(name));
    }

    /// <summary>Whether the quantity logged under <paramref name="name"/> improves upwards (an accuracy or R², weighted or not)
    /// or downwards (the loss and the errors): Keras 3's MonitorCallback reads the <c>_direction</c> of the metric object
    /// named so. For <c>weighted_</c> + a name it finds none (the weighted metric object keeps its own name; the prefix is
    /// only its logs key, CompileMetrics.result) and auto mode raises a ValueError asking for mode='min' or 'max'; here
    /// that name takes the direction of the metric after the prefix, the one Keras' object has.</summary>
    public bool Increases(string name)
    {
        string logged = name.StartsWith("val_", StringComparison.Ordinal) ? name[4..] : name;
        if (logged == "loss") return false;
        if (logged == MetricName) return MetricIncreases;
        if (WeightedMetricName is not null && logged == WeightedMetricName) return WeightedIncreases;
        throw new ArgumentException($"'{name}' is not logged by this run; it logs {string.Join(", ", LoggedNames)}.", nameof(name));
    }

    public Sequential<float> Model { get; }
    /// <summary>Whether the epochs log validation quantities (<c>val_loss</c>, <c>val_</c> + metric).</summary>
    public bool HasValidation { get; }
    /// <summary>The metric each epoch logs (<see cref="TrainingOptions.Metric"/>; by default <c>accuracy</c> or <c>mae</c>).</summary>
    public string MetricName { get; }
    /// <summary>Whether the metric improves upwards (the accuracies, R², precision, recall and AUC, Keras' <c>_direction = "up"</c>) or downwards (the
    /// errors), which <see cref="EarlyStoppingMode.Auto"/> follows as Keras 3's MonitorCallback reads the metric's direction.</summary>
    public bool MetricIncreases { get; }

    /// <summary>The names an epoch logs, as Keras' logs dict keys: loss, the metric, and their val_ forms.</summary>
    public IReadOnlyList<string> LoggedNames => new TrainingHistory { MetricName = MetricName, HasValidation = HasValidation, WeightedMetricName = WeightedMetricName }.LoggedNames;
}

/// <summary>Hooks called by the fit loop, in Keras' order: train begin, then per epoch begin and end, then train end.</summary>
public interface ITrainingCallback
{
    /// <summary>Once at the start of each Fit, before the first epoch (Keras' on_train_begin).</summary>
    void OnTrainBegin(TrainingRun run) { }

    /// <summary>Before each epoch; may change the optimizer's learning rate.</summary>
    void OnEpochBegin(int epoch, Optimizer<float> optimizer) { }

    /// <summary>After each epoch; return true to stop training.</summary>
    bool OnEpochEnd(EpochRecord record) => false;

    /// <summary>
    /// After each epoch, with the optimizer, whose learning rate the callback may change for the epochs after it
    /// (<see cref="ReduceLearningRateOnPlateau"/>); return true to stop training. The fit loop calls this one; by default
    /// it calls <see cref="OnEpochEnd(EpochRecord)"/>.
    /// </summary>
    bool OnEpochEnd(EpochRecord record, Optimizer<float> optimizer) => OnEpochEnd(record);

    /// <summary>Once when Fit returns normally, also after an early stop (Keras' on_train_end); not after an exception.</summary>
    void OnTrainEnd(TrainingRun run) { }
}

/// <summary>Direction of improvement for <see cref="EarlyStopping"/> and <see cref="ReduceLearningRateOnPlateau"/> (Keras' mode).</summary>
public enum EarlyStoppingMode
{
    /// <summary>From the monitored quantity, as Keras 3 (the metric's direction): loss and the errors (mae, mse, …) improve
    /// downwards, the accuracies (accuracy, acc, binary_accuracy, …) upwards.</summary>
    Auto,
    Min,
    Max,
}

/// <summary>
/// Keras 3's <c>EarlyStopping</c> (keras/src/callbacks/early_stopping.py), rule for rule: at each epoch end (from
/// <c>startFromEpoch</c> on) the wait count goes up by one; an improvement (better than the best by more than |minDelta|;
/// the first monitored value of a Fit always is one, NaN and ±∞ included, as Keras' <c>_is_improvement(value, None)</c>)
/// becomes the best and resets the wait to 0 if it also beats the baseline; otherwise training stops once wait ≥ patience,
/// except at epoch 0. So patience = 3 on a loss that never improves after epoch 0 runs exactly 4 epochs. A NaN is never
/// an improvement on a best, and nothing improves on a NaN best. With <c>restoreBestWeights</c>, the weights of the best
/// epoch are put back when Fit ends, stopped early or not. Each Fit starts afresh (no best, wait 0), as Keras 3's
/// <c>on_train_begin</c> (<c>self.best = None</c>).
/// </summary>
public sealed class EarlyStopping : ITrainingCallback
{
    private bool? minimize;
    private TrainingRun? run;
    private double? best;
    private float[]? bestWeights;
    private Sequential<float>? model;

    public EarlyStopping(string monitor = "val_loss", double minDelta = 0, int patience = 0, EarlyStoppingMode mode = EarlyStoppingMode.Auto,
        double? baseline = null, bool restoreBestWeights = false, int startFromEpoch = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(monitor);
        if (patience < 0) throw new ArgumentOutOfRangeException(nameof(patience), patience, "Patience must be ≥ 0.");
        if (!double.IsFinite(minDelta)) throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, "minDelta must be finite.");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown early-stopping mode.");
        if (baseline is double b && !double.IsFinite(b)) throw new ArgumentOutOfRangeException(nameof(baseline), baseline, "baseline must be finite or null.");
        if (startFromEpoch < 0) throw new ArgumentOutOfRangeException(nameof(startFromEpoch), startFromEpoch, "startFromEpoch must be ≥ 0.");
        Monitor = monitor;
        MinDelta = Math.Abs(minDelta);   // Keras: self.min_delta = abs(min_delta)
        Patience = patience;
        Mode = mode;
        Baseline = baseline;
        RestoreBestWeights = restoreBestWeights;
        StartFromEpoch = startFromEpoch;
    }

    public string Monitor { get; }
    public double MinDelta { get; }
    public int Patience { get; }
    public EarlyStoppingMode Mode { get; }
    public double? Baseline { get; }
    public bool RestoreBestWeights { get; }
    public int StartFromEpoch { get; }
    /// <summary>Epochs since the last improvement, as Keras counts them.</summary>
    public int Wait { get; private set; }
    /// <summary>The epoch at which training was stopped (0 if it was not), and the epoch of the best value.</summary>
    public int StoppedEpoch { get; private set; }
    public int BestEpoch { get; private set; }
    /// <summary>The best monitored value of this Fit; null before its first monitored epoch (Keras' None).</summary>
    public double? Best => best;

    public void OnTrainBegin(TrainingRun run)
    {
        if (!run.LoggedNames.Contains(Monitor))
            throw new InvalidOperationException(
                $"EarlyStopping monitors '{Monitor}', which this run does not log; it logs {string.Join(", ", run.LoggedNames)}"
                + (run.HasValidation ? "." : " (val_ quantities need TrainingOptions.Validation or ValidationSplit)."));
        minimize = Mode switch { EarlyStoppingMode.Min => true, EarlyStoppingMode.Max => false, _ => !run.Increases(Monitor) };
        this.run = run;
        best = null;
        model = run.Model;
        Wait = 0;
        StoppedEpoch = 0;
        BestEpoch = 0;
        bestWeights = null;
    }

    public bool OnEpochEnd(EpochRecord record)
    {
        if (minimize is null) throw new InvalidOperationException("EarlyStopping.OnEpochEnd was called before OnTrainBegin.");
        double? value = run!.Value(record, Monitor);
        int epoch = record.Epoch;
        if (value is not double current || epoch < StartFromEpoch) return false;
        if (RestoreBestWeights && bestWeights is null) { bestWeights = Trainer.CopyWeights(model!.Parameters, new float[model.ParameterCount]); BestEpoch = epoch; }
        Wait++;
        if (IsImprovement(current, best))
        {
            best = current;
            BestEpoch = epoch;
            if (RestoreBestWeights) Trainer.CopyWeights(model!.Parameters, bestWeights!);
            if (Baseline is not double baseline || IsImprovement(current, baseline)) Wait = 0;
            return false;
        }
        if (Wait >= Patience && epoch > 0)
        {
            StoppedEpoch = epoch;
            return true;
        }
        return false;
    }

    public void OnTrainEnd(TrainingRun run)
    {
        if (RestoreBestWeights && bestWeights is not null) Trainer.PutWeights(run.Model.Parameters, bestWeights);
    }

    // Keras: monitor_op(value - min_delta, reference), min_delta negated for "less"; no reference (None) is beaten by anything.
    private bool IsImprovement(double value, double? reference) =>
        reference is not double r || (minimize!.Value ? value + MinDelta < r : value - MinDelta > r);
}

/// <summary>
/// Keras' <c>LearningRateScheduler</c>: before each epoch, the rate becomes <c>schedule(epoch, currentRate)</c>, where
/// epoch counts from 0 over all Fit calls and currentRate is the optimizer's rate at that moment (so
/// <c>(e, lr) =&gt; lr * 0.9</c> compounds, as in Keras).
/// </summary>
public sealed class LearningRateSchedule : ITrainingCallback
{
    private readonly Func<int, Optimizer<float>, double> rateFor;   // (epoch, optimizer) → the epoch's rate

    public LearningRateSchedule(Func<int, double, double> schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        rateFor = (epoch, optimizer) => schedule(epoch, optimizer.LearningRate);
    }

    /// <summary>A schedule of the epoch alone (Keras' one-argument form).</summary>
    public LearningRateSchedule(Func<int, double> schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        rateFor = (epoch, _) => schedule(epoch);
    }

    private LearningRateSchedule(Func<int, Optimizer<float>, double> rateFor) => this.rateFor = rateFor;

    /// <summary>
    /// lr = initial · factor^⌊epoch/every⌋ (PyTorch's StepLR), where initial is the optimizer's
    /// <see cref="Optimizer{T}.InitialLearningRate"/>, which checkpoints keep: a resumed run decays from the same base.
    /// The power is taken as StepLR's <c>step()</c> takes it, one multiplication by factor per decay in double
    /// (((initial · factor) · factor) · ...), not as its closed form's <c>gamma ** n</c>: the two can differ in the last
    /// bit (0.001 · 0.1 · 0.1 = 1e-05 exactly as Python prints it; 0.001 · 0.1² = 1.0000000000000003e-05).
    /// </summary>
    public static LearningRateSchedule StepDecay(double factor, int every)
    {
        if (!(factor > 0) || !double.IsFinite(factor)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "Decay factor must be positive and finite.");
        if (every <= 0) throw new ArgumentOutOfRangeException(nameof(every), every, "Decay interval must be positive.");
        return new LearningRateSchedule((epoch, optimizer) => ChainedDecay(optimizer.InitialLearningRate, factor, epoch / every));
    }

    /// <summary>initial multiplied by factor <paramref name="decays"/> times in turn, as StepLR's chained steps compute it.
    /// The loop ends once the rate can no longer change (factor 1, or the rate at 0 or ∞: the same bits as going on), so
    /// at a late epoch (numbers go up to 2^31 − 1) factor 1 costs nothing and factor 0.5 or 2 about a thousand steps, where
    /// every epoch's start took up to 2^31 multiplications (seconds); a factor near 1 still takes one per decay.</summary>
    internal static double ChainedDecay(double initial, double factor, int decays)
    {
        double rate = initial;
        if (factor == 1) return rate;
        for (int k = 0; k < decays && rate != 0 && !double.IsInfinity(rate); k++) rate *= factor;
        return rate;
    }

    public void OnEpochBegin(int epoch, Optimizer<float> optimizer)
    {
        double rate = rateFor(epoch, optimizer);
        if (!(rate >= 0) || !double.IsFinite(rate))
            throw new InvalidOperationException($"LearningRateSchedule returned {rate} for epoch {epoch}; expected a finite rate ≥ 0.");
        optimizer.LearningRate = rate;
    }
}

/// <summary>
/// Keras' fit / evaluate / predict for a float32 <see cref="Sequential{T}"/>. Shuffling and dropout draw from streams
/// derived from (seed, epoch, batch), so a run is reproducible and can resume at an epoch boundary bit-exactly.
/// </summary>
public sealed class Trainer
{
    private readonly Sequential<float> model;
    private readonly ModelCache<float> cache;
    private float[] x = Array.Empty<float>(), targets = Array.Empty<float>(), outputGradient = Array.Empty<float>();
    private bool[] mask = Array.Empty<bool>();
    private int[] labels = Array.Empty<int>();
    private float[] sampleWeights = Array.Empty<float>();   // a batch's sample weights (the dataset's, or TrainingOptions.ClassWeight's)
    // Per-step targets: each target row's weight in the loss (sample weight × mask scale), in the metric (the mask) and
    // in the weighted metric (sample weight × mask).
    private float[] rowLossWeights = Array.Empty<float>(), rowMetricWeights = Array.Empty<float>(), rowWeightedMetricWeights = Array.Empty<float>();

    public Trainer(Sequential<float> model, Optimizer<float>? optimizer = null)
    {
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        cache = model.CreateCache();
        if (optimizer is not null) CheckOptimizerParameters(optimizer, nameof(optimizer));
        Optimizer = optimizer;
    }

    // Every parameter an optimizer steps must be one of the model's, whose gradients Fit computes (a subset freezes the
    // rest, as in PyTorch); one built over another model's parameters would leave this model untrained without a word.
    private void CheckOptimizerParameters(Optimizer<float> optimizer, string argumentName)
    {
        var own = new HashSet<Parameter<float>>(model.Parameters, ReferenceEqualityComparer.Instance);
        IReadOnlyList<Parameter<float>> stepped = optimizer.Parameters;
        for (int p = 0; p < stepped.Count; p++)
            if (!own.Contains(stepped[p]))
                throw new ArgumentException($"The optimizer's parameter {p} ('{stepped[p].Name}') is not one of this model's parameters: " +
                    "expected an optimizer over model.Parameters (or some of them, to freeze the rest).", argumentName);
    }

    // The first Fit's optimizer, kept only once checked: a refused one would stay on the trainer for the next Fit or a
    // checkpoint. A factory that returns null is a bug in it: falling back to Adam would train with an optimizer no one chose.
    private Optimizer<float> CreateOptimizer(TrainingOptions options)
    {
        if (options.OptimizerFactory is null) return new Adam<float>(model.Parameters.ToList(), options.LearningRate);
        Optimizer<float> optimizer = options.OptimizerFactory(model.Parameters.ToList(), options.LearningRate)
            ?? throw new InvalidOperationException("TrainingOptions.OptimizerFactory: expected an optimizer, found null (return one, or leave OptimizerFactory null for the default Adam).");
        CheckOptimizerParameters(optimizer, nameof(options.OptimizerFactory));
        return optimizer;
    }

    public Sequential<float> Model => model;
    /// <summary>The optimizer; created by the first Fit if none was given. Its state is what a checkpoint saves.</summary>
    public Optimizer<float>? Optimizer { get; private set; }
    /// <summary>Epochs completed over all Fit calls (a resumed trainer starts from the checkpoint's value).</summary>
    public int CompletedEpochs { get; set; }

    /// <summary>
    /// Called after each completed epoch, after the callbacks' <see cref="ITrainingCallback.OnEpochEnd(EpochRecord, Optimizer{float})"/>
    /// (e.g. to write a checkpoint: it then holds the learning rate a callback such as
    /// <see cref="ReduceLearningRateOnPlateau"/> set for the next epoch). The callbacks' own state (waits, bests) is not
    /// part of a checkpoint; each Fit starts them afresh, as Keras' on_train_begin does.
    /// </summary>
    public Action<Trainer, EpochRecord>? EpochCompleted { get; set; }

    public TrainingHistory Fit(SequenceDataset train, TrainingOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (CompletedEpochs > int.MaxValue - options.Epochs)
            throw new ArgumentOutOfRangeException(nameof(options), options.Epochs,
                $"Epochs: {options.Epochs} more after the {CompletedEpochs} completed would overflow the epoch counter (at most {int.MaxValue}).");
        CheckDataset(train, nameof(train));
        SequenceDataset? validation = options.Validation;
        if (validation is null && options.ValidationSplit > 0)
        {
            // Keras (train_validation_split): split_at = floor(N · (1 − validation_split)), the last part validates.
            (train, validation) = train.SplitOrderedAt((int)Math.Floor(train.Count * (1.0 - options.ValidationSplit)));
            if (train.Count == 0 || validation.Count == 0)
                throw new ArgumentException($"Validation split {options.ValidationSplit} leaves an empty part of {train.Count + validation.Count} sequences.", nameof(options));
        }
        if (validation is not null)
        {
            CheckDataset(validation, "validation");
            // Scored with the training loss and metric: a set of the other kind would be scored with its own default
            // loss (mse for rows) and report that as val_loss.
            if (validation.Task != train.Task)
                throw new ArgumentException($"validation: a {validation.Task} dataset, but the training data is a {train.Task} dataset; the validation set is scored with the training loss and metric.", "validation");
        }
        if (options.NonFiniteInputs == NonFiniteInputs.Reject)
        {
            CheckFinite(train, nameof(train));
            if (validation is not null) CheckFinite(validation, "validation");
        }
        if (options.ClassWeight is not null && train.TargetsPerStep)
            throw new ArgumentException($"{nameof(TrainingOptions)}.{nameof(TrainingOptions.ClassWeight)} is set and the training set has a target per step: "
                + "class weights are per sequence (Keras 3's class_weight does not support sequence targets either); pass a weight per step instead, "
                + $"each step's class weight, with {nameof(SequenceDataset)}.{nameof(SequenceDataset.WithSampleWeights)} ([N, T] values).", nameof(options));
        if (options.ClassWeight is not null && train.SampleWeights is not null)
            throw new ArgumentException($"{nameof(TrainingOptions)}.{nameof(TrainingOptions.ClassWeight)} is set and the training set carries sample weights: "
                + "use one or the other (Keras 3: \"You cannot `class_weight` and `sample_weight` at the same time\"); to combine them, multiply each "
                + "sequence's weight by its class's weight and pass the products as sample weights.", nameof(options));
        ILoss<float> loss = options.LossFunction is { } given ? CheckLossFunction(given, train, "options.LossFunction") : LossFor(train, options.Loss, options.FromLogits, options.LabelSmoothing);
        // Keras turns class_weight into sample weights once, when fit starts: a copy, so a change to the caller's map
        // during Fit (a callback's) is not seen, as it was validated once.
        Dictionary<int, double>? classWeight = options.ClassWeight is null ? null : new Dictionary<int, double>(options.ClassWeight);
        Optimizer<float> optimizer = Optimizer ?? CreateOptimizer(options);
        Optimizer = optimizer;
        bool useMask = options.UseMask ?? train.IsVariableLength;
        var sampler = new BatchSampler(train.Count, options.BatchSize, options.Shuffle);
        ResolvedMetric resolved = ResolveMetric(options.Metric, train, loss, model.OutputFeatures, nameof(options.Metric));
        string metricName = resolved.Name;
        // Keras' weighted_metrics: logged under its name, or weighted_ + it when metrics= already logs that name
        // (compile_utils.CompileMetrics.result).
        ResolvedMetric? weighted = options.WeightedMetric is null ? null
            : ResolveMetric(options.WeightedMetric, train, loss, model.OutputFeatures, nameof(options.WeightedMetric));
        string? weightedName = weighted is { } w ? (w.Name == metricName ? "weighted_" + w.Name : w.Name) : null;
        var history = new TrainingHistory { MetricName = metricName, HasValidation = validation is not null, WeightedMetricName = weightedName };
        var parameters = model.Parameters.ToList();
        // Keras regularizes the trainable weights: here those the optimizer steps (a frozen parameter adds no penalty).
        IReadOnlyList<Parameter<float>>? regularized = model.HasRegularizers ? optimizer.Parameters : null;
        // Keras projects the trainable variables it updated, after each update: here those the optimizer steps.
        IReadOnlyList<Parameter<float>>? constrained = model.HasConstraints ? optimizer.Parameters : null;
        // Keras' activity regularizers: each layer's output penalty / B, in the loss and its gradient.
        bool activity = model.HasActivityRegularizers;
        float[] lastGood = new float[model.ParameterCount];
        var layerNames = model.Layers.Select(l => l.Name).ToArray();
        int totalEpochs = CompletedEpochs + options.Epochs;
        var run = new TrainingRun(model, validation is not null, history.MetricName, weightedName, IncreasesUpward(resolved.Kind),
            weighted is { } wd ? IncreasesUpward(wd.Kind) : null);
        foreach (ITrainingCallback callback in options.Callbacks) callback.OnTrainBegin(run);

        for (int epochIndex = 0; epochIndex < options.Epochs; epochIndex++)
        {
            int epoch = CompletedEpochs;
            foreach (ITrainingCallback callback in options.Callbacks) callback.OnEpochBegin(epoch, optimizer);
            var watch = Stopwatch.StartNew();
            sampler.StartEpoch(options.Shuffle ? new Random(DeriveSeed(options.Seed, epoch, -1)) : null);
            double lossSum = 0, normSum = 0, normMax = 0;
            MetricState metricState = NewMetricState(resolved, loss);
            MetricState? weightedState = weighted is { } w0 ? NewMetricState(w0, loss) : null;
            int seen = 0;
            var batchLosses = new List<double>(sampler.BatchCount);
            var layerMax = new double[layerNames.Length];
            for (int batch = 0; batch < sampler.BatchCount; batch++)
            {
                cancellation.ThrowIfCancellationRequested();
                ReadOnlySpan<int> indices = sampler.Batch(batch);
                int b = indices.Length;
                ReadOnlySpan<float> predictions = ForwardBatch(train, indices, useMask, new ForwardContext(true, new Random(DeriveSeed(options.Seed, epoch, batch))));
                int rows = b * train.TargetRows;
                double batchLoss = ComputeLoss(loss, train, predictions, rows);
                RowWeights(classWeight, train, indices, predictions.Length, out ReadOnlySpan<float> weights, out ReadOnlySpan<float> metricWeights,
                    out ReadOnlySpan<float> weightedMetricWeights);
                if (!weights.IsEmpty && double.IsFinite(batchLoss))
                    batchLoss = WeighSamples(loss, weights, train, predictions, batchLoss);
                // Keras' compute_loss: the compiled (weighted) loss plus sum(model.losses), the weight penalties.
                if (regularized is not null) batchLoss += model.RegularizationPenalty(regularized);
                if (activity) batchLoss += model.ActivityPenalty(cache);
                AddToMetrics(metricState, weightedState, train, predictions, rows, metricWeights, weightedMetricWeights);
                if (!double.IsFinite(batchLoss))
                {
                    RestoreLastGood(parameters, lastGood, batch > 0 || epochIndex > 0);
                    throw new TrainingDivergedException(epoch, batch, $"the loss is {batchLoss}");
                }
                model.ZeroGradients();
                model.Backward(outputGradient.AsSpan(0, predictions.Length), cache, activityRegularization: activity);
                if (regularized is not null) model.AddRegularizationGradients(regularized);

                double globalNorm = LayerNorms(layerMax);
                if (!double.IsFinite(globalNorm))
                {
                    RestoreLastGood(parameters, lastGood, batch > 0 || epochIndex > 0);
                    throw new TrainingDivergedException(epoch, batch, $"the gradient norm is {globalNorm}");
                }
                // Over the parameters the optimizer steps: a frozen one's gradient must not shrink the others' through the
                // global norm (Keras clips the trainable variables' gradients; PyTorch's frozen parameters have none).
                IReadOnlyList<Parameter<float>> stepped = optimizer.Parameters;
                switch (options.Clip)
                {
                    case ClipMode.Value: GradientClipping.ClipByValue(stepped, options.ClipValue); break;
                    case ClipMode.Norm: GradientClipping.ClipByNorm(stepped, options.ClipValue); break;
                    case ClipMode.GlobalNorm: GradientClipping.ClipByGlobalNorm(stepped, options.ClipValue); break;
                    case ClipMode.GlobalNormKeras: GradientClipping.ClipByGlobalNormKeras(stepped, options.ClipValue); break;
                }
                CopyWeights(parameters, lastGood);
                optimizer.Step();
                if (constrained is not null) model.ApplyConstraints(constrained);

                lossSum += batchLoss * b;
                seen += b;
                normSum += globalNorm;
                normMax = Math.Max(normMax, globalNorm);
                batchLosses.Add(batchLoss);
                options.Progress?.Report(new TrainingProgress(epoch, totalEpochs, batch, sampler.BatchCount, batchLoss, null));
            }
            double? validationLoss = null, validationMetric = null, validationWeighted = null;
            if (validation is not null)
            {
                // The validation set's own lengths decide its mask (as Evaluate's default), and the metric is the one
                // the epoch logs for training, as Keras computes val_ metrics with the compiled ones. The weighted metric
                // takes the validation set's own sample weights (class weights are for the training data only).
                (double vl, double vm, double? vw) = EvaluateCore(validation, options.Loss, options.BatchSize, options.UseMask ?? validation.IsVariableLength,
                    options.FromLogits, options.LabelSmoothing, options.Metric, options.LossFunction, options.WeightedMetric);
                validationLoss = vl;
                validationMetric = vm;
                validationWeighted = vw;
            }
            var record = new EpochRecord
            {
                Epoch = epoch,
                TrainLoss = lossSum / Math.Max(seen, 1),
                TrainMetric = metricState.Result(),
                ValidationLoss = validationLoss,
                ValidationMetric = validationMetric,
                TrainWeightedMetric = weightedState?.Result(),
                ValidationWeightedMetric = validationWeighted,
                LearningRate = optimizer.LearningRate,
                Seconds = watch.Elapsed.TotalSeconds,
                MaxGradientNorm = normMax,
                MeanGradientNorm = normSum / Math.Max(sampler.BatchCount, 1),
                MaxLayerGradientNorms = layerNames.Select((name, k) => (name, layerMax[k])).ToDictionary(p => p.name, p => p.Item2),
                BatchLosses = batchLosses,
            };
            history.Epochs.Add(record);
            CompletedEpochs++;
            options.Progress?.Report(new TrainingProgress(epoch, totalEpochs, sampler.BatchCount, sampler.BatchCount, record.TrainLoss, record));
            bool stop = false;
            foreach (ITrainingCallback callback in options.Callbacks) stop |= callback.OnEpochEnd(record, optimizer);
            // After the callbacks, so a checkpoint written here holds the rate a callback set for the next epoch.
            EpochCompleted?.Invoke(this, record);
            if (stop) { history.StoppedEarly = true; break; }
        }
        foreach (ITrainingCallback callback in options.Callbacks) callback.OnTrainEnd(run);
        return history;
    }

    /// <summary>Mean loss and metric over a dataset, in batches, without dropout; lossName, fromLogits, labelSmoothing
    /// and metric as in <see cref="TrainingOptions"/> (the metric as <see cref="TrainingOptions.Metric"/> resolves it).
    /// A dataset carrying <see cref="SequenceDataset.SampleWeights"/> gives the weighted loss Σᵢ wᵢ·lᵢ / N (Keras'
    /// <c>evaluate(sample_weight=...)</c>); the metric stays unweighted (Keras' <c>metrics=</c>). <paramref name="lossFunction"/>
    /// is a loss object instead of a name, as <see cref="TrainingOptions.LossFunction"/> (not with lossName, fromLogits or
    /// labelSmoothing).</summary>
    public (double Loss, double Metric) Evaluate(SequenceDataset data, string? lossName = null, int batchSize = 32, bool? useMask = null, bool? fromLogits = null,
        double labelSmoothing = 0, MetricConfig? metric = null, ILoss<float>? lossFunction = null)
    {
        (double loss, double metricValue, _) = EvaluateCore(data, lossName, batchSize, useMask, fromLogits, labelSmoothing, metric, lossFunction, null);
        return (loss, metricValue);
    }

    /// <summary>As <see cref="Evaluate"/>, with a weighted metric beside (Keras' <c>compile(weighted_metrics=[...])</c>,
    /// see <see cref="TrainingOptions.WeightedMetric"/>): Σᵢ wᵢ·mᵢ / Σᵢ wᵢ with the dataset's sample weights (each 1 if it
    /// carries none), 0 when the weights sum to 0.</summary>
    public (double Loss, double Metric, double WeightedMetric) EvaluateWeighted(SequenceDataset data, MetricConfig weightedMetric, string? lossName = null, int batchSize = 32,
        bool? useMask = null, bool? fromLogits = null, double labelSmoothing = 0, MetricConfig? metric = null, ILoss<float>? lossFunction = null)
    {
        ArgumentNullException.ThrowIfNull(weightedMetric);
        (double loss, double metricValue, double? weighted) = EvaluateCore(data, lossName, batchSize, useMask, fromLogits, labelSmoothing, metric, lossFunction, weightedMetric);
        return (loss, metricValue, weighted!.Value);
    }

    private (double Loss, double Metric, double? WeightedMetric) EvaluateCore(SequenceDataset data, string? lossName, int batchSize, bool? useMask, bool? fromLogits,
        double labelSmoothing, MetricConfig? metric, ILoss<float>? lossFunction, MetricConfig? weightedMetric)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckDataset(data, nameof(data));
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Batch size must be positive.");
        if (lossFunction is not null && (lossName is not null || fromLogits is not null || labelSmoothing != 0))
            throw new ArgumentException($"Evaluate: lossFunction ('{lossFunction.Name}') carries its own options: leave lossName, fromLogits and labelSmoothing unset.", nameof(lossFunction));
        ILoss<float> loss = lossFunction is not null ? CheckLossFunction(lossFunction, data, nameof(lossFunction)) : LossFor(data, lossName, fromLogits, labelSmoothing);
        ResolvedMetric resolved = ResolveMetric(metric, data, loss, model.OutputFeatures, nameof(metric));
        ResolvedMetric? weighted = weightedMetric is null ? null : ResolveMetric(weightedMetric, data, loss, model.OutputFeatures, nameof(weightedMetric));
        bool masked = useMask ?? data.IsVariableLength;
        bool activity = model.HasActivityRegularizers;
        var sampler = new BatchSampler(data.Count, batchSize, shuffle: false);
        sampler.StartEpoch(null);
        double lossSum = 0;
        MetricState metricState = NewMetricState(resolved, loss);
        MetricState? weightedState = weighted is { } w ? NewMetricState(w, loss) : null;
        for (int batch = 0; batch < sampler.BatchCount; batch++)
        {
            ReadOnlySpan<int> indices = sampler.Batch(batch);
            ReadOnlySpan<float> predictions = ForwardBatch(data, indices, masked, ForwardContext.Inference);
            int rows = indices.Length * data.TargetRows;
            double batchLoss = ComputeLoss(loss, data, predictions, rows);
            RowWeights(null, data, indices, predictions.Length, out ReadOnlySpan<float> weights, out ReadOnlySpan<float> metricWeights,
                out ReadOnlySpan<float> weightedMetricWeights);
            if (!weights.IsEmpty && double.IsFinite(batchLoss))
                batchLoss = WeighSamples(loss, weights, data, predictions, batchLoss);
            AddToMetrics(metricState, weightedState, data, predictions, rows, metricWeights, weightedMetricWeights);
            if (activity) batchLoss += model.ActivityPenalty(cache);   // Keras adds it in test_step too, per batch
            lossSum += batchLoss * indices.Length;
        }
        // Keras' test_step adds sum(model.losses) to every batch's loss; the weights do not change between batches, so
        // the mean over the set gets the penalty once. Over the trained parameters (all, before a Fit or an optimizer).
        double penalty = model.HasRegularizers ? model.RegularizationPenalty(Optimizer?.Parameters) : 0;
        return (lossSum / data.Count + penalty, metricState.Result(), weightedState?.Result());
    }

    /// <summary>Model outputs for every sequence, [N, outputs] (or [N, T, outputs] for sequence outputs), in batches
    /// (default 32, as Keras' predict; the batch size changes only the speed).</summary>
    public float[] Predict(SequenceDataset data, int batchSize = 32, bool? useMask = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckDataset(data, nameof(data), requireTargets: false);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Batch size must be positive.");
        bool masked = useMask ?? data.IsVariableLength;
        int perSample = model.OutputLength(1, data.Steps);
        Int128 total = (Int128)data.Count * perSample;
        if (!ArraySizes.Fits(total))
            throw ArraySizes.TooLarge(total, $"Predict: the outputs [N={data.Count}, {perSample} per sequence]", nameof(data));
        var result = new float[(int)total];
        var sampler = new BatchSampler(data.Count, batchSize, shuffle: false);
        sampler.StartEpoch(null);
        int offset = 0;
        for (int batch = 0; batch < sampler.BatchCount; batch++)
        {
            ReadOnlySpan<float> predictions = ForwardBatch(data, sampler.Batch(batch), masked, ForwardContext.Inference);
            predictions.CopyTo(result.AsSpan(offset));
            offset += predictions.Length;
        }
        return result;
    }

    private ReadOnlySpan<float> ForwardBatch(SequenceDataset data, ReadOnlySpan<int> indices, bool useMask, ForwardContext context)
    {
        int b = indices.Length, time = data.Steps, f = data.Features;
        EnsureBuffers(b, time, f, data);
        Span<float> xBatch = x.AsSpan(0, b * time * f);
        Span<bool> maskBatch = mask.AsSpan(0, b * time);
        if (data.Task == TaskKind.Classification) data.CopyBatch<float>(indices, xBatch, maskBatch, labels);
        else data.CopyBatch<float>(indices, xBatch, maskBatch, targets.AsSpan());
        return model.Forward(new SequenceBatch<float>(xBatch, b, time, useMask ? maskBatch : default), cache, context);
    }

    // The unweighted mean over the batch's target rows (b sequences, or b·T steps for per-step targets) and its gradient.
    private double ComputeLoss(ILoss<float> loss, SequenceDataset data, ReadOnlySpan<float> predictions, int b)
    {
        // Non-finite outputs make the batch loss NaN whatever the loss (the probability paths would reject them with an
        // ArgumentException about their input), so Fit treats them as what they are: divergence.
        if (!NonFiniteCheck.AllFinite(predictions)) return double.NaN;
        Span<float> gradient = outputGradient.AsSpan(0, predictions.Length);
        return data.Task == TaskKind.Classification
            ? double.CreateTruncating(loss.Forward(predictions, LossTargets<float>.FromLabels(labels.AsSpan(0, b)), gradient))
            : double.CreateTruncating(loss.Forward(predictions, LossTargets<float>.FromValues(targets.AsSpan(0, predictions.Length), b), gradient));
    }

    private MetricState NewMetricState(ResolvedMetric metric, ILoss<float> loss)
    {
        bool binaryLogits = loss is BinaryCrossEntropy<float> { FromLogits: true };
        if (metric.Kind is not (MetricKind.Precision or MetricKind.Recall or MetricKind.Auc))
            return new MetricState(metric.Kind, binaryLogits, model.OutputFeatures);
        // MetricConfig.FromLogits: Keras' true (σ) and false (as they are); null, NumLstm's choice, the probabilities the
        // loss reads the outputs as (σ for a binary cross-entropy on logits, softmax for the categorical ones).
        OutputLink link = metric.Config.FromLogits switch
        {
            true => OutputLink.Sigmoid,
            false => OutputLink.None,
            null => binaryLogits ? OutputLink.Sigmoid
                : loss is SoftmaxCrossEntropy<float> { FromLogits: true } or CategoricalCrossEntropy<float> { FromLogits: true } ? OutputLink.Softmax
                : OutputLink.None,
        };
        return new MetricState(metric.Kind, binaryLogits, model.OutputFeatures, new ConfusionMetricState(metric.Kind, metric.Config, link));
    }

    // The batch's b target rows into the metric (Keras' metrics=, no weights; the mask's 0/1 for per-step targets) and the
    // weighted metric (weighted_metrics=, the batch's class or sample weights, times the mask; 1 each without them). Every
    // row counts, a non-finite prediction too (MetricState).
    private void AddToMetrics(MetricState metric, MetricState? weighted, SequenceDataset data, ReadOnlySpan<float> predictions, int b,
        ReadOnlySpan<float> metricWeights, ReadOnlySpan<float> weightedMetricWeights)
    {
        bool classification = data.Task == TaskKind.Classification;
        ReadOnlySpan<int> batchLabels = classification ? labels.AsSpan(0, b) : default;
        ReadOnlySpan<float> batchTargets = classification ? default : targets.AsSpan(0, predictions.Length);
        metric.Add(predictions, batchLabels, batchTargets, b, metricWeights);
        weighted?.Add(predictions, batchLabels, batchTargets, b, weightedMetricWeights);
    }

    // A batch's weights per target row, each empty when every row weighs 1:
    // - one target per sequence: the sample (or class) weights, for the loss and the weighted metric; none for the metric.
    // - per-step targets (Keras' y [B, T, ...]), with the output mask m [B, T] (Sequential.OutputMask: the lengths' mask
    //   or a Masking layer's): Keras 3's reduce_weighted_values with apply_mask, so the loss is Σ w·m·l / valid:
    //   loss row weight = s_bt · m_bt · R/valid, in float32 as Keras (ops.divide_no_nan(total, valid): 0 when valid = 0),
    //   R = B·T, valid = Σ m; s_bt the sequence's (or step's) sample weight. The metric leaves the masked steps out (weight m_bt,
    //   tf.keras 2's rule and current Keras 3's MeanMetricWrapper's; Keras 3's RMSE, R², Precision, Recall and AUC read
    //   no mask) and the weighted metric weighs s_bt · m_bt.
    private void RowWeights(IReadOnlyDictionary<int, double>? classWeight, SequenceDataset data, ReadOnlySpan<int> indices, int predictionLength,
        out ReadOnlySpan<float> lossWeights, out ReadOnlySpan<float> metricWeights, out ReadOnlySpan<float> weightedMetricWeights)
    {
        bool weighted = classWeight is not null || data.SampleWeights is not null;
        if (!data.TargetsPerStep)
        {
            lossWeights = weighted ? BatchWeights(classWeight, data, indices, predictionLength) : default;
            weightedMetricWeights = lossWeights;
            metricWeights = default;
            return;
        }
        ReadOnlySpan<bool> outputMask = model.OutputMask(cache);
        if (!weighted && outputMask.IsEmpty)
        {
            lossWeights = metricWeights = weightedMetricWeights = default;
            return;
        }
        int b = indices.Length, steps = data.Steps, rows = b * steps;
        if (rowLossWeights.Length < rows)
            (rowLossWeights, rowMetricWeights, rowWeightedMetricWeights) = (new float[rows], new float[rows], new float[rows]);
        float[]? given = data.SampleWeights;
        bool perStep = data.SampleWeightsPerStep;
        for (int i = 0; i < b; i++)
        {
            int n = indices[i];
            for (int t = 0; t < steps; t++)
            {
                int r = i * steps + t;
                float sample = given is null ? 1f : perStep ? given[n * steps + t] : given[n];
                float kept = outputMask.IsEmpty || outputMask[r] ? 1f : 0f;
                rowMetricWeights[r] = kept;
                rowWeightedMetricWeights[r] = sample * kept;
                rowLossWeights[r] = sample;
            }
        }
        // The loss: the sample weights as they are without a mask, else times the mask's scale (MaskedSteps, Keras' apply_mask).
        if (!outputMask.IsEmpty)
            MaskedSteps.LossWeights(outputMask, given is null ? default : rowLossWeights.AsSpan(0, rows), rowLossWeights.AsSpan(0, rows));
        lossWeights = rowLossWeights.AsSpan(0, rows);
        metricWeights = outputMask.IsEmpty ? default : rowMetricWeights.AsSpan(0, rows);
        weightedMetricWeights = rowWeightedMetricWeights.AsSpan(0, rows);
    }

    /// <summary>Σᵢ wᵢ·mᵢ / Σᵢ wᵢ of a metric (R² with weights) over rows given by the caller: Keras' metric objects called
    /// with sample_weight; labels [B] or target rows [B, width].</summary>
    internal static double WeightedMetricOf(MetricKind metric, bool logits, ReadOnlySpan<float> predictions, ReadOnlySpan<int> labels, ReadOnlySpan<float> targets,
        ReadOnlySpan<float> weights)
    {
        var state = new MetricState(metric, logits, predictions.Length / weights.Length);
        state.Add(predictions, labels, targets, weights.Length, weights);
        return state.Result();
    }

    // A batch's sample weights: the dataset's own (Keras' sample_weight), else its classes' (Keras' class_weight, turned
    // into sample weights as Keras does). Both float32, as Keras keeps sample weights in floatx.
    private ReadOnlySpan<float> BatchWeights(IReadOnlyDictionary<int, double>? classWeight, SequenceDataset data, ReadOnlySpan<int> indices, int predictionLength)
    {
        int b = indices.Length;
        if (sampleWeights.Length < b) sampleWeights = new float[b];
        Span<float> weights = sampleWeights.AsSpan(0, b);
        if (data.SampleWeights is float[] given)
            for (int i = 0; i < b; i++) weights[i] = given[indices[i]];
        else if (data.Task == TaskKind.Classification) ClassWeights.FromLabels(classWeight!, labels.AsSpan(0, b), weights);
        else ClassWeights.FromRows(classWeight!, targets.AsSpan(0, predictionLength), predictionLength / b, weights);
        return weights;
    }

    // Sample weights on a batch whose mean loss and gradient ComputeLoss left (SampleWeighting: Σᵢ wᵢ·lᵢ / B, each
    // gradient row times wᵢ).
    private double WeighSamples(ILoss<float> loss, ReadOnlySpan<float> weights, SequenceDataset data, ReadOnlySpan<float> predictions, double unweightedLoss)
    {
        LossTargets<float> batchTargets = data.Task == TaskKind.Classification
            ? LossTargets<float>.FromLabels(labels.AsSpan(0, weights.Length))
            : LossTargets<float>.FromValues(targets.AsSpan(0, predictions.Length), weights.Length);
        return SampleWeighting.Reweigh(loss, predictions, batchTargets, weights, outputGradient.AsSpan(0, predictions.Length), unweightedLoss);
    }

    private void EnsureBuffers(int b, int time, int f, SequenceDataset data)
    {
        if (x.Length < b * time * f) x = new float[b * time * f];
        if (mask.Length < b * time) mask = new bool[b * time];
        int rows = b * data.TargetRows;   // at most B·T, which the model's own buffers hold
        if (labels.Length < rows) labels = new int[rows];
        int outLength = model.OutputLength(b, time);
        if (outputGradient.Length < outLength) outputGradient = new float[outLength];
        if (data.Task == TaskKind.Regression && targets.Length < rows * data.TargetWidth) targets = new float[rows * data.TargetWidth];
    }

    private double LayerNorms(double[] layerMax)
    {
        double total = 0;
        for (int k = 0; k < model.Layers.Count; k++)
        {
            double sum = 0;
            foreach (Parameter<float> p in model.Layers[k].Parameters)
            {
                double norm = System.Numerics.Tensors.TensorPrimitives.Norm<float>(p.Gradient);
                sum += norm * norm;
            }
            total += sum;
            layerMax[k] = Math.Max(layerMax[k], Math.Sqrt(sum));
        }
        return Math.Sqrt(total);
    }

    /// <summary>Copies every parameter's values, in order, into <paramref name="into"/>; returns it.</summary>
    internal static float[] CopyWeights(IEnumerable<Parameter<float>> parameters, float[] into)
    {
        int offset = 0;
        foreach (Parameter<float> p in parameters) { p.Value.CopyTo(into, offset); offset += p.Length; }
        return into;
    }

    /// <summary>Puts values saved by <see cref="CopyWeights"/> back into the parameters.</summary>
    internal static void PutWeights(IEnumerable<Parameter<float>> parameters, float[] from)
    {
        int offset = 0;
        foreach (Parameter<float> p in parameters) { from.AsSpan(offset, p.Length).CopyTo(p.Value); offset += p.Length; }
    }

    private static void RestoreLastGood(List<Parameter<float>> parameters, float[] lastGood, bool haveSnapshot)
    {
        if (haveSnapshot) PutWeights(parameters, lastGood);   // else nothing was updated yet: the weights are the initial ones
    }

    private void CheckDataset(SequenceDataset data, string name, bool requireTargets = true)
    {
        if (data.Count == 0) throw new ArgumentException($"{name}: the dataset is empty.", name);
        if (data.Features != model.InputFeatures)
            throw new ArgumentException($"{name}: the model expects {model.InputFeatures} features per step, the dataset has {data.Features}.", name);
        if (!requireTargets) return;
        // Checked when set, and again here: SampleWeights is the dataset's own array, and a negative weight written into
        // it later would train away from its sequence silently.
        if (data.SampleWeights is float[] weights && SequenceDataset.FirstBadWeight(weights) is int bad and >= 0)
            throw new ArgumentException($"{name}: sampleWeights[{bad}] = {weights[bad].ToString("R", System.Globalization.CultureInfo.InvariantCulture)}: a sample weight must be finite and ≥ 0 "
                + $"(the dataset's {nameof(SequenceDataset.SampleWeights)} array was changed after {nameof(SequenceDataset.WithSampleWeights)} checked it).", name);
        if (data.Task == TaskKind.Classification && model.OutputFeatures < data.ClassCount)
            throw new ArgumentException($"{name}: {data.ClassCount} classes but the model outputs {model.OutputFeatures} logits.", name);
        if (data.Task == TaskKind.Regression && model.OutputFeatures != data.TargetWidth)
            throw new ArgumentException($"{name}: targets have width {data.TargetWidth} but the model outputs {model.OutputFeatures} values{(data.TargetsPerStep ? " per step" : "")}.", name);
        if (model.OutputShape.IsSequence && !data.TargetsPerStep)
            throw new ArgumentException($"{name}: the model outputs a sequence (its last recurrent layer returns sequences, [B, T, {model.OutputFeatures}]), but the dataset has one target "
                + $"per sequence: expected a target per step ({nameof(SequenceDataset)}.{nameof(SequenceDataset.ForClassificationPerStep)} or "
                + $"{nameof(SequenceDataset.ForRegressionPerStep)}), or a model whose last recurrent layer returns its last step.", name);
        if (!model.OutputShape.IsSequence && data.TargetsPerStep)
            throw new ArgumentException($"{name}: the dataset has a target per step, but the model outputs one vector per sequence ([B, {model.OutputFeatures}]): "
                + "expected a model whose last recurrent layer returns sequences (returnSequences: true), or a dataset with one target per sequence.", name);
    }

    private static void CheckFinite(SequenceDataset data, string name)
    {
        const string option = $"{nameof(TrainingOptions)}.{nameof(TrainingOptions.NonFiniteInputs)}";
        NonFiniteCheck.Require<float>(data.X, data.Steps, data.Features, name, option);
        if (data.Targets is not null)
        {
            int bad = Array.FindIndex(data.Targets, v => !float.IsFinite(v));
            if (bad >= 0)
                throw new ArgumentException(data.TargetsPerStep
                    ? $"{name}: expected finite targets, found {data.Targets[bad]} at sequence {bad / (data.Steps * data.TargetWidth)}, step {bad / data.TargetWidth % data.Steps}, target {bad % data.TargetWidth} (rejected by {option} = Reject)."
                    : $"{name}: expected finite targets, found {data.Targets[bad]} at sequence {bad / data.TargetWidth}, target {bad % data.TargetWidth} (rejected by {option} = Reject).", name);
        }
    }

    // A caller's loss object (TrainingOptions.LossFunction): the checks LossFor makes of a named loss that still apply.
    private ILoss<float> CheckLossFunction(ILoss<float> loss, SequenceDataset data, string argument)
    {
        (Layer<float> output, Activation? last) = OutputLayer();
        bool onLogits = loss is SoftmaxCrossEntropy<float> { FromLogits: true } or CategoricalCrossEntropy<float> { FromLogits: true } or BinaryCrossEntropy<float> { FromLogits: true };
        if (onLogits && last is Activation.Softmax or Activation.Sigmoid)
            throw new ArgumentException(
                $"{argument}: '{loss.Name}' reads logits (fromLogits: true), but the model's output layer '{output.Name}' applies {last}: its outputs are "
                + $"probabilities, and the loss would apply {(last == Activation.Softmax ? "softmax" : "the sigmoid")} again. Build the loss with fromLogits: false, "
                + "or give the last Dense no activation.", argument);
        CheckTargetKind(loss, data, $"{argument}: loss", argument);
        return loss;
    }

    // The layer whose activation decides whether the outputs are probabilities: the last one but any Dropout after it
    // (the identity outside training; Keras too reads a Dense(softmax) → Dropout model's outputs as probabilities).
    private (Layer<float> Output, Activation? Activation) OutputLayer()
    {
        Layer<float> output = model.Layers.LastOrDefault(layer => layer is not Dropout<float>) ?? model.Layers[^1];
        return (output, (output as Dense<float>)?.Activation);
    }

    private static void CheckTargetKind(ILoss<float> loss, SequenceDataset data, string what, string? argument)
    {
        bool labelsNeeded = loss.TargetKind == LossTargetKind.Labels;
        if (labelsNeeded != (data.Task == TaskKind.Classification))
            throw new ArgumentException($"{what} '{loss.Name}' needs {(labelsNeeded ? "class labels" : "real-valued targets")}, but the dataset is a {data.Task} task.", argument);
    }

    private ILoss<float> LossFor(SequenceDataset data, string? name, bool? fromLogits, double labelSmoothing)
    {
        (Layer<float> output, Activation? last) = OutputLayer();   // from_logits' default follows its activation
        bool probabilities = last is Activation.Softmax or Activation.Sigmoid;
        ILoss<float> loss = Loss.FromName<float>(name ?? (data.Task == TaskKind.Classification ? "sparse_categorical_crossentropy" : "mse"),
            fromLogits ?? !probabilities);
        bool crossEntropy = loss is SoftmaxCrossEntropy<float> or CategoricalCrossEntropy<float> or BinaryCrossEntropy<float>;
        if (labelSmoothing != 0)
        {
            if (!crossEntropy)
                throw new ArgumentException(
                    $"{nameof(TrainingOptions)}.{nameof(TrainingOptions.LabelSmoothing)} = {labelSmoothing}, but loss '{loss.Name}' has no label smoothing; only the cross-entropies do.");
            loss = Loss.FromName<float>(loss.Name, fromLogits ?? !probabilities, labelSmoothing);
        }
        if (crossEntropy && probabilities && fromLogits == true)
            throw new ArgumentException(
                $"Loss '{loss.Name}' with {nameof(TrainingOptions)}.{nameof(TrainingOptions.FromLogits)} = true, but the model's output layer '{output.Name}' "
                + $"applies {last}: its outputs are probabilities, and the loss would apply {(last == Activation.Softmax ? "softmax" : "the sigmoid")} again. "
                + $"Leave {nameof(TrainingOptions.FromLogits)} unset (or false), or give the last Dense no activation.");
        CheckTargetKind(loss, data, "Loss", null);
        return loss;
    }

    /// <summary>
    /// The metric strings <see cref="TrainingOptions.Metric"/> and <see cref="Evaluate"/> take: those Keras 3's
    /// <c>compile(metrics=[...])</c> accepts for the metrics computed here. <c>accuracy</c> and <c>acc</c> in any case
    /// (compile_utils.get_metric lowercases them and picks the accuracy by shape); every other string exactly as
    /// keras/src/metrics/__init__.py's ALL_OBJECTS_DICT keys it: the class name, its snake_case, and the mse/MSE and
    /// mae/MAE, mape/MAPE and msle/MSLE aliases. Keras has no <c>rmse</c> or <c>acc</c>-style alias for the others, and
    /// none for LogCoshError but its snake_case <c>log_cosh_error</c> (its default name <c>logcosh</c> is not a key).
    /// </summary>
    public static IReadOnlyList<string> MetricNames { get; } =
    [
        "accuracy", "acc",
        "binary_accuracy", "BinaryAccuracy", "categorical_accuracy", "CategoricalAccuracy",
        "sparse_categorical_accuracy", "SparseCategoricalAccuracy",
        "mae", "MAE", "mean_absolute_error", "MeanAbsoluteError",
        "mse", "MSE", "mean_squared_error", "MeanSquaredError",
        "root_mean_squared_error", "RootMeanSquaredError",
        "mape", "MAPE", "mean_absolute_percentage_error", "MeanAbsolutePercentageError",
        "msle", "MSLE", "mean_squared_logarithmic_error", "MeanSquaredLogarithmicError",
        "log_cosh_error", "LogCoshError",
        "r2_score", "R2Score",
        "precision", "Precision", "recall", "Recall", "auc", "AUC",
    ];

    // The exact keys (case-sensitive, as Keras' dictionary lookup) of every metric but the shape-resolved accuracy.
    private static readonly Dictionary<string, MetricKind> MetricKeys = new(StringComparer.Ordinal)
    {
        ["binary_accuracy"] = MetricKind.BinaryAccuracy, ["BinaryAccuracy"] = MetricKind.BinaryAccuracy,
        ["categorical_accuracy"] = MetricKind.CategoricalAccuracy, ["CategoricalAccuracy"] = MetricKind.CategoricalAccuracy,
        ["sparse_categorical_accuracy"] = MetricKind.SparseCategoricalAccuracy, ["SparseCategoricalAccuracy"] = MetricKind.SparseCategoricalAccuracy,
        ["mae"] = MetricKind.MeanAbsoluteError, ["MAE"] = MetricKind.MeanAbsoluteError,
        ["mean_absolute_error"] = MetricKind.MeanAbsoluteError, ["MeanAbsoluteError"] = MetricKind.MeanAbsoluteError,
        ["mse"] = MetricKind.MeanSquaredError, ["MSE"] = MetricKind.MeanSquaredError,
        ["mean_squared_error"] = MetricKind.MeanSquaredError, ["MeanSquaredError"] = MetricKind.MeanSquaredError,
        ["root_mean_squared_error"] = MetricKind.RootMeanSquaredError, ["RootMeanSquaredError"] = MetricKind.RootMeanSquaredError,
        ["mape"] = MetricKind.MeanAbsolutePercentageError, ["MAPE"] = MetricKind.MeanAbsolutePercentageError,
        ["mean_absolute_percentage_error"] = MetricKind.MeanAbsolutePercentageError, ["MeanAbsolutePercentageError"] = MetricKind.MeanAbsolutePercentageError,
        ["msle"] = MetricKind.MeanSquaredLogarithmicError, ["MSLE"] = MetricKind.MeanSquaredLogarithmicError,
        ["mean_squared_logarithmic_error"] = MetricKind.MeanSquaredLogarithmicError, ["MeanSquaredLogarithmicError"] = MetricKind.MeanSquaredLogarithmicError,
        ["log_cosh_error"] = MetricKind.LogCoshError, ["LogCoshError"] = MetricKind.LogCoshError,
        ["r2_score"] = MetricKind.R2Score, ["R2Score"] = MetricKind.R2Score,
        ["precision"] = MetricKind.Precision, ["Precision"] = MetricKind.Precision,
        ["recall"] = MetricKind.Recall, ["Recall"] = MetricKind.Recall,
        ["auc"] = MetricKind.Auc, ["AUC"] = MetricKind.Auc,
    };

    /// <summary>Keras' <c>str(identifier).lower() in ["accuracy", "acc"]</c> (compile_utils.get_metric).</summary>
    private static bool IsShapeResolvedAccuracy(string name)
        => name.Equals("accuracy", StringComparison.OrdinalIgnoreCase) || name.Equals("acc", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether a metric string names one that improves upwards (Keras' <c>_direction = "up"</c>: the accuracies,
    /// R2Score, Precision, Recall and AUC); the errors improve downwards.</summary>
    internal static bool IsAccuracyMetric(string name)
        => IsShapeResolvedAccuracy(name) || (MetricKeys.TryGetValue(name, out MetricKind kind) && IncreasesUpward(kind));

    /// <summary>Keras' <c>_direction = "up"</c>: the accuracies, R2Score, Precision, Recall and AUC.</summary>
    internal static bool IncreasesUpward(MetricKind kind)
        => kind is MetricKind.BinaryAccuracy or MetricKind.CategoricalAccuracy or MetricKind.SparseCategoricalAccuracy or MetricKind.R2Score
            or MetricKind.Precision or MetricKind.Recall or MetricKind.Auc;

    // What Fit and Evaluate report beside the loss. By default accuracy with class labels and the cross-entropy losses
    // (what a Keras user compiles with metrics=["accuracy"]), MAE with the regression losses. "accuracy" and "acc" are resolved by
    // Keras' rule (compile_utils.py, is_binary_or_sparse_categorical): one output per sample → binary accuracy; labels of
    // a lower rank than the predictions (class labels) → sparse categorical accuracy; else categorical accuracy. The name
    // is logged as given (Keras: metric_obj.name = identifier), or as the metric object's name.
    internal static ResolvedMetric ResolveMetric(MetricConfig? requested, SequenceDataset data, ILoss<float> loss, int outputWidth, string argument)
    {
        bool labels = data.Task == TaskKind.Classification;
        MetricConfig config = requested ?? (labels || loss is BinaryCrossEntropy<float> or CategoricalCrossEntropy<float> ? "accuracy" : "mae");
        string name = config.Identifier;
        MetricKind kind;
        if (IsShapeResolvedAccuracy(name))
            kind = outputWidth == 1 ? MetricKind.BinaryAccuracy : labels ? MetricKind.SparseCategoricalAccuracy : MetricKind.CategoricalAccuracy;
        else if (!MetricKeys.TryGetValue(name, out kind))
            throw new ArgumentException($"Unknown metric '{Truncated(name)}': expected one of {string.Join(", ", MetricNames)} "
                + "(Keras' strings for these metrics, case-sensitive but for accuracy and acc), or null for the default.", argument);
        string? refusal = kind switch
        {
            MetricKind.R2Score when data.TargetsPerStep => "takes one target row per sequence (Keras' R2Score raises for inputs other than 2-D (batch_size, output_dim), "
                + "and targets per step are 3-D); compute R² from Predict's outputs over the steps you choose",
            MetricKind.SparseCategoricalAccuracy when !labels => "needs class labels, but the dataset has real-valued target rows (use categorical_accuracy for one-hot rows)",
            MetricKind.CategoricalAccuracy when labels => "needs one-hot target rows, but the dataset has class labels (use sparse_categorical_accuracy or accuracy)",
            MetricKind.BinaryAccuracy when labels && outputWidth != 1 => $"compares each output with a 0/1 target, but the dataset has class labels and the model {outputWidth} outputs per sequence (use accuracy)",
            MetricKind.MeanAbsoluteError or MetricKind.MeanSquaredError or MetricKind.RootMeanSquaredError or MetricKind.MeanAbsolutePercentageError
                or MetricKind.MeanSquaredLogarithmicError or MetricKind.LogCoshError or MetricKind.R2Score when labels => "needs real-valued targets, but the dataset has class labels",
            _ => null,
        };
        if (refusal is not null) throw new ArgumentException($"Metric '{name}' {refusal}.", argument);
        CheckOptions(config, kind, argument);
        return new ResolvedMetric(config.LoggedName, kind, config);
    }

    // The options of MetricConfig each metric has (Keras' constructor arguments), checked as Keras' constructors check
    // them; any other option set is refused, naming it and its value.
    private static void CheckOptions(MetricConfig config, MetricKind kind, string argument)
    {
        string what = $"Metric '{Truncated(config.Identifier)}'";
        if (config.Name is { } logged && (logged.Length == 0 || logged == "loss" || logged.StartsWith("val_", StringComparison.Ordinal)))
            throw new ArgumentException($"{what}: Name '{Truncated(logged)}' cannot be logged beside loss and val_ names (expected a non-empty name, not loss or val_…).", argument);
        bool auc = kind == MetricKind.Auc, confusion = kind is MetricKind.Precision or MetricKind.Recall || auc;
        void NotHere(string option, object? value, string has)
        {
            if (value is not null)
                throw new ArgumentException($"{what}: {option} = {Describe(value)} not supported ({has}).", argument);
        }
        string owners = confusion ? "an option of AUC only" : "Precision, Recall and AUC take options; this metric takes only a Name";
        if (!auc)
        {
            NotHere(nameof(MetricConfig.NumThresholds), config.NumThresholds, owners);
            NotHere(nameof(MetricConfig.Curve), config.Curve, owners);
            NotHere(nameof(MetricConfig.SummationMethod), config.SummationMethod, owners);
        }
        if (!confusion)
        {
            NotHere(nameof(MetricConfig.Thresholds), config.Thresholds, owners);
            NotHere(nameof(MetricConfig.FromLogits), config.FromLogits, owners);
            return;
        }
        if (!auc)
        {
            // Keras' parse_init_thresholds: each in [0, 1]; a list of several gives one value each, which NumLstm cannot log.
            if (config.Thresholds is { } given)
            {
                if (given.Count != 1)
                    throw new ArgumentException($"{what}: Thresholds = {Describe(given)} not supported (one threshold: Keras' list of several gives a value per threshold; NumLstm logs one).", argument);
                if (!(given[0] is >= 0 and <= 1))
                    throw new ArgumentException($"{what}: Thresholds = {Describe(given)} not supported (Keras raises: threshold values must be in [0, 1]).", argument);
            }
            return;
        }
        if (config.Thresholds is { } list && list.Any(t => !double.IsFinite(t)))
            throw new ArgumentException($"{what}: Thresholds = {Describe(list)} not supported (finite values, sorted by the metric).", argument);
        if (config.Thresholds is null && config.NumThresholds is int n && n <= 1)
            throw new ArgumentException($"{what}: NumThresholds = {n} not supported (Keras raises: `num_thresholds` must be an integer > 1).", argument);
        if (config.Curve is { } curve && curve is not ("ROC" or "roc" or "PR" or "pr"))
            throw new ArgumentException($"{what}: Curve = '{Truncated(curve)}' not supported (Keras raises: invalid AUC curve value; expected ROC or PR).", argument);
        if (config.SummationMethod is { } method && method is not ("interpolation" or "Interpolation" or "minoring" or "Minoring" or "majoring" or "Majoring"))
            throw new ArgumentException($"{what}: SummationMethod = '{Truncated(method)}' not supported (Keras raises: invalid AUC summation method value; expected interpolation, majoring or minoring).", argument);
    }

    private static string Describe(object value) => value switch
    {
        IReadOnlyList<double> list => "[" + string.Join(", ", list.Take(8).Select(t => t.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + (list.Count > 8 ? ", …" : "") + "]",
        string text => $"'{Truncated(text)}'",
        IFormattable number => number.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Truncated(string text) => text.Length <= 64 ? text : text[..64] + "…";

    /// <summary>A seed for the (epoch, batch) stream; batch −1 is the epoch's shuffle.</summary>
    internal static int DeriveSeed(int seed, int epoch, int batch)
    {
        ulong h = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)epoch * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(uint)(batch + 1) * 0x165667B19E3779F9UL;
        h ^= h >> 33; h *= 0xFF51AFD7ED558CCDUL; h ^= h >> 33;
        return (int)(h & 0x7FFFFFFF);
    }
}

/// <summary>How a metric is computed from a batch (<see cref="Trainer.ResolveMetric"/> maps the names to these).</summary>
internal enum MetricKind
{
    /// <summary>argmax of the prediction row equals the class label (Keras sparse_categorical_accuracy).</summary>
    SparseCategoricalAccuracy,
    /// <summary>argmax of the prediction row equals argmax of the target row (Keras categorical_accuracy).</summary>
    CategoricalAccuracy,
    /// <summary>Per element: the thresholded prediction equals the target; each sample's mean (Keras binary_accuracy).</summary>
    BinaryAccuracy,
    /// <summary>Per element |p − y|; each sample's mean (Keras mean_absolute_error).</summary>
    MeanAbsoluteError,
    /// <summary>Per element (p − y)²; each sample's mean (Keras mean_squared_error).</summary>
    MeanSquaredError,
    /// <summary>√ of the mean over the samples of each sample's mean (p − y)² (Keras root_mean_squared_error).</summary>
    RootMeanSquaredError,
    /// <summary>Per element 100·|y − p| / max(|y|, ε); each sample's mean (Keras mean_absolute_percentage_error).</summary>
    MeanAbsolutePercentageError,
    /// <summary>Per element (log(1 + max(p, ε)) − log(1 + max(y, ε)))²; each sample's mean (Keras mean_squared_logarithmic_error).</summary>
    MeanSquaredLogarithmicError,
    /// <summary>Per element log cosh(p − y); each sample's mean (Keras LogCoshError).</summary>
    LogCoshError,
    /// <summary>1 − residual / total sum of squares per output column over the whole epoch or set, averaged over the
    /// columns (Keras R2Score with its defaults; <see cref="R2ScoreState"/>). Not a mean of per-sample values.</summary>
    R2Score,
    /// <summary>TP / (TP + FP) at one threshold over every output of the epoch or set (Keras Precision; <see cref="ConfusionMetricState"/>).</summary>
    Precision,
    /// <summary>TP / (TP + FN) at one threshold over every output of the epoch or set (Keras Recall).</summary>
    Recall,
    /// <summary>The area under the ROC or PR curve from the confusion counts at each threshold (Keras AUC).</summary>
    Auc,
}

/// <summary>A metric as <see cref="Trainer.ResolveMetric"/> resolved it: the name it logs under, how it is computed, its options.</summary>
internal readonly record struct ResolvedMetric(string Name, MetricKind Kind, MetricConfig Config);
