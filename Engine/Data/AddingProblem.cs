namespace NumLstm.Data;

/// <summary>
/// The adding problem (Hochreiter and Schmidhuber 1997; in the form of Le, Jaitly and Hinton 2015): each step has two
/// channels, a value drawn uniformly from [0, 1) and a marker that is 1 at exactly two steps and 0 elsewhere. The
/// first marker is uniform over the first half <c>[0, T/2)</c>, the second over the second half <c>[T/2, T)</c>
/// (T/2 rounded down). The target is the sum of the two marked values, so a model that always answers 1 has MSE
/// ≈ 1/6 ≈ 0.167: the usual baseline.
/// </summary>
public static class AddingProblem
{
    /// <summary>Channel 0 of each step: the value.</summary>
    public const int ValueChannel = 0;
    /// <summary>Channel 1 of each step: the marker (0 or 1).</summary>
    public const int MarkerChannel = 1;

    /// <summary>
    /// <paramref name="count"/> sequences of <paramref name="length"/> steps, as a regression dataset
    /// <c>[count, length, 2]</c> with targets <c>[count, 1]</c>, drawn from <c>System.Random(seed)</c>.
    /// </summary>
    public static SequenceDataset Generate(int count, int length, int seed)
    {
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), count, "count must be at least 1.");
        if (length < 2)
            throw new ArgumentOutOfRangeException(nameof(length), length, "length must be at least 2 (one marker in each half).");
        if ((long)count * length * 2 > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"count × length × 2 features = {(long)count * length * 2} values, more than an array holds ({Array.MaxLength}).");
        var random = new Random(seed);
        var x = new float[count * length * 2];
        var targets = new float[count];
        int half = length / 2;
        for (int n = 0; n < count; n++)
        {
            Span<float> sequence = x.AsSpan(n * length * 2, length * 2);
            for (int t = 0; t < length; t++)
            {
                // A double just below 1 rounds to 1f (about 1 draw in 2^25): kept below 1 so values stay in [0, 1).
                float value = (float)random.NextDouble();
                sequence[t * 2 + ValueChannel] = value < 1f ? value : MathF.BitDecrement(1f);
            }
            int first = random.Next(0, half);
            int second = random.Next(half, length);
            sequence[first * 2 + MarkerChannel] = 1f;
            sequence[second * 2 + MarkerChannel] = 1f;
            targets[n] = sequence[first * 2 + ValueChannel] + sequence[second * 2 + ValueChannel];
        }
        return SequenceDataset.ForRegression(x, count, length, 2, targets, 1);
    }
}
