using TorchSharp;
using static TorchSharp.torch;

namespace NumLstm.Parity.Generator;

/// <summary>nn.LSTM (one and both directions, packed ragged batches), layer_norm and nn.Linear, each with the
/// gradients of sum(output ⊙ R) for a random upstream gradient R.</summary>
internal static class LayerFixtures
{
    public static IEnumerable<string> Write(string folder)
    {
        // B, T, F, H: a single step of a single sample, a small odd shape, H ≥ 16 with larger weights, and H = 1.
        yield return Lstm(folder, 1, 1, 3, 4, weightScale: 1, seed: 101);
        yield return Lstm(folder, 3, 6, 4, 5, weightScale: 1, seed: 102);
        yield return Lstm(folder, 2, 9, 5, 16, weightScale: 2, seed: 103);
        yield return Lstm(folder, 5, 4, 2, 1, weightScale: 1, seed: 104);
        yield return Bidirectional(folder, "bilstm_B3_T6_F4_H5.safetensors", 3, 6, 4, 5, lengths: null, seed: 201);
        // Unsorted lengths, one of them a single step: pack_padded_sequence(enforce_sorted=False) restores the order.
        yield return Bidirectional(folder, "bilstm_ragged_B4_T7_F3_H6.safetensors", 4, 7, 3, 6, lengths: new long[] { 5, 7, 1, 3 }, seed: 202);
        yield return LayerNorm(folder, 1e-3, seed: 301);
        yield return LayerNorm(folder, 1e-5, seed: 302);
        yield return Linear(folder, seed: 401);
    }

    internal static Tensor Randn(params long[] shape) => torch.randn(shape, dtype: ScalarType.Float64);

    /// <summary>Runs an LSTM on x [B, T, F], packed by <paramref name="lengths"/> when given (right-padded batches);
    /// the output is padded back to T steps with zeros, as pad_packed_sequence returns it.</summary>
    internal static (Tensor Output, Tensor Hn, Tensor Cn) RunLstm(TorchSharp.Modules.LSTM lstm, Tensor x, long[]? lengths)
    {
        if (lengths is null) return lstm.call(x);
        var packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths, dtype: ScalarType.Int64), batch_first: true, enforce_sorted: false);
        var (packedOutput, hn, cn) = lstm.call(packed);
        var (output, _) = nn.utils.rnn.pad_packed_sequence(packedOutput, batch_first: true, total_length: x.shape[1]);
        return (output, hn, cn);
    }

    internal static TorchSharp.Modules.LSTM NewLstm(long inputSize, long hidden, bool bidirectional, double weightScale = 1)
    {
        // nn.LSTM's own initialisation, U(−1/√H, 1/√H) for every tensor, so bias_hh is not zero.
        var lstm = nn.LSTM(inputSize, hidden, batchFirst: true, bidirectional: bidirectional);
        lstm.to(ScalarType.Float64);
        if (weightScale != 1)
            using (torch.no_grad())
                foreach (var (_, p) in lstm.named_parameters()) p.mul_(weightScale);
        return lstm;
    }

    private static string Lstm(string folder, int b, int t, int f, int h, double weightScale, long seed)
    {
        torch.manual_seed(seed);
        var lstm = NewLstm(f, h, bidirectional: false, weightScale);
        var x = Randn(b, t, f).requires_grad_(true);
        var h0 = Randn(1, b, h).requires_grad_(true);
        var c0 = Randn(1, b, h).requires_grad_(true);
        var upstream = Randn(b, t, h);
        var (output, hn, cn) = lstm.call(x, (h0, c0));
        (output * upstream).sum().backward();

        string name = $"lstm_B{b}_T{t}_F{f}_H{h}.safetensors";
        return new FixtureWriter(name,
                $"nn.LSTM({f}, {h}, batch_first=True) from h0, c0; output [B, T, H], h_n and c_n [1, B, H]; grad.* = gradients of sum(output * upstream)")
            .Meta("seed", seed).Meta("weight_scale", weightScale)
            .AddParameters("lstm", lstm)
            .Add("input", x).Add("h0", h0).Add("c0", c0).Add("upstream", upstream)
            .Add("output", output).Add("h_n", hn).Add("c_n", cn)
            .Add("grad.input", x.grad!).Add("grad.h0", h0.grad!).Add("grad.c0", c0.grad!)
            .AddParameters("lstm", lstm, gradPrefix: "grad")
            .Write(folder);
    }

    private static string Bidirectional(string folder, string name, int b, int t, int f, int h, long[]? lengths, long seed)
    {
        torch.manual_seed(seed);
        var lstm = NewLstm(f, h, bidirectional: true);
        var x = Randn(b, t, f);
        var upstreamOutput = Randn(b, t, 2 * h);
        var upstreamHn = Randn(2, b, h);
        var writer = new FixtureWriter(name,
                $"nn.LSTM({f}, {h}, batch_first=True, bidirectional=True){(lengths is null ? "" : ", input packed by pack_padded_sequence(lengths, enforce_sorted=False) and output padded back with zeros by pad_packed_sequence")}; " +
                "grad_output.* = gradients of sum(output * upstream.output), grad_h_n.* = gradients of sum(h_n * upstream.h_n), two separate backward passes")
            .Meta("seed", seed)
            .AddParameters("bilstm", lstm)
            .Add("input", x).Add("upstream.output", upstreamOutput).Add("upstream.h_n", upstreamHn);
        if (lengths is not null) writer.Add("lengths", torch.tensor(lengths, dtype: ScalarType.Int64));

        var x1 = x.detach().clone().requires_grad_(true);
        var (output, hn, _) = RunLstm(lstm, x1, lengths);
        (output * upstreamOutput).sum().backward();
        writer.Add("output", output).Add("h_n", hn).Add("grad_output.input", x1.grad!).AddParameters("bilstm", lstm, gradPrefix: "grad_output");

        lstm.zero_grad();
        var x2 = x.detach().clone().requires_grad_(true);
        var (_, hn2, _) = RunLstm(lstm, x2, lengths);
        (hn2 * upstreamHn).sum().backward();
        writer.Add("grad_h_n.input", x2.grad!).AddParameters("bilstm", lstm, gradPrefix: "grad_h_n");
        return writer.Write(folder);
    }

    private static string LayerNorm(string folder, double eps, long seed)
    {
        torch.manual_seed(seed);
        const int b = 3, t = 4, f = 13;
        // Rows of very different spreads (standard deviations from about 0.007 to 12), so that ε matters in some rows
        // and not in others, plus a moderate offset per row.
        var rowScale = torch.exp(torch.rand(new long[] { b, t, 1 }, dtype: ScalarType.Float64) * 7.5 - 5);
        var x = (Randn(b, t, f) * rowScale + Randn(b, t, 1) * 0.5).detach().requires_grad_(true);
        var weight = (1 + 0.5 * (2 * torch.rand(f, dtype: ScalarType.Float64) - 1)).detach().requires_grad_(true);
        var bias = (0.5 * Randn(f)).detach().requires_grad_(true);
        var upstream = Randn(b, t, f);
        var y = nn.functional.layer_norm(x, new long[] { f }, weight, bias, eps);
        (y * upstream).sum().backward();

        string name = $"layernorm_eps{eps:0e-0}.safetensors";
        return new FixtureWriter(name, $"torch.nn.functional.layer_norm(input, [{f}], weight, bias, eps={eps:R}); grad.* = gradients of sum(output * upstream)")
            .Meta("seed", seed).Meta("eps", eps)
            .Add("layer_norm.weight", weight).Add("layer_norm.bias", bias)
            .Add("input", x).Add("upstream", upstream).Add("output", y)
            .Add("grad.input", x.grad!).Add("grad.layer_norm.weight", weight.grad!).Add("grad.layer_norm.bias", bias.grad!)
            .Write(folder);
    }

    private static string Linear(string folder, long seed)
    {
        torch.manual_seed(seed);
        const int b = 3, t = 5, f = 7, u = 4;
        var linear = nn.Linear(f, u);
        linear.to(ScalarType.Float64);
        var x = Randn(b, t, f).requires_grad_(true);
        var upstream = Randn(b, t, u);
        var y = linear.call(x);
        (y * upstream).sum().backward();
        return new FixtureWriter("linear.safetensors", $"nn.Linear({f}, {u}) applied to every step of input [B, T, F]; grad.* = gradients of sum(output * upstream)")
            .Meta("seed", seed)
            .AddParameters("dense", linear)
            .Add("input", x).Add("upstream", upstream).Add("output", y)
            .Add("grad.input", x.grad!).AddParameters("dense", linear, gradPrefix: "grad")
            .Write(folder);
    }
}
