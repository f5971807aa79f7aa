using NumLstm.Data;
using NumLstm.Models;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// Keras 3's R2Score metric (<c>metrics=["r2_score"]</c>, defaults class_aggregation="uniform_average",
/// num_regressors=0): sums kept per output column over the whole epoch or set, not a mean of per-sample values.
/// </summary>
public class R2ScoreTests
{
    private static double R2(float[] yPred, float[] yTrue, float[] weights) => Trainer.WeightedMetricOf(MetricKind.R2Score, false, yPred, default, yTrue, weights);

    [Test]
    public void KerasPublishedAnswers()
    {
        // regression_metrics.py's docstring: y [[1], [4], [3]], p [[2], [4], [4]] → 0.57142854.
        Assert.That(R2([2, 4, 4], [1, 4, 3], [1, 1, 1]), Is.EqualTo(0.57142854).Within(1e-6), "docstring");
        // regression_metrics_test.py, test_r2_sklearn_comparison, uniform_average: −0.12 (columns 0.37, −1.295, 0.565).
        float[] yTrue = [0, 0, 1, 0, 1, 0, 1, 0, 0];
        Assert.That(R2([0.4f, 0.5f, 0.6f, 0.1f, 0.2f, 0.3f, 0.5f, 0.8f, 0.2f], yTrue, [1, 1, 1]), Is.EqualTo(-0.12).Within(1e-6), "sklearn comparison");
        // test_r2_tfa_comparison, uniform_average, 0 regressors, sample weights [0.8, 0.1, 0.4]: −3.0615367889404297.
        Assert.That(R2([0.4f, 0.9f, 1.6f, 0.1f, 1.2f, 0.6f, 1.5f, 0.8f, 0.6f], yTrue, [0.8f, 0.1f, 0.4f]), Is.EqualTo(-3.0615367889404297).Within(1e-6), "tfa comparison, weighted");
    }

    [Test]
    public void AConstantColumn_ScoresZero_UnlessItsResidualIsZeroToo()
    {
        // total = 0: 1 − R/0 is −∞ (Keras' where(isinf) makes it 0) or, with R = 0, NaN (kept, as Keras keeps it).
        Assert.That(R2([1, 2, 2, 2], [1, 1, 3, 1], [1, 1]), Is.EqualTo((1 - 1.0 / 2.0 + 0.0) / 2).Within(1e-12),
            "column 0: total 2, residual 1; column 1 constant (total 0) with residual 2: −∞, scored 0");
        Assert.That(R2([1, 1], [1, 1], [1, 1]), Is.NaN, "constant and exact: 0/0");
    }

    private static SequenceDataset Rows(int count, int steps, int seed = 6)
    {
        var random = new Random(seed);
        float[] x = Enumerable.Range(0, count * steps * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] targets = Enumerable.Range(0, count * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        return SequenceDataset.ForRegression(x, count, steps, 2, targets, 2);
    }

    // R² over the whole set from the model's predictions, by the textbook formula per column, averaged.
    private static double ByHand(float[] predictions, float[] targets, float[]? weights = null)
    {
        int n = targets.Length / 2;
        double score = 0;
        for (int j = 0; j < 2; j++)
        {
            double wSum = 0, mean = 0;
            for (int i = 0; i < n; i++) { double w = weights?[i] ?? 1; wSum += w; mean += w * targets[i * 2 + j]; }
            mean /= wSum;
            double residual = 0, total = 0;
            for (int i = 0; i < n; i++)
            {
                double w = weights?[i] ?? 1;
                residual += w * Math.Pow((double)targets[i * 2 + j] - predictions[i * 2 + j], 2);
                total += w * Math.Pow(targets[i * 2 + j] - mean, 2);
            }
            score += 1 - residual / total;
        }
        return score / 2;
    }

    [Test]
    public void Evaluate_IsTheWholeSetsScore_NotAMeanOfTheBatches()
    {
        SequenceDataset data = Rows(11, 3);
        var trainer = new Trainer(ModelBuilder.Input(2).Lstm(4).Dense(2).Build<float>(seed: 3));
        float[] predictions = trainer.Predict(data, batchSize: 4);   // Evaluate's batches, so the same bits
        double expected = ByHand(predictions, data.Targets!);
        Assert.That(trainer.Evaluate(data, batchSize: 4, metric: "r2_score").Metric, Is.EqualTo(expected).Within(1e-9), "batches of 4, 4, 3");
        double meanOfBatches = (ByHand(predictions[..8], data.Targets![..8]) + ByHand(predictions[8..16], data.Targets![8..16]) + ByHand(predictions[16..], data.Targets![16..])) / 3;
        Assert.That(Math.Abs(meanOfBatches - expected), Is.GreaterThan(1e-3), "the two readings differ on this data");
        float[] weights = Enumerable.Range(0, 11).Select(i => 0.5f + i % 3).ToArray();
        Assert.That(trainer.EvaluateWeighted(data.WithSampleWeights(weights), "R2Score", batchSize: 4).WeightedMetric,
            Is.EqualTo(ByHand(predictions, data.Targets!, weights)).Within(1e-9), "weighted, as Keras' R2Score with sample_weight");
    }

    [Test]
    public void Fit_LogsIt_AndEarlyStoppingMaximizesIt_AndLabelsAreRefused()
    {
        SequenceDataset data = Rows(16, 3);
        var stopping = new EarlyStopping("val_r2_score", patience: 100);
        TrainingHistory history = new Trainer(ModelBuilder.Input(2).Lstm(4).Dense(2).Build<float>(seed: 3)).Fit(data,
            new TrainingOptions { Epochs = 4, BatchSize = 4, Seed = 1, Metric = "r2_score", ValidationSplit = 0.25, Callbacks = { stopping } });
        Assert.That(history.LoggedNames, Is.EqualTo(new[] { "loss", "r2_score", "val_loss", "val_r2_score" }));
        double[] monitored = [.. history.History["val_r2_score"]];
        Assert.That(stopping.Best, Is.EqualTo(monitored.Max()), "R2Score's _direction is up");
        var labelled = SequenceDataset.ForClassification(data.X, 16, 3, 2, new int[16], 2);
        var e = Assert.Throws<ArgumentException>(() => new Trainer(ModelBuilder.Input(2).Lstm(4).Dense(2).Build<float>(seed: 3)).Fit(labelled, new TrainingOptions { Metric = "r2_score" }))!;
        Assert.That(e.Message, Does.Contain("Metric 'r2_score' needs real-valued targets"));
    }
}
