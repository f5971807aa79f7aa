using NumLstm.Data;

namespace NumLstm.Tests.Data;

/// <summary>SequenceDataset with a target per step: construction checks, subsets and splits, batches, class counts,
/// per-step sample weights and the target scaler.</summary>
public class PerStepDatasetTests
{
    private const int Count = 5, Steps = 4, Features = 2;

    private static float[] X() => Enumerable.Range(0, Count * Steps * Features).Select(v => (float)v).ToArray();

    private static int[] Labels() => Enumerable.Range(0, Count * Steps).Select(r => r % 3).ToArray();

    private static readonly int[] Lengths = { 4, 2, 3, 1, 4 };

    [Test]
    public void Factories_CheckTheShapes_NamingSequenceAndStep()
    {
        Assert.That(() => SequenceDataset.ForClassificationPerStep(X(), Count, Steps, Features, new int[Count], 3),
            Throws.ArgumentException.With.Message.Contains("expected [N=5, T=4] = 20 labels (one per step), got 5"));
        int[] labels = Labels();
        labels[2 * Steps + 3] = 3;
        Assert.That(() => SequenceDataset.ForClassificationPerStep(X(), Count, Steps, Features, labels, 3),
            Throws.ArgumentException.With.Message.Contains("labels[11] = 3 (sequence 2, step 3): expected a 0-based class in 0..2"));
        Assert.That(() => SequenceDataset.ForRegressionPerStep(X(), Count, Steps, Features, new float[Count * 2], 2),
            Throws.ArgumentException.With.Message.Contains("expected [N=5, T=4, 2] = 40 values (one row per step), got 10"));
        Assert.That(() => SequenceDataset.ForClassificationPerStep(X(), Count, Steps, Features, Labels(), 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
        // The per-sequence factories keep their messages.
        Assert.That(() => SequenceDataset.ForClassification(X(), Count, Steps, Features, new int[Count * Steps], 3),
            Throws.ArgumentException.With.Message.Contains("expected 5 labels (one per sequence), got 20"));
        SequenceDataset data = SequenceDataset.ForClassificationPerStep(X(), Count, Steps, Features, Labels(), 3, Lengths);
        Assert.That(data.TargetsPerStep, Is.True);
        Assert.That(data.TargetRows, Is.EqualTo(Steps));
        Assert.That(data.ToString(), Does.Contain("3 classes per step"));
        SequenceDataset plain = SequenceDataset.ForClassification(X(), Count, Steps, Features, new int[Count], 3);
        Assert.That(plain.TargetsPerStep, Is.False);
        Assert.That(plain.TargetRows, Is.EqualTo(1));
    }

    [Test]
    public void SubsetAndSplits_CarryEachSequencesStepTargets_AndStepWeights()
    {
        var targets = Enumerable.Range(0, Count * Steps * 2).Select(v => v * 0.5f).ToArray();
        var weights = Enumerable.Range(0, Count * Steps).Select(v => v * 0.25f).ToArray();
        SequenceDataset rows = SequenceDataset.ForRegressionPerStep(X(), Count, Steps, Features, targets, 2, Lengths).WithSampleWeights(weights);
        Assert.That(rows.SampleWeightsPerStep, Is.True);
        SequenceDataset subset = rows.Subset(new[] { 3, 0, 3 });
        Assert.That(subset.TargetsPerStep, Is.True);
        Assert.That(subset.Targets, Is.EqualTo(targets.AsSpan(24, 8).ToArray().Concat(targets.AsSpan(0, 8).ToArray()).Concat(targets.AsSpan(24, 8).ToArray())));
        Assert.That(subset.SampleWeights, Is.EqualTo(weights.AsSpan(12, 4).ToArray().Concat(weights.AsSpan(0, 4).ToArray()).Concat(weights.AsSpan(12, 4).ToArray())));
        Assert.That(subset.SampleWeightsPerStep, Is.True);
        (SequenceDataset first, SequenceDataset second) = rows.SplitOrdered(0.4);
        Assert.That(first.Targets, Is.EqualTo(targets.AsSpan(0, 16).ToArray()));
        Assert.That(second.Targets, Is.EqualTo(targets.AsSpan(16).ToArray()));
        Assert.That(second.SampleWeights, Is.EqualTo(weights.AsSpan(8).ToArray()));

        SequenceDataset labelled = SequenceDataset.ForClassificationPerStep(X(), Count, Steps, Features, Labels(), 3, Lengths);
        Assert.That(labelled.Subset(new[] { 4, 1 }).Labels, Is.EqualTo(Labels().AsSpan(16, 4).ToArray().Concat(Labels().AsSpan(4, 4).ToArray())));
        // A weight per sequence is still taken, and read as each of its steps' weight.
        Assert.That(labelled.WithSampleWeights(new float[Count]).SampleWeightsPerStep, Is.False);
        Assert.That(() => labelled.WithSampleWeights(new float[Count * Steps - 1]),
            Throws.ArgumentException.With.Message.Contains("expected 5 weights (one per sequence) or [N=5, T=4] = 20 (one per step), got 19"));
        var bad = new float[Count * Steps];
        bad[9] = -1;
        Assert.That(() => labelled.WithSampleWeights(bad), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("sampleWeights[9] (sequence 2, step 1)"));
        // Per-sequence data takes no step weights.
        SequenceDataset plain = SequenceDataset.ForClassification(X(), Count, Steps, Features, new int[Count], 3);
        Assert.That(() => plain.WithSampleWeights(new float[Count * Steps]), Throws.ArgumentException.With.Message.Contains("expected 5 weights (one per sequence), got 20"));
    }

    [Test]
    public void CopyBatch_CopiesEachSequencesStepTargets()
    {
        SequenceDataset labelled = SequenceDataset.ForClassificationPerStep(X(), Count, Steps, Features, Labels(), 3, Lengths);
        var x = new float[2 * Steps * Features];
        var mask = new bool[2 * Steps];
        var labels = new int[2 * Steps];
        labelled.CopyBatch<float>(new[] { 2, 0 }, x, mask, labels);
        Assert.That(labels, Is.EqualTo(Labels().AsSpan(8, 4).ToArray().Concat(Labels().AsSpan(0, 4).ToArray())));
        Assert.That(mask, Is.EqualTo(new[] { true, true, true, false, true, true, true, true }));
        Assert.That(() => labelled.CopyBatch<float>(new[] { 2, 0 }, x, mask, new int[2]),
            Throws.ArgumentException.With.Message.Contains("expected room for [B=2, T=4] = 8 labels, got 2"));

        var targets = Enumerable.Range(0, Count * Steps).Select(v => (float)v).ToArray();
        SequenceDataset rows = SequenceDataset.ForRegressionPerStep(X(), Count, Steps, Features, targets, 1);
        var batchTargets = new double[2 * Steps];
        rows.CopyBatch<double>(new[] { 1, 4 }, new double[2 * Steps * Features], mask, batchTargets);
        Assert.That(batchTargets, Is.EqualTo(new double[] { 4, 5, 6, 7, 16, 17, 18, 19 }));
    }

    [Test]
    public void ClassCounts_CountTheValidStepsLabels()
    {
        SequenceDataset labelled = SequenceDataset.ForClassificationPerStep(X(), Count, Steps, Features, Labels(), 3, Lengths);
        var expected = new int[3];
        for (int n = 0; n < Count; n++) for (int t = 0; t < Lengths[n]; t++) expected[Labels()[n * Steps + t]]++;
        Assert.That(labelled.ClassCounts(), Is.EqualTo(expected));
        Assert.That(expected.Sum(), Is.EqualTo(Lengths.Sum()));
    }

    [Test]
    public void TargetScaler_FitsOnTheValidSteps_Only()
    {
        // Valid steps hold 1 and 3 (mean 2, std 1); the padding holds 1000, which must not move the statistics.
        var targets = new float[Count * Steps];
        for (int n = 0; n < Count; n++)
            for (int t = 0; t < Steps; t++) targets[n * Steps + t] = t < Lengths[n] ? (t % 2 == 0 ? 1 : 3) : 1000;
        SequenceDataset rows = SequenceDataset.ForRegressionPerStep(X(), Count, Steps, Features, targets, 1, Lengths);
        TargetScaler scaler = TargetScaler.Fit(rows);
        int ones = 0, threes = 0;
        for (int n = 0; n < Count; n++) for (int t = 0; t < Lengths[n]; t++) { if (t % 2 == 0) ones++; else threes++; }
        double mean = (ones * 1.0 + threes * 3.0) / (ones + threes);
        double std = Math.Sqrt((ones * (1 - mean) * (1 - mean) + threes * (3 - mean) * (3 - mean)) / (ones + threes));
        Assert.That(scaler.Mean[0], Is.EqualTo((float)mean));
        Assert.That(scaler.Std[0], Is.EqualTo((float)std));
        Assert.That(scaler.Transform(rows).TargetsPerStep, Is.True);
    }
}
