namespace NumLstm.Optimizers;

/// <summary>
/// One state array of one parameter, named as in PyTorch's optimizer state_dict
/// (<c>momentum_buffer</c>, <c>exp_avg</c>, <c>exp_avg_sq</c>, <c>max_exp_avg_sq</c>).
/// </summary>
public sealed class OptimizerSlot<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public OptimizerSlot(string parameterName, string slotName, T[] values)
    {
        ArgumentNullException.ThrowIfNull(parameterName);
        ArgumentException.ThrowIfNullOrEmpty(slotName);
        ArgumentNullException.ThrowIfNull(values);
        ParameterName = parameterName;
        SlotName = slotName;
        Values = values;
    }

    public string ParameterName { get; }
    public string SlotName { get; }
    public T[] Values { get; }

    public override string ToString() => $"{ParameterName}/{SlotName} [{Values.Length}]";
}

/// <summary>
/// Everything an optimizer needs to continue a run bit-exactly: its kind, step count, learning rate, the
/// hyperparameters it was built with (checked on import) and its per-parameter arrays, ordered by parameter, then
/// by slot. Export copies the arrays and import copies them back, so a state never aliases a live optimizer.
/// </summary>
public sealed class OptimizerState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public OptimizerState(string kind, long step, double learningRate, IReadOnlyList<string> parameterNames,
        IReadOnlyDictionary<string, double> hyperparameters, IReadOnlyList<OptimizerSlot<T>> slots, double? initialLearningRate = null,
        IReadOnlyDictionary<string, double>? scalars = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentNullException.ThrowIfNull(parameterNames);
        ArgumentNullException.ThrowIfNull(hyperparameters);
        ArgumentNullException.ThrowIfNull(slots);
        Kind = kind;
        Step = step;
        LearningRate = learningRate;
        ParameterNames = parameterNames;
        Hyperparameters = hyperparameters;
        Slots = slots;
        InitialLearningRate = initialLearningRate;
        Scalars = scalars ?? new Dictionary<string, double>();
    }

    /// <summary><c>SGD</c>, <c>Adam</c>, <c>AdamW</c>, <c>RMSprop</c>, <c>Adagrad</c>, <c>Adamax</c> or <c>NAdam</c>.</summary>
    public string Kind { get; }
    public long Step { get; }
    public double LearningRate { get; }
    /// <summary>The rate schedules decay from (PyTorch's <c>initial_lr</c>); null in states written before it was kept,
    /// in which case import leaves the optimizer's own value.</summary>
    public double? InitialLearningRate { get; }
    public IReadOnlyList<string> ParameterNames { get; }
    public IReadOnlyDictionary<string, double> Hyperparameters { get; }
    public IReadOnlyList<OptimizerSlot<T>> Slots { get; }

    /// <summary>Running values shared by all parameters that are neither hyperparameters nor per-element arrays, by
    /// PyTorch's state names: NAdam's <c>mu_product</c>; empty for the other optimizers.</summary>
    public IReadOnlyDictionary<string, double> Scalars { get; }
}
