using NumLstm.Layers;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Layers;

/// <summary>
/// The weight gradients taken as their transposes (Lstm.AddWeightGradient, 64 to 256 units or inputs) against the
/// same products taken as written, at the sizes the training workloads use: the same sums in another order, so equal
/// to float rounding. (The float64 gradient checks cover the transposed path for every cell option with the threshold
/// lowered: LstmGradientTests.)
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class LstmWeightGradientTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static List<T[]> Gradients(int f, int h, double dropout, double recurrentDropout, int minWidth)
    {
        const int batch = 8, time = 12;
        var lstm = new Lstm<T>(h, returnSequences: true, dropout: dropout, recurrentDropout: recurrentDropout) { TransposedGradientMinWidth = minWidth };
        lstm.Build(LayerShape.Sequence(f), new Random(4));
        T[] x = TestArrays.Uniform<T>(batch * time * f, 5), output = new T[lstm.OutputLength(batch, time)], dInput = new T[x.Length];
        var cache = lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(x, batch, time, default), output, cache, new ForwardContext(true, new Random(6)));
        lstm.Backward(TestArrays.Uniform<T>(output.Length, 7), cache, dInput);
        return lstm.Parameters.Select(p => p.Gradient.ToArray()).ToList();
    }

    [TestCase(32, 100, 0.0, 0.0)]    // the seed model's first layer: dU transposed, dW (32 inputs) as written
    [TestCase(200, 200, 0.0, 0.0)]   // its second layer: both transposed
    [TestCase(64, 64, 0.3, 0.3)]     // per input mask and per gate with dropout, at the threshold
    public void TransposedWeightGradients_EqualTheProductsAsWritten_ToRounding(int f, int h, double dropout, double recurrentDropout)
    {
        List<T[]> transposed = Gradients(f, h, dropout, recurrentDropout, minWidth: 64);
        List<T[]> asWritten = Gradients(f, h, dropout, recurrentDropout, minWidth: int.MaxValue);
        double tolerance = typeof(T) == typeof(float) ? 1e-5 : 1e-13;
        for (int k = 0; k < transposed.Count; k++)
        {
            double scale = asWritten[k].Max(v => Math.Abs(double.CreateTruncating(v)));
            Assert.That(scale, Is.GreaterThan(0), $"parameter {k} has a gradient");
            for (int j = 0; j < transposed[k].Length; j++)
            {
                double a = double.CreateTruncating(transposed[k][j]), b = double.CreateTruncating(asWritten[k][j]);
                if (!(Math.Abs(a - b) <= tolerance * scale))
                    Assert.Fail($"parameter {k}, element {j}: {a:R} transposed against {b:R} as written (tolerance {tolerance} × {scale:R})");
            }
        }
    }
}
