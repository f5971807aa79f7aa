using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;

namespace NumLstm.Tests.Training;

/// <summary>
/// A training step after warm-up allocates next to nothing, even when it uses the second core: the LSTM's per-step row
/// split, the split GEMMs and a Bidirectional's two directions all hand their second half to the engine's one worker
/// thread through job objects the caches own. Measured with the process-wide allocation counter (the worker's
/// allocations count too, and the test host's), and exactly per engine thread: the calling thread's counter, and the
/// worker's read by a probe job before and after.
/// </summary>
[NonParallelizable]
public class TrainingAllocationTests
{
    private const int Batch = 16, Time = 10, Features = 32, Classes = 10;

    /// <summary>
    /// Bytes allocated per training step (zero gradients, forward, softmax cross-entropy, backward, Adam): the least over
    /// three windows of 5 steps after 3 warm-up steps. A one-time cost (tiered JIT, a pack buffer growing on the worker
    /// the first time it, rather than the caller, runs a given shape) lands in one window; a per-step cost in all three.
    /// </summary>
    private static double BytesPerStep(ModelSpec spec) => BytesPerStepAllAndCaller(spec).AllThreads;

    /// <summary>
    /// <see cref="BytesPerStep"/> over all threads (the worker's too, and the test host's: some windows carry tens to
    /// hundreds of bytes a step from outside the engine, more when steps are slow), and exactly on the engine's two
    /// threads: the calling thread, and the worker read by <see cref="WorkerAllocatedBytes"/> before and after.
    /// </summary>
    private static (double AllThreads, double CallingThread, double Worker) BytesPerStepAllAndCaller(ModelSpec spec, bool balanceDirections = true,
        Action<float[]>? prepareInput = null)
    {
        Sequential<float> model = spec.Build<float>();
        foreach (var layer in model.Layers.OfType<Bidirectional<float>>()) layer.BalanceDirections = balanceDirections;
        ModelCache<float> cache = model.CreateCache();
        var optimizer = new Adam<float>(model.Parameters.ToList(), 1e-3);
        var loss = new SoftmaxCrossEntropy<float>();
        var data = new Random(1);
        float[] x = Enumerable.Range(0, Batch * Time * Features).Select(_ => (float)(data.NextDouble() * 2 - 1)).ToArray();
        int[] labels = Enumerable.Range(0, Batch).Select(_ => data.Next(Classes)).ToArray();
        prepareInput?.Invoke(x);
        float[] gradient = new float[model.OutputLength(Batch, Time)];
        var random = new Random(3);
        void Step()
        {
            model.ZeroGradients();
            ReadOnlySpan<float> logits = model.Forward(new SequenceBatch<float>(x, Batch, Time, default), cache, new ForwardContext(true, random));
            loss.Forward(logits, labels, gradient);
            model.Backward(gradient, cache);
            optimizer.Step();
        }
        for (int k = 0; k < 3; k++) Step();
        const int steps = 5;
        var windows = new double[3];
        var callerWindows = new double[3];
        var workerWindows = new double[3];
        for (int w = 0; w < windows.Length; w++)
        {
            long workerBefore = WorkerAllocatedBytes();
            long before = GC.GetTotalAllocatedBytes(precise: true), callerBefore = GC.GetAllocatedBytesForCurrentThread();
            for (int k = 0; k < steps; k++) Step();
            callerWindows[w] = (GC.GetAllocatedBytesForCurrentThread() - callerBefore) / (double)steps;
            windows[w] = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)steps;
            workerWindows[w] = (WorkerAllocatedBytes() - workerBefore) / (double)steps;
        }
        static string List(double[] values) => string.Join(", ", values.Select(b => b.ToString("N0")));
        TestContext.Out.WriteLine($"bytes per training step in three windows of {steps} steps: {List(windows)}"
            + $" (calling thread: {List(callerWindows)}; worker: {List(workerWindows)})");
        return (windows.Min(), callerWindows.Min(), workerWindows.Min());
    }

    /// <summary>Part 1 reads the thread's allocation counter; part 0 waits for it, so the worker (not the caller) takes it.</summary>
    private sealed class WorkerCounterProbe : IPairedJob
    {
        public long Bytes;
        public int Thread;
        private volatile bool read;

        public void RunPart(int part)
        {
            if (part == 1)
            {
                Bytes = GC.GetAllocatedBytesForCurrentThread();
                Thread = Environment.CurrentManagedThreadId;
                read = true;
                return;
            }
            var wait = System.Diagnostics.Stopwatch.StartNew();
            while (!read && wait.ElapsedMilliseconds < 1000) System.Threading.Thread.SpinWait(20);
        }
    }

    /// <summary>The engine worker's own allocation counter (it runs nothing but engine jobs, so no noise).</summary>
    private static long WorkerAllocatedBytes()
    {
        for (int attempt = 0; attempt < 10; attempt++)
        {
            var probe = new WorkerCounterProbe();
            PairedWork.Run(probe);
            if (probe.Thread == PairedWork.WorkerThreadId && probe.Thread != Environment.CurrentManagedThreadId) return probe.Bytes;
        }
        Assert.Fail("the worker did not take the probe's part 1 in 10 tries");
        return 0;
    }

    [Test]
    public void TwoLayerLstmStep_WithRowsSplitOverTwoThreads_AllocatesUnder16KB()
    {
        // 2 × LSTM(256), B = 16: B·4H² = 16·4·256² is above the row-split threshold, and the products before and after
        // the time loop are above the GEMM split threshold, so every two-thread path of a plain LSTM is taken.
        // Parallel.For per step and per split product cost about 135 KB per step.
        var spec = new ModelSpec { InputFeatures = Features, Layers = [LayerSpec.Lstm(256, returnSequences: true), LayerSpec.Lstm(256), LayerSpec.Dense(Classes)] };
        Assert.That(BytesPerStep(spec), Is.LessThan(16 * 1024));
    }

    [Test]
    public void BidirectionalStep_WithDirectionsOnTwoThreads_AndDropout_AllocatesNothing([Values(false, true)] bool dropout,
        [Values(true, false)] bool balanceDirections)
    {
        // Parallel.Invoke cost about 4.8 KB per step; then the two seeded Random objects each Bidirectional's training
        // forward created for its directions' dropout streams, about 1.2 KB here, until the cache kept two reseedable ones.
        double rate = dropout ? 0.25 : 0;
        var spec = new ModelSpec
        {
            InputFeatures = Features,
            Layers = [LayerSpec.Bidirectional(LayerSpec.Lstm(64, returnSequences: true, dropout: rate, recurrentDropout: rate)),
                LayerSpec.Bidirectional(LayerSpec.Lstm(64, dropout: rate, recurrentDropout: rate)), LayerSpec.Dense(Classes)],
        };
        Assume.That(PairedWork.HasSecondCore, "needs the engine's worker thread");
        var (allThreads, callingThread, worker) = BytesPerStepAllAndCaller(spec, balanceDirections);
        Assert.That(callingThread, Is.Zero, "bytes a step on the calling thread (a seeded Random is about 300)");
        Assert.That(worker, Is.Zero, "bytes a step on the engine's worker thread");
        Assert.That(allThreads, Is.LessThan(2 * 1024), "bytes a step on all threads, the test host's included");
    }

    [Test]
    public void DropoutLayersStep_AllocatesNothingOnTheCallingThread()
    {
        // Dropout layers on sequences and on a vector: each keeps its mask and its reseedable stream in its cache.
        var spec = new ModelSpec
        {
            InputFeatures = Features,
            Layers = [LayerSpec.DropoutLayer(0.2), LayerSpec.Lstm(32, returnSequences: true), LayerSpec.DropoutLayer(0.5), LayerSpec.Lstm(32),
                LayerSpec.DropoutLayer(0.3), LayerSpec.Dense(Classes)],
        };
        var (_, callingThread, _) = BytesPerStepAllAndCaller(spec);
        Assert.That(callingThread, Is.Zero, "bytes a step on the calling thread");
    }

    [Test]
    public void MaskingStep_WithPaddedSteps_AllocatesNothingOnTheCallingThread()
    {
        // A Masking layer keeps its mask [B·T] in its cache; the LSTMs after it skip the padded steps (ragged lengths, a
        // hole, a fully padded sequence), as a Masking model trained on zero-padded data does.
        var spec = new ModelSpec
        {
            InputFeatures = Features,
            Layers = [LayerSpec.Masking(), LayerSpec.Lstm(32, returnSequences: true), LayerSpec.Lstm(32), LayerSpec.Dense(Classes)],
        };
        int padded = 0;
        void Pad(float[] x)
        {
            for (int b = 0; b < Batch; b++)
                for (int t = 0; t < Time; t++)
                    if (t >= Time - b % 5 || (b == 1 && t == 2) || b == Batch - 1)
                    {
                        x.AsSpan((b * Time + t) * Features, Features).Clear();
                        padded++;
                    }
        }
        var (_, callingThread, _) = BytesPerStepAllAndCaller(spec, prepareInput: Pad);
        Assert.That(padded, Is.GreaterThan(Time), "some steps are padded");
        Assert.That(callingThread, Is.Zero, "bytes a step on the calling thread");
    }
}
