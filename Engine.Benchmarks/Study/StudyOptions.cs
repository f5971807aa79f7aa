using System.Globalization;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Study;

/// <summary>A bad command line: the message says which option and what was expected. The command exits with code 2.</summary>
public sealed class StudyUsageException(string message) : Exception(message);

/// <summary>
/// Options of <c>compare</c>. <see cref="Parse"/> reads the command line; the defaults are the default study that
/// docs/ln-placement-study.md describes (about 6 minutes on 2 cores).
/// </summary>
public sealed record StudyOptions
{
    /// <summary>Task specs as given: jv, adding, mackey-glass, sine, har=&lt;dir&gt;, co2=&lt;csv&gt;.</summary>
    public IReadOnlyList<string> Tasks { get; init; } = new[] { "jv", "adding", "mackey-glass" };
    public IReadOnlyList<LayerNormPlacement> Placements { get; init; } = LayerNormPlacement.All;
    /// <summary>True when --placements was given: then the depth and LR sweeps use the same list instead of their subsets.</summary>
    public bool PlacementsGiven { get; init; }
    /// <summary>Depths of the depth sweep (unidirectional stacks). One value: no depth sweep.</summary>
    public IReadOnlyList<int> Depths { get; init; } = new[] { 2, 4, 6 };
    public int Seeds { get; init; } = 3;
    /// <summary>Epochs of every job; null: each task's own default.</summary>
    public int? Epochs { get; init; }
    /// <summary>Learning rates. The middle one (lower middle for an even count) is the base rate of every section; the rest form the LR sweep.</summary>
    public IReadOnlyList<double> LearningRates { get; init; } = new[] { 1e-3, 3e-3, 3e-2, 1e-1 };
    /// <summary>Jobs run at once. With 1, each Bidirectional layer runs its two directions on two threads instead.</summary>
    public int Jobs { get; init; } = 2;
    /// <summary>Output folder; null: study-output/&lt;preset or options hash&gt;.</summary>
    public string? Out { get; init; }
    /// <summary>Run only the jobs with index % SliceCount == SliceIndex.</summary>
    public int SliceIndex { get; init; }
    public int SliceCount { get; init; } = 1;
    /// <summary>The task that also gets the depth and LR sweeps; null: the first task.</summary>
    public string? SweepTask { get; init; }
    /// <summary>Units per direction of the seed architecture's bidirectional layers, one value a layer, for every task
    /// (<c>--units 100,200</c>: the seed model's own size); null: each task's own (16, 32).</summary>
    public IReadOnlyList<int>? SeedUnits { get; init; }
    /// <summary>Scale of each task's data: 1 the default study, smaller for --quick and tests.</summary>
    public double DataScale { get; init; } = 1.0;
    public bool Quick { get; init; }
    /// <summary>Rebuild report.md, results.* and the plots from the results in the folder, without running anything.</summary>
    public bool ReportOnly { get; init; }
    /// <summary>Keep finished jobs written by another engine build (or one not recorded) instead of running them again.</summary>
    public bool ReuseOtherBuilds { get; init; }
    public bool Help { get; init; }
    /// <summary>True when the command line chose the plan (--quick or an option that changes it, such as --tasks or --seeds):
    /// with --report-only, the folder's study must be that plan.</summary>
    public bool PlanGiven { get; init; }

    public double BaseLearningRate => LearningRates.Order().ElementAt((LearningRates.Count - 1) / 2);

    /// <summary>The --quick preset: Japanese Vowels and a short Mackey-Glass, 4 placements, 2 seeds, few epochs; under a minute.</summary>
    public static StudyOptions QuickPreset { get; } = new()
    {
        Tasks = new[] { "jv", "mackey-glass" },
        Placements = new[] { "none", "after-each", "before-dense", "in-cell:keras-gates" }.Select(LayerNormPlacement.Parse).ToArray(),
        Depths = new[] { 2, 4 },
        Seeds = 2,
        Epochs = 4,
        LearningRates = new[] { 3e-3, 3e-2 },
        DataScale = 0.5,
        Quick = true,
    };

    public const string Usage = """
        Usage: dotnet run -c Release --project Engine.Benchmarks -- compare [options]

        Runs the LayerNorm-placement study and writes a report folder (report.md, results.json, results.csv, SVG plots,
        jobs/<id>.json per finished job). Re-running the same command resumes: jobs finished by this build are skipped;
        jobs finished by another build run again. A build is the content of the engine and of the study code (sources,
        project files, configuration, SDK and package versions), the .NET runtime and the vector width, not the commit:
        a docs-only or tests-only commit, or another checkout folder, is the same build.

        Options:
          --tasks LIST         comma-separated: jv, adding, mackey-glass, sine, har=<dir>, co2=<csv>
                               (default jv,adding,mackey-glass; har and co2 are read from the path given)
          --placements LIST    none, after-each, before-dense, pre-norm, in-cell:<preset>, in-cell+after:<preset>
                               (presets: keras-gates, keras-snippet, ba2016, tf-addons; default: all nine)
          --depths LIST        depths of the depth sweep, e.g. 2,4,6 (default); one value turns it off
          --seeds N            seeds per configuration (default 3)
          --epochs N           epochs per job (default: per task, jv 15, adding 5, mackey-glass 8, har 5, co2 8)
          --lr LIST            learning rates (default 1e-3,3e-3,3e-2,1e-1); the middle (lower middle) one is the base rate,
                               the others form the LR sweep; one value turns it off
          --sweep-task NAME    task that gets the depth and LR sweeps (default: the first task)
          --units LIST         units per direction of the seed architecture's BiLSTM layers, one value a layer
                               (default 16,32; 100,200 is the seed model's own size); the depth sweep keeps 16
          --scale X            multiplies every task's sample counts (default 1; --quick uses 0.5). HAR uses
                               1200·X training and 800·X validation windows, capped at the data: --scale 7 takes
                               all 7415 / 2996
          --jobs N             jobs run in parallel (default 2)
          --out DIR            report folder (default study-output/default, study-output/quick or
                               study-output/custom-<hash of the options>)
          --slice K/N          run only jobs with index % N == K (0 <= K < N), to split a study over machines
          --report-only        rebuild the report from DIR/jobs without running jobs (whatever engine build wrote them)
          --reuse-other-builds keep finished jobs written by another build (other engine or study code, runtime or
                               vector width; or one not recorded, or recorded before content hashes: old job files)
                               instead of running them again; report.md lists the builds its results come from
          --quick              small preset (jv + mackey-glass, 4 placements, 2 seeds, 4 epochs): under a minute
          --help               this text

        Splitting over machines: run the same command with --slice 0/3, 1/3, 2/3 on three machines, copy every
        DIR/jobs/*.json into one DIR/jobs, then run the command once more without --slice (or with --report-only):
        finished jobs are skipped and the report is rebuilt from the job files. Machines with the same code, .NET runtime
        and vector width give the same build (compare --help prints it below); jobs from another build rerun: add
        --reuse-other-builds to that last run (or use --report-only) to keep them.
        """;

    private static double ParseScale(string value)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double scale) || !(scale > 0 && scale <= 100))
            throw new StudyUsageException($"Option --scale expects a factor in (0, 100] such as 0.5 or 7, got '{value}'.");
        return scale;
    }

    public static StudyOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var given = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (int k = 0; k < args.Count; k++)
        {
            string arg = args[k] == "-h" ? "--help" : args[k];   // -h as the top-level command takes it
            string name = arg, value;
            int equals = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0) { name = arg[..equals]; value = arg[(equals + 1)..]; }
            else value = "";
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new StudyUsageException($"Unexpected argument '{arg}': options start with -- (see --help).");
            bool flag = name is "--quick" or "--help" or "--report-only" or "--reuse-other-builds";
            if (!flag && !IsKnownValueOption(name)) throw new StudyUsageException($"Unknown option '{name}' (see --help).");
            if (flag)
            {
                if (equals > 0) throw new StudyUsageException($"Option {name} takes no value, got '{arg}'.");
                given[name] = null;
                continue;
            }
            if (equals <= 0)
            {
                if (k + 1 >= args.Count || args[k + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new StudyUsageException($"Option {name} needs a value (see --help).");
                value = args[++k];
            }
            if (!given.TryAdd(name, value)) throw new StudyUsageException($"Option {name} is given twice.");
        }

        StudyOptions options = given.ContainsKey("--quick") ? QuickPreset : new StudyOptions();
        if (given.ContainsKey("--help")) return options with { Help = true };
        if (given.ContainsKey("--report-only")) options = options with { ReportOnly = true };
        if (given.Keys.Any(name => name is "--quick" or "--tasks" or "--placements" or "--depths" or "--seeds" or "--epochs" or "--lr" or "--sweep-task" or "--scale" or "--units"))
            options = options with { PlanGiven = true };
        if (given.ContainsKey("--reuse-other-builds")) options = options with { ReuseOtherBuilds = true };
        foreach ((string name, string? value) in given)
        {
            if (value is null) continue;
            options = name switch
            {
                "--tasks" => options with { Tasks = ParseTasks(value) },
                "--placements" => options with { Placements = ParsePlacements(value), PlacementsGiven = true },
                "--depths" => options with { Depths = ParseList(name, value, s => ParseInt(name, s, 1, 64)).Distinct().Order().ToArray() },
                "--seeds" => options with { Seeds = ParseInt(name, value, 1, 1000) },
                "--epochs" => options with { Epochs = ParseInt(name, value, 1, 100_000) },
                "--lr" => options with { LearningRates = ParseList(name, value, s => ParseDouble(name, s)).Distinct().Order().ToArray() },
                "--jobs" => options with { Jobs = ParseInt(name, value, 1, 256) },
                "--out" => options with { Out = value.Length > 0 ? value : throw new StudyUsageException("Option --out needs a folder.") },
                "--slice" => ParseSlice(options, value),
                "--sweep-task" => options with { SweepTask = value },
                "--scale" => options with { DataScale = ParseScale(value) },
                "--units" => options with { SeedUnits = ParseUnits(value) },
                _ => throw new StudyUsageException($"Unknown option '{name}'."),
            };
        }
        if (options.SweepTask is not null && !options.Tasks.Any(t => StudyTasks.NameOf(t) == options.SweepTask))
            throw new StudyUsageException($"--sweep-task '{options.SweepTask}' is not one of the tasks ({string.Join(", ", options.Tasks.Select(StudyTasks.NameOf))}).");
        return options;
    }

    private static bool IsKnownValueOption(string name) =>
        name is "--tasks" or "--placements" or "--depths" or "--seeds" or "--epochs" or "--lr" or "--jobs" or "--out" or "--slice" or "--sweep-task" or "--scale" or "--units";

    private static IReadOnlyList<string> ParseTasks(string value)
    {
        var tasks = ParseList("--tasks", value, s => s);
        foreach (string task in tasks)
        {
            try { StudyTasks.Validate(task); }
            catch (StudyUsageException e) { throw new StudyUsageException($"--tasks: {e.Message}"); }
        }
        var names = tasks.Select(StudyTasks.NameOf).ToList();
        string? twice = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (twice is not null) throw new StudyUsageException($"--tasks names '{twice}' twice.");
        return tasks;
    }

    private static IReadOnlyList<LayerNormPlacement> ParsePlacements(string value)
    {
        var placements = ParseList("--placements", value, s =>
        {
            try { return LayerNormPlacement.Parse(s); }
            catch (ArgumentException e) { throw new StudyUsageException($"--placements: {e.Message}"); }
        });
        return placements.DistinctBy(p => p.Name).ToArray();
    }

    /// <summary>Units of the seed architecture: 1 to <see cref="MaxSeedLayers"/> layers of 1 to <see cref="MaxSeedUnits"/> units.</summary>
    private static int[] ParseUnits(string value)
    {
        int[] units = ParseList("--units", value, s => ParseInt("--units", s, 1, MaxSeedUnits)).ToArray();
        if (units.Length > MaxSeedLayers)
            throw new StudyUsageException($"Option --units gives one value per BiLSTM layer of the seed architecture, at most {MaxSeedLayers} layers; got {units.Length} values ('{value}').");
        return units;
    }

    /// <summary>Bounds of --units: a study trains dozens of models on two cores, so wider or deeper seed models are a typo.</summary>
    public const int MaxSeedUnits = 4096, MaxSeedLayers = 8;

    private static StudyOptions ParseSlice(StudyOptions options, string value)
    {
        string[] parts = value.Split('/');
        if (parts.Length != 2) throw new StudyUsageException($"--slice must be K/N (e.g. 0/3), got '{value}'.");
        int count = ParseInt("--slice N", parts[1], 1, 1_000_000);
        int index = ParseInt("--slice K", parts[0], 0, count - 1);
        return options with { SliceIndex = index, SliceCount = count };
    }

    private static List<TValue> ParseList<TValue>(string name, string value, Func<string, TValue> parse)
    {
        var items = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0) throw new StudyUsageException($"Option {name} needs at least one value.");
        return items.Select(parse).ToList();
    }

    private static int ParseInt(string name, string text, int min, int max)
    {
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
            throw new StudyUsageException($"Option {name} expects a whole number in {min}..{max}, got '{text}'.");
        return value;
    }

    private static double ParseDouble(string name, string text)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value > 0) || !double.IsFinite(value) || value >= 10)
            throw new StudyUsageException($"Option {name} expects learning rates in (0, 10) such as 3e-3, got '{text}'.");
        return value;
    }

    /// <summary>The options that decide which jobs exist and what they compute (not --jobs, --out, --slice).</summary>
    public string PlanFingerprint() => string.Join(";",
        "tasks=" + string.Join(",", Tasks), "placements=" + string.Join(",", Placements.Select(p => p.Name)), "placementsGiven=" + PlacementsGiven,
        "depths=" + string.Join(",", Depths), "seeds=" + Seeds, "epochs=" + Epochs, "lr=" + string.Join(",", LearningRates.Select(Invariant)),
        "sweep=" + SweepTask, "scale=" + Invariant(DataScale))
        // Only when given, so every plan without --units keeps the fingerprint (and folder) it had before the option.
        + (SeedUnits is null ? "" : ";units=" + string.Join(",", SeedUnits));

    /// <summary>A task as this study trains it: with <see cref="SeedUnits"/> when given.</summary>
    public StudyTask Apply(StudyTask task) => SeedUnits is null ? task : task with { SeedUnits = SeedUnits };

    /// <summary>The folder used when --out is not given: study-output/default, study-output/quick or study-output/custom-&lt;hash&gt;.</summary>
    public string OutputFolder
    {
        get
        {
            if (Out is not null) return Out;
            string name = PlanFingerprint() == new StudyOptions().PlanFingerprint() ? "default"
                : PlanFingerprint() == QuickPreset.PlanFingerprint() ? "quick"
                : "custom-" + StudyJob.ShortHash(PlanFingerprint());
            return Path.Combine("study-output", name);
        }
    }

    internal static string Invariant(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
