using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;

namespace NumLstm.Tests.Parity;

/// <summary>
/// NumLstm in double against answers libtorch 2.10 computed in float64 (Engine.Tests/Parity/Fixtures, written by
/// Engine.Tests/Parity/Generator; README.md there). Weights are read from PyTorch state_dict names with
/// <see cref="ModelFile.LoadWeights"/> (bias_ih + bias_hh summed), optimizer parameters with
/// <see cref="SafeTensorsFile.LoadParameters"/>; each test runs forward and backward (or the optimizer) and compares
/// every output and gradient normwise (<see cref="ParityCheck.Tolerance"/>).
/// </summary>
public class TorchParityTests
{
    private static readonly string[] LstmFixtures =
    {
        "lstm_B1_T1_F3_H4.safetensors", "lstm_B3_T6_F4_H5.safetensors", "lstm_B2_T9_F5_H16.safetensors", "lstm_B5_T4_F2_H1.safetensors",
    };
    private static readonly string[] BidirectionalFixtures = { "bilstm_B3_T6_F4_H5.safetensors", "bilstm_ragged_B4_T7_F3_H6.safetensors" };
    private static readonly string[] LayerNormFixtures = { "layernorm_eps1e-3.safetensors", "layernorm_eps1e-5.safetensors" };
    private static readonly string[] SeedModelFixtures = { "seed_model.safetensors", "seed_model_ragged.safetensors" };
    private static readonly string[] LossCases = { "cross_entropy", "cross_entropy_extreme", "mse", "l1", "bce_with_logits" };
    private static readonly string[] OptimizerFixtures =
    {
        "optim_adam_eps1e-8.safetensors", "optim_adam_eps1e-7.safetensors", "optim_adam_amsgrad_wd.safetensors",
        "optim_adamw.safetensors", "optim_sgd_momentum_dampening_wd.safetensors", "optim_sgd_nesterov.safetensors",
        "optim_rmsprop.safetensors", "optim_rmsprop_centered_momentum_wd.safetensors", "optim_rmsprop_alpha0.3_momentum.safetensors",
        "optim_adagrad.safetensors", "optim_adagrad_decay_accumulator_wd.safetensors", "optim_adamax.safetensors", "optim_adamax_beta0.3_wd.safetensors",
        "optim_nadam.safetensors", "optim_nadam_wd.safetensors", "optim_nadamw_beta0.3.safetensors",
    };
    private static readonly string[] ClipNormCases = { "norm_active", "norm_inactive" };

    private static readonly string[] AllFixtures = LstmFixtures.Concat(BidirectionalFixtures).Concat(LayerNormFixtures)
        .Concat(SeedModelFixtures).Concat(OptimizerFixtures)
        .Concat(new[] { "linear.safetensors", "losses.safetensors", "clipping.safetensors" }).ToArray();

    private static ForwardContext Training => new(true, new Random(1));   // no dropout in these models: the random is unused

    // ----------------------------------------------------------------------------------------------------- layers

    [TestCaseSource(nameof(LstmFixtures))]
    public void Lstm_OutputStatesAndGradients_MatchTorch(string file) => RunLstm(ParityFixture.Load(file), new ParityCheck(file), tamper: null);

    /// <summary>nn.LSTM from h0, c0: output [B, T, H], h_n, c_n and the gradients of sum(output ⊙ R) for input, weights, h0, c0.</summary>
    private static void RunLstm(ParityFixture fx, ParityCheck check, Action<Lstm<double>>? tamper)
    {
        int b = fx.Dim("input", 0), t = fx.Dim("input", 1), f = fx.Dim("input", 2), h = fx.Dim("lstm.weight_hh_l0", 1);
        Sequential<double> model = ModelBuilder.Input(f).Lstm(h, returnSequences: true, name: "lstm").Build<double>();
        ModelFile.LoadWeights(model, fx.Path, strict: false);
        var lstm = (Lstm<double>)model.Layers[0];
        tamper?.Invoke(lstm);

        double[] x = fx["input"], h0 = fx["h0"], c0 = fx["c0"];   // h0, c0 [1, B, H] hold [B, H] in the same order
        var output = new double[b * t * h];
        var finalH = new double[b * h];
        var finalC = new double[b * h];
        var cache = lstm.CreateCache();
        lstm.Forward(new SequenceBatch<double>(x, b, t, default), h0, c0, output, finalH, finalC, cache, Training);
        model.ZeroGradients();
        var dx = new double[x.Length];
        var dh0 = new double[b * h];
        var dc0 = new double[b * h];
        lstm.Backward(fx["upstream"], ReadOnlySpan<double>.Empty, ReadOnlySpan<double>.Empty, cache, dx, dh0, dc0);

        Assert.Multiple(() =>
        {
            check.Close("output", output, fx["output"]);
            check.Close("h_n", finalH, fx["h_n"]);
            check.Close("c_n", finalC, fx["c_n"]);
            check.Close("d input", dx, fx["grad.input"]);
            check.Close("d h0", dh0, fx["grad.h0"]);
            check.Close("d c0", dc0, fx["grad.c0"]);
            CloseGradients(check, fx, model, "grad.");
        });
        check.Report();
    }

    [TestCaseSource(nameof(BidirectionalFixtures))]
    public void BidirectionalLstm_ValidStepOutputsHnAndGradients_MatchTorch(string file)
    {
        var fx = ParityFixture.Load(file);
        var check = new ParityCheck(file);
        int b = fx.Dim("input", 0), t = fx.Dim("input", 1), f = fx.Dim("input", 2), h = fx.Dim("bilstm.weight_hh_l0", 1);
        double[] x = fx["input"];
        // Right-padded batch: step t of sample b is valid when t < lengths[b] (torch packs the valid steps).
        bool[] mask = fx.Has("lengths") ? Mask(fx.Labels("lengths"), t) : Array.Empty<bool>();

        // Sequences: torch's pad_packed_sequence output is zero at padded steps, as NumLstm's Bidirectional writes them.
        Sequential<double> sequences = ModelBuilder.Input(f).Bidirectional(h, returnSequences: true, name: "bilstm").Build<double>();
        ModelFile.LoadWeights(sequences, fx.Path, strict: false);
        var cache = sequences.CreateCache();
        double[] output = sequences.Forward(new SequenceBatch<double>(x, b, t, mask), cache, Training).ToArray();
        sequences.ZeroGradients();
        var dx = new double[x.Length];
        sequences.Backward(fx["upstream.output"], cache, dx);

        // Last output: Keras' [B, 2H] = cat(forward after the last valid step, backward after step 0) = torch's
        // h_n [2, B, H] with its direction axis moved next to H.
        Sequential<double> last = ModelBuilder.Input(f).Bidirectional(h, returnSequences: false, name: "bilstm").Build<double>();
        ModelFile.LoadWeights(last, fx.Path, strict: false);
        var lastCache = last.CreateCache();
        double[] hn = last.Forward(new SequenceBatch<double>(x, b, t, mask), lastCache, Training).ToArray();
        last.ZeroGradients();
        var dxLast = new double[x.Length];
        last.Backward(DirectionsLast(fx["upstream.h_n"], b, h), lastCache, dxLast);

        Assert.Multiple(() =>
        {
            check.Close("output", output, fx["output"]);
            check.Close("d input (output)", dx, fx["grad_output.input"]);
            CloseGradients(check, fx, sequences, "grad_output.");
            check.Close("h_n", hn, DirectionsLast(fx["h_n"], b, h));
            check.Close("d input (h_n)", dxLast, fx["grad_h_n.input"]);
            CloseGradients(check, fx, last, "grad_h_n.");
        });
        check.Report();
    }

    [TestCaseSource(nameof(LayerNormFixtures))]
    public void LayerNorm_OutputAndGradients_MatchTorch(string file)
    {
        var fx = ParityFixture.Load(file);
        var check = new ParityCheck(file);
        int b = fx.Dim("input", 0), t = fx.Dim("input", 1), f = fx.Dim("input", 2);
        Sequential<double> model = ModelBuilder.Input(f).LayerNorm(fx.MetaDouble("eps"), name: "layer_norm").Build<double>();
        ModelFile.LoadWeights(model, fx.Path, strict: false);
        RunLayer(check, fx, model, b, t);
    }

    [Test]
    public void Linear_OutputAndGradients_MatchTorch()
    {
        const string file = "linear.safetensors";
        var fx = ParityFixture.Load(file);
        var check = new ParityCheck(file);
        int b = fx.Dim("input", 0), t = fx.Dim("input", 1), f = fx.Dim("input", 2), units = fx.Dim("dense.weight", 0);
        Sequential<double> model = ModelBuilder.Input(f).Dense(units, name: "dense").Build<double>();
        ModelFile.LoadWeights(model, fx.Path, strict: false);
        RunLayer(check, fx, model, b, t);
    }

    /// <summary>A one-layer model applied to every step: output and the gradients of sum(output ⊙ upstream).</summary>
    private static void RunLayer(ParityCheck check, ParityFixture fx, Sequential<double> model, int b, int t)
    {
        double[] x = fx["input"];
        var cache = model.CreateCache();
        double[] output = model.Forward(new SequenceBatch<double>(x, b, t, default), cache, Training).ToArray();
        model.ZeroGradients();
        var dx = new double[x.Length];
        model.Backward(fx["upstream"], cache, dx);
        Assert.Multiple(() =>
        {
            check.Close("output", output, fx["output"]);
            check.Close("d input", dx, fx["grad.input"]);
            CloseGradients(check, fx, model, "grad.");
        });
        check.Report();
    }

    // ----------------------------------------------------------------------------------------------------- losses

    [TestCaseSource(nameof(LossCases))]
    public void Loss_ValueAndGradient_MatchTorch(string name)
    {
        var fx = ParityFixture.Load("losses.safetensors");
        var check = new ParityCheck($"losses.safetensors {name}");
        double[] input = fx[$"{name}.input"];
        var gradient = new double[input.Length];
        double loss = name switch
        {
            "cross_entropy" or "cross_entropy_extreme" => new SoftmaxCrossEntropy<double>().Forward(input, fx.Labels($"{name}.target"), gradient),
            "mse" => new MeanSquaredError<double>().Forward(input, fx[$"{name}.target"], gradient),
            "l1" => new MeanAbsoluteError<double>().Forward(input, fx[$"{name}.target"], gradient),
            "bce_with_logits" => new BinaryCrossEntropy<double>(fromLogits: true).Forward(input, fx[$"{name}.target"], gradient),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such loss case"),
        };
        Assert.Multiple(() =>
        {
            check.Close("loss", loss, fx[$"{name}.loss"][0]);
            check.Close("d input", gradient, fx[$"{name}.grad.input"]);
        });
        check.Report();
    }

    // ------------------------------------------------------------------------------------------------ whole model

    [TestCaseSource(nameof(SeedModelFixtures))]
    public void SeedModel_LossAndEveryParameterGradient_MatchTorch(string file)
    {
        var fx = ParityFixture.Load(file);
        var check = new ParityCheck(file);
        int b = fx.Dim("input", 0), t = fx.Dim("input", 1), f = fx.Dim("input", 2);
        int h1 = fx.Dim("bidirectional_1.weight_hh_l0", 1), h2 = fx.Dim("bidirectional_2.weight_hh_l0", 1);
        double eps = fx.MetaDouble("eps");
        // Default layer names, which are the ones the fixture's state_dict uses (bidirectional_1 ... dense_1).
        Sequential<double> model = ModelBuilder.Input(f).Bidirectional(h1, returnSequences: true).LayerNorm(eps)
            .Bidirectional(h2).LayerNorm(eps).Dense(2).Build<double>();
        ModelFile.LoadWeights(model, fx.Path, strict: false);
        double[] x = fx["input"];
        bool[] mask = fx.Has("lengths") ? Mask(fx.Labels("lengths"), t) : Array.Empty<bool>();

        var cache = model.CreateCache();
        double[] prediction = model.Forward(new SequenceBatch<double>(x, b, t, mask), cache, Training).ToArray();
        var dPrediction = new double[prediction.Length];
        double loss = new MeanSquaredError<double>().Forward(prediction, fx["target"], dPrediction);
        model.ZeroGradients();
        var dx = new double[x.Length];
        model.Backward(dPrediction, cache, dx);

        Assert.Multiple(() =>
        {
            check.Close("prediction", prediction, fx["prediction"]);
            check.Close("loss", loss, fx["loss"][0]);
            check.Close("d input", dx, fx["grad.input"]);
            CloseGradients(check, fx, model, "grad.");
        });
        check.Report();
    }

    // ------------------------------------------------------------------------------------------------- optimizers

    [TestCaseSource(nameof(OptimizerFixtures))]
    public void Optimizer_TenStepTrajectoryAndState_MatchTorch(string file) => RunOptimizer(ParityFixture.Load(file), new ParityCheck(file), epsilon: null);

    /// <summary>
    /// Ten steps from param.* with grad.*[step]; after each, θ is compared with trajectory.*[step] relative to how far
    /// torch moved it (max |θ − θ0|), since θ itself hides small update errors. The final state slots are compared
    /// with torch's state (exp_avg ... momentum_buffer: NumLstm's slots carry PyTorch's names).
    /// </summary>
    private static void RunOptimizer(ParityFixture fx, ParityCheck check, double? epsilon, RmsPropFormula rmsPropFormula = RmsPropFormula.PyTorch)
    {
        string[] names = fx.TensorNames.Where(n => n.StartsWith("param.", StringComparison.Ordinal)).Select(n => n["param.".Length..]).Order(StringComparer.Ordinal).ToArray();
        Assert.That(names, Is.Not.Empty, $"{fx.Name} holds no param.* tensors");
        // The parameters take the fixture's names, so SafeTensorsFile.LoadParameters reads θ0 for them.
        Parameter<double>[] ps = names.Select(n => new Parameter<double>("param." + n, checked((int)fx.Shape("param." + n)[0]))).ToArray();
        SafeTensorsFile.LoadParameters(fx.Path, ps, strict: false);
        double lr = fx.MetaDouble("lr");
        Optimizer<double> optimizer = fx.Meta("kind") switch
        {
            "Adam" => new Adam<double>(ps, lr, fx.MetaDouble("beta1"), fx.MetaDouble("beta2"), epsilon ?? fx.MetaDouble("eps"),
                fx.MetaDouble("weight_decay"), fx.MetaBool("amsgrad")),
            "AdamW" => new AdamW<double>(ps, lr, fx.MetaDouble("beta1"), fx.MetaDouble("beta2"), epsilon ?? fx.MetaDouble("eps"),
                fx.MetaDouble("weight_decay"), fx.MetaBool("amsgrad")),
            "SGD" => new Sgd<double>(ps, lr, fx.MetaDouble("momentum"), fx.MetaDouble("dampening"), fx.MetaBool("nesterov"), fx.MetaDouble("weight_decay")),
            "RMSprop" => new RmsProp<double>(ps, lr, fx.MetaDouble("alpha"), epsilon ?? fx.MetaDouble("eps"), fx.MetaDouble("momentum"),
                fx.MetaBool("centered"), fx.MetaDouble("weight_decay"), rmsPropFormula),
            "Adagrad" => new Adagrad<double>(ps, lr, fx.MetaDouble("initial_accumulator_value"), epsilon ?? fx.MetaDouble("eps"), fx.MetaDouble("lr_decay"),
                fx.MetaDouble("weight_decay")),
            "Adamax" => new Adamax<double>(ps, lr, fx.MetaDouble("beta1"), fx.MetaDouble("beta2"), epsilon ?? fx.MetaDouble("eps"), fx.MetaDouble("weight_decay")),
            "NAdam" => new NAdam<double>(ps, lr, fx.MetaDouble("beta1"), fx.MetaDouble("beta2"), epsilon ?? fx.MetaDouble("eps"), fx.MetaDouble("weight_decay"),
                fx.MetaDouble("momentum_decay"), fx.MetaBool("decoupled_weight_decay")),
            string kind => throw new InvalidOperationException($"{fx.Name}: unknown optimizer kind '{kind}'"),
        };

        double[][] theta0 = names.Select(n => fx["param." + n]).ToArray();
        double[][] grads = names.Select(n => fx["grad." + n]).ToArray();
        double[][] trajectory = names.Select(n => fx["trajectory." + n]).ToArray();
        int steps = checked((int)fx.Shape("grad." + names[0])[0]);
        Assert.Multiple(() =>
        {
            for (int step = 0; step < steps; step++)
            {
                for (int p = 0; p < ps.Length; p++) grads[p].AsSpan(step * ps[p].Length, ps[p].Length).CopyTo(ps[p].Gradient);
                optimizer.Step();
                for (int p = 0; p < ps.Length; p++)
                {
                    ReadOnlySpan<double> expected = trajectory[p].AsSpan(step * ps[p].Length, ps[p].Length);
                    double[] moved = new double[ps[p].Length];
                    for (int k = 0; k < moved.Length; k++) moved[k] = expected[k] - theta0[p][k];
                    check.Close($"θ {names[p]} after step {step + 1}", ps[p].Value, expected, moved);
                }
            }
            var slots = optimizer.ExportState().Slots;
            foreach (OptimizerSlot<double> slot in slots)
                check.Close($"{slot.SlotName} {slot.ParameterName}", slot.Values, fx[$"state.{slot.ParameterName["param.".Length..]}.{slot.SlotName}"]);
            // NAdam's scalar mu_product, which NumLstm keeps among its state's Scalars rather than its arrays.
            if (optimizer is NAdam<double> nadam)
                foreach (string name in names)
                    check.Close($"mu_product {name}", nadam.MomentumProduct, fx["mu_product." + name][0]);
            int stored = fx.TensorNames.Count(n => n.StartsWith("state.", StringComparison.Ordinal));
            Assert.That(slots.Count, Is.EqualTo(stored), $"{fx.Name}: NumLstm exports {slots.Count} state slots, torch's state has {stored}");
        });
        check.Report();
    }

    [TestCaseSource(nameof(ClipNormCases))]
    public void ClipByGlobalNorm_MatchesTorchClipGradNorm(string name)
    {
        var fx = ParityFixture.Load("clipping.safetensors");
        var check = new ParityCheck($"clipping.safetensors {name}");
        Parameter<double>[] ps = Gradients(fx, name);
        double total = GradientClipping.ClipByGlobalNorm(ps, fx.MetaDouble($"{name}.max_norm"));
        Assert.Multiple(() =>
        {
            check.Close("total norm", total, fx[$"{name}.total_norm"][0]);
            foreach (var p in ps) check.Close($"clipped {p.Name}", p.Gradient, fx[$"{name}.grad_out.{p.Name}"]);
        });
        check.Report();
    }

    [Test]
    public void ClipByValue_MatchesTorchClipGradValue()
    {
        var fx = ParityFixture.Load("clipping.safetensors");
        var check = new ParityCheck("clipping.safetensors value");
        Parameter<double>[] ps = Gradients(fx, "value");
        GradientClipping.ClipByValue(ps, fx.MetaDouble("value.clip_value"));
        Assert.Multiple(() =>
        {
            foreach (var p in ps) check.Close($"clipped {p.Name}", p.Gradient, fx[$"value.grad_out.{p.Name}"]);
        });
        check.Report();
    }

    // --------------------------------------------------------------------------- the checks can fail, and say why

    [Test]
    public void Lstm_WithOneRecurrentWeightNudgedBy1e9_IsCaught()
    {
        var check = new ParityCheck("lstm_B3_T6_F4_H5.safetensors (weight_hh[7] + 1e-9)", assert: false);
        RunLstm(ParityFixture.Load("lstm_B3_T6_F4_H5.safetensors"), check, tamper: lstm => lstm.WeightHh.Value[7] += 1e-9);
        Assert.That(check.Worst, Is.GreaterThan(ParityCheck.Tolerance), "a weight off by 1e-9 must fail the comparison");
    }

    [Test]
    public void Lstm_LoadedWithoutBiasHh_IsCaught()
    {
        // The fixtures' bias_hh is not zero, so a loader that kept bias_ih alone would fail them.
        var fx = ParityFixture.Load("lstm_B3_T6_F4_H5.safetensors");
        double[] biasHh = fx["lstm.bias_hh_l0"];
        Assert.That(biasHh.Max(Math.Abs), Is.GreaterThan(0.01), "fixture's bias_hh");
        var check = new ParityCheck("lstm_B3_T6_F4_H5.safetensors (bias_hh dropped)", assert: false);
        RunLstm(fx, check, tamper: lstm => { for (int k = 0; k < biasHh.Length; k++) lstm.Bias.Value[k] -= biasHh[k]; });
        Assert.That(check.Worst, Is.GreaterThan(1e-3));
    }

    [Test]
    public void FixtureValue_PerturbedBy1e10OfItsScale_IsCaught()
    {
        var fx = ParityFixture.Load("lstm_B2_T9_F5_H16.safetensors");
        double scale = fx["grad.lstm.weight_hh_l0"].Max(Math.Abs);
        fx.Perturb("grad.lstm.weight_hh_l0", 100, 1e-10 * scale);
        var check = new ParityCheck("lstm_B2_T9_F5_H16.safetensors (grad weight_hh[100] + 1e-10 max)", assert: false);
        RunLstm(fx, check, tamper: null);
        Assert.That(check.Worst, Is.GreaterThan(ParityCheck.Tolerance));
        Assert.That(check.WorstName, Is.EqualTo("d lstm.weight_hh_l0"));
    }

    [Test]
    public void Adam_WithEpsilon1e7_AgainstTheEpsilon1e8Trajectory_IsCaught()
    {
        var check = new ParityCheck("optim_adam_eps1e-8.safetensors run with eps 1e-7", assert: false);
        RunOptimizer(ParityFixture.Load("optim_adam_eps1e-8.safetensors"), check, epsilon: 1e-7);
        Assert.That(check.Worst, Is.GreaterThan(ParityCheck.Tolerance));
    }

    [Test]
    public void RmsProp_KerasFormula_AgainstTorchsTrajectory_IsCaught()
    {
        // Keras puts ε inside the root and lr inside the momentum buffer; with a constant rate only ε's place differs,
        // which the fixture's zero and ±1e-30 gradients expose.
        foreach (string file in new[] { "optim_rmsprop.safetensors", "optim_rmsprop_centered_momentum_wd.safetensors" })
        {
            var check = new ParityCheck($"{file} run with the Keras formula", assert: false);
            RunOptimizer(ParityFixture.Load(file), check, epsilon: null, RmsPropFormula.Keras);
            Assert.That(check.Worst, Is.GreaterThan(ParityCheck.Tolerance), file);
        }
    }

    [TestCase("optim_adagrad.safetensors", 1e-3)]
    [TestCase("optim_adamax.safetensors", 1e-3)]
    [TestCase("optim_nadam.safetensors", 1e-3)]
    public void AdagradAdamaxAndNAdam_WithAnotherEpsilon_AgainstTorchsTrajectory_AreCaught(string file, double epsilon)
    {
        var check = new ParityCheck($"{file} run with eps {epsilon}", assert: false);
        RunOptimizer(ParityFixture.Load(file), check, epsilon);
        Assert.That(check.Worst, Is.GreaterThan(ParityCheck.Tolerance));
    }

    [Test]
    public void MissingFixture_FailsNamingTheFolderAndTheRegenerateCommand()
    {
        var e = Assert.Throws<FileNotFoundException>(() => ParityFixture.Load("no_such_fixture.safetensors"));
        Assert.That(e!.Message, Does.Contain("no_such_fixture.safetensors").And.Contain(ParityFixture.Folder).And.Contain(ParityFixture.RegenerateCommand));
    }

    [Test]
    public void FixtureFolder_HoldsExactlyTheTestedFiles_FromLibtorch_UnderOneMegabyte()
    {
        Assert.That(Directory.Exists(ParityFixture.Folder), Is.True,
            $"{ParityFixture.Folder} is missing: Engine.Tests.csproj copies Parity/Fixtures to the output; regenerate with `{ParityFixture.RegenerateCommand}`");
        string[] present = Directory.GetFiles(ParityFixture.Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.That(present, Is.EqualTo(AllFixtures.Order(StringComparer.Ordinal).ToArray()), "a fixture without a test, or a test without its fixture");
        long bytes = 0;
        Assert.Multiple(() =>
        {
            foreach (string file in AllFixtures)
            {
                var fx = ParityFixture.Load(file);
                bytes += new FileInfo(fx.Path).Length;
                Assert.That(fx.Meta("torch"), Does.StartWith("libtorch 2.10"), file);
                Assert.That(fx.Meta("generator"), Is.EqualTo(ParityFixture.RegenerateCommand), file);
                Assert.That(DateOnly.TryParseExact(fx.Meta("date"), "yyyy-MM-dd", out _), Is.True, $"{file} date");
            }
        });
        Assert.That(bytes, Is.LessThan(1_000_000));
    }

    // ---------------------------------------------------------------------------------------------------- helpers

    /// <summary>
    /// Compares every parameter gradient with the fixture's &lt;prefix&gt;&lt;state_dict name&gt;, in the names ModelFile maps
    /// the parameter to (an LSTM bias to both bias_ih and bias_hh, whose torch gradients are equal), and checks that no
    /// gradient of the fixture under that prefix was left out.
    /// </summary>
    private static void CloseGradients(ParityCheck check, ParityFixture fx, Sequential<double> model, string prefix)
    {
        var compared = new HashSet<string>(StringComparer.Ordinal);
        foreach (NamedParameter<double> p in model.NamedParameters)
            foreach ((string name, bool _) in ModelFile.PyTorchNames(p))
            {
                check.Close($"d {name}", p.Parameter.Gradient, fx[prefix + name]);
                compared.Add(prefix + name);
            }
        // Parameter gradients are named layer.parameter; input, h0 and c0 gradients have no dot after the prefix.
        string[] stored = fx.TensorNames.Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n[prefix.Length..].Contains('.')).ToArray();
        Assert.That(compared, Is.EquivalentTo(stored), $"{fx.Name}: parameter gradients compared vs stored under '{prefix}'");
    }

    private static bool[] Mask(int[] lengths, int time)
    {
        var mask = new bool[lengths.Length * time];
        for (int b = 0; b < lengths.Length; b++)
            for (int t = 0; t < time; t++) mask[b * time + t] = t < lengths[b];
        return mask;
    }

    /// <summary>[2, B, H] (torch's h_n: direction, sample, unit) → [B, 2H] (NumLstm's concatenated last output).</summary>
    private static double[] DirectionsLast(double[] values, int batch, int hidden)
    {
        var result = new double[values.Length];
        for (int d = 0; d < 2; d++)
            for (int b = 0; b < batch; b++)
                Array.Copy(values, (d * batch + b) * hidden, result, (b * 2 + d) * hidden, hidden);
        return result;
    }

    private static Parameter<double>[] Gradients(ParityFixture fx, string name)
    {
        string prefix = $"{name}.grad_in.";
        return fx.TensorNames.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).Select(n =>
        {
            double[] values = fx[n];
            var p = new Parameter<double>(n[prefix.Length..], values.Length);
            values.CopyTo(p.Gradient, 0);
            return p;
        }).ToArray();
    }
}
