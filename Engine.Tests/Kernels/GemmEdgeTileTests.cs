using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// A right-edge tile at most half a register tile wide goes through the narrow edge kernels (GemmPacked.EdgeKernels):
/// its columns must have the bits they have inside a wider product, where the full kernel computes them (columns are
/// independent, so the first N columns of a product with more columns are the product of N columns). Rows cover
/// whole sliver pairs, a lone sliver and a partial one; both the packed-on-the-fly and the pre-packed products, with
/// beta 0 (stored) and 1 (added).
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class GemmEdgeTileTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [TestCase(64, 200, 800)]
    [TestCase(64, 100, 400)]
    [TestCase(13, 36, 300)]
    [TestCase(121, 200, 40)]
    [TestCase(5, 8, 9)]
    public void EdgeColumns_HaveTheBitsOfTheSameColumnsInAWiderProduct(int m, int n, int k)
    {
        const int wide = 64;   // more columns than n, a whole number of tiles at every width
        int nWide = (n / wide + 1) * wide;
        T[] a = TestArrays.Uniform<T>(m * k, m + n), bWide = TestArrays.Uniform<T>(k * nWide, k);
        T[] b = new T[k * n];
        for (int p = 0; p < k; p++) bWide.AsSpan(p * nWide, n).CopyTo(b.AsSpan(p * n));
        foreach (double beta in new[] { 0.0, 1.0 })
        {
            T[] start = TestArrays.Uniform<T>(m * nWide, 3);
            T[] cWide = (T[])start.Clone(), c = new T[m * n], cPacked = new T[m * n];
            for (int r = 0; r < m; r++) { start.AsSpan(r * nWide, n).CopyTo(c.AsSpan(r * n)); start.AsSpan(r * nWide, n).CopyTo(cPacked.AsSpan(r * n)); }
            T betaT = T.CreateTruncating(beta);
            Gemm.Multiply(Transpose.No, Transpose.No, m, nWide, k, T.One, a, k, bWide, nWide, betaT, cWide, nWide, false);
            Gemm.Multiply(Transpose.No, Transpose.No, m, n, k, T.One, a, k, b, n, betaT, c, n, false);
            T[] packed = new T[Gemm.PackedLength<T>(k, n)];
            Gemm.Pack(Transpose.No, k, n, b, n, packed);
            Gemm.MultiplyPacked(Transpose.No, m, n, k, T.One, a, k, packed, betaT, cPacked, n, false);
            for (int r = 0; r < m; r++)
                for (int j = 0; j < n; j++)
                {
                    T expected = cWide[r * nWide + j];
                    if (!c[r * n + j].Equals(expected)) Assert.Fail($"beta {beta}: [{r}, {j}] is {c[r * n + j]}, inside the wider product {expected}");
                    if (!cPacked[r * n + j].Equals(expected)) Assert.Fail($"beta {beta}, pre-packed: [{r}, {j}] is {cPacked[r * n + j]}, inside the wider product {expected}");
                }
        }
    }
}
