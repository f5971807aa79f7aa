using NumLstm.Optimizers;

namespace NumLstm.Tests.Optimizers;

/// <summary>
/// Weight decay on every optimizer: coupled (λθ added to the gradient, PyTorch's default) or decoupled (θ shrunk before
/// the update: PyTorch's θ·(1 − lr·λ), Keras's θ − θ·λ·lr), each form checked bit for bit against the optimizer without
/// decay run on the decayed θ (or the decayed gradient); Keras's formula decouples by default, as Keras's base optimizer
/// applies every optimizer's <c>weight_decay</c>. Keras's own known answers (its optimizers' <c>test_weight_decay</c>,
/// and AdamW's single step and golden trajectory) pin the Keras form.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class DecoupledWeightDecayTests<T> : OptimizerTestBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>An optimizer of one kind and formula, built with the weight decay and decoupling given (null: its default).</summary>
    public delegate Optimizer<T> Factory(IReadOnlyList<Parameter<T>> parameters, double weightDecay, bool? decoupled);

    private const double Rate = 0.07;

    private static IEnumerable<TestCaseData> Kinds()
    {
        static TestCaseData Case(string name, bool keras, Factory create) => new TestCaseData(keras, create).SetArgDisplayNames(name);
        foreach (bool keras in new[] { false, true })
        {
            string formula = keras ? "Keras" : "PyTorch";
            AdamFormula adam = keras ? AdamFormula.Keras : AdamFormula.PyTorch;
            yield return Case($"Adam, {formula}", keras, (ps, wd, d) => new Adam<T>(ps, Rate, beta1: 0.8, epsilon: 1e-3, weightDecay: wd, amsgrad: true, formula: adam, decoupledWeightDecay: d));
            yield return Case($"RMSprop, {formula}", keras, (ps, wd, d) => new RmsProp<T>(ps, Rate, momentum: 0.5, centered: true, weightDecay: wd,
                formula: keras ? RmsPropFormula.Keras : RmsPropFormula.PyTorch, decoupledWeightDecay: d));
            // lr_decay 0.1: the decay takes the optimizer's rate, not Adagrad's decayed one.
            yield return Case($"Adagrad, {formula}", keras, (ps, wd, d) => new Adagrad<T>(ps, Rate, lrDecay: 0.1, weightDecay: wd,
                formula: keras ? AdagradFormula.Keras : AdagradFormula.PyTorch, decoupledWeightDecay: d));
            yield return Case($"Adamax, {formula}", keras, (ps, wd, d) => new Adamax<T>(ps, Rate, weightDecay: wd, formula: adam, decoupledWeightDecay: d));
            yield return Case($"NAdam, {formula}", keras, (ps, wd, d) => new NAdam<T>(ps, Rate, weightDecay: wd, decoupledWeightDecay: d, formula: adam));
            yield return Case($"SGD, {formula}", keras, (ps, wd, d) => new Sgd<T>(ps, Rate, momentum: 0.9, nesterov: true, weightDecay: wd,
                formula: keras ? SgdFormula.Keras : SgdFormula.PyTorch, decoupledWeightDecay: d));
        }
    }

    private static bool DecoupledOf(Optimizer<T> optimizer) => optimizer switch
    {
        Adam<T> a => a.DecoupledWeightDecay,
        RmsProp<T> a => a.DecoupledWeightDecay,
        Adagrad<T> a => a.DecoupledWeightDecay,
        Adamax<T> a => a.DecoupledWeightDecay,
        NAdam<T> a => a.DecoupledWeightDecay,
        Sgd<T> a => a.DecoupledWeightDecay,
        _ => throw new ArgumentException(optimizer.Kind),
    };

    /// <summary>θ − θ·λ·lr (Keras's base optimizer) or θ·(1 − lr·λ) with 1 − lr·λ in double (torch's <c>mul_</c>), in T.</summary>
    private static T Decay(T theta, bool kerasForm, double lr, double weightDecay)
        => kerasForm ? theta - theta * C(weightDecay) * C(lr) : theta * C(1 - lr * weightDecay);

    [TestCaseSource(nameof(Kinds))]
    public void Default_IsTheFormulasFrameworks_AndAnExplicitChoiceHolds(bool keras, Factory create)
    {
        Parameter<T>[] ps = [MakeParameter("w", 1, 2)];
        Assert.That(DecoupledOf(create(ps, 0.1, null)), Is.EqualTo(keras), "PyTorch couples by default, Keras decouples");
        Assert.That(DecoupledOf(create(ps, 0.1, true)), Is.True);
        Assert.That(DecoupledOf(create(ps, 0.1, false)), Is.False);
    }

    /// <summary>
    /// Four steps with λ = 0.3 (the rate changing after two) against the same optimizer without decay: decoupled, run on θ
    /// shrunk first in the formula's own form; coupled, fed the gradient g + λθ. Bit for bit, over a 37-element parameter
    /// (vectors and a tail). And the other form of the shrink must land elsewhere, so the check can tell them apart.
    /// </summary>
    [TestCaseSource(nameof(Kinds))]
    public void EachForm_EqualsTheOptimizerWithoutDecay_OnTheDecayedThetaOrGradient_Bitwise(bool keras, Factory create)
    {
        const int n = 37;
        const double lambda = 0.3;
        var (theta0, gradients) = Data(n, 4, 29);
        double RateAt(int t) => t < 2 ? Rate : Rate / 3;
        foreach (bool decoupled in new[] { true, false })
        {
            Parameter<T> decayed = MakeParameter("w", theta0), plain = MakeParameter("w", theta0), otherForm = MakeParameter("w", theta0);
            Optimizer<T> withDecay = create([decayed], lambda, decoupled), without = create([plain], 0, decoupled), other = create([otherForm], 0, decoupled);
            for (int t = 0; t < gradients.Length; t++)
            {
                withDecay.LearningRate = without.LearningRate = other.LearningRate = RateAt(t);
                SetGradient(decayed, gradients[t]);
                SetGradient(otherForm, gradients[t]);
                for (int k = 0; k < n; k++)
                {
                    T g = C(gradients[t][k]);
                    if (decoupled)
                    {
                        plain.Value[k] = Decay(plain.Value[k], keras, RateAt(t), lambda);
                        otherForm.Value[k] = Decay(otherForm.Value[k], !keras, RateAt(t), lambda);
                        plain.Gradient[k] = g;
                    }
                    else plain.Gradient[k] = g + C(lambda) * plain.Value[k];
                }
                withDecay.Step();
                without.Step();
                other.Step();
            }
            string mode = decoupled ? "decoupled" : "coupled";
            for (int k = 0; k < n; k++) Assert.That(decayed.Value[k], Is.EqualTo(plain.Value[k]), $"{mode}, θ[{k}]");
            Assert.That(decayed.Gradient.Select(D), Is.EqualTo(gradients[^1].Select(g => D(C(g)))), $"{mode}: the gradient is left as it came");
            if (decoupled)
                Assert.That(Enumerable.Range(0, n).Any(k => decayed.Value[k] != otherForm.Value[k]), Is.True,
                    "the other framework's form of the shrink must give other bits somewhere (else the check cannot tell them apart)");
        }
    }

    [TestCaseSource(nameof(Kinds))]
    public void KerasTestWeightDecay_KnownAnswer_ThreeFreshStepsWithZeroGradient_Give1_9760959(bool keras, Factory create)
    {
        // keras/src/optimizers/*_test.py, test_weight_decay: var = 2.0, zero gradient, three optimizers with
        // learning_rate = 1.0 and weight_decay = 0.004 each applying one step: 2·(1 − 0.004)³ = 1.9760959 (decimal = 6).
        // PyTorch's couple the decay, so its answer is whatever λθ as a gradient does; decoupled, both forms give it.
        Parameter<T> variable = MakeParameter("var1", 2.0);
        for (int i = 0; i < 3; i++)
        {
            Optimizer<T> optimizer = create([variable], 0.004, true);
            optimizer.LearningRate = 1.0;
            variable.Gradient[0] = T.Zero;
            optimizer.Step();
        }
        Assert.That(D(variable.Value[0]), Is.EqualTo(1.9760959).Within(5e-7));
        Assert.That(D(variable.Value[0]), Is.EqualTo(2 * Math.Pow(1 - 0.004, 3)).Within(IsFloat ? 4e-7 : 1e-15));
    }

    [Test]
    public void KerasAdamW_SingleStep_KnownAnswer()
    {
        // keras/src/optimizers/adamw_test.py, test_single_step: AdamW(learning_rate=0.5) (weight_decay = 0.004, Keras's
        // default), gradients [1, 6, 7, 2] on [1, 2, 3, 4] → [0.4980, 1.4960, 2.494, 3.492] (rtol = atol = 1e-4).
        Parameter<T> vars = MakeParameter("vars", 1, 2, 3, 4);
        var optimizer = new AdamW<T>([vars], learningRate: 0.5, weightDecay: 0.004, formula: AdamFormula.Keras);
        SetGradient(vars, 1, 6, 7, 2);
        optimizer.Step();
        double[] expected = [0.4980, 1.4960, 2.494, 3.492];
        for (int k = 0; k < 4; k++) Assert.That(D(vars.Value[k]), Is.EqualTo(expected[k]).Within(1e-4 + 1e-4 * Math.Abs(expected[k])), $"vars[{k}]");
    }

    [Test]
    public void KerasAdamW_GoldenTrajectory_KnownAnswer_AndKerasAdamWithWeightDecayRunsTheSame()
    {
        // keras/src/optimizers/adamw_test.py, test_correctness_with_golden: AdamW(learning_rate=1.0, weight_decay=0.5,
        // epsilon=2) on ones(10), a first gradient of 0.01 everywhere, then arange(0.1, 1.1, 0.1) (rtol = atol = 5e-4).
        double[][] golden =
        [
            [0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998],
            [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
            [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
            [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
            [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159],
        ];
        Parameter<T> x = MakeParameter("x", Enumerable.Repeat(1.0, 10).ToArray()), y = MakeParameter("y", Enumerable.Repeat(1.0, 10).ToArray());
        var adamW = new AdamW<T>([x], learningRate: 1.0, weightDecay: 0.5, epsilon: 2, formula: AdamFormula.Keras);
        var adam = new Adam<T>([y], learningRate: 1.0, weightDecay: 0.5, epsilon: 2, formula: AdamFormula.Keras);   // Keras's Adam(weight_decay=0.5)
        double[] grads = Enumerable.Range(1, 10).Select(i => i / 10.0).ToArray();
        SetGradient(x, Enumerable.Repeat(0.01, 10).ToArray());
        SetGradient(y, Enumerable.Repeat(0.01, 10).ToArray());
        adamW.Step();
        adam.Step();
        for (int i = 0; i < 5; i++)
        {
            for (int k = 0; k < 10; k++)
                Assert.That(D(x.Value[k]), Is.EqualTo(golden[i][k]).Within(5e-4 + 5e-4 * Math.Abs(golden[i][k])), $"golden[{i}][{k}]");
            Assert.That(y.Value, Is.EqualTo(x.Value), "Keras's Adam with weight_decay is its AdamW");
            SetGradient(x, grads);
            SetGradient(y, grads);
            adamW.Step();
            adam.Step();
        }
    }

    [Test]
    public void TheStateNamesTheDecoupling_OnlyWhereItChangesTheUpdate_AndAMismatchIsRefusedNamingIt()
    {
        Parameter<T>[] ps = [MakeParameter("w", 1, 2)];
        IReadOnlyDictionary<string, double> Hyper(Optimizer<T> o) => o.ExportState().Hyperparameters;
        // Absent when coupled or λ = 0: the hyperparameters of every state written before the option.
        Assert.That(Hyper(new RmsProp<T>(ps, weightDecay: 0.1)).ContainsKey("decoupled_weight_decay"), Is.False);
        Assert.That(Hyper(new RmsProp<T>(ps, formula: RmsPropFormula.Keras)).ContainsKey("decoupled_weight_decay"), Is.False);
        Assert.That(Hyper(new Sgd<T>(ps, 0.1, weightDecay: 0.1, formula: SgdFormula.Keras, decoupledWeightDecay: false)).ContainsKey("decoupled_weight_decay"), Is.False);
        Assert.That(Hyper(new AdamW<T>(ps)).ContainsKey("decoupled_weight_decay"), Is.False, "AdamW's kind says it");
        Assert.That(Hyper(new Adagrad<T>(ps, weightDecay: 0.1, formula: AdagradFormula.Keras))["decoupled_weight_decay"], Is.EqualTo(1));
        Assert.That(Hyper(new Adamax<T>(ps, weightDecay: 0.1, decoupledWeightDecay: true))["decoupled_weight_decay"], Is.EqualTo(1));
        Assert.That(Hyper(new Adam<T>(ps, weightDecay: 0.1, formula: AdamFormula.Keras))["decoupled_weight_decay"], Is.EqualTo(1));
        Assert.That(Hyper(new NAdam<T>(ps, formula: AdamFormula.Keras))["decoupled_weight_decay"], Is.EqualTo(1), "NAdam always names it, as before");
        Assert.That(Hyper(new NAdam<T>(ps))["decoupled_weight_decay"], Is.EqualTo(0));

        OptimizerState<T> decoupledState = new Sgd<T>(ps, 0.1, weightDecay: 0.1, formula: SgdFormula.Keras).ExportState();
        Assert.That(() => new Sgd<T>(ps, 0.1, weightDecay: 0.1, formula: SgdFormula.Keras, decoupledWeightDecay: false).ImportState(decoupledState),
            Throws.ArgumentException.With.Message.Contain("decoupled_weight_decay"));
        OptimizerState<T> coupledState = new Adam<T>(ps, weightDecay: 0.1, formula: AdamFormula.Keras, decoupledWeightDecay: false).ExportState();
        Assert.That(() => new Adam<T>(ps, weightDecay: 0.1, formula: AdamFormula.Keras).ImportState(coupledState),
            Throws.ArgumentException.With.Message.Contain("decoupled_weight_decay"));
    }

    /// <summary>
    /// Keras's <c>exclude_from_weight_decay(var_list)</c>, PyTorch's group with weight_decay = 0: an excluded parameter steps
    /// exactly as under an optimizer without decay, the other exactly as under one with it (each alone), bit for bit.
    /// </summary>
    [TestCaseSource(nameof(Kinds))]
    public void ExcludedParameters_StepAsWithoutDecay_TheOthersAsWithIt_Bitwise(bool keras, Factory create)
    {
        const int n = 37;
        var (theta0, gradients) = Data(2 * n, 3, 31);
        double[] first = theta0[..n], second = theta0[n..];
        foreach (bool decoupled in new[] { true, false })
        {
            Parameter<T> spared = MakeParameter("bias", first), decayed = MakeParameter("weight", second);
            Parameter<T> alone = MakeParameter("bias", first), decayedAlone = MakeParameter("weight", second), sparedDecayed = MakeParameter("bias", first);
            Optimizer<T> both = create([spared, decayed], 0.3, decoupled);
            both.ExcludeFromWeightDecay(spared);
            Assert.That(both.WeightDecayExcluded, Is.EqualTo(new[] { 0 }));
            Optimizer<T> withoutDecay = create([alone], 0, decoupled), withDecay = create([decayedAlone], 0.3, decoupled), notExcluded = create([sparedDecayed], 0.3, decoupled);
            for (int t = 0; t < gradients.Length; t++)
            {
                SetGradient(spared, gradients[t][..n]);
                SetGradient(decayed, gradients[t][n..]);
                SetGradient(alone, gradients[t][..n]);
                SetGradient(decayedAlone, gradients[t][n..]);
                SetGradient(sparedDecayed, gradients[t][..n]);
                both.Step();
                withoutDecay.Step();
                withDecay.Step();
                notExcluded.Step();
            }
            string mode = decoupled ? "decoupled" : "coupled";
            Assert.That(spared.Value, Is.EqualTo(alone.Value), $"{mode}: the excluded parameter steps without decay");
            Assert.That(decayed.Value, Is.EqualTo(decayedAlone.Value), $"{mode}: the other parameter keeps its decay");
            Assert.That(spared.Value, Is.Not.EqualTo(sparedDecayed.Value), $"{mode}: decay would have moved it elsewhere (the test can fail)");
        }
    }

    [Test]
    public void ExcludeFromWeightDecay_TakesOnlyItsOwnParameters_BeforeTheFirstStep_AndTheStateCarriesIt()
    {
        Parameter<T> weight = MakeParameter("weight", 1, 2), bias = MakeParameter("bias", 3), gamma = MakeParameter("weight", 4, 5);
        var adamW = new AdamW<T>([weight, bias, gamma], 0.1, formula: AdamFormula.Keras);
        var foreign = Assert.Throws<ArgumentException>(() => adamW.ExcludeFromWeightDecay(MakeParameter("bias", 0)));
        Assert.That(foreign!.Message, Does.Contain("'bias' (1 values) is not one of this AdamW optimizer's 3 parameters"));
        Assert.That(() => adamW.ExcludeFromWeightDecay((Parameter<T>)null!), Throws.ArgumentException.With.Message.Contain("null"));
        Assert.That(adamW.WeightDecayExcluded, Is.Empty, "a refused call excludes nothing");
        adamW.ExcludeFromWeightDecay(bias);
        adamW.ExcludeFromWeightDecay([gamma]);
        Assert.That(adamW.WeightDecayExcluded, Is.EqualTo(new[] { 1, 2 }), "cumulative, by index: the two 'weight's are told apart");
        OptimizerState<T> state = adamW.ExportState();
        Assert.That(state.Hyperparameters.Where(h => h.Key.StartsWith(Optimizer<T>.ExcludedFromWeightDecayKey, StringComparison.Ordinal)),
            Is.EquivalentTo(new Dictionary<string, double> { ["exclude_from_weight_decay:1"] = 1, ["exclude_from_weight_decay:2"] = 1 }));

        Parameter<T>[] copies = [MakeParameter("weight", 1, 2), MakeParameter("bias", 3), MakeParameter("weight", 4, 5)];
        var plain = new AdamW<T>(copies, 0.1, formula: AdamFormula.Keras);
        Assert.That(() => plain.ImportState(state), Throws.ArgumentException.With.Message.Contain("excludes parameter 1 from weight decay"));
        var other = new AdamW<T>(copies, 0.1, formula: AdamFormula.Keras);
        other.ExcludeFromWeightDecay(copies[0], copies[1], copies[2]);
        Assert.That(() => other.ImportState(state), Throws.ArgumentException.With.Message.Contain("decays parameter 0"));
        var same = new AdamW<T>(copies, 0.1, formula: AdamFormula.Keras);
        same.ExcludeFromWeightDecay(copies[1], copies[2]);
        same.ImportState(state);
        Assert.That(same.WeightDecayExcluded, Is.EqualTo(new[] { 1, 2 }));

        adamW.Step();
        Assert.That(() => adamW.ExcludeFromWeightDecay(weight), Throws.InvalidOperationException.With.Message.Contain("before the first step"));
    }

    [Test]
    public void DecoupledSteps_AllocateNothing()
    {
        Parameter<T>[] ps = [MakeParameter("a", 1, 2, 3), MakeParameter("b", 4, 5)];
        foreach ((bool keras, Factory create) in Kinds().Select(c => ((bool)c.Arguments[0]!, (Factory)c.Arguments[1]!)))
        {
            Optimizer<T> optimizer = create(ps, 0.1, true);
            optimizer.Step();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int s = 0; s < 10; s++) optimizer.Step();
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, $"{optimizer.Kind} (Keras {keras}): bytes allocated by 10 steps");
        }
    }
}
