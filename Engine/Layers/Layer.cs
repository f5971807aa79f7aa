namespace NumLstm.Layers;

/// <summary>The per-sample shape of a layer's input or output: a sequence [T, Features] or a vector [Features].</summary>
public readonly record struct LayerShape(bool IsSequence, int Features)
{
    public static LayerShape Sequence(int features) => new(true, features);
    public static LayerShape Vector(int features) => new(false, features);
    public override string ToString() => IsSequence ? $"(T, {Features})" : $"({Features})";
}

/// <summary>What a forward pass needs besides its data: training or inference, and the random source for dropout.</summary>
public readonly struct ForwardContext
{
    public ForwardContext(bool training, Random? random)
    {
        if (training && random is null)
            throw new ArgumentException("A training forward pass needs a random source for dropout.", nameof(random));
        Training = training;
        Random = random;
    }

    public static ForwardContext Inference => new(false, null);
    public bool Training { get; }
    public Random? Random { get; }
}

/// <summary>
/// A batch of sequences: data [B, T, F] (or [B, F] for vector shapes, T = 1) and an optional mask [B, T]
/// (true = real step), as Keras masks.
/// </summary>
public readonly ref struct SequenceBatch<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public SequenceBatch(ReadOnlySpan<T> data, int batch, int time, ReadOnlySpan<bool> mask)
    {
        if (batch <= 0) throw new ArgumentException($"Batch size must be positive, got {batch}.", nameof(batch));
        if (time <= 0) throw new ArgumentException($"Sequence length must be positive, got {time}.", nameof(time));
        if (!mask.IsEmpty && mask.Length != (long)batch * time)
            throw new ArgumentException($"Mask must be [B={batch}, T={time}] ({(long)batch * time} values), got {mask.Length}.", nameof(mask));
        Data = data;
        Batch = batch;
        Time = time;
        Mask = mask;
    }

    public ReadOnlySpan<T> Data { get; }
    public int Batch { get; }
    public int Time { get; }
    public ReadOnlySpan<bool> Mask { get; }
}

/// <summary>Per-call state a layer keeps from forward for backward. The caller owns it; one per thread.</summary>
public abstract class LayerCache
{
    /// <summary>The layer whose Forward filled this cache last (null before any): Backward reads only a cache its own
    /// layer filled, as another layer's forward values, of any shape, would give wrong gradients or overrun.</summary>
    internal object? FilledBy;
}

/// <summary>
/// A layer with an explicit forward and backward pass. Parameters are created by <see cref="Build"/> from the input
/// shape. Forward fills a cache the caller owns; Backward reads it and *adds* into parameter gradients and the input
/// gradient, so the caller zeroes those once per step.
/// </summary>
public abstract class Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private string name;

    protected Layer(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        this.name = name;
    }

    public string Name
    {
        get => name;
        set { ArgumentException.ThrowIfNullOrEmpty(value); name = value; }
    }

    /// <summary>The model (a <c>Sequential</c>) this layer was built into, null until then: a model's constructor builds,
    /// so re-initializes, every layer, and refuses one another model owns, whose weights that would overwrite.</summary>
    internal object? Owner { get; set; }

    public LayerShape? InputShape { get; private set; }
    public LayerShape? OutputShape { get; private set; }

    public abstract IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <summary>Creates the parameters for the given input shape and initializes them from the seeded source.</summary>
    public void Build(LayerShape input, Random random)
    {
        if (input.Features <= 0) throw new ArgumentException($"Layer '{Name}': input features must be positive, got {input.Features}.");
        OutputShape = BuildCore(input, random);
        InputShape = input;
    }

    protected abstract LayerShape BuildCore(LayerShape input, Random random);

    public abstract LayerCache CreateCache();

    /// <summary>Output elements for a batch: B·T·outFeatures for sequence outputs, B·outFeatures otherwise.</summary>
    public int OutputLength(int batch, int time)
    {
        LayerShape shape = OutputShape ?? throw NotBuilt();
        Int128 length = shape.IsSequence ? (Int128)batch * time * shape.Features : (Int128)batch * shape.Features;
        if (!ArraySizes.Fits(length))
            throw ArraySizes.TooLarge(length, $"Layer '{Name}': the output [B={batch}, {(shape.IsSequence ? $"T={time}, " : "")}{shape.Features}]", nameof(batch));
        return (int)length;
    }

    /// <summary>Whether the layer passes the mask on (sequence outputs do, as Keras propagates masks).</summary>
    public bool PropagatesMask => OutputShape is { IsSequence: true };

    public abstract void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context);

    /// <summary>Adds dL/dinput into <paramref name="inputGradient"/> (may be empty to skip it) and dL/dθ into the parameters.</summary>
    public abstract void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient);

    /// <summary>Throws unless this layer's Forward filled <paramref name="cache"/> (see <see cref="LayerCache.FilledBy"/>);
    /// once per Backward, no allocation unless it throws.</summary>
    protected internal void RequireFilledByThis(LayerCache cache)
    {
        if (ReferenceEquals(cache.FilledBy, this)) return;
        throw new ArgumentException($"Layer '{Name}' ({Describe()}): expected a cache its own Forward filled, found "
            + (cache.FilledBy is Layer<T> other ? $"one filled by layer '{other.Name}' ({other.Describe()}): another layer's cache." : "one no Forward has filled."), "cache");
    }

    /// <summary>Type and shape for messages: <c>Lstm, [T, 3] → [T, 6]</c>.</summary>
    private string Describe()
    {
        static string Shape(LayerShape? s) => s is { } shape ? (shape.IsSequence ? $"[T, {shape.Features}]" : $"[{shape.Features}]") : "not built";
        string type = GetType().Name;
        return $"{type[..(type.IndexOf('`') is int tick and >= 0 ? tick : type.Length)]}, {Shape(InputShape)} → {Shape(OutputShape)}";
    }

    /// <summary>
    /// Keras' activity_regularizer: a penalty on the layer's output y, penalty(y) / B with B the batch size, added to the
    /// training loss and the evaluation loss ((R3) in docs/math-losses-optimizers.md; <see cref="Models.Sequential{T}.ActivityPenalty"/>).
    /// Null (default) for none. Taken by LSTM, Bidirectional (on the merged output), Dense and LayerNorm layers.
    /// </summary>
    public WeightRegularizer? ActivityRegularizer { get; init; }

    /// <summary>A constraint checked against the weight it will project: its axis must exist on the weight's rank
    /// (a bias has no axis 1). Returns it, for the layers' BuildCore.</summary>
    protected WeightConstraint? Constrain(WeightConstraint? constraint, Parameter<T> weight)
    {
        if (constraint is not null && !constraint.FitsRank(weight.Shape.Length))
            throw new ArgumentException($"Layer '{IO.Echo.Name(Name)}': constraint {constraint} on '{weight.Name}' [{string.Join(", ", weight.Shape)}]: "
                + $"a {weight.Shape.Length}-D weight has no axis {constraint.Axis} (use 0, -1 or all axes).");
        return constraint;
    }

    protected InvalidOperationException NotBuilt() => new($"Layer '{Name}' has not been built: call Build with the input shape first.");

    protected LayerShape CheckInput(SequenceBatch<T> input, Span<T> output)
    {
        LayerShape shape = InputShape ?? throw NotBuilt();
        Int128 expected = shape.IsSequence ? (Int128)input.Batch * input.Time * shape.Features : (Int128)input.Batch * shape.Features;
        if (input.Data.Length != expected)
            throw new ArgumentException($"Layer '{Name}': input must be [B={input.Batch}, {(shape.IsSequence ? $"T={input.Time}, " : "")}F={shape.Features}] ({expected} values), got {input.Data.Length}.");
        int outLength = OutputLength(input.Batch, input.Time);
        if (output.Length != outLength)
            throw new ArgumentException($"Layer '{Name}': output buffer must hold {outLength} values, got {output.Length}.");
        return shape;
    }

    protected static T Cast(double value) => T.CreateTruncating(value);
}
