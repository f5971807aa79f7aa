using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// <see cref="Gemm.Multiply{T}"/> against the double-precision triple loop in <see cref="NaiveKernels.Gemm"/>, on awkward
/// sizes, all transposes, padded strides, unaligned offsets and with guard elements around c.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class GemmTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // (m, n, k) mixing 1, 3, 17, 100, 257, plus shapes of the LSTM and ones past the packing block sizes.
    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (3, 3, 3), (1, 100, 257), (3, 17, 100), (17, 3, 257), (100, 257, 1), (257, 1, 17),
        (257, 100, 3), (17, 257, 100), (100, 17, 17), (1, 257, 3), (257, 257, 257), (64, 400, 200), (7, 1030, 65),
    ];

    private static readonly (double Alpha, double Beta)[] Scalings = [(1, 0), (1, 1), (-0.75, 0.5), (2.5, -1), (0.5, 2)];

    public static IEnumerable<TestCaseData> AllCases()
    {
        int index = 0;
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
                foreach (var (m, n, k) in Shapes)
                {
                    var (alpha, beta) = Scalings[index % Scalings.Length];
                    int pad = index % 4, offset = 1 + index % 3;
                    index++;
                    yield return new TestCaseData(transA, transB, m, n, k, alpha, beta, pad, offset)
                        .SetArgDisplayNames($"{(transA ? "T" : "N")}{(transB ? "T" : "N")}", $"{m}x{n}x{k}", $"alpha={alpha}", $"beta={beta}", $"pad={pad}", $"offset={offset}");
                }
    }

    [TestCaseSource(nameof(AllCases))]
    public void Multiply_MatchesNaiveProduct(bool transA, bool transB, int m, int n, int k, double alpha, double beta, int pad, int offset)
        => CheckAgainstNaive(transA, transB, m, n, k, alpha, beta, padA: pad, padB: (pad + 1) % 4, padC: (pad + 2) % 4, offset, nanInC: false, seed: m * 7919 + n * 31 + k);

    [TestCase(false, false)]
    [TestCase(false, true)]
    [TestCase(true, false)]
    [TestCase(true, true)]
    public void Multiply_WithBetaZero_OverwritesNaNGarbageInC(bool transA, bool transB)
    {
        CheckAgainstNaive(transA, transB, 17, 100, 3, 1, 0, padA: 1, padB: 2, padC: 3, offset: 2, nanInC: true, seed: 11);
        CheckAgainstNaive(transA, transB, 100, 257, 17, -2, 0, padA: 0, padB: 0, padC: 0, offset: 1, nanInC: true, seed: 12);
        CheckAgainstNaive(transA, transB, 1, 33, 64, 1, 0, padA: 0, padB: 3, padC: 1, offset: 3, nanInC: true, seed: 13);
    }

    [TestCase(false, false)]
    [TestCase(false, true)]
    [TestCase(true, false)]
    [TestCase(true, true)]
    public void Multiply_WithBetaOne_AccumulatesIntoC(bool transA, bool transB)
    {
        CheckAgainstNaive(transA, transB, 3, 17, 100, 1, 1, padA: 2, padB: 1, padC: 0, offset: 1, nanInC: false, seed: 21);
        CheckAgainstNaive(transA, transB, 64, 129, 40, 1, 1, padA: 0, padB: 0, padC: 5, offset: 2, nanInC: false, seed: 22);
    }

    [Test]
    public void Multiply_WithBetaOne_CalledTwice_DoublesTheProduct()
    {
        const int m = 5, n = 40, k = 9;
        T[] a = TestArrays.Uniform<T>(m * k, 1), b = TestArrays.Uniform<T>(k * n, 2);
        var c = new T[m * n];
        Gemm.Multiply(Transpose.No, Transpose.No, m, n, k, T.One, a, k, b, n, T.One, c, n);
        Gemm.Multiply(Transpose.No, Transpose.No, m, n, k, T.One, a, k, b, n, T.One, c, n);
        var (expected, magnitude) = NaiveKernels.Gemm(false, false, m, n, k, 2, TestArrays.ToDouble<T>(a), 0, k, TestArrays.ToDouble<T>(b), 0, n, 0, new double[m * n], 0, n);
        TestArrays.AssertClose<T>(c, expected, magnitude, 4 * (k + 3) * TestArrays.Epsilon<T>(), 0, "c");
    }

    [TestCase(0)]
    [TestCase(7)]
    public void Multiply_WithAlphaZeroOrEmptyK_OnlyScalesC(int k)
    {
        CheckAgainstNaive(false, false, 17, 3, k, alpha: k == 0 ? 1 : 0, beta: -1.5, padA: 0, padB: 1, padC: 2, offset: 1, nanInC: false, seed: 31);
        CheckAgainstNaive(true, true, 3, 17, k, alpha: k == 0 ? 1 : 0, beta: 0, padA: 1, padB: 0, padC: 1, offset: 2, nanInC: true, seed: 32);
    }

    [Test]
    public void Multiply_WithEmptyM_LeavesCUntouched()
    {
        T[] c = Enumerable.Repeat(TestArrays.Sentinel<T>(), 10).ToArray();
        Gemm.Multiply(Transpose.No, Transpose.No, 0, 3, 2, T.One, new T[0], 2, new T[6], 3, T.Zero, c, 3);
        TestArrays.AssertUntouched<T>(c, "c");
    }

    [TestCase(false, false, 1, 400, 32)]
    [TestCase(false, false, 32, 400, 100)]
    [TestCase(false, true, 16, 512, 128)]
    [TestCase(true, true, 7, 64, 48)]
    public void Multiply_SingleThreadedShapes_DoNotAllocateOnceWarm(bool transA, bool transB, int m, int n, int k)
    {
        Assert.That((long)m * n * k, Is.LessThan(GemmPacked.ParallelThreshold), "premise: a single-threaded size");
        T[] a = TestArrays.Uniform<T>(m * k, 1), b = TestArrays.Uniform<T>(k * n, 2), c = new T[m * n];
        var ta = transA ? Transpose.Yes : Transpose.No;
        var tb = transB ? Transpose.Yes : Transpose.No;
        int lda = transA ? m : k, ldb = transB ? k : n;
        for (int warm = 0; warm < 50; warm++) Gemm.Multiply(ta, tb, m, n, k, T.One, a, lda, b, ldb, T.Zero, c, n);
        // The least of five windows: the runtime's own one-off work (tiered compilation starts counting calls only after
        // a quiet period, so it can land in any window) once put 7.9 KB into a single window; a per-call allocation would
        // show in every window.
        long least = long.MaxValue;
        for (int window = 0; window < 5 && least > 0; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int call = 0; call < 20; call++) Gemm.Multiply(ta, tb, m, n, k, T.One, a, lda, b, ldb, T.Zero, c, n);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.That(least, Is.Zero, "bytes allocated by 20 warm calls (least of five windows)");
    }

    /// <summary>
    /// Builds a, b, c inside bigger arrays (offset into the array, padded row strides), with NaN in a's and b's padding
    /// (any use of it would poison the result) and a sentinel around and between c's rows, then checks the m×n block
    /// against the oracle and that every other element of c's array is still the sentinel.
    /// </summary>
    private static void CheckAgainstNaive(bool transA, bool transB, int m, int n, int k, double alpha, double beta,
        int padA, int padB, int padC, int offset, bool nanInC, int seed)
    {
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        int lda = Math.Max(aCols, 1) + padA, ldb = Math.Max(bCols, 1) + padB, ldc = Math.Max(n, 1) + padC;
        T[] a = Embed(TestArrays.Uniform<T>(aRows * aCols, seed), aRows, aCols, lda, offset, T.NaN);
        T[] b = Embed(TestArrays.Uniform<T>(bRows * bCols, seed + 1), bRows, bCols, ldb, offset, T.NaN);
        T[] cValues = nanInC ? Enumerable.Repeat(T.NaN, m * n).ToArray() : TestArrays.Uniform<T>(m * n, seed + 2);
        T[] c = Embed(cValues, m, n, ldc, offset, TestArrays.Sentinel<T>());
        var (expected, magnitude) = NaiveKernels.Gemm(transA, transB, m, n, k, alpha,
            TestArrays.ToDouble<T>(a), offset, lda, TestArrays.ToDouble<T>(b), offset, ldb, beta, TestArrays.ToDouble<T>(c), offset, ldc);

        int aLength = aRows == 0 || aCols == 0 ? 0 : (aRows - 1) * lda + aCols;
        int bLength = bRows == 0 || bCols == 0 ? 0 : (bRows - 1) * ldb + bCols;
        Gemm.Multiply(transA ? Transpose.Yes : Transpose.No, transB ? Transpose.Yes : Transpose.No, m, n, k,
            T.CreateTruncating(alpha), a.AsSpan(offset, aLength), lda, b.AsSpan(offset, bLength), ldb,
            T.CreateTruncating(beta), c.AsSpan(offset), ldc);

        var actual = new T[m * n];
        for (int r = 0; r < m; r++)
        {
            c.AsSpan(offset + r * ldc, n).CopyTo(actual.AsSpan(r * n));
            c.AsSpan(offset + r * ldc, n).Fill(TestArrays.Sentinel<T>());
        }
        // Rounding: at most (k + 2) roundings per element, each relative to the magnitude of the terms.
        TestArrays.AssertClose<T>(actual, expected, magnitude, (k + 3) * TestArrays.Epsilon<T>(), 0, "c");
        TestArrays.AssertUntouched<T>(c, "c outside its m×n block");
    }

    /// <summary>Places rows×cols values at <paramref name="offset"/> with row stride ld in an array filled with <paramref name="fill"/>.</summary>
    private static T[] Embed(T[] values, int rows, int cols, int ld, int offset, T fill)
    {
        var array = new T[offset + rows * ld + 5];
        array.AsSpan().Fill(fill);
        for (int r = 0; r < rows; r++) values.AsSpan(r * cols, cols).CopyTo(array.AsSpan(offset + r * ld));
        return array;
    }
}
