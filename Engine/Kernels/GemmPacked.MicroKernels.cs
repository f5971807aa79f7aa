// The register-tiled micro-kernels. The 512- and 256-bit versions are the same text with the vector type swapped:
// edit both alike.
using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

internal static unsafe partial class GemmPacked
{
    /// <summary>
    /// c[0..TCount, 0..NR) += a-sliver × b-sliver over kc steps (= with overwrite), NR = 2 × Vector512&lt;T&gt;.Count. The a-sliver holds, per step p,
    /// MR values (one per row); the b-sliver holds per step NR values, the next step bStride elements further on
    /// (NR when packed, ldb when read in place). TCount (the rows) is a constant per instantiation, so unused rows vanish.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512<T, TCount>(int kc, T* a, T* b, nint bStride, T* c, nint ldc, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCount : struct, ICount
    {
        nint half = Vector512<T>.Count;
        PrefetchTile<TCount>(c, ldc * sizeof(T), (int)(2 * half * sizeof(T)));
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        // Four steps per pass (Step512 inlined four times): the loop's own instructions (two pointer updates, the counter,
        // the branch) come once per four steps, about 21 instructions a step for its 12 FMAs instead of 24. In the host's
        // slow stretches a product loses 25–30 % of its quiet rate while a loop of FMAs alone keeps the peak, and the
        // shorter steps win back part of that (docs/performance.md, sitting 26); in quiet stretches they are level. Each
        // accumulator takes its FMAs in the same order, so the bits are the same (GemmPackedTests pins them).
        int p = 0;
        for (; p + 3 < kc; p += 4)
        {
            Step512<T, TCount>(a, b, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            Step512<T, TCount>(a + MR, b + bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            Step512<T, TCount>(a + 2 * MR, b + 2 * bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            Step512<T, TCount>(a + 3 * MR, b + 3 * bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            a += 4 * MR;
            b += 4 * bStride;
        }
        for (; p < kc; p++)
        {
            Step512<T, TCount>(a, b, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            a += MR;
            b += bStride;
        }
        StoreTile512<T, TCount>(c, ldc, half, overwrite, addend, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
    }

    /// <summary>A register tile's TCount rows into c (<see cref="Store512{T}"/> row by row); shared by the 512-bit kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTile512<T, TCount>(T* c, nint ldc, nint half, bool overwrite, T* addend,
        ref Vector512<T> c00, ref Vector512<T> c01, ref Vector512<T> c10, ref Vector512<T> c11, ref Vector512<T> c20, ref Vector512<T> c21,
        ref Vector512<T> c30, ref Vector512<T> c31, ref Vector512<T> c40, ref Vector512<T> c41, ref Vector512<T> c50, ref Vector512<T> c51)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCount : struct, ICount
    {
        Store512(c + 0 * ldc, half, c00, c01, overwrite, addend);
        if (TCount.Value > 1) Store512(c + 1 * ldc, half, c10, c11, overwrite, addend);
        if (TCount.Value > 2) Store512(c + 2 * ldc, half, c20, c21, overwrite, addend);
        if (TCount.Value > 3) Store512(c + 3 * ldc, half, c30, c31, overwrite, addend);
        if (TCount.Value > 4) Store512(c + 4 * ldc, half, c40, c41, overwrite, addend);
        if (TCount.Value > 5) Store512(c + 5 * ldc, half, c50, c51, overwrite, addend);
    }

    /// <summary>One step p of <see cref="Kernel512{T, TCount}"/>: c_r += a[r] · b[0..NR) for each row r &lt; TCount.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step512<T, TCount>(T* a, T* b, nint half, ref Vector512<T> c00, ref Vector512<T> c01, ref Vector512<T> c10, ref Vector512<T> c11,
        ref Vector512<T> c20, ref Vector512<T> c21, ref Vector512<T> c30, ref Vector512<T> c31, ref Vector512<T> c40, ref Vector512<T> c41,
        ref Vector512<T> c50, ref Vector512<T> c51)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCount : struct, ICount
    {
        Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + half);
        Vector512<T> a0 = Vector512.Create(a[0]); c00 = Fma(a0, b0, c00); c01 = Fma(a0, b1, c01);
        if (TCount.Value > 1) { Vector512<T> a1 = Vector512.Create(a[1]); c10 = Fma(a1, b0, c10); c11 = Fma(a1, b1, c11); }
        if (TCount.Value > 2) { Vector512<T> a2 = Vector512.Create(a[2]); c20 = Fma(a2, b0, c20); c21 = Fma(a2, b1, c21); }
        if (TCount.Value > 3) { Vector512<T> a3 = Vector512.Create(a[3]); c30 = Fma(a3, b0, c30); c31 = Fma(a3, b1, c31); }
        if (TCount.Value > 4) { Vector512<T> a4 = Vector512.Create(a[4]); c40 = Fma(a4, b0, c40); c41 = Fma(a4, b1, c41); }
        if (TCount.Value > 5) { Vector512<T> a5 = Vector512.Create(a[5]); c50 = Fma(a5, b0, c50); c51 = Fma(a5, b1, c51); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512<T>(T* c, nint half, Vector512<T> low, Vector512<T> high, bool overwrite = false, T* addend = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // overwrite: c was never set (beta = 0). Storing the sums gives the bits of adding them to a cleared c, since a
        // sum that starts from +0 is never −0 and 0 + x = x for every other x, NaN included. With an addend (a row every
        // row of c starts from), addend + sums: the bits of adding the sums to c holding the addend, operands in that order.
        if (overwrite)
        {
            if (addend != null)
            {
                low = Vector512.Load(addend) + low;
                high = Vector512.Load(addend + half) + high;
            }
            Vector512.Store(low, c);
            Vector512.Store(high, c + half);
            return;
        }
        Vector512.Store(Vector512.Load(c) + low, c);
        Vector512.Store(Vector512.Load(c + half) + high, c + half);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma<T>(Vector512<T> x, Vector512<T> y, Vector512<T> addend) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(x.As<T, float>(), y.As<T, float>(), addend.As<T, float>()).As<float, T>();
        return Vector512.FusedMultiplyAdd(x.As<T, double>(), y.As<T, double>(), addend.As<T, double>()).As<double, T>();
    }

    private static void Kernel512<T>(int rows, int kc, T* a, T* b, nint bStride, T* c, nint ldc, bool overwrite = false, T* addend = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (rows)
        {
            case 6: Kernel512<T, Count6>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 5: Kernel512<T, Count5>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 4: Kernel512<T, Count4>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 3: Kernel512<T, Count3>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 2: Kernel512<T, Count2>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 1: Kernel512<T, Count1>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            default: throw new UnreachableException();
        }
    }

    /// <summary>
    /// c[0..TCount, 0..NR) += a-sliver × b-sliver over kc steps (= with overwrite), NR = 2 × Vector256&lt;T&gt;.Count. The a-sliver holds, per step p,
    /// MR values (one per row); the b-sliver holds per step NR values, the next step bStride elements further on
    /// (NR when packed, ldb when read in place). TCount (the rows) is a constant per instantiation, so unused rows vanish.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256<T, TCount>(int kc, T* a, T* b, nint bStride, T* c, nint ldc, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCount : struct, ICount
    {
        nint half = Vector256<T>.Count;
        PrefetchTile<TCount>(c, ldc * sizeof(T), (int)(2 * half * sizeof(T)));
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        // Four steps per pass (Step256 inlined four times): the loop's own instructions (two pointer updates, the counter,
        // the branch) come once per four steps, about 21 instructions a step for its 12 FMAs instead of 24. In the host's
        // slow stretches a product loses 25–30 % of its quiet rate while a loop of FMAs alone keeps the peak, and the
        // shorter steps win back part of that (docs/performance.md, sitting 26); in quiet stretches they are level. Each
        // accumulator takes its FMAs in the same order, so the bits are the same (GemmPackedTests pins them).
        int p = 0;
        for (; p + 3 < kc; p += 4)
        {
            Step256<T, TCount>(a, b, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            Step256<T, TCount>(a + MR, b + bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            Step256<T, TCount>(a + 2 * MR, b + 2 * bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            Step256<T, TCount>(a + 3 * MR, b + 3 * bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            a += 4 * MR;
            b += 4 * bStride;
        }
        for (; p < kc; p++)
        {
            Step256<T, TCount>(a, b, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            a += MR;
            b += bStride;
        }
        Store256(c + 0 * ldc, half, c00, c01, overwrite, addend);
        if (TCount.Value > 1) Store256(c + 1 * ldc, half, c10, c11, overwrite, addend);
        if (TCount.Value > 2) Store256(c + 2 * ldc, half, c20, c21, overwrite, addend);
        if (TCount.Value > 3) Store256(c + 3 * ldc, half, c30, c31, overwrite, addend);
        if (TCount.Value > 4) Store256(c + 4 * ldc, half, c40, c41, overwrite, addend);
        if (TCount.Value > 5) Store256(c + 5 * ldc, half, c50, c51, overwrite, addend);
    }

    /// <summary>One step p of <see cref="Kernel256{T, TCount}"/>: c_r += a[r] · b[0..NR) for each row r &lt; TCount.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step256<T, TCount>(T* a, T* b, nint half, ref Vector256<T> c00, ref Vector256<T> c01, ref Vector256<T> c10, ref Vector256<T> c11,
        ref Vector256<T> c20, ref Vector256<T> c21, ref Vector256<T> c30, ref Vector256<T> c31, ref Vector256<T> c40, ref Vector256<T> c41,
        ref Vector256<T> c50, ref Vector256<T> c51)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCount : struct, ICount
    {
        Vector256<T> b0 = Vector256.Load(b), b1 = Vector256.Load(b + half);
        Vector256<T> a0 = Vector256.Create(a[0]); c00 = Fma(a0, b0, c00); c01 = Fma(a0, b1, c01);
        if (TCount.Value > 1) { Vector256<T> a1 = Vector256.Create(a[1]); c10 = Fma(a1, b0, c10); c11 = Fma(a1, b1, c11); }
        if (TCount.Value > 2) { Vector256<T> a2 = Vector256.Create(a[2]); c20 = Fma(a2, b0, c20); c21 = Fma(a2, b1, c21); }
        if (TCount.Value > 3) { Vector256<T> a3 = Vector256.Create(a[3]); c30 = Fma(a3, b0, c30); c31 = Fma(a3, b1, c31); }
        if (TCount.Value > 4) { Vector256<T> a4 = Vector256.Create(a[4]); c40 = Fma(a4, b0, c40); c41 = Fma(a4, b1, c41); }
        if (TCount.Value > 5) { Vector256<T> a5 = Vector256.Create(a[5]); c50 = Fma(a5, b0, c50); c51 = Fma(a5, b1, c51); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256<T>(T* c, nint half, Vector256<T> low, Vector256<T> high, bool overwrite = false, T* addend = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // overwrite: c was never set (beta = 0). Storing the sums gives the bits of adding them to a cleared c, since a
        // sum that starts from +0 is never −0 and 0 + x = x for every other x, NaN included. With an addend (a row every
        // row of c starts from), addend + sums: the bits of adding the sums to c holding the addend, operands in that order.
        if (overwrite)
        {
            if (addend != null)
            {
                low = Vector256.Load(addend) + low;
                high = Vector256.Load(addend + half) + high;
            }
            Vector256.Store(low, c);
            Vector256.Store(high, c + half);
            return;
        }
        Vector256.Store(Vector256.Load(c) + low, c);
        Vector256.Store(Vector256.Load(c + half) + high, c + half);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> x, Vector256<T> y, Vector256<T> addend) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(x.As<T, float>(), y.As<T, float>(), addend.As<T, float>()).As<float, T>();
        return Vector256.FusedMultiplyAdd(x.As<T, double>(), y.As<T, double>(), addend.As<T, double>()).As<double, T>();
    }

    private static void Kernel256<T>(int rows, int kc, T* a, T* b, nint bStride, T* c, nint ldc, bool overwrite = false, T* addend = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (rows)
        {
            case 6: Kernel256<T, Count6>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 5: Kernel256<T, Count5>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 4: Kernel256<T, Count4>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 3: Kernel256<T, Count3>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 2: Kernel256<T, Count2>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            case 1: Kernel256<T, Count1>(kc, a, b, bStride, c, ldc, overwrite, addend); break;
            default: throw new UnreachableException();
        }
    }

    /// <summary>
    /// Asks for the c tile's cache lines at the start of a micro-kernel call: the tile is read and written only after
    /// the kc steps, so its lines (often in memory: the per-step rows of a [B, T, 4H] projection are T·4H apart) arrive
    /// while the FMAs run instead of stalling the final loads. A hint only: it changes no value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile<TCount>(void* c, nint rowStrideBytes, int rowBytes) where TCount : struct, ICount
    {
        if (!Sse.IsSupported) return;
        byte* row = (byte*)c;
        for (int r = 0; r < TCount.Value; r++)
        {
            // Every line the row's rowBytes touch (64 B steps, then its last byte: two lines for a 64-byte row, three
            // for an unaligned 128-byte Vector512 row).
            for (int offset = 0; offset < rowBytes; offset += 64) Sse.Prefetch0(row + offset);
            Sse.Prefetch0(row + rowBytes - 1);
            row += rowStrideBytes;
        }
    }

    /// <summary>A compile-time count: the JIT specializes a method per struct type argument and folds Value.</summary>
    internal interface ICount { static abstract int Value { get; } }
    private struct Count0 : ICount { public static int Value => 0; }
    private struct Count1 : ICount { public static int Value => 1; }
    private struct Count2 : ICount { public static int Value => 2; }
    private struct Count3 : ICount { public static int Value => 3; }
    private struct Count4 : ICount { public static int Value => 4; }
    private struct Count5 : ICount { public static int Value => 5; }
    private struct Count6 : ICount { public static int Value => 6; }
    private struct Count7 : ICount { public static int Value => 7; }
    private struct Count8 : ICount { public static int Value => 8; }
}
