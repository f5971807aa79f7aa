namespace NumLstm.Tests.Data;

/// <summary>Folders the data tests read, found by walking up from the test assembly to the folder holding NumLstm.sln.</summary>
internal static class DataPaths
{
    public static string RepositoryRoot
    {
        get
        {
            var directory = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "NumLstm.sln")))
                directory = directory.Parent;
            if (directory is null)
                throw new InvalidOperationException($"No NumLstm.sln above {TestContext.CurrentContext.TestDirectory}.");
            return directory.FullName;
        }
    }

    /// <summary>The Japanese Vowels copy shipped in the repository.</summary>
    public static string JapaneseVowels => Path.Combine(RepositoryRoot, "Engine.Benchmarks", "Data", "japanese_vowels");

    /// <summary>shared/data beside the repository (present on the dev machine and in CI, not shipped).</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "data"));

    /// <summary>Makes the test inconclusive (not passed) when the shared data folder is absent.</summary>
    public static string RequireShared(string folder)
    {
        string path = Path.Combine(Shared, folder);
        Assume.That(Directory.Exists(path), Is.True, $"shared data folder {path} is absent");
        return path;
    }
}
