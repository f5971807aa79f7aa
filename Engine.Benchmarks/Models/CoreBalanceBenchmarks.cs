using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Models;

/// <summary>
/// How fast each of the machine's two CPUs runs one direction of W2's second layer: LSTM(200) over 200 inputs, one
/// sequence of T = 50 (batch 1, W and U packed once, last output), on one core (<see cref="EngineSettings.UseSecondCore"/>
/// off), with the benchmark's thread pinned to <see cref="Cpu"/>; alone, or while a thread pinned to the other CPU runs
/// the same work on its own plan (as W2's other direction does). W2 runs its two directions one per core and waits for
/// the slower, so a CPU that runs this slower than the other (a host that shares it) shows up in W2 whole
/// (docs/performance.md, sitting 32). The pinning is Linux's sched_setaffinity: elsewhere, or with one CPU, the threads
/// are not pinned (the rows then say nothing about a CPU) and the setup says so. The thread's own CPU set is put back
/// in the cleanup.
/// </summary>
[MemoryDiagnoser]
public class CoreBalanceBenchmarks
{
    private const int Features = 200, Units = 200, Time = 50;
    private InferencePlan<float> plan = null!, otherPlan = null!;
    private float[] x = Array.Empty<float>();
    private Thread? otherThread;
    private volatile bool stopOther;
    private ulong[]? savedCpuSet;

    /// <summary>The CPU the benchmark's thread runs on.</summary>
    [Params(0, 1)]
    public int Cpu { get; set; }

    /// <summary>Whether the other CPU runs the same work (W2's other direction) meanwhile.</summary>
    [Params(false, true)]
    public bool OtherCpuBusy { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        bool pin = OperatingSystem.IsLinux() && Environment.ProcessorCount >= 2 && Cpu < 64;
        if (!pin)
            Console.WriteLine($"CoreBalanceBenchmarks: threads not pinned (pinning needs Linux and two CPUs; this is {RuntimeInformation.OSDescription} with {Environment.ProcessorCount}).");
        Sequential<float> lstm = new ModelSpec { InputFeatures = Features, Layers = new[] { LayerSpec.Lstm(Units) } }.Build<float>();
        plan = lstm.CreateInferencePlan(1, Time, packWeightsOnce: true);
        otherPlan = lstm.CreateInferencePlan(1, Time, packWeightsOnce: true);
        var random = new Random(1);
        x = new float[Time * Features];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(random.NextDouble() * 2 - 1);
        EngineSettings.UseSecondCore = false;
        if (pin)
        {
            savedCpuSet = new ulong[CpuSetWords];
            if (sched_getaffinity(0, CpuSetWords * sizeof(ulong), savedCpuSet) != 0) savedCpuSet = null;
            PinCurrentThread(Cpu);
        }
        if (!OtherCpuBusy) return;
        stopOther = false;
        float[] otherX = (float[])x.Clone();
        otherThread = new Thread(() =>
        {
            if (pin) PinCurrentThread(1 - Cpu);
            while (!stopOther) otherPlan.Predict(otherX, 1, Time);
        }) { IsBackground = true, Name = "CoreBalanceBenchmarks other CPU" };
        otherThread.Start();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        stopOther = true;
        otherThread?.Join();
        otherThread = null;
        EngineSettings.UseSecondCore = true;
        if (savedCpuSet is not null) sched_setaffinity(0, CpuSetWords * sizeof(ulong), savedCpuSet);
        savedCpuSet = null;
    }

    [Benchmark(Description = "W2 layer-2 direction, LSTM(200) B1 T50, pinned")]
    public float Direction() => plan.Predict(x, 1, Time)[0];

    // A cpu_set_t of 1,024 CPUs.
    private const int CpuSetWords = 16;

    private static void PinCurrentThread(int cpu)
    {
        var set = new ulong[CpuSetWords];
        set[cpu / 64] = 1UL << (cpu % 64);
        if (sched_setaffinity(0, CpuSetWords * sizeof(ulong), set) != 0)
            throw new InvalidOperationException($"sched_setaffinity to CPU {cpu} failed (errno {Marshal.GetLastPInvokeError()}).");
    }

    // pid 0: the calling thread.
    [DllImport("libc", SetLastError = true)]
    private static extern int sched_setaffinity(int pid, nint cpuSetSize, ulong[] set);

    [DllImport("libc", SetLastError = true)]
    private static extern int sched_getaffinity(int pid, nint cpuSetSize, ulong[] set);
}
