using System.Security.Cryptography;
using System.Text;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Study;

/// <summary>Which model family a job trains.</summary>
public static class Architectures
{
    /// <summary>The seed model scaled down: Bidirectional LSTMs with the task's seed units, dropout and recurrent dropout 0.4.</summary>
    public const string Seed = "seed";
    /// <summary>The depth sweep: unidirectional LSTMs of the task's stack units, no dropout (a test of trainability, not regularization).</summary>
    public const string Stack = "stack";

    public const double SeedDropout = 0.4;
    public const double StackDropout = 0.0;
    /// <summary>Every job clips the global gradient norm at this value (recorded norms are before clipping).</summary>
    public const double ClipNorm = 5.0;
}

/// <summary>
/// One training run: a task, an architecture at a depth, a LayerNorm placement, a learning rate and a seed. The seed
/// fixes the weights, shuffling and dropout, so a job gives the same numbers wherever and whenever it runs.
/// </summary>
public sealed record StudyJob(
    string Task, string Architecture, int Depth, string Placement, double LearningRate, int Seed, int Epochs,
    IReadOnlyList<int> Units, bool Bidirectional, double Dropout, int BatchSize, string TaskFingerprint)
{
    /// <summary>Readable and unique: task, architecture and depth, placement, rate, seed, then a hash of everything that changes the result.</summary>
    public string Id => $"{Task}_{Architecture}{Depth}_{Sanitize(Placement)}_lr{StudyOptions.Invariant(LearningRate)}_s{Seed}_{ShortHash(Canonical)}";

    /// <summary>Configuration without the seed: the jobs of one configuration differ only in seed.</summary>
    public string ConfigKey => $"{Task}|{Architecture}|{Depth}|{Placement}|{StudyOptions.Invariant(LearningRate)}";

    private string Canonical => string.Join("|", Task, Architecture, Depth, Placement, StudyOptions.Invariant(LearningRate), Seed, Epochs,
        string.Join(",", Units), Bidirectional, StudyOptions.Invariant(Dropout), BatchSize, TaskFingerprint, StudyOptions.Invariant(Architectures.ClipNorm));

    public LayerNormPlacement ParsedPlacement => LayerNormPlacement.Parse(Placement);

    public ModelSpec ModelSpec(StudyTask task) =>
        new StackSpec(task.Train.Features, Units, Bidirectional, Dropout, Dropout, task.OutputUnits, Activation.Linear, Seed: Seed)
            .WithPlacement(ParsedPlacement);

    /// <summary>Rough work of the job, to start the longest jobs first.</summary>
    public double CostEstimate(StudyTask task)
    {
        double perStep = Units.Sum(u => 4.0 * u * (u + 8)) * (Bidirectional ? 2 : 1) * (Placement == "none" ? 1.0 : 1.3);
        return perStep * Epochs * (task.Train.Count + task.Validation.Count / 3.0) * task.Train.Steps;
    }

    internal static string Sanitize(string text)
    {
        var result = new StringBuilder(text.Length);
        foreach (char c in text) result.Append(char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '.');
        return result.ToString();
    }

    public static string ShortHash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8];
}

/// <summary>
/// The job list of a study. Three sections share jobs (a job in two sections runs once):
/// placement: every task × every placement × seeds, seed architecture, base rate;
/// depth: the sweep task × depth-sweep placements × depths × seeds, stack architecture, base rate;
/// lr: the sweep task × LR-sweep placements × rates × seeds, seed architecture.
/// </summary>
public static class StudyPlan
{
    /// <summary>Placements of the depth sweep when --placements is not given.</summary>
    public static readonly string[] DepthPlacements = { "none", "after-each", "in-cell:keras-gates", "in-cell+after:keras-gates" };
    /// <summary>Placements of the LR sweep when --placements is not given.</summary>
    public static readonly string[] LearningRatePlacements = { "none", "after-each", "in-cell:keras-gates" };

    public static IReadOnlyList<StudyJob> Build(StudyOptions options, IReadOnlyList<StudyTask> tasks)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(tasks);
        var jobs = new List<StudyJob>();
        double baseRate = options.BaseLearningRate;
        StudyTask sweep = SweepTask(options, tasks);
        IEnumerable<string> all = options.Placements.Select(p => p.Name);
        IEnumerable<string> Subset(string[] preferred)
        {
            if (options.PlacementsGiven) return all;
            var chosen = preferred.Where(all.Contains).ToArray();
            return chosen.Length > 0 ? chosen : all;
        }

        foreach (StudyTask task in tasks)
            foreach (string placement in all)
                for (int seed = 0; seed < options.Seeds; seed++)
                    jobs.Add(SeedJob(task, placement, baseRate, seed, options));
        if (options.Depths.Count > 1)
            foreach (int depth in options.Depths)
                foreach (string placement in Subset(DepthPlacements))
                    for (int seed = 0; seed < options.Seeds; seed++)
                        jobs.Add(new StudyJob(sweep.Name, Architectures.Stack, depth, placement, baseRate, seed, options.Epochs ?? sweep.DefaultEpochs,
                            Enumerable.Repeat(sweep.StackUnits, depth).ToArray(), false, Architectures.StackDropout, sweep.BatchSize, sweep.Fingerprint));
        if (options.LearningRates.Count > 1)
            foreach (double rate in options.LearningRates)
                foreach (string placement in Subset(LearningRatePlacements))
                    for (int seed = 0; seed < options.Seeds; seed++)
                        jobs.Add(SeedJob(sweep, placement, rate, seed, options));
        return jobs.DistinctBy(j => j.Id).ToList();
    }

    public static StudyTask SweepTask(StudyOptions options, IReadOnlyList<StudyTask> tasks)
    {
        if (tasks.Count == 0) throw new ArgumentException("A study needs at least one task.", nameof(tasks));
        return options.SweepTask is null ? tasks[0] : tasks.First(t => t.Name == options.SweepTask);
    }

    private static StudyJob SeedJob(StudyTask task, string placement, double rate, int seed, StudyOptions options) =>
        new(task.Name, Architectures.Seed, task.SeedUnits.Count, placement, rate, seed, options.Epochs ?? task.DefaultEpochs,
            task.SeedUnits.ToArray(), true, Architectures.SeedDropout, task.BatchSize, task.Fingerprint);

    /// <summary>The jobs of slice k of n: those whose index in the plan is k modulo n.</summary>
    public static IReadOnlyList<StudyJob> Slice(IReadOnlyList<StudyJob> jobs, int index, int count) =>
        jobs.Where((_, k) => k % count == index).ToList();
}
