using System.Buffers.Binary;
using System.Text;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

/// <summary>Malformed and hostile safetensors files: each must give NumLstmFormatException naming file and field.</summary>
public sealed class SafeTensorsHostileTests
{
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory();
    [TearDown] public void TearDown() => _dir.Dispose();

    private const string ValidJson = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
    private static readonly byte[] ValidBuffer = SpecBytes.F32(1, 2, 3);

    private NumLstmFormatException? Reject(byte[] bytes, string fieldPart)
    {
        string path = _dir.Write("bad.safetensors", bytes);
        var e = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.Read(path));
        SpecBytes.AssertNames(e, path, fieldPart);
        return e;
    }

    private NumLstmFormatException? Reject(string json, byte[] buffer, string fieldPart) =>
        Reject(SpecBytes.SafeTensors(json, buffer), fieldPart);

    [Test]
    public void ValidBaseline_IsAccepted() =>
        Assert.That(SafeTensorsFile.Read(_dir.Write("ok.safetensors", SpecBytes.SafeTensors(ValidJson, ValidBuffer))).Tensors, Has.Count.EqualTo(2));

    [Test]
    public void FileShorterThanTheLengthPrefix_IsRejected() => Reject([1, 0, 0], "header length");

    [Test]
    public void Truncated_InsideTheBuffer_IsRejected()
    {
        byte[] full = SpecBytes.SafeTensors(ValidJson, ValidBuffer);
        var e = Reject(full[..^2], "data_offsets");
        Assert.That(e!.Message, Does.Contain("10")); // the buffer now holds 10 bytes
    }

    [Test]
    public void Truncated_InsideTheHeader_IsRejectedAsHeaderLength()
    {
        byte[] full = SpecBytes.SafeTensors(ValidJson, ValidBuffer);
        Reject(full[..20], "header length");
    }

    [Test]
    public void HeaderLengthPastEndOfFile_IsRejected()
    {
        byte[] bytes = SpecBytes.SafeTensors(ValidJson, ValidBuffer);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        var e = Reject(bytes, "header length");
        Assert.That(e!.Message, Does.Contain(bytes.Length.ToString()));
    }

    [Test]
    public void HeaderLengthOf10GB_InA100ByteFile_IsRejectedWithoutAllocating()
    {
        var bytes = new byte[100];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 10_000_000_000UL);
        bytes[8] = (byte)'{';
        string path = _dir.Write("huge-header.safetensors", bytes);
        SafeTensorsFile.Read(new MemoryStream(SpecBytes.SafeTensors(ValidJson, ValidBuffer))); // warm up the code paths

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        SpecBytes.AssertNames(e, path, "header length");
        Assert.That(allocated, Is.LessThan(1 << 20));
    }

    [Test]
    public void HeaderLengthAboveTheCap_IsRejected()
    {
        var bytes = new byte[100];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        var e = Reject(bytes, "header length");
        Assert.That(e!.Message, Does.Contain(SafeTensorsFile.MaxHeaderBytes.ToString()));
    }

    [Test]
    public void HugeClaimedTensor_InA100ByteFile_IsRejectedWithoutAllocating()
    {
        // [100000, 100000] F32 = 40 GB claimed, 0 bytes present.
        string json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[100000,100000],\"data_offsets\":[0,40000000000]}}";
        byte[] bytes = SpecBytes.SafeTensors(json.PadRight(92 - 8 - 0), []);
        Assert.That(bytes.Length, Is.LessThanOrEqualTo(100));
        string path = _dir.Write("huge-tensor.safetensors", bytes);
        SafeTensorsFile.Read(new MemoryStream(SpecBytes.SafeTensors(ValidJson, ValidBuffer)));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        SpecBytes.AssertNames(e, path, "tensor 'w' data_offsets");
        Assert.That(allocated, Is.LessThan(1 << 20));
    }

    [Test]
    public void OffsetsPastEndOfBuffer_AreRejected() =>
        Reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[4,16]}}", ValidBuffer, "tensor 'a' data_offsets");

    [Test]
    public void OverlappingOffsets_AreRejected()
    {
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        var e = Reject(json, ValidBuffer, "tensor 'b' data_offsets");
        Assert.That(e!.Message, Does.Contain("overlap"));
    }

    [Test]
    public void AliasedTensors_AtTheSameOffsets_AreRejected()
    {
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
        Reject(json, ValidBuffer, "data_offsets");
    }

    [Test]
    public void GapBetweenTensors_IsRejected()
    {
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        var e = Reject(json, ValidBuffer, "tensor 'b' data_offsets");
        Assert.That(e!.Message, Does.Contain("[4, 8)"));
    }

    [Test]
    public void BufferNotFullyCovered_IsRejected()
    {
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        Reject(json, ValidBuffer, "data buffer");
    }

    [Test]
    public void ShapeProductOverflow_IsRejected()
    {
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,12]}}";
        var e = Reject(json, ValidBuffer, "tensor 'a' shape");
        Assert.That(e!.Message, Does.Contain("overflow"));
    }

    [Test]
    public void ByteSizeOverflow_IsRejected()
    {
        // 2^62 elements fit a long, 2^62 * 4 bytes do not.
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,12]}}";
        Reject(json, ValidBuffer, "tensor 'a' shape");
    }

    [Test]
    public void NegativeDimension_IsRejected() =>
        Reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-3],\"data_offsets\":[0,12]}}", ValidBuffer, "tensor 'a' shape");

    [Test]
    public void NegativeOrFractionalOffsets_AreRejected()
    {
        Reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[-4,8]}}", ValidBuffer, "tensor 'a' data_offsets");
        Reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12.5]}}", ValidBuffer, "tensor 'a' data_offsets");
        Reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0]}}", ValidBuffer, "tensor 'a' data_offsets");
    }

    [Test]
    public void DTypeSizeMismatch_IsRejected()
    {
        // 3 F64 values need 24 bytes, the offsets give 12.
        var e = Reject("{\"a\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,12]}}", ValidBuffer, "tensor 'a' data_offsets");
        Assert.That(e!.Message, Does.Contain("24"));
    }

    [TestCase("F8_E4M3")]
    [TestCase("U64")]
    [TestCase("f32")]
    [TestCase("")]
    public void UnknownOrUnsupportedDType_IsRejected(string dtype)
    {
        var e = Reject($"{{\"a\":{{\"dtype\":\"{dtype}\",\"shape\":[3],\"data_offsets\":[0,12]}}}}", ValidBuffer, "tensor 'a' dtype");
        Assert.That(e!.Message, Does.Contain("F32").And.Contain($"'{dtype}'"));
    }

    [Test]
    public void DTypeNotAString_IsRejected() =>
        Reject("{\"a\":{\"dtype\":7,\"shape\":[3],\"data_offsets\":[0,12]}}", ValidBuffer, "tensor 'a' dtype");

    [Test]
    public void DuplicateTensorNames_AreRejected()
    {
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        var e = Reject(json, ValidBuffer, "tensor 'a'");
        Assert.That(e!.Message, Does.Contain("twice"));
    }

    [Test]
    public void DeepJson_IsRejected()
    {
        string deep = "{\"__metadata__\":" + new string('[', 5000) + new string(']', 5000) + "}";
        Reject(deep, [], "header");
    }

    [Test]
    public void InvalidJsonOrNotAnObject_IsRejected()
    {
        Reject("{\"a\":", [], "header");
        Reject("[1, 2]  ", [], "header");
        Reject("{\"a\": 1}", [], "tensor 'a'");
    }

    [Test]
    public void InvalidUtf8Header_IsRejected() =>
        Reject(SpecBytes.SafeTensors([(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []), "header");

    [Test]
    public void MetadataWithNonStringValue_IsRejected() =>
        Reject("{\"__metadata__\":{\"epoch\":3}}", [], "__metadata__ 'epoch'");

    [Test]
    public void MetadataOfAnotherKind_IsRejected()
    {
        Reject("{\"__metadata__\":[\"a\"]}", [], "__metadata__");
        Reject("{\"__metadata__\":\"pt\"}", [], "__metadata__");
    }

    // The reference reads __metadata__ as Option<HashMap<String, String>>: null is None, no metadata.
    [Test]
    public void NullMetadata_IsReadAsNone()
    {
        SafeTensorsContent content = SafeTensorsFile.Read(new MemoryStream(SpecBytes.SafeTensors(
            "{\"__metadata__\":null,\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", ValidBuffer)));
        Assert.That(content.Metadata, Is.Empty);
        Assert.That(content.Tensors.Keys, Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public void UnknownKeyInTensorEntry_IsRejected() =>
        Reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12],\"extra\":1}}", ValidBuffer, "tensor 'a' 'extra'");

    // The six ASCII characters \ud800 (or \udc00) in the JSON: a lone surrogate, which no UTF-8 string can hold.
    // serde_json rejects it (InvalidHeaderDeserialization); System.Text.Json parses it, then throws
    // InvalidOperationException when the string is read.
    [TestCase("{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "header")]
    [TestCase("{\"__metadata__\":{\"k\\udc00\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "__metadata__")]
    [TestCase("{\"__metadata__\":{\"k\":\"v\\ud800\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "__metadata__ 'k'")]
    [TestCase("{\"a\":{\"dtype\":\"F32\\ud800\",\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'a' dtype")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\\ud800\":1}}", "tensor 'a'")]
    public void LoneSurrogateEscape_InANameOrString_IsRejected(string json, string field)
    {
        var e = Reject(json, SpecBytes.F32(1), field);
        Assert.That(e!.Message, Does.Contain("lone surrogate"));
    }

    [Test]
    public void SurrogatePairEscape_IsAccepted()
    {
        string json = "{\"a\\ud83d\\ude00\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        var content = SafeTensorsFile.Read(_dir.Write("pair.safetensors", SpecBytes.SafeTensors(json, SpecBytes.F32(1))));
        Assert.That(content.Tensors.Keys, Is.EqualTo(new[] { "a\U0001F600" }));
    }

    [Test]
    public void MissingFile_IsReportedAsFormatExceptionWithIoCause()
    {
        string path = _dir.File("missing.safetensors");
        var e = Assert.Throws<NumLstmFormatException>(() => SafeTensorsFile.Read(path));
        Assert.That(e!.FilePath, Is.EqualTo(path));
        Assert.That(e.Field, Is.EqualTo("file"));
        Assert.That(e.InnerException, Is.InstanceOf<FileNotFoundException>());
    }

    [Test]
    public void Fifo_IsAnUnreadableFile_ForReadAndTheLoadersBuiltOnIt()
    {
        if (OperatingSystem.IsWindows())
            Assert.Ignore("FIFOs are a Unix feature.");
        using FileStream writer = _dir.Fifo("pipe.safetensors");
        string path = _dir.File("pipe.safetensors");
        var loads = new (string Name, TestDelegate Load)[]
        {
            ("SafeTensorsFile.Read", () => SafeTensorsFile.Read(path)),
            ("ModelFile.Load", () => ModelFile.Load<float>(path)),
            ("Checkpoint.Load", () => NumLstm.Training.Checkpoint.Load(path)),
            ("SafeTensorsFile.LoadParameters", () => SafeTensorsFile.LoadParameters(path, [new Parameter<float>("w", 1)])),
        };
        foreach (var (name, load) in loads)
        {
            var e = Assert.Throws<NumLstmFormatException>(load, name);
            Assert.That(e!.FilePath, Is.EqualTo(path), name);
            Assert.That(e.Field, Is.EqualTo("file"), name);
            Assert.That(e.Message, Does.Contain("cannot seek"), name);
        }
    }

    [Test]
    public void ToArray_OfAFloatTensor_IntoAnIntegerType_IsRejected()
    {
        var content = SafeTensorsFile.Read(new MemoryStream(SpecBytes.SafeTensors(ValidJson, ValidBuffer)), "mem");
        var e = Assert.Throws<NumLstmFormatException>(() => content["a"].ToArray<int>());
        SpecBytes.AssertNames(e, "mem", "tensor 'a' dtype");
    }

    [Test]
    public void Write_RejectsDuplicateAndReservedNames()
    {
        string path = _dir.File("w.safetensors");
        float[] one = [1f];
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(path, [SafeTensor.Create<float>("x", one, 1), SafeTensor.Create<float>("x", one, 1)]));
        Assert.Throws<ArgumentException>(() => SafeTensor.Create<float>("__metadata__", one, 1));
        Assert.Throws<ArgumentException>(() => SafeTensor.Create<float>("x", one, 2));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void Write_RejectsLoneSurrogates_InNamesAndMetadata_BeforeTouchingTheFile()
    {
        // UTF-8 cannot hold a lone surrogate: written as U+FFFD, "a\ud800" and "a\udc00" became one duplicate name.
        string path = _dir.File("w.safetensors");
        float[] one = [1f];
        var e1 = Assert.Throws<ArgumentException>(() => SafeTensor.Create<float>("a\ud800", one, 1));
        Assert.That(e1!.Message, Does.Contain("a\\ud800").And.Contain("U+D800").And.Contain("index 1"));
        Assert.Throws<ArgumentException>(() => SafeTensor.FromBytes("\udc00b", TensorDType.F32, [1], SpecBytes.F32(1)));
        Assert.Throws<ArgumentException>(() => SafeTensor.Create<float>("ab\ud83d", one, 1), "a high surrogate at the end");
        var tensor = SafeTensor.Create<float>("w", one, 1);
        var e2 = Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(path, [tensor], new Dictionary<string, string> { ["k\udc00"] = "v" }));
        Assert.That(e2!.Message, Does.Contain("Metadata key").And.Contain("k\\udc00"));
        var e3 = Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(path, [tensor], new Dictionary<string, string> { ["k"] = "v\ud800" }));
        Assert.That(e3!.Message, Does.Contain("'k'").And.Contain("v\\ud800"));
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(new MemoryStream(), [tensor], new Dictionary<string, string> { ["k"] = "\udc00" }));
        Assert.That(File.Exists(path), Is.False);

        // Proper pairs are valid Unicode and round-trip.
        SafeTensorsFile.Write(path, [SafeTensor.Create<float>("a\U0001F600", one, 1)], new Dictionary<string, string> { ["\U0001F600"] = "\U0001F601" });
        var content = SafeTensorsFile.Read(path);
        Assert.That(content.Tensors.Keys, Is.EqualTo(new[] { "a\U0001F600" }));
        Assert.That(content.Metadata["\U0001F600"], Is.EqualTo("\U0001F601"));
    }

    [Test]
    public void Write_RefusesAHeaderOverTheReadersLimit_BeforeTouchingTheFile_AndWritesOneAtTheLimit()
    {
        // {"__metadata__":{"k":"<v>"}} is 25 bytes plus v; padded to a multiple of 8.
        const int overhead = 25;
        string path = _dir.File("big.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        string over = new('x', (int)SafeTensorsFile.MaxHeaderBytes - overhead + 1);
        var e = Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(path, [], new Dictionary<string, string> { ["k"] = over }));
        Assert.That(e!.Message, Does.Contain("100000008").And.Contain("100000000"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 1, 2, 3 }), "the previous file is untouched");
        Assert.That(Directory.GetFiles(_dir.Path), Is.EqualTo(new[] { path }));
        var stream = new MemoryStream();
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(stream, [], new Dictionary<string, string> { ["k"] = over }));
        Assert.That(stream.Length, Is.Zero);
        over = null!;

        var counter = new CountingStream();
        SafeTensorsFile.Write(counter, [], new Dictionary<string, string> { ["k"] = new('x', (int)SafeTensorsFile.MaxHeaderBytes - overhead) });
        Assert.That(counter.Count, Is.EqualTo(8 + SafeTensorsFile.MaxHeaderBytes));
    }

    private sealed class CountingStream : Stream
    {
        public long Count { get; private set; }
        public override void Write(byte[] buffer, int offset, int count) => Count += count;
        public override void Write(ReadOnlySpan<byte> buffer) => Count += buffer.Length;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    [Test]
    public void FromBytesAndCreate_RejectNegativeDimensions_EvenBesideAZero()
    {
        var e = Assert.Throws<ArgumentException>(() => SafeTensor.FromBytes("neg", TensorDType.F32, [0, -5], ReadOnlyMemory<byte>.Empty));
        Assert.That(e!.Message, Does.Contain("neg").And.Contain("[0, -5]"));
        Assert.Throws<ArgumentException>(() => SafeTensor.FromBytes("neg", TensorDType.F32, [-5, 0], ReadOnlyMemory<byte>.Empty));
        Assert.Throws<ArgumentException>(() => SafeTensor.Create<float>("neg", ReadOnlySpan<float>.Empty, 0, -1));
        Assert.That(SafeTensor.FromBytes("empty", TensorDType.F32, [0, 5], ReadOnlyMemory<byte>.Empty).ElementCount, Is.Zero);
    }

    [Test]
    public void FromBytes_RejectsAByteSizeBeyond64Bits_ThatWouldWrapToTheDataLength()
    {
        // 2^61 doubles are 2^64 bytes, which wraps to 0 in a long: the empty data must not pass for it.
        var e = Assert.Throws<ArgumentException>(() => SafeTensor.FromBytes("wrap", TensorDType.F64, [1L << 61], ReadOnlyMemory<byte>.Empty));
        Assert.That(e!.Message, Does.Contain("wrap").And.Contain("2305843009213693952").And.Contain("2^63"));
        Assert.Throws<ArgumentException>(() => SafeTensor.FromBytes("wrap", TensorDType.F32, [1L << 31, 1L << 31], ReadOnlyMemory<byte>.Empty));
        Assert.Throws<ArgumentException>(() => SafeTensor.FromBytes("big", TensorDType.U8, [1L << 62], ReadOnlyMemory<byte>.Empty));
    }

    [Test]
    public void HeaderNotStartingWithBrace_IsRejected() =>
        Reject(SpecBytes.SafeTensors(Encoding.UTF8.GetBytes(" {}"), []), "header");
}
