using System.Globalization;
using NumLstm.Data;

namespace NumLstm.IO;

/// <summary>
/// Builds a <see cref="SequenceDataset"/> from the NumPy arrays a Python user already has: x [N, T, F] (float32 or
/// float64, C order), labels [N] (integers, 0-based) or targets [N] / [N, K] (floats), or a target per step for a model
/// returning sequences: labels [N, T] or targets [N, T, K] (<see cref="SequenceDataset.TargetsPerStep"/>; targets [N, T]
/// stay T values per sequence, as the rank says), and optional lengths [N]
/// (integers 1..T) for right-padded variable-length sequences, and optional sample weights [N] or [N, 1] (Keras'
/// <c>sample_weight</c>; any dtype the reader knows, bool as 0/1, taken as float32 as Keras casts to floatx; finite and ≥ 0),
/// or [N, T] with per-step targets (Keras' temporal sample weights). Per-step labels and weights may carry Keras' trailing 1,
/// [N, T, 1].
/// </summary>
public static class NpyDataset
{
    /// <summary>
    /// The largest class count <see cref="LoadClassification"/> infers from the labels (max + 1) when no classCount is
    /// given: a 136-byte labels file holding 1e9 must not become a billion-class dataset. Pass classCount for more.
    /// </summary>
    public const int MaxInferredClassCount = 1 << 16;

    /// <summary>
    /// Labels are 0-based and below <paramref name="classCount"/>; without it the class count is the largest label + 1,
    /// which must be below <see cref="MaxInferredClassCount"/>.
    /// </summary>
    public static SequenceDataset LoadClassification(string xPath, string labelsPath, int? classCount = null, string? lengthsPath = null, string? sampleWeightsPath = null)
    {
        if (classCount is < 1)
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "classCount must be at least 1, or null to infer it from the labels.");
        (float[] x, int n, int t, int f) = ReadInputs(xPath);
        NpyArray labelArray = NpyFile.Read(labelsPath);
        // [N, T], or Keras' [N, T, 1] (sparse_categorical_crossentropy squeezes a trailing 1 off labels of y_pred's rank);
        // [N, 1] with T = 1 stays refused as before (one label per sequence is [N]).
        int[] labelShape = labelArray.Shape;
        bool perStep = (labelShape.Length == 2 && t > 1) || labelShape.Length == 3;
        if (perStep && (labelShape[0] != n || labelShape[1] != t || (labelShape.Length == 3 && labelShape[2] != 1)))
            throw new NumLstmFormatException(labelsPath, "shape",
                $"expected labels [N] = ({n}) or one per step [N, T] = ({n}, {t}), found ({string.Join(", ", labelShape)}) (per-step labels may also be [N, T, 1]).");
        if (!perStep) CheckLeading(labelsPath, labelArray, n, "labels", 1);
        int[] labels = labelArray.ToArray<int>();
        string At(int k) => perStep ? $"labels[{k / t}, {k % t}]" : $"labels[{k}]";
        int negative = Array.FindIndex(labels, l => l < 0);
        if (negative >= 0)
            throw new NumLstmFormatException(labelsPath, At(negative), $"expected a 0-based class index, found {labels[negative]}.");
        int classes;
        if (classCount is int given)
        {
            classes = given;
            int bad = Array.FindIndex(labels, l => l >= classes);
            if (bad >= 0)
                throw new NumLstmFormatException(labelsPath, At(bad), $"expected a class index in 0..{classes - 1} (classCount {classes}), found {labels[bad]}.");
        }
        else
        {
            int largest = Array.IndexOf(labels, labels.Max());
            if (labels[largest] >= MaxInferredClassCount)
                throw new NumLstmFormatException(labelsPath, At(largest),
                    $"expected a class index below {MaxInferredClassCount} when classCount is not given (pass classCount for more classes), found {labels[largest]}.");
            classes = labels[largest] + 1;
        }
        int[]? lengths = ReadLengths(lengthsPath, n, t);
        return WithSampleWeights(perStep
            ? SequenceDataset.ForClassificationPerStep(x, n, t, f, labels, classes, lengths)
            : SequenceDataset.ForClassification(x, n, t, f, labels, classes, lengths), sampleWeightsPath);
    }

    public static SequenceDataset LoadRegression(string xPath, string targetsPath, string? lengthsPath = null, string? sampleWeightsPath = null)
    {
        (float[] x, int n, int t, int f) = ReadInputs(xPath);
        NpyArray targetArray = NpyFile.Read(targetsPath);
        if (targetArray.Shape.Length is not (1 or 2 or 3))
            throw new NumLstmFormatException(targetsPath, "shape", $"expected targets [N], [N, K] or one row per step [N, T, K], found ({string.Join(", ", targetArray.Shape)}).");
        bool perStep = targetArray.Shape.Length == 3;
        if (perStep && (targetArray.Shape[0] != n || targetArray.Shape[1] != t))
            throw new NumLstmFormatException(targetsPath, "shape", $"expected targets one row per step [N, T, K] = ({n}, {t}, K), found ({string.Join(", ", targetArray.Shape)}).");
        CheckLeading(targetsPath, targetArray, n, "targets", targetArray.Shape.Length);
        int width = targetArray.Shape.Length >= 2 ? targetArray.Shape[^1] : 1;
        if (width == 0)
            throw new NumLstmFormatException(targetsPath, "shape", $"expected targets [N, K] with K >= 1, found ({string.Join(", ", targetArray.Shape)}).");
        float[] targets = ToFloats(targetsPath, targetArray);
        int[]? lengths = ReadLengths(lengthsPath, n, t);
        return WithSampleWeights(perStep
            ? SequenceDataset.ForRegressionPerStep(x, n, t, f, targets, width, lengths)
            : SequenceDataset.ForRegression(x, n, t, f, targets, width, lengths), sampleWeightsPath);
    }

    private static (float[] X, int N, int T, int F) ReadInputs(string path)
    {
        NpyArray array = NpyFile.Read(path);
        if (array.Shape.Length != 3)
            throw new NumLstmFormatException(path, "shape", $"expected x as [N, T, F], found ({string.Join(", ", array.Shape)}).");
        if (array.DType is not (TensorDType.F32 or TensorDType.F64))
            throw new NumLstmFormatException(path, "dtype", $"expected float32 or float64 inputs, found {array.DType}.");
        int[] shape = array.Shape;
        if (shape[0] == 0 || shape[1] == 0 || shape[2] == 0)
            throw new NumLstmFormatException(path, "shape", $"expected a non-empty [N, T, F], found ({string.Join(", ", shape)}).");
        return (ToFloats(path, array), shape[0], shape[1], shape[2]);
    }

    /// <summary>
    /// The values as float32. A finite float64 beyond float32's range (|v| > 3.4028235e38) would become an infinity
    /// silently: it is refused naming the file, index and value. NaN and infinities stay what they are (the trainer's
    /// NonFiniteInputs option decides about them).
    /// </summary>
    private static float[] ToFloats(string path, NpyArray array)
    {
        float[] values = array.ToArray<float>();
        if (array.DType != TensorDType.F64)
            return values;
        double[]? doubles = null;   // read once, and only if an infinity shows
        for (int k = 0; k < values.Length; k++)
        {
            if (float.IsInfinity(values[k]))
            {
                doubles ??= array.ToArray<double>();
                double value = doubles[k];
                if (double.IsFinite(value))
                    throw new NumLstmFormatException(path, "data", $"expected float64 values within float32's range (±{float.MaxValue.ToString(CultureInfo.InvariantCulture)}), found {value.ToString(CultureInfo.InvariantCulture)} at index {k}.");
            }
        }
        return values;
    }

    private static int[]? ReadLengths(string? path, int n, int t)
    {
        if (path is null) return null;
        NpyArray array = NpyFile.Read(path);
        CheckLeading(path, array, n, "lengths", 1);
        int[] lengths = array.ToArray<int>();
        int bad = Array.FindIndex(lengths, l => l < 1 || l > t);
        if (bad >= 0) throw new NumLstmFormatException(path, $"lengths[{bad}]", $"expected a length in 1..{t}, found {lengths[bad]}.");
        return lengths;
    }

    // Keras' sample_weight: [N] or [N, 1] (one weight per sequence), or [N, T] with per-step targets, cast to floatx.
    private static SequenceDataset WithSampleWeights(SequenceDataset data, string? path)
    {
        if (path is null) return data;
        NpyArray array = NpyFile.Read(path);
        int[] shape = array.Shape;
        // Per step: [N, T], or [N, T, 1] (Keras' squeeze_or_expand_to_same_rank squeezes it to the loss values' [N, T]).
        bool perStep = data.TargetsPerStep && shape.Length is 2 or 3 && shape[0] == data.Count && shape[1] == data.Steps
            && (shape.Length == 2 || shape[2] == 1);
        if (!perStep && (!(shape.Length == 1 || (shape.Length == 2 && shape[1] == 1)) || shape[0] != data.Count))
            throw new NumLstmFormatException(path, "shape", data.TargetsPerStep
                ? $"expected sample weights as [N], [N, 1] or one per step [N, T] with N = {data.Count}, T = {data.Steps}, found ({string.Join(", ", shape)}) (per-step weights may also be [N, T, 1])."
                : $"expected sample weights as [N] or [N, 1] with N = {data.Count}, found ({string.Join(", ", shape)}).");
        float[] weights = array.DType is TensorDType.F32 or TensorDType.F64 ? ToFloats(path, array) : array.ToArray<float>();
        int bad = SequenceDataset.FirstBadWeight(weights);
        if (bad >= 0)
            throw new NumLstmFormatException(path, $"sample_weight[{bad}]", $"expected a finite weight ≥ 0, found {weights[bad].ToString(CultureInfo.InvariantCulture)}.");
        return data.WithSampleWeights(weights);
    }

    private static void CheckLeading(string path, NpyArray array, int n, string what, int rank)
    {
        int[] shape = array.Shape;
        if (shape.Length != rank || shape[0] != n)
            throw new NumLstmFormatException(path, "shape", $"expected {what} with {n} rows{(rank == 1 ? " as [N]" : "")}, found ({string.Join(", ", shape)}).");
    }
}
