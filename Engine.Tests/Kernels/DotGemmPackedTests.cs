using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// DotGemm's packed copy of b (DotGemm.Packed.cs) against MultiplyAddTransposed on b itself: the same bits for every
/// size (below, at and past one vector, ragged tails, partial blocks of rows), every row count, entered part way,
/// in groups, and with ±0, NaN and ∞ in the operands; padding that holds garbage beforehand; clear errors.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class DotGemmPackedTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T[] Values(int length, int seed)
    {
        var random = new Random(seed);
        var values = new T[length];
        for (int k = 0; k < length; k++) values[k] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        return values;
    }

    // Packs into a buffer full of NaN: whatever the packing leaves untouched (it should leave nothing) and the rows
    // padding a last partial block must never reach a stored sum.
    private static T[] Packed(int n, int k, T[] b, int ldb)
    {
        var packed = new T[DotGemm.PackedLength<T>(n, k)];
        Array.Fill(packed, T.NaN);
        DotGemm.PackRows<T>(n, k, b, ldb, packed);
        return packed;
    }

    private static void AssertSameBits(T[] actual, T[] expected, string what) => TestArrays.AssertSameBits<T>(actual, expected, what);

    private static IEnumerable<TestCaseData> Sizes()
    {
        foreach (int m in new[] { 1, 2, 5 })
            foreach (int n in new[] { 1, 7, 8, 9, 17, 40 })
                foreach (int k in new[] { 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 128, 130 })
                    yield return new TestCaseData(m, n, k);
    }

    [TestCaseSource(nameof(Sizes))]
    public void MultiplyAddPacked_EqualsMultiplyAddTransposed_BitForBit(int m, int n, int k)
    {
        const int lda = 3, ldb = 2, ldc = 5;   // extra stride per row
        T[] a = Values(m * (k + lda), m * 1000 + k), b = Values(n * (k + ldb), n * 1000 + k), c = Values(m * (n + ldc), 7);
        T[] expected = (T[])c.Clone(), actual = (T[])c.Clone();
        DotGemm.MultiplyAddTransposed<T>(m, n, k, a, k + lda, b, k + ldb, expected, n + ldc);
        DotGemm.MultiplyAddPacked<T>(m, n, k, a, k + lda, Packed(n, k, b, k + ldb), actual, n + ldc);
        AssertSameBits(actual, expected, $"m={m}, n={n}, k={k}");
    }

    [TestCase(24, 37, 8)]
    [TestCase(41, 128, 16)]
    [TestCase(33, 5, 32)]
    public void EnteredAtARowOffset_EqualsThoseRowsOfTheProduct(int n, int k, int row)
    {
        T[] a = Values(2 * k, 1), b = Values(n * k, 2);
        T[] packed = Packed(n, k, b, k);
        var expected = new T[2 * (n - row)];
        var actual = new T[2 * (n - row)];
        DotGemm.MultiplyAddTransposed<T>(2, n - row, k, a, k, b.AsSpan(row * k), k, expected, n - row);
        DotGemm.MultiplyAddPacked<T>(2, n - row, k, a, k, packed.AsSpan(DotGemm.PackedRowOffset<T>(row, k)), actual, n - row);
        AssertSameBits(actual, expected, $"rows from {row}");
    }

    [TestCase(1, 64, 32)]
    [TestCase(3, 13, 128)]
    [TestCase(2, 5, 7)]
    public void Groups_EqualOneProductPerGroup_IntoTheirOwnColumns(int m, int n, int k)
    {
        const int groups = 4;
        int groupColumns = n + 3, ldc = groups * groupColumns;
        int length = DotGemm.PackedLength<T>(n, k);
        T[] a = Values(m * k, 3), c = Values(m * ldc, 4);
        var packed = new T[groups * length];
        T[] expected = (T[])c.Clone(), actual = (T[])c.Clone();
        for (int g = 0; g < groups; g++)
        {
            T[] b = Values(n * k, 10 + g);
            DotGemm.PackRows<T>(n, k, b, k, packed.AsSpan(g * length, length));
            DotGemm.MultiplyAddTransposed<T>(m, n, k, a, k, b, k, expected.AsSpan(g * groupColumns), ldc);
        }
        DotGemm.MultiplyAddPackedGroups<T>(m, groups, n, k, a, k, packed, actual, ldc, groupColumns);
        AssertSameBits(actual, expected, "four groups");
    }

    [TestCase(1, 20, 37)]
    [TestCase(3, 9, 130)]
    [TestCase(2, 3, 5)]
    public void SpecialValues_GiveTheSameBits(int m, int n, int k)
    {
        T[] specials = { T.Zero, T.NegativeZero, T.NaN, T.PositiveInfinity, T.NegativeInfinity, T.CreateTruncating(1e30), T.CreateTruncating(-1e-30) };
        T[] a = Values(m * k, 5), b = Values(n * k, 6), c = Values(m * n, 7);
        var random = new Random(8);
        for (int s = 0; s < 6; s++)
        {
            a[random.Next(a.Length)] = specials[random.Next(specials.Length)];
            b[random.Next(b.Length)] = specials[random.Next(specials.Length)];
        }
        c[0] = T.NegativeZero;
        T[] expected = (T[])c.Clone(), actual = (T[])c.Clone();
        DotGemm.MultiplyAddTransposed<T>(m, n, k, a, k, b, k, expected, n);
        DotGemm.MultiplyAddPacked<T>(m, n, k, a, k, Packed(n, k, b, k), actual, n);
        AssertSameBits(actual, expected, "with ±0, NaN, ∞");
    }

    [Test]
    public void PackedLength_CoversWholeBlocksOfEightRows()
    {
        Assert.That(DotGemm.PackedLength<T>(0, 5), Is.EqualTo(0));
        Assert.That(DotGemm.PackedLength<T>(9, 40), Is.EqualTo(2 * DotGemm.PackedLength<T>(8, 40)));
        Assert.That(DotGemm.PackedLength<T>(8, 40), Is.GreaterThanOrEqualTo(8 * 40));
        Assert.That(DotGemm.PackedRowOffset<T>(16, 40), Is.EqualTo(2 * DotGemm.PackedLength<T>(8, 40)));
    }

    [Test]
    public void BadArguments_AreRejectedWithTheSizes()
    {
        T[] a = new T[32], b = new T[10 * 32], c = new T[10];
        var e = Assert.Throws<ArgumentException>(() => DotGemm.MultiplyAddPacked<T>(1, 10, 32, a, 32, new T[DotGemm.PackedLength<T>(10, 32) - 1], c, 10));
        Assert.That(e!.Message, Does.Contain("[10, 32]").And.Contain("takes"));
        e = Assert.Throws<ArgumentException>(() => DotGemm.PackRows<T>(10, 32, b, 32, new T[5]));
        Assert.That(e!.Message, Does.Contain("[10, 32]").And.Contain("5"));
        e = Assert.Throws<ArgumentException>(() => DotGemm.PackRows<T>(10, 32, b.AsSpan(0, 100), 32, new T[DotGemm.PackedLength<T>(10, 32)]));
        Assert.That(e!.Message, Does.Contain("'b'"));
        e = Assert.Throws<ArgumentException>(() => DotGemm.PackedRowOffset<T>(3, 32));
        Assert.That(e!.Message, Does.Contain("multiple of 8").And.Contain("row 3"));
        e = Assert.Throws<ArgumentException>(() => DotGemm.MultiplyAddPacked<T>(1, 10, 32, a, 32, new T[DotGemm.PackedLength<T>(10, 32)], new T[9], 10));
        Assert.That(e!.Message, Does.Contain("'c'"));
        Assert.Throws<ArgumentException>(() => DotGemm.PackedLength<T>(-1, 3));
        e = Assert.Throws<ArgumentException>(() => DotGemm.MultiplyAddPackedGroups<T>(1, 2, 10, 32, a, 32, new T[2 * DotGemm.PackedLength<T>(10, 32)], new T[30], 30, 9));
        Assert.That(e!.Message, Does.Contain("10 or more columns apart").And.Contain("got 9"));
    }
}
