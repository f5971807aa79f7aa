using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// <see cref="AlignedArrays"/>: arrays on a 64-byte boundary for the long-lived packed weights. The helper may return an
/// unaligned array when every try misses, but on an ordinary heap its retries succeed, so these tests fail on any miss:
/// most likely the filler arithmetic no longer matches the runtime's object layout (a runtime update).
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public unsafe class AlignedArraysTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Lengths = { 1, 2, 3, 7, 8, 15, 16, 17, 31, 100, 257, 1000, 1024, 4099, 65_536, 100_003 };

    // The address of element 0, read here rather than through the helper, so the test does not grade its own check.
    private static long AddressOf(T[] array) => (long)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));

    [Test]
    public void Allocate_StartsOnA64ByteBoundary_ForManyLengths()
    {
        var arrays = new List<T[]>();   // all kept alive, so every allocation follows the earlier ones on the heap
        for (int round = 0; round < 4; round++)
            foreach (int length in Lengths)
            {
                T[] array = AlignedArrays.Allocate<T>(length + round);
                arrays.Add(array);
                Assert.That(array, Has.Length.EqualTo(length + round));
                Assert.That(AddressOf(array) % 64, Is.Zero, $"length {length + round}, round {round}");
            }
    }

    [Test]
    public void Allocate_ReturnsZeroedArrays_ThatHoldWhatIsWritten()
    {
        foreach (int length in Lengths)
        {
            T[] array = AlignedArrays.Allocate<T>(length);
            Assert.That(array.All(value => value == T.Zero), Is.True, $"zeroed, length {length}");
            for (int k = 0; k < length; k++) array[k] = T.CreateTruncating(k + 1);
            for (int k = 0; k < length; k++)
                if (array[k] != T.CreateTruncating(k + 1)) Assert.Fail($"length {length}: element {k} is {array[k]}");
        }
    }

    // Over the size limit there is one pinned allocation and no tries: the bytes this thread allocated are the array's
    // own (each try would add a miss and a filler as large as the array, 40 MiB more). The least of three counts: once
    // in many runs of the whole suite a single count came out 5 KB above the array's size (something else the thread
    // did in that interval), while tries would add their misses to every count.
    [Test]
    public void Allocate_OverTheSizeLimit_AllocatesTheArrayOnce()
    {
        int length = checked((int)(2 * AlignedArrays.MaxTriedBytes / sizeof(T)));   // 20 MiB: mostly a miss when tried
        long allocated = long.MaxValue;
        T[] array = [];
        for (int count = 0; count < 3; count++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            array = AlignedArrays.Allocate<T>(length);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.That(array, Has.Length.EqualTo(length));
        Assert.That(allocated, Is.LessThan((long)length * sizeof(T) + 4096), "one array, no misses or fillers");
        Assert.That(array[0] == T.Zero && array[length / 2] == T.Zero && array[^1] == T.Zero, Is.True, "zeroed");
        array[^1] = T.One;
        Assert.That(array[^1], Is.EqualTo(T.One));
    }

    [Test]
    public void Allocate_LengthZero_ReturnsTheSharedEmptyArray()
        => Assert.That(AlignedArrays.Allocate<T>(0), Is.SameAs(Array.Empty<T>()));

    [Test]
    public void Allocate_NegativeLength_Throws()
        => Assert.Throws<ArgumentOutOfRangeException>(() => AlignedArrays.Allocate<T>(-1));

    [Test]
    public void IsAligned_MatchesTheAddress_OfAlignedAndUnalignedArrays()
    {
        // Plain pinned arrays start on any 8-byte boundary; among a few dozen some start off a 64-byte one.
        var arrays = Enumerable.Range(0, 64).Select(k => GC.AllocateArray<T>(1 + k, pinned: true)).ToList();
        Assert.That(arrays.Any(a => AddressOf(a) % 64 != 0), Is.True, "some plain pinned array is unaligned");
        foreach (T[] array in arrays) Assert.That(AlignedArrays.IsAligned(array), Is.EqualTo(AddressOf(array) % 64 == 0));
        Assert.That(AlignedArrays.IsAligned(Array.Empty<T>()), Is.True);
    }
}
