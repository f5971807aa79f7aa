namespace NumLstm.Training;

/// <summary>
/// Keras' <c>fit(class_weight=...)</c>: each training sample's loss is multiplied by the weight of its class, and the
/// batch loss is Σᵢ wᵢ·lᵢ / B (Keras 3's "sum_over_batch_size" reduction of weighted per-sample losses: divided by the
/// batch size, not by the sum of the weights). A sample's class is found as Keras 3's
/// <c>class_weight_to_sample_weights</c> finds it (keras/src/trainers/data_adapters/data_adapter_utils.py): its label;
/// for target rows wider than one value, the index of the row's largest value (the first, as np.argmax); for one-value
/// rows, the value rounded half to even (np.round) as an integer. A class the map does not name weighs 1.0, as Keras'
/// <c>class_weight.get(y, 1.0)</c>. Weights are taken as float32, as Keras keeps sample weights in floatx.
/// </summary>
public static class ClassWeights
{
    /// <summary>Throws unless every weight is finite, also in float (the gradient rows are float), and ≥ 0 (Keras takes
    /// any number; a negative or NaN weight turns the loss around or poisons it, so NumLstm refuses it, naming the class).</summary>
    public static void Validate(IReadOnlyDictionary<int, double> classWeight, string argumentName)
    {
        ArgumentNullException.ThrowIfNull(classWeight, argumentName);
        foreach ((int label, double weight) in classWeight)
            if (!(weight >= 0) || !float.IsFinite((float)weight))
                throw new ArgumentOutOfRangeException(argumentName, weight,
                    $"{argumentName}[{label}]: a class weight must be finite (also in float, ≤ {float.MaxValue:R}) and ≥ 0, got {weight:R}.");
    }

    /// <summary>Keras' class_weight_to_sample_weights for class labels [N]: the weight of each label's class (1.0 if
    /// the map does not name it).</summary>
    public static double[] ToSampleWeights(IReadOnlyDictionary<int, double> classWeight, ReadOnlySpan<int> labels)
    {
        Validate(classWeight, nameof(classWeight));
        var weights = new float[labels.Length];
        FromLabels(classWeight, labels, weights);
        return Array.ConvertAll(weights, w => (double)w);
    }

    /// <summary>Keras' class_weight_to_sample_weights for target rows [N, width]: the class of a row is its argmax
    /// (width > 1) or its value rounded half to even (width 1).</summary>
    public static double[] ToSampleWeights(IReadOnlyDictionary<int, double> classWeight, ReadOnlySpan<float> rows, int width)
    {
        Validate(classWeight, nameof(classWeight));
        if (width <= 0 || rows.Length % width != 0)
            throw new ArgumentOutOfRangeException(nameof(width), width, $"Target rows: the width must be positive and divide the {rows.Length} values.");
        var weights = new float[rows.Length / width];
        FromRows(classWeight, rows, width, weights);
        return Array.ConvertAll(weights, w => (double)w);
    }

    // The weights are rounded to float, as Keras keeps sample weights in floatx (float32), so the loss and the gradient
    // rows (float) use the same value.
    internal static void FromLabels(IReadOnlyDictionary<int, double> classWeight, ReadOnlySpan<int> labels, Span<float> weights)
    {
        for (int i = 0; i < labels.Length; i++) weights[i] = (float)classWeight.GetValueOrDefault(labels[i], 1.0);
    }

    internal static void FromRows(IReadOnlyDictionary<int, double> classWeight, ReadOnlySpan<float> rows, int width, Span<float> weights)
    {
        int count = rows.Length / width;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<float> row = rows.Slice(i * width, width);
            weights[i] = ClassOf(row) is int label ? (float)classWeight.GetValueOrDefault(label, 1.0) : 1f;
        }
    }

    /// <summary>A target row's class as Keras finds it; null where no integer class comes out (NaN, or a rounded value
    /// outside int's range), which no key of the map names (NumPy's cast to int32 makes those int.MinValue on x86, a key
    /// Keras would look up; NumLstm gives them the weight 1.0, and rejects NaN targets by default anyway).</summary>
    internal static int? ClassOf(ReadOnlySpan<float> row)
    {
        if (row.Length > 1)
        {
            int best = 0;   // np.argmax: the first largest (a NaN counts as the largest, and the first NaN wins)
            for (int k = 1; k < row.Length; k++)
            {
                if (float.IsNaN(row[best])) break;
                if (float.IsNaN(row[k]) || row[k] > row[best]) best = k;
            }
            return best;
        }
        double rounded = Math.Round((double)row[0], MidpointRounding.ToEven);
        return rounded is >= int.MinValue and <= int.MaxValue ? (int)rounded : null;
    }
}
