using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Models;

public class ModelFileTests
{
    private string folder = "";

    [SetUp]
    public void CreateFolder() => Directory.CreateDirectory(folder = Path.Combine(Path.GetTempPath(), "numlstm-model-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    private static float[] Run(Sequential<float> model, float[] x, int batch, int time)
        => model.Forward(new SequenceBatch<float>(x, batch, time, default), model.CreateCache(), ForwardContext.Inference).ToArray();

    private static float[] Inputs(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    [Test]
    public void SaveThenLoad_RoundTripsWeightsSpecAndOutputs()
    {
        var model = new StackSpec(3, new[] { 4, 5 }, Bidirectional: true, OutputUnits: 2, Seed: 9)
            .WithPlacement(LayerNormPlacement.InCellAndAfterEach(CellNormalization.TfAddons)).Build<float>();
        string path = Path.Combine(folder, "model.safetensors");
        ModelFile.Save(model, path);
        Sequential<float> loaded = ModelFile.Load<float>(path);
        Assert.That(ModelSpecOf.Describe(loaded).ToJson(), Is.EqualTo(ModelSpecOf.Describe(model).ToJson()));
        Assert.That(loaded.Parameters.SelectMany(p => p.Value), Is.EqualTo(model.Parameters.SelectMany(p => p.Value)));
        float[] x = Inputs(2 * 6 * 3, 1);
        Assert.That(Run(loaded, x, 2, 6), Is.EqualTo(Run(model, x, 2, 6)));
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        Assert.That(content.Tensors.Keys, Does.Contain("bidirectional_1.weight_ih_l0").And.Contain("bidirectional_1.bias_hh_l0_reverse")
            .And.Contain("bidirectional_2.layernorm_c_reverse.weight").And.Contain("layer_norm_1.weight").And.Contain("dense_1.bias"));
        Assert.That(content.Tensors["bidirectional_1.bias_hh_l0"].ToArray<float>(), Is.All.EqualTo(0f), "our single bias is saved as bias_ih, bias_hh zero");
    }

    [Test]
    public void ModelSpec_JsonRoundTripsExactly_AndRejectsBadFields()
    {
        ModelSpec spec = new StackSpec(32, new[] { 100, 200 }, Bidirectional: true, Dropout: 0.4, RecurrentDropout: 0.4, OutputUnits: 2)
            .WithPlacement(LayerNormPlacement.AfterEachRecurrent).WithLayerNames();
        string json = spec.ToJson();
        Assert.That(ModelSpec.FromJson(json).ToJson(), Is.EqualTo(json));
        Assert.That(ModelSpec.FromJson(json).Build<float>().ParameterCount, Is.EqualTo(spec.Build<float>().ParameterCount));
        var badUnits = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json.Replace("\"units\": 100", "\"units\": -1"), "m.json"));
        Assert.That(badUnits!.Message, Does.Contain("m.json").And.Contain("layers[0].units"));
        var badDropout = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json.Replace("\"dropout\": 0.4", "\"dropout\": 1.5")));
        Assert.That(badDropout!.Message, Does.Contain("dropout"));
        Assert.Throws<FormatException>(() => ModelSpec.FromJson("{\"layers\": ["));
        Assert.Throws<FormatException>(() => ModelSpec.FromJson(new string('[', 10000)));
    }

    [Test]
    public void Summary_ListsLayersShapesAndParameterCounts()
    {
        // Keras counts for the seed model with F = 32: BiLSTM(100) 2·4·100·(32+100+1) = 106,400; LN(200) 400;
        // BiLSTM(200) 2·4·200·(200+200+1) = 641,600; LN(400) 800; Dense(2) 802. PyTorch's second bias is not counted.
        Sequential<float> model = new StackSpec(32, new[] { 100, 200 }, Bidirectional: true, OutputUnits: 2).WithPlacement(LayerNormPlacement.AfterEachRecurrent).Build<float>();
        string summary = model.Summary();
        Assert.That(summary, Does.Contain("106,400").And.Contain("641,600").And.Contain("(None, None, 200)").And.Contain("(None, 2)"));
        Assert.That(model.ParameterCount, Is.EqualTo(106_400 + 400 + 641_600 + 800 + 802));
    }

    [Test]
    public void HandBuiltPyTorchStateDict_LoadsWithTheExpectedOutputs()
    {
        // nn.LSTM(2, 2, batch_first=True) as "lstm" and nn.Linear(2, 1) as "fc", written in PyTorch's state_dict layout.
        float[] wIh = { 0.1f, -0.2f, 0.3f, 0.05f, -0.4f, 0.25f, 0.15f, -0.1f, 0.2f, 0.2f, -0.3f, 0.1f, 0.05f, 0.4f, -0.15f, 0.3f };
        float[] wHh = { 0.2f, 0.1f, -0.1f, 0.3f, 0.05f, -0.2f, 0.4f, 0.1f, -0.3f, 0.2f, 0.1f, 0.1f, 0.25f, -0.05f, 0f, 0.2f };
        float[] bIh = { 0.1f, 0f, 0.5f, 0.5f, -0.1f, 0.2f, 0f, 0.05f };
        float[] bHh = { 0f, 0.1f, 0.5f, 0.25f, 0f, -0.2f, 0.1f, 0f };
        float[] fcW = { 0.7f, -0.6f }, fcB = { 0.05f };
        string path = Path.Combine(folder, "torch.safetensors");
        SafeTensorsFile.Write(path, new[]
        {
            SafeTensor.Create<float>("lstm.weight_ih_l0", wIh, 8, 2), SafeTensor.Create<float>("lstm.weight_hh_l0", wHh, 8, 2),
            SafeTensor.Create<float>("lstm.bias_ih_l0", bIh, 8), SafeTensor.Create<float>("lstm.bias_hh_l0", bHh, 8),
            SafeTensor.Create<float>("fc.weight", fcW, 1, 2), SafeTensor.Create<float>("fc.bias", fcB, 1),
        });
        var model = new Sequential<float>(2, new Layer<float>[] { new Lstm<float>(2, name: "lstm"), new Dense<float>(1, name: "fc") });
        ModelFile.LoadWeights(model, path);

        // PyTorch's equations, written out in double: gates = W_ih x + b_ih + W_hh h + b_hh; i, f, g, o.
        float[] x = { 0.5f, -1f, 0.25f, 0.75f, -0.5f, 0.1f };   // [1, 3, 2]
        double[] h = new double[2], c = new double[2];
        static double S(double v) => 1 / (1 + Math.Exp(-v));
        for (int t = 0; t < 3; t++)
        {
            var z = new double[8];
            for (int r = 0; r < 8; r++)
                z[r] = wIh[2 * r] * x[2 * t] + wIh[2 * r + 1] * x[2 * t + 1] + bIh[r] + wHh[2 * r] * h[0] + wHh[2 * r + 1] * h[1] + bHh[r];
            for (int j = 0; j < 2; j++)
            {
                c[j] = S(z[2 + j]) * c[j] + S(z[j]) * Math.Tanh(z[4 + j]);
                h[j] = S(z[6 + j]) * Math.Tanh(c[j]);
            }
        }
        double expected = fcW[0] * h[0] + fcW[1] * h[1] + fcB[0];
        Assert.That(Run(model, x, 1, 3)[0], Is.EqualTo(expected).Within(1e-6));
    }

    [Test]
    public void LoadWeights_WithMissingExtraOrMisshapenTensors_NamesTheFileAndTensor()
    {
        var model = new Sequential<float>(2, new Layer<float>[] { new Lstm<float>(2, name: "lstm"), new Dense<float>(1, name: "fc") });
        string path = Path.Combine(folder, "good.safetensors");
        ModelFile.Save(model, path);
        var tensors = SafeTensorsFile.Read(path).Tensors.Values.ToList();
        Sequential<float> before = ModelFile.Load<float>(path);

        string missing = Path.Combine(folder, "missing.safetensors");
        SafeTensorsFile.Write(missing, tensors.Where(t => t.Name != "lstm.weight_hh_l0"));
        var e1 = Assert.Throws<NumLstmFormatException>(() => ModelFile.LoadWeights(model, missing));
        Assert.That(e1!.Message, Does.Contain("missing.safetensors").And.Contain("lstm.weight_hh_l0"));

        string extra = Path.Combine(folder, "extra.safetensors");
        SafeTensorsFile.Write(extra, tensors.Append(SafeTensor.Create<float>("lstm.weight_ih_l1", new float[16], 8, 2)));
        var e2 = Assert.Throws<NumLstmFormatException>(() => ModelFile.LoadWeights(model, extra));
        Assert.That(e2!.Message, Does.Contain("extra.safetensors").And.Contain("lstm.weight_ih_l1"));

        string misshapen = Path.Combine(folder, "shape.safetensors");
        SafeTensorsFile.Write(misshapen, tensors.Select(t => t.Name == "fc.weight" ? SafeTensor.Create<float>("fc.weight", new float[2], 2, 1) : t));
        var e3 = Assert.Throws<NumLstmFormatException>(() => ModelFile.LoadWeights(model, misshapen));
        Assert.That(e3!.Message, Does.Contain("fc.weight").And.Contain("[1, 2]"));
        Assert.That(model.Parameters.SelectMany(p => p.Value), Is.EqualTo(before.Parameters.SelectMany(p => p.Value)), "a failed load leaves the model unchanged");

        var e4 = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(missing.Replace("missing", "nowhere")));
        Assert.That(e4!.Message, Does.Contain("nowhere"));
    }

    [Test]
    public void Checkpoint_ResumedTraining_EqualsUninterruptedTrainingBitForBit()
    {
        var random = new Random(3);
        const int count = 48, steps = 6, features = 2;
        float[] x = Inputs(count * steps * features, 4);
        int[] labels = Enumerable.Range(0, count).Select(_ => random.Next(3)).ToArray();
        SequenceDataset data = SequenceDataset.ForClassification(x, count, steps, features, labels, 3);
        ModelSpec spec = new StackSpec(features, new[] { 5 }, Bidirectional: true, Dropout: 0.3, RecurrentDropout: 0.3, OutputUnits: 3, Seed: 2)
            .WithPlacement(LayerNormPlacement.InCell(CellNormalization.KerasGates));
        var options = new TrainingOptions { Epochs = 4, BatchSize = 16, Seed = 11, LearningRate = 0.01 };

        var straight = new Trainer(spec.Build<float>());
        straight.Fit(data, options);

        var first = new Trainer(spec.Build<float>());
        first.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 16, Seed = 11, LearningRate = 0.01 });
        string path = Path.Combine(folder, "checkpoint.safetensors");
        Checkpoint.Save(first, path);
        Trainer resumed = Checkpoint.Load(path);
        Assert.That(resumed.CompletedEpochs, Is.EqualTo(2));
        Assert.That(resumed.Optimizer!.StepCount, Is.EqualTo(first.Optimizer!.StepCount));
        resumed.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 16, Seed = 11, LearningRate = 0.01 });

        Assert.That(resumed.Model.Parameters.SelectMany(p => p.Value), Is.EqualTo(straight.Model.Parameters.SelectMany(p => p.Value)));
        Assert.That(first.Model.Parameters.SelectMany(p => p.Value), Is.Not.EqualTo(straight.Model.Parameters.SelectMany(p => p.Value)));
    }

    [Test]
    public void Checkpoint_RoundTripsSgdState()
    {
        var model = new Sequential<float>(2, new Layer<float>[] { new Lstm<float>(2), new Dense<float>(2) });
        var trainer = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.1, momentum: 0.9, nesterov: true));
        var data = SequenceDataset.ForClassification(Inputs(8 * 3 * 2, 5), 8, 3, 2, new[] { 0, 1, 0, 1, 1, 0, 0, 1 }, 2);
        trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 4 });
        string path = Path.Combine(folder, "sgd.safetensors");
        Checkpoint.Save(trainer, path);
        Trainer loaded = Checkpoint.Load(path);
        Assert.That(loaded.Optimizer, Is.InstanceOf<Sgd<float>>());
        Assert.That(loaded.Optimizer!.ExportState().Slots.SelectMany(s => s.Values), Is.EqualTo(trainer.Optimizer!.ExportState().Slots.SelectMany(s => s.Values)));
        Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(WriteModelOnly(model)));
    }

    [Test]
    public void Load_IsStrict_AnUnexpectedTensorIsNamed_ButACheckpointLoadsAsAModel()
    {
        var model = new Sequential<float>(2, new Layer<float>[] { new Lstm<float>(2, name: "lstm"), new Dense<float>(1, name: "fc") });
        var trainer = new Trainer(model);
        trainer.Fit(SequenceDataset.ForRegression(Inputs(8 * 3 * 2, 6), 8, 3, 2, Inputs(8, 7), 1), new TrainingOptions { Epochs = 1, BatchSize = 4 });
        var extra = SafeTensor.Create<float>("unexpected.weight", new float[3], 3);

        string modelWithExtra = Path.Combine(folder, "model-extra.safetensors");
        // ModelFile.Save refuses to write such a file (SaveAndLayerGuardTests), so the extra tensor is added to a saved one.
        ModelFile.Save(model, modelWithExtra);
        SafeTensorsContent saved = SafeTensorsFile.Read(modelWithExtra);
        SafeTensorsFile.Write(modelWithExtra, saved.Tensors.Values.Append(extra), saved.Metadata);
        var e1 = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(modelWithExtra));
        Assert.That(e1!.FilePath, Is.EqualTo(modelWithExtra));
        Assert.That(e1.Field, Is.EqualTo("tensor 'unexpected.weight'"));

        string checkpoint = Path.Combine(folder, "checkpoint.safetensors");
        Checkpoint.Save(trainer, checkpoint);
        Sequential<float> asModel = ModelFile.Load<float>(checkpoint);
        Assert.That(asModel.Parameters.SelectMany(p => p.Value), Is.EqualTo(model.Parameters.SelectMany(p => p.Value)), "optimizer.* tensors are not model tensors");

        SafeTensorsContent content = SafeTensorsFile.Read(checkpoint);
        string checkpointWithExtra = Path.Combine(folder, "checkpoint-extra.safetensors");
        SafeTensorsFile.Write(checkpointWithExtra, content.Tensors.Values.Append(extra), content.Metadata);
        var e2 = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(checkpointWithExtra));
        Assert.That(e2!.Field, Is.EqualTo("tensor 'unexpected.weight'"));

        // A stray optimizer tensor: no model tensor, so the model loads; the checkpoint does not.
        string strayState = Path.Combine(folder, "checkpoint-stray.safetensors");
        SafeTensorsFile.Write(strayState, content.Tensors.Values.Append(SafeTensor.Create<float>("optimizer.fc.weight.momentum_buffer", new float[2], 1, 2)), content.Metadata);
        Assert.DoesNotThrow(() => ModelFile.Load<float>(strayState));
        var e3 = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(strayState));
        Assert.That(e3!.Field, Is.EqualTo("tensor 'optimizer.fc.weight.momentum_buffer'"));
        Assert.That(e3.Message, Does.Contain("Adam").And.Contain("exp_avg"));
    }

    [Test]
    public void Checkpoint_WithAStepBeyond2To53_IsRejectedOnLoad()
    {
        var model = new Sequential<float>(2, new Layer<float>[] { new Lstm<float>(2, name: "lstm"), new Dense<float>(1, name: "fc") });
        var trainer = new Trainer(model);
        trainer.Fit(SequenceDataset.ForRegression(Inputs(8 * 3 * 2, 6), 8, 3, 2, Inputs(8, 7), 1), new TrainingOptions { Epochs = 1, BatchSize = 4 });
        string path = Path.Combine(folder, "checkpoint.safetensors");
        Checkpoint.Save(trainer, path);
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        const string key = "numlstm.optimizer";
        string json = content.Metadata[key];
        string written = $"\"step\":{trainer.Optimizer!.StepCount},";
        Assert.That(json, Does.Contain(written));

        foreach (long step in new[] { Optimizer<float>.MaxStepCount, Optimizer<float>.MaxStepCount + 1, long.MaxValue })
        {
            var metadata = content.Metadata.ToDictionary(p => p.Key, p => p.Value);
            metadata[key] = json.Replace(written, $"\"step\":{step},");
            string edited = Path.Combine(folder, $"step-{step}.safetensors");
            SafeTensorsFile.Write(edited, content.Tensors.Values, metadata);
            if (step == Optimizer<float>.MaxStepCount)
            {
                Assert.That(Checkpoint.Load(edited).Optimizer!.StepCount, Is.EqualTo(step));
                continue;
            }
            var e = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(edited), $"step {step}");
            Assert.That(e!.FilePath, Is.EqualTo(edited));
            Assert.That(e.Field, Is.EqualTo($"metadata '{key}'"));
            Assert.That(e.Message, Does.Contain(step.ToString()).And.Contain("2^53"));
        }
    }

    [Test]
    public void Checkpoint_SaveRefusesANegativeEpochCount_WhichLoadWouldReject()
    {
        var model = new Sequential<float>(2, new Layer<float>[] { new Dense<float>(1, name: "fc") });
        var trainer = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.1)) { CompletedEpochs = -2147483648 };
        string path = Path.Combine(folder, "negative.safetensors");
        var e = Assert.Throws<InvalidOperationException>(() => Checkpoint.Save(trainer, path));
        Assert.That(e!.Message, Does.Contain("-2147483648").And.Contain("CompletedEpochs"));
        Assert.That(File.Exists(path), Is.False);
        trainer.CompletedEpochs = int.MaxValue;
        Checkpoint.Save(trainer, path);
        Assert.That(Checkpoint.Load(path).CompletedEpochs, Is.EqualTo(int.MaxValue));
    }

    private string WriteModelOnly(Sequential<float> model)
    {
        string path = Path.Combine(folder, "model-only.safetensors");
        ModelFile.Save(model, path);
        return path;
    }
}
