using System.Runtime.Intrinsics;

namespace NumLstm.Kernels;

/// <summary>Elementwise passes that TensorPrimitives has no single call for.</summary>
public static class Elementwise
{
    /// <summary>
    /// sum[i] = (sum[i] + a[i]) + b[i] in one pass: what adding a, then b, into sum gives, bit for bit (each element's two
    /// roundings in the same order), with one read and write of sum instead of two.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddTwo<T>(Span<T> sum, ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Length != sum.Length || b.Length != sum.Length)
            throw new ArgumentException($"Elementwise.AddTwo: a ({a.Length} values) and b ({b.Length}) must be as long as sum ({sum.Length}).");
        ref T sr = ref MemoryMarshal.GetReference(sum);
        ref T ar = ref MemoryMarshal.GetReference(a), br = ref MemoryMarshal.GetReference(b);
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            for (; i <= sum.Length - Vector256<T>.Count; i += Vector256<T>.Count)
                (Vector256.LoadUnsafe(ref sr, (nuint)i) + Vector256.LoadUnsafe(ref ar, (nuint)i) + Vector256.LoadUnsafe(ref br, (nuint)i))
                    .StoreUnsafe(ref sr, (nuint)i);
        for (; i < sum.Length; i++) Unsafe.Add(ref sr, i) = Unsafe.Add(ref sr, i) + Unsafe.Add(ref ar, i) + Unsafe.Add(ref br, i);
    }
}
