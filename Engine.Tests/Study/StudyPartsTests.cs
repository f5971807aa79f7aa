using System.Xml.Linq;
using NumLstm.Benchmarks.Study;
using NumLstm.Models;

namespace NumLstm.Tests.Study;

public class StudyOptionsTests
{
    [TestCase("--seeds", "0")]
    [TestCase("--seeds", "three")]
    [TestCase("--epochs", "-1")]
    [TestCase("--jobs", "0")]
    [TestCase("--lr", "0")]
    [TestCase("--lr", "abc")]
    [TestCase("--depths", "2,x")]
    [TestCase("--slice", "3/3")]
    [TestCase("--slice", "1")]
    [TestCase("--placements", "after-everything")]
    [TestCase("--placements", "in-cell:nonsense")]
    [TestCase("--tasks", "mnist")]
    [TestCase("--tasks", "har")]
    [TestCase("--tasks", "har=/no/such/folder")]
    [TestCase("--tasks", "jv,jv")]
    [TestCase("--frobnicate", "1")]
    [TestCase("--scale", "0")]
    [TestCase("--scale", "big")]
    [TestCase("--seeds", null)]
    [TestCase("--units", "0,200")]
    [TestCase("--units", "100,wide")]
    [TestCase("--units", "4097")]
    [TestCase("--units", "8,8,8,8,8,8,8,8,8")]
    [TestCase("--units", ",")]
    public void BadOption_ExitsWithCode2_AndNamesTheOption(string option, string? value)
    {
        var error = new StringWriter();
        string[] args = value is null ? new[] { option } : new[] { option, value };
        int code = StudyCommand.Run(args, TextWriter.Null, error);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error.ToString(), Does.Contain(option.Split('=')[0]).Or.Contain(value ?? option));
    }

    [TestCase("co2_ppmv_filled\n315.4\n", "1 values")]
    [TestCase("co2_ppmv_filled\n315.4\n315.5\n315.7\n", "3 values")]
    public void Co2FileTooShortForTheTask_ExitsWithCode1_AndNamesTheFile(string csv, string count)
    {
        // A co2 CSV that parses but holds too few weeks for one window used to escape as an unhandled ArgumentException.
        string folder = Path.Combine(Path.GetTempPath(), "numlstm-co2-short-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            string path = Path.Combine(folder, "co2.csv");
            File.WriteAllText(path, csv);
            var error = new StringWriter();
            int code = StudyCommand.Run(new[] { "--tasks", "co2=" + path, "--out", Path.Combine(folder, "out") }, TextWriter.Null, error);
            Assert.That(code, Is.EqualTo(1), error.ToString());
            Assert.That(error.ToString(), Does.Contain(path).And.Contain(count).And.Contain("too few"));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [TestCase("--help")]
    [TestCase("-h")]
    public void Help_PrintsUsage_AndExitsWith0(string flag)
    {
        var output = new StringWriter();
        Assert.That(StudyCommand.Run(new[] { flag }, output, TextWriter.Null), Is.EqualTo(0));
        Assert.That(output.ToString(), Does.Contain("--placements").And.Contain("--slice"));
    }

    [Test]
    public void Parse_ReadsEveryOption()
    {
        StudyOptions options = StudyOptions.Parse(new[]
        {
            "--tasks", "sine,adding", "--placements", "none,in-cell:tf-addons", "--depths", "6,2", "--seeds", "4", "--epochs", "7",
            "--lr=1e-2,1e-3,3e-3", "--jobs", "3", "--out", "x", "--slice", "1/4", "--sweep-task", "adding", "--scale", "2.5",
        });
        Assert.That(options.DataScale, Is.EqualTo(2.5));
        Assert.That(options.Tasks, Is.EqualTo(new[] { "sine", "adding" }));
        Assert.That(options.Placements.Select(p => p.Name), Is.EqualTo(new[] { "none", "in-cell:tf-addons" }));
        Assert.That(options.PlacementsGiven, Is.True);
        Assert.That(options.Depths, Is.EqualTo(new[] { 2, 6 }));
        Assert.That((options.Seeds, options.Epochs, options.Jobs, options.Out, options.SliceIndex, options.SliceCount, options.SweepTask),
            Is.EqualTo((4, (int?)7, 3, "x", 1, 4, "adding")));
        Assert.That(options.LearningRates, Is.EqualTo(new[] { 1e-3, 3e-3, 1e-2 }));
        Assert.That(options.BaseLearningRate, Is.EqualTo(3e-3));
    }

    [Test]
    public void Units_SetTheSeedArchitecture_OfEveryTask_AndOnlyWhenGivenChangeThePlan()
    {
        StudyOptions options = StudyOptions.Parse(new[] { "--units", "100,200" });
        Assert.That(options.SeedUnits, Is.EqualTo(new[] { 100, 200 }));
        Assert.That(options.PlanGiven, Is.True);
        Assert.That(options.OutputFolder, Does.StartWith(Path.Combine("study-output", "custom-")));
        // Without --units the fingerprint is the one studies had before the option, so their folders still resume.
        Assert.That(new StudyOptions().PlanFingerprint(), Does.Not.Contain("units"));
        Assert.That(options.PlanFingerprint(), Does.EndWith(";units=100,200"));
        StudyTask sine = StudyTasks.Load("sine", 0.05);
        Assert.That(new StudyOptions().Apply(sine), Is.SameAs(sine));
        var jobs = StudyPlan.Build(options with { Tasks = new[] { "sine" }, Depths = new[] { 2 }, LearningRates = new[] { 3e-3 } },
            new[] { options.Apply(sine) });
        Assert.That(jobs.Select(j => j.Units), Has.All.EqualTo(new[] { 100, 200 }));
        Assert.That(jobs.Select(j => j.ModelSpec(sine).Layers.Count(l => l.Type == "bidirectional")), Has.All.EqualTo(2));
        var own = StudyPlan.Build(new StudyOptions { Tasks = new[] { "sine" }, Depths = new[] { 2 }, LearningRates = new[] { 3e-3 } }, new[] { sine });
        Assert.That(jobs.Select(j => j.Id).Intersect(own.Select(j => j.Id)), Is.Empty, "the units are part of a job's id");
        // One value: a seed architecture of one BiLSTM layer.
        StudyOptions one = StudyOptions.Parse(new[] { "--units", "64" });
        Assert.That(StudyPlan.Build(one with { Tasks = new[] { "sine" }, Depths = new[] { 2 }, LearningRates = new[] { 3e-3 } }, new[] { one.Apply(sine) })
            .Select(j => j.Depth), Has.All.EqualTo(1));
    }

    [Test]
    public void DefaultOptions_CompareEveryPlacement_AndWriteToStudyOutputDefault()
    {
        var options = StudyOptions.Parse(Array.Empty<string>());
        Assert.That(options.Placements, Is.EqualTo(LayerNormPlacement.All));
        Assert.That(options.OutputFolder, Is.EqualTo(Path.Combine("study-output", "default")));
        Assert.That(StudyOptions.Parse(new[] { "--quick" }).OutputFolder, Is.EqualTo(Path.Combine("study-output", "quick")));
        Assert.That(StudyOptions.Parse(new[] { "--seeds", "5" }).OutputFolder, Does.StartWith(Path.Combine("study-output", "custom-")));
    }
}

public class StudyPlanTests
{
    private static readonly IReadOnlyList<StudyTask> Tasks = new[] { "sine", "adding", "mackey-glass" }.Select(t => StudyTasks.Load(t, 0.05)).ToList();

    [Test]
    public void DefaultPlan_Has144Jobs()
    {
        // Placement section: 3 tasks × 9 placements × 3 seeds = 81. Depth sweep: 3 depths × 4 placements × 3 seeds = 36.
        // Rate sweep: 4 rates × 3 placements × 3 seeds = 36, of which the 9 at the base rate are placement-section jobs: 27 new.
        var jobs = StudyPlan.Build(new StudyOptions { Tasks = new[] { "sine", "adding", "mackey-glass" } }, Tasks);
        Assert.That(jobs, Has.Count.EqualTo(144));
        Assert.That(jobs.Select(j => j.Id).Distinct().Count(), Is.EqualTo(144));
        Assert.That(jobs.Count(j => j.Architecture == Architectures.Stack), Is.EqualTo(36));
        Assert.That(jobs.Where(j => j.Architecture == Architectures.Stack).Select(j => j.Task).Distinct(), Is.EqualTo(new[] { "sine" }));
    }

    [Test]
    public void SameOptions_GiveTheSameIds_AndAChangedOptionChangesThem()
    {
        var options = new StudyOptions { Tasks = new[] { "sine" }, Seeds = 1 };
        var first = StudyPlan.Build(options, Tasks.Take(1).ToList()).Select(j => j.Id).ToList();
        var second = StudyPlan.Build(options, Tasks.Take(1).ToList()).Select(j => j.Id).ToList();
        var longer = StudyPlan.Build(options with { Epochs = 99 }, Tasks.Take(1).ToList()).Select(j => j.Id).ToList();
        Assert.That(second, Is.EqualTo(first));
        Assert.That(longer.Intersect(first), Is.Empty);
    }

    [Test]
    public void Slices_PartitionThePlan()
    {
        var jobs = StudyPlan.Build(new StudyOptions { Tasks = new[] { "sine", "adding", "mackey-glass" } }, Tasks);
        var slices = Enumerable.Range(0, 4).Select(k => StudyPlan.Slice(jobs, k, 4)).ToList();
        Assert.That(slices.Sum(s => s.Count), Is.EqualTo(jobs.Count));
        Assert.That(slices.SelectMany(s => s).Select(j => j.Id), Is.EquivalentTo(jobs.Select(j => j.Id)));
        Assert.That(slices.Select(s => s.Count).Max() - slices.Select(s => s.Count).Min(), Is.LessThanOrEqualTo(1));
    }
}

public class JobRunnerTests
{
    private static readonly StudyTask Sine = StudyTasks.Load("sine", 0.15);

    private static StudyJob Job(string placement) => new("sine", Architectures.Seed, 2, placement, 1e-2, 3, 2, new[] { 8, 8 }, true, 0.4, 16, Sine.Fingerprint);

    [Test]
    public void SameJob_TwiceAndWithOrWithoutParallelDirections_GivesIdenticalNumbers()
    {
        StudyJob job = Job("in-cell:tf-addons");
        JobResult a = JobRunner.Run(job, Sine, parallelDirections: false);
        JobResult b = JobRunner.Run(job, Sine, parallelDirections: true);
        Assert.That(b.History.Select(e => e.TrainLoss), Is.EqualTo(a.History.Select(e => e.TrainLoss)));
        Assert.That(b.History.Select(e => e.ValidationLoss), Is.EqualTo(a.History.Select(e => e.ValidationLoss)));
        Assert.That(b.FinalMetric, Is.EqualTo(a.FinalMetric));
    }

    [Test]
    public void Result_CountsLayerNormsAndParameters_OfTheSeedArchitecture()
    {
        // Bidirectional 8+8 units on 1 feature, then 8+8 on 16, Dense 16→3.
        // LSTM params 4H(F + H + 1) per direction: 32·(1+8+1) = 320 and 32·(16+8+1) = 800.
        long lstm = 2 * 320 + 2 * 800, dense = 16 * 3 + 3;
        JobResult none = JobRunner.Run(Job("none") with { Epochs = 1 }, Sine, false);
        JobResult after = JobRunner.Run(Job("after-each") with { Epochs = 1 }, Sine, false);
        JobResult cell = JobRunner.Run(Job("in-cell:ba2016") with { Epochs = 1 }, Sine, false);
        Assert.That(none.ParameterCount, Is.EqualTo(lstm + dense));
        Assert.That(after.ParameterCount, Is.EqualTo(lstm + dense + 2 * (2 * 16)));
        Assert.That((none.LayerNormCount, after.LayerNormCount), Is.EqualTo((0, 2)));
        // ba2016: separate input and recurrent gate norms (2) plus the cell state (1), per direction and layer: 3 × 2 × 2.
        Assert.That(cell.LayerNormCount, Is.EqualTo(12));
        Assert.That(none.History, Has.Count.EqualTo(1));
        Assert.That(none.Diverged, Is.False);
    }

    [Test]
    public void SpikeDetector_FlagsALossAboveTwiceTheRecentMedian_OnlyAfterFiveBatches()
    {
        var detector = new JobRunner.SpikeDetector();
        bool[] flags = new[] { 1.0, 5.0, 1.0, 1.0, 1.0, 1.9, 2.1, 1.0, 2.0 }.Select(detector.Add).ToArray();
        // 5.0 comes with one batch of history: not counted. 1.9 < 2 × median(1,5,1,1,1) = 2; 2.1 > 2; 2.0 is not above 2 × 1.
        Assert.That(flags, Is.EqualTo(new[] { false, false, false, false, false, false, true, false, false }));
    }
}

public class SvgChartTests
{
    [Test]
    public void Lines_AreWellFormed_EscapeNames_AndDrawOnePolylinePerSeries()
    {
        string svg = SvgChart.Lines("a < b & c", "epoch", "loss", new[]
        {
            new ChartSeries("in-cell+after:<x>", new double[] { 1, 2, 3 }, new[] { 3.0, 2.0, 1.0 }, new[] { 2.5, 1.5, 0.5 }, new[] { 3.5, 2.5, 1.5 }),
            new ChartSeries("none", new double[] { 1, 2, 3 }, new[] { 3.0, double.NaN, 2.0 }),
        }, referenceY: 1.5, referenceLabel: "baseline");
        XDocument document = XDocument.Parse(svg);
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.That(document.Descendants(ns + "polyline").Count(), Is.EqualTo(2));
        Assert.That(document.Descendants(ns + "polygon").Count(), Is.EqualTo(1));
        Assert.That(document.Descendants(ns + "text").Select(t => t.Value), Does.Contain("a < b & c").And.Contain("in-cell+after:<x>"));
        // The NaN point is skipped: the second series has two points.
        string points = document.Descendants(ns + "polyline").Last().Attribute("points")!.Value;
        Assert.That(points.Split(' '), Has.Length.EqualTo(2));
    }

    [TestCase(-0.1, 1.9)]
    [TestCase(-0.3, 0.3)]
    [TestCase(-0.7, 0.05)]
    [TestCase(-3.0, 2.6)]
    public void AxisTicks_AreRoundNumbers_WithZeroAsZero(double low, double high)
    {
        // Ticks were stepped by repeated addition from ceil(min/step)·step: a tick at zero could read "-0" (loss_jv.svg of
        // the shipped default report) or "5.551E-17".
        XNamespace ns = "http://www.w3.org/2000/svg";
        var series = new[] { new ChartSeries("a", new[] { low, high }, new[] { low, high }) };
        foreach (string svg in new[] { SvgChart.Lines("t", "x", "y", series), SvgChart.Dots("t", "y", new[] { "a", "b" }, series) })
        {
            var labels = XDocument.Parse(svg).Descendants(ns + "text").Select(t => t.Value)
                .Where(v => v.Length > 0 && (char.IsDigit(v[^1]) || v.Contains('E'))).ToList();
            Assert.That(labels, Is.Not.Empty);
            foreach (string label in labels)
                Assert.That(label, Does.Match(@"^-?(0|[1-9]\d*)(\.\d+)?$").And.Not.EqualTo("-0"), string.Join(" ", labels));
            Assert.That(labels, Does.Contain("0"), "the axis crosses zero");
        }
    }

    [Test]
    public void Dots_PutAHigherValueHigherOnThePage()
    {
        string svg = SvgChart.Dots("t", "accuracy", new[] { "a", "b" }, new[] { new ChartSeries("", new double[] { 0, 1 }, new[] { 0.2, 0.9 }) });
        XNamespace ns = "http://www.w3.org/2000/svg";
        var circles = XDocument.Parse(svg).Descendants(ns + "circle").Select(c => double.Parse(c.Attribute("cy")!.Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.That(circles, Has.Count.EqualTo(2));
        Assert.That(circles[1], Is.LessThan(circles[0]));
    }
}
