namespace NumLstm.Losses;

/// <summary>Which kind of target a loss reads: integer class labels [B] or real values [B, K].</summary>
public enum LossTargetKind
{
    Values,
    Labels,
}

/// <summary>
/// The targets of one batch: either integer class labels [B] or real values with the predictions' shape [B, K].
/// A training loop passes this one type to every loss, whatever kind the loss needs.
/// </summary>
public readonly ref struct LossTargets<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private LossTargets(LossTargetKind kind, ReadOnlySpan<int> labels, ReadOnlySpan<T> values, int rows)
    {
        Kind = kind;
        Labels = labels;
        Values = values;
        Rows = rows;
    }

    public static LossTargets<T> FromLabels(ReadOnlySpan<int> labels) => new(LossTargetKind.Labels, labels, default, labels.Length);

    /// <summary>Values [B, K] without the batch size: enough for the element-wise losses (mse, mae, binary).</summary>
    public static LossTargets<T> FromValues(ReadOnlySpan<T> values) => new(LossTargetKind.Values, default, values, 0);

    /// <summary>Values [B, K] with B = <paramref name="rows"/>, which a row-wise loss (categorical) needs.</summary>
    public static LossTargets<T> FromValues(ReadOnlySpan<T> values, int rows)
    {
        if (rows <= 0 || values.Length % rows != 0)
            throw new ArgumentOutOfRangeException(nameof(rows), rows,
                $"LossTargets: rows must be positive and divide the {values.Length} values.");
        return new(LossTargetKind.Values, default, values, rows);
    }

    public LossTargetKind Kind { get; }
    public ReadOnlySpan<int> Labels { get; }
    public ReadOnlySpan<T> Values { get; }

    /// <summary>B: the number of labels, or the rows given to <see cref="FromValues(ReadOnlySpan{T}, int)"/>; 0 if not given.</summary>
    public int Rows { get; }
}

/// <summary>
/// A loss over a batch of predictions [B, K]. <see cref="Forward"/> returns the MEAN loss over the batch and
/// overwrites <c>predictionGradient</c> with dLoss/dPrediction of that mean (pass an empty span to skip it).
/// </summary>
public interface ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The Keras name of the loss (<c>mse</c>, <c>mae</c>, ...).</summary>
    string Name { get; }

    LossTargetKind TargetKind { get; }

    T Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient);
}

/// <summary>Argument checks and factory shared by the losses.</summary>
public static class Loss
{
    /// <summary>
    /// The loss for a Keras-style name: <c>mse</c>/<c>mean_squared_error</c>, <c>mae</c>/<c>mean_absolute_error</c>,
    /// <c>huber</c> (δ = 1.0, Keras' default; construct <see cref="Huber{T}"/> for another δ), <c>log_cosh</c>,
    /// <c>msle</c>/<c>mean_squared_logarithmic_error</c>, <c>mape</c>/<c>mean_absolute_percentage_error</c>,
    /// <c>sparse_categorical_crossentropy</c>, <c>categorical_crossentropy</c>, <c>binary_crossentropy</c>.
    /// The match ignores case (so Keras' <c>MSLE</c> and <c>MAPE</c> aliases are taken, and the class name <c>Huber</c>).
    /// <paramref name="fromLogits"/> applies to the three cross-entropies (true: logits, as PyTorch and our linear
    /// output layers; false: probabilities, Keras' default) and is ignored by the regression losses.
    /// <paramref name="labelSmoothing"/> (default 0) applies to the three cross-entropies (see each); the regression
    /// losses have no such option, and a nonzero amount with them is an <see cref="ArgumentException"/>.
    /// </summary>
    public static ILoss<T> FromName<T>(string name, bool fromLogits = true, double labelSmoothing = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.ToLowerInvariant();
        ILoss<T>? regression = key switch
        {
            "mse" or "mean_squared_error" => new MeanSquaredError<T>(),
            "mae" or "mean_absolute_error" => new MeanAbsoluteError<T>(),
            "huber" => new Huber<T>(),
            "log_cosh" => new LogCosh<T>(),
            "msle" or "mean_squared_logarithmic_error" => new MeanSquaredLogarithmicError<T>(),
            "mape" or "mean_absolute_percentage_error" => new MeanAbsolutePercentageError<T>(),
            _ => null,
        };
        if (regression is not null)
            return labelSmoothing == 0
                ? regression
                : throw new ArgumentException(
                    $"Loss '{name}' has no label smoothing (got labelSmoothing = {labelSmoothing}); only the cross-entropies do.", nameof(labelSmoothing));
        return key switch
        {
            "sparse_categorical_crossentropy" or "softmax_cross_entropy" => new SoftmaxCrossEntropy<T>(fromLogits, labelSmoothing),
            "categorical_crossentropy" => new CategoricalCrossEntropy<T>(fromLogits, labelSmoothing),
            "binary_crossentropy" or "binary_cross_entropy" => new BinaryCrossEntropy<T>(fromLogits, labelSmoothing),
            _ => throw new ArgumentException(
                $"Unknown loss '{name}': expected one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    /// <summary>Every name <see cref="FromName"/> accepts (case-insensitive).</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "mse", "mean_squared_error", "mae", "mean_absolute_error",
        "huber", "log_cosh", "msle", "mean_squared_logarithmic_error", "mape", "mean_absolute_percentage_error",
        "sparse_categorical_crossentropy", "softmax_cross_entropy", "categorical_crossentropy",
        "binary_crossentropy", "binary_cross_entropy",
    ];

    internal static void CheckValues<T>(string loss, LossTargets<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (targets.Kind != LossTargetKind.Values)
            throw new ArgumentException($"{loss} needs real-valued targets with the predictions' shape, got integer labels.", nameof(targets));
    }

    internal static void CheckLabels<T>(string loss, LossTargets<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (targets.Kind != LossTargetKind.Labels)
            throw new ArgumentException($"{loss} needs integer class labels [B], got real-valued targets.", nameof(targets));
    }

    /// <summary>Predictions and targets of the same, non-zero length; gradient empty or of that length.</summary>
    internal static void CheckElementwise<T>(string loss, ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        if (predictions.IsEmpty)
            throw new ArgumentException($"{loss}: predictions are empty; a batch needs at least one value.", nameof(predictions));
        if (targets.Length != predictions.Length)
            throw new ArgumentException($"{loss}: targets must have the predictions' length {predictions.Length}, got {targets.Length}.", nameof(targets));
        CheckGradient(loss, predictions.Length, predictionGradient);
    }

    internal static void CheckGradient<T>(string loss, int length, Span<T> predictionGradient)
    {
        if (!predictionGradient.IsEmpty && predictionGradient.Length != length)
            throw new ArgumentException($"{loss}: predictionGradient must be empty or hold {length} values, got {predictionGradient.Length}.", nameof(predictionGradient));
    }
}
