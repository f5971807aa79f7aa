using NumLstm.Losses;

namespace NumLstm.Tests.Losses;

/// <summary>
/// Label smoothing of the three cross-entropies against the frameworks' formulas written out plainly in double:
/// Keras 3's keras/src/losses/losses.py (<c>categorical_crossentropy</c>: y·(1 − ls) + ls/K; <c>binary_crossentropy</c>:
/// y·(1 − ls) + ls/2) and PyTorch's <c>cross_entropy(label_smoothing=ls)</c> with class indices ((1 − ls)·nll +
/// (ls/K)·Σ_k −log softmax_k). The float64 gradients are checked in <see cref="CrossEntropyGradientTests"/>.
/// </summary>
public class LabelSmoothingTests
{
    private static double LogSumExp(double[] row) => row.Max() + Math.Log(row.Sum(v => Math.Exp(v - row.Max())));

    // PyTorch's own example shape: logits [2, 1, 0.1], class 0, ls 0.1. logsumexp = log(e² + e + e^0.1); nll = lse − 2;
    // smooth = Σ_k (lse − x_k) = 3·lse − 3.1; loss = 0.9·nll + (0.1/3)·smooth.
    [Test]
    public void Sparse_FromLogits_IsPyTorchsFormula()
    {
        double[] x = [2.0, 1.0, 0.1];
        double lse = Math.Log(Math.Exp(2.0) + Math.Exp(1.0) + Math.Exp(0.1));
        double expected = 0.9 * (lse - 2.0) + 0.1 / 3 * (3 * lse - 3.1);
        Assert.That(expected, Is.EqualTo(0.5137).Within(1e-4), "the worked value");
        Assert.That(new SoftmaxCrossEntropy<double>(labelSmoothing: 0.1).Forward(x, [0], Span<double>.Empty), Is.EqualTo(expected).Within(1e-15));
        Assert.That(new SoftmaxCrossEntropy<float>(labelSmoothing: 0.1).Forward([2f, 1f, 0.1f], [0], Span<float>.Empty), Is.EqualTo(expected).Within(1e-6));
        Assert.That(new SoftmaxCrossEntropy<double>().Forward(x, [0], Span<double>.Empty), Is.EqualTo(lse - 2.0).Within(1e-15), "ls 0: the plain loss");
    }

    [Test]
    public void Categorical_FromLogitsAndProbabilities_SmoothTheTargetRows()
    {
        double[] x = [0.2, -1.3, 0.5, 0.7, 1.9, -0.4];
        double[] t = [0.1, 0.6, 0.3, 0.0, 1.0, 0.0];
        const double ls = 0.25;
        double expected = 0;
        for (int b = 0; b < 2; b++)
        {
            double[] row = x[(3 * b)..(3 * b + 3)];
            double lse = LogSumExp(row);
            for (int k = 0; k < 3; k++) expected -= (t[3 * b + k] * (1 - ls) + ls / 3) * (row[k] - lse);
        }
        expected /= 2;
        Assert.That(new CategoricalCrossEntropy<double>(labelSmoothing: ls).Forward(x, t, 2, Span<double>.Empty), Is.EqualTo(expected).Within(1e-14));

        // From probabilities: the row divided by its sum, clipped to [1e-7, 1 − 1e-7], then −Σ t̃·log.
        double[] p = [0.2, 0.3, 0.5, 0.7, 1.9, 0.4];
        double probabilityExpected = 0;
        for (int b = 0; b < 2; b++)
        {
            double s = p[3 * b] + p[3 * b + 1] + p[3 * b + 2];
            for (int k = 0; k < 3; k++) probabilityExpected -= (t[3 * b + k] * (1 - ls) + ls / 3) * Math.Log(Math.Clamp(p[3 * b + k] / s, 1e-7, 1 - 1e-7));
        }
        probabilityExpected /= 2;
        Assert.That(new CategoricalCrossEntropy<double>(fromLogits: false, labelSmoothing: ls).Forward(p, t, 2, Span<double>.Empty),
            Is.EqualTo(probabilityExpected).Within(1e-14));
    }

    [Test]
    public void Binary_FromLogitsAndProbabilities_SmoothTowardsOneHalf()
    {
        double[] x = [0.7, -1.2, 2.5, 0.3];
        double[] y = [1.0, 0.0, 0.3, 0.5];
        const double ls = 0.2;
        double logitExpected = 0, probabilityExpected = 0;
        double[] p = [0.7, 0.2, 0.45, 1.0];   // 1.0 is clipped to 1 − 1e-7
        for (int k = 0; k < 4; k++)
        {
            double smoothed = y[k] * (1 - ls) + 0.5 * ls;
            double sigmoid = 1 / (1 + Math.Exp(-x[k]));
            logitExpected -= smoothed * Math.Log(sigmoid) + (1 - smoothed) * Math.Log(1 - sigmoid);
            double c = Math.Clamp(p[k], 1e-7, 1 - 1e-7);
            probabilityExpected -= smoothed * Math.Log(c) + (1 - smoothed) * Math.Log(1 - c);
        }
        Assert.That(new BinaryCrossEntropy<double>(labelSmoothing: ls).Forward(x, y, Span<double>.Empty), Is.EqualTo(logitExpected / 4).Within(1e-14));
        Assert.That(new BinaryCrossEntropy<double>(fromLogits: false, labelSmoothing: ls).Forward(p, y, Span<double>.Empty), Is.EqualTo(probabilityExpected / 4).Within(1e-12));
        // ls = 1 makes every target 1/2, whatever it was.
        var half = new BinaryCrossEntropy<double>(labelSmoothing: 1);
        Assert.That(half.Forward(x, y, Span<double>.Empty), Is.EqualTo(half.Forward(x, [0.5, 0.5, 0.5, 0.5], Span<double>.Empty)));
    }

    // Sparse with smoothing is the categorical loss of the smoothed one-hot row, value and gradient, on both paths.
    [TestCase(true)]
    [TestCase(false)]
    public void Sparse_EqualsCategoricalOfOneHotRows(bool fromLogits)
    {
        double[] x = fromLogits ? [0.2, -1.3, 0.5, 0.7, 1.9, -0.4, 3.0, 1.0, 2.0] : [0.2, 0.3, 0.5, 0.7, 1.9, 0.4, 3.0, 1.0, 2.0];
        int[] labels = [1, 2, 0];
        double[] oneHot = new double[9];
        for (int b = 0; b < 3; b++) oneHot[3 * b + labels[b]] = 1;
        double[] sparseGradient = new double[9], categoricalGradient = new double[9];
        double sparse = new SoftmaxCrossEntropy<double>(fromLogits, 0.3).Forward(x, labels, sparseGradient);
        double categorical = new CategoricalCrossEntropy<double>(fromLogits, 0.3).Forward(x, oneHot, 3, categoricalGradient);
        Assert.That(sparse, Is.EqualTo(categorical).Within(1e-14));
        for (int k = 0; k < 9; k++) Assert.That(sparseGradient[k], Is.EqualTo(categoricalGradient[k]).Within(1e-15), $"gradient[{k}]");

        float[] xf = x.Select(v => (float)v).ToArray(), oneHotF = oneHot.Select(v => (float)v).ToArray();
        float sparseF = new SoftmaxCrossEntropy<float>(fromLogits, 0.3).Forward(xf, labels, Span<float>.Empty);
        float categoricalF = new CategoricalCrossEntropy<float>(fromLogits, 0.3).Forward(xf, oneHotF, 3, Span<float>.Empty);
        Assert.That(sparseF, Is.EqualTo(categoricalF).Within(1e-6));
        Assert.That(sparseF, Is.EqualTo(sparse).Within(1e-6), "float against double");
    }

    [Test]
    public void BadAmounts_AreNamed_AndMseOrMaeHaveNone()
    {
        foreach (double ls in new[] { -0.1, 1.5, double.NaN, double.PositiveInfinity })
        {
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new CategoricalCrossEntropy<float>(labelSmoothing: ls))!.ParamName, Is.EqualTo("labelSmoothing"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new SoftmaxCrossEntropy<float>(labelSmoothing: ls))!.ParamName, Is.EqualTo("labelSmoothing"));
            var binary = Assert.Throws<ArgumentOutOfRangeException>(() => new BinaryCrossEntropy<float>(labelSmoothing: ls));
            Assert.That(binary!.Message, Does.Contain("BinaryCrossEntropy").And.Contain("[0, 1]"));
        }
        foreach (string name in new[] { "mse", "mae", "mean_squared_error" })
        {
            var error = Assert.Throws<ArgumentException>(() => Loss.FromName<float>(name, labelSmoothing: 0.1));
            Assert.That(error!.Message, Does.Contain(name).And.Contain("0.1"));
        }
        Assert.That(Loss.FromName<float>("mse", labelSmoothing: 0), Is.InstanceOf<MeanSquaredError<float>>());
        Assert.That(((CategoricalCrossEntropy<float>)Loss.FromName<float>("categorical_crossentropy", false, 0.2)).LabelSmoothing, Is.EqualTo(0.2));
        Assert.That(((SoftmaxCrossEntropy<float>)Loss.FromName<float>("sparse_categorical_crossentropy", labelSmoothing: 0.3)).LabelSmoothing, Is.EqualTo(0.3));
        Assert.That(((BinaryCrossEntropy<float>)Loss.FromName<float>("binary_crossentropy", labelSmoothing: 0.4)).LabelSmoothing, Is.EqualTo(0.4));
        Assert.That(new CategoricalCrossEntropy<float>().LabelSmoothing, Is.Zero, "default none");
    }

    [Test]
    public void SmoothedForward_AllocatesNothing()
    {
        float[] x = Enumerable.Range(0, 64 * 10).Select(k => (float)Math.Sin(k)).ToArray();
        float[] t = Enumerable.Range(0, 64 * 10).Select(k => k % 10 == k / 10 % 10 ? 1f : 0f).ToArray();
        int[] labels = Enumerable.Range(0, 64).Select(b => b % 10).ToArray();
        float[] gradient = new float[x.Length];
        var categorical = new CategoricalCrossEntropy<float>(labelSmoothing: 0.1);
        var sparse = new SoftmaxCrossEntropy<float>(labelSmoothing: 0.1);
        var binary = new BinaryCrossEntropy<float>(labelSmoothing: 0.1);
        void Run()
        {
            categorical.Forward(x, t, 64, gradient);
            sparse.Forward(x, labels, gradient);
            binary.Forward(x, t, gradient);
        }
        Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }
}
