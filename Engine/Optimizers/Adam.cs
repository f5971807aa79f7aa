using System.Runtime.Intrinsics;

namespace NumLstm.Optimizers;

/// <summary>Which framework's Adam update to follow; they differ in where ε goes (docs/math-losses-optimizers.md).</summary>
public enum AdamFormula
{
    /// <summary><c>torch.optim.Adam</c>: θ ← θ − (lr / bc1) · m / (√v / √bc2 + ε), ε added to √v̂ (Algorithm 1). The default.</summary>
    PyTorch,
    /// <summary>Keras 3's <c>Adam.update_step</c>: α = lr·√bc2 / bc1 (in T, β^t of the betas cast to T); θ ← θ − m·α / (√v + ε),
    /// ε added to the uncorrected √v (the paper's ε̂); m and v written as Keras writes them, m += (g − m)(1 − β1),
    /// v += (g² − v)(1 − β2).</summary>
    Keras,
}

/// <summary>
/// Adam with the update of <c>torch.optim.Adam</c> (docs/math-losses-optimizers.md), ε placed as PyTorch places it:
/// g ← ∇θ + λθ (L2, coupled; or θ ← θ(1 − lr·λ) first, decoupled); m ← lerp(m, g, 1 − β1); v ← v·β2 + ((1 − β2)·g)·g;
/// θ ← θ + ((−lr / (1 − β1^t))·m) / (√v / √(1 − β2^t) + ε), left to right as ATen's addcmul and addcdiv. AMSGrad uses
/// v_max ← max(v_max, v) in place of v.
/// <see cref="AdamFormula.Keras"/> gives Keras's update instead. The default ε = 1e-7 is Keras's value (PyTorch's is 1e-8).
/// Weight decay follows the formula's framework unless <c>decoupledWeightDecay</c> says otherwise: PyTorch's Adam adds
/// λθ to the gradient (its <c>decoupled_weight_decay</c> defaults to false), Keras decouples every optimizer's
/// <c>weight_decay</c> (θ ← θ − θ·λ·lr before the update).
/// </summary>
public class Adam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T beta2, oneMinusBeta2, eps, lambda, stepSize, negativeStepSize, biasCorrection2Sqrt;
    private DecoupledWeightDecay<T> decay;   // θ before the update, when the decay is decoupled
    private TorchLerp<T> lerp;   // exp_avg.lerp_(grad, 1 − β1); its weight is Keras's 1 − β1 too

    public Adam(IReadOnlyList<Parameter<T>> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-7, double weightDecay = 0, bool amsgrad = false, AdamFormula formula = AdamFormula.PyTorch,
        bool? decoupledWeightDecay = null)
        : this(parameters, learningRate, beta1, beta2, epsilon, weightDecay, amsgrad, decoupledWeightDecay ?? formula == AdamFormula.Keras, formula)
    {
    }

    protected Adam(IReadOnlyList<Parameter<T>> parameters, double learningRate, double beta1, double beta2,
        double epsilon, double weightDecay, bool amsgrad, bool decoupledWeightDecay, AdamFormula formula)
        : base(parameters, learningRate, amsgrad ? ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["exp_avg", "exp_avg_sq"])
    {
        if (!Enum.IsDefined(formula)) throw new ArgumentOutOfRangeException(nameof(formula), formula, "Unknown Adam formula: expected PyTorch or Keras.");
        Formula = formula;
        CheckBeta(beta1, nameof(beta1));
        CheckBeta(beta2, nameof(beta2));
        CheckPositive(epsilon, nameof(epsilon));
        CheckNonNegative(weightDecay, nameof(weightDecay));
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        AmsGrad = amsgrad;
        DecoupledWeightDecay = decoupledWeightDecay;
    }

    public override string Kind => "Adam";
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    public bool AmsGrad { get; }

    /// <summary>True for AdamW, for Adam under Keras's formula unless told otherwise, and where asked: θ ← θ(1 − lr·λ)
    /// (Keras: θ − θ·λ·lr) before the update instead of adding λθ to the gradient.</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>PyTorch's update (default) or Keras's (ε added to the uncorrected √v).</summary>
    public AdamFormula Formula { get; }

    protected override IReadOnlyDictionary<string, double> Hyperparameters()
    {
        var values = new Dictionary<string, double>
        {
            ["beta1"] = Beta1,
            ["beta2"] = Beta2,
            ["eps"] = Epsilon,
            ["weight_decay"] = WeightDecay,
            ["amsgrad"] = AmsGrad ? 1 : 0,
        };
        if (Formula == AdamFormula.Keras) values["keras_formula"] = 1;   // absent for PyTorch's, as in states written before it existed
        // Adam's decoupled decay only where it changes the update (AdamW's is its kind), so states written before the option
        // load as they were.
        if (DecoupledWeightDecay && WeightDecay != 0 && Kind == "Adam") values["decoupled_weight_decay"] = 1;
        return values;
    }

    protected override void BeginStep(long step)
    {
        // Bias corrections and step size in double, as PyTorch computes them in Python floats.
        double biasCorrection1 = 1 - Math.Pow(Beta1, step);
        double biasCorrection2 = 1 - Math.Pow(Beta2, step);
        lerp = new TorchLerp<T>(1 - Beta1);
        beta2 = Cast(Beta2);
        oneMinusBeta2 = Cast(1 - Beta2);
        eps = Cast(Epsilon);
        lambda = Cast(WeightDecay);
        // PyTorch: lr / bc1, with √bc2 dividing √v; Keras: α = lr·√bc2 / bc1, with √v left uncorrected, taken in T as Keras
        // takes it (beta_1_power = ops.power(ops.cast(β1, dtype), local_step); in float 1 − 0.999f is not 0.001).
        stepSize = Formula == AdamFormula.Keras
            ? Cast(LearningRate) * T.Sqrt(T.One - T.Pow(Cast(Beta2), T.CreateTruncating(step))) / (T.One - T.Pow(Cast(Beta1), T.CreateTruncating(step)))
            : Cast(LearningRate / biasCorrection1);
        negativeStepSize = -stepSize;   // torch passes value=−step_size to addcdiv_
        biasCorrection2Sqrt = Cast(Math.Sqrt(biasCorrection2));
        decay = new DecoupledWeightDecay<T>(Formula == AdamFormula.Keras, LearningRate, WeightDecay);
    }

    protected override void Update(int index, Parameter<T> parameter) => Update(index, parameter, 0, parameter.Length);

    protected override bool UpdatesElementwise => true;

    protected override void Update(int index, Parameter<T> parameter, int start, int count)
    {
        Span<T> theta = parameter.Value.AsSpan(start, count);
        ReadOnlySpan<T> gradient = parameter.Gradient.AsSpan(start, count);
        Span<T> m = Slot(0, index).AsSpan(start, count), v = Slot(1, index).AsSpan(start, count);
        Span<T> vMax = AmsGrad ? Slot(2, index).AsSpan(start, count) : default;
        bool decays = WeightDecay != 0 && DecaysWeights(index);
        bool coupledDecay = decays && !DecoupledWeightDecay;
        bool decoupledDecay = decays && DecoupledWeightDecay;
        if (Formula == AdamFormula.Keras)
        {
            UpdateKeras(theta, gradient, m, v, vMax, coupledDecay, decoupledDecay);
            return;
        }
        int k = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            k = UpdateVector256(theta, gradient, m, v, vMax, coupledDecay, decoupledDecay);
        // The tail (and the whole span without SIMD) runs the same operations in the same order, one element at a time.
        for (; k < theta.Length; k++)
        {
            T g = coupledDecay ? gradient[k] + lambda * theta[k] : gradient[k];
            if (decoupledDecay) theta[k] = decay.Apply(theta[k]);
            T mk = lerp.Apply(m[k], g);                         // torch: exp_avg.lerp_(grad, 1 − β1)
            T vk = v[k] * beta2 + oneMinusBeta2 * g * g;        // torch: exp_avg_sq.mul_(β2).addcmul_(g, g, 1 − β2): self + value·t1·t2
            m[k] = mk;
            v[k] = vk;
            if (AmsGrad)
            {
                vk = T.Max(vMax[k], vk);
                vMax[k] = vk;
            }
            T denominator = T.Sqrt(vk) / biasCorrection2Sqrt + eps;
            theta[k] += negativeStepSize * mk / denominator;   // torch: param.addcdiv_(m, denom, value=−s): self + value·t1 / t2
        }
    }

    /// <summary>The update above on whole 256-bit vectors; returns the number of elements done.</summary>
    private int UpdateVector256(Span<T> theta, ReadOnlySpan<T> gradient, Span<T> m, Span<T> v, Span<T> vMax,
        bool coupledDecay, bool decoupledDecay)
    {
        int width = Vector256<T>.Count, n = theta.Length;
        Vector256<T> lambdaV = Vector256.Create(lambda);
        DecoupledWeightDecay<T> weightDecay = decay;
        Vector256<T> beta2V = Vector256.Create(beta2);
        TorchLerp<T> firstMoment = lerp;
        Vector256<T> oneMinusBeta2V = Vector256.Create(oneMinusBeta2), epsV = Vector256.Create(eps);
        Vector256<T> negativeStepSizeV = Vector256.Create(negativeStepSize), biasCorrection2SqrtV = Vector256.Create(biasCorrection2Sqrt);
        ref T thetaRef = ref MemoryMarshal.GetReference(theta);
        ref T gradientRef = ref MemoryMarshal.GetReference(gradient);
        ref T mRef = ref MemoryMarshal.GetReference(m);
        ref T vRef = ref MemoryMarshal.GetReference(v);
        ref T vMaxRef = ref MemoryMarshal.GetReference(vMax);
        bool amsgrad = AmsGrad;
        int k = 0;
        for (; k <= n - width; k += width)
        {
            nuint at = (nuint)k;
            Vector256<T> thetaK = Vector256.LoadUnsafe(ref thetaRef, at);
            Vector256<T> g = Vector256.LoadUnsafe(ref gradientRef, at);
            if (coupledDecay) g += lambdaV * thetaK;
            if (decoupledDecay) thetaK = weightDecay.Apply(thetaK);
            Vector256<T> mK = Vector256.LoadUnsafe(ref mRef, at);
            mK = firstMoment.Apply(mK, g);
            Vector256<T> vK = Vector256.LoadUnsafe(ref vRef, at) * beta2V + oneMinusBeta2V * g * g;
            mK.StoreUnsafe(ref mRef, at);
            vK.StoreUnsafe(ref vRef, at);
            if (amsgrad)
            {
                vK = Vector256.Max(Vector256.LoadUnsafe(ref vMaxRef, at), vK);
                vK.StoreUnsafe(ref vMaxRef, at);
            }
            Vector256<T> denominator = Vector256.Sqrt(vK) / biasCorrection2SqrtV + epsV;
            thetaK += negativeStepSizeV * mK / denominator;
            thetaK.StoreUnsafe(ref thetaRef, at);
        }
        return k;
    }

    /// <summary>
    /// Keras 3's <c>Adam.update_step</c>, operation for operation: m += (g − m)(1 − β1); v += (g² − v)(1 − β2);
    /// AMSGrad v̂ = max(v̂, v); θ −= (m·α) / (√v + ε) with α = lr·√bc2 / bc1 (in <see cref="stepSize"/>). Weight decay as
    /// configured: decoupled (Keras's θ − θ·λ·lr, first) unless Adam was told <c>decoupledWeightDecay: false</c>.
    /// </summary>
    private void UpdateKeras(Span<T> theta, ReadOnlySpan<T> gradient, Span<T> m, Span<T> v, Span<T> vMax, bool coupledDecay, bool decoupledDecay)
    {
        int k = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            int width = Vector256<T>.Count;
            Vector256<T> lambdaV = Vector256.Create(lambda);
            DecoupledWeightDecay<T> weightDecay = decay;
            Vector256<T> oneMinusBeta1V = Vector256.Create(lerp.Weight), oneMinusBeta2V = Vector256.Create(oneMinusBeta2);
            Vector256<T> epsV = Vector256.Create(eps), alphaV = Vector256.Create(stepSize);
            for (; k <= theta.Length - width; k += width)
            {
                Vector256<T> thetaK = Vector256.Create<T>(theta.Slice(k, width));
                Vector256<T> g = Vector256.Create<T>(gradient.Slice(k, width));
                if (coupledDecay) g += lambdaV * thetaK;
                if (decoupledDecay) thetaK = weightDecay.Apply(thetaK);
                Vector256<T> mK = Vector256.Create<T>(m.Slice(k, width));
                mK += (g - mK) * oneMinusBeta1V;
                Vector256<T> vK = Vector256.Create<T>(v.Slice(k, width));
                vK += (g * g - vK) * oneMinusBeta2V;
                mK.CopyTo(m.Slice(k, width));
                vK.CopyTo(v.Slice(k, width));
                if (AmsGrad)
                {
                    vK = Vector256.Max(Vector256.Create<T>(vMax.Slice(k, width)), vK);
                    vK.CopyTo(vMax.Slice(k, width));
                }
                thetaK -= mK * alphaV / (Vector256.Sqrt(vK) + epsV);
                thetaK.CopyTo(theta.Slice(k, width));
            }
        }
        for (; k < theta.Length; k++)
        {
            T g = coupledDecay ? gradient[k] + lambda * theta[k] : gradient[k];
            if (decoupledDecay) theta[k] = decay.Apply(theta[k]);
            T mk = m[k] + (g - m[k]) * lerp.Weight;
            T vk = v[k] + (g * g - v[k]) * oneMinusBeta2;
            m[k] = mk;
            v[k] = vk;
            if (AmsGrad)
            {
                vk = T.Max(vMax[k], vk);
                vMax[k] = vk;
            }
            theta[k] -= mk * stepSize / (T.Sqrt(vk) + eps);
        }
    }
}

/// <summary>
/// AdamW with the update of <c>torch.optim.AdamW</c>: θ ← θ·(1 − lr·λ) (decoupled weight decay; Keras's θ − θ·λ·lr
/// under <see cref="AdamFormula.Keras"/>), then the Adam update without L2. Defaults: weightDecay = 1e-2 as PyTorch; ε = 1e-7 (PyTorch's is 1e-8) for consistency with
/// <see cref="Adam{T}"/>, which uses Keras's default.
/// </summary>
public sealed class AdamW<T> : Adam<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public AdamW(IReadOnlyList<Parameter<T>> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-7, double weightDecay = 1e-2, bool amsgrad = false, AdamFormula formula = AdamFormula.PyTorch)
        : base(parameters, learningRate, beta1, beta2, epsilon, weightDecay, amsgrad, decoupledWeightDecay: true, formula)
    {
    }

    public override string Kind => "AdamW";
}
