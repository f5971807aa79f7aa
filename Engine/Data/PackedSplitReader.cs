using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using NumLstm.IO;

namespace NumLstm.Data;

/// <summary>
/// Reads one split of the packed format shared by the Japanese Vowels and HAR folders (see docs/datasets.md):
/// <c>header.json</c> gives, per split, <c>file</c> (gzip of little-endian float32 <c>[N, T, C]</c>), <c>meta</c> (CSV,
/// one row per sequence, 1-based <c>label</c>), <c>shape</c>, <c>uncompressed_bytes</c>, <c>sha256_uncompressed</c>
/// and <c>class_counts</c>. Every one of them is checked; a mismatch throws <see cref="InvalidDataException"/> naming
/// the file and what differs.
/// </summary>
internal static class PackedSplitReader
{
    public const string HeaderFileName = "header.json";

    /// <summary>The shape and class count a loader expects, checked against header.json before the data is decompressed.</summary>
    public readonly record struct Expected(string Dataset, int Steps, int Features, int ClassCount);

    public static SequenceDataset Read(string directory, string split, string? lengthColumn, string? groupColumn, Expected? expected = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Dataset folder '{directory}' does not exist.");
        string headerPath = Path.Combine(directory, HeaderFileName);
        if (!File.Exists(headerPath) && !Directory.Exists(headerPath))
            throw new FileNotFoundException($"Dataset folder '{directory}' has no {HeaderFileName}.", headerPath);

        using JsonDocument header = ParseHeader(headerPath);
        JsonElement root = header.RootElement;
        int labelBase = GetInt(root, "label_base", headerPath);
        string[] classNames = GetStringArray(root, "classes", headerPath);
        JsonElement splitElement = Get(Get(root, "splits", headerPath), split, headerPath, "splits");
        string where = $"splits.{split}";
        string dataFile = FileInFolder(directory, GetString(splitElement, "file", headerPath, where), headerPath, $"{where}.file");
        string metaFile = FileInFolder(directory, GetString(splitElement, "meta", headerPath, where), headerPath, $"{where}.meta");
        int[] shape = GetIntArray(splitElement, "shape", headerPath, where);
        if (shape.Length != 3 || shape.Any(d => d < 1))
            throw new InvalidDataException($"{headerPath}: {where}.shape should be [N, T, C] with positive sizes, got [{string.Join(", ", shape)}].");
        // Each size is checked against the others and against one array before anything is allocated from it.
        Int128 valueCount = (Int128)shape[0] * shape[1] * shape[2];
        if (valueCount * sizeof(float) > Array.MaxLength)
            throw new InvalidDataException($"{headerPath}: {where}.shape [{string.Join(", ", shape)}] holds {valueCount} float32 = {valueCount * sizeof(float)} bytes, expected at most {Array.MaxLength} bytes (one array).");
        long uncompressedBytes = GetLong(splitElement, "uncompressed_bytes", headerPath, where);
        if (uncompressedBytes != valueCount * sizeof(float))
            throw new InvalidDataException($"{headerPath}: {where}.uncompressed_bytes is {uncompressedBytes}, but {where}.shape [{string.Join(", ", shape)}] needs {valueCount} float32 = {valueCount * sizeof(float)} bytes.");
        string sha256 = GetString(splitElement, "sha256_uncompressed", headerPath, where);
        int[] expectedCounts = GetClassCounts(splitElement, headerPath, where, classNames.Length);

        int count = shape[0], steps = shape[1], channels = shape[2];
        // The loader's shape is checked once the sizes agree, before the body is decompressed (a 64 KB gzip can hold
        // 261 MB): a folder of another dataset costs no more than its header, and the body is bounded by that shape.
        void CheckExpected()
        {
            if (expected is { } e && (steps != e.Steps || channels != e.Features || classNames.Length != e.ClassCount))
                throw new InvalidDataException($"{headerPath}: expected {e.Dataset} [N, {e.Steps}, {e.Features}] with {e.ClassCount} classes, got {where}.shape [{string.Join(", ", shape)}] with {classNames.Length} classes.");
        }
        float[] x = ReadFloat32Gzip(dataFile, uncompressedBytes, sha256, $"{where}.uncompressed_bytes in {headerPath}", CheckExpected);

        var columns = new List<string> { "label" };
        if (lengthColumn is not null) columns.Add(lengthColumn);
        if (groupColumn is not null) columns.Add(groupColumn);
        int[][] meta = ReadIntColumns(metaFile, columns.ToArray());
        if (meta[0].Length != count)
            throw new InvalidDataException($"{metaFile}: expected {count} rows (N of {Path.GetFileName(dataFile)}), got {meta[0].Length}.");

        var labels = new int[count];
        for (int n = 0; n < count; n++)
        {
            long label = (long)meta[0][n] - labelBase; // in int, label_base 2147483647 made -2147483648 class 1
            if (label < 0 || label >= classNames.Length)
                throw new InvalidDataException($"{metaFile}: row {n + 1} has label {meta[0][n]}, expected {labelBase}..{(long)labelBase + classNames.Length - 1} ({HeaderFileName}: label_base {labelBase}, {classNames.Length} classes).");
            labels[n] = (int)label;
        }
        var actualCounts = new int[classNames.Length];
        foreach (int label in labels) actualCounts[label]++;
        if (!actualCounts.AsSpan().SequenceEqual(expectedCounts))
            throw new InvalidDataException($"{metaFile}: class counts [{string.Join(", ", actualCounts)}] differ from {where}.class_counts [{string.Join(", ", expectedCounts)}] in {headerPath}.");

        int[]? lengths = null;
        int nextColumn = 1;
        if (lengthColumn is not null)
        {
            lengths = meta[nextColumn++];
            for (int n = 0; n < count; n++)
            {
                if (lengths[n] < 1 || lengths[n] > steps)
                    throw new InvalidDataException($"{metaFile}: row {n + 1} has {lengthColumn} {lengths[n]}, expected 1..{steps}.");
            }
            // SequenceDataset promises 0 after each length; a value there means the length column and the data disagree,
            // and an unmasked model (or one that ignores the mask) would read it as signal.
            for (int n = 0; n < count; n++)
            {
                ReadOnlySpan<float> padding = x.AsSpan((n * steps + lengths[n]) * channels, (steps - lengths[n]) * channels);
                int at = padding.IndexOfAnyExcept(0f);
                if (at >= 0)
                    throw new InvalidDataException(
                        $"{dataFile}: sequence {n + 1} has {padding[at].ToString(CultureInfo.InvariantCulture)} at step {lengths[n] + at / channels + 1}, channel {at % channels + 1}, past its {lengthColumn} {lengths[n]} in {Path.GetFileName(metaFile)}: padding steps must hold 0.");
            }
        }
        int[]? groups = groupColumn is not null ? meta[nextColumn] : null;
        return SequenceDataset.ForClassification(x, count, steps, channels, labels, classNames.Length, lengths, classNames, groups);
    }

    /// <summary>
    /// Opens a file of a dataset folder for reading, after checking it is one: a directory in its place is named as such,
    /// not as missing, and a file of length 0 is refused before it is opened. That is what a FIFO, a device or a /proc
    /// file reports, and opening a FIFO would wait for a writer forever, reading /proc/self/mem fails with an I/O error
    /// (no .NET call tells these from a regular file; an empty regular file is no valid header, meta or gzip either).
    /// A symbolic link is judged by its final target. Failures to open are <see cref="InvalidDataException"/>s naming
    /// the file; <paramref name="what"/> names it in the "missing" message.
    /// </summary>
    internal static FileStream OpenRegularFile(string path, string what)
    {
        if (RegularFileLength(path, what) == 0)
            throw new InvalidDataException($"{path}: expected a regular file, found one of length 0 (empty, or not a regular file) — a FIFO, device or /proc file reads as 0 bytes long.");
        return OpenExamined(path);
    }

    /// <summary>The length of the file (a link's final target's), after the directory and "missing" checks of <see cref="OpenRegularFile"/>.</summary>
    private static long RegularFileLength(string path, string what)
    {
        if (Directory.Exists(path))
            throw new InvalidDataException($"{path}: expected a regular file, found a directory.");
        if (!File.Exists(path))
            throw new FileNotFoundException($"{what} '{path}' is missing.", path);
        try
        {
            FileSystemInfo target = File.ResolveLinkTarget(path, returnFinalTarget: true) ?? new FileInfo(path);
            return new FileInfo(target.FullName).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: expected a readable regular file, found one that cannot be examined ({e.Message}).", e);
        }
    }

    private static FileStream OpenExamined(string path)
    {
        try
        {
            return File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot be opened for reading ({e.Message}).", e);
        }
    }

    /// <summary>An I/O error while a dataset file is read, as the <see cref="InvalidDataException"/> the loaders throw.</summary>
    internal static InvalidDataException ReadFailed(string path, IOException e) =>
        new($"{path}: cannot be read ({e.Message}).", e);

    /// <summary>
    /// The full path of a file that header.json names, which must stay inside the dataset folder: an absolute path or
    /// one that climbs out with "..", which would let a downloaded folder read any file, is rejected. The check is on
    /// the text of the path; a symbolic link inside the folder is followed like any file there.
    /// </summary>
    private static string FileInFolder(string directory, string name, string headerPath, string field)
    {
        string folder = Path.GetFullPath(directory);
        string full;
        try
        {
            full = Path.GetFullPath(name, folder);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{headerPath}: field '{field}' should be a file name relative to the dataset folder, got '{name}' ({e.Message}).", e);
        }
        string relative = Path.GetRelativePath(folder, full);
        bool outside = name.Length == 0 || Path.IsPathRooted(name) || Path.IsPathRooted(relative) || relative == "." || relative == ".."
            || relative.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            || relative.StartsWith(".." + Path.AltDirectorySeparatorChar, StringComparison.Ordinal);
        if (outside)
            throw new InvalidDataException($"{headerPath}: field '{field}' should be a file name relative to the dataset folder and inside it, got '{name}'.");
        return full;
    }

    /// <summary>
    /// Deflate's largest expansion: a 258-byte match coded in 2 bits (1-bit length and distance codes) gives 1032
    /// bytes per compressed byte; block headers, literals and the gzip header and trailer only lower it (zlib at level 9
    /// reaches 1028.8 on 100 MB of zeros). A file of L bytes therefore never decompresses to more than 1032 L bytes.
    /// </summary>
    public const int MaxDeflateRatio = 1032;

    /// <summary>Decompressed bytes are collected in pieces of this size, so memory follows what the file really holds.</summary>
    private const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Decompresses a whole-file gzip of little-endian float32, checking the byte count and SHA-256 of the decompressed
    /// bytes before it converts them. Nothing is allocated from <paramref name="expectedBytes"/> alone: a claim larger
    /// than <see cref="MaxDeflateRatio"/> times the file is rejected at once, and the output is gathered in
    /// <see cref="ChunkBytes"/> pieces until its count and hash are known good. <paramref name="claim"/> says where
    /// <paramref name="expectedBytes"/> comes from, for messages.
    /// </summary>
    public static float[] ReadFloat32Gzip(string path, long expectedBytes, string expectedSha256, string claim, Action? beforeDecompressing = null)
    {
        if (expectedBytes < 0 || expectedBytes % sizeof(float) != 0)
            throw new InvalidDataException($"{path}: {claim} is {expectedBytes}, expected a non-negative multiple of 4 (float32).");
        // The link's final target's length, not the link's own; a FIFO or device reports 0 and is refused here, unopened.
        long fileBytes = RegularFileLength(path, "Data file");
        if (expectedBytes > MaxDeflateRatio * fileBytes)
            throw new InvalidDataException($"{path}: {claim} is {expectedBytes} bytes, but a gzip file of {fileBytes} bytes" +
                (fileBytes == 0 ? " (empty, or not a regular file)" : "") +
                $" decompresses to at most {MaxDeflateRatio * fileBytes} (deflate's limit is {MaxDeflateRatio}:1).");
        if (fileBytes == 0)
            throw new InvalidDataException($"{path}: expected a gzip file, found one of length 0 (empty, or not a regular file).");
        beforeDecompressing?.Invoke();
        using FileStream file = OpenExamined(path);

        var chunks = new List<(byte[] Bytes, int Count)>();
        long remaining = expectedBytes;
        bool overlong = false;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            while (true)
            {
                // One byte more than still expected, so that an overlong stream shows without reading it all.
                var chunk = new byte[(int)Math.Min(ChunkBytes, remaining + 1)];
                int read = gzip.ReadAtLeast(chunk, chunk.Length, throwOnEndOfStream: false);
                if (read > remaining)
                {
                    overlong = true;
                    break;
                }
                hash.AppendData(chunk, 0, read);
                chunks.Add((chunk, read));
                remaining -= read;
                if (read < chunk.Length)
                    break;
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: expected a gzip stream, found invalid data ({e.Message}).", e);
        }
        catch (IOException e)
        {
            throw ReadFailed(path, e);
        }
        if (overlong)
            throw new InvalidDataException($"{path}: decompresses to more than the {expectedBytes} bytes of {claim}.");
        if (remaining != 0)
            throw new InvalidDataException($"{path}: decompresses to {expectedBytes - remaining} bytes, expected {expectedBytes} ({claim}).");
        string actualSha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (!string.Equals(actualSha256, expectedSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{path}: SHA-256 of the decompressed bytes is {actualSha256}, header.json expects {expectedSha256}.");

        var values = new float[expectedBytes / sizeof(float)];
        Span<byte> destination = MemoryMarshal.AsBytes(values.AsSpan());
        foreach (var (bytes, count) in chunks)
        {
            bytes.AsSpan(0, count).CopyTo(destination);
            destination = destination[count..];
        }
        if (!BitConverter.IsLittleEndian)
        {
            Span<int> bits = MemoryMarshal.Cast<float, int>(values.AsSpan());
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }
        return values;
    }

    /// <summary>
    /// Reads named integer columns of a small CSV with a header row (no quoting: the meta files have none). UTF-8, lines
    /// of at most <see cref="CsvReadOptions.DefaultMaxLineLength"/> characters, no control characters in the numbers.
    /// </summary>
    public static int[][] ReadIntColumns(string path, string[] names)
    {
        using FileStream stream = OpenRegularFile(path, "Meta file");
        try
        {
            return ReadIntColumns(stream, path, names);
        }
        catch (IOException e)
        {
            throw ReadFailed(path, e);
        }
    }

    private static int[][] ReadIntColumns(FileStream stream, string path, string[] names)
    {
        var reader = new Utf8LineReader(stream, CsvReadOptions.DefaultMaxLineLength);
        string? headerLine = reader.ReadDataLine(path);
        if (headerLine is null)
            throw new InvalidDataException($"{path}: empty file, expected a header row with {string.Join(", ", names)}.");
        string[] header = headerLine.Split(',').Select(h => h.Trim()).ToArray();
        int[] positions = new int[names.Length];
        for (int c = 0; c < names.Length; c++)
        {
            positions[c] = Array.IndexOf(header, names[c]);
            if (positions[c] < 0)
                throw new InvalidDataException($"{path}: no column '{names[c]}' in header '{headerLine}'.");
        }
        var columns = new List<int>[names.Length];
        for (int c = 0; c < names.Length; c++) columns[c] = new List<int>();
        string? line;
        while ((line = reader.ReadDataLine(path)) is not null)
        {
            int lineNumber = reader.LineNumber;
            if (line.Length == 0) continue;
            string[] fields = line.Split(',');
            if (fields.Length != header.Length)
                throw new InvalidDataException($"{path}: line {lineNumber} has {fields.Length} fields, the header has {header.Length}.");
            for (int c = 0; c < names.Length; c++)
            {
                string field = fields[positions[c]];
                int control = Utf8LineReader.IndexOfControlCharacter(field);
                if (control >= 0)
                    throw new InvalidDataException($"{path}: line {lineNumber}, column '{names[c]}': expected an integer, found the control character U+{(int)field[control]:X4} at position {control + 1}.");
                if (!int.TryParse(field, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
                    throw new InvalidDataException($"{path}: line {lineNumber}, column '{names[c]}': '{field}' is not an integer.");
                columns[c].Add(value);
            }
        }
        return columns.Select(c => c.ToArray()).ToArray();
    }

    /// <summary>Larger than any real header (Japanese Vowels' is 1.7 KB, HAR's 2.9 KB): a cap on what a hostile one costs.</summary>
    public const int MaxHeaderBytes = 1 << 20;

    /// <summary>
    /// Parses header.json and checks once that every key and string is valid Unicode and that no object repeats a key,
    /// so that no later <c>GetString</c> or lookup can fail with an <see cref="InvalidOperationException"/> or pick one
    /// of two values.
    /// </summary>
    private static JsonDocument ParseHeader(string path)
    {
        var bytes = new MemoryStream();
        using (FileStream stream = OpenRegularFile(path, "Header"))
        {
            var chunk = new byte[16 * 1024];
            int read;
            try
            {
                while ((read = stream.Read(chunk)) > 0)
                {
                    if (bytes.Length + read > MaxHeaderBytes)
                        throw new InvalidDataException($"{path}: expected at most {MaxHeaderBytes} bytes, found more.");
                    bytes.Write(chunk, 0, read);
                }
            }
            catch (IOException e)
            {
                throw ReadFailed(path, e);
            }
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes.GetBuffer().AsMemory(0, (int)bytes.Length));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }
        try
        {
            CheckText(document.RootElement, path, "");
        }
        catch
        {
            document.Dispose();
            throw;
        }
        return document;
    }

    // JSON allows escapes such as "\ud800" that are not Unicode text; System.Text.Json throws InvalidOperationException
    // when it decodes one, so every key and string is decoded here once, naming where it sits.
    private static void CheckText(JsonElement element, string file, string where)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                int k = 0;
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException e)
                    {
                        throw new InvalidDataException($"{file}: key #{k + 1} of '{(where.Length == 0 ? "(root)" : where)}' should be valid Unicode text, got an unpaired surrogate escape.", e);
                    }
                    string path = where.Length == 0 ? name : where + "." + name;
                    if (!names.Add(name))
                        throw new InvalidDataException($"{file}: field '{path}' should appear once, found it twice.");
                    CheckText(property.Value, file, path);
                    k++;
                }
                break;
            case JsonValueKind.Array:
                int index = 0;
                foreach (JsonElement item in element.EnumerateArray())
                    CheckText(item, file, $"{where}[{index++}]");
                break;
            case JsonValueKind.String:
                try
                {
                    _ = element.GetString();
                }
                catch (InvalidOperationException e)
                {
                    throw new InvalidDataException($"{file}: field '{where}' should be valid Unicode text, got {element.GetRawText()} (an unpaired surrogate escape).", e);
                }
                break;
        }
    }

    private static JsonElement Get(JsonElement parent, string name, string file, string? where = null)
    {
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(name, out JsonElement value))
            throw new InvalidDataException($"{file}: missing field '{(where is null ? name : where + "." + name)}'.");
        return value;
    }

    private static string GetString(JsonElement parent, string name, string file, string? where = null)
    {
        JsonElement value = Get(parent, name, file, where);
        if (value.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{file}: field '{Qualified(name, where)}' should be a string, got {value.ValueKind}.");
        return value.GetString()!;
    }

    private static int GetInt(JsonElement parent, string name, string file, string? where = null)
    {
        JsonElement value = Get(parent, name, file, where);
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
            throw new InvalidDataException($"{file}: field '{Qualified(name, where)}' should be an integer, got {value.GetRawText()}.");
        return result;
    }

    private static long GetLong(JsonElement parent, string name, string file, string? where = null)
    {
        JsonElement value = Get(parent, name, file, where);
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long result))
            throw new InvalidDataException($"{file}: field '{Qualified(name, where)}' should be an integer, got {value.GetRawText()}.");
        return result;
    }

    private static int[] GetIntArray(JsonElement parent, string name, string file, string? where = null)
    {
        JsonElement value = Get(parent, name, file, where);
        if (value.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{file}: field '{Qualified(name, where)}' should be an array, got {value.ValueKind}.");
        return value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v)
            ? v
            : throw new InvalidDataException($"{file}: field '{Qualified(name, where)}' should hold integers, got {e.GetRawText()}.")).ToArray();
    }

    private static string[] GetStringArray(JsonElement parent, string name, string file)
    {
        JsonElement value = Get(parent, name, file);
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0)
            throw new InvalidDataException($"{file}: field '{name}' should be a non-empty array of strings, got {(value.ValueKind == JsonValueKind.Array ? "[]" : value.ValueKind.ToString())}.");
        return value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String
            ? e.GetString()!
            : throw new InvalidDataException($"{file}: field '{name}' should hold strings, got {e.GetRawText()}.")).ToArray();
    }

    /// <summary>class_counts is an object with one entry per class, in class order (keys are names or 1-based ids).</summary>
    private static int[] GetClassCounts(JsonElement split, string file, string where, int classCount)
    {
        JsonElement value = Get(split, "class_counts", file, where);
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{file}: field '{where}.class_counts' should be an object.");
        int[] counts = value.EnumerateObject().Select(p => p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out int v) && v >= 0
            ? v
            : throw new InvalidDataException($"{file}: field '{where}.class_counts.{p.Name}' should be a non-negative integer, got {p.Value.GetRawText()}.")).ToArray();
        if (counts.Length != classCount)
            throw new InvalidDataException($"{file}: '{where}.class_counts' has {counts.Length} entries, 'classes' has {classCount}.");
        return counts;
    }

    private static string Qualified(string name, string? where) => where is null ? name : where + "." + name;
}
