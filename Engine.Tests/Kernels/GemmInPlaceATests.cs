using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// The prepacked product reading a's rows in place (GemmPacked.Kernel512InPlaceA, for k blocks of 64 or more at 512 bits
/// with alpha = 1) against the same product with a packed into slivers: the same bits, over row remainders (1–6 rows
/// of a tile), a's row stride, k blocks below and above the threshold and across KC, MC blocks, edge tiles (where the
/// block is packed on demand), stored, added and addend-started c, one and two threads, and ±0, NaN and ∞ in a.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class GemmInPlaceATests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static void RequireTheWideKernels()
    {
        if (GemmPacked.Best != GemmPacked.Width.V512) Assert.Inconclusive($"a is read in place only by the 512-bit kernels (the products here: {GemmPacked.Best})");
    }

    [TestCase(6, 64, 64)]
    [TestCase(13, 100, 400)]    // LSTM(100)'s step product at batch 13: two full tiles and a 1-row remainder, a 16-column edge
    [TestCase(64, 200, 800)]    // LSTM(200)'s step product at batch 64
    [TestCase(125, 200, 96)]    // MC = 120 then 5 rows
    [TestCase(11, 300, 70)]     // k blocks of 256 (in place) and 44 (packed)
    [TestCase(9, 513, 32)]      // three k blocks: 256, 256 in place, 1 packed
    [TestCase(17, 63, 64)]      // below the threshold: packed throughout
    [TestCase(2, 64, 17)]       // only an edge tile
    public void InPlaceA_GivesThePackedSliversBits(int m, int k, int n)
    {
        RequireTheWideKernels();
        int lda = k + 3;
        T[] a = TestArrays.Uniform<T>(m * lda, m + k), b = TestArrays.Uniform<T>(k * n, n), rowStart = TestArrays.Uniform<T>(n, 5);
        for (int i = 0; i < a.Length; i += 7) a[i] = i % 2 == 0 ? -T.Zero : T.Zero;
        a[(m - 1) * lda + k / 2] = T.NaN;                      // the last row's c is NaN
        if (m > 2) a[lda + k - 1] = T.PositiveInfinity;        // row 1: ∞ times b's signs, NaN where b is 0
        T[] packed = new T[Gemm.PackedLength<T>(k, n)];
        Gemm.Pack(Transpose.No, k, n, b, n, packed);
        ReadOnlySpan<T> aSpan = a.AsSpan(0, (m - 1) * lda + k);
        T[] start = TestArrays.Uniform<T>(m * n, 9);
        foreach (bool parallel in new[] { false, true })
            foreach (string mode in new[] { "stored", "added", "onto a row" })
            {
                T[] inPlace = (T[])start.Clone(), sliver = (T[])start.Clone();
                bool overwrite = mode != "added";
                ReadOnlySpan<T> addend = mode == "onto a row" ? rowStart : default;
                GemmPacked.MultiplyPrepacked(false, m, n, k, T.One, aSpan, lda, packed, inPlace, n, parallel, overwrite, addend, readAInPlace: true);
                GemmPacked.MultiplyPrepacked(false, m, n, k, T.One, aSpan, lda, packed, sliver, n, parallel, overwrite, addend, readAInPlace: false);
                Assert.That(Bits(inPlace), Is.EqualTo(Bits(sliver)), $"c ({m}×{n}×{k}, {mode}, {(parallel ? "two threads" : "one")})");
                Assert.That(T.IsNaN(inPlace[(m - 1) * n]), Is.True, $"the NaN in a's last row reaches c ({mode})");
            }
    }

    [Test]
    public void InPlaceA_MatchesTheNaiveProduct()
    {
        // Not only the same bits as the packed path: the right product (rows in order, the stride skipped).
        RequireTheWideKernels();
        const int m = 14, k = 150, n = 96, lda = 160;
        T[] a = TestArrays.Uniform<T>(m * lda, 1), b = TestArrays.Uniform<T>(k * n, 2), c = new T[m * n];
        T[] packed = new T[Gemm.PackedLength<T>(k, n)];
        Gemm.Pack(Transpose.No, k, n, b, n, packed);
        GemmPacked.MultiplyPrepacked(false, m, n, k, T.One, a, lda, packed, c, n, parallel: false, overwrite: true, readAInPlace: true);
        var (expected, magnitude) = NaiveKernels.Gemm(false, false, m, n, k, 1.0, TestArrays.ToDouble<T>(a), 0, lda,
            TestArrays.ToDouble<T>(b), 0, n, 0.0, new double[m * n], 0, n);
        TestArrays.AssertClose<T>(c, expected, magnitude, (k + 3) * TestArrays.Epsilon<T>(), 0, "c");
    }

    private static long[] Bits(T[] values) => values.Select(v => typeof(T) == typeof(float)
        ? BitConverter.SingleToInt32Bits(float.CreateTruncating(v)) : BitConverter.DoubleToInt64Bits(double.CreateTruncating(v))).ToArray();
}
