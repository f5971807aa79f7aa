using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// The batch-1 layout of a packed b (<see cref="GemmPacked.InterleaveForSingleRow{T}"/>): one row of a times it gives the
/// bits the plain packed layout gives, on shapes with whole groups of four slivers, a partial group, a partial sliver,
/// two KC blocks and two NC blocks, with beta 0 and 1. Where the layout does not apply (no vector width, e.g.
/// NUMLSTM_VECTOR_BITS=0) the interleaving refuses.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class SingleRowLayoutTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly (int N, int K)[] Shapes = [(1, 1), (5, 7), (128, 3), (400, 100), (800, 200), (520, 300), (4096 + 300, 20)];

    [Test]
    public void OneRowTimesTheBatch1Layout_HasThePlainLayoutsBits([Values(0.0, 1.0)] double beta)
    {
        foreach (var (n, k) in Shapes)
        {
            T[] b = TestArrays.Uniform<T>(k * n, n + k);
            T[] a = TestArrays.Uniform<T>(k, k + 1);
            T[] start = TestArrays.Uniform<T>(n, n + 2);
            T[] plain = new T[Gemm.PackedLength<T>(k, n)];
            Gemm.Pack(Transpose.No, k, n, b, n, plain);
            T[] interleaved = (T[])plain.Clone();
            if (!GemmPacked.HasSingleRowLayout<T>())
            {
                Assert.Throws<InvalidOperationException>(() => GemmPacked.InterleaveForSingleRow<T>(k, n, interleaved, new T[4 * 64 * 256]));
                continue;
            }
            GemmPacked.InterleaveForSingleRow<T>(k, n, interleaved, new T[GemmPacked.SingleRowScratchLength<T>(k)]);
            if (n >= 4 * GemmPacked.SliverWidth<T>() && k > 1)
                Assert.That(interleaved, Is.Not.EqualTo(plain), $"a whole group of four slivers is laid out differently ({n}×{k})");

            T[] expected = (T[])start.Clone(), actual = (T[])start.Clone();
            T alpha = T.CreateTruncating(-0.75), betaT = T.CreateTruncating(beta);
            Gemm.MultiplyPacked(Transpose.No, 1, n, k, alpha, a, k, plain, betaT, expected, n);
            Gemm.MultiplyPackedInLayout(Transpose.No, 1, n, k, alpha, a, k, interleaved, betaT, actual, n, parallel: false, singleRowLayout: true);
            for (int j = 0; j < n; j++)
                Assert.That(BitsOf(actual[j]), Is.EqualTo(BitsOf(expected[j])), $"column {j} of 1×{n}×{k}, beta {beta}");
        }
    }

    [Test]
    public void Batch1Layout_TakesOneRowOnly()
    {
        if (!GemmPacked.HasSingleRowLayout<T>()) Assert.Ignore("no vector width: the layout does not apply");
        const int n = 256, k = 8;
        T[] packed = new T[Gemm.PackedLength<T>(k, n)];
        Gemm.Pack(Transpose.No, k, n, TestArrays.Uniform<T>(k * n, 1), n, packed);
        GemmPacked.InterleaveForSingleRow<T>(k, n, packed, new T[GemmPacked.SingleRowScratchLength<T>(k)]);
        var error = Assert.Throws<ArgumentException>(() =>
            Gemm.MultiplyPackedInLayout(Transpose.No, 2, n, k, T.One, new T[2 * k], k, packed, T.One, new T[2 * n], n, parallel: false, singleRowLayout: true));
        Assert.That(error!.Message, Does.Contain("m=2"));
    }

    [Test]
    public void Interleave_RejectsShortSpans()
    {
        if (!GemmPacked.HasSingleRowLayout<T>()) Assert.Ignore("no vector width: the layout does not apply");
        const int n = 256, k = 8;
        var packed = new T[Gemm.PackedLength<T>(k, n)];
        Assert.Throws<ArgumentException>(() => GemmPacked.InterleaveForSingleRow<T>(k, n, packed.AsSpan(1), new T[GemmPacked.SingleRowScratchLength<T>(k)]));
        Assert.Throws<ArgumentException>(() => GemmPacked.InterleaveForSingleRow<T>(k, n, packed, new T[GemmPacked.SingleRowScratchLength<T>(k) - 1]));
    }

    private static long BitsOf(T value) => TestArrays.BitsOf(value);
}
