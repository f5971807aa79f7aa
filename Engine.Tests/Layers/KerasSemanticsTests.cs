using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// NumLstm's LSTM, Bidirectional, LayerNorm and Dense against a naive scalar transcription of Keras 3's formulas
/// (keras/src/layers/rnn/lstm.py LSTMCell.call, keras/src/backend/tensorflow/rnn.py's masked while loop,
/// keras/src/layers/rnn/bidirectional.py, keras/src/layers/normalization/layer_normalization.py), written here without
/// the engine's code: weights in Keras' layout (kernel (F, 4H), recurrent_kernel (H, 4H)) built from NumLstm's.
/// </summary>
public class KerasSemanticsTests
{
    private const int Batch = 3, Time = 5, Features = 3, Units = 4;

    /// <summary>
    /// Keras' RNN loop for one LSTM, as the TensorFlow backend's while loop runs it: inputs and mask reversed for
    /// go_backwards; a masked step keeps the states, and outputs zeros (zero_output_for_mask) or the previous step's
    /// output (starting from zeros); outputs stay in processing order; last_output is the final step's output.
    /// </summary>
    /// <remarks>
    /// inputMasks [4, B, F] and recurrentMasks [4, B, H] (or null): LSTMCell.call's implementation 1, where gate k
    /// (i, f, c, o) reads inputs * dp_mask[k] and h_tm1 * rec_dp_mask[k], the masks drawn once per call.
    /// </remarks>
    private static (double[] Outputs, double[] LastOutput, double[] FinalH, double[] FinalC) KerasLstm(
        double[] x, bool[]? mask, double[,] kernel, double[,] recurrentKernel, double[] bias, bool goBackwards, bool zeroOutputForMask,
        double[]? inputMasks = null, double[]? recurrentMasks = null)
    {
        int h = recurrentKernel.GetLength(0), f = kernel.GetLength(0);
        var outputs = new double[Batch * Time * h];
        var last = new double[Batch * h];
        var finalH = new double[Batch * h];
        var finalC = new double[Batch * h];
        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        for (int b = 0; b < Batch; b++)
        {
            var hPrev = new double[h];
            var cPrev = new double[h];
            var prevOutput = new double[h];
            for (int s = 0; s < Time; s++)
            {
                int t = goBackwards ? Time - 1 - s : s;
                var z = new double[4 * h];
                for (int j = 0; j < 4 * h; j++)
                {
                    double sum = bias[j];
                    int gate = j / h;
                    for (int k = 0; k < f; k++)
                        sum += x[(b * Time + t) * f + k] * (inputMasks is null ? 1 : inputMasks[(gate * Batch + b) * f + k]) * kernel[k, j];
                    for (int k = 0; k < h; k++)
                        sum += hPrev[k] * (recurrentMasks is null ? 1 : recurrentMasks[(gate * Batch + b) * h + k]) * recurrentKernel[k, j];
                    z[j] = sum;
                }
                var hNew = new double[h];
                var cNew = new double[h];
                for (int j = 0; j < h; j++)
                {
                    double i = Sigmoid(z[j]), fg = Sigmoid(z[h + j]), g = Math.Tanh(z[2 * h + j]), o = Sigmoid(z[3 * h + j]);
                    cNew[j] = fg * cPrev[j] + i * g;
                    hNew[j] = o * Math.Tanh(cNew[j]);
                }
                bool active = mask is null || mask[b * Time + t];
                double[] output = active ? hNew : zeroOutputForMask ? new double[h] : prevOutput;
                if (active) { hPrev = hNew; cPrev = cNew; }
                prevOutput = (double[])output.Clone();
                output.CopyTo(outputs, (b * Time + s) * h);
            }
            prevOutput.CopyTo(last, b * h);
            hPrev.CopyTo(finalH, b * h);
            cPrev.CopyTo(finalC, b * h);
        }
        return (outputs, last, finalH, finalC);
    }

    /// <summary>Keras' kernel (F, 4H), recurrent_kernel (H, 4H) and bias (4H) from NumLstm's PyTorch-layout weights.</summary>
    private static (double[,] Kernel, double[,] Recurrent, double[] Bias) KerasWeights(Lstm<double> lstm)
    {
        int h = lstm.Units, f = lstm.InputFeatures;
        var kernel = new double[f, 4 * h];
        var recurrent = new double[h, 4 * h];
        for (int j = 0; j < 4 * h; j++)
        {
            for (int k = 0; k < f; k++) kernel[k, j] = lstm.WeightIh.Value[j * f + k];
            for (int k = 0; k < h; k++) recurrent[k, j] = lstm.WeightHh.Value[j * h + k];
        }
        return (kernel, recurrent, (double[])lstm.Bias.Value.Clone());
    }

    private static Lstm<double> BuiltLstm(bool returnSequences, bool goBackwards, bool zeroOutputForMask)
    {
        var lstm = new Lstm<double>(Units, returnSequences, goBackwards, zeroOutputForMask: zeroOutputForMask);
        lstm.Build(LayerShape.Sequence(Features), new Random(7));
        // Move the bias off its init so every gate matters.
        double[] noise = GradientChecks.GradientChecker.RandomValues(4 * Units, 8, 0.5);
        for (int j = 0; j < 4 * Units; j++) lstm.Bias.Value[j] += noise[j];
        return lstm;
    }

    // Sequence 0 right-padded (length 3), sequence 1 with a hole and a masked first step, sequence 2 left-padded, so
    // the last processing step is masked for some rows in either direction.
    private static readonly bool[] Mask =
    {
        true, true, true, false, false,
        false, true, false, true, true,
        false, false, true, true, true,
    };

    public static IEnumerable<TestCaseData> LayerCases()
    {
        foreach (bool returnSequences in new[] { true, false })
            foreach (bool goBackwards in new[] { false, true })
                foreach (bool zeroOutput in new[] { false, true })
                    yield return new TestCaseData(returnSequences, goBackwards, zeroOutput)
                        .SetArgDisplayNames($"{(returnSequences ? "sequences" : "last")}{(goBackwards ? ", go_backwards" : "")}{(zeroOutput ? ", zero_output_for_mask" : "")}");
    }

    [TestCaseSource(nameof(LayerCases))]
    public void MaskedLstm_MatchesKerasRnnLoop_OutputsAndFinalState(bool returnSequences, bool goBackwards, bool zeroOutputForMask)
    {
        Lstm<double> lstm = BuiltLstm(returnSequences, goBackwards, zeroOutputForMask);
        double[] x = GradientChecks.GradientChecker.RandomValues(Batch * Time * Features, 9);
        (double[,] kernel, double[,] recurrent, double[] bias) = KerasWeights(lstm);
        var keras = KerasLstm(x, Mask, kernel, recurrent, bias, goBackwards, zeroOutputForMask);

        var output = new double[lstm.OutputLength(Batch, Time)];
        var finalH = new double[Batch * Units];
        var finalC = new double[Batch * Units];
        lstm.Forward(new SequenceBatch<double>(x, Batch, Time, Mask), default, default, output, finalH, finalC, lstm.CreateCache(), ForwardContext.Inference);
        Assert.That(output, Is.EqualTo(returnSequences ? keras.Outputs : keras.LastOutput).Within(1e-13), "output");
        Assert.That(finalH, Is.EqualTo(keras.FinalH).Within(1e-13), "final h (return_state)");
        Assert.That(finalC, Is.EqualTo(keras.FinalC).Within(1e-13), "final c (return_state)");
    }

    /// <summary>
    /// A stack: Keras' RNN.compute_mask hands the next layer the mask it was given (<c>output_mask = mask if
    /// self.return_sequences</c>, keras/src/layers/rnn/rnn.py), in input-time order, also after a go_backwards layer whose
    /// outputs are in processing (reversed) order; Sequential and the plans pass it on the same way.
    /// </summary>
    [TestCase(false)]
    [TestCase(true)]
    public void StackedLstms_AfterGoBackwards_TakeTheMaskAsGiven_AsKerasComputeMask(bool zeroOutputForMask)
    {
        var model = new NumLstm.Models.Sequential<double>(Features, new Layer<double>[]
        {
            new Lstm<double>(Units, returnSequences: true, goBackwards: true, zeroOutputForMask: zeroOutputForMask, name: "backwards"),
            new Lstm<double>(Units, returnSequences: true, name: "next"),
        }, seed: 3);
        double[] x = GradientChecks.GradientChecker.RandomValues(Batch * Time * Features, 10);
        (double[,] k1, double[,] r1, double[] b1) = KerasWeights((Lstm<double>)model.Layers[0]);
        (double[,] k2, double[,] r2, double[] b2) = KerasWeights((Lstm<double>)model.Layers[1]);
        double[] first = KerasLstm(x, Mask, k1, r1, b1, goBackwards: true, zeroOutputForMask).Outputs;
        double[] expected = KerasLstm(first, Mask, k2, r2, b2, goBackwards: false, zeroOutputForMask: false).Outputs;
        Assert.That(model.Forward(new SequenceBatch<double>(x, Batch, Time, Mask), model.CreateCache(), ForwardContext.Inference).ToArray(),
            Is.EqualTo(expected).Within(1e-13), "Forward");
        Assert.That(NumLstm.Models.ServingExtensions.CreateInferencePlan(model, Batch, Time).Predict(x, Batch, Time, Mask).ToArray(),
            Is.EqualTo(expected).Within(1e-13), "plan");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void TrainingWithBothDropouts_MatchesKerasImplementation1_WithTheDrawnMasks(bool goBackwards)
    {
        // Keras 3 LSTMCell with recurrent_dropout > 0: implementation 1, four input masks and four recurrent masks
        // (one per gate, per sample, 1/(1 − rate) where kept), the same at every step, applied to x and h_{t−1}.
        var lstm = new Lstm<double>(Units, returnSequences: true, goBackwards, dropout: 0.4, recurrentDropout: 0.3);
        lstm.Build(LayerShape.Sequence(Features), new Random(7));
        double[] x = GradientChecks.GradientChecker.RandomValues(Batch * Time * Features, 9);
        var cache = new LstmCache<double>();
        var output = new double[Batch * Time * Units];
        var finalH = new double[Batch * Units];
        lstm.Forward(new SequenceBatch<double>(x, Batch, Time, Mask), default, default, output, finalH, Span<double>.Empty, cache,
            new ForwardContext(true, new Random(5)));
        Assert.That(cache.InputMasks, Has.Length.EqualTo(4 * Batch * Features));
        Assert.That(cache.RecurrentMasks, Has.Length.EqualTo(4 * Batch * Units));
        Assert.That(cache.InputMasks.Distinct().OrderBy(v => v), Is.EqualTo(new[] { 0, 1 / 0.6 }).Within(1e-15));
        Assert.That(cache.RecurrentMasks.Distinct().OrderBy(v => v), Is.EqualTo(new[] { 0, 1 / 0.7 }).Within(1e-15));
        (double[,] kernel, double[,] recurrent, double[] bias) = KerasWeights(lstm);
        var keras = KerasLstm(x, Mask, kernel, recurrent, bias, goBackwards, zeroOutputForMask: false, cache.InputMasks, cache.RecurrentMasks);
        Assert.That(output, Is.EqualTo(keras.Outputs).Within(1e-13));
        Assert.That(finalH, Is.EqualTo(keras.FinalH).Within(1e-13));
    }

    [TestCaseSource(nameof(LayerCases))]
    public void MaskedLstm_InferencePlan_MatchesKerasRnnLoop(bool returnSequences, bool goBackwards, bool zeroOutputForMask)
    {
        var spec = new ModelSpec
        {
            InputFeatures = Features, Seed = 3,
            Layers = new[] { LayerSpec.Lstm(Units, returnSequences, goBackwards: goBackwards) with { ZeroOutputForMask = zeroOutputForMask } },
        };
        Sequential<double> model = spec.Build<double>();
        var lstm = (Lstm<double>)model.Layers[0];
        double[] x = GradientChecks.GradientChecker.RandomValues(Batch * Time * Features, 9);
        (double[,] kernel, double[,] recurrent, double[] bias) = KerasWeights(lstm);
        var keras = KerasLstm(x, Mask, kernel, recurrent, bias, goBackwards, zeroOutputForMask);
        double[] planOutput = model.CreateInferencePlan(Batch, Time).Predict(x, Batch, Time, Mask).ToArray();
        Assert.That(planOutput, Is.EqualTo(returnSequences ? keras.Outputs : keras.LastOutput).Within(1e-13));
    }

    [TestCase(true, MergeMode.Concat)]
    [TestCase(false, MergeMode.Concat)]
    [TestCase(true, MergeMode.Ave)]
    [TestCase(false, MergeMode.Mul)]
    [TestCase(true, MergeMode.Sum)]
    public void MaskedBidirectional_MatchesKerasWrapper(bool returnSequences, MergeMode merge)
    {
        // Keras: forward and go_backwards copies, zero_output_for_mask = return_sequences on both, the backward output
        // flipped along time when returning sequences, then merged.
        var bi = new Bidirectional<double>(new Lstm<double>(Units, returnSequences), merge);
        bi.Build(LayerShape.Sequence(Features), new Random(11));
        double[] x = GradientChecks.GradientChecker.RandomValues(Batch * Time * Features, 12);
        var (fk, fr, fb) = KerasWeights(bi.Forwards);
        var (bk, br, bb) = KerasWeights(bi.Backwards);
        var y = KerasLstm(x, Mask, fk, fr, fb, goBackwards: false, zeroOutputForMask: returnSequences);
        var yRev = KerasLstm(x, Mask, bk, br, bb, goBackwards: true, zeroOutputForMask: returnSequences);
        int rows = returnSequences ? Batch * Time : Batch, m = merge == MergeMode.Concat ? 2 * Units : Units;
        var expected = new double[rows * m];
        for (int r = 0; r < rows; r++)
        {
            int b = returnSequences ? r / Time : r, t = returnSequences ? r % Time : 0;
            double[] forwardRow = returnSequences ? y.Outputs.AsSpan(r * Units, Units).ToArray() : y.LastOutput.AsSpan(b * Units, Units).ToArray();
            double[] backwardRow = returnSequences
                ? yRev.Outputs.AsSpan((b * Time + (Time - 1 - t)) * Units, Units).ToArray()
                : yRev.LastOutput.AsSpan(b * Units, Units).ToArray();
            for (int j = 0; j < Units; j++)
            {
                double a = forwardRow[j], c = backwardRow[j];
                switch (merge)
                {
                    case MergeMode.Concat: expected[r * m + j] = a; expected[r * m + Units + j] = c; break;
                    case MergeMode.Sum: expected[r * m + j] = a + c; break;
                    case MergeMode.Mul: expected[r * m + j] = a * c; break;
                    case MergeMode.Ave: expected[r * m + j] = (a + c) / 2; break;
                }
            }
        }
        var output = new double[rows * m];
        bi.Forward(new SequenceBatch<double>(x, Batch, Time, Mask), output, bi.CreateCache(), ForwardContext.Inference);
        Assert.That(output, Is.EqualTo(expected).Within(1e-13));
    }

    [Test]
    public void LayerNorm_And_Dense_MatchKerasDefaults()
    {
        // Keras LayerNormalization(): epsilon 1e-3, γ ones, β zeros, biased variance; Dense: glorot_uniform kernel
        // (fan_in = F, fan_out = units), zero bias.
        var norm = new LayerNorm<double>();
        norm.Build(LayerShape.Sequence(5), new Random(1));
        Assert.That(norm.Epsilon, Is.EqualTo(1e-3));
        double[] x = { 3.0, 3.1, 2.9, 3.05, 2.95, -1, 0, 1, 2, 100 };
        var y = new double[x.Length];
        norm.Forward(new SequenceBatch<double>(x, 1, 2, default), y, norm.CreateCache(), ForwardContext.Inference);
        for (int r = 0; r < 2; r++)
        {
            double[] row = x.AsSpan(r * 5, 5).ToArray();
            double mean = row.Average(), variance = row.Select(v => (v - mean) * (v - mean)).Average();
            for (int j = 0; j < 5; j++) Assert.That(y[r * 5 + j], Is.EqualTo((row[j] - mean) / Math.Sqrt(variance + 1e-3)).Within(1e-13));
        }

        var dense = new Dense<double>(7);
        dense.Build(LayerShape.Vector(9), new Random(2));
        double limit = Math.Sqrt(6.0 / (9 + 7));
        Assert.That(dense.Weight.Value.All(w => Math.Abs(w) <= limit), Is.True);
        Assert.That(dense.Weight.Value.Max() - dense.Weight.Value.Min(), Is.GreaterThan(limit));
        Assert.That(dense.Bias!.Value, Is.All.EqualTo(0.0));
    }
}
