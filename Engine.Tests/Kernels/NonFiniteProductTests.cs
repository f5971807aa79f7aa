using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// The matrix products propagate NaN and ±∞ as IEEE 754 says, whatever route a shape takes: c[r, j] = Σ_p a[r, p]·b[p, j]
/// is NaN where a term is NaN or 0·∞, or where +∞ and −∞ meet, and ±∞ where the infinite terms share a sign, as
/// PyTorch's mm gives it. The reference is the same sum in double (whose special values follow the same rules; the
/// finite values here are small, so no sum overflows). A product that skipped a zero multiplier (0·∞ = NaN left out)
/// or read zero padding in place of a value would fail.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class NonFiniteProductTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // Shapes that reach every route of Gemm.Choose (n < 8 or k < 4: the general loops; m = 1: the single-row kernel;
    // m ≤ 3 with a large b; the in-place and packed tiles) and their edge tiles.
    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (2, 3, 5), (3, 7, 3), (5, 9, 4), (1, 33, 17), (1, 600, 600), (2, 600, 600), (7, 17, 33), (13, 40, 9),
        (17, 64, 70), (70, 33, 100),
    ];

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
                foreach (var (m, n, k) in Shapes)
                    yield return new TestCaseData(transA, transB, m, n, k).SetArgDisplayNames($"{(transA ? "aT" : "a")}·{(transB ? "bT" : "b")} {m}x{n}x{k}");
    }

    [TestCaseSource(nameof(Cases))]
    public void Multiply_PropagatesNaNAndInfinity_AsIeeeSays(bool transA, bool transB, int m, int n, int k)
    {
        var random = new Random(m * 7919 + n * 104729 + k * 31 + (transA ? 1 : 0) + (transB ? 2 : 0));
        // About one value in eight of each operand is zero (the multiplier a skipping kernel would drop), a few are
        // NaN or ±∞, placed so that 0·∞ terms occur in many sums.
        T[] a = Operand(m * k, random), b = Operand(k * n, random);
        int lda = transA ? m : k, ldb = transB ? k : n;
        double[] expected = new double[m * n];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += double.CreateTruncating(transA ? a[p * lda + r] : a[r * lda + p]) * double.CreateTruncating(transB ? b[j * ldb + p] : b[p * ldb + j]);
                expected[r * n + j] = sum;
            }
        foreach (double beta in new[] { 0.0, 1.0 })
        {
            T[] c = new T[m * n];   // zeros: with beta = 1 the product adds onto them
            Gemm.Multiply(transA ? Transpose.Yes : Transpose.No, transB ? Transpose.Yes : Transpose.No, m, n, k, T.One, a, lda, b, ldb,
                T.CreateTruncating(beta), c, n);
            AssertSameKinds(c, expected, $"beta {beta}");
        }
    }

    // One zero of a meets one infinity of b (and the other way round) in otherwise finite operands: c gets NaN exactly
    // there, ±∞ along the rest of the infinity's column (row), finite values elsewhere.
    [TestCaseSource(nameof(Cases))]
    public void Multiply_ZeroTimesInfinity_IsNaN_OnEveryRoute(bool transA, bool transB, int m, int n, int k)
    {
        var random = new Random(m + 3 * n + 7 * k);
        int lda = transA ? m : k, ldb = transB ? k : n;
        int r0 = m / 2, j0 = n - 1;
        foreach (int p0 in new[] { k / 3, k - 1 })
        foreach (bool infinityInB in new[] { true, false })
        {
            T[] a = TestArrays.Uniform<T>(m * k, random.Next(), 0.5, 1), b = TestArrays.Uniform<T>(k * n, random.Next(), 0.5, 1);
            ref T aValue = ref a[transA ? p0 * lda + r0 : r0 * lda + p0];
            ref T bValue = ref b[transB ? j0 * ldb + p0 : p0 * ldb + j0];
            aValue = infinityInB ? T.Zero : T.PositiveInfinity;
            bValue = infinityInB ? T.PositiveInfinity : T.Zero;
            T[] c = new T[m * n];
            Gemm.Multiply(transA ? Transpose.Yes : Transpose.No, transB ? Transpose.Yes : Transpose.No, m, n, k, T.One, a, lda, b, ldb, T.Zero, c, n);
            for (int r = 0; r < m; r++)
                for (int j = 0; j < n; j++)
                {
                    T value = c[r * n + j];
                    string where = $"{(infinityInB ? "b" : "a")} holds ∞ at p = {p0}: c[{r}, {j}] = {value}";
                    if (r == r0 && j == j0) Assert.That(T.IsNaN(value), Is.True, where + ", IEEE gives NaN (0·∞)");
                    else if (infinityInB ? j == j0 : r == r0) Assert.That(T.IsPositiveInfinity(value), Is.True, where + ", IEEE gives +∞");
                    else Assert.That(T.IsFinite(value), Is.True, where + ", IEEE gives a finite value");
                }
        }
    }

    // The pre-packed product (an LSTM's recurrent weights) and DotGemm (the inference plans' products), same rule.
    [TestCase(1, 7, 5)]
    [TestCase(3, 40, 17)]
    [TestCase(5, 33, 29)]
    [TestCase(13, 129, 70)]
    public void PackedAndDotProducts_ZeroTimesInfinity_IsNaN(int m, int n, int k)
    {
        int r0 = m / 2, j0 = n - 1;
        // Every p of the last 17: the k tail's overlapping chunk re-reads up to 15 of them (16 lanes) with a's lanes zeroed.
        for (int p0 = Math.Max(0, k - 17); p0 < k; p0++)
        foreach (bool infinityInB in new[] { true, false })
        {
            T[] a = TestArrays.Uniform<T>(m * k, 41, 0.5, 1), b = TestArrays.Uniform<T>(k * n, 42, 0.5, 1);   // a [m, k], b [k, n]
            a[r0 * k + p0] = infinityInB ? T.Zero : T.PositiveInfinity;
            b[p0 * n + j0] = infinityInB ? T.PositiveInfinity : T.Zero;
            T[] bTransposed = new T[n * k];
            for (int p = 0; p < k; p++) for (int j = 0; j < n; j++) bTransposed[j * k + p] = b[p * n + j];
            T[] packed = new T[Gemm.PackedLength<T>(k, n)];
            Gemm.Pack(Transpose.No, k, n, b, n, packed);
            T[] rows = new T[DotGemm.PackedLength<T>(n, k)];
            DotGemm.PackRows(n, k, bTransposed, k, rows);
            T[] viaPacked = new T[m * n], viaDot = new T[m * n], viaDotRows = new T[m * n];
            Gemm.MultiplyPacked(Transpose.No, m, n, k, T.One, a, k, packed, T.Zero, viaPacked, n);
            DotGemm.MultiplyAddTransposed(m, n, k, a, k, bTransposed, k, viaDot, n);
            DotGemm.MultiplyAddPacked(m, n, k, a, k, rows, viaDotRows, n);
            var products = new List<(T[], string)> { (viaPacked, "MultiplyPacked"), (viaDot, "DotGemm"), (viaDotRows, "DotGemm packed rows") };
            if (DotGemm.UsesColumnLayout<T>(k))
            {
                T[] columns = new T[DotGemm.ColumnPackedLength<T>(n, k)], viaDotColumns = new T[m * n];
                DotGemm.PackColumns(n, k, bTransposed, k, columns);
                DotGemm.MultiplyAddColumnPackedGroups(m, 1, n, k, a, k, columns, viaDotColumns, n, 0);
                products.Add((viaDotColumns, "DotGemm column layout"));
            }
            foreach (var (c, name) in products)
                for (int r = 0; r < m; r++)
                    for (int j = 0; j < n; j++)
                    {
                        T value = c[r * n + j];
                        string where = $"{name}, {(infinityInB ? "b" : "a")} holds ∞ at p = {p0}: c[{r}, {j}] = {value}";
                        if (r == r0 && j == j0) Assert.That(T.IsNaN(value), Is.True, where + ", IEEE gives NaN (0·∞)");
                        else if (infinityInB ? j == j0 : r == r0) Assert.That(T.IsPositiveInfinity(value), Is.True, where + ", IEEE gives +∞");
                        else Assert.That(T.IsFinite(value), Is.True, where + ", IEEE gives a finite value");
                    }
        }
    }

    [TestCase(1, 1)]
    [TestCase(3, 5)]
    [TestCase(17, 9)]
    [TestCase(40, 33)]
    public void MultiplyVector_PropagatesNaNAndInfinity_AsIeeeSays(int m, int n)
    {
        var random = new Random(m * 131 + n);
        T[] a = Operand(m * n, random);
        foreach (bool transA in new[] { false, true })
        {
            T[] x = Operand(transA ? m : n, random);
            double[] expected = new double[transA ? n : m];
            for (int r = 0; r < m; r++)
                for (int j = 0; j < n; j++)
                {
                    double term = double.CreateTruncating(a[r * n + j]) * double.CreateTruncating(transA ? x[r] : x[j]);
                    if (transA) expected[j] += term; else expected[r] += term;
                }
            T[] y = new T[expected.Length];
            Gemm.MultiplyVector(transA ? Transpose.Yes : Transpose.No, m, n, T.One, a, n, x, T.Zero, y);
            AssertSameKinds(y, expected, transA ? "aᵀ·x" : "a·x");
        }
    }

    private static T[] Operand(int length, Random random)
    {
        var values = new T[length];
        for (int k = 0; k < length; k++)
        {
            double u = random.NextDouble();
            values[k] = T.CreateTruncating(u switch
            {
                < 0.125 => 0.0,
                < 0.135 => double.PositiveInfinity,
                < 0.145 => double.NegativeInfinity,
                < 0.150 => double.NaN,
                _ => random.NextDouble() * 2 - 1,
            });
        }
        return values;
    }

    private static void AssertSameKinds(ReadOnlySpan<T> actual, double[] expected, string what)
    {
        for (int j = 0; j < expected.Length; j++)
        {
            double value = double.CreateTruncating(actual[j]);
            bool same = double.IsNaN(expected[j]) ? double.IsNaN(value)
                : double.IsInfinity(expected[j]) ? value == expected[j]
                : double.IsFinite(value) && Math.Abs(value - expected[j]) <= 1e-3 * (1 + Math.Abs(expected[j]));
            if (!same) Assert.Fail($"{what}: element {j} is {value:R}, IEEE gives {expected[j]:R}.");
        }
    }
}
