using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

/// <summary>
/// y = act(x · Wᵀ + b) on the last axis of [B, F] or [B, T, F]. weight [units, F] (PyTorch's nn.Linear layout, the
/// transpose of Keras' kernel), bias [units]. Keras defaults: glorot_uniform weight, zero bias. Equations (D1)–(D3).
/// </summary>
public sealed partial class Dense<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Parameter<T>> parameters = new();
    private Parameter<T>? weight, bias;

    public Dense(int units, Activation activation = Activation.Linear, bool useBias = true, string name = "dense") : base(name)
    {
        if (units <= 0) throw new ArgumentOutOfRangeException(nameof(units), units, "Dense units must be positive.");
        if (!Enum.IsDefined(activation)) throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        Units = units;
        Activation = activation;
        UseBias = useBias;
    }

    public int Units { get; }
    public Activation Activation { get; }
    public bool UseBias { get; }
    public override IReadOnlyList<Parameter<T>> Parameters => parameters;
    public Parameter<T> Weight => weight ?? throw NotBuilt();
    public Parameter<T>? Bias => bias;
    /// <summary>Keras' kernel_regularizer: the penalty on weight (Keras' kernel); null (default) for none.</summary>
    public WeightRegularizer? KernelRegularizer { get; init; }
    /// <summary>Keras' bias_regularizer: the penalty on bias (none without a bias); null (default) for none.</summary>
    public WeightRegularizer? BiasRegularizer { get; init; }
    /// <summary>Keras' kernel_constraint on weight, applied after each optimizer step; null (default) for none.</summary>
    public WeightConstraint? KernelConstraint { get; init; }
    /// <summary>Keras' bias_constraint on bias; null (default) for none.</summary>
    public WeightConstraint? BiasConstraint { get; init; }
    /// <summary>Keras' kernel_initializer (Keras' kernel (F, units): fan_in F, fan_out units); null (default) for glorot_uniform.</summary>
    public WeightInitializer? KernelInitializer { get; init; }
    /// <summary>Keras' bias_initializer (1-D: not Orthogonal or Identity); null (default) for zeros.</summary>
    public WeightInitializer? BiasInitializer { get => biasInitializer; init => biasInitializer = WeightInitializer.ForVector(value, nameof(BiasInitializer)); }
    private readonly WeightInitializer? biasInitializer;
    /// <summary>
    /// Keras' <c>TimeDistributed(Dense(...))</c>: the same per-step Dense (a Dense on a sequence already runs on each
    /// step, as Keras 3's Dense on a 3-D input), recorded so that Keras files read and write it as the wrapper (its
    /// config, and its weights under <c>layers/time_distributed/layer</c>). Needs a sequence input. False by default.
    /// </summary>
    public bool TimeDistributed { get; init; }

    protected override LayerShape BuildCore(LayerShape input, Random random)
    {
        if (TimeDistributed && !input.IsSequence)
            throw new ArgumentException($"Dense '{Name}' is time-distributed (Keras' TimeDistributed) and needs a sequence input [B, T, F], but the layer before it returns a vector {input} (set returnSequences: true on it).");
        parameters.Clear();
        weight = new Parameter<T>("weight", Units, input.Features) { Regularizer = KernelRegularizer };
        weight.Constraint = Constrain(KernelConstraint, weight);
        (KernelInitializer ?? WeightInitializer.GlorotUniform()).FillKernel<T>(weight.Value, input.Features, Units, random);
        parameters.Add(weight);
        bias = null;
        if (UseBias)
        {
            bias = new Parameter<T>("bias", Units) { Regularizer = BiasRegularizer };
            bias.Constraint = Constrain(BiasConstraint, bias);
            (BiasInitializer ?? WeightInitializer.Zeros()).FillVector<T>(bias.Value, random);
            parameters.Add(bias);
        }
        return input with { Features = Units };
    }

    public override LayerCache CreateCache() => new DenseCache<T>();

    // input [R, F] with R = B·T (or B); output [R, units].
    public override void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context)
    {
        LayerShape shape = CheckInput(input, output);
        var c = cache as DenseCache<T> ?? throw new ArgumentException($"Dense '{Name}' needs a DenseCache.", nameof(cache));
        int rows = shape.IsSequence ? input.Batch * input.Time : input.Batch, f = shape.Features;
        c.Prepare(rows, f, Units, Activations.BackwardReadsPreActivation(Activation));
        c.FilledBy = this;
        input.Data.CopyTo(c.Input);
        // (D1) from the copy: the input may be the output span itself (a one-layer model fed its last output), which the
        // product overwrites while it reads.
        Gemm.Multiply(Transpose.No, Transpose.Yes, rows, Units, f, T.One, c.Input, f, Weight.Value, f, T.Zero, output, Units);
        if (bias is not null) for (int r = 0; r < rows; r++) TensorPrimitives.Add(output.Slice(r * Units, Units), bias.Value, output.Slice(r * Units, Units));
        if (c.PreActivation.Length != 0) output.CopyTo(c.PreActivation);   // a, for a derivative that reads it
        if (Activation != Activation.Linear) Activations.Forward<T>(Activation, output, output, Units);                               // (D2)
        output.CopyTo(c.Output);
    }

    public override void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient)
    {
        var c = cache as DenseCache<T> ?? throw new ArgumentException($"Dense '{Name}' needs a DenseCache.", nameof(cache));
        RequireFilledByThis(c);
        int rows = c.Rows, f = c.Features;
        if (outputGradient.Length != rows * Units)
            throw new ArgumentException($"Dense '{Name}': output gradient must hold {rows * Units} values, got {outputGradient.Length}.", nameof(outputGradient));
        if (!inputGradient.IsEmpty && inputGradient.Length != rows * f)
            throw new ArgumentException($"Dense '{Name}': input gradient must hold {rows * f} values, got {inputGradient.Length}.", nameof(inputGradient));
        Span<T> dPre = c.PreActivationGradient;                                                                                        // (D3)
        if (Activation == Activation.Linear) outputGradient.CopyTo(dPre);
        else
        {
            dPre.Clear();
            Activations.Backward<T>(Activation, c.PreActivation, c.Output, outputGradient, dPre, Units);
        }
        Gemm.Multiply(Transpose.Yes, Transpose.No, Units, f, rows, T.One, dPre, Units, c.Input, f, T.One, Weight.Gradient, f);   // dW += dZᵀ·X
        if (bias is not null) for (int r = 0; r < rows; r++) TensorPrimitives.Add(bias.Gradient, dPre.Slice(r * Units, Units), bias.Gradient);
        if (!inputGradient.IsEmpty)
            Gemm.Multiply(Transpose.No, Transpose.No, rows, f, Units, T.One, dPre, Units, Weight.Value, f, T.One, inputGradient, f);   // dX += dZ·W
    }
}

public sealed class DenseCache<T> : LayerCache where T : unmanaged, IFloatingPointIeee754<T>
{
    internal int Rows, Features;
    internal T[] Input = Array.Empty<T>(), Output = Array.Empty<T>(), PreActivationGradient = Array.Empty<T>();
    // a of (D1), kept only for an activation whose derivative reads it (empty otherwise).
    internal T[] PreActivation = Array.Empty<T>();

    internal void Prepare(int rows, int features, int units, bool keepPreActivation)
    {
        Rows = rows; Features = features;
        if (Input.Length != rows * features) Input = new T[rows * features];
        if (Output.Length != rows * units) { Output = new T[rows * units]; PreActivationGradient = new T[rows * units]; }
        int preActivationLength = keepPreActivation ? rows * units : 0;
        if (PreActivation.Length != preActivationLength) PreActivation = new T[preActivationLength];
    }
}
