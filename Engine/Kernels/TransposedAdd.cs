using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

/// <summary>
/// A product computed as its transpose [n, m] added (or stored) back into c [m, n]: row i of c gets column i of the
/// source. <see cref="Add{T}"/> takes c's rows ldc apart (an LSTM's weight gradients, Lstm.AddWeightGradient);
/// <see cref="AddToRows{T}"/> at listed offsets (an LSTM's input gradient, step-major rows into the batch-first
/// [B, T, F]). Each element is one addition (or a copy), so every path gives the same bits; floats with AVX go through
/// 8 × 8 register transposes.
/// </summary>
internal static class TransposedAdd
{
    /// <summary>c[i·ldc + j] += source[j·m + i] for i &lt; m, j &lt; n.</summary>
    public static void Add<T>(int m, int n, ReadOnlySpan<T> source, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || ldc < Math.Max(n, 1))
            throw new ArgumentException($"TransposedAdd: expected m, n ≥ 0 and ldc ≥ n; got m={m}, n={n}, ldc={ldc}.");
        if (m == 0 || n == 0) return;
        CheckSource(m, n, source.Length);
        if (c.Length < (long)(m - 1) * ldc + n)
            throw new ArgumentException($"TransposedAdd: c [{m}, {n}] with row stride {ldc} needs {(long)(m - 1) * ldc + n} elements, but the span has {c.Length}.", nameof(c));
        Run(m, n, source, c, new StridedRows(ldc), store: false);
    }

    /// <summary>
    /// c[rowStart[i] + j] += source[j·m + i] (or = with store) for i &lt; m, j &lt; n. Rows must not overlap.
    /// </summary>
    public static void AddToRows<T>(int m, int n, ReadOnlySpan<T> source, Span<T> c, ReadOnlySpan<int> rowStart, bool store)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || rowStart.Length < m)
            throw new ArgumentException($"TransposedAdd: expected m, n ≥ 0 and a row start for each of the m rows; got m={m}, n={n}, {rowStart.Length} row starts.");
        if (m == 0 || n == 0) return;
        CheckSource(m, n, source.Length);
        for (int i = 0; i < m; i++)
            if (rowStart[i] < 0 || (long)rowStart[i] + n > c.Length)
                throw new ArgumentException($"TransposedAdd: row {i} starts at {rowStart[i]}; {n} values from there do not fit in c ({c.Length} values).", nameof(rowStart));
        unsafe
        {
            fixed (int* starts = rowStart) Run(m, n, source, c, new ListedRows(starts), store);
        }
    }

    private static void CheckSource(int m, int n, int length)
    {
        if (length < (long)m * n)
            throw new ArgumentException($"TransposedAdd: the source [{n}, {m}] needs {(long)m * n} elements, but the span has {length}.", "source");
    }

    /// <summary>Where row i of c starts; a struct type argument, so the JIT specializes and inlines it.</summary>
    private interface IRowMap { int Start(int i); }

    private readonly struct StridedRows(int ldc) : IRowMap
    {
        public int Start(int i) => i * ldc;
    }

    private readonly unsafe struct ListedRows(int* starts) : IRowMap
    {
        public int Start(int i) => starts[i];
    }

    private static void Run<T, TRows>(int m, int n, ReadOnlySpan<T> source, Span<T> c, TRows rows, bool store)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TRows : struct, IRowMap
    {
        if (typeof(T) == typeof(float) && Avx.IsSupported)
        {
            Float(m, n, MemoryMarshal.Cast<T, float>(source), MemoryMarshal.Cast<T, float>(c), rows, store);
            return;
        }
        for (int i = 0; i < m; i++)
        {
            int start = rows.Start(i);
            for (int j = 0; j < n; j++) c[start + j] = store ? source[j * m + i] : c[start + j] + source[j * m + i];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Float<TRows>(int m, int n, ReadOnlySpan<float> source, Span<float> c, TRows rows, bool store)
        where TRows : struct, IRowMap
    {
        fixed (float* s = source)
        fixed (float* t = c)
        {
            int i = 0;
            for (; i + 8 <= m; i += 8)
            {
                float* t0 = t + rows.Start(i), t1 = t + rows.Start(i + 1), t2 = t + rows.Start(i + 2), t3 = t + rows.Start(i + 3);
                float* t4 = t + rows.Start(i + 4), t5 = t + rows.Start(i + 5), t6 = t + rows.Start(i + 6), t7 = t + rows.Start(i + 7);
                int j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    // rows j … j + 7 of the source, its columns i … i + 7: column p goes to row i + p of c
                    float* r = s + (nint)j * m + i;
                    GemmPacked.Transpose8x8(Avx.LoadVector256(r), Avx.LoadVector256(r + m), Avx.LoadVector256(r + 2 * m), Avx.LoadVector256(r + 3 * m),
                        Avx.LoadVector256(r + 4 * m), Avx.LoadVector256(r + 5 * m), Avx.LoadVector256(r + 6 * m), Avx.LoadVector256(r + 7 * m),
                        out var c0, out var c1, out var c2, out var c3, out var c4, out var c5, out var c6, out var c7);
                    if (!store)
                    {
                        // c + sum, the operands in the scalar path's order
                        c0 = Avx.LoadVector256(t0 + j) + c0; c1 = Avx.LoadVector256(t1 + j) + c1; c2 = Avx.LoadVector256(t2 + j) + c2; c3 = Avx.LoadVector256(t3 + j) + c3;
                        c4 = Avx.LoadVector256(t4 + j) + c4; c5 = Avx.LoadVector256(t5 + j) + c5; c6 = Avx.LoadVector256(t6 + j) + c6; c7 = Avx.LoadVector256(t7 + j) + c7;
                    }
                    Avx.Store(t0 + j, c0); Avx.Store(t1 + j, c1); Avx.Store(t2 + j, c2); Avx.Store(t3 + j, c3);
                    Avx.Store(t4 + j, c4); Avx.Store(t5 + j, c5); Avx.Store(t6 + j, c6); Avx.Store(t7 + j, c7);
                }
                for (; j < n; j++)
                    for (int p = 0; p < 8; p++) Element(t + rows.Start(i + p) + j, s[(nint)j * m + i + p], store);
            }
            for (; i < m; i++)
            {
                float* row = t + rows.Start(i);
                for (int j = 0; j < n; j++) Element(row + j, s[(nint)j * m + i], store);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Element(float* target, float value, bool store) => *target = store ? value : *target + value;
}
