namespace NumLstm.Layers;

/// <summary>
/// The stream <c>new Random(seed)</c> gives, restarted at another seed by <see cref="Reseed"/> without allocating: Knuth's
/// subtractive generator as .NET keeps it for seeded <see cref="Random"/>s (Random.Net5CompatImpl.cs, CompatPrng).
/// A Bidirectional's training forward draws each direction's dropout masks from a stream seeded from the caller's
/// Random; reseeding one kept in the caller's cache, instead of constructing two Randoms a call, removes the training
/// step's last allocation (about 300 bytes a Random) with the same masks. <see cref="Sample"/>, <see cref="NextDouble"/>,
/// <see cref="Next()"/>, <see cref="Next(int)"/> and <see cref="Next(int, int)"/> match <c>new Random(seed)</c> draw
/// for draw (<c>ReseedableRandomTests</c>); the other draws are not needed and throw.
/// </summary>
internal sealed class ReseedableRandom : Random
{
    private readonly int[] seedArray = new int[56];
    private int next, nextP;

    /// <summary>A stream at seed 0; call <see cref="Reseed"/> before drawing.</summary>
    public ReseedableRandom() => Reseed(0);

    /// <summary>Restarts the stream as <c>new Random(seed)</c> starts it. Returns this instance.</summary>
    public ReseedableRandom Reseed(int seed)
    {
        int[] state = seedArray;
        Array.Clear(state);
        int subtraction = seed == int.MinValue ? int.MaxValue : Math.Abs(seed);
        int mj = 161803398 - subtraction;   // MSEED: from the golden ratio
        state[55] = mj;
        int mk = 1, ii = 0;
        for (int i = 1; i < 55; i++)
        {
            if ((ii += 21) >= 55) ii -= 55;
            state[ii] = mk;
            mk = mj - mk;
            if (mk < 0) mk += int.MaxValue;
            mj = state[ii];
        }
        for (int k = 1; k < 5; k++)
            for (int i = 1; i < 56; i++)
            {
                int n = i + 30;
                if (n >= 55) n -= 55;
                state[i] -= state[1 + n];
                if (state[i] < 0) state[i] += int.MaxValue;
            }
        next = 0;
        nextP = 21;
        return this;
    }

    // The sign fix-up (half the draws) as arithmetic, not a branch: FillDropoutMasks's loop runs this inlined.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int InternalSample()
    {
        int locNext = next + 1, locNextP = nextP + 1;
        if (locNext >= 56) locNext = 1;
        if (locNextP >= 56) locNextP = 1;
        int value = seedArray[locNext] - seedArray[locNextP];
        if (value == int.MaxValue) value--;
        value += (value >> 31) & int.MaxValue;   // if (value < 0) value += int.MaxValue
        seedArray[locNext] = value;
        next = locNext;
        nextP = locNextP;
        return value;
    }

    protected override double Sample() => InternalSample() * (1.0 / int.MaxValue);

    /// <summary>
    /// Inverted dropout masks: <c>masks[i] = NextDouble() &lt; rate ? 0 : keep</c> for i = 0, 1, …, draw for draw as that
    /// loop gives them (the same samples, the same decisions), in a loop without branches on the data: the sample's sign
    /// fix-up as arithmetic, and the comparison as one on the sample's integer against the first integer whose
    /// NextDouble reaches <paramref name="rate"/> (the same decision: int → double is exact and the scaling monotonic).
    /// Lstm's DrawMasks takes this path for a Bidirectional's direction streams: about 270,000 draws per training step of
    /// the seed model. Through NextDouble, with the fix-up a branch, a draw took 9–10 ns (a virtual call, and half of two
    /// data-dependent branches mispredicted), 2 % of the step; this loop takes 1.4–1.8 ns.
    /// </summary>
    internal void FillDropoutMasks<T>(Span<T> masks, double rate, T keep) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int threshold = DropThreshold(rate);
        Span<T> choices = [keep, T.Zero];   // [0]: kept, [1]: dropped (sample < threshold)
        for (int i = 0; i < masks.Length; i++)
            masks[i] = choices[(int)((uint)(InternalSample() - threshold) >> 31)];
    }

    /// <summary>
    /// The least sample s in [0, int.MaxValue] with <c>s · (1 / int.MaxValue) ≥ rate</c> (Sample's value), so that
    /// <c>Sample() &lt; rate</c> exactly when the sample is below it; int.MaxValue if no sample reaches the rate.
    /// </summary>
    internal static int DropThreshold(double rate)
    {
        const double scale = 1.0 / int.MaxValue;
        if (!(rate > 0)) return 0;                                       // no sample is below 0 (or NaN: never dropped)
        if (!((int.MaxValue - 1) * scale >= rate)) return int.MaxValue;   // every sample is below the rate
        long s = Math.Clamp((long)(rate * int.MaxValue), 0, int.MaxValue - 1);
        while (s > 0 && (s - 1) * scale >= rate) s--;
        while (s * scale < rate) s++;
        return (int)s;
    }

    public override double NextDouble() => Sample();

    public override int Next() => InternalSample();

    public override int Next(int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        return (int)(Sample() * maxValue);
    }

    public override int Next(int minValue, int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minValue, maxValue);
        long range = (long)maxValue - minValue;
        return range <= int.MaxValue
            ? (int)(Sample() * range) + minValue
            : (int)((long)(SampleForLargeRange() * range) + minValue);
    }

    // A sample over the full int range (Next(min, max) with max − min above int.MaxValue), as CompatPrng draws it.
    private double SampleForLargeRange()
    {
        int result = InternalSample();
        if (InternalSample() % 2 == 0) result = -result;
        double d = result;
        d += int.MaxValue - 1;
        d /= 2u * int.MaxValue - 1;
        return d;
    }

    public override long NextInt64() => throw NotDrawn(nameof(NextInt64));
    public override long NextInt64(long maxValue) => throw NotDrawn(nameof(NextInt64));
    public override long NextInt64(long minValue, long maxValue) => throw NotDrawn(nameof(NextInt64));
    public override float NextSingle() => throw NotDrawn(nameof(NextSingle));
    public override void NextBytes(byte[] buffer) => throw NotDrawn(nameof(NextBytes));
    public override void NextBytes(Span<byte> buffer) => throw NotDrawn(nameof(NextBytes));

    private static NotSupportedException NotDrawn(string draw)
        => new($"ReseedableRandom keeps new Random(seed)'s Sample, NextDouble and Next draws only; {draw} is not one of them.");
}
