using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Models;

/// <summary>
/// A batch row whose mask has no valid step, as Keras allows it (a padding row, an empty sequence): every recurrent
/// layer outputs its initial state (zeros) for that row, at every step and as its last output, so the rest of the model
/// sees zeros. For the seed model (BiLSTM → LN → BiLSTM → LN → Dense) the row's output is therefore Dense(β₂), β₂ the
/// last LayerNorm's offset (LN of a zero vector is β), whatever the input. The other rows are unaffected.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class FullyMaskedRowTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int Batch = 3, Time = 6, Features = 3, EmptyRow = 1;
    private static readonly int[] Lengths = { 6, 0, 3 };

    private static double Tolerance => typeof(T) == typeof(float) ? 2e-6 : 1e-13;

    public static IEnumerable<TestCaseData> Models()
    {
        static ModelSpec Seed(CellNormalization? cell) => new()
        {
            InputFeatures = Features, Seed = 5,
            Layers = new[]
            {
                LayerSpec.Bidirectional(LayerSpec.Lstm(4, true, 0.4, 0.4, cell)), LayerSpec.LayerNorm(),
                LayerSpec.Bidirectional(LayerSpec.Lstm(5, false, 0.4, 0.4, cell)), LayerSpec.LayerNorm(), LayerSpec.Dense(2),
            },
        };
        yield return new TestCaseData(Seed(null)).SetArgDisplayNames("seed model");
        yield return new TestCaseData(Seed(CellNormalization.TfAddons)).SetArgDisplayNames("seed model, tf-addons cell LN");
        yield return new TestCaseData(new ModelSpec
        {
            InputFeatures = Features, Seed = 5,
            Layers = new[] { LayerSpec.Lstm(4, true, goBackwards: true), LayerSpec.Lstm(5), LayerSpec.LayerNorm(), LayerSpec.Dense(2) },
        }).SetArgDisplayNames("goBackwards lstm sequences, lstm last");
    }

    [TestCaseSource(nameof(Models))]
    public void Forward_RowWithNoValidStep_GivesTheInitialStateThroughTheRestOfTheModel(ModelSpec spec)
    {
        Sequential<T> model = Randomized(spec);
        T[] expected = DenseOfLastLayerNormOffset(model);
        foreach (ForwardContext context in new[] { ForwardContext.Inference, new ForwardContext(true, new Random(3)) })
        {
            ReadOnlySpan<T> output = model.Forward(new SequenceBatch<T>(Input(), Batch, Time, Mask()), model.CreateCache(), context);
            AssertClose(output.Slice(EmptyRow * expected.Length, expected.Length).ToArray(), expected, $"row {EmptyRow}, training = {context.Training}");
        }
    }

    [TestCaseSource(nameof(Models))]
    public void Forward_RowWithNoValidStep_LeavesTheOtherRowsAsPredictedAlone(ModelSpec spec)
    {
        Sequential<T> model = Randomized(spec);
        T[] input = Input();
        bool[] mask = Mask();
        T[] batchOutput = model.Forward(new SequenceBatch<T>(input, Batch, Time, mask), model.CreateCache(), ForwardContext.Inference).ToArray();
        int outputs = batchOutput.Length / Batch;
        foreach (int row in new[] { 0, 2 })
        {
            ReadOnlySpan<T> alone = model.Forward(new SequenceBatch<T>(input.AsSpan(row * Time * Features, Time * Features), 1, Time, mask.AsSpan(row * Time, Time)),
                model.CreateCache(), ForwardContext.Inference);
            AssertClose(batchOutput.AsSpan(row * outputs, outputs).ToArray(), alone.ToArray(), $"row {row}");
        }
    }

    [TestCaseSource(nameof(Models))]
    public void InferencePlan_RowWithNoValidStep_MatchesForward(ModelSpec spec)
    {
        Sequential<T> model = Randomized(spec);
        T[] input = Input();
        bool[] mask = Mask();
        T[] forward = model.Forward(new SequenceBatch<T>(input, Batch, Time, mask), model.CreateCache(), ForwardContext.Inference).ToArray();
        InferencePlan<T> plan = model.CreateInferencePlan(Batch, Time);
        AssertClose(plan.Predict(input, Batch, Time, mask).ToArray(), forward, "plan, batch");
        T[] expected = DenseOfLastLayerNormOffset(model);
        AssertClose(plan.PredictSequence(input.AsSpan(EmptyRow * Time * Features, Time * Features), new bool[Time]).ToArray(), expected, "plan, the row alone");
    }

    /// <summary>Dense(β) of the model's last LayerNorm offset β: the output of a row the recurrent layers give zeros for.</summary>
    private static T[] DenseOfLastLayerNormOffset(Sequential<T> model)
    {
        var norm = (LayerNorm<T>)model.Layers[^2];
        var dense = (Dense<T>)model.Layers[^1];
        Assert.That(dense.Activation, Is.EqualTo(Activation.Linear));
        int units = dense.Units, width = norm.Beta!.Length;
        var expected = new T[units];
        for (int o = 0; o < units; o++)
        {
            double sum = double.CreateChecked(dense.Bias!.Value[o]);
            for (int j = 0; j < width; j++) sum += double.CreateChecked(dense.Weight.Value[o * width + j]) * double.CreateChecked(norm.Beta.Value[j]);
            expected[o] = T.CreateChecked(sum);
        }
        Assert.That(expected.Any(v => T.Abs(v) > T.CreateChecked(0.05)), "the check needs a non-trivial expected output");
        return expected;
    }

    /// <summary>The model with every parameter moved off its initial value, so the LayerNorm offsets are not zero.</summary>
    private static Sequential<T> Randomized(ModelSpec spec)
    {
        Sequential<T> model = spec.Build<T>();
        var random = new Random(11);
        foreach (Parameter<T> p in model.Parameters)
            for (int k = 0; k < p.Length; k++) p.Value[k] += T.CreateChecked(random.NextDouble() - 0.5);
        return model;
    }

    private static T[] Input()
    {
        var random = new Random(2);
        return Enumerable.Range(0, Batch * Time * Features).Select(_ => T.CreateChecked(random.NextDouble() * 2 - 1)).ToArray();
    }

    private static bool[] Mask()
    {
        var mask = new bool[Batch * Time];
        for (int b = 0; b < Batch; b++) for (int t = 0; t < Lengths[b]; t++) mask[b * Time + t] = true;
        return mask;
    }

    private static void AssertClose(T[] actual, T[] expected, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int k = 0; k < expected.Length; k++)
        {
            double a = double.CreateChecked(actual[k]), e = double.CreateChecked(expected[k]);
            Assert.That(a, Is.EqualTo(e).Within(Tolerance * Math.Max(1, Math.Abs(e))), $"{what}, value {k}");
        }
    }
}
