using NumLstm.Kernels;

namespace NumLstm.Layers;

// Inference path of Bidirectional, the backward half written in input-time order so the merge needs no flip.
// (BD1)–(BD2) in docs/math.md. With ParallelDirections the backward direction is handed to the engine's second core
// (PairedWork) through a job object owned by the buffers (no allocation per call) while the calling thread runs the
// forward direction; if the worker is taken (another plan's job) or has not picked it up by then, the caller runs it
// itself, so the call never waits on a queue. The direction that finishes first then takes the second half of the other's
// batch rows for the steps that are left (DirectionBalance), so neither core waits long for the other. Each direction
// computes exactly what it computes alone, and rows are independent: the result is bitwise the same either way.
public sealed partial class Bidirectional<T>
{
    internal BidirectionalInferenceBuffers<T> CreateInferenceBuffers(int maxBatch, int maxTime, bool packOnce = false)
    {
        int rows = Forwards.ReturnSequences ? maxBatch * maxTime : maxBatch;
        return new BidirectionalInferenceBuffers<T>(this, Forwards.CreateInferenceBuffers(maxBatch, maxTime, packed: true, packOnce),
            Backwards.CreateInferenceBuffers(maxBatch, maxTime, packed: true, packOnce), rows * Units);
    }

    // x [B, T, F]; mask [B, T] or empty; output [B, T, M] (returnSequences) or [B, M], M = 2H (concat) or H.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal unsafe void InferenceForward(ReadOnlySpan<T> x, int batch, int time, ReadOnlySpan<bool> mask, BidirectionalInferenceBuffers<T> buffers, Span<T> output)
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
            // The input is read where it lies, pinned for the call; the merge then runs in row halves, one per core, when
            // there are enough rows to be worth a hand-off.
            fixed (T* inputPointer = x)
            fixed (bool* maskPointer = mask)
            fixed (T* outputPointer = output)
            {
                buffers.SetInput(inputPointer, x.Length, maskPointer, mask.Length, batch, time, rows);
                ProjectionShare<T>? share = batch == 1 && BalanceDirections && time >= ProjectionShareMinimumSteps ? buffers.Share : null;
                buffers.UseShare(share);
                share?.Begin(time);
                PairedWork.Run(buffers);
                share?.End(time);
                if ((long)rows * m >= ParallelMergeValues)
                {
                    buffers.SetMerge(outputPointer, output.Length);
                    PairedWork.Run(buffers);
                    return;
                }
            }
        }
        else
        {
            Forwards.InferenceForward(x, batch, time, mask, buffers.Forward, forwardOut, sequences, inputOrder: true, resetState: true);
            Backwards.InferenceForward(x, batch, time, mask, buffers.Backward, backwardOut, sequences, inputOrder: true, resetState: true);
        }
        InferenceMerge(forwardOut, backwardOut, output, 0, rows);
    }

    /// <summary>The fewest steps for which a batch-1 call shares projections between the cores (ProjectionShare).</summary>
    private const int ProjectionShareMinimumSteps = 4;

    /// <summary>The fewest output values (rows × M) whose merge is split over the two cores.</summary>
    private const long ParallelMergeValues = 1L << 14;

    // (BD2) for the rows [first, end): forwardOut, backwardOut [rows, H] (both in input-time order), output [rows, M].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void InferenceMerge(ReadOnlySpan<T> forwardOut, ReadOnlySpan<T> backwardOut, Span<T> output, int first, int end)
    {
        int h = Units, m = OutputShape!.Value.Features;
        for (int r = first; r < end; r++) MergeRow(forwardOut.Slice(r * h, h), backwardOut.Slice(r * h, h), output.Slice(r * m, m));   // (BD2)
    }
}

/// <summary>
/// Both directions' buffers, and the two directions as one job for <see cref="PairedWork"/>: part 0 the forward LSTM,
/// part 1 the backward copy; then, as a second job, the merge in row halves. The caller's input, mask and output travel
/// as addresses pinned for the call, since spans cannot cross threads.
/// </summary>
internal sealed unsafe class BidirectionalInferenceBuffers<T> : IPairedJob where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Bidirectional<T> layer;
    private T* input, output;
    private bool* mask;
    private int inputLength, maskLength, outputLength, batch, time, rows;
    private bool merging;

    public BidirectionalInferenceBuffers(Bidirectional<T> layer, LstmInferenceBuffers<T> forward, LstmInferenceBuffers<T> backward, int outputLength)
    {
        this.layer = layer;
        Forward = forward;
        Backward = backward;
        ForwardOutput = new T[outputLength];
        BackwardOutput = new T[outputLength];
        HelperScratch = new LstmRowScratch<T>(layer.Units);
        // Batch-1 projections shared between the cores: for W packed once (a plan packing at every call packs inside each
        // direction's part), gates without separate norms, and rows long enough to be worth moving.
        if (forward.PackOnce && backward.PackOnce && forward.PackedInput.Length > 0 && backward.PackedInput.Length > 0
            && layer.Forwards.CellNormalization.Gates != GateNormalization.Separate && layer.Forwards.InputFeatures >= ProjectionShare<T>.MinimumFeatures)
            Share = new ProjectionShare<T>(layer.Forwards, forward, layer.Backwards, backward);
    }

    public readonly LstmInferenceBuffers<T> Forward, Backward;
    public readonly T[] ForwardOutput, BackwardOutput;
    /// <summary>Hands the rows of the slower direction's last steps to the core that is done with its own.</summary>
    public readonly DirectionBalance Balance = new();
    /// <summary>Row scratch for the core that helps the other direction (its own is in use on the other core).</summary>
    public readonly LstmRowScratch<T> HelperScratch;
    /// <summary>Shares a batch-1 call's input projections between the cores (null where it does not apply).</summary>
    public readonly ProjectionShare<T>? Share;
    private ProjectionShare<T>? callShare;

    /// <summary>Whether the next run shares its projections (the caller decides per call).</summary>
    public void UseShare(ProjectionShare<T>? share) => callShare = share;

    /// <summary>The call's input [B, T, F] and mask [B, T] (or none), pinned by the caller until both directions are done.</summary>
    public void SetInput(T* x, int xLength, bool* inputMask, int inputMaskLength, int batchSize, int steps, int outputRows)
    {
        input = x; inputLength = xLength; mask = inputMask; maskLength = inputMaskLength;
        batch = batchSize; time = steps; rows = outputRows; merging = false;
        Balance.Reset();
    }

    /// <summary>The merged output [rows, M], pinned by the caller, for the next run (after SetInput's).</summary>
    public void SetMerge(T* merged, int mergedLength)
    {
        output = merged; outputLength = mergedLength; merging = true;
    }

    public void RunPart(int part)
    {
        if (merging)
        {
            int h = layer.Units;
            layer.InferenceMerge(ForwardOutput.AsSpan(0, rows * h), BackwardOutput.AsSpan(0, rows * h), new Span<T>(output, outputLength),
                part == 0 ? 0 : rows / 2, part == 0 ? rows / 2 : rows);
            return;
        }
        bool sequences = layer.Forwards.ReturnSequences;
        ReadOnlySpan<bool> callMask = new(mask, maskLength);
        ReadOnlySpan<T> x = new(input, inputLength);
        DirectionBalance? balance = layer.BalanceDirections && batch > 1 ? Balance : null;   // one row cannot be handed over (batch 1: ProjectionShare)
        (Lstm<T> lstm, LstmInferenceBuffers<T> buffers, T[] directionOutput) = Direction(part);
        lstm.InferenceForward(x, batch, time, callMask, buffers, directionOutput.AsSpan(0, rows * layer.Units),
            sequences, inputOrder: true, resetState: true, balance, side: part, share: callShare);
        callShare?.Finished(part);
        // Done with this direction: take the second half of the other's rows for its last steps, if it is still far enough
        // from its end to hand them over.
        if (balance is not null && balance.TryHelp(1 - part, out int fromStep, out int fromRow))
        {
            (Lstm<T> other, LstmInferenceBuffers<T> otherBuffers, T[] otherOutput) = Direction(1 - part);
            other.InferenceContinueRows(batch, time, callMask, otherBuffers, HelperScratch, otherOutput.AsSpan(0, rows * layer.Units),
                sequences, inputOrder: true, fromStep, fromRow);
        }
    }

    private (Lstm<T> Lstm, LstmInferenceBuffers<T> Buffers, T[] Output) Direction(int part)
        => part == 0 ? (layer.Forwards, Forward, ForwardOutput) : (layer.Backwards, Backward, BackwardOutput);
}

/// <summary>
/// Evens out a Bidirectional's two directions while they run one per core. The direction that finishes first offers
/// help (<see cref="TryHelp"/>); the other, at the start of its next step (<see cref="TryAccept"/>), keeps the first half
/// of its batch rows and hands the core that offered the second half, for the steps that are left. Rows are independent
/// in every product and gate pass, so each row gets the same bits whichever core steps it. One offer per direction and
/// call; no lock: a state per direction, moved by compare-and-swap. The helper waits at most one of the other's steps.
/// </summary>
internal sealed class DirectionBalance
{
    // The state of each direction (side 0 forward, 1 backward) as the owner of its rows: Idle (not started) → Open
    // (stepping) → Offered (the other core offers help) → Accepted (the rows from fromRow on, steps from fromStep on, are
    // the helper's), or → Closed (done or failed, any offer declined). Only the helper moves Open → Offered; only the
    // owner moves Offered → Accepted; the owner closes at its end unless it accepted.
    private const int Idle = 0, Open = 1, Offered = 2, Accepted = 3, Closed = 4;
    private readonly int[] state = new int[2];
    private readonly int[] fromStep = new int[2], fromRow = new int[2], stepsLeft = new int[2];
    private readonly int[] helperDone = new int[2];

    /// <summary>Calls in which one core took rows off the other direction (tests and benchmarks read it).</summary>
    public long HandOffs { get; private set; }

    /// <summary>The steps handed over in those calls, summed (benchmarks read it).</summary>
    public long StepsHandedOver { get; private set; }

    /// <summary>
    /// The fewest steps left for which the owner hands rows over. Measured (W2b, 400 calls alternated): 2 and 4 gave the
    /// same 3–6 % off the median call in a slow stretch of the host.
    /// </summary>
    private const int MinimumStepsLeft = 2;

    /// <summary>Whether side's owner is stepping and has not been offered help yet (tests wait for it).</summary>
    internal bool IsOpen(int side) => Volatile.Read(ref state[side]) == Open;

    /// <summary>A new call: both directions not started.</summary>
    public void Reset()
    {
        Volatile.Write(ref helperDone[0], 0);
        Volatile.Write(ref helperDone[1], 0);
        Volatile.Write(ref state[0], Idle);
        Volatile.Write(ref state[1], Idle);
    }

    /// <summary>The helper is done with the rows of side it took (or failed); always called after a true <see cref="TryHelp"/>.</summary>
    public void HelperFinished(int side) => Volatile.Write(ref helperDone[side], 1);

    /// <summary>
    /// The owner of side, after its own rows: waits for the rows it handed over (training, whose work after the loop reads
    /// every row; a plan's rows are done when the pair of parts is).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void WaitForHelper(int side)
    {
        while (Volatile.Read(ref helperDone[side]) == 0) Thread.SpinWait(1);
    }

    /// <summary>The owner of side's rows starts stepping (Idle → Open).</summary>
    public void Start(int side) => Interlocked.CompareExchange(ref state[side], Open, Idle);

    /// <summary>
    /// The owner, at the start of step: if help is offered and at least two steps are left, it keeps the rows
    /// [0, keptRows) and hands the rest, from this step on, to the helper.
    /// </summary>
    public bool TryAccept(int side, int step, int time, int batch, out int keptRows)
    {
        keptRows = batch;
        if (Volatile.Read(ref state[side]) != Offered || time - step < MinimumStepsLeft || batch < 2) return false;
        keptRows = batch - batch / 2;
        fromStep[side] = step;
        fromRow[side] = keptRows;
        stepsLeft[side] = time - step;
        Volatile.Write(ref state[side], Accepted);   // publishes fromStep, fromRow and the state rows of step − 1
        return true;
    }

    /// <summary>The owner is done with its steps (or failed): an offer it has not accepted is declined.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Close(int side)
    {
        while (true)
        {
            int seen = Volatile.Read(ref state[side]);
            if (seen is Accepted or Closed || Interlocked.CompareExchange(ref state[side], Closed, seen) == seen) return;
        }
    }

    /// <summary>
    /// The core done with its own direction offers to step side's rows; true with where to start if the owner handed
    /// them over, false if it had not started, was done, or finished before its next step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryHelp(int side, out int step, out int row)
    {
        step = row = 0;
        if (Interlocked.CompareExchange(ref state[side], Offered, Open) != Open) return false;
        while (true)
        {
            int seen = Volatile.Read(ref state[side]);
            if (seen == Accepted)
            {
                step = fromStep[side];
                row = fromRow[side];
                HandOffs++;
                StepsHandedOver += stepsLeft[side];
                return true;
            }
            if (seen == Closed) return false;
            Thread.SpinWait(1);
        }
    }
}
