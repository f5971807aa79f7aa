using NumLstm.Optimizers;

namespace NumLstm.Training;

/// <summary>
/// Keras 3's <c>ReduceLROnPlateau</c> (keras/src/callbacks/reduce_lr_on_plateau.py on monitor_callback.py's
/// <c>MonitorCallback</c>, its base since mid-2025), rule for rule. At each epoch end:
/// <list type="number">
/// <item>in a cooldown, the cooldown count goes down by one and the wait count is set to 0;</item>
/// <item>an improvement (min mode: value + |minDelta| &lt; best; max mode: value − |minDelta| &gt; best; Keras'
/// <c>monitor_op(value - min_delta, best)</c> with <c>min_delta = abs(min_delta)</c>, negated for min) makes the value
/// the best and sets wait to 0;</item>
/// <item>otherwise, outside a cooldown, wait goes up by one; once wait ≥ patience, if the rate is above minRate it
/// becomes max(rate · factor, minRate), the cooldown count becomes <c>cooldown</c> and wait 0. A rate already at
/// minRate stays, and wait keeps counting.</item>
/// </list>
/// The new rate applies from the next epoch on, and the optimizer keeps it after Fit returns. Each Fit starts afresh
/// (best ±∞, wait and cooldown 0; Keras' on_train_begin, and the ±∞ its first fit starts from), with the rate the
/// optimizer has. A NaN value is never an improvement. (Keras' later fits with a reused callback start from best = None,
/// which any first value beats; that differs from ±∞ only for a first value of NaN or ±∞.) Defaults are Keras': monitor <c>val_loss</c>, factor 0.1, patience 10, minDelta 1e-4, cooldown 0,
/// minRate 0; mode Auto minimizes the loss and the errors and maximizes the accuracies (the metric's direction, as Keras 3's
/// MonitorCallback reads it: <c>acc</c> is maximized too). The rate is kept in double, as PyTorch keeps
/// a param group's lr; Keras holds it in a float32 variable, so its rates agree with these to float32's precision.
/// </summary>
public sealed class ReduceLearningRateOnPlateau : ITrainingCallback
{
    private readonly List<int> reducedAt = new();
    private bool minimize;
    private TrainingRun? run;
    private double best;

    public ReduceLearningRateOnPlateau(string monitor = "val_loss", double factor = 0.1, int patience = 10,
        EarlyStoppingMode mode = EarlyStoppingMode.Auto, double minDelta = 1e-4, int cooldown = 0, double minRate = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(monitor);
        if (!(factor > 0 && factor < 1))
            throw new ArgumentOutOfRangeException(nameof(factor), factor, "ReduceLearningRateOnPlateau: factor must be in (0, 1) (new rate = rate · factor); Keras refuses a factor ≥ 1.");
        if (patience < 0) throw new ArgumentOutOfRangeException(nameof(patience), patience, "ReduceLearningRateOnPlateau: patience must be ≥ 0.");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, $"ReduceLearningRateOnPlateau: mode must be one of {string.Join(", ", Enum.GetNames<EarlyStoppingMode>())}.");
        if (!double.IsFinite(minDelta)) throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, "ReduceLearningRateOnPlateau: minDelta must be finite.");
        if (cooldown < 0) throw new ArgumentOutOfRangeException(nameof(cooldown), cooldown, "ReduceLearningRateOnPlateau: cooldown must be ≥ 0.");
        if (!(minRate >= 0) || !double.IsFinite(minRate))
            throw new ArgumentOutOfRangeException(nameof(minRate), minRate, "ReduceLearningRateOnPlateau: minRate must be finite and ≥ 0.");
        Monitor = monitor;
        Factor = factor;
        Patience = patience;
        Mode = mode;
        MinDelta = Math.Abs(minDelta);   // Keras 3 (MonitorCallback): self.min_delta = abs(min_delta)
        Cooldown = cooldown;
        MinRate = minRate;
    }

    public string Monitor { get; }
    public double Factor { get; }
    public int Patience { get; }
    public EarlyStoppingMode Mode { get; }
    /// <summary>|minDelta|, as Keras 3 keeps it.</summary>
    public double MinDelta { get; }
    public int Cooldown { get; }
    public double MinRate { get; }

    /// <summary>Epochs without an improvement since the last one or the last reduction, as Keras counts them.</summary>
    public int Wait { get; private set; }

    /// <summary>Epochs of cooldown left.</summary>
    public int CooldownLeft { get; private set; }

    /// <summary>The best monitored value of this Fit (±∞ before its first epoch).</summary>
    public double Best => best;

    /// <summary>The epochs (0-based, over all Fit calls) at whose end the rate was reduced, in order.</summary>
    public IReadOnlyList<int> ReducedAt => reducedAt;

    public void OnTrainBegin(TrainingRun run)
    {
        if (!run.LoggedNames.Contains(Monitor))
            throw new InvalidOperationException(
                $"ReduceLearningRateOnPlateau monitors '{Monitor}', which this run does not log; it logs {string.Join(", ", run.LoggedNames)}"
                + (run.HasValidation ? "." : " (val_ quantities need TrainingOptions.Validation or ValidationSplit)."));
        minimize = Mode switch { EarlyStoppingMode.Min => true, EarlyStoppingMode.Max => false, _ => !run.Increases(Monitor) };
        this.run = run;
        best = minimize ? double.PositiveInfinity : double.NegativeInfinity;
        Wait = 0;
        CooldownLeft = 0;
    }

    public bool OnEpochEnd(EpochRecord record, Optimizer<float> optimizer)
    {
        if (run is null) throw new InvalidOperationException("ReduceLearningRateOnPlateau.OnEpochEnd was called before OnTrainBegin.");
        double? value = run.Value(record, Monitor);
        if (value is not double current) return false;
        if (CooldownLeft > 0)
        {
            CooldownLeft--;
            Wait = 0;
        }
        if (minimize ? current + MinDelta < best : current - MinDelta > best)
        {
            best = current;
            Wait = 0;
        }
        else if (CooldownLeft == 0)
        {
            Wait++;
            if (Wait >= Patience && optimizer.LearningRate > MinRate)
            {
                optimizer.LearningRate = Math.Max(optimizer.LearningRate * Factor, MinRate);
                reducedAt.Add(record.Epoch);
                CooldownLeft = Cooldown;
                Wait = 0;
            }
        }
        return false;
    }
}
