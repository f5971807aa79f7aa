namespace NumLstm.Kernels;

/// <summary>
/// The slivers of one product shared by two threads (<see cref="GemmPacked.MultiplyClaimedSlivers{T}"/>): each thread
/// owns half of them and takes its own one at a time from the end its walk starts at; a thread done with its half takes
/// what is left of the other's from the far end, so when one core runs slower than the other the product still ends
/// when both are done. A thread's walk turns round at every <see cref="Reset"/>, so in a time loop what it read last
/// in one step, and still has in its L2, is what it reads first in the next (as <c>SliversOuterInPlaceA</c> does); what
/// the other thread takes from the far end is what the owner read first the step before, the coldest of its half.
/// <para>
/// No lock: each half's range is one 64-bit value (next from the low end in the low 32 bits, one past the last from the
/// high end in the high 32), moved by compare-and-swap; the two values lie a cache line apart. Reset before the pair of
/// parts is posted; every claimed sliver is done by the thread that claimed it before its part returns.
/// </para>
/// </summary>
internal sealed class SliverClaims
{
    private readonly long[] ranges = new long[16];   // half 0 at [0], half 1 at [8]: 64 bytes apart
    private bool walkDown;

    /// <summary>Slivers of the product the claims were last reset for.</summary>
    public int Slivers { get; private set; }

    /// <summary>Slivers a thread took from the other's half, over this object's life (tests read it).</summary>
    public long Stolen;

    /// <summary>A new product of this many slivers: halves [0, ⌈s/2⌉) for part 0 and the rest for part 1; the walks turn round.</summary>
    public void Reset(int slivers)
    {
        if (slivers < 0) throw new ArgumentOutOfRangeException(nameof(slivers), slivers, "SliverClaims: a product has at least zero slivers.");
        int half = (slivers + 1) / 2;
        Slivers = slivers;
        walkDown = !walkDown;
        Volatile.Write(ref ranges[0], Range(0, half));
        Volatile.Write(ref ranges[8], Range(half, slivers));
    }

    private static long Range(int low, int high) => ((long)high << 32) | (uint)low;

    /// <summary>The next sliver of this part's own half, from the end its walk starts at.</summary>
    public bool TryClaimOwn(int part, out int sliver) => TryClaim(8 * part, fromHigh: walkDown, out sliver);

    /// <summary>A sliver left in the other part's half, from the end its owner reaches last.</summary>
    public bool TrySteal(int part, out int sliver)
    {
        if (!TryClaim(8 * (1 - part), fromHigh: !walkDown, out sliver)) return false;
        Interlocked.Increment(ref Stolen);
        return true;
    }

    private bool TryClaim(int at, bool fromHigh, out int sliver)
    {
        while (true)
        {
            long seen = Volatile.Read(ref ranges[at]);
            int low = (int)(uint)seen, high = (int)(seen >> 32);
            if (low >= high) { sliver = 0; return false; }
            long next = fromHigh ? Range(low, high - 1) : Range(low + 1, high);
            if (Interlocked.CompareExchange(ref ranges[at], next, seen) == seen)
            {
                sliver = fromHigh ? high - 1 : low;
                return true;
            }
        }
    }
}
