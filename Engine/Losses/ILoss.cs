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
    private LossTargets(LossTargetKind kind, ReadOnlySpan<int> labels, ReadOnlySpan<T> values)
    {
        Kind = kind;
        Labels = labels;
        Values = values;
    }

    public static LossTargets<T> FromLabels(ReadOnlySpan<int> labels) => new(LossTargetKind.Labels, labels, default);
    public static LossTargets<T> FromValues(ReadOnlySpan<T> values) => new(LossTargetKind.Values, default, values);

    public LossTargetKind Kind { get; }
    public ReadOnlySpan<int> Labels { get; }
    public ReadOnlySpan<T> Values { get; }
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
    /// <c>sparse_categorical_crossentropy</c> (from logits), <c>binary_crossentropy</c> (from logits).
    /// </summary>
    public static ILoss<T> FromName<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToLowerInvariant() switch
        {
            "mse" or "mean_squared_error" => new MeanSquaredError<T>(),
            "mae" or "mean_absolute_error" => new MeanAbsoluteError<T>(),
            "sparse_categorical_crossentropy" or "softmax_cross_entropy" => new SoftmaxCrossEntropy<T>(),
            "binary_crossentropy" or "binary_cross_entropy" => new BinaryCrossEntropy<T>(),
            _ => throw new ArgumentException(
                $"Unknown loss '{name}': expected one of mse, mae, sparse_categorical_crossentropy, binary_crossentropy.", nameof(name)),
        };
    }

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
