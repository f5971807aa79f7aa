using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using NumLstm.Kernels;

namespace NumLstm.Benchmarks.Kernels;

/// <summary>
/// How fast a core can stream floats it already holds in a cache: the floor under every batch-1 step, which reads each
/// weight once per step and does one multiply-add with it. One operation reads a buffer of <see cref="Kilobytes"/>
/// <see cref="Passes"/> times over (a sum into eight vector accumulators, so neither the adds nor the loop limit it), on
/// this thread alone or on both cores at once, each core its own buffer (<see cref="PairedWork"/>; the hand-off is one
/// per operation, under 2 % of it). The sizes: 160 KB is LSTM(100)'s U (W2's layer 1) and half of W3's weights, 320 KB
/// half of LSTM(200)'s U, 640 KB all of it (W2's layer 2, more than a core's 512 KB L2), 4 MB is well inside the 32 MB
/// L3 and past L2. Beside the plain read, the batch-1 product that reads the same bytes: h [1, k] times a packed b [k, n]
/// (<see cref="Gemm.MultiplyPacked{T}"/>, one core each), k×n = 100×400, 200×400, 200×800 and 512×2048 (W4's U), with b
/// packed as the micro-kernel reads it and in the batch-1 layout a one-sequence plan keeps (one stream; sitting 29).
/// Every buffer is 64-byte aligned, as the engine's long-lived packed weights are (plain arrays read 20–40 % slower
/// here). "GB/s"
/// counts the bytes of the buffer, or of b (k·n floats), read on all cores together.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class MemoryBandwidthBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new StatisticColumn("GB/s", "bytes read on all cores / mean time, 10^9 per second", (benchmark, meanNs) =>
            benchmark.Parameters["Kilobytes"] is int kilobytes && benchmark.Parameters["Cores"] is int cores
                ? StatisticColumn.Format(cores * BytesPerPass(benchmark.Descriptor.WorkloadMethod.Name, kilobytes) * Passes / meanNs, "F1") : null));
    }

    /// <summary>The product's k × n for a buffer size: LSTM(100)'s U, half and all of LSTM(200)'s, W4's U.</summary>
    public static (int K, int N) ProductShape(int kilobytes)
        => kilobytes switch { 160 => (100, 400), 320 => (200, 400), 640 => (200, 800), _ => (512, 2048) };

    /// <summary>
    /// Bytes one core reads per pass: the buffer (kilobytes · 1024), or the product's b (k · n floats, which for the
    /// first three sizes is 2.3 % less than the buffer).
    /// </summary>
    public static double BytesPerPass(string method, int kilobytes)
    {
        if (method != nameof(Product) && method != nameof(ProductSingleRowLayout)) return kilobytes * 1024.0;
        (int k, int n) = ProductShape(kilobytes);
        return (double)k * n * sizeof(float);
    }

    /// <summary>Reads of the whole buffer per operation.</summary>
    public const int Passes = 16;

    [Params(160, 320, 640, 4096)]
    public int Kilobytes { get; set; }

    [Params(1, 2)]
    public int Cores { get; set; }

    private readonly ReadJob job = new();
    private readonly ProductJob productJob = new(), singleRowJob = new();

    [GlobalSetup]
    public void Setup()
    {
        int floats = Kilobytes * 1024 / sizeof(float);
        for (int part = 0; part < 2; part++)
        {
            job.Buffers[part] = AlignedArrays.Allocate<float>(floats);   // as the engine's packed weights (64-byte aligned)
            for (int i = 0; i < floats; i++) job.Buffers[part][i] = (i % 7) * 0.25f;
        }
        (productJob.K, productJob.N) = ProductShape(Kilobytes);
        (singleRowJob.K, singleRowJob.N) = (productJob.K, productJob.N);
        singleRowJob.SingleRowLayout = GemmPacked.HasSingleRowLayout<float>();
        var random = new Random(1);
        float[] b = Enumerable.Range(0, productJob.K * productJob.N).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        for (int part = 0; part < 2; part++)
        {
            productJob.Rows[part] = Enumerable.Range(0, productJob.K).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            productJob.Products[part] = new float[productJob.N];
            productJob.Packed[part] = AlignedArrays.Allocate<float>(Gemm.PackedLength<float>(productJob.K, productJob.N));
            Gemm.Pack(Transpose.No, productJob.K, productJob.N, b, productJob.N, productJob.Packed[part]);
            singleRowJob.Rows[part] = productJob.Rows[part];
            singleRowJob.Products[part] = new float[productJob.N];
            singleRowJob.Packed[part] = AlignedArrays.Allocate<float>(productJob.Packed[part].Length);
            productJob.Packed[part].CopyTo(singleRowJob.Packed[part], 0);
            if (GemmPacked.HasSingleRowLayout<float>())
                GemmPacked.InterleaveForSingleRow<float>(productJob.K, productJob.N, singleRowJob.Packed[part], new float[GemmPacked.SingleRowScratchLength<float>(productJob.K)]);
        }
    }

    [Benchmark(Description = "stream the buffer")]
    public float Stream()
    {
        if (Cores == 2) PairedWork.Run(job);
        else job.RunPart(0);
        return job.Sums[0] + job.Sums[1];
    }

    [Benchmark(Description = "batch-1 product over the same bytes")]
    public float Product()
    {
        if (Cores == 2) PairedWork.Run(productJob);
        else productJob.RunPart(0);
        return productJob.Products[0][0] + productJob.Products[1][0];
    }

    [Benchmark(Description = "batch-1 product, b in the batch-1 layout")]
    public float ProductSingleRowLayout()
    {
        if (Cores == 2) PairedWork.Run(singleRowJob);
        else singleRowJob.RunPart(0);
        return singleRowJob.Products[0][0] + singleRowJob.Products[1][0];
    }

    /// <summary>
    /// Σ of a span, eight accumulators of eight floats: every element read once. The length a multiple of 64. Not
    /// TensorPrimitives.Sum, whose shorter chain of adds is bound by their latency here (about 34 GB/s on 160 KB, against
    /// 90 GB/s for this loop, console, 2026-11-26), so it would measure the adds, not the reads.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static float Sum(ReadOnlySpan<float> values)
    {
        if (values.Length % 64 != 0)
            throw new ArgumentException($"MemoryBandwidthBenchmarks.Sum: expected a length that is a multiple of 64, got {values.Length}.", nameof(values));
        ref float start = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(values);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (nuint i = 0; i < (nuint)values.Length; i += 64)
        {
            a0 += Vector256.LoadUnsafe(ref start, i);
            a1 += Vector256.LoadUnsafe(ref start, i + 8);
            a2 += Vector256.LoadUnsafe(ref start, i + 16);
            a3 += Vector256.LoadUnsafe(ref start, i + 24);
            a4 += Vector256.LoadUnsafe(ref start, i + 32);
            a5 += Vector256.LoadUnsafe(ref start, i + 40);
            a6 += Vector256.LoadUnsafe(ref start, i + 48);
            a7 += Vector256.LoadUnsafe(ref start, i + 56);
        }
        return Vector256.Sum((a0 + a1) + (a2 + a3) + ((a4 + a5) + (a6 + a7)));
    }

    /// <summary>Part p streams buffer p <see cref="Passes"/> times.</summary>
    private sealed class ReadJob : IPairedJob
    {
        public readonly float[][] Buffers = new float[2][];
        public readonly float[] Sums = new float[2];

        public void RunPart(int part)
        {
            float sum = 0;
            for (int pass = 0; pass < Passes; pass++) sum += Sum(Buffers[part]);
            Sums[part] = sum;
        }
    }

    /// <summary>Part p multiplies its row by its packed b <see cref="Passes"/> times.</summary>
    private sealed class ProductJob : IPairedJob
    {
        public int K, N;
        public bool SingleRowLayout;   // Packed is in the batch-1 layout (GemmPacked.InterleaveForSingleRow)
        public readonly float[][] Rows = new float[2][], Products = new float[2][], Packed = new float[2][];

        public void RunPart(int part)
        {
            for (int pass = 0; pass < Passes; pass++)
                Gemm.MultiplyPackedInLayout(Transpose.No, 1, N, K, 1f, Rows[part], K, Packed[part], 0f, Products[part], N, parallel: false, SingleRowLayout);
        }
    }
}
