using NumLstm.Kernels;
using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>
/// Runs a <see cref="Sequential{T}"/> through the layers' inference paths with buffers sized once for [maxB, maxT]:
/// the engine under <see cref="InferencePlan{T}"/> (state reset every call) and <see cref="StreamingSession{T}"/>
/// (state carried, every LSTM emitting every step). Reads the model's parameters, never writes them.
/// </summary>
internal sealed class InferenceRunner<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private enum Kind { Lstm, Bidirectional, LayerNorm, Dense, Dropout, Masking }

    private readonly Layer<T>[] layers;
    private readonly Kind[] kinds;
    private readonly object?[] buffers;
    private readonly T[][] activations;
    private readonly T[] normScratch;
    private readonly bool[] stepMask;   // [maxB, maxT]: the mask a Masking layer computes (every Masking replaces it), else empty
    private readonly T[] inputCopy;   // [maxB, maxT, F] for a one-layer model (an input that is its own last output), else empty
    private readonly bool streaming;

    // batchName and timeName: the caller's names of maxBatch and maxTime, for error messages.
    public InferenceRunner(Sequential<T> model, int maxBatch, int maxTime, bool streaming, bool packWeightsOnce = false,
        string batchName = "maxBatch", string timeName = "maxTime")
    {
        ArgumentNullException.ThrowIfNull(model);
        if (maxBatch <= 0) throw new ArgumentOutOfRangeException(batchName, maxBatch, "The maximum batch size must be positive.");
        if (maxTime <= 0) throw new ArgumentOutOfRangeException(timeName, maxTime, "The maximum sequence length must be positive.");
        // Every buffer below holds maxBatch·maxTime rows (the larger of the two is named as the one at fault).
        if (!model.RowsFit((long)maxBatch * maxTime))
            throw model.TooManyRows((long)maxBatch * maxTime, maxBatch >= maxTime ? batchName : timeName, Math.Max(maxBatch, maxTime), $"{batchName}={maxBatch}, {timeName}={maxTime}");
        Model = model;
        MaxBatch = maxBatch;
        MaxTime = maxTime;
        this.streaming = streaming;
        int count = model.Layers.Count, scratch = 0;
        bool masking = false;
        layers = new Layer<T>[count];
        kinds = new Kind[count];
        buffers = new object?[count];
        activations = new T[count][];
        for (int k = 0; k < count; k++)
        {
            Layer<T> layer = model.Layers[k];
            layers[k] = layer;
            switch (layer)
            {
                case Lstm<T> lstm:
                    kinds[k] = Kind.Lstm;
                    var lstmBuffers = lstm.CreateInferenceBuffers(maxBatch, maxTime, packed: !streaming, packWeightsOnce);
                    lstmBuffers.SplitProducts = true;   // one LSTM alone: its large products may take both cores
                    buffers[k] = lstmBuffers;
                    break;
                case Bidirectional<T> bidirectional:
                    kinds[k] = Kind.Bidirectional;
                    buffers[k] = bidirectional.CreateInferenceBuffers(maxBatch, maxTime, packWeightsOnce);
                    break;
                case LayerNorm<T> norm:
                    kinds[k] = Kind.LayerNorm;
                    scratch = Math.Max(scratch, norm.InferenceScratchLength);
                    break;
                case Dense<T>:
                    kinds[k] = Kind.Dense;
                    break;
                case Dropout<T>:
                    kinds[k] = Kind.Dropout;   // the identity at inference
                    break;
                case Masking<T>:
                    kinds[k] = Kind.Masking;
                    masking = true;
                    break;
                default:
                    throw new NotSupportedException($"Layer '{layer.Name}' ({layer.GetType().Name}) has no inference path.");
            }
            // Streaming emits every step, so even a last-output LSTM and the layers after it hold [B, T, ·].
            activations[k] = new T[checked(streaming ? maxBatch * maxTime * layer.OutputShape!.Value.Features : layer.OutputLength(maxBatch, maxTime))];
        }
        normScratch = new T[scratch];
        stepMask = masking ? new bool[checked(maxBatch * maxTime)] : Array.Empty<bool>();
        // A one-layer model's output is the buffer its layer writes, and a caller may pass it back as the next input (an
        // autoregressive loop): such an input is copied first, as a Dense writes its output rows while it reads them.
        inputCopy = count == 1 ? new T[checked(maxBatch * maxTime * model.InputFeatures)] : Array.Empty<T>();
        normHalves = new NormHalves(scratch);
        if (packWeightsOnce) RefreshWeights();
    }

    // 1 while a call runs. A plan or session serves one thread at a time (its buffers and state are the call's); a second
    // call meanwhile, from another thread, is refused rather than left to share them and give wrong numbers.
    private int busy;

    private void Enter()
    {
        if (Interlocked.CompareExchange(ref busy, 1, 0) != 0) ThrowBusy();
    }

    private void Exit() => Volatile.Write(ref busy, 0);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBusy() => throw new InvalidOperationException(
        $"This {(streaming ? "StreamingSession" : "InferencePlan")} is running a call on another thread: a plan or session serves one thread at a time " +
        "(its buffers and state belong to the call). Create one per thread; they may share the model.");

    /// <summary>Packs every LSTM's W and U again from the model's current parameters (the packed paths only).</summary>
    public void RefreshWeights()
    {
        Enter();
        try { RefreshWeightsCore(); }
        finally { Exit(); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RefreshWeightsCore()
    {
        for (int k = 0; k < layers.Length; k++)
            switch (buffers[k])
            {
                case LstmInferenceBuffers<T> lstmBuffers:
                    Unsafe.As<Lstm<T>>(layers[k]).PackInferenceWeights(lstmBuffers);
                    break;
                case BidirectionalInferenceBuffers<T> pair:
                    var bidirectional = Unsafe.As<Bidirectional<T>>(layers[k]);
                    bidirectional.Forwards.PackInferenceWeights(pair.Forward);
                    bidirectional.Backwards.PackInferenceWeights(pair.Backward);
                    break;
            }
    }

    /// <summary>Layer k's inference buffers (an LSTM's or a Bidirectional's), or null.</summary>
    internal object? BuffersOf(int layer) => buffers[layer];

    public Sequential<T> Model { get; }
    public int MaxBatch { get; }
    public int MaxTime { get; }

    /// <summary>x [B, T, F], mask [B, T] or empty, both checked by the caller. Returns the last layer's output.</summary>
    public ReadOnlySpan<T> Run(ReadOnlySpan<T> x, int batch, int time, ReadOnlySpan<bool> mask, bool resetState)
    {
        Enter();
        try { return RunCore(x, batch, time, mask, resetState); }
        finally { Exit(); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ReadOnlySpan<T> RunCore(ReadOnlySpan<T> x, int batch, int time, ReadOnlySpan<bool> mask, bool resetState)
    {
        if (inputCopy.Length > 0 && x.Overlaps(activations[0]))
        {
            x.CopyTo(inputCopy);
            x = inputCopy.AsSpan(0, x.Length);
        }
        ReadOnlySpan<T> current = x;
        bool sequence = true;
        for (int k = 0; k < layers.Length; k++)
        {
            Span<T> output = activations[k];
            int rows = sequence ? batch * time : batch;
            switch (kinds[k])
            {
                case Kind.Lstm:
                {
                    var lstm = Unsafe.As<Lstm<T>>(layers[k]);
                    bool allSteps = streaming || lstm.ReturnSequences;
                    output = output.Slice(0, (allSteps ? batch * time : batch) * lstm.Units);
                    lstm.InferenceForward(current, batch, time, mask, Unsafe.As<LstmInferenceBuffers<T>>(buffers[k]!), output, allSteps, inputOrder: false, resetState);
                    sequence = allSteps;
                    break;
                }
                case Kind.Bidirectional:
                {
                    var bidirectional = Unsafe.As<Bidirectional<T>>(layers[k]);
                    output = output.Slice(0, bidirectional.OutputLength(batch, time));
                    bidirectional.InferenceForward(current, batch, time, mask, Unsafe.As<BidirectionalInferenceBuffers<T>>(buffers[k]!), output);
                    sequence = bidirectional.Forwards.ReturnSequences;
                    break;
                }
                case Kind.LayerNorm:
                {
                    var norm = Unsafe.As<LayerNorm<T>>(layers[k]);
                    output = output.Slice(0, current.Length);
                    if (current.Length >= NormSplitValues && rows >= 2 && PairedWork.HasSecondCore) NormInHalves(norm, current, rows, output);
                    else norm.InferenceForward(current, rows, output, normScratch);
                    break;
                }
                case Kind.Dense:
                {
                    var dense = Unsafe.As<Dense<T>>(layers[k]);
                    output = output.Slice(0, rows * dense.Units);
                    dense.InferenceForward(current, rows, output);
                    break;
                }
                case Kind.Dropout:
                {
                    // Inference dropout is the identity; copied, so the result is still a view into the runner's buffers
                    // (never the caller's input, for a model whose last layer is a Dropout).
                    output = output.Slice(0, current.Length);
                    current.CopyTo(output);
                    break;
                }
                case Kind.Masking:
                {
                    // (MK1), as Masking.Forward: its mask replaces the one it received (the caller's or an earlier Masking's,
                    // which nothing reads after this layer, so one buffer serves them all).
                    output = output.Slice(0, current.Length);
                    Span<bool> computed = stepMask.AsSpan(0, rows);
                    Unsafe.As<Masking<T>>(layers[k]).Apply(current, rows, computed, output);
                    mask = computed;
                    break;
                }
            }
            current = output;
            if (!sequence) mask = default;   // as Sequential: only sequence outputs pass the mask on
        }
        return current;
    }

    /// <summary>The fewest values (rows × features) a LayerNorm splits into row halves, one per core.</summary>
    private const int NormSplitValues = 1 << 14;

    private readonly NormHalves normHalves;

    // Rows are independent, so each core normalizes half of them with its own scratch: the same bits as one pass.
    private unsafe void NormInHalves(LayerNorm<T> norm, ReadOnlySpan<T> x, int rows, Span<T> y)
    {
        NormHalves job = normHalves;
        fixed (T* xPointer = x)
        fixed (T* yPointer = y)
        {
            job.Set(norm, xPointer, yPointer, x.Length, rows);
            PairedWork.Run(job);
        }
    }

    /// <summary>A LayerNorm's inference pass in two row halves for <see cref="PairedWork"/>; the runner owns and reuses it.</summary>
    private sealed unsafe class NormHalves(int scratchLength) : IPairedJob
    {
        private readonly T[] scratch0 = new T[scratchLength], scratch1 = new T[scratchLength];
        private LayerNorm<T>? norm;
        private T* x, y;
        private int length, rows;

        public void Set(LayerNorm<T> layer, T* input, T* output, int values, int rowCount)
        {
            norm = layer; x = input; y = output; length = values; rows = rowCount;
        }

        public void RunPart(int part)
        {
            int features = length / rows, first = part == 0 ? 0 : rows / 2, end = part == 0 ? rows / 2 : rows;
            norm!.InferenceForward(new ReadOnlySpan<T>(x + first * features, (end - first) * features), end - first,
                new Span<T>(y + first * features, (end - first) * features), part == 0 ? scratch0 : scratch1);
        }
    }

    /// <summary>Clears the recurrent state of every LSTM (streaming sessions).</summary>
    public void ResetState()
    {
        Enter();
        try { ResetStateCore(); }
        finally { Exit(); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ResetStateCore()
    {
        for (int k = 0; k < layers.Length; k++)
            if (buffers[k] is LstmInferenceBuffers<T> lstm) lstm.ClearState();
    }
}
