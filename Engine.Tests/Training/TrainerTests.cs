using System.Globalization;
using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

public class TrainerTests
{
    private static SequenceDataset SignTask(int count, int seed)
    {
        // Class = whether the sum of the first channel over a variable-length sequence is positive: learnable, needs memory.
        var random = new Random(seed);
        const int steps = 8, features = 2;
        var x = new float[count * steps * features];
        var labels = new int[count];
        var lengths = new int[count];
        for (int n = 0; n < count; n++)
        {
            lengths[n] = 3 + random.Next(steps - 2);
            double sum = 0;
            for (int t = 0; t < lengths[n]; t++)
            {
                float v = (float)(random.NextDouble() * 2 - 1);
                x[(n * steps + t) * features] = v;
                x[(n * steps + t) * features + 1] = (float)random.NextDouble();
                sum += v;
            }
            labels[n] = sum > 0 ? 1 : 0;
        }
        return SequenceDataset.ForClassification(x, count, steps, features, labels, 2, lengths);
    }

    private static Sequential<float> SmallModel(LayerNormPlacement placement, int seed = 1)
        => new StackSpec(2, new[] { 8 }, Bidirectional: true, Dropout: 0.1, RecurrentDropout: 0.1, OutputUnits: 2, Seed: seed).WithPlacement(placement).Build<float>();

    [Test]
    public void Fit_OnALearnableTask_DrivesTheLossDown()
    {
        SequenceDataset data = SignTask(256, 3);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.AfterEachRecurrent));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 12, BatchSize = 32, LearningRate = 1e-2, Seed = 5, ValidationSplit = 0.25 });
        Assert.That(history.Epochs, Has.Count.EqualTo(12));
        Assert.That(history.Epochs[^1].TrainLoss, Is.LessThan(0.6 * history.Epochs[0].TrainLoss));
        Assert.That(history.Epochs[^1].ValidationMetric, Is.GreaterThan(0.8));
        Assert.That(history.Epochs[^1].MaxLayerGradientNorms.Keys, Is.EquivalentTo(trainer.Model.Layers.Select(l => l.Name)));
        Assert.That(history.Epochs[^1].BatchLosses, Has.Count.EqualTo(6));
    }

    [Test]
    public void LabelSmoothing_IsInTheReportedLossAndValLoss_NotInTheAccuracy_AndMseRefusesIt()
    {
        SequenceDataset data = SignTask(64, 3);
        SequenceDataset validation = SignTask(32, 4);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 32, Seed = 5, Validation = validation, LabelSmoothing = 0.2 });
        // Validation runs with the epoch's final weights, as Evaluate does after Fit: the smoothed loss, Keras' val_loss.
        (double smoothed, double accuracy) = trainer.Evaluate(validation, labelSmoothing: 0.2);
        (double plain, double plainAccuracy) = trainer.Evaluate(validation);
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(smoothed));
        Assert.That(smoothed, Is.Not.EqualTo(plain).Within(1e-6), "smoothing changes the loss");
        Assert.That((history.Epochs[0].ValidationMetric, accuracy), Is.EqualTo((plainAccuracy, plainAccuracy)), "and not the accuracy");

        var withMse = Assert.Throws<ArgumentException>(() => new Trainer(SmallModel(LayerNormPlacement.None)).Fit(
            SequenceDataset.ForRegression(data.X, data.Count, data.Steps, data.Features, new float[data.Count * 2], 2, data.Lengths),
            new TrainingOptions { Epochs = 1, LabelSmoothing = 0.1 }));
        Assert.That(withMse!.Message, Does.Contain("TrainingOptions.LabelSmoothing").And.Contain("'mse'"));
        var outside = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(data, new TrainingOptions { Epochs = 1, LabelSmoothing = 1.5 }));
        Assert.That(outside!.ParamName, Is.EqualTo("LabelSmoothing"));
    }

    [Test]
    public void Fit_SameSeedAndData_GivesBitwiseIdenticalWeights()
    {
        SequenceDataset data = SignTask(96, 4);
        float[] Run(int seed)
        {
            var trainer = new Trainer(SmallModel(LayerNormPlacement.InCell(CellNormalization.TfAddons)));
            trainer.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 16, Seed = seed });
            return trainer.Model.Parameters.SelectMany(p => p.Value).ToArray();
        }
        float[] first = Run(7);
        Assert.That(Run(7), Is.EqualTo(first));
        Assert.That(Run(8), Is.Not.EqualTo(first), "a different seed must change the result (shuffle and dropout)");
    }

    [Test]
    public void Fit_WithExplodingLearningRate_StopsWithAClearErrorAndKeepsFiniteWeights()
    {
        SequenceDataset signs = SignTask(64, 5);
        var targets = signs.Labels!.Select(l => (float)l * 100).ToArray();
        SequenceDataset data = SequenceDataset.ForRegression(signs.X, signs.Count, signs.Steps, signs.Features, targets, 1, signs.Lengths);
        var model = new StackSpec(2, new[] { 8 }, Bidirectional: false, OutputUnits: 1).WithPlacement(LayerNormPlacement.None).Build<float>();
        var trainer = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), learningRate: 1e15));
        var error = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(data, new TrainingOptions { Epochs = 5, BatchSize = 8 }));
        Assert.That(error!.Message, Does.Contain("epoch").And.Contain("batch"));
        Assert.That(model.Parameters.SelectMany(p => p.Value).All(float.IsFinite), Is.True, "the last good weights are kept");
    }

    [Test]
    public void EarlyStopping_InFit_StopsAtTheKerasEpoch()
    {
        // A learning rate of 1e-9 leaves the loss flat to far below minDelta: epoch 0 improves on +∞, epoch 1 does not,
        // and with patience 1 Keras stops there (wait 1 ≥ 1 at epoch 1 > 0): two epochs.
        SequenceDataset data = SignTask(64, 6);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        var stopping = new EarlyStopping(monitor: "loss", patience: 1, minDelta: 1e-3);
        var options = new TrainingOptions { Epochs = 50, BatchSize = 64, LearningRate = 1e-9, Callbacks = { stopping } };
        TrainingHistory history = trainer.Fit(data, options);
        Assert.That(history.StoppedEarly, Is.True);
        Assert.That(history.Epochs.Count, Is.EqualTo(2));
        Assert.That(stopping.StoppedEpoch, Is.EqualTo(1));
    }

    [Test]
    public void ReduceLearningRateOnPlateau_InFit_LowersTheRateForTheNextEpochs_AndTheOptimizerKeepsIt()
    {
        // A rate of 1e-9 leaves the loss flat to far below minDelta: epoch 0 improves on +∞, epochs 1 and 2 raise the wait
        // to 2, so with patience 2 the rate halves at epoch 2's end and epoch 3 trains at it; epoch 4's end halves it again.
        SequenceDataset data = SignTask(64, 6);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        var plateau = new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 2, minDelta: 1e-3);
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 5, BatchSize = 64, LearningRate = 1e-9, Callbacks = { plateau } });
        Assert.That(history.Epochs.Select(e => e.LearningRate), Is.EqualTo(new[] { 1e-9, 1e-9, 1e-9, 0.5e-9, 0.5e-9 }));
        Assert.That(plateau.ReducedAt, Is.EqualTo(new[] { 2, 4 }));
        Assert.That(trainer.Optimizer!.LearningRate, Is.EqualTo(0.25e-9), "the rate set at the last epoch's end stays with the optimizer");
        Assert.That(history.StoppedEarly, Is.False);
    }

    [Test]
    public void EarlyStopping_MonitorsValLossByDefault_AndSaysWhenTheRunDoesNotLogIt()
    {
        SequenceDataset data = SignTask(32, 6);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        var error = Assert.Throws<InvalidOperationException>(() =>
            trainer.Fit(data, new TrainingOptions { Epochs = 3, Callbacks = { new EarlyStopping() } }));
        Assert.That(error!.Message, Does.Contain("'val_loss'").And.Contain("loss, accuracy").And.Contain("ValidationSplit"));
        Assert.That(trainer.CompletedEpochs, Is.EqualTo(0), "the check runs before the first epoch");
        var unknown = Assert.Throws<InvalidOperationException>(() =>
            trainer.Fit(data, new TrainingOptions { Epochs = 3, ValidationSplit = 0.25, Callbacks = { new EarlyStopping(monitor: "val_mae") } }));
        Assert.That(unknown!.Message, Does.Contain("'val_mae'").And.Contain("val_accuracy"));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 2, ValidationSplit = 0.25, Callbacks = { new EarlyStopping(patience: 5) } });
        Assert.That(history.Epochs.Count, Is.EqualTo(2));
    }

    [Test]
    public void LearningRateSchedule_ReceivesTheCurrentRate_AsKeras()
    {
        SequenceDataset data = SignTask(32, 7);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        var seen = new List<(int Epoch, double Rate)>();
        var halving = new LearningRateSchedule((epoch, lr) => { seen.Add((epoch, lr)); return lr * 0.5; });
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 3, BatchSize = 32, LearningRate = 0.01, Callbacks = { halving } });
        Assert.That(seen, Is.EqualTo(new[] { (0, 0.01), (1, 0.005), (2, 0.0025) }), "Keras passes optimizer.learning_rate as it stands");
        Assert.That(history.Epochs.Select(e => e.LearningRate), Is.EqualTo(new[] { 0.005, 0.0025, 0.00125 }));
        var byEpoch = new LearningRateSchedule(epoch => 0.1 / (epoch + 1));
        history = trainer.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 32, Callbacks = { byEpoch } });
        Assert.That(history.Epochs.Select(e => e.LearningRate), Is.EqualTo(new[] { 0.1 / 4, 0.1 / 5 }), "epochs count over Fit calls");
    }

    [Test]
    public void LearningRateSchedule_StepDecay_MultipliesStepByStep_AsStepLRsStepDoes()
    {
        // PyTorch's StepLR.step() sets lr = group["lr"] * gamma at each decay, so after two decays of 0.001 by 0.1 the rate
        // is (0.001 * 0.1) * 0.1, which Python prints as 1e-05; the closed form 0.001 * 0.1 ** 2 is 1.0000000000000003e-05.
        var optimizer = new Adam<float>(SmallModel(LayerNormPlacement.None).Parameters.ToList(), 0.001);
        ITrainingCallback schedule = LearningRateSchedule.StepDecay(0.1, 1);
        var rates = new List<double>();
        for (int epoch = 0; epoch < 4; epoch++)
        {
            schedule.OnEpochBegin(epoch, optimizer);
            rates.Add(optimizer.LearningRate);
        }
        Assert.That(rates, Is.EqualTo(new[] { 0.001, 0.0001, 1e-05, 1.0000000000000002e-06 }));
        Assert.That(rates[2], Is.Not.EqualTo(0.001 * Math.Pow(0.1, 2)), "the closed form differs in the last bit here");
        // every = 3: epoch 9 is three decays (chained: 0.003 * 0.3 * 0.3 * 0.3 = 8.1e-05 as Python prints it, where
        // 0.003 * 0.3 ** 3 is 8.099999999999999e-05); epoch 8 is two.
        schedule = LearningRateSchedule.StepDecay(0.3, 3);
        optimizer = new Adam<float>(SmallModel(LayerNormPlacement.None).Parameters.ToList(), 0.003);
        schedule.OnEpochBegin(9, optimizer);
        Assert.That(optimizer.LearningRate, Is.EqualTo(8.1e-05));
        Assert.That(optimizer.LearningRate, Is.Not.EqualTo(0.003 * Math.Pow(0.3, 3)));
        schedule.OnEpochBegin(8, optimizer);
        Assert.That(optimizer.LearningRate, Is.EqualTo(0.003 * 0.3 * 0.3));
    }

    [Test]
    public void StepDecay_TorchTestStepLr_KnownAnswer()
    {
        // PyTorch's test/optim/test_lrscheduler.py, test_step_lr: StepLR(gamma=0.1, step_size=3) from lr 0.05, ten epochs:
        // 0.05 ×3, 0.005 ×3, 0.0005 ×3, 0.00005 (torch checks atol 1e-5; these are the chained products, 1e-15 relative).
        var optimizer = new Adam<float>(SmallModel(LayerNormPlacement.None).Parameters.ToList(), 0.05);
        ITrainingCallback schedule = LearningRateSchedule.StepDecay(0.1, 3);
        double[] expected = [0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.0005, 0.0005, 0.0005, 0.00005];
        for (int epoch = 0; epoch < expected.Length; epoch++)
        {
            schedule.OnEpochBegin(epoch, optimizer);
            Assert.That(optimizer.LearningRate, Is.EqualTo(expected[epoch]).Within(1e-15 * expected[epoch]), $"epoch {epoch}");
        }
    }

    [Test]
    public void LearningRateSchedule_KerasLearningRateSchedulerTests_KnownAnswers()
    {
        // keras/src/callbacks/learning_rate_scheduler_test.py: test_updates_learning_rate (schedule 1/(2 + epoch), one
        // epoch → 0.5) and test_schedule_dependent_on_previous_learning_rate (lr/2 from Adam(0.03), two epochs → 0.03/4).
        var optimizer = new Adam<float>(SmallModel(LayerNormPlacement.None).Parameters.ToList(), 0.01);
        ITrainingCallback byEpoch = new LearningRateSchedule(epoch => 1.0 / (2.0 + epoch));
        byEpoch.OnEpochBegin(0, optimizer);
        Assert.That(optimizer.LearningRate, Is.EqualTo(0.5));
        optimizer = new Adam<float>(SmallModel(LayerNormPlacement.None).Parameters.ToList(), 0.03);
        ITrainingCallback halving = new LearningRateSchedule((epoch, lr) => lr / 2);
        for (int epoch = 0; epoch < 2; epoch++) halving.OnEpochBegin(epoch, optimizer);
        Assert.That(optimizer.LearningRate, Is.EqualTo(0.03 / 4.0));
    }

    [Test]
    public void LearningRateSchedule_StepDecay_DecaysFromTheFirstRate_AndBadRatesAreNamed()
    {
        SequenceDataset data = SignTask(32, 7);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 4, BatchSize = 32, LearningRate = 0.01, Callbacks = { LearningRateSchedule.StepDecay(0.5, 2) } });
        Assert.That(history.Epochs.Select(e => e.LearningRate), Is.EqualTo(new[] { 0.01, 0.01, 0.005, 0.005 }));
        var error = Assert.Throws<InvalidOperationException>(() =>
            trainer.Fit(data, new TrainingOptions { Epochs = 1, Callbacks = { new LearningRateSchedule((e, lr) => double.NaN) } }));
        Assert.That(error!.Message, Does.Contain("NaN").And.Contain("epoch 4"));
    }

    // Epoch numbers run up to int.MaxValue (CompletedEpochs is settable, and counts over Fit calls): the chained decay
    // stops multiplying once the rate can no longer change (factor 1, or the rate at 0 or ∞) instead of taking up to
    // 2^31 multiplications at every epoch's start (seconds each).
    [Test]
    public void StepDecay_AtALateEpoch_IsImmediate_WhenTheRateCanNoLongerChange()
    {
        var model = SmallModel(LayerNormPlacement.None);
        var optimizer = new Adam<float>(model.Parameters.ToList(), 0.01);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        LearningRateSchedule.StepDecay(1.0, 1).OnEpochBegin(int.MaxValue - 1, optimizer);
        Assert.That(optimizer.LearningRate, Is.EqualTo(0.01));
        var overflow = Assert.Throws<InvalidOperationException>(() => LearningRateSchedule.StepDecay(2.0, 1).OnEpochBegin(int.MaxValue - 1, optimizer));
        Assert.That(overflow!.Message, Does.Contain("∞").Or.Contain("Infinity"));
        LearningRateSchedule.StepDecay(0.5, 1).OnEpochBegin(int.MaxValue - 1, optimizer);
        Assert.That(optimizer.LearningRate, Is.EqualTo(0.0));
        Assert.That(watch.Elapsed.TotalSeconds, Is.LessThan(0.5));
        Assert.That(LearningRateSchedule.ChainedDecay(0.01, 0.1, 2), Is.EqualTo(0.01 * 0.1 * 0.1), "the chained form is unchanged");
    }

    [Test]
    public void StepDecay_AfterACheckpoint_DecaysFromTheInitialRate_NotTheDecayedOne()
    {
        SequenceDataset data = SignTask(32, 7);
        var whole = new Trainer(SmallModel(LayerNormPlacement.None));
        TrainingHistory uninterrupted = whole.Fit(data, new TrainingOptions { Epochs = 6, BatchSize = 32, LearningRate = 0.01, Callbacks = { LearningRateSchedule.StepDecay(0.5, 2) } });
        var first = new Trainer(SmallModel(LayerNormPlacement.None));
        TrainingHistory before = first.Fit(data, new TrainingOptions { Epochs = 3, BatchSize = 32, LearningRate = 0.01, Callbacks = { LearningRateSchedule.StepDecay(0.5, 2) } });
        string path = Path.Combine(Path.GetTempPath(), $"numlstm-stepdecay-{Guid.NewGuid():N}.safetensors");
        try
        {
            Checkpoint.Save(first, path);
            Trainer resumed = Checkpoint.Load(path);
            Assert.That((resumed.Optimizer!.LearningRate, resumed.Optimizer.InitialLearningRate), Is.EqualTo((0.005, 0.01)));
            TrainingHistory after = resumed.Fit(data, new TrainingOptions { Epochs = 3, BatchSize = 32, LearningRate = 0.01, Callbacks = { LearningRateSchedule.StepDecay(0.5, 2) } });
            Assert.That(before.Epochs.Concat(after.Epochs).Select(e => e.LearningRate), Is.EqualTo(uninterrupted.Epochs.Select(e => e.LearningRate)));
            Assert.That(uninterrupted.Epochs.Select(e => e.LearningRate), Is.EqualTo(new[] { 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025 }));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void Checkpoint_KeepsTheAdamFormula()
    {
        SequenceDataset data = SignTask(32, 7);
        var model = SmallModel(LayerNormPlacement.None);
        var trainer = new Trainer(model, new Adam<float>(model.Parameters.ToList(), 0.01, formula: AdamFormula.Keras));
        trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 32 });
        string path = Path.Combine(Path.GetTempPath(), $"numlstm-kerasadam-{Guid.NewGuid():N}.safetensors");
        try
        {
            Checkpoint.Save(trainer, path);
            var adam = Checkpoint.Load(path).Optimizer as Adam<float>;
            Assert.That(adam?.Formula, Is.EqualTo(AdamFormula.Keras));
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// One epoch with the optimizer <paramref name="create"/> builds, a checkpoint, then one more epoch from it: the
    /// parameters must equal two uninterrupted epochs' bit for bit. <paramref name="checkLoaded"/> inspects the trainer the
    /// checkpoint loaded (its optimizer's options) before it continues.
    /// </summary>
    private static void AssertCheckpointResumesBitwise(Func<Sequential<float>, Optimizer<float>> create, LayerNormPlacement placement,
        Action<Trainer, Trainer> checkLoaded)
    {
        SequenceDataset data = SignTask(32, 7);
        TrainingOptions Options(int epochs) => new() { Epochs = epochs, BatchSize = 16, Seed = 5 };
        var model = SmallModel(placement);
        var first = new Trainer(model, create(model));
        first.Fit(data, Options(1));
        var uninterruptedModel = SmallModel(placement);
        new Trainer(uninterruptedModel, create(uninterruptedModel)).Fit(data, Options(2));
        string path = Path.Combine(Path.GetTempPath(), $"numlstm-optimizer-{Guid.NewGuid():N}.safetensors");
        try
        {
            Checkpoint.Save(first, path);
            Trainer resumed = Checkpoint.Load(path);
            checkLoaded(first, resumed);
            resumed.Fit(data, Options(1));
            Assert.That(resumed.Model.Parameters.SelectMany(p => p.Value).ToArray(), Is.EqualTo(uninterruptedModel.Parameters.SelectMany(p => p.Value).ToArray()));
        }
        finally { File.Delete(path); }
    }

    // EpochCompleted runs after the callbacks, so a checkpoint written from it holds the rate ReduceLearningRateOnPlateau
    // set at that epoch's end (it held the rate before the reduction, and a resumed run trained on at the old rate).
    [Test]
    public void EpochCompleted_RunsAfterTheCallbacks_SoACheckpointHoldsAReducedRate()
    {
        SequenceDataset data = SignTask(32, 7);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        var seen = new List<double>();
        string path = Path.Combine(Path.GetTempPath(), $"numlstm-reduced-{Guid.NewGuid():N}.safetensors");
        try
        {
            trainer.EpochCompleted = (t, _) =>
            {
                seen.Add(t.Optimizer!.LearningRate);
                Checkpoint.Save(t, path);
            };
            // minDelta 1e9: only the first epoch is an improvement, so with patience 0 every later epoch halves the rate.
            trainer.Fit(data, new TrainingOptions
            {
                Epochs = 3, BatchSize = 16, Seed = 5, LearningRate = 1e-3,
                Callbacks = { new ReduceLearningRateOnPlateau(monitor: "loss", factor: 0.5, patience: 0, minDelta: 1e9) },
            });
            Assert.That(seen, Is.EqualTo(new[] { 1e-3, 5e-4, 2.5e-4 }).Within(1e-15));
            Assert.That(Checkpoint.Load(path).Optimizer!.LearningRate, Is.EqualTo(trainer.Optimizer!.LearningRate));
            Assert.That(trainer.Optimizer!.LearningRate, Is.EqualTo(2.5e-4).Within(1e-15));
        }
        finally { File.Delete(path); }
    }

    [TestCase(RmsPropFormula.PyTorch)]
    [TestCase(RmsPropFormula.Keras)]
    public void Checkpoint_KeepsRmsProp_AndResumesItBitwise(RmsPropFormula formula)
        => AssertCheckpointResumesBitwise(
            m => new RmsProp<float>(m.Parameters.ToList(), 0.01, rho: 0.8, epsilon: 1e-6, momentum: 0.5, centered: true, weightDecay: 1e-4, formula: formula),
            LayerNormPlacement.None, (_, resumed) =>
            {
                var rmsProp = resumed.Optimizer as RmsProp<float>;
                Assert.That((rmsProp?.Rho, rmsProp?.Epsilon, rmsProp?.Momentum, rmsProp?.Centered, rmsProp?.WeightDecay, rmsProp?.Formula),
                    Is.EqualTo(((double?)0.8, (double?)1e-6, (double?)0.5, (bool?)true, (double?)1e-4, (RmsPropFormula?)formula)));
                Assert.That(rmsProp?.DecoupledWeightDecay, Is.EqualTo(formula == RmsPropFormula.Keras), "Keras's weight decay is decoupled");
            });

    private static IEnumerable<TestCaseData> CheckpointedOptimizers()
    {
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Adagrad<float>(m.Parameters.ToList(), 0.02, initialAccumulatorValue: 0.05, epsilon: 1e-6, lrDecay: 0.1, weightDecay: 1e-4)),
            "Adagrad 0.05 1E-06 0.1 0.0001 False PyTorch").SetArgDisplayNames("Adagrad");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Adagrad<float>(m.Parameters.ToList(), 0.02, formula: AdagradFormula.Keras)),
            "Adagrad 0.1 1E-07 0 0 True Keras").SetArgDisplayNames("Adagrad, Keras");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Adagrad<float>(m.Parameters.ToList(), 0.02, weightDecay: 1e-3, formula: AdagradFormula.Keras)),
            "Adagrad 0.1 1E-07 0 0.001 True Keras").SetArgDisplayNames("Adagrad, Keras, decoupled decay");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Adamax<float>(m.Parameters.ToList(), 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 1e-4)),
            "Adamax 0.8 0.99 1E-06 0.0001 False PyTorch").SetArgDisplayNames("Adamax");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Adamax<float>(m.Parameters.ToList(), 0.01, weightDecay: 1e-3, decoupledWeightDecay: true)),
            "Adamax 0.9 0.999 1E-07 0.001 True PyTorch").SetArgDisplayNames("Adamax, decoupled decay");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Adamax<float>(m.Parameters.ToList(), 0.01, formula: AdamFormula.Keras)),
            "Adamax 0.9 0.999 1E-07 0 True Keras").SetArgDisplayNames("Adamax, Keras");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new NAdam<float>(m.Parameters.ToList(), 0.01, beta1: 0.8, epsilon: 1e-6, weightDecay: 1e-4, momentumDecay: 0.1, decoupledWeightDecay: true)),
            "NAdam 0.8 0.999 1E-06 0.0001 0.1 True PyTorch").SetArgDisplayNames("NAdam");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new NAdam<float>(m.Parameters.ToList(), 0.01, formula: AdamFormula.Keras)),
            "NAdam 0.9 0.999 1E-07 0 1 True Keras").SetArgDisplayNames("NAdam, Keras");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new NAdam<float>(m.Parameters.ToList(), 0.01, weightDecay: 1e-3, decoupledWeightDecay: false, formula: AdamFormula.Keras)),
            "NAdam 0.9 0.999 1E-07 0.001 1 False Keras").SetArgDisplayNames("NAdam, Keras, L2");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Sgd<float>(m.Parameters.ToList(), 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4, formula: SgdFormula.Keras)),
            "SGD 0.9 0 True 0.0001 True Keras").SetArgDisplayNames("SGD, Keras");
        // Coupled under Keras's formula: the state has no decoupled_weight_decay, as every state written before the option.
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Sgd<float>(m.Parameters.ToList(), 0.05, momentum: 0.9, weightDecay: 1e-3, formula: SgdFormula.Keras, decoupledWeightDecay: false)),
            "SGD 0.9 0 False 0.001 False Keras").SetArgDisplayNames("SGD, Keras, L2");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Adam<float>(m.Parameters.ToList(), 0.01, weightDecay: 1e-3, formula: AdamFormula.Keras)),
            "Adam 0.001 True Keras").SetArgDisplayNames("Adam, Keras, decoupled decay");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new Adam<float>(m.Parameters.ToList(), 0.01, weightDecay: 1e-3, decoupledWeightDecay: true)),
            "Adam 0.001 True PyTorch").SetArgDisplayNames("Adam, decoupled decay");
        yield return new TestCaseData((Func<Sequential<float>, Optimizer<float>>)(m => new AdamW<float>(m.Parameters.ToList(), 0.01, formula: AdamFormula.Keras)),
            "AdamW 0.01 True Keras").SetArgDisplayNames("AdamW, Keras");
    }

    [Test]
    public void Checkpoint_KeepsTheParametersExcludedFromWeightDecay_AndResumesBitwise()
        => AssertCheckpointResumesBitwise(m =>
            {
                // AdamW sparing the LayerNorms' γ and β, as the usual practice does.
                var adamW = new AdamW<float>(m.Parameters.ToList(), 0.01, weightDecay: 0.1, formula: AdamFormula.Keras);
                adamW.ExcludeFromWeightDecay(m.Layers.OfType<LayerNorm<float>>().SelectMany(l => l.Parameters));
                return adamW;
            }, LayerNormPlacement.AfterEachRecurrent, (first, resumed) =>
            {
                Assert.That(first.Optimizer!.WeightDecayExcluded, Is.Not.Empty);
                Assert.That(resumed.Optimizer!.WeightDecayExcluded, Is.EqualTo(first.Optimizer!.WeightDecayExcluded));
            });

    [TestCaseSource(nameof(CheckpointedOptimizers))]
    public void Checkpoint_KeepsTheOptimizersOptionsAndFormula_AndResumesThemBitwise(Func<Sequential<float>, Optimizer<float>> create, string options)
        => AssertCheckpointResumesBitwise(create, LayerNormPlacement.None, (_, resumed) =>
        {
            string loaded = resumed.Optimizer switch
            {
                Adagrad<float> a => string.Create(CultureInfo.InvariantCulture, $"Adagrad {a.InitialAccumulatorValue} {a.Epsilon} {a.LrDecay} {a.WeightDecay} {a.DecoupledWeightDecay} {a.Formula}"),
                Adamax<float> a => string.Create(CultureInfo.InvariantCulture, $"Adamax {a.Beta1} {a.Beta2} {a.Epsilon} {a.WeightDecay} {a.DecoupledWeightDecay} {a.Formula}"),
                Adam<float> a => string.Create(CultureInfo.InvariantCulture, $"{a.Kind} {a.WeightDecay} {a.DecoupledWeightDecay} {a.Formula}"),
                NAdam<float> a => string.Create(CultureInfo.InvariantCulture, $"NAdam {a.Beta1} {a.Beta2} {a.Epsilon} {a.WeightDecay} {a.MomentumDecay} {a.DecoupledWeightDecay} {a.Formula}"),
                Sgd<float> a => string.Create(CultureInfo.InvariantCulture, $"SGD {a.Momentum} {a.Dampening} {a.Nesterov} {a.WeightDecay} {a.DecoupledWeightDecay} {a.Formula}"),
                var other => $"{other?.Kind}",
            };
            Assert.That(loaded, Is.EqualTo(options));
        });

    [Test]
    public void LearningRateSchedule_MayWarmUpFromZero_AsPyTorchAllows()
    {
        SequenceDataset data = SignTask(32, 7);
        var model = SmallModel(LayerNormPlacement.None);
        float[] initial = model.Parameters.SelectMany(p => p.Value).ToArray();
        var trainer = new Trainer(model);
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 32, LearningRate = 0.01, Callbacks = { new LearningRateSchedule(epoch => epoch * 0.01) } });
        Assert.That(history.Epochs.Select(e => e.LearningRate), Is.EqualTo(new[] { 0.0, 0.01 }));
        Assert.That(model.Parameters.SelectMany(p => p.Value).ToArray(), Is.Not.EqualTo(initial), "epoch 1 trains");
    }

    private static Sequential<float> SoftmaxModel() => ModelBuilder.Input(2).Lstm(6).Dense(2, Activation.Softmax).Build<float>(seed: 3);

    [Test]
    public void CrossEntropy_AfterASoftmaxLayer_ReadsProbabilities_AsKerasLossNames()
    {
        SequenceDataset data = SignTask(24, 5);
        var trainer = new Trainer(SoftmaxModel());
        float[] probabilities = trainer.Predict(data);
        double expected = 0;
        for (int n = 0; n < data.Count; n++)
        {
            float p = Math.Clamp(probabilities[n * 2 + data.Labels![n]], 1e-7f, 1 - 1e-7f);
            expected -= Math.Log(p);
        }
        expected /= data.Count;
        (double loss, _) = trainer.Evaluate(data);
        Assert.That(loss, Is.EqualTo(expected).Within(1e-5), "−log p_y of the softmax outputs, not of softmax(softmax)");
        (double twice, _) = trainer.Evaluate(data, fromLogits: false);
        Assert.That(twice, Is.EqualTo(loss));
        var error = Assert.Throws<ArgumentException>(() => trainer.Fit(data, new TrainingOptions { FromLogits = true }));
        Assert.That(error!.Message, Does.Contain("FromLogits = true").And.Contain("Softmax").And.Contain("dense"));
        Assert.That(trainer.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 8 }).Epochs.All(e => double.IsFinite(e.TrainLoss)), Is.True);
    }

    [Test]
    public void CrossEntropy_AfterASoftmaxLayerAndDropout_ReadsProbabilities()
    {
        // Dense(softmax) → Dropout: the Dropout is the identity outside training, so the model's outputs are the softmax's
        // probabilities and the default loss reads them as such (Keras: from_logits=False), as without the Dropout.
        SequenceDataset data = SignTask(24, 5);
        var plain = new Trainer(SoftmaxModel());
        var withDropout = new Trainer(ModelBuilder.Input(2).Lstm(6).Dense(2, Activation.Softmax).Dropout(0.25).Build<float>(seed: 3));
        Assert.That(withDropout.Predict(data), Is.EqualTo(plain.Predict(data)), "same weights, Dropout the identity at inference");
        (double expected, _) = plain.Evaluate(data);
        (double loss, _) = withDropout.Evaluate(data);
        Assert.That(loss, Is.EqualTo(expected), "−log p_y of the softmax outputs, not of softmax(softmax)");
        var error = Assert.Throws<ArgumentException>(() => withDropout.Fit(data, new TrainingOptions { FromLogits = true }));
        Assert.That(error!.Message, Does.Contain("FromLogits = true").And.Contain("Softmax").And.Contain("dense"));
    }

    [Test]
    public void CategoricalCrossEntropy_OnOneHotTargets_EqualsTheSparseLossOnLabels()
    {
        SequenceDataset labelled = SignTask(24, 5);
        var oneHot = new float[labelled.Count * 2];
        for (int n = 0; n < labelled.Count; n++) oneHot[n * 2 + labelled.Labels![n]] = 1;
        SequenceDataset rows = SequenceDataset.ForRegression(labelled.X, labelled.Count, labelled.Steps, labelled.Features, oneHot, 2, labelled.Lengths);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        (double sparse, _) = trainer.Evaluate(labelled, batchSize: 5);
        (double categorical, _) = trainer.Evaluate(rows, "categorical_crossentropy", batchSize: 5);
        Assert.That(categorical, Is.EqualTo(sparse).Within(1e-6));
        Assert.That(trainer.Fit(rows, new TrainingOptions { Loss = "categorical_crossentropy", Epochs = 1, BatchSize = 8 }).Epochs, Has.Count.EqualTo(1));
    }

    [Test]
    public void Fit_ThatWouldOverflowTheEpochCounter_IsRefusedBeforeTraining()
    {
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None)) { CompletedEpochs = int.MaxValue - 1 };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(SignTask(8, 1), new TrainingOptions { Epochs = 2 }));
        Assert.That(error!.Message, Does.Contain("overflow").And.Contain("2147483646"));
        Assert.That(trainer.Fit(SignTask(8, 1), new TrainingOptions { Epochs = 1 }).Epochs, Has.Count.EqualTo(1), "the last epoch fits");
    }

    // Keras' History: history.history maps each logged key (loss, the metric, val_loss, val_ + metric) to its value per
    // epoch, and history.epoch lists the epochs run.
    [Test]
    public void History_HoldsKerasLogKeys_WithTheirValuesPerEpoch()
    {
        SequenceDataset data = SignTask(24, 5);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 8, ValidationSplit = 0.25 });
        Assert.That(history.LoggedNames, Is.EqualTo(new[] { "loss", "accuracy", "val_loss", "val_accuracy" }));
        Assert.That(history.History.Keys, Is.EqualTo(history.LoggedNames));
        Assert.That(history.History["loss"], Is.EqualTo(history.Epochs.Select(e => e.TrainLoss)));
        Assert.That(history.History["accuracy"], Is.EqualTo(history.Epochs.Select(e => e.TrainMetric)));
        Assert.That(history.History["val_loss"], Is.EqualTo(history.Epochs.Select(e => e.ValidationLoss!.Value)));
        Assert.That(history.History["val_accuracy"], Is.EqualTo(history.Epochs.Select(e => e.ValidationMetric!.Value)));
        Assert.That(history.Epoch, Is.EqualTo(new[] { 0, 1 }));

        TrainingHistory second = trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 8 });
        Assert.That(second.History.Keys, Is.EqualTo(new[] { "loss", "accuracy" }), "no val_ keys without validation");
        Assert.That(second.Epoch, Is.EqualTo(new[] { 2 }), "epochs count over Fit calls (initial_epoch)");
    }

    [Test]
    public void TrainingOptions_Defaults_AreKeras()
    {
        var options = new TrainingOptions();
        Assert.That((options.Epochs, options.BatchSize, options.Shuffle, options.LearningRate), Is.EqualTo((1, 32, true, 1e-3)));
    }

    [TestCase(10, 0.25, 7)]   // Keras: floor(10 · 0.75) = 7 (rounding would give 8)
    [TestCase(10, 0.3, 7)]    // floor(7.000000000000001)
    [TestCase(10, 0.1, 9)]
    [TestCase(7, 0.5, 3)]
    public void ValidationSplit_HoldsOutTheLastPart_FlooringTheTrainingCount_AsKeras(int count, double split, int trainCount)
    {
        SequenceDataset data = SignTask(count, 9);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 4, ValidationSplit = split, Shuffle = false });
        int[] held = Enumerable.Range(trainCount, count - trainCount).ToArray();
        int[] other = Enumerable.Range(trainCount - 1, count - trainCount + 1).ToArray();
        (double expected, _) = trainer.Evaluate(data.Subset(held), batchSize: 4);
        (double wrong, _) = trainer.Evaluate(data.Subset(other), batchSize: 4);
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(expected), $"the last {count - trainCount} sequences validate");
        Assert.That(wrong, Is.Not.EqualTo(expected), "a split one sequence off must give another loss");
    }

    // Keras masks inside the model, so ragged validation sequences are masked whatever the training data holds. Here the
    // mask comes from each dataset's lengths, and the default (UseMask unset) decides per dataset as Evaluate does: a
    // training part of full-length sequences must not switch the mask off for a ragged held-out part (it was decided
    // from the training part alone, and the validation loss read the padding as data).
    [Test]
    public void Fit_RaggedValidationSequences_AreMasked_EvenWhenTheTrainingSequencesAreFullLength()
    {
        const int count = 10, steps = 8, features = 2;
        var random = new Random(21);
        var x = new float[count * steps * features];
        var labels = new int[count];
        int[] lengths = { 8, 8, 8, 8, 8, 8, 8, 8, 3, 5 };   // the split's last 2 are short, the first 8 full length
        for (int n = 0; n < count; n++)
        {
            for (int k = 0; k < lengths[n] * features; k++) x[n * steps * features + k] = (float)(random.NextDouble() * 2 - 1);
            labels[n] = n % 2;
        }
        SequenceDataset data = SequenceDataset.ForClassification(x, count, steps, features, labels, 2, lengths);
        int[] held = { 8, 9 };

        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 4, ValidationSplit = 0.2, Shuffle = false });
        (double masked, _) = trainer.Evaluate(data.Subset(held), batchSize: 4);
        (double unmasked, _) = trainer.Evaluate(data.Subset(held), batchSize: 4, useMask: false);
        Assert.That(masked, Is.Not.EqualTo(unmasked).Within(1e-6), "the padding must change the loss when read as data");
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(masked), "the held-out part is ragged: masked");

        // The same with a validation set given: full-length training data, ragged validation data.
        var second = new Trainer(SmallModel(LayerNormPlacement.None));
        SequenceDataset fullLength = data.Subset(Enumerable.Range(0, 8).ToArray());
        history = second.Fit(fullLength, new TrainingOptions { Epochs = 1, BatchSize = 4, Validation = data.Subset(held), Shuffle = false });
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(second.Evaluate(data.Subset(held), batchSize: 4).Loss));
    }

    // Keras 3's loss tracker is a Mean updated once per batch with sample_weight = the batch size
    // (keras/src/backend/*/trainer.py: _loss_tracker.update_state(loss, sample_weight=x.shape[0])), and accuracy is a
    // per-sample mean: with a short last batch the epoch's values are the means over samples, not over batches.
    [Test]
    public void Fit_EpochLossAndMetric_AreMeansOverSamples_WeightingEachBatchByItsSize_AsKerasLossTracker()
    {
        SequenceDataset data = SignTask(10, 12);   // batches of 4, 4 and 2
        var model = new StackSpec(2, new[] { 5 }, Bidirectional: false, OutputUnits: 2, Seed: 3).WithPlacement(LayerNormPlacement.None).Build<float>();
        var trainer = new Trainer(model);
        // SGD with rate 0 leaves the weights as they are, and there is no dropout: every batch sees the same model,
        // so the epoch's numbers are those of the model on the whole set, one sequence at a time.
        EpochRecord record = trainer.Fit(data, new TrainingOptions
        {
            Epochs = 1, BatchSize = 4, Shuffle = false,
            OptimizerFactory = (parameters, _) => new Sgd<float>(parameters, learningRate: 0),
        }).Epochs[0];
        (double perSampleLoss, double perSampleAccuracy) = trainer.Evaluate(data, batchSize: 1);
        Assert.That(record.TrainLoss, Is.EqualTo(perSampleLoss).Within(1e-6));
        Assert.That(record.TrainMetric, Is.EqualTo(perSampleAccuracy).Within(1e-12));
        double meanOfBatchMeans = new[] { 0..4, 4..8, 8..10 }
            .Select(r => trainer.Evaluate(data.Subset(Enumerable.Range(r.Start.Value, r.End.Value - r.Start.Value).ToArray()), batchSize: 4).Loss).Average();
        Assert.That(Math.Abs(meanOfBatchMeans - perSampleLoss), Is.GreaterThan(1e-4), "the data must tell the two weightings apart");
    }

    // binary_accuracy: per target element, the thresholded prediction against the 0/1 target, each sample's mean. Logits
    // are thresholded at 0 (σ > 0.5). With several target columns Keras resolves metrics=["accuracy"] to categorical
    // accuracy (compile_utils.py: the output is not one wide and the targets have the predictions' rank), whatever the
    // loss, so the binary form is asked for by name; with one column "accuracy" is binary accuracy.
    [TestCase(false)]
    [TestCase(true)]   // a Sigmoid output: probabilities, thresholded at 0.5
    public void BinaryCrossEntropy_BinaryAccuracy_PerTargetElement(bool sigmoidOutput)
    {
        const int count = 23, width = 3;
        (SequenceDataset data, float[] targets, Trainer trainer) = MultiLabel(count, width, sigmoidOutput ? Activation.Sigmoid : Activation.Linear);
        float[] predictions = trainer.Predict(data);
        float threshold = sigmoidOutput ? 0.5f : 0f;
        int matches = Enumerable.Range(0, predictions.Length).Count(k => targets[k] == (predictions[k] > threshold ? 1f : 0f));
        Assert.That(matches, Is.InRange(1, predictions.Length - 2), "the model must get some elements right and some wrong");
        (double _, double metric) = trainer.Evaluate(data, "binary_crossentropy", batchSize: 7, metric: "binary_accuracy");
        Assert.That(metric, Is.EqualTo((double)matches / predictions.Length).Within(1e-12));

        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 1, Loss = "binary_crossentropy", BatchSize = 8, Metric = "binary_accuracy" });
        Assert.That(history.MetricName, Is.EqualTo("binary_accuracy"));
        Assert.That(history.Epochs[0].TrainMetric, Is.InRange(0.0, 1.0));
        Assert.That(trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 8 }).MetricName, Is.EqualTo("mae"), "MSE on the same targets");
    }

    // Keras' rule for "accuracy" on target rows as wide as the output: categorical accuracy, argmax(prediction row) ==
    // argmax(target row), for binary_crossentropy over several columns as for categorical_crossentropy on one-hot rows.
    [TestCase("binary_crossentropy")]
    [TestCase("categorical_crossentropy")]
    public void Accuracy_OnTargetRows_IsCategoricalAccuracy_AsKerasResolvesIt(string loss)
    {
        const int count = 29, width = 3;
        (SequenceDataset data, float[] targets, Trainer trainer) = MultiLabel(count, width, Activation.Linear, oneHot: loss == "categorical_crossentropy");
        float[] predictions = trainer.Predict(data);
        static int ArgMax(ReadOnlySpan<float> row) { int best = 0; for (int k = 1; k < row.Length; k++) if (row[k] > row[best]) best = k; return best; }
        int rowsRight = Enumerable.Range(0, count).Count(n => ArgMax(predictions.AsSpan(n * width, width)) == ArgMax(targets.AsSpan(n * width, width)));
        Assert.That(rowsRight, Is.InRange(1, count - 1), "the model must get some rows right and some wrong");
        int elementsRight = Enumerable.Range(0, predictions.Length).Count(k => targets[k] == (predictions[k] > 0 ? 1f : 0f));
        Assert.That((double)elementsRight / predictions.Length, Is.Not.EqualTo((double)rowsRight / count).Within(1e-3), "the data must tell binary from categorical accuracy");

        (double _, double metric) = trainer.Evaluate(data, loss, batchSize: 7);
        Assert.That(metric, Is.EqualTo((double)rowsRight / count).Within(1e-12));
        Assert.That(trainer.Evaluate(data, loss, batchSize: 5, metric: "categorical_accuracy").Metric, Is.EqualTo((double)rowsRight / count).Within(1e-12));
        Assert.That(trainer.Fit(data, new TrainingOptions { Epochs = 1, Loss = loss, BatchSize = 8 }).MetricName, Is.EqualTo("accuracy"));
    }

    // Keras computes val_<metric> with the metrics compiled for training: the metric asked for by TrainingOptions.Metric
    // is the one the validation pass reports too (it used to report the default metric under the requested name).
    [Test]
    public void Fit_ValidationMetric_IsTheRequestedMetric_AsTheTrainingMetric()
    {
        const int count = 29, width = 3;
        (SequenceDataset data, _, Trainer trainer) = MultiLabel(count, width, Activation.Linear);
        double binary = trainer.Evaluate(data, "binary_crossentropy", batchSize: 8, metric: "binary_accuracy").Metric;
        double categorical = trainer.Evaluate(data, "binary_crossentropy", batchSize: 8).Metric;
        Assert.That(binary, Is.Not.EqualTo(categorical).Within(1e-3), "the data must tell binary from categorical accuracy");
        TrainingHistory history = trainer.Fit(data, new TrainingOptions
        {
            Epochs = 1, Loss = "binary_crossentropy", BatchSize = 8, Metric = "binary_accuracy", Validation = data,
            OptimizerFactory = (parameters, _) => new Sgd<float>(parameters, learningRate: 0),   // the weights stay as evaluated
        });
        Assert.That(history.MetricName, Is.EqualTo("binary_accuracy"));
        Assert.That(history.Epochs[0].ValidationMetric, Is.EqualTo(binary).Within(1e-12));
    }

    // One output per sequence: "accuracy" is binary accuracy (Keras' is_binary comes first), thresholded at 0 on logits.
    [Test]
    public void Accuracy_OnOneOutput_IsBinaryAccuracy()
    {
        const int count = 31;
        (SequenceDataset data, float[] targets, Trainer trainer) = MultiLabel(count, 1, Activation.Linear);
        float[] predictions = trainer.Predict(data);
        int matches = Enumerable.Range(0, count).Count(k => targets[k] == (predictions[k] > 0 ? 1f : 0f));
        Assert.That(matches, Is.InRange(1, count - 1));
        Assert.That(trainer.Evaluate(data, "binary_crossentropy", batchSize: 4).Metric, Is.EqualTo((double)matches / count).Within(1e-12));
    }

    [Test]
    public void Metric_UnknownOrNotFittingTheTargets_IsRefusedNamingIt()
    {
        (SequenceDataset rows, _, Trainer trainer) = MultiLabel(9, 3, Activation.Linear);
        var unknown = Assert.Throws<ArgumentException>(() => trainer.Evaluate(rows, "binary_crossentropy", metric: "f1"))!;
        Assert.That(unknown.Message, Does.Contain("'f1'").And.Contain("categorical_accuracy"));
        Assert.That(unknown.ParamName, Is.EqualTo("metric"));
        var sparse = Assert.Throws<ArgumentException>(() => trainer.Fit(rows, new TrainingOptions { Loss = "mse", Metric = "sparse_categorical_accuracy" }))!;
        Assert.That(sparse.Message, Does.Contain("needs class labels"));
        Assert.That(sparse.ParamName, Is.EqualTo("Metric"));
        var model = ModelBuilder.Input(3).Lstm(4).Dense(3).Build<float>(seed: 1);
        SequenceDataset labels = SequenceDataset.ForClassification(new float[9 * 5 * 3], 9, 5, 3, new int[9], 3);
        Assert.That(() => new Trainer(model).Evaluate(labels, metric: "categorical_accuracy"), Throws.ArgumentException.With.Message.Contains("class labels"));
        Assert.That(() => new Trainer(model).Evaluate(labels, metric: "mae"), Throws.ArgumentException.With.Message.Contains("real-valued"));
        Assert.That(new Trainer(model).Evaluate(labels, metric: "sparse_categorical_accuracy").Metric, Is.InRange(0.0, 1.0));
    }

    // Keras 3 accepts these strings for the error metrics (keras/src/metrics/__init__.py, ALL_OBJECTS_DICT: the class name,
    // its snake_case, and the mse/MSE, mae/MAE aliases) and logs each under the string as given (compile_utils.get_metric:
    // metric_obj.name = identifier). MeanSquaredError and MeanAbsoluteError are MeanMetricWrappers over the losses'
    // per-sample means (the last axis reduced), so the epoch's value is total / count over the samples; RootMeanSquaredError
    // is a Mean of each sample's mean (p − y)², its result sqrt(total / count). All computed here by hand from the
    // predictions, over batches of 7, 7, 7 and 2.
    [TestCase("mse", "squared")]
    [TestCase("MSE", "squared")]
    [TestCase("mean_squared_error", "squared")]
    [TestCase("MeanSquaredError", "squared")]
    [TestCase("root_mean_squared_error", "root")]
    [TestCase("RootMeanSquaredError", "root")]
    [TestCase("mae", "absolute")]
    [TestCase("MAE", "absolute")]
    [TestCase("mean_absolute_error", "absolute")]
    [TestCase("MeanAbsoluteError", "absolute")]
    public void ErrorMetrics_UnderEveryKerasName_AreMeansOverTheSamples_LoggedUnderTheGivenName(string metric, string error)
    {
        const int count = 23, width = 3, batch = 7;
        (SequenceDataset data, float[] targets, Trainer trainer) = MultiLabel(count, width, Activation.Linear);
        float[] predictions = trainer.Predict(data, batchSize: batch);
        double[] differences = predictions.Select((p, k) => (double)p - targets[k]).ToArray();
        double meanSquare = differences.Average(d => d * d);
        double expected = error switch { "squared" => meanSquare, "root" => Math.Sqrt(meanSquare), _ => differences.Average(Math.Abs) };
        Assert.That(trainer.Evaluate(data, "mse", batchSize: batch, metric: metric).Metric, Is.EqualTo(expected).Within(1e-12));

        TrainingHistory history = trainer.Fit(data, new TrainingOptions
        {
            Epochs = 1, BatchSize = batch, Shuffle = false, Metric = metric, Validation = data,
            OptimizerFactory = (parameters, _) => new Sgd<float>(parameters, learningRate: 0),   // the weights stay as evaluated
        });
        Assert.That(history.MetricName, Is.EqualTo(metric));
        Assert.That(history.LoggedNames, Is.EqualTo(new[] { "loss", metric, "val_loss", "val_" + metric }));
        Assert.That(history.Epochs[0].TrainMetric, Is.EqualTo(expected).Within(1e-12));
        Assert.That(history.Epochs[0].ValidationMetric, Is.EqualTo(expected).Within(1e-12));
    }

    // Keras' RootMeanSquaredError keeps total and count of the squared errors and takes the root once, at result(): an
    // epoch's RMSE is not the mean of its batches' RMSEs. Batches of 7, 7, 7 and 2, the short one weighing 2/23.
    [Test]
    public void RootMeanSquaredError_IsTheRootOfTheEpochsMean_NotTheMeanOfTheBatchesRoots()
    {
        const int count = 23, width = 3, batch = 7;
        (SequenceDataset data, float[] targets, Trainer trainer) = MultiLabel(count, width, Activation.Linear);
        float[] predictions = trainer.Predict(data, batchSize: batch);
        double Square(int k) => ((double)predictions[k] - targets[k]) * ((double)predictions[k] - targets[k]);
        double root = Math.Sqrt(Enumerable.Range(0, predictions.Length).Average(Square));
        double meanOfRoots = Enumerable.Range(0, (count + batch - 1) / batch).Sum(b =>
        {
            int first = b * batch * width, length = Math.Min(batch * width, predictions.Length - first);
            return Math.Sqrt(Enumerable.Range(first, length).Average(Square)) * length / width;
        }) / count;
        Assert.That(Math.Abs(meanOfRoots - root), Is.GreaterThan(1e-4), "the data must tell the two apart");
        Assert.That(trainer.Evaluate(data, "mse", batchSize: batch, metric: "root_mean_squared_error").Metric, Is.EqualTo(root).Within(1e-12));
    }

    // compile_utils.get_metric: str(identifier).lower() in ["accuracy", "acc"] picks binary, sparse categorical or
    // categorical accuracy by the shapes, as for "accuracy", and names the metric as given; the class names are
    // metrics.get's keys for the same classes as the snake_case names.
    [TestCase("acc", null)]
    [TestCase("ACC", null)]
    [TestCase("Accuracy", null)]
    [TestCase("aCc", null)]
    [TestCase("BinaryAccuracy", "binary_accuracy")]
    [TestCase("CategoricalAccuracy", "categorical_accuracy")]
    [TestCase("SparseCategoricalAccuracy", "sparse_categorical_accuracy")]
    public void AccuracyMetrics_UnderEveryKerasName_ResolveAsKerasDoes(string metric, string? sameAs)
    {
        (SequenceDataset rows, _, Trainer rowsTrainer) = MultiLabel(29, 3, Activation.Linear);
        (SequenceDataset single, _, Trainer singleTrainer) = MultiLabel(31, 1, Activation.Linear);
        var labelModel = ModelBuilder.Input(2).Lstm(5).Dense(3).Build<float>(seed: 2);
        var random = new Random(5);
        SequenceDataset labels = SequenceDataset.ForClassification(Enumerable.Range(0, 27 * 4 * 2).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(),
            27, 4, 2, Enumerable.Range(0, 27).Select(n => n % 3).ToArray(), 3);
        var labelTrainer = new Trainer(labelModel);
        Assert.That(rowsTrainer.Evaluate(rows, "binary_crossentropy", batchSize: 7, metric: "binary_accuracy").Metric,
            Is.Not.EqualTo(rowsTrainer.Evaluate(rows, "binary_crossentropy", batchSize: 7, metric: "categorical_accuracy").Metric).Within(1e-3),
            "the rows must tell binary from categorical accuracy");

        var cases = new (Trainer Trainer, SequenceDataset Data, string Loss, string ByShape)[]
        {
            (rowsTrainer, rows, "binary_crossentropy", "categorical_accuracy"),
            (singleTrainer, single, "binary_crossentropy", "binary_accuracy"),
            (labelTrainer, labels, "sparse_categorical_crossentropy", "sparse_categorical_accuracy"),
        };
        int resolved = 0;
        foreach ((Trainer trainer, SequenceDataset data, string loss, string byShape) in cases)
        {
            // A class name is its snake_case name, refusals included (sparse_categorical_accuracy on target rows, ...).
            string reference = sameAs ?? byShape;
            double expected;
            try { expected = trainer.Evaluate(data, loss, batchSize: 7, metric: reference).Metric; }
            catch (ArgumentException)
            {
                Assert.That(() => trainer.Evaluate(data, loss, batchSize: 7, metric: metric), Throws.ArgumentException, $"{metric} on the {byShape} data");
                continue;
            }
            Assert.That(trainer.Evaluate(data, loss, batchSize: 7, metric: metric).Metric, Is.EqualTo(expected), $"{metric} on the {byShape} data");
            TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 1, Loss = loss, BatchSize = 8, Metric = metric });
            Assert.That(history.MetricName, Is.EqualTo(metric));
            resolved++;
        }
        Assert.That(resolved, Is.GreaterThan(0));
    }

    // Keras 3 refuses these (metrics.get: "Could not interpret metric identifier"): no rmse alias, the aliases and keys
    // are case-sensitive (only accuracy and acc are lowercased first), and metrics NumLstm does not compute are refused
    // here too. The message lists the names taken.
    [TestCase("rmse")]
    [TestCase("RMSE")]
    [TestCase("Mse")]
    [TestCase("Mae")]
    [TestCase("meanSquaredError")]
    [TestCase("Msle")]
    [TestCase("Mape")]
    [TestCase("logcosh")]      // LogCoshError's default name in Keras, but not a key of metrics.get
    [TestCase("log_cosh")]     // a loss function name, not a metrics key
    [TestCase("huber")]        // keras.metrics.huber is a function, not a metrics.get key
    [TestCase("cosine_similarity")]
    [TestCase("accuracy ")]
    public void Metric_NotAKerasStringForOurMetrics_IsRefusedListingTheAcceptedNames(string metric)
    {
        (SequenceDataset rows, _, Trainer trainer) = MultiLabel(9, 3, Activation.Linear);
        var error = Assert.Throws<ArgumentException>(() => trainer.Evaluate(rows, "mse", metric: metric))!;
        Assert.That(error.Message, Does.Contain($"'{metric}'").And.Contain("mean_squared_error").And.Contain("RootMeanSquaredError").And.Contain("acc,"));
        Assert.That(error.ParamName, Is.EqualTo("metric"));
        var model = ModelBuilder.Input(3).Lstm(4).Dense(3).Build<float>(seed: 1);
        SequenceDataset labels = SequenceDataset.ForClassification(new float[9 * 5 * 3], 9, 5, 3, new int[9], 3);
        foreach (string error2 in new[] { "mse", "MeanSquaredError", "root_mean_squared_error", "MAE" })
            Assert.That(() => new Trainer(model).Evaluate(labels, metric: error2), Throws.ArgumentException.With.Message.Contains("real-valued"), error2);
    }

    /// <summary>0/1 target rows [N, width] (one-hot with oneHot) and an untrained LSTM → Dense(width) over random inputs.</summary>
    private static (SequenceDataset Data, float[] Targets, Trainer Trainer) MultiLabel(int count, int width, Activation output, bool oneHot = false)
    {
        const int steps = 5, features = 3;
        var random = new Random(8);
        float[] x = Enumerable.Range(0, count * steps * features).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] targets = new float[count * width];
        for (int n = 0; n < count; n++)
        {
            if (oneHot) targets[n * width + random.Next(width)] = 1;
            else for (int k = 0; k < width; k++) targets[n * width + k] = random.Next(2);
        }
        if (!oneHot && width > 1) targets[4] = 0.5f;   // a soft target never matches
        SequenceDataset data = SequenceDataset.ForRegression(x, count, steps, features, targets, width);
        Sequential<float> model = ModelBuilder.Input(features).Lstm(6).Dense(width, output).Build<float>(seed: 4);
        return (data, targets, new Trainer(model));
    }

    [Test]
    public void CountBinaryMatches_ThresholdsProbabilitiesAtAHalf_AndLogitsAtZero()
    {
        float[] targets = [1, 0, 1, 0, 1, 0.3f];
        Assert.That(NumLstm.Losses.Metrics.CountBinaryMatches<float>([0.7f, 0.2f, 0.5f, 0.5f, float.NaN, 0.3f], targets, fromLogits: false), Is.EqualTo(3));
        Assert.That(NumLstm.Losses.Metrics.CountBinaryMatches<float>([0.1f, -0.1f, 0f, 0f, 2f, -5f], targets, fromLogits: true), Is.EqualTo(4));
        Assert.Throws<ArgumentException>(() => NumLstm.Losses.Metrics.CountBinaryMatches<float>([1f], [1f, 0f], fromLogits: true));
    }

    [Test]
    public void Fit_RejectsAMismatchedDataset()
    {
        var trainer = new Trainer(new StackSpec(3, new[] { 4 }, OutputUnits: 2).WithPlacement(LayerNormPlacement.None).Build<float>());
        var error = Assert.Throws<ArgumentException>(() => trainer.Fit(SignTask(8, 1), new TrainingOptions()));
        Assert.That(error!.Message, Does.Contain("3 features").And.Contain("has 2"));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(SignTask(8, 1), new TrainingOptions { BatchSize = 0 }));
    }

    // A validation set of the other task kind (labels against real-valued rows) cannot be scored with the training loss:
    // refused before the first epoch, naming it, instead of after an epoch of training by the loss's own message.
    [Test]
    public void Fit_RefusesAValidationSetOfTheOtherTaskKind_BeforeTraining()
    {
        SequenceDataset train = SignTask(16, 2);
        SequenceDataset rows = SequenceDataset.ForRegression(train.X, train.Count, train.Steps, train.Features, new float[train.Count * 2], 2, train.Lengths);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        var error = Assert.Throws<ArgumentException>(() => trainer.Fit(train, new TrainingOptions { Epochs = 2, Validation = rows }))!;
        Assert.That(error.ParamName, Is.EqualTo("validation"));
        Assert.That(error.Message, Does.Contain("Regression").And.Contain("Classification"));
        Assert.That(trainer.CompletedEpochs, Is.EqualTo(0), "refused before the first epoch");
    }

    [Test]
    public void Predict_EqualsForwardOnEachSequence()
    {
        SequenceDataset data = SignTask(10, 8);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.BeforeDenseOnly));
        float[] all = trainer.Predict(data, batchSize: 4);
        var cache = trainer.Model.CreateCache();
        for (int n = 0; n < data.Count; n++)
        {
            bool[] mask = new bool[data.Steps];
            for (int t = 0; t < data.Length(n); t++) mask[t] = true;
            float[] single = trainer.Model.Forward(new SequenceBatch<float>(data.Sequence(n), 1, data.Steps, mask), cache, ForwardContext.Inference).ToArray();
            Assert.That(all.AsSpan(n * 2, 2).ToArray(), Is.EqualTo(single).Within(1e-5f));
        }
    }
}
