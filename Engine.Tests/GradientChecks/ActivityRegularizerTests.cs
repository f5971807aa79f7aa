using System.Text.Json.Nodes;
using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// Keras' activity_regularizer (keras/src/layers/layer.py <c>__call__</c>, since keras-team/keras#22021 in January 2026,
/// and tf.keras 2's <c>_handle_activity_regularization</c>): penalty(y) / B added to the loss for each regularized
/// layer's output y, in training and evaluation; (R3) in docs/math-losses-optimizers.md. Float64 central differences of
/// loss + penalty through the code Fit runs (<see cref="Sequential{T}.Backward"/> with activityRegularization), Keras'
/// documented answer, and the trainer against a twin without the penalty.
/// </summary>
public class ActivityRegularizerTests
{
    private static ModelSpec Spec(bool sequences) => ModelBuilder.Input(3)
        .Lstm(3, returnSequences: true, activityRegularizer: WeightRegularizer.L2(0.07))
        .LayerNorm(activityRegularizer: WeightRegularizer.L1(0.05))
        .Bidirectional(2, returnSequences: sequences, activityRegularizer: WeightRegularizer.L1L2(0.02, 0.3), kernelRegularizer: WeightRegularizer.L2(0.1))
        .Dense(2, activityRegularizer: WeightRegularizer.L1L2(0.04, 0.06))
        .ToSpec(seed: 8);

    private static (Func<double> Loss, List<CheckedTensor> Analytic) Regularized(ModelGradientTests.ModelHarness harness, double penaltyScale = 1)
    {
        Sequential<double> model = harness.Model;
        double Loss() => harness.Loss() + penaltyScale * model.ActivityPenalty(harness.Cache) + model.RegularizationPenalty();
        model.ZeroGradients();
        var dInput = new double[harness.Input.Length];
        harness.Loss();
        model.Backward(harness.OutputWeights, harness.Cache, dInput, activityRegularization: true);
        model.AddRegularizationGradients();
        var tensors = new List<CheckedTensor> { new("input", harness.Input, dInput) };
        foreach (NamedParameter<double> p in model.NamedParameters) tensors.Add(new(p.Name, p.Parameter.Value, (double[])p.Parameter.Gradient.Clone()));
        return (Loss, tensors);
    }

    [TestCase(true, false)]
    [TestCase(true, true)]
    [TestCase(false, true)]
    public void ActivityPenalties_Backward_MatchesFiniteDifferences(bool sequences, bool ragged)
    {
        var harness = new ModelGradientTests.ModelHarness(Spec(sequences), ragged);
        (Func<double> loss, List<CheckedTensor> analytic) = Regularized(harness);
        Assert.That(harness.Model.ActivityPenalty(harness.Cache), Is.GreaterThan(0.01));
        GradientChecker.AssertGradientsMatch(loss, analytic);
    }

    [Test]
    public void WithoutTheDivisionByTheBatch_OrWithoutTheActivityGradient_TheCheckFails()
    {
        // The loss taken with penalty(y) instead of penalty(y) / B (Keras 3 before January 2026): every input and weight
        // element upstream of a regularized output disagrees with the analytic gradient of penalty / B.
        var harness = new ModelGradientTests.ModelHarness(Spec(true), ragged: false);
        (Func<double> undivided, List<CheckedTensor> analytic) = Regularized(harness, penaltyScale: harness.Batch);
        List<GradientMismatch> mismatches = GradientChecker.FindMismatches(undivided, analytic);
        Assert.That(mismatches.Select(m => m.Name), Does.Contain("input"));
        Assert.That(mismatches.Select(m => m.Name).Distinct().Count(), Is.GreaterThan(10));
        // Backward without activityRegularization: the gradient of the outputs' dot product alone.
        var plain = new ModelGradientTests.ModelHarness(Spec(true), ragged: false);
        Sequential<double> model = plain.Model;
        List<CheckedTensor> unregularized = plain.AnalyticGradients();
        List<GradientMismatch> missing = GradientChecker.FindMismatches(() => plain.Loss() + model.ActivityPenalty(plain.Cache), unregularized);
        Assert.That(missing.Count, Is.GreaterThan(plain.Input.Length / 2), "the input gradient misses the activity terms");
    }

    [Test]
    public void KerasDocumentedExample_Is5Point25()
    {
        // keras/src/regularizers/regularizers.py's docstring (keras-team/keras#22018): Dense(5, kernel_initializer='ones',
        // kernel_regularizer=L1(0.01), activity_regularizer=L2(0.01)) on ones((5, 5)) * 2: sum(layer.losses) == 5.25
        // (the activity term 0.01·25·10² / 5 = 5, the kernel term 0.01·25 = 0.25).
        foreach (bool useDouble in new[] { false, true })
        {
            double total;
            if (useDouble) total = Example<double>();
            else total = Example<float>();
            Assert.That(total, Is.EqualTo(5.25).Within(1e-12), useDouble ? "double" : "float");
        }

        static double Example<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            Sequential<T> model = ModelBuilder.Input(5).Dense(5, kernelRegularizer: WeightRegularizer.L1(0.01), activityRegularizer: WeightRegularizer.L2(0.01)).Build<T>();
            ((Dense<T>)model.Layers[0]).Weight.Value.AsSpan().Fill(T.One);
            ModelCache<T> cache = model.CreateCache();
            T[] x = Enumerable.Repeat(T.CreateTruncating(2.0), 25).ToArray();
            model.Forward(new SequenceBatch<T>(x, 5, 1, default), cache, ForwardContext.Inference);
            return model.ActivityPenalty(cache) + model.RegularizationPenalty();
        }
    }

    [Test]
    public void FitAndEvaluate_AddThePenalty_PerBatch()
    {
        static Sequential<float> Model(bool regularized) => ModelBuilder.Input(2)
            .Lstm(3, returnSequences: true, activityRegularizer: regularized ? WeightRegularizer.L2(0.3) : null)
            .Lstm(2, activityRegularizer: regularized ? WeightRegularizer.L1(0.2) : null)
            .Dense(2).Build<float>(seed: 5);
        var random = new Random(2);
        float[] x = Enumerable.Range(0, 7 * 4 * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] y = Enumerable.Range(0, 7 * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        SequenceDataset data = SequenceDataset.ForRegression(x, 7, 4, 2, y, 2);
        Sequential<float> regularized = Model(true), twin = Model(false);

        // Evaluate in batches of 3, 3, 1: each batch's penalty / its size, weighted by its size (Keras' loss tracker).
        double expected = 0;
        ModelCache<float> cache = regularized.CreateCache();
        foreach ((int start, int count) in new[] { (0, 3), (3, 3), (6, 1) })
        {
            regularized.Forward(new SequenceBatch<float>(x.AsSpan(start * 8, count * 8), count, 4, default), cache, ForwardContext.Inference);
            double batch = 0;
            foreach ((int layer, double l1, double l2) in new[] { (0, 0.0, 0.3), (1, 0.2, 0.0) })
                foreach (float v in cache.Activations[layer]) batch += l1 * Math.Abs((double)v) + l2 * (double)v * v;
            expected += batch / count * count;
        }
        expected /= 7;
        double loss = new Trainer(regularized).Evaluate(data, "mse", batchSize: 3).Loss, plain = new Trainer(twin).Evaluate(data, "mse", batchSize: 3).Loss;
        Assert.That(loss - plain, Is.EqualTo(expected).Within(1e-9));

        // Fit: the first batch's logged loss is the twin's plus its activity penalty; the step differs from the twin's.
        TrainingOptions Options() => new() { Epochs = 1, BatchSize = 7, Shuffle = false, Loss = "mse", OptimizerFactory = (ps, lr) => new Sgd<float>(ps, lr), LearningRate = 0.1 };
        EpochRecord trained = new Trainer(regularized).Fit(data, Options()).Epochs[0], twinRecord = new Trainer(twin).Fit(data, Options()).Epochs[0];
        Assert.That(trained.TrainLoss - twinRecord.TrainLoss, Is.GreaterThan(0.01));
        Assert.That(regularized.Parameters.SelectMany(p => p.Value), Is.Not.EqualTo(twin.Parameters.SelectMany(p => p.Value)));
    }

    [Test]
    public void KerasConfigs_ReadAndWriteActivityRegularizers_OnTheLayersThatTakeThem()
    {
        ModelSpec spec = Spec(true).WithLayerNames();
        Assert.That(ModelSpec.FromJson(spec.ToJson()).Layers, Is.EqualTo(spec.Layers));
        Assert.That(ModelSpecOf.Describe(spec.Build<float>()).Layers, Is.EqualTo(spec.Layers));
        string keras = spec.ToKerasJson();
        JsonNode root = JsonNode.Parse(keras)!;
        JsonNode Config(int k) => root["config"]!["layers"]![k]!["config"]!;
        Assert.That(Config(1)["activity_regularizer"]!["class_name"]!.GetValue<string>(), Is.EqualTo("L2"), "an LSTM's");
        Assert.That(Config(3)["activity_regularizer"]!["class_name"]!.GetValue<string>(), Is.EqualTo("L1L2"), "the Bidirectional wrapper's");
        Assert.That(Config(3)["layer"]!["config"]!["activity_regularizer"], Is.Null, "not the wrapped LSTM's");
        Assert.That(((JsonObject)Config(2)).Select(p => p.Key).Take(4), Is.EqualTo(new[] { "name", "trainable", "dtype", "activity_regularizer" }),
            "after dtype, where Keras' base Layer.get_config puts it");
        ModelSpec read = KerasConfig.ToSpec(keras);
        Assert.That(read.Layers.Select(l => l.ActivityRegularizer), Is.EqualTo(spec.Layers.Select(l => l.ActivityRegularizer)));
        Assert.That(Assert.Throws<FormatException>(() => ModelSpec.FromJson("""{"input_features": 2, "layers": [{"type": "dropout", "rate": 0.5, "activity_regularizer": {"kind": "l2", "l2": 0.01}}, {"type": "dense", "units": 1}]}"""))!.Message,
            Does.Contain("activity_regularizer is taken by lstm, bidirectional, dense and layer_norm layers"));
    }
}
