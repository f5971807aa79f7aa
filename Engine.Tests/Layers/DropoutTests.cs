using NumLstm.Layers;

namespace NumLstm.Tests.Layers;

/// <summary>Keras 3 dropout semantics: inverted, per sample, shared across time, one input mask per gate with recurrent
/// dropout (implementation 1) and one shared by the gates without it (implementation 2), off at inference.</summary>
public class DropoutTests
{
    private static (Lstm<double> Layer, LstmCache<double> Cache, double[] X) Run(double dropout, double recurrent, bool training, int seed, out double[] output)
    {
        const int b = 64, t = 5, f = 6;
        var lstm = new Lstm<double>(4, returnSequences: true, dropout: dropout, recurrentDropout: recurrent);
        lstm.Build(LayerShape.Sequence(f), new Random(1));
        double[] x = GradientChecks.GradientChecker.RandomValues(b * t * f, 2);
        var cache = new LstmCache<double>();
        output = new double[b * t * 4];
        lstm.Forward(new SequenceBatch<double>(x, b, t, default), output, cache, new ForwardContext(training, training ? new Random(seed) : null));
        return (lstm, cache, x);
    }

    [Test]
    public void Masks_AreInvertedPerSamplePerGate_AndDrawnOncePerCall()
    {
        var (_, cache, _) = Run(0.4, 0.3, training: true, seed: 5, out _);
        double keepInput = 1 / 0.6, keepRecurrent = 1 / 0.7;
        Assert.That(cache.InputMasks.Length, Is.EqualTo(4 * 64 * 6), "four input masks [4, B, F]");
        Assert.That(cache.RecurrentMasks.Length, Is.EqualTo(4 * 64 * 4), "four recurrent masks [4, B, H]");
        Assert.That(cache.InputMasks.All(v => v == 0 || Math.Abs(v - keepInput) < 1e-12), Is.True);
        Assert.That(cache.RecurrentMasks.All(v => v == 0 || Math.Abs(v - keepRecurrent) < 1e-12), Is.True);
        Assert.That(cache.InputMasks.Count(v => v == 0) / (double)cache.InputMasks.Length, Is.EqualTo(0.4).Within(0.05));
        Assert.That(cache.RecurrentMasks.Count(v => v == 0) / (double)cache.RecurrentMasks.Length, Is.EqualTo(0.3).Within(0.05));
        int perGate = 64 * 6;
        Assert.That(cache.InputMasks.AsSpan(0, perGate).ToArray(), Is.Not.EqualTo(cache.InputMasks.AsSpan(perGate, perGate).ToArray()), "gates have independent masks");
        // Shared across time: the masked copy of x for gate k at every step equals x ⊙ the one per-sample mask
        // (the cache keeps x time-major, [T, B, F]).
        var (_, cache2, x) = Run(0.4, 0.3, training: true, seed: 5, out _);
        for (int k = 0; k < 4; k++)
            for (int b = 0; b < 64; b++)
                for (int t = 0; t < 5; t++)
                    for (int j = 0; j < 6; j++)
                        Assert.That(cache2.MaskedInputs[k][(t * 64 + b) * 6 + j], Is.EqualTo(x[(b * 5 + t) * 6 + j] * cache2.InputMasks[(k * 64 + b) * 6 + j]));
    }

    [Test]
    public void InputDropoutAlone_IsOneMaskSharedByTheGates_TheSameAsMaskingTheInput()
    {
        // Keras 3 keeps implementation 2 when recurrent_dropout = 0: dp_mask = get_dropout_mask(inputs) is one [B, F]
        // mask and inputs * dp_mask feeds all four gates. So a training forward equals an inference forward on x ⊙ m.
        var (_, cache, x) = Run(0.4, 0, training: true, seed: 5, out double[] dropped);
        Assert.That(cache.InputMasks.Length, Is.EqualTo(64 * 6), "one input mask [B, F]");
        Assert.That(cache.InputMaskCount, Is.EqualTo(1));
        Assert.That(cache.InputMasks.Count(v => v == 0) / (double)cache.InputMasks.Length, Is.EqualTo(0.4).Within(0.05));
        double[] masked = new double[x.Length];
        for (int b = 0; b < 64; b++)
            for (int t = 0; t < 5; t++)
                for (int j = 0; j < 6; j++)
                    masked[(b * 5 + t) * 6 + j] = x[(b * 5 + t) * 6 + j] * cache.InputMasks[b * 6 + j];
        var lstm = new Lstm<double>(4, returnSequences: true);
        lstm.Build(LayerShape.Sequence(6), new Random(1));
        var plain = new double[dropped.Length];
        lstm.Forward(new SequenceBatch<double>(masked, 64, 5, default), plain, new LstmCache<double>(), ForwardContext.Inference);
        Assert.That(dropped, Is.EqualTo(plain).Within(1e-12));
        // With recurrent dropout on, the four gates see different input masks: no single masked input reproduces it.
        var (_, both, _) = Run(0.4, 0.3, training: true, seed: 5, out _);
        Assert.That(both.InputMaskCount, Is.EqualTo(4));
    }

    [Test]
    public void Inference_IgnoresDropout_AndTrainingIsReproducibleFromItsSeed()
    {
        Run(0, 0, training: false, seed: 0, out double[] plain);
        Run(0.5, 0.5, training: false, seed: 0, out double[] inference);
        Assert.That(inference, Is.EqualTo(plain), "dropout is off at inference");
        Run(0.5, 0.5, training: true, seed: 3, out double[] first);
        Run(0.5, 0.5, training: true, seed: 3, out double[] again);
        Run(0.5, 0.5, training: true, seed: 4, out double[] other);
        Assert.That(again, Is.EqualTo(first));
        Assert.That(other, Is.Not.EqualTo(first));
        Assert.That(first, Is.Not.EqualTo(plain));
    }
}
