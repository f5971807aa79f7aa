using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

// Inference path of the LSTM: no caches for backward, no dropout, every buffer owned by the caller and sized once.
// The same equations as Forward, (S1)–(S9) and (C1)–(C6) in docs/math.md, arranged for speed: Ax + b for all steps is
// one product before the time loop, each step adds h·Uᵀ into Ax's row in place and makes one gate pass per row.
public sealed partial class Lstm<T>
{
    // packed: pack W and U at every call and use the packed product (batch predictions: rows bitwise independent of the
    // batch, and fast at every batch size). Streaming sessions keep DotGemm, which has no per-call cost.
    // packOnce: W and U are packed by PackInferenceWeights only, not at every call (packWeightsOnce plans); without
    // packed (packWeightsOnce sessions) into DotGemm's row-interleaved layout, per half of the units and gate block
    // (Lstm.PackStepWeights), read by the same sums.
    internal LstmInferenceBuffers<T> CreateInferenceBuffers(int maxBatch, int maxTime, bool packed = false, bool packOnce = false)
        => new(maxBatch, maxTime, Units, InputFeatures, CellNormalization.Gates == GateNormalization.Separate, packed, packOnce,
            packed && MaySplitPackedColumns ? PackedHalvesLength(Units) : 0, packed && MaySplitPackedColumns ? HalfProductsLength(Units, maxBatch) : 0,
            headStartLength: !packed && packOnce && MaySplitStepColumns ? checked(maxBatch * 4 * Units) : 0);

    /// <summary>
    /// Packs the current W and U into a packed path's buffers (Wᵀ [F, G] and Uᵀ [H, G], <see cref="Gemm.Pack{T}"/>; and
    /// Uᵀ's columns per half and gate block where the buffers carry them).
    /// </summary>
    internal void PackInferenceWeights(LstmInferenceBuffers<T> buffers) => PackInferenceWeights(buffers, whole: true, halves: true);

    // whole: Uᵀ [H, G] for the one-product steps; halves: the per-half blocks for two-core steps (a plan packing at every
    // call packs only the layout the call uses).
    private void PackInferenceWeights(LstmInferenceBuffers<T> buffers, bool whole, bool halves)
    {
        if (buffers.StepWeights.Length > 0)
        {
            buffers.ColumnSplit?.SettleFollowUp();   // no head start may outlive the weights it read
            PackStepWeights(buffers.StepWeights);   // a packWeightsOnce session
            return;
        }
        if (buffers.PackedInput.Length == 0) return;   // the DotGemm path reads W and U as stored
        int f = InputFeatures, h = Units, g = 4 * h;
        Gemm.Pack(Transpose.Yes, f, g, weightIh!.Value, f, buffers.PackedInput);
        if (whole)
        {
            Gemm.Pack(Transpose.Yes, h, g, weightHh!.Value, h, buffers.PackedRecurrent);
            if (buffers.SingleRowRecurrent) GemmPacked.InterleaveForSingleRow(h, g, buffers.PackedRecurrent, buffers.InterleaveScratch);
        }
        if (halves && buffers.PackedRecurrentHalves.Length > 0) PackRecurrentHalves(buffers.PackedRecurrentHalves);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Inference forward. x [B, T, F] batch first; mask [B, T] or empty. buffers.Hidden/Cell [B, H] hold the state to
    // start from (cleared when resetState) and receive the final state. output: allSteps → [B, T, H], row (b, s) for
    // processing step s, or (b, tIn) when inputOrder (Bidirectional's backward half, already flipped back); otherwise
    // [B, H], the last output. With zero initial state the last output is always h (a masked step keeps both).
    // ---------------------------------------------------------------------------------------------------------------
    // balance: a Bidirectional running its directions one per core (side: which of them this is) may take the second
    // half of the batch rows off this direction for the steps that are left, once the other direction is done
    // (DirectionBalance); this call then steps only the first half.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void InferenceForward(ReadOnlySpan<T> x, int batch, int time, ReadOnlySpan<bool> mask, LstmInferenceBuffers<T> buffers,
        Span<T> output, bool allSteps, bool inputOrder, bool resetState, DirectionBalance? balance = null, int side = 0,
        ProjectionShare<T>? share = null)
    {
        int f = InputFeatures, h = Units, g = 4 * h, rows = batch * time;
        ReadOnlySpan<T> b = bias!.Value;
        Span<T> projection = buffers.Projection.AsSpan(0, rows * g);
        Span<T> hState = buffers.CurrentHidden.AsSpan(0, batch * h), cState = buffers.Cell.AsSpan(0, batch * h);
        GateNormalization gateMode = CellNormalization.Gates;
        bool packed = buffers.PackedInput.Length > 0, split = buffers.SplitProducts;
        // Steps that may split over the two cores do so when that has been the faster path lately (SplitTiming: the
        // same bits either way).
        bool maySplit = packed ? CanSplitPackedColumns(batch, buffers) : CanSplitColumns(batch);
        bool splitSteps = maySplit && buffers.SplitTiming.Begin(time);
        bool splitColumns = !packed && splitSteps, splitPacked = packed && splitSteps;
        // A worker's head start (ColumnSplitJob.FollowUp) serves only the next two-core step on the state it read.
        if (buffers.ColumnSplit is { } columnJob && (resetState || !splitColumns)) columnJob.SettleFollowUp();
        if (resetState) { hState.Clear(); cState.Clear(); }
        // A plan reads the parameters at every call, so by default the packed copies are made here (W and U once per
        // call); a plan made with packWeightsOnce packed them when it was created or last refreshed.
        if (packed && !buffers.PackOnce) PackInferenceWeights(buffers, whole: !splitPacked, halves: splitPacked);

        if (share is not null && (!packed || !buffers.PackOnce || batch != 1 || splitSteps || gateMode == GateNormalization.Separate))
            throw new InvalidOperationException("ProjectionShare needs a packed-once batch-1 plan stepping on one core, without separate gate norms.");
        // (S1) Ax + b for every step as one product [B·T, G]; with separate gate norms Ax alone, and each step forms
        // (C2) LN_i(Ax) + b of its rows (StepRows) where the row kernels serve, or a pass over all rows does here.
        if (gateMode == GateNormalization.Separate)
        {
            if (packed) Gemm.MultiplyPacked(Transpose.No, rows, g, f, T.One, x, f, buffers.PackedInput, T.Zero, projection, g, split);
            else
            {
                projection.Clear();
                StepProducts(buffers, rows, x, f, default, 0, input: true, recurrent: false, half: -1, projection, g);
            }
            // A step's rows lie T rows apart in [B, T, G]: normalized in the step, where the step reads them anyway,
            // they are brought into cache once instead of twice (BiLSTM(200) ba2016, tf-addons, B64 T50: predict −6 %).
            if (!LayerNormKernel.HasRowKernels<T>())
                for (int r = 0; r < rows; r++)
                {
                    Span<T> row = projection.Slice(r * g, g);
                    NormalizeRow(inputNorm!, row, row, buffers.RowScratch);
                    TensorPrimitives.Add(row, b, row);
                }
        }
        else
        {
            // b + x·Wᵀ: the packed product starts each row from b as it stores its first block (no pass copying b).
            if (share is not null)
            {
                // A batch-1 Bidirectional sharing projections (ProjectionShare): this direction's own rows, then the other
                // direction's last rows if this core is to take them.
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                (int first, int end) = share.OwnRows(side, time);
                ProjectRows(x, (first, end), buffers);
                share.OwnProjected(side, System.Diagnostics.Stopwatch.GetTimestamp() - started, end - first);
                share.HelpOther(side, x, time);
            }
            else if (packed) ProjectRows(x, (0, rows), buffers, split);
            else
            {
                if (!splitColumns)
                {
                    for (int r = 0; r < rows; r++) b.CopyTo(projection.Slice(r * g, g));
                    StepProducts(buffers, rows, x, f, default, 0, input: true, recurrent: false, half: -1, projection, g);
                }
            }
            // (two-core steps start their columns of each step's rows from b and add W·x in their halves, before h·Uᵀ:
            // the same sums in the same order, and each core writes only the rows' columns it reads back)
        }

        int rowEnd = batch;   // the rows this thread steps: all of them, or the first share once a balanced Bidirectional took the rest
        int lateFrom = share is null ? time : time - share.LateSteps(side);   // the first step whose row another core may project
        balance?.Start(side);
        try
        {
            for (int s = 0; s < time; s++)
            {
                if (s == lateFrom) share!.EnsureLateRows(side, x, time);
                int tIn = GoBackwards ? time - 1 - s : s;
                buffers.StepCount++;
                if (splitColumns || splitPacked)
                {
                    // h_t goes to the other buffer, which then holds the state: no copy back, and each core's half of h_t
                    // stays in its cache for the next step.
                    Span<T> hNext = (buffers.HiddenInNext ? buffers.Hidden : buffers.HiddenNext).AsSpan(0, batch * h);
                    StepOnTwoCores(x, projection, batch, time, tIn, hState, hNext, cState, mask, buffers, splitPacked);
                    buffers.HiddenInNext = !buffers.HiddenInNext;
                    hState = hNext;
                    WriteStepOutputs(hState, 0, batch, time, s, tIn, mask, output, allSteps, inputOrder);
                    continue;
                }
                if (balance is not null && rowEnd == batch && balance.TryAccept(side, s, time, batch, out int keptRows)) rowEnd = keptRows;
                StepRows(tIn, 0, rowEnd, time, projection, hState, cState, mask, buffers, buffers.RowScratch, packed, split);
                WriteStepOutputs(hState, 0, rowEnd, time, s, tIn, mask, output, allSteps, inputOrder);
            }
        }
        finally
        {
            balance?.Close(side);
        }
        if (!allSteps) WriteLastOutputs(hState, 0, rowEnd, time, mask, output);
        if (maySplit) buffers.SplitTiming.End();
    }

    // (S1) b + x·Wᵀ for the rows [first, end) of x [rows, F] into their rows of the projection, through the packed W (all
    // rows of a call, or a ProjectionShare's part of them): each
    // row the same bits as in the product over all rows (every row's sums are taken alike whatever rows are beside it).
    // parallel: the product may split over the two cores (a direction stepping alone; never inside a ProjectionShare).
    internal void ProjectRows(ReadOnlySpan<T> x, (int First, int End) range, LstmInferenceBuffers<T> buffers, bool parallel = false)
    {
        int f = InputFeatures, g = 4 * Units, rows = range.End - range.First;
        if (rows <= 0) return;
        Gemm.MultiplyPackedOntoRow(Transpose.No, rows, g, f, x.Slice(range.First * f, rows * f), f, buffers.PackedInput, bias!.Value,
            buffers.Projection.AsSpan(range.First * g, rows * g), g, parallel);
    }

    // One step of the rows [r0, r1) at input time tIn, on one thread: (S2) z = (Ax + b) + h·Uᵀ in place (LN_h needs Ah
    // alone), then the gate pass of each row, h and c updated in place. Rows are independent (every product's row has the
    // same bits whatever rows are beside it), so a step split by rows computes what the whole step does.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void StepRows(int tIn, int r0, int r1, int time, Span<T> projection, Span<T> hState, Span<T> cState, ReadOnlySpan<bool> mask,
        LstmInferenceBuffers<T> buffers, LstmRowScratch<T> scratch, bool packed, bool split)
    {
        int h = Units, g = 4 * h, rows = r1 - r0;
        if (rows <= 0) return;
        GateNormalization gateMode = CellNormalization.Gates;
        ReadOnlySpan<T> hRows = hState.Slice(r0 * h, rows * h);
        if (gateMode == GateNormalization.Separate)
        {
            Span<T> ah = buffers.RecurrentProjection.AsSpan(r0 * g, rows * g);
            if (packed) Gemm.MultiplyPackedInLayout(Transpose.No, rows, g, h, T.One, hRows, h, buffers.PackedRecurrent, T.Zero, ah, g, split, buffers.SingleRowRecurrent);
            else
            {
                ah.Clear();
                StepProducts(buffers, rows, default, 0, hRows, h, input: false, recurrent: true, half: -1, ah, g);
            }
        }
        else
        {
            Span<T> zRows = projection.Slice((r0 * time + tIn) * g);
            if (packed) Gemm.MultiplyPackedInLayout(Transpose.No, rows, g, h, T.One, hRows, h, buffers.PackedRecurrent, T.One, zRows, time * g, split, buffers.SingleRowRecurrent);
            else StepProducts(buffers, rows, default, 0, hRows, h, input: false, recurrent: true, half: -1, zRows, time * g);
        }

        for (int bi = r0; bi < r1; bi++)
        {
            Span<T> hRow = hState.Slice(bi * h, h);
            if (mask.IsEmpty || mask[bi * time + tIn])
            {
                Span<T> z = projection.Slice((bi * time + tIn) * g, g);
                if (gateMode == GateNormalization.Separate)
                {
                    Span<T> ah = buffers.RecurrentProjection.AsSpan(bi * g, g);
                    // (C2) z = (LN_i(Ax) + b) + LN_h(Ah): z holds Ax; both norms, b and the sum in one output pass, with
                    // the bits of training's passes (x̂ is not kept: both go to the same scratch row).
                    if (LayerNormKernel.HasRowKernels<T>())
                    {
                        Span<T> normalized = scratch.NormScratch.AsSpan(0, g);
                        LayerNormKernel.SeparateGatesForwardRow<T>(z, ah, bias!.Value, inputNorm!.Epsilon, inputNorm.Gamma.Value, inputNorm.Beta.Value,
                            normalized, hiddenGateNorm!.Epsilon, hiddenGateNorm.Gamma.Value, hiddenGateNorm.Beta.Value, normalized);
                    }
                    else
                    {
                        NormalizeRow(hiddenGateNorm!, ah, ah, scratch);
                        TensorPrimitives.Add(z, ah, z);
                    }
                }
                if (gateMode == GateNormalization.Summed && CellNormalization.CellState == CellStateNormalization.None)
                {
                    // (C1) z = LN_g(Ax + Ah + b) and (S4)–(S7) in one kernel, as in training.
                    Span<T> cRow = cState.Slice(bi * h, h);
                    LstmGates.NormalizedForwardStep(z, gateNorm!.Epsilon, gateNorm.Gamma.Value, gateNorm.Beta.Value,
                        scratch.NormScratch.AsSpan(0, g), cRow, cRow, scratch.TanhCell, hRow, h);
                    if (outputNorm is not null) NormalizeRow(outputNorm, hRow, hRow, scratch);
                }
                else
                {
                    if (gateMode == GateNormalization.Summed) NormalizeRow(gateNorm!, z, z, scratch);   // (C1) z = LN_g(Ax + Ah + b)
                    GateRow(z, cState.Slice(bi * h, h), hRow, scratch);
                }
            }
            // (S9) a masked step keeps h and c, and its output repeats the last one, which is h.
        }
    }

    // A balanced Bidirectional's helping core (DirectionBalance): the rows [r0, batch) of this direction for the steps
    // [fromStep, time), from the state the owning core left in buffers after step fromStep − 1, with the helper's own row
    // scratch. Writes those rows' outputs (and, for the last output only, their final h).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void InferenceContinueRows(int batch, int time, ReadOnlySpan<bool> mask, LstmInferenceBuffers<T> buffers, LstmRowScratch<T> scratch,
        Span<T> output, bool allSteps, bool inputOrder, int fromStep, int r0)
    {
        int h = Units, g = 4 * h;
        Span<T> projection = buffers.Projection.AsSpan(0, batch * time * g);
        Span<T> hState = buffers.CurrentHidden.AsSpan(0, batch * h), cState = buffers.Cell.AsSpan(0, batch * h);
        bool packed = buffers.PackedInput.Length > 0;
        for (int s = fromStep; s < time; s++)
        {
            int tIn = GoBackwards ? time - 1 - s : s;
            StepRows(tIn, r0, batch, time, projection, hState, cState, mask, buffers, scratch, packed, split: false);
            WriteStepOutputs(hState, r0, batch, time, s, tIn, mask, output, allSteps, inputOrder);
        }
        if (!allSteps) WriteLastOutputs(hState, r0, batch, time, mask, output);
    }

    // One step of a plain float cell with its hidden units split over two cores (Lstm.ColumnSplit.cs): h_{t−1} from
    // hState, h_t into hNext. packed: a plan's step, U from the per-half packed blocks.
    private unsafe void StepOnTwoCores(ReadOnlySpan<T> x, Span<T> projection, int batch, int time, int tIn, Span<T> hState, Span<T> hNext, Span<T> cState,
        ReadOnlySpan<bool> mask, LstmInferenceBuffers<T> buffers, bool packed)
    {
        ColumnSplitJob job = buffers.ColumnSplit ??= new ColumnSplitJob();
        fixed (T* xPointer = x)
        fixed (T* projectionPointer = projection)
        fixed (T* hPointer = hState)
        fixed (T* hNextPointer = hNext)
        fixed (T* cPointer = cState)
        fixed (T* tanhPointer = buffers.TanhCell)
        fixed (bool* maskPointer = mask)
        fixed (T* halvesPointer = buffers.PackedRecurrentHalves)
        fixed (T* productsPointer = buffers.HalfProducts)
        {
            if (packed)
                job.SetPacked(this, batch, time, tIn, projectionPointer, projection.Length, hPointer, hNextPointer, cPointer, tanhPointer,
                    halvesPointer, buffers.PackedRecurrentHalves.Length, productsPointer, buffers.HalfProducts.Length, maskPointer, mask.Length);
            else
                job.Set(this, batch, time, tIn, xPointer, projectionPointer, projection.Length, hPointer, hNextPointer, cPointer, tanhPointer,
                    maskPointer, mask.Length, buffers, buffers.StepCount);
            PairedWork.Run(job);
        }
    }

    // The last output [B, H] of the rows [r0, r1): h, or zero with zero_output_for_mask where the last processing step
    // is masked (S9').
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteLastOutputs(Span<T> hState, int r0, int r1, int time, ReadOnlySpan<bool> mask, Span<T> output)
    {
        int h = Units, tLast = GoBackwards ? 0 : time - 1;
        hState.Slice(r0 * h, (r1 - r0) * h).CopyTo(output.Slice(r0 * h));
        if (ZeroOutputForMask && !mask.IsEmpty)
            for (int bi = r0; bi < r1; bi++)
                if (!mask[bi * time + tLast]) output.Slice(bi * h, h).Clear();
    }

    // (S8)/(S9') for one step of the rows [r0, r1): each row's output is h (a masked step's h is the carried one), or zero with zero_output_for_mask.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteStepOutputs(Span<T> hState, int r0, int r1, int time, int s, int tIn, ReadOnlySpan<bool> mask, Span<T> output, bool allSteps, bool inputOrder)
    {
        if (!allSteps) return;
        int h = Units;
        for (int bi = r0; bi < r1; bi++)
        {
            Span<T> outRow = output.Slice((bi * time + (inputOrder ? tIn : s)) * h, h);
            if (ZeroOutputForMask && !(mask.IsEmpty || mask[bi * time + tIn])) outRow.Clear();
            else hState.Slice(bi * h, h).CopyTo(outRow);
        }
    }

    // (S4)–(S7), (C4)–(C6) for one row: z [G] pre-activations in; c [H] updated in place; h [H] overwritten.
    private void GateRow(Span<T> z, Span<T> cRow, Span<T> hRow, LstmRowScratch<T> scratch)
    {
        int h = Units;
        Span<T> tanhCell = scratch.TanhCell;
        if (CellNormalization.CellState == CellStateNormalization.None)
        {
            LstmGates.InferenceStep(z, cRow, tanhCell, hRow, h);   // ForwardStep's c and h without storing the activations back
            if (outputNorm is not null) NormalizeRow(outputNorm, hRow, hRow, scratch);
            return;
        }
        LstmGates.ActivateAndUpdateCell(z, cRow, cRow, h);
        // (C4) h = o ⊙ tanh(LN_c(c)), c carried as is; (C5) c ← LN_c(c) carried, h = o ⊙ tanh(c): the same kernel as training.
        LstmGates.NormalizedCellOutput(cRow, cellNorm!.Epsilon, cellNorm.Gamma.Value, cellNorm.Beta.Value, scratch.NormScratch.AsSpan(0, h),
            z.Slice(3 * h, h), tanhCell, hRow, carry: CellNormalization.CellState == CellStateNormalization.Recurrent);
        if (outputNorm is not null) NormalizeRow(outputNorm, hRow, hRow, scratch);
    }

    private static void NormalizeRow(NormParameters<T> norm, ReadOnlySpan<T> x, Span<T> y, LstmRowScratch<T> scratch)
    {
        int width = norm.Width;
        LayerNormKernel.Forward<T>(x, width, norm.Epsilon, norm.Gamma.Value, norm.Beta.Value, y,
            scratch.NormScratch.AsSpan(0, width), scratch.Statistics.AsSpan(0, 1), scratch.Statistics.AsSpan(1, 1));
    }
}

/// <summary>
/// What one LSTM's inference pass needs, sized once for [maxB, maxT]: the gate rows Ax + b (then z) for every step
/// [B, T, G], the state h and c [B, H] (kept between calls for streaming) and row scratch.
/// </summary>
internal sealed class LstmInferenceBuffers<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public LstmInferenceBuffers(int maxBatch, int maxTime, int units, int features, bool separateGateNorms, bool packed, bool packOnce,
        int packedHalvesLength = 0, int halfProductsLength = 0, int headStartLength = 0)
    {
        PackOnce = packOnce;
        int g = 4 * units;
        // The products stream these with vector loads: each starts on a 64-byte boundary (AlignedArrays: why).
        PackedInput = packed ? AlignedArrays.Allocate<T>(Gemm.PackedLength<T>(features, g)) : Array.Empty<T>();
        StepWeights = !packed && packOnce ? AlignedArrays.Allocate<T>(Lstm<T>.StepWeightsLength(units, features)) : Array.Empty<T>();
        StepWeightOffsets = StepWeights.Length == 0 ? Array.Empty<int>() : new[]
        {
            Lstm<T>.StepWeightsOffset(units, features, 0, recurrent: false), Lstm<T>.StepWeightsOffset(units, features, 0, recurrent: true),
            Lstm<T>.StepWeightsOffset(units, features, 1, recurrent: false), Lstm<T>.StepWeightsOffset(units, features, 1, recurrent: true),
        };
        HeadStartProducts = AlignedArrays.Allocate<T>(headStartLength);
        PackedRecurrent = packed ? AlignedArrays.Allocate<T>(Gemm.PackedLength<T>(units, g)) : Array.Empty<T>();
        // A plan for one sequence at a time steps one row of h at every step: its Uᵀ is kept in the batch-1 layout, while
        // that fits a core's L2 (MemoryBandwidthBenchmarks, sitting 29: from L2 the layout reads 1.2–1.35× as fast; a 4 MB
        // Uᵀ, read from L3, 5–10 % slower).
        SingleRowRecurrent = packed && maxBatch == 1 && GemmPacked.HasSingleRowLayout<T>()
            && (long)Gemm.PackedLength<T>(units, g) * Unsafe.SizeOf<T>() <= SingleRowLayoutMaxBytes;
        InterleaveScratch = SingleRowRecurrent ? new T[GemmPacked.SingleRowScratchLength<T>(units)] : Array.Empty<T>();
        // A step split over two cores has each core write its own columns of z, c, h_t and tanh(c): on 64-byte boundaries
        // those halves share no cache line when the split point is a multiple of 16 floats (H = 128: 64), so neither
        // core's writes pull a line the other is writing across the cores. Anywhere else the boundary lines bounce
        // between them every step: the W3 cell's two-core step took 4.6–5.0 µs with these at the GC's addresses and
        // 4.2–4.4 µs aligned (docs/performance.md, sitting 29). The Projection [B, T, G] is aligned only while it is small (a
        // session's, a small plan's), so a large one stays off the pinned heap (AlignedArrays).
        int projectionLength = checked(maxBatch * maxTime * g);
        Projection = projectionLength <= AlignedProjectionLimit ? AlignedArrays.Allocate<T>(projectionLength) : new T[projectionLength];
        RecurrentProjection = separateGateNorms ? new T[maxBatch * g] : Array.Empty<T>();
        Hidden = AlignedArrays.Allocate<T>(maxBatch * units);
        PackedRecurrentHalves = AlignedArrays.Allocate<T>(packedHalvesLength);
        HalfProducts = AlignedArrays.Allocate<T>(halfProductsLength);
        HiddenNext = packed && packedHalvesLength == 0 ? Array.Empty<T>() : AlignedArrays.Allocate<T>(maxBatch * units);
        Cell = AlignedArrays.Allocate<T>(maxBatch * units);
        RowScratch = new LstmRowScratch<T>(units);
    }

    /// <summary>
    /// The largest packed Uᵀ a one-sequence plan keeps in the batch-1 layout: 1 MB, a core's L2 on the Zen 5 machine where
    /// the layout read 1.2–1.4× as fast as the plain one from L2 and 5–10 % slower from L3. On the Intel machine (2 MB of
    /// L2) the two layouts read at the same rate, so the limit was not raised for it (docs/performance.md, sittings 29 and 39).
    /// </summary>
    internal const long SingleRowLayoutMaxBytes = 1L << 20;

    /// <summary>Elements up to which the <see cref="Projection"/> is allocated on a 64-byte boundary (64 Ki: 256 KB of floats).</summary>
    internal const int AlignedProjectionLimit = 1 << 16;

    public readonly T[] Projection;            // Ax + b, then z, [B, T, G]
    public readonly T[] RecurrentProjection;   // Ah [B, G], only with separate gate norms
    public readonly T[] Hidden, Cell;          // h, c [B, H] (h in HiddenNext instead while HiddenInNext)
    public readonly T[] HiddenNext;            // the other h [B, H]: a two-core step reads h_{t−1} from one and writes h_t to the other
    /// <summary>Whether the state h is in <see cref="HiddenNext"/> (two-core steps swap the two buffers).</summary>
    public bool HiddenInNext;
    /// <summary>The buffer that holds the state h [B, H].</summary>
    public T[] CurrentHidden => HiddenInNext ? HiddenNext : Hidden;

    /// <summary>Zero state: h and c cleared, h back in <see cref="Hidden"/>.</summary>
    public void ClearState()
    {
        ColumnSplit?.SettleFollowUp();
        Array.Clear(Hidden);
        Array.Clear(HiddenNext);
        Array.Clear(Cell);
        HiddenInNext = false;
    }
    public Lstm<T>.ColumnSplitJob? ColumnSplit; // that step's job (created on first use)
    /// <summary>Whether calls that may split their steps over two cores do (the faster path, measured as they run).</summary>
    public readonly SplitTiming SplitTiming = new();
    /// <summary>The calling thread's scratch for one row's gate pass.</summary>
    public readonly LstmRowScratch<T> RowScratch;
    public T[] TanhCell => RowScratch.TanhCell;
    public readonly T[] PackedInput;           // Wᵀ packed [F, G] (Gemm.Pack), or empty for the DotGemm path
    public readonly T[] PackedRecurrent;       // Uᵀ packed [H, G], or empty
    /// <summary>
    /// Whether <see cref="PackedRecurrent"/> is in the batch-1 layout (GemmPacked.InterleaveForSingleRow): a packed plan
    /// with maxBatch 1, whose steps each take one row of h, read Uᵀ as one stream. The same bits as the plain layout.
    /// </summary>
    public readonly bool SingleRowRecurrent;
    public readonly T[] InterleaveScratch;     // one group of four slivers, for the interleaving (plans with SingleRowRecurrent), or empty
    public readonly T[] StepWeights;           // W and U DotGemm-packed per half and gate block (a packWeightsOnce session), or empty
    /// <summary>Where each half's W and U start in <see cref="StepWeights"/>: half 0's W, its U, half 1's W, its U (computed once).</summary>
    public readonly int[] StepWeightOffsets;
    public readonly T[] HeadStartProducts;        // a packWeightsOnce session's head start: h_t·Uᵀ for the worker's units, [B, G] (ColumnSplitJob.FollowUp), or empty
    /// <summary>Steps taken with these buffers: names the step a head start was made for.</summary>
    public long StepCount;
    /// <summary>Whether a packWeightsOnce session's two-core steps give the worker its head start (benchmarks compare; set between calls).</summary>
    public bool AllowHeadStart = true;
    public readonly T[] PackedRecurrentHalves; // Uᵀ's columns of each half of the units, packed (Lstm.ColumnSplit.cs), or empty
    public readonly T[] HalfProducts;          // the halves' h·Uᵀ blocks [B, n'] of a two-core step, or empty
    /// <summary>Whether a small-batch plan step may split its hidden units over two cores (off while a Bidirectional runs its directions in parallel).</summary>
    public bool AllowColumnSplit = true;
    /// <summary>Whether the packed products may split over two threads (off when a Bidirectional runs its directions in parallel).</summary>
    public bool SplitProducts;
    /// <summary>Keep the packed W and U between calls (a plan or session made with packWeightsOnce) instead of packing them at every call (plans) or reading them as stored (sessions).</summary>
    public readonly bool PackOnce;
}

/// <summary>
/// Scratch for one row's gate pass at a time: tanh(c) [H], one row's x̂ [≤ G] and (μ, ρ). An LSTM's inference buffers own
/// one for the thread that runs the layer; a balanced Bidirectional gives the core that helps a direction one of its own.
/// </summary>
internal sealed class LstmRowScratch<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public LstmRowScratch(int units)
    {
        TanhCell = AlignedArrays.Allocate<T>(units);   // a two-core step's halves each write their own columns of it
        NormScratch = new T[4 * units];
    }

    public readonly T[] TanhCell;              // [H]
    public readonly T[] NormScratch;           // x̂ of one row [≤ G]
    public readonly T[] Statistics = new T[2]; // μ, ρ of one row
}
