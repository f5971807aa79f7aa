using System.Buffers.Binary;
using System.Text;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

/// <summary>
/// .npy files as NumPy 2.x writes them, built here from numpy/lib/_format_impl.py (<c>_write_array_header</c>,
/// <c>_wrap_header</c>, <c>header_data_from_array_1_0</c>), and the bytes our writer gives against the same rules.
/// </summary>
public sealed class NpyConformanceTests
{
    // What np.save writes, step by step as _write_array_header and _wrap_header do for version 1.0: the dict with
    // sorted keys and repr'd values, then GROWTH_AXIS_MAX_DIGITS (21) minus the digits of the growth axis (shape[-1]
    // if fortran_order else shape[0]) spaces, then padlen = 64 - (10 + hlen) % 64 spaces (64, not 0, when already
    // aligned) and '\n'.
    private static byte[] AsNumPySaves(string descr, bool fortranOrder, int[] shape, byte[] data)
    {
        string shapeRepr = shape.Length switch
        {
            0 => "()",
            1 => $"({shape[0]},)",
            _ => "(" + string.Join(", ", shape) + ")",
        };
        string header = $"{{'descr': '{descr}', 'fortran_order': {(fortranOrder ? "True" : "False")}, 'shape': {shapeRepr}, }}";
        if (shape.Length > 0)
            header += new string(' ', 21 - shape[fortranOrder ? ^1 : 0].ToString().Length);
        int hlen = header.Length + 1;
        int padlen = 64 - (10 + hlen) % 64;
        byte[] headerBytes = Encoding.Latin1.GetBytes(header + new string(' ', padlen) + "\n");

        var bytes = new byte[10 + headerBytes.Length + data.Length];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerBytes.Length);
        headerBytes.CopyTo(bytes, 10);
        data.CopyTo(bytes, 10 + headerBytes.Length);
        return bytes;
    }

    [Test]
    public void Read_FortranOrderFile_AsNpSaveWritesATransposedArray_GivesCOrder()
    {
        // np.save(f, a) with a = np.arange(6, dtype='<f4').reshape(3, 2).T, i.e. [[0, 2, 4], [1, 3, 5]] of shape
        // (2, 3): a is F-contiguous, so the header says fortran_order True and the data is a's memory, 0 1 2 3 4 5.
        byte[] bytes = AsNumPySaves("<f4", fortranOrder: true, [2, 3], SpecBytes.F32(0, 1, 2, 3, 4, 5));

        NpyArray array = NpyFile.Read(new MemoryStream(bytes), "t.npy");

        Assert.That(array.Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(array.ToArray<float>(), Is.EqualTo(new float[] { 0, 2, 4, 1, 3, 5 }));
        Assert.That(array.RawBytes.ToArray(), Is.EqualTo(SpecBytes.F32(0, 2, 4, 1, 3, 5)));
    }

    [Test]
    public void Read_FortranOrder_Rank3_BigEndian_AndOneByteDTypes()
    {
        // Fortran order: element (j0, j1, j2) sits at j0 + d0·(j1 + d1·j2). Values here are 100·j0 + 10·j1 + j2.
        int[] shape = [2, 3, 4];
        var fortran = new List<double>();
        var c = new List<double>();
        for (int j2 = 0; j2 < 4; j2++)
            for (int j1 = 0; j1 < 3; j1++)
                for (int j0 = 0; j0 < 2; j0++)
                    fortran.Add(100 * j0 + 10 * j1 + j2);
        for (int j0 = 0; j0 < 2; j0++)
            for (int j1 = 0; j1 < 3; j1++)
                for (int j2 = 0; j2 < 4; j2++)
                    c.Add(100 * j0 + 10 * j1 + j2);

        byte[] big = SpecBytes.F64([.. fortran]);
        for (int k = 0; k < big.Length; k += 8)
            big.AsSpan(k, 8).Reverse();
        NpyArray f8 = NpyFile.Read(new MemoryStream(AsNumPySaves(">f8", true, shape, big)));
        Assert.That(f8.Shape, Is.EqualTo(shape));
        Assert.That(f8.IsLittleEndian, Is.False);
        Assert.That(f8.ToArray<double>(), Is.EqualTo(c.ToArray()));

        byte[] u1 = Array.ConvertAll(fortran.ToArray(), v => (byte)v);
        NpyArray bytes = NpyFile.Read(new MemoryStream(AsNumPySaves("|u1", true, shape, u1)));
        Assert.That(bytes.ToArray<int>(), Is.EqualTo(Array.ConvertAll(c.ToArray(), v => (int)v)));

        // A Fortran-order file with a zero dimension holds no data and reads as an empty array of that shape.
        NpyArray empty = NpyFile.Read(new MemoryStream(AsNumPySaves("<f4", true, [0, 3], [])));
        Assert.That(empty.Shape, Is.EqualTo(new[] { 0, 3 }));
        Assert.That(empty.ElementCount, Is.Zero);
    }

    [Test]
    public void NpyDataset_ReadsAFortranOrderX_AsItsCOrderValues()
    {
        // x = np.asfortranarray(np.arange(8, dtype='<f4').reshape(2, 2, 2)): element (n, t, f) = 4n + 2t + f.
        var fortran = new List<float>();
        for (int f = 0; f < 2; f++)
            for (int t = 0; t < 2; t++)
                for (int n = 0; n < 2; n++)
                    fortran.Add(4 * n + 2 * t + f);
        using var dir = new TempDirectory();
        string x = dir.Write("x.npy", AsNumPySaves("<f4", true, [2, 2, 2], SpecBytes.F32([.. fortran])));
        string y = dir.Write("y.npy", AsNumPySaves("<i8", false, [2], [.. BitConverter.GetBytes(0L), .. BitConverter.GetBytes(1L)]));

        var data = NpyDataset.LoadRegression(x, y);

        Assert.That(data.X, Is.EqualTo(new float[] { 0, 1, 2, 3, 4, 5, 6, 7 }));
    }

    [TestCase(new int[] { 2, 3 })]
    [TestCase(new int[] { 7 })]
    [TestCase(new int[0])]
    [TestCase(new int[] { 1234, 5, 3 })]
    [TestCase(new int[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0 })]   // the growth spaces cross 128 bytes
    [TestCase(new int[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1234, 0 })]     // dict + growth + '\n' end at 128: 64 more
    public void Write_GivesTheBytesNpSaveWrites(int[] shape)
    {
        int count = shape.Aggregate(1, (a, d) => a * d);
        float[] values = Enumerable.Range(0, count).Select(k => k * 0.5f).ToArray();
        var output = new MemoryStream();

        NpyFile.Write<float>(output, values, shape);

        Assert.That(output.ToArray(), Is.EqualTo(AsNumPySaves("<f4", false, shape, SpecBytes.F32(values))));
    }
}
