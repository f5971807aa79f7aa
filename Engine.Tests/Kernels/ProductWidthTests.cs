using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// <see cref="ProductWidth"/>: the vector width of the matrix products, the hardware's unless NUMLSTM_VECTOR_BITS
/// chooses another (how .ci/run tests the 512-bit paths on a machine without AVX-512), and the packed layouts that
/// follow it.
/// </summary>
public class ProductWidthTests
{
    [TestCase(null, 256, 256)]
    [TestCase("", 512, 512)]
    [TestCase("   ", 0, 0)]
    [TestCase("0", 256, 0)]
    [TestCase("256", 512, 256)]
    [TestCase("512", 256, 512)]
    [TestCase(" 512\n", 0, 512)]
    public void Parse_KeepsTheHardwareWidth_UnlessSetToOneOfTheThree(string? setting, int hardware, int expected)
        => Assert.That(ProductWidth.Parse(setting, hardware), Is.EqualTo(expected));

    [TestCase("128")]
    [TestCase("1024")]
    [TestCase("-256")]
    [TestCase("avx512")]
    [TestCase("512 bits")]
    public void Parse_RejectsAnyOtherSetting_NamingTheVariableAndTheValue(string setting)
    {
        var error = Assert.Throws<InvalidOperationException>(() => ProductWidth.Parse(setting, 256))!;
        Assert.That(error.Message, Does.Contain("NUMLSTM_VECTOR_BITS"));
        Assert.That(error.Message, Does.Contain("0, 256 or 512"));
        Assert.That(error.Message, Does.Contain($"'{setting}'"));
    }

    [Test]
    public void TheProcessWidth_FollowsTheVariable_OrTheHardware()
    {
        int expected = ProductWidth.Parse(Environment.GetEnvironmentVariable(ProductWidth.Variable), ProductWidth.Hardware);
        Assert.That(ProductWidth.Bits, Is.EqualTo(expected));
        Assert.That(GemmPacked.Best, Is.EqualTo(expected switch { 512 => GemmPacked.Width.V512, 256 => GemmPacked.Width.V256, _ => GemmPacked.Width.None }));
        TestContext.Out.WriteLine($"matrix products at {ProductWidth.Bits} bits (hardware {ProductWidth.Hardware})");
    }

    [Test]
    public void ThePackedLayouts_FollowTheWidth()
    {
        // DotGemm's packed copy: blocks of eight rows, k in chunks of the width's lanes (the last one overlapping), or k
        // itself on the scalar path. k = 20 floats: 2 chunks of 16 at 512 bits, 3 of 8 at 256, 20 scalar.
        int chunked = ProductWidth.Bits switch { 512 => 2 * 16, 256 => 3 * 8, _ => 20 };
        Assert.That(DotGemm.PackedLength<float>(9, 20), Is.EqualTo(2 * 8 * chunked), "two blocks of eight rows, k = 20");
        // k below one vector of the width takes the next narrower path: 12 floats are one 256-bit chunk and a half.
        Assert.That(DotGemm.PackedLength<float>(8, 12), Is.EqualTo(ProductWidth.Bits >= 256 ? 8 * 16 : 8 * 12), "k = 12");
        // Gemm's pre-packed b: columns in slivers of two vectors.
        if (GemmPacked.HasPackedLayout<float>())
        {
            Assert.That(GemmPacked.SliverWidth<float>(), Is.EqualTo(2 * ProductWidth.Bits / 32));
            Assert.That(GemmPacked.SliverWidth<double>(), Is.EqualTo(2 * ProductWidth.Bits / 64));
        }
        Assert.That(Gemm.PackedLength<float>(3, 40), Is.EqualTo(ProductWidth.Bits switch { 512 => 3 * 64, 256 => 3 * 48, _ => 3 * 40 }));
    }
}
