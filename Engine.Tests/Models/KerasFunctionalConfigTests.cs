using System.Text.Json.Nodes;
using NumLstm.IO;
using NumLstm.Models;
using NumLstm.Tests.IO;

namespace NumLstm.Tests.Models;

/// <summary>
/// A Functional Keras model that is a chain (keras.Input, then each layer called on the one before, one output) reads
/// as the Sequential it is equivalent to. The Functional configs are the Sequential fixtures rewritten as Keras' own
/// Functional.get_config writes them (keras/src/models/functional.py: each layer's serialization plus "name" and
/// "inbound_nodes", a node as {"args": [serialized KerasTensor], "kwargs": {}}, "input_layers"/"output_layers" as
/// [name, node, tensor]) and as tf.keras 2 wrote them ([[["name", 0, 0, {}]]]).
/// </summary>
public sealed class KerasFunctionalConfigTests
{
    /// <summary>The Keras 3 Functional form of a Sequential fixture.</summary>
    internal static string Keras3Functional(string sequential, bool nestedReferences = true, Action<JsonArray>? edit = null)
    {
        JsonObject root = JsonNode.Parse(sequential)!.AsObject();
        JsonObject config = root["config"]!.AsObject();
        var layers = config["layers"]!.AsArray();
        string? previous = null;
        JsonNode? shape = null;
        foreach (JsonNode? layer in layers)
        {
            string name = (string)layer!["config"]!["name"]!;
            layer["name"] = name;
            var nodes = new JsonArray();
            if (previous is not null)
                nodes.Add(new JsonObject
                {
                    ["args"] = new JsonArray(new JsonObject
                    {
                        ["class_name"] = "__keras_tensor__",
                        ["config"] = new JsonObject { ["shape"] = shape!.DeepClone(), ["dtype"] = "float32", ["keras_history"] = new JsonArray(previous, 0, 0) },
                    }),
                    ["kwargs"] = new JsonObject(),
                });
            layer["inbound_nodes"] = nodes;
            shape = layer["config"]!["batch_shape"] ?? layer["build_config"]?["input_shape"];
            previous = name;
        }
        string first = (string)layers[0]!["name"]!, last = previous!;
        var functional = new JsonObject
        {
            ["name"] = "functional", ["trainable"] = true, ["layers"] = layers.DeepClone(),
            ["input_layers"] = nestedReferences ? new JsonArray(new JsonArray(first, 0, 0)) : new JsonArray(first, 0, 0),
            ["output_layers"] = nestedReferences ? new JsonArray(new JsonArray(last, 0, 0)) : new JsonArray(last, 0, 0),
        };
        edit?.Invoke(functional["layers"]!.AsArray());
        root["module"] = "keras.src.models.functional";
        root["class_name"] = "Functional";
        root["registered_name"] = "Functional";
        root["config"] = functional;
        root.Remove("build_config");
        return root.ToJsonString();
    }

    /// <summary>The tf.keras 2 Functional ("Model") form of a Sequential fixture.</summary>
    internal static string TfKeras2Functional(string sequential)
    {
        JsonObject root = JsonNode.Parse(sequential)!.AsObject();
        var layers = root["config"]!["layers"]!.AsArray();
        string? previous = null;
        foreach (JsonNode? layer in layers)
        {
            string name = (string)layer!["config"]!["name"]!;
            layer["name"] = name;
            layer["inbound_nodes"] = previous is null ? new JsonArray() : new JsonArray(new JsonArray(new JsonArray(previous, 0, 0, new JsonObject())));
            previous = name;
        }
        root["class_name"] = "Functional";
        root["config"] = new JsonObject
        {
            ["name"] = "model", ["layers"] = layers.DeepClone(),
            ["input_layers"] = new JsonArray(new JsonArray((string)layers[0]!["name"]!, 0, 0)),
            ["output_layers"] = new JsonArray(new JsonArray(previous, 0, 0)),
        };
        return root.ToJsonString();
    }

    [TestCase(KerasFixtures.MissionKeras3, true)]
    [TestCase(KerasFixtures.MissionKeras3, false)]
    [TestCase(KerasFixtures.MaskedLstmKeras3, true)]
    public void AKeras3FunctionalChain_IsTheSequentialItIs(string sequential, bool nested)
    {
        Assert.That(ModelSpec.FromKerasJson(Keras3Functional(sequential, nested)).ToJson(), Is.EqualTo(ModelSpec.FromKerasJson(sequential).ToJson()));
    }

    [TestCase(KerasFixtures.MissionKeras2)]
    [TestCase(KerasFixtures.MaskedLstmKeras2)]
    public void ATfKeras2FunctionalChain_IsTheSequentialItIs(string sequential)
    {
        Assert.That(ModelSpec.FromKerasJson(TfKeras2Functional(sequential)).ToJson(), Is.EqualTo(ModelSpec.FromKerasJson(sequential).ToJson()));
    }

    [Test]
    public void TheLayersAreReadInTheOrderDataFlows_NotTheOrderListed()
    {
        string json = Keras3Functional(KerasFixtures.MissionKeras3, edit: layers =>
        {
            JsonNode first = layers[0]!;
            layers.RemoveAt(0);
            layers.Add(first);                                   // the InputLayer listed last
            JsonNode dense = layers[3]!;
            layers.RemoveAt(3);
            layers.Insert(0, dense);
        });
        Assert.That(ModelSpec.FromKerasJson(json).ToJson(), Is.EqualTo(ModelSpec.FromKerasJson(KerasFixtures.MissionKeras3).ToJson()));
    }

    private static JsonObject Node(string from) => new()
    {
        ["args"] = new JsonArray(new JsonObject { ["class_name"] = "__keras_tensor__", ["config"] = new JsonObject { ["shape"] = new JsonArray(), ["dtype"] = "float32", ["keras_history"] = new JsonArray(from, 0, 0) } }),
        ["kwargs"] = new JsonObject(),
    };

    public static IEnumerable<TestCaseData> NotChains()
    {
        TestCaseData Case(string name, Action<JsonArray> edit, string message) =>
            new TestCaseData(edit, message).SetName($"NotAChain_{name}_IsRefused");
        // Layers: 0 input_layer, 1 bidirectional, 2 layer_normalization, 3 bidirectional_1, 4 layer_normalization_1, 5 dense.
        yield return Case("Branch", l => l[2]!["inbound_nodes"] = new JsonArray(Node("input_layer")),
            "found the output of 'input_layer' taken by 2 layers (bidirectional, layer_normalization): NumLstm reads no branches");
        yield return Case("SharedLayer", l => l[5]!["inbound_nodes"]!.AsArray().Add(Node("layer_normalization_1")),
            "expected the layer called once (a chain), found 2 calls (a shared layer)");
        yield return Case("TwoArguments", l => l[5]!["inbound_nodes"]![0]!["args"]!.AsArray().Add(Node("bidirectional")["args"]![0]!.DeepClone()),
            "expected the layer called on one tensor, found 2 arguments");
        yield return Case("UnknownCallArgument", l => l[5]!["inbound_nodes"]![0]!["kwargs"] = new JsonObject { ["initial_state"] = null },
            "'initial_state' is a call argument NumLstm does not read");
        yield return Case("UnknownParent", l => l[5]!["inbound_nodes"] = new JsonArray(Node("nowhere")),
            "expected the name of a layer of this model, found 'nowhere'");
        yield return Case("SecondNodeOfALayer", l => l[5]!["inbound_nodes"]![0]!["args"]![0]!["config"]!["keras_history"] = new JsonArray("layer_normalization_1", 1, 0),
            "expected the first output of the first call of 'layer_normalization_1'");
        yield return Case("DuplicateName", l => l[4]!["name"] = "bidirectional_1",
            "'bidirectional_1' is already the name of");
    }

    [TestCaseSource(nameof(NotChains))]
    public void NotAChain(Action<JsonArray> edit, string message)
    {
        string json = Keras3Functional(KerasFixtures.MissionKeras3, edit: edit);
        Assert.That(() => ModelSpec.FromKerasJson(json), Throws.InstanceOf<FormatException>().With.Message.Contain(message));
    }

    [Test]
    public void AnUnnamedLayer_GetsANameNoOtherLayerHas()
    {
        // Found by a long fuzz run: an LSTM named null beside one named "lstm_1" was refused by the spec's own check
        // (its default name, lstm_1, taken); Keras names an unnamed layer uniquely.
        JsonObject root = JsonNode.Parse(KerasFixtures.MaskedLstmKeras2)!.AsObject();
        root["config"]!["layers"]![2]!["config"]!["name"] = null;
        root["config"]!["layers"]![3]!["config"]!["name"] = "lstm_1";
        ModelSpec spec = ModelSpec.FromKerasJson(root.ToJsonString());
        Assert.That(spec.Layers.Select(l => l.Name), Is.Unique);
        Assert.That(spec.Layers[1].Name, Is.EqualTo("lstm_2"));
        Assert.That(spec.Layers[2].Name, Is.EqualTo("lstm_1"));
    }

    [Test]
    public void OutputsOtherThanTheChainsEnd_AreRefused()
    {
        JsonObject root = JsonNode.Parse(Keras3Functional(KerasFixtures.MissionKeras3))!.AsObject();
        root["config"]!["output_layers"] = new JsonArray(new JsonArray("layer_normalization_1", 0, 0));
        Assert.That(() => ModelSpec.FromKerasJson(root.ToJsonString()), Throws.InstanceOf<FormatException>().With.Message.Contain("expected the output layer 'layer_normalization_1' to end the chain"));
        root["config"]!["output_layers"] = new JsonArray(new JsonArray("dense", 0, 0), new JsonArray("bidirectional", 0, 0));
        Assert.That(() => ModelSpec.FromKerasJson(root.ToJsonString()), Throws.InstanceOf<FormatException>().With.Message.Contain("expected one layer (a model of one input and one output), found 2"));
        root["config"]!["output_layers"] = new JsonArray(new JsonArray("dense", 0, 0));
        root["config"]!["input_layers"] = new JsonArray(new JsonArray("bidirectional", 0, 0));
        Assert.That(() => ModelSpec.FromKerasJson(root.ToJsonString()), Throws.InstanceOf<FormatException>().With.Message.Contain("expected the name of an InputLayer of this model, found 'bidirectional'"));
    }

    [Test]
    public void AFunctionalKerasArchive_LoadsConfigAndWeights_WithTheInputLayersEmptyGroup()
    {
        // Keras 3 addresses a Functional model's layers as it does a Sequential's, plus layers/input_layer (no variables).
        Sequential<float> trained = KerasFileTests<float>.SeedSmall();
        KerasFile.LoadWeights(trained, KerasFileTests<float>.Fixture("seed_small.weights.h5"));
        Hdf5Writer.Group root = Keras3Weights.Tree(trained);
        root.At("layers").At("input_layer").At("vars");
        var weights = new MemoryStream();
        Hdf5Writer.Write(weights, root);
        string config = Keras3Functional(File.ReadAllText(KerasFileTests<float>.Fixture("seed_small.config.json")));
        string path = Path.Combine(Path.GetTempPath(), $"numlstm-functional-{Guid.NewGuid():N}.keras");
        try
        {
            using (var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Create))
            {
                using (var writer = new StreamWriter(zip.CreateEntry("config.json").Open())) writer.Write(config);
                using (Stream s = zip.CreateEntry("model.weights.h5").Open()) s.Write(weights.ToArray());
            }
            Sequential<float> loaded = KerasFile.Load<float>(path);
            for (int k = 0; k < trained.NamedParameters.Count; k++)
                Assert.That(loaded.NamedParameters[k].Parameter.Value, Is.EqualTo(trained.NamedParameters[k].Parameter.Value), trained.NamedParameters[k].Name);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
