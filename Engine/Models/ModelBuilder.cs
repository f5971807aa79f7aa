using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>
/// A fluent builder that reads like Keras code:
/// <code>
/// var model = ModelBuilder.Input(32)
///     .Bidirectional(units: 100, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4).LayerNorm()
///     .Bidirectional(units: 200, dropout: 0.4, recurrentDropout: 0.4).LayerNorm()
///     .Dense(2)
///     .Build&lt;float&gt;(seed: 42);
/// </code>
/// It collects a <see cref="ModelSpec"/>, so the same description can be saved as JSON or built for float or double.
/// </summary>
public sealed class ModelBuilder
{
    private readonly int inputFeatures;
    private readonly List<LayerSpec> layers = new();

    private ModelBuilder(int inputFeatures)
    {
        if (inputFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inputFeatures), inputFeatures, "Input features must be positive.");
        this.inputFeatures = inputFeatures;
    }

    /// <summary>Starts a model whose input is [B, T, features] (Keras' Input(shape=(None, features))).</summary>
    public static ModelBuilder Input(int features) => new(features);

    /// <summary>An LSTM layer (Keras' LSTM; zeroOutputForMask is its zero_output_for_mask: a masked step outputs zeros
    /// instead of repeating the previous output, default false as in Keras). The regularizers are Keras' kernel_,
    /// recurrent_ and bias_regularizer (<see cref="WeightRegularizer"/>: <c>WeightRegularizer.L2(1e-4)</c>), the
    /// constraints its kernel_, recurrent_ and bias_constraint (<see cref="WeightConstraint"/>: <c>WeightConstraint.MaxNorm(3)</c>),
    /// the initializers its kernel_, recurrent_ and bias_initializer (<see cref="WeightInitializer"/>:
    /// <c>WeightInitializer.HeNormal()</c>; null for Keras' defaults) and unitForgetBias its unit_forget_bias.</summary>
    public ModelBuilder Lstm(int units, bool returnSequences = false, double dropout = 0, double recurrentDropout = 0,
        CellNormalization? cellNormalization = null, bool goBackwards = false, string? name = null, bool zeroOutputForMask = false,
        WeightRegularizer? kernelRegularizer = null, WeightRegularizer? recurrentRegularizer = null, WeightRegularizer? biasRegularizer = null,
        WeightConstraint? kernelConstraint = null, WeightConstraint? recurrentConstraint = null, WeightConstraint? biasConstraint = null,
        WeightRegularizer? activityRegularizer = null,
        WeightInitializer? kernelInitializer = null, WeightInitializer? recurrentInitializer = null, WeightInitializer? biasInitializer = null,
        bool unitForgetBias = true)
        => Add(LayerSpec.Lstm(units, returnSequences, dropout, recurrentDropout, cellNormalization, goBackwards) with
        {
            ActivityRegularizer = activityRegularizer,
            KernelInitializer = kernelInitializer, RecurrentInitializer = recurrentInitializer, BiasInitializer = biasInitializer, UnitForgetBias = unitForgetBias,
            Name = name, ZeroOutputForMask = zeroOutputForMask,
            KernelRegularizer = kernelRegularizer, RecurrentRegularizer = recurrentRegularizer, BiasRegularizer = biasRegularizer,
            KernelConstraint = kernelConstraint, RecurrentConstraint = recurrentConstraint, BiasConstraint = biasConstraint,
        });

    /// <summary>Keras' Bidirectional(LSTM(...)); the regularizers, constraints and initializers apply to both directions, as Keras copies the layer's config.</summary>
    public ModelBuilder Bidirectional(int units, bool returnSequences = false, double dropout = 0, double recurrentDropout = 0,
        CellNormalization? cellNormalization = null, MergeMode merge = MergeMode.Concat, string? name = null,
        WeightRegularizer? kernelRegularizer = null, WeightRegularizer? recurrentRegularizer = null, WeightRegularizer? biasRegularizer = null,
        WeightConstraint? kernelConstraint = null, WeightConstraint? recurrentConstraint = null, WeightConstraint? biasConstraint = null,
        WeightRegularizer? activityRegularizer = null,
        WeightInitializer? kernelInitializer = null, WeightInitializer? recurrentInitializer = null, WeightInitializer? biasInitializer = null,
        bool unitForgetBias = true)
        => Add(LayerSpec.Bidirectional(LayerSpec.Lstm(units, returnSequences, dropout, recurrentDropout, cellNormalization), merge) with
        {
            ActivityRegularizer = activityRegularizer,
            KernelInitializer = kernelInitializer, RecurrentInitializer = recurrentInitializer, BiasInitializer = biasInitializer, UnitForgetBias = unitForgetBias,
            Name = name, KernelRegularizer = kernelRegularizer, RecurrentRegularizer = recurrentRegularizer, BiasRegularizer = biasRegularizer,
            KernelConstraint = kernelConstraint, RecurrentConstraint = recurrentConstraint, BiasConstraint = biasConstraint,
        });

    /// <summary>Keras' LayerNormalization; the regularizers, constraints and initializers are its gamma_ and beta_regularizer, _constraint and _initializer.</summary>
    public ModelBuilder LayerNorm(double epsilon = LayerNorm<float>.KerasEpsilon, bool center = true, bool scale = true, string? name = null,
        WeightRegularizer? gammaRegularizer = null, WeightRegularizer? betaRegularizer = null,
        WeightConstraint? gammaConstraint = null, WeightConstraint? betaConstraint = null, WeightRegularizer? activityRegularizer = null,
        WeightInitializer? gammaInitializer = null, WeightInitializer? betaInitializer = null)
        => Add(LayerSpec.LayerNorm(epsilon, center, scale) with
        {
            ActivityRegularizer = activityRegularizer, GammaInitializer = gammaInitializer, BetaInitializer = betaInitializer,
            Name = name, GammaRegularizer = gammaRegularizer, BetaRegularizer = betaRegularizer, GammaConstraint = gammaConstraint, BetaConstraint = betaConstraint,
        });

    /// <summary>Keras' Dense; the regularizers, constraints and initializers are its kernel_ and bias_regularizer, _constraint and _initializer.</summary>
    public ModelBuilder Dense(int units, Activation activation = Activation.Linear, bool useBias = true, string? name = null,
        WeightRegularizer? kernelRegularizer = null, WeightRegularizer? biasRegularizer = null,
        WeightConstraint? kernelConstraint = null, WeightConstraint? biasConstraint = null, WeightRegularizer? activityRegularizer = null,
        WeightInitializer? kernelInitializer = null, WeightInitializer? biasInitializer = null)
        => Add(LayerSpec.Dense(units, activation, useBias) with
        {
            ActivityRegularizer = activityRegularizer, KernelInitializer = kernelInitializer, BiasInitializer = biasInitializer,
            Name = name, KernelRegularizer = kernelRegularizer, BiasRegularizer = biasRegularizer, KernelConstraint = kernelConstraint, BiasConstraint = biasConstraint,
        });

    /// <summary>Keras' <c>TimeDistributed(Dense(...))</c> on a sequence: the same per-step Dense as <see cref="Dense"/> on a
    /// sequence, kept as the wrapper in Keras files (<see cref="Dense{T}.TimeDistributed"/>). The activity regularizer is
    /// the wrapper's (Keras 3's TimeDistributed calls the Dense's call(), which skips the Dense's own).</summary>
    public ModelBuilder TimeDistributedDense(int units, Activation activation = Activation.Linear, bool useBias = true, string? name = null,
        WeightRegularizer? kernelRegularizer = null, WeightRegularizer? biasRegularizer = null,
        WeightConstraint? kernelConstraint = null, WeightConstraint? biasConstraint = null, WeightRegularizer? activityRegularizer = null,
        WeightInitializer? kernelInitializer = null, WeightInitializer? biasInitializer = null)
        => Add(LayerSpec.Dense(units, activation, useBias) with
        {
            TimeDistributed = true,
            ActivityRegularizer = activityRegularizer, KernelInitializer = kernelInitializer, BiasInitializer = biasInitializer,
            Name = name, KernelRegularizer = kernelRegularizer, BiasRegularizer = biasRegularizer, KernelConstraint = kernelConstraint, BiasConstraint = biasConstraint,
        });

    /// <summary>Keras' Dropout(rate): in training, zeroes each value with probability rate and scales the rest by
    /// 1/(1 − rate); the identity at inference. rate in [0, 1).</summary>
    public ModelBuilder Dropout(double rate, string? name = null)
    {
        if (!Dropout<float>.IsUsableRate(rate))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"Dropout rate must be in [0, 1), got {rate:R}.");
        return Add(LayerSpec.DropoutLayer(rate) with { Name = name });
    }

    /// <summary>Keras' Masking(mask_value): masks every step whose values all equal maskValue (finite, also in float;
    /// Keras' default 0.0), for the layers after it; the mask it computes replaces any mask passed with the batch.</summary>
    public ModelBuilder Masking(double maskValue = 0.0, string? name = null)
    {
        if (!Masking<float>.IsUsableMaskValue(maskValue))
            throw new ArgumentOutOfRangeException(nameof(maskValue), maskValue, $"Masking's mask value {Masking<float>.UsableRule}, got {maskValue:R}.");
        return Add(LayerSpec.Masking(maskValue) with { Name = name });
    }

    public ModelSpec ToSpec(int seed = 0) => new() { InputFeatures = inputFeatures, Seed = seed, Layers = layers.ToList() };

    public Sequential<T> Build<T>(int seed = 0) where T : unmanaged, IFloatingPointIeee754<T> => ToSpec(seed).Build<T>();

    private ModelBuilder Add(LayerSpec spec)
    {
        layers.Add(spec);
        return this;
    }
}
