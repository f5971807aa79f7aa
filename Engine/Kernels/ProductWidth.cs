using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

/// <summary>
/// The vector width the matrix products use (<see cref="Gemm"/>, <see cref="DotGemm"/> and their packed layouts): 512
/// bits where AVX-512 runs natively, 256 with AVX2 and FMA, 0 (their scalar paths) otherwise. The other kernels (gate
/// passes, LayerNorm, Adam) are 256-bit or scalar and do not follow it.
/// <para>
/// The environment variable <c>NUMLSTM_VECTOR_BITS</c> (0, 256 or 512), read once when the process first multiplies,
/// chooses the width instead. A width the hardware lacks then runs in software (about twice as slow for 512 bits on an
/// AVX2 core): the same code, blocking and packed layouts, and the same fused multiply-adds; only a horizontal sum's
/// order inside a vector may differ from the hardware's, so a result's last bits can. It is there for tests:
/// <c>.ci/run</c> runs the whole suite with 512, 256 and 0, so every width's paths are exercised whatever the machine
/// has. The width decides the packed
/// layouts, so it cannot change while the process runs.
/// </para>
/// </summary>
internal static class ProductWidth
{
    internal const string Variable = "NUMLSTM_VECTOR_BITS";

    /// <summary>512, 256 or 0.</summary>
    internal static readonly int Bits = Parse(Environment.GetEnvironmentVariable(Variable), Hardware);

    /// <summary>The width this machine runs natively.</summary>
    internal static int Hardware =>
        Vector512.IsHardwareAccelerated ? 512 :
        Vector256.IsHardwareAccelerated && Fma.IsSupported ? 256 : 0;

    /// <summary>The width a setting of <see cref="Variable"/> chooses; unset or blank keeps <paramref name="hardware"/>.</summary>
    internal static int Parse(string? setting, int hardware)
    {
        if (string.IsNullOrWhiteSpace(setting)) return hardware;
        return setting.Trim() switch
        {
            "0" => 0,
            "256" => 256,
            "512" => 512,
            _ => throw new InvalidOperationException(
                $"{Variable} must be 0, 256 or 512 (the vector width of the matrix products; unset: this machine's, {hardware}), got '{setting}'."),
        };
    }
}
