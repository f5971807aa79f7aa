using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Tests.TestSupport;
using static NumLstm.Tests.Models.ServingTestSupport;

namespace NumLstm.Tests.Models;

/// <summary>
/// A plan made for one sequence at a time (maxBatch 1) keeps each LSTM's packed Uᵀ in the batch-1 layout
/// (<see cref="GemmPacked.InterleaveForSingleRow{T}"/>): its predictions have the bits of a plan made for a larger batch
/// predicting the same sequence alone, whether it packs at every call or once, after the weights change (and, packed
/// once, are refreshed), and with separate gate norms (whose recurrent product stores instead of adding).
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class SingleRowPlanTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int F = 7, Time = 9;

    private static Sequential<T> Model(CellNormalization? cell = null) => Build<T>(new ModelSpec
    {
        InputFeatures = F, Seed = 21,
        Layers = new[]
        {
            LayerSpec.Bidirectional(LayerSpec.Lstm(40, true, cell: cell)), LayerSpec.LayerNorm(),
            LayerSpec.Bidirectional(LayerSpec.Lstm(100, cell: cell)), LayerSpec.Dense(3),
        },
    });

    private static long[] Bits(ReadOnlySpan<T> values) => TestArrays.Bits(values);

    private static void AssertLayoutAsExpected(InferencePlan<T> plan, bool expected)
    {
        var pair = (BidirectionalInferenceBuffers<T>)plan.Runner.BuffersOf(0)!;
        Assert.That(pair.Forward.SingleRowRecurrent, Is.EqualTo(expected), "forward direction's layout");
        Assert.That(pair.Backward.SingleRowRecurrent, Is.EqualTo(expected), "backward direction's layout");
    }

    [Test]
    public void OneSequencePlan_HasTheBitsOfALargerPlan([Values(false, true)] bool packWeightsOnce, [Values(false, true)] bool separateGateNorms)
    {
        Sequential<T> model = Model(separateGateNorms ? CellNormalization.TfAddons : null);
        var single = model.CreateInferencePlan(1, Time, packWeightsOnce);
        var larger = model.CreateInferencePlan(3, Time, packWeightsOnce);
        AssertLayoutAsExpected(single, GemmPacked.HasSingleRowLayout<T>());
        AssertLayoutAsExpected(larger, false);
        T[] x = RandomValues<T>(Time * F, 5);
        Assert.That(Bits(single.Predict(x, 1, Time)), Is.EqualTo(Bits(larger.Predict(x, 1, Time))), "before the weights change");

        // New weights: a per-call plan packs them at the next call; a packed-once plan after RefreshWeights.
        var random = new Random(9);
        foreach (Parameter<T> parameter in model.Parameters)
            for (int i = 0; i < parameter.Length; i++) parameter.Value[i] += T.CreateTruncating((random.NextDouble() - 0.5) * 0.2);
        if (packWeightsOnce)
        {
            single.RefreshWeights();
            larger.RefreshWeights();
        }
        long[] after = Bits(single.Predict(x, 1, Time));
        Assert.That(after, Is.EqualTo(Bits(larger.Predict(x, 1, Time))), "after the weights change");
        var fresh = model.CreateInferencePlan(1, Time, packWeightsOnce);
        Assert.That(after, Is.EqualTo(Bits(fresh.Predict(x, 1, Time))), "a plan made after the change");
    }

    [Test]
    public void UPastACoresL2_KeepsThePlainLayout()
    {
        // LSTM(300): Uᵀ packed is 300 × 1200 values, past 1 MB in either type; read from L3 the batch-1 layout was slower.
        Sequential<T> model = Build<T>(new ModelSpec { InputFeatures = 3, Seed = 4, Layers = new[] { LayerSpec.Lstm(300), LayerSpec.Dense(1) } });
        var plan = model.CreateInferencePlan(1, 2, packWeightsOnce: true);
        var buffers = (LstmInferenceBuffers<T>)plan.Runner.BuffersOf(0)!;
        Assert.That((long)buffers.PackedRecurrent.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(),
            Is.GreaterThan(LstmInferenceBuffers<T>.SingleRowLayoutMaxBytes));
        Assert.That(buffers.SingleRowRecurrent, Is.False);
        var small = ((BidirectionalInferenceBuffers<T>)Model().CreateInferencePlan(1, 2).Runner.BuffersOf(0)!).Forward;
        Assert.That(small.SingleRowRecurrent, Is.EqualTo(GemmPacked.HasSingleRowLayout<T>()), "a small U keeps the batch-1 layout");
    }
}
