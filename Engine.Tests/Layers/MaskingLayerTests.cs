using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// The Masking layer (Keras 3 keras/src/layers/core/masking.py): a step is masked when all its values equal mask_value
/// (any(x != v, axis=-1) is false), its output is x·0 and the layers after it skip it; the mask replaces the one received.
/// </summary>
public class MaskingLayerTests
{
    [Test]
    public void ModelWithMasking_EqualsTheSameModelGivenTheMaskAndZeroedSteps()
    {
        const int b = 3, t = 5, f = 4;
        ModelSpec withMasking = ModelBuilder.Input(f).Masking(0.0).Lstm(6, returnSequences: true).Lstm(3).Dense(2).ToSpec(seed: 9);
        ModelSpec without = ModelBuilder.Input(f).Lstm(6, returnSequences: true).Lstm(3).Dense(2).ToSpec(seed: 9);
        Sequential<double> a = withMasking.Build<double>(), c = without.Build<double>();
        new ModelFileCopy().Copy(a, c);
        double[] x = GradientChecks.GradientChecker.RandomValues(b * t * f, 5);
        bool[] mask = new bool[b * t];
        for (int r = 0; r < b * t; r++) mask[r] = true;
        // row 0: last two steps padded; row 1: a hole at step 1; row 2: all padded.
        foreach ((int bi, int ti) in new[] { (0, 3), (0, 4), (1, 1), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4) })
        {
            mask[bi * t + ti] = false;
            x.AsSpan((bi * t + ti) * f, f).Clear();
        }
        x[(1 * t + 2) * f + 1] = 0;   // one zero value in a kept step keeps it
        double[] ya = a.Forward(new SequenceBatch<double>(x, b, t, default), a.CreateCache(), ForwardContext.Inference).ToArray();
        double[] yc = c.Forward(new SequenceBatch<double>(x, b, t, mask), c.CreateCache(), ForwardContext.Inference).ToArray();
        Assert.That(ya, Is.EqualTo(yc));
    }

    private static (Masking<T> Layer, MaskingCache Cache, T[] Y) Run<T>(double maskValue, T[] x, int batch, int time, int features, bool[]? incoming = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var layer = new Masking<T>(maskValue);
        layer.Build(LayerShape.Sequence(features), new Random(1));
        var cache = (MaskingCache)layer.CreateCache();
        var y = new T[x.Length];
        layer.Forward(new SequenceBatch<T>(x, batch, time, incoming), y, cache, ForwardContext.Inference);
        return (layer, cache, y);
    }

    [Test]
    public void AStepIsMasked_OnlyWhenEveryValueEqualsTheMaskValue_AndItsOutputIsZero()
    {
        double[] x =
        {
            0, 0, 0,          // all mask value: masked
            0, 0, 1e-300,     // one value differs (by the least): kept
            -0.0, 0, -0.0,    // −0 == 0 (Keras' not_equal): masked
            double.NaN, 0, 0, // NaN != 0: kept, NaN passed on
            5, -2, 0.25,      // kept
        };
        var (layer, cache, y) = Run(0.0, x, 1, 5, 3);
        Assert.That(layer.OutputMask(cache).ToArray(), Is.EqualTo(new[] { false, true, false, true, true }));
        for (int k = 3; k < 6; k++) Assert.That(BitConverter.DoubleToInt64Bits(y[k]), Is.EqualTo(BitConverter.DoubleToInt64Bits(x[k])), $"kept value {k} bit for bit");
        Assert.That(double.IsNaN(y[9]), Is.True);
        Assert.That(y.AsSpan(12, 3).ToArray(), Is.EqualTo(new[] { 5, -2, 0.25 }));
        Assert.That(y.AsSpan(0, 3).ToArray(), Is.All.EqualTo(0.0));
        Assert.That(y.AsSpan(6, 3).ToArray(), Is.All.EqualTo(0.0));
    }

    [Test]
    public void AMaskedStepOutputs_XTimesZero_TheSignOfTheMaskValue_AsKerasProduct()
    {
        double[] x = { -1, -1, 3, -1 };
        var (layer, cache, y) = Run(-1.0, x, 2, 1, 2);
        Assert.That(layer.OutputMask(cache).ToArray(), Is.EqualTo(new[] { false, true }));
        Assert.That(double.IsNegative(y[0]) && y[0] == 0 && double.IsNegative(y[1]) && y[1] == 0, Is.True, "(−1)·0 = −0, as Keras' x·cast(mask)");
        Assert.That(y[2..], Is.EqualTo(new[] { 3.0, -1.0 }));
    }

    [Test]
    public void TheMaskValue_IsComparedInTheElementType_AsKerasComparesInTheInputsDtype()
    {
        // 0.1 rounds to 0.1f in float: a float step of 0.1f values is masked. In double, 0.1f is not 0.1: kept.
        float[] xf = { 0.1f, 0.1f };
        var (lf, cf, _) = Run(0.1, xf, 1, 1, 2);
        Assert.That(lf.OutputMask(cf).ToArray()[0], Is.False);
        double[] xd = { 0.1f, 0.1f };
        var (ld, cd, _) = Run(0.1, xd, 1, 1, 2);
        Assert.That(ld.OutputMask(cd).ToArray()[0], Is.True);
        double[] exact = { 0.1, 0.1 };
        var (le, ce, _) = Run(0.1, exact, 1, 1, 2);
        Assert.That(le.OutputMask(ce).ToArray()[0], Is.False);
    }

    [Test]
    public void TheIncomingMask_IsReplaced_NotCombined_AsKerasComputeMaskIgnoresIt()
    {
        double[] x = { 1, 2, 0, 0, 3, 4 };
        bool[] incoming = { false, true, true };   // step 0 masked by the caller, step 1 padded, step 2 real
        var (layer, cache, y) = Run(0.0, x, 1, 3, 2, incoming);
        Assert.That(layer.OutputMask(cache).ToArray(), Is.EqualTo(new[] { true, false, true }));
        Assert.That(y, Is.EqualTo(new double[] { 1, 2, 0, 0, 3, 4 }));
    }

    [Test]
    public void ASmallerBatchAfterALargerOne_ReusesTheCache_WithItsOwnMaskAndGradients()
    {
        var layer = new Masking<double>();
        layer.Build(LayerShape.Sequence(1), new Random(1));
        var cache = layer.CreateCache();
        layer.Forward(new SequenceBatch<double>(new double[] { 1, 2, 3, 4, 5, 6 }, 2, 3, default), new double[6], cache, ForwardContext.Inference);
        Assert.That(layer.OutputMask(cache).ToArray(), Is.All.True);
        double[] y = new double[3];
        layer.Forward(new SequenceBatch<double>(new double[] { 0, 7, 0 }, 1, 3, default), y, cache, ForwardContext.Inference);
        Assert.That(layer.OutputMask(cache).ToArray(), Is.EqualTo(new[] { false, true, false }));
        double[] dx = new double[3];
        layer.Backward(new double[] { 1, 2, 3 }, cache, dx);
        Assert.That(dx, Is.EqualTo(new double[] { 0, 2, 0 }));
        Assert.Throws<ArgumentException>(() => layer.Backward(new double[6], cache, new double[6]), "the gradient of the larger batch is refused");
    }

    [Test]
    public void Backward_AddsDyAtKeptSteps_AndDyTimesZeroAtMaskedOnes()
    {
        double[] x = { 0, 0, 7, 0, 0, 0 };
        var (layer, cache, _) = Run(0.0, x, 1, 3, 2);
        double[] dy = { 10, 20, 30, 40, double.PositiveInfinity, 60 };
        double[] dx = { 1, 1, 1, 1, 1, 1 };
        layer.Backward(dy, cache, dx);
        Assert.That(dx[..4], Is.EqualTo(new double[] { 1, 1, 31, 41 }));
        // ∞·0 = NaN: the gradient of x·cast(m) (Keras' autodiff gives the same); finite dy leaves dx as it was.
        Assert.That(double.IsNaN(dx[4]), Is.True);
        Assert.That(dx[5], Is.EqualTo(1.0));
        Assert.DoesNotThrow(() => layer.Backward(dy, cache, default), "an empty input gradient is skipped");
        Assert.Throws<ArgumentException>(() => layer.Backward(dy.AsSpan(1).ToArray(), cache, dx));
    }

    [Test]
    public void Refuses_AVectorInput_NonFiniteMaskValues_AndAnotherLayersCache()
    {
        var layer = new Masking<float>();
        var e = Assert.Throws<ArgumentException>(() => layer.Build(LayerShape.Vector(4), new Random(1)));
        Assert.That(e!.Message, Does.Contain("sequence input").And.Contain("(4)"));
        foreach (double bad in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
        {
            var range = Assert.Throws<ArgumentOutOfRangeException>(() => new Masking<float>(bad));
            Assert.That(range!.ParamName, Is.EqualTo("maskValue"));
        }
        // Finite in double but not in float (a float model compares in float, where 1e300 is +∞): refused for either
        // type, as a spec builds for both; float's largest value is taken.
        foreach (double overflow in new[] { 1e300, -3.5e38 })
        {
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Masking<float>(overflow))!.Message, Does.Contain("also when rounded to float"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Masking<double>(overflow))!.ParamName, Is.EqualTo("maskValue"));
        }
        Assert.That(new Masking<float>(float.MaxValue).MaskValue, Is.EqualTo(float.MaxValue));
        // Nonzero but 0 in float: the float build would mask all-zero steps the double build keeps. Refused; float's
        // smallest subnormal is taken, and −0 is stored as +0 (they mask the same steps; a spec leaves 0 out).
        foreach (double vanishes in new[] { 1e-46, -1e-320 })
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Masking<double>(vanishes))!.Message, Does.Contain("nonzero there unless 0"));
        Assert.That(new Masking<float>(float.Epsilon).MaskValue, Is.EqualTo((double)float.Epsilon));
        Assert.That(double.IsNegative(new Masking<float>(-0.0).MaskValue), Is.False);
        Assert.That(double.IsNegative(NumLstm.Models.LayerSpec.Masking(-0.0).MaskValue), Is.False);
        var a = new Masking<double>(name: "a");
        var b = new Masking<double>(name: "b");
        a.Build(LayerShape.Sequence(2), new Random(1));
        b.Build(LayerShape.Sequence(2), new Random(1));
        var cache = a.CreateCache();
        a.Forward(new SequenceBatch<double>(new double[4], 1, 2, default), new double[4], cache, ForwardContext.Inference);
        var other = Assert.Throws<ArgumentException>(() => b.Backward(new double[4], cache, new double[4]));
        Assert.That(other!.Message, Does.Contain("filled by layer 'a'"));
        Assert.That(a.Parameters, Is.Empty);
    }

    // The float32 training path (what Trainer runs: Sequential.Forward in training, with dropout and recurrent dropout
    // drawn from the pass's Random, then Sequential.Backward): Masking(v) → LayerNorm → LSTM → LSTM → Dense on input
    // padded with v gives, bit for bit, the outputs, every parameter gradient and the kept steps' input gradient of the
    // same model without the Masking given the equivalent mask and the padded steps zeroed; the input gradient at the
    // masked steps is exactly 0 in both (Masking's dy·0; the LayerNorm's dx where the LSTM after it passes dy = 0).
    [TestCase(0.0)]
    [TestCase(-1.0)]
    public void Float_TrainingForwardAndBackward_WithMasking_GivesTheGradientsOfTheExplicitMask_Bitwise(double maskValue)
    {
        const int b = 5, t = 6, f = 4;
        ModelSpec withMasking = ModelBuilder.Input(f).Masking(maskValue).LayerNorm().Lstm(5, returnSequences: true, dropout: 0.3, recurrentDropout: 0.3).Lstm(3, dropout: 0.2).Dense(2).ToSpec(seed: 9);
        ModelSpec without = ModelBuilder.Input(f).LayerNorm().Lstm(5, returnSequences: true, dropout: 0.3, recurrentDropout: 0.3).Lstm(3, dropout: 0.2).Dense(2).ToSpec(seed: 9);
        Sequential<float> a = withMasking.Build<float>(), c = without.Build<float>();
        Assert.That(a.Layers[0], Is.InstanceOf<Masking<float>>());
        var copy = a.Parameters.Zip(c.Parameters).ToList();
        Assert.That(copy, Has.Count.EqualTo(c.Parameters.Count()));
        foreach ((Parameter<float> from, Parameter<float> to) in copy) from.Value.AsSpan().CopyTo(to.Value);

        var random = new Random(17);
        float[] xa = new float[b * t * f];
        for (int k = 0; k < xa.Length; k++) xa[k] = (float)(random.NextDouble() * 2 - 1);
        float[] xc = (float[])xa.Clone();
        bool[] mask = Enumerable.Repeat(true, b * t).ToArray();
        // row 0: last two steps padded; row 1: holes at steps 1 and 3; row 2: all padded; rows 3 and 4: none.
        foreach ((int bi, int ti) in new[] { (0, 4), (0, 5), (1, 1), (1, 3), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4), (2, 5) })
        {
            mask[bi * t + ti] = false;
            xa.AsSpan((bi * t + ti) * f, f).Fill((float)maskValue);
            xc.AsSpan((bi * t + ti) * f, f).Clear();
        }
        // Kept steps holding the mask value at some (not all) values; the same values in the other model's input.
        foreach ((int bi, int ti, int j) in new[] { (1, 2, 0), (1, 2, 3), (3, 0, 1), (4, 5, 2) }) xa[(bi * t + ti) * f + j] = xc[(bi * t + ti) * f + j] = (float)maskValue;

        float[] probe = GradientChecks.GradientChecker.ProbeWeights(a.OutputLength(b, t), 5).Select(v => (float)v).ToArray();
        (float[] Output, float[] InputGradient, float[][] ParameterGradients, ModelCache<float> Cache) Pass(Sequential<float> model, float[] x, bool[] callerMask)
        {
            ModelCache<float> cache = model.CreateCache();
            model.ZeroGradients();
            float[] y = model.Forward(new SequenceBatch<float>(x, b, t, callerMask), cache, new ForwardContext(true, new Random(11))).ToArray();
            var dx = new float[x.Length];
            model.Backward(probe, cache, dx);
            return (y, dx, model.Parameters.Select(p => p.Gradient.ToArray()).ToArray(), cache);
        }
        // The Masking model gets no mask (its own replaces any); the other the equivalent mask.
        var (ya, dxa, dpa, cacheA) = Pass(a, xa, Array.Empty<bool>());
        var (yc, dxc, dpc, _) = Pass(c, xc, mask);
        Assert.That(((Masking<float>)a.Layers[0]).OutputMask(cacheA.LayerCaches[0]).ToArray(), Is.EqualTo(mask), "the Masking's mask is the explicit one");
        static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
        Assert.That(Bits(ya), Is.EqualTo(Bits(yc)), "outputs");
        for (int p = 0; p < dpa.Length; p++) Assert.That(Bits(dpa[p]), Is.EqualTo(Bits(dpc[p])), $"gradient of {a.NamedParameters[p].Name}");
        Assert.That(dpa.SelectMany(g => g), Has.Some.Not.EqualTo(0f));
        for (int r = 0; r < b * t; r++)
        {
            float[] ga = dxa.AsSpan(r * f, f).ToArray(), gc = dxc.AsSpan(r * f, f).ToArray();
            if (mask[r]) Assert.That(Bits(ga), Is.EqualTo(Bits(gc)), $"input gradient at kept step {r}");
            else
            {
                Assert.That(ga, Is.All.EqualTo(0f), $"input gradient at masked step {r}, with Masking");
                Assert.That(gc, Is.All.EqualTo(0f), $"input gradient at masked step {r}, with the mask");
            }
        }
        Assert.That(dxa, Has.Some.Not.EqualTo(0f));
    }

    private sealed class ModelFileCopy
    {
        public void Copy(Sequential<double> from, Sequential<double> to)
        {
            var target = to.Parameters.ToList();
            var source = from.Parameters.ToList();
            Assert.That(source.Count, Is.EqualTo(target.Count));
            for (int k = 0; k < source.Count; k++) source[k].Value.AsSpan().CopyTo(target[k].Value);
        }
    }
}
