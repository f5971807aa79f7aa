namespace NumLstm.Tests.IO;

/// <summary>
/// Keras' forward equations over Keras' own weight layouts, in double, written from Keras 3's source (lstm.py
/// LSTMCell.call with implementation 2, bidirectional.py, layer_normalization.py, dense.py): the independent reference
/// a loaded Keras file is checked against. Nothing here shares code with NumLstm's layers, and no array is transposed:
/// if the loader put a Keras kernel (F, 4H) into NumLstm's [4H, F] the wrong way, or the gates in another order, the
/// outputs differ.
/// </summary>
internal static class KerasReference
{
    /// <summary>x: (T, F) of one sample; kernel (F, 4H), recurrent (H, 4H), bias (4H), gates i, f, c, o.
    /// Returns every step's h (T, H) in processing order.</summary>
    public static double[][] Lstm(double[][] x, double[,] kernel, double[,] recurrent, double[] bias, bool goBackwards)
    {
        int f = kernel.GetLength(0), units = recurrent.GetLength(0);
        var h = new double[units];
        var c = new double[units];
        var outputs = new List<double[]>();
        for (int s = 0; s < x.Length; s++)
        {
            double[] xt = x[goBackwards ? x.Length - 1 - s : s];
            var z = new double[4 * units];
            for (int j = 0; j < 4 * units; j++)
            {
                double sum = bias[j];
                for (int i = 0; i < f; i++) sum += xt[i] * kernel[i, j];
                for (int i = 0; i < units; i++) sum += h[i] * recurrent[i, j];
                z[j] = sum;
            }
            var hNew = new double[units];
            for (int u = 0; u < units; u++)
            {
                double input = Sigmoid(z[u]), forget = Sigmoid(z[units + u]), candidate = Math.Tanh(z[2 * units + u]), output = Sigmoid(z[3 * units + u]);
                c[u] = forget * c[u] + input * candidate;
                hNew[u] = output * Math.Tanh(c[u]);
            }
            h = hNew;
            outputs.Add(hNew);
        }
        return [.. outputs];
    }

    /// <summary>Keras' Bidirectional(LSTM) with merge_mode concat: the backward run's sequence flipped back to time
    /// order when returning sequences; else both final states.</summary>
    public static double[][] Bidirectional(double[][] x, (double[,] K, double[,] R, double[] B) forward, (double[,] K, double[,] R, double[] B) backward, bool returnSequences)
    {
        double[][] yf = Lstm(x, forward.K, forward.R, forward.B, goBackwards: false);
        double[][] yb = Lstm(x, backward.K, backward.R, backward.B, goBackwards: true);
        if (!returnSequences) return [[.. yf[^1], .. yb[^1]]];
        return Enumerable.Range(0, x.Length).Select(t => (double[])[.. yf[t], .. yb[x.Length - 1 - t]]).ToArray();
    }

    /// <summary>Keras' LayerNormalization over the last axis: (x − μ)/√(σ² + ε)·γ + β, σ² the biased variance.</summary>
    public static double[][] LayerNorm(double[][] x, double[]? gamma, double[]? beta, double epsilon = 1e-3) =>
        x.Select(row =>
        {
            double mean = row.Average();
            double variance = row.Select(v => (v - mean) * (v - mean)).Average();
            double inv = 1 / Math.Sqrt(variance + epsilon);
            return row.Select((v, i) => (v - mean) * inv * (gamma?[i] ?? 1) + (beta?[i] ?? 0)).ToArray();
        }).ToArray();

    /// <summary>Keras' Dense: x·kernel + bias, kernel (F, U).</summary>
    public static double[][] Dense(double[][] x, double[,] kernel, double[]? bias) =>
        x.Select(row => Enumerable.Range(0, kernel.GetLength(1)).Select(u =>
        {
            double sum = bias?[u] ?? 0;
            for (int i = 0; i < row.Length; i++) sum += row[i] * kernel[i, u];
            return sum;
        }).ToArray()).ToArray();

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));
}
