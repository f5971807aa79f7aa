using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// <see cref="SpecialFunctions"/>: erf and erfc against published values and against two oracles written here
/// independently of Cody's approximations (the Maclaurin series of erf for |x| ≤ 2 and Lentz's continued fraction of
/// erfc for x ≥ 2), and expm1 and log1p against their series near 0.
/// </summary>
public class SpecialFunctionsTests
{
    // Published values (Abramowitz and Stegun, table 7.1, and the brief's erf(0.5), erf(1), erf(2)).
    [TestCase(0.5, 0.5204998778130465)]
    [TestCase(1.0, 0.8427007929497149)]
    [TestCase(2.0, 0.9953222650189527)]
    [TestCase(-3.0, -0.9999779095030014)]
    [TestCase(0.1, 0.1124629160182849)]
    [TestCase(0.0, 0.0)]
    public void Erf_GivesPublishedValues(double x, double expected)
        => Assert.That(SpecialFunctions.Erf(x), Is.EqualTo(expected).Within(2e-16 + 2e-16 * Math.Abs(expected)));

    [TestCase(3.0, 2.209049699858544e-05)]
    [TestCase(5.0, 1.5374597944280349e-12)]
    [TestCase(10.0, 2.088487583762545e-45)]
    [TestCase(-1.0, 1.8427007929497148)]
    public void Erfc_GivesPublishedValues(double x, double expected)
        => Assert.That(SpecialFunctions.Erfc(x), Is.EqualTo(expected).Within(1e-15 * Math.Abs(expected)));

    [Test]
    public void ErfAndErfc_MatchIndependentOracles_ToDoubleAccuracy()
    {
        for (double x = -6; x <= 26.5; x += 0.01171875 * 1.37)   // beyond 26.543 erfc is subnormal, and Cody gives 0
        {
            // Below 2 the oracle of erfc is 1 − series, whose terms reach e^(x²) ≈ 50: it holds erfc to about 1e−15 absolute only;
            // above, its e^(−x²) carries the rounding of x² (x²·ε relative), which Cody's split of x² avoids.
            double erfc = OracleErfc(x), erf = 1 - erfc;
            if (Math.Abs(x) <= 2) { erf = SeriesErf(x); erfc = 1 - erf; }
            Assert.That(SpecialFunctions.Erfc(x), Is.EqualTo(erfc).Within((4e-15 + 2.3e-16 * x * x) * Math.Abs(erfc) + (Math.Abs(x) < 2 ? 2e-15 : 0)), $"erfc({x:R})");
            Assert.That(SpecialFunctions.Erf(x), Is.EqualTo(erf).Within(2e-15 * Math.Max(Math.Abs(erf), 1e-3)), $"erf({x:R})");
        }
        Assert.That(SpecialFunctions.Erf(-0.25), Is.EqualTo(-SpecialFunctions.Erf(0.25)), "odd");
        Assert.That(SpecialFunctions.Erfc(30), Is.Zero, "underflows to 0");
        Assert.That(SpecialFunctions.Erfc(-30), Is.EqualTo(2.0));
        Assert.That(SpecialFunctions.Erf(double.PositiveInfinity), Is.EqualTo(1.0));
        Assert.That(double.IsNaN(SpecialFunctions.Erf(double.NaN)) && double.IsNaN(SpecialFunctions.Erfc(double.NaN)), Is.True, "NaN passes through");
    }

    [Test]
    public void ExpM1AndLogP1_AreAccurateNearZero()
    {
        foreach (double x in new[] { 1e-300, -1e-12, 3e-9, -2.5e-5, 1e-3, -0.2, 0.49, -0.6, 3.0 })
        {
            double expm1 = Math.Abs(x) < 0.5 ? Series(x, n => 1.0 / Factorial(n)) : Math.Exp(x) - 1;
            double log1p = Math.Abs(x) < 0.5 ? Series(x, n => (n % 2 == 1 ? 1.0 : -1.0) / n) : Math.Log(1 + x);
            Assert.That(SpecialFunctions.ExpM1(x), Is.EqualTo(expm1).Within(6e-16 * Math.Abs(expm1)), $"expm1({x:R})");
            Assert.That(SpecialFunctions.LogP1(x), Is.EqualTo(log1p).Within(6e-16 * Math.Abs(log1p)), $"log1p({x:R})");
        }
    }

    // Σ_{n ≥ 1} c(n)·xⁿ, |x| < 0.5: 60 terms leave less than 2^−60 of the first.
    private static double Series(double x, Func<int, double> c)
    {
        double sum = 0, power = 1;
        for (int n = 1; n <= 60; n++) { power *= x; sum += c(n) * power; }
        return sum;
    }

    private static double Factorial(int n) { double f = 1; for (int k = 2; k <= n; k++) f *= k; return f; }

    /// <summary>erf(x) = 2/√π Σ (−1)ⁿ x^(2n+1) / (n!(2n+1)), summed until the terms stop counting (|x| ≤ 2: terms below 50).</summary>
    internal static double SeriesErf(double x)
    {
        double term = x, sum = x;   // term = (−1)ⁿ x^(2n+1)/n!
        for (int n = 1; n < 200; n++)
        {
            term *= -x * x / n;
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.Abs(add) < 1e-18 * Math.Abs(sum)) break;
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    /// <summary>erfc(x) for x ≥ 2 by the continued fraction e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) (Lentz);
    /// for x &lt; 2 as 1 − erf(x) from the series (for x ≤ −2, 2 − erfc(−x)).</summary>
    internal static double OracleErfc(double x)
    {
        if (x <= -2) return 2 - OracleErfc(-x);
        if (x < 2) return 1 - SeriesErf(x);
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int n = 1; n < 5000; n++)
        {
            double a = n / 2.0;
            d = x + a * d; d = Math.Abs(d) < tiny ? tiny : d; d = 1 / d;
            c = x + a / c; c = Math.Abs(c) < tiny ? tiny : c;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-17) break;
        }
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }
}
