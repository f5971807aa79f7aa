// The 512-bit micro-kernel reading a in place: rows of a as stored (row stride lda, steps along the row) instead of an
// a-sliver packed by PackA. Used by the prepacked product (b packed once, a a fresh operand each call), at 512 bits
// only: that is where it was measured (the 256-bit path keeps packing; a twin would be the same text, Vector256).
using System.Runtime.Intrinsics;

namespace NumLstm.Kernels;

internal static unsafe partial class GemmPacked
{
    /// <summary>
    /// c[0..TCount, 0..NR) += a[0..TCount, 0..kc) × b-sliver (= with overwrite), a's rows lda elements apart. Each
    /// accumulator takes the FMAs of <see cref="Kernel512{T, TCount}"/> in the same order (a's values times the packed b,
    /// from zero, then added to c), so with alpha = 1 the bits are those of the packed a-sliver.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512InPlaceA<T, TCount>(int kc, T* a, nint lda, T* b, nint bStride, T* c, nint ldc, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCount : struct, ICount
    {
        nint half = Vector512<T>.Count;
        PrefetchTile<TCount>(c, ldc * sizeof(T), (int)(2 * half * sizeof(T)));
        T* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        nint p = 0;
        for (; p + 3 < kc; p += 4)
        {
            StepInPlace512<T, TCount>(a0 + p, a1 + p, a2 + p, a3 + p, a4 + p, a5 + p, b, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            StepInPlace512<T, TCount>(a0 + p + 1, a1 + p + 1, a2 + p + 1, a3 + p + 1, a4 + p + 1, a5 + p + 1, b + bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            StepInPlace512<T, TCount>(a0 + p + 2, a1 + p + 2, a2 + p + 2, a3 + p + 2, a4 + p + 2, a5 + p + 2, b + 2 * bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            StepInPlace512<T, TCount>(a0 + p + 3, a1 + p + 3, a2 + p + 3, a3 + p + 3, a4 + p + 3, a5 + p + 3, b + 3 * bStride, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            b += 4 * bStride;
        }
        for (; p < kc; p++)
        {
            StepInPlace512<T, TCount>(a0 + p, a1 + p, a2 + p, a3 + p, a4 + p, a5 + p, b, half, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            b += bStride;
        }
        StoreTile512<T, TCount>(c, ldc, half, overwrite, addend, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StepInPlace512<T, TCount>(T* a0, T* a1, T* a2, T* a3, T* a4, T* a5, T* b, nint half,
        ref Vector512<T> c00, ref Vector512<T> c01, ref Vector512<T> c10, ref Vector512<T> c11, ref Vector512<T> c20, ref Vector512<T> c21,
        ref Vector512<T> c30, ref Vector512<T> c31, ref Vector512<T> c40, ref Vector512<T> c41, ref Vector512<T> c50, ref Vector512<T> c51)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCount : struct, ICount
    {
        Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + half);
        Vector512<T> v0 = Vector512.Create(*a0); c00 = Fma(v0, b0, c00); c01 = Fma(v0, b1, c01);
        if (TCount.Value > 1) { Vector512<T> v1 = Vector512.Create(*a1); c10 = Fma(v1, b0, c10); c11 = Fma(v1, b1, c11); }
        if (TCount.Value > 2) { Vector512<T> v2 = Vector512.Create(*a2); c20 = Fma(v2, b0, c20); c21 = Fma(v2, b1, c21); }
        if (TCount.Value > 3) { Vector512<T> v3 = Vector512.Create(*a3); c30 = Fma(v3, b0, c30); c31 = Fma(v3, b1, c31); }
        if (TCount.Value > 4) { Vector512<T> v4 = Vector512.Create(*a4); c40 = Fma(v4, b0, c40); c41 = Fma(v4, b1, c41); }
        if (TCount.Value > 5) { Vector512<T> v5 = Vector512.Create(*a5); c50 = Fma(v5, b0, c50); c51 = Fma(v5, b1, c51); }
    }

    private static void Kernel512InPlaceA<T>(int rows, int kc, T* a, nint lda, T* b, nint bStride, T* c, nint ldc, bool overwrite, T* addend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (rows)
        {
            case 6: Kernel512InPlaceA<T, Count6>(kc, a, lda, b, bStride, c, ldc, overwrite, addend); break;
            case 5: Kernel512InPlaceA<T, Count5>(kc, a, lda, b, bStride, c, ldc, overwrite, addend); break;
            case 4: Kernel512InPlaceA<T, Count4>(kc, a, lda, b, bStride, c, ldc, overwrite, addend); break;
            case 3: Kernel512InPlaceA<T, Count3>(kc, a, lda, b, bStride, c, ldc, overwrite, addend); break;
            case 2: Kernel512InPlaceA<T, Count2>(kc, a, lda, b, bStride, c, ldc, overwrite, addend); break;
            case 1: Kernel512InPlaceA<T, Count1>(kc, a, lda, b, bStride, c, ldc, overwrite, addend); break;
            default: throw new System.Diagnostics.UnreachableException();
        }
    }
}
