using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Buffers.Binary;
using System.Text;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public sealed class SafeTensorsFileTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory();
    [TearDown] public void TearDown() => _dir.Dispose();

    private static string DTypeName => typeof(T) == typeof(float) ? "F32" : "F64";

    [Test]
    public void RoundTrip_IsBitExact_WithMetadataAndShapes()
    {
        T[] weight = SpecBytes.AwkwardValues<T>(12, seed: 1);
        T[] bias = SpecBytes.AwkwardValues<T>(4, seed: 2);
        T[] scalar = [T.CreateTruncating(2.5)];
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"quoted\"" };
        string path = _dir.File("model.safetensors");

        SafeTensorsFile.Write(path,
        [
            SafeTensor.Create<T>("lstm.weight_ih_l0", weight, 4, 3),
            SafeTensor.Create<T>("lstm.bias_ih_l0", bias, 4),
            SafeTensor.Create<T>("scale", scalar),
            SafeTensor.Create<T>("empty", ReadOnlySpan<T>.Empty, 0, 5),
        ], metadata);
        SafeTensorsContent content = SafeTensorsFile.Read(path);

        Assert.That(content.Metadata, Is.EquivalentTo(metadata));
        Assert.That(content.Tensors.Keys, Is.EquivalentTo(new[] { "lstm.weight_ih_l0", "lstm.bias_ih_l0", "scale", "empty" }));
        Assert.That(SpecBytes.BitsOf(content["lstm.weight_ih_l0"].ToArray<T>()), Is.EqualTo(SpecBytes.BitsOf(weight)));
        Assert.That(SpecBytes.BitsOf(content["lstm.bias_ih_l0"].ToArray<T>()), Is.EqualTo(SpecBytes.BitsOf(bias)));
        Assert.That(content["lstm.weight_ih_l0"].Shape, Is.EqualTo(new long[] { 4, 3 }));
        Assert.That(content["scale"].Shape, Is.Empty);
        Assert.That(content["scale"].ToArray<T>(), Is.EqualTo(scalar));
        Assert.That(content["empty"].Shape, Is.EqualTo(new long[] { 0, 5 }));
        Assert.That(content["empty"].ToArray<T>(), Is.Empty);
        Assert.That(content["lstm.bias_ih_l0"].DType.ToString(), Is.EqualTo(DTypeName));
    }

    [Test]
    public void Write_LaysOutHeaderAsTheSpecSays_SortedByName_PaddedTo8WithSpaces()
    {
        string path = _dir.File("layout.safetensors");
        T[] a = [T.One, T.CreateTruncating(2)];
        T[] b = [T.CreateTruncating(-3)];
        SafeTensorsFile.Write(path, [SafeTensor.Create<T>("b", b, 1), SafeTensor.Create<T>("a", a, 2)], new Dictionary<string, string> { ["k"] = "v" });

        byte[] bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        int size = Unsafe.SizeOf<T>();
        string expectedJson =
            $"{{\"__metadata__\":{{\"k\":\"v\"}},\"a\":{{\"dtype\":\"{DTypeName}\",\"shape\":[2],\"data_offsets\":[0,{2 * size}]}}," +
            $"\"b\":{{\"dtype\":\"{DTypeName}\",\"shape\":[1],\"data_offsets\":[{2 * size},{3 * size}]}}}}";
        Assert.Multiple(() =>
        {
            Assert.That((8 + n) % 8, Is.Zero);
            Assert.That(header.TrimEnd(' '), Is.EqualTo(expectedJson));
            Assert.That(header.Length - expectedJson.Length, Is.LessThan(8));
            Assert.That(bytes.Length, Is.EqualTo(8 + n + 3 * size));
            byte[] expectedData = typeof(T) == typeof(float) ? SpecBytes.F32(1, 2, -3) : SpecBytes.F64(1, 2, -3);
            Assert.That(bytes[(int)(8 + n)..], Is.EqualTo(expectedData));
        });
    }

    [Test]
    public void Read_HandBuiltFile_GivesValuesShapesAndMetadata()
    {
        // Built from the spec: header JSON in arbitrary key order, tensors in reverse name order in the buffer.
        bool f32 = typeof(T) == typeof(float);
        int s = f32 ? 4 : 8;
        byte[] buffer = f32 ? SpecBytes.F32(0.5f, -1.25f, 3f, 4f, 5f, 6f, 7f) : SpecBytes.F64(0.5, -1.25, 3, 4, 5, 6, 7);
        string json = $"{{\"z\":{{\"shape\":[2],\"data_offsets\":[0,{2 * s}],\"dtype\":\"{DTypeName}\"}}," +
                      $"\"__metadata__\":{{\"format\":\"pt\"}}," +
                      $"\"m\":{{\"dtype\":\"{DTypeName}\",\"data_offsets\":[{2 * s},{7 * s}],\"shape\":[1,5]}}}}   ";
        string path = _dir.Write("hand.safetensors", SpecBytes.SafeTensors(json, buffer));

        var content = SafeTensorsFile.Read(path);

        Assert.That(content.Metadata, Is.EqualTo(new Dictionary<string, string> { ["format"] = "pt" }));
        Assert.That(content["z"].ToArray<T>(), Is.EqualTo(new[] { T.CreateTruncating(0.5), T.CreateTruncating(-1.25) }));
        Assert.That(content["m"].Shape, Is.EqualTo(new long[] { 1, 5 }));
        Assert.That(content["m"].ToArray<T>(), Is.EqualTo(new[] { 3, 4, 5, 6, 7 }.Select(v => T.CreateTruncating(v)).ToArray()));
    }

    [Test]
    public void Parameters_WriteThenLoad_RestoresValues_AndRejectsShapeMismatch()
    {
        var w = new Parameter<T>("dense.weight", 2, 3);
        var b = new Parameter<T>("dense.bias", 3);
        SpecBytes.AwkwardValues<T>(6, seed: 3).CopyTo(w.Value, 0);
        SpecBytes.AwkwardValues<T>(3, seed: 4).CopyTo(b.Value, 0);
        string path = _dir.File("params.safetensors");
        SafeTensorsFile.WriteParameters(path, [w, b], new Dictionary<string, string> { ["epoch"] = "3" });

        var w2 = new Parameter<T>("dense.weight", 2, 3);
        var b2 = new Parameter<T>("dense.bias", 3);
        var metadata = SafeTensorsFile.LoadParameters(path, [w2, b2]);

        Assert.That(metadata["epoch"], Is.EqualTo("3"));
        Assert.That(SpecBytes.BitsOf(w2.Value), Is.EqualTo(SpecBytes.BitsOf(w.Value)));
        Assert.That(SpecBytes.BitsOf(b2.Value), Is.EqualTo(SpecBytes.BitsOf(b.Value)));

        var wrong = new Parameter<T>("dense.weight", 3, 2);
        var e = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.LoadParameters(path, [wrong, b2]));
        SpecBytes.AssertNames(e, path, "tensor 'dense.weight' shape");
        Assert.That(wrong.Value, Is.All.EqualTo(T.Zero), "nothing is copied when a check fails");

        var onlyBias = new Parameter<T>("dense.bias", 3);
        var extra = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.LoadParameters(path, [onlyBias]));
        Assert.That(extra!.Message, Does.Contain("dense.weight"));
        Assert.DoesNotThrow(() => SafeTensorsFile.LoadParameters(path, [onlyBias], strict: false));
    }
}

public sealed class SafeTensorsDTypeTests
{
    [Test]
    public void Read_HalfBFloatAndIntegerDTypes_ConvertToFloatAndLong()
    {
        // F16 1.5 = 0x3E00, BF16 -2.0 = 0xC000, I64 -7, U8 200, BOOL [1, 0].
        byte[] buffer = [0x00, 0x3E, 0x00, 0xC0, .. BitConverter.GetBytes(-7L), 200, 1, 0];
        string json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}," +
                      "\"bf\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]}," +
                      "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[4,12]}," +
                      "\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[12,13]}," +
                      "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[13,15]}}";
        var content = SafeTensorsFile.Read(new MemoryStream(SpecBytes.SafeTensors(json, buffer)), "mem");

        Assert.That(content["h"].ToArray<float>(), Is.EqualTo(new[] { 1.5f }));
        Assert.That(content["bf"].ToArray<double>(), Is.EqualTo(new[] { -2.0 }));
        Assert.That(content["i"].ToArray<long>(), Is.EqualTo(new[] { -7L }));
        Assert.That(content["i"].ToArray<double>(), Is.EqualTo(new[] { -7.0 }));
        Assert.That(content["u"].ToArray<int>(), Is.EqualTo(new[] { 200 }));
        Assert.That(content["m"].ToArray<float>(), Is.EqualTo(new[] { 1f, 0f }));

        var toInt = Assert.Throws<NumLstmFormatException>(() => content["h"].ToArray<int>());
        SpecBytes.AssertNames(toInt, "mem", "dtype");
        var overflow = Assert.Throws<NumLstmFormatException>(() => content["u"].ToArray<sbyte>());
        SpecBytes.AssertNames(overflow, "mem", "data");
    }
}

/// <summary>The writer's tensor order: the reference writer's (safetensors' prepare()), so every tensor is aligned.</summary>
public sealed class SafeTensorsWriteOrderTests
{
    /// <summary>The tensor names in header order with their data offsets, read with System.Text.Json, not our reader.</summary>
    private static List<(string Name, string DType, long Begin, long End)> Layout(byte[] file)
    {
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        using var document = System.Text.Json.JsonDocument.Parse(file.AsMemory(8, n));
        var layout = new List<(string, string, long, long)>();
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Name == SafeTensorsFile.MetadataKey) continue;
            var offsets = property.Value.GetProperty("data_offsets");
            layout.Add((property.Name, property.Value.GetProperty("dtype").GetString()!, offsets[0].GetInt64(), offsets[1].GetInt64()));
        }
        return layout;
    }

    private static byte[] Write(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    [Test]
    public void MixedDTypes_AreLaidOutByDescendingAlignmentAsTheReferenceWriter_ThenByName_SoEveryTensorIsAligned()
    {
        // Odd element counts, names in the opposite order to the dtypes: in name order F64 would land at offset 3.
        byte[] file = Write(
        [
            SafeTensor.Create<bool>("a_mask", [true, false, true], 3),
            SafeTensor.Create<byte>("b_bytes", [1, 2, 3], 3),
            SafeTensor.Create<sbyte>("c_signed", [-1], 1),
            SafeTensor.Create<short>("d_short", [5, 6, 7], 3),
            SafeTensor.Create<Half>("e_half", [(Half)1.5], 1),
            SafeTensor.FromBytes("f_bf16", TensorDType.BF16, [1], new byte[] { 0x00, 0xC0 }),
            SafeTensor.Create<int>("g_int", [8], 1),
            SafeTensor.Create<float>("h_float", [3f, 4f, 5f], 3),
            SafeTensor.Create<double>("i_double", [1.5], 1),
            SafeTensor.Create<long>("j_long", [-7], 1),
            SafeTensor.Create<double>("0_double", [2.5], 1),
        ]);

        // The reference's Dtype enum, descending: I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL.
        var layout = Layout(file);
        Assert.That(layout.Select(t => t.Name), Is.EqualTo(new[]
            { "j_long", "0_double", "i_double", "h_float", "g_int", "f_bf16", "e_half", "d_short", "c_signed", "b_bytes", "a_mask" }));
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.That((8 + n) % 8, Is.Zero);
        long expected = 0;
        foreach (var (name, dtype, begin, end) in layout)
        {
            int size = dtype switch { "I64" or "F64" => 8, "F32" or "I32" => 4, "BF16" or "F16" or "I16" => 2, _ => 1 };
            Assert.That(begin, Is.EqualTo(expected), $"{name} follows the previous tensor");
            Assert.That((8 + n + begin) % size, Is.Zero, $"{name} ({dtype}) is aligned to its element size in the file");
            expected = end;
        }

        SafeTensorsContent content = SafeTensorsFile.Read(new MemoryStream(file));
        Assert.That(content["i_double"].ToArray<double>(), Is.EqualTo(new[] { 1.5 }));
        Assert.That(content["h_float"].ToArray<float>(), Is.EqualTo(new[] { 3f, 4f, 5f }));
        Assert.That(content["d_short"].ToArray<int>(), Is.EqualTo(new[] { 5, 6, 7 }));
        Assert.That(content["a_mask"].ToArray<float>(), Is.EqualTo(new[] { 1f, 0f, 1f }));
        Assert.That(content["f_bf16"].ToArray<float>(), Is.EqualTo(new[] { -2f }));
    }

    [Test]
    public void NamesOfOneDType_AreInUtf8ByteOrder_AsRustComparesStrings()
    {
        // U+FF01 is EF BC 81 in UTF-8 and U+1F600 is F0 9F 98 80: byte order puts U+FF01 first, ordinal UTF-16 order
        // (0xFF01 against the surrogate 0xD83D) the other way round. "B" (0x42) comes before "a" (0x61).
        byte[] file = Write(
        [
            SafeTensor.Create<float>("a", [1f], 1),
            SafeTensor.Create<float>("\U0001F600", [2f], 1),
            SafeTensor.Create<float>("\uFF01", [3f], 1),
            SafeTensor.Create<float>("B", [4f], 1),
            SafeTensor.Create<float>("ab", [5f], 1),
        ]);
        Assert.That(Layout(file).Select(t => t.Name), Is.EqualTo(new[] { "B", "a", "ab", "\uFF01", "\U0001F600" }));
    }

    [Test]
    public void ModelAndCheckpointFiles_AllF32_StayInOrdinalNameOrder()
    {
        // All their tensors are F32 with ASCII names, so the alignment order leaves them as they were: sorted by name,
        // contiguous from 0 (files written before the change are byte-identical to files written after it).
        var model = new NumLstm.Models.StackSpec(3, new[] { 4, 3 }, Bidirectional: true, OutputUnits: 2, Seed: 5)
            .WithPlacement(NumLstm.Models.LayerNormPlacement.InCellAndAfterEach(NumLstm.Layers.CellNormalization.TfAddons)).Build<float>();
        var data = NumLstm.Data.SequenceDataset.ForClassification(Enumerable.Range(0, 8 * 4 * 3).Select(k => MathF.Cos(k)).ToArray(), 8, 4, 3, [0, 1, 1, 0, 1, 0, 0, 1], 2);
        var trainer = new NumLstm.Training.Trainer(model);
        trainer.Fit(data, new NumLstm.Training.TrainingOptions { Epochs = 1, BatchSize = 4 });
        using var dir = new TempDirectory();
        string modelPath = dir.File("model.safetensors"), checkpointPath = dir.File("checkpoint.safetensors");
        ModelFile.Save(model, modelPath);
        NumLstm.Training.Checkpoint.Save(trainer, checkpointPath);

        foreach (string path in new[] { modelPath, checkpointPath })
        {
            var layout = Layout(File.ReadAllBytes(path));
            var names = layout.Select(t => t.Name).ToList();
            Assert.That(names, Is.EqualTo(names.Order(StringComparer.Ordinal).ToList()), path);
            Assert.That(layout.Select(t => t.DType).Distinct(), Is.EqualTo(new[] { "F32" }), path);
            Assert.That(layout.Zip(layout.Skip(1)).All(p => p.First.End == p.Second.Begin) && layout[0].Begin == 0, path);
        }
        Assert.That(Layout(File.ReadAllBytes(checkpointPath)).Count(t => t.Name.StartsWith("optimizer.", StringComparison.Ordinal)), Is.GreaterThan(0));
    }
}
