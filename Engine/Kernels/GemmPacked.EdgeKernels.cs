// The micro-kernels for a right-edge tile at most half a register tile wide (N = 200 or 100 at 512 bits: 8 or 4 columns
// past the last whole tile). The 512- and 256-bit versions are the same text with the vector type swapped: edit both alike.
using System.Runtime.Intrinsics;

namespace NumLstm.Kernels;

internal static unsafe partial class GemmPacked
{
    /// <summary>
    /// A right-edge tile of at most NR / 2 columns: each row's first vector of the full tile only, and two a-slivers (12
    /// rows) at once where both are whole, so the FMAs still run in 12 independent chains. Every element gets the FMA
    /// chain the full kernel gives it (the same products in the same order from zero), stored into c [rows, ldc]
    /// (overwrite); the caller adds the tile's valid columns. Measured (M = 64, K = 800, one core): N = 200 took as
    /// long as N = 224 with the full-width edge tile (131.7 against 110.5 µs for N = 192), and N = 100 as long as 128.
    /// Returns the rows done: 12 (two slivers) or <paramref name="rows"/>.
    /// </summary>
    private static int EdgeKernel<T>(Width width, int rows, int rowsLeft, int kc, T* a, T* b, nint bStride, T* c, nint ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool pair = rows == MR && rowsLeft >= 2 * MR;
        if (width == Width.V512)
        {
            if (pair) EdgeKernel512<T, Count6, Count6>(kc, a, a + (nint)kc * MR, b, bStride, c, ldc);
            else EdgeRows512<T>(rows, kc, a, b, bStride, c, ldc);
        }
        else
        {
            if (pair) EdgeKernel256<T, Count6, Count6>(kc, a, a + (nint)kc * MR, b, bStride, c, ldc);
            else EdgeRows256<T>(rows, kc, a, b, bStride, c, ldc);
        }
        return pair ? 2 * MR : rows;
    }

    private static void EdgeRows512<T>(int rows, int kc, T* a, T* b, nint bStride, T* c, nint ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (rows)
        {
            case 6: EdgeKernel512<T, Count6, Count0>(kc, a, null, b, bStride, c, ldc); break;
            case 5: EdgeKernel512<T, Count5, Count0>(kc, a, null, b, bStride, c, ldc); break;
            case 4: EdgeKernel512<T, Count4, Count0>(kc, a, null, b, bStride, c, ldc); break;
            case 3: EdgeKernel512<T, Count3, Count0>(kc, a, null, b, bStride, c, ldc); break;
            case 2: EdgeKernel512<T, Count2, Count0>(kc, a, null, b, bStride, c, ldc); break;
            default: EdgeKernel512<T, Count1, Count0>(kc, a, null, b, bStride, c, ldc); break;
        }
    }

    private static void EdgeRows256<T>(int rows, int kc, T* a, T* b, nint bStride, T* c, nint ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (rows)
        {
            case 6: EdgeKernel256<T, Count6, Count0>(kc, a, null, b, bStride, c, ldc); break;
            case 5: EdgeKernel256<T, Count5, Count0>(kc, a, null, b, bStride, c, ldc); break;
            case 4: EdgeKernel256<T, Count4, Count0>(kc, a, null, b, bStride, c, ldc); break;
            case 3: EdgeKernel256<T, Count3, Count0>(kc, a, null, b, bStride, c, ldc); break;
            case 2: EdgeKernel256<T, Count2, Count0>(kc, a, null, b, bStride, c, ldc); break;
            default: EdgeKernel256<T, Count1, Count0>(kc, a, null, b, bStride, c, ldc); break;
        }
    }

    // c[r, 0..V) = Σ_p a[p·MR + r] · b[p·bStride + 0..V) for the TFirst rows of sliver a and the TSecond rows of sliver a2
    // (rows TFirst… of c), V = Vector512<T>.Count: the full kernel's first-vector chains.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EdgeKernel512<T, TFirst, TSecond>(int kc, T* a, T* a2, T* b, nint bStride, T* c, nint ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TFirst : struct, ICount
        where TSecond : struct, ICount
    {
        Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<T> d0 = default, d1 = default, d2 = default, d3 = default, d4 = default, d5 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<T> b0 = Vector512.Load(b);
            c0 = Fma(Vector512.Create(a[0]), b0, c0);
            if (TFirst.Value > 1) c1 = Fma(Vector512.Create(a[1]), b0, c1);
            if (TFirst.Value > 2) c2 = Fma(Vector512.Create(a[2]), b0, c2);
            if (TFirst.Value > 3) c3 = Fma(Vector512.Create(a[3]), b0, c3);
            if (TFirst.Value > 4) c4 = Fma(Vector512.Create(a[4]), b0, c4);
            if (TFirst.Value > 5) c5 = Fma(Vector512.Create(a[5]), b0, c5);
            if (TSecond.Value > 0) d0 = Fma(Vector512.Create(a2[0]), b0, d0);
            if (TSecond.Value > 1) d1 = Fma(Vector512.Create(a2[1]), b0, d1);
            if (TSecond.Value > 2) d2 = Fma(Vector512.Create(a2[2]), b0, d2);
            if (TSecond.Value > 3) d3 = Fma(Vector512.Create(a2[3]), b0, d3);
            if (TSecond.Value > 4) d4 = Fma(Vector512.Create(a2[4]), b0, d4);
            if (TSecond.Value > 5) d5 = Fma(Vector512.Create(a2[5]), b0, d5);
            a += MR;
            if (TSecond.Value > 0) a2 += MR;
            b += bStride;
        }
        Vector512.Store(c0, c);
        if (TFirst.Value > 1) Vector512.Store(c1, c + ldc);
        if (TFirst.Value > 2) Vector512.Store(c2, c + 2 * ldc);
        if (TFirst.Value > 3) Vector512.Store(c3, c + 3 * ldc);
        if (TFirst.Value > 4) Vector512.Store(c4, c + 4 * ldc);
        if (TFirst.Value > 5) Vector512.Store(c5, c + 5 * ldc);
        T* second = c + TFirst.Value * ldc;
        if (TSecond.Value > 0) Vector512.Store(d0, second);
        if (TSecond.Value > 1) Vector512.Store(d1, second + ldc);
        if (TSecond.Value > 2) Vector512.Store(d2, second + 2 * ldc);
        if (TSecond.Value > 3) Vector512.Store(d3, second + 3 * ldc);
        if (TSecond.Value > 4) Vector512.Store(d4, second + 4 * ldc);
        if (TSecond.Value > 5) Vector512.Store(d5, second + 5 * ldc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EdgeKernel256<T, TFirst, TSecond>(int kc, T* a, T* a2, T* b, nint bStride, T* c, nint ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TFirst : struct, ICount
        where TSecond : struct, ICount
    {
        Vector256<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector256<T> d0 = default, d1 = default, d2 = default, d3 = default, d4 = default, d5 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<T> b0 = Vector256.Load(b);
            c0 = Fma(Vector256.Create(a[0]), b0, c0);
            if (TFirst.Value > 1) c1 = Fma(Vector256.Create(a[1]), b0, c1);
            if (TFirst.Value > 2) c2 = Fma(Vector256.Create(a[2]), b0, c2);
            if (TFirst.Value > 3) c3 = Fma(Vector256.Create(a[3]), b0, c3);
            if (TFirst.Value > 4) c4 = Fma(Vector256.Create(a[4]), b0, c4);
            if (TFirst.Value > 5) c5 = Fma(Vector256.Create(a[5]), b0, c5);
            if (TSecond.Value > 0) d0 = Fma(Vector256.Create(a2[0]), b0, d0);
            if (TSecond.Value > 1) d1 = Fma(Vector256.Create(a2[1]), b0, d1);
            if (TSecond.Value > 2) d2 = Fma(Vector256.Create(a2[2]), b0, d2);
            if (TSecond.Value > 3) d3 = Fma(Vector256.Create(a2[3]), b0, d3);
            if (TSecond.Value > 4) d4 = Fma(Vector256.Create(a2[4]), b0, d4);
            if (TSecond.Value > 5) d5 = Fma(Vector256.Create(a2[5]), b0, d5);
            a += MR;
            if (TSecond.Value > 0) a2 += MR;
            b += bStride;
        }
        Vector256.Store(c0, c);
        if (TFirst.Value > 1) Vector256.Store(c1, c + ldc);
        if (TFirst.Value > 2) Vector256.Store(c2, c + 2 * ldc);
        if (TFirst.Value > 3) Vector256.Store(c3, c + 3 * ldc);
        if (TFirst.Value > 4) Vector256.Store(c4, c + 4 * ldc);
        if (TFirst.Value > 5) Vector256.Store(c5, c + 5 * ldc);
        T* second = c + TFirst.Value * ldc;
        if (TSecond.Value > 0) Vector256.Store(d0, second);
        if (TSecond.Value > 1) Vector256.Store(d1, second + ldc);
        if (TSecond.Value > 2) Vector256.Store(d2, second + 2 * ldc);
        if (TSecond.Value > 3) Vector256.Store(d3, second + 3 * ldc);
        if (TSecond.Value > 4) Vector256.Store(d4, second + 4 * ldc);
        if (TSecond.Value > 5) Vector256.Store(d5, second + 5 * ldc);
    }
}
