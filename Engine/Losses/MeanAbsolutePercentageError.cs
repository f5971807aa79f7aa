namespace NumLstm.Losses;

/// <summary>
/// Keras' mean absolute percentage error (<c>mean_absolute_percentage_error</c>, <c>mape</c>):
/// L = (100/N) Σ |y − p| / max(|y|, ε) over all N = B·K elements (each sample's mean over its K outputs, then the mean
/// over the batch), ε = 1e-7 rounded to T; dL/dp = 100·sign(p − y) / (max(|y|, ε)·N) with sign(0) = 0 (TensorFlow's
/// d|x|/dx at 0). A target of 0 divides by ε: each such element adds about 1e9·|p| to the sum, as in Keras.
/// </summary>
public sealed class MeanAbsolutePercentageError<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly double Epsilon = RegressionTerms.EpsilonOf<T>();

    public string Name => "mape";
    public LossTargetKind TargetKind => LossTargetKind.Values;

    T ILoss<T>.Forward(ReadOnlySpan<T> predictions, LossTargets<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckValues("MeanAbsolutePercentageError", targets);
        return Forward(predictions, targets.Values, predictionGradient);
    }

    /// <summary>predictions, targets, predictionGradient: [B, K]. Returns the mean loss; overwrites the gradient.</summary>
    public T Forward(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradient)
    {
        Loss.CheckElementwise("MeanAbsolutePercentageError", predictions, targets, predictionGradient);
        int n = predictions.Length;
        bool withGradient = !predictionGradient.IsEmpty;
        double inverseN = 1.0 / n;
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            double p = double.CreateTruncating(predictions[k]), y = double.CreateTruncating(targets[k]);
            sum += RegressionTerms.AbsolutePercentageError(p, y, Epsilon);                                         // (A1)
            if (withGradient)
                predictionGradient[k] = T.CreateTruncating(RegressionTerms.AbsolutePercentageErrorDerivative(p, y, Epsilon) * inverseN);   // (A2)
        }
        return T.CreateTruncating(sum / n);
    }
}
