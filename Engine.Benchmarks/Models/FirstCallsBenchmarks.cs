using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Models;

/// <summary>
/// The first calls in a new process: W3 (a streaming step of LSTM(32→128), batch 1) and W2 (the seed model, batch 1,
/// T = 50), each iteration one call, no warm-up, a new process per launch (BenchmarkDotNet's ColdStart). Until .NET
/// recompiles a method optimized (about 100 ms after its calls start), it runs tier-0 code, unless it is marked
/// AggressiveOptimization, as the engine's serving loops are (docs/serving.md, "The first calls"). The first iteration
/// also holds the compilation itself; the median is a call in the first 200.
/// </summary>
[SimpleJob(RunStrategy.ColdStart, launchCount: 3, iterationCount: 200)]
[MedianColumn, MinColumn, MaxColumn]
public class FirstCallsBenchmarks
{
    private const int Features = 32, Time = 50;
    private StreamingSession<float> session = null!, sessionPackedOnce = null!;
    private InferencePlan<float> plan = null!;
    private float[] x = Array.Empty<float>(), step = Array.Empty<float>();

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        x = new float[Time * Features];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(random.NextDouble() * 2 - 1);
        step = x.AsSpan(0, Features).ToArray();
        Sequential<float> streaming = new ModelSpec { InputFeatures = Features, Layers = new[] { LayerSpec.Lstm(128) } }.Build<float>();
        session = streaming.CreateSession();
        sessionPackedOnce = streaming.CreateSession(packWeightsOnce: true);
        Sequential<float> seed = new StackSpec(Features, new[] { 100, 200 }, Bidirectional: true, OutputUnits: 2)
            .WithPlacement(LayerNormPlacement.AfterEachRecurrent).Build<float>();
        plan = seed.CreateInferencePlan(1, Time, packWeightsOnce: true);
    }

    [Benchmark(Description = "W3 first calls")]
    public float StreamingStep() => session.Step(step)[0];

    [Benchmark(Description = "W3 first calls, W and U packed once")]
    public float StreamingStepPackedOnce() => sessionPackedOnce.Step(step)[0];

    [Benchmark(Description = "W2 first calls, W and U packed once")]
    public float SeedModelPredict() => plan.Predict(x, 1, Time)[0];
}
