using System.Globalization;
using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Training;

namespace NumLstm.Benchmarks;

/// <summary>
/// The child process of the kill-and-resume test (hidden verb <c>train-worker --out DIR --epochs N --seed S</c>):
/// trains a tiny LSTM on a generated adding problem, writing <c>DIR/checkpoint.safetensors</c> after every epoch. If the
/// checkpoint exists it resumes from it, so a run that is killed and started again continues where it stopped. When all
/// N epochs are done it writes <c>DIR/final.safetensors</c> and prints <c>done N</c>.
/// </summary>
public static class ReliabilityWorker
{
    public const string Verb = "train-worker";
    public const string CheckpointName = "checkpoint.safetensors";
    public const string FinalName = "final.safetensors";

    public static int Run(string[] args)
    {
        string? folder = null;
        int epochs = 0, seed = 0;
        for (int k = args.Length > 0 && args[0] == Verb ? 1 : 0; k < args.Length; k++)
        {
            string value = k + 1 < args.Length ? args[k + 1] : throw new ArgumentException($"{Verb}: option {args[k]} needs a value.");
            switch (args[k])
            {
                case "--out": folder = value; break;
                case "--epochs": epochs = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--seed": seed = int.Parse(value, CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"{Verb}: unknown option '{args[k]}' (expected --out DIR --epochs N --seed S).");
            }
            k++;
        }
        if (folder is null || epochs <= 0)
        {
            Console.Error.WriteLine($"usage: {Verb} --out DIR --epochs N --seed S");
            return 2;
        }
        Directory.CreateDirectory(folder);
        string checkpoint = Path.Combine(folder, CheckpointName);
        Trainer trainer = File.Exists(checkpoint) ? Checkpoint.Load(checkpoint) : new Trainer(CreateModel(seed));
        Train(trainer, epochs, seed, t => Checkpoint.Save(t, checkpoint));
        ModelFile.Save(trainer.Model, Path.Combine(folder, FinalName));
        Console.WriteLine($"done {trainer.CompletedEpochs}");
        return 0;
    }

    /// <summary>LSTM(16) → Dense(1) on 2 features (the adding problem).</summary>
    public static Sequential<float> CreateModel(int seed)
        => new(2, new Layer<float>[] { new Lstm<float>(16, name: "lstm"), new Dense<float>(1, name: "dense") }, seed);

    /// <summary>Trains until <paramref name="epochs"/> epochs are complete in all, calling <paramref name="afterEpoch"/> after each.</summary>
    public static void Train(Trainer trainer, int epochs, int seed, Action<Trainer>? afterEpoch)
    {
        int remaining = epochs - trainer.CompletedEpochs;
        if (remaining <= 0) return;
        trainer.EpochCompleted = afterEpoch is null ? null : (t, _) => afterEpoch(t);
        trainer.Fit(AddingProblem.Generate(384, 24, seed), new TrainingOptions { Epochs = remaining, BatchSize = 16, Seed = seed, LearningRate = 0.01 });
    }
}
