using NumLstm.Layers;

namespace NumLstm.Tests.GradientChecks;

/// <summary>Float64 central-difference checks of the LSTM backward pass, for every option.</summary>
public class LstmGradientTests
{
    public sealed record Case(string Label, bool ReturnSequences = true, bool GoBackwards = false, bool Ragged = false,
        CellNormalization? Norm = null, double Dropout = 0, double RecurrentDropout = 0, bool InitialState = true, bool ZeroOutput = false,
        bool EmptyRow = false)
    {
        public override string ToString() => Label;
    }

    public static IEnumerable<Case> Cases()
    {
        yield return new Case("plain, sequences");
        yield return new Case("plain, last output", ReturnSequences: false);
        yield return new Case("plain, no initial state", InitialState: false);
        yield return new Case("goBackwards", GoBackwards: true);
        yield return new Case("goBackwards, last output", ReturnSequences: false, GoBackwards: true);
        yield return new Case("ragged masks", Ragged: true);
        yield return new Case("ragged masks, last output", ReturnSequences: false, Ragged: true);
        yield return new Case("ragged masks, goBackwards", GoBackwards: true, Ragged: true);
        yield return new Case("ragged masks, zero output for mask", Ragged: true, ZeroOutput: true);
        yield return new Case("ragged masks, zero output for mask, last output", ReturnSequences: false, Ragged: true, ZeroOutput: true);
        yield return new Case("ragged masks, zero output for mask, goBackwards, last output", ReturnSequences: false, GoBackwards: true, Ragged: true, ZeroOutput: true);
        yield return new Case("ragged masks, zero output, goBackwards, hidden LN", GoBackwards: true, Ragged: true, ZeroOutput: true, Norm: new CellNormalization(Hidden: true));
        // A row with no valid step (Keras allows it): its outputs are the carried initial state, whose gradient is the row's.
        yield return new Case("a fully masked row", Ragged: true, EmptyRow: true);
        yield return new Case("a fully masked row, last output, zero output for mask", ReturnSequences: false, Ragged: true, EmptyRow: true, ZeroOutput: true);
        yield return new Case("a fully masked row, goBackwards, dropouts, tf-addons", GoBackwards: true, Ragged: true, EmptyRow: true,
            Dropout: 0.3, RecurrentDropout: 0.3, Norm: CellNormalization.TfAddons);
        yield return new Case("gates summed", Norm: new CellNormalization(GateNormalization.Summed));
        yield return new Case("gates separate", Norm: new CellNormalization(GateNormalization.Separate));
        yield return new Case("cell output-only", Norm: new CellNormalization(CellState: CellStateNormalization.OutputOnly));
        yield return new Case("cell recurrent", Norm: new CellNormalization(CellState: CellStateNormalization.Recurrent));
        yield return new Case("hidden", Norm: new CellNormalization(Hidden: true));
        foreach (var (name, preset) in CellNormalization.Presets)
            yield return new Case($"preset {name}, ragged, last output", ReturnSequences: false, Ragged: true, Norm: preset);
        yield return new Case("dropout", Dropout: 0.4);
        yield return new Case("recurrent dropout", RecurrentDropout: 0.4);
        yield return new Case("both dropouts, tf-addons, ragged", Dropout: 0.3, RecurrentDropout: 0.3, Ragged: true, Norm: CellNormalization.TfAddons);
        yield return new Case("everything, goBackwards", GoBackwards: true, Ragged: true, Dropout: 0.25, RecurrentDropout: 0.25,
            Norm: new CellNormalization(GateNormalization.Summed, CellStateNormalization.Recurrent, Hidden: true, Epsilon: 1e-5));
    }

    [TestCaseSource(nameof(Cases))]
    public void Backward_MatchesFiniteDifferences(Case testCase)
    {
        var harness = new LstmHarness(testCase);
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    // Wide enough weight gradients are taken as their transposes (Lstm.AddWeightGradient): forced here, this small layer
    // takes that path too, for every option (dropout's per-gate and per-mask products included).
    [TestCaseSource(nameof(Cases))]
    public void Backward_WithTheWeightGradientsTakenTransposed_MatchesFiniteDifferences(Case testCase)
    {
        var harness = new LstmHarness(testCase, WeightGradientForm.Transposed);
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    // The input gradient taken as its transpose and added row by row into the batch-first gradient (Lstm.Backward, for
    // input widths just past a multiple of 32): forced here for every option.
    [TestCaseSource(nameof(Cases))]
    public void Backward_WithTheInputGradientTakenTransposed_MatchesFiniteDifferences(Case testCase)
    {
        var harness = new LstmHarness(testCase, inputGradient: WeightGradientForm.Transposed);
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    // Both weight gradients taken as transposes, on one thread: where the gate gradients serve both (no dropout, no
    // separate gate norms) they are one product with the gate gradients packed once (GemmPacked.MultiplyStacked).
    [TestCaseSource(nameof(Cases))]
    public void Backward_WithBothWeightGradientsInOneProduct_MatchesFiniteDifferences(Case testCase)
    {
        var harness = new LstmHarness(testCase, WeightGradientForm.Transposed, splitProducts: false);
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    [Test]
    public void Checker_ReportsADeliberatelyBrokenGradientElement()
    {
        var harness = new LstmHarness(new Case("broken", Norm: CellNormalization.TfAddons));
        List<CheckedTensor> tensors = harness.AnalyticGradients();
        CheckedTensor recurrent = tensors.Single(t => t.Name == "weight_hh");
        Assert.That(GradientChecker.FindMismatches(harness.Loss, tensors), Is.Empty, "the unbroken gradient must pass first");
        recurrent.Analytic[5] += 1e-4;   // one wrong term in one element
        List<GradientMismatch> mismatches = GradientChecker.FindMismatches(harness.Loss, tensors);
        Assert.That(mismatches, Has.Count.EqualTo(1));
        Assert.That(mismatches[0].Name, Is.EqualTo("weight_hh"));
        Assert.That(mismatches[0].Index, Is.EqualTo(5));
    }

    [Test]
    public void Backward_CalledTwice_DoublesTheGradients()
    {
        var harness = new LstmHarness(new Case("twice", Ragged: true, Norm: CellNormalization.BaEtAl2016));
        List<CheckedTensor> once = harness.AnalyticGradients();
        List<CheckedTensor> twice = harness.AnalyticGradients(backwardCalls: 2);
        for (int k = 0; k < once.Count; k++)
            for (int j = 0; j < once[k].Analytic.Length; j++)
                Assert.That(twice[k].Analytic[j], Is.EqualTo(2 * once[k].Analytic[j]).Within(1e-12 + 1e-12 * Math.Abs(once[k].Analytic[j])), once[k].Name);
    }

    /// <summary>A small LSTM with random parameters, inputs, masks and states, and the probe loss over all its outputs.</summary>
    internal sealed class LstmHarness
    {
        private const int Batch = 3, Time = 4, Features = 3, Units = 3;
        private readonly Case testCase;
        private readonly Lstm<double> layer;
        private readonly LstmCache<double> cache = new();
        private readonly double[] input, initialH, initialC, outputWeights, finalHWeights, finalCWeights;
        private readonly bool[] mask;
        private readonly double[] output, finalH, finalC;

        public LstmHarness(Case testCase, WeightGradientForm weightGradients = WeightGradientForm.Auto, WeightGradientForm inputGradient = WeightGradientForm.Auto,
            bool splitProducts = true)
        {
            this.testCase = testCase;
            layer = new Lstm<double>(Units, testCase.ReturnSequences, testCase.GoBackwards, testCase.Dropout, testCase.RecurrentDropout, testCase.Norm, zeroOutputForMask: testCase.ZeroOutput);
            layer.WeightGradients = weightGradients;
            layer.SplitProducts = splitProducts;
            layer.InputGradientForm = inputGradient;
            layer.Build(LayerShape.Sequence(Features), new Random(1));
            int seed = 10;
            foreach (Parameter<double> p in layer.Parameters)
            {
                double[] noise = GradientChecker.RandomValues(p.Length, seed++, 0.5);
                for (int k = 0; k < p.Length; k++) p.Value[k] += noise[k];
            }
            input = GradientChecker.RandomValues(Batch * Time * Features, 2);
            initialH = testCase.InitialState ? GradientChecker.RandomValues(Batch * Units, 3, 0.5) : Array.Empty<double>();
            initialC = testCase.InitialState ? GradientChecker.RandomValues(Batch * Units, 4, 0.5) : Array.Empty<double>();
            mask = Array.Empty<bool>();
            if (testCase.Ragged)
            {
                // Lengths 4, 2, 1, plus a hole in the middle of the first sequence (Keras masks need not be a prefix).
                mask = new bool[Batch * Time];
                int[] lengths = { 4, testCase.EmptyRow ? 0 : 2, 1 };
                for (int b = 0; b < Batch; b++) for (int t = 0; t < lengths[b]; t++) mask[b * Time + t] = true;
                mask[0 * Time + 2] = false;
            }
            int outLength = layer.OutputLength(Batch, Time);
            output = new double[outLength];
            finalH = new double[Batch * Units];
            finalC = new double[Batch * Units];
            outputWeights = GradientChecker.ProbeWeights(outLength, 5);
            finalHWeights = GradientChecker.ProbeWeights(Batch * Units, 6);
            finalCWeights = GradientChecker.ProbeWeights(Batch * Units, 7);
        }

        private ForwardContext Context => testCase.Dropout > 0 || testCase.RecurrentDropout > 0
            ? new ForwardContext(true, new Random(99))   // the same masks on every call
            : ForwardContext.Inference;

        public double Loss()
        {
            layer.Forward(new SequenceBatch<double>(input, Batch, Time, mask), initialH, initialC, output, finalH, finalC, cache, Context);
            return GradientChecker.Dot(output, outputWeights) + GradientChecker.Dot(finalH, finalHWeights) + GradientChecker.Dot(finalC, finalCWeights);
        }

        public List<CheckedTensor> AnalyticGradients(int backwardCalls = 1)
        {
            foreach (Parameter<double> p in layer.Parameters) p.ZeroGradient();
            var dInput = new double[input.Length];
            var dH0 = new double[initialH.Length];
            var dC0 = new double[initialC.Length];
            Loss();
            for (int call = 0; call < backwardCalls; call++)
                layer.Backward(outputWeights, finalHWeights, finalCWeights, cache, dInput, dH0, dC0);
            var tensors = new List<CheckedTensor> { new("input", input, dInput) };
            if (testCase.InitialState)
            {
                tensors.Add(new("initialH", initialH, dH0));
                tensors.Add(new("initialC", initialC, dC0));
            }
            foreach (Parameter<double> p in layer.Parameters) tensors.Add(new(p.Name, p.Value, (double[])p.Gradient.Clone()));
            return tensors;
        }
    }
}
