using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;

namespace NumLstm.Tests.Training;

/// <summary>
/// A training step after warm-up allocates next to nothing, even when it uses the second core: the LSTM's per-step row
/// split, the split GEMMs and a Bidirectional's two directions all hand their second half to the engine's one worker
/// thread through job objects the caches own. Measured with the process-wide allocation counter, so the worker thread's
/// allocations count too.
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
    /// <see cref="BytesPerStep"/> over all threads (the worker's too, and the test host's: about 34 bytes a step turn up
    /// in some windows from outside the engine), and on the calling thread alone, where nothing else runs.
    /// </summary>
    private static (double AllThreads, double CallingThread) BytesPerStepAllAndCaller(ModelSpec spec)
    {
        Sequential<float> model = spec.Build<float>();
        ModelCache<float> cache = model.CreateCache();
        var optimizer = new Adam<float>(model.Parameters.ToList(), 1e-3);
        var loss = new SoftmaxCrossEntropy<float>();
        var data = new Random(1);
        float[] x = Enumerable.Range(0, Batch * Time * Features).Select(_ => (float)(data.NextDouble() * 2 - 1)).ToArray();
        int[] labels = Enumerable.Range(0, Batch).Select(_ => data.Next(Classes)).ToArray();
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
        for (int w = 0; w < windows.Length; w++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true), callerBefore = GC.GetAllocatedBytesForCurrentThread();
            for (int k = 0; k < steps; k++) Step();
            callerWindows[w] = (GC.GetAllocatedBytesForCurrentThread() - callerBefore) / (double)steps;
            windows[w] = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)steps;
        }
        TestContext.Out.WriteLine($"bytes per training step in three windows of {steps} steps: {string.Join(", ", windows.Select(b => b.ToString("N0")))}"
            + $" (calling thread: {string.Join(", ", callerWindows.Select(b => b.ToString("N0")))})");
        return (windows.Min(), callerWindows.Min());
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
    public void BidirectionalStep_WithDirectionsOnTwoThreads_AndDropout_AllocatesNothing([Values(false, true)] bool dropout)
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
        var (allThreads, callingThread) = BytesPerStepAllAndCaller(spec);
        Assert.That(callingThread, Is.Zero, "bytes a step on the calling thread");
        Assert.That(allThreads, Is.LessThan(64), "bytes a step on all threads (a seeded Random is about 300)");
    }
}
