using NumLstm.Layers;

namespace NumLstm.Tests.Layers;

/// <summary>
/// Keras' Orthogonal initializer (<see cref="Initializers.OrthogonalTransposed{T}"/>): orthonormal columns, and the same
/// values, bit for bit, as the plain row-major modified Gram–Schmidt it was first written as (seeded models, saved
/// weights and the placement study's results depend on those values).
/// </summary>
public class InitializerTests
{
    [TestCase(8, 32)]    // the recurrent kernel (H, 4H): rows < cols
    [TestCase(100, 400)]
    [TestCase(40, 10)]   // rows > cols
    [TestCase(17, 17)]
    [TestCase(1, 5)]
    public void Orthogonal_EqualsTheRowMajorGramSchmidt_BitForBit_AndIsOrthonormal(int kerasRows, int kerasCols)
    {
        var values = new double[kerasRows * kerasCols];
        Initializers.OrthogonalTransposed<double>(values, kerasRows, kerasCols, new Random(11));
        double[] expected = RowMajorReference(kerasRows, kerasCols, new Random(11));
        for (int k = 0; k < values.Length; k++)
            Assert.That(BitConverter.DoubleToInt64Bits(values[k]), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected[k])), $"element {k}: {values[k]} vs {expected[k]}");

        // Stored [cols, rows]: for rows < cols its columns (length cols) are orthonormal, otherwise its rows are.
        int tall = Math.Max(kerasRows, kerasCols), narrow = Math.Min(kerasRows, kerasCols);
        double At(int t, int n) => kerasRows < kerasCols ? values[t * kerasRows + n] : values[n * kerasRows + t];
        for (int i = 0; i < narrow; i++)
            for (int j = 0; j <= i; j++)
            {
                double dot = 0;
                for (int t = 0; t < tall; t++) dot += At(t, i) * At(t, j);
                Assert.That(dot, Is.EqualTo(i == j ? 1.0 : 0.0).Within(1e-12), $"q{i}·q{j}");
            }

        var single = new float[values.Length];
        Initializers.OrthogonalTransposed<float>(single, kerasRows, kerasCols, new Random(11));
        Assert.That(single, Is.EqualTo(values.Select(v => (float)v).ToArray()), "float is the double values, rounded");
    }

    [Test]
    public void Orthogonal_RejectsASpanOfTheWrongSize()
    {
        var e = Assert.Throws<ArgumentException>(() => Initializers.OrthogonalTransposed<float>(new float[10], 3, 4, new Random(1)));
        Assert.That(e!.Message, Does.Contain("Orthogonal"));
    }

    [Test]
    public void GlorotUniform_KerasRandomInitializersTest_BoundsStdAndSeed()
    {
        // keras/src/initializers/random_initializers_test.py: test_random_uniform (every value in [minval, maxval)) and
        // test_variance_scaling (std of a (25, 20) draw within 0.1 of its formula; a fixed seed gives the same values).
        // glorot_uniform is VarianceScaling(scale=1, mode="fan_avg", distribution="uniform"): U(−l, l) with
        // l = √(3·scale/fan_avg) = √(6/(fan_in + fan_out)), std l/√3 = √(2/(fan_in + fan_out)). Seeded values cannot match
        // across RNGs, so these are the statistics.
        const int fanIn = 25, fanOut = 20;
        var values = new double[fanIn * fanOut];
        Initializers.GlorotUniform<double>(values, fanIn, fanOut, new Random(1234));
        double limit = Math.Sqrt(6.0 / (fanIn + fanOut));
        Assert.That(values.Min(), Is.GreaterThanOrEqualTo(-limit));
        Assert.That(values.Max(), Is.LessThan(limit));
        double mean = values.Average(), std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Average());
        Assert.That(std, Is.EqualTo(Math.Sqrt(2.0 / (fanIn + fanOut))).Within(0.1), "std");
        var again = new double[values.Length];
        Initializers.GlorotUniform<double>(again, fanIn, fanOut, new Random(1234));
        Assert.That(again, Is.EqualTo(values), "the same seed, the same values");
    }

    [Test]
    public void Orthogonal_KerasTestOrthogonalInitializer_UnitColumnsPairwiseOrthogonal()
    {
        // random_initializers_test.py, test_orthogonal_initializer: shape (5, 5); each column has norm gain·1 and each
        // pair of columns a dot of 0 (assertAlmostEqual, decimal 3). NumLstm's Orthogonal has no gain (Keras' default,
        // 1, is the one LSTM uses). We store Kᵀ, so Keras' columns are our rows.
        var values = new double[25];
        Initializers.OrthogonalTransposed<double>(values, 5, 5, new Random(1234));
        for (int i = 0; i < 5; i++)
            for (int j = i; j < 5; j++)
            {
                double dot = 0;
                for (int k = 0; k < 5; k++) dot += values[i * 5 + k] * values[j * 5 + k];
                Assert.That(dot, Is.EqualTo(i == j ? 1.0 : 0.0).Within(1.5e-3), $"column {i} · column {j}");
            }
    }

    [TestCase(3, 4)]
    [TestCase(7, 2)]
    public void Lstm_BuildsKerasDefaults_GlorotKernel_OrthogonalRecurrentKernel_UnitForgetBias(int features, int units)
    {
        // keras/src/layers/rnn/lstm.py, LSTMCell defaults: kernel_initializer="glorot_uniform" on (F, 4H) (fan_in F,
        // fan_out 4H), recurrent_initializer="orthogonal" on (H, 4H) (rows < cols, so its H rows are orthonormal: our
        // [4H, H] weight_hh has orthonormal columns), bias_initializer="zeros" with unit_forget_bias=True (ones in the
        // forget slice, the second of i, f, c, o).
        var lstm = new Lstm<double>(units);
        lstm.Build(LayerShape.Sequence(features), new Random(5));
        int g = 4 * units;
        double limit = Math.Sqrt(6.0 / (features + g));
        Assert.That(lstm.WeightIh.Value.All(v => v >= -limit && v < limit), "weight_ih in [−l, l), l = √(6/(F + 4H))");
        for (int i = 0; i < units; i++)
            for (int j = i; j < units; j++)
            {
                double dot = 0;
                for (int r = 0; r < g; r++) dot += lstm.WeightHh.Value[r * units + i] * lstm.WeightHh.Value[r * units + j];
                Assert.That(dot, Is.EqualTo(i == j ? 1.0 : 0.0).Within(1e-12), $"weight_hh column {i} · column {j}");
            }
        double[] expectedBias = Enumerable.Range(0, g).Select(j => j >= units && j < 2 * units ? 1.0 : 0.0).ToArray();
        Assert.That(lstm.Bias.Value, Is.EqualTo(expectedBias), "bias: 1 in the forget slice, 0 elsewhere");
    }

    [Test]
    public void Dense_BuildsKerasDefaults_GlorotKernel_ZeroBias()
    {
        // keras/src/layers/core/dense.py defaults: kernel_initializer="glorot_uniform" on (F, units), bias_initializer="zeros".
        var dense = new Dense<double>(6);
        dense.Build(LayerShape.Vector(10), new Random(5));
        double limit = Math.Sqrt(6.0 / (10 + 6));
        Assert.That(dense.Weight.Value.All(v => v >= -limit && v < limit), "weight in [−l, l), l = √(6/(F + units))");
        Assert.That(dense.Bias!.Value, Is.All.EqualTo(0.0), "bias zeros");
    }

    /// <summary>The original implementation: q row-major tall × narrow, columns swept in place.</summary>
    private static double[] RowMajorReference(int kerasRows, int kerasCols, Random random)
    {
        int tall = Math.Max(kerasRows, kerasCols), narrow = Math.Min(kerasRows, kerasCols);
        var q = new double[tall * narrow];
        for (int k = 0; k < q.Length; k++) q[k] = Initializers.NextGaussian(random);
        for (int col = 0; col < narrow; col++)
        {
            for (int prev = 0; prev < col; prev++)
            {
                double dot = 0;
                for (int r = 0; r < tall; r++) dot += q[r * narrow + prev] * q[r * narrow + col];
                for (int r = 0; r < tall; r++) q[r * narrow + col] -= dot * q[r * narrow + prev];
            }
            double norm = 0;
            for (int r = 0; r < tall; r++) norm += q[r * narrow + col] * q[r * narrow + col];
            norm = Math.Sqrt(norm);
            for (int r = 0; r < tall; r++) q[r * narrow + col] /= norm;
        }
        var result = new double[kerasRows * kerasCols];
        for (int r = 0; r < kerasCols; r++)
            for (int c = 0; c < kerasRows; c++)
                result[r * kerasRows + c] = kerasRows < kerasCols ? q[r * narrow + c] : q[c * narrow + r];
        return result;
    }
}
