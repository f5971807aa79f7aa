using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// Float64 central differences through Sequential (the code that trains) for a Dense with each activation Keras 3 added,
/// at chosen pre-activations: a Dense(4) whose weight is set to the identity and bias to 0 gets its input as its
/// pre-activation, so the input holds generic points and points 3e−4 either side of each kink (the difference step moves
/// a pre-activation by at most 1e−5·|x| ≤ 5e−5, so no difference crosses a kink). Then the checks fail when a derivative
/// term is wrong: a selu loss against elu's gradient (the scale left out), a leaky_relu loss against relu's (the slope).
/// </summary>
public class DenseActivationGradientTests
{
    private const int Width = 4;

    private static readonly Dictionary<Activation, double[]> Kinks = new()
    {
        [Activation.Elu] = [0], [Activation.Celu] = [0], [Activation.Selu] = [0], [Activation.LeakyRelu] = [0], [Activation.Relu6] = [0, 6],
        [Activation.HardSigmoid] = [-3, 3], [Activation.HardSilu] = [-3, 3], [Activation.HardTanh] = [-1, 1], [Activation.SoftShrink] = [-0.5, 0.5],
        [Activation.HardShrink] = [-0.5, 0.5], [Activation.SparsePlus] = [-1, 1], [Activation.SparseSigmoid] = [-1, 1],
    };

    public static IEnumerable<TestCaseData> Added()
        => Enum.GetValues<Activation>().Where(a => a >= Activation.Elu).Select(a => new TestCaseData(a).SetArgDisplayNames(a.ToString()));

    internal static ModelGradientTests.ModelHarness Harness(Activation activation)
    {
        var spec = new ModelSpec { InputFeatures = Width, Seed = 3, Layers = [LayerSpec.Dense(Width, activation)] };
        return new ModelGradientTests.ModelHarness(spec, ragged: false, prepare: (model, x) =>
        {
            var dense = (Dense<double>)model.Layers[0];
            Array.Clear(dense.Weight.Value);
            for (int u = 0; u < Width; u++) dense.Weight.Value[u * Width + u] = 1;
            Array.Clear(dense.Bias!.Value);
            double[] generic = [-2.3, -0.8, 0.35, 1.7, 4.6, -4.1, 0.05, -0.27, 2.9, -1.45, 0.81, 3.3];
            for (int k = 0; k < x.Length; k++) x[k] = generic[k % generic.Length] + 0.013 * (k / generic.Length);
            int at = 0;
            foreach (double kink in Kinks.GetValueOrDefault(activation, []))
                foreach (double side in new[] { -3e-4, 3e-4 }) x[at++ * 5 % x.Length] = kink + side;
        });
    }

    [TestCaseSource(nameof(Added))]
    public void Backward_MatchesFiniteDifferences_NearEveryKink(Activation activation)
    {
        ModelGradientTests.ModelHarness harness = Harness(activation);
        foreach (double kink in Kinks.GetValueOrDefault(activation, []))
            Assert.That(harness.Input.Count(v => Math.Abs(v - kink) < 1e-3), Is.EqualTo(2), $"both sides of the kink at {kink} are checked");
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    [TestCase(Activation.Selu, Activation.Elu)]
    [TestCase(Activation.LeakyRelu, Activation.Relu)]
    [TestCase(Activation.Gelu, Activation.Silu)]
    public void Backward_WithADerivativeTermWrong_FailsTheCheck(Activation activation, Activation wrongDerivative)
    {
        ModelGradientTests.ModelHarness right = Harness(activation), wrong = Harness(wrongDerivative);
        List<CheckedTensor> tensors = right.AnalyticGradients();
        List<CheckedTensor> broken = wrong.AnalyticGradients();
        GradientChecker.AssertGradientsMatch(right.Loss, tensors);
        List<GradientMismatch> found = GradientChecker.FindMismatches(right.Loss,
            tensors.Zip(broken, (t, b) => new CheckedTensor(t.Name, t.Values, b.Analytic)).ToList());
        Assert.That(found.Count(m => m.Name == "input"), Is.GreaterThan(right.Input.Length / 4), () => string.Join("\n", found.Take(5)));
    }
}
