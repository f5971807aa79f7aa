using System.Diagnostics;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Training;

namespace NumLstm.Benchmarks.Study;

/// <summary>Where a running job is, for the progress display.</summary>
public readonly record struct JobProgress(string Id, int Epoch, int Epochs, int Batch, int Batches);

/// <summary>Trains one job with <see cref="Trainer"/> (Adam, global-norm clipping) and summarizes it as a <see cref="JobResult"/>.</summary>
public static class JobRunner
{
    /// <summary>A batch is a loss spike when its loss exceeds SpikeFactor × the median of the previous SpikeWindow batch losses.</summary>
    public const double SpikeFactor = 2.0;
    public const int SpikeWindow = 20;
    /// <summary>Batches of history needed before spikes are counted.</summary>
    public const int SpikeMinimumHistory = 5;

    /// <param name="parallelDirections">Run each Bidirectional layer's directions on two threads (results do not change).</param>
    public static JobResult Run(StudyJob job, StudyTask task, bool parallelDirections, Action<JobProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(task);
        if (job.Task != task.Name) throw new ArgumentException($"Job {job.Id} is for task '{job.Task}', got task '{task.Name}'.", nameof(task));
        Sequential<float> model = job.ModelSpec(task).Build<float>();
        foreach (Layer<float> layer in model.Layers)
            if (layer is Bidirectional<float> bi) bi.ParallelDirections = parallelDirections;

        var trainer = new Trainer(model);
        var epochs = new List<EpochRecord>();
        var batchLosses = new List<double>();
        var spikesPerEpoch = new List<int>();
        var spikeDetector = new SpikeDetector();
        int batches = (task.Train.Count + task.BatchSize - 1) / task.BatchSize;
        trainer.EpochCompleted = (_, record) => epochs.Add(record);
        var reporter = new SyncProgress(p =>
        {
            if (p.Completed is not null) return;
            while (spikesPerEpoch.Count <= p.Epoch) spikesPerEpoch.Add(0);
            if (spikeDetector.Add(p.Loss)) spikesPerEpoch[p.Epoch]++;
            progress?.Invoke(new JobProgress(job.Id, p.Epoch, job.Epochs, p.Batch + 1, batches));
        });
        var options = new TrainingOptions
        {
            Epochs = job.Epochs,
            BatchSize = job.BatchSize,
            Seed = job.Seed,
            LearningRate = job.LearningRate,
            Validation = task.Validation,
            Clip = ClipMode.GlobalNorm,
            ClipValue = Architectures.ClipNorm,
            Progress = reporter,
        };

        var watch = Stopwatch.StartNew();
        bool diverged = false;
        string? divergedAt = null;
        try
        {
            trainer.Fit(task.Train, options, cancellation);
        }
        catch (TrainingDivergedException e)
        {
            diverged = true;
            divergedAt = $"epoch {e.Epoch + 1}, batch {e.Batch + 1}";
        }
        // The final weights (after divergence, those of the last good step) on the validation set.
        (double finalLoss, double finalMetric) = trainer.Evaluate(task.Validation, batchSize: 64);
        double scale = task.IsClassification ? 1.0 : task.MetricScale;
        finalMetric *= scale;
        watch.Stop();

        var history = epochs.Select((e, k) => new EpochResult(e.Epoch + 1, e.TrainLoss, e.TrainMetric * scale, e.ValidationLoss ?? double.NaN,
            (e.ValidationMetric ?? double.NaN) * scale, e.Seconds, e.MaxGradientNorm, k < spikesPerEpoch.Count ? spikesPerEpoch[k] : 0)).ToList();
        int? toTarget = history.FirstOrDefault(e => task.ReachedTarget(e.ValidationMetric))?.Epoch;
        double secondsPerEpoch = history.Count > 0 ? Median(history.Select(e => e.Seconds)) : double.NaN;
        return new JobResult
        {
            Id = job.Id,
            Task = job.Task,
            Architecture = job.Architecture,
            Depth = job.Depth,
            Placement = job.Placement,
            LearningRate = job.LearningRate,
            Seed = job.Seed,
            PlannedEpochs = job.Epochs,
            Units = job.Units.ToArray(),
            Bidirectional = job.Bidirectional,
            Dropout = job.Dropout,
            BatchSize = job.BatchSize,
            MetricName = task.MetricName + (task.MetricUnit.Length > 0 ? $" ({task.MetricUnit})" : ""),
            HigherIsBetter = task.HigherIsBetter,
            Target = task.Target,
            ParameterCount = model.ParameterCount,
            LayerNormCount = CountLayerNorms(model),
            History = history,
            FinalValidationLoss = finalLoss,
            FinalMetric = finalMetric,
            EpochsToTarget = toTarget,
            LossSpikes = spikesPerEpoch.Sum(),
            Diverged = diverged,
            DivergedAt = divergedAt,
            MaxGradientNorm = epochs.Count > 0 ? epochs.Max(e => e.MaxGradientNorm) : double.NaN,
            SecondsPerEpoch = secondsPerEpoch,
            TotalSeconds = watch.Elapsed.TotalSeconds,
            ThreadsPerJob = parallelDirections && job.Bidirectional ? 2 : 1,
            EngineBuild = EngineIdentity.Current,
            Commit = EngineIdentity.Commit,
        };
    }

    /// <summary>LayerNorm layers plus the LayerNorms inside each LSTM cell (two per separate-gates cell, one each for cell state and hidden).</summary>
    public static int CountLayerNorms(Sequential<float> model)
    {
        int count = 0;
        foreach (Layer<float> layer in model.Layers)
        {
            count += layer switch
            {
                LayerNorm<float> => 1,
                Bidirectional<float> bi => CellNorms(bi.Forwards.CellNormalization) + CellNorms(bi.Backwards.CellNormalization),
                Lstm<float> lstm => CellNorms(lstm.CellNormalization),
                _ => 0,
            };
        }
        return count;
    }

    private static int CellNorms(CellNormalization cell) =>
        cell.Gates switch { GateNormalization.Summed => 1, GateNormalization.Separate => 2, _ => 0 }
        + (cell.CellState == CellStateNormalization.None ? 0 : 1) + (cell.Hidden ? 1 : 0);

    internal static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
    }

    /// <summary>Counts batch losses above <see cref="SpikeFactor"/> × the running median of the previous <see cref="SpikeWindow"/>.</summary>
    public sealed class SpikeDetector
    {
        private readonly Queue<double> recent = new();

        public bool Add(double loss)
        {
            bool spike = recent.Count >= SpikeMinimumHistory && loss > SpikeFactor * Median(recent);
            recent.Enqueue(loss);
            if (recent.Count > SpikeWindow) recent.Dequeue();
            return spike;
        }
    }

    /// <summary>An IProgress that calls back on the reporting thread (System.Progress would post to a context).</summary>
    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
