using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// Float64 central differences of the loss Fit minimizes on per-step targets: a model returning sequences, its output
/// mask (the lengths', carried through the layers: <see cref="Sequential{T}.OutputMask"/>), per-step sample weights and
/// <see cref="MaskedSteps"/>' Keras reduction Σ s·m·l / valid, differentiated through every parameter and the input.
/// </summary>
public class PerStepLossGradientTests
{
    private const int Batch = 3, Time = 4, Features = 3, Outputs = 3;

    private sealed class Case
    {
        private readonly ModelCache<double> cache;
        private readonly double[] input;
        private readonly bool[] mask;
        private readonly float[] sampleWeights;
        private readonly ILoss<double> loss;
        private readonly int[] labels;
        private readonly double[] targets;

        public Case(ILoss<double> loss, bool cellNorm = false)
        {
            this.loss = loss;
            var spec = new ModelSpec
            {
                InputFeatures = Features, Seed = 3,
                Layers = new[]
                {
                    LayerSpec.Lstm(3, returnSequences: true, cell: cellNorm ? CellNormalization.KerasGates : null),
                    LayerSpec.LayerNorm(),
                    LayerSpec.Dense(Outputs, Activation.Linear),
                },
            };
            Model = spec.Build<double>();
            int seed = 40;
            foreach (Parameter<double> p in Model.Parameters)
            {
                double[] noise = GradientChecker.RandomValues(p.Length, seed++, 0.5);
                for (int k = 0; k < p.Length; k++) p.Value[k] += noise[k];
            }
            cache = Model.CreateCache();
            input = GradientChecker.RandomValues(Batch * Time * Features, 2);
            mask = new bool[Batch * Time];
            int[] lengths = { 4, 2, 3 };
            for (int b = 0; b < Batch; b++) for (int t = 0; t < lengths[b]; t++) mask[b * Time + t] = true;
            sampleWeights = new float[Batch * Time];
            for (int r = 0; r < sampleWeights.Length; r++) sampleWeights[r] = 0.25f + 0.5f * (r % 3);
            labels = new int[Batch * Time];
            for (int r = 0; r < labels.Length; r++) labels[r] = (r * 7) % Outputs;
            targets = GradientChecker.RandomValues(Batch * Time * Outputs, 9);
            if (loss is BinaryCrossEntropy<double>)   // probabilities in [0, 1]
                for (int k = 0; k < targets.Length; k++) targets[k] = Math.Abs(targets[k]) % 1;
        }

        public Sequential<double> Model { get; }

        private LossTargets<double> Targets => loss.TargetKind == LossTargetKind.Labels
            ? LossTargets<double>.FromLabels(labels) : LossTargets<double>.FromValues(targets, Batch * Time);

        public double Loss()
        {
            ReadOnlySpan<double> predictions = Model.Forward(new SequenceBatch<double>(input, Batch, Time, mask), cache, ForwardContext.Inference);
            return MaskedSteps.Forward(loss, predictions, Targets, Model.OutputMask(cache), sampleWeights, default);
        }

        /// <param name="gradientMask">The mask the gradient is weighted with (the loss's own, or a wrong one on purpose).</param>
        public List<CheckedTensor> AnalyticGradients(bool[]? gradientMask = null)
        {
            Model.ZeroGradients();
            ReadOnlySpan<double> predictions = Model.Forward(new SequenceBatch<double>(input, Batch, Time, mask), cache, ForwardContext.Inference);
            Assert.That(Model.OutputMask(cache).ToArray(), Is.EqualTo(mask), "the lengths' mask reaches the output");
            var gradient = new double[predictions.Length];
            MaskedSteps.Forward(loss, predictions, Targets, gradientMask ?? Model.OutputMask(cache).ToArray(), sampleWeights, gradient);
            var dInput = new double[input.Length];
            Model.Backward(gradient, cache, dInput);
            var tensors = new List<CheckedTensor> { new("input", input, dInput) };
            foreach (NamedParameter<double> p in Model.NamedParameters) tensors.Add(new(p.Name, p.Parameter.Value, (double[])p.Parameter.Gradient.Clone()));
            return tensors;
        }

        public bool[] Mask => mask;
    }

    public static IEnumerable<TestCaseData> Losses()
    {
        yield return new TestCaseData("sparse_categorical_crossentropy", false).SetArgDisplayNames("sparse cross-entropy on logits");
        yield return new TestCaseData("sparse_categorical_crossentropy", true).SetArgDisplayNames("sparse cross-entropy, keras-gates cells");
        yield return new TestCaseData("mse", false).SetArgDisplayNames("mse");
        yield return new TestCaseData("binary_crossentropy", false).SetArgDisplayNames("binary cross-entropy on logits");
    }

    [TestCaseSource(nameof(Losses))]
    public void MaskedWeightedLoss_OverStepOutputs_MatchesFiniteDifferences(string lossName, bool cellNorm)
    {
        var check = new Case(Loss.FromName<double>(lossName, fromLogits: true), cellNorm);
        GradientChecker.AssertGradientsMatch(check.Loss, check.AnalyticGradients());
    }

    [Test]
    public void TheCheckFails_WhenTheGradientIgnoresTheMask()
    {
        // Broken on purpose: the loss leaves the padded steps out, the gradient is weighted as if every step were valid.
        var check = new Case(Loss.FromName<double>("sparse_categorical_crossentropy", fromLogits: true));
        bool[] everyStep = Enumerable.Repeat(true, check.Mask.Length).ToArray();
        List<GradientMismatch> mismatches = GradientChecker.FindMismatches(check.Loss, check.AnalyticGradients(everyStep));
        Assert.That(mismatches, Is.Not.Empty, "a gradient that counts the padded steps must fail the check");
        // And one masked step more than the loss masks (the scale R/valid changes too): also caught.
        bool[] oneMore = (bool[])check.Mask.Clone();
        oneMore[0] = false;
        Assert.That(GradientChecker.FindMismatches(check.Loss, check.AnalyticGradients(oneMore)), Is.Not.Empty);
    }

    [Test]
    public void MaskedSteps_IsKerasFormula_ByHand()
    {
        // Four rows, two valid, sample weights 2 and 0.5 on them: L = (2·l0 + 0.5·l2) / 2 (valid = 2, not Σ s).
        var loss = new MeanSquaredError<double>();
        double[] predictions = { 1, 3, 0.5, -1 };
        double[] targets = { 0, 0, 0, 0 };
        bool[] mask = { true, false, true, false };
        float[] weights = { 2, 7, 0.5f, 9 };
        var gradient = new double[4];
        double value = MaskedSteps.Forward(loss, predictions, LossTargets<double>.FromValues(targets, 4), mask, weights, gradient);
        double expected = (2 * 1.0 + 0.5 * 0.25) / 2;
        Assert.That(value, Is.EqualTo(expected).Within(1e-15));
        // dL/dp_r = s_r·m_r·2p_r / valid.
        Assert.That(gradient, Is.EqualTo(new[] { 2 * 2 * 1.0 / 2, 0, 0.5 * 2 * 0.5 / 2, 0 }).Within(1e-15));
        // No valid step: loss 0 and gradient 0, as Keras (its mask weights are 0: divide_no_nan(R, 0) = 0).
        Array.Fill(gradient, 1.0);
        Assert.That(MaskedSteps.Forward(loss, predictions, LossTargets<double>.FromValues(targets, 4), new bool[4], default, gradient), Is.Zero);
        Assert.That(gradient, Is.All.Zero);
        Assert.That(() => MaskedSteps.LossWeights(new bool[3], new float[2], new float[3]), Throws.ArgumentException.With.Message.Contains("expected 3 weights"));
    }

    [Test]
    public void LossWeights_AreTotalOverValid_DivideNoNan_AsKeras3ApplyMask()
    {
        // Keras 3 (keras/src/losses/loss.py apply_mask, since keras-team/keras#21908): mask *= divide_no_nan(total, valid),
        // no epsilon. One valid row of four weighs exactly 4 (R/(valid + 1e-7f) would give 3.9999995f), one of one exactly 1,
        // and none valid gives 0 everywhere (0/0 taken as 0, not 0·R/ε).
        var four = new float[4];
        Assert.That(MaskedSteps.LossWeights(new[] { false, true, false, false }, default, four), Is.EqualTo(1));
        Assert.That(four, Is.EqualTo(new[] { 0f, 4f, 0f, 0f }));
        var one = new float[1];
        MaskedSteps.LossWeights(new[] { true }, default, one);
        Assert.That(one[0], Is.EqualTo(1f));
        // With sample weights: s · (R/valid) in float32, Keras' order (mask scale first, then the sample weight).
        var weighted = new float[3];
        MaskedSteps.LossWeights(new[] { true, false, true }, new[] { 0.3f, 5f, 0.7f }, weighted);
        Assert.That(weighted, Is.EqualTo(new[] { 0.3f * (3f / 2f), 0f, 0.7f * (3f / 2f) }));
        var none = new float[3];
        Assert.That(MaskedSteps.LossWeights(new bool[3], new[] { 1f, 2f, 3f }, none), Is.Zero);
        Assert.That(none, Is.All.Zero);
    }
}
