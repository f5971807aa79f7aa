using NumLstm.Optimizers;

namespace NumLstm.Tests.Optimizers;

/// <summary>
/// Keras 3's own published answers for its optimizers (keras/src/optimizers/*_test.py: <c>test_single_step</c> and
/// <c>test_correctness_with_golden</c>), run through the Keras formulas with Keras's defaults, at Keras's own tolerances
/// (1e-4 for a single step, 5e-4 for the goldens, absolute and relative). AdamW's and the weight-decay answers are in
/// <see cref="DecoupledWeightDecayTests{T}"/>.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class KerasKnownAnswerTests<T> : OptimizerTestBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static void AssertClose(double[] expected, Parameter<T> actual, double tolerance, string what)
    {
        for (int k = 0; k < expected.Length; k++)
            Assert.That(D(actual.Value[k]), Is.EqualTo(expected[k]).Within(tolerance + tolerance * Math.Abs(expected[k])), $"{what}[{k}]");
    }

    private static IEnumerable<TestCaseData> SingleSteps()
    {
        // Optimizer(learning_rate=0.5), gradients [1, 6, 7, 2] on [1, 2, 3, 4], one step.
        static TestCaseData Case(string name, Func<IReadOnlyList<Parameter<T>>, Optimizer<T>> create, double[] expected)
            => new TestCaseData(create, expected).SetArgDisplayNames(name);
        yield return Case("SGD", ps => new Sgd<T>(ps, 0.5, formula: SgdFormula.Keras), [0.5, -1.0, -0.5, 3.0]);
        yield return Case("Adam", ps => new Adam<T>(ps, 0.5, formula: AdamFormula.Keras), [0.5, 1.5, 2.5, 3.5]);
        yield return Case("RMSprop", ps => new RmsProp<T>(ps, 0.5, formula: RmsPropFormula.Keras), [-0.5811, 0.4189, 1.4189, 2.4189]);
        yield return Case("Adagrad", ps => new Adagrad<T>(ps, 0.5, formula: AdagradFormula.Keras), [0.5233, 1.5007, 2.5005, 3.5061]);
        yield return Case("Adamax", ps => new Adamax<T>(ps, 0.5, formula: AdamFormula.Keras), [0.5, 1.5, 2.5, 3.5]);
        yield return Case("Nadam", ps => new NAdam<T>(ps, 0.5, formula: AdamFormula.Keras), [0.4686, 1.4686, 2.4686, 3.4686]);
    }

    [TestCaseSource(nameof(SingleSteps))]
    public void KerasTestSingleStep_KnownAnswer(Func<IReadOnlyList<Parameter<T>>, Optimizer<T>> create, double[] expected)
    {
        Parameter<T> vars = MakeParameter("vars", 1, 2, 3, 4);
        Optimizer<T> optimizer = create([vars]);
        SetGradient(vars, 1, 6, 7, 2);
        optimizer.Step();
        AssertClose(expected, vars, 1e-4, "vars");
    }

    private static IEnumerable<TestCaseData> Goldens()
    {
        static double[][] Tile(params double[] rows) => rows.Select(v => Enumerable.Repeat(v, 10).ToArray()).ToArray();
        static TestCaseData Case(string name, Func<IReadOnlyList<Parameter<T>>, Optimizer<T>> create, double[][] golden)
            => new TestCaseData(create, golden).SetArgDisplayNames(name);
        // SGD(nesterov=True) with Keras's momentum 0: plain steps of lr 0.01 (our Nesterov needs a momentum, and has none to add here).
        yield return Case("SGD", ps => new Sgd<T>(ps, 0.01, formula: SgdFormula.Keras),
        [
            [0.9999, 0.9999, 0.9999, 0.9999, 0.9999, 0.9999, 0.9999, 0.9999, 0.9999, 0.9999],
            [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
            [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
            [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
            [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599],
        ]);
        yield return Case("Adam, AMSGrad", ps => new Adam<T>(ps, amsgrad: true, formula: AdamFormula.Keras), Tile(0.999, 0.9982, 0.9974, 0.9965, 0.9955));
        yield return Case("RMSprop, centered", ps => new RmsProp<T>(ps, centered: true, formula: RmsPropFormula.Keras), Tile(0.9967, 0.9933, 0.9908, 0.9885, 0.9864));
        yield return Case("Adagrad", ps => new Adagrad<T>(ps, 0.2, initialAccumulatorValue: 0.3, epsilon: 1e-6, formula: AdagradFormula.Keras),
        [
            [0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963],
            [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
            [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
            [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
            [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825],
        ]);
        yield return Case("Adamax", ps => new Adamax<T>(ps, 0.2, beta1: 0.85, beta2: 0.95, epsilon: 1e-6, formula: AdamFormula.Keras),
        [
            [0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8],
            [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
            [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
            [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
            [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126],
        ]);
        yield return Case("Nadam", ps => new NAdam<T>(ps, 0.5, beta1: 0.5, beta2: 0.67, epsilon: 1e-5, formula: AdamFormula.Keras),
        [
            [0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281],
            [-0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718, -0.1717],
            [-0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085, -0.7084],
            [-1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23, -1.2299],
            [-1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455, -1.7454],
        ]);
    }

    /// <summary>x = ones(10); one step with gradient 0.01 everywhere, then golden[i] before each of five steps with
    /// arange(0.1, 1.1, 0.1).</summary>
    [TestCaseSource(nameof(Goldens))]
    public void KerasTestCorrectnessWithGolden_KnownAnswer(Func<IReadOnlyList<Parameter<T>>, Optimizer<T>> create, double[][] golden)
    {
        Parameter<T> x = MakeParameter("x", Enumerable.Repeat(1.0, 10).ToArray());
        Optimizer<T> optimizer = create([x]);
        double[] grads = Enumerable.Range(1, 10).Select(i => i / 10.0).ToArray();
        SetGradient(x, Enumerable.Repeat(0.01, 10).ToArray());
        optimizer.Step();
        for (int i = 0; i < golden.Length; i++)
        {
            AssertClose(golden[i], x, 5e-4, $"golden[{i}]");
            SetGradient(x, grads);
            optimizer.Step();
        }
    }
}
