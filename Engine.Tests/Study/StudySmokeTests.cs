using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using NumLstm.Benchmarks.Study;
using NumLstm.Models;

namespace NumLstm.Tests.Study;

/// <summary>
/// Runs a tiny study (sine task, 2 placements, 1 seed, 1 epoch, plus a two-point depth sweep and a two-point rate
/// sweep) into a temporary folder once, then checks the report folder and resuming.
/// </summary>
[TestFixture]
public class StudySmokeTests
{
    private string folder = "";
    private RunSummary firstRun = null!;

    // 2 placement jobs + 2 depths × 2 placements (stack architecture) + 2 rates × 2 placements − the 2 already in the
    // placement section = 8 jobs.
    private const int ExpectedJobs = 8;

    private StudyOptions Options() => new()
    {
        Tasks = new[] { "sine" },
        Placements = new[] { LayerNormPlacement.None, LayerNormPlacement.AfterEachRecurrent },
        PlacementsGiven = true,
        Depths = new[] { 1, 2 },
        Seeds = 1,
        Epochs = 1,
        LearningRates = new[] { 3e-3, 1e-2 },
        DataScale = 0.15,
        Jobs = 2,
        Out = folder,
    };

    [OneTimeSetUp]
    public void RunTinyStudy()
    {
        folder = Path.Combine(Path.GetTempPath(), "numlstm-study-" + Guid.NewGuid().ToString("N"));
        (int code, RunSummary? summary) = StudyCommand.Run(Options(), "test", TextWriter.Null, interactive: false);
        Assert.That(code, Is.EqualTo(0));
        firstRun = summary!;
    }

    [OneTimeTearDown]
    public void Delete()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    [Test]
    public void FirstRun_RunsEveryPlannedJob_AndWritesOneFilePerJob()
    {
        Assert.That(firstRun.Planned, Is.EqualTo(ExpectedJobs));
        Assert.That(firstRun.Ran, Is.EqualTo(ExpectedJobs));
        Assert.That(firstRun.Failed, Is.Zero);
        Assert.That(Directory.GetFiles(Path.Combine(folder, "jobs"), "*.json"), Has.Length.EqualTo(ExpectedJobs));
        Assert.That(Directory.GetFiles(Path.Combine(folder, "jobs"), "*.tmp"), Is.Empty);
    }

    [Test]
    public void ReportFolder_HoldsReportResultsAndPlots()
    {
        foreach (string file in new[] { "report.md", "results.json", "results.csv", "paired.csv", "study.json", "loss_sine.svg", "metric_sine.svg", "depth.svg", "lr.svg", "time.svg" })
            Assert.That(File.Exists(Path.Combine(folder, file)), Is.True, file);
    }

    [Test]
    public void ResultsJson_Parses_WithOneEntryPerJob_AndOneConfigurationPerSeedGroup()
    {
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "results.json")));
        JsonElement jobs = json.RootElement.GetProperty("jobs");
        Assert.That(jobs.GetArrayLength(), Is.EqualTo(ExpectedJobs));
        // One seed: every job is its own configuration.
        Assert.That(json.RootElement.GetProperty("configurations").GetArrayLength(), Is.EqualTo(ExpectedJobs));
        foreach (JsonElement job in jobs.EnumerateArray())
        {
            Assert.That(job.GetProperty("history").GetArrayLength(), Is.EqualTo(1));
            double accuracy = job.GetProperty("final_metric").GetDouble();
            Assert.That(accuracy, Is.InRange(0.0, 1.0));
        }
    }

    [Test]
    public void ResultsCsv_HasAHeaderAndOneRowPerJob_WithTheExpectedConfigurations()
    {
        List<string[]> rows = ReadCsv(Path.Combine(folder, "results.csv"));
        Assert.That(rows[0], Is.EqualTo(StudyReport.CsvColumns));
        Assert.That(rows, Has.Count.EqualTo(ExpectedJobs + 1));
        int Column(string name) => Array.IndexOf(rows[0], name);
        var configurations = rows.Skip(1).Select(r => $"{r[Column("architecture")]}{r[Column("depth")]} {r[Column("placement")]} {r[Column("learning_rate")]}").Order().ToList();
        Assert.That(configurations, Is.EqualTo(new[]
        {
            "seed2 after-each 0.003", "seed2 after-each 0.01", "seed2 none 0.003", "seed2 none 0.01",
            "stack1 after-each 0.003", "stack1 none 0.003", "stack2 after-each 0.003", "stack2 none 0.003",
        }));
        foreach (string[] row in rows.Skip(1))
        {
            Assert.That(row, Has.Length.EqualTo(StudyReport.CsvColumns.Length));
            Assert.That(row[Column("val_loss_per_epoch")].Split(';'), Has.Length.EqualTo(1));
            Assert.That(double.Parse(row[Column("final_val_loss")], CultureInfo.InvariantCulture), Is.GreaterThan(0));
        }
        // The seed model with after-each has exactly two LayerNorm layers; none has none.
        Assert.That(rows.Skip(1).Where(r => r[Column("architecture")] == "seed" && r[Column("placement")] == "after-each").Select(r => r[Column("layer_norm_count")]), Is.All.EqualTo("2"));
        Assert.That(rows.Skip(1).Where(r => r[Column("placement")] == "none").Select(r => r[Column("layer_norm_count")]), Is.All.EqualTo("0"));
    }

    [Test]
    public void Svgs_AreWellFormedXml()
    {
        string[] svgs = Directory.GetFiles(folder, "*.svg");
        Assert.That(svgs, Has.Length.EqualTo(5));
        foreach (string svg in svgs)
        {
            XDocument document = XDocument.Parse(File.ReadAllText(svg));
            Assert.That(document.Root!.Name.LocalName, Is.EqualTo("svg"), svg);
        }
    }

    [Test]
    public void ReportMarkdown_HasTheVerdictQuestions_AndLinksOnlyToFilesThatExist()
    {
        string report = File.ReadAllText(Path.Combine(folder, "report.md"));
        Assert.That(report, Does.Contain("## Verdict"));
        Assert.That(report, Does.Contain("Where should LayerNorm go"));
        Assert.That(report, Does.Contain("Do deep stacks need in-cell normalization?"));
        Assert.That(report, Does.Contain("Does LayerNorm tolerate larger learning rates?"));
        Assert.That(report, Does.Contain("What does each LayerNorm cost in time?"));
        Assert.That(report, Does.Contain("Where the evidence is weak"));
        var links = System.Text.RegularExpressions.Regex.Matches(report, @"!\[[^\]]*\]\(([^)]+)\)").Select(m => m.Groups[1].Value).ToList();
        Assert.That(links, Has.Count.EqualTo(5));
        foreach (string link in links) Assert.That(File.Exists(Path.Combine(folder, link)), Is.True, link);
    }

    [Test]
    public void SecondRun_WithTheSameOptions_RunsNoJob()
    {
        (int code, RunSummary? again) = StudyCommand.Run(Options(), "test", TextWriter.Null, interactive: false);
        Assert.That(code, Is.EqualTo(0));
        Assert.That(again!.Ran, Is.Zero);
        Assert.That(again.AlreadyFinished, Is.EqualTo(ExpectedJobs));
    }

    [Test]
    public void RunAfterLosingOneJobFile_RunsOnlyThatJob_AndReproducesIt()
    {
        string victim = Directory.GetFiles(Path.Combine(folder, "jobs"), "*.json").Order(StringComparer.Ordinal).First();
        JobResult before = JobResult.FromJson(File.ReadAllText(victim), victim);
        File.Delete(victim);
        (_, RunSummary? again) = StudyCommand.Run(Options(), "test", TextWriter.Null, interactive: false);
        Assert.That(again!.Ran, Is.EqualTo(1));
        JobResult after = JobResult.FromJson(File.ReadAllText(victim), victim);
        // Same seed, same data, same thread count: the same numbers.
        Assert.That(after.FinalMetric, Is.EqualTo(before.FinalMetric));
        Assert.That(after.FinalValidationLoss, Is.EqualTo(before.FinalValidationLoss));
        Assert.That(after.History.Select(e => e.TrainLoss), Is.EqualTo(before.History.Select(e => e.TrainLoss)));
    }

    [Test]
    public void ResumeAfterAJobFileCameFromAnotherBuild_RerunsOnlyThatJob_AndTheReportListsTheBuild()
    {
        string[] files = Directory.GetFiles(Path.Combine(folder, "jobs"), "*.json").Order(StringComparer.Ordinal).ToArray();
        string victim = files[1];
        MarkBuild(victim, "another-build");
        var log = new StringWriter();

        (int code, RunSummary? again) = StudyCommand.Run(Options(), "test", log, interactive: false);

        Assert.That(code, Is.EqualTo(0));
        Assert.That(again!.Ran, Is.EqualTo(1));
        Assert.That(again.OtherBuild, Is.EqualTo(1));
        Assert.That(again.AlreadyFinished, Is.EqualTo(ExpectedJobs - 1));
        Assert.That(log.ToString(), Does.Contain("1 finished job came from another build (or one not recorded, or recorded in the format before content hashes) and runs again with this one"));
        Assert.That(log.ToString(), Does.Contain("1 job ran (1 of them again"), "one job, not \"1 jobs\"");
        JobResult rerun = JobResult.FromJson(File.ReadAllText(victim), victim);
        Assert.That(rerun.EngineBuild, Is.EqualTo(EngineIdentity.Current));
        Assert.That(rerun.Commit, Is.EqualTo(EngineIdentity.Commit), "the commit is recorded beside the build");
        foreach (string file in files.Where(f => f != victim))
            Assert.That(File.GetLastWriteTimeUtc(file), Is.LessThan(File.GetLastWriteTimeUtc(victim)), "only the other build's job ran");
        string report = File.ReadAllText(Path.Combine(folder, "report.md"));
        Assert.That(report, Does.Contain($"- Engine build of the results: `{EngineIdentity.Current}`, all {ExpectedJobs} jobs (the build that wrote this report){BuiltFrom("; ")}."));
        Assert.That(report, Does.Contain("- This run: 1 job ran (1 queued again because their results came from another engine build)"));
        List<string[]> rows = ReadCsv(Path.Combine(folder, "results.csv"));
        Assert.That(rows.Skip(1).Select(r => r[Array.IndexOf(rows[0], "engine_build")]), Is.All.EqualTo(EngineIdentity.Current));
        Assert.That(rows.Skip(1).Select(r => r[Array.IndexOf(rows[0], "commit")]), Is.All.EqualTo(EngineIdentity.Commit ?? ""));
    }

    private static string BuiltFrom(string lead) => EngineIdentity.Commit is null ? "" : $"{lead}built from commit {EngineIdentity.Commit[..7]}";

    [Test]
    public void ResumeAfterAJobFileOfTheOldIdentityFormat_RerunsIt_AndTheReportNamesItsCommit()
    {
        // Job files written before content hashes carry the engine assembly's module version id and informational
        // version, and no commit field: another build (rerun), whose commit the report still reads from the old identity.
        const string legacy = "9207bc97-6c35-42ee-8b9d-69d9f3f9cb91 (1.0.0+b531d51f9652459b87b4860eb96bcdc833e5f205)";
        string victim = Directory.GetFiles(Path.Combine(folder, "jobs"), "*.json").Order(StringComparer.Ordinal).First();
        string original = File.ReadAllText(victim);
        var node = System.Text.Json.Nodes.JsonNode.Parse(original)!.AsObject();
        node["engine_build"] = legacy;
        Assert.That(node.Remove("commit"), Is.True, "the field is written");
        File.WriteAllText(victim, node.ToJsonString());
        try
        {
            (int kept, RunSummary? reused) = StudyCommand.Run(Options() with { ReuseOtherBuilds = true }, "test", TextWriter.Null, interactive: false);
            Assert.That(kept, Is.Zero);
            Assert.That(reused!.Ran, Is.Zero);
            Assert.That(reused.OtherBuild, Is.EqualTo(1));
            string report = File.ReadAllText(Path.Combine(folder, "report.md"));
            Assert.That(report, Does.Contain($"`{legacy}` (the engine assembly's bytes: the format before content hashes): 1 job, built from commit b531d51"));
            List<string[]> rows = ReadCsv(Path.Combine(folder, "results.csv"));
            string[] row = rows.Single(r => r[0] == Path.GetFileNameWithoutExtension(victim));
            Assert.That(row[Array.IndexOf(rows[0], "commit")], Is.EqualTo("b531d51f9652459b87b4860eb96bcdc833e5f205"));

            (int code, RunSummary? again) = StudyCommand.Run(Options(), "test", TextWriter.Null, interactive: false);
            Assert.That(code, Is.Zero);
            Assert.That(again!.Ran, Is.EqualTo(1));
            Assert.That(again.OtherBuild, Is.EqualTo(1));
            Assert.That(JobResult.FromJson(File.ReadAllText(victim), victim).EngineBuild, Is.EqualTo(EngineIdentity.Current));
        }
        finally
        {
            File.WriteAllText(victim, original);
        }
    }

    [Test]
    public void ResumeWithReuseOtherBuilds_KeepsTheOtherBuildsJob_AndTheReportListsBothBuilds()
    {
        string victim = Directory.GetFiles(Path.Combine(folder, "jobs"), "*.json").Order(StringComparer.Ordinal).Last();
        string original = File.ReadAllText(victim);
        MarkBuild(victim, "another-build");
        try
        {
            (int code, RunSummary? again) = StudyCommand.Run(Options() with { ReuseOtherBuilds = true }, "test", TextWriter.Null, interactive: false);

            Assert.That(code, Is.EqualTo(0));
            Assert.That(again!.Ran, Is.Zero);
            Assert.That(again.AlreadyFinished, Is.EqualTo(ExpectedJobs));
            Assert.That(JobResult.FromJson(File.ReadAllText(victim), victim).EngineBuild, Is.EqualTo("another-build"));
            string report = File.ReadAllText(Path.Combine(folder, "report.md"));
            Assert.That(report, Does.Contain("**the results come from 2 different engine builds**"));
            Assert.That(report, Does.Contain($"`{EngineIdentity.Current}` (the build that wrote this report): {ExpectedJobs - 1} jobs{BuiltFrom(", ")}; `another-build`: 1 job{BuiltFrom(", ")}."));
        }
        finally
        {
            File.WriteAllText(victim, original);
        }
    }

    [Test]
    public void ResumeAfterTheTimingsCameFromAnotherBuild_TimesAgain_UnlessOtherBuildsAreReused()
    {
        // The jobs reran on an engine change but timing.json was kept: the cost section then timed the old engine.
        string timingFile = Path.Combine(folder, TimingProbe.FileName);
        Assert.That(TimingProbe.Read(folder)!.EngineBuild, Is.EqualTo(EngineIdentity.Current), "the probe records the build it timed");
        string original = File.ReadAllText(timingFile);
        try
        {
            MarkBuild(timingFile, "another-build");
            (int kept, _) = StudyCommand.Run(Options() with { ReuseOtherBuilds = true }, "test", TextWriter.Null, interactive: false);
            Assert.That(kept, Is.EqualTo(0));
            Assert.That(TimingProbe.Read(folder)!.EngineBuild, Is.EqualTo("another-build"), "--reuse-other-builds keeps it");
            string report = File.ReadAllText(Path.Combine(folder, "report.md"));
            Assert.That(report, Does.Contain($"- Engine build of the cost timings ({TimingProbe.FileName}): `another-build`{BuiltFrom(", ")} — **not the build of every result below**."));

            var log = new StringWriter();
            (int code, RunSummary? again) = StudyCommand.Run(Options(), "test", log, interactive: false);
            Assert.That(code, Is.EqualTo(0));
            Assert.That(again!.Ran, Is.Zero, "the jobs are this build's");
            Assert.That(log.ToString(), Does.Contain($"{TimingProbe.FileName} was measured with another build (`another-build`); timing again with this one."));
            Assert.That(TimingProbe.Read(folder)!.EngineBuild, Is.EqualTo(EngineIdentity.Current));
            Assert.That(File.ReadAllText(Path.Combine(folder, "report.md")), Does.Not.Contain("Engine build of the cost timings"));
        }
        finally
        {
            File.WriteAllText(timingFile, original);
        }
    }

    private static void MarkBuild(string jobFile, string build)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(jobFile))!;
        node["engine_build"] = build;
        File.WriteAllText(jobFile, node.ToJsonString());
    }

    [Test]
    public void ReportOnly_RebuildsTheReport_WithoutRunningJobs()
    {
        File.Delete(Path.Combine(folder, "results.csv"));
        (int code, RunSummary? summary) = StudyCommand.Run(Options() with { ReportOnly = true }, "test", TextWriter.Null, interactive: false);
        Assert.That(code, Is.EqualTo(0));
        Assert.That(summary, Is.Null);
        Assert.That(ReadCsv(Path.Combine(folder, "results.csv")), Has.Count.EqualTo(ExpectedJobs + 1));
    }

    /// <summary>RFC 4180 reader: quoted cells may hold commas and doubled quotes.</summary>
    internal static List<string[]> ReadCsv(string path)
    {
        var rows = new List<string[]>();
        foreach (string line in File.ReadAllLines(path).Where(l => l.Length > 0))
        {
            var cells = new List<string>();
            var cell = new System.Text.StringBuilder();
            bool quoted = false;
            for (int k = 0; k < line.Length; k++)
            {
                char c = line[k];
                if (quoted)
                {
                    if (c == '"' && k + 1 < line.Length && line[k + 1] == '"') { cell.Append('"'); k++; }
                    else if (c == '"') quoted = false;
                    else cell.Append(c);
                }
                else if (c == '"') quoted = true;
                else if (c == ',') { cells.Add(cell.ToString()); cell.Clear(); }
                else cell.Append(c);
            }
            cells.Add(cell.ToString());
            rows.Add(cells.ToArray());
        }
        return rows;
    }
}
