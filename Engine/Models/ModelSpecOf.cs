using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>Reads the spec back from a built model, so any Sequential can be saved with its architecture.</summary>
public static class ModelSpecOf
{
    public static ModelSpec Describe<T>(Sequential<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var layers = model.Layers.Select(Describe).ToList();
        return new ModelSpec { InputFeatures = model.InputFeatures, Seed = model.Seed, Layers = layers };
    }

    private static LayerSpec Describe<T>(Layer<T> layer) where T : unmanaged, IFloatingPointIeee754<T> => layer switch
    {
        Bidirectional<T> bi => LayerSpec.Bidirectional(Describe(bi.Forwards) with { ZeroOutputForMask = false }, bi.MergeMode) with
        {
            Name = bi.Name, ActivityRegularizer = bi.ActivityRegularizer,
        },
        Lstm<T> lstm => LayerSpec.Lstm(lstm.Units, lstm.ReturnSequences, lstm.Dropout, lstm.RecurrentDropout, lstm.CellNormalization, lstm.GoBackwards) with
        {
            Name = lstm.Name, ZeroOutputForMask = lstm.ZeroOutputForMask,
            KernelRegularizer = lstm.KernelRegularizer, RecurrentRegularizer = lstm.RecurrentRegularizer, BiasRegularizer = lstm.BiasRegularizer,
            KernelConstraint = lstm.KernelConstraint, RecurrentConstraint = lstm.RecurrentConstraint, BiasConstraint = lstm.BiasConstraint,
            ActivityRegularizer = lstm.ActivityRegularizer,
            KernelInitializer = lstm.KernelInitializer, RecurrentInitializer = lstm.RecurrentInitializer, BiasInitializer = lstm.BiasInitializer,
            UnitForgetBias = lstm.UnitForgetBias,
        },
        LayerNorm<T> norm => LayerSpec.LayerNorm(norm.Epsilon, norm.Center, norm.Scale) with
        {
            Name = norm.Name, GammaRegularizer = norm.GammaRegularizer, BetaRegularizer = norm.BetaRegularizer,
            GammaConstraint = norm.GammaConstraint, BetaConstraint = norm.BetaConstraint, ActivityRegularizer = norm.ActivityRegularizer,
            GammaInitializer = norm.GammaInitializer, BetaInitializer = norm.BetaInitializer,
        },
        Dropout<T> dropout => LayerSpec.DropoutLayer(dropout.Rate) with { Name = dropout.Name },
        Masking<T> masking => LayerSpec.Masking(masking.MaskValue) with { Name = masking.Name },
        Dense<T> dense => LayerSpec.Dense(dense.Units, dense.Activation, dense.UseBias) with
        {
            Name = dense.Name, KernelRegularizer = dense.KernelRegularizer, BiasRegularizer = dense.BiasRegularizer,
            KernelConstraint = dense.KernelConstraint, BiasConstraint = dense.BiasConstraint, ActivityRegularizer = dense.ActivityRegularizer,
            KernelInitializer = dense.KernelInitializer, BiasInitializer = dense.BiasInitializer, TimeDistributed = dense.TimeDistributed,
        },
        _ => throw new NotSupportedException($"Layer '{layer.Name}' of type {layer.GetType().Name} has no spec."),
    };
}
