namespace NumLstm.Kernels;

/// <summary>
/// Scalar double functions .NET lacks or computes loosely: erf and erfc (which .NET does not have), and e^x − 1 and
/// log(1 + x) accurate near 0 (double.ExpM1 and double.LogP1 are Exp(x) − 1 and Log(1 + x) as written, which lose x
/// below ε). A float caller computes in double and rounds once.
/// </summary>
internal static class SpecialFunctions
{
    /// <summary>erf(x) = 2/√π ∫₀ˣ e^(−t²) dt, to double accuracy (W. J. Cody's rational approximations, see <see cref="Erfc"/>).</summary>
    public static double Erf(double x)
    {
        double y = Math.Abs(x);
        if (!(y > ErfSmallThreshold)) return double.IsNaN(x) ? x : x * SmallRatio(y * y);
        double result = (0.5 - ErfcOfPositive(y)) + 0.5;
        return x < 0 ? -result : result;
    }

    /// <summary>
    /// erfc(x) = 1 − erf(x), without cancellation for large x: W. J. Cody, "Rational Chebyshev approximations for the
    /// error function", Math. Comp. 23 (1969) 631–637, as in his CALERF (netlib specfun): |x| ≤ 0.46875 by
    /// x·R(x²) for erf, |x| ≤ 4 by e^(−x²)·R(x), beyond by e^(−x²)/x·(1/√π − R(1/x²)/x²); e^(−x²) as
    /// e^(−s²)·e^(−(x − s)(x + s)) with s = x rounded down to 1/16, so x² carries no rounding into the exponent.
    /// Relative error below 1e−15 on either side (EngineTests: SpecialFunctionsTests against a series and a continued fraction).
    /// </summary>
    public static double Erfc(double x)
    {
        double y = Math.Abs(x);
        if (!(y > ErfSmallThreshold)) return double.IsNaN(x) ? x : 1 - x * SmallRatio(y * y);
        double result = ErfcOfPositive(y);
        return x < 0 ? 2 - result : result;
    }

    private const double ErfSmallThreshold = 0.46875;

    // erf(x)/x for |x| ≤ 0.46875 as a function of x².
    private static double SmallRatio(double ySquared)
    {
        ReadOnlySpan<double> a = [3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03, 1.85777706184603153e-1];
        ReadOnlySpan<double> b = [2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03];
        double numerator = a[4] * ySquared, denominator = ySquared;
        for (int k = 0; k < 3; k++) { numerator = (numerator + a[k]) * ySquared; denominator = (denominator + b[k]) * ySquared; }
        return (numerator + a[3]) / (denominator + b[3]);
    }

    // erfc(y) for y > 0.46875 (NaN passes through).
    private static double ErfcOfPositive(double y)
    {
        double result;
        if (y <= 4)
        {
            ReadOnlySpan<double> c = [5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
                8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8];
            ReadOnlySpan<double> d = [1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
                3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03];
            double numerator = c[8] * y, denominator = y;
            for (int k = 0; k < 7; k++) { numerator = (numerator + c[k]) * y; denominator = (denominator + d[k]) * y; }
            result = (numerator + c[7]) / (denominator + d[7]);
        }
        else
        {
            if (y >= 26.543) return 0;   // erfc underflows double beyond
            ReadOnlySpan<double> p = [3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
                6.58749161529837803e-4, 1.63153871373020978e-2];
            ReadOnlySpan<double> q = [2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
                2.33520497626869185e-3];
            double inverseSquare = 1 / (y * y), numerator = p[5] * inverseSquare, denominator = inverseSquare;
            for (int k = 0; k < 4; k++) { numerator = (numerator + p[k]) * inverseSquare; denominator = (denominator + q[k]) * inverseSquare; }
            result = inverseSquare * (numerator + p[4]) / (denominator + q[4]);
            result = (InverseSqrtPi - result) / y;
        }
        double s = Math.Truncate(y * 16) / 16, rest = (y - s) * (y + s);
        return Math.Exp(-s * s) * Math.Exp(-rest) * result;
    }

    internal const double InverseSqrtPi = 0.56418958354775628695;   // 1/√π

    /// <summary>e^x − 1, accurate near 0: with u = e^x rounded, (u − 1)·x/log(u) cancels the rounding of u (Kahan).</summary>
    public static double ExpM1(double x)
    {
        if (!(Math.Abs(x) < 0.5)) return Math.Exp(x) - 1;   // no cancellation to fear there; NaN passes through
        double u = Math.Exp(x);
        if (u == 1) return x;
        double um1 = u - 1;
        return um1 == -1 ? -1 : um1 * x / Math.Log(u);
    }

    /// <summary>log(1 + x), accurate near 0: with w = 1 + x rounded, log(w)·x/(w − 1) corrects the rounding of w (Goldberg, 1991, Theorem 4).</summary>
    public static double LogP1(double x)
    {
        double w = 1 + x;
        return w == 1 ? x : Math.Log(w) * x / (w - 1);
    }
}
