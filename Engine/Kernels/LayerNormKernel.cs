using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        if (!gamma.IsEmpty && !beta.IsEmpty && HasRowKernels<T>())
        {
            for (int r = 0; r < rows; r++)
                (mean[r], inverseStd[r]) = ForwardRow(x.Slice(r * width, width), epsilon, gamma, beta, y.Slice(r * width, width), normalized.Slice(r * width, width));
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> xRow = x.Slice(r * width, width);
            Span<T> xHat = normalized.Slice(r * width, width);
            T mu0 = TensorPrimitives.Sum(xRow) / n;                         // (L1)
            TensorPrimitives.Subtract(xRow, mu0, xHat);
            (T mu, T rho) = CorrectedMoments(mu0, TensorPrimitives.Sum<T>(xHat), TensorPrimitives.Dot<T>(xHat, xHat), n, epsilon);   // (L1′)
            TensorPrimitives.Subtract(xRow, mu, xHat);
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        if (!gamma.IsEmpty && !dBeta.IsEmpty && HasRowKernels<T>())
        {
            for (int r = 0; r < rows; r++)
                BackwardRow(dy.Slice(r * width, width), normalized.Slice(r * width, width), inverseStd[r], gamma, dx.Slice(r * width, width), dGamma, dBeta);
            return;
        }
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
            int j = 0;
            if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            {
                // The same operations in the same order per element as the scalar loop, eight (or four) at a time.
                Vector256<T> rhoV = Vector256.Create(rho), meanV = Vector256.Create(meanDxHat), meanXV = Vector256.Create(meanDxHatXHat);
                for (; j <= width - Vector256<T>.Count; j += Vector256<T>.Count)
                {
                    Vector256<T> term = Vector256.Create(dxHat.Slice(j)) - meanV - Vector256.Create(xHat.Slice(j)) * meanXV;
                    (Vector256.Create((ReadOnlySpan<T>)dxRow.Slice(j)) + rhoV * term).CopyTo(dxRow.Slice(j));   // (L4)
                }
            }
            for (; j < width; j++)
                dxRow[j] += rho * (dxHat[j] - meanDxHat - xHat[j] * meanDxHatXHat);   // (L4)
        }
    }

    /// <summary>Whether the vector row kernels (<see cref="ForwardRow{T}"/>, <see cref="BackwardRow{T}"/>) serve this type here.</summary>
    internal static bool HasRowKernels<T>() where T : unmanaged, IFloatingPointIeee754<T>
        => Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported;

    /// <summary>
    /// One row of (L1)–(L3) in three vector passes (Σx; Σ(x − μ)²; x̂ and y together), with γ and β present. Returns (μ, ρ).
    /// With addToY, y += γ ⊙ x̂ + β instead (the separate gate norms' z = (LN_i(Ax) + b) + LN_h(Ah) without a pass for the sum).
    /// With bias (not empty, [width], not with addToY), y = (γ ⊙ x̂ + β) + bias: the bias after LN_i added in the same pass,
    /// the same adds as a pass after it. The remainder past the last full vector is done by the same operations one
    /// element at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (T Mean, T InverseStd) ForwardRow<T>(ReadOnlySpan<T> x, T epsilon, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        Span<T> y, Span<T> normalized, bool addToY = false, ReadOnlySpan<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = x.Length, lanes = Vector256<T>.Count, last = width - lanes;
        (T mu, T rho) = RowStatistics(x, epsilon);
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T gr = ref MemoryMarshal.GetReference(gamma), br = ref MemoryMarshal.GetReference(beta);
        ref T yr = ref MemoryMarshal.GetReference(y), nr = ref MemoryMarshal.GetReference(normalized);
        ref T biasr = ref MemoryMarshal.GetReference(bias);
        bool withBias = !bias.IsEmpty;
        Vector256<T> muV = Vector256.Create(mu), rhoV = Vector256.Create(rho);
        int j = 0;
        for (; j <= last; j += lanes)
        {
            Vector256<T> xHat = (Vector256.LoadUnsafe(ref xr, (nuint)j) - muV) * rhoV;   // (L2)
            xHat.StoreUnsafe(ref nr, (nuint)j);
            Vector256<T> value = xHat * Vector256.LoadUnsafe(ref gr, (nuint)j) + Vector256.LoadUnsafe(ref br, (nuint)j);   // (L3)
            if (addToY) value = Vector256.LoadUnsafe(ref yr, (nuint)j) + value;
            else if (withBias) value += Vector256.LoadUnsafe(ref biasr, (nuint)j);
            value.StoreUnsafe(ref yr, (nuint)j);
        }
        for (; j < width; j++)
        {
            T xHat = (Unsafe.Add(ref xr, j) - mu) * rho;
            Unsafe.Add(ref nr, j) = xHat;
            T value = xHat * Unsafe.Add(ref gr, j) + Unsafe.Add(ref br, j);
            if (!addToY && withBias) value += Unsafe.Add(ref biasr, j);
            Unsafe.Add(ref yr, j) = addToY ? Unsafe.Add(ref yr, j) + value : value;
        }
        return (mu, rho);
    }

    /// <summary>
    /// (L1) for one row in two vector passes: μ₀ = Σx / n, then Σ(x − μ₀) and Σ(x − μ₀)², from which (L1′) gives μ and
    /// ρ = 1/√(σ² + ε). Kernels that fuse LayerNorm
    /// into another pass (<see cref="LstmGates"/>) use it, then form x̂ = (x − μ)·ρ and y = x̂·γ + β with the same
    /// operations as <see cref="ForwardRow{T}"/>, so a fused pass gives the same bits as this kernel followed by the other.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (T Mean, T InverseStd) RowStatistics<T>(ReadOnlySpan<T> x, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = x.Length, lanes = Vector256<T>.Count, last = width - lanes;
        ref T xr = ref MemoryMarshal.GetReference(x);
        T n = T.CreateTruncating(width);
        // Two accumulators per sum, so consecutive vector adds do not wait on each other.
        Vector256<T> sumV = Vector256<T>.Zero, sumV1 = Vector256<T>.Zero;
        int j = 0;
        for (; j <= last - lanes; j += 2 * lanes)
        {
            sumV += Vector256.LoadUnsafe(ref xr, (nuint)j);
            sumV1 += Vector256.LoadUnsafe(ref xr, (nuint)(j + lanes));
        }
        for (; j <= last; j += lanes) sumV += Vector256.LoadUnsafe(ref xr, (nuint)j);
        T sum = Vector256.Sum(sumV + sumV1);
        for (; j < width; j++) sum += Unsafe.Add(ref xr, j);
        T mu = sum / n;                                                              // (L1)
        // The second pass sums d = x − μ as well as d²: the corrected two-pass moments (L1′).
        Vector256<T> muV = Vector256.Create(mu), squaresV = Vector256<T>.Zero, squaresV1 = Vector256<T>.Zero;
        Vector256<T> deviationsV = Vector256<T>.Zero, deviationsV1 = Vector256<T>.Zero;
        for (j = 0; j <= last - lanes; j += 2 * lanes)
        {
            Vector256<T> d = Vector256.LoadUnsafe(ref xr, (nuint)j) - muV, d1 = Vector256.LoadUnsafe(ref xr, (nuint)(j + lanes)) - muV;
            deviationsV += d;
            deviationsV1 += d1;
            squaresV += d * d;
            squaresV1 += d1 * d1;
        }
        for (; j <= last; j += lanes)
        {
            Vector256<T> d = Vector256.LoadUnsafe(ref xr, (nuint)j) - muV;
            deviationsV += d;
            squaresV += d * d;
        }
        T squares = Vector256.Sum(squaresV + squaresV1), deviations = Vector256.Sum(deviationsV + deviationsV1);
        for (; j < width; j++) { T d = Unsafe.Add(ref xr, j) - mu; deviations += d; squares += d * d; }
        return CorrectedMoments(mu, deviations, squares, n, epsilon);
    }

    /// <summary>
    /// (L1′): the corrected two-pass moments. μ₀ = Σx / n is off by the rounding of Σx, which for rows far from 0 (a common
    /// offset of 1e4–1e7 in float) is comparable to their spread; Σ(x − μ₀)²/n then reads that error as variance (a
    /// constant row of 1e7 and width 4096 came out with x̂ = ±1). With D = Σ(x − μ₀) and S = Σ(x − μ₀)², the mean is
    /// μ = μ₀ + D/n and the variance S/n − (D/n)², clamped at 0 as PyTorch's layer_norm clamps it (NaN passes). Returns (μ, ρ).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (T Mean, T InverseStd) CorrectedMoments<T>(T mu, T deviations, T squares, T n, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T shift = deviations / n;
        T variance = T.Max(squares / n - shift * shift, T.Zero);                      // (L1′)
        return (mu + shift, T.One / T.Sqrt(variance + epsilon));                     // (L1′), (L2)
    }

    /// <summary>
    /// One row of (L4) in two vector passes, with γ and β present: the first accumulates dγ, dβ, Σ d x̂ and Σ d x̂ ⊙ x̂
    /// (d x̂ = dy ⊙ γ), the second adds ρ(d x̂ − mean(d x̂) − x̂·mean(d x̂ ⊙ x̂)) into dx (or, with overwrite, stores it
    /// there, as adding into a cleared dx would). With dBias (not empty, [width]), dBias += dy as well, in the first pass
    /// (the bias added after this LayerNorm, whose gradient is dβ's sum: the same adds as a separate pass over the rows
    /// in the same order, without reading dy again).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BackwardRow<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> normalized, T rho, ReadOnlySpan<T> gamma,
        Span<T> dx, Span<T> dGamma, Span<T> dBeta, bool overwrite = false, Span<T> dBias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = dy.Length, lanes = Vector256<T>.Count, last = width - lanes;
        ref T dyr = ref MemoryMarshal.GetReference(dy), nr = ref MemoryMarshal.GetReference(normalized);
        ref T gr = ref MemoryMarshal.GetReference(gamma), dxr = ref MemoryMarshal.GetReference(dx);
        ref T dgr = ref MemoryMarshal.GetReference(dGamma), dbr = ref MemoryMarshal.GetReference(dBeta);
        ref T biasr = ref MemoryMarshal.GetReference(dBias);
        bool withBias = !dBias.IsEmpty;
        T n = T.CreateTruncating(width);
        Vector256<T> sumV = Vector256<T>.Zero, sumXV = Vector256<T>.Zero;
        int j = 0;
        for (; j <= last; j += lanes)
        {
            Vector256<T> d = Vector256.LoadUnsafe(ref dyr, (nuint)j), xHat = Vector256.LoadUnsafe(ref nr, (nuint)j);
            (Vector256.LoadUnsafe(ref dgr, (nuint)j) + d * xHat).StoreUnsafe(ref dgr, (nuint)j);
            (Vector256.LoadUnsafe(ref dbr, (nuint)j) + d).StoreUnsafe(ref dbr, (nuint)j);
            if (withBias) (Vector256.LoadUnsafe(ref biasr, (nuint)j) + d).StoreUnsafe(ref biasr, (nuint)j);
            Vector256<T> dxHat = d * Vector256.LoadUnsafe(ref gr, (nuint)j);
            sumV += dxHat;
            sumXV += dxHat * xHat;
        }
        T sumDxHat = Vector256.Sum(sumV), sumDxHatXHat = Vector256.Sum(sumXV);
        for (; j < width; j++)
        {
            T d = Unsafe.Add(ref dyr, j), xHat = Unsafe.Add(ref nr, j);
            Unsafe.Add(ref dgr, j) += d * xHat;
            Unsafe.Add(ref dbr, j) += d;
            if (withBias) Unsafe.Add(ref biasr, j) += d;
            T dxHat = d * Unsafe.Add(ref gr, j);
            sumDxHat += dxHat;
            sumDxHatXHat += dxHat * xHat;
        }
        T meanDxHat = sumDxHat / n, meanDxHatXHat = sumDxHatXHat / n;
        Vector256<T> rhoV = Vector256.Create(rho), meanV = Vector256.Create(meanDxHat), meanXV = Vector256.Create(meanDxHatXHat);
        for (j = 0; j <= last; j += lanes)
        {
            Vector256<T> dxHat = Vector256.LoadUnsafe(ref dyr, (nuint)j) * Vector256.LoadUnsafe(ref gr, (nuint)j);
            Vector256<T> term = dxHat - meanV - Vector256.LoadUnsafe(ref nr, (nuint)j) * meanXV;
            Vector256<T> previous = overwrite ? Vector256<T>.Zero : Vector256.LoadUnsafe(ref dxr, (nuint)j);
            (previous + rhoV * term).StoreUnsafe(ref dxr, (nuint)j);   // (L4)
        }
        for (; j < width; j++)
        {
            T previous = overwrite ? T.Zero : Unsafe.Add(ref dxr, j);
            Unsafe.Add(ref dxr, j) = previous + rho * (Unsafe.Add(ref dyr, j) * Unsafe.Add(ref gr, j) - meanDxHat - Unsafe.Add(ref nr, j) * meanDxHatXHat);
        }
    }

    /// <summary>
    /// (C2) with (S3) for one row of gate pre-activations: z ← (LN_i(z) + b) + LN_h(ah), z holding A_x on entry, x̂_i and
    /// x̂_h stored. The statistics of both rows, then one pass for both x̂ and the sum, with the operations of
    /// <see cref="ForwardRow{T}"/> on z in place, b added, then <see cref="ForwardRow{T}"/> of ah with addToY, so the
    /// same bits as those three passes. Returns both rows' (μ, ρ). normalizedI and normalizedH may be one scratch row when
    /// x̂ is not kept (inference).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (T MeanI, T InverseStdI, T MeanH, T InverseStdH) SeparateGatesForwardRow<T>(Span<T> z, ReadOnlySpan<T> ah,
        ReadOnlySpan<T> bias, T epsilonI, ReadOnlySpan<T> gammaI, ReadOnlySpan<T> betaI, Span<T> normalizedI,
        T epsilonH, ReadOnlySpan<T> gammaH, ReadOnlySpan<T> betaH, Span<T> normalizedH)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = z.Length, lanes = Vector256<T>.Count, last = width - lanes;
        if (ah.Length != width || bias.Length != width || gammaI.Length != width || betaI.Length != width || normalizedI.Length != width
            || gammaH.Length != width || betaH.Length != width || normalizedH.Length != width)
            throw new ArgumentException($"LayerNormKernel.SeparateGatesForwardRow: expected every row [{width}] (z's); got Ah {ah.Length}, b {bias.Length}, "
                + $"γ_i {gammaI.Length}, β_i {betaI.Length}, x̂_i {normalizedI.Length}, γ_h {gammaH.Length}, β_h {betaH.Length}, x̂_h {normalizedH.Length}.");
        (T muI, T rhoI) = RowStatistics<T>(z, epsilonI);
        (T muH, T rhoH) = RowStatistics(ah, epsilonH);
        ref T zr = ref MemoryMarshal.GetReference(z), ahr = ref MemoryMarshal.GetReference(ah), biasr = ref MemoryMarshal.GetReference(bias);
        ref T gir = ref MemoryMarshal.GetReference(gammaI), bir = ref MemoryMarshal.GetReference(betaI), nir = ref MemoryMarshal.GetReference(normalizedI);
        ref T ghr = ref MemoryMarshal.GetReference(gammaH), bhr = ref MemoryMarshal.GetReference(betaH), nhr = ref MemoryMarshal.GetReference(normalizedH);
        Vector256<T> muIV = Vector256.Create(muI), rhoIV = Vector256.Create(rhoI), muHV = Vector256.Create(muH), rhoHV = Vector256.Create(rhoH);
        int j = 0;
        for (; j <= last; j += lanes)
        {
            Vector256<T> xHatI = (Vector256.LoadUnsafe(ref zr, (nuint)j) - muIV) * rhoIV;                          // (L2) of A_x
            xHatI.StoreUnsafe(ref nir, (nuint)j);
            Vector256<T> xHatH = (Vector256.LoadUnsafe(ref ahr, (nuint)j) - muHV) * rhoHV;                         // (L2) of A_h
            xHatH.StoreUnsafe(ref nhr, (nuint)j);
            Vector256<T> input = xHatI * Vector256.LoadUnsafe(ref gir, (nuint)j) + Vector256.LoadUnsafe(ref bir, (nuint)j);   // (L3) LN_i
            input += Vector256.LoadUnsafe(ref biasr, (nuint)j);                                                    // + b
            Vector256<T> hidden = xHatH * Vector256.LoadUnsafe(ref ghr, (nuint)j) + Vector256.LoadUnsafe(ref bhr, (nuint)j);  // (L3) LN_h
            (input + hidden).StoreUnsafe(ref zr, (nuint)j);
        }
        for (; j < width; j++)
        {
            T xHatI = (Unsafe.Add(ref zr, j) - muI) * rhoI, xHatH = (Unsafe.Add(ref ahr, j) - muH) * rhoH;
            Unsafe.Add(ref nir, j) = xHatI;
            Unsafe.Add(ref nhr, j) = xHatH;
            T input = xHatI * Unsafe.Add(ref gir, j) + Unsafe.Add(ref bir, j);
            input += Unsafe.Add(ref biasr, j);
            Unsafe.Add(ref zr, j) = input + (xHatH * Unsafe.Add(ref ghr, j) + Unsafe.Add(ref bhr, j));
        }
        return (muI, rhoI, muH, rhoH);
    }

    /// <summary>
    /// <see cref="BackwardRow{T}"/>'s dx alone (overwrite off): the same two passes and operations, without dγ and dβ, so
    /// a row's dx gets the same bits. With <see cref="AccumulateParameterGradients{T}"/> over the same rows, in row order,
    /// it lets two threads share a backward pass: dx for disjoint rows, the parameter gradients on one of them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void BackwardRowInputOnly<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> normalized, T rho, ReadOnlySpan<T> gamma, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = dy.Length, lanes = Vector256<T>.Count, last = width - lanes;
        ref T dyr = ref MemoryMarshal.GetReference(dy), nr = ref MemoryMarshal.GetReference(normalized);
        ref T gr = ref MemoryMarshal.GetReference(gamma), dxr = ref MemoryMarshal.GetReference(dx);
        T n = T.CreateTruncating(width);
        Vector256<T> sumV = Vector256<T>.Zero, sumXV = Vector256<T>.Zero;
        int j = 0;
        for (; j <= last; j += lanes)
        {
            Vector256<T> dxHat = Vector256.LoadUnsafe(ref dyr, (nuint)j) * Vector256.LoadUnsafe(ref gr, (nuint)j);
            sumV += dxHat;
            sumXV += dxHat * Vector256.LoadUnsafe(ref nr, (nuint)j);
        }
        T sumDxHat = Vector256.Sum(sumV), sumDxHatXHat = Vector256.Sum(sumXV);
        for (; j < width; j++)
        {
            T dxHat = Unsafe.Add(ref dyr, j) * Unsafe.Add(ref gr, j);
            sumDxHat += dxHat;
            sumDxHatXHat += dxHat * Unsafe.Add(ref nr, j);
        }
        T meanDxHat = sumDxHat / n, meanDxHatXHat = sumDxHatXHat / n;
        Vector256<T> rhoV = Vector256.Create(rho), meanV = Vector256.Create(meanDxHat), meanXV = Vector256.Create(meanDxHatXHat);
        for (j = 0; j <= last; j += lanes)
        {
            Vector256<T> dxHat = Vector256.LoadUnsafe(ref dyr, (nuint)j) * Vector256.LoadUnsafe(ref gr, (nuint)j);
            Vector256<T> term = dxHat - meanV - Vector256.LoadUnsafe(ref nr, (nuint)j) * meanXV;
            (Vector256.LoadUnsafe(ref dxr, (nuint)j) + rhoV * term).StoreUnsafe(ref dxr, (nuint)j);   // (L4)
        }
        for (; j < width; j++)
            Unsafe.Add(ref dxr, j) = Unsafe.Add(ref dxr, j) + rho * (Unsafe.Add(ref dyr, j) * Unsafe.Add(ref gr, j) - meanDxHat - Unsafe.Add(ref nr, j) * meanDxHatXHat);
    }

    /// <summary>
    /// <see cref="BackwardRow{T}"/>'s dγ += dy ⊙ x̂ and dβ += dy alone, for the features [from, from + count) of rows
    /// [R, width], in row order, with the same operations (see <see cref="BackwardRowInputOnly{T}"/>); dGamma and dBeta
    /// hold those features' count values. Each element is summed as in the whole row's kernel, so two threads can take
    /// the features in two parts.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AccumulateParameterGradients<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> normalized, int width, int from, int count,
        Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = dy.Length / width, lanes = Vector256<T>.Count, last = width - lanes;
        if (from < 0 || count < 0 || from + count > width || dGamma.Length < count || dBeta.Length < count || normalized.Length != dy.Length)
            throw new ArgumentException($"LayerNorm: features [{from}, {from + count}) of width {width} with {dGamma.Length} and {dBeta.Length} gradient values.");
        ref T dgr = ref MemoryMarshal.GetReference(dGamma), dbr = ref MemoryMarshal.GetReference(dBeta);
        // The whole-row kernel vectorizes features [0, last]; its scalar tail starts at tail. Keep each feature on the
        // same path: vectors from 'from' while a whole vector lies below tail, then the scalar ones.
        int tail = width / lanes * lanes;
        for (int r = 0; r < rows; r++)
        {
            ref T dyr = ref Unsafe.Add(ref MemoryMarshal.GetReference(dy), r * width + from);
            ref T nr = ref Unsafe.Add(ref MemoryMarshal.GetReference(normalized), r * width + from);
            int j = 0;
            for (; j + lanes <= count && from + j + lanes <= tail; j += lanes)
            {
                Vector256<T> d = Vector256.LoadUnsafe(ref dyr, (nuint)j);
                (Vector256.LoadUnsafe(ref dgr, (nuint)j) + d * Vector256.LoadUnsafe(ref nr, (nuint)j)).StoreUnsafe(ref dgr, (nuint)j);
                (Vector256.LoadUnsafe(ref dbr, (nuint)j) + d).StoreUnsafe(ref dbr, (nuint)j);
            }
            for (; j < count; j++)
            {
                T d = Unsafe.Add(ref dyr, j);
                Unsafe.Add(ref dgr, j) += d * Unsafe.Add(ref nr, j);
                Unsafe.Add(ref dbr, j) += d;
            }
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
