using System.Buffers.Binary;
using System.Diagnostics;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.IO;

/// <summary>
/// Audit of the Keras weight loader and its HDF5 reader: each test fails on a defect found by reading Keras' loaders,
/// the HDF5 library and the HDF5 specification against KerasFile.cs and Hdf5File.cs. Fixtures under
/// IO/Fixtures/Keras/audit are written by generator/make_audit.c (HDF5 C library); the hostile files are built here
/// byte by byte (superblock 0, version-1 object headers, 8-byte offsets and lengths).
/// </summary>
public sealed class KerasFileAuditTests
{
    private static string Audit(string name) => KerasFileTests<float>.Fixture(Path.Combine("audit", name));

    private static Sequential<float> DenseModel() => ModelBuilder.Input(3).Dense(2).Build<float>(seed: 5);

    /// <summary>make_audit.c's values: element k of weight v (kernel 0, bias 1).</summary>
    private static double Value(int v, int k) => ((k * 7 + v * 13) % 97 - 48) / 64.0;

    private static void AssertDense(Sequential<float> model)
    {
        var dense = (Dense<float>)model.Layers[0];
        for (int u = 0; u < 2; u++)
        {
            for (int i = 0; i < 3; i++)
                Assert.That((double)dense.Weight.Value[u * 3 + i], Is.EqualTo(Value(0, i * 2 + u)), $"weight[{u}, {i}] = kernel[{i}, {u}]");
            Assert.That((double)dense.Bias!.Value[u], Is.EqualTo(Value(1, u)), $"bias[{u}]");
        }
    }

    // ------------------------------------------------------------------ HDF5 files the library writes

    /// <summary>
    /// A valid HDF5 file with 4-byte addresses and 8-byte lengths (H5Pset_sizes(fcpl, 4, 8)). The library encodes a
    /// symbol-table entry's link-name offset with the size of LENGTHS (H5Gent.c: H5F_DECODE_LENGTH(f, *pp,
    /// ent->name_off); H5G_SIZEOF_ENTRY = sizeof_size + sizeof_addr + 4 + 4 + 16), also in the superblock's root group
    /// entry; Hdf5File reads the root entry's link-name offset with the size of OFFSETS (c.Address(...)), so with
    /// unequal sizes it takes the root header address from the wrong bytes.
    /// </summary>
    [Test]
    public void AFileWithFourByteAddressesAndEightByteLengths_Loads()
    {
        Sequential<float> model = DenseModel();
        KerasFile.LoadWeights(model, Audit("dense.sizes48.weights.h5"));
        AssertDense(model);
    }

    /// <summary>
    /// tf.keras 2 / Keras 3 load_attributes_from_hdf5_group reads "layer_names" whole or, when absent, in chunks
    /// "layer_names0", "layer_names1", ... (save_attributes_to_hdf5_group splits lists over 64512 bytes), and
    /// Keras 3's saving_api.load_weights only falls back to model_weights when "layer_names" is absent AND
    /// "model_weights" exists. KerasFile.LoadWeights detects the legacy layout by the whole "layer_names" attribute only,
    /// so a chunked file is read as a Keras 3 file and refused ("expected 2 variables ... no such group").
    /// </summary>
    [Test]
    public void ALegacyFileWithChunkedLayerNames_IsReadAsLegacy()
    {
        Sequential<float> model = DenseModel();
        KerasFile.LoadWeights(model, Audit("dense.chunked_names.h5"));
        AssertDense(model);
    }

    /// <summary>
    /// load_weights_from_hdf5_group (Keras 3 legacy_h5_format.py and tf.keras 2 hdf5_format.py): "if
    /// 'top_level_model_weights' in f: ... if len(weight_values) != len(symbolic_weights): raise ValueError('Weight
    /// count mismatch for top-level weights ...')". A Sequential has no top-level weights, so Keras refuses a file whose
    /// top_level_model_weights lists one; NumLstm ignores the group and loads.
    /// </summary>
    [Test]
    public void TopLevelModelWeights_ASequentialHasNone_AFileWithSomeIsRefused()
    {
        Sequential<float> model = DenseModel();
        float[] before = ((Dense<float>)model.Layers[0]).Weight.Value.ToArray();
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Audit("dense.toplevel.h5")));
        Assert.That(e!.Message, Does.Contain("top_level_model_weights"));
        Assert.That(((Dense<float>)model.Layers[0]).Weight.Value, Is.EqualTo(before), "the model is unchanged");
    }

    /// <summary>Keras' load_attributes_from_hdf5_group returns [] for a missing attribute: a layer group without
    /// "weight_names" holds no weights (a Dropout's here).</summary>
    [Test]
    public void ALegacyLayerGroupWithoutWeightNames_HoldsNoWeights_AsKerasReadsIt()
    {
        Sequential<float> model = DenseModel();
        KerasFile.LoadWeights(model, Audit("dense.no_weight_names.h5"));
        AssertDense(model);
    }

    /// <summary>tf.keras 2 converted a CuDNNLSTM's two biases when loading (preprocess_weights_for_loading); NumLstm
    /// refuses the file and says why.</summary>
    [Test]
    public void ACuDnnLstmFile_IsRefused_NamingCuDnnLstm()
    {
        Sequential<float> model = ModelBuilder.Input(3).Lstm(2).Build<float>();
        var e = Assert.Throws<NumLstmFormatException>(() => KerasFile.LoadWeights(model, Audit("cudnn_lstm.h5")))!;
        Assert.That(e.Message, Does.Contain("expected [8]").And.Contain("found [16]").And.Contain("CuDNNLSTM"));
    }

    /// <summary>Keras' assign casts what the file holds to the variable's dtype: integers load as their values.</summary>
    [Test]
    public void IntegerDatasets_AreCastAsKerasAssignCasts()
    {
        var root = new Hdf5Writer.Group();
        root.At("vars");
        Hdf5Writer.Group vars = root.At("layers").At("dense").At("vars");
        vars.Children["0"] = new Hdf5Writer.Dataset(TensorDType.I64, [3, 2], ElementConverter.ToLittleEndianBytes<long>([1, -2, 3, 4, 5, -6]));
        vars.Children["1"] = new Hdf5Writer.Dataset(TensorDType.I64, [2], ElementConverter.ToLittleEndianBytes<long>([7, 8]));
        var stream = new MemoryStream();
        Hdf5Writer.Write(stream, root);
        Sequential<float> model = DenseModel();
        KerasFile.LoadWeights(model, new KerasFile.KerasContent(Hdf5File.Parse(stream.ToArray(), "ints.weights.h5"), null, false), strict: true);
        var dense = (Dense<float>)model.Layers[0];
        Assert.That(dense.Weight.Value, Is.EqualTo(new float[] { 1, 3, 5, -2, 4, -6 }), "kernel (3, 2) transposed");
        Assert.That(dense.Bias!.Value, Is.EqualTo(new float[] { 7, 8 }));
    }

    // ------------------------------------------------------------------ hostile files

    /// <summary>
    /// One symbol-table node lists M links that all name the same long string of the local heap (offset 0): every entry
    /// is decoded into a new string and kept in the group's cached link list, so a file of ~M * 40 + N bytes allocates
    /// M * 2N bytes (here ~110 KB give ~130 MB; 65535 entries of a 1 MB name give 130 GB: OutOfMemoryException).
    /// The same holds for a B-tree and heap shared by many groups.
    /// </summary>
    [Test]
    public void ManyLinksSharingOneLongHeapName_DoNotAllocateFarMoreThanTheFile()
    {
        byte[] bytes = SymbolTableFile(entries: 2000, nameLength: 32 * 1024);
        long allocated = AllocatedBy(() => Refused(bytes, "names.h5"));
        Assert.That(allocated, Is.LessThan(64L * bytes.Length + (8 << 20)), $"bytes allocated for a file of {bytes.Length} bytes");
    }

    /// <summary>
    /// A "layer_names" attribute of N variable-length strings that all point at the same global heap object of L bytes:
    /// each element is decoded into a new string (ReadStrings -> GlobalHeapObject -> Decode), N * 2L bytes from a file
    /// of ~16N + L bytes (here ~100 KB give ~130 MB; 4000 references to an 8 MB object give 64 GB).
    /// </summary>
    [Test]
    public void ManyVariableLengthStringsSharingOneHeapObject_DoNotAllocateFarMoreThanTheFile()
    {
        byte[] bytes = VlenFile(elements: 2000, objectLength: 32 * 1024, fillerObjects: 0);
        long allocated = AllocatedBy(() => Refused(bytes, "vlen.h5"));
        Assert.That(allocated, Is.LessThan(64L * bytes.Length + (8 << 20)), $"bytes allocated for a file of {bytes.Length} bytes");
    }

    /// <summary>
    /// The reader walked the global heap collection from its start for every element: N elements that all name the last
    /// of K objects cost N * K steps (a collection may be as large as the file, 16-byte empty objects, and an attribute
    /// holds up to ~4000 references: a 4 MB file cost ~10^9 steps, 4.5 s measured for 1 MB before the fix). Now each
    /// collection is indexed once, whatever the number of references to it; counted, not timed.
    /// </summary>
    [Test]
    public void ManyVariableLengthStringsNamingTheLastOfManyHeapObjects_IndexTheCollectionOnce()
    {
        byte[] bytes = VlenFile(elements: 4000, objectLength: 1, fillerObjects: 256 * 1024);
        Hdf5File file = Hdf5File.Parse(bytes, "heap.h5");
        string[] names = file.Root.ReadStrings(file.Root.Attribute("layer_names")!);
        Assert.That(names, Has.Length.EqualTo(4000).And.All.EqualTo("a"));
        Assert.That(file.GlobalHeapCollectionsIndexed, Is.EqualTo(1));
        Assert.That(ReferenceEquals(names[0], names[3999]), Is.True, "one object, decoded once");
    }

    /// <summary>
    /// KerasFile.Member allocates an entry's DECLARED size (the zip central directory's uncompressed size, up to
    /// Array.MaxLength for model.weights.h5, 64 MB for config.json) before reading a byte: a .keras file of a few hundred
    /// bytes declaring a 1 GB member allocates 1 GB (2 GB: OutOfMemoryException on small machines, not a
    /// NumLstmFormatException). The archive's own size bounds what a member can really hold (stored) or should be read
    /// incrementally (deflated).
    /// </summary>
    [Test]
    public void AnArchiveMemberDeclaringAHugeSize_DoesNotAllocateIt()
    {
        string path = Path.Combine(Path.GetTempPath(), $"numlstm-audit-{Guid.NewGuid():N}.keras");
        try
        {
            using (var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Create))
            using (Stream s = zip.CreateEntry(KerasFile.WeightsEntry, System.IO.Compression.CompressionLevel.NoCompression).Open())
                s.Write([0x89, (byte)'H', (byte)'D', (byte)'F', (byte)'\r', (byte)'\n', 0x1A, (byte)'\n']);
            byte[] bytes = File.ReadAllBytes(path);
            const uint declared = 1u << 30;
            int central = bytes.AsSpan().IndexOf([(byte)0x50, (byte)0x4b, (byte)0x01, (byte)0x02]);
            Assert.That(central, Is.GreaterThan(0));
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(central + 24), declared);   // uncompressed size
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(22), declared);             // local header's
            File.WriteAllBytes(path, bytes);
            long allocated = AllocatedBy(() =>
            {
                try { KerasFile.LoadWeights(DenseModel(), path); }
                catch (NumLstmFormatException) { }
            });
            Assert.That(allocated, Is.LessThan(64L * bytes.Length + (8 << 20)), $"bytes allocated for a {bytes.Length}-byte archive");
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ------------------------------------------------------------------ helpers

    private static void Refused(byte[] bytes, string name)
    {
        try
        {
            KerasFileHostileTests.LoadFromBytes(bytes, name);
        }
        catch (NumLstmFormatException)
        {
        }
    }

    private static long AllocatedBy(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>Little-endian bytes of an HDF5 file under construction, 8-byte offsets and lengths.</summary>
    private sealed class Writer
    {
        private readonly List<byte> bytes = new();
        public long Position => bytes.Count;
        public void U8(int v) => bytes.Add((byte)v);
        public void U16(int v) { U8(v); U8(v >> 8); }
        public void U32(uint v) { for (int i = 0; i < 4; i++) U8((int)(v >> (8 * i))); }
        public void U64(ulong v) { for (int i = 0; i < 8; i++) U8((int)(v >> (8 * i))); }
        public void Ascii(string s) { foreach (char ch in s) U8(ch); }
        public void Zeros(long n) { for (long i = 0; i < n; i++) U8(0); }
        public void Pad8() { while (bytes.Count % 8 != 0) U8(0); }
        public void Patch64(long at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes).Slice((int)at, 8), v);
        public byte[] ToArray() => bytes.ToArray();

        /// <summary>Superblock version 0 (96 bytes) whose root group entry names the object header at 96.</summary>
        public long Superblock()
        {
            U8(0x89); Ascii("HDF\r\n"); U8(0x1A); U8((byte)'\n');
            U8(0); U8(0); U8(0); U8(0); U8(0);                  // versions, reserved, shared header version
            U8(8); U8(8); U8(0);                                 // size of offsets, lengths, reserved
            U16(4); U16(16); U32(0);                             // group leaf K, internal K, consistency flags
            U64(0); U64(ulong.MaxValue);                         // base address, free-space info
            long eof = Position;
            U64(0); U64(ulong.MaxValue);                         // end of file (patched), driver block
            U64(0); U64(96); U32(0); U32(0); Zeros(16);          // root entry: name offset, header, cache, reserved, scratch
            return eof;
        }

        /// <summary>A version-1 object header with one message of the given type and body size (a multiple of 8).</summary>
        public void ObjectHeader(int type, int bodySize)
        {
            U8(1); U8(0); U16(1); U32(1); U32((uint)(8 + bodySize)); U32(0);
            U16(type); U16(bodySize); U8(0); U8(0); U8(0); U8(0);
        }
    }

    /// <summary>A root group (symbol table) whose one B-tree leaf lists <paramref name="entries"/> links named by heap offset 0.</summary>
    private static byte[] SymbolTableFile(int entries, int nameLength)
    {
        var w = new Writer();
        long eof = w.Superblock();
        w.ObjectHeader(17, 16);                                  // symbol table message: B-tree, local heap
        long btreeField = w.Position; w.U64(0);
        long heapField = w.Position; w.U64(0);
        long heap = w.Position;
        w.Patch64(heapField, (ulong)heap);
        int segment = (nameLength + 1 + 7) & ~7;
        w.Ascii("HEAP"); w.U8(0); w.U8(0); w.U8(0); w.U8(0);
        w.U64((ulong)segment); w.U64(1); w.U64((ulong)(heap + 32));
        for (int i = 0; i < nameLength; i++) w.U8('a');
        w.Zeros(segment - nameLength);
        long btree = w.Position;
        w.Patch64(btreeField, (ulong)btree);
        w.Ascii("TREE"); w.U8(0); w.U8(0); w.U16(1); w.U64(ulong.MaxValue); w.U64(ulong.MaxValue);
        w.U64(0); long childField = w.Position; w.U64(0); w.U64(0);
        long snod = w.Position;
        w.Patch64(childField, (ulong)snod);
        w.Ascii("SNOD"); w.U8(1); w.U8(0); w.U16(entries);
        for (int i = 0; i < entries; i++) { w.U64(0); w.U64(96); w.U32(0); w.U32(0); w.Zeros(16); }
        w.Patch64(eof, (ulong)w.Position);
        return w.ToArray();
    }

    /// <summary>
    /// A root object whose one attribute, "layer_names", holds <paramref name="elements"/> variable-length strings that
    /// all name object 1 of one global heap collection, placed after <paramref name="fillerObjects"/> empty objects.
    /// </summary>
    private static byte[] VlenFile(int elements, int objectLength, int fillerObjects)
    {
        var w = new Writer();
        long eof = w.Superblock();
        int body = 8 + 16 + 24 + 16 + 16 * elements;
        w.ObjectHeader(12, body);                                // attribute message version 1
        w.U8(1); w.U8(0); w.U16(12); w.U16(20); w.U16(16);
        w.Ascii("layer_names"); w.U8(0); w.Zeros(4);             // name, padded to 16
        w.U8(0x19); w.U8(0x01); w.U8(0x01); w.U8(0); w.U32(16);  // variable-length string (UTF-8), element size 16
        w.U8(0x10); w.U8(0); w.U8(0); w.U8(0); w.U32(1); w.U16(0); w.U16(8); w.Zeros(4); // base type uint8, padded to 24
        w.U8(1); w.U8(1); w.U8(0); w.U8(0); w.U32(0); w.U64((ulong)elements); // dataspace version 1, rank 1
        long collection = w.Position + 16 * elements;
        for (int i = 0; i < elements; i++) { w.U32((uint)objectLength); w.U64((ulong)collection); w.U32(1); }
        long padded = (objectLength + 7) & ~7;
        long size = 16 + 16L * fillerObjects + 16 + padded;
        w.Ascii("GCOL"); w.U8(1); w.U8(0); w.U8(0); w.U8(0); w.U64((ulong)size);
        for (int i = 0; i < fillerObjects; i++) { w.U16(2); w.U16(0); w.U32(0); w.U64(0); }
        w.U16(1); w.U16(1); w.U32(0); w.U64((ulong)objectLength);
        for (int i = 0; i < objectLength; i++) w.U8('a');
        w.Zeros(padded - objectLength);
        w.Patch64(eof, (ulong)w.Position);
        return w.ToArray();
    }
}
