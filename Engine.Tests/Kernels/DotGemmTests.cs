using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class DotGemmTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T[] Values(int length, int seed)
    {
        var random = new Random(seed);
        var values = new T[length];
        for (int k = 0; k < length; k++) values[k] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        return values;
    }

    // Awkward sizes: below, at and past one vector (8/16 floats, 4/8 doubles), ragged tails, m and n past the blocks.
    [TestCase(1, 1, 1)]
    [TestCase(1, 9, 17)]
    [TestCase(3, 5, 7)]
    [TestCase(4, 4, 16)]
    [TestCase(5, 11, 33)]
    [TestCase(9, 17, 100)]
    [TestCase(2, 400, 32)]
    [TestCase(7, 13, 200)]
    public void MultiplyAddTransposed_MatchesNaiveProduct_OnOffsetSlices_WithGuards(int m, int n, int k)
    {
        const int lda = 3, ldb = 5, ldc = 2, offset = 3, guard = 4;   // extra stride per row and an offset into each span
        T[] a = Values(offset + m * (k + lda), 1), b = Values(offset + n * (k + ldb), 2), c = Values(offset + m * (n + ldc) + guard, 3);
        T[] before = (T[])c.Clone();
        DotGemm.MultiplyAddTransposed<T>(m, n, k, a.AsSpan(offset), k + lda, b.AsSpan(offset), k + ldb, c.AsSpan(offset, m * (n + ldc) - ldc), n + ldc);
        double tolerance = typeof(T) == typeof(float) ? 1e-5 * k : 1e-14 * k;
        for (int r = 0; r < m; r++)
        {
            for (int j = 0; j < n; j++)
            {
                double expected = double.CreateTruncating(before[offset + r * (n + ldc) + j]);
                for (int p = 0; p < k; p++)
                    expected += double.CreateTruncating(a[offset + r * (k + lda) + p]) * double.CreateTruncating(b[offset + j * (k + ldb) + p]);
                Assert.That(double.CreateTruncating(c[offset + r * (n + ldc) + j]), Is.EqualTo(expected).Within(tolerance), $"c[{r}, {j}]");
            }
            for (int j = n; j < n + ldc && r < m - 1; j++)
                Assert.That(c[offset + r * (n + ldc) + j], Is.EqualTo(before[offset + r * (n + ldc) + j]), $"stride gap after row {r} touched");
        }
        for (int g = 0; g < offset; g++) Assert.That(c[g], Is.EqualTo(before[g]), "guard before c touched");
        for (int g = offset + m * (n + ldc) - ldc; g < c.Length; g++) Assert.That(c[g], Is.EqualTo(before[g]), "guard after c touched");
    }

    [TestCase(9, 40, 100)]
    [TestCase(6, 24, 37)]
    public void EachRow_ComputedAlone_EqualsTheRowInsideALargerProduct_BitForBit(int m, int n, int k)
    {
        T[] a = Values(m * k, 4), b = Values(n * k, 5);
        var together = new T[m * n];
        DotGemm.MultiplyAddTransposed<T>(m, n, k, a, k, b, k, together, n);
        for (int r = 0; r < m; r++)
        {
            var alone = new T[n];
            DotGemm.MultiplyAddTransposed<T>(1, n, k, a.AsSpan(r * k, k), k, b, k, alone, n);
            Assert.That(alone, Is.EqualTo(together.AsSpan(r * n, n).ToArray()), $"row {r}");
        }
    }

    [Test]
    public void MultiplyAddTransposed_RejectsShortOperands()
    {
        var e = Assert.Throws<ArgumentException>(() => DotGemm.MultiplyAddTransposed<T>(2, 3, 4, new T[7], 4, new T[12], 4, new T[6], 3))!;
        Assert.That(e.Message, Does.Contain("'a'").And.Contain("needs 8"));
    }
}
