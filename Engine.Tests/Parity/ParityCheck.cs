namespace NumLstm.Tests.Parity;

/// <summary>
/// Compares NumLstm's tensors with libtorch's, normwise: relative = max_k |ours_k − ref_k| / max_k |scale_k|, the scale
/// being the reference itself (or, for optimizer trajectories, the reference's displacement θ − θ0). A non-finite value
/// that differs from the reference makes the difference infinite. Every comparison is written to the test output; the
/// worst one is kept so a test can report it, and, when asserting, each must be within <see cref="Tolerance"/>.
/// </summary>
internal sealed class ParityCheck
{
    /// <summary>
    /// 1e-12 normwise. Float64 rounds at 1.1e-16; the largest fixture computation (the seed model: two BiLSTMs over 7
    /// steps, two LayerNorms, a Linear) accumulates some hundreds of roundings of terms no larger than its outputs, and
    /// the two libraries sum in different orders (NumLstm's products at 0, 256 or 512 bits each in its own). Measured:
    /// at most 1.7e-15 for every layer, loss and model fixture and 2.5e-14 for the optimizer trajectories (relative to
    /// the displacement: the first step of RMSprop with α = 0.3, 2.2e-14 for AdamW's), on every product width and with SIMD
    /// off. 1e-12 leaves a margin of 39 over that, while an actual error in a formula (a gate, an ε, a bias term, a moment) moves results far more: a recurrent
    /// weight nudged by 1e-9, or Adam's ε moved from 1e-8 to 1e-7, is caught (tests in <see cref="TorchParityTests"/>).
    /// </summary>
    public const double Tolerance = 1e-12;

    private readonly string fixture;
    private readonly bool assert;

    public ParityCheck(string fixture, bool assert = true)
    {
        this.fixture = fixture;
        this.assert = assert;
    }

    public double Worst { get; private set; }
    public string WorstName { get; private set; } = "";
    public int Count { get; private set; }

    public static double Relative(ReadOnlySpan<double> ours, ReadOnlySpan<double> reference, ReadOnlySpan<double> scale, out double maxAbs)
    {
        if (ours.Length != reference.Length || scale.Length != reference.Length)
            throw new ArgumentException($"Compared lengths differ: ours {ours.Length}, reference {reference.Length}, scale {scale.Length}.");
        maxAbs = 0;
        double scaleMax = 0;
        for (int k = 0; k < ours.Length; k++)
        {
            double a = ours[k], b = reference[k];
            double d = a.Equals(b) ? 0 : Math.Abs(a - b);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            maxAbs = Math.Max(maxAbs, d);
            if (double.IsFinite(scale[k])) scaleMax = Math.Max(scaleMax, Math.Abs(scale[k]));
        }
        return maxAbs == 0 ? 0 : scaleMax > 0 ? maxAbs / scaleMax : double.PositiveInfinity;
    }

    /// <summary>Compares against the reference, scaled by the reference.</summary>
    public double Close(string name, ReadOnlySpan<double> ours, ReadOnlySpan<double> reference) => Close(name, ours, reference, reference);

    public double Close(string name, double ours, double reference) => Close(name, [ours], [reference]);

    public double Close(string name, ReadOnlySpan<double> ours, ReadOnlySpan<double> reference, ReadOnlySpan<double> scale)
    {
        double relative = Relative(ours, reference, scale, out double maxAbs);
        Count++;
        if (!(relative <= Worst)) { Worst = relative; WorstName = name; }
        TestContext.Out.WriteLine($"  {name,-44} n={ours.Length,-5} max|Δ|={maxAbs:E2}  relative={relative:E2}");
        if (assert)
            Assert.That(relative, Is.LessThanOrEqualTo(Tolerance),
                $"{fixture}: {name} differs from libtorch by {relative:E3} normwise (max |Δ| {maxAbs:E3}), more than {Tolerance:E0}");
        return relative;
    }

    /// <summary>Writes the worst comparison, the figure quoted in the README.</summary>
    public void Report() =>
        TestContext.Out.WriteLine($"{fixture}: {Count} comparisons, max relative difference {Worst:E2} ({WorstName})");
}
