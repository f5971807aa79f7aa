using System.Text.Json.Nodes;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Models;

/// <summary>
/// KerasConfig.ToSpec (ModelSpec.FromKerasJson): the project's model from Keras 3 and tf.keras 2 configs, each option
/// it maps, and each option it refuses with the JSON path. The configs are in <see cref="KerasFixtures"/>, and the
/// edits below change one field of them at a time.
/// </summary>
public class KerasConfigTests
{
    /// <summary>The spec the project's Keras model is, written with ModelBuilder and the Keras layer names.</summary>
    private static ModelSpec MissionSpec(int seed) => ModelBuilder.Input(32)
        .Bidirectional(100, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4, name: "bidirectional").LayerNorm(name: "layer_normalization")
        .Bidirectional(200, dropout: 0.4, recurrentDropout: 0.4, name: "bidirectional_1").LayerNorm(name: "layer_normalization_1")
        .Dense(2, name: "dense")
        .ToSpec(seed);

    /// <summary>Keras' own count: an LSTM holds kernel (F, 4H), recurrent_kernel (H, 4H) and bias (4H).</summary>
    private static long KerasLstmParameters(long f, long h) => 4 * (f * h + h * h + h);

    [TestCase(KerasFixtures.MissionKeras3, TestName = "MissionModel_FromKeras3Json_IsTheSpecModelBuilderWrites_AndBuildsWithKerasParameterCount")]
    [TestCase(KerasFixtures.MissionKeras2, TestName = "MissionModel_FromKeras2Json_IsTheSpecModelBuilderWrites_AndBuildsWithKerasParameterCount")]
    public void MissionModel_IsTheSpecModelBuilderWrites(string json)
    {
        ModelSpec spec = ModelSpec.FromKerasJson(json, seed: 42);
        Assert.That(spec.ToJson(), Is.EqualTo(MissionSpec(42).ToJson()));

        Sequential<float> model = spec.Build<float>();
        long keras = 2 * KerasLstmParameters(32, 100) + 2 * 200      // Bidirectional(LSTM(100)) on 32 features, LayerNorm γ β on 200
                   + 2 * KerasLstmParameters(200, 200) + 2 * 400     // Bidirectional(LSTM(200)) on 200, LayerNorm on 400
                   + 400 * 2 + 2;                                    // Dense(2) on 400
        Assert.That(keras, Is.EqualTo(750_002), "Keras' model.summary() total for this model");
        Assert.That(model.ParameterCount, Is.EqualTo(keras));
        Assert.That(model.OutputShape, Is.EqualTo(LayerShape.Vector(2)));
        Assert.That(model.Layers.Select(l => l.Name), Is.EqualTo(new[] { "bidirectional", "layer_normalization", "bidirectional_1", "layer_normalization_1", "dense" }));
        var first = (Bidirectional<float>)model.Layers[0];
        Assert.That(first.Forwards.Dropout, Is.EqualTo(0.4));
        Assert.That(first.Forwards.RecurrentDropout, Is.EqualTo(0.4));
    }

    [Test]
    public void RealKeras2Bidirectional_Reads_AsAConcatBiLstmWithASoftmaxDense()
    {
        ModelSpec spec = KerasConfig.ToSpec(KerasFixtures.Keras2Bidirectional);
        ModelSpec expected = ModelBuilder.Input(1200).Bidirectional(200, returnSequences: true, name: "bidi").Dense(22, Activation.Softmax, name: "dense").ToSpec();
        Assert.That(spec.ToJson(), Is.EqualTo(expected.ToJson()));
        Assert.That(spec.Build<float>().ParameterCount, Is.EqualTo(2 * KerasLstmParameters(1200, 200) + 400 * 22 + 22));
    }

    [Test]
    public void RealKeras3Config_PolitiSense_IsRefusedWhereItLeavesWhatNumLstmImplements()
    {
        // Verbatim: token ids [batch, 50] are no [batch, time, features] sequence.
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(KerasFixtures.PolitiSenseKeras3, source: "politisense.json"))!;
        Assert.That(e.Message, Is.EqualTo("Keras config 'politisense.json': config.layers[0].config.batch_shape: a shape of rank 2 is not supported: a NumLstm model takes [batch, time, features] sequences."));

        // Given a sequence input, the Embedding is the first layer NumLstm has not got.
        string sequenceInput = KerasFixtures.PolitiSenseKeras3.Replace("[null, 50]", "[null, 50, 64]");
        e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(sequenceInput))!;
        Assert.That(e.Message, Does.StartWith("Keras config: config.layers[1].class_name: 'Embedding' is not supported"));

        // Without it, the LSTM's relu.
        JsonNode root = JsonNode.Parse(sequenceInput)!;
        root["config"]!["layers"]!.AsArray().RemoveAt(1);
        e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(root.ToJsonString()))!;
        Assert.That(e.Message, Is.EqualTo("Keras config: config.layers[1].config.activation: 'relu' not supported (NumLstm's LSTM uses tanh)."));

        // With tanh the rest reads: LSTM(32) → Dense(10) → Dense(1, sigmoid), names kept, OrthogonalInitializer taken.
        root["config"]!["layers"]![1]!["config"]!["activation"] = "tanh";
        ModelSpec spec = KerasConfig.ToSpec(root.ToJsonString());
        ModelSpec expected = ModelBuilder.Input(64).Lstm(32, name: "lstm_2").Dense(10, name: "dense_4").Dense(1, Activation.Sigmoid, name: "dense_5").ToSpec();
        Assert.That(spec.ToJson(), Is.EqualTo(expected.ToJson()));
    }

    [Test]
    public void Keras224Config_TakesTheFirstLayersBatchInputShape_AndVarianceScalingAsGlorot_ButRefusesHardSigmoid()
    {
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(KerasFixtures.Keras224HardSigmoid))!;
        Assert.That(e.Message, Does.StartWith("Keras config: config.layers[0].config.layer.config.recurrent_activation: 'hard_sigmoid' not supported"));

        ModelSpec spec = KerasConfig.ToSpec(KerasFixtures.Keras224HardSigmoid.Replace("hard_sigmoid", "sigmoid"));
        Assert.That(spec.ToJson(), Is.EqualTo(ModelBuilder.Input(34).Bidirectional(128, name: "bidirectional_1").Dense(34, name: "dense_1").ToSpec().ToJson()));

        // Another VarianceScaling (here he_uniform's scale 2, fan_in, on the LSTM and Dense kernels) is read as itself.
        string he = KerasFixtures.Keras224HardSigmoid.Replace("hard_sigmoid", "sigmoid").Replace("\"scale\": 1.0, \"mode\": \"fan_avg\"", "\"scale\": 2.0, \"mode\": \"fan_in\"");
        var heUniform = WeightInitializer.VarianceScaling(2, FanMode.FanIn, InitializerDistribution.Uniform);
        Assert.That(KerasConfig.ToSpec(he).ToJson(), Is.EqualTo(ModelBuilder.Input(34).Bidirectional(128, name: "bidirectional_1", kernelInitializer: heUniform)
            .Dense(34, name: "dense_1", kernelInitializer: heUniform).ToSpec().ToJson()));
    }

    /// <summary>
    /// docs/formats.md moves trained Keras weights through the PyTorch names: kernelᵀ as weight_ih_l0, recurrent_kernelᵀ
    /// as weight_hh_l0, the bias as bias_ih_l0 with zero bias_hh_l0, the backward direction with _reverse, gamma and beta
    /// as weight and bias, a Dense kernelᵀ as weight, all under the Keras layer names. Done here in C# on Keras-layout
    /// arrays, the set must load strictly (none missing, none extra) into the imported model, and the model must save
    /// back exactly the tensors it was given.
    /// </summary>
    [Test]
    public void KerasWeights_UnderTheNamesTheDocsGive_LoadIntoTheImportedModel()
    {
        Sequential<float> model = ModelSpec.FromKerasJson(KerasFixtures.MissionKeras3).Build<float>();
        var random = new Random(5);
        var tensors = new Dictionary<string, SafeTensor>();
        float[] Draw(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] Transpose(float[] a, int rows, int cols)   // Keras (rows, cols) → PyTorch [cols, rows]
        {
            var t = new float[a.Length];
            for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
            return t;
        }
        void Add(string name, float[] values, params int[] shape) => tensors[name] = SafeTensor.Create<float>(name, values, shape);
        void Lstm(string n, int f, int h, string suffix)
        {
            Add($"{n}.weight_ih_l0{suffix}", Transpose(Draw(f * 4 * h), f, 4 * h), 4 * h, f);
            Add($"{n}.weight_hh_l0{suffix}", Transpose(Draw(h * 4 * h), h, 4 * h), 4 * h, h);
            Add($"{n}.bias_ih_l0{suffix}", Draw(4 * h), 4 * h);
            Add($"{n}.bias_hh_l0{suffix}", new float[4 * h], 4 * h);
        }
        Lstm("bidirectional", 32, 100, ""); Lstm("bidirectional", 32, 100, "_reverse");
        Add("layer_normalization.weight", Draw(200), 200); Add("layer_normalization.bias", Draw(200), 200);
        Lstm("bidirectional_1", 200, 200, ""); Lstm("bidirectional_1", 200, 200, "_reverse");
        Add("layer_normalization_1.weight", Draw(400), 400); Add("layer_normalization_1.bias", Draw(400), 400);
        Add("dense.weight", Transpose(Draw(400 * 2), 400, 2), 2, 400); Add("dense.bias", Draw(2), 2);

        string path = Path.Combine(Path.GetTempPath(), "numlstm-keras-" + Guid.NewGuid().ToString("N") + ".safetensors");
        string saved = path + ".saved";
        try
        {
            SafeTensorsFile.Write(path, tensors.Values);
            ModelFile.LoadWeights(model, path);
            ModelFile.Save(model, saved);
            IReadOnlyDictionary<string, SafeTensor> back = SafeTensorsFile.Read(saved).Tensors;
            Assert.That(back.Keys.Order(StringComparer.Ordinal), Is.EqualTo(tensors.Keys.Order(StringComparer.Ordinal)));
            foreach (var (name, tensor) in tensors)
                Assert.That(back[name].ToArray<float>(), Is.EqualTo(tensor.ToArray<float>()), name);
        }
        finally
        {
            File.Delete(path);
            File.Delete(saved);
        }
    }

    // ------------------------------------------------------------------------------------------------ mapped options

    /// <summary>The Keras 3 mission config without build configs (as an unbuilt model writes it), edited.</summary>
    private static string Edit3(Action<JsonNode> edit)
    {
        JsonNode root = JsonNode.Parse(KerasFixtures.MissionKeras3)!;
        StripBuildConfigs(root);
        edit(root);
        return root.ToJsonString();
    }

    private static string Edit2(Action<JsonNode> edit)
    {
        JsonNode root = JsonNode.Parse(KerasFixtures.MissionKeras2)!;
        edit(root);
        return root.ToJsonString();
    }

    private static void StripBuildConfigs(JsonNode? node)
    {
        if (node is JsonObject o)
        {
            o.Remove("build_config");
            o.Remove("build_input_shape");
            foreach (var (_, child) in o.ToList()) StripBuildConfigs(child);
        }
        else if (node is JsonArray a) foreach (JsonNode? child in a) StripBuildConfigs(child);
    }

    private static JsonNode Layer(JsonNode root, int k) => root["config"]!["layers"]![k]!["config"]!;

    /// <summary>Sets a field of a Bidirectional's forward and backward LSTM alike (they must mirror each other).</summary>
    private static void Both(JsonNode root, int k, string key, JsonNode? value)
    {
        Layer(root, k)["layer"]!["config"]![key] = value?.DeepClone();
        if (Layer(root, k)["backward_layer"] is { } backward) backward["config"]![key] = value?.DeepClone();
    }

    [TestCase("sum", MergeMode.Sum, 100)]
    [TestCase("mul", MergeMode.Mul, 100)]
    [TestCase("ave", MergeMode.Ave, 100)]
    [TestCase("concat", MergeMode.Concat, 200)]
    public void MergeMode_IsMapped_AndSetsTheNextLayersWidth(string mode, MergeMode expected, int width)
    {
        ModelSpec spec = KerasConfig.ToSpec(Edit3(root => Layer(root, 1)["merge_mode"] = mode));
        Assert.That(spec.Layers[0].Merge, Is.EqualTo(expected));
        Sequential<float> model = spec.Build<float>();
        Assert.That(model.Layers[1].Parameters.Sum(p => p.Value.Length), Is.EqualTo(2 * width), "LayerNorm γ and β over the merged width");
    }

    [Test]
    public void LstmOptions_AreMapped()
    {
        string json = Edit3(root =>
        {
            Both(root, 1, "dropout", 0.25);
            Both(root, 1, "recurrent_dropout", 0.0);
            Both(root, 3, "return_sequences", true);
            Both(root, 3, "zero_output_for_mask", true);
        });
        ModelSpec spec = KerasConfig.ToSpec(json);
        Assert.That(spec.Layers[0].Dropout, Is.EqualTo(0.25));
        Assert.That(spec.Layers[0].RecurrentDropout, Is.EqualTo(0.0));
        Assert.That(spec.Layers[2].ReturnSequences, Is.True);
        Assert.That(spec.Layers[2].ZeroOutputForMask, Is.False, "a Bidirectional sets zero_output_for_mask itself; the spec does not carry it");
        Assert.That(spec.Build<float>().OutputShape, Is.EqualTo(LayerShape.Sequence(2)), "Dense on every step of the sequence");
    }

    [Test]
    public void PlainLstm_MapsGoBackwardsAndZeroOutputForMask()
    {
        // The first Bidirectional replaced by its wrapped LSTM, made to go backwards and output zeros at masked steps.
        string json = Edit3(root =>
        {
            JsonNode lstm = Layer(root, 1)["layer"]!.DeepClone();
            lstm["config"]!["name"] = "lstm";
            lstm["config"]!["go_backwards"] = true;
            lstm["config"]!["zero_output_for_mask"] = true;
            root["config"]!["layers"]![1] = lstm;
        });
        LayerSpec first = KerasConfig.ToSpec(json).Layers[0];
        Assert.That(first.Type, Is.EqualTo("lstm"));
        Assert.That(first.Name, Is.EqualTo("lstm"));
        Assert.That(first.GoBackwards, Is.True);
        Assert.That(first.ZeroOutputForMask, Is.True);
        Assert.That(first.ReturnSequences, Is.True);
        Assert.That(first.Units, Is.EqualTo(100));
    }

    [Test]
    public void LayerNormAndDenseOptions_AreMapped()
    {
        string json = Edit3(root =>
        {
            Layer(root, 2)["epsilon"] = 1e-5;
            Layer(root, 2)["center"] = false;
            Layer(root, 4)["scale"] = false;
            Layer(root, 4)["axis"] = -1;
            Layer(root, 5)["activation"] = "softmax";
            Layer(root, 5)["use_bias"] = false;
        });
        ModelSpec spec = KerasConfig.ToSpec(json);
        Assert.That(spec.Layers[1].Epsilon, Is.EqualTo(1e-5));
        Assert.That(spec.Layers[1].Center, Is.False);
        Assert.That(spec.Layers[1].Scale, Is.True);
        Assert.That(spec.Layers[3].Scale, Is.False);
        Assert.That(spec.Layers[3].Center, Is.True);
        Assert.That(spec.Layers[4].Activation, Is.EqualTo(Activation.Softmax));
        Assert.That(spec.Layers[4].UseBias, Is.False);
    }

    /// <summary>Inserts a Dropout layer at config.layers[k], as Keras 3 (a DTypePolicy, module and registered_name) or tf.keras 2
    /// (a dtype string) writes it, after <paramref name="edit"/> of its config.</summary>
    private static void InsertDropout(JsonNode root, int k, Action<JsonNode>? edit = null, double rate = 0.2, string name = "dropout")
    {
        bool keras3 = root["config"]!["layers"]![0]!["module"] is not null;
        string rateText = rate.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        JsonNode layer = keras3
            ? JsonNode.Parse($$$"""{"module": "keras.layers", "class_name": "Dropout", "config": {"name": "{{{name}}}", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "rate": {{{rateText}}}, "seed": null, "noise_shape": null}, "registered_name": null}""")!
            : JsonNode.Parse($$$"""{"class_name": "Dropout", "config": {"name": "{{{name}}}", "trainable": true, "dtype": "float32", "rate": {{{rateText}}}, "noise_shape": null, "seed": null}}""")!;
        edit?.Invoke(layer["config"]!);
        root["config"]!["layers"]!.AsArray().Insert(k, layer);
    }

    [TestCase(true)]
    [TestCase(false)]
    public void Dropout_IsMapped_FromKeras3AndKeras2_OnSequencesAndVectors(bool keras3)
    {
        // The mission model with Dropout(0.2) after the first LayerNorm (a sequence) and Dropout(0.5, seed=3) after the
        // second (a vector): the spec ModelBuilder writes, the seed read and not carried.
        string json = (keras3 ? Edit3 : (Func<Action<JsonNode>, string>)Edit2)(root =>
        {
            InsertDropout(root, 5, d => d["seed"] = 3, rate: 0.5, name: "dropout_1");
            InsertDropout(root, 3);
        });
        ModelSpec spec = KerasConfig.ToSpec(json, seed: 42);
        ModelSpec expected = ModelBuilder.Input(32)
            .Bidirectional(100, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4, name: "bidirectional").LayerNorm(name: "layer_normalization")
            .Dropout(0.2, name: "dropout")
            .Bidirectional(200, dropout: 0.4, recurrentDropout: 0.4, name: "bidirectional_1").LayerNorm(name: "layer_normalization_1")
            .Dropout(0.5, name: "dropout_1")
            .Dense(2, name: "dense")
            .ToSpec(42);
        Assert.That(spec.ToJson(), Is.EqualTo(expected.ToJson()));
        Assert.That(spec.Build<float>().ParameterCount, Is.EqualTo(750_002), "Keras' count: a Dropout holds no weights");
    }

    [Test]
    public void Dropout_AsTheFirstLayer_GivesTheInputShape_AndRateZeroReads()
    {
        // tf.keras 2 writes the model's batch_input_shape on its first layer, a Dropout too.
        string json = Edit2(root =>
        {
            root["config"]!["layers"]!.AsArray().RemoveAt(0);   // the InputLayer
            root["config"]!["layers"]![0]!["config"]!.AsObject().Remove("batch_input_shape");
            InsertDropout(root, 0, d => { d["batch_input_shape"] = new JsonArray(null, null, 32); d["rate"] = 0; });
        });
        ModelSpec spec = KerasConfig.ToSpec(json);
        Assert.That(spec.InputFeatures, Is.EqualTo(32));
        Assert.That(spec.Layers[0].Type, Is.EqualTo("dropout"));
        Assert.That(spec.Layers[0].Rate, Is.Zero);
    }

    /// <summary>Inserts a Masking layer at config.layers[k], as Keras 3 (a DTypePolicy, module and registered_name) or tf.keras 2
    /// (a dtype string) writes it, with mask_value as the raw JSON <paramref name="maskValue"/>, after <paramref name="edit"/>
    /// of its config.</summary>
    private static void InsertMasking(JsonNode root, int k, Action<JsonNode>? edit = null, string maskValue = "0.0", string name = "masking")
    {
        bool keras3 = root["config"]!["layers"]![0]!["module"] is not null;
        JsonNode layer = keras3
            ? JsonNode.Parse($$$"""{"module": "keras.layers", "class_name": "Masking", "config": {"name": "{{{name}}}", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "mask_value": {{{maskValue}}}}, "registered_name": null}""")!
            : JsonNode.Parse($$$"""{"class_name": "Masking", "config": {"name": "{{{name}}}", "trainable": true, "dtype": "float32", "mask_value": {{{maskValue}}}}}""")!;
        edit?.Invoke(layer["config"]!);
        root["config"]!["layers"]!.AsArray().Insert(k, layer);
    }

    /// <summary>The mission spec with a masking layer of <paramref name="maskValue"/> first.</summary>
    private static ModelSpec MissionSpecMaskedFirst(double maskValue, int seed = 0) => ModelBuilder.Input(32)
        .Masking(maskValue, name: "masking")
        .Bidirectional(100, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4, name: "bidirectional").LayerNorm(name: "layer_normalization")
        .Bidirectional(200, dropout: 0.4, recurrentDropout: 0.4, name: "bidirectional_1").LayerNorm(name: "layer_normalization_1")
        .Dense(2, name: "dense")
        .ToSpec(seed);

    /// <summary>Masking(mask_value=0.0, input_shape=(None, 32)) first, as each writes it: Keras 3 puts the input shape on
    /// the InputLayer Sequential makes of input_shape (batch_shape [null, null, 32]), tf.keras 2 on the Masking itself
    /// (batch_input_shape, no InputLayer).</summary>
    private static string MaskingFirst(bool keras3, string maskValue = "0.0") => keras3
        ? Edit3(root =>
        {
            Layer(root, 0)["batch_shape"] = new JsonArray(null, null, 32);
            InsertMasking(root, 1, maskValue: maskValue);
        })
        : Edit2(root =>
        {
            root["config"]!["layers"]!.AsArray().RemoveAt(0);   // the InputLayer
            InsertMasking(root, 0, d => d["batch_input_shape"] = new JsonArray(null, null, 32), maskValue: maskValue);
        });

    [TestCase(true)]
    [TestCase(false)]
    public void Masking_First_IsMapped_FromKeras3AndKeras2_WithTheInputShape(bool keras3)
    {
        ModelSpec spec = KerasConfig.ToSpec(MaskingFirst(keras3), seed: 42);
        Assert.That(spec.ToJson(), Is.EqualTo(MissionSpecMaskedFirst(0.0, 42).ToJson()));
        Assert.That(spec.Layers[0], Is.EqualTo(LayerSpec.Masking(0.0) with { Name = "masking" }));
        Assert.That(spec.InputFeatures, Is.EqualTo(32), keras3 ? "from the InputLayer" : "from the Masking's batch_input_shape");
        Sequential<float> model = spec.Build<float>();
        Assert.That(model.Layers[0], Is.InstanceOf<Masking<float>>());
        Assert.That(model.ParameterCount, Is.EqualTo(750_002), "Keras' count: a Masking holds no weights");
    }

    [Test]
    public void Masking_FirstInKeras2_DisagreeingWithTheArgument_IsRefusedAtItsBatchInputShape()
    {
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(MaskingFirst(keras3: false), inputFeatures: 16))!;
        Assert.That(e.Message, Is.EqualTo("Keras config: config.layers[0].config.batch_input_shape: says 32 input features, but the inputFeatures argument is 16."));
    }

    [TestCase(true, "-1.0", -1.0)]
    [TestCase(false, "-1.0", -1.0)]
    [TestCase(true, "0", 0.0)]
    [TestCase(false, "0", 0.0)]
    [TestCase(true, "-1", -1.0)]
    [TestCase(true, "2.5e-3", 2.5e-3)]
    public void MaskingValue_IsReadExactly_IntegersToo(bool keras3, string json, double expected)
    {
        ModelSpec spec = KerasConfig.ToSpec(MaskingFirst(keras3, json));
        Assert.That(spec.Layers[0].Type, Is.EqualTo("masking"));
        Assert.That(spec.Layers[0].MaskValue, Is.EqualTo(expected));
        Assert.That(spec.ToJson(), Is.EqualTo(MissionSpecMaskedFirst(expected).ToJson()));
        Assert.That(spec.Build<double>().Layers.OfType<Masking<double>>().Single().MaskValue, Is.EqualTo(expected));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void MaskingValue_Missing_IsKerasDefault0(bool keras3)
    {
        string json = keras3 ? Edit3(r => InsertMasking(r, 1, d => d.AsObject().Remove("mask_value")))
                             : Edit2(r => InsertMasking(r, 1, d => d.AsObject().Remove("mask_value")));
        ModelSpec spec = KerasConfig.ToSpec(json);
        Assert.That(spec.Layers[0], Is.EqualTo(LayerSpec.Masking() with { Name = "masking" }));
    }

    [Test]
    public void Masking_MidModel_AfterAReturnSequencesLstm_IsMapped()
    {
        // The first Bidirectional replaced by its wrapped LSTM (return_sequences true, zero_output_for_mask true, as
        // Keras 3's forward copy writes it), then Masking(-1.0) between it and the LayerNorm.
        string json = Edit3(root =>
        {
            JsonNode lstm = Layer(root, 1)["layer"]!.DeepClone();
            lstm["config"]!["name"] = "lstm";
            root["config"]!["layers"]![1] = lstm;
            InsertMasking(root, 2, maskValue: "-1.0", name: "mask_pad");
        });
        ModelSpec spec = KerasConfig.ToSpec(json, seed: 3);
        ModelSpec expected = ModelBuilder.Input(32)
            .Lstm(100, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4, name: "lstm", zeroOutputForMask: true)
            .Masking(-1.0, name: "mask_pad")
            .LayerNorm(name: "layer_normalization")
            .Bidirectional(200, dropout: 0.4, recurrentDropout: 0.4, name: "bidirectional_1").LayerNorm(name: "layer_normalization_1")
            .Dense(2, name: "dense")
            .ToSpec(3);
        Assert.That(spec.ToJson(), Is.EqualTo(expected.ToJson()));
    }

    [Test]
    public void Masking_KeepsTheShape_TheBuildConfigsAroundItAreCheckedAgainst()
    {
        // The full Keras 3 config (build configs kept) with a built Masking after the first Bidirectional: its input shape
        // is the BiLSTM's [null, 50, 200], and the LayerNorm after it still says [null, 50, 200].
        JsonNode withBuild = JsonNode.Parse(KerasFixtures.MissionKeras3)!;
        InsertMasking(withBuild, 2);
        withBuild["config"]!["layers"]![2]!["build_config"] = JsonNode.Parse("""{"input_shape": [null, 50, 200]}""");
        ModelSpec spec = KerasConfig.ToSpec(withBuild.ToJsonString());
        Assert.That(spec.Layers.Select(l => l.Type), Is.EqualTo(new[] { "bidirectional", "masking", "layer_norm", "bidirectional", "layer_norm", "dense" }));
        Assert.That(spec.Build<float>().ParameterCount, Is.EqualTo(750_002));

        withBuild["config"]!["layers"]![2]!["build_config"] = JsonNode.Parse("""{"input_shape": [null, 50, 100]}""");
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(withBuild.ToJsonString()))!;
        Assert.That(e.Message, Is.EqualTo("Keras config: config.layers[2].build_config.input_shape: a list of 3 does not fit the input this layer gets in NumLstm, [batch, time, 200]."));
    }

    [Test]
    public void ImportedMasking_InDouble_EqualsTheSameModelWithoutIt_GivenTheMaskAndZeroedSteps()
    {
        // The mission model from Keras 3 with Masking(mask_value=-1.0) first, against the same spec without the Masking,
        // the same weights: padding of -1 through the Masking equals zeros with the explicit mask (x·0 at masked steps;
        // both LSTM directions skip them).
        ModelSpec masked = KerasConfig.ToSpec(MaskingFirst(keras3: true, "-1.0"), seed: 11);
        ModelSpec plain = masked with { Layers = masked.Layers.Where(l => l.Type != "masking").ToList() };
        Sequential<double> a = masked.Build<double>(), c = plain.Build<double>();
        var source = a.Parameters.ToList();
        var target = c.Parameters.ToList();
        Assert.That(source, Has.Count.EqualTo(target.Count));
        for (int k = 0; k < source.Count; k++) source[k].Value.AsSpan().CopyTo(target[k].Value);

        const int b = 3, t = 5, f = 32;
        var random = new Random(17);
        double[] padded = Enumerable.Range(0, b * t * f).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        double[] zeroed = (double[])padded.Clone();
        bool[] mask = Enumerable.Repeat(true, b * t).ToArray();
        // sample 0: its last two steps padded; sample 1: a hole at step 1; sample 2: only step 0 kept.
        foreach ((int bi, int ti) in new[] { (0, 3), (0, 4), (1, 1), (2, 1), (2, 2), (2, 3), (2, 4) })
        {
            int row = bi * t + ti;
            mask[row] = false;
            padded.AsSpan(row * f, f).Fill(-1.0);
            zeroed.AsSpan(row * f, f).Clear();
        }
        padded[(1 * t + 2) * f + 5] = -1.0;   // one -1 in a kept step keeps it
        zeroed[(1 * t + 2) * f + 5] = -1.0;

        double[] ya = a.Forward(new SequenceBatch<double>(padded, b, t, default), a.CreateCache(), ForwardContext.Inference).ToArray();
        double[] yc = c.Forward(new SequenceBatch<double>(zeroed, b, t, mask), c.CreateCache(), ForwardContext.Inference).ToArray();
        Assert.That(ya, Is.EqualTo(yc));
        double[] unmasked = c.Forward(new SequenceBatch<double>(padded, b, t, default), c.CreateCache(), ForwardContext.Inference).ToArray();
        Assert.That(unmasked, Is.Not.EqualTo(ya), "without the mask the padding changes the outputs, so the equality above says something");
    }

    [TestCase(KerasFixtures.MaskedLstmKeras3, TestName = "MaskedLstm_FromKeras3Json_IsTheSpecModelBuilderWrites")]
    [TestCase(KerasFixtures.MaskedLstmKeras2, TestName = "MaskedLstm_FromKeras2Json_IsTheSpecModelBuilderWrites")]
    public void MaskedLstm_IsTheSpecModelBuilderWrites(string json)
    {
        ModelSpec spec = ModelSpec.FromKerasJson(json, seed: 7);
        ModelSpec expected = ModelBuilder.Input(32)
            .Masking(-1.0, name: "masking").Lstm(100, returnSequences: true, name: "lstm").Lstm(200, name: "lstm_1").Dense(2, Activation.Softmax, name: "dense")
            .ToSpec(7);
        Assert.That(spec.ToJson(), Is.EqualTo(expected.ToJson()));
        Assert.That(spec.ToJson(), Does.Contain("\"mask_value\": -1"));
        Sequential<float> model = spec.Build<float>();
        Assert.That(model.ParameterCount, Is.EqualTo(KerasLstmParameters(32, 100) + KerasLstmParameters(100, 200) + 200 * 2 + 2));
        Assert.That(model.Summary(), Does.Contain("masking (Masking)"));
    }

    [Test]
    public void MaskedLstm_InputShapeFromTheMaskingsOwnShapes_MustAgree()
    {
        // Keras 3 built without Input: the Masking's build_config is the first place that says the input.
        string fromBuild = JsonNode.Parse(KerasFixtures.MaskedLstmKeras3)!.Apply(root =>
        {
            root["config"]!["layers"]!.AsArray().RemoveAt(0);
            root["config"]!.AsObject().Remove("build_input_shape");
            root.AsObject().Remove("build_config");
        });
        Assert.That(KerasConfig.ToSpec(fromBuild).InputFeatures, Is.EqualTo(32));

        // tf.keras 2 writes the shape on the InputLayer and on the Masking: a disagreement names the Masking's.
        string conflicting = JsonNode.Parse(KerasFixtures.MaskedLstmKeras2)!.Apply(root => Layer(root, 1)["batch_input_shape"] = new JsonArray(null, 50, 16));
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(conflicting))!;
        Assert.That(e.Message, Is.EqualTo("Keras config: config.layers[1].config.batch_input_shape: says 16 input features, but config.layers[0].config.batch_input_shape says 32."));
    }

    [TestCase("\"relu\"", Activation.Relu)]
    [TestCase("\"tanh\"", Activation.Tanh)]
    [TestCase("\"sigmoid\"", Activation.Sigmoid)]
    [TestCase("\"linear\"", Activation.Linear)]
    [TestCase("null", Activation.Linear)]
    public void DenseActivation_IsMapped(string value, Activation expected)
    {
        string json = Edit3(root => Layer(root, 5)["activation"] = JsonNode.Parse(value));
        Assert.That(KerasConfig.ToSpec(json).Layers[4].Activation, Is.EqualTo(expected));
    }

    [Test]
    public void Keras2LayerNormAxis_IsTheLastAxisIndex_TwoOnASequenceAndOneOnAVector()
    {
        // The fixture holds [2] and [1]; the other way round normalizes over time or over the batch, and is refused.
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(Edit2(root => Layer(root, 2)["axis"] = new JsonArray(1))))!;
        Assert.That(e.Message, Does.StartWith("Keras config: config.layers[2].config.axis: a list of 1 not supported (NumLstm's LayerNorm normalizes the last axis: -1, or 2 on this sequence input)"));
        e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(Edit2(root => Layer(root, 4)["axis"] = new JsonArray(2))))!;
        Assert.That(e.Message, Does.Contain("config.layers[4].config.axis").And.Contain("or 1 on this vector input"));
        Assert.That(KerasConfig.ToSpec(Edit2(root => Layer(root, 2)["axis"] = -1)).ToJson(), Is.EqualTo(MissionSpec(0).ToJson()));
    }

    [Test]
    public void Float64AndOldListConfigs_AreRead()
    {
        string float64 = Edit3(root =>
        {
            Layer(root, 0)["dtype"] = "float64";
            Layer(root, 5)["dtype"]!["config"]!["name"] = "float64";
        });
        Assert.That(KerasConfig.ToSpec(float64).ToJson(), Is.EqualTo(MissionSpec(0).ToJson()));

        // Keras up to 2.2 wrote the layer list itself as the model config.
        JsonNode root = JsonNode.Parse(KerasFixtures.MissionKeras2)!;
        root["config"] = root["config"]!["layers"]!.DeepClone();
        Assert.That(KerasConfig.ToSpec(root.ToJsonString()).ToJson(), Is.EqualTo(MissionSpec(0).ToJson()));
    }

    [Test]
    public void InputFeatures_ComeFromTheConfig_OrTheArgument_AndMustAgree()
    {
        // Without an InputLayer and build configs, the config does not say them.
        string noInput = Edit3(root => root["config"]!["layers"]!.AsArray().RemoveAt(0));
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(noInput))!;
        Assert.That(e.Message, Does.Contain("pass inputFeatures"));
        Assert.That(KerasConfig.ToSpec(noInput, inputFeatures: 32).ToJson(), Is.EqualTo(MissionSpec(0).ToJson()));
        Assert.That(KerasConfig.ToSpec(noInput, inputFeatures: 7).InputFeatures, Is.EqualTo(7));

        e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(KerasFixtures.MissionKeras3, inputFeatures: 16))!;
        Assert.That(e.Message, Does.Contain("config.layers[0].config.batch_shape: says 32 input features, but the inputFeatures argument is 16"));
        Assert.That(KerasConfig.ToSpec(KerasFixtures.MissionKeras3, inputFeatures: 32).InputFeatures, Is.EqualTo(32));

        // Keras 3 writes the input shape on the model and on each built layer: all must agree.
        string conflicting = KerasFixtures.MissionKeras3.Replace("\"build_input_shape\": [null, 50, 32]", "\"build_input_shape\": [null, 50, 16]");
        e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(conflicting))!;
        Assert.That(e.Message, Does.Contain("config.build_input_shape").And.Contain("16").And.Contain("32"));
        // From the first layer's build config alone (a Keras 3 model built without Input).
        string fromBuild = JsonNode.Parse(KerasFixtures.MissionKeras3)!.Apply(root =>
        {
            root["config"]!["layers"]!.AsArray().RemoveAt(0);
            root["config"]!.AsObject().Remove("build_input_shape");
            root.AsObject().Remove("build_config");
        });
        Assert.That(KerasConfig.ToSpec(fromBuild).InputFeatures, Is.EqualTo(32));

        Assert.Throws<ArgumentOutOfRangeException>(() => KerasConfig.ToSpec(noInput, inputFeatures: 0));
    }

    [Test]
    public void BuildConfigs_ThatDoNotFitTheFlowingShape_AreRefused()
    {
        string wrong = JsonNode.Parse(KerasFixtures.MissionKeras3)!.Apply(root => root["config"]!["layers"]![2]!["build_config"]!["input_shape"]![2] = 300);
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(wrong))!;
        Assert.That(e.Message, Is.EqualTo("Keras config: config.layers[2].build_config.input_shape: a list of 3 does not fit the input this layer gets in NumLstm, [batch, time, 200]."));
    }

    // ---------------------------------------------------------------------------------------------------- refusals

    public static IEnumerable<TestCaseData> Refusals()
    {
        TestCaseData Case(string name, string json, string path, string value) => new TestCaseData(json, path, value).SetName("Refused_" + name);
        const string bi = "config.layers[1].config.layer.config.";

        yield return Case("LstmActivationRelu", Edit3(r => Both(r, 1, "activation", "relu")), bi + "activation", "'relu' not supported (NumLstm's LSTM uses tanh)");
        yield return Case("RecurrentActivationHardSigmoid", Edit2(r => Both(r, 1, "recurrent_activation", "hard_sigmoid")), bi + "recurrent_activation", "'hard_sigmoid' not supported (Keras 2's old default");
        yield return Case("RecurrentActivationTanh", Edit3(r => Both(r, 1, "recurrent_activation", "tanh")), bi + "recurrent_activation", "'tanh' not supported");
        yield return Case("LstmUseBiasFalse", Edit3(r => Both(r, 1, "use_bias", false)), bi + "use_bias", "false not supported");
        yield return Case("UnitForgetBiasString", Edit3(r => Both(r, 1, "unit_forget_bias", "no")), bi + "unit_forget_bias", "must be true or false");
        yield return Case("KernelInitializerStft", Edit3(r => Both(r, 1, "kernel_initializer", JsonNode.Parse("""{"module": "keras.initializers", "class_name": "STFTInitializer", "config": {"side": "real"}, "registered_name": null}"""))),
            bi + "kernel_initializer.class_name", "'STFTInitializer' not supported (NumLstm reads Keras' built-in initializers: GlorotUniform");
        yield return Case("KernelInitializerString", Edit3(r => Both(r, 1, "kernel_initializer", "xavier")), bi + "kernel_initializer", "'xavier' not supported");
        yield return Case("OrthogonalGainString", Edit2(r => Both(r, 1, "recurrent_initializer", JsonNode.Parse("""{"class_name": "Orthogonal", "config": {"gain": "2", "seed": null}}"""))),
            bi + "recurrent_initializer.config.gain", "must be a finite number, got '2'");
        yield return Case("BiasInitializerOrthogonal", Edit2(r => Both(r, 1, "bias_initializer", JsonNode.Parse("""{"class_name": "Orthogonal", "config": {}}"""))),
            bi + "bias_initializer", "Orthogonal(gain=1) not supported on this 1-D weight (Keras raises");
        yield return Case("KernelRegularizerOrthogonal", Edit3(r => Both(r, 1, "kernel_regularizer", JsonNode.Parse("""{"module": "keras.regularizers", "class_name": "OrthogonalRegularizer", "config": {"factor": 0.01, "mode": "rows"}, "registered_name": null}"""))),
            bi + "kernel_regularizer.class_name", "'OrthogonalRegularizer' not supported (NumLstm's regularizers are Keras' L1, L2 and L1L2)");
        yield return Case("KernelRegularizerNegative", Edit2(r => Both(r, 1, "kernel_regularizer", JsonNode.Parse("""{"class_name": "L2", "config": {"l2": -0.01}}"""))),
            bi + "kernel_regularizer.config.l2", "-0.01 not supported: a factor must be ≥ 0 (Keras 3 raises");
        yield return Case("KernelRegularizerL1L2String", Edit3(r => Both(r, 1, "kernel_regularizer", "l1_l2")),
            bi + "kernel_regularizer", "'l1_l2' not supported: Keras 3 raises for it");
        yield return Case("KernelRegularizerCustom", Edit3(r => Both(r, 1, "kernel_regularizer", JsonNode.Parse("""{"module": "my_project", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": "MyL2"}"""))),
            bi + "kernel_regularizer.module", "'my_project' is not a Keras module");
        yield return Case("KernelRegularizerExtraKey", Edit2(r => Both(r, 1, "kernel_regularizer", JsonNode.Parse("""{"class_name": "L1", "config": {"l1": 0.01, "l2": 0.01}}"""))),
            bi + "kernel_regularizer.config.l2", "is not a field NumLstm knows here");
        yield return Case("WrappedLstmActivityRegularizer", Edit3(r => Both(r, 1, "activity_regularizer", JsonNode.Parse("""{"module": "keras.regularizers", "class_name": "L1", "config": {"l1": 0.01}, "registered_name": null}"""))),
            bi + "activity_regularizer", "on the wrapped LSTM not supported (Keras penalizes each direction's own output");
        yield return Case("ActivityRegularizerOrthogonal", Edit2(r => Layer(r, 5)["activity_regularizer"] = JsonNode.Parse("""{"class_name": "OrthogonalRegularizer", "config": {"factor": 0.01, "mode": "rows"}}""")),
            "config.layers[5].config.activity_regularizer.class_name", "'OrthogonalRegularizer' not supported");
        yield return Case("RecurrentConstraintCustom", Edit3(r => Both(r, 1, "recurrent_constraint", JsonNode.Parse("""{"module": "my_constraints", "class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}, "registered_name": "Clip"}"""))),
            bi + "recurrent_constraint.module", "'my_constraints' is not a Keras module");
        yield return Case("ReturnState", Edit3(r => Both(r, 1, "return_state", true)), bi + "return_state", "true not supported");
        yield return Case("Stateful", Edit3(r => Both(r, 1, "stateful", true)), bi + "stateful", "use a StreamingSession");
        yield return Case("TimeMajor", Edit2(r => Both(r, 1, "time_major", true)), bi + "time_major", "true not supported");
        yield return Case("Implementation3", Edit2(r => Both(r, 1, "implementation", 3)), bi + "implementation", "3 is not a Keras LSTM implementation");
        yield return Case("ForwardGoesBackwards", Edit2(r => Both(r, 1, "go_backwards", true)), bi + "go_backwards", "go_backwards must be false for a bidirectional layer");
        yield return Case("BackwardLayerNotMirror", Edit3(r => Layer(r, 1)["backward_layer"]!["config"]!["units"] = 50),
            "config.layers[1].config.backward_layer.config.units", "50 differs from the forward layer's 100 at config.layers[1].config.layer.config.units");
        yield return Case("BackwardLayerOtherActivation", Edit3(r => Layer(r, 1)["backward_layer"]!["config"]!["activation"] = "relu"),
            "config.layers[1].config.backward_layer.config.activation", "'relu' not supported");
        yield return Case("BackwardLayerForwards", Edit3(r => Layer(r, 1)["backward_layer"]!["config"]!["go_backwards"] = false),
            "config.layers[1].config.backward_layer.config.go_backwards", "the backward layer must go backwards");
        yield return Case("BackwardLayerGru", Edit3(r => Layer(r, 1)["backward_layer"]!["class_name"] = "GRU"),
            "config.layers[1].config.backward_layer.class_name", "'GRU' not supported (NumLstm's Bidirectional wraps an LSTM)");
        yield return Case("MergeModeNone", Edit3(r => Layer(r, 1)["merge_mode"] = null), "config.layers[1].config.merge_mode", "null not supported");
        yield return Case("MergeModeMax", Edit3(r => Layer(r, 1)["merge_mode"] = "max"), "config.layers[1].config.merge_mode", "'max' not supported");
        yield return Case("LayerNormRms", Edit3(r => Layer(r, 2)["rms_scaling"] = true), "config.layers[2].config.rms_scaling", "true not supported");
        yield return Case("LayerNormTwoAxes", Edit3(r => Layer(r, 2)["axis"] = new JsonArray(1, 2)), "config.layers[2].config.axis", "a list of 2 not supported");
        yield return Case("LayerNormEpsilon0", Edit3(r => Layer(r, 2)["epsilon"] = 0), "config.layers[2].config.epsilon", "0 not supported");
        yield return Case("LayerNormGammaIdentity", Edit3(r => Layer(r, 2)["gamma_initializer"] = "identity"), "config.layers[2].config.gamma_initializer", "Identity(gain=1) not supported on this 1-D weight");
        yield return Case("DenseKernelInitializerNegativeStddev", Edit2(r => Layer(r, 5)["kernel_initializer"] = JsonNode.Parse("""{"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": -0.05, "seed": null}}""")),
            "config.layers[5].config.kernel_initializer.config.stddev", "-0.05 not supported: a stddev must be ≥ 0");
        yield return Case("DenseGlu", Edit3(r => Layer(r, 5)["activation"] = "glu"), "config.layers[5].config.activation", "'glu' not supported (glu halves the last axis");
        yield return Case("DenseCrelu", Edit3(r => Layer(r, 5)["activation"] = "crelu"), "config.layers[5].config.activation", "'crelu' not supported (crelu doubles the last axis");
        yield return Case("DenseThreshold", Edit3(r => Layer(r, 5)["activation"] = "threshold"), "config.layers[5].config.activation", "'threshold' not supported (Keras' threshold has no default");
        yield return Case("DenseUnknownActivation", Edit3(r => Layer(r, 5)["activation"] = "gelu_new"), "config.layers[5].config.activation", "'gelu_new' not supported (NumLstm's Dense applies Keras 3's built-in activations by name: linear, relu,");
        yield return Case("DenseActivationWrongCase", Edit3(r => Layer(r, 5)["activation"] = "GELU"), "config.layers[5].config.activation", "'GELU' not supported");
        yield return Case("DenseBiasConstraintRadial", Edit3(r => Layer(r, 5)["bias_constraint"] = JsonNode.Parse("""{"module": "keras.constraints", "class_name": "RadialConstraint", "config": {}, "registered_name": null}""")),
            "config.layers[5].config.bias_constraint.class_name", "'RadialConstraint' not supported");
        yield return Case("DenseLora", Edit3(r => Layer(r, 5)["lora_rank"] = 4), "config.layers[5].config.lora_rank", "4 not supported (NumLstm's Dense has no LoRA factors)");
        yield return Case("GruLayer", Edit2(r => r["config"]!["layers"]![1]!["class_name"] = "GRU"),
            "config.layers[1].class_name", "'GRU' is not supported (NumLstm's recurrent layer is the LSTM)");
        yield return Case("MaskingValueTensor", Edit3(r => InsertMasking(r, 2, maskValue: """{"class_name": "__tensor__", "config": {"value": 0.0, "dtype": "float32"}}""")),
            "config.layers[2].config.mask_value", "an object of class_name '__tensor__' not supported (NumLstm's Masking takes a number as mask_value");
        yield return Case("MaskingValueString", Edit2(r => InsertMasking(r, 2, maskValue: "\"0.0\"")),
            "config.layers[2].config.mask_value", "'0.0' not supported (NumLstm's Masking takes a number as mask_value");
        yield return Case("MaskingValueNull", Edit3(r => InsertMasking(r, 2, maskValue: "null")),
            "config.layers[2].config.mask_value", "null not supported (NumLstm's Masking takes a number as mask_value");
        yield return Case("MaskingValueList", Edit3(r => InsertMasking(r, 2, maskValue: "[0.0]")),
            "config.layers[2].config.mask_value", "a list of 1 not supported");
        yield return Case("MaskingValueOverflows", Edit2(r => InsertMasking(r, 2, maskValue: "1e400")),
            "config.layers[2].config.mask_value", "1e400 not supported (NumLstm's Masking takes a mask value that is finite when rounded to float32");
        yield return Case("MaskingValueOverflowsFloat", Edit3(r => InsertMasking(r, 2, maskValue: "1e308")),
            "config.layers[2].config.mask_value", "1e308 not supported (NumLstm's Masking takes a mask value that is finite when rounded to float32, and nonzero there unless 0");
        yield return Case("MaskingValueVanishesInFloat", Edit3(r => InsertMasking(r, 2, maskValue: "1e-46")),
            "config.layers[2].config.mask_value", "1e-46 not supported (NumLstm's Masking takes a mask value that is finite when rounded to float32, and nonzero there unless 0");
        yield return Case("MaskingValueOverflowsNegative", Edit3(r => InsertMasking(r, 2, maskValue: "-2e308")),
            "config.layers[2].config.mask_value", "-2e308 not supported");
        yield return Case("MaskingUnknownField", Edit3(r => InsertMasking(r, 2, d => d["mask_zero"] = true)),
            "config.layers[2].config.mask_zero", "'mask_zero' is not a field NumLstm knows here");
        yield return Case("MaskingActivityRegularizer", Edit3(r => InsertMasking(r, 2, d => d["activity_regularizer"] = null)),
            "config.layers[2].config.activity_regularizer", "'activity_regularizer' is not a field NumLstm knows here");
        yield return Case("MaskingFloat16", Edit2(r => InsertMasking(r, 2, d => d["dtype"] = "float16")),
            "config.layers[2].config.dtype", "'float16' not supported");
        yield return Case("MaskingTrainableString", Edit3(r => InsertMasking(r, 2, d => d["trainable"] = "yes")),
            "config.layers[2].config.trainable", "must be true or false, got 'yes'");
        yield return Case("MaskingAfterAVector", Edit3(r => InsertMasking(r, 4)),
            "config.layers[4]", "a Masking needs a sequence input [batch, time, features], but config.layers[3] returns a vector (return_sequences is false there; NumLstm's Masking masks time steps");
        yield return Case("MaskingAfterAVectorKeras2", Edit2(r => InsertMasking(r, 5)),
            "config.layers[5]", "a Masking needs a sequence input [batch, time, features], but config.layers[3] returns a vector");
        yield return Case("MaskingRepeatedName", Edit3(r => InsertMasking(r, 2, name: "layer_normalization")),
            "config.layers[3].config.name", "'layer_normalization' is already the name of config.layers[2]");
        yield return Case("SpatialDropout1D", Edit2(r => r["config"]!["layers"]!.AsArray().Insert(3, JsonNode.Parse("""{"class_name": "SpatialDropout1D", "config": {"name": "sd", "trainable": true, "dtype": "float32", "rate": 0.2, "noise_shape": null, "seed": null}}"""))),
            "config.layers[3].class_name", "'SpatialDropout1D' is not supported (NumLstm's dropout between layers is Dropout (each value dropped on its own)");
        yield return Case("DropoutNoiseShape", Edit3(r => InsertDropout(r, 3, d => d["noise_shape"] = new JsonArray(null, 1, null))),
            "config.layers[3].config.noise_shape", "a list of 3 not supported (NumLstm's Dropout draws each value on its own: noise_shape null)");
        yield return Case("DropoutRate1", Edit3(r => InsertDropout(r, 3, d => d["rate"] = 1)),
            "config.layers[3].config.rate", "1 not supported (NumLstm's Dropout rate is in [0, 1)");
        yield return Case("DropoutRateAbove1", Edit2(r => InsertDropout(r, 3, d => d["rate"] = 1.5)),
            "config.layers[3].config.rate", "1.5 is not a dropout rate (Keras raises for a rate outside [0, 1])");
        yield return Case("DropoutRateNegative", Edit3(r => InsertDropout(r, 3, d => d["rate"] = -0.1)),
            "config.layers[3].config.rate", "-0.1 is not a dropout rate");
        yield return Case("DropoutRateString", Edit3(r => InsertDropout(r, 3, d => d["rate"] = "0.5")),
            "config.layers[3].config.rate", "must be a finite number, got '0.5'");
        yield return Case("DropoutRateMissing", Edit3(r => InsertDropout(r, 3, d => d.AsObject().Remove("rate"))),
            "config.layers[3].config.rate", "is missing");
        yield return Case("DropoutSeedString", Edit3(r => InsertDropout(r, 3, d => d["seed"] = "x")),
            "config.layers[3].config.seed", "must be an integer or null, got 'x'");
        yield return Case("DropoutUnknownField", Edit3(r => InsertDropout(r, 3, d => d["scale"] = 2)),
            "config.layers[3].config.scale", "'scale' is not a field NumLstm knows here");
        yield return Case("DropoutFloat16", Edit3(r => InsertDropout(r, 3, d => d["dtype"] = "float16")),
            "config.layers[3].config.dtype", "'float16' not supported");
        yield return Case("Gru", Edit3(r => Layer(r, 1)["layer"]!["class_name"] = "GRU"), "config.layers[1].config.layer.class_name", "'GRU' not supported");
        yield return Case("Conv1D", Edit2(r => r["config"]!["layers"]![5]!["class_name"] = "Conv1D"), "config.layers[5].class_name", "'Conv1D' is not supported (NumLstm reads InputLayer, LSTM, Bidirectional(LSTM), LayerNormalization, Dense, Dropout and Masking)");
        yield return Case("FunctionalWithSequentialsConfig", Edit3(r => r["class_name"] = "Functional"), "config.layers[0].name", "is missing");
        yield return Case("Subclassed", Edit3(r => r["class_name"] = "MyModel"), "class_name", "'MyModel' is not a model class NumLstm reads (expected Sequential, or a Functional model that is a chain of layers)");
        yield return Case("MixedPrecision", Edit3(r => Layer(r, 2)["dtype"]!["config"]!["name"] = "mixed_float16"), "config.layers[2].config.dtype.config.name", "'mixed_float16' not supported");
        yield return Case("Float16Input", Edit2(r => Layer(r, 0)["dtype"] = "float16"), "config.layers[0].config.dtype", "'float16' not supported");
        yield return Case("LstmUnits0", Edit3(r => Both(r, 1, "units", 0)), bi + "units", "must be in 1..65536, got 0");
        yield return Case("LstmUnitsHuge", Edit3(r => Both(r, 1, "units", 65537)), bi + "units", "must be in 1..65536, got 65537");
        yield return Case("LstmUnitsFraction", Edit3(r => Both(r, 1, "units", 1.5)), bi + "units", "must be an integer, got 1.5");
        yield return Case("DenseUnitsHuge", Edit3(r => Layer(r, 5)["units"] = 1048577), "config.layers[5].config.units", "must be in 1..1048576, got 1048577");
        yield return Case("Dropout1", Edit3(r => Both(r, 1, "dropout", 1.0)), bi + "dropout", "1 not supported (NumLstm's dropout rates are in [0, 1))");
        yield return Case("RecurrentDropoutNegative", Edit3(r => Both(r, 1, "recurrent_dropout", -0.1)), bi + "recurrent_dropout", "-0.1 not supported");
        yield return Case("DropoutString", Edit3(r => Both(r, 1, "dropout", "0.4")), bi + "dropout", "must be a finite number, got '0.4'");
        yield return Case("ReturnSequencesString", Edit3(r => Both(r, 1, "return_sequences", "true")), bi + "return_sequences", "must be true or false, got 'true'");
        yield return Case("UnknownLstmField", Edit3(r => Both(r, 1, "peephole", true)), bi + "peephole", "'peephole' is not a field NumLstm knows here");
        yield return Case("CustomModule", Edit3(r => r["config"]!["layers"]![5]!["module"] = "my_package.layers"), "config.layers[5].module", "'my_package.layers' is not a Keras module");
        yield return Case("RegisteredCustomClass", Edit3(r => r["config"]!["layers"]![5]!["registered_name"] = "my_package>Dense"), "config.layers[5].registered_name", "a custom class registered by a user");
        yield return Case("InputLayerNotFirst", Edit3(r => r["config"]!["layers"]!.AsArray().Add(r["config"]!["layers"]![0]!.DeepClone())), "config.layers[6].class_name", "an InputLayer must be the first layer");
        yield return Case("InputSparse", Edit3(r => Layer(r, 0)["sparse"] = true), "config.layers[0].config.sparse", "true is not supported");
        yield return Case("InputWithoutFeatures", Edit3(r => Layer(r, 0)["batch_shape"] = new JsonArray(null, 50, null)), "config.layers[0].config.batch_shape", "the last dimension (the input features) is null");
        yield return Case("InputZeroFeatures", Edit3(r => Layer(r, 0)["batch_shape"] = new JsonArray(null, 50, 0)), "config.layers[0].config.batch_shape[2]", "must be a positive integer or null, got 0");
        yield return Case("LstmAfterAVector", Edit3(r => Both(r, 1, "return_sequences", false)), "config.layers[3]", "a Bidirectional needs a sequence input [batch, time, features], but config.layers[1] returns a vector");
        yield return Case("RepeatedName", Edit3(r => Layer(r, 4)["name"] = "layer_normalization"), "config.layers[4].config.name", "'layer_normalization' is already the name of config.layers[2]");
        yield return Case("NameTooLong", Edit3(r => Layer(r, 5)["name"] = new string('n', 257)), "config.layers[5].config.name", "must have 1..256 characters, got 257");
        yield return Case("LayersNotAList", Edit3(r => r["config"]!["layers"] = new JsonObject()), "config.layers", "must be a list of layers, got an object");
        yield return Case("LayerConfigMissing", Edit3(r => r["config"]!["layers"]![5]!.AsObject().Remove("config")), "config.layers[5].config", "is missing");
        yield return Case("OnlyAnInputLayer", Edit3(r => { JsonArray layers = r["config"]!["layers"]!.AsArray(); while (layers.Count > 1) layers.RemoveAt(1); }), "config.layers", "holds an InputLayer and no other layer");
    }

    [TestCaseSource(nameof(Refusals))]
    public void Refused_WithTheJsonPathAndTheValue(string json, string path, string value)
    {
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(json, source: "model.json"))!;
        Assert.That(e.Message, Does.StartWith($"Keras config 'model.json': {path}: "));
        Assert.That(e.Message, Does.Contain(value));
    }

    [Test]
    public void TheBriefsExampleMessage_IsWhatARefusalSays()
    {
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(Edit3(r => Both(r, 1, "activation", "relu"))))!;
        Assert.That(e.Message, Is.EqualTo("Keras config: config.layers[1].config.layer.config.activation: 'relu' not supported (NumLstm's LSTM uses tanh)."));
    }

    [Test]
    public void IgnoredFields_DoNotChangeTheSpec()
    {
        // trainable, seeds (layer and initializer), unroll, implementation, use_cudnn and the compile config are read and checked,
        // not carried: NumLstm's seed argument drives initialization and dropout.
        string json = Edit3(root =>
        {
            Both(root, 1, "trainable", false);
            Both(root, 1, "seed", 1234);
            Both(root, 1, "unroll", true);
            Both(root, 1, "use_cudnn", "auto");
            Layer(root, 5)["kernel_initializer"]!["config"]!["seed"] = 7;
            root.AsObject().Remove("compile_config");
        });
        Assert.That(KerasConfig.ToSpec(json, seed: 3).ToJson(), Is.EqualTo(MissionSpec(3).ToJson()));
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(Edit3(root => Both(root, 1, "seed", "x"))))!;
        Assert.That(e.Message, Does.Contain("config.layers[1].config.layer.config.seed: must be an integer or null, got 'x'"));
    }
}

internal static class JsonNodeEditing
{
    public static string Apply(this JsonNode root, Action<JsonNode> edit)
    {
        edit(root);
        return root.ToJsonString();
    }
}
