namespace NumLstm.Layers;

/// <summary>Where LayerNorm acts on the gate pre-activations inside an LSTM cell. Equations (C1)–(C3) in docs/math.md.</summary>
public enum GateNormalization
{
    /// <summary>z = W·x + U·h + b (the plain LSTM).</summary>
    None,
    /// <summary>z = LN(W·x + U·h + b) over the whole 4H: the common Keras answer.</summary>
    Summed,
    /// <summary>z = LN_i(W·x) + LN_h(U·h) + b, each over 4H: Ba et al. 2016, TF-Addons LayerNormLSTMCell.</summary>
    Separate,
}

/// <summary>Where LayerNorm acts on the new cell state.</summary>
public enum CellStateNormalization
{
    /// <summary>h = o ⊙ tanh(c).</summary>
    None,
    /// <summary>h = o ⊙ tanh(LN_c(c)); the un-normalized c is carried (Ba et al. 2016).</summary>
    OutputOnly,
    /// <summary>c ← LN_c(c) is carried into the recurrence and h = o ⊙ tanh(c) (TF-Addons, PyTorch's benchmark LayerNormLSTMCell).</summary>
    Recurrent,
}

/// <summary>
/// LayerNorm options inside an LSTM cell. Each LayerNorm has its own γ (ones) and β (zeros), over 4H for gates and H for
/// the cell state and the hidden output. Epsilon defaults to Keras's 1e-3 (TF-Addons uses the same).
/// </summary>
public sealed record CellNormalization(
    GateNormalization Gates = GateNormalization.None,
    CellStateNormalization CellState = CellStateNormalization.None,
    bool Hidden = false,
    double Epsilon = 1e-3)
{
    /// <summary>No LayerNorm inside the cell.</summary>
    public static CellNormalization None { get; } = new();

    /// <summary>LayerNorm on the summed gate pre-activations only (the common Keras custom-cell answer).</summary>
    public static CellNormalization KerasGates { get; } = new(GateNormalization.Summed);

    /// <summary>The widely copied Keras snippet: summed gates and the new hidden output normalized (with the sigmoids applied).</summary>
    public static CellNormalization KerasSnippet { get; } = new(GateNormalization.Summed, CellStateNormalization.None, Hidden: true);

    /// <summary>Ba, Kiros and Hinton 2016: separate LayerNorms on W·x and U·h, and on c inside the output tanh.</summary>
    public static CellNormalization BaEtAl2016 { get; } = new(GateNormalization.Separate, CellStateNormalization.OutputOnly);

    /// <summary>TF-Addons LayerNormLSTMCell and PyTorch's benchmark LayerNormLSTMCell: separate gate norms, normalized c carried.</summary>
    public static CellNormalization TfAddons { get; } = new(GateNormalization.Separate, CellStateNormalization.Recurrent);

    public bool IsNone => Gates == GateNormalization.None && CellState == CellStateNormalization.None && !Hidden;

    /// <summary>The named presets, for studies and specs.</summary>
    public static IReadOnlyDictionary<string, CellNormalization> Presets { get; } = new Dictionary<string, CellNormalization>
    {
        ["none"] = None,
        ["keras-gates"] = KerasGates,
        ["keras-snippet"] = KerasSnippet,
        ["ba2016"] = BaEtAl2016,
        ["tf-addons"] = TfAddons,
    };

    public void Validate()
    {
        if (!Enum.IsDefined(Gates)) throw new ArgumentOutOfRangeException(nameof(Gates), Gates, "Unknown gate normalization.");
        if (!Enum.IsDefined(CellState)) throw new ArgumentOutOfRangeException(nameof(CellState), CellState, "Unknown cell-state normalization.");
        if (!LayerNorm<float>.IsUsableEpsilon(Epsilon))
            throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, $"Cell LayerNorm epsilon must be a finite value > 0 that stays > 0 in float (at least {float.Epsilon:R}), got {Epsilon:R}.");
    }
}
