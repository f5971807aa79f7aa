using NumLstm.Layers;

namespace NumLstm.Tests.Layers;

/// <summary>
/// Keras 3's own published answers for its LSTM layer (keras/src/layers/rnn/lstm_test.py: <c>test_correctness</c>,
/// <c>test_pass_initial_state</c>, <c>test_masking</c>, <c>test_statefulness</c>), run through NumLstm's LSTM at Keras's
/// tolerance (1e-5, absolute and relative). Keras builds those layers with constant initializers: kernel 0.01,
/// recurrent kernel 0.02, bias 0.03, with <c>unit_forget_bias</c> (its default) putting 1 in the forget gate's bias;
/// the gate order (i, f, c, o) is PyTorch's (i, f, g, o), so the constants go straight into weight_ih, weight_hh and bias.
/// Bidirectional's answers (keras/src/layers/rnn/bidirectional_test.py: <c>test_return_state</c>,
/// <c>test_pass_initial_state</c>, <c>test_statefulness</c>, with the same constants in both directions) likewise; its
/// default tolerance there is 1e-6, ours the same 1e-5 as it compares float32 runs.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class KerasPublishedAnswersTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T C(double value) => T.CreateTruncating(value);

    /// <summary>LSTM(units) over f features with Keras's test constants; forgetBias: the forget gate's bias (1 with
    /// unit_forget_bias, 0.03 without), useBias false: a zero bias (Keras's use_bias=False).</summary>
    private static Lstm<T> ConstantLstm(int units, int f, bool returnSequences = false, bool goBackwards = false, bool zeroOutputForMask = false,
        double forgetBias = 1.0, bool useBias = true)
    {
        var lstm = new Lstm<T>(units, returnSequences, goBackwards, zeroOutputForMask: zeroOutputForMask);
        lstm.Build(LayerShape.Sequence(f), new Random(1));
        Array.Fill(lstm.WeightIh.Value, C(0.01));
        Array.Fill(lstm.WeightHh.Value, C(0.02));
        for (int j = 0; j < 4 * units; j++) lstm.Bias.Value[j] = C(!useBias ? 0 : j >= units && j < 2 * units ? forgetBias : 0.03);
        return lstm;
    }

    private static void SetConstants(Lstm<T> lstm)
    {
        int units = lstm.Units;
        Array.Fill(lstm.WeightIh.Value, C(0.01));
        Array.Fill(lstm.WeightHh.Value, C(0.02));
        for (int j = 0; j < 4 * units; j++) lstm.Bias.Value[j] = C(j >= units && j < 2 * units ? 1.0 : 0.03);
    }

    private static T[] Arange(int count) => Enumerable.Range(0, count).Select(v => C(v)).ToArray();

    private static T[] Run(Lstm<T> lstm, T[] x, int batch, int time, bool[]? mask = null, T[]? initialH = null, T[]? initialC = null,
        T[]? finalH = null, T[]? finalC = null)
    {
        var output = new T[lstm.OutputLength(batch, time)];
        lstm.Forward(new SequenceBatch<T>(x, batch, time, mask), initialH ?? [], initialC ?? [], output, finalH ?? [], finalC ?? [],
            lstm.CreateCache(), ForwardContext.Inference);
        return output;
    }

    private static void AssertClose(double[] expected, T[] actual, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int k = 0; k < expected.Length; k++)
            Assert.That(double.CreateTruncating(actual[k]), Is.EqualTo(expected[k]).Within(1e-5 + 1e-5 * Math.Abs(expected[k])), $"{what}[{k}]");
    }

    private static double[] Rows(params double[] perRow) => perRow.SelectMany(v => new[] { v, v, v }).ToArray();

    [Test]
    public void TestCorrectness_LastOutputs()
    {
        // sequence = arange(72).reshape(3, 6, 4); LSTM(3).
        T[] x = Arange(72);
        AssertClose(Rows(0.6288687, 0.86899155, 0.9460773), Run(ConstantLstm(3, 4), x, 3, 6), "LSTM(3)");
        AssertClose(Rows(0.35622165, 0.74789524, 0.8872726), Run(ConstantLstm(3, 4, goBackwards: true), x, 3, 6), "go_backwards");
        AssertClose(Rows(0.57019705, 0.8661914, 0.9459622), Run(ConstantLstm(3, 4, forgetBias: 0.03), x, 3, 6), "unit_forget_bias=False");
        AssertClose(Rows(0.54986924, 0.86226785, 0.9443936), Run(ConstantLstm(3, 4, useBias: false), x, 3, 6), "use_bias=False");
    }

    [Test]
    public void TestPassInitialState()
    {
        // sequence = arange(24).reshape(2, 4, 3); initial h = c = arange(4).reshape(2, 2); LSTM(2).
        T[] x = Arange(24), state = Arange(4);
        AssertClose([0.20574439, 0.3558822, 0.64930826, 0.66276], Run(ConstantLstm(2, 3), x, 2, 4, initialH: state, initialC: state), "initial state");
        AssertClose([0.13281618, 0.2790356, 0.5839337, 0.5992567], Run(ConstantLstm(2, 3, goBackwards: true), x, 2, 4, initialH: state, initialC: state),
            "initial state, go_backwards");
    }

    [Test]
    public void TestMasking()
    {
        // sequence = arange(24).reshape(2, 4, 3); mask [[T, T, T, F], [T, T, F, F]]; LSTM(2).
        T[] x = Arange(24);
        bool[] mask = [true, true, true, false, true, true, false, false];
        AssertClose([0.11755939, 0.11755939, 0.28556206, 0.28556206], Run(ConstantLstm(2, 3), x, 2, 4, mask), "last output");
        AssertClose(
        [
            0.01588910, 0.01588910, 0.05552048, 0.05552048, 0.11755939, 0.11755939, 0.11755939, 0.11755939,
            0.14185596, 0.14185596, 0.28556206, 0.28556206, 0.28556206, 0.28556206, 0.28556206, 0.28556206,
        ], Run(ConstantLstm(2, 3, returnSequences: true), x, 2, 4, mask), "return_sequences");
        AssertClose(
        [
            0.01588910, 0.01588910, 0.05552048, 0.05552048, 0.11755939, 0.11755939, 0, 0,
            0.14185596, 0.14185596, 0.28556206, 0.28556206, 0, 0, 0, 0,
        ], Run(ConstantLstm(2, 3, returnSequences: true, zeroOutputForMask: true), x, 2, 4, mask), "zero_output_for_mask");
        bool[] backwardsMask = [false, true, true, true, false, false, true, true];
        AssertClose([0.15341201, 0.15341201, 0.3844719, 0.3844719], Run(ConstantLstm(2, 3, goBackwards: true), x, 2, 4, backwardsMask), "go_backwards, left-padded");
    }

    [Test]
    public void Masking_TestMaskingCorrectness()
    {
        // keras/src/layers/core/masking_test.py: x [[[0, 0], [1, 2], [0, 0]], [[2, 2], [0, 0], [2, 1]]], Masking(0.0);
        // compute_mask is [[F, T, F], [T, F, T]], and the next layer receives that mask.
        T[] x = [C(0), C(0), C(1), C(2), C(0), C(0), C(2), C(2), C(0), C(0), C(2), C(1)];
        bool[] expected = [false, true, false, true, false, true];
        var masking = new Masking<T>(0.0);
        masking.Build(LayerShape.Sequence(2), new Random(1));
        var cache = masking.CreateCache();
        masking.Forward(new SequenceBatch<T>(x, 2, 3, default), new T[12], cache, ForwardContext.Inference);
        Assert.That(masking.OutputMask(cache).ToArray(), Is.EqualTo(expected));
        // "The next layer receives it": an LSTM with zero_output_for_mask after it outputs zeros exactly at the masked steps.
        var model = new NumLstm.Models.Sequential<T>(2, [new Masking<T>(0.0), new Lstm<T>(2, returnSequences: true, zeroOutputForMask: true)]);
        T[] y = model.Forward(new SequenceBatch<T>(x, 2, 3, default), model.CreateCache(), ForwardContext.Inference).ToArray();
        for (int r = 0; r < 6; r++)
            Assert.That(y.AsSpan(2 * r, 2).ToArray().All(v => v == T.Zero), Is.EqualTo(!expected[r]), $"step row {r}");
    }

    [Test]
    public void Masking_BeforeAnLstm_GivesLstmTestMaskingsAnswers()
    {
        // lstm_test.py's test_masking with the mask made by a Masking(0.0) layer from zero-padded steps (the masked steps'
        // values are skipped, so zeroing them leaves Keras's answers as published): sequence = arange(24).reshape(2, 4, 3)
        // with steps [0, 3], [1, 2], [1, 3] set to 0, then Masking(0.0) → LSTM(2).
        T[] x = Arange(24);
        foreach ((int b, int t) in new[] { (0, 3), (1, 2), (1, 3) }) x.AsSpan((b * 4 + t) * 3, 3).Clear();
        NumLstm.Models.Sequential<T> Model(bool returnSequences, bool zeroOutputForMask)
        {
            var lstm = new Lstm<T>(2, returnSequences, zeroOutputForMask: zeroOutputForMask);
            var model = new NumLstm.Models.Sequential<T>(3, [new Masking<T>(0.0), lstm]);
            SetConstants(lstm);
            return model;
        }
        T[] Predict(NumLstm.Models.Sequential<T> model) => model.Forward(new SequenceBatch<T>(x, 2, 4, default), model.CreateCache(), ForwardContext.Inference).ToArray();
        AssertClose([0.11755939, 0.11755939, 0.28556206, 0.28556206], Predict(Model(false, false)), "last output");
        AssertClose(
        [
            0.01588910, 0.01588910, 0.05552048, 0.05552048, 0.11755939, 0.11755939, 0.11755939, 0.11755939,
            0.14185596, 0.14185596, 0.28556206, 0.28556206, 0.28556206, 0.28556206, 0.28556206, 0.28556206,
        ], Predict(Model(true, false)), "return_sequences");
        AssertClose(
        [
            0.01588910, 0.01588910, 0.05552048, 0.05552048, 0.11755939, 0.11755939, 0, 0,
            0.14185596, 0.14185596, 0.28556206, 0.28556206, 0, 0, 0, 0,
        ], Predict(Model(true, true)), "zero_output_for_mask");
    }

    [Test]
    public void Bidirectional_TestReturnState()
    {
        // sequence = arange(24).reshape(2, 4, 3); Bidirectional(LSTM(2, return_state=True)): the concatenated last outputs,
        // then h and c of each direction (the backward one a go_backwards copy with the same constants).
        T[] x = Arange(24);
        var bidirectional = new Bidirectional<T>(new Lstm<T>(2));
        bidirectional.Build(LayerShape.Sequence(3), new Random(1));
        SetConstants(bidirectional.Forwards);
        SetConstants(bidirectional.Backwards);
        var output = new T[bidirectional.OutputLength(2, 4)];
        bidirectional.Forward(new SequenceBatch<T>(x, 2, 4, default), output, bidirectional.CreateCache(), ForwardContext.Inference);
        AssertClose([0.1990008, 0.1990008, 0.12659755, 0.12659755, 0.52335435, 0.52335435, 0.44717982, 0.44717982], output, "output");

        T[] h1 = new T[4], c1 = new T[4], h2 = new T[4], c2 = new T[4];
        Run(ConstantLstm(2, 3), x, 2, 4, finalH: h1, finalC: c1);
        Run(ConstantLstm(2, 3, goBackwards: true), x, 2, 4, finalH: h2, finalC: c2);
        AssertClose([0.1990008, 0.1990008, 0.52335435, 0.52335435], h1, "h1");
        AssertClose([0.35567185, 0.35567185, 1.0492687, 1.0492687], c1, "c1");
        AssertClose([0.12659755, 0.12659755, 0.44717982, 0.44717982], h2, "h2");
        AssertClose([0.2501858, 0.2501858, 0.941473, 0.941473], c2, "c2");
    }

    [TestCase(MergeMode.Sum)]
    [TestCase(MergeMode.Mul)]
    [TestCase(MergeMode.Ave)]
    public void Bidirectional_MergeModes_FromTestReturnStatesDirections(MergeMode mergeMode)
    {
        // bidirectional_test.py's merge-mode answers use SimpleRNN, which NumLstm does not have. Its LSTM answers
        // (test_return_state above) give each direction's last output: forward h1 = [0.1990008, 0.52335435] per row,
        // backward h2 = [0.12659755, 0.44717982]; keras/src/layers/rnn/bidirectional.py merges them as h1 + h2 ("sum"),
        // h1 * h2 ("mul") and (h1 + h2) / 2 ("ave").
        T[] x = Arange(24);
        var bidirectional = new Bidirectional<T>(new Lstm<T>(2), mergeMode);
        bidirectional.Build(LayerShape.Sequence(3), new Random(1));
        SetConstants(bidirectional.Forwards);
        SetConstants(bidirectional.Backwards);
        var output = new T[bidirectional.OutputLength(2, 4)];
        bidirectional.Forward(new SequenceBatch<T>(x, 2, 4, default), output, bidirectional.CreateCache(), ForwardContext.Inference);
        double[] h1 = [0.1990008, 0.52335435], h2 = [0.12659755, 0.44717982];
        double Merge(double f, double b) => mergeMode switch { MergeMode.Sum => f + b, MergeMode.Mul => f * b, _ => (f + b) / 2 };
        AssertClose([Merge(h1[0], h2[0]), Merge(h1[0], h2[0]), Merge(h1[1], h2[1]), Merge(h1[1], h2[1])], output, mergeMode.ToString());
    }

    [Test]
    public void Bidirectional_TestPassInitialState_DirectionByDirection()
    {
        // initial_state = [h_f, c_f, h_b, c_b] = arange(4).reshape(2, 2) × 1, 2, 3, 4; output = concat(forward, backward).
        T[] x = Arange(24);
        T[] Scaled(int factor) => Arange(4).Select(v => v * C(factor)).ToArray();
        T[] forward = Run(ConstantLstm(2, 3), x, 2, 4, initialH: Scaled(1), initialC: Scaled(2));
        T[] backward = Run(ConstantLstm(2, 3, goBackwards: true), x, 2, 4, initialH: Scaled(3), initialC: Scaled(4));
        T[] output = [forward[0], forward[1], backward[0], backward[1], forward[2], forward[3], backward[2], backward[3]];
        AssertClose([0.20794602, 0.4577124, 0.14046375, 0.48191673, 0.6682636, 0.6711909, 0.60943645, 0.60950446], output, "output");
    }

    [Test]
    public void Bidirectional_TestStatefulness_DirectionByDirection()
    {
        // Bidirectional(LSTM(2, stateful=True)) called twice on arange(24).reshape(2, 4, 3): each direction's second call
        // starts from the state its first call left.
        T[] x = Arange(24);
        T[] SecondCall(bool goBackwards)
        {
            Lstm<T> lstm = ConstantLstm(2, 3, goBackwards: goBackwards);
            T[] h = new T[4], c = new T[4];
            Run(lstm, x, 2, 4, finalH: h, finalC: c);
            return Run(lstm, x, 2, 4, initialH: h, initialC: c);
        }
        T[] forward = SecondCall(false), backward = SecondCall(true);
        T[] output = [forward[0], forward[1], backward[0], backward[1], forward[2], forward[3], backward[2], backward[3]];
        AssertClose([0.26234663, 0.26234663, 0.16959146, 0.16959146, 0.6137073, 0.6137073, 0.5381646, 0.5381646], output, "second call");
    }

    [Test]
    public void TestStatefulness_ThroughAStreamingSession()
    {
        // LSTM(4, stateful=True) on arange(24).reshape(2, 3, 4), called twice: a streaming session keeps the state across
        // steps, so six steps (the three of the sequence, twice) end on the second call's last output.
        var model = NumLstm.Models.ModelBuilder.Input(4).Lstm(4).Build<T>(seed: 1);
        SetConstants((Lstm<T>)model.Layers[0]);
        var session = new NumLstm.Models.StreamingSession<T>(model, batch: 2);
        T[] x = Arange(24), step = new T[8];
        ReadOnlySpan<T> last = default;
        for (int call = 0; call < 2; call++)
            for (int t = 0; t < 3; t++)
            {
                for (int b = 0; b < 2; b++) Array.Copy(x, (b * 3 + t) * 4, step, b * 4, 4);
                last = session.Step(step);
            }
        AssertClose([0.3124785, 0.3124785, 0.3124785, 0.3124785, 0.6863672, 0.6863672, 0.6863672, 0.6863672], last.ToArray(), "after the second call");
    }

    /// <summary>The serving path, whose kernels are its own (packed weights, the two-core step): test_correctness and
    /// test_masking's answers through an <c>InferencePlan</c>, packing W and U per call or once.</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void TestCorrectnessAndMasking_ThroughAnInferencePlan(bool packWeightsOnce)
    {
        ReadOnlySpan<T> Predict(NumLstm.Models.LayerSpec spec, int f, T[] x, int batch, int time, bool[]? mask, double forgetBias = 1.0)
        {
            var model = new NumLstm.Models.ModelSpec { InputFeatures = f, Seed = 1, Layers = [spec] }.Build<T>();
            var lstm = (Lstm<T>)model.Layers[0];
            SetConstants(lstm);
            lstm.Bias.Value.AsSpan(lstm.Units, lstm.Units).Fill(C(forgetBias));
            return NumLstm.Models.ServingExtensions.CreateInferencePlan(model, batch, time, packWeightsOnce).Predict(x, batch, time, mask);
        }
        T[] x72 = Arange(72), x24 = Arange(24);
        AssertClose(Rows(0.6288687, 0.86899155, 0.9460773), Predict(NumLstm.Models.LayerSpec.Lstm(3), 4, x72, 3, 6, null).ToArray(), "LSTM(3)");
        AssertClose(Rows(0.35622165, 0.74789524, 0.8872726), Predict(NumLstm.Models.LayerSpec.Lstm(3, goBackwards: true), 4, x72, 3, 6, null).ToArray(), "go_backwards");
        AssertClose(Rows(0.57019705, 0.8661914, 0.9459622), Predict(NumLstm.Models.LayerSpec.Lstm(3), 4, x72, 3, 6, null, forgetBias: 0.03).ToArray(), "unit_forget_bias=False");
        bool[] mask = [true, true, true, false, true, true, false, false];
        AssertClose([0.11755939, 0.11755939, 0.28556206, 0.28556206], Predict(NumLstm.Models.LayerSpec.Lstm(2), 3, x24, 2, 4, mask).ToArray(), "masked, last output");
        AssertClose(
        [
            0.01588910, 0.01588910, 0.05552048, 0.05552048, 0.11755939, 0.11755939, 0, 0,
            0.14185596, 0.14185596, 0.28556206, 0.28556206, 0, 0, 0, 0,
        ], Predict(NumLstm.Models.LayerSpec.Lstm(2, returnSequences: true) with { ZeroOutputForMask = true }, 3, x24, 2, 4, mask).ToArray(), "zero_output_for_mask");
        bool[] backwardsMask = [false, true, true, true, false, false, true, true];
        AssertClose([0.15341201, 0.15341201, 0.3844719, 0.3844719], Predict(NumLstm.Models.LayerSpec.Lstm(2, goBackwards: true), 3, x24, 2, 4, backwardsMask).ToArray(),
            "go_backwards, left-padded");
    }

    [Test]
    public void LayerNormalization_TestOutput()
    {
        // keras/src/layers/normalization/layer_normalization_test.py, test_output: LayerNormalization(beta_initializer="ones",
        // gamma_initializer="ones") (ε = 1e-3, Keras's default and ours) on arange(5)[None, :] (Keras's tolerance there 1e-6;
        // its answer is given to five places, so 1e-5 here).
        var norm = new LayerNorm<T>();
        norm.Build(LayerShape.Vector(5), new Random(1));
        Array.Fill(norm.Gamma!.Value, T.One);
        Array.Fill(norm.Beta!.Value, T.One);
        var output = new T[5];
        norm.Forward(new SequenceBatch<T>(Arange(5), 1, 1, default), output, norm.CreateCache(), ForwardContext.Inference);
        AssertClose([-0.41386, 0.29307, 1.0, 1.70693, 2.41386], output, "output");
    }

    [Test]
    public void Dense_TestDenseCorrectness()
    {
        // keras/src/layers/core/dense_test.py, test_dense_correctness: Dense(2, activation="relu") with kernel
        // [[1, −2], [3, −4]] (Keras (F, units)) and bias [5, −6] on [[−1, 2]] gives [[10, 0]]; Dense(2, use_bias=False)
        // gives [[5, −6]]. NumLstm stores the kernel transposed, as PyTorch's weight [units, F].
        T[] Apply(Activation activation, bool useBias)
        {
            var dense = new Dense<T>(2, activation, useBias);
            dense.Build(LayerShape.Vector(2), new Random(1));
            T[] kerasKernel = [C(1), C(-2), C(3), C(-4)];
            for (int f = 0; f < 2; f++)
                for (int u = 0; u < 2; u++) dense.Weight.Value[u * 2 + f] = kerasKernel[f * 2 + u];
            if (useBias) { dense.Bias!.Value[0] = C(5); dense.Bias.Value[1] = C(-6); }
            Assert.That(dense.Bias is null, Is.EqualTo(!useBias), "layer.bias is None exactly when use_bias=False");
            var output = new T[2];
            dense.Forward(new SequenceBatch<T>([C(-1), C(2)], 1, 1, default), output, dense.CreateCache(), ForwardContext.Inference);
            return output;
        }
        AssertClose([10.0, 0.0], Apply(Activation.Relu, useBias: true), "relu, with bias");
        AssertClose([5.0, -6.0], Apply(Activation.Linear, useBias: false), "use_bias=False");
    }

    /// <summary>
    /// keras/src/activations/activations_test.py's checks of the activations Dense offers (test_sigmoid, test_tanh,
    /// test_relu, test_softmax and test_temporal_softmax, test_linear): each against its NumPy reference over the
    /// test's ranges, assertAllClose with rtol 1e-5 (atol 1e-6). A Dense(5) with the identity kernel and no bias applies
    /// the activation to the input itself; two rows of five, as the tests' (2, 5).
    /// </summary>
    [TestCase(Activation.Sigmoid, 0.0, 1.0)]
    [TestCase(Activation.Sigmoid, -10.0, 10.0)]
    [TestCase(Activation.Sigmoid, -1e-7, 1e-7)]
    [TestCase(Activation.Sigmoid, 10.0, 100.0)]
    [TestCase(Activation.Sigmoid, -100.0, -10.0)]
    [TestCase(Activation.Tanh, 0.0, 1.0)]
    [TestCase(Activation.Tanh, -10.0, 10.0)]
    [TestCase(Activation.Tanh, -1e-7, 1e-7)]
    [TestCase(Activation.Tanh, 1e4, 1e5)]
    [TestCase(Activation.Relu, 0.1, 10.0)]
    [TestCase(Activation.Relu, -10.0, -0.1)]
    [TestCase(Activation.Relu, -1e-7, 1e-7)]
    [TestCase(Activation.Relu, 1e4, 1e5)]
    [TestCase(Activation.Relu, -1e5, -1e4)]
    [TestCase(Activation.Softmax, 0.0, 1.0)]
    [TestCase(Activation.Softmax, 0.0, 10.0)]
    [TestCase(Activation.Linear, -10.0, 10.0)]
    public void Activations_KerasActivationsTest(Activation activation, double low, double high)
    {
        var dense = new Dense<T>(5, activation, useBias: false);
        dense.Build(LayerShape.Vector(5), new Random(1));
        Array.Clear(dense.Weight.Value);
        for (int u = 0; u < 5; u++) dense.Weight.Value[u * 5 + u] = T.One;
        var random = new Random(1337);
        T[] x = Enumerable.Range(0, 10).Select(_ => C(low + (high - low) * random.NextDouble())).ToArray();
        var output = new T[10];
        dense.Forward(new SequenceBatch<T>(x, 2, 1, default), output, dense.CreateCache(), ForwardContext.Inference);

        double[] v = x.Select(e => double.CreateTruncating(e)).ToArray();
        double[] expected = new double[10];
        for (int r = 0; r < 2; r++)
        {
            double max = v.Skip(r * 5).Take(5).Max(), sum = v.Skip(r * 5).Take(5).Sum(e => Math.Exp(e - max));
            for (int k = r * 5; k < r * 5 + 5; k++)
                expected[k] = activation switch
                {
                    // _ref_sigmoid: 1/(1 + e^−x) for x ≥ 0, e^x/(1 + e^x) below.
                    Activation.Sigmoid => v[k] >= 0 ? 1 / (1 + Math.Exp(-v[k])) : Math.Exp(v[k]) / (1 + Math.Exp(v[k])),
                    Activation.Tanh => Math.Tanh(v[k]),
                    Activation.Relu => Math.Max(0, v[k]),
                    Activation.Softmax => Math.Exp(v[k] - max) / sum,   // _ref_softmax
                    _ => v[k],
                };
        }
        for (int k = 0; k < 10; k++)
            Assert.That(double.CreateTruncating(output[k]), Is.EqualTo(expected[k]).Within(1e-6 + 1e-5 * Math.Abs(expected[k])), $"{activation}({v[k]})");
    }

    [Test]
    public void Dense_TestDenseInvalidUnitsRaises_AndTestDenseErrors()
    {
        // dense_test.py, test_dense_invalid_units_raises ("zero" 0, "negative" −3; the float, None and string cases
        // cannot be written against an int parameter), and test_dense_errors: a built Dense(2) called with another
        // feature count is refused ("incompatible with the layer").
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dense<T>(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dense<T>(-3));
        var dense = new Dense<T>(2, Activation.Relu);
        dense.Build(LayerShape.Vector(2), new Random(1));
        Assert.Throws<ArgumentException>(() => dense.Forward(new SequenceBatch<T>(new T[3], 1, 1, default), new T[2], dense.CreateCache(), ForwardContext.Inference));
    }

    [Test]
    public void LayerNormalization_TestLnBasics_WeightCounts()
    {
        // layer_normalization_test.py, test_ln_basics: two trainable weights (gamma, beta) by default, none with
        // scale=False and center=False. (rms_scaling, axis tuples and regularizers are options NumLstm does not have.)
        int Count(bool center, bool scale)
        {
            var norm = new LayerNorm<T>(center: center, scale: scale);
            norm.Build(LayerShape.Sequence(2), new Random(1));
            return norm.Parameters.Count;
        }
        Assert.That(Count(center: true, scale: true), Is.EqualTo(2));
        Assert.That(Count(center: false, scale: false), Is.EqualTo(0));
    }

    [Test]
    public void LayerNormalization_TestCorrectness_Statistics()
    {
        // layer_normalization_test.py, test_correctness: LayerNormalization on normal(loc=5, scale=10) inputs of shape
        // (1000, 2, 2, 2), normalized over the last axis; (out − β)/γ has mean 0 and std 1 within 0.1. Our draws are
        // not NumPy's, so the same statistics on our own normal draws.
        var norm = new LayerNorm<T>();
        norm.Build(LayerShape.Sequence(2), new Random(1));
        var random = new Random(1337);
        T[] x = Enumerable.Range(0, 8000).Select(_ => C(5 + 10 * Initializers.NextGaussian(random))).ToArray();
        var output = new T[x.Length];
        norm.Forward(new SequenceBatch<T>(x, 1000, 4, default), output, norm.CreateCache(), ForwardContext.Inference);
        double[] z = new double[output.Length];
        for (int k = 0; k < z.Length; k++)
            z[k] = (double.CreateTruncating(output[k]) - double.CreateTruncating(norm.Beta!.Value[k % 2])) / double.CreateTruncating(norm.Gamma!.Value[k % 2]);
        double mean = z.Average(), std = Math.Sqrt(z.Select(v => (v - mean) * (v - mean)).Average());
        Assert.That(mean, Is.EqualTo(0.0).Within(0.1), "mean");
        Assert.That(std, Is.EqualTo(1.0).Within(0.1), "std");
    }

    /// <summary>The serving path's Dense and LayerNorm (their own inference kernels): test_dense_correctness and
    /// LayerNormalization's test_output through an <c>InferencePlan</c>, with center/scale off as well (test_output's
    /// answer with β = γ = 1 taken away: out − 1 without β, and the same without γ since γ = 1).</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void DenseAndLayerNormalization_ThroughAnInferencePlan(bool packWeightsOnce)
    {
        T[] Predict(NumLstm.Models.LayerSpec spec, int f, T[] x, Action<Layer<T>> set)
        {
            var model = new NumLstm.Models.ModelSpec { InputFeatures = f, Seed = 1, Layers = [spec] }.Build<T>();
            set(model.Layers[0]);
            return NumLstm.Models.ServingExtensions.CreateInferencePlan(model, 1, 1, packWeightsOnce).Predict(x, 1, 1).ToArray();
        }
        void SetDense(Layer<T> layer)
        {
            var dense = (Dense<T>)layer;
            T[] weight = [C(1), C(3), C(-2), C(-4)];   // Keras' kernel [[1, −2], [3, −4]], transposed
            weight.CopyTo(dense.Weight.Value, 0);
            if (dense.Bias is not null) { dense.Bias.Value[0] = C(5); dense.Bias.Value[1] = C(-6); }
        }
        AssertClose([10.0, 0.0], Predict(NumLstm.Models.LayerSpec.Dense(2, Activation.Relu), 2, [C(-1), C(2)], SetDense), "dense, relu");
        AssertClose([5.0, -6.0], Predict(NumLstm.Models.LayerSpec.Dense(2, useBias: false), 2, [C(-1), C(2)], SetDense), "dense, use_bias=False");

        void SetOnes(Layer<T> layer)
        {
            var norm = (LayerNorm<T>)layer;
            if (norm.Gamma is not null) Array.Fill(norm.Gamma.Value, T.One);
            if (norm.Beta is not null) Array.Fill(norm.Beta.Value, T.One);
        }
        double[] withBeta = [-0.41386, 0.29307, 1.0, 1.70693, 2.41386];
        double[] withoutBeta = withBeta.Select(v => v - 1).ToArray();
        AssertClose(withBeta, Predict(NumLstm.Models.LayerSpec.LayerNorm(), 5, Arange(5), SetOnes), "layer norm");
        AssertClose(withBeta, Predict(NumLstm.Models.LayerSpec.LayerNorm(scale: false), 5, Arange(5), SetOnes), "layer norm, scale=False");
        AssertClose(withoutBeta, Predict(NumLstm.Models.LayerSpec.LayerNorm(center: false), 5, Arange(5), SetOnes), "layer norm, center=False");
        AssertClose(withoutBeta, Predict(NumLstm.Models.LayerSpec.LayerNorm(center: false, scale: false), 5, Arange(5), SetOnes), "layer norm, neither");
    }

    [Test]
    public void TestStatefulness_TheSecondCallFromTheFirstCallsState()
    {
        // sequence = arange(24).reshape(2, 3, 4); LSTM(4, stateful=True) called twice: the second call starts from the
        // state the first left (here its final h and c passed back in).
        T[] x = Arange(24);
        Lstm<T> lstm = ConstantLstm(4, 4);
        T[] h = new T[8], c = new T[8];
        Run(lstm, x, 2, 3, finalH: h, finalC: c);
        T[] second = Run(lstm, x, 2, 3, initialH: h, initialC: c);
        AssertClose([0.3124785, 0.3124785, 0.3124785, 0.3124785, 0.6863672, 0.6863672, 0.6863672, 0.6863672], second, "second call");
    }
}
