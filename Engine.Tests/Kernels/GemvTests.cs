using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary><see cref="Gemm.MultiplyVector{T}"/> against <see cref="NaiveKernels.Gemv"/>, both orientations.</summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class GemvTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [TestCase(false, 1, 1, 0, 1.0, 0.0)]
    [TestCase(false, 3, 17, 2, 1.0, 1.0)]
    [TestCase(false, 100, 257, 1, -0.5, 2.0)]
    [TestCase(false, 257, 3, 3, 2.0, 0.0)]
    [TestCase(true, 1, 1, 0, 1.0, 0.0)]
    [TestCase(true, 3, 17, 2, 1.0, 1.0)]
    [TestCase(true, 100, 257, 1, -0.5, 2.0)]
    [TestCase(true, 257, 3, 3, 2.0, 0.0)]
    public void MultiplyVector_MatchesNaive_AndLeavesTheRestOfYUntouched(bool transA, int m, int n, int pad, double alpha, double beta)
    {
        int lda = n + pad, inLength = transA ? m : n, outLength = transA ? n : m;
        T[] a = TestArrays.Uniform<T>((m - 1) * lda + n, m + n);
        T[] x = TestArrays.Uniform<T>(inLength, 3);
        T[] yStart = beta == 0 ? Enumerable.Repeat(T.NaN, outLength).ToArray() : TestArrays.Uniform<T>(outLength, 4);
        // y is longer than needed: only its first outLength elements may change.
        var y = new T[outLength + 4];
        y.AsSpan().Fill(TestArrays.Sentinel<T>());
        yStart.CopyTo(y, 0);
        var (expected, magnitude) = NaiveKernels.Gemv(transA, m, n, alpha, TestArrays.ToDouble<T>(a), lda,
            TestArrays.ToDouble<T>(x), beta, TestArrays.ToDouble<T>(yStart));

        Gemm.MultiplyVector(transA ? Transpose.Yes : Transpose.No, m, n, T.CreateTruncating(alpha), a, lda, x, T.CreateTruncating(beta), y);

        TestArrays.AssertClose<T>(y.AsSpan(0, outLength), expected, magnitude, (inLength + 3) * TestArrays.Epsilon<T>(), 0, "y");
        TestArrays.AssertUntouched<T>(y.AsSpan(outLength), "y past its length");
    }
}
