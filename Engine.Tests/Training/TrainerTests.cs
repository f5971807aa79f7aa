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
    public void EarlyStopping_StopsWhenTheLossStopsImproving()
    {
        SequenceDataset data = SignTask(64, 6);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        var options = new TrainingOptions { Epochs = 50, BatchSize = 64, LearningRate = 1e-9, Callbacks = { new EarlyStopping(patience: 1, minDelta: 1e-3) } };
        TrainingHistory history = trainer.Fit(data, options);
        Assert.That(history.StoppedEarly, Is.True);
        Assert.That(history.Epochs.Count, Is.LessThan(50));
    }

    [Test]
    public void LearningRateSchedule_SetsTheRatePerEpoch()
    {
        SequenceDataset data = SignTask(32, 7);
        var trainer = new Trainer(SmallModel(LayerNormPlacement.None));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 4, BatchSize = 32, LearningRate = 0.01, Callbacks = { LearningRateSchedule.StepDecay(0.5, 2) } });
        Assert.That(history.Epochs.Select(e => e.LearningRate), Is.EqualTo(new[] { 0.01, 0.01, 0.005, 0.005 }));
    }

    [Test]
    public void Fit_RejectsAMismatchedDataset()
    {
        var trainer = new Trainer(new StackSpec(3, new[] { 4 }, OutputUnits: 2).WithPlacement(LayerNormPlacement.None).Build<float>());
        var error = Assert.Throws<ArgumentException>(() => trainer.Fit(SignTask(8, 1), new TrainingOptions()));
        Assert.That(error!.Message, Does.Contain("3 features").And.Contain("has 2"));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(SignTask(8, 1), new TrainingOptions { BatchSize = 0 }));
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
