using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public sealed class NpyFileTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory();
    [TearDown] public void TearDown() => _dir.Dispose();

    private static string Descr => typeof(T) == typeof(float) ? "<f4" : "<f8";
    private static byte[] Bytes(params double[] values) =>
        typeof(T) == typeof(float) ? SpecBytes.F32(Array.ConvertAll(values, v => (float)v)) : SpecBytes.F64(values);

    [TestCase(new int[] { 2, 3 })]
    [TestCase(new int[] { 7 })]
    [TestCase(new int[0])]
    [TestCase(new int[] { 2, 0, 4 })]
    [TestCase(new int[] { 1, 2, 1, 3, 1 })]
    public void RoundTrip_IsBitExact(int[] shape)
    {
        int count = shape.Aggregate(1, (a, d) => a * d);
        T[] values = SpecBytes.AwkwardValues<T>(count, seed: count);
        string path = _dir.File("a.npy");

        NpyFile.Write<T>(path, values, shape);
        NpyArray array = NpyFile.Read(path);

        Assert.That(array.Shape, Is.EqualTo(shape));
        Assert.That(array.DType, Is.EqualTo(typeof(T) == typeof(float) ? TensorDType.F32 : TensorDType.F64));
        Assert.That(SpecBytes.BitsOf(array.ToArray<T>()), Is.EqualTo(SpecBytes.BitsOf(values)));
    }

    [Test]
    public void Write_ProducesTheBytesNumPyWrites()
    {
        // np.save of a (2, 3) C-order array: v1.0, header padded with spaces to 64 bytes in total, ending in '\n'.
        string path = _dir.File("b.npy");
        NpyFile.Write<T>(path, Array.ConvertAll(new[] { 1.0, 2, 3, 4, 5, 6 }, v => T.CreateTruncating(v)), [2, 3]);

        byte[] expected = SpecBytes.Npy($"{{'descr': '{Descr}', 'fortran_order': False, 'shape': (2, 3), }}", Bytes(1, 2, 3, 4, 5, 6));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(expected));
        // As np.save writes it (checked by hand): 128-byte preamble, header length 118 = 0x76, data right after.
        Assert.That(expected.Length, Is.EqualTo(128 + 6 * Unsafe.SizeOf<T>()));
        Assert.That(expected[8..10], Is.EqualTo(new byte[] { 0x76, 0x00 }));
        Assert.That(Encoding.Latin1.GetString(expected, 10, 118), Does.StartWith("{'descr'").And.EndWith(", }" + new string(' ', 118 - 59 - 1) + "\n"));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void Read_HandBuiltFile_OfEachVersion(int major)
    {
        byte[] bytes = SpecBytes.Npy($"{{'descr': '{Descr}', 'fortran_order': False, 'shape': (2, 3), }}", Bytes(0.5, -1, 2, 3, 4, 1e-3), major);
        string path = _dir.Write("hand.npy", bytes);

        NpyArray array = NpyFile.Read(path);

        Assert.That(array.Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(array.ToArray<T>(), Is.EqualTo(Array.ConvertAll(new[] { 0.5, -1, 2, 3, 4, 1e-3 }, v => T.CreateTruncating(v))));
    }

    [Test]
    public void Read_KeysInAnyOrder_OneTupleAndScalarShapes()
    {
        byte[] vec = SpecBytes.Npy($"{{'shape': (3,), 'fortran_order': False, 'descr': '{Descr}'}}", Bytes(1, 2, 3));
        byte[] scalar = SpecBytes.Npy($"{{\"descr\": \"{Descr}\", \"fortran_order\": False, \"shape\": ()}}", Bytes(42));

        Assert.That(NpyFile.Read(new MemoryStream(vec)).Shape, Is.EqualTo(new[] { 3 }));
        NpyArray s = NpyFile.Read(new MemoryStream(scalar));
        Assert.That(s.Shape, Is.Empty);
        Assert.That(s.ToArray<T>(), Is.EqualTo(new[] { T.CreateTruncating(42) }));
    }

    [Test]
    public void Read_BigEndian_IsByteSwapped()
    {
        byte[] data = Bytes(1.5, -2);
        int size = typeof(T) == typeof(float) ? 4 : 8;
        for (int k = 0; k < data.Length; k += size)
            data.AsSpan(k, size).Reverse();
        byte[] bytes = SpecBytes.Npy($"{{'descr': '>{Descr[1..]}', 'fortran_order': False, 'shape': (2,), }}", data);

        Assert.That(NpyFile.Read(new MemoryStream(bytes)).ToArray<T>(), Is.EqualTo(new[] { T.CreateTruncating(1.5), T.CreateTruncating(-2) }));
    }
}

public sealed class NpyFileDTypeTests
{
    [Test]
    public void Read_IntegerLabelsAndBoolMasks()
    {
        byte[] i4 = SpecBytes.Npy("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", [.. BitConverter.GetBytes(-1), .. BitConverter.GetBytes(7), .. BitConverter.GetBytes(int.MaxValue)]);
        byte[] i8 = SpecBytes.Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", BitConverter.GetBytes(-5L));
        byte[] b1 = SpecBytes.Npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", [1, 0, 1]);
        byte[] u1 = SpecBytes.Npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", [0, 255]);

        Assert.That(NpyFile.Read(new MemoryStream(i4)).ToArray<int>(), Is.EqualTo(new[] { -1, 7, int.MaxValue }));
        Assert.That(NpyFile.Read(new MemoryStream(i4)).ToArray<double>(), Is.EqualTo(new[] { -1.0, 7, int.MaxValue }));
        Assert.That(NpyFile.Read(new MemoryStream(i8)).ToArray<long>(), Is.EqualTo(new[] { -5L }));
        Assert.That(NpyFile.Read(new MemoryStream(b1)).ToArray<float>(), Is.EqualTo(new[] { 1f, 0f, 1f }));
        Assert.That(NpyFile.Read(new MemoryStream(u1)).ToArray<int>(), Is.EqualTo(new[] { 0, 255 }));
        var e = Assert.Throws<NumLstmFormatException>(() => NpyFile.Read(new MemoryStream(i4), "labels.npy").ToArray<short>());
        SpecBytes.AssertNames(e, "labels.npy", "data");
    }

    [Test]
    public void Write_IntegerArray_ReadsBack()
    {
        var stream = new MemoryStream();
        NpyFile.Write<long>(stream, [3L, -4L], [2]);
        stream.Position = 0;
        var array = NpyFile.Read(stream);
        Assert.That(array.DType, Is.EqualTo(TensorDType.I64));
        Assert.That(array.ToArray<long>(), Is.EqualTo(new[] { 3L, -4L }));
    }

    [Test]
    public void Write_RejectsShapeThatDoesNotMatchData()
    {
        var e = Assert.Throws<ArgumentException>(() => NpyFile.Write<float>(new MemoryStream(), [1f, 2f, 3f], [2, 2]));
        Assert.That(e!.Message, Does.Contain("4").And.Contain("3"));
    }

    [Test]
    public void Write_RejectsAShapeWhoseElementCountWrapsToTheDataLength()
    {
        // 2^30 · 2^30 · 16 = 2^64 wrapped to 0 in a long and matched empty data; NumPy cannot reshape 0 values to it.
        var e = Assert.Throws<ArgumentException>(() => NpyFile.Write<float>(new MemoryStream(), [], [1 << 30, 1 << 30, 16]));
        Assert.That(e!.Message, Does.Contain("1073741824, 1073741824, 16").And.Contain("2^63"));
        Assert.Throws<ArgumentException>(() => NpyFile.Write<float>(new MemoryStream(), [], [int.MaxValue, int.MaxValue, int.MaxValue]));
        // A zero dimension makes the count 0, whatever the others (as NumPy and our reader compute it).
        var stream = new MemoryStream();
        NpyFile.Write<float>(stream, [], [int.MaxValue, int.MaxValue, int.MaxValue, 0]);
        Assert.That(NpyFile.Read(new MemoryStream(stream.ToArray())).Shape, Is.EqualTo(new[] { int.MaxValue, int.MaxValue, int.MaxValue, 0 }));
    }

    [Test]
    public void Write_AcceptsUpTo64Dimensions_AsTheReaderAndNumPy2Do_AndRejectsMore()
    {
        int[] rank64 = Enumerable.Repeat(1, NpyFile.MaxRank).ToArray();
        var stream = new MemoryStream();
        NpyFile.Write<float>(stream, [7f], rank64);
        NpyArray array = NpyFile.Read(new MemoryStream(stream.ToArray()));
        Assert.That(array.Shape, Is.EqualTo(rank64));
        Assert.That(stream.ToArray()[6], Is.EqualTo(1), "format version 1.0");

        foreach (int rank in new[] { 65, 70, 25_000 })
        {
            var e = Assert.Throws<ArgumentException>(() => NpyFile.Write<float>(new MemoryStream(), [7f], Enumerable.Repeat(1, rank).ToArray()), $"rank {rank}");
            Assert.That(e!.Message, Does.Contain($"{rank} dimensions").And.Contain("64"));
        }
    }

    [Test]
    public void Write_LargestHeader_64DimensionsOf10Digits_FitsVersion1()
    {
        int[] shape = Enumerable.Repeat(int.MaxValue, NpyFile.MaxRank - 1).Append(0).ToArray();
        var stream = new MemoryStream();
        NpyFile.Write<float>(stream, [], shape);
        byte[] bytes = stream.ToArray();
        Assert.That(bytes[6], Is.EqualTo(1));
        Assert.That(bytes.Length % 64, Is.Zero);
        Assert.That(bytes.Length, Is.LessThan(1024));
        Assert.That(NpyFile.Read(new MemoryStream(bytes)).Shape, Is.EqualTo(shape));
    }
}

/// <summary>Malformed and hostile .npy files.</summary>
public sealed class NpyHostileTests
{
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory();
    [TearDown] public void TearDown() => _dir.Dispose();

    private const string Dict23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    private static readonly byte[] Data23 = SpecBytes.F32(1, 2, 3, 4, 5, 6);

    private NumLstmFormatException? Reject(byte[] bytes, string fieldPart)
    {
        string path = _dir.Write("bad.npy", bytes);
        var e = Assert.Throws<NumLstmFormatException>(() => NpyFile.Read(path));
        SpecBytes.AssertNames(e, path, fieldPart);
        return e;
    }

    [Test]
    public void ValidBaseline_IsAccepted() =>
        Assert.That(NpyFile.Read(_dir.Write("ok.npy", SpecBytes.Npy(Dict23, Data23))).ElementCount, Is.EqualTo(6));

    [Test]
    public void Fifo_IsAnUnreadableFile()
    {
        if (OperatingSystem.IsWindows())
            Assert.Ignore("FIFOs are a Unix feature.");
        using FileStream writer = _dir.Fifo("pipe.npy");
        string path = _dir.File("pipe.npy");
        var e = Assert.Throws<NumLstmFormatException>(() => NpyFile.Read(path));
        Assert.That(e!.FilePath, Is.EqualTo(path));
        Assert.That(e.Field, Is.EqualTo("file"));
        Assert.That(e.Message, Does.Contain("cannot seek"));
    }

    [Test]
    public void BadMagicOrVersion_IsRejected()
    {
        byte[] bytes = SpecBytes.Npy(Dict23, Data23);
        bytes[1] = (byte)'X';
        Reject(bytes, "magic");
        bytes = SpecBytes.Npy(Dict23, Data23);
        bytes[6] = 4;
        Reject(bytes, "version");
        Reject([0x93, (byte)'N'], "magic");
    }

    [Test]
    public void TruncatedData_IsRejected()
    {
        var e = Reject(SpecBytes.Npy(Dict23, Data23)[..^3], "data");
        Assert.That(e!.Message, Does.Contain("6 elements"));
    }

    [Test]
    public void TrailingBytes_AreRejected() => Reject([.. SpecBytes.Npy(Dict23, Data23), 0], "data");

    [Test]
    public void HeaderLengthPastEndOfFile_IsRejected()
    {
        byte[] bytes = SpecBytes.Npy(Dict23, Data23);
        bytes[8] = 0xFF;
        bytes[9] = 0xFF;
        Reject(bytes, "header length");
        byte[] v2 = SpecBytes.Npy(Dict23, Data23, major: 2);
        v2[8] = v2[9] = v2[10] = v2[11] = 0xFF;
        Reject(v2, "header length");
    }

    [Test]
    public void ShapeProductOverflow_IsRejected()
    {
        var e = Reject(SpecBytes.Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647), }", Data23), "shape");
        Assert.That(e!.Message, Does.Contain("overflow"));
    }

    [Test]
    public void HugeClaimedArray_In100Bytes_IsRejectedWithoutAllocating()
    {
        byte[] bytes = SpecBytes.Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }", SpecBytes.F64(1), pad: false);
        Assert.That(bytes.Length, Is.LessThanOrEqualTo(100));
        string path = _dir.Write("huge.npy", bytes);
        NpyFile.Read(new MemoryStream(SpecBytes.Npy(Dict23, Data23)));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NumLstmFormatException>(() => NpyFile.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        SpecBytes.AssertNames(e, path, "data");
        Assert.That(allocated, Is.LessThan(1 << 20));
    }

    [Test]
    public void DimensionBeyondInt_IsRejected() =>
        Reject(SpecBytes.Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", Data23), "shape");

    [Test]
    public void FortranOrder_WithTruncatedData_IsRejected() =>
        Reject(SpecBytes.Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", Data23[..^4]), "data");

    [TestCase("<c8")]
    [TestCase("<U4")]
    [TestCase("|O")]
    [TestCase("<f4x")]
    [TestCase("|f4")]
    [TestCase("<u4")]
    public void UnsupportedDescr_IsRejected(string descr)
    {
        var e = Reject(SpecBytes.Npy($"{{'descr': '{descr}', 'fortran_order': False, 'shape': (6,), }}", Data23), "descr");
        Assert.That(e!.Message, Does.Contain($"'{descr}'"));
    }

    [Test]
    public void StructuredDescr_IsRejected() =>
        Reject(SpecBytes.Npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", Data23), "descr");

    [TestCase("{'descr': '<f4', 'fortran_order': False}", "shape")]
    [TestCase("{'descr': '<f4', 'shape': (6,)}", "fortran_order")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}", "header")]
    [TestCase("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", "descr")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "shape")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2; 3)}", "shape")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", "shape")]
    [TestCase("{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", "fortran_order")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", "header")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6,", "shape")]
    public void MalformedHeaderDict_IsRejected(string dict, string field) => Reject(SpecBytes.Npy(dict, Data23), field);

    [Test]
    public void TooManyDimensions_AreRejected()
    {
        string dims = string.Join(", ", Enumerable.Repeat("1", NpyFile.MaxRank + 1));
        Reject(SpecBytes.Npy($"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}", SpecBytes.F32(1)), "shape");
    }

    [Test]
    public void InvalidUtf8_InVersion3Header_IsRejected()
    {
        byte[] bytes = SpecBytes.Npy(Dict23, Data23, major: 3);
        bytes[20] = 0xFF;
        Reject(bytes, "header");
    }
}
