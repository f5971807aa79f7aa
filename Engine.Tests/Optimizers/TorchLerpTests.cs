using System.Runtime.Intrinsics;
using NumLstm.Optimizers;

namespace NumLstm.Tests.Optimizers;

/// <summary>
/// ATen's scalar-weight lerp (aten/src/ATen/native/Lerp.h): start + w·(end − start) when |w| &lt; 0.5, else
/// end − (end − start)·(1 − w). The two branches round differently, so each weight is checked against the branch ATen
/// takes, bit for bit, on both sides of 0.5 and at it, in the scalar and the vector form.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class TorchLerpTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [TestCase(0.1)]
    [TestCase(0.4)]
    [TestCase(0.49)]
    [TestCase(0.5)]
    [TestCase(0.7)]
    [TestCase(1.0)]
    public void Apply_TakesAtensBranch_BitForBit(double weight)
    {
        var lerp = new TorchLerp<T>(weight);
        T w = T.CreateTruncating(weight), complement = T.One - w;
        bool fromStart = Math.Abs(weight) < 0.5;
        Assert.That(lerp.FromStart, Is.EqualTo(fromStart));
        var random = new Random(7);
        int differing = 0;
        for (int k = 0; k < 2000; k++)
        {
            T start = T.CreateTruncating(random.NextDouble() * 4 - 2), end = T.CreateTruncating(random.NextDouble() * 4 - 2);
            T viaStart = start + w * (end - start), viaEnd = end - (end - start) * complement;
            T expected = fromStart ? viaStart : viaEnd;
            if (viaStart != viaEnd) differing++;
            Assert.That(lerp.Apply(start, end), Is.EqualTo(expected), $"scalar, start {start}, end {end}");
            Assert.That(lerp.Apply(Vector256.Create(start), Vector256.Create(end)).GetElement(0), Is.EqualTo(expected), $"vector, start {start}, end {end}");
        }
        if (weight != 1.0) Assert.That(differing, Is.GreaterThan(0), "the branches must round apart somewhere, or this test could not tell them apart");
        if (weight == 1.0) Assert.That(lerp.Apply(T.CreateTruncating(0.3), T.CreateTruncating(-1.7)), Is.EqualTo(T.CreateTruncating(-1.7)), "w = 1 gives end exactly");
    }
}
