using System.Numerics.Tensors;
using NumLstm.Layers;

namespace NumLstm.Kernels;

// Keras 3's other built-in activations (keras/src/activations/activations.py; formulas from keras/src/backend/*/nn.py),
// forward and backward side by side; the derivative at each kink is the one Keras' default (TensorFlow) backend's
// gradient gives there, see (D2)–(D3) in docs/math.md. Elementwise ones are scalar code in double (a float caller
// rounds once), so a value never depends on its neighbours or on the span's length: a row gives the same bits in a
// batch of one and of many.
public static partial class Activations
{
    /// <summary>y = act(x) for any <see cref="Activation"/>; x [R, width], y may be the same span as x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward<T>(Activation activation, ReadOnlySpan<T> x, Span<T> y, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(x), x.Length, nameof(y), y.Length);
        switch (activation)
        {
            case Activation.Linear: x.CopyTo(y); break;
            case Activation.Relu: Relu(x, y); break;
            case Activation.Tanh: Tanh(x, y); break;
            case Activation.Sigmoid: Sigmoid(x, y); break;
            case Activation.Softmax: SoftmaxRows(x, y, width); break;
            case Activation.Elu or Activation.Celu: Map<EluOp, T>(x, y); break;
            case Activation.Selu: Map<SeluOp, T>(x, y); break;
            case Activation.Gelu: Map<GeluOp, T>(x, y); break;
            case Activation.Silu: Map<SiluOp, T>(x, y); break;
            case Activation.Softplus: Map<SoftplusOp, T>(x, y); break;
            case Activation.Softsign: Map<SoftsignOp, T>(x, y); break;
            case Activation.LeakyRelu:
                T slope = T.CreateTruncating(LeakyReluSlope);   // in T, as Keras casts negative_slope to the input's dtype
                for (int k = 0; k < x.Length; k++) y[k] = T.Max(x[k], slope * x[k]);
                break;
            case Activation.Relu6: TensorPrimitives.Max(x, T.Zero, y); TensorPrimitives.Min(y, T.CreateTruncating(6), y); break;
            case Activation.HardTanh: TensorPrimitives.Max(x, -T.One, y); TensorPrimitives.Min(y, T.One, y); break;
            case Activation.HardSigmoid: Map<HardSigmoidOp, T>(x, y); break;
            case Activation.HardSilu: Map<HardSiluOp, T>(x, y); break;
            case Activation.Exponential: Map<ExponentialOp, T>(x, y); break;
            case Activation.Mish: Map<MishOp, T>(x, y); break;
            case Activation.LogSigmoid: Map<LogSigmoidOp, T>(x, y); break;
            case Activation.SoftShrink: Map<SoftShrinkOp, T>(x, y); break;
            case Activation.HardShrink: Map<HardShrinkOp, T>(x, y); break;
            case Activation.TanhShrink: Map<TanhShrinkOp, T>(x, y); break;
            case Activation.Squareplus: Map<SquareplusOp, T>(x, y); break;
            case Activation.SparsePlus: Map<SparsePlusOp, T>(x, y); break;
            case Activation.SparseSigmoid: Map<SparseSigmoidOp, T>(x, y); break;
            case Activation.LogSoftmax: LogSoftmaxRows(x, y, width); break;
            case Activation.Sparsemax: SparsemaxRows(x, y, width); break;
            default: throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }

    /// <summary>
    /// dx += dy ⊙ act′(x) (per row for softmax, log_softmax and sparsemax), from the pre-activation x and the output y of
    /// the forward pass (the five activations Dense had first read y alone; the others read x where
    /// <see cref="BackwardReadsPreActivation"/> says so). All spans [R, width].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward<T>(Activation activation, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(y), y.Length, nameof(dy), dy.Length); CheckSameLength(nameof(y), y.Length, nameof(dx), dx.Length);
        if (BackwardReadsPreActivation(activation)) CheckSameLength(nameof(y), y.Length, nameof(x), x.Length);
        switch (activation)
        {
            case Activation.Linear: TensorPrimitives.Add(dx, dy, dx); break;
            case Activation.Relu: ReluBackward(y, dy, dx); break;
            case Activation.Tanh: TanhBackward(y, dy, dx); break;
            case Activation.Sigmoid: SigmoidBackward(y, dy, dx); break;
            case Activation.Softmax: SoftmaxRowsBackward(y, dy, dx, width); break;
            case Activation.Elu or Activation.Celu: MapBackward<EluOp, T>(x, dy, dx); break;
            case Activation.Selu: MapBackward<SeluOp, T>(x, dy, dx); break;
            case Activation.Gelu: MapBackward<GeluOp, T>(x, dy, dx); break;
            case Activation.Silu: MapBackward<SiluOp, T>(x, dy, dx); break;
            case Activation.Softplus: MapBackward<SoftplusOp, T>(x, dy, dx); break;
            case Activation.Softsign: MapBackward<SoftsignOp, T>(x, dy, dx); break;
            case Activation.LeakyRelu:
                T slope = T.CreateTruncating(LeakyReluSlope);
                for (int k = 0; k < x.Length; k++) dx[k] += x[k] > T.Zero ? dy[k] : dy[k] * slope;   // slope at 0, as tf.nn.leaky_relu's gradient
                break;
            case Activation.Relu6:
                T six = T.CreateTruncating(6);
                for (int k = 0; k < x.Length; k++) if (x[k] > T.Zero && x[k] < six) dx[k] += dy[k];   // 0 at 0 and 6, as tf.nn.relu6's
                break;
            case Activation.HardTanh:
                for (int k = 0; k < x.Length; k++) if (x[k] >= -T.One && x[k] <= T.One) dx[k] += dy[k];   // 1 at ±1, as tf.clip_by_value's
                break;
            case Activation.HardSigmoid: MapBackward<HardSigmoidOp, T>(x, dy, dx); break;
            case Activation.HardSilu: MapBackward<HardSiluOp, T>(x, dy, dx); break;
            case Activation.Exponential: MapBackward<ExponentialOp, T>(x, dy, dx); break;
            case Activation.Mish: MapBackward<MishOp, T>(x, dy, dx); break;
            case Activation.LogSigmoid: MapBackward<LogSigmoidOp, T>(x, dy, dx); break;
            case Activation.SoftShrink: MapBackward<SoftShrinkOp, T>(x, dy, dx); break;
            case Activation.HardShrink: MapBackward<HardShrinkOp, T>(x, dy, dx); break;
            case Activation.TanhShrink: MapBackward<TanhShrinkOp, T>(x, dy, dx); break;
            case Activation.Squareplus: MapBackward<SquareplusOp, T>(x, dy, dx); break;
            case Activation.SparsePlus: MapBackward<SparsePlusOp, T>(x, dy, dx); break;
            case Activation.SparseSigmoid: MapBackward<SparseSigmoidOp, T>(x, dy, dx); break;
            case Activation.LogSoftmax: LogSoftmaxRowsBackward(y, dy, dx, width); break;
            case Activation.Sparsemax: SparsemaxRowsBackward(y, dy, dx, width); break;
            default: throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }

    /// <summary>Whether <see cref="Backward{T}"/> reads the pre-activation x (else y alone): true for all but the five first activations and
    /// the row-wise log_softmax and sparsemax, whose derivatives are functions of y.</summary>
    public static bool BackwardReadsPreActivation(Activation activation)
        => activation is not (Activation.Linear or Activation.Relu or Activation.Tanh or Activation.Sigmoid or Activation.Softmax
            or Activation.LogSoftmax or Activation.Sparsemax);

    /// <summary>Keras 3's leaky_relu default negative_slope (activations.leaky_relu(x, negative_slope=0.2)).</summary>
    public const double LeakyReluSlope = 0.2;
    /// <summary>SELU's constants as Keras writes them (keras/src/backend/numpy/nn.py, selu; Klambauer et al., 2017).</summary>
    public const double SeluAlpha = 1.6732632423543772848170429916717, SeluScale = 1.0507009873554804934193349852946;
    /// <summary>soft_shrink's and hard_shrink's default threshold, squareplus's default b.</summary>
    public const double ShrinkThreshold = 0.5, SquareplusB = 4;

    /// <summary>Per row of <paramref name="width"/>: y = x − max − log Σ e^(x − max) (Keras' log_softmax, stable for any x); y may be x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LogSoftmaxRows<T>(ReadOnlySpan<T> x, Span<T> y, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(x), x.Length, nameof(y), y.Length); CheckWidth(x.Length, width);
        for (int start = 0; start < x.Length; start += width)
        {
            ReadOnlySpan<T> xRow = x.Slice(start, width);
            Span<T> yRow = y.Slice(start, width);
            T max = TensorPrimitives.Max(xRow), sum = T.Zero;
            for (int j = 0; j < width; j++) sum += T.Exp(xRow[j] - max);
            T logSum = T.Log(sum);
            for (int j = 0; j < width; j++) yRow[j] = xRow[j] - max - logSum;
        }
    }

    /// <summary>Per row: dx += dy − e^y · Σ dy (softmax = e^y).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LogSoftmaxRowsBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckWidth(y.Length, width);
        for (int start = 0; start < y.Length; start += width)
        {
            ReadOnlySpan<T> yRow = y.Slice(start, width), dyRow = dy.Slice(start, width);
            Span<T> dxRow = dx.Slice(start, width);
            T sum = T.Zero;
            for (int j = 0; j < width; j++) sum += dyRow[j];
            for (int j = 0; j < width; j++) dxRow[j] += dyRow[j] - T.Exp(yRow[j]) * sum;
        }
    }

    /// <summary>
    /// Per row: y = max(x − τ, 0) with τ the threshold Keras' sparsemax finds by sorting (Σ y = 1). Found here without a
    /// sort or scratch by Michelot's iteration: τ = (Σ_S x − 1)/|S| over S = {x &gt; τ}, from S = the whole row, until S
    /// stops shrinking (at most width passes, usually two or three). A row holding NaN or ±∞ gives NaN. y may be x.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SparsemaxRows<T>(ReadOnlySpan<T> x, Span<T> y, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(nameof(x), x.Length, nameof(y), y.Length); CheckWidth(x.Length, width);
        for (int start = 0; start < x.Length; start += width)
        {
            ReadOnlySpan<T> xRow = x.Slice(start, width);
            Span<T> yRow = y.Slice(start, width);
            T sum = T.Zero;
            for (int j = 0; j < width; j++) sum += xRow[j];
            if (!T.IsFinite(sum)) { yRow.Fill(T.NaN); continue; }
            int count = width;
            T tau = (sum - T.One) / T.CreateTruncating(width);
            for (int pass = 0; pass < width; pass++)
            {
                T supportSum = T.Zero;
                int supportCount = 0;
                for (int j = 0; j < width; j++) if (xRow[j] > tau) { supportSum += xRow[j]; supportCount++; }
                // The set only shrinks (τ never decreases), so an unchanged count is an unchanged set; an empty one only
                // when rounding swallows the 1 (values near 1e8 in float), where the last τ stands.
                if (supportCount == count || supportCount == 0) break;
                count = supportCount;
                tau = (supportSum - T.One) / T.CreateTruncating(count);
            }
            for (int j = 0; j < width; j++) yRow[j] = T.Max(xRow[j] - tau, T.Zero);
        }
    }

    /// <summary>Per row, with S = {y &gt; 0}: dx_j += dy_j − mean_S(dy) for j in S (the derivative taken as 0 where y = 0 exactly).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SparsemaxRowsBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckWidth(y.Length, width);
        for (int start = 0; start < y.Length; start += width)
        {
            ReadOnlySpan<T> yRow = y.Slice(start, width), dyRow = dy.Slice(start, width);
            Span<T> dxRow = dx.Slice(start, width);
            T sum = T.Zero;
            int count = 0;
            for (int j = 0; j < width; j++) if (yRow[j] > T.Zero) { sum += dyRow[j]; count++; }
            if (count == 0) continue;
            T mean = sum / T.CreateTruncating(count);
            for (int j = 0; j < width; j++) if (yRow[j] > T.Zero) dxRow[j] += dyRow[j] - mean;
        }
    }

    private static void CheckWidth(int length, int width)
    {
        if (width <= 0 || length % width != 0)
            throw new ArgumentException($"Activation: row width {width} does not divide the length {length}.", nameof(width));
    }

    // ------------------------------------------------------------------------------------------------ elementwise ops

    /// <summary>One elementwise activation in double: its value and its derivative at x (the one chosen at a kink).</summary>
    private interface IElementwise
    {
        static abstract double Value(double x);
        static abstract double Derivative(double x);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Map<TOp, T>(ReadOnlySpan<T> x, Span<T> y) where TOp : struct, IElementwise where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < x.Length; k++) y[k] = T.CreateTruncating(TOp.Value(double.CreateTruncating(x[k])));
    }

    // dx += dy ⊙ act′(x)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MapBackward<TOp, T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where TOp : struct, IElementwise where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < x.Length; k++) dx[k] += dy[k] * T.CreateTruncating(TOp.Derivative(double.CreateTruncating(x[k])));
    }

    /// <summary>σ(x) without overflow: 1/(1 + e^−x) for x ≥ 0, e^x/(1 + e^x) below.</summary>
    internal static double LogisticSigmoid(double x)
    {
        if (x >= 0) return 1 / (1 + Math.Exp(-x));
        double e = Math.Exp(x);
        return e / (1 + e);
    }

    /// <summary>softplus(x) = log(1 + e^x) as Keras' NumPy and JAX backends compute it (logaddexp(x, 0)): max(x, 0) + log1p(e^−|x|).</summary>
    internal static double Softplus(double x) => Math.Max(x, 0) + SpecialFunctions.LogP1(Math.Exp(-Math.Abs(x)));

    // elu (alpha 1; Keras' where(x >= 0, x, alpha·expm1(x))) and celu (alpha 1: max(x, 0) + expm1(min(x, 0)), the same
    // function). Derivative 1 at 0 (tf.nn.elu's gradient: 1 where the output is not negative).
    private struct EluOp : IElementwise
    {
        public static double Value(double x) => x >= 0 ? x : SpecialFunctions.ExpM1(x);
        public static double Derivative(double x) => x >= 0 ? 1 : Math.Exp(x);
    }

    // scale·elu(x, alpha); the right-hand derivative scale at 0 (tf.nn.selu's gradient, as elu's).
    private struct SeluOp : IElementwise
    {
        public static double Value(double x) => SeluScale * (x >= 0 ? x : SeluAlpha * SpecialFunctions.ExpM1(x));
        public static double Derivative(double x) => x >= 0 ? SeluScale : SeluScale * SeluAlpha * Math.Exp(x);
    }

    // x·Φ(x) = 0.5·x·erfc(−x/√2) (tf.nn.gelu's exact form; 1 + erf(x/√2) as NumPy writes it is 0 below x ≈ −8.3 in double);
    // derivative Φ(x) + x·φ(x).
    private struct GeluOp : IElementwise
    {
        private const double InverseSqrt2 = 0.70710678118654752440, InverseSqrt2Pi = 0.39894228040143267794;
        public static double Value(double x) => 0.5 * x * SpecialFunctions.Erfc(-x * InverseSqrt2);
        public static double Derivative(double x) => 0.5 * SpecialFunctions.Erfc(-x * InverseSqrt2) + x * InverseSqrt2Pi * Math.Exp(-0.5 * x * x);
    }

    // x·σ(x); derivative σ(x)·(1 + x·(1 − σ(x))).
    private struct SiluOp : IElementwise
    {
        public static double Value(double x) => x * LogisticSigmoid(x);
        public static double Derivative(double x) { double s = LogisticSigmoid(x); return s * (1 + x * (1 - s)); }
    }

    private struct SoftplusOp : IElementwise
    {
        public static double Value(double x) => Softplus(x);
        public static double Derivative(double x) => LogisticSigmoid(x);
    }

    private struct SoftsignOp : IElementwise
    {
        public static double Value(double x) => x / (1 + Math.Abs(x));
        public static double Derivative(double x) { double d = 1 + Math.Abs(x); return 1 / (d * d); }
    }

    // relu6(x + 3)/6 (tf and jax backends); derivative 1/6 on (−3, 3), 0 at ±3 (relu6's gradient).
    private struct HardSigmoidOp : IElementwise
    {
        public static double Value(double x) => Math.Min(Math.Max(x + 3, 0), 6) / 6;
        public static double Derivative(double x) => x > -3 && x < 3 ? 1.0 / 6 : 0;
    }

    // x·hard_sigmoid(x); derivative hard_sigmoid(x) + x·hard_sigmoid′(x): 0 at −3, 1 at 3.
    private struct HardSiluOp : IElementwise
    {
        public static double Value(double x) => x * HardSigmoidOp.Value(x);
        public static double Derivative(double x) => HardSigmoidOp.Value(x) + x * HardSigmoidOp.Derivative(x);
    }

    private struct ExponentialOp : IElementwise
    {
        public static double Value(double x) => Math.Exp(x);
        public static double Derivative(double x) => Math.Exp(x);
    }

    // x·tanh(softplus(x)); derivative t + x·(1 − t²)·σ(x).
    private struct MishOp : IElementwise
    {
        public static double Value(double x) => x * Math.Tanh(Softplus(x));
        public static double Derivative(double x) { double t = Math.Tanh(Softplus(x)); return t + x * (1 - t * t) * LogisticSigmoid(x); }
    }

    // −softplus(−x); derivative σ(−x).
    private struct LogSigmoidOp : IElementwise
    {
        public static double Value(double x) => -Softplus(-x);
        public static double Derivative(double x) => LogisticSigmoid(-x);
    }

    // Keras' where(x > t, x − t, where(x < −t, x + t, 0)): NaN gives 0, as there. Derivative 0 at ±t.
    private struct SoftShrinkOp : IElementwise
    {
        public static double Value(double x) => x > ShrinkThreshold ? x - ShrinkThreshold : x < -ShrinkThreshold ? x + ShrinkThreshold : 0;
        public static double Derivative(double x) => x > ShrinkThreshold || x < -ShrinkThreshold ? 1 : 0;
    }

    // Keras' where(|x| > t, x, 0): NaN gives 0, as there. Not continuous at ±t; derivative 0 there.
    private struct HardShrinkOp : IElementwise
    {
        public static double Value(double x) => Math.Abs(x) > ShrinkThreshold ? x : 0;
        public static double Derivative(double x) => Math.Abs(x) > ShrinkThreshold ? 1 : 0;
    }

    private struct TanhShrinkOp : IElementwise
    {
        public static double Value(double x) => x - Math.Tanh(x);
        public static double Derivative(double x) { double t = Math.Tanh(x); return t * t; }
    }

    // (x + √(x² + b))/2 as Keras writes it; derivative (1 + x/√(x² + b))/2.
    private struct SquareplusOp : IElementwise
    {
        public static double Value(double x) => (x + Math.Sqrt(x * x + SquareplusB)) / 2;
        public static double Derivative(double x) => (1 + x / Math.Sqrt(x * x + SquareplusB)) / 2;
    }

    // where(x <= −1, 0, where(x < 1, (x + 1)²/4, x)); derivative 0, (x + 1)/2, 1 (continuous).
    private struct SparsePlusOp : IElementwise
    {
        public static double Value(double x) => x <= -1 ? 0 : x < 1 ? 0.25 * (x + 1) * (x + 1) : x;
        public static double Derivative(double x) => x <= -1 ? 0 : x < 1 ? 0.5 * (x + 1) : 1;
    }

    // where(x <= −1, 0, where(x >= 1, 1, (x + 1)/2)); derivative 1/2 on (−1, 1), 0 at ±1 (the where's outer branches).
    private struct SparseSigmoidOp : IElementwise
    {
        public static double Value(double x) => x <= -1 ? 0 : x >= 1 ? 1 : 0.5 * (x + 1);
        public static double Derivative(double x) => x > -1 && x < 1 ? 0.5 : 0;
    }
}
