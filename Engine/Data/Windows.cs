namespace NumLstm.Data;

/// <summary>
/// Sliding windows over a univariate series for next-value regression. Window s has inputs
/// <c>series[s .. s+window-1]</c> as <c>[window, 1]</c> and targets <c>series[s+window .. s+window+horizon-1]</c>.
/// </summary>
public static class Windows
{
    /// <summary>
    /// All windows, start 0, 1, ...: a regression <see cref="SequenceDataset"/> of
    /// <c>[N = L - window - horizon + 1, window, 1]</c> with targets <c>[N, horizon]</c>.
    /// </summary>
    public static SequenceDataset Slice(ReadOnlySpan<float> series, int window, int horizon = 1)
    {
        CheckSizes(series.Length, window, horizon);
        long count = (long)series.Length - window - horizon + 1;   // in long: window + horizon may pass int.MaxValue
        if (count < 1)
            throw new ArgumentException($"series: {series.Length} values are too few for one window of {window} inputs and {horizon} targets (need {(long)window + horizon}).", nameof(series));
        return SliceRange(series, window, horizon, 0, (int)count);
    }

    /// <summary>
    /// A time-ordered split with no target shared across the boundary <c>b = round(trainFraction * L)</c>:
    /// Train holds the windows whose targets all lie before b, Test those whose targets all lie at or after b (its
    /// inputs may reach back before b: that is past data, as in forecasting). The <c>horizon - 1</c> windows whose
    /// targets straddle b are left out. Nothing is shuffled.
    /// </summary>
    public static (SequenceDataset Train, SequenceDataset Test) SliceSplit(ReadOnlySpan<float> series, int window, int horizon, double trainFraction)
    {
        CheckSizes(series.Length, window, horizon);
        if (!(trainFraction > 0.0 && trainFraction < 1.0))
            throw new ArgumentOutOfRangeException(nameof(trainFraction), trainFraction, "trainFraction must be in (0, 1).");
        int boundary = (int)Math.Round(trainFraction * series.Length, MidpointRounding.AwayFromZero);
        long trainCount = (long)boundary - window - horizon + 1;    // last start s with s+window+horizon-1 < boundary
        int testFirst = Math.Max(boundary - window, 0);             // first start s with s+window >= boundary
        long testCount = (long)series.Length - window - horizon + 1 - testFirst;
        if (trainCount < 1 || testCount < 1)
            throw new ArgumentException(
                $"series: {series.Length} values split at {boundary} leave {Math.Max(trainCount, 0)} train and {Math.Max(testCount, 0)} test windows of {window} + {horizon}; need at least one of each.",
                nameof(series));
        return (SliceRange(series, window, horizon, 0, (int)trainCount), SliceRange(series, window, horizon, testFirst, (int)testCount));
    }

    private static void CheckSizes(int length, int window, int horizon)
    {
        if (window < 1)
            throw new ArgumentOutOfRangeException(nameof(window), window, "window must be at least 1.");
        if (horizon < 1)
            throw new ArgumentOutOfRangeException(nameof(horizon), horizon, "horizon must be at least 1.");
        if (length < 1)
            throw new ArgumentException("series: expected at least one value.", "series");
    }

    private static SequenceDataset SliceRange(ReadOnlySpan<float> series, int window, int horizon, int firstStart, int count)
    {
        var x = new float[count * window];
        var targets = new float[count * horizon];
        for (int k = 0; k < count; k++)
        {
            int start = firstStart + k;
            series.Slice(start, window).CopyTo(x.AsSpan(k * window));
            series.Slice(start + window, horizon).CopyTo(targets.AsSpan(k * horizon));
        }
        return SequenceDataset.ForRegression(x, count, window, 1, targets, horizon);
    }
}
