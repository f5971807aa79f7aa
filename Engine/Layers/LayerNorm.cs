using NumLstm.Kernels;

namespace NumLstm.Layers;

/// <summary>
/// LayerNorm over the last axis of [B, F] or [B, T, F] (Keras LayerNormalization(axis=-1)): epsilon defaults to Keras's
/// 1e-3 (use 1e-5 for PyTorch parity); center adds β, scale multiplies by γ. Parameters weight (γ) and bias (β) as
/// PyTorch's nn.LayerNorm. Equations (L1)–(L4).
/// </summary>
public sealed partial class LayerNorm<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public const double KerasEpsilon = 1e-3;
    public const double PyTorchEpsilon = 1e-5;
    private readonly List<Parameter<T>> parameters = new();
    private Parameter<T>? gamma, beta;

    public LayerNorm(double epsilon = KerasEpsilon, bool center = true, bool scale = true, string name = "layer_norm") : base(name)
    {
        if (!(epsilon > 0) || double.IsInfinity(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "LayerNorm epsilon must be a finite value > 0.");
        Epsilon = epsilon;
        Center = center;
        Scale = scale;
    }

    public double Epsilon { get; }
    public bool Center { get; }
    public bool Scale { get; }
    public override IReadOnlyList<Parameter<T>> Parameters => parameters;
    public Parameter<T>? Gamma => gamma;
    public Parameter<T>? Beta => beta;

    protected override LayerShape BuildCore(LayerShape input, Random random)
    {
        parameters.Clear();
        gamma = beta = null;
        if (Scale) { gamma = new Parameter<T>("weight", input.Features); gamma.Value.AsSpan().Fill(T.One); parameters.Add(gamma); }
        if (Center) { beta = new Parameter<T>("bias", input.Features); parameters.Add(beta); }
        return input;
    }

    public override LayerCache CreateCache() => new LayerNormCache<T>();

    // input, output [R, F] with R = B·T (or B).
    public override void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context)
    {
        LayerShape shape = CheckInput(input, output);
        var c = cache as LayerNormCache<T> ?? throw new ArgumentException($"LayerNorm '{Name}' needs a LayerNormCache.", nameof(cache));
        int f = shape.Features, rows = input.Data.Length / f;
        c.Prepare(rows, f);
        LayerNormKernel.Forward<T>(input.Data, f, T.CreateTruncating(Epsilon), gamma is null ? default : gamma.Value, beta is null ? default : beta.Value,
            output, c.Normalized, c.Mean, c.InverseStd);
    }

    public override void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient)
    {
        var c = cache as LayerNormCache<T> ?? throw new ArgumentException($"LayerNorm '{Name}' needs a LayerNormCache.", nameof(cache));
        if (outputGradient.Length != c.Normalized.Length)
            throw new ArgumentException($"LayerNorm '{Name}': output gradient must hold {c.Normalized.Length} values, got {outputGradient.Length}.", nameof(outputGradient));
        Span<T> dx = inputGradient;
        if (dx.IsEmpty) { c.DiscardedInputGradient.AsSpan().Clear(); dx = c.DiscardedInputGradient; }
        else if (dx.Length != c.Normalized.Length)
            throw new ArgumentException($"LayerNorm '{Name}': input gradient must hold {c.Normalized.Length} values, got {dx.Length}.", nameof(inputGradient));
        LayerNormKernel.Backward<T>(outputGradient, c.Normalized, c.InverseStd, c.Features, gamma is null ? default : gamma.Value, dx,
            gamma is null ? default : gamma.Gradient, beta is null ? default : beta.Gradient, c.Scratch);
    }
}

public sealed class LayerNormCache<T> : LayerCache where T : unmanaged, IFloatingPointIeee754<T>
{
    internal int Features;
    internal T[] Normalized = Array.Empty<T>(), Mean = Array.Empty<T>(), InverseStd = Array.Empty<T>(), Scratch = Array.Empty<T>();
    internal T[] DiscardedInputGradient = Array.Empty<T>();

    internal void Prepare(int rows, int features)
    {
        Features = features;
        if (Normalized.Length != rows * features) { Normalized = new T[rows * features]; DiscardedInputGradient = new T[rows * features]; }
        if (Mean.Length != rows) { Mean = new T[rows]; InverseStd = new T[rows]; }
        if (Scratch.Length != features) Scratch = new T[features];
    }
}
