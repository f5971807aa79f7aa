using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;

namespace NumLstm.Benchmarks.Models;

/// <summary>
/// One training step (zero gradients, forward, loss, backward, Adam) of the issue's workloads, float32:
/// <list type="bullet">
/// <item>W1: the seed model BiLSTM(100, sequences) → LN → BiLSTM(200) → LN → Dense(2), B = 64, T = 50, F = 32, MSE,
/// with the seed's dropout 0.4 and recurrent dropout 0.4 ("W1"), or without dropout as the libtorch peer runs it
/// ("W1-nodrop"), and that without the directions' balance ("W1-nodrop-unbalanced": each core waits for the other
/// instead of taking rows and product blocks off it); "W1-cell-*" put a LayerNorm inside the cell instead of after
/// each layer (the in-cell overhead, compared with "W1-plain": the same stack with no LayerNorm at all).</item>
/// <item>W4: 2-layer LSTM(512), input 128, T = 100, B = 32, last step → Dense(10), softmax cross-entropy.</item>
/// </list>
/// </summary>
public sealed class TrainingWorkload
{
    public static readonly string[] Names = ["W1", "W1-nodrop", "W1-nodrop-unbalanced", "W1-plain", "W1-cell-keras-gates", "W1-cell-tf-addons", "W4"];

    private readonly Sequential<float> model;
    private readonly ModelCache<float> cache;
    private readonly Adam<float> optimizer;
    private readonly ILoss<float> loss;
    private readonly float[] x, targets, gradient;
    private readonly int[] labels;
    private readonly Random random = new(3);

    public TrainingWorkload(string name)
    {
        (ModelSpec spec, Batch, Time, Features) = name switch
        {
            "W1" => (Seed(0.4, LayerNormPlacement.AfterEachRecurrent), 64, 50, 32),
            "W1-nodrop" or "W1-nodrop-unbalanced" => (Seed(0, LayerNormPlacement.AfterEachRecurrent), 64, 50, 32),
            "W1-plain" => (Seed(0, LayerNormPlacement.None), 64, 50, 32),
            "W1-cell-keras-gates" => (Seed(0, LayerNormPlacement.InCell(CellNormalization.KerasGates)), 64, 50, 32),
            "W1-cell-tf-addons" => (Seed(0, LayerNormPlacement.InCell(CellNormalization.TfAddons)), 64, 50, 32),
            "W4" => (new ModelSpec { InputFeatures = 128, Layers = [LayerSpec.Lstm(512, returnSequences: true), LayerSpec.Lstm(512), LayerSpec.Dense(10)] }, 32, 100, 128),
            _ => throw new ArgumentException($"Unknown workload '{name}' (expected one of {string.Join(", ", Names)}).", nameof(name)),
        };
        Name = name;
        model = spec.Build<float>();
        // "-unbalanced": the directions on their two cores without the core done first helping the other (the same bits).
        if (name.EndsWith("-unbalanced", StringComparison.Ordinal))
            foreach (var layer in model.Layers.OfType<Bidirectional<float>>()) layer.BalanceDirections = false;
        cache = model.CreateCache();
        optimizer = new Adam<float>(model.Parameters.ToList(), 1e-3);
        bool classes = name == "W4";
        loss = classes ? new SoftmaxCrossEntropy<float>() : new MeanSquaredError<float>();
        var data = new Random(1);
        x = new float[Batch * Time * Features];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(data.NextDouble() * 2 - 1);
        int outputs = model.OutputLength(Batch, Time);
        targets = new float[outputs];
        for (int k = 0; k < targets.Length; k++) targets[k] = (float)data.NextDouble();
        labels = new int[Batch];
        for (int k = 0; k < labels.Length; k++) labels[k] = data.Next(10);
        gradient = new float[outputs];
        Flops = CountFlops(spec, Batch, Time);
    }

    private static ModelSpec Seed(double dropout, LayerNormPlacement placement)
        => new StackSpec(32, [100, 200], Bidirectional: true, Dropout: dropout, RecurrentDropout: dropout, OutputUnits: 2).WithPlacement(placement);

    public string Name { get; }
    public int Batch { get; }
    public int Time { get; }
    public int Features { get; }

    /// <summary>Multiply-add work of the matrix products in one step, 2 operations each (element-wise work not counted).</summary>
    public double Flops { get; }

    public float Step()
    {
        model.ZeroGradients();
        ReadOnlySpan<float> predictions = model.Forward(new SequenceBatch<float>(x, Batch, Time, default), cache, new ForwardContext(true, random));
        float value = loss is SoftmaxCrossEntropy<float> crossEntropy
            ? crossEntropy.Forward(predictions, labels, gradient)
            : ((MeanSquaredError<float>)loss).Forward(predictions, targets, gradient);
        model.Backward(gradient, cache);
        optimizer.Step();
        return value;
    }

    /// <summary>Bytes the LSTM caches keep from forward for backward after a step (BPTT activations), over all LSTMs.</summary>
    public long BytesKeptForBackward()
    {
        long total = 0;
        foreach (LayerCache layerCache in cache.LayerCaches)
        {
            if (layerCache is LstmCache<float> lstm) total += lstm.BytesKeptForBackward;
            if (layerCache is BidirectionalCache<float> both) total += both.ForwardCache.BytesKeptForBackward + both.BackwardCache.BytesKeptForBackward;
        }
        return total;
    }

    private static double CountFlops(ModelSpec spec, int batch, int time)
    {
        double rows = (double)batch * time, total = 0;
        int features = spec.InputFeatures;
        bool first = true;
        for (int k = 0; k < spec.Layers.Count; k++)
        {
            LayerSpec layer = spec.Layers[k];
            if (layer.Type is not ("lstm" or "bidirectional")) continue;
            double g = 4.0 * layer.Units, h = layer.Units, directions = layer.Type == "bidirectional" ? 2 : 1;
            // Forward: X·Wᵀ and the step products h·Uᵀ; backward: dh·U per step, dU, dW, and dX except for the first layer.
            double perDirection = 2 * rows * g * (features + h) + 2 * rows * g * h * 2 + 2 * rows * g * features * (first ? 1 : 2);
            total += directions * perDirection;
            first = false;
            features = layer.Units * (int)directions;
        }
        return total;
    }
}
