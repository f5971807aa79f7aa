using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Models;

/// <summary>The Dropout layer through the builder, the spec JSON, ModelSpecOf, the model file and the fit loop.</summary>
public class DropoutSpecTests
{
    private static ModelSpec Spec(int seed = 5) => ModelBuilder.Input(3)
        .Dropout(0.2).Lstm(4, returnSequences: true).Dropout(0.5, name: "drop").Lstm(3).Dropout(0.25).Dense(2)
        .ToSpec(seed);

    [Test]
    public void Builder_Spec_Json_AndDescribe_AgreeOnTypeRateAndNames()
    {
        ModelSpec spec = Spec();
        Sequential<float> model = spec.Build<float>();
        Assert.That(model.Layers.Select(l => l.Name), Is.EqualTo(new[] { "dropout_1", "lstm_1", "drop", "lstm_2", "dropout_2", "dense_1" }));
        Assert.That(model.Layers.OfType<Dropout<float>>().Select(d => d.Rate), Is.EqualTo(new[] { 0.2, 0.5, 0.25 }));
        Assert.That(model.ParameterCount, Is.EqualTo(spec.ParameterCount()), "dropout layers hold no parameters");
        Assert.That(model.OutputShape, Is.EqualTo(LayerShape.Vector(2)));

        string json = spec.ToJson();
        Assert.That(json, Does.Contain("\"type\": \"dropout\"").And.Contain("\"rate\": 0.5"));
        Assert.That(ModelSpec.FromJson(json).ToJson(), Is.EqualTo(json));
        Assert.That(ModelSpecOf.Describe(model).ToJson(), Is.EqualTo(spec.WithLayerNames().ToJson()));
        Assert.That(model.Summary(), Does.Contain("drop (Dropout)").And.Contain("dropout_2 (Dropout)"));
    }

    [Test]
    public void SpecsWithoutDropout_WriteNoRateField()
    {
        // The rate is left out of every other layer's JSON, so the specs in earlier files read and write as before.
        string json = ModelBuilder.Input(3).Lstm(4).Dense(2).ToSpec().ToJson();
        Assert.That(json, Does.Not.Contain("\"rate\""));
    }

    [TestCase("\"rate\": 1", "layers[0].rate must be in [0, 1), got 1")]
    [TestCase("\"rate\": -0.5", "layers[0].rate must be in [0, 1), got -0.5")]
    [TestCase("\"rate\": 1e400", "layers[0].rate must be in [0, 1), got Infinity")]
    [TestCase("\"rate\": \"0.5\"", "invalid JSON")]
    [TestCase("\"rate\": null", "invalid JSON")]
    [TestCase("\"rate\": 0.5, \"rate\": 0.2", "invalid JSON")]
    public void HostileRates_AreRefusedNamingTheField(string field, string message)
    {
        string json = $$"""{"version": 1, "input_features": 3, "layers": [{"type": "dropout", {{field}}}, {"type": "dense", "units": 2}]}""";
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json, "m.json"))!;
        Assert.That(e.Message, Does.Contain("m.json").And.Contain(message));
    }

    [Test]
    public void ARateOnAnotherLayerType_IsRefused_RatherThanIgnored()
    {
        string json = """{"version": 1, "input_features": 3, "layers": [{"type": "dense", "units": 2, "rate": 0.5}]}""";
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json))!;
        Assert.That(e.Message, Does.Contain("layers[0].rate is a dropout layer's field; a dense layer takes none"));
        Assert.That(ModelSpec.FromJson("""{"version": 1, "input_features": 3, "layers": [{"type": "dropout"}]}""").Layers[0].Rate, Is.Zero, "a left-out rate is 0");
    }

    [Test]
    public void ModelFile_SavesTheSpecAndNoTensor_AndLoadsTheSameModel()
    {
        string folder = Path.Combine(Path.GetTempPath(), "numlstm-dropout-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            Sequential<float> model = Spec().Build<float>();
            string path = Path.Combine(folder, "m.safetensors");
            ModelFile.Save(model, path);
            SafeTensorsContent content = SafeTensorsFile.Read(path);
            Assert.That(content.Tensors.Keys.Where(k => k.Contains("drop", StringComparison.Ordinal)), Is.Empty);
            Assert.That(content.Metadata[ModelFile.SpecKey], Does.Contain("\"type\": \"dropout\""));
            Sequential<float> loaded = ModelFile.Load<float>(path);
            Assert.That(ModelSpecOf.Describe(loaded).ToJson(), Is.EqualTo(ModelSpecOf.Describe(model).ToJson()));
            float[] x = Enumerable.Range(0, 2 * 5 * 3).Select(k => (float)Math.Sin(k)).ToArray();
            float[] Run(Sequential<float> m, ForwardContext context)
                => m.Forward(new SequenceBatch<float>(x, 2, 5, default), m.CreateCache(), context).ToArray();
            Assert.That(Run(loaded, ForwardContext.Inference), Is.EqualTo(Run(model, ForwardContext.Inference)));
            Assert.That(Run(loaded, new ForwardContext(true, new Random(4))), Is.EqualTo(Run(model, new ForwardContext(true, new Random(4)))),
                "the same training masks from the same stream");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void TrainingForward_DropsAndInferenceDoesNot_ThroughTheModel()
    {
        Sequential<double> model = ModelBuilder.Input(4).Dropout(0.5).Build<double>();
        double[] x = Enumerable.Range(1, 2 * 3 * 4).Select(k => (double)k).ToArray();
        double[] inference = model.Forward(new SequenceBatch<double>(x, 2, 3, default), model.CreateCache(), ForwardContext.Inference).ToArray();
        Assert.That(inference, Is.EqualTo(x));
        double[] training = model.Forward(new SequenceBatch<double>(x, 2, 3, default), model.CreateCache(), new ForwardContext(true, new Random(1))).ToArray();
        Assert.That(Enumerable.Range(0, x.Length).All(k => training[k] == 0 || training[k] == x[k] * 2), Is.True, "0 or x/(1 − 0.5)");
        Assert.That(training.Count(v => v == 0), Is.InRange(1, x.Length - 1), "some dropped, some kept");
    }

    [Test]
    public void Fit_TrainsAModelWithDropout_Deterministically()
    {
        var data = NumLstm.Data.SineFrequencies.Generate(64, 8, 12, classCount: 3, seed: 1);
        double[] Losses()
        {
            Sequential<float> model = ModelBuilder.Input(1).Lstm(8, returnSequences: true).Dropout(0.3).Lstm(6).Dropout(0.3).Dense(data.ClassCount).Build<float>(seed: 2);
            var history = new NumLstm.Training.Trainer(model).Fit(data, new NumLstm.Training.TrainingOptions { Epochs = 2, BatchSize = 16, Seed = 7 });
            return history.Epochs.Select(e => e.TrainLoss).ToArray();
        }
        double[] first = Losses();
        Assert.That(first.All(double.IsFinite), Is.True);
        Assert.That(Losses(), Is.EqualTo(first), "the same seed, the same dropout masks, the same run");
    }

    [Test]
    public void PlanAndSession_OfAModelEndingInDropout_ReturnTheirOwnBuffer_NotTheCallersInput()
    {
        // Inference dropout is the identity, but a plan's result is a view into its own buffers (valid until its next
        // call), never the caller's array, which the caller may overwrite.
        Sequential<float> model = ModelBuilder.Input(3).Dropout(0.5).Build<float>();
        float[] x = Enumerable.Range(0, 2 * 4 * 3).Select(k => (float)k).ToArray();
        var plan = model.CreateInferencePlan(2, 4);
        ReadOnlySpan<float> predicted = plan.Predict(x, 2, 4);
        Assert.That(predicted.Overlaps(x), Is.False);
        Assert.That(predicted.ToArray(), Is.EqualTo(x));
        var session = model.CreateSession(batch: 2, maxChunk: 4);
        float[] step = x.AsSpan(0, 6).ToArray();
        ReadOnlySpan<float> streamed = session.Step(step);
        Assert.That(streamed.Overlaps(step), Is.False);
        Assert.That(streamed.ToArray(), Is.EqualTo(step));
    }
}
