using NumLstm.Losses;

namespace NumLstm.Tests.Losses;

/// <summary>
/// Keras 3's published sample-weighted answers (keras/src/losses/losses_test.py: each loss's test_sample_weighted,
/// test_scalar_weighted, test_zero_weighted, Huber's test_non_default_delta and, for a weight on one row,
/// test_no_reduction; Huber's and LogCosh's expected values by the tests' own NumPy formulas, written out), through
/// <see cref="SampleWeighting.Forward"/> (the path the trainer's sample and class weights take): Σᵢ wᵢ·lᵢ / B. A scalar
/// sample_weight is the same weight on every row; a reduction=None answer is the weighted loss of that row alone.
/// Tolerance: assertAlmostEqual, |a − b| &lt; 1.5e-3. And a float64 central-difference check of the weighted gradient,
/// which fails when the weights are left out of it.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class KerasSampleWeightedAnswersTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly bool IsFloat = typeof(T) == typeof(float);

    private static T[] Values(params double[] values) => Array.ConvertAll(values, T.CreateTruncating);

    private static void AssertAlmostEqual(double expected, double actual, string what)
        => Assert.That(actual, Is.EqualTo(expected).Within(1.5e-3), what);

    private static double Weighted(ILoss<T> loss, double[] yPred, LossTargets<T> targets, params float[] weights)
        => SampleWeighting.Forward(loss, Values(yPred), targets, weights, default);

    // y_true = [[1, 9, 2], [-5, -2, 6]], y_pred = [[4, 8, 12], [8, 1, 3]].
    private static readonly double[] RegressionTrue = [1, 9, 2, -5, -2, 6];
    private static readonly double[] RegressionPred = [4, 8, 12, 8, 1, 3];

    [Test]
    public void MeanSquaredError_SampleScalarZeroWeighted_AndOneRowWeighted()
    {
        var mse = new MeanSquaredError<T>();
        LossTargets<T> y = LossTargets<T>.FromValues(Values(RegressionTrue), 2);
        AssertAlmostEqual(767.8 / 6, Weighted(mse, RegressionPred, y, 1.2f, 3.4f), "test_sample_weighted");
        AssertAlmostEqual(113.85, Weighted(mse, RegressionPred, y, 2.3f, 2.3f), "test_scalar_weighted");
        AssertAlmostEqual(0.0, Weighted(mse, RegressionPred, y, 0f, 0f), "test_zero_weighted");
        // test_no_reduction (sample_weight=2.3): [84.3333, 143.3666], each row alone.
        AssertAlmostEqual(84.3333, Weighted(mse, RegressionPred[..3], LossTargets<T>.FromValues(Values(RegressionTrue[..3]), 1), 2.3f), "no_reduction row 0");
        AssertAlmostEqual(143.3666, Weighted(mse, RegressionPred[3..], LossTargets<T>.FromValues(Values(RegressionTrue[3..]), 1), 2.3f), "no_reduction row 1");
    }

    [Test]
    public void MeanAbsoluteError_SampleScalarZeroWeighted_AndOneRowWeighted()
    {
        var mae = new MeanAbsoluteError<T>();
        LossTargets<T> y = LossTargets<T>.FromValues(Values(RegressionTrue), 2);
        AssertAlmostEqual(81.4 / 6, Weighted(mae, RegressionPred, y, 1.2f, 3.4f), "test_sample_weighted");
        AssertAlmostEqual(12.65, Weighted(mae, RegressionPred, y, 2.3f, 2.3f), "test_scalar_weighted");
        AssertAlmostEqual(0.0, Weighted(mae, RegressionPred, y, 0f, 0f), "test_zero_weighted");
        AssertAlmostEqual(10.7333, Weighted(mae, RegressionPred[..3], LossTargets<T>.FromValues(Values(RegressionTrue[..3]), 1), 2.3f), "no_reduction row 0");
        AssertAlmostEqual(14.5666, Weighted(mae, RegressionPred[3..], LossTargets<T>.FromValues(Values(RegressionTrue[3..]), 1), 2.3f), "no_reduction row 1");
    }

    [Test]
    public void TimestepWeighted_AsKerasTestTimestepWeighted_EachStepARow()
    {
        // losses_test.py's test_timestep_weighted: y_true and y_pred reshaped to (2, 3, 1), sample_weight (2, 3) =
        // [[3, 6, 5], [0, 4, 2]]: a weight per step. With targets per step the trainer reads the B·T = 6 steps as rows
        // (SequenceDataset.ForRegressionPerStep, docs "Targets per step" (PS1)): Σ s·l / 6.
        LossTargets<T> steps = LossTargets<T>.FromValues(Values(RegressionTrue), 6);
        AssertAlmostEqual(97.833336, Weighted(new MeanSquaredError<T>(), RegressionPred, steps, 3, 6, 5, 0, 4, 2), "mse test_timestep_weighted (587 / 6)");
        AssertAlmostEqual(13.833333, Weighted(new MeanAbsoluteError<T>(), RegressionPred, steps, 3, 6, 5, 0, 4, 2), "mae test_timestep_weighted (83 / 6)");
    }

    // CategoricalCrossentropyTest / SparseCategoricalCrossentropyTest: y = classes 0, 1, 2.
    private static readonly double[] Probabilities = [0.9, 0.05, 0.05, 0.5, 0.89, 0.6, 0.05, 0.01, 0.94];
    private static readonly double[] Logits = [8, 1, 1, 0, 9, 1, 2, 3, 5];

    [Test]
    public void CategoricalCrossentropy_SampleAndScalarWeighted_ProbabilitiesAndLogits()
    {
        LossTargets<T> oneHot = LossTargets<T>.FromValues(Values(1, 0, 0, 0, 1, 0, 0, 0, 1), 3);
        AssertAlmostEqual(1.0696, Weighted(new CategoricalCrossEntropy<T>(fromLogits: false), Probabilities, oneHot, 1.2f, 3.4f, 5.6f), "test_sample_weighted");
        AssertAlmostEqual(0.31829, Weighted(new CategoricalCrossEntropy<T>(fromLogits: true), Logits, oneHot, 1.2f, 3.4f, 5.6f), "test_sample_weighted, logits");
        AssertAlmostEqual(0.7449, Weighted(new CategoricalCrossEntropy<T>(fromLogits: false), Probabilities, oneHot, 2.3f, 2.3f, 2.3f), "test_scalar_weighted");
        AssertAlmostEqual(0.1317, Weighted(new CategoricalCrossEntropy<T>(fromLogits: true), Logits, oneHot, 2.3f, 2.3f, 2.3f), "test_scalar_weighted, logits");
    }

    [Test]
    public void SparseCategoricalCrossentropy_SampleAndScalarWeighted_ProbabilitiesAndLogits()
    {
        LossTargets<T> labels = LossTargets<T>.FromLabels([0, 1, 2]);
        AssertAlmostEqual(1.0696, Weighted(new SoftmaxCrossEntropy<T>(fromLogits: false), Probabilities, labels, 1.2f, 3.4f, 5.6f), "test_sample_weighted");
        AssertAlmostEqual(0.31829, Weighted(new SoftmaxCrossEntropy<T>(fromLogits: true), Logits, labels, 1.2f, 3.4f, 5.6f), "test_sample_weighted, logits");
        AssertAlmostEqual(0.7449, Weighted(new SoftmaxCrossEntropy<T>(fromLogits: false), Probabilities, labels, 2.3f, 2.3f, 2.3f), "test_scalar_weighted");
        AssertAlmostEqual(0.1317, Weighted(new SoftmaxCrossEntropy<T>(fromLogits: true), Logits, labels, 2.3f, 2.3f, 2.3f), "test_scalar_weighted, logits");
    }

    [Test]
    public void BinaryCrossentropy_SampleAndScalarWeighted_ProbabilitiesAndLogits()
    {
        // y [[1, 0], [1, 0]], p [[1, 1], [1, 0]]: row 0's wrong element is clipped to 1 − ε in T, so its loss is
        // −log(1 − (1 − ε)) / 2 (15.942/2 in float, Keras' float32 answers; 16.118/2 in double), row 1's ≈ 0.
        LossTargets<T> y = LossTargets<T>.FromValues(Values(1, 0, 1, 0), 2);
        double[] p = [1, 1, 1, 0];
        double row0 = IsFloat ? -Math.Log(1.1920929e-7) / 2 : -Math.Log(1 - (1 - 1e-7)) / 2;
        var probabilities = new BinaryCrossEntropy<T>(fromLogits: false);
        AssertAlmostEqual(IsFloat ? 4.7827 : 1.2 * row0 / 2, Weighted(probabilities, p, y, 1.2f, 3.4f), "test_sample_weighted");
        AssertAlmostEqual(IsFloat ? 9.1668 : 2.3 * row0 / 2, Weighted(probabilities, p, y, 2.3f, 2.3f), "test_scalar_weighted");
        // Logits y [[1, 0, 1], [0, 1, 1]], x [[10, −10, 10], [10, 10, −10]], weights [4, 3]: 10.0; scalar 2.3: 7.666.
        LossTargets<T> y3 = LossTargets<T>.FromValues(Values(1, 0, 1, 0, 1, 1), 2);
        double[] logits = [10, -10, 10, 10, 10, -10];
        var fromLogits = new BinaryCrossEntropy<T>(fromLogits: true);
        AssertAlmostEqual(10.0, Weighted(fromLogits, logits, y3, 4f, 3f), "test_sample_weighted, logits");
        AssertAlmostEqual(7.666, Weighted(fromLogits, logits, y3, 2.3f, 2.3f), "test_scalar_weighted, logits");
    }

    [Test]
    public void MeanAbsolutePercentageError_AndMeanSquaredLogarithmicError_SampleScalarZeroWeighted()
    {
        LossTargets<T> y = LossTargets<T>.FromValues(Values(RegressionTrue), 2);
        var mape = new MeanAbsolutePercentageError<T>();
        AssertAlmostEqual(422.8888, Weighted(mape, RegressionPred, y, 1.2f, 3.4f), "mape test_sample_weighted");
        AssertAlmostEqual(487.259, Weighted(mape, RegressionPred, y, 2.3f, 2.3f), "mape test_scalar_weighted");
        AssertAlmostEqual(0.0, Weighted(mape, RegressionPred, y, 0f, 0f), "mape test_zero_weighted");
        AssertAlmostEqual(621.8518, Weighted(mape, RegressionPred[..3], LossTargets<T>.FromValues(Values(RegressionTrue[..3]), 1), 2.3f), "mape no_reduction row 0");
        AssertAlmostEqual(352.6666, Weighted(mape, RegressionPred[3..], LossTargets<T>.FromValues(Values(RegressionTrue[3..]), 1), 2.3f), "mape no_reduction row 1");
        var msle = new MeanSquaredLogarithmicError<T>();
        AssertAlmostEqual(3.7856, Weighted(msle, RegressionPred, y, 1.2f, 3.4f), "msle test_sample_weighted");
        AssertAlmostEqual(3.3051, Weighted(msle, RegressionPred, y, 2.3f, 2.3f), "msle test_scalar_weighted");
        AssertAlmostEqual(0.0, Weighted(msle, RegressionPred, y, 0f, 0f), "msle test_zero_weighted");
    }

    // HuberLossTest.huber_loss, as the Keras test writes it (q = min(|e|, δ), ½q² + δ(|e| − q)), each element times its
    // row's weight, summed, over batch_size = 6 elements.
    private static double KerasTestHuber(double[] yTrue, double[] yPred, double delta, double[] rowWeights)
    {
        double sum = 0;
        for (int k = 0; k < yTrue.Length; k++)
        {
            double absError = Math.Abs(yPred[k] - yTrue[k]), quadratic = Math.Min(absError, delta);
            sum += rowWeights[k / 3] * (0.5 * quadratic * quadratic + delta * (absError - quadratic));
        }
        return sum / 6;
    }

    [Test]
    public void Huber_SampleScalarZeroWeighted_AndNonDefaultDelta()
    {
        double[] yTrue = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0], yPred = [0.9, 0.2, 0.2, 0.8, 0.4, 0.6];
        LossTargets<T> y = LossTargets<T>.FromValues(Values(yTrue), 2);
        AssertAlmostEqual(KerasTestHuber(yTrue, yPred, 1.0, [1.2, 3.4]), Weighted(new Huber<T>(), yPred, y, 1.2f, 3.4f), "test_sample_weighted");
        AssertAlmostEqual(KerasTestHuber(yTrue, yPred, 1.0, [2.3, 2.3]), Weighted(new Huber<T>(), yPred, y, 2.3f, 2.3f), "test_scalar_weighted");
        AssertAlmostEqual(0.0, Weighted(new Huber<T>(), yPred, y, 0f, 0f), "test_zero_weighted");
        AssertAlmostEqual(KerasTestHuber(yTrue, yPred, 0.8, [2.3, 2.3]), Weighted(new Huber<T>(0.8), yPred, y, 2.3f, 2.3f), "test_non_default_delta");
        Assert.That(KerasTestHuber(yTrue, yPred, 1.0, [1.2, 3.4]), Is.Not.EqualTo(KerasTestHuber(yTrue, yPred, 1.0, [3.4, 1.2])).Within(1.5e-3),
            "the rows' weights are told apart at this tolerance");
    }

    [Test]
    public void LogCosh_SampleScalarZeroWeighted()
    {
        // LogCoshTest: np.log((np.exp(e) + np.exp(−e)) / 2), e = y_pred − y_true, times the row's weight, summed, / 6.
        double Expected(double w0, double w1) => RegressionTrue.Select((t, k) => (k < 3 ? w0 : w1) * Math.Log((Math.Exp(RegressionPred[k] - t) + Math.Exp(t - RegressionPred[k])) / 2)).Sum() / 6;
        LossTargets<T> y = LossTargets<T>.FromValues(Values(RegressionTrue), 2);
        AssertAlmostEqual(Expected(1.2, 3.4), Weighted(new LogCosh<T>(), RegressionPred, y, 1.2f, 3.4f), "test_sample_weighted");
        AssertAlmostEqual(Expected(2.3, 2.3), Weighted(new LogCosh<T>(), RegressionPred, y, 2.3f, 2.3f), "test_scalar_weighted");
        AssertAlmostEqual(0.0, Weighted(new LogCosh<T>(), RegressionPred, y, 0f, 0f), "test_zero_weighted");
    }

    [Test]
    public void BadWeights_AreRefused_NamingTheWeight()
    {
        var mse = new MeanSquaredError<T>();
        LossTargets<T> Y() => LossTargets<T>.FromValues(Values(RegressionTrue), 2);
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => SampleWeighting.Forward(mse, Values(RegressionPred), Y(), [1f, -2f], default))!;
        Assert.That(negative.Message, Does.Contain("sampleWeights[1]").And.Contain("finite and ≥ 0"));
        Assert.Throws<ArgumentOutOfRangeException>(() => SampleWeighting.Forward(mse, Values(RegressionPred), Y(), [float.NaN, 1f], default));
        var count = Assert.Throws<ArgumentException>(() => SampleWeighting.Forward(mse, Values(RegressionPred), Y(), [1f, 1f, 1f, 1f], default))!;
        Assert.That(count.Message, Does.Contain("got 4 weights for 6 values"));
        var labels = Assert.Throws<ArgumentException>(() => SampleWeighting.Forward<T>(new SoftmaxCrossEntropy<T>(), Values(Logits), LossTargets<T>.FromLabels([0, 1, 2]), [1f], default))!;
        Assert.That(labels.Message, Does.Contain("one weight per label, 3; got 1"));
    }

    [Test]
    public void TargetRows_OtherThanTheWeights_AreRefused()
    {
        // Six one-hot values given as 3 rows of 2 while 2 weights make the 6 predictions 2 rows of 3: the batch mean and
        // its gradient would be the 3-row loss's and the weighted rows the 2-row reading's, a mix of two batches.
        var cce = new CategoricalCrossEntropy<T>(fromLogits: true);
        LossTargets<T> Targets() => LossTargets<T>.FromValues(Values(1, 0, 0, 1, 1, 0), 3);
        var e = Assert.Throws<ArgumentException>(() => SampleWeighting.Forward<T>(cce, Values(1, 2, 3, 4, 5, 6), Targets(), [1f, 2f], new T[6]))!;
        Assert.That(e.Message, Does.Contain("one weight per target row, 3; got 2"));
        // Rows as many as the weights, or not given (the element-wise losses), are fine.
        Assert.DoesNotThrow(() => SampleWeighting.Forward<T>(cce, Values(1, 2, 3, 4, 5, 6), Targets(), [1f, 2f, 3f], new T[6]));
        Assert.DoesNotThrow(() => SampleWeighting.Forward<T>(new MeanSquaredError<T>(), Values(1, 2, 3, 4, 5, 6), LossTargets<T>.FromValues(Values(1, 0, 0, 1, 1, 0)), [1f, 2f], new T[6]));
    }

    [Test]
    public void WeightsOfOne_GiveTheUnweightedLossAndGradient_BitForBit()
    {
        var cce = new SoftmaxCrossEntropy<T>(fromLogits: true);
        T[] gradient = new T[9], weightedGradient = new T[9];
        T plain = ((ILoss<T>)cce).Forward(Values(Logits), LossTargets<T>.FromLabels([0, 1, 2]), gradient);
        double weighted = SampleWeighting.Forward<T>(cce, Values(Logits), LossTargets<T>.FromLabels([0, 1, 2]), [1f, 1f, 1f], weightedGradient);
        Assert.That(weighted, Is.EqualTo(double.CreateTruncating(plain)));
        Assert.That(weightedGradient, Is.EqualTo(gradient));
    }
}

/// <summary>
/// The weighted gradient against float64 central differences of the weighted loss, for every loss kind; and the check
/// failing when the weights are left out of the gradient (the broken-on-purpose case).
/// </summary>
public class SampleWeightingGradientTests
{
    private static (double[] Analytic, double[] Numeric) Gradients(ILoss<double> loss, double[] predictions, int[]? labels, double[]? values, float[] weights, bool dropWeights = false)
    {
        LossTargets<double> Targets() => labels is not null ? LossTargets<double>.FromLabels(labels) : LossTargets<double>.FromValues(values!, weights.Length);
        var analytic = new double[predictions.Length];
        if (dropWeights) loss.Forward(predictions, Targets(), analytic);
        else SampleWeighting.Forward(loss, predictions, Targets(), weights, analytic);
        var numeric = new double[predictions.Length];
        const double h = 1e-6;
        for (int k = 0; k < predictions.Length; k++)
        {
            double[] up = (double[])predictions.Clone(), down = (double[])predictions.Clone();
            up[k] += h;
            down[k] -= h;
            numeric[k] = (SampleWeighting.Forward(loss, up, Targets(), weights, default) - SampleWeighting.Forward(loss, down, Targets(), weights, default)) / (2 * h);
        }
        return (analytic, numeric);
    }

    private static double Worst(double[] analytic, double[] numeric)
        => Enumerable.Range(0, analytic.Length).Max(k => Math.Abs(analytic[k] - numeric[k]) / Math.Max(1.0, Math.Abs(numeric[k])));

    private static readonly float[] Weights = [0.5f, 2.25f, 0f, 1f];

    private static IEnumerable<TestCaseData> Cases()
    {
        var random = new Random(17);
        double[] Random(int n, double scale) => Enumerable.Range(0, n).Select(_ => (random.NextDouble() * 2 - 1) * scale).ToArray();
        double[] Probabilities(int rows, int width)
        {
            double[] p = Enumerable.Range(0, rows * width).Select(_ => 0.1 + 0.8 * random.NextDouble()).ToArray();
            return p;
        }
        yield return new TestCaseData("mse", false, Random(12, 2), null, Random(12, 2)).SetName("Mse");
        yield return new TestCaseData("mae", false, Random(12, 2), null, Random(12, 2)).SetName("Mae");
        yield return new TestCaseData("huber", false, Random(12, 2), null, Random(12, 2)).SetName("Huber");
        yield return new TestCaseData("log_cosh", false, Random(12, 2), null, Random(12, 2)).SetName("LogCosh");
        yield return new TestCaseData("msle", false, Probabilities(4, 3).Select(p => 3 * p).ToArray(), null, Probabilities(4, 3)).SetName("Msle");
        yield return new TestCaseData("mape", false, Random(12, 2), null, Random(12, 2)).SetName("Mape");
        yield return new TestCaseData("sparse_categorical_crossentropy", true, Random(12, 3), new[] { 2, 0, 1, 2 }, null).SetName("SparseLogits");
        yield return new TestCaseData("sparse_categorical_crossentropy", false, Probabilities(4, 3), new[] { 2, 0, 1, 2 }, null).SetName("SparseProbabilities");
        yield return new TestCaseData("categorical_crossentropy", true, Random(12, 3), null, new double[] { 0, 0, 1, 1, 0, 0, 0.2, 0.5, 0.3, 0, 1, 0 }).SetName("CategoricalLogits");
        yield return new TestCaseData("binary_crossentropy", true, Random(12, 3), null, Enumerable.Range(0, 12).Select(k => (double)(k % 2)).ToArray()).SetName("BinaryLogits");
        yield return new TestCaseData("binary_crossentropy", false, Probabilities(4, 3), null, Enumerable.Range(0, 12).Select(k => k % 3 == 0 ? 1.0 : 0.0).ToArray()).SetName("BinaryProbabilities");
    }

    [TestCaseSource(nameof(Cases))]
    public void TheWeightedGradient_MatchesCentralDifferences_AndFailsWithoutTheWeights(string name, bool fromLogits, double[] predictions, int[]? labels, double[]? values)
    {
        ILoss<double> loss = Loss.FromName<double>(name, fromLogits);
        (double[] analytic, double[] numeric) = Gradients(loss, predictions, labels, values, Weights);
        Assert.That(Worst(analytic, numeric), Is.LessThan(1e-6), "float64 central differences of Σᵢ wᵢ·lᵢ / B");
        (double[] broken, double[] same) = Gradients(loss, predictions, labels, values, Weights, dropWeights: true);
        Assert.That(Worst(broken, same), Is.GreaterThan(1e-3), "the unweighted gradient must fail the same check");
    }
}
