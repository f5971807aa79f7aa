using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Losses;

/// <summary>
/// Huber, LogCosh, MeanSquaredLogarithmicError and MeanAbsolutePercentageError through the Trainer: each trains a small
/// LSTM regression (finite, falling loss); the metrics mape, msle and LogCoshError under every string Keras 3's
/// metrics.get takes for them, against values computed here from the predictions; and the refusals (class labels,
/// label smoothing, a bad δ, names Keras does not take), each message checked.
/// </summary>
public class RegressionLossTrainingTests
{
    private static readonly string[] NewLosses = ["huber", "log_cosh", "msle", "mean_squared_logarithmic_error", "mape", "mean_absolute_percentage_error"];

    // (metric string, which metric it is): every key of keras/src/metrics/__init__.py's ALL_OBJECTS_DICT for the three.
    private static readonly (string Name, string Kind)[] NewMetrics =
    [
        ("mape", "mape"), ("MAPE", "mape"), ("mean_absolute_percentage_error", "mape"), ("MeanAbsolutePercentageError", "mape"),
        ("msle", "msle"), ("MSLE", "msle"), ("mean_squared_logarithmic_error", "msle"), ("MeanSquaredLogarithmicError", "msle"),
        ("log_cosh_error", "logcosh"), ("LogCoshError", "logcosh"),
    ];

    /// <summary>
    /// count sequences of 4 steps × 2 features in [−1, 1]; two targets per sequence in [1, 2] (positive, so MAPE and
    /// MSLE read them as Keras would without the ε guard): 1.5 + ½ tanh of the mean of feature 0, and of the last step's
    /// feature 1. An LSTM(8) → Dense(2) model.
    /// </summary>
    private static (SequenceDataset Data, float[] Targets, Trainer Trainer) Regression(int count, int seed = 3)
    {
        const int steps = 4, features = 2;
        var random = new Random(seed);
        float[] x = Enumerable.Range(0, count * steps * features).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] targets = new float[count * 2];
        for (int n = 0; n < count; n++)
        {
            double mean = Enumerable.Range(0, steps).Average(t => x[(n * steps + t) * features]);
            targets[n * 2] = (float)(1.5 + 0.5 * Math.Tanh(2 * mean));
            targets[n * 2 + 1] = (float)(1.5 + 0.5 * Math.Tanh(x[(n * steps + steps - 1) * features + 1]));
        }
        SequenceDataset data = SequenceDataset.ForRegression(x, count, steps, features, targets, 2);
        Sequential<float> model = ModelBuilder.Input(features).Lstm(8).Dense(2).Build<float>(seed: 1);
        return (data, targets, new Trainer(model));
    }

    private static SequenceDataset Labels()
    {
        var random = new Random(4);
        return SequenceDataset.ForClassification(Enumerable.Range(0, 12 * 4 * 2).Select(_ => (float)random.NextDouble()).ToArray(),
            12, 4, 2, Enumerable.Range(0, 12).Select(n => n % 2).ToArray(), 2);
    }

    [TestCaseSource(nameof(NewLosses))]
    public void Fit_WithTheLoss_LogsAFiniteFallingLoss_AndMaeByDefault(string loss)
    {
        (SequenceDataset data, _, Trainer trainer) = Regression(32);
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 25, BatchSize = 8, Loss = loss, LearningRate = 0.01, Seed = 2 });
        double[] losses = history.Epochs.Select(e => e.TrainLoss).ToArray();
        Assert.That(losses, Has.Length.EqualTo(25));
        Assert.That(losses, Is.All.Matches<double>(double.IsFinite), string.Join(", ", losses));
        Assert.That(losses[^1], Is.LessThan(0.5 * losses[0]), string.Join(", ", losses));
        Assert.That(history.MetricName, Is.EqualTo("mae"), "the default metric of a regression loss, as for mse and mae");
        // The logged loss is the loss on the batches: after training, Evaluate's loss is that loss of the whole set.
        double evaluated = trainer.Evaluate(data, loss, batchSize: 32).Loss;
        ILoss<float> named = Loss.FromName<float>(loss);
        float[] predictions = trainer.Predict(data, batchSize: 32);
        double direct = named.Forward(predictions, LossTargets<float>.FromValues(data.Targets!), Span<float>.Empty);
        Assert.That(evaluated, Is.EqualTo(direct).Within(1e-6 * Math.Max(1, Math.Abs(direct))));
    }

    /// <summary>The metrics as Keras defines them, per element, in double, from the predictions.</summary>
    private static double ByHand(string kind, double p, double y)
    {
        double epsilon = (double)1e-7f;   // keras.config.epsilon() in float32
        return kind switch
        {
            "mape" => 100 * Math.Abs((y - p) / Math.Max(Math.Abs(y), epsilon)),
            "msle" => Math.Pow(Math.Log(Math.Max(p, epsilon) + 1) - Math.Log(Math.Max(y, epsilon) + 1), 2),
            _ => Math.Log(Math.Cosh(p - y)),
        };
    }

    // Batches of 7, 7, 7 and 2 over 23 sequences: the epoch's value is the mean over the samples of each sample's mean.
    [Test]
    public void NewMetrics_UnderEveryKerasName_AreMeansOverTheSamples_LoggedUnderTheGivenName_AndMinimized()
    {
        const int count = 23, batch = 7;
        (SequenceDataset data, float[] targets, Trainer trainer) = Regression(count);
        float[] predictions = trainer.Predict(data, batchSize: batch);
        foreach ((string metric, string kind) in NewMetrics)
        {
            double expected = Enumerable.Range(0, count).Average(n => (ByHand(kind, predictions[2 * n], targets[2 * n])
                + ByHand(kind, predictions[2 * n + 1], targets[2 * n + 1])) / 2);
            double tolerance = 1e-12 * Math.Max(1, expected);
            Assert.That(trainer.Evaluate(data, "mse", batchSize: batch, metric: metric).Metric, Is.EqualTo(expected).Within(tolerance), metric);
            TrainingHistory history = trainer.Fit(data, new TrainingOptions
            {
                Epochs = 1, BatchSize = batch, Shuffle = false, Metric = metric, Validation = data,
                OptimizerFactory = (parameters, _) => new Sgd<float>(parameters, learningRate: 0),   // the weights stay as evaluated
            });
            Assert.That(history.LoggedNames, Is.EqualTo(new[] { "loss", metric, "val_loss", "val_" + metric }));
            Assert.That(history.Epochs[0].TrainMetric, Is.EqualTo(expected).Within(tolerance), metric);
            Assert.That(history.Epochs[0].ValidationMetric, Is.EqualTo(expected).Within(tolerance), metric);
            // Keras' _direction = "down" for the three: EarlyStopping and ReduceLROnPlateau in Auto minimize them.
            Assert.That(Trainer.IsAccuracyMetric(metric), Is.False, metric);
            Assert.That(new TrainingRun(trainer.Model, true, metric).MetricIncreases, Is.False, metric);
            Assert.That(Trainer.MetricNames, Does.Contain(metric));
        }
    }

    [Test]
    public void EarlyStopping_InAuto_MinimizesANewMetric()
    {
        // Training on mape lowers val_mape epoch after epoch: minimized (Auto), patience 3 never runs out in 10 epochs;
        // taken as rising (Max), the run stops after epoch 1 + 3.
        int EpochsRun(EarlyStoppingMode mode)
        {
            (SequenceDataset data, _, Trainer trainer) = Regression(32);
            return trainer.Fit(data, new TrainingOptions
            {
                Epochs = 10, BatchSize = 8, Loss = "mape", Metric = "mape", Validation = data, LearningRate = 0.01, Seed = 2,
                Callbacks = { new EarlyStopping("val_mape", patience: 3, mode: mode) },
            }).Epochs.Count;
        }
        Assert.That(EpochsRun(EarlyStoppingMode.Auto), Is.EqualTo(10));
        Assert.That(EpochsRun(EarlyStoppingMode.Max), Is.EqualTo(4));
    }

    [Test]
    public void NewMetrics_WithClassLabels_AreRefused()
    {
        var trainer = new Trainer(ModelBuilder.Input(2).Lstm(4).Dense(2).Build<float>(seed: 1));
        foreach ((string metric, _) in NewMetrics)
        {
            var error = Assert.Throws<ArgumentException>(() => trainer.Evaluate(Labels(), metric: metric))!;
            Assert.That(error.Message, Is.EqualTo($"Metric '{metric}' needs real-valued targets, but the dataset has class labels. (Parameter 'metric')"));
        }
    }

    [TestCaseSource(nameof(NewLosses))]
    public void NewLosses_WithClassLabels_OrLabelSmoothing_AreRefused(string loss)
    {
        var trainer = new Trainer(ModelBuilder.Input(2).Lstm(4).Dense(2).Build<float>(seed: 1));
        var labels = Assert.Throws<ArgumentException>(() => trainer.Evaluate(Labels(), loss))!;
        Assert.That(labels.Message, Does.Contain($"Loss '{Loss.FromName<float>(loss).Name}' needs real-valued targets, but the dataset is a Classification task"));
        (SequenceDataset data, _, _) = Regression(8);
        var smoothing = Assert.Throws<ArgumentException>(() => trainer.Fit(data, new TrainingOptions { Loss = loss, LabelSmoothing = 0.1 }))!;
        Assert.That(smoothing.Message, Does.Contain("LabelSmoothing = 0.1").And.Contain($"loss '{Loss.FromName<float>(loss).Name}' has no label smoothing"));
        var direct = Assert.Throws<ArgumentException>(() => Loss.FromName<double>(loss, labelSmoothing: 0.1))!;
        Assert.That(direct.Message, Does.StartWith($"Loss '{loss}' has no label smoothing (got labelSmoothing = 0.1)"));
        Assert.That(direct.ParamName, Is.EqualTo("labelSmoothing"));
        Assert.That(Loss.FromName<double>(loss, labelSmoothing: 0), Is.Not.Null);
    }

    [Test]
    public void FromName_TakesKerasNames_CaseInsensitively_AndListsThem()
    {
        Assert.That(Loss.FromName<float>("huber"), Is.InstanceOf<Huber<float>>());
        Assert.That(((Huber<float>)Loss.FromName<float>("Huber")).Delta, Is.EqualTo(1.0), "Keras' class name; δ = 1.0, Keras' default");
        Assert.That(Loss.FromName<float>("log_cosh"), Is.InstanceOf<LogCosh<float>>());
        Assert.That(Loss.FromName<double>("msle"), Is.InstanceOf<MeanSquaredLogarithmicError<double>>());
        Assert.That(Loss.FromName<double>("MSLE"), Is.InstanceOf<MeanSquaredLogarithmicError<double>>());
        Assert.That(Loss.FromName<double>("mean_squared_logarithmic_error"), Is.InstanceOf<MeanSquaredLogarithmicError<double>>());
        Assert.That(Loss.FromName<double>("mape"), Is.InstanceOf<MeanAbsolutePercentageError<double>>());
        Assert.That(Loss.FromName<double>("MAPE"), Is.InstanceOf<MeanAbsolutePercentageError<double>>());
        Assert.That(Loss.FromName<double>("mean_absolute_percentage_error"), Is.InstanceOf<MeanAbsolutePercentageError<double>>());
        foreach (string name in NewLosses)
        {
            Assert.That(Loss.Names, Does.Contain(name));
            ILoss<float> loss = Loss.FromName<float>(name);
            Assert.That(Loss.FromName<float>(loss.Name).GetType(), Is.EqualTo(loss.GetType()), "Name round-trips");
            Assert.That(loss.TargetKind, Is.EqualTo(LossTargetKind.Values));
        }
        // Keras 3's losses.get has no "logcosh" (a Keras 2 alias, keras._legacy only) and no "huber_loss" (Huber's default name).
        foreach (string refused in new[] { "logcosh", "huber_loss", "log_cosh_error" })
        {
            var error = Assert.Throws<ArgumentException>(() => Loss.FromName<float>(refused))!;
            Assert.That(error.Message, Does.StartWith($"Unknown loss '{refused}': expected one of").And.Contain("log_cosh, msle"));
        }
    }

    [Test]
    public void Huber_RefusesADeltaThatIsNotPositiveAndFiniteInT()
    {
        foreach (double delta in new[] { 0.0, -1.0, double.NaN, double.PositiveInfinity, 1e-50, 1e39 })
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => new Huber<float>(delta))!;
            Assert.That(error.ParamName, Is.EqualTo("delta"));
            Assert.That(error.Message, Does.StartWith($"Huber: delta must be positive and finite (as Single), got {delta}."));
            Assert.That(error.ActualValue, Is.EqualTo(delta));
        }
        foreach (double delta in new[] { 0.0, -0.5, double.NaN, double.NegativeInfinity })
            Assert.That(() => new Huber<double>(delta), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contain("(as Double), got"));
        // 1e-50 and 1e39 are fine in double; δ is rounded to T as Keras converts it to the predictions' dtype.
        Assert.That(new Huber<double>(1e-50).Delta, Is.EqualTo(1e-50));
        Assert.That(new Huber<double>(1e39).Delta, Is.EqualTo(1e39));
        Assert.That(new Huber<float>(0.1).Delta, Is.EqualTo((double)0.1f));
        Assert.That(new Huber<float>().Delta, Is.EqualTo(1.0));
    }
}
