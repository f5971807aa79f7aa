using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using NumLstm.Kernels;

namespace NumLstm.Benchmarks.Kernels;

/// <summary>
/// SGEMM c = a·b (+ c) through <see cref="Gemm.Multiply{T}"/> (packed path where it applies) against the generic
/// row-axpy path, on a square product, a mid-size one, a single row and the LSTM step shapes (B×4H×F/H).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class GemmBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GflopsColumn());
    }

    [Params("1024x1024x1024", "64x200x800", "1x128x512", "64x800x200", "32x2048x512")]
    public string Shape { get; set; } = "64x800x200";

    [Params(Transpose.No, Transpose.Yes)]
    public Transpose TransB { get; set; }

    private int m, n, k;
    private float[] a = [], b = [], c = [];

    [GlobalSetup]
    public void Setup()
    {
        (m, n, k) = ParseShape(Shape);
        var random = new Random(1);
        a = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        b = Enumerable.Range(0, k * n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        c = new float[m * n];
    }

    internal static (int M, int N, int K) ParseShape(string shape)
    {
        int[] parts = shape.Split('x').Select(int.Parse).ToArray();
        return (parts[0], parts[1], parts[2]);
    }

    [Benchmark(Baseline = true)]
    public void Generic()
        => Gemm.MultiplyAccumulateGeneric(Transpose.No, TransB, m, n, k, 1f, a, k, b, TransB == Transpose.No ? n : k, c, n);

    [Benchmark]
    public void Multiply()
        => Gemm.Multiply(Transpose.No, TransB, m, n, k, 1f, a, k, b, TransB == Transpose.No ? n : k, 1f, c, n);

    /// <summary>2·m·n·k floating-point operations over the mean time.</summary>
    private sealed class GflopsColumn : IColumn
    {
        public string Id => nameof(GflopsColumn);
        public string ColumnName => "GFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "2·m·n·k / mean time, in 10^9 operations per second";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var statistics = summary[benchmarkCase]?.ResultStatistics;
            object? shape = benchmarkCase.Parameters["Shape"];
            if (statistics is null || shape is null) return "-";
            var (m, n, k) = ParseShape((string)shape);
            return (2.0 * m * n * k / statistics.Mean).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
