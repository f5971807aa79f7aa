using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// Slivers of a product shared by two threads (<see cref="SliverClaims"/>, <see cref="GemmPacked.MultiplyClaimedSlivers{T}"/>):
/// every sliver taken once, each half walked from the end the step before ended at, the other half's rest taken from
/// its far end; the product's bits those of one thread whoever takes which sliver.
/// </summary>
public class SliverClaimsTests
{
    private static List<int> ClaimAll(SliverClaims claims, int part, bool steal)
    {
        var taken = new List<int>();
        while (steal ? claims.TrySteal(part, out int s) : claims.TryClaimOwn(part, out s)) taken.Add(s);
        return taken;
    }

    [Test]
    public void EachHalf_IsWalkedFromAlternateEnds_AndTheRestOfTheOtherIsTakenFromItsFarEnd()
    {
        var claims = new SliverClaims();
        claims.Reset(7);   // halves [0, 4) and [4, 7)
        List<int> firstOwn = ClaimAll(claims, 0, steal: false);
        Assert.That(claims.TryClaimOwn(1, out int first1), Is.True);
        List<int> stolen = ClaimAll(claims, 0, steal: true);
        Assert.That(firstOwn, Is.EqualTo(new[] { 3, 2, 1, 0 }), "the first walk goes down its half");
        Assert.That(first1, Is.EqualTo(6));
        Assert.That(stolen, Is.EqualTo(new[] { 4, 5 }), "the rest of the other half, from the end its owner reaches last");
        Assert.That(claims.TryClaimOwn(1, out _), Is.False, "nothing left");
        Assert.That(claims.Stolen, Is.EqualTo(2));

        claims.Reset(7);
        Assert.That(ClaimAll(claims, 1, steal: false), Is.EqualTo(new[] { 4, 5, 6 }), "the next walk turns round");
        Assert.That(ClaimAll(claims, 1, steal: true), Is.EqualTo(new[] { 3, 2, 1, 0 }));
        Assert.That(ClaimAll(claims, 0, steal: false), Is.Empty);
        Assert.That(claims.Stolen, Is.EqualTo(6));

        claims.Reset(0);
        Assert.That(claims.TryClaimOwn(0, out _) || claims.TryClaimOwn(1, out _) || claims.TrySteal(0, out _), Is.False, "no slivers");
        Assert.Throws<ArgumentOutOfRangeException>(() => claims.Reset(-1));
    }

    [Test]
    public void TwoThreads_TakeEverySliverExactlyOnce()
    {
        var claims = new SliverClaims();
        for (int round = 0; round < 200; round++)
        {
            claims.Reset(64);
            var seen = new int[64];
            void Part(int part)
            {
                while (claims.TryClaimOwn(part, out int s)) Interlocked.Increment(ref seen[s]);
                while (claims.TrySteal(part, out int s)) Interlocked.Increment(ref seen[s]);
            }
            var other = Task.Run(() => Part(1));
            Part(0);
            other.Wait();
            Assert.That(seen, Is.All.EqualTo(1), $"round {round}");
        }
    }

    [TestCase(32, 2048, 512)]   // W4's forward step h · Uᵀ
    [TestCase(33, 512, 2048)]   // its backward dA · U, an odd batch
    [TestCase(7, 96, 200)]      // three slivers, a short last k block
    public void OnePartAlone_TakesBothHalves_WithTheBitsOfOneThread(int m, int n, int k)
    {
        if (GemmPacked.SliverWidth<float>() != 32 || !GemmPacked.CanClaimSlivers<float>(m, n, k))
            Assert.Ignore("the sliver walk needs 512 bits");
        var random = new Random(3);
        float[] a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        float[] b = Enumerable.Range(0, n * k).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        float[] start = Enumerable.Range(0, m * n).Select(_ => (float)random.NextDouble()).ToArray();
        float[] packed = new float[GemmPacked.PackedLength<float>(k, n)];
        GemmPacked.PackWhole<float>(true, k, n, b, k, packed);
        float[] expected = (float[])start.Clone(), actual = (float[])start.Clone();
        GemmPacked.MultiplyPrepacked(false, m, n, k, 1f, a, k, packed, expected, n, parallel: false);
        var claims = new SliverClaims();
        claims.Reset(n / 32);
        GemmPacked.MultiplyClaimedSlivers<float>(m, n, k, a, k, packed, actual, n, claims, part: 1);   // its own half, then all of part 0's
        GemmPacked.MultiplyClaimedSlivers<float>(m, n, k, a, k, packed, actual, n, claims, part: 0);   // nothing left
        Assert.That(claims.Stolen, Is.EqualTo((n / 32 + 1) / 2));
        Assert.That(actual, Is.EqualTo(expected));
        Assert.Throws<InvalidOperationException>(() => GemmPacked.MultiplyClaimedSlivers<float>(m, n, k, a, k, packed, actual, n, new SliverClaims(), 0),
            "claims not reset for this product");
    }
}
