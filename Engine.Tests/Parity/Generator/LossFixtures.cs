using TorchSharp;
using static TorchSharp.torch;

namespace NumLstm.Parity.Generator;

/// <summary>
/// Losses with reduction='mean', each under its own prefix of losses.safetensors: &lt;case&gt;.input (predictions or
/// logits), &lt;case&gt;.target, &lt;case&gt;.loss (0-d) and &lt;case&gt;.grad.input (d loss / d input).
/// </summary>
internal static class LossFixtures
{
    public static IEnumerable<string> Write(string folder)
    {
        torch.manual_seed(501);
        var writer = new FixtureWriter("losses.safetensors",
                "reduction='mean' losses: cross_entropy (logits, int64 class targets), mse_loss, l1_loss, binary_cross_entropy_with_logits; " +
                "<case>.loss is the loss, <case>.grad.input its gradient with respect to <case>.input")
            .Meta("seed", 501);

        var logits = LayerFixtures.Randn(6, 5) * 3;
        var labels = torch.randint(5, new long[] { 6 }, dtype: ScalarType.Int64);
        Add(writer, "cross_entropy", logits, labels, (x, y) => nn.functional.cross_entropy(x, y));

        // Rows with logits of ±50 and ±1000 (exp overflows without the max shift), ties at the maximum, and a label on
        // a logit 2000 below the maximum (a loss of 2000, its softmax probability exactly 0 in float64).
        var extreme = torch.tensor(new double[]
        {
            50, -50, 0, 10, -10,
            1000, -1000, 0, 999, 1,
            -1000, 1000, 1000, 0, -1,
            1000, 1000, 1000, 1000, 1000,
            -1000, -1000, -1000, -1000, -1000,
            0, 0, 0, 0, -1000,
        }, new long[] { 6, 5 }, dtype: ScalarType.Float64);
        var extremeLabels = torch.tensor(new long[] { 1, 1, 0, 2, 3, 4 }, dtype: ScalarType.Int64);
        Add(writer, "cross_entropy_extreme", extreme, extremeLabels, (x, y) => nn.functional.cross_entropy(x, y));

        var predictions = LayerFixtures.Randn(7, 3) * 2;
        var targets = LayerFixtures.Randn(7, 3) * 2;
        Add(writer, "mse", predictions, targets, (x, y) => nn.functional.mse_loss(x, y));
        Add(writer, "l1", predictions, targets, (x, y) => nn.functional.l1_loss(x, y));

        // Targets 0, 1 and in between; a few logits of ±20 to ±1000 where exp(−|x|) underflows or log1p matters.
        var bceLogits = LayerFixtures.Randn(5, 4) * 4;
        using (torch.no_grad())
        {
            bceLogits[0, 0] = torch.tensor(1000.0, dtype: ScalarType.Float64);
            bceLogits[1, 1] = torch.tensor(-1000.0, dtype: ScalarType.Float64);
            bceLogits[2, 2] = torch.tensor(37.0, dtype: ScalarType.Float64);
            bceLogits[3, 3] = torch.tensor(-20.0, dtype: ScalarType.Float64);
        }
        var bceTargets = torch.rand(new long[] { 5, 4 }, dtype: ScalarType.Float64);
        using (torch.no_grad())
        {
            bceTargets[0] = torch.tensor(new double[] { 0, 1, 0, 1 }, dtype: ScalarType.Float64);
            bceTargets[1] = torch.tensor(new double[] { 1, 0, 1, 0 }, dtype: ScalarType.Float64);
            bceTargets[2, 2] = torch.tensor(0.0, dtype: ScalarType.Float64);
        }
        Add(writer, "bce_with_logits", bceLogits, bceTargets, (x, y) => nn.functional.binary_cross_entropy_with_logits(x, y));

        yield return writer.Write(folder);
    }

    private static void Add(FixtureWriter writer, string name, Tensor input, Tensor target, Func<Tensor, Tensor, Tensor> loss)
    {
        var x = input.detach().clone().requires_grad_(true);
        var value = loss(x, target);
        value.backward();
        writer.Add($"{name}.input", x).Add($"{name}.target", target).Add($"{name}.loss", value).Add($"{name}.grad.input", x.grad!);
    }
}
