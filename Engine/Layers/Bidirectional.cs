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
        // Keras wraps a fresh copy of the layer; this wraps the instance, which must then be no one else's: another model's
        // LSTM would have its zero_output_for_mask set here and its weights re-initialized when this is built.
        if (layer.Owner is not null)
            throw new ArgumentException($"LSTM '{IO.Echo.Name(layer.Name)}' already belongs to another model or Bidirectional: expected a new LSTM for each " +
                "Bidirectional (wrapping it would change that model's masking and re-initialize its weights).", nameof(layer));
        layer.Owner = this;
        Forwards = layer;
        // Keras: with return_sequences the wrapped layers output zeros at masked steps (zero_output_for_mask).
        layer.ZeroOutputForMask = layer.ReturnSequences;
        Backwards = new Lstm<T>(layer.Units, layer.ReturnSequences, goBackwards: true, layer.Dropout, layer.RecurrentDropout, layer.CellNormalization,
            layer.Name + "_reverse", zeroOutputForMask: layer.ReturnSequences)
        {
            ParameterSuffix = "_reverse",
            // Keras builds the backward layer from the forward one's config: the same regularizers on both directions.
            KernelRegularizer = layer.KernelRegularizer, RecurrentRegularizer = layer.RecurrentRegularizer, BiasRegularizer = layer.BiasRegularizer,
            KernelConstraint = layer.KernelConstraint, RecurrentConstraint = layer.RecurrentConstraint, BiasConstraint = layer.BiasConstraint,
            // ... and the same initializers (each direction draws its own values, forward first).
            KernelInitializer = layer.KernelInitializer, RecurrentInitializer = layer.RecurrentInitializer, BiasInitializer = layer.BiasInitializer,
            UnitForgetBias = layer.UnitForgetBias,
        };
        MergeMode = mergeMode;
        ParallelDirections = parallelDirections;
    }

    public Lstm<T> Forwards { get; }
    public Lstm<T> Backwards { get; }
    public MergeMode MergeMode { get; }
    /// <summary>Run the two directions on two threads at once (training and batch inference).</summary>
    public bool ParallelDirections { get; set; }

    /// <summary>
    /// With <see cref="ParallelDirections"/>, the core done first helps the other direction. Inference plans: it takes the
    /// second half of the other's batch rows for its last steps; at batch 1 (one row, nothing to hand over) in a plan that
    /// packed W once, the core whose direction has been the faster takes the input projection of the other's last steps
    /// (ProjectionShare). Training: it takes the second half of the other's batch rows for the steps left of its forward
    /// or backward time loop (the backward one for the plain cell only: the cell LayerNorms sum their γ and β gradients
    /// over the rows inside the loop), then row blocks of the other's weight- and input-gradient products after its
    /// backward loop (SharedProduct). The same bits either way; on by default, off for benchmarks and tests that compare.
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
    public override unsafe void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context)
    {
        CheckInput(input, output);
        var c = cache as BidirectionalCache<T> ?? throw new ArgumentException($"Bidirectional '{Name}' needs a BidirectionalCache.", nameof(cache));
        int steps = Forwards.ReturnSequences ? input.Batch * input.Time : input.Batch;
        c.Prepare(steps * Units, input.Batch, input.Time);
        c.FilledBy = this;   // and its directions' caches by them
        c.PrepareInput(input.Data.Length);
        Forwards.SplitProducts = Backwards.SplitProducts = !ParallelDirections;
        // Each direction draws its dropout masks from its own seeded stream, so the result does not depend on which
        // thread runs first. The streams live in the cache and are reseeded each call (new Random(seed)'s stream,
        // without allocating one).
        Random? forwardRandom = context.Training ? c.ForwardDropout.Reseed(context.Random!.Next()) : null;
        Random? backwardRandom = context.Training ? c.BackwardDropout.Reseed(context.Random!.Next()) : null;
        if (ParallelDirections)
        {
            // Each direction owns its cache and its output and reads the caller's input where it lies (pinned for the call).
            fixed (T* inputPointer = input.Data)
            fixed (bool* maskPointer = input.Mask)
            fixed (T* outputPointer = output)
            {
                DirectionPair job = c.Directions ??= new DirectionPair(c);
                job.SetForward(this, input.Batch, input.Time, inputPointer, input.Data.Length, maskPointer, input.Mask.Length,
                    context.Training, forwardRandom, backwardRandom);
                PairedWork.Run(job);
                // Then the merge in row halves, one per core (halves of each row would share a cache line where they meet).
                job.SetMerge(outputPointer, output.Length, steps);
                PairedWork.Run(job);
            }
            return;
        }
        Forwards.Forward(input, c.ForwardOutput, c.ForwardCache, new ForwardContext(context.Training, forwardRandom));
        Backwards.Forward(input, c.BackwardOutput, c.BackwardCache, new ForwardContext(context.Training, backwardRandom));
        Merge(c, output, 0, steps);
    }

    // (BD1)–(BD2) for the output rows [first, end) of [rows, M], rows = B·T (sequences) or B.
    private void Merge(BidirectionalCache<T> c, Span<T> output, int first, int end)
    {
        ReadOnlySpan<T> forwardOut = c.ForwardOutput, backwardOut = c.BackwardOutput;
        int h = Units, m = OutputShape!.Value.Features;
        for (int row = first; row < end; row++)
        {
            int reversedRow = row;
            if (Forwards.ReturnSequences)
            {
                int b = row / c.Time, t = row - b * c.Time;
                reversedRow = b * c.Time + (c.Time - 1 - t);                                                  // (BD1) flip back
            }
            MergeRow(forwardOut.Slice(row * h, h), backwardOut.Slice(reversedRow * h, h), output.Slice(row * m, m));
        }
    }

    // (BD2) one output row [M] from the two directions' rows [H] (training and plans).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MergeRow(ReadOnlySpan<T> fRow, ReadOnlySpan<T> bRow, Span<T> outRow)
    {
        switch (MergeMode)
        {
            case MergeMode.Concat: fRow.CopyTo(outRow); bRow.CopyTo(outRow.Slice(fRow.Length)); break;
            case MergeMode.Sum: TensorPrimitives.Add(fRow, bRow, outRow); break;
            case MergeMode.Mul: TensorPrimitives.Multiply(fRow, bRow, outRow); break;
            case MergeMode.Ave: TensorPrimitives.Add(fRow, bRow, outRow); TensorPrimitives.Multiply(outRow, T.CreateTruncating(0.5), outRow); break;
        }
    }

    // (BD2) backward: outputGradient [rows, M] split into each direction's dh (the backward one flipped back to its step
    // order); part 0 or 1 only its own direction's (concat, side by side), −1 both.
    private void SplitGradient(BidirectionalCache<T> c, ReadOnlySpan<T> outputGradient, int part)
    {
        int h = Units, m = OutputShape!.Value.Features;
        int rowsPerSample = Forwards.ReturnSequences ? c.Time : 1;
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
                    case MergeMode.Concat:
                        if (part != 1) dOut.Slice(0, h).CopyTo(dF);
                        if (part != 0) dOut.Slice(h, h).CopyTo(dB);
                        break;
                    case MergeMode.Sum: dOut.CopyTo(dF); dOut.CopyTo(dB); break;
                    case MergeMode.Mul:
                        TensorPrimitives.Multiply(dOut, c.BackwardOutput.AsSpan(reversedRow * h, h), dF);
                        TensorPrimitives.Multiply(dOut, c.ForwardOutput.AsSpan(row * h, h), dB);
                        break;
                    case MergeMode.Ave: TensorPrimitives.Multiply(dOut, half, dF); TensorPrimitives.Multiply(dOut, half, dB); break;
                }
            }
    }

    public override unsafe void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient)
    {
        var c = cache as BidirectionalCache<T> ?? throw new ArgumentException($"Bidirectional '{Name}' needs a BidirectionalCache.", nameof(cache));
        if (!c.ForwardCache.Forwarded || !c.BackwardCache.Forwarded)
            throw new InvalidOperationException($"Bidirectional '{Name}': Backward called before Forward on this cache.");
        RequireFilledByThis(c);   // another Bidirectional's cache would be read past or short of its buffers in SplitGradient
        int m = OutputShape!.Value.Features;
        int rowsPerSample = Forwards.ReturnSequences ? c.Time : 1, rows = c.Batch * rowsPerSample;
        if (outputGradient.Length != rows * m)
            throw new ArgumentException($"Bidirectional '{Name}': output gradient must hold {rows * m} values, got {outputGradient.Length}.", nameof(outputGradient));
        if (!inputGradient.IsEmpty && inputGradient.Length != c.ForwardInputGradient.Length)
            throw new ArgumentException($"Bidirectional '{Name}': input gradient must hold {c.ForwardInputGradient.Length} values, got {inputGradient.Length}.", nameof(inputGradient));
        Forwards.SplitProducts = Backwards.SplitProducts = !ParallelDirections;
        // Each direction stores its own input gradient and the sum, (dx + dx_forward) + dx_backward, is formed after both
        // finish, the same way whether or not the directions ran in parallel, so the result is bitwise the same either way.
        bool withInputGradient = !inputGradient.IsEmpty;
        bool concat = MergeMode == MergeMode.Concat;
        if (!ParallelDirections || !concat) SplitGradient(c, outputGradient, -1);
        DirectionPair job = c.Directions ??= new DirectionPair(c);
        fixed (T* gradientPointer = outputGradient)
        fixed (T* inputGradientPointer = inputGradient)
        {
            job.SetBackward(this, gradientPointer, outputGradient.Length, ParallelDirections && concat, withInputGradient);
            if (ParallelDirections) PairedWork.Run(job);
            else { job.RunPart(0); job.RunPart(1); }
            if (!withInputGradient) return;
            // Row halves of the sum, one per core when the directions run side by side.
            job.SetSum(inputGradientPointer, inputGradient.Length);
            if (ParallelDirections) PairedWork.Run(job);
            else job.RunPart(-1);
        }
    }

    /// <summary>
    /// The two directions of a training forward or backward as one job for <see cref="PairedWork"/>: part 0 the forward
    /// LSTM, part 1 the backward copy, each reading the caller's input (pinned for the call) and writing its own half of
    /// the cache; then the merged output (forward) or the input gradient's sum (backward) in row halves. Owned by the
    /// cache, so a call allocates nothing for the hand-off.
    /// </summary>
    internal sealed unsafe class DirectionPair(BidirectionalCache<T> cache) : IPairedJob
    {
        private enum Phase { Forward, Merge, Backward, Sum }

        private Bidirectional<T>? layer;
        private Phase phase;
        private bool training, withInputGradient, splitInParts, balance;
        private int batch, time, rows, inputLength, maskLength, outputLength;
        private T* input, output;
        private bool* mask;
        private Random? forwardRandom, backwardRandom;

        public void SetForward(Bidirectional<T> owner, int batchSize, int steps, T* inputData, int inputValues, bool* inputMask, int maskValues,
            bool isTraining, Random? forwardDropout, Random? backwardDropout)
        {
            layer = owner; phase = Phase.Forward; batch = batchSize; time = steps; training = isTraining;
            input = inputData; inputLength = inputValues; mask = inputMask; maskLength = maskValues;
            forwardRandom = forwardDropout; backwardRandom = backwardDropout;
            balance = owner.ParallelDirections && owner.BalanceDirections;
            cache.LoopBalance.Reset();
        }

        // The merged output [rows, M], after SetForward's run.
        public void SetMerge(T* merged, int mergedValues, int outputRows)
        {
            phase = Phase.Merge; output = merged; outputLength = mergedValues; rows = outputRows;
        }

        // gradient: the layer's output gradient; splitInParts: each part copies its own half of it first (concat).
        public void SetBackward(Bidirectional<T> owner, T* gradient, int gradientValues, bool splitInParts, bool inputGradient)
        {
            layer = owner; phase = Phase.Backward; withInputGradient = inputGradient; this.splitInParts = splitInParts;
            input = gradient; inputLength = gradientValues;
            forwardRandom = backwardRandom = null;
            balance = owner.ParallelDirections && owner.BalanceDirections;
            cache.LoopBalance.Reset();
            cache.ForwardShare.Reset();
            cache.BackwardShare.Reset();
        }

        // The input gradient [R, F] to add both directions' into.
        public void SetSum(T* inputGradient, int values)
        {
            phase = Phase.Sum; output = inputGradient; outputLength = values;
        }

        /// <summary>Part 0, part 1, or −1 for the whole of a sum (one thread).</summary>
        public void RunPart(int part)
        {
            Bidirectional<T> owner = layer!;
            if (phase == Phase.Sum)
            {
                int features = owner.InputShape!.Value.Features, rows = outputLength / features;
                int first = part == 1 ? rows / 2 : 0, end = part == 0 ? rows / 2 : rows;
                int from = first * features, count = (end - first) * features;
                Elementwise.AddTwo(new Span<T>(output + from, count), cache.ForwardInputGradient.AsSpan(from, count), cache.BackwardInputGradient.AsSpan(from, count));
                return;
            }
            if (phase == Phase.Merge)
            {
                owner.Merge(cache, new Span<T>(output, outputLength), part == 1 ? rows / 2 : 0, part == 0 ? rows / 2 : rows);
                return;
            }
            Lstm<T> lstm = part == 0 ? owner.Forwards : owner.Backwards;
            LstmCache<T> lstmCache = part == 0 ? cache.ForwardCache : cache.BackwardCache;
            // With balance, this direction's time loop and the products after it are open to the other core once that is
            // done with its own direction; then this core offers the same to the other direction.
            lstmCache.LoopBalance = balance ? cache.LoopBalance : null;
            lstmCache.LoopSide = part;
            ReadOnlySpan<bool> inputMask = new(mask, maskLength);
            if (phase == Phase.Forward)
            {
                try
                {
                    var sequence = new SequenceBatch<T>(new ReadOnlySpan<T>(input, inputLength), batch, time, inputMask);
                    lstm.Forward(sequence, part == 0 ? cache.ForwardOutput : cache.BackwardOutput, lstmCache,
                        new ForwardContext(training, part == 0 ? forwardRandom : backwardRandom));
                }
                finally
                {
                    lstmCache.LoopBalance = null;
                }
                if (balance) HelpOtherLoop(owner, part, inputMask);
            }
            else
            {
                SharedProduct<T>? own = balance ? (part == 0 ? cache.ForwardShare : cache.BackwardShare) : null;
                lstmCache.Share = own;
                own?.Start();
                try
                {
                    if (splitInParts) owner.SplitGradient(cache, new ReadOnlySpan<T>(input, inputLength), part);
                    Span<T> inputGradient = !withInputGradient ? default : part == 0 ? cache.ForwardInputGradient : cache.BackwardInputGradient;
                    lstm.Backward(part == 0 ? cache.ForwardGradient : cache.BackwardGradient, ReadOnlySpan<T>.Empty, ReadOnlySpan<T>.Empty, lstmCache,
                        inputGradient, Span<T>.Empty, Span<T>.Empty, overwriteInputGradient: true);
                }
                finally
                {
                    own?.Finish();
                    lstmCache.Share = null;
                    lstmCache.LoopBalance = null;
                }
                if (!balance) return;
                HelpOtherLoop(owner, part, inputMask);
                (part == 0 ? cache.BackwardShare : cache.ForwardShare).Help();
            }
        }

        // This core, done with its direction (part), offers to step the other direction's last rows (DirectionBalance);
        // if that direction hands them over, steps them with the other's cache, output or output gradient.
        private void HelpOtherLoop(Bidirectional<T> owner, int part, ReadOnlySpan<bool> inputMask)
        {
            int other = 1 - part;
            if (!cache.LoopBalance.TryHelp(other, out int fromStep, out int fromRow)) return;
            try
            {
                Lstm<T> lstm = other == 0 ? owner.Forwards : owner.Backwards;
                LstmCache<T> lstmCache = other == 0 ? cache.ForwardCache : cache.BackwardCache;
                if (phase == Phase.Forward)
                    lstm.ForwardRowsFrom(lstmCache, fromStep, fromRow, inputMask, other == 0 ? cache.ForwardOutput : cache.BackwardOutput);
                else
                    lstm.BackwardRowsFrom(lstmCache, fromStep, fromRow, other == 0 ? cache.ForwardGradient : cache.BackwardGradient);
            }
            finally
            {
                cache.LoopBalance.HelperFinished(other);
            }
        }
    }
}

public sealed class BidirectionalCache<T> : LayerCache where T : unmanaged, IFloatingPointIeee754<T>
{
    internal readonly LstmCache<T> ForwardCache, BackwardCache;
    internal int Batch, Time;
    internal T[] ForwardOutput = Array.Empty<T>(), BackwardOutput = Array.Empty<T>(), ForwardGradient = Array.Empty<T>(), BackwardGradient = Array.Empty<T>();
    internal T[] ForwardInputGradient = Array.Empty<T>(), BackwardInputGradient = Array.Empty<T>();
    internal Bidirectional<T>.DirectionPair? Directions;   // the two directions as one PairedWork job (created on first use)
    internal readonly ReseedableRandom ForwardDropout = new(), BackwardDropout = new();   // each direction's dropout stream, reseeded per training call
    internal readonly SharedProduct<T> ForwardShare = new(), BackwardShare = new();       // each direction's backward products, open to the other core
    internal readonly DirectionBalance LoopBalance = new();                                // rows of each direction's time loops, open to the other core

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
    }

    internal void PrepareInput(int length)
    {
        if (ForwardInputGradient.Length != length) { ForwardInputGradient = new T[length]; BackwardInputGradient = new T[length]; }
    }
}
