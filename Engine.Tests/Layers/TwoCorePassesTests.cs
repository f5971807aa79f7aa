using System.Numerics.Tensors;
using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Layers;

/// <summary>
/// The passes that share their rows between the two cores (a LayerNorm's training forward and backward, a Bidirectional's
/// merge and input-gradient sum, a plan's merge and LayerNorm) give exactly what one thread gives, bit for bit, and
/// LayerNorm exactly what its kernel gives. Sizes are past the split thresholds.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
[NonParallelizable]
public class TwoCorePassesTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static List<T[]> OnOneCoreAndTwo(Func<List<T[]>> run, out List<T[]> oneCore)
    {
        List<T[]> twoCores = run();
        try
        {
            EngineSettings.UseSecondCore = false;
            oneCore = run();
        }
        finally { EngineSettings.UseSecondCore = true; }
        return twoCores;
    }

    // 320 × 203 and 5,000 × 7 values (a width below one vector: the second core gets no features of dγ); 150 × 203 is
    // under the threshold and stays on one thread.
    [TestCase(320, 203)]
    [TestCase(5000, 7)]
    [TestCase(150, 203)]
    public void LayerNorm_ForwardAndBackward_AreTheKernelsBits_OnOneCoreAndTwo(int rows, int features)
    {
        T[] x = TestArrays.Uniform<T>(rows * features, 1, -3, 3), dy = TestArrays.Uniform<T>(rows * features, 2);
        T[] gamma = TestArrays.Uniform<T>(features, 3), beta = TestArrays.Uniform<T>(features, 4);
        T[] dxStart = TestArrays.Uniform<T>(rows * features, 5), dGammaStart = TestArrays.Uniform<T>(features, 6), dBetaStart = TestArrays.Uniform<T>(features, 7);

        List<T[]> Layer()
        {
            var norm = new LayerNorm<T>();
            norm.Build(LayerShape.Sequence(features), new Random(1));
            gamma.CopyTo(norm.Gamma!.Value, 0);
            beta.CopyTo(norm.Beta!.Value, 0);
            dGammaStart.CopyTo(norm.Gamma.Gradient, 0);
            dBetaStart.CopyTo(norm.Beta.Gradient, 0);
            var cache = norm.CreateCache();
            T[] y = new T[x.Length], dx = (T[])dxStart.Clone();
            norm.Forward(new SequenceBatch<T>(x, rows, 1, default), y, cache, ForwardContext.Inference);
            norm.Backward(dy, cache, dx);
            return new List<T[]> { y, dx, norm.Gamma.Gradient.ToArray(), norm.Beta.Gradient.ToArray() };
        }

        List<T[]> twoCores = OnOneCoreAndTwo(Layer, out List<T[]> oneCore);

        // The kernel, one thread, every row in order.
        T[] yKernel = new T[x.Length], normalized = new T[x.Length], mean = new T[rows], inverseStd = new T[rows];
        LayerNormKernel.Forward<T>(x, features, T.CreateTruncating(LayerNorm<T>.KerasEpsilon), gamma, beta, yKernel, normalized, mean, inverseStd);
        T[] dxKernel = (T[])dxStart.Clone(), dGammaKernel = (T[])dGammaStart.Clone(), dBetaKernel = (T[])dBetaStart.Clone();
        LayerNormKernel.Backward<T>(dy, normalized, inverseStd, features, gamma, dxKernel, dGammaKernel, dBetaKernel, new T[features]);
        var kernel = new List<T[]> { yKernel, dxKernel, dGammaKernel, dBetaKernel };

        string[] names = { "y", "dx", "dγ", "dβ" };
        for (int k = 0; k < names.Length; k++)
        {
            Assert.That(twoCores[k], Is.EqualTo(kernel[k]), $"{names[k]}, two cores against the kernel");
            Assert.That(oneCore[k], Is.EqualTo(kernel[k]), $"{names[k]}, one core against the kernel");
        }
    }

    [TestCase(MergeMode.Concat, true)]
    [TestCase(MergeMode.Concat, false)]
    [TestCase(MergeMode.Sum, true)]
    [TestCase(MergeMode.Mul, true)]
    [TestCase(MergeMode.Ave, false)]
    public void BidirectionalTrainingStep_IsBitwiseTheSame_WithDirectionsSideBySideOrOneAfterTheOther(MergeMode merge, bool sequences)
    {
        const int batch = 16, time = 40, features = 24, units = 32;
        T[] x = TestArrays.Uniform<T>(batch * time * features, 11);
        bool[] mask = Enumerable.Range(0, batch * time).Select(k => k % time < time - k / time % 5).ToArray();   // right-padded rows

        List<T[]> Run(bool parallel)
        {
            var layer = new Bidirectional<T>(new Lstm<T>(units, sequences, dropout: 0.1, recurrentDropout: 0.1), merge) { ParallelDirections = parallel };
            layer.Build(LayerShape.Sequence(features), new Random(12));
            var cache = layer.CreateCache();
            var results = new List<T[]>();
            T[] inputGradient = TestArrays.Uniform<T>(x.Length, 13);   // the layer adds into it
            // Two calls on one cache: what a call leaves in the cache must not leak into the next.
            for (int call = 0; call < 2; call++)
            {
                T[] output = new T[layer.OutputLength(batch, time)];
                layer.Forward(new SequenceBatch<T>(x, batch, time, mask), output, cache, new ForwardContext(true, new Random(14 + call)));
                results.Add(output);
                layer.Backward(TestArrays.Uniform<T>(output.Length, 15 + call), cache, inputGradient);
                results.Add((T[])inputGradient.Clone());
            }
            results.AddRange(layer.Parameters.Select(p => p.Gradient.ToArray()));
            return results;
        }

        List<T[]> serial = Run(parallel: false), parallel = Run(parallel: true);
        Assert.That(parallel.Count, Is.EqualTo(serial.Count));
        for (int k = 0; k < serial.Count; k++) Assert.That(parallel[k], Is.EqualTo(serial[k]), $"array {k}");
    }

    [Test]
    public void BidirectionalTrainingStep_AddsIntoTheInputGradient()
    {
        const int batch = 16, time = 40, features = 24, units = 32;
        T[] x = TestArrays.Uniform<T>(batch * time * features, 21);
        T[] Gradient(T[] start)
        {
            var layer = new Bidirectional<T>(new Lstm<T>(units, true));
            layer.Build(LayerShape.Sequence(features), new Random(22));
            var cache = layer.CreateCache();
            T[] output = new T[layer.OutputLength(batch, time)];
            layer.Forward(new SequenceBatch<T>(x, batch, time, default), output, cache, ForwardContext.Inference);
            T[] inputGradient = (T[])start.Clone();
            layer.Backward(TestArrays.Uniform<T>(output.Length, 23), cache, inputGradient);
            // Again from the same forward: each direction's buffer must start afresh, not hold the first call's part.
            T[] again = (T[])start.Clone();
            layer.Backward(TestArrays.Uniform<T>(output.Length, 23), cache, again);
            Assert.That(again, Is.EqualTo(inputGradient), "a second backward pass from the same forward");
            return inputGradient;
        }
        T[] start = TestArrays.Uniform<T>(x.Length, 24);
        T[] fromZero = Gradient(new T[x.Length]), fromStart = Gradient(start);
        double tolerance = typeof(T) == typeof(float) ? 1e-5 : 1e-13;
        for (int k = 0; k < x.Length; k++)
            Assert.That(double.CreateTruncating(fromStart[k] - start[k]), Is.EqualTo(double.CreateTruncating(fromZero[k])).Within(tolerance), $"element {k}");
    }

    [Test]
    public void BidirectionalBackward_NamesWhatIsWrong()
    {
        var layer = new Bidirectional<T>(new Lstm<T>(4, true));
        layer.Build(LayerShape.Sequence(3), new Random(1));
        var cache = layer.CreateCache();
        var early = Assert.Throws<InvalidOperationException>(() => layer.Backward(new T[2 * 5 * 8], cache, new T[2 * 5 * 3]));
        Assert.That(early!.Message, Does.Contain("before Forward"));
        layer.Forward(new SequenceBatch<T>(new T[2 * 5 * 3], 2, 5, default), new T[2 * 5 * 8], cache, ForwardContext.Inference);
        var wrong = Assert.Throws<ArgumentException>(() => layer.Backward(new T[2 * 5 * 8], cache, new T[2 * 5 * 3 - 1]));
        Assert.That(wrong!.Message, Does.Contain("input gradient must hold 30 values, got 29"));
        wrong = Assert.Throws<ArgumentException>(() => layer.Backward(new T[7], cache, new T[2 * 5 * 3]));
        Assert.That(wrong!.Message, Does.Contain("output gradient must hold 80 values, got 7"));
    }

    [TestCase(MergeMode.Concat)]
    [TestCase(MergeMode.Ave)]
    public void Plan_IsBitwiseTheSame_OnOneCoreAndTwo(MergeMode merge)
    {
        // 64 × 30 rows: the first Bidirectional's merge (1,920 × 32 or × 16 values) and the LayerNorm after it split.
        const int batch = 64, time = 30, features = 8;
        var spec = new ModelSpec
        {
            InputFeatures = features,
            Layers = new[]
            {
                LayerSpec.Bidirectional(LayerSpec.Lstm(16, true), merge), LayerSpec.LayerNorm(),
                LayerSpec.Bidirectional(LayerSpec.Lstm(12), merge), LayerSpec.LayerNorm(), LayerSpec.Dense(3),
            },
        };
        Sequential<T> model = spec.Build<T>();
        T[] x = TestArrays.Uniform<T>(batch * time * features, 31);
        List<T[]> Run()
        {
            var plan = model.CreateInferencePlan(batch, time);
            return new List<T[]> { plan.Predict(x, batch, time).ToArray(), plan.Predict(x.AsSpan(0, batch / 2 * time * features), batch / 2, time).ToArray() };
        }
        List<T[]> twoCores = OnOneCoreAndTwo(Run, out List<T[]> oneCore);
        for (int k = 0; k < oneCore.Count; k++) Assert.That(twoCores[k], Is.EqualTo(oneCore[k]), $"call {k}");
    }
}

/// <summary><see cref="Elementwise.AddTwo{T}"/>: (s + a) + b in one pass, the bits of two adds.</summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class ElementwiseTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // Values over twelve orders of magnitude, so sums round.
    private static T[] Spread(Random random, int length)
        => Enumerable.Range(0, length).Select(_ => T.CreateTruncating((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 6)))).ToArray();

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(7)]
    [TestCase(8)]
    [TestCase(37)]
    [TestCase(1000)]
    public void AddTwo_GivesTheBitsOfTwoAdds(int length)
    {
        var random = new Random(length);
        T[] Values() => Spread(random, length);
        T[] sum = Values(), a = Values(), b = Values();
        T[] expected = (T[])sum.Clone();
        TensorPrimitives.Add<T>(expected, a, expected);
        TensorPrimitives.Add<T>(expected, b, expected);
        Elementwise.AddTwo<T>(sum, a, b);
        Assert.That(sum, Is.EqualTo(expected));
    }

    [TestCase(0, true)]
    [TestCase(7, true)]
    [TestCase(37, true)]
    [TestCase(37, false)]
    [TestCase(200, true)]
    public void SumAndClear_GivesTheBitsOfTheTwoAdds_AndClears(int length, bool withC)
    {
        var random = new Random(length + 100);
        T[] Values() => Spread(random, length);
        T[] a = Values(), b = Values(), c = withC ? Values() : Array.Empty<T>();
        T[] carried = (T[])b.Clone(), expected = new T[length];
        if (withC) TensorPrimitives.Add<T>(carried, c, carried);
        TensorPrimitives.Add<T>(a, carried, expected);
        T[] total = new T[length];
        Elementwise.SumAndClear<T>(a, b, c, total);
        Assert.That(total, Is.EqualTo(expected));
        Assert.That(a.Concat(b), Is.All.EqualTo(T.Zero));
    }

    [Test]
    public void SumAndClear_RejectsLengthsThatDiffer()
    {
        var error = Assert.Throws<ArgumentException>(() => Elementwise.SumAndClear<T>(new T[4], new T[4], new T[5], new T[4]));
        Assert.That(error!.Message, Does.Contain("c (5").And.Contain("a (4)"));
    }

    [Test]
    public void AddTwo_RejectsLengthsThatDiffer()
    {
        var error = Assert.Throws<ArgumentException>(() => Elementwise.AddTwo<T>(new T[4], new T[4], new T[3]));
        Assert.That(error!.Message, Does.Contain("b (3)").And.Contain("sum (4)"));
    }
}

/// <summary>
/// An optimizer step over more than 2^16 values updates each parameter's halves on the two cores: the same bits as one
/// core, every formula, parameters whose lengths are not multiples of 16 included.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
[NonParallelizable]
public class OptimizerTwoCoreTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static IEnumerable<TestCaseData> Optimizers()
    {
        yield return new TestCaseData("adam", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Adam<T>(p, 1e-2))).SetArgDisplayNames("Adam");
        yield return new TestCaseData("adam-amsgrad-decay", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Adam<T>(p, 1e-2, beta1: 0.3, weightDecay: 0.01, amsgrad: true))).SetArgDisplayNames("Adam, AMSGrad, decay, β1 0.3");
        yield return new TestCaseData("adamw", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.AdamW<T>(p, 1e-2))).SetArgDisplayNames("AdamW");
        yield return new TestCaseData("keras", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Adam<T>(p, 1e-2, formula: NumLstm.Optimizers.AdamFormula.Keras))).SetArgDisplayNames("Adam, Keras formula");
        yield return new TestCaseData("sgd", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Sgd<T>(p, 1e-2, momentum: 0.9, nesterov: true, weightDecay: 0.01))).SetArgDisplayNames("SGD, Nesterov, decay");
        yield return new TestCaseData("rmsprop", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.RmsProp<T>(p, 1e-2, momentum: 0.9, centered: true, weightDecay: 0.01))).SetArgDisplayNames("RMSprop, centered, momentum, decay");
        yield return new TestCaseData("adagrad", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Adagrad<T>(p, 1e-2, lrDecay: 0.1, weightDecay: 0.01))).SetArgDisplayNames("Adagrad, lr decay, decay");
        yield return new TestCaseData("adagrad-keras", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Adagrad<T>(p, 1e-2, formula: NumLstm.Optimizers.AdagradFormula.Keras))).SetArgDisplayNames("Adagrad, Keras formula");
        yield return new TestCaseData("adamax", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Adamax<T>(p, 1e-2, beta1: 0.3, weightDecay: 0.01))).SetArgDisplayNames("Adamax, β1 0.3, decay");
        yield return new TestCaseData("adamax-keras", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Adamax<T>(p, 1e-2, formula: NumLstm.Optimizers.AdamFormula.Keras))).SetArgDisplayNames("Adamax, Keras formula");
        yield return new TestCaseData("nadam", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.NAdam<T>(p, 1e-2, beta1: 0.3, weightDecay: 0.01))).SetArgDisplayNames("NAdam, β1 0.3, decay");
        yield return new TestCaseData("nadam-keras", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.NAdam<T>(p, 1e-2, weightDecay: 0.01, decoupledWeightDecay: true, formula: NumLstm.Optimizers.AdamFormula.Keras))).SetArgDisplayNames("NAdam, Keras formula, decoupled decay");
        yield return new TestCaseData("sgd-keras", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.Sgd<T>(p, 1e-2, momentum: 0.9, nesterov: true, weightDecay: 0.01, formula: NumLstm.Optimizers.SgdFormula.Keras))).SetArgDisplayNames("SGD, Keras formula, Nesterov, decay");
        yield return new TestCaseData("rmsprop-keras", (Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>>)(p => new NumLstm.Optimizers.RmsProp<T>(p, 1e-2, rho: 0.3, momentum: 0.9, centered: true, formula: NumLstm.Optimizers.RmsPropFormula.Keras))).SetArgDisplayNames("RMSprop, Keras formula, centered, momentum");
    }

    [TestCaseSource(nameof(Optimizers))]
    public void Step_IsBitwiseTheSame_OnOneCoreAndTwo(string name, Func<List<Parameter<T>>, NumLstm.Optimizers.Optimizer<T>> create)
    {
        List<T[]> Run()
        {
            var random = new Random(41);
            var parameters = new[] { 70_001, 33, 1, 20_000 }.Select((n, k) => new Parameter<T>($"p{k}", n)).ToList();
            foreach (Parameter<T> p in parameters)
                for (int i = 0; i < p.Length; i++) p.Value[i] = T.CreateTruncating(random.NextDouble() - 0.5);
            NumLstm.Optimizers.Optimizer<T> optimizer = create(parameters);
            for (int step = 0; step < 3; step++)
            {
                foreach (Parameter<T> p in parameters)
                    for (int i = 0; i < p.Length; i++) p.Gradient[i] = T.CreateTruncating(random.NextDouble() - 0.5);
                optimizer.Step();
            }
            var results = parameters.Select(p => p.Value.ToArray()).ToList();
            results.AddRange(optimizer.ExportState().Slots.Select(s => s.Values.ToArray()));
            return results;
        }
        List<T[]> twoCores = Run(), oneCore;
        try
        {
            EngineSettings.UseSecondCore = false;
            oneCore = Run();
        }
        finally { EngineSettings.UseSecondCore = true; }
        Assert.That(twoCores.Count, Is.EqualTo(oneCore.Count), name);
        for (int k = 0; k < oneCore.Count; k++) Assert.That(twoCores[k], Is.EqualTo(oneCore[k]), $"{name}: array {k}");
    }
}
