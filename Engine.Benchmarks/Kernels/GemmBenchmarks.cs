using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using NumLstm.Kernels;

namespace NumLstm.Benchmarks.Kernels;

/// <summary>
/// SGEMM c = a·b (+ c) through <see cref="Gemm.Multiply{T}"/> (packed path where it applies) against the generic
/// row-axpy path, on a square product, a mid-size one, a single row and the LSTM step shapes (B×4H×F/H), and with b
/// packed beforehand (<see cref="Gemm.MultiplyPacked{T}"/>).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class GemmBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new StatisticColumn("GFLOP/s", "2·m·n·k / mean time, in 10^9 operations per second", (benchmark, meanNs) =>
            benchmark.Parameters["Shape"] is string shape && ParseShape(shape) is var (m, n, k) ? StatisticColumn.Format(2.0 * m * n * k / meanNs, "F1") : null));
    }

    /// <summary>m×k×n as the issue and the libtorch peer write them (a [m, k] times b [k, n]): the square product, W1's
    /// layer-2 step (B = 64, H = 200, 4H = 800), one row (batch 1) and W4's step (B = 32, H = 512, 4H = 2048).</summary>
    [Params("1024x1024x1024", "64x200x800", "1x128x512", "32x512x2048")]
    public string Shape { get; set; } = "64x200x800";

    [Params(Transpose.No, Transpose.Yes)]
    public Transpose TransB { get; set; }

    private int m, n, k;
    private float[] a = [], b = [], c = [], packed = [];

    [GlobalSetup]
    public void Setup()
    {
        (m, n, k) = ParseShape(Shape);
        var random = new Random(1);
        a = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        b = Enumerable.Range(0, k * n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        c = new float[m * n];
        // Aligned as the engine's own packed weights are (an LSTM's packed U, a plan's packed W), so the row times what they see.
        packed = AlignedArrays.Allocate<float>(Gemm.PackedLength<float>(k, n));
        Gemm.Pack(TransB, k, n, b, TransB == Transpose.No ? n : k, packed);
    }

    /// <summary>"m×k×n" → (m, n, k).</summary>
    internal static (int M, int N, int K) ParseShape(string shape)
    {
        int[] parts = shape.Split('x').Select(int.Parse).ToArray();
        return (parts[0], parts[2], parts[1]);
    }

    [Benchmark(Baseline = true)]
    public void Generic()
        => Gemm.MultiplyAccumulateGeneric(Transpose.No, TransB, m, n, k, 1f, a, k, b, TransB == Transpose.No ? n : k, c, n);

    [Benchmark]
    public void Multiply()
        => Gemm.Multiply(Transpose.No, TransB, m, n, k, 1f, a, k, b, TransB == Transpose.No ? n : k, 1f, c, n);

    /// <summary>b packed once in setup (as an LSTM packs U once per call for all its steps); two threads for large products.</summary>
    [Benchmark]
    public void MultiplyPrepacked()
        => Gemm.MultiplyPacked(Transpose.No, m, n, k, 1f, a, k, packed, 1f, c, n, parallel: true);

    /// <summary>
    /// The same on one thread: one core's product rate, to set beside <see cref="FmaPeakBenchmarks"/>' one-core FMA loop
    /// run in the same sitting (docs/performance.md, sitting 26: the host's slow state slows this row, not that one).
    /// </summary>
    [Benchmark]
    public void MultiplyPrepackedOneThread()
        => Gemm.MultiplyPacked(Transpose.No, m, n, k, 1f, a, k, packed, 1f, c, n, parallel: false);

}
