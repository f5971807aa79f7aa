using System.Diagnostics;
using System.Text;
using NumLstm.Models;
using NumLstm.Tests.Models;

namespace NumLstm.Tests.Reliability;

/// <summary>
/// KerasConfig.ToSpec on hostile input: seeded mutations of Keras 3 and tf.keras 2 configs, and configs built to be
/// deep, huge or malformed. Every input either gives a spec that builds or throws FormatException naming the source;
/// any other exception fails. The counts are in docs/reliability.md.
/// </summary>
public sealed class KerasConfigHostileTests
{
    private const int Mutations = 4000;

    /// <summary>The mission and masked-LSTM configs shrunk (features 5, units 4 and 3) with their build shapes kept
    /// consistent, so the specs that parse are small enough to build.</summary>
    private static string Small(string json) => json
        .Replace("\"units\": 100", "\"units\": 4").Replace("\"units\": 200", "\"units\": 3")
        .Replace("[null, 50, 32]", "[null, 50, 5]").Replace("[null, 50, 200]", "[null, 50, 8]").Replace("[null, 400]", "[null, 6]")
        .Replace("[null, 50, 100]", "[null, 50, 4]").Replace("[null, 200]", "[null, 3]");

    /// <summary>Values a Keras config holds, put in place of another value.</summary>
    private static readonly string[] KerasTokens =
    [
        "\"LSTM\"", "\"Bidirectional\"", "\"Dense\"", "\"TimeDistributed\"", "\"LayerNormalization\"", "\"InputLayer\"", "\"Masking\"", "\"GRU\"", "\"Sequential\"",
        "\"tanh\"", "\"sigmoid\"", "\"hard_sigmoid\"", "\"relu\"", "\"softmax\"", "\"linear\"", "\"concat\"", "\"sum\"", "\"ave\"", "\"mul\"",
        "\"float64\"", "\"float16\"", "\"GlorotUniform\"", "\"Orthogonal\"", "\"Zeros\"", "\"Ones\"", "\"keras.layers\"", "\"my.module\"",
        "[-1]", "[2]", "[1, 2]", "-1", "2", "[null, 50, 5]", "[null, 5]", "[null, null, null]", "[null, 50, 0]", "[]", "{}",
        "{\"class_name\": \"L2\", \"config\": {\"l2\": 0.01}}", "{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 2, \"axis\": [0, 1]}}",
        "{\"class_name\": \"UnitNorm\", \"config\": {\"axis\": 1}}", "{\"class_name\": \"L1L2\", \"config\": {\"l1\": -1}}", "\"l1l2\"", "\"nonneg\"", "\"l1_l2\"", "{\"module\": \"keras\", \"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"float64\"}, \"registered_name\": null}",
        "true", "false", "null", "0", "0.5", "1", "1e-320", "65537", "\"\"", "\"\\ud800\"",
        "\"he_normal\"", "\"orthogonal\"", "\"identity\"", "\"fan_out\"", "\"normal\"", "\"uniform\"", "-0.05", "1e39",
        "{\"class_name\": \"VarianceScaling\", \"config\": {\"scale\": 0}}", "{\"class_name\": \"Identity\", \"config\": {\"gain\": 2}}",
        "{\"class_name\": \"RandomUniform\", \"config\": {\"minval\": 1, \"maxval\": -1}}",
    ];

    /// <summary>The mission config with a regularizer and a constraint in slots of every layer kind, as Keras 3 writes them.</summary>
    private static string Regularized(string json)
    {
        System.Text.Json.Nodes.JsonNode root = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        System.Text.Json.Nodes.JsonNode Config(int k) => root["config"]!["layers"]![k]!["config"]!;
        static System.Text.Json.Nodes.JsonNode Keras(string module, string className, string config)
            => System.Text.Json.Nodes.JsonNode.Parse($$"""{"module": "keras.{{module}}", "class_name": "{{className}}", "config": {{config}}, "registered_name": null}""")!;
        foreach (string side in new[] { "layer", "backward_layer" })
        {
            System.Text.Json.Nodes.JsonNode wrapped = Config(1)[side]!["config"]!;
            wrapped["kernel_regularizer"] = Keras("regularizers", "L2", """{"l2": 0.01}""");
            wrapped["recurrent_constraint"] = Keras("constraints", "MaxNorm", """{"max_value": 3, "axis": 0}""");
            wrapped["bias_constraint"] = Keras("constraints", "NonNeg", "{}");
        }
        Config(2)["gamma_regularizer"] = Keras("regularizers", "L1L2", """{"l1": 0.001, "l2": 0.0001}""");
        Config(2)["beta_constraint"] = Keras("constraints", "UnitNorm", """{"axis": 0}""");
        Config(5)["kernel_constraint"] = Keras("constraints", "MinMaxNorm", """{"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": [0, 1]}""");
        Config(5)["bias_regularizer"] = Keras("regularizers", "L1", """{"l1": 0.05}""");
        Config(5)["activity_regularizer"] = Keras("regularizers", "L2", """{"l2": 0.001}""");
        Config(1)["activity_regularizer"] = Keras("regularizers", "L1", """{"l1": 0.002}""");
        return root.ToJsonString();
    }

    /// <summary>The mission config with an initializer of each kind of config in slots of every layer kind, as Keras 3 writes them.</summary>
    private static string Initialized(string json)
    {
        System.Text.Json.Nodes.JsonNode root = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        System.Text.Json.Nodes.JsonNode Config(int k) => root["config"]!["layers"]![k]!["config"]!;
        static System.Text.Json.Nodes.JsonNode Keras(string className, string config)
            => System.Text.Json.Nodes.JsonNode.Parse($$"""{"module": "keras.initializers", "class_name": "{{className}}", "config": {{config}}, "registered_name": null}""")!;
        foreach (string side in new[] { "layer", "backward_layer" })
        {
            System.Text.Json.Nodes.JsonNode wrapped = Config(1)[side]!["config"]!;
            wrapped["kernel_initializer"] = Keras("VarianceScaling", """{"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": null}""");
            wrapped["recurrent_initializer"] = Keras("Orthogonal", """{"gain": 1.5, "seed": 3}""");
            wrapped["bias_initializer"] = Keras("RandomUniform", """{"minval": -0.05, "maxval": 0.05, "seed": null}""");
            wrapped["unit_forget_bias"] = false;
        }
        Config(2)["gamma_initializer"] = Keras("RandomNormal", """{"mean": 1.0, "stddev": 0.02, "seed": null}""");
        Config(2)["beta_initializer"] = Keras("Constant", """{"value": 0.1}""");
        Config(5)["kernel_initializer"] = Keras("IdentityInitializer", """{"gain": 1.0}""");
        Config(5)["bias_initializer"] = Keras("TruncatedNormal", """{"mean": 0.0, "stddev": 0.05, "seed": null}""");
        return root.ToJsonString();
    }

    private static string MutateKeras(Random random, string json)
    {
        if (random.Next(3) != 0) return HostileFileTests.MutateJson(random, json);
        var text = new StringBuilder(json);
        int rounds = 1 + random.Next(2);
        for (int r = 0; r < rounds; r++)
        {
            string s = text.ToString();
            int colon = s.IndexOf(':', random.Next(s.Length));
            if (colon < 0) continue;
            int end = colon + 1;
            while (end < s.Length && s[end] is not (',' or '}' or ']')) end++;
            string old = s[(colon + 1)..end].TrimStart();
            if (end - colon - 1 > 200 || old.StartsWith('{') || old.StartsWith('[')) continue;   // scalars only
            text.Remove(colon + 1, end - colon - 1).Insert(colon + 1, " " + KerasTokens[random.Next(KerasTokens.Length)]);
        }
        return text.ToString();
    }

    [Test]
    public void MutatedKerasConfigs_ReadOrThrowFormatException_AndReadSpecsBuild()
    {
        string[] valid = [Small(KerasFixtures.MissionKeras3), Small(KerasFixtures.MissionKeras2), Small(KerasFixtures.MaskedLstmKeras3), Small(KerasFixtures.MaskedLstmKeras2),
            KerasFunctionalConfigTests.Keras3Functional(Small(KerasFixtures.MissionKeras3)), KerasFunctionalConfigTests.TfKeras2Functional(Small(KerasFixtures.MissionKeras2)),
            Regularized(Small(KerasFixtures.MissionKeras3)), Initialized(Small(KerasFixtures.MissionKeras3)), IO.TimeDistributedTests.Keras3Json()];
        foreach (string json in valid) Assert.That(KerasConfig.ToSpec(json).Build<float>().ParameterCount, Is.LessThan(2000), "the fuzz starts from small valid configs");
        var random = new Random(811);
        int read = 0, rejected = 0, built = 0;
        double worstRatio = 0;
        var watch = Stopwatch.StartNew();
        HostileFileTests.RunWithin(() =>
        {
            for (int k = 0; k < Mutations; k++)
            {
                string json = MutateKeras(random, valid[k % valid.Length]);
                ModelSpec spec;
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    spec = KerasConfig.ToSpec(json, source: "fuzz.json");
                }
                catch (FormatException e)
                {
                    worstRatio = Math.Max(worstRatio, CheckAllocation(before, json, k));
                    // The spec's own validation (Model spec ...) is a safety net: the reader refuses first, naming the Keras path.
                    Assert.That(e.Message, Does.StartWith("Keras config 'fuzz.json': "), $"mutation {k}: the message names the source\nJSON: {json}");
                    rejected++;
                    continue;
                }
                catch (Exception e)
                {
                    Assert.Fail($"mutation {k} threw {e.GetType().Name}, not FormatException: {e}\nJSON: {json}");
                    return;
                }
                worstRatio = Math.Max(worstRatio, CheckAllocation(before, json, k));
                read++;
                if (spec.ParameterCount() <= 200_000)
                {
                    Sequential<float> model = spec.Build<float>();
                    Assert.That(model.ParameterCount, Is.EqualTo(spec.ParameterCount()), $"mutation {k}: ParameterCount from the spec");
                    built++;
                }
            }
        });
        TestContext.Out.WriteLine($"Keras config: {Mutations} mutations, {read} read ({built} built), {rejected} FormatException, " +
                                  $"worst allocation {worstRatio:F1}× the config's UTF-16 size (configs ≥ 1 KB), {watch.Elapsed.TotalMilliseconds:F0} ms");
        Assert.That(rejected, Is.GreaterThan(Mutations / 4));
        Assert.That(read, Is.GreaterThan(0), "some mutations (numbers, names, equivalent values) leave a readable config");
    }

    /// <summary>The reader's allocation, as a multiple of the config's size in memory (2 bytes a character; 0 for configs
    /// under 1 KB, which the constant dominates); the bound is the file loaders' (32 × the input + 64 KB).</summary>
    private static double CheckAllocation(long before, string json, int k)
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before, size = 2L * json.Length;
        Assert.That(allocated, Is.LessThanOrEqualTo(32 * size + 65536), $"mutation {k}: {allocated} bytes allocated for a {json.Length}-character config");
        return size >= 1024 ? (double)allocated / size : 0;
    }

    [Test]
    public void DeepHugeOrMalformedKerasConfigs_ThrowFormatException()
    {
        string layer = "{\"class_name\": \"Dense\", \"config\": {\"units\": 1}}";
        string Model(string layers) => "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": [{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, null, 3]}}, " + layers + "]}}";
        var cases = new (string Name, string Json, string Expected)[]
        {
            ("nesting 100,000 deep", new string('[', 100_000) + new string(']', 100_000), "invalid JSON"),
            ("nesting 70 deep in a field", Model(layer).Replace("\"units\": 1", "\"units\": " + new string('[', 70) + new string(']', 70)), "invalid JSON"),
            ("over the size cap (16 MB + 1)", Model(layer) + new string(' ', KerasConfig.MaxJsonLength), "more than the 16777216"),
            ("5,000 layers", Model(string.Join(", ", Enumerable.Repeat(layer, 5000))), "5001 layers is more than the 1000"),
            ("a 1 MB layer name", Model("{\"class_name\": \"Dense\", \"config\": {\"units\": 1, \"name\": \"" + new string('a', 1_000_000) + "\"}}"), "must have 1..256 characters, got 1000000"),
            ("a 1 MB class name", Model("{\"class_name\": \"" + new string('C', 1_000_000) + "\", \"config\": {}}"), "… (1000000 characters)"),
            ("units 2^31", Model("{\"class_name\": \"Dense\", \"config\": {\"units\": 2147483648}}"), "must be in 1..1048576, got 2147483648"),
            ("units 1e308", Model("{\"class_name\": \"Dense\", \"config\": {\"units\": 1e308}}"), "must be an integer, got 1e308"),
            ("epsilon 1e400", Model("{\"class_name\": \"LayerNormalization\", \"config\": {\"epsilon\": 1e400}}"), "must be a finite number, got 1e400"),
            ("features 2^31", Model(layer).Replace("[null, null, 3]", "[null, null, 2147483648]"), "batch_input_shape[2]: must be a positive integer or null, got 2147483648"),
            ("a repeated key", Model("{\"class_name\": \"Dense\", \"config\": {\"units\": 1, \"units\": 5}}"), "config.layers[1].config.units: the key is repeated"),
            ("a lone surrogate in a value", Model("{\"class_name\": \"Dense\", \"config\": {\"units\": 1, \"name\": \"d\\ud800\"}}"), "config.layers[1].config.name: the string is not valid text"),
            ("a lone surrogate in a key", Model("{\"class_name\": \"Dense\", \"config\": {\"units\": 1, \"n\\udc00\": 1}}"), "config.layers[1].config: a key is not valid text"),
            ("a lone surrogate in a class name", Model("{\"class_name\": \"De\\ud800\", \"config\": {}}"), "config.layers[1].class_name: the string is not valid text"),
            ("layers missing", "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\"}}", "config.layers: is missing"),
            ("class_name a number", "{\"class_name\": 7, \"config\": {}}", "class_name: must be a string, got 7"),
            ("a list at the top", "[]", "must be an object, got a list"),
            ("a number at the top", "42", "must be an object, got 42"),
            ("empty", "", "invalid JSON"),
            ("null", "null", "must be an object, got null"),
        };
        foreach (var (name, json, expected) in cases)
        {
            var watch = Stopwatch.StartNew();
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<FormatException>(() => KerasConfig.ToSpec(json, source: "hostile.json"), name)!;
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(allocated, Is.LessThanOrEqualTo(32 * 2L * json.Length + 65536), $"{name}: {allocated} bytes allocated");
            Assert.That(e.Message, Does.StartWith("Keras config 'hostile.json'"), name);
            Assert.That(e.Message, Does.Contain(expected), name);
            Assert.That(e.Message.Length, Is.LessThan(2000), $"{name}: the message echoes capped values");
            TestContext.Out.WriteLine($"{name}: FormatException in {watch.Elapsed.TotalMilliseconds:F0} ms, {allocated:N0} bytes allocated: {(e.Message.Length <= 160 ? e.Message : e.Message[..160] + "...")}");
        }
    }
}
