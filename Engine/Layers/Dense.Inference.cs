using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

// Inference path of Dense: (D1)–(D2) in docs/math.md without keeping the input or output for backward.
public sealed partial class Dense<T>
{
    // x [R, F] with R = B·T (or B); output [R, units].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void InferenceForward(ReadOnlySpan<T> x, int rows, Span<T> output)
    {
        int f = InputShape!.Value.Features, n = Units;
        Span<T> y = output.Slice(0, rows * n);
        if (bias is not null) for (int r = 0; r < rows; r++) bias.Value.CopyTo(y.Slice(r * n, n));
        else y.Clear();
        DotGemm.MultiplyAddTransposed(rows, n, f, x, f, Weight.Value, f, y, n);                         // (D1)
        // (D2) row by row: TensorPrimitives' last bits depend on the span length, and a row must not depend on the batch.
        if (Activation == Activation.Linear) return;
        for (int r = 0; r < rows; r++) Activations.Forward<T>(Activation, y.Slice(r * n, n), y.Slice(r * n, n), n);
    }
}
