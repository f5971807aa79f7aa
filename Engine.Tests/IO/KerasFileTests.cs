using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.IO;

/// <summary>
/// Keras weight files (IO/Fixtures/Keras, README.md there: files laid out as Keras 3 and tf.keras 2 write them, through
/// the HDF5 C library with h5py's settings, every value known): each weight lands where Keras' loaders put it, the model
/// then computes what Keras' equations compute over Keras' own layouts, and every mismatch is refused with the model
/// unchanged.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public sealed class KerasFileTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal static string Fixture(string name) => Path.Combine(TestContext.CurrentContext.TestDirectory, "IO", "Fixtures", "Keras", name);

    /// <summary>The fixtures' value of element k of variable v of the L-th saveable (README.md, "Weight values").</summary>
    internal static double Value(int saveable, int variable, int element) => ((element * 7 + variable * 13 + saveable * 31) % 97 - 48) / 64.0;

    internal static Sequential<T> SeedSmall() =>
        ModelBuilder.Input(3).Bidirectional(4, returnSequences: true).LayerNorm().Bidirectional(3).LayerNorm().Dense(2).Build<T>(seed: 5);

    internal static Sequential<T> Mixed() =>
        ModelBuilder.Input(3).Masking().Lstm(3, returnSequences: true).Dropout(0.2).Lstm(2, returnSequences: true)
            .LayerNorm(center: false).Lstm(2).Dense(1, useBias: false).Build<T>(seed: 5);

    /// <summary>Keras 3's walk visits a Bidirectional's backward_layer before its forward_layer (sorted attributes).</summary>
    private static readonly SeedNumbers Keras3 = new(ForwardA: 1, BackwardA: 0, NormA: 2, ForwardB: 4, BackwardB: 3, NormB: 5, Dense: 6);

    /// <summary>tf.keras 2 lists a Bidirectional's forward weights first.</summary>
    private static readonly SeedNumbers Legacy = new(ForwardA: 0, BackwardA: 1, NormA: 2, ForwardB: 3, BackwardB: 4, NormB: 5, Dense: 6);

    private sealed record SeedNumbers(int ForwardA, int BackwardA, int NormA, int ForwardB, int BackwardB, int NormB, int Dense);

    private static double[,] Matrix(int saveable, int variable, int rows, int columns)
    {
        var m = new double[rows, columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                m[r, c] = Value(saveable, variable, r * columns + c);
        return m;
    }

    private static double[] Vector(int saveable, int variable, int length) =>
        Enumerable.Range(0, length).Select(k => Value(saveable, variable, k)).ToArray();

    private static (double[,], double[,], double[]) Cell(int saveable, int features, int units) =>
        (Matrix(saveable, 0, features, 4 * units), Matrix(saveable, 1, units, 4 * units), Vector(saveable, 2, 4 * units));

    private static void AssertLstm(Lstm<T> lstm, int saveable, string what)
    {
        int f = lstm.InputFeatures, g = 4 * lstm.Units, h = lstm.Units;
        for (int gate = 0; gate < g; gate++)
        {
            for (int i = 0; i < f; i++)
                Assert.That(double.CreateChecked(lstm.WeightIh.Value[gate * f + i]), Is.EqualTo(Value(saveable, 0, i * g + gate)), $"{what} weight_ih[{gate}, {i}] = kernel[{i}, {gate}]");
            for (int i = 0; i < h; i++)
                Assert.That(double.CreateChecked(lstm.WeightHh.Value[gate * h + i]), Is.EqualTo(Value(saveable, 1, i * g + gate)), $"{what} weight_hh[{gate}, {i}] = recurrent_kernel[{i}, {gate}]");
            Assert.That(double.CreateChecked(lstm.Bias.Value[gate]), Is.EqualTo(Value(saveable, 2, gate)), $"{what} bias[{gate}]");
        }
    }

    private static void AssertSeedSmall(Sequential<T> model, SeedNumbers n)
    {
        var a = (Bidirectional<T>)model.Layers[0];
        var normA = (LayerNorm<T>)model.Layers[1];
        var b = (Bidirectional<T>)model.Layers[2];
        var normB = (LayerNorm<T>)model.Layers[3];
        var dense = (Dense<T>)model.Layers[4];
        AssertLstm(a.Forwards, n.ForwardA, "first forward");
        AssertLstm(a.Backwards, n.BackwardA, "first backward");
        AssertLstm(b.Forwards, n.ForwardB, "second forward");
        AssertLstm(b.Backwards, n.BackwardB, "second backward");
        Assert.That(normA.Gamma!.Value.Select(double.CreateChecked), Is.EqualTo(Vector(n.NormA, 0, 8)));
        Assert.That(normA.Beta!.Value.Select(double.CreateChecked), Is.EqualTo(Vector(n.NormA, 1, 8)));
        Assert.That(normB.Gamma!.Value.Select(double.CreateChecked), Is.EqualTo(Vector(n.NormB, 0, 6)));
        Assert.That(normB.Beta!.Value.Select(double.CreateChecked), Is.EqualTo(Vector(n.NormB, 1, 6)));
        for (int u = 0; u < 2; u++)
            for (int i = 0; i < 6; i++)
                Assert.That(double.CreateChecked(dense.Weight.Value[u * 6 + i]), Is.EqualTo(Value(n.Dense, 0, i * 2 + u)), $"dense weight[{u}, {i}] = kernel[{i}, {u}]");
        Assert.That(dense.Bias!.Value.Select(double.CreateChecked), Is.EqualTo(Vector(n.Dense, 1, 2)));
    }

    private static readonly double[][][] Inputs = Enumerable.Range(0, 2).Select(s =>
        Enumerable.Range(0, 5).Select(t => Enumerable.Range(0, 3).Select(f => Math.Sin(1.3 * s + 0.7 * t + 1.1 * f + 0.2)).ToArray()).ToArray()).ToArray();

    private static double[] NumLstmOutput(Sequential<T> model, double[][][] x)
    {
        int batch = x.Length, time = x[0].Length;
        T[] flat = x.SelectMany(s => s.SelectMany(r => r)).Select(T.CreateChecked).ToArray();
        return model.Forward(new SequenceBatch<T>(flat, batch, time, default), model.CreateCache(), ForwardContext.Inference)
            .ToArray().Select(double.CreateChecked).ToArray();
    }

    /// <summary>Keras' equations over the fixture's arrays in Keras' layouts, not transposed.</summary>
    private static double[] KerasSeedSmall(double[][][] x, SeedNumbers n) => x.SelectMany(sample =>
    {
        double[][] y = KerasReference.Bidirectional(sample, Cell(n.ForwardA, 3, 4), Cell(n.BackwardA, 3, 4), returnSequences: true);
        y = KerasReference.LayerNorm(y, Vector(n.NormA, 0, 8), Vector(n.NormA, 1, 8));
        y = KerasReference.Bidirectional(y, Cell(n.ForwardB, 8, 3), Cell(n.BackwardB, 8, 3), returnSequences: false);
        y = KerasReference.LayerNorm(y, Vector(n.NormB, 0, 6), Vector(n.NormB, 1, 6));
        return KerasReference.Dense(y, Matrix(n.Dense, 0, 6, 2), Vector(n.Dense, 1, 2))[0];
    }).ToArray();

    private static double Tolerance => typeof(T) == typeof(float) ? 2e-5 : 1e-12;

    [TestCase("seed_small.weights.h5")]
    [TestCase("seed_small.latest.weights.h5")]
    [TestCase("seed_small.f64.weights.h5")]
    [TestCase("seed_small.tf213.weights.h5")]
    [TestCase("seed_small.h5py.weights.h5")]
    [TestCase("seed_small.keras")]
    public void Keras3Weights_LandInNumLstmsLayout_AndComputeWhatKerasComputes(string name)
    {
        Sequential<T> model = SeedSmall();
        KerasFile.LoadWeights(model, Fixture(name));
        AssertSeedSmall(model, Keras3);
        Assert.That(NumLstmOutput(model, Inputs), Is.EqualTo(KerasSeedSmall(Inputs, Keras3)).Within(Tolerance));
    }

    [TestCase("seed_small.legacy.h5")]
    [TestCase("seed_small.legacy_model.h5")]
    [TestCase("seed_small.h5py.legacy_model.h5")]
    public void LegacyTfKeras2Weights_LandInNumLstmsLayout_AndComputeWhatKerasComputes(string name)
    {
        Sequential<T> model = SeedSmall();
        KerasFile.LoadWeights(model, Fixture(name));
        AssertSeedSmall(model, Legacy);
        Assert.That(NumLstmOutput(model, Inputs), Is.EqualTo(KerasSeedSmall(Inputs, Legacy)).Within(Tolerance));
    }

    [Test]
    public void TheReferenceTellsTheGateOrderAndTheDirectionsApart()
    {
        // The check above can fail: the same weights with the two directions' files swapped compute something else.
        Sequential<T> model = SeedSmall();
        KerasFile.LoadWeights(model, Fixture("seed_small.weights.h5"));
        double[] swapped = KerasSeedSmall(Inputs, Keras3 with { ForwardA = Keras3.BackwardA, BackwardA = Keras3.ForwardA });
        double[] actual = NumLstmOutput(model, Inputs);
        Assert.That(actual.Zip(swapped).Max(p => Math.Abs(p.First - p.Second)), Is.GreaterThan(1e-3));
    }

    [TestCase("seed_small.keras", "Keras 3")]
    [TestCase("seed_small.legacy_model.h5", "tf.keras 2")]
    [TestCase("seed_small.h5py.legacy_model.h5", "tf.keras 2")]
    public void Load_BuildsTheModelItsConfigDescribes_WithItsWeights(string name, string writer)
    {
        Sequential<T> model = KerasFile.Load<T>(Fixture(name));
        Assert.That(model.Layers.Select(l => l.Name), Is.EqualTo(new[] { "bidirectional", "layer_normalization", "bidirectional_1", "layer_normalization_1", "dense" }), writer);
        Assert.That(((Bidirectional<T>)model.Layers[0]).Forwards.ReturnSequences, Is.True);
        AssertSeedSmall(model, writer == "Keras 3" ? Keras3 : Legacy);
        SeedNumbers n = writer == "Keras 3" ? Keras3 : Legacy;
        Assert.That(NumLstmOutput(model, Inputs), Is.EqualTo(KerasSeedSmall(Inputs, n)).Within(Tolerance));
    }

    [Test]
    public void MixedModel_ClassCountersMaskingDropoutGammaOnlyAndNoBias()
    {
        Sequential<T> fromConfig = ModelSpec.FromKerasJson(File.ReadAllText(Fixture("mixed.config.json"))).Build<T>();
        Assert.That(fromConfig.Layers.Select(l => l.GetType().Name.TrimEnd('1', '`')), Is.EqualTo(new[] { "Masking", "Lstm", "Dropout", "Lstm", "LayerNorm", "Lstm", "Dense" }));
        foreach (Sequential<T> model in new[] { fromConfig, Mixed() })
        {
            KerasFile.LoadWeights(model, Fixture("mixed.weights.h5"));
            AssertLstm((Lstm<T>)model.Layers[1], 0, "lstm");
            AssertLstm((Lstm<T>)model.Layers[3], 1, "lstm_1");
            AssertLstm((Lstm<T>)model.Layers[5], 3, "lstm_2");
            var norm = (LayerNorm<T>)model.Layers[4];
            Assert.That(norm.Beta, Is.Null);
            Assert.That(norm.Gamma!.Value.Select(double.CreateChecked), Is.EqualTo(Vector(2, 0, 2)));
            var dense = (Dense<T>)model.Layers[6];
            Assert.That(dense.Bias, Is.Null);
            Assert.That(dense.Weight.Value.Select(double.CreateChecked), Is.EqualTo(Vector(4, 0, 2)));

            double[][][] x = Inputs.Select(s => s.Append([0.3, -0.2, 0.1]).ToArray()).ToArray();
            double[] expected = x.SelectMany(sample =>
            {
                double[][] y = KerasReference.Lstm(sample, Matrix(0, 0, 3, 12), Matrix(0, 1, 3, 12), Vector(0, 2, 12), goBackwards: false);
                y = KerasReference.Lstm(y, Matrix(1, 0, 3, 8), Matrix(1, 1, 2, 8), Vector(1, 2, 8), goBackwards: false);
                y = KerasReference.LayerNorm(y, Vector(2, 0, 2), null);
                y = KerasReference.Lstm(y, Matrix(3, 0, 2, 8), Matrix(3, 1, 2, 8), Vector(3, 2, 8), goBackwards: false);
                return KerasReference.Dense([y[^1]], Matrix(4, 0, 2, 1), null)[0];
            }).ToArray();
            Assert.That(NumLstmOutput(model, x), Is.EqualTo(expected).Within(Tolerance));
        }
    }

    private static T[][] Snapshot(Sequential<T> model) => model.NamedParameters.Select(p => (T[])p.Parameter.Value.Clone()).ToArray();

    private static void AssertUnchanged(Sequential<T> model, T[][] before)
    {
        T[][] after = Snapshot(model);
        for (int i = 0; i < before.Length; i++)
            Assert.That(after[i], Is.EqualTo(before[i]), $"parameter {model.NamedParameters[i].Name} changed by a failed load");
    }

    [Test]
    public void AShapeMismatch_NamesTheDatasetAndBothShapes_AndLeavesTheModelUnchanged()
    {
        Sequential<T> model = SeedSmall();
        T[][] before = Snapshot(model);
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Fixture("seed_small.mismatch.weights.h5")))!;
        Assert.That(e.Message, Does.Contain("/layers/layer_normalization_1/vars/0").And.Contain("expected [6]").And.Contain("found [5]").And.Contain("gamma"));
        Assert.That(e.FilePath, Is.EqualTo(Fixture("seed_small.mismatch.weights.h5")));
        AssertUnchanged(model, before);
    }

    [Test]
    public void AModelOfOtherSizes_IsRefused_Unchanged()
    {
        Sequential<T> model = ModelBuilder.Input(3).Bidirectional(5, returnSequences: true).LayerNorm().Bidirectional(3).LayerNorm().Dense(2).Build<T>();
        T[][] before = Snapshot(model);
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Fixture("seed_small.weights.h5")))!;
        Assert.That(e.Message, Does.Contain("/layers/bidirectional/forward_layer/cell/vars/0").And.Contain("expected [3, 20]").And.Contain("found [3, 16]"));
        AssertUnchanged(model, before);
        e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Fixture("seed_small.legacy.h5")))!;
        Assert.That(e.Message, Does.Contain("expected [3, 20]").And.Contain("found [3, 16]"));
        AssertUnchanged(model, before);
    }

    [Test]
    public void AModelWithALayerTheFileLacks_IsRefused_NamingTheMissingVars()
    {
        Sequential<T> model = ModelBuilder.Input(3).Bidirectional(4, returnSequences: true).LayerNorm().Bidirectional(3).LayerNorm().Dense(2).Dense(1).Build<T>();
        T[][] before = Snapshot(model);
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Fixture("seed_small.weights.h5")))!;
        Assert.That(e.Message, Does.Contain("layers/dense_1/vars").And.Contain("expected 2 variables").And.Contain("found 0"));
        AssertUnchanged(model, before);
        e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Fixture("seed_small.legacy.h5")))!;
        Assert.That(e.Message, Does.Contain("expected 6 layers with weights").And.Contain("found 5"));
        AssertUnchanged(model, before);
    }

    [Test]
    public void AFileWithALayerTheModelLacks_IsRefusedWhenStrict_AndIgnoredAsKerasDoesOtherwise()
    {
        Sequential<T> model = ModelBuilder.Input(3).Bidirectional(4, returnSequences: true).LayerNorm().Bidirectional(3).LayerNorm().Build<T>();
        T[][] before = Snapshot(model);
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Fixture("seed_small.weights.h5")))!;
        Assert.That(e.Message, Does.Contain("/layers/dense").And.Contain("strict: false"));
        AssertUnchanged(model, before);

        KerasFile.LoadWeights(model, Fixture("seed_small.weights.h5"), strict: false);
        AssertLstm(((Bidirectional<T>)model.Layers[0]).Forwards, Keras3.ForwardA, "first forward");
        AssertLstm(((Bidirectional<T>)model.Layers[2]).Backwards, Keras3.BackwardB, "second backward");
    }

    [Test]
    public void TheLayersAreMatchedByClassAndOrder_NotByName()
    {
        // Keras 3 addresses layers/lstm, layers/lstm_1 by class and position: a layer renamed in NumLstm loads the same.
        Sequential<T> model = ModelBuilder.Input(3).Masking(name: "m").Lstm(3, returnSequences: true, name: "first").Dropout(0.2, name: "d")
            .Lstm(2, returnSequences: true, name: "second").LayerNorm(center: false, name: "norm").Lstm(2, name: "third").Dense(1, useBias: false, name: "out").Build<T>();
        KerasFile.LoadWeights(model, Fixture("mixed.weights.h5"));
        AssertLstm((Lstm<T>)model.Layers[3], 1, "lstm_1 as 'second'");
        // Without the Dropout in between, the second LSTM still is layers/lstm_1 (counters are per class).
        Sequential<T> noDropout = ModelBuilder.Input(3).Masking().Lstm(3, returnSequences: true).Lstm(2, returnSequences: true)
            .LayerNorm(center: false).Lstm(2).Dense(1, useBias: false).Build<T>();
        KerasFile.LoadWeights(noDropout, Fixture("mixed.weights.h5"));
        AssertLstm((Lstm<T>)noDropout.Layers[2], 1, "lstm_1");
    }

    [Test]
    public void AnInCellLayerNormModel_IsRefused_KerasHasNoSuchWeights()
    {
        Sequential<T> model = ModelBuilder.Input(3).Bidirectional(4, returnSequences: true, cellNormalization: CellNormalization.KerasGates)
            .LayerNorm().Bidirectional(3).LayerNorm().Dense(2).Build<T>();
        var e = Assert.Throws<ArgumentException>(() => KerasFile.LoadWeights(model, Fixture("seed_small.weights.h5")))!;
        Assert.That(e.Message, Does.Contain("normalizes inside its cell"));
    }

    [Test]
    public void AWeightsOnlyFile_CannotBeLoadedAsAModel_TheMessageSaysWhatToDo()
    {
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.Load<T>(Fixture("seed_small.weights.h5")))!;
        Assert.That(e.Message, Does.Contain("weights-only").And.Contain("LoadWeights"));
        e = Assert.Throws<NumLstmFormatException>(() => KerasFile.Load<T>(Fixture("seed_small.legacy.h5")))!;
        Assert.That(e.Message, Does.Contain("weights-only"));
    }
}

/// <summary>
/// <see cref="KerasFile.SaveWeights"/>: what Keras 3's save_weights writes, read back by NumLstm's reader and compared
/// group by group with the h5py-layout fixtures (the HDF5 library's h5dump of both was checked identical when written:
/// docs/formats.md).
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public sealed class KerasSaveWeightsTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private string directory = "";

    [SetUp]
    public void SetUp() => directory = Directory.CreateTempSubdirectory("numlstm-keras-save-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(directory, recursive: true);

    /// <summary>Every group and dataset below the root: path, then "group" or dtype, shape and values.</summary>
    private static List<string> Listing(Hdf5File file)
    {
        var lines = new List<string>();
        void Walk(Hdf5Object node)
        {
            foreach (var (_, child) in node.Children())
            {
                if (child.IsDataset)
                    lines.Add($"{child.Path} {child.Type.Description} [{string.Join(",", child.Shape)}] {string.Join(",", child.Read<double>())}");
                else
                {
                    lines.Add($"{child.Path} group");
                    Walk(child);
                }
            }
        }
        Walk(file.Root);
        return lines;
    }

    [TestCase("seed_small.weights.h5", "seed_small.f64.weights.h5")]
    [TestCase("mixed.weights.h5", "mixed.weights.h5")]
    public void TheFileHoldsWhatKerasWrites_GroupForGroup(string fixture, string doubleFixture)
    {
        Sequential<T> model = fixture.StartsWith("mixed", StringComparison.Ordinal) ? KerasFileTests<T>.Mixed() : KerasFileTests<T>.SeedSmall();
        KerasFile.LoadWeights(model, KerasFileTests<T>.Fixture(fixture));
        string path = Path.Combine(directory, "m.weights.h5");
        KerasFile.SaveWeights(model, path);
        // float32 from a float model, float64 from a double one (the f64 fixture for the seed; the mixed one exists in
        // float32 only, so its listing is compared with the dtype named as written).
        string expectedFixture = typeof(T) == typeof(double) ? doubleFixture : fixture;
        List<string> expected = Listing(Hdf5File.Read(KerasFileTests<T>.Fixture(expectedFixture)));
        if (typeof(T) == typeof(double) && expectedFixture == fixture) expected = expected.Select(l => l.Replace(" float32 ", " float64 ")).ToList();
        Assert.That(Listing(Hdf5File.Read(path)), Is.EqualTo(expected));
        Hdf5File written = Hdf5File.Read(path);
        Assert.That(written.SuperblockVersion, Is.EqualTo(0), "h5py's default ('earliest') layout");
    }

    [Test]
    public void SavedThenLoaded_EveryWeightBitForBit()
    {
        Sequential<T> model = ModelBuilder.Input(4).Masking().Bidirectional(5, returnSequences: true).LayerNorm(center: false)
            .Lstm(3, returnSequences: true).Dropout(0.1).LayerNorm(scale: false).Lstm(2).Dense(3, Activation.Softmax).Dense(2, useBias: false).Build<T>(seed: 11);
        var random = new Random(7);
        foreach (NamedParameter<T> p in model.NamedParameters)
            for (int i = 0; i < p.Parameter.Value.Length; i++)
                p.Parameter.Value[i] = T.CreateChecked(random.NextDouble() * 2 - 1) / T.CreateChecked(3);
        model.NamedParameters[0].Parameter.Value[0] = T.NegativeZero;
        model.NamedParameters[1].Parameter.Value[1] = T.Epsilon;
        string path = Path.Combine(directory, "w.weights.h5");
        KerasFile.SaveWeights(model, path);
        Sequential<T> loaded = ModelBuilder.Input(4).Masking().Bidirectional(5, returnSequences: true).LayerNorm(center: false)
            .Lstm(3, returnSequences: true).Dropout(0.1).LayerNorm(scale: false).Lstm(2).Dense(3, Activation.Softmax).Dense(2, useBias: false).Build<T>(seed: 99);
        KerasFile.LoadWeights(loaded, path);
        for (int k = 0; k < model.NamedParameters.Count; k++)
        {
            T[] a = model.NamedParameters[k].Parameter.Value, b = loaded.NamedParameters[k].Parameter.Value;
            for (int i = 0; i < a.Length; i++)
                Assert.That(BitConverter.DoubleToInt64Bits(double.CreateChecked(b[i])), Is.EqualTo(BitConverter.DoubleToInt64Bits(double.CreateChecked(a[i]))), $"{model.NamedParameters[k].Name}[{i}]");
        }
    }

    [Test]
    public void ASavedArchive_IsWhatKerasWrites_AndLoadsBackBitForBit()
    {
        Sequential<T> model = KerasFileTests<T>.SeedSmall();
        KerasFile.LoadWeights(model, KerasFileTests<T>.Fixture("seed_small.weights.h5"));
        string path = Path.Combine(directory, "m.keras");
        KerasFile.Save(model, path, timeSteps: 5);

        using (var zip = System.IO.Compression.ZipFile.OpenRead(path))
        {
            // Keras' order and its ZIP_STORED members; the config is ToKerasJson's, the weights SaveWeights'.
            Assert.That(zip.Entries.Select(e => e.FullName), Is.EqualTo(new[] { "metadata.json", "config.json", "model.weights.h5" }));
            Assert.That(zip.Entries.All(e => e.CompressedLength == e.Length), Is.True, "stored, not deflated");
            using var reader = new StreamReader(zip.GetEntry("metadata.json")!.Open());
            System.Text.Json.Nodes.JsonNode metadata = System.Text.Json.Nodes.JsonNode.Parse(reader.ReadToEnd())!;
            Assert.That((string?)metadata["keras_version"], Is.EqualTo(KerasFile.KerasFormatVersion));
            Assert.That((string?)metadata["date_saved"], Does.Match(@"^\d{4}-\d{2}-\d{2}@\d{2}:\d{2}:\d{2}$"));
        }
        Sequential<T> loaded = KerasFile.Load<T>(path, seed: 5);    // the seed is NumLstm's, not in a Keras file
        Assert.That(ModelSpecOf.Describe(loaded).ToJson(), Is.EqualTo(ModelSpecOf.Describe(model).ToJson()));
        for (int k = 0; k < model.NamedParameters.Count; k++)
            Assert.That(loaded.NamedParameters[k].Parameter.Value, Is.EqualTo(model.NamedParameters[k].Parameter.Value), model.NamedParameters[k].Name);
        string refused = Path.Combine(directory, "m.zip");
        Assert.That(() => KerasFile.Save(model, refused), Throws.ArgumentException.With.Message.Contain(".keras"));
        Assert.That(File.Exists(refused), Is.False);
    }

    [Test]
    public void ANameKerasWouldReadAsTfKeras2_OrAnInCellModel_IsRefused_LeavingTheFile()
    {
        string path = Path.Combine(directory, "m.h5");
        File.WriteAllText(path, "keep");
        var e = Assert.Throws<ArgumentException>(() => KerasFile.SaveWeights(KerasFileTests<T>.SeedSmall(), path))!;
        Assert.That(e.Message, Does.Contain(".weights.h5").And.Contain("tf.keras 2"));
        string weights = Path.Combine(directory, "m.weights.h5");
        File.WriteAllText(weights, "keep");
        Sequential<T> inCell = ModelBuilder.Input(3).Lstm(4, cellNormalization: CellNormalization.TfAddons).Dense(1).Build<T>();
        Assert.Throws<ArgumentException>(() => KerasFile.SaveWeights(inCell, weights));
        Assert.That(File.ReadAllText(path), Is.EqualTo("keep"));
        Assert.That(File.ReadAllText(weights), Is.EqualTo("keep"));
    }
}

/// <summary>Files that are not Keras files, or damaged ones: one exception type, naming the file, never a crash.</summary>
public sealed class KerasFileHostileTests
{
    private static string Fixture(string name) => KerasFileTests<float>.Fixture(name);

    private string directory = "";

    [SetUp]
    public void SetUp() => directory = Directory.CreateTempSubdirectory("numlstm-keras-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(directory, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Zip(string name, params (string Entry, byte[] Bytes)[] entries)
    {
        string path = Path.Combine(directory, name);
        using (var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Create))
            foreach (var (entry, bytes) in entries)
            {
                using Stream s = zip.CreateEntry(entry).Open();
                s.Write(bytes);
            }
        return path;
    }

    [Test]
    public void NeitherZipNorHdf5_IsRefusedNamingBothKinds()
    {
        string path = Write("model.keras", "{\"class_name\": \"Sequential\"}"u8.ToArray());
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(KerasFileTests<float>.SeedSmall(), path))!;
        Assert.That(e.Message, Does.Contain("expected a Keras file").And.Contain(path));
        e = Assert.Throws<NumLstmFormatException>(() => KerasFile.Load<float>(Write("empty.h5", [])))!;
        Assert.That(e.Message, Does.Contain("expected a Keras file"));
    }

    [Test]
    public void AnArchiveWithoutHdf5Weights_IsRefused_NpzNamedAsSuch()
    {
        string npz = Zip("npz.keras", ("metadata.json", "{}"u8.ToArray()), ("config.json", "{}"u8.ToArray()), ("model.weights.npz", [1, 2, 3]));
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.Load<float>(npz))!;
        Assert.That(e.Message, Does.Contain("weights_format='npz'").And.Contain("pickled"));
        string none = Zip("none.keras", ("config.json", "{}"u8.ToArray()));
        e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(KerasFileTests<float>.SeedSmall(), none))!;
        Assert.That(e.Message, Does.Contain("'model.weights.h5'").And.Contain("config.json"));
    }

    [Test]
    public void AnArchiveWithoutAConfig_LoadsWeightsButNotAModel()
    {
        byte[] h5 = File.ReadAllBytes(Fixture("seed_small.weights.h5"));
        string path = Zip("weights-only.keras", ("model.weights.h5", h5));
        KerasFile.LoadWeights(KerasFileTests<float>.SeedSmall(), path);
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.Load<float>(path))!;
        Assert.That(e.Message, Does.Contain("'config.json'"));
    }

    [Test]
    public void AConfigKerasRefuses_IsANumLstmFormatException_NamingTheMember()
    {
        byte[] h5 = File.ReadAllBytes(Fixture("seed_small.weights.h5"));
        string path = Zip("subclassed.keras", ("config.json", """{"class_name": "MyModel", "config": {}}"""u8.ToArray()), ("model.weights.h5", h5));
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.Load<float>(path))!;
        Assert.That(e.Message, Does.Contain("config.json").And.Contain("MyModel"));
        Assert.That(e.InnerException, Is.InstanceOf<FormatException>());
    }

    [Test]
    public void EveryTruncation_IsRefusedWithTheOneExceptionType()
    {
        foreach (string name in new[] { "seed_small.weights.h5", "seed_small.latest.weights.h5", "seed_small.legacy_model.h5" })
        {
            byte[] bytes = File.ReadAllBytes(Fixture(name));
            int refused = 0;
            for (int length = 0; length < bytes.Length; length += length < 4096 ? 1 : 61)
            {
                try
                {
                    LoadFromBytes(bytes[..length], name);
                }
                catch (NumLstmFormatException e)
                {
                    Assert.That(e.FilePath, Is.EqualTo(name));
                    refused++;
                }
            }
            Assert.That(refused, Is.GreaterThan(0), name);
        }
    }

    [Test]
    public void DamagedNewFormatMetadata_FailsItsChecksum()
    {
        byte[] bytes = File.ReadAllBytes(Fixture("seed_small.latest.weights.h5"));
        byte[] superblock = (byte[])bytes.Clone();
        superblock[14] ^= 0x01;                                  // a byte of the base address, under the checksum
        var e = Assert.Throws<NumLstmFormatException>(() => LoadFromBytes(superblock, "sb.h5"))!;
        Assert.That(e.Message, Does.Contain("checksum"));
        int header = bytes.AsSpan(48).IndexOf("OHDR"u8) + 48;
        byte[] damaged = (byte[])bytes.Clone();
        damaged[header + 8] ^= 0x01;                              // a byte of its times, under the checksum
        e = Assert.Throws<NumLstmFormatException>(() => LoadFromBytes(damaged, "oh.h5"))!;
        Assert.That(e.Message, Does.Contain("checksum"));
    }

    [Test, CancelAfter(20_000)]
    public void HardLinksThatLoop_AreWalkedOnce()
    {
        // links_loop.weights.h5 (generator/make_hostile.c): /layers/extra links to itself twice; its one dataset,
        // /layers/extra/c/vars/0, belongs to no layer of the model. Walked without memory, the strict check goes down
        // a/a/a/... to the depth limit and names the dataset by that path; without the dataset it would try 3^64 paths.
        Sequential<float> model = ModelBuilder.Input(3).Dropout(0.1).Build<float>();
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Fixture("links_loop.weights.h5")))!;
        Assert.That(e.Message, Does.Contain("/layers/extra/c/vars/0").And.Contain("strict: false"));
        KerasFile.LoadWeights(model, Fixture("links_loop.weights.h5"), strict: false);
    }

    /// <summary>The whole load (every object, attribute and dataset the loader reads) from memory.</summary>
    internal static void LoadFromBytes(byte[] bytes, string name)
    {
        Hdf5File file = Hdf5File.Parse(bytes, name);
        var content = new KerasFile.KerasContent(file, null, false);
        KerasFile.LoadWeights(KerasFileTests<float>.SeedSmall(), content, strict: true);
    }
}
