using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Models;

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class InferencePlanTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int MaxBatch = 4, MaxTime = 9;

    public static IEnumerable<TestCaseData> Placements()
    {
        // The seed model scaled down (dropout and recurrent dropout 0.4, off at inference) under every placement; "wide"
        // has sizes past one vector so the kernels' vector paths and k tails run (F = 20, H = 24 and 17, 2H = 48).
        foreach (LayerNormPlacement placement in LayerNormPlacement.All)
        {
            yield return new TestCaseData(new StackSpec(3, new[] { 4, 5 }, Bidirectional: true, Dropout: 0.4, RecurrentDropout: 0.4).WithPlacement(placement))
                .SetArgDisplayNames($"small, {placement.Name}");
            yield return new TestCaseData(new StackSpec(20, new[] { 24, 17 }, Bidirectional: true, Dropout: 0.4, RecurrentDropout: 0.4).WithPlacement(placement))
                .SetArgDisplayNames($"wide, {placement.Name}");
        }
    }

    public static IEnumerable<TestCaseData> Variants()
    {
        TestCaseData Case(string name, params LayerSpec[] layers) => new TestCaseData(new ModelSpec { InputFeatures = 18, Seed = 4, Layers = layers }).SetArgDisplayNames(name);
        yield return Case("lstm sequences, lstm last, dense softmax",
            LayerSpec.Lstm(19, true), LayerSpec.Lstm(9), LayerSpec.Dense(5, Activation.Softmax));
        yield return Case("goBackwards lstm sequences, dense tanh on sequences",
            LayerSpec.Lstm(17, true, goBackwards: true), LayerSpec.Dense(3, Activation.Tanh));
        yield return Case("goBackwards lstm last, dense sigmoid", LayerSpec.Lstm(16, goBackwards: true), LayerSpec.Dense(2, Activation.Sigmoid));
        yield return Case("zero_output_for_mask lstm sequences, zero_output_for_mask goBackwards lstm last",
            LayerSpec.Lstm(13, true) with { ZeroOutputForMask = true }, LayerSpec.Lstm(9, goBackwards: true) with { ZeroOutputForMask = true }, LayerSpec.Dense(2));
        foreach (MergeMode merge in Enum.GetValues<MergeMode>())
        {
            yield return Case($"bidirectional {merge} sequences, relu", LayerSpec.Bidirectional(LayerSpec.Lstm(18, true), merge), LayerSpec.Dense(4, Activation.Relu));
            yield return Case($"bidirectional {merge} last", LayerSpec.Bidirectional(LayerSpec.Lstm(18), merge), LayerSpec.Dense(3, useBias: false));
        }
        yield return Case("dropout, lstm sequences, dropout, lstm last, dropout, dense",
            LayerSpec.DropoutLayer(0.5), LayerSpec.Lstm(11, true, 0.3), LayerSpec.DropoutLayer(0.2), LayerSpec.Lstm(9), LayerSpec.DropoutLayer(0.3), LayerSpec.Dense(2));
        foreach ((string name, CellNormalization cell) in CellNormalization.Presets)
            yield return Case($"cell {name}, layer norm no center/scale", LayerSpec.Lstm(21, true, cell: cell), LayerSpec.LayerNorm(1e-5, center: false),
                LayerSpec.Lstm(12, cell: cell with { Epsilon = 1e-5 }), LayerSpec.LayerNorm(scale: false), LayerSpec.Dense(2));
    }

    [TestCaseSource(nameof(Placements))]
    public void Predict_MatchesTrainingForward_ForEveryPlacement(ModelSpec spec)
    {
        Sequential<T> model = Build<T>(spec);
        var plan = model.CreateInferencePlan(MaxBatch, MaxTime);
        foreach ((int batch, int time) in new[] { (3, 7), (MaxBatch, MaxTime), (1, 2) })
        {
            T[] x = RandomValues<T>(batch * time * spec.InputFeatures, batch * 100 + time);
            AssertClose<T>(plan.Predict(x, batch, time), TrainingForward(model, x, batch, time), $"B={batch} T={time}");
            bool[] mask = RaggedMask(batch, time);
            AssertClose<T>(plan.Predict(x, batch, time, mask), TrainingForward(model, x, batch, time, mask), $"B={batch} T={time} masked");
        }
    }

    [TestCaseSource(nameof(Variants))]
    public void Predict_MatchesTrainingForward_ForLayerVariants(ModelSpec spec)
    {
        Sequential<T> model = Build<T>(spec);
        var plan = new InferencePlan<T>(model, MaxBatch, MaxTime);
        T[] x = RandomValues<T>(3 * 8 * spec.InputFeatures, 5);
        AssertClose<T>(plan.Predict(x, 3, 8), TrainingForward(model, x, 3, 8), "unmasked");
        bool[] mask = RaggedMask(3, 8);
        AssertClose<T>(plan.Predict(x, 3, 8, mask), TrainingForward(model, x, 3, 8, mask), "masked");
        bool[] leftPadded = Enumerable.Range(0, 3 * 8).Select(k => k % 8 >= 2 * (k / 8) + 1).ToArray();   // rows start at steps 1, 3, 5
        AssertClose<T>(plan.Predict(x, 3, 8, leftPadded), TrainingForward(model, x, 3, 8, leftPadded), "left-padded");
    }

    [Test]
    public void PredictSequence_MatchesTrainingForwardOfOneSequence()
    {
        Sequential<T> model = Build<T>(new StackSpec(20, new[] { 24, 17 }).WithPlacement(LayerNormPlacement.AfterEachRecurrent));
        var plan = model.CreateInferencePlan(1, MaxTime);
        T[] x = RandomValues<T>(6 * 20, 8);
        AssertClose<T>(plan.PredictSequence(x), TrainingForward(model, x, 1, 6), "sequence");
        bool[] mask = { true, true, true, true, false, false };
        AssertClose<T>(plan.PredictSequence(x, mask), TrainingForward(model, x, 1, 6, mask), "masked sequence");
    }

    public static IEnumerable<TestCaseData> AllocationCases()
    {
        yield return new TestCaseData(new ModelSpec { InputFeatures = 20, Layers = new[] { LayerSpec.Lstm(24, true), LayerSpec.Lstm(17), LayerSpec.Dense(2) } }, false)
            .SetArgDisplayNames("plain");
        yield return new TestCaseData(new ModelSpec { InputFeatures = 20, Layers = new[] { LayerSpec.Lstm(24, true), LayerSpec.Lstm(17), LayerSpec.Dense(2) } }, true)
            .SetArgDisplayNames("masked");
        yield return new TestCaseData(new StackSpec(20, new[] { 24, 17 }).WithPlacement(LayerNormPlacement.AfterEachRecurrent), true)
            .SetArgDisplayNames("bidirectional seed stack, masked");
        yield return new TestCaseData(new StackSpec(20, new[] { 24, 17 }, Bidirectional: false).WithPlacement(LayerNormPlacement.InCell(CellNormalization.TfAddons)), false)
            .SetArgDisplayNames("cell LayerNorm tf-addons");
        yield return new TestCaseData(new StackSpec(20, new[] { 24, 17 }, Bidirectional: false, OutputActivation: Activation.Softmax)
            .WithPlacement(LayerNormPlacement.InCellAndAfterEach(CellNormalization.BaEtAl2016)), true).SetArgDisplayNames("cell LayerNorm ba2016 + after, softmax");
        yield return new TestCaseData(new ModelSpec { InputFeatures = 20, Layers = new[] { LayerSpec.DropoutLayer(0.2), LayerSpec.Lstm(24, true), LayerSpec.DropoutLayer(0.4), LayerSpec.Lstm(17), LayerSpec.DropoutLayer(0.4), LayerSpec.Dense(2) } }, true)
            .SetArgDisplayNames("dropout layers, masked");
        foreach (Activation activation in Enum.GetValues<Activation>().Where(a => a >= Activation.Elu))
            yield return new TestCaseData(new ModelSpec { InputFeatures = 20, Layers = new[] { LayerSpec.Lstm(24, true), LayerSpec.Dense(6, activation), LayerSpec.Lstm(17), LayerSpec.Dense(5, activation) } }, false)
                .SetArgDisplayNames($"dense {activation}");
    }

    [TestCaseSource(nameof(AllocationCases))]
    public void Predict_AllocatesNothing_AfterWarmUp(ModelSpec spec, bool masked)
    {
        Sequential<T> model = Build<T>(spec);
        var plan = model.CreateInferencePlan(MaxBatch, MaxTime);
        T[] x = RandomValues<T>(3 * 8 * spec.InputFeatures, 1), single = x.AsSpan(0, 8 * spec.InputFeatures).ToArray();
        bool[] mask = masked ? RaggedMask(3, 8) : Array.Empty<bool>();
        void Call() { plan.Predict(x, 3, 8, mask); plan.PredictSequence(single); }
        for (int k = 0; k < 5; k++) Call();
        Assert.That(AllocatedBytes(100, Call), Is.EqualTo(0));
    }

    public static IEnumerable<TestCaseData> PackOnceCases()
    {
        yield return new TestCaseData(new StackSpec(20, new[] { 24, 17 }, Bidirectional: true).WithPlacement(LayerNormPlacement.AfterEachRecurrent))
            .SetArgDisplayNames("bidirectional seed stack");
        yield return new TestCaseData(new ModelSpec { InputFeatures = 18, Layers = new[] { LayerSpec.Lstm(19, true, goBackwards: true), LayerSpec.Lstm(9), LayerSpec.Dense(3) } })
            .SetArgDisplayNames("lstm goBackwards, lstm last");
        yield return new TestCaseData(new StackSpec(20, new[] { 24, 17 }, Bidirectional: false).WithPlacement(LayerNormPlacement.InCell(CellNormalization.TfAddons)))
            .SetArgDisplayNames("cell LayerNorm tf-addons");
    }

    [TestCaseSource(nameof(PackOnceCases))]
    public void PackWeightsOnce_GivesTheSameBits_AndAllocatesNothing(ModelSpec spec)
    {
        Sequential<T> model = Build<T>(spec);
        var everyCall = model.CreateInferencePlan(MaxBatch, MaxTime);
        var once = model.CreateInferencePlan(MaxBatch, MaxTime, packWeightsOnce: true);
        Assert.That(once.PacksWeightsOnce, Is.True);
        Assert.That(everyCall.PacksWeightsOnce, Is.False);
        T[] x = RandomValues<T>(3 * 8 * spec.InputFeatures, 2);
        bool[] mask = RaggedMask(3, 8);
        Assert.That(once.Predict(x, 3, 8).ToArray(), Is.EqualTo(everyCall.Predict(x, 3, 8).ToArray()), "unmasked");
        Assert.That(once.Predict(x, 3, 8, mask).ToArray(), Is.EqualTo(everyCall.Predict(x, 3, 8, mask).ToArray()), "masked");
        T[] first = x.AsSpan(0, 8 * spec.InputFeatures).ToArray();
        Assert.That(once.Predict(first, 1, 8).ToArray(), Is.EqualTo(everyCall.Predict(first, 1, 8).ToArray()), "batch 1");
        void Call() { once.Predict(x, 3, 8, mask); once.RefreshWeights(); }
        for (int k = 0; k < 5; k++) Call();
        Assert.That(AllocatedBytes(100, Call), Is.EqualTo(0));
    }

    [Test]
    public void PackWeightsOnce_KeepsWAndU_UntilRefreshWeights_AndReadsTheRestAtEveryCall()
    {
        var spec = new StackSpec(20, new[] { 24, 17 }, Bidirectional: true).WithPlacement(LayerNormPlacement.AfterEachRecurrent);
        Sequential<T> model = Build<T>(spec);
        var everyCall = model.CreateInferencePlan(MaxBatch, MaxTime);
        var once = model.CreateInferencePlan(MaxBatch, MaxTime, packWeightsOnce: true);
        T[] x = RandomValues<T>(2 * 7 * spec.InputFeatures, 3);
        T[] before = once.Predict(x, 2, 7).ToArray();

        // Change every LSTM weight matrix (both directions, both layers): the default plan sees it, the packed-once one does not.
        foreach (NamedParameter<T> p in model.NamedParameters)
            if (p.Parameter.Name.StartsWith("weight_ih") || p.Parameter.Name.StartsWith("weight_hh"))
                for (int k = 0; k < p.Parameter.Length; k++) p.Parameter.Value[k] *= T.CreateTruncating(1.5);
        T[] expected = TrainingForward(model, x, 2, 7);
        AssertClose<T>(everyCall.Predict(x, 2, 7), expected, "default plan after the change");
        Assert.That(once.Predict(x, 2, 7).ToArray(), Is.EqualTo(before), "packed-once plan keeps the packed W and U");

        once.RefreshWeights();
        Assert.That(once.Predict(x, 2, 7).ToArray(), Is.EqualTo(everyCall.Predict(x, 2, 7).ToArray()), "after RefreshWeights");

        // Biases (and LayerNorm, Dense parameters) are read at every call by both.
        foreach (NamedParameter<T> p in model.NamedParameters)
            if (p.Layer is Bidirectional<T> && p.Parameter.Name.StartsWith("bias"))
                for (int k = 0; k < p.Parameter.Length; k++) p.Parameter.Value[k] += T.CreateTruncating(0.25);
        T[] afterBias = TrainingForward(model, x, 2, 7);
        Assert.That(afterBias, Is.Not.EqualTo(expected), "the bias change matters");
        AssertClose<T>(once.Predict(x, 2, 7), afterBias, "packed-once plan after a bias change");
    }

    [Test]
    public void Predict_RejectsBadShapes_WithClearMessages()
    {
        Sequential<T> model = Build<T>(new StackSpec(3, new[] { 4 }).WithPlacement(LayerNormPlacement.None));
        var plan = model.CreateInferencePlan(2, 5);
        T[] x = new T[2 * 5 * 3];
        var wrongFeatures = Assert.Throws<ArgumentException>(() => plan.Predict(new T[2 * 5 * 4], 2, 5))!;
        Assert.That(wrongFeatures.Message, Does.Contain("F=3").And.Contain("got 40"));
        var batch = Assert.Throws<ArgumentOutOfRangeException>(() => plan.Predict(new T[3 * 5 * 3], 3, 5))!;
        Assert.That(batch.Message, Does.Contain("1..2").And.Contain("got 3"));
        var time = Assert.Throws<ArgumentOutOfRangeException>(() => plan.Predict(new T[2 * 6 * 3], 2, 6))!;
        Assert.That(time.Message, Does.Contain("1..5").And.Contain("got 6"));
        var mask = Assert.Throws<ArgumentException>(() => plan.Predict(x, 2, 5, new bool[9]))!;
        Assert.That(mask.Message, Does.Contain("Mask").And.Contain("got 9"));
        Assert.Throws<ArgumentException>(() => plan.PredictSequence(new T[7]));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateInferencePlan(0, 5));
    }

    [Test]
    public void Predict_WithTheModelRejectingNonFiniteInputs_ThrowsNamingTheValue_AsForwardDoes()
    {
        // The plan used to ignore Sequential.NonFiniteInputs: Reject on the model, a NaN through the plan gave NaN silently.
        Sequential<T> model = Build<T>(new StackSpec(3, new[] { 4 }).WithPlacement(LayerNormPlacement.AfterEachRecurrent));
        var plan = model.CreateInferencePlan(2, 5);
        T[] x = RandomValues<T>(2 * 5 * 3, 1);
        T[] finite = plan.Predict(x, 2, 5).ToArray();
        x[(1 * 5 + 3) * 3 + 2] = T.NaN;
        Assert.That(plan.Predict(x, 2, 5).ToArray().Any(T.IsNaN), Is.True, "Allow (the default) lets it through");
        model.NonFiniteInputs = NonFiniteInputs.Reject;
        var e = Assert.Throws<ArgumentException>(() => plan.Predict(x, 2, 5))!;
        Assert.That(e.ParamName, Is.EqualTo("x"));
        Assert.That(e.Message, Does.Contain("NaN").And.Contain("sequence 1, step 3, feature 2").And.Contain("Sequential.NonFiniteInputs"));
        x[(1 * 5 + 3) * 3 + 2] = T.PositiveInfinity;
        Assert.Throws<ArgumentException>(() => plan.PredictSequence(x.AsSpan(5 * 3, 5 * 3)));
        x[(1 * 5 + 3) * 3 + 2] = RandomValues<T>(2 * 5 * 3, 1)[(1 * 5 + 3) * 3 + 2];
        Assert.That(plan.Predict(x, 2, 5).ToArray(), Is.EqualTo(finite), "finite input after a rejected call");
        Assert.That(AllocatedBytes(100, () => plan.Predict(x, 2, 5)), Is.Zero, "the check allocates nothing");
    }
}
