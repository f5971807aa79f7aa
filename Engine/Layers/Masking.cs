using System.Numerics.Tensors;

namespace NumLstm.Layers;

/// <summary>
/// Keras' <c>Masking(mask_value)</c> on sequences [B, T, F]: a step whose F values all equal <see cref="MaskValue"/>
/// (compared with <c>!=</c> in the element type, as Keras' <c>ops.not_equal</c> on the input's dtype) is masked: its
/// output is x·0 and the layers after it skip it (an LSTM keeps its state there). Every other step passes unchanged
/// (x·1). The mask it computes <b>replaces</b> any mask the layer receives (the caller's or an earlier Masking's), as
/// Keras' <c>compute_mask</c> ignores its <c>mask</c> argument. No parameters. Equations (MK1)–(MK2) in docs/math.md.
/// Sequences only: Keras' Masking on a vector [B, F] gives a per-sample mask that only its losses read, which NumLstm
/// has no use for, so Build refuses a vector input. The mask value must be finite: NaN never equals itself, so Keras'
/// Masking(NaN) masks nothing (a known trap), and model specs are JSON, which has no infinities.
/// </summary>
public sealed class Masking<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Masking(double maskValue = 0.0, string name = "masking") : base(name)
    {
        if (!IsUsableMaskValue(maskValue))
            throw new ArgumentOutOfRangeException(nameof(maskValue), maskValue,
                $"Masking's mask value {UsableRule}, got {maskValue:R} (NaN never equals itself, so Keras' Masking(NaN) masks nothing; pad with a finite value).");
        MaskValue = maskValue + 0.0;   // −0 as +0: they mask the same steps, and a spec writes 0 as its default (left out)
        value = T.CreateTruncating(maskValue);
    }

    /// <summary>Whether a mask value is one NumLstm's Masking takes: finite when rounded to float, and nonzero there
    /// unless it is 0 (a spec builds for either element type, and a float model compares in float, where 1e300 would be
    /// +∞ and 1e-46 would be 0, masking steps the double build keeps). The one rule for the layer, the model spec and
    /// the Keras importer, as LayerNorm's epsilon.</summary>
    public static bool IsUsableMaskValue(double maskValue)
        => double.IsFinite(maskValue) && float.IsFinite((float)maskValue) && (maskValue == 0 || (float)maskValue != 0);

    /// <summary><see cref="IsUsableMaskValue"/> in words, for messages.</summary>
    internal const string UsableRule = "must be finite, also when rounded to float (and nonzero there unless 0)";

    private readonly T value;   // the mask value in the element type, as Keras compares it in the input's dtype

    /// <summary>Keras' mask_value (default 0.0), as given; steps are compared with it rounded to the element type.</summary>
    public double MaskValue { get; }

    public override IReadOnlyList<Parameter<T>> Parameters => Array.Empty<Parameter<T>>();

    protected override LayerShape BuildCore(LayerShape input, Random random)
    {
        if (!input.IsSequence)
            throw new ArgumentException($"Masking '{Name}' needs a sequence input [B, T, F], got a vector {input} (an earlier layer returns its last output only; Masking masks time steps).");
        return input;
    }

    public override LayerCache CreateCache() => new MaskingCache();

    /// <summary>A step is kept (true) unless all its values equal the mask value: Keras' any(x != mask_value, axis=-1).
    /// row [F].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static bool Keeps(ReadOnlySpan<T> row, T maskValue)
    {
        foreach (T x in row)
            if (x != maskValue) return true;   // NaN != v is true: a NaN value keeps its step, as in Keras
        return false;
    }

    /// <summary>(MK1) for the rows [B·T, F] of x: the mask [B·T] and y = x·m per row (x·1 kept, x·0 masked). Shared by
    /// Forward and the inference runner.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Apply(ReadOnlySpan<T> x, int rows, Span<bool> mask, Span<T> y)
    {
        int f = InputShape!.Value.Features;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> row = x.Slice(r * f, f);
            Span<T> outRow = y.Slice(r * f, f);
            bool keep = Keeps(row, value);
            mask[r] = keep;
            // x·1 is x bit for bit (NaN and −0 included); x·0 keeps Keras' product: ±0 with the sign of each x (which
            // equals the mask value up to the sign of zero).
            if (keep) row.CopyTo(outRow);
            else TensorPrimitives.Multiply(row, T.Zero, outRow);
        }
    }

    // x, y [B, T, F]; mask out [B, T]. (MK1) m_bt = any_f(x_btf ≠ v); y_bt = x_bt · m_bt. The mask the layer received is
    // not read (Keras' compute_mask ignores it); Sequential passes this layer's mask on instead.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context)
    {
        CheckInput(input, output);
        var c = cache as MaskingCache ?? throw new ArgumentException($"Masking '{Name}' needs a MaskingCache.", nameof(cache));
        int rows = input.Batch * input.Time;
        if (c.Mask.Length < rows) c.Mask = new bool[rows];   // grows only: a shorter last batch reuses it
        c.Rows = rows;
        Apply(input.Data, rows, c.Mask, output);
        c.FilledBy = this;
    }

    /// <summary>The mask [B, T] the last Forward with this cache computed (true = a kept step).</summary>
    public ReadOnlySpan<bool> OutputMask(LayerCache cache)
    {
        var c = cache as MaskingCache ?? throw new ArgumentException($"Masking '{Name}' needs a MaskingCache.", nameof(cache));
        RequireFilledByThis(c);
        return c.Mask.AsSpan(0, c.Rows);
    }

    // dy, dx [B, T, F]. (MK2) dx_bt += dy_bt · m_bt: kept steps pass dy on, masked steps add dy·0 (the mask itself is a
    // step function of x with derivative 0 wherever it is defined; Keras' gradient of x·cast(m) is the same).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient)
    {
        var c = cache as MaskingCache ?? throw new ArgumentException($"Masking '{Name}' needs a MaskingCache.", nameof(cache));
        RequireFilledByThis(c);
        int f = InputShape!.Value.Features, n = c.Rows * f;   // the cache is this layer's (checked above): its rows are [F]
        if (outputGradient.Length != n)
            throw new ArgumentException($"Masking '{Name}': output gradient must hold {n} values, got {outputGradient.Length}.", nameof(outputGradient));
        if (inputGradient.IsEmpty) return;
        if (inputGradient.Length != n)
            throw new ArgumentException($"Masking '{Name}': input gradient must hold {n} values, got {inputGradient.Length}.", nameof(inputGradient));
        for (int r = 0; r < c.Rows; r++)
        {
            ReadOnlySpan<T> dy = outputGradient.Slice(r * f, f);
            Span<T> dx = inputGradient.Slice(r * f, f);
            if (c.Mask[r]) TensorPrimitives.Add(dx, dy, dx);
            else TensorPrimitives.MultiplyAdd(dy, T.Zero, dx, dx);   // dy·0 + dx: dx unless dy is infinite or NaN, as Keras
        }
    }
}

/// <summary>A Masking's forward state: the mask [B·T] it computed (true = kept) and its row count B·T.</summary>
public sealed class MaskingCache : LayerCache
{
    internal bool[] Mask = Array.Empty<bool>();
    internal int Rows;
}
