using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Models;

/// <summary>
/// Plan steps at small batch with their hidden units split over two cores (Lstm.ColumnSplit.cs, packed form): the same
/// bits as the one-product step, close to the training forward, with masks, goBackwards, both output modes, H past one
/// KC block (264), packWeightsOnce and RefreshWeights, no allocation. Float only: the split is a float path.
/// </summary>
public class PlanColumnSplitTests
{
    private const int MaxBatch = 4, MaxTime = 6;

    private static ModelSpec Spec(params LayerSpec[] layers) => new() { InputFeatures = 10, Seed = 3, Layers = layers };

    public static IEnumerable<TestCaseData> Models()
    {
        yield return new TestCaseData(Spec(LayerSpec.Lstm(200, true), LayerSpec.Lstm(264, goBackwards: true), LayerSpec.Dense(3)))
            .SetArgDisplayNames("lstm 200 sequences, lstm 264 goBackwards last");
        yield return new TestCaseData(Spec(LayerSpec.Lstm(104, true, goBackwards: true), LayerSpec.Dense(2)))
            .SetArgDisplayNames("lstm 104 goBackwards sequences (splits from batch 4)");
    }

    private static IEnumerable<Lstm<float>> Lstms(Sequential<float> model) => model.Layers.OfType<Lstm<float>>()
        .Concat(model.Layers.OfType<Bidirectional<float>>().SelectMany(b => new[] { b.Forwards, b.Backwards }));

    private static void SetSplit(Sequential<float> model, bool split)
    {
        foreach (Lstm<float> lstm in Lstms(model)) lstm.StepColumnSplit = split;
    }

    [TestCaseSource(nameof(Models))]
    public void SplitSteps_GiveTheSameBits_AsOneProductSteps(ModelSpec spec)
    {
        Sequential<float> model = Build<float>(spec);
        Assume.That(PairedWork.HasSecondCore, "needs a second core");
        foreach (bool once in new[] { false, true })
        {
            var plan = model.CreateInferencePlan(MaxBatch, MaxTime, packWeightsOnce: once);
            foreach (int batch in new[] { 1, 2, 4 })
            {
                float[] x = RandomValues<float>(batch * MaxTime * spec.InputFeatures, batch);
                bool[] mask = RaggedMask(batch, MaxTime);
                SetSplit(model, false);
                float[] whole = plan.Predict(x, batch, MaxTime).ToArray(), wholeMasked = plan.Predict(x, batch, MaxTime, mask).ToArray();
                SetSplit(model, true);
                Assert.That(plan.Predict(x, batch, MaxTime).ToArray(), Is.EqualTo(whole), $"B={batch}, packWeightsOnce={once}");
                Assert.That(plan.Predict(x, batch, MaxTime, mask).ToArray(), Is.EqualTo(wholeMasked), $"B={batch} masked, packWeightsOnce={once}");
                AssertClose<float>(whole, TrainingForward(model, x, batch, MaxTime), $"B={batch} against the training forward");
            }
        }
    }

    [Test]
    public void EachRow_HasTheSameBits_AtEveryBatch_SplitStepsAndSplitProductsIncluded()
    {
        // Batch 1 takes the two-core split steps; batch 16 takes one product per step, split in column halves over the
        // two cores (16·800·200 multiply-adds); batch 3 one product on one core. A row's result is the same in all three.
        Sequential<float> model = Build<float>(Spec(LayerSpec.Lstm(200, true), LayerSpec.Lstm(120), LayerSpec.Dense(2)));
        var plan = model.CreateInferencePlan(16, MaxTime);
        float[] x = RandomValues<float>(16 * MaxTime * 10, 5);
        float[] all = plan.Predict(x, 16, MaxTime).ToArray();
        float[] three = plan.Predict(x.AsSpan(0, 3 * MaxTime * 10).ToArray(), 3, MaxTime).ToArray();
        Assert.That(three, Is.EqualTo(all.AsSpan(0, 3 * 2).ToArray()), "batch 3 against the first rows of batch 16");
        for (int b = 0; b < 16; b += 5)
        {
            float[] row = plan.Predict(x.AsSpan(b * MaxTime * 10, MaxTime * 10).ToArray(), 1, MaxTime).ToArray();
            Assert.That(row, Is.EqualTo(all.AsSpan(b * 2, 2).ToArray()), $"row {b} alone");
        }
        AssertClose<float>(all, TrainingForward(model, x, 16, MaxTime), "against the training forward");
    }

    [Test]
    public void TheSplit_IsTaken_ForWideCellsAtSmallBatch_AndNotOtherwise()
    {
        Sequential<float> model = Build<float>(Spec(LayerSpec.Lstm(200, true), LayerSpec.Lstm(104, true), LayerSpec.Lstm(64)));
        var wide = (Lstm<float>)model.Layers[0];
        var narrow = (Lstm<float>)model.Layers[1];
        var small = (Lstm<float>)model.Layers[2];
        var wideBuffers = wide.CreateInferenceBuffers(8, 5, packed: true);
        var narrowBuffers = narrow.CreateInferenceBuffers(8, 5, packed: true);
        Assert.That(small.MaySplitPackedColumns, Is.False, "H = 64 never splits (4·4H² below the threshold)");
        Assert.That(small.CreateInferenceBuffers(8, 5, packed: true).PackedRecurrentHalves, Is.Empty, "no halves kept for it");
        Assume.That(PairedWork.HasSecondCore && FastMath.IsSupported && GemmPacked.HasPackedLayout<float>(),
            "needs a second core, the float gate kernels and a vector width for the products (NUMLSTM_VECTOR_BITS=0 has none)");
        Assert.That(wide.CanSplitPackedColumns(1, wideBuffers), Is.True, "H = 200 at batch 1");
        Assert.That(wide.CanSplitPackedColumns(Lstm<float>.PackedColumnSplitMaxBatch + 1, wideBuffers), Is.False, "past the batch limit");
        Assert.That(narrow.CanSplitPackedColumns(1, narrowBuffers), Is.False, "H = 104 at batch 1: below the threshold");
        Assert.That(narrow.CanSplitPackedColumns(4, narrowBuffers), Is.True, "H = 104 at batch 4");
        wideBuffers.AllowColumnSplit = false;
        Assert.That(wide.CanSplitPackedColumns(1, wideBuffers), Is.False, "not while a Bidirectional runs its directions side by side");
        Assert.That(Lstm<double>.PackedSplitPoint(200), Is.EqualTo(104), "the calling thread takes the larger half");
        Assert.That(Lstm<double>.PackedSplitPoint(264), Is.EqualTo(136));
    }

    [Test]
    public void BidirectionalWithDirectionsInTurn_SplitsEachDirection_WithTheSameBits()
    {
        // Side by side (the default) each direction has one core; with ParallelDirections off each direction's steps
        // split over both. Either way the same bits.
        Sequential<float> model = Build<float>(Spec(LayerSpec.Bidirectional(LayerSpec.Lstm(200, true)), LayerSpec.Dense(2)));
        var bidirectional = (Bidirectional<float>)model.Layers[0];
        var plan = model.CreateInferencePlan(MaxBatch, MaxTime);
        float[] x = RandomValues<float>(MaxTime * 10, 9);
        float[] sideBySide = plan.Predict(x, 1, MaxTime).ToArray();
        bidirectional.ParallelDirections = false;
        Assert.That(plan.Predict(x, 1, MaxTime).ToArray(), Is.EqualTo(sideBySide));
        SetSplit(model, false);
        Assert.That(plan.Predict(x, 1, MaxTime).ToArray(), Is.EqualTo(sideBySide), "in turn, not split");
    }

    [Test]
    public void SplitSteps_SeeRefreshWeights_AndAllocateNothing()
    {
        Sequential<float> model = Build<float>(Spec(LayerSpec.Lstm(200, true), LayerSpec.Dense(2)));
        var everyCall = model.CreateInferencePlan(MaxBatch, MaxTime);
        var once = model.CreateInferencePlan(MaxBatch, MaxTime, packWeightsOnce: true);
        float[] x = RandomValues<float>(MaxTime * 10, 4);
        float[] before = once.Predict(x, 1, MaxTime).ToArray();
        var lstm = (Lstm<float>)model.Layers[0];
        for (int k = 0; k < lstm.WeightHh.Length; k++) lstm.WeightHh.Value[k] *= 1.5f;
        Assert.That(once.Predict(x, 1, MaxTime).ToArray(), Is.EqualTo(before), "the packed halves are kept until RefreshWeights");
        AssertClose<float>(everyCall.Predict(x, 1, MaxTime), TrainingForward(model, x, 1, MaxTime), "the default plan packs them at every call");
        once.RefreshWeights();
        Assert.That(once.Predict(x, 1, MaxTime).ToArray(), Is.EqualTo(everyCall.Predict(x, 1, MaxTime).ToArray()), "after RefreshWeights");

        void Call() { everyCall.Predict(x, 1, MaxTime); once.Predict(x, 1, MaxTime); once.RefreshWeights(); }
        for (int k = 0; k < 5; k++) Call();
        Assert.That(AllocatedBytes(100, Call), Is.EqualTo(0));
    }
}
