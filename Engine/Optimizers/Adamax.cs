using System.Runtime.Intrinsics;

namespace NumLstm.Optimizers;

/// <summary>
/// Adamax (Kingma &amp; Ba, 2015, section 7.1: Adam with the infinity norm) with the update of <c>torch.optim.Adamax</c>
/// (docs/math-losses-optimizers.md): g ← ∇θ + λθ (L2, coupled); m ← lerp(m, g, 1 − β1); u ← max(β2·u, |g| + ε);
/// θ ← θ − (lr / (1 − β1^t))·m / u. <see cref="AdamFormula.Keras"/> gives Keras's update instead, where ε is added to u
/// at the division rather than to |g| inside the max. Defaults are Keras's (lr = 1e-3, ε = 1e-7); PyTorch's are
/// lr = 2e-3 and ε = 1e-8 (β1 = 0.9 and β2 = 0.999 in both). Weight decay follows the formula's framework unless
/// <c>decoupledWeightDecay</c> says otherwise: coupled L2 in PyTorch's, decoupled in Keras's (θ ← θ − θ·λ·lr before the
/// update, as Keras's base optimizer applies <c>weight_decay</c>).
/// </summary>
public sealed class Adamax<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T beta2, eps, lambda, negativeStepSize, rate, oneMinusBeta1Power;
    private TorchLerp<T> lerp;   // exp_avg.lerp_(grad, 1 − β1); its weight is Keras's 1 − β1 too
    private DecoupledWeightDecay<T> decay;   // θ before the update, when the decay is decoupled

    public Adamax(IReadOnlyList<Parameter<T>> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-7, double weightDecay = 0, AdamFormula formula = AdamFormula.PyTorch, bool? decoupledWeightDecay = null)
        : base(parameters, learningRate, "exp_avg", "exp_inf")
    {
        if (!Enum.IsDefined(formula))
            throw new ArgumentOutOfRangeException(nameof(formula), formula, "Unknown Adamax formula: expected PyTorch or Keras.");
        CheckBeta(beta1, nameof(beta1));
        CheckBeta(beta2, nameof(beta2));
        CheckPositive(epsilon, nameof(epsilon));
        CheckNonNegative(weightDecay, nameof(weightDecay));
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        Formula = formula;
        DecoupledWeightDecay = decoupledWeightDecay ?? formula == AdamFormula.Keras;
    }

    public override string Kind => "Adamax";
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }

    /// <summary>θ ← θ(1 − lr·λ) (Keras's formula: θ − θ·λ·lr) before the update instead of λθ added to the gradient; by
    /// default the formula's framework's choice (PyTorch: coupled, Keras: decoupled).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>PyTorch's update (default) or Keras's (ε added to u at the division; m written as m += (g − m)(1 − β1)).</summary>
    public AdamFormula Formula { get; }

    protected override IReadOnlyDictionary<string, double> Hyperparameters()
    {
        var values = new Dictionary<string, double>
        {
            ["beta1"] = Beta1,
            ["beta2"] = Beta2,
            ["eps"] = Epsilon,
            ["weight_decay"] = WeightDecay,
        };
        if (Formula == AdamFormula.Keras) values["keras_formula"] = 1;
        // Only where it changes the update (absent when coupled or λ = 0, as in states written before the option).
        if (DecoupledWeightDecay && WeightDecay != 0) values["decoupled_weight_decay"] = 1;
        return values;
    }

    protected override void BeginStep(long step)
    {
        lerp = new TorchLerp<T>(1 - Beta1);
        beta2 = Cast(Beta2);
        eps = Cast(Epsilon);
        lambda = Cast(WeightDecay);
        // PyTorch: clr = lr / (1 − β1 ** step) in Python floats, passed to addcdiv_ as value = −clr.
        negativeStepSize = Cast(-(LearningRate / (1 - Math.Pow(Beta1, step))));
        // Keras: beta_1_power = ops.power(cast(β1), local_step) in the variable's type, then 1 − beta_1_power there too.
        rate = Cast(LearningRate);
        oneMinusBeta1Power = T.One - T.Pow(Cast(Beta1), T.CreateTruncating(step));
        decay = new DecoupledWeightDecay<T>(Formula == AdamFormula.Keras, LearningRate, WeightDecay);
    }

    protected override void Update(int index, Parameter<T> parameter) => Update(index, parameter, 0, parameter.Length);

    protected override bool UpdatesElementwise => true;

    protected override void Update(int index, Parameter<T> parameter, int start, int count)
    {
        Span<T> theta = parameter.Value.AsSpan(start, count);
        ReadOnlySpan<T> gradient = parameter.Gradient.AsSpan(start, count);
        Span<T> m = Slot(0, index).AsSpan(start, count), u = Slot(1, index).AsSpan(start, count);
        bool decays = WeightDecay != 0 && DecaysWeights(index);
        bool coupled = decays && !DecoupledWeightDecay, decoupled = decays && DecoupledWeightDecay;
        bool keras = Formula == AdamFormula.Keras;
        DecoupledWeightDecay<T> weightDecay = decay;
        TorchLerp<T> firstMoment = lerp;
        T oneMinusBeta1 = firstMoment.Weight;
        int k = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            int width = Vector256<T>.Count;
            Vector256<T> lambdaV = Vector256.Create(lambda), oneMinusBeta1V = Vector256.Create(oneMinusBeta1);
            Vector256<T> beta2V = Vector256.Create(beta2), epsV = Vector256.Create(eps);
            Vector256<T> negativeStepSizeV = Vector256.Create(negativeStepSize), rateV = Vector256.Create(rate);
            Vector256<T> oneMinusBeta1PowerV = Vector256.Create(oneMinusBeta1Power);
            ref T thetaRef = ref MemoryMarshal.GetReference(theta);
            ref T gradientRef = ref MemoryMarshal.GetReference(gradient);
            ref T mRef = ref MemoryMarshal.GetReference(m);
            ref T uRef = ref MemoryMarshal.GetReference(u);
            for (; k <= theta.Length - width; k += width)
            {
                nuint at = (nuint)k;
                Vector256<T> thetaK = Vector256.LoadUnsafe(ref thetaRef, at);
                Vector256<T> g = Vector256.LoadUnsafe(ref gradientRef, at);
                if (coupled) g += lambdaV * thetaK;
                if (decoupled) thetaK = weightDecay.Apply(thetaK);
                Vector256<T> mK = Vector256.LoadUnsafe(ref mRef, at), uK = Vector256.LoadUnsafe(ref uRef, at);
                if (keras)
                {
                    mK += (g - mK) * oneMinusBeta1V;
                    uK = Vector256.Max(beta2V * uK, Vector256.Abs(g));
                    thetaK -= rateV * mK / (oneMinusBeta1PowerV * (uK + epsV));
                }
                else
                {
                    mK = firstMoment.Apply(mK, g);
                    uK = Vector256.Max(uK * beta2V, Vector256.Abs(g) + epsV);
                    thetaK += negativeStepSizeV * mK / uK;
                }
                mK.StoreUnsafe(ref mRef, at);
                uK.StoreUnsafe(ref uRef, at);
                thetaK.StoreUnsafe(ref thetaRef, at);
            }
        }
        // The tail (and the whole span without SIMD) runs the same operations in the same order, one element at a time.
        for (; k < theta.Length; k++)
        {
            T g = coupled ? gradient[k] + lambda * theta[k] : gradient[k]; // grad.add(param, alpha=λ)
            if (decoupled) theta[k] = weightDecay.Apply(theta[k]);         // θ(1 − lr·λ); Keras: variable − variable·wd·lr
            T mk, uk;
            if (keras)
            {
                mk = m[k] + (g - m[k]) * oneMinusBeta1;                    // m += (g − m)·(1 − β1)
                uk = T.Max(beta2 * u[k], T.Abs(g));                        // u = max(β2·u, |g|)
                theta[k] -= rate * mk / (oneMinusBeta1Power * (uk + eps));  // θ −= (lr·m) / ((1 − β1^t)·(u + ε))
            }
            else
            {
                mk = firstMoment.Apply(m[k], g);                              // exp_avg.lerp_(g, 1 − β1)
                uk = T.Max(u[k] * beta2, T.Abs(g) + eps);                  // maximum(exp_inf.mul_(β2), g.abs().add_(ε))
                theta[k] += negativeStepSize * mk / uk;                    // param.addcdiv_(exp_avg, exp_inf, value=−clr)
            }
            m[k] = mk;
            u[k] = uk;
        }
    }
}
