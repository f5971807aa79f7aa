using System.Numerics.Tensors;
using System.Runtime.ExceptionServices;

namespace NumLstm.Layers;

// Inference path of Bidirectional, the backward half written in input-time order so the merge needs no flip.
// (BD1)–(BD2) in docs/math.md. With ParallelDirections the backward direction is handed to DirectionWorker's thread
// through a job object owned by the buffers (no allocation per call) while the calling thread runs the forward
// direction; if the worker has not picked it up by then (busy with another plan's job), the caller runs it itself, so
// the call never waits on a queue. Each direction computes exactly what it computes alone: the result is bitwise the
// same either way.
public sealed partial class Bidirectional<T>
{
    internal BidirectionalInferenceBuffers<T> CreateInferenceBuffers(int maxBatch, int maxTime)
    {
        int rows = Forwards.ReturnSequences ? maxBatch * maxTime : maxBatch;
        return new BidirectionalInferenceBuffers<T>(this, Forwards.CreateInferenceBuffers(maxBatch, maxTime, packed: true),
            Backwards.CreateInferenceBuffers(maxBatch, maxTime, packed: true), rows * Units, maxBatch * maxTime * InputShape!.Value.Features, maxBatch * maxTime);
    }

    // x [B, T, F]; mask [B, T] or empty; output [B, T, M] (returnSequences) or [B, M], M = 2H (concat) or H.
    internal void InferenceForward(ReadOnlySpan<T> x, int batch, int time, ReadOnlySpan<bool> mask, BidirectionalInferenceBuffers<T> buffers, Span<T> output)
    {
        bool sequences = Forwards.ReturnSequences;
        int h = Units, rows = sequences ? batch * time : batch, m = OutputShape!.Value.Features;
        Span<T> forwardOut = buffers.ForwardOutput.AsSpan(0, rows * h), backwardOut = buffers.BackwardOutput.AsSpan(0, rows * h);
        bool parallel = ParallelDirections && Environment.ProcessorCount > 1;
        buffers.Forward.SplitProducts = buffers.Backward.SplitProducts = false;
        if (parallel)
        {
            buffers.Post(x, batch, time, mask, rows);
            Forwards.InferenceForward(x, batch, time, mask, buffers.Forward, forwardOut, sequences, inputOrder: true, resetState: true);
            buffers.Join();
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
/// Both directions' buffers, and the hand-off of the backward direction to another thread: this object is the work
/// item, its fields the job (the input and mask copied into owned arrays, since spans cannot cross threads).
/// </summary>
internal sealed class BidirectionalInferenceBuffers<T> : DirectionWorker.IJob where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Bidirectional<T> layer;
    private readonly T[] input;
    private readonly bool[] mask;
    private readonly SemaphoreSlim done = new(0);   // released once by a worker that took the job
    private int batch, time, rows;
    private bool hasMask;
    private int claimed = 1;            // 0: a job is posted and not yet taken; 1: taken (or none)
    private ExceptionDispatchInfo? error;

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

    /// <summary>Posts the backward direction for another thread.</summary>
    public void Post(ReadOnlySpan<T> x, int batchSize, int steps, ReadOnlySpan<bool> inputMask, int outputRows)
    {
        x.CopyTo(input);
        hasMask = !inputMask.IsEmpty;
        if (hasMask) inputMask.CopyTo(mask);
        batch = batchSize; time = steps; rows = outputRows;
        error = null;
        Volatile.Write(ref claimed, 0);   // publishes the job; the worker may still hold this object from an earlier call
        DirectionWorker.TryPost(this);
    }

    /// <summary>Waits for the backward direction, running it here if no other thread has taken it.</summary>
    public void Join()
    {
        if (Interlocked.Exchange(ref claimed, 1) == 0) Run();
        else done.Wait();
        error?.Throw();
    }

    void DirectionWorker.IJob.Execute()
    {
        if (Interlocked.Exchange(ref claimed, 1) == 0)
        {
            try { Run(); }
            finally { done.Release(); }
        }
    }

    private void Run()
    {
        try
        {
            int features = layer.InputShape!.Value.Features;
            layer.Backwards.InferenceForward(input.AsSpan(0, batch * time * features), batch, time, hasMask ? mask.AsSpan(0, batch * time) : default,
                Backward, BackwardOutput.AsSpan(0, rows * layer.Units), layer.Forwards.ReturnSequences, inputOrder: true, resetState: true);
        }
        catch (Exception e)
        {
            error = ExceptionDispatchInfo.Capture(e);
        }
    }
}

/// <summary>
/// One background thread shared by every inference plan, taking one job at a time from a single slot: a plan's
/// Bidirectional posts its backward direction here and runs it itself if the slot is taken. Thread-pool work items
/// would do the same, but the pool creates its threads on the posting thread, which allocates during a call.
/// </summary>
internal static class DirectionWorker
{
    internal interface IJob { void Execute(); }

    private static IJob? slot;
    private static readonly SemaphoreSlim Signal = new(0);
    private static readonly Lock Gate = new();
    private static Thread? thread;

    /// <summary>Hands the job to the worker; false if the worker's slot is taken (the caller then keeps the job).</summary>
    public static bool TryPost(IJob job)
    {
        if (thread is null) Start();
        if (Interlocked.CompareExchange(ref slot, job, null) is not null) return false;
        Signal.Release();
        return true;
    }

    private static void Start()
    {
        lock (Gate)
        {
            if (thread is not null) return;
            var worker = new Thread(Loop) { IsBackground = true, Name = "NumLstm direction worker" };
            worker.Start();
            thread = worker;
        }
    }

    private static void Loop()
    {
        while (true)
        {
            Signal.Wait();
            Interlocked.Exchange(ref slot, null)?.Execute();
        }
    }
}
