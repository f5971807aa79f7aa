using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.RegularExpressions;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Study;

/// <summary>
/// Which build produced a job's numbers, e.g. <c>engine 40d5952902c075e1, study 3b0b1e5547dbe6df, .NET 10.0.12, x64 256-bit vectors, 256-bit products</c>:
/// the content hashes of the engine (the NumLstm assembly) and of the study code that plans, feeds, trains and times the
/// jobs (Engine.Benchmarks/Study but Study/Report, and Engine.Benchmarks/Data), both computed at build time by
/// Engine/ContentHash.targets over the source files, project files, Directory.Build.props, configuration, SDK version and
/// package versions; then the .NET runtime that runs them (Math and TensorPrimitives are the runtime's and the package's
/// code), the widest hardware-accelerated vector (TensorPrimitives' sums take their terms in another order at 512
/// bits) and the width of the engine's matrix products (the machine's, or NUMLSTM_VECTOR_BITS). It changes when any of these does, and not with a commit that touches only docs or tests, nor with the folder
/// the checkout sits in. Two results with the same identity came from the same code on the same runtime and vector path.
/// </summary>
/// <remarks>
/// The commit the binary was built from (<see cref="Commit"/>, from the SDK's informational version) is recorded beside
/// the identity, as information: it is not matched, since a docs-only commit computes the same numbers. Identities written
/// before content hashes (<c>&lt;module version id&gt; (1.0.0+&lt;commit&gt;)</c>, the engine assembly's bytes) match no
/// identity of this format: their jobs count as another build's (rerun unless --reuse-other-builds).
/// </remarks>
public static class EngineIdentity
{
    /// <summary>The AssemblyMetadata keys Engine/ContentHash.targets writes.</summary>
    public const string HashKey = "NumLstm.ContentHash", InputsKey = "NumLstm.ContentHashInputs";

    /// <summary>How many hex digits of each content hash the identity shows (64 bits).</summary>
    public const int HashDigits = 16;

    public static Assembly EngineAssembly => typeof(LayerNormPlacement).Assembly;
    public static Assembly StudyAssembly => typeof(EngineIdentity).Assembly;

    /// <summary>This process's build.</summary>
    public static string Current { get; } = Compose(ContentHash(EngineAssembly), ContentHash(StudyAssembly), Environment.Version, VectorPath());

    /// <summary>The commit this binary was built from (information only); null when the build did not know it.</summary>
    public static string? Commit { get; } = CommitOf(EngineAssembly);

    public static string Compose(string engineHash, string studyHash, Version runtime, string vectorPath)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        return $"engine {Short(engineHash, nameof(engineHash))}, study {Short(studyHash, nameof(studyHash))}, .NET {runtime}, {vectorPath}";
    }

    private static string Short(string hash, string name) =>
        hash is { Length: >= HashDigits } && hash.All(Uri.IsHexDigit) ? hash[..HashDigits].ToLowerInvariant()
            : throw new ArgumentException($"A content hash of at least {HashDigits} hex digits is needed, got '{hash}'.", name);

    /// <summary>The content hash Engine/ContentHash.targets embedded in <paramref name="assembly"/>.</summary>
    public static string ContentHash(Assembly assembly) => Metadata(assembly, HashKey);

    /// <summary>The files the content hash covers, relative to the repository root (the settings it covers are not listed).</summary>
    public static IReadOnlyList<string> HashedFiles(Assembly assembly) => Metadata(assembly, InputsKey).Split(';');

    private static string Metadata(Assembly assembly, string key)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        return assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value
            ?? throw new InvalidOperationException($"{assembly.GetName().Name} carries no {key}: it was built without Engine/ContentHash.targets.");
    }

    /// <summary>The process architecture, the widest vector the JIT accelerates (DOTNET_EnableAVX512=0 turns 512 off) and the
    /// width of the engine's matrix products (<see cref="NumLstm.Kernels.ProductWidth"/>: the machine's unless NUMLSTM_VECTOR_BITS says).</summary>
    public static string VectorPath()
    {
        string width = Vector512.IsHardwareAccelerated ? "512-bit vectors" : Vector256.IsHardwareAccelerated ? "256-bit vectors"
            : Vector128.IsHardwareAccelerated ? "128-bit vectors" : "no vector acceleration";
        int products = NumLstm.Kernels.ProductWidth.Bits;
        return $"{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()} {width}, {(products == 0 ? "scalar" : $"{products}-bit")} products";
    }

    /// <summary>The commit in an assembly's informational version (<c>1.0.0+&lt;commit&gt;</c>), or null.</summary>
    public static string? CommitOf(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        string? version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        int plus = version?.IndexOf('+') ?? -1;
        return plus < 0 ? null : version![(plus + 1)..];
    }

    /// <summary>True for an identity of this format (content hashes), false for an older one or none.</summary>
    public static bool IsContentIdentity(string? build) => build is not null && ContentFormat.IsMatch(build);

    private static readonly Regex ContentFormat = new(@"^engine [0-9a-f]{16}, study [0-9a-f]{16}, \.NET \S+, ", RegexOptions.CultureInvariant);
    private static readonly Regex LegacyFormat = new(@"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?: \([^+)]*\+([0-9a-f]{7,40})\))?$", RegexOptions.CultureInvariant);

    /// <summary>The commit inside an identity of the format before content hashes (its informational version), or null.</summary>
    public static string? LegacyCommit(string? build)
    {
        if (build is null) return null;
        Match match = LegacyFormat.Match(build);
        return match.Success && match.Groups[1].Success ? match.Groups[1].Value : null;
    }

    /// <summary>The commit a job or timing file was built from: its own record, else the one inside an old-format identity.</summary>
    public static string? RecordedCommit(string? commit, string? build) => commit ?? LegacyCommit(build);

    /// <summary>A commit as the report shows it (7 digits).</summary>
    public static string ShortCommit(string commit) => commit.Length > 7 ? commit[..7] : commit;

    /// <summary>How the report names a recorded build; null is a job file written before builds were recorded.</summary>
    public static string Describe(string? build) =>
        build is null ? "unknown (job files without `engine_build`, written before builds were recorded)"
        : LegacyFormat.IsMatch(build) ? $"`{build}` (the engine assembly's bytes: the format before content hashes)"
        : $"`{build}`";
}
