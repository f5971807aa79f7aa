using System.Buffers.Binary;
using System.Text;

namespace NumLstm.IO;

/// <summary>
/// Writes an HDF5 file of groups and numeric datasets in the layout h5py gives by default (the library's "earliest"
/// format): superblock version 0, version-1 object headers, groups as symbol tables (a local heap of names, one
/// symbol-table node, a one-node v1 B-tree), contiguous little-endian datasets with h5py's fill-value settings. Every
/// object is written after its children, so each address is known when it is written; the superblock goes first,
/// filled in last. Spec: "HDF5 File Format Specification Version 3.0" (The HDF Group).
/// </summary>
internal static class Hdf5Writer
{
    private const int OffsetSize = 8, LengthSize = 8, SuperblockSize = 96, InternalK = 16;
    private const ulong Undefined = ulong.MaxValue;

    /// <summary>A group: its children by name (strcmp order, as HDF5's B-tree keeps them).</summary>
    internal sealed class Group
    {
        public SortedDictionary<string, object> Children { get; } = new(StringComparer.Ordinal);

        /// <summary>The child group of that name, made if missing.</summary>
        public Group At(string name)
        {
            if (!Children.TryGetValue(name, out object? child)) Children[name] = child = new Group();
            return child as Group ?? throw new InvalidOperationException($"'{name}' is a dataset, not a group.");
        }
    }

    /// <summary>A dataset: F32 or F64 (or I64), its C-order shape and its little-endian element bytes.</summary>
    internal sealed record Dataset(TensorDType DType, long[] Shape, byte[] Data);

    public static void Write(Stream stream, Group root)
    {
        int leafK = Math.Max(4, (MaxChildren(root) + 1) / 2);
        var file = new MemoryStream();
        file.Write(new byte[SuperblockSize]);
        var (rootHeader, rootBtree, rootHeap) = WriteGroup(file, root, leafK);
        byte[] bytes = file.ToArray();
        Span<byte> s = bytes;
        ReadOnlySpan<byte> signature = [0x89, (byte)'H', (byte)'D', (byte)'F', (byte)'\r', (byte)'\n', 0x1A, (byte)'\n'];
        signature.CopyTo(s);
        // Versions: superblock 0, free-space 0, root symbol table entry 0, reserved, shared header 0; sizes; reserved.
        s[8] = 0; s[9] = 0; s[10] = 0; s[11] = 0; s[12] = 0; s[13] = OffsetSize; s[14] = LengthSize; s[15] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], (ushort)leafK);
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], InternalK);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 0);                  // file consistency flags
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], 0);                  // base address
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], Undefined);          // free-space info
        BinaryPrimitives.WriteUInt64LittleEndian(s[40..], (ulong)bytes.Length);// end of file
        BinaryPrimitives.WriteUInt64LittleEndian(s[48..], Undefined);          // driver information
        // Root group symbol table entry: name offset 0, header, cache type 1 (symbol table) with its B-tree and heap.
        BinaryPrimitives.WriteUInt64LittleEndian(s[56..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(s[64..], (ulong)rootHeader);
        BinaryPrimitives.WriteUInt32LittleEndian(s[72..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[76..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(s[80..], (ulong)rootBtree);
        BinaryPrimitives.WriteUInt64LittleEndian(s[88..], (ulong)rootHeap);
        stream.Write(bytes);
    }

    private static int MaxChildren(Group group) =>
        Math.Max(group.Children.Count, group.Children.Values.OfType<Group>().Select(MaxChildren).DefaultIfEmpty(0).Max());

    private static (long Header, long Btree, long Heap) WriteGroup(MemoryStream file, Group group, int leafK)
    {
        var entries = new List<(string Name, long Header)>();
        foreach (var (name, child) in group.Children)
            entries.Add((name, child is Group g ? WriteGroup(file, g, leafK).Header : WriteDataset(file, (Dataset)child)));

        // Local heap data: the empty name at offset 0 (the B-tree's first key), then each name, NUL-terminated, 8-aligned.
        var heapData = new MemoryStream();
        heapData.Write(new byte[8]);
        var nameOffsets = new List<long>();
        foreach (var (name, _) in entries)
        {
            nameOffsets.Add(heapData.Length);
            byte[] utf8 = Encoding.UTF8.GetBytes(name);
            heapData.Write(utf8);
            heapData.Write(new byte[Align8(utf8.Length + 1) - utf8.Length]);
        }
        long heapDataAddress = Append(file, heapData.ToArray());
        var heap = new byte[32];
        "HEAP"u8.CopyTo(heap);
        BinaryPrimitives.WriteUInt64LittleEndian(heap.AsSpan(8), (ulong)heapData.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(heap.AsSpan(16), 1);          // no free block (H5HL_FREE_NULL, 1)
        BinaryPrimitives.WriteUInt64LittleEndian(heap.AsSpan(24), (ulong)heapDataAddress);
        long heapAddress = Append(file, heap);

        // One symbol-table node of 2·leafK entries (the size readers expect), the used ones in name order.
        long nodeAddress = -1;
        if (entries.Count > 0)
        {
            const int entrySize = 2 * OffsetSize + 24;
            var node = new byte[8 + 2 * leafK * entrySize];
            "SNOD"u8.CopyTo(node);
            node[4] = 1;
            BinaryPrimitives.WriteUInt16LittleEndian(node.AsSpan(6), (ushort)entries.Count);
            for (int i = 0; i < entries.Count; i++)
            {
                Span<byte> e = node.AsSpan(8 + i * entrySize);
                BinaryPrimitives.WriteUInt64LittleEndian(e, (ulong)nameOffsets[i]);
                BinaryPrimitives.WriteUInt64LittleEndian(e[8..], (ulong)entries[i].Header);
                // cache type 0 (nothing cached), reserved, scratch pad: zeros
            }
            nodeAddress = Append(file, node);
        }

        // A v1 B-tree group node (type 0, level 0) sized for 2K children: keys are heap offsets of names; key 0 is "",
        // key 1 the largest name in the one child.
        var btree = new byte[8 + 2 * OffsetSize + (2 * InternalK + 1) * LengthSize + 2 * InternalK * OffsetSize];
        "TREE"u8.CopyTo(btree);
        btree[4] = 0;
        btree[5] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(btree.AsSpan(6), (ushort)(entries.Count > 0 ? 1 : 0));
        BinaryPrimitives.WriteUInt64LittleEndian(btree.AsSpan(8), Undefined);
        BinaryPrimitives.WriteUInt64LittleEndian(btree.AsSpan(16), Undefined);
        if (entries.Count > 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(btree.AsSpan(24), 0);
            BinaryPrimitives.WriteUInt64LittleEndian(btree.AsSpan(32), (ulong)nodeAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(btree.AsSpan(40), (ulong)nameOffsets[^1]);
        }
        long btreeAddress = Append(file, btree);

        var symbolTable = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(symbolTable, (ulong)btreeAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(symbolTable.AsSpan(8), (ulong)heapAddress);
        long header = Append(file, ObjectHeader([(17, 0, symbolTable)]));
        return (header, btreeAddress, heapAddress);
    }

    private static long WriteDataset(MemoryStream file, Dataset dataset)
    {
        int rank = dataset.Shape.Length;
        long dataAddress = dataset.Data.Length == 0 ? -1 : Append(file, dataset.Data);

        // Dataspace v1 with maximum dimensions equal to the dimensions (h5py's fixed-size dataset).
        var space = new byte[8 + 2 * rank * LengthSize];
        space[0] = 1; space[1] = (byte)rank; space[2] = rank > 0 ? (byte)1 : (byte)0;
        for (int d = 0; d < rank; d++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(space.AsSpan(8 + d * LengthSize), (ulong)dataset.Shape[d]);
            BinaryPrimitives.WriteUInt64LittleEndian(space.AsSpan(8 + (rank + d) * LengthSize), (ulong)dataset.Shape[d]);
        }
        if (rank == 0) space = space[..8];

        byte[] type = dataset.DType switch
        {
            TensorDType.F32 => FloatType(4, 23, 8, 23, 127),
            TensorDType.F64 => FloatType(8, 52, 11, 52, 1023),
            TensorDType.I64 => IntegerType(8),
            _ => throw new ArgumentException($"Dataset type {dataset.DType} is not written (float32, float64, int64 are).", nameof(dataset)),
        };

        // Fill value v2: allocation time late (2), write time if set (2), the default fill defined (1) with size 0.
        byte[] fill = [2, 2, 2, 1, 0, 0, 0, 0];

        // Layout v3, contiguous: address and size (the undefined address for no data).
        var layout = new byte[2 + OffsetSize + LengthSize];
        layout[0] = 3; layout[1] = 1;
        BinaryPrimitives.WriteUInt64LittleEndian(layout.AsSpan(2), dataAddress < 0 ? Undefined : (ulong)dataAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(layout.AsSpan(2 + OffsetSize), (ulong)dataset.Data.Length);

        return Append(file, ObjectHeader([(1, 0, space), (3, 1, type), (5, 1, fill), (8, 0, layout)]));
    }

    private static byte[] FloatType(int size, int exponentAt, int exponentSize, int mantissaSize, int bias)
    {
        var t = new byte[20];
        t[0] = 0x11;                                             // version 1, class 1 (floating point)
        t[1] = 0x20;                                             // little-endian, implied mantissa bit (normalization 2)
        t[2] = (byte)(size * 8 - 1);                             // sign bit location
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(4), (uint)size);
        BinaryPrimitives.WriteUInt16LittleEndian(t.AsSpan(8), 0);
        BinaryPrimitives.WriteUInt16LittleEndian(t.AsSpan(10), (ushort)(size * 8));
        t[12] = (byte)exponentAt; t[13] = (byte)exponentSize; t[14] = 0; t[15] = (byte)mantissaSize;
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(16), (uint)bias);
        return t;
    }

    private static byte[] IntegerType(int size)
    {
        var t = new byte[12];
        t[0] = 0x10;                                             // version 1, class 0 (fixed point)
        t[1] = 0x08;                                             // little-endian, signed
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(4), (uint)size);
        BinaryPrimitives.WriteUInt16LittleEndian(t.AsSpan(10), (ushort)(size * 8));
        return t;
    }

    /// <summary>A version-1 object header: 16-byte prefix, then each message (type, size, flags) 8-byte aligned.</summary>
    private static byte[] ObjectHeader(IReadOnlyList<(int Type, int Flags, byte[] Body)> messages)
    {
        int size = messages.Sum(m => 8 + Align8(m.Body.Length));
        var header = new byte[16 + size];
        header[0] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(2), (ushort)messages.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), 1);       // reference count
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), (uint)size);
        int at = 16;
        foreach (var (type, flags, body) in messages)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at), (ushort)type);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at + 2), (ushort)Align8(body.Length));
            header[at + 4] = (byte)flags;
            body.CopyTo(header.AsSpan(at + 8));
            at += 8 + Align8(body.Length);
        }
        return header;
    }

    private static int Align8(int n) => (n + 7) & ~7;

    /// <summary>Appends at the next 8-byte boundary; returns the address.</summary>
    private static long Append(MemoryStream file, byte[] bytes)
    {
        long at = Align8Long(file.Length);
        file.SetLength(at);
        file.Position = at;
        file.Write(bytes);
        return at;
    }

    private static long Align8Long(long n) => (n + 7) & ~7L;
}
