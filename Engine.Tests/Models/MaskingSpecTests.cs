using System.Text.Json.Nodes;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Models;

/// <summary>The Masking layer through the builder, the spec JSON, spec validation, ModelSpecOf, Summary and the model
/// file.</summary>
public class MaskingSpecTests
{
    /// <summary>A Masking with Keras' default 0.0 first, and one of -1.5 between the LSTMs.</summary>
    private static ModelSpec Spec(int seed = 5) => ModelBuilder.Input(3)
        .Masking().Lstm(4, returnSequences: true).Masking(-1.5, name: "pad").Lstm(3).Dense(2)
        .ToSpec(seed);

    private static string Json(params string[] layers)
        => $$"""{"version": 1, "input_features": 3, "layers": [{{string.Join(", ", layers)}}]}""";

    [Test]
    public void Builder_Spec_Json_AndDescribe_AgreeOnTypeMaskValueAndNames()
    {
        ModelSpec spec = Spec();
        Sequential<float> model = spec.Build<float>();
        Assert.That(model.Layers.Select(l => l.Name), Is.EqualTo(new[] { "masking_1", "lstm_1", "pad", "lstm_2", "dense_1" }));
        Assert.That(model.Layers.OfType<Masking<float>>().Select(m => m.MaskValue), Is.EqualTo(new[] { 0.0, -1.5 }));
        Assert.That(model.ParameterCount, Is.EqualTo(spec.ParameterCount()), "masking layers hold no parameters");
        Assert.That(model.ParameterCount, Is.EqualTo(ModelBuilder.Input(3).Lstm(4, returnSequences: true).Lstm(3).Dense(2).ToSpec().ParameterCount()));
        Assert.That(model.OutputShape, Is.EqualTo(LayerShape.Vector(2)));

        string json = spec.ToJson();
        Assert.That(ModelSpec.FromJson(json).ToJson(), Is.EqualTo(json));
        Assert.That(ModelSpec.FromJson(json).Layers, Is.EqualTo(spec.Layers), "the layer records, mask values included");
        Assert.That(ModelSpecOf.Describe(model).ToJson(), Is.EqualTo(spec.WithLayerNames().ToJson()));
        Assert.That(model.Summary(), Does.Contain("masking_1 (Masking)").And.Contain("pad (Masking)"));
    }

    [Test]
    public void MaskValue_IsWrittenOnlyWhenNonZero_AndReadBackExactly()
    {
        JsonArray layers = JsonNode.Parse(Spec().ToJson())!["layers"]!.AsArray();
        Assert.That(layers[0]!["type"]!.GetValue<string>(), Is.EqualTo("masking"));
        Assert.That(layers[0]!.AsObject().ContainsKey("mask_value"), Is.False, "Keras' default 0 is left out");
        Assert.That(layers[2]!["mask_value"]!.GetValue<double>(), Is.EqualTo(-1.5));
        Assert.That(layers.Where((_, k) => k != 2).Any(l => l!.AsObject().ContainsKey("mask_value")), Is.False, "no other layer writes it");
        Assert.That(ModelBuilder.Input(3).Lstm(4).Dense(2).ToSpec().ToJson(), Does.Not.Contain("mask_value"),
            "specs without Masking read and write as before");

        ModelSpec read = ModelSpec.FromJson(Json("""{"type": "masking", "mask_value": -1.5}""", """{"type": "lstm", "units": 2}"""));
        Assert.That(read.Layers[0].MaskValue, Is.EqualTo(-1.5));
        Assert.That(ModelSpec.FromJson(Json("""{"type": "masking", "mask_value": 0.1}""", """{"type": "lstm", "units": 2}""")).Layers[0].MaskValue,
            Is.EqualTo(0.1), "the double, not rounded to float");
        Assert.That(ModelSpec.FromJson(Json("""{"type": "masking"}""", """{"type": "lstm", "units": 2}""")).Layers[0].MaskValue, Is.Zero, "a left-out mask_value is 0");
    }

    [TestCase("""{"type": "dense", "units": 2, "mask_value": 1}""", "layers[0].mask_value is a masking layer's field; a dense layer takes none (got 1)")]
    [TestCase("""{"type": "dropout", "rate": 0.5, "mask_value": -1.5}""", "layers[0].mask_value is a masking layer's field; a dropout layer takes none (got -1.5)")]
    [TestCase("""{"type": "lstm", "units": 2, "mask_value": 2}""", "layers[0].mask_value is a masking layer's field; a lstm layer takes none (got 2)")]
    public void AMaskValueOnAnotherLayerType_IsRefused_NamingTheField(string layer, string message)
    {
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(Json(layer), "m.json"))!;
        Assert.That(e.Message, Does.Contain("m.json").And.Contain(message));
    }

    [TestCase("\"mask_value\": 1e400", "layers[0].mask_value must be finite, also when rounded to float (and nonzero there unless 0), got Infinity")]
    [TestCase("\"mask_value\": -1e400", "layers[0].mask_value must be finite, also when rounded to float (and nonzero there unless 0), got -Infinity")]
    [TestCase("\"mask_value\": 1e308", "layers[0].mask_value must be finite, also when rounded to float (and nonzero there unless 0), got 1E+308")]
    [TestCase("\"mask_value\": 1e-46", "layers[0].mask_value must be finite, also when rounded to float (and nonzero there unless 0), got 1E-46")]
    [TestCase("\"mask_value\": \"0\"", "invalid JSON")]
    [TestCase("\"mask_value\": null", "invalid JSON")]
    [TestCase("\"mask_value\": 0, \"mask_value\": -1", "invalid JSON")]
    public void HostileMaskValues_AreRefusedNamingTheField(string field, string message)
    {
        string json = Json($$"""{"type": "masking", {{field}}}""", """{"type": "lstm", "units": 2}""");
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json, "m.json"))!;
        Assert.That(e.Message, Does.Contain("m.json").And.Contain(message));
    }

    [TestCase(double.NaN, "NaN")]
    [TestCase(double.PositiveInfinity, "Infinity")]
    [TestCase(double.NegativeInfinity, "-Infinity")]
    public void NonFiniteMaskValues_AreRefused_BySpecValidation_TheBuilder_AndTheLayer(double maskValue, string shown)
    {
        // JSON holds no NaN; a spec made in code can.
        var spec = new ModelSpec { InputFeatures = 3, Layers = [LayerSpec.Masking() with { MaskValue = maskValue }, LayerSpec.Lstm(2)] };
        var e = Assert.Throws<FormatException>(() => spec.Validate("s"))!;
        Assert.That(e.Message, Is.EqualTo($"Model spec 's': layers[0].mask_value must be finite, also when rounded to float (and nonzero there unless 0), got {shown}."));

        var builder = Assert.Throws<ArgumentOutOfRangeException>(() => ModelBuilder.Input(3).Masking(maskValue))!;
        Assert.That(builder.ParamName, Is.EqualTo("maskValue"));
        Assert.That(builder.Message, Does.Contain($"got {shown}"));
        var layer = Assert.Throws<ArgumentOutOfRangeException>(() => new Masking<double>(maskValue))!;
        Assert.That(layer.ParamName, Is.EqualTo("maskValue"));
        var built = Assert.Throws<ArgumentOutOfRangeException>(() => spec.Build<float>())!;
        Assert.That(built.ParamName, Is.EqualTo("maskValue"), "Build without Validate still refuses, at the layer");
    }

    [Test]
    public void MaskingAfterAVector_IsRefused_ByTheSpec_AndBySequential()
    {
        ModelSpec spec = ModelBuilder.Input(3).Lstm(4).Masking().Dense(2).ToSpec();
        var e = Assert.Throws<FormatException>(() => spec.Validate())!;
        Assert.That(e.Message, Is.EqualTo("Model spec: layers[1] (masking) needs a sequence input, but layers[0] returns a vector (set return_sequences: true on it; Masking masks time steps)."));
        // The layer named is the recurrent one that returned the vector, not the LayerNorm or Dropout between.
        var between = Assert.Throws<FormatException>(() => ModelBuilder.Input(3).Lstm(4).LayerNorm().Dropout(0.1).Masking().ToSpec().Validate())!;
        Assert.That(between.Message, Does.Contain("layers[3] (masking) needs a sequence input, but layers[0] returns a vector"));
        var lstmAfter = Assert.Throws<FormatException>(() => ModelBuilder.Input(3).Bidirectional(4).LayerNorm().Lstm(2).ToSpec().Validate())!;
        Assert.That(lstmAfter.Message, Does.Contain("layers[2] (lstm) needs a sequence input, but layers[0] returns a vector (set return_sequences: true on it)"));
        var fromJson = Assert.Throws<FormatException>(() => ModelSpec.FromJson(spec.ToJson(), "m.json"))!;
        Assert.That(fromJson.Message, Does.StartWith("Model spec 'm.json': layers[1] (masking) needs a sequence input"));

        var direct = Assert.Throws<ArgumentException>(() => new Sequential<double>(3, [new Lstm<double>(4), new Masking<double>()]))!;
        Assert.That(direct.Message, Does.Contain("Masking 'masking' needs a sequence input [B, T, F], got a vector"));
        Assert.That(ModelBuilder.Input(3).Lstm(4, returnSequences: true).Masking().Lstm(2).ToSpec().Build<double>().Layers[1], Is.InstanceOf<Masking<double>>(),
            "after a sequence it builds");
    }

    [Test]
    public void ModelFile_SavesTheSpecAndNoTensor_AndLoadsTheSameModel()
    {
        string folder = Path.Combine(Path.GetTempPath(), "numlstm-masking-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            Sequential<float> model = Spec().Build<float>();
            string path = Path.Combine(folder, "m.safetensors");
            ModelFile.Save(model, path);
            SafeTensorsContent content = SafeTensorsFile.Read(path);
            Assert.That(content.Tensors.Keys.Where(k => k.StartsWith("masking_1.", StringComparison.Ordinal) || k.StartsWith("pad.", StringComparison.Ordinal)), Is.Empty);
            Assert.That(content.Tensors.Keys.Order(StringComparer.Ordinal),
                Is.EqualTo(ModelFile.ToStateDict(ModelBuilder.Input(3).Lstm(4, returnSequences: true).Lstm(3).Dense(2).Build<float>()).Select(t => t.Name).Order(StringComparer.Ordinal)),
                "the same tensors as the model without its Masking layers");
            Assert.That(content.Metadata[ModelFile.SpecKey], Does.Contain("\"type\": \"masking\"").And.Contain("\"mask_value\": -1.5"));
            Sequential<float> loaded = ModelFile.Load<float>(path);
            Assert.That(ModelSpecOf.Describe(loaded).ToJson(), Is.EqualTo(ModelSpecOf.Describe(model).ToJson()));

            // Sample 0 padded with 0 at its last two steps (the first Masking masks them), sample 1 kept whole.
            const int b = 2, t = 5, f = 3;
            float[] x = Enumerable.Range(0, b * t * f).Select(k => (float)Math.Sin(k + 1)).ToArray();
            x.AsSpan(3 * f, 2 * f).Clear();
            float[] Run(Sequential<float> m, float[] input) => m.Forward(new SequenceBatch<float>(input, b, t, default), m.CreateCache(), ForwardContext.Inference).ToArray();
            Assert.That(Run(loaded, x), Is.EqualTo(Run(model, x)));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
