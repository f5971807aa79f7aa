namespace NumLstm.IO;

/// <summary>Element types the safetensors and .npy readers understand. Names follow safetensors.</summary>
public enum TensorDType
{
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

internal static class TensorDTypes
{
    public static int SizeOf(TensorDType dtype) => dtype switch
    {
        TensorDType.Bool or TensorDType.U8 or TensorDType.I8 => 1,
        TensorDType.I16 or TensorDType.F16 or TensorDType.BF16 => 2,
        TensorDType.I32 or TensorDType.F32 => 4,
        TensorDType.I64 or TensorDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    public static bool IsFloating(TensorDType dtype) =>
        dtype is TensorDType.F16 or TensorDType.BF16 or TensorDType.F32 or TensorDType.F64;

    /// <summary>The dtype whose elements are exactly <typeparamref name="T"/>, or null.</summary>
    public static TensorDType? Of<T>() =>
        typeof(T) == typeof(float) ? TensorDType.F32 :
        typeof(T) == typeof(double) ? TensorDType.F64 :
        typeof(T) == typeof(Half) ? TensorDType.F16 :
        typeof(T) == typeof(long) ? TensorDType.I64 :
        typeof(T) == typeof(int) ? TensorDType.I32 :
        typeof(T) == typeof(short) ? TensorDType.I16 :
        typeof(T) == typeof(sbyte) ? TensorDType.I8 :
        typeof(T) == typeof(byte) ? TensorDType.U8 :
        typeof(T) == typeof(bool) ? TensorDType.Bool :
        null;

    /// <summary>
    /// Number of elements of a shape, or null if a dimension is negative or the product overflows a long. Any zero
    /// dimension gives 0 ([0, -5] is null, not 0).
    /// </summary>
    public static long? ElementCount(ReadOnlySpan<long> shape)
    {
        // Signs first: a zero dimension must not hide a negative one.
        foreach (long dim in shape)
            if (dim < 0)
                return null;
        foreach (long dim in shape)
            if (dim == 0)
                return 0;
        long count = 1;
        foreach (long dim in shape)
        {
            if (count > long.MaxValue / dim)
                return null;
            count *= dim;
        }
        return count;
    }
}
