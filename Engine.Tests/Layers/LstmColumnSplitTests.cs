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
}
