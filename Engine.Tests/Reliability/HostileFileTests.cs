using NumLstm.Optimizers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Training;

namespace NumLstm.Tests.Reliability;

/// <summary>
/// Seeded fuzzing of the model JSON spec, model files and checkpoints (the byte-level readers are fuzzed in
/// IO/FormatFuzzTests). Mutations are structure-aware (the spec or optimizer JSON inside a valid container, tensors
/// dropped, renamed, reshaped, retyped or filled with NaN) and raw (bytes of the whole file). Every input either loads
/// or throws the documented exception; anything else, a load slower than the time limit, or an allocation far beyond
/// the input's size fails. Each test prints its counts (see docs/reliability.md).
/// </summary>
public sealed class HostileFileTests
{
    private const int SpecMutations = 4000;
    private const int FileMutations = 1500;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static ModelSpec SmallSpec() => new StackSpec(3, new[] { 4, 3 }, Bidirectional: true, OutputUnits: 2, Seed: 5)
        .WithPlacement(LayerNormPlacement.InCellAndAfterEach(CellNormalization.TfAddons)).WithLayerNames();

    // ------------------------------------------------------------------------------------------------ model JSON spec

    // A spec with a regularizer and a constraint in every slot (docs/math-losses-optimizers.md), whose objects the
    // mutations below reach: kinds, factors, axes, values out of range, nulls, tokens of another type.
    private static ModelSpec RegularizedSpec() => ModelBuilder.Input(3)
        .Bidirectional(4, returnSequences: true, kernelRegularizer: WeightRegularizer.L2(0.01), recurrentRegularizer: WeightRegularizer.L1L2(0.001, 0.002),
            biasRegularizer: WeightRegularizer.L1(0.5), kernelConstraint: WeightConstraint.MaxNorm(3), recurrentConstraint: WeightConstraint.UnitNorm(axis: 1),
            biasConstraint: WeightConstraint.NonNeg(), activityRegularizer: WeightRegularizer.L1L2(0.01, 0.02))
        .LayerNorm(activityRegularizer: WeightRegularizer.L2(0.5), gammaRegularizer: WeightRegularizer.L2(), betaRegularizer: WeightRegularizer.L1(), gammaConstraint: WeightConstraint.MinMaxNorm(0.5, 2, 0.3),
            betaConstraint: WeightConstraint.MaxNorm(1, axis: -1))
        .Lstm(3, kernelConstraint: WeightConstraint.MaxNorm(2, axis: null))
        .Dense(2, kernelRegularizer: WeightRegularizer.L1L2(0.1, 0), biasRegularizer: WeightRegularizer.L2(0.2), kernelConstraint: WeightConstraint.UnitNorm(),
            biasConstraint: WeightConstraint.NonNeg())
        .ToSpec(seed: 5).WithLayerNames();

    [TestCase("in-cell and after each")]
    [TestCase("regularizers and constraints")]
    public void MutatedSpecJson_ParsesOrThrowsFormatException_AndParsedSpecsBuild(string seedSpec)
    {
        string valid = (seedSpec == "in-cell and after each" ? SmallSpec() : RegularizedSpec()).ToJson();
        var random = new Random(601);
        int parsed = 0, rejected = 0, built = 0;
        var watch = Stopwatch.StartNew();
        RunWithin(() =>
        {
            for (int k = 0; k < SpecMutations; k++)
            {
                string json = MutateJson(random, valid);
                ModelSpec spec;
                try
                {
                    spec = ModelSpec.FromJson(json, "fuzz.json");
                }
                catch (FormatException e)
                {
                    Assert.That(e.Message, Does.Contain("fuzz.json"), $"mutation {k}: the message names the source");
                    rejected++;
                    continue;
                }
                catch (Exception e)
                {
                    Assert.Fail($"spec mutation {k} threw {e.GetType().Name}, not FormatException: {e}\nJSON: {json}");
                    return;
                }
                parsed++;
                // A validated spec must build; keep the fuzz fast by building only models of modest size.
                if (spec.ParameterCount() <= 200_000)
                {
                    Sequential<float> model = spec.Build<float>();
                    Assert.That(model.ParameterCount, Is.EqualTo(spec.ParameterCount()), $"mutation {k}: ParameterCount from the spec");
                    built++;
                }
            }
        });
        TestContext.Out.WriteLine($"spec JSON: {SpecMutations} mutations, {parsed} parsed ({built} built), {rejected} FormatException, {watch.Elapsed.TotalMilliseconds:F0} ms");
        Assert.That(rejected, Is.GreaterThan(SpecMutations / 4));
    }

    [Test]
    public void DeepOrHugeSpecJson_ThrowsFormatException()
    {
        string layer = "{\"type\": \"dense\", \"units\": 1}";
        var cases = new (string Name, string Json)[]
        {
            ("nesting 100,000 deep", new string('[', 100_000) + new string(']', 100_000)),
            ("object nesting 20 deep in a field", "{\"input_features\": 1, \"layers\": [" + string.Concat(Enumerable.Repeat("{\"x\":", 20)) + "1" + new string('}', 20) + "]}"),
            ("5,000 layers (1.6 MB)", "{\"input_features\": 1, \"layers\": [" + string.Join(",", Enumerable.Repeat(layer, 5000)) + "]}"),
            ("a 20 MB layer name", "{\"input_features\": 1, \"layers\": [{\"type\": \"dense\", \"units\": 1, \"name\": \"" + new string('a', 20_000_000) + "\"}]}"),
            ("units 2^31", "{\"input_features\": 1, \"layers\": [{\"type\": \"dense\", \"units\": 2147483648}]}"),
            ("input_features 1e308", "{\"input_features\": 1e308, \"layers\": [" + layer + "]}"),
            ("empty", ""),
            ("null", "null"),
        };
        foreach (var (name, json) in cases)
        {
            var watch = Stopwatch.StartNew();
            var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json, "hostile.json"), name);
            Assert.That(e!.Message, Does.Contain("hostile.json"), name);
            TestContext.Out.WriteLine($"{name}: FormatException in {watch.Elapsed.TotalMilliseconds:F0} ms: {Truncate(e.Message)}");
        }
    }

    [Test]
    public void SpecJsonWithARepeatedKey_ThrowsFormatException_InsteadOfTakingTheLastValue()
    {
        // The last "input_features" used to win silently; the safetensors header and the optimizer JSON already refuse repeats.
        string[] cases =
        {
            "{\"input_features\": 2, \"input_features\": 3, \"layers\": [{\"type\": \"dense\", \"units\": 1}]}",
            "{\"input_features\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1, \"units\": 5}]}",
        };
        foreach (string json in cases)
        {
            var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json, "repeated.json"), json);
            Assert.That(e!.Message, Does.Contain("repeated.json").And.Contain("units").Or.Contain("input_features"), json);
        }
    }

    [Test]
    public void SpecLoadedViaModelFile_ErrorsBecomeNumLstmFormatException()
    {
        byte[] bytes = ModelBytes(SmallSpec().Build<float>(), out _);
        byte[] bad = Rewrite(bytes, metadata => metadata[ModelFile.SpecKey] = metadata[ModelFile.SpecKey].Replace("\"units\": 4", "\"units\": -4"));
        var e = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(new MemoryStream(bad), "model.safetensors"));
        Assert.That(e!.FilePath, Is.EqualTo("model.safetensors"));
        Assert.That(e.Field, Is.EqualTo($"metadata '{ModelFile.SpecKey}'"));
        Assert.That(e.Message, Does.Contain("units").And.Contain("-4"));
        Assert.That(e.InnerException, Is.InstanceOf<FormatException>());
    }

    // ------------------------------------------------------------------------------------------- model files, checkpoints

    [Test]
    public void MutatedModelFile_LoadsOrThrowsNumLstmFormatException_WithinTheAllocationBound()
        => FuzzFile("model", ModelBytes(SmallSpec().Build<float>(), out _), seed: 701, bytes =>
        {
            Sequential<float> model = ModelFile.Load<float>(new MemoryStream(bytes), "fuzz.safetensors");
            return model;
        });

    [Test]
    public void MutatedCheckpoint_LoadsOrThrowsNumLstmFormatException_WithinTheAllocationBound()
        => FuzzFile("checkpoint", CheckpointBytes(), seed: 702, bytes => Checkpoint.Load(new MemoryStream(bytes), "fuzz.safetensors").Model);

    [Test]
    public void SmallFileClaimingAHugeModel_IsRejectedBeforeAllocation()
    {
        // A file of a few hundred bytes whose spec claims a BiLSTM(16384) on 16384 features: each weight [65536, 16384]
        // is 1.07e9 values (4.3 GB of float32, under the array size limit, so only the size check stops it) and the model
        // 4.3e9 values (34 GB with gradients).
        var tiny = new Sequential<float>(1, new Layer<float>[] { new Dense<float>(1, name: "d") });
        byte[] valid = ModelBytes(tiny, out _);
        string huge = "{\"version\": 1, \"input_features\": 16384, \"seed\": 0, \"layers\": [{\"type\": \"bidirectional\", \"name\": \"d\", \"units\": 16384}]}";
        long claimed = ModelSpec.FromJson(huge).ParameterCount();
        Assert.That(claimed, Is.GreaterThan(4_000_000_000L));
        byte[] bytes = Rewrite(valid, metadata => metadata[ModelFile.SpecKey] = huge);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(new MemoryStream(bytes), "huge.safetensors"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(e!.Message, Does.Contain("parameters").And.Contain("holds only 2"));
        Assert.That(allocated, Is.LessThan(1 << 20), "rejected before the model is allocated");

        byte[] checkpoint = Rewrite(CheckpointBytes(), metadata => metadata[ModelFile.SpecKey] = metadata[ModelFile.SpecKey].Replace("\"units\": 4", "\"units\": 20000"));
        before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(new MemoryStream(checkpoint), "huge-ckpt.safetensors"));
        long allocatedCheckpoint = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocatedCheckpoint, Is.LessThan(4L * checkpoint.Length + (1 << 20)));
        TestContext.Out.WriteLine($"model file of {bytes.Length} bytes claiming {claimed:N0} parameters: rejected after {allocated:N0} bytes allocated; " +
                                  $"checkpoint of {checkpoint.Length} bytes claiming BiLSTM(20000): rejected after {allocatedCheckpoint:N0} bytes");
    }

    [Test]
    public void LoneSurrogateEscapes_InTheHeaderOrTheSpecOrOptimizerJson_GiveNumLstmFormatException()
    {
        // In the safetensors header itself (the six ASCII characters \ud800): System.Text.Json used to throw
        // InvalidOperationException from GetString, which escaped ModelFile.Load and Checkpoint.Load.
        byte[] checkpoint = CheckpointBytes();
        byte[] inHeader = EditHeader(checkpoint, json => json.Replace("\"format\":\"pt\"", "\"format\":\"pt\\ud800\""));
        var e1 = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(new MemoryStream(inHeader), "surrogate.safetensors"));
        Assert.That(e1!.Field, Is.EqualTo("__metadata__ 'format'"));
        var e2 = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(new MemoryStream(inHeader), "surrogate.safetensors"));
        Assert.That(e2!.Field, Is.EqualTo("__metadata__ 'format'"));

        // Inside the spec and optimizer JSON (escaped once more in the header): JsonSerializer reports a JsonException.
        byte[] inSpec = Rewrite(checkpoint, m => m[ModelFile.SpecKey] = m[ModelFile.SpecKey].Replace("\"name\": \"bidirectional_1\"", "\"name\": \"bidirectional_1\\ud800\""));
        Assert.That(SafeTensorsFile.Read(new MemoryStream(inSpec)).Metadata[ModelFile.SpecKey], Does.Contain("bidirectional_1\\ud800"));
        var e3 = Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(new MemoryStream(inSpec), "spec.safetensors"));
        Assert.That(e3!.Field, Is.EqualTo($"metadata '{ModelFile.SpecKey}'"));
        const string optimizerKey = "numlstm.optimizer";
        foreach (var (from, to) in new[] { ("\"kind\":\"Adam\"", "\"kind\":\"Adam\\ud800\""), ("\"beta1\":", "\"beta1\\udc00\":") })
        {
            byte[] inOptimizer = Rewrite(checkpoint, m => m[optimizerKey] = m[optimizerKey].Replace(from, to));
            Assert.That(SafeTensorsFile.Read(new MemoryStream(inOptimizer)).Metadata[optimizerKey], Does.Contain(to));
            var e4 = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(new MemoryStream(inOptimizer), "opt.safetensors"), to);
            Assert.That(e4!.Field, Is.EqualTo($"metadata '{optimizerKey}'"), to);
        }
        // A repeated field in the optimizer JSON ("step" twice) is refused, not read as its last value.
        byte[] repeated = Rewrite(checkpoint, m => m[optimizerKey] = m[optimizerKey].Replace("\"kind\":", "\"step\":3,\"kind\":"));
        Assert.That(SafeTensorsFile.Read(new MemoryStream(repeated)).Metadata[optimizerKey], Does.Contain("\"step\":3,"));
        var e5 = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(new MemoryStream(repeated), "repeated.safetensors"));
        Assert.That(e5!.Field, Is.EqualTo($"metadata '{optimizerKey}'"));
        Assert.That(e5.Message, Does.Contain("step"));
    }

    [Test]
    public void NAdamCheckpoint_WithItsMuProductOutOfRange_Missing_OrWhereNoneBelongs_GivesNumLstmFormatException()
    {
        const string optimizerKey = "numlstm.optimizer";
        var data = SequenceDataset.ForClassification(Enumerable.Range(0, 8 * 4 * 3).Select(k => MathF.Cos(k)).ToArray(), 8, 4, 3, new[] { 0, 1, 1, 0, 1, 0, 0, 1 }, 2);
        Sequential<float> model = SmallSpec().Build<float>();
        var trainer = new Trainer(model, new NAdam<float>(model.Parameters.ToList()));
        trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 4 });
        string path = Path.Combine(Path.GetTempPath(), "numlstm-rel-" + Guid.NewGuid().ToString("N") + ".safetensors");
        byte[] nadam;
        try
        {
            Checkpoint.Save(trainer, path);
            nadam = File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
        string json = SafeTensorsFile.Read(new MemoryStream(nadam)).Metadata[optimizerKey];
        Assert.That(json, Does.Match("\"scalars\":\\{\"mu_product\":0\\.[0-9]"));
        Assert.That(((NAdam<float>)Checkpoint.Load(new MemoryStream(nadam), "ok.safetensors").Optimizer!).MomentumProduct,
            Is.EqualTo(((NAdam<float>)trainer.Optimizer!).MomentumProduct));

        foreach (var (edit, expected) in new (Func<string, string>, string)[]
        {
            (j => System.Text.RegularExpressions.Regex.Replace(j, "\"mu_product\":[^}]*", "\"mu_product\":2"), "mu_product = 2"),
            (j => System.Text.RegularExpressions.Regex.Replace(j, "\"mu_product\":[^}]*", "\"mu_product\":-1e-300"), "mu_product = -1E-300"),
            (j => System.Text.RegularExpressions.Regex.Replace(j, ",\"scalars\":\\{[^}]*\\}", ""), "lacks scalar 'mu_product'"),
            (j => System.Text.RegularExpressions.Regex.Replace(j, "\"mu_product\":[^}]*", "\"mu_product\":\"half\""), ""),
        })
        {
            byte[] bad = Rewrite(nadam, m => m[optimizerKey] = edit(m[optimizerKey]));
            Assert.That(SafeTensorsFile.Read(new MemoryStream(bad)).Metadata[optimizerKey], Is.Not.EqualTo(json), expected);
            var e = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(new MemoryStream(bad), "nadam.safetensors"), expected);
            Assert.That(e!.Field, Is.EqualTo($"metadata '{optimizerKey}'"), expected);
            Assert.That(e.Message, Does.Contain(expected), expected);
        }
        byte[] adamWithScalar = Rewrite(CheckpointBytes(), m => m[optimizerKey] = m[optimizerKey].Replace("\"kind\":", "\"scalars\":{\"mu_product\":0.5},\"kind\":"));
        var adamError = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(new MemoryStream(adamWithScalar), "adam.safetensors"));
        Assert.That(adamError!.Message, Does.Contain("scalar 'mu_product'"));
    }

    [Test]
    public void Checkpoint_WithAnExclusionFromWeightDecayNamingNoParameter_GivesNumLstmFormatException()
    {
        const string optimizerKey = "numlstm.optimizer";
        byte[] adam = CheckpointBytes();
        int parameterCount = SmallSpec().Build<float>().Parameters.Count();
        foreach (var (key, expected) in new[]
        {
            ($"exclude_from_weight_decay:{parameterCount}", $"found '{parameterCount}'"),
            ("exclude_from_weight_decay:-1", "found '-1'"),
            ("exclude_from_weight_decay:one", "found 'one'"),
            ("exclude_from_weight_decay:", "found ''"),
        })
        {
            byte[] bad = Rewrite(adam, m => m[optimizerKey] = m[optimizerKey].Replace("\"hyperparameters\":{", $"\"hyperparameters\":{{\"{key}\":1,"));
            var e = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(new MemoryStream(bad), "adam.safetensors"), key);
            Assert.That(e!.Field, Is.EqualTo($"metadata '{optimizerKey}' hyperparameter '{key}'"), key);
            Assert.That(e.Message, Does.Contain(expected).And.Contain($"{parameterCount} parameters"), key);
        }
        // A valid index whose value is not 1 is refused by the state check, naming it.
        byte[] two = Rewrite(adam, m => m[optimizerKey] = m[optimizerKey].Replace("\"hyperparameters\":{", "\"hyperparameters\":{\"exclude_from_weight_decay:0\":2,"));
        var e2 = Assert.Throws<NumLstmFormatException>(() => Checkpoint.Load(new MemoryStream(two), "adam.safetensors"));
        Assert.That(e2!.Message, Does.Contain("exclude_from_weight_decay:0 = 2"));
    }

    /// <summary>Edits the header JSON text of a safetensors file as bytes, bypassing our writer's checks.</summary>
    private static byte[] EditHeader(byte[] file, Func<string, string> edit)
    {
        int n = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(file);
        string json = Encoding.UTF8.GetString(file, 8, n);
        string edited = edit(json);
        Assert.That(edited, Is.Not.EqualTo(json), "the edit applies");
        return NumLstm.Tests.IO.SpecBytes.SafeTensors(edited, file[(8 + n)..]);
    }

    private static void FuzzFile(string kind, byte[] valid, int seed, Func<byte[], Sequential<float>> load)
    {
        Assert.DoesNotThrow(() => load(valid), "the unmutated file must load");
        var random = new Random(seed);
        int loaded = 0, rejected = 0, nonFinite = 0;
        double worstRatio = 0, slowest = 0;
        var watch = Stopwatch.StartNew();
        var x = new float[2 * 4 * 3];
        for (int k = 0; k < x.Length; k++) x[k] = MathF.Sin(k);
        RunWithin(() =>
        {
            for (int k = 0; k < FileMutations; k++)
            {
                byte[] mutated = MutateFile(random, valid);
                long before = GC.GetAllocatedBytesForCurrentThread();
                var one = Stopwatch.StartNew();
                Sequential<float> model;
                try
                {
                    model = load(mutated);
                }
                catch (NumLstmFormatException e)
                {
                    Assert.That(e.FilePath, Is.EqualTo("fuzz.safetensors"), $"mutation {k}: {e.Message}");
                    rejected++;
                    continue;
                }
                catch (Exception e)
                {
                    Assert.Fail($"{kind} mutation {k} (seed {seed}) threw {e.GetType().Name}, not NumLstmFormatException: {e}\nInput (base64): {Convert.ToBase64String(mutated)}");
                    return;
                }
                finally
                {
                    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    if (mutated.Length >= 1024) worstRatio = Math.Max(worstRatio, (double)allocated / mutated.Length);
                    Assert.That(allocated, Is.LessThan(32L * mutated.Length + (64 << 10)), $"{kind} mutation {k}: allocation beyond the bound");
                    slowest = Math.Max(slowest, one.Elapsed.TotalMilliseconds);
                }
                loaded++;
                // A file that loads is a model: it must run (its values may be anything, NaN included).
                if (model.InputFeatures == 3 && model.ParameterCount < 1_000_000)
                {
                    ReadOnlySpan<float> y = model.Forward(new SequenceBatch<float>(x, 2, 4, default), model.CreateCache(), ForwardContext.Inference);
                    foreach (float v in y) if (!float.IsFinite(v)) { nonFinite++; break; }
                }
            }
        });
        TestContext.Out.WriteLine($"{kind}: {FileMutations} mutations of a {valid.Length}-byte file, {loaded} loaded ({nonFinite} with non-finite outputs), " +
                                  $"{rejected} NumLstmFormatException, worst allocation {worstRatio:F1}× the file size (files ≥ 1 KB), slowest load {slowest:F1} ms, {watch.Elapsed.TotalMilliseconds:F0} ms in all");
        Assert.That(rejected, Is.GreaterThan(FileMutations / 4));
        Assert.That(loaded, Is.GreaterThan(0), "some mutations (weights, NaN values) leave a loadable file");
    }

    internal static void RunWithin(Action action)
    {
        Task task = Task.Factory.StartNew(action, TaskCreationOptions.LongRunning);
        Assert.That(task.Wait(Limit), Is.True, $"the fuzz loop did not finish within {Limit.TotalSeconds} s (a hang?)");
        task.GetAwaiter().GetResult();   // re-throws assertion failures from the loop
    }

    // ------------------------------------------------------------------------------------------------------ builders

    internal static byte[] ModelBytes(Sequential<float> model, out string path)
    {
        path = Path.Combine(Path.GetTempPath(), "numlstm-rel-" + Guid.NewGuid().ToString("N") + ".safetensors");
        try
        {
            ModelFile.Save(model, path);
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    }

    private static byte[] CheckpointBytes()
    {
        var data = SequenceDataset.ForClassification(Enumerable.Range(0, 8 * 4 * 3).Select(k => MathF.Cos(k)).ToArray(), 8, 4, 3, new[] { 0, 1, 1, 0, 1, 0, 0, 1 }, 2);
        var trainer = new Trainer(SmallSpec().Build<float>());
        trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 4 });
        string path = Path.Combine(Path.GetTempPath(), "numlstm-rel-" + Guid.NewGuid().ToString("N") + ".safetensors");
        try
        {
            Checkpoint.Save(trainer, path);
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    }

    /// <summary>Re-writes a valid file with its metadata changed (tensors as they were).</summary>
    private static byte[] Rewrite(byte[] valid, Action<Dictionary<string, string>> change)
    {
        SafeTensorsContent content = SafeTensorsFile.Read(new MemoryStream(valid));
        var metadata = content.Metadata.ToDictionary(p => p.Key, p => p.Value);
        change(metadata);
        return Write(content.Tensors.Values, metadata);
    }

    private static byte[] Write(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    // ----------------------------------------------------------------------------------------------------- mutations

    private static byte[] MutateFile(Random random, byte[] valid)
    {
        int choice = random.Next(10);
        if (choice < 2) return MutateBytes(random, valid);
        SafeTensorsContent content = SafeTensorsFile.Read(new MemoryStream(valid));
        var metadata = content.Metadata.ToDictionary(p => p.Key, p => p.Value);
        var tensors = content.Tensors.Values.ToList();
        int rounds = 1 + random.Next(2);
        for (int r = 0; r < rounds; r++)
        {
            switch (random.Next(8))
            {
                case 0:
                case 1: // the spec JSON
                    if (metadata.TryGetValue(ModelFile.SpecKey, out string? spec)) metadata[ModelFile.SpecKey] = MutateJson(random, spec);
                    break;
                case 2: // any other metadata value (optimizer JSON, completed epochs)
                {
                    string key = metadata.Keys.OrderBy(k => k, StringComparer.Ordinal).ElementAt(random.Next(metadata.Count));
                    if (random.Next(5) == 0) metadata.Remove(key);
                    else metadata[key] = MutateJson(random, metadata[key]);
                    break;
                }
                case 3: // drop or duplicate-under-another-name a tensor
                {
                    int t = random.Next(tensors.Count);
                    if (random.Next(2) == 0) tensors.RemoveAt(t);
                    else tensors[t] = SafeTensor.FromBytes(tensors[t].Name + (random.Next(2) == 0 ? "_x" : ""), tensors[t].DType, tensors[t].Shape, tensors[t].Data);
                    if (tensors.Count == 0) tensors.Add(SafeTensor.Create<float>("w", new float[1], 1));
                    tensors = tensors.GroupBy(s => s.Name).Select(g => g.First()).ToList();
                    break;
                }
                case 4: // reshape a tensor (same element count or not)
                {
                    int t = random.Next(tensors.Count);
                    float[] values = tensors[t].ToArray<float>();
                    int[] shape = random.Next(3) switch
                    {
                        0 => [values.Length],
                        1 => [1, values.Length],
                        _ => [Math.Max(values.Length - 1, 0)],
                    };
                    tensors[t] = SafeTensor.Create<float>(tensors[t].Name, values.AsSpan(0, shape.Aggregate(1, (a, b) => a * b)), shape);
                    break;
                }
                case 5: // another dtype
                {
                    int t = random.Next(tensors.Count);
                    float[] values = tensors[t].ToArray<float>();
                    int[] shape = tensors[t].ToIntShape();
                    tensors[t] = random.Next(4) switch
                    {
                        0 => SafeTensor.Create<double>(tensors[t].Name, values.Select(v => (double)v).ToArray(), shape),
                        1 => SafeTensor.Create<Half>(tensors[t].Name, values.Select(v => (Half)v).ToArray(), shape),
                        2 => SafeTensor.Create<long>(tensors[t].Name, values.Select(v => (long)(v * 100)).ToArray(), shape),
                        _ => SafeTensor.Create<byte>(tensors[t].Name, values.Select(v => (byte)(v * 10)).ToArray(), shape),
                    };
                    break;
                }
                case 6: // NaN, infinities or huge values in a tensor
                {
                    int t = random.Next(tensors.Count);
                    float[] values = tensors[t].ToArray<float>();
                    float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 3e38f, -1e30f, 0f];
                    for (int j = 0; j < values.Length; j++) if (random.Next(4) == 0) values[j] = specials[random.Next(specials.Length)];
                    tensors[t] = SafeTensor.Create<float>(tensors[t].Name, values, tensors[t].ToIntShape());
                    break;
                }
                default: // a tensor added
                {
                    int n = 1 + random.Next(8);
                    tensors.Add(SafeTensor.Create<float>("extra_" + random.Next(1000), new float[n], n));
                    tensors = tensors.GroupBy(s => s.Name).Select(g => g.First()).ToList();
                    break;
                }
            }
        }
        byte[] bytes = Write(tensors, metadata);
        return random.Next(4) == 0 ? MutateBytes(random, bytes) : bytes;
    }

    private static byte[] MutateBytes(Random random, byte[] valid)
    {
        byte[] bytes = (byte[])valid.Clone();
        switch (random.Next(4))
        {
            case 0:
                for (int f = 1 + random.Next(4); f > 0; f--) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                break;
            case 1:
                bytes = bytes[..random.Next(bytes.Length + 1)];
                break;
            case 2:
            {
                int at = random.Next(bytes.Length);
                int len = 1 + random.Next(Math.Min(32, bytes.Length - at));
                bytes = [.. bytes[..at], .. bytes[(at + len)..]];
                break;
            }
            default:
                const string tokens = "0123456789-.e\"{}[],:";
                bytes[8 + random.Next(Math.Min(bytes.Length - 8, 4000))] = (byte)tokens[random.Next(tokens.Length)];
                break;
        }
        return bytes;
    }

    private static readonly string[] ExtremeNumbers =
        ["0", "-1", "1", "2", "65536", "65537", "1048577", "2147483647", "2147483648", "-2147483648", "9223372036854775807", "1e308", "-1e308", "1.5", "0.999999", "1e-320", "NaN", "null", "\"7\""];

    private static readonly string[] Replacements =
        ["\"lstm\"", "\"bidirectional\"", "\"dense\"", "\"layer_norm\"", "\"conv\"", "true", "false", "null", "[]", "{}", "\"\"", "\"sum\"", "\"softmax\"", "\"recurrent\"", "\"summed\"", "\"separate\"",
         "\"output_only\"", "\"dense_1\"", "\"layer_norm_1\"", "\"SGD\"", "\"AdamW\""];

    internal static string MutateJson(Random random, string json)
    {
        var text = new StringBuilder(json);
        int rounds = 1 + random.Next(3);
        for (int r = 0; r < rounds && text.Length > 0; r++)
        {
            switch (random.Next(8))
            {
                case 0: // a number replaced by an extreme one
                case 1:
                {
                    var runs = new List<(int Start, int End)>();
                    string s = text.ToString();
                    for (int k = 0; k < s.Length;)
                    {
                        if (char.IsAsciiDigit(s[k]) || s[k] == '-' && k + 1 < s.Length && char.IsAsciiDigit(s[k + 1]))
                        {
                            int start = k++;
                            while (k < s.Length && (char.IsAsciiDigit(s[k]) || s[k] is '.' or 'e' or 'E' or '-' or '+')) k++;
                            runs.Add((start, k));
                        }
                        else k++;
                    }
                    if (runs.Count == 0) break;
                    var (a, b) = runs[random.Next(runs.Count)];
                    text.Remove(a, b - a).Insert(a, ExtremeNumbers[random.Next(ExtremeNumbers.Length)]);
                    break;
                }
                case 2: // a value (string, literal) replaced by another token
                {
                    string s = text.ToString();
                    int colon = s.IndexOf(':', random.Next(s.Length));
                    if (colon < 0) break;
                    int end = colon + 1;
                    while (end < s.Length && s[end] is not (',' or '}' or ']')) end++;
                    if (end - colon - 1 > 200) break;   // not a scalar
                    text.Remove(colon + 1, end - colon - 1).Insert(colon + 1, " " + Replacements[random.Next(Replacements.Length)]);
                    break;
                }
                case 3: // a character deleted, inserted or changed
                {
                    int at = random.Next(text.Length);
                    const string chars = "{}[],:\"\\ 0a-";
                    char c = chars[random.Next(chars.Length)];
                    switch (random.Next(3))
                    {
                        case 0: text.Remove(at, 1); break;
                        case 1: text.Insert(at, c); break;
                        default: text[at] = c; break;
                    }
                    break;
                }
                case 4: // truncation
                    text.Length = random.Next(text.Length);
                    break;
                case 5: // a range deleted (drops fields or whole layers)
                {
                    int at = random.Next(text.Length);
                    text.Remove(at, Math.Min(1 + random.Next(80), text.Length - at));
                    break;
                }
                case 6: // a layer or field duplicated
                {
                    string s = text.ToString();
                    int open = s.IndexOf('{', random.Next(s.Length));
                    int close = open < 0 ? -1 : s.IndexOf('}', open);
                    if (close < 0) break;
                    string piece = s[open..(close + 1)];
                    text.Insert(close + 1, "," + piece);
                    break;
                }
                default: // deep nesting in place of a value
                {
                    string s = text.ToString();
                    int colon = s.IndexOf(':', random.Next(s.Length));
                    if (colon < 0) break;
                    int depth = 10 + random.Next(200);
                    text.Insert(colon + 1, new string('[', depth) + "1" + new string(']', depth) + ",\"x\":");
                    break;
                }
            }
        }
        return text.ToString();
    }

    private static string Truncate(string text) => text.Length <= 160 ? text : text[..160] + "...";
}
