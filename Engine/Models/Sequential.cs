using System.Text;
using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>
/// A stack of layers applied in order to [B, T, F] batches, like Keras' Sequential. Shapes are inferred from the input
/// feature count. Parameters are named "{layer}.{parameter}" (e.g. "bidirectional_1.weight_ih_reverse").
/// The model holds parameters only; all per-call state lives in a <see cref="ModelCache{T}"/> the caller owns, so one
/// model can serve many threads, each with its own cache.
/// </summary>
public sealed class Sequential<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Layer<T>> layers;
    private readonly List<NamedParameter<T>> parameters = new();

    public Sequential(int inputFeatures, IEnumerable<Layer<T>> layers, int seed = 0)
    {
        if (inputFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inputFeatures), inputFeatures, "Input features must be positive.");
        ArgumentNullException.ThrowIfNull(layers);
        this.layers = layers.ToList();
        if (this.layers.Count == 0) throw new ArgumentException("A model needs at least one layer.", nameof(layers));
        // Checked before any layer is built: building a layer re-initializes its weights, those of the model that owns it.
        for (int k = 0; k < this.layers.Count; k++)
        {
            Layer<T> layer = this.layers[k] ?? throw new ArgumentException($"layers[{k}] is null.", nameof(layers));
            if (layer.Owner is not null)
                throw new ArgumentException($"Layer '{IO.Echo.Name(layer.Name)}' (layers[{k}]) already belongs to another model{(layer.Owner is Layer<T> wrapper ? $" (it is wrapped by '{IO.Echo.Name(wrapper.Name)}')" : "")}: expected a new layer for each model " +
                    "(building it again would re-initialize the other model's weights; build a second model from its spec, e.g. ModelSpecOf.Describe(model).Build<T>()).", nameof(layers));
        }
        InputFeatures = inputFeatures;
        Seed = seed;
        WidestRow = inputFeatures;
        var random = new Random(seed);
        LayerShape shape = LayerShape.Sequence(inputFeatures);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Layer<T> layer in this.layers)
        {
            if (!names.Add(layer.Name)) throw new ArgumentException($"Two layers are named '{layer.Name}'; layer names must be unique.", nameof(layers));
            if (!shape.IsSequence && layer is Lstm<T> or Bidirectional<T>)
                throw new ArgumentException($"Layer '{layer.Name}' needs a sequence input but the layer before it returns a vector {shape} (set returnSequences: true on it).");
            layer.Build(shape, random);
            shape = layer.OutputShape!.Value;
            foreach (Parameter<T> p in layer.Parameters) parameters.Add(new NamedParameter<T>(layer.Name + "." + p.Name, layer, p));
            long width = layer switch
            {
                Lstm<T> lstm => 4L * lstm.Units,
                Bidirectional<T> bidirectional => Math.Max(4L * bidirectional.Forwards.Units, shape.Features),
                _ => shape.Features,
            };
            if (width > WidestRow) (WidestRow, WidestLayer) = (width, $"layer '{layer.Name}'");
        }
        OutputShape = shape;
        foreach (Layer<T> layer in this.layers) layer.Owner = this;
    }

    /// <summary>The most values one step of one sequence takes in any per-call buffer (the input, a layer's output, an
    /// LSTM's 4H gates), and who needs it: every buffer of a call holds at most B·T times this.</summary>
    private long WidestRow { get; }
    private string WidestLayer { get; } = "the input";

    /// <summary>
    /// Whether B·T = <paramref name="rows"/> rows of every per-call buffer fit one array. Callers throw
    /// <see cref="TooManyRows"/> when not, so that a size whose int product wraps is an ArgumentException naming the
    /// sizes rather than an OverflowException or a wrong-length buffer.
    /// </summary>
    internal bool RowsFit(long rows) => (Int128)rows * WidestRow <= Array.MaxLength;

    internal ArgumentOutOfRangeException TooManyRows(long rows, string parameterName, object actualValue, string what) =>
        new(parameterName, actualValue,
            $"{what}: {WidestLayer} needs {rows} rows of {WidestRow} = {(Int128)rows * WidestRow} values in one buffer, more than an array holds ({Array.MaxLength}).");

    public int InputFeatures { get; }
    public int Seed { get; }
    public LayerShape OutputShape { get; }
    public int OutputFeatures => OutputShape.Features;
    public IReadOnlyList<Layer<T>> Layers => layers;
    public IReadOnlyList<NamedParameter<T>> NamedParameters => parameters;
    public IEnumerable<Parameter<T>> Parameters => parameters.Select(p => p.Parameter);
    public long ParameterCount => parameters.Sum(p => (long)p.Parameter.Length);

    /// <summary>Whether any parameter carries a <see cref="Parameter{T}.Regularizer"/>.</summary>
    public bool HasRegularizers => parameters.Any(p => p.Parameter.Regularizer is not null);

    /// <summary>
    /// The weight penalty Σ penalty(w) over the given parameters that carry a regularizer (Keras' <c>sum(model.losses)</c>
    /// for the weight regularizers; (R1) in docs/math-losses-optimizers.md), in double. <paramref name="over"/>: the
    /// parameters trained (Keras regularizes only trainable weights; a frozen one adds nothing); null for all of the
    /// model's. Allocates nothing (Fit calls it every batch).
    /// </summary>
    public double RegularizationPenalty(IReadOnlyList<Parameter<T>>? over = null)
    {
        double penalty = 0;
        int count = over?.Count ?? parameters.Count;
        for (int k = 0; k < count; k++)
        {
            Parameter<T> p = over is null ? parameters[k].Parameter : over[k];
            if (p.Regularizer is { } regularizer) penalty += regularizer.Penalty<T>(p.Value);
        }
        return penalty;
    }

    /// <summary>
    /// Adds each regularized parameter's penalty gradient into its <see cref="Parameter{T}.Gradient"/> ((R2) in
    /// docs/math-losses-optimizers.md): after <see cref="Backward"/>, before clipping and the optimizer's step, as Keras
    /// differentiates the loss with the penalty added. <paramref name="over"/> as in <see cref="RegularizationPenalty"/>.
    /// </summary>
    public void AddRegularizationGradients(IReadOnlyList<Parameter<T>>? over = null)
    {
        int count = over?.Count ?? parameters.Count;
        for (int k = 0; k < count; k++)
        {
            Parameter<T> p = over is null ? parameters[k].Parameter : over[k];
            p.Regularizer?.AddGradient<T>(p.Value, p.Gradient);
        }
    }

    /// <summary>Whether any parameter carries a <see cref="Parameter{T}.Constraint"/>.</summary>
    public bool HasConstraints => parameters.Any(p => p.Parameter.Constraint is not null);

    /// <summary>
    /// Projects each constrained parameter's values in place ((C1)–(C4) in docs/math-losses-optimizers.md), as Keras'
    /// optimizer does after every update. <paramref name="over"/>: the parameters trained (Keras constrains the trainable
    /// variables it updated); null for all of the model's.
    /// </summary>
    public void ApplyConstraints(IReadOnlyList<Parameter<T>>? over = null)
    {
        int count = over?.Count ?? parameters.Count;
        for (int k = 0; k < count; k++)
        {
            Parameter<T> p = over is null ? parameters[k].Parameter : over[k];
            p.Constraint?.Apply<T>(p.Value, p.Shape);
        }
    }

    /// <summary>
    /// Inference-side check of <see cref="Forward"/>, and of the inference plans and streaming sessions serving this model
    /// (<c>InferencePlan.Predict</c>, <c>StreamingSession.Step</c> and <c>StepChunk</c>, read at every call): Allow (default)
    /// passes NaN and infinite inputs through, Reject throws an <see cref="ArgumentException"/> naming the first one. Training checks its data once per Fit instead
    /// (<c>TrainingOptions.NonFiniteInputs</c>, default Reject).
    /// </summary>
    public NonFiniteInputs NonFiniteInputs { get; set; } = NonFiniteInputs.Allow;

    public ModelCache<T> CreateCache() => new(layers.Select(l => l.CreateCache()).ToArray());

    public int OutputLength(int batch, int time)
    {
        Int128 length = OutputShape.IsSequence ? (Int128)batch * time * OutputFeatures : (Int128)batch * OutputFeatures;
        if (!ArraySizes.Fits(length))
            throw ArraySizes.TooLarge(length, $"The model output [B={batch}, {(OutputShape.IsSequence ? $"T={time}, " : "")}{OutputFeatures}]", nameof(batch));
        return (int)length;
    }

    /// <summary>
    /// Runs every layer. input [B, T, F] with an optional mask [B, T]; returns the output [B, T, O] or [B, O], a view into
    /// the cache valid until the next call with that cache.
    /// </summary>
    public ReadOnlySpan<T> Forward(SequenceBatch<T> input, ModelCache<T> cache, ForwardContext context)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.LayerCaches.Length != layers.Count) throw new ArgumentException("This cache was created by another model.", nameof(cache));
        Int128 expected = (Int128)input.Batch * input.Time * InputFeatures;   // three ints: an int product can wrap back to the length
        if (input.Data.Length != expected)
            throw new ArgumentException($"Model input must be [B={input.Batch}, T={input.Time}, F={InputFeatures}] ({expected} values), got {input.Data.Length}.", nameof(input));
        if (!RowsFit((long)input.Batch * input.Time))
            throw TooManyRows((long)input.Batch * input.Time, nameof(input), input.Data.Length, $"A batch [B={input.Batch}, T={input.Time}]");
        // A mask row with no valid step is allowed, as in Keras: its recurrent outputs are the initial state (zeros).
        if (NonFiniteInputs == NonFiniteInputs.Reject) NonFiniteCheck.Require(input.Data, input.Time, InputFeatures, nameof(input), NonFiniteCheck.ModelOption);
        cache.Prepare(this, input.Batch, input.Time, !input.Mask.IsEmpty);
        if (!input.Mask.IsEmpty) input.Mask.CopyTo(cache.Mask);
        ReadOnlySpan<T> current = input.Data;
        ReadOnlySpan<bool> mask = input.Mask.IsEmpty ? default : cache.Mask;
        int maskSource = input.Mask.IsEmpty ? NoMask : InputMask;
        for (int k = 0; k < layers.Count; k++)
        {
            Span<T> output = cache.Activations[k];
            layers[k].Forward(new SequenceBatch<T>(current, input.Batch, input.Time, mask), output, cache.LayerCaches[k], context);
            current = output;
            // A Masking layer's own mask replaces the one it received (Keras' compute_mask); other layers pass theirs on
            // while they return sequences.
            if (layers[k] is Masking<T> masking) { mask = masking.OutputMask(cache.LayerCaches[k]); maskSource = k; }
            else if (!layers[k].PropagatesMask) { mask = default; maskSource = NoMask; }
        }
        cache.OutputMaskSource = maskSource;
        cache.Forwarded = true;
        return current;
    }

    private const int NoMask = -1, InputMask = -2;

    /// <summary>
    /// The mask [B, T] on the output of the last <see cref="Forward"/> on <paramref name="cache"/> (Keras' <c>_keras_mask</c>
    /// of y_pred): the mask passed in, or the last Masking layer's, carried by every layer after it while they return
    /// sequences; empty when the output is one vector per sequence or no mask was in use. A loss on sequence outputs
    /// leaves the masked steps out.
    /// </summary>
    public ReadOnlySpan<bool> OutputMask(ModelCache<T> cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (!cache.Forwarded) throw new InvalidOperationException("OutputMask called before Forward on this cache.");
        return cache.OutputMaskSource switch
        {
            NoMask => default,
            InputMask => cache.Mask,
            int k => ((Masking<T>)layers[k]).OutputMask(cache.LayerCaches[k]),
        };
    }

    /// <summary>Adds parameter gradients for dL/d(output); adds dL/d(input) into inputGradient when it is not empty.</summary>
    /// <param name="outputGradient">dL/d(output), the shape of the last Forward's output.</param>
    /// <param name="cache">The cache of that Forward.</param>
    /// <param name="inputGradient">Receives dL/d(input) when not empty.</param>
    /// <param name="activityRegularization">Also differentiate the layers' activity penalties (<see cref="ActivityPenalty"/>,
    /// Keras' activity_regularizer): each regularized layer's output gradient gets (R2) of its output, divided by the batch
    /// size, before the layer's backward pass. Fit passes true when the model has such layers; false (default) gives the
    /// gradient of Σ outputGradient · output alone.</param>
    public void Backward(ReadOnlySpan<T> outputGradient, ModelCache<T> cache, Span<T> inputGradient = default, bool activityRegularization = false)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (!cache.Forwarded) throw new InvalidOperationException("Backward called before Forward on this cache.");
        if (outputGradient.Length != cache.Activations[^1].Length)
            throw new ArgumentException($"Output gradient must hold {cache.Activations[^1].Length} values, got {outputGradient.Length}.", nameof(outputGradient));
        ReadOnlySpan<T> upstream = outputGradient;
        for (int k = layers.Count - 1; k >= 0; k--)
        {
            if (activityRegularization && layers[k].ActivityRegularizer is { } activity)
            {
                // The last layer's upstream is the caller's: copied into the cache's spare buffer of its shape first.
                Span<T> own = cache.Gradients[k];   // the upstream of layer k: the downstream of layer k + 1, or spare for the last
                if (k == layers.Count - 1) outputGradient.CopyTo(own);
                activity.AddGradient<T>(cache.Activations[k], own, 1.0 / cache.Batch);
                upstream = own;
            }
            Span<T> downstream = k > 0 ? cache.Gradients[k - 1] : inputGradient;
            if (k > 0) downstream.Clear();
            layers[k].Backward(upstream, cache.LayerCaches[k], downstream);
            upstream = downstream;
        }
    }

    /// <summary>Whether any layer has an <see cref="Layer{T}.ActivityRegularizer"/>.</summary>
    public bool HasActivityRegularizers => layers.Any(layer => layer.ActivityRegularizer is not null);

    /// <summary>
    /// Σ over the layers with an <see cref="Layer{T}.ActivityRegularizer"/> of penalty(output) / B ((R3) in
    /// docs/math-losses-optimizers.md), over the outputs of the last <see cref="Forward"/> on <paramref name="cache"/>:
    /// Keras' activity regularization (layers/layer.py <c>__call__</c>: the penalty of each output divided by its batch
    /// size, added to the layer's losses in training and evaluation alike).
    /// </summary>
    public double ActivityPenalty(ModelCache<T> cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (!cache.Forwarded) throw new InvalidOperationException("ActivityPenalty called before Forward on this cache.");
        double penalty = 0;
        for (int k = 0; k < layers.Count; k++)
            if (layers[k].ActivityRegularizer is { } activity) penalty += activity.Penalty<T>(cache.Activations[k]) / cache.Batch;
        return penalty;
    }

    public void ZeroGradients()
    {
        foreach (NamedParameter<T> p in parameters) p.Parameter.ZeroGradient();
    }

    /// <summary>A table like Keras' model.summary(): layer, output shape, parameter count.</summary>
    public string Summary()
    {
        var text = new StringBuilder();
        text.AppendLine($"{"Layer (type)",-44}{"Output Shape",-20}{"Param #",12}");
        text.AppendLine(new string('=', 76));
        text.AppendLine($"{"input (Input)",-44}{$"(None, None, {InputFeatures})",-20}{0,12}");
        foreach (Layer<T> layer in layers)
        {
            LayerShape shape = layer.OutputShape!.Value;
            string outShape = shape.IsSequence ? $"(None, None, {shape.Features})" : $"(None, {shape.Features})";
            long count = layer.Parameters.Sum(p => (long)p.Length);
            text.AppendLine($"{$"{layer.Name} ({Describe(layer)})",-44}{outShape,-20}{count,12:N0}");
        }
        text.AppendLine(new string('=', 76));
        text.AppendLine($"Total params: {ParameterCount:N0}");
        return text.ToString();
    }

    private static string Describe(Layer<T> layer) => layer switch
    {
        Bidirectional<T> bi => $"Bidirectional(LSTM{NormSuffix(bi.Forwards)})",
        Lstm<T> lstm => $"LSTM{NormSuffix(lstm)}",
        Dense<T> { TimeDistributed: true } => "TimeDistributed",
        Dense<T> => "Dense",
        LayerNorm<T> => "LayerNormalization",
        Dropout<T> => "Dropout",
        Masking<T> => "Masking",
        _ => layer.GetType().Name,
    };

    private static string NormSuffix(Lstm<T> lstm) => lstm.CellNormalization.IsNone ? "" : ", cell LN";
}

/// <summary>A parameter with its model-level name and the layer that owns it.</summary>
public sealed record NamedParameter<T>(string Name, Layer<T> Layer, Parameter<T> Parameter) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>Per-call buffers of a model: each layer's cache, its output and the gradient at its output.</summary>
public sealed class ModelCache<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal ModelCache(LayerCache[] layerCaches)
    {
        LayerCaches = layerCaches;
        Activations = new T[layerCaches.Length][];
        Gradients = new T[layerCaches.Length][];
        for (int k = 0; k < layerCaches.Length; k++) { Activations[k] = Array.Empty<T>(); Gradients[k] = Array.Empty<T>(); }
    }

    internal LayerCache[] LayerCaches { get; }
    internal T[][] Activations { get; }
    internal T[][] Gradients { get; }
    internal bool[] Mask = Array.Empty<bool>();
    /// <summary>Where the last Forward's output mask is (see <see cref="Sequential{T}.OutputMask"/>).</summary>
    internal int OutputMaskSource = -1;
    internal bool Forwarded;
    /// <summary>The batch size of the last Forward (Keras divides an activity penalty by it).</summary>
    internal int Batch;

    internal void Prepare(Sequential<T> model, int batch, int time, bool masked)
    {
        Forwarded = false;
        Batch = batch;
        for (int k = 0; k < LayerCaches.Length; k++)
        {
            int length = model.Layers[k].OutputLength(batch, time);
            if (Activations[k].Length != length) { Activations[k] = new T[length]; Gradients[k] = new T[length]; }
        }
        if (masked && Mask.Length != batch * time) Mask = new bool[batch * time];
    }
}
