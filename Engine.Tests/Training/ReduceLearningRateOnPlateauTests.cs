using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// ReduceLearningRateOnPlateau against Keras 3's keras/src/callbacks/reduce_lr_on_plateau.py, rule for rule: each case
/// feeds monitored values epoch by epoch and checks the rate after each epoch's end. The expected rates were worked
/// through by hand (comments) and agree with a plain transcription of Keras' on_epoch_end run over the same values.
/// </summary>
public class ReduceLearningRateOnPlateauTests
{
    private static readonly Sequential<float> Model =
        new StackSpec(2, new[] { 3 }, Bidirectional: false, OutputUnits: 1, Seed: 1).WithPlacement(LayerNormPlacement.None).Build<float>();

    private static EpochRecord Record(int epoch, double value, string monitor) => new()
    {
        Epoch = epoch,
        TrainLoss = monitor == "loss" ? value : 100,
        TrainMetric = monitor is not "loss" && !monitor.StartsWith("val_", StringComparison.Ordinal) ? value : 100,
        ValidationLoss = monitor == "val_loss" ? value : 100,
        ValidationMetric = monitor is not "val_loss" && monitor.StartsWith("val_", StringComparison.Ordinal) ? value : 100,
        LearningRate = 1, Seconds = 0, MaxGradientNorm = 0, MeanGradientNorm = 0,
        MaxLayerGradientNorms = new Dictionary<string, double>(), BatchLosses = Array.Empty<double>(),
    };

    /// <summary>The optimizer's rate after each epoch's end, starting from <paramref name="rate"/>.</summary>
    private static double[] RatesAfterEachEpoch(ReduceLearningRateOnPlateau callback, double[] values, double rate = 1.0, string metric = "accuracy")
    {
        var optimizer = new Adam<float>(Model.Parameters.ToList(), rate);
        callback.OnTrainBegin(new TrainingRun(Model, hasValidation: true, metric));
        var rates = new double[values.Length];
        for (int k = 0; k < values.Length; k++)
        {
            Assert.That(((ITrainingCallback)callback).OnEpochEnd(Record(k, values[k], callback.Monitor), optimizer), Is.False, "it never stops training");
            rates[k] = optimizer.LearningRate;
        }
        return rates;
    }

    private static readonly double[] Flat = Enumerable.Repeat(1.0, 8).ToArray();

    [Test]
    public void Defaults_AreKeras()
    {
        var callback = new ReduceLearningRateOnPlateau();
        Assert.That((callback.Monitor, callback.Factor, callback.Patience, callback.Mode, callback.MinDelta, callback.Cooldown, callback.MinRate),
            Is.EqualTo(("val_loss", 0.1, 10, EarlyStoppingMode.Auto, 1e-4, 0, 0.0)));
        // Patience 10 on a flat loss: epoch 0 improves on +∞, epochs 1–10 raise wait to 10; the rate falls at epoch 10's end.
        double[] rates = RatesAfterEachEpoch(callback, Enumerable.Repeat(1.0, 12).ToArray());
        Assert.That(rates[..10], Is.All.EqualTo(1.0));
        Assert.That(rates[10..], Is.All.EqualTo(0.1));
        Assert.That(callback.ReducedAt, Is.EqualTo(new[] { 10 }));
    }

    // Flat loss, patience 2: wait 1 at epoch 1, 2 at epoch 2 (reduce, wait 0), 1 at 3, 2 at 4 (reduce), ...
    [Test]
    public void FlatLoss_ReducesEveryPatienceEpochs()
    {
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 2), Flat),
            Is.EqualTo(new[] { 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125 }));
    }

    // Patience 0: every epoch that does not improve reduces (epoch 0 improves on +∞).
    [Test]
    public void PatienceZero_ReducesAtEveryEpochWithoutImprovement()
    {
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 0), Flat[..5]),
            Is.EqualTo(new[] { 1.0, 0.5, 0.25, 0.125, 0.0625 }));
    }

    // Cooldown 2, patience 2: reduce at epoch 2 (cooldown 2); epoch 3: cooldown 1, wait 0, still in cooldown, no count;
    // epoch 4: cooldown 0, wait 0, then out of cooldown: wait 1; epoch 5: wait 2, reduce (cooldown 2); epochs 6, 7 as 3, 4;
    // epoch 8 reduces.
    [Test]
    public void Cooldown_HoldsTheWaitAtZero_AndCountingResumesInTheEpochItEnds()
    {
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 2, cooldown: 2), Enumerable.Repeat(1.0, 10).ToArray()),
            Is.EqualTo(new[] { 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125 }));
        // Patience 1, cooldown 2: reduce at epoch 1; epoch 2 is in the cooldown (1 left) and does not count, though
        // patience 1 would reduce at once; epoch 3 ends the cooldown and reduces; and so on every second epoch.
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 1, cooldown: 2), Flat[..7]),
            Is.EqualTo(new[] { 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125 }));
        // Cooldown 1 with an improvement in it: reduce at 2; epoch 3 ends the cooldown and 0.5 improves (wait 0); epochs 4,
        // 5 reduce at 5; epoch 6 ends the cooldown and counts wait 1 in the same epoch; epoch 7 reduces.
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 2, cooldown: 1), new[] { 1, 1, 1, 0.5, 1, 1, 1, 1, 1 }),
            Is.EqualTo(new[] { 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125 }));
    }

    // minRate 0.05, factor 0.1: 1 → 0.1 → max(0.01, 0.05) = 0.05, then the rate is not above minRate and stays.
    [Test]
    public void MinRate_BoundsTheRate()
    {
        var callback = new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.1, patience: 1, minRate: 0.05);
        Assert.That(RatesAfterEachEpoch(callback, Flat), Is.EqualTo(new[] { 1.0, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05 }));
        Assert.That(callback.ReducedAt, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(callback.Wait, Is.EqualTo(5), "at minRate the wait keeps counting, as Keras' does (epochs 3–7)");
    }

    // minDelta 1e-4 (default): 0.99995 is not below 1 − 1e-4 (no improvement, reduce with patience 1); 0.9 is; 0.89995 is
    // not below 0.9 − 1e-4; 0.89 is; 0.95 is not.
    [Test]
    public void MinDelta_AnImprovementMustBeatTheBestByMoreThanIt()
    {
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "val_loss", factor: 0.5, patience: 1), new[] { 1.0, 0.99995, 0.9, 0.89995, 0.89, 0.95 }),
            Is.EqualTo(new[] { 1.0, 0.5, 0.5, 0.25, 0.25, 0.125 }));
    }

    // Keras 3 takes |min_delta| (monitor_callback.py, MonitorCallback.__init__: self.min_delta = abs(min_delta), the base
    // of ReduceLROnPlateau since mid-2025, keras-team/keras#21275), as its EarlyStopping does: −0.5 acts as 0.5, so a rise is no improvement
    // and 1.2 after 1 is none either (1.2 + 0.5 < 1 is false); only a fall by more than 0.5 is one.
    [Test]
    public void NegativeMinDelta_IsTakenAsItsAbsoluteValue_AsKeras3()
    {
        Assert.That(new ReduceLearningRateOnPlateau(minDelta: -0.5).MinDelta, Is.EqualTo(0.5));
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 1, minDelta: -0.5), new[] { 1.0, 1.2, 1.4 }),
            Is.EqualTo(new[] { 1.0, 0.5, 0.25 }));
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 1, minDelta: -0.5), new[] { 2.0, 1.6, 1.0 }),
            Is.EqualTo(new[] { 1.0, 0.5, 0.5 }));
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "val_accuracy", factor: 0.5, patience: 1, minDelta: -0.2), new[] { 0.5, 0.6, 0.8 }),
            Is.EqualTo(new[] { 1.0, 0.5, 0.5 }));
    }

    [Test]
    public void Mode_AutoMaximizesAccuracyOnly_AndMinMaxOverride()
    {
        double[] rising = { 0.5, 0.6, 0.6, 0.7, 0.7, 0.7 };
        // Auto on val_accuracy: 0.6 and 0.7 improve; epochs 2, 4 and 5 do not (patience 2: reduce at 5).
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "val_accuracy", factor: 0.5, patience: 2), rising),
            Is.EqualTo(new[] { 1.0, 1.0, 1.0, 1.0, 1.0, 0.5 }));
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "val_accuracy", factor: 0.5, patience: 2, mode: EarlyStoppingMode.Max), rising),
            Is.EqualTo(new[] { 1.0, 1.0, 1.0, 1.0, 1.0, 0.5 }));
        // Min on the same values: only epoch 0 improves; reduce at 2 and 4.
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "val_accuracy", factor: 0.5, patience: 2, mode: EarlyStoppingMode.Min), rising),
            Is.EqualTo(new[] { 1.0, 1.0, 0.5, 0.5, 0.25, 0.25 }));
        // Auto on mae (regression's metric) minimizes.
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "mae", factor: 0.5, patience: 1), new[] { 0.5, 0.4, 0.45 }, metric: "mae"),
            Is.EqualTo(new[] { 1.0, 1.0, 0.5 }));
    }

    // Auto follows the metric's direction, as Keras 3's MonitorCallback (m._direction), under every Keras name: "acc" is an
    // accuracy (maximized: 0.6 improves on 0.5, 0.55 does not and reduces), "mse" an error (minimized: 0.6 does not improve
    // and reduces at once, 0.55 is not below 0.5 either and reduces again).
    [TestCase("acc", new[] { 1.0, 1.0, 0.5 })]
    [TestCase("ACC", new[] { 1.0, 1.0, 0.5 })]
    [TestCase("CategoricalAccuracy", new[] { 1.0, 1.0, 0.5 })]
    [TestCase("mse", new[] { 1.0, 0.5, 0.25 })]
    [TestCase("RootMeanSquaredError", new[] { 1.0, 0.5, 0.25 })]
    [TestCase("mean_absolute_error", new[] { 1.0, 0.5, 0.25 })]
    public void Mode_Auto_FollowsTheMetricsDirection_WhateverItsKerasName(string metric, double[] expected)
    {
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "val_" + metric, factor: 0.5, patience: 1, minDelta: 0), new[] { 0.5, 0.6, 0.55 }, metric: metric),
            Is.EqualTo(expected));
    }

    // NaN is never better than the best (Keras' np.less is false): two NaN epochs reduce with patience 2.
    [Test]
    public void NaN_IsNotAnImprovement()
    {
        Assert.That(RatesAfterEachEpoch(new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 2), new[] { 1.0, double.NaN, double.NaN, 0.5 }),
            Is.EqualTo(new[] { 1.0, 1.0, 0.5, 0.5 }));
    }

    [Test]
    public void EachFit_StartsAfresh_FromTheOptimizersRate()
    {
        var callback = new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 2);
        var optimizer = new Adam<float>(Model.Parameters.ToList(), 1.0);
        var run = new TrainingRun(Model, hasValidation: true, "accuracy");
        ITrainingCallback asCallback = callback;
        callback.OnTrainBegin(run);
        foreach (int epoch in new[] { 0, 1 }) asCallback.OnEpochEnd(Record(epoch, 1.0, "loss"), optimizer);
        Assert.That((callback.Wait, callback.Best), Is.EqualTo((1, 1.0)));
        // A second Fit: best +∞ and wait 0 again (Keras' on_train_begin resets), so 1.0 improves and nothing is reduced.
        callback.OnTrainBegin(run);
        Assert.That((callback.Wait, callback.Best, callback.CooldownLeft), Is.EqualTo((0, double.PositiveInfinity, 0)));
        asCallback.OnEpochEnd(Record(2, 1.0, "loss"), optimizer);
        asCallback.OnEpochEnd(Record(3, 1.0, "loss"), optimizer);
        Assert.That(optimizer.LearningRate, Is.EqualTo(1.0));
        asCallback.OnEpochEnd(Record(4, 1.0, "loss"), optimizer);
        Assert.That(optimizer.LearningRate, Is.EqualTo(0.5));
        Assert.That(callback.ReducedAt, Is.EqualTo(new[] { 4 }), "epochs are numbered over Fit calls");
    }

    // Keras 3's published answers (keras/src/callbacks/reduce_lr_on_plateau_test.py): Adam(0.1), monitor val_loss, factor
    // 0.1, patience 1; min_delta 100 (or 10) makes every epoch after the first no improvement, whatever the losses are.
    // Keras keeps the rate in a float32 variable, so the rates agree to float32's precision.
    private static readonly double[] AnyLosses = [0.7, 0.6, 0.5, 0.4];

    [Test]
    public void KerasTestReducesLrWithModelFit_KnownAnswer()
    {
        // test_reduces_lr_with_model_fit: two epochs → 0.01.
        double[] rates = RatesAfterEachEpoch(new ReduceLearningRateOnPlateau("val_loss", factor: 0.1, patience: 1, minDelta: 100), AnyLosses[..2], rate: 0.1);
        Assert.That((float)rates[^1], Is.EqualTo(0.01f));
    }

    [Test]
    public void KerasTestHonorsMinLr_KnownAnswer()
    {
        // test_honors_min_lr: min_delta 10, min_lr 0.005, four epochs → 0.005 (0.1 → 0.01 → max(0.001, 0.005), then held).
        double[] rates = RatesAfterEachEpoch(new ReduceLearningRateOnPlateau("val_loss", factor: 0.1, patience: 1, minDelta: 10, minRate: 0.005), AnyLosses, rate: 0.1);
        Assert.That((float)rates[^1], Is.EqualTo(0.005f));
    }

    [Test]
    public void KerasTestCooldown_KnownAnswer()
    {
        // test_cooldown: cooldown 2, four epochs → reduced twice, 0.001 (assertAllClose: 1e-6).
        double[] rates = RatesAfterEachEpoch(new ReduceLearningRateOnPlateau("val_loss", factor: 0.1, patience: 1, minDelta: 100, cooldown: 2), AnyLosses, rate: 0.1);
        Assert.That(rates[^1], Is.EqualTo(0.001).Within(1e-6 + 1e-6 * 0.001));
    }

    [Test]
    public void BadOptions_AreNamed()
    {
        foreach (double factor in new[] { 1.0, 1.5, 0.0, -0.5, double.NaN })
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new ReduceLearningRateOnPlateau(factor: factor))!.ParamName, Is.EqualTo("factor"), $"factor {factor}");
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new ReduceLearningRateOnPlateau(patience: -1))!.ParamName, Is.EqualTo("patience"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new ReduceLearningRateOnPlateau(cooldown: -1))!.ParamName, Is.EqualTo("cooldown"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new ReduceLearningRateOnPlateau(minDelta: double.NaN))!.ParamName, Is.EqualTo("minDelta"));
        foreach (double minRate in new[] { -1e-3, double.NaN, double.PositiveInfinity })
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new ReduceLearningRateOnPlateau(minRate: minRate))!.ParamName, Is.EqualTo("minRate"), $"minRate {minRate}");
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new ReduceLearningRateOnPlateau(mode: (EarlyStoppingMode)7))!.ParamName, Is.EqualTo("mode"));
        Assert.Throws<ArgumentException>(() => new ReduceLearningRateOnPlateau(monitor: " "));
        var unknown = Assert.Throws<InvalidOperationException>(() =>
            new ReduceLearningRateOnPlateau(monitor: "val_loss").OnTrainBegin(new TrainingRun(Model, hasValidation: false, "accuracy")));
        Assert.That(unknown!.Message, Does.Contain("'val_loss'").And.Contain("loss, accuracy").And.Contain("ValidationSplit"));
    }
}
