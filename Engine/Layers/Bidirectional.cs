using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

/// <summary>How a Bidirectional layer merges its two directions (Keras merge_mode).</summary>
public enum MergeMode
{
    Concat,
    Sum,
    Mul,
    Ave,
}

/// <summary>
/// Keras' Bidirectional(LSTM): the given LSTM runs forward, a separately weighted copy (goBackwards) runs backward.
/// returnSequences: the backward output is flipped back so step t lines up, forward half first (concat). Otherwise the
/// backward half is its output after reaching x[0]. With masks the backward copy reverses the mask too, so for
/// right-padded batches it reverses only the unpadded part. The backward copy's parameters carry PyTorch's "_reverse"
/// suffix. Equations (BD1)–(BD2).
/// </summary>
public sealed partial class Bidirectional<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Parameter<T>> parameters = new();

    public Bidirectional(Lstm<T> layer, MergeMode mergeMode = MergeMode.Concat, bool parallelDirections = true, string name = "bidirectional") : base(name)
    {
        ArgumentNullException.ThrowIfNull(layer);
        if (!Enum.IsDefined(mergeMode)) throw new ArgumentOutOfRangeException(nameof(mergeMode), mergeMode, "Unknown merge mode.");
        if (layer.GoBackwards) throw new ArgumentException("Bidirectional takes the forward LSTM; it builds the goBackwards copy itself.", nameof(layer));
        Forwards = layer;
        // Keras: with return_sequences the wrapped layers output zeros at masked steps (zero_output_for_mask).
        layer.ZeroOutputForMask = layer.ReturnSequences;
        Backwards = new Lstm<T>(layer.Units, layer.ReturnSequences, goBackwards: true, layer.Dropout, layer.RecurrentDropout, layer.CellNormalization,
            layer.Name + "_reverse", zeroOutputForMask: layer.ReturnSequences)
        { ParameterSuffix = "_reverse" };
        MergeMode = mergeMode;
        ParallelDirections = parallelDirections;
    }

    public Lstm<T> Forwards { get; }
    public Lstm<T> Backwards { get; }
    public MergeMode MergeMode { get; }
    /// <summary>Run the two directions on two threads at once (training and batch inference).</summary>
    public bool ParallelDirections { get; set; }

    /// <summary>
    /// Inference plans with <see cref="ParallelDirections"/>: the direction done first takes the second half of the other's
    /// batch rows for its last steps (the same bits; on by default, off for benchmarks and tests that compare).
    /// </summary>
    internal bool BalanceDirections { get; set; } = true;
    public int Units => Forwards.Units;
    public override IReadOnlyList<Parameter<T>> Parameters => parameters;

    protected override LayerShape BuildCore(LayerShape input, Random random)
    {
        Forwards.Build(input, random);
        Backwards.Build(input, random);
        parameters.Clear();
        parameters.AddRange(Forwards.Parameters);
        parameters.AddRange(Backwards.Parameters);
        int features = MergeMode == MergeMode.Concat ? 2 * Units : Units;
        return Forwards.ReturnSequences ? LayerShape.Sequence(features) : LayerShape.Vector(features);
    }

    public override LayerCache CreateCache() => new BidirectionalCache<T>((LstmCache<T>)Forwards.CreateCache(), (LstmCache<T>)Backwards.CreateCache());

    // input [B, T, F]; output [B, T, M] or [B, M] with M = 2H (concat) or H.
    public override void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context)
    {
        CheckInput(input, output);
        var c = cache as BidirectionalCache<T> ?? throw new ArgumentException($"Bidirectional '{Name}' needs a BidirectionalCache.", nameof(cache));
        int steps = Forwards.ReturnSequences ? input.Batch * input.Time : input.Batch, h = Units;
        c.Prepare(steps * h, input.Batch, input.Time);
        c.PrepareInput(input.Data.Length);
        Forwards.SplitProducts = Backwards.SplitProducts = !ParallelDirections;
        // Each direction draws its dropout masks from its own seeded stream, so the result does not depend on which
        // thread runs first. The streams live in the cache and are reseeded each call (new Random(seed)'s stream,
        // without allocating one).
        Random? forwardRandom = context.Training ? c.ForwardDropout.Reseed(context.Random!.Next()) : null;
        Random? backwardRandom = context.Training ? c.BackwardDropout.Reseed(context.Random!.Next()) : null;
        if (ParallelDirections)
        {
            // Each direction owns its cache and output.
            input.Data.CopyTo(c.InputCopy);
            bool hasMask = !input.Mask.IsEmpty;
            if (hasMask) input.Mask.CopyTo(c.MaskCopy);
            DirectionPair job = c.Directions ??= new DirectionPair(c);
            job.SetForward(this, input.Batch, input.Time, hasMask, context.Training, forwardRandom, backwardRandom);
            PairedWork.Run(job);
        }
        else
        {
            Forwards.Forward(input, c.ForwardOutput, c.ForwardCache, new ForwardContext(context.Training, forwardRandom));
            Backwards.Forward(input, c.BackwardOutput, c.BackwardCache, new ForwardContext(context.Training, backwardRandom));
        }

        ReadOnlySpan<T> forwardOut = c.ForwardOutput, backwardOut = c.BackwardOutput;
        int m = OutputShape!.Value.Features;
        for (int b = 0; b < input.Batch; b++)
        {
            int rowsPerSample = Forwards.ReturnSequences ? input.Time : 1;
            for (int t = 0; t < rowsPerSample; t++)
            {
                int row = b * rowsPerSample + t;
                int reversedRow = Forwards.ReturnSequences ? b * input.Time + (input.Time - 1 - t) : row;    // (BD1) flip back
                ReadOnlySpan<T> fRow = forwardOut.Slice(row * h, h), bRow = backwardOut.Slice(reversedRow * h, h);
                Span<T> outRow = output.Slice(row * m, m);
                switch (MergeMode)                                                                             // (BD2)
                {
                    case MergeMode.Concat: fRow.CopyTo(outRow); bRow.CopyTo(outRow.Slice(h)); break;
                    case MergeMode.Sum: TensorPrimitives.Add(fRow, bRow, outRow); break;
                    case MergeMode.Mul: TensorPrimitives.Multiply(fRow, bRow, outRow); break;
                    case MergeMode.Ave: TensorPrimitives.Add(fRow, bRow, outRow); TensorPrimitives.Multiply(outRow, T.CreateTruncating(0.5), outRow); break;
                }
            }
        }
    }

    public override void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient)
    {
        var c = cache as BidirectionalCache<T> ?? throw new ArgumentException($"Bidirectional '{Name}' needs a BidirectionalCache.", nameof(cache));
        int h = Units, m = OutputShape!.Value.Features;
        int rowsPerSample = Forwards.ReturnSequences ? c.Time : 1, rows = c.Batch * rowsPerSample;
        if (outputGradient.Length != rows * m)
            throw new ArgumentException($"Bidirectional '{Name}': output gradient must hold {rows * m} values, got {outputGradient.Length}.", nameof(outputGradient));
        Span<T> dForward = c.ForwardGradient, dBackward = c.BackwardGradient;
        T half = T.CreateTruncating(0.5);
        for (int b = 0; b < c.Batch; b++)
            for (int t = 0; t < rowsPerSample; t++)
            {
                int row = b * rowsPerSample + t;
                int reversedRow = Forwards.ReturnSequences ? b * c.Time + (c.Time - 1 - t) : row;
                ReadOnlySpan<T> dOut = outputGradient.Slice(row * m, m);
                Span<T> dF = dForward.Slice(row * h, h), dB = dBackward.Slice(reversedRow * h, h);
                switch (MergeMode)
                {
                    case MergeMode.Concat: dOut.Slice(0, h).CopyTo(dF); dOut.Slice(h, h).CopyTo(dB); break;
                    case MergeMode.Sum: dOut.CopyTo(dF); dOut.CopyTo(dB); break;
                    case MergeMode.Mul:
                        TensorPrimitives.Multiply(dOut, c.BackwardOutput.AsSpan(reversedRow * h, h), dF);
                        TensorPrimitives.Multiply(dOut, c.ForwardOutput.AsSpan(row * h, h), dB);
                        break;
                    case MergeMode.Ave: TensorPrimitives.Multiply(dOut, half, dF); TensorPrimitives.Multiply(dOut, half, dB); break;
                }
            }
        Forwards.SplitProducts = Backwards.SplitProducts = !ParallelDirections;
        // Each direction writes its own input gradient and the sum is formed after both finish, in the same order
        // whether or not the directions ran in parallel, so the result is bitwise the same either way.
        bool withInputGradient = !inputGradient.IsEmpty;
        if (withInputGradient)
        {
            Array.Clear(c.ForwardInputGradient);
            Array.Clear(c.BackwardInputGradient);
        }
        DirectionPair job = c.Directions ??= new DirectionPair(c);
        job.SetBackward(this, withInputGradient);
        if (ParallelDirections) PairedWork.Run(job);
        else { job.RunPart(0); job.RunPart(1); }
        if (!withInputGradient) return;
        TensorPrimitives.Add(inputGradient, c.ForwardInputGradient, inputGradient);
        TensorPrimitives.Add(inputGradient, c.BackwardInputGradient, inputGradient);
    }

    /// <summary>
    /// The two directions of a training forward or backward as one job for <see cref="PairedWork"/>: part 0 the forward
    /// LSTM, part 1 the backward copy, each reading the cache's input copy and writing its own half of the cache.
    /// Owned by the cache, so a call allocates nothing for the hand-off.
    /// </summary>
    internal sealed class DirectionPair(BidirectionalCache<T> cache) : IPairedJob
    {
        private Bidirectional<T>? layer;
        private bool backward, hasMask, training, withInputGradient;
        private int batch, time;
        private Random? forwardRandom, backwardRandom;

        public void SetForward(Bidirectional<T> owner, int batchSize, int steps, bool withMask, bool isTraining, Random? forwardDropout, Random? backwardDropout)
        {
            layer = owner; backward = false; batch = batchSize; time = steps; hasMask = withMask; training = isTraining;
            forwardRandom = forwardDropout; backwardRandom = backwardDropout;
        }

        public void SetBackward(Bidirectional<T> owner, bool inputGradient)
        {
            layer = owner; backward = true; withInputGradient = inputGradient;
            forwardRandom = backwardRandom = null;
        }

        public void RunPart(int part)
        {
            Lstm<T> lstm = part == 0 ? layer!.Forwards : layer!.Backwards;
            LstmCache<T> lstmCache = part == 0 ? cache.ForwardCache : cache.BackwardCache;
            if (!backward)
            {
                var input = new SequenceBatch<T>(cache.InputCopy, batch, time, hasMask ? cache.MaskCopy : default);
                lstm.Forward(input, part == 0 ? cache.ForwardOutput : cache.BackwardOutput, lstmCache,
                    new ForwardContext(training, part == 0 ? forwardRandom : backwardRandom));
            }
            else
            {
                Span<T> inputGradient = !withInputGradient ? default : part == 0 ? cache.ForwardInputGradient : cache.BackwardInputGradient;
                lstm.Backward(part == 0 ? cache.ForwardGradient : cache.BackwardGradient, lstmCache, inputGradient);
            }
        }
    }
}

public sealed class BidirectionalCache<T> : LayerCache where T : unmanaged, IFloatingPointIeee754<T>
{
    internal readonly LstmCache<T> ForwardCache, BackwardCache;
    internal int Batch, Time;
    internal T[] ForwardOutput = Array.Empty<T>(), BackwardOutput = Array.Empty<T>(), ForwardGradient = Array.Empty<T>(), BackwardGradient = Array.Empty<T>();
    internal T[] InputCopy = Array.Empty<T>(), ForwardInputGradient = Array.Empty<T>(), BackwardInputGradient = Array.Empty<T>();
    internal bool[] MaskCopy = Array.Empty<bool>();
    internal Bidirectional<T>.DirectionPair? Directions;   // the two directions as one PairedWork job (created on first use)
    internal readonly ReseedableRandom ForwardDropout = new(), BackwardDropout = new();   // each direction's dropout stream, reseeded per training call

    internal BidirectionalCache(LstmCache<T> forwardCache, LstmCache<T> backwardCache)
    {
        ForwardCache = forwardCache;
        BackwardCache = backwardCache;
    }

    internal void Prepare(int outputLength, int batch, int time)
    {
        Batch = batch; Time = time;
        if (ForwardOutput.Length != outputLength)
        {
            ForwardOutput = new T[outputLength]; BackwardOutput = new T[outputLength];
            ForwardGradient = new T[outputLength]; BackwardGradient = new T[outputLength];
        }
        if (MaskCopy.Length != batch * time) MaskCopy = new bool[batch * time];
    }

    internal void PrepareInput(int length)
    {
        if (InputCopy.Length != length) { InputCopy = new T[length]; ForwardInputGradient = new T[length]; BackwardInputGradient = new T[length]; }
    }
}
