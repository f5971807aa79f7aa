using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using NumLstm.Data;

namespace NumLstm.Tests.Data;

[TestFixture]
public class JapaneseVowelsTests
{
    private static (SequenceDataset Train, SequenceDataset Test) _data;

    [OneTimeSetUp]
    public void Load() => _data = JapaneseVowels.Load(DataPaths.JapaneseVowels);

    private static JsonElement Split(string split)
    {
        using JsonDocument header = JsonDocument.Parse(File.ReadAllText(Path.Combine(DataPaths.JapaneseVowels, "header.json")));
        return header.RootElement.GetProperty("splits").GetProperty(split).Clone();
    }

    [TestCase("train", 270)]
    [TestCase("test", 370)]
    public void Load_ShapesClassCountsAndLengths_MatchHeader(string split, int count)
    {
        SequenceDataset data = split == "train" ? _data.Train : _data.Test;
        JsonElement header = Split(split);
        Assert.That((data.Count, data.Steps, data.Features), Is.EqualTo((count, 29, 12)));
        Assert.That(data.Task, Is.EqualTo(TaskKind.Classification));
        Assert.That(data.ClassCount, Is.EqualTo(9));
        int[] expectedCounts = header.GetProperty("class_counts").EnumerateObject()
            .OrderBy(p => int.Parse(p.Name, CultureInfo.InvariantCulture)).Select(p => p.Value.GetInt32()).ToArray();
        Assert.That(data.ClassCounts(), Is.EqualTo(expectedCounts));
        Assert.That(data.Lengths!.Min(), Is.EqualTo(header.GetProperty("length_min").GetInt32()));
        Assert.That(data.Lengths!.Max(), Is.EqualTo(header.GetProperty("length_max").GetInt32()));
        Assert.That(data.Lengths!.Average(), Is.EqualTo(header.GetProperty("length_mean").GetDouble()).Within(1e-9));
        Assert.That(data.Lengths, Is.All.InRange(7, 29));
    }

    [Test]
    public void Load_LabelsAreZeroBased_FromTheOneBasedMetaFile()
    {
        string[] rows = File.ReadAllLines(Path.Combine(DataPaths.JapaneseVowels, "jv_test_meta.csv"));
        int[] fileLabels = rows.Skip(1).Select(r => int.Parse(r.Split(',')[0], CultureInfo.InvariantCulture)).ToArray();
        Assert.That(_data.Test.Labels, Is.EqualTo(fileLabels.Select(l => l - 1)));
        Assert.That(_data.Test.Labels!.Min(), Is.EqualTo(0));
    }

    [Test]
    public void Load_Values_MatchARawLittleEndianRead_AndPaddingIsZero()
    {
        using var gzip = new GZipStream(File.OpenRead(Path.Combine(DataPaths.JapaneseVowels, "jv_train_X.f32.gz")), CompressionMode.Decompress);
        var head = new byte[16];
        gzip.ReadExactly(head);
        float first = BinaryPrimitives.ReadSingleLittleEndian(head);
        Assert.That(_data.Train.X[0], Is.EqualTo(first));
        Assert.That(first, Is.EqualTo(1.860936f)); // first value of the UEA .ts source
        Assert.That(_data.Train.X[1], Is.EqualTo(BinaryPrimitives.ReadSingleLittleEndian(head.AsSpan(4))));

        SequenceDataset train = _data.Train;
        for (int n = 0; n < train.Count; n++)
        {
            ReadOnlySpan<float> sequence = train.Sequence(n);
            int length = train.Lengths![n];
            Assert.That(sequence[((length - 1) * 12)..(length * 12)].ToArray(), Has.Some.Not.EqualTo(0f), $"last valid frame of {n}");
            Assert.That(sequence[(length * 12)..].ToArray(), Is.All.EqualTo(0f), $"padding of {n}");
        }
    }

    [Test]
    public void Load_Layout_MatchesTheOriginalTsFile()
    {
        // The UEA .ts file lists, per sequence, 12 ':'-separated dimensions, each a comma list over time, then the label.
        string folder = DataPaths.RequireShared("japanese_vowels");
        using var reader = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(folder, "JapaneseVowels_TRAIN.ts.gz")), CompressionMode.Decompress));
        string? line;
        while ((line = reader.ReadLine()) is not null && (line.StartsWith('#') || line.StartsWith('@') || line.Length == 0)) { }
        Assert.That(line, Is.Not.Null);
        string[] dimensions = line!.Split(':');
        Assert.That(dimensions, Has.Length.EqualTo(13));
        float[][] values = dimensions.Take(12).Select(d => d.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.That(values[0], Has.Length.EqualTo(_data.Train.Lengths![0]));
        Assert.That(_data.Train.Labels![0], Is.EqualTo(int.Parse(dimensions[12], CultureInfo.InvariantCulture) - 1));
        for (int t = 0; t < values[0].Length; t++)
            for (int c = 0; c < 12; c++)
                Assert.That(_data.Train.X[t * 12 + c], Is.EqualTo(values[c][t]), $"(0, {t}, {c})");
    }

    [TestCase("train", "JapaneseVowels_TRAIN.ts.gz", new[] { 30, 30, 30, 30, 30, 30, 30, 30, 30 })]
    [TestCase("test", "JapaneseVowels_TEST.ts.gz", new[] { 31, 35, 88, 44, 29, 24, 40, 50, 29 })]
    public void Load_EverySequence_MatchesTheOriginalTsFile_AndSpeakersComeInTheUciBlocks(string split, string tsFile, int[] blocks)
    {
        // UCI labels the speakers by block: the file lists speaker 1's utterances, then speaker 2's, ..., in blocks of
        // the published sizes. Every label, length and value is compared with the UEA .ts copy, read here as text.
        SequenceDataset data = split == "train" ? _data.Train : _data.Test;
        string folder = DataPaths.RequireShared("japanese_vowels");
        using var reader = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(folder, tsFile)), CompressionMode.Decompress));
        var rows = new List<string>();
        bool inData = false;
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            if (inData && line.Trim().Length > 0) rows.Add(line);
            else if (line.Trim().Equals("@data", StringComparison.OrdinalIgnoreCase)) inData = true;
        }
        Assert.That(rows, Has.Count.EqualTo(data.Count));
        int[] expectedLabels = blocks.SelectMany((size, speaker) => Enumerable.Repeat(speaker, size)).ToArray();
        Assert.That(data.Labels, Is.EqualTo(expectedLabels));
        for (int n = 0; n < rows.Count; n++)
        {
            string[] dimensions = rows[n].Split(':');
            Assert.That(dimensions, Has.Length.EqualTo(13), $"row {n}");
            Assert.That(data.Labels![n], Is.EqualTo(int.Parse(dimensions[12], CultureInfo.InvariantCulture) - 1), $"label of {n}");
            float[][] values = dimensions.Take(12).Select(d => d.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
            Assert.That(values.Select(v => v.Length).Distinct().Single(), Is.EqualTo(data.Lengths![n]), $"length of {n}");
            ReadOnlySpan<float> sequence = data.Sequence(n);
            for (int t = 0; t < data.Steps; t++)
                for (int c = 0; c < 12; c++)
                {
                    float expected = t < values[c].Length ? values[c][t] : 0f;
                    if (sequence[t * 12 + c] != expected)
                        Assert.Fail($"({n}, {t}, {c}): {sequence[t * 12 + c]}, the .ts file has {expected}");
                }
        }
    }

    private static string CopyToTemp()
    {
        string temp = Path.Combine(Path.GetTempPath(), "numlstm-jv-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(temp);
        foreach (string file in Directory.GetFiles(DataPaths.JapaneseVowels))
            File.Copy(file, Path.Combine(temp, Path.GetFileName(file)));
        return temp;
    }

    [Test]
    public void Load_ChangedValue_FailsTheSha256Check_NamingTheFile()
    {
        string temp = CopyToTemp();
        try
        {
            string path = Path.Combine(temp, "jv_test_X.f32.gz");
            byte[] raw;
            using (var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress))
            using (var buffer = new MemoryStream()) { gzip.CopyTo(buffer); raw = buffer.ToArray(); }
            raw[100] ^= 1;
            using (var output = new GZipStream(File.Create(path), CompressionLevel.Fastest)) output.Write(raw);

            var e = Assert.Throws<InvalidDataException>(() => JapaneseVowels.Load(temp));
            Assert.That(e!.Message, Does.Contain("jv_test_X.f32.gz").And.Contain("SHA-256"));
        }
        finally { Directory.Delete(temp, recursive: true); }
    }

    [Test]
    public void Load_MetaWithAMissingRow_FailsNamingTheFileAndCounts()
    {
        string temp = CopyToTemp();
        try
        {
            string meta = Path.Combine(temp, "jv_train_meta.csv");
            File.WriteAllLines(meta, File.ReadAllLines(meta).SkipLast(1));
            var e = Assert.Throws<InvalidDataException>(() => JapaneseVowels.Load(temp));
            Assert.That(e!.Message, Does.Contain("jv_train_meta.csv").And.Contain("expected 270 rows").And.Contain("got 269"));
        }
        finally { Directory.Delete(temp, recursive: true); }
    }

    [Test]
    public void Load_MissingFolder_Throws() =>
        Assert.Throws<DirectoryNotFoundException>(() => JapaneseVowels.Load(Path.Combine(DataPaths.JapaneseVowels, "no-such-folder")));
}

[TestFixture]
public class HarTests
{
    [Test]
    public void Load_ShapesLabelsSubjectsAndValues_MatchHeaderAndRawFile()
    {
        string folder = DataPaths.RequireShared("har");
        var (train, test) = Har.Load(folder);
        using JsonDocument header = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "header.json")));
        string[] classes = header.RootElement.GetProperty("classes").EnumerateArray().Select(e => e.GetString()!).ToArray();
        foreach (var (name, data) in new[] { ("train", train), ("test", test) })
        {
            JsonElement split = header.RootElement.GetProperty("splits").GetProperty(name);
            int[] shape = split.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.That(new[] { data.Count, data.Steps, data.Features }, Is.EqualTo(shape), name);
            int[] expected = classes.Select(c => split.GetProperty("class_counts").GetProperty(c).GetInt32()).ToArray();
            Assert.That(data.ClassCounts(), Is.EqualTo(expected), name);
            Assert.That(data.Lengths, Is.Null);
            Assert.That(data.ClassNames, Is.EqualTo(classes));
            int[] subjects = split.GetProperty("subjects").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.That(data.Groups!.Distinct().Order(), Is.EqualTo(subjects), name);
        }
        Assert.That((train.Count, test.Count), Is.EqualTo((7415, 2996)));

        using var gzip = new GZipStream(File.OpenRead(Path.Combine(folder, "har_test_X.f32.gz")), CompressionMode.Decompress);
        var head = new byte[9 * 4];
        gzip.ReadExactly(head);
        for (int c = 0; c < 9; c++)
            Assert.That(test.X[c], Is.EqualTo(BinaryPrimitives.ReadSingleLittleEndian(head.AsSpan(c * 4))), $"channel {c}");
        string firstMeta = File.ReadLines(Path.Combine(folder, "har_test_meta.csv")).Skip(1).First();
        Assert.That(test.Labels![0], Is.EqualTo(int.Parse(firstMeta.Split(',')[0], CultureInfo.InvariantCulture) - 1));

        // Per-channel train mean of channel 6 (total_acc_x) against header.json.
        double sum = 0;
        for (int k = 6; k < train.X.Length; k += 9) sum += train.X[k];
        double headerMean = header.RootElement.GetProperty("splits").GetProperty("train").GetProperty("channel_mean")[6].GetDouble();
        Assert.That(sum / (train.Count * 128), Is.EqualTo(headerMean).Within(1e-5));
    }
}

[TestFixture]
public class Co2Tests
{
    [Test]
    public void Load_ReadsTheFilledColumn_MatchingHeaderStats()
    {
        string folder = DataPaths.RequireShared("co2");
        float[] series = Co2.Load(Path.Combine(folder, "co2_weekly_mauna_loa.csv"));
        using JsonDocument header = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "header.json")));
        JsonElement stats = header.RootElement.GetProperty("stats_filled");
        Assert.That(series, Has.Length.EqualTo(header.RootElement.GetProperty("rows").GetInt32()));
        Assert.That(series[0], Is.EqualTo(316.1f));
        Assert.That(series.Min(), Is.EqualTo((float)stats.GetProperty("min").GetDouble()));
        Assert.That(series.Max(), Is.EqualTo((float)stats.GetProperty("max").GetDouble()));
        Assert.That(series.Average(v => (double)v), Is.EqualTo(stats.GetProperty("mean").GetDouble()).Within(1e-3));
    }

    [Test]
    public void Load_BadCell_FailsNamingLineAndColumn()
    {
        string path = Path.Combine(Path.GetTempPath(), "numlstm-co2-" + Guid.NewGuid().ToString("N") + ".csv");
        try
        {
            File.WriteAllLines(path, ["date,co2_ppmv,co2_ppmv_filled,missing", "1958-03-29,316.1,316.10,0", "1958-04-05,,x,1"]);
            var e = Assert.Throws<InvalidDataException>(() => Co2.Load(path));
            Assert.That(e!.Message, Does.Contain("line 3").And.Contain("co2_ppmv_filled").And.Contain("'x'"));
        }
        finally { File.Delete(path); }
    }

    [TestCase("-999.99")]
    [TestCase("-99.99")]
    [TestCase("0")]
    public void Load_MissingValueMarker_IsRejected_NotReadAsAConcentration(string cell)
    {
        // NOAA's weekly Mauna Loa files write -999.99 for a week without data (older ones -99.99); read as a number it
        // became a CO2 level of -999.99 ppmv and a weekly change of about -1300 ppmv in the windows.
        string path = TempCsv(Encoding.UTF8.GetBytes($"date,co2_ppmv,co2_ppmv_filled,missing\n1958-03-29,316.1,316.10,0\n1958-04-05,{cell},{cell},0\n"));
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => Co2.Load(path));
            Assert.That(e!.Message, Does.Contain(path).And.Contain("line 3, column 'co2_ppmv_filled'").And.Contain(cell).And.Contain("missing"));
        }
        finally { File.Delete(path); }
    }

    private static string TempCsv(byte[] bytes)
    {
        string path = Path.Combine(Path.GetTempPath(), "numlstm-co2-" + Guid.NewGuid().ToString("N") + ".csv");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Test]
    public void Load_CellWithATrailingNul_FailsNamingLineAndColumn()
    {
        // float.TryParse ignores trailing NULs: "316.10\0" read as 316.1.
        string path = TempCsv(Encoding.UTF8.GetBytes("date,co2_ppmv,co2_ppmv_filled,missing\n1958-03-29,316.1,316.10\0,0\n"));
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => Co2.Load(path));
            Assert.That(e!.Message, Does.Contain(path).And.Contain("line 2, column 'co2_ppmv_filled'").And.Contain("U+0000"));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void Load_ZeroFilledTail_FailsWithBoundedMemory()
    {
        string path = TempCsv(Encoding.UTF8.GetBytes("co2_ppmv_filled\n316.1\n316.2"));
        try
        {
            using (var stream = new FileStream(path, FileMode.Open)) stream.SetLength(64 << 20);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<InvalidDataException>(() => Co2.Load(path));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(e!.Message, Does.Contain(path).And.Contain("line 3").And.Contain("characters"));
            Assert.That(allocated, Is.LessThan(16L << 20), "bytes allocated by the failed load");
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void Load_InvalidUtf8_FailsNamingTheLine()
    {
        // It was replaced by U+FFFD without a word.
        string path = TempCsv([.. Encoding.UTF8.GetBytes("note,co2_ppmv_filled\n"), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes(",315.5\n")]);
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => Co2.Load(path));
            Assert.That(e!.Message, Does.Contain(path).And.Contain("line 2").And.Contain("UTF-8"));
        }
        finally { File.Delete(path); }
    }
}
