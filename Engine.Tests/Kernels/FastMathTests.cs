using System.Runtime.Intrinsics;
using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// FastMath.Exp, the exp under the float gate pass's σ and tanh: its rounding of x·log2(e) by adding and subtracting
/// 1.5 · 2^23 gives the same bits as Vector256.Round and ConvertToInt32 (the form it replaced, kept here as the
/// reference), and it stays within 1 ulp of the double-precision exp.
/// </summary>
public class FastMathTests
{
    // The Cephes expf of FastMath with n from Vector256.Round and 2^n from Vector256.ConvertToInt32.
    private static Vector256<float> ExpWithRound(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.3f)), Vector256.Create(88.3f));
        Vector256<float> n = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
        Vector256<float> r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        Vector256<float> p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        Vector256<int> scale = (Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23;
        return p * scale.AsSingle();
    }

    // Inputs: a stride through all 2^32 bit patterns (both signs, zeros, subnormals, infinities), and around every
    // x where x·log2(e) is a half-integer inside the clamp, where the two roundings could part (ties, to even).
    private static IEnumerable<float> Inputs()
    {
        for (long bits = 0; bits <= uint.MaxValue; bits += 4093) yield return BitConverter.UInt32BitsToSingle((uint)bits);
        for (int k = -130; k <= 130; k++)
        {
            float tie = (float)((k + 0.5) * Math.Log(2));
            for (int step = -64; step <= 64; step++) yield return BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(tie) + step);
        }
        yield return -87.3f; yield return 88.3f; yield return float.MaxValue; yield return float.MinValue;
    }

    [Test]
    public void Exp_GivesTheBitsOfRoundAndConvertToInt32()
    {
        float[] inputs = Inputs().Where(x => !float.IsNaN(x)).ToArray();
        Assert.That(inputs.Length, Is.GreaterThan(1_000_000));
        int checkedCount = 0;
        for (int i = 0; i + 8 <= inputs.Length; i += 8)
        {
            Vector256<float> x = Vector256.Create(inputs.AsSpan(i, 8));
            Vector256<uint> expected = ExpWithRound(x).AsUInt32(), actual = FastMath.Exp(x).AsUInt32();
            if (expected != actual)
                for (int lane = 0; lane < 8; lane++)
                    Assert.That(actual.GetElement(lane), Is.EqualTo(expected.GetElement(lane)), $"exp({x.GetElement(lane):R})");
            checkedCount += 8;
        }
        Assert.That(checkedCount, Is.GreaterThan(1_000_000));
    }

    [Test]
    public void Exp_IsWithinTwoUlpOfTheDoubleExp_InsideTheClamp()
    {
        double worst = 0;
        for (float x = -87.3f; x < 88.3f; x += 0.000731f)
        {
            float actual = FastMath.Exp(Vector256.Create(x)).GetElement(0);
            double exact = Math.Exp(x);
            float nearest = (float)exact;
            double ulp = (double)MathF.BitIncrement(nearest) - nearest;
            worst = Math.Max(worst, Math.Abs(actual - exact) / ulp);
        }
        Assert.That(worst, Is.LessThanOrEqualTo(1.0), "worst error in ulp (0.97 on this sample)");
    }

    [Test]
    public void Exp_SaturatesBeyondTheClamp_AndKeepsNaN()
    {
        Assert.That(FastMath.Exp(Vector256.Create(1000f)).GetElement(0), Is.EqualTo(FastMath.Exp(Vector256.Create(88.3f)).GetElement(0)));
        Assert.That(FastMath.Exp(Vector256.Create(-1000f)).GetElement(0), Is.EqualTo(FastMath.Exp(Vector256.Create(-87.3f)).GetElement(0)));
        Assert.That(float.IsNaN(FastMath.Exp(Vector256.Create(float.NaN)).GetElement(0)), Is.True);
        Assert.That(float.IsNaN(FastMath.Sigmoid(Vector256.Create(float.NaN)).GetElement(0)), Is.True);
        Assert.That(float.IsNaN(FastMath.Tanh(Vector256.Create(float.NaN)).GetElement(0)), Is.True);
    }

    // σ(x) = 1/(1 + e^{−x}) is 0 once e^{−x} overflows float (x ≤ −88.7228394), as PyTorch's float σ gives it (its
    // vectorized 1/(1 + exp(−x)) reaches 1/∞), −∞ included; below that, the error is at most the subnormal σ(−88.3). NaN
    // stays NaN, +∞ gives 1.
    [Test]
    public void Sigmoid_IsZeroWhereExpOverflows_AndOneAtInfinity()
    {
        foreach (float x in new[] { float.NegativeInfinity, float.MinValue, -1e30f, -1000f, -100f, -88.7228394f })
        {
            Assert.That(FastMath.Sigmoid(Vector256.Create(x)).GetElement(0), Is.EqualTo(0f), $"σ({x:R}), 256 bits");
            Assert.That(FastMath.Sigmoid(Vector512.Create(x)).GetElement(0), Is.EqualTo(0f), $"σ({x:R}), 512 bits");
        }
        for (float x = -88.7228317f; x < -80f; x += 0.0137f)
        {
            double exact = 1 / (1 + Math.Exp(-(double)x));
            Assert.That(FastMath.Sigmoid(Vector256.Create(x)).GetElement(0), Is.EqualTo(exact).Within(4.5e-39 + 2e-7 * exact), $"σ({x:R})");
        }
        Assert.That(FastMath.Sigmoid(Vector256.Create(float.PositiveInfinity)).GetElement(0), Is.EqualTo(1f));
        Assert.That(float.IsNaN(FastMath.Sigmoid(Vector512.Create(float.NaN)).GetElement(0)), Is.True);
    }

    // The 512-bit σ and tanh (the gate loops' 16-column steps where AVX-512 runs natively) give every lane the bits the
    // 256-bit ones give it: a stride through all finite floats, both signs, the edge values and exp's rounding ties.
    // Where AVX-512F runs, the 512-bit exp rounds and scales with vrndscaleps and vscalefps; elsewhere Vector512 runs in
    // software with the 256-bit operations; the CI runs this test both ways.
    [Test]
    public void Vector512Functions_GiveEachLaneTheBitsOfTheVector256Ones()
    {
        var inputs = new List<float> { 0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon,
            float.MaxValue, float.MinValue, 0.625f, -0.625f, 87.3f, -87.3f, 88.3f, -88.3f, 44.15f, -44.15f, 1e-20f };
        for (uint bits = 0; bits < 0x7F800000u; bits += 65_537u)
        {
            float x = BitConverter.UInt32BitsToSingle(bits);
            inputs.Add(x);
            inputs.Add(-x);
        }
        // Where exp's n = round(x·log2 e) meets a tie, the 512-bit functions round by vrndscaleps and the 256-bit ones by
        // the shifter: around every tie of exp's argument x, of σ's −x and of tanh's 2|x|.
        for (int k = -130; k <= 130; k++)
        {
            float tie = (float)((k + 0.5) * Math.Log(2));
            for (int step = -64; step <= 64; step++)
            {
                float x = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(tie) + step);
                inputs.Add(x);
                inputs.Add(-x);
                inputs.Add(x / 2);
            }
        }
        while (inputs.Count % 16 != 0) inputs.Add(1f);
        float[] values = inputs.ToArray();
        int mismatches = 0;
        for (int k = 0; k < values.Length; k += 16)
        {
            Vector512<float> wide = Vector512.Create(values.AsSpan(k, 16));
            Vector256<float> low = Vector256.Create(values.AsSpan(k, 8)), high = Vector256.Create(values.AsSpan(k + 8, 8));
            mismatches += Differ(FastMath.Sigmoid(wide), FastMath.Sigmoid(low), FastMath.Sigmoid(high));
            mismatches += Differ(FastMath.Tanh(wide), FastMath.Tanh(low), FastMath.Tanh(high));
            mismatches += Differ(FastMath.Exp(wide), FastMath.Exp(low), FastMath.Exp(high));
        }
        Assert.That(mismatches, Is.EqualTo(0), $"lanes where the 512-bit result differs from the 256-bit one, of {3 * values.Length}");
    }

    private static int Differ(Vector512<float> wide, Vector256<float> low, Vector256<float> high)
    {
        int count = 0;
        for (int lane = 0; lane < 16; lane++)
        {
            float expected = lane < 8 ? low.GetElement(lane) : high.GetElement(lane - 8);
            if (BitConverter.SingleToUInt32Bits(wide.GetElement(lane)) != BitConverter.SingleToUInt32Bits(expected)) count++;
        }
        return count;
    }
}
