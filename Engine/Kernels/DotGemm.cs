using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

/// <summary>
/// c += a · bᵀ for row-major a [m, k] and b [n, k]: an input times a weight stored in PyTorch's [out, in] layout, the
/// product the inference paths need (input projection, recurrent product, Dense). Every element's dot product is summed
/// in one fixed order — vector chunks along k, the k tail as one overlapping chunk with the already-counted lanes
/// zeroed in a and in b (so an ∞ or NaN there adds no 0·∞ term: NaN and ∞ come out as IEEE 754 sums give them), then one
/// horizontal sum — whatever m, n and the register blocking, so a row computed alone (batch 1,
/// streaming) equals the same row computed inside a larger product bit for bit (on one machine and vector width).
/// </summary>
public static partial class DotGemm
{
    private const int Panel = 32;

    /// <summary>c[r, j] += Σ_p a[r·lda + p] · b[j·ldb + p] for r &lt; m, j &lt; n, p &lt; k.</summary>
    public static void MultiplyAddTransposed<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"DotGemm: sizes must be non-negative, got m={m}, n={n}, k={k}.");
        Check(nameof(a), a.Length, m, k, lda);
        Check(nameof(b), b.Length, n, k, ldb);
        Check(nameof(c), c.Length, m, n, ldc);
        if (m == 0 || n == 0 || k == 0) return;
        if (ProductWidth.Bits == 512 && Vector512<T>.IsSupported && k >= Vector512<T>.Count)
            Blocked<T, V512<T>, Vector512<T>>(m, n, k, a, lda, b, ldb, c, ldc);
        else if (ProductWidth.Bits >= 256 && Vector256<T>.IsSupported && k >= Vector256<T>.Count)
            Blocked<T, V256<T>, Vector256<T>>(m, n, k, a, lda, b, ldb, c, ldc);
        else
            Scalar(m, n, k, a, lda, b, ldb, c, ldc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scalar<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < m; r++)
        {
            ReadOnlySpan<T> aRow = a.Slice(r * lda, k);
            for (int j = 0; j < n; j++)
            {
                ReadOnlySpan<T> bRow = b.Slice(j * ldb, k);
                T sum = T.Zero;
                for (int p = 0; p < k; p++) sum += aRow[p] * bRow[p];
                c[r * ldc + j] += sum;
            }
        }
    }

    // Register blocks: 4 rows × 4 columns (16 independent sums; 2 × 4 with 16 registers), single rows 1 × 8 (the batch-1
    // GEMV), then 1 × 1. The blocking changes which sums run together, never the order within one sum.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blocked<T, TOps, TVec>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOps : struct, IVectorOps<TVec, T>
        where TVec : struct
    {
        ref T a0 = ref MemoryMarshal.GetReference(a);
        ref T b0 = ref MemoryMarshal.GetReference(b);
        ref T c0 = ref MemoryMarshal.GetReference(c);
        int width = TOps.Count, full = k - k % width, rem = k % width;
        TVec tailMask = TOps.TailMask(rem);
        // Column panels: 32 rows of b (32·k values) stay in cache while every row of a streams past them.
        for (int j0 = 0; j0 < n; j0 += Panel)
        {
            int jEnd = Math.Min(n, j0 + Panel), r = 0;
            if (TOps.Registers < 32)
            {
                // 16 vector registers (AVX2): 2 × 4 blocks keep the 8 sums, 2 rows of a and one row of b in registers.
                for (; r + 2 <= m; r += 2)
                {
                    int j = j0;
                    for (; j + 4 <= jEnd; j += 4) Block2x4<T, TOps, TVec>(ref a0, lda, ref b0, ldb, ref c0, ldc, r, j, full, rem, tailMask);
                    for (; j < jEnd; j++)
                        for (int rr = r; rr < r + 2; rr++)
                            Unsafe.Add(ref c0, rr * ldc + j) += Dot<T, TOps, TVec>(ref Unsafe.Add(ref a0, rr * lda), ref Unsafe.Add(ref b0, j * ldb), k, full, rem, tailMask);
                }
            }
            for (; r + 4 <= m; r += 4)
            {
                int j = j0;
                for (; j + 4 <= jEnd; j += 4) Block4x4<T, TOps, TVec>(ref a0, lda, ref b0, ldb, ref c0, ldc, r, j, k, full, rem, tailMask);
                for (; j < jEnd; j++)
                    for (int rr = r; rr < r + 4; rr++)
                        Unsafe.Add(ref c0, rr * ldc + j) += Dot<T, TOps, TVec>(ref Unsafe.Add(ref a0, rr * lda), ref Unsafe.Add(ref b0, j * ldb), k, full, rem, tailMask);
            }
            for (; r < m; r++)
            {
                ref T aRow = ref Unsafe.Add(ref a0, r * lda);
                int j = j0;
                for (; j + 8 <= jEnd; j += 8) Block1x8<T, TOps, TVec>(ref aRow, ref b0, ldb, ref Unsafe.Add(ref c0, r * ldc), j, k, full, rem, tailMask);
                for (; j < jEnd; j++)
                    Unsafe.Add(ref c0, r * ldc + j) += Dot<T, TOps, TVec>(ref aRow, ref Unsafe.Add(ref b0, j * ldb), k, full, rem, tailMask);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static T Dot<T, TOps, TVec>(ref T a, ref T b, int k, int full, int rem, TVec tailMask)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOps : struct, IVectorOps<TVec, T>
        where TVec : struct
    {
        TVec acc = default;
        for (int p = 0; p < full; p += TOps.Count) acc = TOps.Fma(TOps.Load(ref a, p), TOps.Load(ref b, p), acc);
        if (rem != 0)
        {
            int p = k - TOps.Count;
            acc = TOps.Fma(TOps.And(TOps.Load(ref a, p), tailMask), TOps.And(TOps.Load(ref b, p), tailMask), acc);
        }
        return TOps.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block1x8<T, TOps, TVec>(ref T a, ref T b0, int ldb, ref T cRow, int j, int k, int full, int rem, TVec tailMask)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOps : struct, IVectorOps<TVec, T>
        where TVec : struct
    {
        ref T b = ref Unsafe.Add(ref b0, j * ldb);
        TVec s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int p = 0; p < full; p += TOps.Count)
        {
            TVec x = TOps.Load(ref a, p);
            s0 = TOps.Fma(x, TOps.Load(ref b, p), s0);
            s1 = TOps.Fma(x, TOps.Load(ref b, ldb + p), s1);
            s2 = TOps.Fma(x, TOps.Load(ref b, 2 * ldb + p), s2);
            s3 = TOps.Fma(x, TOps.Load(ref b, 3 * ldb + p), s3);
            s4 = TOps.Fma(x, TOps.Load(ref b, 4 * ldb + p), s4);
            s5 = TOps.Fma(x, TOps.Load(ref b, 5 * ldb + p), s5);
            s6 = TOps.Fma(x, TOps.Load(ref b, 6 * ldb + p), s6);
            s7 = TOps.Fma(x, TOps.Load(ref b, 7 * ldb + p), s7);
        }
        if (rem != 0)
        {
            int p = k - TOps.Count;
            TVec x = TOps.And(TOps.Load(ref a, p), tailMask);
            s0 = TOps.Fma(x, TOps.And(TOps.Load(ref b, p), tailMask), s0);
            s1 = TOps.Fma(x, TOps.And(TOps.Load(ref b, ldb + p), tailMask), s1);
            s2 = TOps.Fma(x, TOps.And(TOps.Load(ref b, 2 * ldb + p), tailMask), s2);
            s3 = TOps.Fma(x, TOps.And(TOps.Load(ref b, 3 * ldb + p), tailMask), s3);
            s4 = TOps.Fma(x, TOps.And(TOps.Load(ref b, 4 * ldb + p), tailMask), s4);
            s5 = TOps.Fma(x, TOps.And(TOps.Load(ref b, 5 * ldb + p), tailMask), s5);
            s6 = TOps.Fma(x, TOps.And(TOps.Load(ref b, 6 * ldb + p), tailMask), s6);
            s7 = TOps.Fma(x, TOps.And(TOps.Load(ref b, 7 * ldb + p), tailMask), s7);
        }
        TOps.AddSums8(ref Unsafe.Add(ref cRow, j), s0, s1, s2, s3, s4, s5, s6, s7);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block2x4<T, TOps, TVec>(ref T a0, int lda, ref T b0, int ldb, ref T c0, int ldc, int r, int j, int full, int rem, TVec tailMask)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOps : struct, IVectorOps<TVec, T>
        where TVec : struct
    {
        ref T a = ref Unsafe.Add(ref a0, r * lda);
        ref T b = ref Unsafe.Add(ref b0, j * ldb);
        TVec s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
        for (int p = 0; p < full; p += TOps.Count)
        {
            TVec x0 = TOps.Load(ref a, p), x1 = TOps.Load(ref a, lda + p);
            TVec y = TOps.Load(ref b, p);
            s00 = TOps.Fma(x0, y, s00); s10 = TOps.Fma(x1, y, s10);
            y = TOps.Load(ref b, ldb + p);
            s01 = TOps.Fma(x0, y, s01); s11 = TOps.Fma(x1, y, s11);
            y = TOps.Load(ref b, 2 * ldb + p);
            s02 = TOps.Fma(x0, y, s02); s12 = TOps.Fma(x1, y, s12);
            y = TOps.Load(ref b, 3 * ldb + p);
            s03 = TOps.Fma(x0, y, s03); s13 = TOps.Fma(x1, y, s13);
        }
        if (rem != 0)
        {
            int p = full + rem - TOps.Count;    // the tail chunk, overlapping the last full one, its counted lanes zeroed
            TVec x0 = TOps.And(TOps.Load(ref a, p), tailMask), x1 = TOps.And(TOps.Load(ref a, lda + p), tailMask);
            TVec y = TOps.And(TOps.Load(ref b, p), tailMask);
            s00 = TOps.Fma(x0, y, s00); s10 = TOps.Fma(x1, y, s10);
            y = TOps.And(TOps.Load(ref b, ldb + p), tailMask);
            s01 = TOps.Fma(x0, y, s01); s11 = TOps.Fma(x1, y, s11);
            y = TOps.And(TOps.Load(ref b, 2 * ldb + p), tailMask);
            s02 = TOps.Fma(x0, y, s02); s12 = TOps.Fma(x1, y, s12);
            y = TOps.And(TOps.Load(ref b, 3 * ldb + p), tailMask);
            s03 = TOps.Fma(x0, y, s03); s13 = TOps.Fma(x1, y, s13);
        }
        ref T c = ref Unsafe.Add(ref c0, r * ldc + j);
        Unsafe.Add(ref c, 0) += TOps.Sum(s00); Unsafe.Add(ref c, 1) += TOps.Sum(s01); Unsafe.Add(ref c, 2) += TOps.Sum(s02); Unsafe.Add(ref c, 3) += TOps.Sum(s03);
        c = ref Unsafe.Add(ref c, ldc);
        Unsafe.Add(ref c, 0) += TOps.Sum(s10); Unsafe.Add(ref c, 1) += TOps.Sum(s11); Unsafe.Add(ref c, 2) += TOps.Sum(s12); Unsafe.Add(ref c, 3) += TOps.Sum(s13);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x4<T, TOps, TVec>(ref T a0, int lda, ref T b0, int ldb, ref T c0, int ldc, int r, int j, int k, int full, int rem, TVec tailMask)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOps : struct, IVectorOps<TVec, T>
        where TVec : struct
    {
        ref T a = ref Unsafe.Add(ref a0, r * lda);
        ref T b = ref Unsafe.Add(ref b0, j * ldb);
        TVec s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
        TVec s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        for (int p = 0; p < full; p += TOps.Count)
        {
            TVec x0 = TOps.Load(ref a, p), x1 = TOps.Load(ref a, lda + p);
            TVec x2 = TOps.Load(ref a, 2 * lda + p), x3 = TOps.Load(ref a, 3 * lda + p);
            TVec y = TOps.Load(ref b, p);
            s00 = TOps.Fma(x0, y, s00); s10 = TOps.Fma(x1, y, s10); s20 = TOps.Fma(x2, y, s20); s30 = TOps.Fma(x3, y, s30);
            y = TOps.Load(ref b, ldb + p);
            s01 = TOps.Fma(x0, y, s01); s11 = TOps.Fma(x1, y, s11); s21 = TOps.Fma(x2, y, s21); s31 = TOps.Fma(x3, y, s31);
            y = TOps.Load(ref b, 2 * ldb + p);
            s02 = TOps.Fma(x0, y, s02); s12 = TOps.Fma(x1, y, s12); s22 = TOps.Fma(x2, y, s22); s32 = TOps.Fma(x3, y, s32);
            y = TOps.Load(ref b, 3 * ldb + p);
            s03 = TOps.Fma(x0, y, s03); s13 = TOps.Fma(x1, y, s13); s23 = TOps.Fma(x2, y, s23); s33 = TOps.Fma(x3, y, s33);
        }
        // The tail chunk, overlapping the last full one, its counted lanes zeroed in a and in b: a zeroed lane of a times
        // an ∞ or NaN of b would be NaN where the sum has no such term (NonFiniteProductTests).
        if (rem != 0)
        {
            int p = k - TOps.Count;
            TVec x0 = TOps.And(TOps.Load(ref a, p), tailMask), x1 = TOps.And(TOps.Load(ref a, lda + p), tailMask);
            TVec x2 = TOps.And(TOps.Load(ref a, 2 * lda + p), tailMask), x3 = TOps.And(TOps.Load(ref a, 3 * lda + p), tailMask);
            TVec y = TOps.And(TOps.Load(ref b, p), tailMask);
            s00 = TOps.Fma(x0, y, s00); s10 = TOps.Fma(x1, y, s10); s20 = TOps.Fma(x2, y, s20); s30 = TOps.Fma(x3, y, s30);
            y = TOps.And(TOps.Load(ref b, ldb + p), tailMask);
            s01 = TOps.Fma(x0, y, s01); s11 = TOps.Fma(x1, y, s11); s21 = TOps.Fma(x2, y, s21); s31 = TOps.Fma(x3, y, s31);
            y = TOps.And(TOps.Load(ref b, 2 * ldb + p), tailMask);
            s02 = TOps.Fma(x0, y, s02); s12 = TOps.Fma(x1, y, s12); s22 = TOps.Fma(x2, y, s22); s32 = TOps.Fma(x3, y, s32);
            y = TOps.And(TOps.Load(ref b, 3 * ldb + p), tailMask);
            s03 = TOps.Fma(x0, y, s03); s13 = TOps.Fma(x1, y, s13); s23 = TOps.Fma(x2, y, s23); s33 = TOps.Fma(x3, y, s33);
        }
        ref T c = ref Unsafe.Add(ref c0, r * ldc + j);
        Unsafe.Add(ref c, 0) += TOps.Sum(s00); Unsafe.Add(ref c, 1) += TOps.Sum(s01); Unsafe.Add(ref c, 2) += TOps.Sum(s02); Unsafe.Add(ref c, 3) += TOps.Sum(s03);
        c = ref Unsafe.Add(ref c, ldc);
        Unsafe.Add(ref c, 0) += TOps.Sum(s10); Unsafe.Add(ref c, 1) += TOps.Sum(s11); Unsafe.Add(ref c, 2) += TOps.Sum(s12); Unsafe.Add(ref c, 3) += TOps.Sum(s13);
        c = ref Unsafe.Add(ref c, ldc);
        Unsafe.Add(ref c, 0) += TOps.Sum(s20); Unsafe.Add(ref c, 1) += TOps.Sum(s21); Unsafe.Add(ref c, 2) += TOps.Sum(s22); Unsafe.Add(ref c, 3) += TOps.Sum(s23);
        c = ref Unsafe.Add(ref c, ldc);
        Unsafe.Add(ref c, 0) += TOps.Sum(s30); Unsafe.Add(ref c, 1) += TOps.Sum(s31); Unsafe.Add(ref c, 2) += TOps.Sum(s32); Unsafe.Add(ref c, 3) += TOps.Sum(s33);
    }

    private static void Check(string name, int length, int rows, int cols, int stride)
    {
        if (stride < Math.Max(cols, 1))
            throw new ArgumentException($"DotGemm: operand '{name}' is {rows}×{cols} but its row stride is {stride} (needs ≥ {Math.Max(cols, 1)}).", name);
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * stride + cols;
        if (length < needed)
            throw new ArgumentException($"DotGemm: operand '{name}' is {rows}×{cols} with stride {stride}, which needs {needed} elements, but the span has {length}.", name);
    }

    // One vector width's operations, so the blocked loops are written once for Vector512 and Vector256.
    private interface IVectorOps<TVec, T> where TVec : struct
    {
        static abstract int Count { get; }
        /// <summary>Vector registers the blocking may plan for (16 with AVX2, 32 with AVX-512).</summary>
        static abstract int Registers { get; }
        static abstract TVec AllBits { get; }
        static abstract TVec Load(ref T source, int offset);
        static abstract TVec Fma(TVec a, TVec b, TVec addend);
        static abstract TVec And(TVec a, TVec mask);
        static abstract T Sum(TVec v);
        /// <summary>c[i] += Sum(s_i) for i &lt; 8, each sum in the same order as <see cref="Sum"/>.</summary>
        static abstract void AddSums8(ref T c, TVec s0, TVec s1, TVec s2, TVec s3, TVec s4, TVec s5, TVec s6, TVec s7);
        /// <summary>For the tail chunk starting at k − Count: keeps the last <paramref name="rem"/> lanes, zeroes the rest.</summary>
        static abstract TVec TailMask(int rem);
    }

    private readonly struct V512<T> : IVectorOps<Vector512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static int Count => Vector512<T>.Count;
        public static int Registers => 32;
        public static Vector512<T> AllBits => Vector512<T>.AllBitsSet;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<T> Load(ref T source, int offset) => Vector512.LoadUnsafe(ref source, (nuint)offset);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> addend)
        {
            if (typeof(T) == typeof(float)) return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), addend.AsSingle()).As<float, T>();
            if (typeof(T) == typeof(double)) return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), addend.AsDouble()).As<double, T>();
            return a * b + addend;
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<T> And(Vector512<T> a, Vector512<T> mask) => a & mask;
        /// <summary>
        /// Float: the 256-bit halves added, then <see cref="V256{T}.Sum"/>'s order, so <see cref="AddSums8"/> can take the
        /// eight sums as one transposed tree. (Vector512.Sum, eight of them per block, made the batch-1 product at 512 bits
        /// twice as slow as at 256 on an AVX-512 machine: the reductions, not the reads, bounded it.)
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static T Sum(Vector512<T> v)
        {
            if (typeof(T) == typeof(float) && Avx.IsSupported) return V256<T>.Sum(v.GetLower() + v.GetUpper());
            return Vector512.Sum(v);
        }

        /// <summary>Float: each vector's 256-bit halves added, then <see cref="V256{T}.AddSums8"/>'s tree: per sum, <see cref="Sum"/>'s order.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void AddSums8(ref T c, Vector512<T> s0, Vector512<T> s1, Vector512<T> s2, Vector512<T> s3, Vector512<T> s4, Vector512<T> s5, Vector512<T> s6, Vector512<T> s7)
        {
            if (typeof(T) == typeof(float) && Avx2.IsSupported)
            {
                V256<T>.AddSums8(ref c, s0.GetLower() + s0.GetUpper(), s1.GetLower() + s1.GetUpper(), s2.GetLower() + s2.GetUpper(),
                    s3.GetLower() + s3.GetUpper(), s4.GetLower() + s4.GetUpper(), s5.GetLower() + s5.GetUpper(), s6.GetLower() + s6.GetUpper(),
                    s7.GetLower() + s7.GetUpper());
                return;
            }
            c += Sum(s0); Unsafe.Add(ref c, 1) += Sum(s1); Unsafe.Add(ref c, 2) += Sum(s2); Unsafe.Add(ref c, 3) += Sum(s3);
            Unsafe.Add(ref c, 4) += Sum(s4); Unsafe.Add(ref c, 5) += Sum(s5); Unsafe.Add(ref c, 6) += Sum(s6); Unsafe.Add(ref c, 7) += Sum(s7);
        }
        public static Vector512<T> TailMask(int rem)
            => Vector512.GreaterThanOrEqual(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(Count - rem)));
    }

    private readonly struct V256<T> : IVectorOps<Vector256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static int Count => Vector256<T>.Count;
        public static int Registers => 16;
        public static Vector256<T> AllBits => Vector256<T>.AllBitsSet;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<T> Load(ref T source, int offset) => Vector256.LoadUnsafe(ref source, (nuint)offset);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<T> Fma(Vector256<T> a, Vector256<T> b, Vector256<T> addend)
        {
            if (typeof(T) == typeof(float)) return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), addend.AsSingle()).As<float, T>();
            if (typeof(T) == typeof(double)) return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), addend.AsDouble()).As<double, T>();
            return a * b + addend;
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<T> And(Vector256<T> a, Vector256<T> mask) => a & mask;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static T Sum(Vector256<T> v)
        {
            if (typeof(T) == typeof(float) && Avx.IsSupported)
            {
                // Float: ((x0 + x4) + (x1 + x5)) + ((x2 + x6) + (x3 + x7)), the order AddSums8's transposed tree keeps.
                Vector128<float> t = v.AsSingle().GetLower() + v.AsSingle().GetUpper();
                Vector128<float> pairs = Sse3.HorizontalAdd(t, t);
                float sum = pairs.ToScalar() + pairs.GetElement(1);
                return Unsafe.As<float, T>(ref sum);
            }
            return Vector256.Sum(v);
        }

        /// <summary>
        /// Float: the eight sums as one transposed tree (lane halves added, then three horizontal adds and a permute), the
        /// same order per sum as <see cref="Sum"/>, in a dozen instructions instead of eight separate reductions.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void AddSums8(ref T c, Vector256<T> s0, Vector256<T> s1, Vector256<T> s2, Vector256<T> s3, Vector256<T> s4, Vector256<T> s5, Vector256<T> s6, Vector256<T> s7)
        {
            if (typeof(T) == typeof(float) && Avx2.IsSupported)
            {
                Vector256<float> u01 = HalvesAdded(s0.AsSingle(), s1.AsSingle()), u23 = HalvesAdded(s2.AsSingle(), s3.AsSingle());
                Vector256<float> u45 = HalvesAdded(s4.AsSingle(), s5.AsSingle()), u67 = HalvesAdded(s6.AsSingle(), s7.AsSingle());
                // [T0, T2, T4, T6 | T1, T3, T5, T7] with T_i = (t_i0 + t_i1) + (t_i2 + t_i3), then put in order.
                Vector256<float> sums = Avx.HorizontalAdd(Avx.HorizontalAdd(u01, u23), Avx.HorizontalAdd(u45, u67));
                sums = Avx2.PermuteVar8x32(sums, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7));
                ref float target = ref Unsafe.As<T, float>(ref c);
                (Vector256.LoadUnsafe(ref target) + sums).StoreUnsafe(ref target);
                return;
            }
            c += Sum(s0); Unsafe.Add(ref c, 1) += Sum(s1); Unsafe.Add(ref c, 2) += Sum(s2); Unsafe.Add(ref c, 3) += Sum(s3);
            Unsafe.Add(ref c, 4) += Sum(s4); Unsafe.Add(ref c, 5) += Sum(s5); Unsafe.Add(ref c, 6) += Sum(s6); Unsafe.Add(ref c, 7) += Sum(s7);
        }

        // [lo(a) + hi(a) | lo(b) + hi(b)]
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> HalvesAdded(Vector256<float> a, Vector256<float> b)
            => Avx.Permute2x128(a, b, 0x20) + Avx.Permute2x128(a, b, 0x31);
        public static Vector256<T> TailMask(int rem)
            => Vector256.GreaterThanOrEqual(Vector256<T>.Indices, Vector256.Create(T.CreateTruncating(Count - rem)));
    }
}
