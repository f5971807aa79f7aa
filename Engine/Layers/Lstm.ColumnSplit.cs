using System.Diagnostics;
using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

// Streaming steps of a plain float cell on two cores. At batch 1 a step is a GEMV over U (4H × H) and W, bound by how
// fast one core reads them from its L2; split by hidden units, each core reads half. The hidden units [0, m) run on the
// calling thread and [m, H) on the engine's second core (PairedWork): each half reads all of h_{t−1} and writes only its
// own columns of z (the four gate blocks), of c and of h_t, which goes to the other of two h buffers (the two swap
// roles every step, no copy back), so the halves share nothing they write. Every column is computed as in one pass (DotGemm's fixed dot-product order,
// the same gate arithmetic), so the result is bitwise the same on one thread or two.
// Inference plans at small batch split the same way with packed products: each half keeps Uᵀ's columns of its units
// (four gate blocks side by side, GemmPacked.PackColumnGroups), takes h_{t−1} times them into a scratch row block by KC
// block, and adds each block's sums into z as the whole-row product adds them, so the plan's result is bitwise the same
// split or not.
// A packWeightsOnce session's worker also takes its units' share of the next step's h·Uᵀ right after each step (the
// head start, ColumnSplitJob.FollowUp), while the calling thread returns to its caller, so within the next step the
// worker has only b + x·Wᵀ, the ready sums and its gates left.
public sealed partial class Lstm<T>
{
    /// <summary>From this many multiply-adds per step (B·4H·H) a streaming step of a plain float cell splits its hidden units over two cores.</summary>
    internal const long ColumnSplitThreshold = 1L << 15;

    /// <summary>Whether steps may split their hidden units over two cores: streaming steps, and small-batch plan steps (tests turn it off to compare).</summary>
    internal bool StepColumnSplit { get; set; } = true;

    internal bool CanSplitColumns(int batch)
        => MaySplitStepColumns && StepColumnSplit && PairedWork.HasSecondCore && (long)batch * 4 * Units * Units >= ColumnSplitThreshold;

    /// <summary>
    /// Whether this cell's steps can split at some batch on this machine: a plain float cell, AVX2 + FMA, two cores, at
    /// least 16 units (so a packWeightsOnce session's buffers carry a head start).
    /// </summary>
    internal bool MaySplitStepColumns
        => typeof(T) == typeof(float) && FastMath.IsSupported && CellNormalization.IsNone && PairedWork.MachineHasSecondCore && ColumnSplitPoint(Units) > 0;

    /// <summary>The first hidden unit of the second half: half of H rounded down to a whole vector of eight.</summary>
    internal static int ColumnSplitPoint(int h) => h / 2 / 8 * 8;

    /// <summary>
    /// The packed plan step's split: half of H rounded up to a whole vector of eight, so the calling thread, which starts
    /// first, takes the larger half and the worker, which starts later and fetches h_{t−1} from the other core, the smaller.
    /// </summary>
    internal static int PackedSplitPoint(int h)
    {
        int up = (h / 2 + 7) / 8 * 8;
        return up < h ? up : ColumnSplitPoint(h);
    }

    /// <summary>Up to this batch a plan's steps may split their hidden units over two cores.</summary>
    internal const int PackedColumnSplitMaxBatch = 4;

    /// <summary>
    /// From this many multiply-adds per step (B·4H·H) a plan's step splits over two cores. Below it the hand-off, which
    /// on this kind of VM takes 0.3 µs in good stretches and 2–4 µs in bad ones, can cost more than the half product
    /// saves: one LSTM at batch 1 measured 2 % faster to 48 % slower at H = 100 and 128, and 4–25 % faster at
    /// H = 200, 17 % at 256, 31 % at 512 (docs/performance.md).
    /// </summary>
    internal const long PackedColumnSplitThreshold = 150_000;

    /// <summary>Whether this cell's plan buffers carry the per-half packed U (float, plain cell, wide enough to split at some batch ≤ 4).</summary>
    internal bool MaySplitPackedColumns
        => MaySplitStepColumns && (long)PackedColumnSplitMaxBatch * 4 * Units * Units >= PackedColumnSplitThreshold && GemmPacked.HasPackedLayout<T>()
            && PackedHalf(Units, 1).Width <= GemmPacked.NC;

    /// <summary>Whether a plan step at this batch splits its hidden units over two cores, given buffers that carry the halves.</summary>
    internal bool CanSplitPackedColumns(int batch, LstmInferenceBuffers<T> buffers)
        => buffers.PackedRecurrentHalves.Length > 0 && buffers.AllowColumnSplit && batch <= PackedColumnSplitMaxBatch && CanSplitColumns(batch)
            && (long)batch * 4 * Units * Units >= PackedColumnSplitThreshold;

    /// <summary>
    /// Where half part's packed Uᵀ columns sit in <see cref="LstmInferenceBuffers{T}.PackedRecurrentHalves"/>, and their
    /// width n' (four gate blocks of the half's units, each padded to a whole sliver).
    /// </summary>
    internal static (int Offset, int Width) PackedHalf(int h, int part)
    {
        int split = PackedSplitPoint(h), nr = GemmPacked.SliverWidth<T>();
        int lowWidth = 4 * RoundUp(split, nr), highWidth = 4 * RoundUp(h - split, nr);
        return part == 0 ? (0, lowWidth) : (h * lowWidth, highWidth);
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Elements the packed halves take.</summary>
    internal static int PackedHalvesLength(int h) => h * (PackedHalf(h, 0).Width + PackedHalf(h, 1).Width);

    /// <summary>Elements of the scratch rows the two halves' products go to ([batch, n'] each).</summary>
    internal static int HalfProductsLength(int h, int maxBatch) => Math.Min(maxBatch, PackedColumnSplitMaxBatch) * (PackedHalf(h, 0).Width + PackedHalf(h, 1).Width);

    /// <summary>Packs Uᵀ's columns of each half's units, the four gate blocks side by side.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void PackRecurrentHalves(Span<T> halves)
    {
        int h = Units, split = PackedSplitPoint(h);
        for (int part = 0; part < 2; part++)
        {
            (int offset, int width) = PackedHalf(h, part);
            GemmPacked.PackColumnGroups(h, weightHh!.Value, h, groups: 4, groupStride: h, col0: part == 0 ? 0 : split,
                count: part == 0 ? split : h - split, halves.Slice(offset, h * width));
        }
    }

    // A packWeightsOnce session's W and U (StepWeights): for each half of the units (ColumnSplitPoint; the first half is
    // empty below 16 units), rows q·H + [j0, j1) of W for the four gate blocks q, each DotGemm-packed (W in the column
    // layout where F ≤ 32 on AVX-512, InputStepLength), one after another, then the same rows of U: each half of a
    // two-core step reads its weights as two streams, one call each.

    /// <summary>Elements of a session's packed W and U (see <see cref="PackStepWeights"/>).</summary>
    internal static int StepWeightsLength(int h, int f) => StepWeightsOffset(h, f, 2, recurrent: false);

    /// <summary>Where a half's packed W (or U) starts; half 2 is the end.</summary>
    internal static int StepWeightsOffset(int h, int f, int half, bool recurrent)
    {
        int split = ColumnSplitPoint(h);
        int low = 4 * (InputStepLength(split, f) + DotGemm.PackedLength<T>(split, h));
        int start = half == 0 ? 0 : half == 1 ? low : checked(low + 4 * (InputStepLength(h - split, f) + DotGemm.PackedLength<T>(h - split, h)));
        int count = half == 0 ? split : h - split;
        return recurrent ? checked(start + 4 * InputStepLength(count, f)) : start;
    }

    // A half's packed W rows of one gate block: DotGemm's column layout where it serves F (x·Wᵀ for up to 32 inputs: the
    // same sums without the per-row reductions), else its row-interleaved layout. Either gives W·x's bits as stored.
    private static int InputStepLength(int count, int f)
        => DotGemm.UsesColumnLayout<T>(f) ? DotGemm.ColumnPackedLength<T>(count, f) : DotGemm.PackedLength<T>(count, f);

    /// <summary>Packs the current W and U into a session's step layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void PackStepWeights(Span<T> stepWeights)
    {
        int h = Units, f = InputFeatures, split = ColumnSplitPoint(h);
        ReadOnlySpan<T> w = weightIh!.Value, u = weightHh!.Value;
        for (int half = 0; half < 2; half++)
        {
            int j0 = half == 0 ? 0 : split, count = half == 0 ? split : h - split;
            int inputLength = InputStepLength(count, f), recurrentLength = DotGemm.PackedLength<T>(count, h);
            bool columnLayout = DotGemm.UsesColumnLayout<T>(f);
            int inputStart = StepWeightsOffset(h, f, half, recurrent: false), recurrentStart = StepWeightsOffset(h, f, half, recurrent: true);
            for (int q = 0; q < 4; q++)
            {
                if (columnLayout) DotGemm.PackColumns(count, f, w.Slice((q * h + j0) * f), f, stepWeights.Slice(inputStart + q * inputLength, inputLength));
                else DotGemm.PackRows(count, f, w.Slice((q * h + j0) * f), f, stepWeights.Slice(inputStart + q * inputLength, inputLength));
                DotGemm.PackRows(count, h, u.Slice((q * h + j0) * h), h, stepWeights.Slice(recurrentStart + q * recurrentLength, recurrentLength));
            }
        }
    }

    /// <summary>
    /// The unpacked paths' products: c[r, q·H + j] += x_r · W[q·H + j, ·] (input), then += h_r · U[q·H + j, ·]
    /// (recurrent), for r &lt; rows, every gate block q and the units j of one half (0 or 1) or of both (−1); from W and U
    /// as stored, or from a packWeightsOnce session's step layout. Each element's sums are the same either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void StepProducts(LstmInferenceBuffers<T> buffers, int rows, ReadOnlySpan<T> x, int ldx, ReadOnlySpan<T> hPrevious, int ldh,
        bool input, bool recurrent, int half, Span<T> c, int ldc)
    {
        int h = Units, f = InputFeatures, split = ColumnSplitPoint(h);
        if (buffers.StepWeights.Length == 0)
        {
            ReadOnlySpan<T> w = weightIh!.Value, u = weightHh!.Value;
            if (half < 0)
            {
                if (input) DotGemm.MultiplyAddTransposed(rows, 4 * h, f, x, ldx, w, f, c, ldc);
                if (recurrent) DotGemm.MultiplyAddTransposed(rows, 4 * h, h, hPrevious, ldh, u, h, c, ldc);
                return;
            }
            int start = half == 0 ? 0 : split, units = half == 0 ? split : h - split;
            for (int q = 0; q < 4; q++)
            {
                if (input) DotGemm.MultiplyAddTransposed(rows, units, f, x, ldx, w.Slice((q * h + start) * f, units * f), f, c.Slice(q * h + start), ldc);
                if (recurrent) DotGemm.MultiplyAddTransposed(rows, units, h, hPrevious, ldh, u.Slice((q * h + start) * h, units * h), h, c.Slice(q * h + start), ldc);
            }
            return;
        }
        ReadOnlySpan<T> stepWeights = buffers.StepWeights;
        for (int part = Math.Max(half, 0); part <= (half < 0 ? 1 : half); part++)
        {
            int j0 = part == 0 ? 0 : split, count = part == 0 ? split : h - split;
            if (count == 0) continue;
            if (input && DotGemm.UsesColumnLayout<T>(f))
                DotGemm.MultiplyAddColumnPackedGroups(rows, 4, count, f, x, ldx, stepWeights.Slice(buffers.StepWeightOffsets[2 * part]), c.Slice(j0), ldc, h);
            else if (input)
                DotGemm.MultiplyAddPackedGroups(rows, 4, count, f, x, ldx, stepWeights.Slice(buffers.StepWeightOffsets[2 * part]), c.Slice(j0), ldc, h);
            if (recurrent)
                DotGemm.MultiplyAddPackedGroups(rows, 4, count, h, hPrevious, ldh, stepWeights.Slice(buffers.StepWeightOffsets[2 * part + 1]), c.Slice(j0), ldc, h);
        }
    }

    /// <summary>
    /// One streaming step split by hidden units, as a reusable job; the spans as addresses pinned by the caller.
    /// <para>
    /// A packWeightsOnce session's job also gives the worker a head start (<see cref="IPairedJob.FollowUp"/>): once the
    /// calling thread has written its half of h_t, the worker takes h_t · Uᵀ for its own units into
    /// <see cref="LstmInferenceBuffers{T}.HeadStartProducts"/> while the caller returns, so its share of the next step is
    /// only b + x·Wᵀ, the sums added and its gates. Each sum is the one the step would take (DotGemm's dot product,
    /// added into a start of −0, which leaves it exact), so the bits are the same with or without the head start. The
    /// product is used only by the step it was made for (<see cref="LstmInferenceBuffers{T}.StepCount"/>), and whatever
    /// changes h or the weights first waits for it and drops it (<see cref="SettleFollowUp"/>).
    /// </para>
    /// </summary>
    internal sealed unsafe class ColumnSplitJob : IPairedJob
    {
        private Lstm<T>? layer;
        private int batch, time, tIn, projectionLength, maskLength, halvesLength, productsLength;
        private T* input, projection, hidden, hiddenNext, cell, tanhCell, packedHalves, halfProducts;
        private bool* mask;
        private LstmInferenceBuffers<T>? buffers;   // the step layout of a packWeightsOnce session's W and U, if it has one
        private long stepNumber;                    // the step being run (buffers.StepCount)

        // The head start. headStartFor: the step whose worker-half h·Uᵀ HeadStartProducts holds (−1: none); partZeroDone: the
        // last step whose calling-thread half of h_t is written; followUpPending: 1 from BeginFollowUp until FollowUp
        // ends; the follow-up's own copies of what it reads, taken before the caller is released.
        private long headStartFor = -1, partZeroDone = -1, followStep;
        private int followUpPending, followBatch;
        private T[]? followHidden;

        /// <summary>How long a follow-up waits for the calling thread's half of h_t before it gives up: 100 µs.</summary>
        private static readonly long FollowUpWaitTicks = Stopwatch.Frequency / 10_000;

        private bool GivesHeadStart => buffers is not null && buffers.HeadStartProducts.Length > 0 && buffers.AllowHeadStart && packedHalves == null;

        /// <summary>Steps whose worker half started from a head start (tests; written by whichever thread runs part 1).</summary>
        internal long HeadStartsTaken;

        /// <summary>Whether the worker has a head start ready for step <paramref name="step"/> (tests).</summary>
        internal bool HasHeadStartFor(long step) => Volatile.Read(ref headStartFor) == step;

        /// <summary>
        /// Waits for a follow-up still running and drops its product: called before anything changes h, c or the packed
        /// weights other than a two-core step. Returns at once when none runs; otherwise spins, and yields its core if the
        /// worker has been preempted (a follow-up takes a microsecond or two when it runs).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal void SettleFollowUp()
        {
            var spinner = new SpinWait();
            while (Volatile.Read(ref followUpPending) != 0) spinner.SpinOnce(sleep1Threshold: -1);
            Volatile.Write(ref headStartFor, -1);
        }

        public bool BeginFollowUp()
        {
            if (!GivesHeadStart) return false;
            followStep = stepNumber;
            followBatch = batch;
            // h_t went to the buffer the state is not in yet (the caller swaps them when the step returns).
            followHidden = buffers!.HiddenInNext ? buffers.Hidden : buffers.HiddenNext;
            Volatile.Write(ref followUpPending, 1);
            return true;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void FollowUp()
        {
            try
            {
                long start = Stopwatch.GetTimestamp();
                while (Volatile.Read(ref partZeroDone) < followStep)
                {
                    if (Stopwatch.GetTimestamp() - start > FollowUpWaitTicks) return;
                    Thread.SpinWait(1);
                }
                int h = layer!.Units, g = 4 * h, split = ColumnSplitPoint(h), count = h - split;
                Span<T> products = buffers!.HeadStartProducts.AsSpan(0, followBatch * g);
                for (int bi = 0; bi < followBatch; bi++)
                    for (int q = 0; q < 4; q++)
                        products.Slice(bi * g + q * h + split, count).Fill(T.NegativeZero);   // −0 + s = s for every s, −0 and NaN included
                layer.StepProducts(buffers, followBatch, default, 0, followHidden.AsSpan(0, followBatch * h), h, input: false, recurrent: true, half: 1,
                    products, g);
                Volatile.Write(ref headStartFor, followStep + 1);
            }
            finally { Volatile.Write(ref followUpPending, 0); }
        }

        /// <summary>The packed form: z already holds Ax + b, and h_{t−1}·Uᵀ comes from the per-half packed blocks.</summary>
        public void SetPacked(Lstm<T> owner, int batchSize, int steps, int inputTime, T* projectionRows, int projectionRowsLength, T* hPrevious,
            T* hNext, T* cells, T* tanhRow, T* halves, int halvesCount, T* products, int productsCount, bool* stepMask, int stepMaskLength)
        {
            Set(owner, batchSize, steps, inputTime, null, projectionRows, projectionRowsLength, hPrevious, hNext, cells, tanhRow, stepMask, stepMaskLength,
                stepBuffers: null, step: -1);
            packedHalves = halves; halvesLength = halvesCount; halfProducts = products; productsLength = productsCount;
        }

        /// <summary>
        /// The unpacked form: W and U as stored, or the step layout of a packWeightsOnce session's buffers (stepBuffers,
        /// null only for the packed form); step: the buffers' <see cref="LstmInferenceBuffers{T}.StepCount"/> for this step.
        /// </summary>
        public void Set(Lstm<T> owner, int batchSize, int steps, int inputTime, T* x, T* projectionRows, int projectionRowsLength, T* hPrevious,
            T* hNext, T* cells, T* tanhRow, bool* stepMask, int stepMaskLength, LstmInferenceBuffers<T>? stepBuffers, long step)
        {
            stepNumber = step;
            if (layer != owner) layer = owner;
            if (batch != batchSize) batch = batchSize;
            if (time != steps) time = steps;
            if (tIn != inputTime) tIn = inputTime;
            if (input != x) input = x;
            if (buffers != stepBuffers) buffers = stepBuffers;
            if (projection != projectionRows) projection = projectionRows;
            if (projectionLength != projectionRowsLength) projectionLength = projectionRowsLength;
            if (hidden != hPrevious) hidden = hPrevious;
            if (hiddenNext != hNext) hiddenNext = hNext;
            if (cell != cells) cell = cells;
            if (tanhCell != tanhRow) tanhCell = tanhRow;
            if (mask != stepMask) mask = stepMask;
            if (maskLength != stepMaskLength) maskLength = stepMaskLength;
            if (packedHalves != null) packedHalves = null;
            if (halvesLength != 0) halvesLength = 0;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void RunPart(int part)
        {
            int h = layer!.Units, g = 4 * h, split = packedHalves != null ? PackedSplitPoint(h) : ColumnSplitPoint(h);
            int j0 = part == 0 ? 0 : split, j1 = part == 0 ? split : h, count = j1 - j0;
            var hPrev = new ReadOnlySpan<T>(hidden, batch * h);
            var z = new Span<T>(projection, projectionLength);
            if (packedHalves != null)
            {
                // (S2) z[·, k·H + j] (holding Ax + b) += h_{t−1} · Uᵀ[·, k·H + j] for this half's units: per KC block of H,
                // the block's sums into the scratch rows, then added into z, as the whole-row product adds each block's sums.
                (int offset, int width) = PackedHalf(h, part);
                int groupWidth = width / 4;
                var packed = new ReadOnlySpan<T>(packedHalves, halvesLength).Slice(offset, h * width);
                var products = new Span<T>(halfProducts, productsLength).Slice(part == 0 ? 0 : batch * PackedHalf(h, 0).Width, batch * width);
                for (int pc = 0; pc < h; pc += GemmPacked.KC)
                {
                    int kc = Math.Min(GemmPacked.KC, h - pc);
                    Gemm.MultiplyPacked(Transpose.No, batch, width, kc, T.One, hPrev.Slice(pc), h, packed.Slice(pc * width, kc * width), T.Zero,
                        products, width);
                    for (int bi = 0; bi < batch; bi++)
                        for (int k = 0; k < 4; k++)
                        {
                            Span<T> zPart = z.Slice((bi * time + tIn) * g + k * h + j0, count);
                            TensorPrimitives.Add(zPart, products.Slice(bi * width + k * groupWidth, count), zPart);
                        }
                }
            }
            else
            {
                int f = layer.InputFeatures;
                var x = new ReadOnlySpan<T>(input, batch * time * f);
                // z[·, k·H + j] = b, (S1) += x_t · W[k·H + j, ·], then (S2) += h_{t−1} · U[k·H + j, ·] for this half's units j
                // (W and U as stored, or a packWeightsOnce session's step layout): each element's sums in the order one
                // whole-row product takes. Each half writes b into its own columns, so no core reads lines the other wrote.
                ReadOnlySpan<T> bias = layer.bias!.Value;
                for (int bi = 0; bi < batch; bi++)
                    for (int q = 0; q < 4; q++)
                        bias.Slice(q * h + j0, count).CopyTo(z.Slice((bi * time + tIn) * g + q * h + j0, count));
                // The worker's half with a head start for this step: h_{t−1}·Uᵀ's sums are ready, added as the product adds them.
                bool headStart = part == 1 && GivesHeadStart && Volatile.Read(ref headStartFor) == stepNumber;
                layer.StepProducts(buffers!, batch, x.Slice(tIn * f), time * f, hPrev, h, input: true, recurrent: !headStart, half: part, z.Slice(tIn * g), time * g);
                if (headStart)
                {
                    HeadStartsTaken++;
                    ReadOnlySpan<T> products = buffers!.HeadStartProducts;
                    for (int bi = 0; bi < batch; bi++)
                        for (int q = 0; q < 4; q++)
                        {
                            Span<T> zPart = z.Slice((bi * time + tIn) * g + q * h + j0, count);
                            TensorPrimitives.Add(zPart, products.Slice(bi * g + q * h + j0, count), zPart);
                        }
                }
            }
            Span<float> zf = MemoryMarshal.Cast<T, float>(z), tanhRow = new Span<float>(tanhCell, h);
            for (int bi = 0; bi < batch; bi++)
            {
                Span<float> cRow = new Span<float>((float*)cell + bi * h, h), hNextRow = new Span<float>((float*)hiddenNext + bi * h, h);
                if (maskLength == 0 || mask[bi * time + tIn])
                    LstmGates.ForwardStepColumns(zf.Slice((bi * time + tIn) * g, g), cRow, cRow, tanhRow, hNextRow, h, j0, j1);   // (S4)–(S7)
                else
                    new ReadOnlySpan<float>((float*)hidden + bi * h + j0, count).CopyTo(hNextRow.Slice(j0, count));                // (S9) h carried
            }
            if (part == 0 && GivesHeadStart) Volatile.Write(ref partZeroDone, stepNumber);   // this half of h_t is written: a follow-up may read it
        }
    }
}
