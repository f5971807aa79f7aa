using BenchmarkDotNet.Attributes;
using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;

namespace NumLstm.Benchmarks.Models;

/// <summary>
/// What a LayerNorm inside the cell costs: the seed's second layer alone, Bidirectional LSTM(200) over 200 inputs,
/// B = 64, T = 50 (then Dense(2), MSE), once per cell preset. "train step" is forward + backward (no optimizer),
/// "predict" the forward through an <see cref="InferencePlan{T}"/>. The overhead is each preset's mean over
/// <c>none</c>'s; on a noisy machine compare the Min and Median columns. "one direction" is a single LSTM(200) layer's
/// forward + backward on the calling thread alone (no second thread to wait for, so the steadiest of the three). Filter with <c>*CellNormBenchmarks*</c>.
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class CellNormBenchmarks
{
    private const int Batch = 64, Time = 50, Features = 200, Units = 200;
    private Sequential<float> model = null!;
    private ModelCache<float> cache = null!;
    private InferencePlan<float> plan = null!;
    private readonly MeanSquaredError<float> loss = new();
    private float[] x = [], targets = [], gradient = [];
    private readonly Random random = new(3);
    private Lstm<float> single = null!;
    private LayerCache singleCache = null!;
    private float[] singleOutput = [], singleOutputGradient = [], singleInputGradient = [];

    [Params("none", "keras-gates", "keras-snippet", "ba2016", "tf-addons")]
    public string Cell { get; set; } = "none";

    [GlobalSetup]
    public void Setup()
    {
        var stack = new StackSpec(Features, new[] { Units }, Bidirectional: true, OutputUnits: 2);
        model = stack.WithPlacement(Cell == "none" ? LayerNormPlacement.None : LayerNormPlacement.InCell(CellNormalization.Presets[Cell])).Build<float>();
        cache = model.CreateCache();
        plan = model.CreateInferencePlan(Batch, Time);
        var data = new Random(1);
        x = new float[Batch * Time * Features];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(data.NextDouble() * 2 - 1);
        targets = new float[model.OutputLength(Batch, Time)];
        for (int k = 0; k < targets.Length; k++) targets[k] = (float)data.NextDouble();
        gradient = new float[targets.Length];

        single = new Lstm<float>(Units, returnSequences: true, cellNormalization: CellNormalization.Presets[Cell]) { SplitProducts = false };
        single.Build(LayerShape.Sequence(Features), new Random(2));
        singleCache = single.CreateCache();
        singleOutput = new float[Batch * Time * Units];
        singleOutputGradient = new float[singleOutput.Length];
        for (int k = 0; k < singleOutputGradient.Length; k++) singleOutputGradient[k] = (float)(data.NextDouble() - 0.5);
        singleInputGradient = new float[Batch * Time * Features];
    }

    [Benchmark(Description = "train step (forward + backward)")]
    public float TrainStep()
    {
        model.ZeroGradients();
        ReadOnlySpan<float> predictions = model.Forward(new SequenceBatch<float>(x, Batch, Time, default), cache, new ForwardContext(true, random));
        float value = loss.Forward(predictions, targets, gradient);
        model.Backward(gradient, cache);
        return value;
    }

    [Benchmark(Description = "one direction, one thread (forward + backward)")]
    public float OneDirection()
    {
        var input = new SequenceBatch<float>(x, Batch, Time, default);
        single.Forward(input, singleOutput, singleCache, new ForwardContext(true, random));
        single.Backward(singleOutputGradient, singleCache, singleInputGradient);
        return singleOutput[0];
    }

    [Benchmark(Description = "predict")]
    public float Predict() => plan.Predict(x, Batch, Time)[0];
}
