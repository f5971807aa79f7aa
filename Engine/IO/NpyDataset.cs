using NumLstm.Data;

namespace NumLstm.IO;

/// <summary>
/// Builds a <see cref="SequenceDataset"/> from the NumPy arrays a Python user already has: x [N, T, F] (float32 or
/// float64, C order), labels [N] (integers, 0-based) or targets [N] / [N, K] (floats), and optional lengths [N]
/// (integers 1..T) for right-padded variable-length sequences.
/// </summary>
public static class NpyDataset
{
    public static SequenceDataset LoadClassification(string xPath, string labelsPath, int? classCount = null, string? lengthsPath = null)
    {
        (float[] x, int n, int t, int f) = ReadInputs(xPath);
        NpyArray labelArray = NpyFile.Read(labelsPath);
        CheckLeading(labelsPath, labelArray, n, "labels", 1);
        int[] labels = labelArray.ToArray<int>();
        int classes = classCount ?? (labels.Length == 0 ? 0 : labels.Max() + 1);
        int bad = Array.FindIndex(labels, l => l < 0 || l >= classes);
        if (bad >= 0) throw new NumLstmFormatException(labelsPath, $"labels[{bad}]", $"expected a class index in 0..{classes - 1}, found {labels[bad]}.");
        return SequenceDataset.ForClassification(x, n, t, f, labels, classes, ReadLengths(lengthsPath, n, t));
    }

    public static SequenceDataset LoadRegression(string xPath, string targetsPath, string? lengthsPath = null)
    {
        (float[] x, int n, int t, int f) = ReadInputs(xPath);
        NpyArray targetArray = NpyFile.Read(targetsPath);
        if (targetArray.Shape.Length is not (1 or 2))
            throw new NumLstmFormatException(targetsPath, "shape", $"expected targets [N] or [N, K], found ({string.Join(", ", targetArray.Shape)}).");
        CheckLeading(targetsPath, targetArray, n, "targets", targetArray.Shape.Length);
        int width = targetArray.Shape.Length == 2 ? targetArray.Shape[1] : 1;
        return SequenceDataset.ForRegression(x, n, t, f, targetArray.ToArray<float>(), width, ReadLengths(lengthsPath, n, t));
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
        return (array.ToArray<float>(), shape[0], shape[1], shape[2]);
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

    private static void CheckLeading(string path, NpyArray array, int n, string what, int rank)
    {
        int[] shape = array.Shape;
        if (shape.Length != rank || shape[0] != n)
            throw new NumLstmFormatException(path, "shape", $"expected {what} with {n} rows{(rank == 1 ? " as [N]" : "")}, found ({string.Join(", ", shape)}).");
    }
}
