using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>
/// Latency-oriented inference for a <see cref="Sequential{T}"/>: every buffer is allocated once, at creation, for
/// batches up to <see cref="MaxBatch"/> and sequences up to <see cref="MaxTime"/>; after the first call, Predict
/// allocates nothing. Results equal <c>model.Forward(..., ForwardContext.Inference)</c> to within rounding (dropout is
/// off). By default the plan reads the model's parameters at every call (packing each LSTM's W and U into its own
/// buffers each time), so it always sees the current weights; the model must not be trained while the plan runs. With
/// <c>packWeightsOnce</c> it packs W and U when it is created and when <see cref="RefreshWeights"/> is called, and
/// uses those copies until then (faster at small batches); biases, LayerNorm and Dense parameters are still read at
/// every call. One plan serves one thread at a time (a call while another runs throws InvalidOperationException); create one plan per serving thread (they may share the model).
/// </summary>
public sealed class InferencePlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly InferenceRunner<T> runner;

    public InferencePlan(Sequential<T> model, int maxBatch, int maxTime) : this(model, maxBatch, maxTime, packWeightsOnce: false)
    {
    }

    /// <param name="model">The model to run; its layers must be built.</param>
    /// <param name="maxBatch">The largest batch a call may pass.</param>
    /// <param name="maxTime">The longest sequence a call may pass.</param>
    /// <param name="packWeightsOnce">Pack every LSTM's input and recurrent weight matrices (W, U) now and keep the packed
    /// copies, instead of packing them at every call: a batch-1 prediction of the seed model skips about 0.15 ms of
    /// packing. Changes to those matrices after this (training, loading weights) are not seen until
    /// <see cref="RefreshWeights"/>.</param>
    public InferencePlan(Sequential<T> model, int maxBatch, int maxTime, bool packWeightsOnce)
    {
        runner = new InferenceRunner<T>(model, maxBatch, maxTime, streaming: false, packWeightsOnce);
        PacksWeightsOnce = packWeightsOnce;
    }

    /// <summary>Whether the plan keeps W and U packed between calls (see the constructor's packWeightsOnce).</summary>
    public bool PacksWeightsOnce { get; }

    /// <summary>
    /// Packs every LSTM's W and U again from the model's current parameters, for a plan made with packWeightsOnce after
    /// those changed. Allocates nothing. A plan that packs at every call already sees the current weights, so this
    /// only repeats that packing.
    /// </summary>
    public void RefreshWeights() => runner.RefreshWeights();

    /// <summary>The engine under the plan (tests reach the layers' buffers through it).</summary>
    internal InferenceRunner<T> Runner => runner;

    public Sequential<T> Model => runner.Model;
    public int MaxBatch => runner.MaxBatch;
    public int MaxTime => runner.MaxTime;
    public int InputFeatures => runner.Model.InputFeatures;
    /// <summary>O: features of the model's output, per step ([B, T, O]) or per sequence ([B, O]).</summary>
    public int OutputFeatures => runner.Model.OutputFeatures;
    public int OutputLength(int batch, int time) => runner.Model.OutputLength(batch, time);

    /// <summary>
    /// x [B, T, F] batch first, mask [B, T] (true = real step) or empty. Returns [B, T, O] or [B, O]: a view into the
    /// plan's buffer, valid until the next call on this plan. With the model's <see cref="Sequential{T}.NonFiniteInputs"/>
    /// = Reject, a NaN or infinity in x throws an <see cref="ArgumentException"/> naming it, as Forward does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        if (Model.NonFiniteInputs == NonFiniteInputs.Reject) NonFiniteCheck.Require(x, time, f, nameof(x), NonFiniteCheck.ModelOption);
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
    /// <summary>
    /// An <see cref="InferencePlan{T}"/> with buffers for batches up to maxBatch and sequences up to maxTime; with
    /// packWeightsOnce it packs the LSTM weight matrices now and keeps them (see <see cref="InferencePlan{T}.RefreshWeights"/>).
    /// </summary>
    public static InferencePlan<T> CreateInferencePlan<T>(this Sequential<T> model, int maxBatch, int maxTime, bool packWeightsOnce = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => new(model, maxBatch, maxTime, packWeightsOnce);

    /// <summary>
    /// A <see cref="StreamingSession{T}"/> (Keras stateful=True) for batch streams fed up to maxChunk steps at a time;
    /// with packWeightsOnce it copies the LSTM weight matrices now and keeps them (see <see cref="StreamingSession{T}.RefreshWeights"/>).
    /// </summary>
    public static StreamingSession<T> CreateSession<T>(this Sequential<T> model, int batch = 1, int maxChunk = StreamingSession<T>.DefaultMaxChunk,
        bool packWeightsOnce = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => new(model, batch, maxChunk, packWeightsOnce);
}
