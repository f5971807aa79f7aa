namespace NumLstm.Data;

/// <summary>
/// A small synthetic variable-length classification task for masking tests: sequence n of class k is
/// <c>x_t = sin(2π f_k t + φ) + ε_t</c>, t = 0..L-1, with <c>f_k = (k + 1) / (2 (classCount + 1))</c> cycles per step
/// (all below the Nyquist 0.5), φ uniform in [0, 2π), ε Gaussian with std <c>noiseStd</c>, and the length L uniform in
/// <c>[minLength, maxLength]</c>. Padded with zeros to T = maxLength. The class can only be read from the valid steps;
/// a model that reads the zero padding as signal sees a lower frequency.
/// </summary>
public static class SineFrequencies
{
    public static SequenceDataset Generate(int count, int minLength, int maxLength, int classCount, int seed, double noiseStd = 0.1)
    {
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), count, "count must be at least 1.");
        if (minLength < 1 || maxLength < minLength)
            throw new ArgumentException($"Lengths: expected 1 <= minLength <= maxLength, got minLength={minLength}, maxLength={maxLength}.", nameof(minLength));
        if (classCount < 2)
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "classCount must be at least 2.");
        if (!(noiseStd >= 0.0) || !double.IsFinite(noiseStd))
            throw new ArgumentOutOfRangeException(nameof(noiseStd), noiseStd, "noiseStd must be finite and >= 0.");
        if ((long)count * maxLength > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count × maxLength = {(long)count * maxLength} values, more than an array holds ({Array.MaxLength}).");
        var random = new Random(seed);
        var x = new float[count * maxLength];
        var lengths = new int[count];
        var labels = new int[count];
        for (int n = 0; n < count; n++)
        {
            int label = random.Next(classCount);
            int length = random.Next(minLength, maxLength + 1);
            double phase = 2.0 * Math.PI * random.NextDouble();
            double frequency = Frequency(label, classCount);
            for (int t = 0; t < length; t++)
                x[n * maxLength + t] = (float)(Math.Sin(2.0 * Math.PI * frequency * t + phase) + noiseStd * Gaussian(random));
            labels[n] = label;
            lengths[n] = length;
        }
        return SequenceDataset.ForClassification(x, count, maxLength, 1, labels, classCount, lengths);
    }

    /// <summary>f_k in cycles per step.</summary>
    public static double Frequency(int label, int classCount) => (label + 1) / (2.0 * (classCount + 1));

    private static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
