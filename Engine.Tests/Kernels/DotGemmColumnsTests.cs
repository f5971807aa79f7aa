using System.Runtime.Intrinsics;
using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// DotGemm's column layout (DotGemm.Columns.cs, a streaming step's x·Wᵀ for up to 32 inputs) against
/// MultiplyAddTransposed on b itself: the same bits for every k it takes (one chunk, a ragged tail, two chunks), every
/// n (partial blocks of 16 rows), several rows of a, in groups, and with ±0, NaN and ∞ in the operands; which k and
/// types it takes; clear errors. Where the layout does not apply here (no AVX-512 hardware, or the products forced to
/// another width) the product tests are inconclusive and the others check that it says so.
/// </summary>
public class DotGemmColumnsTests
{
    private static float[] Values(int length, int seed)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int k = 0; k < length; k++) values[k] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }

    private static void RequireLayout(int k)
    {
        if (!DotGemm.UsesColumnLayout<float>(k)) Assert.Inconclusive($"the column layout does not serve k = {k} here (it needs the 512-bit products on AVX-512 hardware)");
    }

    // Packs into a buffer full of NaN, so a value the packing skipped, or a padding row reaching a stored sum, shows.
    private static float[] Packed(int n, int k, float[] b, int ldb)
    {
        var packed = new float[DotGemm.ColumnPackedLength<float>(n, k)];
        Array.Fill(packed, float.NaN);
        DotGemm.PackColumns<float>(n, k, b, ldb, packed);
        return packed;
    }

    private static void AssertSameBits(float[] actual, float[] expected, string what) => TestArrays.AssertSameBits<float>(actual, expected, what);

    private static IEnumerable<TestCaseData> Sizes()
    {
        foreach (int m in new[] { 1, 3 })
            foreach (int n in new[] { 1, 7, 15, 16, 17, 33, 128 })
                foreach (int k in new[] { 16, 17, 20, 31, 32 })
                    yield return new TestCaseData(m, n, k);
    }

    [TestCaseSource(nameof(Sizes))]
    public void Product_EqualsMultiplyAddTransposed_BitForBit(int m, int n, int k)
    {
        RequireLayout(k);
        const int lda = 3, ldb = 2, ldc = 5;   // extra stride per row
        float[] a = Values(m * (k + lda), m * 1000 + k), b = Values(n * (k + ldb), n * 1000 + k), c = Values(m * (n + ldc), 7);
        float[] expected = (float[])c.Clone(), actual = (float[])c.Clone();
        DotGemm.MultiplyAddTransposed<float>(m, n, k, a, k + lda, b, k + ldb, expected, n + ldc);
        DotGemm.MultiplyAddColumnPackedGroups<float>(m, 1, n, k, a, k + lda, Packed(n, k, b, k + ldb), actual, n + ldc, 0);
        AssertSameBits(actual, expected, $"m={m}, n={n}, k={k}");
    }

    [TestCase(1, 128, 32)]
    [TestCase(2, 24, 32)]
    [TestCase(3, 13, 19)]
    public void Groups_EqualOneProductPerGroup_IntoTheirOwnColumns(int m, int n, int k)
    {
        RequireLayout(k);
        const int groups = 4;
        int groupColumns = n + 3, ldc = groups * groupColumns, length = DotGemm.ColumnPackedLength<float>(n, k);
        float[] a = Values(m * k, 3), c = Values(m * ldc, 4);
        var packed = new float[groups * length];
        float[] expected = (float[])c.Clone(), actual = (float[])c.Clone();
        for (int g = 0; g < groups; g++)
        {
            float[] b = Values(n * k, 10 + g);
            DotGemm.PackColumns<float>(n, k, b, k, packed.AsSpan(g * length, length));
            DotGemm.MultiplyAddTransposed<float>(m, n, k, a, k, b, k, expected.AsSpan(g * groupColumns), ldc);
        }
        DotGemm.MultiplyAddColumnPackedGroups<float>(m, groups, n, k, a, k, packed, actual, ldc, groupColumns);
        AssertSameBits(actual, expected, "four groups");
        // and as the row-interleaved layout's groups give it
        var interleaved = new float[groups * DotGemm.PackedLength<float>(n, k)];
        float[] viaRows = (float[])c.Clone();
        for (int g = 0; g < groups; g++)
            DotGemm.PackRows<float>(n, k, Values(n * k, 10 + g), k, interleaved.AsSpan(g * DotGemm.PackedLength<float>(n, k), DotGemm.PackedLength<float>(n, k)));
        DotGemm.MultiplyAddPackedGroups<float>(m, groups, n, k, a, k, interleaved, viaRows, ldc, groupColumns);
        AssertSameBits(actual, viaRows, "against the row-interleaved layout");
    }

    // Products of exactly zero with either sign, where an FMA from +0 and a plain multiply part (−0 · x + 0 is +0), and
    // sums of a row all −0 products; NaN, ∞ and huge and tiny values.
    [TestCase(1, 20, 32)]
    [TestCase(3, 9, 23)]
    [TestCase(2, 33, 16)]
    public void SpecialValues_GiveTheSameBits(int m, int n, int k)
    {
        RequireLayout(k);
        float[] specials = { 0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e30f, -1e-30f };
        float[] a = Values(m * k, 5), b = Values(n * k, 6), c = Values(m * n, 7);
        var random = new Random(8);
        for (int s = 0; s < 8; s++)
        {
            a[random.Next(a.Length)] = specials[random.Next(specials.Length)];
            b[random.Next(b.Length)] = specials[random.Next(specials.Length)];
        }
        for (int p = 0; p < k; p++) a[p] = -0f;                          // row 0 of a all −0
        for (int p = 0; p < k; p++) b[(n - 1) * k + p] = p % 2 == 0 ? 0f : -0f;
        c[0] = -0f;
        c[n - 1] = -0f;
        float[] expected = (float[])c.Clone(), actual = (float[])c.Clone();
        DotGemm.MultiplyAddTransposed<float>(m, n, k, a, k, b, k, expected, n);
        DotGemm.MultiplyAddColumnPackedGroups<float>(m, 1, n, k, a, k, Packed(n, k, b, k), actual, n, 0);
        AssertSameBits(actual, expected, "with ±0, NaN, ∞");
    }

    [Test]
    public void Layout_ServesFloatRowsOf16To32_OnAvx512Only()
    {
        bool wide = Vector512.IsHardwareAccelerated && Environment.GetEnvironmentVariable("NUMLSTM_VECTOR_BITS") is null or "512";
        Assert.That(DotGemm.UsesColumnLayout<float>(32), Is.EqualTo(wide), "k = 32");
        Assert.That(DotGemm.UsesColumnLayout<float>(16), Is.EqualTo(wide), "k = 16");
        Assert.That(DotGemm.UsesColumnLayout<float>(15), Is.False, "k = 15 (below one vector)");
        Assert.That(DotGemm.UsesColumnLayout<float>(33), Is.False, "k = 33 (past two chunks)");
        Assert.That(DotGemm.UsesColumnLayout<double>(32), Is.False, "double");
    }

    [Test]
    public void BadArguments_AreRejectedWithTheSizes()
    {
        var e = Assert.Throws<ArgumentException>(() => DotGemm.ColumnPackedLength<float>(10, 40));
        Assert.That(e!.Message, Does.Contain("k=40"));
        e = Assert.Throws<ArgumentException>(() => DotGemm.ColumnPackedLength<double>(10, 32));
        Assert.That(e!.Message, Does.Contain("Double"));
        RequireLayout(32);
        float[] a = new float[32], b = new float[10 * 32], c = new float[10];
        Assert.That(DotGemm.ColumnPackedLength<float>(17, 32), Is.EqualTo(2 * DotGemm.ColumnPackedLength<float>(16, 32)));
        e = Assert.Throws<ArgumentException>(() => DotGemm.PackColumns<float>(10, 32, b, 32, new float[5]));
        Assert.That(e!.Message, Does.Contain("[10, 32]").And.Contain("5"));
        e = Assert.Throws<ArgumentException>(() => DotGemm.PackColumns<float>(10, 32, b.AsSpan(0, 100), 32, new float[DotGemm.ColumnPackedLength<float>(10, 32)]));
        Assert.That(e!.Message, Does.Contain("'b'"));
        e = Assert.Throws<ArgumentException>(() => DotGemm.MultiplyAddColumnPackedGroups<float>(1, 4, 10, 32, a, 32, new float[DotGemm.ColumnPackedLength<float>(10, 32)], c, 10, 10));
        Assert.That(e!.Message, Does.Contain("4 column-layout copies"));
        e = Assert.Throws<ArgumentException>(() => DotGemm.MultiplyAddColumnPackedGroups<float>(1, 1, 10, 32, a, 32, new float[DotGemm.ColumnPackedLength<float>(10, 32)], new float[9], 10, 0));
        Assert.That(e!.Message, Does.Contain("'c'"));
    }
}
