using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Buffers.Binary;
using System.Text;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

/// <summary>A temporary directory per fixture and byte builders that follow the format specs, not our writers.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "numlstm-io-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        string path = File(name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>
    /// Makes a FIFO and opens it read-write, which on Linux does not block, so a reader's open finds a writer and
    /// returns at once. Dispose the stream to close it. Unix only (mkfifo).
    /// </summary>
    public FileStream Fifo(string name)
    {
        string path = File(name);
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]))
        {
            mkfifo.WaitForExit();
            Assert.That(mkfifo.ExitCode, Is.Zero, "mkfifo");
        }
        return new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class SpecBytes
{
    /// <summary>safetensors: u64 LE header length, the header bytes as given, the buffer.</summary>
    public static byte[] SafeTensors(string headerJson, byte[] buffer) => SafeTensors(Encoding.UTF8.GetBytes(headerJson), buffer);

    public static byte[] SafeTensors(byte[] header, byte[] buffer)
    {
        var bytes = new byte[8 + header.Length + buffer.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        buffer.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>.npy as NumPy writes it: magic, version, LE header length, dict padded with spaces to 64 bytes, '\n'.</summary>
    public static byte[] Npy(string dict, byte[] data, int major = 1, bool pad = true)
    {
        int prefix = major == 1 ? 10 : 12;
        string header = dict;
        if (pad)
        {
            int total = (prefix + dict.Length + 1 + 63) / 64 * 64;
            header = dict.PadRight(total - prefix - 1) + "\n";
        }
        byte[] headerBytes = major == 3 ? Encoding.UTF8.GetBytes(header) : Encoding.Latin1.GetBytes(header);
        var bytes = new byte[prefix + headerBytes.Length + data.Length];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = (byte)major;
        bytes[7] = 0;
        if (major == 1)
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerBytes.Length);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)headerBytes.Length);
        headerBytes.CopyTo(bytes, prefix);
        data.CopyTo(bytes, prefix + headerBytes.Length);
        return bytes;
    }

    public static byte[] F32(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int k = 0; k < values.Length; k++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(k * 4), values[k]);
        return bytes;
    }

    public static byte[] F64(params double[] values)
    {
        var bytes = new byte[values.Length * 8];
        for (int k = 0; k < values.Length; k++)
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(k * 8), values[k]);
        return bytes;
    }

    /// <summary>Values that catch a lossy round trip: signed zero, subnormals, extremes, infinities, NaN with payload.</summary>
    public static T[] AwkwardValues<T>(int count, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        var values = new T[count];
        for (int k = 0; k < count; k++)
            values[k] = T.CreateTruncating(random.NextDouble() * 2 - 1) * T.CreateTruncating(Math.Pow(10, random.Next(-30, 30)));
        T[] special = [T.NegativeZero, T.Epsilon, -T.Epsilon, T.CreateSaturating(double.MaxValue), T.CreateSaturating(double.MinValue), T.PositiveInfinity, T.NegativeInfinity, T.NaN, T.One / T.CreateTruncating(3)];
        for (int k = 0; k < special.Length && k < count; k++)
            values[k] = special[k];
        if (count > special.Length)
        {
            // A NaN with a non-default payload: a bit-exact format must keep it.
            if (typeof(T) == typeof(float))
                values[special.Length] = (T)(object)BitConverter.Int32BitsToSingle(0x7FC0_1234);
            else
                values[special.Length] = (T)(object)BitConverter.Int64BitsToDouble(0x7FF8_0000_0000_1234);
        }
        return values;
    }

    public static byte[] BitsOf<T>(T[] values) where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>Asserts the exception names the file and the field (case-insensitive substring of Field), and that the
    /// message carries both.</summary>
    public static void AssertNames(NumLstmFormatException? e, string? path, string fieldPart)
    {
        Assert.That(e, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(e!.FilePath, Is.EqualTo(path));
            if (path is not null)
                Assert.That(e.Message, Does.Contain(path));
            Assert.That(e.Field, Does.Contain(fieldPart).IgnoreCase);
            Assert.That(e.Message, Does.Contain(fieldPart).IgnoreCase);
            Assert.That(e.Message, Does.Contain("expected"));
        });
    }
}
