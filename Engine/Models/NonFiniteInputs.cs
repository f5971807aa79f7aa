namespace NumLstm.Models;

/// <summary>What a public entry point does with NaN or infinite input values.</summary>
public enum NonFiniteInputs
{
    /// <summary>Throw an <see cref="ArgumentException"/> naming the first offending value (sequence, step, feature).</summary>
    Reject,
    /// <summary>Let them through: the outputs (and, in training, the loss) become NaN or infinite.</summary>
    Allow,
}

internal static class NonFiniteCheck
{
    /// <summary>The option named by the inference checks (Forward, InferencePlan.Predict, StreamingSession.Step and StepChunk).</summary>
    public const string ModelOption = "Sequential.NonFiniteInputs";

    /// <summary>Throws if <paramref name="values"/> [N, T, F] holds a NaN or infinity, naming its position.</summary>
    public static void Require<T>(ReadOnlySpan<T> values, int steps, int features, string argument, string option) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (AllFinite(values)) return;
        for (int k = 0; k < values.Length; k++)
        {
            if (T.IsFinite(values[k])) continue;
            int n = k / (steps * features), t = k / features % steps, f = k % features;
            throw new ArgumentException(
                $"{argument}: expected finite values, found {values[k]} at sequence {n}, step {t}, feature {f} (rejected by {option} = Reject; set it to Allow to let non-finite values through).", argument);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // on the serving path when a model rejects non-finite inputs
    public static bool AllFinite<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // x − x is 0 for finite x and NaN for NaN or ±∞; the sum of those is 0 exactly when every value is finite.
        T sum = T.Zero;
        foreach (T v in values) sum += v - v;
        return sum == T.Zero;
    }
}
