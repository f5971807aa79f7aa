using System.Runtime.Intrinsics;

namespace NumLstm.Layers;

/// <summary>
/// The draws of Keras' initializers (keras/src/initializers/random_initializers.py), seeded. Values are drawn in double
/// and cast, so float and double agree. Equations (I1)–(I4) in docs/math.md; <see cref="WeightInitializer"/> chooses.
/// </summary>
public static class Initializers
{
    /// <summary>Glorot (Xavier) uniform: U(−l, l), l = √(6 / (fanIn + fanOut)).</summary>
    public static void GlorotUniform<T>(Span<T> values, int fanIn, int fanOut, Random random) where T : unmanaged, IFloatingPointIeee754<T>
        => VarianceScaling(values, 1, FanMode.FanAvg, InitializerDistribution.Uniform, fanIn, fanOut, random);

    /// <summary>
    /// (I1) Keras' VarianceScaling: n = fan_in, fan_out or (fan_in + fan_out)/2 by <paramref name="mode"/> (Keras' max(1, n)
    /// changes nothing for NumLstm's weights, whose fans are ≥ 1); uniform: U(−l, l), l = √(3·scale/n);
    /// untruncated_normal: N(0, scale/n); truncated_normal: N(0, σ²) truncated at ±2σ, σ = √(scale/n)/0.8796…, so
    /// the truncated draw's variance is scale/n. fan_avg's uniform limit is computed as √(6·scale/(fan_in + fan_out)), the
    /// very expression <see cref="GlorotUniform{T}"/> has always used, so glorot_uniform keeps its values bit for bit.
    /// </summary>
    public static void VarianceScaling<T>(Span<T> values, double scale, FanMode mode, InitializerDistribution distribution, int fanIn, int fanOut, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // scale/n as (factor·scale)/denominator: fan_avg's n = (fan_in + fan_out)/2.
        (double factor, double denominator) = mode switch
        {
            FanMode.FanIn => (1.0, (double)fanIn),
            FanMode.FanOut => (1.0, (double)fanOut),
            _ => (2.0, (double)fanIn + fanOut),
        };
        switch (distribution)
        {
            case InitializerDistribution.Uniform:
                double limit = Math.Sqrt(3.0 * factor * scale / denominator);
                for (int k = 0; k < values.Length; k++) values[k] = T.CreateTruncating((random.NextDouble() * 2 - 1) * limit);
                break;
            case InitializerDistribution.UntruncatedNormal:
                Normal(values, 0, Math.Sqrt(factor * scale / denominator), random);
                break;
            default:
                TruncatedNormal(values, 0, Math.Sqrt(factor * scale / denominator) / WeightInitializer.TruncatedNormalStddev, random);
                break;
        }
    }

    /// <summary>(I2) Keras' RandomUniform: U[minval, maxval) (minval + (maxval − minval)·u, u in [0, 1)).</summary>
    public static void Uniform<T>(Span<T> values, double minValue, double maxValue, Random random) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double width = maxValue - minValue;
        for (int k = 0; k < values.Length; k++) values[k] = T.CreateTruncating(minValue + width * random.NextDouble());
    }

    /// <summary>(I3) Keras' RandomNormal: mean + stddev·z, z standard normal.</summary>
    public static void Normal<T>(Span<T> values, double mean, double stddev, Random random) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < values.Length; k++) values[k] = T.CreateTruncating(mean + stddev * NextGaussian(random));
    }

    /// <summary>(I3) Keras' TruncatedNormal (and the backends' truncated_normal): mean + stddev·z, z standard normal
    /// redrawn while |z| &gt; 2, so no value is farther than 2·stddev from the mean.</summary>
    public static void TruncatedNormal<T>(Span<T> values, double mean, double stddev, Random random) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < values.Length; k++)
        {
            double z;
            do z = NextGaussian(random); while (Math.Abs(z) > 2);
            values[k] = T.CreateTruncating(mean + stddev * z);
        }
    }

    /// <summary>(I4) Keras' Identity: gain·eye(kerasRows, kerasCols) (non-square too), stored transposed [kerasCols, kerasRows].</summary>
    public static void IdentityTransposed<T>(Span<T> values, int kerasRows, int kerasCols, double gain) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values.Length != kerasRows * kerasCols) throw new ArgumentException("Identity: size mismatch.", nameof(values));
        values.Clear();
        T diagonal = T.CreateTruncating(gain);
        for (int d = 0; d < Math.Min(kerasRows, kerasCols); d++) values[d * kerasRows + d] = diagonal;
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public static double NextGaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>
    /// Keras' Orthogonal initializer for a kernel stored as [rows, cols] in Keras layout, returned here in the transposed
    /// (PyTorch) layout [cols, rows] that NumLstm stores. Keras draws a normal (max, min) matrix, takes Q of its QR with
    /// the signs of diag(R) folded in, and transposes when rows &lt; cols. For the recurrent kernel (H, 4H) that means the
    /// stored [4H, H] matrix has orthonormal columns. (I4): Keras multiplies by <paramref name="gain"/> (1 is exact, so
    /// the default keeps its values bit for bit).
    /// </summary>
    public static void OrthogonalTransposed<T>(Span<T> values, int kerasRows, int kerasCols, Random random, double gain = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values.Length != kerasRows * kerasCols) throw new ArgumentException("Orthogonal: size mismatch.", nameof(values));
        int tall = Math.Max(kerasRows, kerasCols), narrow = Math.Min(kerasRows, kerasCols);
        // The tall × narrow normal draw, in the row-major order of the draws, kept column by column (each column
        // contiguous, so the Gram–Schmidt sweeps run down memory instead of striding across it).
        var columns = new double[narrow * tall];
        for (int r = 0; r < tall; r++)
            for (int c = 0; c < narrow; c++) columns[c * tall + r] = NextGaussian(random);
        // Modified Gram–Schmidt on the columns: Q with R's diagonal positive, the same as Q·sign(diag(R)) from Householder QR.
        // Right-looking: once column j is normalized, its projection is removed from every later column. Each column
        // still sees the same operations in the same order as in the column-by-column form (projections on columns
        // 0, 1, … in turn, each dot summed in row order one term at a time, then its normalization), so the values
        // are the same bit for bit; four later columns go at once so their sums run side by side.
        for (int col = 0; col < narrow; col++)
        {
            Span<double> finished = columns.AsSpan(col * tall, tall);
            double norm = 0;
            for (int r = 0; r < tall; r++) norm += finished[r] * finished[r];
            norm = Math.Sqrt(norm);
            for (int r = 0; r < tall; r++) finished[r] /= norm;

            int later = col + 1;
            for (; later + 4 <= narrow; later += 4)
            {
                Span<double> c0 = columns.AsSpan(later * tall, tall), c1 = columns.AsSpan((later + 1) * tall, tall),
                    c2 = columns.AsSpan((later + 2) * tall, tall), c3 = columns.AsSpan((later + 3) * tall, tall);
                double dot0 = 0, dot1 = 0, dot2 = 0, dot3 = 0;
                for (int r = 0; r < tall; r++)
                {
                    double q = finished[r];
                    dot0 += q * c0[r]; dot1 += q * c1[r]; dot2 += q * c2[r]; dot3 += q * c3[r];
                }
                SubtractScaled(c0, finished, dot0);
                SubtractScaled(c1, finished, dot1);
                SubtractScaled(c2, finished, dot2);
                SubtractScaled(c3, finished, dot3);
            }
            for (; later < narrow; later++)
            {
                Span<double> current = columns.AsSpan(later * tall, tall);
                double dot = 0;
                for (int r = 0; r < tall; r++) dot += finished[r] * current[r];
                SubtractScaled(current, finished, dot);
            }
        }
        // Keras kernel K = rows<cols ? Qᵀ : Q (rows × cols); we store Kᵀ (cols × rows).
        for (int r = 0; r < kerasCols; r++)
            for (int c = 0; c < kerasRows; c++)
            {
                double value = kerasRows < kerasCols ? columns[c * tall + r] : columns[r * tall + c];
                values[r * kerasRows + c] = T.CreateTruncating(gain * value);
            }
    }

    /// <summary>x[r] −= scale · y[r], each element rounded as the scalar expression is (a product, then a difference; no FMA).</summary>
    private static void SubtractScaled(Span<double> x, ReadOnlySpan<double> y, double scale)
    {
        int r = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var factor = Vector256.Create(scale);
            for (; r <= x.Length - 4; r += 4)
            {
                var updated = Vector256.Create(x.Slice(r, 4)) - factor * Vector256.Create(y.Slice(r, 4));
                updated.CopyTo(x.Slice(r, 4));
            }
        }
        for (; r < x.Length; r++) x[r] -= scale * y[r];
    }
}
