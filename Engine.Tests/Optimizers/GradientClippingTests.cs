using NumLstm.Optimizers;

namespace NumLstm.Tests.Optimizers;

[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class GradientClippingTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly double Tolerance = typeof(T) == typeof(float) ? 1e-6 : 1e-14;
    private static T C(double value) => T.CreateTruncating(value);
    private static double D(T value) => double.CreateTruncating(value);

    private static Parameter<T> WithGradient(string name, params double[] gradient)
    {
        var parameter = new Parameter<T>(name, gradient.Length);
        for (int k = 0; k < gradient.Length; k++) parameter.Gradient[k] = C(gradient[k]);
        return parameter;
    }

    private static void AssertGradient(double[] expected, Parameter<T> parameter)
    {
        for (int k = 0; k < expected.Length; k++)
            Assert.That(D(parameter.Gradient[k]), Is.EqualTo(expected[k]).Within(Tolerance * Math.Max(1, Math.Abs(expected[k]))), $"{parameter.Name}[{k}]");
    }

    [Test]
    public void GradientNorms_AndGlobalNorm_AreL2Norms()
    {
        Parameter<T>[] ps = [WithGradient("a", 3, 4), WithGradient("b", 0, 0, 12)];
        T[] norms = new T[2];
        GradientClipping.GradientNorms(ps, norms);
        Assert.That(norms.Select(D), Is.EqualTo(new[] { 5.0, 12.0 }));
        Assert.That(D(GradientClipping.GlobalNorm(ps)), Is.EqualTo(13.0));
        Assert.That(() => GradientClipping.GradientNorms(ps, new T[3]), Throws.ArgumentException.With.Message.Contain("(2), got 3"));
    }

    [Test]
    public void ClipByValue_ClampsEachElement_ReturnsPreClipNorm()
    {
        Parameter<T>[] ps = [WithGradient("a", 3, -4, 0.5), WithGradient("b", -0.25)];
        T total = GradientClipping.ClipByValue(ps, 1.0);
        Assert.That(D(total), Is.EqualTo(Math.Sqrt(9 + 16 + 0.25 + 0.0625)).Within(Tolerance * 5));
        AssertGradient([1, -1, 0.5], ps[0]);
        AssertGradient([-0.25], ps[1]);
    }

    [Test]
    public void ClipByNorm_ScalesEachTensorOnItsOwn()
    {
        Parameter<T>[] ps = [WithGradient("a", 3, 4), WithGradient("b", 0.3, 0.4)];
        T total = GradientClipping.ClipByNorm(ps, 1.0);
        Assert.That(D(total), Is.EqualTo(Math.Sqrt(25.25)).Within(Tolerance * 5));
        AssertGradient([0.6, 0.8], ps[0]);
        AssertGradient([0.3, 0.4], ps[1]); // norm 0.5 ≤ 1: untouched up to rounding
    }

    [Test]
    public void ClipByNorm_IsKerasClipByNorm_OperationForOperation()
    {
        // Keras: values * clip_norm / maximum(l2norm, clip_norm), applied to every tensor. Below the limit that is
        // (g·c)/c, which rounding can move off g; the expected values are that expression evaluated in T.
        double[] a = [0.1, -0.7, 0.3], b = [2.5, 1e-3];
        Parameter<T>[] ps = [WithGradient("a", a), WithGradient("b", b)];
        T c = C(0.9);
        GradientClipping.ClipByNorm(ps, 0.9);
        T normA = T.Sqrt(a.Select(v => C(v) * C(v)).Aggregate(T.Zero, (s, v) => s + v));
        T normB = T.Sqrt(b.Select(v => C(v) * C(v)).Aggregate(T.Zero, (s, v) => s + v));
        Assert.That(ps[0].Gradient, Is.EqualTo(a.Select(v => C(v) * c / T.Max(normA, c)).ToArray()));
        Assert.That(ps[1].Gradient, Is.EqualTo(b.Select(v => C(v) * c / T.Max(normB, c)).ToArray()));
    }

    [Test]
    public void ClipByGlobalNormKeras_ScalesByCTimesMinOfInverses_WithoutTheEpsilon()
    {
        Parameter<T>[] ps = [WithGradient("a", 3, 4), WithGradient("b", 0, 0, 12)];
        T total = GradientClipping.ClipByGlobalNormKeras(ps, 2.0);
        Assert.That(D(total), Is.EqualTo(13.0));
        T scale = C(2.0) * T.Min(T.One / C(13.0), T.One / C(2.0));
        Assert.That(ps[0].Gradient, Is.EqualTo(new[] { C(3) * scale, C(4) * scale }));
        Assert.That(ps[1].Gradient, Is.EqualTo(new[] { T.Zero, T.Zero, C(12) * scale }));
        Assert.That(D(GradientClipping.GlobalNorm(ps)), Is.EqualTo(2.0).Within(Tolerance * 4), "exactly c, not c − 1e-6·c/13 as PyTorch's");
        // Below the limit the scale is c·(1/c), which rounds to 1 or next to it; a non-finite norm makes it NaN.
        Parameter<T>[] small = [WithGradient("a", 0.3, -0.4)];
        GradientClipping.ClipByGlobalNormKeras(small, 3.0);
        T unit = C(3.0) * C(1.0 / 3.0);
        Assert.That(small[0].Gradient, Is.EqualTo(new[] { C(0.3) * unit, C(-0.4) * unit }));
        Parameter<T>[] infinite = [WithGradient("a", 1, double.PositiveInfinity)];
        GradientClipping.ClipByGlobalNormKeras(infinite, 1.0);
        Assert.That(infinite[0].Gradient.All(T.IsNaN), Is.True, "Keras: scale + (n − n) is NaN for n = ∞");
    }

    [Test]
    public void ClipByGlobalNormKeras_TakesOneOverCInPython_ThenInT()
    {
        // keras/src/optimizers/base_optimizer.py, clip_by_global_norm: clip_norm * ops.minimum(1.0 / use_norm, 1.0 / clip_norm).
        // 1.0 / clip_norm is a Python float (double), cast to the gradients' type by ops.minimum; 1/n is taken in T. Below
        // the limit the scale is T(c)·T(1/c): for c = 0.007 in float that is 1.0000001, where T(c)·(1/T(c)) is 0.99999994.
        Parameter<T>[] ps = [WithGradient("a", 1e-3, -2e-3)];
        T n = T.Sqrt(C(1e-3) * C(1e-3) + C(-2e-3) * C(-2e-3));
        T scale = C(0.007) * T.Min(T.One / n, C(1.0 / 0.007));
        GradientClipping.ClipByGlobalNormKeras(ps, 0.007);
        Assert.That(ps[0].Gradient, Is.EqualTo(new[] { C(1e-3) * scale, C(-2e-3) * scale }));
    }

    // Keras 3's published answers for its optimizers' clipping (keras/src/optimizers/optimizer_test.py: test_clip_norm,
    // test_clip_value, test_global_clip_norm; the same in sgd_test.py, adam_test.py, rmsprop_test.py, nadam_test.py), at
    // assertAllClose's default tolerance (1e-6 absolute and relative).
    [Test]
    public void KerasTestClipNorm_KnownAnswer()
    {
        // SGD(clipnorm=1), gradient [100, 100] → [√2/2, √2/2].
        Parameter<T>[] ps = [WithGradient("g", 100, 100)];
        GradientClipping.ClipByNorm(ps, 1);
        Assert.That(ps[0].Gradient.Select(D), Is.EqualTo(new[] { Math.Sqrt(2) / 2, Math.Sqrt(2) / 2 }).Within(1e-6 + 1e-6 * Math.Sqrt(2) / 2));
    }

    [Test]
    public void KerasTestClipValue_KnownAnswer()
    {
        // SGD(clipvalue=1), gradient [100, 100] → [1, 1].
        Parameter<T>[] ps = [WithGradient("g", 100, 100)];
        GradientClipping.ClipByValue(ps, 1);
        Assert.That(ps[0].Gradient.Select(D), Is.EqualTo(new[] { 1.0, 1.0 }));
    }

    [Test]
    public void KerasTestGlobalClipNorm_KnownAnswer()
    {
        // SGD(global_clipnorm=1), gradient [50, 100] → grad / np.linalg.norm(grad) = [1/√5, 2/√5].
        Parameter<T>[] ps = [WithGradient("g", 50, 100)];
        GradientClipping.ClipByGlobalNormKeras(ps, 1);
        double norm = Math.Sqrt(50 * 50 + 100 * 100);
        Assert.That(ps[0].Gradient.Select(D), Is.EqualTo(new[] { 50 / norm, 100 / norm }).Within(1e-6 + 1e-6 * 100 / norm));
    }

    [Test]
    public void ClipByGlobalNorm_ScalesAllByMaxNormOverTotalPlus1eMinus6()
    {
        Parameter<T>[] ps = [WithGradient("a", 3, 4), WithGradient("b", 0, 0, 12)];
        T total = GradientClipping.ClipByGlobalNorm(ps, 2.0);
        Assert.That(D(total), Is.EqualTo(13.0));
        double c = 2.0 / (13.0 + 1e-6);
        AssertGradient([3 * c, 4 * c], ps[0]);
        AssertGradient([0, 0, 12 * c], ps[1]);
        Assert.That(D(GradientClipping.GlobalNorm(ps)), Is.EqualTo(2.0).Within(1e-6));
    }

    [Test]
    public void ClipByGlobalNorm_BelowTheLimit_LeavesGradientsBitwiseUnchanged()
    {
        Parameter<T>[] ps = [WithGradient("a", 0.3, -0.4), WithGradient("b", 0.1)];
        T[] before = [.. ps[0].Gradient, .. ps[1].Gradient];
        T total = GradientClipping.ClipByGlobalNorm(ps, 1.0);
        Assert.That(D(total), Is.EqualTo(Math.Sqrt(0.26)).Within(Tolerance));
        Assert.That(new[] { ps[0].Gradient[0], ps[0].Gradient[1], ps[1].Gradient[0] }, Is.EqualTo(before));
    }

    [Test]
    public void ClipByGlobalNorm_NonFinite_ThrowsWhenAsked_AndLeavesGradients()
    {
        Parameter<T>[] ps = [WithGradient("a", 1, double.NaN)];
        Assert.That(() => GradientClipping.ClipByGlobalNorm(ps, 1.0, errorIfNonFinite: true),
            Throws.InvalidOperationException.With.Message.Contain("non-finite"));
        Assert.That(D(ps[0].Gradient[0]), Is.EqualTo(1.0));
    }

    [Test]
    public void ClipByGlobalNorm_NonFiniteTotal_IsAppliedAsPyTorchDoes_AndClipByValueKeepsNaN()
    {
        // torch clip_grad_norm_ (error_if_nonfinite=False): clip_coef = max_norm / (inf + 1e-6) = 0, clamped to ≤ 1 and
        // multiplied in: finite gradients become 0, infinite ones NaN (∞·0). A NaN total gives NaN everywhere.
        Parameter<T>[] infinite = [WithGradient("a", 2, double.PositiveInfinity), WithGradient("b", -3)];
        Assert.That(T.IsPositiveInfinity(GradientClipping.ClipByGlobalNorm(infinite, 1.0)), Is.True);
        Assert.That(D(infinite[0].Gradient[0]), Is.EqualTo(0.0));
        Assert.That(T.IsNaN(infinite[0].Gradient[1]), Is.True);
        Assert.That(D(infinite[1].Gradient[0]), Is.EqualTo(0.0));
        Parameter<T>[] nan = [WithGradient("a", 2, double.NaN)];
        GradientClipping.ClipByGlobalNorm(nan, 1.0);
        Assert.That(nan[0].Gradient.All(T.IsNaN), Is.True);
        // torch clip_grad_value_ (clamp) and Keras clipvalue (ops.clip) leave a NaN element NaN.
        Parameter<T>[] value = [WithGradient("a", double.NaN, 5, double.NegativeInfinity)];
        GradientClipping.ClipByValue(value, 1.0);
        Assert.That(T.IsNaN(value[0].Gradient[0]), Is.True);
        Assert.That(value[0].Gradient.Skip(1).Select(D), Is.EqualTo(new[] { 1.0, -1.0 }));
    }

    [Test]
    public void Clipping_RejectsNonPositiveLimits()
    {
        Parameter<T>[] ps = [WithGradient("a", 1)];
        Assert.That(() => GradientClipping.ClipByValue(ps, 0), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("clipValue 0"));
        Assert.That(() => GradientClipping.ClipByNorm(ps, -1), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("maxNorm -1"));
        Assert.That(() => GradientClipping.ClipByGlobalNorm(ps, double.NaN), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => GradientClipping.ClipByGlobalNormKeras(ps, 0), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("maxNorm 0"));
    }
}
