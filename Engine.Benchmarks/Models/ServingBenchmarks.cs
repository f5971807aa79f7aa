using NumLstm;
using BenchmarkDotNet.Attributes;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Models;

/// <summary>
/// W2: the seed model BiLSTM(100, sequences) → LN → BiLSTM(200) → LN → Dense(2), F = 32, T = 50, through an
/// <see cref="InferencePlan{T}"/> at batch 1 and 64. W3: one streaming step of LSTM(128) with 32 inputs, batch 1 (and with
/// W and U packed once: as chosen by SplitTiming, always split with and without the worker's head start, on one core). And one
/// LSTM(200) (last output) over the same input through a plan, on two cores and on one: its steps split over the cores
/// at batch 1, its products at batch 64. W2 also with its Bidirectionals' directions not balanced at their end.
/// </summary>
[MemoryDiagnoser]
public class ServingBenchmarks
{
    private const int Features = 32, Time = 50;
    private InferencePlan<float> plan = null!, planPackedOnce = null!, lstmPlan = null!;
    private StreamingSession<float> session = null!, sessionPackedOnce = null!, sessionAlwaysSplit = null!, sessionNoHeadStart = null!, sessionOneCore = null!;
    private float[] x = Array.Empty<float>(), step = Array.Empty<float>();
    private Bidirectional<float>[] bidirectionals = Array.Empty<Bidirectional<float>>();

    [Params(1, 64)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Sequential<float> seed = new StackSpec(Features, new[] { 100, 200 }, Bidirectional: true, OutputUnits: 2)
            .WithPlacement(LayerNormPlacement.AfterEachRecurrent).Build<float>();
        plan = seed.CreateInferencePlan(Batch, Time);
        planPackedOnce = seed.CreateInferencePlan(Batch, Time, packWeightsOnce: true);
        bidirectionals = seed.Layers.OfType<Bidirectional<float>>().ToArray();
        var random = new Random(1);
        x = new float[Batch * Time * Features];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(random.NextDouble() * 2 - 1);

        Sequential<float> lstm = new ModelSpec { InputFeatures = Features, Layers = new[] { LayerSpec.Lstm(200) } }.Build<float>();
        lstmPlan = lstm.CreateInferencePlan(Batch, Time, packWeightsOnce: true);

        Sequential<float> streaming = new ModelSpec { InputFeatures = Features, Layers = new[] { LayerSpec.Lstm(128) } }.Build<float>();
        session = streaming.CreateSession();
        sessionPackedOnce = streaming.CreateSession(packWeightsOnce: true);
        sessionAlwaysSplit = streaming.CreateSession(packWeightsOnce: true);
        ((LstmInferenceBuffers<float>)sessionAlwaysSplit.Runner.BuffersOf(0)!).SplitTiming.Adaptive = false;
        sessionNoHeadStart = streaming.CreateSession(packWeightsOnce: true);
        var noHeadStart = (LstmInferenceBuffers<float>)sessionNoHeadStart.Runner.BuffersOf(0)!;
        noHeadStart.SplitTiming.Adaptive = false;
        noHeadStart.AllowHeadStart = false;
        sessionOneCore = streaming.CreateSession(packWeightsOnce: true);
        step = x.AsSpan(0, Features).ToArray();
    }

    [Benchmark(Description = "W2 seed model predict")]
    public float SeedModelPredict() => plan.Predict(x, Batch, Time)[0];

    /// <summary>The same with each LSTM's W and U packed when the plan was made, not at every call.</summary>
    [Benchmark(Description = "W2 seed model predict, W and U packed once")]
    public float SeedModelPredictPackedOnce() => planPackedOnce.Predict(x, Batch, Time)[0];

    /// <summary>
    /// The same with the directions not balanced (Bidirectional.BalanceDirections off): at batch 64 the direction done
    /// first waits for the other instead of taking half of its rows at the end; at batch 1 (this plan packs W at every
    /// call) the same path, since only a plan that packed W once shares its projections.
    /// </summary>
    [Benchmark(Description = "W2 seed model predict, directions not balanced")]
    public float SeedModelPredictUnbalanced()
    {
        foreach (Bidirectional<float> layer in bidirectionals) layer.BalanceDirections = false;
        try { return plan.Predict(x, Batch, Time)[0]; }
        finally { foreach (Bidirectional<float> layer in bidirectionals) layer.BalanceDirections = true; }
    }

    /// <summary>
    /// W2 packed once with the directions not balanced: at batch 1 neither core takes the input projection of the other
    /// direction's last steps (ProjectionShare), so each direction's core projects all its rows and the faster core waits.
    /// </summary>
    [Benchmark(Description = "W2 seed model predict, W and U packed once, directions not balanced")]
    public float SeedModelPredictPackedOnceUnbalanced()
    {
        foreach (Bidirectional<float> layer in bidirectionals) layer.BalanceDirections = false;
        try { return planPackedOnce.Predict(x, Batch, Time)[0]; }
        finally { foreach (Bidirectional<float> layer in bidirectionals) layer.BalanceDirections = true; }
    }

    [Benchmark(Description = "LSTM(200) predict, W and U packed once")]
    public float LstmPredict() => lstmPlan.Predict(x, Batch, Time)[0];

    /// <summary>The same with <see cref="EngineSettings.UseSecondCore"/> off for the call.</summary>
    [Benchmark(Description = "LSTM(200) predict, W and U packed once, one core")]
    public float LstmPredictOneCore()
    {
        EngineSettings.UseSecondCore = false;
        try { return lstmPlan.Predict(x, Batch, Time)[0]; }
        finally { EngineSettings.UseSecondCore = true; }
    }

    [Benchmark(Description = "W3 streaming step LSTM(128)")]
    public float StreamingStep() => session.Step(step)[0];

    /// <summary>The same with W and U copied into the session's step layout when it was made (packWeightsOnce).</summary>
    [Benchmark(Description = "W3 streaming step LSTM(128), W and U packed once")]
    public float StreamingStepPackedOnce() => sessionPackedOnce.Step(step)[0];

    /// <summary>The packed-once step always split over the two cores (SplitTiming off), whatever the host's stretch.</summary>
    [Benchmark(Description = "W3 streaming step LSTM(128), W and U packed once, always split")]
    public float StreamingStepPackedOnceSplit() => sessionAlwaysSplit.Step(step)[0];

    /// <summary>
    /// The same without the worker's head start (its share of h·Uᵀ taken after each step, ahead of the next): each half
    /// takes its whole share within the step, as before the head start.
    /// </summary>
    [Benchmark(Description = "W3 streaming step LSTM(128), W and U packed once, always split, no head start")]
    public float StreamingStepPackedOnceSplitNoHeadStart() => sessionNoHeadStart.Step(step)[0];

    // An app's own work between streaming calls: 5 µs of spinning (the worker is still spinning too, so the calls split).
    private static readonly long GapTicks = System.Diagnostics.Stopwatch.Frequency * 5 / 1_000_000;

    private static void OtherWork()
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        while (System.Diagnostics.Stopwatch.GetTimestamp() - start < GapTicks) { }
    }

    /// <summary>The 5 µs of other work alone: subtract it from the two rows below to get the cost of the call.</summary>
    [Benchmark(Description = "5 µs of other work (baseline for the gapped W3 rows)")]
    public long OtherWorkOnly()
    {
        OtherWork();
        return GapTicks;
    }

    /// <summary>W3 packed once, always split, with 5 µs of other work before each call: the worker's head start has time to finish.</summary>
    [Benchmark(Description = "W3 packed once, always split, after 5 µs of other work")]
    public float StreamingStepAfterOtherWork()
    {
        OtherWork();
        return sessionAlwaysSplit.Step(step)[0];
    }

    /// <summary>The same without the head start.</summary>
    [Benchmark(Description = "W3 packed once, always split, no head start, after 5 µs of other work")]
    public float StreamingStepAfterOtherWorkNoHeadStart()
    {
        OtherWork();
        return sessionNoHeadStart.Step(step)[0];
    }

    /// <summary>The packed-once step on one core (<see cref="EngineSettings.UseSecondCore"/> off for the call).</summary>
    [Benchmark(Description = "W3 streaming step LSTM(128), W and U packed once, one core")]
    public float StreamingStepPackedOnceOneCore()
    {
        EngineSettings.UseSecondCore = false;
        try { return sessionOneCore.Step(step)[0]; }
        finally { EngineSettings.UseSecondCore = true; }
    }
}
