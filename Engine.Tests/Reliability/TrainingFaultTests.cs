using System.Diagnostics;
using System.Reflection;
using NumLstm.Benchmarks;
using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Reliability;

/// <summary>Faults during training: the process killed, the disk full, the folder gone, the loss blowing up.</summary>
public sealed class TrainingFaultTests
{
    private string folder = "";

    [SetUp]
    public void CreateFolder() => Directory.CreateDirectory(folder = Path.Combine(Path.GetTempPath(), "numlstm-faults-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void DeleteFolder()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    // ------------------------------------------------------------------------------------------------------- kill

    [Test]
    public void KilledTrainingProcess_ResumedFromCheckpoints_EndsBitForBitEqualToAnUninterruptedRun()
    {
        const int epochs = 40, seed = 17, kills = 4;
        var reference = new Trainer(ReliabilityWorker.CreateModel(seed));
        ReliabilityWorker.Train(reference, epochs, seed, null);
        float[] expected = reference.Model.Parameters.SelectMany(p => p.Value).ToArray();

        // Seeded kill points: after the checkpoint of epoch e (four distinct epochs in 1..epochs−2), plus 0–20 ms, which
        // lands anywhere in the next epoch, including inside a checkpoint write.
        var random = new Random(seed);
        int[] killAfter = Enumerable.Range(1, epochs - 2).OrderBy(_ => random.Next()).Take(kills).Order().ToArray();
        string checkpoint = Path.Combine(folder, ReliabilityWorker.CheckpointName);
        int looks = 0, resumedFrom = 0;
        var resumes = new List<int>();
        var watch = Stopwatch.StartNew();
        foreach (int target in killAfter)
        {
            int startEpoch = File.Exists(checkpoint) ? Checkpoint.Load(checkpoint).CompletedEpochs : 0;
            resumes.Add(startEpoch);
            using Process child = StartWorker(epochs, seed);
            int seen = startEpoch;
            while (seen < target && !child.HasExited)
            {
                if (File.Exists(checkpoint))
                {
                    seen = LoadOrFail(checkpoint, "while the worker runs").CompletedEpochs;   // never torn: it always loads
                    looks++;
                }
                else Thread.Sleep(1);
            }
            Thread.Sleep(random.Next(21));
            if (child.HasExited) Assert.Fail($"the worker finished before the kill after epoch {target}: {child.StandardError.ReadToEnd()}");
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
            Assert.That(File.Exists(checkpoint), "a checkpoint exists after the kill");
            resumedFrom = LoadOrFail(checkpoint, $"after the kill after epoch {target}").CompletedEpochs;
            looks++;
            Assert.That(resumedFrom, Is.GreaterThanOrEqualTo(target));
        }
        resumes.Add(resumedFrom);
        using (Process last = StartWorker(epochs, seed))
        {
            string output = last.StandardOutput.ReadToEnd();
            last.WaitForExit();
            Assert.That(last.ExitCode, Is.EqualTo(0), last.StandardError.ReadToEnd());
            Assert.That(output, Does.Contain($"done {epochs}"));
        }
        Sequential<float> final = ModelFile.Load<float>(Path.Combine(folder, ReliabilityWorker.FinalName));
        Assert.That(final.Parameters.SelectMany(p => p.Value).ToArray(), Is.EqualTo(expected), "bit for bit (NUnit compares floats exactly)");
        Assert.That(LoadOrFail(checkpoint, "at the end").CompletedEpochs, Is.EqualTo(epochs));
        int leftovers = Directory.GetFiles(folder, "*.tmp-*").Length;
        TestContext.Out.WriteLine($"kill test: {kills} kills after epochs [{string.Join(", ", killAfter)}], runs started at epochs [{string.Join(", ", resumes)}], " +
                                  $"{looks} checkpoint loads while running or after kills, none torn; {leftovers} stray temp files from killed writes; {watch.Elapsed.TotalSeconds:F1} s");
    }

    private static Trainer LoadOrFail(string path, string when)
    {
        try { return Checkpoint.Load(path); }
        catch (NumLstmFormatException e) { Assert.Fail($"the checkpoint did not load {when}: {e.Message}"); throw; }
    }

    private Process StartWorker(int epochs, int seed)
    {
        string dll = WorkerPath();
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { dll, ReliabilityWorker.Verb, "--out", folder, "--epochs", epochs.ToString(), "--seed", seed.ToString() })
            start.ArgumentList.Add(arg);
        return Process.Start(start) ?? throw new InvalidOperationException("could not start the worker");
    }

    /// <summary>Engine.Benchmarks/bin/&lt;Configuration&gt;/net10.0/Engine.Benchmarks.dll under the folder holding NumLstm.sln.</summary>
    private static string WorkerPath()
    {
        string configuration = typeof(TrainingFaultTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "NumLstm.sln"))) continue;
            string path = Path.Combine(dir.FullName, "Engine.Benchmarks", "bin", configuration, "net10.0", "Engine.Benchmarks.dll");
            Assert.That(File.Exists(path), $"the worker is built by the ProjectReference: {path}");
            return path;
        }
        Assert.Fail($"no NumLstm.sln above {TestContext.CurrentContext.TestDirectory}");
        return "";
    }

    // ---------------------------------------------------------------------------------------------- disk full, no folder

    [Test]
    public void CheckpointWrite_FailingWithDiskFullMidway_NamesThePath_AndLeavesThePreviousCheckpointByteIdentical()
    {
        Trainer trainer = SmallTrainedTrainer(epochs: 1);
        string path = Path.Combine(folder, "checkpoint.safetensors");
        Checkpoint.Save(trainer, path);
        byte[] previous = File.ReadAllBytes(path);
        ReliabilityWorker.Train(trainer, 2, 3, null);   // the weights move on: the next checkpoint differs

        foreach (long failAfter in new long[] { 0, 7, 4096, previous.Length / 2, previous.Length - 1 })
        {
            AtomicFile.WrapForTests.Value = stream => new DiskFullStream(stream, failAfter);
            IOException? e;
            try { e = Assert.Throws<IOException>(() => Checkpoint.Save(trainer, path)); }
            finally { AtomicFile.WrapForTests.Value = null; }
            Assert.That(e!.Message, Does.Contain(path).And.Contain("No space left on device"), $"fail after {failAfter} bytes");
            Assert.That(File.ReadAllBytes(path), Is.EqualTo(previous), $"fail after {failAfter} bytes: previous checkpoint intact");
            Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { path }), "no temporary file left");
        }
        Assert.That(Checkpoint.Load(path).CompletedEpochs, Is.EqualTo(1));
        TestContext.Out.WriteLine($"disk full after 0, 7, 4096, {previous.Length / 2} and {previous.Length - 1} of {previous.Length} bytes: IOException naming the path, previous checkpoint byte-identical");
    }

    [Test]
    public void CheckpointWrite_IntoAVanishedFolder_GivesIOExceptionNamingThePath()
    {
        Trainer trainer = SmallTrainedTrainer(epochs: 1);
        string sub = Path.Combine(folder, "run");
        Directory.CreateDirectory(sub);
        string path = Path.Combine(sub, "checkpoint.safetensors");
        Directory.Delete(sub);
        var e = Assert.Throws<DirectoryNotFoundException>(() => Checkpoint.Save(trainer, path));
        Assert.That(e!.Message, Does.Contain(path));
        Assert.That(Directory.Exists(sub), Is.False, "nothing was created");

        // The folder vanishes while the checkpoint is being written (after the temporary file was created).
        Directory.CreateDirectory(sub);
        Checkpoint.Save(trainer, path);
        byte[] previous = File.ReadAllBytes(path);
        AtomicFile.WrapForTests.Value = stream => new ActionAfterStream(stream, 1000, () => Directory.Delete(sub, recursive: true));
        Exception? during;
        try { during = Assert.Catch(() => Checkpoint.Save(trainer, path)); }
        finally { AtomicFile.WrapForTests.Value = null; }
        Assert.That(during, Is.InstanceOf<IOException>());
        Assert.That(during!.Message, Does.Contain(path));
        TestContext.Out.WriteLine($"folder removed before: {e.GetType().Name}; removed mid-write ({previous.Length}-byte checkpoint): {during.GetType().Name}: {during.Message}");
    }

    private static Trainer SmallTrainedTrainer(int epochs)
    {
        var trainer = new Trainer(ReliabilityWorker.CreateModel(3));
        ReliabilityWorker.Train(trainer, epochs, 3, null);
        return trainer;
    }

    /// <summary>Accepts <c>limit</c> bytes, then fails as a full disk does (ENOSPC).</summary>
    private sealed class DiskFullStream(Stream inner, long limit) : ForwardingStream(inner)
    {
        private long written;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (written + buffer.Length > limit)
            {
                int fits = (int)Math.Max(0, limit - written);
                Inner.Write(buffer[..fits]);
                written += fits;
                throw new IOException("No space left on device");
            }
            Inner.Write(buffer);
            written += buffer.Length;
        }
    }

    /// <summary>Runs an action once after <c>after</c> bytes, then goes on writing (and flushes, so the file system is hit).</summary>
    private sealed class ActionAfterStream(Stream inner, long after, Action action) : ForwardingStream(inner)
    {
        private long written;
        private bool done;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Inner.Write(buffer);
            written += buffer.Length;
            if (!done && written >= after) { done = true; action(); }
        }
    }

    private abstract class ForwardingStream(Stream inner) : Stream
    {
        protected Stream Inner { get; } = inner;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Inner.Length;
        public override long Position { get => Inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => Inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    }

    // ------------------------------------------------------------------------------------------------------ divergence

    [Test]
    public void AddingProblemWithLearningRate10_Diverges_WithEpochAndBatch_AndKeepsTheWeightsBeforeTheBadStep()
    {
        // A real configuration: the adding problem (T = 30), LSTM(32) → Dense(1), SGD with lr = 10, no clipping.
        SequenceDataset data = AddingProblem.Generate(512, 30, seed: 1);
        var model = new Sequential<float>(2, new Layer<float>[] { new Lstm<float>(32, name: "lstm"), new Dense<float>(1, name: "dense") }, seed: 1);
        var trainer = new Trainer(model);
        // Weights after every completed step, recorded independently of the trainer's own snapshot.
        var snapshots = new List<float[]> { Weights(model) };
        var progress = new SynchronousProgress(p => { if (p.Completed is null) snapshots.Add(Weights(model)); });
        var e = Assert.Throws<TrainingDivergedException>(() =>
            trainer.Fit(data, new TrainingOptions
            {
                Epochs = 20, BatchSize = 32, Seed = 1, LearningRate = 10, Clip = ClipMode.None, Progress = progress,
                OptimizerFactory = (parameters, lr) => new Sgd<float>(parameters, lr),
            }));
        int steps = snapshots.Count - 1;                     // optimizer steps applied before the failing batch
        float[] expected = snapshots[Math.Max(steps - 1, 0)];   // the weights before the last step (whose result failed)
        float[] kept = Weights(model);
        Assert.That(e!.Message, Does.Contain($"epoch {e.Epoch}, batch {e.Batch}"));
        Assert.That(e.Epoch * 16 + e.Batch, Is.EqualTo(steps), "epoch and batch name the failing batch (16 batches per epoch)");
        Assert.That(kept.All(float.IsFinite), "the kept weights are finite");
        Assert.That(kept, Is.EqualTo(expected), "the kept weights are those before the bad step, bit for bit");
        TestContext.Out.WriteLine($"adding problem T=30, LSTM(32), SGD lr=10, no clipping: diverged at epoch {e.Epoch}, batch {e.Batch} (after {steps} steps): {e.Message}");
    }

    private static float[] Weights(Sequential<float> model) => model.Parameters.SelectMany(p => p.Value).ToArray();

    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
