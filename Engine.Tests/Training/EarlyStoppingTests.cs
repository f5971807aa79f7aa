using NumLstm.Models;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// EarlyStopping against Keras 3's keras/src/callbacks/early_stopping.py, rule for rule: each case feeds monitored values
/// epoch by epoch and checks the epoch it stops at (the expected counts are worked through in each case's comment).
/// </summary>
public class EarlyStoppingTests
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
        LearningRate = 1e-3, Seconds = 0, MaxGradientNorm = 0, MeanGradientNorm = 0,
        MaxLayerGradientNorms = new Dictionary<string, double>(), BatchLosses = Array.Empty<double>(),
    };

    /// <summary>Epochs run before the callback stops training (all of them if it never does).</summary>
    private static int EpochsRun(EarlyStopping stopping, double[] values, int firstEpoch = 0, string metric = "accuracy", Action<int>? atEpochEnd = null)
    {
        var run = new TrainingRun(Model, hasValidation: true, metric);
        stopping.OnTrainBegin(run);
        for (int k = 0; k < values.Length; k++)
        {
            atEpochEnd?.Invoke(firstEpoch + k);
            if (stopping.OnEpochEnd(Record(firstEpoch + k, values[k], stopping.Monitor))) { stopping.OnTrainEnd(run); return k + 1; }
        }
        stopping.OnTrainEnd(run);
        return values.Length;
    }

    private static readonly double[] Flat = Enumerable.Repeat(1.0, 20).ToArray();

    // Keras' docstring example: monitor='loss', patience=3 on a loss that never improves after epoch 0: "Only 4 epochs
    // are run." Epoch 0 improves on +∞ (wait 0); epochs 1, 2, 3 raise wait to 1, 2, 3; 3 ≥ 3 stops at epoch 3.
    [TestCase(0, 2)]
    [TestCase(1, 2)]   // epoch 1: wait 1 ≥ 1 (epoch 0 never stops: "and epoch > 0")
    [TestCase(2, 3)]
    [TestCase(3, 4)]
    [TestCase(5, 6)]
    public void Patience_OnAFlatLoss_RunsPatiencePlusOneEpochs(int patience, int expected)
    {
        Assert.That(EpochsRun(new EarlyStopping(monitor: "loss", patience: patience), Flat), Is.EqualTo(expected));
    }

    // Keras 3's early_stopping_test.py, test_early_stopping_patience: stopped_epoch == max(patience, 1) + 2.
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void Patience_KerasKnownAnswer(int patience)
    {
        var stopping = new EarlyStopping(monitor: "loss", patience: patience);
        EpochsRun(stopping, new[] { 10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5 });
        Assert.That(stopping.StoppedEpoch, Is.EqualTo(Math.Max(patience, 1) + 2));
    }

    [Test]
    public void Defaults_AreKeras()
    {
        var stopping = new EarlyStopping();
        Assert.That((stopping.Monitor, stopping.MinDelta, stopping.Patience, stopping.Mode, stopping.Baseline, stopping.RestoreBestWeights, stopping.StartFromEpoch),
            Is.EqualTo(("val_loss", 0.0, 0, EarlyStoppingMode.Auto, (double?)null, false, 0)));
        Assert.That(new EarlyStopping(minDelta: -0.5).MinDelta, Is.EqualTo(0.5), "Keras takes abs(min_delta)");
    }

    [Test]
    public void ImprovingEveryEpoch_NeverStops()
    {
        double[] falling = Enumerable.Range(0, 10).Select(k => 10.0 - k).ToArray();
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_loss"), falling), Is.EqualTo(10));
    }

    [Test]
    public void MinDelta_AChangeSmallerThanItIsNoImprovement()
    {
        // patience 2, min_delta 0.1: epoch 0 best 1.0; epoch 1: 0.95 + 0.1 < 1.0 is false, wait 1; epoch 2: wait 2 ≥ 2, stop.
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_loss", minDelta: 0.1, patience: 2), new[] { 1.0, 0.95, 0.95, 0.5, 0.4 }), Is.EqualTo(3));
        // 0.85 + 0.1 < 1.0 is an improvement: wait resets at epoch 1, then 0.8 is not (0.9 ≥ 0.85): wait 1, 2 → stop at epoch 3.
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_loss", minDelta: 0.1, patience: 2), new[] { 1.0, 0.85, 0.8, 0.8, 0.1 }), Is.EqualTo(4));
    }

    [Test]
    public void Baseline_AnImprovementThatMissesItDoesNotResetTheWait_ButSkipsTheStopCheck()
    {
        // Improving but above the baseline 0.5: each improvement returns before the stop check, so training goes on.
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_loss", patience: 1, baseline: 0.5), new[] { 1.0, 0.9, 0.8, 0.7 }), Is.EqualTo(4));
        // Epoch 0 improves on +∞ but not on the baseline: wait stays 1. Epoch 1 is worse: wait 2 ≥ 2, stop.
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_loss", patience: 2, baseline: 0.5), new[] { 1.0, 1.1, 1.2, 1.3 }), Is.EqualTo(2));
        // Beating the baseline resets the wait as usual.
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_loss", patience: 2, baseline: 0.5), new[] { 0.4, 1.1, 1.2, 1.3 }), Is.EqualTo(3));
    }

    [Test]
    public void StartFromEpoch_IgnoresTheWarmUpEpochs()
    {
        // Epochs 0 and 1 are not monitored; epoch 2 improves on +∞; epoch 3 is worse: wait 1 ≥ 0, stop.
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_loss", startFromEpoch: 2), new[] { 5.0, 6.0, 7.0, 8.0, 9.0 }), Is.EqualTo(4));
    }

    [Test]
    public void Mode_AutoMaximizesAccuracy_AndMinMaxOverride()
    {
        double[] accuracy = { 0.5, 0.6, 0.55, 0.7 };
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_accuracy"), accuracy), Is.EqualTo(3), "auto: accuracy improves upwards");
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_accuracy", mode: EarlyStoppingMode.Min), accuracy), Is.EqualTo(2));
        Assert.That(EpochsRun(new EarlyStopping(monitor: "mae"), new[] { 0.5, 0.4, 0.45 }, metric: "mae"), Is.EqualTo(3), "auto: mae improves downwards");
        Assert.That(EpochsRun(new EarlyStopping(monitor: "loss", mode: EarlyStoppingMode.Max), new[] { 0.5, 0.6, 0.55 }), Is.EqualTo(3));
    }

    // Keras 3 takes Auto's direction from the metric object (MonitorCallback._set_monitor_op: m._direction), not from the
    // name: metrics=["acc"] logs "acc", an accuracy, maximized; the errors under any of their names are minimized. With
    // patience 2, maximized: epochs 1 and 3 improve (wait 1 at epoch 2), so all 4 run; minimized: epochs 1 and 2 are
    // worse than epoch 0, wait 2 ≥ 2 stops at epoch 2, 3 run.
    [TestCase("acc", 4)]
    [TestCase("ACC", 4)]
    [TestCase("Accuracy", 4)]
    [TestCase("BinaryAccuracy", 4)]
    [TestCase("sparse_categorical_accuracy", 4)]
    [TestCase("mse", 3)]
    [TestCase("MeanSquaredError", 3)]
    [TestCase("root_mean_squared_error", 3)]
    [TestCase("MAE", 3)]
    public void Mode_Auto_FollowsTheMetricsDirection_WhateverItsKerasName(string metric, int expected)
    {
        double[] values = { 0.5, 0.6, 0.55, 0.7 };
        Assert.That(EpochsRun(new EarlyStopping(monitor: "val_" + metric, patience: 2), values, metric: metric), Is.EqualTo(expected));
        Assert.That(EpochsRun(new EarlyStopping(monitor: metric, patience: 2), values, metric: metric), Is.EqualTo(expected));
    }

    // Keras 3 (early_stopping.py, on_train_begin: self.best = None; test_early_stopping_reuse_across_models) starts every
    // fit afresh: a second Fit is not compared with the first one's best.
    [Test]
    public void ASecondFit_StartsAfresh_WithNoBest_AsKeras()
    {
        var stopping = new EarlyStopping(monitor: "val_loss", patience: 2);
        Assert.That(stopping.Best, Is.Null, "no best before the first monitored epoch (Keras' None)");
        Assert.That(EpochsRun(stopping, new[] { 0.1, 0.5, 0.6 }), Is.EqualTo(3));
        Assert.That((stopping.Wait, stopping.Best), Is.EqualTo((2, (double?)0.1)));
        // Second Fit, epochs 3.. : 0.7 is its first monitored value, an improvement on no best (wait 0); 0.8 and 0.9 raise
        // the wait to 1 and 2 ≥ 2: stop at the third epoch. Against the first Fit's best 0.1 it would stop at the second.
        Assert.That(EpochsRun(stopping, new[] { 0.7, 0.8, 0.9, 1.0 }, firstEpoch: 3), Is.EqualTo(3));
        Assert.That((stopping.StoppedEpoch, stopping.BestEpoch, stopping.Best), Is.EqualTo((5, 3, (double?)0.7)));
    }

    // _is_improvement(value, None) is True: the first monitored value of a Fit is the best, whatever it is (NaN and ±∞
    // included), and a NaN best is never beaten afterwards (NaN comparisons are false).
    [Test]
    public void TheFirstMonitoredValue_IsAlwaysAnImprovement_EvenNaN()
    {
        // Epoch 0: NaN becomes the best (wait 0); epoch 1: 1.0 < NaN is false, wait 1 ≥ 1 at epoch 1 > 0: stop.
        var stopping = new EarlyStopping(monitor: "val_loss", patience: 1);
        Assert.That(EpochsRun(stopping, new[] { double.NaN, 1.0, 0.5 }), Is.EqualTo(2));
        Assert.That(stopping.Best, Is.NaN);
        // +∞ first (max mode: −∞) is the best too; 1.0 then improves on it.
        stopping = new EarlyStopping(monitor: "val_loss", patience: 1);
        Assert.That(EpochsRun(stopping, new[] { double.PositiveInfinity, 1.0, 2.0 }), Is.EqualTo(3));
        Assert.That(stopping.BestEpoch, Is.EqualTo(1));
        stopping = new EarlyStopping(monitor: "val_accuracy", patience: 0, startFromEpoch: 1);
        Assert.That(EpochsRun(stopping, new[] { 0.9, double.NegativeInfinity, 0.1 }), Is.EqualTo(3));
        Assert.That(stopping.BestEpoch, Is.EqualTo(2));
        // A NaN after the first epoch is no improvement: wait 1, then 2 ≥ 2.
        stopping = new EarlyStopping(monitor: "val_loss", patience: 2);
        Assert.That(EpochsRun(stopping, new[] { 1.0, double.NaN, double.NaN, 0.5 }), Is.EqualTo(3));
    }

    [TestCase(new[] { 1.0, 0.5, 0.7, 0.8 }, 1, 4)]   // best at epoch 1; stops at epoch 3 (wait 2)
    [TestCase(new[] { 1.0, 2.0, 3.0 }, 0, 3)]        // never improves after epoch 0: epoch 0's weights
    [TestCase(new[] { 1.0, 0.5, 0.7 }, 1, 3)]        // Fit ends without an early stop: Keras 3 restores anyway
    public void RestoreBestWeights_PutsBackTheBestEpochsWeights(double[] values, int bestEpoch, int epochs)
    {
        var stopping = new EarlyStopping(monitor: "val_loss", patience: 2, restoreBestWeights: true);
        var weightsAt = new Dictionary<int, float[]>();
        int run = EpochsRun(stopping, values, atEpochEnd: epoch =>
        {
            foreach (var p in Model.Parameters) Array.Fill(p.Value, epoch + 0.25f);   // the weights "trained" in this epoch
            weightsAt[epoch] = Model.Parameters.SelectMany(p => p.Value.ToArray()).ToArray();
        });
        Assert.That(run, Is.EqualTo(epochs));
        Assert.That(stopping.BestEpoch, Is.EqualTo(bestEpoch));
        Assert.That(Model.Parameters.SelectMany(p => p.Value.ToArray()).ToArray(), Is.EqualTo(weightsAt[bestEpoch]));
    }

    // Keras 3's early_stopping_test.py, test_early_stopping_final_weights_when_restoring_model_weights, case by case
    // (the model's "weights" are the epoch they were set at): the best epoch is restored when patience runs out, when no
    // epoch beats the baseline (5 epochs, epoch 2 restored), and when another callback stops training.
    [Test]
    public void RestoreBestWeights_KerasKnownAnswers()
    {
        float[] Weights() => Model.Parameters.SelectMany(p => p.Value.ToArray()).ToArray();
        void SetWeightsToEpoch(int epoch) { foreach (var p in Model.Parameters) Array.Fill(p.Value, (float)epoch); }
        float[] EpochWeights(int epoch) { SetWeightsToEpoch(epoch); return Weights(); }

        var stopping = new EarlyStopping(monitor: "val_loss", patience: 2, restoreBestWeights: true);
        Assert.That(EpochsRun(stopping, new[] { 0.2, 0.15, 0.1, 0.11, 0.12 }, atEpochEnd: SetWeightsToEpoch), Is.EqualTo(5));
        Assert.That(Weights(), Is.EqualTo(EpochWeights(2)));

        stopping = new EarlyStopping(monitor: "val_loss", patience: 5, baseline: 0.5, restoreBestWeights: true);
        Assert.That(EpochsRun(stopping, new[] { 0.9, 0.8, 0.7, 0.71, 0.72, 0.73 }, atEpochEnd: SetWeightsToEpoch), Is.EqualTo(5));
        Assert.That(Weights(), Is.EqualTo(EpochWeights(2)));

        // Another callback stops training at epoch 3: Fit still calls OnTrainEnd, which restores epoch 2.
        stopping = new EarlyStopping(monitor: "val_loss", patience: 5, baseline: 0.5, restoreBestWeights: true);
        var run = new TrainingRun(Model, hasValidation: true, "accuracy");
        stopping.OnTrainBegin(run);
        double[] losses = { 0.9, 0.8, 0.7, 0.71 };
        for (int epoch = 0; epoch < losses.Length; epoch++)
        {
            SetWeightsToEpoch(epoch);
            Assert.That(stopping.OnEpochEnd(Record(epoch, losses[epoch], "val_loss")), Is.False);
        }
        stopping.OnTrainEnd(run);
        Assert.That(Weights(), Is.EqualTo(EpochWeights(2)));
    }

    [Test]
    public void BadArguments_AreNamed()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new EarlyStopping(patience: -1))!.ParamName, Is.EqualTo("patience"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new EarlyStopping(minDelta: double.NaN))!.ParamName, Is.EqualTo("minDelta"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new EarlyStopping(baseline: double.PositiveInfinity))!.ParamName, Is.EqualTo("baseline"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new EarlyStopping(startFromEpoch: -2))!.ParamName, Is.EqualTo("startFromEpoch"));
        Assert.Throws<ArgumentException>(() => new EarlyStopping(monitor: " "));
    }
}
