using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

/// <summary>
/// Seeded mutation fuzzing of the three readers: every mutated input must load or throw NumLstmFormatException;
/// any other exception type fails. Loaded content is also converted (ToArray) to exercise the data paths.
/// Inputs are read from memory streams (the same code as files, without 9000 temp files).
/// </summary>
public sealed class FormatFuzzTests
{
    private const int MutationsPerFormat = 3000;

    private enum Outcome { Loaded, Rejected }

    [Test]
    public void MutatedSafeTensors_LoadOrThrowFormatException()
    {
        var tensors = new[]
        {
            SafeTensor.Create<float>("lstm.weight_ih_l0", Enumerable.Range(0, 24).Select(k => k * 0.5f - 3).ToArray(), 8, 3),
            SafeTensor.Create<double>("lstm.bias", [1.0, -2.0, 0.25], 3),
            SafeTensor.Create<long>("step", [12345L]),
            SafeTensor.Create<float>("empty", ReadOnlySpan<float>.Empty, 0, 2),
        };
        var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, tensors, new Dictionary<string, string> { ["format"] = "pt", ["epoch"] = "7" });
        byte[] valid = stream.ToArray();

        Run("safetensors", valid, seed: 101, HeaderLengthRewriteSafeTensors, bytes =>
        {
            var content = SafeTensorsFile.Read(new MemoryStream(bytes), "fuzz.safetensors");
            foreach (var t in content.Tensors.Values)
            {
                _ = t.ToArray<float>();
                _ = t.ToArray<double>();
            }
        });
    }

    [Test]
    public void MutatedNpy_LoadOrThrowFormatException()
    {
        var stream = new MemoryStream();
        NpyFile.Write<double>(stream, Enumerable.Range(0, 12).Select(k => k * 1.5).ToArray(), [3, 4]);
        byte[] valid = stream.ToArray();

        Run("npy", valid, seed: 202, HeaderLengthRewriteNpy, bytes =>
        {
            var array = NpyFile.Read(new MemoryStream(bytes), "fuzz.npy");
            _ = array.ToArray<float>();
            _ = array.ToArray<double>();
        });
    }

    [Test]
    public void MutatedCsv_LoadOrThrowFormatException()
    {
        byte[] valid = Encoding.UTF8.GetBytes("time,\"price\",volume\n0,1.5,1e3\n1,-2.25,\"7\"\n\n2,3.75E-2,NaN\n3,4,5\n");
        Run("csv", valid, seed: 303, null, bytes =>
        {
            _ = CsvFile.ReadColumns(new MemoryStream(bytes), hasHeader: true, null, "fuzz.csv");
            _ = CsvFile.ReadColumns(new MemoryStream(bytes), hasHeader: true, new CsvReadOptions { EmptyCells = CsvEmptyCells.NaN }, "fuzz.csv");
        });
    }

    [TestCase("seed_small.weights.h5", 404)]
    [TestCase("seed_small.latest.weights.h5", 505)]
    [TestCase("seed_small.legacy_model.h5", 606)]
    [TestCase("seed_small.keras", 707)]
    [TestCase("seed_small.h5py.legacy_model.h5", 808)]
    public void MutatedKerasFiles_LoadOrThrowFormatException(string fixture, int seed)
    {
        // The whole load: zip, superblock, headers, B-trees, heaps, attributes, data and the model's checks.
        byte[] valid = File.ReadAllBytes(KerasFileTests<float>.Fixture(fixture));
        string format = fixture.EndsWith(".keras", StringComparison.Ordinal) ? "keras" : "h5";
        Run(format, valid, seed, null, bytes =>
        {
            KerasFile.KerasContent content = KerasFile.Read(new MemoryStream(bytes), $"fuzz.{format}");
            KerasFile.LoadWeights(KerasFileTests<float>.SeedSmall(), content, strict: true);
        });
    }

    private static void Run(string format, byte[] valid, int seed, Func<Random, byte[], byte[]>? headerLengthRewrite, Action<byte[]> load)
    {
        Assert.DoesNotThrow(() => load(valid), "the unmutated input must load");
        var random = new Random(seed);
        var counts = new Dictionary<Outcome, int> { [Outcome.Loaded] = 0, [Outcome.Rejected] = 0 };
        var watch = Stopwatch.StartNew();
        for (int k = 0; k < MutationsPerFormat; k++)
        {
            byte[] mutated = Mutate(random, valid, headerLengthRewrite);
            try
            {
                load(mutated);
                counts[Outcome.Loaded]++;
            }
            catch (NumLstmFormatException e)
            {
                Assert.That(e.FilePath, Is.EqualTo($"fuzz.{format}").Or.StartWith($"fuzz.{format}!"), $"mutation {k}: {e.Message}");
                counts[Outcome.Rejected]++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{format} mutation {k} (seed {seed}) threw {e.GetType().Name}, not NumLstmFormatException: {e}\nInput (base64): {Convert.ToBase64String(mutated)}");
            }
        }
        watch.Stop();
        TestContext.Out.WriteLine($"{format}: {MutationsPerFormat} mutations, {counts[Outcome.Loaded]} loaded, {counts[Outcome.Rejected]} rejected, {watch.Elapsed.TotalMilliseconds:F0} ms");
        Assert.That(counts[Outcome.Rejected], Is.GreaterThan(MutationsPerFormat / 10), "the mutations should break most inputs");
    }

    private static byte[] Mutate(Random random, byte[] valid, Func<Random, byte[], byte[]>? headerLengthRewrite)
    {
        byte[] bytes = (byte[])valid.Clone();
        int rounds = 1 + random.Next(3);
        for (int r = 0; r < rounds; r++)
        {
            switch (random.Next(headerLengthRewrite is null ? 6 : 7))
            {
                case 0: // bit flips
                    for (int f = 1 + random.Next(4); f > 0 && bytes.Length > 0; f--)
                        bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1: // byte overwrite with an interesting value
                    if (bytes.Length > 0)
                        bytes[random.Next(bytes.Length)] = Interesting[random.Next(Interesting.Length)];
                    break;
                case 2: // truncation
                    bytes = bytes[..random.Next(bytes.Length + 1)];
                    break;
                case 3: // insertion of random bytes
                {
                    int at = random.Next(bytes.Length + 1);
                    var insert = new byte[1 + random.Next(16)];
                    random.NextBytes(insert);
                    bytes = [.. bytes[..at], .. insert, .. bytes[at..]];
                    break;
                }
                case 4: // deletion of a range
                    if (bytes.Length > 1)
                    {
                        int at = random.Next(bytes.Length);
                        int len = 1 + random.Next(Math.Min(16, bytes.Length - at));
                        bytes = [.. bytes[..at], .. bytes[(at + len)..]];
                    }
                    break;
                case 5: // a number in the text replaced by an extreme one
                    bytes = ReplaceDigits(random, bytes);
                    break;
                default:
                    bytes = headerLengthRewrite!(random, bytes);
                    break;
            }
        }
        return bytes;
    }

    private static readonly byte[] Interesting = [0, 1, 0x7F, 0x80, 0xFF, (byte)'9', (byte)'-', (byte)'[', (byte)']', (byte)'{', (byte)'"', (byte)'\'', (byte)',', (byte)'\n', (byte)'e', (byte)'.'];

    private static readonly string[] ExtremeNumbers =
        ["0", "-1", "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551615", "99999999999999999999999", "1e308", "1.5", "2147483648"];

    private static byte[] ReplaceDigits(Random random, byte[] bytes)
    {
        var runs = new List<(int Start, int End)>();
        for (int k = 0; k < bytes.Length;)
        {
            if (bytes[k] is >= (byte)'0' and <= (byte)'9')
            {
                int start = k;
                while (k < bytes.Length && bytes[k] is >= (byte)'0' and <= (byte)'9')
                    k++;
                runs.Add((start, k));
            }
            else
            {
                k++;
            }
        }
        if (runs.Count == 0)
            return bytes;
        var (s, e) = runs[random.Next(runs.Count)];
        byte[] number = Encoding.ASCII.GetBytes(ExtremeNumbers[random.Next(ExtremeNumbers.Length)]);
        return [.. bytes[..s], .. number, .. bytes[e..]];
    }

    private static byte[] HeaderLengthRewriteSafeTensors(Random random, byte[] bytes)
    {
        if (bytes.Length < 8)
            return bytes;
        ulong current = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        ulong[] choices = [0, 1, 2, (ulong)bytes.Length - 8, (ulong)bytes.Length - 7, (ulong)bytes.Length, current + 1, current - 1,
            current + 8, 100_000_001, 10_000_000_000, 1UL << 63, ulong.MaxValue, (ulong)random.NextInt64()];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, choices[random.Next(choices.Length)]);
        return bytes;
    }

    private static byte[] HeaderLengthRewriteNpy(Random random, byte[] bytes)
    {
        if (bytes.Length < 12)
            return bytes;
        if (random.Next(4) == 0)
        {
            bytes[6] = (byte)(1 + random.Next(3)); // switch the version: the length field changes width
            return bytes;
        }
        int current = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        int[] choices = [0, 1, current - 1, current + 1, bytes.Length - 10, bytes.Length - 9, ushort.MaxValue, random.Next(65536)];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)choices[random.Next(choices.Length)]);
        return bytes;
    }
}
