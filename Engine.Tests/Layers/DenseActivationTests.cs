using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Tests.Kernels;

namespace NumLstm.Tests.Layers;

/// <summary>
/// The activations Dense gained from Keras 3 (keras/src/activations/activations.py): Keras' own published values, an
/// independent double formula per activation written here (cited from Keras' backends, keras/src/backend/*/nn.py),
/// large |x|, NaN, the derivative at each kink, float against double, and the spec JSON and Keras config names.
/// A Dense(width) with the identity kernel and no bias applies the activation to the input itself.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class DenseActivationTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly Activation[] Added = Enum.GetValues<Activation>().Where(a => a >= Activation.Elu).ToArray();
    private static bool IsRowWise(Activation a) => a is Activation.LogSoftmax or Activation.Sparsemax;

    internal static T[] Apply(Activation activation, double[] x, int width)
    {
        var dense = new Dense<T>(width, activation, useBias: false);
        dense.Build(LayerShape.Vector(width), new Random(1));
        Array.Clear(dense.Weight.Value);
        for (int u = 0; u < width; u++) dense.Weight.Value[u * width + u] = T.One;
        var output = new T[x.Length];
        dense.Forward(new SequenceBatch<T>(x.Select(T.CreateTruncating).ToArray(), x.Length / width, 1, default), output, dense.CreateCache(), ForwardContext.Inference);
        return output;
    }

    private static double Tolerance(double expected) => typeof(T) == typeof(float) ? 1e-7 + 1e-6 * Math.Abs(expected) : 1e-15 + 1e-12 * Math.Abs(expected);

    // Keras' published numbers: the docstring examples of keras/src/ops/nn.py (float32 printouts, so 1e-6 relative).
    // ops.hard_sigmoid's docstring still shows Keras 2's 0.2x + 0.5 ([0.3, 0.5, 0.7]); the backends compute relu6(x + 3)/6,
    // which activations.hard_sigmoid's docstring states, and that is what is asserted.
    [TestCase(Activation.Elu, new[] { -1.0, 0.0, 1.0 }, new[] { -0.63212055, 0.0, 1.0 })]
    [TestCase(Activation.Selu, new[] { -1.0, 0.0, 1.0 }, new[] { -1.11133055, 0.0, 1.05070098 })]
    [TestCase(Activation.Gelu, new[] { -1.0, 0.0, 1.0 }, new[] { -0.15865525, 0.0, 0.84134475 })]
    [TestCase(Activation.Softplus, new[] { -0.555, 0.0, 0.555 }, new[] { 0.45366603, 0.6931472, 1.008666 })]
    [TestCase(Activation.Softsign, new[] { -0.100, -10.0, 1.0, 0.0, 100.0 }, new[] { -0.09090909, -0.90909094, 0.5, 0.0, 0.990099 })]
    [TestCase(Activation.Silu, new[] { -6.0, 1.0, 0.0, 1.0, 6.0 }, new[] { -0.0148357, 0.7310586, 0.0, 0.7310586, 5.9851646 })]
    [TestCase(Activation.LogSigmoid, new[] { -0.541391, 0.0, 0.50, 5.0 }, new[] { -1.0000418, -0.6931472, -0.474077, -0.00671535 })]
    [TestCase(Activation.LeakyRelu, new[] { -1.0, 0.0, 1.0 }, new[] { -0.2, 0.0, 1.0 })]
    [TestCase(Activation.HardSigmoid, new[] { -1.0, 0.0, 1.0 }, new[] { 1.0 / 3, 0.5, 2.0 / 3 })]
    [TestCase(Activation.HardSilu, new[] { -3.0, -1.0, 0.0, 1.0, 3.0 }, new[] { -0.0, -0.3333333, 0.0, 0.6666667, 3.0 })]
    [TestCase(Activation.Relu6, new[] { -3.0, -2.0, 0.1, 0.2, 6.0, 8.0 }, new[] { 0.0, 0.0, 0.1, 0.2, 6.0, 6.0 })]
    [TestCase(Activation.SparsePlus, new[] { -1.0, 0.0, 1.0 }, new[] { 0.0, 0.25, 1.0 })]
    [TestCase(Activation.Squareplus, new[] { -1.0, 0.0, 1.0 }, new[] { 0.6180340, 1.0, 1.6180340 })]
    [TestCase(Activation.SoftShrink, new[] { -1.0, 0.0, 1.0 }, new[] { -0.5, 0.0, 0.5 })]
    [TestCase(Activation.SparseSigmoid, new[] { -6.0, 1.0, 0.0, 1.0, 6.0 }, new[] { 0.0, 1.0, 0.5, 1.0, 1.0 })]
    public void Forward_GivesKerasPublishedValues(Activation activation, double[] x, double[] expected)
    {
        T[] y = Apply(activation, x, x.Length);
        for (int k = 0; k < x.Length; k++)
            Assert.That(double.CreateTruncating(y[k]), Is.EqualTo(expected[k]).Within(1e-6 + 1e-6 * Math.Abs(expected[k])), $"{activation}({x[k]})");
    }

    // Keras' activations_test.py test_sparsemax: [[0.5, 1.5, −0.5, 2.0]]... its reference is the sorting algorithm, here Reference.
    private static readonly double[] Points = [-30, -5, -1.5, -0.3, 0, 0.7, 2, 12, -1, 1, 3, -3, 6, 0.5, -0.5, 25];

    [Test]
    public void Forward_MatchesAnIndependentDoubleFormula_ForEveryAddedActivation()
    {
        const int width = 4;
        foreach (Activation activation in Added)
        {
            T[] y = Apply(activation, Points, width);
            double[] x = Points.Select(p => double.CreateTruncating(T.CreateTruncating(p))).ToArray();
            double[] expected = Reference(activation, x, width);
            for (int k = 0; k < x.Length; k++)
                Assert.That(double.CreateTruncating(y[k]), Is.EqualTo(expected[k]).Within(Tolerance(expected[k])), $"{activation}({x[k]:R})");
        }
    }

    /// <summary>Each activation written out as Keras' backends write it, in double, independently of the engine's kernels.</summary>
    internal static double[] Reference(Activation activation, double[] x, int width)
    {
        const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;   // numpy/nn.py selu
        static double Log1p(double u) => Math.Abs(u) < 1e-4 ? u - u * u / 2 + u * u * u / 3 : Math.Log(1 + u);
        static double Softplus(double v) => Math.Max(v, 0) + Log1p(Math.Exp(-Math.Abs(v)));          // numpy: logaddexp(x, 0)
        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        static double HardSigmoid(double v) => v <= -3 ? 0 : v >= 3 ? 1 : v / 6 + 0.5;                  // activations.hard_sigmoid's definition
        static double Expm1(double v) => Math.Abs(v) < 1e-5 ? v + v * v / 2 : Math.Exp(v) - 1;
        var y = new double[x.Length];
        if (IsRowWise(activation))
        {
            for (int start = 0; start < x.Length; start += width)
            {
                double[] row = x.AsSpan(start, width).ToArray();
                if (activation == Activation.LogSoftmax)
                {
                    double max = row.Max(), log = Math.Log(row.Sum(v => Math.Exp(v - max)));
                    for (int j = 0; j < width; j++) y[start + j] = row[j] - max - log;
                }
                else
                {
                    // jax/nn.py sparsemax: sort descending, cumulative sums, support 1 + k·z_k > Σ_{i ≤ k} z_i, τ = (Σ_support − 1)/k.
                    double[] sorted = row.OrderByDescending(v => v).ToArray();
                    double cumulative = 0, supportSum = 0;
                    int k = 0;
                    for (int r = 0; r < width; r++) { cumulative += sorted[r]; if (sorted[r] - (cumulative - 1) / (r + 1) > 0) { k = r + 1; supportSum = cumulative; } }
                    double tau = (supportSum - 1) / k;
                    for (int j = 0; j < width; j++) y[start + j] = Math.Max(row[j] - tau, 0);
                }
            }
            return y;
        }
        for (int k = 0; k < x.Length; k++)
        {
            double v = x[k];
            y[k] = activation switch
            {
                Activation.Elu or Activation.Celu => v > 0 ? v : Expm1(v),
                Activation.Selu => scale * (v > 0 ? v : alpha * Expm1(v)),
                Activation.Gelu => 0.5 * v * SpecialFunctionsTests.OracleErfc(-v / Math.Sqrt(2)),   // 0.5·x·(1 + erf(x/√2))
                Activation.Silu => v * Sigmoid(v),
                Activation.Softplus => Softplus(v),
                Activation.Softsign => v / (1 + Math.Abs(v)),
                Activation.LeakyRelu => v >= 0 ? v : double.CreateTruncating(T.CreateTruncating(0.2) * T.CreateTruncating(v)),
                Activation.Relu6 => Math.Min(Math.Max(v, 0), 6),
                Activation.HardSigmoid => HardSigmoid(v),
                Activation.HardSilu => v * HardSigmoid(v),
                Activation.Exponential => Math.Exp(v),
                Activation.Mish => v * Math.Tanh(Softplus(v)),
                Activation.HardTanh => Math.Min(Math.Max(v, -1), 1),
                Activation.LogSigmoid => -Softplus(-v),
                Activation.SoftShrink => v > 0.5 ? v - 0.5 : v < -0.5 ? v + 0.5 : 0,
                Activation.HardShrink => Math.Abs(v) > 0.5 ? v : 0,
                Activation.TanhShrink => v - Math.Tanh(v),
                Activation.Squareplus => v >= 0 ? (v + Math.Sqrt(v * v + 4)) / 2 : 2 / (Math.Sqrt(v * v + 4) - v),   // the same, without cancellation
                Activation.SparsePlus => v <= -1 ? 0 : v < 1 ? (v + 1) * (v + 1) / 4 : v,
                Activation.SparseSigmoid => v <= -1 ? 0 : v >= 1 ? 1 : (v + 1) / 2,
                _ => throw new ArgumentOutOfRangeException(nameof(activation)),
            };
        }
        return y;
    }

    [Test]
    public void Forward_AtLargeMagnitudes_NeitherOverflowsNorLosesTheAnswer()
    {
        double lnTwo = Math.Log(2);
        (Activation, double[] X, double[] Expected)[] cases =
        [
            (Activation.Softplus, [1000, -1000], [1000, 0]),
            (Activation.LogSigmoid, [-1000, 1000], [-1000, 0]),
            (Activation.Silu, [-1000, 1000], [0, 1000]),
            (Activation.Mish, [-1000, 1000], [0, 1000]),
            (Activation.Elu, [-1000, 1000], [-1, 1000]),
            (Activation.Selu, [-1000, 1000], [-1.0507009873554804934193349852946 * 1.6732632423543772848170429916717, 1.0507009873554804934193349852946 * 1000]),
            (Activation.Gelu, [-1000, 1000], [0, 1000]),
            (Activation.Exponential, [1000, -1000], [double.PositiveInfinity, 0]),
            (Activation.TanhShrink, [-1000, 1000], [-999, 999]),
            (Activation.LogSoftmax, [1000, 1000], [-lnTwo, -lnTwo]),
            (Activation.LogSoftmax, [1000, -1000], [0, -2000]),
            (Activation.Sparsemax, [1000, -1000], [1, 0]),
        ];
        foreach ((Activation activation, double[] x, double[] expected) in cases)
        {
            T[] y = Apply(activation, x, 2);
            for (int k = 0; k < 2; k++)
                Assert.That(double.CreateTruncating(y[k]), Is.EqualTo(expected[k]).Within(double.IsInfinity(expected[k]) ? 0 : 1e-6 * Math.Max(1, Math.Abs(expected[k]))),
                    $"{activation}({x[k]})");
        }
    }

    [Test]
    public void Forward_PassesNaNThrough_ExceptTheShrinksWhere_AsInKeras()
    {
        // On the kernel: through Dense, the product x·Wᵀ spreads a NaN input over its row even with the identity kernel (NaN·0).
        foreach (Activation activation in Added)
        {
            T[] y = new T[2];
            Activations.Forward<T>(activation, [T.NaN, T.CreateTruncating(0.25)], y, 2);
            if (activation is Activation.HardShrink or Activation.SoftShrink)
                Assert.That(double.CreateTruncating(y[0]), Is.Zero, $"{activation}: Keras' where(|x| > t, …, 0) gives 0 for NaN");
            else Assert.That(T.IsNaN(y[0]), Is.True, $"{activation}(NaN)");
            Assert.That(T.IsNaN(y[1]), Is.EqualTo(IsRowWise(activation)), $"{activation}: only a row-wise activation spreads NaN to its row");
        }
    }

    // The derivative at each kink: the one Keras' default (TensorFlow) backend's gradient gives there (docs/math.md, D3).
    [TestCase(Activation.Relu6, 0.0, 0.0)]
    [TestCase(Activation.Relu6, 6.0, 0.0)]
    [TestCase(Activation.LeakyRelu, 0.0, 0.2)]
    [TestCase(Activation.Elu, 0.0, 1.0)]
    [TestCase(Activation.Celu, 0.0, 1.0)]
    [TestCase(Activation.Selu, 0.0, 1.0507009873554804934193349852946)]
    [TestCase(Activation.HardSigmoid, -3.0, 0.0)]
    [TestCase(Activation.HardSigmoid, 3.0, 0.0)]
    [TestCase(Activation.HardSilu, -3.0, 0.0)]
    [TestCase(Activation.HardSilu, 3.0, 1.0)]
    [TestCase(Activation.HardTanh, -1.0, 1.0)]
    [TestCase(Activation.HardTanh, 1.0, 1.0)]
    [TestCase(Activation.SparseSigmoid, -1.0, 0.0)]
    [TestCase(Activation.SparseSigmoid, 1.0, 0.0)]
    [TestCase(Activation.SparsePlus, -1.0, 0.0)]
    [TestCase(Activation.SparsePlus, 1.0, 1.0)]
    [TestCase(Activation.SoftShrink, 0.5, 0.0)]
    [TestCase(Activation.SoftShrink, -0.5, 0.0)]
    [TestCase(Activation.HardShrink, 0.5, 0.0)]
    [TestCase(Activation.HardShrink, -0.5, 0.0)]
    public void Backward_AtAKink_TakesKerasDerivative(Activation activation, double at, double derivative)
    {
        T[] x = [T.CreateTruncating(at)], y = new T[1], dx = [T.One];
        Activations.Forward<T>(activation, x, y, 1);
        Activations.Backward<T>(activation, x, y, [T.One], dx, 1);
        Assert.That(double.CreateTruncating(dx[0]) - 1, Is.EqualTo(derivative).Within(4 * TestSupport.TestArrays.Epsilon<T>()), "added into dx");
    }

    [Test]
    public void FloatAndDouble_Agree_ToFloatAccuracy()
    {
        double[] x = TestSupport.TestArrays.Uniform<double>(64, 3, -6, 6);
        foreach (Activation activation in Added)
        {
            float[] f = DenseActivationTests<float>.Apply(activation, x, 8);
            double[] d = DenseActivationTests<double>.Apply(activation, x, 8);
            for (int k = 0; k < x.Length; k++)
            {
                // The float input is x rounded, which moves the output by about |f′(x)|·|x|·2^−24 besides the output's rounding.
                double slack = 1e-6 * (Math.Abs(d[k]) + Math.Abs(x[k]) + 1);
                Assert.That((double)f[k], Is.EqualTo(d[k]).Within(slack), $"{activation}({x[k]:R})");
            }
        }
    }

    [Test]
    public void SpecJson_And_KerasConfig_NameEveryActivation_AsKerasDoes_AndRoundTrip()
    {
        foreach (Activation activation in Enum.GetValues<Activation>())
        {
            string name = ActivationNames.KerasName(activation);
            var spec = new ModelSpec { InputFeatures = 3, Layers = [LayerSpec.Lstm(4), LayerSpec.Dense(2, activation)] };
            Assert.That(spec.ToJson(), Does.Contain($"\"activation\": \"{name}\""), "the spec JSON uses Keras' name");
            Assert.That(ModelSpec.FromJson(spec.ToJson()).Layers[1].Activation, Is.EqualTo(activation));
            string keras = spec.ToKerasJson();
            Assert.That(keras, Does.Contain($"\"activation\":\"{name}\""));
            ModelSpec read = ModelSpec.FromKerasJson(keras);
            Assert.That(read.Layers[1].Activation, Is.EqualTo(activation), name);
            Assert.That(read.ToKerasJson(), Is.EqualTo(keras), $"{name}: written, read and written again");
        }
        foreach ((string alias, Activation activation) in new[] { ("swish", Activation.Silu), ("hard_swish", Activation.HardSilu) })
        {
            string keras = new ModelSpec { InputFeatures = 3, Layers = [LayerSpec.Lstm(4), LayerSpec.Dense(2, activation)] }.ToKerasJson()
                .Replace($"\"activation\":\"{ActivationNames.KerasName(activation)}\"", $"\"activation\":\"{alias}\"");
            ModelSpec read = ModelSpec.FromKerasJson(keras);
            Assert.That(read.Layers[1].Activation, Is.EqualTo(activation), alias);
            Assert.That(read.ToKerasJson(), Does.Contain($"\"activation\":\"{ActivationNames.KerasName(activation)}\""), $"{alias} is written back as Keras 3 serializes it");
        }
    }

    [TestCase("glu", "halves the last axis")]
    [TestCase("crelu", "doubles the last axis")]
    [TestCase("threshold", "no default threshold")]
    [TestCase("swiglu", "built-in activations by name")]
    public void KerasConfig_RefusesAnActivationNumLstmDoesNotApply_NamingThePath(string name, string why)
    {
        string keras = new ModelSpec { InputFeatures = 3, Layers = [LayerSpec.Lstm(4), LayerSpec.Dense(2, Activation.Gelu)] }.ToKerasJson()
            .Replace("\"activation\":\"gelu\"", $"\"activation\":\"{name}\"");
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromKerasJson(keras))!;
        Assert.That(e.Message, Does.Contain($"config.layers[2].config.activation: '{name}' not supported").And.Contain(why));
    }
}
