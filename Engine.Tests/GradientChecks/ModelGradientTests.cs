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

    // Masking(v) (Keras 3): m = any(x != v) per step, y = x·m, dx += dy·m; its mask replaces the caller's. The mask is a
    // step function of x: at a masked step every value is v, and a central difference on one of them unmasks the step and
    // measures a jump. So the masked input elements get no difference; their analytic gradient must be exactly 0
    // (dy·0, as Keras' gradient of x·cast(m)). Every other input element and every parameter is differenced as usual
    // (moving a weight never changes the mask of a first-layer Masking). The input is padded as MaskedInput lays out:
    // trailing steps, a hole, a fully masked row, and kept steps holding some values equal to v.
    public static IEnumerable<TestCaseData> MaskingCases()
    {
        yield return MaskingCase("masking(0), lstm sequences, dense on sequences", 0, false, LayerSpec.Lstm(3, true), LayerSpec.Dense(2, Activation.Tanh));
        yield return MaskingCase("masking(-1), bidirectional last, dense", -1, false, LayerSpec.Bidirectional(LayerSpec.Lstm(2)), LayerSpec.Dense(2));
        yield return MaskingCase("masking(0.5), layer norm, lstm", 0.5, false, LayerSpec.LayerNorm(), LayerSpec.Lstm(3));
        // Nothing after it skips the masked steps, so dL/dy is not 0 there: only the Masking's own dy·0 makes dx 0.
        yield return MaskingCase("masking(0), layer norm, dense on sequences", 0, false, LayerSpec.LayerNorm(), LayerSpec.Dense(2, Activation.Tanh));
        // The caller's ragged mask (lengths 4, 2, 3, 4) differs from the padding at every row but the last: Masking replaces it.
        yield return MaskingCase("masking(-1) replacing the caller's ragged mask, lstm sequences, lstm", -1, true, LayerSpec.Lstm(3, true), LayerSpec.Lstm(2));
        yield return MaskingCase("masking(0) replacing the caller's ragged mask, bidirectional sequences, layer norm, dense", 0, true,
            LayerSpec.Bidirectional(LayerSpec.Lstm(2, true, 0.3, 0.3)), LayerSpec.LayerNorm(), LayerSpec.Dense(2, Activation.Tanh));
        // The seed model under every placement, a Masking first, the caller's ragged mask replaced.
        var stack = new StackSpec(InputFeatures: 3, Units: new[] { 2, 3 }, Bidirectional: true, Dropout: 0.4, RecurrentDropout: 0.4, OutputUnits: 2);
        foreach (LayerNormPlacement placement in LayerNormPlacement.All)
        {
            ModelSpec seed = stack.WithPlacement(placement);
            yield return new TestCaseData(seed with { Layers = seed.Layers.Prepend(LayerSpec.Masking(0)).ToArray() }, true)
                .SetArgDisplayNames($"masking(0) first, seed model, {placement.Name}");
        }
    }

    private static TestCaseData MaskingCase(string label, double maskValue, bool ragged, params LayerSpec[] layers)
        => new TestCaseData(new ModelSpec { InputFeatures = 3, Seed = 3, Layers = layers.Prepend(LayerSpec.Masking(maskValue)).ToArray() }, ragged).SetArgDisplayNames(label);

    [TestCaseSource(nameof(MaskingCases))]
    public void Masking_Backward_MatchesFiniteDifferences_AndIsExactlyZeroAtMaskedInputs(ModelSpec spec, bool ragged)
    {
        ModelHarness harness = MaskedInput.Harness(spec, ragged, out Func<string, int, bool> masked);
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients(), masked);
    }

    // Masking mid-model: the caller's ragged mask → LSTM(zero_output_for_mask, sequences), whose outputs at the masked
    // steps are exactly 0 → Masking(0), which recomputes the caller's mask from them (and replaces it with that). The
    // zeroed outputs stay exactly 0 under any weight or input perturbation (the LSTM skips those steps and clears their
    // outputs), and a kept step's outputs never all reach 0, so the mask is fixed and every element is differenced. One
    // kept step holds an output exactly 0 (row 0, step 0: a zero input and the unit-0 g-gate bias 0, so c = i·tanh(0) = 0):
    // a value equal to the mask value that leaves its step kept.
    [Test]
    public void Masking_AfterAnLstmZeroingTheCallersMaskedSteps_RecomputesTheMask_MatchesFiniteDifferences()
    {
        var spec = new ModelSpec
        {
            InputFeatures = 3, Seed = 3,
            Layers = new[] { LayerSpec.Lstm(3, true) with { ZeroOutputForMask = true }, LayerSpec.Masking(0), LayerSpec.Lstm(2, true), LayerSpec.Dense(2, Activation.Tanh) },
        };
        var harness = new ModelHarness(spec, ragged: true, emptyRow: true, batch: 4, prepare: (model, x) =>
        {
            x.AsSpan(0, 3).Clear();
            var lstm = (Lstm<double>)model.Layers[0];
            lstm.Bias.Value[2 * lstm.Units] = 0;
        });
        harness.Loss();
        bool[] callerMask = harness.CallerMask;
        Assert.That(callerMask, Has.Some.False);
        Assert.That(callerMask.Take(ModelHarness.Time).All(m => !m), Is.False, "row 0 has kept steps");
        Assert.That(callerMask.Skip(ModelHarness.Time).Take(ModelHarness.Time), Is.All.False, "row 1 is fully masked (emptyRow)");
        double[] lstmOut = harness.Cache.Activations[0];
        const int h = 3;
        for (int r = 0; r < callerMask.Length; r++)
        {
            double[] row = lstmOut.AsSpan(r * h, h).ToArray();
            if (!callerMask[r]) Assert.That(row, Is.All.EqualTo(0.0), $"step {r}: zero_output_for_mask");
            else if (r == 0) Assert.That(row[0] == 0 && row[1] != 0 && row[2] != 0, Is.True, $"step 0 holds one output exactly 0: {string.Join(", ", row)}");
            else Assert.That(row, Has.Some.Not.EqualTo(0.0), $"step {r}");
        }
        var masking = (Masking<double>)harness.Model.Layers[1];
        Assert.That(masking.OutputMask(harness.Cache.LayerCaches[1]).ToArray(), Is.EqualTo(callerMask), "Masking(0) recomputes the caller's mask");
        GradientChecker.AssertGradientsMatch(harness.Loss, harness.AnalyticGradients());
    }

    /// <summary>
    /// The padded input of the Masking checks, batch 4, T = 4: row 0 padded at its trailing steps 2 and 3, row 1 at a
    /// hole (step 1), row 2 at every step, row 3 nowhere; and kept steps holding some (not all) values equal to the mask
    /// value: (0, 0) value 1, (1, 2) values 0 and 2, (3, 3) value 0.
    /// </summary>
    internal static class MaskedInput
    {
        internal const int Batch = 4;
        internal static readonly (int B, int T)[] Padded = { (0, 2), (0, 3), (1, 1), (2, 0), (2, 1), (2, 2), (2, 3) };
        internal static readonly (int B, int T, int[] Features)[] Partial = { (0, 0, new[] { 1 }), (1, 2, new[] { 0, 2 }), (3, 3, new[] { 0 }) };

        /// <summary>
        /// A harness for a spec whose first layer is a Masking, its input padded with the mask value; masked says which
        /// elements are masked input values (found from the data: a step whose values all equal the mask value). Asserts
        /// the layout (every padded step masked by the layer, every other step kept, the partial steps there).
        /// </summary>
        internal static ModelHarness Harness(ModelSpec spec, bool ragged, out Func<string, int, bool> masked)
        {
            Assert.That(spec.Layers[0].Type, Is.EqualTo("masking"));
            double v = spec.Layers[0].MaskValue;
            int f = spec.InputFeatures;
            var harness = new ModelHarness(spec, ragged, batch: Batch, prepare: (_, x) => Pad(x, f, v));
            double[] x = harness.Input;
            int t = ModelHarness.Time;
            var steps = new bool[Batch * t];
            for (int r = 0; r < steps.Length; r++) steps[r] = x.AsSpan(r * f, f).ToArray().All(value => value == v);
            Assert.That(Enumerable.Range(0, steps.Length).Where(r => steps[r]), Is.EquivalentTo(Padded.Select(p => p.B * t + p.T)), "the padded steps, and only they, hold the mask value everywhere");
            foreach ((int b, int s, int[] features) in Partial)
                Assert.That(Enumerable.Range(0, f).Where(j => x[(b * t + s) * f + j] == v), Is.EqualTo(features), $"kept step ({b}, {s}) holds the mask value at some values");
            harness.Loss();
            bool[] layerMask = ((Masking<double>)harness.Model.Layers[0]).OutputMask(harness.Cache.LayerCaches[0]).ToArray();
            Assert.That(layerMask, Is.EqualTo(steps.Select(m => !m).ToArray()), "the Masking's mask");
            if (ragged) Assert.That(harness.CallerMask, Is.Not.EqualTo(layerMask), "the caller's mask differs from the one Masking replaces it with");
            masked = (name, k) => name == "input" && steps[k / f];
            return harness;
        }

        internal static void Pad(double[] x, int f, double v)
        {
            int t = ModelHarness.Time;
            foreach ((int b, int s) in Padded) x.AsSpan((b * t + s) * f, f).Fill(v);
            foreach ((int b, int s, int[] features) in Partial) foreach (int j in features) x[(b * t + s) * f + j] = v;
        }
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

        /// <param name="prepare">Runs last, on the model (its weights noised) and the input, before any evaluation: sets
        /// input values (a Masking's padding) or weights a case needs.</param>
        public ModelHarness(ModelSpec spec, bool ragged, bool emptyRow = false, int batch = 3, Action<Sequential<double>>? configure = null,
            Action<Sequential<double>, double[]>? prepare = null)
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
            prepare?.Invoke(Model, input);
        }

        public Sequential<double> Model { get; }
        internal ModelCache<double> Cache => cache;
        internal double[] Input => input;
        internal double[] OutputWeights => outputWeights;
        internal bool[] CallerMask => mask;

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
