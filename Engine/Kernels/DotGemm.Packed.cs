using System.Runtime.Intrinsics;

namespace NumLstm.Kernels;

// The same product, c += a · bᵀ, with b [n, k] kept in a row-interleaved copy made once (PackRows): per block of eight
// rows of b, each vector-wide chunk of k of the eight rows side by side, so the batch-1 GEMV reads b as one sequential
// stream instead of eight rows at once: on this machine's L2, 2.6 µs instead of 3.6 µs for a 512 × 128 U. Every sum is
// taken in DotGemm's order (the same chunks, the same overlapping tail chunk with its counted lanes of a and b zeroed, the
// same horizontal sum), so the result is bitwise that of MultiplyAddTransposed on the original b.
//
// Layout, w the vector width MultiplyAddTransposed takes for this k (Vector512 or Vector256 lanes): chunk q of k starts
// at p_q = q·w, except a last partial chunk, which starts at k − w; block j (rows 8j … 8j + 7, rows past n zero) holds
// chunk 0 of its eight rows, then chunk 1, …: element (8j + r, p_q + i) at j·8·chunks·w + (q·8 + r)·w + i. Where that
// product takes its scalar path (k below one vector, or no SIMD) a block holds its eight rows column by column: element
// (8j + r, p) at j·8·k + p·8 + r, so the eight rows' p-th values are one vector and a row of a times a float block is
// k multiplies and adds on eight lanes (each lane the scalar path's running sum, in its order).
//
// A group call (MultiplyAddPackedGroups) takes several such copies stored one after another, each into its own
// columns of c: an LSTM half-step's four gate blocks in one pass over one stream.
public static partial class DotGemm
{
    /// <summary>Rows of b interleaved per block of the packed layout.</summary>
    public const int PackedBlockRows = 8;

    /// <summary>Elements a packed copy of b [n, k] takes (<see cref="PackRows{T}"/>).</summary>
    public static int PackedLength<T>(int n, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n < 0 || k < 0) throw new ArgumentException($"DotGemm: sizes must be non-negative, got n={n}, k={k}.");
        return checked((n + PackedBlockRows - 1) / PackedBlockRows * BlockLength<T>(k));
    }

    /// <summary>
    /// Where row <paramref name="row"/> (a multiple of <see cref="PackedBlockRows"/>) starts in a packed copy of b
    /// [n, k]: the packed copy of rows [row, n) is the rest of it, so a product over those rows can take that slice.
    /// </summary>
    public static int PackedRowOffset<T>(int row, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (row < 0 || row % PackedBlockRows != 0)
            throw new ArgumentException($"DotGemm: a packed copy can be entered at a multiple of {PackedBlockRows} rows, got row {row}.", nameof(row));
        return checked(row / PackedBlockRows * BlockLength<T>(k));
    }

    /// <summary>Copies b [n, k] (row stride ldb) into the packed layout <see cref="MultiplyAddPacked{T}"/> reads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRows<T>(int n, int k, ReadOnlySpan<T> b, int ldb, Span<T> packed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = PackedLength<T>(n, k);
        Check(nameof(b), b.Length, n, k, ldb);
        if (packed.Length < length)
            throw new ArgumentException($"DotGemm: a packed copy of b [{n}, {k}] takes {length} elements, but the span has {packed.Length}.", nameof(packed));
        if (k == 0) return;
        int width = ChunkWidth<T>(k), chunk = width == 0 ? k : width, chunks = Chunks(k, chunk), index = 0;
        if (width == 0)
        {
            // the scalar path's blocks: column by column, rows past n zero
            for (int j0 = 0; j0 < n; j0 += PackedBlockRows)
                for (int p = 0; p < k; p++)
                    for (int r = 0; r < PackedBlockRows; r++, index++)
                        packed[index] = j0 + r < n ? b[(j0 + r) * ldb + p] : T.Zero;
            return;
        }
        for (int j0 = 0; j0 < n; j0 += PackedBlockRows)
            for (int q = 0; q < chunks; q++)
            {
                int p = Math.Min(q * chunk, k - chunk);   // the last partial chunk overlaps the one before, as in the product
                for (int r = 0; r < PackedBlockRows; r++, index += chunk)
                {
                    Span<T> target = packed.Slice(index, chunk);
                    if (j0 + r < n) b.Slice((j0 + r) * ldb + p, chunk).CopyTo(target);
                    else target.Clear();
                    // The partial chunk's lanes already counted hold zeros, as the product zeroes b's there (a zeroed
                    // lane of a times an ∞ or NaN would be NaN where the sum has no such term).
                    target.Slice(0, q * chunk - p).Clear();
                }
            }
    }

    /// <summary>
    /// c[r, j] += Σ_p a[r·lda + p] · b[j, p] for r &lt; m, j &lt; n, p &lt; k, with b given as its packed copy
    /// (<see cref="PackRows{T}"/> of the same n and k, or a slice of one from <see cref="PackedRowOffset{T}"/>): bitwise
    /// what <see cref="MultiplyAddTransposed{T}"/> gives on b itself.
    /// </summary>
    public static void MultiplyAddPacked<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> packedB, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        => MultiplyAddPackedGroups(m, 1, n, k, a, lda, packedB, c, ldc, 0);

    /// <summary>
    /// For each group g &lt; groups: c[r, g·groupColumns + j] += Σ_p a[r·lda + p] · b_g[j, p] (r &lt; m, j &lt; n), where
    /// packed holds the packed copies of b_0 … b_{groups−1} [n, k] one after another (each <see cref="PackedLength{T}"/>
    /// long): several products over the same a in one call and one stream, each bitwise as
    /// <see cref="MultiplyAddTransposed{T}"/> gives it.
    /// </summary>
    internal static void MultiplyAddPackedGroups<T>(int m, int groups, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> packed,
        Span<T> c, int ldc, int groupColumns)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0 || groups < 1) throw new ArgumentException($"DotGemm: sizes must be non-negative (groups positive), got m={m}, n={n}, k={k}, groups={groups}.");
        if (groups > 1 && groupColumns < n)
            throw new ArgumentException($"DotGemm: groups of {n} columns must lie {n} or more columns apart in c, got {groupColumns}.", nameof(groupColumns));
        Check(nameof(a), a.Length, m, k, lda);
        long length = (long)groups * PackedLength<T>(n, k);
        if (packed.Length < length)
            throw new ArgumentException(groups == 1
                ? $"DotGemm: a packed b [{n}, {k}] takes {length} elements, but the span has {packed.Length}."
                : $"DotGemm: {groups} packed b [{n}, {k}] take {length} elements, but the span has {packed.Length}.", nameof(packed));
        Check(nameof(c), c.Length, m, (groups - 1) * groupColumns + n, ldc);
        if (m == 0 || n == 0 || k == 0) return;
        int width = ChunkWidth<T>(k);
        ref T packed0 = ref MemoryMarshal.GetReference(packed);
        if (width == 0) ScalarBlocks(m, groups, n, k, a, lda, ref packed0, c, ldc, groupColumns);
        else if (width == Vector512<T>.Count && ProductWidth.Bits == 512) PackedBlocks<T, V512<T>, Vector512<T>>(m, groups, n, k, a, lda, ref packed0, c, ldc, groupColumns);
        else PackedBlocks<T, V256<T>, Vector256<T>>(m, groups, n, k, a, lda, ref packed0, c, ldc, groupColumns);
    }

    // The vector width MultiplyAddTransposed takes for this k (its dispatch, in its order), or 0 for its scalar path.
    private static int ChunkWidth<T>(int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ProductWidth.Bits == 512 && Vector512<T>.IsSupported && k >= Vector512<T>.Count) return Vector512<T>.Count;
        if (ProductWidth.Bits >= 256 && Vector256<T>.IsSupported && k >= Vector256<T>.Count) return Vector256<T>.Count;
        return 0;
    }

    private static int Chunks(int k, int width) => (k + width - 1) / width;

    // One block: 8 rows × (chunks × w), or 8 rows × k on the scalar path.
    private static int BlockLength<T>(int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = ChunkWidth<T>(k);
        return width == 0 ? checked(PackedBlockRows * k) : checked(PackedBlockRows * Chunks(k, width) * width);
    }

    // Per block of eight rows (in L1 while every row of a passes), group after group: BlockRow for each row of a.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackedBlocks<T, TOps, TVec>(int m, int groups, int n, int k, ReadOnlySpan<T> a, int lda, ref T packed, Span<T> c, int ldc,
        int groupColumns)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOps : struct, IVectorOps<TVec, T>
        where TVec : struct
    {
        ref T a0 = ref MemoryMarshal.GetReference(a);
        ref T c0 = ref MemoryMarshal.GetReference(c);
        TVec tailMask = TOps.TailMask(k % TOps.Count);
        int block = BlockLength<T>(k);
        ref T b = ref packed;
        for (int g = 0; g < groups; g++)
        {
            ref T cGroup = ref Unsafe.Add(ref c0, g * groupColumns);
            for (int j = 0; j < n; j += PackedBlockRows)
            {
                int valid = Math.Min(PackedBlockRows, n - j);
                for (int r = 0; r < m; r++)
                    BlockRow<T, TOps, TVec>(ref Unsafe.Add(ref a0, r * lda), k, tailMask, ref b, ref Unsafe.Add(ref cGroup, r * ldc + j), valid);
                b = ref Unsafe.Add(ref b, block);
            }
        }
    }

    // c[i] += Σ_p a[p] · b_i[p] for the block's valid rows i: eight sums a chunk at a time, then AddSums8 (each sum in
    // Sum's order), or Sum of each valid row in a last, partial block.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BlockRow<T, TOps, TVec>(ref T aRow, int k, TVec tailMask, ref T block, ref T cRow, int valid)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOps : struct, IVectorOps<TVec, T>
        where TVec : struct
    {
        int width = TOps.Count, full = k - k % width;
        ref T b = ref block;
        TVec s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int p = 0; p < full; p += width)
        {
            TVec x = TOps.Load(ref aRow, p);
            s0 = TOps.Fma(x, TOps.Load(ref b, 0), s0);
            s1 = TOps.Fma(x, TOps.Load(ref b, width), s1);
            s2 = TOps.Fma(x, TOps.Load(ref b, 2 * width), s2);
            s3 = TOps.Fma(x, TOps.Load(ref b, 3 * width), s3);
            s4 = TOps.Fma(x, TOps.Load(ref b, 4 * width), s4);
            s5 = TOps.Fma(x, TOps.Load(ref b, 5 * width), s5);
            s6 = TOps.Fma(x, TOps.Load(ref b, 6 * width), s6);
            s7 = TOps.Fma(x, TOps.Load(ref b, 7 * width), s7);
            b = ref Unsafe.Add(ref b, PackedBlockRows * width);
        }
        // The tail chunk written out again rather than folded into the loop with a mask on every chunk (as Block4x4
        // does): the masked loop measured 2–3 % slower on a W3 half-step (1.89 → 1.90–1.95 µs).
        if (full != k)
        {
            TVec x = TOps.And(TOps.Load(ref aRow, k - width), tailMask);   // the tail chunk, its counted lanes zeroed
            s0 = TOps.Fma(x, TOps.Load(ref b, 0), s0);
            s1 = TOps.Fma(x, TOps.Load(ref b, width), s1);
            s2 = TOps.Fma(x, TOps.Load(ref b, 2 * width), s2);
            s3 = TOps.Fma(x, TOps.Load(ref b, 3 * width), s3);
            s4 = TOps.Fma(x, TOps.Load(ref b, 4 * width), s4);
            s5 = TOps.Fma(x, TOps.Load(ref b, 5 * width), s5);
            s6 = TOps.Fma(x, TOps.Load(ref b, 6 * width), s6);
            s7 = TOps.Fma(x, TOps.Load(ref b, 7 * width), s7);
        }
        if (valid == PackedBlockRows)
        {
            TOps.AddSums8(ref cRow, s0, s1, s2, s3, s4, s5, s6, s7);
            return;
        }
        cRow += TOps.Sum(s0);
        if (valid > 1) Unsafe.Add(ref cRow, 1) += TOps.Sum(s1);
        if (valid > 2) Unsafe.Add(ref cRow, 2) += TOps.Sum(s2);
        if (valid > 3) Unsafe.Add(ref cRow, 3) += TOps.Sum(s3);
        if (valid > 4) Unsafe.Add(ref cRow, 4) += TOps.Sum(s4);
        if (valid > 5) Unsafe.Add(ref cRow, 5) += TOps.Sum(s5);
        if (valid > 6) Unsafe.Add(ref cRow, 6) += TOps.Sum(s6);
    }

    // The scalar path's sums (Scalar's order: one running sum along k, a multiply then an add per term, then added into
    // c). A float block's eight rows run as the eight lanes of one vector (the same operations on each lane); otherwise
    // row by row over the block's columns.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScalarBlocks<T>(int m, int groups, int n, int k, ReadOnlySpan<T> a, int lda, ref T packed, Span<T> c, int ldc, int groupColumns)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int groupLength = PackedLength<T>(n, k), block = PackedBlockRows * k;
        bool lanes = typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated;
        for (int g = 0; g < groups; g++)
            for (int j0 = 0; j0 < n; j0 += PackedBlockRows)
            {
                ref T b = ref Unsafe.Add(ref packed, g * groupLength + j0 / PackedBlockRows * block);
                int valid = Math.Min(PackedBlockRows, n - j0);
                for (int r = 0; r < m; r++)
                {
                    ReadOnlySpan<T> aRow = a.Slice(r * lda, k);
                    Span<T> cRow = c.Slice(r * ldc + g * groupColumns + j0, valid);
                    if (lanes)
                    {
                        ref float bf = ref Unsafe.As<T, float>(ref b);
                        ReadOnlySpan<float> af = MemoryMarshal.Cast<T, float>(aRow);
                        Vector256<float> sums = Vector256<float>.Zero;
                        for (int p = 0; p < k; p++) sums += Vector256.Create(af[p]) * Vector256.LoadUnsafe(ref bf, (nuint)(p * PackedBlockRows));
                        Span<float> cf = MemoryMarshal.Cast<T, float>(cRow);
                        if (valid == PackedBlockRows) (Vector256.Create((ReadOnlySpan<float>)cf) + sums).CopyTo(cf);
                        else
                            for (int i = 0; i < valid; i++) cf[i] += sums.GetElement(i);
                        continue;
                    }
                    for (int i = 0; i < valid; i++)
                    {
                        T sum = T.Zero;
                        for (int p = 0; p < k; p++) sum += aRow[p] * Unsafe.Add(ref b, p * PackedBlockRows + i);
                        cRow[i] += sum;
                    }
                }
            }
    }
}
