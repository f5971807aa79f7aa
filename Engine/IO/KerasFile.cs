using System.IO.Compression;
using System.Text;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.IO;

/// <summary>
/// Loads models and weights that Keras saved: Keras 3's <c>model.save("m.keras")</c> (a zip of <c>config.json</c> and
/// <c>model.weights.h5</c>) and <c>model.save_weights("m.weights.h5")</c>, and tf.keras 2's HDF5 files
/// (<c>model.save("m.h5")</c>, <c>model.save_weights("w.h5")</c>). The weights go where Keras' own loaders put them:
/// Keras 3 addresses each layer of a Sequential by its class (<c>layers/lstm</c>, <c>layers/lstm_1</c>, ...) and its
/// variables by their order (<c>vars/0</c>, <c>vars/1</c>, ...); tf.keras 2 pairs the layers that have weights in file
/// order. Keras' layouts become NumLstm's (PyTorch's): an LSTM kernel (F, 4H) is transposed to <c>weight_ih</c> [4H, F],
/// the gate order i, f, c, o is NumLstm's. Everything is checked before anything is copied: on any error
/// (a <see cref="NumLstmFormatException"/> naming the file, the HDF5 path and what was expected) the model is unchanged.
/// docs/formats.md, "Keras files".
/// </summary>
public static class KerasFile
{
    /// <summary>The zip members of a <c>.keras</c> archive that NumLstm reads.</summary>
    public const string ConfigEntry = "config.json", WeightsEntry = "model.weights.h5";

    /// <summary>
    /// Builds the model a <c>.keras</c> archive or a tf.keras 2 <c>model.save("m.h5")</c> file describes (its config,
    /// read as <see cref="ModelSpec.FromKerasJson"/> does) and loads its weights. <paramref name="seed"/> seeds what
    /// the file does not hold (dropout masks in training).
    /// </summary>
    public static Sequential<T> Load<T>(string path, int seed = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        KerasContent content = Read(path);
        string config = content.Config ?? throw new NumLstmFormatException(path, "config",
            content.IsArchive
                ? $"expected a '{ConfigEntry}' member (a Keras model archive), found none."
                : "expected a model config (the 'model_config' attribute tf.keras 2's model.save writes), found none: a weights-only file. Build the model (ModelSpec.FromKerasJson or ModelBuilder) and call KerasFile.LoadWeights.");
        ModelSpec spec;
        try
        {
            spec = ModelSpec.FromKerasJson(config, seed, source: content.IsArchive ? $"{path}!{ConfigEntry}" : $"{path} attribute model_config");
        }
        catch (FormatException e)
        {
            throw new NumLstmFormatException(path, "config", e.Message, e);
        }
        Sequential<T> model = spec.Build<T>();
        LoadWeights(model, content, strict: true);
        return model;
    }

    /// <summary>
    /// What the model of a <c>.keras</c> archive was compiled with (its config's <c>compile_config</c>: optimizer, loss,
    /// metrics; <see cref="Training.KerasCompileConfig"/>), or null for a model saved uncompiled. Continue training it as
    /// Keras would: <c>trainer.Fit(data, KerasFile.LoadCompileConfig(path)!.ToTrainingOptions(epochs: 5))</c>. The
    /// optimizer's state (its moments and step count) is not read: training resumes with fresh moments. tf.keras 2's
    /// <c>.h5</c> files keep theirs in a <c>training_config</c> attribute NumLstm does not read (null).
    /// </summary>
    public static Training.KerasCompileConfig? LoadCompileConfig(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        KerasContent content = Read(path);
        if (!content.IsArchive || content.Config is null) return null;
        try
        {
            return Training.KerasCompileConfig.FromModelConfig(content.Config, $"{path}!{ConfigEntry}");
        }
        catch (FormatException e)
        {
            throw new NumLstmFormatException(path, "compile_config", e.Message, e);
        }
    }

    /// <summary>
    /// Loads the weights of a <c>.keras</c> archive, a Keras 3 <c>.weights.h5</c> file or a tf.keras 2 <c>.h5</c> file
    /// into a model built to match (the same layers in the same order; layer names need not match, as in Keras).
    /// <paramref name="strict"/>: the file may not hold weights for layers the model lacks (Keras 3 ignores them;
    /// tf.keras 2 refuses a different count of layers with weights either way).
    /// </summary>
    public static void LoadWeights<T>(Sequential<T> model, string path, bool strict = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        LoadWeights(model, Read(path), strict);
    }

    /// <summary>
    /// Saves the weights as Keras 3's <c>model.save_weights("m.weights.h5")</c> writes them, for Keras'
    /// <c>model.load_weights</c> on the equivalent Keras model (built with the same layers in the same order): the paths
    /// Keras 3 reads (<c>layers/lstm/cell/vars/0</c>, ...), Keras' layouts (kernels transposed back to (in, out)), float32
    /// for a float model and float64 for a double one, in the HDF5 layout h5py writes. The name must end in
    /// <c>.weights.h5</c>, as Keras requires (its <c>load_weights</c> reads any other <c>.h5</c> as a tf.keras 2 file).
    /// Written atomically: an existing file is replaced only by a complete one. A model with LayerNorm inside its LSTM
    /// cells has no Keras counterpart and is refused.
    /// </summary>
    public static void SaveWeights<T>(Sequential<T> model, string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!path.EndsWith(".weights.h5", StringComparison.Ordinal))
            throw new ArgumentException($"Expected a path ending in '.weights.h5' (Keras 3's save_weights and load_weights require it: load_weights reads another '.h5' as a tf.keras 2 file), got '{path}'.", nameof(path));
        Hdf5Writer.Group root = Keras3Weights.Tree(model);
        AtomicFile.Write(path, stream => Hdf5Writer.Write(stream, root));
    }

    /// <summary>
    /// Saves the model as Keras 3's <c>model.save("m.keras")</c> does, for <c>keras.models.load_model</c>: a zip (stored,
    /// as Keras writes it) of <c>metadata.json</c>, <c>config.json</c> (<see cref="ModelSpec.ToKerasJson"/>: the model's
    /// layers as Keras classes, an input of <paramref name="timeSteps"/> steps or any) and <c>model.weights.h5</c> (as
    /// <see cref="SaveWeights"/>). No optimizer or compile config: <c>load_model</c> compiles only when a compile config
    /// is present, so the model loads uncompiled (compile it in Keras to train it there). The name must end in
    /// <c>.keras</c>, as Keras requires. Written atomically.
    /// </summary>
    public static void Save<T>(Sequential<T> model, string path, int? timeSteps = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!path.EndsWith(".keras", StringComparison.Ordinal))
            throw new ArgumentException($"Expected a path ending in '.keras' (Keras 3's load_model requires it), got '{path}'.", nameof(path));
        string config = ModelSpecOf.Describe(model).ToKerasJson(timeSteps, typeof(T) == typeof(float) ? "float32" : "float64");
        Hdf5Writer.Group root = Keras3Weights.Tree(model);
        var weights = new MemoryStream();
        Hdf5Writer.Write(weights, root);
        string metadata = $"{{\"keras_version\": \"{KerasFormatVersion}\", \"date_saved\": \"{DateTime.UtcNow:yyyy-MM-dd@HH:mm:ss}\"}}";
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (name, bytes) in new[] { ("metadata.json", Encoding.UTF8.GetBytes(metadata)), (ConfigEntry, Encoding.UTF8.GetBytes(config)), (WeightsEntry, weights.ToArray()) })
            {
                using Stream entry = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                entry.Write(bytes);
            }
        });
    }

    /// <summary>The Keras release whose archive format <see cref="Save"/> writes (DTypePolicy dtypes: Keras 3.4 and later).</summary>
    public const string KerasFormatVersion = "3.4.0";

    internal sealed record KerasContent(Hdf5File Weights, string? Config, bool IsArchive);

    internal static KerasContent Read(string path)
    {
        using FileStream stream = FileReading.OpenSeekable(path);
        return Read(stream, path);
    }

    /// <summary>Reads a Keras file from a seekable stream; <paramref name="name"/> names it in messages.</summary>
    internal static KerasContent Read(Stream stream, string name)
    {
        long length = FileReading.Length(stream, name);
        byte[] head = FileReading.ReadExactly(stream, Math.Min(length, 8), name, "signature");
        stream.Seek(-head.Length, SeekOrigin.Current);
        if (head.AsSpan().StartsWith("PK\u0003\u0004"u8)) return ReadArchive(stream, name);
        if (!Hdf5File.HasSignature(head))
            throw new NumLstmFormatException(name, "signature", "expected a Keras file: a .keras zip archive (starting 'PK') or an HDF5 file (.weights.h5, .h5; starting 89 'HDF'), found neither.");
        Hdf5File h5 = Hdf5File.Parse(FileReading.ReadExactly(stream, length, name, "file"), name);
        string? config = null;
        if (h5.Root.Attribute("model_config") is { } attribute)
        {
            string[] values = h5.Root.ReadStrings(attribute);
            if (values.Length != 1) throw new NumLstmFormatException(name, "attribute 'model_config'", $"expected one string (the model's JSON), found {values.Length}.");
            config = values[0];
        }
        return new KerasContent(h5, config, false);
    }

    private static KerasContent ReadArchive(Stream stream, string path)
    {
        try
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
            ZipArchiveEntry? weights = zip.GetEntry(WeightsEntry);
            if (weights is null)
            {
                bool npz = zip.GetEntry("model.weights.npz") is not null;
                throw new NumLstmFormatException(path, $"member '{WeightsEntry}'", npz
                    ? "expected the weights as HDF5 (Keras' default), found 'model.weights.npz' (save_model(weights_format='npz')), whose NumPy object arrays hold pickled dictionaries, which NumLstm does not unpickle. Save with the default format."
                    : $"expected a '{WeightsEntry}' member (a Keras 3 model archive), found none (members: {Echo.List(zip.Entries.Select(e => e.FullName))}).");
            }
            ZipArchiveEntry? config = zip.GetEntry(ConfigEntry);
            string? json = config is null ? null : Decode(path, config, Member(path, config, 4L * KerasConfig.MaxJsonLength));
            return new KerasContent(Hdf5File.Parse(Member(path, weights, Array.MaxLength), $"{path}!{WeightsEntry}"), json, true);
        }
        catch (InvalidDataException e)
        {
            throw new NumLstmFormatException(path, "zip archive", $"expected a valid zip archive (a .keras file), found a damaged one: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new NumLstmFormatException(path, "file", $"cannot be read: {e.Message}", e);
        }
    }

    private static string Decode(string path, ZipArchiveEntry entry, byte[] bytes)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new NumLstmFormatException(path, $"member '{Echo.Name(entry.FullName)}'", "expected UTF-8 JSON, found invalid bytes.", e);
        }
    }

    private static byte[] Member(string path, ZipArchiveEntry entry, long maxBytes)
    {
        string field = $"member '{Echo.Name(entry.FullName)}'";
        if (entry.Length > maxBytes)
            throw new NumLstmFormatException(path, field, $"expected at most {maxBytes} bytes, found {entry.Length} declared.");
        // Read in pieces, never allocating what the archive only declares: a few hundred bytes may declare 2 GB.
        var bytes = new MemoryStream();
        using (Stream stream = entry.Open())
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                if (bytes.Length + read > entry.Length)
                    throw new NumLstmFormatException(path, field, $"expected {entry.Length} bytes (its declared size), found more.");
                bytes.Write(buffer, 0, read);
            }
        }
        if (bytes.Length != entry.Length)
            throw new NumLstmFormatException(path, field, $"expected {entry.Length} bytes (its declared size), found {bytes.Length}.");
        return bytes.ToArray();
    }

    internal static void LoadWeights<T>(Sequential<T> model, KerasContent content, bool strict) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Hdf5File file = content.Weights;
        // tf.keras 2 writes 'layer_names' whole or, over 64 KB, in chunks 'layer_names0', 'layer_names1', ...
        static bool HasLayerNames(Hdf5Object node) => node.Attribute("layer_names") is not null || node.Attribute("layer_names0") is not null;
        Hdf5Object? legacy = HasLayerNames(file.Root) ? file.Root
            : file.Root.IsGroup && file.Root.Child("model_weights") is { } weights && HasLayerNames(weights) ? weights
            : null;
        var staged = new List<(Parameter<T> Target, T[] Values)>();
        if (legacy is not null) LegacyWeights.Stage(model, file, legacy, staged);
        else Keras3Weights.Stage(model, file, strict, staged);
        foreach (var (target, values) in staged) values.CopyTo(target.Value, 0);
    }

    /// <summary>The weights of one NumLstm layer in Keras' order and layout, with the parameters they go to.</summary>
    internal static IEnumerable<KerasVariable<T>> VariablesOf<T>(Lstm<T> lstm, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!lstm.CellNormalization.IsNone)
            throw new ArgumentException($"Layer '{lstm.Name}' normalizes inside its cell ({lstm.CellNormalization}); Keras' LSTM has no such weights, so no Keras file can fill it.", "model");
        int f = lstm.InputFeatures, g = 4 * lstm.Units, h = lstm.Units;
        string suffix = what.Length > 0 ? $" ({what})" : "";
        yield return new KerasVariable<T>($"kernel{suffix}", [f, g], lstm.WeightIh, Transpose: true);
        yield return new KerasVariable<T>($"recurrent_kernel{suffix}", [h, g], lstm.WeightHh, Transpose: true);
        yield return new KerasVariable<T>($"bias{suffix}", [g], lstm.Bias, Transpose: false);
    }

    internal static IEnumerable<KerasVariable<T>> VariablesOf<T>(Layer<T> layer) where T : unmanaged, IFloatingPointIeee754<T> => layer switch
    {
        Lstm<T> lstm => VariablesOf(lstm, ""),
        Bidirectional<T> both => VariablesOf(both.Forwards, "forward").Concat(VariablesOf(both.Backwards, "backward")),
        LayerNorm<T> norm => new[] { (norm.Gamma, "gamma"), (norm.Beta, "beta") }
            .Where(p => p.Item1 is not null)
            .Select(p => new KerasVariable<T>(p.Item2, [p.Item1!.Shape[0]], p.Item1!, Transpose: false)),
        Dense<T> dense => new[] { new KerasVariable<T>("kernel", [dense.Weight.Shape[1], dense.Weight.Shape[0]], dense.Weight, Transpose: true) }
            .Concat(dense.Bias is null ? [] : [new KerasVariable<T>("bias", [dense.Units], dense.Bias, Transpose: false)]),
        _ => [],
    };

    /// <summary>Keras' class name of a NumLstm layer, snake-cased as Keras 3 names its container entries.</summary>
    internal static string KerasKey<T>(Layer<T> layer) where T : unmanaged, IFloatingPointIeee754<T> => layer switch
    {
        Lstm<T> => "lstm",
        Bidirectional<T> => "bidirectional",
        LayerNorm<T> => "layer_normalization",
        Dense<T> { TimeDistributed: true } => "time_distributed",
        Dense<T> => "dense",
        Dropout<T> => "dropout",
        Masking<T> => "masking",
        _ => throw new ArgumentException($"Layer '{layer.Name}' ({layer.GetType().Name}) has no Keras counterpart.", "model"),
    };

    /// <summary>Reads one Keras variable's dataset into the parameter's layout, checking its shape.</summary>
    internal static void Stage<T>(Hdf5File file, Hdf5Object dataset, KerasVariable<T> variable, string layerName, List<(Parameter<T>, T[])> staged, bool legacy = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string field = $"dataset '{Echo.Name(dataset.Path)}'";
        if (!dataset.IsDataset)
            throw file.Fail(field, $"expected a dataset holding the {variable.Name} of layer '{layerName}', found a group.");
        long[] shape = dataset.Shape;
        if (!shape.SequenceEqual(variable.KerasShape.Select(d => (long)d)))
        {
            bool cudnn = legacy && variable.Name.StartsWith("bias", StringComparison.Ordinal) && shape.Length == 1 && shape[0] == 2L * variable.KerasShape[0];
            throw file.Fail($"{field} shape", $"expected [{string.Join(", ", variable.KerasShape)}] (the {variable.Name} of layer '{layerName}'), found [{string.Join(", ", shape)}]"
                + (cudnn ? ": two biases, as tf.keras 2's CuDNNLSTM saved them; tf.keras converted such files when loading, NumLstm does not (load it in tf.keras 2 into an LSTM and save again)." : "."));
        }
        Hdf5Type type = dataset.Type;
        if (type.DType is null)
            throw file.Fail($"{field} datatype", $"expected numbers (float16, float32, float64 or an integer type, cast as Keras' assign casts) for the {variable.Name} of layer '{layerName}', found {type.Description}{(dataset.Attribute("dtype") is not null ? " (Keras' bfloat16 is not read)" : "")}.");
        T[] values = dataset.Read<T>();
        // Keras' (in, out) to NumLstm's [out, in].
        if (variable.Transpose) values = KerasVariable<T>.Transposed(values, variable.KerasShape[0], variable.KerasShape[1]);
        staged.Add((variable.Target, values));
    }
}

/// <summary>One Keras variable: its name, Keras' shape, the NumLstm parameter it fills and whether it is transposed.</summary>
internal sealed record KerasVariable<T>(string Name, int[] KerasShape, Parameter<T> Target, bool Transpose)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The transpose of a row-major rows × columns matrix (columns × rows).</summary>
    public static T[] Transposed(ReadOnlySpan<T> values, int rows, int columns)
    {
        var transposed = new T[values.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                transposed[c * rows + r] = values[r * columns + c];
        return transposed;
    }
}

/// <summary>
/// Keras 3's layout (saving_lib.py): a Sequential's layers under <c>layers/</c>, each addressed by its snake-cased
/// class name made unique in order (<c>lstm</c>, <c>lstm_1</c>); a layer's own variables in <c>&lt;path&gt;/vars/0</c>,
/// <c>1</c>, ...; an LSTM's on its <c>cell</c>, a Bidirectional's on <c>forward_layer/cell</c> and
/// <c>backward_layer/cell</c>. Files of Keras 2.13's first format name <c>layers</c> <c>_layer_checkpoint_dependencies</c>.
/// </summary>
internal static class Keras3Weights
{
    public static void Stage<T>(Sequential<T> model, Hdf5File file, bool strict, List<(Parameter<T>, T[])> staged)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (path, layer, variables) in Saveables(model))
            Expect(file, path, layer.Name, variables, staged);
        if (!strict) return;
        var keys = Keys(model).Select(k => k.Key).ToHashSet(StringComparer.Ordinal);
        foreach (string container in new[] { "layers", "_layer_checkpoint_dependencies" })
        {
            if (file.Find(container) is not { IsGroup: true } group) continue;
            foreach (var (name, child) in group.Children())
            {
                if (keys.Contains(name)) continue;
                string? dataset = FirstDataset(child, 0, new HashSet<long>());
                if (dataset is not null)
                    throw file.Fail($"group '{Echo.Name(child.Path)}'", $"expected weights only for the model's {model.Layers.Count} layers (Keras 3 names them {Echo.List(keys)}), found weights of another layer ('{Echo.Name(dataset)}'). Load with strict: false to ignore them, as Keras does.");
            }
        }
    }

    /// <summary>Each layer with its Keras 3 container key: the snake-cased class, then _1, _2, ... per class in order
    /// (saving_lib._save_container_state).</summary>
    private static IEnumerable<(Layer<T> Layer, string Key)> Keys<T>(Sequential<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var used = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Layer<T> layer in model.Layers)
        {
            string key = KerasFile.KerasKey(layer);
            if (used.TryGetValue(key, out int n)) { used[key] = n + 1; key = $"{key}_{n + 1}"; }
            else used[key] = 0;
            yield return (layer, key);
        }
    }

    /// <summary>
    /// Every Keras object of the model that save_weights gives a <c>vars</c> group, with its path and its variables in
    /// Keras' order: a layer's own (<c>layers/dense</c>); an LSTM's empty one and its cell's (<c>layers/lstm/cell</c>); a
    /// Bidirectional's empty one, and each wrapped LSTM's empty one and its cell's (<c>forward_layer/cell</c>,
    /// <c>backward_layer/cell</c>); a TimeDistributed's empty one and its Dense's (<c>layers/time_distributed/layer</c>). Reading and writing both walk this one description of Keras 3's layout.
    /// </summary>
    private static IEnumerable<(string Path, Layer<T> Layer, IReadOnlyList<KerasVariable<T>> Variables)> Saveables<T>(Sequential<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (layer, key) in Keys(model))
        {
            string path = $"layers/{key}";
            switch (layer)
            {
                case Lstm<T> lstm:
                    yield return (path, layer, []);
                    yield return ($"{path}/cell", layer, KerasFile.VariablesOf(lstm, "").ToList());
                    break;
                case Bidirectional<T> both:
                    yield return (path, layer, []);
                    foreach (var (name, direction, what) in new[] { ("forward_layer", both.Forwards, "forward"), ("backward_layer", both.Backwards, "backward") })
                    {
                        yield return ($"{path}/{name}", layer, []);
                        yield return ($"{path}/{name}/cell", layer, KerasFile.VariablesOf(direction, what).ToList());
                    }
                    break;
                case Dense<T> { TimeDistributed: true }:
                    // Keras 3's TimeDistributed keeps the Dense as its attribute 'layer' (saving_lib walks it there).
                    yield return (path, layer, []);
                    yield return ($"{path}/layer", layer, KerasFile.VariablesOf(layer).ToList());
                    break;
                default:
                    yield return (path, layer, KerasFile.VariablesOf(layer).ToList());
                    break;
            }
        }
    }

    /// <summary>The groups and datasets Keras 3's save_weights writes for the model (every saveable's <c>vars</c>, empty
    /// ones included, and the model's own at the root).</summary>
    public static Hdf5Writer.Group Tree<T>(Sequential<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var root = new Hdf5Writer.Group();
        root.At("vars");
        foreach (var (path, _, variables) in Saveables(model))
        {
            Hdf5Writer.Group group = root;
            foreach (string part in path.Split('/')) group = group.At(part);
            Fill(group.At("vars"), variables);
        }
        return root;
    }

    private static void Fill<T>(Hdf5Writer.Group vars, IEnumerable<KerasVariable<T>> variables) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int index = 0;
        foreach (KerasVariable<T> variable in variables)
        {
            T[] values = variable.Target.Value;
            // NumLstm's [out, in] back to Keras' (in, out).
            if (variable.Transpose) values = KerasVariable<T>.Transposed(values, variable.KerasShape[1], variable.KerasShape[0]);
            // float32 for a float model (Keras' default floatx), float64 otherwise (a double model; Half widened).
            byte[] data = typeof(T) == typeof(float)
                ? ElementConverter.ToLittleEndianBytes<T>(values)
                : ElementConverter.ToLittleEndianBytes<double>(values.Select(double.CreateChecked).ToArray());
            vars.Children[index.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new Hdf5Writer.Dataset(
                typeof(T) == typeof(float) ? TensorDType.F32 : TensorDType.F64, variable.KerasShape.Select(d => (long)d).ToArray(), data);
            index++;
        }
    }

    /// <summary>Reads the <c>vars</c> group of one Keras object and checks it holds exactly the expected variables.</summary>
    private static void Expect<T>(Hdf5File file, string path, string layerName, IReadOnlyList<KerasVariable<T>> expected, List<(Parameter<T>, T[])> staged)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Hdf5Object? vars = Vars(file, path);
        var found = vars is null ? [] : vars.Children().ToList();
        if (found.Count != expected.Count)
        {
            string where = vars is null ? $"group '{path}/vars'" : $"group '{Echo.Name(vars.Path)}'";
            throw file.Fail(where, $"expected {expected.Count} variables for layer '{layerName}'{(expected.Count > 0 ? $" ({string.Join(", ", expected.Select(v => $"{v.Name} [{string.Join(", ", v.KerasShape)}]"))})" : "")}, found {found.Count}{(vars is null ? " (no such group: is the model the one saved?)" : found.Count > 0 ? $" ({Echo.List(found.Select(f => f.Name))})" : "")}.");
        }
        for (int i = 0; i < expected.Count; i++)
        {
            Hdf5Object dataset = vars!.Child(i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                ?? throw file.Fail($"group '{Echo.Name(vars.Path)}'", $"expected variables named 0 to {expected.Count - 1} (Keras' order), found {Echo.List(found.Select(f => f.Name))}.");
            KerasFile.Stage(file, dataset, expected[i], layerName, staged);
        }
    }

    /// <summary>The <c>vars</c> group of a path as Keras' H5Entry finds it (with its Keras 2.13 fallback), or null.</summary>
    private static Hdf5Object? Vars(Hdf5File file, string path)
    {
        if (file.Find(path) is { IsGroup: true } group && group.Child("vars") is { } vars) return vars;
        if (file.Root.Child("_layer_checkpoint_dependencies") is null) return null;
        string old = path.Replace("layers", "_layer_checkpoint_dependencies", StringComparison.Ordinal);
        return file.Find(old) is { IsGroup: true } oldGroup ? oldGroup.Child("vars") : null;
    }

    /// <summary>The path of a dataset below the node, or null; each object is visited once (hard links may loop).</summary>
    private static string? FirstDataset(Hdf5Object node, int depth, HashSet<long> visited)
    {
        if (!visited.Add(node.Address)) return null;
        if (node.IsDataset) return node.Path;
        if (!node.IsGroup || depth > Hdf5File.MaxDepth) return null;
        foreach (var (_, child) in node.Children())
            if (FirstDataset(child, depth + 1, visited) is { } found) return found;
        return null;
    }
}

/// <summary>
/// tf.keras 2's HDF5 layout (hdf5_format.py, legacy_h5_format.py): attribute <c>layer_names</c> on the root (or on
/// <c>model_weights</c> for <c>model.save</c>), a group per layer with attribute <c>weight_names</c> and a dataset per
/// name; the layers with weights are paired with the model's in order (<c>by_name=False</c>, the default).
/// </summary>
internal static class LegacyWeights
{
    public static void Stage<T>(Sequential<T> model, Hdf5File file, Hdf5Object root, List<(Parameter<T>, T[])> staged)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var saved = new List<(string Name, string[] WeightNames)>();
        foreach (string name in Strings(file, root, "layer_names"))
        {
            Hdf5Object group = root.Child(name) ?? throw file.Fail($"group '{Echo.Name(name)}'", "expected the group of a layer listed in 'layer_names', found none.");
            string[] weightNames = Strings(file, group, "weight_names", optional: true);   // absent: no weights, as Keras reads it
            if (weightNames.Length > 0) saved.Add((name, weightNames));
        }
        // Weights of the model itself (a subclassed model's own variables): a Sequential has none, and Keras refuses a
        // count other than its own ("Weight count mismatch for top-level weights").
        if (root.Child("top_level_model_weights") is { } topLevel && Strings(file, topLevel, "weight_names", optional: true) is { Length: > 0 } topNames)
            throw file.Fail($"group '{Echo.Name(topLevel.Path)}' attribute 'weight_names'", $"expected no top-level weights (a Sequential model has none; Keras refuses the mismatch too), found {topNames.Length} ({Echo.List(topNames)}).");
        var layers = model.Layers.Where(l => KerasFile.VariablesOf(l).Any()).ToList();
        if (layers.Count != saved.Count)
            throw file.Fail("attribute 'layer_names'", $"expected {layers.Count} layers with weights (the model's: {Echo.List(layers.Select(l => l.Name))}), found {saved.Count} saved layers with weights ({Echo.List(saved.Select(s => s.Name))}). tf.keras 2 refuses this too (\"Layer count mismatch\").");
        for (int k = 0; k < layers.Count; k++)
        {
            var expected = KerasFile.VariablesOf(layers[k]).ToList();
            var (name, weightNames) = saved[k];
            if (weightNames.Length != expected.Count)
                throw file.Fail($"group '{Echo.Name(name)}' attribute 'weight_names'", $"expected {expected.Count} weights for layer #{k} ('{layers[k].Name}' in the model: {string.Join(", ", expected.Select(v => v.Name))}), found {weightNames.Length} ({Echo.List(weightNames)}).");
            Hdf5Object group = root.Child(name)!;
            for (int i = 0; i < expected.Count; i++)
            {
                Hdf5Object dataset = Resolve(group, weightNames[i])
                    ?? throw file.Fail($"group '{Echo.Name(group.Path)}'", $"expected the dataset '{Echo.Name(weightNames[i])}' named in 'weight_names', found none.");
                KerasFile.Stage(file, dataset, expected[i], layers[k].Name, staged, legacy: true);
            }
        }
    }

    private static Hdf5Object? Resolve(Hdf5Object group, string relative)
    {
        Hdf5Object current = group;
        foreach (string part in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!current.IsGroup) return null;
            Hdf5Object? next = current.Child(part);
            if (next is null) return null;
            current = next;
        }
        return current;
    }

    /// <summary>A list attribute as tf.keras writes it: whole, or in chunks <c>name0</c>, <c>name1</c>, ... when over 64 KB.</summary>
    private static string[] Strings(Hdf5File file, Hdf5Object node, string name, bool optional = false)
    {
        if (node.Attribute(name) is { } whole) return node.ReadStrings(whole);
        var parts = new List<string>();
        for (int chunk = 0; node.Attribute($"{name}{chunk}") is { } part; chunk++)
        {
            if (chunk > 1 << 16) throw file.Fail($"attribute '{name}'", "expected at most 65536 chunks, found more.");
            parts.AddRange(node.ReadStrings(part));
        }
        if (parts.Count == 0 && node.Attribute($"{name}0") is null && !optional)
            throw file.Fail($"object '{Echo.Name(node.Path)}' attribute '{name}'", "expected it (tf.keras 2 writes it on every layer group and on the root), found none.");
        return [.. parts];
    }
}
