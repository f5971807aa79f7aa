using System.Text.Json.Nodes;
using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Training;

namespace NumLstm.Tests.IO;

/// <summary>
/// Keras' <c>TimeDistributed(Dense(...))</c>, the usual head of a Keras sequence-labelling model: read from Keras 3 and
/// tf.keras 2 configs as NumLstm's per-step Dense (<see cref="Dense{T}.TimeDistributed"/>), its weights at Keras 3's
/// <c>layers/time_distributed/layer/vars</c>, written back as the wrapper, and the same function as a Dense on a sequence.
/// </summary>
public class TimeDistributedTests
{
    private string directory = "";

    [SetUp]
    public void Create() => Directory.CreateDirectory(directory = Path.Combine(Path.GetTempPath(), "numlstm-td-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void Delete() => Directory.Delete(directory, true);

    private static Sequential<float> Tagger(int seed) =>
        ModelBuilder.Input(3).Lstm(4, returnSequences: true).TimeDistributedDense(2, Activation.Softmax, name: "tags").Build<float>(seed);

    // Keras 3's serialization of TimeDistributed(Dense(2, activation="softmax")) after an LSTM(4, return_sequences=True)
    // on (None, 5, 3): Wrapper.get_config (the base config, then "layer"), the Dense built on one step's shape (None, 4).
    internal static string Keras3Json(string innerClass = "Dense", string? innerActivity = null, string? outerActivity = null)
    {
        JsonNode model = JsonNode.Parse(ModelBuilder.Input(3).Lstm(4, returnSequences: true).Dense(2).ToSpec(0).ToKerasJson(5))!;
        JsonArray layers = model["config"]!["layers"]!.AsArray();
        string inner = $$$"""
            {"module": "keras.layers", "class_name": "{{{innerClass}}}", "config": {"name": "dense", "trainable": true,
             "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
             {{{(innerActivity is null ? "" : $"\"activity_regularizer\": {innerActivity},")}}}
             "units": 2, "activation": "softmax", "use_bias": true,
             "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
             "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
             "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null},
             "registered_name": null, "build_config": {"input_shape": [null, 4]}}
            """;
        layers[^1] = JsonNode.Parse($$$"""
            {"module": "keras.layers", "class_name": "TimeDistributed", "config": {"name": "time_distributed", "trainable": true,
             "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
             {{{(outerActivity is null ? "" : $"\"activity_regularizer\": {outerActivity},")}}}
             "layer": {{{inner}}}}, "registered_name": null, "build_config": {"input_shape": [null, 5, 4]}}
            """);
        return model.ToJsonString();
    }

    [Test]
    public void AKeras3Config_IsReadAsATimeDistributedDense_WithTheWrappersName()
    {
        ModelSpec spec = ModelSpec.FromKerasJson(Keras3Json());
        LayerSpec head = spec.Layers[^1];
        Assert.That(head.Type, Is.EqualTo("dense"));
        Assert.That(head.TimeDistributed, Is.True);
        Assert.That(head.Name, Is.EqualTo("time_distributed"));
        Assert.That(head.Units, Is.EqualTo(2));
        Assert.That(head.Activation, Is.EqualTo(Activation.Softmax));
        Sequential<float> model = spec.Build<float>();
        Assert.That(model.OutputShape, Is.EqualTo(LayerShape.Sequence(2)));
        Assert.That(((Dense<float>)model.Layers[^1]).TimeDistributed, Is.True);
        Assert.That(model.Summary(), Does.Contain("TimeDistributed"));
        // The wrapper's activity regularizer is read; the Dense's own (which Keras 3's TimeDistributed never applies) refused.
        const string l2 = """{"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": null}""";
        Assert.That(ModelSpec.FromKerasJson(Keras3Json(outerActivity: l2)).Layers[^1].ActivityRegularizer, Is.Not.Null);
        Assert.That(() => ModelSpec.FromKerasJson(Keras3Json(innerActivity: l2)),
            Throws.InstanceOf<FormatException>().With.Message.Contains("activity_regularizer").And.Message.Contains("on the wrapped Dense not supported"));
        Assert.That(() => ModelSpec.FromKerasJson(Keras3Json(innerClass: "LSTM")),
            Throws.InstanceOf<FormatException>().With.Message.Contains("'LSTM' not supported (NumLstm reads a TimeDistributed around a Dense)"));
    }

    // tf.keras 2's serialization of the same model (no module keys; the input shape on the first layer); innerExtra adds
    // keys to the wrapped Dense's config.
    private static string TfKeras2Json(string innerExtra = "") => """
        {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
          {"class_name": "LSTM", "config": {"name": "lstm", "trainable": true, "batch_input_shape": [null, 5, 3], "dtype": "float32",
            "return_sequences": true, "units": 4}},
          {"class_name": "TimeDistributed", "config": {"name": "time_distributed", "trainable": true, "dtype": "float32",
            "layer": {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 2,
              "activation": "linear", "use_bias": true@extra}}}}]}}
        """.Replace("@extra", innerExtra);

    [Test]
    public void ATfKeras2Config_IsReadToo()
    {
        string json = TfKeras2Json();
        ModelSpec spec = ModelSpec.FromKerasJson(json);
        Assert.That(spec.Layers[^1].TimeDistributed, Is.True);
        Assert.That(spec.Layers[^1].Name, Is.EqualTo("time_distributed"));
        // After a layer that returns a vector there is no time axis to distribute over.
        string vector = json.Replace("\"return_sequences\": true", "\"return_sequences\": false");
        Assert.That(() => ModelSpec.FromKerasJson(vector), Throws.InstanceOf<FormatException>().With.Message.Contains("a TimeDistributed needs a sequence input"));
    }

    // tf.keras 2's TimeDistributed, unlike Keras 3's, calls the Dense through __call__ on the steps reshaped to B·T rows
    // (tf_keras/layers/rnn/time_distributed.py: y = self.layer(inputs, **kwargs)), so the Dense's activity regularizer
    // does apply there, divided by B·T (base_layer._handle_activity_regularization: / tf.shape(output)[0]); and the
    // wrapper's own is never in a tf.keras 2 config (its base get_config has no activity_regularizer). The refusal
    // must not tell a tf.keras 2 user that Keras never applies it, nor to move it onto the wrapper (a penalty / B).
    [Test]
    public void ATfKeras2InnerActivityRegularizer_IsRefused_SayingTfKeras2AppliesItOverBTimesTRows()
    {
        string json = TfKeras2Json(""", "activity_regularizer": {"class_name": "L2", "config": {"l2": 0.01}}""");
        Assert.That(() => ModelSpec.FromKerasJson(json), Throws.InstanceOf<FormatException>()
            .With.Message.Contains("config.layers[1].config.layer.config.activity_regularizer")
            .And.Message.Contains("tf.keras 2")
            .And.Message.Contains("B·T"));
    }

    [Test]
    public void TheSpec_KeepsIt_AndRefusesItWhereItCannotBe()
    {
        ModelSpec spec = ModelSpecOf.Describe(Tagger(1));
        Assert.That(spec.ToJson(), Does.Contain("\"time_distributed\": true"));
        Assert.That(ModelSpec.FromJson(spec.ToJson()).Layers[^1].TimeDistributed, Is.True);
        Assert.That(ModelSpec.FromJson(ModelSpecOf.Describe(ModelBuilder.Input(3).Lstm(4).Dense(2).Build<float>()).ToJson()).Layers[^1].TimeDistributed, Is.False);
        Assert.That(ModelSpecOf.Describe(ModelBuilder.Input(3).Lstm(4).Dense(2).Build<float>()).ToJson(), Does.Not.Contain("time_distributed"));
        Assert.That(() => ModelBuilder.Input(3).Lstm(4).TimeDistributedDense(2).ToSpec(0).Validate(),
            Throws.InstanceOf<FormatException>().With.Message.Contains("time-distributed dense) needs a sequence input"));
        var lstm = spec with { Layers = new[] { spec.Layers[0] with { TimeDistributed = true }, spec.Layers[1] } };
        Assert.That(() => lstm.Validate(), Throws.InstanceOf<FormatException>().With.Message.Contains("time_distributed is a dense layer's field"));
        Assert.That(() => new Sequential<float>(3, new Layer<float>[] { new Lstm<float>(4), new Dense<float>(2) { TimeDistributed = true } }),
            Throws.ArgumentException.With.Message.Contains("time-distributed"));
    }

    [Test]
    public void ItComputesWhatADenseOnTheSequenceComputes()
    {
        Sequential<float> wrapped = Tagger(2);
        Sequential<float> plain = ModelBuilder.Input(3).Lstm(4, returnSequences: true).Dense(2, Activation.Softmax, name: "tags").Build<float>(2);
        Assert.That(wrapped.Parameters.SelectMany(p => p.Value), Is.EqualTo(plain.Parameters.SelectMany(p => p.Value)), "the same weights from the same seed");
        float[] x = Enumerable.Range(0, 2 * 5 * 3).Select(k => MathF.Sin(k)).ToArray();
        float[] a = wrapped.Forward(new SequenceBatch<float>(x, 2, 5, default), wrapped.CreateCache(), ForwardContext.Inference).ToArray();
        float[] b = plain.Forward(new SequenceBatch<float>(x, 2, 5, default), plain.CreateCache(), ForwardContext.Inference).ToArray();
        Assert.That(a, Is.EqualTo(b));
    }

    [Test]
    public void ServingPlansAndStreamingSessions_RunIt_AsTheModelDoes()
    {
        Sequential<float> model = Tagger(7);
        float[] x = Enumerable.Range(0, 5 * 3).Select(k => MathF.Cos(0.7f * k)).ToArray();
        float[] expected = model.Forward(new SequenceBatch<float>(x, 1, 5, default), model.CreateCache(), ForwardContext.Inference).ToArray();
        InferencePlan<float> plan = model.CreateInferencePlan(maxBatch: 1, maxTime: 5);
        Assert.That(plan.PredictSequence(x).ToArray(), Is.EqualTo(expected).Within(1e-6f), "the plan's [T, K]");
        StreamingSession<float> session = model.CreateSession();
        for (int t = 0; t < 5; t++)
            Assert.That(session.Step(x.AsSpan(t * 3, 3)).ToArray(), Is.EqualTo(expected.AsSpan(t * 2, 2).ToArray()).Within(1e-6f), $"step {t}");
    }

    [Test]
    public void AKerasArchive_HoldsTheDenseUnderTheWrappersLayer_AndLoadsBack()
    {
        Sequential<float> model = Tagger(3);
        string path = Path.Combine(directory, "tagger.keras");
        KerasFile.Save(model, path, timeSteps: 5);
        using (var zip = System.IO.Compression.ZipFile.OpenRead(path))
        {
            using var config = new StreamReader(zip.GetEntry("config.json")!.Open());
            JsonNode head = JsonNode.Parse(config.ReadToEnd())!["config"]!["layers"]!.AsArray()[^1]!;
            Assert.That((string?)head["class_name"], Is.EqualTo("TimeDistributed"));
            Assert.That((string?)head["config"]!["layer"]!["class_name"], Is.EqualTo("Dense"));
            Assert.That(head["config"]!["layer"]!["build_config"]!["input_shape"]!.ToJsonString(), Is.EqualTo("[null,4]"));
            Assert.That(head["build_config"]!["input_shape"]!.ToJsonString(), Is.EqualTo("[null,5,4]"));
            using var weights = new MemoryStream();
            zip.GetEntry("model.weights.h5")!.Open().CopyTo(weights);
            Hdf5File file = Hdf5File.Parse(weights.ToArray(), "model.weights.h5");
            // Keras 3's saving_lib: the wrapper's own (empty) vars, and the Dense's on its attribute 'layer'.
            Assert.That(file.Find("layers/time_distributed/vars") is { IsGroup: true } wrapperVars && !wrapperVars.Children().Any(), Is.True);
            Assert.That(file.Find("layers/time_distributed/layer/vars/0"), Is.Not.Null, "kernel (4, 2)");
            Assert.That(file.Find("layers/time_distributed/layer/vars/1"), Is.Not.Null, "bias (2)");
            Assert.That(file.Find("layers/dense"), Is.Null);
        }
        Sequential<float> loaded = KerasFile.Load<float>(path, seed: 3);   // the seed is NumLstm's, not in a Keras file
        Assert.That(ModelSpecOf.Describe(loaded).ToJson(), Is.EqualTo(ModelSpecOf.Describe(model).ToJson()));
        Assert.That(loaded.Parameters.SelectMany(p => p.Value), Is.EqualTo(model.Parameters.SelectMany(p => p.Value)));
        // NumLstm's own file keeps it too.
        string own = Path.Combine(directory, "tagger.safetensors");
        ModelFile.Save(model, own);
        Assert.That(((Dense<float>)ModelFile.Load<float>(own).Layers[^1]).TimeDistributed, Is.True);
    }

    [Test]
    public void ATimeDistributedTagger_TrainsOnATargetPerStep()
    {
        var random = new Random(4);
        int count = 64, steps = 5;
        var x = new float[count * steps * 3];
        var labels = new int[count * steps];
        for (int r = 0; r < count * steps; r++)
        {
            for (int f = 0; f < 3; f++) x[r * 3 + f] = (float)(random.NextDouble() * 2 - 1);
            labels[r] = x[r * 3] > 0 ? 1 : 0;
        }
        SequenceDataset data = SequenceDataset.ForClassificationPerStep(x, count, steps, 3, labels, 2);
        var trainer = new Trainer(Tagger(5));
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 15, BatchSize = 16, Seed = 6, LearningRate = 0.02 });
        Assert.That(history.Epochs[^1].TrainLoss, Is.LessThan(history.Epochs[0].TrainLoss));
        Assert.That(trainer.Evaluate(data).Metric, Is.GreaterThan(0.9));
    }
}
