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
