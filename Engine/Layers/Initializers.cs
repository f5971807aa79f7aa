namespace NumLstm.Layers;

/// <summary>Keras' default initializers, seeded. Values are drawn in double and cast, so float and double agree.</summary>
public static class Initializers
{
    /// <summary>Glorot (Xavier) uniform: U(−l, l), l = √(6 / (fanIn + fanOut)).</summary>
    public static void GlorotUniform<T>(Span<T> values, int fanIn, int fanOut, Random random) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double limit = Math.Sqrt(6.0 / (fanIn + fanOut));
        for (int k = 0; k < values.Length; k++) values[k] = T.CreateTruncating((random.NextDouble() * 2 - 1) * limit);
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
    /// stored [4H, H] matrix has orthonormal columns.
    /// </summary>
    public static void OrthogonalTransposed<T>(Span<T> values, int kerasRows, int kerasCols, Random random) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values.Length != kerasRows * kerasCols) throw new ArgumentException("Orthogonal: size mismatch.", nameof(values));
        int tall = Math.Max(kerasRows, kerasCols), narrow = Math.Min(kerasRows, kerasCols);
        var q = new double[tall * narrow];   // tall × narrow, row-major
        for (int k = 0; k < q.Length; k++) q[k] = NextGaussian(random);
        // Modified Gram–Schmidt on the columns: Q with R's diagonal positive, the same as Q·sign(diag(R)) from Householder QR.
        for (int col = 0; col < narrow; col++)
        {
            for (int prev = 0; prev < col; prev++)
            {
                double dot = 0;
                for (int r = 0; r < tall; r++) dot += q[r * narrow + prev] * q[r * narrow + col];
                for (int r = 0; r < tall; r++) q[r * narrow + col] -= dot * q[r * narrow + prev];
            }
            double norm = 0;
            for (int r = 0; r < tall; r++) norm += q[r * narrow + col] * q[r * narrow + col];
            norm = Math.Sqrt(norm);
            for (int r = 0; r < tall; r++) q[r * narrow + col] /= norm;
        }
        // Keras kernel K = rows<cols ? Qᵀ : Q (rows × cols); we store Kᵀ (cols × rows).
        for (int r = 0; r < kerasCols; r++)
            for (int c = 0; c < kerasRows; c++)
            {
                double value = kerasRows < kerasCols ? q[r * narrow + c] : q[c * narrow + r];
                values[r * kerasRows + c] = T.CreateTruncating(value);
            }
    }
}
