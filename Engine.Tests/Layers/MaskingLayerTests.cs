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
