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
        var (expected, magnitude) = NaiveKernels.Gemm(false, false, m, n, k, 1.0, TestArrays.ToDouble<T>(a), 0, lda,
            TestArrays.ToDouble<T>(b), 0, n, 0.0, new double[m * n], 0, n);
        // Twice: a product of this few rows walks b's slivers first to last, then last to first (SliversOuterInPlaceA).
        for (int call = 0; call < 2; call++)
        {
            Array.Clear(c);
            GemmPacked.MultiplyPrepacked(false, m, n, k, T.One, a, lda, packed, c, n, parallel: false, overwrite: true, readAInPlace: true);
            TestArrays.AssertClose<T>(c, expected, magnitude, (k + 3) * TestArrays.Epsilon<T>(), 0, $"c (call {call + 1})");
        }
    }

    [TestCase(32, 512, 256)]    // LSTM(512)'s steps at W4's batch, narrowed: two k blocks, 8 slivers (16 for double)
    [TestCase(64, 200, 800)]    // LSTM(200)'s step product at batch 64
    [TestCase(6, 64, 64)]       // one tile, two slivers; the shortest k read in place
    [TestCase(120, 320, 96)]    // MC rows; k blocks of 256 and 64
    [TestCase(110, 256, 80)]    // float: 2½ slivers, so one thread and the second of two halves take the blocked loops
    public void SliversOuter_BothDirections_GiveThePackedSliversBits(int m, int k, int n)
    {
        // A step-sized product walks b's slivers alternately forwards and backwards on each thread; every call, in either
        // direction, has the bits of the blocked loops over packed a-slivers.
        RequireTheWideKernels();
        int lda = k + 5;
        T[] a = TestArrays.Uniform<T>(m * lda, 3 * m + k), b = TestArrays.Uniform<T>(k * n, 2 * n), rowStart = TestArrays.Uniform<T>(n, 6);
        a[(m - 1) * lda + k - 1] = T.NaN;
        T[] packed = new T[Gemm.PackedLength<T>(k, n)];
        Gemm.Pack(Transpose.No, k, n, b, n, packed);
        ReadOnlySpan<T> aSpan = a.AsSpan(0, (m - 1) * lda + k);
        T[] start = TestArrays.Uniform<T>(m * n, 4);
        foreach (bool parallel in new[] { false, true })
            foreach (string mode in new[] { "stored", "added", "onto a row" })
            {
                bool overwrite = mode != "added";
                ReadOnlySpan<T> addend = mode == "onto a row" ? rowStart : default;
                T[] sliver = (T[])start.Clone();
                GemmPacked.MultiplyPrepacked(false, m, n, k, T.One, aSpan, lda, packed, sliver, n, parallel, overwrite, addend, readAInPlace: false);
                for (int call = 0; call < 3; call++)
                {
                    T[] inPlace = (T[])start.Clone();
                    GemmPacked.MultiplyPrepacked(false, m, n, k, T.One, aSpan, lda, packed, inPlace, n, parallel, overwrite, addend, readAInPlace: true);
                    Assert.That(Bits(inPlace), Is.EqualTo(Bits(sliver)), $"c ({m}×{n}×{k}, {mode}, {(parallel ? "two threads" : "one")}, call {call + 1})");
                }
            }
    }

    [Test]
    public void SliversOuter_AlternatesItsDirectionOnEachCall_OnlyForFewRows()
    {
        RequireTheWideKernels();
        T[] b = TestArrays.Uniform<T>(64 * 64, 1), packed = new T[Gemm.PackedLength<T>(64, 64)];
        Gemm.Pack(Transpose.No, 64, 64, b, 64, packed);
        T[] a = TestArrays.Uniform<T>(121 * 64, 2), c = new T[121 * 64];
        bool before = GemmPacked.WalkSliversBackward;
        GemmPacked.MultiplyPrepacked(false, 8, 64, 64, T.One, a, 64, packed, c, 64, parallel: false, overwrite: true);
        Assert.That(GemmPacked.WalkSliversBackward, Is.EqualTo(!before), "a step-sized product turns the direction");
        GemmPacked.MultiplyPrepacked(false, 8, 64, 64, T.One, a, 64, packed, c, 64, parallel: false, overwrite: true);
        Assert.That(GemmPacked.WalkSliversBackward, Is.EqualTo(before), "and turns it back");
        GemmPacked.MultiplyPrepacked(false, 121, 64, 64, T.One, a, 64, packed, c, 64, parallel: false, overwrite: true);
        Assert.That(GemmPacked.WalkSliversBackward, Is.EqualTo(before), "more than MC rows take the blocked loops");
        GemmPacked.MultiplyPrepacked(false, 8, 64, 64, T.One, a, 64, packed, c, 64, parallel: false, overwrite: true, readAInPlace: false);
        Assert.That(GemmPacked.WalkSliversBackward, Is.EqualTo(before), "a packed into slivers takes the blocked loops");
    }

    private static long[] Bits(T[] values) => TestArrays.Bits<T>(values);
}
