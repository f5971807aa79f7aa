using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// <see cref="LayerNormKernel"/> forward against the textbook formulas and backward against the chain rule through
/// the explicit Jacobian of x̂ (<see cref="NaiveKernels.LayerNormBackward"/>), with γ/β present and absent.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class LayerNormKernelTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const double Epsilon = 1e-5;

    private static double Tolerance(int width) => 16 * (width + 4) * TestArrays.Epsilon<T>();

    [TestCase(1, 1, true, true)]
    [TestCase(3, 17, true, true)]
    [TestCase(5, 100, false, false)]
    [TestCase(2, 257, true, false)]
    [TestCase(4, 3, false, true)]
    [TestCase(2, 800, true, true)]
    [TestCase(3, 23, true, true)]
    public void Forward_MatchesNaiveFormulas(int rows, int width, bool withGamma, bool withBeta)
    {
        T[] x = TestArrays.Uniform<T>(rows * width, 1, -3, 5);
        T[] gamma = withGamma ? TestArrays.Uniform<T>(width, 2, 0.5, 1.5) : [];
        T[] beta = withBeta ? TestArrays.Uniform<T>(width, 3) : [];
        var expected = NaiveKernels.LayerNormForward(TestArrays.ToDouble<T>(x), width, Epsilon,
            withGamma ? TestArrays.ToDouble<T>(gamma) : null, withBeta ? TestArrays.ToDouble<T>(beta) : null);
        T[] y = new T[x.Length], normalized = new T[x.Length], mean = new T[rows], inverseStd = new T[rows];

        LayerNormKernel.Forward<T>(x, width, T.CreateTruncating(Epsilon), gamma, beta, y, normalized, mean, inverseStd);

        // Errors relative to the row's scale: x̂ is O(1), γ, β are O(1).
        double tolerance = Tolerance(width);
        TestArrays.AssertClose<T>(mean, expected.Mean, [], tolerance, tolerance * 5, "mean");
        TestArrays.AssertClose<T>(inverseStd, expected.InverseStd, [], tolerance, 0, "inverseStd");
        TestArrays.AssertClose<T>(normalized, expected.Normalized, [], 0, tolerance * 4, "normalized");
        TestArrays.AssertClose<T>(y, expected.Y, [], 0, tolerance * 4, "y");
    }

    [Test]
    public void Forward_InPlace_GivesTheSameResultAsSeparateBuffers()
    {
        const int rows = 3, width = 17;
        T[] x = TestArrays.Uniform<T>(rows * width, 5), gamma = TestArrays.Uniform<T>(width, 6), beta = TestArrays.Uniform<T>(width, 7);
        var expected = NaiveKernels.LayerNormForward(TestArrays.ToDouble<T>(x), width, Epsilon, TestArrays.ToDouble<T>(gamma), TestArrays.ToDouble<T>(beta));
        T[] normalized = new T[x.Length], mean = new T[rows], inverseStd = new T[rows];
        LayerNormKernel.Forward<T>(x, width, T.CreateTruncating(Epsilon), gamma, beta, x, normalized, mean, inverseStd);
        TestArrays.AssertClose<T>(x, expected.Y, [], 0, Tolerance(width) * 4, "y (in place)");
    }

    [TestCase(1, 1, true, true)]
    [TestCase(3, 17, true, true)]
    [TestCase(5, 100, false, false)]
    [TestCase(2, 257, true, false)]
    [TestCase(4, 3, false, true)]
    [TestCase(2, 800, true, true)]
    [TestCase(3, 23, true, true)]
    public void Backward_MatchesChainRuleThroughTheJacobian_AndAccumulates(int rows, int width, bool withGamma, bool withBeta)
    {
        T[] x = TestArrays.Uniform<T>(rows * width, 11, -2, 3);
        T[] gamma = withGamma ? TestArrays.Uniform<T>(width, 12, 0.5, 1.5) : [];
        T[] dy = TestArrays.Uniform<T>(rows * width, 13);
        var expected = NaiveKernels.LayerNormBackward(TestArrays.ToDouble<T>(x), width, Epsilon, withGamma ? TestArrays.ToDouble<T>(gamma) : null, TestArrays.ToDouble<T>(dy));
        T[] y = new T[x.Length], normalized = new T[x.Length], mean = new T[rows], inverseStd = new T[rows];
        LayerNormKernel.Forward<T>(x, width, T.CreateTruncating(Epsilon), gamma, [], y, normalized, mean, inverseStd);

        // Gradients start non-zero: Backward must add to them.
        T[] dxStart = TestArrays.Uniform<T>(x.Length, 14), dGammaStart = TestArrays.Uniform<T>(width, 15), dBetaStart = TestArrays.Uniform<T>(width, 16);
        T[] dx = (T[])dxStart.Clone();
        T[] dGamma = withGamma ? (T[])dGammaStart.Clone() : [];
        T[] dBeta = withBeta ? (T[])dBetaStart.Clone() : [];
        LayerNormKernel.Backward<T>(dy, normalized, inverseStd, width, gamma, dx, dGamma, dBeta, new T[width]);

        // inverseStd is O(1) here (the rows have unit-order spread), so absolute tolerances fit.
        double tolerance = Tolerance(width) * 4;
        TestArrays.AssertClose<T>(dx, Add(dxStart, expected.Dx), [], 0, tolerance * (1 + Max(expected.Dx)), "dx");
        if (withGamma) TestArrays.AssertClose<T>(dGamma, Add(dGammaStart, expected.DGamma), [], 0, tolerance * rows, "dGamma");
        if (withBeta) TestArrays.AssertClose<T>(dBeta, Add(dBetaStart, expected.DBeta), [], 0, tolerance * rows, "dBeta");
    }

    // Rows far from zero: a common offset of 1e-3, 1 and 3 over T's epsilon (float: about 8.4e3, 8.4e6 and 2.5e7; double
    // 4.5e12, 4.5e15, 1.4e16) with a spread of 1e-3 of it, and rows of one value repeated. The float64 reference takes the
    // two-pass moments in double of the same T values, as PyTorch's layer_norm (Welford) and Keras' moments
    // (tf.nn.moments: mean, then the mean of squared differences) compute them. μ₀ = Σx/n alone was off by the rounding
    // of Σx: a constant row of 8.4e6 at width 4096 came out with x̂ = ±1 instead of 0.
    [TestCase(7, true, true)]
    [TestCase(100, true, true)]
    [TestCase(800, true, true)]
    [TestCase(4096, true, true)]
    [TestCase(4096, false, false)]
    [TestCase(257, true, false)]
    public void Forward_RowsFarFromZero_MatchTheTwoPassReference_AndConstantRowsGiveBeta(int width, bool withGamma, bool withBeta)
    {
        double[] offsets = [1e-3 / TestArrays.Epsilon<T>(), 1 / TestArrays.Epsilon<T>(), -3 / TestArrays.Epsilon<T>()];
        foreach (double offset in offsets)
        foreach (bool constant in new[] { false, true })
        {
            const int rows = 2;
            double[] noise = TestArrays.ToDouble<T>(TestArrays.Uniform<T>(rows * width, 21 + width));
            T[] x = new T[rows * width];
            for (int k = 0; k < x.Length; k++) x[k] = T.CreateTruncating(offset + (constant ? 0 : 1e-3 * Math.Abs(offset) * noise[k]));
            T[] gamma = withGamma ? TestArrays.Uniform<T>(width, 22, 0.5, 1.5) : [];
            T[] beta = withBeta ? TestArrays.Uniform<T>(width, 23) : [];
            var expected = NaiveKernels.LayerNormForward(TestArrays.ToDouble<T>(x), width, Epsilon,
                withGamma ? TestArrays.ToDouble<T>(gamma) : null, withBeta ? TestArrays.ToDouble<T>(beta) : null);
            T[] y = new T[x.Length], normalized = new T[x.Length], mean = new T[rows], inverseStd = new T[rows];

            LayerNormKernel.Forward<T>(x, width, T.CreateTruncating(Epsilon), gamma, beta, y, normalized, mean, inverseStd);

            string what = $"offset {offset:G3}, {(constant ? "constant rows" : "spread 1e-3 of it")}";
            if (constant)
            {
                // σ² = 0: x − μ = 0 exactly, so x̂ = 0 and y = β, as the double reference (and PyTorch) give.
                TestArrays.AssertClose<T>(normalized, expected.Normalized, [], 0, 0, $"x̂, {what}");
                TestArrays.AssertClose<T>(y, expected.Y, [], 0, 0, $"y, {what}");
                TestArrays.AssertClose<T>(inverseStd, expected.InverseStd, [], 1e-6, 0, $"ρ, {what}");
                continue;
            }
            // The rows' relative spread is 1e-3: a rounding of the offset's size is 1e3 times one of x̂'s.
            double tolerance = 1e3 * 32 * TestArrays.Epsilon<T>();
            TestArrays.AssertClose<T>(normalized, expected.Normalized, [], 0, tolerance, $"x̂, {what}");
            TestArrays.AssertClose<T>(y, expected.Y, [], 0, tolerance * 2, $"y, {what}");
            TestArrays.AssertClose<T>(inverseStd, expected.InverseStd, [], tolerance, 0, $"ρ, {what}");
        }
    }

    // (L4) at the rows above: x̂ and ρ from the forward pass feed the backward, which must match the chain rule through
    // the Jacobian of the double reference.
    [TestCase(100)]
    [TestCase(4096)]
    public void Backward_RowsFarFromZero_MatchesTheChainRuleOfTheDoubleReference(int width)
    {
        foreach (double offset in new[] { 1 / TestArrays.Epsilon<T>(), -3 / TestArrays.Epsilon<T>() })
        {
            const int rows = 2;
            double[] noise = TestArrays.ToDouble<T>(TestArrays.Uniform<T>(rows * width, 31 + width));
            T[] x = new T[rows * width];
            for (int k = 0; k < x.Length; k++) x[k] = T.CreateTruncating(offset + 1e-3 * Math.Abs(offset) * noise[k]);
            T[] gamma = TestArrays.Uniform<T>(width, 32, 0.5, 1.5), beta = TestArrays.Uniform<T>(width, 33), dy = TestArrays.Uniform<T>(rows * width, 34);
            var expected = NaiveKernels.LayerNormBackward(TestArrays.ToDouble<T>(x), width, Epsilon, TestArrays.ToDouble<T>(gamma), TestArrays.ToDouble<T>(dy));
            T[] y = new T[x.Length], normalized = new T[x.Length], mean = new T[rows], inverseStd = new T[rows];
            LayerNormKernel.Forward<T>(x, width, T.CreateTruncating(Epsilon), gamma, beta, y, normalized, mean, inverseStd);
            T[] dx = new T[x.Length], dGamma = new T[width], dBeta = new T[width];

            LayerNormKernel.Backward<T>(dy, normalized, inverseStd, width, gamma, dx, dGamma, dBeta, new T[width]);

            // dx scales with ρ ≈ 1/(1e-3·|offset|·0.58); compare relative to the largest |dx|.
            double tolerance = 1e3 * 64 * TestArrays.Epsilon<T>();
            TestArrays.AssertClose<T>(dx, expected.Dx, [], 0, tolerance * Max(expected.Dx), $"dx, offset {offset:G3}");
            TestArrays.AssertClose<T>(dGamma, expected.DGamma, [], 0, tolerance * rows, $"dγ, offset {offset:G3}");
        }
    }

    private static double[] Add(T[] start, double[] increment)
    {
        double[] sum = TestArrays.ToDouble<T>(start);
        for (int j = 0; j < sum.Length; j++) sum[j] += increment[j];
        return sum;
    }

    private static double Max(double[] values) => values.Max(Math.Abs);
}
