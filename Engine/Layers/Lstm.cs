using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

/// <summary>
/// A Keras-style LSTM layer (gate order i, f, g, o) with optional LayerNorm inside the cell, masks, dropout and
/// recurrent dropout as Keras 3's LSTMCell applies them: with recurrent dropout, implementation 1 (four input masks and
/// four recurrent masks, one per gate); with input dropout alone, implementation 2 (one input mask shared by the gates).
/// Weights are stored in PyTorch's layout: weight_ih [4H, F], weight_hh [4H, H], one bias [4H] (PyTorch's
/// bias_ih + bias_hh). Forward equations (S1)–(S9), backward (B1)–(B12) in docs/math.md.
/// </summary>
public sealed partial class Lstm<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Parameter<T>> parameters = new();
    private Parameter<T>? weightIh, weightHh, bias;
    private NormParameters<T>? gateNorm, inputNorm, hiddenGateNorm, cellNorm, outputNorm;

    public Lstm(int units, bool returnSequences = false, bool goBackwards = false, double dropout = 0, double recurrentDropout = 0,
        CellNormalization? cellNormalization = null, string name = "lstm", bool zeroOutputForMask = false)
        : base(name)
    {
        ZeroOutputForMask = zeroOutputForMask;
        if (units <= 0) throw new ArgumentOutOfRangeException(nameof(units), units, "LSTM units must be positive.");
        if (units > MaxUnits)
            throw new ArgumentOutOfRangeException(nameof(units), units, $"LSTM units must be at most {MaxUnits}: a row of gates holds 4·units values in one array.");
        CheckRate(nameof(dropout), dropout);
        CheckRate(nameof(recurrentDropout), recurrentDropout);
        CellNormalization = cellNormalization ?? CellNormalization.None;
        CellNormalization.Validate();
        Units = units;
        ReturnSequences = returnSequences;
        GoBackwards = goBackwards;
        Dropout = dropout;
        RecurrentDropout = recurrentDropout;
    }

    /// <summary>The most units an LSTM can have: 4·units gate values must fit an array's length.</summary>
    public const int MaxUnits = int.MaxValue / 4;

    public int Units { get; }
    public bool ReturnSequences { get; }
    public bool GoBackwards { get; }
    public double Dropout { get; }
    public double RecurrentDropout { get; }
    public CellNormalization CellNormalization { get; }
    /// <summary>Keras' kernel_regularizer: the penalty on weight_ih (Keras' kernel); null (default) for none.</summary>
    public WeightRegularizer? KernelRegularizer { get; init; }
    /// <summary>Keras' recurrent_regularizer: the penalty on weight_hh (Keras' recurrent_kernel); null (default) for none.</summary>
    public WeightRegularizer? RecurrentRegularizer { get; init; }
    /// <summary>Keras' bias_regularizer: the penalty on bias; null (default) for none. The cell LayerNorms' γ and β take
    /// none (Keras' LSTM has no such weights, and tf-addons' LayerNormLSTMCell no regularizer for them).</summary>
    public WeightRegularizer? BiasRegularizer { get; init; }
    /// <summary>Keras' kernel_constraint on weight_ih, applied after each optimizer step; null (default) for none.</summary>
    public WeightConstraint? KernelConstraint { get; init; }
    /// <summary>Keras' recurrent_constraint on weight_hh; null (default) for none.</summary>
    public WeightConstraint? RecurrentConstraint { get; init; }
    /// <summary>Keras' bias_constraint on bias; null (default) for none.</summary>
    public WeightConstraint? BiasConstraint { get; init; }
    /// <summary>Keras' kernel_initializer for weight_ih (Keras' kernel (F, 4H): fan_in F, fan_out 4H); null (default) for glorot_uniform.</summary>
    public WeightInitializer? KernelInitializer { get; init; }
    /// <summary>Keras' recurrent_initializer for weight_hh (Keras' recurrent_kernel (H, 4H)); null (default) for orthogonal.</summary>
    public WeightInitializer? RecurrentInitializer { get; init; }
    /// <summary>Keras' bias_initializer; null (default) for zeros. With <see cref="UnitForgetBias"/>, Keras' LSTMCell.build
    /// draws it for the input gate's H values, sets the forget gate's to 1, then draws it for the last 2H (two draws of
    /// shapes (H,) and (2H,), so a VarianceScaling sees fans H and 2H); without, one draw of shape (4H,). 1-D: not
    /// Orthogonal or Identity (Keras raises).</summary>
    public WeightInitializer? BiasInitializer { get => biasInitializer; init => biasInitializer = WeightInitializer.ForVector(value, nameof(BiasInitializer)); }
    private readonly WeightInitializer? biasInitializer;
    /// <summary>Keras' unit_forget_bias: the forget gate's bias starts at 1 (default true).</summary>
    public bool UnitForgetBias { get; init; } = true;

    /// <summary>
    /// Input dropout masks per sample: 4 (one per gate) when recurrent dropout is on, else 1 shared by all gates, as
    /// Keras 3's LSTMCell (<c>if self.recurrent_dropout != 0.0: self.implementation = 1</c>, which draws
    /// <c>dropout_mask_count = 4</c> masks; implementation 2 draws one).
    /// </summary>
    internal int InputMaskCount => RecurrentDropout > 0 ? 4 : 1;

    /// <summary>
    /// Whether the layer may use a second thread: each step's rows (plain cell) or the columns of its products, and the
    /// large products before and after the time loop (bitwise the same result either way). A Bidirectional that
    /// already runs its two directions on the two cores turns it off.
    /// </summary>
    internal bool SplitProducts { get; set; } = true;

    /// <summary>
    /// Keras' zero_output_for_mask: a masked step outputs zeros instead of repeating the previous output (the state is
    /// carried either way); without returnSequences the last output is then zero when the last processing step is
    /// masked, as Keras' last_output. Bidirectional turns it on for both directions when it returns sequences, as Keras
    /// does.
    /// </summary>
    public bool ZeroOutputForMask { get; internal set; }

    /// <summary>Appended to every parameter name ("_reverse" for the backward copy inside a Bidirectional, as PyTorch names it).</summary>
    internal string ParameterSuffix { get; init; } = "";
    public int InputFeatures => InputShape?.Features ?? throw NotBuilt();

    public override IReadOnlyList<Parameter<T>> Parameters => parameters;
    public Parameter<T> WeightIh => weightIh ?? throw NotBuilt();
    public Parameter<T> WeightHh => weightHh ?? throw NotBuilt();
    public Parameter<T> Bias => bias ?? throw NotBuilt();

    private static void CheckRate(string name, double rate)
    {
        if (!(rate >= 0 && rate < 1)) throw new ArgumentOutOfRangeException(name, rate, $"{name} must be in [0, 1).");
    }

    protected override LayerShape BuildCore(LayerShape input, Random random)
    {
        if (!input.IsSequence) throw new ArgumentException($"LSTM '{Name}' needs a sequence input [B, T, F], got {input}.");
        int h = Units, g = 4 * Units, f = input.Features;
        parameters.Clear();
        weightIh = Add(new Parameter<T>("weight_ih" + ParameterSuffix, g, f));
        weightHh = Add(new Parameter<T>("weight_hh" + ParameterSuffix, g, h));
        bias = Add(new Parameter<T>("bias" + ParameterSuffix, g));
        weightIh.Regularizer = KernelRegularizer;
        weightHh.Regularizer = RecurrentRegularizer;
        bias.Regularizer = BiasRegularizer;
        weightIh.Constraint = Constrain(KernelConstraint, weightIh);
        weightHh.Constraint = Constrain(RecurrentConstraint, weightHh);
        bias.Constraint = Constrain(BiasConstraint, bias);
        // Keras' defaults: kernel (F, 4H) glorot_uniform; recurrent_kernel (H, 4H) orthogonal; bias zeros with the forget slice at 1.
        (KernelInitializer ?? WeightInitializer.GlorotUniform()).FillKernel<T>(weightIh.Value, f, g, random);
        (RecurrentInitializer ?? WeightInitializer.Orthogonal()).FillKernel<T>(weightHh.Value, h, g, random);
        WeightInitializer biasFill = BiasInitializer ?? WeightInitializer.Zeros();
        if (UnitForgetBias)
        {
            biasFill.FillVector<T>(bias.Value.AsSpan(0, h), random);
            bias.Value.AsSpan(h, h).Fill(T.One);
            biasFill.FillVector<T>(bias.Value.AsSpan(2 * h, 2 * h), random);
        }
        else biasFill.FillVector<T>(bias.Value, random);

        gateNorm = inputNorm = hiddenGateNorm = cellNorm = outputNorm = null;
        switch (CellNormalization.Gates)
        {
            case GateNormalization.Summed: gateNorm = AddNorm("layernorm_gates", g); break;
            case GateNormalization.Separate:
                inputNorm = AddNorm("layernorm_i", g);
                hiddenGateNorm = AddNorm("layernorm_h", g);
                break;
        }
        if (CellNormalization.CellState != CellStateNormalization.None) cellNorm = AddNorm("layernorm_c", h);
        if (CellNormalization.Hidden) outputNorm = AddNorm("layernorm_out", h);
        return ReturnSequences ? LayerShape.Sequence(h) : LayerShape.Vector(h);
    }

    private Parameter<T> Add(Parameter<T> parameter) { parameters.Add(parameter); return parameter; }

    private NormParameters<T> AddNorm(string prefix, int width)
    {
        var norm = new NormParameters<T>(prefix + ParameterSuffix, width, Cast(CellNormalization.Epsilon));
        parameters.Add(norm.Gamma);
        parameters.Add(norm.Beta);
        return norm;
    }

    public override LayerCache CreateCache() => new LstmCache<T>();

    public override void Forward(SequenceBatch<T> input, Span<T> output, LayerCache cache, ForwardContext context)
        => Forward(input, ReadOnlySpan<T>.Empty, ReadOnlySpan<T>.Empty, output, Span<T>.Empty, Span<T>.Empty, cache, context);

    public override void Backward(ReadOnlySpan<T> outputGradient, LayerCache cache, Span<T> inputGradient)
        => Backward(outputGradient, ReadOnlySpan<T>.Empty, ReadOnlySpan<T>.Empty, cache, inputGradient, Span<T>.Empty, Span<T>.Empty);

    // ---------------------------------------------------------------------------------------------------------------
    // Forward. input [B, T, F] (batch first), mask [B, T]; initialH, initialC [B, H] or empty (zeros);
    // output [B, T, H] (returnSequences; in processing order, so reversed when goBackwards, as Keras) or [B, H];
    // finalH, finalC [B, H] or empty. Processing step s reads input time tIn = goBackwards ? T−1−s : s.
    // ---------------------------------------------------------------------------------------------------------------
    public unsafe void Forward(SequenceBatch<T> input, ReadOnlySpan<T> initialH, ReadOnlySpan<T> initialC, Span<T> output,
        Span<T> finalH, Span<T> finalC, LayerCache cache, ForwardContext context)
    {
        CheckInput(input, output);
        var c = cache as LstmCache<T> ?? throw new ArgumentException($"LSTM '{Name}' needs an LstmCache, got {cache?.GetType().Name ?? "null"}.", nameof(cache));
        int batchSize = input.Batch, time = input.Time, f = InputFeatures, h = Units, g = 4 * h, rows = batchSize * time;
        CheckState(nameof(initialH), initialH.Length, batchSize);
        CheckState(nameof(initialC), initialC.Length, batchSize);
        CheckState(nameof(finalH), finalH.Length, batchSize);
        CheckState(nameof(finalC), finalC.Length, batchSize);

        bool inputDropout = context.Training && Dropout > 0;
        bool recurrentDropout = context.Training && RecurrentDropout > 0;
        c.Prepare(batchSize, time, f, h, inputDropout ? InputMaskCount : 0, recurrentDropout, CellNormalization);
        c.FilledBy = this;
        bool split = SplitProducts;

        // X in processing order, time-major [T, B, F]: step s holds input time tIn, so each step's rows form one block.
        ReadOnlySpan<T> data = input.Data;
        for (int s = 0; s < time; s++)
        {
            int tIn = GoBackwards ? time - 1 - s : s;
            for (int bi = 0; bi < batchSize; bi++) data.Slice((bi * time + tIn) * f, f).CopyTo(c.Input.AsSpan((s * batchSize + bi) * f, f));
        }

        // (S0) dropout masks: per sample, shared across time; four input masks (one per gate) with recurrent dropout,
        // else one shared by the gates (Keras 3's implementations 1 and 2); four recurrent masks.
        if (inputDropout) DrawMasks(c.InputMasks, Dropout, context.Random!);
        if (recurrentDropout) DrawMasks(c.RecurrentMasks, RecurrentDropout, context.Random!);

        // (S1) input projection for all steps as one GEMM (one per input mask with dropout): Ax [T·B, G] = X · Wᵀ.
        // Without separate gate norms it lands in Gates, which then holds Ax + b and takes each step's h·Uᵀ in place.
        ReadOnlySpan<T> w = WeightIh.Value, u = WeightHh.Value, b = Bias.Value;
        Span<T> allGates = c.Gates.AsSpan(0, rows * g), projection = allGates;
        // Without LN_i the bias goes in with the product: the packed product starts each row from b as it stores its
        // first block (Gemm.MultiplyPackedOntoRow, as the inference plans take it), instead of a pass adding b to every
        // row afterwards; W is packed into the buffer U is packed into below.
        bool biasInProduct = !inputDropout && inputNorm is null && c.PackedWeights.Length >= Gemm.PackedLength<T>(f, g);
        if (biasInProduct)
        {
            Gemm.Pack(Transpose.Yes, f, g, w, f, c.PackedWeights);
            Gemm.MultiplyPackedOntoRow(Transpose.No, rows, g, f, c.Input, f, c.PackedWeights, b, projection, g, SplitProducts);
        }
        else if (!inputDropout)
        {
            Gemm.Multiply(Transpose.No, Transpose.Yes, rows, g, f, T.One, c.Input, f, w, f, T.Zero, projection, g, SplitProducts);
        }
        else
        {
            int masks = c.InputMaskCount, columns = g / masks;   // mask k covers gate columns [k·columns, (k+1)·columns)
            // Without LN_i, as above: each mask's W_kᵀ packed (into the buffer U is packed into below) and the product
            // started from b's columns, so the masked rows of X are read where they are (GemmPacked's in-place a) and no
            // pass adds b afterwards. Only for F ≤ KC: the product is then one k block, b + Σ is Σ + b, and the bits are
            // those of the product and the pass below (a wider F keeps them).
            biasInProduct = inputNorm is null && f <= GemmPacked.KC && c.PackedWeights.Length >= Gemm.PackedLength<T>(f, columns);
            for (int k = 0; k < masks; k++)
            {
                // A step's B rows are contiguous and take the B samples' masks in order: one pass per step.
                Span<T> maskedInput = c.MaskedInputs[k];
                ReadOnlySpan<T> stepMasks = c.InputMasks.AsSpan(k * batchSize * f, batchSize * f);
                for (int s = 0; s < time; s++)
                    TensorPrimitives.Multiply(c.Input.AsSpan(s * batchSize * f, batchSize * f), stepMasks, maskedInput.Slice(s * batchSize * f, batchSize * f));
                ReadOnlySpan<T> gateWeights = w.Slice(k * columns * f, columns * f);
                if (biasInProduct)
                {
                    Gemm.Pack(Transpose.Yes, f, columns, gateWeights, f, c.PackedWeights);
                    Gemm.MultiplyPackedOntoRow(Transpose.No, rows, columns, f, maskedInput, f, c.PackedWeights, b.Slice(k * columns, columns),
                        projection.Slice(k * columns), g, SplitProducts);
                }
                else
                    Gemm.Multiply(Transpose.No, Transpose.Yes, rows, columns, f, T.One, maskedInput, f, gateWeights, f, T.Zero,
                        projection.Slice(k * columns), g, SplitProducts);
            }
        }
        if (!biasInProduct)
            for (int r = 0; r < rows; r++)
            {
                // (C2) LN_i of each row of Ax in place (rows are independent of the recurrence) and (S3) + b in the
                // same pass.
                Span<T> row = allGates.Slice(r * g, g);
                if (inputNorm is not null) inputNorm.ForwardRowInPlaceThenAdd(row, b, c.InputNorm, r);
                else TensorPrimitives.Add(row, b, row);
            }

        // U packed once for all steps: Uᵀ [H, G], or per gate U_kᵀ [H, H] with recurrent dropout.
        int panel = recurrentDropout ? Gemm.PackedLength<T>(h, h) : 0;
        if (!recurrentDropout) Gemm.Pack(Transpose.Yes, h, g, u, h, c.PackedWeights);
        else for (int k = 0; k < 4; k++) Gemm.Pack(Transpose.Yes, h, h, u.Slice(k * h * h, h * h), h, c.PackedWeights.AsSpan(k * panel, panel));

        Span<T> hState = c.HiddenStates, cState = c.CellStates;
        if (initialH.IsEmpty) hState.Slice(0, batchSize * h).Clear(); else initialH.CopyTo(hState);
        if (initialC.IsEmpty) cState.Slice(0, batchSize * h).Clear(); else initialC.CopyTo(cState);
        Span<T> lastOutput = c.LastOutput.AsSpan(0, batchSize * h);
        lastOutput.Clear();
        ReadOnlySpan<bool> mask2 = input.Mask;

        // Rows are independent within a step, so a plain cell outside a Bidirectional splits each step's rows (product
        // and gate pass) over two threads, or its product by slivers of U where it can (ClaimsSteps); every row and
        // column is computed as on one thread, so the result is the same bit for bit.
        bool splitRows = SplitRows(batchSize, h);
        if (splitRows && ClaimsSteps(batchSize, h, recurrentDropout))
        {
            fixed (T* outputPointer = output)
            fixed (bool* maskPointer = mask2)
            {
                ClaimedStepJob job = c.ClaimedSteps ??= new ClaimedStepJob();
                job.SetForward(this, c, outputPointer, output.Length, maskPointer, mask2.Length);
                for (job.Step = 0; job.Step < time; job.Step++) job.RunStep();
            }
        }
        else if (!splitRows)
        {
            // In a Bidirectional whose directions run one per core (LoopBalance), the other core, once done with its own
            // direction, may take the rows [rowEnd, B) of the steps left (ForwardRowsFrom). Rows are independent through
            // the loop, so each row gets the same bits on either core.
            DirectionBalance? balance = c.LoopBalance is not null && BalancesRows(batchSize, backward: false) ? c.LoopBalance : null;
            int rowEnd = batchSize;
            balance?.Start(c.LoopSide);
            try
            {
                for (int s = 0; s < time; s++)
                {
                    if (balance is not null && rowEnd == batchSize && balance.TryAccept(c.LoopSide, s, time, batchSize, out int keptRows)) rowEnd = keptRows;
                    ForwardStep(c, s, 0, rowEnd, mask2, output, recurrentDropout, panel, SplitProducts);
                }
            }
            finally
            {
                balance?.Close(c.LoopSide);
            }
            if (rowEnd < batchSize) balance!.WaitForHelper(c.LoopSide);
        }
        else
        {
            fixed (T* outputPointer = output)
            fixed (bool* maskPointer = mask2)
            {
                RowSplitJob job = c.RowSplit ??= new RowSplitJob();
                job.SetForward(this, c, outputPointer, output.Length, maskPointer, mask2.Length, recurrentDropout, panel);
                for (job.Step = 0; job.Step < time; job.Step++) PairedWork.Run(job);
            }
        }
        if (!ReturnSequences) lastOutput.CopyTo(output);
        if (!finalH.IsEmpty) hState.Slice(time * batchSize * h, batchSize * h).CopyTo(finalH);
        if (!finalC.IsEmpty) cState.Slice(time * batchSize * h, batchSize * h).CopyTo(finalC);
        c.Forwarded = true;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Backward. outputGradient like output; dFinalH, dFinalC [B, H] or empty. Adds into inputGradient [B, T, F],
    // dInitialH, dInitialC [B, H] (each may be empty to skip) and every parameter gradient. The gate gradients of all
    // steps are kept ([T, B, G], step order) so dW, dU, db and dX are each one product after the loop.
    // ---------------------------------------------------------------------------------------------------------------
    public void Backward(ReadOnlySpan<T> outputGradient, ReadOnlySpan<T> dFinalH, ReadOnlySpan<T> dFinalC, LayerCache cache,
        Span<T> inputGradient, Span<T> dInitialH, Span<T> dInitialC)
        => Backward(outputGradient, dFinalH, dFinalC, cache, inputGradient, dInitialH, dInitialC, overwriteInputGradient: false);

    // With overwriteInputGradient the input gradient is stored rather than added (what adding into a cleared buffer
    // gives, without the pass that clears it): a Bidirectional's directions each fill a buffer of their own.
    internal unsafe void Backward(ReadOnlySpan<T> outputGradient, ReadOnlySpan<T> dFinalH, ReadOnlySpan<T> dFinalC, LayerCache cache,
        Span<T> inputGradient, Span<T> dInitialH, Span<T> dInitialC, bool overwriteInputGradient)
    {
        var c = cache as LstmCache<T> ?? throw new ArgumentException($"LSTM '{Name}' needs an LstmCache.", nameof(cache));
        if (!c.Forwarded) throw new InvalidOperationException($"LSTM '{Name}': Backward called before Forward on this cache.");
        RequireFilledByThis(c);   // another layer's cache: a smaller one overran its buffers, a larger one gave wrong gradients
        int batchSize = c.Batch, time = c.Time, f = InputFeatures, h = Units, g = 4 * h, rows = batchSize * time;
        int outLength = ReturnSequences ? batchSize * time * h : batchSize * h;
        if (outputGradient.Length != outLength)
            throw new ArgumentException($"LSTM '{Name}': output gradient must hold {outLength} values, got {outputGradient.Length}.", nameof(outputGradient));
        if (!inputGradient.IsEmpty && inputGradient.Length != batchSize * time * f)
            throw new ArgumentException($"LSTM '{Name}': input gradient must be [B={batchSize}, T={time}, F={f}], got {inputGradient.Length} values.", nameof(inputGradient));
        CheckState(nameof(dFinalH), dFinalH.Length, batchSize);
        CheckState(nameof(dFinalC), dFinalC.Length, batchSize);
        CheckState(nameof(dInitialH), dInitialH.Length, batchSize);
        CheckState(nameof(dInitialC), dInitialC.Length, batchSize);

        ReadOnlySpan<T> w = WeightIh.Value, u = WeightHh.Value;
        Span<T> dh = c.DHidden.AsSpan(0, batchSize * h), dc = c.DCell.AsSpan(0, batchSize * h);
        Span<T> dOutCarry = c.DOutputCarry.AsSpan(0, batchSize * h);
        if (dFinalH.IsEmpty) dh.Clear(); else dFinalH.CopyTo(dh);
        if (dFinalC.IsEmpty) dc.Clear(); else dFinalC.CopyTo(dc);
        if (ReturnSequences) dOutCarry.Clear(); else outputGradient.CopyTo(dOutCarry);
        bool recurrentDropout = c.RecurrentDropoutActive;
        bool separate = CellNormalization.Gates == GateNormalization.Separate;
        // dAx [T, B, G] is kept for dW, db, dX; dAh [T, B, G] is the same buffer unless the gate norms are separate.
        Span<T> allDAx = c.DGates.AsSpan(0, rows * g);
        Span<T> allDAh = separate ? c.DRecurrentProjection.AsSpan(0, rows * g) : allDAx;

        // U packed once for all steps: U [G, H], or per gate U_k [H, H] with recurrent dropout.
        int panel = recurrentDropout ? Gemm.PackedLength<T>(h, h) : 0;
        if (!recurrentDropout) Gemm.Pack(Transpose.No, g, h, u, h, c.PackedWeights);
        else for (int k = 0; k < 4; k++) Gemm.Pack(Transpose.No, h, h, u.Slice(k * h * h, h * h), h, c.PackedWeights.AsSpan(k * panel, panel));

        bool splitRows = SplitRows(batchSize, h);
        if (splitRows && ClaimsSteps(batchSize, h, recurrentDropout))
        {
            fixed (T* gradientPointer = outputGradient)
            {
                ClaimedStepJob job = c.ClaimedSteps ??= new ClaimedStepJob();
                job.SetBackward(this, c, gradientPointer, outputGradient.Length);
                for (job.Step = time - 1; job.Step >= 0; job.Step--) job.RunStep();
            }
        }
        else if (!splitRows)
        {
            // As in Forward: the other core may take the rows [rowEnd, B) of the steps left (BackwardRowsFrom); the
            // products after the loop need all of them.
            DirectionBalance? balance = c.LoopBalance is not null && BalancesRows(batchSize, backward: true) ? c.LoopBalance : null;
            int rowEnd = batchSize;
            balance?.Start(c.LoopSide);
            try
            {
                for (int s = time - 1; s >= 0; s--)
                {
                    if (balance is not null && rowEnd == batchSize && balance.TryAccept(c.LoopSide, time - 1 - s, time, batchSize, out int keptRows)) rowEnd = keptRows;
                    BackwardStep(c, s, 0, rowEnd, outputGradient, panel, SplitProducts, 0);
                }
            }
            finally
            {
                balance?.Close(c.LoopSide);
            }
            if (rowEnd < batchSize) balance!.WaitForHelper(c.LoopSide);
        }
        else
        {
            fixed (T* gradientPointer = outputGradient)
            {
                RowSplitJob job = c.RowSplit ??= new RowSplitJob();
                job.SetBackward(this, c, gradientPointer, outputGradient.Length, panel);
                for (job.Step = time - 1; job.Step >= 0; job.Step--) PairedWork.Run(job);
            }
        }
        if (!dInitialH.IsEmpty) TensorPrimitives.Add(dInitialH, dh, dInitialH);
        if (!dInitialC.IsEmpty) TensorPrimitives.Add(dInitialC, dc, dInitialC);

        // dU += Σ_s dAh_sᵀ · h_{s−1}: one GEMM over all steps (per gate with recurrent dropout). The packed U is not read
        // again in this pass, so its buffer is the scratch of AddWeightGradient.
        Span<T> dU = WeightHh.Gradient, gradientScratch = c.PackedWeights;
        // With one set of gate gradients for both (no recurrent or input dropout, no separate gate norms, no LN_i) and both
        // weight gradients taken as transposes, hᵀ · dA and xᵀ · dA are one product on this thread, the gate gradients
        // packed once for both (GemmPacked.MultiplyStacked; the same bits as the two products). LSTM(200)'s pair, T·B =
        // 3200 rows on one core: 11.1 against 11.9 ms as two products. Its scratch [H + F, G] is the cache's.
        bool stacked = !recurrentDropout && !c.InputDropoutActive && !separate && inputNorm is null
            && (!SplitProducts || !PairedWork.HasSecondCore) && GemmPacked.Best != GemmPacked.Width.None
            && WeightGradientTransposed(g, h, gradientScratch.Length) && WeightGradientTransposed(g, f, gradientScratch.Length);
        if (stacked)
        {
            if (c.StackedWeightGradients.Length < (h + f) * g) c.StackedWeightGradients = new T[(h + f) * g];
            Span<T> hProduct = c.StackedWeightGradients.AsSpan(0, h * g), xProduct = c.StackedWeightGradients.AsSpan(h * g, f * g);
            // db += Σ dz comes with it: the gate gradients' rows are added into it as they are packed (the bits of the
            // pass below, without another read of dA).
            GemmPacked.MultiplyStacked<T>(true, h, f, g, rows, T.One, c.HiddenStates, h, c.Input, f, allDAx, g, hProduct, g, xProduct, g, c.Share,
                bColumnSums: Bias.Gradient);
            TransposedAdd.Add<T>(g, h, hProduct, dU, h);
            TransposedAdd.Add<T>(g, f, xProduct, WeightIh.Gradient, f);
        }
        else if (!recurrentDropout)
            AddWeightGradient(g, h, rows, allDAh, g, c.HiddenStates, h, dU, h, gradientScratch, SplitProducts, c.Share);
        else
            for (int k = 0; k < 4; k++)
                AddWeightGradient(h, h, rows, allDAh.Slice(k * h), g, c.MaskedHidden[k], h, dU.Slice(k * h * h, h * h), h, gradientScratch, SplitProducts, c.Share);

        // db += Σ dz (the bias sits after LN_i in the separate mode and before LN_g in the summed mode; both read dAx here),
        // unless the stacked product took it or LN_i's backward below takes it: LN_i's first pass reads each row of dz
        // before it overwrites it (the same adds, row by row, as this pass).
        Span<T> dBias = Bias.Gradient;
        if (!stacked && inputNorm is null) for (int r = 0; r < rows; r++) TensorPrimitives.Add(dBias, allDAx.Slice(r * g, g), dBias);

        // dAx before LN_i, in place (db with it).
        Span<T> dProjection = allDAx;
        if (inputNorm is not null)
            for (int r = 0; r < rows; r++)
                inputNorm.BackwardRowInPlace(dProjection.Slice(r * g, g), c.InputNorm, r, c.RowScratchWide, c.RowScratchG1, dBias);

        // dW += dAxᵀ · X and dX += dAx · W (per input mask with dropout, the masks applied to X and to dX). dX comes out
        // time-major in step order and is added into the batch-first input gradient row by row.
        Span<T> dW = WeightIh.Gradient;
        Span<T> dInput = c.DInputTimeMajor.AsSpan(0, rows * f);
        if (!c.InputDropoutActive)
        {
            if (!stacked) AddWeightGradient(g, f, rows, dProjection, g, c.Input, f, dW, f, gradientScratch, SplitProducts, c.Share);
            if (!inputGradient.IsEmpty && TakesInputGradientTransposed(f))
            {
                // dXᵀ = Wᵀ · dAxᵀ [F, rows], each element the same FMA chain as in dAx · W, then each step-major row added
                // (or stored) straight into its batch-first row: no pass to reorder.
                Gemm.Multiply(Transpose.Yes, Transpose.Yes, f, rows, g, T.One, w, f, dProjection, g, T.Zero, dInput, rows, SplitProducts, c.Share);
                TransposedAdd.AddToRows<T>(rows, f, dInput, inputGradient, InputGradientRowStarts(c), overwriteInputGradient);
                return;
            }
            if (!inputGradient.IsEmpty)
                Gemm.Multiply(Transpose.No, Transpose.No, rows, f, g, T.One, dProjection, g, w, f, T.Zero, dInput, f, SplitProducts, c.Share);
        }
        else
        {
            Span<T> product = c.DInputScratch.AsSpan(0, rows * f);
            if (!inputGradient.IsEmpty) dInput.Clear();
            int masks = c.InputMaskCount, columns = g / masks;
            for (int k = 0; k < masks; k++)
            {
                AddWeightGradient(columns, f, rows, dProjection.Slice(k * columns), g, c.MaskedInputs[k], f, dW.Slice(k * columns * f, columns * f), f,
                    gradientScratch, SplitProducts, c.Share);
                if (inputGradient.IsEmpty) continue;
                Gemm.Multiply(Transpose.No, Transpose.No, rows, f, columns, T.One, dProjection.Slice(k * columns), g, w.Slice(k * columns * f, columns * f), f,
                    T.Zero, product, f, SplitProducts, c.Share);
                ReadOnlySpan<T> stepMasks = c.InputMasks.AsSpan(k * batchSize * f, batchSize * f);
                for (int s = 0; s < time; s++)
                {
                    Span<T> stepRows = dInput.Slice(s * batchSize * f, batchSize * f);
                    TensorPrimitives.MultiplyAdd(product.Slice(s * batchSize * f, batchSize * f), stepMasks, stepRows, stepRows);
                }
            }
        }
        if (!inputGradient.IsEmpty)
        {
            for (int s = 0; s < time; s++)
            {
                int tIn = GoBackwards ? time - 1 - s : s;
                for (int bi = 0; bi < batchSize; bi++)
                {
                    Span<T> target = inputGradient.Slice((bi * time + tIn) * f, f);
                    ReadOnlySpan<T> source = dInput.Slice((s * batchSize + bi) * f, f);
                    if (overwriteInputGradient) source.CopyTo(target);
                    else TensorPrimitives.Add(target, source, target);
                }
            }
        }
    }

    /// <summary>
    /// Whether a Bidirectional's other core may take rows of this direction's time loop (LstmCache.LoopBalance). Forward:
    /// every cell, as each row's LayerNorms keep their own statistics. Backward: the plain cell only, as the cell
    /// LayerNorms sum their γ and β gradients over the rows inside the loop. At least eight rows, so each core keeps
    /// several (a one-row product takes another kernel, with other bits).
    /// </summary>
    private bool BalancesRows(int batchSize, bool backward) => batchSize >= 8 && (!backward || CellNormalization.IsNone);

    /// <summary>
    /// The helping core's share of a Bidirectional direction's forward loop: rows [fromRow, B) of processing steps
    /// [fromStep, T), with the mask and output the owner steps with (the owner waits for them after its loop).
    /// </summary>
    internal void ForwardRowsFrom(LstmCache<T> c, int fromStep, int fromRow, ReadOnlySpan<bool> mask, Span<T> output)
    {
        int panel = c.RecurrentDropoutActive ? Gemm.PackedLength<T>(Units, Units) : 0;
        for (int s = fromStep; s < c.Time; s++) ForwardStep(c, s, fromRow, c.Batch, mask, output, c.RecurrentDropoutActive, panel, split: false);
    }

    /// <summary>
    /// The helping core's share of a Bidirectional direction's backward loop: rows [fromRow, B) from the fromStep-th
    /// processed step (s = T − 1 − fromStep) down to s = 0, with the row scratch of part 1.
    /// </summary>
    internal void BackwardRowsFrom(LstmCache<T> c, int fromStep, int fromRow, ReadOnlySpan<T> outputGradient)
    {
        int panel = c.RecurrentDropoutActive ? Gemm.PackedLength<T>(Units, Units) : 0;
        for (int s = c.Time - 1 - fromStep; s >= 0; s--) BackwardStep(c, s, fromRow, c.Batch, outputGradient, panel, split: false, part: 1);
    }

    /// <summary>Above this many multiply-adds per step product (B·G·H), a plain cell splits each step's rows over two threads.</summary>
    private const long RowSplitThreshold = 1L << 21;

    private bool SplitRows(int batchSize, int h)
        => SplitProducts && CellNormalization.IsNone && batchSize >= 8 && (long)batchSize * 4 * h * h >= RowSplitThreshold && PairedWork.HasSecondCore;

    // One forward step s for the rows [b0, b1): (S2)–(S9). Rows of a step are independent, so two calls over disjoint
    // row ranges may run at once (only for the plain cell: the cell LayerNorms accumulate into shared state).
    private void ForwardStep(LstmCache<T> c, int s, int b0, int b1, ReadOnlySpan<bool> mask2, Span<T> output, bool recurrentDropout, int panel, bool split,
        bool productDone = false)
    {
        int batchSize = c.Batch, time = c.Time, h = Units, g = 4 * h, count = b1 - b0;
        bool separate = CellNormalization.Gates == GateNormalization.Separate;
        Span<T> hState = c.HiddenStates, cState = c.CellStates, lastOutput = c.LastOutput.AsSpan(0, batchSize * h);
        Span<T> allGates = c.Gates.AsSpan(0, batchSize * time * g);
        int tIn = GoBackwards ? time - 1 - s : s;
        ReadOnlySpan<T> hPrev = hState.Slice(s * batchSize * h, batchSize * h);
        ReadOnlySpan<T> cPrev = cState.Slice(s * batchSize * h, batchSize * h);
        Span<T> hNext = hState.Slice((s + 1) * batchSize * h, batchSize * h);
        Span<T> cNext = cState.Slice((s + 1) * batchSize * h, batchSize * h);
        Span<T> gates = allGates.Slice(s * batchSize * g, batchSize * g);

        // (S2) recurrent product Ah [rows, G] = h_{s−1} · Uᵀ (per gate with recurrent dropout), added into Ax + b in
        // place; kept apart for separate gate norms, which normalize it first.
        Span<T> target = separate ? c.RecurrentScratch.AsSpan(0, batchSize * g) : gates;
        T beta = separate ? T.Zero : T.One;
        // productDone: z already holds Ax + b + Ah, the product taken before by slivers (Lstm.ClaimedSteps.cs).
        if (!recurrentDropout && !productDone)
        {
            Gemm.MultiplyPacked(Transpose.No, count, g, h, T.One, hPrev.Slice(b0 * h, count * h), h, c.PackedWeights, beta, target.Slice(b0 * g), g, split);
        }
        else if (recurrentDropout)
        {
            for (int k = 0; k < 4; k++)
            {
                Span<T> maskedH = c.MaskedHidden[k].AsSpan((s * batchSize + b0) * h, count * h);
                TensorPrimitives.Multiply(hPrev.Slice(b0 * h, count * h), c.RecurrentMasks.AsSpan((k * batchSize + b0) * h, count * h), maskedH);
                Gemm.MultiplyPacked(Transpose.No, count, h, h, T.One, maskedH, h, c.PackedWeights.AsSpan(k * panel, panel), beta,
                    target.Slice(b0 * g + k * h), g, split);
            }
        }

        for (int bi = b0; bi < b1; bi++)
        {
            int row = s * batchSize + bi;
            Span<T> z = gates.Slice(bi * g, g);
            Span<T> cRow = cNext.Slice(bi * h, h), hRow = hNext.Slice(bi * h, h);
            Span<T> tanhCell = c.TanhCell.AsSpan(row * h, h);
            bool fusedGateNorm = CellNormalization.Gates == GateNormalization.Summed && CellNormalization.CellState == CellStateNormalization.None;
            switch (CellNormalization.Gates)
            {
                case GateNormalization.None:                                   // (S3) z = (Ax + b) + Ah
                    break;
                case GateNormalization.Summed when fusedGateNorm:              // (C1) and (S4)–(S7) in one kernel
                    gateNorm!.StoreStatistics(c.GateNorm, row, LstmGates.NormalizedForwardStep(z, gateNorm.Epsilon, gateNorm.Gamma.Value,
                        gateNorm.Beta.Value, gateNorm.NormalizedRow(c.GateNorm, row), cPrev.Slice(bi * h, h), cRow, tanhCell, hRow, h));
                    break;
                case GateNormalization.Summed:                                 // (C1) z = LN_g(Ax + b + Ah)
                    gateNorm!.ForwardRow(z, z, c.GateNorm, row);
                    break;
                case GateNormalization.Separate:                               // (C2) z = (LN_i(Ax) + b) + LN_h(Ah)
                    Span<T> ah = target.Slice(bi * g, g);
                    hiddenGateNorm!.ForwardRowAddTo(ah, z, c.HiddenGateNorm, row, ah);
                    break;
            }
            // (S4) i, f, o = σ(z), g = tanh(z); (S5) c = f ⊙ c_prev + i ⊙ g
            if (CellNormalization.CellState == CellStateNormalization.None)
            {
                if (!fusedGateNorm) LstmGates.ForwardStep(z, cPrev.Slice(bi * h, h), cRow, tanhCell, hRow, h);   // (S4)–(S7) in one pass
            }
            else
            {
                LstmGates.ActivateAndUpdateCell(z, cPrev.Slice(bi * h, h), cRow, h);
                // (C4) h = o ⊙ tanh(LN_c(c)) with c carried as is, or (C5) c ← LN_c(c) carried and h = o ⊙ tanh(c): one kernel.
                cellNorm!.StoreStatistics(c.CellNorm, row, LstmGates.NormalizedCellOutput(cRow, cellNorm.Epsilon, cellNorm.Gamma.Value,
                    cellNorm.Beta.Value, cellNorm.NormalizedRow(c.CellNorm, row), z.Slice(3 * h, h), tanhCell, hRow,
                    carry: CellNormalization.CellState == CellStateNormalization.Recurrent));
            }
            if (outputNorm is not null) outputNorm.ForwardRow(hRow, hRow, c.OutputNorm, row);   // (C6) h ← LN_o(h)

            bool active = mask2.IsEmpty || mask2[bi * time + tIn];
            c.Active[row] = active;
            Span<T> outRow = lastOutput.Slice(bi * h, h);
            if (active)
            {
                hRow.CopyTo(outRow);                                           // (S8) output = h
            }
            else
            {
                hPrev.Slice(bi * h, h).CopyTo(hRow);                           // (S9) masked: state carried,
                cPrev.Slice(bi * h, h).CopyTo(cRow);                           //      output repeats the last one
                if (ZeroOutputForMask) outRow.Clear();                         // (S9') or is zero, the last output too
            }
            if (ReturnSequences) outRow.CopyTo(output.Slice((bi * time + s) * h, h));
        }
    }

    /// <summary>How this layer's input gradient is taken (see TakesInputGradientTransposed); tests force either form.</summary>
    internal WeightGradientForm InputGradientForm { get; set; } = WeightGradientForm.Auto;

    // dX = dAx · W [rows, F] or, as its transpose, Wᵀ · dAxᵀ [F, rows]. The 512-bit float product tiles c's columns 32
    // at a time; for an F a few columns past a multiple of 32 the product as written still computes a 16-column edge tile
    // for them (GemmPacked.EdgeKernel), where the transpose's columns are the rows; and its time-major rows then need a
    // pass to reorder. Measured on one core (rows = 3,200, G = 800), the product alone, transposed against as written:
    // F = 100 3.27 against 3.50 ms, F = 200 6.03 against 6.10, F = 400 11.4 against 11.3 (level); at F = 32, 64, 128 and
    // 512 (no edge tile) the transpose was 3–120 % slower. So: F mod 32 in 1…8.
    internal bool TakesInputGradientTransposed(int f) => InputGradientForm switch
    {
        WeightGradientForm.Transposed => true,
        WeightGradientForm.AsWritten => false,
        _ => typeof(T) == typeof(float) && GemmPacked.Best == GemmPacked.Width.V512 && f >= 96 && f % 32 is >= 1 and <= 8,
    };

    // Where step-major row r = s·B + b of dX goes in the batch-first input gradient: row b·T + t, t the input time of s.
    private int[] InputGradientRowStarts(LstmCache<T> c)
    {
        int batchSize = c.Batch, time = c.Time, f = InputFeatures, rows = batchSize * time;
        if (c.InputGradientRowStarts.Length < rows) c.InputGradientRowStarts = new int[rows];
        for (int s = 0; s < time; s++)
        {
            int tIn = GoBackwards ? time - 1 - s : s;
            for (int bi = 0; bi < batchSize; bi++) c.InputGradientRowStarts[s * batchSize + bi] = (bi * time + tIn) * f;
        }
        return c.InputGradientRowStarts;
    }

    /// <summary>How this layer's weight gradients are taken (see AddWeightGradient); tests force either form.</summary>
    internal WeightGradientForm WeightGradients { get; set; } = WeightGradientForm.Auto;

    // c [m, n] += aᵀ · b for a [k, m] and b [k, n] (row strides lda, ldb): a weight gradient, Σ over all steps' rows of
    // the gate gradients times the step inputs. Where the gate side is the long one (m ≥ 2n, 64 ≤ n ≤ 256) it is taken
    // as (bᵀ · a)ᵀ into scratch [n, m] and added into c transposed: the GEMM then packs the long operand a (the gate
    // gradients, k × m) as its b, row by row, and only the narrow b through the slower transposed packing of its a. On
    // this machine (k = 3200, one core) LSTM(200)'s dU, 800 × 200, took 5.9–6.6 ms that way against 6.6–7.6 ms as
    // aᵀ · b, LSTM(100)'s 1.7 against 2.1; at n = 32 the transpose was 4–30 % slower, at n = 512 and at m = n (a gate of
    // its own, with recurrent dropout) level, so there the product is taken as written. Each element's products are
    // summed in the same order either way (the same FMA chain per block of k); only the blocks' sums reach c as
    // c + (S₁ + S₂ + …) instead of ((c + S₁) + S₂) + …, so from a zeroed gradient the bits are the same, and where
    // gradients accumulate over several backward passes the last bits can differ.
    private void AddWeightGradient(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc,
        Span<T> scratch, bool split, SharedProduct<T>? share)
    {
        if (!WeightGradientTransposed(m, n, scratch.Length))
        {
            Gemm.Multiply(Transpose.Yes, Transpose.No, m, n, k, T.One, a, lda, b, ldb, T.One, c, ldc, split, share);
            return;
        }
        Span<T> product = scratch.Slice(0, m * n);
        Gemm.Multiply(Transpose.Yes, Transpose.No, n, m, k, T.One, b, ldb, a, lda, T.Zero, product, m, split, share);
        TransposedAdd.Add<T>(m, n, product, c, ldc);
    }

    // Whether AddWeightGradient takes c [m, n] as its transpose (the rule above; a scratch of m·n values needed).
    private bool WeightGradientTransposed(int m, int n, int scratchLength) => scratchLength >= (long)m * n && WeightGradients switch
    {
        WeightGradientForm.Transposed => true,
        WeightGradientForm.AsWritten => false,
        _ => n >= 64 && n <= 256 && m >= 2 * n,
    };

    // One backward step s for the rows [b0, b1): (B1)–(B12) and the rows' dh_prev; part picks the row scratch.
    private void BackwardStep(LstmCache<T> c, int s, int b0, int b1, ReadOnlySpan<T> outputGradient, int panel, bool split, int part,
        bool productApart = false)
    {
        int batchSize = c.Batch, time = c.Time, h = Units, g = 4 * h, rows = batchSize * time, count = b1 - b0;
        Span<T> dh = c.DHidden.AsSpan(0, batchSize * h), dc = c.DCell.AsSpan(0, batchSize * h);
        Span<T> dOutCarry = c.DOutputCarry.AsSpan(0, batchSize * h);
        Span<T> dhTotal = c.RowScratchH1.AsSpan(part * h, h), dhRaw = c.RowScratchH2, dTanhArg = c.RowScratchH3, dcRaw = c.RowScratchH4;
        Span<T> dzScratch = c.RowScratchG1;
        bool recurrentDropout = c.RecurrentDropoutActive;
        bool separate = CellNormalization.Gates == GateNormalization.Separate;
        bool plainCell = CellNormalization.CellState == CellStateNormalization.None && outputNorm is null;
        Span<T> allDAx = c.DGates.AsSpan(0, rows * g);
        Span<T> allDAh = separate ? c.DRecurrentProjection.AsSpan(0, rows * g) : allDAx;
        Span<T> dAh = allDAh.Slice(s * batchSize * g, batchSize * g);
        for (int bi = b0; bi < b1; bi++)
        {
            int row = s * batchSize + bi;
            Span<T> dAx = allDAx.Slice(row * g, g);
            Span<T> carry = dOutCarry.Slice(bi * h, h);
            ReadOnlySpan<T> stepOutputGradient = ReturnSequences ? outputGradient.Slice((bi * time + s) * h, h) : default;
            if (!c.Active[row])
            {
                if (ReturnSequences) TensorPrimitives.Add(carry, stepOutputGradient, carry);
                // (B12) masked step: the output gradient passes to the previous output (unless the step output zeros,
                // which also ends the last output's gradient without returnSequences), the state gradients to the
                // previous state.
                if (ZeroOutputForMask) carry.Clear();
                dAx.Clear();
                if (separate) dAh.Slice(bi * g, g).Clear();
                continue;
            }
            // (B1) dh = dh_next + d output (the carried output gradient plus this step's), in one pass that also clears
            // the carry and dh_next (dh_prev is added into it below).
            Elementwise.SumAndClear(dh.Slice(bi * h, h), carry, stepOutputGradient, dhTotal);
            ReadOnlySpan<T> gates = c.Gates.AsSpan(row * g, g);
            ReadOnlySpan<T> tanhCell = c.TanhCell.AsSpan(row * h, h);
            Span<T> dcRow = dc.Slice(bi * h, h);
            Span<T> dz = CellNormalization.Gates == GateNormalization.Summed ? dzScratch : dAx;
            if (plainCell)
            {
                // (B3), (B4), (B7), (B8) in one pass.
                LstmGates.StepBackward(gates, tanhCell, c.CellStates.AsSpan(row * h, h), dhTotal, dcRow, dz, h);
            }
            else if (CellNormalization.CellState != CellStateNormalization.None && LayerNormKernel.HasRowKernels<T>())
            {
                ReadOnlySpan<T> dhCell = dhTotal;
                if (outputNorm is not null)
                {
                    outputNorm.BackwardRowOverwrite(dhTotal, dhRaw, c.OutputNorm, row, c.RowScratchWide);   // (B2)
                    dhCell = dhRaw;
                }
                // (B3), (B5)/(B6), (B7), (B8) in two passes: the same bits as the separate steps below.
                LstmGates.NormalizedCellBackward(gates, tanhCell, c.CellStates.AsSpan(row * h, h), dhCell, dcRow, dz,
                    cellNorm!.NormalizedRow(c.CellNorm, row), c.CellNorm.InverseStd[row], cellNorm.Gamma.Value, cellNorm.Gamma.Gradient,
                    cellNorm.Beta.Gradient, carry: CellNormalization.CellState == CellStateNormalization.Recurrent, dTanhArg);
            }
            else
            {
                if (outputNorm is not null)
                {
                    outputNorm.BackwardRowOverwrite(dhTotal, dhRaw, c.OutputNorm, row, c.RowScratchWide);   // (B2)
                }
                else dhTotal.CopyTo(dhRaw);
                // (B3) dO = dh ⊙ tanh(·); d(tanh arg) = dh ⊙ o ⊙ (1 − tanh²)
                LstmGates.OutputBackward(gates.Slice(3 * h, h), tanhCell, dhRaw, dz.Slice(3 * h, h), dTanhArg);
                switch (CellNormalization.CellState)
                {
                    case CellStateNormalization.None:                          // (B4) dc = dc_next + d(tanh arg)
                        TensorPrimitives.Add(dcRow, dTanhArg, dcRaw);
                        break;
                    case CellStateNormalization.OutputOnly:                    // (B5) dc = dc_next + LN_cᵀ d(tanh arg)
                        dcRow.CopyTo(dcRaw);
                        cellNorm!.BackwardRow(dTanhArg, dcRaw, c.CellNorm, row, c.RowScratchWide);
                        break;
                    case CellStateNormalization.Recurrent:                     // (B6) dc = LN_cᵀ (dc_next + d(tanh arg))
                        TensorPrimitives.Add(dcRow, dTanhArg, dTanhArg);
                        cellNorm!.BackwardRowOverwrite(dTanhArg, dcRaw, c.CellNorm, row, c.RowScratchWide);
                        break;
                }
                // (B7) gate gradients; (B8) dc_prev = dc ⊙ f
                LstmGates.CellBackward(gates, c.CellStates.AsSpan(row * h, h), dcRaw, dz, dcRow, h);
            }

            switch (CellNormalization.Gates)
            {
                case GateNormalization.None:                                   // (B9) dAx = dAh = dz (one buffer)
                    break;
                case GateNormalization.Summed:                                 // (B10) dAx = dAh = LN_gᵀ dz
                    gateNorm!.BackwardRowOverwrite(dz, dAx, c.GateNorm, row, c.RowScratchWide);
                    break;
                case GateNormalization.Separate:                               // (B11) dAh = LN_hᵀ dz; dAx = LN_iᵀ dz (after the loop)
                    Span<T> dAhRow = dAh.Slice(bi * g, g);
                    hiddenGateNorm!.BackwardRowOverwrite(dz, dAhRow, c.HiddenGateNorm, row, c.RowScratchWide);
                    break;
            }
        }

        // (B1) dh_prev = dAh · U for active rows (inactive rows keep their dh and have dAh = 0); productApart: taken after
        // this, by slivers (Lstm.ClaimedSteps.cs).
        if (productApart) return;
        if (!recurrentDropout)
        {
            Gemm.MultiplyPacked(Transpose.No, count, h, g, T.One, dAh.Slice(b0 * g), g, c.PackedWeights, T.One, dh.Slice(b0 * h), h, split);
        }
        else
        {
            Span<T> product = c.DHiddenScratch.AsSpan(b0 * h, count * h), dhRows = dh.Slice(b0 * h, count * h);
            for (int k = 0; k < 4; k++)
            {
                Gemm.MultiplyPacked(Transpose.No, count, h, h, T.One, dAh.Slice(b0 * g + k * h), g, c.PackedWeights.AsSpan(k * panel, panel),
                    T.Zero, product, h, split);
                TensorPrimitives.MultiplyAdd(product, c.RecurrentMasks.AsSpan((k * batchSize + b0) * h, count * h), dhRows, dhRows);
            }
        }
    }

    private void CheckState(string name, int length, int batchSize)
    {
        if (length != 0 && length != batchSize * Units)
            throw new ArgumentException($"LSTM '{Name}': {name} must be [B={batchSize}, H={Units}] ({batchSize * Units} values) or empty, got {length}.", name);
    }

    /// <summary>Inverted dropout masks: 0 with probability p, else 1/(1−p), per sample, drawn once per call (all of
    /// <paramref name="masks"/>, in order: mask k's [B, ·] block, sample by sample).</summary>
    private static void DrawMasks(T[] masks, double rate, Random random)
    {
        T keep = T.CreateTruncating(1.0 / (1.0 - rate));
        if (random is ReseedableRandom stream)
        {
            stream.FillDropoutMasks<T>(masks, rate, keep);   // the same draws and decisions, without a virtual call or a branch on the data each
            return;
        }
        for (int k = 0; k < masks.Length; k++) masks[k] = random.NextDouble() < rate ? T.Zero : keep;
    }
}

/// <summary>γ and β of one LayerNorm inside a cell, with its row-wise forward and backward.</summary>
internal sealed class NormParameters<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public NormParameters(string prefix, int width, T epsilon)
    {
        Name = prefix;
        Width = width;
        Epsilon = epsilon;
        Gamma = new Parameter<T>(prefix + ".weight", width);
        Beta = new Parameter<T>(prefix + ".bias", width);
        Gamma.Value.AsSpan().Fill(T.One);
    }

    /// <summary>The prefix of its parameters' names within the layer (<c>layernorm_i</c>; <c>layernorm_i_reverse</c> in a
    /// Bidirectional's backward direction).</summary>
    public string Name { get; }
    public int Width { get; }
    public T Epsilon { get; }
    public Parameter<T> Gamma { get; }
    public Parameter<T> Beta { get; }

    public void ForwardRow(ReadOnlySpan<T> x, Span<T> y, NormCache<T> cache, int row)
        => LayerNormKernel.Forward<T>(x, Width, Epsilon, Gamma.Value, Beta.Value, y, cache.Normalized.AsSpan(row * Width, Width),
            cache.Mean.AsSpan(row, 1), cache.InverseStd.AsSpan(row, 1));

    /// <summary>
    /// x ← LN(x) + bias for one row in place (x̂ and the statistics kept as <see cref="ForwardRow"/> keeps them): the bias
    /// after LN_i, added in the row kernel's last pass; the same bits as <see cref="ForwardRow"/> and then a pass adding it.
    /// </summary>
    public void ForwardRowInPlaceThenAdd(Span<T> x, ReadOnlySpan<T> bias, NormCache<T> cache, int row)
    {
        if (bias.Length != Width)
            throw new ArgumentException($"LayerNorm '{Name}': the bias after it must be [{Width}], got {bias.Length} values.", nameof(bias));
        if (LayerNormKernel.HasRowKernels<T>())
        {
            StoreStatistics(cache, row, LayerNormKernel.ForwardRow(x, Epsilon, Gamma.Value, Beta.Value, x, NormalizedRow(cache, row), bias: bias));
            return;
        }
        ForwardRow(x, x, cache, row);
        TensorPrimitives.Add(x, bias, x);
    }

    /// <summary>sum += LN(x) for one row (x̂ and the statistics kept as <see cref="ForwardRow"/> keeps them).</summary>
    public void ForwardRowAddTo(ReadOnlySpan<T> x, Span<T> sum, NormCache<T> cache, int row, Span<T> scratch)
    {
        if (LayerNormKernel.HasRowKernels<T>())
        {
            StoreStatistics(cache, row, LayerNormKernel.ForwardRow(x, Epsilon, Gamma.Value, Beta.Value, sum, NormalizedRow(cache, row), addToY: true));
            return;
        }
        ForwardRow(x, scratch, cache, row);
        TensorPrimitives.Add(sum, scratch, sum);
    }

    /// <summary>x̂ of one row in the cache, for kernels that fuse this LayerNorm into another pass.</summary>
    public Span<T> NormalizedRow(NormCache<T> cache, int row) => cache.Normalized.AsSpan(row * Width, Width);

    public void StoreStatistics(NormCache<T> cache, int row, (T Mean, T InverseStd) statistics)
        => (cache.Mean[row], cache.InverseStd[row]) = statistics;

    /// <summary>As <see cref="BackwardRow"/> into a dx that is overwritten instead of added to.</summary>
    public void BackwardRowOverwrite(ReadOnlySpan<T> dy, Span<T> dx, NormCache<T> cache, int row, Span<T> scratch)
    {
        if (LayerNormKernel.HasRowKernels<T>())
        {
            LayerNormKernel.BackwardRow(dy, cache.Normalized.AsSpan(row * Width, Width), cache.InverseStd[row], Gamma.Value, dx,
                Gamma.Gradient, Beta.Gradient, overwrite: true);
            return;
        }
        dx.Clear();
        BackwardRow(dy, dx, cache, row, scratch);
    }

    /// <summary>
    /// dy ← LN_ᵀ dy for one row (as <see cref="BackwardRowOverwrite"/> with dx = dy); scratch, copy: [width]. With dBias
    /// ([width], the gradient of a bias added after this LayerNorm), dBias += dy first, read in the same pass.
    /// </summary>
    public void BackwardRowInPlace(Span<T> dy, NormCache<T> cache, int row, Span<T> scratch, Span<T> copy, Span<T> dBias = default)
    {
        if (!dBias.IsEmpty && dBias.Length != Width)
            throw new ArgumentException($"LayerNorm '{Name}': the bias gradient must be [{Width}], got {dBias.Length} values.", nameof(dBias));
        // The row kernel reads dy only before it writes each dx element; the general kernel reads dy after, so it
        // works from a copy.
        if (LayerNormKernel.HasRowKernels<T>())
        {
            LayerNormKernel.BackwardRow(dy, cache.Normalized.AsSpan(row * Width, Width), cache.InverseStd[row], Gamma.Value, dy,
                Gamma.Gradient, Beta.Gradient, overwrite: true, dBias);
            return;
        }
        if (!dBias.IsEmpty) TensorPrimitives.Add(dBias, dy, dBias);
        Span<T> dyCopy = copy.Slice(0, Width);
        dy.CopyTo(dyCopy);
        BackwardRowOverwrite(dyCopy, dy, cache, row, scratch);
    }

    public void BackwardRow(ReadOnlySpan<T> dy, Span<T> dx, NormCache<T> cache, int row, Span<T> scratch)
        => LayerNormKernel.Backward<T>(dy, cache.Normalized.AsSpan(row * Width, Width), cache.InverseStd.AsSpan(row, 1), Width,
            Gamma.Value, dx, Gamma.Gradient, Beta.Gradient, scratch);
}

/// <summary>What one LayerNorm keeps per row for backward: x̂ [rows, width], μ and ρ = 1/σ [rows].</summary>
internal sealed class NormCache<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T[] Normalized = Array.Empty<T>();
    public T[] Mean = Array.Empty<T>();
    public T[] InverseStd = Array.Empty<T>();
    public long Length => (long)Normalized.Length + Mean.Length + InverseStd.Length;

    public void Ensure(int rows, int width)
    {
        if (Normalized.Length != rows * width) Normalized = new T[rows * width];
        if (Mean.Length != rows) { Mean = new T[rows]; InverseStd = new T[rows]; }
    }
}

/// <summary>
/// Everything one LSTM forward keeps for its backward, sized for B·T and reused across calls. Step buffers are
/// time-major in processing order ([T, B, ·], step s reads input time tIn), so each step's rows form one block.
/// </summary>
public sealed partial class LstmCache<T> : LayerCache where T : unmanaged, IFloatingPointIeee754<T>
{
    internal int Batch, Time;
    internal bool Forwarded, InputDropoutActive, RecurrentDropoutActive;
    internal int InputMaskCount;                                 // 1 (shared by the gates) or 4 (one per gate); 0 off
    internal T[] Input = Array.Empty<T>();                       // X in step order [T, B, F]
    internal T[] Gates = Array.Empty<T>();                       // Ax + b, then i, f, g, o after activation [T, B, G]
    internal T[] RecurrentScratch = Array.Empty<T>();            // Ah of one step [B, G] (separate gate norms only)
    internal SharedProduct<T>? Share;                            // the other core may join the products after the loops (a Bidirectional's directions)
    internal DirectionBalance? LoopBalance;                      // ... and take rows of the time loops (side LoopSide of it)
    internal int LoopSide;
    internal T[] PackedWeights = Array.Empty<T>();               // U packed for the step products (Gemm.Pack)
    internal T[] HiddenStates = Array.Empty<T>();                // h_{s−1} for s = 0..T [T+1, B, H]
    internal T[] CellStates = Array.Empty<T>();                  // c_{s−1} for s = 0..T [T+1, B, H]
    internal T[] TanhCell = Array.Empty<T>();                    // tanh of the cell term in h [T, B, H]
    internal bool[] Active = Array.Empty<bool>();                // mask per step [T, B]
    internal T[] LastOutput = Array.Empty<T>();                  // [B, H]
    internal T[] InputMasks = Array.Empty<T>();                  // [InputMaskCount, B, F]
    internal T[] RecurrentMasks = Array.Empty<T>();              // [4, B, H]
    internal T[][] MaskedInputs = new T[4][];                    // X ⊙ m_k [T, B, F] per input mask
    internal T[][] MaskedHidden = new T[4][];                    // h_{s−1} ⊙ r_k [T, B, H] per gate
    internal readonly NormCache<T> GateNorm = new(), InputNorm = new(), HiddenGateNorm = new(), CellNorm = new(), OutputNorm = new();
    // Backward buffers.
    internal T[] DGates = Array.Empty<T>();                      // dAx [T, B, G] (also dAh unless the gate norms are separate)
    internal T[] DRecurrentProjection = Array.Empty<T>();        // dAh [T, B, G] (separate gate norms only)
    internal T[] DHidden = Array.Empty<T>(), DCell = Array.Empty<T>(), DOutputCarry = Array.Empty<T>(), DHiddenScratch = Array.Empty<T>();
    internal T[] DInputScratch = Array.Empty<T>(), DInputTimeMajor = Array.Empty<T>();
    internal T[] StackedWeightGradients = Array.Empty<T>();       // hᵀ·dA and xᵀ·dA [H + F, G] (both weight gradients in one product)
    internal int[] InputGradientRowStarts = Array.Empty<int>();   // where each step-major row of dX goes (the transposed form)
    internal T[] RowScratchH1 = Array.Empty<T>(), RowScratchH2 = Array.Empty<T>(), RowScratchH3 = Array.Empty<T>(), RowScratchH4 = Array.Empty<T>();
    internal T[] RowScratchG1 = Array.Empty<T>(), RowScratchWide = Array.Empty<T>();

    /// <summary>Bytes of the buffers kept from forward for backward (what BPTT holds per call), O(B·T·(F + H)).</summary>
    public long BytesKeptForBackward
    {
        get
        {
            long elements = (long)Input.Length + Gates.Length + HiddenStates.Length + CellStates.Length + TanhCell.Length
                + (InputDropoutActive ? (long)InputMaskCount * MaskedInputs[0].Length : 0) + (RecurrentDropoutActive ? 4L * MaskedHidden[0].Length : 0)
                + GateNorm.Length + InputNorm.Length + HiddenGateNorm.Length + CellNorm.Length + OutputNorm.Length;
            return elements * Unsafe.SizeOf<T>() + Active.Length;
        }
    }

    /// <summary>Sizes the buffers for [B, T] with F inputs and H units; inputMasks: input dropout masks per sample, 0 (no input dropout), 1 or 4.</summary>
    internal void Prepare(int batch, int time, int f, int h, int inputMasks, bool recurrentDropout, CellNormalization norm)
    {
        Batch = batch; Time = time; Forwarded = false;
        bool inputDropout = inputMasks > 0;
        InputDropoutActive = inputDropout; InputMaskCount = inputMasks; RecurrentDropoutActive = recurrentDropout;
        int g = 4 * h, bt = batch * time;
        Ensure(ref Input, bt * f);
        Ensure(ref Gates, bt * g);
        int packed = recurrentDropout ? 4 * Gemm.PackedLength<T>(h, h) : Math.Max(Gemm.PackedLength<T>(h, g), Gemm.PackedLength<T>(g, h));
        EnsureAligned(ref PackedWeights, packed);   // streamed by every step's product: on a 64-byte boundary (AlignedArrays: why)
        Ensure(ref HiddenStates, (time + 1) * batch * h);
        Ensure(ref CellStates, (time + 1) * batch * h);
        Ensure(ref TanhCell, bt * h);
        if (Active.Length < bt) Active = new bool[bt];
        Ensure(ref LastOutput, batch * h);
        Ensure(ref DGates, bt * g);
        Ensure(ref DInputTimeMajor, bt * f);
        Ensure(ref DHidden, batch * h); Ensure(ref DCell, batch * h); Ensure(ref DOutputCarry, batch * h); Ensure(ref DHiddenScratch, batch * h);
        Ensure(ref RowScratchH1, 2 * h); Ensure(ref RowScratchH2, h); Ensure(ref RowScratchH3, h); Ensure(ref RowScratchH4, h);
        Ensure(ref RowScratchG1, g); Ensure(ref RowScratchWide, g);
        if (inputDropout)
        {
            Ensure(ref InputMasks, inputMasks * batch * f);
            for (int k = 0; k < inputMasks; k++) Ensure(ref MaskedInputs[k], bt * f);
            Ensure(ref DInputScratch, bt * f);
        }
        if (recurrentDropout)
        {
            Ensure(ref RecurrentMasks, 4 * batch * h);
            for (int k = 0; k < 4; k++) Ensure(ref MaskedHidden[k], bt * h);
        }
        switch (norm.Gates)
        {
            case GateNormalization.Summed: GateNorm.Ensure(bt, g); break;
            case GateNormalization.Separate:
                InputNorm.Ensure(bt, g); HiddenGateNorm.Ensure(bt, g);
                Ensure(ref RecurrentScratch, batch * g); Ensure(ref DRecurrentProjection, bt * g);
                break;
        }
        if (norm.CellState != CellStateNormalization.None) CellNorm.Ensure(bt, h);
        if (norm.Hidden) OutputNorm.Ensure(bt, h);
    }

    private static void Ensure(ref T[] buffer, int length)
    {
        if (buffer is null || buffer.Length != length) buffer = new T[length];
    }

    private static void EnsureAligned(ref T[] buffer, int length)
    {
        if (buffer is null || buffer.Length != length) buffer = AlignedArrays.Allocate<T>(length);
    }
}

/// <summary>
/// How an LSTM takes its weight gradients dU += dA_hᵀ · h and dW += dA_xᵀ · x (Lstm.AddWeightGradient) and its input
/// gradient dx = dA_x · W (Lstm.TakesInputGradientTransposed): as a product written so, or as its transpose.
/// </summary>
internal enum WeightGradientForm
{
    /// <summary>As its transpose where the layer's rule says it is faster, as written elsewhere.</summary>
    Auto,
    /// <summary>Always as its transpose (tests: every option through that path).</summary>
    Transposed,
    /// <summary>Always as written.</summary>
    AsWritten,
}
