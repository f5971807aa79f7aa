using System.Globalization;
using NumLstm.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace NumLstm.Parity.Generator;

/// <summary>
/// Collects the tensors of one fixture file and writes them as safetensors. Every value is copied out of a libtorch
/// tensor as it is (float64 or int64), never recomputed: NumLstm only supplies the container writer.
/// </summary>
internal sealed class FixtureWriter
{
    public const string Command = "dotnet run -c Release --project Engine.Tests/Parity/Generator";

    /// <summary>The date written into every fixture's metadata (UTC).</summary>
    public static readonly string Date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private readonly string fileName;
    private readonly List<SafeTensor> tensors = new();
    private readonly Dictionary<string, string> metadata = new(StringComparer.Ordinal);

    public FixtureWriter(string fileName, string description)
    {
        this.fileName = fileName;
        metadata["description"] = description;
        metadata["values"] = "every tensor (inputs, weights, outputs, gradients, trajectories) is libtorch's, copied bit for bit; inputs and weights are drawn by libtorch's generator from the seed below";
        metadata["torch"] = $"libtorch {torch.__version__} through TorchSharp-cpu {typeof(torch).Assembly.GetName().Version}, CPU, float64, 1 thread";
        metadata["generator"] = Command;
        metadata["date"] = Date;
    }

    public FixtureWriter Meta(string key, string value)
    {
        metadata[key] = value;
        return this;
    }

    public FixtureWriter Meta(string key, double value) => Meta(key, value.ToString("R", CultureInfo.InvariantCulture));

    /// <summary>Adds a float64 or int64 tensor under <paramref name="name"/> with the tensor's own shape.</summary>
    public FixtureWriter Add(string name, Tensor value)
    {
        using var _ = torch.no_grad();
        Tensor t = value.detach().cpu().contiguous();
        int[] shape = t.shape.Select(d => checked((int)d)).ToArray();
        if (t.dtype == ScalarType.Float64) tensors.Add(SafeTensor.Create<double>(name, t.data<double>().ToArray(), shape));
        else if (t.dtype == ScalarType.Int64) tensors.Add(SafeTensor.Create<long>(name, t.data<long>().ToArray(), shape));
        else throw new ArgumentException($"Fixture tensor '{name}' is {t.dtype}; the fixtures hold float64 and int64 only.");
        return this;
    }

    /// <summary>Adds every parameter of a module under <c>prefix.name</c>, or, when <paramref name="gradPrefix"/> is given,
    /// its gradient under <c>gradPrefix.prefix.name</c>.</summary>
    public FixtureWriter AddParameters(string prefix, nn.Module module, string? gradPrefix = null)
    {
        foreach (var (name, p) in module.named_parameters())
        {
            if (gradPrefix is null) Add($"{prefix}.{name}", p);
            else Add($"{gradPrefix}.{prefix}.{name}", p.grad ?? throw new InvalidOperationException($"{prefix}.{name} has no gradient."));
        }
        return this;
    }

    public string Write(string folder)
    {
        string path = Path.Combine(folder, fileName);
        SafeTensorsFile.Write(path, tensors, metadata);
        return path;
    }

    /// <summary>Engine.Tests/Parity/Fixtures of the repository holding the current directory.</summary>
    public static string DefaultFolder()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NumLstm.sln")))
                return Path.Combine(dir.FullName, "Engine.Tests", "Parity", "Fixtures");
        throw new InvalidOperationException("Run the generator inside the NumLstm repository (no NumLstm.sln above the current directory), or pass the output folder.");
    }
}
