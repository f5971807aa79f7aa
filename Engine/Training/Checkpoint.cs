using System.Globalization;
using System.Text.Json;
using NumLstm.IO;
using NumLstm.Models;
using NumLstm.Optimizers;

namespace NumLstm.Training;

/// <summary>
/// A training checkpoint: the model (weights with PyTorch names and its spec, as <see cref="ModelFile"/>), the optimizer
/// state (tensors <c>optimizer.{parameter}.{slot}</c>, kind, step, learning rate and hyperparameters in the metadata) and
/// the completed epoch count. The training RNG needs no state of its own: shuffling and dropout draw from streams derived
/// from (seed, epoch, batch), so resuming at an epoch boundary with the same seed continues bit-exactly.
/// Written to a temporary file and renamed into place: a crash never leaves a torn checkpoint.
/// </summary>
public static class Checkpoint
{
    private const string OptimizerKey = "numlstm.optimizer";
    private const string EpochsKey = "numlstm.completed_epochs";
    private const string Prefix = ModelFile.OptimizerPrefix;
    // A repeated field ("step" twice) is an error, not "the last one wins": the header is read as hostile input.
    private static readonly JsonSerializerOptions HeaderJson = new() { AllowDuplicateProperties = false };

    public static void Save(Trainer trainer, string path)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        Optimizer<float> optimizer = trainer.Optimizer ?? throw new InvalidOperationException("The trainer has no optimizer yet: checkpoint after Fit, or give it one.");
        // Never write a file that Load refuses.
        if (trainer.CompletedEpochs < 0)
            throw new InvalidOperationException($"The trainer's CompletedEpochs is {trainer.CompletedEpochs}; a checkpoint stores a count of at least 0, as Checkpoint.Load requires.");
        // The optimizer may step a subset of the model's parameters, or list them in another order: each state tensor is
        // named by the model's name of the optimizer's own parameter (found by reference), and the header lists those
        // names in the optimizer's order, so Load rebuilds the same list.
        string[] optimizerNames = ModelNamesOf(optimizer, trainer.Model);
        OptimizerState<float> state = optimizer.ExportState();
        var tensors = new List<SafeTensor>();
        int perParameter = optimizer.SlotNames.Count;
        for (int j = 0; j < state.Slots.Count; j++)
        {
            OptimizerSlot<float> slot = state.Slots[j];
            Parameter<float> parameter = optimizer.Parameters[j / perParameter];
            tensors.Add(SafeTensor.Create<float>($"{Prefix}{optimizerNames[j / perParameter]}.{slot.SlotName}", slot.Values, parameter.Shape));
        }
        var header = new Dictionary<string, object>
        {
            ["kind"] = state.Kind,
            ["step"] = state.Step,
            ["learning_rate"] = state.LearningRate,
            ["initial_learning_rate"] = optimizer.InitialLearningRate,
            ["hyperparameters"] = state.Hyperparameters,
            ["slots"] = optimizer.SlotNames,
            ["parameters"] = optimizerNames,
        };
        if (state.Scalars.Count > 0) header["scalars"] = state.Scalars;   // NAdam's mu_product
        var metadata = new Dictionary<string, string>
        {
            [OptimizerKey] = JsonSerializer.Serialize(header),
            [EpochsKey] = trainer.CompletedEpochs.ToString(CultureInfo.InvariantCulture),
        };
        ModelFile.Save(trainer.Model, path, metadata, tensors);
    }

    /// <summary>The model's name ("{layer}.{parameter}") of each of the optimizer's parameters, in the optimizer's order;
    /// throws <see cref="ArgumentException"/> for a parameter that is not one of the model's.</summary>
    private static string[] ModelNamesOf(Optimizer<float> optimizer, Sequential<float> model)
    {
        var byParameter = new Dictionary<Parameter<float>, string>(ReferenceEqualityComparer.Instance);
        foreach (NamedParameter<float> named in model.NamedParameters) byParameter[named.Parameter] = named.Name;
        var names = new string[optimizer.Parameters.Count];
        for (int p = 0; p < names.Length; p++)
            if (!byParameter.TryGetValue(optimizer.Parameters[p], out names[p]!))
                throw new ArgumentException($"The optimizer's parameter {p} ('{optimizer.Parameters[p].Name}', {optimizer.Parameters[p].Length} values) is not one of the model's " +
                    $"{model.NamedParameters.Count} parameters: expected an optimizer over model.Parameters or some of them; nothing was written.", "trainer");
        return names;
    }

    /// <summary>
    /// Loads a checkpoint into a new trainer with its model and optimizer, ready to continue with Fit. A malformed,
    /// hostile or unreadable file gives <see cref="NumLstmFormatException"/> naming the file and the field.
    /// </summary>
    public static Trainer Load(string path) => Load(SafeTensorsFile.Read(path), path);

    /// <summary>Loads a checkpoint from a readable, seekable stream; see <see cref="Load(string)"/>.</summary>
    public static Trainer Load(Stream stream, string? sourceName = null) => Load(SafeTensorsFile.Read(stream, sourceName), sourceName);

    private static Trainer Load(SafeTensorsContent content, string? path)
    {
        Sequential<float> model = ModelFile.Load<float>(content, path);
        string json = content.Metadata.GetValueOrDefault(OptimizerKey)
                      ?? throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}'", "expected the optimizer state, found none (a model file, not a checkpoint?).");
        string? epochsText = content.Metadata.GetValueOrDefault(EpochsKey);
        if (!int.TryParse(epochsText, NumberStyles.None, CultureInfo.InvariantCulture, out int epochs))
            throw new NumLstmFormatException(path, $"metadata '{EpochsKey}'",
                $"expected a non-negative integer, found {(epochsText is null ? "none" : $"'{Echo.Text(epochsText, 64)}'")}.");
        OptimizerHeader header;
        try
        {
            header = JsonSerializer.Deserialize<OptimizerHeader>(json, HeaderJson) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}'", "expected the optimizer JSON: " + e.Message, e);
        }
        if (header.kind is null || header.hyperparameters is null)
            throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}'", $"expected the fields kind and hyperparameters, found {(header.kind is null ? "no kind" : "no hyperparameters")}.");
        // A missing step or learning rate is not 0: a resumed Adam would redo its bias corrections, and a rate of 0 stop it.
        if (header.step is null || header.learning_rate is null)
            throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}' {(header.step is null ? "step" : "learning_rate")}",
                $"expected the field '{(header.step is null ? "step" : "learning_rate")}' ({(header.step is null ? "the optimizer's step count" : "the learning rate of the next step")}), found none.");
        // The optimizer's parameters by their model names, in its order (all of the model's, in order, when the header
        // lists none, as in checkpoints written before optimizers over a subset were kept).
        var byName = model.NamedParameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        string[] names = header.parameters ?? model.NamedParameters.Select(p => p.Name).ToArray();
        var parameters = new List<Parameter<float>>(names.Length);
        foreach (string name in names)
            parameters.Add(name is not null && byName.TryGetValue(name, out NamedParameter<float>? named) ? named.Parameter
                : throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}' parameters",
                    $"expected names of the model's parameters, found '{Echo.Name(name)}', which the model does not have."));
        Optimizer<float> optimizer = Create(header, parameters, path);
        // Parameters excluded from weight decay, by index (ImportState then checks the state records the same ones).
        foreach (string key in header.hyperparameters.Keys)
        {
            if (!key.StartsWith(Optimizer<float>.ExcludedFromWeightDecayKey, StringComparison.Ordinal)) continue;
            string indexText = key[Optimizer<float>.ExcludedFromWeightDecayKey.Length..];
            if (!int.TryParse(indexText, NumberStyles.None, CultureInfo.InvariantCulture, out int index) || index >= parameters.Count)
                throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}' hyperparameter '{Echo.Name(key)}'",
                    $"expected the index of one of the optimizer's {parameters.Count} parameters after '{Optimizer<float>.ExcludedFromWeightDecayKey}', found '{Echo.Name(indexText)}'.");
            optimizer.ExcludeFromWeightDecay(parameters[index]);
        }
        var slots = new List<OptimizerSlot<float>>();
        var stateNames = new HashSet<string>(StringComparer.Ordinal);
        for (int p = 0; p < parameters.Count; p++)
            foreach (string slotName in optimizer.SlotNames)
            {
                string name = $"{Prefix}{names[p]}.{slotName}";
                if (!content.Tensors.TryGetValue(name, out SafeTensor? tensor))
                    throw new NumLstmFormatException(path, $"tensor '{name}'", "expected an optimizer state tensor, found none.");
                if (tensor.ElementCount != parameters[p].Length)
                    throw new NumLstmFormatException(path, $"tensor '{name}' shape", $"expected {parameters[p].Length} values, found {tensor.ElementCount}.");
                slots.Add(new OptimizerSlot<float>(parameters[p].Name, slotName, tensor.ToArray<float>()));
                stateNames.Add(name);
            }
        // ModelFile.Load checked every other tensor; the optimizer's are checked here, as strictly.
        string? stray = content.Tensors.Keys.FirstOrDefault(n => n.StartsWith(Prefix, StringComparison.Ordinal) && !stateNames.Contains(n));
        if (stray is not null)
            throw new NumLstmFormatException(path, $"tensor '{Echo.Name(stray)}'",
                $"expected only the state of {header.kind} ([{string.Join(", ", optimizer.SlotNames)}] per parameter), found an unexpected optimizer tensor.");
        try
        {
            optimizer.ImportState(new OptimizerState<float>(header.kind, header.step.Value, header.learning_rate.Value, parameters.Select(p => p.Name).ToList(), header.hyperparameters, slots, header.initial_learning_rate, header.scalars));
        }
        catch (ArgumentException e)
        {
            throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}'", e.Message, e);
        }
        return new Trainer(model, optimizer) { CompletedEpochs = epochs };
    }

    private static Optimizer<float> Create(OptimizerHeader header, List<Parameter<float>> parameters, string? path)
    {
        double rate = header.learning_rate ?? throw new InvalidOperationException("Load checks learning_rate first.");
        double H(string name) => header.hyperparameters.TryGetValue(name, out double v) ? v
            : throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}'", $"expected hyperparameter '{name}' for {Echo.Name(header.kind)}.");
        // keras_formula = 1 marks Keras's update (absent for PyTorch's, as in states written before the option existed).
        bool Keras() => header.hyperparameters.GetValueOrDefault("keras_formula") != 0;
        AdamFormula Formula() => Keras() ? AdamFormula.Keras : AdamFormula.PyTorch;
        // decoupled_weight_decay = 1 marks a decoupled decay (absent when coupled, as in states written before the option,
        // when these optimizers always coupled it; NAdam writes it always). With λ = 0 it changes nothing and is not written:
        // the formula's default then, as the optimizer was built.
        bool? Decoupled() => header.hyperparameters.GetValueOrDefault("weight_decay") == 0 ? null
            : header.hyperparameters.GetValueOrDefault("decoupled_weight_decay") != 0;
        try
        {
            return header.kind switch
            {
                "Adam" => new Adam<float>(parameters, rate, H("beta1"), H("beta2"), H("eps"), H("weight_decay"), H("amsgrad") != 0, Formula(), Decoupled()),
                "AdamW" => new AdamW<float>(parameters, rate, H("beta1"), H("beta2"), H("eps"), H("weight_decay"), H("amsgrad") != 0, Formula()),
                "SGD" => new Sgd<float>(parameters, rate, H("momentum"), H("dampening"), H("nesterov") != 0, H("weight_decay"),
                    Keras() ? SgdFormula.Keras : SgdFormula.PyTorch, Decoupled()),
                "RMSprop" => new RmsProp<float>(parameters, rate, H("alpha"), H("eps"), H("momentum"), H("centered") != 0, H("weight_decay"),
                    Keras() ? RmsPropFormula.Keras : RmsPropFormula.PyTorch, Decoupled()),
                "Adagrad" => new Adagrad<float>(parameters, rate, H("initial_accumulator_value"), H("eps"), H("lr_decay"), H("weight_decay"),
                    Keras() ? AdagradFormula.Keras : AdagradFormula.PyTorch, Decoupled()),
                "Adamax" => new Adamax<float>(parameters, rate, H("beta1"), H("beta2"), H("eps"), H("weight_decay"), Formula(), Decoupled()),
                "NAdam" => new NAdam<float>(parameters, rate, H("beta1"), H("beta2"), H("eps"), H("weight_decay"), H("momentum_decay"),
                    H("decoupled_weight_decay") != 0, Formula()),
                _ => throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}'", $"expected optimizer kind Adam, AdamW, SGD, RMSprop, Adagrad, Adamax or NAdam, found '{Echo.Name(header.kind)}'."),
            };
        }
        catch (ArgumentException e)
        {
            throw new NumLstmFormatException(path, $"metadata '{OptimizerKey}'", e.Message, e);
        }
    }

#pragma warning disable IDE1006 // JSON field names
    private sealed record OptimizerHeader(string kind, long? step, double? learning_rate, Dictionary<string, double> hyperparameters, double? initial_learning_rate = null,
        Dictionary<string, double>? scalars = null, string[]? parameters = null);
#pragma warning restore IDE1006
}
