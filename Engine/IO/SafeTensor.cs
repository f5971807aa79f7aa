namespace NumLstm.IO;

/// <summary>
/// One named tensor of a safetensors file: a dtype, a shape (C order) and its raw little-endian bytes.
/// Read tensors share the file's buffer; <see cref="ToArray{T}"/> copies and converts.
/// </summary>
public sealed class SafeTensor
{
    private readonly long[] _shape;

    private SafeTensor(string name, TensorDType dtype, long[] shape, long elementCount, ReadOnlyMemory<byte> data, string? sourcePath)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        ElementCount = elementCount;
        Data = data;
        SourcePath = sourcePath;
    }

    public string Name { get; }
    public TensorDType DType { get; }

    /// <summary>Dimensions in C order (a copy). Empty for a scalar.</summary>
    public long[] Shape => (long[])_shape.Clone();

    public int Rank => _shape.Length;
    public long ElementCount { get; }

    /// <summary>The raw little-endian bytes, <c>ElementCount * size(DType)</c> long.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The file this tensor was read from, for error messages; null for tensors built in memory.</summary>
    public string? SourcePath { get; }

    /// <summary>A tensor holding a copy of <paramref name="values"/> (float, double, Half, long, int, short, sbyte,
    /// byte or bool) with the given C-order shape.</summary>
    public static SafeTensor Create<T>(string name, ReadOnlySpan<T> values, params int[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        TensorDType dtype = TensorDTypes.Of<T>()
            ?? throw new ArgumentException($"Tensor '{name}': element type {typeof(T).Name} has no safetensors dtype; expected float, double, Half, long, int, short, sbyte, byte or bool.", nameof(values));
        return FromBytes(name, dtype, Array.ConvertAll(shape, d => (long)d), ElementConverter.ToLittleEndianBytes(values));
    }

    /// <summary>A tensor over existing little-endian bytes (not copied).</summary>
    public static SafeTensor FromBytes(string name, TensorDType dtype, long[] shape, ReadOnlyMemory<byte> data)
    {
        ValidateName(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (!Enum.IsDefined(dtype))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"Tensor '{name}': unknown dtype.");
        long? count = TensorDTypes.ElementCount(shape);
        if (count is null)
            throw new ArgumentException($"Tensor '{name}': shape [{string.Join(", ", shape)}] must have non-negative dimensions whose product fits a long.", nameof(shape));
        int size = TensorDTypes.SizeOf(dtype);
        if (count.Value > long.MaxValue / size)
            throw new ArgumentException($"Tensor '{name}': shape [{string.Join(", ", shape)}] of {dtype} needs more than 2^63 bytes (its {count.Value} elements × {size}), got {data.Length}.", nameof(shape));
        long expected = count.Value * size;
        if (data.Length != expected)
            throw new ArgumentException($"Tensor '{name}': shape [{string.Join(", ", shape)}] of {dtype} needs {expected} bytes, got {data.Length}.", nameof(data));
        return new SafeTensor(name, dtype, (long[])shape.Clone(), count.Value, data, null);
    }

    /// <summary>A tensor holding a copy of the parameter's values, named and shaped like it.</summary>
    public static SafeTensor FromParameter<T>(Parameter<T> parameter) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameter);
        return Create<T>(parameter.Name, parameter.Value, parameter.Shape);
    }

    internal static SafeTensor FromFile(string name, TensorDType dtype, long[] shape, long elementCount, ReadOnlyMemory<byte> data, string? sourcePath) =>
        new(name, dtype, shape, elementCount, data, sourcePath);

    /// <summary>
    /// The elements converted to <typeparamref name="T"/>. Float targets take any dtype (F64 to float rounds like a
    /// C# cast); integer targets take integer and bool dtypes only. Throws <see cref="NumLstmFormatException"/> for a
    /// float dtype into an integer type, or a value out of the target's range.
    /// </summary>
    public T[] ToArray<T>() where T : unmanaged, INumberBase<T> =>
        ElementConverter.ToArray<T>(Data.Span, DType, littleEndian: true, SourcePath, $"tensor '{Name}'");

    /// <summary>The shape as int dimensions, as <see cref="Parameter{T}"/> uses.</summary>
    public int[] ToIntShape()
    {
        var shape = new int[_shape.Length];
        for (int k = 0; k < shape.Length; k++)
        {
            if (_shape[k] > int.MaxValue)
                throw new NumLstmFormatException(SourcePath, $"tensor '{Name}' shape", $"expected dimensions up to {int.MaxValue}, found {_shape[k]}.");
            shape[k] = (int)_shape[k];
        }
        return shape;
    }

    public override string ToString() => $"{Name} {DType} [{string.Join(", ", _shape)}]";

    // The empty name is allowed, as the reference writer and reader allow it.
    internal static void ValidateName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == SafeTensorsFile.MetadataKey)
            throw new ArgumentException($"'{SafeTensorsFile.MetadataKey}' is reserved for the file's metadata and cannot name a tensor.", nameof(name));
        CheckEncodable(name, "Tensor name", nameof(name));
    }

    /// <summary>
    /// Throws if <paramref name="text"/> holds a lone UTF-16 surrogate. The header is UTF-8, which cannot hold one:
    /// the JSON writer would put U+FFFD in its place, so "a\ud800" and "a\udc00" would both be written as "a\ufffd".
    /// </summary>
    internal static void CheckEncodable(string text, string what, string paramName)
    {
        for (int k = 0; k < text.Length; k++)
        {
            if (char.IsHighSurrogate(text[k]) && k + 1 < text.Length && char.IsLowSurrogate(text[k + 1]))
                k++;
            else if (char.IsSurrogate(text[k]))
                throw new ArgumentException(
                    $"{what} \"{Display(text)}\" has a lone surrogate U+{(int)text[k]:X4} at index {k}; expected valid Unicode, since the safetensors header is UTF-8.", paramName);
        }
    }

    // The first 60 characters, with every surrogate written as \uXXXX so the message itself stays valid text.
    private static string Display(string text)
    {
        var builder = new System.Text.StringBuilder();
        foreach (char c in text.Length <= 60 ? text : text[..60])
            builder.Append(char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c.ToString());
        return text.Length <= 60 ? builder.ToString() : builder.Append("...").ToString();
    }
}

/// <summary>What <see cref="SafeTensorsFile.Read(string)"/> returns: the string metadata and the tensors by name.</summary>
public sealed class SafeTensorsContent
{
    internal SafeTensorsContent(IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, SafeTensor> tensors, string? sourcePath)
    {
        Metadata = metadata;
        Tensors = tensors;
        SourcePath = sourcePath;
    }

    /// <summary>The <c>__metadata__</c> entries; empty if the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensors by name, in the order of their data in the file.</summary>
    public IReadOnlyDictionary<string, SafeTensor> Tensors { get; }

    public string? SourcePath { get; }

    /// <summary>The tensor with this name, or a <see cref="NumLstmFormatException"/> listing the names present.</summary>
    public SafeTensor this[string name] =>
        Tensors.TryGetValue(name, out var tensor)
            ? tensor
            : throw new NumLstmFormatException(SourcePath, $"tensor '{name}'", $"expected a tensor of that name, found only [{string.Join(", ", Tensors.Keys)}].");
}
