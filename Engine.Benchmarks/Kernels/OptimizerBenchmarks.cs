using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using NumLstm.Optimizers;

namespace NumLstm.Benchmarks.Kernels;

/// <summary>
/// One optimizer step over 2^20 float parameters in four tensors of 2^18 (above the two-core split's 2^16, so each step
/// runs on both cores as in training), for every optimizer and formula the engine offers. The step reads θ, g and the
/// state arrays and writes θ and the state: "ns/value" is per parameter value. Gradients stay fixed, so the state keeps
/// evolving from step to step as in training.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class OptimizerBenchmarks
{
    private const int Tensors = 4, Length = 1 << 18;

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new StatisticColumn("ns/value", "mean time / 2^20 parameter values, in nanoseconds",
            (_, meanNs) => StatisticColumn.Format(meanNs / (Tensors * (double)Length), "F3")));
    }

    /// <summary>The cases, for [ParamsSource] (which reads a property or method, not a field).</summary>
    public static IEnumerable<string> Names => AllNames;

    private static readonly string[] AllNames =
    [
        "SGD momentum", "SGD Keras Nesterov", "SGD Keras weight decay", "Adam", "Adam Keras", "AdamW AMSGrad", "AdamW Keras", "RMSprop", "RMSprop centered momentum",
        "RMSprop Keras", "Adagrad", "Adagrad Keras", "Adamax", "Adamax Keras", "NAdam", "NAdam Keras",
    ];

    [ParamsSource(nameof(Names))]
    public string Optimizer { get; set; } = "Adam";

    private Optimizer<float> optimizer = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(5);
        var parameters = Enumerable.Range(0, Tensors).Select(t => new Parameter<float>($"p{t}", Length)).ToList();
        foreach (Parameter<float> p in parameters)
            for (int k = 0; k < Length; k++)
            {
                p.Value[k] = (float)(random.NextDouble() - 0.5);
                p.Gradient[k] = (float)((random.NextDouble() - 0.5) * 1e-2);
            }
        optimizer = Optimizer switch
        {
            "SGD momentum" => new Sgd<float>(parameters, 1e-3, momentum: 0.9),
            "SGD Keras Nesterov" => new Sgd<float>(parameters, 1e-3, momentum: 0.9, nesterov: true, formula: SgdFormula.Keras),
            "Adam" => new Adam<float>(parameters),
            "Adam Keras" => new Adam<float>(parameters, formula: AdamFormula.Keras),
            "AdamW AMSGrad" => new AdamW<float>(parameters, amsgrad: true),
            "AdamW Keras" => new AdamW<float>(parameters, formula: AdamFormula.Keras),   // Keras's decoupled θ − θ·λ·lr
            "SGD Keras weight decay" => new Sgd<float>(parameters, 1e-3, momentum: 0.9, weightDecay: 1e-2, formula: SgdFormula.Keras),
            "RMSprop" => new RmsProp<float>(parameters),
            "RMSprop centered momentum" => new RmsProp<float>(parameters, momentum: 0.9, centered: true),
            "RMSprop Keras" => new RmsProp<float>(parameters, formula: RmsPropFormula.Keras),
            "Adagrad" => new Adagrad<float>(parameters),
            "Adagrad Keras" => new Adagrad<float>(parameters, formula: AdagradFormula.Keras),
            "Adamax" => new Adamax<float>(parameters),
            "Adamax Keras" => new Adamax<float>(parameters, formula: AdamFormula.Keras),
            "NAdam" => new NAdam<float>(parameters),
            "NAdam Keras" => new NAdam<float>(parameters, formula: AdamFormula.Keras),
            _ => throw new ArgumentException($"Unknown optimizer '{Optimizer}' (expected one of {string.Join(", ", AllNames)}).", nameof(Optimizer)),
        };
    }

    [Benchmark(Description = "step, 2^20 values")]
    public void Step() => optimizer.Step();
}
