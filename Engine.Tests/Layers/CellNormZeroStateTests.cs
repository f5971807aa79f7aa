using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// What the LayerNorm-placement study met on its 1- and 2-feature tasks (docs/ln-placement-study.md, "Things the study
/// found that are not about placement"): an input projection that is exactly zero at every step (an all-zero input, or
/// one feature dropped for every gate by Keras' input dropout, whose masks hold across time) keeps a separate-gate or
/// normed-output cell at h = c = 0, where every
/// cell LayerNorm sees a constant row. There LayerNorm's Jacobian is γ/√ε·(I − 11ᵀ/n), a gain of √1000 ≈ 31.6 at Keras'
/// ε = 1e-3, so backpropagation through time multiplies the gradient by that gain at every step: the true gradient
/// overflows float32 within about 20 steps and training diverges on its first batch. The summed-gate cell (keras-gates)
/// normalizes x·W + h·U + b, whose bias (1 on the forget gate) keeps the row from being constant, so it stays bounded.
/// These tests pin the property the docs state, in float64 where nothing overflows yet.
/// </summary>
public class CellNormZeroStateTests
{
    private static (double[] Output, double MaxGradient) ZeroSequence(string preset, int steps)
    {
        var lstm = new Lstm<double>(16, cellNormalization: CellNormalization.Presets[preset]);
        lstm.Build(LayerShape.Sequence(1), new Random(0));
        var output = new double[16];
        LayerCache cache = lstm.CreateCache();
        lstm.Forward(new SequenceBatch<double>(new double[steps], 1, steps, default), output, cache, new ForwardContext(true, new Random(0)));   // the training path, no dropout
        var outputGradient = new double[16];
        var random = new Random(1);
        for (int k = 0; k < outputGradient.Length; k++) outputGradient[k] = random.NextDouble() - 0.5;
        foreach (Parameter<double> parameter in lstm.Parameters) parameter.ZeroGradient();
        lstm.Backward(outputGradient, cache, default);
        return (output, lstm.Parameters.Max(p => p.Gradient.Max(Math.Abs)));
    }

    [TestCase("ba2016")]
    [TestCase("tf-addons")]
    [TestCase("keras-snippet")]
    public void AZeroInputSequence_KeepsTheStateAtZero_AndTheGradientGrowsGeometricallyWithTheSteps(string preset)
    {
        (double[] output8, double gradient8) = ZeroSequence(preset, 8);
        (double[] output16, double gradient16) = ZeroSequence(preset, 16);
        Assert.That(output8.Concat(output16), Has.All.EqualTo(0.0), "h stays exactly 0: every gate row is constant");
        // Eight more steps multiply the gradient by more than 1e6 (about 1e2 a step here; 1e4 a step for ba2016):
        // float32's 3.4e38 is passed within about 20 steps, as in the study's first batches.
        Assert.That(gradient16 / gradient8, Is.GreaterThan(1e6), $"T=8: {gradient8:G3}, T=16: {gradient16:G3}");
        Assert.That(gradient16, Is.GreaterThan(1e10));
    }

    [Test]
    public void TheSummedGateCell_StaysBounded_OnAZeroInputSequence()
    {
        (double[] output, double gradient8) = ZeroSequence("keras-gates", 8);
        (_, double gradient64) = ZeroSequence("keras-gates", 64);
        Assert.That(output, Has.Some.Not.EqualTo(0.0), "the forget-gate bias makes the summed gate row non-constant");
        Assert.That(gradient64, Is.LessThan(10 * gradient8), $"T=8: {gradient8:G3}, T=64: {gradient64:G3}");
    }
}
