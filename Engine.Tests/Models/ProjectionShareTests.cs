using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Models;

/// <summary>
/// <see cref="ProjectionShare{T}"/>: at batch 1 the core whose direction has been the faster projects the other
/// direction's last steps' input rows. Every prediction has the bits of the directions run one after the other, for
/// every shift either way; the other core's rows are used where it projected them, and the owner projects them itself
/// where it got there first; the shift follows the directions' ends.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class ProjectionShareTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int F = ProjectionShare<float>.MinimumFeatures, Time = 14;

    // W2's shape, small: BiLSTM(sequences) → LN → BiLSTM(last output) → Dense, each Bidirectional with the fewest input
    // features that share (the first layer's units make the second's features).
    private static Sequential<T> Model(CellNormalization? cell = null, int features = F) => Build<T>(new ModelSpec
    {
        InputFeatures = features, Seed = 23,
        Layers = new[]
        {
            LayerSpec.Bidirectional(LayerSpec.Lstm(F / 2, true, cell: cell)), LayerSpec.LayerNorm(),
            LayerSpec.Bidirectional(LayerSpec.Lstm(11, cell: cell)), LayerSpec.Dense(3),
        },
    });

    private static ProjectionShare<T>? ShareOf(InferencePlan<T> plan, int layer) => ((BidirectionalInferenceBuffers<T>)plan.Runner.BuffersOf(layer)!).Share;

    private static void SetParallel(Sequential<T> model, bool parallel)
    {
        foreach (Bidirectional<T> layer in model.Layers.OfType<Bidirectional<T>>()) layer.ParallelDirections = parallel;
    }

    [Test]
    public void BatchOnePlan_IsBitwiseTheSame_ForEveryShift()
    {
        Sequential<T> model = Model();
        T[] x = RandomValues<T>(Time * F, 5);
        SetParallel(model, false);   // the directions one after the other: no sharing
        T[] expected = model.CreateInferencePlan(1, Time, packWeightsOnce: true).Predict(x, 1, Time).ToArray();
        SetParallel(model, true);
        var plan = model.CreateInferencePlan(1, Time, packWeightsOnce: true);
        ProjectionShare<T>[] shares = { ShareOf(plan, 0)!, ShareOf(plan, 2)! };
        Assert.That(shares, Has.All.Not.Null, "a packed-once batch-1 plan shares projections");
        for (int shift = -Time / 2 - 2; shift <= Time / 2 + 2; shift++)   // past half the steps: clamped
        {
            foreach (ProjectionShare<T> share in shares)
            {
                share.Adaptive = false;
                share.Shift = shift;
            }
            for (int call = 0; call < 2; call++)
                Assert.That(plan.Predict(x, 1, Time).ToArray(), Is.EqualTo(expected), $"shift {shift}, call {call}");
        }
        foreach (ProjectionShare<T> share in shares) share.Adaptive = true;
        for (int call = 0; call < 20; call++)
            Assert.That(plan.Predict(x, 1, Time).ToArray(), Is.EqualTo(expected), $"adaptive, call {call}");
    }

    [Test]
    public void OnlyPackedOncePlans_WithoutSeparateGateNorms_AndWithEnoughFeatures_ShareProjections()
    {
        Assert.That(ShareOf(Model().CreateInferencePlan(1, Time, packWeightsOnce: true), 0), Is.Not.Null);
        Assert.That(ShareOf(Model().CreateInferencePlan(1, Time), 0), Is.Null, "a plan packing W at every call packs it inside each direction's part");
        Assert.That(ShareOf(Model(CellNormalization.BaEtAl2016).CreateInferencePlan(1, Time, packWeightsOnce: true), 0), Is.Null,
            "separate gate norms normalize the projection rows where they are made");
        Assert.That(ShareOf(Model(CellNormalization.KerasGates).CreateInferencePlan(1, Time, packWeightsOnce: true), 0), Is.Not.Null);
        var narrow = Model(features: F - 1).CreateInferencePlan(1, Time, packWeightsOnce: true);
        Assert.That(ShareOf(narrow, 0), Is.Null, $"{F - 1} input features: a row is not worth moving between the cores");
        Assert.That(ShareOf(narrow, 2), Is.Not.Null, $"the second layer reads the first's {F} outputs");
    }

    // The test thread plays the other core: it projects the late rows before the owner runs (the owner must use them and
    // not project them again), or after the owner took them itself (it must leave them). The projection starts as NaN,
    // so a row nobody projected shows in the output.
    [TestCase(0, 4)]
    [TestCase(1, -4)]
    [TestCase(0, 1)]
    [TestCase(1, -7)]
    public void LateRows_AreProjectedOnce_ByWhicheverCoreGetsThereFirst(int side, int shift)
    {
        Sequential<T> model = Model();
        var plan = model.CreateInferencePlan(1, Time, packWeightsOnce: true);
        var layer = (Bidirectional<T>)model.Layers[0];
        var pair = (BidirectionalInferenceBuffers<T>)plan.Runner.BuffersOf(0)!;
        ProjectionShare<T> share = pair.Share!;
        Lstm<T> direction = side == 0 ? layer.Forwards : layer.Backwards;
        LstmInferenceBuffers<T> buffers = side == 0 ? pair.Forward : pair.Backward;
        T[] x = RandomValues<T>(Time * F, 9);
        int h = layer.Units;
        T[] expected = new T[Time * h];
        direction.InferenceForward(x, 1, Time, default, buffers, expected, allSteps: true, inputOrder: true, resetState: true);
        T[] expectedH = buffers.CurrentHidden.AsSpan(0, h).ToArray(), expectedC = buffers.Cell.AsSpan(0, h).ToArray();
        share.Adaptive = false;

        foreach (bool otherCoreFirst in new[] { true, false })
        {
            share.Shift = shift;
            share.Begin(Time);
            Assert.That(share.LateSteps(side), Is.EqualTo(Math.Abs(shift)));
            Assert.That(share.LateSteps(1 - side), Is.Zero);
            buffers.Projection.AsSpan().Fill(T.NaN);
            long sharesBefore = share.Shares;
            if (otherCoreFirst) share.HelpOther(1 - side, x, Time);
            T[] actual = new T[Time * h];
            direction.InferenceForward(x, 1, Time, default, buffers, actual, allSteps: true, inputOrder: true, resetState: true, side: side, share: share);
            if (!otherCoreFirst) share.HelpOther(1 - side, x, Time);   // too late: the owner took its rows
            Assert.That(actual, Is.EqualTo(expected), $"other core first: {otherCoreFirst}");
            Assert.That(buffers.CurrentHidden.AsSpan(0, h).ToArray(), Is.EqualTo(expectedH));
            Assert.That(buffers.Cell.AsSpan(0, h).ToArray(), Is.EqualTo(expectedC));
            Assert.That(share.Shares - sharesBefore, Is.EqualTo(otherCoreFirst ? 1 : 0));
        }
    }

    [Test]
    public void OwnRows_AndLateRows_CoverEveryRowOnce_InEachDirectionsStepOrder()
    {
        var plan = Model().CreateInferencePlan(1, Time, packWeightsOnce: true);
        ProjectionShare<T> share = ShareOf(plan, 0)!;
        share.Adaptive = false;
        share.Shift = 5;
        share.Begin(Time);
        Assert.That(share.OwnRows(0, Time), Is.EqualTo((0, Time - 5)), "forwards: its last steps read the last rows");
        Assert.That(share.OwnRows(1, Time), Is.EqualTo((0, Time)));
        share.Shift = -3;
        share.Begin(Time);
        Assert.That(share.OwnRows(1, Time), Is.EqualTo((3, Time)), "backwards: its last steps read the first rows");
        Assert.That(share.OwnRows(0, Time), Is.EqualTo((0, Time)));
    }

    [Test]
    public void Shift_FollowsTheDirectionsEnds_WhenBothCoresRan()
    {
        var plan = Model().CreateInferencePlan(1, 50, packWeightsOnce: true);
        ProjectionShare<T> share = ShareOf(plan, 0)!;

        void Call(long forwardEnd, long backwardEnd, int forwardThread = 1, int backwardThread = 2)
        {
            share.Begin(50);
            share.OwnProjected(0, 1000, 50);   // 20 ticks a row on each side
            share.OwnProjected(1, 1000, 50);
            share.Record(0, forwardEnd, forwardThread);
            share.Record(1, backwardEnd, backwardThread);
            share.End(50);
        }

        Call(10_800, 10_000);   // the forward direction ended 40 rows' worth later: a quarter of half of that moves
        Assert.That(share.Shift, Is.Zero, $"5 steps: fewer than {ProjectionShare<T>.MinimumSteps}, not worth reading the other W");
        Call(10_800, 10_000);
        Assert.That(share.Shift, Is.EqualTo(10));
        Call(10_000, 10_000);
        Assert.That(share.Shift, Is.EqualTo(10), "level: stays");
        Call(10_000, 10_000 + 1_280);   // the backward direction later by 64 rows' worth
        Assert.That(share.Shift, Is.Zero, "2 steps: not shared");
        Call(10_000, 10_000 + 1_600);
        Assert.That(share.Shift, Is.EqualTo(-8));
        for (int call = 0; call < 40; call++) Call(10_000, 30_000);
        Assert.That(share.Shift, Is.EqualTo(-25), "at most half the steps");
        Call(20_000, 10_000, forwardThread: 3, backwardThread: 3);
        Assert.That(share.Shift, Is.EqualTo(-25), "both directions on one thread (the worker was busy): nothing learned");
        share.Adaptive = false;
        Call(20_000, 10_000);
        Assert.That(share.Shift, Is.EqualTo(-25), "not adaptive");
    }
}
