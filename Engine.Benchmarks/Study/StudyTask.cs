using NumLstm.Data;

namespace NumLstm.Benchmarks.Study;

/// <summary>One dataset of the study, loaded or generated, with what the report needs to judge a result.</summary>
public sealed record StudyTask
{
    /// <summary>Short name used in job ids and on the command line: jv, adding, mackey-glass, sine, har, co2.</summary>
    public required string Name { get; init; }
    /// <summary>One line for the report: what the task is, its size, where it came from.</summary>
    public required string Description { get; init; }
    public required SequenceDataset Train { get; init; }
    public required SequenceDataset Validation { get; init; }
    /// <summary>Epochs-to-target threshold on the validation metric (accuracy ≥ target, or MAE ≤ target).</summary>
    public required double Target { get; init; }
    /// <summary>The validation metric of a naive predictor (majority class, training mean or persistence).</summary>
    public required double Baseline { get; init; }
    public required string BaselineName { get; init; }
    /// <summary>Units per direction of the seed architecture's bidirectional layers, one value a layer (default 16 then
    /// 32; <c>--units</c> sets them for every task, e.g. the seed model's own 100 then 200).</summary>
    public IReadOnlyList<int> SeedUnits { get; init; } = new[] { 16, 32 };
    /// <summary>Units of every layer of the depth-sweep stacks (unidirectional).</summary>
    public int StackUnits { get; init; } = 16;
    public required int DefaultEpochs { get; init; }
    public int BatchSize { get; init; } = 32;
    /// <summary>Multiplies the MAE the trainer reports (on standardized targets) into the task's units.</summary>
    public double MetricScale { get; init; } = 1.0;
    public string MetricUnit { get; init; } = "";

    public bool IsClassification => Train.Task == TaskKind.Classification;
    public string MetricName => IsClassification ? "accuracy" : "mae";
    public bool HigherIsBetter => IsClassification;
    public int OutputUnits => IsClassification ? Train.ClassCount : Train.TargetWidth;

    /// <summary>What identifies the data a job sees (part of its id): name, sizes and scale.</summary>
    public string Fingerprint => $"{Name}:{Train.Count}x{Train.Steps}x{Train.Features}/{Validation.Count}:{Description}";

    public bool ReachedTarget(double metric) => HigherIsBetter ? metric >= Target : metric <= Target;
}

/// <summary>Loads the study's tasks from their command-line specs (jv, adding, mackey-glass, sine, har=&lt;dir&gt;, co2=&lt;csv&gt;).</summary>
public static class StudyTasks
{
    public static readonly string[] Names = { "jv", "adding", "mackey-glass", "sine", "har", "co2" };

    /// <summary>The folder of the shipped Japanese Vowels copy, next to the program.</summary>
    public static string JapaneseVowelsFolder => Path.Combine(AppContext.BaseDirectory, "Data", "japanese_vowels");

    public static string NameOf(string spec) => spec.Split('=', 2)[0].Trim().ToLowerInvariant();

    /// <summary>Checks a spec without loading it: a known name, and for har/co2 an existing path.</summary>
    public static void Validate(string spec)
    {
        string name = NameOf(spec);
        string? path = spec.Contains('=') ? spec.Split('=', 2)[1] : null;
        if (!Names.Contains(name))
            throw new StudyUsageException($"Unknown task '{spec}'; expected jv, adding, mackey-glass, sine, har=<dir> or co2=<csv>.");
        if (name is "har" or "co2")
        {
            if (string.IsNullOrEmpty(path)) throw new StudyUsageException($"Task {name} is read from a path: give {name}=<{(name == "har" ? "folder" : "csv file")}>.");
            if (name == "har" && !Directory.Exists(path)) throw new StudyUsageException($"Task har: folder '{path}' does not exist.");
            if (name == "co2" && !File.Exists(path)) throw new StudyUsageException($"Task co2: file '{path}' does not exist.");
        }
        else if (path is not null) throw new StudyUsageException($"Task {name} takes no path, got '{spec}'.");
    }

    /// <summary>
    /// Loads or generates one task. <paramref name="scale"/> multiplies the sample counts (1 for the default study);
    /// every random choice is seeded, so the same spec and scale give the same data.
    /// </summary>
    public static StudyTask Load(string spec, double scale = 1.0)
    {
        Validate(spec);
        if (!(scale > 0 && scale <= 100)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "Data scale must be in (0, 100].");
        string name = NameOf(spec);
        string path = spec.Contains('=') ? spec.Split('=', 2)[1] : "";
        int Scaled(int count, int minimum = 16) => Math.Max(minimum, (int)Math.Round(count * scale));
        return name switch
        {
            "jv" => JapaneseVowelsTask(Scaled),
            "adding" => AddingTask(Scaled),
            "mackey-glass" => MackeyGlassTask(Scaled),
            "sine" => SineTask(Scaled),
            "har" => HarTask(path, Scaled),
            "co2" => Co2Task(path),
            _ => throw new StudyUsageException($"Unknown task '{spec}'."),
        };
    }

    private static StudyTask JapaneseVowelsTask(Func<int, int, int> scaled)
    {
        (SequenceDataset train, SequenceDataset test) = JapaneseVowels.Load(JapaneseVowelsFolder);
        int trainCount = Math.Min(train.Count, scaled(train.Count, 27)), testCount = Math.Min(test.Count, scaled(test.Count, 27));
        if (trainCount < train.Count) train = train.Split((double)trainCount / train.Count, 11).First;
        if (testCount < test.Count) test = test.Split((double)testCount / test.Count, 12).First;
        var standardizer = Standardizer.Fit(train);
        train = standardizer.Transform(train);
        test = standardizer.Transform(test);
        return new StudyTask
        {
            Name = "jv",
            Description = $"Japanese Vowels, 9 speakers, 12 LPC channels, 7–29 steps (masked); train {train.Count}, validation = UCI test split {test.Count}; standardized",
            Train = train, Validation = test,
            Target = 0.9, Baseline = Majority(test), BaselineName = "majority class",
            DefaultEpochs = 15,
        };
    }

    private static StudyTask AddingTask(Func<int, int, int> scaled)
    {
        const int length = 100;
        SequenceDataset train = AddingProblem.Generate(scaled(320, 16), length, seed: 101);
        SequenceDataset validation = AddingProblem.Generate(scaled(128, 16), length, seed: 202);
        return new StudyTask
        {
            Name = "adding",
            Description = $"adding problem, T = {length}, 2 channels (value, marker); train {train.Count}, validation {validation.Count}; generated (seeds 101, 202)",
            Train = train, Validation = validation,
            Target = 0.25, Baseline = MeanPredictorMae(train, validation), BaselineName = "predict the training mean (≈ 1/3)",
            DefaultEpochs = 5,
        };
    }

    private static StudyTask MackeyGlassTask(Func<int, int, int> scaled)
    {
        const int window = 32, stride = 2;
        int samples = scaled(800, 200) * stride;
        float[] raw = MackeyGlass.Generate(samples, seed: 17, tau: 17, noiseStd: 0.02);
        // Every 2nd sample: one step ahead is 2 time units, so persistence is not a good forecast.
        float[] series = Enumerable.Range(0, raw.Length / stride).Select(k => raw[k * stride]).ToArray();
        (float mean, float std) = Moments(series.AsSpan(0, (int)(0.75 * series.Length)));
        for (int k = 0; k < series.Length; k++) series[k] = (series[k] - mean) / std;
        (SequenceDataset train, SequenceDataset validation) = Windows.SliceSplit(series, window, 1, 0.75);
        double persistence = PersistenceMae(validation);
        return new StudyTask
        {
            Name = "mackey-glass",
            Description = $"Mackey-Glass (τ = 17, noise σ = 0.02, every 2nd sample), next value from {window} steps; train {train.Count}, validation {validation.Count} (later in time); standardized; generated (seed 17)",
            Train = train, Validation = validation,
            Target = persistence, Baseline = persistence, BaselineName = "persistence (repeat the last value)",
            MetricUnit = "std units",
            DefaultEpochs = 8,
        };
    }

    private static StudyTask SineTask(Func<int, int, int> scaled)
    {
        SequenceDataset train = SineFrequencies.Generate(scaled(240, 8), 8, 16, 3, seed: 31);
        SequenceDataset validation = SineFrequencies.Generate(scaled(96, 8), 8, 16, 3, seed: 32);
        return new StudyTask
        {
            Name = "sine",
            Description = $"sine frequencies, 3 classes, 8–16 steps (masked); train {train.Count}, validation {validation.Count}; generated (seeds 31, 32)",
            Train = train, Validation = validation,
            Target = 0.8, Baseline = Majority(validation), BaselineName = "majority class",
            SeedUnits = new[] { 8, 8 }, StackUnits = 8,
            DefaultEpochs = 5,
        };
    }

    private static StudyTask HarTask(string folder, Func<int, int, int> scaled)
    {
        (SequenceDataset train, SequenceDataset test) = Har.Load(folder);
        int trainCount = Math.Min(train.Count, scaled(1200, 32)), testCount = Math.Min(test.Count, scaled(800, 32));
        // Random subsets by window; the validation windows come from the test subjects, so nothing leaks across.
        if (trainCount < train.Count) train = train.Split((double)trainCount / train.Count, 21).First;
        if (testCount < test.Count) test = test.Split((double)testCount / test.Count, 22).First;
        var standardizer = Standardizer.Fit(train);
        train = standardizer.Transform(train);
        test = standardizer.Transform(test);
        return new StudyTask
        {
            Name = "har",
            Description = $"HAR windows (rebuilt from UCI HAPT), 9 channels × 128 steps, 6 activities; {train.Count} random training windows, validation {test.Count} windows of the test subjects; standardized; from '{folder}'",
            Train = train, Validation = test,
            Target = 0.85, Baseline = Majority(test), BaselineName = "majority class",
            DefaultEpochs = 5,
        };
    }

    private static StudyTask Co2Task(string csv)
    {
        const int window = 52;
        float[] co2 = Co2.Load(csv);
        // Weekly differences: the level trends out of the training range, the differences do not.
        float[] diffs = new float[co2.Length - 1];
        for (int k = 0; k < diffs.Length; k++) diffs[k] = co2[k + 1] - co2[k];
        (float mean, float std) = Moments(diffs.AsSpan(0, (int)(0.8 * diffs.Length)));
        for (int k = 0; k < diffs.Length; k++) diffs[k] = (diffs[k] - mean) / std;
        SequenceDataset train, validation;
        try
        {
            (train, validation) = Windows.SliceSplit(diffs, window, 1, 0.8);
        }
        catch (ArgumentException e)
        {
            // A file that parses but is too short: a data error the command reports, not a crash.
            throw new InvalidDataException($"{csv}: {co2.Length} values are too few for the co2 task (windows of {window} weekly changes, 80 % train, 20 % validation): {e.Message}", e);
        }
        double baseline = MeanPredictorMae(train, validation) * std;
        return new StudyTask
        {
            Name = "co2",
            Description = $"Mauna Loa weekly CO2, next weekly change from the last {window} changes; train {train.Count}, validation {validation.Count} (the last 20 % in time); from '{csv}'",
            Train = train, Validation = validation,
            Target = baseline, Baseline = baseline, BaselineName = "predict the mean weekly change",
            DefaultEpochs = 8,
            MetricScale = std, MetricUnit = "ppmv",
        };
    }

    private static double Majority(SequenceDataset data) => (double)data.ClassCounts().Max() / data.Count;

    private static double MeanPredictorMae(SequenceDataset train, SequenceDataset validation)
    {
        double mean = train.Targets!.Average(v => (double)v);
        return validation.Targets!.Average(v => Math.Abs(v - mean));
    }

    private static double PersistenceMae(SequenceDataset windows)
    {
        double sum = 0;
        for (int n = 0; n < windows.Count; n++)
        {
            ReadOnlySpan<float> sequence = windows.Sequence(n);
            sum += Math.Abs(windows.Targets![n] - sequence[^1]);
        }
        return sum / windows.Count;
    }

    private static (float Mean, float Std) Moments(ReadOnlySpan<float> values)
    {
        double mean = 0;
        foreach (float v in values) mean += v;
        mean /= values.Length;
        double squares = 0;
        foreach (float v in values) squares += (v - mean) * (v - mean);
        double std = Math.Sqrt(squares / values.Length);
        return ((float)mean, (float)(std > 0 ? std : 1));
    }
}
