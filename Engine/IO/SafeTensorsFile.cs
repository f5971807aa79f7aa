using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace NumLstm.IO;

/// <summary>
/// Reads and writes the Hugging Face safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8
/// JSON (<c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>), then
/// the data buffer, with offsets relative to its start. Every header field is checked against the file's real size
/// before anything is allocated from it; see docs/formats-io.md for the full list of checks.
/// </summary>
public static class SafeTensorsFile
{
    public const string MetadataKey = "__metadata__";

    /// <summary>Largest header accepted, as in the reference implementation.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Deepest JSON nesting accepted (a valid header needs 3).</summary>
    public const int MaxJsonDepth = 64;

    private static readonly string SupportedDTypes = string.Join(", ", Enum.GetNames<TensorDType>().Select(DTypeName));

    // ---------------------------------------------------------------- reading

    /// <summary>Reads a whole safetensors file. Any malformed or unreadable file gives <see cref="NumLstmFormatException"/>.</summary>
    public static SafeTensorsContent Read(string path)
    {
        using var stream = FileReading.OpenSeekable(path);
        return Read(stream, path);
    }

    /// <summary>Reads safetensors content from the current position to the end of a seekable stream.</summary>
    /// <param name="stream">A readable, seekable stream.</param>
    /// <param name="sourceName">Names the stream in error messages.</param>
    public static SafeTensorsContent Read(Stream stream, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long fileLength = FileReading.Length(stream, sourceName);
        if (fileLength < 8)
            throw new NumLstmFormatException(sourceName, "header length", $"expected an 8-byte little-endian header length, found a file of {fileLength} bytes.");

        byte[] lengthBytes = FileReading.ReadExactly(stream, 8, sourceName, "header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)MaxHeaderBytes)
            throw new NumLstmFormatException(sourceName, "header length", $"expected at most {MaxHeaderBytes} bytes, found {headerLength}.");
        if (headerLength > (ulong)(fileLength - 8))
            throw new NumLstmFormatException(sourceName, "header length", $"expected at most {fileLength - 8} bytes (file size {fileLength} minus 8), found {headerLength}.");
        if (headerLength < 2)
            throw new NumLstmFormatException(sourceName, "header length", $"expected at least 2 bytes for a JSON object, found {headerLength}.");

        byte[] header = FileReading.ReadExactly(stream, (long)headerLength, sourceName, "header");
        long bufferLength = fileLength - 8 - (long)headerLength;
        List<TensorEntry> entries = ParseHeader(header, bufferLength, sourceName, out var metadata);

        // Everything in the header is consistent with the real buffer size: only now allocate it.
        byte[] buffer = FileReading.ReadExactly(stream, bufferLength, sourceName, "data buffer");
        var tensors = new Dictionary<string, SafeTensor>(entries.Count, StringComparer.Ordinal);
        foreach (var e in entries)
            tensors.Add(e.Name, SafeTensor.FromFile(e.Name, e.DType, e.Shape, e.Count, buffer.AsMemory((int)e.Begin, (int)(e.End - e.Begin)), sourceName));
        return new SafeTensorsContent(metadata, tensors, sourceName);
    }

    private readonly record struct TensorEntry(string Name, TensorDType DType, long[] Shape, long Count, long Begin, long End);

    private static List<TensorEntry> ParseHeader(byte[] header, long bufferLength, string? file, out Dictionary<string, string> metadata)
    {
        if (header[0] != (byte)'{')
            throw new NumLstmFormatException(file, "header", $"expected JSON starting with '{{', found byte 0x{header[0]:X2}.");
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw new NumLstmFormatException(file, "header", "expected UTF-8 JSON, found invalid UTF-8.");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
        }
        catch (JsonException e)
        {
            throw new NumLstmFormatException(file, "header", $"expected valid JSON (depth at most {MaxJsonDepth}), found: {e.Message}", e);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new NumLstmFormatException(file, "header", $"expected a JSON object, found {root.ValueKind}.");

            metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<TensorEntry>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                string name = NameOf(property, file, "header");
                if (!names.Add(name))
                    throw new NumLstmFormatException(file, name == MetadataKey ? MetadataKey : $"tensor '{Echo.Name(name)}'",
                        "expected unique names in the header, found this one twice.");
                if (name == MetadataKey)
                    ReadMetadata(property.Value, file, metadata);
                else
                    entries.Add(ReadEntry(name, property.Value, bufferLength, file));
            }

            CheckLayout(entries, bufferLength, file);
            return entries;
        }
    }

    private static void ReadMetadata(JsonElement value, string? file, Dictionary<string, string> metadata)
    {
        // null is no metadata: the reference reads the field as Option<HashMap<String, String>>, and serde reads null as None.
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new NumLstmFormatException(file, MetadataKey, $"expected an object of string values, found {value.ValueKind}.");
        foreach (JsonProperty item in value.EnumerateObject())
        {
            string key = NameOf(item, file, MetadataKey);
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new NumLstmFormatException(file, $"{MetadataKey} '{Echo.Name(key)}'", $"expected a string value, found {item.Value.ValueKind}.");
            if (!metadata.TryAdd(key, StringOf(item.Value, file, $"{MetadataKey} '{Echo.Name(key)}'")))
                throw new NumLstmFormatException(file, $"{MetadataKey} '{Echo.Name(key)}'", "expected unique keys, found this one twice.");
        }
    }

    private static TensorEntry ReadEntry(string name, JsonElement value, long bufferLength, string? file)
    {
        // An empty name is valid: the reference writes and reads it (safetensors.torch.save_file({"": t})).
        string field = $"tensor '{Echo.Name(name)}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw new NumLstmFormatException(file, field, $"expected an object with dtype, shape and data_offsets, found {value.ValueKind}.");

        JsonElement? dtypeValue = null, shapeValue = null, offsetsValue = null;
        foreach (JsonProperty item in value.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeValue;
            string key = NameOf(item, file, field);
            switch (key)
            {
                case "dtype": slot = ref dtypeValue; break;
                case "shape": slot = ref shapeValue; break;
                case "data_offsets": slot = ref offsetsValue; break;
                default:
                    throw new NumLstmFormatException(file, $"{field} '{Echo.Name(key)}'", "expected only the keys dtype, shape and data_offsets, found this one.");
            }
            if (slot is not null)
                throw new NumLstmFormatException(file, $"{field} {key}", "expected once, found twice.");
            slot = item.Value;
        }

        if (dtypeValue is not { ValueKind: JsonValueKind.String } dtypeElement)
            throw new NumLstmFormatException(file, $"{field} dtype", $"expected a string, one of {SupportedDTypes}, found {Describe(dtypeValue)}.");
        string dtypeText = StringOf(dtypeElement, file, $"{field} dtype");
        TensorDType dtype = ParseDType(dtypeText)
            ?? throw new NumLstmFormatException(file, $"{field} dtype", $"expected one of {SupportedDTypes}, found '{dtypeText}'.");

        if (shapeValue is not { ValueKind: JsonValueKind.Array } shapeElement)
            throw new NumLstmFormatException(file, $"{field} shape", $"expected an array of non-negative integers, found {Describe(shapeValue)}.");
        var shape = new long[shapeElement.GetArrayLength()];
        int k = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                throw new NumLstmFormatException(file, $"{field} shape", $"expected non-negative integer dimensions, found {dim.GetRawText()} at index {k}.");
            shape[k++] = d;
        }
        long count = TensorDTypes.ElementCount(shape)
            ?? throw new NumLstmFormatException(file, $"{field} shape", $"expected an element count that fits 64 bits, found the product of [{string.Join(", ", shape)}] overflows.");
        long byteSize = count > long.MaxValue / TensorDTypes.SizeOf(dtype)
            ? throw new NumLstmFormatException(file, $"{field} shape", $"expected a byte size that fits 64 bits, found {count} elements of {DTypeName(dtype)} overflow it.")
            : count * TensorDTypes.SizeOf(dtype);

        if (offsetsValue is not { ValueKind: JsonValueKind.Array } offsetsElement || offsetsElement.GetArrayLength() != 2)
            throw new NumLstmFormatException(file, $"{field} data_offsets", $"expected [begin, end], found {Describe(offsetsValue)}.");
        long begin = ReadOffset(offsetsElement[0], file, field);
        long end = ReadOffset(offsetsElement[1], file, field);
        if (end < begin)
            throw new NumLstmFormatException(file, $"{field} data_offsets", $"expected begin <= end, found [{begin}, {end}].");
        if (end > bufferLength)
            throw new NumLstmFormatException(file, $"{field} data_offsets", $"expected end <= {bufferLength} (the data buffer size), found [{begin}, {end}].");
        if (end - begin != byteSize)
            throw new NumLstmFormatException(file, $"{field} data_offsets",
                $"expected {byteSize} bytes for shape [{string.Join(", ", shape)}] of {DTypeName(dtype)}, found [{begin}, {end}] = {end - begin} bytes.");
        return new TensorEntry(name, dtype, shape, count, begin, end);
    }

    private static long ReadOffset(JsonElement value, string? file, string field)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long offset) || offset < 0)
            throw new NumLstmFormatException(file, $"{field} data_offsets", $"expected non-negative integer offsets, found {value.GetRawText()}.");
        return offset;
    }

    // The spec requires the tensors to tile the buffer: sorted by offset, each begins where the previous ends, the
    // first at 0 and the last at the end of the buffer. This rules out overlaps (aliasing) and hidden bytes.
    private static void CheckLayout(List<TensorEntry> entries, long bufferLength, string? file)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        string previous = "the start of the buffer";
        foreach (var e in entries)
        {
            if (e.Begin < expected)
                throw new NumLstmFormatException(file, $"tensor '{Echo.Name(e.Name)}' data_offsets",
                    $"expected begin >= {expected} (end of {previous}), found [{e.Begin}, {e.End}]: the tensors overlap.");
            if (e.Begin > expected)
                throw new NumLstmFormatException(file, $"tensor '{Echo.Name(e.Name)}' data_offsets",
                    $"expected begin == {expected} (end of {previous}), found [{e.Begin}, {e.End}]: bytes [{expected}, {e.Begin}) belong to no tensor.");
            expected = e.End;
            previous = $"tensor '{Echo.Name(e.Name)}'";
        }
        if (expected != bufferLength)
            throw new NumLstmFormatException(file, "data buffer",
                $"expected the tensors to cover all {bufferLength} bytes, found they end at {expected}.");
    }

    // System.Text.Json parses a lone surrogate escape such as \ud800 but throws InvalidOperationException when the
    // string is read; serde_json, the reference, rejects such a header (InvalidHeaderDeserialization). So do we.
    private static string NameOf(JsonProperty property, string? file, string field)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException e)
        {
            throw new NumLstmFormatException(file, field, $"expected a key of valid Unicode, found a lone surrogate escape in the key of {Truncate(property.ToString())}.", e);
        }
    }

    private static string StringOf(JsonElement value, string? file, string field)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new NumLstmFormatException(file, field, $"expected a string of valid Unicode, found a lone surrogate escape in {Truncate(value.GetRawText())}.", e);
        }
    }

    private static string Describe(JsonElement? value) => value is null ? "nothing" : value.Value.ValueKind switch
    {
        JsonValueKind.Array => $"an array of {value.Value.GetArrayLength()}",
        JsonValueKind.Object => "an object",
        _ => Truncate(value.Value.GetRawText()),
    };

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "...";

    internal static TensorDType? ParseDType(string text) => text switch
    {
        "BOOL" => TensorDType.Bool,
        "U8" => TensorDType.U8,
        "I8" => TensorDType.I8,
        "I16" => TensorDType.I16,
        "I32" => TensorDType.I32,
        "I64" => TensorDType.I64,
        "F16" => TensorDType.F16,
        "BF16" => TensorDType.BF16,
        "F32" => TensorDType.F32,
        "F64" => TensorDType.F64,
        _ => null,
    };

    internal static string DTypeName(TensorDType dtype) => dtype == TensorDType.Bool ? "BOOL" : dtype.ToString();

    internal static string DTypeName(string name) => name == nameof(TensorDType.Bool) ? "BOOL" : name;

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Writes tensors and optional string metadata atomically (see <see cref="AtomicFile"/>). Tensors are laid out as
    /// the reference writer lays them out: by descending alignment of their dtype, then by name (UTF-8 byte order);
    /// the header is padded with spaces to a multiple of 8 bytes, so every tensor's data is aligned to its element size.
    /// </summary>
    public static void Write(string path, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var (header, sorted) = BuildHeader(tensors, metadata);
        AtomicFile.Write(path, stream => WriteBody(stream, header, sorted));
    }

    /// <summary>Writes safetensors content to a stream (not atomic: for files use <see cref="Write(string, IEnumerable{SafeTensor}, IReadOnlyDictionary{string, string}?)"/>).</summary>
    public static void Write(Stream stream, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var (header, sorted) = BuildHeader(tensors, metadata);
        WriteBody(stream, header, sorted);
    }

    /// <summary>Writes the values of the parameters, one tensor per parameter under its name.</summary>
    public static void WriteParameters<T>(string path, IEnumerable<Parameter<T>> parameters, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Write(path, parameters.Select(SafeTensor.FromParameter), metadata);
    }

    /// <summary>
    /// Reads a file and copies each tensor into the parameter of the same name, converting the dtype. Shapes must
    /// match exactly. With <paramref name="strict"/>, the file must hold exactly these parameters; otherwise extra
    /// tensors are ignored (missing ones are always an error). Nothing is copied unless every check passes.
    /// </summary>
    /// <returns>The file's metadata.</returns>
    public static IReadOnlyDictionary<string, string> LoadParameters<T>(string path, IEnumerable<Parameter<T>> parameters, bool strict = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToList();
        SafeTensorsContent content = Read(path);
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        var values = new List<T[]>(list.Count);
        foreach (var p in list)
        {
            if (!wanted.Add(p.Name))
                throw new ArgumentException($"Two parameters are named '{p.Name}'.", nameof(parameters));
            if (!content.Tensors.TryGetValue(p.Name, out var tensor))
                throw new NumLstmFormatException(path, $"tensor '{Echo.Name(p.Name)}'", $"expected a tensor for parameter {Echo.Name(p.ToString())}, found none (the file has [{Echo.List(content.Tensors.Keys)}]).");
            long[] shape = tensor.Shape;
            if (!shape.SequenceEqual(p.Shape.Select(d => (long)d)))
                throw new NumLstmFormatException(path, $"tensor '{p.Name}' shape", $"expected [{string.Join(", ", p.Shape)}], found [{string.Join(", ", shape)}].");
            values.Add(tensor.ToArray<T>());
        }
        if (strict)
        {
            var extra = content.Tensors.Keys.Where(n => !wanted.Contains(n)).ToList();
            if (extra.Count > 0)
                throw new NumLstmFormatException(path, $"tensor '{Echo.Name(extra[0])}'", $"expected only the model's parameters, found {extra.Count} unexpected tensor(s): [{Echo.List(extra)}].");
        }
        for (int k = 0; k < list.Count; k++)
            values[k].CopyTo(list[k].Value, 0);
        return content.Metadata;
    }

    private static (byte[] Header, List<SafeTensor> Sorted) BuildHeader(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var sorted = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in sorted)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(tensors));
            if (!seen.Add(t.Name))
                throw new ArgumentException($"Two tensors are named '{t.Name}'; safetensors names must be unique.", nameof(tensors));
        }
        sorted.Sort(WriteOrder);

        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    ArgumentNullException.ThrowIfNull(value, nameof(metadata));
                    SafeTensor.CheckEncodable(key, "Metadata key", nameof(metadata));
                    SafeTensor.CheckEncodable(value, $"Metadata value of '{key}'", nameof(metadata));
                    writer.WriteString(key, value);
                }
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in sorted)
            {
                writer.WriteStartObject(t.Name);
                writer.WriteString("dtype", DTypeName(t.DType));
                writer.WriteStartArray("shape");
                foreach (long d in t.Shape)
                    writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + t.Data.Length);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += t.Data.Length;
            }
            writer.WriteEndObject();
        }

        // Pad with spaces (valid JSON whitespace) so that 8 + header length is a multiple of 8.
        long length = json.Length;
        long padded = (length + 7) / 8 * 8;
        if (padded > MaxHeaderBytes)
            throw new ArgumentException(
                $"The safetensors header would be {padded} bytes; readers (this one and the reference) accept at most {MaxHeaderBytes}. Keep large metadata in a separate file.",
                metadata is { Count: > 0 } ? nameof(metadata) : nameof(tensors));
        byte[] header = new byte[padded];
        json.GetBuffer().AsSpan(0, (int)length).CopyTo(header);
        header.AsSpan((int)length).Fill((byte)' ');
        return (header, sorted);
    }

    // The reference writer's order (prepare() in safetensors/src/tensor.rs): by descending dtype in its Dtype enum,
    // which lists the dtypes by increasing alignment, then by name. Element sizes are powers of two and larger ones
    // come first, so every tensor's data starts at a multiple of its element size (the buffer starts 8-byte aligned).
    private static int WriteOrder(SafeTensor a, SafeTensor b)
    {
        int byDType = ReferenceRank(b.DType).CompareTo(ReferenceRank(a.DType));
        return byDType != 0 ? byDType : CompareUtf8(a.Name, b.Name);
    }

    // Position in the reference's Dtype enum: BOOL, U8, I8, (F8_*), I16, (U16), F16, BF16, I32, (U32), F32, F64, I64.
    private static int ReferenceRank(TensorDType dtype) => dtype switch
    {
        TensorDType.Bool => 0,
        TensorDType.U8 => 1,
        TensorDType.I8 => 2,
        TensorDType.I16 => 3,
        TensorDType.F16 => 4,
        TensorDType.BF16 => 5,
        TensorDType.I32 => 6,
        TensorDType.F32 => 7,
        TensorDType.F64 => 8,
        TensorDType.I64 => 9,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    // Rust compares Strings by their UTF-8 bytes, which is code point order. Ordinal UTF-16 order differs only where a
    // surrogate (a code point above U+FFFF) meets a unit in U+E000..U+FFFF: move the surrogates above those.
    private static int CompareUtf8(string a, string b)
    {
        int length = Math.Min(a.Length, b.Length);
        for (int k = 0; k < length; k++)
        {
            if (a[k] != b[k])
                return CodePointRank(a[k]).CompareTo(CodePointRank(b[k]));
        }
        return a.Length.CompareTo(b.Length);

        static int CodePointRank(char c) => c < 0xD800 ? c : c < 0xE000 ? c + 0x2000 : c - 0x800;
    }

    private static void WriteBody(Stream stream, byte[] header, List<SafeTensor> sorted)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)header.Length);
        stream.Write(lengthBytes);
        stream.Write(header);
        foreach (var t in sorted)
            stream.Write(t.Data.Span);
    }
}
