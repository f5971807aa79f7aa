using NumLstm.Losses;

namespace NumLstm.Tests.Losses;

/// <summary>
/// Keras 3's published answers for Huber, LogCosh, MeanSquaredLogarithmicError and MeanAbsolutePercentageError
/// (keras/src/losses/losses_test.py and the docstrings of keras/src/losses/losses.py) and for the metrics
/// MeanAbsolutePercentageError, MeanSquaredLogarithmicError and LogCoshError (keras/src/metrics/regression_metrics_test.py
/// and the docstrings of regression_metrics.py), at each Keras test's tolerance: <c>assertAlmostEqual(x, y, 3)</c> is
/// decimal = 3 (|a − b| &lt; 1.5e-3), <c>assertAllClose</c> atol = rtol = 1e-6 unless the test gives atol.
/// <para>Where a Keras test computes its expected value with NumPy (Huber's and LogCosh's), the test's formula is
/// written out here as the test writes it, in double, independently of our implementation. The sample-weighted
/// tests (scalar_, sample_, zero_weighted, test_no_reduction, Huber's test_non_default_delta) are in
/// <see cref="KerasSampleWeightedAnswersTests{T}"/>. Not ported (NumLstm has no such option): timestep_weighted, weighted
/// metrics, the "sum" and "mean_with_sample_weight" reductions, dtype="bfloat16".</para>
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class KerasPublishedRegressionAnswersTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T[] Values(params double[] values) => Array.ConvertAll(values, T.CreateTruncating);

    /// <summary>Keras' assertAlmostEqual(x, expected, 3): decimal = 3.</summary>
    private static void AssertAlmostEqual(double expected, T actual, string what)
        => Assert.That(double.CreateTruncating(actual), Is.EqualTo(expected).Within(1.5e-3), what);

    /// <summary>Keras' assertAllClose(x, expected): atol = rtol = 1e-6 unless given.</summary>
    private static void AssertAllClose(double expected, double actual, string what, double atol = 1e-6, double rtol = 1e-6)
        => Assert.That(actual, Is.EqualTo(expected).Within(atol + rtol * Math.Abs(expected)), what);

    // losses_test.py's common case: y_true = [[1, 9, 2], [-5, -2, 6]], y_pred = [[4, 8, 12], [8, 1, 3]].
    private static readonly double[] RegressionTrue = [1, 9, 2, -5, -2, 6];
    private static readonly double[] RegressionPred = [4, 8, 12, 8, 1, 3];
    private static readonly double[] AllCorrect = [4, 8, 12, 8, 1, 3];

    // regression_metrics_test.py's 4×5 zeros and ones.
    private static readonly double[] MetricTrue = [0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1];
    private static readonly double[] MetricPred = [0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1];

    private static T Forward(ILoss<T> loss, double[] yTrue, double[] yPred)
        => loss.Forward(Values(yPred), LossTargets<T>.FromValues(Values(yTrue)), Span<T>.Empty);

    [Test]
    public void MeanAbsolutePercentageError_TestAllCorrectUnweighted_AndTestUnweighted()
    {
        // MeanAbsolutePercentageErrorTest.test_all_correct_unweighted: 0.0; test_unweighted: 211.8518 (places 3).
        AssertAlmostEqual(0.0, Forward(new MeanAbsolutePercentageError<T>(), AllCorrect, AllCorrect), "all correct");
        AssertAlmostEqual(211.8518, Forward(new MeanAbsolutePercentageError<T>(), RegressionTrue, RegressionPred), "unweighted");
    }

    [Test]
    public void MeanSquaredLogarithmicError_TestUnweighted()
    {
        // MeanSquaredLogarithmicErrorTest.test_unweighted: 1.4370 (places 3); the negative targets are clamped to ε.
        AssertAlmostEqual(1.4370, Forward(new MeanSquaredLogarithmicError<T>(), RegressionTrue, RegressionPred), "unweighted");
    }

    /// <summary>HuberLossTest.huber_loss, as the Keras test writes it: q = min(|e|, δ), ½q² + δ(|e| − q), e = p − y.</summary>
    private static double KerasTestHuber(double[] yTrue, double[] yPred, double delta)
    {
        double sum = 0;
        for (int k = 0; k < yTrue.Length; k++)
        {
            double absError = Math.Abs(yPred[k] - yTrue[k]);
            double quadratic = Math.Min(absError, delta);
            sum += 0.5 * quadratic * quadratic + delta * (absError - quadratic);
        }
        return sum / yTrue.Length;   // np.sum(expected_losses) / batch_size, batch_size = 6
    }

    [Test]
    public void Huber_TestAllCorrect_TestUnweighted_NonDefaultDelta_AndDocstring()
    {
        double[] yTrue = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        double[] yPred = [0.9, 0.2, 0.2, 0.8, 0.4, 0.6];
        // HuberLossTest.test_all_correct: 0.0; test_unweighted: np.sum(expected_losses) / 6 (= 0.625 / 6).
        AssertAlmostEqual(0.0, Forward(new Huber<T>(), yTrue, yTrue), "all correct");
        double expected = KerasTestHuber(yTrue, yPred, 1.0);
        Assert.That(expected, Is.EqualTo(0.625 / 6).Within(1e-15), "the test's formula, by hand");
        AssertAlmostEqual(expected, Forward(new Huber<T>(), yTrue, yPred), "unweighted");
        // test_non_default_delta: δ = 0.8, the same data (Keras asserts 2.3 times this with sample_weight = 2.3). One
        // error is −0.8: on the kink, where both branches agree.
        AssertAlmostEqual(KerasTestHuber(yTrue, yPred, 0.8), Forward(new Huber<T>(0.8), yTrue, yPred), "delta 0.8");
        // δ = 0.3 puts three errors on the linear branch (the Keras test's formula still gives the answer).
        AssertAlmostEqual(KerasTestHuber(yTrue, yPred, 0.3), Forward(new Huber<T>(0.3), yTrue, yPred), "delta 0.3");
        // losses.py, huber's docstring: y_true [[0, 1], [0, 0]], y_pred [[0.6, 0.4], [0.4, 0.6]] → 0.155.
        AssertAllClose(0.155, double.CreateTruncating(Forward(new Huber<T>(), [0, 1, 0, 0], [0.6, 0.4, 0.4, 0.6])), "docstring");
    }

    [Test]
    public void LogCosh_TestUnweighted_AndDocstring()
    {
        // LogCoshTest.test_unweighted: np.sum(np.log((np.exp(error) + np.exp(-error)) / 2)) / 6, error = y_pred − y_true.
        double expected = RegressionTrue.Select((y, k) => RegressionPred[k] - y).Sum(e => Math.Log((Math.Exp(e) + Math.Exp(-e)) / 2)) / 6;
        AssertAlmostEqual(expected, Forward(new LogCosh<T>(), RegressionTrue, RegressionPred), "unweighted");
        // losses.py, log_cosh's docstring: y_true [[0, 1], [0, 0]], y_pred [[1, 1], [0, 0]] → 0.108 (the mean over the batch).
        AssertAlmostEqual(0.108, Forward(new LogCosh<T>(), [0, 1, 0, 0], [1, 1, 0, 0]), "docstring");
    }

    [Test]
    public void Metrics_TestUnweighted()
    {
        // regression_metrics_test.py, MeanAbsolutePercentageErrorTest.test_unweighted: 35e7 (atol 1e-5, so rtol 1e-6
        // decides): each target 0 under a prediction 1 adds 100/ε = 1e9.
        AssertAllClose(35e7, Metrics.MeanAbsolutePercentageError<T>(Values(MetricPred), Values(MetricTrue)), "mape", atol: 1e-5);
        // MeanSquaredLogarithmicErrorTest.test_unweighted: 0.24022 (atol 1e-5).
        AssertAllClose(0.24022, Metrics.MeanSquaredLogarithmicError<T>(Values(MetricPred), Values(MetricTrue)), "msle", atol: 1e-5);
        // LogCoshErrorTest.test_unweighted: np.sum(np.log((np.exp(e) + np.exp(-e)) / 2)) / 6 over the losses' data (atol 1e-3).
        double expected = RegressionTrue.Select((y, k) => RegressionPred[k] - y).Sum(e => Math.Log((Math.Exp(e) + Math.Exp(-e)) / 2)) / 6;
        AssertAllClose(expected, Metrics.LogCoshError<T>(Values(RegressionPred), Values(RegressionTrue)), "logcosh", atol: 1e-3);
    }

    [Test]
    public void Metrics_Docstrings()
    {
        // regression_metrics.py's docstrings: update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]]).
        double[] yTrue = [0, 1, 0, 0], yPred = [1, 1, 0, 0];
        AssertAllClose(250000000.0, Metrics.MeanAbsolutePercentageError<T>(Values(yPred), Values(yTrue)), "MeanAbsolutePercentageError");
        AssertAllClose(0.12011322, Metrics.MeanSquaredLogarithmicError<T>(Values(yPred), Values(yTrue)), "MeanSquaredLogarithmicError");
        AssertAllClose(0.10844523, Metrics.LogCoshError<T>(Values(yPred), Values(yTrue)), "LogCoshError");
    }

    [Test]
    public void EachMetric_IsItsLossOnTheSameBatch()
    {
        // Keras' metrics are MeanMetricWrapper(fn=the loss function): on one batch the metric equals the loss.
        AssertAllClose(double.CreateTruncating(Forward(new MeanAbsolutePercentageError<T>(), RegressionTrue, RegressionPred)),
            Metrics.MeanAbsolutePercentageError<T>(Values(RegressionPred), Values(RegressionTrue)), "mape");
        AssertAllClose(double.CreateTruncating(Forward(new MeanSquaredLogarithmicError<T>(), RegressionTrue, RegressionPred)),
            Metrics.MeanSquaredLogarithmicError<T>(Values(RegressionPred), Values(RegressionTrue)), "msle");
        AssertAllClose(double.CreateTruncating(Forward(new LogCosh<T>(), RegressionTrue, RegressionPred)),
            Metrics.LogCoshError<T>(Values(RegressionPred), Values(RegressionTrue)), "logcosh");
    }
}
