using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

/// <summary>
/// c[i·ldc + j] += source[j·m + i] for i &lt; m, j &lt; n: a product computed as its transpose [n, m] added back into
/// c [m, n] (an LSTM's weight gradients, Lstm.AddWeightGradient). Each element is one addition, so every path gives the
/// same bits; floats with AVX go through 8 × 8 register transposes.
/// </summary>
internal static class TransposedAdd
{
    public static void Add<T>(int m, int n, ReadOnlySpan<T> source, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || ldc < Math.Max(n, 1))
            throw new ArgumentException($"TransposedAdd: expected m, n ≥ 0 and ldc ≥ n; got m={m}, n={n}, ldc={ldc}.");
        if (m == 0 || n == 0) return;
        if (source.Length < (long)m * n)
            throw new ArgumentException($"TransposedAdd: the source [{n}, {m}] needs {(long)m * n} elements, but the span has {source.Length}.", nameof(source));
        if (c.Length < (long)(m - 1) * ldc + n)
            throw new ArgumentException($"TransposedAdd: c [{m}, {n}] with row stride {ldc} needs {(long)(m - 1) * ldc + n} elements, but the span has {c.Length}.", nameof(c));
        if (typeof(T) == typeof(float) && Avx.IsSupported)
        {
            Float(m, n, MemoryMarshal.Cast<T, float>(source), MemoryMarshal.Cast<T, float>(c), ldc);
            return;
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[i * ldc + j] += source[j * m + i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Float(int m, int n, ReadOnlySpan<float> source, Span<float> c, int ldc)
    {
        fixed (float* s = source)
        fixed (float* t = c)
        {
            int i = 0;
            for (; i + 8 <= m; i += 8)
            {
                int j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    // rows j … j + 7 of the source, its columns i … i + 7: column p goes to row i + p of c
                    float* r = s + (nint)j * m + i;
                    GemmPacked.Transpose8x8(Avx.LoadVector256(r), Avx.LoadVector256(r + m), Avx.LoadVector256(r + 2 * m), Avx.LoadVector256(r + 3 * m),
                        Avx.LoadVector256(r + 4 * m), Avx.LoadVector256(r + 5 * m), Avx.LoadVector256(r + 6 * m), Avx.LoadVector256(r + 7 * m),
                        out var c0, out var c1, out var c2, out var c3, out var c4, out var c5, out var c6, out var c7);
                    float* target = t + (nint)i * ldc + j;
                    Avx.Store(target, Avx.LoadVector256(target) + c0);
                    Avx.Store(target + ldc, Avx.LoadVector256(target + ldc) + c1);
                    Avx.Store(target + 2 * ldc, Avx.LoadVector256(target + 2 * ldc) + c2);
                    Avx.Store(target + 3 * ldc, Avx.LoadVector256(target + 3 * ldc) + c3);
                    Avx.Store(target + 4 * ldc, Avx.LoadVector256(target + 4 * ldc) + c4);
                    Avx.Store(target + 5 * ldc, Avx.LoadVector256(target + 5 * ldc) + c5);
                    Avx.Store(target + 6 * ldc, Avx.LoadVector256(target + 6 * ldc) + c6);
                    Avx.Store(target + 7 * ldc, Avx.LoadVector256(target + 7 * ldc) + c7);
                }
                for (; j < n; j++)
                    for (int p = 0; p < 8; p++) t[(nint)(i + p) * ldc + j] += s[(nint)j * m + i + p];
            }
            for (; i < m; i++)
                for (int j = 0; j < n; j++) t[(nint)i * ldc + j] += s[(nint)j * m + i];
        }
    }
}
