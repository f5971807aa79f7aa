using BenchmarkDotNet.Attributes;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Models;

/// <summary>
/// One streaming step of a small LSTM with few inputs, batch 1: the sensor-sized models whose inputs are below one
/// vector (F &lt; 8), so the input product takes DotGemm's scalar path. With W and U packed once and read as stored.
/// </summary>
[MemoryDiagnoser]
public class SmallStreamingBenchmarks
{
    /// <summary>"F→H".</summary>
    [Params("1→8", "3→32", "6→64")]
    public string Shape { get; set; } = "3→32";

    private StreamingSession<float> packedOnce = null!, asStored = null!;
    private float[] step = Array.Empty<float>();

    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Shape.Split('→');
        int features = int.Parse(parts[0]), units = int.Parse(parts[1]);
        Sequential<float> model = new ModelSpec { InputFeatures = features, Layers = new[] { LayerSpec.Lstm(units) } }.Build<float>();
        packedOnce = model.CreateSession(packWeightsOnce: true);
        asStored = model.CreateSession();
        var random = new Random(1);
        step = Enumerable.Range(0, features).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    [Benchmark(Description = "step, W and U packed once")]
    public float PackedOnce() => packedOnce.Step(step)[0];

    [Benchmark(Description = "step, W and U as stored")]
    public float AsStored() => asStored.Step(step)[0];
}
