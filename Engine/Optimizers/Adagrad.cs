using System.Runtime.Intrinsics;

namespace NumLstm.Optimizers;

/// <summary>Which framework's Adagrad update to follow; they differ in where ε goes (docs/math-losses-optimizers.md).</summary>
public enum AdagradFormula
{
    /// <summary><c>torch.optim.Adagrad</c>: θ ← θ − clr·g / (√s + ε), ε added outside the root. The default.</summary>
    PyTorch,
    /// <summary>Keras 3's <c>Adagrad.update_step</c>: θ ← θ − lr·g / √(s + ε), ε added inside the root.</summary>
    Keras,
}

/// <summary>
/// Adagrad (Duchi et al., 2011) with the update of <c>torch.optim.Adagrad</c> (docs/math-losses-optimizers.md):
/// g ← ∇θ + λθ (L2, coupled); s ← s + g²; clr = lr / (1 + (t − 1)·lrDecay); θ ← θ − clr·g / (√s + ε), s starting at
/// <c>initialAccumulatorValue</c>. <see cref="AdagradFormula.Keras"/> gives Keras's update instead. Defaults are
/// Keras's (lr = 1e-3, initial accumulator 0.1, ε = 1e-7); PyTorch's are lr = 1e-2, 0 and 1e-10. Weight decay follows
/// the formula's framework unless <c>decoupledWeightDecay</c> says otherwise: coupled L2 in PyTorch's, decoupled in
/// Keras's (θ ← θ − θ·λ·lr before the update, lr undecayed, as Keras's base optimizer applies <c>weight_decay</c>).
/// </summary>
public sealed class Adagrad<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T eps, lambda, negativeRate, rate;
    private DecoupledWeightDecay<T> decay;   // θ before the update, when the decay is decoupled

    public Adagrad(IReadOnlyList<Parameter<T>> parameters, double learningRate = 1e-3, double initialAccumulatorValue = 0.1,
        double epsilon = 1e-7, double lrDecay = 0, double weightDecay = 0, AdagradFormula formula = AdagradFormula.PyTorch,
        bool? decoupledWeightDecay = null)
        : base(parameters, learningRate, "sum")
    {
        if (!Enum.IsDefined(formula))
            throw new ArgumentOutOfRangeException(nameof(formula), formula, "Unknown Adagrad formula: expected PyTorch or Keras.");
        CheckNonNegative(initialAccumulatorValue, nameof(initialAccumulatorValue));
        CheckPositive(epsilon, nameof(epsilon));
        CheckNonNegative(lrDecay, nameof(lrDecay));
        CheckNonNegative(weightDecay, nameof(weightDecay));
        InitialAccumulatorValue = initialAccumulatorValue;
        Epsilon = epsilon;
        LrDecay = lrDecay;
        WeightDecay = weightDecay;
        Formula = formula;
        DecoupledWeightDecay = decoupledWeightDecay ?? formula == AdagradFormula.Keras;
        // PyTorch: state["sum"] = torch.full_like(p, initial_accumulator_value); Keras: a Constant initializer.
        T initial = Cast(initialAccumulatorValue);
        for (int p = 0; p < Parameters.Count; p++) Slot(0, p).AsSpan().Fill(initial);
    }

    public override string Kind => "Adagrad";

    /// <summary>The value every element of the sum of squares starts from (PyTorch's 0, Keras's 0.1).</summary>
    public double InitialAccumulatorValue { get; }
    public double Epsilon { get; }

    /// <summary>PyTorch's <c>lr_decay</c>: step t uses lr / (1 + (t − 1)·lrDecay), under either formula.</summary>
    public double LrDecay { get; }
    public double WeightDecay { get; }

    /// <summary>θ ← θ(1 − lr·λ) (Keras's formula: θ − θ·λ·lr), lr without lr_decay, before the update instead of λθ added
    /// to the gradient; by default the formula's framework's choice (PyTorch: coupled, Keras: decoupled).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>PyTorch's update (default) or Keras's (ε inside the root).</summary>
    public AdagradFormula Formula { get; }

    protected override IReadOnlyDictionary<string, double> Hyperparameters()
    {
        var values = new Dictionary<string, double>
        {
            ["lr_decay"] = LrDecay,
            ["weight_decay"] = WeightDecay,
            ["initial_accumulator_value"] = InitialAccumulatorValue,
            ["eps"] = Epsilon,
        };
        if (Formula == AdagradFormula.Keras) values["keras_formula"] = 1;
        // Only where it changes the update (absent when coupled or λ = 0, as in states written before the option).
        if (DecoupledWeightDecay && WeightDecay != 0) values["decoupled_weight_decay"] = 1;
        return values;
    }

    protected override void BeginStep(long step)
    {
        // clr = lr / (1 + (step − 1)·lr_decay) in Python floats, passed to addcdiv_ as value = −clr.
        double clr = LearningRate / (1 + (step - 1) * LrDecay);
        rate = Cast(clr);
        negativeRate = Cast(-clr);
        eps = Cast(Epsilon);
        lambda = Cast(WeightDecay);
        decay = new DecoupledWeightDecay<T>(Formula == AdagradFormula.Keras, LearningRate, WeightDecay);
    }

    protected override void Update(int index, Parameter<T> parameter) => Update(index, parameter, 0, parameter.Length);

    protected override bool UpdatesElementwise => true;

    protected override void Update(int index, Parameter<T> parameter, int start, int count)
    {
        Span<T> theta = parameter.Value.AsSpan(start, count);
        ReadOnlySpan<T> gradient = parameter.Gradient.AsSpan(start, count);
        Span<T> sum = Slot(0, index).AsSpan(start, count);
        bool decays = WeightDecay != 0 && DecaysWeights(index);
        bool coupled = decays && !DecoupledWeightDecay, decoupled = decays && DecoupledWeightDecay;
        bool keras = Formula == AdagradFormula.Keras;
        DecoupledWeightDecay<T> weightDecay = decay;
        int k = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            int width = Vector256<T>.Count;
            Vector256<T> lambdaV = Vector256.Create(lambda), epsV = Vector256.Create(eps);
            Vector256<T> rateV = Vector256.Create(rate), negativeRateV = Vector256.Create(negativeRate);
            ref T thetaRef = ref MemoryMarshal.GetReference(theta);
            ref T gradientRef = ref MemoryMarshal.GetReference(gradient);
            ref T sumRef = ref MemoryMarshal.GetReference(sum);
            for (; k <= theta.Length - width; k += width)
            {
                nuint at = (nuint)k;
                Vector256<T> thetaK = Vector256.LoadUnsafe(ref thetaRef, at);
                Vector256<T> g = Vector256.LoadUnsafe(ref gradientRef, at);
                if (coupled) g += lambdaV * thetaK;
                if (decoupled) thetaK = weightDecay.Apply(thetaK);
                Vector256<T> s = Vector256.LoadUnsafe(ref sumRef, at) + g * g;
                s.StoreUnsafe(ref sumRef, at);
                thetaK = keras ? thetaK - rateV * g / Vector256.Sqrt(s + epsV) : thetaK + negativeRateV * g / (Vector256.Sqrt(s) + epsV);
                thetaK.StoreUnsafe(ref thetaRef, at);
            }
        }
        // The tail (and the whole span without SIMD) runs the same operations in the same order, one element at a time.
        for (; k < theta.Length; k++)
        {
            T g = coupled ? gradient[k] + lambda * theta[k] : gradient[k]; // grad.add(param, alpha=λ)
            if (decoupled) theta[k] = weightDecay.Apply(theta[k]);         // θ(1 − lr·λ); Keras: variable − variable·wd·lr
            T s = sum[k] + g * g;                                          // state_sum.addcmul_(g, g, value=1); Keras: accumulator += g²
            sum[k] = s;
            theta[k] = keras
                ? theta[k] - rate * g / T.Sqrt(s + eps)                    // θ −= (lr·g) / √(accumulator + ε)
                : theta[k] + negativeRate * g / (T.Sqrt(s) + eps);         // param.addcdiv_(g, √s + ε, value=−clr)
        }
    }
}
