using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace NumLstm.Benchmarks.Study;

/// <summary>
/// Builds the report folder from study.json and jobs/*.json: results.json, results.csv, report.md with a verdict, and
/// SVG plots. Everything is computed from the job files, so a report can be rebuilt (or merged from slices) at any time.
/// </summary>
public static class StudyReport
{
    public const string ManifestFile = "study.json";

    public static void WriteManifest(string outFolder, StudyManifest manifest)
    {
        Directory.CreateDirectory(outFolder);
        StudyRunner.WriteAtomically(Path.Combine(outFolder, ManifestFile), JsonSerializer.Serialize(manifest, JobResult.Json));
    }

    public static StudyManifest ReadManifest(string outFolder)
    {
        string path = Path.Combine(outFolder, ManifestFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"'{outFolder}' has no {ManifestFile}: it is not a study folder (run compare first).", path);
        try
        {
            return JsonSerializer.Deserialize<StudyManifest>(File.ReadAllText(path), JobResult.Json) ?? throw new InvalidDataException($"{path}: the JSON is null.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a study manifest ({e.Message}).", e);
        }
    }

    /// <summary>Writes every report file; results are those of <paramref name="outFolder"/>/jobs belonging to the manifest's plan.</summary>
    public static IReadOnlyList<JobResult> Write(string outFolder, StudyManifest manifest, RunSummary? run = null, int workers = 0, Action<string>? warn = null,
        TimingFile? timing = null)
    {
        var planned = manifest.PlannedJobs.ToHashSet(StringComparer.Ordinal);
        List<JobResult> results = JobResult.LoadFolder(StudyRunner.JobsFolder(outFolder), warn)
            .Where(r => planned.Contains(r.Id)).OrderBy(r => r.Id, StringComparer.Ordinal).ToList();
        IReadOnlyList<ConfigSummary> summaries = ConfigSummary.Summarize(results);
        IReadOnlyList<PairedComparison> paired = PairedComparison.AgainstNone(results);
        var report = new Builder(manifest, results, summaries, paired, timing);
        string markdown = report.Markdown(run, workers);
        // Each file through a temporary file and a rename: a run killed while writing leaves the previous file whole.
        foreach ((string name, string svg) in report.Svgs) StudyRunner.WriteAtomically(Path.Combine(outFolder, name), svg);
        StudyRunner.WriteAtomically(Path.Combine(outFolder, "results.csv"), Csv(results));
        StudyRunner.WriteAtomically(Path.Combine(outFolder, PairedCsvFile), PairedCsv(paired));
        var json = new { study = manifest, machine = Machine.Describe(), configurations = summaries, paired, timing, jobs = results };
        StudyRunner.WriteAtomically(Path.Combine(outFolder, "results.json"), JsonSerializer.Serialize(json, JobResult.Json));
        StudyRunner.WriteAtomically(Path.Combine(outFolder, "report.md"), markdown);
        return results;
    }

    public static readonly string[] CsvColumns =
    {
        "id", "task", "architecture", "depth", "placement", "learning_rate", "seed", "epochs", "units", "bidirectional", "dropout", "batch_size",
        "parameter_count", "layer_norm_count", "metric", "final_metric", "final_val_loss", "target", "epochs_to_target", "loss_spikes", "diverged",
        "diverged_at", "max_gradient_norm", "seconds_per_epoch", "total_seconds", "threads_per_job",
        "train_loss_per_epoch", "val_loss_per_epoch", "train_metric_per_epoch", "val_metric_per_epoch", "seconds_per_epoch_list",
        "engine_build", "commit",
    };

    /// <summary>One row per job; per-epoch lists are ';'-separated inside one cell; engine_build is empty for job files that do not
    /// record it; commit is the one the job file records, else the one inside an old-format engine_build, else empty.</summary>
    public static string Csv(IEnumerable<JobResult> results)
    {
        var text = new StringBuilder();
        text.AppendLine(string.Join(",", CsvColumns));
        foreach (JobResult r in results)
        {
            string List(Func<EpochResult, double> pick) => string.Join(";", r.History.Select(e => N(pick(e))));
            string[] cells =
            {
                r.Id, r.Task, r.Architecture, r.Depth.ToString(CultureInfo.InvariantCulture), r.Placement, N(r.LearningRate), r.Seed.ToString(CultureInfo.InvariantCulture),
                r.History.Count.ToString(CultureInfo.InvariantCulture), string.Join(";", r.Units), r.Bidirectional ? "true" : "false", N(r.Dropout),
                r.BatchSize.ToString(CultureInfo.InvariantCulture), r.ParameterCount.ToString(CultureInfo.InvariantCulture), r.LayerNormCount.ToString(CultureInfo.InvariantCulture),
                r.MetricName, N(r.FinalMetric), N(r.FinalValidationLoss), N(r.Target), r.EpochsToTarget?.ToString(CultureInfo.InvariantCulture) ?? "",
                r.LossSpikes.ToString(CultureInfo.InvariantCulture), r.Diverged ? "true" : "false", r.DivergedAt ?? "", N(r.MaxGradientNorm), N(r.SecondsPerEpoch),
                N(r.TotalSeconds), r.ThreadsPerJob.ToString(CultureInfo.InvariantCulture),
                List(e => e.TrainLoss), List(e => e.ValidationLoss), List(e => e.TrainMetric), List(e => e.ValidationMetric), List(e => e.Seconds),
                r.EngineBuild ?? "", EngineIdentity.RecordedCommit(r.Commit, r.EngineBuild) ?? "",
            };
            text.AppendLine(string.Join(",", cells.Select(Quote)));
        }
        return text.ToString();
    }

    public const string PairedCsvFile = "paired.csv";

    public static readonly string[] PairedCsvColumns =
    {
        "task", "architecture", "depth", "learning_rate", "placement", "metric", "higher_is_better", "pairs", "unpaired_runs",
        "mean_difference", "std_difference", "t_quantile", "ci_low", "ci_high", "wins", "ties", "verdict",
        "t_statistic", "p_value", "holm_family_size", "holm_p_value", "survives_holm",
    };

    /// <summary>One row per placement against `none` of its group, paired by seed; differences are signed so that positive is better.
    /// Empty cells where there is no value (one pair: no std, no interval, no p-value); t_statistic is Infinity or -Infinity when the
    /// differences have no spread; the Holm columns are over the row's family (its group), survives_holm true when holm_p_value ≤ 0.05.</summary>
    public static string PairedCsv(IEnumerable<PairedComparison> comparisons)
    {
        var text = new StringBuilder();
        text.AppendLine(string.Join(",", PairedCsvColumns));
        static string E(double value) => double.IsFinite(value) ? N(value) : "";
        foreach (PairedComparison c in comparisons)
        {
            string[] cells =
            {
                c.Task, c.Architecture, c.Depth.ToString(CultureInfo.InvariantCulture), N(c.LearningRate), c.Placement, c.MetricName, c.HigherIsBetter ? "true" : "false",
                c.Pairs.ToString(CultureInfo.InvariantCulture), c.Unpaired.ToString(CultureInfo.InvariantCulture), E(c.MeanDifference), E(c.StdDifference),
                E(c.TQuantile), E(c.Low), E(c.High), c.Wins.ToString(CultureInfo.InvariantCulture), c.Ties.ToString(CultureInfo.InvariantCulture), c.Verdict,
                double.IsNaN(c.TStatistic) ? "" : N(c.TStatistic), E(c.PValue), c.FamilySize > 0 ? c.FamilySize.ToString(CultureInfo.InvariantCulture) : "",
                E(c.HolmPValue), double.IsNaN(c.HolmPValue) ? "" : c.SurvivesHolm ? "true" : "false",
            };
            text.AppendLine(string.Join(",", cells.Select(Quote)));
        }
        return text.ToString();
    }

    private static string N(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Quote(string cell) =>
        cell.IndexOfAny(new[] { ',', '"', '\n', '\r' }) >= 0 ? "\"" + cell.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : cell;

    private sealed class Builder(StudyManifest manifest, IReadOnlyList<JobResult> results, IReadOnlyList<ConfigSummary> summaries,
        IReadOnlyList<PairedComparison> paired, TimingFile? timing)
    {
        public List<(string Name, string Svg)> Svgs { get; } = new();
        private readonly StringBuilder md = new();
        private readonly List<string> weak = new();

        private IEnumerable<string> TaskOrder => manifest.Tasks.Select(t => t.Name).Where(n => summaries.Any(s => s.Task == n));
        private TaskInfo Info(string task) => manifest.Tasks.First(t => t.Name == task);
        private int PlacementOrder(string placement) { int k = manifest.Placements.ToList().IndexOf(placement); return k < 0 ? int.MaxValue : k; }

        /// <summary>One colour per placement in every plot of the report (its position in the plan's placement list; a
        /// placement only the sweeps ran comes after them, in name order), so a placement can be followed from plot to plot.</summary>
        private string PlacementColor(string placement)
        {
            int k = PlacementOrder(placement);
            if (k == int.MaxValue)
                k = manifest.Placements.Count + summaries.Select(s => s.Placement).Where(p => !manifest.Placements.Contains(p))
                    .Distinct().Order(StringComparer.Ordinal).ToList().IndexOf(placement);
            return SvgChart.Palette[k % SvgChart.Palette.Length];
        }
        private static bool SameRate(double a, double b) => Math.Abs(a - b) <= 1e-12 * Math.Max(Math.Abs(a), Math.Abs(b));

        private List<ConfigSummary> PlacementSection(string task) => summaries
            .Where(s => s.Task == task && s.Architecture == Architectures.Seed && SameRate(s.LearningRate, manifest.BaseLearningRate))
            .OrderBy(s => PlacementOrder(s.Placement)).ToList();

        /// <summary>The paired comparisons of a task's placement section (seed architecture, base rate), in plan order.</summary>
        private List<PairedComparison> PairedSection(string task) => paired
            .Where(c => c.Task == task && c.Architecture == Architectures.Seed && SameRate(c.LearningRate, manifest.BaseLearningRate))
            .OrderBy(c => PlacementOrder(c.Placement)).ToList();

        private List<PairedComparison> PairedSections() => TaskOrder.SelectMany(PairedSection).ToList();

        /// <summary>The mean ± std screen for the same placement and `none` as <paramref name="c"/>: +1 separated better, −1 worse, 0 overlapping, null without both.</summary>
        private int? Screen(PairedComparison c)
        {
            var rows = PlacementSection(c.Task);
            ConfigSummary? s = rows.FirstOrDefault(r => r.Placement == c.Placement), none = rows.FirstOrDefault(r => r.Placement == "none");
            return s is null || none is null ? null : s.Versus(none);
        }

        private List<ConfigSummary> DepthSection() => summaries
            .Where(s => s.Task == manifest.SweepTask && s.Architecture == Architectures.Stack && SameRate(s.LearningRate, manifest.BaseLearningRate))
            .OrderBy(s => PlacementOrder(s.Placement)).ThenBy(s => s.Depth).ToList();

        private List<ConfigSummary> RateSection()
        {
            var seed = summaries.Where(s => s.Task == manifest.SweepTask && s.Architecture == Architectures.Seed).ToList();
            var swept = seed.GroupBy(s => s.Placement).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();
            return seed.Where(s => swept.Contains(s.Placement)).OrderBy(s => PlacementOrder(s.Placement)).ThenBy(s => s.LearningRate).ToList();
        }

        public string Markdown(RunSummary? run, int workers)
        {
            var machine = Machine.Describe();
            md.AppendLine("# LayerNorm placement study");
            md.AppendLine();
            md.AppendLine($"- Command: `{manifest.CommandLine}`");
            md.AppendLine($"- Study started {manifest.Created:yyyy-MM-dd HH:mm} UTC; report written {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.");
            md.AppendLine($"- Machine: {machine.Cpu}, {machine.Cores} logical cores, {machine.Os}, .NET {machine.Runtime}; load average when the report was written: {machine.LoadAverage}.");
            md.AppendLine($"- Jobs: {results.Count} of {manifest.PlannedJobs.Count} planned jobs have results{(results.Count < manifest.PlannedJobs.Count ? " — **the study is incomplete**: re-run the command to finish it" : "")}.");
            if (run is not null)
                md.AppendLine($"- This run: {Jobs(run.Ran)} ran" +
                              (run.OtherBuild > 0 ? run.ReusedOtherBuilds ? $" ({run.OtherBuild} finished by another engine build were kept: --reuse-other-builds)" : $" ({run.OtherBuild} queued again because their results came from another engine build)" : "") +
                              $", {run.AlreadyFinished} {WasOrWere(run.AlreadyFinished)} already finished, {run.Failed} failed, wall time {StudyRunner.Clock(run.Elapsed)} with {workers} parallel job{(workers == 1 ? "" : "s")}{(run.Cancelled ? " (interrupted)" : "")}.");
            EngineBuilds();
            md.AppendLine($"- Seeds per configuration: {manifest.Seeds}; base learning rate {R(manifest.BaseLearningRate)}; learning rates {string.Join(", ", manifest.LearningRates.Select(R))}; depths {string.Join(", ", manifest.Depths)}; depth and rate sweeps on `{manifest.SweepTask}`.");
            md.AppendLine();
            Tasks();
            Method();
            string placements = PlacementSections();
            string pairedText = PairedSectionText();
            string depth = DepthSectionText();
            string rates = RateSectionText();
            string cost = CostSectionText();
            md.AppendLine("## Verdict");
            md.AppendLine();
            if (results.Count < manifest.PlannedJobs.Count)
            {
                // A verdict from part of the plan names winners among the placements that happened to finish (one
                // finished placement was "the best, 1 of 1 tied"): none until every planned job has its result.
                md.AppendLine($"**No verdict**: {results.Count} of {manifest.PlannedJobs.Count} planned jobs have results, and comparing the placements that " +
                              "happen to have finished would answer a question nobody asked. Re-run the same command to finish the study " +
                              "(finished jobs are kept); failed jobs are retried. The tables below show the finished jobs only.");
                md.AppendLine();
            }
            else
            {
                md.AppendLine("Generated from the numbers below. \"Separated\" means the mean ± std intervals over seeds do not overlap; \"overlapping\" means the data cannot tell the two apart. " +
                              "The paired comparison with `none` (per-seed differences, a Student-t interval) is reported beside that screen and changes none of its verdicts.");
                md.AppendLine();
                md.Append(VerdictPlacement()).Append(VerdictDepth()).Append(VerdictRate()).Append(VerdictCost());
                WeakEvidence();
                md.AppendLine("### Where the evidence is weak");
                md.AppendLine();
                foreach (string line in weak) md.AppendLine($"- {line}");
                md.AppendLine();
            }
            md.Append(placements).Append(pairedText).Append(depth).Append(rates).Append(cost);
            md.AppendLine("## Files");
            md.AppendLine();
            md.AppendLine("- `results.csv`: one row per job (per-epoch lists are `;`-separated); `results.json`: the same plus per-configuration summaries, the paired comparisons and the study manifest.");
            md.AppendLine($"- `{PairedCsvFile}`: every placement against `none` of the same task, architecture, depth and learning rate, paired by seed (the placement section above, and the depth and rate sweeps), with each comparison's p-value and its Holm-adjusted p-value within its group.");
            md.AppendLine("- `jobs/<id>.json`: one file per finished job; the report is rebuilt from these (`compare --report-only --out <this folder>`).");
            return md.ToString();
        }

        /// <summary>The header's line on the engine builds the results come from, with a count per build.</summary>
        private void EngineBuilds()
        {
            // The cost section's timings name their build too when it is not the results' (one build) build.
            if (timing is not null && (results.Count == 0 || results.Any(r => r.EngineBuild != timing.EngineBuild)))
                md.AppendLine($"- Engine build of the cost timings ({TimingProbe.FileName}): {EngineIdentity.Describe(timing.EngineBuild)}" +
                              (timing.EngineBuild == EngineIdentity.Current ? " (the build that wrote this report)" : "") +
                              Commits(new[] { EngineIdentity.RecordedCommit(timing.Commit, timing.EngineBuild) }, ", ") +
                              (results.Count > 0 ? " — **not the build of every result below**." : "."));
            if (results.Count == 0) return;
            var builds = results.GroupBy(r => r.EngineBuild).OrderByDescending(g => g.Count()).ThenBy(g => g.Key ?? "", StringComparer.Ordinal).ToList();
            string This(string? build) => build == EngineIdentity.Current ? " (the build that wrote this report)" : "";
            string CommitsOf(IEnumerable<JobResult> jobs, string lead) => Commits(jobs.Select(r => EngineIdentity.RecordedCommit(r.Commit, r.EngineBuild)), lead);
            if (builds.Count == 1)
            {
                md.AppendLine($"- Engine build of the results: {EngineIdentity.Describe(builds[0].Key)}, all {results.Count} jobs{This(builds[0].Key)}{CommitsOf(results, "; ")}.");
                return;
            }
            md.AppendLine($"- Engine builds: **the results come from {builds.Count} different engine builds**, so their numbers may not be comparable: " +
                          string.Join("; ", builds.Select(g => $"{EngineIdentity.Describe(g.Key)}{This(g.Key)}: {g.Count()} job{(g.Count() == 1 ? "" : "s")}{CommitsOf(g, ", ")}")) +
                          ". Running the study's command again (without --reuse-other-builds) reruns every job not from the build that runs it.");
        }

        /// <summary>The commits builds were made from (information: one build can come from several commits that differ
        /// only in docs or tests), e.g. "; built from commit b531d51"; empty when none is recorded.</summary>
        private static string Commits(IEnumerable<string?> commits, string lead)
        {
            var known = commits.OfType<string>().Select(EngineIdentity.ShortCommit).Distinct().Order(StringComparer.Ordinal).ToList();
            return known.Count == 0 ? "" : $"{lead}built from commit{(known.Count == 1 ? "" : "s")} {string.Join(", ", known)}";
        }

        private void Tasks()
        {
            md.AppendLine("## Tasks");
            md.AppendLine();
            md.AppendLine("| task | data | metric | naive baseline | target (epochs to target) |");
            md.AppendLine("|---|---|---|---|---|");
            foreach (TaskInfo t in manifest.Tasks)
                md.AppendLine($"| `{t.Name}` | {t.Description} | {t.MetricName} ({(t.HigherIsBetter ? "higher" : "lower")} is better) | {M(t.Baseline)} ({t.BaselineName}) | {(t.HigherIsBetter ? "≥" : "≤")} {M(t.Target)} |");
            var ran = manifest.Tasks.Select(t => t.Name).Where(n => results.Any(r => r.Task == n)).ToList();
            md.AppendLine();
            md.AppendLine($"Tasks with results: {(ran.Count > 0 ? string.Join(", ", ran.Select(n => $"`{n}`")) : "none")}. Not run in this study: {NotRun()}.");
            md.AppendLine();
        }

        /// <summary>The seed architecture's units as the jobs trained them, e.g. "16 then 32" (tasks that differ: each, with its task).</summary>
        private string SeedUnits()
        {
            var byUnits = results.Where(r => r.Architecture == Architectures.Seed)
                .GroupBy(r => string.Join(" then ", r.Units)).ToList();
            if (byUnits.Count == 0) return "the tasks' own";
            if (byUnits.Count == 1) return byUnits[0].Key;
            return string.Join("; ", byUnits.Select(g => $"{g.Key} ({string.Join(", ", g.Select(r => $"`{r.Task}`").Distinct())})"));
        }

        private string NotRun()
        {
            var missing = StudyTasks.Names.Where(n => n != "sine" && !manifest.Tasks.Any(t => t.Name == n)).Select(n => $"`{n}`").ToList();
            return missing.Count > 0 ? string.Join(", ", missing) : "none of the standard tasks";
        }

        private void Method()
        {
            md.AppendLine("## Method");
            md.AppendLine();
            md.AppendLine($"- **seed** architecture: the seed model's shape, Bidirectional LSTM layers of {SeedUnits()} units per direction, dropout and recurrent dropout {R(Architectures.SeedDropout)}, a Dense head (the seed model itself has 100 then 200). **stack** architecture (depth sweep): unidirectional LSTM layers of equal width, no dropout, so depth alone is what changes.");
            md.AppendLine("- Placements: `none`; `after-each` (LayerNorm after every recurrent layer: the seed model); `before-dense` (one LayerNorm before the Dense); `pre-norm` (one before every recurrent layer, the first on the raw input); `in-cell:<preset>` (LayerNorm inside every LSTM cell, presets `keras-gates` = summed gate pre-activations, `keras-snippet` = gates and hidden output, `ba2016` = separate input/recurrent gate norms and the cell state inside tanh, `tf-addons` = separate gate norms and the carried cell state); `in-cell+after:<preset>` (both).");
            md.AppendLine($"- Training: `Trainer` with Adam, batch size per task (32), gradients clipped to global norm {R(Architectures.ClipNorm)} (the recorded gradient norms are before clipping), weights, shuffling and dropout seeded by the job's seed. The same seed gives the same recurrent initial weights for every placement (LayerNorm starts at γ = 1, β = 0), so placements are compared on paired starts.");
            md.AppendLine("- Final metric and loss: validation set, final weights. A run whose loss or gradient stops being finite is recorded as **diverged**; its final numbers are those of the last good step's weights.");
            md.AppendLine($"- Loss spike: a training batch whose loss exceeds {R(JobRunner.SpikeFactor)} × the median of the previous {JobRunner.SpikeWindow} batch losses (counted once {JobRunner.SpikeMinimumHistory} batches of history exist).");
            md.AppendLine("- Seconds per epoch: the median over a job's epochs (training plus validation), so the first epoch's JIT warm-up does not count. Jobs ran concurrently on a shared machine: treat small time differences as noise.");
            md.AppendLine("- LNs: LayerNorm operations in the model, counting each direction's cell LayerNorms (a separate-gates cell has two).");
            md.AppendLine();
        }

        // ---------------- sections with tables and plots ----------------

        private string PlacementSections()
        {
            var text = new StringBuilder();
            text.AppendLine("## Placements (seed architecture, base learning rate)");
            text.AppendLine();
            foreach (string task in TaskOrder)
            {
                List<ConfigSummary> rows = PlacementSection(task);
                if (rows.Count == 0) continue;
                TaskInfo info = Info(task);
                text.AppendLine($"### `{task}`");
                text.AppendLine();
                Table(text, rows, s => $"`{s.Placement}`", "placement");
                string loss = $"loss_{task}.svg", metric = $"metric_{task}.svg";
                Svgs.Add((loss, SvgChart.Lines($"{task}: validation loss per epoch (mean, band = min–max over seeds)", "epoch", "validation loss",
                    rows.Select(s => new ChartSeries(s.Placement, Enumerable.Range(1, s.ValidationLossMean.Count).Select(e => (double)e).ToList(),
                        s.ValidationLossMean, s.ValidationLossMin, s.ValidationLossMax, PlacementColor(s.Placement))).ToList())));
                Svgs.Add((metric, SvgChart.Dots($"{task}: final {info.MetricName} per placement (mean ± std)", info.MetricName,
                    rows.Select(s => s.Placement).ToList(),
                    new[] { new ChartSeries("", rows.Select((_, k) => (double)k).ToList(), rows.Select(s => s.MetricMean).ToList(),
                        rows.Select(s => s.MetricMean - Z(s.MetricStd)).ToList(), rows.Select(s => s.MetricMean + Z(s.MetricStd)).ToList()) },
                    info.Baseline, "naive baseline")));
                text.AppendLine($"![validation loss curves, {task}]({loss})");
                text.AppendLine();
                var diverged = rows.Where(s => s.Diverged > 0).ToList();
                if (diverged.Count > 0)
                {
                    // The curves average the runs that completed each epoch; a run that diverged in its first epoch has no point.
                    text.AppendLine("Diverged runs leave the curves after their last complete epoch (epochs each completed): " +
                                    string.Join(", ", diverged.Select(s => $"`{s.Placement}` {s.Diverged}/{s.Runs} ({string.Join(", ", s.DivergedRunEpochs)})")) + ".");
                    text.AppendLine();
                }
                text.AppendLine($"![final metric per placement, {task}]({metric})");
                text.AppendLine();
            }
            return text.ToString();
        }

        private string PairedSectionText()
        {
            var rows = PairedSections();
            if (rows.Count == 0) return "";
            var text = new StringBuilder();
            text.AppendLine("## Paired comparison with `none` (seed architecture, base learning rate)");
            text.AppendLine();
            text.AppendLine("The same seed gives every placement the same initial recurrent weights, shuffling and dropout masks, so each placement is compared with `none` " +
                            "seed by seed: d = its final metric − `none`'s on the same seed, signed so that **+ is better than `none`** (for a lower-is-better metric, " +
                            "d = `none`'s − its), in the metric's units. Pairs: the seeds both have with a finite metric (runs without a partner are left out and counted). " +
                            "95 % CI: d̄ ± t(0.975, n − 1) · s_d / √n, Student's t with n − 1 degrees of freedom; one pair gives no spread and no interval. " +
                            "Paired: **better** or **worse** when the interval excludes 0, *not told apart* when it holds 0. " +
                            "p: the two-sided p-value of the paired t statistic d̄ / (s_d / √n) (below 0.05 exactly when the interval excludes 0; 0 when every seed's d is the same non-zero value). " +
                            "Holm p: the p-value adjusted by Holm's step-down method within the task's family, its m placements compared with the same `none` (those with a p-value); " +
                            "a separation **survives Holm** when its Holm p is at most 0.05, which holds the chance that any of the task's m comparisons separates by chance alone at 5 % " +
                            "(tasks are not corrected against each other). Wins: seeds where the placement did strictly better. " +
                            "Diverged runs count with the metric of their last good weights, as in the tables above. " +
                            "The last column is the verdict's mean ± std screen for the same two configurations; the paired result does not change the verdict.");
            text.AppendLine();
            text.AppendLine("| task | placement | pairs | mean d | std d | 95 % CI (t) | p | Holm p (m) | wins | paired | mean ± std screen |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (PairedComparison c in rows)
            {
                string pairs = c.Pairs + (c.Unpaired > 0 ? $" ({c.Unpaired} run{(c.Unpaired == 1 ? "" : "s")} unpaired)" : "");
                string ci = c.Pairs < 2 ? "– (no interval from one pair)" : $"[{D(c.Low)}, {D(c.High)}] (t = {c.TQuantile.ToString("F3", CultureInfo.InvariantCulture)})";
                string wins = c.Pairs == 0 ? "–" : $"{c.Wins}/{c.Pairs}{(c.Ties > 0 ? $" ({c.Ties} tie{(c.Ties == 1 ? "" : "s")})" : "")}";
                string verdict = c.Sign != 0 ? $"**{c.Verdict}**{(c.SurvivesHolm ? ", survives Holm" : ", not after Holm")}" : c.Pairs >= 2 ? $"*{c.Verdict}*" : c.Verdict;
                string screen = Screen(c) switch { > 0 => "separated, better", < 0 => "separated, worse", 0 => "overlapping", _ => "–" };
                string holm = double.IsNaN(c.HolmPValue) ? "–" : $"{P(c.HolmPValue)} ({c.FamilySize})";
                text.AppendLine($"| `{c.Task}` | `{c.Placement}` | {pairs} | {D(c.MeanDifference)} | {F(c.StdDifference, "G3")} | {ci} | {P(c.PValue)} | {holm} | {wins} | {verdict} | {screen} |");
            }
            text.AppendLine();
            return text.ToString();
        }

        /// <summary>A paired difference: signed, 3 significant digits, "–" where there is none.</summary>
        private static string D(double value) => double.IsFinite(value) ? Signed(value) : "–";

        /// <summary>A p-value to 3 decimals ("&lt; 0.001" below, "0" for exactly 0), "–" where there is none.</summary>
        private static string P(double p) => double.IsNaN(p) ? "–" : p == 0 ? "0" : p < 0.0005 ? "< 0.001" : p.ToString("F3", CultureInfo.InvariantCulture);

        /// <summary>The verdict's line on the paired comparisons: how many the interval separates, beside the screen's count.</summary>
        private string PairedVerdictLine()
        {
            var rows = PairedSections();
            if (rows.Count == 0) return "";
            var withInterval = rows.Where(c => c.Pairs >= 2).ToList();
            string Names(int sign, bool holm = false) => string.Join(", ", withInterval.Where(c => c.Sign == sign && (!holm || c.SurvivesHolm)).Select(c => $"`{c.Placement}` on `{c.Task}`"));
            int better = withInterval.Count(c => c.Sign > 0), worse = withInterval.Count(c => c.Sign < 0);
            int holmBetter = withInterval.Count(c => c.Sign > 0 && c.SurvivesHolm), holmWorse = withInterval.Count(c => c.Sign < 0 && c.SurvivesHolm);
            string families = string.Join(", ", TaskOrder.Select(t => withInterval.Where(c => c.Task == t).Select(c => c.FamilySize).FirstOrDefault()).Where(m => m > 0).Distinct());
            int screened = rows.Count(c => Screen(c) is int v && v != 0);
            var line = new StringBuilder("Paired check (beside the rules above, not part of them): ");
            line.Append(withInterval.Count == 0
                ? $"no placement-vs-`none` comparison has two pairs, so there is no paired interval ({rows.Count} comparison{(rows.Count == 1 ? "" : "s")} of one pair or none)."
                : $"the 95 % t interval of the per-seed difference excludes 0 in {better + worse} of {withInterval.Count} placement-vs-`none` comparisons " +
                  $"(better: {(better > 0 ? Names(1) : "—")}; worse: {(worse > 0 ? Names(-1) : "—")}); " +
                  $"**{holmBetter + holmWorse} of these {better + worse} survive{(holmBetter + holmWorse == 1 ? "s" : "")} Holm's correction** within each task's family of {families} comparison{(families == "1" ? "" : "s")} with `none` " +
                  $"(better: {(holmBetter > 0 ? Names(1, holm: true) : "—")}; worse: {(holmWorse > 0 ? Names(-1, holm: true) : "—")}); " +
                  $"the mean ± std screen separates {screened} of the {rows.Count}." +
                  (withInterval.Count < rows.Count ? $" {rows.Count - withInterval.Count} comparison{(rows.Count - withInterval.Count == 1 ? " has" : "s have")} fewer than two pairs and no interval." : ""));
            return line.ToString();
        }

        private string DepthSectionText()
        {
            List<ConfigSummary> rows = DepthSection();
            if (rows.Count == 0) return "";
            var text = new StringBuilder();
            TaskInfo info = Info(manifest.SweepTask);
            text.AppendLine($"## Depth sweep (`{manifest.SweepTask}`, stack architecture, base learning rate)");
            text.AppendLine();
            Table(text, rows, s => $"`{s.Placement}` depth {s.Depth}", "placement, depth");
            var placements = rows.Select(s => s.Placement).Distinct().ToList();
            var depths = rows.Select(s => s.Depth).Distinct().Order().ToList();
            var series = depths.Select(d =>
            {
                var at = placements.Select(p => rows.FirstOrDefault(s => s.Placement == p && s.Depth == d)).ToList();
                return new ChartSeries($"depth {d}", at.Select((_, k) => (double)k).ToList(), at.Select(s => s?.MetricMean ?? double.NaN).ToList(),
                    at.Select(s => s is null ? double.NaN : s.MetricMean - Z(s.MetricStd)).ToList(), at.Select(s => s is null ? double.NaN : s.MetricMean + Z(s.MetricStd)).ToList());
            }).ToList();
            Svgs.Add(("depth.svg", SvgChart.Dots($"{manifest.SweepTask}: final {info.MetricName} per placement and depth (mean ± std)", info.MetricName, placements, series, info.Baseline, "naive baseline")));
            text.AppendLine("![final metric per placement and depth](depth.svg)");
            text.AppendLine();
            return text.ToString();
        }

        private string RateSectionText()
        {
            List<ConfigSummary> rows = RateSection();
            if (rows.Count == 0) return "";
            var text = new StringBuilder();
            TaskInfo info = Info(manifest.SweepTask);
            text.AppendLine($"## Learning-rate sweep (`{manifest.SweepTask}`, seed architecture)");
            text.AppendLine();
            Table(text, rows, s => $"`{s.Placement}` lr {R(s.LearningRate)}", "placement, rate");
            var series = rows.GroupBy(s => s.Placement).Select(g => new ChartSeries(g.Key, g.Select(s => s.LearningRate).ToList(), g.Select(s => s.MetricMean).ToList(),
                g.Select(s => s.MetricMean - Z(s.MetricStd)).ToList(), g.Select(s => s.MetricMean + Z(s.MetricStd)).ToList(), PlacementColor(g.Key))).ToList();
            Svgs.Add(("lr.svg", SvgChart.Lines($"{manifest.SweepTask}: final {info.MetricName} against learning rate (mean ± std)", "learning rate (log scale)", info.MetricName,
                series, bands: false, logX: true, referenceY: info.Baseline, referenceLabel: "naive baseline")));
            text.AppendLine("![final metric against learning rate](lr.svg)");
            text.AppendLine();
            return text.ToString();
        }

        private string CostSectionText()
        {
            var text = new StringBuilder();
            var tasks = TaskOrder.ToList();
            var placements = manifest.Placements.Where(p => tasks.Any(t => PlacementSection(t).Any(s => s.Placement == p))).ToList();
            if (placements.Count == 0) return "";
            text.AppendLine("## Time per epoch and per batch (seed architecture)");
            text.AppendLine();
            if (timing is not null)
            {
                text.AppendLine($"Interleaved timing (the cost answer): one thread, each placement trained for {timing.BatchesPerRound} batches in turn, {timing.Rounds} rounds in rotating order after a warm-up round; " +
                                "" + $"each sample repeats the batches for at least {TimingProbe.MinimumSampleSeconds} s (a sample whose training diverged is dropped). Shown: the fastest round's milliseconds per training batch (forward, backward, clipping, Adam step) with the slowest round's; the ratio of the fastest rounds to `none`'s, with the range of the per-round ratios.");
                text.AppendLine();
                text.AppendLine("| placement | LNs | " + string.Join(" | ", tasks.Select(t => $"`{t}` ms/batch | × none")) + " |");
                text.AppendLine("|---|---|" + string.Concat(tasks.Select(_ => "---|---|")));
                foreach (string p in placements)
                {
                    var cells = new List<string>();
                    int lns = -1;
                    foreach (string t in tasks)
                    {
                        TimingResult? r = timing.Results.FirstOrDefault(x => x.Task == t && x.Placement == p);
                        if (r is not null) lns = r.LayerNormCount;
                        double ratio = TimingRatio(t, p);
                        cells.Add(r is null ? "–" : $"{1000 * r.SecondsPerBatch:F1} (slowest {1000 * r.MaxSecondsPerBatch:F1})");
                        cells.Add(r?.RatioToNone is double x ? $"{x:F2} ({r.MinRatioToNone:F2}–{r.MaxRatioToNone:F2})" : "–");
                    }
                    text.AppendLine($"| `{p}` | {lns} | {string.Join(" | ", cells)} |");
                }
                var series = tasks.Select(t =>
                {
                    var rows = placements.Select(p => timing.Results.FirstOrDefault(x => x.Task == t && x.Placement == p)).ToList();
                    return new ChartSeries(t, rows.Select((_, k) => (double)k).ToList(), rows.Select(r => r?.RatioToNone ?? double.NaN).ToList(),
                        rows.Select(r => r?.MinRatioToNone ?? double.NaN).ToList(), rows.Select(r => r?.MaxRatioToNone ?? double.NaN).ToList());
                }).ToList();
                Svgs.Add(("time.svg", SvgChart.Dots("Training time per batch relative to no LayerNorm (fastest rounds; bars: per-round range)", "time per batch / none", placements, series, 1.0, "none = 1")));
                text.AppendLine();
                text.AppendLine("![time per batch per placement](time.svg)");
                text.AppendLine();
            }
            text.AppendLine("Seconds per epoch of the study's own jobs (median epoch per job; mean ± std over seeds). These ran concurrently with other jobs" +
                            (timing is null ? ", so treat them as rough: no interleaved timing was recorded for this report." : "; the interleaved timing above is the cleaner cost measure."));
            text.AppendLine();
            text.AppendLine("| placement | " + string.Join(" | ", tasks.Select(t => $"`{t}` s/epoch | × none")) + " |");
            text.AppendLine("|---|" + string.Concat(tasks.Select(_ => "---|---|")));
            foreach (string p in placements)
            {
                var cells = new List<string>();
                foreach (string t in tasks)
                {
                    ConfigSummary? s = PlacementSection(t).FirstOrDefault(c => c.Placement == p);
                    double ratio = Ratio(t, p);
                    cells.Add(s is null ? "–" : $"{F(s.SecondsPerEpochMean, "F3")} ± {Std(s.SecondsPerEpochStd, "F3")}");
                    cells.Add(double.IsFinite(ratio) ? $"{ratio:F2}" : "–");
                }
                text.AppendLine($"| `{p}` | {string.Join(" | ", cells)} |");
            }
            text.AppendLine();
            if (timing is null)
            {
                var series = tasks.Select(t =>
                {
                    var rows = placements.Select(p => PlacementSection(t).FirstOrDefault(c => c.Placement == p)).ToList();
                    double scale = PlacementSection(t).FirstOrDefault(c => c.Placement == "none")?.SecondsPerEpochMean ?? double.NaN;
                    return new ChartSeries(t, rows.Select((_, k) => (double)k).ToList(), rows.Select(s => s is null ? double.NaN : s.SecondsPerEpochMean / scale).ToList(),
                        rows.Select(s => s is null ? double.NaN : (s.SecondsPerEpochMean - Z(s.SecondsPerEpochStd)) / scale).ToList(),
                        rows.Select(s => s is null ? double.NaN : (s.SecondsPerEpochMean + Z(s.SecondsPerEpochStd)) / scale).ToList());
                }).ToList();
                Svgs.Add(("time.svg", SvgChart.Dots("Time per epoch relative to no LayerNorm (mean ± std over seeds)", "seconds per epoch / none", placements, series, 1.0, "none = 1")));
                text.AppendLine("![time per epoch per placement](time.svg)");
                text.AppendLine();
            }
            return text.ToString();
        }

        private double TimingRatio(string task, string placement)
        {
            TimingResult? r = timing?.Results.FirstOrDefault(x => x.Task == task && x.Placement == placement);
            return r?.RatioToNone ?? double.NaN;
        }

        private static void Table(StringBuilder text, IEnumerable<ConfigSummary> rows, Func<ConfigSummary, string> label, string header)
        {
            text.AppendLine($"| {header} | LNs | params | final metric | final val loss | reached target | epochs to target | spikes / run | diverged | max grad norm | s/epoch |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (ConfigSummary s in rows)
                text.AppendLine($"| {label(s)} | {s.LayerNormCount} | {s.ParameterCount:N0} | {MS(s)} | {F(s.LossMean, "F4")} ± {Std(s.LossStd, "F4")} | {s.ReachedTarget}/{s.Runs} | " +
                                $"{(double.IsFinite(s.EpochsToTargetMean) ? s.EpochsToTargetMean.ToString("F1", CultureInfo.InvariantCulture) : "–")} | {F(s.SpikesMean, "F1")} | {s.Diverged}/{s.Runs} | {F(s.MaxGradientNorm, "F1")} | {F(s.SecondsPerEpochMean, "F3")} |");
            text.AppendLine();
        }

        // ---------------- verdict ----------------

        private string VerdictPlacement()
        {
            var text = new StringBuilder();
            text.AppendLine("### Where should LayerNorm go, and how many?");
            text.AppendLine();
            var ranks = new Dictionary<string, List<double>>();
            var informative = new List<string>();
            foreach (string task in TaskOrder)
            {
                List<ConfigSummary> rows = PlacementSection(task);
                if (rows.Count == 0) continue;
                TaskInfo info = Info(task);
                var ranked = rows.OrderByDescending(s => (s.HigherIsBetter ? 1 : -1) * s.MetricMean).ToList();
                ConfigSummary best = ranked[0];
                // Placements with the best mean exactly (accuracies are multiples of 1/N): all of them are the best.
                var bests = ranked.TakeWhile(s => SameMean(s, best)).ToList();
                // Informative: the best beats the naive baseline by more than 5 % of it and by more than its own spread.
                double margin = (info.HigherIsBetter ? 1 : -1) * (best.MetricMean - info.Baseline);
                bool beatsBaseline = margin > 0.05 * Math.Abs(info.Baseline) && !(margin <= Z(best.MetricStd));
                var tied = ranked.Where(s => bests.Any(b => s.Versus(b) == 0)).ToList();
                // Every tied placement with the fewest LayerNorms is named: breaking that tie by seconds per epoch let
                // timing noise choose the placement, and the same seeds gave different verdicts.
                int fewest = tied.Min(s => s.LayerNormCount);
                var cheapest = tied.Where(s => s.LayerNormCount == fewest).ToList();
                ConfigSummary? none = rows.FirstOrDefault(s => s.Placement == "none");
                ConfigSummary? seed = rows.FirstOrDefault(s => s.Placement == "after-each");
                text.Append($"- **`{task}`** ({info.MetricName}): best {string.Join(" and ", bests.Select(b => $"`{b.Placement}` {MS(b)}"))}{(bests.Count > 1 ? " (equal means)" : "")}");
                if (none is not null && !bests.Contains(none)) text.Append($"; `none` {MS(none)} ({RelationToBest(bests, none)})");
                if (seed is not null && !bests.Contains(seed)) text.Append($"; the seed's `after-each` {MS(seed)} ({RelationToBest(bests, seed)})");
                text.Append($". Tied with the best (overlapping): {tied.Count} of {rows.Count} placements ({string.Join(", ", tied.Select(t => $"`{t.Placement}`"))})");
                text.Append($"; the fewest LayerNorms among them: {string.Join(", ", cheapest.Select(c => $"`{c.Placement}`"))} ({fewest}).");
                var divergedRows = rows.Where(s => s.Diverged > 0).ToList();
                if (divergedRows.Count > 0)
                    text.Append($" Diverged runs: {string.Join(", ", divergedRows.Select(s => $"`{s.Placement}` {s.Diverged}/{s.Runs}"))} (their final numbers are those of the last good weights).");
                if (!beatsBaseline)
                {
                    text.Append($" No placement beat the naive baseline ({M(info.Baseline)}) by more than 5 % and its spread: this task does not discriminate at this budget, so it is left out of the ranking below.");
                    weak.Add($"`{task}`: no configuration beat the naive baseline ({info.BaselineName}, {M(info.Baseline)}) by more than its spread; its ranking is noise.");
                }
                else
                {
                    informative.Add(task);
                    for (int k = 0; k < ranked.Count; k++)
                    {
                        // Equal means share the average of their positions (fractional ranking), so no tie is broken by the placement order.
                        int first = ranked.FindIndex(s => SameMean(s, ranked[k])), last = ranked.FindLastIndex(s => SameMean(s, ranked[k]));
                        if (!ranks.TryGetValue(ranked[k].Placement, out var list)) ranks[ranked[k].Placement] = list = new List<double>();
                        list.Add(0.5 * (first + last) + 1);
                    }
                    var better = none is null ? new List<string>() : rows.Where(s => s.Versus(none) > 0).Select(s => $"`{s.Placement}`").ToList();
                    var worse = none is null ? new List<string>() : rows.Where(s => s.Versus(none) < 0).Select(s => $"`{s.Placement}`").ToList();
                    if (none is not null)
                        text.Append($" Separated from `none`: better {(better.Count > 0 ? string.Join(", ", better) : "—")}; worse {(worse.Count > 0 ? string.Join(", ", worse) : "—")}.");
                }
                text.AppendLine();
            }
            text.AppendLine();
            if (informative.Count > 0)
            {
                var average = ranks.Where(p => p.Value.Count == informative.Count).Select(p => (Placement: p.Key, Rank: p.Value.Average())).OrderBy(p => p.Rank).ToList();
                text.AppendLine($"Mean rank over the {informative.Count} informative task{(informative.Count == 1 ? "" : "s")} ({string.Join(", ", informative.Select(t => $"`{t}`"))}; 1 = best): " +
                                string.Join(", ", average.Select(p => $"`{p.Placement}` {p.Rank:F1}")) + ".");
                text.AppendLine();
                if (average.Count > 0)
                {
                    var tops = average.Where(p => Math.Abs(p.Rank - average[0].Rank) <= 1e-9).Select(p => p.Placement).ToList();
                    int SeparatedSomewhere(string top) => informative.Count(t =>
                    {
                        var rows = PlacementSection(t);
                        ConfigSummary? a = rows.FirstOrDefault(s => s.Placement == top), n = rows.FirstOrDefault(s => s.Placement == "none");
                        return a is not null && n is not null && a.Versus(n) > 0;
                    });
                    bool noneTied = informative.All(t =>
                    {
                        var rows = PlacementSection(t);
                        var best = rows.OrderByDescending(s => (s.HigherIsBetter ? 1 : -1) * s.MetricMean).First();
                        ConfigSummary? n = rows.FirstOrDefault(s => s.Placement == "none");
                        return n is not null && rows.Where(s => SameMean(s, best)).Any(b => n.Versus(b) == 0);
                    });
                    string topText = tops.Count == 1
                        ? $"the best placement on average is `{tops[0]}`; it is separated from no LayerNorm on {SeparatedSomewhere(tops[0])} of {informative.Count} informative task(s). "
                        : $"the best mean rank ({average[0].Rank:F1}) is shared by {string.Join(" and ", tops.Select(p => $"`{p}`"))}" +
                          string.Concat(tops.Where(p => p != "none").Select(p => $"; `{p}` is separated from no LayerNorm on {SeparatedSomewhere(p)} of {informative.Count} informative task(s)")) + ". ";
                    text.AppendLine("**Answer:** " + topText +
                                    (noneTied ? "No LayerNorm at all is tied with the best on every informative task, so at this scale the data do not show that LayerNorm is needed. " : "") +
                                    "The fewest LayerNorms that tie the best, per task, are listed above: more LayerNorms than that bought nothing measurable here.");
                }
            }
            else
            {
                text.AppendLine("**Answer:** no task discriminated between placements at this budget (nothing beat its naive baseline clearly).");
            }
            text.AppendLine();
            string pairedLine = PairedVerdictLine();
            if (pairedLine.Length > 0) { text.AppendLine(pairedLine); text.AppendLine(); }
            return text.ToString();
        }

        private string VerdictDepth()
        {
            List<ConfigSummary> rows = DepthSection();
            var text = new StringBuilder();
            text.AppendLine("### Do deep stacks need in-cell normalization?");
            text.AppendLine();
            if (rows.Count == 0) { text.AppendLine("Not tested in this study (one depth, or the depth sweep did not run)."); text.AppendLine(); return text.ToString(); }
            int deepest = rows.Max(s => s.Depth), shallowest = rows.Min(s => s.Depth);
            var deep = rows.Where(s => s.Depth == deepest).OrderByDescending(s => (s.HigherIsBetter ? 1 : -1) * s.MetricMean).ToList();
            ConfigSummary best = deep[0];
            var bests = deep.TakeWhile(s => SameMean(s, best)).ToList();   // equal means share the best, whatever the placement order
            ConfigSummary? none = deep.FirstOrDefault(s => s.Placement == "none");
            ConfigSummary? inCell = deep.Where(s => s.Placement.StartsWith("in-cell", StringComparison.Ordinal)).FirstOrDefault();
            ConfigSummary? between = deep.Where(s => s.Placement != "none" && !s.Placement.StartsWith("in-cell", StringComparison.Ordinal)).FirstOrDefault();
            text.AppendLine($"On `{manifest.SweepTask}` at depth {deepest}: " +
                            (bests.Count == 1 ? $"best `{best.Placement}` {MS(best)}" : $"best (equal means) {string.Join(", ", bests.Select(s => $"`{s.Placement}` {MS(s)}"))}") +
                            (none is not null && !bests.Contains(none) ? $"; `none` {MS(none)}" : "") + ".");
            foreach (string p in rows.Select(s => s.Placement).Distinct())
            {
                ConfigSummary? a = rows.FirstOrDefault(s => s.Placement == p && s.Depth == shallowest), b = rows.FirstOrDefault(s => s.Placement == p && s.Depth == deepest);
                if (a is null || b is null || shallowest == deepest) continue;
                text.AppendLine($"- `{p}`: depth {shallowest} {MS(a)} → depth {deepest} {MS(b)} (change {Signed(b.Advantage(a))}{(b.Diverged > 0 ? $", {b.Diverged} diverged" : "")}).");
            }
            text.AppendLine();
            // Three comparisons at the deepest stack: in-cell alone vs none, between-layer alone vs none, and in-cell
            // added on top of between-layer LayerNorm vs that between-layer LayerNorm.
            ConfigSummary? cellOnly = deep.FirstOrDefault(s => s.Placement.StartsWith("in-cell:", StringComparison.Ordinal));
            ConfigSummary? afterEach = deep.FirstOrDefault(s => s.Placement == "after-each");
            ConfigSummary? combined = deep.FirstOrDefault(s => s.Placement.StartsWith("in-cell+after", StringComparison.Ordinal));
            var parts = new List<string>();
            if (cellOnly is not null && none is not null) parts.Add($"in-cell alone (`{cellOnly.Placement}` {MS(cellOnly)}) vs `none` {MS(none)}: {Relation(cellOnly, none)}");
            if (between is not null && none is not null) parts.Add($"between-layer alone (`{between.Placement}` {MS(between)}) vs `none`: {Relation(between, none)}");
            if (combined is not null && afterEach is not null) parts.Add($"in-cell added to `after-each` (`{combined.Placement}` {MS(combined)}) vs `after-each` {MS(afterEach)}: {Relation(combined, afterEach)}");
            string answer;
            if (parts.Count == 0 || none is null) answer = "cannot be answered: the depth sweep needs `none` and an in-cell placement.";
            else
            {
                bool cellHelps = (cellOnly is not null && cellOnly.Versus(none) > 0) || (combined is not null && afterEach is not null && combined.Versus(afterEach) > 0);
                bool cellHurts = cellOnly is not null && cellOnly.Versus(none) < 0;
                bool betweenHelps = between is not null && between.Versus(none) > 0;
                string yes = cellHelps ? "**yes**: in-cell LayerNorm is separated above the matching placement without it at the deepest stack"
                    : cellHurts ? "**no**: in-cell LayerNorm alone is separated *below* no LayerNorm at the deepest stack"
                    : betweenHelps ? "**not shown for in-cell**: the deep stack needed LayerNorm, but between layers; in-cell LayerNorm, alone or added, is not separated from the placement without it"
                    : "**not shown**: no LayerNorm placement is separated from `none` at the deepest stack";
                string trend = "";
                ConfigSummary? probe = cellOnly ?? combined;
                ConfigSummary? probeShallow = probe is null ? null : rows.FirstOrDefault(s => s.Placement == probe.Placement && s.Depth == shallowest);
                ConfigSummary? noneShallow = rows.FirstOrDefault(s => s.Placement == "none" && s.Depth == shallowest);
                if (probe is not null && probeShallow is not null && noneShallow is not null && shallowest != deepest)
                    trend = $" `{probe.Placement}` minus `none`: {Signed(probeShallow.Advantage(noneShallow))} at depth {shallowest}, {Signed(probe.Advantage(none))} at depth {deepest}.";
                answer = $"{yes} ({string.Join("; ", parts)}).{trend}";
            }
            text.AppendLine($"**Answer:** {answer}");
            text.AppendLine();
            return text.ToString();
        }

        private string VerdictRate()
        {
            List<ConfigSummary> rows = RateSection();
            var text = new StringBuilder();
            text.AppendLine("### Does LayerNorm tolerate larger learning rates?");
            text.AppendLine();
            if (rows.Count == 0) { text.AppendLine("Not tested in this study (one learning rate)."); text.AppendLine(); return text.ToString(); }
            double top = rows.Max(s => s.LearningRate);
            var drops = new Dictionary<string, (ConfigSummary Best, ConfigSummary Top, double LowestBestRate, double HighestBestRate)>();
            foreach (var group in rows.GroupBy(s => s.Placement))
            {
                ConfigSummary bestRate = group.OrderByDescending(s => (s.HigherIsBetter ? 1 : -1) * s.MetricMean).First();
                // Rates whose means equal the best share it: the line names them all, and "a larger best rate" must hold for each.
                var bestRates = group.Where(s => SameMean(s, bestRate)).Select(s => s.LearningRate).Order().ToList();
                ConfigSummary? atTop = group.FirstOrDefault(s => SameRate(s.LearningRate, top));
                if (atTop is null) continue;
                drops[group.Key] = (bestRate, atTop, bestRates[0], bestRates[^1]);
                string rateText = bestRates.Count == 1 ? $"best rate {R(bestRate.LearningRate)}" : $"best rates {string.Join(" and ", bestRates.Select(R))} (equal means)";
                text.AppendLine($"- `{group.Key}`: {rateText} {MS(bestRate)}; at {R(top)} {MS(atTop)} (loss from its best rate {Signed(atTop.Advantage(bestRate))}, " +
                                $"{atTop.Diverged}/{atTop.Runs} diverged, {F(atTop.SpikesMean, "F1")} spikes/run, max grad norm {F(atTop.MaxGradientNorm, "F1")}).");
            }
            text.AppendLine();
            if (!drops.TryGetValue("none", out var noneDrop) || drops.Count < 2)
            {
                text.AppendLine("**Answer:** cannot be answered: the sweep needs `none` and at least one LayerNorm placement.");
                text.AppendLine();
                return text.ToString();
            }
            var ln = drops.Where(p => p.Key != "none").ToList();
            int tolerant = ln.Count(p => p.Value.Top.Versus(noneDrop.Top) > 0);
            int worse = ln.Count(p => p.Value.Top.Versus(noneDrop.Top) < 0);
            int higherBestRate = ln.Count(p => p.Value.LowestBestRate > noneDrop.HighestBestRate);
            int smallerDrop = ln.Count(p => p.Value.Top.Advantage(p.Value.Best) > noneDrop.Top.Advantage(noneDrop.Best));
            string verdict = tolerant == ln.Count ? "**yes**: every LayerNorm placement is separated above `none` at the largest rate"
                : tolerant > 0 ? $"**partly**: {tolerant} of {ln.Count} LayerNorm placements are separated above `none` at the largest rate"
                : worse > 0 ? $"**no**: {worse} of {ln.Count} LayerNorm placements are separated *below* `none` at the largest rate and none above"
                : "**not shown**: at the largest rate every LayerNorm placement overlaps `none`";
            text.AppendLine($"**Answer:** {verdict}. {smallerDrop} of {ln.Count} LayerNorm placements lose less than `none` ({Signed(noneDrop.Top.Advantage(noneDrop.Best))}) when going from their best rate to {R(top)}; " +
                            $"{higherBestRate} of {ln.Count} have a larger best rate than `none` ({(noneDrop.LowestBestRate == noneDrop.HighestBestRate ? R(noneDrop.Best.LearningRate) : $"{R(noneDrop.LowestBestRate)}–{R(noneDrop.HighestBestRate)}, equal means")}).");
            if (rows.All(s => s.Diverged == 0)) weak.Add($"No run diverged even at the largest rate ({R(top)}, with global-norm clipping at {R(Architectures.ClipNorm)}): the sweep may not reach the rates where the claim would matter.");
            text.AppendLine();
            return text.ToString();
        }

        private string VerdictCost()
        {
            var text = new StringBuilder();
            text.AppendLine("### What does each LayerNorm cost in time?");
            text.AppendLine();
            var tasks = TaskOrder.ToList();
            var lines = new List<(string Placement, double Ratio, int Lns)>();
            foreach (string p in manifest.Placements.Where(p => p != "none"))
            {
                var ratios = tasks.Select(t => timing is null ? Ratio(t, p) : TimingRatio(t, p)).Where(double.IsFinite).ToList();
                if (ratios.Count == 0) continue;
                int lns = timing?.Results.FirstOrDefault(r => r.Placement == p)?.LayerNormCount
                          ?? tasks.Select(t => PlacementSection(t).FirstOrDefault(s => s.Placement == p)).FirstOrDefault(s => s is not null)?.LayerNormCount ?? 0;
                lines.Add((p, ratios.Average(), lns));
            }
            if (lines.Count == 0) { text.AppendLine("Not measurable: `none` or the LayerNorm placements have no results."); text.AppendLine(); return text.ToString(); }
            text.AppendLine(timing is not null
                ? "Training time per batch relative to `none` (interleaved single-thread timing, averaged over tasks), and the extra time per LayerNorm operation:"
                : "Time per epoch of the concurrent jobs relative to `none` (averaged over tasks; rough, no interleaved timing was recorded), and the extra time per LayerNorm operation:");
            text.AppendLine();
            // The per-round ratios (both timed seconds apart): on a task where some round had the placement as fast as
            // `none` or faster and some slower, its figure there mixes cost and the machine's noise. A cost is stated
            // only for a placement whose per-round ratios exclude 1 on every task it was timed on.
            List<TimingResult> Timed(string p) =>
                timing?.Results.Where(x => x.Placement == p && x.MinRatioToNone is not null && x.MaxRatioToNone is not null).ToList() ?? new List<TimingResult>();
            (double Low, double High)? Rounds(string p) =>
                Timed(p) is { Count: > 0 } r ? (r.Min(x => x.MinRatioToNone!.Value), r.Max(x => x.MaxRatioToNone!.Value)) : null;
            int Straddling(string p) => Timed(p).Count(x => x.MinRatioToNone <= 1 && 1 <= x.MaxRatioToNone);
            bool Noise(string p) => Straddling(p) > 0;
            foreach (var (placement, ratio, lns) in lines.OrderBy(l => l.Ratio))
                text.AppendLine($"- `{placement}`: × {ratio:F2} ({Signed(100 * (ratio - 1), "F0")} %), {lns} LN{(lns == 1 ? "" : "s")}" +
                                (lns > 0 ? $", {Signed(100 * (ratio - 1) / lns, "F1")} % each" : "") +
                                (Rounds(placement) is (double low, double high)
                                    ? string.Create(CultureInfo.InvariantCulture, $"; per-round ratios {low:F2}–{high:F2}{(!Noise(placement) ? "" : Straddling(placement) == Timed(placement).Count ? ", which include 1 on every task" : $", which include 1 on {Straddling(placement)} of {Timed(placement).Count} tasks")}") : "") + ".");
            var between = lines.Where(l => !l.Placement.StartsWith("in-cell", StringComparison.Ordinal)).ToList();
            var inCell = lines.Where(l => l.Placement.StartsWith("in-cell", StringComparison.Ordinal)).ToList();
            text.AppendLine();
            static string Span(List<(string Placement, double Ratio, int Lns)> group)
            {
                string low = Signed(100 * (group.Min(l => l.Ratio) - 1), "F0"), high = Signed(100 * (group.Max(l => l.Ratio) - 1), "F0");
                return low == high ? $"{low} %" : $"{low} to {high} %";
            }
            if (timing is null)
            {
                text.AppendLine("**Answer:** " + (between.Count > 0 ? $"between-layer LayerNorm costs {Span(between)} per training step; " : "") +
                                (inCell.Count > 0 ? $"in-cell LayerNorm costs {Span(inCell)} (it runs inside the time loop, at every step)." : ""));
            }
            else
            {
                // Only the costs the rounds tell apart from `none` are stated as costs.
                static string Names(IEnumerable<(string Placement, double Ratio, int Lns)> group) => string.Join(", ", group.Select(l => $"`{l.Placement}`"));
                var measuredBetween = between.Where(l => !Noise(l.Placement)).ToList();
                var measuredInCell = inCell.Where(l => !Noise(l.Placement)).ToList();
                var noise = lines.Where(l => Noise(l.Placement)).ToList();
                string betweenText = between.Count == 0 ? ""
                    : measuredBetween.Count > 0 ? $"between-layer LayerNorm costs {Span(measuredBetween)} per training step ({Names(measuredBetween)}); "
                    : "between-layer LayerNorm: no cost told apart from `none` on every task; ";
                string inCellText = inCell.Count == 0 ? ""
                    : measuredInCell.Count > 0 ? $"in-cell LayerNorm costs {Span(measuredInCell)} ({Names(measuredInCell)}; it runs inside the time loop, at every step)."
                    : "in-cell LayerNorm: no cost told apart from `none` on every task.";
                text.AppendLine("**Answer:** " + betweenText + inCellText +
                                (noise.Count > 0 ? $" Not told apart from `none` on every task (their per-round ratios include 1 on at least one task, so their figures mix cost and this machine's noise): {Names(noise)}." : ""));
            }
            text.AppendLine();
            return text.ToString();
        }

        private void WeakEvidence()
        {
            int seeds = summaries.Count > 0 ? summaries.Min(s => s.Runs) : 0;
            weak.Insert(0, $"{(seeds == manifest.Seeds ? "" : "At least ")}{seeds} seed{(seeds == 1 ? "" : "s")} per configuration: a standard deviation from so few runs is itself uncertain (with 3 runs it can be off by a factor of 2), and the separated/overlapping test is a rough screen, not a significance test.");
            int pairs = 0, overlapping = 0;
            foreach (string task in TaskOrder)
            {
                var rows = PlacementSection(task);
                ConfigSummary? none = rows.FirstOrDefault(s => s.Placement == "none");
                if (none is null) continue;
                foreach (ConfigSummary s in rows.Where(s => s != none)) { pairs++; if (s.Versus(none) == 0) overlapping++; }
            }
            if (pairs > 0) weak.Add($"{overlapping} of {pairs} placement-vs-`none` comparisons (seed architecture) have overlapping mean ± std intervals.");
            if (pairs > 0 && seeds >= 2)
            {
                // Many comparisons at a loose screen: say how many separations chance alone would give.
                double chance = Stats.ChanceSeparation(seeds);
                weak.Add($"With {seeds} seeds, two configurations that differ only by chance come out separated in about {100 * chance:F0} % of comparisons " +
                         "(simulated, normal spread); " +
                         $"{pairs - overlapping} of the {pairs} placement-vs-`none` comparisons here are separated; chance alone would give about {(pairs * chance).ToString("F1", CultureInfo.InvariantCulture)}. " +
                         "A single separation is weak evidence; one that repeats across tasks is stronger.");
            }
            var pairedRows = PairedSections().Where(c => c.Pairs >= 2).ToList();
            if (pairedRows.Count > 0)
            {
                // The interval's width in units of the differences' std: t(0.975, n − 1)/√n, n the fewest pairs.
                int n = pairedRows.Min(c => c.Pairs);
                double t = StudentT.Quantile(0.975, n - 1);
                weak.Add($"The paired test has {n}{(pairedRows.Any(c => c.Pairs != n) ? " or more" : "")} pairs per comparison: its 95 % interval is the mean difference ± t(0.975, {n - 1}) = " +
                         $"{t.ToString("F3", CultureInfo.InvariantCulture)} × s_d/√{n}, i.e. ± {(t / Math.Sqrt(n)).ToString("F2", CultureInfo.InvariantCulture)} standard deviations of the per-seed differences" +
                         (n == 3 ? " (with 2 seeds t = 12.706, ± 8.98 of them)" : "") + (n <= 3 ? ": only differences large against their seed-to-seed spread come out" : "") +
                         $"; the std itself rests on {n} numbers, and their normality is assumed, not checked. At 95 %, placements that do not differ at all come out better or worse in about 5 % of comparisons: " +
                         $"about {(0.05 * pairedRows.Count).ToString("F1", CultureInfo.InvariantCulture)} of the {pairedRows.Count} here. " +
                         "Holm's correction holds the chance of any such chance separation within a task's comparisons with `none` at 5 %, at the price of missing more real differences " +
                         $"(with {n} seeds, many): {pairedRows.Count(c => c.Sign != 0 && c.SurvivesHolm)} of the {pairedRows.Count(c => c.Sign != 0)} separations survive it.");
            }
            else if (PairedSections().Count > 0)
                weak.Add("With one seed per configuration there is no paired interval: the paired table gives each single difference and no test.");
            int improving = summaries.Count(s => s.ValidationLossMean.Count >= 2 && s.ValidationLossMean[^1] < s.ValidationLossMean[^2]);
            if (summaries.Count > 0)
                weak.Add($"{improving} of {summaries.Count} configurations still improved their validation loss in the last epoch: training was short, and rankings can change with longer training.");
            foreach (TaskInfo t in manifest.Tasks.Where(t => results.Any(r => r.Task == t.Name) && t.Features <= 2))
            {
                var affected = results.Where(r => r.Task == t.Name).Select(r => r.Placement)
                    .Where(p => p == "pre-norm" || p.Contains("ba2016", StringComparison.Ordinal) || p.Contains("tf-addons", StringComparison.Ordinal)).Distinct().ToList();
                if (affected.Count > 0)
                    weak.Add($"`{t.Name}` has {t.Features} input feature{(t.Features == 1 ? "" : "s")} per step: a LayerNorm over the raw input (`pre-norm`'s first) " +
                             (t.Features == 1 ? "maps every step to its β, erasing the input" : "keeps only the pattern of the two values, not their scale") +
                             ", and a separate LayerNorm of W·x (`ba2016`, `tf-addons`) sees a rank-" + t.Features + " vector, so it keeps little more than the input's sign or direction. " +
                             $"Results of {string.Join(", ", affected.Select(p => $"`{p}`"))} on this task measure that loss of information as much as LayerNorm itself.");
            }
            foreach (TaskInfo t in manifest.Tasks.Where(t => results.Any(r => r.Task == t.Name)))
                if (t.TrainCount < 1000) weak.Add($"`{t.Name}` is small ({t.TrainCount} training sequences, {t.ValidationCount} validation): a few sequences move the metric.");
            weak.Add(timing is not null
                ? $"Cost figures come from {timing.Rounds} interleaved rounds of {timing.BatchesPerRound} batches on a shared machine: small differences (a few %) are within noise; the per-job seconds per epoch are noisier still."
                : "Times come from concurrent jobs on a shared machine; differences under about 10 % are within noise.");
        }

        private double Ratio(string task, string placement)
        {
            var rows = PlacementSection(task);
            ConfigSummary? s = rows.FirstOrDefault(c => c.Placement == placement), none = rows.FirstOrDefault(c => c.Placement == "none");
            return s is null || none is null ? double.NaN : s.SecondsPerEpochMean / none.SecondsPerEpochMean;
        }

        private static string Relation(ConfigSummary a, ConfigSummary b)
        {
            int versus = a.Versus(b);
            string delta = Signed(a.Advantage(b));
            return versus > 0 ? $"{delta}, separated" : versus < 0 ? $"{delta}, separated the other way" : $"{delta}, overlapping";
        }

        /// <summary>Against the best configurations (several when their means are equal): separated only when every one of them is.</summary>
        private static string RelationToBest(IReadOnlyList<ConfigSummary> bests, ConfigSummary other)
        {
            string delta = Signed(bests[0].Advantage(other));
            return bests.All(b => b.Versus(other) > 0) ? $"{delta}, separated" : $"{delta}, overlapping";
        }

        private static bool SameMean(ConfigSummary a, ConfigSummary b) =>
            Math.Abs(a.MetricMean - b.MetricMean) <= 1e-12 * Math.Max(Math.Abs(a.MetricMean), Math.Abs(b.MetricMean));

        private static string MS(ConfigSummary s) => $"{M(s.MetricMean)} ± {(double.IsFinite(s.MetricStd) ? s.MetricStd.ToString(Math.Abs(s.MetricMean) >= 0.01 ? "F3" : "G2", CultureInfo.InvariantCulture) : "–")}";
        private static double Z(double std) => double.IsFinite(std) ? std : 0;
        private static string Std(double std, string format) => F(std, format);
        /// <summary>A figure in the invariant culture, or "–" where there is none (every run diverged before an epoch ended).</summary>
        private static string F(double value, string format) => double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "–";
        private static string Signed(double value, string format = "G3")
        {
            string text = value.ToString(format, CultureInfo.InvariantCulture);
            return text.TrimStart('-').Trim('0', '.').Length == 0 ? "+" + text.TrimStart('-') : value >= 0 ? "+" + text : text;
        }
    }

    internal static string M(double value) => double.IsFinite(value) ? value.ToString(Math.Abs(value) >= 0.01 || value == 0 ? "F3" : "G3", CultureInfo.InvariantCulture) : "–";
    internal static string R(double value) => value.ToString("G4", CultureInfo.InvariantCulture);
    /// <summary>"1 job", "2 jobs": the run lines count jobs.</summary>
    internal static string Jobs(int count) => count == 1 ? "1 job" : $"{count} jobs";
    internal static string WasOrWere(int count) => count == 1 ? "was" : "were";
}

/// <summary>The machine a report was written on.</summary>
public sealed record Machine(string Cpu, int Cores, string Os, string Runtime, string LoadAverage)
{
    public static Machine Describe()
    {
        string cpu = "unknown CPU";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        string load = "n/a";
        try
        {
            if (File.Exists("/proc/loadavg")) load = string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException) { }
        return new Machine(cpu, Environment.ProcessorCount, RuntimeInformation.OSDescription, Environment.Version.ToString(), load);
    }
}
