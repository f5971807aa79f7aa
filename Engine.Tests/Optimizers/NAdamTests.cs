using NumLstm.Optimizers;

namespace NumLstm.Tests.Optimizers;

/// <summary>
/// NAdam: PyTorch's update (the default; its trajectories and μ product against libtorch's are in the parity suite) and
/// Keras's, each against its update written out in doubles; the SIMD body against the scalar tail bit for bit; the μ
/// product carried by the state; options, state names and validation.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class NAdamTests<T> : OptimizerTestBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public sealed record Options(double Lr, double Beta1, double Beta2, double Eps, double WeightDecay, double MomentumDecay, bool Decoupled);

    /// <summary>torch/optim/nadam.py (μ_t = β1(1 − 0.5·0.96^(tψ))) or keras/src/optimizers/nadam.py (the same μ with
    /// ψ as given, 1 for Keras's own schedule), in doubles.</summary>
    private static double[] Reference(Options o, bool keras, double[] theta0, double[][] gradients)
    {
        double[] theta = (double[])theta0.Clone();
        double[] m = new double[theta.Length], v = new double[theta.Length];
        double product = 1;
        for (int t = 1; t <= gradients.Length; t++)
        {
            double Mu(int step) => o.Beta1 * (1 - 0.5 * Math.Pow(0.96, step * o.MomentumDecay));
            double mu = Mu(t), muNext = Mu(t + 1);
            product *= mu;
            double bc2 = 1 - Math.Pow(o.Beta2, t);
            for (int k = 0; k < theta.Length; k++)
            {
                double g = gradients[t - 1][k];
                if (o.Decoupled) theta[k] *= 1 - o.Lr * o.WeightDecay;
                else g += o.WeightDecay * theta[k];
                m[k] = o.Beta1 * m[k] + (1 - o.Beta1) * g;
                v[k] = o.Beta2 * v[k] + (1 - o.Beta2) * g * g;
                double d = Math.Sqrt(v[k] / bc2) + o.Eps;
                // Both frameworks: lr·((1 − μ_t)/(1 − Π_t)·g + μ_{t+1}/(1 − Π_t·μ_{t+1})·m) / d, written each framework's way.
                theta[k] -= keras
                    ? (muNext * m[k] / (1 - product * muNext) + (1 - mu) * g / (1 - product)) * o.Lr / d
                    : o.Lr * (1 - mu) / (1 - product) * g / d + o.Lr * muNext / (1 - product * muNext) * m[k] / d;
            }
        }
        return theta;
    }

    private static NAdam<T> Create(Parameter<T>[] ps, Options o, AdamFormula formula)
        => new(ps, o.Lr, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.MomentumDecay, o.Decoupled, formula);

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (AdamFormula formula in new[] { AdamFormula.PyTorch, AdamFormula.Keras })
        {
            yield return new TestCaseData(formula, new Options(0.05, 0.9, 0.999, 1e-7, 0, 4e-3, false)).SetArgDisplayNames(formula.ToString(), "PyTorch's schedule");
            yield return new TestCaseData(formula, new Options(0.05, 0.9, 0.999, 1e-7, 0, 1, false)).SetArgDisplayNames(formula.ToString(), "Keras's schedule");
            yield return new TestCaseData(formula, new Options(0.05, 0.3, 0.9, 0.1, 0.1, 0.5, false)).SetArgDisplayNames(formula.ToString(), "beta1 0.3, L2");
            yield return new TestCaseData(formula, new Options(0.05, 0.8, 0.99, 1e-3, 0.1, 4e-3, true)).SetArgDisplayNames(formula.ToString(), "decoupled decay");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void SixSteps_MatchTheFrameworksUpdate_AndTheSimdBodyMatchesTheTailBitwise(AdamFormula formula, Options o)
    {
        const int n = 37;
        var (theta0, gradients) = Data(n, 6, 31);
        Parameter<T> whole = MakeParameter("w", theta0);
        NAdam<T> optimizer = Create([whole], o, formula);
        foreach (double[] gradient in gradients) { SetGradient(whole, gradient); optimizer.Step(); }
        AssertValues(Reference(o, formula == AdamFormula.Keras, theta0, gradients), whole, "θ");

        Parameter<T>[] singles = Enumerable.Range(0, n).Select(k => MakeParameter($"w{k}", theta0[k])).ToArray();
        NAdam<T> scalar = Create(singles, o, formula);
        foreach (double[] gradient in gradients)
        {
            for (int k = 0; k < n; k++) singles[k].Gradient[0] = C(gradient[k]);
            scalar.Step();
        }
        for (int k = 0; k < n; k++) Assert.That(singles[k].Value[0], Is.EqualTo(whole.Value[k]), $"element {k}: SIMD and scalar paths must agree bitwise");
    }

    [Test]
    public void KerasFormula_TakesOneMinusBetaInTheParametersType()
    {
        // keras/src/optimizers/nadam.py casts β1 and β2 to the variable's type first (beta_1 = ops.cast(self.beta_1,
        // var_dtype)), so its (1 − beta_1) and (1 − beta_2) are taken in T: in float 1 − 0.999f = 0.00099998713, where
        // Keras's Adam, Adamax and RMSprop subtract the Python float (1 − 0.999 = 0.001 once cast). One step from
        // m = v = 0 with g = 1 leaves m = 1 − β1 and v = 1 − β2 exactly.
        Parameter<T> parameter = MakeParameter("w", 0.0);
        var nadam = new NAdam<T>([parameter], learningRate: 0.5, formula: AdamFormula.Keras);
        parameter.Gradient[0] = T.One;
        nadam.Step();
        OptimizerState<T> state = nadam.ExportState();
        Assert.That(state.Slots.Single(s => s.SlotName == "exp_avg").Values[0], Is.EqualTo(T.One - C(0.9)), "m = (g − 0)·(1 − β1), 1 − β1 in T");
        Assert.That(state.Slots.Single(s => s.SlotName == "exp_avg_sq").Values[0], Is.EqualTo(T.One - C(0.999)), "v = (g² − 0)·(1 − β2), 1 − β2 in T");
        // θ as Keras computes it in T from there: m̂ = u_{t+1}·m/(1 − Π·u_{t+1}) + (1 − u_t)·g/(1 − Π), θ −= m̂·lr/(√(v/(1 − β2^t)) + ε).
        T beta1 = C(0.9), beta2 = C(0.999), decay = C(0.96), half = C(0.5);
        T u1 = beta1 * (T.One - half * T.Pow(decay, T.One)), u2 = beta1 * (T.One - half * T.Pow(decay, C(2)));
        T product = T.One * beta1 * (T.One - half * T.Pow(decay, T.One));
        T m = T.One - beta1, v = T.One - beta2;
        T mHat = u2 * m / (T.One - product * u2) + (T.One - u1) * T.One / (T.One - product);
        T expected = T.Zero - mHat * C(0.5) / (T.Sqrt(v / (T.One - T.Pow(beta2, T.One))) + C(1e-7));
        Assert.That(parameter.Value[0], Is.EqualTo(expected));
    }

    [Test]
    public void TheSchedules_DifferAsTheFrameworksDo_AndTheProductIsTheirs()
    {
        // PyTorch: μ_t = β1(1 − 0.5·0.96^(0.004t)); Keras: β1(1 − 0.5·0.96^t). After three steps Π differs a lot.
        var o = new Options(0.05, 0.9, 0.999, 1e-7, 0, 4e-3, false);
        var (theta0, gradients) = Data(5, 3, 1);
        double Product(double psi) => Enumerable.Range(1, 3).Aggregate(1.0, (p, t) => p * 0.9 * (1 - 0.5 * Math.Pow(0.96, t * psi)));
        Parameter<T> torchParameter = MakeParameter("w", theta0), kerasParameter = MakeParameter("w", theta0);
        var torch = new NAdam<T>([torchParameter], 0.05);
        var keras = new NAdam<T>([kerasParameter], 0.05, formula: AdamFormula.Keras);
        Assert.That((torch.MomentumDecay, keras.MomentumDecay), Is.EqualTo((4e-3, 1.0)));
        Assert.That(torch.MomentumProduct, Is.EqualTo(1.0), "Π before the first step");
        foreach (double[] gradient in gradients)
        {
            SetGradient(torchParameter, gradient); torch.Step();
            SetGradient(kerasParameter, gradient); keras.Step();
        }
        Assert.That(torch.MomentumProduct, Is.EqualTo(Product(4e-3)).Within(Tolerance));
        Assert.That(keras.MomentumProduct, Is.EqualTo(Product(1)).Within(Tolerance));
        AssertValues(Reference(o, keras: false, theta0, gradients), torchParameter, "PyTorch θ");
        AssertValues(Reference(o with { MomentumDecay = 1 }, keras: true, theta0, gradients), kerasParameter, "Keras θ");
    }

    [TestCase(AdamFormula.PyTorch)]
    [TestCase(AdamFormula.Keras)]
    public void ExportImport_RestoresTheProduct_AndContinuingEqualsContinuingDirectly_Bitwise(AdamFormula formula)
    {
        var o = new Options(0.01, 0.9, 0.99, 1e-7, 1e-3, formula == AdamFormula.Keras ? 1 : 4e-3, false);
        var (theta0, gradients) = Data(11, 8, 4);
        Parameter<T> original = MakeParameter("w", theta0);
        NAdam<T> running = Create([original], o, formula);
        for (int t = 0; t < 4; t++) { SetGradient(original, gradients[t]); running.Step(); }
        OptimizerState<T> state = running.ExportState();
        Assert.That(state.Slots.Select(s => s.SlotName), Is.EqualTo(new[] { "exp_avg", "exp_avg_sq" }), "Π is a scalar, not an array");

        Parameter<T> resumed = new("w", theta0.Length), fresh = new("w", theta0.Length);
        original.Value.CopyTo(resumed.Value, 0);
        original.Value.CopyTo(fresh.Value, 0);
        NAdam<T> restored = Create([resumed], o, formula), withoutState = Create([fresh], o, formula);
        restored.ImportState(state);
        Assert.That(restored.MomentumProduct, Is.EqualTo(running.MomentumProduct), "Π restored, bit for bit");
        for (int t = 4; t < 8; t++)
        {
            SetGradient(original, gradients[t]); running.Step();
            SetGradient(resumed, gradients[t]); restored.Step();
            SetGradient(fresh, gradients[t]); withoutState.Step();
        }
        Assert.That(resumed.Value, Is.EqualTo(original.Value));
        Assert.That(fresh.Value, Is.Not.EqualTo(original.Value), "without the state the run must differ (the test can fail)");

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int s = 0; s < 10; s++) running.Step();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "bytes allocated by 10 steps");
    }

    [Test]
    public void TheStateCarriesTheProduct_AndImportRejectsOneOutOfRange_OrMissing_ChangingNothing()
    {
        Parameter<T>[] ps = [MakeParameter("w", 1, 2)];
        var nadam = new NAdam<T>(ps, formula: AdamFormula.Keras);
        SetGradient(ps[0], 0.5, -0.5);
        for (int s = 0; s < 3; s++) nadam.Step();
        OptimizerState<T> state = nadam.ExportState();
        Assert.That(state.Scalars.Keys, Is.EqualTo(new[] { "mu_product" }));
        Assert.That(state.Scalars["mu_product"], Is.EqualTo(nadam.MomentumProduct));
        Assert.That(nadam.MomentumProduct, Is.EqualTo(Enumerable.Range(1, 3).Aggregate(1.0, (p, t) => p * 0.9 * (1 - 0.5 * Math.Pow(0.96, t)))).Within(Tolerance));

        var fresh = new NAdam<T>([MakeParameter("w", 1, 2)], formula: AdamFormula.Keras);
        OptimizerState<T> With(IReadOnlyDictionary<string, double>? scalars)
            => new(state.Kind, state.Step, state.LearningRate, state.ParameterNames, state.Hyperparameters, state.Slots, state.InitialLearningRate, scalars);
        foreach (double bad in new[] { -0.1, 1.5, double.NaN, double.PositiveInfinity })
            Assert.That(() => fresh.ImportState(With(new Dictionary<string, double> { ["mu_product"] = bad })),
                Throws.ArgumentException.With.Message.Contain("mu_product").And.Message.Contain("[0, 1]"), bad.ToString());
        Assert.That(() => fresh.ImportState(With(null)), Throws.ArgumentException.With.Message.Contain("lacks scalar 'mu_product'"));
        Assert.That(() => fresh.ImportState(With(new Dictionary<string, double> { ["mu_product"] = 0.5, ["extra"] = 1 })),
            Throws.ArgumentException.With.Message.Contain("scalar 'extra'"));
        Assert.That((fresh.StepCount, fresh.MomentumProduct), Is.EqualTo((0L, 1.0)), "a refused state changes nothing");
        Assert.That(() => new Adam<T>(ps).ImportState(new OptimizerState<T>("Adam", 1, 1e-3, ["w"], new Adam<T>(ps).ExportState().Hyperparameters,
            new Adam<T>(ps).ExportState().Slots, scalars: new Dictionary<string, double> { ["mu_product"] = 0.5 })),
            Throws.ArgumentException.With.Message.Contain("scalar 'mu_product'").And.Message.Contain("Adam"));

        fresh.ImportState(state);
        Assert.That(fresh.MomentumProduct, Is.EqualTo(nadam.MomentumProduct));
    }

    [Test]
    public void Defaults_AreKeras_AndTheStateCarriesPyTorchsNames()
    {
        Parameter<T>[] ps = [MakeParameter("layer.weight", 1, 2), MakeParameter("layer.bias", 3)];
        var nadam = new NAdam<T>(ps);
        Assert.That((nadam.LearningRate, nadam.Beta1, nadam.Beta2, nadam.Epsilon, nadam.WeightDecay, nadam.MomentumDecay, nadam.DecoupledWeightDecay, nadam.Formula),
            Is.EqualTo((1e-3, 0.9, 0.999, 1e-7, 0.0, 4e-3, false, AdamFormula.PyTorch)));
        OptimizerState<T> state = nadam.ExportState();
        Assert.That(state.Kind, Is.EqualTo("NAdam"));
        Assert.That(state.Slots.Select(s => $"{s.ParameterName}/{s.SlotName}"),
            Is.EqualTo(new[] { "layer.weight/exp_avg", "layer.weight/exp_avg_sq", "layer.bias/exp_avg", "layer.bias/exp_avg_sq" }));
        Assert.That(new NAdam<T>(ps, decoupledWeightDecay: true, formula: AdamFormula.Keras).ExportState().Hyperparameters, Is.EquivalentTo(new Dictionary<string, double>
        {
            ["beta1"] = 0.9, ["beta2"] = 0.999, ["eps"] = 1e-7, ["weight_decay"] = 0, ["momentum_decay"] = 1, ["decoupled_weight_decay"] = 1, ["keras_formula"] = 1,
        }));
    }

    [Test]
    public void Options_OutsideTheirRange_AreRejectedNamingOptionAndValue()
    {
        Parameter<T>[] ps = [MakeParameter("w", 1, 2)];
        AssertOutOfRange(() => new NAdam<T>(ps, beta1: 1), "beta1", "1");
        AssertOutOfRange(() => new NAdam<T>(ps, beta2: -0.1), "beta2", "-0.1");
        AssertOutOfRange(() => new NAdam<T>(ps, epsilon: 0), "epsilon", "0");
        AssertOutOfRange(() => new NAdam<T>(ps, weightDecay: -1), "weightDecay", "-1");
        AssertOutOfRange(() => new NAdam<T>(ps, momentumDecay: -4e-3), "momentumDecay", "-0.004");
        AssertOutOfRange(() => new NAdam<T>(ps, momentumDecay: double.NaN), "momentumDecay", "NaN");
        Assert.That(() => new NAdam<T>(ps, formula: (AdamFormula)3), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("PyTorch or Keras"));
    }
}
