namespace NumLstm.Data;

/// <summary>What the targets of a <see cref="SequenceDataset"/> are.</summary>
public enum TaskKind
{
    /// <summary>Integer class labels, 0-based, below <see cref="SequenceDataset.ClassCount"/>: one per sequence, or one per
    /// step when <see cref="SequenceDataset.TargetsPerStep"/>.</summary>
    Classification,
    /// <summary><see cref="SequenceDataset.TargetWidth"/> real targets per sequence, or per step when
    /// <see cref="SequenceDataset.TargetsPerStep"/>.</summary>
    Regression,
}

/// <summary>
/// N sequences of up to T steps of F features, stored as float32 in one C-order block <c>X [N, T, F]</c>
/// (element (n, t, f) at <c>(n*T + t)*F + f</c>), with one target per sequence, or one per step
/// (<see cref="TargetsPerStep"/>: sequence labelling and sequence-to-sequence regression, for a model whose last layers
/// return sequences, as a Keras model ending in <c>LSTM(return_sequences=True)</c> and <c>Dense</c> is fitted on
/// <c>y [N, T, ...]</c>).
/// Sequence n is valid for steps <c>t &lt; Length(n)</c>; steps after it are padding and hold 0.
/// Storage is float because every source is float32; <see cref="CopyBatch{T}(ReadOnlySpan{int}, Span{T}, Span{bool}, Span{int})"/>
/// converts to the model's element type while it copies.
/// The arrays are owned by the dataset: treat them as read-only.
/// </summary>
public sealed class SequenceDataset
{
    private SequenceDataset(
        float[] x, int count, int steps, int features, int[]? lengths,
        TaskKind task, int[]? labels, int classCount, float[]? targets, int targetWidth,
        string[]? classNames, int[]? groups, float[]? sampleWeights, bool targetsPerStep)
    {
        X = x;
        Count = count;
        Steps = steps;
        Features = features;
        Lengths = lengths;
        Task = task;
        Labels = labels;
        ClassCount = classCount;
        Targets = targets;
        TargetWidth = targetWidth;
        ClassNames = classNames;
        Groups = groups;
        SampleWeights = sampleWeights;
        TargetsPerStep = targetsPerStep;
    }

    /// <summary>
    /// A classification dataset. <paramref name="labels"/> are 0-based and below <paramref name="classCount"/>.
    /// <paramref name="lengths"/> null means every sequence has all <paramref name="steps"/> steps.
    /// <paramref name="groups"/> (optional, one per sequence) names who or what a sequence came from, e.g. a subject,
    /// so that <see cref="SplitByGroup"/> can keep a group on one side.
    /// The arrays are taken, not copied.
    /// </summary>
    public static SequenceDataset ForClassification(
        float[] x, int count, int steps, int features, int[] labels, int classCount,
        int[]? lengths = null, string[]? classNames = null, int[]? groups = null)
    {
        CheckInputs(x, count, steps, features, lengths, groups);
        CheckLabels(labels, count, 1, classCount, classNames);
        return new SequenceDataset(x, count, steps, features, lengths, TaskKind.Classification, labels, classCount, null, 0, classNames, groups, null, false);
    }

    /// <summary>
    /// A sequence-labelling dataset: one 0-based class label per step, <paramref name="labels"/> laid out <c>[N, T]</c>
    /// (Keras' sparse <c>y [N, T]</c> for a model ending in <c>LSTM(return_sequences=True)</c> and <c>Dense(K)</c>).
    /// Every label must be a class, the padding steps' too (Keras users pad them with 0): Fit and Evaluate leave the steps
    /// after each sequence's length out of the loss and the metrics when the mask is in use (<see cref="Training.TrainingOptions.UseMask"/>,
    /// by default for variable-length data), and count them when it is not. See <see cref="ForClassification"/> for the rest.
    /// </summary>
    public static SequenceDataset ForClassificationPerStep(
        float[] x, int count, int steps, int features, int[] labels, int classCount,
        int[]? lengths = null, string[]? classNames = null, int[]? groups = null)
    {
        CheckInputs(x, count, steps, features, lengths, groups);
        CheckLabels(labels, count, steps, classCount, classNames);
        return new SequenceDataset(x, count, steps, features, lengths, TaskKind.Classification, labels, classCount, null, 0, classNames, groups, null, true);
    }

    private static void CheckLabels(int[] labels, int count, int perSequence, int classCount, string[]? classNames)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (classCount < 1)
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "classCount must be at least 1.");
        long expected = (long)count * perSequence;
        if (labels.Length != expected)
            throw new ArgumentException(perSequence == 1
                ? $"labels: expected {count} labels (one per sequence), got {labels.Length}."
                : $"labels: expected [N={count}, T={perSequence}] = {expected} labels (one per step), got {labels.Length}.", nameof(labels));
        for (int k = 0; k < labels.Length; k++)
        {
            if ((uint)labels[k] >= (uint)classCount)
                throw new ArgumentException(perSequence == 1
                    ? $"labels[{k}] = {labels[k]}: expected a 0-based class in 0..{classCount - 1}."
                    : $"labels[{k}] = {labels[k]} (sequence {k / perSequence}, step {k % perSequence}): expected a 0-based class in 0..{classCount - 1} "
                        + "(padding steps too: pad them with any class, e.g. 0; the mask leaves them out).", nameof(labels));
        }
        if (classNames is not null && classNames.Length != classCount)
            throw new ArgumentException($"classNames: expected {classCount} names, got {classNames.Length}.", nameof(classNames));
    }

    /// <summary>
    /// A regression dataset with <paramref name="targetWidth"/> targets per sequence, <paramref name="targets"/> laid out
    /// <c>[N, targetWidth]</c>. See <see cref="ForClassification"/> for <paramref name="lengths"/> and <paramref name="groups"/>.
    /// </summary>
    public static SequenceDataset ForRegression(
        float[] x, int count, int steps, int features, float[] targets, int targetWidth,
        int[]? lengths = null, int[]? groups = null)
    {
        CheckInputs(x, count, steps, features, lengths, groups);
        CheckTargets(targets, count, 1, targetWidth);
        return new SequenceDataset(x, count, steps, features, lengths, TaskKind.Regression, null, 0, targets, targetWidth, null, groups, null, false);
    }

    /// <summary>
    /// A sequence-to-sequence regression dataset: <paramref name="targetWidth"/> targets per step, <paramref name="targets"/>
    /// laid out <c>[N, T, targetWidth]</c> (Keras' <c>y [N, T, K]</c>). The padding steps' targets are left out of the loss
    /// and metrics when the mask is in use and counted when not (see <see cref="ForClassificationPerStep"/>).
    /// </summary>
    public static SequenceDataset ForRegressionPerStep(
        float[] x, int count, int steps, int features, float[] targets, int targetWidth,
        int[]? lengths = null, int[]? groups = null)
    {
        CheckInputs(x, count, steps, features, lengths, groups);
        CheckTargets(targets, count, steps, targetWidth);
        return new SequenceDataset(x, count, steps, features, lengths, TaskKind.Regression, null, 0, targets, targetWidth, null, groups, null, true);
    }

    private static void CheckTargets(float[] targets, int count, int perSequence, int targetWidth)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targetWidth < 1)
            throw new ArgumentOutOfRangeException(nameof(targetWidth), targetWidth, "targetWidth must be at least 1.");
        Int128 expected = (Int128)count * perSequence * targetWidth;
        if (targets.Length != expected)
            throw new ArgumentException(perSequence == 1
                ? $"targets: expected [{count}, {targetWidth}] = {expected} values, got {targets.Length}."
                : $"targets: expected [N={count}, T={perSequence}, {targetWidth}] = {expected} values (one row per step), got {targets.Length}.", nameof(targets));
    }

    private static void CheckInputs(float[] x, int count, int steps, int features, int[]? lengths, int[]? groups)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (count < 0)
            throw new ArgumentOutOfRangeException(nameof(count), count, "count (N) must not be negative.");
        if (steps < 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, "steps (T) must be at least 1.");
        if (features < 1)
            throw new ArgumentOutOfRangeException(nameof(features), features, "features (F) must be at least 1.");
        Int128 expected = (Int128)count * steps * features;   // three ints: a long product can wrap back to x.Length
        if (x.Length != expected)
            throw new ArgumentException($"x: expected [N={count}, T={steps}, F={features}] = {expected} values, got {x.Length}.", nameof(x));
        if (lengths is not null)
        {
            if (lengths.Length != count)
                throw new ArgumentException($"lengths: expected {count} lengths (one per sequence), got {lengths.Length}.", nameof(lengths));
            for (int n = 0; n < count; n++)
            {
                if (lengths[n] < 1 || lengths[n] > steps)
                    throw new ArgumentException($"lengths[{n}] = {lengths[n]}: expected 1..{steps} (T).", nameof(lengths));
            }
        }
        if (groups is not null && groups.Length != count)
            throw new ArgumentException($"groups: expected {count} group ids (one per sequence), got {groups.Length}.", nameof(groups));
    }

    /// <summary>Values, <c>[N, T, F]</c> C order, zero after each sequence's length.</summary>
    public float[] X { get; }
    /// <summary>N, the number of sequences.</summary>
    public int Count { get; }
    /// <summary>T, the padded number of steps.</summary>
    public int Steps { get; }
    /// <summary>F, the features per step.</summary>
    public int Features { get; }
    /// <summary>Per-sequence lengths in 1..T, or null when every sequence has T steps.</summary>
    public int[]? Lengths { get; }
    public TaskKind Task { get; }
    /// <summary>0-based class labels <c>[N]</c> (<c>[N, T]</c> when <see cref="TargetsPerStep"/>) for classification, otherwise null.</summary>
    public int[]? Labels { get; }
    /// <summary>Number of classes for classification, 0 for regression.</summary>
    public int ClassCount { get; }
    /// <summary>Regression targets <c>[N, TargetWidth]</c> (<c>[N, T, TargetWidth]</c> when <see cref="TargetsPerStep"/>), otherwise null.</summary>
    public float[]? Targets { get; }
    /// <summary>Targets per sequence (per step when <see cref="TargetsPerStep"/>) for regression, 0 for classification.</summary>
    public int TargetWidth { get; }
    /// <summary>Whether the targets are one per step (<see cref="ForClassificationPerStep"/>, <see cref="ForRegressionPerStep"/>),
    /// for a model whose output is a sequence, rather than one per sequence.</summary>
    public bool TargetsPerStep { get; }
    /// <summary>Target rows (labels, or rows of <see cref="TargetWidth"/> values) per sequence: T when
    /// <see cref="TargetsPerStep"/>, else 1.</summary>
    public int TargetRows => TargetsPerStep ? Steps : 1;
    /// <summary>Optional class names, index = 0-based label.</summary>
    public string[]? ClassNames { get; }
    /// <summary>Optional group id per sequence (e.g. the subject a HAR window came from).</summary>
    public int[]? Groups { get; }
    /// <summary>
    /// Optional weight per sequence <c>[N]</c> (Keras' <c>sample_weight</c>, float32 as Keras' floatx): the trainer
    /// multiplies each sequence's loss by it, and <see cref="Training.Trainer.Evaluate"/> and the validation loss of a
    /// dataset carrying weights are weighted too (Keras' <c>validation_data=(x, y, sample_weight)</c>). Finite and ≥ 0.
    /// With per-step targets (<see cref="TargetsPerStep"/>) it may instead hold a weight per step <c>[N, T]</c> (Keras'
    /// <c>sample_weight</c> of shape (N, T), "temporal" weights; <see cref="SampleWeightsPerStep"/>); a weight per sequence
    /// then weighs each of its steps.
    /// Set with <see cref="WithSampleWeights"/>; subsets and splits carry their sequences' weights. This is the dataset's
    /// own array: Fit and Evaluate check it again, so a weight written into it later must be finite and ≥ 0 too.
    /// </summary>
    public float[]? SampleWeights { get; }

    /// <summary>Whether <see cref="SampleWeights"/> holds a weight per step <c>[N, T]</c> (only with <see cref="TargetsPerStep"/>).</summary>
    public bool SampleWeightsPerStep => TargetsPerStep && SampleWeights is { } weights && weights.Length == (long)Count * Steps && Steps > 1;

    /// <summary>
    /// This dataset with a weight per sequence (Keras' <c>fit(sample_weight=...)</c>), or without any (null). The
    /// weights are copied; the other arrays are shared. Each weight must be finite and ≥ 0 (Keras takes any number; a
    /// negative or NaN weight turns the loss around or poisons it, so NumLstm refuses it, naming the sequence).
    /// A dataset with per-step targets also takes a weight per step, <c>[N, T]</c> (Keras' temporal sample weights).
    /// </summary>
    public SequenceDataset WithSampleWeights(float[]? sampleWeights)
    {
        if (sampleWeights is not null)
        {
            bool perStep = TargetsPerStep && sampleWeights.Length == (long)Count * Steps && Steps > 1;
            if (sampleWeights.Length != Count && !perStep)
                throw new ArgumentException(TargetsPerStep
                    ? $"sampleWeights: expected {Count} weights (one per sequence) or [N={Count}, T={Steps}] = {(long)Count * Steps} (one per step), got {sampleWeights.Length}."
                    : $"sampleWeights: expected {Count} weights (one per sequence), got {sampleWeights.Length}.", nameof(sampleWeights));
            int bad = FirstBadWeight(sampleWeights);
            if (bad >= 0)
                throw new ArgumentOutOfRangeException(nameof(sampleWeights), sampleWeights[bad], perStep
                    ? $"sampleWeights[{bad}] (sequence {bad / Steps}, step {bad % Steps}): a sample weight must be finite and ≥ 0, got {sampleWeights[bad]:R}."
                    : $"sampleWeights[{bad}]: a sample weight must be finite and ≥ 0, got {sampleWeights[bad]:R}.");
            sampleWeights = (float[])sampleWeights.Clone();
        }
        return new SequenceDataset(X, Count, Steps, Features, Lengths, Task, Labels, ClassCount, Targets, TargetWidth, ClassNames, Groups, sampleWeights, TargetsPerStep);
    }

    /// <summary>The first weight that is negative, NaN or infinite, or −1.</summary>
    internal static int FirstBadWeight(float[] weights) => Array.FindIndex(weights, w => !(w >= 0) || !float.IsFinite(w));

    /// <summary>True when some sequence is shorter than <see cref="Steps"/>.</summary>
    public bool IsVariableLength
    {
        get
        {
            if (Lengths is null) return false;
            foreach (int length in Lengths)
                if (length != Steps) return true;
            return false;
        }
    }

    /// <summary>Number of valid steps of sequence <paramref name="n"/>.</summary>
    public int Length(int n)
    {
        if ((uint)n >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"Sequence index must be in 0..{Count - 1}.");
        return Lengths is null ? Steps : Lengths[n];
    }

    /// <summary>Sequence n's values, <c>[T, F]</c>, padding included.</summary>
    public ReadOnlySpan<float> Sequence(int n)
    {
        if ((uint)n >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"Sequence index must be in 0..{Count - 1}.");
        return X.AsSpan(n * Steps * Features, Steps * Features);
    }

    /// <summary>The valid-step mask <c>[N, T]</c>: true where <c>t &lt; Length(n)</c>.</summary>
    public bool[] Mask()
    {
        var mask = new bool[Count * Steps];
        for (int n = 0; n < Count; n++)
            mask.AsSpan(n * Steps, Lengths is null ? Steps : Lengths[n]).Fill(true);
        return mask;
    }

    /// <summary>Count of each 0-based class (classification only): of the sequences' labels, or, when
    /// <see cref="TargetsPerStep"/>, of the valid steps' labels (the padding steps' are not counted).</summary>
    public int[] ClassCounts()
    {
        if (Labels is null)
            throw new InvalidOperationException("ClassCounts: this dataset is a regression dataset, it has no class labels.");
        var counts = new int[ClassCount];
        if (!TargetsPerStep)
        {
            foreach (int label in Labels) counts[label]++;
            return counts;
        }
        for (int n = 0; n < Count; n++)
            foreach (int label in Labels.AsSpan(n * Steps, Lengths is null ? Steps : Lengths[n])) counts[label]++;
        return counts;
    }

    /// <summary>A new dataset holding copies of the sequences at <paramref name="indices"/>, in that order (repeats allowed).</summary>
    public SequenceDataset Subset(ReadOnlySpan<int> indices)
    {
        int stride = Steps * Features;
        Int128 total = (Int128)indices.Length * stride;
        int rows = TargetRows, targetStride = rows * TargetWidth;
        if (!ArraySizes.Fits(total) || !ArraySizes.Fits((Int128)indices.Length * Math.Max(rows, targetStride)))
            throw ArraySizes.TooLarge(total, $"Subset: [{indices.Length} indices, T={Steps}, F={Features}] (targets width {TargetWidth}{(TargetsPerStep ? " per step" : "")})", nameof(indices));
        var x = new float[(int)total];
        int[]? lengths = Lengths is null ? null : new int[indices.Length];
        int[]? labels = Labels is null ? null : new int[indices.Length * rows];
        float[]? targets = Targets is null ? null : new float[indices.Length * targetStride];
        int[]? groups = Groups is null ? null : new int[indices.Length];
        int weightStride = SampleWeightsPerStep ? Steps : 1;
        float[]? sampleWeights = SampleWeights is null ? null : new float[indices.Length * weightStride];
        for (int k = 0; k < indices.Length; k++)
        {
            int n = indices[k];
            if ((uint)n >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), n, $"indices[{k}] = {n}: expected a sequence index in 0..{Count - 1}.");
            X.AsSpan(n * stride, stride).CopyTo(x.AsSpan(k * stride));
            if (lengths is not null) lengths[k] = Lengths![n];
            if (labels is not null) Labels.AsSpan(n * rows, rows).CopyTo(labels.AsSpan(k * rows));
            if (targets is not null) Targets.AsSpan(n * targetStride, targetStride).CopyTo(targets.AsSpan(k * targetStride));
            if (groups is not null) groups[k] = Groups![n];
            if (sampleWeights is not null) SampleWeights.AsSpan(n * weightStride, weightStride).CopyTo(sampleWeights.AsSpan(k * weightStride));
        }
        return new SequenceDataset(x, indices.Length, Steps, Features, lengths, Task, labels, ClassCount, targets, TargetWidth, ClassNames, groups, sampleWeights, TargetsPerStep);
    }

    /// <inheritdoc cref="Subset(ReadOnlySpan{int})"/>
    public SequenceDataset Subset(int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        return Subset(indices.AsSpan());
    }

    /// <summary>
    /// A seeded random split: the sequences are shuffled with <c>System.Random(seed)</c> and the first
    /// <c>round(fraction*N)</c> go to <c>First</c>, the rest to <c>Second</c> (each keeps the shuffled order).
    /// Do not use this for overlapping windows of one recording (HAR, sliced series): neighbours would land on both
    /// sides. Use <see cref="SplitByGroup"/> for recordings with group ids, and <see cref="Windows.SliceSplit"/> for windows
    /// sliced from one series (it drops the horizon − 1 windows whose targets would straddle the boundary, which a plain
    /// <see cref="SplitOrdered"/> would put on both sides).
    /// </summary>
    public (SequenceDataset First, SequenceDataset Second) Split(double fraction, int seed)
    {
        CheckFraction(fraction);
        int[] order = Permutation(Count, new Random(seed));
        int first = (int)Math.Round(fraction * Count, MidpointRounding.AwayFromZero);
        return (Subset(order.AsSpan(0, first)), Subset(order.AsSpan(first)));
    }

    /// <summary>Splits in stored order: the first <c>round(fraction*N)</c> sequences, then the rest. No shuffling.</summary>
    public (SequenceDataset First, SequenceDataset Second) SplitOrdered(double fraction)
    {
        CheckFraction(fraction);
        return SplitOrderedAt((int)Math.Round(fraction * Count, MidpointRounding.AwayFromZero));
    }

    /// <summary>Splits in stored order: the first <paramref name="first"/> sequences, then the rest.</summary>
    internal (SequenceDataset First, SequenceDataset Second) SplitOrderedAt(int first)
    {
        if ((uint)first > (uint)Count) throw new ArgumentOutOfRangeException(nameof(first), first, $"Split point must be in [0, {Count}].");
        int[] order = new int[Count];
        for (int n = 0; n < Count; n++) order[n] = n;
        return (Subset(order.AsSpan(0, first)), Subset(order.AsSpan(first)));
    }

    /// <summary>
    /// Splits by <see cref="Groups"/>: the distinct group ids are shuffled with <c>System.Random(seed)</c> and the first
    /// <c>round(fraction*G)</c> groups go to <c>First</c>, so no group is on both sides. Sequences keep their stored order.
    /// </summary>
    public (SequenceDataset First, SequenceDataset Second) SplitByGroup(double fraction, int seed)
    {
        CheckFraction(fraction);
        if (Groups is null)
            throw new InvalidOperationException("SplitByGroup: this dataset has no Groups; build it with a groups array or use Split.");
        int[] ids = Groups.Distinct().Order().ToArray();
        int[] order = Permutation(ids.Length, new Random(seed));
        int firstGroups = (int)Math.Round(fraction * ids.Length, MidpointRounding.AwayFromZero);
        var inFirst = new HashSet<int>();
        for (int k = 0; k < firstGroups; k++) inFirst.Add(ids[order[k]]);
        var first = new List<int>();
        var second = new List<int>();
        for (int n = 0; n < Count; n++) (inFirst.Contains(Groups[n]) ? first : second).Add(n);
        return (Subset(first.ToArray()), Subset(second.ToArray()));
    }

    private static void CheckFraction(double fraction)
    {
        if (!(fraction >= 0.0 && fraction <= 1.0))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "fraction must be in [0, 1].");
    }

    /// <summary>0..count-1 shuffled by Fisher-Yates with <paramref name="random"/> (written out, so the order only depends on Random.Next).</summary>
    internal static int[] Permutation(int count, Random random)
    {
        var order = new int[count];
        for (int n = 0; n < count; n++) order[n] = n;
        Shuffle(order, random);
        return order;
    }

    internal static void Shuffle(Span<int> values, Random random)
    {
        for (int k = values.Length - 1; k > 0; k--)
        {
            int j = random.Next(k + 1);
            (values[k], values[j]) = (values[j], values[k]);
        }
    }

    /// <summary>Same sequences, shape, lengths, groups, names and sample weights as this one, with new values (no copy).</summary>
    internal SequenceDataset WithData(float[] x, int[]? labels, float[]? targets) =>
        new(x, Count, Steps, Features, Lengths, Task, labels, ClassCount, targets, TargetWidth, ClassNames, Groups, SampleWeights, TargetsPerStep);

    /// <summary>
    /// Copies the sequences at <paramref name="indices"/> (B of them) into caller-owned buffers, converting to T:
    /// <c>x [B, T, F]</c>, <c>mask [B, T]</c> and <c>labels [B]</c> (<c>[B, T]</c> when <see cref="TargetsPerStep"/>). Only the first B rows of each buffer are written, so
    /// buffers sized for the full batch also serve a short last batch. Allocates nothing.
    /// </summary>
    public void CopyBatch<T>(ReadOnlySpan<int> indices, Span<T> x, Span<bool> mask, Span<int> labels)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Labels is null)
            throw new InvalidOperationException("CopyBatch: this is a regression dataset; use the overload with Span<T> targets.");
        CheckBatchBuffers(indices, x.Length, mask.Length);
        int rows = TargetRows;
        if (labels.Length < (long)indices.Length * rows)
            throw new ArgumentException(TargetsPerStep
                ? $"labels: expected room for [B={indices.Length}, T={Steps}] = {(long)indices.Length * rows} labels, got {labels.Length}."
                : $"labels: expected room for B={indices.Length} labels, got {labels.Length}.", nameof(labels));
        CopyInputs(indices, x, mask);
        for (int b = 0; b < indices.Length; b++)
            Labels.AsSpan(indices[b] * rows, rows).CopyTo(labels.Slice(b * rows, rows));
    }

    /// <summary>
    /// As the classification overload, with regression targets <c>[B, TargetWidth]</c> (<c>[B, T, TargetWidth]</c> when
    /// <see cref="TargetsPerStep"/>) converted to T.
    /// </summary>
    public void CopyBatch<T>(ReadOnlySpan<int> indices, Span<T> x, Span<bool> mask, Span<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Targets is null)
            throw new InvalidOperationException("CopyBatch: this is a classification dataset; use the overload with Span<int> labels.");
        CheckBatchBuffers(indices, x.Length, mask.Length);
        int stride = TargetRows * TargetWidth;
        if (targets.Length < (long)indices.Length * stride)
            throw new ArgumentException(TargetsPerStep
                ? $"targets: expected room for [B={indices.Length}, T={Steps}, {TargetWidth}] = {(long)indices.Length * stride} values, got {targets.Length}."
                : $"targets: expected room for [B={indices.Length}, {TargetWidth}] = {(long)indices.Length * TargetWidth} values, got {targets.Length}.", nameof(targets));
        CopyInputs(indices, x, mask);
        for (int b = 0; b < indices.Length; b++)
        {
            ReadOnlySpan<float> source = Targets.AsSpan(indices[b] * stride, stride);
            Span<T> destination = targets.Slice(b * stride, stride);
            for (int j = 0; j < stride; j++)
                destination[j] = T.CreateTruncating(source[j]);
        }
    }

    private void CheckBatchBuffers(ReadOnlySpan<int> indices, int xLength, int maskLength)
    {
        int batch = indices.Length;
        // In long: B·T·F of ints wrapped to a negative count that any buffer passed.
        long xNeeded = (long)batch * Steps * Features, maskNeeded = (long)batch * Steps;
        if (xLength < xNeeded)
            throw new ArgumentException($"x: expected room for [B={batch}, T={Steps}, F={Features}] = {xNeeded} values, got {xLength}.", "x");
        if (maskLength < maskNeeded)
            throw new ArgumentException($"mask: expected room for [B={batch}, T={Steps}] = {maskNeeded} values, got {maskLength}.", "mask");
        for (int b = 0; b < batch; b++)
        {
            if ((uint)indices[b] >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), indices[b], $"indices[{b}] = {indices[b]}: expected a sequence index in 0..{Count - 1}.");
        }
    }

    private void CopyInputs<T>(ReadOnlySpan<int> indices, Span<T> x, Span<bool> mask)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int stride = Steps * Features;
        for (int b = 0; b < indices.Length; b++)
        {
            int n = indices[b];
            ReadOnlySpan<float> source = X.AsSpan(n * stride, stride);
            Span<T> destination = x.Slice(b * stride, stride);
            if (typeof(T) == typeof(float))
            {
                source.CopyTo(MemoryMarshal.Cast<T, float>(destination));
            }
            else
            {
                for (int k = 0; k < stride; k++)
                    destination[k] = T.CreateTruncating(source[k]);
            }
            int length = Lengths is null ? Steps : Lengths[n];
            Span<bool> row = mask.Slice(b * Steps, Steps);
            row[..length].Fill(true);
            row[length..].Clear();
        }
    }

    public override string ToString() =>
        Task == TaskKind.Classification
            ? $"SequenceDataset [N={Count}, T={Steps}, F={Features}], {ClassCount} classes{(TargetsPerStep ? " per step" : "")}{(IsVariableLength ? ", variable length" : "")}{(SampleWeights is null ? "" : ", sample weights")}"
            : $"SequenceDataset [N={Count}, T={Steps}, F={Features}], regression width {TargetWidth}{(TargetsPerStep ? " per step" : "")}{(IsVariableLength ? ", variable length" : "")}{(SampleWeights is null ? "" : ", sample weights")}";
}
