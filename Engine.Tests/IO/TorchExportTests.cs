using System.Text.Json;
using NumLstm.IO;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Tests.Layers;

namespace NumLstm.Tests.IO;

/// <summary>
/// The NumLstm → PyTorch direction of ModelFile: a saved file's raw tensors (read with SafeTensorsFile, not ModelFile)
/// run through PyTorch's module definitions, written out here in scalar double as the PyTorch docs define them —
/// nn.LSTM(batch_first=True[, bidirectional=True]) (gates i, f, g, o; weight_ih_l0 [4H, F], weight_hh_l0 [4H, H],
/// bias_ih_l0 + bias_hh_l0; h_n; `_reverse` for the backward direction), nn.LayerNorm (weight, bias, eps, biased
/// variance) and nn.Linear (weight [out, in], bias) — with the options (eps, merge, activation, go_backwards) read from the
/// spec the file carries, as docs/formats.md tells a PyTorch user to. The result must equal NumLstm's own Forward.
/// </summary>
public class TorchExportTests
{
    private const int Batch = 3, Time = 5, Features = 4;
    private const double Tolerance = 1e-12;
    private TempDirectory temp = null!;

    [SetUp]
    public void CreateFolder() => temp = new TempDirectory();

    [TearDown]
    public void DeleteFolder() => temp.Dispose();

    public static IEnumerable<TestCaseData> Models()
    {
        yield return Case("lstm, last output (h_n)", b => b.Lstm(3));
        yield return Case("lstm, sequences", b => b.Lstm(3, returnSequences: true));
        yield return Case("stacked lstm → lstm → dense", b => b.Lstm(3, returnSequences: true).Lstm(2).Dense(2));
        foreach (MergeMode merge in Enum.GetValues<MergeMode>())
        {
            yield return Case($"bidirectional {merge}, sequences", b => b.Bidirectional(3, returnSequences: true, merge: merge));
            yield return Case($"bidirectional {merge}, last output", b => b.Bidirectional(3, merge: merge));
        }
        yield return Case("seed model", b => b.Bidirectional(3, returnSequences: true).LayerNorm().Bidirectional(2).LayerNorm().Dense(2));
        yield return Case("layer norm, torch eps", b => b.Lstm(3, returnSequences: true).LayerNorm(epsilon: 1e-5));
        yield return Case("layer norm, no center (nn.LayerNorm bias=False)", b => b.Lstm(3, returnSequences: true).LayerNorm(center: false));
        yield return Case("layer norm, no scale", b => b.Lstm(3, returnSequences: true).LayerNorm(scale: false));
        yield return Case("layer norm, neither (elementwise_affine=False)", b => b.Lstm(3, returnSequences: true).LayerNorm(center: false, scale: false));
        foreach (Activation activation in Enum.GetValues<Activation>())
            yield return Case($"dense {activation}", b => b.Lstm(3).Dense(3, activation));
        yield return Case("dense without bias", b => b.Lstm(3, returnSequences: true).Dense(2, useBias: false));
        foreach (string preset in CellNormalization.Presets.Keys)
        {
            CellNormalization cell = CellNormalization.Presets[preset];
            yield return Case($"lstm, cell {preset}", b => b.Lstm(3, returnSequences: true, cellNormalization: cell));
            yield return Case($"bidirectional, cell {preset}", b => b.Bidirectional(3, cellNormalization: cell));
        }
    }

    private static TestCaseData Case(string name, Func<ModelBuilder, ModelBuilder> layers) => new TestCaseData(layers) { TestName = $"SavedFile_RunThroughTorchModules_EqualsForward({name})" };

    [TestCaseSource(nameof(Models))]
    public void SavedFile_RunThroughTorchModules_EqualsForward(Func<ModelBuilder, ModelBuilder> layers)
    {
        Sequential<double> model = layers(ModelBuilder.Input(Features)).Build<double>(seed: 3);
        Randomize(model, seed: 5);
        string path = temp.File("model.safetensors");
        ModelFile.Save(model, path);
        double[] x = Uniform(Batch * Time * Features, seed: 7);

        double[] torch = TorchForward(SafeTensorsFile.Read(path), x, out IReadOnlySet<string> keys);
        Assert.That(SafeTensorsFile.Read(path).Tensors.Keys, Is.EquivalentTo(keys), "the file holds exactly the torch modules' state_dict keys");
        double[] ours = model.Forward(new SequenceBatch<double>(x, Batch, Time, default), model.CreateCache(), ForwardContext.Inference).ToArray();
        AssertClose(ours, torch);
    }

    [Test]
    public void GoBackwardsLstm_IsNnLstmOnTheTimeFlippedInput_AsTheSpecSays()
    {
        var model = new Sequential<double>(Features, new Layer<double>[] { new Lstm<double>(3, returnSequences: true, goBackwards: true, name: "lstm") }, 1);
        Randomize(model, seed: 2);
        string path = temp.File("backwards.safetensors");
        ModelFile.Save(model, path);
        double[] x = Uniform(Batch * Time * Features, seed: 4);
        double[] ours = model.Forward(new SequenceBatch<double>(x, Batch, Time, default), model.CreateCache(), ForwardContext.Inference).ToArray();
        AssertClose(ours, TorchForward(SafeTensorsFile.Read(path), x, out _));
    }

    [Test]
    public void TorchFileWithBiasHh_LoadedAndSaved_ReproducesTheTorchForward()
    {
        // A torch-named file with both biases non-zero (as nn.LSTM initializes them), for a BiLSTM → LayerNorm → Linear stack.
        var random = new Random(11);
        var tensors = new List<SafeTensor>();
        void Add(string name, params int[] shape) => tensors.Add(SafeTensor.Create<double>(name, Uniform(shape.Aggregate(1, (a, b) => a * b), random.Next()), shape));
        foreach (string suffix in new[] { "", "_reverse" })
        {
            Add($"rnn.weight_ih_l0{suffix}", 12, Features); Add($"rnn.weight_hh_l0{suffix}", 12, 3);
            Add($"rnn.bias_ih_l0{suffix}", 12); Add($"rnn.bias_hh_l0{suffix}", 12);
        }
        Add("norm.weight", 6); Add("norm.bias", 6); Add("fc.weight", 2, 6); Add("fc.bias", 2);
        var spec = new ModelSpec
        {
            InputFeatures = Features,
            Layers = new[] { LayerSpec.Bidirectional(LayerSpec.Lstm(3, returnSequences: true)) with { Name = "rnn" },
                LayerSpec.LayerNorm(epsilon: 1e-5) with { Name = "norm" }, LayerSpec.Dense(2) with { Name = "fc" } },
        };
        string torchPath = temp.File("torch.safetensors");
        SafeTensorsFile.Write(torchPath, tensors, new Dictionary<string, string> { [ModelFile.SpecKey] = spec.ToJson() });

        Sequential<double> model = spec.Build<double>();
        ModelFile.LoadWeights(model, torchPath);
        string savedPath = temp.File("saved.safetensors");
        ModelFile.Save(model, savedPath);

        double[] x = Uniform(Batch * Time * Features, seed: 8);
        double[] fromTorchFile = TorchForward(SafeTensorsFile.Read(torchPath), x, out _);
        AssertClose(TorchForward(SafeTensorsFile.Read(savedPath), x, out _), fromTorchFile);
        AssertClose(model.Forward(new SequenceBatch<double>(x, Batch, Time, default), model.CreateCache(), ForwardContext.Inference).ToArray(), fromTorchFile);
    }

    [Test]
    public void SaveThenLoad_KeepsEveryBitOfTheLstmBias_SignedZeroAndSignalingNaN()
    {
        // The one bias is saved as bias_ih and a zero bias_hh; loading must give back b, not b + 0 (−0 + 0 = +0, and
        // adding to a signaling NaN quiets it).
        var model = new Sequential<float>(2, new Layer<float>[] { new Bidirectional<float>(new Lstm<float>(2), name: "rnn") }, 1);
        var bias = ((Bidirectional<float>)model.Layers[0]).Forwards.Bias.Value;
        bias[0] = -0f;
        bias[1] = BitConverter.Int32BitsToSingle(unchecked((int)0xFF800001));   // signaling NaN with a payload
        bias[2] = BitConverter.Int32BitsToSingle(0x7FC12345);                    // quiet NaN with a payload
        bias[3] = -float.Epsilon;
        string path = temp.File("bits.safetensors");
        ModelFile.Save(model, path);
        Sequential<float> loaded = ModelFile.Load<float>(path);
        int[] Bits(Sequential<float> m) => m.Parameters.SelectMany(p => p.Value).Select(BitConverter.SingleToInt32Bits).ToArray();
        Assert.That(Bits(loaded), Is.EqualTo(Bits(model)));
    }

    [Test]
    public void Load_TensorsThatDoNotMatchTheSpec_AreRejectedNamingTheTensorAndShapes()
    {
        Sequential<float> model = ModelBuilder.Input(Features).Bidirectional(3, returnSequences: true).LayerNorm().Build<float>(seed: 1);
        string path = temp.File("model.safetensors");
        ModelFile.Save(model, path);
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        string spec = content.Metadata[ModelFile.SpecKey];

        NumLstmFormatException Rewritten(IEnumerable<SafeTensor> tensors, string specJson)
        {
            string bad = temp.File("bad.safetensors");
            SafeTensorsFile.Write(bad, tensors, new Dictionary<string, string> { [ModelFile.SpecKey] = specJson });
            return Assert.Throws<NumLstmFormatException>(() => ModelFile.Load<float>(bad))!;
        }

        // Keras' kernel layout [F, 4H] under the torch name.
        SafeTensor weightIh = content["bidirectional_1.weight_ih_l0"];
        var transposed = content.Tensors.Values.Select(t => t.Name == weightIh.Name ? SafeTensor.FromBytes(t.Name, t.DType, [Features, 12], t.Data) : t);
        var e1 = Rewritten(transposed, spec);
        Assert.That(e1.Field, Is.EqualTo("tensor 'bidirectional_1.weight_ih_l0' shape"));
        Assert.That(e1.Message, Does.Contain("expected [12, 4]").And.Contain("found [4, 12]"));

        // A second nn.LSTM layer's names (_l1) where the spec has one layer per LSTM.
        var renamed = content.Tensors.Values.Select(t => t.Name == "bidirectional_1.bias_hh_l0_reverse" ? SafeTensor.FromBytes("bidirectional_1.bias_hh_l1_reverse", t.DType, t.Shape, t.Data) : t);
        var e2 = Rewritten(renamed, spec);
        Assert.That(e2.Field, Is.EqualTo("tensor 'bidirectional_1.bias_hh_l0_reverse'"));
        Assert.That(e2.Message, Does.Contain("found none"));

        // The spec says merge sum (LayerNorm over 3) but the tensors are a concat model's (LayerNorm over 6).
        var e3 = Rewritten(content.Tensors.Values, spec.Replace("\"merge\": \"concat\"", "\"merge\": \"sum\""));
        Assert.That(e3.Field, Is.EqualTo("tensor 'layer_norm_1.weight' shape"));
        Assert.That(e3.Message, Does.Contain("expected [3]").And.Contain("found [6]"));

        // The spec drops the LayerNorm's scale: the file's weight is then unexpected.
        var e4 = Rewritten(content.Tensors.Values, spec.Replace("\"scale\": true", "\"scale\": false"));
        Assert.That(e4.Field, Is.EqualTo("tensor 'layer_norm_1.weight'"));
    }

    // ------------------------------------------------------------------------------------------------------------------
    // PyTorch's modules, from the raw tensors and the spec in the file's metadata. x is [B, T, F] (batch_first).
    // ------------------------------------------------------------------------------------------------------------------

    private static double[] TorchForward(SafeTensorsContent file, double[] x, out IReadOnlySet<string> keys)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        double[] Get(string name, params int[] shape)
        {
            Assert.That(file.Tensors.ContainsKey(name), $"the file has no tensor '{name}'");
            Assert.That(file[name].Shape, Is.EqualTo(shape.Select(d => (long)d).ToArray()), $"shape of '{name}'");
            used.Add(name);
            return file[name].ToArray<double>();
        }
        using JsonDocument spec = JsonDocument.Parse(file.Metadata[ModelFile.SpecKey]);
        JsonElement root = spec.RootElement;
        int features = root.GetProperty("input_features").GetInt32();
        bool sequence = true;
        double[] current = x;
        foreach (JsonElement layer in root.GetProperty("layers").EnumerateArray())
        {
            string name = layer.GetProperty("name").GetString()!, type = layer.GetProperty("type").GetString()!;
            int units = layer.GetProperty("units").GetInt32();
            switch (type)
            {
                case "lstm" or "bidirectional":
                {
                    bool returnSequences = layer.GetProperty("return_sequences").GetBoolean();
                    var cell = new TorchCell(layer, name, units, features, Get);
                    if (type == "lstm")
                    {
                        // nn.LSTM has no go_backwards: a Keras go_backwards layer is nn.LSTM on x.flip(1), output in that order.
                        double[] input = layer.GetProperty("go_backwards").GetBoolean() ? FlipTime(current, features) : current;
                        (double[] output, double[] hN) = cell.Run(input, features, reverse: false, "");
                        current = returnSequences ? output : hN;
                        features = units;
                    }
                    else
                    {
                        // nn.LSTM(bidirectional=True): output [B, T, 2H] forward half first; h_n[-2], h_n[-1] the two final states.
                        (double[] forwardOut, double[] forwardH) = cell.Run(current, features, reverse: false, "");
                        (double[] backwardOut, double[] backwardH) = cell.Run(current, features, reverse: true, "_reverse");
                        (double[] a, double[] b) = returnSequences ? (forwardOut, backwardOut) : (forwardH, backwardH);
                        string merge = layer.GetProperty("merge").GetString()!;
                        current = Merge(a, b, units, merge);
                        features = merge == "concat" ? 2 * units : units;
                    }
                    sequence = returnSequences;
                    break;
                }
                case "layer_norm":
                {
                    // nn.LayerNorm(F, eps=spec epsilon, elementwise_affine=scale or center, bias=center); a missing weight is ones.
                    double eps = layer.GetProperty("epsilon").GetDouble();
                    double[]? weight = layer.GetProperty("scale").GetBoolean() ? Get($"{name}.weight", features) : null;
                    double[]? bias = layer.GetProperty("center").GetBoolean() ? Get($"{name}.bias", features) : null;
                    current = LayerNorm(current, features, eps, weight, bias);
                    break;
                }
                case "dense":
                {
                    // nn.Linear(F, U, bias=use_bias) followed by the spec's activation (softmax over the last axis).
                    double[] weight = Get($"{name}.weight", units, features);
                    double[]? bias = layer.GetProperty("use_bias").GetBoolean() ? Get($"{name}.bias", units) : null;
                    current = Linear(current, features, units, weight, bias, layer.GetProperty("activation").GetString()!);
                    features = units;
                    break;
                }
                default: Assert.Fail($"unknown layer type '{type}'"); break;
            }
        }
        keys = used;
        _ = sequence;
        return current;
    }

    /// <summary>
    /// nn.LSTM's cell, and for the in-cell LayerNorm presets the cell docs/math.md (C1)–(C6) defines, written with
    /// nn.LayerNorm(eps = spec cell_epsilon) modules named as the file names them (PyTorch's benchmark LayerNormLSTMCell
    /// names layernorm_i, layernorm_h, layernorm_c) and nn.LSTM's two biases.
    /// </summary>
    private sealed class TorchCell(JsonElement layer, string name, int units, int features, Func<string, int[], double[]> get)
    {
        private readonly string gates = layer.GetProperty("cell_gates").GetString()!, state = layer.GetProperty("cell_state").GetString()!;
        private readonly bool hidden = layer.GetProperty("cell_hidden").GetBoolean();
        private readonly double eps = layer.GetProperty("cell_epsilon").GetDouble();

        public (double[] Output, double[] HN) Run(double[] x, int f, bool reverse, string suffix)
        {
            int h = units, g = 4 * h;
            double[] wIh = get($"{name}.weight_ih_l0{suffix}", [g, f]), wHh = get($"{name}.weight_hh_l0{suffix}", [g, h]);
            double[] bIh = get($"{name}.bias_ih_l0{suffix}", [g]), bHh = get($"{name}.bias_hh_l0{suffix}", [g]);
            (double[] W, double[] B)? Norm(string norm, int width) => (get($"{name}.{norm}{suffix}.weight", [width]), get($"{name}.{norm}{suffix}.bias", [width]));
            var gateNorm = gates == "summed" ? Norm("layernorm_gates", g) : null;
            var inputNorm = gates == "separate" ? Norm("layernorm_i", g) : null;
            var hiddenGateNorm = gates == "separate" ? Norm("layernorm_h", g) : null;
            var cellNorm = state != "none" ? Norm("layernorm_c", h) : null;
            var outputNorm = hidden ? Norm("layernorm_out", h) : null;
            Assert.That(f, Is.EqualTo(features));

            double[] output = new double[Batch * Time * h], hN = new double[Batch * h];
            for (int b = 0; b < Batch; b++)
            {
                double[] hPrev = new double[h], cPrev = new double[h];
                for (int s = 0; s < Time; s++)
                {
                    int t = reverse ? Time - 1 - s : s;
                    double[] ax = new double[g], ah = new double[g];
                    for (int r = 0; r < g; r++)
                    {
                        for (int k = 0; k < f; k++) ax[r] += wIh[r * f + k] * x[(b * Time + t) * f + k];
                        for (int k = 0; k < h; k++) ah[r] += wHh[r * h + k] * hPrev[k];
                    }
                    double[] z = new double[g];
                    if (inputNorm is { } ni && hiddenGateNorm is { } nh)
                    {
                        double[] lx = LayerNorm(ax, g, eps, ni.W, ni.B), lh = LayerNorm(ah, g, eps, nh.W, nh.B);
                        for (int r = 0; r < g; r++) z[r] = lx[r] + lh[r] + bIh[r] + bHh[r];
                    }
                    else
                    {
                        for (int r = 0; r < g; r++) z[r] = ax[r] + bIh[r] + ah[r] + bHh[r];
                        if (gateNorm is { } ng) z = LayerNorm(z, g, eps, ng.W, ng.B);
                    }
                    double[] c = new double[h], hNew = new double[h];
                    for (int j = 0; j < h; j++) c[j] = Sigmoid(z[h + j]) * cPrev[j] + Sigmoid(z[j]) * Math.Tanh(z[2 * h + j]);   // i, f, g, o
                    double[] tau = new double[h];
                    if (cellNorm is { } nc)
                    {
                        double[] lc = LayerNorm(c, h, eps, nc.W, nc.B);
                        if (state == "recurrent") c = lc;
                        for (int j = 0; j < h; j++) tau[j] = Math.Tanh(lc[j]);
                    }
                    else for (int j = 0; j < h; j++) tau[j] = Math.Tanh(c[j]);
                    for (int j = 0; j < h; j++) hNew[j] = Sigmoid(z[3 * h + j]) * tau[j];
                    if (outputNorm is { } no) hNew = LayerNorm(hNew, h, eps, no.W, no.B);
                    Array.Copy(hNew, 0, output, (b * Time + t) * h, h);
                    hPrev = hNew; cPrev = c;
                }
                Array.Copy(hPrev, 0, hN, b * h, h);
            }
            return (output, hN);
        }
    }

    private static double[] Merge(double[] a, double[] b, int h, string merge)
    {
        int rows = a.Length / h, width = merge == "concat" ? 2 * h : h;
        var y = new double[rows * width];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < h; j++)
            {
                double p = a[r * h + j], q = b[r * h + j];
                switch (merge)
                {
                    case "concat": y[r * width + j] = p; y[r * width + h + j] = q; break;
                    case "sum": y[r * h + j] = p + q; break;
                    case "mul": y[r * h + j] = p * q; break;
                    case "ave": y[r * h + j] = (p + q) / 2; break;
                    default: Assert.Fail($"unknown merge '{merge}'"); break;
                }
            }
        return y;
    }

    private static double[] LayerNorm(double[] x, int f, double eps, double[]? weight, double[]? bias)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / f; r++)
        {
            double mean = 0, variance = 0;
            for (int k = 0; k < f; k++) mean += x[r * f + k];
            mean /= f;
            for (int k = 0; k < f; k++) variance += (x[r * f + k] - mean) * (x[r * f + k] - mean);
            variance /= f;   // biased, as torch.var(input, correction=0)
            for (int k = 0; k < f; k++)
                y[r * f + k] = (x[r * f + k] - mean) / Math.Sqrt(variance + eps) * (weight?[k] ?? 1) + (bias?[k] ?? 0);
        }
        return y;
    }

    private static double[] Linear(double[] x, int f, int u, double[] weight, double[]? bias, string activation)
    {
        int rows = x.Length / f;
        var y = new double[rows * u];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < u; j++)
            {
                double sum = bias?[j] ?? 0;
                for (int k = 0; k < f; k++) sum += weight[j * f + k] * x[r * f + k];
                y[r * u + j] = activation switch
                {
                    "linear" => sum, "relu" => Math.Max(sum, 0), "tanh" => Math.Tanh(sum), "sigmoid" => Sigmoid(sum), "softmax" => sum,
                    _ when ActivationNames.TryParseKeras(activation, out _) => sum,
                    _ => throw new AssertionException($"unknown activation '{activation}'"),
                };
            }
            // Keras 3's other activations (torch.nn has most: ELU, SELU, GELU, SiLU, Softplus, …) by the tests' own formulas.
            if (ActivationNames.TryParseKeras(activation, out Activation added) && added >= Activation.Elu)
                DenseActivationTests<double>.Reference(added, y.AsSpan(r * u, u).ToArray(), u).CopyTo(y, r * u);
            if (activation == "softmax")
            {
                double max = y.Skip(r * u).Take(u).Max(), total = 0;
                for (int j = 0; j < u; j++) total += y[r * u + j] = Math.Exp(y[r * u + j] - max);
                for (int j = 0; j < u; j++) y[r * u + j] /= total;
            }
        }
        return y;
    }

    private static double[] FlipTime(double[] x, int f)
    {
        var y = new double[x.Length];
        for (int b = 0; b < Batch; b++)
            for (int t = 0; t < Time; t++) Array.Copy(x, (b * Time + t) * f, y, (b * Time + Time - 1 - t) * f, f);
        return y;
    }

    private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    /// <summary>Every parameter random (biases and LayerNorm β non-zero, γ away from 1), so no tensor's role can hide.</summary>
    private static void Randomize(Sequential<double> model, int seed)
    {
        var random = new Random(seed);
        foreach (Parameter<double> p in model.Parameters)
            for (int k = 0; k < p.Value.Length; k++) p.Value[k] = random.NextDouble() * 1.6 - 0.8;
    }

    private static double[] Uniform(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.NextDouble() * 2 - 1).ToArray();
    }

    private static void AssertClose(double[] actual, double[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), "output length");
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int k = 0; k < expected.Length; k++) worst = Math.Max(worst, Math.Abs(actual[k] - expected[k]));
        Assert.That(worst, Is.LessThanOrEqualTo(Tolerance * Math.Max(scale, 1)), $"max |ours − torch| = {worst:G3} (scale {scale:G3})");
    }
}
