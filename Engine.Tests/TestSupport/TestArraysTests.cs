namespace NumLstm.Tests.TestSupport;

/// <summary>
/// The bitwise comparisons many tests rest on must tell apart what equality does not: −0 from +0, one NaN payload from
/// another, and the last bit of a value; and must not tell apart equal bits.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class TestArraysTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T NextUp(T value) => T.BitIncrement(value);

    [Test]
    public void SameBits_TellsApartSignedZerosNaNPayloadsAndTheLastBit()
    {
        T one = T.One;
        Assert.That(TestArrays.SameBits(one, one), Is.True);
        Assert.That(TestArrays.SameBits(T.Zero, T.NegativeZero), Is.False, "+0 and −0");
        Assert.That(TestArrays.SameBits(one, NextUp(one)), Is.False, "the last bit");
        T otherNaN = typeof(T) == typeof(float)
            ? T.CreateTruncating(BitConverter.Int32BitsToSingle(unchecked((int)0x7FC00001)))
            : T.CreateTruncating(BitConverter.Int64BitsToDouble(0x7FF8000000000001));
        Assert.That(TestArrays.SameBits(T.NaN, T.NaN), Is.True);
        Assert.That(TestArrays.SameBits(T.NaN, otherNaN), Is.False, "two NaN payloads");
        Assert.That(TestArrays.BitsOf(T.NegativeZero), Is.Not.EqualTo(0L));
    }

    [Test]
    public void BitsAndAssertSameBits_CompareWholeArrays()
    {
        T[] values = [T.One, T.NegativeZero, T.NaN, T.CreateTruncating(-2.5)];
        T[] copy = (T[])values.Clone(), changed = (T[])values.Clone();
        changed[1] = T.Zero;
        Assert.That(TestArrays.Bits<T>(copy), Is.EqualTo(TestArrays.Bits<T>(values)));
        Assert.That(TestArrays.Bits<T>(changed), Is.Not.EqualTo(TestArrays.Bits<T>(values)));
        Assert.DoesNotThrow(() => TestArrays.AssertSameBits<T>(copy, values, "a copy"));
        var failure = Assert.Throws<AssertionException>(() => TestArrays.AssertSameBits<T>(changed, values, "one −0 made +0"));
        Assert.That(failure!.Message, Does.Contain("one −0 made +0[1]"));
    }
}
