using System.Text.Json.Nodes;

namespace NumLstm.Tests.Models;

/// <summary>Edits of a Keras config fixture shared by the tests of its options (regularizers, constraints, initializers).</summary>
internal static class KerasConfigEdits
{
    /// <summary>A Keras 3 serialized object of a built-in class in module keras.{module}.</summary>
    public static JsonNode Keras3(string module, string className, string config)
        => JsonNode.Parse($$"""{"module": "keras.{{module}}", "class_name": "{{className}}", "config": {{config}}, "registered_name": null}""")!;

    public static string Edit(string fixture, Action<JsonNode> edit)
    {
        JsonNode root = JsonNode.Parse(fixture)!;
        edit(root);
        return root.ToJsonString();
    }

    /// <summary>The config of the k-th layer of a Sequential.</summary>
    public static JsonNode Layer(JsonNode root, int k) => root["config"]!["layers"]![k]!["config"]!;

    /// <summary>Sets a field of a Bidirectional's forward and backward LSTM alike (they must mirror each other).</summary>
    public static void Both(JsonNode root, int k, string key, JsonNode? value)
    {
        Layer(root, k)["layer"]!["config"]![key] = value?.DeepClone();
        if (Layer(root, k)["backward_layer"] is { } backward) backward["config"]![key] = value?.DeepClone();
    }
}
