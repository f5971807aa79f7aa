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
