using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using NumLstm.Kernels;

namespace NumLstm.Benchmarks.Kernels;

/// <summary>
/// The machine's float32 multiply-add peak, measured rather than inferred from a clock: twelve independent Vector256 (or
/// Vector512) FMA chains (as many accumulators as the 6 × 16 GEMM micro-kernel keeps), no loads and no stores, so only the FMA pipes
/// limit the loop. One operation runs <see cref="Iterations"/> steps of every chain on this thread alone or on both
/// cores at once (<see cref="PairedWork"/>, one hand-off per operation). "GFLOP/s" counts 2 operations per lane of
/// each FMA on all cores together: the ceiling every GFLOP/s figure in docs/performance.md is a fraction of.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class FmaPeakBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new StatisticColumn("GFLOP/s", "2 · lanes (8 or 16) · 12 chains · iterations on all cores / mean time, 10^9 per second",
            (benchmark, meanNs) => benchmark.Parameters["Cores"] is int cores && benchmark.Parameters["Bits"] is int bits
                ? StatisticColumn.Format(cores * FlopsPerCore * (bits / 256) / meanNs, "F1") : null));
    }

    /// <summary>Independent FMA chains per core: each one a Vector256 of 8 float lanes.</summary>
    public const int Chains = 12;

    /// <summary>Steps of every chain per operation (about 2 ms of FMAs on one core near 3 GHz).</summary>
    public const long Iterations = 1L << 20;

    /// <summary>Float operations one core does per operation at 256 bits: 2 per lane of every FMA (twice that at 512).</summary>
    public const double FlopsPerCore = 2.0 * 8 * Chains * Iterations;

    [Params(1, 2)]
    public int Cores { get; set; }

    /// <summary>
    /// The vector width of the chains: 256 (Vector256, what the gate kernels and a 256-bit product run) or 512
    /// (Vector512, the matrix products' width where AVX-512 runs natively; in software elsewhere, so only meaningful
    /// where <c>Vector512.IsHardwareAccelerated</c>).
    /// </summary>
    [Params(256, 512)]
    public int Bits { get; set; }

    private ChainsJob job = new(256);

    [GlobalSetup]
    public void Setup() => job = new ChainsJob(Bits);

    [Benchmark(Description = "12 FMA chains, no memory")]
    public float Fma()
    {
        if (Cores == 2) PairedWork.Run(job);
        else job.RunPart(0);
        return job.Results[0] + job.Results[1];
    }

    /// <summary>
    /// Runs the <see cref="Chains"/> chains c ← c · factor + addend (one fused multiply-add each), all starting from
    /// addend, for the given number of steps, and returns their sum, c0 + c1 + … + c11 in that order (every chain's
    /// result is used, so none can be left out).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Vector256<float> RunChains(long iterations, Vector256<float> factor, Vector256<float> addend)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(iterations);
        Vector256<float> c0 = addend, c1 = addend, c2 = addend, c3 = addend, c4 = addend, c5 = addend,
            c6 = addend, c7 = addend, c8 = addend, c9 = addend, c10 = addend, c11 = addend;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, factor, addend); c1 = Vector256.FusedMultiplyAdd(c1, factor, addend);
            c2 = Vector256.FusedMultiplyAdd(c2, factor, addend); c3 = Vector256.FusedMultiplyAdd(c3, factor, addend);
            c4 = Vector256.FusedMultiplyAdd(c4, factor, addend); c5 = Vector256.FusedMultiplyAdd(c5, factor, addend);
            c6 = Vector256.FusedMultiplyAdd(c6, factor, addend); c7 = Vector256.FusedMultiplyAdd(c7, factor, addend);
            c8 = Vector256.FusedMultiplyAdd(c8, factor, addend); c9 = Vector256.FusedMultiplyAdd(c9, factor, addend);
            c10 = Vector256.FusedMultiplyAdd(c10, factor, addend); c11 = Vector256.FusedMultiplyAdd(c11, factor, addend);
        }
        return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
    }

    /// <summary>The same twelve chains on Vector512.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Vector512<float> RunChains(long iterations, Vector512<float> factor, Vector512<float> addend)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(iterations);
        Vector512<float> c0 = addend, c1 = addend, c2 = addend, c3 = addend, c4 = addend, c5 = addend,
            c6 = addend, c7 = addend, c8 = addend, c9 = addend, c10 = addend, c11 = addend;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, factor, addend); c1 = Vector512.FusedMultiplyAdd(c1, factor, addend);
            c2 = Vector512.FusedMultiplyAdd(c2, factor, addend); c3 = Vector512.FusedMultiplyAdd(c3, factor, addend);
            c4 = Vector512.FusedMultiplyAdd(c4, factor, addend); c5 = Vector512.FusedMultiplyAdd(c5, factor, addend);
            c6 = Vector512.FusedMultiplyAdd(c6, factor, addend); c7 = Vector512.FusedMultiplyAdd(c7, factor, addend);
            c8 = Vector512.FusedMultiplyAdd(c8, factor, addend); c9 = Vector512.FusedMultiplyAdd(c9, factor, addend);
            c10 = Vector512.FusedMultiplyAdd(c10, factor, addend); c11 = Vector512.FusedMultiplyAdd(c11, factor, addend);
        }
        return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
    }

    /// <summary>Part p runs the chains once (factor 0.999, addend 0.5: they stay finite, near 500), at 256 or 512 bits.</summary>
    private sealed class ChainsJob(int bits) : IPairedJob
    {
        public readonly float[] Results = new float[2];

        public void RunPart(int part) => Results[part] = bits == 512
            ? RunChains(Iterations, Vector512.Create(0.999f), Vector512.Create(0.5f)).GetElement(0)
            : RunChains(Iterations, Vector256.Create(0.999f), Vector256.Create(0.5f)).GetElement(0);
    }
}
