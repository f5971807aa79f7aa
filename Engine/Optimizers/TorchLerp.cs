using System.Runtime.Intrinsics;

namespace NumLstm.Optimizers;

/// <summary>
/// torch's <c>lerp_(end, weight)</c> with a scalar weight, as ATen computes it: start + w·(end − start) for |w| &lt; 0.5,
/// else end − (end − start)·(1 − w), with w and 1 − w in T (so w = 1 gives end exactly). The running averages of Adam,
/// Adamax and NAdam (<c>exp_avg.lerp_(grad, 1 − β1)</c>) and centered RMSprop (<c>grad_avg.lerp_(grad, 1 − α)</c>)
/// use it; one value per step, copied to a local before the loop, its vectors made once.
/// </summary>
internal readonly struct TorchLerp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>w = <paramref name="weight"/> in T (a Python float cast to the tensor's type, as ATen casts it).</summary>
    public TorchLerp(double weight)
    {
        Weight = T.CreateTruncating(weight);
        Complement = T.One - Weight;
        FromStart = Math.Abs(double.CreateTruncating(Weight)) < 0.5;
        WeightVector = Vector256.Create(Weight);
        ComplementVector = Vector256.Create(Complement);
    }

    /// <summary>w, in T.</summary>
    public T Weight { get; }

    /// <summary>1 − w, taken in T.</summary>
    public T Complement { get; }

    /// <summary>|w| &lt; 0.5: the branch that starts from <c>start</c>.</summary>
    public bool FromStart { get; }

    private Vector256<T> WeightVector { get; }
    private Vector256<T> ComplementVector { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Apply(T start, T end) => FromStart ? start + Weight * (end - start) : end - (end - start) * Complement;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<T> Apply(Vector256<T> start, Vector256<T> end)
        => FromStart ? start + WeightVector * (end - start) : end - (end - start) * ComplementVector;
}
