using System.Runtime.Intrinsics;

namespace NumLstm.Optimizers;

/// <summary>
/// Decoupled weight decay (Loshchilov &amp; Hutter), applied to θ before the optimizer's update, as each framework writes
/// it: PyTorch's <c>param.mul_(1 − lr·λ)</c> (AdamW, NAdam's and Adam's <c>decoupled_weight_decay</c>), with 1 − lr·λ
/// taken in double and cast to T once, or Keras 3's base optimizer, <c>variable − variable·wd·lr</c> (every optimizer's
/// <c>weight_decay</c>), with wd and lr cast to T and multiplied in that order. lr is the optimizer's current rate (not
/// Adagrad's decayed one: Keras has no lr_decay). One value per step, copied to a local before the loop.
/// </summary>
internal readonly struct DecoupledWeightDecay<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public DecoupledWeightDecay(bool keras, double learningRate, double weightDecay)
    {
        Keras = keras;
        Factor = T.CreateTruncating(1 - learningRate * weightDecay);
        Decay = T.CreateTruncating(weightDecay);
        Rate = T.CreateTruncating(learningRate);
        FactorVector = Vector256.Create(Factor);
        DecayVector = Vector256.Create(Decay);
        RateVector = Vector256.Create(Rate);
    }

    /// <summary>Keras's form (θ − θ·wd·lr) instead of PyTorch's (θ·(1 − lr·λ)).</summary>
    public bool Keras { get; }

    /// <summary>1 − lr·λ, taken in double, in T (PyTorch's form).</summary>
    public T Factor { get; }

    /// <summary>wd and lr in T (Keras's form).</summary>
    public T Decay { get; }
    public T Rate { get; }

    private Vector256<T> FactorVector { get; }
    private Vector256<T> DecayVector { get; }
    private Vector256<T> RateVector { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Apply(T theta) => Keras ? theta - theta * Decay * Rate : theta * Factor;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<T> Apply(Vector256<T> theta) => Keras ? theta - theta * DecayVector * RateVector : theta * FactorVector;
}
