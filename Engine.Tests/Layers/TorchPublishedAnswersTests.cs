using NumLstm.Layers;

namespace NumLstm.Tests.Layers;

/// <summary>
/// PyTorch's own checks of nn.LayerNorm (test/test_nn.py, <c>_test_LayerNorm_general</c>), run through NumLstm's
/// LayerNorm at PyTorch's tolerance for float32 and float64 (1e-5). PyTorch builds the layer with eps=0, which NumLstm
/// refuses (a constant row would divide by 0); 1e-30 here is as good as 0 next to these rows' variances (about 8).
/// Its normalized_shape of several trailing axes is an option NumLstm does not have (the last axis only, as Keras'
/// default axis=-1), so the rows here are the last axis: 3 to 5 values, as PyTorch draws each dimension from [3, 6).
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class TorchPublishedAnswersTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [TestCase(3, 60)]
    [TestCase(4, 25)]
    [TestCase(5, 12)]
    public void LayerNorm_General_NormalizesToMeanZeroVarianceOne_ThenAppliesWeightAndBias(int features, int rows)
    {
        // x ~ U(0, 10); weight 1, bias 0: each row's mean 0 and biased variance 1, within 1e-5 (the mean of their
        // absolute values, as PyTorch compares). Then weight = scale, bias = bias from U(0.2, 2): mean bias, variance scale².
        var random = new Random(features);
        T[] x = Enumerable.Range(0, rows * features).Select(_ => T.CreateTruncating(10 * random.NextDouble())).ToArray();
        var norm = new LayerNorm<T>(epsilon: 1e-30);
        norm.Build(LayerShape.Vector(features), new Random(1));
        (double Mean, double Variance) Moments(double scale, double bias)
        {
            Array.Fill(norm.Gamma!.Value, T.CreateTruncating(scale));
            Array.Fill(norm.Beta!.Value, T.CreateTruncating(bias));
            var output = new T[x.Length];
            norm.Forward(new SequenceBatch<T>(x, rows, 1, default), output, norm.CreateCache(), ForwardContext.Inference);
            double meanOfMeans = 0, meanOfVariances = 0;
            for (int r = 0; r < rows; r++)
            {
                double[] row = output.AsSpan(r * features, features).ToArray().Select(v => double.CreateTruncating(v)).ToArray();
                double mean = row.Average();
                meanOfMeans += Math.Abs(mean) / rows;
                meanOfVariances += Math.Abs(row.Select(v => (v - mean) * (v - mean)).Average()) / rows;
            }
            return (meanOfMeans, meanOfVariances);
        }
        (double m0, double v0) = Moments(1, 0);
        Assert.That(m0, Is.EqualTo(0.0).Within(1e-5), "mean, weight 1 and bias 0");
        Assert.That(v0, Is.EqualTo(1.0).Within(1e-5), "variance, weight 1 and bias 0");
        double scale = 0.2 + 1.8 * random.NextDouble(), bias = 0.2 + 1.8 * random.NextDouble();
        (double m1, double v1) = Moments(scale, bias);
        Assert.That(m1, Is.EqualTo(bias).Within(1e-5), "mean, the bias");
        Assert.That(v1, Is.EqualTo(scale * scale).Within(1e-5), "variance, the scale squared");
    }
}
