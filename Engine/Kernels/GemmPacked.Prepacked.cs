using System.Runtime.Intrinsics;

namespace NumLstm.Kernels;

// Products with op(b) packed once and reused: an LSTM multiplies by the same recurrent weights at every time step, so
// packing them per step (what Multiply does) costs as much as the product itself at small batch sizes.
internal static unsafe partial class GemmPacked
{
    /// <summary>Whether T has the packed layout (float and double with a vector width); otherwise op(b) is kept row-major.</summary>
    internal static bool HasPackedLayout<T>() => Best != Width.None && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    internal static int SliverWidth<T>() => 2 * (Best == Width.V512 ? Vector512<T>.Count : Vector256<T>.Count);

    /// <summary>Elements a pre-packed op(b) of k × n takes: n rounded up to the sliver width, times k (k × n when not packed).</summary>
    internal static int PackedLength<T>(int k, int n) => HasPackedLayout<T>() ? RoundUp(n, SliverWidth<T>()) * k : k * n;

    /// <summary>
    /// Packs the whole op(b) (k × n) as <see cref="Blocked{T}"/> would pack it block by block: the (jc, pc) block
    /// (NC columns × KC steps, in slivers of nr columns) starts at jc·k + pc·roundUp(nc, nr).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackWhole<T>(bool transB, int k, int n, ReadOnlySpan<T> b, int ldb, Span<T> packed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!HasPackedLayout<T>())
        {
            for (int p = 0; p < k; p++)
                for (int j = 0; j < n; j++) packed[p * n + j] = transB ? b[j * ldb + p] : b[p * ldb + j];
            return;
        }
        int nr = SliverWidth<T>();
        fixed (T* bPtr = b, dst = packed)
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc = 0; pc < k; pc += KC)
                    PackB(transB, bPtr, ldb, pc, Math.Min(KC, k - pc), jc, nc, nr, dst + (nint)jc * k + (nint)pc * RoundUp(nc, nr));
            }
        }
    }

    /// <summary>Whether <see cref="InterleaveForSingleRow{T}"/> applies: the packed layout and a vector width for the one-row loops.</summary>
    internal static bool HasSingleRowLayout<T>() => HasPackedLayout<T>() && Best != Width.None;

    /// <summary>Elements of the scratch <see cref="InterleaveForSingleRow{T}"/> needs for a k-deep packed b: one group of four slivers of one KC block.</summary>
    internal static int SingleRowScratchLength<T>(int k) => HasSingleRowLayout<T>() ? 4 * SliverWidth<T>() * Math.Min(k, KC) : 0;

    /// <summary>
    /// Turns a b packed by <see cref="PackWhole{T}"/> (k × n) into the layout a batch-1 product reads as one stream: in
    /// each (jc, pc) block, each group of four whole slivers that <see cref="SingleRowPrepacked{T}"/> takes together
    /// holds, step by step, the four slivers' nr values side by side (group + p·4nr + i·nr + j instead of
    /// group + i·kc·nr + p·nr + j); the slivers after the last whole group stay as they were. The same values in the
    /// same space, so each sum is the same; only <see cref="MultiplyPrepacked{T}"/> with singleRowLayout (one row of a)
    /// reads it. Why: the four slivers read side by side are four streams 25–32 KB apart, which this machine's L2 feeds
    /// at 145 GB/s against 210 GB/s for one stream (a 200 × 800 b, 4.4 µs against 3.05, docs/performance.md, sitting 29).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void InterleaveForSingleRow<T>(int k, int n, Span<T> packed, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!HasSingleRowLayout<T>()) throw new InvalidOperationException("InterleaveForSingleRow needs the packed layout and a vector width.");
        int nr = SliverWidth<T>();
        if (packed.Length < PackedLength<T>(k, n))
            throw new ArgumentException($"InterleaveForSingleRow: a packed b of k={k}, n={n} takes {PackedLength<T>(k, n)} elements, got {packed.Length}.", nameof(packed));
        if (scratch.Length < SingleRowScratchLength<T>(k))
            throw new ArgumentException($"InterleaveForSingleRow: the scratch needs {SingleRowScratchLength<T>(k)} elements, got {scratch.Length}.", nameof(scratch));
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc), groupLength = 4 * kc * nr;
                int block = jc * k + pc * RoundUp(nc, nr);
                for (int jr = 0; jr + 4 * nr <= nc; jr += 4 * nr)
                {
                    Span<T> group = packed.Slice(block + jr * kc, groupLength);
                    group.CopyTo(scratch);
                    fixed (T* from = scratch, to = group)
                    {
                        // each step's nr values of a sliver are two vectors (nr is twice the vector width)
                        T* target = to;
                        for (int p = 0; p < kc; p++)
                            for (int i = 0; i < 4; i++, target += nr)
                            {
                                T* source = from + (nint)i * kc * nr + (nint)p * nr;
                                if (Best == Width.V512)
                                {
                                    Vector512.Store(Vector512.Load(source), target);
                                    Vector512.Store(Vector512.Load(source + nr / 2), target + nr / 2);
                                }
                                else
                                {
                                    Vector256.Store(Vector256.Load(source), target);
                                    Vector256.Store(Vector256.Load(source + nr / 2), target + nr / 2);
                                }
                            }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs groups of columns of op(b) = bᵀ (b stored [n, k], its rows the columns) side by side as one packed k × n'
    /// matrix: group g holds the columns g·groupStride + col0 + (0..count), padded with zero columns to a whole sliver
    /// (n' = groups · roundUp(count, nr) ≤ NC). The layout is <see cref="PackWhole{T}"/>'s for that n', so each KC block
    /// of it, [pc·n', (pc + kc)·n'), is itself a packed kc × n' matrix.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackColumnGroups<T>(int k, ReadOnlySpan<T> b, int ldb, int groups, int groupStride, int col0, int count, Span<T> packed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = SliverWidth<T>(), groupWidth = RoundUp(count, nr), width = groups * groupWidth;
        if (!HasPackedLayout<T>() || width > NC) throw new InvalidOperationException($"PackColumnGroups needs the packed layout and n' ≤ {NC}, got n' = {width}.");
        if (packed.Length < k * width) throw new ArgumentException($"PackColumnGroups: the packed span needs {k * width} elements, got {packed.Length}.", nameof(packed));
        if (b.Length < ((groups - 1) * groupStride + col0 + count - 1) * ldb + k)
            throw new ArgumentException($"PackColumnGroups: b has {b.Length} values, too few for {groups} groups of {count} rows of {k}.", nameof(b));
        fixed (T* bPtr = b, dst = packed)
        {
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                for (int g = 0; g < groups; g++)
                    PackB(true, bPtr + (nint)(g * groupStride + col0) * ldb, ldb, pc, kc, 0, count, nr, dst + (nint)pc * width + (nint)g * kc * groupWidth);
            }
        }
    }

    /// <summary>
    /// c += alpha · op(a) · B with B packed by <see cref="PackWhole{T}"/>; beta was applied by the caller, or with
    /// overwrite c = alpha · op(a) · B without reading c (beta = 0; the bits of adding into a cleared c). parallel: the
    /// columns are split in two halves (at a sliver boundary), one per thread, and above one row block of a the thread
    /// done first takes row blocks of the other's half (<see cref="SharedProduct{T}"/>); each column is computed exactly
    /// as on one thread, so the result does not depend on the split.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MultiplyPrepacked<T>(bool transA, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> packed, Span<T> c, int ldc, bool parallel, bool overwrite = false, ReadOnlySpan<T> rowAddend = default,
        bool singleRowLayout = false, bool readAInPlace = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0) return;
        if (singleRowLayout && (m != 1 || !HasSingleRowLayout<T>()))
            throw new ArgumentException($"GemmPacked: a b packed for single rows (InterleaveForSingleRow) takes one row of a at a time with a vector width, got m={m}.", nameof(m));
        // rowAddend (with overwrite): every row of c starts from it instead of zeros.
        if (k == 0 || (overwrite && !HasPackedLayout<T>()))
        {
            if (overwrite)
                for (int r = 0; r < m; r++)
                {
                    if (rowAddend.IsEmpty) c.Slice(r * ldc, n).Clear();
                    else rowAddend.Slice(0, n).CopyTo(c.Slice(r * ldc, n));
                }
            if (k == 0) return;
            overwrite = false;
        }
        if (!HasPackedLayout<T>())
        {
            Gemm.MultiplyAccumulateGeneric(transA ? Transpose.Yes : Transpose.No, Transpose.No, m, n, k, alpha, a, lda, packed, n, c, ldc);
            return;
        }
        int nr = SliverWidth<T>();
        fixed (T* aPtr = a, bPtr = packed, cPtr = c, addendPtr = rowAddend)
        {
            T* addend = overwrite && !rowAddend.IsEmpty ? addendPtr : null;
            if (m == 1 && Best != Width.None)
            {
                SingleRowPrepacked(transA ? lda : 1, n, k, alpha, aPtr, bPtr, cPtr, nr, overwrite, addend, singleRowLayout);
                return;
            }
            if (!parallel || n < 2 * nr || (long)m * n * k < ParallelThreshold)
            {
                BlockedPrepacked(transA, m, n, k, alpha, aPtr, lda, bPtr, cPtr, ldc, Best, nr, 0, n, overwrite, addend, readAInPlace);
                return;
            }
            PrepackedInTwoHalves(transA, m, n, k, alpha, aPtr, lda, bPtr, cPtr, ldc, nr, overwrite, addend, readAInPlace);
        }
    }

    private static void PrepackedInTwoHalves<T>(bool transA, int m, int n, int k, T alpha, T* aPtr, int lda, T* bPtr, T* cPtr, int ldc, int nr,
        bool overwrite, T* addend, bool readAInPlace)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        HalvesJob<T> job = HalvesJob<T>.ForThisThread ??= new HalvesJob<T>();
        job.Set(transA, transB: false, m, n, k, alpha, aPtr, lda, bPtr, 0, cPtr, ldc, Best, nr, inPlaceB: false, prepacked: true,
            splitColumns: true, half: RoundUp((n + 1) / 2, nr), overwrite, addend, readAInPlace);
        PairedWork.Run(job);
    }

    /// <summary>
    /// The shortest k block whose a the prepacked product reads in place (<see cref="Kernel512InPlaceA{T}"/>) rather than
    /// packing it. Measured on one core, alternated (Zen 5, AVX-512): m = 3,200, n = 800 at k = 200 and 400 took 1–4 %
    /// less in place (the packing's share); k = 64–128 and the step products (m = 32–64) were level; at k = 32 in place
    /// was 2–5 % slower (six row streams for eight passes of four steps).
    /// </summary>
    private const int InPlaceAMinimumDepth = 64;

    /// <summary>
    /// Set on a thread whose last <see cref="SliversOuterInPlaceA{T}"/> walked its slivers first to last, so that its next
    /// one walks them last to first. Only the order of the tiles depends on it, never a bit of the result.
    /// </summary>
    [ThreadStatic] private static bool walkSliversBackward;

    /// <summary>The calling thread's next direction (for tests).</summary>
    internal static bool WalkSliversBackward => walkSliversBackward;

    /// <summary>
    /// <see cref="BlockedPrepacked{T}"/> for a product of at most MC rows (a batch's step, as h·Uᵀ and dA·U in the time
    /// loops) whose columns [j0, j1) are whole slivers and whose k blocks are all read in place: one sliver of b at a time,
    /// through all its k blocks in order, then the next. A thread walks its slivers in the opposite direction from its
    /// previous call, so what that call read last, and what is still in its L2 when its part of b is larger than
    /// the L2 (LSTM(512)'s packed U is 4 MB, 2 MB a core), is read first. On the Intel machine (2 MB of L2 a core),
    /// alternated call by call with the blocked loops in one process: W4's step products on two threads 4–7 % less
    /// time (m × n × k = 32 × 2048 × 512 and 32 × 512 × 2048), the 64 × 800 × 200 step 1.8 % less, W4's whole step
    /// 0.3–2.7 % less (medians of paired steps in three runs), W1, W2 and W2b level (docs/performance.md, sitting 39).
    /// Each tile's FMAs and their order are those of the blocked loops, k block after k block, so the bits are the same
    /// (GemmInPlaceATests).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SliversOuterInPlaceA<T>(int m, int k, T* a, int lda, T* packed, int paddedN, T* c, int ldc, int nr, int j0, int j1,
        bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool backward = walkSliversBackward;
        walkSliversBackward = !backward;
        int slivers = (j1 - j0) / nr;
        for (int s = 0; s < slivers; s++)
            SliverInPlaceA(m, k, a, lda, packed, paddedN, c, ldc, nr, j0 + (backward ? slivers - 1 - s : s) * nr, overwrite, addend);
    }

    /// <summary>The columns [jr, jr + nr) of <see cref="SliversOuterInPlaceA{T}"/>: one sliver of b through all its k blocks in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SliverInPlaceA<T>(int m, int k, T* a, int lda, T* packed, int paddedN, T* c, int ldc, int nr, int jr, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int pc = 0; pc < k; pc += KC)
        {
            int kc = Math.Min(KC, k - pc);
            bool store = overwrite && pc == 0;
            T* bSliver = packed + (nint)pc * paddedN + (nint)(jr / nr) * kc * nr;
            T* rowAddend = store && addend != null ? addend + jr : null;
            for (int ir = 0; ir < m; ir += MR)
                Kernel512InPlaceA(Math.Min(MR, m - ir), kc, a + (nint)ir * lda + pc, lda, bSliver, nr, c + (nint)ir * ldc + jr, ldc, store, rowAddend);
        }
    }

    /// <summary>
    /// Whether <see cref="MultiplyClaimedSlivers{T}"/> takes an m × n × k product: the sliver walk of
    /// <see cref="SliversOuterInPlaceA{T}"/> (512 bits, at most MC rows, every k block read in place) over whole slivers.
    /// </summary>
    internal static bool CanClaimSlivers<T>(int m, int n, int k) where T : unmanaged, IFloatingPointIeee754<T>
        => HasPackedLayout<T>() && Best == Width.V512 && m >= 1 && m <= MC && n > 0 && n <= NC && n % SliverWidth<T>() == 0
            && EveryKBlockInPlace(k);

    /// <summary>Whether every k block of a depth-k product is deep enough to read a in place (the sliver walk's condition).</summary>
    private static bool EveryKBlockInPlace(int k) => k >= InPlaceAMinimumDepth && (k % KC == 0 || k % KC >= InPlaceAMinimumDepth);

    /// <summary>
    /// One thread's part of c += a · B (a [m, k] as stored, B packed by <see cref="PackWhole{T}"/>, c [m, n]) split over two
    /// threads by slivers of b (<see cref="SliverClaims"/>): this part's own half first, from the end its walk starts at,
    /// then what is left of the other half, from the far end. Each sliver goes through all its k blocks on the thread that
    /// claimed it, with the FMAs of <see cref="SliversOuterInPlaceA{T}"/>, so the bits are the product's on one thread.
    /// Needs <see cref="CanClaimSlivers{T}"/>; claims were reset for n / nr slivers before the parts started.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MultiplyClaimedSlivers<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> packed, Span<T> c, int ldc,
        SliverClaims claims, int part)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!CanClaimSlivers<T>(m, n, k))
            throw new ArgumentException($"GemmPacked.MultiplyClaimedSlivers: needs 512 bits, 1 ≤ m ≤ {MC}, n ≤ {NC} whole slivers of {SliverWidth<T>()} and k ≥ {InPlaceAMinimumDepth}; got m={m}, n={n}, k={k}.");
        if (a.Length < (m - 1) * lda + k || packed.Length < k * n || c.Length < (m - 1) * ldc + n)
            throw new ArgumentException($"GemmPacked.MultiplyClaimedSlivers: a ({a.Length} values), packed ({packed.Length}) or c ({c.Length}) too short for m={m}, n={n}, k={k}.");
        int nr = SliverWidth<T>();
        if (claims.Slivers != n / nr) throw new InvalidOperationException($"GemmPacked.MultiplyClaimedSlivers: the claims were reset for {claims.Slivers} slivers, the product has {n / nr}.");
        fixed (T* aPtr = a, bPtr = packed, cPtr = c)
        {
            while (claims.TryClaimOwn(part, out int sliver)) SliverInPlaceA(m, k, aPtr, lda, bPtr, n, cPtr, ldc, nr, sliver * nr, false, null);
            while (claims.TrySteal(part, out int sliver)) SliverInPlaceA(m, k, aPtr, lda, bPtr, n, cPtr, ldc, nr, sliver * nr, false, null);
        }
    }

    /// <summary>
    /// The blocked loops of <see cref="Blocked{T}"/> over the columns [j0, j1) of c (j0 a multiple of nr), b already packed.
    /// readAInPlace: where it pays (512 bits, a not transposed, alpha = 1, a k block of at least InPlaceAMinimumDepth) the
    /// full tiles read a's rows as stored; a block is packed only when it meets an edge tile (the edge kernels take packed
    /// slivers). The FMAs are the same, so are the bits. A step-sized product read so takes <see cref="SliversOuterInPlaceA{T}"/>.
    /// Each row block goes through <see cref="RowBlock{T}"/> with the slivers [j0, j1) of the packed block as its b; with
    /// a share, the other thread may take some of them (the same bits).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BlockedPrepacked<T>(bool transA, int m, int n, int k, T alpha, T* a, int lda, T* packed, T* c, int ldc,
        Width width, int nr, int j0, int j1, bool overwrite = false, T* addend = null, bool readAInPlace = false, SharedProduct<T>? share = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool inPlaceA = readAInPlace && !transA && width == Width.V512 && alpha == T.One;
        if (inPlaceA && m <= MC && n <= NC && (j1 - j0) % nr == 0 && EveryKBlockInPlace(k))
        {
            SliversOuterInPlaceA(m, k, a, lda, packed, RoundUp(n, nr), c, ldc, nr, j0, j1, overwrite, addend);
            return;
        }
        T* aPack = Rent<T>(ref packABuffer, APackLength<T>());
        T* edgeTile = stackalloc T[2 * MR * 32];
        int rowBlocks = (m + MC - 1) / MC;
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            int lo = Math.Max(j0, jc) - jc, hi = Math.Min(j1, jc + nc) - jc;
            if (lo >= hi) continue;
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                bool store = overwrite && pc == 0;
                // This part's slivers [lo, hi) of the packed block (jc, pc), as one block of hi − lo columns from jc + lo.
                var block = new PackedBlock<T>
                {
                    TransA = transA, Width = width, Nr = nr, Alpha = alpha, Jc = jc + lo, Nc = hi - lo, Pc = pc, Kc = kc, Store = store,
                    BPack = packed + (nint)jc * k + (nint)pc * RoundUp(nc, nr) + (nint)(lo / nr) * kc * nr,
                    A = a, Lda = lda, M = m, C = c, Ldc = ldc, InPlaceA = inPlaceA && kc >= InPlaceAMinimumDepth,
                    Addend = store && addend != null ? addend + jc + lo : null,
                };
                if (share is not null && rowBlocks > 1) share.Run(in block, rowBlocks, aPack, edgeTile);
                else for (int index = 0; index < rowBlocks; index++) RowBlock(in block, index, aPack, edgeTile);
            }
        }
    }

    /// <summary>
    /// The product for one row of a (a batch-1 step): a 1-row tile of <see cref="Kernel256{T}"/> or
    /// <see cref="Kernel512{T}"/> has two FMA chains and waits on their latency, so four slivers go at once (eight
    /// chains; at 512 bits the 1-row tile took a W3-sized product 2.5 µs against 1.7 µs this way on an AVX-512 machine). Every element is summed exactly as the
    /// micro-kernel sums it — alpha·a(0, p) times the packed b, one FMA chain per KC block, then added to c — so a row
    /// computed alone equals the same row computed inside a larger product, bit for bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SingleRowPrepacked<T>(nint aStep, int n, int k, T alpha, T* a, T* packed, T* c, int nr, bool overwrite, T* addend = null,
        bool interleaved = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // interleaved: the four slivers of each group lie step by step side by side (InterleaveForSingleRow), so the
        // group is one stream; otherwise one after another, four streams a sliver apart.
        T* edge = stackalloc T[64];   // one partial sliver (nr ≤ 32 floats), room for the 512-bit stores
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                bool store = overwrite && pc == 0;
                T* block = packed + (nint)jc * k + (nint)pc * RoundUp(nc, nr);
                T* aBlock = a + pc * aStep;
                int jr = 0;
                for (; jr + 4 * nr <= nc; jr += 4 * nr)
                {
                    T* slivers = block + (nint)(jr / nr) * kc * nr, rowAddend = store && addend != null ? addend + jc + jr : null;
                    if (interleaved)
                    {
                        int rest = nc - (jr + 4 * nr);
                        if (Best == Width.V512 && rest > 0 && rest <= nr)
                        {
                            // The last group with the one sliver after it, ten FMA chains in one loop: that sliver alone
                            // has two, and waits on their latency (4 % of a W2 call).
                            T* extra = block + (nint)(jr / nr + 4) * kc * nr;
                            bool whole = rest == nr;
                            int extraColumn = jc + jr + 4 * nr;
                            RowGroupInterleavedAndSliver512(kc, alpha, aBlock, aStep, slivers, c + jc + jr, store, rowAddend, extra,
                                whole ? c + extraColumn : edge, whole ? store : true, whole && store && addend != null ? addend + extraColumn : null);
                            if (!whole)
                                for (int j = 0; j < rest; j++)
                                {
                                    if (store) c[extraColumn + j] = addend != null ? addend[extraColumn + j] + edge[j] : edge[j];
                                    else c[extraColumn + j] += edge[j];
                                }
                            jr = nc;
                            break;
                        }
                        if (Best == Width.V512) RowGroupInterleaved512(kc, alpha, aBlock, aStep, slivers, c + jc + jr, store, rowAddend);
                        else RowGroupInterleaved(kc, alpha, aBlock, aStep, slivers, c + jc + jr, store, rowAddend);
                    }
                    else if (Best == Width.V512) RowFourSlivers512(kc, alpha, aBlock, aStep, slivers, (nint)kc * nr, c + jc + jr, store, rowAddend);
                    else RowFourSlivers(kc, alpha, aBlock, aStep, slivers, (nint)kc * nr, c + jc + jr, store, rowAddend);
                }
                for (; jr < nc; jr += nr)
                {
                    int tileWidth = Math.Min(nr, nc - jr);
                    T* sliver = block + (nint)(jr / nr) * kc * nr;
                    if (tileWidth == nr)
                    {
                        T* rowAddend = store && addend != null ? addend + jc + jr : null;
                        if (Best == Width.V512) RowOneSliver512(kc, alpha, aBlock, aStep, sliver, c + jc + jr, store, rowAddend);
                        else RowOneSliver(kc, alpha, aBlock, aStep, sliver, c + jc + jr, store, rowAddend);
                        continue;
                    }
                    if (Best == Width.V512) RowOneSliver512(kc, alpha, aBlock, aStep, sliver, edge, overwrite: true);
                    else RowOneSliver(kc, alpha, aBlock, aStep, sliver, edge, overwrite: true);
                    for (int j = 0; j < tileWidth; j++)
                    {
                        if (store) c[jc + jr + j] = addend != null ? addend[jc + jr + j] + edge[j] : edge[j];
                        else c[jc + jr + j] += edge[j];
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowFourSlivers<T>(int kc, T alpha, T* a, nint aStep, T* b, nint sliverStride, T* c, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint w = Vector256<T>.Count, nr = 2 * w;
        T* b1 = b + sliverStride, b2 = b1 + sliverStride, b3 = b2 + sliverStride;
        Vector256<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<T> s = Vector256.Create(alpha * a[p * aStep]);
            nint o = p * nr;
            c0 = Fma(s, Vector256.Load(b + o), c0); c1 = Fma(s, Vector256.Load(b + o + w), c1);
            c2 = Fma(s, Vector256.Load(b1 + o), c2); c3 = Fma(s, Vector256.Load(b1 + o + w), c3);
            c4 = Fma(s, Vector256.Load(b2 + o), c4); c5 = Fma(s, Vector256.Load(b2 + o + w), c5);
            c6 = Fma(s, Vector256.Load(b3 + o), c6); c7 = Fma(s, Vector256.Load(b3 + o + w), c7);
        }
        Store256(c, w, c0, c1, overwrite, addend);
        Store256(c + nr, w, c2, c3, overwrite, addend == null ? null : addend + nr);
        Store256(c + 2 * nr, w, c4, c5, overwrite, addend == null ? null : addend + 2 * nr);
        Store256(c + 3 * nr, w, c6, c7, overwrite, addend == null ? null : addend + 3 * nr);
    }

    // RowFourSlivers over a group in the batch-1 layout (InterleaveForSingleRow): the same sums, read as one stream of
    // 4·nr values a step, from one pointer that moves on (four pointers a sliver apart, reading the same addresses, took
    // about 1.6 times as long here: 5.9 µs against 3.7 for a 200 × 800 b, in the same minutes).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowGroupInterleaved<T>(int kc, T alpha, T* a, nint aStep, T* b, T* c, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint w = Vector256<T>.Count, nr = 2 * w;
        Vector256<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int p = 0; p < kc; p++, b += 4 * nr)
        {
            Vector256<T> s = Vector256.Create(alpha * a[p * aStep]);
            c0 = Fma(s, Vector256.Load(b), c0); c1 = Fma(s, Vector256.Load(b + w), c1);
            c2 = Fma(s, Vector256.Load(b + 2 * w), c2); c3 = Fma(s, Vector256.Load(b + 3 * w), c3);
            c4 = Fma(s, Vector256.Load(b + 4 * w), c4); c5 = Fma(s, Vector256.Load(b + 5 * w), c5);
            c6 = Fma(s, Vector256.Load(b + 6 * w), c6); c7 = Fma(s, Vector256.Load(b + 7 * w), c7);
        }
        Store256(c, w, c0, c1, overwrite, addend);
        Store256(c + nr, w, c2, c3, overwrite, addend == null ? null : addend + nr);
        Store256(c + 2 * nr, w, c4, c5, overwrite, addend == null ? null : addend + 2 * nr);
        Store256(c + 3 * nr, w, c6, c7, overwrite, addend == null ? null : addend + 3 * nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowGroupInterleaved512<T>(int kc, T alpha, T* a, nint aStep, T* b, T* c, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint w = Vector512<T>.Count, nr = 2 * w;
        Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int p = 0; p < kc; p++, b += 4 * nr)
        {
            Vector512<T> s = Vector512.Create(alpha * a[p * aStep]);
            c0 = Fma(s, Vector512.Load(b), c0); c1 = Fma(s, Vector512.Load(b + w), c1);
            c2 = Fma(s, Vector512.Load(b + 2 * w), c2); c3 = Fma(s, Vector512.Load(b + 3 * w), c3);
            c4 = Fma(s, Vector512.Load(b + 4 * w), c4); c5 = Fma(s, Vector512.Load(b + 5 * w), c5);
            c6 = Fma(s, Vector512.Load(b + 6 * w), c6); c7 = Fma(s, Vector512.Load(b + 7 * w), c7);
        }
        Store512(c, w, c0, c1, overwrite, addend);
        Store512(c + nr, w, c2, c3, overwrite, addend == null ? null : addend + nr);
        Store512(c + 2 * nr, w, c4, c5, overwrite, addend == null ? null : addend + 2 * nr);
        Store512(c + 3 * nr, w, c6, c7, overwrite, addend == null ? null : addend + 3 * nr);
    }

    // RowGroupInterleaved512 and RowOneSliver512 over the sliver after the group (plain layout) in one loop: each sum as
    // each of them takes it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowGroupInterleavedAndSliver512<T>(int kc, T alpha, T* a, nint aStep, T* b, T* c, bool overwrite, T* addend,
        T* extra, T* extraC, bool extraOverwrite, T* extraAddend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint w = Vector512<T>.Count, nr = 2 * w;
        Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        Vector512<T> e0 = default, e1 = default;
        for (int p = 0; p < kc; p++, b += 4 * nr, extra += nr)
        {
            Vector512<T> s = Vector512.Create(alpha * a[p * aStep]);
            c0 = Fma(s, Vector512.Load(b), c0); c1 = Fma(s, Vector512.Load(b + w), c1);
            c2 = Fma(s, Vector512.Load(b + 2 * w), c2); c3 = Fma(s, Vector512.Load(b + 3 * w), c3);
            c4 = Fma(s, Vector512.Load(b + 4 * w), c4); c5 = Fma(s, Vector512.Load(b + 5 * w), c5);
            c6 = Fma(s, Vector512.Load(b + 6 * w), c6); c7 = Fma(s, Vector512.Load(b + 7 * w), c7);
            e0 = Fma(s, Vector512.Load(extra), e0); e1 = Fma(s, Vector512.Load(extra + w), e1);
        }
        Store512(c, w, c0, c1, overwrite, addend);
        Store512(c + nr, w, c2, c3, overwrite, addend == null ? null : addend + nr);
        Store512(c + 2 * nr, w, c4, c5, overwrite, addend == null ? null : addend + 2 * nr);
        Store512(c + 3 * nr, w, c6, c7, overwrite, addend == null ? null : addend + 3 * nr);
        Store512(extraC, w, e0, e1, extraOverwrite, extraAddend);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowOneSliver<T>(int kc, T alpha, T* a, nint aStep, T* b, T* c, bool overwrite, T* addend = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint w = Vector256<T>.Count;
        Vector256<T> c0 = default, c1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<T> s = Vector256.Create(alpha * a[p * aStep]);
            c0 = Fma(s, Vector256.Load(b), c0);
            c1 = Fma(s, Vector256.Load(b + w), c1);
            b += 2 * w;
        }
        Store256(c, w, c0, c1, overwrite, addend);
    }

    // The same two loops at 512 bits (Kernel512's 1-row tile, summed as it sums): edit both widths alike.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowFourSlivers512<T>(int kc, T alpha, T* a, nint aStep, T* b, nint sliverStride, T* c, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint w = Vector512<T>.Count, nr = 2 * w;
        T* b1 = b + sliverStride, b2 = b1 + sliverStride, b3 = b2 + sliverStride;
        Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<T> s = Vector512.Create(alpha * a[p * aStep]);
            nint o = p * nr;
            c0 = Fma(s, Vector512.Load(b + o), c0); c1 = Fma(s, Vector512.Load(b + o + w), c1);
            c2 = Fma(s, Vector512.Load(b1 + o), c2); c3 = Fma(s, Vector512.Load(b1 + o + w), c3);
            c4 = Fma(s, Vector512.Load(b2 + o), c4); c5 = Fma(s, Vector512.Load(b2 + o + w), c5);
            c6 = Fma(s, Vector512.Load(b3 + o), c6); c7 = Fma(s, Vector512.Load(b3 + o + w), c7);
        }
        Store512(c, w, c0, c1, overwrite, addend);
        Store512(c + nr, w, c2, c3, overwrite, addend == null ? null : addend + nr);
        Store512(c + 2 * nr, w, c4, c5, overwrite, addend == null ? null : addend + 2 * nr);
        Store512(c + 3 * nr, w, c6, c7, overwrite, addend == null ? null : addend + 3 * nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowOneSliver512<T>(int kc, T alpha, T* a, nint aStep, T* b, T* c, bool overwrite, T* addend = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nint w = Vector512<T>.Count;
        Vector512<T> c0 = default, c1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<T> s = Vector512.Create(alpha * a[p * aStep]);
            c0 = Fma(s, Vector512.Load(b), c0);
            c1 = Fma(s, Vector512.Load(b + w), c1);
            b += 2 * w;
        }
        Store512(c, w, c0, c1, overwrite, addend);
    }
}
