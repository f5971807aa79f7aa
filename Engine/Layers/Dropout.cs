using System.Numerics.Tensors;

namespace NumLstm.Layers;

/// <summary>
/// Keras' <c>Dropout(rate)</c> between layers, on [B, T, F] or [B, F]: in training each element is zeroed with
/// probability <see cref="Rate"/> and the kept ones scaled by 1/(1 − rate) (Keras 3's backend random.dropout); at
/// inference, and at rate 0, the identity. No parameters; the mask passes through unchanged (Keras' supports_masking),
/// and masked steps are dropped like any other (Keras does not look at the mask either). Equations (DO1)–(DO2) in docs/math.md.
/// The mask is drawn from a stream of its own, seeded with one <c>Next()</c> of the training pass's Random (the Trainer's
/// per-batch stream from TrainingOptions.Seed), as a Bidirectional seeds its directions: the same seed, the same masks.
/// </summary>
public sealed class Dropout<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Dropout(double rate, string name = "dropout") : base(name)
    {
        if (!IsUsableRate(rate))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"Dropout rate must be in [0, 1) (the kept values are scaled by 1/(1 − rate)), got {rate:R}.");
        Rate = rate;
    }

    /// <summary>Whether a rate is one NumLstm's Dropout takes: finite and in [0, 1). The one rule for the layer, the model
    /// spec and the Keras importer (Keras accepts rate 1, which drops everything; NumLstm refuses it).</summary>
    public static bool IsUsableRate(double rate) => rate >= 0 && rate < 1;

    public double Rate { get; }
    public override IReadOnlyList<Parameter<T>> Parameters => Array.Empty<Parameter<T>>();

    protected override LayerShape BuildCore(LayerShape input, Random random) => input;

    public override LayerCache CreateCache() => new DropoutCache<T>();

    // x, y [B, T, F] or [B, F] (N values). (DO1) y = x ⊙ m with m_k = 0 (probability rate) or 1/(1 − rate), in training;
    // y = x otherwise.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context)
    {
        CheckInput(input, output);
        var c = cache as DropoutCache<T> ?? throw new ArgumentException($"Dropout '{Name}' needs a DropoutCache.", nameof(cache));
        int n = input.Data.Length;
        c.Length = n;
        c.FilledBy = this;
        c.Active = context.Training && Rate > 0;
        if (!c.Active)
        {
            input.Data.CopyTo(output);
            return;
        }
        if (c.Mask.Length != n) c.Mask = new T[n];
        Span<T> mask = c.Mask;
        c.Stream.Reseed(context.Random!.Next()).FillDropoutMasks<T>(mask, Rate, T.CreateTruncating(1.0 / (1.0 - Rate)));
        TensorPrimitives.Multiply<T>(input.Data, mask, output);
    }

    // dy, dx [N]. (DO2) dx += dy ⊙ m (the mask of the forward pass; dx += dy when it was the identity).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient)
    {
        var c = cache as DropoutCache<T> ?? throw new ArgumentException($"Dropout '{Name}' needs a DropoutCache.", nameof(cache));
        RequireFilledByThis(c);
        if (outputGradient.Length != c.Length)
            throw new ArgumentException($"Dropout '{Name}': output gradient must hold {c.Length} values, got {outputGradient.Length}.", nameof(outputGradient));
        if (inputGradient.IsEmpty) return;
        if (inputGradient.Length != c.Length)
            throw new ArgumentException($"Dropout '{Name}': input gradient must hold {c.Length} values, got {inputGradient.Length}.", nameof(inputGradient));
        if (!c.Active)
        {
            TensorPrimitives.Add<T>(inputGradient, outputGradient, inputGradient);
            return;
        }
        // (DO2) in docs/math.md: dy·m + dx, multiplied then added (not fused), as the forward's product rounds.
        TensorPrimitives.MultiplyAdd<T>(outputGradient, c.Mask.AsSpan(0, c.Length), inputGradient, inputGradient);
    }
}

/// <summary>A Dropout's forward state: whether it dropped, and the scaled mask m [N] it drew (0 or 1/(1 − rate)).</summary>
public sealed class DropoutCache<T> : LayerCache where T : unmanaged, IFloatingPointIeee754<T>
{
    internal T[] Mask = Array.Empty<T>();
    internal int Length;
    internal bool Active;
    /// <summary>The layer's mask stream, reseeded each training call (no Random allocated per call).</summary>
    internal readonly ReseedableRandom Stream = new();
}
