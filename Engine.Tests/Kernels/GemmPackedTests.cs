using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// The packed GEMM with each micro-kernel width, with b packed or read in place, on one or two threads, forced
/// regardless of what the size heuristics and this machine would choose (Vector512 runs in software where AVX-512 is
/// missing), on shapes that cross the KC, MC and NC block edges and the MR×NR tile edges.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class GemmPackedTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly (int M, int N, int K)[] Shapes = [(1, 1, 1), (5, 33, 7), (13, 70, 300), (130, 45, 20), (2, 4100, 3)];

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (int bits in new[] { 256, 512 })
            foreach (bool transA in new[] { false, true })
                foreach (bool transB in new[] { false, true })
                    foreach (bool? directB in transB ? new bool?[] { false } : new bool?[] { false, true })
                        foreach (bool parallel in new[] { false, true })
                            yield return new TestCaseData(bits, transA, transB, directB, parallel)
                                .SetArgDisplayNames($"Vector{bits}", $"{(transA ? "T" : "N")}{(transB ? "T" : "N")}",
                                    directB == true ? "b in place" : "b packed", parallel ? "2 threads" : "1 thread");
    }

    [TestCaseSource(nameof(Cases))]
    public void MultiplyAccumulate_MatchesNaiveProduct_OnBlockEdges(int bits, bool transA, bool transB, bool? directB, bool parallel)
    {
        var width = bits == 512 ? GemmPacked.Width.V512 : GemmPacked.Width.V256;
        foreach (var (m, n, k) in Shapes)
        {
            int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
            int lda = aCols + 1, ldb = bCols + 2, ldc = n + 3, offset = 1 + (m + n) % 3;
            T[] a = TestArrays.Uniform<T>(offset + aRows * lda, m + 1);
            T[] b = TestArrays.Uniform<T>(offset + bRows * ldb, n + 2);
            T[] c = new T[offset + m * ldc + 4];
            c.AsSpan().Fill(TestArrays.Sentinel<T>());
            T[] cStart = TestArrays.Uniform<T>(m * n, k + 3);
            for (int r = 0; r < m; r++) cStart.AsSpan(r * n, n).CopyTo(c.AsSpan(offset + r * ldc));
            const double alpha = -1.25;
            var (expected, magnitude) = NaiveKernels.Gemm(transA, transB, m, n, k, alpha, TestArrays.ToDouble<T>(a), offset, lda,
                TestArrays.ToDouble<T>(b), offset, ldb, 1, TestArrays.ToDouble<T>(c), offset, ldc);

            GemmPacked.MultiplyAccumulate(transA, transB, m, n, k, T.CreateTruncating(alpha),
                a.AsSpan(offset, (aRows - 1) * lda + aCols), lda, b.AsSpan(offset, (bRows - 1) * ldb + bCols), ldb,
                c.AsSpan(offset), ldc, width, directB, parallel);

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

    [TestCaseSource(nameof(Cases))]
    public void Overwrite_EqualsAccumulatingIntoAClearedC_BitForBit(int bits, bool transA, bool transB, bool? directB, bool parallel)
    {
        // overwrite (Gemm's beta = 0) stores the first k block instead of adding it to a cleared c: c's old values
        // (NaN among them) are never read, and the result has the same bits, signed zeros, NaN and ∞ included.
        var width = bits == 512 ? GemmPacked.Width.V512 : GemmPacked.Width.V256;
        foreach (var (m, n, k) in Shapes.Append((20, 40, 0)))
        {
            int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
            int lda = Math.Max(1, aCols + 1), ldb = Math.Max(1, bCols + 2), ldc = n + 3;
            T[] a = TestArrays.Uniform<T>(aRows * lda, m + 5), b = TestArrays.Uniform<T>(bRows * ldb, n + 6);
            for (int i = 0; i < a.Length; i += 7) a[i] = i % 3 == 0 ? -T.Zero : T.Zero;
            if (m > 1 && k > 0) a[transA ? m - 1 : (m - 1) * lda] = T.NaN;   // element (m − 1, 0) of op(a): only c's last row is NaN
            if (a.Length > 2) a[^1] = T.PositiveInfinity;
            T[] cleared = new T[m * ldc], stored = new T[m * ldc];
            for (int i = 0; i < stored.Length; i++) stored[i] = i % 3 == 0 ? T.NaN : TestArrays.Sentinel<T>();
            for (int r = 0; r < m; r++) stored.AsSpan(r * ldc + n, ldc - n).Fill(TestArrays.Sentinel<T>());
            for (int r = 0; r < m; r++) cleared.AsSpan(r * ldc + n, ldc - n).Fill(TestArrays.Sentinel<T>());
            T alpha = T.CreateTruncating(-1.25);
            ReadOnlySpan<T> aSpan = a.AsSpan(0, Math.Max(0, (aRows - 1) * lda + aCols)), bSpan = b.AsSpan(0, Math.Max(0, (bRows - 1) * ldb + bCols));
            GemmPacked.MultiplyAccumulate(transA, transB, m, n, k, alpha, aSpan, lda, bSpan, ldb, cleared, ldc, width, directB, parallel);
            GemmPacked.MultiplyAccumulate(transA, transB, m, n, k, alpha, aSpan, lda, bSpan, ldb, stored, ldc, width, directB, parallel, overwrite: true);
            Assert.That(Bits(stored), Is.EqualTo(Bits(cleared)), $"c ({m}×{n}×{k})");
            Assert.That(stored.Any(T.IsNaN), Is.EqualTo(k > 0 && m > 1), $"the NaN in a reaches c ({m}×{n}×{k})");
        }
    }

    [TestCase(256, false)]
    [TestCase(256, true)]
    [TestCase(512, false)]
    [TestCase(512, true)]
    public void MultiplyAccumulate_SumsEveryElementStepByStep_BitForBit(int bits, bool directB)
    {
        // The micro-kernel takes four steps p per pass of its loop and the rest one by one. Whatever the unrolling, each
        // element of c must be c + (…((a₀b₀ + 0) + a₁b₁)…), one fused multiply-add per step in p's order, a sum per KC
        // block: the same bits as this scalar loop, for every kc remainder (k = 1..13) and across the KC edge.
        var width = bits == 512 ? GemmPacked.Width.V512 : GemmPacked.Width.V256;
        int m = 7, n = 2 * 2 * (512 / 8 / System.Runtime.CompilerServices.Unsafe.SizeOf<T>()) + 5;   // a whole MR tile and one row; two 512-bit slivers and a tail
        foreach (int k in Enumerable.Range(1, 13).Concat(Enumerable.Range(GemmPacked.KC - 1, 7)))
        {
            int lda = k + 1, ldb = n + 2, ldc = n + 3;
            T[] a = TestArrays.Uniform<T>(m * lda, k), b = TestArrays.Uniform<T>(k * ldb, k + 1);
            T[] c = TestArrays.Uniform<T>(m * ldc, k + 2), expected = (T[])c.Clone();
            for (int r = 0; r < m; r++)
                for (int j = 0; j < n; j++)
                    for (int p0 = 0; p0 < k; p0 += GemmPacked.KC)
                    {
                        T sum = T.Zero;
                        for (int p = p0; p < Math.Min(k, p0 + GemmPacked.KC); p++) sum = T.FusedMultiplyAdd(a[r * lda + p], b[p * ldb + j], sum);
                        expected[r * ldc + j] += sum;
                    }
            GemmPacked.MultiplyAccumulate(false, false, m, n, k, T.One, a, lda, b.AsSpan(0, (k - 1) * ldb + n), ldb, c, ldc, width, directB, parallel: false);
            Assert.That(Bits(c), Is.EqualTo(Bits(expected)), $"c ({m}×{n}×{k}, Vector{bits}, {(directB ? "b in place" : "b packed")})");
        }
    }

    private static long[] Bits(T[] values) => TestArrays.Bits<T>(values);

    [TestCase(false)]
    [TestCase(true)]
    public void SingleRow_MatchesNaiveProduct_ForEveryBlockRemainder(bool transA)
    {
        // n covers 0..8 whole vectors per block, more than one block, and scalar tails, for 4- and 8-lane vectors.
        foreach (int n in new[] { 1, 3, 4, 8, 15, 16, 17, 31, 32, 40, 63, 64, 65, 71, 100, 130 })
            foreach (int k in new[] { 1, 5, 33 })
            {
                int lda = transA ? 3 : k + 1, ldb = n + 2, offset = 1 + n % 3;
                T[] a = TestArrays.Uniform<T>(offset + (transA ? k * lda : k), n + k);
                T[] b = TestArrays.Uniform<T>(offset + k * ldb, n * k);
                T[] c = new T[offset + n + 4];
                c.AsSpan().Fill(TestArrays.Sentinel<T>());
                T[] cStart = TestArrays.Uniform<T>(n, 7);
                cStart.CopyTo(c, offset);
                const double alpha = 0.75;
                var (expected, magnitude) = NaiveKernels.Gemm(transA, false, 1, n, k, alpha, TestArrays.ToDouble<T>(a), offset, lda,
                    TestArrays.ToDouble<T>(b), offset, ldb, 1, TestArrays.ToDouble<T>(c), offset, n);

                int aLength = transA ? (k - 1) * lda + 1 : k;
                GemmPacked.SingleRow(transA, n, k, T.CreateTruncating(alpha), a.AsSpan(offset, aLength), lda,
                    b.AsSpan(offset, (k - 1) * ldb + n), ldb, c.AsSpan(offset, n));

                TestArrays.AssertClose<T>(c.AsSpan(offset, n), expected, magnitude, (k + 3) * TestArrays.Epsilon<T>(), 0, $"c (n={n}, k={k})");
                c.AsSpan(offset, n).Fill(TestArrays.Sentinel<T>());
                TestArrays.AssertUntouched<T>(c, $"c outside its row (n={n}, k={k})");
            }
    }
}
