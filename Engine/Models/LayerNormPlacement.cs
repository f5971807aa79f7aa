using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>Where LayerNorm goes in a recurrent stack: the choices the placement study compares.</summary>
public enum PlacementKind
{
    /// <summary>No LayerNorm anywhere.</summary>
    None,
    /// <summary>One LayerNorm after each recurrent layer (the seed model).</summary>
    AfterEachRecurrent,
    /// <summary>One LayerNorm before the final Dense only.</summary>
    BeforeDenseOnly,
    /// <summary>One LayerNorm before each recurrent layer (pre-norm), the first one normalizing the raw input.</summary>
    BeforeEachRecurrent,
    /// <summary>LayerNorm inside every LSTM cell (a <see cref="CellNormalization"/> preset), none between layers.</summary>
    InCell,
    /// <summary>LayerNorm inside every cell and one after each recurrent layer.</summary>
    InCellAndAfterEach,
}

/// <summary>A placement: its kind and, for the in-cell kinds, which cell LayerNorm variant.</summary>
public sealed record LayerNormPlacement(PlacementKind Kind, CellNormalization? Cell = null)
{
    public static LayerNormPlacement None { get; } = new(PlacementKind.None);
    public static LayerNormPlacement AfterEachRecurrent { get; } = new(PlacementKind.AfterEachRecurrent);
    public static LayerNormPlacement BeforeDenseOnly { get; } = new(PlacementKind.BeforeDenseOnly);
    public static LayerNormPlacement BeforeEachRecurrent { get; } = new(PlacementKind.BeforeEachRecurrent);
    public static LayerNormPlacement InCell(CellNormalization cell) => new(PlacementKind.InCell, cell);
    public static LayerNormPlacement InCellAndAfterEach(CellNormalization cell) => new(PlacementKind.InCellAndAfterEach, cell);

    public CellNormalization CellOrNone => Kind is PlacementKind.InCell or PlacementKind.InCellAndAfterEach ? Cell ?? CellNormalization.KerasGates : CellNormalization.None;

    /// <summary>Short names used on the command line and in reports: none, after-each, before-dense, pre-norm, in-cell:&lt;preset&gt;, in-cell+after:&lt;preset&gt;.</summary>
    public string Name => Kind switch
    {
        PlacementKind.None => "none",
        PlacementKind.AfterEachRecurrent => "after-each",
        PlacementKind.BeforeDenseOnly => "before-dense",
        PlacementKind.BeforeEachRecurrent => "pre-norm",
        PlacementKind.InCell => "in-cell:" + PresetName(CellOrNone),
        PlacementKind.InCellAndAfterEach => "in-cell+after:" + PresetName(CellOrNone),
        _ => Kind.ToString(),
    };

    public override string ToString() => Name;

    private static string PresetName(CellNormalization cell)
        => CellNormalization.Presets.FirstOrDefault(p => p.Value == cell).Key
           ?? $"gates={cell.Gates},cell={cell.CellState},hidden={cell.Hidden}".ToLowerInvariant();

    public static LayerNormPlacement Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Trim().ToLowerInvariant().Split(':', 2);
        CellNormalization Preset()
        {
            if (parts.Length < 2) return CellNormalization.KerasGates;
            return CellNormalization.Presets.TryGetValue(parts[1], out CellNormalization? cell)
                ? cell
                : throw new ArgumentException($"Unknown cell LayerNorm preset '{parts[1]}' in placement '{text}'; expected one of: {string.Join(", ", CellNormalization.Presets.Keys)}.");
        }
        return parts[0] switch
        {
            "none" => None,
            "after-each" => AfterEachRecurrent,
            "before-dense" => BeforeDenseOnly,
            "pre-norm" => BeforeEachRecurrent,
            "in-cell" => InCell(Preset()),
            "in-cell+after" => InCellAndAfterEach(Preset()),
            _ => throw new ArgumentException($"Unknown placement '{text}'; expected none, after-each, before-dense, pre-norm, in-cell[:preset] or in-cell+after[:preset]."),
        };
    }

    /// <summary>Every placement the study compares, with each in-cell preset.</summary>
    public static IReadOnlyList<LayerNormPlacement> All { get; } =
        new[] { None, AfterEachRecurrent, BeforeDenseOnly, BeforeEachRecurrent }
            .Concat(CellNormalization.Presets.Where(p => p.Key != "none").Select(p => InCell(p.Value)))
            .Append(InCellAndAfterEach(CellNormalization.KerasGates))
            .ToArray();
}

/// <summary>
/// A recurrent stack without its LayerNorms: the seed model is
/// <c>new StackSpec(features, [100, 200], bidirectional: true, dropout: 0.4, recurrentDropout: 0.4, outputUnits: 2)</c>.
/// All recurrent layers but the last return sequences; the last returns sequences only if <see cref="SequenceOutput"/>.
/// </summary>
public sealed record StackSpec(int InputFeatures, IReadOnlyList<int> Units, bool Bidirectional = true, double Dropout = 0, double RecurrentDropout = 0,
    int OutputUnits = 2, Activation OutputActivation = Activation.Linear, bool SequenceOutput = false, double LayerNormEpsilon = 1e-3, int Seed = 0)
{
    public ModelSpec WithPlacement(LayerNormPlacement placement)
    {
        ArgumentNullException.ThrowIfNull(placement);
        if (Units.Count == 0) throw new ArgumentException("A stack needs at least one recurrent layer.");
        CellNormalization cell = placement.CellOrNone;
        bool after = placement.Kind is PlacementKind.AfterEachRecurrent or PlacementKind.InCellAndAfterEach;
        var layers = new List<LayerSpec>();
        for (int k = 0; k < Units.Count; k++)
        {
            if (placement.Kind == PlacementKind.BeforeEachRecurrent) layers.Add(LayerSpec.LayerNorm(LayerNormEpsilon));
            bool sequences = k < Units.Count - 1 || SequenceOutput;
            LayerSpec lstm = LayerSpec.Lstm(Units[k], sequences, Dropout, RecurrentDropout, cell);
            layers.Add(Bidirectional ? LayerSpec.Bidirectional(lstm) : lstm);
            if (after) layers.Add(LayerSpec.LayerNorm(LayerNormEpsilon));
        }
        if (placement.Kind == PlacementKind.BeforeDenseOnly) layers.Add(LayerSpec.LayerNorm(LayerNormEpsilon));
        layers.Add(LayerSpec.Dense(OutputUnits, OutputActivation));
        return new ModelSpec { InputFeatures = InputFeatures, Seed = Seed, Layers = layers };
    }
}
