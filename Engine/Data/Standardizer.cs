namespace NumLstm.Data;

/// <summary>
/// Per-feature standardization <c>z = (x - mean[f]) / std[f]</c>. Fit it on the training set only; the statistics
/// cover valid steps only (padding is left out), and padded steps stay 0 after <see cref="Transform"/>.
/// std is the population standard deviation (ddof 0, as scikit-learn's StandardScaler and Keras' Normalization); a
/// feature with std 0 gets std 1, so it is only centred (scikit-learn's rule; Keras' Normalization divides by
/// max(std, 1e-7) instead, which differs only off the training data); data holding NaN or ±∞ is refused by <see cref="Fit"/>.
/// Saved as two float arrays, <see cref="Mean"/> and <see cref="Std"/>; rebuild with the constructor.
/// </summary>
public sealed class Standardizer
{
    public Standardizer(float[] mean, float[] std)
    {
        (Mean, Std) = ScalerMath.Check(mean, std);
    }

    /// <summary>Mean per feature, <c>[F]</c>.</summary>
    public float[] Mean { get; }
    /// <summary>Standard deviation per feature, <c>[F]</c>, never 0.</summary>
    public float[] Std { get; }
    public int Features => Mean.Length;

    /// <summary>Fits mean and std per feature over the valid steps of <paramref name="train"/> (accumulated in double).</summary>
    public static Standardizer Fit(SequenceDataset train)
    {
        ArgumentNullException.ThrowIfNull(train);
        int features = train.Features;
        var sum = new double[features];
        var sumSquares = new double[features];
        long steps = 0;
        for (int n = 0; n < train.Count; n++)
        {
            int length = train.Length(n);
            ReadOnlySpan<float> sequence = train.Sequence(n);
            for (int t = 0; t < length; t++)
            {
                ReadOnlySpan<float> frame = sequence.Slice(t * features, features);
                for (int f = 0; f < features; f++)
                    sum[f] += frame[f];
            }
            steps += length;
        }
        if (steps == 0)
            throw new ArgumentException("Standardizer.Fit: the dataset has no sequences to fit on.", nameof(train));
        var mean = new double[features];
        for (int f = 0; f < features; f++) mean[f] = sum[f] / steps;
        // Second pass about the mean: no cancellation for features with a large offset (CO2 at ~340 ppmv).
        for (int n = 0; n < train.Count; n++)
        {
            int length = train.Length(n);
            ReadOnlySpan<float> sequence = train.Sequence(n);
            for (int t = 0; t < length; t++)
            {
                ReadOnlySpan<float> frame = sequence.Slice(t * features, features);
                for (int f = 0; f < features; f++)
                {
                    double d = frame[f] - mean[f];
                    sumSquares[f] += d * d;
                }
            }
        }
        var meanOut = new float[features];
        var stdOut = new float[features];
        for (int f = 0; f < features; f++)
        {
            meanOut[f] = (float)mean[f];
            stdOut[f] = (float)Math.Sqrt(sumSquares[f] / steps);
            ScalerMath.CheckFitted("Standardizer.Fit", "feature", f, meanOut[f], stdOut[f], nameof(train));
        }
        return new Standardizer(meanOut, ScalerMath.GuardStd(stdOut));
    }

    /// <summary>A new dataset with standardized values on valid steps and 0 on padded steps; targets are shared, not copied.</summary>
    public SequenceDataset Transform(SequenceDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Features != Features)
            throw new ArgumentException($"Standardizer was fitted on F={Features} features, the dataset has F={data.Features}.", nameof(data));
        var x = new float[data.X.Length];
        int stride = data.Steps * Features;
        for (int n = 0; n < data.Count; n++)
        {
            int valid = data.Length(n) * Features;
            Span<float> destination = x.AsSpan(n * stride, valid);
            data.X.AsSpan(n * stride, valid).CopyTo(destination);
            TransformInPlace(destination);
            // The rest of the row stays 0: padding is not shifted to -mean/std.
        }
        return data.WithData(x, data.Labels, data.Targets);
    }

    /// <summary>Standardizes whole frames in place: <paramref name="frames"/> is <c>[..., F]</c> (e.g. one step at inference).</summary>
    public void TransformInPlace<T>(Span<T> frames) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScalerMath.Forward(frames, Mean, Std, nameof(frames));

    /// <summary>Undoes <see cref="TransformInPlace{T}"/>: <c>x = z*std[f] + mean[f]</c> on <c>[..., F]</c>.</summary>
    public void InverseTransformInPlace<T>(Span<T> frames) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScalerMath.Inverse(frames, Mean, Std, nameof(frames));
}

/// <summary>
/// Standardization of regression targets, per target column: <c>y' = (y - mean[j]) / std[j]</c>, with
/// <see cref="InverseTransformInPlace{T}"/> to bring predictions back to the original units. Fit on the training set only.
/// Saved as two float arrays, like <see cref="Standardizer"/>.
/// </summary>
public sealed class TargetScaler
{
    public TargetScaler(float[] mean, float[] std)
    {
        (Mean, Std) = ScalerMath.Check(mean, std);
    }

    public float[] Mean { get; }
    public float[] Std { get; }
    public int TargetWidth => Mean.Length;

    /// <summary>
    /// Fits per-column mean and std of the targets of <paramref name="train"/> (a regression dataset).
    /// With <paramref name="pooled"/> true, all columns share one mean and std (sensible when the columns are the next
    /// k values of one series).
    /// </summary>
    public static TargetScaler Fit(SequenceDataset train, bool pooled = false)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Targets is null)
            throw new ArgumentException("TargetScaler.Fit: expected a regression dataset, got a classification dataset.", nameof(train));
        if (train.Count == 0)
            throw new ArgumentException("TargetScaler.Fit: the dataset has no sequences to fit on.", nameof(train));
        int width = train.TargetWidth;
        var mean = new double[width];
        var sumSquares = new double[width];
        float[] targets = train.Targets;
        int columns = pooled ? 1 : width;
        // Sequence n's target rows that are data: its one row, or with per-step targets its valid steps' rows (a padding
        // step's target is not data).
        ReadOnlySpan<float> ValidRows(int n) =>
            targets.AsSpan(n * train.TargetRows * width, (train.TargetsPerStep ? train.Length(n) : 1) * width);
        long rowCount = 0;
        for (int n = 0; n < train.Count; n++)
        {
            ReadOnlySpan<float> rows = ValidRows(n);
            rowCount += rows.Length / width;
            for (int k = 0; k < rows.Length; k++) mean[pooled ? 0 : k % width] += rows[k];
        }
        long perColumn = pooled ? rowCount * width : rowCount;
        for (int j = 0; j < columns; j++) mean[j] /= perColumn;
        for (int n = 0; n < train.Count; n++)
        {
            ReadOnlySpan<float> rows = ValidRows(n);
            for (int k = 0; k < rows.Length; k++)
            {
                int column = pooled ? 0 : k % width;
                double d = rows[k] - mean[column];
                sumSquares[column] += d * d;
            }
        }
        var meanOut = new float[width];
        var stdOut = new float[width];
        for (int j = 0; j < width; j++)
        {
            int column = pooled ? 0 : j;
            meanOut[j] = (float)mean[column];
            stdOut[j] = (float)Math.Sqrt(sumSquares[column] / perColumn);
            ScalerMath.CheckFitted("TargetScaler.Fit", pooled ? "pooled target" : "target column", column, meanOut[j], stdOut[j], nameof(train));
        }
        return new TargetScaler(meanOut, ScalerMath.GuardStd(stdOut));
    }

    /// <summary>A new dataset with scaled targets; X, lengths, groups and sample weights are shared, not copied.</summary>
    public SequenceDataset Transform(SequenceDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Targets is null)
            throw new ArgumentException("TargetScaler.Transform: expected a regression dataset, got a classification dataset.", nameof(data));
        if (data.TargetWidth != TargetWidth)
            throw new ArgumentException($"TargetScaler was fitted on {TargetWidth} target columns, the dataset has {data.TargetWidth}.", nameof(data));
        var targets = (float[])data.Targets.Clone();
        TransformInPlace<float>(targets);
        return data.WithData(data.X, null, targets);
    }

    /// <summary>Scales targets <c>[..., TargetWidth]</c> in place.</summary>
    public void TransformInPlace<T>(Span<T> targets) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScalerMath.Forward(targets, Mean, Std, nameof(targets));

    /// <summary>Brings scaled values (e.g. predictions) <c>[..., TargetWidth]</c> back to target units, in place.</summary>
    public void InverseTransformInPlace<T>(Span<T> scaled) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScalerMath.Inverse(scaled, Mean, Std, nameof(scaled));
}

internal static class ScalerMath
{
    /// <summary>A fit over data holding NaN or ±∞ (or values whose spread overflows float) names the data, not the
    /// statistic's parameter.</summary>
    public static void CheckFitted(string fit, string what, int index, float mean, float std, string parameter)
    {
        if (!float.IsFinite(mean) || !float.IsFinite(std))
            throw new ArgumentException(
                $"{fit}: {what} {index} has mean {mean} and std {std} over the valid steps: expected finite data (NaN or infinite values in it, or a spread beyond float's range).", parameter);
    }

    public static (float[] Mean, float[] Std) Check(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0)
            throw new ArgumentException("mean: expected at least one value.", nameof(mean));
        if (std.Length != mean.Length)
            throw new ArgumentException($"std: expected {mean.Length} values (as many as mean), got {std.Length}.", nameof(std));
        for (int j = 0; j < mean.Length; j++)
        {
            if (!float.IsFinite(mean[j]))
                throw new ArgumentException($"mean[{j}] = {mean[j]}: expected a finite value.", nameof(mean));
            if (!(std[j] > 0f) || !float.IsFinite(std[j]))
                throw new ArgumentException($"std[{j}] = {std[j]}: expected a finite value > 0.", nameof(std));
        }
        return ((float[])mean.Clone(), (float[])std.Clone());
    }

    public static float[] GuardStd(float[] std)
    {
        for (int j = 0; j < std.Length; j++)
            if (!(std[j] > 0f) || !float.IsFinite(std[j])) std[j] = 1f;
        return std;
    }

    public static void Forward<T>(Span<T> values, float[] mean, float[] std, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = mean.Length;
        if (values.Length % width != 0)
            throw new ArgumentException($"{name}: expected a whole number of rows of {width}, got {values.Length} values.", name);
        for (int k = 0; k < values.Length; k += width)
        {
            Span<T> row = values.Slice(k, width);
            for (int j = 0; j < width; j++)
                row[j] = (row[j] - T.CreateTruncating(mean[j])) / T.CreateTruncating(std[j]);
        }
    }

    public static void Inverse<T>(Span<T> values, float[] mean, float[] std, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = mean.Length;
        if (values.Length % width != 0)
            throw new ArgumentException($"{name}: expected a whole number of rows of {width}, got {values.Length} values.", name);
        for (int k = 0; k < values.Length; k += width)
        {
            Span<T> row = values.Slice(k, width);
            for (int j = 0; j < width; j++)
                row[j] = row[j] * T.CreateTruncating(std[j]) + T.CreateTruncating(mean[j]);
        }
    }
}
