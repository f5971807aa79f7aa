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

    /// <summary>
    /// total = a + (b + c) (c empty: a + b), then a and b cleared, in one pass: an LSTM backward step's dh = dh_next +
    /// (carried output gradient + this step's), with the same roundings in the same order as adding c into b, then b
    /// into a copy of a.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SumAndClear<T>(Span<T> a, Span<T> b, ReadOnlySpan<T> c, Span<T> total) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (b.Length != a.Length || total.Length != a.Length || (!c.IsEmpty && c.Length != a.Length))
            throw new ArgumentException($"Elementwise.SumAndClear: b ({b.Length} values), c ({c.Length}, or none) and total ({total.Length}) must be as long as a ({a.Length}).");
        ref T ar = ref MemoryMarshal.GetReference(a), br = ref MemoryMarshal.GetReference(b);
        ref T cr = ref MemoryMarshal.GetReference(c), tr = ref MemoryMarshal.GetReference(total);
        bool withC = !c.IsEmpty;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            for (; i <= a.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                Vector256<T> carried = Vector256.LoadUnsafe(ref br, (nuint)i);
                if (withC) carried += Vector256.LoadUnsafe(ref cr, (nuint)i);
                (Vector256.LoadUnsafe(ref ar, (nuint)i) + carried).StoreUnsafe(ref tr, (nuint)i);
                Vector256<T>.Zero.StoreUnsafe(ref ar, (nuint)i);
                Vector256<T>.Zero.StoreUnsafe(ref br, (nuint)i);
            }
        for (; i < a.Length; i++)
        {
            T carried = withC ? Unsafe.Add(ref br, i) + Unsafe.Add(ref cr, i) : Unsafe.Add(ref br, i);
            Unsafe.Add(ref tr, i) = Unsafe.Add(ref ar, i) + carried;
            Unsafe.Add(ref ar, i) = T.Zero;
            Unsafe.Add(ref br, i) = T.Zero;
        }
    }
}
