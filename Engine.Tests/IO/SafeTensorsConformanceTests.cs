using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

/// <summary>
/// Conformance with the reference implementation, huggingface/safetensors safetensors/src/tensor.rs: our writer
/// against its test vectors and every check of its reader (<c>read_metadata</c>, <c>Metadata::validate</c>), and our
/// reader against files as its writer (<c>prepare</c> + serde_json) lays them out.
/// </summary>
public sealed class SafeTensorsConformanceTests
{
    // ------------------------------------------------------------ our writer, their reader

    [Test]
    public void Write_GivesTheReferenceTestVectors()
    {
        // test_serialization: "attn.0" F32 [1, 2, 3] = 0..5; the 59-byte header is padded to 64.
        byte[] attn = Written([SafeTensor.Create<float>("attn.0", [0, 1, 2, 3, 4, 5], 1, 2, 3)]);
        Assert.That(attn, Is.EqualTo(Vector(64, "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}", 0, SpecBytes.F32(0, 1, 2, 3, 4, 5))));
        // test_serialization_forced_alignement: "attn0" [1, 1, 2, 3]: 7 spaces pad the 65-byte header to 72.
        byte[] attn0 = Written([SafeTensor.Create<float>("attn0", [0, 1, 2, 3, 4, 5], 1, 1, 2, 3)]);
        Assert.That(attn0, Is.EqualTo(Vector(72, "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}", 7, SpecBytes.F32(0, 1, 2, 3, 4, 5))));
        // test_empty: no tensors is "{}" and 6 spaces; with metadata {"framework": "pt"}, 35 bytes and 5 spaces.
        Assert.That(Written([]), Is.EqualTo(Vector(8, "{}", 6, [])));
        Assert.That(Written([], new Dictionary<string, string> { ["framework"] = "pt" }),
            Is.EqualTo(Vector(40, "{\"__metadata__\":{\"framework\":\"pt\"}}", 5, [])));
    }

    [Test]
    public void Written_MixedDTypesZeroSizeAndScalars_PassEveryCheckOfTheReferenceReader()
    {
        var tensors = new[]
        {
            SafeTensor.Create<byte>("mask", [1, 0, 1], 3),
            SafeTensor.Create<float>("w", [1, 2, 3, 4, 5, 6], 2, 3),
            SafeTensor.Create<float>("empty", [], 0),
            SafeTensor.Create<float>("empty2d", [], 2, 0),
            SafeTensor.Create<double>("scale", [0.5]),
            SafeTensor.Create<long>("step", [7]),
            SafeTensor.Create<bool>("flags", [true, false], 2),
            SafeTensor.Create<Half>("h", [(Half)1, (Half)2, (Half)3], 3),
            SafeTensor.Create<short>("s", [-1], 1),
            SafeTensor.Create<float>("é.weight", [9], 1),
        };
        byte[] file = Written(tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "a \"quoted\"\nline é" });

        var checkedTensors = ReferenceReader.Validate(file);

        Assert.That(checkedTensors.Select(t => t.Name), Is.EquivalentTo(tensors.Select(t => t.Name)));
        var read = SafeTensorsFile.Read(new MemoryStream(file));
        Assert.That(read.Metadata["note"], Is.EqualTo("a \"quoted\"\nline é"));
        Assert.That(read["scale"].Shape, Is.Empty);
        Assert.That(read["empty2d"].Shape, Is.EqualTo(new long[] { 2, 0 }));
    }

    [Test]
    public void ModelFile_PassesEveryCheckOfTheReferenceReader()
    {
        var model = NumLstm.Models.ModelBuilder.Input(3).Bidirectional(4, returnSequences: true).LayerNorm().Lstm(3).Dense(2).Build<float>(seed: 1);
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        ModelFile.Save(model, path);

        var tensors = ReferenceReader.Validate(File.ReadAllBytes(path));

        Assert.That(tensors.Select(t => t.Name), Is.EquivalentTo(ModelFile.ToStateDict(model).Select(t => t.Name)));
    }

    // ------------------------------------------------------------ their writer, our reader

    [Test]
    public void Read_AFileAsTheReferenceWriterLaysItOut_MixedDTypesZeroSizeScalarRawUtf8()
    {
        // prepare(): by descending Dtype (I64 > F64 > F32 > ... > BOOL), then by name; serde_json writes non-ASCII as
        // raw UTF-8 and escapes only '"', '\\' and control characters; an empty __metadata__ map is written as {}.
        var entries = new (string Name, string DType, long[] Shape, byte[] Data)[]
        {
            ("step", "I64", [], BitConverter.GetBytes(7L)),
            ("b", "F32", [0], []),
            ("lstm.weight_ih_l0", "F32", [2, 2], SpecBytes.F32(1, 2, 3, 4)),
            ("ü", "F32", [1], SpecBytes.F32(5)),
            ("z", "F32", [3, 0], []),
            ("half", "BF16", [2], [0x80, 0x3F, 0x00, 0xC0]),
            ("mask", "BOOL", [3], [1, 0, 1]),
        };
        byte[] file = AsReferenceWrites(entries, "{}");

        var read = SafeTensorsFile.Read(new MemoryStream(file), "ref.safetensors");

        Assert.That(read.Metadata, Is.Empty);
        Assert.That(read.Tensors.Keys, Is.EqualTo(entries.Select(e => e.Name)));
        Assert.That(read["step"].ToArray<long>(), Is.EqualTo(new[] { 7L }));
        Assert.That(read["step"].Shape, Is.Empty);
        Assert.That(read["b"].ToArray<float>(), Is.Empty);
        Assert.That(read["z"].Shape, Is.EqualTo(new long[] { 3, 0 }));
        Assert.That(read["ü"].ToArray<float>(), Is.EqualTo(new[] { 5f }));
        Assert.That(read["half"].ToArray<float>(), Is.EqualTo(new[] { 1f, -2f }));
        Assert.That(read["mask"].ToArray<int>(), Is.EqualTo(new[] { 1, 0, 1 }));
    }

    [Test]
    public void Read_AnEmptyTensorName_AsTheReferenceWritesAndReadsIt()
    {
        // safetensors.torch.save_file({"": t}) writes it and load_file reads it back: nothing in the format or the
        // reference reader forbids an empty name.
        byte[] file = AsReferenceWrites([("", "F32", [2], SpecBytes.F32(1, 2))], null);

        var read = SafeTensorsFile.Read(new MemoryStream(file), "ref.safetensors");

        Assert.That(read[""].ToArray<float>(), Is.EqualTo(new[] { 1f, 2f }));
        // And we write it back as the reference would.
        Assert.That(Written([read[""]]), Is.EqualTo(file));
    }

    // ------------------------------------------------------------ helpers

    private static byte[] Written(SafeTensor[] tensors, Dictionary<string, string>? metadata = null)
    {
        var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    private static byte[] Vector(int n, string json, int spaces, byte[] buffer)
    {
        Assert.That(json.Length + spaces, Is.EqualTo(n), "the vector itself");
        return SpecBytes.SafeTensors(json + new string(' ', spaces), buffer);
    }

    // Entries already in the reference's order, offsets assigned in that order, header padded with spaces to 8.
    private static byte[] AsReferenceWrites((string Name, string DType, long[] Shape, byte[] Data)[] entries, string? metadataJson)
    {
        var json = new StringBuilder("{");
        if (metadataJson is not null)
            json.Append("\"__metadata__\":").Append(metadataJson).Append(',');
        long offset = 0;
        foreach (var e in entries)
        {
            json.Append($"\"{e.Name}\":{{\"dtype\":\"{e.DType}\",\"shape\":[{string.Join(",", e.Shape)}],\"data_offsets\":[{offset},{offset + e.Data.Length}]}},");
            offset += e.Data.Length;
        }
        if (json[^1] == ',')
            json.Length--;
        json.Append('}');
        byte[] header = Encoding.UTF8.GetBytes(json.ToString());
        byte[] padded = [.. header, .. Enumerable.Repeat((byte)' ', (8 - header.Length % 8) % 8)];
        return SpecBytes.SafeTensors(padded, [.. entries.SelectMany(e => e.Data)]);
    }

    /// <summary>The checks of the reference reader, written from tensor.rs, plus the alignment its writer gives.</summary>
    private static class ReferenceReader
    {
        private static readonly Dictionary<string, int> Sizes = new()
        {
            ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1, ["I16"] = 2, ["U16"] = 2, ["F16"] = 2,
            ["BF16"] = 2, ["I32"] = 4, ["U32"] = 4, ["F32"] = 4, ["F64"] = 8, ["I64"] = 8, ["U64"] = 8,
        };

        public static List<(string Name, long Begin, long End)> Validate(byte[] file)
        {
            Assert.That(file.Length, Is.GreaterThanOrEqualTo(8), "HeaderTooSmall");
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
            Assert.That(n, Is.LessThanOrEqualTo(100_000_000UL), "HeaderTooLarge");
            Assert.That(8 + (long)n, Is.LessThanOrEqualTo(file.Length), "InvalidHeaderLength");
            byte[] header = file[8..(8 + (int)n)];
            Assert.That(System.Text.Unicode.Utf8.IsValid(header), "InvalidHeader");
            Assert.That(header[0], Is.EqualTo((byte)'{'), "InvalidHeaderStart");
            Assert.That((8 + (long)n) % 8, Is.Zero, "the writer pads the header so the buffer starts 8-aligned");

            var tensors = new List<(string Name, long Begin, long End, long Bytes, int Size)>();
            using (var document = JsonDocument.Parse(header))
            {
                string text = Encoding.UTF8.GetString(header);
                Assert.That(text.TrimEnd(' '), Does.EndWith("}"), "only spaces after the JSON");
                foreach (JsonProperty property in document.RootElement.EnumerateObject())
                {
                    if (property.Name == "__metadata__")
                    {
                        Assert.That(property.Value.EnumerateObject().All(p => p.Value.ValueKind == JsonValueKind.String), "metadata is a map of strings");
                        continue;
                    }
                    JsonElement info = property.Value;
                    Assert.That(info.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(new[] { "dtype", "shape", "data_offsets" }));
                    string dtype = info.GetProperty("dtype").GetString()!;
                    Assert.That(Sizes.ContainsKey(dtype), $"dtype {dtype}");
                    long count = 1;
                    foreach (JsonElement d in info.GetProperty("shape").EnumerateArray())
                        count = checked(count * d.GetInt64());
                    JsonElement offsets = info.GetProperty("data_offsets");
                    Assert.That(offsets.GetArrayLength(), Is.EqualTo(2));
                    tensors.Add((property.Name, offsets[0].GetInt64(), offsets[1].GetInt64(), count * Sizes[dtype], Sizes[dtype]));
                }
            }

            // validate(): sorted by data_offsets, each begins where the previous ended, e - s == nelements × size,
            // and the last end + 8 + n is the file length (MetadataIncompleteBuffer otherwise).
            tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            long start = 0;
            foreach (var t in tensors)
            {
                Assert.That(t.Begin, Is.EqualTo(start), $"InvalidOffset({t.Name})");
                Assert.That(t.End, Is.GreaterThanOrEqualTo(t.Begin), $"InvalidOffset({t.Name})");
                Assert.That(t.End - t.Begin, Is.EqualTo(t.Bytes), $"TensorInvalidInfo({t.Name})");
                Assert.That((8 + (long)n + t.Begin) % t.Size, Is.Zero, $"{t.Name} aligned to its element size");
                start = t.End;
            }
            Assert.That(start + 8 + (long)n, Is.EqualTo(file.Length), "MetadataIncompleteBuffer");
            return tensors.Select(t => (t.Name, t.Begin, t.End)).ToList();
        }
    }
}
