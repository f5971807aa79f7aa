using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace NumLstm.IO;

/// <summary>An array read from a .npy file: dtype, C-order shape and raw element bytes.</summary>
public sealed class NpyArray
{
    private readonly int[] _shape;
    private readonly byte[] _data;

    internal NpyArray(TensorDType dtype, bool littleEndian, int[] shape, long elementCount, byte[] data, string? sourcePath)
    {
        DType = dtype;
        IsLittleEndian = littleEndian;
        _shape = shape;
        ElementCount = elementCount;
        _data = data;
        SourcePath = sourcePath;
    }

    public TensorDType DType { get; }

    /// <summary>Byte order of the elements as stored in the file (single-byte dtypes report true).</summary>
    public bool IsLittleEndian { get; }

    /// <summary>Dimensions in C order (a copy); empty for a 0-d array, which holds one element.</summary>
    public int[] Shape => (int[])_shape.Clone();

    public long ElementCount { get; }
    public string? SourcePath { get; }

    /// <summary>The raw element bytes in the file's byte order.</summary>
    public ReadOnlySpan<byte> RawBytes => _data;

    /// <summary>
    /// The elements converted to <typeparamref name="T"/>: float targets take any dtype; integer targets take integer
    /// and bool dtypes (range-checked). Failures are <see cref="NumLstmFormatException"/>.
    /// </summary>
    public T[] ToArray<T>() where T : unmanaged, INumberBase<T> =>
        ElementConverter.ToArray<T>(_data, DType, IsLittleEndian, SourcePath, "data");

    public override string ToString() => $"{DType} ({string.Join(", ", _shape)})";
}

/// <summary>
/// Reads NumPy .npy files, format versions 1.0, 2.0 and 3.0, of simple dtypes in C or Fortran order (returned in C
/// order); writes version 1.0 byte for byte as np.save does, the data starting at a multiple of 64 bytes.
/// </summary>
public static class NpyFile
{
    /// <summary>Largest header accepted (a simple-dtype header is well under 1 KB; NumPy itself stops at 10,000).</summary>
    public const int MaxHeaderBytes = 65_536;

    /// <summary>Most dimensions accepted (NumPy 2 allows 64).</summary>
    public const int MaxRank = 64;

    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    private const string SupportedDescrs = "'<f2', '<f4', '<f8', '|i1', '<i2', '<i4', '<i8', '|u1', '|b1' (or '>' byte order)";

    // ---------------------------------------------------------------- reading

    public static NpyArray Read(string path)
    {
        using var stream = FileReading.OpenSeekable(path);
        return Read(stream, path);
    }

    /// <summary>Reads a .npy array from the current position to the end of a seekable stream.</summary>
    /// <param name="stream">A readable, seekable stream.</param>
    /// <param name="sourceName">Names the stream in error messages.</param>
    public static NpyArray Read(Stream stream, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string? file = sourceName;
        long fileLength = FileReading.Length(stream, file);
        if (fileLength < 10)
            throw new NumLstmFormatException(file, "magic", $"expected at least 10 bytes (magic, version, header length), found {fileLength}.");

        byte[] prefix = FileReading.ReadExactly(stream, 8, file, "magic");
        if (!prefix.AsSpan(0, 6).SequenceEqual(Magic))
            throw new NumLstmFormatException(file, "magic", $"expected \\x93NUMPY, found {Convert.ToHexString(prefix, 0, 6)}.");
        byte major = prefix[6], minor = prefix[7];
        if (major is < 1 or > 3 || minor != 0)
            throw new NumLstmFormatException(file, "version", $"expected 1.0, 2.0 or 3.0, found {major}.{minor}.");

        int lengthSize = major == 1 ? 2 : 4;
        byte[] lengthBytes = FileReading.ReadExactly(stream, Math.Min(lengthSize, fileLength - 8), file, "header length");
        if (lengthBytes.Length < lengthSize)
            throw new NumLstmFormatException(file, "header length", $"expected {lengthSize} bytes, found {lengthBytes.Length}: the file is truncated.");
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes) : BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        long headerStart = 8 + lengthSize;
        if (headerLength > MaxHeaderBytes)
            throw new NumLstmFormatException(file, "header length", $"expected at most {MaxHeaderBytes} bytes, found {headerLength}.");
        if (headerLength > fileLength - headerStart)
            throw new NumLstmFormatException(file, "header length", $"expected at most {fileLength - headerStart} bytes (file size {fileLength} minus {headerStart}), found {headerLength}.");

        byte[] headerBytes = FileReading.ReadExactly(stream, headerLength, file, "header");
        string header;
        if (major == 3)
        {
            try
            {
                header = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(headerBytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new NumLstmFormatException(file, "header", "expected UTF-8 text (version 3.0), found invalid UTF-8.", e);
            }
        }
        else
        {
            header = Encoding.Latin1.GetString(headerBytes);
        }

        var (descr, fortranOrder, shape) = HeaderParser.Parse(header, file);
        var (dtype, littleEndian) = ParseDescr(descr, file);

        long count = TensorDTypes.ElementCount(Array.ConvertAll(shape, d => (long)d))
            ?? throw new NumLstmFormatException(file, "shape", $"expected an element count that fits 64 bits, found the product of ({string.Join(", ", shape)}) overflows.");
        int size = TensorDTypes.SizeOf(dtype);
        long dataLength = fileLength - headerStart - headerLength;
        if (count > dataLength / size)
            throw new NumLstmFormatException(file, "data", $"expected {count} elements of {descr} for shape ({string.Join(", ", shape)}), found only {dataLength} bytes of data.");
        if (count * size != dataLength)
            throw new NumLstmFormatException(file, "data", $"expected {count * size} bytes of data for shape ({string.Join(", ", shape)}) of {descr}, found {dataLength} (trailing bytes).");

        byte[] data = FileReading.ReadExactly(stream, dataLength, file, "data");
        if (fortranOrder)
            data = FortranToCOrder(data, shape, size);
        return new NpyArray(dtype, littleEndian || size == 1, shape, count, data, file);
    }

    // np.save writes an F-contiguous array (a transpose, np.asfortranarray) as its memory with fortran_order True:
    // element (j0, .., jn-1) at j0 + d0·(j1 + d1·(j2 + ...)), the first index fastest. Walk that order with an
    // odometer and put each element at its C-order place, the last index fastest.
    private static byte[] FortranToCOrder(byte[] fortran, int[] shape, int size)
    {
        if (shape.Length < 2 || fortran.Length == 0)
            return fortran;
        int rank = shape.Length;
        var cStrides = new long[rank];
        long stride = size;
        for (int k = rank - 1; k >= 0; k--)
        {
            cStrides[k] = stride;
            stride *= shape[k];
        }

        var c = new byte[fortran.Length];
        var index = new int[rank];
        long target = 0;
        for (long source = 0; source < fortran.Length; source += size)
        {
            fortran.AsSpan((int)source, size).CopyTo(c.AsSpan((int)target, size));
            for (int k = 0; k < rank; k++)
            {
                target += cStrides[k];
                if (++index[k] < shape[k])
                    break;
                target -= cStrides[k] * shape[k];
                index[k] = 0;
            }
        }
        return c;
    }

    private static (TensorDType DType, bool LittleEndian) ParseDescr(string descr, string? file)
    {
        if (descr.Length is < 3 or > 4)
            throw new NumLstmFormatException(file, "descr", $"expected one of {SupportedDescrs}, found '{descr}'.");
        char order = descr[0];
        string kind = descr[1..];
        TensorDType? dtype = kind switch
        {
            "f2" => TensorDType.F16,
            "f4" => TensorDType.F32,
            "f8" => TensorDType.F64,
            "i1" => TensorDType.I8,
            "i2" => TensorDType.I16,
            "i4" => TensorDType.I32,
            "i8" => TensorDType.I64,
            "u1" => TensorDType.U8,
            "b1" => TensorDType.Bool,
            _ => null,
        };
        bool? littleEndian = order switch
        {
            '<' => true,
            '>' => false,
            '=' => BitConverter.IsLittleEndian,
            '|' => true,
            _ => null,
        };
        if (dtype is null || littleEndian is null || (order == '|' && TensorDTypes.SizeOf(dtype.Value) != 1))
            throw new NumLstmFormatException(file, "descr", $"expected one of {SupportedDescrs}, found '{descr}'.");
        return (dtype.Value, littleEndian.Value);
    }

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Writes a C-order array atomically (see <see cref="AtomicFile"/>), little-endian. <typeparamref name="T"/> is
    /// float or double (also Half, long, int, short, sbyte, byte or bool). An empty shape writes a 0-d array of one value.
    /// </summary>
    public static void Write<T>(string path, ReadOnlySpan<T> data, int[] shape) where T : unmanaged
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = Encode(data, shape);
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>Writes a .npy array to a stream (not atomic).</summary>
    public static void Write<T>(Stream stream, ReadOnlySpan<T> data, int[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(Encode(data, shape));
    }

    private static byte[] Encode<T>(ReadOnlySpan<T> data, int[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        string descr = TensorDTypes.Of<T>() switch
        {
            TensorDType.F32 => "<f4",
            TensorDType.F64 => "<f8",
            TensorDType.F16 => "<f2",
            TensorDType.I64 => "<i8",
            TensorDType.I32 => "<i4",
            TensorDType.I16 => "<i2",
            TensorDType.I8 => "|i1",
            TensorDType.U8 => "|u1",
            TensorDType.Bool => "|b1",
            _ => throw new ArgumentException($"Element type {typeof(T).Name} has no .npy dtype here; expected float, double, Half, long, int, short, sbyte, byte or bool.", nameof(data)),
        };
        // Refuse what the reader (and NumPy 2, whose NPY_MAXDIMS is 64; NumPy 1 stops at 32) would refuse.
        if (shape.Length > MaxRank)
            throw new ArgumentException($"Shape has {shape.Length} dimensions; expected at most {MaxRank}, as NumPy 2 and NpyFile.Read allow.", nameof(shape));
        foreach (int d in shape)
            if (d < 0)
                throw new ArgumentException($"Shape ({string.Join(", ", shape)}) has a negative dimension.", nameof(shape));
        long count = TensorDTypes.ElementCount(Array.ConvertAll(shape, d => (long)d))
            ?? throw new ArgumentException($"Shape ({string.Join(", ", shape)}) holds more than 2^63 elements, but data has {data.Length}.", nameof(shape));
        if (count != data.Length)
            throw new ArgumentException($"Shape ({string.Join(", ", shape)}) holds {count} elements, but data has {data.Length}.", nameof(data));

        string shapeText = shape.Length switch
        {
            0 => "()",
            1 => $"({shape[0]},)",
            _ => "(" + string.Join(", ", shape) + ")",
        };
        // As np.save writes it (_write_array_header and _wrap_header in numpy/lib/_format_impl.py): the dict, then
        // 21 (GROWTH_AXIS_MAX_DIGITS) minus the digits of shape[0] spaces so the first dimension can grow in place,
        // then 64 - (10 + length + 1) % 64 spaces (a whole 64 when already aligned) and '\n': the data starts at a
        // multiple of 64. Version 1.0 keeps the header length in 2 bytes; with at most 64 dimensions of up to 10
        // digits the header is under 1 KB, so the 2.0 format NumPy uses for longer headers is never needed.
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeText}, }}";
        if (shape.Length > 0)
            dict += new string(' ', 21 - shape[0].ToString(CultureInfo.InvariantCulture).Length);
        const int prefixLength = 10;
        int padding = 64 - (prefixLength + dict.Length + 1) % 64;
        int headerLength = dict.Length + padding + 1;
        int total = prefixLength + headerLength;
        string header = dict + new string(' ', padding) + "\n";

        byte[] payload = ElementConverter.ToLittleEndianBytes(data);
        byte[] bytes = new byte[total + payload.Length];
        Magic.CopyTo(bytes);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), checked((ushort)headerLength));
        Encoding.Latin1.GetBytes(header, bytes.AsSpan(prefixLength));
        payload.CopyTo(bytes, total);
        return bytes;
    }

    /// <summary>
    /// Parses the header, a Python dict literal such as
    /// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (2, 3), }</c>, followed by spaces and '\n'.
    /// Accepts exactly the three keys in any order, strings in single or double quotes without escapes,
    /// True/False, and tuples of non-negative integers (an 'L' suffix from Python 2 is accepted).
    /// </summary>
    private ref struct HeaderParser
    {
        private readonly string _text;
        private readonly string? _file;
        private int _pos;

        private HeaderParser(string text, string? file)
        {
            _text = text;
            _file = file;
            _pos = 0;
        }

        public static (string Descr, bool FortranOrder, int[] Shape) Parse(string text, string? file)
        {
            var p = new HeaderParser(text, file);
            string? descr = null;
            bool? fortran = null;
            int[]? shape = null;

            p.Expect('{');
            while (true)
            {
                p.SkipSpace();
                if (p.TryTake('}'))
                    break;
                string key = p.ReadString("key");
                p.Expect(':');
                switch (key)
                {
                    case "descr" when descr is null:
                        p.SkipSpace();
                        if (p.Peek() is not ('\'' or '"'))
                            throw p.Error("descr", "a dtype string such as '<f4' (structured dtypes are not supported)");
                        descr = p.ReadString("descr");
                        break;
                    case "fortran_order" when fortran is null:
                        fortran = p.ReadBool("fortran_order");
                        break;
                    case "shape" when shape is null:
                        shape = p.ReadShape();
                        break;
                    case "descr" or "fortran_order" or "shape":
                        throw new NumLstmFormatException(file, key, "expected once in the header, found twice.");
                    default:
                        throw new NumLstmFormatException(file, "header", $"expected only the keys 'descr', 'fortran_order' and 'shape', found '{key}'.");
                }
                p.SkipSpace();
                if (p.TryTake('}'))
                    break;
                p.Expect(',');
            }
            p.SkipSpace();
            if (p._pos != p._text.Length)
                throw p.Error("header", "only spaces and a newline after the dict");
            if (descr is null)
                throw new NumLstmFormatException(file, "descr", "expected the key 'descr' in the header, found none.");
            if (fortran is null)
                throw new NumLstmFormatException(file, "fortran_order", "expected the key 'fortran_order' in the header, found none.");
            if (shape is null)
                throw new NumLstmFormatException(file, "shape", "expected the key 'shape' in the header, found none.");
            return (descr, fortran.Value, shape);
        }

        private readonly char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

        private void SkipSpace()
        {
            while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\n' or '\r')
                _pos++;
        }

        private bool TryTake(char c)
        {
            SkipSpace();
            if (Peek() != c || _pos >= _text.Length)
                return false;
            _pos++;
            return true;
        }

        private void Expect(char c, string field = "header")
        {
            if (!TryTake(c))
                throw Error(field, $"'{c}'");
        }

        private string ReadString(string field)
        {
            SkipSpace();
            char quote = Peek();
            if (quote is not ('\'' or '"'))
                throw Error(field, "a quoted string");
            int start = ++_pos;
            while (_pos < _text.Length && _text[_pos] != quote)
            {
                if (_text[_pos] == '\\')
                    throw Error(field, "a string without escapes");
                _pos++;
            }
            if (_pos >= _text.Length)
                throw new NumLstmFormatException(_file, field, "expected a closing quote, found the end of the header.");
            return _text[start.._pos++];
        }

        private bool ReadBool(string field)
        {
            SkipSpace();
            if (Matches("True")) return true;
            if (Matches("False")) return false;
            throw Error(field, "True or False");
        }

        private bool Matches(string word)
        {
            if (string.CompareOrdinal(_text, _pos, word, 0, word.Length) != 0)
                return false;
            _pos += word.Length;
            return true;
        }

        private int[] ReadShape()
        {
            Expect('(', "shape");
            var dims = new List<int>();
            while (true)
            {
                SkipSpace();
                if (TryTake(')'))
                    break;
                dims.Add(ReadDimension());
                if (dims.Count > MaxRank)
                    throw new NumLstmFormatException(_file, "shape", $"expected at most {MaxRank} dimensions, found more.");
                SkipSpace();
                if (TryTake(')'))
                {
                    // Python writes a 1-tuple as (n,); (n) is just n, not a tuple.
                    if (dims.Count == 1)
                        throw new NumLstmFormatException(_file, "shape", $"expected a tuple, found ({dims[0]}) without the trailing comma.");
                    break;
                }
                Expect(',', "shape");
            }
            return dims.ToArray();
        }

        private int ReadDimension()
        {
            int start = _pos;
            while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
                _pos++;
            if (_pos == start)
                throw Error("shape", "a non-negative integer dimension");
            string digits = _text[start.._pos];
            // NumPy writes repr(int), and ast.literal_eval refuses a leading zero ("0002" is a SyntaxError; "00" is 0).
            if (digits.Length > 1 && digits[0] == '0' && digits.AsSpan().ContainsAnyExcept('0'))
                throw new NumLstmFormatException(_file, "shape", $"expected a dimension without leading zeros (as Python writes and reads it), found {Truncate(digits)}.");
            if (Peek() == 'L')
                _pos++;
            if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int dim))
                throw new NumLstmFormatException(_file, "shape", $"expected dimensions up to {int.MaxValue}, found {Truncate(digits)}.");
            return dim;
        }

        private readonly NumLstmFormatException Error(string field, string expected)
        {
            string found = _pos >= _text.Length ? "the end of the header" : $"'{Truncate(_text[_pos..])}' at offset {_pos}";
            return new NumLstmFormatException(_file, field, $"expected {expected}, found {found}.");
        }

        private static string Truncate(string text) => text.Length <= 24 ? text : text[..24] + "...";
    }
}
