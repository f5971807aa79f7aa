using System.Runtime.Intrinsics;

namespace NumLstm.Optimizers;

/// <summary>Which framework's SGD momentum to follow; they differ in whether the buffer holds the rate
/// (docs/math-losses-optimizers.md).</summary>
public enum SgdFormula
{
    /// <summary><c>torch.optim.SGD</c>: b ← μb + (1 − τ)g (b ← g on the first step), θ ← θ − lr·b; the default.</summary>
    PyTorch,
    /// <summary>Keras 3's <c>SGD.update_step</c>: m ← μm − lr·g (from 0), θ ← θ + m (Nesterov: θ ← θ + μm − lr·g); the
    /// buffer holds the rate, so a rate change reaches the steps already in it later than in PyTorch's. No dampening.</summary>
    Keras,
}

/// <summary>
/// Stochastic gradient descent with the update of <c>torch.optim.SGD</c> (docs/math-losses-optimizers.md):
/// g ← ∇θ + λθ; with momentum μ ≠ 0, b ← g on the first step, else b ← μb + (1 − τ)g, and g ← g + μb (Nesterov)
/// or g ← b; then θ ← θ − lr·g. <see cref="SgdFormula.Keras"/> gives Keras's update instead. Weight decay follows the
/// formula's framework unless <c>decoupledWeightDecay</c> says otherwise: coupled L2 (λθ added to g) in PyTorch's,
/// decoupled in Keras's (θ ← θ − θ·λ·lr before the update, as Keras's base optimizer applies <c>weight_decay</c>).
/// </summary>
public sealed class Sgd<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T lr, mu, oneMinusDampening, lambda;
    private bool firstStep;
    private DecoupledWeightDecay<T> decay;   // θ before the update, when the decay is decoupled

    public Sgd(IReadOnlyList<Parameter<T>> parameters, double learningRate, double momentum = 0, double dampening = 0,
        bool nesterov = false, double weightDecay = 0, SgdFormula formula = SgdFormula.PyTorch, bool? decoupledWeightDecay = null)
        : base(parameters, learningRate, momentum != 0 ? ["momentum_buffer"] : [])
    {
        if (!Enum.IsDefined(formula))
            throw new ArgumentOutOfRangeException(nameof(formula), formula, "Unknown SGD formula: expected PyTorch or Keras.");
        if (formula == SgdFormula.Keras && dampening != 0)
            throw new ArgumentException($"Keras's SGD has no dampening; got dampening = {dampening} with SgdFormula.Keras.", nameof(dampening));
        Formula = formula;
        CheckNonNegative(momentum, nameof(momentum));
        if (!double.IsFinite(dampening))
            throw new ArgumentOutOfRangeException(nameof(dampening), dampening, $"Invalid dampening {dampening}: must be finite.");
        CheckNonNegative(weightDecay, nameof(weightDecay));
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException(
                $"Nesterov momentum requires momentum > 0 and dampening = 0, got momentum = {momentum}, dampening = {dampening}.", nameof(nesterov));
        Momentum = momentum;
        Dampening = dampening;
        Nesterov = nesterov;
        WeightDecay = weightDecay;
        DecoupledWeightDecay = decoupledWeightDecay ?? formula == SgdFormula.Keras;
    }

    public override string Kind => "SGD";
    public double Momentum { get; }
    public double Dampening { get; }
    public bool Nesterov { get; }
    public double WeightDecay { get; }

    /// <summary>θ ← θ(1 − lr·λ) (Keras's formula: θ − θ·λ·lr) before the update instead of λθ added to the gradient; by
    /// default the formula's framework's choice (PyTorch: coupled, Keras: decoupled).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>PyTorch's momentum (default) or Keras's (the rate inside the buffer).</summary>
    public SgdFormula Formula { get; }

    protected override IReadOnlyDictionary<string, double> Hyperparameters()
    {
        var values = new Dictionary<string, double>
        {
            ["momentum"] = Momentum,
            ["dampening"] = Dampening,
            ["nesterov"] = Nesterov ? 1 : 0,
            ["weight_decay"] = WeightDecay,
        };
        if (Formula == SgdFormula.Keras) values["keras_formula"] = 1;
        // Only where it changes the update (absent when coupled or λ = 0, as in states written before the option).
        if (DecoupledWeightDecay && WeightDecay != 0) values["decoupled_weight_decay"] = 1;
        return values;
    }

    protected override void BeginStep(long step)
    {
        lr = Cast(LearningRate);
        mu = Cast(Momentum);
        oneMinusDampening = Cast(1 - Dampening);
        lambda = Cast(WeightDecay);
        firstStep = step == 1;
        decay = new DecoupledWeightDecay<T>(Formula == SgdFormula.Keras, LearningRate, WeightDecay);
    }

    protected override void Update(int index, Parameter<T> parameter) => Update(index, parameter, 0, parameter.Length);

    protected override bool UpdatesElementwise => true;

    protected override void Update(int index, Parameter<T> parameter, int start, int count)
    {
        Span<T> theta = parameter.Value.AsSpan(start, count);
        ReadOnlySpan<T> gradient = parameter.Gradient.AsSpan(start, count);
        Span<T> buffer = Momentum != 0 ? Slot(0, index).AsSpan(start, count) : default;
        bool decays = WeightDecay != 0 && DecaysWeights(index);
        bool coupled = decays && !DecoupledWeightDecay, decoupled = decays && DecoupledWeightDecay;
        int k = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported) k = UpdateVector256(theta, gradient, buffer, coupled, decoupled);
        // The tail (and the whole span without SIMD) runs the same operations in the same order, one element at a time.
        for (; k < theta.Length; k++)
        {
            T g = coupled ? gradient[k] + lambda * theta[k] : gradient[k]; // grad.add(param, alpha=λ)
            if (decoupled) theta[k] = decay.Apply(theta[k]);               // θ(1 − lr·λ); Keras: variable − variable·wd·lr
            if (Momentum == 0)
            {
                theta[k] -= lr * g;                                        // param.add_(grad, alpha=−lr)
            }
            else if (Formula == SgdFormula.Keras)
            {
                T m = buffer[k] * mu - g * lr;                             // m = m·μ − g·lr
                buffer[k] = m;
                theta[k] += Nesterov ? m * mu - g * lr : m;                // Nesterov: θ += m·μ − g·lr; else θ += m
            }
            else
            {
                T b = firstStep ? g : buffer[k] * mu + oneMinusDampening * g;   // buf.mul_(μ).add_(g, alpha=1 − τ)
                buffer[k] = b;
                g = Nesterov ? g + mu * b : b;                             // grad.add(buf, alpha=μ) or buf
                theta[k] -= lr * g;
            }
        }
    }

    /// <summary>The update above on whole 256-bit vectors; returns the number of elements done.</summary>
    private int UpdateVector256(Span<T> theta, ReadOnlySpan<T> gradient, Span<T> buffer, bool coupled, bool decoupled)
    {
        int width = Vector256<T>.Count, n = theta.Length;
        DecoupledWeightDecay<T> weightDecay = decay;
        bool withMomentum = Momentum != 0, keras = Formula == SgdFormula.Keras, nesterov = Nesterov, first = firstStep;
        Vector256<T> lambdaV = Vector256.Create(lambda), lrV = Vector256.Create(lr), muV = Vector256.Create(mu);
        Vector256<T> oneMinusDampeningV = Vector256.Create(oneMinusDampening);
        ref T thetaRef = ref MemoryMarshal.GetReference(theta);
        ref T gradientRef = ref MemoryMarshal.GetReference(gradient);
        ref T bufferRef = ref MemoryMarshal.GetReference(buffer);
        int k = 0;
        for (; k <= n - width; k += width)
        {
            nuint at = (nuint)k;
            Vector256<T> thetaK = Vector256.LoadUnsafe(ref thetaRef, at);
            Vector256<T> g = Vector256.LoadUnsafe(ref gradientRef, at);
            if (coupled) g += lambdaV * thetaK;
            if (decoupled) thetaK = weightDecay.Apply(thetaK);
            if (!withMomentum)
            {
                thetaK -= lrV * g;
            }
            else if (keras)
            {
                Vector256<T> m = Vector256.LoadUnsafe(ref bufferRef, at) * muV - g * lrV;
                m.StoreUnsafe(ref bufferRef, at);
                thetaK += nesterov ? m * muV - g * lrV : m;
            }
            else
            {
                Vector256<T> b = first ? g : Vector256.LoadUnsafe(ref bufferRef, at) * muV + oneMinusDampeningV * g;
                b.StoreUnsafe(ref bufferRef, at);
                g = nesterov ? g + muV * b : b;
                thetaK -= lrV * g;
            }
            thetaK.StoreUnsafe(ref thetaRef, at);
        }
        return k;
    }
}
