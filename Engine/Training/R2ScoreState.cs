namespace NumLstm.Training;

/// <summary>
/// Keras 3's <c>R2Score</c> metric (keras/src/metrics/regression_metrics.py, adapted there from TF-Addons' RSquare) with its
/// defaults, <c>class_aggregation="uniform_average"</c> and <c>num_regressors=0</c>: per output column j, over every
/// sample i seen (weight wᵢ, 1 without weights)
/// <code>
///   S_j = Σ wᵢ·y_ij,  Q_j = Σ wᵢ·y_ij²,  R_j = Σ wᵢ·(y_ij − p_ij)²,  C_j = Σ wᵢ
///   total_j = Q_j − S_j·(S_j / C_j),  r_j = 1 − R_j / total_j  (0 where that is ±∞)
///   R² = mean over j of r_j
/// </code>
/// exactly Keras' update_state and result (a constant column, total 0, scores 0 when the residual is not 0 and NaN when
/// it is, as Keras' <c>where(isinf(raw), 0, raw)</c>). Not a mean of per-sample values, so it keeps these sums, in double
/// (Keras: float32 variables).
/// </summary>
internal sealed class R2ScoreState
{
    private readonly double[] sum, squaredSum, residual, count;

    public R2ScoreState(int width)
    {
        sum = new double[width];
        squaredSum = new double[width];
        residual = new double[width];
        count = new double[width];
    }

    /// <summary>Adds a batch: predictions and targets [B, width], weights [B] or empty for 1.</summary>
    public void Add(ReadOnlySpan<float> predictions, ReadOnlySpan<float> targets, ReadOnlySpan<float> weights)
    {
        int width = sum.Length, rows = predictions.Length / width;
        for (int i = 0; i < rows; i++)
        {
            double w = weights.IsEmpty ? 1.0 : weights[i];
            for (int j = 0; j < width; j++)
            {
                double y = targets[i * width + j], error = y - predictions[i * width + j];
                sum[j] += w * y;
                squaredSum[j] += y * (w * y);
                residual[j] += error * error * w;
                count[j] += w;
            }
        }
    }

    public double Result()
    {
        double scores = 0;
        for (int j = 0; j < sum.Length; j++)
        {
            double mean = sum[j] / count[j];
            double total = squaredSum[j] - sum[j] * mean;
            double raw = 1 - residual[j] / total;
            scores += double.IsInfinity(raw) ? 0 : raw;
        }
        return scores / sum.Length;
    }
}
