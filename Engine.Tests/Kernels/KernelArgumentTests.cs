using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>Wrong sizes are rejected at the kernel entry with an ArgumentException that names the operand.</summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class KernelArgumentTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static void AssertRejects(string operand, TestDelegate call)
    {
        var exception = Assert.Throws<ArgumentException>(call);
        Assert.That(exception!.ParamName, Is.EqualTo(operand), exception.Message);
        Assert.That(exception.Message, Does.Contain(operand));
    }

    [Test]
    public void Multiply_RejectsTooShortOrBadlyStridedOperands_NamingThem()
    {
        // op(a) 2×3, op(b) 3×4, c 2×4.
        T[] a = new T[6], b = new T[12], c = new T[8];
        AssertRejects("a", () => Gemm.Multiply(Transpose.No, Transpose.No, 2, 4, 3, T.One, a.AsSpan(0, 5), 3, b, 4, T.Zero, c, 4));
        AssertRejects("a", () => Gemm.Multiply(Transpose.No, Transpose.No, 2, 4, 3, T.One, a, 2, b, 4, T.Zero, c, 4));
        AssertRejects("a", () => Gemm.Multiply(Transpose.Yes, Transpose.No, 2, 4, 3, T.One, a, 1, b, 4, T.Zero, c, 4));
        AssertRejects("b", () => Gemm.Multiply(Transpose.No, Transpose.No, 2, 4, 3, T.One, a, 3, b.AsSpan(0, 11), 4, T.Zero, c, 4));
        AssertRejects("b", () => Gemm.Multiply(Transpose.No, Transpose.Yes, 2, 4, 3, T.One, a, 3, b, 2, T.Zero, c, 4));
        AssertRejects("c", () => Gemm.Multiply(Transpose.No, Transpose.No, 2, 4, 3, T.One, a, 3, b, 4, T.Zero, c.AsSpan(0, 7), 4));
        AssertRejects("c", () => Gemm.Multiply(Transpose.No, Transpose.No, 2, 4, 3, T.One, a, 3, b, 4, T.Zero, c, 3));
    }

    [Test]
    public void Multiply_RejectsNegativeSizes()
        => Assert.Throws<ArgumentException>(() => Gemm.Multiply(Transpose.No, Transpose.No, -1, 1, 1, T.One, new T[1], 1, new T[1], 1, T.Zero, new T[1], 1));

    [Test]
    public void MultiplyVector_RejectsShortOperands_NamingThem()
    {
        T[] a = new T[6], x = new T[3], y = new T[2];
        AssertRejects("a", () => Gemm.MultiplyVector(Transpose.No, 2, 3, T.One, a.AsSpan(0, 5), 3, x, T.Zero, y));
        AssertRejects("x", () => Gemm.MultiplyVector(Transpose.No, 2, 3, T.One, a, 3, x.AsSpan(0, 2), T.Zero, y));
        AssertRejects("y", () => Gemm.MultiplyVector(Transpose.No, 2, 3, T.One, a, 3, x, T.Zero, y.AsSpan(0, 1)));
        AssertRejects("x", () => Gemm.MultiplyVector(Transpose.Yes, 2, 3, T.One, a, 3, x.AsSpan(0, 1), T.Zero, new T[3]));
        AssertRejects("y", () => Gemm.MultiplyVector(Transpose.Yes, 2, 3, T.One, a, 3, x, T.Zero, y));
    }

    [Test]
    public void LayerNormForward_RejectsMismatchedBuffers_NamingThem()
    {
        T eps = T.CreateTruncating(1e-5);
        T[] x = new T[6], y = new T[6], normalized = new T[6], stats = new T[2], w = new T[3];
        AssertRejects("x", () => LayerNormKernel.Forward<T>(x.AsSpan(0, 5), 3, eps, w, w, y, normalized, stats, stats));
        AssertRejects("gamma", () => LayerNormKernel.Forward<T>(x, 3, eps, new T[2], w, y, normalized, stats, stats));
        AssertRejects("beta", () => LayerNormKernel.Forward<T>(x, 3, eps, w, new T[4], y, normalized, stats, stats));
        AssertRejects("y", () => LayerNormKernel.Forward<T>(x, 3, eps, w, w, new T[5], normalized, stats, stats));
        AssertRejects("normalized", () => LayerNormKernel.Forward<T>(x, 3, eps, w, w, y, new T[7], stats, stats));
        AssertRejects("mean", () => LayerNormKernel.Forward<T>(x, 3, eps, w, w, y, normalized, new T[1], stats));
        AssertRejects("inverseStd", () => LayerNormKernel.Forward<T>(x, 3, eps, w, w, y, normalized, stats, new T[1]));
        AssertRejects("width", () => LayerNormKernel.Forward<T>(x, 0, eps, w, w, y, normalized, stats, stats));
    }

    [Test]
    public void LayerNormBackward_RejectsMismatchedBuffers_NamingThem()
    {
        T[] dy = new T[6], normalized = new T[6], dx = new T[6], stats = new T[2], w = new T[3], scratch = new T[3];
        AssertRejects("dy", () => LayerNormKernel.Backward<T>(dy.AsSpan(0, 4), normalized, stats, 3, w, dx, w, w, scratch));
        AssertRejects("normalized", () => LayerNormKernel.Backward<T>(dy, new T[3], stats, 3, w, dx, w, w, scratch));
        AssertRejects("dx", () => LayerNormKernel.Backward<T>(dy, normalized, stats, 3, w, new T[7], w, w, scratch));
        AssertRejects("inverseStd", () => LayerNormKernel.Backward<T>(dy, normalized, new T[1], 3, w, dx, w, w, scratch));
        AssertRejects("scratch", () => LayerNormKernel.Backward<T>(dy, normalized, stats, 3, w, dx, w, w, new T[2]));
        AssertRejects("dGamma", () => LayerNormKernel.Backward<T>(dy, normalized, stats, 3, w, dx, new T[2], w, scratch));
        AssertRejects("dBeta", () => LayerNormKernel.Backward<T>(dy, normalized, stats, 3, w, dx, w, new T[2], scratch));
        AssertRejects("gamma", () => LayerNormKernel.Backward<T>(dy, normalized, stats, 3, new T[4], dx, w, w, scratch));
    }

    [Test]
    public void Activations_RejectMismatchedLengths_NamingTheOperand()
    {
        T[] three = new T[3], two = new T[2];
        AssertRejects("y", () => Activations.Sigmoid<T>(three, two));
        AssertRejects("y", () => Activations.Tanh<T>(three, new T[4]));
        AssertRejects("y", () => Activations.Relu<T>(three, two));
        AssertRejects("y", () => Activations.SoftmaxRows<T>(three, two, 1));
        AssertRejects("width", () => Activations.SoftmaxRows<T>(three, three, 2));
        AssertRejects("dy", () => Activations.SigmoidBackward<T>(three, two, three));
        AssertRejects("dx", () => Activations.TanhBackward<T>(three, three, two));
        AssertRejects("dx", () => Activations.ReluBackward<T>(three, three, two));
        AssertRejects("dy", () => Activations.SoftmaxRowsBackward<T>(three, two, three, 3));
        AssertRejects("width", () => Activations.SoftmaxRowsBackward<T>(three, three, three, 2));
    }
}
