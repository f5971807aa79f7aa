using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

// The same product, c += a · bᵀ, for a short k (a streaming step's x · Wᵀ, k = the input features), from a copy of b made
// once in a column layout: per block of 16 rows of b, per chunk q of k, per lane l of the chunk, the 16 rows' values at
// column p_q + l side by side (one 64-byte vector). Each of the 16 lanes' partial sums of MultiplyAddTransposed then
// becomes one vector holding that lane's partial sum for 16 rows at once (the same fused multiply-adds, in the same
// order), and its horizontal sum becomes 15 vertical adds in the same tree ((x0 + x4) + (x1 + x5)) + ((x2 + x6) +
// (x3 + x7)) with x_i = lane i + lane i + 8: the result is bitwise what the row-interleaved layout (PackRows) and the
// product over b as stored give. For k = 32 the row-interleaved product spends more on its eight-sum reductions (about
// 41 instructions, most of them shuffles, per 8 rows and 16 lines of b) than on reading b; this one reads 16 lines
// per 16 rows with 15 adds and no shuffles (docs/performance.md, sitting 33).
//
// Layout, k's chunks as in the row-interleaved layout (chunk q starts at p_q = q·16, a last partial one at k − 16):
// element (16j + jj, p_q + l) at j·16·chunks·16 + (q·16 + l)·16 + jj; rows past n zero.
public static partial class DotGemm
{
    /// <summary>Rows of b per block of the column layout.</summary>
    internal const int ColumnBlockRows = 16;

    /// <summary>Longest k the column layout takes (two chunks); longer rows keep the row-interleaved layout, whose reductions they amortize.</summary>
    internal const int ColumnLayoutMaxK = 32;

    /// <summary>
    /// Whether <see cref="MultiplyAddColumnPackedGroups{T}"/> serves this k here: float, the 512-bit chunks
    /// MultiplyAddTransposed takes on AVX-512 hardware (the order the column product reproduces), and 16 ≤ k ≤
    /// <see cref="ColumnLayoutMaxK"/>. Fixed for the process, so a copy packed in the layout is always read by the product
    /// that expects it.
    /// </summary>
    internal static bool UsesColumnLayout<T>(int k) where T : unmanaged, IFloatingPointIeee754<T>
        => typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx2.IsSupported
           && ChunkWidth<T>(k) == Vector512<float>.Count && k <= ColumnLayoutMaxK;

    /// <summary>Elements a column-layout copy of b [n, k] takes.</summary>
    internal static int ColumnPackedLength<T>(int n, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n < 0 || k < 0) throw new ArgumentException($"DotGemm: sizes must be non-negative, got n={n}, k={k}.");
        if (!UsesColumnLayout<T>(k))
            throw new ArgumentException($"DotGemm: the column layout takes float rows of 16 to {ColumnLayoutMaxK} values on AVX-512 hardware, got k={k} ({typeof(T).Name}).", nameof(k));
        return checked((n + ColumnBlockRows - 1) / ColumnBlockRows * ColumnBlockRows * Chunks(k, ColumnBlockRows) * ColumnBlockRows);
    }

    /// <summary>Copies b [n, k] (row stride ldb) into the column layout <see cref="MultiplyAddColumnPackedGroups{T}"/> reads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackColumns<T>(int n, int k, ReadOnlySpan<T> b, int ldb, Span<T> packed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = ColumnPackedLength<T>(n, k);
        Check(nameof(b), b.Length, n, k, ldb);
        if (packed.Length < length)
            throw new ArgumentException($"DotGemm: a column-layout copy of b [{n}, {k}] takes {length} elements, but the span has {packed.Length}.", nameof(packed));
        const int w = ColumnBlockRows;
        int chunks = Chunks(k, w), index = 0;
        for (int j0 = 0; j0 < n; j0 += w)
            for (int q = 0; q < chunks; q++)
            {
                int p = Math.Min(q * w, k - w);   // the last partial chunk overlaps the one before, as in the product
                // Its lanes already counted (p + l below q·w) hold zeros, as the product zeroes b's there: a zeroed
                // lane of a times an ∞ or NaN would be NaN where the sum has no such term.
                for (int l = 0; l < w; l++)
                    for (int jj = 0; jj < w; jj++, index++)
                        packed[index] = j0 + jj < n && p + l >= q * w ? b[(j0 + jj) * ldb + p + l] : T.Zero;
            }
    }

    /// <summary>
    /// <see cref="MultiplyAddPackedGroups{T}"/> over copies in the column layout (<see cref="PackColumns{T}"/>, each
    /// <see cref="ColumnPackedLength{T}"/> long, one after another): for each group g, c[r, g·groupColumns + j] +=
    /// Σ_p a[r·lda + p] · b_g[j, p], bitwise as <see cref="MultiplyAddTransposed{T}"/> gives it.
    /// </summary>
    internal static void MultiplyAddColumnPackedGroups<T>(int m, int groups, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> packed,
        Span<T> c, int ldc, int groupColumns)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || groups < 1) throw new ArgumentException($"DotGemm: sizes must be non-negative (groups positive), got m={m}, n={n}, k={k}, groups={groups}.");
        if (groups > 1 && groupColumns < n)
            throw new ArgumentException($"DotGemm: groups of {n} columns must lie {n} or more columns apart in c, got {groupColumns}.", nameof(groupColumns));
        Check(nameof(a), a.Length, m, k, lda);
        long length = (long)groups * ColumnPackedLength<T>(n, k);
        if (packed.Length < length)
            throw new ArgumentException($"DotGemm: {groups} column-layout copies of b [{n}, {k}] take {length} elements, but the span has {packed.Length}.", nameof(packed));
        Check(nameof(c), c.Length, m, (groups - 1) * groupColumns + n, ldc);
        if (m == 0 || n == 0) return;
        ColumnBlocks(m, groups, n, k, MemoryMarshal.Cast<T, float>(a), lda, MemoryMarshal.Cast<T, float>(packed), MemoryMarshal.Cast<T, float>(c), ldc, groupColumns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ColumnBlocks(int m, int groups, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> packed, Span<float> c, int ldc,
        int groupColumns)
    {
        const int w = ColumnBlockRows;
        int chunks = Chunks(k, w), block = w * chunks * w, groupLength = (n + w - 1) / w * block;
        // a's chunks as MultiplyAddTransposed takes them: chunk q from p_q, the tail chunk's lanes already counted zeroed.
        Span<float> aChunks = stackalloc float[ColumnLayoutMaxK];
        ref float b0 = ref MemoryMarshal.GetReference(packed);
        for (int r = 0; r < m; r++)
        {
            ReadOnlySpan<float> aRow = a.Slice(r * lda, k);
            for (int q = 0; q < chunks; q++)
            {
                int p = Math.Min(q * w, k - w), counted = q * w - p;
                for (int l = 0; l < w; l++) aChunks[q * w + l] = l < counted ? 0f : aRow[p + l];
            }
            ref float x = ref MemoryMarshal.GetReference(aChunks);
            for (int g = 0; g < groups; g++)
            {
                ref float bGroup = ref Unsafe.Add(ref b0, g * groupLength);
                Span<float> cRow = c.Slice(r * ldc + g * groupColumns, n);
                for (int j0 = 0, blockIndex = 0; j0 < n; j0 += w, blockIndex++)
                {
                    Vector512<float> sums = ColumnBlock(ref Unsafe.Add(ref bGroup, blockIndex * block), ref x, chunks);
                    int valid = Math.Min(w, n - j0);
                    ref float target = ref MemoryMarshal.GetReference(cRow.Slice(j0));
                    if (valid == w) (Vector512.LoadUnsafe(ref target) + sums).StoreUnsafe(ref target);
                    else
                        for (int i = 0; i < valid; i++) Unsafe.Add(ref target, i) += sums.GetElement(i);
                }
            }
        }
    }

    // The 16 rows' sums of one block: lane l's partial sum over the chunks as one vector per l (FMAs from zero, chunk by
    // chunk, as V512's loop), then V512.AddSums8's tree per row, vertically.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ColumnBlock(ref float b, ref float x, int chunks)
    {
        Vector512<float> p0 = default, p1 = default, p2 = default, p3 = default, p4 = default, p5 = default, p6 = default, p7 = default;
        Vector512<float> p8 = default, p9 = default, p10 = default, p11 = default, p12 = default, p13 = default, p14 = default, p15 = default;
        for (int q = 0; q < chunks; q++)
        {
            ref float xq = ref Unsafe.Add(ref x, q * 16);
            ref float bq = ref Unsafe.Add(ref b, q * 256);
            p0 = Vector512.FusedMultiplyAdd(Vector512.Create(xq), Vector512.LoadUnsafe(ref bq, 0), p0);
            p1 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 1)), Vector512.LoadUnsafe(ref bq, 16), p1);
            p2 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 2)), Vector512.LoadUnsafe(ref bq, 32), p2);
            p3 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 3)), Vector512.LoadUnsafe(ref bq, 48), p3);
            p4 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 4)), Vector512.LoadUnsafe(ref bq, 64), p4);
            p5 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 5)), Vector512.LoadUnsafe(ref bq, 80), p5);
            p6 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 6)), Vector512.LoadUnsafe(ref bq, 96), p6);
            p7 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 7)), Vector512.LoadUnsafe(ref bq, 112), p7);
            p8 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 8)), Vector512.LoadUnsafe(ref bq, 128), p8);
            p9 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 9)), Vector512.LoadUnsafe(ref bq, 144), p9);
            p10 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 10)), Vector512.LoadUnsafe(ref bq, 160), p10);
            p11 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 11)), Vector512.LoadUnsafe(ref bq, 176), p11);
            p12 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 12)), Vector512.LoadUnsafe(ref bq, 192), p12);
            p13 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 13)), Vector512.LoadUnsafe(ref bq, 208), p13);
            p14 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 14)), Vector512.LoadUnsafe(ref bq, 224), p14);
            p15 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref xq, 15)), Vector512.LoadUnsafe(ref bq, 240), p15);
        }
        // x_i = lane i + lane i + 8 (V512's halves added), then ((x0 + x4) + (x1 + x5)) + ((x2 + x6) + (x3 + x7)).
        Vector512<float> x0 = p0 + p8, x1 = p1 + p9, x2 = p2 + p10, x3 = p3 + p11, x4 = p4 + p12, x5 = p5 + p13, x6 = p6 + p14, x7 = p7 + p15;
        return ((x0 + x4) + (x1 + x5)) + ((x2 + x6) + (x3 + x7));
    }
}
