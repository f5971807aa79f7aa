using NumLstm.Losses;
using NumLstm.Tests.GradientChecks;

namespace NumLstm.Tests.Losses;

/// <summary>
/// Float64 gradients of Huber, LogCosh, MeanSquaredLogarithmicError and MeanAbsolutePercentageError against
/// fourth-order central differences (relative error below 1e-7) at many random points away from their kinks; the kink
/// conventions (TensorFlow's: d|x|/dx = 0 at 0, maximum(p, ε) passing the gradient to p where p ≥ ε) asserted exactly;
/// and the check shown to fail on a gradient with a flipped sign, a wrong scale or a missing factor.
/// </summary>
public class RegressionLossGradientTests
{
    private const double RelativeTolerance = 1e-7;
    private const double MaxStep = 1e-4;

    public delegate double LossForward(double[] predictions, Span<double> gradient);

    /// <summary>A random point: predictions and targets [B = 4, K = 6], with each prediction's distance to its kink.</summary>
    private sealed record Point(double[] Predictions, double[] Targets, double[] KinkDistance);

    private static IEnumerable<int> Seeds => Enumerable.Range(1, 12);

    // Each point keeps every gradient element away from 0 (|e| ≥ 0.05 and the like), so that the differences' rounding
    // (about 1e-12 here) stays far below 1e-7 of the element.

    // e = p − y uniform in ±3, at least 0.01 from ±δ (where the second derivative jumps).
    private static Point HuberPoint(int seed, double delta)
    {
        var random = new Random(seed);
        int n = 24;
        double[] y = new double[n], p = new double[n], distance = new double[n];
        for (int k = 0; k < n; k++)
        {
            double e;
            do e = (random.NextDouble() * 2 - 1) * 3; while (Math.Abs(Math.Abs(e) - delta) < 0.01 || Math.Abs(e) < 0.05);
            y[k] = random.NextDouble() * 4 - 2;
            p[k] = y[k] + e;
            distance[k] = Math.Abs(Math.Abs(e) - delta);
        }
        return new Point(p, y, distance);
    }

    // x = p − y uniform in ±6 (|x| ≥ 0.05), plus a few large errors (no kink anywhere).
    private static Point LogCoshPoint(int seed)
    {
        var random = new Random(seed);
        int n = 24;
        double[] y = new double[n], p = new double[n];
        for (int k = 0; k < n; k++)
        {
            y[k] = random.NextDouble() * 4 - 2;
            double x;
            do x = k % 8 == 7 ? 40 * (random.NextDouble() - 0.5) : (random.NextDouble() * 2 - 1) * 6; while (Math.Abs(x) < 0.05);
            p[k] = y[k] + x;
        }
        return new Point(p, y, Enumerable.Repeat(double.PositiveInfinity, n).ToArray());
    }

    // p in [0.01, 10] (above ε, the clamp's kink); targets in [−1, 10], the negative ones clamped to ε; the logs at
    // least 0.05 apart.
    private static Point MsleePoint(int seed)
    {
        var random = new Random(seed);
        int n = 24;
        double[] y = new double[n], p = new double[n], distance = new double[n];
        for (int k = 0; k < n; k++)
        {
            do
            {
                p[k] = 0.01 + random.NextDouble() * 10;
                y[k] = random.NextDouble() * 11 - 1;
            } while (Math.Abs(Math.Log(1 + p[k]) - Math.Log(1 + Math.Max(y[k], 0))) < 0.05);
            distance[k] = p[k] - RegressionTerms.Epsilon;
        }
        return new Point(p, y, distance);
    }

    // |p − y| ≥ 0.01 (the kink of |·| at p = y); targets of both signs with |y| ≥ 0.1, or (zeroTargets) all 0, where
    // the divisor is ε: those terms are 1e9·|p|, so they get a point of their own, lest their size swamp the others'
    // differences.
    private static Point MapePoint(int seed, bool zeroTargets = false)
    {
        var random = new Random(seed);
        int n = 24;
        double[] y = new double[n], p = new double[n], distance = new double[n];
        for (int k = 0; k < n; k++)
        {
            y[k] = zeroTargets ? 0 : (0.1 + random.NextDouble() * 5) * (random.Next(2) == 0 ? -1 : 1);
            double e;
            do e = (random.NextDouble() * 2 - 1) * 3; while (Math.Abs(e) < 0.01);
            p[k] = y[k] + e;
            distance[k] = Math.Abs(e);
        }
        return new Point(p, y, distance);
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (int seed in Seeds)
        {
            foreach (double delta in new[] { 1.0, 0.4, 2.5 })
            {
                Point h = HuberPoint(seed, delta);
                yield return Case($"huber δ {delta}, seed {seed}", h, (x, g) => new Huber<double>(delta).Forward(x, h.Targets, g));
            }
            Point c = LogCoshPoint(seed);
            yield return Case($"log_cosh, seed {seed}", c, (x, g) => new LogCosh<double>().Forward(x, c.Targets, g));
            Point s = MsleePoint(seed);
            yield return Case($"msle, seed {seed}", s, (x, g) => new MeanSquaredLogarithmicError<double>().Forward(x, s.Targets, g));
            Point a = MapePoint(seed);
            yield return Case($"mape, seed {seed}", a, (x, g) => new MeanAbsolutePercentageError<double>().Forward(x, a.Targets, g));
            Point z = MapePoint(seed, zeroTargets: true);
            yield return Case($"mape, zero targets, seed {seed}", z, (x, g) => new MeanAbsolutePercentageError<double>().Forward(x, z.Targets, g));
        }
    }

    private static TestCaseData Case(string label, Point point, LossForward forward)
        => new TestCaseData(point.Predictions, point.KinkDistance, forward).SetArgDisplayNames(label);

    /// <summary>The analytic gradient at the point, and the mismatches the checker finds for it (after the optional break).</summary>
    private static List<GradientMismatch> Check(double[] point, double[] kinkDistance, LossForward forward, Action<double[]>? breakGradient = null)
    {
        double[] predictions = (double[])point.Clone();
        double[] analytic = new double[predictions.Length];
        forward(predictions, analytic);
        breakGradient?.Invoke(analytic);
        // p ± 2h stays on its side of the kink.
        Func<int, double> step = k => Math.Min(MaxStep, kinkDistance[k] / 3);
        return GradientChecker.FindRelativeMismatches(() => forward(predictions, Span<double>.Empty),
            new CheckedTensor("predictions", predictions, analytic), step, RelativeTolerance);
    }

    [TestCaseSource(nameof(Cases))]
    public void Gradient_MatchesCentralDifferences_AwayFromKinks(double[] point, double[] kinkDistance, LossForward forward)
    {
        List<GradientMismatch> mismatches = Check(point, kinkDistance, forward);
        Assert.That(mismatches, Is.Empty, () => string.Join("\n", mismatches));
    }

    // The same check catches a gradient with one element's sign flipped (only that element), or every element scaled by
    // 1 + 1e-6 (every element: the tolerance is 1e-7).
    [TestCaseSource(nameof(Cases))]
    public void Check_Fails_OnAFlippedSign_OrAWrongScale(double[] point, double[] kinkDistance, LossForward forward)
    {
        List<GradientMismatch> flipped = Check(point, kinkDistance, forward, g => g[7] = -g[7]);
        Assert.That(flipped.Select(m => m.Index), Is.EqualTo(new[] { 7 }), () => string.Join("\n", flipped));
        List<GradientMismatch> scaled = Check(point, kinkDistance, forward, g => { for (int k = 0; k < g.Length; k++) g[k] *= 1 + 1e-6; });
        Assert.That(scaled.Select(m => m.Index), Is.EqualTo(Enumerable.Range(0, point.Length)), () => string.Join("\n", scaled));
    }

    // Plausible bugs, each written as a wrong gradient of the true loss: the checker reports every element it changes.
    [Test]
    public void Check_Fails_OnPlausibleWrongGradients()
    {
        int seed = 3;
        Point h = HuberPoint(seed, 1.0);
        LossForward huber = (x, g) => new Huber<double>().Forward(x, h.Targets, g);
        // δ·sign(e) on the quadratic branch too (the linear branch's derivative everywhere).
        var quadratic = Enumerable.Range(0, 24).Where(k => Math.Abs(h.Predictions[k] - h.Targets[k]) < 1).ToArray();
        Assert.That(quadratic, Is.Not.Empty);
        List<GradientMismatch> found = Check(h.Predictions, h.KinkDistance, huber,
            g => { foreach (int k in quadratic) g[k] = Math.Sign(h.Predictions[k] - h.Targets[k]) / 24.0; });
        Assert.That(found.Select(m => m.Index), Is.EqualTo(quadratic), "huber: the linear branch's slope on the quadratic branch");

        // LogCosh: 1 − σ(−2x) for 1 − 2σ(−2x) (half the softplus term's derivative).
        Point c = LogCoshPoint(seed);
        LossForward logCosh = (x, g) => new LogCosh<double>().Forward(x, c.Targets, g);
        found = Check(c.Predictions, c.KinkDistance, logCosh,
            g => { for (int k = 0; k < 24; k++) g[k] = (1 - 1 / (1 + Math.Exp(2 * (c.Predictions[k] - c.Targets[k])))) / 24; });
        // Every element with |x| ≤ 6 (σ(−2|x|) ≥ 6e-6 tells the two apart); the large errors may hide it (both → ±1).
        Assert.That(found.Select(m => m.Index), Is.SupersetOf(Enumerable.Range(0, 24).Where(k => k % 8 != 7)), "log_cosh: a factor 2 lost");

        // MSLE without the chain rule's 1/(1 + p).
        Point s = MsleePoint(seed);
        LossForward msle = (x, g) => new MeanSquaredLogarithmicError<double>().Forward(x, s.Targets, g);
        found = Check(s.Predictions, s.KinkDistance, msle, g => { for (int k = 0; k < 24; k++) g[k] *= 1 + s.Predictions[k]; });
        Assert.That(found.Select(m => m.Index), Is.EqualTo(Enumerable.Range(0, 24)), "msle: 1/(1 + p) left out");

        // MAPE dividing by |y| where Keras divides by max(|y|, ε): only the zero targets differ (∞ there).
        Point a = MapePoint(seed, zeroTargets: true);
        LossForward mape = (x, g) => new MeanAbsolutePercentageError<double>().Forward(x, a.Targets, g);
        found = Check(a.Predictions, a.KinkDistance, mape,
            g => { for (int k = 0; k < 24; k += 5) g[k] = 100 * Math.Sign(a.Predictions[k] - a.Targets[k]) / Math.Abs(a.Targets[k]) / 24; });
        Assert.That(found.Select(m => m.Index), Is.EqualTo(new[] { 0, 5, 10, 15, 20 }), "mape: the ε guard left out of the gradient");
        // ... and 100 left out (a fraction, not a percentage).
        Point b = MapePoint(seed);
        LossForward mapeNonZero = (x, g) => new MeanAbsolutePercentageError<double>().Forward(x, b.Targets, g);
        found = Check(b.Predictions, b.KinkDistance, mapeNonZero, g => { for (int k = 0; k < 24; k++) g[k] /= 100; });
        Assert.That(found.Select(m => m.Index), Is.EqualTo(Enumerable.Range(0, 24)), "mape: the factor 100 left out");
    }

    // ---- The kinks, asserted exactly (N = 4, so 1/N is exact) ----

    [Test]
    public void Mape_AtPEqualsY_HasGradientZero_AsTensorFlowsAbs()
    {
        double[] y = [2, -3, 0, 0.5];
        double[] p = [2, -3, 0, 0.5];
        double[] gradient = Poisoned(4);
        Assert.That(new MeanAbsolutePercentageError<double>().Forward(p, y, gradient), Is.EqualTo(0.0));
        Assert.That(gradient, Is.All.EqualTo(0.0));
        float[] gradientF = [float.NaN, float.NaN, float.NaN, float.NaN];
        new MeanAbsolutePercentageError<float>().Forward([2f, -3f, 0f, 0.5f], [2f, -3f, 0f, 0.5f], gradientF);
        Assert.That(gradientF, Is.All.EqualTo(0f));
        // Either side of the kink: ±100/(|y|·N); a target 0 divides by ε (float: ε rounded to float, as Keras).
        new MeanAbsolutePercentageError<double>().Forward([2.5, -4, 1e-3, 0.25], y, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 100.0 / 2 / 4, -100.0 / 3 / 4, 100 / 1e-7 / 4, -100.0 / 0.5 / 4 }).Within(1e-15).Percent);
    }

    [Test]
    public void Msle_BelowEpsilon_HasGradientZero_AtEpsilon_PassesIt_AsTensorFlowsMaximum()
    {
        double epsilon = RegressionTerms.Epsilon;
        double[] y = [1, 1, 1, 1];
        double[] gradient = Poisoned(4);
        // p < ε: maximum(p, ε) = ε, a constant: the gradient is exactly 0 (and p = ε's predecessor too).
        new MeanSquaredLogarithmicError<double>().Forward([-3, 0, 5e-8, Math.BitDecrement(epsilon)], y, gradient);
        Assert.That(gradient, Is.All.EqualTo(0.0));
        // p = ε exactly: TensorFlow's maximum gives the tie to p (greater_equal): 2(log(1 + ε) − log 2)/((1 + ε)·N).
        new MeanSquaredLogarithmicError<double>().Forward([epsilon, epsilon, 1, 3], [1, 0, 1, 1], gradient);
        double atEpsilon = 2 * (Math.Log(1 + epsilon) - Math.Log(2)) / (1 + epsilon) / 4;
        Assert.That(gradient[0], Is.EqualTo(atEpsilon).Within(1e-12).Percent);
        Assert.That(gradient[1], Is.EqualTo(0.0), "p = y = ε after the clamp: a − b = 0");
        Assert.That(gradient[2], Is.EqualTo(0.0), "p = y");
        Assert.That(gradient[3], Is.EqualTo(2 * (Math.Log(4) - Math.Log(2)) / 4 / 4).Within(1e-13).Percent);
        // float: ε rounded to float (1.00000001e-7) is the kink.
        float epsilonF = 1e-7f;
        float[] gradientF = new float[2];
        new MeanSquaredLogarithmicError<float>().Forward([float.BitDecrement(epsilonF), epsilonF], [1f, 1f], gradientF);
        Assert.That(gradientF[0], Is.EqualTo(0f));
        Assert.That(gradientF[1], Is.LessThan(0f).And.EqualTo((float)(2 * (Math.Log(1 + (double)epsilonF) - Math.Log(2)) / (1 + (double)epsilonF) / 2)).Within(1e-5).Percent);
    }

    [Test]
    public void Huber_AtZero_IsZero_AtTheKink_BothBranchesGiveDelta()
    {
        double[] gradient = Poisoned(4);
        // e = 0, +δ, −δ, 2δ with δ = 1 (every e exact): ½e² = 0.5 at |e| = δ from both branches, δ|e| − ½δ² = 1.5 at 2δ.
        double loss = new Huber<double>().Forward([3, 1.5, -0.5, 2], [3, 0.5, 0.5, 0], gradient);
        Assert.That(loss, Is.EqualTo((0 + 0.5 + 0.5 + 1.5) / 4));
        Assert.That(gradient, Is.EqualTo(new[] { 0, 0.25, -0.25, 0.25 }));
        float[] gradientF = new float[4];
        float lossF = new Huber<float>(0.5).Forward([3f, 1f, 0f, 2f], [3f, 0.5f, 0.5f, 0f], gradientF);
        Assert.That(lossF, Is.EqualTo((0 + 0.125f + 0.125f + (1f - 0.125f)) / 4));
        Assert.That(gradientF, Is.EqualTo(new[] { 0f, 0.125f, -0.125f, 0.125f }));
    }

    [Test]
    public void LogCosh_AtZero_IsZero_AndItsGradientIsTanh()
    {
        double[] gradient = Poisoned(4);
        double loss = new LogCosh<double>().Forward([0, 1, -2, 0.5], [0, 0, 0, 0], gradient);
        Assert.That(gradient[0], Is.EqualTo(0.0));
        Assert.That(gradient, Is.EqualTo(new[] { 0, Math.Tanh(1) / 4, Math.Tanh(-2) / 4, Math.Tanh(0.5) / 4 }).Within(1e-14).Percent);
        Assert.That(loss, Is.EqualTo((Math.Log(Math.Cosh(1)) + Math.Log(Math.Cosh(2)) + Math.Log(Math.Cosh(0.5))) / 4).Within(1e-13).Percent);
    }

    // ---- Numerics ----

    [Test]
    public void LogCosh_InFloat_NoOverflowAtHundred_AndAccurateNearZero()
    {
        // |x| = 100: cosh overflows float (e^100 > 3.4e38), the softplus form does not: 100 − log 2, gradient ±1.
        float[] gradient = new float[2];
        float loss = new LogCosh<float>().Forward([100f, -100f], [0f, 0f], gradient);
        Assert.That(loss, Is.EqualTo(100 - Math.Log(2)).Within(1e-5).Percent);
        Assert.That(gradient, Is.EqualTo(new[] { 0.5f, -0.5f }));
        // x = 1e-3 and 1e-5: log cosh x ≈ x²/2 (5e-7, 5e-11), to float's precision; x + softplus(−2x) − log 2 written as
        // Keras writes it loses these to cancellation.
        foreach (float x in new[] { 1e-3f, 1e-5f, -3e-4f })
        {
            double x2 = (double)x * x;
            double exact = x2 / 2 - x2 * x2 / 12 + x2 * x2 * x2 / 45;   // the series of log cosh, exact to 1e-18 here
            Assert.That(new LogCosh<float>().Forward([x], [0f], Span<float>.Empty), Is.EqualTo(exact).Within(1e-5).Percent, $"x = {x}");
        }
        Assert.That(new LogCosh<double>().Forward([1e-9, 700, -710], [0, 0, 0], Span<double>.Empty),
            Is.EqualTo((0.5e-18 + 700 - Math.Log(2) + 710 - Math.Log(2)) / 3).Within(1e-14).Percent);
    }

    [Test]
    public void Msle_SmallValues_UseAnAccurateLog1p()
    {
        // p = 1e-6, y = 3e-6 (float): (log1p(p) − log1p(y))² ≈ 4e-12; log(1 + p) with 1 + p rounded to float first
        // (Keras' log(max(p, ε) + 1) in float32) would be 3–5% off in each log, 15% in the square.
        float p = 1e-6f, y = 3e-6f;
        double expected = Math.Pow(Math.Log(1 + (double)p) - Math.Log(1 + (double)y), 2);   // double's 1 + p is exact enough here
        Assert.That(new MeanSquaredLogarithmicError<float>().Forward([p], [y], Span<float>.Empty), Is.EqualTo(expected).Within(1e-4).Percent);
    }

    private static double[] Poisoned(int length) => Enumerable.Repeat(double.NaN, length).ToArray();
}
