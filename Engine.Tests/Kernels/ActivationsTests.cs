using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// <see cref="Activations"/> against scalar double formulas over awkward lengths and offset slices, with guards around
/// the output; backward passes must add into dx.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class ActivationsTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Lengths = [1, 3, 17, 100, 257];

    // Transcendentals of TensorPrimitives are accurate to a few ulps; allow 64 ulps of slack.
    private static double Ulps => 64 * TestArrays.Epsilon<T>();

    public enum Op { Sigmoid, Tanh, Relu }

    private static double Reference(Op op, double x) => op switch
    {
        Op.Sigmoid => NaiveKernels.Sigmoid(x),
        Op.Tanh => Math.Tanh(x),
        _ => NaiveKernels.Relu(x),
    };

    /// <summary>
    /// tanh keeps its relative accuracy near 0 and maps 0 to exactly 0 (TensorPrimitives.Tanh's float vector path does
    /// not: tanh(0) = −6e−8 and tanh(1e−5) is 0.5 % off, which seeded spurious drift in LayerNorm-in-cell LSTMs).
    /// </summary>
    [Test]
    public void Tanh_IsExactAtZero_AndKeepsRelativeAccuracyNearZero()
    {
        double[] values = [0, 1e-7, -1e-6, 1e-5, -3e-4, 1e-3, 0.01, -0.1, 0.62, 0.63, -2, 9, -30];
        foreach (int length in new[] { values.Length, 8, 3 })
        {
            T[] x = values.Take(length).Select(v => T.CreateTruncating(v)).ToArray(), y = new T[length];
            Activations.Tanh<T>(x, y);
            for (int j = 0; j < length; j++)
            {
                double input = double.CreateTruncating(x[j]), expected = Math.Tanh(input), actual = double.CreateTruncating(y[j]);
                if (input == 0) Assert.That(actual, Is.EqualTo(0.0), "tanh(0)");
                else Assert.That(actual, Is.EqualTo(expected).Within(4 * TestArrays.Epsilon<T>() * Math.Abs(expected)), $"tanh({input:R}), length {length}");
            }
        }
    }

    private static void Run(Op op, ReadOnlySpan<T> x, Span<T> y)
    {
        switch (op)
        {
            case Op.Sigmoid: Activations.Sigmoid(x, y); break;
            case Op.Tanh: Activations.Tanh(x, y); break;
            default: Activations.Relu(x, y); break;
        }
    }

    private static void RunBackward(Op op, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx)
    {
        switch (op)
        {
            case Op.Sigmoid: Activations.SigmoidBackward(y, dy, dx); break;
            case Op.Tanh: Activations.TanhBackward(y, dy, dx); break;
            default: Activations.ReluBackward(y, dy, dx); break;
        }
    }

    /// <summary>Derivative written in terms of the output y, as the backward kernels take it.</summary>
    private static double Derivative(Op op, double y) => op switch
    {
        Op.Sigmoid => y * (1 - y),
        Op.Tanh => 1 - y * y,
        _ => y > 0 ? 1 : 0,
    };

    [Test]
    public void Forward_MatchesScalarFormula_OnOffsetSlices([Values] Op op)
    {
        foreach (int length in Lengths)
            for (int offset = 1; offset <= 3; offset++)
            {
                // x spans [-12, 12]: saturating ends of sigmoid and tanh, plus both signs for relu.
                T[] x = TestArrays.Uniform<T>(length, length + offset, -12, 12);
                var buffer = new T[length + 2 * offset];
                buffer.AsSpan().Fill(TestArrays.Sentinel<T>());
                Run(op, x, buffer.AsSpan(offset, length));
                double[] expected = TestArrays.ToDouble<T>(x).Select(v => Reference(op, v)).ToArray();
                TestArrays.AssertClose<T>(buffer.AsSpan(offset, length), expected, [], Ulps, Ulps, $"{op} y (length {length})");
                TestArrays.AssertUntouched<T>(buffer.AsSpan(0, offset), "guard before y");
                TestArrays.AssertUntouched<T>(buffer.AsSpan(offset + length), "guard after y");
            }
    }

    [Test]
    public void Forward_InPlace_MatchesScalarFormula([Values] Op op)
    {
        T[] x = TestArrays.Uniform<T>(100, 7, -6, 6);
        double[] expected = TestArrays.ToDouble<T>(x).Select(v => Reference(op, v)).ToArray();
        Run(op, x, x);
        TestArrays.AssertClose<T>(x, expected, [], Ulps, Ulps, $"{op} in place");
    }

    [Test]
    public void Backward_AddsDerivativeTimesUpstreamGradient_ToDx([Values] Op op)
    {
        foreach (int length in Lengths)
        {
            T[] x = TestArrays.Uniform<T>(length, length, -4, 4);
            var y = new T[length];
            Run(op, x, y);
            T[] dy = TestArrays.Uniform<T>(length, length + 1);
            T[] dxStart = TestArrays.Uniform<T>(length, length + 2);
            T[] dx = (T[])dxStart.Clone();
            RunBackward(op, y, dy, dx);
            double[] expected = new double[length];
            for (int j = 0; j < length; j++)
                expected[j] = double.CreateTruncating(dxStart[j]) + double.CreateTruncating(dy[j]) * Derivative(op, double.CreateTruncating(y[j]));
            TestArrays.AssertClose<T>(dx, expected, [], 4 * TestArrays.Epsilon<T>(), 4 * TestArrays.Epsilon<T>(), $"{op} dx (length {length})");
        }
    }

    [Test]
    public void ReluBackward_AtZero_PassesNoGradient()
    {
        T[] y = [T.Zero, T.One], dy = [T.One, T.One], dx = [T.Zero, T.Zero];
        Activations.ReluBackward<T>(y, dy, dx);
        Assert.That(dx, Is.EqualTo(new[] { T.Zero, T.One }));
    }

    [TestCase(1, 1)]
    [TestCase(3, 17)]
    [TestCase(2, 100)]
    [TestCase(1, 257)]
    [TestCase(4, 3)]
    public void SoftmaxRows_MatchesShiftedExponentials_PerRow(int rows, int width)
    {
        // Large inputs: an unshifted exp would overflow in float.
        T[] x = TestArrays.Uniform<T>(rows * width, width, -20, 90);
        var buffer = new T[rows * width + 4];
        buffer.AsSpan().Fill(TestArrays.Sentinel<T>());
        Activations.SoftmaxRows<T>(x, buffer.AsSpan(2, rows * width), width);
        double[] expected = NaiveKernels.SoftmaxRows(TestArrays.ToDouble<T>(x), width);
        TestArrays.AssertClose<T>(buffer.AsSpan(2, rows * width), expected, [], Ulps + width * TestArrays.Epsilon<T>(), 1e-30, "softmax");
        TestArrays.AssertUntouched<T>(buffer.AsSpan(0, 2), "guard before y");
        TestArrays.AssertUntouched<T>(buffer.AsSpan(2 + rows * width), "guard after y");
    }

    [TestCase(1, 1)]
    [TestCase(3, 17)]
    [TestCase(2, 100)]
    [TestCase(4, 3)]
    public void SoftmaxRowsBackward_MatchesJacobianProduct_AndAccumulates(int rows, int width)
    {
        T[] x = TestArrays.Uniform<T>(rows * width, width + 1, -3, 3);
        var y = new T[x.Length];
        Activations.SoftmaxRows<T>(x, y, width);
        T[] dy = TestArrays.Uniform<T>(x.Length, width + 2);
        T[] dxStart = TestArrays.Uniform<T>(x.Length, width + 3);
        T[] dx = (T[])dxStart.Clone();
        Activations.SoftmaxRowsBackward<T>(y, dy, dx, width);
        double[] expected = NaiveKernels.SoftmaxRowsBackward(TestArrays.ToDouble<T>(y), TestArrays.ToDouble<T>(dy), width);
        for (int j = 0; j < expected.Length; j++) expected[j] += double.CreateTruncating(dxStart[j]);
        // The row dot product dy·y is a reduction: its error scales with the width (y sums to 1, |dy| ≤ 1).
        TestArrays.AssertClose<T>(dx, expected, [], 4 * TestArrays.Epsilon<T>(), (width + 8) * TestArrays.Epsilon<T>(), "dx");
    }
}
