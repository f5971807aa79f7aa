using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.GradientChecks;

/// <summary>Float64 central-difference checks for Dense, LayerNorm, Bidirectional and whole stacks, through Sequential.</summary>
public class ModelGradientTests
{
    public static IEnumerable<TestCaseData> LayerCases()
    {
        foreach (Activation activation in Enum.GetValues<Activation>())
        {
            yield return Case($"dense {activation} on sequences", LayerSpec.Dense(3, activation), sequenceInput: true);
            yield return Case($"dense {activation} on vectors", LayerSpec.Lstm(3), LayerSpec.Dense(4, activation));
        }
        yield return Case("dense without bias", LayerSpec.Dense(3, Activation.Tanh, useBias: false));
        yield return Case("layer norm", LayerSpec.LayerNorm());
        yield return Case("layer norm eps 1e-5", LayerSpec.LayerNorm(1e-5));
        yield return Case("layer norm no center", LayerSpec.LayerNorm(center: false));
        yield return Case("layer norm no scale", LayerSpec.LayerNorm(scale: false));
        yield return Case("layer norm neither", LayerSpec.LayerNorm(center: false, scale: false));
        yield return Case("layer norm on vectors", LayerSpec.Lstm(3), LayerSpec.LayerNorm());
        foreach (MergeMode merge in Enum.GetValues<MergeMode>())
        {
            yield return Case($"bidirectional {merge}, sequences, ragged", ragged: true, layers: LayerSpec.Bidirectional(LayerSpec.Lstm(3, returnSequences: true), merge));
            yield return Case($"bidirectional {merge}, last, ragged", ragged: true, layers: LayerSpec.Bidirectional(LayerSpec.Lstm(3), merge));
        }
        yield return Case("bidirectional, tf-addons cell, dropouts", ragged: true,
            layers: LayerSpec.Bidirectional(LayerSpec.Lstm(2, true, 0.3, 0.3, CellNormalization.TfAddons)));
        // Dropout in training (the harness's Random(7) at every evaluation, so the ± evaluations share the mask).
        yield return Case("dropout on sequences", LayerSpec.DropoutLayer(0.4), LayerSpec.Dense(2, Activation.Tanh));
        yield return Case("dropout on vectors", LayerSpec.Lstm(3), LayerSpec.DropoutLayer(0.5), LayerSpec.Dense(2));
        yield return Case("dropout between lstms, ragged", ragged: true, layers: new[] { LayerSpec.DropoutLayer(0.3), LayerSpec.Lstm(3, true, 0.2, 0.2), LayerSpec.DropoutLayer(0.5), LayerSpec.Lstm(2) });
        yield return Case("dropout rate 0 in training", LayerSpec.DropoutLayer(0), LayerSpec.Dense(2));
        yield return Case("stacked lstms", ragged: true, layers: new[] { LayerSpec.Lstm(3, true), LayerSpec.Lstm(2, true, cell: CellNormalization.KerasSnippet), LayerSpec.Lstm(2) });
    }

    public static IEnumerable<TestCaseData> PlacementCases()
    {
        // The seed model (BiLSTM → LN → BiLSTM → LN → Dense, dropout and recurrent dropout 0.4), scaled down, under every placement.
        var stack = new StackSpec(InputFeatures: 3, Units: new[] { 2, 3 }, Bidirectional: true, Dropout: 0.4, RecurrentDropout: 0.4, OutputUnits: 2);
        foreach (LayerNormPlacement placement in LayerNormPlacement.All)
            yield return new TestCaseData(stack.WithPlacement(placement), true).SetArgDisplayNames($"seed model, {placement.Name}");
        // in-cell+after with the presets LayerNormPlacement.All leaves out (it takes keras-gates only), with three units in
        // each layer: at two, tf-addons' LayerNorm of c over two units is nearly x ↦ sign(x₁ − x₂) where x₁ ≈ x₂, and
        // there input[26]'s central difference at step 1e-5 is off by 1.3e-4 from its limit (the analytic 5.0330809095;
        // the fourth-order difference gives 5.0330808973 at 1e-5, the central one 5.0330809243 at 1e-7).
        var wide = stack with { Units = new[] { 3, 3 } };
        foreach (var (name, preset) in CellNormalization.Presets.Where(p => p.Key is not "none" and not "keras-gates"))
            yield return new TestCaseData(wide.WithPlacement(LayerNormPlacement.InCellAndAfterEach(preset)), true).SetArgDisplayNames($"seed model 3+3, in-cell+after:{name}");
        // The placements with a sequence output (a Dense per step) and a LayerNorm epsilon other than Keras's.
        var sequenceStack = stack with { SequenceOutput = true, LayerNormEpsilon = 1e-5 };
        foreach (LayerNormPlacement placement in new[] { LayerNormPlacement.AfterEachRecurrent, LayerNormPlacement.BeforeDenseOnly, LayerNormPlacement.BeforeEachRecurrent })
            yield return new TestCaseData(sequenceStack.WithPlacement(placement), true).SetArgDisplayNames($"seed model, sequence output, eps 1e-5, {placement.Name}");
        var deep = new StackSpec(3, new[] { 2, 2, 2, 2 }, Bidirectional: false, OutputUnits: 3);
        yield return new TestCaseData(deep.WithPlacement(LayerNormPlacement.InCellAndAfterEach(CellNormalization.BaEtAl2016)), true).SetArgDisplayNames("depth 4, in-cell+after ba2016");
    }

    private static TestCaseData Case(string label, params LayerSpec[] layers) => Case(label, false, layers);

    private static TestCaseData Case(string label, LayerSpec layer, bool sequenceInput) => Case(label, false, new[] { layer });

    private static TestCaseData Case(string label, bool ragged, params LayerSpec[] layers)
        => new TestCaseData(new ModelSpec { InputFeatures = 3, Seed = 3, Layers = layers }, ragged).SetArgDisplayNames(label);

    [TestCaseSource(nameof(LayerCases))]
    public void Layer_Backward_MatchesFiniteDifferences(ModelSpec spec, bool ragged) => Check(spec, ragged);

    [TestCaseSource(nameof(PlacementCases))]
    public void Placement_Backward_MatchesFiniteDifferences(ModelSpec spec, bool ragged) => Check(spec, ragged);

    // A batch row with no valid step, which Keras allows (the recurrent layers output their initial state, zeros, for
    // it): the seed model under every placement, and a stack of plain LSTMs returning sequences.
    public static IEnumerable<TestCaseData> FullyMaskedRowCases()
    {
        var stack = new StackSpec(InputFeatures: 3, Units: new[] { 2, 3 }, Bidirectional: true, Dropout: 0.4, RecurrentDropout: 0.4, OutputUnits: 2);
        foreach (LayerNormPlacement placement in LayerNormPlacement.All)
            yield return new TestCaseData(stack.WithPlacement(placement)).SetArgDisplayNames($"seed model, {placement.Name}");
        yield return new TestCaseData(new ModelSpec { InputFeatures = 3, Seed = 3, Layers = new[] { LayerSpec.Lstm(3, true), LayerSpec.LayerNorm(), LayerSpec.Dense(2, Activation.Tanh) } })
            .SetArgDisplayNames("lstm sequences, layer norm, dense on sequences");
    }

    [TestCaseSource(nameof(FullyMaskedRowCases))]
    public void FullyMaskedRow_Backward_MatchesFiniteDifferences(ModelSpec spec)
    {
        var harness = new ModelHarness(spec, ragged: true, emptyRow: true);
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    [Test]
    public void Bidirectional_SequentialAndParallelDirections_GiveIdenticalGradients()
    {
        var spec = new ModelSpec { InputFeatures = 3, Layers = new[] { LayerSpec.Bidirectional(LayerSpec.Lstm(3, true, 0.2, 0.2)) } };
        double[] Gradients(bool parallel)
        {
            var harness = new ModelHarness(spec, ragged: true);
            ((Bidirectional<double>)harness.Model.Layers[0]).ParallelDirections = parallel;
            return harness.AnalyticGradients().SelectMany(t => t.Analytic).ToArray();
        }
        Assert.That(Gradients(true), Is.EqualTo(Gradients(false)));
    }

    // Every merge mode with the directions one after the other on this thread (ParallelDirections off; the checks above
    // run them side by side where there is a second core), and at batch 8 side by side, where the direction done first
    // takes the second half of the other's rows for the steps left of its time loops (DirectionBalance: forward for every
    // cell, backward for the plain cell) and row blocks of its products after the backward loop (SharedProduct).
    public static IEnumerable<TestCaseData> BidirectionalPathCases()
    {
        foreach (MergeMode merge in Enum.GetValues<MergeMode>())
        {
            yield return new TestCaseData(LayerSpec.Bidirectional(LayerSpec.Lstm(3, returnSequences: true), merge), false, 3)
                .SetArgDisplayNames($"{merge}, sequences, directions in turn");
            yield return new TestCaseData(LayerSpec.Bidirectional(LayerSpec.Lstm(3), merge), false, 3).SetArgDisplayNames($"{merge}, last, directions in turn");
            yield return new TestCaseData(LayerSpec.Bidirectional(LayerSpec.Lstm(3, returnSequences: true), merge), true, 8)
                .SetArgDisplayNames($"{merge}, sequences, batch 8, directions side by side");
        }
        yield return new TestCaseData(LayerSpec.Bidirectional(LayerSpec.Lstm(2, false, 0.3, 0.3, CellNormalization.TfAddons)), false, 3)
            .SetArgDisplayNames("tf-addons cell, dropouts, directions in turn");
        yield return new TestCaseData(LayerSpec.Bidirectional(LayerSpec.Lstm(2, true, 0.3, 0.3, CellNormalization.BaEtAl2016)), true, 8)
            .SetArgDisplayNames("ba2016 cell, dropouts, sequences, batch 8, directions side by side");
        yield return new TestCaseData(LayerSpec.Bidirectional(LayerSpec.Lstm(3, false, 0.3, 0.3)), true, 8)
            .SetArgDisplayNames("plain cell, dropouts, last, batch 8, directions side by side");
    }

    [TestCaseSource(nameof(BidirectionalPathCases))]
    public void Bidirectional_EveryMergeAndDirectionSchedule_MatchesFiniteDifferences(LayerSpec layer, bool parallel, int batch)
    {
        var spec = new ModelSpec { InputFeatures = 3, Seed = 3, Layers = new[] { layer } };
        var harness = new ModelHarness(spec, ragged: true, batch: batch, configure: model => ((Bidirectional<double>)model.Layers[0]).ParallelDirections = parallel);
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    private static void Check(ModelSpec spec, bool ragged)
    {
        var harness = new ModelHarness(spec, ragged);
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    internal sealed class ModelHarness
    {
        internal const int Time = 4;
        internal readonly int Batch;
        private readonly ModelCache<double> cache;
        private readonly double[] input, outputWeights;
        private readonly bool[] mask = Array.Empty<bool>();
        private readonly bool training;

        public ModelHarness(ModelSpec spec, bool ragged, bool emptyRow = false, int batch = 3, Action<Sequential<double>>? configure = null)
        {
            Batch = batch;
            Model = spec.Build<double>();
            configure?.Invoke(Model);
            cache = Model.CreateCache();
            int seed = 20;
            foreach (Parameter<double> p in Model.Parameters)
            {
                double[] noise = GradientChecker.RandomValues(p.Length, seed++, 0.5);
                for (int k = 0; k < p.Length; k++) p.Value[k] += noise[k];
            }
            input = GradientChecker.RandomValues(Batch * Time * spec.InputFeatures, 2);
            if (ragged)
            {
                mask = new bool[Batch * Time];
                int[] lengths = { 4, emptyRow ? 0 : 2, 3 };   // with emptyRow, row 1 has no valid step; rows past 3 repeat 4, 1, 3
                for (int b = 0; b < Batch; b++) for (int t = 0; t < (b < 3 ? lengths[b] : new[] { 4, 1, 3 }[b % 3]); t++) mask[b * Time + t] = true;
            }
            outputWeights = GradientChecker.ProbeWeights(Model.OutputLength(Batch, Time), 5);
            training = spec.Layers.Any(l => l.Dropout > 0 || l.RecurrentDropout > 0 || l.Type == "dropout");
        }

        public Sequential<double> Model { get; }
        internal ModelCache<double> Cache => cache;
        internal double[] Input => input;
        internal double[] OutputWeights => outputWeights;

        private ForwardContext Context => training ? new ForwardContext(true, new Random(7)) : ForwardContext.Inference;

        public double Loss() => GradientChecker.Dot(Model.Forward(new SequenceBatch<double>(input, Batch, Time, mask), cache, Context), outputWeights);

        public List<CheckedTensor> AnalyticGradients()
        {
            Model.ZeroGradients();
            var dInput = new double[input.Length];
            Loss();
            Model.Backward(outputWeights, cache, dInput);
            var tensors = new List<CheckedTensor> { new("input", input, dInput) };
            foreach (NamedParameter<double> p in Model.NamedParameters) tensors.Add(new(p.Name, p.Parameter.Value, (double[])p.Parameter.Gradient.Clone()));
            return tensors;
        }
    }
}
