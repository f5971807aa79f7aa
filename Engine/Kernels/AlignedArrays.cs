namespace NumLstm.Kernels;

/// <summary>
/// Arrays whose element 0 lies on a 64-byte boundary (a cache line, the width of a Vector512) and that never move, for
/// the buffers that live across calls and that the matrix products stream with vector loads: packed weights above all.
/// <para>
/// Why: a 512-bit load from an address that is not 64-byte aligned touches two cache lines, and a plain
/// <c>new T[n]</c> is only 8-byte aligned, wherever the GC put it. Measured on Zen 5 (AVX-512, one core): a streaming
/// step of an LSTM 32→128 at batch 1 takes 3.3 µs with its packed weights at an arbitrary address and 2.7 µs with the
/// same packed array on a 64-byte boundary; the batch-1 product with a 512×128 packed U alone takes 1.68 µs aligned
/// against 2.0–2.3 µs misaligned by 16–32 bytes. (The per-call GEMM packing buffers are aligned by GemmPacked.Rent.)
/// </para>
/// <para>
/// Only speed depends on alignment. The products and the element-wise passes over these buffers use unaligned loads
/// and never choose a path by address, so results are bitwise the same whether an array came out aligned or not; if
/// every try misses, the caller gets an unaligned array that works the same, only slower.
/// </para>
/// <para>
/// Pinned-heap arrays are freed only by gen2 collections and count towards their budget, so allocating many of them
/// starts background gen2 GCs. Use this for buffers that live as long as a plan, session or cache and are streamed
/// often, not for per-call scratch or large row buffers (an LSTM's inference Projection [B, T, G] is aligned only up to
/// 256 KB).
/// </para>
/// <para>
/// Arrays over <see cref="MaxTriedBytes"/> are allocated once, pinned, wherever they land: measured on .NET 10 x64 (eight
/// arrays a size, each a fresh process), arrays of 4–11 MB came out aligned 7–8 times in 8, arrays of 12, 13 and 16 MB
/// once in 8 (a GC region of their own, at a fixed offset no filler moves), and a process that allocated eight 13 MB
/// arrays so had 352 MB committed for their 104 MB: misses and fillers that only a gen2 collection returns.
/// </para>
/// </summary>
internal static unsafe class AlignedArrays
{
    public const int Alignment = 64;

    // At most this many tries, and fewer once the misses and fillers kept hold MissBudgetBytes: an array larger than a
    // GC region (tens of MB) gets a region of its own, always at the same offset, which no filler moves.
    private const int Tries = 64;
    private const long MissBudgetBytes = 64L << 20;

    /// <summary>Bytes above which an array is not tried for alignment (see <see cref="AlignedArrays"/>).</summary>
    public const long MaxTriedBytes = 10L << 20;

    /// <summary>
    /// A zeroed <c>T[length]</c> on the pinned object heap (never moved, so the alignment holds for the array's
    /// lifetime), element 0 on a 64-byte boundary unless every try missed or it is over <see cref="MaxTriedBytes"/>
    /// (see <see cref="AlignedArrays"/>).
    /// Length 0 gives the shared empty array.
    /// </summary>
    public static T[] Allocate<T>(int length) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0) return Array.Empty<T>();
        // The GC aligns objects to 8 bytes only, but the pinned heap puts an object right after the one allocated before
        // it, unless a free gap left by dead pinned objects fits it (first fit, among gaps of about its size or larger).
        // So a filler byte[] that ends where the next array's element 0 falls on a boundary puts the array there, when
        // both land in the same place. The first try learns that place from an empty probe: cheap, and enough on a heap
        // without gaps. A small probe and filler go to any small gap, though, while a large array goes past it; so the
        // later tries follow the last miss with a filler as large as the array (it fits no gap the array did not) and
        // another copy of the array. Misses stay referenced until the end, so no try reuses their space; each one uses
        // up a gap, and once none fits, the array lands where the filler put it.
        long arrayBytes = (long)length * sizeof(T), keptBytes = 0;
        if (arrayBytes > MaxTriedBytes) return GC.AllocateArray<T>(length, pinned: true);
        var kept = new List<Array>(2 * Tries + 1);
        byte[] probe = GC.AllocateUninitializedArray<byte>(0, pinned: true);
        kept.Add(probe);
        kept.Add(GC.AllocateUninitializedArray<byte>(FillerLength(EndOf(probe), 0), pinned: true));
        T[] array = GC.AllocateArray<T>(length, pinned: true);
        for (int attempt = 1; attempt < Tries && !IsAligned(array); attempt++)
        {
            kept.Add(array);
            keptBytes += arrayBytes;
            if (keptBytes + arrayBytes > MissBudgetBytes) break;   // this miss and the next filler would pass the budget
            kept.Add(GC.AllocateUninitializedArray<byte>(FillerLength(EndOf(array), arrayBytes), pinned: true));
            keptBytes += arrayBytes;
            array = GC.AllocateArray<T>(length, pinned: true);
        }
        GC.KeepAlive(kept);
        return array;
    }

    /// <summary>Whether element 0 of <paramref name="array"/> lies on a 64-byte boundary (an empty array counts as aligned).</summary>
    public static bool IsAligned<T>(T[] array) where T : unmanaged
        => array.Length == 0 || AddressOf(array) % Alignment == 0;

    // Meaningful only for a pinned array: the address of one the GC may move is stale at once.
    private static nuint AddressOf<T>(T[] array) where T : unmanaged
        => (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));

    // Object layout on the GC heap: a header word, the method table pointer and the length (padded to a word on 64-bit)
    // come before element 0, and every object's size is a whole number of words. Checked on .NET 10 x64: an array
    // allocated right after another starts 3 words after the other's word-rounded end.
    private static readonly nuint ArrayDataOffset = (nuint)(3 * IntPtr.Size);

    // Where the object after this (pinned) array would start: just past its word-rounded data.
    private static nuint EndOf<T>(T[] array) where T : unmanaged
        => AddressOf(array) + RoundUpToWord((nuint)array.Length * (nuint)sizeof(T));

    /// <summary>
    /// Elements of a byte[], at least <paramref name="atLeast"/>, that, allocated at <paramref name="start"/>, makes the
    /// array allocated right after it start on a 64-byte boundary (an empty byte[] still takes its 3 words).
    /// </summary>
    private static int FillerLength(nuint start, long atLeast)
    {
        nuint afterFiller = start + 2 * ArrayDataOffset + RoundUpToWord((nuint)atLeast);   // element 0 of the next array
        return checked((int)(RoundUpToWord((nuint)atLeast) + (Alignment - afterFiller % Alignment) % Alignment));
    }

    private static nuint RoundUpToWord(nuint bytes) => (bytes + (nuint)IntPtr.Size - 1) & ~(nuint)(IntPtr.Size - 1);
}
