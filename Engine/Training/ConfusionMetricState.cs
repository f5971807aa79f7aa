namespace NumLstm.Training;

/// <summary>What the outputs pass through before a confusion metric thresholds them (<see cref="MetricConfig.FromLogits"/>).</summary>
internal enum OutputLink
{
    /// <summary>The outputs as they are.</summary>
    None,
    /// <summary>σ(x) on every output (Keras' AUC from_logits; NumLstm's reading of a binary cross-entropy on logits).</summary>
    Sigmoid,
    /// <summary>Softmax over each output row (NumLstm's reading of a categorical cross-entropy on logits).</summary>
    Softmax,
}

/// <summary>
/// Keras 3's Precision, Recall and AUC (keras/src/metrics/confusion_metrics.py) over an epoch or a set: the confusion
/// counts at each threshold t_k, accumulated as Keras' update_confusion_matrix_variables does, never a mean of batch
/// values. Every element of a batch counts (Keras flattens y_true and y_pred unless multi_label, class_id or top_k, which
/// NumLstm does not take); its sample's weight w (1 without weights) weighs it; y_true is positive when not 0 (Keras casts
/// it to bool). An element is predicted positive at t_k when p &gt; t_k (float32), so with the thresholds sorted it is
/// positive at a prefix t_0 … t_{m−1} (Keras' own order, −ε, the given ones sorted, 1 + ε, is unsorted when a given AUC
/// threshold lies outside [−ε, 1 + ε], which Keras allows: the counts are kept by the sorted thresholds and put back in
/// Keras' order): the state keeps, per m = 0 … T, the weight of the positive and of the negative elements
/// with that m, and <see cref="Result"/> sums them into
/// <code>
///   TP_s = Σ_{m &gt; s} pos_m,  FP_s = Σ_{m &gt; s} neg_m,  FN_s = Σ_{m ≤ s} pos_m,  TN_s = Σ_{m ≤ s} neg_m
/// </code>
/// (s the threshold's sorted position)
/// m is found as Keras finds it: with evenly spaced thresholds (AUC's num_thresholds, or a list Keras finds evenly
/// spaced) by its bucket formula, p clipped to [0, 1] and m = max(⌈p·(T − 1)⌉ − 1, 0) + 1 in float32
/// (_update_confusion_matrix_variables_optimized); otherwise by comparing p &gt; t_k with each threshold, unclipped. A NaN
/// prediction is positive at no threshold. Sums in double (Keras: float32 variables).
/// docs/math-losses-optimizers.md, "Precision, Recall and AUC".
/// </summary>
internal sealed class ConfusionMetricState
{
    private const double Epsilon = 1e-7;   // Keras' backend.epsilon(), AUC's end thresholds −ε and 1 + ε

    private readonly MetricKind kind;
    private readonly float[] thresholds;                        // Keras' order: −ε, the given ones sorted, 1 + ε
    private readonly float[] sortedThresholds;                  // ascending (the same unless a given one is outside [−ε, 1 + ε])
    private readonly int[] rank;                                // thresholds[k] = sortedThresholds[rank[k]]
    private readonly bool evenly;
    private readonly bool precisionRecallCurve, majoring, minoring;
    private readonly OutputLink link;
    private readonly double[] positives, negatives;             // [T + 1], by m
    private readonly double[] tp, fp, fn, tn;                   // [T], filled by Result, in Keras' order
    private readonly double[] sortedTp, sortedFp, sortedFn, sortedTn;   // [T], by sorted threshold

    /// <param name="kind">Precision, Recall or Auc.</param>
    /// <param name="config">The metric's options, already checked (<see cref="Trainer.ResolveMetric"/>).</param>
    /// <param name="link">What the outputs pass through first.</param>
    public ConfusionMetricState(MetricKind kind, MetricConfig config, OutputLink link)
    {
        this.kind = kind;
        this.link = link;
        if (kind == MetricKind.Auc)
        {
            // Keras' AUC.__init__: given thresholds are sorted, else (i + 1)/(n − 1) for i < n − 2; −ε and 1 + ε added.
            double[] inner = config.Thresholds is { } given ? [.. given.Order()]
                : [.. Enumerable.Range(0, (config.NumThresholds ?? 200) - 2).Select(i => (i + 1) * 1.0 / ((config.NumThresholds ?? 200) - 1))];
            thresholds = [(float)(0.0 - Epsilon), .. inner.Select(t => (float)t), (float)(1.0 + Epsilon)];
            evenly = config.Thresholds is null || IsEvenlyDistributed([0.0, .. inner, 1.0]);
            precisionRecallCurve = config.Curve is "PR" or "pr";
            majoring = config.SummationMethod is "majoring" or "Majoring";
            minoring = config.SummationMethod is "minoring" or "Minoring";
        }
        else thresholds = [(float)(config.Thresholds is { } given ? given[0] : 0.5)];   // Precision, Recall: one threshold, never "evenly"
        // Keras' AUC does not check given thresholds against [0, 1]: one below −ε or above 1 + ε leaves its thresholds
        // unsorted, each compared on its own (p > t_k). The counts are kept by the sorted thresholds and put back in order.
        int[] order = [.. Enumerable.Range(0, thresholds.Length).OrderBy(k => thresholds[k])];
        sortedThresholds = [.. order.Select(k => thresholds[k])];
        rank = new int[thresholds.Length];
        for (int s = 0; s < order.Length; s++) rank[order[s]] = s;
        sortedTp = new double[thresholds.Length];
        sortedFp = new double[thresholds.Length];
        sortedFn = new double[thresholds.Length];
        sortedTn = new double[thresholds.Length];
        positives = new double[thresholds.Length + 1];
        negatives = new double[thresholds.Length + 1];
        tp = new double[thresholds.Length];
        fp = new double[thresholds.Length];
        fn = new double[thresholds.Length];
        tn = new double[thresholds.Length];
    }

    /// <summary>
    /// Adds a batch of B samples: predictions [B, width] with class labels [B] (non-empty for a classification batch;
    /// width 1: the label is y_true; width K &gt; 1: its one-hot row) or target rows [B, width]; weights [B], or empty for
    /// 1 each. No allocation.
    /// </summary>
    public void Add(ReadOnlySpan<float> predictions, ReadOnlySpan<int> labels, ReadOnlySpan<float> targets, int b, ReadOnlySpan<float> weights)
    {
        int width = predictions.Length / b;
        for (int i = 0; i < b; i++)
        {
            double w = weights.IsEmpty ? 1.0 : weights[i];
            ReadOnlySpan<float> row = predictions.Slice(i * width, width);
            // Softmax over the row, in double: its max and Σ exp(x − max) once, each probability below.
            double rowMax = 0, rowSum = 1;
            if (link == OutputLink.Softmax)
            {
                rowMax = double.NegativeInfinity;
                foreach (float x in row) rowMax = Math.Max(rowMax, x);
                rowSum = 0;
                foreach (float x in row) rowSum += Math.Exp(x - rowMax);
            }
            for (int j = 0; j < width; j++)
            {
                float p = link switch
                {
                    OutputLink.Sigmoid => (float)(1.0 / (1.0 + Math.Exp(-(double)row[j]))),
                    OutputLink.Softmax => (float)(Math.Exp(row[j] - rowMax) / rowSum),
                    _ => row[j],
                };
                bool positive = labels.IsEmpty ? targets[i * width + j] != 0 : width == 1 ? labels[i] != 0 : labels[i] == j;
                (positive ? positives : negatives)[PositiveAt(p)] += w;
            }
        }
    }

    /// <summary>m: how many thresholds (the first m of <see cref="sortedThresholds"/>) the prediction is above.</summary>
    private int PositiveAt(float p)
    {
        if (float.IsNaN(p)) return 0;
        if (evenly)
        {
            // Keras' bucket: ceil(p·(T − 1)) − 1 on p clipped to [0, 1], relu'd (its thresholds carry −ε, so every p
            // is above the first), in float32; bucket j means above thresholds 0 … j.
            float clipped = Math.Clamp(p, 0f, 1f);
            float bucket = MathF.Ceiling(clipped * (float)(thresholds.Length - 1)) - 1f;
            return (int)Math.Max(bucket, 0f) + 1;
        }
        int m = 0;
        while (m < sortedThresholds.Length && p > sortedThresholds[m]) m++;
        return m;
    }

    /// <summary>Keras' metrics_utils.is_evenly_distributed_thresholds: ≥ 3 values, np.allclose to k/(n − 1) with atol ε (rtol 1e-5).</summary>
    private static bool IsEvenlyDistributed(double[] values)
    {
        int n = values.Length;
        if (n < 3) return false;
        for (int k = 0; k < n; k++)
        {
            double even = (float)k / (float)(n - 1);   // np.arange(n, dtype=float32) / (n − 1): float32
            if (!(Math.Abs(values[k] - even) <= Epsilon + 1e-5 * Math.Abs(even))) return false;
        }
        return true;
    }

    public double Result()
    {
        int count = thresholds.Length;
        double above = 0, aboveNegative = 0;
        for (int k = count - 1; k >= 0; k--)
        {
            above += positives[k + 1];
            aboveNegative += negatives[k + 1];
            sortedTp[k] = above;
            sortedFp[k] = aboveNegative;
        }
        double below = 0, belowNegative = 0;
        for (int k = 0; k < count; k++)
        {
            below += positives[k];
            belowNegative += negatives[k];
            sortedFn[k] = below;
            sortedTn[k] = belowNegative;
        }
        for (int k = 0; k < count; k++)
        {
            int s = rank[k];
            (tp[k], fp[k], fn[k], tn[k]) = (sortedTp[s], sortedFp[s], sortedFn[s], sortedTn[s]);
        }
        return kind switch
        {
            MetricKind.Precision => DivideNoNan(tp[0], tp[0] + fp[0]),
            MetricKind.Recall => DivideNoNan(tp[0], tp[0] + fn[0]),
            _ => precisionRecallCurve && !majoring && !minoring ? InterpolatedPrAuc() : RiemannAuc(),
        };
    }

    // AUC.result for ROC (x: false positive rate, y: recall) and for PR with minoring or majoring (x: recall, y:
    // precision): Σ_k (x_k − x_{k+1})·h_k, h_k the mean, min or max of y_k and y_{k+1}.
    private double RiemannAuc()
    {
        double area = 0;
        for (int k = 0; k + 1 < tp.Length; k++)
        {
            (double x0, double y0) = Point(k);
            (double x1, double y1) = Point(k + 1);
            double height = majoring ? Math.Max(y0, y1) : minoring ? Math.Min(y0, y1) : (y0 + y1) / 2;
            area += (x0 - x1) * height;
        }
        return area;
    }

    private (double X, double Y) Point(int k)
    {
        double recall = DivideNoNan(tp[k], tp[k] + fn[k]);
        return precisionRecallCurve
            ? (recall, DivideNoNan(tp[k], tp[k] + fp[k]))
            : (DivideNoNan(fp[k], fp[k] + tn[k]), recall);
    }

    // AUC.interpolate_pr_auc (Davis & Goadrich 2006, section 4, in Keras' closed form): between thresholds k and k + 1,
    // TP and P = TP + FP vary linearly, precision = (intercept + slope·P)/P, and the area is
    // slope·(ΔTP + intercept·ln(P_k / P_{k+1})) / (TP_{k+1} + FN_{k+1}).
    private double InterpolatedPrAuc()
    {
        double area = 0;
        for (int k = 0; k + 1 < tp.Length; k++)
        {
            double dtp = tp[k] - tp[k + 1];
            double p0 = tp[k] + fp[k], p1 = tp[k + 1] + fp[k + 1];
            double slope = DivideNoNan(dtp, Math.Max(p0 - p1, 0));
            double intercept = tp[k + 1] - slope * p1;
            double ratio = p0 > 0 && p1 > 0 ? DivideNoNan(p0, Math.Max(p1, 0)) : 1;
            area += DivideNoNan(slope * (dtp + intercept * Math.Log(ratio)), Math.Max(tp[k + 1] + fn[k + 1], 0));
        }
        return area;
    }

    /// <summary>Keras' ops.divide_no_nan: 0 where the denominator is 0.</summary>
    private static double DivideNoNan(double numerator, double denominator) => denominator == 0 ? 0 : numerator / denominator;
}
