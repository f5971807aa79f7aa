using System.Runtime.Intrinsics;

namespace NumLstm.Optimizers;

/// <summary>Which framework's RMSprop update to follow; they differ in where ε goes and in what the momentum buffer
/// holds (docs/math-losses-optimizers.md).</summary>
public enum RmsPropFormula
{
    /// <summary><c>torch.optim.RMSprop</c>: θ ← θ − lr·g / (√s + ε), ε added outside the root; the momentum buffer holds
    /// g / (√s + ε) and lr multiplies it at each step. The default.</summary>
    PyTorch,
    /// <summary>Keras 3's <c>RMSprop.update_step</c>: θ ← θ − lr·g / √(s + ε), ε added inside the root; the momentum buffer
    /// holds lr·g / √(s + ε), so a rate change reaches the steps already in it later than in PyTorch's.</summary>
    Keras,
}

/// <summary>
/// RMSprop (Hinton, 2012) with the update of <c>torch.optim.RMSprop</c> (docs/math-losses-optimizers.md):
/// g ← ∇θ + λθ (L2, coupled; or θ ← θ(1 − lr·λ) first, decoupled); s ← ρ·s + (1 − ρ)·g²; centered: ḡ ← lerp(ḡ, g, 1 − ρ) and the root is √(s − ḡ²);
/// d = √s + ε; with momentum μ &gt; 0: b ← μ·b + g / d, θ ← θ − lr·b; else θ ← θ − lr·g / d.
/// <see cref="RmsPropFormula.Keras"/> gives Keras's update instead. Defaults are Keras's (lr = 1e-3, ρ = 0.9, ε = 1e-7);
/// PyTorch's are lr = 1e-2, alpha = 0.99, ε = 1e-8 (its <c>alpha</c> is ρ here). Weight decay follows the formula's
/// framework unless <c>decoupledWeightDecay</c> says otherwise: coupled L2 in PyTorch's, decoupled in Keras's
/// (θ ← θ − θ·λ·lr before the update, as Keras's base optimizer applies <c>weight_decay</c>).
/// </summary>
public sealed class RmsProp<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T rho, oneMinusRho, eps, lambda, mu, lr, negativeLr;
    private DecoupledWeightDecay<T> decay;   // θ before the update, when the decay is decoupled
    private TorchLerp<T> lerp;   // centered: grad_avg.lerp_(grad, 1 − α)

    public RmsProp(IReadOnlyList<Parameter<T>> parameters, double learningRate = 1e-3, double rho = 0.9, double epsilon = 1e-7,
        double momentum = 0, bool centered = false, double weightDecay = 0, RmsPropFormula formula = RmsPropFormula.PyTorch,
        bool? decoupledWeightDecay = null)
        : base(parameters, learningRate, SlotNamesFor(momentum, centered))
    {
        if (!Enum.IsDefined(formula))
            throw new ArgumentOutOfRangeException(nameof(formula), formula, "Unknown RMSprop formula: expected PyTorch or Keras.");
        CheckBeta(rho, nameof(rho));
        CheckPositive(epsilon, nameof(epsilon));
        CheckNonNegative(momentum, nameof(momentum));
        CheckNonNegative(weightDecay, nameof(weightDecay));
        Rho = rho;
        Epsilon = epsilon;
        Momentum = momentum;
        Centered = centered;
        WeightDecay = weightDecay;
        Formula = formula;
        DecoupledWeightDecay = decoupledWeightDecay ?? formula == RmsPropFormula.Keras;
    }

    // PyTorch's state names, in the order its _init_group creates them: square_avg, momentum_buffer, grad_avg.
    private static string[] SlotNamesFor(double momentum, bool centered)
    {
        var names = new List<string> { "square_avg" };
        if (momentum > 0) names.Add("momentum_buffer");
        if (centered) names.Add("grad_avg");
        return [.. names];
    }

    public override string Kind => "RMSprop";

    /// <summary>Decay of the moving averages (Keras' <c>rho</c>, PyTorch's <c>alpha</c>), in [0, 1).</summary>
    public double Rho { get; }
    public double Epsilon { get; }
    public double Momentum { get; }

    /// <summary>Divides by the root of the gradient's moving variance, s − ḡ², instead of its second moment s.</summary>
    public bool Centered { get; }
    public double WeightDecay { get; }

    /// <summary>θ ← θ(1 − lr·λ) (Keras's formula: θ − θ·λ·lr) before the update instead of λθ added to the gradient; by
    /// default the formula's framework's choice (PyTorch: coupled, Keras: decoupled).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>PyTorch's update (default) or Keras's (ε inside the root; lr inside the momentum buffer).</summary>
    public RmsPropFormula Formula { get; }

    private int MomentumSlot => 1;
    private int AverageSlot => Momentum > 0 ? 2 : 1;

    protected override IReadOnlyDictionary<string, double> Hyperparameters()
    {
        var values = new Dictionary<string, double>
        {
            ["alpha"] = Rho,
            ["eps"] = Epsilon,
            ["momentum"] = Momentum,
            ["centered"] = Centered ? 1 : 0,
            ["weight_decay"] = WeightDecay,
        };
        if (Formula == RmsPropFormula.Keras) values["keras_formula"] = 1;   // absent for PyTorch's, as for Adam
        // Only where it changes the update (absent when coupled or λ = 0, as in states written before the option).
        if (DecoupledWeightDecay && WeightDecay != 0) values["decoupled_weight_decay"] = 1;
        return values;
    }

    protected override void BeginStep(long step)
    {
        // Scalars as PyTorch passes them: Python floats cast to the tensor's type, 1 − ρ taken in double first.
        rho = Cast(Rho);
        lerp = new TorchLerp<T>(1 - Rho);
        oneMinusRho = lerp.Weight;
        eps = Cast(Epsilon);
        lambda = Cast(WeightDecay);
        mu = Cast(Momentum);
        lr = Cast(LearningRate);
        negativeLr = Cast(-LearningRate);
        decay = new DecoupledWeightDecay<T>(Formula == RmsPropFormula.Keras, LearningRate, WeightDecay);
    }

    protected override void Update(int index, Parameter<T> parameter) => Update(index, parameter, 0, parameter.Length);

    protected override bool UpdatesElementwise => true;

    protected override void Update(int index, Parameter<T> parameter, int start, int count)
    {
        Span<T> theta = parameter.Value.AsSpan(start, count);
        ReadOnlySpan<T> gradient = parameter.Gradient.AsSpan(start, count);
        Span<T> square = Slot(0, index).AsSpan(start, count);
        Span<T> buffer = Momentum > 0 ? Slot(MomentumSlot, index).AsSpan(start, count) : default;
        Span<T> average = Centered ? Slot(AverageSlot, index).AsSpan(start, count) : default;
        bool decays = WeightDecay != 0 && DecaysWeights(index);
        bool coupled = decays && !DecoupledWeightDecay, decoupled = decays && DecoupledWeightDecay;
        int k = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            k = Formula == RmsPropFormula.Keras
                ? UpdateKerasVector256(theta, gradient, square, buffer, average, coupled, decoupled)
                : UpdateVector256(theta, gradient, square, buffer, average, coupled, decoupled);
        // The tail (and the whole span without SIMD) runs the same operations in the same order, one element at a time.
        bool withMomentum = Momentum > 0, centered = Centered;
        if (Formula == RmsPropFormula.Keras)
        {
            for (; k < theta.Length; k++)
            {
                T g = coupled ? gradient[k] + lambda * theta[k] : gradient[k];
                if (decoupled) theta[k] = decay.Apply(theta[k]);           // variable − variable·wd·lr, before update_step
                T s = rho * square[k] + oneMinusRho * (g * g);             // velocity = ρ·velocity + (1 − ρ)·g²
                square[k] = s;
                T denominator;
                if (centered)
                {
                    T a = rho * average[k] + oneMinusRho * g;              // average_grad = ρ·average_grad + (1 − ρ)·g
                    average[k] = a;
                    denominator = s - a * a + eps;
                }
                else denominator = s + eps;
                T increment = lr * g / T.Sqrt(denominator);
                if (withMomentum)
                {
                    T b = mu * buffer[k] + increment;                      // momentum = μ·momentum + increment
                    buffer[k] = b;
                    theta[k] -= b;
                }
                else theta[k] -= increment;
            }
            return;
        }
        for (; k < theta.Length; k++)
        {
            T g = coupled ? gradient[k] + lambda * theta[k] : gradient[k]; // grad.add(param, alpha=λ)
            if (decoupled) theta[k] = decay.Apply(theta[k]);               // param.mul_(1 − lr·λ)
            T s = square[k] * rho + oneMinusRho * g * g;                   // square_avg.mul_(α).addcmul_(g, g, value=1 − α)
            square[k] = s;
            T root;
            if (centered)
            {
                T a = lerp.Apply(average[k], g);                           // grad_avg.lerp_(g, 1 − α)
                average[k] = a;
                root = T.Sqrt(s - a * a);                                  // square_avg.addcmul(ḡ, ḡ, value=−1).sqrt_()
            }
            else root = T.Sqrt(s);
            T denominator = root + eps;
            if (withMomentum)
            {
                T b = buffer[k] * mu + g / denominator;                    // buf.mul_(μ).addcdiv_(g, avg)
                buffer[k] = b;
                theta[k] += negativeLr * b;                                // param.add_(buf, alpha=−lr)
            }
            else theta[k] += negativeLr * g / denominator;                 // param.addcdiv_(g, avg, value=−lr)
        }
    }

    /// <summary>PyTorch's update above on whole 256-bit vectors; returns the number of elements done.</summary>
    private int UpdateVector256(Span<T> theta, ReadOnlySpan<T> gradient, Span<T> square, Span<T> buffer, Span<T> average, bool coupled, bool decoupled)
    {
        int width = Vector256<T>.Count, n = theta.Length;
        bool withMomentum = Momentum > 0, centered = Centered;
        DecoupledWeightDecay<T> weightDecay = decay;
        TorchLerp<T> gradientAverage = lerp;
        Vector256<T> lambdaV = Vector256.Create(lambda), rhoV = Vector256.Create(rho), oneMinusRhoV = Vector256.Create(oneMinusRho);
        Vector256<T> epsV = Vector256.Create(eps), muV = Vector256.Create(mu);
        Vector256<T> negativeLrV = Vector256.Create(negativeLr);
        ref T thetaRef = ref MemoryMarshal.GetReference(theta);
        ref T gradientRef = ref MemoryMarshal.GetReference(gradient);
        ref T squareRef = ref MemoryMarshal.GetReference(square);
        ref T bufferRef = ref MemoryMarshal.GetReference(buffer);
        ref T averageRef = ref MemoryMarshal.GetReference(average);
        int k = 0;
        for (; k <= n - width; k += width)
        {
            nuint at = (nuint)k;
            Vector256<T> thetaK = Vector256.LoadUnsafe(ref thetaRef, at);
            Vector256<T> g = Vector256.LoadUnsafe(ref gradientRef, at);
            if (coupled) g += lambdaV * thetaK;
            if (decoupled) thetaK = weightDecay.Apply(thetaK);
            Vector256<T> s = Vector256.LoadUnsafe(ref squareRef, at) * rhoV + oneMinusRhoV * g * g;
            s.StoreUnsafe(ref squareRef, at);
            Vector256<T> root;
            if (centered)
            {
                Vector256<T> a = Vector256.LoadUnsafe(ref averageRef, at);
                a = gradientAverage.Apply(a, g);
                a.StoreUnsafe(ref averageRef, at);
                root = Vector256.Sqrt(s - a * a);
            }
            else root = Vector256.Sqrt(s);
            Vector256<T> denominator = root + epsV;
            if (withMomentum)
            {
                Vector256<T> b = Vector256.LoadUnsafe(ref bufferRef, at) * muV + g / denominator;
                b.StoreUnsafe(ref bufferRef, at);
                thetaK += negativeLrV * b;
            }
            else thetaK += negativeLrV * g / denominator;
            thetaK.StoreUnsafe(ref thetaRef, at);
        }
        return k;
    }

    /// <summary>Keras's update (the tail's Keras branch) on whole 256-bit vectors; returns the number of elements done.</summary>
    private int UpdateKerasVector256(Span<T> theta, ReadOnlySpan<T> gradient, Span<T> square, Span<T> buffer, Span<T> average, bool coupled, bool decoupled)
    {
        int width = Vector256<T>.Count, n = theta.Length;
        bool withMomentum = Momentum > 0, centered = Centered;
        DecoupledWeightDecay<T> weightDecay = decay;
        Vector256<T> lambdaV = Vector256.Create(lambda), rhoV = Vector256.Create(rho), oneMinusRhoV = Vector256.Create(oneMinusRho);
        Vector256<T> epsV = Vector256.Create(eps), muV = Vector256.Create(mu), lrV = Vector256.Create(lr);
        ref T thetaRef = ref MemoryMarshal.GetReference(theta);
        ref T gradientRef = ref MemoryMarshal.GetReference(gradient);
        ref T squareRef = ref MemoryMarshal.GetReference(square);
        ref T bufferRef = ref MemoryMarshal.GetReference(buffer);
        ref T averageRef = ref MemoryMarshal.GetReference(average);
        int k = 0;
        for (; k <= n - width; k += width)
        {
            nuint at = (nuint)k;
            Vector256<T> thetaK = Vector256.LoadUnsafe(ref thetaRef, at);
            Vector256<T> g = Vector256.LoadUnsafe(ref gradientRef, at);
            if (coupled) g += lambdaV * thetaK;
            if (decoupled) thetaK = weightDecay.Apply(thetaK);
            Vector256<T> s = rhoV * Vector256.LoadUnsafe(ref squareRef, at) + oneMinusRhoV * (g * g);
            s.StoreUnsafe(ref squareRef, at);
            Vector256<T> denominator;
            if (centered)
            {
                Vector256<T> a = rhoV * Vector256.LoadUnsafe(ref averageRef, at) + oneMinusRhoV * g;
                a.StoreUnsafe(ref averageRef, at);
                denominator = s - a * a + epsV;
            }
            else denominator = s + epsV;
            Vector256<T> increment = lrV * g / Vector256.Sqrt(denominator);
            if (withMomentum)
            {
                Vector256<T> b = muV * Vector256.LoadUnsafe(ref bufferRef, at) + increment;
                b.StoreUnsafe(ref bufferRef, at);
                thetaK -= b;
            }
            else thetaK -= increment;
            thetaK.StoreUnsafe(ref thetaRef, at);
        }
        return k;
    }
}
