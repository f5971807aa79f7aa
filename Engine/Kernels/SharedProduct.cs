namespace NumLstm.Kernels;

/// <summary>
/// Lets a second thread join the products one thread runs, mid-product, when it has nothing else to do: a
/// Bidirectional's two directions train one per core, and the one done first takes row blocks of the other's remaining
/// products (its weight and input gradients after its time loop) instead of waiting for it.
/// <para>
/// The owner runs each product as always (<c>GemmPacked.Blocked</c>): it packs a block of b, then multiplies each MC-row
/// block of a by it. With a share it publishes each packed block (<see cref="Run"/>); both threads then claim its row
/// blocks one at a time, and the owner waits until every claimed block is done before it packs the next block of b. A
/// row block is computed by the same code on either thread (the helper packs a into its own buffer), and the k blocks of
/// every element of c still come one after the other in order, so the result is bitwise the same with or without help.
/// </para>
/// <para>
/// No lock: the generation of the published block, its number of row blocks and the next unclaimed one are one 64-bit
/// value moved by compare-and-swap, so a helper can only claim a row block of the block it read the arguments of; the
/// owner rewrites the arguments only after every claimed block is done. A helper that finds the owner not started
/// returns at once (the owner's work may then run on the helper's own thread, after it: <see cref="PairedWork"/> takes a
/// part back that no core has picked up).
/// </para>
/// </summary>
internal sealed unsafe class SharedProduct<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int Idle = 0, Running = 1, Finished = 2;
    private const int IndexBits = 20;
    private const long IndexMask = (1L << IndexBits) - 1;

    private int state;
    // generation (bits 40–63) · row blocks of the published block (bits 20–39) · next unclaimed row block (bits 0–19)
    private long claims;
    private int completed;
    private GemmPacked.PackedBlock<T> block;

    /// <summary>Row blocks this owner's products handed to the other thread (tests and benchmarks read it).</summary>
    public long HelpedBlocks;

    /// <summary>A new round of work: not started (before the pair of parts is posted).</summary>
    public void Reset() => Volatile.Write(ref state, Idle);

    /// <summary>The owner starts its work: from now on the other thread may wait for it and help.</summary>
    public void Start() => Volatile.Write(ref state, Running);

    /// <summary>The owner is done (or failed): a helper stops. Always call it once <see cref="Start"/> was called.</summary>
    public void Finish() => Volatile.Write(ref state, Finished);

    /// <summary>
    /// The owner: row blocks [0, rowBlocks) of one packed block, some of them perhaps on the helping thread; returns when
    /// all are done. aPack and edgeTile are the owner's own buffers.
    /// </summary>
    internal void Run(in GemmPacked.PackedBlock<T> packed, int rowBlocks, T* aPack, T* edgeTile)
    {
        if (rowBlocks > (int)IndexMask) throw new ArgumentOutOfRangeException(nameof(rowBlocks), rowBlocks, $"SharedProduct: at most {IndexMask} row blocks.");
        block = packed;
        Volatile.Write(ref completed, 0);
        long generation = (Volatile.Read(ref claims) >> (2 * IndexBits)) + 1;
        Volatile.Write(ref claims, (generation << (2 * IndexBits)) | ((long)rowBlocks << IndexBits));   // publishes block
        int own = 0;
        while (TryClaim(out int index))
        {
            GemmPacked.RowBlock(in block, index, aPack, edgeTile);
            own++;
        }
        // The rest were claimed by the helper: wait until it has finished them.
        int helped = rowBlocks - own;
        if (helped == 0) return;
        while (Volatile.Read(ref completed) != helped) Thread.SpinWait(1);
        HelpedBlocks += helped;
    }

    private bool TryClaim(out int index)
    {
        while (true)
        {
            long seen = Volatile.Read(ref claims);
            int next = (int)(seen & IndexMask), count = (int)((seen >> IndexBits) & IndexMask);
            if (next >= count) { index = 0; return false; }
            if (Interlocked.CompareExchange(ref claims, seen + 1, seen) == seen) { index = next; return true; }
        }
    }

    /// <summary>
    /// The other thread, done with its own work: takes row blocks of the owner's products as they are published, until
    /// the owner finishes. Returns at once if the owner has not started.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Help()
    {
        if (Volatile.Read(ref state) == Idle) return;
        while (true)
        {
            if (TryClaim(out int index))
            {
                // Claimed after the owner published this block, which it does not rewrite before this one is done.
                // Counted done even if it threw, so the owner never waits for it forever (the exception reaches the
                // caller through PairedWork).
                try
                {
                    GemmPacked.PackedBlock<T> taken = block;
                    GemmPacked.HelperRowBlock(in taken, index);
                }
                finally
                {
                    Interlocked.Increment(ref completed);
                }
                continue;
            }
            if (Volatile.Read(ref state) == Finished) return;
            Thread.SpinWait(1);
        }
    }
}
