using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace NumLstm.Benchmarks.Study;

/// <summary>
/// What a call to <see cref="StudyRunner.Run"/> did. <paramref name="OtherBuild"/>: planned jobs whose file came from
/// another engine build (or an unrecorded one) and were queued again (they count in <paramref name="Ran"/> once they
/// finish), or, with <c>reuseOtherBuilds</c>, kept (they count in <paramref name="AlreadyFinished"/>).
/// </summary>
public sealed record RunSummary(int Planned, int AlreadyFinished, int Ran, int Failed, bool Cancelled, TimeSpan Elapsed, int OtherBuild = 0, bool ReusedOtherBuilds = false);

/// <summary>
/// Runs the pending jobs of a plan on <c>jobs</c> worker threads, longest first. Each finished job is written to
/// <c>jobs/&lt;id&gt;.json</c> through a temporary file and a rename, so a job file is either complete or absent; jobs
/// whose file exists and was written by this build (<see cref="EngineIdentity"/>: the same engine and study code, runtime
/// and vector path, whatever the commit) are skipped, which is how an interrupted study resumes. A job file from another
/// build, one that does not say, or one in the identity format before content hashes, is run again and replaced (unless
/// <c>reuseOtherBuilds</c>): results of other code are not mixed in silently.
/// </summary>
public sealed class StudyRunner
{
    private readonly TextWriter log;
    private readonly bool interactive;
    private readonly object gate = new();
    private readonly Dictionary<int, JobProgress> running = new();
    private int statusLength;

    public StudyRunner(TextWriter log, bool interactive)
    {
        this.log = log ?? throw new ArgumentNullException(nameof(log));
        this.interactive = interactive;
    }

    public static string JobsFolder(string outFolder) => Path.Combine(outFolder, "jobs");

    public RunSummary Run(IReadOnlyList<StudyJob> jobs, IReadOnlyDictionary<string, StudyTask> tasks, string outFolder, int workers, CancellationToken cancellation = default,
        bool reuseOtherBuilds = false)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(tasks);
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "At least one worker is needed.");
        string jobsFolder = JobsFolder(outFolder);
        Directory.CreateDirectory(jobsFolder);
        var planned = jobs.Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
        var loaded = JobResult.LoadFolder(jobsFolder, Warn).Where(r => planned.Contains(r.Id)).ToList();
        int otherBuild = loaded.Count(r => r.EngineBuild != EngineIdentity.Current);
        var finished = loaded.Where(r => reuseOtherBuilds || r.EngineBuild == EngineIdentity.Current).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        var pending = jobs.Where(j => !finished.Contains(j.Id)).OrderByDescending(j => j.CostEstimate(tasks[j.Task])).ToList();
        int already = jobs.Count - pending.Count;
        Line($"{jobs.Count} jobs planned, {already} already finished, {pending.Count} to run on {workers} worker{(workers == 1 ? "" : "s")}.");
        if (otherBuild > 0)
            Line(reuseOtherBuilds
                ? $"{otherBuild} finished job{(otherBuild == 1 ? "" : "s")} came from another build (or one not recorded, or recorded in the format before content hashes) and {(otherBuild == 1 ? "is" : "are")} kept (--reuse-other-builds); report.md lists the builds."
                : $"{otherBuild} finished job{(otherBuild == 1 ? "" : "s")} came from another build (or one not recorded, or recorded in the format before content hashes) and run{(otherBuild == 1 ? "s" : "")} again with this one " +
                  $"({EngineIdentity.Current}); --reuse-other-builds would keep {(otherBuild == 1 ? "it" : "them")}.");

        double totalCost = pending.Sum(j => j.CostEstimate(tasks[j.Task]));
        double doneCost = 0;
        int done = 0, failed = 0;
        var watch = Stopwatch.StartNew();
        var queue = new ConcurrentQueue<StudyJob>(pending);
        bool parallelDirections = workers == 1;
        using var timer = interactive ? new Timer(_ => DrawStatus(watch.Elapsed), null, 500, 500) : null;

        void Worker(int slot)
        {
            while (!cancellation.IsCancellationRequested && queue.TryDequeue(out StudyJob? job))
            {
                StudyTask task = tasks[job.Task];
                try
                {
                    JobResult result = JobRunner.Run(job, task, parallelDirections, p => { lock (gate) running[slot] = p; }, cancellation);
                    WriteAtomically(Path.Combine(jobsFolder, job.Id + ".json"), result.ToJson());
                    lock (gate)
                    {
                        running.Remove(slot);
                        done++;
                        doneCost += job.CostEstimate(task);
                        TimeSpan elapsed = watch.Elapsed;
                        double eta = doneCost > 0 ? elapsed.TotalSeconds * (totalCost - doneCost) / doneCost : double.NaN;
                        string metric = result.MetricName.StartsWith("accuracy", StringComparison.Ordinal)
                            ? $"acc {result.FinalMetric:F3}" : $"mae {result.FinalMetric.ToString("G3", CultureInfo.InvariantCulture)}";
                        Line($"[{done + failed}/{pending.Count}] {Clock(elapsed)} eta {(double.IsFinite(eta) ? Clock(TimeSpan.FromSeconds(eta)) : "?")}  " +
                             $"{job.Task} {job.Architecture}{job.Depth} {job.Placement} lr={StudyOptions.Invariant(job.LearningRate)} seed={job.Seed}: " +
                             $"{metric}{(result.Diverged ? " DIVERGED" : "")}, {result.SecondsPerEpoch:F2} s/epoch");
                    }
                }
                catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
                {
                    lock (gate) running.Remove(slot);
                }
                catch (Exception e)
                {
                    // A failing job is reported and left without a result file: a later run retries it.
                    lock (gate)
                    {
                        running.Remove(slot);
                        failed++;
                        Line($"[{done + failed}/{pending.Count}] FAILED {job.Id}: {e.GetType().Name}: {e.Message}");
                    }
                }
            }
        }

        var threads = Enumerable.Range(0, Math.Min(workers, Math.Max(pending.Count, 1)))
            .Select(slot => new Thread(() => Worker(slot)) { IsBackground = true, Name = $"study-worker-{slot}" }).ToList();
        foreach (Thread thread in threads) thread.Start();
        foreach (Thread thread in threads) thread.Join();
        timer?.Dispose();
        lock (gate) ClearStatus();
        return new RunSummary(jobs.Count, already, done, failed, cancellation.IsCancellationRequested, watch.Elapsed, otherBuild, reuseOtherBuilds);
    }

    /// <summary>Writes through a temporary file in the same folder and renames it into place.</summary>
    public static void WriteAtomically(string path, string text)
    {
        string temporary = path + $".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, path, overwrite: true);
    }

    private void Warn(string message) => Line("warning: " + message);

    private void Line(string text)
    {
        lock (gate)
        {
            ClearStatus();
            log.WriteLine(text);
            log.Flush();
        }
    }

    private void DrawStatus(TimeSpan elapsed)
    {
        lock (gate)
        {
            if (running.Count == 0) return;
            string text = $"  {Clock(elapsed)} running: " + string.Join(" | ", running.OrderBy(p => p.Key).Select(p =>
                $"{p.Value.Id.Split('_')[0]} {p.Value.Id.Split('_')[2]} epoch {p.Value.Epoch + 1}/{p.Value.Epochs} batch {p.Value.Batch}/{p.Value.Batches}"));
            int width = Math.Max(40, SafeWidth() - 1);
            if (text.Length > width) text = text[..width];
            log.Write("\r" + text.PadRight(statusLength));
            statusLength = text.Length;
            log.Flush();
        }
    }

    private void ClearStatus()
    {
        if (!interactive || statusLength == 0) return;
        log.Write("\r" + new string(' ', statusLength) + "\r");
        statusLength = 0;
    }

    private static int SafeWidth()
    {
        try { return Console.WindowWidth > 0 ? Console.WindowWidth : 120; }
        catch (IOException) { return 120; }
    }

    internal static string Clock(TimeSpan time) => time.TotalHours >= 1 ? time.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : time.ToString(@"m\:ss", CultureInfo.InvariantCulture);
}
