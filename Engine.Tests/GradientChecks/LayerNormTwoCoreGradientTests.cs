using NumLstm.Kernels;
using NumLstm.Layers;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// Float64 central differences through LayerNorm's two-core backward pass (`LayerNorm.RowHalves`: dx by row halves,
/// dγ and dβ by feature halves), which the small layers of the other checks never reach: 160 × 205 = 32,800 values, past
/// the split threshold. Every element of dγ and dβ is checked, and x at 64 places spread over both row halves and both
/// feature halves; the gradients start from values already there (the layer adds into them).
/// </summary>
[NonParallelizable]
public class LayerNormTwoCoreGradientTests
{
    private const int Rows = 160, Features = 205;

    [Test]
    public void SplitBackward_MatchesFiniteDifferences()
    {
        if (!PairedWork.HasSecondCore) Assert.Ignore("one core: the pass does not split");
        double[] x = GradientChecker.RandomValues(Rows * Features, 1, 2);
        double[] probe = GradientChecker.ProbeWeights(Rows * Features, 2);
        var norm = new LayerNorm<double>();
        norm.Build(LayerShape.Sequence(Features), new Random(3));
        GradientChecker.RandomValues(Features, 4).CopyTo(norm.Gamma!.Value, 0);
        GradientChecker.RandomValues(Features, 5).CopyTo(norm.Beta!.Value, 0);
        var cache = norm.CreateCache();
        double[] y = new double[x.Length];

        double Loss()
        {
            norm.Forward(new SequenceBatch<double>(x, Rows, 1, default), y, cache, ForwardContext.Inference);
            return GradientChecker.Dot(y, probe);
        }

        // Analytic: gradients holding values first, then the backward pass adds into them.
        double[] gammaStart = GradientChecker.RandomValues(Features, 6), betaStart = GradientChecker.RandomValues(Features, 7);
        double[] dxStart = GradientChecker.RandomValues(x.Length, 8);
        gammaStart.CopyTo(norm.Gamma.Gradient, 0);
        betaStart.CopyTo(norm.Beta.Gradient, 0);
        double[] dx = (double[])dxStart.Clone();
        Loss();
        norm.Backward(probe, cache, dx);
        double[] dGamma = norm.Gamma.Gradient.Select((g, k) => g - gammaStart[k]).ToArray();
        double[] dBeta = norm.Beta.Gradient.Select((g, k) => g - betaStart[k]).ToArray();

        // x at 64 places: rows from both halves, features from both halves (and the last one).
        int[] places = Enumerable.Range(0, 64).Select(k => (k * 37 % Rows) * Features + (k * 53 % Features)).Append(x.Length - 1).Distinct().ToArray();
        double[] sampled = places.Select(p => x[p]).ToArray();
        double[] sampledGradient = places.Select(p => dx[p] - dxStart[p]).ToArray();
        double SampledLoss()
        {
            for (int k = 0; k < places.Length; k++) x[places[k]] = sampled[k];
            return Loss();
        }

        GradientChecker.AssertGradientsMatch(SampledLoss, new[]
        {
            new CheckedTensor("gamma", norm.Gamma.Value, dGamma),
            new CheckedTensor("beta", norm.Beta.Value, dBeta),
            new CheckedTensor("x (64 places)", sampled, sampledGradient),
        });
    }
}
