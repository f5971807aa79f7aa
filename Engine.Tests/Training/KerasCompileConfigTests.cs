using System.Text.Json.Nodes;
using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// The compile_config of a Keras 3 model config (keras/src/trainers/trainer.py get_compile_config: optimizer as
/// serialized by optimizers' get_config, loss and metrics as given), read into <see cref="KerasCompileConfig"/> and turned
/// into training options that train with Keras' formulas: optimizers.get takes names in any case, losses.get is
/// case-sensitive, base_optimizer raises for more than one of clipnorm, clipvalue and global_clipnorm.
/// </summary>
public class KerasCompileConfigTests
{
    private static string Model(string compileConfig) => $$"""{"module": "keras", "class_name": "Sequential", "config": {}, "compile_config": {{compileConfig}}}""";

    private static string Optimizer(string className, string config)
        => $$"""{"module": "keras.optimizers", "class_name": "{{className}}", "config": {{config}}, "registered_name": null}""";

    private const string AdamConfig = """{"name": "adam", "learning_rate": 0.0010000000474974513, "weight_decay": null, "clipnorm": null, "global_clipnorm": null, "clipvalue": null, "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null, "loss_scale_factor": null, "gradient_accumulation_steps": null, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": false}""";

    private static KerasCompileConfig Read(string optimizer, string loss = "\"mse\"", string metrics = "null", string weighted = "null")
        => KerasCompileConfig.FromModelConfig(Model($$"""{"optimizer": {{optimizer}}, "loss": {{loss}}, "loss_weights": null, "metrics": {{metrics}}, "weighted_metrics": {{weighted}}, "run_eagerly": false, "steps_per_execution": 1, "jit_compile": false}"""))!;

    [Test]
    public void TheFixturesCompileConfig_IsRead_AsKerasWroteIt()
    {
        string path = Path.Combine(TestContext.CurrentContext.TestDirectory, "IO", "Fixtures", "Keras", "seed_small.keras");
        KerasCompileConfig compile = KerasFile.LoadCompileConfig(path)!;
        Assert.That(compile.Optimizer, Is.EqualTo("Adam"));
        Assert.That(compile.LearningRate, Is.EqualTo(0.0010000000474974513));
        Assert.That(compile.Hyperparameters, Is.EquivalentTo(new Dictionary<string, double> { ["beta_1"] = 0.9, ["beta_2"] = 0.999, ["epsilon"] = 1e-7, ["weight_decay"] = 0, ["amsgrad"] = 0 }));
        Assert.That(compile.Loss, Is.EqualTo("mse"));
        Assert.That(compile.Clip, Is.EqualTo(ClipMode.None));
        Assert.That(compile.Metrics, Is.Empty);
        var adam = (Adam<float>)compile.CreateOptimizer(ModelBuilder.Input(2).Dense(1).Build<float>().Parameters.ToList(), compile.LearningRate);
        Assert.That(adam.Formula, Is.EqualTo(AdamFormula.Keras));
        Assert.That(adam.Epsilon, Is.EqualTo(1e-7));
    }

    [Test]
    public void AnUncompiledModel_HasNoCompileConfig()
    {
        Assert.That(KerasCompileConfig.FromModelConfig("""{"class_name": "Sequential", "config": {}}"""), Is.Null);
        Assert.That(KerasCompileConfig.FromModelConfig("""{"class_name": "Sequential", "config": {}, "compile_config": null}"""), Is.Null);
        string path = Path.Combine(TestContext.CurrentContext.TestDirectory, "IO", "Fixtures", "Keras", "seed_small.weights.h5");
        Assert.That(KerasFile.LoadCompileConfig(path), Is.Null, "a weights file has no config");
    }

    [Test]
    public void Optimizers_TheirDefaults_AndNamesInAnyCase()
    {
        Assert.That(Read("\"sgd\"").Optimizer, Is.EqualTo("SGD"));
        Assert.That(Read("\"sgd\"").LearningRate, Is.EqualTo(0.01), "SGD's default rate");
        Assert.That(Read("\"RMSProp\"").Optimizer, Is.EqualTo("RMSprop"));
        Assert.That(Read("\"AdamW\"").Hyperparameters["weight_decay"], Is.EqualTo(0.004), "AdamW's default decay");
        Assert.That(Read("""{"class_name": "adam", "config": {"learning_rate": 0.01}}""").Optimizer, Is.EqualTo("Adam"), "an older 3.x raw dict");
        KerasCompileConfig sgd = Read(Optimizer("SGD", """{"name": "SGD", "learning_rate": 0.05, "momentum": 0.9, "nesterov": true, "clipnorm": 1.5}"""));
        Assert.That(sgd.Hyperparameters["momentum"], Is.EqualTo(0.9));
        Assert.That(sgd.Hyperparameters["nesterov"], Is.EqualTo(1));
        Assert.That((sgd.Clip, sgd.ClipValue), Is.EqualTo((ClipMode.Norm, 1.5)));
        Assert.That(Read(Optimizer("Adam", """{"global_clipnorm": 2.0}""")).Clip, Is.EqualTo(ClipMode.GlobalNormKeras));
        Assert.That(Read(Optimizer("Adam", """{"clipvalue": 0.5}""")).Clip, Is.EqualTo(ClipMode.Value));
        var rms = (RmsProp<float>)Read(Optimizer("RMSprop", """{"rho": 0.8, "centered": true, "momentum": 0.5}"""))
            .CreateOptimizer(ModelBuilder.Input(2).Dense(1).Build<float>().Parameters.ToList(), 1e-3);
        Assert.That((rms.Rho, rms.Centered, rms.Momentum, rms.Formula), Is.EqualTo((0.8, true, 0.5, RmsPropFormula.Keras)));
        foreach (string name in new[] { "Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adamax", "Nadam" })
            Assert.That(Read($"\"{name}\"").CreateOptimizer(ModelBuilder.Input(2).Dense(1).Build<float>().Parameters.ToList(), 1e-3), Is.Not.Null, name);
    }

    [Test]
    public void Losses_NamesObjectsAndFunctions_WithKerasDefaults()
    {
        Assert.That(Read("\"adam\"", "\"MSE\"").Loss, Is.EqualTo("mse"));
        KerasCompileConfig bce = Read("\"adam\"", "\"binary_crossentropy\"");
        Assert.That((bce.Loss, bce.FromLogits), Is.EqualTo(("binary_crossentropy", (bool?)false)), "Keras' from_logits=False for a name");
        KerasCompileConfig logits = Read("\"adam\"", """{"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy", "config": {"name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": true, "ignore_class": null}, "registered_name": null}""");
        Assert.That((logits.Loss, logits.FromLogits), Is.EqualTo(("sparse_categorical_crossentropy", (bool?)true)));
        KerasCompileConfig smoothed = Read("\"adam\"", """{"module": "keras.losses", "class_name": "CategoricalCrossentropy", "config": {"name": "x", "reduction": "sum_over_batch_size", "from_logits": false, "label_smoothing": 0.1, "axis": -1}, "registered_name": null}""");
        Assert.That(smoothed.LabelSmoothing, Is.EqualTo(0.1));
        Assert.That(Read("\"adam\"", """{"module": "keras.losses", "class_name": "Huber", "config": {"name": "huber_loss", "reduction": "sum_over_batch_size"}, "registered_name": null}""").HuberDelta,
            Is.EqualTo(1.0), "Keras before July 2026 saved no delta, and reloads Huber with 1.0");
        Assert.That(Read("\"adam\"", """{"class_name": "Huber", "config": {"delta": 0.5}}""").HuberDelta, Is.EqualTo(0.5));
        Assert.That(Read("\"adam\"", """{"module": "builtins", "class_name": "function", "config": "mean_absolute_error", "registered_name": "function"}""").Loss, Is.EqualTo("mae"));
        KerasCompileConfig metrics = Read("\"adam\"", "\"mse\"", """["mae", "RootMeanSquaredError"]""", """["mse"]""");
        Assert.That(metrics.Metrics, Is.EqualTo(new MetricConfig[] { "mae", "RootMeanSquaredError" }));
        Assert.That(metrics.WeightedMetrics, Is.EqualTo(new MetricConfig[] { "mse" }));
    }

    public static IEnumerable<TestCaseData> Refusals()
    {
        TestCaseData Case(string name, string compile, string path, string message) => new TestCaseData(compile, path, message).SetName("Compile_Refuses_" + name);
        string With(string optimizer, string loss = "\"mse\"", string extra = "") => $$"""{"optimizer": {{optimizer}}, "loss": {{loss}}{{extra}}}""";
        yield return Case("TwoClips", With(Optimizer("Adam", """{"clipnorm": 1.0, "clipvalue": 0.5}""")), "compile_config.optimizer.config.clipvalue", "only one of clipnorm, clipvalue and global_clipnorm");
        yield return Case("Schedule", With(Optimizer("Adam", """{"learning_rate": {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay", "config": {}}}""")),
            "compile_config.optimizer.config.learning_rate", "a learning-rate schedule not supported");
        yield return Case("Ema", With(Optimizer("Adam", """{"use_ema": true}""")), "compile_config.optimizer.config.use_ema", "true not supported");
        yield return Case("Accumulation", With(Optimizer("Adam", """{"gradient_accumulation_steps": 4}""")), "compile_config.optimizer.config.gradient_accumulation_steps", "4 not supported");
        yield return Case("Lion", With("\"lion\""), "compile_config.optimizer", "'lion' not supported");
        yield return Case("CustomOptimizer", With("""{"module": "my.opt", "class_name": "Adam", "config": {}, "registered_name": "MyAdam"}"""), "compile_config.optimizer.module", "is a custom class");
        yield return Case("UnknownOptimizerKey", With(Optimizer("SGD", """{"beta_1": 0.9}""")), "compile_config.optimizer.config.beta_1", "is not a field NumLstm knows here");
        yield return Case("AdamWWithoutDecay", With(Optimizer("AdamW", """{"weight_decay": null}""")), "compile_config.optimizer.config.weight_decay", "null not supported");
        yield return Case("NegativeMomentum", With(Optimizer("SGD", """{"momentum": -0.5}""")), "compile_config.optimizer.config.momentum", "must be ≥ 0");
        yield return Case("LossCaseWrong", With("\"adam\"", "\"Mse\""), "compile_config.loss", "'Mse' not supported (NumLstm's losses, as Keras names them, case-sensitive");
        yield return Case("ShapeResolvedCrossentropy", With("\"adam\"", "\"crossentropy\""), "compile_config.loss", "Keras picks the binary, sparse or categorical cross-entropy from the shapes");
        yield return Case("LossList", With("\"adam\"", "[\"mse\"]"), "compile_config.loss", "one loss per output");
        yield return Case("LossDict", With("\"adam\"", """{"out": "mse"}"""), "compile_config.loss", "a dict of losses by output name");
        yield return Case("LossReductionSum", With("\"adam\"", """{"class_name": "MeanSquaredError", "config": {"reduction": "sum"}}"""), "compile_config.loss.config.reduction", "'sum' not supported");
        yield return Case("Poisson", With("\"adam\"", "\"poisson\""), "compile_config.loss", "'poisson' not supported");
        yield return Case("MissingLoss", With("\"adam\"", "null"), "compile_config.loss", "missing");
        yield return Case("LossWeights", With("\"adam\"", "\"mse\"", ", \"loss_weights\": [0.5]"), "compile_config.loss_weights", "not supported");
        yield return Case("MetricObject", With("\"adam\"", "\"mse\"", """, "metrics": [{"class_name": "F1Score", "config": {}}]"""), "compile_config.metrics[0].class_name", "an object of class_name 'F1Score' not supported");
        yield return Case("RepeatedKey", With(Optimizer("Adam", """{"learning_rate": 0.1, "learning_rate": 0.2}""")), "compile_config.optimizer.config.learning_rate",
            "the key is repeated");
        yield return Case("MetricUnknown", With("\"adam\"", "\"mse\"", """, "metrics": ["f1_score"]"""), "compile_config.metrics[0]", "'f1_score' not supported");
        yield return Case("UnknownField", With("\"adam\"", "\"mse\"", ", \"something\": 1"), "compile_config.something", "is not a field NumLstm knows here");
    }

    [TestCaseSource(nameof(Refusals))]
    public void WhatNumLstmCannotHonour_IsAFormatException_NamingThePath(string compile, string path, string message)
    {
        var e = Assert.Throws<FormatException>(() => KerasCompileConfig.FromModelConfig(Model(compile), "m.keras!config.json"))!;
        Assert.That(e.Message, Does.StartWith($"Keras compile config 'm.keras!config.json': {path}: "));
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void ToTrainingOptions_TrainsAsTheSameOptionsWrittenByHand()
    {
        // One epoch with the options from the compile config, and with the options a user would write for Keras'
        // compile(optimizer=SGD(learning_rate=0.05, momentum=0.9, nesterov=True, clipnorm=1.5), loss="mse", metrics=["mae"]):
        // bit for bit the same weights and history.
        KerasCompileConfig compile = Read(Optimizer("SGD", """{"name": "SGD", "learning_rate": 0.05, "momentum": 0.9, "nesterov": true, "clipnorm": 1.5}"""), "\"mse\"", """["mae"]""");
        var random = new Random(3);
        float[] x = Enumerable.Range(0, 10 * 4 * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] y = Enumerable.Range(0, 10).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        SequenceDataset data = SequenceDataset.ForRegression(x, 10, 4, 2, y, 1);
        Sequential<float> fromConfig = ModelBuilder.Input(2).Lstm(3).Dense(1).Build<float>(seed: 4), byHand = ModelBuilder.Input(2).Lstm(3).Dense(1).Build<float>(seed: 4);
        TrainingHistory a = new Trainer(fromConfig).Fit(data, compile.ToTrainingOptions(epochs: 2, batchSize: 4, seed: 9));
        TrainingHistory b = new Trainer(byHand).Fit(data, new TrainingOptions
        {
            Epochs = 2, BatchSize = 4, Seed = 9, Loss = "mse", Metric = "mae", Clip = ClipMode.Norm, ClipValue = 1.5, LearningRate = 0.05,
            OptimizerFactory = (ps, lr) => new Sgd<float>(ps, lr, momentum: 0.9, nesterov: true, formula: SgdFormula.Keras),
        });
        Assert.That(fromConfig.Parameters.SelectMany(p => p.Value), Is.EqualTo(byHand.Parameters.SelectMany(p => p.Value)));
        Assert.That(a.History["mae"], Is.EqualTo(b.History["mae"]));
        Assert.That(fromConfig.Parameters.SelectMany(p => p.Value), Is.Not.EqualTo(ModelBuilder.Input(2).Lstm(3).Dense(1).Build<float>(seed: 4).Parameters.SelectMany(p => p.Value)), "it trained");
    }

    [Test]
    public void MutatedCompileConfigs_ReadOrThrowFormatException()
    {
        // Seeded mutations (HostileFileTests.MutateJson: numbers to extremes, tokens, characters, truncation, nesting, lone
        // surrogate escapes) of a compile config holding every kind of field read: nothing but FormatException may escape.
        string optimizer = Optimizer("SGD", """{"name": "SGD", "learning_rate": 0.05, "momentum": 0.9, "nesterov": true, "clipnorm": 1.5, "weight_decay": null, "use_ema": false}""");
        const string loss = """{"module": "keras.losses", "class_name": "CategoricalCrossentropy", "config": {"name": "x", "reduction": "sum_over_batch_size", "from_logits": false, "label_smoothing": 0.1, "axis": -1}, "registered_name": null}""";
        string valid = Model($$"""{"optimizer": {{optimizer}}, "loss": {{loss}}, "loss_weights": null, "metrics": ["accuracy", "mae"], "weighted_metrics": ["mse"], "run_eagerly": false, "steps_per_execution": 1, "jit_compile": false}""");
        Assert.That(KerasCompileConfig.FromModelConfig(valid), Is.Not.Null);
        var random = new Random(77);
        int read = 0, refused = 0;
        for (int k = 0; k < 3000; k++)
        {
            string json = k % 10 == 0 ? valid.Replace("\"mae\"", "\"\\ud800\"").Replace("\"SGD\", \"config\"", "\"\\udc00\", \"config\"").Replace("\"jit_compile\"", k % 20 == 0 ? "\"\\ud801\"" : "\"jit_compile\"") : Reliability.HostileFileTests.MutateJson(random, valid);
            try
            {
                if (KerasCompileConfig.FromModelConfig(json, "fuzz") is not null) read++;
            }
            catch (FormatException e)
            {
                Assert.That(e.Message, Does.StartWith("Keras compile config 'fuzz'"), json);
                refused++;
            }
        }
        Assert.That(refused, Is.GreaterThan(500));
        Assert.That(read, Is.GreaterThan(50));
    }

    [Test]
    public void ACorruptCompileConfig_InAKerasArchive_IsANumLstmFormatException()
    {
        string source = Path.Combine(TestContext.CurrentContext.TestDirectory, "IO", "Fixtures", "Keras", "seed_small.keras");
        string path = Path.Combine(Path.GetTempPath(), $"compile-{Guid.NewGuid():N}.keras");
        try
        {
            using (var archive = new System.IO.Compression.ZipArchive(File.OpenRead(source)))
            using (var output = new System.IO.Compression.ZipArchive(File.Create(path), System.IO.Compression.ZipArchiveMode.Create))
                foreach (var entry in archive.Entries)
                {
                    using Stream from = entry.Open();
                    using Stream to = output.CreateEntry(entry.FullName, System.IO.Compression.CompressionLevel.NoCompression).Open();
                    if (entry.FullName == "config.json")
                    {
                        JsonNode config = JsonNode.Parse(from)!;
                        config["compile_config"]!["optimizer"]!["config"]!["use_ema"] = true;
                        to.Write(System.Text.Encoding.UTF8.GetBytes(config.ToJsonString()));
                    }
                    else from.CopyTo(to);
                }
            var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadCompileConfig(path))!;
            Assert.That(e.Message, Does.Contain("compile_config.optimizer.config.use_ema: true not supported"));
            Assert.That(KerasFile.Load<float>(path).ParameterCount, Is.GreaterThan(0), "the model itself still loads: Load does not read the compile config");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
