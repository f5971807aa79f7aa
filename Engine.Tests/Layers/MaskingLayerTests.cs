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
