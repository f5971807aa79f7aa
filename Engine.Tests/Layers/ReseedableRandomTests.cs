using NumLstm.Layers;

namespace NumLstm.Tests.Layers;

/// <summary>
/// <see cref="ReseedableRandom"/> draw for draw against <c>new Random(seed)</c>, the stream Bidirectional's dropout masks
/// were drawn from before it kept one in its cache: every seed class (0, ±1, the extremes, int.MinValue's special case,
/// seeds past the 161803398 constant), each draw it keeps, across reseeding, and no allocation when reseeded.
/// </summary>
public class ReseedableRandomTests
{
    private static readonly int[] Seeds =
        [0, 1, -1, 2, 42, -42, 161803397, 161803398, 161803399, 1_000_000_007, int.MaxValue, int.MaxValue - 1, int.MinValue, int.MinValue + 1];

    private static IEnumerable<int> AllSeeds()
    {
        foreach (int seed in Seeds) yield return seed;
        var pick = new Random(7);
        for (int k = 0; k < 200; k++) yield return pick.Next(int.MinValue, int.MaxValue);
    }

    /// <summary>For every seed: one stream reseeded to it (the same instance throughout) and a new Random(seed).</summary>
    private static IEnumerable<(int Seed, ReseedableRandom Stream, Random Reference)> StreamsForEverySeed()
    {
        var stream = new ReseedableRandom();
        foreach (int seed in AllSeeds()) yield return (seed, stream.Reseed(seed), new Random(seed));
    }

    [Test]
    public void NextDouble_IsNewRandomsStream_ForEverySeed_AfterReseeding()
    {
        foreach (var (seed, stream, reference) in StreamsForEverySeed())
        {
            for (int k = 0; k < 300; k++)   // more than the 55-value state, so the state wraps several times
                Assert.That(BitConverter.DoubleToInt64Bits(stream.NextDouble()), Is.EqualTo(BitConverter.DoubleToInt64Bits(reference.NextDouble())),
                    $"seed {seed}, draw {k}");
        }
    }

    [Test]
    public void TheIntegerDraws_AreNewRandoms_MixedWithNextDouble()
    {
        foreach (var (seed, stream, reference) in StreamsForEverySeed())
        {
            for (int k = 0; k < 60; k++)
            {
                Assert.That(stream.Next(), Is.EqualTo(reference.Next()), $"seed {seed}: Next() at {k}");
                Assert.That(stream.Next(1000), Is.EqualTo(reference.Next(1000)), $"seed {seed}: Next(1000) at {k}");
                Assert.That(stream.Next(-5, 17), Is.EqualTo(reference.Next(-5, 17)), $"seed {seed}: Next(-5, 17) at {k}");
                Assert.That(stream.Next(int.MinValue, int.MaxValue), Is.EqualTo(reference.Next(int.MinValue, int.MaxValue)),
                    $"seed {seed}: Next over more than int.MaxValue at {k}");
                Assert.That(stream.NextDouble(), Is.EqualTo(reference.NextDouble()), $"seed {seed}: NextDouble at {k}");
            }
        }
    }

    [TestCase(0.4)]
    [TestCase(0.05)]
    [TestCase(0.95)]
    [TestCase(1e-9)]
    public void FillDropoutMasks_IsTheNextDoubleLoop_DrawForDraw_AndTheStreamGoesOnFromThere(double rate)
    {
        // Float and double masks, lengths around the 55-value state (and a mask inside a draw sequence), every seed class.
        foreach (var (seed, stream, reference) in StreamsForEverySeed().Where((_, i) => i % 7 == 0))
        {
            float keep = (float)(1 / (1 - rate));
            for (int k = 0; k < 3; k++) Assert.That(stream.NextDouble(), Is.EqualTo(reference.NextDouble()));
            foreach (int length in new[] { 1, 54, 55, 56, 300 })
            {
                var masks = new float[length];
                stream.FillDropoutMasks<float>(masks, rate, keep);
                for (int i = 0; i < length; i++)
                {
                    float expected = reference.NextDouble() < rate ? 0f : keep;
                    Assert.That(BitConverter.SingleToInt32Bits(masks[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(expected)),
                        $"seed {seed}, rate {rate}, length {length}, mask {i}");
                }
            }
            var doubles = new double[97];
            stream.FillDropoutMasks<double>(doubles, rate, 1 / (1 - rate));
            for (int i = 0; i < doubles.Length; i++)
                Assert.That(doubles[i], Is.EqualTo(reference.NextDouble() < rate ? 0 : 1 / (1 - rate)), $"seed {seed}, double mask {i}");
            for (int k = 0; k < 60; k++)
                Assert.That(stream.Next(), Is.EqualTo(reference.Next()), $"seed {seed}: draw {k} after the masks");
        }
    }

    [Test]
    public void DropThreshold_IsTheFirstSampleWhoseNextDoubleReachesTheRate()
    {
        const double scale = 1.0 / int.MaxValue;
        var rates = new List<double> { 1e-12, 1e-9, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.999999 };
        foreach (int sample in new[] { 1, 2, 12345, 858993459, 1073741823, 1073741824, 2147483645, 2147483646 })
        {
            double exact = sample * scale;   // a rate that is exactly some sample's NextDouble, and its neighbours
            rates.Add(exact);
            rates.Add(Math.BitDecrement(exact));
            rates.Add(Math.BitIncrement(exact));
        }
        foreach (double rate in rates)
        {
            int t = ReseedableRandom.DropThreshold(rate);
            foreach (long s in new long[] { t - 2L, t - 1L, t, t + 1L })
            {
                if (s < 0 || s >= int.MaxValue) continue;   // samples lie in [0, int.MaxValue)
                Assert.That(s * scale < rate, Is.EqualTo(s < t), $"rate {rate:R}, threshold {t}, sample {s}");
            }
        }
        Assert.That(ReseedableRandom.DropThreshold(0), Is.Zero, "rate 0 drops nothing");
        Assert.That(ReseedableRandom.DropThreshold(Math.BitDecrement(1.0)), Is.EqualTo(int.MaxValue), "a rate above every sample drops all");
    }

    [Test]
    public void FillDropoutMasks_DropsAboutRateOfTheMasks()
    {
        var masks = new float[200_000];
        new ReseedableRandom().Reseed(11).FillDropoutMasks<float>(masks, 0.4, 1 / 0.6f);
        double dropped = masks.Count(m => m == 0) / (double)masks.Length;
        Assert.That(dropped, Is.EqualTo(0.4).Within(0.005), "fraction dropped");
        Assert.That(masks.Where(m => m != 0).Distinct().Single(), Is.EqualTo(1 / 0.6f), "the kept masks are 1 / (1 − rate)");
    }

    [Test]
    public void Reseeding_RestartsTheStream_FromAnyPoint()
    {
        var stream = new ReseedableRandom().Reseed(5);
        double[] first = Enumerable.Range(0, 70).Select(_ => stream.NextDouble()).ToArray();
        stream.Reseed(9);
        for (int k = 0; k < 13; k++) stream.Next();
        stream.Reseed(5);
        Assert.That(Enumerable.Range(0, 70).Select(_ => stream.NextDouble()).ToArray(), Is.EqualTo(first));
    }

    [Test]
    public void Reseed_AllocatesNothing()
    {
        var stream = new ReseedableRandom();
        for (int k = 0; k < 10; k++) stream.Reseed(k).NextDouble();
        long before = GC.GetAllocatedBytesForCurrentThread();
        double sum = 0;
        for (int k = 0; k < 1000; k++) sum += stream.Reseed(k).NextDouble();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, $"bytes over 1,000 reseeds (sum {sum})");
    }

    [Test]
    public void BadArguments_AndTheDrawsItDoesNotKeep_Throw()
    {
        var stream = new ReseedableRandom();
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Next(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Next(3, 2));
        var error = Assert.Throws<NotSupportedException>(() => stream.NextSingle())!;
        Assert.That(error.Message, Does.Contain("NextSingle"));
        Assert.Throws<NotSupportedException>(() => stream.NextInt64());
        Assert.Throws<NotSupportedException>(() => stream.NextBytes(new byte[4]));
    }
}
