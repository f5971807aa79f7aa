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

    /// <summary>
    /// c[rowStart[i] + j] += source[j·m + i] (or = with store) for i &lt; m, j &lt; n: a product computed as its transpose
    /// [n, m] whose rows land at given offsets (an LSTM's input gradient, computed step-major, added into the batch-first
    /// [B, T, F]). Rows must not overlap. Each element is one addition (or a copy), so every path gives the same bits.
    /// </summary>
    public static void AddToRows<T>(int m, int n, ReadOnlySpan<T> source, Span<T> c, ReadOnlySpan<int> rowStart, bool store)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || rowStart.Length < m)
            throw new ArgumentException($"TransposedAdd: expected m, n ≥ 0 and a row start for each of the m rows; got m={m}, n={n}, {rowStart.Length} row starts.");
        if (m == 0 || n == 0) return;
        if (source.Length < (long)m * n)
            throw new ArgumentException($"TransposedAdd: the source [{n}, {m}] needs {(long)m * n} elements, but the span has {source.Length}.", nameof(source));
        for (int i = 0; i < m; i++)
            if (rowStart[i] < 0 || (long)rowStart[i] + n > c.Length)
                throw new ArgumentException($"TransposedAdd: row {i} starts at {rowStart[i]}; {n} values from there do not fit in c ({c.Length} values).", nameof(rowStart));
        if (typeof(T) == typeof(float) && Avx.IsSupported)
        {
            FloatToRows(m, n, MemoryMarshal.Cast<T, float>(source), MemoryMarshal.Cast<T, float>(c), rowStart, store);
            return;
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                ref T target = ref c[rowStart[i] + j];
                target = store ? source[j * m + i] : target + source[j * m + i];
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void FloatToRows(int m, int n, ReadOnlySpan<float> source, Span<float> c, ReadOnlySpan<int> rowStart, bool store)
    {
        fixed (float* s = source)
        fixed (float* t = c)
        fixed (int* starts = rowStart)
        {
            int i = 0;
            for (; i + 8 <= m; i += 8)
            {
                float* t0 = t + starts[i], t1 = t + starts[i + 1], t2 = t + starts[i + 2], t3 = t + starts[i + 3];
                float* t4 = t + starts[i + 4], t5 = t + starts[i + 5], t6 = t + starts[i + 6], t7 = t + starts[i + 7];
                int j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    // rows j … j + 7 of the source, its columns i … i + 7: column p goes to row i + p of c
                    float* r = s + (nint)j * m + i;
                    GemmPacked.Transpose8x8(Avx.LoadVector256(r), Avx.LoadVector256(r + m), Avx.LoadVector256(r + 2 * m), Avx.LoadVector256(r + 3 * m),
                        Avx.LoadVector256(r + 4 * m), Avx.LoadVector256(r + 5 * m), Avx.LoadVector256(r + 6 * m), Avx.LoadVector256(r + 7 * m),
                        out var c0, out var c1, out var c2, out var c3, out var c4, out var c5, out var c6, out var c7);
                    if (store)
                    {
                        Avx.Store(t0 + j, c0); Avx.Store(t1 + j, c1); Avx.Store(t2 + j, c2); Avx.Store(t3 + j, c3);
                        Avx.Store(t4 + j, c4); Avx.Store(t5 + j, c5); Avx.Store(t6 + j, c6); Avx.Store(t7 + j, c7);
                        continue;
                    }
                    Avx.Store(t0 + j, Avx.LoadVector256(t0 + j) + c0);
                    Avx.Store(t1 + j, Avx.LoadVector256(t1 + j) + c1);
                    Avx.Store(t2 + j, Avx.LoadVector256(t2 + j) + c2);
                    Avx.Store(t3 + j, Avx.LoadVector256(t3 + j) + c3);
                    Avx.Store(t4 + j, Avx.LoadVector256(t4 + j) + c4);
                    Avx.Store(t5 + j, Avx.LoadVector256(t5 + j) + c5);
                    Avx.Store(t6 + j, Avx.LoadVector256(t6 + j) + c6);
                    Avx.Store(t7 + j, Avx.LoadVector256(t7 + j) + c7);
                }
                for (; j < n; j++)
                    for (int p = 0; p < 8; p++)
                    {
                        float* target = t + starts[i + p] + j;
                        *target = store ? s[(nint)j * m + i + p] : *target + s[(nint)j * m + i + p];
                    }
            }
            for (; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    float* target = t + starts[i] + j;
                    *target = store ? s[(nint)j * m + i] : *target + s[(nint)j * m + i];
                }
        }
    }
}
