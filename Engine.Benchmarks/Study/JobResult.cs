using System.Text.Json;
using System.Text.Json.Serialization;

namespace NumLstm.Benchmarks.Study;

/// <summary>One epoch of a job. Metric: accuracy or MAE (in the task's units).</summary>
public sealed record EpochResult(int Epoch, double TrainLoss, double TrainMetric, double ValidationLoss, double ValidationMetric,
    double Seconds, double MaxGradientNorm, int LossSpikes);

/// <summary>What a finished job wrote to jobs/&lt;id&gt;.json: its configuration, its history and the summary the report uses.</summary>
public sealed record JobResult
{
    public required string Id { get; init; }
    public required string Task { get; init; }
    public required string Architecture { get; init; }
    public required int Depth { get; init; }
    public required string Placement { get; init; }
    public required double LearningRate { get; init; }
    public required int Seed { get; init; }
    public required int PlannedEpochs { get; init; }
    public required IReadOnlyList<int> Units { get; init; }
    public required bool Bidirectional { get; init; }
    public required double Dropout { get; init; }
    public required int BatchSize { get; init; }
    public required string MetricName { get; init; }
    public required bool HigherIsBetter { get; init; }
    public required double Target { get; init; }
    public required long ParameterCount { get; init; }
    /// <summary>LayerNorm operations per model: LayerNorm layers plus the cell LayerNorms of every LSTM (each direction counted).</summary>
    public required int LayerNormCount { get; init; }
    public required IReadOnlyList<EpochResult> History { get; init; }
    /// <summary>Validation loss and metric of the final weights (after divergence: the last good step's weights).</summary>
    public required double FinalValidationLoss { get; init; }
    public required double FinalMetric { get; init; }
    /// <summary>First epoch (1-based) whose validation metric reached the target; null if none did.</summary>
    public int? EpochsToTarget { get; init; }
    /// <summary>Batches whose loss exceeded <see cref="JobRunner.SpikeFactor"/> × the median of the previous <see cref="JobRunner.SpikeWindow"/> batch losses.</summary>
    public required int LossSpikes { get; init; }
    public required bool Diverged { get; init; }
    public string? DivergedAt { get; init; }
    public required double MaxGradientNorm { get; init; }
    /// <summary>Median wall time of the epochs (training and validation), robust to the first epoch's JIT warm-up.</summary>
    public required double SecondsPerEpoch { get; init; }
    public required double TotalSeconds { get; init; }
    public required int ThreadsPerJob { get; init; }
    /// <summary>The engine build that produced this result (<see cref="EngineIdentity"/>); null in job files written before it was recorded.</summary>
    public string? EngineBuild { get; init; }
    /// <summary>The commit the binary was built from (<see cref="EngineIdentity.Commit"/>): information for a reader, not
    /// matched on resume (a docs-only commit computes the same numbers); null in job files written before it was recorded.</summary>
    public string? Commit { get; init; }

    [JsonIgnore]
    public string ConfigKey => $"{Task}|{Architecture}|{Depth}|{Placement}|{StudyOptions.Invariant(LearningRate)}";

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static JobResult FromJson(string json, string source)
    {
        JobResult result;
        try
        {
            result = JsonSerializer.Deserialize<JobResult>(json, Json) ?? throw new InvalidDataException($"{source}: the JSON is null.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a job result ({e.Message}).", e);
        }
        // 'required' asks for each property, not for a value: null where the report needs one is refused here, by name.
        string? missing = result.Id is null ? "id" : result.Task is null ? "task" : result.Architecture is null ? "architecture"
            : result.Placement is null ? "placement" : result.MetricName is null ? "metric_name" : result.Units is null ? "units"
            : result.History is null ? "history" : result.History.Any(e => e is null) ? "history (a null epoch)" : null;
        if (missing is not null) throw new InvalidDataException($"{source}: not a job result ({missing} is null).");
        return result;
    }

    /// <summary>Reads every jobs/*.json of a folder; unreadable files are reported and skipped (their jobs run again).</summary>
    public static List<JobResult> LoadFolder(string jobsFolder, Action<string>? warn = null)
    {
        var results = new List<JobResult>();
        if (!Directory.Exists(jobsFolder)) return results;
        foreach (string file in Directory.EnumerateFiles(jobsFolder, "*.json").Order(StringComparer.Ordinal))
        {
            try
            {
                JobResult result = FromJson(File.ReadAllText(file), file);
                if (Path.GetFileNameWithoutExtension(file) != result.Id) throw new InvalidDataException($"{file}: holds job '{result.Id}', not the job its name says.");
                results.Add(result);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                warn?.Invoke($"skipping {file}: {e.Message}");
            }
        }
        return results;
    }
}
