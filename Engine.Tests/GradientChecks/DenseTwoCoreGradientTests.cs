using NumLstm.Kernels;
using NumLstm.Layers;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// Float64 central differences through a Dense whose three products (x·Wᵀ, dW += dZᵀ·X, dX += dZ·W) are large enough to
/// be split over the two cores (GemmPacked.MultiplyInTwoHalves, from m·n·k ≥ <see cref="GemmPacked.ParallelThreshold"/> =
/// 2²¹ multiply-adds), which the small Dense layers of ModelGradientTests never reach. The first shape splits every
/// product by rows of c, the second by columns (the halves of dX reading W in place, without sharing row blocks); the
/// test reads the thread's split counts to know all three took the two-core path. The gradients start from values
/// already there (the layer adds into them). Sampled: W and x at 48 places spread over both halves of each split (rows
/// and columns), 12 places of the bias, and each tensor's first and last elements.
/// </summary>
[NonParallelizable]
public class DenseTwoCoreGradientTests
{
    // rows = B·T, features, units, activation, whether every product splits by columns of c (else by rows).
    [TestCase(32, 8, 80, 112, Activation.Tanh, false, TestName = "SplitByRows_Backward_MatchesFiniteDifferences")]
    [TestCase(16, 4, 192, 176, Activation.Softmax, true, TestName = "SplitByColumns_Backward_MatchesFiniteDifferences")]
    public void SplitProducts_Backward_MatchesFiniteDifferences(int batch, int time, int features, int units, Activation activation, bool byColumns)
    {
        if (Environment.ProcessorCount < 2) Assert.Ignore("one core: the products do not split");
        if (GemmPacked.Best == GemmPacked.Width.None) Assert.Ignore("scalar products (NUMLSTM_VECTOR_BITS=0): they take the generic loops, which do not split");
        int rows = batch * time;
        Assert.That((long)rows * features * units, Is.GreaterThanOrEqualTo(GemmPacked.ParallelThreshold), "every product past the split threshold");
        var dense = new Dense<double>(units, activation);
        dense.Build(LayerShape.Sequence(features), new Random(1));
        GradientChecker.RandomValues(units, 2, 0.5).CopyTo(dense.Bias!.Value, 0);
        double[] x = GradientChecker.RandomValues(rows * features, 3);
        double[] probe = GradientChecker.ProbeWeights(rows * units, 4);
        double[] y = new double[rows * units];
        var cache = dense.CreateCache();

        double Loss()
        {
            dense.Forward(new SequenceBatch<double>(x, batch, time, default), y, cache, ForwardContext.Inference);
            return GradientChecker.Dot(y, probe);
        }

        double[] weightStart = GradientChecker.RandomValues(units * features, 5), biasStart = GradientChecker.RandomValues(units, 6);
        double[] dxStart = GradientChecker.RandomValues(x.Length, 7);
        weightStart.CopyTo(dense.Weight.Gradient, 0);
        biasStart.CopyTo(dense.Bias.Gradient, 0);
        double[] dx = (double[])dxStart.Clone();
        (long Rows, long Columns) before = GemmPacked.HalvesSplits<double>();
        Loss();
        (long Rows, long Columns) afterForward = GemmPacked.HalvesSplits<double>();
        dense.Backward(probe, cache, dx);
        (long Rows, long Columns) afterBackward = GemmPacked.HalvesSplits<double>();
        (long, long) Splits(int products) => byColumns ? (0, products) : (products, 0);
        Assert.That((afterForward.Rows - before.Rows, afterForward.Columns - before.Columns), Is.EqualTo(Splits(1)), "the forward product split in two halves");
        Assert.That((afterBackward.Rows - afterForward.Rows, afterBackward.Columns - afterForward.Columns), Is.EqualTo(Splits(2)),
            "both backward products split in two halves");

        var sampled = new (string Name, double[] Values, double[] Gradient, int Rows, int Width)[]
        {
            ("input", x, dx.Select((g, k) => g - dxStart[k]).ToArray(), rows, features),
            ("weight", dense.Weight.Value, dense.Weight.Gradient.Select((g, k) => g - weightStart[k]).ToArray(), units, features),
            ("bias", dense.Bias.Value, dense.Bias.Gradient.Select((g, k) => g - biasStart[k]).ToArray(), 1, units),
        }.Select(t => (t.Values, Places: Places(t.Rows, t.Width, t.Rows == 1 ? 12 : 48), t.Gradient, t.Name)).ToList();
        var tensors = sampled.Select(t => new CheckedTensor($"{t.Name} ({t.Places.Length} places)",
            t.Places.Select(p => t.Values[p]).ToArray(), t.Places.Select(p => t.Gradient[p]).ToArray())).ToList();

        double SampledLoss()
        {
            for (int k = 0; k < sampled.Count; k++)
                for (int j = 0; j < sampled[k].Places.Length; j++) sampled[k].Values[sampled[k].Places[j]] = tensors[k].Values[j];
            return Loss();
        }

        GradientChecker.AssertGradientsMatch(SampledLoss, tensors);
    }

    // Places of a [rows, width] tensor: count of them over all rows in order (so both row halves) with columns striding
    // by 37 (so both column halves), the first and the last.
    private static int[] Places(int rows, int width, int count)
        => Enumerable.Range(0, count).Select(k => k * rows / count * width + (k * 37 + k / 3) % width).Prepend(0).Append(rows * width - 1).Distinct().ToArray();
}
