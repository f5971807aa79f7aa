using System.Globalization;
using System.Text.Json;
using NumLstm.IO;
using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>
/// Reads a Keras model config, the JSON of <c>model.to_json()</c> from Keras 3 or tf.keras 2, into a
/// <see cref="ModelSpec"/>: a Sequential of InputLayer, LSTM, Bidirectional(LSTM), LayerNormalization, Dense, Dropout and
/// Masking.
/// Every option NumLstm does not implement is refused with a <see cref="FormatException"/> naming the JSON path and
/// the value, never dropped; the fields read, refused and ignored are listed in docs/formats.md ("Keras model
/// configs"). Weights are not read here: a config holds none.
/// </summary>
/// <remarks>
/// The formats were checked against keras-team/keras: Keras 3 (keras/src/models/sequential.py get_config,
/// layers/rnn/lstm.py, rnn.py, bidirectional.py, normalization/layer_normalization.py, core/dense.py,
/// regularization/dropout.py, core/masking.py, core/input_layer.py, saving/serialization_lib.py) and tf.keras 2
/// (keras/layers/rnn/lstm.py, base_rnn.py, bidirectional.py, layers/core/masking.py, engine/base_layer.py).
/// </remarks>
public static partial class KerasConfig
{
    /// <summary>Longest config accepted, in characters (a 1000-layer Keras 3 BiLSTM config is about 6 MB).</summary>
    public const int MaxJsonLength = 16 * 1024 * 1024;

    /// <summary>Deepest JSON nesting accepted (a Keras 3 BiLSTM config nests 9 deep; compile configs a few more).</summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// The spec of the Keras Sequential model <paramref name="json"/> describes. <paramref name="inputFeatures"/> is
    /// used when the config does not say the input's last dimension (no InputLayer, batch_input_shape or build
    /// config); when it does, the two must agree. <paramref name="source"/> names the input in error messages.
    /// </summary>
    public static ModelSpec ToSpec(string json, int seed = 0, int? inputFeatures = null, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (inputFeatures is <= 0) throw new ArgumentOutOfRangeException(nameof(inputFeatures), inputFeatures, "Input features must be positive.");
        var reader = new Reader(source);
        using JsonDocument document = reader.Parse(json);
        return reader.Read(document.RootElement, seed, inputFeatures);
    }

    // --------------------------------------------------------------------------------------------------- the reader

    private readonly record struct Flow(bool Sequence, int Features);

    private sealed record KerasLayer(string Path, string ClassName, Obj Config, JsonElement? BuildConfig);

    private static readonly string[] WrapperKeys = ["module", "class_name", "config", "registered_name", "build_config", "name"];
    private static readonly string[] CommonKeys = ["name", "trainable", "dtype", "batch_input_shape"];
    private static readonly string[] RegularizerKeys =
        ["kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer", "beta_regularizer", "gamma_regularizer"];
    private static readonly string[] ConstraintKeys =
        ["kernel_constraint", "recurrent_constraint", "bias_constraint", "beta_constraint", "gamma_constraint"];

    private static readonly string[] LstmKeys =
    [
        .. CommonKeys, "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
        "bias_initializer", "unit_forget_bias", .. RegularizerKeys[..4], .. ConstraintKeys[..3], "dropout", "recurrent_dropout",
        "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "time_major", "zero_output_for_mask",
        "implementation", "seed", "use_cudnn", "enable_caching_device", "dynamic",
    ];

    private static readonly string[] BidirectionalKeys = [.. CommonKeys, "layer", "backward_layer", "merge_mode", "activity_regularizer", "dynamic"];

    private static readonly string[] LayerNormKeys =
    [
        .. CommonKeys, "axis", "epsilon", "center", "scale", "rms_scaling", "beta_initializer", "gamma_initializer",
        "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", "activity_regularizer", "dynamic",
    ];

    private static readonly string[] DenseKeys =
    [
        .. CommonKeys, "units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
        "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint", "lora_rank", "lora_alpha",
        "quantization_config", "dynamic",
    ];

    private static readonly string[] DropoutKeys = [.. CommonKeys, "rate", "noise_shape", "seed", "dynamic"];

    private static readonly string[] MaskingKeys = [.. CommonKeys, "mask_value", "dynamic"];

    private static readonly string[] InputLayerKeys = ["name", "batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "optional"];

    /// <summary>Keys of a Bidirectional's backward layer that may differ from the forward layer's.</summary>
    private static readonly HashSet<string> MirrorExempt = ["name", "go_backwards", "zero_output_for_mask", "seed", "trainable"];

    private sealed partial class Reader
    {
        private readonly string? source;

        /// <param name="source">Names the input in messages (a file, an archive member).</param>
        /// <param name="what">What the messages call the input: "Keras config", or "Keras compile config" (KerasConfig.Compile.cs).</param>
        public Reader(string? source, string what = "Keras config")
        {
            this.source = source;
            Where = source is null ? what : $"{what} '{Echo.Name(source)}'";
        }

        public string Where { get; }

        /// <summary>The document of a config: at most <see cref="MaxJsonLength"/> characters, <see cref="MaxDepth"/> deep.</summary>
        public JsonDocument Parse(string json)
        {
            if (json.Length > MaxJsonLength)
                throw Fail("", $"{json.Length} characters is more than the {MaxJsonLength} a Keras config may have.");
            try
            {
                return JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxDepth });
            }
            catch (JsonException e)
            {
                throw new FormatException($"{Where}: invalid JSON (line {e.LineNumber}, byte {e.BytePositionInLine}): {e.Message}", e);
            }
        }

        public FormatException Fail(string path, string message) => new(path.Length == 0 ? $"{Where}: {message}" : $"{Where}: {path}: {message}");

        public ModelSpec Read(JsonElement root, int seed, int? inputFeatures)
        {
            Obj model = Object(root, "");
            model.OnlyKnown(["module", "class_name", "config", "registered_name", "build_config", "compile_config", "keras_version", "backend"]);
            string className = RequiredString(model, "class_name");
            bool functional = className is "Functional" or "Model";
            if (!functional && className != "Sequential")
                throw Fail(model.At("class_name"), $"'{Echo.Name(className)}' is not a model class NumLstm reads (expected Sequential, or a Functional model that is a chain of layers).");
            CheckKerasClass(model, className);

            // Keras up to 2.2 wrote the layer list itself as the config; later versions an object holding it.
            JsonElement configElement = model.Required("config");
            JsonElement layersElement;
            string layersPath;
            // Where the config says the input shape: the InputLayer and the first layer (pass 1) are named first in
            // messages, the model-level build shapes after them.
            var inputShapes = new List<(int Features, string Path)>();
            var modelShapes = new List<(JsonElement Shape, string Path)>();
            List<(JsonElement Element, string Path)>? chain = null;
            if (functional)
            {
                Obj config = Object(configElement, "config");
                config.OnlyKnown(["name", "trainable", "layers", "input_layers", "output_layers", "dtype"]);
                OptionalName(config);
                OptionalBool(config, "trainable", true);
                CheckDtype(config.Get("dtype"), config.At("dtype"));
                layersElement = config.Required("layers");
                layersPath = config.At("layers");
                if (layersElement.ValueKind != JsonValueKind.Array) throw Fail(layersPath, $"must be a list of layers, got {Kind(layersElement)}.");
                if (layersElement.GetArrayLength() > ModelSpec.MaxLayers + 1)
                    throw Fail(layersPath, $"{layersElement.GetArrayLength()} layers is more than the {ModelSpec.MaxLayers} a NumLstm model may have.");
                chain = Chain(layersElement, layersPath, config);
            }
            else if (configElement.ValueKind == JsonValueKind.Array)
            {
                layersElement = configElement;
                layersPath = "config";
            }
            else
            {
                Obj config = Object(configElement, "config");
                config.OnlyKnown(["name", "layers", "trainable", "dtype", "build_input_shape"]);
                OptionalName(config);
                OptionalBool(config, "trainable", true);
                CheckDtype(config.Get("dtype"), config.At("dtype"));
                if (config.Get("build_input_shape") is { ValueKind: not JsonValueKind.Null } built)
                    modelShapes.Add((built, config.At("build_input_shape")));
                layersElement = config.Required("layers");
                layersPath = config.At("layers");
            }
            if (model.Get("build_config") is { ValueKind: not JsonValueKind.Null } rootBuild)
            {
                modelShapes.Add(BuildInputShape(rootBuild, model.At("build_config")));
            }

            if (layersElement.ValueKind != JsonValueKind.Array) throw Fail(layersPath, $"must be a list of layers, got {Kind(layersElement)}.");
            int count = layersElement.GetArrayLength();
            if (count == 0) throw Fail(layersPath, "holds no layer.");
            if (count > ModelSpec.MaxLayers + 1) throw Fail(layersPath, $"{count} layers is more than the {ModelSpec.MaxLayers} a NumLstm model may have.");

            // Pass 1: the layer objects, and every place that says the input's shape.
            var layers = new List<KerasLayer>(count);
            int k = 0;
            foreach (var (element, path) in chain ?? layersElement.EnumerateArray().Select((e, i) => (e, $"{layersPath}[{i}]")).ToList())
            {
                Obj wrapper = Object(element, path);
                wrapper.OnlyKnown(functional ? [.. WrapperKeys, "inbound_nodes"] : WrapperKeys);
                string layerClass = RequiredString(wrapper, "class_name");
                CheckKerasClass(wrapper, layerClass);
                if (wrapper.Get("name") is { } outerName) String(outerName, wrapper.At("name"));
                Obj layerConfig = Object(wrapper.Required("config"), wrapper.At("config"));
                JsonElement? build = wrapper.Get("build_config") is { ValueKind: not JsonValueKind.Null } b ? b : null;
                if (layerClass == "InputLayer")
                {
                    if (k != 0) throw Fail(wrapper.At("class_name"), "an InputLayer must be the first layer.");
                    if (ReadInputLayer(layerConfig) is { } declared) inputShapes.Add(declared);
                }
                else if (layers.Count == 0 && layerClass is ("LSTM" or "Bidirectional" or "LayerNormalization" or "Dense" or "Dropout" or "Masking" or "TimeDistributed"))
                {
                    // tf.keras 2 writes the model's input shape on its first layer (and inside a Bidirectional's
                    // wrapped layer when it was given there); Keras 3 writes a build config on every built layer.
                    if (layerConfig.Get("batch_input_shape") is { ValueKind: not JsonValueKind.Null } shape)
                        inputShapes.Add((InputFeaturesOf(shape, layerConfig.At("batch_input_shape")), layerConfig.At("batch_input_shape")));
                    if (layerClass == "Bidirectional" && layerConfig.Get("layer") is { ValueKind: JsonValueKind.Object } inner
                        && inner.TryGetProperty("config", out JsonElement innerConfig) && innerConfig.ValueKind == JsonValueKind.Object
                        && innerConfig.TryGetProperty("batch_input_shape", out JsonElement innerShape) && innerShape.ValueKind != JsonValueKind.Null)
                        inputShapes.Add((InputFeaturesOf(innerShape, layerConfig.At("layer") + ".config.batch_input_shape"), layerConfig.At("layer") + ".config.batch_input_shape"));
                    if (build is { } firstBuild)
                    {
                        (JsonElement s, string p) = BuildInputShape(firstBuild, wrapper.At("build_config"));
                        inputShapes.Add((InputFeaturesOf(s, p), p));
                    }
                }
                if (layerClass != "InputLayer") layers.Add(new KerasLayer(path, layerClass, layerConfig, build));
                k++;
            }
            if (layers.Count == 0) throw Fail(layersPath, "holds an InputLayer and no other layer.");

            foreach ((JsonElement shape, string path) in modelShapes) inputShapes.Add((InputFeaturesOf(shape, path), path));
            int features = InputFeatures(inputShapes, inputFeatures);

            // Pass 2: each layer mapped, with the shape flowing through the stack checked against what Keras wrote.
            var flow = new Flow(true, features);
            var specs = new List<LayerSpec>(layers.Count);
            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            string? vectorFrom = null;
            foreach (KerasLayer layer in layers)
            {
                if (layer.ClassName is not ("LSTM" or "Bidirectional" or "LayerNormalization" or "Dense" or "Dropout" or "Masking" or "TimeDistributed")) throw Unsupported(layer);
                if (layer.BuildConfig is { } build)
                {
                    (JsonElement shape, string path) = BuildInputShape(build, layer.Path + ".build_config");
                    CheckShape(shape, path, flow);
                }
                if (layer.Config.Get("batch_input_shape") is { ValueKind: not JsonValueKind.Null } given)
                    CheckShape(given, layer.Config.At("batch_input_shape"), flow);
                if (layer.ClassName is "LSTM" or "Bidirectional" && !flow.Sequence)
                    throw Fail(layer.Path, $"a{(layer.ClassName == "LSTM" ? "n" : "")} {layer.ClassName} needs a sequence input [batch, time, features], but {vectorFrom} returns a vector (return_sequences is false there).");
                // Keras takes a Masking on a vector [batch, features] (a per-sample mask only losses read); NumLstm's masks time steps.
                if (layer.ClassName == "TimeDistributed" && !flow.Sequence)
                    throw Fail(layer.Path, $"a TimeDistributed needs a sequence input [batch, time, features], but {vectorFrom} returns a vector (return_sequences is false there).");
                if (layer.ClassName == "Masking" && !flow.Sequence)
                    throw Fail(layer.Path, $"a Masking needs a sequence input [batch, time, features], but {vectorFrom} returns a vector (return_sequences is false there; NumLstm's Masking masks time steps, so it goes before the layer that returns the last step).");
                LayerSpec spec = layer.ClassName switch
                {
                    "LSTM" => ReadLstm(layer.Config, out _),
                    "Bidirectional" => ReadBidirectional(layer.Config, flow),
                    "LayerNormalization" => ReadLayerNorm(layer.Config, flow),
                    "Dropout" => ReadDropout(layer.Config),
                    "Masking" => ReadMasking(layer.Config),
                    "TimeDistributed" => ReadTimeDistributed(layer.Config, flow),
                    _ => ReadDense(layer.Config),
                };
                if (spec.Name is { } name)
                {
                    if (names.TryGetValue(name, out string? earlier))
                        throw Fail(layer.Config.At("name"), $"'{Echo.Name(name)}' is already the name of {earlier}; layer names must be unique.");
                    names[name] = layer.Path;
                }
                specs.Add(spec);
                flow = spec.Type switch
                {
                    "lstm" => new Flow(spec.ReturnSequences, spec.Units),
                    "bidirectional" => new Flow(spec.ReturnSequences, spec.Merge == MergeMode.Concat ? 2 * spec.Units : spec.Units),
                    "dense" => flow with { Features = spec.Units },
                    _ => flow,
                };
                if (!flow.Sequence) vectorFrom ??= layer.Path;
            }

            // A layer whose name is null gets Keras' kind of automatic name; Keras makes it unique, so the spec's default
            // (type_1, type_2, ...) skips the names other layers were given.
            var counters = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < specs.Count; i++)
            {
                if (specs[i].Name is not null) continue;
                string candidate;
                do candidate = $"{specs[i].Type}_{counters[specs[i].Type] = counters.GetValueOrDefault(specs[i].Type) + 1}";
                while (names.ContainsKey(candidate));
                names[candidate] = $"{specs[i].Type} (unnamed)";
                specs[i] = specs[i] with { Name = candidate };
            }
            var result = new ModelSpec { InputFeatures = features, Seed = seed, Layers = specs };
            result.Validate(source);
            return result;
        }

        /// <summary>
        /// The layers of a Functional model in the order data flows, when the model is a chain a Sequential could hold:
        /// one InputLayer, each other layer called once on the output of the one before, the last one the model's only
        /// output. Reads Keras 3's inbound nodes (<c>{"args": [keras tensor], "kwargs": {}}</c>, a tensor's
        /// <c>keras_history</c> naming its layer) and tf.keras 2's (<c>[[["name", 0, 0, {}]]]</c>).
        /// </summary>
        private List<(JsonElement Element, string Path)> Chain(JsonElement layersElement, string layersPath, Obj config)
        {
            var byName = new Dictionary<string, (JsonElement Element, string Path, string? Parent, bool Input)>(StringComparer.Ordinal);
            var order = new List<string>();
            int k = 0;
            foreach (JsonElement element in layersElement.EnumerateArray())
            {
                string path = $"{layersPath}[{k++}]";
                Obj wrapper = Object(element, path);
                string name = RequiredString(wrapper, "name");
                bool input = RequiredString(wrapper, "class_name") == "InputLayer";
                string? parent = Parent(wrapper.Required("inbound_nodes"), wrapper.At("inbound_nodes"), input);
                if (!byName.TryAdd(name, (element, path, parent, input)))
                    throw Fail(wrapper.At("name"), $"'{Echo.Name(name)}' is already the name of {byName[name].Path}; layer names must be unique.");
                order.Add(name);
            }
            string first = Reference(config.Required("input_layers"), config.At("input_layers"));
            string last = Reference(config.Required("output_layers"), config.At("output_layers"));
            if (!byName.TryGetValue(first, out var start) || !start.Input)
                throw Fail(config.At("input_layers"), $"expected the name of an InputLayer of this model, found '{Echo.Name(first)}'.");
            if (!byName.ContainsKey(last)) throw Fail(config.At("output_layers"), $"expected the name of a layer of this model, found '{Echo.Name(last)}'.");
            var consumers = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (string name in order)
            {
                if (byName[name].Parent is not { } parent) continue;
                if (!byName.ContainsKey(parent))
                    throw Fail(byName[name].Path + ".inbound_nodes", $"expected the name of a layer of this model, found '{Echo.Name(parent)}'.");
                if (!consumers.TryGetValue(parent, out var list)) consumers[parent] = list = [];
                list.Add(name);
            }
            var chain = new List<(JsonElement, string)> { (start.Element, start.Path) };
            var seen = new HashSet<string>(StringComparer.Ordinal) { first };
            for (string at = first; at != last;)
            {
                List<string> next = consumers.GetValueOrDefault(at) ?? [];
                if (next.Count != 1)
                    throw Fail(byName[at].Path, next.Count == 0
                        ? $"expected a chain of layers from '{Echo.Name(first)}' to the output '{Echo.Name(last)}' (a model a Sequential could hold), but nothing takes the output of '{Echo.Name(at)}'."
                        : $"expected a chain of layers (a model a Sequential could hold), found the output of '{Echo.Name(at)}' taken by {next.Count} layers ({Echo.List(next)}): NumLstm reads no branches.");
                at = next[0];
                if (!seen.Add(at)) throw Fail(byName[at].Path, $"expected each layer once in the chain, found '{Echo.Name(at)}' again (a loop).");
                chain.Add((byName[at].Element, byName[at].Path));
            }
            if (consumers.ContainsKey(last))
                throw Fail(byName[last].Path, $"expected the output layer '{Echo.Name(last)}' to end the chain, found its output taken by {Echo.List(consumers[last])}.");
            string? stray = order.FirstOrDefault(n => !seen.Contains(n));
            if (stray is not null)
                throw Fail(byName[stray].Path, $"expected every layer on the chain from '{Echo.Name(first)}' to '{Echo.Name(last)}', found '{Echo.Name(stray)}' off it (another input or a branch): NumLstm reads a chain only.");
            return chain;
        }

        /// <summary>The one layer whose output this layer is called on (null for an InputLayer), from its inbound nodes.</summary>
        private string? Parent(JsonElement nodes, string path, bool input)
        {
            if (nodes.ValueKind != JsonValueKind.Array) throw Fail(path, $"must be a list of calls, got {Kind(nodes)}.");
            int count = nodes.GetArrayLength();
            if (input)
            {
                if (count != 0) throw Fail(path, "expected no inbound call for an InputLayer, found some.");
                return null;
            }
            if (count != 1) throw Fail(path, $"expected the layer called once (a chain), found {count} calls (a shared layer).");
            JsonElement node = nodes[0];
            string nodePath = path + "[0]";
            if (node.ValueKind == JsonValueKind.Object)
            {
                // Keras 3: {"args": [tensor], "kwargs": {...}}.
                Obj call = Object(node, nodePath);
                call.OnlyKnown(["args", "kwargs"]);
                JsonElement args = call.Required("args");
                if (args.ValueKind != JsonValueKind.Array || args.GetArrayLength() != 1)
                    throw Fail(call.At("args"), $"expected the layer called on one tensor, found {(args.ValueKind == JsonValueKind.Array ? $"{args.GetArrayLength()} arguments" : Describe(args))}.");
                if (call.Get("kwargs") is { } kwargs) CheckCallKeywords(kwargs, call.At("kwargs"));
                return TensorSource(args[0], call.At("args") + "[0]");
            }
            // tf.keras 2: [[name, node index, tensor index, kwargs]] (one node, one tensor).
            if (node.ValueKind != JsonValueKind.Array || node.GetArrayLength() != 1)
                throw Fail(nodePath, $"expected a call on one tensor, found {(node.ValueKind == JsonValueKind.Array ? $"{node.GetArrayLength()} tensors" : Describe(node))}.");
            JsonElement tensor = node[0];
            string tensorPath = nodePath + "[0]";
            if (tensor.ValueKind != JsonValueKind.Array || tensor.GetArrayLength() is < 3 or > 4)
                throw Fail(tensorPath, $"expected [layer name, node index, tensor index, call arguments], found {Describe(tensor)}.");
            if (tensor.GetArrayLength() == 4) CheckCallKeywords(tensor[3], tensorPath + "[3]");
            return History(tensor, tensorPath);
        }

        private string TensorSource(JsonElement tensor, string path)
        {
            Obj wrapper = Object(tensor, path);
            if (RequiredString(wrapper, "class_name") != "__keras_tensor__")
                throw Fail(wrapper.At("class_name"), "expected a Keras tensor ('__keras_tensor__'), found another value.");
            Obj config = Object(wrapper.Required("config"), wrapper.At("config"));
            return History(config.Required("keras_history"), config.At("keras_history"));
        }

        /// <summary>[layer name, node index, tensor index]: the first call's first output, or refused.</summary>
        private string History(JsonElement history, string path)
        {
            if (history.ValueKind != JsonValueKind.Array || history.GetArrayLength() < 3)
                throw Fail(path, $"expected [layer name, node index, tensor index], found {Describe(history)}.");
            string name = String(history[0], path + "[0]");
            if (history[1].ValueKind != JsonValueKind.Number || history[1].GetDouble() != 0 || history[2].ValueKind != JsonValueKind.Number || history[2].GetDouble() != 0)
                throw Fail(path, $"expected the first output of the first call of '{Echo.Name(name)}' ([name, 0, 0]), found another (a shared layer or a layer of several outputs).");
            return name;
        }

        /// <summary>input_layers / output_layers: one [name, 0, 0], flat (Keras 3 for one) or in a list.</summary>
        private string Reference(JsonElement value, string path)
        {
            if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() >= 1 && value[0].ValueKind == JsonValueKind.String)
                return History(value, path);
            if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != 1)
                throw Fail(path, $"expected one layer (a model of one input and one output), found {(value.ValueKind == JsonValueKind.Array ? $"{value.GetArrayLength()}" : Describe(value))}.");
            return History(value[0], path + "[0]");
        }

        /// <summary>Call arguments: a mask is computed by NumLstm's layers as Keras passes it; training flags change
        /// nothing saved; anything else is a call NumLstm cannot reproduce.</summary>
        private void CheckCallKeywords(JsonElement kwargs, string path)
        {
            Obj call = Object(kwargs, path);
            foreach (string key in call.Keys)
                if (key is not ("mask" or "training"))
                    throw Fail(call.At(key), $"'{Echo.Name(key)}' is a call argument NumLstm does not read (it reads a layer called on one tensor, with at most a mask or a training flag).");
        }

        private FormatException Unsupported(KerasLayer layer)
        {
            string why = layer.ClassName switch
            {
                "SpatialDropout1D" or "GaussianDropout" or "AlphaDropout" or "GaussianNoise" =>
                    "NumLstm's dropout between layers is Dropout (each value dropped on its own); inside an LSTM, dropout and recurrent_dropout",
                "GRU" or "SimpleRNN" or "RNN" or "ConvLSTM1D" => "NumLstm's recurrent layer is the LSTM",
                "Activation" => "NumLstm applies an activation only as a Dense layer's activation",
                _ => "NumLstm reads InputLayer, LSTM, Bidirectional(LSTM), LayerNormalization, Dense, Dropout and Masking",
            };
            return Fail(layer.Path + ".class_name", $"'{Echo.Name(layer.ClassName)}' is not supported ({why}).");
        }

        // ------------------------------------------------------------------------------------------------ input shape

        private (int Features, string Path)? ReadInputLayer(Obj c)
        {
            c.OnlyKnown(InputLayerKeys);
            OptionalName(c);
            CheckDtype(c.Get("dtype"), c.At("dtype"));
            foreach (string flag in new[] { "sparse", "ragged", "optional" })
                if (OptionalBool(c, flag, false))
                    throw Fail(c.At(flag), $"true is not supported (NumLstm takes dense [batch, time, features] inputs, with a mask for padding).");
            JsonElement? batchShape = c.Get("batch_shape") is { ValueKind: not JsonValueKind.Null } s ? s : null;
            JsonElement? batchInputShape = c.Get("batch_input_shape") is { ValueKind: not JsonValueKind.Null } t ? t : null;
            if (batchShape is not null && batchInputShape is not null)
                throw Fail(c.At("batch_input_shape"), "an InputLayer with both batch_shape and batch_input_shape is ambiguous.");
            if ((batchShape ?? batchInputShape) is not { } shape) return null;
            string path = c.At(batchShape is not null ? "batch_shape" : "batch_input_shape");
            return (InputFeaturesOf(shape, path), path);
        }

        private (JsonElement Shape, string Path) BuildInputShape(JsonElement build, string path)
        {
            Obj o = Object(build, path);
            o.OnlyKnown(["input_shape"]);
            return (o.Required("input_shape"), o.At("input_shape"));
        }

        /// <summary>The last dimension of a model input shape, which must be [batch, time, features].</summary>
        private int InputFeaturesOf(JsonElement shape, string path)
        {
            int?[] dims = Shape(shape, path);
            if (dims.Length != 3)
                throw Fail(path, $"a shape of rank {dims.Length} is not supported: a NumLstm model takes [batch, time, features] sequences.");
            return dims[2] ?? throw Fail(path, "the last dimension (the input features) is null; NumLstm needs it.");
        }

        private int InputFeatures(List<(int Features, string Path)> shapes, int? argument)
        {
            for (int j = 1; j < shapes.Count; j++)
                if (shapes[j].Features != shapes[0].Features)
                    throw Fail(shapes[j].Path, $"says {shapes[j].Features} input features, but {shapes[0].Path} says {shapes[0].Features}.");
            if (shapes.Count > 0)
            {
                if (argument is { } given && given != shapes[0].Features)
                    throw Fail(shapes[0].Path, $"says {shapes[0].Features} input features, but the inputFeatures argument is {given}.");
                return shapes[0].Features;
            }
            return argument ?? throw Fail("", "the config does not say the input's shape (no InputLayer, batch_input_shape or build config): pass inputFeatures.");
        }

        private void CheckShape(JsonElement shape, string path, Flow flow)
        {
            int?[] dims = Shape(shape, path);
            int rank = flow.Sequence ? 3 : 2;
            string expected = flow.Sequence ? $"[batch, time, {flow.Features}]" : $"[batch, {flow.Features}]";
            if (dims.Length != rank || dims[^1] is { } last && last != flow.Features)
                throw Fail(path, $"{Describe(shape)} does not fit the input this layer gets in NumLstm, {expected}.");
        }

        private int?[] Shape(JsonElement shape, string path)
        {
            if (shape.ValueKind != JsonValueKind.Array) throw Fail(path, $"must be a shape (a list of sizes), got {Kind(shape)}.");
            int rank = shape.GetArrayLength();
            if (rank > 8) throw Fail(path, $"a shape of rank {rank} is not supported.");
            var dims = new int?[rank];
            int d = 0;
            foreach (JsonElement size in shape.EnumerateArray())
            {
                string at = $"{path}[{d}]";
                if (size.ValueKind == JsonValueKind.Null) dims[d] = null;
                else if (size.ValueKind == JsonValueKind.Number && size.TryGetInt32(out int value) && value > 0) dims[d] = value;
                else throw Fail(at, $"must be a positive integer or null, got {Describe(size)}.");
                d++;
            }
            return dims;
        }

        // ------------------------------------------------------------------------------------------------------ layers

        private LayerSpec ReadLstm(Obj c, out bool goBackwards)
        {
            c.OnlyKnown(LstmKeys);
            string? name = OptionalName(c);
            OptionalBool(c, "trainable", true);
            OptionalBool(c, "dynamic", false);
            CheckDtype(c.Get("dtype"), c.At("dtype"));
            int units = Int(c, "units", 1, ModelSpec.MaxRecurrentUnits);
            string activation = ActivationName(c, "activation", "tanh");
            if (activation != "tanh") throw Fail(c.At("activation"), $"'{Echo.Name(activation)}' not supported (NumLstm's LSTM uses tanh).");
            string recurrent = ActivationName(c, "recurrent_activation", "sigmoid");
            if (recurrent == "hard_sigmoid")
                throw Fail(c.At("recurrent_activation"), "'hard_sigmoid' not supported (Keras 2's old default; NumLstm's gates use the logistic sigmoid, Keras 3's default).");
            if (recurrent != "sigmoid") throw Fail(c.At("recurrent_activation"), $"'{Echo.Name(recurrent)}' not supported (NumLstm's gates use sigmoid).");
            if (!OptionalBool(c, "use_bias", true)) throw Fail(c.At("use_bias"), "false not supported (NumLstm's LSTM always has a bias).");
            bool unitForgetBias = OptionalBool(c, "unit_forget_bias", true);
            double dropout = Rate(c, "dropout"), recurrentDropout = Rate(c, "recurrent_dropout");
            bool returnSequences = OptionalBool(c, "return_sequences", false);
            if (OptionalBool(c, "return_state", false)) throw Fail(c.At("return_state"), "true not supported (a NumLstm layer returns its output only).");
            if (OptionalBool(c, "stateful", false))
                throw Fail(c.At("stateful"), "true not supported (a NumLstm model starts each call from zero state; use a StreamingSession to carry the state across calls).");
            if (OptionalBool(c, "time_major", false)) throw Fail(c.At("time_major"), "true not supported (NumLstm takes [batch, time, features]).");
            goBackwards = OptionalBool(c, "go_backwards", false);
            bool zeroOutputForMask = OptionalBool(c, "zero_output_for_mask", false);
            OptionalBool(c, "unroll", false);
            OptionalBool(c, "enable_caching_device", true);
            if (c.Get("implementation") is { ValueKind: not JsonValueKind.Null } implementation
                && !(implementation.ValueKind == JsonValueKind.Number && implementation.TryGetInt32(out int mode) && mode is 0 or 1 or 2))
                throw Fail(c.At("implementation"), $"{Describe(implementation)} is not a Keras LSTM implementation (0, 1 or 2).");
            if (c.Get("seed") is { ValueKind: not JsonValueKind.Null } seed && !(seed.ValueKind == JsonValueKind.Number && seed.TryGetInt64(out _)))
                throw Fail(c.At("seed"), $"must be an integer or null, got {Describe(seed)}.");
            if (c.Get("use_cudnn") is { } cudnn && cudnn.ValueKind is not (JsonValueKind.True or JsonValueKind.False)
                && !(cudnn.ValueKind == JsonValueKind.String && String(cudnn, c.At("use_cudnn")) == "auto"))
                throw Fail(c.At("use_cudnn"), $"must be \"auto\", true or false, got {Describe(cudnn)}.");
            return LayerSpec.Lstm(units, returnSequences, dropout, recurrentDropout, goBackwards: goBackwards) with
            {
                Name = name, ZeroOutputForMask = zeroOutputForMask,
                KernelRegularizer = ReadRegularizer(c, "kernel_regularizer"), RecurrentRegularizer = ReadRegularizer(c, "recurrent_regularizer"),
                BiasRegularizer = ReadRegularizer(c, "bias_regularizer"),
                KernelConstraint = ReadConstraint(c, "kernel_constraint", 2), RecurrentConstraint = ReadConstraint(c, "recurrent_constraint", 2),
                BiasConstraint = ReadConstraint(c, "bias_constraint", 1),
                ActivityRegularizer = ReadRegularizer(c, "activity_regularizer"),
                KernelInitializer = ReadInitializer(c, "kernel_initializer", 2, WeightInitializer.GlorotUniform()),
                RecurrentInitializer = ReadInitializer(c, "recurrent_initializer", 2, WeightInitializer.Orthogonal()),
                BiasInitializer = ReadInitializer(c, "bias_initializer", 1, WeightInitializer.Zeros()), UnitForgetBias = unitForgetBias,
            };
        }

        private LayerSpec ReadBidirectional(Obj c, Flow input)
        {
            c.OnlyKnown(BidirectionalKeys);
            string? name = OptionalName(c);
            OptionalBool(c, "trainable", true);
            OptionalBool(c, "dynamic", false);
            CheckDtype(c.Get("dtype"), c.At("dtype"));

            Obj forwardConfig = WrappedLstm(c, "layer", input);
            LayerSpec forward = ReadLstm(forwardConfig, out bool forwardBackwards);
            if (forwardBackwards) throw Fail(forwardConfig.At("go_backwards"), LayerSpec.BidirectionalGoBackwards);
            if (forward.ActivityRegularizer is not null)
                throw Fail(forwardConfig.At("activity_regularizer"), "on the wrapped LSTM not supported (Keras penalizes each direction's own output; "
                    + "NumLstm takes a Bidirectional's activity_regularizer on the wrapper, over the merged output).");

            // Keras 3 writes the backward copy it made (go_backwards true, "backward_" name); tf.keras 2 only a
            // backward_layer the user gave. NumLstm builds the mirror of the forward layer, so any other is refused.
            if (c.Get("backward_layer") is { ValueKind: not JsonValueKind.Null })
            {
                Obj backwardConfig = WrappedLstm(c, "backward_layer", input);
                ReadLstm(backwardConfig, out bool backwardBackwards);
                if (!backwardBackwards)
                    throw Fail(backwardConfig.At("go_backwards"), "false: the backward layer must go backwards (Keras raises for two forward directions).");
                foreach (string key in forwardConfig.Keys.Union(backwardConfig.Keys).Where(key => !MirrorExempt.Contains(key)).Order(StringComparer.Ordinal))
                {
                    JsonElement? f = forwardConfig.Get(key), b = backwardConfig.Get(key);
                    if (f is null || b is null || !JsonElement.DeepEquals(f.Value, b.Value))
                        throw Fail(backwardConfig.At(key),
                            $"{(b is { } bv ? Describe(bv) : "(absent)")} differs from the forward layer's {(f is { } fv ? Describe(fv) : "(absent)")} at {forwardConfig.At(key)}: NumLstm's Bidirectional runs the mirror of the forward LSTM.");
                }
            }

            MergeMode merge;
            JsonElement? mergeElement = c.Get("merge_mode");
            if (mergeElement is null) merge = MergeMode.Concat;
            else if (mergeElement.Value.ValueKind == JsonValueKind.Null)
                throw Fail(c.At("merge_mode"), "null not supported (Keras then returns the two directions as a list; NumLstm merges them: concat, sum, mul or ave).");
            else
            {
                string mode = String(mergeElement.Value, c.At("merge_mode"));
                merge = mode switch
                {
                    "concat" => MergeMode.Concat,
                    "sum" => MergeMode.Sum,
                    "mul" => MergeMode.Mul,
                    "ave" => MergeMode.Ave,
                    _ => throw Fail(c.At("merge_mode"), $"'{Echo.Name(mode)}' not supported (concat, sum, mul or ave)."),
                };
            }
            // A Bidirectional forces zero_output_for_mask to return_sequences on both directions (Keras 2 and 3), so the
            // wrapped layer's value is not read; its name is Keras' forward_ copy's, the spec takes the wrapper's.
            return LayerSpec.Bidirectional(forward with { Name = null, ZeroOutputForMask = false }, merge) with
            {
                Name = name, ActivityRegularizer = ReadRegularizer(c, "activity_regularizer"),
            };
        }

        // Keras 3 layers/rnn/time_distributed.py (a Wrapper: its base config and 'layer'; tf.keras 2 writes the same keys):
        // a Dense applied to each step, which is NumLstm's Dense on a sequence. The wrapped layer is built on one step's
        // shape [batch, features] (Keras 3's build_config). Keras 3 runs the Dense's call(), not __call__, so the Dense's
        // own activity_regularizer never applies there; tf.keras 2 calls the Dense (__call__) on the B·T steps as rows, so
        // it applies with its penalty / (B·T), which NumLstm's (penalty / B) does not model: refused either way. The
        // wrapper's is read (Keras 3 writes it; its penalty on the whole output / B; tf.keras 2's config never holds it).
        private LayerSpec ReadTimeDistributed(Obj c, Flow input)
        {
            c.OnlyKnown([.. CommonKeys, "layer", "activity_regularizer", "dynamic"]);
            string? name = OptionalName(c);
            OptionalBool(c, "trainable", true);
            OptionalBool(c, "dynamic", false);
            CheckDtype(c.Get("dtype"), c.At("dtype"));
            Obj inner = WrappedLayer(c, "layer", "Dense", "NumLstm reads a TimeDistributed around a Dense", input with { Sequence = false });
            LayerSpec dense = ReadDense(inner);
            if (dense.ActivityRegularizer is not null)
                throw Fail(inner.At("activity_regularizer"), "on the wrapped Dense not supported (Keras 3's TimeDistributed runs the Dense's call(), which skips it: "
                    + "in Keras 3 put it on the TimeDistributed, whose penalty is over the whole output / B; tf.keras 2's calls the Dense on the B·T steps as rows, "
                    + "its penalty / (B·T), which NumLstm's activity regularizers (penalty / B) do not model).");
            return dense with { Name = name, TimeDistributed = true, ActivityRegularizer = ReadRegularizer(c, "activity_regularizer") };
        }

        private Obj WrappedLstm(Obj bidirectional, string key, Flow input)
        {
            Obj config = WrappedLayer(bidirectional, key, "LSTM", "NumLstm's Bidirectional wraps an LSTM", input);
            if (config.Get("batch_input_shape") is { ValueKind: not JsonValueKind.Null } given) CheckShape(given, config.At("batch_input_shape"), input);
            return config;
        }

        // A layer a wrapper holds under key (Keras' serialized object): of the one class NumLstm reads there, its
        // build_config's input shape (when written) the one it gets; its config.
        private Obj WrappedLayer(Obj owner, string key, string expectedClass, string why, Flow input)
        {
            Obj wrapper = Object(owner.Required(key), owner.At(key));
            wrapper.OnlyKnown(WrapperKeys);
            string className = RequiredString(wrapper, "class_name");
            CheckKerasClass(wrapper, className);
            if (className != expectedClass)
                throw Fail(wrapper.At("class_name"), $"'{Echo.Name(className)}' not supported ({why}).");
            if (wrapper.Get("build_config") is { ValueKind: not JsonValueKind.Null } build)
            {
                (JsonElement shape, string path) = BuildInputShape(build, wrapper.At("build_config"));
                CheckShape(shape, path, input);
            }
            return Object(wrapper.Required("config"), wrapper.At("config"));
        }

        private LayerSpec ReadLayerNorm(Obj c, Flow input)
        {
            c.OnlyKnown(LayerNormKeys);
            string? name = OptionalName(c);
            OptionalBool(c, "trainable", true);
            OptionalBool(c, "dynamic", false);
            CheckDtype(c.Get("dtype"), c.At("dtype"));
            // Keras 3 writes -1 before the layer is built and [-1] after; tf.keras 2 makes negative axes positive when
            // it builds, so a built config holds [2] on a sequence and [1] on a vector.
            int last = input.Sequence ? 2 : 1;
            if (c.Get("axis") is { } axis)
            {
                JsonElement single = axis;
                if (axis.ValueKind == JsonValueKind.Array)
                {
                    if (axis.GetArrayLength() != 1) throw Fail(c.At("axis"), $"{Describe(axis)} not supported (NumLstm's LayerNorm normalizes the last axis only: -1).");
                    single = axis[0];
                }
                if (!(single.ValueKind == JsonValueKind.Number && single.TryGetInt32(out int value) && (value == -1 || value == last)))
                    throw Fail(c.At("axis"), $"{Describe(axis)} not supported (NumLstm's LayerNorm normalizes the last axis: -1, or {last} on this {(input.Sequence ? "sequence" : "vector")} input).");
            }
            double epsilon = c.Get("epsilon") is { } e ? Number(e, c.At("epsilon")) : LayerNorm<float>.KerasEpsilon;
            if (!LayerNorm<float>.IsUsableEpsilon(epsilon))
                throw Fail(c.At("epsilon"), $"{epsilon.ToString("R", CultureInfo.InvariantCulture)} not supported (it must be finite and > 0, also in float).");
            bool center = OptionalBool(c, "center", true), scale = OptionalBool(c, "scale", true);
            if (OptionalBool(c, "rms_scaling", false)) throw Fail(c.At("rms_scaling"), "true not supported (NumLstm's LayerNorm subtracts the mean).");
            return LayerSpec.LayerNorm(epsilon, center, scale) with
            {
                GammaInitializer = ReadInitializer(c, "gamma_initializer", 1, WeightInitializer.Ones()),
                BetaInitializer = ReadInitializer(c, "beta_initializer", 1, WeightInitializer.Zeros()),
                Name = name, GammaRegularizer = ReadRegularizer(c, "gamma_regularizer"), BetaRegularizer = ReadRegularizer(c, "beta_regularizer"),
                GammaConstraint = ReadConstraint(c, "gamma_constraint", 1), BetaConstraint = ReadConstraint(c, "beta_constraint", 1),
                ActivityRegularizer = ReadRegularizer(c, "activity_regularizer"),
            };
        }

        private LayerSpec ReadDense(Obj c)
        {
            c.OnlyKnown(DenseKeys);
            string? name = OptionalName(c);
            OptionalBool(c, "trainable", true);
            OptionalBool(c, "dynamic", false);
            CheckDtype(c.Get("dtype"), c.At("dtype"));
            int units = Int(c, "units", 1, ModelSpec.MaxDenseUnits);
            string activationName = ActivationName(c, "activation", "linear");
            if (!ActivationNames.TryParseKeras(activationName, out Activation activation))
                throw Fail(c.At("activation"), ActivationNames.Unsupported(activationName) is { } why
                    ? $"'{activationName}' not supported ({why})."
                    : $"'{Echo.Name(activationName)}' not supported (NumLstm's Dense applies Keras 3's built-in activations by name: {string.Join(", ", Enum.GetValues<Activation>().Select(ActivationNames.KerasName))}, swish or hard_swish).");
            bool useBias = OptionalBool(c, "use_bias", true);
            WeightInitializer? kernelInitializer = ReadInitializer(c, "kernel_initializer", 2, WeightInitializer.GlorotUniform());
            WeightInitializer? biasInitializer = ReadInitializer(c, "bias_initializer", 1, WeightInitializer.Zeros());
            foreach (string key in new[] { "lora_rank", "lora_alpha" })
                if (c.Get(key) is { ValueKind: not JsonValueKind.Null } lora)
                    throw Fail(c.At(key), $"{Describe(lora)} not supported (NumLstm's Dense has no LoRA factors).");
            if (c.Get("quantization_config") is { ValueKind: not JsonValueKind.Null } quantization)
                throw Fail(c.At("quantization_config"), $"{Describe(quantization)} not supported (NumLstm's Dense is not quantized).");
            return LayerSpec.Dense(units, activation, useBias) with
            {
                Name = name, KernelRegularizer = ReadRegularizer(c, "kernel_regularizer"), BiasRegularizer = ReadRegularizer(c, "bias_regularizer"),
                KernelConstraint = ReadConstraint(c, "kernel_constraint", 2), BiasConstraint = ReadConstraint(c, "bias_constraint", 1),
                ActivityRegularizer = ReadRegularizer(c, "activity_regularizer"),
                KernelInitializer = kernelInitializer, BiasInitializer = biasInitializer,
            };
        }

        // Keras 3 regularization/dropout.py (tf.keras 2 layers/regularization/dropout.py writes the same keys): rate, which
        // Keras checks to be in [0, 1]; noise_shape; seed, which seeds Keras' own generator and is not carried (NumLstm
        // draws the masks from the training seed).
        private LayerSpec ReadDropout(Obj c)
        {
            c.OnlyKnown(DropoutKeys);
            string? name = OptionalName(c);
            OptionalBool(c, "trainable", true);
            OptionalBool(c, "dynamic", false);
            CheckDtype(c.Get("dtype"), c.At("dtype"));
            JsonElement rateElement = c.Required("rate");
            double rate = Number(rateElement, c.At("rate"));
            if (!(rate >= 0 && rate <= 1))
                throw Fail(c.At("rate"), $"{Describe(rateElement)} is not a dropout rate (Keras raises for a rate outside [0, 1]).");
            if (!Dropout<float>.IsUsableRate(rate))
                throw Fail(c.At("rate"), $"{Describe(rateElement)} not supported (NumLstm's Dropout rate is in [0, 1): at 1 every value is dropped and 1/(1 − rate) is infinite).");
            if (c.Get("noise_shape") is { ValueKind: not JsonValueKind.Null } noiseShape)
                throw Fail(c.At("noise_shape"), $"{Describe(noiseShape)} not supported (NumLstm's Dropout draws each value on its own: noise_shape null).");
            CheckSeed(c);
            return LayerSpec.DropoutLayer(rate) with { Name = name };
        }

        // Keras 3 core/masking.py (tf.keras 2 layers/core/masking.py writes the same key): mask_value, default 0.0, compared
        // with each step's values. Keras 3 deserializes a mask_value written as a serialized tensor ({"class_name":
        // "__tensor__", "config": ...}); NumLstm reads a JSON number only (an integer too), which must be usable in float32 (Masking.IsUsableMaskValue).
        private LayerSpec ReadMasking(Obj c)
        {
            c.OnlyKnown(MaskingKeys);
            string? name = OptionalName(c);
            OptionalBool(c, "trainable", true);
            OptionalBool(c, "dynamic", false);
            CheckDtype(c.Get("dtype"), c.At("dtype"));
            double maskValue = 0.0;
            if (c.Get("mask_value") is { } value)
            {
                if (value.ValueKind != JsonValueKind.Number)
                    throw Fail(c.At("mask_value"), $"{Describe(value)} not supported (NumLstm's Masking takes a number as mask_value, not a tensor, a string or null).");
                if (!value.TryGetDouble(out maskValue) || !Masking<float>.IsUsableMaskValue(maskValue))
                    throw Fail(c.At("mask_value"), $"{Describe(value)} not supported (NumLstm's Masking takes a mask value that is finite when rounded to float32, and nonzero there unless 0, as Keras compares it in the input's dtype).");
            }
            return LayerSpec.Masking(maskValue) with { Name = name };
        }

        // -------------------------------------------------------------------------------------------- option checks

        /// <summary>
        /// A weight initializer (keras/src/initializers/): absent for the layer's default, <paramref name="keras"/>; Keras
        /// 3's serialized object (module keras.initializers, shared_object_id allowed) or tf.keras 2's of a built-in class,
        /// a config value left out taking the class's default; or a name initializers.get takes (the class names, their
        /// snake_case, and the aliases uniform, normal, one, zero, orthogonal). Seeds are checked and not carried (NumLstm's
        /// model seed drives every draw; Keras' generator cannot be matched bit for bit anyway). Refused as Keras raises:
        /// scale ≤ 0, an unknown mode or distribution, Orthogonal or Identity on a 1-D weight (<paramref name="rank"/> 1);
        /// refused because Keras' backends disagree on it: stddev &lt; 0, minval &gt; maxval. Null in the spec (the layer's
        /// default) when it is the default's distribution: tf.keras 2.0–2.2 wrote glorot_uniform as VarianceScaling(1, fan_avg, uniform).
        /// </summary>
        private WeightInitializer? ReadInitializer(Obj c, string key, int rank, WeightInitializer keras)
        {
            if (c.Get(key) is not { } value) return null;
            string path = c.At(key);
            WeightInitializer initializer;
            if (value.ValueKind == JsonValueKind.String)
            {
                string text = String(value, path);
                InitializerKind kind = InitializerNames.TryGetValue(text, out InitializerKind k) ? k
                    : throw Fail(path, $"'{Echo.Name(text)}' not supported (NumLstm reads Keras' built-in initializers: {KnownInitializers}).");
                initializer = new WeightInitializer(kind);
            }
            else
            {
                if (value.ValueKind != JsonValueKind.Object)
                    throw Fail(path, $"{Describe(value)} not supported (a Keras initializer is an object or a name such as glorot_uniform).");
                (Obj wrapper, string className, Obj config) = BuiltInObject(value, path);
                if (!InitializerNames.TryGetValue(className, out InitializerKind kind))
                    throw Fail(wrapper.At("class_name"), $"'{Echo.Name(className)}' not supported (NumLstm reads Keras' built-in initializers: {KnownInitializers}).");
                double? Optional(string name)
                    => config.Get(name) is { } element ? Number(element, config.At(name)) : null;   // Keras: a value left out is the class's default
                config.OnlyKnown(kind switch
                {
                    InitializerKind.Zeros or InitializerKind.Ones => [],
                    InitializerKind.Constant => ["value"],
                    InitializerKind.Identity => ["gain"],
                    InitializerKind.Orthogonal => ["gain", "seed"],
                    InitializerKind.RandomNormal or InitializerKind.TruncatedNormal => ["mean", "stddev", "seed"],
                    InitializerKind.RandomUniform => ["minval", "maxval", "seed"],
                    InitializerKind.VarianceScaling => ["scale", "mode", "distribution", "seed"],
                    _ => ["seed"],
                });
                CheckInitializerSeed(config);
                FanMode? mode = null;
                InitializerDistribution? distribution = null;
                if (kind == InitializerKind.VarianceScaling)
                {
                    if (Optional("scale") is <= 0)
                        throw Fail(config.At("scale"), $"{Describe(config.Required("scale"))} not supported: VarianceScaling's scale must be > 0 (Keras raises \"Argument `scale` must be positive float\").");
                    if (config.Get("mode") is { } modeElement)
                        mode = String(modeElement, config.At("mode")) switch
                        {
                            "fan_in" => FanMode.FanIn, "fan_out" => FanMode.FanOut, "fan_avg" => FanMode.FanAvg,
                            _ => throw Fail(config.At("mode"), $"{Describe(modeElement)} not supported: Keras raises for a mode other than fan_in, fan_out and fan_avg."),
                        };
                    if (config.Get("distribution") is { } distributionElement)
                        // Keras lowercases the distribution and reads "normal" as truncated_normal (Keras 2's name).
                        distribution = String(distributionElement, config.At("distribution")).ToLowerInvariant() switch
                        {
                            "truncated_normal" or "normal" => InitializerDistribution.TruncatedNormal,
                            "untruncated_normal" => InitializerDistribution.UntruncatedNormal,
                            "uniform" => InitializerDistribution.Uniform,
                            _ => throw Fail(config.At("distribution"), $"{Describe(distributionElement)} not supported: Keras raises for a distribution other than truncated_normal, untruncated_normal and uniform."),
                        };
                }
                if (Optional("stddev") is < 0)
                    throw Fail(config.At("stddev"), $"{Describe(config.Required("stddev"))} not supported: a stddev must be ≥ 0 (Keras does not check it, and its backends then draw differently).");
                if ((Optional("minval") ?? -0.05) > (Optional("maxval") ?? 0.05))
                    throw Fail(config.At(config.Get("minval") is null ? "maxval" : "minval"),
                        "not supported: minval must be ≤ maxval (Keras does not check it, and its backends then draw differently).");
                try
                {
                    initializer = new WeightInitializer(kind, Optional("mean"), Optional("stddev"), Optional("minval"), Optional("maxval"), Optional("value"),
                        Optional("scale"), mode, distribution, Optional("gain"));
                }
                catch (ArgumentException e)
                {
                    throw Fail(e.ParamName is { } name && config.Get(name) is not null ? config.At(name) : wrapper.At("config"), $"not supported: {e.Message}");
                }
            }
            if (rank == 1 && initializer.NeedsMatrix)
                throw Fail(path, $"{initializer} not supported on this 1-D weight (Keras raises: it needs a 2-D one).");
            return initializer == keras || (initializer.VarianceArguments is { } v && v == keras.VarianceArguments) ? null : initializer;
        }

        /// <summary>The names Keras 3's initializers.get and deserialize take, as a string or a class_name (ALL_OBJECTS_DICT,
        /// the union over Keras 3 versions: the class names and their snake_case, Keras 3.0's class OrthogonalInitializer
        /// with its snake_case, and the aliases: Orthogonal, IdentityInitializer and the lower-case ones). Identity was
        /// always the class, so no version takes "identity_initializer" (the alias IdentityInitializer is not snake-cased).</summary>
        private static readonly Dictionary<string, InitializerKind> InitializerNames = new(StringComparer.Ordinal)
        {
            ["GlorotUniform"] = InitializerKind.GlorotUniform, ["glorot_uniform"] = InitializerKind.GlorotUniform,
            ["GlorotNormal"] = InitializerKind.GlorotNormal, ["glorot_normal"] = InitializerKind.GlorotNormal,
            ["HeUniform"] = InitializerKind.HeUniform, ["he_uniform"] = InitializerKind.HeUniform,
            ["HeNormal"] = InitializerKind.HeNormal, ["he_normal"] = InitializerKind.HeNormal,
            ["LecunUniform"] = InitializerKind.LecunUniform, ["lecun_uniform"] = InitializerKind.LecunUniform,
            ["LecunNormal"] = InitializerKind.LecunNormal, ["lecun_normal"] = InitializerKind.LecunNormal,
            ["VarianceScaling"] = InitializerKind.VarianceScaling, ["variance_scaling"] = InitializerKind.VarianceScaling,
            ["RandomNormal"] = InitializerKind.RandomNormal, ["random_normal"] = InitializerKind.RandomNormal, ["normal"] = InitializerKind.RandomNormal,
            ["RandomUniform"] = InitializerKind.RandomUniform, ["random_uniform"] = InitializerKind.RandomUniform, ["uniform"] = InitializerKind.RandomUniform,
            ["TruncatedNormal"] = InitializerKind.TruncatedNormal, ["truncated_normal"] = InitializerKind.TruncatedNormal,
            ["Zeros"] = InitializerKind.Zeros, ["zeros"] = InitializerKind.Zeros, ["zero"] = InitializerKind.Zeros,
            ["Ones"] = InitializerKind.Ones, ["ones"] = InitializerKind.Ones, ["one"] = InitializerKind.Ones,
            ["Constant"] = InitializerKind.Constant, ["constant"] = InitializerKind.Constant,
            ["Orthogonal"] = InitializerKind.Orthogonal, ["OrthogonalInitializer"] = InitializerKind.Orthogonal,
            ["orthogonal"] = InitializerKind.Orthogonal, ["orthogonal_initializer"] = InitializerKind.Orthogonal,
            ["Identity"] = InitializerKind.Identity, ["IdentityInitializer"] = InitializerKind.Identity,
            ["identity"] = InitializerKind.Identity,
        };

        private const string KnownInitializers = "GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, VarianceScaling, "
            + "RandomNormal, RandomUniform, TruncatedNormal, Zeros, Ones, Constant, Orthogonal, Identity";

        private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

        /// <summary>An initializer's seed (checked, not carried): an integer, null, or a serialized keras.random.SeedGenerator,
        /// which Keras' RandomInitializer also takes (a dict seed is deserialized) and get_config writes for a generator
        /// seed (seed_generator.py: get_config {"seed": the initial seed}, itself an integer or null).</summary>
        private void CheckInitializerSeed(Obj config)
        {
            if (config.Get("seed") is { ValueKind: JsonValueKind.Object } generator)
            {
                (Obj wrapper, string className, Obj generatorConfig) = BuiltInObject(generator, config.At("seed"));
                if (className != "SeedGenerator")
                    throw Fail(wrapper.At("class_name"), $"'{Echo.Name(className)}' not supported (an initializer's seed is an integer, null or a keras.random.SeedGenerator).");
                generatorConfig.OnlyKnown(["seed", "name"]);
                CheckSeed(generatorConfig);
                return;
            }
            CheckSeed(config);
        }

        private void CheckSeed(Obj config)
        {
            if (config.Get("seed") is { ValueKind: not JsonValueKind.Null } seed && !(seed.ValueKind == JsonValueKind.Number && seed.TryGetInt64(out _)))
                throw Fail(config.At("seed"), $"must be an integer or null, got {Describe(seed)}.");
        }

        /// <summary>
        /// A weight constraint (keras/src/constraints/constraints.py): absent or null for none; Keras 3's serialized
        /// object (module keras.constraints) or tf.keras 2's of MaxNorm, NonNeg, UnitNorm or MinMaxNorm, a missing value
        /// taking the class's default (max_value 2 for MaxNorm, 1 for MinMaxNorm; min_value 0; rate 1; axis 0; an axis
        /// written null is Keras' axis=None, every axis); or a
        /// string regularizers.get takes (max_norm, non_neg, unit_norm, min_max_norm, the class names, and tf.keras 2's
        /// maxnorm, nonneg, unitnorm). <paramref name="rank"/>: the weight's (2 for a kernel, 1 for a bias or γ, β), whose
        /// axes the constraint's axis must name.
        /// </summary>
        private WeightConstraint? ReadConstraint(Obj c, string key, int rank)
        {
            if (c.Get(key) is not { } value || value.ValueKind == JsonValueKind.Null) return null;
            string path = c.At(key);
            WeightConstraint constraint;
            if (value.ValueKind == JsonValueKind.String)
            {
                string text = String(value, path);
                constraint = text switch
                {
                    "max_norm" or "MaxNorm" or "maxnorm" => WeightConstraint.MaxNorm(),
                    "non_neg" or "NonNeg" or "nonneg" => WeightConstraint.NonNeg(),
                    "unit_norm" or "UnitNorm" or "unitnorm" => WeightConstraint.UnitNorm(),
                    "min_max_norm" or "MinMaxNorm" => WeightConstraint.MinMaxNorm(),
                    _ => throw Fail(path, $"'{Echo.Name(text)}' not supported (NumLstm's constraints are Keras' MaxNorm, NonNeg, UnitNorm and MinMaxNorm)."),
                };
            }
            else
            {
                if (value.ValueKind != JsonValueKind.Object)
                    throw Fail(path, $"must be a Keras constraint (an object, or a name such as max_norm), got {Describe(value)}.");
                (Obj wrapper, string className, Obj config) = BuiltInObject(value, path);
                double Value(string name, double fallback)
                    => config.Get(name) is { ValueKind: not JsonValueKind.Null } element ? Number(element, config.At(name)) : fallback;
                int? Axis()
                {
                    if (config.Get("axis") is not { } axis) return 0;   // absent: the class's default, axis=0
                    // Keras' axis=None (written null) is not the default: ops.sum(..., axis=None) takes the norm over every
                    // axis, the whole weight (a 1-D weight's only axis, 0).
                    if (axis.ValueKind == JsonValueKind.Null) return rank > 1 ? null : 0;
                    string at = config.At("axis");
                    var axes = new SortedSet<int>();
                    foreach (JsonElement item in axis.ValueKind == JsonValueKind.Array ? axis.EnumerateArray() : Enumerable.Repeat(axis, 1))
                    {
                        if (!(item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out int a) && a >= -rank && a < rank))
                            throw Fail(at, $"{Describe(axis)} not supported: an axis of this {rank}-D weight is {(rank == 2 ? "0, 1, -1 or -2" : "0 or -1")}.");
                        axes.Add(a < 0 ? a + rank : a);
                    }
                    if (axes.Count == 0) throw Fail(at, "an empty list not supported (Keras would take the norm of each value alone).");
                    // Every axis of a kernel is null (the whole weight); a 1-D weight's only axis stays 0, Keras' default.
                    return axes.Count == rank && rank > 1 ? null : axes.Min;
                }
                try
                {
                    switch (className)
                    {
                        case "MaxNorm":
                            config.OnlyKnown(["max_value", "axis"]);
                            constraint = WeightConstraint.MaxNorm(Value("max_value", 2), Axis());
                            break;
                        case "NonNeg":
                            config.OnlyKnown([]);
                            constraint = WeightConstraint.NonNeg();
                            break;
                        case "UnitNorm":
                            config.OnlyKnown(["axis"]);
                            constraint = WeightConstraint.UnitNorm(Axis());
                            break;
                        case "MinMaxNorm":
                            config.OnlyKnown(["min_value", "max_value", "rate", "axis"]);
                            constraint = WeightConstraint.MinMaxNorm(Value("min_value", 0), Value("max_value", 1), Value("rate", 1), Axis());
                            break;
                        default:
                            throw Fail(wrapper.At("class_name"), $"'{Echo.Name(className)}' not supported (NumLstm's constraints are Keras' MaxNorm, NonNeg, UnitNorm and MinMaxNorm).");
                    }
                }
                catch (ArgumentException e)
                {
                    throw Fail(wrapper.At("config"), $"not supported: {e.Message}");
                }
            }
            if (!constraint.FitsRank(rank)) throw Fail(path, $"{constraint} has no such axis on a {rank}-D weight.");
            return constraint;
        }

        /// <summary>A serialized Keras object of a built-in class (an initializer, a regularizer, a constraint, a compiled
        /// optimizer or loss): Keras 3's {"module", "class_name", "config", "registered_name"} or tf.keras 2's
        /// {"class_name", "config"}; its class name and its
        /// config (an empty one when missing or null, as Keras then calls the class with no arguments).</summary>
        private (Obj Wrapper, string ClassName, Obj Config) BuiltInObject(JsonElement value, string path)
        {
            Obj wrapper = Object(value, path);
            // shared_object_id: Keras 3's saving (ObjectSharingScope, serialization_lib.record_object_after_serialization)
            // marks every config of one object used twice (one L2 instance on a kernel and a bias, or on two layers) with
            // the object's id; each config stays complete, so the id changes nothing here.
            wrapper.OnlyKnown(["module", "class_name", "config", "registered_name", "shared_object_id"]);
            if (wrapper.Get("shared_object_id") is { } shared && !(shared.ValueKind == JsonValueKind.Number && shared.TryGetInt64(out _)))
                throw Fail(wrapper.At("shared_object_id"), $"must be an integer (Keras writes the shared object's id), got {Describe(shared)}.");
            string className = RequiredString(wrapper, "class_name");
            CheckKerasClass(wrapper, className);
            Obj config = wrapper.Get("config") is { ValueKind: not JsonValueKind.Null } configElement
                ? Object(configElement, wrapper.At("config")) : Object(EmptyObject, wrapper.At("config"));
            return (wrapper, className, config);
        }

        /// <summary>
        /// A weight regularizer (keras/src/regularizers/regularizers.py): absent or null for none; Keras 3's serialized
        /// object (module keras.regularizers) or tf.keras 2's ({"class_name", "config"}) of L1, L2 or L1L2, a missing
        /// factor taking the class's default (L1 and L2 0.01, L1L2 0 and 0); or a string Keras 3's regularizers.get takes
        /// (l1, l2, l1l2 and the class names, with those defaults). A factor must be finite and ≥ 0, as Keras 3's
        /// validate_float_arg requires (tf.keras 2 took a negative one).
        /// </summary>
        private WeightRegularizer? ReadRegularizer(Obj c, string key)
        {
            if (c.Get(key) is not { } value || value.ValueKind == JsonValueKind.Null) return null;
            string path = c.At(key);
            if (value.ValueKind == JsonValueKind.String)
            {
                string text = String(value, path);
                return text switch
                {
                    "l1" or "L1" => WeightRegularizer.L1(),
                    "l2" or "L2" => WeightRegularizer.L2(),
                    "l1l2" or "L1L2" => WeightRegularizer.L1L2(),
                    "l1_l2" => throw Fail(path, "'l1_l2' not supported: Keras 3 raises for it (its key is 'l1l2', L1L2(0, 0)) and tf.keras 2 reads it as "
                        + "L1L2(l1=0.01, l2=0.01); write the regularizer as an object with its factors."),
                    _ => throw Fail(path, $"'{Echo.Name(text)}' not supported (NumLstm's regularizers are Keras' L1, L2 and L1L2)."),
                };
            }
            if (value.ValueKind != JsonValueKind.Object)
                throw Fail(path, $"must be a Keras regularizer (an object, or l1, l2 or l1l2), got {Describe(value)}.");
            (Obj wrapper, string className, Obj config) = BuiltInObject(value, path);
            double Factor(string name, double fallback)
            {
                if (config.Get(name) is not { } element || element.ValueKind == JsonValueKind.Null) return fallback;   // Keras: None → the default
                double factor = Number(element, config.At(name));
                if (!WeightRegularizer.IsUsableFactor(factor))
                    throw Fail(config.At(name), $"{Describe(element)} not supported: a factor must be ≥ 0 (Keras 3 raises \"expected a non-negative float\").");
                return factor;
            }
            switch (className)
            {
                case "L1":
                    config.OnlyKnown(["l1"]);
                    return WeightRegularizer.L1(Factor("l1", WeightRegularizer.KerasDefaultFactor));
                case "L2":
                    config.OnlyKnown(["l2"]);
                    return WeightRegularizer.L2(Factor("l2", WeightRegularizer.KerasDefaultFactor));
                case "L1L2":
                    config.OnlyKnown(["l1", "l2"]);
                    return WeightRegularizer.L1L2(Factor("l1", 0), Factor("l2", 0));
                default:
                    throw Fail(wrapper.At("class_name"), $"'{Echo.Name(className)}' not supported (NumLstm's regularizers are Keras' L1, L2 and L1L2).");
            }
        }

        /// <summary>float32 or float64 (either a dtype string or a DTypePolicy object of that name); NumLstm builds
        /// either with Build&lt;float&gt; or Build&lt;double&gt;, so the value is checked, not kept.</summary>
        private void CheckDtype(JsonElement? dtype, string path)
        {
            if (dtype is not { } value || value.ValueKind == JsonValueKind.Null) return;
            string name;
            if (value.ValueKind == JsonValueKind.String) name = String(value, path);
            else if (value.ValueKind == JsonValueKind.Object)
            {
                Obj policy = Object(value, path);
                policy.OnlyKnown(["module", "class_name", "config", "registered_name"]);
                string className = RequiredString(policy, "class_name");
                CheckKerasClass(policy, className);
                if (className is not ("DTypePolicy" or "FloatDTypePolicy" or "Policy"))
                    throw Fail(policy.At("class_name"), $"'{Echo.Name(className)}' not supported (NumLstm computes in float32 or float64, unquantized).");
                Obj config = Object(policy.Required("config"), policy.At("config"));
                config.OnlyKnown(["name"]);
                name = RequiredString(config, "name");
                path = config.At("name");
            }
            else throw Fail(path, $"must be a dtype name or a DTypePolicy, got {Kind(value)}.");
            if (name is not ("float32" or "float64"))
                throw Fail(path, $"'{Echo.Name(name)}' not supported (NumLstm computes in float32 or float64: build with Build<float>() or Build<double>()).");
        }

        /// <summary>Keras 3 names a built-in class with a "keras…" module and a null registered_name; anything else
        /// (a class registered by a user, even under a Keras class name) is not the Keras layer NumLstm implements.</summary>
        private void CheckKerasClass(Obj wrapper, string className)
        {
            if (wrapper.Get("module") is { ValueKind: not JsonValueKind.Null } module)
            {
                string text = String(module, wrapper.At("module"));
                if (!(text == "keras" || text.StartsWith("keras.", StringComparison.Ordinal) || text == "tf_keras" || text.StartsWith("tf_keras.", StringComparison.Ordinal)))
                    throw Fail(wrapper.At("module"), $"'{Echo.Name(text)}' is not a Keras module: '{Echo.Name(className)}' is a custom class, which NumLstm does not read.");
            }
            if (wrapper.Get("registered_name") is { ValueKind: not JsonValueKind.Null } registered)
            {
                string text = String(registered, wrapper.At("registered_name"));
                if (text != className)
                    throw Fail(wrapper.At("registered_name"), $"'{Echo.Name(text)}' is a custom class registered by a user, which NumLstm does not read.");
            }
        }

        // ---------------------------------------------------------------------------------------------- JSON values

        private string ActivationName(Obj c, string key, string fallback)
        {
            if (c.Get(key) is not { } value) return fallback;
            // Keras serializes a built-in activation as its name; activations.get(None) is linear.
            if (value.ValueKind == JsonValueKind.Null) return "linear";
            if (value.ValueKind != JsonValueKind.String)
                throw Fail(c.At(key), $"{Describe(value)} not supported (a custom activation; NumLstm reads the built-in ones by name).");
            return String(value, c.At(key));
        }

        private string? OptionalName(Obj c)
        {
            if (c.Get("name") is not { } value || value.ValueKind == JsonValueKind.Null) return null;
            string name = String(value, c.At("name"));
            if (name.Length is 0 or > ModelSpec.MaxNameLength)
                throw Fail(c.At("name"), $"must have 1..{ModelSpec.MaxNameLength} characters, got {name.Length}.");
            return name;
        }

        private double Rate(Obj c, string key)
        {
            if (c.Get(key) is not { } value) return 0;
            double rate = Number(value, c.At(key));
            if (!(rate >= 0 && rate < 1)) throw Fail(c.At(key), $"{Describe(value)} not supported (NumLstm's dropout rates are in [0, 1)).");
            return rate;
        }

        private int Int(Obj c, string key, int min, int max)
        {
            JsonElement value = c.Required(key);
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long number))
                throw Fail(c.At(key), $"must be an integer, got {Describe(value)}.");
            if (number < min || number > max) throw Fail(c.At(key), $"must be in {min}..{max}, got {number}.");
            return (int)number;
        }

        private double Number(JsonElement value, string path)
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double number) || !double.IsFinite(number))
                throw Fail(path, $"must be a finite number, got {Describe(value)}.");
            return number;
        }

        private bool OptionalBool(Obj c, string key, bool fallback)
        {
            if (c.Get(key) is not { } value) return fallback;
            return value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Fail(c.At(key), $"must be true or false, got {Describe(value)}."),
            };
        }

        private string RequiredString(Obj c, string key) => String(c.Required(key), c.At(key));

        public string String(JsonElement value, string path)
        {
            if (value.ValueKind != JsonValueKind.String) throw Fail(path, $"must be a string, got {Describe(value)}.");
            try
            {
                return value.GetString()!;
            }
            catch (InvalidOperationException e)
            {
                // A lone surrogate escape ("\ud800") parses as JSON but is no .NET string.
                throw new FormatException($"{Where}: {path}: the string is not valid text ({e.Message}).", e);
            }
        }

        public Obj Object(JsonElement value, string path)
        {
            if (value.ValueKind != JsonValueKind.Object) throw Fail(path, $"must be an object, got {Describe(value)}.");
            return new Obj(this, value, path);
        }

        /// <summary>A value as an error message shows it: strings and numbers capped, containers by kind.</summary>
        public static string Describe(JsonElement value) => value.ValueKind switch
        {
            JsonValueKind.String => "'" + Echo.Text(value.GetRawText().Trim('"'), 64) + "'",
            JsonValueKind.Number => Echo.Text(value.GetRawText(), 64),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Null => "null",
            JsonValueKind.Object when value.TryGetProperty("class_name", out JsonElement c) && c.ValueKind == JsonValueKind.String
                => $"an object of class_name '{Echo.Text(c.GetRawText().Trim('"'), 64)}'",
            JsonValueKind.Array => $"a list of {value.GetArrayLength()}",
            _ => Kind(value),
        };

        public static string Kind(JsonElement value) => value.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "a list",
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            _ => "null",
        };
    }

    /// <summary>A JSON object with its path, its fields read once (a repeated key is refused, not "the last wins").</summary>
    private sealed class Obj
    {
        private readonly Reader reader;
        private readonly Dictionary<string, JsonElement> fields = new(StringComparer.Ordinal);

        public Obj(Reader reader, JsonElement element, string path)
        {
            this.reader = reader;
            Path = path;
            foreach (JsonProperty property in element.EnumerateObject())
            {
                string name;
                try
                {
                    name = property.Name;
                }
                catch (InvalidOperationException e)
                {
                    throw new FormatException($"{reader.Where}: {(path.Length == 0 ? "the top level" : path)}: a key is not valid text ({e.Message}).", e);
                }
                if (!fields.TryAdd(name, property.Value)) throw reader.Fail(At(name), "the key is repeated; a Keras config names each field once.");
            }
        }

        public string Path { get; }
        public IEnumerable<string> Keys => fields.Keys;

        public string At(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

        public JsonElement? Get(string key) => fields.TryGetValue(key, out JsonElement value) ? value : null;

        public JsonElement Required(string key) => Get(key) ?? throw reader.Fail(At(key), "is missing.");

        /// <summary>Refuses a key this reader does not know: it may be an option NumLstm does not implement.</summary>
        public void OnlyKnown(IReadOnlyCollection<string> known)
        {
            foreach (string key in fields.Keys)
                if (!known.Contains(key))
                    throw reader.Fail(At(key), $"'{Echo.Name(key)}' is not a field NumLstm knows here, so it cannot say the model it builds does the same; remove it if it changes nothing.");
        }
    }
}
