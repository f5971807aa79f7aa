using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Reliability;

/// <summary>
/// Bad inputs at the public entry points: each case must throw an ArgumentException (or subclass) whose ParamName is the
/// argument at fault and whose message holds the expected and the actual value. docs/reliability.md lists every case.
/// </summary>
public sealed class BadInputTests
{
    private static Sequential<float> Model() => new(3, new Layer<float>[] { new Lstm<float>(4, name: "lstm"), new Dense<float>(2, name: "dense") }, seed: 1);

    // Dense(2^20) after an LSTM(1) over 1 feature: 2,048 steps of input make 2^31 output values, one more than an array holds.
    private static Sequential<float> WideOutputModel() => ModelBuilder.Input(1).Lstm(1, returnSequences: true).Dense(1 << 20).Build<float>();

    private static float[] Values(int length) => Enumerable.Range(0, length).Select(k => MathF.Sin(k)).ToArray();

    private static void Forward(Sequential<float> model, float[] x, int batch, int time, bool[]? mask = null)
        => model.Forward(new SequenceBatch<float>(x, batch, time, mask), model.CreateCache(), ForwardContext.Inference);

    private static SequenceDataset Data(int features = 3, float[]? x = null, int count = 4)
        => SequenceDataset.ForClassification(x ?? Values(count * 5 * features), count, 5, features, Enumerable.Range(0, count).Select(k => k % 2).ToArray(), 2);

    private static void Fit(SequenceDataset data, TrainingOptions? options = null) => new Trainer(Model()).Fit(data, options ?? new TrainingOptions { Epochs = 1 });

    /// <summary>(case name, action, argument name, fragments the message must contain: expected and actual).</summary>
    public static IEnumerable<TestCaseData> Cases()
    {
        TestCaseData Case(string name, Action action, string argument, params string[] fragments)
            => new TestCaseData(action, argument, fragments).SetArgDisplayNames(name);

        yield return Case("input-wrong-feature-count", () => Forward(Model(), Values(2 * 4 * 2), 2, 4), "input", "F=3", "24 values", "got 16");
        yield return Case("input-wrong-shape", () => Forward(Model(), Values(23), 2, 4), "input", "[B=2, T=4, F=3]", "got 23");
        yield return Case("empty-batch", () => Forward(Model(), Array.Empty<float>(), 0, 4), "batch", "positive", "got 0");
        yield return Case("zero-length-sequence", () => Forward(Model(), Array.Empty<float>(), 2, 0), "time", "positive", "got 0");
        yield return Case("mask-wrong-size", () => Forward(Model(), Values(24), 2, 4, new bool[7]), "mask", "[B=2, T=4]", "8 values", "got 7");
        yield return Case("inference-nan-rejected", () =>
        {
            var model = Model();
            model.NonFiniteInputs = NonFiniteInputs.Reject;
            float[] x = Values(24);
            x[(1 * 4 + 2) * 3 + 0] = float.NaN;
            Forward(model, x, 2, 4);
        }, "input", "expected finite", "NaN", "sequence 1, step 2, feature 0");
        yield return Case("training-infinity-rejected-by-default", () =>
        {
            float[] x = Values(4 * 5 * 3);
            x[(2 * 5 + 4) * 3 + 1] = float.PositiveInfinity;
            Fit(Data(x: x));
        }, "train", "expected finite", "Infinity", "sequence 2, step 4, feature 1");
        yield return Case("training-nan-target-rejected", () =>
            new Trainer(new Sequential<float>(3, new Layer<float>[] { new Lstm<float>(4), new Dense<float>(1) }))
                .Fit(SequenceDataset.ForRegression(Values(60), 4, 5, 3, [0f, 1f, float.NaN, 2f], 1), new TrainingOptions { Epochs = 1 }),
            "train", "expected finite targets", "NaN", "sequence 2");
        yield return Case("validation-nan-rejected", () =>
        {
            float[] x = Values(4 * 5 * 3);
            x[0] = float.NaN;
            Fit(Data(), new TrainingOptions { Epochs = 1, Validation = Data(x: x) });
        }, "validation", "expected finite", "NaN", "sequence 0, step 0, feature 0");
        yield return Case("dataset-feature-count", () => Fit(Data(features: 2)), "train", "expects 3 features", "has 2");
        yield return Case("dataset-empty", () => Fit(Data(count: 0)), "train", "empty");
        yield return Case("dataset-zero-length-sequence", () => SequenceDataset.ForClassification(Values(30), 2, 5, 3, [0, 1], 2, lengths: [5, 0]), "lengths", "lengths[1] = 0", "expected 1..5");
        yield return Case("dataset-label-out-of-range", () => SequenceDataset.ForClassification(Values(30), 2, 5, 3, [0, 2], 2), "labels", "labels[1] = 2", "0..1");
        yield return Case("dataset-x-wrong-length", () => SequenceDataset.ForClassification(Values(29), 2, 5, 3, [0, 1], 2), "x", "= 30 values", "got 29");
        yield return Case("model-classes-vs-outputs", () => new Trainer(Model()).Fit(SequenceDataset.ForClassification(Values(60), 4, 5, 3, [0, 1, 2, 2], 3), new TrainingOptions { Epochs = 1 }), "train", "3 classes", "outputs 2");
        yield return Case("model-input-features-0", () => _ = new Sequential<float>(0, new Layer<float>[] { new Dense<float>(1) }), "inputFeatures", "positive", "Actual value was 0");
        yield return Case("lstm-negative-units", () => _ = new Lstm<float>(-1), "units", "positive", "Actual value was -1");
        yield return Case("csv-empty-cells-undefined", () => NumLstm.IO.CsvFile.ReadColumns(new MemoryStream("a\n1\n"u8.ToArray()), hasHeader: true, new NumLstm.IO.CsvReadOptions { EmptyCells = (NumLstm.IO.CsvEmptyCells)7 }), "options", "EmptyCells", "Error", "NaN", "Actual value was 7");
        yield return Case("lstm-units-past-the-gate-row", () => _ = new Lstm<float>(600_000_000), "units", "at most 536870911", "4·units", "Actual value was 600000000");
        yield return Case("trainer-optimizer-of-another-model", () => _ = new Trainer(Model(), new Adam<float>(Model().Parameters.ToList())), "optimizer",
            "parameter 0", "not one of this model's parameters");
        yield return Case("options-optimizer-factory-of-another-model", () => Fit(Data(), new TrainingOptions { Epochs = 1, OptimizerFactory = (_, rate) => new Sgd<float>(Model().Parameters.ToList(), rate) }),
            "OptimizerFactory", "parameter 0", "not one of this model's parameters");
        yield return Case("lstm-dropout-1", () => _ = new Lstm<float>(4, dropout: 1.0), "dropout", "[0, 1)", "Actual value was 1");
        yield return Case("lstm-recurrent-dropout-1.5", () => _ = new Lstm<float>(4, recurrentDropout: 1.5), "recurrentDropout", "[0, 1)", "Actual value was 1.5");
        yield return Case("lstm-dropout-nan", () => _ = new Lstm<float>(4, dropout: double.NaN), "dropout", "[0, 1)", "NaN");
        yield return Case("cell-layernorm-epsilon-0", () => _ = new Lstm<float>(4, cellNormalization: CellNormalization.KerasGates with { Epsilon = 0 }), "Epsilon", "> 0", "Actual value was 0");
        yield return Case("layernorm-epsilon-0", () => _ = new LayerNorm<float>(epsilon: 0), "epsilon", "> 0", "Actual value was 0");
        yield return Case("layernorm-epsilon-negative", () => _ = new LayerNorm<float>(epsilon: -1e-3), "epsilon", "> 0", "Actual value was -0.001");
        yield return Case("dense-units-0", () => _ = new Dense<float>(0), "units", "positive", "Actual value was 0");
        yield return Case("options-batch-size-0", () => Fit(Data(), new TrainingOptions { BatchSize = 0 }), "BatchSize", "positive", "Actual value was 0");
        yield return Case("options-learning-rate-0", () => Fit(Data(), new TrainingOptions { LearningRate = 0 }), "LearningRate", "positive", "Actual value was 0");
        yield return Case("options-learning-rate-nan", () => Fit(Data(), new TrainingOptions { LearningRate = double.NaN }), "LearningRate", "positive", "NaN");
        yield return Case("options-epochs-negative", () => Fit(Data(), new TrainingOptions { Epochs = -1 }), "Epochs", "≥ 0", "Actual value was -1");
        yield return Case("options-validation-split-1", () => Fit(Data(), new TrainingOptions { ValidationSplit = 1 }), "ValidationSplit", "[0, 1)", "Actual value was 1");
        yield return Case("options-clip-value-0", () => Fit(Data(), new TrainingOptions { Clip = ClipMode.GlobalNorm, ClipValue = 0 }), "ClipValue", "positive", "Actual value was 0");
        yield return Case("options-unknown-loss", () => Fit(Data(), new TrainingOptions { Loss = "hinge" }), "name", "expected one of", "'hinge'");
        yield return Case("evaluate-batch-size-0", () => new Trainer(Model()).Evaluate(Data(), batchSize: 0), "batchSize", "positive", "Actual value was 0");
        yield return Case("predict-batch-size-negative", () => new Trainer(Model()).Predict(Data(), batchSize: -3), "batchSize", "positive", "Actual value was -3");
        yield return Case("adam-epsilon-0", () => _ = new Adam<float>(Model().Parameters.ToList(), epsilon: 0), "epsilon", "0");
        yield return Case("adam-beta1-1", () => _ = new Adam<float>(Model().Parameters.ToList(), beta1: 1), "beta1", "1");
        // Sizes whose int products wrap: B·T·F = 3·2^32 wrapped to 0 matched an empty input; B·T·O = 2^31 wrapped negative.
        yield return Case("input-size-overflows-int", () => Forward(Model(), Array.Empty<float>(), 65536, 65536), "input", "[B=65536, T=65536, F=3]", "12884901888 values", "got 0");
        yield return Case("activation-too-large-for-an-array", () => Forward(WideOutputModel(), new float[2048], 1, 2048),
            "input", "[B=1, T=2048]", "dense", "2147483648 values", "2147483591");
        yield return Case("plan-buffers-too-large-for-an-array", () => WideOutputModel().CreateInferencePlan(maxBatch: 1, maxTime: 2048), "maxTime", "maxBatch=1", "maxTime=2048", "2147483648 values");
        yield return Case("session-buffers-too-large-for-an-array", () => WideOutputModel().CreateSession(batch: 1, maxChunk: 2048), "maxChunk", "batch=1", "maxChunk=2048", "2147483648 values");
        yield return Case("plan-nan-rejected", () =>
        {
            var model = Model();
            model.NonFiniteInputs = NonFiniteInputs.Reject;
            float[] x = Values(24);
            x[(1 * 4 + 2) * 3 + 0] = float.NaN;
            model.CreateInferencePlan(2, 4).Predict(x, 2, 4);
        }, "x", "expected finite", "NaN", "sequence 1, step 2, feature 0");
        yield return Case("session-infinity-rejected", () =>
        {
            var model = Model();
            model.NonFiniteInputs = NonFiniteInputs.Reject;
            model.CreateSession().Step([0f, float.PositiveInfinity, 0f]);
        }, "x", "expected finite", "Infinity", "sequence 0, step 0, feature 1");
        yield return Case("options-callbacks-null", () => Fit(Data(), new TrainingOptions { Callbacks = null! }), "Callbacks", "expected a list", "null");
        yield return Case("options-callback-item-null", () => Fit(Data(), new TrainingOptions { Callbacks = { new EarlyStopping("loss"), null! } }), "Callbacks", "Callbacks[1]", "null");
        yield return Case("windows-window-plus-horizon-overflows", () => Windows.Slice(Values(10), int.MaxValue, int.MaxValue), "series", "10 values", "need 4294967294");
        yield return Case("windows-split-overflows", () => Windows.SliceSplit(Values(10), int.MaxValue, int.MaxValue, 0.5), "series", "10 values", "0 train");
        yield return Case("adding-problem-too-large", () => AddingProblem.Generate(int.MaxValue, int.MaxValue, 1), "count", "9223372028264841218 values", "2147483591");
        yield return Case("sine-too-large", () => SineFrequencies.Generate(int.MaxValue, 2, int.MaxValue, 2, 1), "count", "4611686014132420609 values", "2147483591");
        yield return Case("mackey-glass-too-long", () => MackeyGlass.Generate(10, 1, washout: int.MaxValue), "washout", "2147483657", "2147483647");
        yield return Case("mackey-glass-tau-huge", () => MackeyGlass.Generate(10, 1, tau: 1e12), "tau", "1000000000000");
        yield return Case("optimizer-learning-rate-negative", () => _ = new Sgd<float>(Model().Parameters.ToList(), -0.1), "LearningRate", "≥ 0", "-0.1");
        yield return Case("masking-nan-value", () => _ = new Masking<float>(double.NaN), "maskValue", "must be finite", "NaN");
        yield return Case("masking-infinite-value", () => _ = new Masking<double>(double.PositiveInfinity), "maskValue", "must be finite",
            double.PositiveInfinity.ToString("R"));
        yield return Case("masking-negative-infinite-value", () => _ = new Masking<float>(double.NegativeInfinity), "maskValue", "must be finite",
            double.NegativeInfinity.ToString("R"));
        yield return Case("builder-masking-nan-value", () => ModelBuilder.Input(3).Masking(double.NaN), "maskValue", "must be finite", "NaN");
        yield return Case("masking-plan-mask-wrong-size", () =>
        {
            var plan = ModelBuilder.Input(3).Masking().Lstm(4).Dense(2).Build<float>().CreateInferencePlan(2, 4);
            plan.Predict(Values(24), 2, 4, new bool[7]);
        }, "mask", "[B=2, T=4]", "8 values", "got 7");
        yield return Case("masking-plan-sequence-mask-wrong-size", () =>
            ModelBuilder.Input(3).Masking().Lstm(4).Dense(2).Build<float>().CreateInferencePlan(1, 4).PredictSequence(Values(12), new bool[3]),
            "mask", "[B=1, T=4]", "4 values", "got 3");
        yield return Case("masking-forward-mask-wrong-size", () => Forward(ModelBuilder.Input(3).Masking().Lstm(4).Dense(2).Build<float>(), Values(24), 2, 4, new bool[7]),
            "mask", "[B=2, T=4]", "8 values", "got 7");
    }

    [Test]
    public void MaskingAfterALastOutputLstm_IsRefusedAtConstruction_NamingTheLayer()
    {
        // Masking masks time steps; after an LSTM returning its last output there are none.
        var e = Assert.Throws<ArgumentException>(() => _ = new Sequential<float>(3,
            new Layer<float>[] { new Lstm<float>(4, name: "lstm"), new Masking<float>(0.0, name: "pads"), new Dense<float>(2, name: "dense") }))!;
        Assert.That(e.Message, Does.Contain("'pads'").And.Contain("sequence input"));
        var built = Assert.Throws<ArgumentException>(() => ModelBuilder.Input(3).Lstm(4).Masking(0.0, name: "pads").Dense(2).Build<float>())!;
        Assert.That(built.Message, Does.Contain("'pads'").And.Contain("sequence input"));
        ModelSpec spec = ModelBuilder.Input(3).Lstm(4).Masking(0.0).Dense(2).ToSpec();
        var read = Assert.Throws<FormatException>(() => ModelSpec.FromJson(spec.ToJson(), "m.json"))!;
        Assert.That(read.Message, Does.Contain("m.json").And.Contain("layers[1] (masking) needs a sequence input").And.Contain("layers[0] returns a vector"));
        Assert.That(() => ModelBuilder.Input(3).Lstm(4, returnSequences: true).Masking(0.0, name: "pads").Lstm(2).Build<float>(), Throws.Nothing,
            "after an LSTM returning sequences it is taken");
    }

    [TestCaseSource(nameof(Cases))]
    public void Rejected_WithArgumentNameExpectedAndActual(Action action, string argument, string[] fragments)
    {
        var e = Assert.Catch<ArgumentException>(() => action());
        Assert.That(e!.ParamName, Is.EqualTo(argument), e.Message);
        foreach (string fragment in fragments) Assert.That(e.Message, Does.Contain(fragment));
    }

    [TestCase(Activation.Linear)]
    [TestCase(Activation.Softmax)]   // the probability path of the loss would reject a NaN output as a bad argument
    public void NonFiniteTrainingInputs_WithAllow_AreLetThrough_AndTrainingStopsAsDiverged(Activation last)
    {
        float[] x = Values(4 * 5 * 3);
        x[7] = float.NaN;
        var trainer = new Trainer(new Sequential<float>(3, new Layer<float>[] { new Lstm<float>(4, name: "lstm"), new Dense<float>(2, last, name: "dense") }, seed: 1));
        float[] before = trainer.Model.Parameters.SelectMany(p => p.Value).ToArray();
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(Data(x: x), new TrainingOptions { Epochs = 1, BatchSize = 4, Shuffle = false, NonFiniteInputs = NonFiniteInputs.Allow }));
        Assert.That(e!.Epoch, Is.EqualTo(0));
        Assert.That(e.Batch, Is.EqualTo(0));
        Assert.That(trainer.Model.Parameters.SelectMany(p => p.Value), Is.EqualTo(before), "no step was taken");
    }

    [Test]
    public void NonFiniteInferenceInputs_AreLetThroughByDefault()
    {
        float[] x = Values(24);
        x[0] = float.NaN;   // (an infinity can come out finite: the gates saturate)
        Sequential<float> model = Model();
        Assert.That(model.NonFiniteInputs, Is.EqualTo(NonFiniteInputs.Allow));
        float[] y = model.Forward(new SequenceBatch<float>(x, 2, 4, default), model.CreateCache(), ForwardContext.Inference).ToArray();
        Assert.That(y.Take(2).Any(v => !float.IsFinite(v)), Is.True, "sequence 0 carries the NaN through");
        Assert.That(y.Skip(2).All(float.IsFinite), Is.True, "sequence 1 is untouched");
    }
}
