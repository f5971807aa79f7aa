namespace NumLstm.Data;

/// <summary>
/// Cuts 0..N-1 into mini-batches of sequence indices, reshuffled in place at each epoch. Together with
/// <see cref="SequenceDataset.CopyBatch{T}(ReadOnlySpan{int}, Span{T}, Span{bool}, Span{int})"/> an epoch allocates
/// nothing:
/// <code>
/// sampler.StartEpoch(random);
/// for (int k = 0; k &lt; sampler.BatchCount; k++)
/// {
///     ReadOnlySpan&lt;int&gt; batch = sampler.Batch(k);
///     data.CopyBatch(batch, x, mask, labels);   // buffers sized [BatchSize, T, F], [BatchSize, T], [BatchSize]
///     ... // first batch.Length rows are valid
/// }
/// </code>
/// </summary>
public sealed class BatchSampler
{
    private readonly int[] _order;

    /// <param name="count">N, the number of sequences.</param>
    /// <param name="batchSize">B, the largest batch.</param>
    /// <param name="shuffle">Reshuffle at each <see cref="StartEpoch"/>; otherwise batches are in stored order.</param>
    /// <param name="dropLast">Leave out the short last batch (when N is not a multiple of B).</param>
    public BatchSampler(int count, int batchSize, bool shuffle, bool dropLast = false)
    {
        if (count < 0)
            throw new ArgumentOutOfRangeException(nameof(count), count, "count must not be negative.");
        if (batchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        _order = new int[count];
        for (int n = 0; n < count; n++) _order[n] = n;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        BatchCount = dropLast ? count / batchSize : (count + batchSize - 1) / batchSize;
    }

    public int Count => _order.Length;
    public int BatchSize { get; }
    public bool Shuffle { get; }
    public bool DropLast { get; }
    public int BatchCount { get; }

    /// <summary>The current epoch's order of all N indices.</summary>
    public ReadOnlySpan<int> Order => _order;

    /// <summary>
    /// Starts an epoch: when <see cref="Shuffle"/> is on, resets the order to 0..N−1 and shuffles it (Fisher-Yates with
    /// <paramref name="random"/>). The epoch's order depends only on that Random, not on earlier epochs, so a run
    /// resumed at an epoch boundary with the same per-epoch seeds sees the same batches.
    /// </summary>
    public void StartEpoch(Random? random)
    {
        if (!Shuffle) return;
        if (random is null)
            throw new ArgumentNullException(nameof(random), "StartEpoch: this sampler shuffles, so it needs a Random.");
        for (int k = 0; k < _order.Length; k++) _order[k] = k;
        SequenceDataset.Shuffle(_order, random);
    }

    /// <summary>Indices of batch <paramref name="batch"/> (BatchSize of them, fewer for a short last batch).</summary>
    public ReadOnlySpan<int> Batch(int batch)
    {
        if ((uint)batch >= (uint)BatchCount)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"Batch index must be in 0..{BatchCount - 1}.");
        int start = batch * BatchSize;
        return _order.AsSpan(start, Math.Min(BatchSize, _order.Length - start));
    }
}
