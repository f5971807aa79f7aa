using System.Reflection;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Study;

/// <summary>
/// Which build of the engine (the NumLstm assembly) produced a job's numbers: its module version id and its
/// informational version, e.g. <c>3f1c…-… (1.0.0+b6883c2a…)</c>. The build is deterministic, so the module version id is
/// a hash of the compiled assembly: it changes with the engine's source, the compiler, Debug or Release, and with every
/// commit (the SDK puts the commit id in the informational version), not with the folder it was built in (Engine.csproj
/// maps the source and PDB paths to /_/Engine). Two results with the same identity came from the same engine bits.
/// </summary>
public static class EngineIdentity
{
    /// <summary>This process's engine build.</summary>
    public static string Current { get; } = Of(typeof(LayerNormPlacement).Assembly);

    public static string Of(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        string? version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        return $"{assembly.ManifestModule.ModuleVersionId:D}" + (string.IsNullOrEmpty(version) ? "" : $" ({version})");
    }

    /// <summary>How the report names a recorded build; null is a job file written before builds were recorded.</summary>
    public static string Describe(string? build) => build is null ? "unknown (job files without `engine_build`, written before builds were recorded)" : $"`{build}`";
}
