using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>TransposedAdd against the plain loop: the same bits for every shape (whole and partial 8 × 8 blocks), and clear errors.</summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class TransposedAddTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [TestCase(1, 1)]
    [TestCase(7, 9)]
    [TestCase(8, 8)]
    [TestCase(16, 24)]
    [TestCase(17, 33)]
    [TestCase(64, 200)]
    [TestCase(800, 100)]
    public void Add_EqualsThePlainLoop_BitForBit(int m, int n)
    {
        int ldc = n + 3;
        T[] source = TestArrays.Uniform<T>(m * n, m + n), c = TestArrays.Uniform<T>(m * ldc, 7), expected = (T[])c.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) expected[i * ldc + j] += source[j * m + i];
        TransposedAdd.Add<T>(m, n, source, c, ldc);
        for (int k = 0; k < c.Length; k++)
            if (!c[k].Equals(expected[k]) && !(T.IsNaN(c[k]) && T.IsNaN(expected[k])))
                Assert.Fail($"[{m}, {n}]: element {k} (row {k / ldc}, column {k % ldc}) is {c[k]}, expected {expected[k]}");
    }

    [TestCase(1, 1, false)]
    [TestCase(9, 7, false)]
    [TestCase(16, 24, true)]
    [TestCase(17, 33, false)]
    [TestCase(3200, 200, true)]
    [TestCase(3200, 200, false)]
    public void AddToRows_EqualsThePlainLoop_BitForBit(int m, int n, bool store)
    {
        // Rows land in reverse order, each n + 2 apart (so a row's neighbours are untouched).
        int[] rowStart = Enumerable.Range(0, m).Select(i => (m - 1 - i) * (n + 2) + 1).ToArray();
        T[] source = TestArrays.Uniform<T>(m * n, m + n), c = TestArrays.Uniform<T>(m * (n + 2) + 1, 7), expected = (T[])c.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) expected[rowStart[i] + j] = store ? source[j * m + i] : expected[rowStart[i] + j] + source[j * m + i];
        TransposedAdd.AddToRows<T>(m, n, source, c, rowStart, store);
        for (int k = 0; k < c.Length; k++)
            if (!c[k].Equals(expected[k]))
                Assert.Fail($"[{m}, {n}], store {store}: element {k} is {c[k]}, expected {expected[k]}");
    }

    [Test]
    public void AddToRows_RejectsRowsOutsideTheTarget()
    {
        var e = Assert.Throws<ArgumentException>(() => TransposedAdd.AddToRows<T>(2, 3, new T[6], new T[6], new[] { 0, 4 }, store: false))!;
        Assert.That(e.Message, Does.Contain("row 1 starts at 4").And.Contain("6 values"));
        e = Assert.Throws<ArgumentException>(() => TransposedAdd.AddToRows<T>(3, 2, new T[6], new T[6], new[] { 0, 2 }, store: true))!;
        Assert.That(e.Message, Does.Contain("m=3").And.Contain("2 row starts"));
        e = Assert.Throws<ArgumentException>(() => TransposedAdd.AddToRows<T>(3, 2, new T[5], new T[6], new[] { 0, 2, 4 }, store: true))!;
        Assert.That(e.Message, Does.Contain("[2, 3]").And.Contain("5"));
    }

    [Test]
    public void BadShapes_AreRejectedWithTheSizes()
    {
        var e = Assert.Throws<ArgumentException>(() => TransposedAdd.Add<T>(4, 5, new T[19], new T[20], 5))!;
        Assert.That(e.Message, Does.Contain("[5, 4]").And.Contain("19"));
        e = Assert.Throws<ArgumentException>(() => TransposedAdd.Add<T>(4, 5, new T[20], new T[19], 5))!;
        Assert.That(e.Message, Does.Contain("c [4, 5]").And.Contain("19"));
        e = Assert.Throws<ArgumentException>(() => TransposedAdd.Add<T>(4, 5, new T[20], new T[20], 4))!;
        Assert.That(e.Message, Does.Contain("ldc=4"));
    }
}
