using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Models;

/// <summary>
/// Models with Masking layers served by <see cref="InferencePlan{T}"/> and <see cref="StreamingSession{T}"/>: the mask is
/// computed per call from the values, replaces any mask the caller passes, and plans and sessions give what
/// <c>Sequential.Forward</c> gives in inference (with <see cref="ServingTestSupport.AssertClose{T}"/>'s tolerance, as
/// <see cref="ServingConsistencyTests{T}"/> compares plans and sessions with Forward; bitwise where those tests are
/// bitwise: packWeightsOnce against packing per call, StepChunk against Step, a reused Forward cache). The oracle for
/// Forward itself is the same model without its Masking layers given the mask they compute.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class MaskingServingTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int F = 3, MaxTime = 7;

    /// <summary>A model with Masking layers, the same model without them (an oracle given <c>Equivalent</c>'s mask), the
    /// padding value the data uses, and whether a caller's mask is passed (the mid-model case).</summary>
    public sealed record Case(string Name, ModelSpec WithMasking, ModelSpec? Without, double Pad, bool CallerMask, bool TwoPads = false)
    {
        public override string ToString() => Name;
    }

    private static ModelSpec Spec(params LayerSpec[] layers) => new() { InputFeatures = F, Seed = 5, Layers = layers };

    public static IEnumerable<TestCaseData> Models()
    {
        TestCaseData Data(Case c) => new TestCaseData(c).SetArgDisplayNames(c.Name);
        yield return Data(new Case("masking first, lstm sequences, lstm, dense",
            Spec(LayerSpec.Masking(), LayerSpec.Lstm(5, true), LayerSpec.Lstm(4), LayerSpec.Dense(2)),
            Spec(LayerSpec.Lstm(5, true), LayerSpec.Lstm(4), LayerSpec.Dense(2)), 0, false));
        yield return Data(new Case("masking(-1.5) first, zero_output_for_mask lstm sequences, dense on sequences",
            Spec(LayerSpec.Masking(-1.5), LayerSpec.Lstm(6, true) with { ZeroOutputForMask = true }, LayerSpec.Dense(2, Activation.Tanh)),
            Spec(LayerSpec.Lstm(6, true) with { ZeroOutputForMask = true }, LayerSpec.Dense(2, Activation.Tanh)), -1.5, false));
        // The seed model's shape, small.
        yield return Data(new Case("masking, bidirectional sequences, layer norm, bidirectional, dense",
            Spec(LayerSpec.Masking(), LayerSpec.Bidirectional(LayerSpec.Lstm(5, true)), LayerSpec.LayerNorm(), LayerSpec.Bidirectional(LayerSpec.Lstm(4)),
                LayerSpec.Dense(3, Activation.Softmax)),
            Spec(LayerSpec.Bidirectional(LayerSpec.Lstm(5, true)), LayerSpec.LayerNorm(), LayerSpec.Bidirectional(LayerSpec.Lstm(4)),
                LayerSpec.Dense(3, Activation.Softmax)), 0, false));
        // Mid-model under a caller's mask: the first LSTM writes zeros at the masked steps, which the Masking masks again.
        yield return Data(new Case("lstm sequences zero_output_for_mask under the caller's mask, masking, lstm, dense",
            Spec(LayerSpec.Lstm(5, true) with { ZeroOutputForMask = true }, LayerSpec.Masking(), LayerSpec.Lstm(4), LayerSpec.Dense(2)),
            Spec(LayerSpec.Lstm(5, true) with { ZeroOutputForMask = true }, LayerSpec.Lstm(4), LayerSpec.Dense(2)), 0, true));
        // Two Masking layers: masking, zero_output_for_mask lstm, masking again (the same mask, recomputed from the zeros).
        yield return Data(new Case("masking, lstm sequences zero_output_for_mask, masking, lstm, dense",
            Spec(LayerSpec.Masking(), LayerSpec.Lstm(5, true) with { ZeroOutputForMask = true }, LayerSpec.Masking(), LayerSpec.Lstm(4), LayerSpec.Dense(2)),
            Spec(LayerSpec.Lstm(5, true) with { ZeroOutputForMask = true }, LayerSpec.Lstm(4), LayerSpec.Dense(2)), 0, false));
        // Two Masking layers in a row: the second one's mask replaces the first's (steps of zeros are unmasked again,
        // steps of 0.25 masked), so the oracle is given the 0.25 steps' mask only.
        yield return Data(new Case("masking(0), masking(0.25), lstm sequences, lstm, dense",
            Spec(LayerSpec.Masking(), LayerSpec.Masking(0.25), LayerSpec.Lstm(5, true), LayerSpec.Lstm(4), LayerSpec.Dense(2)),
            Spec(LayerSpec.Lstm(5, true), LayerSpec.Lstm(4), LayerSpec.Dense(2)), 0.25, false, TwoPads: true));
        yield return Data(new Case("masking only", Spec(LayerSpec.Masking(1.5)), null, 1.5, false));
        // Wide enough for the two-core paths: a batch-1 packed-once plan's ProjectionShare (64 inputs and up), the balanced
        // directions at batch 9, and a plain LSTM's two-core plan steps (B·4H² ≥ 150,000 at batch ≤ 4).
        ModelSpec Wide(params LayerSpec[] layers) => new() { InputFeatures = 64, Seed = 6, Layers = layers };
        yield return Data(new Case("wide: masking, bidirectional sequences, layer norm, bidirectional, dense",
            Wide(LayerSpec.Masking(), LayerSpec.Bidirectional(LayerSpec.Lstm(24, true)), LayerSpec.LayerNorm(), LayerSpec.Bidirectional(LayerSpec.Lstm(16)), LayerSpec.Dense(2)),
            Wide(LayerSpec.Bidirectional(LayerSpec.Lstm(24, true)), LayerSpec.LayerNorm(), LayerSpec.Bidirectional(LayerSpec.Lstm(16)), LayerSpec.Dense(2)), 0, false));
        yield return Data(new Case("wide: masking, lstm(200) sequences zero_output_for_mask, dense",
            Wide(LayerSpec.Masking(), LayerSpec.Lstm(200, true) with { ZeroOutputForMask = true }, LayerSpec.Dense(2)),
            Wide(LayerSpec.Lstm(200, true) with { ZeroOutputForMask = true }, LayerSpec.Dense(2)), 0, false));
    }

    /// <summary>The models with an oracle (all but the masking-only one, checked against x·m on its own).</summary>
    public static IEnumerable<TestCaseData> ModelsWithOracle() => Models().Where(d => ((Case)d.Arguments[0]!).Without is not null);

    /// <summary>The models whose first layer is a Masking layer and that pass no caller's mask of their own.</summary>
    public static IEnumerable<TestCaseData> ModelsStartingWithMasking()
        => Models().Where(d => d.Arguments[0] is Case { CallerMask: false } c && c.WithMasking.Layers[0].Type == "masking");

    /// <summary>Which steps hold real values: none padded, trailing ragged with a hole, a fully padded last row, random holes.</summary>
    private static IEnumerable<(string Name, bool[] Keep)> Paddings(int batch, int time)
    {
        yield return ("no padding", Enumerable.Repeat(true, batch * time).ToArray());
        yield return ("trailing ragged with a hole", RaggedMask(batch, time));
        bool[] empty = RaggedMask(batch, time);
        for (int t = 0; t < time; t++) empty[(batch - 1) * time + t] = false;
        yield return ("last row fully padded", empty);
        var random = new Random(batch * 31 + time);
        yield return ("random holes", Enumerable.Range(0, batch * time).Select(_ => random.Next(3) != 0).ToArray());
    }

    /// <summary>
    /// Random values with the steps not kept set to the pad value. With twoPads, every other padded step holds 0 and the
    /// rest the case's pad value, and a kept step holds a single 0 value, which keeps it.
    /// </summary>
    private static T[] Input(Case c, bool[] keep, int batch, int time, int seed)
    {
        int f = c.WithMasking.InputFeatures;
        T[] x = RandomValues<T>(batch * time * f, seed);
        int padded = 0;
        for (int r = 0; r < batch * time; r++)
        {
            if (keep[r])
            {
                if (r % 4 == 1) x[r * f + 1] = T.CreateTruncating(c.Pad);   // one value equal to the mask value keeps its step
                continue;
            }
            if (c.CallerMask) continue;   // the caller's mask masks; the values stay
            T value = c.TwoPads && padded++ % 2 == 0 ? T.Zero : T.CreateTruncating(c.Pad);
            x.AsSpan(r * f, f).Fill(value);
        }
        return x;
    }

    /// <summary>The mask the oracle (the model without Masking) is given: the kept steps, and for two pads the zero steps too.</summary>
    private static bool[] OracleMask(Case c, T[] x, bool[] keep)
    {
        if (!c.TwoPads) return keep;
        T pad = T.CreateTruncating(c.Pad);
        int f = c.WithMasking.InputFeatures;
        return Enumerable.Range(0, keep.Length).Select(r => keep[r] || x.AsSpan(r * f, f).ToArray().Any(v => v != pad)).ToArray();
    }

    private static Sequential<T> Oracle(Case c) => Build<T>(c.Without!);

    private static readonly (int Batch, int Time)[] Shapes = { (3, 5), (1, 6), (9, 7), (1, 1), (3, 7), (2, 2) };

    [TestCaseSource(nameof(ModelsWithOracle))]
    public void Forward_EqualsTheModelWithoutMasking_GivenItsMask(Case c)
    {
        Sequential<T> model = Build<T>(c.WithMasking), oracle = Oracle(c);
        Assert.That(model.Parameters.SelectMany(p => p.Value), Is.EqualTo(oracle.Parameters.SelectMany(p => p.Value)), "the same parameters");
        int compared = 0, differed = 0;
        foreach ((int batch, int time) in Shapes)
            foreach ((string name, bool[] keep) in Paddings(batch, time))
            {
                T[] x = Input(c, keep, batch, time, batch * 10 + time);
                bool[]? caller = c.CallerMask ? keep : null;
                T[] actual = TrainingForward(model, x, batch, time, caller);
                T[] expected = TrainingForward(oracle, x, batch, time, OracleMask(c, x, keep));
                Assert.That(actual, Is.EqualTo(expected), $"B={batch} T={time} {name}");
                compared++;
                if (!keep.All(k => k) && !TrainingForward(oracle, x, batch, time).SequenceEqual(expected)) differed++;
            }
        Assert.That(differed, Is.GreaterThan(compared / 3), "the mask changes the output (else this compares nothing)");
    }

    [TestCaseSource(nameof(Models))]
    public void Plan_EqualsForward_AtEveryBatchLengthAndPadding_PackedOnceOrNot(Case c)
    {
        Sequential<T> model = Build<T>(c.WithMasking);
        ModelCache<T> reused = model.CreateCache();
        foreach (int maxBatch in new[] { 1, 9 })
        {
            InferencePlan<T> perCall = model.CreateInferencePlan(maxBatch, MaxTime), once = model.CreateInferencePlan(maxBatch, MaxTime, packWeightsOnce: true);
            foreach ((int batch, int time) in Shapes.Where(s => s.Batch <= maxBatch))
                foreach ((string name, bool[] keep) in Paddings(batch, time))
                {
                    string what = $"maxBatch={maxBatch} B={batch} T={time} {name}";
                    T[] x = Input(c, keep, batch, time, batch * 10 + time);
                    bool[]? caller = c.CallerMask ? keep : null;
                    T[] expected = TrainingForward(model, x, batch, time, caller);
                    Assert.That(model.Forward(new SequenceBatch<T>(x, batch, time, caller ?? default), reused, ForwardContext.Inference).ToArray(),
                        Is.EqualTo(expected), what + " (Forward with a reused cache)");
                    T[] planned = perCall.Predict(x, batch, time, caller).ToArray();
                    AssertClose<T>(planned, expected, what);
                    Assert.That(once.Predict(x, batch, time, caller).ToArray(), Is.EqualTo(planned), what + " (packWeightsOnce)");
                    if (batch == 1) AssertClose<T>(perCall.PredictSequence(x, caller), expected, what + " (PredictSequence)");
                    if (c.Without is not null && !c.CallerMask)
                    {
                        // The plan of the model without Masking given the mask: bitwise, the same paths on the same rows.
                        T[] oracle = Oracle(c).CreateInferencePlan(maxBatch, MaxTime).Predict(x, batch, time, OracleMask(c, x, keep)).ToArray();
                        Assert.That(planned, Is.EqualTo(oracle), what + " (the plan without Masking given its mask)");
                    }
                }
        }
    }

    [TestCaseSource(nameof(ModelsStartingWithMasking))]
    public void ACallersMask_IsReplacedByMaskingsOwn_InForwardAndPlans(Case c)
    {
        Sequential<T> model = Build<T>(c.WithMasking);
        foreach ((int batch, int time) in new[] { (3, 5), (1, 6) })
        {
            bool[] keep = RaggedMask(batch, time);
            T[] x = Input(c, keep, batch, time, 3);
            var random = new Random(batch);
            bool[] other = Enumerable.Range(0, batch * time).Select(_ => random.Next(2) == 0).ToArray();   // another mask, nothing to do with the values
            T[] without = TrainingForward(model, x, batch, time);
            Assert.That(TrainingForward(model, x, batch, time, other), Is.EqualTo(without), $"Forward B={batch}");
            foreach (bool packOnce in new[] { false, true })
            {
                var plan = model.CreateInferencePlan(batch, time, packOnce);
                T[] planned = plan.Predict(x, batch, time).ToArray();
                Assert.That(plan.Predict(x, batch, time, other).ToArray(), Is.EqualTo(planned), $"plan B={batch} packOnce={packOnce}");
                Assert.That(plan.Predict(x, batch, time, Enumerable.Repeat(false, batch * time).ToArray()).ToArray(), Is.EqualTo(planned),
                    $"plan B={batch} packOnce={packOnce}, a mask of nothing");
            }
        }
    }

    [Test]
    public void MaskingOnly_GivesXTimesM_InItsOwnBuffer_InForwardPlansAndSessions()
    {
        Sequential<T> model = Build<T>(Spec(LayerSpec.Masking(1.5)));
        const int batch = 2, time = 4;
        bool[] keep = { true, false, true, true, false, false, false, false };
        var c = new Case("masking only", Spec(LayerSpec.Masking(1.5)), null, 1.5, false);
        T[] x = Input(c, keep, batch, time, 7), original = x.ToArray();
        T[] expected = x.ToArray();
        for (int r = 0; r < batch * time; r++)
            if (!keep[r]) expected.AsSpan(r * F, F).Clear();
        Assert.That(expected, Is.Not.EqualTo(x), "some steps are masked");
        Assert.That(TrainingForward(model, x, batch, time), Is.EqualTo(expected), "Forward");
        foreach (bool packOnce in new[] { false, true })
        {
            var plan = model.CreateInferencePlan(batch, time, packOnce);
            ReadOnlySpan<T> y = plan.Predict(x, batch, time, new bool[batch * time]);
            Assert.That(y.Overlaps(x), Is.False, "the plan's result is its own buffer");
            Assert.That(y.ToArray(), Is.EqualTo(expected), $"plan packOnce={packOnce}");
            // Fed back (an autoregressive loop): what a copy gives, all kept steps again (x·0 = 0 ≠ 1.5).
            T[] copy = y.ToArray();
            Assert.That(plan.Predict(y, batch, time).ToArray(), Is.EqualTo(model.CreateInferencePlan(batch, time).Predict(copy, batch, time).ToArray()), "fed back");
            Assert.That(model.CreateInferencePlan(1, time).PredictSequence(x.AsSpan(time * F, time * F)).ToArray(), Is.EqualTo(expected.AsSpan(time * F).ToArray()),
                "PredictSequence of the second row");

            var session = model.CreateSession(batch, time, packOnce);
            T[] chunk = x.ToArray();
            ReadOnlySpan<T> streamed = session.StepChunk(chunk);
            Assert.That(streamed.Overlaps(chunk), Is.False, "the session's result is its own buffer");
            Assert.That(streamed.ToArray(), Is.EqualTo(expected), $"session chunk packOnce={packOnce}");
            var stepped = model.CreateSession(batch, time, packOnce);
            for (int t = 0; t < time; t++)
            {
                var step = new T[batch * F];
                for (int b = 0; b < batch; b++) x.AsSpan((b * time + t) * F, F).CopyTo(step.AsSpan(b * F));
                T[] outStep = stepped.Step(step).ToArray();
                for (int b = 0; b < batch; b++)
                    Assert.That(outStep.AsSpan(b * F, F).ToArray(), Is.EqualTo(expected.AsSpan((b * time + t) * F, F).ToArray()), $"session step {t} row {b}");
            }
        }
        Assert.That(x, Is.EqualTo(original), "the caller's input is not written");
    }

    /// <summary>With EngineSettings.UseSecondCore off every call stays on its thread: the same bits as with it on.</summary>
    [TestCaseSource(nameof(Models))]
    [NonParallelizable]
    public void OnOneCore_PlansAndSessionsGiveTheBitsOfTwo(Case c)
    {
        Sequential<T> model = Build<T>(c.WithMasking);
        bool streams = c.WithMasking.Layers.All(l => l.Type != "bidirectional");
        int f = c.WithMasking.InputFeatures;
        bool[] keep = RaggedMask(9, 6);
        T[] x = Input(c, keep, 9, 6, 7), single = x.AsSpan(0, 6 * f).ToArray();
        bool[]? caller = c.CallerMask ? keep : null;
        T[] Run()
        {
            var results = new List<T>();
            foreach (bool packOnce in new[] { false, true })
            {
                results.AddRange(model.CreateInferencePlan(9, 6, packOnce).Predict(x, 9, 6, caller).ToArray());
                results.AddRange(model.CreateInferencePlan(1, 6, packOnce).PredictSequence(single, caller is null ? default : caller.AsSpan(0, 6)).ToArray());
                if (!streams) continue;
                StreamingSession<T> session = model.CreateSession(1, 6, packOnce);
                for (int t = 0; t < 6; t++) results.AddRange(session.Step(single.AsSpan(t * f, f)).ToArray());
            }
            return results.ToArray();
        }
        T[] twoCores = Run();
        bool before = EngineSettings.UseSecondCore;
        try
        {
            EngineSettings.UseSecondCore = false;
            Assert.That(Run(), Is.EqualTo(twoCores));
        }
        finally
        {
            EngineSettings.UseSecondCore = before;
        }
    }

    [TestCaseSource(nameof(Models))]
    public void Plan_AllocatesNothing_AfterWarmUp(Case c)
    {
        Sequential<T> model = Build<T>(c.WithMasking);
        foreach (bool packOnce in new[] { false, true })
        {
            var plan = model.CreateInferencePlan(4, MaxTime, packOnce);
            var single = model.CreateInferencePlan(1, MaxTime, packOnce);
            bool[] keep = RaggedMask(3, 6);
            int f = c.WithMasking.InputFeatures;
            T[] x = Input(c, keep, 3, 6, 1), one = x.AsSpan(0, 6 * f).ToArray();
            bool[] caller = c.CallerMask ? keep : Array.Empty<bool>();
            bool[] callerOne = c.CallerMask ? keep.AsSpan(0, 6).ToArray() : Array.Empty<bool>();
            // The second call: a shorter batch and length through the same plan (x's first 2·4·F values).
            void Run() { plan.Predict(x, 3, 6, caller); plan.Predict(x.AsSpan(0, 2 * 4 * f), 2, 4); single.PredictSequence(one, callerOne); }
            for (int k = 0; k < 5; k++) Run();
            Assert.That(AllocatedBytes(100, Run), Is.EqualTo(0), $"packOnce={packOnce}");
        }
    }
}

/// <summary>
/// Streaming sessions over models with a Masking layer, the only mask source of a session: a padded step keeps every
/// LSTM's state (feeding a, pad, b then c gives at c what a, b, c gives), its output repeats the last one or is zero per
/// the LSTM's zero_output_for_mask, StepChunk gives Step's bits, and the outputs equal Forward of the whole sequence and,
/// for a last-output LSTM, a plan's output for every prefix (with <see cref="ServingTestSupport.AssertClose{T}"/>'s
/// tolerance, as the existing session tests compare with Forward).
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class MaskingStreamingTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int F = 8;

    // units 96: B·4H² ≥ 2^15, so a float session's step splits its hidden units over two cores (and a packWeightsOnce
    // session's worker takes its head start) on machines that have them.
    private static ModelSpec Sequences(int units, bool zero) => new()
    {
        InputFeatures = F, Seed = 3,
        Layers = new[] { LayerSpec.Masking(), LayerSpec.Lstm(units, true) with { ZeroOutputForMask = zero }, LayerSpec.Dense(3) },
    };

    private static ModelSpec LastOutput(bool zero) => new()
    {
        InputFeatures = F, Seed = 4,
        Layers = new[] { LayerSpec.Masking(), LayerSpec.Lstm(6) with { ZeroOutputForMask = zero }, LayerSpec.Dense(2, Activation.Tanh) },
    };

    /// <summary>[B, T, F] from the steps given per stream (each [F]).</summary>
    private static T[] Stack(params T[][][] streams)
    {
        int time = streams[0].Length;
        return Enumerable.Range(0, streams.Length).SelectMany(b => Enumerable.Range(0, time).SelectMany(t => streams[b][t])).ToArray();
    }

    private static T[] Row(T[] rows, int index, int width) => rows.AsSpan(index * width, width).ToArray();

    [Test]
    public void APaddedStep_KeepsTheState_AndOutputsPerZeroOutputForMask(
        [Values(6, 96)] int units, [Values(false, true)] bool zero, [Values(false, true)] bool packOnce)
    {
        Sequential<T> model = Build<T>(Sequences(units, zero));
        int o = model.OutputFeatures;
        T[] a = RandomValues<T>(F, 1), b = RandomValues<T>(F, 2), c = RandomValues<T>(F, 3), pad = new T[F];

        StreamingSession<T> padded = model.CreateSession(packWeightsOnce: packOnce), plain = model.CreateSession(packWeightsOnce: packOnce);
        T[][] withPad = new[] { a, pad, b, c }.Select(s => padded.Step(s).ToArray()).ToArray();
        T[][] withoutPad = new[] { a, b, c }.Select(s => plain.Step(s).ToArray()).ToArray();
        if (typeof(T) == typeof(float) && units == 96 && ((Lstm<T>)model.Layers[1]).CanSplitColumns(1))
            Assert.That(((LstmInferenceBuffers<T>)padded.Runner.BuffersOf(1)!).ColumnSplit, Is.Not.Null, "the two-core steps ran (the first calls split)");
        Assert.That(withPad[3], Is.EqualTo(withoutPad[2]), "at c: the state was kept over the padded step");
        Assert.That(withPad[2], Is.EqualTo(withoutPad[1]), "at b");
        Assert.That(withPad[0], Is.EqualTo(withoutPad[0]), "at a");
        T[] zeroRowOutput = TrainingForward(model, new T[F], 1, 1);   // the Dense of a zero LSTM output (every step masked)
        if (zero)
        {
            Assert.That(withPad[1], Is.EqualTo(zeroRowOutput), "the padded step's LSTM output is zero (zero_output_for_mask)");
            Assert.That(withPad[1], Is.Not.EqualTo(withPad[0]));
        }
        else Assert.That(withPad[1], Is.EqualTo(withPad[0]), "the padded step's output repeats the last one");

        // Forward of the whole sequence [a, pad, b, c], at every step.
        T[] whole = TrainingForward(model, Stack(new[] { a, pad, b, c }), 1, 4);
        for (int t = 0; t < 4; t++) AssertClose<T>(withPad[t], whole.AsSpan(t * o, o), $"Forward, step {t}");

        // Two streams, only the first padded at step 1: the second is what it is alone.
        StreamingSession<T> two = model.CreateSession(batch: 2, packWeightsOnce: packOnce), alone = model.CreateSession(packWeightsOnce: packOnce);
        T[][] first = { a, pad, b, c }, second = { c, a, a, b };
        for (int t = 0; t < 4; t++)
        {
            T[] together = two.Step(first[t].Concat(second[t]).ToArray()).ToArray();
            Assert.That(together.AsSpan(0, o).ToArray(), Is.EqualTo(withPad[t]), $"stream 0, step {t}");
            Assert.That(together.AsSpan(o, o).ToArray(), Is.EqualTo(alone.Step(second[t]).ToArray()), $"stream 1, step {t}");
        }
    }

    [Test]
    public void StepChunk_EqualsStepByStep_BitForBit_WithPaddedSteps(
        [Values(6, 96)] int units, [Values(false, true)] bool zero, [Values(false, true)] bool packOnce, [Values(1, 3)] int batch)
    {
        Sequential<T> model = Build<T>(Sequences(units, zero));
        const int time = 9;
        int o = model.OutputFeatures;
        T[] x = RandomValues<T>(batch * time * F, 5);
        // Padded: steps 1, 4, 5 (across a chunk boundary) and 8 of stream 0; stream 1 (if any) at its first step.
        foreach (int t in new[] { 1, 4, 5, 8 }) x.AsSpan(t * F, F).Clear();
        if (batch > 1) x.AsSpan(time * F, F).Clear();
        var stepped = model.CreateSession(batch, maxChunk: 4, packWeightsOnce: packOnce);
        var expected = new T[batch * time * o];   // [B, T, O]
        for (int t = 0; t < time; t++)
        {
            var step = new T[batch * F];
            for (int b = 0; b < batch; b++) x.AsSpan((b * time + t) * F, F).CopyTo(step.AsSpan(b * F));
            T[] y = stepped.Step(step).ToArray();
            for (int b = 0; b < batch; b++) y.AsSpan(b * o, o).CopyTo(expected.AsSpan((b * time + t) * o));
        }
        AssertClose<T>(expected, TrainingForward(model, x, batch, time), "step by step against Forward of the whole sequence");

        var chunked = model.CreateSession(batch, maxChunk: 4, packWeightsOnce: packOnce);
        int start = 0;
        foreach (int length in new[] { 3, 1, 4, 1 })
        {
            var chunk = new T[batch * length * F];
            for (int b = 0; b < batch; b++) x.AsSpan((b * time + start) * F, length * F).CopyTo(chunk.AsSpan(b * length * F));
            T[] y = chunked.StepChunk(chunk).ToArray();
            for (int b = 0; b < batch; b++)
                for (int s = 0; s < length; s++)
                    Assert.That(y.AsSpan((b * length + s) * o, o).ToArray(), Is.EqualTo(expected.AsSpan((b * time + start + s) * o, o).ToArray()),
                        $"stream {b}, step {start + s}");
            start += length;
        }
        Assert.That(chunked.Position, Is.EqualTo(time));
    }

    [Test]
    public void LastOutputLstm_Streamed_EqualsThePlansOutputForEveryPrefix([Values(false, true)] bool zero, [Values(false, true)] bool packOnce)
    {
        Sequential<T> model = Build<T>(LastOutput(zero));
        const int time = 7;
        T[] x = RandomValues<T>(time * F, 6);
        foreach (int t in new[] { 2, 3, 6 }) x.AsSpan(t * F, F).Clear();   // a padded pair and a padded last step
        var session = model.CreateSession(packWeightsOnce: packOnce);
        var plan = model.CreateInferencePlan(1, time, packOnce);
        for (int t = 0; t < time; t++)
        {
            T[] streamed = session.Step(Row(x, t, F)).ToArray();
            T[] prefix = x.AsSpan(0, (t + 1) * F).ToArray();
            AssertClose<T>(streamed, plan.PredictSequence(prefix), $"plan, prefix of {t + 1}");
            AssertClose<T>(streamed, TrainingForward(model, prefix, 1, t + 1), $"Forward, prefix of {t + 1}");
        }
        // Whether the output at a padded last step differs from the one before is what zero_output_for_mask decides.
        session.Reset();
        T[][] outputs = Enumerable.Range(0, 3).Select(t => session.Step(Row(x, t, F)).ToArray()).ToArray();
        if (zero) Assert.That(outputs[2], Is.Not.EqualTo(outputs[1]), "zero_output_for_mask: the padded step's LSTM output is zero");
        else Assert.That(outputs[2], Is.EqualTo(outputs[1]), "the padded step repeats h");
    }

    [Test]
    public void Session_AllocatesNothing_AfterWarmUp([Values(6, 96)] int units, [Values(false, true)] bool packOnce)
    {
        Sequential<T> model = Build<T>(Sequences(units, zero: true));
        var session = model.CreateSession(batch: 2, maxChunk: 4, packWeightsOnce: packOnce);
        T[] x = RandomValues<T>(2 * 4 * F, 7), step = x.AsSpan(0, 2 * F).ToArray(), pad = new T[2 * F];
        x.AsSpan(F, F).Clear();
        x.AsSpan((4 + 2) * F, F).Clear();
        for (int k = 0; k < 5; k++) { session.Step(step); session.Step(pad); session.StepChunk(x); }
        Assert.That(AllocatedBytes(100, () => { session.Step(step); session.Step(pad); }), Is.EqualTo(0), "Step");
        Assert.That(AllocatedBytes(100, () => session.StepChunk(x)), Is.EqualTo(0), "StepChunk");
        Assert.That(AllocatedBytes(100, session.Reset), Is.EqualTo(0), "Reset");
        Assert.That(AllocatedBytes(100, session.RefreshWeights), Is.EqualTo(0), "RefreshWeights");
        Sequential<T> last = Build<T>(LastOutput(zero: false));
        var lastSession = last.CreateSession(maxChunk: 4, packWeightsOnce: packOnce);
        T[] one = x.AsSpan(0, 4 * F).ToArray();
        for (int k = 0; k < 5; k++) lastSession.StepChunk(one);
        Assert.That(AllocatedBytes(100, () => lastSession.StepChunk(one)), Is.EqualTo(0), "last-output model, StepChunk");
    }
}
