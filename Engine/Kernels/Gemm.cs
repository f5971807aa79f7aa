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
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"Gemm: sizes must be non-negative, got m={m}, n={n}, k={k}.");
        int aRows = transA == Transpose.No ? m : k, aCols = transA == Transpose.No ? k : m;
        int bRows = transB == Transpose.No ? k : n, bCols = transB == Transpose.No ? n : k;
        CheckOperand(nameof(a), a.Length, aRows, aCols, lda);
        CheckOperand(nameof(b), b.Length, bRows, bCols, ldb);
        CheckOperand(nameof(c), c.Length, m, n, ldc);
        if (m == 0 || n == 0) return;

        if (beta != T.One)
        {
            for (int r = 0; r < m; r++)
            {
                Span<T> row = c.Slice(r * ldc, n);
                if (beta == T.Zero) row.Clear();
                else TensorPrimitives.Multiply(row, beta, row);
            }
        }
        if (k == 0 || alpha == T.Zero) return;

        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            bool ta = transA == Transpose.Yes, tb = transB == Transpose.Yes;
            switch (GemmPacked.Choose<T>(ta, tb, m, n, k))
            {
                case GemmPacked.Route.SingleRow:
                    GemmPacked.SingleRow(ta, n, k, alpha, a, lda, b, ldb, c);
                    return;
                case GemmPacked.Route.Packed:
                case GemmPacked.Route.PackedInPlaceB:
                    GemmPacked.MultiplyAccumulate(ta, tb, m, n, k, alpha, a, lda, b, ldb, c, ldc, GemmPacked.Best);
                    return;
            }
        }
        MultiplyAccumulateGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
    }

    /// <summary>The portable path (any T, no hardware requirement): c += alpha * op(a) * op(b) by rows.</summary>
    internal static void MultiplyAccumulateGeneric<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (transB == Transpose.No)
        {
            // Row axpy form: c[r, :] += alpha * a(r, p) * b[p, :].
            for (int r = 0; r < m; r++)
            {
                Span<T> cRow = c.Slice(r * ldc, n);
                for (int p = 0; p < k; p++)
                {
                    T scale = alpha * (transA == Transpose.No ? a[r * lda + p] : a[p * lda + r]);
                    if (scale == T.Zero) continue;
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
            for (int r = 0; r < m; r++)
            {
                T scale = alpha * x[r];
                if (scale != T.Zero) TensorPrimitives.MultiplyAdd(a.Slice(r * lda, n), scale, y, y);
            }
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
