using System.Runtime.Intrinsics.X86;

namespace NumLstm.Kernels;

/// <summary>
/// Software prefetch for the plain cell's training gate passes (<see cref="LstmGates.StepBackward{T}"/>, the cell and
/// hidden pass of <see cref="LstmGates.ForwardStep{T}"/> with tanh(c) kept). Such a pass walks 8–12 streams of a row at
/// once (the four gate blocks of a row, the cell, tanh and gradient rows, the rows it writes), each only H values long,
/// many of them rows of steps the forward pass stored a whole loop earlier: the hardware prefetchers start each short
/// stream late, so the passes waited on memory. Each loop asks for every stream's line <see cref="DistanceBytes"/>
/// ahead of where it reads and writes. (The in-cell LayerNorm rows' passes, prefetched alike, were level: the seed
/// model with tf-addons cells 0.978 and 0.992 of the time, with keras-gates cells 1.011.)
/// <para>
/// Measured on the Intel machine (docs/performance.md, sitting 42): one core's plain-cell backward pass over 16 rows of
/// H = 512 read and written out of cache 48–54 → 18–24 µs (in cache 13 → 7–8 µs); in W4, one core's gate passes 13.4 →
/// 8.1 ms a training step backward and 8.4 → 7.8 forward. 256 bytes ahead did at least as well as 512, 1,024 and 2,048.
/// </para>
/// <para>
/// A prefetch changes no value and never faults, even past the end of an array or of mapped memory, so rows at the end
/// of their buffers need no care (GatePassPrefetchTests). The address is taken as a plain pointer (a managed reference
/// past the end of an array would mislead the GC); if the GC moved the array meanwhile, the hint is only wasted. Where
/// SSE is missing (Arm), nothing is done.
/// </para>
/// </summary>
internal static class Prefetch
{
    /// <summary>How far ahead of its loads and stores a pass asks for each stream, in bytes: four cache lines.</summary>
    internal const int DistanceBytes = 256;

    /// <summary>Asks for the cache line <see cref="DistanceBytes"/> past element at of a row (prefetcht0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Ahead<T>(ref T row, nuint at) where T : unmanaged
    {
        if (Sse.IsSupported) Sse.Prefetch0((byte*)Unsafe.AsPointer(ref row) + at * (nuint)sizeof(T) + DistanceBytes);
    }
}
