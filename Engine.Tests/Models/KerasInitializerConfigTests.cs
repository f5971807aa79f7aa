using System.Text.Json.Nodes;
using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.KerasConfigEdits;

namespace NumLstm.Tests.Models;

/// <summary>
/// Keras' initializers in model configs and model specs, read and written: Keras 3 serializes one as
/// <c>{"module": "keras.initializers", "class_name": "HeNormal", "config": {"seed": null}, "registered_name": null}</c>,
/// tf.keras 2 as <c>{"class_name": ..., "config": ...}</c>; initializers.get takes the class names, their snake_case and
/// the aliases (keras/src/initializers/__init__.py); a config value left out is the class's default
/// (random_initializers.py, constant_initializers.py); LSTM's unit_forget_bias composes the bias (layers/rnn/lstm.py).
/// </summary>
public class KerasInitializerConfigTests
{
    private static JsonNode Keras3(string className, string config) => KerasConfigEdits.Keras3("initializers", className, config);

    // The mission model (Input, BiLSTM, LN, BiLSTM, LN, Dense) with an initializer in every slot.
    private static string InitializedKeras3() => Edit(KerasFixtures.MissionKeras3, root =>
    {
        Both(root, 1, "kernel_initializer", Keras3("HeNormal", """{"seed": null}"""));
        Both(root, 1, "recurrent_initializer", Keras3("Orthogonal", """{"gain": 0.5, "seed": 42}"""));
        Both(root, 1, "bias_initializer", Keras3("Constant", """{"value": 0.1}"""));
        Both(root, 1, "unit_forget_bias", false);
        Both(root, 3, "kernel_initializer", Keras3("VarianceScaling", """{"scale": 2.0, "mode": "fan_out", "distribution": "uniform", "seed": null}"""));
        Both(root, 3, "bias_initializer", Keras3("RandomUniform", """{"minval": -0.1, "maxval": 0.2, "seed": 1}"""));
        Layer(root, 2)["gamma_initializer"] = Keras3("RandomNormal", """{"mean": 1.0, "stddev": 0.02, "seed": null}""");
        Layer(root, 2)["beta_initializer"] = Keras3("Ones", "{}");
        Layer(root, 4)["beta_initializer"] = Keras3("TruncatedNormal", """{"mean": 0.0, "stddev": 0.01, "seed": null}""");
        Layer(root, 5)["kernel_initializer"] = Keras3("IdentityInitializer", """{"gain": 2.0}""");
        Layer(root, 5)["bias_initializer"] = Keras3("Constant", """{"value": -1}""");
    });

    [Test]
    public void Keras3Initializers_AreRead_IntoTheSpecsSlots()
    {
        ModelSpec spec = KerasConfig.ToSpec(InitializedKeras3());
        LayerSpec first = spec.Layers[0], norm = spec.Layers[1], second = spec.Layers[2], lastNorm = spec.Layers[3], dense = spec.Layers[4];
        Assert.That(first.KernelInitializer, Is.EqualTo(WeightInitializer.HeNormal()));
        Assert.That(first.RecurrentInitializer, Is.EqualTo(WeightInitializer.Orthogonal(0.5)), "the seed is read and not carried");
        Assert.That(first.BiasInitializer, Is.EqualTo(WeightInitializer.Constant(0.1)));
        Assert.That(first.UnitForgetBias, Is.False);
        Assert.That(second.KernelInitializer, Is.EqualTo(WeightInitializer.VarianceScaling(2, FanMode.FanOut, InitializerDistribution.Uniform)));
        Assert.That(second.RecurrentInitializer, Is.Null, "the default orthogonal");
        Assert.That(second.BiasInitializer, Is.EqualTo(WeightInitializer.RandomUniform(-0.1, 0.2)));
        Assert.That(second.UnitForgetBias, Is.True);
        Assert.That(norm.GammaInitializer, Is.EqualTo(WeightInitializer.RandomNormal(1, 0.02)));
        Assert.That(norm.BetaInitializer, Is.EqualTo(WeightInitializer.Ones()));
        Assert.That(lastNorm.GammaInitializer, Is.Null);
        Assert.That(lastNorm.BetaInitializer, Is.EqualTo(WeightInitializer.TruncatedNormal(0, 0.01)));
        Assert.That(dense.KernelInitializer, Is.EqualTo(WeightInitializer.Identity(2)));
        Assert.That(dense.BiasInitializer, Is.EqualTo(WeightInitializer.Constant(-1)));

        Sequential<float> model = spec.Build<float>();
        Assert.That(((Dense<float>)model.Layers[4]).Bias!.Value, Is.All.EqualTo(-1f));
        Assert.That(((Bidirectional<float>)model.Layers[0]).Backwards.Bias.Value, Is.All.EqualTo(0.1f), "unit_forget_bias false on both directions");
    }

    [Test]
    public void WrittenConfig_ReadsBackToTheSameSpec_AndIsWhatKeras3Writes()
    {
        ModelSpec spec = KerasConfig.ToSpec(InitializedKeras3());
        string written = spec.ToKerasJson();
        Assert.That(KerasConfig.ToSpec(written).ToJson(), Is.EqualTo(spec.ToJson()));
        JsonNode root = JsonNode.Parse(written)!;
        JsonNode lstm = Layer(root, 1)["layer"]!["config"]!;
        Assert.That(lstm["kernel_initializer"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.initializers","class_name":"HeNormal","config":{"seed":null},"registered_name":null}"""));
        Assert.That(lstm["recurrent_initializer"]!["config"]!.ToJsonString(), Is.EqualTo("""{"gain":0.5,"seed":null}"""));
        Assert.That(lstm["bias_initializer"]!["config"]!.ToJsonString(), Is.EqualTo("""{"value":0.1}"""));
        Assert.That(lstm["unit_forget_bias"]!.GetValue<bool>(), Is.False);
        Assert.That(Layer(root, 3)["layer"]!["config"]!["kernel_initializer"]!["config"]!.ToJsonString(),
            Is.EqualTo("""{"scale":2.0,"mode":"fan_out","distribution":"uniform","seed":null}"""));
        Assert.That(Layer(root, 5)["kernel_initializer"]!["class_name"]!.GetValue<string>(), Is.EqualTo("Identity"));
        Assert.That(Layer(root, 5)["bias_initializer"]!["config"]!.ToJsonString(), Is.EqualTo("""{"value":-1.0}"""));

        // The defaults are written as before: glorot_uniform, orthogonal (gain 1.0), zeros, ones, unit_forget_bias true.
        JsonNode plain = JsonNode.Parse(ModelBuilder.Input(3).Lstm(2, returnSequences: true).LayerNorm().Dense(1).ToSpec().ToKerasJson())!;
        Assert.That(Layer(plain, 1)["recurrent_initializer"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.initializers","class_name":"OrthogonalInitializer","config":{"gain":1.0,"seed":null},"registered_name":null}"""));
        Assert.That(Layer(plain, 1)["unit_forget_bias"]!.GetValue<bool>(), Is.True);
        Assert.That(Layer(plain, 2)["gamma_initializer"]!["class_name"]!.GetValue<string>(), Is.EqualTo("Ones"));
    }

    // Keras 3 serializes Identity under its class name, Identity, in every version (constant_initializers.py: class
    // Identity; keras.initializers.IdentityInitializer is only an export alias), and every Keras 3 version's
    // ALL_OBJECTS_DICT holds "Identity"; versions before the "IdentityInitializer" compatibility alias (those with
    // OrthogonalInitializer as the class) refuse "IdentityInitializer" ("Could not interpret initializer identifier").
    [Test]
    public void WrittenIdentity_IsUnderKeras3sClassName_Identity()
    {
        JsonNode root = JsonNode.Parse(ModelBuilder.Input(3).Dense(3, kernelInitializer: WeightInitializer.Identity(2)).ToSpec().ToKerasJson())!;
        Assert.That(Layer(root, 1)["kernel_initializer"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.initializers","class_name":"Identity","config":{"gain":2.0},"registered_name":null}"""));
    }

    // initializers.get: class names, snake_case and aliases, each with the class's defaults.
    [TestCase("he_uniform", InitializerKind.HeUniform)]
    [TestCase("glorot_normal", InitializerKind.GlorotNormal)]
    [TestCase("lecun_normal", InitializerKind.LecunNormal)]
    [TestCase("LecunUniform", InitializerKind.LecunUniform)]
    [TestCase("normal", InitializerKind.RandomNormal)]
    [TestCase("uniform", InitializerKind.RandomUniform)]
    [TestCase("truncated_normal", InitializerKind.TruncatedNormal)]
    [TestCase("variance_scaling", InitializerKind.VarianceScaling)]
    [TestCase("constant", InitializerKind.Constant)]
    [TestCase("one", InitializerKind.Ones)]
    [TestCase("identity", InitializerKind.Identity)]
    [TestCase("orthogonal_initializer", InitializerKind.Orthogonal)]
    public void InitializerNames_AreKerasInitializersGet(string name, InitializerKind kind)
    {
        ModelSpec spec = KerasConfig.ToSpec(Edit(KerasFixtures.MissionKeras3, root => Layer(root, 5)["kernel_initializer"] = name));
        Assert.That(spec.Layers[4].KernelInitializer, Is.EqualTo(new WeightInitializer(kind)));
    }

    [Test]
    public void MissingConfigValues_TakeKerasDefaults_AndTfKeras2FormsAreRead()
    {
        string json = Edit(KerasFixtures.MissionKeras2, root =>
        {
            Layer(root, 5)["kernel_initializer"] = JsonNode.Parse("""{"class_name": "VarianceScaling", "config": {"distribution": "Normal"}}""");
            Layer(root, 5)["bias_initializer"] = JsonNode.Parse("""{"class_name": "RandomNormal", "config": {"seed": 3}}""");
            Layer(root, 2)["gamma_initializer"] = JsonNode.Parse("""{"class_name": "Constant"}""");
        });
        ModelSpec spec = KerasConfig.ToSpec(json);
        // VarianceScaling() is (1, fan_in, truncated_normal); Keras lowercases the distribution and reads "normal" as truncated.
        Assert.That(spec.Layers[4].KernelInitializer, Is.EqualTo(WeightInitializer.VarianceScaling()));
        Assert.That(spec.Layers[4].BiasInitializer, Is.EqualTo(WeightInitializer.RandomNormal(0, 0.05)));
        Assert.That(spec.Layers[1].GammaInitializer, Is.EqualTo(WeightInitializer.Constant(0)));
    }

    [Test]
    public void ASharedInitializer_WithItsSharedObjectId_IsRead()
    {
        JsonNode he = Keras3("HeNormal", """{"seed": 7}""");
        he["shared_object_id"] = 140245071931856;
        ModelSpec spec = KerasConfig.ToSpec(Edit(KerasFixtures.MissionKeras3, root => { Both(root, 1, "kernel_initializer", he); Layer(root, 5)["kernel_initializer"] = he.DeepClone(); }));
        Assert.That(spec.Layers[0].KernelInitializer, Is.EqualTo(WeightInitializer.HeNormal()));
        Assert.That(spec.Layers[4].KernelInitializer, Is.EqualTo(WeightInitializer.HeNormal()));
    }

    // RandomInitializer.__init__ (random_initializers.py) takes a seed that is an int, None, a SeedGenerator or a dict
    // (deserialized); get_config writes serialize_keras_object(seed), so an initializer seeded with
    // keras.random.SeedGenerator(1337) is saved with the generator's config (seed_generator.py: {"seed": 1337}).
    [Test]
    public void ASeedGeneratorSeed_IsRead_AndNotCarried()
    {
        JsonNode he = Keras3("HeNormal", """{"seed": {"module": "keras.random", "class_name": "SeedGenerator", "config": {"seed": 1337}, "registered_name": null}}""");
        ModelSpec spec = KerasConfig.ToSpec(Edit(KerasFixtures.MissionKeras3, root => Layer(root, 5)["kernel_initializer"] = he));
        Assert.That(spec.Layers[4].KernelInitializer, Is.EqualTo(WeightInitializer.HeNormal()));
    }

    public static IEnumerable<TestCaseData> Refusals()
    {
        const string dense = "config.layers[5].config.";
        TestCaseData Case(string name, string key, JsonNode value, string path, string message)
            => new TestCaseData(Edit(KerasFixtures.MissionKeras3, root => Layer(root, 5)[key] = value), path, message).SetName("RefusedInitializer_" + name);
        yield return Case("UnknownClass", "kernel_initializer", Keras3("STFT", """{"side": "real"}"""), dense + "kernel_initializer.class_name", "'STFT' not supported");
        yield return Case("UnknownKey", "kernel_initializer", Keras3("RandomNormal", """{"mean": 0.0, "scale": 1.0}"""), dense + "kernel_initializer.config.scale", "is not a field NumLstm knows here");
        yield return Case("PresetWithScale", "kernel_initializer", Keras3("HeNormal", """{"scale": 2.0}"""), dense + "kernel_initializer.config.scale", "is not a field NumLstm knows here");
        yield return Case("Scale0", "kernel_initializer", Keras3("VarianceScaling", """{"scale": 0.0}"""), dense + "kernel_initializer.config.scale", "0.0 not supported: VarianceScaling's scale must be > 0 (Keras raises");
        yield return Case("BadMode", "kernel_initializer", Keras3("VarianceScaling", """{"mode": "FAN_IN"}"""), dense + "kernel_initializer.config.mode", "'FAN_IN' not supported: Keras raises");
        yield return Case("BadDistribution", "kernel_initializer", Keras3("VarianceScaling", """{"distribution": "gamma"}"""), dense + "kernel_initializer.config.distribution", "'gamma' not supported: Keras raises");
        yield return Case("NegativeStddev", "bias_initializer", Keras3("TruncatedNormal", """{"stddev": -1.0}"""), dense + "bias_initializer.config.stddev", "-1.0 not supported: a stddev must be ≥ 0");
        yield return Case("MinAboveMax", "bias_initializer", Keras3("RandomUniform", """{"minval": 0.5, "maxval": 0.1}"""), dense + "bias_initializer.config.minval", "minval must be ≤ maxval");
        yield return Case("ConstantList", "bias_initializer", Keras3("Constant", """{"value": [1, 2]}"""), dense + "bias_initializer.config.value", "must be a finite number, got a list of 2");
        yield return Case("ConstantHuge", "bias_initializer", Keras3("Constant", """{"value": 1e39}"""), dense + "bias_initializer.config.value", "finite, also in float");
        yield return Case("OrthogonalBias", "bias_initializer", "orthogonal", dense + "bias_initializer", "Orthogonal(gain=1) not supported on this 1-D weight (Keras raises");
        yield return Case("CustomModule", "kernel_initializer", JsonNode.Parse("""{"module": "my.inits", "class_name": "HeNormal", "config": {}, "registered_name": "Mine"}""")!,
            dense + "kernel_initializer.module", "'my.inits' is not a Keras module");
        yield return Case("SeedString", "kernel_initializer", Keras3("GlorotNormal", """{"seed": "x"}"""), dense + "kernel_initializer.config.seed", "must be an integer or null");
        // No Keras 3 version's ALL_OBJECTS_DICT holds "identity_initializer": the class is Identity (snake_case
        // "identity"), and the "IdentityInitializer" alias is not snake-cased.
        yield return Case("IdentityInitializerSnakeCase", "kernel_initializer", "identity_initializer", dense + "kernel_initializer",
            "'identity_initializer' not supported");
        yield return Case("SeedGeneratorSeedString", "kernel_initializer",
            Keras3("GlorotNormal", """{"seed": {"module": "keras.random", "class_name": "SeedGenerator", "config": {"seed": "x"}, "registered_name": null}}"""),
            dense + "kernel_initializer.config.seed.config.seed", "must be an integer or null");
        yield return Case("SeedOtherObject", "kernel_initializer",
            Keras3("GlorotNormal", """{"seed": {"module": "keras.random", "class_name": "Generator", "config": {}, "registered_name": null}}"""),
            dense + "kernel_initializer.config.seed.class_name", "'Generator' not supported");
        yield return Case("Null", "kernel_initializer", JsonValue.Create((string?)null)!, dense + "kernel_initializer", "null not supported");
    }

    [TestCaseSource(nameof(Refusals))]
    public void Refused_WithTheJsonPath(string json, string path, string message)
    {
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(json))!;
        Assert.That(e.Message, Does.StartWith($"Keras config: {path}: "));
        Assert.That(e.Message, Does.Contain(message));
    }

    // ------------------------------------------------------------------------------------------------ model spec JSON

    private static ModelSpec Everything() => ModelBuilder.Input(4)
        .Bidirectional(3, returnSequences: true, kernelInitializer: WeightInitializer.HeUniform(), recurrentInitializer: WeightInitializer.Orthogonal(1.5),
            biasInitializer: WeightInitializer.TruncatedNormal(0.1, 0.02), unitForgetBias: false)
        .LayerNorm(gammaInitializer: WeightInitializer.Constant(0.5), betaInitializer: WeightInitializer.RandomUniform(-0.01, 0.01))
        .Lstm(2, kernelInitializer: WeightInitializer.VarianceScaling(0.5, FanMode.FanAvg, InitializerDistribution.UntruncatedNormal))
        .Dense(2, kernelInitializer: WeightInitializer.Identity(), biasInitializer: WeightInitializer.RandomNormal(0, 1)).ToSpec(seed: 3);

    [Test]
    public void SpecJson_RoundTrips_WithKerasNames_AndLeavesDefaultsOut()
    {
        ModelSpec spec = Everything();
        string json = spec.ToJson();
        Assert.That(json, Does.Contain("\"kind\": \"he_uniform\""));
        Assert.That(json, Does.Contain("\"unit_forget_bias\": false"));
        Assert.That(json, Does.Contain("\"mode\": \"fan_avg\"").And.Contain("\"distribution\": \"untruncated_normal\"").And.Contain("\"minval\": -0.01"));
        ModelSpec back = ModelSpec.FromJson(json);
        Assert.That(back.ToJson(), Is.EqualTo(json));
        Assert.That(back.Layers[0], Is.EqualTo(spec.Layers[0]));
        Assert.That(NumLstm.Tests.Layers.DefaultWeightsPinTests.Hash(back.Build<double>()), Is.EqualTo(NumLstm.Tests.Layers.DefaultWeightsPinTests.Hash(spec.Build<double>())));
        Assert.That(ModelSpecOf.Describe(spec.Build<float>()).ToJson(), Is.EqualTo(spec.WithLayerNames().ToJson()), "Describe gives the initializers back");

        string plain = ModelBuilder.Input(4).Bidirectional(3).Dense(1).ToSpec().ToJson();
        Assert.That(plain, Does.Not.Contain("initializer").And.Not.Contain("unit_forget_bias"));
        // A spec naming a value left out takes the kind's Keras default; unit_forget_bias true written out is the default.
        ModelSpec read = ModelSpec.FromJson(plain.Replace("\"units\": 1,", "\"units\": 1, \"kernel_initializer\": {\"kind\": \"random_uniform\", \"maxval\": 0.5},")
            .Replace("\"units\": 3,", "\"units\": 3, \"unit_forget_bias\": true,"));
        Assert.That(read.Layers[1].KernelInitializer, Is.EqualTo(WeightInitializer.RandomUniform(-0.05, 0.5)));
        Assert.That(read.Layers[0].UnitForgetBias, Is.True);
    }

    [TestCase("\"kernel_initializer\": {\"kind\": \"he_normal\", \"gain\": 2}", "has no gain")]
    [TestCase("\"kernel_initializer\": {\"stddev\": 2}", "An initializer needs its")]
    [TestCase("\"kernel_initializer\": {\"kind\": \"variance_scaling\", \"scale\": -1}", "scale must be > 0")]
    [TestCase("\"bias_initializer\": {\"kind\": \"orthogonal\"}", "bias_initializer: Orthogonal(gain=1) needs a 2-D weight")]
    [TestCase("\"gamma_initializer\": {\"kind\": \"ones\"}", "gamma_initializer is taken by layer_norm layers")]
    [TestCase("\"unit_forget_bias\": false", "unit_forget_bias is taken by lstm and bidirectional layers")]
    public void SpecJson_RefusesAMisplacedOrInvalidInitializer(string field, string message)
    {
        string json = ModelBuilder.Input(4).Dense(1).ToSpec().ToJson().Replace("\"units\": 1,", "\"units\": 1, " + field + ",");
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json))!;
        Assert.That(e.Message, Does.Contain(message));
    }
}
