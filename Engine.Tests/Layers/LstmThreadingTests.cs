using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// The two-thread paths compute every value exactly as one thread does: an LSTM's per-step row split (training) and a
/// Bidirectional plan's directions on two threads (serving). Bitwise claims, on this machine and path.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
[NonParallelizable]
public class LstmThreadingTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T[] Values(int length, int seed)
    {
        var random = new Random(seed);
        var values = new T[length];
        for (int k = 0; k < length; k++) values[k] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        return values;
    }

    [TestCase(false, 0.0)]
    [TestCase(true, 0.0)]
    [TestCase(true, 0.3)]
    public void TrainingStep_IsBitwiseTheSame_WithRowsSplitOverTwoThreads(bool returnSequences, double recurrentDropout)
    {
        List<T[]> single = SplitTrainingStep(returnSequences, recurrentDropout, splitProducts: false);
        List<T[]> split = SplitTrainingStep(returnSequences, recurrentDropout, splitProducts: true, claimedSteps: false);
        for (int k = 0; k < single.Count; k++) Assert.That(split[k], Is.EqualTo(single[k]), $"array {k}");
    }

    // The step products split by slivers of U (Lstm.ClaimedSteps.cs): a plain cell without recurrent dropout at 512 bits.
    // Masked steps at the start, middle and end of rows and a row masked throughout, initial and final states and their
    // gradients, both directions, the masked output kept or zeroed: every output, state and gradient bitwise the
    // one-thread result.
    [TestCase(true, false, false, 384)]
    [TestCase(false, true, false, 384)]
    [TestCase(true, true, true, 448)]
    [TestCase(false, false, true, 512)]
    public void TrainingStep_IsBitwiseTheSame_WithStepProductsSplitBySlivers(bool returnSequences, bool goBackwards, bool zeroOutputForMask, int h)
    {
        List<T[]> single = ClaimedTrainingStep(returnSequences, goBackwards, zeroOutputForMask, h, splitProducts: false, out bool singleClaimed);
        List<T[]> split = ClaimedTrainingStep(returnSequences, goBackwards, zeroOutputForMask, h, splitProducts: true, out bool splitClaimed);
        Assert.That(singleClaimed, Is.False, "one thread");
        for (int k = 0; k < single.Count; k++) Assert.That(split[k], Is.EqualTo(single[k]), $"array {k}");
        bool expected = GemmPacked.Best == GemmPacked.Width.V512 && PairedWork.HasSecondCore;
        Assert.That(splitClaimed, Is.EqualTo(expected), "the step products split by slivers where they can");
        if (!expected) Assert.Ignore("The split by slivers needs 512 bits and two cores; the bits were compared on the row split.");
    }

    [Test]
    public void StepProductsBySlivers_AreNotTaken_WithRecurrentDropout_OrPartSlivers_OrSmallSteps_OrTurnedOff()
    {
        var lstm = new Lstm<T>(512, returnSequences: true);
        lstm.Build(LayerShape.Sequence(5), new Random(1));
        bool can = GemmPacked.Best == GemmPacked.Width.V512;
        Assert.That(lstm.ClaimsSteps(32, 512, recurrentDropout: false), Is.EqualTo(can));
        Assert.That(lstm.ClaimsSteps(32, 512, recurrentDropout: true), Is.False, "recurrent dropout");
        Assert.That(lstm.ClaimsSteps(32, 520, recurrentDropout: false), Is.False, "H = 520: not whole slivers (32 floats or 16 doubles)");
        Assert.That(lstm.ClaimsSteps(121, 512, recurrentDropout: false), Is.False, "more rows than one packed row block");
        Assert.That(lstm.ClaimsSteps(32, 256, recurrentDropout: false), Is.False, "B·4H² = 8.4 M, below the threshold");
        Assert.That(lstm.ClaimsSteps(64, 256, recurrentDropout: false), Is.EqualTo(can), "B·4H² = 16.8 M, at the threshold");
        lstm.ClaimedStepProducts = false;
        Assert.That(lstm.ClaimsSteps(32, 512, recurrentDropout: false), Is.False, "turned off");
    }

    /// <summary>Output, final states, input, initial-state and parameter gradients of one training forward and backward.</summary>
    private static List<T[]> ClaimedTrainingStep(bool returnSequences, bool goBackwards, bool zeroOutputForMask, int h, bool splitProducts, out bool claimed)
    {
        const int batch = 33, time = 4, f = 7;   // B·4H² at least Lstm.ClaimedStepsThreshold from H = 357
        var lstm = new Lstm<T>(h, returnSequences, goBackwards, dropout: 0.2, zeroOutputForMask: zeroOutputForMask) { SplitProducts = splitProducts };
        lstm.Build(LayerShape.Sequence(f), new Random(4));
        T[] x = Values(batch * time * f, 5);
        // Row 0 starts masked, row 1 ends masked, rows 2 and 9 are masked in the middle, row 3 throughout.
        bool[] mask = Enumerable.Range(0, batch * time).Select(k => k switch { 0 or 7 or 10 or 38 => false, >= 12 and < 16 => false, _ => true }).ToArray();
        T[] output = new T[lstm.OutputLength(batch, time)], finalH = new T[batch * h], finalC = new T[batch * h];
        var cache = (LstmCache<T>)lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(x, batch, time, mask), Values(batch * h, 8), Values(batch * h, 9), output, finalH, finalC, cache,
            new ForwardContext(true, new Random(6)));
        T[] dInput = new T[x.Length], dInitialH = Values(batch * h, 10), dInitialC = Values(batch * h, 11);
        lstm.Backward(Values(output.Length, 7), Values(batch * h, 12), Values(batch * h, 13), cache, dInput, dInitialH, dInitialC);
        claimed = cache.ClaimedSteps is not null;
        return [output, finalH, finalC, dInput, dInitialH, dInitialC, .. lstm.Parameters.Select(p => p.Gradient.ToArray())];
    }

    [Test]
    public void TrainingStep_IsBitwiseTheSame_WhenTheSecondCoreIsTakenByAnotherThread()
    {
        // Another thread holds the worker for the whole step, so every row-split step and split product falls back to
        // running its second half on the calling thread after the first.
        List<T[]> single = SplitTrainingStep(true, 0.3, splitProducts: false);
        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new HoldTheWorker(holding, release);
        var holderThread = new Thread(() => PairedWork.Run(holder));
        holderThread.Start();
        List<T[]> split;
        try
        {
            if (PairedWork.HasSecondCore) Assert.That(holding.Wait(TimeSpan.FromSeconds(10)), Is.True, "the worker is held");
            split = SplitTrainingStep(true, 0.3, splitProducts: true);
        }
        finally
        {
            release.Set();
            holderThread.Join();
        }
        for (int k = 0; k < single.Count; k++) Assert.That(split[k], Is.EqualTo(single[k]), $"array {k}");
    }

    /// <summary>Part 0 waits until part 1 has started; part 1 (on the worker) waits for the release.</summary>
    private sealed class HoldTheWorker(ManualResetEventSlim holding, ManualResetEventSlim release) : IPairedJob
    {
        public void RunPart(int part)
        {
            if (part == 0) holding.Wait(TimeSpan.FromSeconds(10));
            else { holding.Set(); release.Wait(TimeSpan.FromSeconds(30)); }
        }
    }

    /// <summary>Output, input gradient and parameter gradients of one training forward and backward.</summary>
    private static List<T[]> SplitTrainingStep(bool returnSequences, double recurrentDropout, bool splitProducts, bool claimedSteps = true)
    {
        // B·4H² = 9·4·256² is above the split threshold, so SplitProducts = true takes the two-thread path.
        const int batch = 9, time = 3, f = 5, h = 256;
        var lstm = new Lstm<T>(h, returnSequences, dropout: 0.2, recurrentDropout: recurrentDropout) { SplitProducts = splitProducts, ClaimedStepProducts = claimedSteps };
        lstm.Build(LayerShape.Sequence(f), new Random(4));
        T[] x = Values(batch * time * f, 5);
        bool[] mask = Enumerable.Range(0, batch * time).Select(k => k % 7 != 3).ToArray();
        T[] output = new T[lstm.OutputLength(batch, time)];
        var cache = lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(x, batch, time, mask), output, cache, new ForwardContext(true, new Random(6)));
        T[] dInput = new T[x.Length];
        lstm.Backward(Values(output.Length, 7), cache, dInput);
        return [output, dInput, .. lstm.Parameters.Select(p => p.Gradient.ToArray())];
    }

    // DirectionBalance: a Bidirectional's direction done first takes the second half of the other's rows for its last steps.
    // Here the test thread plays the helping core against one LSTM stepping on another thread, so the hand-off happens at
    // whatever step the owner reaches first; every output and the final state must equal an undivided call's, bit for bit.
    [TestCase(false, false, 0, false)]
    [TestCase(false, true, 0, true)]    // zero_output_for_mask: the last output of a row whose last step is masked is zero
    [TestCase(true, true, 0, false)]
    [TestCase(true, false, 1, false)]   // the Ba et al. cell: LN on the gates and the cell state, each row its own statistics
    public void BalancedDirection_RowsHandedOverMidSequence_GiveTheSameBits(bool returnSequences, bool goBackwards, int cell, bool zeroOutput)
    {
        const int batch = 7, time = 400, f = 6, h = 24;
        var lstm = new Lstm<T>(h, returnSequences, goBackwards, cellNormalization: cell == 0 ? null : CellNormalization.BaEtAl2016, zeroOutputForMask: zeroOutput);
        lstm.Build(LayerShape.Sequence(f), new Random(11));
        T[] x = Values(batch * time * f, 12);
        bool[] mask = Enumerable.Range(0, batch * time).Select(k => k % 11 != 4 && k % 13 != 0).ToArray();   // rows 0 and 1 start masked, row 3 ends masked
        int outputLength = (returnSequences ? batch * time : batch) * h;

        var reference = lstm.CreateInferenceBuffers(batch, time, packed: true);
        T[] expected = new T[outputLength];
        lstm.InferenceForward(x, batch, time, mask, reference, expected, returnSequences, inputOrder: true, resetState: true);

        var buffers = lstm.CreateInferenceBuffers(batch, time, packed: true);
        var helperScratch = new LstmRowScratch<T>(h);
        var balance = new DirectionBalance();
        var handedOverAt = new List<int>();
        for (int attempt = 0; attempt < 200 && handedOverAt.Count < 3; attempt++)   // up to 200: on a busy machine the owner may finish before this thread offers, many times over
        {
            T[] actual = new T[outputLength];
            balance.Reset();
            Exception? ownerError = null;
            var owner = new Thread(() =>
            {
                try { lstm.InferenceForward(x, batch, time, mask, buffers, actual, returnSequences, inputOrder: true, resetState: true, balance, side: 1); }
                catch (Exception e) { ownerError = e; }
            });
            owner.Start();
            var wait = System.Diagnostics.Stopwatch.StartNew();
            while (!balance.IsOpen(1) && owner.IsAlive && wait.ElapsedMilliseconds < 5000) Thread.SpinWait(1);
            if (balance.TryHelp(1, out int fromStep, out int fromRow))
            {
                Assert.That(fromStep, Is.InRange(0, time - 2));
                Assert.That(fromRow, Is.EqualTo(batch - batch / 2));
                lstm.InferenceContinueRows(batch, time, mask, buffers, helperScratch, actual, returnSequences, inputOrder: true, fromStep, fromRow);
                handedOverAt.Add(fromStep);
            }
            owner.Join();
            Assert.That(ownerError, Is.Null);
            Assert.That(actual, Is.EqualTo(expected), $"attempt {attempt}, rows handed over at step {(handedOverAt.Count > 0 ? handedOverAt[^1] : -1)}");
            Assert.That(buffers.CurrentHidden.AsSpan(0, batch * h).ToArray(), Is.EqualTo(reference.CurrentHidden.AsSpan(0, batch * h).ToArray()), "final h");
            Assert.That(buffers.Cell.AsSpan(0, batch * h).ToArray(), Is.EqualTo(reference.Cell.AsSpan(0, batch * h).ToArray()), "final c");
        }
        Assert.That(handedOverAt, Is.Not.Empty, "no attempt handed rows over: the owner always finished before the offer");
        Assert.That(balance.HandOffs, Is.EqualTo(handedOverAt.Count));
    }

    [Test]
    public void DirectionBalance_DeclinesWhenTheOwnerHasNotStarted_OrIsDone_OrNearItsEnd()
    {
        var balance = new DirectionBalance();
        balance.Reset();
        Assert.That(balance.TryHelp(0, out _, out _), Is.False, "not started");
        balance.Start(0);
        balance.Close(0);
        Assert.That(balance.TryHelp(0, out _, out _), Is.False, "done");
        balance.Reset();
        balance.Start(1);
        Assert.That(balance.TryAccept(1, 3, 10, 8, out int kept), Is.False, "no offer yet");
        Assert.That(kept, Is.EqualTo(8));
        var helper = Task.Run(() => balance.TryHelp(1, out int step, out int row) ? (step, row) : (-1, -1));
        while (balance.IsOpen(1)) Thread.SpinWait(1);
        Assert.That(balance.TryAccept(1, 9, 10, 8, out kept), Is.False, "one step left: not worth handing over");
        Assert.That(balance.TryAccept(1, 4, 10, 1, out kept), Is.False, "one row: nothing to hand over");
        Assert.That(balance.TryAccept(1, 4, 10, 9, out kept), Is.True);
        Assert.That(kept, Is.EqualTo(5));
        Assert.That(helper.Result, Is.EqualTo((4, 5)));
        balance.Close(1);   // an accepted hand-off stays accepted
        Assert.That(balance.HandOffs, Is.EqualTo(1));
    }

    [Test]
    public void BidirectionalPlan_IsBitwiseTheSame_WithDirectionsOnTwoThreads()
    {
        const int batch = 3, time = 6, f = 4;
        Sequential<T> model = new StackSpec(f, new[] { 7, 5 }).WithPlacement(LayerNormPlacement.AfterEachRecurrent).Build<T>();
        T[] x = Values(batch * time * f, 8);
        var expected = new List<T[]>();
        foreach (bool parallel in new[] { false, true })
        {
            foreach (var layer in model.Layers.OfType<Bidirectional<T>>()) layer.ParallelDirections = parallel;
            var plan = model.CreateInferencePlan(batch, time);
            for (int call = 0; call < 3; call++)
            {
                T[] actual = plan.Predict(x, batch, time).ToArray();
                if (!parallel) expected.Add(actual);
                else Assert.That(actual, Is.EqualTo(expected[call]), $"call {call}");
            }
        }
    }
}

/// <summary>What the cache keeps for backpropagation through time is O(B·T·(F + H)) and reported exactly.</summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class LstmMemoryTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [Test]
    public void BytesKeptForBackward_CountsTheStepBuffers_OfAPlainCell()
    {
        const int batch = 3, time = 7, f = 5, h = 4;
        var lstm = new Lstm<T>(h, returnSequences: true);
        lstm.Build(LayerShape.Sequence(f), new Random(1));
        var cache = (LstmCache<T>)lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(new T[batch * time * f], batch, time, default), new T[batch * time * h], cache, ForwardContext.Inference);
        // x [T, B, F], gates [T, B, 4H], h and c [T+1, B, H], tanh(c) [T, B, H] in T, plus one bool per (step, row).
        long elements = (long)time * batch * f + time * batch * 4 * h + 2L * (time + 1) * batch * h + time * batch * h;
        Assert.That(cache.BytesKeptForBackward, Is.EqualTo(elements * System.Runtime.CompilerServices.Unsafe.SizeOf<T>() + time * batch));
    }
}
