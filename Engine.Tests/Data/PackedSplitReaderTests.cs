using System.IO.Compression;
using System.Text.Json.Nodes;
using NumLstm.Data;

namespace NumLstm.Tests.Data;

/// <summary>
/// The dataset-folder reader behind <see cref="JapaneseVowels.Load"/> and <see cref="Har.Load"/> on hostile folders:
/// each test edits a copy of the shipped Japanese Vowels folder and expects the documented
/// <see cref="InvalidDataException"/> naming the file and the field, never another exception type.
/// </summary>
[TestFixture]
public class PackedSplitReaderTests
{
    private string _root = "";
    private string _folder = "";

    [SetUp]
    public void Copy()
    {
        // The dataset folder sits one level down, so that tests can put files beside it.
        _root = Path.Combine(Path.GetTempPath(), "numlstm-packed-" + Guid.NewGuid().ToString("N"));
        _folder = Path.Combine(_root, "jv");
        Directory.CreateDirectory(_folder);
        foreach (string file in Directory.GetFiles(DataPaths.JapaneseVowels))
            File.Copy(file, Path.Combine(_folder, Path.GetFileName(file)));
    }

    [TearDown]
    public void Delete() => Directory.Delete(_root, recursive: true);

    private string HeaderPath => Path.Combine(_folder, "header.json");

    /// <summary>Replaces the first occurrence of <paramref name="text"/> in header.json (the train split comes first).</summary>
    private void EditHeader(string text, string replacement)
    {
        string header = File.ReadAllText(HeaderPath);
        int at = header.IndexOf(text, StringComparison.Ordinal);
        Assert.That(at, Is.GreaterThanOrEqualTo(0), $"header.json has no {text}");
        File.WriteAllText(HeaderPath, header[..at] + replacement + header[(at + text.Length)..]);
    }

    /// <summary>Edits the train split of header.json as a JSON tree (written back compact).</summary>
    private void EditTrain(Action<JsonNode> edit)
    {
        JsonNode root = JsonNode.Parse(File.ReadAllText(HeaderPath))!;
        edit(root["splits"]!["train"]!);
        File.WriteAllText(HeaderPath, root.ToJsonString());
    }

    private string DataPath => Path.Combine(_folder, "jv_train_X.f32.gz");

    private InvalidDataException LoadFails()
    {
        var e = Assert.Throws<InvalidDataException>(() => JapaneseVowels.Load(_folder));
        return e!;
    }

    [Test]
    public void Baseline_TheCopiedFolderLoads()
    {
        var (train, test) = JapaneseVowels.Load(_folder);
        Assert.That((train.Count, test.Count), Is.EqualTo((270, 370)));
    }

    [TestCase("\"30\"")]
    [TestCase("null")]
    [TestCase("30.0")]
    [TestCase("true")]
    [TestCase("[30]")]
    [TestCase("-1")]
    public void ClassCountThatIsNotANonNegativeInteger_NamesTheField(string value)
    {
        EditHeader("\"1\": 30,", $"\"1\": {value},");
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(HeaderPath).And.Contain("splits.train.class_counts.1").And.Contain(value));
    }

    [Test]
    public void FileNameWithALoneSurrogateEscape_NamesTheField()
    {
        EditHeader("\"jv_train_X.f32.gz\"", "\"jv\\ud800.gz\"");
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(HeaderPath).And.Contain("'splits.train.file'").And.Contain("\\ud800"));
    }

    [Test]
    public void UnusedFieldWithALoneSurrogateEscape_IsRejectedToo()
    {
        EditHeader("\"japanese_vowels\"", "\"\\udc00x\"");
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain("'name'").And.Contain("Unicode"));
    }

    [Test]
    public void KeyWithALoneSurrogateEscape_NamesTheObject()
    {
        EditHeader("\"length_min\"", "\"\\ud800\"");
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(HeaderPath).And.Contain("'splits.train'").And.Contain("surrogate"));
    }

    [Test]
    public void DuplicateKeys_AreRejected_NamingTheKey()
    {
        EditHeader("\"file\": \"jv_train_X.f32.gz\",", "\"file\": \"jv_test_X.f32.gz\", \"file\": \"jv_train_X.f32.gz\",");
        Assert.That(LoadFails().Message, Does.Contain(HeaderPath).And.Contain("'splits.train.file'").And.Contain("twice"));
    }

    [Test]
    public void DuplicateKeysWithLoneSurrogateEscapes_AreRejected()
    {
        EditHeader("\"length_min\": 7,", "\"\\ud800\": 1, \"\\ud800\": 2, \"length_min\": 7,");
        Assert.That(LoadFails().Message, Does.Contain(HeaderPath).And.Contain("'splits.train'").And.Contain("surrogate"));
    }

    [Test]
    public void HeaderLargerThanTheCap_IsRejectedWithoutReadingItAll()
    {
        EditHeader("\"name\"", "\"padding_field\": \"" + new string('x', PackedSplitReader.MaxHeaderBytes) + "\", \"name\"");
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(HeaderPath).And.Contain($"at most {PackedSplitReader.MaxHeaderBytes} bytes"));
    }

    [Test]
    public void ClassesThatIsNotAnArray_SaysWhatCame()
    {
        EditHeader("\"classes\": [", "\"classes\": {}, \"unused\": [");
        Assert.That(LoadFails().Message, Does.Contain("'classes'").And.Contain("got Object"));
    }

    [Test]
    public void HugeClaimNextToASmallGzip_IsRejectedBeforeAllocating()
    {
        // 1.3 KB of header claiming 2.14 GB of float32 next to the real 193 KB gzip: the old reader allocated 2 GB first.
        EditTrain(split =>
        {
            split["shape"] = new JsonArray(1, 1, 536_000_000);
            split["uncompressed_bytes"] = 2_144_000_000L;
        });
        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidDataException e = LoadFails();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(e.Message, Does.Contain(DataPath).And.Contain("splits.train.uncompressed_bytes").And.Contain("2144000000")
            .And.Contain($"{PackedSplitReader.MaxDeflateRatio}:1"));
        Assert.That(allocated, Is.LessThan(1 << 20), "bytes allocated by the failed load");
    }

    [Test]
    public void ClaimWithinTheRatioButBeyondTheData_AllocatesOnlyWhatTheFileHolds()
    {
        // 150 MB is below 1032 × 193 KB, so only decompressing can show the claim false; memory must follow the real
        // 376 KB, not the claim.
        const int count = 107_758;
        long claimed = (long)count * 29 * 12 * sizeof(float);
        Assert.That(claimed, Is.LessThan(PackedSplitReader.MaxDeflateRatio * new FileInfo(DataPath).Length));
        EditTrain(split =>
        {
            split["shape"] = new JsonArray(count, 29, 12);
            split["uncompressed_bytes"] = claimed;
        });
        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidDataException e = LoadFails();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(e.Message, Does.Contain(DataPath).And.Contain($"decompresses to 375840 bytes, expected {claimed}"));
        Assert.That(allocated, Is.LessThan(8 << 20), "bytes allocated by the failed load");
    }

    [Test]
    public void ShapeWhoseProductOverflowsALong_NamesTheShape()
    {
        EditTrain(split => split["shape"] = new JsonArray(int.MaxValue, int.MaxValue, int.MaxValue));
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(HeaderPath).And.Contain("splits.train.shape").And.Contain($"at most {Array.MaxLength} bytes"));
    }

    [Test]
    public void UncompressedBytesThatDisagreeWithTheShape_NameBothFields()
    {
        EditTrain(split => split["uncompressed_bytes"] = 375_844L);
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(HeaderPath).And.Contain("splits.train.uncompressed_bytes is 375844")
            .And.Contain("splits.train.shape [270, 29, 12]").And.Contain("375840 bytes"));
    }

    [Test]
    public void EmptyDataFile_SaysItReportsZeroBytes()
    {
        File.WriteAllBytes(DataPath, []);
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(DataPath).And.Contain("gzip file of 0 bytes (empty, or not a regular file)"));
    }

    [Test]
    public void DataFileThatIsASymbolicLink_LoadsFromItsTarget()
    {
        // A large dataset is often linked in. The size check must use the target's length, not the link's 30 bytes.
        string target = Path.Combine(_root, "elsewhere.f32.gz");
        File.Move(DataPath, target);
        File.CreateSymbolicLink(DataPath, target);
        Assert.That(JapaneseVowels.Load(_folder).Train.Count, Is.EqualTo(270));
    }

    [TestCase("/dev/zero")]
    [TestCase("/proc/self/status")]
    public void DataFileThatIsNotARegularFile_SaysSo(string target)
    {
        // Device and /proc files report a length of 0 whatever they hold; the message must not claim an empty file.
        Assume.That(File.Exists(target), $"needs {target}");
        File.Delete(DataPath);
        File.CreateSymbolicLink(DataPath, target);
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(DataPath).And.Contain("(empty, or not a regular file)"));
    }

    [Test]
    public void DataFileThatIsNotGzip_NamesTheFile()
    {
        File.WriteAllText(DataPath, string.Concat(Enumerable.Repeat("hello, not a gzip stream\n", 100))); // past the ratio check
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(DataPath).And.Contain("expected a gzip stream"));
    }

    [Test]
    public void DataLongerThanTheClaim_IsRejected()
    {
        byte[] raw;
        using (var gzip = new GZipStream(File.OpenRead(DataPath), CompressionMode.Decompress))
        using (var buffer = new MemoryStream()) { gzip.CopyTo(buffer); buffer.Write(new byte[4]); raw = buffer.ToArray(); }
        using (var output = new GZipStream(File.Create(DataPath), CompressionLevel.Fastest)) output.Write(raw);
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(DataPath).And.Contain("decompresses to more than the 375840 bytes"));
    }

    /// <summary>Rewrites the train data through <paramref name="edit"/> and gives header.json the new SHA-256, so only the edit differs.</summary>
    private void EditTrainValues(Action<float[]> edit)
    {
        byte[] raw;
        using (var gzip = new GZipStream(File.OpenRead(DataPath), CompressionMode.Decompress))
        using (var buffer = new MemoryStream()) { gzip.CopyTo(buffer); raw = buffer.ToArray(); }
        float[] values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray();
        edit(values);
        raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        using (var output = new GZipStream(File.Create(DataPath), CompressionLevel.Fastest)) output.Write(raw);
        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(raw));
        EditTrain(split => split["sha256_uncompressed"] = sha);
    }

    [Test]
    public void NonZeroValueAfterASequencesLength_IsRejectedNamingRowAndStep()
    {
        // Row 1 of jv_train_meta.csv is "1,20": steps 20..28 are padding. A value there means the length column and the
        // data disagree (a frame dropped from the meta count, or rows shifted); it used to load, and the padding went into
        // every unmasked batch as if it were signal.
        EditTrainValues(values => values[(0 * 29 + 23) * 12 + 4] = 0.5f);
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(DataPath).And.Contain("sequence 1").And.Contain("step 24").And.Contain("length 20"));
    }

    [Test]
    public void EditedValuesWithTheirNewHash_StillLoad()
    {
        // The helper above changes nothing else: a valid-step edit loads and shows.
        EditTrainValues(values => values[(0 * 29 + 19) * 12 + 4] = 0.5f);
        var (train, _) = JapaneseVowels.Load(_folder);
        Assert.That(train.X[(0 * 29 + 19) * 12 + 4], Is.EqualTo(0.5f));
    }

    [Test]
    public void MetaWithCrlfLineEndsTrailingSpacesAndNoFinalNewline_LoadsTheSameLabelsAndLengths()
    {
        var (expected, _) = JapaneseVowels.Load(_folder);
        string meta = Path.Combine(_folder, "jv_train_meta.csv");
        string[] lines = File.ReadAllLines(meta);
        File.WriteAllText(meta, string.Join("\r\n", lines.Select(l => l.Replace(",", " , ") + "  ")));
        var (train, _) = JapaneseVowels.Load(_folder);
        Assert.That(train.Labels, Is.EqualTo(expected.Labels));
        Assert.That(train.Lengths, Is.EqualTo(expected.Lengths));
    }

    [TestCase("1,20,5", "has 3 fields, the header has 2")]
    [TestCase("1", "has 1 fields, the header has 2")]
    [TestCase("1,2O", "column 'length': '2O' is not an integer")]
    [TestCase("1.0,20", "column 'label': '1.0' is not an integer")]
    public void MetaRowWithTheWrongFieldsOrANonInteger_NamesFileAndLine(string row, string message)
    {
        string meta = Path.Combine(_folder, "jv_train_meta.csv");
        string[] lines = File.ReadAllLines(meta);
        lines[5] = row;
        File.WriteAllLines(meta, lines);
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(meta).And.Contain("line 6").And.Contain(message));
    }

    [TestCase("file", "/etc/hostname")]
    [TestCase("file", "../jv_train_X.f32.gz")]
    [TestCase("file", "sub/../../jv_train_X.f32.gz")]
    [TestCase("file", "")]
    [TestCase("file", ".")]
    [TestCase("file", "a\0b")]
    [TestCase("meta", "../jv_train_meta.csv")]
    [TestCase("meta", "/proc/self/status")]
    public void PathThatLeavesTheFolder_IsRejectedNamingTheField(string field, string name)
    {
        // The folder's parent holds valid copies, so a reader that followed "../" would load without complaint.
        foreach (string file in new[] { "jv_train_X.f32.gz", "jv_train_meta.csv" })
            File.Copy(Path.Combine(_folder, file), Path.Combine(_root, file));
        EditTrain(split => split[field] = name);
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(HeaderPath).And.Contain($"'splits.train.{field}'").And.Contain("dataset folder"));
    }

    [Test]
    public void PathThatStaysInTheFolder_Loads()
    {
        Directory.CreateDirectory(Path.Combine(_folder, "sub"));
        File.Move(DataPath, Path.Combine(_folder, "sub", "x.gz"));
        EditTrain(split => split["file"] = "sub/../sub/./x.gz");
        Assert.That(JapaneseVowels.Load(_folder).Train.Count, Is.EqualTo(270));
    }

    [Test]
    public void LabelsThatOnlyFitByWrappingAroundInt_AreRejected()
    {
        // label_base 2147483647 with labels 2147483647, -2147483648, ...: label - label_base wrapped to 0, 1, ... in int.
        EditHeader("\"label_base\": 1", $"\"label_base\": {int.MaxValue}");
        foreach (string split in new[] { "train", "test" })
        {
            string meta = Path.Combine(_folder, $"jv_{split}_meta.csv");
            string[] lines = File.ReadAllLines(meta);
            for (int k = 1; k < lines.Length; k++)
            {
                string[] cells = lines[k].Split(',');
                cells[0] = unchecked(int.MaxValue + int.Parse(cells[0]) - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                lines[k] = string.Join(',', cells);
            }
            File.WriteAllLines(meta, lines);
        }
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain("jv_train_meta.csv").And.Contain("label -2147483648").And.Contain("expected 2147483647..2147483655"));
    }

    [Test]
    public void MetaLabelWithATrailingNul_IsRejectedNamingLineAndColumn()
    {
        // int.TryParse ignores trailing NULs, so "1\0" was label 1.
        string meta = Path.Combine(_folder, "jv_train_meta.csv");
        string[] lines = File.ReadAllLines(meta);
        Assert.That(lines[1], Is.EqualTo("1,20"));
        lines[1] = "1\0,20";
        File.WriteAllLines(meta, lines);
        InvalidDataException e = LoadFails();
        Assert.That(e.Message, Does.Contain(meta).And.Contain("line 2, column 'label'").And.Contain("U+0000"));
    }

    [Test]
    public void MetaWithAZeroFilledTail_IsRejectedWithBoundedMemory()
    {
        // A crash left 8 MB of zero bytes where the last row's line break was: that row read as "9,17\0\0..." = 17
        // and the folder loaded.
        string meta = Path.Combine(_folder, "jv_train_meta.csv");
        using (var stream = new FileStream(meta, FileMode.Open))
        {
            stream.Seek(-1, SeekOrigin.End);
            Assert.That(stream.ReadByte(), Is.EqualTo('\n'));
            stream.SetLength(stream.Length - 1);
            stream.SetLength(stream.Length + (8 << 20));
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidDataException e = LoadFails();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(e.Message, Does.Contain(meta).And.Contain("line 271").And.Contain($"at most {NumLstm.IO.CsvReadOptions.DefaultMaxLineLength} characters"));
        Assert.That(allocated, Is.LessThan(16L << 20), "bytes allocated by the failed load");
    }
}
