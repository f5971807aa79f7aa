using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using NumLstm.Kernels;

namespace NumLstm.Benchmarks.Kernels;

/// <summary>
/// What a hand-off to the engine's second core costs: a job whose two parts each busy-wait the given time, run through
/// <see cref="PairedWork.Run"/> (part 1 on the worker) and on this thread alone. With two idle cores the paired run
/// takes one part's time plus the round trip (post, pick-up, finish, notice); the streaming step (W3) pays it once per
/// step on 2–3 µs of work per core.
/// </summary>
[MemoryDiagnoser]
public class PairedWorkBenchmarks
{
    /// <summary>The work in each part, in microseconds.</summary>
    [Params(0.0, 1.0, 2.5)]
    public double PartMicroseconds { get; set; }

    private readonly SpinJob job = new();

    [GlobalSetup]
    public void Setup() => job.Ticks = (long)(PartMicroseconds * Stopwatch.Frequency / 1e6);

    [Benchmark(Description = "both parts, second core")]
    public void Paired() => PairedWork.Run(job);

    [Benchmark(Baseline = true, Description = "both parts, this thread")]
    public void Inline()
    {
        job.RunPart(0);
        job.RunPart(1);
    }

    private sealed class SpinJob : IPairedJob
    {
        public long Ticks;

        public void RunPart(int part)
        {
            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetTimestamp() - start < Ticks) { }
        }
    }
}
