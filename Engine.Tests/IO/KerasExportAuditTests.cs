using System.Text.Json.Nodes;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.IO;

/// <summary>
/// Audit of the Keras export (<see cref="KerasFile.SaveWeights"/>, <see cref="KerasFile.Save"/>,
/// <see cref="ModelSpec.ToKerasJson"/>) against Keras 3's loading code (keras/src/saving/saving_lib.py H5Entry and
/// _load_container_state, keras/src/layers/layer.py build_from_config and load_own_variables,
/// keras/src/layers/normalization/layer_normalization.py build). These pin what the audit checked and found right,
/// for the cases the existing tests do not reach: more than nine layers of one class (Keras' "dense_10" sorts before
/// "dense_2" in HDF5's strcmp order) and more than eight children in one group (the symbol-table leaf K grows past
/// h5py's 4), every LayerNormalization center/scale combination, and build_config shapes through width changes.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public sealed class KerasExportAuditTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private string directory = "";

    [SetUp]
    public void SetUp() => directory = Directory.CreateTempSubdirectory("numlstm-keras-export-audit-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(directory, recursive: true);

    private static ModelBuilder Wide()
    {
        // 12 Dense layers: Keras' container names dense, dense_1 ... dense_11 (saving_lib._save_container_state:
        // name = f"{name}_{used_names[name]}"); 14 children under 'layers', past the 8 one default symbol-table node holds.
        ModelBuilder b = ModelBuilder.Input(3).Lstm(4, returnSequences: true).LayerNorm();
        for (int i = 0; i < 12; i++) b = b.Dense(i % 2 == 0 ? 3 : 2, useBias: i % 3 != 0);
        return b;
    }

    private static void Randomize(Sequential<T> model, int seed)
    {
        var random = new Random(seed);
        foreach (NamedParameter<T> p in model.NamedParameters)
            for (int i = 0; i < p.Parameter.Value.Length; i++)
                p.Parameter.Value[i] = T.CreateChecked(random.NextDouble() * 2 - 1);
    }

    [Test]
    public void ManyLayersOfOneClass_AreNumberedAsKerasNumbersThem_AndReadBackBitForBit()
    {
        Sequential<T> model = Wide().Build<T>(seed: 1);
        Randomize(model, 5);
        string path = Path.Combine(directory, "wide.weights.h5");
        KerasFile.SaveWeights(model, path);

        Hdf5File file = Hdf5File.Read(path);
        Assert.That(file.Find("vars"), Is.Not.Null, "H5Entry reads the root model's own 'vars' (self.h5_file[\"vars\"]) unconditionally");
        var keys = file.Find("layers")!.Children().Select(c => c.Name).ToList();
        Assert.That(keys, Is.EqualTo(keys.OrderBy(k => k, StringComparer.Ordinal).ToList()), "strcmp order");
        Assert.That(keys, Does.Contain("dense_10").And.Contain("dense_11").And.Contain("layer_normalization").And.Contain("lstm"));
        Assert.That(keys, Has.Count.EqualTo(14));
        // dense_9 is the 10th Dense (i = 9: no bias), dense_10 the 11th (bias).
        Assert.That(file.Find("layers/dense_9/vars")!.Children().Count(), Is.EqualTo(1));
        Assert.That(file.Find("layers/dense_10/vars")!.Children().Count(), Is.EqualTo(2));

        Sequential<T> loaded = Wide().Build<T>(seed: 2);
        KerasFile.LoadWeights(loaded, path);
        for (int k = 0; k < model.NamedParameters.Count; k++)
            Assert.That(loaded.NamedParameters[k].Parameter.Value, Is.EqualTo(model.NamedParameters[k].Parameter.Value), model.NamedParameters[k].Name);
    }

    [TestCase(true, true, new[] { "gamma", "beta" })]
    [TestCase(false, true, new[] { "gamma" })]
    [TestCase(true, false, new[] { "beta" })]
    [TestCase(false, false, new string[0])]
    public void LayerNormalization_HoldsWhatKerasBuilds_ForEachCenterScale(bool center, bool scale, string[] variables)
    {
        // layer_normalization.py build: "if self.scale or self.rms_scaling: self.gamma = self.add_weight(...)" then
        // "if self.center and not self.rms_scaling: self.beta = self.add_weight(...)"; save_own_variables numbers them in
        // that order ("0" gamma, "1" beta, only those that exist).
        Sequential<T> model = ModelBuilder.Input(3).LayerNorm(center: center, scale: scale).Build<T>(seed: 1);
        var norm = (LayerNorm<T>)model.Layers[0];
        if (norm.Gamma is { } g) for (int i = 0; i < 3; i++) g.Value[i] = T.CreateChecked(10 + i);
        if (norm.Beta is { } b) for (int i = 0; i < 3; i++) b.Value[i] = T.CreateChecked(20 + i);
        string path = Path.Combine(directory, "ln.weights.h5");
        KerasFile.SaveWeights(model, path);
        Hdf5Object vars = Hdf5File.Read(path).Find("layers/layer_normalization/vars")!;
        Assert.That(vars.Children().Select(c => c.Name), Is.EqualTo(Enumerable.Range(0, variables.Length).Select(i => i.ToString())));
        for (int i = 0; i < variables.Length; i++)
            Assert.That(vars.Child(i.ToString())!.Read<double>(), Is.EqualTo(variables[i] == "gamma" ? new double[] { 10, 11, 12 } : new double[] { 20, 21, 22 }), variables[i]);
    }

    [Test]
    public void EveryBuildConfig_IsTheInputShapeKerasWouldRecord_ThroughWidthChanges()
    {
        // Layer.get_build_config records build()'s one shape argument as "input_shape"; a Bidirectional's wrapped layers
        // are built with the Bidirectional's own input (bidirectional.py build: self.forward_layer.build(sequences_shape)).
        Sequential<T> model = ModelBuilder.Input(3).Lstm(5, returnSequences: true).Bidirectional(2, returnSequences: true)
            .LayerNorm().Bidirectional(4, merge: MergeMode.Sum).Dense(6).Dropout(0.1).Dense(1).Build<T>(seed: 1);
        JsonNode root = JsonNode.Parse(ModelSpecOf.Describe(model).ToKerasJson(7, typeof(T) == typeof(float) ? "float32" : "float64"))!;
        JsonArray layers = root["config"]!["layers"]!.AsArray();
        string Shape(JsonNode? n) => n!.ToJsonString();
        string[] expected = ["[null,7,3]", "[null,7,5]", "[null,7,4]", "[null,7,4]", "[null,4]", "[null,6]", "[null,6]"];
        Assert.That(layers[0]!["config"]!["batch_shape"]!.ToJsonString(), Is.EqualTo("[null,7,3]"));
        Assert.That(layers[0]!["build_config"], Is.Null, "Keras writes no build_config for the InputLayer (never built through build())");
        for (int i = 0; i < expected.Length; i++)
        {
            JsonNode layer = layers[i + 1]!;
            Assert.That(Shape(layer["build_config"]!["input_shape"]), Is.EqualTo(expected[i]), layer["class_name"]!.GetValue<string>());
            if (layer["class_name"]!.GetValue<string>() == "Bidirectional")
                foreach (string key in new[] { "layer", "backward_layer" })
                    Assert.That(Shape(layer["config"]![key]!["build_config"]!["input_shape"]), Is.EqualTo(expected[i]), key);
        }
        Assert.That(Shape(root["config"]!["build_input_shape"]), Is.EqualTo("[null,7,3]"));
        Assert.That(Shape(root["build_config"]!["input_shape"]), Is.EqualTo("[null,7,3]"));
        Assert.That(root["compile_config"], Is.Null);
    }

    [Test]
    public void TheArchive_HasExactlyTheThreeMembers_SoLoadModelOpensNoAssetStore()
    {
        // saving_lib._load_model_from_fileobj: "if len(all_filenames) > 3: asset_store = DiskIOStore(...)"; Keras' own
        // archive of these layers has no assets either (an empty assets dir adds no member).
        Sequential<T> model = ModelBuilder.Input(2).Masking().Lstm(3).Dense(1).Build<T>(seed: 1);
        string path = Path.Combine(directory, "m.keras");
        KerasFile.Save(model, path, timeSteps: 4);
        using var zip = System.IO.Compression.ZipFile.OpenRead(path);
        Assert.That(zip.Entries.Select(e => e.FullName), Is.EqualTo(new[] { "metadata.json", "config.json", "model.weights.h5" }));
        Assert.That(zip.Entries.Select(e => e.CompressedLength), Is.EqualTo(zip.Entries.Select(e => e.Length)), "stored, as Keras' zipfile.ZipFile(fileobj, \"w\") writes them");
    }
}
