using System.Globalization;
using NumLstm.IO;

namespace NumLstm.Tests.Parity;

/// <summary>
/// One known-answer file of Engine.Tests/Parity/Fixtures (values computed by libtorch; see README.md there), read from
/// the test output folder, where Engine.Tests.csproj copies the fixtures. A missing file is an error that names the
/// folder and the command that regenerates it, so a lost fixture fails its test instead of skipping it.
/// </summary>
internal sealed class ParityFixture
{
    public const string RegenerateCommand = "dotnet run -c Release --project Engine.Tests/Parity/Generator";

    private readonly SafeTensorsContent content;
    private readonly Dictionary<string, double[]> overrides = new(StringComparer.Ordinal);

    private ParityFixture(string path, SafeTensorsContent content)
    {
        Path = path;
        this.content = content;
    }

    /// <summary>The fixtures as copied next to the test assembly.</summary>
    public static string Folder => System.IO.Path.Combine(TestContext.CurrentContext.TestDirectory, "Parity", "Fixtures");

    public string Path { get; }
    public string Name => System.IO.Path.GetFileName(Path);
    public IReadOnlyDictionary<string, string> Metadata => content.Metadata;
    public IEnumerable<string> TensorNames => content.Tensors.Keys;

    public static ParityFixture Load(string fileName)
    {
        string path = System.IO.Path.Combine(Folder, fileName);
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"Parity fixture '{fileName}' is missing from {Folder}. The fixtures are committed in Engine.Tests/Parity/Fixtures and " +
                $"copied to the test output by Engine.Tests.csproj; to regenerate them from libtorch run `{RegenerateCommand}` " +
                "in the repository root (needs TorchSharp-cpu 0.107.0, see Engine.Tests/Parity/README.md).", path);
        return new ParityFixture(path, SafeTensorsFile.Read(path));
    }

    public bool Has(string name) => content.Tensors.ContainsKey(name);

    /// <summary>A float64 tensor's values (a fresh copy), C order.</summary>
    public double[] this[string name] => overrides.TryGetValue(name, out double[]? values) ? (double[])values.Clone() : Tensor(name).ToArray<double>();

    public long[] Shape(string name) => Tensor(name).Shape;

    public int Dim(string name, int axis) => checked((int)Shape(name)[axis]);

    public int[] Labels(string name) => Array.ConvertAll(Tensor(name).ToArray<long>(), v => checked((int)v));

    public string Meta(string key) => content.Metadata.TryGetValue(key, out string? value)
        ? value
        : throw new KeyNotFoundException($"Parity fixture {Name} has no metadata '{key}' (it has {string.Join(", ", content.Metadata.Keys)}).");

    public double MetaDouble(string key) => double.Parse(Meta(key), NumberStyles.Float, CultureInfo.InvariantCulture);

    public bool MetaBool(string key) => bool.Parse(Meta(key));

    /// <summary>Replaces one reference value in memory (for the tests that show a wrong value is caught).</summary>
    public void Perturb(string name, int index, double delta)
    {
        double[] values = this[name];
        values[index] += delta;
        overrides[name] = values;
    }

    private SafeTensor Tensor(string name) => content.Tensors.TryGetValue(name, out SafeTensor? tensor)
        ? tensor
        : throw new KeyNotFoundException($"Parity fixture {Name} has no tensor '{name}'; regenerate the fixtures with `{RegenerateCommand}`.");
}
