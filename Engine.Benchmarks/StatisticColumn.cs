using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace NumLstm.Benchmarks;

/// <summary>
/// A custom BenchmarkDotNet column computed from a benchmark case and its mean time in nanoseconds (GFLOP/s, ns per
/// value, ...). <paramref name="value"/> returns null when the case has no value ("-").
/// </summary>
internal sealed class StatisticColumn(string name, string legend, Func<BenchmarkCase, double, string?> value) : IColumn
{
    public string Id => nameof(StatisticColumn) + name;
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
        return statistics is null ? "-" : value(benchmarkCase, statistics.Mean) ?? "-";
    }

    public static string Format(double number, string format) => number.ToString(format, System.Globalization.CultureInfo.InvariantCulture);
}
