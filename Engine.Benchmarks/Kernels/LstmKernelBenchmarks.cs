using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using NumLstm.Kernels;

namespace NumLstm.Benchmarks.Kernels;

/// <summary>
/// The element-wise kernels of one LSTM step over a [B, 4H] block (B = 64, the W1 batch; H = 100 and 200, its two
/// layers; 512, W4's): the forward gate pass (σ/tanh, cell update, tanh(c), h) fused and as separate TensorPrimitives
/// calls, the fused backward gate pass, and
/// LayerNorm forward and backward over the gate rows (the in-cell LayerNorm's cost). "ns/value" is per gate value.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class LstmKernelBenchmarks
{
    private const int Batch = 64;

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new StatisticColumn("ns/value", "mean time / (B·4H), in nanoseconds", (benchmark, meanNs) =>
            benchmark.Parameters["Hidden"] is int h ? StatisticColumn.Format(meanNs / (Batch * 4.0 * h), "F3") : null));
    }

    [Params(100, 200, 512)]
    public int Hidden { get; set; }

    private float[] preActivations = [], gates = [], cellPrevious = [], cell = [], tanhCell = [], hidden = [], dHidden = [], dCell = [], dGates = [];
    private float[] gamma = [], beta = [], normalized = [], mean = [], inverseStd = [], dGamma = [], dBeta = [], scratch = [], dInput = [];

    [GlobalSetup]
    public void Setup()
    {
        int h = Hidden, g = 4 * h;
        var random = new Random(1);
        float[] Values(int length, double scale) => Enumerable.Range(0, length).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        preActivations = Values(Batch * g, 2);
        gates = (float[])preActivations.Clone();
        cellPrevious = Values(Batch * h, 1);
        cell = new float[Batch * h]; tanhCell = new float[Batch * h]; hidden = new float[Batch * h];
        dHidden = Values(Batch * h, 1); dCell = Values(Batch * h, 1); dGates = new float[Batch * g];
        gamma = Values(g, 1); beta = Values(g, 1);
        normalized = new float[Batch * g]; mean = new float[Batch]; inverseStd = new float[Batch];
        dGamma = new float[g]; dBeta = new float[g]; scratch = new float[g]; dInput = new float[Batch * g];
        LayerNormKernel.Forward<float>(preActivations, g, 1e-3f, gamma, beta, gates, normalized, mean, inverseStd);
    }

    [Benchmark(Description = "gate pass forward, fused")]
    public void GatesForwardFused()
    {
        int h = Hidden, g = 4 * h;
        preActivations.CopyTo(gates, 0);
        for (int b = 0; b < Batch; b++)
            LstmGates.ForwardStep<float>(gates.AsSpan(b * g, g), cellPrevious.AsSpan(b * h, h), cell.AsSpan(b * h, h), tanhCell.AsSpan(b * h, h),
                hidden.AsSpan(b * h, h), h);
    }

    /// <summary>The summed gate LayerNorm (keras-gates) as its own row kernel, then the plain gate pass.</summary>
    [Benchmark(Description = "gate LayerNorm, then gate pass")]
    public void GatesForwardAfterLayerNorm()
    {
        int h = Hidden, g = 4 * h;
        preActivations.CopyTo(gates, 0);
        for (int b = 0; b < Batch; b++)
        {
            Span<float> z = gates.AsSpan(b * g, g);
            LayerNormKernel.Forward<float>(z, g, 1e-3f, gamma, beta, z, normalized.AsSpan(b * g, g), mean.AsSpan(b, 1), inverseStd.AsSpan(b, 1));
            LstmGates.ForwardStep<float>(z, cellPrevious.AsSpan(b * h, h), cell.AsSpan(b * h, h), tanhCell.AsSpan(b * h, h), hidden.AsSpan(b * h, h), h);
        }
    }

    /// <summary>The same work in one kernel (LayerNorm fused into the gate pass), what an in-cell keras-gates step runs.</summary>
    [Benchmark(Description = "gate LayerNorm fused into gate pass")]
    public void GatesForwardNormalizedFused()
    {
        int h = Hidden, g = 4 * h;
        preActivations.CopyTo(gates, 0);
        for (int b = 0; b < Batch; b++)
            (mean[b], inverseStd[b]) = LstmGates.NormalizedForwardStep<float>(gates.AsSpan(b * g, g), 1e-3f, gamma, beta, normalized.AsSpan(b * g, g),
                cellPrevious.AsSpan(b * h, h), cell.AsSpan(b * h, h), tanhCell.AsSpan(b * h, h), hidden.AsSpan(b * h, h), h);
    }

    /// <summary>The same pass as separate TensorPrimitives calls (what the fused pass replaced), for comparison.</summary>
    [Benchmark(Description = "gate pass forward, TensorPrimitives")]
    public void GatesForward()
    {
        int h = Hidden, g = 4 * h;
        preActivations.CopyTo(gates, 0);
        for (int b = 0; b < Batch; b++)
        {
            Span<float> z = gates.AsSpan(b * g, g), c = cell.AsSpan(b * h, h), y = tanhCell.AsSpan(b * h, h);
            LstmGates.ActivateAndUpdateCell(z, cellPrevious.AsSpan(b * h, h), c, h);
            System.Numerics.Tensors.TensorPrimitives.Tanh(c, y);
            System.Numerics.Tensors.TensorPrimitives.Multiply(z.Slice(3 * h, h), y, hidden.AsSpan(b * h, h));
        }
    }

    [Benchmark(Description = "gate pass backward")]
    public void GatesBackward()
    {
        int h = Hidden, g = 4 * h;
        for (int b = 0; b < Batch; b++)
            LstmGates.StepBackward<float>(gates.AsSpan(b * g, g), tanhCell.AsSpan(b * h, h), cellPrevious.AsSpan(b * h, h),
                dHidden.AsSpan(b * h, h), dCell.AsSpan(b * h, h), dGates.AsSpan(b * g, g), h);
    }

    [Benchmark(Description = "LayerNorm forward [B, 4H]")]
    public void LayerNormForward()
        => LayerNormKernel.Forward<float>(preActivations, 4 * Hidden, 1e-3f, gamma, beta, gates, normalized, mean, inverseStd);

    [Benchmark(Description = "LayerNorm backward [B, 4H]")]
    public void LayerNormBackward()
        => LayerNormKernel.Backward<float>(dGates, normalized, inverseStd, 4 * Hidden, gamma, dInput, dGamma, dBeta, scratch);

}
