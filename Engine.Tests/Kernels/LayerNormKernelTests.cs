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

    private static double[] Add(T[] start, double[] increment)
    {
        double[] sum = TestArrays.ToDouble<T>(start);
        for (int j = 0; j < sum.Length; j++) sum[j] += increment[j];
        return sum;
    }

    private static double Max(double[] values) => values.Max(Math.Abs);
}
