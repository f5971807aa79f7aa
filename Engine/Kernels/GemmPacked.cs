using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

/// <summary>
/// The fast path of <see cref="Gemm"/> for float and double: c += alpha * op(a) * op(b) (beta is applied by the caller).
/// Goto/BLIS scheme: op(b) is packed in KC×NC blocks of NR-wide column slivers, op(a) (times alpha) in MC×KC blocks of
/// MR-row slivers, and an MR×NR register tile (6 × two vectors) accumulates with FMA. All transposes are absorbed by the
/// packing. Pack buffers are per thread ([ThreadStatic], pinned, grown on demand), so steady-state calls do not allocate.
/// Large products are split over two threads (<see cref="PairedWork"/>), each owning a column (or row) half of c, the
/// first done helping the other with its row blocks. Small shapes: b is read in
/// place when packing it would not pay, and a single row has its own kernel (<see cref="SingleRow{T}"/>);
/// <see cref="Choose{T}"/> routes each shape, falling back to the generic path where that is faster.
/// </summary>
internal static unsafe partial class GemmPacked
{
    /// <summary>Rows of the register tile.</summary>
    private const int MR = 6;

    /// <summary>Depth of a packed block: a b-sliver (KC × NR) stays in L1 while the a-slivers stream past it.</summary>
    internal const int KC = 256;

    /// <summary>Rows of a packed a-block (MC × KC), sized to stay in L2.</summary>
    private const int MC = 120;

    /// <summary>Columns of a packed b-block (KC × NC), sized for L3.</summary>
    internal const int NC = 4096;

    /// <summary>Below this many multiply-adds a product stays on the calling thread.</summary>
    internal const long ParallelThreshold = 1L << 21;

    internal enum Width { None, V256, V512 }

    /// <summary>The micro-kernel width (<see cref="ProductWidth"/>: the widest the hardware runs natively); None means use the generic path.</summary>
    internal static readonly Width Best = ProductWidth.Bits switch { 512 => Width.V512, 256 => Width.V256, _ => Width.None };

    /// <summary>
    /// Chooses the generic path or one of these, and whether b is read in place, for a product of the given shape. Thresholds measured on the LSTM shapes (m = 1..64, n = 400..2048, k = 32..512), Vector256, Zen 3 (not re-measured at 512 bits):
    /// <list type="bullet">
    /// <item>one row (not transposed b): <see cref="SingleRow{T}"/> while b fits in L2, else the generic row-axpy, which
    /// streams b contiguously (a 1-row tile of the packed kernel has only two FMA chains and is latency bound).</item>
    /// <item>b transposed, few rows: packing b transposes k×n elements (8×8 in registers for float, scalar for double)
    /// while the generic dot form reads b once; the pack pays from 3 rows (float) or 12 (double).
    /// Both transposed: the generic path is scalar, so always pack.</item>
    /// <item>b read in place (no packing) wins for up to 16 rows, or up to 64 when b is small enough to stay in L2;
    /// beyond that a wide b's rows map onto few cache sets and pages, and packing pays.</item>
    /// </list>
    /// </summary>
    internal static Route Choose<T>(bool transA, bool transB, int m, int n, int k)
    {
        if (Best == Width.None || n < 8 || k < 4) return Route.Generic;
        long bBytes = (long)k * n * Unsafe.SizeOf<T>();
        if (transB) return transA || m >= (typeof(T) == typeof(float) && Avx.IsSupported ? 3 : 12) ? Route.Packed : Route.Generic;
        if (m == 1) return bBytes <= SmallB ? Route.SingleRow : Route.Generic;
        if (m <= 3 && bBytes > SmallB) return Route.Generic;
        return m <= 16 || (m <= 64 && bBytes <= SmallB) ? Route.PackedInPlaceB : Route.Packed;
    }

    internal enum Route { Generic, Packed, PackedInPlaceB, SingleRow }

    /// <summary>Bytes of b below which it stays in L2 when read in place.</summary>
    private const long SmallB = 1L << 20;

    [ThreadStatic] private static byte[]? packABuffer;
    [ThreadStatic] private static byte[]? packBBuffer;

    /// <summary>
    /// c += alpha * op(a) * op(b), or with overwrite c = alpha * op(a) * op(b) (c not read: the beta = 0 product without
    /// clearing c first, the same bits); sizes and strides were checked by the caller. directB: read b in place instead
    /// of packing it; parallel: split over two threads (null: decide by size; tests force each path).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MultiplyAccumulate<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc,
        Width width, bool? directB = null, bool? parallel = null, bool overwrite = false, SharedProduct<T>? share = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (overwrite) for (int r = 0; r < m; r++) c.Slice(r * ldc, n).Clear();
            return;
        }
        if (width == Width.None) throw new ArgumentException("GemmPacked needs a vector width.", nameof(width));
        bool inPlace = directB ?? Choose<T>(transA, transB, m, n, k) == Route.PackedInPlaceB;
        if (inPlace && transB) throw new ArgumentException("b can be read in place only when it is not transposed.", nameof(directB));
        bool split = parallel ?? ((long)m * n * k >= ParallelThreshold && Environment.ProcessorCount >= 2);
        int nr = 2 * (width == Width.V512 ? Vector512<T>.Count : Vector256<T>.Count);

        fixed (T* aPtr = a, bPtr = b, cPtr = c)
        {
            if (!split || (m < 2 * MR && n < 2 * nr))
            {
                Blocked(transA, transB, m, n, k, alpha, aPtr, lda, bPtr, ldb, cPtr, ldc, width, nr, inPlace, overwrite, share: share);
                return;
            }
            MultiplyInTwoHalves(transA, transB, m, n, k, alpha, aPtr, lda, bPtr, ldb, cPtr, ldc, width, nr, inPlace, overwrite);
        }
    }

    /// <summary>
    /// c1 = alpha · op(a1) · b [m1, n] and c2 = alpha · op(a2) · b [m2, n] (stored: beta = 0) with b packed once per block
    /// for both, on the calling thread: two weight gradients of one layer against the same gate gradients. Each element
    /// gets the FMA chain it gets in its own product, so the bits are those of the two products. bColumnSums [n], if not
    /// empty: += each row of b as b is packed (a bias gradient, Σ over the gate gradients' rows), in row order, so the bits
    /// of adding b's rows into it one after the other.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MultiplyStacked<T>(bool transA, int m1, int m2, int n, int k, T alpha, ReadOnlySpan<T> a1, int lda1,
        ReadOnlySpan<T> a2, int lda2, ReadOnlySpan<T> b, int ldb, Span<T> c1, int ldc1, Span<T> c2, int ldc2,
        SharedProduct<T>? share = null, Span<T> bColumnSums = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!bColumnSums.IsEmpty && bColumnSums.Length != n)
            throw new ArgumentException($"GemmPacked.MultiplyStacked: column sums of b need [{n}] values, got {bColumnSums.Length}.", nameof(bColumnSums));
        if (m1 <= 0 || m2 <= 0 || n <= 0 || k <= 0 || Best == Width.None)
            throw new ArgumentException($"GemmPacked.MultiplyStacked: needs positive sizes and a vector width; got m1={m1}, m2={m2}, n={n}, k={k}.");
        int nr = 2 * (Best == Width.V512 ? Vector512<T>.Count : Vector256<T>.Count);
        fixed (T* a1Ptr = a1, a2Ptr = a2, bPtr = b, c1Ptr = c1, c2Ptr = c2, sumsPtr = bColumnSums)
            Blocked(transA, false, m1, n, k, alpha, a1Ptr, lda1, bPtr, ldb, c1Ptr, ldc1, Best, nr, inPlaceB: false, overwrite: true,
                a2Ptr, lda2, m2, c2Ptr, ldc2, share, bColumnSums.IsEmpty ? null : sumsPtr);
    }

    /// <summary>
    /// Two products over halves of c (columns if n ≥ m, else rows), one per core (<see cref="PairedWork"/>); each thread
    /// packs its own operands into its own buffers, and the one done first takes row blocks of the other's packed blocks
    /// (<see cref="SharedProduct{T}"/>), so a core slowed by the host does not hold the product to twice its half's time.
    /// The bits are those of the product on one thread, whoever computes which row block.
    /// </summary>
    private static void MultiplyInTwoHalves<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        T* aPtr, int lda, T* bPtr, int ldb, T* cPtr, int ldc, Width width, int nr, bool inPlaceB, bool overwrite)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool splitColumns = n >= m;
        HalvesJob<T> job = HalvesJob<T>.ForThisThread ??= new HalvesJob<T>();
        job.Set(transA, transB, m, n, k, alpha, aPtr, lda, bPtr, ldb, cPtr, ldc, width, nr, inPlaceB, prepacked: false,
            splitColumns, half: splitColumns ? RoundUp((n + 1) / 2, nr) : RoundUp((m + 1) / 2, MR), overwrite);
        PairedWork.Run(job);
    }

    /// <summary>Row blocks the halves of this thread's split products handed to each other so far (tests read it).</summary>
    internal static long HalvesHelpedBlocks<T>() where T : unmanaged, IFloatingPointIeee754<T> => HalvesJob<T>.ForThisThread?.HelpedBlocks ?? 0;

    /// <summary>Products this thread split in two halves so far, by rows and by columns of c (tests read it to know a
    /// layer's products took the two-core path).</summary>
    internal static (long Rows, long Columns) HalvesSplits<T>() where T : unmanaged, IFloatingPointIeee754<T>
        => HalvesJob<T>.ForThisThread is { } job ? (job.RowSplits, job.ColumnSplits) : (0, 0);

    /// <summary>
    /// The arguments of a product split in two halves of c, as fields so the second half can cross to the worker thread.
    /// One per calling thread ([ThreadStatic], like the pack buffers): a thread has at most one split product in flight,
    /// since the halves themselves never split again.
    /// </summary>
    private sealed class HalvesJob<T> : IPairedJob where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic] internal static HalvesJob<T>? ForThisThread;

        private bool transA, transB, inPlaceB, prepacked, splitColumns, overwrite, readAInPlace, balance;
        private readonly SharedProduct<T> firstShare = new(), secondShare = new();
        private T* addend;
        private int m, n, k, lda, ldb, ldc, nr, half;
        private T alpha;
        private T* a, b, c;
        private Width width;

        internal void Set(bool transA, bool transB, int m, int n, int k, T alpha, T* a, int lda, T* b, int ldb, T* c, int ldc,
            Width width, int nr, bool inPlaceB, bool prepacked, bool splitColumns, int half, bool overwrite = false, T* addend = null,
            bool readAInPlace = false)
        {
            this.overwrite = overwrite; this.addend = addend; this.readAInPlace = readAInPlace;
            this.transA = transA; this.transB = transB; this.m = m; this.n = n; this.k = k; this.alpha = alpha;
            this.a = a; this.lda = lda; this.b = b; this.ldb = ldb; this.c = c; this.ldc = ldc;
            this.width = width; this.nr = nr; this.inPlaceB = inPlaceB; this.prepacked = prepacked; this.splitColumns = splitColumns; this.half = half;
            // Only packed blocks of b can be shared (a b read in place packs its edge tiles as it goes). Prepacked
            // products of at most one row block (a time loop's steps) keep their fixed halves: each core keeps its
            // half of the packed U in its L2 from step to step, and a split moved towards the faster core did not pay
            // (W4 level, sitting 40); larger ones (the projections of all steps) share their row blocks like the rest.
            balance = prepacked ? m > MC : !inPlaceB;
            if (splitColumns) ColumnSplits++; else RowSplits++;
            firstShare.Reset();
            secondShare.Reset();
        }

        /// <summary>Row blocks either half handed to the other thread, over this job's life (tests read it).</summary>
        internal long HelpedBlocks => firstShare.HelpedBlocks + secondShare.HelpedBlocks;

        /// <summary>Products split by rows and by columns of c, over this job's life (tests read them).</summary>
        internal long RowSplits, ColumnSplits;

        public void RunPart(int part)
        {
            int start = part * half, count = Math.Min(splitColumns ? n : m, start + half) - start;
            // Each half runs with its own share, and the thread done first helps the other half (SharedProduct): so when
            // one core is slower than the other, the product takes about as long as both cores' rates allow together
            // instead of twice the slower core's half.
            SharedProduct<T>? own = balance ? (part == 0 ? firstShare : secondShare) : null;
            if (count > 0)
            {
                own?.Start();
                try
                {
                    if (prepacked)
                        BlockedPrepacked(transA, m, n, k, alpha, a, lda, b, c, ldc, width, nr, start, start + count, overwrite, addend, readAInPlace, own);
                    else if (splitColumns)
                        Blocked(transA, transB, m, count, k, alpha, a, lda, transB ? b + (nint)start * ldb : b + start, ldb, c + start, ldc, width, nr, inPlaceB, overwrite, share: own);
                    else
                        Blocked(transA, transB, count, n, k, alpha, transA ? a + start : a + (nint)start * lda, lda, b, ldb, c + (nint)start * ldc, ldc, width, nr, inPlaceB, overwrite, share: own);
                }
                finally
                {
                    own?.Finish();
                }
            }
            if (balance) (part == 0 ? secondShare : firstShare).Help();
        }
    }

    /// <summary>
    /// The valid part [rows, width) of an edge tile computed aside (rows nr apart) into c: stored (store; after the addend
    /// row when there is one, addend + tile) or added (c + tile). Elementwise, so vectors give the bits of the scalar loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreEdgeTile<T>(int rows, int width, T* edgeTile, int nr, T* c, nint ldc, bool store, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < rows; r++)
        {
            T* source = edgeTile + (nint)r * nr, target = c + r * ldc;
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j + Vector256<T>.Count <= width; j += Vector256<T>.Count)
                {
                    Vector256<T> tile = Vector256.Load(source + j);
                    if (!store) tile = Vector256.Load(target + j) + tile;
                    else if (addend != null) tile = Vector256.Load(addend + j) + tile;
                    tile.Store(target + j);
                }
            for (; j < width; j++)
                target[j] = !store ? target[j] + source[j] : addend != null ? addend[j] + source[j] : source[j];
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>
    /// The blocked product (loops jc, pc, ic, jr, ir of the Goto algorithm) on the calling thread. overwrite: the first k
    /// block stores into c instead of adding to it. share: another thread may take some of each packed block's row
    /// blocks (<see cref="SharedProduct{T}"/>); each row block is computed the same way on either thread, and every k block
    /// is finished before the next one starts, so the bits are the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blocked<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        T* a, int lda, T* b, int ldb, T* c, int ldc, Width width, int nr, bool inPlaceB, bool overwrite = false,
        T* a2 = null, int lda2 = 0, int m2 = 0, T* c2 = null, int ldc2 = 0, SharedProduct<T>? share = null, T* bColumnSums = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // bColumnSums [n]: b's rows added in as b is packed (a packed, not transposed b; see PackB).
        if (bColumnSums != null && (inPlaceB || transB)) throw new ArgumentException("GemmPacked: column sums of b need a packed b that is not transposed.");
        // a2, m2, c2: a second product with the same b (MultiplyStacked), its rows after the first's in every packed
        // block of b, so b is packed once for both.
        int kcMax = Math.Min(KC, k), ncMax = Math.Min(NC, n);
        T* aPack = Rent<T>(ref packABuffer, APackLength<T>());
        T* bPack = Rent<T>(ref packBBuffer, (inPlaceB ? nr : RoundUp(ncMax, nr)) * kcMax);
        T* edgeTile = stackalloc T[2 * MR * 32];   // up to 2·MR × NR of a partial tile (NR ≤ 32)
        // A b read in place packs its edge tiles into bPack as it goes, so only a packed b's blocks can be shared.
        if (inPlaceB) share = null;
        int rowBlocks = (m + MC - 1) / MC + (a2 == null ? 0 : (m2 + MC - 1) / MC);

        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                if (!inPlaceB) PackB(transB, b, ldb, pc, kc, jc, nc, nr, bPack, bColumnSums);
                var block = new PackedBlock<T>
                {
                    TransA = transA, Width = width, Nr = nr, Alpha = alpha, Jc = jc, Nc = nc, Pc = pc, Kc = kc,
                    Store = overwrite && pc == 0, InPlaceB = inPlaceB, B = b, Ldb = ldb, BPack = bPack,
                    A = a, Lda = lda, M = m, C = c, Ldc = ldc, A2 = a2, Lda2 = lda2, M2 = m2, C2 = c2, Ldc2 = ldc2,
                };
                if (share is not null && rowBlocks > 1) share.Run(in block, rowBlocks, aPack, edgeTile);
                else for (int index = 0; index < rowBlocks; index++) RowBlock(in block, index, aPack, edgeTile);
            }
        }
    }

    /// <summary>
    /// One packed block of b (k block pc, column block jc) and what every row block of a needs to be multiplied by it:
    /// the arguments of <see cref="RowBlock{T}"/>, as one value so a helping thread can take them.
    /// </summary>
    internal struct PackedBlock<T> where T : unmanaged
    {
        public bool TransA, Store, InPlaceB;
        /// <summary>The full tiles read a's rows as stored (<see cref="Kernel512InPlaceA{T}"/>; 512 bits, a not transposed, alpha = 1; a pre-packed b).</summary>
        public bool InPlaceA;
        public Width Width;
        public int Nr, Jc, Nc, Pc, Kc, Ldb, Lda, M, Ldc, Lda2, M2, Ldc2;
        public T Alpha;
        public T* B, BPack, A, C, A2, C2;
        /// <summary>With Store: the row every row of c starts from, at column Jc (or null: zeros).</summary>
        public T* Addend;
    }

    /// <summary>
    /// Row block index of a packed block (the first product's MC-row blocks, then the second's): a packed into aPack (or,
    /// with InPlaceA, read as stored and packed only for an edge tile), then every tile of its rows against the packed b.
    /// edgeTile: [2·MR × 32] scratch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowBlock<T>(in PackedBlock<T> block, int index, T* aPack, T* edgeTile)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int firstBlocks = (block.M + MC - 1) / MC;
        bool second = index >= firstBlocks;
        int rowsOf = second ? block.M2 : block.M, ic = (second ? index - firstBlocks : index) * MC;
        T* aOf = second ? block.A2 : block.A, cOf = second ? block.C2 : block.C;
        int ldaOf = second ? block.Lda2 : block.Lda, ldcOf = second ? block.Ldc2 : block.Ldc;
        int mc = Math.Min(MC, rowsOf - ic), nr = block.Nr, kc = block.Kc, nc = block.Nc, jc = block.Jc, pc = block.Pc;
        bool store = block.Store;
        T* addend = block.Addend;
        // Read in place, a is packed only when the block meets an edge tile (the edge kernels take packed slivers).
        bool aPacked = !block.InPlaceA;
        if (aPacked) PackA(block.TransA, aOf, ldaOf, ic, mc, pc, kc, block.Alpha, aPack);
        for (int jr = 0; jr < nc; jr += nr)
        {
            int tileWidth = Math.Min(nr, nc - jr);
            T* bSliver;
            nint bStride;
            if (!block.InPlaceB) { bSliver = block.BPack + (nint)(jr / nr) * kc * nr; bStride = nr; }
            else if (tileWidth == nr) { bSliver = block.B + (nint)pc * block.Ldb + jc + jr; bStride = block.Ldb; }
            else { PackB(false, block.B, block.Ldb, pc, kc, jc + jr, tileWidth, nr, block.BPack); bSliver = block.BPack; bStride = nr; }
            if (tileWidth < nr && !aPacked)
            {
                PackA(block.TransA, aOf, ldaOf, ic, mc, pc, kc, block.Alpha, aPack);
                aPacked = true;
            }

            for (int ir = 0; ir < mc; ir += MR)
            {
                int rows = Math.Min(MR, mc - ir);
                T* aSliver = aPack + (nint)(ir / MR) * kc * MR;
                T* cTile = cOf + (nint)(ic + ir) * ldcOf + jc + jr;
                if (tileWidth == nr)
                {
                    T* rowAddend = store && addend != null ? addend + jr : null;
                    if (block.InPlaceA) Kernel512InPlaceA(rows, kc, aOf + (nint)(ic + ir) * ldaOf + pc, ldaOf, bSliver, bStride, cTile, ldcOf, store, rowAddend);
                    else Kernel(block.Width, rows, kc, aSliver, bSliver, bStride, cTile, ldcOf, store, rowAddend);
                    continue;
                }
                // Right edge: compute the tile aside (its first vector only if that holds it), then add (or
                // store) its valid columns.
                if (2 * tileWidth <= nr)
                {
                    rows = EdgeKernel(block.Width, rows, mc - ir, kc, aSliver, bSliver, bStride, edgeTile, nr);
                    ir += rows - Math.Min(MR, rows);
                }
                else Kernel(block.Width, rows, kc, aSliver, bSliver, bStride, edgeTile, nr, overwrite: true);
                StoreEdgeTile(rows, tileWidth, edgeTile, nr, cTile, ldcOf, store, addend != null ? addend + jr : null);
            }
        }
    }

    /// <summary>
    /// A helping thread's row block: a packed into this thread's own buffer (the owner's is in use).
    /// </summary>
    internal static void HelperRowBlock<T>(in PackedBlock<T> block, int index)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T* aPack = Rent<T>(ref packABuffer, APackLength<T>());
        T* edgeTile = stackalloc T[2 * MR * 32];
        RowBlock(in block, index, aPack, edgeTile);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel<T>(Width width, int rows, int kc, T* a, T* b, nint bStride, T* c, nint ldc, bool overwrite = false, T* addend = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (width == Width.V512) Kernel512(rows, kc, a, b, bStride, c, ldc, overwrite, addend);
        else Kernel256(rows, kc, a, b, bStride, c, ldc, overwrite, addend);
    }

    /// <summary>
    /// The single-row product c[0, :] += alpha · a(0, :) · b with b not transposed (an LSTM step at batch 1). A 6-row
    /// tile would hold only two FMA chains here, and the generic row-axpy loads and stores c for every step; this keeps
    /// up to 8 vectors of c in registers across all of k and reads each b row segment once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void SingleRow<T>(bool transA, int n, int k, T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint aStep = transA ? lda : 1;
        int w = Vector256<T>.Count;
        fixed (T* aPtr = a, bPtr = b, cPtr = c)
        {
            int j = 0;
            for (; j + 8 * w <= n; j += 8 * w) SingleRowBlock<T, Count8>(k, alpha, aPtr, aStep, bPtr + j, ldb, cPtr + j);
            switch ((n - j) / w)
            {
                case 7: SingleRowBlock<T, Count7>(k, alpha, aPtr, aStep, bPtr + j, ldb, cPtr + j); break;
                case 6: SingleRowBlock<T, Count6>(k, alpha, aPtr, aStep, bPtr + j, ldb, cPtr + j); break;
                case 5: SingleRowBlock<T, Count5>(k, alpha, aPtr, aStep, bPtr + j, ldb, cPtr + j); break;
                case 4: SingleRowBlock<T, Count4>(k, alpha, aPtr, aStep, bPtr + j, ldb, cPtr + j); break;
                case 3: SingleRowBlock<T, Count3>(k, alpha, aPtr, aStep, bPtr + j, ldb, cPtr + j); break;
                case 2: SingleRowBlock<T, Count2>(k, alpha, aPtr, aStep, bPtr + j, ldb, cPtr + j); break;
                case 1: SingleRowBlock<T, Count1>(k, alpha, aPtr, aStep, bPtr + j, ldb, cPtr + j); break;
            }
            j += (n - j) / w * w;
            for (; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++) sum += aPtr[p * aStep] * bPtr[(nint)p * ldb + j];
                cPtr[j] += alpha * sum;
            }
        }
    }

    /// <summary>c[0 .. TCount·w) += alpha · Σ_p a[p·aStep] · b[p·ldb + (0 .. TCount·w)], w = Vector256&lt;T&gt;.Count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SingleRowBlock<T, TCount>(int k, T alpha, T* a, nint aStep, T* b, nint ldb, T* c)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCount : struct, ICount
    {
        nint w = Vector256<T>.Count;
        Vector256<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int p = 0; p < k; p++)
        {
            Vector256<T> s = Vector256.Create(a[p * aStep]);
            c0 = Fma(s, Vector256.Load(b), c0);
            if (TCount.Value > 1) c1 = Fma(s, Vector256.Load(b + w), c1);
            if (TCount.Value > 2) c2 = Fma(s, Vector256.Load(b + 2 * w), c2);
            if (TCount.Value > 3) c3 = Fma(s, Vector256.Load(b + 3 * w), c3);
            if (TCount.Value > 4) c4 = Fma(s, Vector256.Load(b + 4 * w), c4);
            if (TCount.Value > 5) c5 = Fma(s, Vector256.Load(b + 5 * w), c5);
            if (TCount.Value > 6) c6 = Fma(s, Vector256.Load(b + 6 * w), c6);
            if (TCount.Value > 7) c7 = Fma(s, Vector256.Load(b + 7 * w), c7);
            b += ldb;
        }
        Vector256<T> scale = Vector256.Create(alpha);
        Vector256.Store(Fma(scale, c0, Vector256.Load(c)), c);
        if (TCount.Value > 1) Vector256.Store(Fma(scale, c1, Vector256.Load(c + w)), c + w);
        if (TCount.Value > 2) Vector256.Store(Fma(scale, c2, Vector256.Load(c + 2 * w)), c + 2 * w);
        if (TCount.Value > 3) Vector256.Store(Fma(scale, c3, Vector256.Load(c + 3 * w)), c + 3 * w);
        if (TCount.Value > 4) Vector256.Store(Fma(scale, c4, Vector256.Load(c + 4 * w)), c + 4 * w);
        if (TCount.Value > 5) Vector256.Store(Fma(scale, c5, Vector256.Load(c + 5 * w)), c + 5 * w);
        if (TCount.Value > 6) Vector256.Store(Fma(scale, c6, Vector256.Load(c + 6 * w)), c + 6 * w);
        if (TCount.Value > 7) Vector256.Store(Fma(scale, c7, Vector256.Load(c + 7 * w)), c + 7 * w);
    }

    /// <summary>
    /// Packs alpha * op(a)[row0 .. row0+mc, p0 .. p0+kc) into MR-row slivers: sliver t holds, for each step p, the MR
    /// values of rows row0 + t·MR + (0..MR) (rows past mc are never read by the kernel, so they are left as they are).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA<T>(bool transA, T* a, int lda, int row0, int mc, int p0, int kc, T alpha, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ir = 0;
        if (transA && typeof(T) == typeof(float) && Avx.IsSupported && mc >= MR)
        {
            PackASliversTransposed((float*)a + (nint)p0 * lda + row0, lda, kc, mc / MR, float.CreateTruncating(alpha), (float*)dst);
            ir = mc / MR * MR;
        }
        for (; ir < mc; ir += MR)
        {
            int rows = Math.Min(MR, mc - ir);
            T* sliver = dst + (nint)(ir / MR) * kc * MR;
            if (!transA && typeof(T) == typeof(float) && rows == MR && Avx.IsSupported)
            {
                PackASliver((float*)a + (nint)(row0 + ir) * lda + p0, lda, kc, float.CreateTruncating(alpha), (float*)sliver);
                continue;
            }
            if (!transA)
            {
                for (int r = 0; r < rows; r++)
                {
                    T* src = a + (nint)(row0 + ir + r) * lda + p0;
                    for (int p = 0; p < kc; p++) sliver[p * MR + r] = alpha * src[p];
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    T* src = a + (nint)(p0 + p) * lda + row0 + ir;
                    for (int r = 0; r < rows; r++) sliver[p * MR + r] = alpha * src[r];
                }
            }
        }
    }

    /// <summary>
    /// One full float a-sliver from rows stored along p (a not transposed): sliver[p·6 + r] = scale · src[r·lda + p].
    /// Eight steps at a time by an 8×8 register transpose of the six rows and two zero rows; step j's eight lanes are
    /// stored at p·6 with the two extra lanes overwritten by step j + 1, and the block's last step stores six lanes,
    /// so nothing is written past the sliver. The same products as the scalar loop, so the same values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackASliver(float* src, int lda, int kc, float scale, float* sliver)
    {
        System.Diagnostics.Debug.Assert(MR == 6);
        Vector256<float> factor = Vector256.Create(scale), zero = Vector256<float>.Zero;
        int p = 0;
        for (; p + 8 <= kc; p += 8)
        {
            float* s = src + p;
            Vector256<float> r0 = Avx.LoadVector256(s) * factor, r1 = Avx.LoadVector256(s + lda) * factor,
                r2 = Avx.LoadVector256(s + 2 * (nint)lda) * factor, r3 = Avx.LoadVector256(s + 3 * (nint)lda) * factor,
                r4 = Avx.LoadVector256(s + 4 * (nint)lda) * factor, r5 = Avx.LoadVector256(s + 5 * (nint)lda) * factor;
            Transpose8x8(r0, r1, r2, r3, r4, r5, zero, zero, out var c0, out var c1, out var c2, out var c3, out var c4, out var c5, out var c6, out var last);
            float* d = sliver + (nint)p * MR;
            Avx.Store(d, c0);
            Avx.Store(d + MR, c1);
            Avx.Store(d + 2 * MR, c2);
            Avx.Store(d + 3 * MR, c3);
            Avx.Store(d + 4 * MR, c4);
            Avx.Store(d + 5 * MR, c5);
            Avx.Store(d + 6 * MR, c6);
            last.GetLower().Store(d + 7 * MR);
            *(double*)(d + 7 * MR + 4) = last.GetUpper().AsDouble().ToScalar();
        }
        for (; p < kc; p++)
            for (int r = 0; r < MR; r++) sliver[p * MR + r] = scale * src[(nint)r * lda + p];
    }

    /// <summary>
    /// The first <paramref name="slivers"/> full float a-slivers from a transposed a (the rows of op(a) lie side by side
    /// in each stored row): sliver t gets sliver[p·6 + r] = scale · src[p·lda + 6t + r], a four-lane and a two-lane copy
    /// per step. Row by row, so each stored row is read once, front to back (sliver by sliver read every row once per
    /// sliver, at a stride of lda).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackASliversTransposed(float* src, int lda, int kc, int slivers, float scale, float* dst)
    {
        System.Diagnostics.Debug.Assert(MR == 6);
        Vector128<float> factor = Vector128.Create(scale);
        Vector256<float> wideFactor = Vector256.Create(scale);
        nint sliverLength = (nint)kc * MR;
        for (int p = 0; p < kc; p++)
        {
            float* s = src + (nint)p * lda;
            float* d = dst + p * MR;
            int t = 0;
            // Eight lanes for six: the two extra lanes read the next sliver's first two values of this row (so not for the
            // last sliver, whose next two may lie past a) and land on step p + 1's first two places of this sliver, which
            // step p + 1 overwrites (so not for the last step, whose next two places are the next sliver's first). One
            // load, multiply and store for six values instead of three each: 7.8 % of a W1 training step went here.
            if (p + 1 < kc)
                for (; t + 1 < slivers; t++, s += MR, d += sliverLength)
                    (Vector256.Load(s) * wideFactor).Store(d);
            for (; t < slivers; t++, s += MR, d += sliverLength)
            {
                (Vector128.Load(s) * factor).Store(d);
                d[4] = scale * s[4];
                d[5] = scale * s[5];
            }
        }
    }

    /// <summary>
    /// Packs op(b)[p0 .. p0+kc, col0 .. col0+nc) into nr-wide column slivers: sliver s holds, for each step p, the nr
    /// values of columns col0 + s·nr + (0..nr), zero beyond nc.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB<T>(bool transB, T* b, int ldb, int p0, int kc, int col0, int nc, int nr, T* dst, T* columnSums = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!transB)
        {
            // Row by row: each stored row of b is read once, front to back, and its nr-wide pieces go to their slivers.
            // (Sliver by sliver read every row nc/nr times, one cache line each time, at a stride of ldb: 3–4× slower
            // on a [3200, 200] operand that is not in cache.) With columnSums, each row is also added into
            // columnSums[col0 + j] as it passes: for each column the rows in order, the sum a pass over b's rows gives.
            nint sliverLength = (nint)kc * nr;
            int full = nc / nr * nr;
            T* sums = columnSums == null ? null : columnSums + col0;
            for (int p = 0; p < kc; p++)
            {
                T* src = b + (nint)(p0 + p) * ldb + col0;
                T* row = dst + (nint)p * nr;
                int jr = 0;
                for (; jr < full; jr += nr, row += sliverLength)
                    for (int j = 0; j < nr; j += Vector256<T>.Count)
                    {
                        Vector256<T> value = Vector256.Load(src + jr + j);
                        Vector256.Store(value, row + j);
                        if (sums != null) Vector256.Store(Vector256.Load(sums + jr + j) + value, sums + jr + j);
                    }
                if (jr < nc)
                {
                    int cols = nc - jr;
                    for (int j = 0; j < cols; j++) row[j] = src[jr + j];
                    for (int j = cols; j < nr; j++) row[j] = T.Zero;
                    if (sums != null) for (int j = 0; j < cols; j++) sums[jr + j] += src[jr + j];
                }
            }
            return;
        }
        if (columnSums != null) throw new ArgumentException("GemmPacked.PackB: column sums only for a b that is not transposed.", nameof(columnSums));
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            T* sliver = dst + (nint)(jr / nr) * kc * nr;
            int done = 0;
            if (typeof(T) == typeof(float) && Avx.IsSupported)
            {
                // Whole 8×8 blocks by register transposes; the ragged rest below, element by element.
                int fullCols = cols & ~7, fullSteps = kc & ~7;
                for (int j = 0; j < fullCols; j += 8)
                    for (int p = 0; p < fullSteps; p += 8)
                        Transpose8x8((float*)(b + (nint)(col0 + jr + j) * ldb + p0 + p), ldb, (float*)(sliver + (nint)p * nr + j), nr);
                for (int j = 0; j < fullCols; j++)
                {
                    T* src = b + (nint)(col0 + jr + j) * ldb + p0;
                    for (int p = fullSteps; p < kc; p++) sliver[(nint)p * nr + j] = src[p];
                }
                done = fullCols;
            }
            for (int j = done; j < cols; j++)
            {
                T* src = b + (nint)(col0 + jr + j) * ldb + p0;
                for (int p = 0; p < kc; p++) sliver[(nint)p * nr + j] = src[p];
            }
            if (cols < nr)
                for (int p = 0; p < kc; p++)
                    for (int j = cols; j < nr; j++) sliver[(nint)p * nr + j] = T.Zero;
        }
    }

    /// <summary>dst[p·dstStride + j] = src[j·srcStride + p] for an 8×8 float block (the unpack/shuffle/permute transpose).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // a call per 8 × 8 block was 2 % of a W1 profile
    private static void Transpose8x8(float* src, int srcStride, float* dst, int dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + srcStride),
            r2 = Avx.LoadVector256(src + 2 * srcStride), r3 = Avx.LoadVector256(src + 3 * srcStride),
            r4 = Avx.LoadVector256(src + 4 * srcStride), r5 = Avx.LoadVector256(src + 5 * srcStride),
            r6 = Avx.LoadVector256(src + 6 * srcStride), r7 = Avx.LoadVector256(src + 7 * srcStride);
        Transpose8x8(r0, r1, r2, r3, r4, r5, r6, r7, out var c0, out var c1, out var c2, out var c3, out var c4, out var c5, out var c6, out var c7);
        Avx.Store(dst, c0);
        Avx.Store(dst + dstStride, c1);
        Avx.Store(dst + 2 * dstStride, c2);
        Avx.Store(dst + 3 * dstStride, c3);
        Avx.Store(dst + 4 * dstStride, c4);
        Avx.Store(dst + 5 * dstStride, c5);
        Avx.Store(dst + 6 * dstStride, c6);
        Avx.Store(dst + 7 * dstStride, c7);
    }

    /// <summary>The register transpose: column j of the eight rows r0…r7 comes out as cj (unpack, shuffle, permute).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7,
        out Vector256<float> c0, out Vector256<float> c1, out Vector256<float> c2, out Vector256<float> c3,
        out Vector256<float> c4, out Vector256<float> c5, out Vector256<float> c6, out Vector256<float> c7)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3),
            t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE),
            u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        c0 = Avx.Permute2x128(u0, u4, 0x20); c1 = Avx.Permute2x128(u1, u5, 0x20); c2 = Avx.Permute2x128(u2, u6, 0x20); c3 = Avx.Permute2x128(u3, u7, 0x20);
        c4 = Avx.Permute2x128(u0, u4, 0x31); c5 = Avx.Permute2x128(u1, u5, 0x31); c6 = Avx.Permute2x128(u2, u6, 0x31); c7 = Avx.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>
    /// The a-pack buffer is always rented at its largest (MC × KC), so a thread that has run one product never grows it
    /// again: a core that starts helping another's product mid-training (SharedProduct) allocates nothing.
    /// </summary>
    private static int APackLength<T>() => RoundUp(MC, MR) * KC;

    /// <summary>
    /// A 64-byte aligned pointer into this thread's buffer of at least <paramref name="length"/> elements, grown on demand.
    /// The buffer lives on the pinned object heap, so the pointer stays valid while the thread uses it.
    /// </summary>
    private static T* Rent<T>(ref byte[]? buffer, int length) where T : unmanaged
    {
        int bytes = length * sizeof(T) + 64;
        if (buffer is null || buffer.Length < bytes)
            buffer = GC.AllocateUninitializedArray<byte>(Math.Max(bytes, (buffer?.Length ?? 0) * 2), pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (T*)((start + 63) & ~(nint)63);
    }
}
