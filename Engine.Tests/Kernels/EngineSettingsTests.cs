using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// <see cref="EngineSettings.UseSecondCore"/>: off, every job runs on the calling thread and every result (a training
/// step's loss, gradients and input gradient, a plan's predictions, a streaming sequence) is bitwise what the engine
/// gives with it on.
/// </summary>
[NonParallelizable]
public class EngineSettingsTests
{
    private sealed class ThreadsJob : IPairedJob
    {
        public readonly int[] Threads = new int[2];
        public void RunPart(int part) => Threads[part] = Environment.CurrentManagedThreadId;
    }

    [Test]
    public void UseSecondCore_Off_RunsEveryJobOnTheCallingThread()
    {
        Assert.That(EngineSettings.UseSecondCore, Is.True, "the default");
        try
        {
            EngineSettings.UseSecondCore = false;
            Assert.That(PairedWork.HasSecondCore, Is.False);
            var job = new ThreadsJob();
            for (int k = 0; k < 50; k++)
            {
                PairedWork.Run(job);
                Assert.That(job.Threads, Is.EqualTo(new[] { Environment.CurrentManagedThreadId, Environment.CurrentManagedThreadId }));
            }
        }
        finally { EngineSettings.UseSecondCore = true; }
        Assert.That(PairedWork.HasSecondCore, Is.EqualTo(Environment.ProcessorCount > 1));
    }

    [Test]
    public void UseSecondCore_Off_GivesTheSameBits_InTrainingServingAndStreaming()
    {
        List<float[]> on = Run();
        List<float[]> off;
        try
        {
            EngineSettings.UseSecondCore = false;
            off = Run();
        }
        finally { EngineSettings.UseSecondCore = true; }
        Assert.That(off.Count, Is.EqualTo(on.Count));
        for (int k = 0; k < on.Count; k++) Assert.That(off[k], Is.EqualTo(on[k]), $"result {k}");
    }

    // Sizes past every split threshold: a Bidirectional stack (directions on two cores, products split), a plain LSTM
    // (H = 256) with batch 16 (per-step row split) and a streaming LSTM(128) (per-step column split).
    private static List<float[]> Run()
    {
        var results = new List<float[]>();
        const int batch = 16, time = 12, features = 24;
        var random = new Random(5);
        float[] x = Enumerable.Range(0, batch * time * features).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

        foreach (ModelSpec spec in new ModelSpec[]
        {
            new StackSpec(features, new[] { 48, 64 }, Bidirectional: true, OutputUnits: 2, Dropout: 0.2, RecurrentDropout: 0.2)
                .WithPlacement(LayerNormPlacement.AfterEachRecurrent),
            new ModelSpec { InputFeatures = features, Layers = new[] { LayerSpec.Lstm(256, true), LayerSpec.Dense(3) } },
        })
        {
            Sequential<float> model = spec.Build<float>();
            ModelCache<float> cache = model.CreateCache();
            float[] targets = Enumerable.Range(0, model.OutputLength(batch, time)).Select(_ => (float)random.NextDouble()).ToArray();
            float[] gradient = new float[targets.Length];
            model.ZeroGradients();
            ReadOnlySpan<float> predictions = model.Forward(new SequenceBatch<float>(x, batch, time, default), cache, new ForwardContext(true, new Random(9)));
            results.Add(predictions.ToArray());
            results.Add(new[] { new MeanSquaredError<float>().Forward(predictions, targets, gradient) });
            float[] inputGradient = new float[x.Length];
            model.Backward(gradient, cache, inputGradient);
            results.Add(inputGradient);
            results.AddRange(model.Parameters.Select(p => p.Gradient.ToArray()));
            results.Add(model.CreateInferencePlan(batch, time).Predict(x, batch, time).ToArray());
        }

        Sequential<float> streaming = new ModelSpec { InputFeatures = features, Layers = new[] { LayerSpec.Lstm(128) } }.Build<float>();
        StreamingSession<float> session = streaming.CreateSession();
        for (int t = 0; t < time; t++) results.Add(session.Step(x.AsSpan(t * features, features)).ToArray());
        return results;
    }
}
