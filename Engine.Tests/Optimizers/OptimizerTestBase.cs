namespace NumLstm.Tests.Optimizers;

/// <summary>What the optimizer fixtures share: T from and to double, a parameter from values, its gradient from values,
/// and values compared within the fixture's tolerance (2e-6 relative in float, 1e-13 in double).</summary>
public abstract class OptimizerTestBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected static readonly bool IsFloat = typeof(T) == typeof(float);
    protected static readonly double Tolerance = IsFloat ? 2e-6 : 1e-13;

    protected static double D(T value) => double.CreateTruncating(value);
    protected static T C(double value) => T.CreateTruncating(value);

    protected static Parameter<T> MakeParameter(string name, params double[] values)
    {
        var parameter = new Parameter<T>(name, values.Length);
        for (int k = 0; k < values.Length; k++) parameter.Value[k] = C(values[k]);
        return parameter;
    }

    protected static void SetGradient(Parameter<T> parameter, params double[] gradient)
    {
        for (int k = 0; k < gradient.Length; k++) parameter.Gradient[k] = C(gradient[k]);
    }

    /// <summary>θ0 in [−1, 1) and <paramref name="steps"/> gradients in [−scale, scale), from <paramref name="seed"/>.</summary>
    protected static (double[] Theta0, double[][] Gradients) Data(int n, int steps, int seed, double scale = 2)
    {
        var random = new Random(seed);
        double[] theta0 = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        double[][] gradients = Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, n).Select(_ => (random.NextDouble() * 2 - 1) * scale).ToArray()).ToArray();
        return (theta0, gradients);
    }

    /// <summary>An option out of its range: ArgumentOutOfRangeException naming the option (as ParamName; the learning rate
    /// under its property's name, which the base class checks) and the value.</summary>
    protected static void AssertOutOfRange(TestDelegate create, string option, string value)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(create);
        Assert.That(e!.ParamName, Is.EqualTo(option == "learningRate" ? "LearningRate" : option));
        Assert.That(e.Message, Does.Contain($"{option} {value}"), option);
    }

    protected static void AssertValues(double[] expected, Parameter<T> parameter, string what)
    {
        for (int k = 0; k < expected.Length; k++)
            Assert.That(D(parameter.Value[k]), Is.EqualTo(expected[k]).Within(Tolerance * Math.Max(1, Math.Abs(expected[k]))), $"{what}[{k}]");
    }
}
