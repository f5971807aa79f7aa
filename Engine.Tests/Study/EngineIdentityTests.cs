using System.Runtime.Intrinsics;
using NumLstm.Benchmarks.Study;

namespace NumLstm.Tests.Study;

/// <summary>
/// The study's build identity: the content hashes of the engine and of the study code (Engine/ContentHash.targets),
/// the runtime, the vector path and the products' width; which files the hashes cover (listed from the checkout, independently of the build);
/// and identities of the format before content hashes.
/// </summary>
public class EngineIdentityTests
{
    // The shipped studies' identity (docs/ln-placement-study/*/jobs): the engine assembly's module version id and version.
    private const string Legacy = "9207bc97-6c35-42ee-8b9d-69d9f3f9cb91 (1.0.0+b531d51f9652459b87b4860eb96bcdc833e5f205)";

    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "NumLstm.sln"))) return dir;
        throw new InvalidOperationException("NumLstm.sln not found above " + AppContext.BaseDirectory);
    }

    [Test]
    public void Current_IsBothContentHashes_TheRuntime_TheVectorPath_AndTheProductsWidth()
    {
        string engine = EngineIdentity.ContentHash(EngineIdentity.EngineAssembly), study = EngineIdentity.ContentHash(EngineIdentity.StudyAssembly);
        Assert.That(engine, Does.Match("^[0-9a-f]{64}$"), "a SHA-256");
        Assert.That(study, Does.Match("^[0-9a-f]{64}$"));
        Assert.That(study, Is.Not.EqualTo(engine));
        string width = Vector512.IsHardwareAccelerated ? "512" : Vector256.IsHardwareAccelerated ? "256" : "128";
        // The products' width: NUMLSTM_VECTOR_BITS when set (.ci/run sets 512, 256 and 0), else this machine's.
        string? setting = Environment.GetEnvironmentVariable("NUMLSTM_VECTOR_BITS");
        int products = !string.IsNullOrWhiteSpace(setting) ? int.Parse(setting.Trim(), System.Globalization.CultureInfo.InvariantCulture)
            : Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported ? 256 : 0;
        Assert.That(EngineIdentity.Current, Is.EqualTo($"engine {engine[..16]}, study {study[..16]}, .NET {Environment.Version}, " +
                                                       $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()} {width}-bit vectors, " +
                                                       (products == 0 ? "scalar" : $"{products}-bit") + " products"));
        Assert.That(EngineIdentity.IsContentIdentity(EngineIdentity.Current), Is.True);
    }

    [Test]
    public void Current_CarriesNoCommit_WhichIsRecordedBesideIt()
    {
        // The SDK puts the commit into the informational version; the identity must not contain it (docs-only commits).
        string? version = System.Reflection.CustomAttributeExtensions
            .GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(EngineIdentity.EngineAssembly)?.InformationalVersion;
        Assume.That(version, Does.Contain("+"), "built from a git checkout");
        string commit = version!.Substring(version!.IndexOf('+') + 1);
        Assert.That(EngineIdentity.Commit, Is.EqualTo(commit));
        Assert.That(commit, Has.Length.GreaterThanOrEqualTo(7));
        Assert.That(EngineIdentity.Current, Does.Not.Contain(commit[..7]));
    }

    [Test]
    public void TheEngineHash_CoversEveryEngineSource_AndTheBuildFiles_NotGeneratedFilesDocsOrTests()
    {
        var hashed = EngineIdentity.HashedFiles(EngineIdentity.EngineAssembly);
        var sources = Directory.EnumerateFiles(Path.Combine(Root, "Engine"), "*.cs", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith("Engine/obj/", StringComparison.Ordinal) && !f.StartsWith("Engine/bin/", StringComparison.Ordinal));
        var expected = sources.Concat(new[] { "Engine/Engine.csproj", "Directory.Build.props", "Engine/ContentHash.targets" }).Order(StringComparer.Ordinal);

        Assert.That(hashed, Is.EqualTo(expected));
    }

    [Test]
    public void TheStudyHash_CoversTheJobCodeAndShippedData_NotTheReportCodeBenchmarksOrReadmes()
    {
        var hashed = EngineIdentity.HashedFiles(EngineIdentity.StudyAssembly);
        string Relative(string f) => Path.GetRelativePath(Root, f).Replace('\\', '/');
        var study = Directory.EnumerateFiles(Path.Combine(Root, "Engine.Benchmarks", "Study"), "*.cs", SearchOption.AllDirectories).Select(Relative)
            .Where(f => !f.StartsWith("Engine.Benchmarks/Study/Report/", StringComparison.Ordinal));
        var data = Directory.EnumerateFiles(Path.Combine(Root, "Engine.Benchmarks", "Data"), "*", SearchOption.AllDirectories).Select(Relative)
            .Where(f => !f.EndsWith(".md", StringComparison.Ordinal));
        var expected = study.Concat(data).Concat(new[] { "Engine.Benchmarks/Engine.Benchmarks.csproj", "Directory.Build.props", "Engine/ContentHash.targets" })
            .Order(StringComparer.Ordinal);

        Assert.That(hashed, Is.EqualTo(expected));
        Assert.That(hashed, Does.Contain("Engine.Benchmarks/Study/JobRunner.cs").And.Contain("Engine.Benchmarks/Data/japanese_vowels/jv_train_X.f32.gz"));
        Assert.That(hashed, Has.None.StartsWith("Engine.Benchmarks/Study/Report/").And.None.EqualTo("Engine.Benchmarks/Program.cs"));
    }

    [Test]
    public void Compose_TakesSixteenHexDigitsOfEachHash_AndRefusesAnythingElse()
    {
        string build = EngineIdentity.Compose(new string('a', 64), "0123456789ABCDEF0123", new Version(10, 0, 12), "x64 256-bit vectors, 256-bit products");

        Assert.That(build, Is.EqualTo("engine aaaaaaaaaaaaaaaa, study 0123456789abcdef, .NET 10.0.12, x64 256-bit vectors, 256-bit products"));
        Assert.That(EngineIdentity.IsContentIdentity(build), Is.True);
        Assert.That(() => EngineIdentity.Compose("abc", new string('a', 64), new Version(10, 0), "x"), Throws.ArgumentException);
        Assert.That(() => EngineIdentity.Compose(new string('g', 64), new string('a', 64), new Version(10, 0), "x"), Throws.ArgumentException);
    }

    [Test]
    public void AnIdentityOfTheOldFormat_IsNeverThisBuild_ButItsCommitIsStillRead()
    {
        Assert.That(EngineIdentity.IsContentIdentity(Legacy), Is.False);
        Assert.That(EngineIdentity.Current, Is.Not.EqualTo(Legacy));
        Assert.That(EngineIdentity.LegacyCommit(Legacy), Is.EqualTo("b531d51f9652459b87b4860eb96bcdc833e5f205"));
        Assert.That(EngineIdentity.LegacyCommit("9207bc97-6c35-42ee-8b9d-69d9f3f9cb91 (1.0.0)"), Is.Null, "a build without a commit");
        Assert.That(EngineIdentity.LegacyCommit(EngineIdentity.Current), Is.Null);
        Assert.That(EngineIdentity.LegacyCommit(null), Is.Null);
        Assert.That(EngineIdentity.RecordedCommit("abc1234", Legacy), Is.EqualTo("abc1234"), "a recorded commit comes first");
        Assert.That(EngineIdentity.RecordedCommit(null, Legacy), Is.EqualTo("b531d51f9652459b87b4860eb96bcdc833e5f205"));
        Assert.That(EngineIdentity.Describe(Legacy), Is.EqualTo($"`{Legacy}` (the engine assembly's bytes: the format before content hashes)"));
        Assert.That(EngineIdentity.Describe(EngineIdentity.Current), Is.EqualTo($"`{EngineIdentity.Current}`"));
        Assert.That(EngineIdentity.Describe("another-build"), Is.EqualTo("`another-build`"));
    }
}
