using NumLstm.Benchmarks.Kernels;

namespace NumLstm.Tests.Benchmarks;

/// <summary>The bandwidth benchmark's read kernel reads every element once (its GB/s column assumes it).</summary>
public class MemoryBandwidthBenchmarkTests
{
    [TestCase(64)]
    [TestCase(640)]
    [TestCase(40960)]
    public void Sum_AddsEveryElementOnce(int length)
    {
        // quarter-integers: every partial sum is exact in float, so the result must equal the exact sum
        float[] values = Enumerable.Range(0, length).Select(i => (i % 7) * 0.25f).ToArray();
        double expected = values.Sum(v => (double)v);
        Assert.That(MemoryBandwidthBenchmarks.Sum(values), Is.EqualTo(expected));
        values[length - 1] += 1f;
        Assert.That(MemoryBandwidthBenchmarks.Sum(values), Is.EqualTo(expected + 1), "the last element is read");
    }

    [Test]
    public void Sum_RejectsALengthNotAMultipleOf64()
    {
        var error = Assert.Throws<ArgumentException>(() => MemoryBandwidthBenchmarks.Sum(new float[100]));
        Assert.That(error!.Message, Does.Contain("multiple of 64").And.Contain("100"));
    }

    [TestCase(160, 160_000)]
    [TestCase(320, 320_000)]
    [TestCase(640, 640_000)]
    [TestCase(4096, 4_194_304)]
    public void GBPerSecond_CountsTheBytesEachRowReads(int kilobytes, double productBytes)
    {
        Assert.That(MemoryBandwidthBenchmarks.BytesPerPass(nameof(MemoryBandwidthBenchmarks.Stream), kilobytes), Is.EqualTo(kilobytes * 1024.0));
        Assert.That(MemoryBandwidthBenchmarks.BytesPerPass(nameof(MemoryBandwidthBenchmarks.Product), kilobytes), Is.EqualTo(productBytes));
        Assert.That(MemoryBandwidthBenchmarks.BytesPerPass(nameof(MemoryBandwidthBenchmarks.ProductSingleRowLayout), kilobytes), Is.EqualTo(productBytes),
            "the batch-1 layout holds the same k·n values");
    }
}
