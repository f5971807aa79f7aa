using NumLstm.Data;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

public class NpyDatasetTests
{
    private string folder = "";

    [SetUp]
    public void Create() => Directory.CreateDirectory(folder = Path.Combine(Path.GetTempPath(), "numlstm-npyds-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void Delete() => Directory.Delete(folder, true);

    private string P(string name) => Path.Combine(folder, name);

    [Test]
    public void LoadClassification_ReadsInputsLabelsAndLengths()
    {
        double[] x = Enumerable.Range(0, 2 * 3 * 2).Select(k => k * 0.5).ToArray();
        NpyFile.Write<double>(P("x.npy"), x, new[] { 2, 3, 2 });
        NpyFile.Write<long>(P("y.npy"), new long[] { 1, 0 }, new[] { 2 });
        NpyFile.Write<int>(P("len.npy"), new[] { 3, 2 }, new[] { 2 });
        SequenceDataset data = NpyDataset.LoadClassification(P("x.npy"), P("y.npy"), classCount: 2, lengthsPath: P("len.npy"));
        Assert.That(data.X, Is.EqualTo(x.Select(v => (float)v)));
        Assert.That(data.Labels, Is.EqualTo(new[] { 1, 0 }));
        Assert.That(data.Mask(), Is.EqualTo(new[] { true, true, true, true, true, false }));
    }

    [Test]
    public void LoadRegression_ReadsTargetWidths()
    {
        NpyFile.Write<float>(P("x.npy"), new float[4 * 5 * 1], new[] { 4, 5, 1 });
        NpyFile.Write<float>(P("t.npy"), new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, new[] { 4, 2 });
        SequenceDataset data = NpyDataset.LoadRegression(P("x.npy"), P("t.npy"));
        Assert.That(data.TargetWidth, Is.EqualTo(2));
        Assert.That(data.Targets, Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }));
    }

    [Test]
    public void MismatchedFiles_NameTheFileAndField()
    {
        NpyFile.Write<float>(P("x.npy"), new float[6], new[] { 2, 3, 1 });
        NpyFile.Write<int>(P("y.npy"), new[] { 0, 1, 2 }, new[] { 3 });
        var rows = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y.npy")));
        Assert.That(rows!.Message, Does.Contain("y.npy").And.Contain("2 rows"));
        NpyFile.Write<int>(P("y2.npy"), new[] { 0, 5 }, new[] { 2 });
        var label = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y2.npy"), classCount: 3));
        Assert.That(label!.Message, Does.Contain("labels[1]").And.Contain("found 5"));
        NpyFile.Write<float>(P("flat.npy"), new float[6], new[] { 6 });
        var rank = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadRegression(P("flat.npy"), P("y.npy")));
        Assert.That(rank!.Message, Does.Contain("flat.npy").And.Contain("[N, T, F]"));
        NpyFile.Write<int>(P("len.npy"), new[] { 3, 4 }, new[] { 2 });
        var length = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y2.npy"), 9, P("len.npy")));
        Assert.That(length!.Message, Does.Contain("lengths[1]"));
    }
}
