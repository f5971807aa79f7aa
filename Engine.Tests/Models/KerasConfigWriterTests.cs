using System.Text.Json.Nodes;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Tests.IO;

namespace NumLstm.Tests.Models;

/// <summary>
/// <see cref="ModelSpec.ToKerasJson"/> writes what Keras 3 writes: for the configs in KerasFixtures (Keras 3's own
/// to_json form, field by field) it gives the same JSON tree, and every spec reads back to itself.
/// </summary>
public sealed class KerasConfigWriterTests
{
    private static JsonNode WithoutCompileConfig(string json)
    {
        JsonObject root = JsonNode.Parse(json)!.AsObject();
        root.Remove("compile_config");
        return root;
    }

    [TestCase(KerasFixtures.MissionKeras3, 50, TestName = "TheMissionModel_IsWrittenAsKeras3WritesIt")]
    [TestCase(KerasFixtures.MaskedLstmKeras3, 50, TestName = "AMaskedLstmModel_IsWrittenAsKeras3WritesIt")]
    public void AKeras3Config_ReadThenWritten_IsTheSameJsonTree(string keras, int timeSteps)
    {
        ModelSpec spec = ModelSpec.FromKerasJson(keras);
        JsonNode written = JsonNode.Parse(spec.ToKerasJson(timeSteps))!;
        JsonNode expected = WithoutCompileConfig(keras);
        Assert.That(JsonNode.DeepEquals(written, expected), Is.True, $"written:\n{written.ToJsonString()}\nexpected:\n{expected.ToJsonString()}");
    }

    [TestCase(1.0, "1.0")]
    [TestCase(0.0, "0.0")]
    [TestCase(-0.0, "-0.0")]
    [TestCase(0.4, "0.4")]
    [TestCase(0.001, "0.001")]
    [TestCase(0.0001, "0.0001")]
    [TestCase(1e-05, "1e-05")]
    [TestCase(1.5e-07, "1.5e-07")]
    [TestCase(-1.5, "-1.5")]
    [TestCase(123.25, "123.25")]
    [TestCase(1e15, "1000000000000000.0")]
    [TestCase(1e16, "1e+16")]
    [TestCase(1.2345e100, "1.2345e+100")]
    [TestCase(0.0010000000474974513, "0.0010000000474974513")]
    [TestCase(0.1 + 0.2, "0.30000000000000004")]
    public void FloatsAreWrittenAsPythonsReprWritesThem(double value, string python)
    {
        // Python 3: repr(1e15) == '1000000000000000.0', repr(1e16) == '1e+16', repr(1e-05) == '1e-05'.
        Assert.That(KerasConfigWriter.PythonRepr(value), Is.EqualTo(python));
    }

    /// <summary>The number tokens, in order, as the text has them (1.0 is not 1).</summary>
    private static List<string> Numbers(string json) =>
        System.Text.RegularExpressions.Regex.Matches(json, @"(?<=[:\[,]\s*)-?\d[\d.eE+-]*").Select(m => m.Value).ToList();

    [TestCase(KerasFixtures.MissionKeras3, 50)]
    [TestCase(KerasFixtures.MaskedLstmKeras3, 50)]
    public void TheNumbers_AreWrittenAsKerasWritesThem(string keras, int timeSteps)
    {
        string written = ModelSpec.FromKerasJson(keras).ToKerasJson(timeSteps);
        string expected = WithoutCompileConfig(keras).ToJsonString();
        Assert.That(Numbers(written), Is.EqualTo(Numbers(expected)));
        Assert.That(Numbers(written), Does.Contain("1.0"), "a float that is whole, as Python writes it");
    }

    [TestCase("seed_small.config.json")]
    [TestCase("mixed.config.json")]
    public void TheFixtureConfigs_ReadThenWritten_AreTheSameJsonTree(string name)
    {
        string keras = File.ReadAllText(KerasFileTests<float>.Fixture(name));
        JsonNode expected = WithoutCompileConfig(keras);
        int? time = expected["config"]!["layers"]![0]!["config"]!["batch_shape"]![1]?.GetValue<int>();
        JsonNode written = JsonNode.Parse(ModelSpec.FromKerasJson(keras).ToKerasJson(time))!;
        Assert.That(JsonNode.DeepEquals(written, expected), Is.True, $"written:\n{written.ToJsonString()}\nexpected:\n{expected.ToJsonString()}");
    }

    public static IEnumerable<ModelBuilder> Specs()
    {
        yield return ModelBuilder.Input(32).Bidirectional(100, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4).LayerNorm()
            .Bidirectional(200, dropout: 0.4, recurrentDropout: 0.4).LayerNorm().Dense(2);
        yield return ModelBuilder.Input(3).Masking(-1.5).Lstm(4, returnSequences: true, goBackwards: true, zeroOutputForMask: true).Dropout(0.25)
            .Bidirectional(3, returnSequences: true, merge: MergeMode.Sum).LayerNorm(epsilon: 1e-5, center: false)
            .Bidirectional(2, merge: MergeMode.Ave).LayerNorm(scale: false).Dense(3, Activation.Relu, useBias: false).Dense(2, Activation.Softmax);
        yield return ModelBuilder.Input(5).Bidirectional(2, merge: MergeMode.Mul).Dense(1, Activation.Sigmoid, name: "out");
    }

    [TestCaseSource(nameof(Specs))]
    public void EverySpec_WrittenThenRead_IsItself(ModelBuilder builder)
    {
        ModelSpec spec = builder.ToSpec(seed: 3);
        Sequential<float> built = spec.Build<float>();
        ModelSpec named = ModelSpecOf.Describe(built);
        ModelSpec read = ModelSpec.FromKerasJson(named.ToKerasJson(), seed: 3);
        Assert.That(read.ToJson(), Is.EqualTo(named.ToJson()));
        ModelSpec read64 = ModelSpec.FromKerasJson(named.ToKerasJson(7, "float64"), seed: 3);
        Assert.That(read64.ToJson(), Is.EqualTo(named.ToJson()));
    }

    [Test]
    public void AnInCellModel_OrAnotherDtype_IsRefused()
    {
        ModelSpec inCell = ModelBuilder.Input(3).Lstm(4, cellNormalization: CellNormalization.KerasGates).Dense(1).ToSpec();
        Assert.That(() => inCell.ToKerasJson(), Throws.ArgumentException.With.Message.Contain("normalizes inside its cell"));
        ModelSpec plain = ModelBuilder.Input(3).Lstm(4).ToSpec();
        Assert.That(() => plain.ToKerasJson(dtype: "bfloat16"), Throws.ArgumentException.With.Message.Contain("float32"));
        Assert.That(() => plain.ToKerasJson(timeSteps: 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
