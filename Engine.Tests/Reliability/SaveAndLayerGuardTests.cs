using System.Text.Json.Nodes;
using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Reliability;

/// <summary>
/// Saves that must not write what their loaders refuse (checkpoints of optimizers over some of a model's parameters,
/// model files past the loader's limits), layers that must not be shared or given another layer's cache, epsilons that
/// vanish in float, and error messages that must not echo a hostile file's names at full length. Every refused save
/// leaves the file already at the path as it was. docs/formats.md and docs/reliability.md list the cases.
/// </summary>
public sealed class SaveAndLayerGuardTests
{
    private string folder = "";

    [SetUp]
    public void CreateFolder() => Directory.CreateDirectory(folder = Path.Combine(Path.GetTempPath(), $"numlstm-guards-{Guid.NewGuid():N}"));

    [TearDown]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    private string PathIn(string name) => Path.Combine(folder, name);

    /// <summary>A file holding known bytes, to check that a refused save leaves it as it was.</summary>
    private string ExistingFile(string name)
    {
        string path = PathIn(name);
        File.WriteAllBytes(path, OldBytes);
        return path;
    }

    private static readonly byte[] OldBytes = "the previous file, which must survive"u8.ToArray();

    private static void AssertUnchanged(string path)
    {
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(OldBytes), "the file at the path must be left as it was");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(path)!), Has.Length.EqualTo(1), "no temporary file may be left behind");
    }

    private static Sequential<float> SmallModel()
        => new(2, new Layer<float>[] { new Lstm<float>(6, name: "lstm"), new Dense<float>(2, name: "dense") }, seed: 3);

    private static SequenceDataset SmallTask()
    {
        var random = new Random(7);
        const int count = 24, steps = 5, features = 2;
        float[] x = Enumerable.Range(0, count * steps * features).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        int[] labels = Enumerable.Range(0, count).Select(n => x[n * steps * features] > 0 ? 1 : 0).ToArray();
        return SequenceDataset.ForClassification(x, count, steps, features, labels, 2);
    }

    private static TrainingOptions Epochs(int epochs) => new() { Epochs = epochs, BatchSize = 8, Seed = 11 };

    // ---- 1. Checkpoints of optimizers over a subset or another order of the model's parameters ----------------------

    private static IEnumerable<TestCaseData> PartialOptimizers()
    {
        yield return new TestCaseData((Func<Sequential<float>, IReadOnlyList<Parameter<float>>>)(m => m.Layers[1].Parameters.ToList()))
            .SetArgDisplayNames("the Dense's parameters only");
        yield return new TestCaseData((Func<Sequential<float>, IReadOnlyList<Parameter<float>>>)(m => m.Parameters.Reverse().ToList()))
            .SetArgDisplayNames("all, reversed");
        yield return new TestCaseData((Func<Sequential<float>, IReadOnlyList<Parameter<float>>>)(m => new[] { m.Layers[1].Parameters[1], m.Layers[0].Parameters[0] }))
            .SetArgDisplayNames("two, out of order");
    }

    [TestCaseSource(nameof(PartialOptimizers))]
    public void Checkpoint_OfAnOptimizerOverSomeParametersInAnyOrder_LoadsTheSameStateAndResumesBitwise(Func<Sequential<float>, IReadOnlyList<Parameter<float>>> pick)
    {
        SequenceDataset data = SmallTask();
        Optimizer<float> Create(Sequential<float> m)
        {
            var adam = new Adam<float>(pick(m), 0.01, weightDecay: 0.01);
            adam.ExcludeFromWeightDecay(adam.Parameters[^1]);
            return adam;
        }
        Sequential<float> model = SmallModel();
        var first = new Trainer(model, Create(model));
        first.Fit(data, Epochs(1));
        Sequential<float> uninterruptedModel = SmallModel();
        new Trainer(uninterruptedModel, Create(uninterruptedModel)).Fit(data, Epochs(2));
        string path = PathIn("checkpoint.safetensors");

        Checkpoint.Save(first, path);
        Trainer resumed = Checkpoint.Load(path);

        // The loaded optimizer steps the same parameters (by model name) in the same order, with the same state.
        string NameOf(Trainer t, Parameter<float> p) => t.Model.NamedParameters.Single(n => ReferenceEquals(n.Parameter, p)).Name;
        Assert.That(resumed.Optimizer!.Parameters.Select(p => NameOf(resumed, p)), Is.EqualTo(first.Optimizer!.Parameters.Select(p => NameOf(first, p))));
        OptimizerState<float> saved = first.Optimizer.ExportState(), loaded = resumed.Optimizer.ExportState();
        Assert.That(loaded.Step, Is.EqualTo(saved.Step));
        Assert.That(loaded.Slots.Select(s => s.Values), Is.EqualTo(saved.Slots.Select(s => s.Values)));
        Assert.That(resumed.Optimizer.WeightDecayExcluded, Is.EqualTo(first.Optimizer.WeightDecayExcluded));
        resumed.Fit(data, Epochs(1));
        Assert.That(resumed.Model.Parameters.SelectMany(p => p.Value).ToArray(), Is.EqualTo(uninterruptedModel.Parameters.SelectMany(p => p.Value).ToArray()));
    }

    [Test]
    public void CheckpointSave_WithAnOptimizerParameterNotInTheModel_ThrowsAndLeavesTheFile()
    {
        Sequential<float> model = SmallModel();
        var foreign = new Parameter<float>("weight", 3, 3);
        var trainer = new Trainer(model);
        // Fit refuses a factory's optimizer over a parameter the model lacks, and does not keep it.
        Assert.Throws<ArgumentException>(() => trainer.Fit(SmallTask(), new TrainingOptions
        {
            Epochs = 1, BatchSize = 8, Seed = 11,
            OptimizerFactory = (parameters, rate) => new Sgd<float>(parameters.Take(2).Append(foreign).ToList(), rate),
        }));
        Assert.That(trainer.Optimizer, Is.Null, "a refused optimizer is not kept");
        // Save checks on its own (the trainer's setter is private; set here as a bug elsewhere could): it must not write
        // a checkpoint naming that parameter by some other one's name.
        typeof(Trainer).GetProperty(nameof(Trainer.Optimizer))!.SetValue(trainer, new Sgd<float>(model.Parameters.Take(2).Append(foreign).ToList(), 0.1));
        string path = ExistingFile("checkpoint.safetensors");

        var e = Assert.Throws<ArgumentException>(() => Checkpoint.Save(trainer, path))!;

        Assert.That(e.Message, Does.Contain("parameter 2 ('weight', 9 values) is not one of the model's"));
        AssertUnchanged(path);
    }

    // ---- 2. ModelFile.Save refuses what ModelFile.Load refuses, before touching the file --------------------------

    private static Sequential<float> DenseModel(string name = "dense", int units = 2) => new(1, new Layer<float>[] { new Dense<float>(units, name: name) }, seed: 1);

    private static Sequential<float> LayerNorms(int count) => new(1, Enumerable.Range(0, count).Select(k => new LayerNorm<float>(name: $"ln{k}")), seed: 1);

    private static IEnumerable<TestCaseData> UnloadableSaves()
    {
        static TestCaseData Case(string name, Action<string> save, string paramName, params string[] fragments)
            => new TestCaseData(save, paramName, fragments).SetArgDisplayNames(name);
        yield return Case("a layer named optimizer", path => ModelFile.Save(DenseModel("optimizer"), path), "model", "'optimizer'", "optimizer.");
        yield return Case("a layer named optimizer.head", path => ModelFile.Save(DenseModel("optimizer.head"), path), "model", "'optimizer.head'");
        yield return Case("Dense units past the limit", path => ModelFile.Save(DenseModel(units: ModelSpec.MaxDenseUnits + 1), path), "model",
            $"1..{ModelSpec.MaxDenseUnits}", $"got {ModelSpec.MaxDenseUnits + 1}");
        yield return Case("a name past the limit", path => ModelFile.Save(DenseModel(new string('n', ModelSpec.MaxNameLength + 1)), path), "model",
            $"1..{ModelSpec.MaxNameLength} characters", $"got {ModelSpec.MaxNameLength + 1}");
        yield return Case("more layers than the limit", path => ModelFile.Save(LayerNorms(ModelSpec.MaxLayers + 1), path), "model",
            $"{ModelSpec.MaxLayers + 1} layers", $"the {ModelSpec.MaxLayers} allowed");
        yield return Case("extra metadata under the spec's key", path => ModelFile.Save(DenseModel(), path, new Dictionary<string, string> { [ModelFile.SpecKey] = "{}" }),
            "extraMetadata", ModelFile.SpecKey);
        yield return Case("an extra tensor not named optimizer.*", path => ModelFile.Save(DenseModel(), path, extraTensors: [SafeTensor.Create<float>("extra.w", new float[2], [2])]),
            "extraTensors", "'extra.w'", "'optimizer.'");
    }

    [TestCaseSource(nameof(UnloadableSaves))]
    public void ModelFileSave_OfWhatLoadRefuses_ThrowsAndLeavesTheFile(Action<string> save, string paramName, string[] fragments)
    {
        string path = ExistingFile("model.safetensors");
        var e = Assert.Throws<ArgumentException>(() => save(path))!;
        Assert.That(e.ParamName, Is.EqualTo(paramName));
        foreach (string fragment in fragments) Assert.That(e.Message, Does.Contain(fragment));
        AssertUnchanged(path);
    }

    private static IEnumerable<TestCaseData> SavesAtTheLimits()
    {
        yield return new TestCaseData((Func<Sequential<float>>)(() => DenseModel(units: ModelSpec.MaxDenseUnits))).SetArgDisplayNames("Dense units at the limit");
        yield return new TestCaseData((Func<Sequential<float>>)(() => DenseModel(new string('n', ModelSpec.MaxNameLength)))).SetArgDisplayNames("a name at the limit");
        yield return new TestCaseData((Func<Sequential<float>>)(() => LayerNorms(ModelSpec.MaxLayers))).SetArgDisplayNames("as many layers as the limit");
        yield return new TestCaseData((Func<Sequential<float>>)(() => DenseModel("optimizers"))).SetArgDisplayNames("a layer named optimizers");
    }

    [TestCaseSource(nameof(SavesAtTheLimits))]
    public void ModelFileSave_AtTheLoadersLimits_SavesAndLoads(Func<Sequential<float>> create)
    {
        Sequential<float> model = create();
        string path = PathIn("model.safetensors");
        ModelFile.Save(model, path, new Dictionary<string, string> { ["user.note"] = "kept" }, [SafeTensor.Create<float>("optimizer.note", new float[1], [1])]);
        Sequential<float> loaded = ModelFile.Load<float>(path);
        Assert.That(loaded.NamedParameters.Select(p => p.Name), Is.EqualTo(model.NamedParameters.Select(p => p.Name)));
        Assert.That(loaded.Parameters.SelectMany(p => p.Value).ToArray(), Is.EqualTo(model.Parameters.SelectMany(p => p.Value).ToArray()));
    }

    // ---- 5. Epsilons that vanish in float ---------------------------------------------------------------------------

    [TestCase(1e-320)]   // subnormal in double, 0 in float
    [TestCase(1e-50)]    // 0 in float
    [TestCase(double.PositiveInfinity)]
    public void LayerNorm_WithAnEpsilonThatVanishesInFloat_Throws(double epsilon)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new LayerNorm<float>(epsilon: epsilon))!;
        Assert.That(e.ParamName, Is.EqualTo("epsilon"));
        Assert.That(e.Message, Does.Contain("> 0").And.Contain(epsilon.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new LayerNorm<double>(epsilon: epsilon), "the spec does not depend on T, so neither does the rule");
    }

    [TestCase(1e-320)]
    [TestCase(1e-50)]
    public void CellNormalization_WithAnEpsilonThatVanishesInFloat_Throws(double epsilon)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Lstm<float>(4, cellNormalization: CellNormalization.KerasGates with { Epsilon = epsilon }))!;
        Assert.That(e.ParamName, Is.EqualTo("Epsilon"));
        Assert.That(e.Message, Does.Contain("> 0").And.Contain(epsilon.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
    }

    [TestCase("\"epsilon\": 0.001", "\"epsilon\": 1E-320", "layers[0].epsilon")]
    [TestCase("\"cell_epsilon\": 0.001", "\"cell_epsilon\": 1E-50", "layers[0].cell_epsilon")]
    public void ModelFileLoad_WithASpecEpsilonThatVanishesInFloat_IsAFormatError(string saved, string edited, string field)
    {
        // One layer, whose own field comes first in the spec (before the cell_normalization echo, which the loader ignores).
        Layer<float> layer = saved.Contains("cell", StringComparison.Ordinal)
            ? new Lstm<float>(3, cellNormalization: CellNormalization.KerasGates, name: "lstm") : new LayerNorm<float>(name: "norm");
        var model = new Sequential<float>(2, [layer], seed: 1);
        string path = PathIn("model.safetensors");
        ModelFile.Save(model, path);
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        var metadata = content.Metadata.ToDictionary();
        int at = metadata[ModelFile.SpecKey].IndexOf(saved, StringComparison.Ordinal);
        Assert.That(at, Is.GreaterThanOrEqualTo(0), "the spec as saved");
        metadata[ModelFile.SpecKey] = metadata[ModelFile.SpecKey].Remove(at, saved.Length).Insert(at, edited);
        SafeTensorsFile.Write(path, content.Tensors.Values, metadata);

        var e = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(path))!;

        Assert.That(e.Message, Does.Contain(field).And.Contain(edited.Split(' ')[1]));
    }

    // ---- 6. Checkpoint fields that must be there, and what a bad one held ----------------------------------------

    /// <summary>A checkpoint after one epoch of Adam, then its metadata edited.</summary>
    private string EditedCheckpoint(Action<Dictionary<string, string>> edit)
    {
        Sequential<float> model = SmallModel();
        var trainer = new Trainer(model, new Adam<float>(model.Parameters.ToList(), 0.01));
        trainer.Fit(SmallTask(), Epochs(1));
        string path = PathIn("checkpoint.safetensors");
        Checkpoint.Save(trainer, path);
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        var metadata = content.Metadata.ToDictionary();
        edit(metadata);
        SafeTensorsFile.Write(path, content.Tensors.Values, metadata);
        return path;
    }

    [TestCase("learning_rate")]
    [TestCase("step")]
    public void CheckpointLoad_WithoutAnOptimizerField_IsAFormatErrorNamingTheFieldAndTheFile(string field)
    {
        string path = EditedCheckpoint(metadata =>
        {
            JsonObject header = JsonNode.Parse(metadata["numlstm.optimizer"])!.AsObject();
            Assert.That(header.Remove(field), Is.True, "the field as saved");
            metadata["numlstm.optimizer"] = header.ToJsonString();
        });

        var e = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(path))!;

        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain(path).And.Contain($"'{field}'").And.Contain("found none"));
    }

    [Test]
    public void CheckpointLoad_WithABadEpochCount_SaysWhatItFound_Truncated()
    {
        string found = "-3" + new string('9', 10_000);
        string path = EditedCheckpoint(metadata => metadata["numlstm.completed_epochs"] = found);

        var e = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(path))!;

        Assert.That(e.Message, Does.Contain("non-negative integer").And.Contain($"'{found[..64]}…").And.Contain("10002 characters"));
        Assert.That(e.Message, Has.Length.LessThan(400 + path.Length));
    }

    // ---- 4. Backward with another layer's cache ----------------------------------------------------------------------

    private const int Batch = 2, Time = 3, Features = 3;

    /// <summary>Builds the layer over [T, F=3] and the other over [T, otherFeatures], runs <paramref name="other"/> forward
    /// with its cache, then <paramref name="layer"/>'s Backward with that cache and gradients shaped for <paramref name="layer"/>.</summary>
    private static void BackwardWithOthersCache(Layer<float> layer, Layer<float> other, int otherFeatures)
    {
        layer.Build(LayerShape.Sequence(Features), new Random(1));
        other.Build(LayerShape.Sequence(otherFeatures), new Random(2));
        float[] x = Enumerable.Range(0, Batch * Time * otherFeatures).Select(k => MathF.Sin(k)).ToArray();
        LayerCache cache = other.CreateCache();
        other.Forward(new SequenceBatch<float>(x, Batch, Time, default), new float[other.OutputLength(Batch, Time)], cache, ForwardContext.Inference);
        layer.Backward(Enumerable.Repeat(0.5f, layer.OutputLength(Batch, Time)).ToArray(), cache, new float[Batch * Time * Features]);
    }

    private static IEnumerable<TestCaseData> MismatchedCaches()
    {
        static TestCaseData Case(string name, Func<Layer<float>> layer, Func<Layer<float>> other, params string[] fragments)
            => Other(name, layer, other, Features, fragments);
        static TestCaseData Other(string name, Func<Layer<float>> layer, Func<Layer<float>> other, int otherFeatures, params string[] fragments)
            => new TestCaseData(layer, other, otherFeatures, fragments).SetArgDisplayNames(name);
        yield return Case("LSTM, a smaller layer's cache", () => new Lstm<float>(6, returnSequences: true), () => new Lstm<float>(4, returnSequences: true),
            "(Lstm, [T, 3] → [T, 6])", "(Lstm, [T, 3] → [T, 4])");
        yield return Case("LSTM, a larger layer's cache", () => new Lstm<float>(4, returnSequences: true), () => new Lstm<float>(6, returnSequences: true),
            "(Lstm, [T, 3] → [T, 4])", "(Lstm, [T, 3] → [T, 6])");
        // Same shapes: the other layer's forward values with this layer's weights gave wrong gradients without a word.
        yield return Case("LSTM, other cell LayerNorms", () => new Lstm<float>(4, cellNormalization: CellNormalization.KerasGates, name: "gates_ln"),
            () => new Lstm<float>(4, name: "plain"), "'gates_ln'", "'plain'");
        yield return Case("LSTM, a layer of the same shape", () => new Lstm<float>(4, name: "first"), () => new Lstm<float>(4, name: "second"), "'first'", "'second'");
        yield return Case("Bidirectional, a smaller layer's cache", () => new Bidirectional<float>(new Lstm<float>(6, returnSequences: true)),
            () => new Bidirectional<float>(new Lstm<float>(4, returnSequences: true)), "(Bidirectional, [T, 3] → [T, 12])", "(Bidirectional, [T, 3] → [T, 8])");
        yield return Case("Bidirectional, a larger layer's cache", () => new Bidirectional<float>(new Lstm<float>(4)), () => new Bidirectional<float>(new Lstm<float>(6)),
            "(Bidirectional, [T, 3] → [8])", "(Bidirectional, [T, 3] → [12])");
        yield return Other("LayerNorm, a cache over other features", () => new LayerNorm<float>(), () => new LayerNorm<float>(), 5, "(LayerNorm, [T, 3] → [T, 3])", "(LayerNorm, [T, 5] → [T, 5])");
        yield return Other("LSTM, a cache over other features", () => new Lstm<float>(4), () => new Lstm<float>(4), 5, "(Lstm, [T, 3] → [4])", "(Lstm, [T, 5] → [4])");
        yield return Other("Dense, a cache over other features", () => new Dense<float>(2), () => new Dense<float>(2), 5, "(Dense, [T, 3] → [T, 2])", "(Dense, [T, 5] → [T, 2])");
        yield return Case("Dense, a wider layer's cache", () => new Dense<float>(2), () => new Dense<float>(3), "(Dense, [T, 3] → [T, 2])", "(Dense, [T, 3] → [T, 3])");
        yield return Case("Dense, a narrower layer's cache", () => new Dense<float>(3), () => new Dense<float>(2), "(Dense, [T, 3] → [T, 3])", "(Dense, [T, 3] → [T, 2])");
    }

    [TestCaseSource(nameof(MismatchedCaches))]
    public void Backward_WithAnotherLayersCache_ThrowsNamingExpectedAndFound(Func<Layer<float>> layer, Func<Layer<float>> other, int otherFeatures, string[] fragments)
    {
        var e = Assert.Throws<ArgumentException>(() => BackwardWithOthersCache(layer(), other(), otherFeatures))!;
        Assert.That(e.ParamName, Is.EqualTo("cache"));
        Assert.That(e.Message, Does.Contain("expected a cache its own Forward filled, found one filled by layer").And.Contain("another layer's cache"));
        Assert.That(e.Message.IndexOf(fragments[0], StringComparison.Ordinal), Is.LessThan(e.Message.IndexOf("found", StringComparison.Ordinal)), "expected first");
        Assert.That(e.Message.IndexOf(fragments[1], StringComparison.Ordinal), Is.GreaterThan(e.Message.IndexOf("found", StringComparison.Ordinal)), "then what was found");
    }

    [Test]
    public void Backward_WithItsOwnCache_AfterAnotherLayerFilledIt_ReadsItsOwnForward()
    {
        // The cache belongs to whichever layer filled it last: the same cache forwarded again by this layer is its own.
        var first = new Dense<float>(2);
        var second = new Dense<float>(2);
        first.Build(LayerShape.Sequence(Features), new Random(1));
        second.Build(LayerShape.Sequence(Features), new Random(2));
        float[] x = Enumerable.Range(0, Batch * Time * Features).Select(k => MathF.Sin(k)).ToArray();
        LayerCache cache = first.CreateCache();
        first.Forward(new SequenceBatch<float>(x, Batch, Time, default), new float[first.OutputLength(Batch, Time)], cache, ForwardContext.Inference);
        second.Forward(new SequenceBatch<float>(x, Batch, Time, default), new float[second.OutputLength(Batch, Time)], cache, ForwardContext.Inference);
        Assert.That(() => first.Backward(new float[first.OutputLength(Batch, Time)], cache, new float[x.Length]), Throws.ArgumentException.With.Message.Contains("filled by layer"));
        Assert.That(() => second.Backward(new float[second.OutputLength(Batch, Time)], cache, new float[x.Length]), Throws.Nothing);
    }

    [Test]
    public void LayerNormBackward_WithAFreshCache_SaysForwardHasNotRun()
    {
        var norm = new LayerNorm<float>();
        norm.Build(LayerShape.Sequence(Features), new Random(1));
        var e = Assert.Throws<ArgumentException>(() => norm.Backward(new float[Batch * Time * Features], norm.CreateCache(), default))!;
        Assert.That(e.Message, Does.Contain("(LayerNorm, [T, 3] → [T, 3])").And.Contain("found one no Forward has filled"));
    }

    // ---- 3. One layer in two models ----------------------------------------------------------------------------

    [Test]
    public void Sequential_WithALayerOfAnotherModel_ThrowsNamingIt_AndLeavesTheFirstModelAsItWas()
    {
        var shared = new Lstm<float>(4, name: "shared_lstm");
        var first = new Sequential<float>(2, new Layer<float>[] { shared, new Dense<float>(2, name: "head") }, seed: 1);
        float[] weights = first.Parameters.SelectMany(p => p.Value).ToArray();
        var fresh = new Dense<float>(3, name: "fresh");

        var e = Assert.Throws<ArgumentException>(() => _ = new Sequential<float>(2, new Layer<float>[] { shared, fresh }, seed: 2))!;

        Assert.That(e.ParamName, Is.EqualTo("layers"));
        Assert.That(e.Message, Does.Contain("'shared_lstm'").And.Contain("layers[0]").And.Contain("another model"));
        Assert.That(first.Parameters.SelectMany(p => p.Value).ToArray(), Is.EqualTo(weights), "the first model's weights are not re-initialized");
        Assert.That(fresh.OutputShape, Is.Null, "nothing is built before the check");
        // The refused layer list can still make a model of its own, and the first model's spec builds a second one.
        Assert.DoesNotThrow(() => _ = new Sequential<float>(2, new Layer<float>[] { new Lstm<float>(4), fresh }));
        Sequential<float> copy = ModelSpecOf.Describe(first).Build<float>();
        Assert.That(copy.Parameters.SelectMany(p => p.Value).ToArray(), Is.EqualTo(weights), "the same spec and seed build the same weights");
    }

    /// <summary>
    /// A Bidirectional made from an LSTM another model holds, or another Bidirectional wraps, or that the same model also
    /// lists: Keras's wrapper works on a fresh copy of the layer it is given ("will not reuse the weights state of the
    /// RNN layer instance", keras/src/layers/rnn/bidirectional.py); NumLstm's wraps the instance itself, so it used to set
    /// the first model's zero_output_for_mask and, once built, re-initialize its weights, or list one LSTM's parameters
    /// twice. Refused, naming the layer, before anything changes.
    /// </summary>
    [Test]
    public void Bidirectional_OfAnLstmAnotherModelOrWrapperHolds_ThrowsNamingIt_AndLeavesThatModelAsItWas()
    {
        var shared = new Lstm<float>(4, returnSequences: true, name: "shared_lstm");
        var first = new Sequential<float>(2, new Layer<float>[] { shared, new Dense<float>(2, name: "head") }, seed: 1);
        float[] weights = first.Parameters.SelectMany(p => p.Value).ToArray();

        var e = Assert.Throws<ArgumentException>(() => _ = new Bidirectional<float>(shared))!;
        Assert.That(e.ParamName, Is.EqualTo("layer"));
        Assert.That(e.Message, Does.Contain("'shared_lstm'").And.Contain("another model"));
        Assert.That(shared.ZeroOutputForMask, Is.False, "the first model's zero_output_for_mask is not changed");
        Assert.That(first.Parameters.SelectMany(p => p.Value).ToArray(), Is.EqualTo(weights));

        var wrapped = new Lstm<float>(4, returnSequences: true, name: "wrapped");
        var bidirectional = new Bidirectional<float>(wrapped, name: "bi");
        var twice = Assert.Throws<ArgumentException>(() => _ = new Bidirectional<float>(wrapped, name: "bi_2"))!;
        Assert.That(twice.Message, Does.Contain("'wrapped'"));
        var listedToo = Assert.Throws<ArgumentException>(() => _ = new Sequential<float>(2, new Layer<float>[] { bidirectional, wrapped }))!;
        Assert.That(listedToo.Message, Does.Contain("'wrapped'").And.Contain("wrapped by 'bi'"));
        Assert.That(bidirectional.OutputShape, Is.Null, "nothing is built before the check");
        Assert.DoesNotThrow(() => _ = new Sequential<float>(2, new Layer<float>[] { bidirectional, new Dense<float>(2) }));
    }

    // ---- 7. Names echoed from files are capped ---------------------------------------------------------------------

    /// <summary>A message that echoes a name holds its first 200 characters and an ellipsis, not all of it.</summary>
    private static void AssertEchoedCapped(Exception e, string name, string path)
    {
        Assert.That(e.Message, Does.Contain(name[..200] + "…").And.Contain($"({name.Length} characters)"));
        Assert.That(e.Message, Has.Length.LessThan(1000 + path.Length), "the message echoes at most 200 characters of a name");
    }

    [Test]
    public void ModelFileLoad_WithAnUnexpectedTensorOfA10MBName_EchoesItCapped()
    {
        string name = "x" + new string('n', 10_000_000);
        string path = PathIn("model.safetensors");
        ModelFile.Save(DenseModel(), path);
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        SafeTensorsFile.Write(path, content.Tensors.Values.Append(SafeTensor.Create<float>(name, new float[1], [1])), content.Metadata);

        var e = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(path))!;

        AssertEchoedCapped(e, name, path);
    }

    [Test]
    public void CheckpointLoad_WithAStrayOptimizerTensorOfALongName_EchoesItCapped()
    {
        string name = "optimizer." + new string('s', 1_000_000);
        string path = EditedCheckpoint(_ => { });
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        SafeTensorsFile.Write(path, content.Tensors.Values.Append(SafeTensor.Create<float>(name, new float[1], [1])), content.Metadata);

        var e = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(path))!;

        AssertEchoedCapped(e, name, path);
    }

    [Test]
    public void ModelFileLoad_WithAnUnknownLayerTypeOfALongName_EchoesItCapped()
    {
        string type = new string('t', 1_000_000);
        string path = PathIn("model.safetensors");
        ModelFile.Save(DenseModel(), path);
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        var metadata = content.Metadata.ToDictionary();
        metadata[ModelFile.SpecKey] = metadata[ModelFile.SpecKey].Replace("\"type\": \"dense\"", $"\"type\": \"{type}\"", StringComparison.Ordinal);
        SafeTensorsFile.Write(path, content.Tensors.Values, metadata);

        var e = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(path))!;

        AssertEchoedCapped(e, type, path);
    }

    [Test]
    public void LoadParameters_WithAParameterMissingFromAFileOfManyTensors_ListsTheFirstFewAndHowManyMore()
    {
        string path = PathIn("weights.safetensors");
        SafeTensorsFile.Write(path, Enumerable.Range(0, 5000).Select(k => SafeTensor.Create<float>($"t{k:D5}" + new string('n', 300), new float[1], [1])));

        var e = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.LoadParameters(path, [new Parameter<float>("missing", 1)]))!;

        Assert.That(e.Message, Does.Contain("t00000" + new string('n', 194) + "…").And.Contain("and 4995 more"));
        Assert.That(e.Message, Does.Not.Contain("t00005"));
        Assert.That(e.Message, Has.Length.LessThan(2000 + path.Length));
    }

    [Test]
    public void LoadParameters_WithManyUnexpectedTensors_ListsTheFirstFewAndHowManyMore()
    {
        string path = PathIn("weights.safetensors");
        SafeTensorsFile.Write(path, Enumerable.Range(0, 5000).Select(k => SafeTensor.Create<float>($"t{k:D5}", new float[1], [1])));

        var e = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.LoadParameters(path, [new Parameter<float>("t00000", 1)]))!;

        Assert.That(e.Message, Does.Contain("4999 unexpected tensor(s): [t00001, t00002, t00003, t00004, t00005 and 4994 more]"));
    }
}
