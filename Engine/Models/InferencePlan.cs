using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>
/// Latency-oriented inference for a <see cref="Sequential{T}"/>: every buffer is allocated once, at creation, for
/// batches up to <see cref="MaxBatch"/> and sequences up to <see cref="MaxTime"/>; after the first call, Predict
/// allocates nothing. Results equal <c>model.Forward(..., ForwardContext.Inference)</c> to within rounding (dropout is
/// off). The plan reads the model's parameters at every call (no copy), so the model must not be trained while the plan
/// runs. One plan serves one thread at a time; create one plan per serving thread (they may share the model).
/// </summary>
public sealed class InferencePlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly InferenceRunner<T> runner;

    public InferencePlan(Sequential<T> model, int maxBatch, int maxTime)
    {
        runner = new InferenceRunner<T>(model, maxBatch, maxTime, streaming: false);
    }

    public Sequential<T> Model => runner.Model;
    public int MaxBatch => runner.MaxBatch;
    public int MaxTime => runner.MaxTime;
    public int InputFeatures => runner.Model.InputFeatures;
    /// <summary>O: features of the model's output, per step ([B, T, O]) or per sequence ([B, O]).</summary>
    public int OutputFeatures => runner.Model.OutputFeatures;
    public int OutputLength(int batch, int time) => runner.Model.OutputLength(batch, time);

    /// <summary>
    /// x [B, T, F] batch first, mask [B, T] (true = real step) or empty. Returns [B, T, O] or [B, O]: a view into the
    /// plan's buffer, valid until the next call on this plan.
    /// </summary>
    public ReadOnlySpan<T> Predict(ReadOnlySpan<T> x, int batch, int time, ReadOnlySpan<bool> mask = default)
    {
        if (batch <= 0 || batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"Batch size must be in 1..{MaxBatch} (the plan's maximum batch), got {batch}.");
        if (time <= 0 || time > MaxTime)
            throw new ArgumentOutOfRangeException(nameof(time), time, $"Sequence length must be in 1..{MaxTime} (the plan's maximum time), got {time}.");
        int f = InputFeatures;
        if (x.Length != batch * time * f)
            throw new ArgumentException($"Input must be [B={batch}, T={time}, F={f}] ({batch * time * f} values), got {x.Length}.", nameof(x));
        if (!mask.IsEmpty && mask.Length != batch * time)
            throw new ArgumentException($"Mask must be [B={batch}, T={time}] ({batch * time} values) or empty, got {mask.Length}.", nameof(mask));
        return runner.Run(x, batch, time, mask, resetState: true);
    }

    /// <summary>One sequence (batch 1): x [T, F] with T = x.Length / F; mask [T] or empty. Returns [T, O] or [O].</summary>
    public ReadOnlySpan<T> PredictSequence(ReadOnlySpan<T> x, ReadOnlySpan<bool> mask = default)
    {
        int f = InputFeatures;
        if (x.Length == 0 || x.Length % f != 0)
            throw new ArgumentException($"A sequence must be [T, F={f}] (a positive multiple of {f} values), got {x.Length}.", nameof(x));
        return Predict(x, 1, x.Length / f, mask);
    }
}

/// <summary>Creates the serving objects from a model.</summary>
public static class ServingExtensions
{
    /// <summary>An <see cref="InferencePlan{T}"/> with buffers for batches up to maxBatch and sequences up to maxTime.</summary>
    public static InferencePlan<T> CreateInferencePlan<T>(this Sequential<T> model, int maxBatch, int maxTime)
        where T : unmanaged, IFloatingPointIeee754<T>
        => new(model, maxBatch, maxTime);

    /// <summary>A <see cref="StreamingSession{T}"/> (Keras stateful=True) for batch streams fed up to maxChunk steps at a time.</summary>
    public static StreamingSession<T> CreateSession<T>(this Sequential<T> model, int batch = 1, int maxChunk = StreamingSession<T>.DefaultMaxChunk)
        where T : unmanaged, IFloatingPointIeee754<T>
        => new(model, batch, maxChunk);
}
