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
