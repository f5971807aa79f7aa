using NumLstm.Kernels;

namespace NumLstm.Layers;

// Inference path of LayerNorm: (L1)–(L3) in docs/math.md row by row, with scratch for one row instead of a cache.
public sealed partial class LayerNorm<T>
{
    /// <summary>Scratch the inference pass needs: x̂ of one row and its two statistics.</summary>
    internal int InferenceScratchLength => InputShape!.Value.Features + 2;

    // x, output [R, F] with R = B·T (or B); scratch [F + 2].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void InferenceForward(ReadOnlySpan<T> x, int rows, Span<T> output, Span<T> scratch)
    {
        int f = InputShape!.Value.Features;
        T epsilon = T.CreateTruncating(Epsilon);
        ReadOnlySpan<T> g = gamma is null ? default : gamma.Value, b = beta is null ? default : beta.Value;
        Span<T> normalized = scratch.Slice(0, f);
        if (!g.IsEmpty && !b.IsEmpty && LayerNormKernel.HasRowKernels<T>())
        {
            // The kernel's own row path, without its shape checks on every row (the plan checked the shapes once).
            for (int r = 0; r < rows; r++) LayerNormKernel.ForwardRow(x.Slice(r * f, f), epsilon, g, b, output.Slice(r * f, f), normalized);
            return;
        }
        for (int r = 0; r < rows; r++)
            LayerNormKernel.Forward<T>(x.Slice(r * f, f), f, epsilon, g, b, output.Slice(r * f, f), normalized, scratch.Slice(f, 1), scratch.Slice(f + 1, 1));
    }
}
