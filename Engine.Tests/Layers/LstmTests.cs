using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

public class LstmTests
{
    [Test]
    public void Build_UsesKerasInitializers()
    {
        const int f = 5, h = 6;
        var lstm = new Lstm<double>(h);
        lstm.Build(LayerShape.Sequence(f), new Random(3));
        double limit = Math.Sqrt(6.0 / (f + 4 * h));
        Assert.That(lstm.WeightIh.Value.All(w => Math.Abs(w) <= limit), Is.True, "glorot_uniform range");
        Assert.That(lstm.WeightIh.Value.Max() - lstm.WeightIh.Value.Min(), Is.GreaterThan(limit), "spread over the range");
        // weight_hh [4H, H] is the transpose of Keras' orthogonal (H, 4H) recurrent kernel: its columns are orthonormal.
        double[] u = lstm.WeightHh.Value;
        for (int a = 0; a < h; a++)
            for (int b = 0; b < h; b++)
            {
                double dot = 0;
                for (int r = 0; r < 4 * h; r++) dot += u[r * h + a] * u[r * h + b];
                Assert.That(dot, Is.EqualTo(a == b ? 1.0 : 0.0).Within(1e-12), $"column {a}·{b}");
            }
        double[] bias = lstm.Bias.Value;
        for (int j = 0; j < 4 * h; j++) Assert.That(bias[j], Is.EqualTo(j >= h && j < 2 * h ? 1.0 : 0.0), $"bias[{j}] (forget slice = 1)");
    }

    [Test]
    public void Forward_TfAddonsCell_MatchesValuesComputedByHand()
    {
        // One step of TF-Addons' LayerNormLSTMCell (F = 2, H = 2, eps 1e-3), computed independently below in scalar double code.
        const int f = 2, h = 2, g = 8;
        var lstm = new Lstm<double>(h, returnSequences: true, cellNormalization: CellNormalization.TfAddons);
        lstm.Build(LayerShape.Sequence(f), new Random(1));
        double[] w = { 0.1, -0.2, 0.3, 0.05, -0.4, 0.25, 0.15, -0.1, 0.2, 0.2, -0.3, 0.1, 0.05, 0.4, -0.15, 0.3 };   // [8, 2]
        double[] u = { 0.2, 0.1, -0.1, 0.3, 0.05, -0.2, 0.4, 0.1, -0.3, 0.2, 0.1, 0.1, 0.25, -0.05, 0.0, 0.2 };     // [8, 2]
        double[] bias = { 0.1, 0, 1, 1, -0.1, 0.2, 0, 0.05 };
        w.CopyTo(lstm.WeightIh.Value, 0);
        u.CopyTo(lstm.WeightHh.Value, 0);
        bias.CopyTo(lstm.Bias.Value, 0);
        double[] x = { 0.5, -1.0 }, h0 = { 0.3, -0.2 }, c0 = { 0.1, 0.4 };
        var output = new double[h];
        var finalC = new double[h];
        lstm.Forward(new SequenceBatch<double>(x, 1, 1, default), h0, c0, output, Span<double>.Empty, finalC, lstm.CreateCache(), ForwardContext.Inference);

        static double[] Norm(double[] v, double eps = 1e-3)
        {
            double mean = v.Average(), variance = v.Select(e => (e - mean) * (e - mean)).Average();
            return v.Select(e => (e - mean) / Math.Sqrt(variance + eps)).ToArray();
        }
        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        var ax = new double[g];
        var ah = new double[g];
        for (int r = 0; r < g; r++)
        {
            ax[r] = w[r * 2] * x[0] + w[r * 2 + 1] * x[1];
            ah[r] = u[r * 2] * h0[0] + u[r * 2 + 1] * h0[1];
        }
        double[] nx = Norm(ax), nh = Norm(ah);
        double[] z = Enumerable.Range(0, g).Select(r => nx[r] + nh[r] + bias[r]).ToArray();
        var cRaw = new double[h];
        for (int j = 0; j < h; j++) cRaw[j] = Sigmoid(z[h + j]) * c0[j] + Sigmoid(z[j]) * Math.Tanh(z[2 * h + j]);
        double[] c = Norm(cRaw);
        double[] expectedH = Enumerable.Range(0, h).Select(j => Sigmoid(z[3 * h + j]) * Math.Tanh(c[j])).ToArray();

        Assert.That(finalC, Is.EqualTo(c).Within(1e-14));
        Assert.That(output, Is.EqualTo(expectedH).Within(1e-14));
    }

    [Test]
    public void FloatAndDouble_ForwardOutputsAgreeToFloatPrecision()
    {
        ModelSpec spec = new StackSpec(4, new[] { 6, 5 }, Bidirectional: true, OutputUnits: 3).WithPlacement(LayerNormPlacement.InCellAndAfterEach(CellNormalization.BaEtAl2016));
        Sequential<float> single = spec.Build<float>();
        Sequential<double> full = spec.Build<double>();
        var singleParameters = single.Parameters.ToList();
        var fullParameters = full.Parameters.ToList();
        for (int p = 0; p < singleParameters.Count; p++)
            for (int k = 0; k < singleParameters[p].Length; k++) fullParameters[p].Value[k] = singleParameters[p].Value[k];
        const int batch = 3, time = 7;
        var random = new Random(2);
        float[] xs = Enumerable.Range(0, batch * time * 4).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        bool[] mask = Enumerable.Range(0, batch * time).Select(k => k % time < time - k / time).ToArray();
        float[] ys = single.Forward(new SequenceBatch<float>(xs, batch, time, mask), single.CreateCache(), ForwardContext.Inference).ToArray();
        double[] yd = full.Forward(new SequenceBatch<double>(xs.Select(v => (double)v).ToArray(), batch, time, mask), full.CreateCache(), ForwardContext.Inference).ToArray();
        for (int k = 0; k < ys.Length; k++) Assert.That((double)ys[k], Is.EqualTo(yd[k]).Within(2e-5 * Math.Max(1, Math.Abs(yd[k]))), $"output {k}");
    }

    /// <summary>
    /// The float path (vector LayerNorm rows, the LayerNorm fused into the gate pass, FastMath activations) against the
    /// double path of the same weights, for every cell preset at H = 20 (two full vectors and a tail): the training
    /// forward, the inference plan and every gradient of backward agree to float precision.
    /// </summary>
    [TestCase("none")]
    [TestCase("keras-gates")]
    [TestCase("keras-snippet")]
    [TestCase("ba2016")]
    [TestCase("tf-addons")]
    public void FloatAndDouble_AgreeForEveryCellPreset_ForwardBackwardAndPlan(string preset)
    {
        const int batch = 3, time = 6, features = 9, units = 20;
        var spec = new ModelSpec { InputFeatures = features, Layers = new[] { LayerSpec.Lstm(units, returnSequences: true, cell: CellNormalization.Presets[preset]) } };
        Sequential<float> single = spec.Build<float>();
        Sequential<double> full = spec.Build<double>();
        var singleParameters = single.Parameters.ToList();
        var fullParameters = full.Parameters.ToList();
        var random = new Random(5);
        for (int p = 0; p < singleParameters.Count; p++)
            for (int k = 0; k < singleParameters[p].Length; k++)
            {
                // Random γ and β too, so the fused kernels' affine step is exercised.
                if (singleParameters[p].Name.Contains("norm")) singleParameters[p].Value[k] = (float)(0.5 + random.NextDouble());
                fullParameters[p].Value[k] = singleParameters[p].Value[k];
            }
        float[] xs = Enumerable.Range(0, batch * time * features).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        double[] xd = xs.Select(v => (double)v).ToArray();
        bool[] mask = Enumerable.Range(0, batch * time).Select(k => k != 4 && k != 11).ToArray();
        var singleCache = single.CreateCache();
        var fullCache = full.CreateCache();
        float[] ys = single.Forward(new SequenceBatch<float>(xs, batch, time, mask), singleCache, new ForwardContext(true, new Random(1))).ToArray();
        double[] yd = full.Forward(new SequenceBatch<double>(xd, batch, time, mask), fullCache, new ForwardContext(true, new Random(1))).ToArray();
        for (int k = 0; k < ys.Length; k++) Assert.That((double)ys[k], Is.EqualTo(yd[k]).Within(2e-5 * Math.Max(1, Math.Abs(yd[k]))), $"{preset}: output {k}");

        float[] planOutput = single.CreateInferencePlan(batch, time).Predict(xs, batch, time, mask).ToArray();
        for (int k = 0; k < ys.Length; k++) Assert.That((double)planOutput[k], Is.EqualTo(yd[k]).Within(2e-5 * Math.Max(1, Math.Abs(yd[k]))), $"{preset}: plan output {k}");

        float[] gs = Enumerable.Range(0, ys.Length).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        single.ZeroGradients();
        full.ZeroGradients();
        single.Backward(gs, singleCache);
        full.Backward(gs.Select(v => (double)v).ToArray(), fullCache);
        for (int p = 0; p < singleParameters.Count; p++)
        {
            double scale = Math.Max(1e-3, fullParameters[p].Gradient.Max(Math.Abs));
            for (int k = 0; k < singleParameters[p].Length; k++)
                Assert.That((double)singleParameters[p].Gradient[k], Is.EqualTo(fullParameters[p].Gradient[k]).Within(1e-4 * scale),
                    $"{preset}: d{singleParameters[p].Name}[{k}]");
        }
    }

    [Test]
    public void Masks_CarryStateAndRepeatTheLastOutput()
    {
        var lstm = new Lstm<double>(3, returnSequences: true);
        lstm.Build(LayerShape.Sequence(2), new Random(4));
        double[] x = GradientChecks.GradientChecker.RandomValues(2 * 5 * 2, 9);
        bool[] mask = { true, true, false, true, false, /* second sequence: */ false, true, true, false, false };
        var output = new double[2 * 5 * 3];
        var finalH = new double[2 * 3];
        lstm.Forward(new SequenceBatch<double>(x, 2, 5, mask), default, default, output, finalH, Span<double>.Empty, lstm.CreateCache(), ForwardContext.Inference);
        double[] Row(int b, int t) => output.AsSpan((b * 5 + t) * 3, 3).ToArray();
        Assert.That(Row(0, 2), Is.EqualTo(Row(0, 1)), "a masked step repeats the previous output");
        Assert.That(Row(0, 4), Is.EqualTo(Row(0, 3)));
        Assert.That(Row(1, 0), Is.EqualTo(new double[3]), "a masked first step outputs zeros");
        Assert.That(Row(1, 4), Is.EqualTo(Row(1, 2)));
        Assert.That(finalH.AsSpan(3, 3).ToArray(), Is.EqualTo(Row(1, 2)), "the final state is the last real step's");
        // Step 3 of sequence 0 equals running the sequence with the masked step removed.
        double[] compact = x.AsSpan(0, 4).ToArray().Concat(x.AsSpan(6, 2).ToArray()).ToArray();
        var compactOut = new double[3 * 3];
        lstm.Forward(new SequenceBatch<double>(compact, 1, 3, default), compactOut, lstm.CreateCache(), ForwardContext.Inference);
        Assert.That(Row(0, 3), Is.EqualTo(compactOut.AsSpan(6, 3).ToArray()).Within(1e-15));
    }

    [Test]
    public void Bidirectional_WithRightPadding_ReversesOnlyTheUnpaddedPart()
    {
        var bi = new Bidirectional<double>(new Lstm<double>(2, returnSequences: false), MergeMode.Concat);
        bi.Build(LayerShape.Sequence(2), new Random(5));
        double[] x = GradientChecks.GradientChecker.RandomValues(6 * 2, 3);
        bool[] mask = { true, true, true, false, false, false };
        var padded = new double[4];
        bi.Forward(new SequenceBatch<double>(x, 1, 6, mask), padded, bi.CreateCache(), ForwardContext.Inference);
        var trimmed = new double[4];
        bi.Forward(new SequenceBatch<double>(x.AsSpan(0, 6).ToArray(), 1, 3, default), trimmed, bi.CreateCache(), ForwardContext.Inference);
        Assert.That(padded, Is.EqualTo(trimmed).Within(1e-15));
    }

    [Test]
    public void Bidirectional_ReturningSequences_OutputsZerosAtMaskedSteps_AsKerasZeroOutputForMask()
    {
        // Keras' Bidirectional sets zero_output_for_mask = return_sequences on both wrapped layers.
        var bi = new Bidirectional<double>(new Lstm<double>(2, returnSequences: true));
        bi.Build(LayerShape.Sequence(2), new Random(5));
        Assert.That(bi.Forwards.ZeroOutputForMask && bi.Backwards.ZeroOutputForMask, Is.True);
        double[] x = GradientChecks.GradientChecker.RandomValues(5 * 2, 3);
        bool[] mask = { true, true, true, false, false };
        var output = new double[5 * 4];
        bi.Forward(new SequenceBatch<double>(x, 1, 5, mask), output, bi.CreateCache(), ForwardContext.Inference);
        Assert.That(output.AsSpan(3 * 4, 2 * 4).ToArray(), Is.All.EqualTo(0.0), "padded steps are zero in both halves");
        var trimmed = new double[3 * 4];
        bi.Forward(new SequenceBatch<double>(x.AsSpan(0, 6).ToArray(), 1, 3, default), trimmed, bi.CreateCache(), ForwardContext.Inference);
        Assert.That(output.AsSpan(0, 3 * 4).ToArray(), Is.EqualTo(trimmed).Within(1e-15), "real steps equal the unpadded run");
        var plain = new Lstm<double>(2, returnSequences: true);
        Assert.That(plain.ZeroOutputForMask, Is.False, "a plain LSTM repeats the previous output, as Keras' default");
    }

    [Test]
    public void InvalidOptions_AreRejectedWithTheirNames()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Lstm<float>(0))!.ParamName, Is.EqualTo("units"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Lstm<float>(4, dropout: 1.0))!.ParamName, Is.EqualTo("dropout"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Lstm<float>(4, recurrentDropout: -0.1))!.ParamName, Is.EqualTo("recurrentDropout"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Lstm<float>(4, cellNormalization: new CellNormalization(Epsilon: 0)));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new LayerNorm<float>(epsilon: -1))!.ParamName, Is.EqualTo("epsilon"));
        var lstm = new Lstm<float>(4);
        lstm.Build(LayerShape.Sequence(3), new Random(1));
        var error = Assert.Throws<ArgumentException>(() => lstm.Forward(new SequenceBatch<float>(new float[2 * 5 * 4], 2, 5, default), new float[8], lstm.CreateCache(), ForwardContext.Inference));
        Assert.That(error!.Message, Does.Contain("F=3").And.Contain("got 40"));
    }
}
