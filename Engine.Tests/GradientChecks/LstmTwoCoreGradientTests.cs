using NumLstm.Kernels;
using NumLstm.Layers;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// Float64 central differences through the LSTM's two-core time loops, which the small layers of LstmGradientTests never
/// reach: each step's rows split over the cores (Lstm.RowSplit.cs, from B ≥ 8 and B·4H² ≥ 2²¹), the step products split
/// by slivers of U (Lstm.ClaimedSteps.cs, from B·4H² ≥ 2²⁴ at 512 bits), and a time loop on one thread whose step
/// products are split in column halves (GemmPacked.PrepackedInTwoHalves, from B·4H² ≥ 2²¹: a batch below 8, or a cell
/// LayerNorm). H = 256 (280 for the batch of 7), so the check samples: every tensor (input, initial states, weight_ih,
/// weight_hh, bias) at places spread over both row halves, all four gates and the first and last elements. Ragged masks
/// (one row masked throughout), initial states and final-state gradients; the rows split with both dropouts. Each case
/// asserts the path it took (the cache's job, the thread's count of products split in halves). The checks' own
/// broken-on-purpose partners are below: one element of every sampled tensor, and a whole term of the row split.
/// </summary>
[NonParallelizable]
public class LstmTwoCoreGradientTests
{
    private const int Time = 3;

    /// <summary>Which two-core path a case takes.</summary>
    public enum Path { RowSplit, ClaimedSteps, StepProductHalves, OneThread }

    [TestCase(8, 256, false, false, "", Path.RowSplit, TestName = "RowSplit_Backward_MatchesFiniteDifferences")]
    [TestCase(8, 256, true, true, "", Path.RowSplit, TestName = "RowSplit_GoBackwards_LastOutput_Backward_MatchesFiniteDifferences")]
    [TestCase(64, 256, false, true, "", Path.ClaimedSteps, TestName = "ClaimedSteps_Backward_MatchesFiniteDifferences")]
    // A cell LayerNorm keeps the time loop on one thread; without recurrent dropout its step products (B·4H² = 2²¹) are
    // split in column halves, forward and backward, with an input dropout mask per gate.
    [TestCase(8, 256, false, false, "tf-addons", Path.StepProductHalves, TestName = "TfAddonsCell_InputDropout_SplitStepProducts_Backward_MatchesFiniteDifferences")]
    // With recurrent dropout too the per-gate step products (B·H² = 2¹⁹) and weight gradients stay whole: nothing splits
    // (this case was named for split products it never took); kept as the large-H check of that cell.
    [TestCase(8, 256, false, false, "tf-addons-dropouts", Path.OneThread, TestName = "TfAddonsCell_WithDropouts_OneThread_Backward_MatchesFiniteDifferences")]
    // Below 8 rows the loop stays on one thread and a plain cell's step products split in column halves (7·4·280² ≥ 2²¹).
    [TestCase(7, 280, false, true, "", Path.StepProductHalves, TestName = "SmallBatch_SplitStepProducts_Backward_MatchesFiniteDifferences")]
    // Recurrent dropout keeps the rows split (per-gate recurrent products) but not the split by slivers.
    [TestCase(8, 256, true, false, "dropouts", Path.RowSplit, TestName = "RowSplit_WithDropouts_GoBackwards_Backward_MatchesFiniteDifferences")]
    public void TwoCoreLoop_Backward_MatchesFiniteDifferences(int batch, int units, bool goBackwards, bool zeroOutputForMask, string variant, Path path)
    {
        Harness harness = Harness.Build(batch, units, goBackwards, zeroOutputForMask, variant, path);
        GradientChecker.AssertGradientsMatch(harness.SampledLoss, harness.Tensors);
    }

    // The input-side products split over the cores too once B·T·4H·F ≥ 2²¹ (F = 96 here, where the other cases have 4):
    // x·Wᵀ forward, dW and dX backward beside dU, while the steps' rows split.
    [Test]
    public void RowSplit_WideInput_SplitInputProducts_Backward_MatchesFiniteDifferences()
    {
        if (GemmPacked.Best == GemmPacked.Width.None) Assert.Ignore("scalar products (NUMLSTM_VECTOR_BITS=0): the input products take the generic loops, which do not split in halves");
        Harness harness = Harness.Build(8, 256, goBackwards: false, zeroOutputForMask: false, "", Path.RowSplit, features: 96);
        Assert.That(harness.ForwardSplits, Is.EqualTo(1), "the input projection split in halves");
        Assert.That(harness.BackwardSplits, Is.EqualTo(3), "dU, dW and dX split in halves");
        GradientChecker.AssertGradientsMatch(harness.SampledLoss, harness.Tensors);
    }

    // The two-core checks can fail: each passes clean, then one element of every sampled tensor gets a term of twice its
    // tolerance, and the checker must report exactly those (BrokenGradientTests' mechanism, for these paths).
    [TestCase(8, 256, false, false, "", Path.RowSplit, TestName = "RowSplit_BrokenElementsAreReported")]
    [TestCase(7, 280, false, true, "", Path.StepProductHalves, TestName = "SmallBatch_SplitStepProducts_BrokenElementsAreReported")]
    public void TwoCoreLoop_BrokenElementsAreReported(int batch, int units, bool goBackwards, bool zeroOutputForMask, string variant, Path path)
    {
        Harness harness = Harness.Build(batch, units, goBackwards, zeroOutputForMask, variant, path);
        var breaks = harness.Tensors.Select((t, k) => (t.Name, Index: (3 * k + 1) % t.Values.Length)).ToList();
        BrokenGradientTests.AssertCheckerCatches(harness.SampledLoss, harness.Tensors, breaks);
    }

    // A whole term of the row split left out, as a second core that skipped (B1)'s recurrent product dh_prev += dA_h·U for
    // its rows [⌈B/2⌉, B) at the last step it processes (s = 0, whose dh_prev is the initial state's gradient): taken back
    // out of dh0 here, from the gate gradients the cache keeps. Exactly the sampled places of dh0 in those rows must fail;
    // every other tensor, and dh0's first-half rows, still pass.
    [Test]
    public void RowSplit_SecondCoresLastRecurrentProductLeftOut_FailsExactlyItsRowsOfTheInitialStateGradient()
    {
        const int batch = 8, units = 256, g = 4 * units, half = (batch + 1) / 2;
        Harness harness = Harness.Build(batch, units, goBackwards: false, zeroOutputForMask: false, "", Path.RowSplit);
        Assert.That(GradientChecker.FindMismatches(harness.SampledLoss, harness.Tensors), Is.Empty, "the unbroken gradient must pass first");

        CheckedTensor initialH = harness.Tensors.Single(t => t.Name.StartsWith("initialH", StringComparison.Ordinal));
        int[] places = harness.Places["initialH"];
        double[] u = harness.Layer.WeightHh.Value;               // U [G, H]
        ReadOnlySpan<double> dA0 = harness.Cache.DGates.AsSpan(0, batch * g);   // dA of processing step 0 [B, G]
        var expected = new List<(string, int)>();
        for (int j = 0; j < places.Length; j++)
        {
            int row = places[j] / units, unit = places[j] % units;
            if (row < half) continue;
            double term = 0;
            for (int gate = 0; gate < g; gate++) term += dA0[row * g + gate] * u[gate * units + unit];
            Assert.That(Math.Abs(term), Is.GreaterThan(100 * (GradientChecker.AbsoluteTolerance + GradientChecker.RelativeTolerance * Math.Abs(initialH.Analytic[j]))),
                $"the term at dh0[{row}, {unit}] must be well past the tolerance");
            initialH.Analytic[j] -= term;
            expected.Add((initialH.Name, j));
        }
        Assert.That(expected, Has.Count.GreaterThanOrEqualTo(4), "sampled places in the second core's rows");
        List<GradientMismatch> found = GradientChecker.FindMismatches(harness.SampledLoss, harness.Tensors);
        Assert.That(found.Select(m => (m.Name, m.Index)), Is.EquivalentTo(expected), () => string.Join("\n", found));
    }

    /// <summary>A layer's forward and backward at one of the two-core paths, with its sampled tensors and loss.</summary>
    private sealed class Harness
    {
        public required Lstm<double> Layer { get; init; }
        public required LstmCache<double> Cache { get; init; }
        public required List<CheckedTensor> Tensors { get; init; }
        public required Func<double> SampledLoss { get; init; }
        /// <summary>Each tensor's sampled places (flat indices), by its short name.</summary>
        public required Dictionary<string, int[]> Places { get; init; }
        /// <summary>Products the analytic forward and backward passes split in halves (GemmPacked.HalvesSplits, rows and columns).</summary>
        public required long ForwardSplits { get; init; }
        public required long BackwardSplits { get; init; }

        public static Harness Build(int batch, int units, bool goBackwards, bool zeroOutputForMask, string variant, Path path, int features = 4)
        {
            if (!PairedWork.HasSecondCore) Assert.Ignore("one core: the loop does not split");
            bool returnSequences = batch == 64 || !goBackwards || variant != "";
            double dropout = variant == "" ? 0 : 0.3, recurrentDropout = variant.EndsWith("dropouts", StringComparison.Ordinal) ? 0.3 : 0;
            var layer = new Lstm<double>(units, returnSequences, goBackwards, dropout, recurrentDropout, variant.StartsWith("tf-addons", StringComparison.Ordinal) ? CellNormalization.TfAddons : null,
                zeroOutputForMask: zeroOutputForMask);
            layer.Build(LayerShape.Sequence(features), new Random(1));
            int seed = 10;
            foreach (Parameter<double> p in layer.Parameters)
            {
                double[] noise = GradientChecker.RandomValues(p.Length, seed++, 0.05);
                for (int k = 0; k < p.Length; k++) p.Value[k] += noise[k];
            }
            if (path == Path.ClaimedSteps && !layer.ClaimsSteps(batch, units, recurrentDropout: false)) Assert.Ignore("the split by slivers needs 512 bits and two cores");
            if (path == Path.StepProductHalves && GemmPacked.Best == GemmPacked.Width.None)
                Assert.Ignore("scalar products (NUMLSTM_VECTOR_BITS=0): they take the generic loops, which do not split in halves");

            double[] input = GradientChecker.RandomValues(batch * Time * features, 2);
            double[] h0 = GradientChecker.RandomValues(batch * units, 3, 0.5), c0 = GradientChecker.RandomValues(batch * units, 4, 0.5);
            // Row 1 masked throughout, row 2 from its second step, row 5 in its middle step.
            bool[] mask = Enumerable.Range(0, batch * Time).Select(k => k / Time != 1 && k != 2 * Time + 1 && k != 2 * Time + 2 && k != 5 * Time + 1).ToArray();
            int outLength = layer.OutputLength(batch, Time);
            double[] output = new double[outLength], finalH = new double[batch * units], finalC = new double[batch * units];
            double[] outputWeights = GradientChecker.ProbeWeights(outLength, 5);
            double[] finalHWeights = GradientChecker.ProbeWeights(batch * units, 6), finalCWeights = GradientChecker.ProbeWeights(batch * units, 7);
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
            (long Rows, long Columns) before = GemmPacked.HalvesSplits<double>();
            Loss();
            (long Rows, long Columns) afterForward = GemmPacked.HalvesSplits<double>();
            layer.Backward(outputWeights, finalHWeights, finalCWeights, cache, dInput, dH0, dC0);
            (long Rows, long Columns) afterBackward = GemmPacked.HalvesSplits<double>();
            switch (path)
            {
                case Path.RowSplit:
                    Assert.That(cache.RowSplit, Is.Not.Null, "the time loops split by rows");
                    Assert.That(cache.ClaimedSteps, Is.Null, "split by rows, not by slivers");
                    break;
                case Path.ClaimedSteps:
                    Assert.That(cache.ClaimedSteps, Is.Not.Null, "the time loops split the step products by slivers");
                    break;
                case Path.StepProductHalves:
                    Assert.That((cache.RowSplit, cache.ClaimedSteps), Is.EqualTo(((Lstm<double>.RowSplitJob?)null, (Lstm<double>.ClaimedStepJob?)null)), "the time loop on one thread");
                    // One product per step each way, split in column halves (the weight gradients after the loop may split too).
                    Assert.That(afterForward.Columns - before.Columns, Is.EqualTo(Time), "each forward step product split in column halves");
                    Assert.That(afterBackward.Columns - afterForward.Columns, Is.GreaterThanOrEqualTo(Time), "each backward step product split in column halves");
                    break;
                case Path.OneThread:
                    Assert.That((cache.RowSplit, cache.ClaimedSteps), Is.EqualTo(((Lstm<double>.RowSplitJob?)null, (Lstm<double>.ClaimedStepJob?)null)), "the time loop on one thread");
                    Assert.That(afterBackward, Is.EqualTo(before), "no product split in halves");
                    break;
            }

            // Places of a [rows, width] tensor: 12 spread over all of it (both row halves, all gates), the first and the last.
            var sampled = new (string Name, double[] Values, double[] Gradient, int Rows, int Width)[]
            {
                ("input", input, dInput, batch, Time * features), ("initialH", h0, dH0, batch, units), ("initialC", c0, dC0, batch, units),
                ("weight_ih", layer.WeightIh.Value, layer.WeightIh.Gradient, 4 * units, features),
                ("weight_hh", layer.WeightHh.Value, layer.WeightHh.Gradient, 4 * units, units),
                ("bias", layer.Bias.Value, layer.Bias.Gradient, 4 * units, 1),
            }.Select(t => (t.Values, Places: SpreadPlaces(t.Rows, t.Width), t.Gradient, t.Name)).ToList();
            var tensors = sampled.Select(t => new CheckedTensor($"{t.Name} (at {string.Join(", ", t.Places)})",
                t.Places.Select(p => t.Values[p]).ToArray(), t.Places.Select(p => t.Gradient[p]).ToArray())).ToList();

            double SampledLoss()
            {
                for (int k = 0; k < sampled.Count; k++)
                    for (int j = 0; j < sampled[k].Places.Length; j++) sampled[k].Values[sampled[k].Places[j]] = tensors[k].Values[j];
                return Loss();
            }

            return new Harness
            {
                Layer = layer, Cache = cache, Tensors = tensors, SampledLoss = SampledLoss,
                Places = sampled.ToDictionary(t => t.Name, t => t.Places),
                ForwardSplits = afterForward.Rows + afterForward.Columns - before.Rows - before.Columns,
                BackwardSplits = afterBackward.Rows + afterBackward.Columns - afterForward.Rows - afterForward.Columns,
            };
        }
    }

    private static int[] SpreadPlaces(int rows, int width)
        => Enumerable.Range(0, 12).Select(k => Math.Min(rows - 1, k * rows / 12 + k % 3) * width + (k * 7 % width)).Prepend(0).Append(rows * width - 1).Distinct().ToArray();
}
