using NumLstm.Optimizers;

namespace NumLstm.Tests.Optimizers;

/// <summary>
/// Adagrad and Adamax: PyTorch's updates (the defaults; their trajectories against libtorch's are in the parity suite) and
/// Keras's, each against its update written out in doubles, the SIMD body against the scalar tail bit for bit, the
/// options, state names and validation.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class AdagradAdamaxTests<T> : OptimizerTestBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static double[] Run(Optimizer<T> optimizer, Parameter<T> parameter, double[][] gradients)
    {
        foreach (double[] gradient in gradients) { SetGradient(parameter, gradient); optimizer.Step(); }
        return parameter.Value.Select(D).ToArray();
    }

    // ---------------------------------------------------------------------------------------------------------- Adagrad

    public sealed record AdagradOptions(double Lr, double Initial, double Eps, double LrDecay, double WeightDecay);

    /// <summary>torch/optim/adagrad.py (g += λθ, s += g², θ −= clr·g/(√s + ε)) or keras/src/optimizers/adagrad.py after the
    /// base optimizer's decoupled weight decay (θ −= θ·λ·lr, lr undecayed; then θ −= lr·g/√(s + ε)), in doubles.</summary>
    private static double[] ReferenceAdagrad(AdagradOptions o, bool keras, double[] theta0, double[][] gradients)
    {
        double[] theta = (double[])theta0.Clone();
        double[] s = Enumerable.Repeat(o.Initial, theta.Length).ToArray();
        for (int t = 1; t <= gradients.Length; t++)
        {
            double clr = o.Lr / (1 + (t - 1) * o.LrDecay);
            for (int k = 0; k < theta.Length; k++)
            {
                if (keras) theta[k] -= theta[k] * o.WeightDecay * o.Lr;
                double g = keras ? gradients[t - 1][k] : gradients[t - 1][k] + o.WeightDecay * theta[k];
                s[k] += g * g;
                theta[k] -= keras ? clr * g / Math.Sqrt(s[k] + o.Eps) : clr * g / (Math.Sqrt(s[k]) + o.Eps);
            }
        }
        return theta;
    }

    private static IEnumerable<TestCaseData> AdagradCases()
    {
        // ε = 0.05 with a zero starting sum makes its place matter.
        foreach (AdagradFormula formula in new[] { AdagradFormula.PyTorch, AdagradFormula.Keras })
        {
            yield return new TestCaseData(formula, new AdagradOptions(0.1, 0, 0.05, 0, 0)).SetArgDisplayNames(formula.ToString(), "zero start");
            yield return new TestCaseData(formula, new AdagradOptions(0.1, 0.1, 0.05, 0.2, 0.1)).SetArgDisplayNames(formula.ToString(), "start 0.1, lr decay, L2");
        }
    }

    [TestCaseSource(nameof(AdagradCases))]
    public void Adagrad_SixSteps_MatchTheFrameworksUpdate_AndTheSimdBodyMatchesTheTailBitwise(AdagradFormula formula, AdagradOptions o)
    {
        const int n = 37;
        var (theta0, gradients) = Data(n, 6, 21, scale: 0.2);
        Adagrad<T> Create(Parameter<T>[] ps) => new(ps, o.Lr, o.Initial, o.Eps, o.LrDecay, o.WeightDecay, formula);
        Parameter<T> whole = MakeParameter("w", theta0);
        double[] result = Run(Create([whole]), whole, gradients);
        double[] expected = ReferenceAdagrad(o, formula == AdagradFormula.Keras, theta0, gradients);
        AssertValues(expected, whole, "θ");
        double[] other = ReferenceAdagrad(o, formula != AdagradFormula.Keras, theta0, gradients);
        Assert.That(Enumerable.Range(0, n).Max(k => Math.Abs(other[k] - expected[k])), Is.GreaterThan(1e-3), "the other formula must land elsewhere");

        Parameter<T>[] singles = Enumerable.Range(0, n).Select(k => MakeParameter($"w{k}", theta0[k])).ToArray();
        Adagrad<T> scalar = Create(singles);
        foreach (double[] gradient in gradients)
        {
            for (int k = 0; k < n; k++) singles[k].Gradient[0] = C(gradient[k]);
            scalar.Step();
        }
        for (int k = 0; k < n; k++) Assert.That(singles[k].Value[0], Is.EqualTo(whole.Value[k]), $"element {k}: SIMD and scalar paths must agree bitwise");
        Assert.That(result, Has.Length.EqualTo(n));
    }

    [Test]
    public void Adagrad_Defaults_AreKeras_StartTheSumThere_AndTheStateCarriesPyTorchsName()
    {
        Parameter<T>[] ps = [MakeParameter("layer.weight", 1, 2), MakeParameter("layer.bias", 3)];
        var adagrad = new Adagrad<T>(ps);
        Assert.That((adagrad.LearningRate, adagrad.InitialAccumulatorValue, adagrad.Epsilon, adagrad.LrDecay, adagrad.WeightDecay, adagrad.Formula),
            Is.EqualTo((1e-3, 0.1, 1e-7, 0.0, 0.0, AdagradFormula.PyTorch)));
        OptimizerState<T> state = adagrad.ExportState();
        Assert.That(state.Kind, Is.EqualTo("Adagrad"));
        Assert.That(state.Slots.Select(s => $"{s.ParameterName}/{s.SlotName}"), Is.EqualTo(new[] { "layer.weight/sum", "layer.bias/sum" }));
        Assert.That(state.Slots.SelectMany(s => s.Values).Select(D), Is.All.EqualTo(D(C(0.1))), "the sum starts at the initial accumulator value");
        Assert.That(new Adagrad<T>(ps, formula: AdagradFormula.Keras).ExportState().Hyperparameters, Is.EquivalentTo(new Dictionary<string, double>
        {
            ["lr_decay"] = 0, ["weight_decay"] = 0, ["initial_accumulator_value"] = 0.1, ["eps"] = 1e-7, ["keras_formula"] = 1,
        }));
    }

    // ----------------------------------------------------------------------------------------------------------- Adamax

    public sealed record AdamaxOptions(double Lr, double Beta1, double Beta2, double Eps, double WeightDecay);

    /// <summary>torch/optim/adamax.py (g += λθ, u = max(β2u, |g| + ε), θ −= lr/(1 − β1^t)·m/u) or
    /// keras/src/optimizers/adamax.py after the base optimizer's decoupled weight decay (θ −= θ·λ·lr; u = max(β2u, |g|),
    /// θ −= lr·m / ((1 − β1^t)(u + ε))), in doubles.</summary>
    private static double[] ReferenceAdamax(AdamaxOptions o, bool keras, double[] theta0, double[][] gradients)
    {
        double[] theta = (double[])theta0.Clone();
        double[] m = new double[theta.Length], u = new double[theta.Length];
        for (int t = 1; t <= gradients.Length; t++)
        {
            double correction = 1 - Math.Pow(o.Beta1, t);
            for (int k = 0; k < theta.Length; k++)
            {
                if (keras) theta[k] -= theta[k] * o.WeightDecay * o.Lr;
                double g = keras ? gradients[t - 1][k] : gradients[t - 1][k] + o.WeightDecay * theta[k];
                m[k] = o.Beta1 * m[k] + (1 - o.Beta1) * g;
                if (keras)
                {
                    u[k] = Math.Max(o.Beta2 * u[k], Math.Abs(g));
                    theta[k] -= o.Lr * m[k] / (correction * (u[k] + o.Eps));
                }
                else
                {
                    u[k] = Math.Max(o.Beta2 * u[k], Math.Abs(g) + o.Eps);
                    theta[k] -= o.Lr / correction * m[k] / u[k];
                }
            }
        }
        return theta;
    }

    private static IEnumerable<TestCaseData> AdamaxCases()
    {
        // ε of 0.3 and 0.05 against gradients of ±0.2 make its place matter; β1 = 0.3 takes torch's lerp down its other branch.
        foreach (AdamFormula formula in new[] { AdamFormula.PyTorch, AdamFormula.Keras })
        {
            yield return new TestCaseData(formula, new AdamaxOptions(0.1, 0.9, 0.999, 0.3, 0)).SetArgDisplayNames(formula.ToString(), "defaults' betas");
            yield return new TestCaseData(formula, new AdamaxOptions(0.1, 0.3, 0.8, 0.05, 0.1)).SetArgDisplayNames(formula.ToString(), "beta1 0.3, L2");
        }
    }

    [TestCaseSource(nameof(AdamaxCases))]
    public void Adamax_SixSteps_MatchTheFrameworksUpdate_AndTheSimdBodyMatchesTheTailBitwise(AdamFormula formula, AdamaxOptions o)
    {
        const int n = 37;
        var (theta0, gradients) = Data(n, 6, 22, scale: 0.2);
        Adamax<T> Create(Parameter<T>[] ps) => new(ps, o.Lr, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, formula);
        Parameter<T> whole = MakeParameter("w", theta0);
        Run(Create([whole]), whole, gradients);
        double[] expected = ReferenceAdamax(o, formula == AdamFormula.Keras, theta0, gradients);
        AssertValues(expected, whole, "θ");
        // With β2 near 1 the two placements nearly agree (ε(1 − β2) a step apart once β2·u leads), so "elsewhere" is measured
        // against this test's tolerance: twenty times it.
        double[] other = ReferenceAdamax(o, formula != AdamFormula.Keras, theta0, gradients);
        Assert.That(Enumerable.Range(0, n).Max(k => Math.Abs(other[k] - expected[k])), Is.GreaterThan(20 * Tolerance), "the other formula must land elsewhere");

        Parameter<T>[] singles = Enumerable.Range(0, n).Select(k => MakeParameter($"w{k}", theta0[k])).ToArray();
        Adamax<T> scalar = Create(singles);
        foreach (double[] gradient in gradients)
        {
            for (int k = 0; k < n; k++) singles[k].Gradient[0] = C(gradient[k]);
            scalar.Step();
        }
        for (int k = 0; k < n; k++) Assert.That(singles[k].Value[0], Is.EqualTo(whole.Value[k]), $"element {k}: SIMD and scalar paths must agree bitwise");
    }

    [Test]
    public void Adamax_Defaults_AreKeras_AndTheStateCarriesPyTorchsNames()
    {
        Parameter<T>[] ps = [MakeParameter("layer.weight", 1, 2), MakeParameter("layer.bias", 3)];
        var adamax = new Adamax<T>(ps);
        Assert.That((adamax.LearningRate, adamax.Beta1, adamax.Beta2, adamax.Epsilon, adamax.WeightDecay, adamax.Formula),
            Is.EqualTo((1e-3, 0.9, 0.999, 1e-7, 0.0, AdamFormula.PyTorch)));
        OptimizerState<T> state = adamax.ExportState();
        Assert.That(state.Kind, Is.EqualTo("Adamax"));
        Assert.That(state.Slots.Select(s => $"{s.ParameterName}/{s.SlotName}"),
            Is.EqualTo(new[] { "layer.weight/exp_avg", "layer.weight/exp_inf", "layer.bias/exp_avg", "layer.bias/exp_inf" }));
    }

    [Test]
    public void Adamax_KerasFormula_TakesBeta1PowerInTheParametersType()
    {
        // Keras: beta_1_power = ops.power(cast(β1, dtype), step) in the variable's type. One step from m = u = 0 with
        // g = 1: m = 1 − β1, u = 1, θ −= lr·(1 − β1) / ((1 − β1)·(1 + ε)) = lr / (1 + ε), all in T.
        Parameter<T> parameter = MakeParameter("w", 0.0);
        var adamax = new Adamax<T>([parameter], learningRate: 0.5, epsilon: 0.25, formula: AdamFormula.Keras);
        parameter.Gradient[0] = T.One;
        adamax.Step();
        T oneMinusBeta1 = C(1 - 0.9), power = T.One - T.Pow(C(0.9), T.One);
        T expected = T.Zero - C(0.5) * oneMinusBeta1 / (power * (T.One + C(0.25)));
        Assert.That(parameter.Value[0], Is.EqualTo(expected));
    }

    // ------------------------------------------------------------------------------------------------------------- both

    private static IEnumerable<TestCaseData> Factories()
    {
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Optimizer<T>>)(ps => new Adagrad<T>(ps, 0.05, lrDecay: 0.1, weightDecay: 1e-3))).SetArgDisplayNames("Adagrad");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Optimizer<T>>)(ps => new Adagrad<T>(ps, 0.05, formula: AdagradFormula.Keras))).SetArgDisplayNames("Adagrad, Keras");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Optimizer<T>>)(ps => new Adamax<T>(ps, 0.05, weightDecay: 1e-3))).SetArgDisplayNames("Adamax");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Optimizer<T>>)(ps => new Adamax<T>(ps, 0.05, formula: AdamFormula.Keras))).SetArgDisplayNames("Adamax, Keras");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Optimizer<T>>)(ps => new Adagrad<T>(ps, 0.05, lrDecay: 0.1, weightDecay: 1e-2, formula: AdagradFormula.Keras))).SetArgDisplayNames("Adagrad, Keras, decoupled decay");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Optimizer<T>>)(ps => new Adamax<T>(ps, 0.05, weightDecay: 1e-2, decoupledWeightDecay: true))).SetArgDisplayNames("Adamax, decoupled decay");
    }

    [TestCaseSource(nameof(Factories))]
    public void ExportImport_ThenContinuing_EqualsContinuingDirectly_Bitwise_AndStepsAllocateNothing(Func<IReadOnlyList<Parameter<T>>, Optimizer<T>> create)
    {
        var (theta0, gradients) = Data(11, 6, 9, scale: 0.2);
        Parameter<T> original = MakeParameter("w", theta0);
        Optimizer<T> running = create([original]);
        for (int t = 0; t < 3; t++) { SetGradient(original, gradients[t]); running.Step(); }
        OptimizerState<T> state = running.ExportState();

        Parameter<T> resumed = new("w", theta0.Length), fresh = new("w", theta0.Length);
        original.Value.CopyTo(resumed.Value, 0);
        original.Value.CopyTo(fresh.Value, 0);
        Optimizer<T> restored = create([resumed]), withoutState = create([fresh]);
        restored.ImportState(state);
        foreach (OptimizerSlot<T> slot in state.Slots) Array.Fill(slot.Values, T.NaN);   // import must have copied
        for (int t = 3; t < 6; t++)
        {
            SetGradient(original, gradients[t]); running.Step();
            SetGradient(resumed, gradients[t]); restored.Step();
            SetGradient(fresh, gradients[t]); withoutState.Step();
        }
        Assert.That(restored.StepCount, Is.EqualTo(6));
        Assert.That(resumed.Value, Is.EqualTo(original.Value));
        Assert.That(fresh.Value, Is.Not.EqualTo(original.Value), "without the state the run must differ (the test can fail)");

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int s = 0; s < 10; s++) running.Step();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "bytes allocated by 10 steps");
    }

    [Test]
    public void Options_OutsideTheirRange_AreRejectedNamingOptionAndValue()
    {
        Parameter<T>[] ps = [MakeParameter("w", 1, 2)];
        AssertOutOfRange(() => new Adagrad<T>(ps, initialAccumulatorValue: -0.1), "initialAccumulatorValue", "-0.1");
        AssertOutOfRange(() => new Adagrad<T>(ps, epsilon: 0), "epsilon", "0");
        AssertOutOfRange(() => new Adagrad<T>(ps, lrDecay: -1), "lrDecay", "-1");
        AssertOutOfRange(() => new Adagrad<T>(ps, weightDecay: double.NaN), "weightDecay", "NaN");
        AssertOutOfRange(() => new Adamax<T>(ps, beta1: 1), "beta1", "1");
        AssertOutOfRange(() => new Adamax<T>(ps, beta2: -0.5), "beta2", "-0.5");
        AssertOutOfRange(() => new Adamax<T>(ps, epsilon: -1e-8), "epsilon", "-1E-08");
        AssertOutOfRange(() => new Adamax<T>(ps, weightDecay: -1), "weightDecay", "-1");
        Assert.That(() => new Adagrad<T>(ps, formula: (AdagradFormula)3), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("PyTorch or Keras"));
        Assert.That(() => new Adamax<T>(ps, formula: (AdamFormula)3), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("PyTorch or Keras"));
    }
}
