using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// Float64 central differences of the regularized loss L(θ) + Σ penalty(w) ((R1) in docs/math.md) against the analytic
/// gradient Fit uses: Backward, then <see cref="Sequential{T}.AddRegularizationGradients"/> ((R2)), through the very
/// code that trains in float32. Every weight kind that takes a regularizer is checked: an LSTM's and a Bidirectional's
/// kernel, recurrent kernel and bias, a LayerNorm's γ and β, a Dense's kernel and bias; with L1, L2 and L1L2.
/// </summary>
public class RegularizerGradientTests
{
    private static readonly WeightRegularizer Both = WeightRegularizer.L1L2(0.03, 0.05);

    // Every regularizer slot filled, each with another kind and factor, so a gradient mixed up between slots shows.
    internal static ModelSpec RegularizedSpec(CellNormalization? cell = null) => ModelBuilder.Input(3)
        .Lstm(3, returnSequences: true, cellNormalization: cell, kernelRegularizer: WeightRegularizer.L2(0.07), recurrentRegularizer: WeightRegularizer.L1(0.02), biasRegularizer: Both)
        .LayerNorm(gammaRegularizer: WeightRegularizer.L2(0.11), betaRegularizer: WeightRegularizer.L1(0.013))
        .Bidirectional(2, kernelRegularizer: Both, recurrentRegularizer: WeightRegularizer.L2(0.019), biasRegularizer: WeightRegularizer.L1(0.04))
        .Dense(2, kernelRegularizer: WeightRegularizer.L1L2(0.0, 0.09), biasRegularizer: WeightRegularizer.L2(0.3))
        .ToSpec(seed: 5);

    private static (Func<double> Loss, List<CheckedTensor> Analytic) Regularized(ModelSpec spec, bool ragged)
    {
        var harness = new ModelGradientTests.ModelHarness(spec, ragged);
        Sequential<double> model = harness.Model;
        double Loss() => harness.Loss() + model.RegularizationPenalty();
        // AnalyticGradients zeroes the gradients and runs Backward; the penalty's gradient is added after it, as in Fit.
        harness.AnalyticGradients();
        model.AddRegularizationGradients();
        var tensors = new List<CheckedTensor>();
        foreach (NamedParameter<double> p in model.NamedParameters) tensors.Add(new(p.Name, p.Parameter.Value, (double[])p.Parameter.Gradient.Clone()));
        return (Loss, tensors);
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(RegularizedSpec(), false).SetArgDisplayNames("plain cell");
        yield return new TestCaseData(RegularizedSpec(), true).SetArgDisplayNames("plain cell, ragged");
        yield return new TestCaseData(RegularizedSpec(CellNormalization.TfAddons), false).SetArgDisplayNames("tf-addons cell (its γ, β not regularized)");
    }

    [TestCaseSource(nameof(Cases))]
    public void RegularizedModel_Backward_MatchesFiniteDifferences(ModelSpec spec, bool ragged)
    {
        (Func<double> loss, List<CheckedTensor> analytic) = Regularized(spec, ragged);
        Assert.That(spec.Build<double>().Parameters.Count(p => p.Regularizer is not null), Is.EqualTo(13),
            "3 LSTM + 2 LayerNorm + 6 Bidirectional (both directions) + 2 Dense weights regularized");
        GradientChecker.AssertGradientsMatch(loss, analytic);
    }

    [Test]
    public void ThePenalty_MovesTheCheckedLoss_SoTheCheckSeesIt()
    {
        // Without the penalty's gradient the analytic gradient is the data loss's alone: every regularized element but a
        // zero-factor one (none here) must then disagree with the differences of the regularized loss.
        var harness = new ModelGradientTests.ModelHarness(RegularizedSpec(), ragged: false);
        Sequential<double> model = harness.Model;
        List<CheckedTensor> unregularized = harness.AnalyticGradients();
        List<GradientMismatch> mismatches = GradientChecker.FindMismatches(() => harness.Loss() + model.RegularizationPenalty(), unregularized);
        int regularizedValues = model.Parameters.Where(p => p.Regularizer is not null).Sum(p => p.Length);
        Assert.That(mismatches, Has.Count.EqualTo(regularizedValues));
        Assert.That(mismatches.Select(m => m.Name).Distinct(), Is.EquivalentTo(model.NamedParameters.Where(p => p.Parameter.Regularizer is not null).Select(p => p.Name)));
    }

    // (R2) with one term wrong: 2·l2 taken as l2 (the ½·l2·Σw² convention of tf.nn.l2_loss), or the L1 term left out.
    // Every element of every weight whose regularizer has that term must fail, and no other.
    [TestCase("l2 without its 2")]
    [TestCase("l1 term left out")]
    public void AWrongRegularizerGradient_FailsExactlyTheElementsWithThatTerm(string broken)
    {
        var harness = new ModelGradientTests.ModelHarness(RegularizedSpec(), ragged: false);
        Sequential<double> model = harness.Model;
        List<CheckedTensor> tensors = harness.AnalyticGradients();
        var expected = new HashSet<string>();
        foreach (NamedParameter<double> named in model.NamedParameters)
        {
            if (named.Parameter.Regularizer is not { } r) continue;
            CheckedTensor tensor = tensors.Single(t => t.Name == named.Name);
            double l1 = broken == "l1 term left out" ? 0 : r.L1Factor, twoL2 = broken == "l2 without its 2" ? r.L2Factor : 2 * r.L2Factor;
            for (int k = 0; k < tensor.Values.Length; k++) tensor.Analytic[k] += l1 * Math.Sign(tensor.Values[k]) + twoL2 * tensor.Values[k];
            if (broken == "l2 without its 2" ? r.L2Factor != 0 : r.L1Factor != 0) expected.Add(named.Name);
        }
        List<GradientMismatch> mismatches = GradientChecker.FindMismatches(() => harness.Loss() + model.RegularizationPenalty(), tensors);
        Assert.That(mismatches.Select(m => m.Name).Distinct(), Is.EquivalentTo(expected));
        Assert.That(mismatches, Has.Count.EqualTo(model.NamedParameters.Where(p => expected.Contains(p.Name)).Sum(p => p.Parameter.Length)));
    }
}
