using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Models;

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class StreamingSessionTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int F = 20, Time = 12;

    // Every LSTM returns sequences; cell LayerNorm and a LayerNorm between layers, so state and row norms both stream.
    private static readonly ModelSpec SequenceStack = new()
    {
        InputFeatures = F, Seed = 2,
        Layers = new[]
        {
            LayerSpec.Lstm(24, true), LayerSpec.LayerNorm(), LayerSpec.Lstm(17, true, cell: CellNormalization.TfAddons), LayerSpec.Dense(3, Activation.Tanh),
        },
    };

    // The last LSTM returns only its last output, followed by vector layers.
    private static readonly ModelSpec LastOutputStack = new()
    {
        InputFeatures = F, Seed = 3,
        Layers = new[] { LayerSpec.Lstm(24, true, cell: CellNormalization.KerasSnippet), LayerSpec.Lstm(17), LayerSpec.LayerNorm(), LayerSpec.Dense(2) },
    };

    // Dropout layers (the identity at inference) around both kinds of LSTM.
    private static readonly ModelSpec DropoutStack = new()
    {
        InputFeatures = F, Seed = 4,
        Layers = new[] { LayerSpec.DropoutLayer(0.3), LayerSpec.Lstm(24, true), LayerSpec.DropoutLayer(0.5), LayerSpec.Lstm(17), LayerSpec.DropoutLayer(0.2), LayerSpec.Dense(2) },
    };

    private static T[] Row(T[] x, int t, int width) => x.AsSpan(t * width, width).ToArray();

    [Test]
    public void Step_EqualsFullSequenceOutput_AtEveryStep_WhenTheLastLstmReturnsSequences()
    {
        Sequential<T> model = Build<T>(SequenceStack);
        T[] x = RandomValues<T>(Time * F, 1);
        T[] expected = TrainingForward(model, x, 1, Time);
        var session = model.CreateSession();
        int o = model.OutputFeatures;
        for (int t = 0; t < Time; t++)
            AssertClose<T>(session.Step(Row(x, t, F)), expected.AsSpan(t * o, o), $"step {t}");
        Assert.That(session.Position, Is.EqualTo(Time));
    }

    [Test]
    public void Step_EqualsOutputOfThePrefix_WhenTheLastLstmReturnsItsLastOutput()
    {
        Sequential<T> model = Build<T>(LastOutputStack);
        T[] x = RandomValues<T>(Time * F, 2);
        var session = new StreamingSession<T>(model);
        for (int t = 0; t < Time; t++)
        {
            T[] prefixOutput = TrainingForward(model, x.AsSpan(0, (t + 1) * F).ToArray(), 1, t + 1);
            AssertClose<T>(session.Step(Row(x, t, F)), prefixOutput, $"step {t}");
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public void StepChunk_EqualsStepByStep_BitForBit(bool lastOutput)
    {
        Sequential<T> model = Build<T>(lastOutput ? LastOutputStack : SequenceStack);
        T[] x = RandomValues<T>(Time * F, 3);
        int o = model.OutputFeatures;
        var stepped = model.CreateSession();
        var expected = new List<T>();
        for (int t = 0; t < Time; t++) expected.AddRange(stepped.Step(Row(x, t, F)).ToArray());

        var chunked = model.CreateSession(maxChunk: 5);
        var actual = new List<T>();
        int start = 0;
        foreach (int length in new[] { 3, 1, 5, 3 })
        {
            actual.AddRange(chunked.StepChunk(x.AsSpan(start * F, length * F)).ToArray());
            start += length;
        }
        Assert.That(actual.Count, Is.EqualTo(Time * o));
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void Reset_StartsAFreshSequence()
    {
        Sequential<T> model = Build<T>(SequenceStack);
        T[] first = RandomValues<T>(Time * F, 4), second = RandomValues<T>(Time * F, 5);
        T[] expected = TrainingForward(model, second, 1, Time);
        var session = model.CreateSession();
        session.StepChunk(first);
        session.Reset();
        Assert.That(session.Position, Is.EqualTo(0));
        AssertClose<T>(session.StepChunk(second), expected, "after reset");
    }

    [Test]
    public void BatchedSession_EqualsOneSessionPerStream()
    {
        Sequential<T> model = Build<T>(LastOutputStack);
        const int B = 3;
        int o = model.OutputFeatures;
        T[][] streams = Enumerable.Range(0, B).Select(b => RandomValues<T>(Time * F, 10 + b)).ToArray();
        var batched = model.CreateSession(batch: B);
        var singles = streams.Select(_ => model.CreateSession()).ToArray();
        for (int t = 0; t < Time; t++)
        {
            T[] step = streams.SelectMany(s => Row(s, t, F)).ToArray();
            T[] together = batched.Step(step).ToArray();
            for (int b = 0; b < B; b++)
                Assert.That(together.AsSpan(b * o, o).ToArray(), Is.EqualTo(singles[b].Step(Row(streams[b], t, F)).ToArray()), $"stream {b}, step {t}");
        }
    }

    [Test]
    public void ConcurrentSessions_OverOneModel_EqualSequentialResults_BitForBit()
    {
        Sequential<T> model = Build<T>(SequenceStack);
        const int Threads = 4, Steps = 200;
        T[][] streams = Enumerable.Range(0, Threads).Select(k => RandomValues<T>(Steps * F, 20 + k)).ToArray();
        T[] Run(int k)
        {
            var session = model.CreateSession();
            var outputs = new List<T>();
            for (int t = 0; t < Steps; t++) outputs.AddRange(session.Step(streams[k].AsSpan(t * F, F)).ToArray());
            return outputs.ToArray();
        }
        T[][] sequential = Enumerable.Range(0, Threads).Select(Run).ToArray();

        var concurrent = new T[Threads][];
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(k => new Thread(() => { start.SignalAndWait(); concurrent[k] = Run(k); })).ToArray();
        foreach (Thread thread in threads) thread.Start();
        foreach (Thread thread in threads) thread.Join();
        for (int k = 0; k < Threads; k++) Assert.That(concurrent[k], Is.EqualTo(sequential[k]), $"thread {k}");
        Assert.That(sequential[0], Is.Not.EqualTo(sequential[1]), "the streams differ, so mixed-up state would show");
    }

    [TestCase(false, false, false)]
    [TestCase(true, false, false)]
    [TestCase(false, true, false)]
    [TestCase(true, true, false)]
    [TestCase(true, false, true)]
    [TestCase(true, true, true)]
    public void Step_AllocatesNothing_AfterWarmUp(bool lastOutput, bool packWeightsOnce, bool dropoutLayers)
    {
        Sequential<T> model = Build<T>(dropoutLayers ? DropoutStack : lastOutput ? LastOutputStack : SequenceStack);
        var session = model.CreateSession(maxChunk: 4, packWeightsOnce: packWeightsOnce);
        T[] x = RandomValues<T>(4 * F, 6), step = Row(x, 0, F);
        for (int k = 0; k < 5; k++) { session.Step(step); session.StepChunk(x); }
        Assert.That(AllocatedBytes(100, () => session.Step(step)), Is.EqualTo(0), "Step");
        Assert.That(AllocatedBytes(100, () => session.StepChunk(x)), Is.EqualTo(0), "StepChunk");
        Assert.That(AllocatedBytes(100, session.Reset), Is.EqualTo(0), "Reset");
        Assert.That(AllocatedBytes(100, session.RefreshWeights), Is.EqualTo(0), "RefreshWeights");
    }

    public static IEnumerable<TestCaseData> PackOnceCases()
    {
        yield return new TestCaseData(SequenceStack, 1).SetArgDisplayNames("sequence stack with tf-addons cell, batch 1");
        yield return new TestCaseData(LastOutputStack, 3).SetArgDisplayNames("keras-snippet cell then last output, batch 3");
        foreach ((string name, CellNormalization cell) in new[] { ("keras-gates", CellNormalization.KerasGates), ("ba2016", CellNormalization.BaEtAl2016) })
            yield return new TestCaseData(new ModelSpec { InputFeatures = F, Seed = 4, Layers = new[] { LayerSpec.Lstm(21, true, cell: cell), LayerSpec.Dense(2) } }, 2)
                .SetArgDisplayNames($"{name} cell, batch 2");
        // Plain cells wide enough to take the two-core step (float): 7 units (one half only), 100 (halves of 48 and 52),
        // 128, and a feature count below one vector.
        foreach ((int units, int features, int batch) in new[] { (7, F, 1), (100, F, 1), (128, 32, 1), (128, 32, 4), (40, 5, 1) })
            yield return new TestCaseData(new ModelSpec { InputFeatures = features, Seed = 5, Layers = new[] { LayerSpec.Lstm(units, true), LayerSpec.Dense(3) } }, batch)
                .SetArgDisplayNames($"LSTM({features}→{units}), batch {batch}");
    }

    [TestCaseSource(nameof(PackOnceCases))]
    public void PackWeightsOnce_GivesTheSameBits_StepAndChunk(ModelSpec spec, int batch)
    {
        Sequential<T> model = Build<T>(spec);
        int f = spec.InputFeatures;
        var asStored = model.CreateSession(batch, maxChunk: 5);
        var packedOnce = model.CreateSession(batch, maxChunk: 5, packWeightsOnce: true);
        Assert.That(packedOnce.PacksWeightsOnce, Is.True);
        Assert.That(asStored.PacksWeightsOnce, Is.False);
        T[] x = RandomValues<T>(batch * 5 * f, 30);
        for (int round = 0; round < 4; round++)
        {
            T[] step = x.AsSpan(round * batch * f, batch * f).ToArray();
            Assert.That(packedOnce.Step(step).ToArray(), Is.EqualTo(asStored.Step(step).ToArray()), $"step {round}");
            Assert.That(packedOnce.StepChunk(x).ToArray(), Is.EqualTo(asStored.StepChunk(x).ToArray()), $"chunk {round}");
        }
    }

    [Test]
    public void PackWeightsOnce_KeepsWAndU_UntilRefreshWeights_AndReadsTheRestAtEveryCall()
    {
        var spec = new ModelSpec { InputFeatures = F, Seed = 6, Layers = new[] { LayerSpec.Lstm(24, true), LayerSpec.LayerNorm(), LayerSpec.Lstm(40), LayerSpec.Dense(2) } };
        Sequential<T> model = Build<T>(spec), twin = Build<T>(spec);   // twin keeps the original weights
        var once = model.CreateSession(packWeightsOnce: true);
        T[] x = RandomValues<T>(6 * F, 7);

        // Change every LSTM weight matrix: a session that reads them sees it, the packed-once one keeps its copies.
        foreach (NamedParameter<T> p in model.NamedParameters)
            if (p.Parameter.Name.StartsWith("weight_ih") || p.Parameter.Name.StartsWith("weight_hh"))
                for (int k = 0; k < p.Parameter.Length; k++) p.Parameter.Value[k] *= T.CreateTruncating(1.5);
        Assert.That(once.StepChunk(x).ToArray(), Is.EqualTo(twin.CreateSession().StepChunk(x).ToArray()), "packed-once session keeps the copied W and U");
        T[] changed = model.CreateSession().StepChunk(x).ToArray();
        Assert.That(changed, Is.Not.EqualTo(twin.CreateSession().StepChunk(x).ToArray()), "the change matters");

        once.Reset();
        once.RefreshWeights();
        Assert.That(once.StepChunk(x).ToArray(), Is.EqualTo(changed), "after RefreshWeights");

        // Biases (and LayerNorm, Dense parameters) are read at every call.
        foreach (NamedParameter<T> p in model.NamedParameters)
            if (p.Parameter.Name.StartsWith("bias"))
                for (int k = 0; k < p.Parameter.Length; k++) p.Parameter.Value[k] += T.CreateTruncating(0.25);
        once.Reset();
        T[] afterBias = model.CreateSession().StepChunk(x).ToArray();
        Assert.That(afterBias, Is.Not.EqualTo(changed), "the bias change matters");
        Assert.That(once.StepChunk(x).ToArray(), Is.EqualTo(afterBias), "packed-once session after a bias change");
    }

    [Test]
    public void RefreshWeights_KeepsTheState_AndDoesNothingToASessionThatReadsTheWeights()
    {
        Sequential<T> model = Build<T>(LastOutputStack);
        T[] x = RandomValues<T>(4 * F, 8);
        var once = model.CreateSession(packWeightsOnce: true);
        var asStored = model.CreateSession();
        once.StepChunk(x.AsSpan(0, 2 * F));
        asStored.StepChunk(x.AsSpan(0, 2 * F));
        once.RefreshWeights();
        asStored.RefreshWeights();
        Assert.That(once.Position, Is.EqualTo(2));
        Assert.That(once.StepChunk(x.AsSpan(2 * F)).ToArray(), Is.EqualTo(asStored.StepChunk(x.AsSpan(2 * F)).ToArray()), "state carried over the refresh");
    }

    [Test]
    public void Creation_Refuses_BidirectionalAndGoBackwards_NamingTheLayer()
    {
        Sequential<T> bidirectional = new StackSpec(3, new[] { 4 }).WithPlacement(LayerNormPlacement.None).Build<T>();
        var e1 = Assert.Throws<NotSupportedException>(() => bidirectional.CreateSession())!;
        Assert.That(e1.Message, Does.Contain("bidirectional_1").And.Contain("cannot stream"));
        Sequential<T> backwards = new ModelSpec { InputFeatures = 3, Layers = new[] { LayerSpec.Lstm(4, true), LayerSpec.Lstm(4, goBackwards: true) } }.Build<T>();
        var e2 = Assert.Throws<NotSupportedException>(() => new StreamingSession<T>(backwards))!;
        Assert.That(e2.Message, Does.Contain("lstm_2").And.Contain("goBackwards"));
    }

    [Test]
    public void Step_RejectsBadShapes_WithClearMessages()
    {
        var session = Build<T>(SequenceStack).CreateSession(maxChunk: 3);
        var features = Assert.Throws<ArgumentException>(() => session.Step(new T[F + 1]))!;
        Assert.That(features.Message, Does.Contain($"F={F}").And.Contain($"got {F + 1}"));
        Assert.Throws<ArgumentException>(() => session.StepChunk(new T[2 * F + 1]));
        var chunk = Assert.Throws<ArgumentOutOfRangeException>(() => session.StepChunk(new T[4 * F]))!;
        Assert.That(chunk.Message, Does.Contain("at most 3").And.Contain("got 4"));
    }

    [Test]
    public void Step_WithTheModelRejectingNonFiniteInputs_Throws_BeforeTheStateMoves()
    {
        // Sessions used to ignore Sequential.NonFiniteInputs: a NaN went into the state and every later step was NaN.
        Sequential<T> model = Build<T>(SequenceStack);
        model.NonFiniteInputs = NonFiniteInputs.Reject;
        const int batch = 2;
        T[] x = RandomValues<T>(batch * 4 * F, 3);   // [B, 4, F]
        var session = model.CreateSession(batch, maxChunk: 4);
        var reference = model.CreateSession(batch, maxChunk: 4);
        T[] Step(T[] source, int t)
        {
            var step = new T[batch * F];
            for (int b = 0; b < batch; b++) source.AsSpan((b * 4 + t) * F, F).CopyTo(step.AsSpan(b * F));
            return step;
        }
        session.Step(Step(x, 0));
        reference.Step(Step(x, 0));
        T[] bad = Step(x, 1);
        bad[1 * F + 5] = T.NaN;
        var e = Assert.Throws<ArgumentException>(() => session.Step(bad))!;
        Assert.That(e.ParamName, Is.EqualTo("x"));
        Assert.That(e.Message, Does.Contain("NaN").And.Contain("sequence 1, step 0, feature 5"));
        T[] chunk = x.ToArray();
        chunk[(0 * 4 + 2) * F + 7] = T.NegativeInfinity;
        e = Assert.Throws<ArgumentException>(() => session.StepChunk(chunk))!;
        Assert.That(e.Message, Does.Contain("Infinity").And.Contain("sequence 0, step 2, feature 7"));
        Assert.That(session.Position, Is.EqualTo(1), "rejected calls are not counted");
        Assert.That(session.Step(Step(x, 1)).ToArray(), Is.EqualTo(reference.Step(Step(x, 1)).ToArray()), "the state did not move");
        T[] finite = Step(x, 2);
        Assert.That(AllocatedBytes(100, () => session.Step(finite)), Is.Zero, "the check allocates nothing");
    }
}
