using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace NumLstm.Kernels;

/// <summary>Element-wise activations and their derivatives, expressed through the activation's output y.</summary>
public static partial class Activations
{
    /// <summary>y = 1 / (1 + e^−x); y may be the same span as x.</summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(x), x.Length, nameof(y), y.Length);
        TensorPrimitives.Sigmoid(x, y);
    }

    /// <summary>
    /// y = tanh(x); y may be the same span as x. Float does not go through TensorPrimitives.Tanh: its vector path (System.Numerics.Tensors
    /// 10.0) computes tanh as 1 − 2/(e^{2x} + 1), which loses the relative accuracy near 0 (tanh(0) = −6e−8, tanh(1e−5)
    /// 0.5 % off, tanh(1e−3) 3e−5 off; measured). Float uses <see cref="FastMath.Tanh(System.Runtime.Intrinsics.Vector256{float})"/> (odd polynomial near 0, about
    /// 1 ulp) where AVX2 and FMA are there, else MathF.Tanh; double uses Math.Tanh (TensorPrimitives' double vector path is
    /// 1e−10 off near 1e−7).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(x), x.Length, nameof(y), y.Length);
        if (typeof(T) == typeof(double))
        {
            ReadOnlySpan<double> xd = MemoryMarshal.Cast<T, double>(x);
            Span<double> yd = MemoryMarshal.Cast<T, double>(y);
            for (int k = 0; k < xd.Length; k++) yd[k] = Math.Tanh(xd[k]);
            return;
        }
        if (typeof(T) != typeof(float))
        {
            TensorPrimitives.Tanh(x, y);
            return;
        }
        ReadOnlySpan<float> xf = MemoryMarshal.Cast<T, float>(x);
        Span<float> yf = MemoryMarshal.Cast<T, float>(y);
        int j = 0;
        if (FastMath.IsSupported)
        {
            for (; j <= xf.Length - 8; j += 8) FastMath.Tanh(Vector256.Create(xf.Slice(j))).CopyTo(yf.Slice(j));
            if (j < xf.Length)
            {
                // The last values through the same vector code on a zero-padded copy.
                Span<float> pad = stackalloc float[8];
                pad.Clear();
                xf.Slice(j).CopyTo(pad);
                Vector256<float> t = FastMath.Tanh(Vector256.Create((ReadOnlySpan<float>)pad));
                for (int k = j; k < xf.Length; k++) yf[k] = t[k - j];
            }
            return;
        }
        for (; j < xf.Length; j++) yf[j] = MathF.Tanh(xf[j]);
    }

    /// <summary>y = max(x, 0); y may be the same span as x.</summary>
    public static void Relu<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(x), x.Length, nameof(y), y.Length);
        TensorPrimitives.Max(x, T.Zero, y);
    }

    /// <summary>Softmax over each row of length <paramref name="width"/>, shifted by the row maximum; y may be the same span as x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SoftmaxRows<T>(ReadOnlySpan<T> x, Span<T> y, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(x), x.Length, nameof(y), y.Length);
        if (width <= 0 || x.Length % width != 0)
            throw new ArgumentException($"Softmax: row width {width} does not divide the length {x.Length}.", nameof(width));
        for (int start = 0; start < x.Length; start += width)
        {
            // Shift by the row maximum: TensorPrimitives.SoftMax does not, and e^x overflows float beyond x ≈ 88.
            ReadOnlySpan<T> xRow = x.Slice(start, width);
            Span<T> yRow = y.Slice(start, width);
            T max = TensorPrimitives.Max(xRow);
            TensorPrimitives.Subtract(xRow, max, yRow);
            TensorPrimitives.Exp(yRow, yRow);
            TensorPrimitives.Divide(yRow, TensorPrimitives.Sum<T>(yRow), yRow);
        }
    }

    /// <summary>dx += dy * y * (1 - y).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SigmoidBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(y), y.Length, nameof(dy), dy.Length); CheckSameLength(nameof(y), y.Length, nameof(dx), dx.Length);
        for (int j = 0; j < y.Length; j++) dx[j] += dy[j] * y[j] * (T.One - y[j]);
    }

    /// <summary>dx += dy * (1 - y²).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TanhBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(y), y.Length, nameof(dy), dy.Length); CheckSameLength(nameof(y), y.Length, nameof(dx), dx.Length);
        for (int j = 0; j < y.Length; j++) dx[j] += dy[j] * (T.One - y[j] * y[j]);
    }

    /// <summary>dx += dy where y &gt; 0 (the derivative at 0 is taken as 0, as PyTorch does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReluBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(y), y.Length, nameof(dy), dy.Length); CheckSameLength(nameof(y), y.Length, nameof(dx), dx.Length);
        for (int j = 0; j < y.Length; j++) if (y[j] > T.Zero) dx[j] += dy[j];
    }

    /// <summary>Per row: dx += y ⊙ (dy − (dy·y)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SoftmaxRowsBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(y), y.Length, nameof(dy), dy.Length); CheckSameLength(nameof(y), y.Length, nameof(dx), dx.Length);
        if (width <= 0 || y.Length % width != 0)
            throw new ArgumentException($"Softmax: row width {width} does not divide the length {y.Length}.", nameof(width));
        for (int start = 0; start < y.Length; start += width)
        {
            ReadOnlySpan<T> yRow = y.Slice(start, width), dyRow = dy.Slice(start, width);
            Span<T> dxRow = dx.Slice(start, width);
            T dot = TensorPrimitives.Dot(dyRow, yRow);
            for (int j = 0; j < width; j++) dxRow[j] += yRow[j] * (dyRow[j] - dot);
        }
    }

    private static void CheckSameLength(string expectedName, int expected, string actualName, int actual)
    {
        if (expected != actual)
            throw new ArgumentException($"Activation: '{actualName}' has {actual} elements but '{expectedName}' has {expected}; they must match.", actualName);
    }
}
