using NumLstm.Benchmarks.Study;

namespace NumLstm.Tests.Study;

/// <summary>
/// What <c>compare</c> does with the folder given by --out before it runs anything: nothing already saved there may be
/// lost. Each study here is one job (sine, one placement, one seed, one epoch).
/// </summary>
public class StudyOutputFolderTests
{
    private string root = "";

    [SetUp]
    public void CreateRoot()
    {
        root = Path.Combine(Path.GetTempPath(), "numlstm-out-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
    }

    [TearDown]
    public void DeleteRoot()
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }

    private static string[] TinyStudy(string folder, int seeds = 1) => new[]
    {
        "--tasks", "sine", "--placements", "none", "--seeds", seeds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--epochs", "1",
        "--depths", "2", "--lr", "3e-3", "--scale", "0.15", "--jobs", "1", "--out", folder,
    };

    [Test]
    public void FolderOfAnotherStudy_IsRefusedWithCode2_AndItsReportAndManifestAreKept()
    {
        string folder = Path.Combine(root, "study");
        Assert.That(StudyCommand.Run(TinyStudy(folder), TextWriter.Null, TextWriter.Null), Is.Zero);
        string report = File.ReadAllText(Path.Combine(folder, "report.md"));
        string manifest = File.ReadAllText(Path.Combine(folder, StudyReport.ManifestFile));

        // Another plan (two seeds) into the same folder would replace study.json and report.md: the first study's
        // report could no longer be rebuilt (its plan is gone).
        var output = new StringWriter();
        var error = new StringWriter();
        int code = StudyCommand.Run(TinyStudy(folder, seeds: 2), output, error);

        Assert.That(code, Is.EqualTo(2), error.ToString());
        Assert.That(error.ToString(), Does.Contain(folder).And.Contain("another study").And.Contain("--out"));
        Assert.That(output.ToString(), Does.Not.Contain("Loading tasks"), "refused before any work");
        Assert.That(File.ReadAllText(Path.Combine(folder, "report.md")), Is.EqualTo(report));
        Assert.That(File.ReadAllText(Path.Combine(folder, StudyReport.ManifestFile)), Is.EqualTo(manifest));
    }

    [Test]
    public void ReportOnly_WithOptionsOfAnotherPlan_IsRefusedWithCode2_AndTheReportIsKept()
    {
        // --report-only --seeds 2 on a one-seed study reported the one-seed study and ignored --seeds without a word.
        string folder = Path.Combine(root, "study");
        Assert.That(StudyCommand.Run(TinyStudy(folder), TextWriter.Null, TextWriter.Null), Is.Zero);
        string report = File.ReadAllText(Path.Combine(folder, "report.md"));

        var error = new StringWriter();
        int code = StudyCommand.Run(TinyStudy(folder, seeds: 2).Append("--report-only").ToArray(), TextWriter.Null, error);

        Assert.That(code, Is.EqualTo(2), error.ToString());
        Assert.That(error.ToString(), Does.Contain("--report-only").And.Contain(folder).And.Contain("another study"));
        Assert.That(File.ReadAllText(Path.Combine(folder, "report.md")), Is.EqualTo(report));

        // The folder's own options, and --out alone, still rebuild it.
        Assert.That(StudyCommand.Run(TinyStudy(folder).Append("--report-only").ToArray(), TextWriter.Null, TextWriter.Null), Is.Zero);
        Assert.That(StudyCommand.Run(new[] { "--out", folder, "--report-only" }, TextWriter.Null, TextWriter.Null), Is.Zero);
    }

    [Test]
    public void ResumingTheSameStudy_KeepsTheTimeItStarted()
    {
        // The report's "Study started" line is study.json's created time: a resume rewrote it with the resume's time.
        string folder = Path.Combine(root, "study");
        Assert.That(StudyCommand.Run(TinyStudy(folder), TextWriter.Null, TextWriter.Null), Is.Zero);
        DateTimeOffset started = StudyReport.ReadManifest(folder).Created;
        Thread.Sleep(20);

        Assert.That(StudyCommand.Run(TinyStudy(folder), TextWriter.Null, TextWriter.Null), Is.Zero);

        Assert.That(StudyReport.ReadManifest(folder).Created, Is.EqualTo(started));
    }

    [Test]
    public void FolderWithReportFilesButNoManifest_IsRefusedWithCode2_AndTheFilesAreKept()
    {
        string folder = Path.Combine(root, "notes");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "report.md"), "my own notes");
        var error = new StringWriter();

        int code = StudyCommand.Run(TinyStudy(folder), TextWriter.Null, error);

        Assert.That(code, Is.EqualTo(2), error.ToString());
        Assert.That(error.ToString(), Does.Contain(folder).And.Contain("report.md"));
        Assert.That(File.ReadAllText(Path.Combine(folder, "report.md")), Is.EqualTo("my own notes"));
    }

    [Test]
    public void FolderHoldingOnlyCopiedJobFiles_IsAccepted()
    {
        // The documented way to reuse jobs: copy another study's jobs/ into a new folder, then run there.
        string first = Path.Combine(root, "first"), second = Path.Combine(root, "second");
        Assert.That(StudyCommand.Run(TinyStudy(first), TextWriter.Null, TextWriter.Null), Is.Zero);
        Directory.CreateDirectory(StudyRunner.JobsFolder(second));
        foreach (string file in Directory.GetFiles(StudyRunner.JobsFolder(first)))
            File.Copy(file, Path.Combine(StudyRunner.JobsFolder(second), Path.GetFileName(file)));
        var output = new StringWriter();

        Assert.That(StudyCommand.Run(TinyStudy(second, seeds: 2), output, TextWriter.Null), Is.Zero);
        Assert.That(output.ToString(), Does.Contain("2 jobs planned, 1 already finished"));
    }

    [Test]
    public void OutputThatIsAFile_IsRefusedWithCode2_BeforeLoadingAnything()
    {
        string file = Path.Combine(root, "a-file");
        File.WriteAllText(file, "keep me");
        var output = new StringWriter();
        var error = new StringWriter();

        int code = StudyCommand.Run(TinyStudy(file), output, error);

        Assert.That(code, Is.EqualTo(2), error.ToString());
        Assert.That(error.ToString(), Does.Contain("--out").And.Contain(file).And.Contain("is a file"));
        Assert.That(output.ToString(), Does.Not.Contain("Loading tasks"));
        Assert.That(File.ReadAllText(file), Is.EqualTo("keep me"));
    }
}
