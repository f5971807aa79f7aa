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
