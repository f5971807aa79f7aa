using NumLstm.Data;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// Keras' sample_weight: a weight per sequence carried by the dataset (<see cref="SequenceDataset.WithSampleWeights"/>).
/// Training loss Σᵢ wᵢ·lᵢ / B per batch (keras/src/losses/loss.py, reduce_weighted_values with "sum_over_batch_size"),
/// each gradient row times wᵢ; Evaluate and the validation loss of a weighted dataset weighted too (Keras'
/// evaluate(sample_weight=...) and validation_data=(x, y, sample_weight); validation_split splits the weights with the
/// data); the compiled metric unweighted (metrics=, not weighted_metrics=); not with class_weight (Keras 3's
/// ArrayDataAdapter: "You cannot `class_weight` and `sample_weight` at the same time").
/// </summary>
public class SampleWeightTests
{
    private static Sequential<float> Model(int seed = 3, double dropout = 0, int outputs = 3)
        => ModelBuilder.Input(2).Lstm(4, dropout: dropout, recurrentDropout: dropout).Dense(outputs).Build<float>(seed);

    private static float[] Inputs(int count, int steps, int seed)
    {
        var random = new Random(seed);
        var x = new float[count * steps * 2];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(random.NextDouble() * 2 - 1);
        return x;
    }

    private static SequenceDataset Labelled(int count, int steps, int seed = 5)
    {
        int[] labels = Enumerable.Range(0, count).Select(n => n % 3 == 2 ? 2 : n % 2).ToArray();
        return SequenceDataset.ForClassification(Inputs(count, steps, seed), count, steps, 2, labels, 3);
    }

    private static SequenceDataset Rows(int count, int steps, int seed = 6)
    {
        var random = new Random(seed + 100);
        float[] targets = Enumerable.Range(0, count * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        return SequenceDataset.ForRegression(Inputs(count, steps, seed), count, steps, 2, targets, 2);
    }

    private static float[] Spread(int count, int seed = 9)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 3)).ToArray();
    }

    private static float[] Weights(Sequential<float> model) => model.Parameters.SelectMany(p => p.Value).ToArray();

    // ------------------------------------------------------------------ the dataset

    [Test]
    public void WithSampleWeights_CopiesTheWeights_SharesTheRest_AndNullRemovesThem()
    {
        SequenceDataset data = Labelled(4, 3);
        float[] given = [0.5f, 1f, 2f, 0f];
        SequenceDataset weighted = data.WithSampleWeights(given);
        given[0] = 99f;
        Assert.That(weighted.SampleWeights, Is.EqualTo(new[] { 0.5f, 1f, 2f, 0f }), "a copy: the caller's later change is not seen");
        Assert.That(weighted.X, Is.SameAs(data.X));
        Assert.That(weighted.Labels, Is.SameAs(data.Labels));
        Assert.That(data.SampleWeights, Is.Null, "the original is unchanged");
        Assert.That(weighted.WithSampleWeights(null).SampleWeights, Is.Null);
        Assert.That(weighted.ToString(), Does.EndWith(", sample weights"));
        Assert.That(data.ToString(), Does.Not.Contain("sample weights"));
    }

    [TestCase(float.NaN, 2)]
    [TestCase(-0.5f, 1)]
    [TestCase(float.PositiveInfinity, 0)]
    public void ANegativeOrNonFiniteWeight_IsRefusedNamingTheSequence(float weight, int at)
    {
        float[] weights = [1f, 1f, 1f];
        weights[at] = weight;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Labelled(3, 2).WithSampleWeights(weights))!;
        Assert.That(e.Message, Does.Contain($"sampleWeights[{at}]").And.Contain("finite and ≥ 0"));
        Assert.That(e.ParamName, Is.EqualTo("sampleWeights"));
    }

    [Test]
    public void AWeightWrittenIntoTheArrayAfterTheCheck_IsRefusedByFitAndEvaluate()
    {
        // SampleWeights is the dataset's own array: a negative weight written into it later would train away from the
        // sequence silently (and NaN would pass for divergence), so Fit and Evaluate check the weights again.
        SequenceDataset data = Labelled(6, 2).WithSampleWeights([1f, 1f, 1f, 1f, 1f, 1f]);
        data.SampleWeights![4] = -2f;
        var fit = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Fit(data, new TrainingOptions { BatchSize = 3 }))!;
        Assert.That(fit.Message, Does.Contain("train: sampleWeights[4] = -2").And.Contain("finite and ≥ 0"));
        var validation = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Fit(Labelled(6, 2), new TrainingOptions { BatchSize = 3, Validation = data }))!;
        Assert.That(validation.Message, Does.Contain("validation: sampleWeights[4] = -2"));
        data.SampleWeights[4] = float.NaN;
        var evaluate = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Evaluate(data))!;
        Assert.That(evaluate.Message, Does.Contain("data: sampleWeights[4] = NaN"));
        Assert.DoesNotThrow(() => new Trainer(Model()).Predict(data), "Predict reads no weights");
    }

    [Test]
    public void AWrongCount_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => Labelled(3, 2).WithSampleWeights([1f, 2f]))!;
        Assert.That(e.Message, Does.Contain("expected 3 weights (one per sequence), got 2"));
    }

    [Test]
    public void SubsetsSplitsAndScalers_CarryEachSequencesWeight()
    {
        int[] groups = [0, 1, 0, 2, 1, 2, 0, 1];
        SequenceDataset data = SequenceDataset.ForClassification(Inputs(8, 2, 1), 8, 2, 2, [0, 1, 2, 0, 1, 2, 0, 1], 3, groups: groups)
            .WithSampleWeights([0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f]);
        // The weights were made equal to the index, so every part's weights must equal where its sequences came from:
        // X's first value of each sequence identifies it.
        void CheckPart(SequenceDataset part, string what)
        {
            Assert.That(part.SampleWeights, Is.Not.Null, what);
            for (int k = 0; k < part.Count; k++)
            {
                int from = Enumerable.Range(0, 8).Single(n => data.X[n * 4] == part.X[k * 4]);
                Assert.That(part.SampleWeights![k], Is.EqualTo((float)from), $"{what}, sequence {k}");
            }
        }
        CheckPart(data.Subset([5, 2, 2, 7]), "Subset with a repeat");
        (SequenceDataset a, SequenceDataset b) = data.Split(0.5, seed: 3);
        CheckPart(a, "Split first"); CheckPart(b, "Split second");
        (a, b) = data.SplitOrdered(0.25);
        CheckPart(a, "SplitOrdered first"); CheckPart(b, "SplitOrdered second");
        (a, b) = data.SplitByGroup(0.5, seed: 1);
        CheckPart(a, "SplitByGroup first"); CheckPart(b, "SplitByGroup second");
        Assert.That(Standardizer.Fit(data).Transform(data).SampleWeights, Is.EqualTo(data.SampleWeights), "Standardizer");
        SequenceDataset rows = Rows(4, 2).WithSampleWeights([1f, 2f, 3f, 4f]);
        Assert.That(TargetScaler.Fit(rows).Transform(rows).SampleWeights, Is.EqualTo(new[] { 1f, 2f, 3f, 4f }), "TargetScaler");
    }

    // ------------------------------------------------------------------ training

    [Test]
    public void WeightsOfOne_TrainBitForBit_AsNoWeights()
    {
        SequenceDataset data = Labelled(40, 5);
        var plain = new Trainer(Model(dropout: 0.2));
        var ones = new Trainer(Model(dropout: 0.2));
        TrainingHistory a = plain.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 8, Seed = 4, ValidationSplit = 0.2 });
        TrainingHistory b = ones.Fit(data.WithSampleWeights(Enumerable.Repeat(1f, 40).ToArray()),
            new TrainingOptions { Epochs = 2, BatchSize = 8, Seed = 4, ValidationSplit = 0.2 });
        Assert.That(Weights(ones.Model), Is.EqualTo(Weights(plain.Model)));
        for (int e = 0; e < 2; e++)
        {
            Assert.That(b.Epochs[e].BatchLosses, Is.EqualTo(a.Epochs[e].BatchLosses));
            Assert.That(b.Epochs[e].TrainLoss, Is.EqualTo(a.Epochs[e].TrainLoss));
            Assert.That(b.Epochs[e].ValidationLoss, Is.EqualTo(a.Epochs[e].ValidationLoss));
        }
    }

    [Test]
    public void SampleWeights_EqualToTheClassWeights_TrainBitForBit_AsClassWeight_WithShuffling()
    {
        // Keras turns class_weight into sample weights; the same weights given per sequence must train the same, batch
        // by batch under shuffling (a weight read at the batch position instead of the sequence index would not).
        SequenceDataset data = Labelled(30, 4);
        var classWeight = new Dictionary<int, double> { [0] = 0.5, [1] = 2.0, [2] = 3.25 };
        float[] perSequence = data.Labels!.Select(label => (float)classWeight[label]).ToArray();
        var byClass = new Trainer(Model(dropout: 0.1));
        var bySample = new Trainer(Model(dropout: 0.1));
        TrainingHistory a = byClass.Fit(data, new TrainingOptions { Epochs = 3, BatchSize = 7, Seed = 8, ClassWeight = classWeight });
        TrainingHistory b = bySample.Fit(data.WithSampleWeights(perSequence), new TrainingOptions { Epochs = 3, BatchSize = 7, Seed = 8 });
        Assert.That(Weights(bySample.Model), Is.EqualTo(Weights(byClass.Model)));
        for (int e = 0; e < 3; e++) Assert.That(b.Epochs[e].BatchLosses, Is.EqualTo(a.Epochs[e].BatchLosses), $"epoch {e}");
        // And the weights matter: unweighted training ends elsewhere.
        var plain = new Trainer(Model(dropout: 0.1));
        plain.Fit(data, new TrainingOptions { Epochs = 3, BatchSize = 7, Seed = 8 });
        Assert.That(Weights(plain.Model), Is.Not.EqualTo(Weights(byClass.Model)));
    }

    [Test]
    public void AWeightOfTwo_StepsAsTheSequenceDuplicated_WithTheRateScaledToTheLargerBatch()
    {
        // One batch of all N sequences, plain SGD, mse: (1/N)·Σ wᵢ·∂lᵢ with wᵢ ∈ {1, 2} is (N'/N)·(1/N')·Σ over the data
        // with the weight-2 sequences repeated (N' of them).
        SequenceDataset data = Rows(10, 4);
        float[] weights = Enumerable.Range(0, 10).Select(n => n % 3 == 0 ? 2f : 1f).ToArray();
        int[] repeated = Enumerable.Range(0, 10).Concat(Enumerable.Range(0, 10).Where(n => weights[n] == 2f)).ToArray();
        SequenceDataset duplicated = data.Subset(repeated);
        Sequential<float> before = Model(outputs: 2), weighted = Model(outputs: 2), copies = Model(outputs: 2);
        const double rate = 0.5;
        new Trainer(weighted, new Sgd<float>(weighted.Parameters.ToList(), rate)).Fit(data.WithSampleWeights(weights),
            new TrainingOptions { BatchSize = 10, Shuffle = false });
        new Trainer(copies, new Sgd<float>(copies.Parameters.ToList(), rate * duplicated.Count / data.Count)).Fit(duplicated,
            new TrainingOptions { BatchSize = duplicated.Count, Shuffle = false });
        float[] w0 = Weights(before), w1 = Weights(weighted), w2 = Weights(copies);
        double largest = Enumerable.Range(0, w0.Length).Max(k => Math.Abs(w1[k] - w0[k]));
        Assert.That(largest, Is.GreaterThan(1e-3), "the step moved the weights");
        for (int k = 0; k < w0.Length; k++)
            Assert.That(w1[k] - w0[k], Is.EqualTo(w2[k] - w0[k]).Within(1e-5 * largest), $"parameter value {k}'s step");
        Sequential<float> unweighted = Model(outputs: 2);
        new Trainer(unweighted, new Sgd<float>(unweighted.Parameters.ToList(), rate)).Fit(data, new TrainingOptions { BatchSize = 10, Shuffle = false });
        Assert.That(Enumerable.Range(0, w0.Length).Max(k => Math.Abs(Weights(unweighted)[k] - w1[k])), Is.GreaterThan(1e-3 * largest));
    }

    // Σᵢ wᵢ·lᵢ / N for mse rows, from the model's float predictions, in double; and the unweighted MAE.
    private static (double WeightedLoss, double Mae) ByHand(Sequential<float> model, SequenceDataset data)
    {
        float[] predictions = new Trainer(model).Predict(data);
        double loss = 0, mae = 0;
        for (int n = 0; n < data.Count; n++)
        {
            double squares = 0, absolutes = 0;
            for (int j = 0; j < 2; j++)
            {
                double d = predictions[n * 2 + j] - data.Targets![n * 2 + j];
                squares += d * d;
                absolutes += Math.Abs(d);
            }
            loss += data.SampleWeights![n] * squares / 2;
            mae += absolutes / 2;
        }
        return (loss / data.Count, mae / data.Count);
    }

    [Test]
    public void TheLoggedLoss_IsTheWeightedSumOverTheBatchSize_AndTheMetricIsUnweighted()
    {
        SequenceDataset data = Rows(9, 4).WithSampleWeights(Spread(9));
        Sequential<float> model = Model(outputs: 2);
        (double expected, double mae) = ByHand(model, data);
        TrainingHistory history = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.1))
            .Fit(data, new TrainingOptions { BatchSize = 9, Shuffle = false });
        Assert.That(history.Epochs[0].TrainLoss, Is.EqualTo(expected).Within(1e-6 * expected), "Σ wᵢ·lᵢ / B, divided by B, not by Σw");
        Assert.That(history.Epochs[0].TrainMetric, Is.EqualTo(mae).Within(1e-6 * mae), "mae counts every sequence once, unweighted");
    }

    [Test]
    public void TheLoggedLoss_OverShuffledUnevenBatches_IsTheWeightedSumOverN()
    {
        // Keras' loss tracker is a Mean updated with each batch's Σᵢ wᵢ·lᵢ / B and sample_weight = B: over batches of 4, 4
        // and 1 (shuffled) the epoch's loss is Σᵢ wᵢ·lᵢ / N, not a mean of the batch losses nor Σᵢ wᵢ·lᵢ / Σᵢ wᵢ. A rate of
        // 0 keeps the parameters where ByHand scored them.
        SequenceDataset data = Rows(9, 4).WithSampleWeights(Spread(9, seed: 12));
        Sequential<float> model = Model(outputs: 2);
        (double expected, _) = ByHand(model, data);
        TrainingHistory history = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0))
            .Fit(data, new TrainingOptions { BatchSize = 4, Seed = 5 });
        EpochRecord epoch = history.Epochs[0];
        Assert.That(epoch.BatchLosses, Has.Count.EqualTo(3));
        Assert.That(epoch.TrainLoss, Is.EqualTo(expected).Within(1e-6 * expected));
        Assert.That(Math.Abs(epoch.BatchLosses.Average() - expected), Is.GreaterThan(1e-4 * expected), "not the batches' plain mean");
        double byWeights = expected * data.Count / data.SampleWeights!.Sum();
        Assert.That(Math.Abs(byWeights - expected), Is.GreaterThan(1e-3 * expected), "not divided by Σw");
    }

    [Test]
    public void Evaluate_OfAWeightedDataset_IsTheWeightedSumOverN_InUnevenBatches_AndTheMetricUnweighted()
    {
        SequenceDataset data = Rows(8, 3).WithSampleWeights(Spread(8, seed: 2));
        Sequential<float> model = Model(outputs: 2);
        (double expected, double mae) = ByHand(model, data);
        var trainer = new Trainer(model);
        (double loss, double metric) = trainer.Evaluate(data, batchSize: 3);   // batches of 3, 3, 2
        Assert.That(loss, Is.EqualTo(expected).Within(1e-6 * expected));
        Assert.That(metric, Is.EqualTo(mae).Within(1e-6 * mae));
        (double plain, double plainMetric) = trainer.Evaluate(data.WithSampleWeights(null), batchSize: 3);
        Assert.That(plainMetric, Is.EqualTo(metric), "the metric does not see the weights");
        Assert.That(Math.Abs(plain - loss), Is.GreaterThan(1e-3 * plain), "the weights change the loss");
    }

    [Test]
    public void TheValidationLoss_OfAWeightedValidationSet_IsWeighted_AsEvaluateGivesIt()
    {
        SequenceDataset train = Rows(12, 3), validation = Rows(6, 3, seed: 40).WithSampleWeights(Spread(6, seed: 4));
        var trainer = new Trainer(Model(outputs: 2));
        TrainingHistory history = trainer.Fit(train, new TrainingOptions { BatchSize = 4, Seed = 2, Validation = validation });
        (double loss, double metric) = trainer.Evaluate(validation, batchSize: 4);
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(loss));
        Assert.That(history.Epochs[0].ValidationMetric, Is.EqualTo(metric));
        Assert.That(trainer.Evaluate(validation.WithSampleWeights(null), batchSize: 4).Loss, Is.Not.EqualTo(loss));
    }

    [Test]
    public void AWeightedValidationSet_LeavesTheWeightedTrainingBitForBit_TheBuffersSharedWithEvaluate()
    {
        // Evaluate (the validation loss) fills the same batch and sample-weight buffers as the training batches, with
        // other sequences, weights and batch sizes; training must not see any of it.
        SequenceDataset train = Labelled(23, 4).WithSampleWeights(Spread(23, seed: 21));
        SequenceDataset validation = Labelled(11, 4, seed: 30).WithSampleWeights(Spread(11, seed: 22));
        var alone = new Trainer(Model(dropout: 0.2));
        var validated = new Trainer(Model(dropout: 0.2));
        TrainingHistory a = alone.Fit(train, new TrainingOptions { Epochs = 3, BatchSize = 6, Seed = 7 });
        TrainingHistory b = validated.Fit(train, new TrainingOptions { Epochs = 3, BatchSize = 6, Seed = 7, Validation = validation });
        Assert.That(Weights(validated.Model), Is.EqualTo(Weights(alone.Model)));
        for (int e = 0; e < 3; e++) Assert.That(b.Epochs[e].BatchLosses, Is.EqualTo(a.Epochs[e].BatchLosses), $"epoch {e}");
        Assert.That(b.Epochs[2].ValidationLoss, Is.EqualTo(validated.Evaluate(validation, batchSize: 6).Loss));
    }

    [Test]
    public void AValidationSplit_TakesItsSequencesWeights_AsKerasSplitsSampleWeightWithTheData()
    {
        SequenceDataset data = Rows(16, 3).WithSampleWeights(Spread(16, seed: 5));
        var trainer = new Trainer(Model(outputs: 2));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { BatchSize = 4, Seed = 3, ValidationSplit = 0.25 });
        SequenceDataset heldOut = data.Subset(Enumerable.Range(12, 4).ToArray());
        Assert.That(heldOut.SampleWeights, Is.EqualTo(data.SampleWeights![12..]));
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(trainer.Evaluate(heldOut, batchSize: 4).Loss));
        Assert.That(history.Epochs[0].ValidationLoss, Is.Not.EqualTo(trainer.Evaluate(heldOut.WithSampleWeights(null), batchSize: 4).Loss));
    }

    [Test]
    public void ZeroWeights_LeaveTheWeightsWhereTheyWere()
    {
        SequenceDataset data = Labelled(12, 3).WithSampleWeights(new float[12]);
        Sequential<float> model = Model();
        float[] start = Weights(model);
        TrainingHistory history = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.3))
            .Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 5, Seed = 1 });
        Assert.That(Weights(model), Is.EqualTo(start));
        Assert.That(history.Epochs[1].TrainLoss, Is.EqualTo(0.0));
        Assert.That(history.Epochs[1].TrainMetric, Is.GreaterThan(0), "accuracy is unweighted");
    }

    [Test]
    public void ClassWeight_WithAWeightedTrainingSet_IsRefused_ButAWeightedValidationSetIsFine()
    {
        SequenceDataset data = Labelled(12, 3);
        var classWeight = new Dictionary<int, double> { [1] = 2.0 };
        var e = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Fit(data.WithSampleWeights(Spread(12)),
            new TrainingOptions { ClassWeight = classWeight }))!;
        Assert.That(e.Message, Does.Contain("ClassWeight is set and the training set carries sample weights").And.Contain("You cannot `class_weight` and `sample_weight`"));
        var trainer = new Trainer(Model());
        SequenceDataset validation = Labelled(6, 3, seed: 11).WithSampleWeights(Spread(6));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { ClassWeight = classWeight, Validation = validation, BatchSize = 4 });
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(trainer.Evaluate(validation, batchSize: 4).Loss), "the validation set's own weights");
    }
}
