using NumLstm.Optimizers;

namespace NumLstm.Tests.Optimizers;

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class OptimizerTests<T> : OptimizerTestBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // Gradients of three steps on a 2-element parameter; the second element's gradient shrinks so AMSGrad's max matters.
    private static readonly double[][] Gradients = [[0.5, -2.0], [-0.3, 0.1], [0.8, 0.05]];
    private static readonly double[] Theta0 = [1.0, -0.5];

    /// <summary>Adam as in Kingma &amp; Ba, Algorithm 1, in scalar doubles, with the options the engine offers.</summary>
    private static double[] ReferenceAdam(double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled, bool amsgrad)
    {
        double[] theta = (double[])Theta0.Clone();
        double[] m = new double[2], v = new double[2], vMax = new double[2];
        for (int t = 1; t <= Gradients.Length; t++)
        {
            for (int k = 0; k < 2; k++)
            {
                double g = Gradients[t - 1][k];
                if (decoupled) theta[k] = theta[k] - lr * weightDecay * theta[k];
                else g += weightDecay * theta[k];
                m[k] = beta1 * m[k] + (1 - beta1) * g;
                v[k] = beta2 * v[k] + (1 - beta2) * g * g;
                vMax[k] = Math.Max(vMax[k], v[k]);
                double mHat = m[k] / (1 - Math.Pow(beta1, t));
                double vHat = (amsgrad ? vMax[k] : v[k]) / (1 - Math.Pow(beta2, t));
                theta[k] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }
        }
        return theta;
    }

    /// <summary>Keras 3's Adam.update_step (keras/src/optimizers/adam.py) in scalar doubles, weight decay as configured.</summary>
    private static double[] ReferenceKerasAdam(double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled, bool amsgrad, double[] theta0, double[][] gradients)
    {
        double[] theta = (double[])theta0.Clone();
        int n = theta.Length;
        double[] m = new double[n], v = new double[n], vHat = new double[n];
        for (int t = 1; t <= gradients.Length; t++)
        {
            double alpha = lr * Math.Sqrt(1 - Math.Pow(beta2, t)) / (1 - Math.Pow(beta1, t));
            for (int k = 0; k < n; k++)
            {
                double g = gradients[t - 1][k];
                if (decoupled) theta[k] -= theta[k] * weightDecay * lr;
                else g += weightDecay * theta[k];
                m[k] += (g - m[k]) * (1 - beta1);
                v[k] += (g * g - v[k]) * (1 - beta2);
                vHat[k] = Math.Max(vHat[k], v[k]);
                theta[k] -= m[k] * alpha / (Math.Sqrt(amsgrad ? vHat[k] : v[k]) + eps);
            }
        }
        return theta;
    }

    [TestCase(false, false, 0.0)]
    [TestCase(true, false, 0.0)]
    [TestCase(false, true, 0.1)]
    [TestCase(true, true, 0.1)]
    public void Adam_KerasFormula_MatchesKerasUpdateStep_OnSimdBodyAndTail(bool amsgrad, bool decoupled, double weightDecay)
    {
        // ε = 0.3 makes the placement matter; 37 elements run the vector body and a tail.
        const int n = 37, steps = 6;
        var random = new Random(12);
        double[] theta0 = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        double[][] gradients = Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, n).Select(_ => random.NextDouble() * 4 - 2).ToArray()).ToArray();
        Parameter<T> parameter = MakeParameter("w", theta0);
        Optimizer<T> adam = decoupled
            ? new AdamW<T>([parameter], learningRate: 0.05, beta1: 0.8, beta2: 0.95, epsilon: 0.3, weightDecay: weightDecay, amsgrad: amsgrad, formula: AdamFormula.Keras)
            : new Adam<T>([parameter], learningRate: 0.05, beta1: 0.8, beta2: 0.95, epsilon: 0.3, weightDecay: weightDecay, amsgrad: amsgrad, formula: AdamFormula.Keras);
        foreach (double[] gradient in gradients) { SetGradient(parameter, gradient); adam.Step(); }
        AssertValues(ReferenceKerasAdam(0.05, 0.8, 0.95, 0.3, weightDecay, decoupled, amsgrad, theta0, gradients), parameter, "θ");
        // The same run with PyTorch's placement lands elsewhere, so the check above can tell the two apart.
        Parameter<T> torchParameter = MakeParameter("w", theta0);
        var torchAdam = new Adam<T>([torchParameter], learningRate: 0.05, beta1: 0.8, beta2: 0.95, epsilon: 0.3, amsgrad: amsgrad);
        foreach (double[] gradient in gradients) { SetGradient(torchParameter, gradient); torchAdam.Step(); }
        Assert.That(Math.Abs(D(torchParameter.Value[0]) - D(parameter.Value[0])), Is.GreaterThan(1e-3));
    }

    [Test]
    public void Adam_KerasFormula_TakesTheBetaPowersAndAlphaInTheParametersType()
    {
        // keras/src/optimizers/adam.py: beta_2_power = ops.power(ops.cast(β2, dtype), local_step), alpha = lr·√(1 − β2^t) /
        // (1 − β1^t), all in the variable's type. In float β2 = 0.999f makes 1 − β2 = 0.00099998713, so α at step 1 is
        // 6.4e-6 (relatively) off the double 0.5·√0.001 / 0.1. One step from m = v = 0 with g = 1: m = 1 − β1 and
        // v = 1 − β2 (Python floats, cast), θ = 0 − (m·α) / (√v + ε).
        Parameter<T> parameter = MakeParameter("w", 0.0);
        var adam = new Adam<T>([parameter], learningRate: 0.5, epsilon: 0.25, formula: AdamFormula.Keras);
        parameter.Gradient[0] = T.One;
        adam.Step();
        T alpha = C(0.5) * T.Sqrt(T.One - T.Pow(C(0.999), T.One)) / (T.One - T.Pow(C(0.9), T.One));
        T m = T.Zero + (T.One - T.Zero) * C(1 - 0.9), v = T.Zero + (T.One - T.Zero) * C(1 - 0.999);
        Assert.That(parameter.Value[0], Is.EqualTo(T.Zero - m * alpha / (T.Sqrt(v) + C(0.25))));
    }

    [Test]
    public void Adam_FirstMoment_IsTorchLerp_OnBothBranches()
    {
        // torch.lerp(m, g, w) = m + w(g − m) for |w| < 0.5, else g − (g − m)(1 − w). With β1 = 0 (w = 1) the second
        // branch gives m = g exactly even when g is tiny next to m, where m + (g − m) rounds to 0.
        for (int length = 1; length <= 17; length += 16)   // one element (scalar path), 17 (vector body and tail)
        {
            Parameter<T> parameter = MakeParameter("w", new double[length]);
            var adam = new Adam<T>([parameter], beta1: 0);
            SetGradient(parameter, Enumerable.Repeat(1.0, length).ToArray());
            adam.Step();
            SetGradient(parameter, Enumerable.Repeat(1e-20, length).ToArray());
            adam.Step();
            OptimizerState<T> state = adam.ExportState();
            Assert.That(state.Slots[0].Values.Select(D), Is.All.EqualTo(D(C(1e-20))), $"exp_avg = g exactly ({length} elements)");
        }
    }

    [Test]
    public void Adam_KerasFormula_TravelsWithItsState_AndAMismatchIsNamed()
    {
        OptimizerState<T> kerasState = new Adam<T>(MakeParameters(), formula: AdamFormula.Keras).ExportState();
        Assert.That(kerasState.Hyperparameters["keras_formula"], Is.EqualTo(1));
        Assert.That(new Adam<T>(MakeParameters()).ExportState().Hyperparameters.ContainsKey("keras_formula"), Is.False, "PyTorch's states stay as before");
        Assert.That(() => new Adam<T>(MakeParameters()).ImportState(kerasState), Throws.ArgumentException.With.Message.Contain("keras_formula"));
        Assert.That(() => new Adam<T>(MakeParameters(), formula: AdamFormula.Keras).ImportState(new Adam<T>(MakeParameters()).ExportState()),
            Throws.ArgumentException.With.Message.Contain("keras_formula"));
        Assert.That(() => new Adam<T>(MakeParameters(), formula: (AdamFormula)7), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("formula"));
    }

    [TestCase(false, false)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    [TestCase(true, true)]
    public void Adam_PyTorchFormula_IsAtensAddcmulAndAddcdiv_OperationForOperation(bool amsgrad, bool decoupled)
    {
        // torch/optim/adam.py (_single_tensor_adam) on CPU: exp_avg_sq.mul_(β2).addcmul_(g, g, value=1 − β2) and
        // param.addcdiv_(exp_avg, denom, value=−step_size), whose ATen kernels (aten/src/ATen/native/cpu/PointwiseOpsKernel.cpp)
        // compute self + value·t1·t2 and self + value·t1 / t2, left to right: v·β2 + ((1 − β2)·g)·g and θ + ((−s)·m) / d.
        // Written out here in T, the scalars as Python computes them, over 37 elements (SIMD body and tail) for four steps.
        const int n = 37;
        double lr = 0.1, beta1 = 0.9, beta2 = 0.99, eps = 1e-7, lambda = 0.1;
        (double[] theta0, double[][] gradients) = Data(n, 4, seed: 11);
        Parameter<T> parameter = MakeParameter("w", theta0);
        Optimizer<T> adam = decoupled ? new AdamW<T>([parameter], lr, beta1, beta2, eps, lambda, amsgrad) : new Adam<T>([parameter], lr, beta1, beta2, eps, lambda, amsgrad);
        T[] theta = theta0.Select(C).ToArray(), m = new T[n], v = new T[n], vMax = new T[n];
        T w = C(1 - beta1), b2 = C(beta2), oneMinusB2 = C(1 - beta2), e = C(eps), l = C(lambda), shrink = C(1 - lr * lambda);
        for (int t = 1; t <= gradients.Length; t++)
        {
            SetGradient(parameter, gradients[t - 1]);
            adam.Step();
            T negativeStepSize = C(-(lr / (1 - Math.Pow(beta1, t)))), bc2Sqrt = C(Math.Sqrt(1 - Math.Pow(beta2, t)));
            for (int k = 0; k < n; k++)
            {
                T g = C(gradients[t - 1][k]);
                if (decoupled) theta[k] *= shrink;
                else g += l * theta[k];
                m[k] += w * (g - m[k]);                       // lerp_ with weight 0.1 < 0.5: start + w·(end − start)
                v[k] = v[k] * b2 + oneMinusB2 * g * g;
                vMax[k] = T.Max(vMax[k], v[k]);
                T denominator = T.Sqrt(amsgrad ? vMax[k] : v[k]) / bc2Sqrt + e;
                theta[k] += negativeStepSize * m[k] / denominator;
            }
            Assert.That(parameter.Value, Is.EqualTo(theta), $"θ after step {t}");
        }
    }

    private static Parameter<T> RunThreeSteps(Func<Parameter<T>, Optimizer<T>> create)
    {
        Parameter<T> parameter = MakeParameter("w", Theta0);
        Optimizer<T> optimizer = create(parameter);
        foreach (double[] gradient in Gradients)
        {
            SetGradient(parameter, gradient);
            optimizer.Step();
        }
        Assert.That(optimizer.StepCount, Is.EqualTo(3));
        return parameter;
    }

    [Test]
    public void Adam_ThreeSteps_MatchScalarReference()
    {
        Parameter<T> parameter = RunThreeSteps(p => new Adam<T>([p], learningRate: 0.1));
        AssertValues(ReferenceAdam(0.1, 0.9, 0.999, 1e-7, 0, decoupled: false, amsgrad: false), parameter, "θ");
    }

    [Test]
    public void Adam_EpsilonIsAddedToBiasCorrectedRootV_AsPyTorch()
    {
        // With a large ε the placement shows: PyTorch/paper Algorithm 1 adds ε to √v̂; Keras adds it to √v.
        Parameter<T> parameter = RunThreeSteps(p => new Adam<T>([p], learningRate: 0.1, epsilon: 0.5));
        AssertValues(ReferenceAdam(0.1, 0.9, 0.999, 0.5, 0, decoupled: false, amsgrad: false), parameter, "θ");
    }

    [Test]
    public void Adam_WithL2WeightDecay_AddsLambdaThetaToGradient()
    {
        Parameter<T> parameter = RunThreeSteps(p => new Adam<T>([p], learningRate: 0.05, beta1: 0.8, beta2: 0.99, weightDecay: 0.3));
        AssertValues(ReferenceAdam(0.05, 0.8, 0.99, 1e-7, 0.3, decoupled: false, amsgrad: false), parameter, "θ");
    }

    [Test]
    public void Adam_AmsGrad_UsesRunningMaxOfSecondMoment()
    {
        double[] expected = ReferenceAdam(0.1, 0.9, 0.9, 1e-7, 0, decoupled: false, amsgrad: true);
        double[] plain = ReferenceAdam(0.1, 0.9, 0.9, 1e-7, 0, decoupled: false, amsgrad: false);
        Assert.That(Math.Abs(expected[1] - plain[1]), Is.GreaterThan(1e-3), "the case must tell AMSGrad from Adam");

        Parameter<T> parameter = RunThreeSteps(p => new Adam<T>([p], learningRate: 0.1, beta2: 0.9, amsgrad: true));
        AssertValues(expected, parameter, "θ");
    }

    [TestCase(false, false)]
    [TestCase(true, false)]
    [TestCase(true, true)]
    public void Adam_LongParameter_SimdBodyAndTail_MatchScalarReference_AndOneElementParametersBitwise(bool amsgrad, bool decoupled)
    {
        // 37 elements: whole vectors plus a tail for every width; one-element parameters take the scalar path only.
        const int n = 37;
        double[] theta0 = Enumerable.Range(0, n).Select(k => Math.Sin(k + 1.0)).ToArray();
        double[][] gradients = Enumerable.Range(0, 3).Select(t => Enumerable.Range(0, n).Select(k => Math.Cos(3.0 * k + t) * (k % 5 + 1) / (t + 1)).ToArray()).ToArray();
        Parameter<T> whole = MakeParameter("w", theta0);
        Parameter<T>[] singles = Enumerable.Range(0, n).Select(k => MakeParameter($"w{k}", theta0[k])).ToArray();
        Optimizer<T> a = decoupled ? new AdamW<T>([whole], 0.1, beta2: 0.9, weightDecay: 0.1, amsgrad: amsgrad) : new Adam<T>([whole], 0.1, beta2: 0.9, weightDecay: 0.1, amsgrad: amsgrad);
        Optimizer<T> b = decoupled ? new AdamW<T>(singles, 0.1, beta2: 0.9, weightDecay: 0.1, amsgrad: amsgrad) : new Adam<T>(singles, 0.1, beta2: 0.9, weightDecay: 0.1, amsgrad: amsgrad);
        double[] reference = (double[])theta0.Clone();
        double[] m = new double[n], v = new double[n], vMax = new double[n];
        for (int t = 1; t <= 3; t++)
        {
            SetGradient(whole, gradients[t - 1]);
            for (int k = 0; k < n; k++) SetGradient(singles[k], gradients[t - 1][k]);
            a.Step();
            b.Step();
            for (int k = 0; k < n; k++)
            {
                double g = gradients[t - 1][k];
                if (decoupled) reference[k] -= 0.1 * 0.1 * reference[k];
                else g += 0.1 * reference[k];
                m[k] = 0.9 * m[k] + 0.1 * g;
                v[k] = 0.9 * v[k] + 0.1 * g * g;
                vMax[k] = Math.Max(vMax[k], v[k]);
                double vHat = (amsgrad ? vMax[k] : v[k]) / (1 - Math.Pow(0.9, t));
                reference[k] -= 0.1 * (m[k] / (1 - Math.Pow(0.9, t))) / (Math.Sqrt(vHat) + 1e-7);
            }
        }
        AssertValues(reference, whole, "θ");
        for (int k = 0; k < n; k++)
            Assert.That(whole.Value[k], Is.EqualTo(singles[k].Value[0]), $"element {k}: SIMD and scalar paths must agree bitwise");
    }

    [Test]
    public void AdamW_DecaysThetaByLrLambdaBeforeTheAdamUpdate()
    {
        Parameter<T> parameter = RunThreeSteps(p => new AdamW<T>([p], learningRate: 0.1, weightDecay: 0.2));
        AssertValues(ReferenceAdam(0.1, 0.9, 0.999, 1e-7, 0.2, decoupled: true, amsgrad: false), parameter, "θ");

        var defaults = new AdamW<T>([MakeParameter("w", 1)]);
        Assert.That((defaults.LearningRate, defaults.Beta1, defaults.Beta2, defaults.Epsilon, defaults.WeightDecay),
            Is.EqualTo((1e-3, 0.9, 0.999, 1e-7, 1e-2)));
    }

    [Test]
    public void AdamW_WithAmsGrad_MatchesScalarReference()
    {
        Parameter<T> parameter = RunThreeSteps(p => new AdamW<T>([p], learningRate: 0.1, beta2: 0.9, weightDecay: 0.1, amsgrad: true));
        AssertValues(ReferenceAdam(0.1, 0.9, 0.9, 1e-7, 0.1, decoupled: true, amsgrad: true), parameter, "θ");
    }

    /// <summary>torch.optim.SGD written out in scalar doubles.</summary>
    private static double[] ReferenceSgd(double lr, double momentum, double dampening, bool nesterov, double weightDecay)
    {
        double[] theta = (double[])Theta0.Clone();
        double[] buffer = new double[2];
        for (int t = 1; t <= Gradients.Length; t++)
        {
            for (int k = 0; k < 2; k++)
            {
                double g = Gradients[t - 1][k] + weightDecay * theta[k];
                if (momentum != 0)
                {
                    buffer[k] = t == 1 ? g : momentum * buffer[k] + (1 - dampening) * g;
                    g = nesterov ? g + momentum * buffer[k] : buffer[k];
                }
                theta[k] -= lr * g;
            }
        }
        return theta;
    }

    [Test]
    public void Sgd_Plain_IsThetaMinusLrTimesGradient()
    {
        Parameter<T> parameter = RunThreeSteps(p => new Sgd<T>([p], learningRate: 0.1));
        // By hand: θ0 − 0.1·(0.5 − 0.3 + 0.8), θ1 − 0.1·(−2 + 0.1 + 0.05).
        AssertValues([1.0 - 0.1, -0.5 + 0.185], parameter, "θ");
    }

    [Test]
    public void Sgd_Momentum_WithDampeningAndWeightDecay_MatchesTorchFormula()
    {
        Parameter<T> parameter = RunThreeSteps(p => new Sgd<T>([p], learningRate: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.01));
        AssertValues(ReferenceSgd(0.1, 0.9, 0.3, nesterov: false, weightDecay: 0.01), parameter, "θ");
        // The first step copies g into the buffer undamped: after one step θ = θ0 − lr·g exactly.
        Parameter<T> single = MakeParameter("w", 1.0);
        var optimizer = new Sgd<T>([single], learningRate: 0.5, momentum: 0.9, dampening: 0.5);
        SetGradient(single, 2.0);
        optimizer.Step();
        Assert.That(D(single.Value[0]), Is.EqualTo(0.0));
    }

    [Test]
    public void Sgd_Nesterov_MatchesTorchFormula()
    {
        Parameter<T> parameter = RunThreeSteps(p => new Sgd<T>([p], learningRate: 0.1, momentum: 0.9, nesterov: true));
        AssertValues(ReferenceSgd(0.1, 0.9, 0, nesterov: true, weightDecay: 0), parameter, "θ");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Sgd_KerasFormula_MatchesKerasUpdateStep_AndDiffersFromPyTorchOnceTheRateChanges(bool nesterov)
    {
        // keras/src/optimizers/sgd.py: m = m·μ − g·lr (from 0); θ += m, or with Nesterov θ += m·μ − g·lr, after the base
        // optimizer's decoupled weight decay θ −= θ·λ·lr. The rate drops after two steps: PyTorch's buffer holds g and
        // takes the new rate at once, Keras's holds lr·g.
        const int n = 9, steps = 5;
        var random = new Random(17);
        double[] theta0 = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        double[][] gradients = Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray()).ToArray();
        static double Rate(int t) => t < 2 ? 0.1 : 0.01;
        double[] RunEngine(SgdFormula formula)
        {
            Parameter<T> p = MakeParameter("w", theta0);
            var sgd = new Sgd<T>([p], 0.1, momentum: 0.9, nesterov: nesterov, weightDecay: 0.05, formula: formula);
            for (int t = 0; t < steps; t++) { sgd.LearningRate = Rate(t); SetGradient(p, gradients[t]); sgd.Step(); }
            return p.Value.Select(D).ToArray();
        }
        double[] theta = (double[])theta0.Clone(), m = new double[n];
        for (int t = 0; t < steps; t++)
            for (int k = 0; k < n; k++)
            {
                theta[k] -= theta[k] * 0.05 * Rate(t);
                double g = gradients[t][k];
                m[k] = m[k] * 0.9 - g * Rate(t);
                theta[k] += nesterov ? m[k] * 0.9 - g * Rate(t) : m[k];
            }
        double[] keras = RunEngine(SgdFormula.Keras), torch = RunEngine(SgdFormula.PyTorch);
        for (int k = 0; k < n; k++) Assert.That(keras[k], Is.EqualTo(theta[k]).Within(Tolerance * Math.Max(1, Math.Abs(theta[k]))), $"θ[{k}]");
        Assert.That(Enumerable.Range(0, n).Max(k => Math.Abs(torch[k] - keras[k])), Is.GreaterThan(1e-3), "the formulas part once the rate changes");
        Assert.That(() => new Sgd<T>([MakeParameter("w", 1)], 0.1, momentum: 0.9, dampening: 0.1, formula: SgdFormula.Keras),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("dampening").And.Message.Contain("no dampening"));
        Assert.That(() => new Sgd<T>([MakeParameter("w", 1)], 0.1, formula: (SgdFormula)4),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("PyTorch or Keras"));
        Assert.That(new Sgd<T>([MakeParameter("w", 1)], 0.1, momentum: 0.9, formula: SgdFormula.Keras).ExportState().Hyperparameters["keras_formula"], Is.EqualTo(1));
    }

    private static IEnumerable<TestCaseData> SgdVariants()
    {
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Sgd<T>>)(ps => new Sgd<T>(ps, 0.1, weightDecay: 0.05))).SetArgDisplayNames("plain, L2");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Sgd<T>>)(ps => new Sgd<T>(ps, 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.05))).SetArgDisplayNames("momentum, dampening, L2");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Sgd<T>>)(ps => new Sgd<T>(ps, 0.1, momentum: 0.8, nesterov: true))).SetArgDisplayNames("Nesterov");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Sgd<T>>)(ps => new Sgd<T>(ps, 0.1, momentum: 0.9, weightDecay: 0.05, formula: SgdFormula.Keras))).SetArgDisplayNames("Keras, decoupled decay");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Sgd<T>>)(ps => new Sgd<T>(ps, 0.1, momentum: 0.9, weightDecay: 0.05, formula: SgdFormula.Keras, decoupledWeightDecay: false))).SetArgDisplayNames("Keras, L2");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Sgd<T>>)(ps => new Sgd<T>(ps, 0.1, momentum: 0.9, weightDecay: 0.05, decoupledWeightDecay: true))).SetArgDisplayNames("momentum, decoupled decay");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Sgd<T>>)(ps => new Sgd<T>(ps, 0.1, weightDecay: 0.05, formula: SgdFormula.Keras))).SetArgDisplayNames("Keras, plain, decoupled decay");
        yield return new TestCaseData((Func<IReadOnlyList<Parameter<T>>, Sgd<T>>)(ps => new Sgd<T>(ps, 0.1, momentum: 0.8, nesterov: true, formula: SgdFormula.Keras))).SetArgDisplayNames("Keras, Nesterov");
    }

    [TestCaseSource(nameof(SgdVariants))]
    public void Sgd_SimdBody_AndScalarTail_AgreeBitwise_AndFollowTorchsFormula(Func<IReadOnlyList<Parameter<T>>, Sgd<T>> create)
    {
        // One 37-element parameter runs whole vectors and a tail; 37 one-element parameters run the scalar path only.
        const int n = 37;
        var (theta0, gradients) = Data(n, 4, 13);
        Parameter<T> whole = MakeParameter("w", theta0);
        Parameter<T>[] singles = Enumerable.Range(0, n).Select(k => MakeParameter($"w{k}", theta0[k])).ToArray();
        Sgd<T> a = create([whole]), b = create(singles);
        double[] theta = (double[])theta0.Clone(), buffer = new double[n];
        for (int t = 0; t < gradients.Length; t++)
        {
            SetGradient(whole, gradients[t]);
            for (int k = 0; k < n; k++) singles[k].Gradient[0] = C(gradients[t][k]);
            a.Step();
            b.Step();
            for (int k = 0; k < n; k++)
            {
                double mu = a.Momentum, lr = 0.1;
                if (a.DecoupledWeightDecay)   // Keras: θ − θ·λ·lr; PyTorch's form: θ·(1 − lr·λ)
                    theta[k] = a.Formula == SgdFormula.Keras ? theta[k] - theta[k] * a.WeightDecay * lr : theta[k] * (1 - lr * a.WeightDecay);
                double g = a.DecoupledWeightDecay ? gradients[t][k] : gradients[t][k] + a.WeightDecay * theta[k];
                if (mu == 0) { theta[k] -= lr * g; continue; }
                if (a.Formula == SgdFormula.Keras)
                {
                    buffer[k] = buffer[k] * mu - g * lr;
                    theta[k] += a.Nesterov ? buffer[k] * mu - g * lr : buffer[k];
                    continue;
                }
                buffer[k] = t == 0 ? g : buffer[k] * mu + (1 - a.Dampening) * g;
                theta[k] -= lr * (a.Nesterov ? g + mu * buffer[k] : buffer[k]);
            }
        }
        AssertValues(theta, whole, "θ");
        for (int k = 0; k < n; k++)
            Assert.That(whole.Value[k], Is.EqualTo(singles[k].Value[0]), $"element {k}: SIMD and scalar paths must agree bitwise");
    }

    [Test]
    public void Step_LeavesGradientUnchanged_EvenWithWeightDecay()
    {
        Parameter<T> parameter = MakeParameter("w", 1.0, 2.0);
        SetGradient(parameter, 0.25, -0.5);
        new Adam<T>([parameter], weightDecay: 0.1).Step();
        new Sgd<T>([parameter], 0.1, momentum: 0.5, weightDecay: 0.1).Step();
        Assert.That(parameter.Gradient, Is.EqualTo(new[] { C(0.25), C(-0.5) }));
    }

    [Test]
    public void LearningRate_CanChangeBetweenSteps()
    {
        Parameter<T> parameter = MakeParameter("w", 1.0);
        var sgd = new Sgd<T>([parameter], learningRate: 0.5);
        SetGradient(parameter, 1.0);
        sgd.Step();            // 1 − 0.5
        sgd.LearningRate = 0.25;
        sgd.Step();            // 0.5 − 0.25
        Assert.That(D(parameter.Value[0]), Is.EqualTo(0.25));
        sgd.LearningRate = 0;   // allowed, as PyTorch's 0.0 <= lr (a warm-up's first epoch)
        Assert.That(sgd.LearningRate, Is.EqualTo(0));
        Assert.That(() => sgd.LearningRate = -0.5, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("learningRate -0.5"));
        Assert.That(() => sgd.LearningRate = double.PositiveInfinity, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("learningRate").And.Message.Contain("finite"));
    }

    [Test]
    public void Step_AllocatesNothing()
    {
        Parameter<T>[] parameters = [MakeParameter("a", 1, 2, 3), MakeParameter("b", 4, 5)];
        Optimizer<T>[] optimizers =
        [
            new Sgd<T>(parameters, 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1),
            new Adam<T>(parameters, amsgrad: true, weightDecay: 0.1),
            new AdamW<T>(parameters),
        ];
        foreach (Optimizer<T> optimizer in optimizers)
        {
            optimizer.Step(); // JIT warm-up
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int s = 0; s < 10; s++) optimizer.Step();
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, optimizer.Kind);
        }
    }

    private static readonly Func<IReadOnlyList<Parameter<T>>, Optimizer<T>>[] Factories =
    [
        ps => new Sgd<T>(ps, 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3),
        ps => new Sgd<T>(ps, 0.05, momentum: 0.8, nesterov: true),
        ps => new Adam<T>(ps, 0.01, amsgrad: true, weightDecay: 1e-2),
        ps => new AdamW<T>(ps, 0.01),
    ];

    /// <summary>Gradient depending on the current value and the step, so the trajectory depends on every state array.</summary>
    private static void FillGradients(Parameter<T>[] parameters, int step)
    {
        foreach (Parameter<T> parameter in parameters)
            for (int k = 0; k < parameter.Length; k++)
                parameter.Gradient[k] = T.Sin(parameter.Value[k] * C(k + 1) + C(step)) + C(0.1 * k);
    }

    private static Parameter<T>[] MakeParameters() => [MakeParameter("layer.weight", 0.3, -0.7, 1.1, 0.05), MakeParameter("layer.bias", -0.2, 0.4)];

    [TestCaseSource(nameof(FactoryIndices))]
    public void ExportImport_ThenContinuing_EqualsContinuingDirectly_Bitwise(int factory)
    {
        Parameter<T>[] original = MakeParameters();
        Optimizer<T> running = Factories[factory](original);
        for (int step = 0; step < 3; step++) { FillGradients(original, step); running.Step(); }
        running.LearningRate *= 0.5; // a schedule's change must travel with the state
        OptimizerState<T> state = running.ExportState();

        Parameter<T>[] resumed = MakeParameters();
        for (int p = 0; p < resumed.Length; p++) original[p].Value.CopyTo(resumed[p].Value, 0);
        Optimizer<T> restored = Factories[factory](resumed);
        restored.ImportState(state);
        foreach (OptimizerSlot<T> slot in state.Slots) Array.Fill(slot.Values, T.NaN); // import must have copied

        Parameter<T>[] fresh = MakeParameters();
        for (int p = 0; p < fresh.Length; p++) original[p].Value.CopyTo(fresh[p].Value, 0);
        Optimizer<T> withoutState = Factories[factory](fresh);

        for (int step = 3; step < 6; step++)
        {
            FillGradients(original, step); running.Step();
            FillGradients(resumed, step); restored.Step();
            FillGradients(fresh, step); withoutState.Step();
        }
        Assert.That(restored.StepCount, Is.EqualTo(6));
        for (int p = 0; p < original.Length; p++)
            Assert.That(resumed[p].Value, Is.EqualTo(original[p].Value), original[p].Name);
        Assert.That(fresh[0].Value, Is.Not.EqualTo(original[0].Value), "without the state the run must differ (the test can fail)");
    }

    public static IEnumerable<int> FactoryIndices() => Enumerable.Range(0, 4);

    [Test]
    public void ExportState_NamesArraysAsPyTorch()
    {
        OptimizerState<T> state = new Adam<T>(MakeParameters(), amsgrad: true).ExportState();
        Assert.That(state.Kind, Is.EqualTo("Adam"));
        Assert.That(state.Slots.Select(s => $"{s.ParameterName}/{s.SlotName}"), Is.EqualTo(new[]
        {
            "layer.weight/exp_avg", "layer.weight/exp_avg_sq", "layer.weight/max_exp_avg_sq",
            "layer.bias/exp_avg", "layer.bias/exp_avg_sq", "layer.bias/max_exp_avg_sq",
        }));
        Assert.That(new Sgd<T>(MakeParameters(), 0.1, momentum: 0.9).ExportState().Slots.Select(s => s.SlotName).Distinct(),
            Is.EqualTo(new[] { "momentum_buffer" }));
        Assert.That(new Sgd<T>(MakeParameters(), 0.1).ExportState().Slots, Is.Empty);
    }

    [TestCaseSource(nameof(FactoryIndices))]
    public void StepCount_StopsAt2To53_WithAClearError_InsteadOfOverflowing(int factory)
    {
        Parameter<T>[] parameters = MakeParameters();
        Optimizer<T> optimizer = Factories[factory](parameters);
        OptimizerState<T> state = optimizer.ExportState();
        optimizer.ImportState(new OptimizerState<T>(state.Kind, Optimizer<T>.MaxStepCount - 1, state.LearningRate,
            state.ParameterNames, state.Hyperparameters, state.Slots, state.InitialLearningRate));
        FillGradients(parameters, 0);
        optimizer.Step();   // the last step allowed: number 2^53
        Assert.That(optimizer.StepCount, Is.EqualTo(1L << 53));
        T[][] before = parameters.Select(p => (T[])p.Value.Clone()).ToArray();

        var e = Assert.Throws<InvalidOperationException>(optimizer.Step);
        Assert.That(e!.Message, Does.Contain("9007199254740992").And.Contain("2^53"));
        Assert.That(optimizer.StepCount, Is.EqualTo(1L << 53));
        for (int p = 0; p < parameters.Length; p++)
            Assert.That(parameters[p].Value, Is.EqualTo(before[p]), "a refused step changes nothing");

        foreach (long step in new[] { Optimizer<T>.MaxStepCount + 1, long.MaxValue })
        {
            var tooFar = new OptimizerState<T>(state.Kind, step, state.LearningRate, state.ParameterNames, state.Hyperparameters, state.Slots, state.InitialLearningRate);
            Assert.That(() => Factories[factory](MakeParameters()).ImportState(tooFar),
                Throws.ArgumentException.With.Message.Contain(step.ToString()).And.Message.Contain("2^53"));
        }
    }

    [Test]
    public void ImportState_RejectsMismatchedKindHyperparametersAndParameters()
    {
        OptimizerState<T> adamState = new Adam<T>(MakeParameters()).ExportState();
        Assert.That(() => new AdamW<T>(MakeParameters()).ImportState(adamState),
            Throws.ArgumentException.With.Message.Contain("'Adam'").And.Message.Contain("'AdamW'"));
        Assert.That(() => new Adam<T>(MakeParameters(), beta2: 0.99).ImportState(adamState),
            Throws.ArgumentException.With.Message.Contain("beta2 = 0.999").And.Message.Contain("0.99"));
        Parameter<T>[] renamed = [MakeParameter("other.weight", 0, 0, 0, 0), MakeParameter("layer.bias", 0, 0)];
        Assert.That(() => new Adam<T>(renamed).ImportState(adamState),
            Throws.ArgumentException.With.Message.Contain("'layer.weight'").And.Message.Contain("'other.weight'"));
        Parameter<T>[] resized = [MakeParameter("layer.weight", 0, 0, 0), MakeParameter("layer.bias", 0, 0)];
        Assert.That(() => new Adam<T>(resized).ImportState(adamState),
            Throws.ArgumentException.With.Message.Contain("holds 4 values"));
    }

    [Test]
    public void Options_OutsideTheirRange_AreRejectedNamingOptionAndValue()
    {
        Parameter<T>[] ps = MakeParameters();
        AssertOutOfRange(() => new Sgd<T>(ps, -0.5), "learningRate", "-0.5");
        AssertOutOfRange(() => new Adam<T>(ps, learningRate: -1e-3), "learningRate", "-0.001");
        AssertOutOfRange(() => new Adam<T>(ps, learningRate: double.NaN), "learningRate", "NaN");
        AssertOutOfRange(() => new Adam<T>(ps, beta1: 1.0), "beta1", "1");
        AssertOutOfRange(() => new Adam<T>(ps, beta2: -0.1), "beta2", "-0.1");
        AssertOutOfRange(() => new AdamW<T>(ps, epsilon: 0), "epsilon", "0");
        AssertOutOfRange(() => new AdamW<T>(ps, weightDecay: -1), "weightDecay", "-1");
        AssertOutOfRange(() => new Sgd<T>(ps, 0.1, momentum: -0.5), "momentum", "-0.5");

        var ex = Assert.Throws<ArgumentException>(() => new Sgd<T>(ps, 0.1, nesterov: true));
        Assert.That(ex!.ParamName, Is.EqualTo("nesterov"));
        Assert.That(ex.Message, Does.Contain("momentum = 0"));
        ex = Assert.Throws<ArgumentException>(() => new Sgd<T>(ps, 0.1, momentum: 0.9, dampening: 0.1, nesterov: true));
        Assert.That(ex!.Message, Does.Contain("dampening = 0.1"));

        Assert.That(() => new Adam<T>([]), Throws.ArgumentException.With.Message.Contain("at least one parameter"));
        Assert.That(() => new Adam<T>([ps[0], ps[0]]), Throws.ArgumentException.With.Message.Contain("more than once"));

        static void AssertOutOfRange(TestDelegate create, string option, string value)
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(create);
            Assert.That(e!.Message, Does.Contain($"{option} {value}"), option);
        }
    }
}
