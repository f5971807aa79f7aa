using NumLstm.Losses;
using NumLstm.Tests.GradientChecks;

namespace NumLstm.Tests.Losses;

/// <summary>
/// Float64 gradients of every cross-entropy path against fourth-order central differences, relative error below 1e-7,
/// at an interior point and at one where Keras' clip to [1e-7, 1 − 1e-7] is active (there the clipped elements take
/// a step that keeps them clipped, and the clip's derivative must be 0).
/// </summary>
public class CrossEntropyGradientTests
{
    private const double RelativeTolerance = 1e-7;
    private const double InteriorStep = 1e-4;

    /// <summary>
    /// A row probability's step: p ± 2h stays within [p/3, 5p/3], so it stays positive, and a value clipped below
    /// (q = p/s under ε) stays clipped when the test keeps it under 0.6 ε·s.
    /// </summary>
    private static Func<int, double> RowStep(double[] p) => k => Math.Min(InteriorStep, p[k] / 3);

    /// <summary>A binary probability's step: p ± 2h stays in (0, 1) and on its side of ε and of 1 − ε.</summary>
    private static Func<int, double> BinaryStep(double[] p) => k => Math.Min(InteriorStep, Math.Min(p[k], 1 - p[k]) / 3);

    private static void AssertGradientMatches(string name, Func<double[], Span<double>, double> forward, double[] point, Func<int, double> step)
    {
        double[] analytic = new double[point.Length];
        forward(point, analytic);
        var tensor = new CheckedTensor(name, point, analytic);
        List<GradientMismatch> mismatches = GradientChecker.FindRelativeMismatches(
            () => forward(point, Span<double>.Empty), tensor, step, RelativeTolerance);
        Assert.That(mismatches, Is.Empty, () => string.Join("\n", mismatches));
    }

    // Sparse, from probabilities. Interior: a normalized and an unnormalized row (s = 3).
    [Test]
    public void SparseFromProbabilities_Interior()
    {
        double[] p = [0.2, 0.3, 0.5, 0.7, 1.9, 0.4];
        var loss = new SoftmaxCrossEntropy<double>(fromLogits: false);
        AssertGradientMatches("sparse p", (x, g) => loss.Forward(x, [2, 1], g), p, RowStep(p));
    }

    // Each row a batch of its own, so the loss stays small and the tiny steps' rounding with it: the label's q below ε
    // (the row's gradient is 0), another class below ε (the gradient still flows through the row sum), the label's q
    // above 1 − ε (0 again).
    [TestCase(new[] { 0.6, 0.4, 5e-8 }, 2)]
    [TestCase(new[] { 0.45, 0.55, 5e-8 }, 0)]
    [TestCase(new[] { 1.0, 2e-8, 3e-8 }, 0)]
    public void SparseFromProbabilities_ClipActive(double[] p, int label)
    {
        var loss = new SoftmaxCrossEntropy<double>(fromLogits: false);
        double[] gradient = new double[p.Length];
        loss.Forward(p, [label], gradient);
        if (label == 0 && p[2] == 5e-8)
            Assert.That(gradient[2], Is.EqualTo(1 / (1 + 5e-8)).Within(1e-15), "a clipped class still sees 1/s");
        else
            Assert.That(gradient, Is.All.EqualTo(0.0), "the label's q is clipped");
        AssertGradientMatches("sparse p clipped", (x, g) => loss.Forward(x, [label], g), p, RowStep(p));
    }

    // Categorical, from probabilities, soft targets (one row's targets sum to 0.8).
    [Test]
    public void CategoricalFromProbabilities_Interior()
    {
        double[] p = [0.2, 0.3, 0.5, 0.7, 1.9, 0.4, 3.0, 1.0, 2.0];
        double[] t = [0.1, 0.6, 0.3, 0.0, 1.0, 0.0, 0.5, 0.2, 0.1];
        var loss = new CategoricalCrossEntropy<double>(fromLogits: false);
        AssertGradientMatches("categorical p", (x, g) => loss.Forward(x, t, 3, g), p, RowStep(p));
    }

    // A clipped class with a positive target (its −t·log ε term is constant, its derivative Σ m·t/s is not), and a row
    // whose largest q is above 1 − ε and the others below ε (every class clipped: the row's gradient is 0).
    [TestCase(new[] { 4e-8, 0.25, 0.75 }, new[] { 0.05, 0.55, 0.4 }, 0.95 / (1 + 4e-8))]
    [TestCase(new[] { 1.0, 2e-8, 3e-8 }, new[] { 1.0, 0.0, 0.0 }, 0.0)]
    public void CategoricalFromProbabilities_ClipActive(double[] p, double[] t, double firstGradient)
    {
        var loss = new CategoricalCrossEntropy<double>(fromLogits: false);
        double[] gradient = new double[p.Length];
        loss.Forward(p, t, 1, gradient);
        // Row [4e-8, 0.25, 0.75]: m = (0, 1, 1), Σ m·t = 0.95, so dℓ/dp_0 = 0.95/s (the clipped element's own term is 0).
        Assert.That(gradient[0], Is.EqualTo(firstGradient).Within(1e-15));
        AssertGradientMatches("categorical p clipped", (x, g) => loss.Forward(x, t, 1, g), p, RowStep(p));
    }

    [Test]
    public void CategoricalFromLogits_SoftTargets()
    {
        double[] x = [0.2, -1.3, 0.5, 0.7, 1.9, -0.4, 3.0, 1.0, 2.0];
        double[] t = [0.1, 0.6, 0.3, 0.0, 1.0, 0.0, 0.5, 0.2, 0.1];
        var loss = new CategoricalCrossEntropy<double>();
        AssertGradientMatches("categorical x", (v, g) => loss.Forward(v, t, 3, g), x, _ => InteriorStep);
    }

    [Test]
    public void SparseFromLogits()
    {
        double[] x = [0.2, -1.3, 0.5, 0.7, 1.9, -0.4];
        var loss = new SoftmaxCrossEntropy<double>();
        AssertGradientMatches("sparse x", (v, g) => loss.Forward(v, [1, 2], g), x, _ => InteriorStep);
    }

    [Test]
    public void BinaryFromProbabilities_Interior()
    {
        double[] p = [0.7, 0.2, 0.45, 0.5, 0.1, 0.9];
        double[] y = [1.0, 0.0, 0.3, 0.5, 1.0, 0.0];
        var loss = new BinaryCrossEntropy<double>(fromLogits: false);
        AssertGradientMatches("binary p", (x, g) => loss.Forward(x, y, g), p, BinaryStep(p));
    }

    // p below ε and above 1 − ε, with targets that make the unclipped derivative large: the clip makes it 0.
    [Test]
    public void BinaryFromProbabilities_ClipActive()
    {
        double[] p = [5e-8, 1 - 5e-8, 0.45, 2e-8, 1 - 3e-8];
        double[] y = [1.0, 0.0, 0.3, 0.5, 0.2];
        var loss = new BinaryCrossEntropy<double>(fromLogits: false);
        double[] gradient = new double[p.Length];
        loss.Forward(p, y, gradient);
        Assert.That(new[] { gradient[0], gradient[1], gradient[3], gradient[4] }, Is.All.EqualTo(0.0));
        AssertGradientMatches("binary p clipped", (x, g) => loss.Forward(x, y, g), p, BinaryStep(p));
    }

    [Test]
    public void BinaryFromLogits()
    {
        double[] x = [0.7, -1.2, 2.5, 0.3, -0.4, 1.1];
        double[] y = [1.0, 0.0, 0.3, 0.5, 1.0, 0.0];
        var loss = new BinaryCrossEntropy<double>();
        AssertGradientMatches("binary x", (v, g) => loss.Forward(v, y, g), x, _ => InteriorStep);
    }

    // Label smoothing, every loss and path at two amounts: the smoothed targets' terms (ls/K in every class, ls/2 for
    // binary) enter the gradient of every element, so dropping one is caught.
    [TestCase(0.1)]
    [TestCase(0.3)]
    public void LabelSmoothing_EveryLossAndPath(double ls)
    {
        double[] x = [0.2, -1.3, 0.5, 0.7, 1.9, -0.4, 3.0, 1.0, 2.0];
        double[] p = [0.2, 0.3, 0.5, 0.7, 1.9, 0.4, 3.0, 1.0, 2.0];
        double[] t = [0.1, 0.6, 0.3, 0.0, 1.0, 0.0, 0.5, 0.2, 0.1];
        var categoricalLogits = new CategoricalCrossEntropy<double>(labelSmoothing: ls);
        var categoricalProbabilities = new CategoricalCrossEntropy<double>(fromLogits: false, labelSmoothing: ls);
        AssertGradientMatches("smoothed categorical x", (v, g) => categoricalLogits.Forward(v, t, 3, g), x, _ => InteriorStep);
        AssertGradientMatches("smoothed categorical p", (v, g) => categoricalProbabilities.Forward(v, t, 3, g), p, RowStep(p));

        var sparseLogits = new SoftmaxCrossEntropy<double>(labelSmoothing: ls);
        var sparseProbabilities = new SoftmaxCrossEntropy<double>(fromLogits: false, labelSmoothing: ls);
        AssertGradientMatches("smoothed sparse x", (v, g) => sparseLogits.Forward(v, [1, 2, 0], g), x, _ => InteriorStep);
        AssertGradientMatches("smoothed sparse p", (v, g) => sparseProbabilities.Forward(v, [1, 2, 0], g), p, RowStep(p));

        double[] bx = [0.7, -1.2, 2.5, 0.3, -0.4, 1.1];
        double[] bp = [0.7, 0.2, 0.45, 0.5, 0.1, 0.9];
        double[] y = [1.0, 0.0, 0.3, 0.5, 1.0, 0.0];
        var binaryLogits = new BinaryCrossEntropy<double>(labelSmoothing: ls);
        var binaryProbabilities = new BinaryCrossEntropy<double>(fromLogits: false, labelSmoothing: ls);
        AssertGradientMatches("smoothed binary x", (v, g) => binaryLogits.Forward(v, y, g), bx, _ => InteriorStep);
        AssertGradientMatches("smoothed binary p", (v, g) => binaryProbabilities.Forward(v, y, g), bp, BinaryStep(bp));
    }

    // With the sparse probability path's clip active: the label's q below ε (unsmoothed, the row's gradient would be 0;
    // smoothed, the other classes' ls/K still pull through the row sum), a non-label class below ε, and every class
    // clipped (the label's q above 1 − ε, the others below ε: the row's gradient is 0).
    [TestCase(new[] { 0.6, 0.4, 5e-8 }, 2)]
    [TestCase(new[] { 0.45, 0.55, 5e-8 }, 0)]
    [TestCase(new[] { 1.0, 2e-8, 3e-8 }, 0)]
    public void LabelSmoothing_SparseFromProbabilities_ClipActive(double[] p, int label)
    {
        var loss = new SoftmaxCrossEntropy<double>(fromLogits: false, labelSmoothing: 0.2);
        double[] gradient = new double[p.Length];
        loss.Forward(p, [label], gradient);
        if (p[1] == 2e-8)
            Assert.That(gradient, Is.All.EqualTo(0.0), "every class clipped");
        else
            Assert.That(gradient.Take(2), Is.All.Not.EqualTo(0.0), "the unclipped classes' smoothed targets keep a gradient");
        if (label != 2)
        {
            AssertGradientMatches("smoothed sparse p clipped", (x, g) => loss.Forward(x, [label], g), p, RowStep(p));
            return;
        }
        // The clipped label: its −t̃·log ε term (about 14 here) is constant, and the 2e-8 step its element allows turns that
        // constant's rounding into a 1e-7 error of the difference quotient. So the two unclipped elements are checked by
        // differences, and the clipped one against its closed form Σ_k m_k·t̃_k / s = 2·(0.2/3) / s.
        double s = p.Sum();
        Assert.That(gradient[2], Is.EqualTo(2 * (0.2 / 3) / s).Within(1e-15));
        var tensor = new CheckedTensor("smoothed sparse p, clipped label", p, gradient);
        List<GradientMismatch> mismatches = GradientChecker.FindRelativeMismatches(
            () => loss.Forward(p, [label], Span<double>.Empty), tensor, RowStep(p), RelativeTolerance);
        Assert.That(mismatches.Where(m => m.Index != 2), Is.Empty, () => string.Join("\n", mismatches));
    }

    /// <summary>The check can fail: a gradient that ignores the division by the row sum, or is off by one part in a
    /// million, is caught.</summary>
    [Test]
    public void Checker_RejectsAGradientWithoutTheRowSumTerm_OrOffByOnePartInAMillion()
    {
        double[] p = [0.2, 0.3, 0.5, 0.7, 1.9, 0.4];
        int[] labels = [2, 1];
        var loss = new SoftmaxCrossEntropy<double>(fromLogits: false);
        Func<double> value = () => loss.Forward(p, labels, Span<double>.Empty);

        // −[j = y]/p_y / B alone: what d(−log p_y)/dp would be without Keras' normalization.
        double[] withoutRowSum = new double[p.Length];
        for (int b = 0; b < 2; b++) withoutRowSum[b * 3 + labels[b]] = -1 / p[b * 3 + labels[b]] / 2;
        Assert.That(GradientChecker.FindRelativeMismatches(value, new CheckedTensor("p", p, withoutRowSum), RowStep(p), RelativeTolerance),
            Has.Count.EqualTo(p.Length));

        double[] slightlyOff = new double[p.Length];
        loss.Forward(p, labels, slightlyOff);
        slightlyOff[4] *= 1 + 1e-6;
        Assert.That(GradientChecker.FindRelativeMismatches(value, new CheckedTensor("p", p, slightlyOff), RowStep(p), RelativeTolerance),
            Has.Count.EqualTo(1));
    }
}
