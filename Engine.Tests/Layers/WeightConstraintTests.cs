using System.Text.Json.Nodes;
using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Layers;

/// <summary>
/// Keras' weight constraints (keras/src/constraints/constraints.py, ε = backend.epsilon() = 1e-7 added to the norm):
/// MaxNorm w·clip(‖w‖, 0, max)/(ε + ‖w‖), NonNeg max(w, 0), UnitNorm w/(ε + ‖w‖), MinMaxNorm
/// w·(rate·clip(‖w‖, min, max) + (1 − rate)·‖w‖)/(ε + ‖w‖), the norms along Keras' axis of Keras' (in, out) kernel
/// layout, applied by the optimizer after each update to the variables it updated. Known answers worked by hand on
/// the Keras kernel K = [[3, 0], [4, 1]] (rows: inputs), which NumLstm stores transposed as W = [[3, 4], [0, 1]].
/// </summary>
public class WeightConstraintTests
{
    private const double E = WeightConstraint.Epsilon;
    private static readonly int[] KernelShape = [2, 2];

    private static double[] Applied(WeightConstraint constraint, double[] w, int[] shape)
    {
        double[] copy = (double[])w.Clone();
        constraint.Apply<double>(copy, shape);
        return copy;
    }

    [Test]
    public void MaxNorm_AlongKerasAxes_KnownAnswers()
    {
        double[] w = [3, 4, 0, 1];
        // axis 0 (Keras' input axis, the default): per output unit, the norms of K's columns 5 and 1 = W's rows.
        Assert.That(Applied(WeightConstraint.MaxNorm(2), w, KernelShape),
            Is.EqualTo(new[] { 3 * 2 / (5 + E), 4 * 2 / (5 + E), 0, 1 / (1 + E) }).Within(1e-15));
        // axis 1: per input, the norms of K's rows 3 and √17 = W's columns.
        double r17 = Math.Sqrt(17);
        Assert.That(Applied(WeightConstraint.MaxNorm(2, axis: 1), w, KernelShape),
            Is.EqualTo(new[] { 3 * 2 / (3 + E), 4 * 2 / (r17 + E), 0, 1 * 2 / (r17 + E) }).Within(1e-15));
        Assert.That(Applied(WeightConstraint.MaxNorm(2, axis: -1), w, KernelShape), Is.EqualTo(Applied(WeightConstraint.MaxNorm(2, axis: 1), w, KernelShape)));
        Assert.That(Applied(WeightConstraint.MaxNorm(2, axis: -2), w, KernelShape), Is.EqualTo(Applied(WeightConstraint.MaxNorm(2), w, KernelShape)));
        double r26 = Math.Sqrt(26);
        Assert.That(Applied(WeightConstraint.MaxNorm(2, axis: null), w, KernelShape), Is.EqualTo(w.Select(v => v * 2 / (r26 + E)).ToArray()).Within(1e-15), "axis [0, 1]");
        // A 1-D weight (a bias): the whole vector.
        Assert.That(Applied(WeightConstraint.MaxNorm(2), [3, 4], [2]), Is.EqualTo(new[] { 3 * 2 / (5 + E), 4 * 2 / (5 + E) }).Within(1e-15));
    }

    [Test]
    public void UnitNorm_NonNeg_MinMaxNorm_KnownAnswers()
    {
        double[] w = [3, 4, 0, 1];
        Assert.That(Applied(WeightConstraint.UnitNorm(), w, KernelShape), Is.EqualTo(new[] { 3 / (5 + E), 4 / (5 + E), 0, 1 / (1 + E) }).Within(1e-15));
        Assert.That(Applied(WeightConstraint.NonNeg(), [-1, 2, -0.0, 0.5], KernelShape), Is.EqualTo(new[] { 0, 2, 0, 0.5 }));
        double[] nan = Applied(WeightConstraint.NonNeg(), [double.NaN], [1]);
        Assert.That(double.IsNaN(nan[0]), Is.True, "max(NaN, 0) stays NaN");
        // rate 0.5 between 1.5 and 3: norm 5 → 0.5·3 + 0.5·5 = 4; norm 1 → 0.5·1.5 + 0.5·1 = 1.25.
        Assert.That(Applied(WeightConstraint.MinMaxNorm(1.5, 3, 0.5), w, KernelShape),
            Is.EqualTo(new[] { 3 * 4 / (5 + E), 4 * 4 / (5 + E), 0, 1.25 / (1 + E) }).Within(1e-15));
        Assert.That(Applied(WeightConstraint.MinMaxNorm(), [0.3, 0.4], [2]), Is.EqualTo(new[] { 0.3 * 0.5 / (0.5 + E), 0.4 * 0.5 / (0.5 + E) }).Within(1e-15),
            "norm 0.5 inside [0, 1]: kept (up to ε)");
    }

    [Test]
    public void BadValues_AreRefused_NamingThem()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => WeightConstraint.MaxNorm(-1))!.Message, Does.Contain("max_value must be a finite number ≥ 0"));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightConstraint.MaxNorm(double.NaN));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => WeightConstraint.MinMaxNorm(2, 1))!.Message, Does.Contain("≤ max_value"));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightConstraint.MinMaxNorm(rate: 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightConstraint.MaxNorm(2, axis: 2));
        Assert.Throws<ArgumentException>(() => new WeightConstraint(ConstraintKind.UnitNorm, 3));
        Assert.Throws<ArgumentException>(() => new WeightConstraint(ConstraintKind.NonNeg, 1, axis: 1));
        var e = Assert.Throws<ArgumentException>(() => WeightConstraint.MaxNorm(2, axis: 1).Apply<double>(new double[2], [2]))!;
        Assert.That(e.Message, Does.Contain("axis 1 does not exist on a 1-D weight"));
        var build = Assert.Throws<ArgumentException>(() => ModelBuilder.Input(2).Dense(2, biasConstraint: WeightConstraint.UnitNorm(axis: 1)).Build<float>())!;
        Assert.That(build.Message, Does.Contain("'bias' [2]"));
    }

    // ------------------------------------------------------------------ training

    private static Sequential<float> Model(bool constrained) => ModelBuilder.Input(2)
        .Bidirectional(3, kernelConstraint: constrained ? WeightConstraint.MaxNorm(0.3) : null, recurrentConstraint: constrained ? WeightConstraint.UnitNorm(axis: 1) : null,
            biasConstraint: constrained ? WeightConstraint.NonNeg() : null)
        .LayerNorm(gammaConstraint: constrained ? WeightConstraint.MinMaxNorm(0.5, 1.0, 0.7) : null)
        .Dense(2, kernelConstraint: constrained ? WeightConstraint.MaxNorm(0.1, axis: null) : null, biasConstraint: constrained ? WeightConstraint.NonNeg() : null)
        .Build<float>(seed: 12);

    private static SequenceDataset Data()
    {
        var random = new Random(8);
        float[] x = Enumerable.Range(0, 6 * 4 * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] y = Enumerable.Range(0, 6 * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        return SequenceDataset.ForRegression(x, 6, 4, 2, y, 2);
    }

    [Test]
    public void Fit_ProjectsEachStepsResult_AsKerasOptimizerDoesAfterTheUpdate()
    {
        Sequential<float> constrained = Model(true), twin = Model(false);
        var options = new TrainingOptions
        {
            Epochs = 1, BatchSize = 6, Shuffle = false, Loss = "mse", LearningRate = 0.5,
            OptimizerFactory = (parameters, rate) => new Sgd<float>(parameters, rate),
        };
        new Trainer(constrained).Fit(Data(), options);
        new Trainer(twin).Fit(Data(), options);
        int projected = 0;
        foreach (var (mine, plain) in constrained.Parameters.Zip(twin.Parameters))
        {
            float[] expected = (float[])plain.Value.Clone();
            mine.Constraint?.Apply<float>(expected, mine.Shape);
            Assert.That(mine.Value, Is.EqualTo(expected).Within(1e-6), mine.Name);
            if (mine.Constraint is not null && !expected.SequenceEqual(plain.Value)) projected++;
        }
        Assert.That(projected, Is.EqualTo(9), "every constrained weight was moved by its projection (6 Bidirectional, γ, the Dense's 2)");
        Assert.That(constrained.NamedParameters.Single(p => p.Name == "dense_1.bias").Parameter.Value, Is.All.GreaterThanOrEqualTo(0f));
    }

    [Test]
    public void FrozenParameters_AreNotProjected()
    {
        Sequential<float> constrained = Model(true);
        Layer<float> dense = constrained.Layers[2];
        dense.Parameters[1].Value[0] = -0.25f;   // a negative bias NonNeg would zero
        float[] before = dense.Parameters.SelectMany(p => p.Value).ToArray();
        var trainer = new Trainer(constrained, new Sgd<float>(constrained.Layers.Take(2).SelectMany(l => l.Parameters).ToList(), 0.5));
        trainer.Fit(Data(), new TrainingOptions { Epochs = 1, BatchSize = 6, Shuffle = false, Loss = "mse" });
        Assert.That(dense.Parameters.SelectMany(p => p.Value), Is.EqualTo(before), "Keras constrains the variables it updated");
    }

    [Test]
    public void ThePenalty_ItsGradient_AndTheProjection_AllocateNothing()
    {
        // Fit calls the three every batch, over the optimizer's parameter list.
        Sequential<float> model = ModelBuilder.Input(2)
            .Lstm(4, kernelRegularizer: WeightRegularizer.L1L2(0.1, 0.2), kernelConstraint: WeightConstraint.MaxNorm(1), biasConstraint: WeightConstraint.NonNeg())
            .Dense(2, kernelRegularizer: WeightRegularizer.L2(), kernelConstraint: WeightConstraint.UnitNorm(axis: null))
            .Build<float>(seed: 2);
        IReadOnlyList<Parameter<float>> trained = model.Parameters.ToList();
        double Round()
        {
            double penalty = model.RegularizationPenalty(trained) + model.RegularizationPenalty();
            model.AddRegularizationGradients(trained);
            model.AddRegularizationGradients();
            model.ApplyConstraints(trained);
            model.ApplyConstraints();
            return penalty;
        }
        Round();
        long before = GC.GetAllocatedBytesForCurrentThread();
        double total = 0;
        for (int k = 0; k < 10; k++) total += Round();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.EqualTo(0));
        Assert.That(total, Is.GreaterThan(0));
    }

    // ------------------------------------------------------------------ the spec and Keras configs

    [Test]
    public void Spec_RoundTripsThroughJson_Describe_AndKerasConfig()
    {
        ModelSpec spec = ModelBuilder.Input(2)
            .Bidirectional(3, returnSequences: true, kernelConstraint: WeightConstraint.MaxNorm(3), recurrentConstraint: WeightConstraint.UnitNorm(axis: 1),
                biasConstraint: WeightConstraint.NonNeg())
            .LayerNorm(gammaConstraint: WeightConstraint.MinMaxNorm(0.5, 2, 0.25), betaConstraint: WeightConstraint.MaxNorm(1))
            .Lstm(2, kernelConstraint: WeightConstraint.MaxNorm(2, axis: null))
            .Dense(1, biasConstraint: WeightConstraint.UnitNorm())
            .ToSpec(seed: 1).WithLayerNames();
        ModelSpec back = ModelSpec.FromJson(spec.ToJson());
        Assert.That(back.Layers, Is.EqualTo(spec.Layers));
        Assert.That(ModelSpecOf.Describe(spec.Build<float>()).Layers, Is.EqualTo(spec.Layers));

        string keras = spec.ToKerasJson();
        JsonNode root = JsonNode.Parse(keras)!;
        JsonNode Config(int k) => root["config"]!["layers"]![k]!["config"]!;
        Assert.That(Config(1)["layer"]!["config"]!["kernel_constraint"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.constraints","class_name":"MaxNorm","config":{"max_value":3.0,"axis":0},"registered_name":null}"""));
        Assert.That(Config(1)["backward_layer"]!["config"]!["bias_constraint"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.constraints","class_name":"NonNeg","config":{},"registered_name":null}"""));
        Assert.That(Config(2)["gamma_constraint"]!.ToJsonString(),
            Is.EqualTo("""{"module":"keras.constraints","class_name":"MinMaxNorm","config":{"min_value":0.5,"max_value":2.0,"rate":0.25,"axis":0},"registered_name":null}"""));
        Assert.That(Config(3)["kernel_constraint"]!["config"]!["axis"]!.ToJsonString(), Is.EqualTo("[0,1]"));
        ModelSpec read = KerasConfig.ToSpec(keras);
        Assert.That(read.Layers.Select(l => (l.KernelConstraint, l.RecurrentConstraint, l.BiasConstraint, l.GammaConstraint, l.BetaConstraint)),
            Is.EqualTo(spec.Layers.Select(l => (l.KernelConstraint, l.RecurrentConstraint, l.BiasConstraint, l.GammaConstraint, l.BetaConstraint))));
    }

    [Test]
    public void KerasConfigs_OfBothVersions_Strings_AndDefaults_AreRead()
    {
        JsonNode root = JsonNode.Parse(Models.KerasFixtures.MissionKeras2)!;
        JsonNode Layer(int k) => root["config"]!["layers"]![k]!["config"]!;
        foreach (string side in new[] { "layer", "backward_layer" })
        {
            if (Layer(1)[side] is not { } wrapped) continue;
            wrapped["config"]!["kernel_constraint"] = JsonNode.Parse("""{"class_name": "MaxNorm", "config": {"max_value": 3, "axis": [0]}}""");
            wrapped["config"]!["recurrent_constraint"] = JsonNode.Parse("""{"class_name": "UnitNorm", "config": {"axis": -1}}""");
            wrapped["config"]!["bias_constraint"] = "nonneg";
        }
        Layer(2)["gamma_constraint"] = JsonNode.Parse("""{"class_name": "MinMaxNorm", "config": {}}""");
        Layer(5)["kernel_constraint"] = JsonNode.Parse("""{"class_name": "MaxNorm", "config": {"axis": [1, 0]}}""");
        ModelSpec spec = KerasConfig.ToSpec(root.ToJsonString());
        Assert.That(spec.Layers[0].KernelConstraint, Is.EqualTo(WeightConstraint.MaxNorm(3)));
        Assert.That(spec.Layers[0].RecurrentConstraint, Is.EqualTo(WeightConstraint.UnitNorm(axis: 1)), "-1 of a kernel is its axis 1");
        Assert.That(spec.Layers[0].BiasConstraint, Is.EqualTo(WeightConstraint.NonNeg()), "tf.keras 2's alias");
        Assert.That(spec.Layers[1].GammaConstraint, Is.EqualTo(WeightConstraint.MinMaxNorm()), "the class's defaults");
        Assert.That(spec.Layers[4].KernelConstraint, Is.EqualTo(WeightConstraint.MaxNorm(2, axis: null)), "both axes, max_value's default 2");
    }

    [TestCase("""{"class_name": "RadialConstraint", "config": {}}""", "kernel_constraint.class_name", "'RadialConstraint' not supported")]
    [TestCase("""{"class_name": "MaxNorm", "config": {"max_value": -1, "axis": 0}}""", "kernel_constraint.config", "max_value must be a finite number ≥ 0")]
    [TestCase("""{"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 2}}""", "kernel_constraint.config.axis", "an axis of this 2-D weight is 0, 1, -1 or -2")]
    [TestCase("""{"class_name": "NonNeg", "config": {"axis": 0}}""", "kernel_constraint.config.axis", "is not a field NumLstm knows here")]
    [TestCase("\"max_norms\"", "kernel_constraint", "'max_norms' not supported")]
    public void KerasConfigs_WithConstraintsNumLstmCannotHonour_AreRefused(string constraint, string path, string message)
    {
        JsonNode root = JsonNode.Parse(Models.KerasFixtures.MissionKeras2)!;
        root["config"]!["layers"]![5]!["config"]!["kernel_constraint"] = JsonNode.Parse(constraint);
        var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(root.ToJsonString()))!;
        Assert.That(e.Message, Does.Contain("config.layers[5].config." + path));
        Assert.That(e.Message, Does.Contain(message));
        root["config"]!["layers"]![5]!["config"]!["kernel_constraint"] = null;
        root["config"]!["layers"]![5]!["config"]!["bias_constraint"] = JsonNode.Parse("""{"class_name": "UnitNorm", "config": {"axis": 1}}""");
        Assert.That(Assert.Throws<FormatException>(() => KerasConfig.ToSpec(root.ToJsonString()))!.Message, Does.Contain("an axis of this 1-D weight is 0 or -1"));
    }
}
