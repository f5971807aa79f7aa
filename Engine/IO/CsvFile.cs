using System.Globalization;
using System.Text;

namespace NumLstm.IO;

/// <summary>What to do with an empty (or all-space) cell.</summary>
public enum CsvEmptyCells
{
    /// <summary>An empty cell is an error naming its line and column.</summary>
    Error,

    /// <summary>An empty cell reads as NaN (a missing value).</summary>
    NaN,
}

/// <summary>Options of <see cref="CsvFile.ReadColumns(string, bool, CsvReadOptions?)"/>.</summary>
public sealed record CsvReadOptions
{
    /// <summary>The cell separator; ',' by default. Must not be a character a number or the CSV syntax uses: a digit,
    /// '.', '-', '+', 'e', 'E', '"', '\r', '\n' or '\0'.</summary>
    public char Delimiter { get; init; } = ',';

    public CsvEmptyCells EmptyCells { get; init; } = CsvEmptyCells.Error;

    /// <summary>The default of <see cref="MaxLineLength"/>: 4,194,304 characters (4 MiB of ASCII).</summary>
    public const int DefaultMaxLineLength = 1 << 22;

    /// <summary>
    /// The most characters one line, or one record whose quoted cells span lines, may hold (the line break that ends
    /// it not counted; the line breaks inside its quotes counted as they are in the file, "\r\n" as two). A longer line
    /// is an error naming it, a longer record one naming its first line. It bounds the memory a file without line
    /// breaks (a zero-filled tail, <c>/dev/zero</c>), or with a quote that never closes, can take.
    /// </summary>
    public int MaxLineLength { get; init; } = DefaultMaxLineLength;

    /// <summary>The default of <see cref="MaxColumns"/>: 65,536 columns.</summary>
    public const int DefaultMaxColumns = 1 << 16;

    /// <summary>
    /// The most cells a record may hold. Each column costs some 200 bytes of names, lists and arrays beyond its numbers,
    /// so a line of millions of one-character cells (within <see cref="MaxLineLength"/>) would take some 200 times the
    /// file's size; a record with more cells is an error naming the count and the cap, raised while it is split.
    /// </summary>
    public int MaxColumns { get; init; } = DefaultMaxColumns;

    public static CsvReadOptions Default { get; } = new();
}

/// <summary>Named float64 columns read from a CSV file, in file order.</summary>
public sealed class CsvTable
{
    private readonly Dictionary<string, double[]> _byName;

    internal CsvTable(string[] names, double[][] columns, string? sourcePath)
    {
        ColumnNames = names;
        Columns = columns;
        SourcePath = sourcePath;
        _byName = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (int k = 0; k < names.Length; k++)
            _byName.Add(names[k], columns[k]);
    }

    public IReadOnlyList<string> ColumnNames { get; }

    /// <summary>The columns in file order, each <see cref="RowCount"/> long.</summary>
    public IReadOnlyList<double[]> Columns { get; }

    public int RowCount => Columns.Count == 0 ? 0 : Columns[0].Length;
    public string? SourcePath { get; }

    /// <summary>The column with this name, or a <see cref="NumLstmFormatException"/> listing the names present.</summary>
    public double[] this[string name] =>
        _byName.TryGetValue(name, out var column)
            ? column
            : throw new NumLstmFormatException(SourcePath, $"column '{name}'", $"expected a column of that name, found only [{string.Join(", ", ColumnNames)}].");
}

/// <summary>
/// Reads numeric CSV (RFC 4180): one record per line, cells separated by the delimiter, optionally in double quotes
/// (with "" for a quote inside), numbers in the invariant culture ('.' decimal point, exponents; NaN, Infinity and inf
/// in any case, with an optional sign, as Python's float() reads them). A quoted cell may hold line breaks: while a
/// quote is open the record goes on over the next physical lines, and each line break stays in the cell as the file
/// has it ("\r\n", "\n" or "\r", as Python's csv module keeps them with newline=''), blank lines included. So a header
/// name may hold a line break (a column is addressed by that exact name; breaks at either end are trimmed like other
/// white space), while a numeric cell holding one is an error. After a closing quote only spaces or tabs, then a
/// delimiter or the end of the line, may follow: a line break there ends the record. A control character other than
/// tab in a numeric cell is an error (.NET would ignore trailing NULs). Blank lines between records are skipped; every
/// other record must have as many cells as the first. Encoding is UTF-8 (a UTF-8 BOM is skipped, a UTF-16 or UTF-32
/// one refused); a line, or a record whose quoted cells span lines, may hold at most
/// <see cref="CsvReadOptions.MaxLineLength"/> characters. Errors name the 1-based physical line of a record
/// ("line 7"), or its first line when it spans lines ("record starting at line 7"), and the 1-based column.
/// </summary>
public static class CsvFile
{
    /// <param name="path">The file.</param>
    /// <param name="hasHeader">The first record names the columns; otherwise they are named column0, column1, ...</param>
    /// <param name="options">Delimiter and empty-cell policy.</param>
    public static CsvTable ReadColumns(string path, bool hasHeader, CsvReadOptions? options = null)
    {
        using var stream = FileReading.Open(path);
        return ReadColumns(stream, hasHeader, options, path);
    }

    /// <summary>Reads CSV from a stream (UTF-8); <paramref name="sourceName"/> names it in error messages.</summary>
    public static CsvTable ReadColumns(Stream stream, bool hasHeader, CsvReadOptions? options = null, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
            throw new ArgumentException("The stream must be readable (it is write-only or disposed).", nameof(stream));
        options ??= CsvReadOptions.Default;
        if (char.IsAsciiDigit(options.Delimiter) || options.Delimiter is '.' or '-' or '+' or 'e' or 'E' or '"' or '\r' or '\n' or '\0')
            throw new ArgumentException($"Delimiter: expected a delimiter that cannot be part of a number or of the CSV syntax (such as ',', ';', tab, '|' or space), found U+{(int)options.Delimiter:X4}" +
                $"{(char.IsControl(options.Delimiter) ? "" : $" '{options.Delimiter}'")} (a digit, '.', '-', '+', 'e', 'E', a quote, a line break or NUL makes numeric CSV ambiguous).", nameof(options));
        if (options.MaxLineLength < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxLineLength, "MaxLineLength must be at least 1.");
        if (options.MaxColumns < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxColumns, "MaxColumns must be at least 1.");
        if (!Enum.IsDefined(options.EmptyCells))
            throw new ArgumentOutOfRangeException(nameof(options), options.EmptyCells, $"EmptyCells must be one of {string.Join(", ", Enum.GetNames<CsvEmptyCells>())}.");
        string? file = sourceName;

        var reader = new Utf8LineReader(stream, options.MaxLineLength);
        string[]? names = null;
        List<double>[]? columns = null;
        var cells = new List<string>();
        try
        {
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                if (string.IsNullOrWhiteSpace(line))
                    continue;
                RecordPosition at = SplitRecord(reader, line, options.Delimiter, options.MaxLineLength, options.MaxColumns, cells, file);

                if (names is null)
                {
                    names = hasHeader ? HeaderNames(cells, file, at) : DefaultNames(cells.Count);
                    columns = new List<double>[names.Length];
                    for (int k = 0; k < columns.Length; k++)
                        columns[k] = new List<double>();
                    if (hasHeader)
                        continue;
                }

                if (cells.Count != names.Length)
                    throw new NumLstmFormatException(file, at.ToString(), $"expected {names.Length} cells, found {cells.Count}.");
                for (int k = 0; k < cells.Count; k++)
                    columns![k].Add(ParseCell(cells[k], options.EmptyCells, file, at, k, names[k]));
            }
        }
        catch (TextLineException e)
        {
            throw new NumLstmFormatException(file, $"line {e.Line}", e.Message, e);
        }
        catch (IOException e)
        {
            throw new NumLstmFormatException(file, "file", $"cannot be read: {e.Message}", e);
        }

        if (names is null)
            throw new NumLstmFormatException(file, hasHeader ? "header" : "line 1", $"expected {(hasHeader ? "a header line" : "at least one record")}, found an empty file.");
        return new CsvTable(names, Array.ConvertAll(columns!, c => c.ToArray()), file);
    }

    // Where a record sits, for messages: "line 7", or "record starting at line 7" once its quoted cells span lines.
    private readonly record struct RecordPosition(int FirstLine, bool SpansLines)
    {
        public override string ToString() => SpansLines ? $"record starting at line {FirstLine}" : $"line {FirstLine}";
    }

    // Splits one record into cells. It starts with `line`, the reader's last, and goes on over the next physical lines
    // while a quoted cell is open at the end of one; quoted cells may hold the delimiter, "" for a quote, and line breaks.
    private static RecordPosition SplitRecord(Utf8LineReader reader, string line, char delimiter, int maxLength, int maxColumns, List<string> cells, string? file)
    {
        cells.Clear();
        var at = new RecordPosition(reader.LineNumber, SpansLines: false);
        int length = line.Length; // the record's characters so far, the line breaks inside its quotes included
        int pos = 0;
        while (true)
        {
            int start = pos;
            while (pos < line.Length && line[pos] is ' ' or '\t' && line[pos] != delimiter)
                pos++;
            if (pos < line.Length && line[pos] == '"')
            {
                var cell = new StringBuilder();
                int quoteLine = reader.LineNumber;
                pos++;
                while (true)
                {
                    if (pos >= line.Length)
                    {
                        line = NextLineInQuotes(reader, at, quoteLine, cells.Count + 1, maxLength, ref length, cell, file);
                        at = at with { SpansLines = true };
                        pos = 0;
                        continue;
                    }
                    if (line[pos] == '"')
                    {
                        // A quote last on its line closes the cell: "" cannot straddle a line break.
                        if (pos + 1 < line.Length && line[pos + 1] == '"')
                        {
                            cell.Append('"');
                            pos += 2;
                            continue;
                        }
                        pos++;
                        break;
                    }
                    cell.Append(line[pos++]);
                }
                while (pos < line.Length && line[pos] is ' ' or '\t' && line[pos] != delimiter)
                    pos++;
                if (pos < line.Length && line[pos] != delimiter)
                    throw new NumLstmFormatException(file, $"{at}, column {cells.Count + 1}", $"expected a delimiter after the closing quote, found '{line[pos]}'.");
                cells.Add(cell.ToString());
            }
            else
            {
                pos = start;
                int end = line.IndexOf(delimiter, pos);
                if (end < 0)
                    end = line.Length;
                string cell = line[pos..end];
                if (cell.Contains('"'))
                    throw new NumLstmFormatException(file, $"{at}, column {cells.Count + 1}", $"expected a cell that is quoted whole or not at all, found {Show(cell)}.");
                cells.Add(cell.Trim(' ', '\t')); // other control characters stay, so that ParseCell can reject them
                pos = end;
            }
            if (pos >= line.Length)
                return at;
            if (cells.Count == maxColumns)
            {
                // Refused before the cells pile up; the count is finished on this line without keeping the cells.
                int found = cells.Count + 1 + line.AsSpan(pos + 1).Count(delimiter);
                throw new NumLstmFormatException(file, at.ToString(), $"expected at most {maxColumns} columns (MaxColumns), found {found}{(at.SpansLines ? " or more" : "")}.");
            }
            pos++; // the delimiter
        }
    }

    // The next physical line of a record whose quoted cell (`column`, opened on `quoteLine`) is still open at the end of
    // a line. The line break goes into the cell as the file has it; the record's characters, that break included, may
    // not pass maxLength, and the reader is asked for no more than what is left, so memory stays bounded by it.
    private static string NextLineInQuotes(Utf8LineReader reader, RecordPosition at, int quoteLine, int column, int maxLength,
        ref int length, StringBuilder cell, string? file)
    {
        string? next;
        try
        {
            // At least one character goes to the line break; a "\r\n" is counted once the reader has seen it.
            next = reader.ReadLine(Math.Max(maxLength - length - 1, 0));
        }
        catch (TextLineException e) when (e.TooLong)
        {
            throw RecordTooLong(file, at.FirstLine, maxLength, e);
        }
        if (next is null)
        {
            throw quoteLine == at.FirstLine
                ? new NumLstmFormatException(file, $"line {quoteLine}, column {column}", "expected a closing quote, found the end of the file.")
                : new NumLstmFormatException(file, $"record starting at line {at.FirstLine}, column {column}",
                    $"expected a closing quote for the quote opened on line {quoteLine}, found the end of the file.");
        }
        string lineBreak = reader.PrecedingLineBreak;
        length += lineBreak.Length + next.Length;
        if (length > maxLength)
            throw RecordTooLong(file, at.FirstLine, maxLength, null);
        cell.Append(lineBreak);
        return next;
    }

    private static NumLstmFormatException RecordTooLong(string? file, int firstLine, int maxLength, Exception? inner) =>
        new(file, $"record starting at line {firstLine}",
            $"expected at most {maxLength} characters in a record whose quoted cells span lines (MaxLineLength), found more.", inner);

    private static string[] HeaderNames(List<string> cells, string? file, RecordPosition at)
    {
        var names = new string[cells.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int k = 0; k < names.Length; k++)
        {
            names[k] = cells[k].Trim();
            if (names[k].Length == 0)
                names[k] = $"column{k}";
            if (!seen.Add(names[k]))
                throw new NumLstmFormatException(file, $"{at}, column {k + 1}", $"expected unique column names, found '{names[k]}' twice.");
        }
        return names;
    }

    private static string[] DefaultNames(int count)
    {
        var names = new string[count];
        for (int k = 0; k < count; k++)
            names[k] = $"column{k}";
        return names;
    }

    private static double ParseCell(string cell, CsvEmptyCells emptyCells, string? file, RecordPosition at, int column, string name)
    {
        int control = Utf8LineReader.IndexOfControlCharacter(cell);
        if (control >= 0 && cell[control] is '\r' or '\n')
            throw new NumLstmFormatException(file, $"{at}, column {column + 1} '{name}'",
                $"expected a number, found a line break inside the quoted cell at position {control + 1}.");
        if (control >= 0)
            throw new NumLstmFormatException(file, $"{at}, column {column + 1} '{name}'",
                $"expected a number, found the control character U+{(int)cell[control]:X4} at position {control + 1} of the cell (a zero byte is typical of a damaged file).");
        string text = cell.Trim();
        if (text.Length == 0)
        {
            if (emptyCells == CsvEmptyCells.NaN)
                return double.NaN;
            throw new NumLstmFormatException(file, $"{at}, column {column + 1} '{name}'", "expected a number, found an empty cell (use CsvEmptyCells.NaN to read it as missing).");
        }
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            return value;
        // Python's float() and NumPy write and read "inf"; .NET knows only "Infinity" (in any case).
        ReadOnlySpan<char> unsigned = text.AsSpan(text[0] is '+' or '-' ? 1 : 0);
        if (unsigned.Equals("inf", StringComparison.OrdinalIgnoreCase))
            return text[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
        throw new NumLstmFormatException(file, $"{at}, column {column + 1} '{name}'", $"expected a number (invariant culture, e.g. -1.5e3), found {Show(text)}.");
    }

    private static string Show(string text) => text.Length <= 40 ? $"'{text}'" : $"'{text[..40]}...'";
}
