using NumLstm.Losses;

namespace NumLstm.Training;

/// <summary>
/// One metric's running state over an epoch or a set (a Keras metric object between two reset_state calls): the Mean
/// metrics' total and count (Keras' <c>Mean.update_state(values, sample_weight)</c>: Σ wᵢ·mᵢ and Σ wᵢ, each wᵢ = 1
/// without weights), R²'s per-column sums, or Precision, Recall and AUC's confusion counts per threshold.
/// <see cref="Result"/> is total / count (0 for no samples, Keras' divide_no_nan), its root for RMSE. The trainer keeps
/// one for its metric (fed no weights: Keras' <c>metrics=</c>) and one for its weighted metric (fed the batch's weights:
/// <c>weighted_metrics=</c>).
/// </summary>
internal sealed class MetricState
{
    private readonly MetricKind kind;
    private readonly bool logits;
    private readonly R2ScoreState? r2;
    private readonly ConfusionMetricState? confusion;
    private double total, count;

    /// <param name="kind">The metric.</param>
    /// <param name="logits">Binary accuracy thresholds logits at 0 (binary cross-entropy on logits), else probabilities at 0.5.</param>
    /// <param name="width">Outputs per sample (R² keeps sums per output column).</param>
    /// <param name="confusion">Precision, Recall and AUC's confusion counts (<see cref="ConfusionMetricState"/>); null for the others.</param>
    public MetricState(MetricKind kind, bool logits, int width, ConfusionMetricState? confusion = null)
    {
        this.kind = kind;
        this.logits = logits;
        r2 = kind == MetricKind.R2Score ? new R2ScoreState(width) : null;
        this.confusion = confusion;
        if ((kind is MetricKind.Precision or MetricKind.Recall or MetricKind.Auc) != (confusion is not null))
            throw new ArgumentException($"Metric kind {kind}: a confusion state is needed by Precision, Recall and AUC only.", nameof(confusion));
    }

    /// <summary>
    /// Adds a batch of B samples: predictions [B, width] with class labels [B] (non-empty for a classification batch) or
    /// target rows [B, width]; weights [B], or empty for 1 each. Every sample counts, one with a non-finite prediction too,
    /// as Keras' Mean adds each: an error's NaN makes the result NaN, an accuracy compares the row as it is.
    /// </summary>
    public void Add(ReadOnlySpan<float> predictions, ReadOnlySpan<int> labels, ReadOnlySpan<float> targets, int b, ReadOnlySpan<float> weights)
    {
        if (r2 is not null)
        {
            r2.Add(predictions, targets, weights);
            return;
        }
        if (confusion is not null)
        {
            confusion.Add(predictions, labels, targets, b, weights);
            return;
        }
        int width = predictions.Length / b;
        if (weights.IsEmpty)
        {
            total += Sum(kind, logits, predictions, labels, targets, 0, b, width);
            count += b;
            return;
        }
        for (int i = 0; i < b; i++)
        {
            total += weights[i] * Sum(kind, logits, predictions, labels, targets, i, 1, width);
            count += weights[i];
        }
    }

    public double Result()
    {
        if (r2 is not null) return r2.Result();
        if (confusion is not null) return confusion.Result();
        double mean = count == 0 ? 0 : total / count;
        return kind == MetricKind.RootMeanSquaredError ? Math.Sqrt(mean) : mean;
    }

    /// <summary>
    /// The metric summed over rows [first, first + rows): each sample's value (a sample's mean over its elements for the
    /// elementwise ones), as Keras' Mean metrics add per-sample values to their total. Not R² (not a sum of per-sample values).
    /// </summary>
    private static double Sum(MetricKind kind, bool logits, ReadOnlySpan<float> predictions, ReadOnlySpan<int> labels, ReadOnlySpan<float> targets,
        int first, int rows, int width)
    {
        ReadOnlySpan<float> rowPredictions = predictions.Slice(first * width, rows * width);
        if (!labels.IsEmpty)
        {
            ReadOnlySpan<int> rowLabels = labels.Slice(first, rows);
            return kind == MetricKind.BinaryAccuracy
                ? Metrics.CountBinaryLabelMatches(rowPredictions, rowLabels, logits)   // one output per sample (ResolveMetric)
                : Metrics.CountCorrect(rowPredictions, rowLabels);
        }
        ReadOnlySpan<float> rowTargets = targets.Slice(first * width, rows * width);
        return kind switch
        {
            MetricKind.BinaryAccuracy => (double)Metrics.CountBinaryMatches(rowPredictions, rowTargets, logits) / width,
            MetricKind.CategoricalAccuracy => Metrics.CountCategoricalMatches(rowPredictions, rowTargets, rows),
            MetricKind.MeanSquaredError or MetricKind.RootMeanSquaredError => Metrics.SumSquaredError(rowPredictions, rowTargets) / width,
            MetricKind.MeanAbsolutePercentageError => Metrics.SumAbsolutePercentageError(rowPredictions, rowTargets) / width,
            MetricKind.MeanSquaredLogarithmicError => Metrics.SumSquaredLogarithmicError(rowPredictions, rowTargets) / width,
            MetricKind.LogCoshError => Metrics.SumLogCoshError(rowPredictions, rowTargets) / width,
            MetricKind.MeanAbsoluteError => Metrics.SumAbsoluteError(rowPredictions, rowTargets) / width,
            _ => throw new InvalidOperationException($"Metric kind {kind} has no per-sample sum."),
        };
    }
}
