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
    private static string NewFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "numlstm-guard-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
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
}
