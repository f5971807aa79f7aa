namespace NumLstm.Layers;

/// <summary>
/// Activations a Dense layer can apply: Keras 3's built-in activations (keras/src/activations/activations.py) with
/// their defaults; the spec JSON names them in snake_case (<c>leaky_relu</c>, <c>hard_silu</c>), Keras' own names.
/// Values are appended, never renumbered. Formulas, derivatives and the derivative taken at each kink: docs/math.md (D2).
/// </summary>
public enum Activation
{
    Linear,
    Relu,
    Tanh,
    Sigmoid,
    Softmax,
    /// <summary>x for x ≥ 0, e^x − 1 below (alpha 1).</summary>
    Elu,
    /// <summary>scale·elu(x, alpha) with Keras' alpha 1.6732632423543772848170429916717 and scale 1.0507009873554804934193349852946.</summary>
    Selu,
    /// <summary>x·Φ(x) = 0.5·x·erfc(−x/√2): Keras' activations.gelu default, approximate=False.</summary>
    Gelu,
    /// <summary>x·σ(x); Keras' "swish" is the same function.</summary>
    Silu,
    /// <summary>log(1 + e^x), computed as max(x, 0) + log1p(e^−|x|).</summary>
    Softplus,
    /// <summary>x / (1 + |x|).</summary>
    Softsign,
    /// <summary>max(x, 0.2·x): Keras 3's default negative_slope 0.2.</summary>
    LeakyRelu,
    /// <summary>min(max(x, 0), 6).</summary>
    Relu6,
    /// <summary>relu6(x + 3) / 6 (Keras 3; not Keras 2's 0.2·x + 0.5).</summary>
    HardSigmoid,
    /// <summary>x·hard_sigmoid(x); Keras' "hard_swish" is the same function.</summary>
    HardSilu,
    /// <summary>e^x.</summary>
    Exponential,
    /// <summary>x·tanh(softplus(x)).</summary>
    Mish,
    /// <summary>x − max − log Σ e^(x − max) over the row.</summary>
    LogSoftmax,
    /// <summary>max(x, 0) + alpha·expm1(min(x, 0)/alpha) with alpha 1.</summary>
    Celu,
    /// <summary>min(max(x, −1), 1).</summary>
    HardTanh,
    /// <summary>log σ(x) = −softplus(−x).</summary>
    LogSigmoid,
    /// <summary>x − 0.5 above 0.5, x + 0.5 below −0.5, 0 between (threshold 0.5).</summary>
    SoftShrink,
    /// <summary>x where |x| &gt; 0.5, 0 elsewhere (threshold 0.5).</summary>
    HardShrink,
    /// <summary>x − tanh(x).</summary>
    TanhShrink,
    /// <summary>(x + √(x² + 4)) / 2 (b = 4).</summary>
    Squareplus,
    /// <summary>0 for x ≤ −1, (x + 1)²/4 for −1 &lt; x &lt; 1, x for x ≥ 1.</summary>
    SparsePlus,
    /// <summary>0 for x ≤ −1, (x + 1)/2 for −1 &lt; x &lt; 1, 1 for x ≥ 1.</summary>
    SparseSigmoid,
    /// <summary>max(x − τ, 0) over the row, τ such that the row sums to 1 (Martins and Astudillo, 2016).</summary>
    Sparsemax,
}

/// <summary>Keras' names for <see cref="Activation"/>: the one Keras 3 writes in a model config, which is also the spec JSON's name.</summary>
public static class ActivationNames
{
    /// <summary>The name Keras 3 serializes for the activation (activations.serialize of a built-in: its function's __name__).</summary>
    public static string KerasName(Activation activation) => activation switch
    {
        Activation.Linear => "linear", Activation.Relu => "relu", Activation.Tanh => "tanh", Activation.Sigmoid => "sigmoid",
        Activation.Softmax => "softmax", Activation.Elu => "elu", Activation.Selu => "selu", Activation.Gelu => "gelu",
        Activation.Silu => "silu", Activation.Softplus => "softplus", Activation.Softsign => "softsign", Activation.LeakyRelu => "leaky_relu",
        Activation.Relu6 => "relu6", Activation.HardSigmoid => "hard_sigmoid", Activation.HardSilu => "hard_silu",
        Activation.Exponential => "exponential", Activation.Mish => "mish", Activation.LogSoftmax => "log_softmax", Activation.Celu => "celu",
        Activation.HardTanh => "hard_tanh", Activation.LogSigmoid => "log_sigmoid", Activation.SoftShrink => "soft_shrink",
        Activation.HardShrink => "hard_shrink", Activation.TanhShrink => "tanh_shrink", Activation.Squareplus => "squareplus",
        Activation.SparsePlus => "sparse_plus", Activation.SparseSigmoid => "sparse_sigmoid", Activation.Sparsemax => "sparsemax",
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };

    /// <summary>A name Keras 3's activations.get accepts (keras/src/activations/__init__.py, ALL_OBJECTS_DICT): every
    /// <see cref="KerasName"/>, and its aliases "swish" (silu) and "hard_swish" (hard_silu).</summary>
    public static bool TryParseKeras(string name, out Activation activation)
    {
        switch (name)
        {
            case "swish": activation = Activation.Silu; return true;
            case "hard_swish": activation = Activation.HardSilu; return true;
        }
        foreach (Activation candidate in Enum.GetValues<Activation>())
            if (KerasName(candidate) == name) { activation = candidate; return true; }
        activation = default;
        return false;
    }

    /// <summary>Why a Keras built-in activation NumLstm's Dense does not apply is refused; null for a name that is not one.</summary>
    public static string? Unsupported(string name) => name switch
    {
        "glu" => "glu halves the last axis (a·σ(b) of its two halves), so the Dense's output would not have units values",
        "crelu" => "crelu doubles the last axis (relu(x) and relu(−x) concatenated), so the Dense's output would not have units values",
        "threshold" => "Keras' threshold has no default threshold and default_value, so a layer cannot call it by name",
        _ => null,
    };
}
