using NumLstm.Benchmarks.Study;

namespace NumLstm.Tests.Study;

public class StudentTTests
{
    // Two-sided 95 % critical values t(0.975, df), df = 1..30, as printed in the usual tables (e.g. NIST/SEMATECH
    // e-Handbook of Statistical Methods, 1.3.6.7.2), to 3 decimals.
    private static readonly double[] Published975 =
    {
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    };

    [Test]
    public void Quantile975_MatchesThePublishedTable_ForDf1To30()
    {
        for (int df = 1; df <= 30; df++)
            Assert.That(StudentT.Quantile(0.975, df), Is.EqualTo(Published975[df - 1]).Within(0.0005), $"df {df}");
    }

    [TestCase(0.975, 40, 2.021)]
    [TestCase(0.975, 60, 2.000)]
    [TestCase(0.975, 120, 1.980)]
    [TestCase(0.975, 100_000, 1.960)]
    [TestCase(0.95, 9, 1.833)]
    [TestCase(0.995, 9, 3.250)]
    [TestCase(0.995, 1, 63.657)]
    [TestCase(0.025, 4, -2.776)]
    public void Quantile_MatchesPublishedValues_BeyondTheTable(double p, double df, double expected) =>
        Assert.That(StudentT.Quantile(p, df), Is.EqualTo(expected).Within(0.0005));

    [Test]
    public void Quantile_MatchesTheClosedForms_ForDf1And2()
    {
        // df 1 is the Cauchy distribution: t = tan(π (p − ½)); df 2: t = (2p − 1) / √(2 p (1 − p)).
        foreach (double p in new[] { 0.6, 0.9, 0.975, 0.995 })
        {
            Assert.That(StudentT.Quantile(p, 1), Is.EqualTo(Math.Tan(Math.PI * (p - 0.5))).Within(1e-9).Percent, $"df 1, p {p}");
            Assert.That(StudentT.Quantile(p, 2), Is.EqualTo((2 * p - 1) / Math.Sqrt(2 * p * (1 - p))).Within(1e-9).Percent, $"df 2, p {p}");
        }
    }

    // Two-sided p at the published 95 % critical values (the same table, 3 decimals): 0.05 to the table's rounding.
    [TestCase(2.228, 10)]
    [TestCase(4.303, 2)]
    [TestCase(12.706, 1)]
    [TestCase(2.042, 30)]
    public void TwoSidedP_IsFivePercent_AtThePublishedCriticalValues(double t, double df)
    {
        Assert.That(StudentT.TwoSidedP(t, df), Is.EqualTo(0.05).Within(0.0002));
        Assert.That(StudentT.TwoSidedP(-t, df), Is.EqualTo(StudentT.TwoSidedP(t, df)), "two-sided: the sign does not matter");
    }

    [TestCase(3.250, 9, 0.01)]     // t(0.995, 9)
    [TestCase(63.657, 1, 0.01)]    // t(0.995, 1)
    [TestCase(1.833, 9, 0.10)]     // t(0.95, 9)
    public void TwoSidedP_MatchesOtherPublishedCriticalValues(double t, double df, double expected) =>
        Assert.That(StudentT.TwoSidedP(t, df), Is.EqualTo(expected).Within(0.02 * expected));

    [Test]
    public void TwoSidedP_MatchesTheClosedForms_ForDf1And2_DownToSmallP()
    {
        // df 1: p = 1 − (2/π)·atan|t| = (2/π)·atan(1/|t|); df 2: p = 1 − |t|/√(t² + 2) = 2 / ((√(t² + 2) + |t|)·√(t² + 2)).
        foreach (double t in new[] { 0.1, 1, 2.5, 13, 100, 1e4 })
        {
            Assert.That(StudentT.TwoSidedP(t, 1), Is.EqualTo(2 / Math.PI * Math.Atan(1 / t)).Within(1e-10).Percent, $"df 1, t {t}");
            double root = Math.Sqrt(t * t + 2);
            Assert.That(StudentT.TwoSidedP(t, 2), Is.EqualTo(2 / ((root + t) * root)).Within(1e-10).Percent, $"df 2, t {t}");
        }
        Assert.That(StudentT.TwoSidedP(0, 5), Is.EqualTo(1));
        Assert.That(StudentT.TwoSidedP(double.PositiveInfinity, 5), Is.Zero);
        Assert.That(StudentT.TwoSidedP(double.NaN, 5), Is.NaN);
    }

    [Test]
    public void TwoSidedP_AgreesWithTheCdf()
    {
        foreach (double df in new[] { 1.0, 2, 7, 40 })
            foreach (double t in new[] { 0.3, 1.7, 4.2 })
                Assert.That(StudentT.TwoSidedP(t, df), Is.EqualTo(2 * (1 - StudentT.Cdf(t, df))).Within(1e-12), $"t {t}, df {df}");
    }

    [Test]
    public void Cdf_IsSymmetric_AndHalfAtZero()
    {
        Assert.That(StudentT.Cdf(0, 3), Is.EqualTo(0.5).Within(1e-15));
        Assert.That(StudentT.Cdf(-2.5, 7) + StudentT.Cdf(2.5, 7), Is.EqualTo(1).Within(1e-14));
        Assert.That(StudentT.Cdf(StudentT.Quantile(0.975, 9), 9), Is.EqualTo(0.975).Within(1e-12));
    }
}

/// <summary>
/// Paired per-seed differences against <c>none</c> on hand-made job results; every expected value is worked out by hand
/// in the comment above its test (dyadic metrics, so the differences are exact).
/// </summary>
public class PairedComparisonTests
{
    private const double T2 = 4.302652729911275;   // t(0.975, 2), published to this precision

    // Higher is better. none 0.5, 0.75, 0.625 over seeds 0..2 (std 0.125); the placement 1/16, 1/16, 5/64 above it on
    // the same seeds (std about 0.125 too), so the mean ± std intervals overlap widely. The differences are
    // 12/192, 12/192, 15/192: mean 13/192, deviations −1, −1, +2 (in 1/192), sample variance 3/192², std √3/192, and
    // the interval 13/192 ± t(0.975, 2) · (√3/192)/√3 = (13 ± t)/192 = [0.0453, 0.0901]: better. Seed 3 of none and
    // seed 4 of the placement have no partner; their extreme metrics would move everything if they were used.
    private static readonly (int Seed, double Metric)[] NoneA = { (0, 0.5), (1, 0.75), (2, 0.625), (3, 0.96875) };
    private static readonly (int Seed, double Metric)[] PlacementA = { (0, 0.5625), (1, 0.8125), (2, 0.703125), (4, 0.03125) };

    [Test]
    public void PairedDifferences_HigherIsBetter_WithUnmatchedSeeds_GiveTheHandComputedInterval()
    {
        PairedComparison c = PairedComparison.Compare(Runs("after-each", PlacementA), Runs("none", NoneA));

        Assert.That(c.Pairs, Is.EqualTo(3));
        Assert.That(c.Unpaired, Is.EqualTo(2));
        Assert.That(c.MeanDifference, Is.EqualTo(13.0 / 192).Within(1e-15));
        Assert.That(c.StdDifference, Is.EqualTo(Math.Sqrt(3) / 192).Within(1e-15));
        Assert.That(c.TQuantile, Is.EqualTo(T2).Within(1e-9));
        Assert.That(c.Low, Is.EqualTo((13 - T2) / 192).Within(1e-10));
        Assert.That(c.High, Is.EqualTo((13 + T2) / 192).Within(1e-10));
        Assert.That(c.Wins, Is.EqualTo(3));
        Assert.That(c.Ties, Is.Zero);
        Assert.That(c.Verdict, Is.EqualTo("better"));
        // t = (13/192) / ((√3/192)/√3) = 13 exactly; df 2: p = 1 − 13/√171.
        Assert.That(c.TStatistic, Is.EqualTo(13).Within(1e-12));
        Assert.That(c.PValue, Is.EqualTo(1 - 13 / Math.Sqrt(171)).Within(1e-12));
        Assert.That((c.FamilySize, c.HolmPValue), Is.EqualTo((0, double.NaN)), "Compare alone makes no family");
    }

    // The example of the task: p = 0.01, 0.04, 0.03, 0.005 (m = 4). Ascending: 0.005 × 4 = 0.02; 0.01 × 3 = 0.03;
    // 0.03 × 2 = 0.06; 0.04 × 1 = 0.04, raised to the running maximum 0.06. In the order given: 0.03, 0.06, 0.06, 0.02.
    [Test]
    public void Holm_OfTheWorkedExample()
    {
        double[] adjusted = PairedComparison.Holm(new[] { 0.01, 0.04, 0.03, 0.005 });
        Assert.That(adjusted, Is.EqualTo(new[] { 0.03, 0.06, 0.06, 0.02 }).Within(1e-15));
    }

    // A second example with a member left out: p = 0.02, 0.5, 0.001, (none), 0.04; m = 4. Ascending: 0.001 × 4 = 0.004;
    // 0.02 × 3 = 0.06; 0.04 × 2 = 0.08; 0.5 × 1 = 0.5. Capping: 0.4, 0.3 (m = 2): 0.3 × 2 = 0.6, 0.4 × 1 = 0.4 → 0.6;
    // 0.7, 0.6: 0.6 × 2 = 1.2 → 1, then 1.
    [Test]
    public void Holm_LeavesNonMembersOut_AndCapsAtOne()
    {
        Assert.That(PairedComparison.Holm(new[] { 0.02, 0.5, 0.001, double.NaN, 0.04 }), Is.EqualTo(new[] { 0.06, 0.5, 0.004, double.NaN, 0.08 }).Within(1e-15));
        Assert.That(PairedComparison.Holm(new[] { 0.4, 0.3 }), Is.EqualTo(new[] { 0.6, 0.6 }).Within(1e-15));
        Assert.That(PairedComparison.Holm(new[] { 0.7, 0.6 }), Is.EqualTo(new[] { 1.0, 1.0 }));
        Assert.That(PairedComparison.Holm(new[] { 0.03 }), Is.EqualTo(new[] { 0.03 }), "a family of one is not adjusted");
        Assert.That(PairedComparison.Holm(Array.Empty<double>()), Is.Empty);
        Assert.That(() => PairedComparison.Holm(new[] { 0.5, 1.5 }), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Holm_IsMonotone_NeverBelowTheRawP_AndBetweenBonferroniAndRaw()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            int m = 1 + random.Next(10);
            double[] p = Enumerable.Range(0, m).Select(_ => random.Next(4) == 0 ? random.NextDouble() * 0.01 : random.NextDouble()).ToArray();
            double[] adjusted = PairedComparison.Holm(p);
            for (int j = 0; j < m; j++)
            {
                Assert.That(adjusted[j], Is.GreaterThanOrEqualTo(p[j]).And.LessThanOrEqualTo(Math.Min(1, m * p[j])), "raw ≤ Holm ≤ Bonferroni");
                for (int k = 0; k < m; k++)
                    if (p[j] <= p[k]) Assert.That(adjusted[j], Is.LessThanOrEqualTo(adjusted[k]), "a smaller p never gets a larger adjusted p");
            }
            Assert.That(adjusted.Min(), Is.EqualTo(Math.Min(1, m * p.Min())).Within(1e-15), "the smallest is multiplied by m");
        }
    }

    [Test]
    public void ZeroSpread_IsPZero_WhenTheDifferencesAreEqualAndNonZero_AndPOne_WhenAllTie()
    {
        var none = Runs("none", new[] { (0, 0.5), (1, 0.625), (2, 0.75) });
        PairedComparison shifted = PairedComparison.Compare(Runs("after-each", new[] { (0, 0.5625), (1, 0.6875), (2, 0.8125) }), none);
        PairedComparison tied = PairedComparison.Compare(Runs("before-dense", new[] { (0, 0.5), (1, 0.625), (2, 0.75) }), none);

        Assert.That((shifted.StdDifference, shifted.TStatistic, shifted.PValue, shifted.Verdict), Is.EqualTo((0.0, double.PositiveInfinity, 0.0, "better")));
        Assert.That((tied.StdDifference, tied.TStatistic, tied.PValue, tied.Verdict), Is.EqualTo((0.0, 0.0, 1.0, "not told apart")));
    }

    // One family (task t, rate 3e-3): after-each t = 13 (p = 1 − 13/√171 = 0.005865), pre-norm differences 1, 2, 3 (/64):
    // mean 2/64, std 1/64, t = 2√3, p = 1 − 2√3/√14 = 0.0742; before-dense shifted by 1/16 on every seed (p = 0); and
    // in-cell:keras-gates with one pair (no p, not a member): m = 3. Ascending: 0 × 3 = 0; 0.005865 × 2 = 0.01173;
    // 0.0742 × 1. At rate 1e-2 after-each alone, t = 13: a family of one, unadjusted.
    [Test]
    public void AgainstNone_AdjustsWithinEachGroup_OverTheComparisonsWithAPValue()
    {
        var results = Runs("none", NoneA.Take(3)).Concat(Runs("after-each", PlacementA.Take(3)))
            .Concat(Runs("pre-norm", new[] { (0, 0.515625), (1, 0.78125), (2, 0.671875) }))
            .Concat(Runs("before-dense", new[] { (0, 0.5625), (1, 0.8125), (2, 0.6875) }))
            .Concat(Runs("in-cell:keras-gates", new[] { (0, 0.75) }))
            .Concat(Runs("none", NoneA.Take(3), rate: 1e-2)).Concat(Runs("after-each", PlacementA.Take(3), rate: 1e-2))
            .ToList();
        double p13 = 1 - 13 / Math.Sqrt(171), pPreNorm = 1 - 2 * Math.Sqrt(3) / Math.Sqrt(14);

        var comparisons = PairedComparison.AgainstNone(results).ToDictionary(c => (c.Placement, c.LearningRate));

        PairedComparison after = comparisons[("after-each", 3e-3)], pre = comparisons[("pre-norm", 3e-3)], dense = comparisons[("before-dense", 3e-3)];
        Assert.That(pre.PValue, Is.EqualTo(pPreNorm).Within(1e-12));
        Assert.That((after.FamilySize, pre.FamilySize, dense.FamilySize), Is.EqualTo((3, 3, 3)));
        Assert.That(dense.HolmPValue, Is.Zero);
        Assert.That(after.HolmPValue, Is.EqualTo(2 * p13).Within(1e-12));
        Assert.That(pre.HolmPValue, Is.EqualTo(pPreNorm).Within(1e-12));
        Assert.That((after.SurvivesHolm, pre.SurvivesHolm, dense.SurvivesHolm), Is.EqualTo((true, false, true)));
        PairedComparison onePair = comparisons[("in-cell:keras-gates", 3e-3)];
        Assert.That((onePair.PValue, onePair.FamilySize, onePair.HolmPValue, onePair.SurvivesHolm), Is.EqualTo((double.NaN, 0, double.NaN, false)));
        PairedComparison other = comparisons[("after-each", 1e-2)];
        Assert.That((other.FamilySize, other.HolmPValue), Is.EqualTo((1, other.PValue)));
        Assert.That(other.PValue, Is.EqualTo(p13).Within(1e-12));
    }

    [Test]
    public void UnpairedIntervalsOverlap_ButThePairedIntervalExcludesZero()
    {
        // The same runs as above through the unpaired screen: none 0.625 ± 0.125, the placement 0.6927 ± 0.125 overlap.
        var results = Runs("none", NoneA.Take(3)).Concat(Runs("after-each", PlacementA.Take(3))).ToList();
        IReadOnlyList<ConfigSummary> summaries = ConfigSummary.Summarize(results);
        ConfigSummary none = summaries.Single(s => s.Placement == "none"), placement = summaries.Single(s => s.Placement == "after-each");
        Assert.That(placement.Versus(none), Is.Zero, "the mean ± std screen cannot tell them apart");

        PairedComparison c = PairedComparison.AgainstNone(results).Single();
        Assert.That(c.Placement, Is.EqualTo("after-each"));
        Assert.That(c.Sign, Is.EqualTo(1));
        Assert.That(c.Low, Is.GreaterThan(0));
    }

    // Lower is better (an MAE). none 0.5, 0.25, 0.375; the placement 1/16, 1/16, 5/64 *higher*: the signed differences
    // are −12/192, −12/192, −15/192 and the interval (−13 ± t)/192 = [−0.0901, −0.0453]: worse, no seed won.
    [Test]
    public void LowerIsBetter_ALargerMetricIsANegativeDifference_AndWorse()
    {
        var none = Runs("none", new[] { (0, 0.5), (1, 0.25), (2, 0.375) }, higherIsBetter: false);
        var placement = Runs("pre-norm", new[] { (0, 0.5625), (1, 0.3125), (2, 0.453125) }, higherIsBetter: false);

        PairedComparison c = PairedComparison.Compare(placement, none);

        Assert.That(c.MeanDifference, Is.EqualTo(-13.0 / 192).Within(1e-15));
        Assert.That(c.Low, Is.EqualTo((-13 - T2) / 192).Within(1e-10));
        Assert.That(c.High, Is.EqualTo((-13 + T2) / 192).Within(1e-10));
        Assert.That(c.Wins, Is.Zero);
        Assert.That(c.Verdict, Is.EqualTo("worse"));
    }

    // Lower is better, differences 1/16, 2/16, 3/16 in the placement's favour: mean 1/8, std 1/16, half-width
    // t · (1/16)/√3 = 0.1553 > 1/8, so the interval [−0.0303, 0.2803] holds 0 although every seed won.
    [Test]
    public void EverySeedWins_ButTheIntervalHoldsZero_IsNotToldApart()
    {
        var none = Runs("none", new[] { (0, 0.5), (1, 0.5), (2, 0.5) }, higherIsBetter: false);
        var placement = Runs("before-dense", new[] { (0, 0.4375), (1, 0.375), (2, 0.3125) }, higherIsBetter: false);

        PairedComparison c = PairedComparison.Compare(placement, none);

        Assert.That(c.MeanDifference, Is.EqualTo(0.125).Within(1e-15));
        Assert.That(c.StdDifference, Is.EqualTo(0.0625).Within(1e-15));
        Assert.That(c.Low, Is.EqualTo(0.125 - T2 * 0.0625 / Math.Sqrt(3)).Within(1e-10));
        Assert.That(c.Wins, Is.EqualTo(3));
        Assert.That(c.Verdict, Is.EqualTo("not told apart"));
    }

    [Test]
    public void OnePair_GivesTheDifference_ButNoInterval()
    {
        // Seed 0 on both sides; seed 1 of the placement has no partner.
        var c = PairedComparison.Compare(Runs("after-each", new[] { (0, 0.75), (1, 0.5) }), Runs("none", new[] { (0, 0.5) }));

        Assert.That(c.Pairs, Is.EqualTo(1));
        Assert.That(c.Unpaired, Is.EqualTo(1));
        Assert.That(c.MeanDifference, Is.EqualTo(0.25));
        Assert.That(c.StdDifference, Is.NaN);
        Assert.That(c.Low, Is.NaN);
        Assert.That(c.High, Is.NaN);
        Assert.That(c.Sign, Is.Zero);
        Assert.That(c.Verdict, Is.EqualTo("no CI (1 pair)"));
    }

    [Test]
    public void NonFiniteMetric_LeavesItsSeedUnpaired_AndTiesAreCounted()
    {
        // Seed 1 of none has no finite metric: pairs are seeds 0 and 2, differences 0 and 1/4 (one tie, one win).
        var none = Runs("none", new[] { (0, 0.5), (1, double.NaN), (2, 0.5) });
        var placement = Runs("after-each", new[] { (0, 0.5), (1, 0.75), (2, 0.75) });

        PairedComparison c = PairedComparison.Compare(placement, none);

        Assert.That(c.Pairs, Is.EqualTo(2));
        Assert.That(c.Unpaired, Is.EqualTo(2));
        Assert.That(c.MeanDifference, Is.EqualTo(0.125));
        Assert.That(c.TQuantile, Is.EqualTo(Math.Tan(0.475 * Math.PI)).Within(1e-9), "df 1: 12.706");
        Assert.That((c.Wins, c.Ties), Is.EqualTo((1, 1)));
    }

    [Test]
    public void AgainstNone_PairsOnlyWithinTheSameTaskArchitectureDepthAndRate()
    {
        var results = Runs("none", new[] { (0, 0.5), (1, 0.625) }, rate: 1e-2)
            .Concat(Runs("after-each", new[] { (0, 0.75), (1, 0.875) }, rate: 3e-3))
            .Concat(Runs("none", new[] { (0, 0.5), (1, 0.625) }, rate: 3e-3, task: "u"))
            .ToList();
        Assert.That(PairedComparison.AgainstNone(results), Is.Empty);
    }

    private static List<JobResult> Runs(string placement, IEnumerable<(int Seed, double Metric)> runs, bool higherIsBetter = true, double rate = 3e-3, string task = "t") =>
        runs.Select(r => new JobResult
        {
            Id = $"{task}_seed2_{placement.Replace(':', '-')}_lr{rate}_s{r.Seed}", Task = task, Architecture = Architectures.Seed, Depth = 2, Placement = placement,
            LearningRate = rate, Seed = r.Seed, PlannedEpochs = 1, Units = new[] { 4, 4 }, Bidirectional = true, Dropout = 0.4, BatchSize = 32,
            MetricName = higherIsBetter ? "accuracy" : "MAE", HigherIsBetter = higherIsBetter, Target = 0.9, ParameterCount = 100,
            LayerNormCount = placement == "none" ? 0 : 2, History = new[] { new EpochResult(1, 0.5, r.Metric, 0.5, r.Metric, 1.0, 1.0, 0) },
            FinalValidationLoss = 0.5, FinalMetric = r.Metric, LossSpikes = 0, Diverged = false, MaxGradientNorm = 1.0, SecondsPerEpoch = 1.0,
            TotalSeconds = 1.0, ThreadsPerJob = 1,
        }).ToList();
}
