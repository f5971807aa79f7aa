using System.Text.RegularExpressions;
using NumLstm.Benchmarks.Study;

namespace NumLstm.Tests.Study;

/// <summary>
/// The report's statistics and verdict from hand-made job files (no training): every expected value below is worked
/// out by hand from the final metrics given.
/// </summary>
public class StudyReportTests
{
    private string folder = "";

    [SetUp]
    public void CreateFolder() => folder = Path.Combine(Path.GetTempPath(), "numlstm-report-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void DeleteFolder()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    // Dyadic accuracies, so every mean below is exact: pre-norm and keras-gates both average 0.9375 (std 0.0625 and
    // 0.0078125); keras-snippet 0.890625 ± 0.0078125 overlaps pre-norm's interval [0.875, 1] but not keras-gates'
    // [0.9296875, 0.9453125]; none 0.8125 ± 0.0078125 overlaps neither.
    private static readonly Dictionary<string, double[]> EqualBests = new()
    {
        ["none"] = new[] { 0.8046875, 0.8125, 0.8203125 },
        ["pre-norm"] = new[] { 0.875, 0.9375, 1.0 },
        ["in-cell:keras-gates"] = new[] { 0.9296875, 0.9375, 0.9453125 },
        ["in-cell:keras-snippet"] = new[] { 0.8828125, 0.890625, 0.8984375 },
    };

    [Test]
    public void EqualMeans_ShareTheBestAndTheirRank_WhateverThePlacementOrder()
    {
        string first = Report(EqualBests, new[] { "none", "pre-norm", "in-cell:keras-gates", "in-cell:keras-snippet" });
        string second = Report(EqualBests, new[] { "none", "in-cell:keras-gates", "pre-norm", "in-cell:keras-snippet" });
        foreach (string report in new[] { first, second })
        {
            // Tied with a best: both bests and keras-snippet (it overlaps pre-norm); none is separated from both.
            Assert.That(report, Does.Contain("Tied with the best (overlapping): 3 of 4 placements"));
            // Positions 1 and 2 hold equal means: each gets rank 1.5; keras-snippet 3, none 4.
            Assert.That(report, Does.Contain("`pre-norm` 1.5").And.Contain("`in-cell:keras-gates` 1.5").And.Contain("`in-cell:keras-snippet` 3.0").And.Contain("`none` 4.0"));
            Assert.That(report, Does.Contain("(equal means)"));
            Assert.That(report, Does.Contain("is shared by"));
        }
    }

    [Test]
    public void ReportOnly_ReportsThePlannedJobs_AsTheRunDoes()
    {
        var planned = EqualBests.ToDictionary(p => p.Key, p => p.Value);
        Report(planned, planned.Keys.ToArray());
        string runReport = File.ReadAllText(Path.Combine(folder, "report.md"));
        // A job file from another study in the same folder (e.g. copied in to reuse jobs): not part of this plan.
        JobResult stray = Job("other-task", "none", 0, 0.5);
        File.WriteAllText(Path.Combine(StudyRunner.JobsFolder(folder), stray.Id + ".json"), stray.ToJson());

        (int code, _) = StudyCommand.Run(new StudyOptions { Out = folder, ReportOnly = true }, "test", TextWriter.Null, interactive: false);

        Assert.That(code, Is.Zero);
        Assert.That(StudySmokeTests.ReadCsv(Path.Combine(folder, "results.csv")), Has.Count.EqualTo(1 + 4 * 3));
        string rebuilt = File.ReadAllText(Path.Combine(folder, "report.md"));
        Assert.That(rebuilt, Does.Contain("- Jobs: 12 of 12 planned jobs have results."));
        Assert.That(WithoutClockLines(rebuilt), Is.EqualTo(WithoutClockLines(runReport)));
    }

    [Test]
    public void RunsThatDivergedInTheirFirstEpoch_ShowDashes_NotNaN_AndTheCurvesSaySoWhereTheyAreMissing()
    {
        var jobs = EqualBests.SelectMany(p => p.Value.Select((metric, seed) => Job("t", p.Key, seed, metric))).ToList();
        // Every run of ba2016 diverged in its first batch: no epoch, so no seconds per epoch and no gradient norm; one run of
        // tf-addons diverged after two epochs.
        for (int seed = 0; seed < 3; seed++)
            jobs.Add(Job("t", "in-cell:ba2016", seed, 0.5) with
            {
                History = Array.Empty<EpochResult>(), Diverged = true, DivergedAt = "epoch 1, batch 1", MaxGradientNorm = double.NaN, SecondsPerEpoch = double.NaN,
            });
        for (int seed = 0; seed < 3; seed++)
            jobs.Add(seed == 1
                ? Job("t", "in-cell:tf-addons", seed, 0.5) with { History = new[] { Epoch(1, 0.5), Epoch(2, 0.5) }, Diverged = true, DivergedAt = "epoch 3, batch 2" }
                : Job("t", "in-cell:tf-addons", seed, 0.5));
        string report = Report(jobs, new[] { "none", "pre-norm", "in-cell:keras-gates", "in-cell:keras-snippet", "in-cell:ba2016", "in-cell:tf-addons" });

        Assert.That(report, Does.Not.Contain("NaN"));
        string row = report.Split('\n').Single(l => l.StartsWith("| `in-cell:ba2016` | 2 | 100 |", StringComparison.Ordinal));
        Assert.That(row, Does.EndWith("| 3/3 | – | – |"), "diverged, max grad norm, s/epoch");
        Assert.That(report, Does.Contain("Diverged runs leave the curves after their last complete epoch (epochs each completed): `in-cell:ba2016` 3/3 (0, 0, 0), `in-cell:tf-addons` 1/3 (2)."));
        string plain = Report(EqualBests, EqualBests.Keys.ToArray());
        Assert.That(plain, Does.Not.Contain("Diverged runs leave the curves"), "no caption without a diverged run");
    }

    [Test]
    public void DepthVerdict_EqualMeansAtTheDeepestStack_ShareTheBest_WhateverThePlacementOrder()
    {
        // Depth 3: after-each and keras-gates both average 0.9375 (dyadic, exact); none 0.8125.
        var metrics = new Dictionary<string, double[]>
        {
            ["none"] = new[] { 0.8046875, 0.8125, 0.8203125 },
            ["after-each"] = new[] { 0.875, 0.9375, 1.0 },
            ["in-cell:keras-gates"] = new[] { 0.9296875, 0.9375, 0.9453125 },
        };
        var jobs = new List<JobResult>();
        foreach ((string placement, double[] values) in metrics)
            for (int seed = 0; seed < 3; seed++)
                foreach (int depth in new[] { 2, 3 })
                    jobs.Add(Job("t", placement, seed, depth == 2 ? 0.75 : values[seed]) with
                    {
                        Id = $"t_stack{depth}_{placement.Replace(':', '-')}_s{seed}", Architecture = Architectures.Stack, Depth = depth,
                    });
        foreach (string[] order in new[] { new[] { "none", "after-each", "in-cell:keras-gates" }, new[] { "none", "in-cell:keras-gates", "after-each" } })
        {
            string report = Report(jobs, order, depths: new[] { 2, 3 });
            Assert.That(report, Does.Contain("On `t` at depth 3: best (equal means) "));
            Assert.That(report, Does.Contain("`after-each` 0.938 ± 0.062").And.Contain("`in-cell:keras-gates` 0.938 ± 0.008"));
            Assert.That(report, Does.Contain("; `none` 0.812 ± 0.008."));
        }
    }

    [Test]
    public void RateVerdict_EqualMeansAtSeveralRates_AreNamed_AndALargerBestRateMustBeatThemAll()
    {
        // none: equal means at 0.001 and 0.01, lower at 0.003; after-each: its best at 0.003 alone. Taking none's lowest tied
        // rate would call 0.003 "a larger best rate"; it is not larger than none's 0.01.
        var metric = new Dictionary<(string, double), double>
        {
            [("none", 1e-3)] = 0.875, [("none", 3e-3)] = 0.75, [("none", 1e-2)] = 0.875,
            [("after-each", 1e-3)] = 0.5, [("after-each", 3e-3)] = 0.9375, [("after-each", 1e-2)] = 0.625,
        };
        var jobs = new List<JobResult>();
        foreach (((string placement, double rate), double value) in metric)
            for (int seed = 0; seed < 3; seed++)
                jobs.Add(Job("t", placement, seed, value + (seed - 1) / 64.0) with
                {
                    Id = $"t_seed2_{placement}_lr{rate}_s{seed}", LearningRate = rate,
                });
        string report = Report(jobs, new[] { "none", "after-each" }, rates: new[] { 1e-3, 3e-3, 1e-2 });
        Assert.That(report, Does.Contain("- `none`: best rates 0.001 and 0.01 (equal means) 0.875 ± 0.016; at 0.01"));
        Assert.That(report, Does.Contain("- `after-each`: best rate 0.003 0.938 ± 0.016; at 0.01"));
        Assert.That(report, Does.Contain("0 of 1 have a larger best rate than `none` (0.001–0.01, equal means)."));
    }

    [Test]
    public void APlacement_HasTheSameColourInEveryPlot()
    {
        // The rate sweep ran none and in-cell:keras-gates only: by series position keras-gates was the second colour in
        // lr.svg and the third in loss_t.svg, so one line changed colour from plot to plot.
        string[] placements = { "none", "after-each", "in-cell:keras-gates" };
        var jobs = new List<JobResult>();
        foreach (string placement in placements)
            foreach (double rate in placement == "after-each" ? new[] { 3e-3 } : new[] { 3e-3, 1e-2 })
                for (int seed = 0; seed < 3; seed++)
                    jobs.Add(Job("t", placement, seed, 0.5 + seed / 64.0 + rate) with { Id = $"t_seed2_{placement.Replace(':', '-')}_lr{rate}_s{seed}", LearningRate = rate });
        Report(jobs, placements, rates: new[] { 3e-3, 1e-2 });

        Dictionary<string, string> loss = LegendColours(File.ReadAllText(Path.Combine(folder, "loss_t.svg")));
        Dictionary<string, string> rates = LegendColours(File.ReadAllText(Path.Combine(folder, "lr.svg")));
        Assert.That(loss.Keys, Is.EquivalentTo(placements));
        Assert.That(rates.Keys, Is.EquivalentTo(new[] { "none", "in-cell:keras-gates" }));
        Assert.That(loss.Values.Distinct().Count(), Is.EqualTo(3), "each placement its own colour");
        foreach (string placement in rates.Keys)
            Assert.That(rates[placement], Is.EqualTo(loss[placement]), placement);
    }

    private static Dictionary<string, string> LegendColours(string svg) =>
        Regex.Matches(svg, @"<rect [^>]*fill=""(#[0-9a-f]{6})""/>\s*<text [^>]*>([^<]+)</text>")
            .ToDictionary(m => m.Groups[2].Value, m => m.Groups[1].Value);

    [Test]
    public void FewestLayerNormsAmongTheTied_NamesEveryPlacementWithThatCount_WhateverTheTimes()
    {
        // pre-norm, keras-gates and keras-snippet are tied with the best and all have 2 LNs (the Job helper's count). The
        // pick used to fall to the fastest of them by seconds per epoch: timing noise chose the placement the verdict named.
        string Verdict(double snippetSeconds)
        {
            var jobs = EqualBests.SelectMany(p => p.Value.Select((metric, seed) => Job("t", p.Key, seed, metric) with
            {
                SecondsPerEpoch = p.Key == "in-cell:keras-snippet" ? snippetSeconds : 1.0,
            })).ToList();
            string report = Report(jobs, new[] { "none", "pre-norm", "in-cell:keras-gates", "in-cell:keras-snippet" });
            return report[report.IndexOf("## Verdict", StringComparison.Ordinal)..report.IndexOf("### Do deep stacks", StringComparison.Ordinal)];
        }
        string slowSnippet = Verdict(2.0), fastSnippet = Verdict(0.5);
        Assert.That(fastSnippet, Is.EqualTo(slowSnippet));
        Assert.That(slowSnippet, Does.Contain("the fewest LayerNorms among them: `pre-norm`, `in-cell:keras-gates`, `in-cell:keras-snippet` (2)."));
    }

    [Test]
    public void IncompleteStudy_GivesNoVerdict_AndSaysWhatIsMissing()
    {
        // One placement of the four finished: the verdict used to name it the best placement (1 of 1 tied).
        var jobs = EqualBests["pre-norm"].Select((metric, seed) => Job("t", "pre-norm", seed, metric)).ToList();
        var missing = EqualBests.Keys.Where(p => p != "pre-norm").SelectMany(p => Enumerable.Range(0, 3).Select(seed => Job("t", p, seed, 0.5).Id)).ToList();

        string report = Report(jobs, EqualBests.Keys.ToArray(), extraPlanned: missing);

        string verdict = report[report.IndexOf("## Verdict", StringComparison.Ordinal)..report.IndexOf("## Placements", StringComparison.Ordinal)];
        Assert.That(verdict, Does.Contain("No verdict").And.Contain("3 of 12 planned jobs"));
        Assert.That(verdict, Does.Not.Contain("**Answer:**").And.Not.Contain("best placement"));
        // The finished jobs are still reported in the tables below.
        Assert.That(report, Does.Contain("| `pre-norm` | 2 | 100 | 0.938 ± 0.062 |"));
    }

    [Test]
    public void ReportFiles_AreReplacedByRename_NotRewrittenInPlace()
    {
        // A file rewritten in place is lost (truncated) if the process dies while writing it; one written beside it and
        // renamed over it is either the old file or the new one. Each report file is made a link to a file outside the
        // folder: a write in place goes through the link into that file, a rename replaces the link only.
        Report(EqualBests, EqualBests.Keys.ToArray());
        string outside = Path.Combine(folder, "outside");
        Directory.CreateDirectory(outside);
        string[] files = Directory.GetFiles(folder).Select(f => Path.GetFileName(f)).Where(f => f != StudyReport.ManifestFile).ToArray();
        Assert.That(files, Does.Contain("report.md").And.Contain("results.csv").And.Contain("results.json").And.Contain("metric_t.svg"));
        foreach (string name in files)
        {
            string target = Path.Combine(outside, name);
            File.WriteAllText(target, "previous");
            File.Delete(Path.Combine(folder, name));
            File.CreateSymbolicLink(Path.Combine(folder, name), target);
        }

        StudyReport.Write(folder, StudyReport.ReadManifest(folder));

        foreach (string name in files)
        {
            Assert.That(File.ReadAllText(Path.Combine(outside, name)), Is.EqualTo("previous"), name);
            Assert.That(new FileInfo(Path.Combine(folder, name)).LinkTarget, Is.Null, name);
        }
        Assert.That(Directory.GetFiles(folder, "*.tmp"), Is.Empty);
    }

    [TestCase(3, 7.0, 10.0)]
    [TestCase(2, 19.0, 24.0)]
    public void WeakEvidence_SaysHowOftenTheScreenSeparatesByChance_AndHowManySeparationsChanceWouldGive(int seeds, double lowPercent, double highPercent)
    {
        // Two sets of n draws from one normal distribution have non-overlapping mean ± std intervals in about 8.3 % of
        // cases for n = 3 and 21 % for n = 2 (40,000 simulated pairs each, computed apart from this code). Every
        // placement here is compared with none: 3 comparisons, all separated.
        var jobs = EqualBests.SelectMany(p => p.Value.Take(seeds).Select((metric, seed) => Job("t", p.Key, seed, metric))).ToList();
        string report = Report(jobs, EqualBests.Keys.ToArray(), seeds: seeds);

        Match line = Regex.Match(report, $@"With {seeds} seeds, two configurations that differ only by chance come out separated in about (\d+) % of comparisons[^\n]*" +
                                         @"3 of the 3 placement-vs-`none` comparisons here are separated; chance alone would give about ([\d.]+)\.");
        Assert.That(line.Success, Is.True, report[report.IndexOf("### Where the evidence is weak", StringComparison.Ordinal)..]);
        double percent = double.Parse(line.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(percent, Is.InRange(lowPercent, highPercent));
        Assert.That(double.Parse(line.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(3 * percent / 100).Within(0.06));
    }

    [TestCase("history")]
    [TestCase("units")]
    [TestCase("placement")]
    [TestCase("metric_name")]
    public void JobFileWithANullField_IsSkippedWithAWarning_NotACrash(string field)
    {
        // A job file that parses but holds null where a value must be (edited by hand, or written by another tool) made
        // the report throw a NullReferenceException with a stack trace; now it is skipped like any unreadable job file (and
        // so run again).
        Report(EqualBests, EqualBests.Keys.ToArray());
        string path = Directory.GetFiles(StudyRunner.JobsFolder(folder), "*.json").Order(StringComparer.Ordinal).First();
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json[field] = null;
        File.WriteAllText(path, json.ToJsonString());
        var warnings = new List<string>();

        StudyReport.Write(folder, StudyReport.ReadManifest(folder), warn: warnings.Add);

        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.Contain(Path.GetFileName(path)).And.Contain(field));
        Assert.That(File.ReadAllText(Path.Combine(folder, "report.md")), Does.Contain("- Jobs: 11 of 12 planned jobs have results"));
    }

    [Test]
    public void CostVerdict_SaysWhichCostsThePerRoundRatiosCannotTellFromNone()
    {
        // Interleaved timing: pre-norm is slower than none in every round (1.2–1.4); after-each's and keras-gates' per-round
        // ratios include 1 (0.8–1.2, 0.6–1.3), so their fastest-round figures (−6 %, −3 %) are noise, not a cost or a
        // saving. The answer used to read "between-layer LayerNorm costs -6 to +30 %, in-cell LayerNorm costs -3 %".
        var timing = new TimingFile("test", 5, 3, new[]
        {
            new TimingResult("t", "none", 0, 0.010, 0.010, 0.012, 5, 1.0, 1.0, 1.0),
            new TimingResult("t", "pre-norm", 2, 0.013, 0.013, 0.015, 5, 1.3, 1.2, 1.4),
            new TimingResult("t", "after-each", 2, 0.0094, 0.0094, 0.012, 5, 0.94, 0.8, 1.2),
            new TimingResult("t", "in-cell:keras-gates", 4, 0.0097, 0.0097, 0.013, 5, 0.97, 0.6, 1.3),
        });
        var metrics = new Dictionary<string, double[]>
        {
            ["none"] = EqualBests["none"], ["pre-norm"] = EqualBests["pre-norm"], ["after-each"] = EqualBests["in-cell:keras-snippet"],
            ["in-cell:keras-gates"] = EqualBests["in-cell:keras-gates"],
        };
        var jobs = metrics.SelectMany(p => p.Value.Select((metric, seed) => Job("t", p.Key, seed, metric))).ToList();

        string report = Report(jobs, metrics.Keys.ToArray(), timing: timing);

        string cost = report[report.IndexOf("### What does each LayerNorm cost", StringComparison.Ordinal)..report.IndexOf("### Where the evidence is weak", StringComparison.Ordinal)];
        Assert.That(cost, Does.Contain("- `after-each`: × 0.94 (-6 %), 2 LNs, -3.0 % each; per-round ratios 0.80–1.20, which include 1 on every task."));
        Assert.That(cost, Does.Contain("- `pre-norm`: × 1.30 (+30 %), 2 LNs, +15.0 % each; per-round ratios 1.20–1.40."));
        Assert.That(cost, Does.Contain("**Answer:** between-layer LayerNorm costs +30 % per training step (`pre-norm`); "));
        Assert.That(cost, Does.Contain("in-cell LayerNorm: no cost told apart from `none` on every task."));
        Assert.That(cost, Does.Contain("Not told apart from `none` on every task (their per-round ratios include 1 on at least one task, so their figures mix cost and this machine's noise): `after-each`, `in-cell:keras-gates`."));
    }

    [Test]
    public void Method_NamesTheSeedArchitecturesUnits_AsTheJobsTrainedThem()
    {
        var jobs = new[] { Job("t", "none", 0, 0.8), Job("t", "after-each", 0, 0.8) };
        Assert.That(Report(jobs, new[] { "none", "after-each" }), Does.Contain("Bidirectional LSTM layers of 4 then 4 units per direction"));
        var wide = jobs.Select(j => j with { Units = new[] { 100, 200 } }).ToArray();
        Assert.That(Report(wide, new[] { "none", "after-each" }), Does.Contain("Bidirectional LSTM layers of 100 then 200 units per direction"));
    }

    [Test]
    public void ReportOnly_CountsAsOutOfPlan_OnlyFilesOfJobsOutsideThePlan()
    {
        // One planned job's file is unreadable (skipped with a warning) and one file is another study's: the count of
        // files "not in this study's plan" was files minus results, 2 here, counting the unreadable planned one.
        Report(EqualBests, EqualBests.Keys.ToArray());
        string planned = Directory.GetFiles(StudyRunner.JobsFolder(folder), "*.json").Order(StringComparer.Ordinal).First();
        File.WriteAllText(planned, "{ not json");
        JobResult stray = Job("other-task", "none", 0, 0.5);
        File.WriteAllText(Path.Combine(StudyRunner.JobsFolder(folder), stray.Id + ".json"), stray.ToJson());
        var output = new StringWriter();

        (int code, _) = StudyCommand.Run(new StudyOptions { Out = folder, ReportOnly = true }, "test", output, interactive: false);

        Assert.That(code, Is.Zero);
        Assert.That(output.ToString(), Does.Contain("1 job file is not in this study's plan"));
        Assert.That(output.ToString(), Does.Contain("warning: skipping").And.Contain(Path.GetFileName(planned)));
        Assert.That(output.ToString(), Does.Contain("Report rebuilt from 11 job results"));
    }

    [Test]
    public void CostVerdict_StatesNoCostForAPlacementWhoseRoundsIncludeOneOnSomeTask()
    {
        // after-each is slower than none in every round on u (1.01–1.11) but not on t (0.78–1.28): its average of the
        // fastest rounds, × 0.99, was stated as "between-layer LayerNorm costs -1 %" (the quick study on a loaded machine).
        var timing = new TimingFile("test", 5, 3, new[]
        {
            new TimingResult("t", "none", 0, 0.010, 0.010, 0.012, 5, 1.0, 1.0, 1.0),
            new TimingResult("u", "none", 0, 0.010, 0.010, 0.012, 5, 1.0, 1.0, 1.0),
            new TimingResult("t", "after-each", 2, 0.0097, 0.0097, 0.012, 5, 0.97, 0.78, 1.28),
            new TimingResult("u", "after-each", 2, 0.0101, 0.0101, 0.012, 5, 1.01, 1.01, 1.11),
        });
        var jobs = new List<JobResult>();
        foreach (string task in new[] { "t", "u" })
            foreach (string placement in new[] { "none", "after-each" })
                jobs.AddRange(EqualBests[placement == "none" ? "none" : "pre-norm"].Select((metric, seed) => Job(task, placement, seed, metric)));

        string report = Report(jobs, new[] { "none", "after-each" }, timing: timing,
            extraTasks: new[] { new TaskInfo("u", "second task", "accuracy", true, 0.25, "majority class", 0.9, 1000, 1000, 10, 4) });

        string cost = report[report.IndexOf("### What does each LayerNorm cost", StringComparison.Ordinal)..report.IndexOf("### Where the evidence is weak", StringComparison.Ordinal)];
        Assert.That(cost, Does.Contain("- `after-each`: × 0.99 (-1 %), 2 LNs, -0.5 % each; per-round ratios 0.78–1.28, which include 1 on 1 of 2 tasks."));
        Assert.That(cost, Does.Contain("**Answer:** between-layer LayerNorm: no cost told apart from `none` on every task; "));
        Assert.That(cost, Does.Not.Contain("costs -1 %"));
    }

    [Test]
    public void PairedSection_ShowsTheHandComputedInterval_WhereTheScreenOverlaps_AndTheVerdictCountsIt()
    {
        // none 0.5, 0.75, 0.625 and after-each 1/16, 1/16, 5/64 above on the same seeds: the differences have mean 13/192
        // = 0.0677, std √3/192 = 0.00902, and the interval (13 ± 4.303)/192 = [0.0453, 0.0901]; the mean ± std intervals
        // (0.625 ± 0.125, 0.693 ± 0.125) overlap. A third seed of before-dense is missing: 2 pairs, t(0.975, 1) = 12.706.
        var jobs = new List<JobResult>();
        jobs.AddRange(new[] { 0.5, 0.75, 0.625 }.Select((m, seed) => Job("t", "none", seed, m)));
        jobs.AddRange(new[] { 0.5625, 0.8125, 0.703125 }.Select((m, seed) => Job("t", "after-each", seed, m)));
        jobs.AddRange(new[] { 0.5, 0.75 }.Select((m, seed) => Job("t", "before-dense", seed, m)));

        string report = Report(jobs, new[] { "none", "after-each", "before-dense" });

        Assert.That(report, Does.Contain("## Paired comparison with `none` (seed architecture, base learning rate)"));
        // t = 13, p = 1 − 13/√171 = 0.00587; before-dense ties on both pairs, t = 0, p = 1. Holm over m = 2: 0.0117 and 1.
        Assert.That(report, Does.Contain("| `t` | `after-each` | 3 | +0.0677 | 0.00902 | [+0.0453, +0.0901] (t = 4.303) | 0.006 | 0.012 (2) | 3/3 | **better**, survives Holm | overlapping |"));
        Assert.That(report, Does.Contain("| `t` | `before-dense` | 2 (1 run unpaired) | +0 | 0 | [+0, +0] (t = 12.706) | 1.000 | 1.000 (2) | 0/2 (2 ties) | *not told apart* | overlapping |"));
        Assert.That(report, Does.Contain("the 95 % t interval of the per-seed difference excludes 0 in 1 of 2 placement-vs-`none` comparisons " +
                                         "(better: `after-each` on `t`; worse: —); **1 of these 1 survives Holm's correction** within each task's family of 2 comparisons with `none` " +
                                         "(better: `after-each` on `t`; worse: —); the mean ± std screen separates 0 of the 2."));
        Assert.That(report, Does.Contain("1 of the 1 separations survive it."));
        Assert.That(report, Does.Contain("The paired test has 2 or more pairs per comparison"));
        List<string[]> csv = StudySmokeTests.ReadCsv(Path.Combine(folder, StudyReport.PairedCsvFile));
        Assert.That(csv[0], Is.EqualTo(StudyReport.PairedCsvColumns));
        string[] row = csv.Single(r => r[Array.IndexOf(csv[0], "placement")] == "after-each");
        Assert.That(double.Parse(row[Array.IndexOf(csv[0], "ci_low")], System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo((13 - 4.302652729911275) / 192).Within(1e-10));
        Assert.That(row[Array.IndexOf(csv[0], "verdict")], Is.EqualTo("better"));
        double Cell(string[] r, string column) => double.Parse(r[Array.IndexOf(csv[0], column)], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(Cell(row, "t_statistic"), Is.EqualTo(13).Within(1e-12));
        Assert.That(Cell(row, "p_value"), Is.EqualTo(1 - 13 / Math.Sqrt(171)).Within(1e-12));
        Assert.That(Cell(row, "holm_p_value"), Is.EqualTo(2 * (1 - 13 / Math.Sqrt(171))).Within(1e-12));
        Assert.That((row[Array.IndexOf(csv[0], "holm_family_size")], row[Array.IndexOf(csv[0], "survives_holm")]), Is.EqualTo(("2", "true")));
    }

    [Test]
    public void PairedSection_MarksASeparationThatDoesNotSurviveHolm()
    {
        // after-each 5, 5, 8 (/64) above none: mean 6/64, std √3/64, t = (6/64)/((√3/64)/√3) = 6, p = 1 − 6/√38 = 0.0267 < 0.05
        // (the interval 0.09375 ± 4.303/64 = [+0.0265, +0.161] excludes 0); before-dense ties every seed (p = 1). Holm, m = 2:
        // 2 × 0.0267 = 0.0533 > 0.05, so the separation does not survive. pre-norm is 1/16 worse on every seed: zero spread,
        // t = −∞, p = 0 — a third member, so m = 3 there: 0 × 3 = 0, 0.0267 × 2, 1.
        var jobs = new List<JobResult>();
        jobs.AddRange(new[] { 0.5, 0.75, 0.625 }.Select((m, seed) => Job("t", "none", seed, m)));
        jobs.AddRange(new[] { 0.578125, 0.828125, 0.75 }.Select((m, seed) => Job("t", "after-each", seed, m)));
        jobs.AddRange(new[] { 0.5, 0.75, 0.625 }.Select((m, seed) => Job("t", "before-dense", seed, m)));

        string report = Report(jobs, new[] { "none", "after-each", "before-dense" });

        Assert.That(report, Does.Contain("| [+0.0265, +0.161] (t = 4.303) | 0.027 | 0.053 (2) | 3/3 | **better**, not after Holm |"));
        Assert.That(report, Does.Contain("excludes 0 in 1 of 2 placement-vs-`none` comparisons (better: `after-each` on `t`; worse: —); " +
                                         "**0 of these 1 survive Holm's correction** within each task's family of 2 comparisons with `none` (better: —; worse: —)"));
        List<string[]> csv = StudySmokeTests.ReadCsv(Path.Combine(folder, StudyReport.PairedCsvFile));
        string[] row = csv.Single(r => r[Array.IndexOf(csv[0], "placement")] == "after-each");
        Assert.That((row[Array.IndexOf(csv[0], "verdict")], row[Array.IndexOf(csv[0], "survives_holm")]), Is.EqualTo(("better", "false")));

        jobs.AddRange(new[] { 0.4375, 0.6875, 0.5625 }.Select((m, seed) => Job("t", "pre-norm", seed, m)));
        report = Report(jobs, new[] { "none", "after-each", "before-dense", "pre-norm" });

        Assert.That(report, Does.Contain("| `t` | `pre-norm` | 3 | -0.0625 | 0 | [-0.0625, -0.0625] (t = 4.303) | 0 | 0 (3) | 0/3 | **worse**, survives Holm |"));
        Assert.That(report, Does.Contain("| 0.027 | 0.053 (3) | 3/3 | **better**, not after Holm |"));
        csv = StudySmokeTests.ReadCsv(Path.Combine(folder, StudyReport.PairedCsvFile));
        row = csv.Single(r => r[Array.IndexOf(csv[0], "placement")] == "pre-norm");
        Assert.That((row[Array.IndexOf(csv[0], "t_statistic")], row[Array.IndexOf(csv[0], "p_value")], row[Array.IndexOf(csv[0], "holm_p_value")]),
            Is.EqualTo(("-Infinity", "0", "0")));
    }

    [Test]
    public void PairedSection_WithOneSeed_GivesNoInterval()
    {
        var jobs = new[] { Job("t", "none", 0, 0.5), Job("t", "after-each", 0, 0.75) };

        string report = Report(jobs, new[] { "none", "after-each" }, seeds: 1);

        Assert.That(report, Does.Contain("| `t` | `after-each` | 1 | +0.25 | – | – (no interval from one pair) | – | – | 1/1 | no CI (1 pair) | overlapping |"));
        Assert.That(report, Does.Contain("no placement-vs-`none` comparison has two pairs, so there is no paired interval"));
        Assert.That(report, Does.Not.Contain("NaN"));
    }

    [Test]
    public void TheEngineAssembly_CarriesNoCheckoutFolder_SoItsBuildIsTheSameInEveryFolder()
    {
        // The engine build (EngineIdentity) hashes the assembly's bytes; with the checkout's folder in its PDB path,
        // two clones of one commit were two builds and every slice from another machine ran again.
        string dll = typeof(NumLstm.Models.LayerNormPlacement).Assembly.Location;
        using var pe = new System.Reflection.PortableExecutable.PEReader(File.OpenRead(dll));
        var codeView = pe.ReadDebugDirectory().Single(e => e.Type == System.Reflection.PortableExecutable.DebugDirectoryEntryType.CodeView);
        string pdbPath = pe.ReadCodeViewDebugDirectoryData(codeView).Path;
        Assert.That(pdbPath, Does.StartWith("/_/Engine/"));
        string checkout = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(dll)))))!;
        Assert.That(pdbPath, Does.Not.Contain(checkout));
    }

    [Test]
    public void ReportOnly_OnJobsFromTwoBuildsAndAnOldFormat_ListsEachBuildWithItsCount_AndRunsNothing()
    {
        // Seeds 0 and 1 from build-a, seed 2 from build-b; none's seed 2 is an old job file without the field.
        var jobs = EqualBests.SelectMany(p => p.Value.Select((metric, seed) => Job("t", p.Key, seed, metric) with { EngineBuild = seed < 2 ? "build-a" : "build-b" })).ToList();
        Report(jobs, EqualBests.Keys.ToArray());
        string old = Path.Combine(StudyRunner.JobsFolder(folder), jobs.Single(j => j.Placement == "none" && j.Seed == 2).Id + ".json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(old))!.AsObject();
        node.Remove("engine_build");
        File.WriteAllText(old, node.ToJsonString());
        var before = Directory.GetFiles(StudyRunner.JobsFolder(folder)).ToDictionary(f => f, File.ReadAllText);
        var log = new StringWriter();

        (int code, _) = StudyCommand.Run(new StudyOptions { Out = folder, ReportOnly = true }, "test", log, interactive: false);

        Assert.That(code, Is.Zero);
        string report = File.ReadAllText(Path.Combine(folder, "report.md"));
        Assert.That(report, Does.Contain("- Engine builds: **the results come from 3 different engine builds**, so their numbers may not be comparable: " +
                                         "`build-a`: 8 jobs; `build-b`: 3 jobs; unknown (job files without `engine_build`, written before builds were recorded): 1 job."));
        Assert.That(report, Does.Contain("- Jobs: 12 of 12 planned jobs have results."));
        Assert.That(log.ToString(), Does.Contain("The results come from 3 engine builds, none of them this one"));
        foreach ((string file, string text) in before) Assert.That(File.ReadAllText(file), Is.EqualTo(text), file);
    }

    [Test]
    public void JobFileWithoutEngineBuild_StillLoads_AsAnUnknownBuild()
    {
        JobResult job = Job("t", "none", 0, 0.5) with { EngineBuild = "x" };
        var node = System.Text.Json.Nodes.JsonNode.Parse(job.ToJson())!.AsObject();
        Assert.That(node.Remove("engine_build"), Is.True, "the field is written");

        JobResult loaded = JobResult.FromJson(node.ToJsonString(), "old.json");

        Assert.That(loaded.EngineBuild, Is.Null);
        Assert.That(loaded with { EngineBuild = "x" }, Is.EqualTo(job).Using<JobResult>((a, b) => a.ToJson() == b.ToJson()));
        Assert.That(EngineIdentity.Describe(null), Does.StartWith("unknown"));
    }

    private static EpochResult Epoch(int epoch, double metric) => new(epoch, 0.5, metric, 0.5, metric, 1.0, 1.0, 0);

    private string Report(IReadOnlyDictionary<string, double[]> metrics, IReadOnlyList<string> placementOrder) =>
        Report(metrics.SelectMany(p => p.Value.Select((metric, seed) => Job("t", p.Key, seed, metric))).ToList(), placementOrder);

    /// <summary>Writes one job file per placement and seed and a manifest planning exactly those jobs, then the report.</summary>
    private string Report(IReadOnlyList<JobResult> jobs, IReadOnlyList<string> placementOrder, int[]? depths = null, double[]? rates = null,
        IReadOnlyList<string>? extraPlanned = null, int seeds = 3, TimingFile? timing = null, IReadOnlyList<TaskInfo>? extraTasks = null)
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.CreateDirectory(StudyRunner.JobsFolder(folder));
        var ids = new List<string>();
        foreach (JobResult job in jobs)
        {
            File.WriteAllText(Path.Combine(StudyRunner.JobsFolder(folder), job.Id + ".json"), job.ToJson());
            ids.Add(job.Id);
        }
        var manifest = new StudyManifest
        {
            CommandLine = "test", PlanFingerprint = "test", Created = DateTimeOffset.UnixEpoch, BaseLearningRate = 3e-3, LearningRates = rates ?? new[] { 3e-3 },
            Depths = depths ?? new[] { 2 }, Seeds = seeds, SweepTask = "t", Placements = placementOrder,
            Tasks = new[] { new TaskInfo("t", "test task", "accuracy", true, 0.25, "majority class", 0.9, 1000, 1000, 10, 4) }.Concat(extraTasks ?? Array.Empty<TaskInfo>()).ToList(),
            PlannedJobs = ids.Concat(extraPlanned ?? Array.Empty<string>()).ToList(),
        };
        StudyReport.WriteManifest(folder, manifest);
        StudyReport.Write(folder, manifest, timing: timing);
        return File.ReadAllText(Path.Combine(folder, "report.md"));
    }

    private static JobResult Job(string task, string placement, int seed, double metric) => new()
    {
        Id = $"{task}_seed2_{placement.Replace(':', '-')}_s{seed}", Task = task, Architecture = Architectures.Seed, Depth = 2, Placement = placement,
        LearningRate = 3e-3, Seed = seed, PlannedEpochs = 1, Units = new[] { 4, 4 }, Bidirectional = true, Dropout = 0.4, BatchSize = 32,
        MetricName = "accuracy", HigherIsBetter = true, Target = 0.9, ParameterCount = 100, LayerNormCount = placement == "none" ? 0 : 2,
        History = new[] { new EpochResult(1, 0.5, metric, 0.5, metric, 1.0, 1.0, 0) },
        FinalValidationLoss = 0.5, FinalMetric = metric, LossSpikes = 0, Diverged = false, MaxGradientNorm = 1.0, SecondsPerEpoch = 1.0,
        TotalSeconds = 1.0, ThreadsPerJob = 1,
    };

    // The header names the time the report was written and the machine's load: the rest must not change.
    private static string WithoutClockLines(string report) =>
        Regex.Replace(report, @"^- (Study started|Machine:|This run:).*$\n?", "", RegexOptions.Multiline);
}
