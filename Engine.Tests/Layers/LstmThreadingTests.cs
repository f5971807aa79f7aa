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
        List<T[]> split = SplitTrainingStep(returnSequences, recurrentDropout, splitProducts: true);
        for (int k = 0; k < single.Count; k++) Assert.That(split[k], Is.EqualTo(single[k]), $"array {k}");
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
    private static List<T[]> SplitTrainingStep(bool returnSequences, double recurrentDropout, bool splitProducts)
    {
        // B·4H² = 9·4·256² is above the split threshold, so SplitProducts = true takes the two-thread path.
        const int batch = 9, time = 3, f = 5, h = 256;
        var lstm = new Lstm<T>(h, returnSequences, dropout: 0.2, recurrentDropout: recurrentDropout) { SplitProducts = splitProducts };
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
