using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Models;

public class ModelBuilderTests
{
    [Test]
    public void Builder_ReadsLikeKeras_AndEqualsTheSeedPlacement()
    {
        Sequential<float> built = ModelBuilder.Input(32)
            .Bidirectional(100, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4).LayerNorm()
            .Bidirectional(200, dropout: 0.4, recurrentDropout: 0.4).LayerNorm()
            .Dense(2)
            .Build<float>(seed: 42);
        Sequential<float> placed = new StackSpec(32, new[] { 100, 200 }, Bidirectional: true, Dropout: 0.4, RecurrentDropout: 0.4, OutputUnits: 2, Seed: 42)
            .WithPlacement(LayerNormPlacement.AfterEachRecurrent).Build<float>();
        Assert.That(ModelSpecOf.Describe(built).ToJson(), Is.EqualTo(ModelSpecOf.Describe(placed).ToJson()));
        Assert.That(built.Parameters.SelectMany(p => p.Value), Is.EqualTo(placed.Parameters.SelectMany(p => p.Value)), "same seed, same weights");
        Assert.That(built.Layers.Select(l => l.Name), Is.EqualTo(new[] { "bidirectional_1", "layer_norm_1", "bidirectional_2", "layer_norm_2", "dense_1" }));
        Assert.That(built.OutputShape, Is.EqualTo(LayerShape.Vector(2)));
    }

    [Test]
    public void Builder_RejectsARecurrentLayerAfterAVectorOutput()
    {
        var error = Assert.Throws<ArgumentException>(() => ModelBuilder.Input(4).Lstm(3).Lstm(3).Build<float>());
        Assert.That(error!.Message, Does.Contain("lstm_2").And.Contain("returnSequences"));
    }

    /// <summary>
    /// Keras 3 refuses Bidirectional(LSTM(go_backwards=True)): it builds the backward copy with go_backwards=True, and
    /// _verify_layer_config raises "Forward layer and backward layer should have different `go_backwards` value"
    /// (keras/src/layers/rnn/bidirectional.py). A bidirectional spec with go_backwards used to be built as if it were false.
    /// </summary>
    [Test]
    public void BidirectionalSpec_WithGoBackwards_IsRefused_AsKerasRefusesIt()
    {
        LayerSpec lstm = LayerSpec.Lstm(4, returnSequences: true, goBackwards: true);
        var direct = Assert.Throws<ArgumentException>(() => LayerSpec.Bidirectional(lstm))!;
        Assert.That(direct.Message, Does.Contain("go_backwards"));

        var spec = new ModelSpec
        {
            InputFeatures = 3,
            Layers = new[] { LayerSpec.Bidirectional(LayerSpec.Lstm(4, returnSequences: true)) with { GoBackwards = true }, LayerSpec.Dense(2) },
        };
        var built = Assert.Throws<ArgumentException>(() => spec.Build<float>())!;
        Assert.That(built.Message, Does.Contain("go_backwards").And.Contain("bidirectional_1"));
        string json = spec.ToJson();
        Assert.That(json, Does.Contain("\"go_backwards\": true"));
        var read = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json, "m.json"))!;
        Assert.That(read.Message, Does.Contain("layers[0].go_backwards").And.Contain("m.json"));
        Assert.That(ModelSpec.FromJson(json.Replace("\"go_backwards\": true", "\"go_backwards\": false")).Build<float>().Layers[0], Is.InstanceOf<Bidirectional<float>>());
    }

    [Test]
    public void Builder_OffersEveryLstmOptionTheSpecHas_ZeroOutputForMaskIncluded()
    {
        Sequential<float> model = ModelBuilder.Input(3).Lstm(4, returnSequences: true, goBackwards: true, zeroOutputForMask: true).Dense(2).Build<float>();
        var lstm = (Lstm<float>)model.Layers[0];
        Assert.That(lstm.ZeroOutputForMask && lstm.GoBackwards && lstm.ReturnSequences, Is.True);
        Assert.That(ModelSpecOf.Describe(model).Layers[0].ZeroOutputForMask, Is.True);
        Assert.That(((Lstm<float>)ModelBuilder.Input(3).Lstm(4).Build<float>().Layers[0]).ZeroOutputForMask, Is.False, "Keras' default");
    }

    [Test]
    public void Placements_PutLayerNormsWhereTheirNamesSay()
    {
        var stack = new StackSpec(3, new[] { 4, 5, 6 }, Bidirectional: false, OutputUnits: 2);
        string Layout(LayerNormPlacement p) => string.Join(" ", stack.WithPlacement(p).Layers.Select(l => l.Type == "layer_norm" ? "LN" : l.Type == "dense" ? "D" : "R"));
        Assert.That(Layout(LayerNormPlacement.None), Is.EqualTo("R R R D"));
        Assert.That(Layout(LayerNormPlacement.AfterEachRecurrent), Is.EqualTo("R LN R LN R LN D"));
        Assert.That(Layout(LayerNormPlacement.BeforeDenseOnly), Is.EqualTo("R R R LN D"));
        Assert.That(Layout(LayerNormPlacement.BeforeEachRecurrent), Is.EqualTo("LN R LN R LN R D"));
        Assert.That(Layout(LayerNormPlacement.InCell(CellNormalization.TfAddons)), Is.EqualTo("R R R D"));
        Assert.That(stack.WithPlacement(LayerNormPlacement.InCell(CellNormalization.TfAddons)).Layers.Take(3).All(l => l.CellNormalization == CellNormalization.TfAddons), Is.True);
        Assert.That(Layout(LayerNormPlacement.InCellAndAfterEach(CellNormalization.BaEtAl2016)), Is.EqualTo("R LN R LN R LN D"));
        foreach (LayerNormPlacement p in LayerNormPlacement.All) Assert.That(LayerNormPlacement.Parse(p.Name), Is.EqualTo(p), p.Name);
        Assert.Throws<ArgumentException>(() => LayerNormPlacement.Parse("in-cell:nope"));
    }
}
