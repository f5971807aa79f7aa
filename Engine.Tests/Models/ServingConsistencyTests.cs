using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Models;

/// <summary>
/// Every layer configuration the spec and builder accept, served every way: <see cref="InferencePlan{T}"/> (packing W and
/// U per call and once; sized for exactly the batch, which takes the batch-1 layouts, and larger; Bidirectional
/// directions side by side and one after the other) and <see cref="StreamingSession{T}"/> (step by step and in chunks,
/// batch 1 and 3, packed once or not) must give what <c>Sequential.Forward</c> gives in inference mode, at batch 1, 3
/// and 9 (the balanced directions' hand-over and the training row split), with no mask, a ragged one with a hole, a
/// left padding, a row with no valid step and random holes. One plan serves calls of changing batch and length.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class ServingConsistencyTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int F = 3, MaxTime = 7;

    private static TestCaseData Case(string name, int features, params LayerSpec[] layers)
        => new TestCaseData(new ModelSpec { InputFeatures = features, Seed = 5, Layers = layers }).SetArgDisplayNames(name);

    /// <summary>All 18 cell LayerNorm combinations (gates × cell state × hidden), not only the named presets.</summary>
    private static IEnumerable<(string Name, CellNormalization Cell)> AllCells()
    {
        foreach (GateNormalization gates in Enum.GetValues<GateNormalization>())
            foreach (CellStateNormalization state in Enum.GetValues<CellStateNormalization>())
                foreach (bool hidden in new[] { false, true })
                    yield return ($"{gates}/{state}{(hidden ? "/hidden" : "")}", new CellNormalization(gates, state, hidden, hidden ? 1e-5 : 1e-3));
    }

    public static IEnumerable<TestCaseData> Models()
    {
        foreach ((string name, CellNormalization cell) in AllCells())
            yield return Case($"lstm cell {name}", F, LayerSpec.Lstm(5, true, 0.3, 0.2, cell), LayerSpec.Lstm(4, cell: cell), LayerSpec.Dense(2));
        foreach (bool sequences in new[] { false, true })
            foreach (bool backwards in new[] { false, true })
                foreach (bool zero in new[] { false, true })
                {
                    var first = LayerSpec.Lstm(6, sequences, goBackwards: backwards) with { ZeroOutputForMask = zero };
                    yield return sequences
                        ? Case($"lstm sequences goBackwards={backwards} zero_output_for_mask={zero}", F, first,
                            LayerSpec.Lstm(3, true) with { ZeroOutputForMask = !zero }, LayerSpec.Lstm(4, goBackwards: !backwards) with { ZeroOutputForMask = zero })
                        : Case($"lstm last goBackwards={backwards} zero_output_for_mask={zero}", F, first, LayerSpec.Dense(2, Activation.Tanh));
                }
        foreach (MergeMode merge in Enum.GetValues<MergeMode>())
            foreach (string preset in new[] { "none", "keras-snippet", "ba2016", "tf-addons" })
            {
                CellNormalization cell = CellNormalization.Presets[preset];
                yield return Case($"bidirectional {merge} sequences then last, {preset}", F,
                    LayerSpec.Bidirectional(LayerSpec.Lstm(5, true, 0.2, 0.2, cell), merge), LayerSpec.Bidirectional(LayerSpec.Lstm(4, cell: cell), merge),
                    LayerSpec.Dense(3, Activation.Softmax));
                yield return Case($"bidirectional {merge} sequences, lstm after, {preset}", F,
                    LayerSpec.Bidirectional(LayerSpec.Lstm(5, true, cell: cell), merge), LayerSpec.LayerNorm(), LayerSpec.Lstm(4, true), LayerSpec.Dense(2));
            }
        foreach ((string name, CellNormalization cell) in AllCells())
            yield return Case($"bidirectional cell {name}", F, LayerSpec.Bidirectional(LayerSpec.Lstm(5, true, cell: cell)), LayerSpec.Bidirectional(LayerSpec.Lstm(3, cell: cell), MergeMode.Mul),
                LayerSpec.Dense(2));
        foreach (bool center in new[] { false, true })
            foreach (bool scale in new[] { false, true })
                yield return Case($"layer norm center={center} scale={scale}", F, LayerSpec.LayerNorm(1e-5, center, scale), LayerSpec.Lstm(5, true),
                    LayerSpec.LayerNorm(0.5, center, scale), LayerSpec.Lstm(4), LayerSpec.LayerNorm(1e-3, center, scale), LayerSpec.Dense(2));
        foreach (Activation activation in Enum.GetValues<Activation>())
            foreach (bool bias in new[] { false, true })
                yield return Case($"dense {activation} bias={bias}", F, LayerSpec.Dense(4, activation, bias), LayerSpec.Lstm(5, true),
                    LayerSpec.Dense(4, activation, bias), LayerSpec.Lstm(3), LayerSpec.Dense(2, activation, bias));
        yield return Case("dense only", F, LayerSpec.Dense(4, Activation.Relu), LayerSpec.Dense(2));
        // Dropout (the identity at inference) on the input, between recurrent layers, on a vector and last.
        yield return Case("dropout between every layer", F, LayerSpec.DropoutLayer(0.3), LayerSpec.Lstm(5, true, 0.2, 0.2), LayerSpec.DropoutLayer(0.5), LayerSpec.Lstm(4),
            LayerSpec.DropoutLayer(0.1), LayerSpec.Dense(2), LayerSpec.DropoutLayer(0.4));
        yield return Case("dropout on sequences, last", F, LayerSpec.Lstm(5, true), LayerSpec.Dense(3, Activation.Tanh), LayerSpec.DropoutLayer(0.5));
        yield return Case("layer norm of one feature", 1, LayerSpec.LayerNorm(), LayerSpec.Lstm(3, true), LayerSpec.Dense(1), LayerSpec.LayerNorm(), LayerSpec.Dense(2));
        // Wide enough for the two-core paths: a plan's hidden units split at batch ≤ 4 (B·4H² ≥ 150,000), a session's from
        // 2^15, Forward's rows at batch 9 (B·4H² ≥ 2^21); a Bidirectional's directions balanced at batch 9.
        yield return Case("wide lstm", 10, LayerSpec.Lstm(256, true), LayerSpec.Lstm(96, goBackwards: true) with { ZeroOutputForMask = true }, LayerSpec.Dense(2));
        yield return Case("wide lstm, zero_output_for_mask", 10, LayerSpec.Lstm(200, true) with { ZeroOutputForMask = true }, LayerSpec.Dense(2));
        yield return Case("wide bidirectional", 70, LayerSpec.Bidirectional(LayerSpec.Lstm(40, true), MergeMode.Ave), LayerSpec.Bidirectional(LayerSpec.Lstm(24)),
            LayerSpec.Dense(2));
    }

    /// <summary>Masks for [batch, time]: none, ragged with a hole, left padding, a row with no valid step, random holes.</summary>
    private static IEnumerable<(string Name, bool[]? Mask)> Masks(int batch, int time)
    {
        yield return ("no mask", null);
        yield return ("ragged with a hole", RaggedMask(batch, time));
        yield return ("left padding", Enumerable.Range(0, batch * time).Select(k => k % time >= (k / time) % time).ToArray());
        bool[] empty = RaggedMask(batch, time);
        for (int t = 0; t < time; t++) empty[(batch - 1) * time + t] = false;
        yield return ("last row with no valid step", empty);
        var random = new Random(batch * 31 + time);
        yield return ("random holes", Enumerable.Range(0, batch * time).Select(_ => random.Next(3) != 0).ToArray());
    }

    private static readonly (int Batch, int Time)[] Shapes = { (3, 5), (1, 6), (9, 7), (1, 1), (3, 7), (2, 2) };

    [TestCaseSource(nameof(Models))]
    public void Plan_EqualsForward_AtEveryBatchLengthAndMask(ModelSpec spec)
    {
        Sequential<T> model = Build<T>(spec);
        ModelCache<T> reused = model.CreateCache();   // one cache through every shape: the same bits as a fresh one each time
        foreach (bool packOnce in new[] { false, true })
            foreach (int maxBatch in new[] { 1, 9 })
                foreach (bool parallel in new[] { true, false })
                {
                    if (!parallel && !model.Layers.Any(l => l is Bidirectional<T>)) continue;
                    foreach (Bidirectional<T> bi in model.Layers.OfType<Bidirectional<T>>()) bi.ParallelDirections = parallel;
                    var plan = model.CreateInferencePlan(maxBatch, MaxTime, packOnce);
                    foreach ((int batch, int time) in Shapes.Where(s => s.Batch <= maxBatch))
                    {
                        T[] x = RandomValues<T>(batch * time * spec.InputFeatures, batch * 10 + time);
                        foreach ((string maskName, bool[]? mask) in Masks(batch, time))
                        {
                            string what = $"packOnce={packOnce} maxBatch={maxBatch} parallel={parallel} B={batch} T={time} {maskName}";
                            T[] expected = TrainingForward(model, x, batch, time, mask);
                            Assert.That(model.Forward(new SequenceBatch<T>(x, batch, time, mask ?? default), reused, ForwardContext.Inference).ToArray(),
                                Is.EqualTo(expected), what + " (Forward with a reused cache)");
                            AssertClose<T>(plan.Predict(x, batch, time, mask), expected, what);
                            if (batch == 1) AssertClose<T>(plan.PredictSequence(x, mask), expected, what + " (PredictSequence)");
                        }
                    }
                }
    }

    /// <summary>With EngineSettings.UseSecondCore off every call stays on its thread: the same bits as with it on.</summary>
    [TestCaseSource(nameof(Models))]
    [NonParallelizable]
    public void OnOneCore_PlansAndSessionsGiveTheBitsOfTwo(ModelSpec spec)
    {
        Sequential<T> model = Build<T>(spec);
        bool streams = spec.Layers.All(l => l.Type != "bidirectional" && !l.GoBackwards);
        (T[] Plan, T[] Session) Run()
        {
            T[] x = RandomValues<T>(9 * 6 * spec.InputFeatures, 7), single = x.AsSpan(0, 6 * spec.InputFeatures).ToArray();
            var results = new List<T>();
            foreach (bool packOnce in new[] { false, true })
            {
                results.AddRange(model.CreateInferencePlan(9, 6, packOnce).Predict(x, 9, 6, RaggedMask(9, 6)).ToArray());
                results.AddRange(model.CreateInferencePlan(1, 6, packOnce).PredictSequence(single).ToArray());
            }
            var session = new List<T>();
            if (streams)
                foreach (bool packOnce in new[] { false, true })
                {
                    StreamingSession<T> s = model.CreateSession(1, 6, packOnce);
                    for (int t = 0; t < 6; t++) session.AddRange(s.Step(single.AsSpan(t * spec.InputFeatures, spec.InputFeatures)).ToArray());
                }
            return (results.ToArray(), session.ToArray());
        }
        (T[] plan, T[] session) = Run();
        bool before = EngineSettings.UseSecondCore;
        try
        {
            EngineSettings.UseSecondCore = false;
            (T[] planOneCore, T[] sessionOneCore) = Run();
            Assert.That(planOneCore, Is.EqualTo(plan), "plans");
            Assert.That(sessionOneCore, Is.EqualTo(session), "sessions");
        }
        finally
        {
            EngineSettings.UseSecondCore = before;
        }
    }

    public static IEnumerable<TestCaseData> StreamableModels()
        => Models().Where(c => ((ModelSpec)c.Arguments[0]!).Layers.All(l => l.Type != "bidirectional" && !l.GoBackwards));

    [TestCaseSource(nameof(StreamableModels))]
    public void Session_EqualsForwardOfEveryPrefix_StepByStepAndInChunks(ModelSpec spec)
    {
        Sequential<T> model = Build<T>(spec);
        int f = spec.InputFeatures, o = model.OutputFeatures, time = MaxTime;
        foreach (int batch in new[] { 1, 3 })
        {
            T[] x = RandomValues<T>(batch * time * f, batch + 40);
            // What the model gives for each prefix [0, t]: the output at its last step (sequences) or its output.
            var expected = new T[time][];
            for (int t = 0; t < time; t++)
            {
                var prefix = new T[batch * (t + 1) * f];
                for (int b = 0; b < batch; b++) x.AsSpan(b * time * f, (t + 1) * f).CopyTo(prefix.AsSpan(b * (t + 1) * f));
                T[] output = TrainingForward(model, prefix, batch, t + 1);
                expected[t] = new T[batch * o];
                for (int b = 0; b < batch; b++)
                    output.AsSpan(model.OutputShape.IsSequence ? (b * (t + 1) + t) * o : b * o, o).CopyTo(expected[t].AsSpan(b * o));
            }
            foreach (bool packOnce in new[] { false, true })
            {
                var session = model.CreateSession(batch, maxChunk: 3, packWeightsOnce: packOnce);
                for (int round = 0; round < 2; round++)
                {
                    for (int t = 0; t < time; t++)
                    {
                        var step = new T[batch * f];
                        for (int b = 0; b < batch; b++) x.AsSpan((b * time + t) * f, f).CopyTo(step.AsSpan(b * f));
                        AssertClose<T>(session.Step(step), expected[t], $"packOnce={packOnce} B={batch} round {round} step {t}");
                    }
                    Assert.That(session.Position, Is.EqualTo(time));
                    session.Reset();
                }
                // Chunks of 3, 3 and 1 steps.
                for (int t0 = 0; t0 < time; t0 += 3)
                {
                    int steps = Math.Min(3, time - t0);
                    var chunk = new T[batch * steps * f];
                    for (int b = 0; b < batch; b++) x.AsSpan((b * time + t0) * f, steps * f).CopyTo(chunk.AsSpan(b * steps * f));
                    T[] outputs = session.StepChunk(chunk).ToArray();
                    for (int s = 0; s < steps; s++)
                        for (int b = 0; b < batch; b++)
                            AssertClose<T>(outputs.AsSpan((b * steps + s) * o, o), expected[t0 + s].AsSpan(b * o, o), $"packOnce={packOnce} B={batch} chunk step {t0 + s}");
                }
            }
        }
    }
}

/// <summary>
/// A call given the output span of the call before as its input (an autoregressive loop feeding a prediction back):
/// the result must be what a copy of it gives. For a model of one layer that span is the buffer the layer writes.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class OutputFedBackTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int F = 4, Batch = 2, Time = 3;

    public static IEnumerable<TestCaseData> OneLayerModels()
    {
        foreach (Activation activation in Enum.GetValues<Activation>())
            foreach (bool bias in new[] { false, true })
                yield return new TestCaseData(LayerSpec.Dense(F, activation, bias)).SetArgDisplayNames($"dense {activation} bias={bias}");
        yield return new TestCaseData(LayerSpec.LayerNorm()).SetArgDisplayNames("layer norm");
        yield return new TestCaseData(LayerSpec.DropoutLayer(0.5)).SetArgDisplayNames("dropout");
        yield return new TestCaseData(LayerSpec.Lstm(F, true)).SetArgDisplayNames("lstm");
        yield return new TestCaseData(LayerSpec.Bidirectional(LayerSpec.Lstm(F, true), MergeMode.Sum)).SetArgDisplayNames("bidirectional sum");
    }

    [TestCaseSource(nameof(OneLayerModels))]
    public void OutputFedBack_GivesWhatACopyGives_InAPlanASessionAndForward(LayerSpec layer)
    {
        Sequential<T> model = Build<T>(new ModelSpec { InputFeatures = F, Layers = new[] { layer } });
        T[] x = RandomValues<T>(Batch * Time * F, 1);
        foreach (bool packOnce in new[] { false, true })
        {
            var plan = model.CreateInferencePlan(Batch, Time, packOnce);
            ReadOnlySpan<T> y = plan.Predict(x, Batch, Time);
            T[] copy = y.ToArray();
            T[] expected = model.CreateInferencePlan(Batch, Time, packOnce).Predict(copy, Batch, Time).ToArray();
            Assert.That(plan.Predict(y, Batch, Time).ToArray(), Is.EqualTo(expected), $"plan, packOnce={packOnce}");
        }

        ModelCache<T> cache = model.CreateCache();
        ReadOnlySpan<T> z = model.Forward(new SequenceBatch<T>(x, Batch, Time, default), cache, ForwardContext.Inference);
        T[] forwardCopy = z.ToArray();
        T[] forwardExpected = TrainingForward(model, forwardCopy, Batch, Time);
        Assert.That(model.Forward(new SequenceBatch<T>(z, Batch, Time, default), cache, ForwardContext.Inference).ToArray(), Is.EqualTo(forwardExpected), "Forward");

        if (layer.Type == "bidirectional") return;
        foreach (bool packOnce in new[] { false, true })
        {
            StreamingSession<T> session = model.CreateSession(Batch, Time, packOnce), twin = model.CreateSession(Batch, Time, packOnce);
            ReadOnlySpan<T> step = session.Step(x.AsSpan(0, Batch * F));
            T[] stepCopy = twin.Step(x.AsSpan(0, Batch * F)).ToArray();
            T[] stepExpected = twin.Step(stepCopy).ToArray();
            Assert.That(session.Step(step).ToArray(), Is.EqualTo(stepExpected), $"session step, packOnce={packOnce}");
            ReadOnlySpan<T> chunk = session.StepChunk(x);
            T[] chunkCopy = twin.StepChunk(x).ToArray();
            T[] chunkExpected = twin.StepChunk(chunkCopy).ToArray();
            Assert.That(session.StepChunk(chunk).ToArray(), Is.EqualTo(chunkExpected), $"session chunk, packOnce={packOnce}");
        }
    }
}

/// <summary>
/// One plan or session called from two threads at once, which docs/serving.md rules out ("a plan or a session belongs to
/// one thread at a time"): the two calls would share every buffer and the state, and gave wrong numbers without a word.
/// The second call is refused with an InvalidOperationException; the plan or session is unharmed.
/// </summary>
public class ConcurrentMisuseTests
{
    private static readonly ModelSpec Spec = new() { InputFeatures = 8, Layers = new[] { LayerSpec.Lstm(48, true), LayerSpec.Lstm(16), LayerSpec.Dense(2) } };

    /// <summary>Runs call on two threads at once, over and over, until one throws or 20 s pass; returns what was thrown.</summary>
    private static List<Exception> RaceTwoThreads(Action call)
    {
        var thrown = new List<Exception>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (thrown.Count == 0 && DateTime.UtcNow < deadline)
        {
            using var start = new Barrier(2);
            void Loop()
            {
                start.SignalAndWait();
                for (int k = 0; k < 20; k++)
                {
                    try { call(); }
                    catch (Exception e) { lock (thrown) thrown.Add(e); }
                }
            }
            var other = new Thread(Loop);
            other.Start();
            Loop();
            other.Join();
        }
        return thrown;
    }

    [Test]
    public void OnePlan_CalledFromTwoThreadsAtOnce_RefusesTheSecondCall_AndStaysRight()
    {
        Sequential<float> model = Build<float>(Spec);
        var plan = model.CreateInferencePlan(4, 300);
        float[] x = RandomValues<float>(4 * 300 * 8, 1);
        float[] expected = plan.Predict(x, 4, 300).ToArray();
        List<Exception> thrown = RaceTwoThreads(() => plan.Predict(x, 4, 300));
        Assert.That(thrown, Is.Not.Empty, "two calls at once were not noticed");
        Assert.That(thrown, Is.All.InstanceOf<InvalidOperationException>());
        Assert.That(thrown[0].Message, Does.Contain("one thread at a time"));
        Assert.That(plan.Predict(x, 4, 300).ToArray(), Is.EqualTo(expected), "the plan after the race");
    }

    [Test]
    public void OneSession_CalledFromTwoThreadsAtOnce_RefusesTheSecondCall()
    {
        Sequential<float> model = Build<float>(Spec);
        var session = model.CreateSession(4, maxChunk: 300);
        float[] x = RandomValues<float>(4 * 300 * 8, 2);
        List<Exception> thrown = RaceTwoThreads(() => { session.StepChunk(x); session.Reset(); });
        Assert.That(thrown, Is.Not.Empty, "two calls at once were not noticed");
        Assert.That(thrown, Is.All.InstanceOf<InvalidOperationException>());
        session.Reset();
        float[] first = session.StepChunk(x).ToArray();
        session.Reset();
        Assert.That(session.StepChunk(x).ToArray(), Is.EqualTo(first), "the session after the race");
    }
}
