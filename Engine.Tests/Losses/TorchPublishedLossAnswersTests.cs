using NumLstm.Losses;

namespace NumLstm.Tests.Losses;

/// <summary>
/// PyTorch's own checks of its BCE losses (test/test_nn.py) that carry over to NumLstm's BinaryCrossEntropy:
/// fromLogits true is BCEWithLogitsLoss, false BCELoss (whose log PyTorch clamps at −100 where NumLstm, as Keras, clips
/// the probability to [1e-7, 1 − 1e-7]). PyTorch's pos_weight and weight are options NumLstm does not have.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class TorchPublishedLossAnswersTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T[] Values(params double[] values) => Array.ConvertAll(values, T.CreateTruncating);

    [Test]
    public void BceWithLogits_Stability()
    {
        // test_bce_with_logits_stability: output [0, −120], target [0, 1] gives a finite loss; its value is
        // (log 2 + 120 + log(1 + e^−120)) / 2.
        T loss = new BinaryCrossEntropy<T>(fromLogits: true).Forward(Values(0, -120), Values(0, 1), default);
        Assert.That(T.IsFinite(loss), $"loss {loss}");
        Assert.That(double.CreateTruncating(loss), Is.EqualTo((Math.Log(2) + 120) / 2).Within(1e-5));
    }

    [Test]
    public void BceWithLogits_HasCorrectGradAtZero()
    {
        // test_bce_with_logits_has_correct_grad_at_zero: zeros (3, 1) against zeros with reduction='sum' has gradient
        // 0.5 everywhere (σ(0) − 0); NumLstm's loss is the mean, so 0.5 / 3.
        var gradient = new T[3];
        new BinaryCrossEntropy<T>(fromLogits: true).Forward(Values(0, 0, 0), Values(0, 0, 0), gradient);
        Assert.That(gradient.Select(v => double.CreateTruncating(v)), Is.All.EqualTo(0.5 / 3).Within(1e-7));
    }

    [Test]
    public void BceLoss_AlwaysNonnegative()
    {
        // test_bce_loss_always_nonnegative: ones against ones and zeros against zeros give a loss ≥ 0.
        var loss = new BinaryCrossEntropy<T>(fromLogits: false);
        Assert.That(double.CreateTruncating(loss.Forward(Values(1, 1, 1, 1), Values(1, 1, 1, 1), default)), Is.GreaterThanOrEqualTo(0.0));
        Assert.That(double.CreateTruncating(loss.Forward(Values(0, 0, 0, 0), Values(0, 0, 0, 0), default)), Is.GreaterThanOrEqualTo(0.0));
    }
}
