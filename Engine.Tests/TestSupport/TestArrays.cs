namespace NumLstm.Tests.TestSupport;

/// <summary>Deterministic random test data and element-type helpers for generic (float/double) fixtures.</summary>
public static class TestArrays
{
    /// <summary>Uniform values in [low, high), rounded to T so the oracle sees exactly what the kernel sees.</summary>
    public static T[] Uniform<T>(int length, int seed, double low = -1, double high = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        var values = new T[length];
        for (int j = 0; j < length; j++) values[j] = T.CreateTruncating(low + (high - low) * random.NextDouble());
        return values;
    }

    public static double[] ToDouble<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new double[values.Length];
        for (int j = 0; j < values.Length; j++) result[j] = double.CreateTruncating(values[j]);
        return result;
    }

    public static T[] FromDouble<T>(ReadOnlySpan<double> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new T[values.Length];
        for (int j = 0; j < values.Length; j++) result[j] = T.CreateTruncating(values[j]);
        return result;
    }

    /// <summary>Machine epsilon of T (2^-23 for float, 2^-52 for double).</summary>
    public static double Epsilon<T>() where T : unmanaged, IFloatingPointIeee754<T>
        => typeof(T) == typeof(float) ? Math.Pow(2, -23) : Math.Pow(2, -52);

    /// <summary>A value no kernel computes, written around outputs to detect stray writes.</summary>
    public static T Sentinel<T>() where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(-12345.25);

    /// <summary>
    /// Asserts |actual − expected| ≤ relative·magnitude + absolute for every element, reporting the worst index.
    /// </summary>
    public static void AssertClose<T>(ReadOnlySpan<T> actual, ReadOnlySpan<double> expected, ReadOnlySpan<double> magnitude,
        double relative, double absolute, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int j = 0; j < expected.Length; j++)
        {
            double value = double.CreateTruncating(actual[j]);
            double allowed = relative * (magnitude.IsEmpty ? Math.Abs(expected[j]) : magnitude[j]) + absolute;
            if (!(Math.Abs(value - expected[j]) <= allowed))
                Assert.Fail($"{what}: element {j} is {value:R}, expected {expected[j]:R} (allowed error {allowed:E2}).");
        }
    }

    /// <summary>Asserts every element of the span equals the sentinel (bitwise, so NaN and −0 count as changes).</summary>
    public static void AssertUntouched<T>(ReadOnlySpan<T> region, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T sentinel = Sentinel<T>();
        for (int j = 0; j < region.Length; j++)
            if (!region[j].Equals(sentinel))
                Assert.Fail($"{what}: guard element {j} was overwritten with {region[j]}.");
    }

    /// <summary>Asserts actual holds expected's values bit for bit (so a NaN's payload, −0 and +0 count).</summary>
    public static void AssertSameBits<T>(ReadOnlySpan<T> actual, ReadOnlySpan<T> expected, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int j = 0; j < expected.Length; j++)
            if (!SameBits(actual[j], expected[j]))
                Assert.Fail($"{what}[{j}]: {actual[j]} where {expected[j]} was expected, bit for bit.");
    }

    public static bool SameBits<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T> => BitsOf(a) == BitsOf(b);

    /// <summary>A value's bit pattern (a float's 32 bits or a double's 64), so NaN payloads, −0 and +0 compare as bits.</summary>
    public static long BitsOf<T>(T value) where T : unmanaged, IFloatingPointIeee754<T> => typeof(T) == typeof(float)
        ? BitConverter.SingleToInt32Bits(float.CreateTruncating(value))
        : BitConverter.DoubleToInt64Bits(double.CreateTruncating(value));

    /// <summary>Every value's bit pattern (<see cref="BitsOf{T}"/>), for comparing whole arrays bit for bit.</summary>
    public static long[] Bits<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bits = new long[values.Length];
        for (int i = 0; i < values.Length; i++) bits[i] = BitsOf(values[i]);
        return bits;
    }
}
