using NumLstm.Layers;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Layers;

/// <summary>
/// The weight gradients taken as their transposes (Lstm.AddWeightGradient) against the same products taken as written,
/// at the sizes the training workloads use: the same sums in another order, so equal to float rounding; and which form
/// the layer takes by itself. (The float64 gradient checks run every cell option through the transposed form:
/// LstmGradientTests.)
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class LstmWeightGradientTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // Each parameter's gradient by name, in the layer's parameter order.
    private static Dictionary<string, T[]> Gradients(int f, int h, double dropout, double recurrentDropout, WeightGradientForm form)
    {
        var lstm = new Lstm<T>(h, returnSequences: true, dropout: dropout, recurrentDropout: recurrentDropout) { WeightGradients = form };
        TrainingStep(lstm, f);
        return lstm.Parameters.ToDictionary(p => p.Name, p => p.Gradient.ToArray());
    }

    // One forward and backward pass of B = 8, T = 40 (320 rows: two blocks of k for the product as written) into
    // gradients already holding values (a second sequence accumulating: from zero the forms give the same bits).
    // Returns the input gradient.
    internal static T[] TrainingStep(Lstm<T> lstm, int f)
    {
        const int batch = 8, time = 40;
        lstm.Build(LayerShape.Sequence(f), new Random(4));
        int seed = 20;
        foreach (Parameter<T> p in lstm.Parameters) TestArrays.Uniform<T>(p.Length, seed++, -1e-2, 1e-2).CopyTo(p.Gradient);
        T[] x = TestArrays.Uniform<T>(batch * time * f, 5), output = new T[lstm.OutputLength(batch, time)], dInput = new T[x.Length];
        var cache = lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(x, batch, time, default), output, cache, new ForwardContext(true, new Random(6)));
        lstm.Backward(TestArrays.Uniform<T>(output.Length, 7), cache, dInput);
        return dInput;
    }

    [TestCase(32, 100, 0.0, 0.0)]    // the seed model's first layer (Auto takes dU transposed, dW as written)
    [TestCase(200, 200, 0.0, 0.0)]   // its second layer (Auto: both transposed)
    [TestCase(64, 64, 0.3, 0.3)]     // per input mask and per gate with dropout
    public void TransposedWeightGradients_EqualTheProductsAsWritten_ToRounding(int f, int h, double dropout, double recurrentDropout)
    {
        Dictionary<string, T[]> transposed = Gradients(f, h, dropout, recurrentDropout, WeightGradientForm.Transposed);
        Dictionary<string, T[]> asWritten = Gradients(f, h, dropout, recurrentDropout, WeightGradientForm.AsWritten);
        double tolerance = typeof(T) == typeof(float) ? 1e-5 : 1e-13;
        foreach ((string name, T[] expected) in asWritten)
        {
            double scale = expected.Max(v => Math.Abs(double.CreateTruncating(v)));
            Assert.That(scale, Is.GreaterThan(0), $"{name} has a gradient");
            for (int j = 0; j < expected.Length; j++)
            {
                double a = double.CreateTruncating(transposed[name][j]), b = double.CreateTruncating(expected[j]);
                if (!(Math.Abs(a - b) <= tolerance * scale))
                    Assert.Fail($"{name}, element {j}: {a:R} transposed against {b:R} as written (tolerance {tolerance} × {scale:R})");
            }
        }
    }

    [Test]
    public void ByItself_TheLayerTakesTheTranspose_OnlyWhereTheGateSideIsLongAndTheOtherFrom64To256()
    {
        // 32 → 100: dU is 400 × 100 (transposed), dW 400 × 32 (as written).
        Dictionary<string, T[]> auto = Gradients(32, 100, 0, 0, WeightGradientForm.Auto);
        Dictionary<string, T[]> transposed = Gradients(32, 100, 0, 0, WeightGradientForm.Transposed);
        Dictionary<string, T[]> asWritten = Gradients(32, 100, 0, 0, WeightGradientForm.AsWritten);
        string dU = auto.Keys.Single(k => k.StartsWith("weight_hh")), dW = auto.Keys.Single(k => k.StartsWith("weight_ih"));
        Assert.That(transposed[dU], Is.Not.EqualTo(asWritten[dU]), "the two forms differ in some last bit here");
        Assert.That(auto[dU], Is.EqualTo(transposed[dU]), "dU 400 × 100: transposed");
        Assert.That(auto[dW], Is.EqualTo(asWritten[dW]), "dW 400 × 32: as written");
        // With recurrent dropout each gate's dU is 64 × 64 and, with its four input masks, each dW block 64 × 64: as written.
        Dictionary<string, T[]> autoDropout = Gradients(64, 64, 0.3, 0.3, WeightGradientForm.Auto);
        Dictionary<string, T[]> asWrittenDropout = Gradients(64, 64, 0.3, 0.3, WeightGradientForm.AsWritten);
        foreach (string name in autoDropout.Keys) Assert.That(autoDropout[name], Is.EqualTo(asWrittenDropout[name]), name);
    }
}

/// <summary>
/// The input gradient taken as its transpose (Wᵀ · dAxᵀ, then each row added into its batch-first place) gives the bits
/// of the product as written followed by the reorder, forwards and backwards, with a mask, alone (adding into a gradient
/// that holds values) and inside a Bidirectional (each direction storing its own); and which form the layer takes.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class LstmInputGradientTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T[] InputGradient(int f, bool goBackwards, WeightGradientForm form)
    {
        const int batch = 6, time = 9, h = 24;
        var lstm = new Lstm<T>(h, returnSequences: true, goBackwards: goBackwards) { InputGradientForm = form };
        lstm.Build(LayerShape.Sequence(f), new Random(4));
        T[] x = TestArrays.Uniform<T>(batch * time * f, 5), output = new T[lstm.OutputLength(batch, time)];
        T[] dInput = TestArrays.Uniform<T>(x.Length, 8);   // the layer adds into it
        bool[] mask = Enumerable.Range(0, batch * time).Select(k => k % time < time - k / time).ToArray();
        var cache = lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(x, batch, time, mask), output, cache, new ForwardContext(true, new Random(6)));
        lstm.Backward(TestArrays.Uniform<T>(output.Length, 7), cache, dInput);
        return dInput;
    }

    [TestCase(200, false)]
    [TestCase(200, true)]
    [TestCase(37, false)]
    public void TransposedInputGradient_HasTheBitsOfTheProductAsWritten(int f, bool goBackwards)
        => Assert.That(InputGradient(f, goBackwards, WeightGradientForm.Transposed), Is.EqualTo(InputGradient(f, goBackwards, WeightGradientForm.AsWritten)));

    [Test]
    public void TransposedInputGradient_InABidirectional_HasTheBitsOfTheProductAsWritten()
    {
        const int batch = 5, time = 7, f = 100;
        T[] Gradient(WeightGradientForm form)
        {
            var layer = new Bidirectional<T>(new Lstm<T>(16, true));
            layer.Forwards.InputGradientForm = layer.Backwards.InputGradientForm = form;
            layer.Build(LayerShape.Sequence(f), new Random(9));
            var cache = layer.CreateCache();
            T[] x = TestArrays.Uniform<T>(batch * time * f, 10), output = new T[layer.OutputLength(batch, time)], dInput = TestArrays.Uniform<T>(x.Length, 11);
            layer.Forward(new SequenceBatch<T>(x, batch, time, default), output, cache, ForwardContext.Inference);
            layer.Backward(TestArrays.Uniform<T>(output.Length, 12), cache, dInput);
            return dInput;
        }
        Assert.That(Gradient(WeightGradientForm.Transposed), Is.EqualTo(Gradient(WeightGradientForm.AsWritten)));
    }

    [Test]
    public void Auto_TakesTheTranspose_ForFloatInputsAFewColumnsPastAMultipleOf32_On512BitProducts()
    {
        // The choice shows in nothing but speed, so read the rule the layer applies.
        var lstm = new Lstm<T>(8);
        bool wide = typeof(T) == typeof(float) && NumLstm.Kernels.GemmPacked.Best == NumLstm.Kernels.GemmPacked.Width.V512;
        Assert.That(lstm.TakesInputGradientTransposed(200), Is.EqualTo(wide), "F = 200");
        Assert.That(lstm.TakesInputGradientTransposed(100), Is.EqualTo(wide), "F = 100");
        Assert.That(lstm.TakesInputGradientTransposed(128), Is.False, "F = 128");
        Assert.That(lstm.TakesInputGradientTransposed(400), Is.False, "F = 400 (16 past 384: level)");
        Assert.That(lstm.TakesInputGradientTransposed(32), Is.False, "F = 32");
        lstm.InputGradientForm = WeightGradientForm.Transposed;
        Assert.That(lstm.TakesInputGradientTransposed(32), Is.True, "forced");
    }
}

/// <summary>
/// dU and dW as one product against the gate gradients packed once (an LSTM inside a Bidirectional, where products stay
/// on one thread): the bits of the two products, and the product itself against two GEMMs.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
[NonParallelizable]
public class StackedWeightGradientTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [TestCase(200, 200)]   // the seed model's second layer: both gradients transposed, one product
    [TestCase(32, 100)]    // dW as written: two products either way
    public void OneProduct_HasTheBitsOfTwo(int f, int h)
    {
        List<T[]> Run(bool oneThread)
        {
            var lstm = new Lstm<T>(h, returnSequences: true) { SplitProducts = !oneThread };
            T[] dInput = LstmWeightGradientTests<T>.TrainingStep(lstm, f);
            var results = lstm.Parameters.Select(p => p.Gradient.ToArray()).ToList();
            results.Add(dInput);
            return results;
        }
        // Products allowed on two cores take the two GEMMs (the stacked one runs on one thread only).
        if (!NumLstm.Kernels.PairedWork.HasSecondCore) Assert.Ignore("one core: both runs would take the stacked product");
        List<T[]> split = Run(oneThread: false), stacked = Run(oneThread: true);
        for (int k = 0; k < split.Count; k++) Assert.That(stacked[k], Is.EqualTo(split[k]), $"array {k}");
    }

    [TestCase(200, 200, 3200, 800)]
    [TestCase(7, 13, 50, 70)]
    public void MultiplyStacked_EqualsTwoProducts_BitForBit(int m1, int m2, int k, int n)
    {
        if (NumLstm.Kernels.GemmPacked.Best == NumLstm.Kernels.GemmPacked.Width.None) Assert.Ignore("no vector width: the stacked product is not used");
        T[] a1 = TestArrays.Uniform<T>(k * (m1 + 1), 1), a2 = TestArrays.Uniform<T>(k * m2, 2), b = TestArrays.Uniform<T>(k * n, 3);
        T[] c1 = new T[m1 * n], c2 = new T[m2 * n], e1 = new T[m1 * n], e2 = new T[m2 * n];
        NumLstm.Kernels.Gemm.Multiply(NumLstm.Kernels.Transpose.Yes, NumLstm.Kernels.Transpose.No, m1, n, k, T.One, a1, m1 + 1, b, n, T.Zero, e1, n, false);
        NumLstm.Kernels.Gemm.Multiply(NumLstm.Kernels.Transpose.Yes, NumLstm.Kernels.Transpose.No, m2, n, k, T.One, a2, m2, b, n, T.Zero, e2, n, false);
        NumLstm.Kernels.GemmPacked.MultiplyStacked<T>(true, m1, m2, n, k, T.One, a1, m1 + 1, a2, m2, b, n, c1, n, c2, n);
        Assert.That(c1, Is.EqualTo(e1), "first");
        Assert.That(c2, Is.EqualTo(e2), "second");
    }

    // The LSTM's db comes with the stacked product: b's rows (the gate gradients) are added into it as b is packed, and
    // must give the bits of the pass that adds the rows one after the other (from a gradient already holding values).
    [TestCase(200, 200, 3200, 800)]
    [TestCase(7, 13, 50, 70)]      // a right edge (70 = 2·32 + 6) and one k block
    [TestCase(3, 2, 300, 4100)]    // past NC = 4096: two column blocks, two k blocks
    public void MultiplyStacked_ColumnSumsOfB_AreTheRowPass_BitForBit(int m1, int m2, int k, int n)
    {
        if (NumLstm.Kernels.GemmPacked.Best == NumLstm.Kernels.GemmPacked.Width.None) Assert.Ignore("no vector width: the stacked product is not used");
        T[] a1 = TestArrays.Uniform<T>(k * m1, 4), a2 = TestArrays.Uniform<T>(k * m2, 5), b = TestArrays.Uniform<T>(k * n, 6);
        T[] start = TestArrays.Uniform<T>(n, 7);
        T[] expected = (T[])start.Clone();
        for (int r = 0; r < k; r++) System.Numerics.Tensors.TensorPrimitives.Add(expected, b.AsSpan(r * n, n), expected);
        T[] e1 = new T[m1 * n], e2 = new T[m2 * n], c1 = new T[m1 * n], c2 = new T[m2 * n];
        NumLstm.Kernels.GemmPacked.MultiplyStacked<T>(true, m1, m2, n, k, T.One, a1, m1, a2, m2, b, n, e1, n, e2, n);
        T[] sums = (T[])start.Clone();
        NumLstm.Kernels.GemmPacked.MultiplyStacked<T>(true, m1, m2, n, k, T.One, a1, m1, a2, m2, b, n, c1, n, c2, n, bColumnSums: sums);
        Assert.That(sums, Is.EqualTo(expected), "column sums");
        Assert.That(c1, Is.EqualTo(e1), "first product unchanged");
        Assert.That(c2, Is.EqualTo(e2), "second product unchanged");
        Assert.Throws<ArgumentException>(() => NumLstm.Kernels.GemmPacked.MultiplyStacked<T>(true, m1, m2, n, k, T.One, a1, m1, a2, m2, b, n, c1, n, c2, n,
            bColumnSums: new T[n + 1]));
    }
}

