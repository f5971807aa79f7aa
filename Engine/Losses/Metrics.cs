namespace NumLstm.Losses;

/// <summary>Metrics reported during training. Counting variants let a loop sum over batches and divide once.</summary>
public static class Metrics
{
    /// <summary>Index of the largest value in <paramref name="row"/>; the first one on ties (as NumPy and PyTorch).</summary>
    public static int ArgMax<T>(ReadOnlySpan<T> row) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (row.IsEmpty) throw new ArgumentException("ArgMax: the row is empty.", nameof(row));
        int best = 0;
        for (int k = 1; k < row.Length; k++)
            if (row[k] > row[best]) best = k;
        return best;
    }

    /// <summary>Rows b of predictions [B, K] whose argmax equals labels[b].</summary>
    public static int CountCorrect<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<int> labels) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = labels.Length;
        if (batch == 0) throw new ArgumentException("Accuracy: labels are empty.", nameof(labels));
        if (predictions.IsEmpty || predictions.Length % batch != 0)
            throw new ArgumentException($"Accuracy: predictions must be [B={batch}, K] (a multiple of {batch} values), got {predictions.Length}.", nameof(predictions));
        int classes = predictions.Length / batch;
        int correct = 0;
        for (int b = 0; b < batch; b++)
            if (ArgMax(predictions.Slice(b * classes, classes)) == labels[b]) correct++;
        return correct;
    }

    /// <summary>Fraction of rows whose argmax equals the label (Keras <c>sparse_categorical_accuracy</c>).</summary>
    public static double Accuracy<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<int> labels) where T : unmanaged, IFloatingPointIeee754<T>
        => (double)CountCorrect(predictions, labels) / labels.Length;

    /// <summary>Σ |p − y| in double, for averaging over many batches.</summary>
    public static double SumAbsoluteError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (targets.Length != predictions.Length)
            throw new ArgumentException($"MeanAbsoluteError: targets must have the predictions' length {predictions.Length}, got {targets.Length}.", nameof(targets));
        double sum = 0;
        for (int k = 0; k < predictions.Length; k++)
            sum += Math.Abs(double.CreateTruncating(predictions[k]) - double.CreateTruncating(targets[k]));
        return sum;
    }

    /// <summary>Σ (p − y)² in double, for averaging over many batches (Keras' mean_squared_error and root_mean_squared_error).</summary>
    public static double SumSquaredError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (targets.Length != predictions.Length)
            throw new ArgumentException($"MeanSquaredError: targets must have the predictions' length {predictions.Length}, got {targets.Length}.", nameof(targets));
        double sum = 0;
        for (int k = 0; k < predictions.Length; k++)
        {
            double diff = double.CreateTruncating(predictions[k]) - double.CreateTruncating(targets[k]);
            sum += diff * diff;
        }
        return sum;
    }

    /// <summary>
    /// Σ 100·|y − p| / max(|y|, ε) in double, ε = 1e-7 rounded to T (Keras' mean_absolute_percentage_error per element;
    /// the same term as <see cref="Losses.MeanAbsolutePercentageError{T}"/>), for averaging over many batches.
    /// </summary>
    public static double SumAbsolutePercentageError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLengths("MeanAbsolutePercentageError", predictions, targets);
        double epsilon = RegressionTerms.EpsilonOf<T>();
        double sum = 0;
        for (int k = 0; k < predictions.Length; k++)
            sum += RegressionTerms.AbsolutePercentageError(double.CreateTruncating(predictions[k]), double.CreateTruncating(targets[k]), epsilon);
        return sum;
    }

    /// <summary>
    /// Σ (log(1 + max(p, ε)) − log(1 + max(y, ε)))² in double, ε = 1e-7 rounded to T (Keras'
    /// mean_squared_logarithmic_error per element; the same term as <see cref="Losses.MeanSquaredLogarithmicError{T}"/>).
    /// </summary>
    public static double SumSquaredLogarithmicError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLengths("MeanSquaredLogarithmicError", predictions, targets);
        double epsilon = RegressionTerms.EpsilonOf<T>();
        double sum = 0;
        for (int k = 0; k < predictions.Length; k++)
        {
            double diff = RegressionTerms.LogOnePlusClamped(double.CreateTruncating(predictions[k]), epsilon)
                - RegressionTerms.LogOnePlusClamped(double.CreateTruncating(targets[k]), epsilon);
            sum += diff * diff;
        }
        return sum;
    }

    /// <summary>Σ log cosh(p − y) in double (Keras' log_cosh per element; the same term as <see cref="LogCosh{T}"/>).</summary>
    public static double SumLogCoshError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLengths("LogCoshError", predictions, targets);
        double sum = 0;
        for (int k = 0; k < predictions.Length; k++)
            sum += RegressionTerms.LogCosh(double.CreateTruncating(predictions[k]) - double.CreateTruncating(targets[k]));
        return sum;
    }

    private static void CheckLengths<T>(string metric, ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets)
    {
        if (targets.Length != predictions.Length)
            throw new ArgumentException($"{metric}: targets must have the predictions' length {predictions.Length}, got {targets.Length}.", nameof(targets));
    }

    /// <summary>
    /// Keras' <c>binary_accuracy</c> counted: the elements where the target equals the thresholded prediction (1 when
    /// the probability is above 0.5, else 0). fromLogits: predictions are logits, thresholded at 0, the same decision
    /// as σ(x) > 0.5 (Keras thresholds what it is given at 0.5, which on logits means σ(x) > 0.62). A soft target
    /// (neither 0 nor 1) never matches, as in Keras; a NaN prediction counts as 0.
    /// </summary>
    public static int CountBinaryMatches<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, bool fromLogits) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (targets.Length != predictions.Length)
            throw new ArgumentException($"Binary accuracy: targets must have the predictions' length {predictions.Length}, got {targets.Length}.", nameof(targets));
        T threshold = fromLogits ? T.Zero : T.CreateTruncating(0.5);
        int matches = 0;
        for (int k = 0; k < predictions.Length; k++)
            if (targets[k] == (predictions[k] > threshold ? T.One : T.Zero)) matches++;
        return matches;
    }

    /// <summary>
    /// Keras' <c>categorical_accuracy</c> counted: rows b of predictions [B, K] whose argmax equals the argmax of the
    /// target row (one-hot or soft; the first maximum on ties, as NumPy).
    /// </summary>
    public static int CountCategoricalMatches<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "Categorical accuracy: the batch must be positive.");
        if (targets.Length != predictions.Length)
            throw new ArgumentException($"Categorical accuracy: targets must have the predictions' length {predictions.Length}, got {targets.Length}.", nameof(targets));
        if (predictions.IsEmpty || predictions.Length % batch != 0)
            throw new ArgumentException($"Categorical accuracy: predictions must be [B={batch}, K] (a multiple of {batch} values), got {predictions.Length}.", nameof(predictions));
        int classes = predictions.Length / batch;
        int matches = 0;
        for (int b = 0; b < batch; b++)
            if (ArgMax(predictions.Slice(b * classes, classes)) == ArgMax(targets.Slice(b * classes, classes))) matches++;
        return matches;
    }

    /// <summary>
    /// <see cref="CountBinaryMatches{T}"/> against class labels: predictions [B] (one output per sample), a label
    /// matching when it equals the thresholded prediction (so only labels 0 and 1 can match), as Keras' binary_accuracy.
    /// </summary>
    public static int CountBinaryLabelMatches<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<int> labels, bool fromLogits) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (labels.Length != predictions.Length)
            throw new ArgumentException($"Binary accuracy: predictions must be [B={labels.Length}] (one per label), got {predictions.Length}.", nameof(predictions));
        T threshold = fromLogits ? T.Zero : T.CreateTruncating(0.5);
        int matches = 0;
        for (int k = 0; k < predictions.Length; k++)
            if (labels[k] == (predictions[k] > threshold ? 1 : 0)) matches++;
        return matches;
    }

    /// <summary>(1/N) Σ (p − y)², computed in double (Keras' MeanSquaredError metric on one batch).</summary>
    public static double MeanSquaredError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (predictions.IsEmpty) throw new ArgumentException("MeanSquaredError: predictions are empty.", nameof(predictions));
        return SumSquaredError(predictions, targets) / predictions.Length;
    }

    /// <summary>√((1/N) Σ (p − y)²), computed in double (Keras' RootMeanSquaredError metric on one batch).</summary>
    public static double RootMeanSquaredError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
        => Math.Sqrt(MeanSquaredError(predictions, targets));

    /// <summary>(1/N) Σ |p − y|, computed in double.</summary>
    public static double MeanAbsoluteError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (predictions.IsEmpty) throw new ArgumentException("MeanAbsoluteError: predictions are empty.", nameof(predictions));
        return SumAbsoluteError(predictions, targets) / predictions.Length;
    }

    /// <summary>(100/N) Σ |y − p| / max(|y|, ε), computed in double (Keras' MeanAbsolutePercentageError metric on one batch).</summary>
    public static double MeanAbsolutePercentageError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (predictions.IsEmpty) throw new ArgumentException("MeanAbsolutePercentageError: predictions are empty.", nameof(predictions));
        return SumAbsolutePercentageError(predictions, targets) / predictions.Length;
    }

    /// <summary>(1/N) Σ (log(1 + max(p, ε)) − log(1 + max(y, ε)))², computed in double (Keras' MeanSquaredLogarithmicError metric on one batch).</summary>
    public static double MeanSquaredLogarithmicError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (predictions.IsEmpty) throw new ArgumentException("MeanSquaredLogarithmicError: predictions are empty.", nameof(predictions));
        return SumSquaredLogarithmicError(predictions, targets) / predictions.Length;
    }

    /// <summary>(1/N) Σ log cosh(p − y), computed in double (Keras' LogCoshError metric on one batch).</summary>
    public static double LogCoshError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (predictions.IsEmpty) throw new ArgumentException("LogCoshError: predictions are empty.", nameof(predictions));
        return SumLogCoshError(predictions, targets) / predictions.Length;
    }
}
