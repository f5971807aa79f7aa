using NumLstm.IO;

namespace NumLstm.Tests.IO;

/// <summary>What AtomicFile keeps of the target it replaces: any legal name.</summary>
public sealed class AtomicFileReplacementTests
{
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory();
    [TearDown] public void TearDown() => _dir.Dispose();

    private static string[] Files(string directory) => Directory.GetFiles(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [TestCase(239)]
    [TestCase(255)]
    public void FileNames_UpToTheSystemLimit_AreWritten(int length)
    {
        // The temporary name used to be the target's plus 17 characters, over the 255-byte limit for these names.
        string name = new string('m', length - 4) + ".bin";
        string path = _dir.File(name);
        File.WriteAllBytes(path, [9]);   // the file system takes the name
        AtomicFile.Write(path, s => s.Write([1, 2, 3]));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(Files(_dir.Path), Is.EqualTo(new[] { name }));
        NpyFile.Write<float>(path, [1f], [1]);
        Assert.That(NpyFile.Read(path).ToArray<float>(), Is.EqualTo(new[] { 1f }));
    }
}
