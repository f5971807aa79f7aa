using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// Keras 3's initializers (<see cref="WeightInitializer"/>), checked against the formulas of keras/src/initializers/
/// random_initializers.py and constant_initializers.py, not against NumLstm's own output. Exact claims are exact (bounds,
/// truncation, constants, orthogonality, fans); statistical ones use 200,000 draws and a tolerance of 5 standard errors:
/// the sample mean's standard error is σ/√n, the sample standard deviation's σ·√((κ − 1)/(4n)) ≤ σ/√(2n) for the
/// kurtosis κ ≤ 3 of the normal, truncated normal (≈ 2.4) and uniform (1.8) draws here. A 5-SE miss has probability
/// under 10⁻⁶, and the draws are seeded, so a failure is a wrong formula (a wrong constant moves the stddev by 12 %,
/// hundreds of standard errors), not bad luck.
/// </summary>
public class WeightInitializerTests
{
    private const int Rows = 400, Cols = 500;   // a Keras kernel (fan_in 400, fan_out 500): 200,000 draws

    private static double[] Kernel(WeightInitializer initializer, int rows = Rows, int cols = Cols, int seed = 5)
    {
        var values = new double[rows * cols];
        initializer.FillKernel<double>(values, rows, cols, new Random(seed));
        return values;
    }

    private static (double Mean, double Std) Moments(IReadOnlyCollection<double> values)
    {
        double mean = values.Average();
        return (mean, Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)));
    }

    private static void AssertMoments(IReadOnlyCollection<double> values, double mean, double std, string what)
    {
        (double m, double s) = Moments(values);
        double n = values.Count;
        Assert.That(m, Is.EqualTo(mean).Within(5 * std / Math.Sqrt(n)), $"{what}: mean");
        Assert.That(s, Is.EqualTo(std).Within(5 * std / Math.Sqrt(2 * n)), $"{what}: stddev");
    }

    // (I1): n = fan_in 400, fan_out 500 or fan_avg 450; scale/n is the variance of every distribution.
    [TestCase(FanMode.FanIn, 400.0)]
    [TestCase(FanMode.FanOut, 500.0)]
    [TestCase(FanMode.FanAvg, 450.0)]
    public void VarianceScaling_Uniform_IsWithinSqrt3ScaleOverN_WithVarianceScaleOverN(FanMode mode, double n)
    {
        double[] values = Kernel(WeightInitializer.VarianceScaling(2.5, mode, InitializerDistribution.Uniform));
        double limit = Math.Sqrt(3 * 2.5 / n);
        Assert.That(values.Min(), Is.GreaterThanOrEqualTo(-limit));
        Assert.That(values.Max(), Is.LessThan(limit));
        // 200,000 uniform draws all inside 0.999·limit on one side: probability 0.9995^200000 ≈ e⁻¹⁰⁰.
        Assert.That(values.Max(), Is.GreaterThan(0.999 * limit), "the limit is reached, not a narrower one");
        AssertMoments(values, 0, Math.Sqrt(2.5 / n), "uniform");
    }

    [TestCase(FanMode.FanIn, 400.0)]
    [TestCase(FanMode.FanOut, 500.0)]
    [TestCase(FanMode.FanAvg, 450.0)]
    public void VarianceScaling_TruncatedNormal_IsCutAt2Sigma_WithVarianceScaleOverN(FanMode mode, double n)
    {
        double[] values = Kernel(WeightInitializer.VarianceScaling(2.5, mode, InitializerDistribution.TruncatedNormal));
        // Keras: σ = √(scale/n)/0.87962566103423978, values beyond 2σ redrawn; the result's stddev is √(scale/n).
        double sigma = Math.Sqrt(2.5 / n) / 0.87962566103423978;
        Assert.That(values.Max(v => Math.Abs(v)), Is.LessThanOrEqualTo(2 * sigma), "never beyond 2σ");
        // P(|z| in [1.99, 2]) ≈ 1.1e-3 a draw: about 230 of 200,000 land there; none would be a cut below 1.99σ.
        Assert.That(values.Max(v => Math.Abs(v)), Is.GreaterThan(1.99 * sigma), "cut at 2σ, not before");
        AssertMoments(values, 0, Math.Sqrt(2.5 / n), "truncated normal");
    }

    [Test]
    public void VarianceScaling_UntruncatedNormal_HasStddevSqrtScaleOverN_AndIsNotCut()
    {
        double[] values = Kernel(WeightInitializer.VarianceScaling(0.5, FanMode.FanIn, InitializerDistribution.UntruncatedNormal));
        double std = Math.Sqrt(0.5 / Rows);
        AssertMoments(values, 0, std, "untruncated normal");
        // About 9,000 of 200,000 standard normal draws are beyond 2σ; 3σ is passed too (about 540).
        Assert.That(values.Max(v => Math.Abs(v)), Is.GreaterThan(3 * std));
    }

    // The presets' (scale, mode, distribution), from random_initializers.py's constructors.
    [TestCase(InitializerKind.GlorotUniform, 1.0, 450.0, true)]
    [TestCase(InitializerKind.GlorotNormal, 1.0, 450.0, false)]
    [TestCase(InitializerKind.HeUniform, 2.0, 400.0, true)]
    [TestCase(InitializerKind.HeNormal, 2.0, 400.0, false)]
    [TestCase(InitializerKind.LecunUniform, 1.0, 400.0, true)]
    [TestCase(InitializerKind.LecunNormal, 1.0, 400.0, false)]
    public void Presets_AreKerasVarianceScaling(InitializerKind kind, double scale, double n, bool uniform)
    {
        double[] values = Kernel(new WeightInitializer(kind));
        double bound = uniform ? Math.Sqrt(3 * scale / n) : 2 * Math.Sqrt(scale / n) / WeightInitializer.TruncatedNormalStddev;
        Assert.That(values.Max(v => Math.Abs(v)), Is.LessThanOrEqualTo(bound).And.GreaterThan(0.99 * bound));
        AssertMoments(values, 0, Math.Sqrt(scale / n), kind.ToString());
    }

    [Test]
    public void GlorotUniform_IsTheDrawGlorotUniformAlwaysMade_BitForBit()
    {
        // Initializers.GlorotUniform was U(−l, l), l = √(6/(fan_in + fan_out)), as (u·2 − 1)·l: the same values from the same seed.
        var random = new Random(9);
        double limit = Math.Sqrt(6.0 / (Rows + Cols));
        double[] expected = Enumerable.Range(0, Rows * Cols).Select(_ => (random.NextDouble() * 2 - 1) * limit).ToArray();
        Assert.That(Kernel(WeightInitializer.GlorotUniform(), seed: 9), Is.EqualTo(expected));
    }

    [Test]
    public void RandomNormal_HasItsMeanAndStddev_Untruncated()
    {
        double[] values = Kernel(WeightInitializer.RandomNormal(0.3, 0.2));
        AssertMoments(values, 0.3, 0.2, "normal");
        Assert.That(values.Max(), Is.GreaterThan(0.3 + 3 * 0.2));
    }

    [Test]
    public void TruncatedNormal_StaysWithin2Stddev_OfTheMean()
    {
        double[] values = Kernel(WeightInitializer.TruncatedNormal(0.3, 0.2));
        Assert.That(values.Min(), Is.GreaterThanOrEqualTo(0.3 - 2 * 0.2));
        Assert.That(values.Max(), Is.LessThanOrEqualTo(0.3 + 2 * 0.2).And.GreaterThan(0.3 + 1.99 * 0.2));
        // The stddev given is the untruncated one: the draws' is 0.2·0.8796.
        AssertMoments(values, 0.3, 0.2 * WeightInitializer.TruncatedNormalStddev, "truncated normal");
    }

    [Test]
    public void TruncatedNormal_InFloat_NeverPassesTheBoundRoundedToFloat()
    {
        var values = new float[Rows * Cols];
        WeightInitializer.TruncatedNormal(0.3, 0.2).FillKernel<float>(values, Rows, Cols, new Random(5));
        Assert.That(values.Min(), Is.GreaterThanOrEqualTo((float)(0.3 - 2 * 0.2)));
        Assert.That(values.Max(), Is.LessThanOrEqualTo((float)(0.3 + 2 * 0.2)));
    }

    [Test]
    public void RandomUniform_IsInMinvalMaxval_WithItsMoments()
    {
        double[] values = Kernel(WeightInitializer.RandomUniform(-0.1, 0.3));
        Assert.That(values.Min(), Is.GreaterThanOrEqualTo(-0.1).And.LessThan(-0.0996));
        Assert.That(values.Max(), Is.LessThan(0.3).And.GreaterThan(0.2996));
        AssertMoments(values, 0.1, 0.4 / Math.Sqrt(12), "uniform");
    }

    [Test]
    public void ZerosOnesAndConstant_AreExact_InFloatAndDouble()
    {
        foreach ((WeightInitializer initializer, double value) in new[] { (WeightInitializer.Zeros(), 0.0), (WeightInitializer.Ones(), 1.0), (WeightInitializer.Constant(0.1), 0.1) })
        {
            var single = Enumerable.Repeat(7f, 12).ToArray();
            initializer.FillKernel<float>(single, 3, 4, new Random(1));
            Assert.That(single, Is.All.EqualTo((float)value), initializer.ToString());
            var vector = Enumerable.Repeat(7.0, 5).ToArray();
            initializer.FillVector<double>(vector, new Random(1));
            Assert.That(vector, Is.All.EqualTo(value), initializer.ToString());
        }
    }

    [TestCase(6, 20, 2.0)]    // an LSTM kernel (F, 4H), rows < cols: Keras' K has orthogonal rows
    [TestCase(40, 10, 0.5)]   // rows > cols: orthogonal columns
    [TestCase(8, 8, -1.5)]
    public void Orthogonal_WithGain_IsGainTimesAnOrthogonalMatrix(int rows, int cols, double gain)
    {
        double[] stored = Kernel(WeightInitializer.Orthogonal(gain), rows, cols);
        double K(int r, int c) => stored[c * rows + r];   // stored [cols, rows] = Kᵀ
        // Keras: the narrow Gram matrix of K (K·Kᵀ when rows < cols, else Kᵀ·K) is gain²·I.
        int narrow = Math.Min(rows, cols), tall = Math.Max(rows, cols);
        for (int i = 0; i < narrow; i++)
            for (int j = 0; j < narrow; j++)
            {
                double dot = 0;
                for (int t = 0; t < tall; t++) dot += rows < cols ? K(i, t) * K(j, t) : K(t, i) * K(t, j);
                Assert.That(dot, Is.EqualTo(i == j ? gain * gain : 0).Within(1e-12), $"({i}, {j})");
            }
        // Gain 1 is the recurrent kernel's draw of old, value for value.
        var plain = new double[rows * cols];
        Initializers.OrthogonalTransposed<double>(plain, rows, cols, new Random(5));
        Assert.That(stored, Is.EqualTo(plain.Select(v => gain * v).ToArray()));
    }

    [Test]
    public void Identity_IsGainTimesEye_OfKerasKernel_NonSquareToo()
    {
        // Keras: gain·ops.eye(3, 5) for a (3, 5) kernel; stored [5, 3], element [c, r] = K[r, c].
        double[] stored = Kernel(WeightInitializer.Identity(0.5), 3, 5);
        for (int c = 0; c < 5; c++)
            for (int r = 0; r < 3; r++)
                Assert.That(stored[c * 3 + r], Is.EqualTo(r == c ? 0.5 : 0.0), $"K[{r}, {c}]");
    }

    [Test]
    public void OrthogonalAndIdentity_RefuseA1DWeight_AsKerasRaises()
    {
        Assert.Throws<ArgumentException>(() => WeightInitializer.Orthogonal().FillVector<float>(new float[4], new Random(1)));
        Assert.Throws<ArgumentException>(() => new Dense<float>(3) { BiasInitializer = WeightInitializer.Identity() });
        Assert.Throws<ArgumentException>(() => new Lstm<float>(3) { BiasInitializer = WeightInitializer.Orthogonal() });
        Assert.Throws<ArgumentException>(() => new LayerNorm<float>() { GammaInitializer = WeightInitializer.Identity() });
    }

    [Test]
    public void InvalidValues_AreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInitializer.VarianceScaling(0));                 // Keras raises
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInitializer.VarianceScaling(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInitializer.VarianceScaling(1, (FanMode)7));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInitializer.RandomNormal(0, -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInitializer.RandomUniform(0.2, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInitializer.Constant(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInitializer.Constant(1e39));                     // infinite in float
        Assert.Throws<ArgumentException>(() => new WeightInitializer(InitializerKind.HeNormal, gain: 2));       // a value the kind does not take
        Assert.That(WeightInitializer.RandomUniform(0.1, 0.1).ToString(), Is.EqualTo("RandomUniform(minval=0.1, maxval=0.1)"));
    }

    // ---------------------------------------------------------------------------------------------- fans per layer

    // A VarianceScaling(1, mode, uniform) kernel's largest |value| is just under √(3/n): n tells which fan was used.
    private static double Largest(Parameter<float> p, int from = 0, int count = -1)
        => p.Value.Skip(from).Take(count < 0 ? p.Value.Length - from : count).Max(v => Math.Abs((double)v));

    [Test]
    public void Lstm_Fans_AreKeras_ForTheKernelAndTheRecurrentKernel_NotSwappedByTheStorage()
    {
        const int features = 300, units = 50;   // kernel (300, 200), recurrent kernel (50, 200): stored [200, 300] and [200, 50]
        foreach ((FanMode mode, double kernelN, double recurrentN) in new[] { (FanMode.FanIn, 300.0, 50.0), (FanMode.FanOut, 200.0, 200.0), (FanMode.FanAvg, 250.0, 125.0) })
        {
            var fill = WeightInitializer.VarianceScaling(1, mode, InitializerDistribution.Uniform);
            Sequential<float> model = ModelBuilder.Input(features).Lstm(units, kernelInitializer: fill, recurrentInitializer: fill).Build<float>(seed: 3);
            var lstm = (Lstm<float>)model.Layers[0];
            Assert.That(Largest(lstm.WeightIh), Is.LessThan(Math.Sqrt(3 / kernelN)).And.GreaterThan(0.99 * Math.Sqrt(3 / kernelN)), $"kernel, {mode}");
            Assert.That(Largest(lstm.WeightHh), Is.LessThan(Math.Sqrt(3 / recurrentN)).And.GreaterThan(0.98 * Math.Sqrt(3 / recurrentN)), $"recurrent kernel, {mode}");
        }
    }

    [Test]
    public void Dense_Fans_AreKeras_FanInIsTheInputs()
    {
        // Keras kernel (F = 300, units = 100), stored [100, 300].
        foreach ((FanMode mode, double n) in new[] { (FanMode.FanIn, 300.0), (FanMode.FanOut, 100.0) })
        {
            Sequential<float> model = ModelBuilder.Input(300)
                .Dense(100, kernelInitializer: WeightInitializer.VarianceScaling(1, mode, InitializerDistribution.Uniform)).Build<float>(seed: 3);
            var dense = (Dense<float>)model.Layers[0];
            Assert.That(Largest(dense.Weight), Is.LessThan(Math.Sqrt(3 / n)).And.GreaterThan(0.99 * Math.Sqrt(3 / n)), mode.ToString());
        }
    }

    [Test]
    public void Lstm_UnitForgetBias_ComposesTheBias_AsKerasLstmCellBuild()
    {
        const int h = 500;
        var constant = WeightInitializer.Constant(0.1);
        Lstm<float> With(bool unitForgetBias, WeightInitializer bias) => (Lstm<float>)ModelBuilder.Input(1)
            .Lstm(h, recurrentInitializer: WeightInitializer.Zeros(), biasInitializer: bias, unitForgetBias: unitForgetBias).Build<float>(seed: 2).Layers[0];

        // concatenate(bias_init((H,)), ones((H,)), bias_init((2H,))) ...
        float[] composed = With(true, constant).Bias.Value;
        Assert.That(composed.Take(h), Is.All.EqualTo(0.1f));
        Assert.That(composed.Skip(h).Take(h), Is.All.EqualTo(1f));
        Assert.That(composed.Skip(2 * h), Is.All.EqualTo(0.1f));
        // ... or bias_init((4H,)).
        Assert.That(With(false, constant).Bias.Value, Is.All.EqualTo(0.1f));
        Assert.That(With(false, WeightInitializer.Zeros()).Bias.Value, Is.All.EqualTo(0f), "no forget-gate 1 without unit_forget_bias");

        // A VarianceScaling(1, fan_in, uniform) bias sees Keras' fans: H for the first draw, 2H for the second, 4H for one draw.
        var fanIn = WeightInitializer.VarianceScaling(1, FanMode.FanIn, InitializerDistribution.Uniform);
        Parameter<float> split = With(true, fanIn).Bias, whole = With(false, fanIn).Bias;
        Assert.That(Largest(split, 0, h), Is.LessThan(Math.Sqrt(3.0 / h)).And.GreaterThan(Math.Sqrt(3.0 / (2 * h))), "input gate: fan H");
        Assert.That(Largest(split, 2 * h, 2 * h), Is.LessThan(Math.Sqrt(3.0 / (2 * h))).And.GreaterThan(Math.Sqrt(3.0 / (4 * h))), "g and o gates: fan 2H");
        Assert.That(Largest(whole), Is.LessThan(Math.Sqrt(3.0 / (4 * h))).And.GreaterThan(0.99 * Math.Sqrt(3.0 / (4 * h))), "one draw: fan 4H");
    }

    [Test]
    public void Bidirectional_GivesBothDirectionsTheInitializers_AsKerasCopiesTheConfig()
    {
        Sequential<float> model = ModelBuilder.Input(4).Bidirectional(3, kernelInitializer: WeightInitializer.Constant(0.25),
            recurrentInitializer: WeightInitializer.HeNormal(), biasInitializer: WeightInitializer.Constant(-0.5), unitForgetBias: false).Build<float>(seed: 1);
        var bi = (Bidirectional<float>)model.Layers[0];
        foreach (Lstm<float> direction in new[] { bi.Forwards, bi.Backwards })
        {
            Assert.That(direction.WeightIh.Value, Is.All.EqualTo(0.25f));
            Assert.That(direction.Bias.Value, Is.All.EqualTo(-0.5f));
            Assert.That(direction.RecurrentInitializer, Is.EqualTo(WeightInitializer.HeNormal()));
            Assert.That(direction.UnitForgetBias, Is.False);
        }
        Assert.That(bi.Backwards.WeightHh.Value, Is.Not.EqualTo(bi.Forwards.WeightHh.Value), "each direction draws its own values");
    }

    [Test]
    public void LayerNormAndDense_TakeTheirInitializers_AndTheSameSeedGivesTheSameWeights()
    {
        ModelSpec spec = ModelBuilder.Input(3).Lstm(4, returnSequences: true)
            .LayerNorm(gammaInitializer: WeightInitializer.RandomNormal(1, 0.02), betaInitializer: WeightInitializer.Constant(0.5))
            .Dense(2, kernelInitializer: WeightInitializer.LecunNormal(), biasInitializer: WeightInitializer.RandomUniform()).ToSpec(seed: 8);
        Sequential<float> a = spec.Build<float>(), b = spec.Build<float>();
        var norm = (LayerNorm<float>)a.Layers[1];
        Assert.That(norm.Beta!.Value, Is.All.EqualTo(0.5f));
        Assert.That(norm.Gamma!.Value, Is.All.InRange(1 - 0.02 * 6, 1 + 0.02 * 6));
        Assert.That(norm.Gamma!.Value, Has.Some.Not.EqualTo(1f));
        Assert.That(((Dense<float>)a.Layers[2]).Bias!.Value, Is.All.InRange(-0.05f, 0.05f));
        Assert.That(((Dense<float>)a.Layers[2]).Bias!.Value, Has.Some.Not.EqualTo(0f));
        Assert.That(DefaultWeightsPinTests.Hash(a), Is.EqualTo(DefaultWeightsPinTests.Hash(b)));
        Assert.That(DefaultWeightsPinTests.Hash(a), Is.Not.EqualTo(DefaultWeightsPinTests.Hash((spec with { Seed = 9 }).Build<float>())));
    }

    [Test]
    public void ExplicitDefaults_GiveTheDefaultWeights_BitForBit()
    {
        ModelSpec plain = ModelBuilder.Input(5).Bidirectional(3, returnSequences: true).LayerNorm().Dense(2).ToSpec(seed: 4);
        ModelSpec explicitDefaults = ModelBuilder.Input(5).Bidirectional(3, returnSequences: true, kernelInitializer: WeightInitializer.GlorotUniform(),
                recurrentInitializer: WeightInitializer.Orthogonal(1), biasInitializer: WeightInitializer.Zeros(), unitForgetBias: true)
            .LayerNorm(gammaInitializer: WeightInitializer.Ones(), betaInitializer: WeightInitializer.Zeros())
            .Dense(2, kernelInitializer: WeightInitializer.VarianceScaling(1, FanMode.FanAvg, InitializerDistribution.Uniform), biasInitializer: WeightInitializer.Constant(0))
            .ToSpec(seed: 4);
        Assert.That(DefaultWeightsPinTests.Hash(explicitDefaults.Build<double>()), Is.EqualTo(DefaultWeightsPinTests.Hash(plain.Build<double>())));
    }
}
