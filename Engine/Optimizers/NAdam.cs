using System.Runtime.Intrinsics;

namespace NumLstm.Optimizers;

/// <summary>
/// NAdam (Dozat, 2016: Adam with Nesterov momentum) with the update of <c>torch.optim.NAdam</c>
/// (docs/math-losses-optimizers.md): with μ_t = β1·(1 − 0.5·0.96^(t·ψ)) and Π_t = μ_1⋯μ_t,
/// g ← ∇θ + λθ (or θ ← θ(1 − lr·λ), decoupled: Keras's θ − θ·λ·lr under its formula); m ← lerp(m, g, 1 − β1); v ← β2·v + (1 − β2)·g²;
/// d = √(v / (1 − β2^t)) + ε; θ ← θ − lr(1 − μ_t)/(1 − Π_t)·g/d − lr·μ_{t+1}/(1 − Π_t·μ_{t+1})·m/d.
/// <see cref="AdamFormula.Keras"/> gives Keras 3's <c>Nadam.update_step</c> instead, whose schedule is 0.96^t (ψ = 1).
/// Defaults are Keras's (lr = 1e-3, ε = 1e-7); PyTorch's are lr = 2e-3, ε = 1e-8, ψ = 4e-3.
/// Π_t is kept in T, as PyTorch keeps its <c>mu_product</c> in the default dtype and Keras its <c>u_product</c> in the
/// variables' type; the exported state carries it as the scalar <c>mu_product</c>.
/// </summary>
public sealed class NAdam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T beta2, oneMinusBeta2, eps, lambda;
    private DecoupledWeightDecay<T> decay;                                      // θ before the update, when the decay is decoupled
    private TorchLerp<T> lerp;                                                  // exp_avg.lerp_(grad, 1 − β1); Keras's 1 − β1 too
    private T gradientScale, momentScale, biasCorrection2;                       // PyTorch: the two addcdiv values, 1 − β2^t
    private T uNext, oneMinusUNextProduct, oneMinusU, oneMinusUProduct, rate;      // Keras: u_{t+1}, 1 − Π·u_{t+1}, 1 − u_t, 1 − Π, lr
    private T kerasOneMinusBeta1, kerasOneMinusBeta2;                          // Keras: 1 − β1 and 1 − β2 taken in T
    private T product = T.One;                                                  // Π_t: PyTorch's mu_product, Keras's u_product

    public NAdam(IReadOnlyList<Parameter<T>> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-7, double weightDecay = 0, double? momentumDecay = null, bool? decoupledWeightDecay = null,
        AdamFormula formula = AdamFormula.PyTorch)
        : base(parameters, learningRate, "exp_avg", "exp_avg_sq")
    {
        if (!Enum.IsDefined(formula))
            throw new ArgumentOutOfRangeException(nameof(formula), formula, "Unknown NAdam formula: expected PyTorch or Keras.");
        CheckBeta(beta1, nameof(beta1));
        CheckBeta(beta2, nameof(beta2));
        CheckPositive(epsilon, nameof(epsilon));
        CheckNonNegative(weightDecay, nameof(weightDecay));
        double decay = momentumDecay ?? (formula == AdamFormula.Keras ? 1 : 4e-3);
        CheckNonNegative(decay, nameof(momentumDecay));
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        MomentumDecay = decay;
        DecoupledWeightDecay = decoupledWeightDecay ?? formula == AdamFormula.Keras;
        Formula = formula;
    }

    public override string Kind => "NAdam";
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }

    /// <summary>ψ in μ_t = β1·(1 − 0.5·0.96^(t·ψ)): PyTorch's <c>momentum_decay</c>, 4e-3 by default; 1 by default under
    /// the Keras formula, whose schedule is 0.96^t.</summary>
    public double MomentumDecay { get; }

    /// <summary>θ ← θ(1 − lr·λ) (Keras's formula: θ − θ·λ·lr) before the update instead of adding λθ to the gradient
    /// (PyTorch's <c>decoupled_weight_decay</c>, NAdamW); by default the formula's framework's choice (PyTorch: coupled,
    /// Keras: decoupled, as Keras's base optimizer applies every optimizer's <c>weight_decay</c>).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>Π_t = μ_1⋯μ_t after the last step (PyTorch's <c>mu_product</c>, Keras's <c>u_product</c>), 1 before the first.</summary>
    public double MomentumProduct => double.CreateTruncating(product);

    /// <summary>PyTorch's update (default) or Keras's (its m, v and m̂ written as Keras writes them, the schedule's powers
    /// and the bias correction in T).</summary>
    public AdamFormula Formula { get; }

    protected override IReadOnlyDictionary<string, double> Hyperparameters()
    {
        var values = new Dictionary<string, double>
        {
            ["beta1"] = Beta1,
            ["beta2"] = Beta2,
            ["eps"] = Epsilon,
            ["weight_decay"] = WeightDecay,
            ["momentum_decay"] = MomentumDecay,
            ["decoupled_weight_decay"] = DecoupledWeightDecay ? 1 : 0,
        };
        if (Formula == AdamFormula.Keras) values["keras_formula"] = 1;
        return values;
    }

    /// <summary>μ_t in double, as Python computes it: β1·(1 − 0.5·0.96^(t·ψ)).</summary>
    private double Mu(long step) => Beta1 * (1.0 - 0.5 * Math.Pow(0.96, step * MomentumDecay));

    /// <summary>Keras's u_t in T: β1·(1 − 0.5·0.96^(t·ψ)), each constant cast to T and the power taken in T.</summary>
    private T KerasU(long step) => Cast(Beta1) * (T.One - Cast(0.5) * T.Pow(Cast(0.96), T.CreateTruncating(step * MomentumDecay)));

    /// <summary>Π_t after step t from Π_{t−1}: PyTorch's mu_product *= μ_t (in T); Keras's
    /// u_product = u_product·β1·(1 − 0.5·0.96^t) (in T, in that order).</summary>
    private T NextProduct(T previous, long step) => Formula == AdamFormula.Keras
        ? previous * Cast(Beta1) * (T.One - Cast(0.5) * T.Pow(Cast(0.96), T.CreateTruncating(step * MomentumDecay)))
        : previous * Cast(Mu(step));

    /// <summary>Π_t as PyTorch's state names it (one value for all parameters: each parameter's <c>mu_product</c> in
    /// PyTorch is the same), exact in double for T = float or double.</summary>
    protected override IReadOnlyDictionary<string, double> ExportScalars() => new Dictionary<string, double> { ["mu_product"] = MomentumProduct };

    protected override void ImportScalars(IReadOnlyDictionary<string, double> scalars)
    {
        double value = scalars["mu_product"];
        // A product of factors in [0, β1): in [0, 1], 1 before the first step.
        if (!(value >= 0 && value <= 1))
            throw new ArgumentException($"Optimizer state has mu_product = {value:R}; expected a value in [0, 1] (a product of momentum factors below β1 = {Beta1:R}).", "state");
        product = Cast(value);
    }

    protected override void BeginStep(long step)
    {
        lerp = new TorchLerp<T>(1 - Beta1);
        beta2 = Cast(Beta2);
        oneMinusBeta2 = Cast(1 - Beta2);
        eps = Cast(Epsilon);
        lambda = Cast(WeightDecay);
        decay = new DecoupledWeightDecay<T>(Formula == AdamFormula.Keras, LearningRate, WeightDecay);
        product = NextProduct(product, step);
        if (Formula == AdamFormula.Keras)
        {
            // Keras: u_t, u_{t+1}, u_product_t_1 = u_product·u_{t+1} and β2^t in the variable's type.
            uNext = KerasU(step + 1);
            oneMinusUNextProduct = T.One - product * uNext;
            oneMinusU = T.One - KerasU(step);
            oneMinusUProduct = T.One - product;
            biasCorrection2 = T.One - T.Pow(Cast(Beta2), T.CreateTruncating(step));
            rate = Cast(LearningRate);
            // Keras casts β1 and β2 to the variable's type before subtracting (beta_1 = ops.cast(self.beta_1, dtype); m +=
            // (g − m)·(1 − beta_1)), unlike its Adam, which subtracts the Python float: in float 1 − 0.999f ≠ (float)(1 − 0.999).
            kerasOneMinusBeta1 = T.One - Cast(Beta1);
            kerasOneMinusBeta2 = T.One - Cast(Beta2);
            return;
        }
        // PyTorch: Python floats, with mu_product read back from its tensor (_get_value).
        double mu = Mu(step), muNext = Mu(step + 1), muProduct = double.CreateTruncating(product);
        biasCorrection2 = Cast(1 - Math.Pow(Beta2, step));
        gradientScale = Cast(-LearningRate * (1.0 - mu) / (1.0 - muProduct));
        momentScale = Cast(-LearningRate * muNext / (1.0 - muProduct * muNext));
    }

    protected override void Update(int index, Parameter<T> parameter) => Update(index, parameter, 0, parameter.Length);

    protected override bool UpdatesElementwise => true;

    protected override void Update(int index, Parameter<T> parameter, int start, int count)
    {
        Span<T> theta = parameter.Value.AsSpan(start, count);
        ReadOnlySpan<T> gradient = parameter.Gradient.AsSpan(start, count);
        Span<T> m = Slot(0, index).AsSpan(start, count), v = Slot(1, index).AsSpan(start, count);
        bool decays = WeightDecay != 0 && DecaysWeights(index);
        bool coupled = decays && !DecoupledWeightDecay, decoupled = decays && DecoupledWeightDecay;
        bool keras = Formula == AdamFormula.Keras;
        TorchLerp<T> firstMoment = lerp;
        T kerasBeta1Complement = kerasOneMinusBeta1, kerasBeta2Complement = kerasOneMinusBeta2;
        int k = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            int width = Vector256<T>.Count;
            Vector256<T> lambdaV = Vector256.Create(lambda);
            DecoupledWeightDecay<T> weightDecay = decay;
            Vector256<T> kerasBeta1ComplementV = Vector256.Create(kerasBeta1Complement), kerasBeta2ComplementV = Vector256.Create(kerasBeta2Complement);
            Vector256<T> beta2V = Vector256.Create(beta2), oneMinusBeta2V = Vector256.Create(oneMinusBeta2), epsV = Vector256.Create(eps);
            Vector256<T> gradientScaleV = Vector256.Create(gradientScale), momentScaleV = Vector256.Create(momentScale);
            Vector256<T> biasCorrection2V = Vector256.Create(biasCorrection2), uNextV = Vector256.Create(uNext);
            Vector256<T> oneMinusUNextProductV = Vector256.Create(oneMinusUNextProduct), oneMinusUV = Vector256.Create(oneMinusU);
            Vector256<T> oneMinusUProductV = Vector256.Create(oneMinusUProduct), rateV = Vector256.Create(rate);
            ref T thetaRef = ref MemoryMarshal.GetReference(theta);
            ref T gradientRef = ref MemoryMarshal.GetReference(gradient);
            ref T mRef = ref MemoryMarshal.GetReference(m);
            ref T vRef = ref MemoryMarshal.GetReference(v);
            for (; k <= theta.Length - width; k += width)
            {
                nuint at = (nuint)k;
                Vector256<T> thetaK = Vector256.LoadUnsafe(ref thetaRef, at);
                Vector256<T> g = Vector256.LoadUnsafe(ref gradientRef, at);
                if (coupled) g += lambdaV * thetaK;
                if (decoupled) thetaK = weightDecay.Apply(thetaK);
                Vector256<T> mK = Vector256.LoadUnsafe(ref mRef, at), vK = Vector256.LoadUnsafe(ref vRef, at);
                if (keras)
                {
                    mK += (g - mK) * kerasBeta1ComplementV;
                    vK += (g * g - vK) * kerasBeta2ComplementV;
                    Vector256<T> mHat = uNextV * mK / oneMinusUNextProductV + oneMinusUV * g / oneMinusUProductV;
                    thetaK -= mHat * rateV / (Vector256.Sqrt(vK / biasCorrection2V) + epsV);
                }
                else
                {
                    mK = firstMoment.Apply(mK, g);
                    vK = vK * beta2V + oneMinusBeta2V * g * g;
                    Vector256<T> denominator = Vector256.Sqrt(vK / biasCorrection2V) + epsV;
                    thetaK += gradientScaleV * g / denominator;
                    thetaK += momentScaleV * mK / denominator;
                }
                mK.StoreUnsafe(ref mRef, at);
                vK.StoreUnsafe(ref vRef, at);
                thetaK.StoreUnsafe(ref thetaRef, at);
            }
        }
        // The tail (and the whole span without SIMD) runs the same operations in the same order, one element at a time.
        for (; k < theta.Length; k++)
        {
            T g = coupled ? gradient[k] + lambda * theta[k] : gradient[k];     // grad.add(param, alpha=λ)
            if (decoupled) theta[k] = decay.Apply(theta[k]);                   // param.mul_(1 − lr·λ); Keras: variable − variable·wd·lr
            T mk, vk;
            if (keras)
            {
                mk = m[k] + (g - m[k]) * kerasBeta1Complement;                 // m += (g − m)·(1 − β1), 1 − β1 in T
                vk = v[k] + (g * g - v[k]) * kerasBeta2Complement;             // v += (g² − v)·(1 − β2), 1 − β2 in T
                T mHat = uNext * mk / oneMinusUNextProduct + oneMinusU * g / oneMinusUProduct;
                theta[k] -= mHat * rate / (T.Sqrt(vk / biasCorrection2) + eps);   // θ −= (m̂·lr) / (√(v / (1 − β2^t)) + ε)
            }
            else
            {
                mk = firstMoment.Apply(m[k], g);                               // exp_avg.lerp_(g, 1 − β1)
                vk = v[k] * beta2 + oneMinusBeta2 * g * g;                     // exp_avg_sq.mul_(β2).addcmul_(g, g, value=1 − β2)
                T denominator = T.Sqrt(vk / biasCorrection2) + eps;           // exp_avg_sq.div(bc2).sqrt().add_(ε)
                theta[k] += gradientScale * g / denominator;                   // param.addcdiv_(g, denom, value=−lr(1 − μ)/(1 − Π))
                theta[k] += momentScale * mk / denominator;                    // param.addcdiv_(m, denom, value=−lr·μ'/(1 − Π·μ'))
            }
            m[k] = mk;
            v[k] = vk;
        }
    }
}
