using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.IO;

/// <summary>
/// Saves and loads models as safetensors with PyTorch state_dict names, the model spec in the header metadata
/// (key <see cref="SpecKey"/>). Names, for a layer named L:
/// LSTM and Bidirectional: <c>L.weight_ih_l0</c> [4H, F], <c>L.weight_hh_l0</c> [4H, H], <c>L.bias_ih_l0</c>,
/// <c>L.bias_hh_l0</c> [4H] and the same with <c>_reverse</c> for the backward direction, as nn.LSTM(batch_first=True,
/// bidirectional=...) names them. NumLstm has one bias: it saves it as bias_ih and zeros as bias_hh, and loads their sum.
/// Cell LayerNorms: <c>L.layernorm_{gates,i,h,c,out}[_reverse].{weight,bias}</c>. LayerNorm and Dense:
/// <c>L.weight</c>, <c>L.bias</c>, as nn.LayerNorm and nn.Linear.
/// </summary>
public static class ModelFile
{
    public const string SpecKey = "numlstm.spec";
    public const string FormatKey = "format";
    internal const string OptimizerPrefix = "optimizer.";

    /// <summary>The state_dict view of a model: PyTorch name → (our parameter, role).</summary>
    public static IReadOnlyList<SafeTensor> ToStateDict<T>(Sequential<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var tensors = new List<SafeTensor>();
        foreach (NamedParameter<T> p in model.NamedParameters)
        {
            foreach ((string name, bool zeros) in PyTorchNames(p))
            {
                T[] values = zeros ? new T[p.Parameter.Length] : p.Parameter.Value;
                tensors.Add(SafeTensor.Create<T>(name, values, p.Parameter.Shape));
            }
        }
        return tensors;
    }

    /// <summary>Whether a tensor name is in the optimizer's part of a file, which <see cref="Load{T}(string)"/> leaves to
    /// <c>Checkpoint.Load</c>.</summary>
    internal static bool IsOptimizerTensor(string name) => name.StartsWith(OptimizerPrefix, StringComparison.Ordinal);

    /// <summary>
    /// Writes the model (weights and spec) atomically: the previous file stays intact if anything fails. Never writes a
    /// file <see cref="Load{T}(string)"/> refuses: a model whose spec fails <see cref="ModelSpec.Validate"/> (more than
    /// <see cref="ModelSpec.MaxLayers"/> layers, a name longer than <see cref="ModelSpec.MaxNameLength"/>, units past the
    /// limits, ...), a layer named <c>optimizer</c> or <c>optimizer.*</c> (its tensors would be taken for optimizer
    /// state), extra metadata under <see cref="SpecKey"/> or extra tensors not named <c>optimizer.*</c> give an
    /// <see cref="ArgumentException"/> before the file is touched.
    /// </summary>
    public static void Save<T>(Sequential<T> model, string path, IReadOnlyDictionary<string, string>? extraMetadata = null, IEnumerable<SafeTensor>? extraTensors = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        ModelSpec spec = ModelSpecOf.Describe(model);
        try { spec.Validate(); }
        catch (FormatException e) { throw new ArgumentException($"The model cannot be saved as a file ModelFile.Load accepts: {e.Message}", nameof(model), e); }
        foreach (Layer<T> layer in model.Layers)
            if (IsOptimizerTensor(layer.Name + "."))
                throw new ArgumentException($"Layer '{Echo.Name(layer.Name)}' cannot be saved: expected a name other than 'optimizer' and not starting with '{OptimizerPrefix}' " +
                    "(tensors named so are a checkpoint's optimizer state, which ModelFile.Load skips).", nameof(model));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = "pt",
            [SpecKey] = spec.ToJson(),
        };
        if (extraMetadata is not null)
            foreach (var (key, value) in extraMetadata)
            {
                if (key == SpecKey)
                    throw new ArgumentException($"extraMetadata holds the key '{SpecKey}', which ModelFile.Save writes itself (the model spec): expected other keys.", nameof(extraMetadata));
                metadata[key] = value;
            }
        IEnumerable<SafeTensor> tensors = ToStateDict(model);
        if (extraTensors is not null)
        {
            List<SafeTensor> extra = extraTensors.ToList();
            foreach (SafeTensor tensor in extra)
                if (tensor is not null && !IsOptimizerTensor(tensor.Name))
                    throw new ArgumentException($"extraTensors holds '{Echo.Name(tensor.Name)}': expected names starting with '{OptimizerPrefix}' " +
                        "(ModelFile.Load refuses any other tensor the model lacks).", nameof(extraTensors));
            tensors = tensors.Concat(extra);
        }
        SafeTensorsFile.Write(path, tensors, metadata);
    }

    /// <summary>
    /// Loads a model saved by <see cref="Save"/>: the spec from the metadata, then the weights. Any malformed, hostile or
    /// unreadable file gives <see cref="NumLstmFormatException"/> naming the file and the field, and so does a missing,
    /// misshapen or unexpected tensor; only tensors named <c>optimizer.*</c> are ignored, so a checkpoint loads as the
    /// model it holds. The spec's parameter count
    /// is checked against the values the file holds before the model is built, so a small file cannot make the loader
    /// allocate a large model.
    /// </summary>
    public static Sequential<T> Load<T>(string path) where T : unmanaged, IFloatingPointIeee754<T>
        => Load<T>(SafeTensorsFile.Read(path), path);

    /// <summary>Loads a model from a readable, seekable stream (from its position to its end); see <see cref="Load{T}(string)"/>.</summary>
    /// <param name="stream">A readable, seekable stream.</param>
    /// <param name="sourceName">Names the stream in error messages.</param>
    public static Sequential<T> Load<T>(Stream stream, string? sourceName = null) where T : unmanaged, IFloatingPointIeee754<T>
        => Load<T>(SafeTensorsFile.Read(stream, sourceName), sourceName);

    internal static Sequential<T> Load<T>(SafeTensorsContent content, string? path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!content.Metadata.TryGetValue(SpecKey, out string? json))
            throw new NumLstmFormatException(path, $"metadata '{SpecKey}'", "expected the model spec in the header metadata, found none (use LoadWeights with a model you build for PyTorch files).");
        ModelSpec spec;
        try { spec = ModelSpec.FromJson(json, path); }
        catch (FormatException e) { throw new NumLstmFormatException(path, $"metadata '{SpecKey}'", e.Message, e); }
        long stored = content.Tensors.Where(t => !IsOptimizerTensor(t.Key)).Sum(t => t.Value.ElementCount);
        long needed = spec.ParameterCount();
        if (needed > stored)
            throw new NumLstmFormatException(path, $"metadata '{SpecKey}'",
                $"the spec describes a model of {(needed == long.MaxValue ? "more than 2^63" : needed.ToString(System.Globalization.CultureInfo.InvariantCulture))} parameters, but the file holds only {stored} weight values.");
        Sequential<T> model;
        try { model = spec.Build<T>(); }
        catch (ArgumentException e) { throw new NumLstmFormatException(path, $"metadata '{SpecKey}'", "the spec does not describe a valid model: " + e.Message, e); }
        // Strict, except for a checkpoint's optimizer state, so that a checkpoint also loads as a model.
        LoadWeights(model, content, strict: true, ignorePrefix: OptimizerPrefix);
        return model;
    }

    /// <summary>
    /// Loads weights from a safetensors file with PyTorch state_dict names into a model built to match (e.g. a state_dict
    /// that PyTorch saved for an equivalent nn.LSTM / nn.LayerNorm / nn.Linear stack whose module names are the layer
    /// names). <paramref name="rename"/> maps file names to the expected ones first. Strict: a missing or extra tensor,
    /// or a wrong shape, is an error naming the file and the tensor; the model is unchanged unless everything checks.
    /// </summary>
    public static void LoadWeights<T>(Sequential<T> model, string path, bool strict = true, Func<string, string>? rename = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        LoadWeights(model, SafeTensorsFile.Read(path), strict, null, rename);
    }

    internal static void LoadWeights<T>(Sequential<T> model, SafeTensorsContent content, bool strict, string? ignorePrefix = null, Func<string, string>? rename = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string path = content.SourcePath ?? "(stream)";
        var byName = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in content.Tensors)
        {
            if (ignorePrefix is not null && name.StartsWith(ignorePrefix, StringComparison.Ordinal)) continue;
            string mapped = rename?.Invoke(name) ?? name;
            if (!byName.TryAdd(mapped, tensor))
                throw new NumLstmFormatException(path, $"tensor '{Echo.Name(name)}'", $"renamed to '{Echo.Name(mapped)}', which another tensor also maps to.");
        }
        var used = new HashSet<string>(StringComparer.Ordinal);
        var staged = new List<(Parameter<T> Target, T[] Values)>();
        foreach (NamedParameter<T> p in model.NamedParameters)
        {
            T[]? sum = null;
            foreach ((string name, bool _) in PyTorchNames(p))
            {
                if (!byName.TryGetValue(name, out SafeTensor? tensor))
                    throw new NumLstmFormatException(path, $"tensor '{name}'", $"expected a tensor of shape [{string.Join(", ", p.Parameter.Shape)}] for {p.Name}, found none.");
                if (!tensor.Shape.SequenceEqual(p.Parameter.Shape.Select(d => (long)d)))
                    throw new NumLstmFormatException(path, $"tensor '{name}' shape", $"expected [{string.Join(", ", p.Parameter.Shape)}], found [{string.Join(", ", tensor.Shape)}].");
                T[] values = tensor.ToArray<T>();
                if (sum is null) sum = values;
                // PyTorch's bias_ih + bias_hh. A zero bias_hh (ours, as saved) is not added, so a saved bias loads bit for
                // bit: −0 + 0 would give +0, and adding to a signaling NaN quiets it.
                else for (int k = 0; k < sum.Length; k++) if (values[k] != T.Zero) sum[k] += values[k];
                used.Add(name);
            }
            staged.Add((p.Parameter, sum!));
        }
        if (strict)
        {
            string? extra = byName.Keys.FirstOrDefault(n => !used.Contains(n));
            if (extra is not null)
                throw new NumLstmFormatException(path, $"tensor '{Echo.Name(extra)}'", $"expected only the model's tensors{(ignorePrefix is null ? "" : $" (and '{ignorePrefix}*' ones)")}, found an unexpected one ({byName.Count - used.Count} in all).");
        }
        foreach (var (target, values) in staged) values.CopyTo(target.Value, 0);
    }

    /// <summary>The file names of one parameter; an LSTM bias maps to bias_ih (its value) and bias_hh (zeros on save).</summary>
    internal static IEnumerable<(string Name, bool ZerosOnSave)> PyTorchNames<T>(NamedParameter<T> p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        string layer = p.Layer.Name, name = p.Parameter.Name;
        if (p.Layer is not (Lstm<T> or Bidirectional<T>)) { yield return ($"{layer}.{name}", false); yield break; }
        string suffix = name.EndsWith("_reverse", StringComparison.Ordinal) ? "_reverse" : "";
        string stem = suffix.Length > 0 ? name[..^suffix.Length] : name;
        switch (stem)
        {
            case "weight_ih": yield return ($"{layer}.weight_ih_l0{suffix}", false); break;
            case "weight_hh": yield return ($"{layer}.weight_hh_l0{suffix}", false); break;
            case "bias":
                yield return ($"{layer}.bias_ih_l0{suffix}", false);
                yield return ($"{layer}.bias_hh_l0{suffix}", true);
                break;
            default: yield return ($"{layer}.{name}", false); break;   // cell LayerNorms: layernorm_i_reverse.weight etc.
        }
    }
}
