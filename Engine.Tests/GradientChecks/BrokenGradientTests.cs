using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;

namespace NumLstm.Tests.GradientChecks;

/// <summary>
/// The checks can fail, for every backward pass family: each test first passes the unbroken analytic gradient, then
/// puts one wrong term into one element of chosen tensors (the term's size just past the tolerance of that element)
/// and asserts the checker reports exactly those elements, no more and no fewer. Families: the LSTM cell under every
/// cell LayerNorm preset (each of its LayerNorms' γ and β), LayerNorm (center and scale on and off), Dense (every
/// activation), Bidirectional (every merge mode, both directions' weights) and every loss in both of its input forms.
/// </summary>
public class BrokenGradientTests
{
    /// <summary>Passes clean, then breaks element index of each named tensor and expects exactly those mismatches.</summary>
    internal static void AssertCheckerCatches(Func<double> loss, List<CheckedTensor> tensors, IReadOnlyList<(string Name, int Index)> breaks)
    {
        List<GradientMismatch> clean = GradientChecker.FindMismatches(loss, tensors);
        Assert.That(clean, Is.Empty, () => "the unbroken gradient must pass first:\n" + string.Join("\n", clean.Take(10)));
        foreach ((string name, int index) in breaks)
        {
            CheckedTensor tensor = tensors.Single(t => t.Name == name);
            // One wrong term: twice the tolerance at this element, so a checker 2× looser would miss it.
            double a = tensor.Analytic[index];
            tensor.Analytic[index] = a + 2 * (GradientChecker.AbsoluteTolerance + GradientChecker.RelativeTolerance * Math.Abs(a));
        }
        List<GradientMismatch> found = GradientChecker.FindMismatches(loss, tensors);
        Assert.That(found.Select(m => (m.Name, m.Index)), Is.EquivalentTo(breaks), () => string.Join("\n", found));
    }

    public static IEnumerable<TestCaseData> CellPresets()
        => CellNormalization.Presets.Select(p => new TestCaseData(p.Key, p.Value).SetArgDisplayNames(p.Key));

    // The LSTM cell under every preset: one element of each of its cell LayerNorms' γ and β, of both weights, the bias, the
    // input and the initial states.
    [TestCaseSource(nameof(CellPresets))]
    public void LstmCell_EveryPreset_BrokenElementsAreReported(string name, CellNormalization preset)
    {
        var harness = new LstmGradientTests.LstmHarness(new LstmGradientTests.Case(name, Ragged: true, Norm: preset));
        List<CheckedTensor> tensors = harness.AnalyticGradients();
        var breaks = tensors.Select((t, k) => (t.Name, Index: (3 * k + 1) % t.Values.Length)).ToList();
        Assert.That(breaks.Count(b => b.Name.StartsWith("layernorm", StringComparison.Ordinal)),
            Is.EqualTo(2 * ((preset.Gates == GateNormalization.Separate ? 2 : preset.Gates == GateNormalization.Summed ? 1 : 0)
                + (preset.CellState != CellStateNormalization.None ? 1 : 0) + (preset.Hidden ? 1 : 0))), "every cell LayerNorm's γ and β");
        AssertCheckerCatches(harness.Loss, tensors, breaks);
    }

    public static IEnumerable<TestCaseData> LayerCases()
    {
        yield return Layer("layer norm", false, LayerSpec.LayerNorm());
        yield return Layer("layer norm, no center", false, LayerSpec.LayerNorm(center: false));
        yield return Layer("layer norm, no scale", false, LayerSpec.LayerNorm(scale: false));
        yield return Layer("layer norm, neither", false, LayerSpec.LayerNorm(center: false, scale: false));
        foreach (Activation activation in Enum.GetValues<Activation>())
            yield return Layer($"dense {activation}", false, LayerSpec.Dense(3, activation));
        yield return Layer("dense without bias", false, LayerSpec.Dense(3, Activation.Tanh, useBias: false));
        foreach (MergeMode merge in Enum.GetValues<MergeMode>())
        {
            yield return Layer($"bidirectional {merge}, sequences", true, LayerSpec.Bidirectional(LayerSpec.Lstm(2, returnSequences: true), merge));
            yield return Layer($"bidirectional {merge}, last", true, LayerSpec.Bidirectional(LayerSpec.Lstm(2), merge));
        }
    }

    private static TestCaseData Layer(string label, bool ragged, LayerSpec layer)
        => new TestCaseData(new ModelSpec { InputFeatures = 3, Seed = 3, Layers = new[] { layer } }, ragged).SetArgDisplayNames(label);

    // LayerNorm, Dense and Bidirectional: one element of the input gradient and of every parameter.
    [TestCaseSource(nameof(LayerCases))]
    public void Layer_BrokenElementsAreReported(ModelSpec spec, bool ragged)
    {
        var harness = new ModelGradientTests.ModelHarness(spec, ragged);
        List<CheckedTensor> tensors = harness.AnalyticGradients();
        var breaks = tensors.Select((t, k) => (t.Name, Index: (5 * k + 2) % t.Values.Length)).ToList();
        AssertCheckerCatches(harness.Loss, tensors, breaks);
    }

    // A whole term left out: LayerNorm's dx = inv·(g − mean(g) − x̂·mean(g ⊙ x̂)) with g = γ ⊙ dy (L4 in docs/math.md),
    // without its last term (x̂ and inv recomputed here from x). Every element of dx must then fail; dγ and dβ still pass.
    [Test]
    public void LayerNorm_WithoutTheNormalizedProjectionTerm_FailsEveryInputElement()
    {
        const int rows = 4, features = 5;
        const double epsilon = 1e-3;
        double[] x = GradientChecker.RandomValues(rows * features, 61, 2), probe = GradientChecker.ProbeWeights(rows * features, 62);
        var norm = new LayerNorm<double>(epsilon);
        norm.Build(LayerShape.Sequence(features), new Random(3));
        GradientChecker.RandomValues(features, 63).CopyTo(norm.Gamma!.Value, 0);
        GradientChecker.RandomValues(features, 64).CopyTo(norm.Beta!.Value, 0);
        var cache = norm.CreateCache();
        double[] y = new double[x.Length], dx = new double[x.Length];
        double Loss()
        {
            norm.Forward(new SequenceBatch<double>(x, rows, 1, default), y, cache, ForwardContext.Inference);
            return GradientChecker.Dot(y, probe);
        }
        Loss();
        norm.Backward(probe, cache, dx);
        var tensors = new List<CheckedTensor>
        {
            new("x", x, dx), new("gamma", norm.Gamma.Value, (double[])norm.Gamma.Gradient.Clone()), new("beta", norm.Beta.Value, (double[])norm.Beta.Gradient.Clone()),
        };
        Assert.That(GradientChecker.FindMismatches(Loss, tensors), Is.Empty, "the unbroken gradient must pass first");

        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<double> row = x.AsSpan(r * features, features);
            double mean = row.ToArray().Average(), variance = row.ToArray().Select(v => (v - mean) * (v - mean)).Average();
            double inv = 1 / Math.Sqrt(variance + epsilon);
            double[] normalized = row.ToArray().Select(v => (v - mean) * inv).ToArray();
            double projection = 0;
            for (int j = 0; j < features; j++) projection += norm.Gamma.Value[j] * probe[r * features + j] * normalized[j] / features;
            for (int j = 0; j < features; j++) dx[r * features + j] += inv * normalized[j] * projection;   // the term taken back out
        }
        List<GradientMismatch> found = GradientChecker.FindMismatches(Loss, tensors);
        Assert.That(found.Select(m => m.Name), Is.All.EqualTo("x"), () => string.Join("\n", found));
        Assert.That(found, Has.Count.EqualTo(rows * features), () => string.Join("\n", found));
    }

    // Dropout's dx = dy ⊙ m with m = 0 or 1/(1 − rate) ((DO2) in docs/math.md), broken two ways: without the mask (dy
    // scaled everywhere), which must fail exactly the dropped elements, and without the scale (dy where kept), which must
    // fail exactly the kept ones. The harness's training pass reseeds from Random(7), so every evaluation has one mask.
    [Test]
    public void Dropout_WithoutTheMaskOrWithoutTheScale_FailsExactlyTheDroppedOrTheKeptElements()
    {
        const double rate = 0.4;
        var spec = new ModelSpec { InputFeatures = 5, Seed = 3, Layers = new[] { LayerSpec.DropoutLayer(rate), LayerSpec.Dense(2, Activation.Tanh) } };
        var harness = new ModelGradientTests.ModelHarness(spec, ragged: false);
        List<CheckedTensor> tensors = harness.AnalyticGradients();
        Assert.That(GradientChecker.FindMismatches(harness.Loss, tensors), Is.Empty, "the unbroken gradient must pass first");
        var layer = (Dropout<double>)harness.Model.Layers[0];
        harness.Loss();
        double[] mask = ((DropoutCache<double>)harness.Cache.LayerCaches[0]).Mask.ToArray();
        int[] dropped = Enumerable.Range(0, mask.Length).Where(k => mask[k] == 0).ToArray(), kept = Enumerable.Range(0, mask.Length).Where(k => mask[k] != 0).ToArray();
        Assert.That(dropped, Is.Not.Empty);
        Assert.That(kept, Is.Not.Empty);
        Assert.That(layer.Rate, Is.EqualTo(rate));

        // dL/dy of the Dense's input, from the clean gradient: dx = dy ⊙ m, so dy = dx / m where kept (the dropped ones'
        // dy is recovered from the Dense directly: the gradient of the same model without the dropout layer at x ⊙ m).
        CheckedTensor input = tensors.Single(t => t.Name == "input");
        double[] clean = (double[])input.Analytic.Clone();
        double[] dy = UpstreamGradient(harness, mask);
        for (int k = 0; k < mask.Length; k++) Assert.That(clean[k], Is.EqualTo(dy[k] * mask[k]).Within(1e-12 * (1 + Math.Abs(dy[k]))), $"dx[{k}] = dy ⊙ m");

        for (int k = 0; k < mask.Length; k++) input.Analytic[k] = dy[k] / (1 - rate);   // without the mask
        List<GradientMismatch> found = GradientChecker.FindMismatches(harness.Loss, tensors);
        Assert.That(found.Select(m => (m.Name, m.Index)), Is.EquivalentTo(dropped.Select(k => ("input", k))), () => string.Join("\n", found.Take(10)));

        for (int k = 0; k < mask.Length; k++) input.Analytic[k] = mask[k] == 0 ? 0 : dy[k];   // without the scale
        found = GradientChecker.FindMismatches(harness.Loss, tensors);
        Assert.That(found.Select(m => (m.Name, m.Index)), Is.EquivalentTo(kept.Select(k => ("input", k))), () => string.Join("\n", found.Take(10)));
    }

    // Masking's dx = dy·m ((MK2) in docs/math.md), broken from the dy it received (the gradient at its output, which
    // Sequential.Backward leaves in the cache for the first layer): dy passed on at the masked steps too, which must fail
    // the exactly-zero assertion at exactly the masked input elements; and dy dropped at kept steps, at one (row 1 step 2,
    // a kept step holding the mask value at two of its three values) and then at all, which must fail the central
    // differences at exactly those steps' elements. A LayerNorm or a Dense after the Masking reads the masked steps, so
    // dy is not 0 there (after an LSTM it is: the LSTM skips them, and a dy passed on would add 0 and go unseen).
    public static IEnumerable<TestCaseData> MaskingCases()
    {
        yield return new TestCaseData(new ModelSpec { InputFeatures = 3, Seed = 3, Layers = new[] { LayerSpec.Masking(0), LayerSpec.LayerNorm(), LayerSpec.Dense(2, Activation.Tanh) } }, true)
            .SetArgDisplayNames("masking(0), layer norm, dense on sequences, the caller's ragged mask replaced");
        yield return new TestCaseData(new ModelSpec { InputFeatures = 3, Seed = 3, Layers = new[] { LayerSpec.Masking(-1), LayerSpec.Dense(3, Activation.Tanh) } }, false)
            .SetArgDisplayNames("masking(-1), dense on sequences");
    }

    [TestCaseSource(nameof(MaskingCases))]
    public void Masking_DyPassedToMaskedSteps_OrDroppedAtKeptSteps_FailsExactlyThoseElements(ModelSpec spec, bool ragged)
    {
        ModelGradientTests.ModelHarness harness = ModelGradientTests.MaskedInput.Harness(spec, ragged, out Func<string, int, bool> masked);
        List<CheckedTensor> tensors = harness.AnalyticGradients();
        List<GradientMismatch> clean = GradientChecker.FindMismatches(harness.Loss, tensors, masked);
        Assert.That(clean, Is.Empty, () => "the unbroken gradient must pass first:\n" + string.Join("\n", clean.Take(10)));
        double[] dy = harness.Cache.Gradients[0].ToArray();
        CheckedTensor input = tensors.Single(t => t.Name == "input");
        int f = spec.InputFeatures, t = ModelGradientTests.ModelHarness.Time;
        int[] maskedElements = Enumerable.Range(0, input.Values.Length).Where(k => masked("input", k)).ToArray();
        int[] kept = Enumerable.Range(0, input.Values.Length).Where(k => !masked("input", k)).ToArray();
        Assert.That(maskedElements, Has.Length.EqualTo(ModelGradientTests.MaskedInput.Padded.Length * f));
        Assert.That(kept, Has.Length.EqualTo((ModelGradientTests.MaskedInput.Batch * t - ModelGradientTests.MaskedInput.Padded.Length) * f));
        // The clean dx is dy·m bit for bit: dy where kept, 0 where masked, and dy is not 0 at any masked element.
        foreach (int k in kept) Assert.That(BitConverter.DoubleToInt64Bits(input.Analytic[k]), Is.EqualTo(BitConverter.DoubleToInt64Bits(dy[k])), $"dx[{k}] = dy (kept)");
        foreach (int k in maskedElements) Assert.That(input.Analytic[k], Is.EqualTo(0.0), $"dx[{k}] = dy·0 (masked)");
        Assert.That(maskedElements.Select(k => dy[k]), Has.None.EqualTo(0.0), "dy at the masked steps");
        double[] cleanDx = (double[])input.Analytic.Clone();

        // (a) dx += dy everywhere: the exactly-zero assertion fails at every masked element, and nothing else fails.
        dy.CopyTo(input.Analytic, 0);
        List<GradientMismatch> found = GradientChecker.FindMismatches(harness.Loss, tensors, masked);
        Assert.That(found.Select(m => (m.Name, m.Index)), Is.EquivalentTo(maskedElements.Select(k => ("input", k))), () => string.Join("\n", found.Take(10)));

        // (b) dy dropped at one kept step: its f elements fail the central differences.
        cleanDx.CopyTo(input.Analytic, 0);
        int step = 1 * t + 2;
        int[] stepElements = Enumerable.Range(step * f, f).ToArray();
        Assert.That(stepElements, Is.SubsetOf(kept));
        foreach (int k in stepElements) input.Analytic[k] = 0;
        found = GradientChecker.FindMismatches(harness.Loss, tensors, masked);
        Assert.That(found.Select(m => (m.Name, m.Index)), Is.EquivalentTo(stepElements.Select(k => ("input", k))), () => string.Join("\n", found.Take(10)));

        // (b') dy dropped at every kept step (dx = 0 everywhere): exactly the kept elements fail.
        Array.Clear(input.Analytic);
        found = GradientChecker.FindMismatches(harness.Loss, tensors, masked);
        Assert.That(found.Select(m => (m.Name, m.Index)), Is.EquivalentTo(kept.Select(k => ("input", k))), () => string.Join("\n", found.Take(10)));
        TestContext.Out.WriteLine($"masked elements failing (a): {maskedElements.Length}; one kept step dropped (b): {stepElements.Length}; every kept step dropped: {kept.Length}");
    }

    /// <summary>dL/dy at the Dropout's output: the input gradient of the model after it (its Dense) at y = x ⊙ m.</summary>
    private static double[] UpstreamGradient(ModelGradientTests.ModelHarness harness, double[] mask)
    {
        Sequential<double> model = harness.Model;
        var dense = (Dense<double>)model.Layers[1];
        var cache = dense.CreateCache();
        double[] x = harness.Input, y = new double[x.Length], dy = new double[x.Length];
        for (int k = 0; k < x.Length; k++) y[k] = x[k] * mask[k];
        var output = new double[dense.OutputLength(harness.Batch, ModelGradientTests.ModelHarness.Time)];
        dense.Forward(new SequenceBatch<double>(y, harness.Batch, ModelGradientTests.ModelHarness.Time, default), output, cache, ForwardContext.Inference);
        double[] saved = dense.Parameters.SelectMany(p => p.Gradient).ToArray();
        dense.Backward(harness.OutputWeights, cache, dy);
        int at = 0;
        foreach (Parameter<double> p in dense.Parameters) { saved.AsSpan(at, p.Length).CopyTo(p.Gradient); at += p.Length; }
        return dy;
    }

    public static IEnumerable<TestCaseData> LossCases()
    {
        double[] logits = GradientChecker.RandomValues(12, 41, 2);
        double[] probabilities = GradientChecker.RandomValues(12, 42).Select(v => 0.3 + 0.25 * v).ToArray();   // in (0.05, 0.55)
        double[] targets = GradientChecker.RandomValues(12, 43).Select(v => 0.5 + 0.5 * v).ToArray();        // in [0, 1]
        int[] labels = [2, 0, 3];
        yield return LossCase("mse", logits, (x, g) => new MeanSquaredError<double>().Forward(x, targets, g));
        // targets ± 1.5 away: no element near |x − y| = 0, the kink.
        double[] far = targets.Select((t, k) => t + (k % 2 == 0 ? 1.5 : -1.5) + 0.1 * logits[k]).ToArray();
        yield return LossCase("mae", far, (x, g) => new MeanAbsoluteError<double>().Forward(x, targets, g));
        // |x − y| in [1.3, 1.7]: Huber linear everywhere at δ = 1, quadratic everywhere at δ = 2; MAPE away from its kink.
        yield return LossCase("huber δ 1", far, (x, g) => new Huber<double>(1.0).Forward(x, targets, g));
        yield return LossCase("huber δ 2", far, (x, g) => new Huber<double>(2.0).Forward(x, targets, g));
        yield return LossCase("mape", far, (x, g) => new MeanAbsolutePercentageError<double>().Forward(x, targets, g));
        yield return LossCase("log_cosh", logits, (x, g) => new LogCosh<double>().Forward(x, targets, g));
        yield return LossCase("msle", probabilities, (x, g) => new MeanSquaredLogarithmicError<double>().Forward(x, targets, g));   // p above ε
        foreach (double ls in new[] { 0.0, 0.2 })
        {
            yield return LossCase($"sparse ce, logits, ls {ls}", logits, (x, g) => new SoftmaxCrossEntropy<double>(true, ls).Forward(x, labels, g));
            yield return LossCase($"sparse ce, probabilities, ls {ls}", probabilities, (x, g) => new SoftmaxCrossEntropy<double>(false, ls).Forward(x, labels, g));
            yield return LossCase($"categorical ce, logits, ls {ls}", logits, (x, g) => new CategoricalCrossEntropy<double>(true, ls).Forward(x, targets, 3, g));
            yield return LossCase($"categorical ce, probabilities, ls {ls}", probabilities, (x, g) => new CategoricalCrossEntropy<double>(false, ls).Forward(x, targets, 3, g));
            yield return LossCase($"binary ce, logits, ls {ls}", logits, (x, g) => new BinaryCrossEntropy<double>(true, ls).Forward(x, targets, g));
            yield return LossCase($"binary ce, probabilities, ls {ls}", probabilities, (x, g) => new BinaryCrossEntropy<double>(false, ls).Forward(x, targets, g));
        }
    }

    public delegate double LossForward(ReadOnlySpan<double> predictions, Span<double> gradient);

    private static TestCaseData LossCase(string label, double[] point, LossForward forward) => new TestCaseData(point, forward).SetArgDisplayNames(label);

    // Every loss, both input forms of the cross-entropies, with and without label smoothing: the float64 checker passes
    // its gradient and reports one broken element of it.
    [TestCaseSource(nameof(LossCases))]
    public void Loss_BrokenElementIsReported(double[] point, LossForward forward)
    {
        double[] predictions = (double[])point.Clone();
        double[] analytic = new double[predictions.Length];
        forward(predictions, analytic);
        var tensors = new List<CheckedTensor> { new("predictions", predictions, analytic) };
        AssertCheckerCatches(() => forward(predictions, Span<double>.Empty), tensors, new[] { ("predictions", 7) });
    }
}
