using NumLstm.Data;

namespace NumLstm.Tests.Data;

[TestFixture]
public class SequenceDatasetTests
{
    // Three sequences, T = 3, F = 2, lengths 3, 1, 2; value = 100*n + 10*t + f on valid steps, 0 on padding.
    private static SequenceDataset Small()
    {
        int[] lengths = [3, 1, 2];
        var x = new float[3 * 3 * 2];
        for (int n = 0; n < 3; n++)
            for (int t = 0; t < lengths[n]; t++)
                for (int f = 0; f < 2; f++)
                    x[(n * 3 + t) * 2 + f] = 100 * n + 10 * t + f;
        return SequenceDataset.ForClassification(x, 3, 3, 2, [2, 0, 1], 3, lengths, groups: [7, 8, 7]);
    }

    [Test]
    public void Shapes_WhoseProductWrapsALong_AreRejected()
    {
        // N = T = 2^30, F = 16: N·T·F = 2^64, which a long product wraps to 0, the length of an empty x.
        const int n = 1 << 30, t = 1 << 30, f = 16;
        Assert.That(unchecked((long)n * t * f), Is.EqualTo(0), "the long product does wrap here");
        var error = Assert.Throws<ArgumentException>(() => SequenceDataset.ForRegression([], n, t, f, [], 1));
        Assert.That(error!.ParamName, Is.EqualTo("x"));
        Assert.That(error.Message, Does.Contain("18446744073709551616"));
    }

    [Test]
    public void Mask_IsTrueExactlyBeforeEachLength()
    {
        bool[] expected = [true, true, true, true, false, false, true, true, false];
        Assert.That(Small().Mask(), Is.EqualTo(expected));
    }

    [Test]
    public void Mask_IsAllTrue_WhenLengthsAreNull()
    {
        var data = SequenceDataset.ForRegression(new float[2 * 4 * 1], 2, 4, 1, [1f, 2f], 1);
        Assert.That(data.Mask(), Is.All.True);
        Assert.That(data.IsVariableLength, Is.False);
        Assert.That(data.Length(1), Is.EqualTo(4));
    }

    [Test]
    public void Constructor_RejectsBadShapesLengthsAndLabels_WithMessagesNamingThem()
    {
        var x = new float[3 * 3 * 2];
        var e1 = Assert.Throws<ArgumentException>(() => SequenceDataset.ForClassification(new float[5], 3, 3, 2, [0, 0, 0], 2));
        Assert.That(e1!.Message, Does.Contain("[N=3, T=3, F=2] = 18").And.Contain("got 5"));
        var e2 = Assert.Throws<ArgumentException>(() => SequenceDataset.ForClassification(x, 3, 3, 2, [0, 0, 0], 2, lengths: [3, 0, 2]));
        Assert.That(e2!.Message, Does.Contain("lengths[1] = 0").And.Contain("1..3"));
        var e3 = Assert.Throws<ArgumentException>(() => SequenceDataset.ForClassification(x, 3, 3, 2, [0, 2, 0], 2));
        Assert.That(e3!.Message, Does.Contain("labels[1] = 2").And.Contain("0..1"));
        var e4 = Assert.Throws<ArgumentException>(() => SequenceDataset.ForRegression(x, 3, 3, 2, new float[5], 2));
        Assert.That(e4!.Message, Does.Contain("[3, 2] = 6").And.Contain("got 5"));
        Assert.Throws<ArgumentException>(() => SequenceDataset.ForClassification(x, 3, 3, 2, [0, 0, 0], 2, lengths: [3, 4, 2]));
    }

    [Test]
    public void Subset_CopiesSequencesLengthsLabelsAndGroups_InTheGivenOrder()
    {
        SequenceDataset sub = Small().Subset([2, 0, 2]);
        Assert.That(sub.Count, Is.EqualTo(3));
        Assert.That(sub.Lengths, Is.EqualTo(new[] { 2, 3, 2 }));
        Assert.That(sub.Labels, Is.EqualTo(new[] { 1, 2, 1 }));
        Assert.That(sub.Groups, Is.EqualTo(new[] { 7, 7, 7 }));
        // sub[0] is original sequence 2: (t=1, f=1) = 211
        Assert.That(sub.X[(0 * 3 + 1) * 2 + 1], Is.EqualTo(211f));
        Assert.That(sub.X[(1 * 3 + 2) * 2 + 0], Is.EqualTo(20f));
        Assert.Throws<ArgumentOutOfRangeException>(() => Small().Subset([3]));
    }

    [Test]
    public void Split_IsSeededDisjointAndComplete()
    {
        int count = 50;
        var x = new float[count];
        var labels = new int[count];
        for (int n = 0; n < count; n++) { x[n] = n; labels[n] = n % 4; }
        var data = SequenceDataset.ForClassification(x, count, 1, 1, labels, 4);

        var (a1, b1) = data.Split(0.7, seed: 3);
        var (a2, b2) = data.Split(0.7, seed: 3);
        var (a3, _) = data.Split(0.7, seed: 4);
        Assert.That(a1.Count, Is.EqualTo(35));
        Assert.That(b1.Count, Is.EqualTo(15));
        Assert.That(a1.X, Is.EqualTo(a2.X));
        Assert.That(b1.X, Is.EqualTo(b2.X));
        Assert.That(a3.X, Is.Not.EqualTo(a1.X));
        Assert.That(a1.X.Concat(b1.X).Order(), Is.EqualTo(x));
        Assert.That(a1.X, Is.Not.Ordered, "a seeded shuffle should not keep the stored order");
        for (int k = 0; k < a1.Count; k++)
            Assert.That(a1.Labels![k], Is.EqualTo((int)a1.X[k] % 4), "labels travel with their sequence");
    }

    [Test]
    public void SplitOrdered_KeepsStoredOrder()
    {
        var data = SequenceDataset.ForRegression([0f, 1f, 2f, 3f, 4f], 5, 1, 1, [0f, 1f, 2f, 3f, 4f], 1);
        var (first, second) = data.SplitOrdered(0.6);
        Assert.That(first.X, Is.EqualTo(new[] { 0f, 1f, 2f }));
        Assert.That(second.Targets, Is.EqualTo(new[] { 3f, 4f }));
    }

    [Test]
    public void SplitByGroup_PutsEachGroupOnOneSide()
    {
        int count = 60;
        var groups = new int[count];
        var x = new float[count];
        for (int n = 0; n < count; n++) { groups[n] = n / 6; x[n] = n; }
        var data = SequenceDataset.ForClassification(x, count, 1, 1, new int[count], 1, groups: groups);
        var (first, second) = data.SplitByGroup(0.3, seed: 1);
        Assert.That(first.Groups!.Distinct().Count(), Is.EqualTo(3));
        Assert.That(first.Groups!.Intersect(second.Groups!), Is.Empty);
        Assert.That(first.Count + second.Count, Is.EqualTo(count));
    }
}

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class BatchingTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static SequenceDataset Classification(int count, int steps, int features, int seed)
    {
        var random = new Random(seed);
        var x = new float[count * steps * features];
        var lengths = new int[count];
        var labels = new int[count];
        for (int n = 0; n < count; n++)
        {
            lengths[n] = random.Next(1, steps + 1);
            labels[n] = random.Next(5);
            for (int k = 0; k < lengths[n] * features; k++)
                x[n * steps * features + k] = (float)random.NextDouble() - 0.5f;
        }
        return SequenceDataset.ForClassification(x, count, steps, features, labels, 5, lengths);
    }

    [Test]
    public void CopyBatch_CopiesValuesMaskAndLabels_OfTheRequestedSequences()
    {
        SequenceDataset data = Classification(10, 4, 3, seed: 1);
        int[] indices = [7, 2, 7];
        var x = new T[4 * 4 * 3];
        var mask = new bool[4 * 4];
        var labels = new int[4];
        x.AsSpan().Fill(T.NaN); mask.AsSpan().Fill(true); labels.AsSpan().Fill(-1);
        data.CopyBatch<T>(indices, x, mask, labels);
        for (int b = 0; b < 3; b++)
        {
            int n = indices[b];
            Assert.That(labels[b], Is.EqualTo(data.Labels![n]));
            for (int t = 0; t < 4; t++)
            {
                Assert.That(mask[b * 4 + t], Is.EqualTo(t < data.Lengths![n]), $"mask[{b},{t}]");
                for (int f = 0; f < 3; f++)
                    Assert.That(double.CreateTruncating(x[(b * 4 + t) * 3 + f]), Is.EqualTo((double)data.X[(n * 4 + t) * 3 + f]));
            }
        }
        // Row 3 (beyond the short batch) is untouched.
        Assert.That(T.IsNaN(x[3 * 12]), Is.True);
        Assert.That(labels[3], Is.EqualTo(-1));
    }

    [Test]
    public void CopyBatch_Regression_ConvertsTargets()
    {
        var data = SequenceDataset.ForRegression([1f, 2f, 3f, 4f], 2, 2, 1, [0.5f, -1.5f, 2.25f, 8f], 2);
        var x = new T[4];
        var mask = new bool[4];
        var targets = new T[4];
        data.CopyBatch<T>([1, 0], x, mask, targets);
        Assert.That(targets.Select(double.CreateTruncating), Is.EqualTo(new[] { 2.25, 8.0, 0.5, -1.5 }));
        Assert.That(x.Select(double.CreateTruncating), Is.EqualTo(new[] { 3.0, 4.0, 1.0, 2.0 }));
        Assert.That(mask, Is.All.True);
    }

    [Test]
    public void CopyBatch_RejectsSmallBuffersAndWrongTask()
    {
        SequenceDataset data = Classification(4, 3, 2, seed: 2);
        var e = Assert.Throws<ArgumentException>(() => data.CopyBatch<T>([0, 1], new T[11], new bool[6], new int[2]));
        Assert.That(e!.Message, Does.Contain("[B=2, T=3, F=2] = 12").And.Contain("got 11"));
        Assert.Throws<InvalidOperationException>(() => data.CopyBatch<T>([0], new T[6], new bool[3], new T[1]));
    }

    [Test]
    public void Sampler_CoversEveryIndexOncePerEpoch_AndIsSeeded()
    {
        var sampler = new BatchSampler(23, 5, shuffle: true);
        Assert.That(sampler.BatchCount, Is.EqualTo(5));
        var random = new Random(9);
        sampler.StartEpoch(random);
        var seen = new List<int>();
        for (int k = 0; k < sampler.BatchCount; k++) seen.AddRange(sampler.Batch(k).ToArray());
        Assert.That(sampler.Batch(4).Length, Is.EqualTo(3));
        Assert.That(seen.Order(), Is.EqualTo(Enumerable.Range(0, 23)));
        Assert.That(seen, Is.Not.Ordered);

        var again = new BatchSampler(23, 5, shuffle: true);
        again.StartEpoch(new Random(9));
        Assert.That(again.Order.ToArray(), Is.EqualTo(seen));
        Assert.That(new BatchSampler(23, 5, shuffle: true, dropLast: true).BatchCount, Is.EqualTo(4));
        var ordered = new BatchSampler(7, 3, shuffle: false);
        ordered.StartEpoch(null);
        Assert.That(ordered.Batch(2).ToArray(), Is.EqualTo(new[] { 6 }));
    }

    [Test]
    public void Sampler_ReshufflesAtEachEpoch_AndKeepsTheShortLastBatch_LikeKerasFit()
    {
        // Keras fit(shuffle=True) draws a new order every epoch and trains on the last partial batch; without shuffling
        // (as for validation) the batches follow stored order.
        var sampler = new BatchSampler(10, 4, shuffle: true);
        Assert.That(sampler.BatchCount, Is.EqualTo(3));
        var random = new Random(3);
        sampler.StartEpoch(random);
        int[] first = sampler.Order.ToArray();
        sampler.StartEpoch(random);
        int[] second = sampler.Order.ToArray();
        Assert.That(second, Is.Not.EqualTo(first));
        Assert.That(second.Order(), Is.EqualTo(Enumerable.Range(0, 10)));
        Assert.That(sampler.Batch(2).ToArray(), Is.EqualTo(second[8..]));

        // The trainer seeds each epoch's shuffle from (seed, epoch): another epoch, another order; the same pair, the same.
        Assert.That(NumLstm.Training.Trainer.DeriveSeed(7, 1, -1), Is.Not.EqualTo(NumLstm.Training.Trainer.DeriveSeed(7, 0, -1)));
        Assert.That(NumLstm.Training.Trainer.DeriveSeed(7, 1, -1), Is.EqualTo(NumLstm.Training.Trainer.DeriveSeed(7, 1, -1)));

        var ordered = new BatchSampler(10, 4, shuffle: false);
        ordered.StartEpoch(null);
        Assert.That(ordered.Order.ToArray(), Is.EqualTo(Enumerable.Range(0, 10)));
        Assert.That(ordered.Batch(2).ToArray(), Is.EqualTo(new[] { 8, 9 }));
    }

    [Test]
    public void Epoch_OfShuffleAndCopyBatch_AllocatesNothing_AfterWarmUp()
    {
        SequenceDataset data = Classification(100, 8, 3, seed: 3);
        var sampler = new BatchSampler(data.Count, 16, shuffle: true);
        var x = new T[16 * 8 * 3];
        var mask = new bool[16 * 8];
        var labels = new int[16];
        var random = new Random(1);
        void Epoch()
        {
            sampler.StartEpoch(random);
            for (int k = 0; k < sampler.BatchCount; k++)
                data.CopyBatch<T>(sampler.Batch(k), x, mask, labels);
        }
        Epoch();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Epoch();
        Epoch();
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(after - before, Is.EqualTo(0));
    }
}
