using System.Numerics.Tensors;

namespace NumLstm.Optimizers;

/// <summary>
/// Gradient clipping applied to <see cref="Parameter{T}.Gradient"/> in place, between backward and the optimizer step.
/// Every method returns the global L2 norm of the gradients before clipping, sqrt(Σ_p ‖g_p‖²), for training
/// statistics. Norms are computed in T, per tensor first, as <c>torch.nn.utils.clip_grad_norm_</c> does.
/// </summary>
public static class GradientClipping
{
    /// <summary>Writes ‖g_p‖₂ of each parameter's gradient into <paramref name="norms"/> (one per parameter).</summary>
    public static void GradientNorms<T>(IReadOnlyList<Parameter<T>> parameters, Span<T> norms) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (norms.Length != parameters.Count)
            throw new ArgumentException($"GradientNorms: norms must hold one value per parameter ({parameters.Count}), got {norms.Length}.", nameof(norms));
        for (int p = 0; p < parameters.Count; p++) norms[p] = TensorPrimitives.Norm<T>(parameters[p].Gradient);
    }

    /// <summary>sqrt(Σ_p ‖g_p‖²): the norm of the per-tensor norms, as PyTorch computes the total norm.</summary>
    public static T GlobalNorm<T>(IReadOnlyList<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        T sumOfSquares = T.Zero;
        for (int p = 0; p < parameters.Count; p++)
        {
            T norm = TensorPrimitives.Norm<T>(parameters[p].Gradient);
            sumOfSquares += norm * norm;
        }
        return T.Sqrt(sumOfSquares);
    }

    /// <summary>Clamps every gradient element to [−clipValue, clipValue] (torch <c>clip_grad_value_</c>, Keras <c>clipvalue</c>).</summary>
    public static T ClipByValue<T>(IReadOnlyList<Parameter<T>> parameters, double clipValue) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLimit(clipValue, nameof(clipValue));
        T total = GlobalNorm(parameters);
        T limit = T.CreateTruncating(clipValue);
        foreach (Parameter<T> parameter in parameters)
            TensorPrimitives.Clamp<T>(parameter.Gradient, -limit, limit, parameter.Gradient);
        return total;
    }

    /// <summary>
    /// Scales each parameter's gradient on its own so its norm is at most <paramref name="maxNorm"/>, as Keras's
    /// per-variable <c>clipnorm</c> (<c>clip_by_norm</c> in keras/src/optimizers/base_optimizer.py) computes it:
    /// g_p ← (g_p · c) / max(‖g_p‖, c), applied to every tensor (so a tensor already inside the limit may move by an ulp,
    /// as in Keras), with ‖g_p‖ = √(Σ g²).
    /// </summary>
    public static T ClipByNorm<T>(IReadOnlyList<Parameter<T>> parameters, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLimit(maxNorm, nameof(maxNorm));
        ArgumentNullException.ThrowIfNull(parameters);
        T limit = T.CreateTruncating(maxNorm);
        T sumOfSquares = T.Zero;
        foreach (Parameter<T> parameter in parameters)
        {
            T norm = TensorPrimitives.Norm<T>(parameter.Gradient);   // √(Σ g²), as Keras' l2norm
            sumOfSquares += norm * norm;
            TensorPrimitives.Multiply<T>(parameter.Gradient, limit, parameter.Gradient);
            TensorPrimitives.Divide<T>(parameter.Gradient, T.Max(norm, limit), parameter.Gradient);
        }
        return T.Sqrt(sumOfSquares);
    }

    /// <summary>
    /// Keras's <c>global_clipnorm</c> (<c>clip_by_global_norm</c>): n = √(Σ_p Σ g_p²); every gradient is multiplied by
    /// s = c · min(1/n, 1/c), always (s is 1 up to rounding when n ≤ c), and by NaN when n is not finite. Returns n.
    /// 1/n is taken in T, 1/c in double and then rounded to T, as Keras divides the Python float.
    /// PyTorch's rule, with its 1e-6 and its handling of a non-finite norm, is <see cref="ClipByGlobalNorm"/>.
    /// </summary>
    public static T ClipByGlobalNormKeras<T>(IReadOnlyList<Parameter<T>> parameters, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLimit(maxNorm, nameof(maxNorm));
        ArgumentNullException.ThrowIfNull(parameters);
        T limit = T.CreateTruncating(maxNorm);
        T sumOfSquares = T.Zero;
        foreach (Parameter<T> parameter in parameters) sumOfSquares += TensorPrimitives.SumOfSquares<T>(parameter.Gradient);
        T norm = T.Sqrt(sumOfSquares);
        // 1.0 / clip_norm is a Python float, cast to T by ops.minimum; 1/n is taken in T. + (n − n): NaN for a non-finite n.
        T scale = limit * T.Min(T.One / norm, T.CreateTruncating(1.0 / maxNorm)) + (norm - norm);
        foreach (Parameter<T> parameter in parameters) TensorPrimitives.Multiply<T>(parameter.Gradient, scale, parameter.Gradient);
        return norm;
    }

    /// <summary>
    /// torch.nn.utils.clip_grad_norm_: total = sqrt(Σ_p ‖g_p‖²); c = maxNorm / (total + 1e-6); if c &lt; 1, every
    /// gradient is multiplied by c. As in PyTorch, a non-finite total makes c NaN or 0 and is applied anyway unless
    /// <paramref name="errorIfNonFinite"/> is set, which throws instead (gradients left unchanged).
    /// </summary>
    public static T ClipByGlobalNorm<T>(IReadOnlyList<Parameter<T>> parameters, double maxNorm, bool errorIfNonFinite = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLimit(maxNorm, nameof(maxNorm));
        T total = GlobalNorm(parameters);
        if (errorIfNonFinite && !T.IsFinite(total))
            throw new InvalidOperationException($"The total gradient norm is {total}: non-finite, so gradients cannot be clipped.");
        T coefficient = T.CreateTruncating(maxNorm) / (total + T.CreateTruncating(1e-6));
        if (!(coefficient >= T.One)) // PyTorch clamps c to 1 and always multiplies; multiplying by 1 changes nothing.
        {
            foreach (Parameter<T> parameter in parameters)
                TensorPrimitives.Multiply<T>(parameter.Gradient, coefficient, parameter.Gradient);
        }
        return total;
    }

    private static void CheckLimit(double value, string name)
    {
        if (!(value > 0) || double.IsNaN(value))
            throw new ArgumentOutOfRangeException(name, value, $"Invalid {name} {value}: must be > 0.");
    }
}
