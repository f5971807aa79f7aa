using NumLstm.IO;

namespace NumLstm.Tests.IO;

/// <summary>What AtomicFile keeps of the target it replaces: any legal name, the Unix permissions, symbolic links.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]   // the mode and link tests skip themselves there
public sealed class AtomicFileReplacementTests
{
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory();
    [TearDown] public void TearDown() => _dir.Dispose();

    private static void RequireUnix()
    {
        if (OperatingSystem.IsWindows())
            Assert.Ignore("Unix permissions and symbolic links without privileges are Unix features.");
    }

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

    [Test]
    public void ReplacingAFile_KeepsItsUnixPermissions()
    {
        RequireUnix();
        string path = _dir.File("checkpoint.safetensors");
        const UnixFileMode rw = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        // Two modes, so that a write which ignores the old mode cannot pass both through the umask's default.
        foreach (UnixFileMode mode in new[] { rw, rw | UnixFileMode.GroupRead, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead })
        {
            File.WriteAllBytes(path, [0]);
            File.SetUnixFileMode(path, mode);
            SafeTensorsFile.Write(path, [SafeTensor.Create<float>("w", [1f], 1)]);
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(mode), $"mode {Convert.ToString((int)mode, 8)}");
            Assert.That(SafeTensorsFile.Read(path)["w"].ToArray<float>(), Is.EqualTo(new[] { 1f }));
        }
        Assert.That(Files(_dir.Path), Is.EqualTo(new[] { "checkpoint.safetensors" }));
    }

    [Test]
    public void ANewFile_GetsTheModeFileWriteAllBytesGives()
    {
        RequireUnix();
        string reference = _dir.File("reference.bin"), path = _dir.File("new.bin");
        File.WriteAllBytes(reference, [1]);
        AtomicFile.Write(path, s => s.Write([1]));
        Assert.That(File.GetUnixFileMode(path), Is.EqualTo(File.GetUnixFileMode(reference)));
    }

    [Test]
    public void WritingThroughASymbolicLink_ReplacesTheFinalTarget_AndKeepsTheLinks()
    {
        RequireUnix();
        // link (in this folder) -> relative link (in another) -> the real file, in that other folder.
        string other = Path.Combine(_dir.Path, "store");
        Directory.CreateDirectory(other);
        string real = Path.Combine(other, "model.safetensors");
        File.WriteAllBytes(real, [0]);
        File.SetUnixFileMode(real, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string middle = Path.Combine(other, "latest.safetensors");
        File.CreateSymbolicLink(middle, "model.safetensors");
        string link = _dir.File("current.safetensors");
        File.CreateSymbolicLink(link, middle);

        SafeTensorsFile.Write(link, [SafeTensor.Create<float>("w", [2f], 1)]);

        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(middle), "the link is still a link");
        Assert.That(new FileInfo(middle).LinkTarget, Is.EqualTo("model.safetensors"));
        Assert.That(new FileInfo(real).LinkTarget, Is.Null);
        Assert.That(SafeTensorsFile.Read(real)["w"].ToArray<float>(), Is.EqualTo(new[] { 2f }), "the file it points to has the new content");
        Assert.That(File.GetUnixFileMode(real), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        Assert.That(Files(other), Is.EqualTo(new[] { "latest.safetensors", "model.safetensors" }), "no temporary file left");
        Assert.That(Files(_dir.Path), Is.EqualTo(new[] { "current.safetensors" }));
    }

    [Test]
    public void ADanglingLink_CreatesTheFileItNames_AsFileWriteAllBytesDoes()
    {
        RequireUnix();
        string link = _dir.File("out.npy");
        File.CreateSymbolicLink(link, "target.npy");
        NpyFile.Write<float>(link, [3f], [1]);
        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo("target.npy"));
        Assert.That(NpyFile.Read(_dir.File("target.npy")).ToArray<float>(), Is.EqualTo(new[] { 3f }));
    }

    [Test]
    public void AFailedWriteThroughALink_LeavesLinkAndTargetAsTheyWere()
    {
        RequireUnix();
        string real = _dir.File("real.bin"), link = _dir.File("link.bin");
        File.WriteAllBytes(real, [7, 7]);
        File.CreateSymbolicLink(link, "real.bin");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(link, s =>
        {
            s.Write(new byte[10_000]);
            throw new InvalidOperationException("failed midway");
        }));
        Assert.That(File.ReadAllBytes(real), Is.EqualTo(new byte[] { 7, 7 }));
        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo("real.bin"));
        Assert.That(Files(_dir.Path), Is.EqualTo(new[] { "link.bin", "real.bin" }));
    }

    [Test]
    public void ALinkLoop_IsAnIOExceptionNamingThePath()
    {
        RequireUnix();
        string a = _dir.File("a.bin"), b = _dir.File("b.bin");
        File.CreateSymbolicLink(a, "b.bin");
        File.CreateSymbolicLink(b, "a.bin");
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(a, s => s.Write([1])));
        Assert.That(e!.Message, Does.Contain(a));
        Assert.That(Files(_dir.Path), Is.EqualTo(new[] { "a.bin", "b.bin" }));
    }
}
