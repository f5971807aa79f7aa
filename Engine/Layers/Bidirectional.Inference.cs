using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

// Inference path of Bidirectional, the backward half written in input-time order so the merge needs no flip.
// (BD1)–(BD2) in docs/math.md. With ParallelDirections the backward direction is handed to the engine's second core
// (PairedWork) through a job object owned by the buffers (no allocation per call) while the calling thread runs the
// forward direction; if the worker is taken (another plan's job) or has not picked it up by then, the caller runs it
// itself, so the call never waits on a queue. Each direction computes exactly what it computes alone: the result is
// bitwise the same either way.
public sealed partial class Bidirectional<T>
{
    internal BidirectionalInferenceBuffers<T> CreateInferenceBuffers(int maxBatch, int maxTime, bool packOnce = false)
    {
        int rows = Forwards.ReturnSequences ? maxBatch * maxTime : maxBatch;
        return new BidirectionalInferenceBuffers<T>(this, Forwards.CreateInferenceBuffers(maxBatch, maxTime, packed: true, packOnce),
            Backwards.CreateInferenceBuffers(maxBatch, maxTime, packed: true, packOnce), rows * Units, maxBatch * maxTime * InputShape!.Value.Features, maxBatch * maxTime);
    }

    // x [B, T, F]; mask [B, T] or empty; output [B, T, M] (returnSequences) or [B, M], M = 2H (concat) or H.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void InferenceForward(ReadOnlySpan<T> x, int batch, int time, ReadOnlySpan<bool> mask, BidirectionalInferenceBuffers<T> buffers, Span<T> output)
    {
        bool sequences = Forwards.ReturnSequences;
        int h = Units, rows = sequences ? batch * time : batch, m = OutputShape!.Value.Features;
        Span<T> forwardOut = buffers.ForwardOutput.AsSpan(0, rows * h), backwardOut = buffers.BackwardOutput.AsSpan(0, rows * h);
        // Side by side, one direction per core; one after the other (ParallelDirections off), each direction's small-batch
        // steps may use both cores.
        bool parallel = ParallelDirections && PairedWork.HasSecondCore;
        buffers.Forward.AllowColumnSplit = buffers.Backward.AllowColumnSplit = !parallel;
        buffers.Forward.SplitProducts = buffers.Backward.SplitProducts = !parallel;
        if (parallel)
        {
            buffers.SetInput(x, batch, time, mask, rows);
            PairedWork.Run(buffers);
        }
        else
        {
            Forwards.InferenceForward(x, batch, time, mask, buffers.Forward, forwardOut, sequences, inputOrder: true, resetState: true);
            Backwards.InferenceForward(x, batch, time, mask, buffers.Backward, backwardOut, sequences, inputOrder: true, resetState: true);
        }
        T half = T.CreateTruncating(0.5);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> fRow = forwardOut.Slice(r * h, h), bRow = backwardOut.Slice(r * h, h);
            Span<T> outRow = output.Slice(r * m, m);
            switch (MergeMode)                                                                             // (BD2)
            {
                case MergeMode.Concat: fRow.CopyTo(outRow); bRow.CopyTo(outRow.Slice(h)); break;
                case MergeMode.Sum: TensorPrimitives.Add(fRow, bRow, outRow); break;
                case MergeMode.Mul: TensorPrimitives.Multiply(fRow, bRow, outRow); break;
                case MergeMode.Ave: TensorPrimitives.Add(fRow, bRow, outRow); TensorPrimitives.Multiply(outRow, half, outRow); break;
            }
        }
    }
}

/// <summary>
/// Both directions' buffers, and the two directions as one job for <see cref="PairedWork"/>: part 0 the forward LSTM,
/// part 1 the backward copy. The input and mask are copied into owned arrays, since spans cannot cross threads.
/// </summary>
internal sealed class BidirectionalInferenceBuffers<T> : IPairedJob where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Bidirectional<T> layer;
    private readonly T[] input;
    private readonly bool[] mask;
    private int batch, time, rows;
    private bool hasMask;

    public BidirectionalInferenceBuffers(Bidirectional<T> layer, LstmInferenceBuffers<T> forward, LstmInferenceBuffers<T> backward,
        int outputLength, int inputLength, int maskLength)
    {
        this.layer = layer;
        Forward = forward;
        Backward = backward;
        ForwardOutput = new T[outputLength];
        BackwardOutput = new T[outputLength];
        input = new T[inputLength];
        mask = new bool[maskLength];
    }

    public readonly LstmInferenceBuffers<T> Forward, Backward;
    public readonly T[] ForwardOutput, BackwardOutput;

    /// <summary>Copies the call's input for both directions.</summary>
    public void SetInput(ReadOnlySpan<T> x, int batchSize, int steps, ReadOnlySpan<bool> inputMask, int outputRows)
    {
        x.CopyTo(input);
        hasMask = !inputMask.IsEmpty;
        if (hasMask) inputMask.CopyTo(mask);
        batch = batchSize; time = steps; rows = outputRows;
    }

    public void RunPart(int part)
    {
        int features = layer.InputShape!.Value.Features;
        Lstm<T> lstm = part == 0 ? layer.Forwards : layer.Backwards;
        lstm.InferenceForward(input.AsSpan(0, batch * time * features), batch, time, hasMask ? mask.AsSpan(0, batch * time) : default,
            part == 0 ? Forward : Backward, (part == 0 ? ForwardOutput : BackwardOutput).AsSpan(0, rows * layer.Units),
            layer.Forwards.ReturnSequences, inputOrder: true, resetState: true);
    }
}
