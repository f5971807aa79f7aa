using System.Numerics.Tensors;

namespace NumLstm.Kernels;

/// <summary>
/// LayerNorm over the last axis of rows of length <c>width</c>: y = γ ⊙ x̂ + β with x̂ = (x − μ)·ρ and
/// ρ = 1/√(σ² + ε) (biased variance, as Keras and PyTorch). Equations (L1)–(L4) in docs/math.md.
/// </summary>
public static class LayerNormKernel
{
    /// <summary>
    /// x, y, normalized: [rows, width]; mean, inverseStd: [rows]. gamma/beta: [width], or empty for scale=false/center=false.
    /// Keeps x̂ and ρ for <see cref="Backward{T}"/>. y may be the same span as x.
    /// </summary>
    public static void Forward<T>(ReadOnlySpan<T> x, int width, T epsilon, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        Span<T> y, Span<T> normalized, Span<T> mean, Span<T> inverseStd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = CheckShapes(nameof(x), x.Length, width, nameof(gamma), gamma.Length, nameof(beta), beta.Length);
        CheckLength(nameof(y), y.Length, x.Length, exact: true);
        CheckLength(nameof(normalized), normalized.Length, x.Length, exact: true);
        CheckLength(nameof(mean), mean.Length, rows, exact: false);
        CheckLength(nameof(inverseStd), inverseStd.Length, rows, exact: false);
        T n = T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> xRow = x.Slice(r * width, width);
            Span<T> xHat = normalized.Slice(r * width, width);
            T mu = TensorPrimitives.Sum(xRow) / n;                          // (L1)
            TensorPrimitives.Subtract(xRow, mu, xHat);
            T variance = TensorPrimitives.Dot<T>(xHat, xHat) / n;          // (L1)
            T rho = T.One / T.Sqrt(variance + epsilon);
            TensorPrimitives.Multiply(xHat, rho, xHat);                    // (L2)
            mean[r] = mu;
            inverseStd[r] = rho;
            Span<T> yRow = y.Slice(r * width, width);
            if (!gamma.IsEmpty) TensorPrimitives.Multiply(xHat, gamma, yRow); else xHat.CopyTo(yRow);   // (L3)
            if (!beta.IsEmpty) TensorPrimitives.Add(yRow, beta, yRow);
        }
    }

    /// <summary>
    /// Accumulates: dx += ρ(d x̂ − mean(d x̂) − x̂·mean(d x̂ ⊙ x̂)) with d x̂ = dy ⊙ γ; dγ += Σ dy ⊙ x̂; dβ += Σ dy.
    /// scratch: [width]. Equation (L4) in docs/math.md.
    /// </summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> normalized, ReadOnlySpan<T> inverseStd, int width,
        ReadOnlySpan<T> gamma, Span<T> dx, Span<T> dGamma, Span<T> dBeta, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = CheckShapes(nameof(dy), dy.Length, width, nameof(gamma), gamma.Length, nameof(dBeta), dBeta.Length);
        CheckLength(nameof(normalized), normalized.Length, dy.Length, exact: true);
        CheckLength(nameof(dx), dx.Length, dy.Length, exact: true);
        CheckLength(nameof(inverseStd), inverseStd.Length, rows, exact: false);
        CheckLength(nameof(scratch), scratch.Length, width, exact: false);
        if (!gamma.IsEmpty) CheckLength(nameof(dGamma), dGamma.Length, width, exact: true);
        T n = T.CreateTruncating(width);
        Span<T> dxHat = scratch.Slice(0, width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> dyRow = dy.Slice(r * width, width);
            ReadOnlySpan<T> xHat = normalized.Slice(r * width, width);
            if (!gamma.IsEmpty)
            {
                TensorPrimitives.MultiplyAdd(dyRow, xHat, dGamma, dGamma);
                TensorPrimitives.Multiply(dyRow, gamma, dxHat);
            }
            else dyRow.CopyTo(dxHat);
            if (!dBeta.IsEmpty) TensorPrimitives.Add(dBeta, dyRow, dBeta);
            T meanDxHat = TensorPrimitives.Sum<T>(dxHat) / n;
            T meanDxHatXHat = TensorPrimitives.Dot<T>(dxHat, xHat) / n;
            T rho = inverseStd[r];
            Span<T> dxRow = dx.Slice(r * width, width);
            for (int j = 0; j < width; j++)
                dxRow[j] += rho * (dxHat[j] - meanDxHat - xHat[j] * meanDxHatXHat);   // (L4)
        }
    }

    private static int CheckShapes(string inputName, int length, int width, string gammaName, int gammaLength, string betaName, int betaLength)
    {
        if (width <= 0) throw new ArgumentException($"LayerNorm: width must be positive, got {width}.", nameof(width));
        if (length % width != 0) throw new ArgumentException($"LayerNorm: '{inputName}' has {length} values, not a multiple of the width {width}.", inputName);
        if (gammaLength != 0 && gammaLength != width) throw new ArgumentException($"LayerNorm: '{gammaName}' has {gammaLength} values, expected {width} (or none).", gammaName);
        if (betaLength != 0 && betaLength != width) throw new ArgumentException($"LayerNorm: '{betaName}' has {betaLength} values, expected {width} (or none).", betaName);
        return length / width;
    }

    private static void CheckLength(string name, int length, int expected, bool exact)
    {
        if (exact ? length != expected : length < expected)
            throw new ArgumentException($"LayerNorm: '{name}' has {length} values, expected {(exact ? "" : "at least ")}{expected}.", name);
    }
}
