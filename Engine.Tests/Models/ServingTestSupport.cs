using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Models;

/// <summary>Models, data and comparisons shared by the serving tests; the oracle is the training path's Forward.</summary>
internal static class ServingTestSupport
{
    /// <summary>Builds the spec and moves every parameter off its initial value (γ off 1, β off 0), so each one matters.</summary>
    public static Sequential<T> Build<T>(ModelSpec spec, int seed = 11) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Sequential<T> model = spec.Build<T>();
        var random = new Random(seed);
        foreach (Parameter<T> p in model.Parameters)
            for (int k = 0; k < p.Length; k++) p.Value[k] += T.CreateTruncating((random.NextDouble() - 0.5) * 0.4);
        return model;
    }

    public static T[] RandomValues<T>(int length, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        var values = new T[length];
        for (int k = 0; k < length; k++) values[k] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        return values;
    }

    /// <summary>Right-padded ragged lengths plus one hole in the middle of the first sequence (Keras allows any mask).</summary>
    public static bool[] RaggedMask(int batch, int time)
    {
        var mask = new bool[batch * time];
        for (int b = 0; b < batch; b++)
        {
            int length = Math.Max(1, time - (b * 2) % time);
            for (int t = 0; t < length; t++) mask[b * time + t] = true;
        }
        if (time > 2) mask[1] = false;
        return mask;
    }

    public static T[] TrainingForward<T>(Sequential<T> model, T[] x, int batch, int time, bool[]? mask = null)
        where T : unmanaged, IFloatingPointIeee754<T>
        => model.Forward(new SequenceBatch<T>(x, batch, time, mask ?? default), model.CreateCache(), ForwardContext.Inference).ToArray();

    /// <summary>Float: 2e-5 of max(1, |expected|); double: 1e-12 of it (the paths differ only in rounding order).</summary>
    public static double Tolerance<T>() => typeof(T) == typeof(float) ? 2e-5 : 1e-12;

    public static void AssertClose<T>(ReadOnlySpan<T> actual, ReadOnlySpan<T> expected, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        double tolerance = Tolerance<T>(), worst = 0;
        int worstAt = -1;
        for (int k = 0; k < actual.Length; k++)
        {
            double a = double.CreateTruncating(actual[k]), e = double.CreateTruncating(expected[k]);
            double excess = Math.Abs(a - e) / Math.Max(1, Math.Abs(e));
            if (!(excess <= worst) ) { worst = excess; worstAt = k; }
        }
        Assert.That(worst, Is.LessThanOrEqualTo(tolerance),
            $"{what}: largest relative difference {worst:E2} at [{worstAt}] ({(worstAt >= 0 ? actual[worstAt] : default)} vs {(worstAt >= 0 ? expected[worstAt] : default)})");
    }

    /// <summary>Bytes this thread allocates over <paramref name="calls"/> runs of the action.</summary>
    public static long AllocatedBytes(int calls, Action action)
    {
        // Seen: with a background gen2 collection from earlier tests still running, the counter below grew by up to 8 KB
        // (one allocation quantum) over calls that allocate nothing; never with DOTNET_gcConcurrent=0. Pinned-heap
        // buffers (AlignedArrays) count towards gen2's budget and start such collections often; a blocking one ends them.
        GC.Collect();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int k = 0; k < calls; k++) action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
