namespace NumLstm.Kernels;

/// <summary>The float32 fast path of <see cref="Gemm"/> (c += alpha * op(a) * b). Tuned in the performance work.</summary>
internal static class GemmFloat
{
    public static void MultiplyAccumulate(bool transA, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
        => Gemm.MultiplyAccumulateGeneric(transA ? Transpose.Yes : Transpose.No, Transpose.No, m, n, k, alpha, a, lda, b, ldb, c, ldc);
}
