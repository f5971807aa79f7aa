using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// The Dropout layer (Keras 3 keras/src/layers/regularization/dropout.py, backend random.dropout): in training each value
/// is zeroed with probability rate and the kept ones scaled by 1/(1 − rate); at inference, and at rate 0, the identity;
/// the mask passes through; the masks are a function of the training pass's Random.
/// </summary>
public class DropoutLayerTests
{
    private static (Dropout<double> Layer, DropoutCache<double> Cache, double[] X, double[] Y) Run(double rate, bool training, int seed, bool sequence = true,
        int batch = 50, int time = 8, int features = 25)
    {
        var layer = new Dropout<double>(rate);
        layer.Build(sequence ? LayerShape.Sequence(features) : LayerShape.Vector(features), new Random(1));
        int n = sequence ? batch * time * features : batch * features;
        double[] x = GradientChecks.GradientChecker.RandomValues(n, 3);
        for (int k = 0; k < n; k++) if (x[k] == 0) x[k] = 0.5;   // a zero input would hide whether it was dropped
        var cache = (DropoutCache<double>)layer.CreateCache();
        double[] y = new double[n];
        layer.Forward(new SequenceBatch<double>(x, batch, sequence ? time : 1, default), y, cache, new ForwardContext(training, new Random(seed)));
        return (layer, cache, x, y);
    }

    [TestCase(0.1)]
    [TestCase(0.4)]
    [TestCase(0.75)]
    public void Training_DropsAFractionWithinTheBinomialBound_AndScalesTheKeptExactly(double rate)
    {
        var (_, _, x, y) = Run(rate, training: true, seed: 11);
        int n = x.Length, dropped = 0;
        double keep = 1.0 / (1.0 - rate);
        for (int k = 0; k < n; k++)
        {
            if (y[k] == 0) { dropped++; continue; }
            Assert.That(y[k], Is.EqualTo(x[k] * keep), $"kept value {k} is x·1/(1 − rate), exactly");
        }
        // 10,000 values: the count of drops is Binomial(n, rate); 4.5 standard deviations leave a fixed seed's count well
        // inside, and a rate off by 0.02 (200 values, over 4σ at every rate here) outside.
        double sigma = Math.Sqrt(n * rate * (1 - rate));
        Assert.That(Math.Abs(dropped - n * rate), Is.LessThan(4.5 * sigma), $"{dropped} of {n} dropped at rate {rate}");
    }

    [Test]
    public void Masks_AreTheSameForTheSameSeed_AndDifferForAnother_AndDoNotShareAcrossTime()
    {
        var (_, a, _, ya) = Run(0.5, true, seed: 4);
        var (_, b, _, yb) = Run(0.5, true, seed: 4);
        var (_, _, _, yc) = Run(0.5, true, seed: 5);
        Assert.That(yb, Is.EqualTo(ya));
        Assert.That(b.Mask, Is.EqualTo(a.Mask));
        Assert.That(yc, Is.Not.EqualTo(ya));
        // noise_shape None: every [b, t, f] its own draw, so step 0 and step 1 of sequence 0 are not one mask repeated.
        Assert.That(a.Mask.AsSpan(0, 25).ToArray(), Is.Not.EqualTo(a.Mask.AsSpan(25, 25).ToArray()));
    }

    // Given a Random too: only the training flag decides.
    [TestCase(true)]
    [TestCase(false)]
    public void Inference_IsTheIdentity(bool sequence)
    {
        var (_, _, x, y) = Run(0.6, training: false, seed: 0, sequence: sequence);
        Assert.That(y, Is.EqualTo(x));
    }

    [Test]
    public void RateZero_IsTheIdentityInTrainingToo_ForwardAndBackward()
    {
        var (layer, cache, x, y) = Run(0, training: true, seed: 9);
        Assert.That(y, Is.EqualTo(x));
        double[] dy = GradientChecks.GradientChecker.RandomValues(x.Length, 5), dx = new double[x.Length];
        layer.Backward(dy, cache, dx);
        Assert.That(dx, Is.EqualTo(dy));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void Backward_IsDyTimesTheScaledMask_AndAddsIntoTheInputGradient(bool sequence)
    {
        var (layer, cache, _, y) = Run(0.3, training: true, seed: 6, sequence: sequence);
        double[] dy = GradientChecks.GradientChecker.RandomValues(y.Length, 5), dx = new double[y.Length];
        layer.Backward(dy, cache, dx);
        for (int k = 0; k < dx.Length; k++)
            Assert.That(dx[k], Is.EqualTo(y[k] == 0 ? 0 : dy[k] / 0.7).Within(1e-15 * Math.Abs(dy[k]) * 4), $"dx[{k}]");
        double[] once = (double[])dx.Clone();
        layer.Backward(dy, cache, dx);
        Assert.That(dx, Is.EqualTo(once.Select(v => 2 * v).ToArray()), "a second Backward adds the same again");
    }

    [Test]
    public void Mask_PassesThrough_AndMaskedStepsAreDroppedAsAnyOther()
    {
        // Keras' Dropout supports_masking: the mask it gets it passes on; its call does not read it.
        var model = ModelBuilder.Input(3).Dropout(0.5).Lstm(4).Build<double>(seed: 2);
        Assert.That(model.Layers[0].PropagatesMask, Is.True);
        var vectorModel = ModelBuilder.Input(3).Lstm(4).Dropout(0.5).Build<double>(seed: 2);
        Assert.That(vectorModel.Layers[1].PropagatesMask, Is.False, "a vector has no steps to mask");

        double[] x = GradientChecks.GradientChecker.RandomValues(2 * 5 * 3, 8);
        bool[] mask = { true, true, true, false, false, true, true, true, true, true };
        var withMask = model.CreateCache();
        double[] masked = model.Forward(new SequenceBatch<double>(x, 2, 5, mask), withMask, new ForwardContext(true, new Random(3))).ToArray();
        // The same masks (same seed), lengths 3 and 5 by truncation: row 0's last output is its step-2 state.
        var plain = ModelBuilder.Input(3).Dropout(0.5).Lstm(4, returnSequences: true).Build<double>(seed: 2);
        double[] all = plain.Forward(new SequenceBatch<double>(x, 2, 5, default), plain.CreateCache(), new ForwardContext(true, new Random(3))).ToArray();
        Assert.That(masked.AsSpan(0, 4).ToArray(), Is.EqualTo(all.AsSpan(2 * 4, 4).ToArray()), "row 0 ends at step 2: the LSTM got the mask through the Dropout");
        Assert.That(masked.AsSpan(4, 4).ToArray(), Is.EqualTo(all.AsSpan((5 + 4) * 4, 4).ToArray()));
    }

    public static IEnumerable<TestCaseData> BadRates()
    {
        foreach (double rate in new[] { -0.1, 1.0, 1.5, double.NaN, double.PositiveInfinity, double.NegativeInfinity, -double.Epsilon })
            yield return new TestCaseData(rate).SetArgDisplayNames(rate.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
    }

    [TestCaseSource(nameof(BadRates))]
    public void BadRates_AreRefused_ByTheLayerTheBuilderAndTheSpec(double rate)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Dropout<float>(rate))!;
        Assert.That(e.ParamName, Is.EqualTo("rate"));
        Assert.That(e.Message, Does.Contain("[0, 1)"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ModelBuilder.Input(2).Dropout(rate))!.ParamName, Is.EqualTo("rate"));
        var spec = new ModelSpec { InputFeatures = 2, Layers = new[] { LayerSpec.DropoutLayer(rate) } };
        var f = Assert.Throws<FormatException>(() => spec.Validate())!;
        Assert.That(f.Message, Does.Contain("layers[0].rate must be in [0, 1)"));
    }

    [Test]
    public void Layer_HasNoParameters_KeepsTheShape_AndRefusesAnotherLayersCache()
    {
        var layer = new Dropout<float>(0.2, "drop");
        layer.Build(LayerShape.Vector(7), new Random(0));
        Assert.That(layer.Parameters, Is.Empty);
        Assert.That(layer.OutputShape, Is.EqualTo(LayerShape.Vector(7)));
        var other = new Dropout<float>(0.2, "other");
        other.Build(LayerShape.Vector(7), new Random(0));
        var cache = other.CreateCache();
        other.Forward(new SequenceBatch<float>(new float[14], 2, 1, default), new float[14], cache, ForwardContext.Inference);
        var e = Assert.Throws<ArgumentException>(() => layer.Backward(new float[14], cache, new float[14]))!;
        Assert.That(e.Message, Does.Contain("filled by layer 'other'"));
        Assert.Throws<ArgumentException>(() => layer.Forward(new SequenceBatch<float>(new float[14], 2, 1, default), new float[13], layer.CreateCache(), ForwardContext.Inference));
    }
}
