using System.Globalization;
namespace NumLstm.IO;

/// <summary>
/// Converts raw tensor bytes of a file dtype into a managed element type. Float targets accept every dtype
/// (rounding like a C# cast, BF16 widened exactly); integer targets accept integer and bool dtypes only, with a
/// range check.
/// </summary>
internal static class ElementConverter
{
    /// <param name="source">count * SizeOf(dtype) bytes.</param>
    /// <param name="dtype">The file dtype of the bytes.</param>
    /// <param name="littleEndian">Byte order of the file's elements.</param>
    /// <param name="filePath">For error messages.</param>
    /// <param name="field">For error messages, e.g. "tensor 'w'".</param>
    public static T[] ToArray<T>(ReadOnlySpan<byte> source, TensorDType dtype, bool littleEndian, string? filePath, string field)
        where T : unmanaged, INumberBase<T>
    {
        int size = TensorDTypes.SizeOf(dtype);
        int count = source.Length / size;
        bool integerTarget = IsIntegerType<T>();
        if (integerTarget && TensorDTypes.IsFloating(dtype))
            throw new NumLstmFormatException(filePath, $"{field} dtype",
                $"expected an integer or bool dtype to convert to {typeof(T).Name}, found {dtype}.");

        var result = new T[count];
        if (TensorDTypes.Of<T>() == dtype && (littleEndian == BitConverter.IsLittleEndian || size == 1))
        {
            source.CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
            return result;
        }

        if (littleEndian != BitConverter.IsLittleEndian && size > 1)
        {
            byte[] swapped = source.ToArray();
            for (int k = 0; k < swapped.Length; k += size)
                swapped.AsSpan(k, size).Reverse();
            source = swapped;
        }

        try
        {
            switch (dtype)
            {
                case TensorDType.Bool:
                    for (int k = 0; k < count; k++)
                        result[k] = source[k] != 0 ? T.One : T.Zero;
                    break;
                case TensorDType.U8: From(source, result, integerTarget); break;
                case TensorDType.I8: From(MemoryMarshal.Cast<byte, sbyte>(source), result, integerTarget); break;
                case TensorDType.I16: From(MemoryMarshal.Cast<byte, short>(source), result, integerTarget); break;
                case TensorDType.I32: From(MemoryMarshal.Cast<byte, int>(source), result, integerTarget); break;
                case TensorDType.I64: From(MemoryMarshal.Cast<byte, long>(source), result, integerTarget); break;
                case TensorDType.F16: From(MemoryMarshal.Cast<byte, Half>(source), result, integerTarget); break;
                case TensorDType.F32: From(MemoryMarshal.Cast<byte, float>(source), result, integerTarget); break;
                case TensorDType.F64: From(MemoryMarshal.Cast<byte, double>(source), result, integerTarget); break;
                case TensorDType.BF16:
                    // bfloat16 is the upper half of a float32: widening is exact.
                    ReadOnlySpan<ushort> bits = MemoryMarshal.Cast<byte, ushort>(source);
                    for (int k = 0; k < count; k++)
                        result[k] = T.CreateTruncating(BitConverter.Int32BitsToSingle(bits[k] << 16));
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype.");
            }
        }
        catch (ElementOverflow e)
        {
            // The npy reader's field is "data" itself, a tensor's "tensor 'w'": no "data data".
            throw new NumLstmFormatException(filePath, field == "data" ? field : $"{field} data",
                $"expected values that fit {typeof(T).Name}, found {e.Value} at index {e.Index} ({dtype} data).", e.InnerException);
        }
        return result;
    }

    private static void From<TSource, T>(ReadOnlySpan<TSource> source, T[] result, bool integerTarget)
        where TSource : unmanaged, INumberBase<TSource>
        where T : unmanaged, INumberBase<T>
    {
        if (integerTarget)
        {
            int k = 0;
            try
            {
                for (; k < source.Length; k++)
                    result[k] = T.CreateChecked(source[k]);
            }
            catch (OverflowException e)
            {
                throw new ElementOverflow(k, source[k].ToString(null, CultureInfo.InvariantCulture), e);
            }
        }
        else
        {
            for (int k = 0; k < source.Length; k++)
                result[k] = T.CreateTruncating(source[k]);
        }
    }

    /// <summary>Little-endian bytes of <paramref name="values"/>, as both file formats store them.</summary>
    public static byte[] ToLittleEndianBytes<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        byte[] bytes = MemoryMarshal.AsBytes(values).ToArray();
        int size = Unsafe.SizeOf<T>();
        if (!BitConverter.IsLittleEndian && size > 1)
            for (int k = 0; k < bytes.Length; k += size)
                bytes.AsSpan(k, size).Reverse();
        return bytes;
    }

    // Carries the index and value of the element that did not fit from From to ToArray, which knows the file.
    private sealed class ElementOverflow(int index, string value, OverflowException inner) : Exception(null, inner)
    {
        public int Index { get; } = index;
        public string Value { get; } = value;
    }

    // An integer type rounds 0.5 to an integer; any float-like type keeps it.
    private static bool IsIntegerType<T>() where T : INumberBase<T> => T.IsInteger(T.CreateTruncating(0.5));
}
