using NumLstm.Data;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// Keras 3's Precision, Recall and AUC (keras/src/metrics/confusion_metrics.py, metrics_utils.py): confusion counts per
/// threshold over every output of the epoch or set. Keras' published answers (confusion_metrics_test.py, each test named),
/// hand-worked cases, accumulation, the refusals, the trainer's wiring and the compile config.
/// </summary>
public class ConfusionMetricTests
{
    // Keras flattens y_true and y_pred: each element is fed as its own sample of width 1, so elementwise sample weights
    // (Keras' tests use them) are per-sample weights here.
    private static double Metric(MetricKind kind, MetricConfig config, float[] yPred, float[] yTrue, float[]? weights = null, OutputLink link = OutputLink.None)
    {
        var state = new ConfusionMetricState(kind, config, link);
        state.Add(yPred, default, yTrue, yPred.Length, weights ?? default);
        return state.Result();
    }

    private static double Precision(float[] yPred, float[] yTrue, float[]? weights = null, double? threshold = null)
        => Metric(MetricKind.Precision, MetricConfig.Precision(threshold), yPred, yTrue, weights);

    private static double Recall(float[] yPred, float[] yTrue, float[]? weights = null, double? threshold = null)
        => Metric(MetricKind.Recall, MetricConfig.Recall(threshold), yPred, yTrue, weights);

    private static double Auc(float[] yPred, float[] yTrue, float[]? weights = null, int numThresholds = 200, string curve = "ROC",
        string summation = "interpolation", IReadOnlyList<double>? thresholds = null, OutputLink link = OutputLink.None)
        => Metric(MetricKind.Auc, MetricConfig.Auc(numThresholds, curve, summation, thresholds: thresholds), yPred, yTrue, weights, link);

    [Test]
    public void Precision_KerasPublishedAnswers()
    {
        Assert.That(Precision([1, 0, 1, 0], [0, 1, 1, 0]), Is.EqualTo(0.5).Within(1e-12), "PrecisionTest.test_unweighted");
        Assert.That(Precision([1, 0, 1, 0, 1, 0, 1, 0], [0, 1, 1, 0, 1, 0, 0, 1], [1, 2, 3, 4, 4, 3, 2, 1]), Is.EqualTo(7.0 / 10).Within(1e-12),
            "PrecisionTest.test_weighted: (3 + 4) / ((1 + 3) + (4 + 2))");
        Assert.That(Precision([0, 0, 0, 0], [0, 0, 0, 0]), Is.EqualTo(0.0), "PrecisionTest.test_div_by_zero: divide_no_nan");
        Assert.That(Precision([1, 0, 0.6f, 0], [0, 1, 1, 0], threshold: 0.5), Is.EqualTo(0.5).Within(1e-12), "PrecisionTest.test_unweighted_with_threshold, 0.5");
        Assert.That(Precision([1, 0, 0.6f, 0], [0, 1, 1, 0], threshold: 0.7), Is.EqualTo(0.0), "PrecisionTest.test_unweighted_with_threshold, 0.7");
        Assert.That(Precision([1, 0, 0.6f, 0], [0, 1, 1, 0], [4, 0, 3, 1], threshold: 0.5), Is.EqualTo(3.0 / 7).Within(1e-12), "PrecisionTest.test_weighted_with_threshold, 0.5");
        Assert.That(Precision([1, 0, 0.6f, 0], [0, 1, 1, 0], [4, 0, 3, 1], threshold: 1.0), Is.EqualTo(0.0), "PrecisionTest.test_weighted_with_threshold, 1.0");
        // Precision's docstring: [0, 1, 1, 1] vs [1, 0, 1, 1] → 0.6666667; with sample_weight [0, 0, 1, 0] → 1.0.
        Assert.That(Precision([1, 0, 1, 1], [0, 1, 1, 1]), Is.EqualTo(2.0 / 3).Within(1e-12), "docstring");
        Assert.That(Precision([1, 0, 1, 1], [0, 1, 1, 1], [0, 0, 1, 0]), Is.EqualTo(1.0), "docstring, weighted");
    }

    [Test]
    public void Recall_KerasPublishedAnswers()
    {
        Assert.That(Recall([1, 0, 1, 0], [0, 1, 1, 0]), Is.EqualTo(0.5).Within(1e-12), "RecallTest.test_unweighted");
        Assert.That(Recall([1, 0, 1, 0, 0, 1, 0, 1], [0, 1, 1, 0, 1, 0, 0, 1], [1, 2, 3, 4, 4, 3, 2, 1]), Is.EqualTo(4.0 / 10).Within(1e-12),
            "RecallTest.test_weighted: (3 + 1) / ((2 + 3) + (4 + 1))");
        Assert.That(Recall([0, 0, 0, 0], [0, 0, 0, 0]), Is.EqualTo(0.0), "RecallTest.test_div_by_zero");
        Assert.That(Recall([1, 0, 0.6f, 0], [0, 1, 1, 0], threshold: 0.5), Is.EqualTo(0.5).Within(1e-12), "RecallTest.test_unweighted_with_threshold, 0.5");
        Assert.That(Recall([1, 0, 0.6f, 0], [0, 1, 1, 0], threshold: 0.7), Is.EqualTo(0.0), "RecallTest.test_unweighted_with_threshold, 0.7");
        Assert.That(Recall([1, 0, 0.6f, 0], [0, 1, 1, 0], [1, 4, 3, 2], threshold: 0.5), Is.EqualTo(3.0 / 7).Within(1e-12), "RecallTest.test_weighted_with_threshold, 0.5");
        Assert.That(Recall([1, 0, 1, 1], [0, 1, 1, 1], [0, 0, 1, 0]), Is.EqualTo(1.0), "docstring, weighted");
    }

    // PrecisionTest.test_multiple_updates / RecallTest.test_multiple_updates: two updates accumulate, 6/14.
    [Test]
    public void MultipleUpdates_Accumulate_KerasPublishedAnswers()
    {
        var precision = new ConfusionMetricState(MetricKind.Precision, MetricConfig.Precision(0.5), OutputLink.None);
        var recall = new ConfusionMetricState(MetricKind.Recall, MetricConfig.Recall(0.5), OutputLink.None);
        for (int k = 0; k < 2; k++)
        {
            precision.Add([1, 0, 0.6f, 0], default, [0, 1, 1, 0], 4, [4, 0, 3, 1]);
            recall.Add([1, 0, 0.6f, 0], default, [0, 1, 1, 0], 4, [1, 4, 3, 2]);
        }
        Assert.That(precision.Result(), Is.EqualTo(6.0 / 14).Within(1e-12));
        Assert.That(recall.Result(), Is.EqualTo(6.0 / 14).Within(1e-12));
    }

    // metrics_utils.update_confusion_matrix_variables: "y_pred > thresholds"; a prediction equal to the threshold is negative.
    [Test]
    public void AThresholdIsStrict()
    {
        Assert.That(Precision([0.5f, 0.7f], [1, 0]), Is.EqualTo(0.0), "0.5 is not above 0.5: TP 0, FP 1");
        Assert.That(Recall([0.5f, 0.7f], [1, 1]), Is.EqualTo(0.5), "0.5 is not above 0.5: TP 1, FN 1");
        Assert.That(Precision([float.NaN, 0.7f], [1, 1]), Is.EqualTo(1.0), "a NaN is above no threshold");
        Assert.That(Precision([0.7f, 0.7f], [0.3f, 0]), Is.EqualTo(0.5), "y_true cast to bool: 0.3 is positive");
    }

    // AUCTest's setUp: y_true [0, 0, 1, 1], y_pred [0, 0.5, 0.3, 0.9], num_thresholds 3 (thresholds −1e-7, 0.5, 1 + 1e-7),
    // sample_weight [1, 2, 3, 4]: tp [7, 4, 0], fp [3, 0, 0], fn [0, 3, 7], tn [0, 3, 3].
    private static readonly float[] AucPred = [0, 0.5f, 0.3f, 0.9f];
    private static readonly float[] AucTrue = [0, 0, 1, 1];
    private static readonly float[] AucWeights = [1, 2, 3, 4];

    [Test]
    public void Auc_KerasPublishedAnswers()
    {
        Assert.That(Auc(AucPred, AucTrue, numThresholds: 3), Is.EqualTo(0.75).Within(1e-9), "AUCTest.test_unweighted");
        float[] logits = AucPred.Select(p => (float)-Math.Log(1.0 / (p + 1e-12) - 1.0)).ToArray();
        Assert.That(Auc(logits, AucTrue, numThresholds: 3, link: OutputLink.Sigmoid), Is.EqualTo(0.75).Within(1e-9), "AUCTest.test_unweighted_from_logits");
        Assert.That(Auc(AucPred, AucTrue, numThresholds: 2, thresholds: [0.5]), Is.EqualTo(0.75).Within(1e-9), "AUCTest.test_manual_thresholds");
        Assert.That(Auc(AucTrue, AucTrue), Is.EqualTo(1.0).Within(1e-9), "AUCTest.test_unweighted_all_correct");
        Assert.That(Auc(AucPred, AucTrue, AucWeights, 3), Is.EqualTo((1 + 4.0 / 7) / 2).Within(1e-9), "AUCTest.test_weighted_roc_interpolation: 0.7855");
        Assert.That(Auc(AucPred, AucTrue, AucWeights, 3, summation: "majoring"), Is.EqualTo(1.0).Within(1e-9), "AUCTest.test_weighted_roc_majoring");
        Assert.That(Auc(AucPred, AucTrue, AucWeights, 3, summation: "minoring"), Is.EqualTo(4.0 / 7).Within(1e-9), "AUCTest.test_weighted_roc_minoring: 0.571");
        Assert.That(Auc(AucPred, AucTrue, AucWeights, 3, "PR", "majoring"), Is.EqualTo(3.0 / 7 + 4.0 / 7).Within(1e-9), "AUCTest.test_weighted_pr_majoring");
        Assert.That(Auc(AucPred, AucTrue, AucWeights, 3, "PR", "minoring"), Is.EqualTo(0.7 * 3.0 / 7).Within(1e-9), "AUCTest.test_weighted_pr_minoring");
        Assert.That(Auc(AucPred, AucTrue, AucWeights, 3, "PR"), Is.EqualTo(0.5 * (3 + 2 * Math.Log(2.5)) / 7 + 4.0 / 7).Within(1e-9),
            "AUCTest.test_weighted_pr_interpolation: 2.416/7 + 4/7");
        Assert.That(Auc(AucPred, AucTrue, [-1, -2, -3, -4], 3, "PR"), Is.EqualTo(0.0), "AUCTest.test_weighted_pr_interpolation_negative_weights");
        // AUC's docstring: the same data with sample_weight [1, 0, 0, 1] → 1.0.
        Assert.That(Auc(AucPred, AucTrue, [1, 0, 0, 1], 3), Is.EqualTo(1.0).Within(1e-9), "docstring, weighted");
        // AUCTest.test_extra_dims: [2, 2, 3] outputs, every element a point → 0.5.
        float[] z = [-10, 10, -10, 10, -10, 10, -12, 12, -12, 12, -12, 12];
        float[] extra = z.Select(v => (float)(1 / (1 + Math.Exp(v)))).ToArray();   // scipy's expit(−z)
        Assert.That(Auc(extra, [1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1]), Is.EqualTo(0.5).Within(1e-9), "AUCTest.test_extra_dims");
    }

    // By hand, num_thresholds 5 (thresholds −ε, 0.25, 0.5, 0.75, 1 + ε); y_pred [0.1, 0.4, 0.6, 0.8, 0.3, 0.9], y_true
    // [0, 0, 1, 1, 1, 0]: tp [3, 3, 2, 1, 0], fp [3, 2, 1, 1, 0], fn [0, 0, 1, 2, 3], tn [0, 1, 2, 2, 3]; recall
    // [1, 1, 2/3, 1/3, 0], fp rate [1, 2/3, 1/3, 1/3, 0], precision [1/2, 3/5, 2/3, 1/2, 0].
    // ROC: widths (fp rate) [1/3, 1/3, 0, 1/3]; heights mean [1, 5/6, ·, 1/6] → 2/3, min [1, 2/3, ·, 0] → 5/9, max [1, 1, ·, 1/3] → 7/9.
    // PR: widths (recall) [0, 1/3, 1/3, 1/3]; heights min [·, 3/5, 1/2, 0] → 11/30, max [·, 2/3, 2/3, 1/2] → 11/18.
    // PR interpolation (TP and P = TP + FP linear between thresholds, ∫ TP/P d(TP)/3): interval 0 adds nothing (ΔTP 0);
    // interval 1, P 5 → 3, TP = 2 + (P − 3)/2: (1/3)·∫₃⁵ ½·(½ + ½P)/P dP = (½ + ¼·ln(5/3))/3; interval 2, P 3 → 2, TP = P − 1:
    // (1/3)·∫₂³ (P − 1)/P dP = (1 − ln 1.5)/3; interval 3, P 2 → 0, TP = P/2: (1/3)·∫₀² ½·½ dP = 1/6.
    private static readonly float[] HandPred = [0.1f, 0.4f, 0.6f, 0.8f, 0.3f, 0.9f];
    private static readonly float[] HandTrue = [0, 0, 1, 1, 1, 0];

    [TestCase("ROC", "interpolation", 2.0 / 3)]
    [TestCase("ROC", "minoring", 5.0 / 9)]
    [TestCase("ROC", "majoring", 7.0 / 9)]
    [TestCase("PR", "minoring", 11.0 / 30)]
    [TestCase("PR", "majoring", 11.0 / 18)]
    [TestCase("roc", "Majoring", 7.0 / 9)]
    [TestCase("pr", "Minoring", 11.0 / 30)]
    public void Auc_HandWorked_EveryCurveAndSummation(string curve, string summation, double expected)
    {
        Assert.That(Auc(HandPred, HandTrue, numThresholds: 5, curve: curve, summation: summation), Is.EqualTo(expected).Within(1e-9));
        // The same thresholds given as a list (evenly spaced: Keras' bucket path too).
        Assert.That(Auc(HandPred, HandTrue, thresholds: [0.75, 0.25, 0.5], curve: curve, summation: summation), Is.EqualTo(expected).Within(1e-9), "thresholds given, sorted");
    }

    [Test]
    public void Auc_HandWorked_PrInterpolation()
    {
        double expected = (0.5 + 0.25 * Math.Log(5.0 / 3)) / 3 + (1 - Math.Log(1.5)) / 3 + 1.0 / 6;
        Assert.That(Auc(HandPred, HandTrue, numThresholds: 5, curve: "PR"), Is.EqualTo(expected).Within(1e-9));
    }

    // Thresholds not evenly spaced: Keras compares p > t for each (no clipping), so −0.5 is above none of them, where the
    // bucket path (evenly spaced) clips it to 0, above −ε.
    [Test]
    public void Auc_UnevenThresholds_CompareUnclipped_EvenThresholds_Clip()
    {
        // Uneven [−ε, 0.3, 0.6, 1 + ε]; predictions −0.5 (positive), 0.4 (negative), 0.7 (positive), 1.5 (negative).
        // tp [1, 1, 1, 0], fp [2, 2, 1, 1] (1.5 is above 1 + ε), fn [1, 1, 1, 2], tn [0, 0, 1, 1]: the −0.5 positive is a
        // false negative even at −ε. ROC: fp rate [1, 1, 1/2, 1/2], recall [1/2, 1/2, 1/2, 0]; interpolation: (1/2)·(1/2) = 1/4
        // (clipped, as the bucket path would: tp [2, 1, 1, 0], fp [2, 2, 1, 0], area 1/4 + 1/8 = 3/8).
        Assert.That(Auc([-0.5f, 0.4f, 0.7f, 1.5f], [1, 0, 1, 0], thresholds: [0.3, 0.6]), Is.EqualTo(1.0 / 4).Within(1e-9));
        // Even [−ε, 0.5, 1 + ε] (num_thresholds 3): −0.5 → 0 and 1.5 → 1 clipped; tp [2, 1, 0], fp [2, 1, 0]: fp rate and
        // recall [1, 1/2, 0], area 1/2·3/4 + 1/2·1/4 = 1/2.
        Assert.That(Auc([-0.5f, 0.4f, 0.7f, 1.5f], [1, 0, 1, 0], numThresholds: 3), Is.EqualTo(0.5).Within(1e-9));
    }

    // Keras' AUC does not check given thresholds against [0, 1] (only Precision and Recall call assert_thresholds_range): it
    // sorts them and puts −ε before and 1 + ε after, so a threshold below −ε or above 1 + ε leaves self._thresholds
    // unsorted, and the per-threshold comparison p > t_k (not evenly spaced) counts each threshold on its own.
    // thresholds [−0.5] → [−ε, −0.5, 1 + ε]; y_pred [−0.2, −0.7, 0.4, 0.6], y_true [1, 0, 0, 1]:
    //   t = −ε:   tp 1 (0.6), fp 1 (0.4), fn 1 (−0.2), tn 1 (−0.7)
    //   t = −0.5: tp 2 (−0.2 and 0.6), fp 1, fn 0, tn 1
    //   t = 1 + ε: tp 0, fp 0, fn 2, tn 2
    // ROC: recall [1/2, 1, 0], fp rate [1/2, 1/2, 0]; interpolation (1/2 − 1/2)·3/4 + (1/2 − 0)·(1 + 0)/2 = 1/4.
    // thresholds [2] → [−ε, 2, 1 + ε]; y_pred [1.5, 0.5, 3, 0.2], y_true [1, 0, 1, 0]:
    //   t = −ε: tp 2, fp 2, fn 0, tn 0;  t = 2: tp 1 (3), fp 0, fn 1, tn 2;  t = 1 + ε: tp 2 (1.5, 3), fp 0, fn 0, tn 2
    // ROC: recall [1, 1/2, 1], fp rate [1, 0, 0]; interpolation (1 − 0)·3/4 + 0 = 3/4; PR (minoring): recall widths
    // [1/2, −1/2], precision [1/2, 1, 1]: 1/2·1/2 − 1/2·1 = −1/4.
    [Test]
    public void Auc_GivenThresholdsOutsideZeroOne_AreCountedEachOnItsOwn_AsKerasUnsortedThresholds()
    {
        Assert.That(Auc([-0.2f, -0.7f, 0.4f, 0.6f], [1, 0, 0, 1], thresholds: [-0.5]), Is.EqualTo(0.25).Within(1e-9), "−0.5 after −ε");
        Assert.That(Auc([1.5f, 0.5f, 3f, 0.2f], [1, 0, 1, 0], thresholds: [2.0]), Is.EqualTo(0.75).Within(1e-9), "2 before 1 + ε");
        Assert.That(Auc([1.5f, 0.5f, 3f, 0.2f], [1, 0, 1, 0], thresholds: [2.0], curve: "PR", summation: "minoring"), Is.EqualTo(-0.25).Within(1e-9), "PR minoring");
    }

    [Test]
    public void Accumulating_Batches_EqualsTheWholeSetAtOnce_AndAllocatesNothing()
    {
        var random = new Random(3);
        float[] pred = Enumerable.Range(0, 60).Select(_ => (float)random.NextDouble()).ToArray();
        float[] truth = Enumerable.Range(0, 60).Select(_ => (float)random.Next(2)).ToArray();
        float[] weights = Enumerable.Range(0, 20).Select(k => 0.5f + k % 3).ToArray();
        foreach (MetricConfig config in new[] { MetricConfig.Auc(curve: "PR"), MetricConfig.Auc(), MetricConfig.Precision(0.4), MetricConfig.Recall() })
        {
            MetricKind kind = config.Identifier switch { "AUC" => MetricKind.Auc, "Precision" => MetricKind.Precision, _ => MetricKind.Recall };
            var whole = new ConfusionMetricState(kind, config, OutputLink.None);
            whole.Add(pred, default, truth, 20, weights);   // 20 samples of 3 outputs
            var batched = new ConfusionMetricState(kind, config, OutputLink.None);
            batched.Add(pred.AsSpan(0, 21), default, truth.AsSpan(0, 21), 7, weights.AsSpan(0, 7));
            long before = GC.GetAllocatedBytesForCurrentThread();
            batched.Add(pred.AsSpan(21, 27), default, truth.AsSpan(21, 27), 9, weights.AsSpan(7, 9));
            batched.Add(pred.AsSpan(48), default, truth.AsSpan(48), 4, weights.AsSpan(16));
            batched.Result();
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.EqualTo(0), $"{config}: Add and Result allocate nothing");
            Assert.That(batched.Result(), Is.EqualTo(whole.Result()).Within(1e-12), config.ToString());
            // And not a mean of the batches' values.
            var first = new ConfusionMetricState(kind, config, OutputLink.None);
            first.Add(pred.AsSpan(0, 21), default, truth.AsSpan(0, 21), 7, weights.AsSpan(0, 7));
            Assert.That(first.Result(), Is.Not.EqualTo(whole.Result()).Within(1e-6), $"{config}: the data must tell the whole set from its first batch");
        }
    }

    // -------------------------------------------------------------------------------------------------- the trainer

    // A naive reference: Keras' AUC by direct comparison p > t_k at each threshold, trapezoids over the ROC curve.
    private static double NaiveRocAuc(IReadOnlyList<double> p, IReadOnlyList<bool> positive, IReadOnlyList<double>? w = null, int n = 200)
    {
        double[] t = [-1e-7, .. Enumerable.Range(1, n - 2).Select(i => (double)(float)(i / (double)(n - 1))), 1 + 1e-7];
        var tpr = new double[n];
        var fpr = new double[n];
        for (int k = 0; k < n; k++)
        {
            double tp = 0, fp = 0, pos = 0, neg = 0;
            for (int e = 0; e < p.Count; e++)
            {
                double weight = w?[e] ?? 1;
                if (positive[e]) { pos += weight; if (p[e] > t[k]) tp += weight; }
                else { neg += weight; if (p[e] > t[k]) fp += weight; }
            }
            tpr[k] = tp / pos;
            fpr[k] = fp / neg;
        }
        double area = 0;
        for (int k = 0; k + 1 < n; k++) area += (fpr[k] - fpr[k + 1]) * (tpr[k] + tpr[k + 1]) / 2;
        return area;
    }

    private static double Sigmoid(float x) => (float)(1 / (1 + Math.Exp(-(double)x)));

    // A binary classifier as the seed model trains it: one output per sequence, 0/1 target rows, binary cross-entropy on
    // logits (a Dense without activation).
    private static (SequenceDataset Data, Trainer Trainer) Binary(int count, int seed = 5)
    {
        const int steps = 4, features = 2;
        var random = new Random(seed);
        float[] x = Enumerable.Range(0, count * steps * features).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] y = Enumerable.Range(0, count).Select(n => x[n * steps * features] + 0.5 * random.NextDouble() > 0.1 ? 1f : 0f).ToArray();
        var trainer = new Trainer(ModelBuilder.Input(features).Lstm(5).Dense(1).Build<float>(seed: 2));
        return (SequenceDataset.ForRegression(x, count, steps, features, y, 1), trainer);
    }

    [Test]
    public void Evaluate_OnLogits_ThresholdsTheProbabilities_AndKerasFromLogitsFalse_TheOutputsAsTheyAre()
    {
        (SequenceDataset data, Trainer trainer) = Binary(37);
        float[] logits = trainer.Predict(data, batchSize: 8);
        bool[] positive = data.Targets!.Select(y => y != 0).ToArray();
        double[] probabilities = logits.Select(Sigmoid).ToArray();
        double auc = trainer.Evaluate(data, "binary_crossentropy", batchSize: 8, metric: "auc").Metric;
        Assert.That(auc, Is.EqualTo(NaiveRocAuc(probabilities, positive)).Within(1e-9), "σ of the logits (NumLstm's choice)");
        Assert.That(trainer.Evaluate(data, "binary_crossentropy", batchSize: 8, metric: MetricConfig.Auc(fromLogits: true)).Metric, Is.EqualTo(auc).Within(1e-12),
            "Keras' from_logits=True: σ once");
        double raw = trainer.Evaluate(data, "binary_crossentropy", batchSize: 8, metric: MetricConfig.Auc(fromLogits: false)).Metric;
        Assert.That(raw, Is.EqualTo(NaiveRocAuc(logits.Select(v => Math.Clamp((double)v, 0, 1)).ToArray(), positive)).Within(1e-9),
            "Keras' from_logits=False: the logits as they are, clipped to [0, 1] by its bucket path");
        Assert.That(Math.Abs(raw - auc), Is.GreaterThan(1e-3), "the data must tell the two readings apart");
        // Precision and recall at 0.5 of σ(x), i.e. x > 0.
        double tp = Enumerable.Range(0, 37).Count(n => positive[n] && probabilities[n] > 0.5);
        double predicted = probabilities.Count(p => p > 0.5), actual = positive.Count(p => p);
        Assert.That(predicted, Is.InRange(1, 36), "some but not all predicted positive");
        Assert.That(trainer.Evaluate(data, "binary_crossentropy", batchSize: 8, metric: "precision").Metric, Is.EqualTo(tp / predicted).Within(1e-12));
        Assert.That(trainer.Evaluate(data, "binary_crossentropy", batchSize: 8, metric: "Recall").Metric, Is.EqualTo(tp / actual).Within(1e-12));
    }

    [Test]
    public void EvaluateWeighted_WeighsEachSampleInTheCounts()
    {
        (SequenceDataset data, Trainer trainer) = Binary(29);
        float[] weights = Enumerable.Range(0, 29).Select(n => 0.25f + n % 4).ToArray();
        float[] logits = trainer.Predict(data, batchSize: 6);
        bool[] positive = data.Targets!.Select(y => y != 0).ToArray();
        double expected = NaiveRocAuc(logits.Select(Sigmoid).ToArray(), positive, weights.Select(w => (double)w).ToArray());
        (double _, double unweighted, double weighted) = trainer.EvaluateWeighted(data.WithSampleWeights(weights), "AUC", "binary_crossentropy", batchSize: 6, metric: "AUC");
        Assert.That(weighted, Is.EqualTo(expected).Within(1e-9));
        Assert.That(Math.Abs(unweighted - weighted), Is.GreaterThan(1e-4), "the weights must change the answer");
    }

    // Class labels and K > 1 outputs: the labels one-hot (what the same Keras model with categorical targets computes),
    // every output an element; on logits (sparse categorical cross-entropy from logits) each row's softmax.
    [Test]
    public void Evaluate_ClassLabels_AreOneHot_OverTheRowsSoftmax()
    {
        const int count = 23, steps = 3, features = 2, classes = 3;
        var random = new Random(11);
        float[] x = Enumerable.Range(0, count * steps * features).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        int[] labels = Enumerable.Range(0, count).Select(_ => random.Next(classes)).ToArray();
        SequenceDataset data = SequenceDataset.ForClassification(x, count, steps, features, labels, classes);
        var trainer = new Trainer(ModelBuilder.Input(features).Lstm(4).Dense(classes).Build<float>(seed: 7));
        float[] logits = trainer.Predict(data, batchSize: 5);
        var p = new List<double>();
        var positive = new List<bool>();
        for (int n = 0; n < count; n++)
        {
            double max = logits.Skip(n * classes).Take(classes).Max(v => (double)v);
            double sum = Enumerable.Range(0, classes).Sum(j => Math.Exp(logits[n * classes + j] - max));
            for (int j = 0; j < classes; j++) { p.Add((float)(Math.Exp(logits[n * classes + j] - max) / sum)); positive.Add(labels[n] == j); }
        }
        Assert.That(trainer.Evaluate(data, batchSize: 5, metric: "auc").Metric, Is.EqualTo(NaiveRocAuc(p, positive)).Within(1e-9));
    }

    private sealed class RunProbe : ITrainingCallback
    {
        public TrainingRun? Run;
        public void OnTrainBegin(TrainingRun run) => Run = run;
    }

    [Test]
    public void Fit_LogsTheMetricAndItsValidationForm_PerEpoch_UnderItsName()
    {
        (SequenceDataset data, Trainer trainer) = Binary(30);
        var probe = new RunProbe();
        TrainingHistory history = trainer.Fit(data, new TrainingOptions
        {
            Epochs = 2, BatchSize = 8, Loss = "binary_crossentropy", Metric = MetricConfig.Auc(curve: "PR", name: "pr_auc"), WeightedMetric = "precision",
            Validation = data, Callbacks = [probe],
            OptimizerFactory = (parameters, _) => new Sgd<float>(parameters, learningRate: 0),   // the weights stay as evaluated
        });
        Assert.That(history.LoggedNames, Is.EqualTo(new[] { "loss", "pr_auc", "precision", "val_loss", "val_pr_auc", "val_precision" }));
        double expected = trainer.Evaluate(data, "binary_crossentropy", batchSize: 8, metric: MetricConfig.Auc(curve: "PR")).Metric;
        Assert.That(expected, Is.InRange(0.01, 0.99));
        foreach (EpochRecord epoch in history.Epochs)
        {
            Assert.That(epoch.TrainMetric, Is.EqualTo(expected).Within(1e-12), "the whole epoch's counts");
            Assert.That(epoch.ValidationMetric, Is.EqualTo(expected).Within(1e-12));
            Assert.That(epoch.ValidationWeightedMetric, Is.EqualTo(trainer.Evaluate(data, "binary_crossentropy", metric: "precision").Metric).Within(1e-12));
        }
        Assert.That(probe.Run!.Increases("val_pr_auc"), Is.True, "a named AUC improves upwards (Keras' _direction = \"up\")");
        Assert.That(probe.Run.Increases("precision"), Is.True);
    }

    // Keras' AUC, Precision and Recall set _direction = "up": EarlyStopping(monitor="val_auc") in auto mode keeps going while
    // it rises (min mode would stop at epoch 1 with patience 0).
    [TestCase("auc")]
    [TestCase("AUC")]
    [TestCase("precision")]
    [TestCase("Recall")]
    public void EarlyStopping_OnValAuc_Auto_IsMax(string metric)
    {
        var run = new TrainingRun(ModelBuilder.Input(2).Lstm(3).Dense(1).Build<float>(seed: 1), hasValidation: true, metric);
        var stopping = new EarlyStopping(monitor: "val_" + metric, patience: 0);
        stopping.OnTrainBegin(run);
        double[] rising = [0.5, 0.6, 0.7, 0.8];
        int epochs = 0;
        foreach (double value in rising)
        {
            epochs++;
            var record = new EpochRecord
            {
                Epoch = epochs - 1, TrainLoss = 1, TrainMetric = value, ValidationLoss = 1, ValidationMetric = value, LearningRate = 1e-3, Seconds = 0,
                MaxGradientNorm = 0, MeanGradientNorm = 0, MaxLayerGradientNorms = new Dictionary<string, double>(), BatchLosses = [],
            };
            if (stopping.OnEpochEnd(record)) break;
        }
        Assert.That(epochs, Is.EqualTo(4), "a rising AUC never stops");
        Assert.That(run.MetricIncreases, Is.True);
    }

    public static IEnumerable<TestCaseData> OptionRefusals()
    {
        TestCaseData Case(string name, MetricConfig config, string message) => new TestCaseData(config, message).SetName("Metric_Refuses_" + name);
        yield return Case("TwoPrecisionThresholds", new MetricConfig("Precision") { Thresholds = [0.3, 0.6] }, "Thresholds = [0.3, 0.6] not supported (one threshold");
        yield return Case("ThresholdAboveOne", MetricConfig.Recall(1.5), "Thresholds = [1.5] not supported (Keras raises: threshold values must be in [0, 1])");
        yield return Case("OneThreshold", MetricConfig.Auc(numThresholds: 1), "NumThresholds = 1 not supported");
        yield return Case("UnknownCurve", MetricConfig.Auc(curve: "PRGAIN"), "Curve = 'PRGAIN' not supported");
        yield return Case("UnknownSummation", MetricConfig.Auc(summationMethod: "trapezoid"), "SummationMethod = 'trapezoid' not supported");
        yield return Case("NonFiniteAucThreshold", MetricConfig.Auc(thresholds: [0.5, double.NaN]), "Thresholds = [0.5, NaN] not supported");
        yield return Case("CurveOnPrecision", new MetricConfig("precision") { Curve = "PR" }, "Curve = 'PR' not supported (an option of AUC only)");
        yield return Case("NumThresholdsOnRecall", new MetricConfig("recall") { NumThresholds = 50 }, "NumThresholds = 50 not supported (an option of AUC only)");
        yield return Case("ThresholdsOnMae", new MetricConfig("mae") { Thresholds = [0.5] }, "Thresholds = [0.5] not supported (Precision, Recall and AUC take options");
        yield return Case("FromLogitsOnAccuracy", new MetricConfig("binary_accuracy") { FromLogits = true }, "FromLogits = True not supported");
        yield return Case("ValName", MetricConfig.Auc(name: "val_auc"), "Name 'val_auc' cannot be logged");
        yield return Case("LowerCaseClass", "Auc", "Unknown metric 'Auc'");
    }

    [TestCaseSource(nameof(OptionRefusals))]
    public void WhatIsNotBuilt_IsAnArgumentException_NamingTheOptionAndValue(MetricConfig config, string message)
    {
        (SequenceDataset data, Trainer trainer) = Binary(9);
        var e = Assert.Throws<ArgumentException>(() => trainer.Evaluate(data, "binary_crossentropy", metric: config))!;
        Assert.That(e.Message, Does.Contain(message));
        Assert.That(e.ParamName, Is.EqualTo("metric"));
        var fit = Assert.Throws<ArgumentException>(() => trainer.Fit(data, new TrainingOptions { Loss = "binary_crossentropy", WeightedMetric = config }))!;
        Assert.That(fit.ParamName, Is.EqualTo("WeightedMetric"));
    }

    // ---------------------------------------------------------------------------------------------- compile config

    private static KerasCompileConfig Read(string metrics, string loss = "\"binary_crossentropy\"")
        => KerasCompileConfig.FromModelConfig("{\"compile_config\": {\"optimizer\": \"adam\", \"loss\": " + loss + ", \"metrics\": " + metrics + "}}")!;

    [Test]
    public void CompileConfig_ReadsTheStringsAndKerasMetricObjects()
    {
        // Keras 3's get_config of AUC(num_thresholds=50, curve="PR", summation_method="majoring", name="pr_auc", from_logits=True)
        // and of Precision(thresholds=0.7) and Recall() as serialize_keras_object writes them in compile_config.
        KerasCompileConfig compile = Read("""
            ["AUC", "recall",
             {"module": "keras.metrics", "class_name": "AUC", "config": {"name": "pr_auc", "dtype": "float32", "num_thresholds": 50, "curve": "PR",
              "summation_method": "majoring", "multi_label": false, "num_labels": null, "label_weights": null, "from_logits": true}, "registered_name": null},
             {"module": "keras.metrics", "class_name": "Precision", "config": {"name": "precision", "dtype": "float32", "thresholds": 0.7, "top_k": null, "class_id": null}, "registered_name": null},
             {"module": "keras.metrics", "class_name": "Recall", "config": {}, "registered_name": null},
             {"module": "keras.metrics", "class_name": "AUC", "config": {"name": "auc_1", "num_thresholds": 4, "thresholds": [0.3, 0.5]}, "registered_name": null}]
            """);
        Assert.That(compile.Metrics, Is.EqualTo(new[]
        {
            new MetricConfig("AUC") { FromLogits = false }, new MetricConfig("recall") { FromLogits = false },
            MetricConfig.Auc(50, "PR", "majoring", "pr_auc", fromLogits: true),
            MetricConfig.Precision(0.7, fromLogits: false),
            MetricConfig.Recall(fromLogits: false),
            MetricConfig.Auc(curve: "ROC", name: "auc_1", thresholds: [0.3, 0.5], fromLogits: false) with { NumThresholds = null },
        }));
        (SequenceDataset data, Trainer trainer) = Binary(12);
        TrainingHistory history = trainer.Fit(data, Read("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"name": "pr_auc", "curve": "PR"}, "registered_name": null}]""",
                """{"module": "keras.losses", "class_name": "BinaryCrossentropy", "config": {"from_logits": true}, "registered_name": null}""")
            .ToTrainingOptions(epochs: 1, batchSize: 4, validation: data));
        Assert.That(history.LoggedNames, Is.EqualTo(new[] { "loss", "pr_auc", "val_loss", "val_pr_auc" }));
    }

    [TestCase("""[{"module": "keras.metrics", "class_name": "Precision", "config": {"top_k": 5}}]""", "compile_config.metrics[0].config.top_k", "5 not supported")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "Recall", "config": {"class_id": 1}}]""", "compile_config.metrics[0].config.class_id", "1 not supported")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "Precision", "config": {"thresholds": [0.4, 0.9]}}]""", "compile_config.metrics[0].config.thresholds", "not supported (one threshold")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "Recall", "config": {"thresholds": 1.5}}]""", "compile_config.metrics[0].config.thresholds", "must be in [0, 1]")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"multi_label": true}}]""", "compile_config.metrics[0].config.multi_label", "true not supported")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"label_weights": [1, 2]}}]""", "compile_config.metrics[0].config.label_weights", "not supported")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"num_labels": 2}}]""", "compile_config.metrics[0].config.num_labels", "not supported")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"num_thresholds": 1}}]""", "compile_config.metrics[0].config.num_thresholds", "must be an integer > 1")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"curve": "PRGAIN"}}]""", "compile_config.metrics[0].config.curve", "'PRGAIN' not supported")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"summation_method": "riemann"}}]""", "compile_config.metrics[0].config.summation_method", "'riemann' not supported")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"thresholds": 0.5}}]""", "compile_config.metrics[0].config.thresholds", "must be a list of numbers")]
    [TestCase("""[{"module": "keras.metrics", "class_name": "AUC", "config": {"thresold": 0.5}}]""", "compile_config.metrics[0].config.thresold", "is not a field NumLstm knows here")]
    [TestCase("""[{"module": "my.metrics", "class_name": "AUC", "config": {}}]""", "compile_config.metrics[0].module", "is a custom class")]
    [TestCase("""["mae", {"module": "keras.metrics", "class_name": "F1Score", "config": {}}]""", "compile_config.metrics[1].class_name", "'F1Score' not supported")]
    public void CompileConfig_RefusesWhatIsNotBuilt_NamingThePath(string metrics, string path, string message)
    {
        var e = Assert.Throws<FormatException>(() => Read(metrics))!;
        Assert.That(e.Message, Does.Contain(path + ":").And.Contain(message));
    }
}
