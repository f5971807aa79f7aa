using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace NumLstm.Benchmarks.Models;

/// <summary>
/// W1 and W4 training steps (see <see cref="TrainingWorkload"/>), with allocations, the matrix-product GFLOP/s and the
/// bytes the LSTM caches keep for backpropagation through time. Filter with <c>*W1*</c> or <c>*W4*</c>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class TrainingBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new StatisticColumn("GFLOP/s", "matrix-product operations of the step / mean time, 10^9 per second",
                (benchmark, meanNs) => Built(benchmark) is { } w ? StatisticColumn.Format(w.Flops / meanNs, "F1") : null));
            AddColumn(new StatisticColumn("BPTT MB", "bytes the LSTM caches keep from forward for backward, 10^6",
                (benchmark, _) => Built(benchmark) is { } w ? StatisticColumn.Format(w.BytesKeptForBackward() / 1e6, "F1") : null));
        }

        private static readonly Dictionary<string, TrainingWorkload> BuiltWorkloads = new();

        /// <summary>The case's workload, built and stepped once in the host process (the columns need its sizes).</summary>
        private static TrainingWorkload? Built(BenchmarkCase benchmark)
        {
            if (benchmark.Parameters["Workload"] is not string name) return null;
            if (!BuiltWorkloads.TryGetValue(name, out TrainingWorkload? workload))
            {
                workload = new TrainingWorkload(name);
                workload.Step();
                BuiltWorkloads[name] = workload;
            }
            return workload;
        }
    }

    private TrainingWorkload workload = null!;

    [ParamsSource(nameof(Workloads))]
    public string Workload { get; set; } = "W1";

    public static IEnumerable<string> Workloads => TrainingWorkload.Names;

    [GlobalSetup]
    public void Setup() => workload = new TrainingWorkload(Workload);

    [Benchmark(Description = "train step")]
    public float TrainStep() => workload.Step();
}
