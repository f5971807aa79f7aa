using System.Runtime.Intrinsics;
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
        if (!IsUsableEpsilon(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"LayerNorm epsilon must be a finite value > 0 that stays > 0 in float (at least {float.Epsilon:R}), got {epsilon:R}.");
        Epsilon = epsilon;
        Center = center;
        Scale = scale;
    }

    /// <summary>
    /// Whether an epsilon is finite and stays &gt; 0 when cast to float (the kernels add it to a variance in T; one that
    /// rounds to 0, such as 1e-320 or 1e-50, divides a constant row by 0 and gives NaN). The one rule for LayerNorm,
    /// the cell LayerNorms and the model spec.
    /// </summary>
    public static bool IsUsableEpsilon(double epsilon) => double.IsFinite(epsilon) && (float)epsilon > 0;

    public double Epsilon { get; }
    public bool Center { get; }
    public bool Scale { get; }
    public override IReadOnlyList<Parameter<T>> Parameters => parameters;
    public Parameter<T>? Gamma => gamma;
    public Parameter<T>? Beta => beta;
    /// <summary>Keras' gamma_regularizer: the penalty on γ (weight; none without scale); null (default) for none.</summary>
    public WeightRegularizer? GammaRegularizer { get; init; }
    /// <summary>Keras' beta_regularizer: the penalty on β (bias; none without center); null (default) for none.</summary>
    public WeightRegularizer? BetaRegularizer { get; init; }
    /// <summary>Keras' gamma_constraint on γ, applied after each optimizer step; null (default) for none.</summary>
    public WeightConstraint? GammaConstraint { get; init; }
    /// <summary>Keras' beta_constraint on β; null (default) for none.</summary>
    public WeightConstraint? BetaConstraint { get; init; }
    /// <summary>Keras' gamma_initializer for γ (drawn first, as Keras builds it); null (default) for ones.</summary>
    public WeightInitializer? GammaInitializer { get => gammaInitializer; init => gammaInitializer = WeightInitializer.ForVector(value, nameof(GammaInitializer)); }
    private readonly WeightInitializer? gammaInitializer;
    /// <summary>Keras' beta_initializer for β; null (default) for zeros.</summary>
    public WeightInitializer? BetaInitializer { get => betaInitializer; init => betaInitializer = WeightInitializer.ForVector(value, nameof(BetaInitializer)); }
    private readonly WeightInitializer? betaInitializer;

    protected override LayerShape BuildCore(LayerShape input, Random random)
    {
        parameters.Clear();
        gamma = beta = null;
        if (Scale)
        {
            gamma = new Parameter<T>("weight", input.Features) { Regularizer = GammaRegularizer };
            gamma.Constraint = Constrain(GammaConstraint, gamma);
            (GammaInitializer ?? WeightInitializer.Ones()).FillVector<T>(gamma.Value, random);
            parameters.Add(gamma);
        }
        if (Center)
        {
            beta = new Parameter<T>("bias", input.Features) { Regularizer = BetaRegularizer };
            beta.Constraint = Constrain(BetaConstraint, beta);
            (BetaInitializer ?? WeightInitializer.Zeros()).FillVector<T>(beta.Value, random);
            parameters.Add(beta);
        }
        return input;
    }

    public override LayerCache CreateCache() => new LayerNormCache<T>();

    // input, output [R, F] with R = B·T (or B).
    public override unsafe void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context)
    {
        LayerShape shape = CheckInput(input, output);
        var c = cache as LayerNormCache<T> ?? throw new ArgumentException($"LayerNorm '{Name}' needs a LayerNormCache.", nameof(cache));
        int f = shape.Features, rows = input.Data.Length / f;
        c.Prepare(rows, f);
        c.FilledBy = this;
        if (!SplitRows(rows, f))
        {
            ForwardRows(input.Data, output, c, 0, rows);
            return;
        }
        fixed (T* inputPointer = input.Data)
        fixed (T* outputPointer = output)
        {
            RowHalves job = c.Halves ??= new RowHalves();
            job.Set(this, c, inputPointer, outputPointer, rows, backward: false);
            PairedWork.Run(job);
        }
    }

    // Rows are independent in the forward pass and in dx, so a large pass runs in two row ranges, one per core (the
    // bits of a row do not depend on which thread computes it). Measured in W1 (the seed model, 3,200 rows of 400 and
    // of 200): LayerNorm's forward and backward were a serial stretch of the training step while the second core idled.
    private static bool SplitRows(int rows, int features) => rows >= 2 && (long)rows * features >= SplitThreshold && PairedWork.HasSecondCore;

    /// <summary>The fewest values (rows × features) a pass splits over two cores for.</summary>
    private const long SplitThreshold = 1L << 15;

    // x, y [R, F] → rows [first, end) of y, x̂ and the statistics.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ForwardRows(ReadOnlySpan<T> x, Span<T> y, LayerNormCache<T> c, int first, int end)
    {
        int f = c.Features;
        LayerNormKernel.Forward<T>(x.Slice(first * f, (end - first) * f), f, T.CreateTruncating(Epsilon), gamma is null ? default : gamma.Value,
            beta is null ? default : beta.Value, y.Slice(first * f, (end - first) * f), c.Normalized.AsSpan(first * f, (end - first) * f),
            c.Mean.AsSpan(first, end - first), c.InverseStd.AsSpan(first, end - first));
    }

    public override unsafe void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient)
    {
        var c = cache as LayerNormCache<T> ?? throw new ArgumentException($"LayerNorm '{Name}' needs a LayerNormCache.", nameof(cache));
        RequireFilledByThis(c);
        if (outputGradient.Length != c.Normalized.Length)
            throw new ArgumentException($"LayerNorm '{Name}': output gradient must hold {c.Normalized.Length} values, got {outputGradient.Length}.", nameof(outputGradient));
        Span<T> dx = inputGradient;
        if (dx.IsEmpty) { c.DiscardedInputGradient.AsSpan().Clear(); dx = c.DiscardedInputGradient; }
        else if (dx.Length != c.Normalized.Length)
            throw new ArgumentException($"LayerNorm '{Name}': input gradient must hold {c.Normalized.Length} values, got {dx.Length}.", nameof(inputGradient));
        int rows = c.Normalized.Length / c.Features;
        if (gamma is null || beta is null || !LayerNormKernel.HasRowKernels<T>() || !SplitRows(rows, c.Features))
        {
            LayerNormKernel.Backward<T>(outputGradient, c.Normalized, c.InverseStd, c.Features, gamma is null ? default : gamma.Value, dx,
                gamma is null ? default : gamma.Gradient, beta is null ? default : beta.Gradient, c.Scratch);
            return;
        }
        fixed (T* gradientPointer = outputGradient)
        fixed (T* dxPointer = dx)
        {
            RowHalves job = c.Halves ??= new RowHalves();
            job.Set(this, c, gradientPointer, dxPointer, rows, backward: true);
            PairedWork.Run(job);
        }
    }

    // (L4) split for two threads, the same bits as LayerNormKernel.Backward: each part takes dx of half the rows, and dγ
    // and dβ of half the features summed over all rows in row order (each element's sum in the kernel's order).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void BackwardRows(ReadOnlySpan<T> dy, Span<T> dx, LayerNormCache<T> c, int part)
    {
        int f = c.Features, rows = c.Normalized.Length / f;
        int first = part == 0 ? 0 : rows / 2, end = part == 0 ? rows / 2 : rows;
        ReadOnlySpan<T> normalized = c.Normalized, g = gamma!.Value;
        for (int r = first; r < end; r++)
            LayerNormKernel.BackwardRowInputOnly(dy.Slice(r * f, f), normalized.Slice(r * f, f), c.InverseStd[r], g, dx.Slice(r * f, f));
        int lanes = Vector256<T>.Count, column = (f / 2 + lanes - 1) / lanes * lanes;    // a whole number of vectors on part 0
        int from = part == 0 ? 0 : Math.Min(column, f), width = part == 0 ? Math.Min(column, f) : f - from;
        if (width == 0) return;
        // Each part sums into scratch of its own (a whole cache line from the other's): the two halves of dγ share a line
        // where they meet, and writing it from both cores every row made the pass 2–4× slower than on one core.
        Span<T> gammaPart = c.ParameterScratch.AsSpan(part * c.ScratchStride, width), betaPart = c.ParameterScratch.AsSpan(part * c.ScratchStride + width, width);
        gamma.Gradient.AsSpan(from, width).CopyTo(gammaPart);
        beta!.Gradient.AsSpan(from, width).CopyTo(betaPart);
        LayerNormKernel.AccumulateParameterGradients(dy, normalized, f, from, width, gammaPart, betaPart);
        gammaPart.CopyTo(gamma.Gradient.AsSpan(from, width));
        betaPart.CopyTo(beta.Gradient.AsSpan(from, width));
    }

    /// <summary>
    /// A large forward or backward pass as two halves for <see cref="PairedWork"/> (the caller's spans as addresses pinned
    /// for the call). Owned by the cache, so a call allocates nothing for the hand-off.
    /// </summary>
    internal sealed unsafe class RowHalves : IPairedJob
    {
        private LayerNorm<T>? layer;
        private LayerNormCache<T>? cache;
        private T* source, target;
        private int rows;
        private bool backward;

        // forward: source x, target y; backward: source dy, target dx. [rows, F] each.
        public void Set(LayerNorm<T> owner, LayerNormCache<T> c, T* sourceValues, T* targetValues, int rowCount, bool backward)
        {
            layer = owner; cache = c; source = sourceValues; target = targetValues; rows = rowCount; this.backward = backward;
        }

        public void RunPart(int part)
        {
            int length = rows * cache!.Features;
            var from = new ReadOnlySpan<T>(source, length);
            var to = new Span<T>(target, length);
            if (backward) layer!.BackwardRows(from, to, cache, part);
            else if (part == 0) layer!.ForwardRows(from, to, cache, 0, rows / 2);
            else layer!.ForwardRows(from, to, cache, rows / 2, rows);
        }
    }
}

public sealed class LayerNormCache<T> : LayerCache where T : unmanaged, IFloatingPointIeee754<T>
{
    internal int Features;
    internal T[] Normalized = Array.Empty<T>(), Mean = Array.Empty<T>(), InverseStd = Array.Empty<T>(), Scratch = Array.Empty<T>();
    internal T[] DiscardedInputGradient = Array.Empty<T>(), ParameterScratch = Array.Empty<T>();
    /// <summary>Where part 1's dγ and dβ start in <see cref="ParameterScratch"/>: each part's [2F], 64 bytes apart.</summary>
    internal int ScratchStride => 2 * Features + 64 / Unsafe.SizeOf<T>();
    internal LayerNorm<T>.RowHalves? Halves;   // the two-core job of this cache's passes (created on first use)

    internal void Prepare(int rows, int features)
    {
        Features = features;
        if (Normalized.Length != rows * features) { Normalized = new T[rows * features]; DiscardedInputGradient = new T[rows * features]; }
        if (Mean.Length != rows) { Mean = new T[rows]; InverseStd = new T[rows]; }
        if (Scratch.Length != features) Scratch = new T[features];
        if (ParameterScratch.Length != 2 * ScratchStride + 64 / Unsafe.SizeOf<T>()) ParameterScratch = new T[2 * ScratchStride + 64 / Unsafe.SizeOf<T>()];
    }
}
