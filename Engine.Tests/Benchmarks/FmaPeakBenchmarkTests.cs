using System.Runtime.Intrinsics;
using NumLstm.Benchmarks.Kernels;

namespace NumLstm.Tests.Benchmarks;

/// <summary>The peak benchmark's loop does the FMAs its GFLOP/s column counts: every chain, every step, fused.</summary>
public class FmaPeakBenchmarkTests
{
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(7)]
    [TestCase(1000)]
    public void RunChains_EqualsTwelveScalarChains(long iterations)
    {
        float factor = 0.999f, addend = 0.5f;
        float chain = addend;
        for (long i = 0; i < iterations; i++) chain = MathF.FusedMultiplyAdd(chain, factor, addend);
        float expected = chain;
        for (int k = 1; k < FmaPeakBenchmarks.Chains; k++) expected += chain;

        Vector256<float> result = FmaPeakBenchmarks.RunChains(iterations, Vector256.Create(factor), Vector256.Create(addend));

        for (int lane = 0; lane < Vector256<float>.Count; lane++)
            Assert.That(result.GetElement(lane), Is.EqualTo(expected), $"lane {lane}");
    }

    [Test]
    public void RunChains_StepsAreFused()
    {
        // a = 1 + 2^-12, f = −a: a·f = −(1 + 2^-11 + 2^-24), whose last term a float product drops (a tie, to even), so
        // a multiply then an add gives a·f + a = −2^-12, while one fused multiply-add keeps it: −(2^-12 + 2^-24).
        float a = 1f + MathF.Pow(2, -12), f = -a;
        float product = a * f;
        float unfused = product + a, fused = MathF.FusedMultiplyAdd(a, f, a);
        Assert.That((unfused, fused), Is.EqualTo((-MathF.Pow(2, -12), -(MathF.Pow(2, -12) + MathF.Pow(2, -24)))), "the premise");

        // every chain starts from the addend a, so after one step each holds a·f + a
        Vector256<float> result = FmaPeakBenchmarks.RunChains(1, Vector256.Create(f), Vector256.Create(a));

        Assert.That(result.GetElement(0), Is.EqualTo(FmaPeakBenchmarks.Chains * fused));
        Assert.That(result.GetElement(0), Is.Not.EqualTo(FmaPeakBenchmarks.Chains * unfused));
    }

    [Test]
    public void RunChains_RejectsANegativeCount()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => FmaPeakBenchmarks.RunChains(-1, Vector256<float>.One, Vector256<float>.One));
        Assert.That(error!.Message, Does.Contain("-1"));
    }

    [Test]
    public void GFlopsColumn_CountsTwoOperationsPerLanePerFma()
        => Assert.That(FmaPeakBenchmarks.FlopsPerCore, Is.EqualTo(2.0 * 8 * 12 * (1 << 20)));

    [TestCase(0)]
    [TestCase(7)]
    [TestCase(1000)]
    public void RunChains512_EqualsTwelveScalarChains(long iterations)
    {
        float factor = 0.999f, addend = 0.5f;
        float chain = addend;
        for (long i = 0; i < iterations; i++) chain = MathF.FusedMultiplyAdd(chain, factor, addend);
        float expected = chain;
        for (int k = 1; k < FmaPeakBenchmarks.Chains; k++) expected += chain;

        Vector512<float> result = FmaPeakBenchmarks.RunChains(iterations, Vector512.Create(factor), Vector512.Create(addend));

        for (int lane = 0; lane < Vector512<float>.Count; lane++)
            Assert.That(result.GetElement(lane), Is.EqualTo(expected), $"lane {lane}");
    }
}
