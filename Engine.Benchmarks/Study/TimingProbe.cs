using System.Diagnostics;
using System.Text.Json;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Training;

namespace NumLstm.Benchmarks.Study;

/// <summary>Training time per batch of one placement on one task: the fastest round (SecondsPerBatch) and the range over interleaved rounds.</summary>
public sealed record TimingResult(string Task, string Placement, int LayerNormCount, double SecondsPerBatch, double MinSecondsPerBatch, double MaxSecondsPerBatch, int Rounds,
    double? RatioToNone = null, double? MinRatioToNone = null, double? MaxRatioToNone = null);

/// <summary>What timing.json holds: the plan it was measured for, the results, the build that was timed
/// (<see cref="EngineIdentity"/>; null in files written before builds were recorded) and the commit it was built from
/// (information, not matched; null in files written before it was recorded).</summary>
public sealed record TimingFile(string PlanFingerprint, int Rounds, int BatchesPerRound, IReadOnlyList<TimingResult> Results, string? EngineBuild = null, string? Commit = null);

/// <summary>
/// Measures what each placement costs without the noise of concurrent jobs: one thread, all placements of a task
/// timed in turn for a few batches, round after round in rotating order, so a slow spell on a shared machine hits
/// every placement alike. Reported as the fastest round's seconds per training batch (forward, backward, clipping,
/// Adam step) of the seed architecture: on a shared machine the least disturbed sample is the best estimate.
/// </summary>
public static class TimingProbe
{
    public const string FileName = "timing.json";
    public const double MinimumSampleSeconds = 0.2;

    public static TimingFile Measure(IReadOnlyList<StudyTask> tasks, IReadOnlyList<string> placements, string planFingerprint, int rounds = 5, int batches = 3, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(placements);
        if (rounds < 1 || batches < 1) throw new ArgumentOutOfRangeException(nameof(rounds), "Rounds and batches must be positive.");
        var results = new List<TimingResult>();
        foreach (StudyTask task in tasks)
        {
            int count = Math.Min(task.Train.Count, batches * task.BatchSize);
            NumLstm.Data.SequenceDataset subset = task.Train.Subset(Enumerable.Range(0, count).ToArray());
            (string Placement, Trainer Trainer, int Lns) Fresh(string p)
            {
                var job = new StudyJob(task.Name, Architectures.Seed, task.SeedUnits.Count, p, 1e-3, 0, 1, task.SeedUnits.ToArray(), true, Architectures.SeedDropout, task.BatchSize, task.Fingerprint);
                Sequential<float> model = job.ModelSpec(task).Build<float>();
                foreach (Layer<float> layer in model.Layers)
                    if (layer is Bidirectional<float> bi) bi.ParallelDirections = false;
                return (p, new Trainer(model), JobRunner.CountLayerNorms(model));
            }
            var trainers = placements.Select(Fresh).ToList();
            var samples = trainers.ToDictionary(t => t.Placement, _ => new List<double>());
            int batchCount = (count + task.BatchSize - 1) / task.BatchSize;
            for (int round = -1; round < rounds; round++)
            {
                for (int k = 0; k < trainers.Count; k++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    int index = (k + Math.Max(round, 0)) % trainers.Count;
                    var (placement, trainer, _) = trainers[index];
                    var options = new TrainingOptions { Epochs = 1, BatchSize = task.BatchSize, Shuffle = false, Seed = round, LearningRate = 1e-3, Clip = ClipMode.GlobalNorm, ClipValue = Architectures.ClipNorm };
                    // Repeat until a sample lasts MinimumSampleSeconds: a 50 ms sample on a busy machine is mostly scheduler noise.
                    var watch = Stopwatch.StartNew();
                    int trained = 0;
                    bool diverged = false;
                    do
                    {
                        try { trainer.Fit(subset, options, cancellation); trained += batchCount; }
                        catch (TrainingDivergedException e) { trained += e.Batch; diverged = true; }
                    }
                    while (!diverged && watch.Elapsed.TotalSeconds < MinimumSampleSeconds);
                    double seconds = watch.Elapsed.TotalSeconds / Math.Max(trained, 1);
                    // A diverged step ends early and would look cheap: drop the sample and start that placement afresh.
                    if (diverged) trainers[index] = Fresh(placement);
                    else if (round >= 0) samples[placement].Add(seconds);   // round −1 warms up the JIT and the buffers
                }
            }
            samples.TryGetValue("none", out List<double>? none);
            if (none is { Count: 0 }) none = null;
            foreach (var (placement, _, lns) in trainers)
            {
                List<double> s = samples[placement];
                if (s.Count == 0) continue;   // diverged in every round: no timing
                // The ratio of the fastest rounds (the least disturbed by other load), and the range of the ratios
                // within each round (both timed seconds apart, under about the same load).
                List<double>? ratios = none is null || none.Count != s.Count ? null : none.Zip(s, (n, p) => p / n).ToList();
                results.Add(new TimingResult(task.Name, placement, lns, s.Min(), s.Min(), s.Max(), s.Count,
                    none is null ? null : s.Min() / none.Min(), ratios?.Min() ?? s.Min() / none?.Min(), ratios?.Max() ?? s.Max() / none?.Min()));
            }
        }
        return new TimingFile(planFingerprint, rounds, batches, results, EngineIdentity.Current, EngineIdentity.Commit);
    }

    public static void Write(string outFolder, TimingFile timing) =>
        StudyRunner.WriteAtomically(Path.Combine(outFolder, FileName), JsonSerializer.Serialize(timing, JobResult.Json));

    /// <summary>timing.json of the folder, or null when there is none or it was measured for another plan.</summary>
    public static TimingFile? Read(string outFolder, string? planFingerprint = null)
    {
        string path = Path.Combine(outFolder, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            TimingFile? timing = JsonSerializer.Deserialize<TimingFile>(File.ReadAllText(path), JobResult.Json);
            return timing is null || (planFingerprint is not null && timing.PlanFingerprint != planFingerprint) ? null : timing;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
