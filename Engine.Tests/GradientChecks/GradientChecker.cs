namespace NumLstm.Tests.GradientChecks;

/// <summary>One tensor whose gradient is checked: its values (perturbed in place) and the analytic gradient.</summary>
public sealed record CheckedTensor(string Name, double[] Values, double[] Analytic);

/// <summary>One element where the analytic and the central-difference gradients disagree.</summary>
public sealed record GradientMismatch(string Name, int Index, double Analytic, double Numeric)
{
    public override string ToString() => $"{Name}[{Index}]: analytic {Analytic:R}, numeric {Numeric:R}, diff {Math.Abs(Analytic - Numeric):E2}";
}

/// <summary>
/// Float64 central differences: numeric = (L(θ+ε) − L(θ−ε)) / 2ε for every element of every tensor, compared with the
/// analytic gradient. Passes only if |analytic − numeric| ≤ 1e-7 + 1e-5·|numeric| everywhere (100× stricter than
/// torch.autograd.gradcheck's defaults). Elements where the loss is a step function (a Masking layer's masked inputs)
/// can be named instead: no difference for them, an exactly-zero analytic gradient asserted.
/// </summary>
public static class GradientChecker
{
    public const double AbsoluteTolerance = 1e-7;
    public const double RelativeTolerance = 1e-5;
    public const double Step = 1e-5;

    /// <param name="exactlyZero">Elements (tensor name, index) where the loss is a step function of the element (a
    /// Masking layer's masked input values: moving one of them off the mask value unmasks its step, so a central
    /// difference measures a jump): no difference is taken there; the analytic gradient must be exactly 0 (±0) instead,
    /// and an element where it is not is reported with <see cref="GradientMismatch.Numeric"/> 0.</param>
    public static List<GradientMismatch> FindMismatches(Func<double> loss, IEnumerable<CheckedTensor> tensors, Func<string, int, bool>? exactlyZero = null)
    {
        var mismatches = new List<GradientMismatch>();
        int checkedCount = 0;
        foreach (CheckedTensor tensor in tensors)
        {
            Assert.That(tensor.Analytic, Has.Length.EqualTo(tensor.Values.Length), $"{tensor.Name}: gradient and values differ in length");
            for (int k = 0; k < tensor.Values.Length; k++)
            {
                if (exactlyZero is not null && exactlyZero(tensor.Name, k))
                {
                    if (tensor.Analytic[k] != 0) mismatches.Add(new GradientMismatch(tensor.Name, k, tensor.Analytic[k], 0));
                    checkedCount++;
                    continue;
                }
                double saved = tensor.Values[k];
                tensor.Values[k] = saved + Step;
                double plus = loss();
                tensor.Values[k] = saved - Step;
                double minus = loss();
                tensor.Values[k] = saved;
                double numeric = (plus - minus) / (2 * Step);
                double analytic = tensor.Analytic[k];
                if (!(Math.Abs(analytic - numeric) <= AbsoluteTolerance + RelativeTolerance * Math.Abs(numeric)))
                    mismatches.Add(new GradientMismatch(tensor.Name, k, analytic, numeric));
                checkedCount++;
            }
        }
        Assert.That(checkedCount, Is.GreaterThan(0), "the gradient check had nothing to check");
        return mismatches;
    }

    public static void AssertGradientsMatch(Func<double> loss, IEnumerable<CheckedTensor> tensors, Func<string, int, bool>? exactlyZero = null)
    {
        List<GradientMismatch> mismatches = FindMismatches(loss, tensors, exactlyZero);
        Assert.That(mismatches, Is.Empty, () => $"{mismatches.Count} gradient elements disagree:\n" + string.Join("\n", mismatches.Take(20)));
    }

    /// <summary>
    /// A stricter check for small closed-form losses: fourth-order central differences with a step per element,
    /// numeric = (8·(L(θ+h) − L(θ−h)) − (L(θ+2h) − L(θ−2h))) / 12h, and the relative error
    /// |analytic − numeric| / max(|analytic|, |numeric|) (0 when both are 0) at most <paramref name="relativeTolerance"/>.
    /// The per-element step lets an element near a kink (a clipped probability) stay on its side of it.
    /// </summary>
    public static List<GradientMismatch> FindRelativeMismatches(Func<double> loss, CheckedTensor tensor, Func<int, double> step, double relativeTolerance)
    {
        Assert.That(tensor.Analytic, Has.Length.EqualTo(tensor.Values.Length), $"{tensor.Name}: gradient and values differ in length");
        Assert.That(tensor.Values, Is.Not.Empty, "the gradient check had nothing to check");
        var mismatches = new List<GradientMismatch>();
        for (int k = 0; k < tensor.Values.Length; k++)
        {
            double saved = tensor.Values[k], h = step(k);
            double At(double value) { tensor.Values[k] = value; double result = loss(); tensor.Values[k] = saved; return result; }
            // Differences first, so a loss that does not change in this element gives exactly 0.
            double numeric = (8 * (At(saved + h) - At(saved - h)) - (At(saved + 2 * h) - At(saved - 2 * h))) / (12 * h);
            double analytic = tensor.Analytic[k];
            double scale = Math.Max(Math.Abs(analytic), Math.Abs(numeric));
            double relative = scale == 0 ? 0 : Math.Abs(analytic - numeric) / scale;
            if (!(relative <= relativeTolerance))
                mismatches.Add(new GradientMismatch(tensor.Name, k, analytic, numeric));
        }
        return mismatches;
    }

    /// <summary>Fixed pseudo-random weights for the probe loss L = Σ output ⊙ weights.</summary>
    public static double[] ProbeWeights(int length, int seed)
    {
        var random = new Random(seed);
        var weights = new double[length];
        for (int k = 0; k < length; k++) weights[k] = random.NextDouble() * 2 - 1;
        return weights;
    }

    public static double[] RandomValues(int length, int seed, double scale = 1)
    {
        var random = new Random(seed);
        var values = new double[length];
        for (int k = 0; k < length; k++) values[k] = (random.NextDouble() * 2 - 1) * scale;
        return values;
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int k = 0; k < a.Length; k++) sum += a[k] * b[k];
        return sum;
    }
}
