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
        int rows = CheckShapes(x.Length, width, gamma.Length, beta.Length);
        if (y.Length != x.Length || normalized.Length != x.Length || mean.Length < rows || inverseStd.Length < rows)
            throw new ArgumentException($"LayerNorm: outputs must hold {x.Length} values and {rows} statistics.");
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
        int rows = CheckShapes(dy.Length, width, gamma.Length, dBeta.Length);
        if (normalized.Length != dy.Length || dx.Length != dy.Length || inverseStd.Length < rows || scratch.Length < width)
            throw new ArgumentException("LayerNorm backward: buffer sizes disagree.");
        if (!gamma.IsEmpty && dGamma.Length != width) throw new ArgumentException("LayerNorm backward: dGamma must match gamma.", nameof(dGamma));
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

    private static int CheckShapes(int length, int width, int gammaLength, int betaLength)
    {
        if (width <= 0) throw new ArgumentException($"LayerNorm: width must be positive, got {width}.", nameof(width));
        if (length % width != 0) throw new ArgumentException($"LayerNorm: length {length} is not a multiple of the width {width}.");
        if (gammaLength != 0 && gammaLength != width) throw new ArgumentException($"LayerNorm: gamma has {gammaLength} values, expected {width}.", "gamma");
        if (betaLength != 0 && betaLength != width) throw new ArgumentException($"LayerNorm: beta has {betaLength} values, expected {width}.", "beta");
        return length / width;
    }
}
