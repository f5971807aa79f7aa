namespace NumLstm.Benchmarks.Study;

/// <summary>
/// A placement against <c>none</c> in the same task, architecture, depth and learning rate, paired by seed: the same
/// seed starts both from the same recurrent weights, shuffling and dropout masks, so the per-seed difference removes
/// what the seed alone does. d_s = ±(metric of the placement − metric of <c>none</c>) for seed s, signed so that
/// positive is better (+ when higher is better). Over the n seeds both have: mean d̄, sample std s_d, the two-sided
/// 95 % confidence interval d̄ ± t(0.975, n − 1) · s_d / √n, the paired t statistic t = d̄ / (s_d / √n) and its two-sided
/// p-value P(|T| ≥ |t|), T Student's t with n − 1 degrees of freedom (p &lt; 0.05 exactly when the interval excludes 0).
/// </summary>
/// <remarks>
/// Runs are paired only by seeds present on both sides, with a finite final metric on both (the unpaired table's
/// mean and std likewise skip non-finite metrics); a diverged run counts with the metric of its last good weights,
/// as it does in the unpaired table.
/// <para>Multiple comparisons: <see cref="AgainstNone"/> adjusts the p-values by Holm's step-down method within each
/// family, the comparisons with one <c>none</c>: every placement against <c>none</c> in the same task, architecture, depth
/// and learning rate (so a task's placement section is one family, each depth of the depth sweep one, each rate of the
/// rate sweep one). Only comparisons with a p-value (two pairs or more) are members. Holm keeps the chance that any
/// member of a family is called different when none differs at most 5 %; families are not corrected against each
/// other.</para>
/// <para>Zero spread (every d_s equal, s_d = 0): the interval has zero width; t is ±∞ and p = 0 when d̄ ≠ 0 (the interval
/// excludes 0), t = 0 and p = 1 when d̄ = 0 (all ties). That is the test's limit, and it trusts n equal differences
/// fully: with a coarse metric (accuracy on a few hundred samples) n seeds can agree by chance.</para>
/// </remarks>
public sealed record PairedComparison
{
    public required string Task { get; init; }
    public required string Architecture { get; init; }
    public required int Depth { get; init; }
    public required double LearningRate { get; init; }
    public required string Placement { get; init; }
    public required string MetricName { get; init; }
    public required bool HigherIsBetter { get; init; }
    /// <summary>Seeds with a finite final metric on both sides.</summary>
    public required int Pairs { get; init; }
    /// <summary>Runs of either side left unpaired: their seed is missing on the other side, or one of the two metrics is not finite.</summary>
    public required int Unpaired { get; init; }
    /// <summary>Mean of d_s (positive: better than <c>none</c>); NaN without a pair.</summary>
    public required double MeanDifference { get; init; }
    /// <summary>Sample std of d_s (n − 1); NaN below two pairs.</summary>
    public required double StdDifference { get; init; }
    /// <summary>t(0.975, n − 1); NaN below two pairs.</summary>
    public required double TQuantile { get; init; }
    /// <summary>The 95 % confidence interval of the mean difference; NaN below two pairs (one pair gives no spread to build it from).</summary>
    public required double Low { get; init; }
    public required double High { get; init; }
    /// <summary>Seeds where the placement did strictly better than <c>none</c>; <see cref="Ties"/> where both were equal.</summary>
    public required int Wins { get; init; }
    public required int Ties { get; init; }
    /// <summary>d̄ / (s_d / √n); ±∞ when s_d = 0 and d̄ ≠ 0, 0 when both are 0; NaN below two pairs.</summary>
    public double TStatistic { get; init; } = double.NaN;
    /// <summary>Two-sided p-value of <see cref="TStatistic"/> with n − 1 degrees of freedom; NaN below two pairs.</summary>
    public double PValue { get; init; } = double.NaN;
    /// <summary>Comparisons with a p-value in this one's family (its group's placements against the same <c>none</c>);
    /// set by <see cref="AgainstNone"/>, 0 for a comparison outside any family (no p-value, or made by <see cref="Compare"/> alone).</summary>
    public int FamilySize { get; init; }
    /// <summary>Holm-adjusted p-value within the family; NaN outside one.</summary>
    public double HolmPValue { get; init; } = double.NaN;

    /// <summary>True when the Holm-adjusted p-value is at most <see cref="Alpha"/>: the separation survives the correction.</summary>
    public bool SurvivesHolm => HolmPValue <= Alpha;

    /// <summary>+1 when the interval lies above 0 (better than <c>none</c>), −1 below it (worse), 0 when it holds 0 or there is none.</summary>
    public int Sign => !(double.IsFinite(Low) && double.IsFinite(High)) ? 0 : Low > 0 ? 1 : High < 0 ? -1 : 0;

    /// <summary>better, worse, not told apart; "no CI (1 pair)" or "no pairs" where there is no interval.</summary>
    public string Verdict => Pairs == 0 ? "no pairs" : Pairs == 1 ? "no CI (1 pair)" : Sign > 0 ? "better" : Sign < 0 ? "worse" : "not told apart";

    public const double Confidence = 0.95;

    /// <summary>The family-wise error rate Holm's correction holds, 1 − <see cref="Confidence"/>.</summary>
    public const double Alpha = 1 - Confidence;

    /// <summary>Every placement against <c>none</c> of its group (task, architecture, depth, learning rate), in the results'
    /// order, with Holm-adjusted p-values within each group (the family).</summary>
    public static IReadOnlyList<PairedComparison> AgainstNone(IEnumerable<JobResult> results)
    {
        var list = new List<PairedComparison>();
        foreach (var group in results.GroupBy(r => (r.Task, r.Architecture, r.Depth, Rate: StudyOptions.Invariant(r.LearningRate))))
        {
            var none = group.Where(r => r.Placement == "none").ToList();
            if (none.Count == 0) continue;
            var family = group.Where(r => r.Placement != "none").GroupBy(r => r.Placement).Select(p => Compare(p.ToList(), none)).ToList();
            double[] holm = Holm(family.Select(c => c.PValue).ToList());
            int size = family.Count(c => !double.IsNaN(c.PValue));
            list.AddRange(family.Select((c, k) => double.IsNaN(c.PValue) ? c : c with { FamilySize = size, HolmPValue = holm[k] }));
        }
        return list;
    }

    /// <summary>
    /// Holm's step-down adjustment of the p-values of one family (Holm 1979): with the m p-values in ascending order
    /// p(1) ≤ … ≤ p(m), the adjusted p(k) = max over j ≤ k of min(1, (m − j + 1) · p(j)); a hypothesis is rejected at α
    /// when its adjusted p-value is at most α. NaN entries (no test) are not members: they stay NaN and do not count in m.
    /// Returned in the order given.
    /// </summary>
    public static double[] Holm(IReadOnlyList<double> pValues)
    {
        ArgumentNullException.ThrowIfNull(pValues);
        var order = Enumerable.Range(0, pValues.Count).Where(k => !double.IsNaN(pValues[k])).OrderBy(k => pValues[k]).ToList();
        foreach (int k in order)
            if (!(pValues[k] >= 0 && pValues[k] <= 1)) throw new ArgumentOutOfRangeException(nameof(pValues), pValues[k], "A p-value must lie in [0, 1].");
        var adjusted = Enumerable.Repeat(double.NaN, pValues.Count).ToArray();
        double running = 0;
        for (int j = 0; j < order.Count; j++)
        {
            running = Math.Max(running, Math.Min(1, (order.Count - j) * pValues[order[j]]));
            adjusted[order[j]] = running;
        }
        return adjusted;
    }

    /// <summary>One placement's runs against <c>none</c>'s runs of the same group.</summary>
    public static PairedComparison Compare(IReadOnlyList<JobResult> placement, IReadOnlyList<JobResult> none)
    {
        JobResult first = placement[0];
        double sign = first.HigherIsBetter ? 1 : -1;
        var noneBySeed = none.Where(r => double.IsFinite(r.FinalMetric)).ToDictionary(r => r.Seed);
        var differences = placement.Where(r => double.IsFinite(r.FinalMetric) && noneBySeed.ContainsKey(r.Seed))
            .OrderBy(r => r.Seed).Select(r => sign * (r.FinalMetric - noneBySeed[r.Seed].FinalMetric)).ToList();
        int n = differences.Count;
        double mean = n > 0 ? differences.Average() : double.NaN;
        double std = n > 1 ? Math.Sqrt(differences.Sum(d => (d - mean) * (d - mean)) / (n - 1)) : double.NaN;
        double t = n > 1 ? StudentT.Quantile(0.5 + Confidence / 2, n - 1) : double.NaN;
        double half = t * std / Math.Sqrt(n);
        // Zero spread: t = ±∞ (p = 0) unless every difference is 0 (t = 0, p = 1); see the remarks.
        double statistic = n < 2 ? double.NaN : std > 0 ? mean / (std / Math.Sqrt(n)) : mean == 0 ? 0 : Math.Sign(mean) * double.PositiveInfinity;
        return new PairedComparison
        {
            Task = first.Task, Architecture = first.Architecture, Depth = first.Depth, LearningRate = first.LearningRate, Placement = first.Placement,
            MetricName = first.MetricName, HigherIsBetter = first.HigherIsBetter,
            Pairs = n, Unpaired = placement.Count + none.Count - 2 * n,
            MeanDifference = mean, StdDifference = std, TQuantile = t, Low = mean - half, High = mean + half,
            Wins = differences.Count(d => d > 0), Ties = differences.Count(d => d == 0),
            TStatistic = statistic, PValue = n < 2 ? double.NaN : StudentT.TwoSidedP(statistic, n - 1),
        };
    }
}

/// <summary>Student's t distribution: its CDF through the regularized incomplete beta function, its quantile by bisection on the CDF.</summary>
public static class StudentT
{
    /// <summary>P(T ≤ t) for T with <paramref name="df"/> degrees of freedom: 1 − ½ I_{df/(df+t²)}(df/2, ½) for t ≥ 0, symmetric below.</summary>
    public static double Cdf(double t, double df)
    {
        if (!(df > 0)) throw new ArgumentOutOfRangeException(nameof(df), df, "Degrees of freedom must be positive.");
        if (double.IsNaN(t)) return double.NaN;
        if (double.IsInfinity(t)) return t > 0 ? 1 : 0;
        double tail = 0.5 * RegularizedIncompleteBeta(df / (df + t * t), 0.5 * df, 0.5);
        return t >= 0 ? 1 - tail : tail;
    }

    /// <summary>P(|T| ≥ |t|) for T with <paramref name="df"/> degrees of freedom: I_{df/(df+t²)}(df/2, ½), computed
    /// directly (not as 2·(1 − CDF)) so that small p-values keep their digits.</summary>
    public static double TwoSidedP(double t, double df)
    {
        if (!(df > 0)) throw new ArgumentOutOfRangeException(nameof(df), df, "Degrees of freedom must be positive.");
        if (double.IsNaN(t)) return double.NaN;
        if (double.IsInfinity(t)) return 0;
        return RegularizedIncompleteBeta(df / (df + t * t), 0.5 * df, 0.5);
    }

    /// <summary>The t with P(T ≤ t) = <paramref name="p"/>, to about 1e-12 relative: bisection, as the CDF is monotone.</summary>
    public static double Quantile(double p, double df)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "A probability in (0, 1) is needed.");
        if (!(df > 0)) throw new ArgumentOutOfRangeException(nameof(df), df, "Degrees of freedom must be positive.");
        if (p < 0.5) return -Quantile(1 - p, df);
        if (p == 0.5) return 0;
        double low = 0, high = 1;
        while (Cdf(high, df) < p) { low = high; high *= 2; }
        for (int k = 0; k < 200 && high - low > 1e-13 * high; k++)
        {
            double middle = 0.5 * (low + high);
            if (Cdf(middle, df) < p) low = middle; else high = middle;
        }
        return 0.5 * (low + high);
    }

    /// <summary>I_x(a, b) by its continued fraction (modified Lentz), taken on the side of x where it converges fast.</summary>
    internal static double RegularizedIncompleteBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        double front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        return x < (a + 1) / (a + b + 2) ? front * BetaFraction(x, a, b) / a : 1 - front * BetaFraction(1 - x, b, a) / b;
    }

    private static double BetaFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        d = 1 / (Math.Abs(d) < tiny ? tiny : d);
        double h = d;
        for (int m = 1; m <= 10_000; m++)
        {
            // The even step, then the odd step, of the continued fraction for I_x(a, b).
            double even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + even * d; d = 1 / (Math.Abs(d) < tiny ? tiny : d);
            c = 1 + even / c; c = Math.Abs(c) < tiny ? tiny : c;
            h *= d * c;
            double odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
            d = 1 + odd * d; d = 1 / (Math.Abs(d) < tiny ? tiny : d);
            c = 1 + odd / c; c = Math.Abs(c) < tiny ? tiny : c;
            double step = d * c;
            h *= step;
            if (Math.Abs(step - 1) < 1e-15) break;
        }
        return h;
    }

    /// <summary>ln Γ(x) for x &gt; 0 by the Lanczos approximation (g = 7, 9 terms; about 15 digits).</summary>
    internal static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1 - x);
        ReadOnlySpan<double> coefficients =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        x -= 1;
        double sum = coefficients[0];
        for (int k = 1; k < coefficients.Length; k++) sum += coefficients[k] / (x + k);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }
}
