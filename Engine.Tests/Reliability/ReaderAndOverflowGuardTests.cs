using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using NumLstm.Data;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;
using NumLstm.Tests.Data;

namespace NumLstm.Tests.Reliability;

/// <summary>
/// Findings of the reader and size audit: CSV column cap, delimiter and stream checks; dataset-folder files that are
/// directories, FIFOs or unreadable; shapes checked before decompressing; size products past an array; small message
/// and conversion fixes. Each test failed before its fix. See docs/formats-io.md and docs/reliability.md.
/// </summary>
public sealed class ReaderAndOverflowGuardTests
{
    private readonly List<string> _folders = [];

    private string NewFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "numlstm-guard-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        _folders.Add(folder);
        return folder;
    }

    [TearDown]
    public void DeleteFolders()
    {
        foreach (string folder in _folders)
            Directory.Delete(folder, recursive: true);   // links are removed, not followed
        _folders.Clear();
    }

    private static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try { action(); } catch (Exception) { }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    // ---------------------------------------------------------------- 1. CSV column cap

    private static MemoryStream WideRecord(int cells, bool names)
    {
        var text = new StringBuilder();
        for (int k = 0; k < cells; k++)
            text.Append(k == 0 ? "" : ",").Append(names ? $"c{k}" : "0");
        text.Append('\n');
        return new MemoryStream(Encoding.UTF8.GetBytes(text.ToString()));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void Csv_MoreColumnsThanTheCap_IsRefusedNamingCountAndCap_WithBoundedMemory(bool hasHeader)
    {
        int cells = CsvReadOptions.DefaultMaxColumns + 10;
        MemoryStream stream = WideRecord(cells, names: hasHeader);
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(stream, hasHeader, null, "wide.csv"));
        Assert.That(e!.Message, Does.Contain($"at most {CsvReadOptions.DefaultMaxColumns} columns").And.Contain($"found {cells}"));
        Assert.That(e.Field, Is.EqualTo("line 1"));
        long bytes = WideRecord(cells, names: hasHeader).Length;
        long allocated = Allocated(() => CsvFile.ReadColumns(WideRecord(cells, names: hasHeader), hasHeader));
        Assert.That(allocated, Is.LessThan(24 * bytes + (4 << 20)), "memory must follow the file, not 200 bytes per column");
    }

    [Test]
    public void Csv_MaxColumnsOption_ReadsAtTheCap_AndRefusesOneMore()
    {
        var options = new CsvReadOptions { MaxColumns = 3 };
        CsvTable table = CsvFile.ReadColumns(new MemoryStream("a,b,c\n1,2,3\n"u8.ToArray()), true, options);
        Assert.That(table.ColumnNames, Is.EqualTo(new[] { "a", "b", "c" }));
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(new MemoryStream("1,2,3,4\n"u8.ToArray()), false, options, "t.csv"));
        Assert.That(e!.Message, Does.Contain("at most 3 columns").And.Contain("found 4"));
        Assert.Throws<ArgumentOutOfRangeException>(() => CsvFile.ReadColumns(new MemoryStream("1\n"u8.ToArray()), false, new CsvReadOptions { MaxColumns = 0 }));
    }

    // ---------------------------------------------------------------- 2. special files in dataset folders

    private string CopyJapaneseVowels()
    {
        string folder = NewFolder();
        foreach (string file in Directory.GetFiles(DataPaths.JapaneseVowels))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        return folder;
    }

    private static void MakeFifo(string path)
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "FIFOs are a Unix thing");
        using var process = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false });
        Assume.That(process, Is.Not.Null);
        process!.WaitForExit();
        Assume.That(process.ExitCode, Is.EqualTo(0), "mkfifo failed");
    }

    // Runs a load that must not block on a FIFO; if it does, a writer is opened so that the thread ends, and the test fails.
    private static Exception? ThrowsWithin(Action action, string fifo)
    {
        var task = Task.Run(() =>
        {
            try { action(); return null; }
            catch (Exception e) { return e; }
        });
        if (!task.Wait(TimeSpan.FromSeconds(10)))
        {
            using (new FileStream(fifo, FileMode.Open, FileAccess.Write)) { }
            task.Wait(TimeSpan.FromSeconds(10));
            Assert.Fail($"The load blocked on the FIFO '{fifo}'.");
        }
        return task.Result;
    }

    [TestCase("jv_train_X.f32.gz")]
    [TestCase("jv_train_meta.csv")]
    [TestCase("header.json")]
    public void DatasetFolder_DirectoryInPlaceOfAFile_SaysDirectory(string name)
    {
        string folder = CopyJapaneseVowels();
        File.Delete(Path.Combine(folder, name));
        Directory.CreateDirectory(Path.Combine(folder, name));
        var e = Assert.Throws<InvalidDataException>(() => JapaneseVowels.Load(folder));
        Assert.That(e!.Message, Does.Contain(name).And.Contain("expected a regular file, found a directory"));
    }

    [TestCase("jv_train_X.f32.gz")]
    [TestCase("jv_train_meta.csv")]
    [TestCase("header.json")]
    public void DatasetFolder_FifoInPlaceOfAFile_IsRefusedWithoutBlocking(string name)
    {
        string folder = CopyJapaneseVowels();
        string path = Path.Combine(folder, name);
        File.Delete(path);
        MakeFifo(path);
        Exception? e = ThrowsWithin(() => JapaneseVowels.Load(folder), path);
        Assert.That(e, Is.TypeOf<InvalidDataException>());
        Assert.That(e!.Message, Does.Contain(name).And.Contain("not a regular file"));
    }

    [TestCase("jv_train_X.f32.gz")]
    [TestCase("jv_train_meta.csv")]
    [TestCase("header.json")]
    public void DatasetFolder_LinkToProcSelfMem_IsAnInvalidDataException(string name)
    {
        Assume.That(File.Exists("/proc/self/mem"), "needs /proc/self/mem");
        string folder = CopyJapaneseVowels();
        string path = Path.Combine(folder, name);
        File.Delete(path);
        File.CreateSymbolicLink(path, "/proc/self/mem");
        var e = Assert.Throws<InvalidDataException>(() => JapaneseVowels.Load(folder));
        Assert.That(e!.Message, Does.Contain(name));
    }

    [Test]
    public void Co2_DirectoryFifoAndProcSelfMem_AreInvalidDataExceptions()
    {
        string folder = NewFolder();
        var directory = Assert.Throws<InvalidDataException>(() => Co2.Load(folder));
        Assert.That(directory!.Message, Does.Contain("found a directory"));
        if (File.Exists("/proc/self/mem"))
            Assert.Throws<InvalidDataException>(() => Co2.Load("/proc/self/mem"));
        string fifo = Path.Combine(folder, "co2.csv");
        MakeFifo(fifo);
        Assert.That(ThrowsWithin(() => Co2.Load(fifo), fifo), Is.TypeOf<InvalidDataException>());
    }

    [Test]
    public void Csv_DirectoryInPlaceOfTheFile_SaysDirectory()
    {
        string folder = NewFolder();
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(folder, true));
        Assert.That(e!.Field, Is.EqualTo("file"));
        Assert.That(e.Message, Does.Contain("expected a file, found a directory"));
        var npy = Assert.Throws<NumLstmFormatException>(() => NpyFile.Read(folder));
        Assert.That(npy!.Message, Does.Contain("expected a file, found a directory"));
    }

    [Test]
    public void Csv_ProcSelfMem_IsANumLstmFormatException()
    {
        Assume.That(File.Exists("/proc/self/mem"), "needs /proc/self/mem");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns("/proc/self/mem", true));
        Assert.That(e!.Field, Is.EqualTo("file"));
    }

    // ---------------------------------------------------------------- 3. shape before decompression

    [Test]
    public void JapaneseVowels_WrongDeclaredShape_IsRefusedBeforeDecompressing()
    {
        string folder = CopyJapaneseVowels();
        // [1, 4000, 1000] of zeros: 16 MB decompressed from a gzip of some 16 KB, a valid split of the wrong shape.
        int[] shape = [1, 4000, 1000];
        byte[] raw = new byte[shape[0] * shape[1] * shape[2] * sizeof(float)];
        using (var gz = new GZipStream(File.Create(Path.Combine(folder, "jv_train_X.f32.gz")), CompressionLevel.SmallestSize))
            gz.Write(raw);
        File.WriteAllText(Path.Combine(folder, "jv_train_meta.csv"), "label,length\n1,5\n");
        string headerPath = Path.Combine(folder, "header.json");
        JsonNode header = JsonNode.Parse(File.ReadAllText(headerPath))!;
        JsonNode train = header["splits"]!["train"]!;
        train["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray());
        train["uncompressed_bytes"] = raw.LongLength;
        train["sha256_uncompressed"] = Convert.ToHexStringLower(SHA256.HashData(raw));
        train["class_counts"] = new JsonObject(Enumerable.Range(1, 9).Select(k => new KeyValuePair<string, JsonNode?>($"speaker_{k}", k == 1 ? 1 : 0)));
        File.WriteAllText(headerPath, header.ToJsonString());

        var e = Assert.Throws<InvalidDataException>(() => JapaneseVowels.Load(folder));
        Assert.That(e!.Message, Does.Contain("[N, 29, 12]").And.Contain("[1, 4000, 1000]"));
        long allocated = Allocated(() => JapaneseVowels.Load(folder));
        Assert.That(allocated, Is.LessThan(2L << 20), "the shape must be refused before the 16 MB body is decompressed");
    }

    [Test]
    public void Har_WrongClassCountInHeader_IsRefusedBeforeDecompressing()
    {
        // The Japanese Vowels folder is a valid packed folder of another shape: HAR must refuse it from header.json alone.
        string folder = CopyJapaneseVowels();
        long allocated = Allocated(() => Har.Load(folder));
        var e = Assert.Throws<InvalidDataException>(() => Har.Load(folder));
        Assert.That(e!.Message, Does.Contain("expected HAR [N, 128, 9] with 6 classes"));
        Assert.That(allocated, Is.LessThan(256L << 10), "JV's 0.4 MB of floats must not be decompressed");
    }

    // ---------------------------------------------------------------- 4. CSV stream checks

    [Test]
    public void Csv_DisposedStream_IsAnArgumentException()
    {
        var stream = new MemoryStream("a\n1\n"u8.ToArray());
        stream.Dispose();
        var e = Assert.Throws<ArgumentException>(() => CsvFile.ReadColumns(stream, true));
        Assert.That(e!.ParamName, Is.EqualTo("stream"));
        Assert.That(e.Message, Does.Contain("readable"));
    }

    [Test]
    public void Csv_WriteOnlyStream_IsAnArgumentException()
    {
        string path = Path.Combine(NewFolder(), "w.csv");
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        var e = Assert.Throws<ArgumentException>(() => CsvFile.ReadColumns(stream, true));
        Assert.That(e!.ParamName, Is.EqualTo("stream"));
    }

    // ---------------------------------------------------------------- 5. CSV delimiter

    [TestCase('0')]
    [TestCase('7')]
    [TestCase('.')]
    [TestCase('-')]
    [TestCase('+')]
    [TestCase('e')]
    [TestCase('E')]
    [TestCase('\0')]
    [TestCase('"')]
    [TestCase('\r')]
    [TestCase('\n')]
    public void Csv_AmbiguousDelimiter_IsRefusedNamingTheCharacter(char delimiter)
    {
        var e = Assert.Throws<ArgumentException>(() =>
            CsvFile.ReadColumns(new MemoryStream("1\n"u8.ToArray()), false, new CsvReadOptions { Delimiter = delimiter }));
        Assert.That(e!.ParamName, Is.EqualTo("options"));
        Assert.That(e.Message, Does.Contain($"U+{(int)delimiter:X4}").And.Contain("expected a delimiter"));
    }

    [TestCase(',')]
    [TestCase(';')]
    [TestCase('\t')]
    [TestCase('|')]
    [TestCase(' ')]
    public void Csv_UsualDelimiters_StillRead(char delimiter)
    {
        CsvTable table = CsvFile.ReadColumns(new MemoryStream(Encoding.UTF8.GetBytes($"1{delimiter}2\n")), false, new CsvReadOptions { Delimiter = delimiter });
        Assert.That(table.Columns[1], Is.EqualTo(new[] { 2.0 }));
    }

    // ---------------------------------------------------------------- 6. size products past an array

    private static void AssertTooLarge(TestDelegate action, params string[] fragments)
    {
        var e = Assert.Throws<ArgumentException>(action);
        Assert.That(e!.Message, Does.Contain(Array.MaxLength.ToString()));
        foreach (string fragment in fragments)
            Assert.That(e.Message, Does.Contain(fragment));
    }

    [Test]
    public void Parameter_ShapeWhoseProductWrapsALong_IsAnArgumentException()
    {
        AssertTooLarge(() => _ = new Parameter<float>("w", 65536, 65536, 65536, 65536), "[65536, 65536, 65536, 65536]");
        AssertTooLarge(() => _ = new Parameter<float>("w", int.MaxValue, int.MaxValue, int.MaxValue), "2147483647");
    }

    [Test]
    public void OutputLength_PastAnArray_IsAnArgumentException_NotAWrappedInt()
    {
        Sequential<float> model = ModelBuilder.Input(1).Lstm(1, returnSequences: true).Build<float>();
        AssertTooLarge(() => model.OutputLength(65536, 65536), "B=65536", "T=65536");
        AssertTooLarge(() => model.Layers[0].OutputLength(65536, 65536), "B=65536", "T=65536");
    }

    [Test]
    public void Dense_ForwardWhoseOutputWrapsAnInt_IsAnArgumentException()
    {
        var dense = new Dense<float>(1 << 20, name: "wide");
        dense.Build(LayerShape.Sequence(1), new Random(1));
        var input = new float[4096];   // [B=1, T=4096, F=1]: the output [1, 4096, 2^20] has 2^32 values, 0 in an int
        AssertTooLarge(() => dense.Forward(new SequenceBatch<float>(input, 1, 4096, default), Span<float>.Empty, dense.CreateCache(), ForwardContext.Inference), "4294967296");
    }

    [Test]
    public void TrainerPredict_OutputPastAnArray_IsAnArgumentException()
    {
        Sequential<float> model = ModelBuilder.Input(1).Lstm(1, returnSequences: true).Dense(1 << 20).Build<float>();
        var data = SequenceDataset.ForRegression(new float[2048], 2048, 1, 1, new float[2048], 1);
        AssertTooLarge(() => new Trainer(model).Predict(data), "N=2048", "2147483648");
    }

    // One sequence of T = 256, F = 256 (65,536 values); 32,768 copies of it are 2^31 values.
    private static SequenceDataset WideSequence() => SequenceDataset.ForClassification(new float[65536], 1, 256, 256, [0], 1);

    [Test]
    public void SequenceDatasetSubset_PastAnArray_IsAnArgumentException()
    {
        AssertTooLarge(() => WideSequence().Subset(new int[32768]), "32768", "2147483648");
    }

    [Test]
    public void CopyBatch_SizeCheckThatWrapped_IsAnArgumentExceptionNamingX()
    {
        var indices = new int[32768];
        var e = Assert.Throws<ArgumentException>(() => WideSequence().CopyBatch<float>(indices, Span<float>.Empty, new bool[32768 * 256], new int[32768]));
        Assert.That(e!.ParamName, Is.EqualTo("x"));
        Assert.That(e.Message, Does.Contain("2147483648").And.Contain("got 0"));
    }


    // ---------------------------------------------------------------- 7. small ones

    private static MemoryStream Npy<T>(T[] values, int[] shape) where T : unmanaged
    {
        var stream = new MemoryStream();
        NpyFile.Write<T>(stream, values, shape);
        stream.Position = 0;
        return stream;
    }

    [Test]
    public void ToArray_ValueOutOfRange_NamesIndexAndValue()
    {
        NpyArray array = NpyFile.Read(Npy(new long[] { 1, 3_000_000_000, 2 }, [3]), "big.npy");
        var e = Assert.Throws<NumLstmFormatException>(() => array.ToArray<int>());
        Assert.That(e!.Message, Does.Contain("3000000000").And.Contain("index 1"));
        Assert.That(e.Message, Does.Not.Contain("data data"));
    }

    [Test]
    public void NpyRead_StreamPositionedPastItsEnd_ReportsZeroBytesLeft_NotANegativeCount()
    {
        MemoryStream stream = Npy(new float[] { 1, 2 }, [2]);
        stream.Position = stream.Length + 848;
        var e = Assert.Throws<NumLstmFormatException>(() => NpyFile.Read(stream, "s.npy"));
        Assert.That(e!.Message, Does.Contain("found 0").And.Not.Contain("-848"));
        stream.Position = stream.Length + 848;
        var st = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.Read(stream, "s.safetensors"));
        Assert.That(st!.Message, Does.Not.Contain("-848"));
    }

    [Test]
    public void OptimizerFactoryReturningNull_IsAnInvalidOperationException()
    {
        Sequential<float> model = ModelBuilder.Input(1).Lstm(2).Dense(1).Build<float>();
        var data = SequenceDataset.ForRegression(new float[4], 2, 2, 1, new float[2], 1);
        var e = Assert.Throws<InvalidOperationException>(() =>
            new Trainer(model).Fit(data, new TrainingOptions { Epochs = 1, OptimizerFactory = (_, _) => null! }));
        Assert.That(e!.Message, Does.Contain("OptimizerFactory").And.Contain("null"));
    }

    [Test]
    public void NpyDataset_Float64BeyondFloat32_IsRefusedNamingFileIndexAndValue()
    {
        string folder = NewFolder();
        string x = Path.Combine(folder, "x.npy"), labels = Path.Combine(folder, "y.npy"), targets = Path.Combine(folder, "t.npy");
        NpyFile.Write<double>(x, new double[] { 0, 1, 1e300, 2 }, [2, 2, 1]);
        NpyFile.Write<long>(labels, new long[] { 0, 1 }, [2]);
        var e = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(x, labels));
        Assert.That(e!.FilePath, Is.EqualTo(x));
        Assert.That(e.Message, Does.Contain("1E+300").And.Contain("index 2"));

        NpyFile.Write<double>(x, new double[] { 0, 1, 2, 3 }, [2, 2, 1]);
        NpyFile.Write<double>(targets, new double[] { 1, -1e39 }, [2]);
        var t = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadRegression(x, targets));
        Assert.That(t!.FilePath, Is.EqualTo(targets));
        Assert.That(t.Message, Does.Contain("-1E+39").And.Contain("index 1"));

        // Infinities and NaN written as such stay what they are (the trainer's NonFiniteInputs option decides).
        NpyFile.Write<double>(x, new double[] { 0, double.NaN, double.PositiveInfinity, 2 }, [2, 2, 1]);
        Assert.That(NpyDataset.LoadClassification(x, labels).X[2], Is.EqualTo(float.PositiveInfinity));
    }

    [Test]
    public void NpyHeader_DimensionWithLeadingZeros_IsRefused()
    {
        byte[] bytes = Npy(new float[6], [2, 3]).ToArray();
        string text = Encoding.Latin1.GetString(bytes);
        int newline = text.IndexOf('\n');
        string patched = text[..newline].Replace("(2, 3), }   ", "(0002, 3), }") + text[newline..];
        Assume.That(patched.Length, Is.EqualTo(text.Length), "the header has padding to give");
        var e = Assert.Throws<NumLstmFormatException>(() => NpyFile.Read(new MemoryStream(Encoding.Latin1.GetBytes(patched)), "z.npy"));
        Assert.That(e!.Field, Is.EqualTo("shape"));
        Assert.That(e.Message, Does.Contain("0002"));
    }
}
