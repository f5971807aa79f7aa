using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Models;

/// <summary>
/// The long-lived buffers the products stream packed weights from start on a 64-byte boundary (AlignedArrays: a 512-bit
/// load from anywhere else touches two cache lines): a packWeightsOnce session's and plan's, a Bidirectional plan's
/// two directions', and the training cache's packed U. The shape is the W3 cell (LSTM 32→128), wide enough for the
/// two-core layouts (per-half packed U, head start) to be allocated too.
/// </summary>
public unsafe class PackedWeightAlignmentTests
{
    private const int F = 32, H = 128;

    private static Sequential<float> Model(bool bidirectional = false) => Build<float>(new ModelSpec
    {
        InputFeatures = F, Seed = 5,
        Layers = new[] { bidirectional ? LayerSpec.Bidirectional(LayerSpec.Lstm(H, true)) : LayerSpec.Lstm(H, true), LayerSpec.Dense(3) },
    });

    private static long AddressOf(float[] array) => (long)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));

    private static void AssertAligned(string name, float[] buffer)
    {
        if (buffer.Length > 0) Assert.That(AddressOf(buffer) % 64, Is.Zero, name);
    }

    private static void AssertPackedBuffersAligned(LstmInferenceBuffers<float> buffers, string owner)
    {
        AssertAligned($"{owner}: PackedInput", buffers.PackedInput);
        AssertAligned($"{owner}: PackedRecurrent", buffers.PackedRecurrent);
        AssertAligned($"{owner}: PackedRecurrentHalves", buffers.PackedRecurrentHalves);
        AssertAligned($"{owner}: HalfProducts", buffers.HalfProducts);
        AssertAligned($"{owner}: StepWeights", buffers.StepWeights);
        AssertAligned($"{owner}: HeadStartProducts", buffers.HeadStartProducts);
    }

    [Test]
    public void PackWeightsOnceSession_StepWeights_StartOnA64ByteBoundary()
    {
        var session = Model().CreateSession(packWeightsOnce: true);
        var buffers = (LstmInferenceBuffers<float>)session.Runner.BuffersOf(0)!;
        Assert.That(buffers.StepWeights, Is.Not.Empty, "a packWeightsOnce session keeps W and U packed");
        AssertPackedBuffersAligned(buffers, "session");
    }

    [Test]
    public void PackWeightsOncePlan_PackedWeights_StartOnA64ByteBoundary()
    {
        var plan = Model().CreateInferencePlan(4, 8, packWeightsOnce: true);
        var buffers = (LstmInferenceBuffers<float>)plan.Runner.BuffersOf(0)!;
        Assert.That(buffers.PackedInput, Is.Not.Empty, "a plan packs W");
        Assert.That(buffers.PackedRecurrent, Is.Not.Empty, "a plan packs U");
        AssertPackedBuffersAligned(buffers, "plan");
    }

    [Test]
    public void BidirectionalPlan_BothDirections_StartOnA64ByteBoundary()
    {
        var plan = Model(bidirectional: true).CreateInferencePlan(4, 8, packWeightsOnce: true);
        var pair = (BidirectionalInferenceBuffers<float>)plan.Runner.BuffersOf(0)!;
        AssertPackedBuffersAligned(pair.Forward, "forward direction");
        AssertPackedBuffersAligned(pair.Backward, "backward direction");
    }

    [Test]
    public void TrainingCache_PackedU_StartsOnA64ByteBoundary()
    {
        Sequential<float> model = Model();
        ModelCache<float> cache = model.CreateCache();
        float[] x = RandomValues<float>(2 * 5 * F, 3);
        model.Forward(new SequenceBatch<float>(x, 2, 5, default), cache, new ForwardContext(training: true, new Random(1)));
        var lstmCache = (LstmCache<float>)cache.LayerCaches[0];
        Assert.That(lstmCache.PackedWeights, Is.Not.Empty);
        AssertAligned("training cache: PackedWeights", lstmCache.PackedWeights);
    }

    // A step split over two cores has each core write its own columns of these (z's gate blocks, c, h_t, tanh(c)); on
    // 64-byte boundaries the halves of the W3 cell (split at unit 64) share no cache line.
    [Test]
    public void TwoCoreStepState_StartsOnA64ByteBoundary()
    {
        var session = Model().CreateSession(packWeightsOnce: true);
        var buffers = (LstmInferenceBuffers<float>)session.Runner.BuffersOf(0)!;
        Assert.That(buffers.HiddenNext, Is.Not.Empty, "a session's two-core steps swap two h buffers");
        Assert.That(buffers.Projection.Length, Is.LessThanOrEqualTo(LstmInferenceBuffers<float>.AlignedProjectionLimit), "a session's projection is small");
        AssertAligned("session: Projection", buffers.Projection);
        AssertAligned("session: Hidden", buffers.Hidden);
        AssertAligned("session: HiddenNext", buffers.HiddenNext);
        AssertAligned("session: Cell", buffers.Cell);
        AssertAligned("session: TanhCell", buffers.TanhCell);

        var plan = Model().CreateInferencePlan(2, 8, packWeightsOnce: true);
        var planBuffers = (LstmInferenceBuffers<float>)plan.Runner.BuffersOf(0)!;
        AssertAligned("small plan: Projection", planBuffers.Projection);
        AssertAligned("small plan: Cell", planBuffers.Cell);
    }

    [Test]
    public void LargeProjection_StaysAPlainArray_AndTheStateIsStillAligned()
    {
        // 64 rows × 50 steps × 4·128 gates: past the limit, so it stays off the pinned heap; the plan still runs.
        var plan = Model().CreateInferencePlan(64, 50, packWeightsOnce: true);
        var buffers = (LstmInferenceBuffers<float>)plan.Runner.BuffersOf(0)!;
        Assert.That(buffers.Projection.Length, Is.GreaterThan(LstmInferenceBuffers<float>.AlignedProjectionLimit));
        AssertAligned("large plan: Cell", buffers.Cell);
        AssertAligned("large plan: Hidden", buffers.Hidden);
        float[] x = RandomValues<float>(64 * 50 * F, 4);
        ReadOnlySpan<float> y = plan.Predict(x, 64, 50);
        Assert.That(y.Length, Is.EqualTo(64 * 50 * 3), "every step's output (the LSTM returns sequences)");
        foreach (float v in y) Assert.That(float.IsFinite(v), Is.True);
    }
}
