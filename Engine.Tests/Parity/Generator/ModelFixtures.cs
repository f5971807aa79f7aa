using TorchSharp;
using static TorchSharp.torch;

namespace NumLstm.Parity.Generator;

/// <summary>
/// The seed architecture scaled down, BiLSTM(H1, sequences) → LayerNorm → BiLSTM(H2, last) → LayerNorm → Linear(2),
/// MSE, in libtorch ops. Parameters are stored under the state_dict names NumLstm's ModelFile uses for that model
/// (bidirectional_1, layer_norm_1, bidirectional_2, layer_norm_2, dense_1). "Last" is Keras' Bidirectional output:
/// the forward direction after the last valid step and the backward direction after step 0, i.e. cat(h_n[0], h_n[1]).
/// </summary>
internal static class ModelFixtures
{
    private const double Epsilon = 1e-3;   // Keras' LayerNorm ε, NumLstm's default

    public static IEnumerable<string> Write(string folder)
    {
        yield return SeedModel(folder, "seed_model.safetensors", b: 3, t: 6, f: 4, h1: 5, h2: 4, lengths: null, seed: 601);
        yield return SeedModel(folder, "seed_model_ragged.safetensors", b: 4, t: 7, f: 3, h1: 4, h2: 3, lengths: new long[] { 7, 2, 5, 1 }, seed: 602);
    }

    private static string SeedModel(string folder, string name, int b, int t, int f, int h1, int h2, long[]? lengths, long seed)
    {
        torch.manual_seed(seed);
        var lstm1 = LayerFixtures.NewLstm(f, h1, bidirectional: true);
        var lstm2 = LayerFixtures.NewLstm(2 * h1, h2, bidirectional: true);
        var dense = nn.Linear(2 * h2, 2);
        dense.to(ScalarType.Float64);
        // nn.LayerNorm starts at weight 1, bias 0; spread them so their gradients are tested on general values.
        var gamma1 = (1 + 0.4 * (2 * torch.rand(2 * h1, dtype: ScalarType.Float64) - 1)).detach().requires_grad_(true);
        var beta1 = (0.3 * LayerFixtures.Randn(2 * h1)).detach().requires_grad_(true);
        var gamma2 = (1 + 0.4 * (2 * torch.rand(2 * h2, dtype: ScalarType.Float64) - 1)).detach().requires_grad_(true);
        var beta2 = (0.3 * LayerFixtures.Randn(2 * h2)).detach().requires_grad_(true);
        var x = LayerFixtures.Randn(b, t, f).requires_grad_(true);
        var target = LayerFixtures.Randn(b, 2);

        var (o1, _, _) = LayerFixtures.RunLstm(lstm1, x, lengths);
        var n1 = nn.functional.layer_norm(o1, new long[] { 2 * h1 }, gamma1, beta1, Epsilon);
        // Layer 2 reads only the valid steps (packed again); its padded rows of n1 (LayerNorm of zeros) never enter.
        var (_, hn2, _) = LayerFixtures.RunLstm(lstm2, n1, lengths);
        var last = torch.cat(new[] { hn2[0], hn2[1] }, 1);
        var n2 = nn.functional.layer_norm(last, new long[] { 2 * h2 }, gamma2, beta2, Epsilon);
        var prediction = dense.call(n2);
        var loss = nn.functional.mse_loss(prediction, target);
        loss.backward();

        var writer = new FixtureWriter(name,
                $"seed model scaled down: BiLSTM({h1}, return sequences) -> LayerNorm(eps={Epsilon:R}) -> BiLSTM({h2}) -> LayerNorm(eps={Epsilon:R}) -> Linear(2), " +
                $"mse_loss(prediction, target){(lengths is null ? "" : "; ragged batch, both BiLSTMs run on pack_padded_sequence(lengths, enforce_sorted=False)")}; " +
                "tensors named as NumLstm's ModelFile names them; grad.* = gradients of loss")
            .Meta("seed", seed).Meta("eps", Epsilon)
            .AddParameters("bidirectional_1", lstm1).AddParameters("bidirectional_2", lstm2).AddParameters("dense_1", dense)
            .Add("layer_norm_1.weight", gamma1).Add("layer_norm_1.bias", beta1)
            .Add("layer_norm_2.weight", gamma2).Add("layer_norm_2.bias", beta2)
            .Add("input", x).Add("target", target).Add("prediction", prediction).Add("loss", loss)
            .Add("grad.input", x.grad!)
            .AddParameters("bidirectional_1", lstm1, gradPrefix: "grad").AddParameters("bidirectional_2", lstm2, gradPrefix: "grad")
            .AddParameters("dense_1", dense, gradPrefix: "grad")
            .Add("grad.layer_norm_1.weight", gamma1.grad!).Add("grad.layer_norm_1.bias", beta1.grad!)
            .Add("grad.layer_norm_2.weight", gamma2.grad!).Add("grad.layer_norm_2.bias", beta2.grad!);
        if (lengths is not null) writer.Add("lengths", torch.tensor(lengths, dtype: ScalarType.Int64));
        return writer.Write(folder);
    }
}
