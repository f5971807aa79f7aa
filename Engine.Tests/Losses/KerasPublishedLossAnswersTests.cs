using NumLstm.Losses;

namespace NumLstm.Tests.Losses;

/// <summary>
/// Keras 3's own published answers for the losses and metrics NumLstm has (keras/src/losses/losses_test.py,
/// keras/src/ops/nn_test.py's cross-entropy ops, keras/src/metrics/accuracy_metrics_test.py,
/// keras/src/metrics/regression_metrics_test.py), at the tolerance each
/// Keras test uses: <c>assertAlmostEqual</c> is np.testing.assert_almost_equal with decimal=3 (|a − b| &lt; 1.5e-3),
/// <c>assertAllClose</c> atol = rtol = 1e-6 unless the test says otherwise (keras/src/testing/test_case.py).
/// <para>Mapping: our losses return Keras' default reduction, <c>sum_over_batch_size</c>; a <c>reduction=None</c> answer
/// (one loss per sample) is the loss of that sample's row alone. Keras' default is <c>from_logits=False</c>, ours true,
/// so every case passes fromLogits as the Keras test does. The sample-weighted tests are in
/// <see cref="KerasSampleWeightedAnswersTests{T}"/>. Not ported, because NumLstm has no such option: timestep sample
/// weights and every weighted metric,
/// <c>reduction="sum"</c> and <c>"mean_with_sample_weight"</c>, <c>ignore_class</c> (its unmasked element is ported),
/// BinaryAccuracy's <c>threshold</c>, <c>dtype="bfloat16"</c>, and the losses we do not have (hinge, KL, …). Huber, LogCosh,
/// MSLE and MAPE and their metrics: <see cref="KerasPublishedRegressionAnswersTests{T}"/>.</para>
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class KerasPublishedLossAnswersTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly bool IsFloat = typeof(T) == typeof(float);

    private static T[] Values(params double[] values) => Array.ConvertAll(values, T.CreateTruncating);

    /// <summary>Keras' assertAlmostEqual(x, expected): decimal = 3.</summary>
    private static void AssertAlmostEqual(double expected, T actual, string what)
        => Assert.That(double.CreateTruncating(actual), Is.EqualTo(expected).Within(1.5e-3), what);

    /// <summary>Keras' assertAllClose(x, expected): atol = rtol = 1e-6 unless given.</summary>
    private static void AssertAllClose(double expected, double actual, string what, double atol = 1e-6, double rtol = 1e-6)
        => Assert.That(actual, Is.EqualTo(expected).Within(atol + rtol * Math.Abs(expected)), what);

    private static T Mse(double[] yTrue, double[] yPred) => new MeanSquaredError<T>().Forward(Values(yPred), Values(yTrue), default);
    private static T Mae(double[] yTrue, double[] yPred) => new MeanAbsoluteError<T>().Forward(Values(yPred), Values(yTrue), default);

    private static T Binary(double[] yTrue, double[] yPred, bool fromLogits, double labelSmoothing = 0)
        => new BinaryCrossEntropy<T>(fromLogits, labelSmoothing).Forward(Values(yPred), Values(yTrue), default);

    private static T Categorical(double[] yTrue, double[] yPred, int batch, bool fromLogits, double labelSmoothing = 0)
        => new CategoricalCrossEntropy<T>(fromLogits, labelSmoothing).Forward(Values(yPred), Values(yTrue), batch, default);

    private static T Sparse(int[] labels, double[] yPred, bool fromLogits)
        => new SoftmaxCrossEntropy<T>(fromLogits).Forward(Values(yPred), labels, default);

    // y_true = [[1, 9, 2], [-5, -2, 6]], y_pred = [[4, 8, 12], [8, 1, 3]]: the regression losses' common case.
    private static readonly double[] RegressionTrue = [1, 9, 2, -5, -2, 6];
    private static readonly double[] RegressionPred = [4, 8, 12, 8, 1, 3];

    [Test]
    public void MeanSquaredError_TestAllCorrectUnweighted_AndTestUnweighted()
    {
        // MeanSquaredErrorTest.test_all_correct_unweighted: loss(y, y) = 0; test_unweighted: 49.5.
        double[] same = [4, 8, 12, 8, 1, 3];
        AssertAlmostEqual(0.0, Mse(same, same), "all correct");
        AssertAlmostEqual(49.5, Mse(RegressionTrue, RegressionPred), "unweighted");
    }

    [Test]
    public void MeanAbsoluteError_TestAllCorrectUnweighted_AndTestUnweighted()
    {
        // MeanAbsoluteErrorTest.test_all_correct_unweighted: 0; test_unweighted: 5.5.
        double[] same = [4, 8, 12, 8, 1, 3];
        AssertAlmostEqual(0.0, Mae(same, same), "all correct");
        AssertAlmostEqual(5.5, Mae(RegressionTrue, RegressionPred), "unweighted");
    }

    [Test]
    public void BinaryCrossentropy_TestAllCorrectUnweighted()
    {
        // BinaryCrossentropyTest.test_all_correct_unweighted: probabilities equal to the one-hot targets (clipped to
        // [ε, 1 − ε]) and logits ±10 both give 0.
        double[] yTrue = [1, 0, 0, 0, 1, 0, 0, 0, 1];
        AssertAlmostEqual(0.0, Binary(yTrue, yTrue, fromLogits: false), "probabilities");
        AssertAlmostEqual(0.0, Binary(yTrue, [10, -10, -10, -10, 10, -10, -10, -10, 10], fromLogits: true), "logits");
    }

    [Test]
    public void BinaryCrossentropy_TestUnweighted()
    {
        // BinaryCrossentropyTest.test_unweighted.
        double[] yTrue = [1, 0, 0, 0, 1, 0, 0, 0, 1];
        double[] yPred = [0.9, 0.1, 0.2, 0.3, 0.8, 0.1, 0.1, 0.2, 0.7];
        AssertAllClose(0.20046903, double.CreateTruncating(Binary(yTrue, yPred, fromLogits: false)), "probabilities (assertAllClose)");

        // y_true [[1, 0], [1, 0]], y_pred [[1, 1], [1, 0]] (float32 in Keras): the one wrong element is clipped to
        // 1 − ε, so its loss is −log(1 − (1 − ε)) with 1 − ε rounded to T as Keras rounds it: in float32
        // 1 − 0.99999988 = 1.1920929e-7, −log of it 15.942, so Keras' 3.98559 = 15.942/4. In double the same rule
        // gives −log(1e-7)/4 = 4.0295 (the answer Keras itself gives with float64 tensors): the bound is T's.
        T loss = Binary([1, 0, 1, 0], [1, 1, 1, 0], fromLogits: false);
        AssertAlmostEqual(IsFloat ? 3.98559 : -Math.Log(1 - (1 - 1e-7)) / 4, loss, "clipped probabilities");

        // Logits: y_true [[1, 0, 1], [0, 1, 1]], logits [[10, −10, 10], [10, 10, −10]]: two wrong by 10 of six, 3.3333.
        AssertAlmostEqual(3.3333, Binary([1, 0, 1, 0, 1, 1], [10, -10, 10, 10, 10, -10], fromLogits: true), "logits");
    }

    [Test]
    public void BinaryCrossentropy_TestNoReduction_RowByRow()
    {
        // BinaryCrossentropyTest.test_no_reduction: reduction=None gives [0.0, 6.666] (atol 1e-3): each row's own loss.
        AssertAllClose(0.0, double.CreateTruncating(Binary([1, 0, 1], [10, -10, 10], fromLogits: true)), "row 0", atol: 1e-3);
        AssertAllClose(6.666, double.CreateTruncating(Binary([0, 1, 1], [10, 10, -10], fromLogits: true)), "row 1", atol: 1e-3);
    }

    [Test]
    public void BinaryCrossentropy_TestLabelSmoothing()
    {
        // BinaryCrossentropyTest.test_label_smoothing: logits [[10, −10, −10]], y_true [[1, 0, 1]], label_smoothing 0.1:
        // (10 + 5·ls)/3.
        AssertAlmostEqual((10.0 + 5.0 * 0.1) / 3.0, Binary([1, 0, 1], [10, -10, -10], fromLogits: true, labelSmoothing: 0.1), "loss");
    }

    // The cross-entropies' common case: one-hot rows for labels 0, 1, 2 (the second probability row sums to 1.99).
    private static readonly double[] OneHot = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    private static readonly int[] Labels = [0, 1, 2];
    private static readonly double[] Probabilities = [0.9, 0.05, 0.05, 0.5, 0.89, 0.6, 0.05, 0.01, 0.94];
    private static readonly double[] Logits = [8, 1, 1, 0, 9, 1, 2, 3, 5];

    [Test]
    public void CategoricalCrossentropy_TestAllCorrectUnweighted()
    {
        // CategoricalCrossentropyTest.test_all_correct_unweighted: one-hot probabilities, and logits 10 on the label.
        AssertAlmostEqual(0.0, Categorical(OneHot, OneHot, 3, fromLogits: false), "probabilities");
        AssertAlmostEqual(0.0, Categorical(OneHot, [10, 0, 0, 0, 10, 0, 0, 0, 10], 3, fromLogits: true), "logits");
    }

    [Test]
    public void CategoricalCrossentropy_TestUnweighted_AndTestNoReduction()
    {
        // CategoricalCrossentropyTest.test_unweighted: 0.3239 (probabilities, each row divided by its sum), 0.0573 (logits).
        AssertAlmostEqual(0.3239, Categorical(OneHot, Probabilities, 3, fromLogits: false), "probabilities");
        AssertAlmostEqual(0.0573, Categorical(OneHot, Logits, 3, fromLogits: true), "logits");
        // test_no_reduction: per row (0.001822, 0.000459, 0.169846) with assertAllClose.
        double[] perRow = [0.001822, 0.000459, 0.169846];
        for (int b = 0; b < 3; b++)
            AssertAllClose(perRow[b], double.CreateTruncating(Categorical(OneHot[(b * 3)..(b * 3 + 3)], Logits[(b * 3)..(b * 3 + 3)], 1, fromLogits: true)),
                $"row {b}");
    }

    [Test]
    public void CategoricalCrossentropy_TestLabelSmoothing()
    {
        // CategoricalCrossentropyTest.test_label_smoothing (and _ndarray): logits [[100, −100, −100]], y_true [[1, 0, 0]],
        // label_smoothing 0.1: 400·ls/3 (the two smoothed zeros, ls/3 each, are 200 below the log-sum-exp).
        AssertAlmostEqual(400.0 * 0.1 / 3.0, Categorical([1, 0, 0], [100, -100, -100], 1, fromLogits: true, labelSmoothing: 0.1), "loss");
    }

    [Test]
    public void SparseCategoricalCrossentropy_TestAllCorrectUnweighted_TestUnweighted_AndTestNoReduction()
    {
        // SparseCategoricalCrossentropyTest: test_all_correct_unweighted 0 (decimal 3); test_unweighted 0.3239 and 0.0573
        // (decimal 3); test_no_reduction (0.001822, 0.000459, 0.169846) with assertAllClose.
        AssertAlmostEqual(0.0, Sparse(Labels, OneHot, fromLogits: false), "all correct, probabilities");
        AssertAlmostEqual(0.0, Sparse(Labels, [10, 0, 0, 0, 10, 0, 0, 0, 10], fromLogits: true), "all correct, logits");
        AssertAlmostEqual(0.3239, Sparse(Labels, Probabilities, fromLogits: false), "probabilities");
        AssertAlmostEqual(0.0573, Sparse(Labels, Logits, fromLogits: true), "logits");
        double[] perRow = [0.001822, 0.000459, 0.169846];
        for (int b = 0; b < 3; b++)
            AssertAllClose(perRow[b], double.CreateTruncating(Sparse([Labels[b]], Logits[(b * 3)..(b * 3 + 3)], fromLogits: true)), $"row {b}");
    }

    [Test]
    public void SparseCategoricalCrossentropy_TestIgnoreClass_TheElementNotIgnored()
    {
        // SparseCategoricalCrossentropyTest.test_ignore_class: y_true [[−1, 2]] with ignore_class=−1, reduction=None gives
        // [[0.0, 1.480129]]. NumLstm has no ignore_class (a label outside [0, K) is refused); the element kept is label 2
        // on logits [0.088, 0.86, 0.018].
        AssertAllClose(1.480129, double.CreateTruncating(Sparse([2], [0.088, 0.86, 0.018], fromLogits: true)), "label 2");
    }

    [Test]
    public void CrossEntropies_TestShapeMismatch()
    {
        // BinaryCrossentropyTest.test_shape_mismatch and CategoricalCrossentropyTest.test_shape_mismatch: y_true (3, 1)
        // against y_pred (3, 3) raises ("must have the same shape").
        T[] yTrue = Values(0, 1, 2), yPred = Values(0.9, 0.05, 0.05, 0.5, 0.89, 0.6, 0.05, 0.01, 0.94);
        Assert.Throws<ArgumentException>(() => new BinaryCrossEntropy<T>(fromLogits: false).Forward(yPred, yTrue, default));
        Assert.Throws<ArgumentException>(() => new CategoricalCrossEntropy<T>(fromLogits: false).Forward(yPred, yTrue, 3, default));
    }

    [Test]
    public void NnOps_TestBinaryCrossentropy_SoftTargets_ElementByElement()
    {
        // keras/src/ops/nn_test.py, NNOpsCorrectnessTest.test_binary_crossentropy: ops.binary_crossentropy has no
        // reduction, so each (4, 1) element's loss is our loss of a one-value row. Soft targets 0.1, 0.9, 0.2, 1.0.
        double[] target = [0.1, 0.9, 0.2, 1.0];
        void Check(double[] output, bool fromLogits, double[] expected, string what)
        {
            for (int k = 0; k < 4; k++)
                AssertAllClose(expected[k], double.CreateTruncating(Binary([target[k]], [output[k]], fromLogits)), $"{what}[{k}]");
        }
        Check([0.1, 0.2, 0.3, 0.4], fromLogits: false, [0.32508277, 1.47080801, 0.52613434, 0.91629048], "probabilities");
        Check([0.1, 0.2, 0.3, 0.4], fromLogits: true, [0.73439666, 0.61813887, 0.79435524, 0.51301525], "logits");
        Check([0.99, -0.2, 0.9, -0.4], fromLogits: true, [1.206961, 0.778139, 1.061154, 0.913015], "negative logits");
    }

    [Test]
    public void NnOps_TestCategoricalCrossentropy_SoftUnnormalizedTargets_RowByRow()
    {
        // nn_test.py, test_categorical_crossentropy (axis=-1; its axis=0 case is an option we do not have): target rows
        // that do not sum to 1 (1.32 and 1.92) and probability rows that do not either (divided by their sum first).
        double[] target = [0.33008796, 0.0391289, 0.9503603, 0.80376694, 0.92363342, 0.19147756];
        void Check(double[] output, bool fromLogits, double[] expected, string what)
        {
            for (int b = 0; b < 2; b++)
                AssertAllClose(expected[b], double.CreateTruncating(Categorical(target[(b * 3)..(b * 3 + 3)], output[(b * 3)..(b * 3 + 3)], 1, fromLogits)),
                    $"{what}, row {b}");
        }
        double[] output = [0.23446431, 0.35822914, 0.06683268, 0.3413979, 0.05420256, 0.81619654];
        Check(output, fromLogits: false, [2.54095299, 3.96374412], "probabilities");
        Check(output, fromLogits: true, [1.59419954, 2.49880593], "logits");
        Check([1.23446431, -0.35822914, 1.06683268, 0.3413979, -0.05420256, 0.81619654], fromLogits: true, [1.16825923, 2.55436813], "negative logits");
    }

    [Test]
    public void NnOps_TestSparseCategoricalCrossentropy_RowByRow()
    {
        // nn_test.py, test_sparse_categorical_crossentropy: labels [0, 1, 2], per row.
        double[] probabilities = [0.9, 0.05, 0.05, 0.05, 0.89, 0.06, 0.05, 0.01, 0.94];
        double[] expectedProbabilities = [0.105361, 0.116534, 0.061875];
        double[] expectedLogits = [0.001822, 0.000459, 0.169846];
        for (int b = 0; b < 3; b++)
        {
            AssertAllClose(expectedProbabilities[b], double.CreateTruncating(Sparse([b], probabilities[(b * 3)..(b * 3 + 3)], fromLogits: false)), $"probabilities, row {b}");
            AssertAllClose(expectedLogits[b], double.CreateTruncating(Sparse([b], Logits[(b * 3)..(b * 3 + 3)], fromLogits: true)), $"logits, row {b}");
        }
    }

    [Test]
    public void AccuracyMetrics_TestUnweighted()
    {
        // accuracy_metrics_test.py, BinaryAccuracyTest.test_unweighted: y_true [1, 1, 0, 0], y_pred [0.98, 1, 0, 0.6]
        // (threshold 0.5, as Keras' default): 0.75.
        Assert.That(Metrics.CountBinaryMatches<T>(Values(0.98, 1, 0, 0.6), Values(1, 1, 0, 0), fromLogits: false) / 4.0,
            Is.EqualTo(0.75).Within(1e-3), "binary_accuracy");
        Assert.That(Metrics.CountBinaryLabelMatches<T>(Values(0.98, 1, 0, 0.6), [1, 1, 0, 0], fromLogits: false) / 4.0,
            Is.EqualTo(0.75).Within(1e-3), "binary_accuracy, labels (the broadcasting case)");
        // CategoricalAccuracyTest.test_unweighted (and TopKCategoricalAccuracyTest with k = 1): 0.5.
        Assert.That(Metrics.CountCategoricalMatches<T>(Values(0.1, 0.9, 0.8, 0.05, 0.95, 0), Values(0, 0, 1, 0, 1, 0), 2) / 2.0,
            Is.EqualTo(0.5).Within(1e-3), "categorical_accuracy");
        // SparseCategoricalAccuracyTest.test_unweighted: labels [2, 1]: 0.5.
        Assert.That(Metrics.Accuracy<T>(Values(0.1, 0.6, 0.3, 0.05, 0.95, 0), [2, 1]), Is.EqualTo(0.5).Within(1e-3), "sparse_categorical_accuracy");
        // test_squeeze_y_true, test_cast_y_pred_to_match_y_true_dtype, test_matching_shapes_without_squeeze: 1.0 (atol 1e-4).
        Assert.That(Metrics.Accuracy<T>(Values(0.9, 0.05, 0.05, 0.05, 0.9, 0.05, 0.05, 0.05, 0.9), [0, 1, 2]), Is.EqualTo(1.0).Within(1e-4), "squeeze");
        Assert.That(Metrics.Accuracy<T>(Values(0.9, 0.1, 0.0, 0.0, 0.9, 0.1, 0.1, 0.0, 0.9), [0, 1, 2]), Is.EqualTo(1.0).Within(1e-4), "cast");
        Assert.That(Metrics.Accuracy<T>(Values(0, 0, 1, 0, 1, 0, 1, 0, 0), [2, 1, 0]), Is.EqualTo(1.0).Within(1e-4), "matching shapes");
    }

    [Test]
    public void RegressionMetrics_TestUnweighted()
    {
        // regression_metrics_test.py, MeanSquaredErrorTest.test_unweighted and MeanAbsoluteErrorTest.test_unweighted: the
        // same 4×5 zeros and ones, 0.5 both (atol 1e-5). Both metrics are the losses' means.
        double[] yTrue = [0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1];
        double[] yPred = [0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1];
        AssertAllClose(0.5, double.CreateTruncating(Mse(yTrue, yPred)), "mean_squared_error", atol: 1e-5);
        AssertAllClose(0.5, Metrics.MeanAbsoluteError<T>(Values(yPred), Values(yTrue)), "mean_absolute_error", atol: 1e-5);
        AssertAllClose(0.5, Metrics.MeanSquaredError<T>(Values(yPred), Values(yTrue)), "mean_squared_error (the metric)", atol: 1e-5);
        // RootMeanSquaredErrorTest.test_unweighted: y_true [2, 4, 6], y_pred [1, 3, 2]; "error = [-1, -1, -4],
        // square(error) = [1, 1, 16], mean = 18/3 = 6": √6 (atol 1e-3).
        AssertAllClose(Math.Sqrt(6), Metrics.RootMeanSquaredError<T>(Values(1, 3, 2), Values(2, 4, 6)), "root_mean_squared_error", atol: 1e-3);
        // The docstring examples of regression_metrics.py (update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])):
        // MeanSquaredError 0.25, MeanAbsoluteError 0.25, RootMeanSquaredError 0.5.
        AssertAllClose(0.25, Metrics.MeanSquaredError<T>(Values(1, 1, 0, 0), Values(0, 1, 0, 0)), "MeanSquaredError docstring");
        AssertAllClose(0.25, Metrics.MeanAbsoluteError<T>(Values(1, 1, 0, 0), Values(0, 1, 0, 0)), "MeanAbsoluteError docstring");
        AssertAllClose(0.5, Metrics.RootMeanSquaredError<T>(Values(1, 1, 0, 0), Values(0, 1, 0, 0)), "RootMeanSquaredError docstring");
    }
}
