using NumLstm.Data;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;
using NumLstm.Losses;

namespace NumLstm.Tests.Training;

/// <summary>
/// Keras' <c>compile(weighted_metrics=[...])</c> (<see cref="TrainingOptions.WeightedMetric"/>): a Mean metric updated
/// with the sample weights, Σᵢ wᵢ·mᵢ / Σᵢ wᵢ (keras/src/metrics/reduction_metrics.py; divide_no_nan), logged under its
/// name or weighted_ + its name when metrics= logs that name (keras/src/trainers/compile_utils.py, CompileMetrics.result),
/// with the training set's sample weights or class weights in training and the validation set's own in validation.
/// </summary>
public class WeightedMetricTests
{
    private static Sequential<float> Model(int outputs = 2) => ModelBuilder.Input(2).Lstm(4).Dense(outputs).Build<float>(seed: 3);

    private static float[] Inputs(int count, int steps, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count * steps * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    private static SequenceDataset Labelled(int count, int steps, int seed = 5)
        => SequenceDataset.ForClassification(Inputs(count, steps, seed), count, steps, 2, Enumerable.Range(0, count).Select(n => (n * 7 + seed) % 3 == 0 ? 1 : 0).ToArray(), 2);

    private static SequenceDataset Rows(int count, int steps, int seed = 6)
    {
        var random = new Random(seed + 50);
        return SequenceDataset.ForRegression(Inputs(count, steps, seed), count, steps, 2,
            Enumerable.Range(0, count * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), 2);
    }

    private static float[] Spread(int count, int seed = 9)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 3)).ToArray();
    }

    // Σ wᵢ·[argmax row i = label i] / Σ wᵢ from the model's predictions.
    private static double WeightedAccuracyByHand(Sequential<float> model, SequenceDataset data, float[] weights)
    {
        float[] logits = new Trainer(model).Predict(data);
        double total = 0, count = 0;
        for (int n = 0; n < data.Count; n++)
        {
            bool correct = (logits[n * 2 + 1] > logits[n * 2] ? 1 : 0) == data.Labels![n];
            total += weights[n] * (correct ? 1 : 0);
            count += weights[n];
        }
        return total / count;
    }

    [Test]
    public void WithSampleWeights_TheWeightedAccuracy_IsSumOfWeightedHitsOverSumOfWeights_LoggedAsWeightedAccuracy()
    {
        float[] weights = Spread(10);
        SequenceDataset data = Labelled(10, 3).WithSampleWeights(weights);
        SequenceDataset validation = Labelled(7, 3, seed: 8).WithSampleWeights(Spread(7, seed: 2));
        Sequential<float> model = Model();
        double expected = WeightedAccuracyByHand(model, data, weights);
        var trainer = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.05));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { BatchSize = 10, Shuffle = false, WeightedMetric = "accuracy", Validation = validation });
        Assert.That(history.WeightedMetricName, Is.EqualTo("weighted_accuracy"), "metrics= already logs accuracy (Keras' CompileMetrics.result)");
        Assert.That(history.LoggedNames, Is.EqualTo(new[] { "loss", "accuracy", "weighted_accuracy", "val_loss", "val_accuracy", "val_weighted_accuracy" }));
        Assert.That(history.Epochs[0].TrainWeightedMetric, Is.EqualTo(expected).Within(1e-12), "the pre-step predictions, one batch");
        Assert.That(history.History["weighted_accuracy"], Is.EqualTo(new[] { history.Epochs[0].TrainWeightedMetric!.Value }));
        double validationExpected = WeightedAccuracyByHand(model, validation, validation.SampleWeights!);
        Assert.That(history.Epochs[0].ValidationWeightedMetric, Is.EqualTo(validationExpected).Within(1e-12), "the validation set's own weights, after the step");
        Assert.That(history.History["val_weighted_accuracy"][0], Is.EqualTo(history.Epochs[0].ValidationWeightedMetric));
        (double loss, double metric, double weighted) = trainer.EvaluateWeighted(validation, "accuracy", batchSize: 3);
        Assert.That(weighted, Is.EqualTo(validationExpected).Within(1e-12), "EvaluateWeighted, over batches of 3, 3, 1");
        Assert.That((loss, metric), Is.EqualTo(trainer.Evaluate(validation, batchSize: 3)));
        Assert.That(Math.Abs(weighted - metric), Is.GreaterThan(1e-3), "the weights change the value on this data");
    }

    [Test]
    public void WithoutWeights_TheWeightedMetric_IsTheMetric_AndADifferentNameIsLoggedAsItIs()
    {
        SequenceDataset data = Rows(11, 3);
        var trainer = new Trainer(Model());
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 4, Seed = 1, Metric = "mse", WeightedMetric = "mae", ValidationSplit = 0.3 });
        Assert.That(history.WeightedMetricName, Is.EqualTo("mae"));
        Assert.That(history.LoggedNames, Is.EqualTo(new[] { "loss", "mse", "mae", "val_loss", "val_mse", "val_mae" }));
        var plain = new Trainer(Model());
        TrainingHistory reference = plain.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 4, Seed = 1, Metric = "mae", ValidationSplit = 0.3 });
        for (int e = 0; e < 2; e++)
        {
            Assert.That(history.Epochs[e].TrainWeightedMetric!.Value, Is.EqualTo(reference.Epochs[e].TrainMetric).Within(1e-12 * reference.Epochs[e].TrainMetric), "weights of 1: the unweighted mean");
            Assert.That(history.Epochs[e].ValidationWeightedMetric!.Value, Is.EqualTo(reference.Epochs[e].ValidationMetric!.Value).Within(1e-12 * reference.Epochs[e].ValidationMetric!.Value));
        }
    }

    [Test]
    public void ClassWeights_WeighTheTrainingValue_ButNotTheValidationValue()
    {
        SequenceDataset data = Labelled(12, 3);
        var classWeight = new Dictionary<int, double> { [0] = 0.25, [1] = 3.0 };
        Sequential<float> model = Model();
        double expected = WeightedAccuracyByHand(model, data, data.Labels!.Select(l => (float)classWeight[l]).ToArray());
        var trainer = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.05));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions
        {
            BatchSize = 12, Shuffle = false, ClassWeight = classWeight, Metric = "sparse_categorical_accuracy", WeightedMetric = "accuracy", ValidationSplit = 0.25,
        });
        Assert.That(history.WeightedMetricName, Is.EqualTo("accuracy"), "a name metrics= does not log");
        // The split keeps the first 9 for training: the hand value over them.
        SequenceDataset trained = data.Subset(Enumerable.Range(0, 9).ToArray());
        Assert.That(history.Epochs[0].TrainWeightedMetric, Is.EqualTo(WeightedAccuracyByHand(new Trainer(Model()).Model, trained, trained.Labels!.Select(l => (float)classWeight[l]).ToArray())).Within(1e-12));
        Assert.That(history.Epochs[0].ValidationWeightedMetric, Is.EqualTo(history.Epochs[0].ValidationMetric), "class weights are for the training data only");
        Assert.That(expected, Is.Not.NaN);
    }

    [Test]
    public void RootMeanSquaredError_IsTheRootOfTheWeightedMean_AndZeroWeightsGiveZero()
    {
        float[] weights = Spread(8, seed: 4);
        SequenceDataset data = Rows(8, 3).WithSampleWeights(weights);
        var trainer = new Trainer(Model());
        float[] predictions = trainer.Predict(data);
        double total = 0, count = 0;
        for (int n = 0; n < 8; n++)
        {
            double squares = 0;
            for (int j = 0; j < 2; j++) squares += Math.Pow(predictions[n * 2 + j] - data.Targets![n * 2 + j], 2);
            total += weights[n] * squares / 2;
            count += weights[n];
        }
        Assert.That(trainer.EvaluateWeighted(data, "root_mean_squared_error", batchSize: 3).WeightedMetric, Is.EqualTo(Math.Sqrt(total / count)).Within(1e-6 * Math.Sqrt(total / count)), "float32 per-element errors");
        Assert.That(trainer.EvaluateWeighted(data.WithSampleWeights(new float[8]), "mae").WeightedMetric, Is.EqualTo(0.0), "Σw = 0: divide_no_nan");
    }

    [Test]
    public void ANonFinitePrediction_MakesAnErrorNaN_AndCountsItsWeight_NotDroppedWithItsBatch()
    {
        // Keras' Mean adds wᵢ·mᵢ for every sample, a NaN one too (reduction_metrics.py): the weighted mae of a set with a
        // NaN prediction is NaN, as its loss; the batch holding it is not left out of Σw·m and Σw (a finite value over the
        // other batches would pass for the set's).
        float[] x = Inputs(6, 3, 1);
        x[0] = float.NaN;   // sequence 0's first step: its prediction is NaN, the others' are finite
        var random = new Random(3);
        float[] targets = Enumerable.Range(0, 12).Select(_ => (float)random.NextDouble()).ToArray();
        SequenceDataset rows = SequenceDataset.ForRegression(x, 6, 3, 2, targets, 2).WithSampleWeights([1, 2, 3, 1, 1, 1]);
        var trainer = new Trainer(Model());
        Assert.That(trainer.Predict(rows).Skip(2).All(float.IsFinite), Is.True, "only sequence 0's prediction is non-finite");
        (double loss, _, double weighted) = trainer.EvaluateWeighted(rows, "mae", batchSize: 2);
        Assert.That(loss, Is.NaN);
        Assert.That(weighted, Is.NaN, "the NaN sample's error in Σw·m, as Keras");

        // An accuracy takes the NaN row as it compares it (argmax: the first index, as NumPy), its weight in Σw.
        int[] labels = [1, 0, 1, 1, 0, 1];
        SequenceDataset labelled = SequenceDataset.ForClassification(x, 6, 3, 2, labels, 2).WithSampleWeights([4, 1, 1, 1, 1, 1]);
        float[] logits = trainer.Predict(labelled);
        double total = 0, count = 0;
        for (int n = 0; n < 6; n++)
        {
            int predicted = logits[n * 2 + 1] > logits[n * 2] ? 1 : 0;   // NaN > NaN is false: class 0, a miss for label 1
            total += labelled.SampleWeights![n] * (predicted == labels[n] ? 1 : 0);
            count += labelled.SampleWeights![n];
        }
        Assert.That(trainer.EvaluateWeighted(labelled, "accuracy", batchSize: 2).WeightedMetric, Is.EqualTo(total / count).Within(1e-12),
            "Σw over all six, the NaN row a miss weighing 4 (not dropped with its batch)");
    }

    [Test]
    public void Evaluate_ANonFinitePrediction_MakesTheErrorMetricNaN_AndTheAccuracyCountsEveryRow()
    {
        // The unweighted metric as the weighted one: Keras' Mean adds every sample, so a NaN prediction makes mae NaN
        // and an accuracy counts the NaN row as a miss; its batch is not summed as 0.
        float[] x = Inputs(6, 3, 1);
        x[0] = float.NaN;
        var random = new Random(3);
        float[] targets = Enumerable.Range(0, 12).Select(_ => (float)random.NextDouble()).ToArray();
        var trainer = new Trainer(Model());
        (double loss, double mae) = trainer.Evaluate(SequenceDataset.ForRegression(x, 6, 3, 2, targets, 2), batchSize: 2);
        Assert.That(loss, Is.NaN);
        Assert.That(mae, Is.NaN, "the NaN sample's error is in the mean, as Keras'");
        int[] labels = [0, 0, 1, 1, 0, 1];
        SequenceDataset labelled = SequenceDataset.ForClassification(x, 6, 3, 2, labels, 2);
        float[] logits = trainer.Predict(labelled);
        int hits = Enumerable.Range(0, 6).Count(n => (logits[n * 2 + 1] > logits[n * 2] ? 1 : 0) == labels[n]);
        Assert.That(hits, Is.GreaterThan(1), "the other rows of the NaN row's batch can count");
        Assert.That(trainer.Evaluate(labelled, batchSize: 2).Metric, Is.EqualTo(hits / 6.0).Within(1e-12), "the NaN row (class 0 by the first-max rule, a hit for label 0) and its batch counted");
    }

    [Test]
    public void EarlyStopping_MonitorsTheWeightedMetric_InItsDirection()
    {
        SequenceDataset data = Labelled(16, 3).WithSampleWeights(Spread(16));
        var stopping = new EarlyStopping("val_weighted_acc", patience: 100);
        var lowering = new ReduceLearningRateOnPlateau("weighted_acc", patience: 100);
        TrainingHistory history = new Trainer(Model()).Fit(data, new TrainingOptions
        {
            Epochs = 4, BatchSize = 4, Seed = 2, WeightedMetric = "acc", Metric = "acc", ValidationSplit = 0.25, Callbacks = { stopping, lowering },
        });
        Assert.That(history.WeightedMetricName, Is.EqualTo("weighted_acc"));
        double[] monitored = [.. history.History["val_weighted_acc"]];
        Assert.That(stopping.Best, Is.EqualTo(monitored.Max()), "an accuracy is maximized in Auto mode");
        Assert.That(stopping.BestEpoch, Is.EqualTo(Array.IndexOf(monitored, monitored.Max())));
        var e = Assert.Throws<InvalidOperationException>(() => new Trainer(Model()).Fit(data, new TrainingOptions { Callbacks = { new EarlyStopping("weighted_acc") } }))!;
        Assert.That(e.Message, Does.Contain("does not log"));
    }

    [Test]
    public void AnUnknownOrUnfittingName_IsRefused_NamingTheOption()
    {
        var unknown = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Fit(Labelled(6, 2), new TrainingOptions { WeightedMetric = "f1" }))!;
        Assert.That(unknown.Message, Does.Contain("Unknown metric 'f1'"));
        Assert.That(unknown.ParamName, Is.EqualTo("WeightedMetric"));
        var unfitting = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Fit(Labelled(6, 2), new TrainingOptions { WeightedMetric = "mae" }))!;
        Assert.That(unfitting.Message, Does.Contain("Metric 'mae' needs real-valued targets"));
    }
}

/// <summary>
/// Keras 3's published weighted metric answers (keras/src/metrics/accuracy_metrics_test.py and
/// regression_metrics_test.py, each test_weighted), through the weighted metric's arithmetic (Σw·m/Σw over one batch), at
/// each test's atol.
/// </summary>
public class KerasWeightedMetricAnswersTests
{
    private static double Rows(MetricKind kind, float[] yPred, float[] yTrue, float[] weights, bool logits = false)
        => Trainer.WeightedMetricOf(kind, logits, yPred, default, yTrue, weights);

    private static double Labels(MetricKind kind, float[] yPred, int[] labels, float[] weights)
        => Trainer.WeightedMetricOf(kind, false, yPred, labels, default, weights);

    [Test]
    public void Accuracies_TestWeighted()
    {
        // BinaryAccuracyTest.test_weighted: y [[1], [1], [0], [0]], p [[0.98], [1], [0], [0.6]], w [1, 0, 0, 1] → 0.5.
        Assert.That(Rows(MetricKind.BinaryAccuracy, [0.98f, 1f, 0f, 0.6f], [1, 1, 0, 0], [1, 0, 0, 1]), Is.EqualTo(0.5).Within(1e-3));
        // CategoricalAccuracyTest.test_weighted: y [[0, 0, 1], [0, 1, 0]], p [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], w [0.7, 0.3] → 0.3.
        Assert.That(Rows(MetricKind.CategoricalAccuracy, [0.1f, 0.9f, 0.8f, 0.05f, 0.95f, 0f], [0, 0, 1, 0, 1, 0], [0.7f, 0.3f]), Is.EqualTo(0.3).Within(1e-3));
        // SparseCategoricalAccuracyTest.test_weighted: y [2, 1], p [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], w [0.7, 0.3] → 0.3.
        Assert.That(Labels(MetricKind.SparseCategoricalAccuracy, [0.1f, 0.6f, 0.3f, 0.05f, 0.95f, 0f], [2, 1], [0.7f, 0.3f]), Is.EqualTo(0.3).Within(1e-3));
    }

    // regression_metrics_test.py's common 4×5 data and weights [1.0, 1.5, 2.0, 2.5].
    private static readonly float[] YTrue = [0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1];
    private static readonly float[] YPred = [0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1];
    private static readonly float[] Weights = [1.0f, 1.5f, 2.0f, 2.5f];

    [Test]
    public void ErrorMetrics_TestWeighted()
    {
        Assert.That(Rows(MetricKind.MeanSquaredError, YPred, YTrue, Weights), Is.EqualTo(0.54285).Within(1e-5), "MeanSquaredErrorTest");
        Assert.That(Rows(MetricKind.MeanAbsoluteError, YPred, YTrue, Weights), Is.EqualTo(0.54285).Within(1e-5), "MeanAbsoluteErrorTest");
        Assert.That(Rows(MetricKind.MeanAbsolutePercentageError, YPred, YTrue, Weights), Is.EqualTo(40e7).Within(1e-5 + 1e-6 * 40e7), "MeanAbsolutePercentageErrorTest (rtol 1e-6)");
        Assert.That(Rows(MetricKind.MeanSquaredLogarithmicError, YPred, YTrue, Weights), Is.EqualTo(0.26082).Within(1e-5), "MeanSquaredLogarithmicErrorTest");
        // RootMeanSquaredErrorTest.test_weighted: y [2, 4, 6, 8], p [1, 3, 2, 3], w [0, 1, 0, 1] → √13.
        Assert.That(Rows(MetricKind.RootMeanSquaredError, [1, 3, 2, 3], [2, 4, 6, 8], [0, 1, 0, 1]), Is.EqualTo(Math.Sqrt(13)).Within(1e-3), "RootMeanSquaredErrorTest");
        // LogCoshErrorTest.test_weighted: Σ w·log cosh(e) over the elements / Σ of the broadcast weights.
        float[] yTrue = [1, 9, 2, -5, -2, 6], yPred = [4, 8, 12, 8, 1, 3];
        double[] rowWeight = [1.2, 1.2, 1.2, 3.4, 3.4, 3.4];
        double expected = Enumerable.Range(0, 6).Sum(k => rowWeight[k] * Math.Log((Math.Exp(yPred[k] - yTrue[k]) + Math.Exp(yTrue[k] - yPred[k])) / 2)) / rowWeight.Sum();
        Assert.That(Rows(MetricKind.LogCoshError, yPred, yTrue, [1.2f, 3.4f]), Is.EqualTo(expected).Within(1e-3), "LogCoshErrorTest");
    }
}
