using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// Keras' weight regularizers (keras/src/regularizers/regularizers.py): L1(l1=0.01) is l1·Σ|w|, L2(l2=0.01) is l2·Σw²
/// (a sum, not a mean, with no ½), L1L2(l1=0, l2=0) both; the factors finite and ≥ 0 (validate_float_arg). Known answers
/// worked by hand, and Keras' own test's form (<c>0.1 * np.sum(np.square(value))</c>).
/// </summary>
public class WeightRegularizerTests
{
    [Test]
    public void Penalty_IsKerasSum_KnownAnswers()
    {
        double[] w = [1, -2, 0, 3];
        Assert.That(WeightRegularizer.L2().Penalty<double>(w), Is.EqualTo(0.01 * 14).Within(1e-15), "L2 default 0.01: 0.01·(1 + 4 + 0 + 9)");
        Assert.That(WeightRegularizer.L1().Penalty<double>(w), Is.EqualTo(0.01 * 6).Within(1e-15), "L1 default 0.01: 0.01·(1 + 2 + 0 + 3)");
        Assert.That(WeightRegularizer.L1L2(0.1, 0.2).Penalty<double>(w), Is.EqualTo(0.6 + 2.8).Within(1e-14));
        Assert.That(WeightRegularizer.L1L2().Penalty<double>(w), Is.EqualTo(0.0), "L1L2's defaults are 0 and 0");
        float[] values = [0.5f, -0.25f, 2f];
        Assert.That(WeightRegularizer.L2(0.1).Penalty<float>(values), Is.EqualTo(0.1 * (0.25 + 0.0625 + 4)).Within(1e-15), "Keras' test: 0.1 * np.sum(np.square(value))");
    }

    [Test]
    public void Gradient_IsL1SignPlusTwoL2W_ZeroSignAtZero_AndAccumulates()
    {
        double[] w = [1, -2, 0, 3, -0.0];
        double[] gradient = [10, 10, 10, 10, 10];
        WeightRegularizer.L1L2(0.1, 0.2).AddGradient<double>(w, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 10 + 0.1 + 0.4, 10 - 0.1 - 0.8, 10.0, 10 + 0.1 + 1.2, 10.0 }).Within(1e-14));
        float[] nan = [float.NaN];
        float[] nanGradient = [0f];
        WeightRegularizer.L1(0.5).AddGradient<float>(nan, nanGradient);
        Assert.That(float.IsNaN(nanGradient[0]), Is.True, "sign(NaN) is NaN (and does not throw as T.Sign would)");
        Assert.Throws<ArgumentException>(() => WeightRegularizer.L2().AddGradient<double>(w, new double[3]));
    }

    [TestCase(-0.01)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void Factors_MustBeFiniteAndNonNegative(double factor)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => WeightRegularizer.L2(factor))!;
        Assert.That(e.Message, Does.Contain("must be a finite number ≥ 0"));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightRegularizer.L1(factor));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightRegularizer.L1L2(0.1, factor));
        Assert.That(WeightRegularizer.L2(0).Penalty<double>([3.0]), Is.EqualTo(0.0), "0 is allowed (Keras: an int or float ≥ 0)");
    }

    [Test]
    public void AnL1WithAnL2Factor_OrTheConverse_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => new WeightRegularizer(RegularizerKind.L1, 0.1, 0.2));
        Assert.Throws<ArgumentException>(() => new WeightRegularizer(RegularizerKind.L2, 0.1, 0.2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WeightRegularizer((RegularizerKind)7, 0, 0));
        Assert.That(new WeightRegularizer(RegularizerKind.L1L2, 0.1, 0.2), Is.EqualTo(WeightRegularizer.L1L2(0.1, 0.2)));
    }

    [Test]
    public void Layers_PutTheirRegularizersOnTheRightParameters_BothDirectionsOfABidirectional()
    {
        ModelSpec spec = GradientChecks.RegularizerGradientTests.RegularizedSpec();
        Sequential<float> model = spec.Build<float>();
        Dictionary<string, WeightRegularizer?> byName = model.NamedParameters.ToDictionary(p => p.Name, p => p.Parameter.Regularizer);
        Assert.That(byName["lstm_1.weight_ih"], Is.EqualTo(WeightRegularizer.L2(0.07)));
        Assert.That(byName["lstm_1.weight_hh"], Is.EqualTo(WeightRegularizer.L1(0.02)));
        Assert.That(byName["lstm_1.bias"], Is.EqualTo(WeightRegularizer.L1L2(0.03, 0.05)));
        Assert.That(byName["layer_norm_1.weight"], Is.EqualTo(WeightRegularizer.L2(0.11)));
        Assert.That(byName["layer_norm_1.bias"], Is.EqualTo(WeightRegularizer.L1(0.013)));
        foreach (string suffix in new[] { "", "_reverse" })
        {
            Assert.That(byName["bidirectional_1.weight_ih" + suffix], Is.EqualTo(WeightRegularizer.L1L2(0.03, 0.05)), suffix);
            Assert.That(byName["bidirectional_1.weight_hh" + suffix], Is.EqualTo(WeightRegularizer.L2(0.019)), suffix);
            Assert.That(byName["bidirectional_1.bias" + suffix], Is.EqualTo(WeightRegularizer.L1(0.04)), suffix);
        }
        Assert.That(byName["dense_1.weight"], Is.EqualTo(WeightRegularizer.L1L2(0, 0.09)));
        Assert.That(byName["dense_1.bias"], Is.EqualTo(WeightRegularizer.L2(0.3)));
        Assert.That(byName.Count(p => p.Value is not null), Is.EqualTo(13));

        double expected = model.Parameters.Where(p => p.Regularizer is not null).Sum(p => p.Regularizer!.Penalty<float>(p.Value));
        Assert.That(expected, Is.GreaterThan(0));
        Assert.That(model.RegularizationPenalty(), Is.EqualTo(expected));
        Assert.That(model.HasRegularizers, Is.True);
        Assert.That(ModelBuilder.Input(3).Lstm(2).Dense(1).Build<float>().HasRegularizers, Is.False);
    }

    [Test]
    public void RegularizationPenalty_OverASubset_CountsOnlyThoseParameters()
    {
        Sequential<float> model = GradientChecks.RegularizerGradientTests.RegularizedSpec().Build<float>();
        Parameter<float> dense = model.NamedParameters.Single(p => p.Name == "dense_1.weight").Parameter;
        Assert.That(model.RegularizationPenalty([dense]), Is.EqualTo(dense.Regularizer!.Penalty<float>(dense.Value)));
        Parameter<float> kernel = model.NamedParameters.Single(p => p.Name == "bidirectional_1.weight_ih").Parameter;
        float[] before = (float[])dense.Gradient.Clone();
        model.AddRegularizationGradients([kernel]);
        Assert.That(kernel.Gradient, Has.Some.Not.EqualTo(0f), "the parameter passed gets its penalty's gradient");
        Assert.That(dense.Gradient, Is.EqualTo(before), "a parameter not passed is not touched");
    }

    // ------------------------------------------------------------------ the spec

    [Test]
    public void Spec_RoundTripsThroughJson_AndDescribe()
    {
        ModelSpec spec = GradientChecks.RegularizerGradientTests.RegularizedSpec();
        string json = spec.ToJson();
        Assert.That(json, Does.Contain("\"kernel_regularizer\": {"));
        Assert.That(json, Does.Contain("\"kind\": \"l1_l2\""));
        ModelSpec back = ModelSpec.FromJson(json);
        Assert.That(back.Layers, Is.EqualTo(spec.Layers));
        Sequential<float> model = spec.Build<float>();
        Assert.That(ModelSpecOf.Describe(model).WithLayerNames().Layers, Is.EqualTo(spec.WithLayerNames().Layers));
    }

    [Test]
    public void Spec_WithoutRegularizers_WritesNoRegularizerField()
    {
        // Specs written before regularizers existed are read, and are written again byte for byte (files and the study's identities hold them).
        string json = ModelBuilder.Input(3).Bidirectional(2).LayerNorm().Dense(1).ToSpec().ToJson();
        Assert.That(json, Does.Not.Contain("regularizer"));
    }

    public static IEnumerable<TestCaseData> BadSpecs()
    {
        TestCaseData Case(string name, string layer, string message) => new TestCaseData(layer, message).SetName("Spec_Refuses_" + name);
        yield return Case("RecurrentRegularizerOnDense", """{"type": "dense", "units": 1, "recurrent_regularizer": {"kind": "l2", "l1": 0, "l2": 0.01}}""",
            "layers[0].recurrent_regularizer is taken by lstm and bidirectional layers; a dense layer has no such weight (got L2(l2=0.01))");
        yield return Case("GammaRegularizerOnLstm", """{"type": "lstm", "units": 1, "gamma_regularizer": {"kind": "l1", "l1": 0.01, "l2": 0}}""",
            "layers[0].gamma_regularizer is taken by layer_norm layers; a lstm layer has no such weight");
        yield return Case("KernelRegularizerOnLayerNorm", """{"type": "layer_norm", "kernel_regularizer": {"kind": "l1_l2", "l1": 0.01, "l2": 0}}""",
            "layers[0].kernel_regularizer is taken by lstm, bidirectional and dense layers");
        yield return Case("NegativeFactor", """{"type": "dense", "units": 1, "kernel_regularizer": {"kind": "l2", "l1": 0, "l2": -0.01}}""",
            "l2 factor must be a finite number ≥ 0");
        yield return Case("L2WithL1Factor", """{"type": "dense", "units": 1, "kernel_regularizer": {"kind": "l2", "l1": 0.5, "l2": 0.01}}""",
            "An L2 regularizer has no l1 factor");
        yield return Case("UnknownKind", """{"type": "dense", "units": 1, "kernel_regularizer": {"kind": "orthogonal", "l1": 0, "l2": 0}}""",
            "invalid JSON");
    }

    [TestCaseSource(nameof(BadSpecs))]
    public void BadRegularizerFields_AreFormatExceptions(string layer, string message)
    {
        string json = $$"""{"version": 1, "input_features": 2, "seed": 0, "layers": [{{layer}}]}""";
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json))!;
        Assert.That(e.Message, Does.Contain(message));
    }
}
