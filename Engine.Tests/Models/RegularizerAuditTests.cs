using System.Text.Json.Nodes;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Models;

/// <summary>
/// Regularizer and constraint inputs Keras writes, or a spec states, that were read wrong or refused:
/// Keras 3's shared_object_id (saving_lib saves inside an ObjectSharingScope, and
/// serialization_lib.record_object_after_serialization marks both configs of one object serialized twice);
/// a constraint's <c>"axis": null</c> (Keras' axis=None: <c>ops.sum(..., axis=None)</c> takes the norm over every axis,
/// not the default axis 0); and a spec's regularizer or constraint with a value left out (read as 0, not the kind's default).
/// </summary>
public class RegularizerAuditTests
{
    private static string Edit(string fixture, Action<JsonNode> edit)
    {
        JsonNode root = JsonNode.Parse(fixture)!;
        edit(root);
        return root.ToJsonString();
    }

    private static JsonNode Layer(JsonNode root, int k) => root["config"]!["layers"]![k]!["config"]!;

    private static ModelSpec DenseSpec(string field, string value)
        => ModelSpec.FromJson($$"""{"input_features": 3, "layers": [{"type": "dense", "units": 2, "{{field}}": {{value}}}]}""");

    // reg = keras.regularizers.L2(0.01); Dense(..., kernel_regularizer=reg, bias_regularizer=reg); model.save("m.keras"):
    // config.json holds both configs with the same shared_object_id (Python's id(reg)).
    [Test]
    public void Keras3_ASharedRegularizerOrConstraint_WithItsSharedObjectId_IsRead()
    {
        string json = Edit(KerasFixtures.MissionKeras3, root =>
        {
            const string l2 = """{"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": null, "shared_object_id": 140245071931856}""";
            const string maxNorm = """{"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}, "registered_name": null, "shared_object_id": 140245071932000}""";
            Layer(root, 5)["kernel_regularizer"] = JsonNode.Parse(l2);
            Layer(root, 5)["bias_regularizer"] = JsonNode.Parse(l2);
            Layer(root, 5)["kernel_constraint"] = JsonNode.Parse(maxNorm);
            Layer(root, 5)["bias_constraint"] = JsonNode.Parse(maxNorm);
        });
        LayerSpec dense = KerasConfig.ToSpec(json).Layers[4];
        Assert.That(dense.KernelRegularizer, Is.EqualTo(WeightRegularizer.L2(0.01)));
        Assert.That(dense.BiasRegularizer, Is.EqualTo(WeightRegularizer.L2(0.01)));
        Assert.That(dense.KernelConstraint, Is.EqualTo(WeightConstraint.MaxNorm(3)));
        Assert.That(dense.BiasConstraint, Is.EqualTo(WeightConstraint.MaxNorm(3)));

        string bad = Edit(KerasFixtures.MissionKeras3, root => Layer(root, 5)["kernel_regularizer"] = JsonNode.Parse(
            """{"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": null, "shared_object_id": "x"}"""));
        Assert.That(Assert.Throws<FormatException>(() => KerasConfig.ToSpec(bad))!.Message, Does.Contain("kernel_regularizer.shared_object_id"));
    }

    // keras.constraints.MaxNorm(2, axis=None): get_config writes "axis": null, from_config passes axis=None back, and
    // __call__'s ops.sum(ops.square(w), axis=None, keepdims=True) is the norm of the whole weight.
    [Test]
    public void KerasConstraint_AxisNull_IsEveryAxis_NotTheDefaultAxis0()
    {
        string json = Edit(KerasFixtures.MissionKeras3, root =>
        {
            Layer(root, 5)["kernel_constraint"] = JsonNode.Parse("""{"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 2, "axis": null}, "registered_name": null}""");
            Layer(root, 5)["bias_constraint"] = JsonNode.Parse("""{"module": "keras.constraints", "class_name": "UnitNorm", "config": {"axis": null}, "registered_name": null}""");
        });
        LayerSpec dense = KerasConfig.ToSpec(json).Layers[4];
        Assert.That(dense.KernelConstraint, Is.EqualTo(WeightConstraint.MaxNorm(2, axis: null)), "the whole kernel's norm");
        Assert.That(dense.BiasConstraint, Is.EqualTo(WeightConstraint.UnitNorm(0)), "a bias' only axis");

        string absent = Edit(KerasFixtures.MissionKeras3, root => Layer(root, 5)["kernel_constraint"] = JsonNode.Parse(
            """{"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 2}, "registered_name": null}"""));
        Assert.That(KerasConfig.ToSpec(absent).Layers[4].KernelConstraint, Is.EqualTo(WeightConstraint.MaxNorm(2, axis: 0)), "absent: the default axis=0");
    }

    // The spec's own JSON: a value left out took default(double) = 0, so {"kind": "max_norm"} projected every weight to 0
    // after each step (Keras' MaxNorm() has max_value=2), {"kind": "l2"} penalized nothing (Keras' L2() is 0.01), and
    // {"kind": "non_neg"} / {"kind": "unit_norm"} were refused for a max_value of 0 they do not have.
    [Test]
    public void SpecJson_ALeftOutValue_TakesTheKindsKerasDefault()
    {
        Assert.That(DenseSpec("kernel_constraint", """{"kind": "max_norm"}""").Layers[0].KernelConstraint, Is.EqualTo(WeightConstraint.MaxNorm()));
        Assert.That(DenseSpec("kernel_constraint", """{"kind": "max_norm", "axis": 1}""").Layers[0].KernelConstraint, Is.EqualTo(WeightConstraint.MaxNorm(2, 1)));
        Assert.That(DenseSpec("kernel_constraint", """{"kind": "max_norm", "axis": null}""").Layers[0].KernelConstraint, Is.EqualTo(WeightConstraint.MaxNorm(2, null)));
        Assert.That(DenseSpec("kernel_constraint", """{"kind": "min_max_norm", "min_value": 0.5}""").Layers[0].KernelConstraint, Is.EqualTo(WeightConstraint.MinMaxNorm(0.5, 1)));
        Assert.That(DenseSpec("kernel_constraint", """{"kind": "non_neg"}""").Layers[0].KernelConstraint, Is.EqualTo(WeightConstraint.NonNeg()));
        Assert.That(DenseSpec("kernel_constraint", """{"kind": "unit_norm"}""").Layers[0].KernelConstraint, Is.EqualTo(WeightConstraint.UnitNorm()));
        Assert.That(DenseSpec("kernel_regularizer", """{"kind": "l2"}""").Layers[0].KernelRegularizer, Is.EqualTo(WeightRegularizer.L2(0.01)));
        Assert.That(DenseSpec("kernel_regularizer", """{"kind": "l1"}""").Layers[0].KernelRegularizer, Is.EqualTo(WeightRegularizer.L1(0.01)));
        Assert.That(DenseSpec("kernel_regularizer", """{"kind": "l1_l2", "l2": 0.5}""").Layers[0].KernelRegularizer, Is.EqualTo(WeightRegularizer.L1L2(0, 0.5)));

        // Without a kind there is nothing to default from: {} was a MaxNorm(max_value=0) that zeroed the kernel.
        Assert.Throws<FormatException>(() => DenseSpec("kernel_constraint", "{}"));
        Assert.Throws<FormatException>(() => DenseSpec("kernel_regularizer", """{"l2": 0.1}"""));

        // What ToJson writes still reads back the same.
        var spec = new ModelSpec
        {
            InputFeatures = 3,
            Layers = [LayerSpec.Dense(2) with { KernelRegularizer = WeightRegularizer.L1L2(0.1, 0.2), BiasRegularizer = WeightRegularizer.L1(0.3),
                KernelConstraint = WeightConstraint.NonNeg(), BiasConstraint = WeightConstraint.MinMaxNorm(0.5, 3, 0.5, null) }],
        };
        Assert.That(ModelSpec.FromJson(spec.ToJson()).Layers, Is.EqualTo(spec.Layers));
    }

    // initializer = keras.initializers.GlorotUniform(seed=1); Dense(..., kernel_initializer=initializer) twice: both configs
    // carry the object's shared_object_id, as a shared regularizer's do (the same ObjectSharingScope).
    [Test]
    public void Keras3_ASharedSeededInitializer_WithItsSharedObjectId_IsRead()
    {
        const string glorot = """{"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": 1}, "registered_name": null, "shared_object_id": 140245071931856}""";
        string json = Edit(KerasFixtures.MissionKeras3, root => Layer(root, 5)["kernel_initializer"] = JsonNode.Parse(glorot));
        Assert.That(KerasConfig.ToSpec(json).Layers[^1].Type, Is.EqualTo("dense"));
        string bad = Edit(KerasFixtures.MissionKeras3, root => Layer(root, 5)["kernel_initializer"] = JsonNode.Parse(glorot.Replace("140245071931856", "\"x\"")));
        Assert.That(Assert.Throws<FormatException>(() => KerasConfig.ToSpec(bad))!.Message, Does.Contain("kernel_initializer.shared_object_id: must be an integer"));
    }
}
