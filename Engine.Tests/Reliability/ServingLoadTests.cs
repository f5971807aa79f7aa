using System.Diagnostics;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Reliability;

/// <summary>
/// Serving under load: threads sharing one trained model, each with its own ModelCache, every output compared bit for
/// bit with the single-threaded answer, through both paths: <see cref="InferencePlan{T}"/> (one per thread) and
/// Sequential.Forward (one ModelCache per thread), alternately. Short by default; NUMLSTM_LOAD_TEST_LONG=1 runs
/// 8 threads × 100,000 predictions.
/// </summary>
public sealed class ServingLoadTests
{
    private const int Features = 6, Steps = 12, Distinct = 64;

    private static Sequential<float> SeedLikeModel()
        => new StackSpec(Features, new[] { 16, 24 }, Bidirectional: true, OutputUnits: 3, Seed: 7).WithPlacement(LayerNormPlacement.AfterEachRecurrent).Build<float>();

    private static float[] Sequence(int n)
    {
        var random = new Random(1000 + n);
        return Enumerable.Range(0, Steps * Features).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
    }

    private static float[] PredictOne(Sequential<float> model, ModelCache<float> cache, float[] x, bool[]? mask = null)
        => model.Forward(new SequenceBatch<float>(x, 1, Steps, mask), cache, ForwardContext.Inference).ToArray();

    [Test]
    public void ManyThreadsSharingOneModel_GiveTheSingleThreadedAnswers_WithFlatMemory()
    {
        bool longRun = Environment.GetEnvironmentVariable("NUMLSTM_LOAD_TEST_LONG") == "1";
        int threads = 8, perThread = longRun ? 100_000 : 2_000;
        Sequential<float> model = SeedLikeModel();
        float[][] inputs = Enumerable.Range(0, Distinct).Select(Sequence).ToArray();
        ModelCache<float> single = model.CreateCache();
        float[][] expected = inputs.Select(x => PredictOne(model, single, x)).ToArray();
        InferencePlan<float> singlePlan = model.CreateInferencePlan(1, Steps);
        float[][] expectedPlan = inputs.Select(x => singlePlan.PredictSequence(x).ToArray()).ToArray();

        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        long[] allocated = new long[threads];
        using var warm = new Barrier(threads + 1);
        var watch = new Stopwatch();
        long heapBefore = 0;
        var workers = Enumerable.Range(0, threads).Select(w => new Thread(() =>
        {
            try
            {
                ModelCache<float> cache = model.CreateCache();
                InferencePlan<float> plan = model.CreateInferencePlan(1, Steps);
                for (int k = 0; k < Distinct; k++) { PredictOne(model, cache, inputs[k]); plan.PredictSequence(inputs[k]); }   // warm-up
                warm.SignalAndWait();
                warm.SignalAndWait();   // the main thread measures the heap between the two
                long start = GC.GetAllocatedBytesForCurrentThread();
                var random = new Random(w);
                for (int k = 0; k < perThread; k++)
                {
                    int n = random.Next(Distinct);
                    bool viaPlan = (k & 1) == 0;
                    ReadOnlySpan<float> y = viaPlan
                        ? plan.PredictSequence(inputs[n])
                        : model.Forward(new SequenceBatch<float>(inputs[n], 1, Steps, default), cache, ForwardContext.Inference);
                    if (!y.SequenceEqual(viaPlan ? expectedPlan[n] : expected[n])) { failures.Enqueue($"thread {w}, prediction {k} ({(viaPlan ? "plan" : "Forward")}), sequence {n}: differs"); return; }
                }
                allocated[w] = GC.GetAllocatedBytesForCurrentThread() - start;
            }
            catch (Exception e)
            {
                failures.Enqueue($"thread {w}: {e}");
                warm.RemoveParticipant();
            }
        })).ToList();
        workers.ForEach(t => t.Start());
        warm.SignalAndWait();
        heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        watch.Start();
        warm.SignalAndWait();
        workers.ForEach(t => t.Join());
        watch.Stop();
        long heapAfter = GC.GetTotalMemory(forceFullCollection: true);

        Assert.That(failures, Is.Empty);
        long total = (long)threads * perThread;
        double perPrediction = allocated.Sum() / (double)total;
        TestContext.Out.WriteLine($"load: {threads} threads × {perThread:N0} predictions ({total:N0}, half InferencePlan, half Forward), {watch.Elapsed.TotalSeconds:F1} s, {total / watch.Elapsed.TotalSeconds:N0}/s; " +
                                  $"all equal to the single-threaded answers; heap after full GC {heapBefore:N0} → {heapAfter:N0} bytes; " +
                                  $"allocated on the worker threads after warm-up {allocated.Sum():N0} bytes ({perPrediction:F0} per prediction)");
        Assert.That(heapAfter - heapBefore, Is.LessThan(1 << 20), "memory flat after warm-up (live heap grows by less than 1 MB)");
    }

    [Test]
    public void APrediction_ThroughInferencePlan_IsBitwiseTheSame_AloneOrInAnyBatch_WhateverItsCompanions()
    {
        Sequential<float> model = SeedLikeModel();
        float[][] inputs = Enumerable.Range(0, Distinct).Select(Sequence).ToArray();
        ModelCache<float> cache = model.CreateCache();
        float[][] alone = inputs.Select(x => PredictOne(model, cache, x)).ToArray();
        InferencePlan<float> plan = model.CreateInferencePlan(33, Steps);
        float[][] planAlone = inputs.Select(x => plan.PredictSequence(x).ToArray()).ToArray();
        var random = new Random(5);
        int checkedRows = 0, forwardDiffering = 0;
        double forwardMaxRelative = 0;
        foreach (int batch in new[] { 2, 3, 7, 8, 16, 33 })
        {
            for (int trial = 0; trial < 3; trial++)
            {
                int[] members = Enumerable.Range(0, batch).Select(_ => random.Next(Distinct)).ToArray();
                float[] x = members.SelectMany(n => inputs[n]).ToArray();
                float[] y = model.Forward(new SequenceBatch<float>(x, batch, Steps, default), cache, ForwardContext.Inference).ToArray();
                float[] yPlan = plan.Predict(x, batch, Steps).ToArray();
                Assert.That(model.Forward(new SequenceBatch<float>(x, batch, Steps, default), cache, ForwardContext.Inference).ToArray(), Is.EqualTo(y),
                    "Forward: the same batch twice gives the same bits");
                for (int b = 0; b < batch; b++, checkedRows++)
                {
                    // Forward (the training path) routes each GEMM shape to a different kernel (GemmPacked: single row, in-place
                    // or packed blocks), so a row's last bits can depend on the batch size: measured, bounded, not asserted equal.
                    float[] row = y.AsSpan(b * 3, 3).ToArray();
                    if (!row.AsSpan().SequenceEqual(alone[members[b]])) forwardDiffering++;
                    for (int j = 0; j < 3; j++)
                        forwardMaxRelative = Math.Max(forwardMaxRelative, Math.Abs(row[j] - alone[members[b]][j]) / Math.Max(Math.Abs(alone[members[b]][j]), 1e-3));
                    Assert.That(yPlan.AsSpan(b * 3, 3).ToArray(), Is.EqualTo(planAlone[members[b]]), $"InferencePlan: batch of {batch}, row {b} (sequence {members[b]})");
                }
            }
        }

        // Variable length: a sequence of length L alone (T = L) equals the same sequence right-padded and masked in a
        // batch with longer companions.
        const int length = 7;
        float[] shortSequence = inputs[3].AsSpan(0, length * Features).ToArray();
        float[] shortAlone = model.Forward(new SequenceBatch<float>(shortSequence, 1, length, default), cache, ForwardContext.Inference).ToArray();
        float[] padded = new float[3 * Steps * Features];
        inputs[10].CopyTo(padded, 0);
        shortSequence.CopyTo(padded, Steps * Features);
        for (int k = length * Features; k < Steps * Features; k++) padded[Steps * Features + k] = 99f;   // garbage in the padding
        inputs[11].CopyTo(padded, 2 * Steps * Features);
        bool[] mask = new bool[3 * Steps];
        mask.AsSpan(0, Steps).Fill(true);
        mask.AsSpan(Steps, length).Fill(true);
        mask.AsSpan(2 * Steps, Steps).Fill(true);
        float[] inBatch = model.Forward(new SequenceBatch<float>(padded, 3, Steps, mask), cache, ForwardContext.Inference).ToArray();
        Assert.That(inBatch.AsSpan(3, 3).ToArray(), Is.EqualTo(shortAlone).Within(1e-3).Percent, "Forward: masked and padded in a batch ≈ alone");
        Assert.That(forwardMaxRelative, Is.LessThan(1e-4), "Forward across batch compositions: rounding differences only");
        float[] planShortAlone = plan.Predict(shortSequence, 1, length).ToArray();
        Assert.That(plan.Predict(padded, 3, Steps, mask).Slice(3, 3).ToArray(), Is.EqualTo(planShortAlone), "InferencePlan: masked and padded in a batch = alone");
        TestContext.Out.WriteLine($"determinism: InferencePlan: {checkedRows} rows in batches of 2–33 equal to the sequence predicted alone, bit for bit, and a padded+masked row too; " +
                                  $"Sequential.Forward: {forwardDiffering} of {checkedRows} rows differ from alone in the last bits (max relative difference {forwardMaxRelative:E1})");
    }
}
