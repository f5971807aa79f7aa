using System.Text.Json.Nodes;
using NumLstm.Layers;
using NumLstm.Models;
using static NumLstm.Tests.Models.KerasConfigEdits;

namespace NumLstm.Tests.Models;

/// <summary>
/// Keras' weight regularizers in model configs, read and written: Keras 3 serializes one as
/// <c>{"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": null}</c>
/// (serialization_lib.serialize_with_public_class; get_config writes float(l1) / float(l2)), tf.keras 2 as
/// <c>{"class_name": "L2", "config": {"l2": 0.01}}</c>; regularizers.get takes "l1", "l2", "l1l2" and the class names
/// (L1 and L2 default to 0.01, L1L2 to 0 and 0); Keras 3 refuses a negative factor.
/// </summary>
public class KerasRegularizerConfigTests
{
    private static JsonNode Keras3(string className, string config) => KerasConfigEdits.Keras3("regularizers", className, config);

    // The mission model with a regularizer in every slot Keras has for it (layers: Input, BiLSTM, LN, BiLSTM, LN, Dense).
    private static string RegularizedKeras3() => Edit(KerasFixtures.MissionKeras3, root =>
    {
        Both(root, 1, "kernel_regularizer", Keras3("L2", """{"l2": 0.01}"""));
        Both(root, 1, "recurrent_regularizer", Keras3("L1L2", """{"l1": 0.001, "l2": 0.0001}"""));
        Both(root, 3, "bias_regularizer", Keras3("L1", """{"l1": 1e-05}"""));
        Layer(root, 2)["gamma_regularizer"] = Keras3("L2", """{"l2": 0.5}""");
        Layer(root, 4)["beta_regularizer"] = Keras3("L1", """{"l1": 0.25}""");
        Layer(root, 5)["kernel_regularizer"] = Keras3("L1L2", """{"l1": 0.0, "l2": 0.02}""");
        Layer(root, 5)["bias_regularizer"] = Keras3("L2", """{"l2": 3.0}""");
    });

    [Test]
    public void Keras3Regularizers_AreRead_IntoTheSpecsSlots()
    {
        ModelSpec spec = KerasConfig.ToSpec(RegularizedKeras3());
        LayerSpec first = spec.Layers[0], norm = spec.Layers[1], second = spec.Layers[2], lastNorm = spec.Layers[3], dense = spec.Layers[4];
        Assert.That(first.KernelRegularizer, Is.EqualTo(WeightRegularizer.L2(0.01)));
        Assert.That(first.RecurrentRegularizer, Is.EqualTo(WeightRegularizer.L1L2(0.001, 0.0001)));
        Assert.That(first.BiasRegularizer, Is.Null);
        Assert.That(second.BiasRegularizer, Is.EqualTo(WeightRegularizer.L1(1e-05)));
        Assert.That(second.KernelRegularizer, Is.Null);
        Assert.That(norm.GammaRegularizer, Is.EqualTo(WeightRegularizer.L2(0.5)));
        Assert.That(norm.BetaRegularizer, Is.Null);
        Assert.That(lastNorm.BetaRegularizer, Is.EqualTo(WeightRegularizer.L1(0.25)));
        Assert.That(dense.KernelRegularizer, Is.EqualTo(WeightRegularizer.L1L2(0, 0.02)));
        Assert.That(dense.BiasRegularizer, Is.EqualTo(WeightRegularizer.L2(3.0)));

        Sequential<float> model = spec.Build<float>();
        Assert.That(((Bidirectional<float>)model.Layers[0]).Backwards.WeightIh.Regularizer, Is.EqualTo(WeightRegularizer.L2(0.01)),
            "the backward direction too (Keras builds it from the forward layer's config)");
    }

    [Test]
    public void TfKeras2Regularizers_AndDefaults_AndStrings_AreRead()
    {
        string json = Edit(KerasFixtures.MissionKeras2, root =>
        {
            Both(root, 1, "kernel_regularizer", JsonNode.Parse("""{"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.009999999776482582}}"""));
            Both(root, 1, "recurrent_regularizer", JsonNode.Parse("""{"class_name": "L2", "config": {}}"""));
            Both(root, 1, "bias_regularizer", JsonNode.Parse("""{"class_name": "L1L2", "config": {"l1": null}}"""));
            Layer(root, 2)["gamma_regularizer"] = "l2";
            Layer(root, 2)["beta_regularizer"] = "l1l2";
            Layer(root, 5)["kernel_regularizer"] = "L1";
        });
        ModelSpec spec = KerasConfig.ToSpec(json);
        Assert.That(spec.Layers[0].KernelRegularizer, Is.EqualTo(WeightRegularizer.L1L2(0, 0.009999999776482582)), "tf.keras 2 wrote float32 factors widened");
        Assert.That(spec.Layers[0].RecurrentRegularizer, Is.EqualTo(WeightRegularizer.L2(0.01)), "a missing l2 is L2's default");
        Assert.That(spec.Layers[0].BiasRegularizer, Is.EqualTo(WeightRegularizer.L1L2(0, 0)), "None is L1L2's default 0");
        Assert.That(spec.Layers[1].GammaRegularizer, Is.EqualTo(WeightRegularizer.L2(0.01)));
        Assert.That(spec.Layers[1].BetaRegularizer, Is.EqualTo(WeightRegularizer.L1L2(0, 0)), "Keras 3's 'l1l2' is L1L2()");
        Assert.That(spec.Layers[4].KernelRegularizer, Is.EqualTo(WeightRegularizer.L1(0.01)));
    }

    [Test]
    public void ABidirectionalsBackwardLayer_WithOtherRegularizers_IsRefused()
    {
        string json = Edit(KerasFixtures.MissionKeras3, root =>
        {
            Both(root, 1, "kernel_regularizer", Keras3("L2", """{"l2": 0.01}"""));
            Layer(root, 1)["backward_layer"]!["config"]!["kernel_regularizer"] = Keras3("L2", """{"l2": 0.02}""");
        });
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(json))!;
        Assert.That(e.Message, Does.Contain("config.layers[1].config.backward_layer.config.kernel_regularizer"));
        Assert.That(e.Message, Does.Contain("NumLstm's Bidirectional runs the mirror of the forward LSTM"));
    }

    [Test]
    public void Writer_WritesKeras3sObjects_AndReadsThemBack()
    {
        ModelSpec spec = KerasConfig.ToSpec(RegularizedKeras3());
        string written = spec.ToKerasJson();
        JsonNode root = JsonNode.Parse(written)!;
        Assert.That(Layer(root, 1)["layer"]!["config"]!["kernel_regularizer"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.regularizers","class_name":"L2","config":{"l2":0.01},"registered_name":null}"""));
        Assert.That(Layer(root, 1)["backward_layer"]!["config"]!["recurrent_regularizer"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.regularizers","class_name":"L1L2","config":{"l1":0.001,"l2":0.0001},"registered_name":null}"""));
        Assert.That(Layer(root, 3)["layer"]!["config"]!["bias_regularizer"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.regularizers","class_name":"L1","config":{"l1":1e-05},"registered_name":null}"""), "Python's float repr");
        Assert.That(Layer(root, 5)["bias_regularizer"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.regularizers","class_name":"L2","config":{"l2":3.0},"registered_name":null}"""));
        Assert.That(Layer(root, 2)["beta_regularizer"], Is.Null);
        Assert.That(KerasConfig.ToSpec(written).Layers.Select(l => (l.KernelRegularizer, l.RecurrentRegularizer, l.BiasRegularizer, l.GammaRegularizer, l.BetaRegularizer)),
            Is.EqualTo(spec.Layers.Select(l => (l.KernelRegularizer, l.RecurrentRegularizer, l.BiasRegularizer, l.GammaRegularizer, l.BetaRegularizer))));
    }
}
