using NumLstm.Losses;

namespace NumLstm.Tests.Losses;

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class LossTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly bool IsFloat = typeof(T) == typeof(float);

    /// <summary>Relative tolerance for comparing a T result with a double value computed in the test.</summary>
    private static readonly double Tolerance = IsFloat ? 2e-6 : 1e-13;

    private static T[] Values(params double[] values) => Array.ConvertAll(values, T.CreateTruncating);
    private static double D(T value) => double.CreateTruncating(value);

    private static void AssertClose(double expected, T actual, string what)
        => Assert.That(D(actual), Is.EqualTo(expected).Within(Tolerance * Math.Max(1, Math.Abs(expected))), what);

    private static void AssertAllClose(double[] expected, T[] actual, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int k = 0; k < expected.Length; k++) AssertClose(expected[k], actual[k], $"{what}[{k}]");
    }

    /// <summary>A gradient buffer filled with NaN, so a loss that accumulates instead of overwriting fails.</summary>
    private static T[] PoisonedGradient(int length)
    {
        var gradient = new T[length];
        Array.Fill(gradient, T.NaN);
        return gradient;
    }

    // 2×3 predictions and targets used by the element-wise losses.
    private static readonly double[] P = [0.5, -1.25, 2.0, 0.0, 3.5, -0.75];
    private static readonly double[] Y = [1.0, -1.0, 2.0, 0.5, 1.5, 0.25];

    [Test]
    public void MeanSquaredError_IsMeanOverAllElements_AndGradientIsTwoDiffOverN()
    {
        double expected = 0;
        for (int k = 0; k < 6; k++) expected += (P[k] - Y[k]) * (P[k] - Y[k]);
        expected /= 6; // (0.25 + 0.0625 + 0 + 0.25 + 4 + 1) / 6
        Assert.That(expected, Is.EqualTo(5.5625 / 6).Within(1e-15));

        T[] gradient = PoisonedGradient(6);
        T loss = new MeanSquaredError<T>().Forward(Values(P), Values(Y), gradient);

        AssertClose(5.5625 / 6, loss, "loss");
        AssertAllClose(Enumerable.Range(0, 6).Select(k => 2 * (P[k] - Y[k]) / 6).ToArray(), gradient, "gradient");
    }

    [Test]
    public void MeanAbsoluteError_IsMeanOverAllElements_AndGradientIsSignOverN_ZeroAtZero()
    {
        T[] gradient = PoisonedGradient(6);
        T loss = new MeanAbsoluteError<T>().Forward(Values(P), Values(Y), gradient);

        AssertClose((0.5 + 0.25 + 0 + 0.5 + 2 + 1) / 6, loss, "loss");
        AssertAllClose([-1.0 / 6, -1.0 / 6, 0, -1.0 / 6, 1.0 / 6, -1.0 / 6], gradient, "gradient");
    }

    [Test]
    public void SoftmaxCrossEntropy_MatchesLogSoftmaxByHand_MeanOverRows()
    {
        double[] logits = [1.0, 2.0, 0.5, -0.3, 0.1, 3.0];
        int[] labels = [1, 0];
        double row0 = Math.Log(Math.Exp(1.0) + Math.Exp(2.0) + Math.Exp(0.5)) - 2.0;
        double row1 = Math.Log(Math.Exp(-0.3) + Math.Exp(0.1) + Math.Exp(3.0)) - (-0.3);
        double[] expectedGradient = new double[6];
        for (int b = 0; b < 2; b++)
        {
            double sum = 0;
            for (int k = 0; k < 3; k++) sum += Math.Exp(logits[b * 3 + k]);
            for (int k = 0; k < 3; k++)
                expectedGradient[b * 3 + k] = (Math.Exp(logits[b * 3 + k]) / sum - (k == labels[b] ? 1 : 0)) / 2;
        }

        T[] gradient = PoisonedGradient(6);
        T loss = new SoftmaxCrossEntropy<T>().Forward(Values(logits), labels, gradient);

        AssertClose((row0 + row1) / 2, loss, "loss");
        AssertAllClose(expectedGradient, gradient, "gradient");
    }

    [Test]
    public void BinaryCrossEntropy_MatchesMinusYLogSigmoid_ByHand()
    {
        double[] logits = [0.7, -1.2, 2.5, 0.0, -0.4, 1.1];
        double[] targets = [1.0, 0.0, 0.3, 0.5, 1.0, 0.0];
        double expected = 0;
        double[] expectedGradient = new double[6];
        for (int k = 0; k < 6; k++)
        {
            double sigmoid = 1 / (1 + Math.Exp(-logits[k]));
            expected -= targets[k] * Math.Log(sigmoid) + (1 - targets[k]) * Math.Log(1 - sigmoid);
            expectedGradient[k] = (sigmoid - targets[k]) / 6;
        }
        expected /= 6;

        T[] gradient = PoisonedGradient(6);
        T loss = new BinaryCrossEntropy<T>().Forward(Values(logits), Values(targets), gradient);

        AssertClose(expected, loss, "loss");
        AssertAllClose(expectedGradient, gradient, "gradient");
    }

    [Test]
    public void BinaryCrossEntropy_KeepsRelativeAccuracy_ForConfidentCorrectLogits()
    {
        // y = 0, x = −30: ℓ = log(1 + e^−30) ≈ e^−30 (9.4e-14); a naive log(1 + u) rounds it to 0 in float and loses
        // digits in double.
        double x = -30;
        double expected = Math.Exp(x) - Math.Exp(2 * x) / 2;
        T loss = new BinaryCrossEntropy<T>().Forward(Values(x), Values(0.0), Span<T>.Empty);
        Assert.That(D(loss), Is.EqualTo(expected).Within(1e-6 * expected));
    }

    [Test]
    public void Losses_StayFinite_ForLogitsOfPlusMinus1000()
    {
        double[] logits = [1000, -1000, 0, -1000, 1000, 1000];
        T[] gradient = new T[6];

        T ce = new SoftmaxCrossEntropy<T>().Forward(Values(logits), [1, 0], gradient);
        // Row 0: logsumexp = 1000 (+ e^-1000 terms), minus x[1] = −1000 → 2000. Row 1: 1000 + log 2 − (−1000).
        AssertClose((2000 + 2000 + Math.Log(2)) / 2, ce, "cross-entropy");
        Assert.That(gradient.All(T.IsFinite), "cross-entropy gradient finite");

        T bce = new BinaryCrossEntropy<T>().Forward(Values(logits), Values(0, 1, 1, 0, 1, 0), gradient);
        // ℓ: x=1000,y=0 → 1000; x=−1000,y=1 → 1000; x=0,y=1 → log 2; x=−1000,y=0 → ~0; x=1000,y=1 → ~0; x=1000,y=0 → 1000.
        AssertClose((3000 + Math.Log(2)) / 6, bce, "binary cross-entropy");
        Assert.That(gradient.All(T.IsFinite), "binary cross-entropy gradient finite");
    }

    [Test]
    public void Gradients_MatchFloat64CentralDifferences()
    {
        var random = new Random(7);
        const int batch = 3, classes = 4, n = batch * classes;
        double[] x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 4 - 2).ToArray();
        double[] y = Enumerable.Range(0, n).Select(_ => random.NextDouble()).ToArray();
        int[] labels = [2, 0, 3];

        Check("mse", new MeanSquaredError<T>(), new MeanSquaredError<double>(), LossTargets<T>.FromValues(Values(y)), LossTargets<double>.FromValues(y));
        Check("mae", new MeanAbsoluteError<T>(), new MeanAbsoluteError<double>(), LossTargets<T>.FromValues(Values(y)), LossTargets<double>.FromValues(y));
        Check("ce", new SoftmaxCrossEntropy<T>(), new SoftmaxCrossEntropy<double>(), LossTargets<T>.FromLabels(labels), LossTargets<double>.FromLabels(labels));
        Check("bce", new BinaryCrossEntropy<T>(), new BinaryCrossEntropy<double>(), LossTargets<T>.FromValues(Values(y)), LossTargets<double>.FromValues(y));
        Check("cce", new CategoricalCrossEntropy<T>(), new CategoricalCrossEntropy<double>(),
            LossTargets<T>.FromValues(Values(y), batch), LossTargets<double>.FromValues(y, batch));

        void Check(string name, ILoss<T> loss, ILoss<double> reference, LossTargets<T> targets, LossTargets<double> referenceTargets)
        {
            T[] analytic = new T[n];
            loss.Forward(Values(x), targets, analytic);
            const double h = 1e-5;
            double[] shifted = (double[])x.Clone();
            for (int k = 0; k < n; k++)
            {
                shifted[k] = x[k] + h;
                double plus = reference.Forward(shifted, referenceTargets, Span<double>.Empty);
                shifted[k] = x[k] - h;
                double minus = reference.Forward(shifted, referenceTargets, Span<double>.Empty);
                shifted[k] = x[k];
                double numeric = (plus - minus) / (2 * h);
                // float64: |a − n| ≤ 1e-7 + 1e-5·|n|; a float gradient carries its own rounding on top.
                double bound = IsFloat ? 1e-6 + 1e-5 * Math.Abs(numeric) : 1e-7 + 1e-5 * Math.Abs(numeric);
                Assert.That(Math.Abs(D(analytic[k]) - numeric), Is.LessThanOrEqualTo(bound), $"{name} gradient[{k}]: analytic {analytic[k]}, numeric {numeric}");
            }
        }
    }

    [Test]
    public void SoftmaxCrossEntropy_RejectsLabelOutsideClasses_NamingIndexAndValue()
    {
        var loss = new SoftmaxCrossEntropy<T>();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => loss.Forward(Values(0, 1, 2, 3, 4, 5), [0, 3], new T[6]));
        Assert.That(ex!.ParamName, Is.EqualTo("labels"));
        Assert.That(ex.Message, Does.Contain("labels[1] = 3").And.Contain("[0, 3)"));
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => loss.Forward(Values(0, 1, 2, 3, 4, 5), [-1, 0], new T[6]));
        Assert.That(ex!.Message, Does.Contain("labels[0] = -1"));
    }

    [Test]
    public void Losses_RejectMismatchedShapesAndTargets()
    {
        Assert.That(() => new MeanSquaredError<T>().Forward(Values(1, 2, 3), Values(1, 2), Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("3").And.Message.Contain("got 2"));
        Assert.That(() => new MeanSquaredError<T>().Forward(Values(1, 2), Values(1, 2), new T[3]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("predictionGradient"));
        Assert.That(() => new SoftmaxCrossEntropy<T>().Forward(Values(1, 2, 3), [0, 0], Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("B=2"));
        Assert.That(() => new BinaryCrossEntropy<T>().Forward(Values(0, 0), Values(0.5, 1.5), Span<T>.Empty),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("targets[1] = 1.5"));
        ILoss<T> mse = new MeanSquaredError<T>();
        Assert.That(() => mse.Forward(Values(1, 2), LossTargets<T>.FromLabels([0, 1]), Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("integer labels"));
        ILoss<T> ce = new SoftmaxCrossEntropy<T>();
        Assert.That(() => ce.Forward(Values(1, 2), LossTargets<T>.FromValues(Values(0, 1)), Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("real-valued targets"));
    }

    [Test]
    public void FromName_ReturnsTheKerasNamedLoss_AndInterfaceCallMatchesDirectCall()
    {
        Assert.That(Loss.FromName<T>("mse"), Is.InstanceOf<MeanSquaredError<T>>());
        Assert.That(Loss.FromName<T>("mean_absolute_error"), Is.InstanceOf<MeanAbsoluteError<T>>());
        Assert.That(Loss.FromName<T>("sparse_categorical_crossentropy").TargetKind, Is.EqualTo(LossTargetKind.Labels));
        Assert.That(Loss.FromName<T>("binary_crossentropy"), Is.InstanceOf<BinaryCrossEntropy<T>>());
        Assert.That(Loss.FromName<T>("categorical_crossentropy"), Is.InstanceOf<CategoricalCrossEntropy<T>>());
        Assert.That(Loss.FromName<T>("categorical_crossentropy").TargetKind, Is.EqualTo(LossTargetKind.Values));
        Assert.That(() => Loss.FromName<T>("hinge"), Throws.ArgumentException.With.Message.Contain("hinge"));

        ILoss<T> viaInterface = Loss.FromName<T>("mae");
        T a = viaInterface.Forward(Values(P), LossTargets<T>.FromValues(Values(Y)), Span<T>.Empty);
        T b = new MeanAbsoluteError<T>().Forward(Values(P), Values(Y), Span<T>.Empty);
        Assert.That(a, Is.EqualTo(b));
    }

    [Test]
    public void FromName_PassesFromLogits_ToTheCrossEntropies_DefaultTrue_AndListsEveryNameWhenUnknown()
    {
        Assert.That(((SoftmaxCrossEntropy<T>)Loss.FromName<T>("sparse_categorical_crossentropy")).FromLogits, Is.True);
        Assert.That(((CategoricalCrossEntropy<T>)Loss.FromName<T>("categorical_crossentropy")).FromLogits, Is.True);
        Assert.That(((BinaryCrossEntropy<T>)Loss.FromName<T>("binary_crossentropy")).FromLogits, Is.True);
        Assert.That(((SoftmaxCrossEntropy<T>)Loss.FromName<T>("SPARSE_categorical_crossentropy", fromLogits: false)).FromLogits, Is.False);
        Assert.That(((CategoricalCrossEntropy<T>)Loss.FromName<T>("categorical_crossentropy", fromLogits: false)).FromLogits, Is.False);
        Assert.That(((BinaryCrossEntropy<T>)Loss.FromName<T>("binary_cross_entropy", fromLogits: false)).FromLogits, Is.False);
        Assert.That(Loss.FromName<T>("mse", fromLogits: false), Is.InstanceOf<MeanSquaredError<T>>());

        var ex = Assert.Throws<ArgumentException>(() => Loss.FromName<T>("hinge"))!;
        Assert.That(Loss.Names, Does.Contain("categorical_crossentropy"));
        foreach (string name in Loss.Names)
        {
            Assert.That(ex.Message, Does.Contain(name));
            Assert.That(() => Loss.FromName<T>(name), Throws.Nothing, name);
        }
    }

    [Test]
    public void SoftmaxCrossEntropy_FromProbabilities_IsMinusLogOfTheNormalizedLabelProbability_ByHand()
    {
        // Row 0 sums to 1: ℓ = −log 0.5. Row 1 sums to 3: ℓ = −log(1.9/3). dℓ/dp_j = −[j = y]/p_y + 1/s, then / B.
        double[] p = [0.2, 0.3, 0.5, 0.7, 1.9, 0.4];
        int[] labels = [2, 1];
        double[] sums = [1.0, 3.0];
        double[] expectedGradient = new double[6];
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < 3; k++)
                expectedGradient[b * 3 + k] = ((k == labels[b] ? -1 / p[b * 3 + k] : 0) + 1 / sums[b]) / 2;

        T[] gradient = PoisonedGradient(6);
        T loss = new SoftmaxCrossEntropy<T>(fromLogits: false).Forward(Values(p), labels, gradient);

        AssertClose((-Math.Log(0.5) - Math.Log(1.9 / 3)) / 2, loss, "loss");
        AssertAllClose(expectedGradient, gradient, "gradient");
    }

    [Test]
    public void SoftmaxCrossEntropy_FromProbabilities_ClipsToKerasEpsilon_WithZeroGradientWhereClipped()
    {
        // Keras' bounds ε = 1e-7 and 1 − ε, rounded to T as Keras converts them.
        double low = D(T.CreateTruncating(1e-7)), high = D(T.CreateTruncating(1 - 1e-7));
        // Row 0: the label's probability is 0 → clipped to ε. Row 1: the label's is 1 → clipped to 1 − ε. Both rows'
        // gradients are 0 (the clip's derivative). Row 2 is unnormalized (s = 10): ℓ = −log 0.5, dℓ/dp_j = −[j = 2]/5 + 1/10.
        double[] p = [0, 0.25, 0.75, 1, 0, 0, 2, 3, 5];
        T[] gradient = PoisonedGradient(9);
        T loss = new SoftmaxCrossEntropy<T>(fromLogits: false).Forward(Values(p), [0, 0, 2], gradient);

        AssertClose((-Math.Log(low) - Math.Log(high) - Math.Log(0.5)) / 3, loss, "loss");
        AssertAllClose([0, 0, 0, 0, 0, 0, 0.1 / 3, 0.1 / 3, (0.1 - 0.2) / 3], gradient, "gradient");
    }

    [Test]
    public void CategoricalCrossEntropy_FromProbabilities_MatchesKerasDocstringExample()
    {
        // keras.losses.categorical_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
        // = [0.0513, 2.303] (its docstring): −log 0.95 and −log 0.1. The 0 is clipped to ε but has target 0.
        double[] p = [0.05, 0.95, 0, 0.1, 0.8, 0.1];
        double[] t = [0, 1, 0, 0, 0, 1];
        Assert.That(-Math.Log(0.95), Is.EqualTo(0.0513).Within(5e-5));
        Assert.That(-Math.Log(0.1), Is.EqualTo(2.303).Within(5e-4));
        // dℓ/dp_j = −t_j/p_j + (Σ_k t_k over unclipped k)/s, with s = 1; the clipped p = 0 keeps only the second term.
        double[] expectedGradient = [1.0 / 2, (1 - 1 / 0.95) / 2, 1.0 / 2, 1.0 / 2, 1.0 / 2, (1 - 1 / 0.1) / 2];

        T[] gradient = PoisonedGradient(6);
        T loss = new CategoricalCrossEntropy<T>(fromLogits: false).Forward(Values(p), Values(t), 2, gradient);

        AssertClose((-Math.Log(0.95) - Math.Log(0.1)) / 2, loss, "loss");
        AssertAllClose(expectedGradient, gradient, "gradient");
    }

    [Test]
    public void CategoricalCrossEntropy_FromLogits_MatchesLogSoftmaxByHand_WithSoftTargets()
    {
        // Row 1's targets sum to 0.8: dℓ/dx = S·softmax(x) − t with S = Σ t.
        double[] logits = [1.0, 2.0, 0.5, -0.3, 0.1, 3.0];
        double[] t = [0.1, 0.7, 0.2, 0.5, 0.2, 0.1];
        double expected = 0;
        double[] expectedGradient = new double[6];
        for (int b = 0; b < 2; b++)
        {
            double sumExp = 0, targetSum = 0;
            for (int k = 0; k < 3; k++) { sumExp += Math.Exp(logits[b * 3 + k]); targetSum += t[b * 3 + k]; }
            for (int k = 0; k < 3; k++)
            {
                double softmax = Math.Exp(logits[b * 3 + k]) / sumExp;
                expected -= t[b * 3 + k] * Math.Log(softmax) / 2;
                expectedGradient[b * 3 + k] = (targetSum * softmax - t[b * 3 + k]) / 2;
            }
        }

        T[] gradient = PoisonedGradient(6);
        T loss = new CategoricalCrossEntropy<T>().Forward(Values(logits), Values(t), 2, gradient);

        AssertClose(expected, loss, "loss");
        AssertAllClose(expectedGradient, gradient, "gradient");
    }

    [TestCase(true)]
    [TestCase(false)]
    public void CategoricalCrossEntropy_WithOneHotTargets_EqualsSparse(bool fromLogits)
    {
        double[] x = [0.5, 1.5, 2.0, 0.25, 3.0, 0.125, 1.0, 1.0, 4.0];
        int[] labels = [1, 0, 2];
        double[] oneHot = new double[9];
        for (int b = 0; b < 3; b++) oneHot[b * 3 + labels[b]] = 1;

        T[] sparseGradient = new T[9], categoricalGradient = new T[9];
        T sparse = new SoftmaxCrossEntropy<T>(fromLogits).Forward(Values(x), labels, sparseGradient);
        T categorical = new CategoricalCrossEntropy<T>(fromLogits).Forward(Values(x), Values(oneHot), 3, categoricalGradient);

        AssertClose(D(sparse), categorical, "loss");
        AssertAllClose(sparseGradient.Select(D).ToArray(), categoricalGradient, "gradient");
    }

    [Test]
    public void BinaryCrossEntropy_FromProbabilities_MatchesKerasDocstringExample_AndClipsZeroAndOne()
    {
        // keras.losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) = [0.916, 0.714].
        double row0 = -(Math.Log(0.4) + Math.Log(0.4)) / 2, row1 = -(Math.Log(0.6) + Math.Log(0.4)) / 2;
        Assert.That(row0, Is.EqualTo(0.916).Within(5e-4));
        Assert.That(row1, Is.EqualTo(0.714).Within(5e-4));
        T[] gradient = PoisonedGradient(4);
        T loss = new BinaryCrossEntropy<T>(fromLogits: false).Forward(Values(0.6, 0.4, 0.4, 0.6), Values(0, 1, 0, 0), gradient);
        AssertClose((row0 + row1) / 2, loss, "loss");
        // dℓ/dp = (1 − y)/(1 − p) − y/p, then / N.
        AssertAllClose([1 / 0.4 / 4, -1 / 0.4 / 4, 1 / 0.6 / 4, 1 / 0.4 / 4], gradient, "gradient");

        // p = 0 and 1 are clipped to ε and 1 − ε (rounded to T as Keras does), with gradient 0.
        double low = D(T.CreateTruncating(1e-7)), high = D(T.CreateTruncating(1 - 1e-7));
        gradient = PoisonedGradient(4);
        loss = new BinaryCrossEntropy<T>(fromLogits: false).Forward(Values(0, 1, 0, 1), Values(0, 0, 1, 1), gradient);
        AssertClose((-Math.Log(1 - low) - Math.Log(1 - high) - Math.Log(low) - Math.Log(high)) / 4, loss, "clipped loss");
        AssertAllClose([0, 0, 0, 0], gradient, "clipped gradient");
    }

    [Test]
    public void BinaryCrossEntropy_FromLogits_MatchesKerasDocstringExample()
    {
        // keras.losses.BinaryCrossentropy(from_logits=True)([[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]) = 0.8654,
        // per sample [0.235, 1.496] (reduction=None), 1.730 summed (its docstring, whose doctests print values cut to a few
        // digits: each printed value is matched within one unit of its last digit). Per value: max(x, 0) − x·y + log(1 + e^−|x|).
        double[] x = [-18.6, 0.51, 2.94, -12.8];
        double[] y = [0, 1, 0, 0];
        double[] perValue = x.Select((v, k) => Math.Max(v, 0) - v * y[k] + Math.Log(1 + Math.Exp(-Math.Abs(v)))).ToArray();
        Assert.That((perValue[0] + perValue[1]) / 2, Is.EqualTo(0.235).Within(1e-3));
        Assert.That((perValue[2] + perValue[3]) / 2, Is.EqualTo(1.496).Within(1e-3));
        Assert.That(perValue.Sum() / 2, Is.EqualTo(1.730).Within(1e-3));

        T[] gradient = PoisonedGradient(4);
        T loss = new BinaryCrossEntropy<T>().Forward(Values(x), Values(y), gradient);

        Assert.That(D(loss), Is.EqualTo(0.8654).Within(1e-4), "Keras' printed value");
        AssertClose(perValue.Sum() / 4, loss, "loss");
        // dℓ/dx = (σ(x) − y) / N.
        AssertAllClose(x.Select((v, k) => (1 / (1 + Math.Exp(-v)) - y[k]) / 4).ToArray(), gradient, "gradient");
    }

    [Test]
    public void ProbabilityPaths_FedSoftmaxOrSigmoidOfLogits_AgreeWithLogitPaths_LossAndChainRuleGradient()
    {
        var random = new Random(11);
        const int batch = 3, classes = 4, n = batch * classes;
        double[] x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 4 - 2).ToArray();
        double[] t = Enumerable.Range(0, n).Select(_ => random.NextDouble()).ToArray();
        int[] labels = [3, 0, 2];
        double[] softmax = new double[n];
        for (int b = 0; b < batch; b++)
        {
            double sum = 0;
            for (int k = 0; k < classes; k++) sum += Math.Exp(x[b * classes + k]);
            for (int k = 0; k < classes; k++) softmax[b * classes + k] = Math.Exp(x[b * classes + k]) / sum;
        }
        double[] sigmoid = x.Select(v => 1 / (1 + Math.Exp(-v))).ToArray();

        // Through softmax: dL/dx_j = σ_j (dL/dp_j − Σ_k σ_k dL/dp_k); through sigmoid: dL/dx = σ(1 − σ) dL/dp.
        double[] ThroughSoftmax(T[] gradientP)
        {
            double[] result = new double[n];
            for (int b = 0; b < batch; b++)
            {
                double dot = 0;
                for (int k = 0; k < classes; k++) dot += softmax[b * classes + k] * D(gradientP[b * classes + k]);
                for (int k = 0; k < classes; k++)
                    result[b * classes + k] = softmax[b * classes + k] * (D(gradientP[b * classes + k]) - dot);
            }
            return result;
        }

        T[] gradientX = new T[n], gradientP = new T[n];
        T fromLogits = new SoftmaxCrossEntropy<T>().Forward(Values(x), labels, gradientX);
        T fromProbabilities = new SoftmaxCrossEntropy<T>(fromLogits: false).Forward(Values(softmax), labels, gradientP);
        AssertClose(D(fromLogits), fromProbabilities, "sparse loss");
        AssertAllClose(ThroughSoftmax(gradientP), gradientX, "sparse gradient");

        fromLogits = new CategoricalCrossEntropy<T>().Forward(Values(x), Values(t), batch, gradientX);
        fromProbabilities = new CategoricalCrossEntropy<T>(fromLogits: false).Forward(Values(softmax), Values(t), batch, gradientP);
        AssertClose(D(fromLogits), fromProbabilities, "categorical loss");
        AssertAllClose(ThroughSoftmax(gradientP), gradientX, "categorical gradient");

        fromLogits = new BinaryCrossEntropy<T>().Forward(Values(x), Values(t), gradientX);
        fromProbabilities = new BinaryCrossEntropy<T>(fromLogits: false).Forward(Values(sigmoid), Values(t), gradientP);
        AssertClose(D(fromLogits), fromProbabilities, "binary loss");
        AssertAllClose(Enumerable.Range(0, n).Select(k => sigmoid[k] * (1 - sigmoid[k]) * D(gradientP[k])).ToArray(), gradientX, "binary gradient");
    }

    [Test]
    public void ProbabilityPaths_RejectNegativeOrNonFiniteValues_AndEmptyRows_NamingRowAndValue()
    {
        var sparse = new SoftmaxCrossEntropy<T>(fromLogits: false);
        var categorical = new CategoricalCrossEntropy<T>(fromLogits: false);
        T[] targets = Values(1, 0, 0, 0, 1, 0);

        Assert.That(() => sparse.Forward(Values(0.2, 0.3, 0.5, 0.6, -0.1, 0.5), [0, 1], Span<T>.Empty),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("row 1").And.Message.Contain("-0.1").And.Message.Contain("class 1"));
        Assert.That(() => categorical.Forward(Values(0.2, 0.3, 0.5, 0.6, -0.1, 0.5), targets, 2, Span<T>.Empty),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("row 1").And.Message.Contain("-0.1"));
        Assert.That(() => sparse.Forward(Values(0.2, double.NaN, 0.5, 0.6, 0.1, 0.5), [0, 1], Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("finite").And.Message.Contain("row 0"));
        Assert.That(() => categorical.Forward(Values(0.2, 0.3, 0.5, 0.6, double.PositiveInfinity, 0.5), targets, 2, Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("finite").And.Message.Contain("row 1"));
        Assert.That(() => sparse.Forward(Values(0, 0, 0, 0.6, 0.1, 0.5), [0, 1], Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("row 0 sums to 0"));

        var binary = new BinaryCrossEntropy<T>(fromLogits: false);
        Assert.That(() => binary.Forward(Values(0.5, -0.25), Values(0, 1), Span<T>.Empty),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("predictions[1] = -0.25"));
        Assert.That(() => binary.Forward(Values(0.5, 1.5), Values(0, 1), Span<T>.Empty),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("predictions[1] = 1.5"));
        Assert.That(() => binary.Forward(Values(double.NaN, 0.5), Values(0, 1), Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("finite"));

        // From logits the same values are fine.
        Assert.That(() => new SoftmaxCrossEntropy<T>().Forward(Values(0.2, 0.3, 0.5, 0.6, -0.1, 0.5), [0, 1], Span<T>.Empty), Throws.Nothing);
        Assert.That(() => new BinaryCrossEntropy<T>().Forward(Values(0.5, 1.5), Values(0, 1), Span<T>.Empty), Throws.Nothing);
    }

    [Test]
    public void CategoricalCrossEntropy_RejectsTargetsOfAnotherShape_AndNeedsTheBatchSizeThroughILoss()
    {
        var loss = new CategoricalCrossEntropy<T>();
        Assert.That(() => loss.Forward(Values(1, 2, 3, 4, 5, 6), Values(1, 0, 0, 0, 1), 2, Span<T>.Empty),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("targets").And.Message.Contain("[B=2, K=3]").And.Message.Contain("got 5"));
        Assert.That(() => loss.Forward(Values(1, 2, 3, 4, 5, 6), Values(1, 0, 0, 0, 1, 0), 4, Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("B=4"));
        Assert.That(() => loss.Forward(Values(1, 2, 3, 4, 5, 6), Values(1, 0, 0, -0.5, 1, 0), 2, Span<T>.Empty),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("targets[1, 0] = -0.5"));

        ILoss<T> viaInterface = loss;
        Assert.That(() => viaInterface.Forward(Values(1, 2, 3, 4, 5, 6), LossTargets<T>.FromValues(Values(1, 0, 0, 0, 1, 0)), Span<T>.Empty),
            Throws.ArgumentException.With.Message.Contain("FromValues(values, rows)"));
        T a = viaInterface.Forward(Values(1, 2, 3, 4, 5, 6), LossTargets<T>.FromValues(Values(1, 0, 0, 0, 1, 0), 2), Span<T>.Empty);
        T b = loss.Forward(Values(1, 2, 3, 4, 5, 6), Values(1, 0, 0, 0, 1, 0), 2, Span<T>.Empty);
        Assert.That(a, Is.EqualTo(b));
        Assert.That(() => LossTargets<T>.FromValues(Values(1, 0, 0, 0, 1, 0), 4), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => LossTargets<T>.FromValues(Values(1, 0, 0, 0, 1, 0), 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Metrics_AccuracyUsesFirstArgmax_AndMaeIsMeanAbsoluteDifference()
    {
        // Rows: argmax 1 (label 1, correct), tie between 0 and 2 → 0 (label 2, wrong), argmax 2 (label 2, correct).
        T[] predictions = Values(0.1, 0.8, 0.1, 0.5, 0.0, 0.5, -3, -2, -1);
        Assert.That(Metrics.CountCorrect<T>(predictions, [1, 2, 2]), Is.EqualTo(2));
        Assert.That(Metrics.Accuracy<T>(predictions, [1, 2, 2]), Is.EqualTo(2.0 / 3));
        Assert.That(Metrics.MeanAbsoluteError<T>(Values(P), Values(Y)), Is.EqualTo(4.25 / 6).Within(1e-15));
    }
    // Logits far from zero with differences of order 1: the loss is log Σ_k exp(x_k − x_y), which PyTorch's log_softmax
    // (x_y − m) − log Σ exp(x_k − m) and TensorFlow's sparse kernel log Σ exp(x_k − m) − (x_y − m) keep to a few ulp
    // of itself. Formed as (m + log Σ) − x_y, m's rounding swamped it: [1e30, 1e30, −1e30] gave 0 for ln 2, and in float
    // rows near 1e4 were 5e-4 off. The reference is the same shifted sum in double on the same T values.
    [TestCase(0.0)]
    [TestCase(1e4)]
    [TestCase(3.3e4)]
    [TestCase(1e30)]
    [TestCase(-3e7)]
    public void SparseCrossEntropyFromLogits_FarFromZero_KeepsTheLossAccurate(double offset)
    {
        T[] logits = Values(offset + 0.5, offset, offset - 0.25, offset + 0.125, offset, offset + 1);   // two rows of 3
        int[] labels = [1, 2];
        foreach (double ls in new[] { 0.0, 0.1 })
        {
            double expected = 0;
            for (int b = 0; b < 2; b++)
            {
                double[] row = [D(logits[3 * b]), D(logits[3 * b + 1]), D(logits[3 * b + 2])];
                double m = row.Max(), logSum = Math.Log(row.Sum(v => Math.Exp(v - m)));
                double nll = (m - row[labels[b]]) + logSum, smooth = row.Sum(v => (m - v) + logSum);
                expected += (1 - ls) * nll + ls / 3 * smooth;
            }
            expected /= 2;
            T[] gradient = new T[logits.Length];
            T loss = new SoftmaxCrossEntropy<T>(labelSmoothing: ls).Forward(logits, labels, gradient);
            AssertClose(expected, loss, $"offset {offset}, label smoothing {ls}");
        }
    }
}
