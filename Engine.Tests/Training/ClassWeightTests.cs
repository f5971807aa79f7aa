using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// Keras' fit(class_weight=...): each training sample's loss times its class's weight, the batch loss Σᵢ wᵢ·lᵢ / B
/// (keras/src/losses/loss.py, reduce_weighted_values with "sum_over_batch_size"); the class of a sample as
/// keras/src/trainers/data_adapters/data_adapter_utils.py's class_weight_to_sample_weights finds it; the metric and the
/// validation loss unweighted (Keras' compiled metrics are not weighted_metrics; class_weight is for the training data).
/// </summary>
public class ClassWeightTests
{
    private static readonly Dictionary<int, double> Weights012 = new() { [0] = 1.0, [1] = 2.0, [2] = 3.0 };

    // data_adapter_utils_test.py's test_class_weight_to_sample_weights cases.
    [Test]
    public void KerasCases_SimpleLabels_UnmappedClass_AllUnmapped()
    {
        Assert.That(ClassWeights.ToSampleWeights(Weights012, [0, 1, 0, 2]), Is.EqualTo(new[] { 1.0, 2.0, 1.0, 3.0 }), "simple_class_labels");
        Assert.That(ClassWeights.ToSampleWeights(Weights012, [0, 3, 0, 2]), Is.EqualTo(new[] { 1.0, 1.0, 1.0, 3.0 }), "unmapped_class");
        Assert.That(ClassWeights.ToSampleWeights(new Dictionary<int, double>(), [0, 1, 0, 2]), Is.EqualTo(new[] { 1.0, 1.0, 1.0, 1.0 }), "all_unmapped");
    }

    [Test]
    public void KerasCases_OneHotRows_AndOneValueRows()
    {
        float[] oneHot = [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1];
        Assert.That(ClassWeights.ToSampleWeights(Weights012, oneHot, 3), Is.EqualTo(new[] { 1.0, 2.0, 1.0, 3.0 }), "one_hot_encoded_labels");
        Assert.That(ClassWeights.ToSampleWeights(Weights012, [0f, 1f, 0f, 2f], 1), Is.EqualTo(new[] { 1.0, 2.0, 1.0, 3.0 }), "multi_dimensional_input");
    }

    [Test]
    public void RowClasses_AreTheFirstArgmax_AndOneValueRowsRoundHalfToEven_AsNumPy()
    {
        // np.argmax takes the first largest; np.round rounds half to even: 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → −0.
        Assert.That(ClassWeights.ToSampleWeights(Weights012, [0.2f, 0.7f, 0.7f, 0.1f, 0.1f, 0.8f], 3), Is.EqualTo(new[] { 2.0, 3.0 }));
        Assert.That(ClassWeights.ToSampleWeights(Weights012, [0.5f, 1.5f, 2.5f, -0.5f, 0.49f, 1.51f], 1), Is.EqualTo(new[] { 1.0, 3.0, 3.0, 1.0, 1.0, 3.0 }));
        // A value with no integer class (NaN, beyond int) weighs 1.0, as a key the map does not hold.
        Assert.That(ClassWeights.ToSampleWeights(new Dictionary<int, double> { [0] = 5.0, [int.MinValue] = 7.0 }, [float.NaN, 3e9f], 1), Is.EqualTo(new[] { 1.0, 1.0 }));
    }

    [TestCase(double.NaN)]
    [TestCase(-0.5)]
    [TestCase(double.PositiveInfinity)]
    [TestCase(1e39)]   // finite in double, +∞ as the float the gradient rows are multiplied by
    public void ANegativeOrNonFiniteWeight_IsRefusedNamingTheClass(double weight)
    {
        var options = new TrainingOptions { ClassWeight = new Dictionary<int, double> { [0] = 1.0, [1] = weight } };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(Model()).Fit(Data(8, 2), options))!;
        Assert.That(e.Message, Does.Contain("ClassWeight[1]").And.Contain("finite (also in float").And.Contain("and ≥ 0"));
        Assert.That(e.ParamName, Is.EqualTo("ClassWeight"));
    }

    private static Sequential<float> Model(int seed = 3, double dropout = 0)
        => ModelBuilder.Input(2).Lstm(4, dropout: dropout, recurrentDropout: dropout).Dense(3).Build<float>(seed);

    private static SequenceDataset Data(int count, int steps, int seed = 5)
    {
        var random = new Random(seed);
        var x = new float[count * steps * 2];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(random.NextDouble() * 2 - 1);
        int[] labels = Enumerable.Range(0, count).Select(n => n % 3 == 2 ? 2 : n % 2).ToArray();
        return SequenceDataset.ForClassification(x, count, steps, 2, labels, 3);
    }

    private static float[] Weights(Sequential<float> model) => model.Parameters.SelectMany(p => p.Value).ToArray();

    [Test]
    public void WeightsOfOne_TrainBitForBit_AsNoWeights()
    {
        SequenceDataset data = Data(40, 5);
        var plain = new Trainer(Model(dropout: 0.2));
        var ones = new Trainer(Model(dropout: 0.2));
        var baseOptions = new TrainingOptions { Epochs = 2, BatchSize = 8, Seed = 4 };
        TrainingHistory a = plain.Fit(data, baseOptions);
        TrainingHistory b = ones.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 8, Seed = 4, ClassWeight = new Dictionary<int, double> { [0] = 1, [1] = 1, [2] = 1 } });
        Assert.That(Weights(ones.Model), Is.EqualTo(Weights(plain.Model)), "a weight of 1 multiplies each gradient row exactly");
        for (int e = 0; e < 2; e++)
        {
            Assert.That(b.Epochs[e].TrainLoss, Is.EqualTo(a.Epochs[e].TrainLoss), "a batch of weights 1 is the unweighted batch, its loss too");
            Assert.That(b.Epochs[e].BatchLosses, Is.EqualTo(a.Epochs[e].BatchLosses));
            Assert.That(b.Epochs[e].TrainMetric, Is.EqualTo(a.Epochs[e].TrainMetric));
        }
    }

    [Test]
    public void AWeightOfTwo_StepsAsTheClassDuplicated_WithTheRateScaledToTheLargerBatch()
    {
        // One batch of all N samples, plain SGD: the gradient with w(1) = 2 is (1/N)·Σ wᵢ·∂lᵢ = (N'/N)·(1/N')·Σ over the
        // dataset with class 1's samples repeated (N' samples), so SGD at rate η·N'/N on that dataset moves the same way.
        SequenceDataset data = Data(12, 4);
        int[] repeated = Enumerable.Range(0, data.Count).Concat(Enumerable.Range(0, data.Count).Where(n => data.Labels![n] == 1)).ToArray();
        SequenceDataset duplicated = data.Subset(repeated);
        Sequential<float> before = Model(), weighted = Model(), copies = Model();
        const double rate = 0.5;
        new Trainer(weighted, new Sgd<float>(weighted.Parameters.ToList(), rate)).Fit(data,
            new TrainingOptions { BatchSize = data.Count, Shuffle = false, ClassWeight = new Dictionary<int, double> { [1] = 2.0 } });
        new Trainer(copies, new Sgd<float>(copies.Parameters.ToList(), rate * duplicated.Count / data.Count)).Fit(duplicated,
            new TrainingOptions { BatchSize = duplicated.Count, Shuffle = false });
        float[] w0 = Weights(before), w1 = Weights(weighted), w2 = Weights(copies);
        double largest = 0;
        for (int k = 0; k < w0.Length; k++) largest = Math.Max(largest, Math.Abs(w1[k] - w0[k]));
        Assert.That(largest, Is.GreaterThan(1e-3), "the step moved the weights");
        for (int k = 0; k < w0.Length; k++)
            Assert.That(w1[k] - w0[k], Is.EqualTo(w2[k] - w0[k]).Within(1e-5 * largest), $"parameter value {k}'s step");
        // Unweighted, the step differs: the check can tell the weights apart.
        Sequential<float> unweighted = Model();
        new Trainer(unweighted, new Sgd<float>(unweighted.Parameters.ToList(), rate)).Fit(data, new TrainingOptions { BatchSize = data.Count, Shuffle = false });
        Assert.That(Enumerable.Range(0, w0.Length).Max(k => Math.Abs(Weights(unweighted)[k] - w1[k])), Is.GreaterThan(1e-3 * largest));
    }

    [Test]
    public void TheLoggedLoss_IsTheWeightedSumOverTheBatchSize_AndTheMetricIsUnweighted()
    {
        SequenceDataset data = Data(9, 4);
        var weights = new Dictionary<int, double> { [0] = 0.25, [2] = 4.0 };   // class 1 not named: 1.0
        Sequential<float> model = Model();
        float[] logits = new Trainer(model).Predict(data, batchSize: 9);
        double expected = 0;
        int correct = 0;
        for (int n = 0; n < data.Count; n++)
        {
            double[] z = logits.AsSpan(n * 3, 3).ToArray().Select(v => (double)v).ToArray();
            double max = z.Max(), logSum = max + Math.Log(z.Sum(v => Math.Exp(v - max)));
            int label = data.Labels![n];
            expected += weights.GetValueOrDefault(label, 1.0) * (logSum - z[label]);
            if (Array.IndexOf(z, max) == label) correct++;
        }
        expected /= data.Count;
        var trainer = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.1));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { BatchSize = 9, Shuffle = false, ClassWeight = weights });
        Assert.That(history.Epochs[0].TrainLoss, Is.EqualTo(expected).Within(1e-6 * expected), "Σ wᵢ·lᵢ / B from the forward pass before the step (float32 per-sample losses)");
        Assert.That(history.Epochs[0].TrainMetric, Is.EqualTo((double)correct / data.Count), "accuracy counts every sample once");
    }

    [Test]
    public void ZeroWeights_LeaveTheWeightsWhereTheyWere_AndTheValidationLossIsUnweighted()
    {
        SequenceDataset data = Data(16, 4);
        Sequential<float> model = Model();
        float[] start = Weights(model);
        var trainer = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.3));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions
        {
            Epochs = 2, BatchSize = 4, Seed = 1, ValidationSplit = 0.25, ClassWeight = new Dictionary<int, double> { [0] = 0, [1] = 0, [2] = 0 },
        });
        Assert.That(Weights(model), Is.EqualTo(start), "every gradient row times 0");
        Assert.That(history.Epochs[0].TrainLoss, Is.EqualTo(0.0));
        // The held-out part (the last 4 sequences) scored with its plain loss, as Evaluate scores it.
        SequenceDataset heldOut = data.Subset(Enumerable.Range(12, 4).ToArray());
        (double loss, double metric) = trainer.Evaluate(heldOut, batchSize: 4);
        Assert.That(history.Epochs[1].ValidationLoss, Is.EqualTo(loss));
        Assert.That(history.Epochs[1].ValidationMetric, Is.EqualTo(metric));
        Assert.That(loss, Is.GreaterThan(0));
    }

    private sealed class ChangeTheMap(Dictionary<int, double> map) : ITrainingCallback
    {
        public bool OnEpochEnd(EpochRecord record)
        {
            map[1] = double.NaN;   // after the first epoch: a Fit reading the map live would train on NaN
            map[0] = 5.0;
            return false;
        }
    }

    [Test]
    public void TheMap_IsReadOnceWhenFitStarts_AsKerasMakesItsSampleWeightsOnce()
    {
        SequenceDataset data = Data(12, 4);
        var map = new Dictionary<int, double> { [0] = 0.5, [1] = 2.0 };
        Sequential<float> changed = Model(), kept = Model();
        new Trainer(changed).Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 4, Seed = 2, ClassWeight = map, Callbacks = { new ChangeTheMap(map) } });
        new Trainer(kept).Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 4, Seed = 2, ClassWeight = new Dictionary<int, double> { [0] = 0.5, [1] = 2.0 } });
        Assert.That(Weights(changed), Is.EqualTo(Weights(kept)));
        Assert.That(double.IsNaN(map[1]), Is.True, "the callback did change the caller's map");
    }

    [Test]
    public void AWeightIsTakenAsFloat_InTheLossAsInTheGradient_AsKerasFloat32SampleWeights()
    {
        // 1e-300 is 0 in float: no step and a logged loss of 0 (it was 1.1e-300 with the gradient's weight 0).
        SequenceDataset data = Data(8, 3);
        Sequential<float> model = Model();
        float[] start = Weights(model);
        TrainingHistory history = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.5)).Fit(data,
            new TrainingOptions { BatchSize = 8, ClassWeight = new Dictionary<int, double> { [0] = 1e-300, [1] = 1e-300, [2] = 1e-300 } });
        Assert.That(Weights(model), Is.EqualTo(start));
        Assert.That(history.Epochs[0].TrainLoss, Is.EqualTo(0.0));
        Assert.That(ClassWeights.ToSampleWeights(new Dictionary<int, double> { [0] = 0.1 }, [0]), Is.EqualTo(new[] { (double)0.1f }));
    }

    [Test]
    public void TargetRows_TakeTheirClassFromTheRow_InFit()
    {
        // One-hot rows with categorical_crossentropy: the argmax class's weight, as Keras; class 2's zero weight leaves
        // the weights unchanged when every row is class 2.
        SequenceDataset labelled = Data(6, 3);
        float[] oneHot = new float[6 * 3];
        for (int n = 0; n < 6; n++) oneHot[n * 3 + 2] = 1;
        SequenceDataset rows = SequenceDataset.ForRegression(labelled.X, 6, 3, 2, oneHot, 3);
        Sequential<float> model = Model();
        float[] start = Weights(model);
        var options = new TrainingOptions { BatchSize = 3, Loss = "categorical_crossentropy", ClassWeight = new Dictionary<int, double> { [2] = 0 } };
        new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.3)).Fit(rows, options);
        Assert.That(Weights(model), Is.EqualTo(start));
        new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.3)).Fit(rows, new TrainingOptions { BatchSize = 3, Loss = "categorical_crossentropy", ClassWeight = new Dictionary<int, double> { [0] = 0 } });
        Assert.That(Weights(model), Is.Not.EqualTo(start), "class 0's weight does not touch rows of class 2");
    }
}
