using System.Text;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

public sealed class CsvFileTests
{
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory();
    [TearDown] public void TearDown() => _dir.Dispose();

    private string WriteText(string text, string name = "data.csv") => _dir.Write(name, Encoding.UTF8.GetBytes(text));

    [Test]
    public void ReadColumns_WithHeader_ParsesInvariantNumbersQuotesAndBlankLines()
    {
        string path = WriteText("\uFEFFtime, price ,\"vol\"\r\n0,1.5,1e3\r\n\r\n1,-2.25E-2,\"7\"\n2 , NaN ,  -Infinity\n");

        CsvTable table = CsvFile.ReadColumns(path, hasHeader: true);

        Assert.That(table.ColumnNames, Is.EqualTo(new[] { "time", "price", "vol" }));
        Assert.That(table.RowCount, Is.EqualTo(3));
        Assert.That(table["time"], Is.EqualTo(new[] { 0.0, 1, 2 }));
        Assert.That(table["price"][..2], Is.EqualTo(new[] { 1.5, -0.0225 }));
        Assert.That(double.IsNaN(table["price"][2]));
        Assert.That(table["vol"], Is.EqualTo(new[] { 1000.0, 7, double.NegativeInfinity }));
    }

    [Test]
    public void ReadColumns_WithoutHeader_NamesColumnsByIndex_AndHonoursDelimiter()
    {
        string path = WriteText("1;2\n3;4\n");
        CsvTable table = CsvFile.ReadColumns(path, hasHeader: false, new CsvReadOptions { Delimiter = ';' });
        Assert.That(table.ColumnNames, Is.EqualTo(new[] { "column0", "column1" }));
        Assert.That(table.Columns[1], Is.EqualTo(new[] { 2.0, 4 }));
    }

    [Test]
    public void NonNumericCell_NamesFileLineAndColumn()
    {
        string path = WriteText("a,b\n1,2\n3,abc\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 3, column 2 'b'");
        Assert.That(e!.Message, Does.Contain("'abc'"));
    }

    [Test]
    public void CommaDecimal_IsNotANumber_InTheInvariantCulture()
    {
        string path = WriteText("a;b\n1,5;2\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, true, new CsvReadOptions { Delimiter = ';' }));
        SpecBytes.AssertNames(e, path, "line 2, column 1 'a'");
    }

    [Test]
    public void EmptyCell_IsAnErrorByDefault_OrNaNWhenAsked()
    {
        string path = WriteText("a,b\n1,\n, 4\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 2, column 2 'b'");

        CsvTable table = CsvFile.ReadColumns(path, true, new CsvReadOptions { EmptyCells = CsvEmptyCells.NaN });
        Assert.That(table["a"][0], Is.EqualTo(1.0));
        Assert.That(double.IsNaN(table["a"][1]) && double.IsNaN(table["b"][0]));
        Assert.That(table["b"][1], Is.EqualTo(4.0));
    }

    [Test]
    public void RaggedRow_IsRejectedWithItsLine()
    {
        string path = WriteText("a,b\n1,2\n3,4,5\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 3");
        Assert.That(e!.Message, Does.Contain("expected 2 cells, found 3"));
    }

    [TestCase("a,a\n1,2\n", "line 1, column 2")]
    [TestCase("a\n\"1\n", "line 2, column 1")]
    [TestCase("a\n1\"2\n", "line 2, column 1")]
    [TestCase("", "header")]
    public void MalformedStructure_IsRejected(string text, string field)
    {
        string path = WriteText(text);
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, field);
    }

    [Test]
    public void InvalidUtf8_IsRejected()
    {
        string path = _dir.Write("bin.csv", [(byte)'a', (byte)'\n', 0xFF, 0xFE, 0x31, (byte)'\n']);
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        Assert.That(e!.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain("UTF-8"));
    }

    [Test]
    public void LineLongerThanTheCap_NamesTheLineAndTheLimit()
    {
        string path = WriteText("a\n1234567890\n12345678901\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, true, new CsvReadOptions { MaxLineLength = 10 }));
        SpecBytes.AssertNames(e, path, "line 3");
        Assert.That(e!.Message, Does.Contain("at most 10 characters"));
    }

    [Test]
    public void LineLongerThanTheDefaultCap_IsRejected()
    {
        // One 5 MB cell: it used to be read whole (a 50 MB one took 450 MB).
        var text = new StringBuilder("a\n");
        text.Append('1', CsvReadOptions.DefaultMaxLineLength + 1).Append('\n');
        string path = WriteText(text.ToString());
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 2");
        Assert.That(e!.Message, Does.Contain($"at most {CsvReadOptions.DefaultMaxLineLength} characters"));
    }

    [Test]
    public void ZeroFilledTail_IsRejectedWithBoundedMemory()
    {
        // Crash damage: "a\n1" followed by 64 MB of zero bytes (sparse). It loaded as the number 1 (.NET ignores
        // trailing NULs) after building a 64-million-character line.
        string path = WriteText("a\n1");
        using (var stream = new FileStream(path, FileMode.Open)) stream.SetLength(64 << 20);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        SpecBytes.AssertNames(e, path, "line 2");
        Assert.That(allocated, Is.LessThan(16L << 20), "bytes allocated by the failed read");
    }

    [Test]
    public void DevZero_IsRejectedWithBoundedMemory()
    {
        Assume.That(File.Exists("/dev/zero"), "needs /dev/zero");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns("/dev/zero", hasHeader: true));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        SpecBytes.AssertNames(e, "/dev/zero", "line 1");
        Assert.That(allocated, Is.LessThan(16L << 20), "bytes allocated by the failed read");
    }

    [Test]
    public void MaxLineLengthBelowOne_IsAnArgumentError()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CsvFile.ReadColumns(new MemoryStream([(byte)'a']), true, new CsvReadOptions { MaxLineLength = 0 }));
        Assert.That(e!.ParamName, Is.EqualTo("options"));
    }

    [TestCase("\n")]
    [TestCase("\r\n")]
    [TestCase("\r")]
    public void InvalidUtf8_NamesItsLine_PastTheFirstBuffer(string lineBreak)
    {
        // 60,000 lines of "1" fill more than one 64 KB read; the bad byte sits on line 60,002.
        var bytes = new List<byte>(Encoding.ASCII.GetBytes("a" + lineBreak));
        for (int k = 0; k < 60_000; k++)
            bytes.AddRange(Encoding.ASCII.GetBytes("1" + lineBreak));
        bytes.AddRange([(byte)'2', 0xC3, (byte)'x']);
        bytes.AddRange(Encoding.ASCII.GetBytes(lineBreak + "3" + lineBreak));
        string path = _dir.Write("late.csv", bytes.ToArray());
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 60002");
        Assert.That(e!.Message, Does.Contain("UTF-8").And.Contain("[C3]"));
    }

    [Test]
    public void InvalidUtf8AfterAUtf8ByteOrderMark_IsRejected()
    {
        // With a BOM, .NET's StreamReader switched to a decoder that replaces bad bytes: the header read "a\uFFFD".
        string path = _dir.Write("bom.csv", [0xEF, 0xBB, 0xBF, (byte)'a', 0xFF, (byte)'\n', (byte)'1', (byte)'\n']);
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 1");
        Assert.That(e!.Message, Does.Contain("UTF-8").And.Contain("[FF]"));
    }

    [TestCase(new byte[] { 0xFF, 0xFE }, "UTF-16 little-endian")]
    [TestCase(new byte[] { 0xFE, 0xFF }, "UTF-16 big-endian")]
    [TestCase(new byte[] { 0xFF, 0xFE, 0, 0 }, "UTF-32 little-endian")]
    [TestCase(new byte[] { 0, 0, 0xFE, 0xFF }, "UTF-32 big-endian")]
    public void OtherUnicodeByteOrderMarks_AreRejectedByName(byte[] mark, string name)
    {
        // Such files were decoded as UTF-16/32 although CSV reading is documented as UTF-8 only.
        Encoding encoding = name switch
        {
            "UTF-16 little-endian" => new UnicodeEncoding(bigEndian: false, byteOrderMark: false),
            "UTF-16 big-endian" => new UnicodeEncoding(bigEndian: true, byteOrderMark: false),
            "UTF-32 little-endian" => new UTF32Encoding(bigEndian: false, byteOrderMark: false),
            _ => new UTF32Encoding(bigEndian: true, byteOrderMark: false),
        };
        string path = _dir.Write("wide.csv", [.. mark, .. encoding.GetBytes("a,b\n1,2\n")]);
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 1");
        Assert.That(e!.Message, Does.Contain($"found a {name} byte order mark"));
    }

    // The cell is before + (char)code + after; the code is passed as a number because NUnit drops test cases whose
    // names hold characters XML cannot carry (U+0001, U+001B).
    [TestCase("1", 0x00, "", 2)]
    [TestCase("1", 0x00, "\0\0", 2)]
    [TestCase("", 0x00, "1", 1)]
    [TestCase("\"1", 0x00, "\"", 2)]
    [TestCase("1", 0x01, "", 2)]
    [TestCase("1", 0x0B, "", 2)]
    [TestCase("", 0x0C, "1", 1)]
    [TestCase("1", 0x1B, "", 2)]
    [TestCase("1", 0x1F, "", 2)]
    [TestCase("1", 0x7F, "", 2)]
    [TestCase("1", 0x85, "", 2)]
    public void ControlCharacterInANumericCell_IsRejectedNamingLineAndColumn(string before, int code, string after, int position)
    {
        // "1\0" read as 1: .NET's parser ignores trailing NULs, so a zero-filled tail loaded silently.
        string path = WriteText($"a,b\n5,{before}{(char)code}{after}\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 2, column 2 'b'");
        Assert.That(e!.Message, Does.Contain($"U+{code:X4} at position {position}"));
    }

    [Test]
    public void TabsAroundCells_AreStillPadding()
    {
        CsvTable table = CsvFile.ReadColumns(WriteText("a,b\n\t1\t,\"2\"\t\n"), hasHeader: true);
        Assert.That((table["a"][0], table["b"][0]), Is.EqualTo((1.0, 2.0)));
        CsvTable tabbed = CsvFile.ReadColumns(WriteText("a\tb\n 1 \t 2 \n"), true, new CsvReadOptions { Delimiter = '\t' });
        Assert.That((tabbed["a"][0], tabbed["b"][0]), Is.EqualTo((1.0, 2.0)));
    }

    [TestCase("inf", double.PositiveInfinity)]
    [TestCase("+inf", double.PositiveInfinity)]
    [TestCase("-inf", double.NegativeInfinity)]
    [TestCase("Inf", double.PositiveInfinity)]
    [TestCase("-INF", double.NegativeInfinity)]
    [TestCase(" \"-Inf\" ", double.NegativeInfinity)]
    [TestCase("infinity", double.PositiveInfinity)]
    [TestCase("-Infinity", double.NegativeInfinity)]
    public void InfinitySpellings_OfPythonAndNumPy_AreRead(string cell, double expected)
    {
        // Python's csv module and np.savetxt write inf and -inf; float() reads them in any case.
        CsvTable table = CsvFile.ReadColumns(WriteText($"a\n{cell}\n"), hasHeader: true);
        Assert.That(table["a"][0], Is.EqualTo(expected));
    }

    [TestCase("nan")]
    [TestCase("-NaN")]
    public void NaNSpellings_AreRead(string cell) =>
        Assert.That(double.IsNaN(CsvFile.ReadColumns(WriteText($"a\n{cell}\n"), hasHeader: true)["a"][0]));

    [TestCase("in")]
    [TestCase("infx")]
    [TestCase("--inf")]
    [TestCase("+-inf")]
    [TestCase("i nf")]
    [TestCase("+")]
    public void NearMissesOfInf_AreRejected(string cell)
    {
        string path = WriteText($"a\n{cell}\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 2, column 1 'a'");
    }

    // Quoted cells that span lines (RFC 4180 section 2.6). Expected values follow Python's csv.reader with newline='',
    // which keeps each line break inside quotes as the file has it.

    [TestCase("\n", "\n")]
    [TestCase("\r\n", "\r\n")]
    [TestCase("\r", "\r")]
    [TestCase("\n", "\r\n")] // Excel and csv.writer: "\n" inside a cell, "\r\n" between records
    [TestCase("\r\n", "\n")]
    public void QuotedHeaderCell_WithALineBreakInside_KeepsTheBreakAsInTheFile(string inside, string recordEnd)
    {
        string path = WriteText($"\"temperature{inside}(°C)\",value{recordEnd}21.5,1{recordEnd}22,2{recordEnd}");

        CsvTable table = CsvFile.ReadColumns(path, hasHeader: true);

        string name = $"temperature{inside}(°C)";
        Assert.That(table.ColumnNames, Is.EqualTo(new[] { name, "value" }));
        Assert.That(table[name], Is.EqualTo(new[] { 21.5, 22 }));
        Assert.That(table["value"], Is.EqualTo(new[] { 1.0, 2 }));
    }

    [Test]
    public void CrlfInsideQuotes_SplitAcrossTwoReadBlocks_IsKeptWhole()
    {
        // The reader decodes 65,536 bytes at a time: the '\r' is the last byte of the first block, the '\n' the first
        // of the second, so "\r\n" is only known once the next line is read.
        string first = new('x', (1 << 16) - 2);
        string path = WriteText($"\"{first}\r\ny\",b\r\n1,2\r\n");

        CsvTable table = CsvFile.ReadColumns(path, hasHeader: true);

        Assert.That(table.ColumnNames, Is.EqualTo(new[] { first + "\r\ny", "b" }));
        Assert.That(table["b"], Is.EqualTo(new[] { 2.0 }));
    }

    [TestCase("\n")]
    [TestCase("\r\n")]
    [TestCase("\r")]
    public void BlankLineInsideQuotes_IsPartOfTheCell_NotSkipped(string lineBreak)
    {
        string n = lineBreak;
        CsvTable table = CsvFile.ReadColumns(WriteText($"\"a{n}{n}b\",\"c{n}  {n}d\"{n}1,2{n}"), hasHeader: true);
        Assert.That(table.ColumnNames, Is.EqualTo(new[] { $"a{n}{n}b", $"c{n}  {n}d" }));
        Assert.That(table.RowCount, Is.EqualTo(1));
    }

    [Test]
    public void QuotedNumericCellSpanningLines_IsNotANumber_NamingTheRecordsFirstLineAndColumn()
    {
        string path = WriteText("a,b\n0,1\n1,\"2\n3\"\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "record starting at line 3, column 2 'b'");
        Assert.That(e!.Message, Does.Contain("expected a number, found a line break inside the quoted cell at position 2"));
    }

    [TestCase("\n")]
    [TestCase("\r\n")]
    [TestCase("\r")]
    public void RecordsAfterAMultiLineRecord_AreNamedByTheirPhysicalLine(string n)
    {
        // Lines: 1-3 the header (a blank line inside its quotes), 4 "1,2", 5 blank, 6 "3,abc".
        string path = WriteText($"\"x{n}{n}y\",b{n}1,2{n}{n}3,abc{n}");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "line 6, column 2 'b'");
        Assert.That(e!.Field, Is.EqualTo("line 6, column 2 'b'"));

        string ragged = WriteText($"a{n}\"1{n}\",2{n}3{n}4,5{n}", "ragged.csv");
        var first = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(ragged, hasHeader: true));
        Assert.That(first!.Field, Is.EqualTo("record starting at line 2"));
        Assert.That(first.Message, Does.Contain("expected 1 cells, found 2"));
    }

    [Test]
    public void CellCountAfterAMultiLineRecord_NamesTheLaterLine()
    {
        // Lines: 1-2 the header, 3 and 4 two records, 5 a record of one cell.
        string path = WriteText("\"a\nx\",b\n1,2\n3,4\n5\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        Assert.That(e!.Field, Is.EqualTo("line 5"));
        Assert.That(e.Message, Does.Contain("expected 2 cells, found 1"));
    }

    [TestCase("a,b\n1,2\n3,\"4\n5\n\n6\n", "line 3, column 2", "")]
    [TestCase("a,b\n1,2\n3,\"4", "line 3, column 2", "")]
    [TestCase("a,b\n\"1\n\",\"2\n3\n", "record starting at line 2, column 2", "the quote opened on line 3")]
    public void UnclosedQuoteAtTheEndOfTheFile_NamesWhereTheQuoteOpened(string text, string field, string more)
    {
        string path = WriteText(text);
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, field);
        Assert.That(e!.Field, Is.EqualTo(field));
        Assert.That(e.Message, Does.Contain("expected a closing quote").And.Contain("found the end of the file").And.Contain(more));
    }

    [TestCase("\n", 62)]
    [TestCase("\r\n", 64)]
    public void RecordSpanningLines_HoldsAtMostMaxLineLengthCharacters_ItsInnerLineBreaksCounted(string n, int length)
    {
        // One quoted header cell over three lines of 20 characters each: 60 characters plus two inner line breaks.
        string name = $"\"{new string('a', 19)}{n}{new string('b', 20)}{n}{new string('c', 19)}\"";
        string path = WriteText($"{name}{n}1{n}");

        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, true, new CsvReadOptions { MaxLineLength = 50 }));
        SpecBytes.AssertNames(e, path, "record starting at line 1");
        Assert.That(e!.Message, Does.Contain("at most 50 characters in a record"));

        var justShort = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, true, new CsvReadOptions { MaxLineLength = length - 1 }));
        Assert.That(justShort!.Field, Is.EqualTo("record starting at line 1"));

        CsvTable table = CsvFile.ReadColumns(path, true, new CsvReadOptions { MaxLineLength = length });
        Assert.That(table.ColumnNames[0], Has.Length.EqualTo(length - 2));
        Assert.That(table.Columns[0], Is.EqualTo(new[] { 1.0 }));
    }

    [Test]
    public void LongLineInsideAnOpenQuote_IsNamedByTheRecordsFirstLine()
    {
        // Line 3 alone is longer than the cap: the reader is asked only for what the record has left.
        string path = WriteText($"a\n\"1\n{new string('2', 60)}\"\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, true, new CsvReadOptions { MaxLineLength = 50 }));
        SpecBytes.AssertNames(e, path, "record starting at line 2");
        Assert.That(e!.Message, Does.Contain("at most 50 characters in a record"));
    }

    [Test]
    public void LineInsideAnOpenQuote_IsReadNoFurtherThanWhatTheRecordHasLeft()
    {
        // MaxLineLength 400,000; line 1 holds 300,001 characters, line 2 (in the same quote) 390,000, within the line cap
        // but past the record's. The reader may take 100,000 characters of line 2 and at most one 64 KiB block more, so
        // the stream is never asked past ~530,000 bytes; reading line 2 whole would take 690,000.
        string text = $"\"{new string('a', 300_000)}\n{new string('b', 390_000)}\"\n1\n";
        var stream = new ReadLimitStream(Encoding.ASCII.GetBytes(text), limit: 600_000);
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(stream, true, new CsvReadOptions { MaxLineLength = 400_000 }, "big.csv"));
        SpecBytes.AssertNames(e, "big.csv", "record starting at line 1");
        Assert.That(e!.Message, Does.Contain("at most 400000 characters in a record"));
    }

    // A stream that fails once more than `limit` bytes have been read from it. (A MemoryStream subclass's span reads
    // come through this overload.)
    private sealed class ReadLimitStream(byte[] bytes, long limit) : MemoryStream(bytes)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            int read = base.Read(buffer, offset, count);
            if (Position > limit)
                throw new IOException($"read past byte {limit}");
            return read;
        }
    }

    [Test]
    public void QuoteThatNeverCloses_OverMillionsOfLines_IsRejectedWithBoundedMemory()
    {
        // A hostile file: one opening quote, then 5 million line breaks. Every line is short; the record is not.
        var bytes = new byte[3 + 5_000_000];
        Encoding.ASCII.GetBytes("a\n\"").CopyTo(bytes, 0);
        bytes.AsSpan(3).Fill((byte)'\n');
        string path = _dir.Write("open.csv", bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        SpecBytes.AssertNames(e, path, "record starting at line 2");
        Assert.That(e!.Message, Does.Contain($"at most {CsvReadOptions.DefaultMaxLineLength} characters in a record"));
        Assert.That(allocated, Is.LessThan(16L << 20), "bytes allocated by the failed read");
    }

    [TestCase("\n")]
    [TestCase("\r\n")]
    public void DoubledQuoteRightBeforeALineBreak_IsAQuoteInTheCell(string n)
    {
        CsvTable table = CsvFile.ReadColumns(WriteText($"\"say \"\"{n}hi\"\"\",b{n}1,2{n}"), hasHeader: true);
        Assert.That(table.ColumnNames, Is.EqualTo(new[] { $"say \"{n}hi\"", "b" }));
        Assert.That(table["b"], Is.EqualTo(new[] { 2.0 }));
    }

    [TestCase("\"x\"\n,y\n1\n", "line 2")]
    [TestCase("\"x\"  \n,y\n1\n", "line 2")]
    [TestCase("\"x\ny\"\n,z\n1\n", "line 3")]
    public void LineBreakAfterAClosingQuote_EndsTheRecord(string text, string field)
    {
        // The delimiter on the next line starts a new record of two cells (csv.reader gives ['x'], ['', 'y']).
        string path = WriteText(text);
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, true, new CsvReadOptions { EmptyCells = CsvEmptyCells.NaN }));
        Assert.That(e!.Field, Is.EqualTo(field));
        Assert.That(e.Message, Does.Contain("expected 1 cells, found 2"));
    }

    [Test]
    public void TextAfterAClosingQuoteOnALaterLine_NamesTheRecord()
    {
        string path = WriteText("a,\"b\nc\"d\n1,2\n");
        var e = Assert.Throws<NumLstmFormatException>(() => CsvFile.ReadColumns(path, hasHeader: true));
        SpecBytes.AssertNames(e, path, "record starting at line 1, column 2");
        Assert.That(e!.Message, Does.Contain("expected a delimiter after the closing quote, found 'd'"));
    }

    [Test]
    public void UnknownColumn_ListsTheColumnsPresent()
    {
        CsvTable table = CsvFile.ReadColumns(WriteText("x,y\n1,2\n"), hasHeader: true);
        var e = Assert.Throws<NumLstmFormatException>(() => _ = table["z"]);
        Assert.That(e!.Message, Does.Contain("x, y"));
    }
}

public sealed class AtomicFileTests
{
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory();
    [TearDown] public void TearDown() => _dir.Dispose();

    [Test]
    public void WriterThatThrowsMidway_LeavesPreviousFileByteIdentical_AndNoTempFile()
    {
        string path = _dir.File("model.safetensors");
        byte[] previous = [1, 2, 3, 4, 5];
        File.WriteAllBytes(path, previous);

        var e = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[100_000]);
            throw new InvalidOperationException("disk full (simulated)");
        }));

        Assert.That(e!.Message, Does.Contain("simulated"), "the writer's own exception comes through unchanged");
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(previous));
        Assert.That(Directory.GetFiles(_dir.Path), Is.EqualTo(new[] { path }));
    }

    [Test]
    public void SuccessfulWrite_ReplacesTheFile_AndLeavesNoTempFile()
    {
        string path = _dir.File("a.bin");
        File.WriteAllBytes(path, [9, 9, 9, 9, 9, 9]);
        AtomicFile.Write(path, s => s.Write([1, 2]));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 1, 2 }));
        Assert.That(Directory.GetFiles(_dir.Path), Is.EqualTo(new[] { path }));
    }

    [Test]
    public void SafeTensorsWrite_WithAFailingTensorList_LeavesPreviousFile()
    {
        string path = _dir.File("ckpt.safetensors");
        SafeTensorsFile.Write(path, [SafeTensor.Create<float>("w", [1f, 2f], 2)]);
        byte[] previous = File.ReadAllBytes(path);

        static IEnumerable<SafeTensor> Failing()
        {
            yield return SafeTensor.Create<float>("w", [3f, 4f], 2);
            throw new InvalidOperationException("producer failed");
        }

        Assert.Throws<InvalidOperationException>(() => SafeTensorsFile.Write(path, Failing()));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(previous));
        Assert.That(Directory.GetFiles(_dir.Path), Has.Length.EqualTo(1));
    }

    [Test]
    public void MissingDirectory_GivesIOExceptionNamingThePath()
    {
        string path = Path.Combine(_dir.Path, "no-such-dir", "x.npy");
        var e = Assert.Throws<DirectoryNotFoundException>(() => NpyFile.Write<float>(path, [1f], [1]));
        Assert.That(e, Is.InstanceOf<IOException>());
        Assert.That(e!.Message, Does.Contain(path));
    }

    [Test]
    public void TargetIsADirectory_GivesIOExceptionNamingThePath_AndNoTempFile()
    {
        string path = _dir.File("taken");
        Directory.CreateDirectory(path);
        var e = Assert.Catch(() => AtomicFile.Write(path, s => s.Write([1])));
        Assert.That(e, Is.InstanceOf<IOException>().Or.InstanceOf<UnauthorizedAccessException>());
        Assert.That(e!.Message, Does.Contain(path));
        Assert.That(Directory.GetFiles(_dir.Path), Is.Empty);
    }
}
