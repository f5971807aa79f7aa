using System.Numerics.Tensors;

namespace NumLstm.Layers;

// Inference path of Bidirectional: the two directions one after the other on the calling thread (no allocation, no
// hand-off), the backward half written in input-time order so the merge needs no flip. (BD1)–(BD2) in docs/math.md.
public sealed partial class Bidirectional<T>
{
    internal BidirectionalInferenceBuffers<T> CreateInferenceBuffers(int maxBatch, int maxTime)
    {
        int rows = Forwards.ReturnSequences ? maxBatch * maxTime : maxBatch;
        return new BidirectionalInferenceBuffers<T>(Forwards.CreateInferenceBuffers(maxBatch, maxTime), Backwards.CreateInferenceBuffers(maxBatch, maxTime), rows * Units);
    }

    // x [B, T, F]; mask [B, T] or empty; output [B, T, M] (returnSequences) or [B, M], M = 2H (concat) or H.
    internal void InferenceForward(ReadOnlySpan<T> x, int batch, int time, ReadOnlySpan<bool> mask, BidirectionalInferenceBuffers<T> buffers, Span<T> output)
    {
        bool sequences = Forwards.ReturnSequences;
        int h = Units, rows = sequences ? batch * time : batch, m = OutputShape!.Value.Features;
        Span<T> forwardOut = buffers.ForwardOutput.AsSpan(0, rows * h), backwardOut = buffers.BackwardOutput.AsSpan(0, rows * h);
        Forwards.InferenceForward(x, batch, time, mask, buffers.Forward, forwardOut, sequences, inputOrder: true, resetState: true);
        Backwards.InferenceForward(x, batch, time, mask, buffers.Backward, backwardOut, sequences, inputOrder: true, resetState: true);
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

internal sealed class BidirectionalInferenceBuffers<T>(LstmInferenceBuffers<T> forward, LstmInferenceBuffers<T> backward, int outputLength)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public readonly LstmInferenceBuffers<T> Forward = forward, Backward = backward;
    public readonly T[] ForwardOutput = new T[outputLength], BackwardOutput = new T[outputLength];
}
