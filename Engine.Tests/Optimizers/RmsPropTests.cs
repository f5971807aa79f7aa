using NumLstm.Optimizers;

namespace NumLstm.Tests.Optimizers;

/// <summary>
/// RMSprop: PyTorch's update (the default; its trajectories against libtorch's are in the parity suite) and Keras's,
/// each against its update written out in doubles, the SIMD body against the scalar tail bit for bit, and the options,
/// state names and validation. Keras's docstring example is a published known answer for both formulas.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class RmsPropTests<T> : OptimizerTestBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public sealed record Options(double Lr, double Rho, double Eps, double Momentum, bool Centered, double WeightDecay);

    /// <summary>torch/optim/rmsprop.py's _single_tensor_rmsprop in doubles (ḡ by lerp, which in doubles is ρḡ + (1 − ρ)g).</summary>
    private static double[] ReferenceTorch(Options o, double[] theta0, double[][] gradients)
    {
        double[] theta = (double[])theta0.Clone();
        int n = theta.Length;
        double[] s = new double[n], average = new double[n], buffer = new double[n];
        foreach (double[] gradient in gradients)
            for (int k = 0; k < n; k++)
            {
                double g = gradient[k] + o.WeightDecay * theta[k];
                s[k] = o.Rho * s[k] + (1 - o.Rho) * g * g;
                double root;
                if (o.Centered)
                {
                    average[k] = o.Rho * average[k] + (1 - o.Rho) * g;
                    root = Math.Sqrt(s[k] - average[k] * average[k]);
                }
                else root = Math.Sqrt(s[k]);
                double denominator = root + o.Eps;
                if (o.Momentum > 0)
                {
                    buffer[k] = o.Momentum * buffer[k] + g / denominator;
                    theta[k] -= o.Lr * buffer[k];
                }
                else theta[k] -= o.Lr * g / denominator;
            }
        return theta;
    }

    /// <summary>keras/src/optimizers/rmsprop.py's update_step in doubles, after the base optimizer's decoupled weight decay
    /// (θ ← θ − θ·λ·lr), as <c>RMSprop(weight_decay=λ)</c> runs.</summary>
    private static double[] ReferenceKeras(Options o, double[] theta0, double[][] gradients, Func<int, double>? rateAt = null)
    {
        double[] theta = (double[])theta0.Clone();
        int n = theta.Length;
        double[] velocity = new double[n], average = new double[n], momentum = new double[n];
        for (int t = 0; t < gradients.Length; t++)
        {
            double lr = rateAt?.Invoke(t) ?? o.Lr;
            for (int k = 0; k < n; k++)
            {
                theta[k] -= theta[k] * o.WeightDecay * lr;
                double g = gradients[t][k];
                velocity[k] = o.Rho * velocity[k] + (1 - o.Rho) * g * g;
                double denominator;
                if (o.Centered)
                {
                    average[k] = o.Rho * average[k] + (1 - o.Rho) * g;
                    denominator = velocity[k] - average[k] * average[k] + o.Eps;
                }
                else denominator = velocity[k] + o.Eps;
                double increment = lr * g / Math.Sqrt(denominator);
                if (o.Momentum > 0)
                {
                    momentum[k] = o.Momentum * momentum[k] + increment;
                    theta[k] -= momentum[k];
                }
                else theta[k] -= increment;
            }
        }
        return theta;
    }

    private static RmsProp<T> Create(Parameter<T>[] parameters, Options o, RmsPropFormula formula)
        => new(parameters, o.Lr, o.Rho, o.Eps, o.Momentum, o.Centered, o.WeightDecay, formula);

    private static IEnumerable<TestCaseData> Cases()
    {
        // ε = 0.3 and 0.05 make its place matter; α = 0.3 takes torch's lerp down its other branch.
        foreach (RmsPropFormula formula in new[] { RmsPropFormula.PyTorch, RmsPropFormula.Keras })
        {
            yield return new TestCaseData(formula, new Options(0.05, 0.9, 0.3, 0, false, 0)).SetArgDisplayNames(formula.ToString(), "plain");
            yield return new TestCaseData(formula, new Options(0.05, 0.8, 0.3, 0.9, false, 0)).SetArgDisplayNames(formula.ToString(), "momentum");
            yield return new TestCaseData(formula, new Options(0.05, 0.9, 0.05, 0, true, 0.1)).SetArgDisplayNames(formula.ToString(), "centered, decay");
            yield return new TestCaseData(formula, new Options(0.02, 0.3, 0.05, 0.5, true, 0.1)).SetArgDisplayNames(formula.ToString(), "centered, momentum, decay, rho 0.3");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void SixSteps_MatchTheFrameworksUpdate_WrittenInDoubles_OnSimdBodyAndTail(RmsPropFormula formula, Options o)
    {
        const int n = 37, steps = 6;   // whole vectors and a tail at every width
        var (theta0, gradients) = Data(n, steps, 12);
        Parameter<T> parameter = MakeParameter("w", theta0);
        RmsProp<T> optimizer = Create([parameter], o, formula);
        foreach (double[] gradient in gradients) { SetGradient(parameter, gradient); optimizer.Step(); }
        double[] expected = formula == RmsPropFormula.Keras ? ReferenceKeras(o, theta0, gradients) : ReferenceTorch(o, theta0, gradients);
        AssertValues(expected, parameter, "θ");

        // The other framework's formula lands elsewhere, so the check above tells the two apart.
        double[] other = formula == RmsPropFormula.Keras ? ReferenceTorch(o, theta0, gradients) : ReferenceKeras(o, theta0, gradients);
        Assert.That(Enumerable.Range(0, n).Max(k => Math.Abs(other[k] - expected[k])), Is.GreaterThan(1e-3));
    }

    [TestCaseSource(nameof(Cases))]
    public void SimdBody_AndScalarTail_AgreeBitwise(RmsPropFormula formula, Options o)
    {
        // One 37-element parameter runs whole vectors and a tail; 37 one-element parameters run the scalar path only.
        const int n = 37;
        var (theta0, gradients) = Data(n, 4, 5);
        Parameter<T> whole = MakeParameter("w", theta0);
        Parameter<T>[] singles = Enumerable.Range(0, n).Select(k => MakeParameter($"w{k}", theta0[k])).ToArray();
        RmsProp<T> a = Create([whole], o, formula), b = Create(singles, o, formula);
        foreach (double[] gradient in gradients)
        {
            SetGradient(whole, gradient);
            for (int k = 0; k < n; k++) singles[k].Gradient[0] = C(gradient[k]);
            a.Step();
            b.Step();
        }
        for (int k = 0; k < n; k++)
            Assert.That(whole.Value[k], Is.EqualTo(singles[k].Value[0]), $"element {k}: SIMD and scalar paths must agree bitwise");
    }

    [TestCase(RmsPropFormula.PyTorch)]
    [TestCase(RmsPropFormula.Keras)]
    public void KerasDocstringExample_OneStepFrom10_Gives9_683772(RmsPropFormula formula)
    {
        // keras.optimizers.RMSprop docstring: RMSprop(learning_rate=0.1), var1 = 10, loss = var1² / 2 (gradient var1),
        // one minimize step → 9.683772, printed from float32 (whose spacing at 10 is 9.5e-7). ε's place moves it by about
        // 1e-8 here, below those digits.
        Parameter<T> parameter = MakeParameter("var1", 10.0);
        var optimizer = new RmsProp<T>([parameter], learningRate: 0.1, formula: formula);
        parameter.Gradient[0] = parameter.Value[0];
        optimizer.Step();
        Assert.That(D(parameter.Value[0]), Is.EqualTo(9.683772).Within(1e-6));
    }

    [Test]
    public void EpsilonPlacement_IsOutsideTheRootForPyTorch_AndInsideForKeras()
    {
        // One step from s = 0 with g = 0.1, ρ = 0.5, ε = 0.01: s = 0.005; PyTorch divides by √s + ε, Keras by √(s + ε).
        foreach (RmsPropFormula formula in new[] { RmsPropFormula.PyTorch, RmsPropFormula.Keras })
        {
            Parameter<T> parameter = MakeParameter("w", 1.0);
            var optimizer = new RmsProp<T>([parameter], learningRate: 0.1, rho: 0.5, epsilon: 0.01, formula: formula);
            parameter.Gradient[0] = C(0.1);
            optimizer.Step();
            double s = 0.5 * 0.1 * 0.1;
            double expected = formula == RmsPropFormula.PyTorch ? 1 - 0.1 * 0.1 / (Math.Sqrt(s) + 0.01) : 1 - 0.1 * 0.1 / Math.Sqrt(s + 0.01);
            Assert.That(D(parameter.Value[0]), Is.EqualTo(expected).Within(Tolerance), formula.ToString());
        }
    }

    [Test]
    public void MomentumBuffer_HoldsTheRateInKeras_NotInPyTorch_SoARateChangeDiffers()
    {
        // PyTorch: b = μb + g/d, θ −= lr·b (a new rate scales the whole buffer at once); Keras: m = μm + lr·g/√(s + ε),
        // θ −= m (the old rate stays in what the buffer holds).
        var o = new Options(0.05, 0.9, 1e-7, 0.9, false, 0);
        var (theta0, gradients) = Data(9, 4, 3);
        double[] RunKeras()
        {
            Parameter<T> p = MakeParameter("w", theta0);
            RmsProp<T> optimizer = Create([p], o, RmsPropFormula.Keras);
            for (int t = 0; t < gradients.Length; t++)
            {
                optimizer.LearningRate = t < 2 ? 0.05 : 0.005;
                SetGradient(p, gradients[t]);
                optimizer.Step();
            }
            return p.Value.Select(D).ToArray();
        }
        double[] keras = RunKeras();
        double[] expected = ReferenceKeras(o, theta0, gradients, t => t < 2 ? 0.05 : 0.005);
        for (int k = 0; k < keras.Length; k++) Assert.That(keras[k], Is.EqualTo(expected[k]).Within(Tolerance * Math.Max(1, Math.Abs(expected[k]))), $"θ[{k}]");

        Parameter<T> torch = MakeParameter("w", theta0);
        RmsProp<T> torchOptimizer = Create([torch], o, RmsPropFormula.PyTorch);
        for (int t = 0; t < gradients.Length; t++)
        {
            torchOptimizer.LearningRate = t < 2 ? 0.05 : 0.005;
            SetGradient(torch, gradients[t]);
            torchOptimizer.Step();
        }
        Assert.That(Enumerable.Range(0, keras.Length).Max(k => Math.Abs(D(torch.Value[k]) - keras[k])), Is.GreaterThan(1e-3));
    }

    [Test]
    public void Defaults_AreKeras_AndTheStateCarriesPyTorchsNames()
    {
        var defaults = new RmsProp<T>([MakeParameter("w", 1)]);
        Assert.That((defaults.LearningRate, defaults.Rho, defaults.Epsilon, defaults.Momentum, defaults.Centered, defaults.WeightDecay, defaults.Formula),
            Is.EqualTo((1e-3, 0.9, 1e-7, 0.0, false, 0.0, RmsPropFormula.PyTorch)));
        Assert.That(defaults.Kind, Is.EqualTo("RMSprop"));

        Parameter<T>[] ps = [MakeParameter("layer.weight", 1, 2), MakeParameter("layer.bias", 3)];
        Assert.That(new RmsProp<T>(ps).ExportState().Slots.Select(s => $"{s.ParameterName}/{s.SlotName}"),
            Is.EqualTo(new[] { "layer.weight/square_avg", "layer.bias/square_avg" }));
        OptimizerState<T> full = new RmsProp<T>(ps, momentum: 0.9, centered: true, formula: RmsPropFormula.Keras).ExportState();
        Assert.That(full.Slots.Select(s => $"{s.ParameterName}/{s.SlotName}"), Is.EqualTo(new[]
        {
            "layer.weight/square_avg", "layer.weight/momentum_buffer", "layer.weight/grad_avg",
            "layer.bias/square_avg", "layer.bias/momentum_buffer", "layer.bias/grad_avg",
        }));
        Assert.That(full.Hyperparameters, Is.EquivalentTo(new Dictionary<string, double>
        {
            ["alpha"] = 0.9, ["eps"] = 1e-7, ["momentum"] = 0.9, ["centered"] = 1, ["weight_decay"] = 0, ["keras_formula"] = 1,
        }));
        Assert.That(new RmsProp<T>(ps, centered: true).ExportState().Slots.Select(s => s.SlotName).Distinct(), Is.EqualTo(new[] { "square_avg", "grad_avg" }));
    }

    [TestCase(RmsPropFormula.PyTorch)]
    [TestCase(RmsPropFormula.Keras)]
    public void ExportImport_ThenContinuing_EqualsContinuingDirectly_Bitwise(RmsPropFormula formula)
    {
        var o = new Options(0.01, 0.9, 1e-7, 0.8, true, 1e-3);
        var (theta0, gradients) = Data(11, 6, 8);
        Parameter<T> original = MakeParameter("w", theta0);
        RmsProp<T> running = Create([original], o, formula);
        for (int t = 0; t < 3; t++) { SetGradient(original, gradients[t]); running.Step(); }
        OptimizerState<T> state = running.ExportState();

        Parameter<T> resumed = new("w", theta0.Length);
        original.Value.CopyTo(resumed.Value, 0);
        RmsProp<T> restored = Create([resumed], o, formula);
        restored.ImportState(state);
        foreach (OptimizerSlot<T> slot in state.Slots) Array.Fill(slot.Values, T.NaN);   // import must have copied

        Parameter<T> fresh = new("w", theta0.Length);
        original.Value.CopyTo(fresh.Value, 0);
        RmsProp<T> withoutState = Create([fresh], o, formula);
        for (int t = 3; t < 6; t++)
        {
            SetGradient(original, gradients[t]); running.Step();
            SetGradient(resumed, gradients[t]); restored.Step();
            SetGradient(fresh, gradients[t]); withoutState.Step();
        }
        Assert.That(resumed.Value, Is.EqualTo(original.Value));
        Assert.That(fresh.Value, Is.Not.EqualTo(original.Value), "without the state the run must differ (the test can fail)");

        // A state of the other formula, or of other options, is refused naming what differs.
        RmsProp<T> otherFormula = Create([MakeParameter("w", theta0)], o, formula == RmsPropFormula.Keras ? RmsPropFormula.PyTorch : RmsPropFormula.Keras);
        Assert.That(() => otherFormula.ImportState(running.ExportState()), Throws.ArgumentException.With.Message.Contain("keras_formula"));
        RmsProp<T> notCentered = Create([MakeParameter("w", theta0)], o with { Centered = false }, formula);
        Assert.That(() => notCentered.ImportState(running.ExportState()), Throws.ArgumentException.With.Message.Contain("centered"));
    }

    [Test]
    public void Step_AllocatesNothing()
    {
        Parameter<T>[] parameters = [MakeParameter("a", 1, 2, 3), MakeParameter("b", 4, 5)];
        foreach (RmsProp<T> optimizer in new[]
        {
            new RmsProp<T>(parameters, momentum: 0.9, centered: true, weightDecay: 0.1),
            new RmsProp<T>(parameters, momentum: 0.9, centered: true, weightDecay: 0.1, formula: RmsPropFormula.Keras),
        })
        {
            optimizer.Step();   // JIT warm-up
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int s = 0; s < 10; s++) optimizer.Step();
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, optimizer.Formula.ToString());
        }
    }

    [Test]
    public void Options_OutsideTheirRange_AreRejectedNamingOptionAndValue()
    {
        Parameter<T>[] ps = [MakeParameter("w", 1, 2)];
        AssertOutOfRange(() => new RmsProp<T>(ps, learningRate: -1e-3), "learningRate", "-0.001");
        AssertOutOfRange(() => new RmsProp<T>(ps, rho: 1.0), "rho", "1");
        AssertOutOfRange(() => new RmsProp<T>(ps, rho: -0.1), "rho", "-0.1");
        AssertOutOfRange(() => new RmsProp<T>(ps, epsilon: 0), "epsilon", "0");
        AssertOutOfRange(() => new RmsProp<T>(ps, epsilon: double.NaN), "epsilon", "NaN");
        AssertOutOfRange(() => new RmsProp<T>(ps, momentum: -0.5), "momentum", "-0.5");
        Assert.That(() => new RmsProp<T>(ps, momentum: double.PositiveInfinity),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("momentum").And.Message.Contain("finite"));
        AssertOutOfRange(() => new RmsProp<T>(ps, weightDecay: -1), "weightDecay", "-1");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new RmsProp<T>(ps, formula: (RmsPropFormula)7));
        Assert.That(e!.ParamName, Is.EqualTo("formula"));
        Assert.That(e.Message, Does.Contain("PyTorch or Keras"));
    }
}
