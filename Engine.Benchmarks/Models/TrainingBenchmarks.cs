using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
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
            AddColumn(new WorkloadColumn("GFLOP/s", "matrix-product operations of the step / mean time, 10^9 per second",
                (w, mean) => (w.Flops / mean / 1e9).ToString("F1", System.Globalization.CultureInfo.InvariantCulture)));
            AddColumn(new WorkloadColumn("BPTT MB", "bytes the LSTM caches keep from forward for backward, 10^6",
                (w, _) => (w.BytesKeptForBackward() / 1e6).ToString("F1", System.Globalization.CultureInfo.InvariantCulture)));
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

    /// <summary>A column computed from the workload (built and stepped once in the host process) and the mean time.</summary>
    private sealed class WorkloadColumn(string name, string legend, Func<TrainingWorkload, double, string> value) : IColumn
    {
        private static readonly Dictionary<string, TrainingWorkload> Built = new();
        public string Id => nameof(WorkloadColumn) + name;
        public string ColumnName => name;
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => legend;
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var statistics = summary[benchmarkCase]?.ResultStatistics;
            if (statistics is null || benchmarkCase.Parameters["Workload"] is not string workloadName) return "-";
            if (!Built.TryGetValue(workloadName, out TrainingWorkload? workload))
            {
                workload = new TrainingWorkload(workloadName);
                workload.Step();
                Built[workloadName] = workload;
            }
            return value(workload, statistics.Mean * 1e-9);
        }
    }
}
