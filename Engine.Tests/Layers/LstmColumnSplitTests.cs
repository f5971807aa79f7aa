using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Layers;

/// <summary>
/// Streaming steps of a plain float cell split by hidden units over two cores (Lstm.ColumnSplit.cs) against the same
/// steps on one core: bit for bit, with tails, batches, chunks and masks, and with nothing allocated per step.
/// </summary>
public class LstmColumnSplitTests
{
    private const int F = 19;

    private static Sequential<float> Model(int units) => Build<float>(new ModelSpec { InputFeatures = F, Seed = 4, Layers = new[] { LayerSpec.Lstm(units, true), LayerSpec.Dense(3) } });

    [TestCase(16)]
    [TestCase(17)]
    [TestCase(33)]
    [TestCase(100)]
    [TestCase(128)]
    public void ForwardStepColumns_TwoHalves_EqualTheWholeRow_BitForBit(int h)
    {
        if (!FastMath.IsSupported) Assert.Ignore("the column kernel needs AVX2 and FMA");
        var random = new Random(h);
        float[] gates = Enumerable.Range(0, 4 * h).Select(_ => (float)(random.NextDouble() * 12 - 6)).ToArray();
        float[] cellPrevious = Enumerable.Range(0, h).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        float[] wholeGates = (float[])gates.Clone(), wholeCell = new float[h], wholeTanh = new float[h], wholeHidden = new float[h];
        LstmGates.ForwardStep<float>(wholeGates, cellPrevious, wholeCell, wholeTanh, wholeHidden, h);

        int split = Lstm<float>.ColumnSplitPoint(h);
        float[] cell = new float[h], tanhCell = new float[h], hidden = new float[h];
        LstmGates.ForwardStepColumns(gates, cellPrevious, cell, tanhCell, hidden, h, split, h);   // second half first: order must not matter
        LstmGates.ForwardStepColumns(gates, cellPrevious, cell, tanhCell, hidden, h, 0, split);
        Assert.That(gates, Is.EqualTo(wholeGates), "activated gates");
        Assert.That(cell, Is.EqualTo(wholeCell), "cell");
        Assert.That(tanhCell, Is.EqualTo(wholeTanh), "tanh(cell)");
        Assert.That(hidden, Is.EqualTo(wholeHidden), "hidden");
    }

    [Test]
    public void ForwardStepColumns_RejectsARangeThatDoesNotStartOnAVector()
    {
        var e = Assert.Throws<ArgumentException>(() => LstmGates.ForwardStepColumns(new float[64], new float[16], new float[16], new float[16], new float[16], 16, 3, 16));
        Assert.That(e!.Message, Does.Contain("multiple of 8").And.Contain("start 3"));
    }

    [TestCase(100, 1, false)]
    [TestCase(128, 1, false)]
    [TestCase(128, 3, false)]
    [TestCase(100, 1, true)]
    [TestCase(128, 3, true)]
    public void StreamingSteps_OnTwoCores_EqualOneCore_BitForBit(int units, int batch, bool packWeightsOnce)
    {
        Sequential<float> split = Model(units), single = Model(units);
        ((Lstm<float>)single.Layers[0]).StepColumnSplit = false;
        Assume.That(((Lstm<float>)split.Layers[0]).CanSplitColumns(batch), Is.True, "this machine takes the two-core path");
        Assert.That(((Lstm<float>)single.Layers[0]).CanSplitColumns(batch), Is.False);
        var a = split.CreateSession(batch, maxChunk: 5, packWeightsOnce: packWeightsOnce);
        var b = single.CreateSession(batch, maxChunk: 5, packWeightsOnce: packWeightsOnce);
        float[] x = RandomValues<float>(batch * 5 * F, units + batch);
        for (int round = 0; round < 6; round++)
        {
            float[] step = x.AsSpan(0, batch * F).ToArray();
            Assert.That(a.Step(step).ToArray(), Is.EqualTo(b.Step(step).ToArray()), $"step {round}");
            if (batch == 1) Assert.That(a.StepChunk(x).ToArray(), Is.EqualTo(b.StepChunk(x).ToArray()), $"chunk {round}");
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ManyStreamingSteps_TakeBothPaths_AsTimed_WithTheSameBitsAsOneCore(bool packWeightsOnce)
    {
        // Past a round of SplitTiming the session has timed both paths and runs the probe run on the other one.
        Sequential<float> split = Model(128), single = Model(128);
        ((Lstm<float>)single.Layers[0]).StepColumnSplit = false;
        Assume.That(((Lstm<float>)split.Layers[0]).CanSplitColumns(1), Is.True, "this machine takes the two-core path");
        var a = split.CreateSession(packWeightsOnce: packWeightsOnce);
        var b = single.CreateSession(packWeightsOnce: packWeightsOnce);
        float[] x = RandomValues<float>(16 * F, 14);
        for (int k = 0; k < SplitTiming.Round + 40; k++)
        {
            ReadOnlySpan<float> step = x.AsSpan(k % 16 * F, F);
            float[] expected = b.Step(step).ToArray();
            Assert.That(a.Step(step).ToArray(), Is.EqualTo(expected), $"step {k}");
        }
        var timing = ((LstmInferenceBuffers<float>)a.Runner.BuffersOf(0)!).SplitTiming;
        Assert.That(timing.SplitTicksPerStep, Is.Positive, "split steps timed");
        Assert.That(timing.SingleTicksPerStep, Is.Positive, "one-core steps timed");
    }

    [TestCase(1, false)]
    [TestCase(3, false)]
    [TestCase(3, true)]
    public void Reset_AfterTwoCoreSteps_StartsAFreshSequence(int stepsBefore, bool packWeightsOnce)
    {
        // Two-core steps leave h in either of the two buffers they swap between; Reset must clear the state wherever it is.
        Sequential<float> model = Model(128);
        Assume.That(((Lstm<float>)model.Layers[0]).CanSplitColumns(1), Is.True, "this machine takes the two-core path");
        float[] x = RandomValues<float>(4 * F, 12), other = RandomValues<float>(F, 13);
        float[] expected = model.CreateSession(packWeightsOnce: packWeightsOnce).StepChunk(x).ToArray();
        var session = model.CreateSession(packWeightsOnce: packWeightsOnce);
        for (int k = 0; k < stepsBefore; k++) session.Step(other);
        session.Reset();
        float[] stepped = Enumerable.Range(0, 4).SelectMany(t => session.Step(x.AsSpan(t * F, F)).ToArray()).ToArray();
        Assert.That(stepped, Is.EqualTo(expected));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void MaskedSteps_OnTwoCores_EqualOneCore_BitForBit(bool zeroOutputForMask)
    {
        const int units = 100, batch = 3, time = 6;
        var split = new Lstm<float>(units, returnSequences: true, zeroOutputForMask: zeroOutputForMask);
        var single = new Lstm<float>(units, returnSequences: true, zeroOutputForMask: zeroOutputForMask) { StepColumnSplit = false };
        split.Build(LayerShape.Sequence(F), new Random(6));
        single.Build(LayerShape.Sequence(F), new Random(6));
        Assume.That(split.CanSplitColumns(batch), Is.True, "this machine takes the two-core path");
        float[] x = RandomValues<float>(batch * time * F, 8);
        bool[] mask = Enumerable.Range(0, batch * time).Select(k => k % 4 != 1 && k != 12).ToArray();
        float[] outSplit = new float[batch * time * units], outSingle = new float[batch * time * units];
        var splitBuffers = split.CreateInferenceBuffers(batch, time);
        var singleBuffers = single.CreateInferenceBuffers(batch, time);
        split.InferenceForward(x, batch, time, mask, splitBuffers, outSplit, allSteps: true, inputOrder: false, resetState: true);
        single.InferenceForward(x, batch, time, mask, singleBuffers, outSingle, allSteps: true, inputOrder: false, resetState: true);
        Assert.That(outSplit, Is.EqualTo(outSingle), "outputs");
        Assert.That(splitBuffers.CurrentHidden, Is.EqualTo(singleBuffers.CurrentHidden), "final h");
        Assert.That(splitBuffers.Cell, Is.EqualTo(singleBuffers.Cell), "final c");
        Assert.That(splitBuffers.ColumnSplit, Is.Not.Null, "the two-core path ran");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void StreamingStep_OnTwoCores_AllocatesNothing_AfterWarmUp(bool packWeightsOnce)
    {
        Sequential<float> model = Model(128);
        Assume.That(((Lstm<float>)model.Layers[0]).CanSplitColumns(1), Is.True, "this machine takes the two-core path");
        var session = model.CreateSession(packWeightsOnce: packWeightsOnce);
        float[] step = RandomValues<float>(F, 3);
        for (int k = 0; k < 20; k++) session.Step(step);
        // Process-wide, so the worker's allocations count; the test host's own threads (result reporting) can
        // allocate in any one window, so the least of five windows is taken. A real per-step allocation (≥ 24 B a
        // step, ≥ 4.8 KB a window) shows in every window.
        long least = long.MaxValue;
        for (int window = 0; window < 5; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int k = 0; k < 200; k++) session.Step(step);
            least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        Assert.That(least, Is.LessThan(512), "bytes over 200 steps, all threads (the worker included), least of five windows");
    }

    // The worker's head start (ColumnSplitJob.FollowUp) made deterministic: PairedWork runs both parts and then the
    // follow-up on the test thread, in the worker's order, so every two-core step after the first starts from one.
    private static T InlineWithFollowUps<T>(Func<T> body)
    {
        PairedWork.RunsInlineOnThisThread = true;
        try { return body(); }
        finally { PairedWork.RunsInlineOnThisThread = false; }
    }

    [TestCase(128, 1)]
    [TestCase(100, 1)]
    [TestCase(128, 3)]
    public void HeadStart_IsTakenAtEveryStepAfterTheFirst_WithTheSameBitsAsOneCore(int units, int batch)
    {
        Sequential<float> split = Model(units), single = Model(units);
        ((Lstm<float>)single.Layers[0]).StepColumnSplit = false;
        Assume.That(((Lstm<float>)split.Layers[0]).CanSplitColumns(batch), Is.True, "this machine takes the two-core path");
        var a = split.CreateSession(batch, maxChunk: 4, packWeightsOnce: true);
        var b = single.CreateSession(batch, maxChunk: 4, packWeightsOnce: true);
        var buffers = (LstmInferenceBuffers<float>)a.Runner.BuffersOf(0)!;
        buffers.SplitTiming.Adaptive = false;   // every call splits
        float[] x = RandomValues<float>(batch * 4 * F, 21);
        int steps = 0;
        InlineWithFollowUps(() =>
        {
            for (int k = 0; k < 40; k++)
            {
                if (k % 10 == 9)
                {
                    Assert.That(a.StepChunk(x).ToArray(), Is.EqualTo(b.StepChunk(x).ToArray()), $"chunk at {k}");
                    steps += 4;
                    continue;
                }
                ReadOnlySpan<float> step = x.AsSpan(k % 4 * batch * F, batch * F);
                Assert.That(a.Step(step).ToArray(), Is.EqualTo(b.Step(step).ToArray()), $"step {k}");
                steps++;
            }
            return 0;
        });
        Assert.That(buffers.ColumnSplit!.HeadStartsTaken, Is.EqualTo(steps - 1), "steps that started from the worker's head start");
    }

    [Test]
    public void HeadStart_IsNotMade_WhenTurnedOff_OrForASessionThatReadsTheWeightsAsStored()
    {
        Sequential<float> model = Model(128);
        Assume.That(((Lstm<float>)model.Layers[0]).CanSplitColumns(1), Is.True, "this machine takes the two-core path");
        var off = model.CreateSession(packWeightsOnce: true);
        var asStored = model.CreateSession();
        var offBuffers = (LstmInferenceBuffers<float>)off.Runner.BuffersOf(0)!;
        var asStoredBuffers = (LstmInferenceBuffers<float>)asStored.Runner.BuffersOf(0)!;
        offBuffers.AllowHeadStart = false;
        foreach (var buffers in new[] { offBuffers, asStoredBuffers }) buffers.SplitTiming.Adaptive = false;
        float[] x = RandomValues<float>(F, 23);
        InlineWithFollowUps(() =>
        {
            for (int k = 0; k < 10; k++) Assert.That(off.Step(x).ToArray(), Is.EqualTo(asStored.Step(x).ToArray()), $"step {k}");
            return 0;
        });
        Assert.That(offBuffers.ColumnSplit!.HeadStartsTaken, Is.Zero, "turned off");
        Assert.That(asStoredBuffers.ColumnSplit!.HeadStartsTaken, Is.Zero, "W and U as stored: weights may change between calls");
        Assert.That(asStoredBuffers.HeadStartProducts, Is.Empty, "no head-start buffer without packWeightsOnce");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void HeadStart_ReadyBeforeResetOrRefreshWeights_IsDropped(bool refresh)
    {
        // A head start made from the old state or the old U must not serve the step after Reset or RefreshWeights.
        Sequential<float> model = Model(128), twin = Model(128);
        Assume.That(((Lstm<float>)model.Layers[0]).CanSplitColumns(1), Is.True, "this machine takes the two-core path");
        var session = model.CreateSession(packWeightsOnce: true);
        var reference = twin.CreateSession();   // reads W and U as stored at every call
        var buffers = (LstmInferenceBuffers<float>)session.Runner.BuffersOf(0)!;
        buffers.SplitTiming.Adaptive = false;
        float[] x = RandomValues<float>(8 * F, 22);
        InlineWithFollowUps(() =>
        {
            for (int k = 0; k < 3; k++)
                Assert.That(session.Step(x.AsSpan(k * F, F)).ToArray(), Is.EqualTo(reference.Step(x.AsSpan(k * F, F)).ToArray()), $"step {k}");
            return 0;
        });
        Assert.That(buffers.ColumnSplit!.HasHeadStartFor(buffers.StepCount + 1), Is.True, "a head start is ready for the next step");

        if (refresh)
        {
            foreach (Sequential<float> m in new[] { model, twin })
                foreach (NamedParameter<float> p in m.NamedParameters)
                    if (p.Parameter.Name.StartsWith("weight_hh"))
                        for (int k = 0; k < p.Parameter.Length; k++) p.Parameter.Value[k] *= 1.5f;
            session.RefreshWeights();
        }
        else
        {
            session.Reset();
            reference.Reset();
        }
        Assert.That(buffers.ColumnSplit!.HasHeadStartFor(buffers.StepCount + 1), Is.False, "the head start is dropped");
        InlineWithFollowUps(() =>
        {
            for (int k = 3; k < 8; k++)
                Assert.That(session.Step(x.AsSpan(k * F, F)).ToArray(), Is.EqualTo(reference.Step(x.AsSpan(k * F, F)).ToArray()), $"step {k}");
            return 0;
        });
    }

    [Test]
    public void HeadStart_OnTheRealWorker_WithResetsRefreshesAndOneCoreSteps_KeepsTheBits()
    {
        // The worker's follow-up runs while this thread goes on: Reset, RefreshWeights, a one-core step or a chunk come
        // right after a two-core step returns, while the follow-up is still at work, and each must see the state and
        // weights it would see without a head start. The reference takes the same calls afterwards, on one core.
        Sequential<float> model = Model(128), twin = Model(128);
        var lstm = (Lstm<float>)model.Layers[0];
        Assume.That(lstm.CanSplitColumns(1), Is.True, "this machine takes the two-core path");
        var session = model.CreateSession(maxChunk: 3, packWeightsOnce: true);
        var reference = twin.CreateSession(maxChunk: 3);
        ((Lstm<float>)twin.Layers[0]).StepColumnSplit = false;
        var buffers = (LstmInferenceBuffers<float>)session.Runner.BuffersOf(0)!;
        buffers.SplitTiming.Adaptive = false;
        float[] recurrentWeights = model.NamedParameters.Single(p => p.Parameter.Name.StartsWith("weight_hh")).Parameter.Value;
        float[] twinRecurrentWeights = twin.NamedParameters.Single(p => p.Parameter.Name.StartsWith("weight_hh")).Parameter.Value;
        float[] x = RandomValues<float>(3 * F, 24);
        var random = new Random(25);
        for (int k = 0; k < 10_000; k++)
        {
            ReadOnlySpan<float> step = x.AsSpan(k % 3 * F, F);
            int action = random.Next(5);
            float[] stepped = session.Step(step).ToArray(), after = Array.Empty<float>();
            switch (action)
            {
                case 0: session.Reset(); break;
                case 1:
                    recurrentWeights[k % recurrentWeights.Length] += 0.01f;
                    session.RefreshWeights();
                    break;
                case 2:
                    lstm.StepColumnSplit = false;
                    after = session.Step(step).ToArray();
                    lstm.StepColumnSplit = true;
                    break;
                case 3: after = session.StepChunk(x).ToArray(); break;
            }
            Assert.That(stepped, Is.EqualTo(reference.Step(step).ToArray()), $"step {k}");
            switch (action)
            {
                case 0: reference.Reset(); break;
                case 1: twinRecurrentWeights[k % twinRecurrentWeights.Length] += 0.01f; break;
                case 2: Assert.That(after, Is.EqualTo(reference.Step(step).ToArray()), $"one-core step after {k}"); break;
                case 3: Assert.That(after, Is.EqualTo(reference.StepChunk(x).ToArray()), $"chunk after {k}"); break;
            }
        }
        TestContext.Out.WriteLine($"steps that started from the worker's head start: {buffers.ColumnSplit!.HeadStartsTaken}");
    }
}
