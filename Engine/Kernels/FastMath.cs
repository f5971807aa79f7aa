using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

/// <summary>
/// σ and tanh on Vector256&lt;float&gt; for the LSTM gate pass, inlined into its loops (one function per loop, see
/// LstmGates.ActivateGates). exp follows Cephes' expf (range reduction by ln 2 in two parts, degree-6
/// polynomial, about 1 ulp); tanh uses Cephes' odd polynomial below |x| = 0.625 and 1 − 2/(e^{2x} + 1) above, so
/// it keeps its relative accuracy near 0. Inputs are clamped where e^x would overflow (tanh is saturated there; σ is
/// set to 0 where e^−x overflows, see Sigmoid).
/// NaN stays NaN: Vector256/512.Min and Max follow IEEE 754 (NaN in, NaN out; the JIT puts the constant first, so one
/// vminps or vmaxps each), and every later operation propagates it.
/// </summary>
internal static class FastMath
{
    public static bool IsSupported => Vector256.IsHardwareAccelerated && Fma.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
        => ExpAboveClamp(Vector256.Max(x, Vector256.Create(-87.3f)));

    // e^x for x ≥ −87.3 or NaN: the upper clamp and the rest (tanh's argument 2|x| needs no lower clamp; the lower
    // clamp on it changed nothing but took an operation).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpAboveClamp(Vector256<float> x)
    {
        x = Vector256.Min(x, Vector256.Create(88.3f));
        // n = round(x / ln 2), ties to even, by adding and subtracting 1.5 · 2^23: the sum's unit in the last place is 1,
        // so the add rounds x·log2(e) (|x·log2(e)| ≤ 128) to an integer exactly as Vector256.Round does, and the
        // subtraction is exact. The sum's bits are then 0x4B400000 + n, so (sum bits + 127) << 23 is 2^n's bits with the
        // constant's high bits shifted out: the same n and scale as Round and ConvertToInt32, bit for bit (all 2^32
        // inputs checked). One operation more for n (an add and a subtraction for Round), five fewer for the scale
        // (ConvertToInt32 is a conversion plus a four-instruction saturation fix-up): the gate pass, bound by how many
        // operations its chains keep in flight, runs about 7 % faster. The multiply and the add must stay two roundings
        // (RyuJIT does not fuse them; FastMathTests fails at a tie if they are fused).
        Vector256<float> shifter = Vector256.Create(12582912f);
        Vector256<float> shifted = x * Vector256.Create(1.44269504088896341f) + shifter;
        Vector256<float> n = shifted - shifter;
        Vector256<float> r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        Vector256<float> p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        Vector256<int> scale = (shifted.AsInt32() + Vector256.Create(127)) << 23;
        return p * scale.AsSingle();
    }

    /// <summary>
    /// σ(x) = 1 / (1 + e^−x), and 0 where e^−x overflows float (x ≤ −88.7228394, −∞ included), as PyTorch's float σ
    /// (1/(1 + exp(−x)), exp reaching ∞) and IEEE arithmetic give it. Without the select Exp's clamp left σ at
    /// σ(−88.3) = 4.49e-39 down to −∞, so a forget gate shut by −∞ or −1e30 kept 4.49e-39 of c_{s−1} (1.35 of a c of
    /// 3e38; ∞ instead of NaN against an infinite c). A compare and a select more per σ; NaN fails the compare and stays.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x)
        => Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(SigmoidZeroBelow)), Vector256<float>.Zero,
            Vector256<float>.One / (Vector256<float>.One + Exp(-x)));

    // The largest float below −ln(float.MaxValue) = −88.72283905: x < −88.7228317 is x ≤ −88.7228394, where e^−x > max float.
    private const float SigmoidZeroBelow = -88.7228317f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        Vector256<float> ax = Vector256.Abs(x);
        // |x| ≥ 0.625: 1 − 2/(e^{2|x|} + 1), sign restored below (saturates to 1 for large |x|).
        Vector256<float> large = Vector256<float>.One - Vector256.Create(2f) / (ExpAboveClamp(ax + ax) + Vector256<float>.One);
        // |x| < 0.625: x + x·x²·P(x²).
        Vector256<float> z = ax * ax;
        Vector256<float> p = Vector256.Create(-5.70498872745e-3f);
        p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(2.06390887954e-2f));
        p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(-5.37397155531e-2f));
        p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(1.33314422036e-1f));
        p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(-3.33332819422e-1f));
        Vector256<float> small = Vector256.FusedMultiplyAdd(p * z, ax, ax);
        Vector256<float> result = Vector256.ConditionalSelect(Vector256.LessThan(ax, Vector256.Create(0.625f)), small, large);
        return result | (x & Vector256.Create(-0f));   // copy the sign of x
    }

    // ---- The same functions on Vector512<float>, so each lane gets the bits the 256-bit functions give it (the gate
    // loops take 16 columns at a time where AVX-512 runs natively, then 8): operation for operation but for exp's
    // rounding and scaling (see ExpAboveClamp). Edit both alike.

    /// <summary>Whether the gate loops take 16 columns at a time (AVX-512 natively); FastMathTests compare the widths lane by lane.</summary>
    public static readonly bool Wide = Vector512.IsHardwareAccelerated && IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
        => ExpAboveClamp(Vector512.Max(x, Vector512.Create(-87.3f)));

    // e^x for x ≥ −87.3 or NaN (tanh's argument 2|x| needs no lower clamp). Where AVX-512F runs, n = round(x·log2 e)
    // by vrndscaleps (ties to even, of the rounded product: the same n as the shifter) and p·2^n by vscalefps (exact
    // for a normal result, one rounding for a subnormal one, as the multiply by 2^n): the same bits in three operations
    // fewer than the shifter and the integer scale (σ 23 → 18 instructions with the NaN select gone too; the
    // gate pass 11–16 % faster at H = 200 and 512, docs/performance.md sitting 33).
    // Elsewhere (Vector512 in software) the 256-bit functions' operations.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpAboveClamp(Vector512<float> x)
    {
        x = Vector512.Min(x, Vector512.Create(88.3f));
        Vector512<float> n, shifted = default;
        if (Avx512F.IsSupported)
            n = Avx512F.RoundScale(x * Vector512.Create(1.44269504088896341f), 0);
        else
        {
            Vector512<float> shifter = Vector512.Create(12582912f);
            shifted = x * Vector512.Create(1.44269504088896341f) + shifter;
            n = shifted - shifter;
        }
        Vector512<float> r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        Vector512<float> p = Vector512.Create(1.9875691500e-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        if (Avx512F.IsSupported) return Avx512F.Scale(p, n);
        Vector512<int> scale = (shifted.AsInt32() + Vector512.Create(127)) << 23;
        return p * scale.AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sigmoid(Vector512<float> x)
        => Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(SigmoidZeroBelow)), Vector512<float>.Zero,
            Vector512<float>.One / (Vector512<float>.One + Exp(-x)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Tanh(Vector512<float> x)
    {
        Vector512<float> ax = Vector512.Abs(x);
        Vector512<float> large = Vector512<float>.One - Vector512.Create(2f) / (ExpAboveClamp(ax + ax) + Vector512<float>.One);
        Vector512<float> z = ax * ax;
        Vector512<float> p = Vector512.Create(-5.70498872745e-3f);
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(2.06390887954e-2f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(-5.37397155531e-2f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(1.33314422036e-1f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(-3.33332819422e-1f));
        Vector512<float> small = Vector512.FusedMultiplyAdd(p * z, ax, ax);
        Vector512<float> result = Vector512.ConditionalSelect(Vector512.LessThan(ax, Vector512.Create(0.625f)), small, large);
        return result | (x & Vector512.Create(-0f));
    }
}
