namespace NumLstm.Benchmarks.Study;

/// <summary>The <c>compare</c> verb: parse the options, load the tasks, plan, run the pending jobs, write the report.</summary>
public static class StudyCommand
{
    /// <summary>Exit codes: 0 done, 1 a job or task failed, 2 bad options, 130 interrupted (re-run to resume).</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        StudyOptions options;
        try
        {
            options = StudyOptions.Parse(args);
        }
        catch (StudyUsageException e)
        {
            error.WriteLine($"compare: {e.Message}");
            error.WriteLine("Run 'compare --help' for the options.");
            return 2;
        }
        if (options.Help)
        {
            output.WriteLine(StudyOptions.Usage);
            output.WriteLine($"This binary's build: {EngineIdentity.Current} (commit {EngineIdentity.Commit ?? "unknown"}).");
            return 0;
        }
        string commandLine = "dotnet run -c Release --project Engine.Benchmarks -- compare" + string.Concat(args.Select(a => " " + (a.Contains(' ') ? $"\"{a}\"" : a)));
        bool interactive = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        try
        {
            return Run(options, commandLine, output, interactive, cancellation).ExitCode;
        }
        catch (StudyUsageException e)
        {
            error.WriteLine($"compare: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            error.WriteLine($"compare: {e.Message}");
            return 1;
        }
    }

    /// <summary>Files a study writes into its folder besides jobs/ (the SVGs too, by their extension).</summary>
    private static readonly string[] ReportFiles = { "report.md", "results.csv", "results.json", StudyReport.PairedCsvFile, TimingProbe.FileName };

    /// <summary>
    /// Refuses, before any work, a folder whose contents a run would replace without being able to give them back: a
    /// file; another study's folder (its study.json plans other jobs: the new manifest and report would replace its own,
    /// and its report could no longer be rebuilt); report files with no study.json (not a study's). A folder of this
    /// study (resume, slices) and one holding only copied jobs/ are accepted.
    /// </summary>
    /// <returns>The folder's manifest when it holds this study (a resume), else null.</returns>
    public static StudyManifest? CheckOutputFolder(string folder, string planFingerprint)
    {
        if (File.Exists(folder)) throw new StudyUsageException($"--out '{folder}' is a file, not a folder.");
        if (!Directory.Exists(folder)) return null;
        string manifestPath = Path.Combine(folder, StudyReport.ManifestFile);
        if (File.Exists(manifestPath) || Directory.Exists(manifestPath))
        {
            StudyManifest existing;
            try { existing = StudyReport.ReadManifest(folder); }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                throw new StudyUsageException($"--out '{folder}' holds a {StudyReport.ManifestFile} that cannot be read ({e.Message}); it is left as it is: choose another --out folder.");
            }
            if (existing.PlanFingerprint != planFingerprint)
                throw new StudyUsageException($"--out '{folder}' holds another study (its command: {existing.CommandLine}); running this one there would replace " +
                    $"its {StudyReport.ManifestFile} and report. Choose another --out folder (copy its jobs/ there to reuse its finished jobs), or delete the folder to start over.");
            return existing;
        }
        var found = ReportFiles.Where(f => File.Exists(Path.Combine(folder, f))).Concat(Directory.GetFiles(folder, "*.svg").Select(f => Path.GetFileName(f))).ToList();
        if (found.Count > 0)
            throw new StudyUsageException($"--out '{folder}' holds {string.Join(", ", found.Take(5))}{(found.Count > 5 ? $" and {found.Count - 5} more" : "")} but no " +
                $"{StudyReport.ManifestFile}: not a study folder, and a run would overwrite them. Choose another --out folder.");
        return null;
    }

    /// <summary>Runs a study from options already parsed (the smoke test calls this with a tiny study).</summary>
    public static (int ExitCode, RunSummary? Summary) Run(StudyOptions options, string commandLine, TextWriter output, bool interactive, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        string folder = options.OutputFolder;
        if (options.ReportOnly)
        {
            StudyManifest existing = StudyReport.ReadManifest(folder);
            // The report is always the folder's plan: options naming another plan would be ignored, so they are refused.
            if (options.PlanGiven && options.PlanFingerprint() != existing.PlanFingerprint)
                throw new StudyUsageException($"--report-only reports the study in '{folder}' (its command: {existing.CommandLine}), but the options given plan " +
                    "another study (tasks, placements, depths, seeds, epochs, rates, sweep task, scale or units differ). Give the folder's own options, or --out alone.");
            // The same jobs and timing as the run's own report: those of the folder's plan (job files copied in from
            // another study stay out, as they do when the study runs).
            var planned = StudyReport.Write(folder, existing, warn: m => output.WriteLine("warning: " + m), timing: TimingProbe.Read(folder, existing.PlanFingerprint));
            // Files named after no planned job (an unreadable planned job's file was warned about above, not counted here).
            var plannedIds = existing.PlannedJobs.ToHashSet(StringComparer.Ordinal);
            int outside = Directory.Exists(StudyRunner.JobsFolder(folder))
                ? Directory.GetFiles(StudyRunner.JobsFolder(folder), "*.json").Count(f => !plannedIds.Contains(Path.GetFileNameWithoutExtension(f))) : 0;
            if (outside > 0)
                output.WriteLine($"{outside} job file{(outside == 1 ? " is" : "s are")} not in this study's plan ({StudyReport.ManifestFile}) and {(outside == 1 ? "was" : "were")} left out.");
            var builds = planned.Select(r => r.EngineBuild).Distinct().ToList();
            if (builds.Count > 1 || builds.Any(b => b != EngineIdentity.Current))
                output.WriteLine($"The results come from {builds.Count} engine build{(builds.Count == 1 ? "" : "s")}{(builds.Contains(EngineIdentity.Current) ? "" : ", none of them this one")} " +
                                 "(listed in report.md); --report-only runs nothing.");
            output.WriteLine($"Report rebuilt from {planned.Count} job results: {Path.Combine(folder, "report.md")}");
            return (0, null);
        }

        StudyManifest? resumed = CheckOutputFolder(folder, options.PlanFingerprint());
        try { Directory.CreateDirectory(folder); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StudyUsageException($"--out '{folder}' cannot be created: {e.Message}");
        }
        output.WriteLine($"Loading tasks: {string.Join(", ", options.Tasks)}");
        var tasks = options.Tasks.Select(t => options.Apply(StudyTasks.Load(t, options.DataScale))).ToList();
        foreach (StudyTask task in tasks) output.WriteLine($"  {task.Name}: {task.Description}");
        IReadOnlyList<StudyJob> plan = StudyPlan.Build(options, tasks);
        StudyTask sweep = StudyPlan.SweepTask(options, tasks);
        var manifest = new StudyManifest
        {
            CommandLine = commandLine,
            PlanFingerprint = options.PlanFingerprint(),
            Created = resumed?.Created ?? DateTimeOffset.UtcNow,   // a resume keeps the time the study started
            BaseLearningRate = options.BaseLearningRate,
            LearningRates = options.LearningRates,
            Depths = options.Depths,
            Seeds = options.Seeds,
            SweepTask = sweep.Name,
            Placements = options.Placements.Select(p => p.Name).ToList(),
            Tasks = tasks.Select(t => new TaskInfo(t.Name, t.Description, t.MetricName + (t.MetricUnit.Length > 0 ? $" ({t.MetricUnit})" : ""), t.HigherIsBetter,
                t.Baseline, t.BaselineName, t.Target, t.Train.Count, t.Validation.Count, t.Train.Steps, t.Train.Features)).ToList(),
            PlannedJobs = plan.Select(j => j.Id).ToList(),
        };
        StudyReport.WriteManifest(folder, manifest);
        IReadOnlyList<StudyJob> slice = StudyPlan.Slice(plan, options.SliceIndex, options.SliceCount);
        output.WriteLine($"Plan: {plan.Count} jobs ({plan.Count(j => j.Architecture == Architectures.Seed && j.LearningRate == options.BaseLearningRate)} placement, " +
                         $"{plan.Count(j => j.Architecture == Architectures.Stack)} depth-sweep, {plan.Count(j => j.Architecture == Architectures.Seed && j.LearningRate != options.BaseLearningRate)} extra LR-sweep)" +
                         (options.SliceCount > 1 ? $"; slice {options.SliceIndex}/{options.SliceCount}: {slice.Count} jobs" : "") + $"; output {Path.GetFullPath(folder)}");
        var runner = new StudyRunner(output, interactive);
        RunSummary summary = runner.Run(slice, tasks.ToDictionary(t => t.Name), folder, options.Jobs, cancellation, options.ReuseOtherBuilds);
        TimingFile? timing = TimingProbe.Read(folder, manifest.PlanFingerprint);
        // The cost section times the engine as the jobs do: timings of another build are measured again, as its jobs run again.
        if (timing is not null && timing.EngineBuild != EngineIdentity.Current && !options.ReuseOtherBuilds && !summary.Cancelled && options.SliceIndex == 0)
        {
            output.WriteLine($"{TimingProbe.FileName} was measured with another build ({EngineIdentity.Describe(timing.EngineBuild)}); timing again with this one.");
            timing = null;
        }
        if (timing is null && !summary.Cancelled && options.SliceIndex == 0)
        {
            output.WriteLine("Timing each placement on one thread, interleaved (for the cost section)...");
            try
            {
                timing = TimingProbe.Measure(tasks, manifest.Placements, manifest.PlanFingerprint, cancellation: cancellation);
                TimingProbe.Write(folder, timing);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                output.WriteLine("Timing interrupted; the cost section falls back to the jobs' own times.");
            }
        }
        StudyReport.Write(folder, manifest, summary, options.Jobs, warn: m => output.WriteLine("warning: " + m), timing: timing);
        output.WriteLine(summary.Cancelled
            ? $"Interrupted after {StudyRunner.Clock(summary.Elapsed)}: {StudyReport.Jobs(summary.Ran)} finished in this run. Run the same command again to resume."
            : $"Done in {StudyRunner.Clock(summary.Elapsed)}: {StudyReport.Jobs(summary.Ran)} ran" +
              (summary.OtherBuild > 0 && !summary.ReusedOtherBuilds ? $" ({summary.OtherBuild} of them again, as their results came from another engine build)" : "") +
              $", {summary.AlreadyFinished} {StudyReport.WasOrWere(summary.AlreadyFinished)} already finished, {summary.Failed} failed.");
        output.WriteLine($"Report: {Path.Combine(folder, "report.md")}");
        return (summary.Cancelled ? 130 : summary.Failed > 0 ? 1 : 0, summary);
    }
}
