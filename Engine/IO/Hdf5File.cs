using System.Buffers.Binary;
using System.Text;

namespace NumLstm.IO;

/// <summary>
/// A read-only reader for the part of HDF5 that Keras weight files use (h5py's defaults): superblock versions 0–3,
/// object headers version 1 and 2, groups as symbol tables (v1 B-tree, local heap, symbol-table nodes) or as link
/// messages, contiguous and compact datasets of IEEE floats and integers, and attributes of numbers and strings
/// (fixed-length, and variable-length ones in the global heap). Anything else a file may hold (chunked or filtered
/// data, dense link or attribute storage, soft and external links, compound types) is refused with a
/// <see cref="NumLstmFormatException"/> naming the object, only when it is asked for. The whole file is held in memory;
/// every address, size and count is checked against it, so a hostile file cannot read out of bounds or loop.
/// Spec: "HDF5 File Format Specification Version 3.0" (The HDF Group), sections II–IV.
/// </summary>
internal sealed class Hdf5File
{
    /// <summary>The deepest path, B-tree and continuation nesting this reader follows.</summary>
    public const int MaxDepth = 64;

    /// <summary>The most header messages an object may have (h5py writes fewer than 20).</summary>
    public const int MaxMessages = 65536;

    /// <summary>The most links a group may list.</summary>
    public const int MaxLinks = 1 << 20;

    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'H', (byte)'D', (byte)'F', (byte)'\r', (byte)'\n', 0x1A, (byte)'\n'];

    private readonly byte[] bytes;
    private readonly long baseAddress;
    private readonly Dictionary<long, Hdf5Object> objects = new();
    private readonly HashSet<long> headerBlocks = new();
    private readonly Dictionary<(long Segment, long Offset), string> heapNames = new();
    private readonly Dictionary<(long Btree, long Heap), List<(string Name, long Address)>> symbolTables = new();
    private readonly Dictionary<long, Dictionary<uint, (long Offset, long Size)>> globalHeaps = new();
    private readonly Dictionary<(long Collection, uint Index, long Length), string> globalHeapStrings = new();

    private Hdf5File(byte[] bytes, string? name)
    {
        this.bytes = bytes;
        Name = name;
        long superblock = FindSuperblock();
        var c = new Cursor(this, superblock + 8, bytes.Length, "superblock");
        SuperblockVersion = c.U8();
        long rootAddress;
        switch (SuperblockVersion)
        {
            case 0 or 1:
                c.Skip(4);                                       // free-space, root symbol table, reserved, shared header versions
                OffsetSize = c.U8(); LengthSize = c.U8();
                CheckSizes();
                c.Skip(1 + 2 + 2 + 4);                           // reserved, group leaf and internal K, consistency flags
                if (SuperblockVersion == 1) c.Skip(4);           // indexed storage internal K, reserved
                baseAddress = c.Address(allowUndefined: false, absolute: true);
                c.Address(allowUndefined: true, absolute: true); // free-space info
                c.Address(allowUndefined: true, absolute: true); // end of file
                c.Address(allowUndefined: true, absolute: true); // driver information block
                c.Unsigned(LengthSize);                          // root entry: link name offset (a length, H5G_ent_decode)
                rootAddress = c.Address(allowUndefined: false);  // root entry: object header address
                break;
            case 2 or 3:
                OffsetSize = c.U8(); LengthSize = c.U8();
                CheckSizes();
                c.Skip(1);                                       // file consistency flags
                baseAddress = c.Address(allowUndefined: false, absolute: true);
                c.Address(allowUndefined: true, absolute: true); // superblock extension
                c.Address(allowUndefined: true, absolute: true); // end of file
                rootAddress = c.Address(allowUndefined: false);
                long end = c.Position;
                uint stored = c.U32();
                uint computed = Lookup3(bytes.AsSpan((int)superblock, (int)(end - superblock)));
                if (stored != computed)
                    throw Fail("superblock checksum", $"expected 0x{computed:x8} (the bytes' Jenkins lookup3), found 0x{stored:x8}: the file is damaged.");
                break;
            default:
                throw Fail("superblock version", $"expected 0, 1, 2 or 3, found {SuperblockVersion}.");
        }
        if (baseAddress != superblock && baseAddress != 0)
            throw Fail("superblock base address", $"expected 0 or the superblock's offset {superblock}, found {baseAddress}.");
        Root = Object(rootAddress, "/");
    }

    /// <summary>The file's name as messages give it (null for bytes without one).</summary>
    public string? Name { get; }

    public int SuperblockVersion { get; }
    public int OffsetSize { get; }
    public int LengthSize { get; }
    public Hdf5Object Root { get; }

    /// <summary>Reads the whole file (at most <see cref="Array.MaxLength"/> bytes) and its superblock.</summary>
    public static Hdf5File Read(string path)
    {
        using FileStream stream = FileReading.OpenSeekable(path);
        long length = FileReading.Length(stream, path);
        return new Hdf5File(FileReading.ReadExactly(stream, length, path, "file"), path);
    }

    public static Hdf5File Parse(byte[] bytes, string? name)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return new Hdf5File(bytes, name);
    }

    /// <summary>Whether the bytes start with HDF5's signature (at 0, where h5py writes it).</summary>
    public static bool HasSignature(ReadOnlySpan<byte> head) => head.StartsWith(Signature);

    /// <summary>The object at a '/'-separated path from the root, or null when a link on the way is missing.</summary>
    public Hdf5Object? Find(string path)
    {
        Hdf5Object current = Root;
        string[] parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length > MaxDepth)
            throw Fail($"path '{Echo.Name(path)}'", $"expected at most {MaxDepth} levels, found {parts.Length}.");
        foreach (string part in parts)
        {
            Hdf5Object? next = current.Child(part);
            if (next is null) return null;
            current = next;
        }
        return current;
    }

    internal Hdf5Object Object(long address, string path)
    {
        if (objects.TryGetValue(address, out Hdf5Object? known)) return known.Path == path ? known : known.At(path);
        var parsed = new Hdf5Object(this, address, path);
        objects[address] = parsed;
        return parsed;
    }

    internal NumLstmFormatException Fail(string field, string detail) => new(Name, field, detail);

    internal ReadOnlySpan<byte> Span(long start, long length, string field)
    {
        if (start < 0 || length < 0 || start > bytes.Length || length > bytes.Length - start)
            throw Fail(field, $"expected {length} bytes at offset {start}, but the file has {bytes.Length} bytes: it is truncated or damaged.");
        return bytes.AsSpan((int)start, (int)length);
    }

    internal long Absolute(ulong address, string field)
    {
        if (address > (ulong)(bytes.Length - baseAddress))
            throw Fail(field, $"expected an address inside the file ({bytes.Length} bytes), found {address}.");
        return baseAddress + (long)address;
    }

    internal int FileLength => bytes.Length;

    /// <summary>Claims an object header block for one object: HDF5 never shares one, and a hostile file that did would
    /// have every object sharing it read its messages again.</summary>
    internal bool ClaimHeaderBlock(long address) => headerBlocks.Add(address);

    /// <summary>The links of a symbol table, read once however many groups name it.</summary>
    internal List<(string Name, long Address)> SymbolTable(long btree, long heap, Func<List<(string, long)>> read)
    {
        if (!symbolTables.TryGetValue((btree, heap), out var links)) symbolTables[(btree, heap)] = links = read();
        return links;
    }

    /// <summary>A name of a local heap, decoded once however many entries name it.</summary>
    internal string HeapName(long segment, long offset, Func<string> decode)
    {
        if (!heapNames.TryGetValue((segment, offset), out string? name)) heapNames[(segment, offset)] = name = decode();
        return name;
    }

    /// <summary>How many global heap collections were indexed (each once): a diagnostic for the tests.</summary>
    internal int GlobalHeapCollectionsIndexed => globalHeaps.Count;

    internal Dictionary<uint, (long Offset, long Size)> GlobalHeap(long collection, Func<Dictionary<uint, (long, long)>> index)
    {
        if (!globalHeaps.TryGetValue(collection, out var objectsByIndex)) globalHeaps[collection] = objectsByIndex = index();
        return objectsByIndex;
    }

    internal string GlobalHeapString(long collection, uint index, long length, Func<string> decode)
    {
        if (!globalHeapStrings.TryGetValue((collection, index, length), out string? text)) globalHeapStrings[(collection, index, length)] = text = decode();
        return text;
    }

    private void CheckSizes()
    {
        if (OffsetSize is not (2 or 4 or 8)) throw Fail("superblock size of offsets", $"expected 2, 4 or 8, found {OffsetSize}.");
        if (LengthSize is not (2 or 4 or 8)) throw Fail("superblock size of lengths", $"expected 2, 4 or 8, found {LengthSize}.");
    }

    private long FindSuperblock()
    {
        // The superblock is at 0 or after a user block of 512, 1024, 2048, ... bytes.
        for (long at = 0; at <= bytes.Length - 8; at = at == 0 ? 512 : at * 2)
            if (bytes.AsSpan((int)at, 8).SequenceEqual(Signature)) return at;
        throw Fail("signature", "expected an HDF5 file (the bytes 89 48 44 46 0d 0a 1a 0a at offset 0, 512, 1024, ...), found none.");
    }

    /// <summary>Bob Jenkins' lookup3 hashlittle with initial value 0: HDF5's metadata checksum (H5_checksum_lookup3).</summary>
    internal static uint Lookup3(ReadOnlySpan<byte> key)
    {
        uint a, b, c;
        a = b = c = 0xdeadbeef + (uint)key.Length;
        while (key.Length > 12)
        {
            a += BinaryPrimitives.ReadUInt32LittleEndian(key);
            b += BinaryPrimitives.ReadUInt32LittleEndian(key[4..]);
            c += BinaryPrimitives.ReadUInt32LittleEndian(key[8..]);
            a -= c; a ^= uint.RotateLeft(c, 4); c += b;
            b -= a; b ^= uint.RotateLeft(a, 6); a += c;
            c -= b; c ^= uint.RotateLeft(b, 8); b += a;
            a -= c; a ^= uint.RotateLeft(c, 16); c += b;
            b -= a; b ^= uint.RotateLeft(a, 19); a += c;
            c -= b; c ^= uint.RotateLeft(b, 4); b += a;
            key = key[12..];
        }
        if (key.Length == 0) return c;
        Span<byte> tail = stackalloc byte[12];
        tail.Clear();
        key.CopyTo(tail);
        c += BinaryPrimitives.ReadUInt32LittleEndian(tail[8..]);
        b += BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]);
        a += BinaryPrimitives.ReadUInt32LittleEndian(tail);
        c ^= b; c -= uint.RotateLeft(b, 14);
        a ^= c; a -= uint.RotateLeft(c, 11);
        b ^= a; b -= uint.RotateLeft(a, 25);
        c ^= b; c -= uint.RotateLeft(b, 16);
        a ^= c; a -= uint.RotateLeft(c, 4);
        b ^= a; b -= uint.RotateLeft(a, 14);
        c ^= b; c -= uint.RotateLeft(b, 24);
        return c;
    }

    /// <summary>A bounds-checked little-endian reader over [start, end) of the file.</summary>
    internal sealed class Cursor
    {
        private readonly Hdf5File file;
        private readonly long end;
        private readonly string field;

        public Cursor(Hdf5File file, long start, long end, string field)
        {
            this.file = file;
            this.field = field;
            if (start < 0 || end > file.bytes.Length || start > end)
                throw file.Fail(field, $"expected a block at offset {start}..{end} inside the file ({file.bytes.Length} bytes), found it outside: the file is truncated or damaged.");
            Position = start;
            this.end = end;
        }

        public long Position { get; private set; }
        public long Remaining => end - Position;

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > end - Position)
                throw file.Fail(field, $"expected {count} more bytes at offset {Position}, found {end - Position}: the block ends there (truncated or damaged).");
            ReadOnlySpan<byte> span = file.bytes.AsSpan((int)Position, count);
            Position += count;
            return span;
        }

        public void Skip(long count)
        {
            if (count < 0 || count > end - Position)
                throw file.Fail(field, $"expected {count} more bytes at offset {Position}, found {end - Position}: the block ends there (truncated or damaged).");
            Position += count;
        }

        public void Seek(long position)
        {
            if (position < 0 || position > end) throw file.Fail(field, $"expected a position inside the block, found {position}.");
            Position = position;
        }

        /// <summary>Reads a block's 4-byte signature ("TREE", "SNOD", ...), refusing other bytes.</summary>
        public void Signature(ReadOnlySpan<byte> expected)
        {
            long at = Position;
            if (!Take(expected.Length).SequenceEqual(expected))
                throw file.Fail(field, $"expected '{Encoding.ASCII.GetString(expected)}' at offset {at}, found other bytes.");
        }

        public byte U8() => Take(1)[0];
        public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        public ReadOnlySpan<byte> Bytes(int count) => Take(count);

        public ulong Unsigned(int size) => size switch
        {
            1 => U8(),
            2 => U16(),
            4 => U32(),
            8 => U64(),
            _ => throw file.Fail(field, $"expected a field of 1, 2, 4 or 8 bytes, found {size}."),
        };

        /// <summary>A length field; at most the file's size (no length in a file exceeds it).</summary>
        public long Length()
        {
            ulong value = Unsigned(file.LengthSize);
            if (value > (ulong)file.bytes.Length)
                throw file.Fail(field, $"expected a length of at most the file's {file.bytes.Length} bytes, found {value}.");
            return (long)value;
        }

        /// <summary>An address field: -1 when undefined (all bits set), else the absolute offset inside the file.</summary>
        public long Address(bool allowUndefined, bool absolute = false)
        {
            int size = file.OffsetSize == 0 ? 8 : file.OffsetSize;
            ulong value = Unsigned(size);
            ulong undefined = size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
            if (value == undefined)
            {
                if (allowUndefined) return -1;
                throw file.Fail(field, "expected an address, found the undefined address.");
            }
            if (absolute) return value > long.MaxValue ? throw file.Fail(field, $"expected an address, found {value}.") : (long)value;
            return file.Absolute(value, field);
        }
    }
}

/// <summary>An HDF5 data type, as far as this reader converts it.</summary>
internal sealed record Hdf5Type(int Class, int Size, bool BigEndian, bool Signed, int StringPadding, bool VariableLengthString, string Description)
{
    public const int FixedPoint = 0, FloatingPoint = 1, String = 3, VariableLength = 9;

    /// <summary>The tensor dtype of a number type, or null for strings and anything else.</summary>
    public TensorDType? DType => (Class, Size, Signed) switch
    {
        (FloatingPoint, 2, _) => TensorDType.F16,
        (FloatingPoint, 4, _) => TensorDType.F32,
        (FloatingPoint, 8, _) => TensorDType.F64,
        (FixedPoint, 1, false) => TensorDType.U8,
        (FixedPoint, 1, true) => TensorDType.I8,
        (FixedPoint, 2, true) => TensorDType.I16,
        (FixedPoint, 4, true) => TensorDType.I32,
        (FixedPoint, 8, true) => TensorDType.I64,
        _ => null,
    };
}

/// <summary>One header message: its type, flags and where its body is in the file.</summary>
internal readonly record struct Hdf5Message(int Type, int Flags, long Offset, int Length);

/// <summary>An attribute: its name, type, shape and raw data bytes.</summary>
internal sealed record Hdf5Attribute(string Name, Hdf5Type Type, long[] Shape, long Offset, long Length);

/// <summary>A group or dataset of an <see cref="Hdf5File"/>, read lazily from its object header.</summary>
internal sealed class Hdf5Object
{
    // Header message types (spec IV.A.2).
    private const int NilMessage = 0, DataspaceMessage = 1, LinkInfoMessage = 2, DatatypeMessage = 3, LinkMessage = 6,
        LayoutMessage = 8, FilterPipelineMessage = 11, AttributeMessage = 12, ContinuationMessage = 16,
        SymbolTableMessage = 17, AttributeInfoMessage = 21;

    private readonly Hdf5File file;
    private readonly IReadOnlyList<Hdf5Message> messages;
    private IReadOnlyList<(string Name, long Address)>? links;
    private IReadOnlyList<Hdf5Attribute>? attributes;

    internal Hdf5Object(Hdf5File file, long address, string path)
    {
        this.file = file;
        Address = address;
        Path = path;
        messages = ReadMessages();
    }

    private Hdf5Object(Hdf5Object same, string path)
    {
        file = same.file;
        Address = same.Address;
        Path = path;
        messages = same.messages;
        links = same.links;
        attributes = same.attributes;
    }

    /// <summary>The same object reached by another path (a second hard link), named by that path in messages.</summary>
    internal Hdf5Object At(string path) => new(this, path);

    public long Address { get; }
    public string Path { get; }

    public bool IsGroup => messages.Any(m => m.Type is SymbolTableMessage or LinkMessage or LinkInfoMessage);
    public bool IsDataset => messages.Any(m => m.Type == LayoutMessage);

    private string Field(string what) => $"object '{Echo.Name(Path)}' {what}";

    // ---------------------------------------------------------------- object header
    private List<Hdf5Message> ReadMessages()
    {
        var found = new List<Hdf5Message>();
        var pending = new Queue<(long Start, long Length)>();
        var seen = new HashSet<long>();
        var c = new Hdf5File.Cursor(file, Address, file.FileLength, Field("header"));
        bool v2;
        bool creationOrder = false;
        if (c.Remaining >= 4 && file.Span(Address, 4, Field("header")).SequenceEqual("OHDR"u8))
        {
            v2 = true;
            c.Skip(4);
            int version = c.U8();
            if (version != 2) throw file.Fail(Field("header version"), $"expected 2 after 'OHDR', found {version}.");
            int flags = c.U8();
            creationOrder = (flags & 0x04) != 0;
            if ((flags & 0x20) != 0) c.Skip(16);                 // access, modification, change, birth times
            if ((flags & 0x10) != 0) c.Skip(4);                  // attribute phase change values
            long size = (long)c.Unsigned(1 << (flags & 3));
            long start = c.Position;
            CheckChecksum(Address, start + size - Address, Field("header"));
            pending.Enqueue((start, size));
        }
        else
        {
            v2 = false;
            int version = c.U8();
            if (version != 1) throw file.Fail(Field("header version"), $"expected an object header of version 1 or 'OHDR' (version 2), found version byte {version}.");
            c.Skip(1);
            c.U16();                                             // message count (the blocks' messages are read instead)
            c.Skip(4);                                           // reference count
            long size = c.U32();
            c.Skip(4);                                           // padding to 8 bytes
            pending.Enqueue((c.Position, size));
        }
        if (!file.ClaimHeaderBlock(Address))
            throw file.Fail(Field("header"), $"expected an object header of its own at offset {Address}, found one another object's continuation already used.");
        seen.Add(Address);
        int blocks = 0;
        while (pending.Count > 0)
        {
            var (start, length) = pending.Dequeue();
            if (++blocks > Hdf5File.MaxDepth * 16)
                throw file.Fail(Field("header"), $"expected at most {Hdf5File.MaxDepth * 16} header blocks, found more (a continuation loop?).");
            var m = new Hdf5File.Cursor(file, start, checked(start + length), Field("header messages"));
            int headerSize = v2 ? (creationOrder ? 6 : 4) : 8;
            while (m.Remaining >= headerSize)
            {
                int type, size, flags;
                if (v2)
                {
                    type = m.U8(); size = m.U16(); flags = m.U8();
                    if (creationOrder) m.Skip(2);
                }
                else
                {
                    type = m.U16(); size = m.U16(); flags = m.U8(); m.Skip(3);
                }
                long body = m.Position;
                m.Skip(size);
                if (found.Count >= Hdf5File.MaxMessages)
                    throw file.Fail(Field("header"), $"expected at most {Hdf5File.MaxMessages} messages, found more.");
                if (type == ContinuationMessage)
                {
                    var cc = new Hdf5File.Cursor(file, body, body + size, Field("continuation message"));
                    long at = cc.Address(allowUndefined: false);
                    long blockLength = cc.Length();
                    if (!seen.Add(at) || !file.ClaimHeaderBlock(at))
                        throw file.Fail(Field("continuation message"), $"expected a header block of its own, found one already read at offset {at} (a loop, or a block shared with another object).");
                    if (v2)
                    {
                        if (blockLength < 8 || !file.Span(at, 4, Field("continuation block")).SequenceEqual("OCHK"u8))
                            throw file.Fail(Field("continuation block"), $"expected 'OCHK' at offset {at}, found other bytes.");
                        CheckChecksum(at, blockLength - 4, Field("continuation block"));
                        pending.Enqueue((at + 4, blockLength - 8));
                    }
                    else pending.Enqueue((at, blockLength));
                    continue;
                }
                if (type != NilMessage) found.Add(new Hdf5Message(type, flags, body, size));
            }
        }
        return found;
    }

    private void CheckChecksum(long start, long length, string field)
    {
        ReadOnlySpan<byte> block = file.Span(start, length + 4, field);
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(block[(int)length..]);
        uint computed = Hdf5File.Lookup3(block[..(int)length]);
        if (stored != computed)
            throw file.Fail(field, $"expected checksum 0x{computed:x8}, found 0x{stored:x8}: the file is damaged.");
    }

    private Hdf5File.Cursor Body(Hdf5Message message, string what) =>
        new(file, message.Offset, message.Offset + message.Length, Field(what));

    private void RefuseShared(Hdf5Message message, string what)
    {
        if ((message.Flags & 0x02) != 0)
            throw file.Fail(Field(what), "expected the message in the object header, found a shared (committed) one, which this reader does not follow.");
    }

    // ---------------------------------------------------------------- groups
    /// <summary>The group's links in the file's order (names as stored, UTF-8).</summary>
    public IReadOnlyList<(string Name, long Address)> Links => links ??= ReadLinks();

    /// <summary>The child reached by the hard link of that name, or null.</summary>
    public Hdf5Object? Child(string name)
    {
        if (!IsGroup) throw file.Fail(Field("kind"), $"expected a group (to look up '{Echo.Name(name)}'), found a dataset or another object.");
        foreach (var (linkName, address) in Links)
            if (linkName == name) return file.Object(address, Path == "/" ? "/" + name : Path + "/" + name);
        return null;
    }

    /// <summary>The children in the file's order.</summary>
    public IEnumerable<(string Name, Hdf5Object Object)> Children()
    {
        foreach (var (name, address) in Links)
            yield return (name, file.Object(address, Path == "/" ? "/" + name : Path + "/" + name));
    }

    private IReadOnlyList<(string Name, long Address)> ReadLinks()
    {
        // A group as h5py writes it has one symbol table message and nothing else: its (shared, cached) link list.
        if (messages.Count(m => m.Type is SymbolTableMessage or LinkMessage or LinkInfoMessage) == 1
            && messages.FirstOrDefault(m => m.Type == SymbolTableMessage) is { Length: > 0 } only)
            return SymbolTableLinks(only);
        var result = new List<(string, long)>();
        foreach (Hdf5Message message in messages)
        {
            switch (message.Type)
            {
                case SymbolTableMessage:
                    result.AddRange(SymbolTableLinks(message));
                    break;
                case LinkMessage:
                    ReadLinkMessage(message, result);
                    break;
                case LinkInfoMessage:
                {
                    var c = Body(message, "link info message");
                    int version = c.U8();
                    if (version != 0) throw file.Fail(Field("link info version"), $"expected 0, found {version}.");
                    int flags = c.U8();
                    if ((flags & 1) != 0) c.Skip(8);
                    long fractalHeap = c.Address(allowUndefined: true);
                    if (fractalHeap >= 0)
                        throw file.Fail(Field("links"), "expected links in the object header (h5py's and Keras' files) or a symbol table, found dense link storage (a fractal heap; a group of many links written with the latest file format), which this reader does not support.");
                    break;
                }
            }
            if (result.Count > Hdf5File.MaxLinks)
                throw file.Fail(Field("links"), $"expected at most {Hdf5File.MaxLinks} links, found more.");
        }
        return result;
    }

    private void ReadLinkMessage(Hdf5Message message, List<(string, long)> result)
    {
        var c = Body(message, "link message");
        int version = c.U8();
        if (version != 1) throw file.Fail(Field("link message version"), $"expected 1, found {version}.");
        int flags = c.U8();
        int linkType = (flags & 0x08) != 0 ? c.U8() : 0;
        if ((flags & 0x04) != 0) c.Skip(8);                      // creation order
        if ((flags & 0x10) != 0) c.Skip(1);                      // character set (ASCII or UTF-8: both decode as UTF-8)
        long nameLength = (long)c.Unsigned(1 << (flags & 3));
        if (nameLength <= 0 || nameLength > c.Remaining)
            throw file.Fail(Field("link message"), $"expected a name of 1..{c.Remaining} bytes, found a length of {nameLength}.");
        string name = Decode(c.Bytes((int)nameLength), "link name");
        if (linkType != 0)
            throw file.Fail(Field($"link '{Echo.Name(name)}'"), $"expected a hard link, found a {(linkType == 1 ? "soft" : linkType == 64 ? "external" : $"type {linkType}")} link, which this reader does not follow.");
        result.Add((name, c.Address(allowUndefined: false)));
    }

    /// <summary>The links of a symbol table message's B-tree and local heap, read once per file however many groups name them.</summary>
    private List<(string Name, long Address)> SymbolTableLinks(Hdf5Message message)
    {
        var c = Body(message, "symbol table message");
        long btree = c.Address(allowUndefined: false);
        long heap = c.Address(allowUndefined: false);
        return file.SymbolTable(btree, heap, () => ReadSymbolTable(btree, heap));
    }

    private List<(string, long)> ReadSymbolTable(long btreeAddress, long heapAddress)
    {
        var result = new List<(string, long)>();
        // Local heap: "HEAP", version 0, 3 reserved, data segment size, free list offset, data segment address.
        var h = new Hdf5File.Cursor(file, heapAddress, file.FileLength, Field("local heap"));
        h.Signature("HEAP"u8);
        int version = h.U8();
        if (version != 0) throw file.Fail(Field("local heap version"), $"expected 0, found {version}.");
        h.Skip(3);
        long segmentSize = h.Length();
        h.Length();
        long segment = h.Address(allowUndefined: false);
        file.Span(segment, segmentSize, Field("local heap data"));
        var visited = new HashSet<long>();
        WalkGroupNode(btreeAddress, expectedLevel: -1, depth: 0, (segment, segmentSize), visited, result);
        return result;
    }

    private void WalkGroupNode(long address, int expectedLevel, int depth, (long Start, long Length) names, HashSet<long> visited, List<(string, long)> result)
    {
        if (depth > Hdf5File.MaxDepth) throw file.Fail(Field("B-tree"), $"expected at most {Hdf5File.MaxDepth} levels, found more.");
        if (!visited.Add(address)) throw file.Fail(Field("B-tree"), $"expected each node once, found the node at offset {address} again (a loop).");
        var c = new Hdf5File.Cursor(file, address, file.FileLength, Field("B-tree node"));
        c.Signature("TREE"u8);
        int nodeType = c.U8();
        if (nodeType != 0) throw file.Fail(Field("B-tree node type"), $"expected 0 (group nodes), found {nodeType}.");
        int level = c.U8();
        if (expectedLevel >= 0 && level != expectedLevel)
            throw file.Fail(Field("B-tree node level"), $"expected {expectedLevel} (one below its parent), found {level}.");
        int entries = c.U16();
        c.Address(allowUndefined: true);                         // left sibling
        c.Address(allowUndefined: true);                         // right sibling
        for (int i = 0; i < entries; i++)
        {
            c.Length();                                          // key: heap offset of the largest name below
            long child = c.Address(allowUndefined: false);
            if (level > 0) WalkGroupNode(child, level - 1, depth + 1, names, visited, result);
            else ReadSymbolNode(child, names, visited, result);
        }
    }

    private void ReadSymbolNode(long address, (long Start, long Length) names, HashSet<long> visited, List<(string, long)> result)
    {
        if (!visited.Add(address)) throw file.Fail(Field("symbol table node"), $"expected each node once, found the node at offset {address} again (a loop).");
        var c = new Hdf5File.Cursor(file, address, file.FileLength, Field("symbol table node"));
        c.Signature("SNOD"u8);
        int version = c.U8();
        if (version != 1) throw file.Fail(Field("symbol table node version"), $"expected 1, found {version}.");
        c.Skip(1);
        int symbols = c.U16();
        for (int i = 0; i < symbols; i++)
        {
            long nameOffset = (long)c.Unsigned(file.LengthSize);
            long objectAddress = c.Address(allowUndefined: false);
            c.Skip(4 + 4 + 16);                                  // cache type, reserved, scratch pad
            if (nameOffset < 0 || nameOffset >= names.Length)
                throw file.Fail(Field("symbol table entry"), $"expected a name offset inside the local heap ({names.Length} bytes), found {nameOffset}.");
            string name = file.HeapName(names.Start, nameOffset, () =>
            {
                ReadOnlySpan<byte> rest = file.Span(names.Start + nameOffset, names.Length - nameOffset, Field("local heap data"));
                int end = rest.IndexOf((byte)0);
                if (end < 0) throw file.Fail(Field("symbol table entry"), $"expected a name ending in NUL inside the local heap, found none from offset {nameOffset}.");
                return Decode(rest[..end], "link name");
            });
            result.Add((name, objectAddress));
            if (result.Count > Hdf5File.MaxLinks)
                throw file.Fail(Field("links"), $"expected at most {Hdf5File.MaxLinks} links, found more.");
        }
    }

    private string Decode(ReadOnlySpan<byte> utf8, string what)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(utf8);
        }
        catch (DecoderFallbackException e)
        {
            throw new NumLstmFormatException(file.Name, Field(what), "expected UTF-8 text, found invalid bytes.", e);
        }
    }

    // ---------------------------------------------------------------- datasets
    /// <summary>The dataset's element type.</summary>
    public Hdf5Type Type => ReadType(Single(DatatypeMessage, "datatype"), "datatype");

    /// <summary>The dataset's dimensions (empty for a scalar).</summary>
    public long[] Shape => ReadShape(Single(DataspaceMessage, "dataspace"), "dataspace");

    private Hdf5Message Single(int type, string what)
    {
        Hdf5Message? found = null;
        foreach (Hdf5Message m in messages)
        {
            if (m.Type != type) continue;
            if (found is not null) throw file.Fail(Field(what), "expected one such message, found two.");
            found = m;
        }
        return found ?? throw file.Fail(Field(what), $"expected a {what} message (a dataset), found none{(IsGroup ? ": it is a group" : "")}.");
    }

    /// <summary>The raw element bytes in the file's byte order, checked to hold exactly the shape's elements.</summary>
    public ReadOnlySpan<byte> RawData()
    {
        Hdf5Type type = Type;
        long[] shape = Shape;
        long count = ElementCount(shape, "dataspace");
        if (count > file.FileLength / type.Size)
            throw file.Fail(Field("dataspace"), $"expected at most the file's {file.FileLength} bytes of data, found {count} elements of {type.Size} bytes.");
        long expected = count * type.Size;
        foreach (Hdf5Message m in messages)
            if (m.Type == FilterPipelineMessage)
                throw file.Fail(Field("filters"), "expected data stored as written (h5py's and Keras' default), found a filter pipeline (compression or checksums), which this reader does not support.");
        var c = Body(Single(LayoutMessage, "data layout"), "data layout");
        int version = c.U8();
        if (version is 1 or 2)
        {
            int rank = c.U8();
            int layoutClass = c.U8();
            c.Skip(5);
            if (layoutClass == 2) throw Chunked();
            if (layoutClass == 1)
            {
                long address = c.Address(allowUndefined: true);
                return Data(address, expected, expected);
            }
            if (layoutClass == 0)
            {
                c.Skip(4L * rank);
                long size = c.U32();
                return Compact(c, size, expected);
            }
            throw file.Fail(Field("data layout class"), $"expected 0 (compact), 1 (contiguous) or 2 (chunked), found {layoutClass}.");
        }
        if (version is 3 or 4)
        {
            int layoutClass = c.U8();
            switch (layoutClass)
            {
                case 0: return Compact(c, c.U16(), expected);
                case 1:
                {
                    long address = c.Address(allowUndefined: true);
                    long size = c.Length();
                    return Data(address, size, expected);
                }
                case 2: throw Chunked();
                case 3: throw file.Fail(Field("data layout"), "expected contiguous or compact data, found a virtual dataset, which this reader does not support.");
                default: throw file.Fail(Field("data layout class"), $"expected 0, 1 or 2, found {layoutClass}.");
            }
        }
        throw file.Fail(Field("data layout version"), $"expected 1 to 4, found {version}.");
    }

    private NumLstmFormatException Chunked() =>
        file.Fail(Field("data layout"), "expected contiguous or compact data (h5py's and Keras' default), found chunked storage, which this reader does not support.");

    private ReadOnlySpan<byte> Compact(Hdf5File.Cursor c, long size, long expected)
    {
        if (size != expected) throw file.Fail(Field("data"), $"expected {expected} bytes (the shape's elements), found {size}.");
        return c.Bytes((int)size);
    }

    private ReadOnlySpan<byte> Data(long address, long size, long expected)
    {
        if (size != expected) throw file.Fail(Field("data"), $"expected {expected} bytes (the shape's elements), found storage of {size}.");
        if (address < 0)
        {
            if (expected == 0) return ReadOnlySpan<byte>.Empty;
            throw file.Fail(Field("data"), "expected written data, found none allocated (a dataset created and never written).");
        }
        return file.Span(address, size, Field("data"));
    }

    /// <summary>The dataset's values converted to <typeparamref name="T"/> (numbers only).</summary>
    public T[] Read<T>() where T : unmanaged, INumberBase<T>
    {
        Hdf5Type type = Type;
        TensorDType dtype = type.DType ?? throw file.Fail(Field("datatype"), $"expected a number type (IEEE float of 2, 4 or 8 bytes, or an integer), found {type.Description}.");
        return ElementConverter.ToArray<T>(RawData(), dtype, !type.BigEndian, file.Name, Field("data"));
    }

    // ---------------------------------------------------------------- attributes
    public IReadOnlyList<Hdf5Attribute> Attributes => attributes ??= ReadAttributes();

    public Hdf5Attribute? Attribute(string name) => Attributes.FirstOrDefault(a => a.Name == name);

    private List<Hdf5Attribute> ReadAttributes()
    {
        var result = new List<Hdf5Attribute>();
        foreach (Hdf5Message message in messages)
        {
            if (message.Type == AttributeInfoMessage)
            {
                var info = Body(message, "attribute info message");
                info.U8();
                int infoFlags = info.U8();
                if ((infoFlags & 1) != 0) info.Skip(2);
                if (info.Address(allowUndefined: true) >= 0)
                    throw file.Fail(Field("attributes"), "expected attributes in the object header, found dense attribute storage (a fractal heap), which this reader does not support.");
                continue;
            }
            if (message.Type != AttributeMessage) continue;
            var c = Body(message, "attribute message");
            int version = c.U8();
            if (version is < 1 or > 3) throw file.Fail(Field("attribute message version"), $"expected 1, 2 or 3, found {version}.");
            int flags = c.U8();
            if (version >= 2 && (flags & 0x03) != 0)
                throw file.Fail(Field("attribute message"), "expected its type and shape in the message, found a shared one, which this reader does not follow.");
            int nameSize = c.U16(), typeSize = c.U16(), spaceSize = c.U16();
            if (version == 3) c.Skip(1);
            int Pad(int n) => version == 1 ? (n + 7) & ~7 : n;
            long nameAt = c.Position;
            ReadOnlySpan<byte> nameBytes = c.Bytes(nameSize);
            int nul = nameBytes.IndexOf((byte)0);
            string name = Decode(nul >= 0 ? nameBytes[..nul] : nameBytes, "attribute name");
            c.Seek(nameAt);
            c.Skip(Pad(nameSize));
            var typeMessage = new Hdf5Message(DatatypeMessage, 0, c.Position, typeSize);
            c.Skip(Pad(typeSize));
            var spaceMessage = new Hdf5Message(DataspaceMessage, 0, c.Position, spaceSize);
            c.Skip(Pad(spaceSize));
            string what = $"attribute '{Echo.Name(name)}'";
            Hdf5Type type = ReadType(typeMessage, what + " datatype");
            long[] shape = ReadShape(spaceMessage, what + " dataspace");
            long count = ElementCount(shape, what);
            if (count > c.Remaining / type.Size)
                throw file.Fail(Field(what), $"expected its {count} elements of {type.Size} bytes inside the message, found {c.Remaining} bytes.");
            long length = count * type.Size;
            result.Add(new Hdf5Attribute(name, type, shape, c.Position, length));
        }
        return result;
    }

    /// <summary>An attribute's strings: a scalar string gives one, an array of strings its elements in C order.</summary>
    public string[] ReadStrings(Hdf5Attribute attribute)
    {
        string what = $"attribute '{Echo.Name(attribute.Name)}'";
        Hdf5Type type = attribute.Type;
        long count = attribute.Shape.Aggregate(1L, (a, d) => a * d);
        ReadOnlySpan<byte> data = file.Span(attribute.Offset, attribute.Length, Field(what));
        var values = new string[count];
        if (count == 0) return values;                           // h5py writes an empty list as float64 of shape (0,)
        if (type.Class == Hdf5Type.String)
        {
            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<byte> s = data.Slice(i * type.Size, type.Size);
                if (type.StringPadding == 2) s = s.TrimEnd((byte)' ');
                else { int nul = s.IndexOf((byte)0); if (nul >= 0) s = s[..nul]; }
                values[i] = Decode(s, what);
            }
            return values;
        }
        if (type.VariableLengthString)
        {
            for (int i = 0; i < count; i++)
            {
                var c = new Hdf5File.Cursor(file, attribute.Offset + i * (long)type.Size, attribute.Offset + (i + 1) * (long)type.Size, Field(what));
                long length = c.U32();
                long collection = c.Address(allowUndefined: true);
                uint index = c.U32();
                values[i] = length == 0 || collection < 0 ? "" : GlobalHeapString(collection, index, length, what);
            }
            return values;
        }
        throw file.Fail(Field(what), $"expected strings, found {type.Description}.");
    }

    /// <summary>A string in the global heap: the collection is indexed once, each object decoded once.</summary>
    private string GlobalHeapString(long collection, uint index, long length, string what)
    {
        Dictionary<uint, (long Offset, long Size)> objectsByIndex = file.GlobalHeap(collection, () => IndexGlobalHeap(collection, what));
        if (!objectsByIndex.TryGetValue(index, out var found))
            throw file.Fail(Field(what), $"expected global heap object {index} in the collection at offset {collection}, found none.");
        if (length > found.Size) throw file.Fail(Field(what), $"expected a string of at most {found.Size} bytes (its heap object), found a length of {length}.");
        return file.GlobalHeapString(collection, index, length, () => Decode(file.Span(found.Offset, length, Field(what)), what));
    }

    private Dictionary<uint, (long, long)> IndexGlobalHeap(long collection, string what)
    {
        var c = new Hdf5File.Cursor(file, collection, file.FileLength, Field(what + " global heap"));
        c.Signature("GCOL"u8);
        int version = c.U8();
        if (version != 1) throw file.Fail(Field(what + " global heap version"), $"expected 1, found {version}.");
        c.Skip(3);
        long size = c.Length();
        var objectsCursor = new Hdf5File.Cursor(file, c.Position, checked(collection + size), Field(what + " global heap"));
        var index = new Dictionary<uint, (long, long)>();
        while (objectsCursor.Remaining >= 8 + file.LengthSize)
        {
            uint objectIndex = objectsCursor.U16();
            objectsCursor.Skip(2 + 4);
            long objectSize = objectsCursor.Length();
            if (objectIndex == 0) break;                         // free space: the last object
            long at = objectsCursor.Position;
            objectsCursor.Skip(Math.Min(objectsCursor.Remaining, (objectSize + 7) & ~7L));
            index.TryAdd(objectIndex, (at, Math.Min(objectSize, objectsCursor.Position - at)));
        }
        return index;
    }

    // ---------------------------------------------------------------- types and shapes
    private Hdf5Type ReadType(Hdf5Message message, string what)
    {
        RefuseShared(message, what);
        var c = Body(message, what);
        int classAndVersion = c.U8();
        int typeClass = classAndVersion & 0x0F;
        int bits0 = c.U8(), bits1 = c.U8();
        c.U8();
        long size = c.U32();
        if (size is <= 0 or > 1 << 20) throw file.Fail(Field(what), $"expected an element size of 1..{1 << 20} bytes, found {size}.");
        bool bigEndian = (bits0 & 1) != 0;
        switch (typeClass)
        {
            case Hdf5Type.FixedPoint:
            {
                bool signed = (bits0 & 0x08) != 0;
                c.U16();
                int precision = c.U16();
                if (precision != size * 8 || size is not (1 or 2 or 4 or 8))
                    return new Hdf5Type(-1, (int)size, bigEndian, signed, 0, false, $"an integer of {precision} bits in {size} bytes");
                return new Hdf5Type(Hdf5Type.FixedPoint, (int)size, bigEndian, signed, 0, false, $"{(signed ? "int" : "uint")}{size * 8}");
            }
            case Hdf5Type.FloatingPoint:
            {
                int offset = c.U16(), precision = c.U16();
                int exponentAt = c.U8(), exponentSize = c.U8(), mantissaAt = c.U8(), mantissaSize = c.U8();
                long bias = c.U32();
                bool ieee = (bits0 & 0x40) == 0 && ((bits0 >> 4) & 3) == 2 && bits1 == size * 8 - 1 && offset == 0 && precision == size * 8 && mantissaAt == 0 && (size, exponentAt, exponentSize, mantissaSize, bias) switch
                {
                    (2, 10, 5, 10, 15) or (4, 23, 8, 23, 127) or (8, 52, 11, 52, 1023) => true,
                    _ => false,
                };
                string description = $"float{size * 8}{(bigEndian ? " big-endian" : "")}";
                return ieee
                    ? new Hdf5Type(Hdf5Type.FloatingPoint, (int)size, bigEndian, true, 0, false, description)
                    : new Hdf5Type(-1, (int)size, bigEndian, true, 0, false, $"a non-IEEE float of {size} bytes (exponent {exponentSize} bits, mantissa {mantissaSize}, bias {bias})");
            }
            case Hdf5Type.String:
                return new Hdf5Type(Hdf5Type.String, (int)size, false, false, bits0 & 0x0F, false, $"a fixed-length string of {size} bytes");
            case Hdf5Type.VariableLength:
            {
                bool isString = (bits0 & 0x0F) == 1;
                int expectedSize = 4 + file.OffsetSize + 4;
                if (isString && size == expectedSize)
                    return new Hdf5Type(Hdf5Type.VariableLength, (int)size, false, false, (bits0 >> 4) & 0x0F, true, "a variable-length string");
                return new Hdf5Type(-1, (int)size, false, false, 0, false, isString ? $"a variable-length string of element size {size}" : "a variable-length sequence");
            }
            default:
                string name = typeClass switch
                {
                    2 => "a time type", 4 => "a bit field", 5 => "an opaque type", 6 => "a compound type", 7 => "a reference",
                    8 => "an enumeration", 10 => "an array type", _ => $"type class {typeClass}",
                };
                return new Hdf5Type(-1, (int)size, bigEndian, false, 0, false, name);
        }
    }

    private long ElementCount(long[] shape, string what)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d == 0) return 0;
            if (count > long.MaxValue / d) throw file.Fail(Field(what), $"expected an element count that fits in 64 bits, found the shape [{string.Join(", ", shape)}].");
            count *= d;
        }
        return count;
    }

    private long[] ReadShape(Hdf5Message message, string what)
    {
        RefuseShared(message, what);
        var c = Body(message, what);
        int version = c.U8();
        int rank = c.U8();
        int flags = c.U8();
        if (rank > 32) throw file.Fail(Field(what), $"expected a rank of at most 32, found {rank}.");
        if (version == 1) c.Skip(5);
        else if (version == 2)
        {
            int kind = c.U8();
            if (kind == 2) throw file.Fail(Field(what), "expected a scalar or an array, found a null dataspace (no data).");
            if (kind == 0) rank = 0;
        }
        else throw file.Fail(Field(what + " version"), $"expected 1 or 2, found {version}.");
        _ = flags;
        var shape = new long[rank];
        for (int i = 0; i < rank; i++) shape[i] = c.Length();
        return shape;
    }
}
