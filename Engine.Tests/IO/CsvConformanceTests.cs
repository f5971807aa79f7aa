using System.Text;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

/// <summary>
/// CSV as Python's csv module (QUOTE_MINIMAL, QUOTE_NONNUMERIC, QUOTE_ALL, lineterminator "\r\n"), pandas' to_csv and
/// np.savetxt write it, with the quoting rules of RFC 4180 section 2.
/// </summary>
public sealed class CsvConformanceTests
{
    private static CsvTable Read(string text, bool hasHeader = true, char delimiter = ',', bool bom = false)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        if (bom)
            bytes = [0xEF, 0xBB, 0xBF, .. bytes];
        return CsvFile.ReadColumns(new MemoryStream(bytes), hasHeader, new CsvReadOptions { Delimiter = delimiter }, "t.csv");
    }

    [Test]
    public void PythonCsvWriter_QuoteMinimal_Crlf_QuotesAndDelimitersInNames()
    {
        // csv.writer(f).writerows([["a", "b,c", 'say "hi"'], [1.5, -2, 1e-05], [float("nan"), float("inf"), 0]])
        CsvTable table = Read("a,\"b,c\",\"say \"\"hi\"\"\"\r\n1.5,-2,1e-05\r\nnan,inf,0\r\n");

        Assert.That(table.ColumnNames, Is.EqualTo(new[] { "a", "b,c", "say \"hi\"" }));
        Assert.That(table["a"], Is.EqualTo(new[] { 1.5, double.NaN }));
        Assert.That(table["b,c"], Is.EqualTo(new[] { -2, double.PositiveInfinity }));
        Assert.That(table["say \"hi\""], Is.EqualTo(new[] { 1e-05, 0 }));
    }

    [Test]
    public void QuoteAllAndNonNumeric_LastRecordWithoutLineBreak_AndABom()
    {
        // QUOTE_ALL quotes the numbers too; RFC 4180 allows the last record without a line break.
        CsvTable all = Read("\"x\",\"y\"\r\n\"1\",\"2.5\"\r\n\"-3\",\"4e2\"", bom: true);
        Assert.That(all["x"], Is.EqualTo(new[] { 1.0, -3 }));
        Assert.That(all["y"], Is.EqualTo(new[] { 2.5, 400 }));

        CsvTable nonNumeric = Read("\"x\",\"y\"\n1.0,2.0\n");
        Assert.That(nonNumeric.ColumnNames, Is.EqualTo(new[] { "x", "y" }));
        Assert.That(nonNumeric.RowCount, Is.EqualTo(1));
    }

    [Test]
    public void PythonCsvWriter_LineBreaksInsideQuotedNames_AsRfc4180Section2_6()
    {
        // csv.writer(f).writerows([["temperature\n(°C)", "a\r\nb", "v"], [21.5, 1, 2]]): cells are written as they are,
        // so "\n" and "\r\n" sit inside quotes of a file whose records end in "\r\n"; csv.reader gives them back unchanged.
        CsvTable table = Read("\"temperature\n(°C)\",\"a\r\nb\",v\r\n21.5,1,2\r\n");

        Assert.That(table.ColumnNames, Is.EqualTo(new[] { "temperature\n(°C)", "a\r\nb", "v" }));
        Assert.That(table["temperature\n(°C)"], Is.EqualTo(new[] { 21.5 }));
        Assert.That(table["a\r\nb"], Is.EqualTo(new[] { 1.0 }));
        Assert.That(table["v"], Is.EqualTo(new[] { 2.0 }));
    }

    [Test]
    public void PandasToCsv_WithTheIndexColumn_AndNumPySavetxt()
    {
        // DataFrame.to_csv(): an unnamed index gives an empty first header cell; missing values are empty cells.
        CsvTable pandas = CsvFile.ReadColumns(new MemoryStream(Encoding.UTF8.GetBytes(",a,b\n0,0.1,\n1,0.2,3.0\n")), true,
            new CsvReadOptions { EmptyCells = CsvEmptyCells.NaN });
        Assert.That(pandas.ColumnNames, Is.EqualTo(new[] { "column0", "a", "b" }));
        Assert.That(pandas["b"], Is.EqualTo(new[] { double.NaN, 3.0 }));

        // np.savetxt(f, [[1, -2.5], [np.nan, -np.inf]], delimiter=","): '%.18e' and lowercase nan/inf.
        CsvTable numpy = Read("1.000000000000000000e+00,-2.500000000000000000e+00\nnan,-inf\n", hasHeader: false);
        Assert.That(numpy["column0"], Is.EqualTo(new[] { 1.0, double.NaN }));
        Assert.That(numpy["column1"], Is.EqualTo(new[] { -2.5, double.NegativeInfinity }));

        // np.savetxt's default delimiter is a single space.
        CsvTable spaced = Read("1.0 2.0\n3.0 4.0\n", hasHeader: false, delimiter: ' ');
        Assert.That(spaced["column1"], Is.EqualTo(new[] { 2.0, 4.0 }));
    }
}
