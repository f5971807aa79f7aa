namespace NumLstm.Tests.TestSupport;

/// <summary>
/// Plain-loop reference implementations of the engine kernels, computed in double from the formulas
/// (not from the engine code), used as test oracles. Matrices are row-major with explicit row strides.
/// </summary>
public static class NaiveKernels
{
    /// <summary>
    /// c = alpha * op(a) * op(b) + beta * c over the m×n block of c. Also returns, per element, the magnitude
    /// Σ|alpha·a·b| + |beta·c| that rounding errors scale with (for relative tolerances).
    /// With beta = 0 the old c is ignored, so NaN garbage in it does not propagate (BLAS convention).
    /// </summary>
    public static (double[] Result, double[] Magnitude) Gemm(bool transA, bool transB, int m, int n, int k,
        double alpha, double[] a, int aOffset, int lda, double[] b, int bOffset, int ldb,
        double beta, double[] c, int cOffset, int ldc)
    {
        var result = new double[m * n];
        var magnitude = new double[m * n];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, size = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = transA ? a[aOffset + p * lda + r] : a[aOffset + r * lda + p];
                    double bv = transB ? b[bOffset + j * ldb + p] : b[bOffset + p * ldb + j];
                    sum += av * bv;
                    size += Math.Abs(av * bv);
                }
                double old = beta == 0 ? 0 : beta * c[cOffset + r * ldc + j];
                result[r * n + j] = alpha * sum + old;
                magnitude[r * n + j] = Math.Abs(alpha) * size + Math.Abs(old);
            }
        return (result, magnitude);
    }

    /// <summary>y = alpha * op(a) * x + beta * y with a stored m×n; returns the result and the error magnitude.</summary>
    public static (double[] Result, double[] Magnitude) Gemv(bool transA, int m, int n, double alpha, double[] a, int lda,
        double[] x, double beta, double[] y)
    {
        int outLength = transA ? n : m, inLength = transA ? m : n;
        var result = new double[outLength];
        var magnitude = new double[outLength];
        for (int o = 0; o < outLength; o++)
        {
            double sum = 0, size = 0;
            for (int p = 0; p < inLength; p++)
            {
                double av = transA ? a[p * lda + o] : a[o * lda + p];
                sum += av * x[p];
                size += Math.Abs(av * x[p]);
            }
            double old = beta == 0 ? 0 : beta * y[o];
            result[o] = alpha * sum + old;
            magnitude[o] = Math.Abs(alpha) * size + Math.Abs(old);
        }
        return (result, magnitude);
    }

    /// <summary>Per row of length width: μ, σ² (biased), x̂ = (x − μ)/√(σ² + ε), y = γ x̂ + β (γ = 1, β = 0 when absent).</summary>
    public static (double[] Y, double[] Normalized, double[] Mean, double[] InverseStd) LayerNormForward(
        double[] x, int width, double epsilon, double[]? gamma, double[]? beta)
    {
        int rows = x.Length / width;
        var y = new double[x.Length];
        var normalized = new double[x.Length];
        var mean = new double[rows];
        var inverseStd = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            // Compensated (Neumaier) sums, so the statistics stay the exact ones of double inputs far from zero too
            // (a plain double sum of 4096 values of 4.5e12 is off by more than their spread).
            double mu = CompensatedSum(x.AsSpan(r * width, width), 0) / width;
            mu += CompensatedSum(x.AsSpan(r * width, width), mu) / width;
            double variance = 0;
            for (int j = 0; j < width; j++) variance += (x[r * width + j] - mu) * (x[r * width + j] - mu);
            variance /= width;
            double rho = 1 / Math.Sqrt(variance + epsilon);
            mean[r] = mu;
            inverseStd[r] = rho;
            for (int j = 0; j < width; j++)
            {
                double xHat = (x[r * width + j] - mu) * rho;
                normalized[r * width + j] = xHat;
                y[r * width + j] = (gamma is null ? xHat : gamma[j] * xHat) + (beta is null ? 0 : beta[j]);
            }
        }
        return (y, normalized, mean, inverseStd);
    }

    // Σ (x_j − shift) with Neumaier's compensation.
    private static double CompensatedSum(ReadOnlySpan<double> x, double shift)
    {
        double sum = 0, compensation = 0;
        foreach (double value in x)
        {
            double term = value - shift, next = sum + term;
            compensation += Math.Abs(sum) >= Math.Abs(term) ? (sum - next) + term : (term - next) + sum;
            sum = next;
        }
        return sum + compensation;
    }

    /// <summary>
    /// LayerNorm gradients by the chain rule through the explicit Jacobian of x̂ with respect to x:
    /// ∂x̂_i/∂x_j = ρ (δ_ij − 1/N − x̂_i x̂_j / N). Returns dx, dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy (not accumulated).
    /// </summary>
    public static (double[] Dx, double[] DGamma, double[] DBeta) LayerNormBackward(
        double[] x, int width, double epsilon, double[]? gamma, double[] dy)
    {
        var (_, normalized, _, inverseStd) = LayerNormForward(x, width, epsilon, null, null);
        int rows = x.Length / width;
        var dx = new double[x.Length];
        var dGamma = new double[width];
        var dBeta = new double[width];
        for (int r = 0; r < rows; r++)
        {
            int o = r * width;
            for (int j = 0; j < width; j++)
            {
                double sum = 0;
                for (int i = 0; i < width; i++)
                {
                    double dxHat = dy[o + i] * (gamma is null ? 1 : gamma[i]);
                    double jacobian = inverseStd[r] * ((i == j ? 1 : 0) - 1.0 / width - normalized[o + i] * normalized[o + j] / width);
                    sum += dxHat * jacobian;
                }
                dx[o + j] = sum;
                dGamma[j] += dy[o + j] * normalized[o + j];
                dBeta[j] += dy[o + j];
            }
        }
        return (dx, dGamma, dBeta);
    }

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public static double Relu(double x) => x > 0 ? x : 0;

    /// <summary>Softmax of each row, shifted by the row maximum.</summary>
    public static double[] SoftmaxRows(double[] x, int width)
    {
        var y = new double[x.Length];
        for (int o = 0; o < x.Length; o += width)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < width; j++) max = Math.Max(max, x[o + j]);
            for (int j = 0; j < width; j++) sum += Math.Exp(x[o + j] - max);
            for (int j = 0; j < width; j++) y[o + j] = Math.Exp(x[o + j] - max) / sum;
        }
        return y;
    }

    /// <summary>dx_j = Σ_i dy_i ∂y_i/∂x_j for softmax rows, with the Jacobian ∂y_i/∂x_j = y_i (δ_ij − y_j).</summary>
    public static double[] SoftmaxRowsBackward(double[] y, double[] dy, int width)
    {
        var dx = new double[y.Length];
        for (int o = 0; o < y.Length; o += width)
            for (int j = 0; j < width; j++)
            {
                double sum = 0;
                for (int i = 0; i < width; i++) sum += dy[o + i] * y[o + i] * ((i == j ? 1 : 0) - y[o + j]);
                dx[o + j] = sum;
            }
        return dx;
    }
}
