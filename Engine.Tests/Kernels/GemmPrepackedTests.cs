using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// <see cref="Gemm.Pack{T}"/> then <see cref="Gemm.MultiplyPacked{T}"/> against the naive product, on shapes that cross
/// the KC and NC block edges and the sliver edge, with strides, offsets, beta and both thread counts.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class GemmPrepackedTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly (int M, int N, int K)[] Shapes = [(1, 1, 1), (5, 33, 7), (13, 70, 300), (64, 400, 100), (2, 4100, 3), (7, 17, 513)];

    [Test]
    public void MultiplyPacked_MatchesNaiveProduct_OnBlockEdges(
        [Values(Transpose.No, Transpose.Yes)] Transpose transA, [Values(Transpose.No, Transpose.Yes)] Transpose transB,
        [Values(false, true)] bool parallel, [Values(0.0, 1.0, 0.5)] double beta)
    {
        bool ta = transA == Transpose.Yes, tb = transB == Transpose.Yes;
        foreach (var (m, n, k) in Shapes)
        {
            int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
            int lda = aCols + 1, ldb = bCols + 2, ldc = n + 3, offset = 1 + (m + n) % 3;
            T[] a = TestArrays.Uniform<T>(offset + aRows * lda, m + 1);
            T[] b = TestArrays.Uniform<T>(offset + bRows * ldb, n + 2);
            T[] c = new T[offset + m * ldc + 4];
            c.AsSpan().Fill(TestArrays.Sentinel<T>());
            T[] cStart = TestArrays.Uniform<T>(m * n, k + 3);
            for (int r = 0; r < m; r++) cStart.AsSpan(r * n, n).CopyTo(c.AsSpan(offset + r * ldc));
            const double alpha = -1.25;
            var (expected, magnitude) = NaiveKernels.Gemm(ta, tb, m, n, k, alpha, TestArrays.ToDouble<T>(a), offset, lda,
                TestArrays.ToDouble<T>(b), offset, ldb, beta, TestArrays.ToDouble<T>(c), offset, ldc);

            T[] packed = new T[Gemm.PackedLength<T>(k, n)];
            Gemm.Pack(transB, k, n, b.AsSpan(offset, (bRows - 1) * ldb + bCols), ldb, packed);
            Gemm.MultiplyPacked(transA, m, n, k, T.CreateTruncating(alpha), a.AsSpan(offset, (aRows - 1) * lda + aCols), lda, packed,
                T.CreateTruncating(beta), c.AsSpan(offset, (m - 1) * ldc + n), ldc, parallel);

            var actual = new T[m * n];
            for (int r = 0; r < m; r++)
            {
                c.AsSpan(offset + r * ldc, n).CopyTo(actual.AsSpan(r * n));
                c.AsSpan(offset + r * ldc, n).Fill(TestArrays.Sentinel<T>());
            }
            TestArrays.AssertClose<T>(actual, expected, magnitude, (k + 3) * TestArrays.Epsilon<T>(), 0, $"c ({m}×{n}×{k})");
            TestArrays.AssertUntouched<T>(c, $"c outside its block ({m}×{n}×{k})");
        }
    }

    [Test]
    public void MultiplyPacked_BetaZero_EqualsAccumulatingIntoAClearedC_BitForBit(
        [Values(Transpose.No, Transpose.Yes)] Transpose transA, [Values(false, true)] bool parallel)
    {
        // beta = 0 stores the first k block instead of adding it to a cleared c: c's old values (NaN among them) are
        // never read, and the result has the bits of beta = 1 over zeros, signed zeros, NaN and ∞ included (m = 1 takes
        // the single-row kernels).
        bool ta = transA == Transpose.Yes;
        foreach (var (m, n, k) in Shapes)
        {
            int aRows = ta ? k : m, aCols = ta ? m : k, lda = aCols + 1;
            T[] a = TestArrays.Uniform<T>(aRows * lda, m + 7), b = TestArrays.Uniform<T>(k * n, n + 8);
            for (int i = 0; i < a.Length; i += 5) a[i] = i % 2 == 0 ? -T.Zero : T.Zero;
            if (m > 1) a[ta ? m - 1 : (m - 1) * lda] = T.NaN;   // element (m − 1, 0) of op(a): only c's last row is NaN
            if (a.Length > 2) a[^1] = T.NegativeInfinity;
            T[] packed = new T[Gemm.PackedLength<T>(k, n)];
            Gemm.Pack(Transpose.No, k, n, b, n, packed);
            T[] cleared = new T[m * n], stored = new T[m * n];
            for (int i = 0; i < stored.Length; i++) stored[i] = i % 3 == 0 ? T.NaN : TestArrays.Sentinel<T>();
            T alpha = T.CreateTruncating(0.75);
            ReadOnlySpan<T> aSpan = a.AsSpan(0, (aRows - 1) * lda + aCols);
            Gemm.MultiplyPacked(transA, m, n, k, alpha, aSpan, lda, packed, T.One, cleared, n, parallel);
            Gemm.MultiplyPacked(transA, m, n, k, alpha, aSpan, lda, packed, T.Zero, stored, n, parallel);
            Assert.That(Bits(stored), Is.EqualTo(Bits(cleared)), $"c ({m}×{n}×{k})");
            Assert.That(stored.Any(T.IsNaN), Is.EqualTo(m > 1), $"the NaN in a reaches c ({m}×{n}×{k})");
        }
    }

    [Test]
    public void MultiplyPackedOntoRow_EqualsCopyingTheRowThenAccumulating_BitForBit(
        [Values(Transpose.No, Transpose.Yes)] Transpose transA, [Values(false, true)] bool parallel)
    {
        // c = rowStart + op(a)·B per row: the bits of copying rowStart into every row and then MultiplyPacked with
        // beta = 1, with ±0, NaN and ∞ in a and in rowStart (operand order kept, so even NaN payloads match); m = 1
        // takes the single-row kernels (87 columns: four slivers at once, one, and a partial one); (7, 17, 513) three k
        // blocks; (64, 400, 100) splits over two threads.
        bool ta = transA == Transpose.Yes;
        foreach (var (m, n, k) in Shapes.Append((3, 40, 0)).Append((1, 87, 20)))
        {
            int aRows = ta ? k : m, aCols = ta ? m : k, lda = Math.Max(1, aCols + 1);
            T[] a = TestArrays.Uniform<T>(Math.Max(1, aRows * lda), m + 9), b = TestArrays.Uniform<T>(Math.Max(1, k * n), n + 10);
            T[] rowStart = TestArrays.Uniform<T>(n + 2, n + 11);
            for (int i = 0; i < a.Length; i += 6) a[i] = i % 4 == 0 ? -T.Zero : T.Zero;
            if (m > 1 && k > 0) a[ta ? m - 1 : (m - 1) * lda] = T.NaN;
            for (int j = 0; j < n; j += 5) rowStart[j] = (j / 5) % 3 == 0 ? -T.Zero : (j / 5) % 3 == 1 ? T.NaN : T.PositiveInfinity;
            T[] packed = new T[Gemm.PackedLength<T>(k, n)];
            Gemm.Pack(Transpose.No, k, n, b, n, packed);
            T[] copied = new T[m * n], onto = new T[m * n];
            for (int r = 0; r < m; r++) rowStart.AsSpan(0, n).CopyTo(copied.AsSpan(r * n));
            for (int i = 0; i < onto.Length; i++) onto[i] = TestArrays.Sentinel<T>();
            ReadOnlySpan<T> aSpan = a.AsSpan(0, Math.Max(0, (aRows - 1) * lda + aCols));
            Gemm.MultiplyPacked(transA, m, n, k, T.One, aSpan, lda, packed, T.One, copied, n, parallel);
            Gemm.MultiplyPackedOntoRow(transA, m, n, k, aSpan, lda, packed, rowStart, onto, n, parallel);
            Assert.That(Bits(onto), Is.EqualTo(Bits(copied)), $"c ({m}×{n}×{k})");
        }
        var error = Assert.Throws<ArgumentException>(() => Gemm.MultiplyPackedOntoRow(Transpose.No, 2, 8, 3, new T[6], 3,
            new T[Gemm.PackedLength<T>(3, 8)], new T[7], new T[16], 8))!;
        Assert.That(error.Message, Does.Contain("rowStart needs 8").And.Contain("got 7"));
    }

    private static long[] Bits(T[] values) => TestArrays.Bits<T>(values);

    [Test]
    public void MultiplyPacked_IsBitwiseTheSame_OnOneOrTwoThreads()
    {
        const int m = 32, n = 1030, k = 300;
        T[] a = TestArrays.Uniform<T>(m * k, 1), b = TestArrays.Uniform<T>(n * k, 2);
        T[] packed = new T[Gemm.PackedLength<T>(k, n)];
        Gemm.Pack(Transpose.Yes, k, n, b, k, packed);
        T[] one = new T[m * n], two = new T[m * n];
        Gemm.MultiplyPacked(Transpose.No, m, n, k, T.One, a, k, packed, T.Zero, one, n, parallel: false);
        Gemm.MultiplyPacked(Transpose.No, m, n, k, T.One, a, k, packed, T.Zero, two, n, parallel: true);
        Assert.That(two, Is.EqualTo(one));
    }

    [Test]
    public void MultiplyPacked_GivesARowTheSameBits_AloneAndInsideABatch(
        [Values(Transpose.No, Transpose.Yes)] Transpose transA, [Values(false, true)] bool parallel)
    {
        // n crosses four-sliver groups, single slivers and a ragged edge; k crosses a KC block.
        foreach (var (n, k) in new[] { (200, 300), (100, 40), (7, 5), (1030, 64) })
        {
            const int m = 13;
            T[] a = TestArrays.Uniform<T>(m * k, n), b = TestArrays.Uniform<T>(n * k, k), start = TestArrays.Uniform<T>(m * n, 3);
            T[] packed = new T[Gemm.PackedLength<T>(k, n)];
            Gemm.Pack(Transpose.Yes, k, n, b, k, packed);
            int lda = transA == Transpose.No ? k : m;
            T[] aStored = transA == Transpose.No ? a : Transposed(a, m, k);
            T[] together = (T[])start.Clone();
            Gemm.MultiplyPacked(transA, m, n, k, T.One, aStored, lda, packed, T.One, together, n, parallel);
            for (int r = 0; r < m; r++)
            {
                T[] alone = start.AsSpan(r * n, n).ToArray();
                Gemm.MultiplyPacked(Transpose.No, 1, n, k, T.One, a.AsSpan(r * k, k), k, packed, T.One, alone, n, parallel);
                Assert.That(alone, Is.EqualTo(together.AsSpan(r * n, n).ToArray()), $"row {r} (n={n}, k={k})");
            }
        }
    }

    private static T[] Transposed(T[] a, int rows, int cols)
    {
        var result = new T[a.Length];
        for (int r = 0; r < rows; r++)
            for (int p = 0; p < cols; p++) result[p * rows + r] = a[r * cols + p];
        return result;
    }

    [Test]
    public void MultiplyPacked_RejectsAShortPackedSpan()
    {
        T[] a = new T[4 * 8], c = new T[4 * 40], packed = new T[Gemm.PackedLength<T>(8, 40) - 1];
        var e = Assert.Throws<ArgumentException>(() => Gemm.MultiplyPacked(Transpose.No, 4, 40, 8, T.One, a, 8, packed, T.Zero, c, 40));
        Assert.That(e!.Message, Does.Contain("packedB").And.Contain("k=8, n=40"));
    }
}
