using System.Numerics.Tensors;

namespace NumLstm.Kernels;

/// <summary>
/// General matrix products over row-major spans, BLAS style:
/// <c>c = alpha * op(a) * op(b) + beta * c</c>, where op(x) is x or its transpose.
/// op(a) is m×k, op(b) is k×n, c is m×n; lda, ldb, ldc are the row strides of the stored matrices.
/// </summary>
public static class Gemm
{
    /// <summary>c = alpha * op(a) * op(b) + beta * c. With beta = 1 the product accumulates into c.</summary>
    public static void Multiply<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, allowParallel: true);

    /// <summary>
    /// As the public Multiply; allowParallel = false keeps a large product on the calling thread (a caller that already
    /// runs one task per core, as a Bidirectional's two directions do), and share lets the other core join it once it is
    /// done with its own task (<see cref="SharedProduct{T}"/>; the same bits).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Multiply<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc, bool allowParallel, SharedProduct<T>? share = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"Gemm: sizes must be non-negative, got m={m}, n={n}, k={k}.");
        int aRows = transA == Transpose.No ? m : k, aCols = transA == Transpose.No ? k : m;
        int bRows = transB == Transpose.No ? k : n, bCols = transB == Transpose.No ? n : k;
        CheckOperand(nameof(a), a.Length, aRows, aCols, lda);
        CheckOperand(nameof(b), b.Length, bRows, bCols, ldb);
        CheckOperand(nameof(c), c.Length, m, n, ldc);
        if (m == 0 || n == 0) return;

        bool ta = transA == Transpose.Yes, tb = transB == Transpose.Yes;
        var route = typeof(T) == typeof(float) || typeof(T) == typeof(double) ? GemmPacked.Choose<T>(ta, tb, m, n, k) : GemmPacked.Route.Generic;
        bool blocked = route is GemmPacked.Route.Packed or GemmPacked.Route.PackedInPlaceB;
        // With beta = 0 the blocked product stores its first k block instead of adding it to a cleared c (same bits,
        // one pass over c fewer).
        bool overwrite = blocked && beta == T.Zero && k > 0 && alpha != T.Zero;
        if (beta != T.One && !overwrite)
        {
            for (int r = 0; r < m; r++)
            {
                Span<T> row = c.Slice(r * ldc, n);
                if (beta == T.Zero) row.Clear();
                else TensorPrimitives.Multiply(row, beta, row);
            }
        }
        if (k == 0 || alpha == T.Zero) return;

        switch (route)
        {
            case GemmPacked.Route.SingleRow:
                GemmPacked.SingleRow(ta, n, k, alpha, a, lda, b, ldb, c);
                return;
            case GemmPacked.Route.Packed:
            case GemmPacked.Route.PackedInPlaceB:
                GemmPacked.MultiplyAccumulate(ta, tb, m, n, k, alpha, a, lda, b, ldb, c, ldc, GemmPacked.Best, parallel: allowParallel ? null : false,
                    overwrite: overwrite, share: share);
                return;
        }
        MultiplyAccumulateGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
    }

    /// <summary>Elements a span must hold for <see cref="Pack{T}"/> of a k × n op(b).</summary>
    public static int PackedLength<T>(int k, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k < 0 || n < 0) throw new ArgumentException($"Gemm.PackedLength: sizes must be non-negative, got k={k}, n={n}.");
        return GemmPacked.PackedLength<T>(k, n);
    }

    /// <summary>
    /// Packs op(b) (k × n, b stored with row stride ldb) once, for many <see cref="MultiplyPacked{T}"/> calls with the same
    /// b: an LSTM's recurrent weights across its time steps. The layout is private to this process (it follows the
    /// vector width), so a packed span is not data to store.
    /// </summary>
    public static void Pack<T>(Transpose transB, int k, int n, ReadOnlySpan<T> b, int ldb, Span<T> packed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k < 0 || n < 0) throw new ArgumentException($"Gemm.Pack: sizes must be non-negative, got k={k}, n={n}.");
        CheckOperand(nameof(b), b.Length, transB == Transpose.No ? k : n, transB == Transpose.No ? n : k, ldb);
        int length = GemmPacked.PackedLength<T>(k, n);
        if (packed.Length < length)
            throw new ArgumentException($"Gemm.Pack: the packed span needs {length} elements for k={k}, n={n}, got {packed.Length}.", nameof(packed));
        GemmPacked.PackWhole(transB == Transpose.Yes, k, n, b, ldb, packed);
    }

    /// <summary>
    /// c = alpha * op(a) * B + beta * c with B (k × n) packed by <see cref="Pack{T}"/>. parallel: large products may
    /// split the columns of c over two threads; the result is bitwise the same either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyPacked<T>(Transpose transA, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> packedB, T beta, Span<T> c, int ldc, bool parallel = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => MultiplyPackedInLayout(transA, m, n, k, alpha, a, lda, packedB, beta, c, ldc, parallel, singleRowLayout: false);

    /// <summary>
    /// <see cref="MultiplyPacked{T}"/> for a B that <see cref="GemmPacked.InterleaveForSingleRow{T}"/> turned into its
    /// batch-1 layout (singleRowLayout; then m must be 1): the same bits as the plain layout gives.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MultiplyPackedInLayout<T>(Transpose transA, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> packedB, T beta, Span<T> c, int ldc, bool parallel, bool singleRowLayout)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"Gemm: sizes must be non-negative, got m={m}, n={n}, k={k}.");
        CheckOperand(nameof(a), a.Length, transA == Transpose.No ? m : k, transA == Transpose.No ? k : m, lda);
        CheckOperand(nameof(c), c.Length, m, n, ldc);
        int length = GemmPacked.PackedLength<T>(k, n);
        if (packedB.Length < length)
            throw new ArgumentException($"Gemm.MultiplyPacked: packedB needs {length} elements for k={k}, n={n}, got {packedB.Length}.", nameof(packedB));
        if (m == 0 || n == 0) return;
        // With beta = 0 the product stores its first k block instead of adding it to a cleared c (same bits).
        bool overwrite = beta == T.Zero && k > 0 && alpha != T.Zero;
        if (beta != T.One && !overwrite)
        {
            for (int r = 0; r < m; r++)
            {
                Span<T> row = c.Slice(r * ldc, n);
                if (beta == T.Zero) row.Clear();
                else TensorPrimitives.Multiply(row, beta, row);
            }
        }
        if (k == 0 || alpha == T.Zero) return;
        GemmPacked.MultiplyPrepacked(transA == Transpose.Yes, m, n, k, alpha, a, lda, packedB, c, ldc, parallel, overwrite, singleRowLayout: singleRowLayout);
    }

    /// <summary>
    /// c[r, :] = rowStart + op(a)[r, :] · B for every row r, B (k × n) packed by <see cref="Pack{T}"/>: the bits of
    /// copying rowStart into every row of c and then <see cref="MultiplyPacked{T}"/> with alpha = beta = 1, without the
    /// copy pass (an LSTM's Ax + b for all steps).
    /// </summary>
    internal static void MultiplyPackedOntoRow<T>(Transpose transA, int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> packedB,
        ReadOnlySpan<T> rowStart, Span<T> c, int ldc, bool parallel = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"Gemm: sizes must be non-negative, got m={m}, n={n}, k={k}.");
        CheckOperand(nameof(a), a.Length, transA == Transpose.No ? m : k, transA == Transpose.No ? k : m, lda);
        CheckOperand(nameof(c), c.Length, m, n, ldc);
        if (rowStart.Length < n)
            throw new ArgumentException($"Gemm.MultiplyPackedOntoRow: rowStart needs {n} elements, got {rowStart.Length}.", nameof(rowStart));
        int length = GemmPacked.PackedLength<T>(k, n);
        if (packedB.Length < length)
            throw new ArgumentException($"Gemm.MultiplyPackedOntoRow: packedB needs {length} elements for k={k}, n={n}, got {packedB.Length}.", nameof(packedB));
        if (m == 0 || n == 0) return;
        GemmPacked.MultiplyPrepacked(transA == Transpose.Yes, m, n, k, T.One, a, lda, packedB, c, ldc, parallel, overwrite: true, rowStart.Slice(0, n));
    }

    /// <summary>The portable path (any T, no hardware requirement): c += alpha * op(a) * op(b) by rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MultiplyAccumulateGeneric<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (transB == Transpose.No)
        {
            // Row axpy form: c[r, :] += alpha * a(r, p) * b[p, :]. No row is skipped for a zero a(r, p): 0·∞ and 0·NaN
            // in b are NaN, as the packed kernels and PyTorch's mm give them (NonFiniteProductTests).
            for (int r = 0; r < m; r++)
            {
                Span<T> cRow = c.Slice(r * ldc, n);
                for (int p = 0; p < k; p++)
                {
                    T scale = alpha * (transA == Transpose.No ? a[r * lda + p] : a[p * lda + r]);
                    TensorPrimitives.MultiplyAdd(b.Slice(p * ldb, n), scale, cRow, cRow);
                }
            }
        }
        else if (transA == Transpose.No)
        {
            // Dot form: c[r, j] += alpha * a[r, :] . b[j, :].
            for (int r = 0; r < m; r++)
            {
                ReadOnlySpan<T> aRow = a.Slice(r * lda, k);
                Span<T> cRow = c.Slice(r * ldc, n);
                for (int j = 0; j < n; j++)
                    cRow[j] += alpha * TensorPrimitives.Dot(aRow, b.Slice(j * ldb, k));
            }
        }
        else
        {
            for (int r = 0; r < m; r++)
                for (int j = 0; j < n; j++)
                {
                    T sum = T.Zero;
                    for (int p = 0; p < k; p++) sum += a[p * lda + r] * b[j * ldb + p];
                    c[r * ldc + j] += alpha * sum;
                }
        }
    }

    /// <summary>y = alpha * op(a) * x + beta * y, with a stored m×n (row stride lda).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyVector<T>(Transpose transA, int m, int n, T alpha, ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> x, T beta, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckOperand(nameof(a), a.Length, m, n, lda);
        int xLength = transA == Transpose.No ? n : m, yLength = transA == Transpose.No ? m : n;
        if (x.Length < xLength) throw new ArgumentException($"Gemv: x needs {xLength} elements, got {x.Length}.", nameof(x));
        if (y.Length < yLength) throw new ArgumentException($"Gemv: y needs {yLength} elements, got {y.Length}.", nameof(y));
        y = y.Slice(0, yLength);
        if (beta == T.Zero) y.Clear();
        else if (beta != T.One) TensorPrimitives.Multiply(y, beta, y);
        if (transA == Transpose.No)
        {
            for (int r = 0; r < m; r++) y[r] += alpha * TensorPrimitives.Dot(a.Slice(r * lda, n), x.Slice(0, n));
        }
        else
        {
            // Every row, also for x[r] = 0: 0·∞ and 0·NaN in a are NaN, as IEEE 754 and PyTorch's mv give them.
            for (int r = 0; r < m; r++) TensorPrimitives.MultiplyAdd(a.Slice(r * lda, n), alpha * x[r], y, y);
        }
    }

    private static void CheckOperand(string name, int length, int rows, int cols, int stride)
    {
        if (stride < Math.Max(cols, 1))
            throw new ArgumentException($"Gemm: operand '{name}' is {rows}×{cols} but its row stride is {stride} (needs ≥ {Math.Max(cols, 1)}).", name);
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * stride + cols;
        if (length < needed)
            throw new ArgumentException($"Gemm: operand '{name}' is {rows}×{cols} with stride {stride}, which needs {needed} elements, but the span has {length}.", name);
    }
}
