using NumLstm.Kernels;
using NumLstm.Layers;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// Float64 central differences through the LSTM's two-core time loops, which the small layers of LstmGradientTests never
/// reach: each step's rows split over the cores (Lstm.RowSplit.cs, from B ≥ 8 and B·4H² ≥ 2²¹) and the step products
/// split by slivers of U (Lstm.ClaimedSteps.cs, from B·4H² ≥ 2²⁴ at 512 bits). H = 256, so the check samples: every
/// tensor (input, initial states, weight_ih, weight_hh, bias) at places spread over both row halves, all four gates and
/// the first and last elements. Ragged masks (one row masked throughout), initial states and final-state gradients; the
/// rows split with both dropouts, and a tf-addons cell (its time loop on one thread, its large products split).
/// </summary>
[NonParallelizable]
public class LstmTwoCoreGradientTests
{
    private const int Time = 3, Features = 4, Units = 256;

    [TestCase(8, false, false, "", TestName = "RowSplit_Backward_MatchesFiniteDifferences")]
    [TestCase(8, true, true, "", TestName = "RowSplit_GoBackwards_LastOutput_Backward_MatchesFiniteDifferences")]
    [TestCase(64, false, true, "", TestName = "ClaimedSteps_Backward_MatchesFiniteDifferences")]
    // A cell LayerNorm keeps the time loop on one thread, while the products before and after it still split over the
    // cores, per input mask with dropout. Recurrent dropout keeps the rows split (per-gate recurrent products) but not
    // the split by slivers.
    [TestCase(8, false, false, "tf-addons", TestName = "TfAddonsCell_WithDropouts_SplitProducts_Backward_MatchesFiniteDifferences")]
    [TestCase(8, true, false, "dropouts", TestName = "RowSplit_WithDropouts_GoBackwards_Backward_MatchesFiniteDifferences")]
    public void TwoCoreLoop_Backward_MatchesFiniteDifferences(int batch, bool goBackwards, bool zeroOutputForMask, string variant)
    {
        if (!PairedWork.HasSecondCore) Assert.Ignore("one core: the loop does not split");
        bool returnSequences = batch == 64 || !goBackwards || variant != "";
        double dropout = variant == "" ? 0 : 0.3;
        var layer = new Lstm<double>(Units, returnSequences, goBackwards, dropout, dropout, variant == "tf-addons" ? CellNormalization.TfAddons : null,
            zeroOutputForMask: zeroOutputForMask);
        layer.Build(LayerShape.Sequence(Features), new Random(1));
        int seed = 10;
        foreach (Parameter<double> p in layer.Parameters)
        {
            double[] noise = GradientChecker.RandomValues(p.Length, seed++, 0.05);
            for (int k = 0; k < p.Length; k++) p.Value[k] += noise[k];
        }
        bool claims = layer.ClaimsSteps(batch, Units, recurrentDropout: false);
        if (batch == 64 && !claims) Assert.Ignore("the split by slivers needs 512 bits and two cores");

        double[] input = GradientChecker.RandomValues(batch * Time * Features, 2);
        double[] h0 = GradientChecker.RandomValues(batch * Units, 3, 0.5), c0 = GradientChecker.RandomValues(batch * Units, 4, 0.5);
        // Row 1 masked throughout, row 2 from its second step, row 5 in its middle step.
        bool[] mask = Enumerable.Range(0, batch * Time).Select(k => k / Time != 1 && k != 2 * Time + 1 && k != 2 * Time + 2 && k != 5 * Time + 1).ToArray();
        int outLength = layer.OutputLength(batch, Time);
        double[] output = new double[outLength], finalH = new double[batch * Units], finalC = new double[batch * Units];
        double[] outputWeights = GradientChecker.ProbeWeights(outLength, 5);
        double[] finalHWeights = GradientChecker.ProbeWeights(batch * Units, 6), finalCWeights = GradientChecker.ProbeWeights(batch * Units, 7);
        var cache = (LstmCache<double>)layer.CreateCache();

        double Loss()
        {
            // Dropout: the same masks on every call.
            var context = dropout > 0 ? new ForwardContext(true, new Random(99)) : ForwardContext.Inference;
            layer.Forward(new SequenceBatch<double>(input, batch, Time, mask), h0, c0, output, finalH, finalC, cache, context);
            return GradientChecker.Dot(output, outputWeights) + GradientChecker.Dot(finalH, finalHWeights) + GradientChecker.Dot(finalC, finalCWeights);
        }

        foreach (Parameter<double> p in layer.Parameters) p.ZeroGradient();
        double[] dInput = new double[input.Length], dH0 = new double[h0.Length], dC0 = new double[c0.Length];
        Loss();
        layer.Backward(outputWeights, finalHWeights, finalCWeights, cache, dInput, dH0, dC0);
        if (variant == "tf-addons") Assert.That(cache.RowSplit, Is.Null, "the time loop on one thread");
        else
        {
            Assert.That(batch == 64 ? cache.ClaimedSteps is not null : cache.RowSplit is not null, Is.True, "the time loops took the two-core path");
            if (batch == 8) Assert.That(cache.ClaimedSteps, Is.Null, "split by rows, not by slivers");
        }

        // Places of a [rows, width] tensor: 12 spread over all of it (both row halves, all gates), the first and the last.
        var sampled = new (string Name, double[] Values, double[] Gradient, int Rows, int Width)[]
        {
            ("input", input, dInput, batch, Time * Features), ("initialH", h0, dH0, batch, Units), ("initialC", c0, dC0, batch, Units),
            ("weight_ih", layer.WeightIh.Value, layer.WeightIh.Gradient, 4 * Units, Features),
            ("weight_hh", layer.WeightHh.Value, layer.WeightHh.Gradient, 4 * Units, Units),
            ("bias", layer.Bias.Value, layer.Bias.Gradient, 4 * Units, 1),
        }.Select(t => (t.Values, Places: Places(t.Rows, t.Width), t.Gradient, t.Name)).ToList();
        var tensors = sampled.Select(t => new CheckedTensor($"{t.Name} (at {string.Join(", ", t.Places)})",
            t.Places.Select(p => t.Values[p]).ToArray(), t.Places.Select(p => t.Gradient[p]).ToArray())).ToList();

        double SampledLoss()
        {
            for (int k = 0; k < sampled.Count; k++)
                for (int j = 0; j < sampled[k].Places.Length; j++) sampled[k].Values[sampled[k].Places[j]] = tensors[k].Values[j];
            return Loss();
        }

        GradientChecker.AssertGradientsMatch(SampledLoss, tensors);
    }

    private static int[] Places(int rows, int width)
        => Enumerable.Range(0, 12).Select(k => Math.Min(rows - 1, k * rows / 12 + k % 3) * width + (k * 7 % width)).Prepend(0).Append(rows * width - 1).Distinct().ToArray();
}
