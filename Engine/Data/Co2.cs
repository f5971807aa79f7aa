using System.Globalization;
using NumLstm.IO;

namespace NumLstm.Data;

/// <summary>
/// Weekly atmospheric CO2 at Mauna Loa, 1958-03-29 to 2001-12-29 (2284 weeks, Keeling and Whorf; public domain per
/// statsmodels' metadata). Not shipped: loaded from a path. Slice it with <see cref="Windows"/>.
/// </summary>
public static class Co2
{
    /// <summary>The column read by <see cref="Load"/>: the published weekly means with the 59 missing weeks linearly interpolated.</summary>
    public const string Column = "co2_ppmv_filled";

    /// <summary>
    /// Reads the <c>co2_ppmv_filled</c> column (ppmv, one value per week, in file order) of
    /// <c>co2_weekly_mauna_loa.csv</c>. Numbers are parsed with the invariant culture; an empty or non-numeric cell
    /// throws <see cref="InvalidDataException"/> naming the line, and so does a value that is not a positive
    /// concentration: NOAA's weekly files write -999.99 (older ones -99.99) for a week without data, and read as a number
    /// that became a level of -999.99 ppmv.
    /// </summary>
    public static float[] Load(string csvPath) => LoadColumn(csvPath, Column, positive: true);

    /// <summary>
    /// Reads one numeric column of a plain comma-separated UTF-8 file with a header row (no quoted fields: one record per
    /// line, and a quote is part of its cell, so a quoted number is an error; <see cref="CsvFile"/> reads RFC 4180 quoting,
    /// cells that span lines included. Lines of at most <see cref="CsvReadOptions.DefaultMaxLineLength"/> characters; a
    /// control character in the cell is an error).
    /// </summary>
    public static float[] LoadColumn(string csvPath, string column) => LoadColumn(csvPath, column, positive: false);

    private static float[] LoadColumn(string csvPath, string column, bool positive)
    {
        ArgumentException.ThrowIfNullOrEmpty(csvPath);
        ArgumentException.ThrowIfNullOrEmpty(column);
        if (!File.Exists(csvPath) && !Directory.Exists(csvPath))
            throw new FileNotFoundException($"CSV file '{csvPath}' does not exist.", csvPath);
        using FileStream stream = PackedSplitReader.OpenRegularFile(csvPath, "CSV file");
        try
        {
            return LoadColumn(stream, csvPath, column, positive);
        }
        catch (IOException e)
        {
            throw PackedSplitReader.ReadFailed(csvPath, e);
        }
    }

    private static float[] LoadColumn(FileStream stream, string csvPath, string column, bool positive)
    {
        var reader = new Utf8LineReader(stream, CsvReadOptions.DefaultMaxLineLength);
        string? headerLine = reader.ReadDataLine(csvPath);
        if (headerLine is null)
            throw new InvalidDataException($"{csvPath}: empty file, expected a header row with '{column}'.");
        string[] header = headerLine.Split(',');
        int position = Array.FindIndex(header, h => h.Trim() == column);
        if (position < 0)
            throw new InvalidDataException($"{csvPath}: no column '{column}' in header '{headerLine}'.");
        var values = new List<float>();
        string? line;
        while ((line = reader.ReadDataLine(csvPath)) is not null)
        {
            int lineNumber = reader.LineNumber;
            if (line.Length == 0) continue;
            string[] fields = line.Split(',');
            if (fields.Length != header.Length)
                throw new InvalidDataException($"{csvPath}: line {lineNumber} has {fields.Length} fields, the header has {header.Length}.");
            int control = Utf8LineReader.IndexOfControlCharacter(fields[position]);
            if (control >= 0)
                throw new InvalidDataException($"{csvPath}: line {lineNumber}, column '{column}': expected a finite number, found the control character U+{(int)fields[position][control]:X4} at position {control + 1}.");
            string cell = fields[position].Trim();
            if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !float.IsFinite(value))
                throw new InvalidDataException($"{csvPath}: line {lineNumber}, column '{column}': '{cell}' is not a finite number.");
            if (positive && !(value > 0f))
                throw new InvalidDataException($"{csvPath}: line {lineNumber}, column '{column}': {cell} is not a CO2 concentration (expected > 0 ppmv; -999.99 and -99.99 mark a missing week in NOAA's files). Leave missing weeks out or fill them, as the co2_ppmv_filled column does.");
            values.Add(value);
        }
        if (values.Count == 0)
            throw new InvalidDataException($"{csvPath}: no data rows after the header.");
        return values.ToArray();
    }
}
