using System.Text;

namespace NumLstm.IO;

/// <summary>A line the text readers cannot use: <see cref="Line"/> is its 1-based physical number.</summary>
internal sealed class TextLineException(int line, string detail, Exception? innerException = null)
    : Exception(detail, innerException)
{
    public int Line { get; } = line;

    /// <summary>The line holds more characters than the reader was asked to accept (rather than invalid UTF-8).</summary>
    public bool TooLong { get; init; }
}

/// <summary>
/// Reads UTF-8 text one physical line at a time (a line ends at "\n", "\r\n" or "\r"), for the CSV readers. A UTF-8
/// byte order mark is skipped; a UTF-16 or UTF-32 one is refused; invalid UTF-8 is an error naming the line it sits
/// on. No line may hold more than <c>maxLineLength</c> characters, so memory stays bounded by what a file really holds
/// even when it has no line breaks (a zero-filled tail, <c>/dev/zero</c>). Errors are
/// <see cref="TextLineException"/>s, which each reader turns into its own documented exception; I/O errors pass.
/// </summary>
internal sealed class Utf8LineReader
{
    private readonly Stream _stream;
    private readonly int _maxLineLength;
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetDecoder();
    private readonly byte[] _bytes = new byte[1 << 16];
    private readonly char[] _chars;
    private readonly StringBuilder _partial = new();
    private int _charPos, _charEnd;
    private bool _started, _ended, _skipLineFeed;
    private string _lastLineEnd = ""; // "\n", "\r" (perhaps the first half of "\r\n") or "" at the end of the text

    public Utf8LineReader(Stream stream, int maxLineLength)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 1);
        _stream = stream;
        _maxLineLength = maxLineLength;
        _chars = new char[Encoding.UTF8.GetMaxCharCount(_bytes.Length)];
    }

    /// <summary>
    /// The first control character other than tab in <paramref name="text"/>, or -1. Readers reject them in numbers:
    /// .NET's parsers ignore trailing NULs ("1\0" reads as 1), and a zero-filled tail is typical crash damage.
    /// </summary>
    public static int IndexOfControlCharacter(ReadOnlySpan<char> text)
    {
        for (int k = 0; k < text.Length; k++)
        {
            if (char.IsControl(text[k]) && text[k] != '\t')
                return k;
        }
        return -1;
    }

    /// <summary>
    /// The next line of a data file read by a dataset loader, whose documented error is <see cref="InvalidDataException"/>:
    /// a bad line (too long, not UTF-8) becomes one naming the path and the line.
    /// </summary>
    public string? ReadDataLine(string path)
    {
        try
        {
            return ReadLine();
        }
        catch (TextLineException e)
        {
            throw new InvalidDataException($"{path}: line {e.Line}: {e.Message}", e);
        }
    }

    /// <summary>The 1-based number of the line <see cref="ReadLine()"/> returned last (0 before the first).</summary>
    public int LineNumber { get; private set; }

    /// <summary>
    /// The line break that ended the line before the one <see cref="ReadLine()"/> returned last, as the text has it:
    /// "\n", "\r\n" or "\r" ("" for the first line). It is known only once the later line is read, because a '\r'
    /// may be the first half of "\r\n". The CSV reader keeps it inside a quoted cell that spans lines.
    /// </summary>
    public string PrecedingLineBreak { get; private set; } = "";

    /// <summary>The next line without its terminator, or null at the end of the text.</summary>
    public string? ReadLine() => ReadLine(_maxLineLength);

    /// <summary>
    /// The next line without its terminator, or null at the end of the text; a line of more than
    /// <paramref name="maxLength"/> characters (never more than the reader's own cap) is a
    /// <see cref="TextLineException"/> with <see cref="TextLineException.TooLong"/> set.
    /// </summary>
    public string? ReadLine(int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        maxLength = Math.Min(maxLength, _maxLineLength);
        _partial.Clear();
        bool started = false;
        string precedingBreak = _lastLineEnd;
        while (true)
        {
            if (_charPos == _charEnd && !Fill())
            {
                if (!started)
                    return null;
                LineNumber++;
                PrecedingLineBreak = precedingBreak;
                _lastLineEnd = "";
                return _partial.ToString();
            }
            if (_skipLineFeed)
            {
                // The '\r' that ended the previous line may be the first half of "\r\n".
                _skipLineFeed = false;
                if (_chars[_charPos] == '\n')
                {
                    precedingBreak = "\r\n";
                    _charPos++;
                    continue;
                }
            }
            started = true;
            ReadOnlySpan<char> available = _chars.AsSpan(_charPos, _charEnd - _charPos);
            int stop = available.IndexOfAny('\r', '\n');
            int take = stop < 0 ? available.Length : stop;
            if (_partial.Length + take > maxLength)
                throw new TextLineException(LineNumber + 1, $"expected at most {maxLength} characters on a line, found more.") { TooLong = true };
            if (stop < 0)
            {
                _partial.Append(available);
                _charPos = _charEnd;
                continue;
            }
            string line = _partial.Length == 0 ? new string(available[..stop]) : _partial.Append(available[..stop]).ToString();
            _skipLineFeed = available[stop] == '\r';
            _lastLineEnd = _skipLineFeed ? "\r" : "\n";
            _charPos += stop + 1;
            LineNumber++;
            PrecedingLineBreak = precedingBreak;
            return line;
        }
    }

    // Decodes the next block of bytes; false at the end of the stream.
    private bool Fill()
    {
        while (!_ended)
        {
            int count;
            int start = 0;
            if (!_started)
            {
                _started = true;
                count = _stream.ReadAtLeast(_bytes, 4, throwOnEndOfStream: false);
                start = ByteOrderMark(_bytes.AsSpan(0, count));
            }
            else
            {
                count = _stream.Read(_bytes);
            }
            _ended = count == 0;
            ReadOnlySpan<byte> block = _bytes.AsSpan(start, count - start);
            try
            {
                _charEnd = _decoder.GetChars(block, _chars, flush: _ended);
            }
            catch (DecoderFallbackException e)
            {
                throw new TextLineException(LineOf(block, e.Index),
                    $"expected UTF-8 text, found invalid bytes [{Convert.ToHexString(e.BytesUnknown ?? [])}].", e);
            }
            _charPos = 0;
            if (_charEnd > 0)
                return true;
        }
        return false;
    }

    // The line holding byte `index` of a block about to be decoded: every earlier line has been returned, and the
    // line breaks are ASCII bytes, which never occur inside a multi-byte UTF-8 sequence.
    private int LineOf(ReadOnlySpan<byte> block, int index)
    {
        int line = LineNumber + 1;
        bool afterCarriageReturn = _skipLineFeed;
        for (int k = 0; k < index && k < block.Length; k++)
        {
            if (block[k] == '\r' || (block[k] == '\n' && !afterCarriageReturn))
                line++;
            afterCarriageReturn = block[k] == '\r';
        }
        return line;
    }

    // Bytes to skip at the start: 3 for a UTF-8 byte order mark; other Unicode marks are refused by name.
    private static int ByteOrderMark(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            return 3;
        string? other =
            head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE, 0x00, 0x00]) ? "UTF-32 little-endian" :
            head.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0xFE, 0xFF]) ? "UTF-32 big-endian" :
            head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) ? "UTF-16 little-endian" :
            head.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]) ? "UTF-16 big-endian" : null;
        if (other is not null)
            throw new TextLineException(1, $"expected UTF-8 text, found a {other} byte order mark (save the file as UTF-8).");
        return 0;
    }
}
