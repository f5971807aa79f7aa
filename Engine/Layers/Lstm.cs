using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

/// <summary>
/// A Keras-style LSTM layer (gate order i, f, g, o) with optional LayerNorm inside the cell, masks, dropout and
/// recurrent dropout as Keras 2's implementation 1 (four input masks and four recurrent masks, one per gate).
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

    public int Units { get; }
    public bool ReturnSequences { get; }
    public bool GoBackwards { get; }
    public double Dropout { get; }
    public double RecurrentDropout { get; }
    public CellNormalization CellNormalization { get; }

    /// <summary>
    /// Keras' zero_output_for_mask: with returnSequences, a masked step outputs zeros instead of repeating the previous
    /// output (the state is carried either way). Bidirectional turns it on for both directions when it returns sequences,
    /// as Keras does.
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
        // Keras: kernel (F, 4H) glorot_uniform; recurrent_kernel (H, 4H) orthogonal; bias zeros with the forget slice at 1.
        Initializers.GlorotUniform<T>(weightIh.Value, f, g, random);
        Initializers.OrthogonalTransposed<T>(weightHh.Value, h, g, random);
        bias.Value.AsSpan(h, h).Fill(T.One);

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
    public void Forward(SequenceBatch<T> input, ReadOnlySpan<T> initialH, ReadOnlySpan<T> initialC, Span<T> output,
        Span<T> finalH, Span<T> finalC, LayerCache cache, ForwardContext context)
    {
        CheckInput(input, output);
        var c = cache as LstmCache<T> ?? throw new ArgumentException($"LSTM '{Name}' needs an LstmCache, got {cache?.GetType().Name ?? "null"}.", nameof(cache));
        int batchSize = input.Batch, time = input.Time, f = InputFeatures, h = Units, g = 4 * h;
        CheckState(nameof(initialH), initialH.Length, batchSize);
        CheckState(nameof(initialC), initialC.Length, batchSize);
        CheckState(nameof(finalH), finalH.Length, batchSize);
        CheckState(nameof(finalC), finalC.Length, batchSize);

        bool inputDropout = context.Training && Dropout > 0;
        bool recurrentDropout = context.Training && RecurrentDropout > 0;
        c.Prepare(batchSize, time, f, h, inputDropout, recurrentDropout, CellNormalization);
        input.Data.CopyTo(c.Input);

        // (S0) dropout masks: per sample, shared across time, one per gate (Keras 2, implementation 1).
        if (inputDropout) DrawMasks(c.InputMasks, Dropout, context.Random!);
        if (recurrentDropout) DrawMasks(c.RecurrentMasks, RecurrentDropout, context.Random!);

        // (S1) input projection for all steps as one GEMM (four, one per gate, with dropout): Ax [B·T, G] = X · Wᵀ.
        ReadOnlySpan<T> w = WeightIh.Value, u = WeightHh.Value, b = Bias.Value;
        if (!inputDropout)
        {
            Gemm.Multiply(Transpose.No, Transpose.Yes, batchSize * time, g, f, T.One, c.Input, f, w, f, T.Zero, c.InputProjection, g);
        }
        else
        {
            for (int k = 0; k < 4; k++)
            {
                Span<T> maskedInput = c.MaskedInputs[k];
                for (int bi = 0; bi < batchSize; bi++)
                {
                    ReadOnlySpan<T> mask = c.InputMasks.AsSpan((k * batchSize + bi) * f, f);
                    for (int t = 0; t < time; t++)
                    {
                        int offset = (bi * time + t) * f;
                        TensorPrimitives.Multiply(c.Input.AsSpan(offset, f), mask, maskedInput.Slice(offset, f));
                    }
                }
                Gemm.Multiply(Transpose.No, Transpose.Yes, batchSize * time, h, f, T.One, maskedInput, f, w.Slice(k * h * f, h * f), f,
                    T.Zero, c.InputProjection.AsSpan(k * h), g);
            }
        }
        if (inputNorm is not null)
        {
            // (C2) LN_i over every row of Ax at once; rows are independent of the recurrence.
            LayerNormKernel.Forward<T>(c.InputProjection, g, inputNorm.Epsilon, inputNorm.Gamma.Value, inputNorm.Beta.Value,
                c.InputProjectionNormalized, c.InputNorm.Normalized, c.InputNorm.Mean, c.InputNorm.InverseStd);
        }
        ReadOnlySpan<T> projected = inputNorm is null ? c.InputProjection : c.InputProjectionNormalized;

        Span<T> hState = c.HiddenStates, cState = c.CellStates;
        if (initialH.IsEmpty) hState.Slice(0, batchSize * h).Clear(); else initialH.CopyTo(hState);
        if (initialC.IsEmpty) cState.Slice(0, batchSize * h).Clear(); else initialC.CopyTo(cState);
        Span<T> lastOutput = c.LastOutput.AsSpan(0, batchSize * h);
        lastOutput.Clear();
        ReadOnlySpan<bool> mask2 = input.Mask;

        for (int s = 0; s < time; s++)
        {
            int tIn = GoBackwards ? time - 1 - s : s;
            ReadOnlySpan<T> hPrev = hState.Slice(s * batchSize * h, batchSize * h);
            ReadOnlySpan<T> cPrev = cState.Slice(s * batchSize * h, batchSize * h);
            Span<T> hNext = hState.Slice((s + 1) * batchSize * h, batchSize * h);
            Span<T> cNext = cState.Slice((s + 1) * batchSize * h, batchSize * h);
            Span<T> gates = c.Gates.AsSpan(s * batchSize * g, batchSize * g);

            // (S2) recurrent product Ah [B, G] = h_{s−1} · Uᵀ (per gate with recurrent dropout).
            if (!recurrentDropout)
            {
                Gemm.Multiply(Transpose.No, Transpose.Yes, batchSize, g, h, T.One, hPrev, h, u, h, T.Zero, gates, g);
            }
            else
            {
                for (int k = 0; k < 4; k++)
                {
                    Span<T> maskedH = c.MaskedHidden[k].AsSpan(s * batchSize * h, batchSize * h);
                    TensorPrimitives.Multiply(hPrev, c.RecurrentMasks.AsSpan(k * batchSize * h, batchSize * h), maskedH);
                    Gemm.Multiply(Transpose.No, Transpose.Yes, batchSize, h, h, T.One, maskedH, h, u.Slice(k * h * h, h * h), h,
                        T.Zero, gates.Slice(k * h), g);
                }
            }

            for (int bi = 0; bi < batchSize; bi++)
            {
                int row = s * batchSize + bi;
                Span<T> z = gates.Slice(bi * g, g);
                ReadOnlySpan<T> ax = projected.Slice((bi * time + tIn) * g, g);
                switch (CellNormalization.Gates)
                {
                    case GateNormalization.None:                                   // (S3) z = Ax + Ah + b
                        TensorPrimitives.Add(z, ax, z);
                        TensorPrimitives.Add(z, b, z);
                        break;
                    case GateNormalization.Summed:                                 // (C1) z = LN_g(Ax + Ah + b)
                        TensorPrimitives.Add(z, ax, z);
                        TensorPrimitives.Add(z, b, z);
                        gateNorm!.ForwardRow(z, z, c.GateNorm, row);
                        break;
                    case GateNormalization.Separate:                               // (C2) z = LN_i(Ax) + LN_h(Ah) + b
                        hiddenGateNorm!.ForwardRow(z, z, c.HiddenGateNorm, row);
                        TensorPrimitives.Add(z, ax, z);
                        TensorPrimitives.Add(z, b, z);
                        break;
                }
                // (S4) i, f, o = σ(z), g = tanh(z); (S5) c = f ⊙ c_prev + i ⊙ g
                Span<T> cRow = cNext.Slice(bi * h, h);
                LstmGates.ActivateAndUpdateCell(z, cPrev.Slice(bi * h, h), cRow, h);
                Span<T> tanhCell = c.TanhCell.AsSpan(row * h, h);
                switch (CellNormalization.CellState)
                {
                    case CellStateNormalization.None:                              // (S6) tanh(c)
                        TensorPrimitives.Tanh(cRow, tanhCell);
                        break;
                    case CellStateNormalization.OutputOnly:                        // (C4) tanh(LN_c(c)), c carried as is
                        cellNorm!.ForwardRow(cRow, tanhCell, c.CellNorm, row);
                        TensorPrimitives.Tanh(tanhCell, tanhCell);
                        break;
                    case CellStateNormalization.Recurrent:                         // (C5) c ← LN_c(c), carried
                        cellNorm!.ForwardRow(cRow, cRow, c.CellNorm, row);
                        TensorPrimitives.Tanh(cRow, tanhCell);
                        break;
                }
                Span<T> hRow = hNext.Slice(bi * h, h);
                TensorPrimitives.Multiply(z.Slice(3 * h, h), tanhCell, hRow);     // (S7) h = o ⊙ tanh(·)
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
                }
                if (ReturnSequences)
                {
                    Span<T> sequenceRow = output.Slice((bi * time + s) * h, h);
                    if (active || !ZeroOutputForMask) outRow.CopyTo(sequenceRow);
                    else sequenceRow.Clear();                                      // (S9') zero_output_for_mask
                }
            }
        }
        if (!ReturnSequences) lastOutput.CopyTo(output);
        if (!finalH.IsEmpty) hState.Slice(time * batchSize * h, batchSize * h).CopyTo(finalH);
        if (!finalC.IsEmpty) cState.Slice(time * batchSize * h, batchSize * h).CopyTo(finalC);
        c.Forwarded = true;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Backward. outputGradient like output; dFinalH, dFinalC [B, H] or empty. Adds into inputGradient [B, T, F],
    // dInitialH, dInitialC [B, H] (each may be empty to skip) and every parameter gradient.
    // ---------------------------------------------------------------------------------------------------------------
    public void Backward(ReadOnlySpan<T> outputGradient, ReadOnlySpan<T> dFinalH, ReadOnlySpan<T> dFinalC, LayerCache cache,
        Span<T> inputGradient, Span<T> dInitialH, Span<T> dInitialC)
    {
        var c = cache as LstmCache<T> ?? throw new ArgumentException($"LSTM '{Name}' needs an LstmCache.", nameof(cache));
        if (!c.Forwarded) throw new InvalidOperationException($"LSTM '{Name}': Backward called before Forward on this cache.");
        int batchSize = c.Batch, time = c.Time, f = InputFeatures, h = Units, g = 4 * h;
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
        Span<T> dhTotal = c.RowScratchH1, dhRaw = c.RowScratchH2, dTanhArg = c.RowScratchH3, dcRaw = c.RowScratchH4;
        Span<T> dz = c.RowScratchG1;
        bool recurrentDropout = c.RecurrentDropoutActive;

        for (int s = time - 1; s >= 0; s--)
        {
            int tIn = GoBackwards ? time - 1 - s : s;
            Span<T> dAh = c.DRecurrentProjection.AsSpan(s * batchSize * g, batchSize * g);
            for (int bi = 0; bi < batchSize; bi++)
            {
                int row = s * batchSize + bi;
                Span<T> dAx = c.DInputProjection.AsSpan((bi * time + tIn) * g, g);
                Span<T> dAhRow = dAh.Slice(bi * g, g);
                Span<T> carry = dOutCarry.Slice(bi * h, h);
                if (ReturnSequences) TensorPrimitives.Add(carry, outputGradient.Slice((bi * time + s) * h, h), carry);
                if (!c.Active[row])
                {
                    // (B12) masked step: the output gradient passes to the previous output (unless the step output zeros),
                    // the state gradients to the previous state.
                    if (ReturnSequences && ZeroOutputForMask) carry.Clear();
                    dAx.Clear();
                    dAhRow.Clear();
                    continue;
                }
                TensorPrimitives.Add(dh.Slice(bi * h, h), carry, dhTotal);        // (B1) dh = dh_next + d output
                carry.Clear();
                if (outputNorm is not null)
                {
                    dhRaw.Clear();
                    outputNorm.BackwardRow(dhTotal, dhRaw, c.OutputNorm, row, c.RowScratchWide);   // (B2)
                }
                else dhTotal.CopyTo(dhRaw);

                ReadOnlySpan<T> gates = c.Gates.AsSpan(row * g, g);
                ReadOnlySpan<T> tanhCell = c.TanhCell.AsSpan(row * h, h);
                Span<T> dcRow = dc.Slice(bi * h, h);
                // (B3) dO = dh ⊙ tanh(·); d(tanh arg) = dh ⊙ o ⊙ (1 − tanh²)
                LstmGates.OutputBackward(gates.Slice(3 * h, h), tanhCell, dhRaw, dz.Slice(3 * h, h), dTanhArg);
                switch (CellNormalization.CellState)
                {
                    case CellStateNormalization.None:                              // (B4) dc = dc_next + d(tanh arg)
                        TensorPrimitives.Add(dcRow, dTanhArg, dcRaw);
                        break;
                    case CellStateNormalization.OutputOnly:                        // (B5) dc = dc_next + LN_cᵀ d(tanh arg)
                        dcRow.CopyTo(dcRaw);
                        cellNorm!.BackwardRow(dTanhArg, dcRaw, c.CellNorm, row, c.RowScratchWide);
                        break;
                    case CellStateNormalization.Recurrent:                         // (B6) dc = LN_cᵀ (dc_next + d(tanh arg))
                        TensorPrimitives.Add(dcRow, dTanhArg, dTanhArg);
                        dcRaw.Clear();
                        cellNorm!.BackwardRow(dTanhArg, dcRaw, c.CellNorm, row, c.RowScratchWide);
                        break;
                }
                // (B7) gate gradients; (B8) dc_prev = dc ⊙ f
                LstmGates.CellBackward(gates, c.CellStates.AsSpan(row * h, h), dcRaw, dz, dcRow, h);

                switch (CellNormalization.Gates)
                {
                    case GateNormalization.None:                                   // (B9) dAx = dAh = dz
                        dz.CopyTo(dAx);
                        dz.CopyTo(dAhRow);
                        break;
                    case GateNormalization.Summed:                                 // (B10) dAx = dAh = LN_gᵀ dz
                        dAx.Clear();
                        gateNorm!.BackwardRow(dz, dAx, c.GateNorm, row, c.RowScratchWide);
                        dAx.CopyTo(dAhRow);
                        break;
                    case GateNormalization.Separate:                               // (B11) dAh = LN_hᵀ dz; dAx = LN_iᵀ dz (after the loop)
                        dz.CopyTo(dAx);
                        dAhRow.Clear();
                        hiddenGateNorm!.BackwardRow(dz, dAhRow, c.HiddenGateNorm, row, c.RowScratchWide);
                        break;
                }
                dh.Slice(bi * h, h).Clear();
            }

            // (B1) dh_prev = dAh · U for active rows (inactive rows keep their dh and have dAh = 0).
            if (!recurrentDropout)
            {
                Gemm.Multiply(Transpose.No, Transpose.No, batchSize, h, g, T.One, dAh, g, u, h, T.One, dh, h);
            }
            else
            {
                Span<T> product = c.DHiddenScratch.AsSpan(0, batchSize * h);
                for (int k = 0; k < 4; k++)
                {
                    Gemm.Multiply(Transpose.No, Transpose.No, batchSize, h, h, T.One, dAh.Slice(k * h), g, u.Slice(k * h * h, h * h), h,
                        T.Zero, product, h);
                    TensorPrimitives.MultiplyAdd(product, c.RecurrentMasks.AsSpan(k * batchSize * h, batchSize * h), dh, dh);
                }
            }
        }
        if (!dInitialH.IsEmpty) TensorPrimitives.Add(dInitialH, dh, dInitialH);
        if (!dInitialC.IsEmpty) TensorPrimitives.Add(dInitialC, dc, dInitialC);

        // dU += Σ_s dAh_sᵀ · h_{s−1}: one GEMM over all steps (per gate with recurrent dropout).
        int rows = batchSize * time;
        Span<T> dU = WeightHh.Gradient;
        if (!recurrentDropout)
            Gemm.Multiply(Transpose.Yes, Transpose.No, g, h, rows, T.One, c.DRecurrentProjection, g, c.HiddenStates, h, T.One, dU, h);
        else
            for (int k = 0; k < 4; k++)
                Gemm.Multiply(Transpose.Yes, Transpose.No, h, h, rows, T.One, c.DRecurrentProjection.AsSpan(k * h), g, c.MaskedHidden[k], h,
                    T.One, dU.Slice(k * h * h, h * h), h);

        // db += Σ dz (the bias sits after LN_i in the separate mode and before LN_g in the summed mode; both read dAx here).
        Span<T> dBias = Bias.Gradient;
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(dBias, c.DInputProjection.AsSpan(r * g, g), dBias);

        Span<T> dProjection = c.DInputProjection.AsSpan(0, rows * g);
        if (inputNorm is not null)
        {
            Span<T> dBeforeNorm = c.DInputProjectionBeforeNorm.AsSpan(0, rows * g);
            dBeforeNorm.Clear();
            LayerNormKernel.Backward<T>(dProjection, c.InputNorm.Normalized, c.InputNorm.InverseStd, g, inputNorm.Gamma.Value,
                dBeforeNorm, inputNorm.Gamma.Gradient, inputNorm.Beta.Gradient, c.RowScratchWide);
            dProjection = dBeforeNorm;
        }

        // dW += dAxᵀ · X and dX += dAx · W (per gate with input dropout, the masks applied to X and to dX).
        Span<T> dW = WeightIh.Gradient;
        if (!c.InputDropoutActive)
        {
            Gemm.Multiply(Transpose.Yes, Transpose.No, g, f, rows, T.One, dProjection, g, c.Input, f, T.One, dW, f);
            if (!inputGradient.IsEmpty)
                Gemm.Multiply(Transpose.No, Transpose.No, rows, f, g, T.One, dProjection, g, w, f, T.One, inputGradient, f);
        }
        else
        {
            Span<T> product = c.DInputScratch.AsSpan(0, rows * f);
            for (int k = 0; k < 4; k++)
            {
                Gemm.Multiply(Transpose.Yes, Transpose.No, h, f, rows, T.One, dProjection.Slice(k * h), g, c.MaskedInputs[k], f,
                    T.One, dW.Slice(k * h * f, h * f), f);
                if (inputGradient.IsEmpty) continue;
                Gemm.Multiply(Transpose.No, Transpose.No, rows, f, h, T.One, dProjection.Slice(k * h), g, w.Slice(k * h * f, h * f), f,
                    T.Zero, product, f);
                for (int bi = 0; bi < batchSize; bi++)
                {
                    ReadOnlySpan<T> mask = c.InputMasks.AsSpan((k * batchSize + bi) * f, f);
                    for (int t = 0; t < time; t++)
                    {
                        int offset = (bi * time + t) * f;
                        TensorPrimitives.MultiplyAdd(product.Slice(offset, f), mask, inputGradient.Slice(offset, f), inputGradient.Slice(offset, f));
                    }
                }
            }
        }
    }

    private void CheckState(string name, int length, int batchSize)
    {
        if (length != 0 && length != batchSize * Units)
            throw new ArgumentException($"LSTM '{Name}': {name} must be [B={batchSize}, H={Units}] ({batchSize * Units} values) or empty, got {length}.", name);
    }

    /// <summary>Inverted dropout masks: 0 with probability p, else 1/(1−p). Four per sample (one per gate), drawn once per call.</summary>
    private static void DrawMasks(T[] masks, double rate, Random random)
    {
        T keep = T.CreateTruncating(1.0 / (1.0 - rate));
        for (int k = 0; k < masks.Length; k++) masks[k] = random.NextDouble() < rate ? T.Zero : keep;
    }
}

/// <summary>γ and β of one LayerNorm inside a cell, with its row-wise forward and backward.</summary>
internal sealed class NormParameters<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public NormParameters(string prefix, int width, T epsilon)
    {
        Width = width;
        Epsilon = epsilon;
        Gamma = new Parameter<T>(prefix + ".weight", width);
        Beta = new Parameter<T>(prefix + ".bias", width);
        Gamma.Value.AsSpan().Fill(T.One);
    }

    public int Width { get; }
    public T Epsilon { get; }
    public Parameter<T> Gamma { get; }
    public Parameter<T> Beta { get; }

    public void ForwardRow(ReadOnlySpan<T> x, Span<T> y, NormCache<T> cache, int row)
        => LayerNormKernel.Forward<T>(x, Width, Epsilon, Gamma.Value, Beta.Value, y, cache.Normalized.AsSpan(row * Width, Width),
            cache.Mean.AsSpan(row, 1), cache.InverseStd.AsSpan(row, 1));

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

    public void Ensure(int rows, int width)
    {
        if (Normalized.Length != rows * width) Normalized = new T[rows * width];
        if (Mean.Length != rows) { Mean = new T[rows]; InverseStd = new T[rows]; }
    }
}

/// <summary>
/// Everything one LSTM forward keeps for its backward, sized for B·T and reused across calls (grows, never shrinks).
/// Time-major buffers ([T, B, ·]) are indexed by the processing step s; batch-first ones ([B, T, ·]) by input time.
/// </summary>
public sealed class LstmCache<T> : LayerCache where T : unmanaged, IFloatingPointIeee754<T>
{
    internal int Batch, Time;
    internal bool Forwarded, InputDropoutActive, RecurrentDropoutActive;
    internal T[] Input = Array.Empty<T>();                       // X [B, T, F]
    internal T[] InputProjection = Array.Empty<T>();             // Ax [B, T, G]
    internal T[] InputProjectionNormalized = Array.Empty<T>();   // LN_i(Ax) [B, T, G]
    internal T[] Gates = Array.Empty<T>();                       // i, f, g, o after activation [T, B, G]
    internal T[] HiddenStates = Array.Empty<T>();                // h_{s−1} for s = 0..T [T+1, B, H]
    internal T[] CellStates = Array.Empty<T>();                  // c_{s−1} for s = 0..T [T+1, B, H]
    internal T[] TanhCell = Array.Empty<T>();                    // tanh of the cell term in h [T, B, H]
    internal bool[] Active = Array.Empty<bool>();                // mask per step [T, B]
    internal T[] LastOutput = Array.Empty<T>();                  // [B, H]
    internal T[] InputMasks = Array.Empty<T>();                  // [4, B, F]
    internal T[] RecurrentMasks = Array.Empty<T>();              // [4, B, H]
    internal T[][] MaskedInputs = new T[4][];                    // X ⊙ m_k [B, T, F] per gate
    internal T[][] MaskedHidden = new T[4][];                    // h_{s−1} ⊙ r_k [T, B, H] per gate
    internal readonly NormCache<T> GateNorm = new(), InputNorm = new(), HiddenGateNorm = new(), CellNorm = new(), OutputNorm = new();
    // Backward buffers.
    internal T[] DInputProjection = Array.Empty<T>();            // dAx [B, T, G]
    internal T[] DInputProjectionBeforeNorm = Array.Empty<T>();  // [B, T, G]
    internal T[] DRecurrentProjection = Array.Empty<T>();        // dAh [T, B, G]
    internal T[] DHidden = Array.Empty<T>(), DCell = Array.Empty<T>(), DOutputCarry = Array.Empty<T>(), DHiddenScratch = Array.Empty<T>();
    internal T[] DInputScratch = Array.Empty<T>();
    internal T[] RowScratchH1 = Array.Empty<T>(), RowScratchH2 = Array.Empty<T>(), RowScratchH3 = Array.Empty<T>(), RowScratchH4 = Array.Empty<T>();
    internal T[] RowScratchG1 = Array.Empty<T>(), RowScratchWide = Array.Empty<T>();

    internal void Prepare(int batch, int time, int f, int h, bool inputDropout, bool recurrentDropout, CellNormalization norm)
    {
        Batch = batch; Time = time; Forwarded = false;
        InputDropoutActive = inputDropout; RecurrentDropoutActive = recurrentDropout;
        int g = 4 * h, bt = batch * time;
        Ensure(ref Input, bt * f);
        Ensure(ref InputProjection, bt * g);
        Ensure(ref Gates, bt * g);
        Ensure(ref HiddenStates, (time + 1) * batch * h);
        Ensure(ref CellStates, (time + 1) * batch * h);
        Ensure(ref TanhCell, bt * h);
        if (Active.Length < bt) Active = new bool[bt];
        Ensure(ref LastOutput, batch * h);
        Ensure(ref DInputProjection, bt * g);
        Ensure(ref DRecurrentProjection, bt * g);
        Ensure(ref DHidden, batch * h); Ensure(ref DCell, batch * h); Ensure(ref DOutputCarry, batch * h); Ensure(ref DHiddenScratch, batch * h);
        Ensure(ref RowScratchH1, h); Ensure(ref RowScratchH2, h); Ensure(ref RowScratchH3, h); Ensure(ref RowScratchH4, h);
        Ensure(ref RowScratchG1, g); Ensure(ref RowScratchWide, g);
        if (inputDropout)
        {
            Ensure(ref InputMasks, 4 * batch * f);
            for (int k = 0; k < 4; k++) Ensure(ref MaskedInputs[k], bt * f);
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
                Ensure(ref InputProjectionNormalized, bt * g); Ensure(ref DInputProjectionBeforeNorm, bt * g);
                break;
        }
        if (norm.CellState != CellStateNormalization.None) CellNorm.Ensure(bt, h);
        if (norm.Hidden) OutputNorm.Ensure(bt, h);
    }

    private static void Ensure(ref T[] buffer, int length)
    {
        if (buffer is null || buffer.Length != length) buffer = new T[length];
    }
}
