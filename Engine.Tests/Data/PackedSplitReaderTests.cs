using System.Text;
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
    private string _folder = "";

    [SetUp]
    public void Copy()
    {
        _folder = Path.Combine(Path.GetTempPath(), "numlstm-packed-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
        foreach (string file in Directory.GetFiles(DataPaths.JapaneseVowels))
            File.Copy(file, Path.Combine(_folder, Path.GetFileName(file)));
    }

    [TearDown]
    public void Delete() => Directory.Delete(_folder, recursive: true);

    private string HeaderPath => Path.Combine(_folder, "header.json");

    /// <summary>Replaces the first occurrence of <paramref name="text"/> in header.json (the train split comes first).</summary>
    private void EditHeader(string text, string replacement)
    {
        string header = File.ReadAllText(HeaderPath);
        int at = header.IndexOf(text, StringComparison.Ordinal);
        Assert.That(at, Is.GreaterThanOrEqualTo(0), $"header.json has no {text}");
        File.WriteAllText(HeaderPath, header[..at] + replacement + header[(at + text.Length)..]);
    }

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
}
