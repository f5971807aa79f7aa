using System.Globalization;
using NumLstm.Kernels;

namespace NumLstm.Optimizers;

/// <summary>
/// Updates a fixed list of parameters from their gradients. State arrays (moments, momentum buffers) are allocated
/// once, sized from the parameters, so <see cref="Step"/> allocates nothing. Hyperparameters are doubles, as in
/// PyTorch; per-step scalars (bias corrections, step size) are computed in double and cast to T once per step.
/// </summary>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Parameter<T>[] parameters;
    private readonly string[] slotNames;
    private readonly T[][][] slots; // [slot][parameter][element]
    private double learningRate, initialLearningRate;
    private readonly long totalElements;
    private readonly Halves halves;   // the two-core step's job, made once
    private bool[]? excludedFromWeightDecay;   // [parameter]: null when every parameter is decayed

    protected Optimizer(IReadOnlyList<Parameter<T>> parameters, double learningRate, params string[] slotNames)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.Count == 0)
            throw new ArgumentException("An optimizer needs at least one parameter, got an empty list.", nameof(parameters));
        var seen = new HashSet<Parameter<T>>(ReferenceEqualityComparer.Instance);
        this.parameters = new Parameter<T>[parameters.Count];
        for (int p = 0; p < parameters.Count; p++)
        {
            Parameter<T> parameter = parameters[p] ?? throw new ArgumentException($"parameters[{p}] is null.", nameof(parameters));
            if (!seen.Add(parameter))
                throw new ArgumentException($"Parameter '{parameter.Name}' (index {p}) appears more than once in the list.", nameof(parameters));
            this.parameters[p] = parameter;
        }
        totalElements = this.parameters.Sum(p => (long)p.Length);
        halves = new Halves(this);
        LearningRate = learningRate;
        InitialLearningRate = learningRate;
        this.slotNames = (string[])slotNames.Clone();
        slots = new T[slotNames.Length][][];
        for (int s = 0; s < slotNames.Length; s++)
        {
            slots[s] = new T[this.parameters.Length][];
            for (int p = 0; p < this.parameters.Length; p++) slots[s][p] = new T[this.parameters[p].Length];
        }
    }

    /// <summary><c>SGD</c>, <c>Adam</c>, <c>AdamW</c>, <c>RMSprop</c>, <c>Adagrad</c>, <c>Adamax</c> or <c>NAdam</c>: the name stored in <see cref="OptimizerState{T}"/>.</summary>
    public abstract string Kind { get; }

    public IReadOnlyList<Parameter<T>> Parameters => parameters;

    /// <summary>The learning rate of the next step; a schedule may set it between steps. Finite and ≥ 0 (0 as in a
    /// warm-up's first epoch; PyTorch checks <c>0.0 &lt;= lr</c> too).</summary>
    public double LearningRate
    {
        get => learningRate;
        set
        {
            CheckRate(value, nameof(LearningRate));
            learningRate = value;
        }
    }

    /// <summary>
    /// The rate schedules decay from (PyTorch's <c>param_group['initial_lr']</c>): the rate the optimizer was built with,
    /// kept through checkpoints, so a resumed run decays from the same base instead of from an already decayed rate.
    /// </summary>
    public double InitialLearningRate
    {
        get => initialLearningRate;
        set
        {
            CheckRate(value, nameof(InitialLearningRate));
            initialLearningRate = value;
        }
    }

    private static void CheckRate(double value, string name)
    {
        if (!(value >= 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, value, $"Invalid {char.ToLowerInvariant(name[0])}{name[1..]} {value}: must be finite and ≥ 0.");
    }

    /// <summary>Steps taken so far (PyTorch's <c>state['step']</c>); the next step is number StepCount + 1.</summary>
    public long StepCount { get; private set; }

    /// <summary>
    /// The most steps an optimizer takes, 2^53: Adam's bias corrections 1 − β^t take the step t as a double, which holds
    /// every integer exactly only up to 2^53. <see cref="Step"/> throws beyond it and <see cref="ImportState"/> refuses a
    /// larger count (a long step count would overflow to negative first, and β^t blow up).
    /// </summary>
    public const long MaxStepCount = 1L << 53;

    /// <summary>Names of the per-parameter state arrays, in export order.</summary>
    public IReadOnlyList<string> SlotNames => slotNames;

    /// <summary>
    /// The hyperparameter key, followed by a parameter's index in <see cref="Parameters"/>, that a state uses to record
    /// that the parameter is excluded from weight decay (value 1). An index, as parameter names repeat across layers
    /// (every Dense and LayerNorm has a <c>weight</c> and a <c>bias</c>).
    /// </summary>
    public const string ExcludedFromWeightDecayKey = "exclude_from_weight_decay:";

    /// <summary>
    /// Excludes the given parameters, each one of this optimizer's, from weight decay (coupled or decoupled): Keras's
    /// <c>optimizer.exclude_from_weight_decay(var_list=[...])</c>, PyTorch's parameter group with <c>weight_decay = 0</c>
    /// (the usual AdamW practice spares biases and LayerNorm's γ and β, e.g.
    /// <c>model.Layers.OfType&lt;LayerNorm&lt;float&gt;&gt;().SelectMany(l =&gt; l.Parameters)</c>). Cumulative; before the
    /// first step only, as Keras's must come before the optimizer is built. The exclusions travel with the state (and a
    /// checkpoint) and must match on import.
    /// </summary>
    public void ExcludeFromWeightDecay(IEnumerable<Parameter<T>> excluded)
    {
        ArgumentNullException.ThrowIfNull(excluded);
        if (StepCount > 0)
            throw new InvalidOperationException(
                $"ExcludeFromWeightDecay must come before the first step; this {Kind} optimizer has taken {StepCount} (as Keras's exclude_from_weight_decay must come before the optimizer is built).");
        bool[] flags = excludedFromWeightDecay is null ? new bool[parameters.Length] : (bool[])excludedFromWeightDecay.Clone();
        foreach (Parameter<T> parameter in excluded)
        {
            if (parameter is null) throw new ArgumentException("ExcludeFromWeightDecay: a parameter is null.", nameof(excluded));
            int index = Array.FindIndex(parameters, p => ReferenceEquals(p, parameter));
            if (index < 0)
                throw new ArgumentException(
                    $"ExcludeFromWeightDecay: parameter '{parameter.Name}' ({parameter.Length} values) is not one of this {Kind} optimizer's {parameters.Length} parameters.", nameof(excluded));
            flags[index] = true;
        }
        excludedFromWeightDecay = flags;
    }

    /// <inheritdoc cref="ExcludeFromWeightDecay(IEnumerable{Parameter{T}})"/>
    public void ExcludeFromWeightDecay(params Parameter<T>[] excluded) => ExcludeFromWeightDecay((IEnumerable<Parameter<T>>)excluded);

    /// <summary>The indices in <see cref="Parameters"/> of the parameters excluded from weight decay, ascending (empty:
    /// every parameter is decayed).</summary>
    public IReadOnlyList<int> WeightDecayExcluded
        => excludedFromWeightDecay is null ? [] : Enumerable.Range(0, parameters.Length).Where(p => excludedFromWeightDecay[p]).ToArray();

    /// <summary>Whether parameter number <paramref name="index"/> takes the weight decay (see <see cref="ExcludeFromWeightDecay(IEnumerable{Parameter{T}})"/>).</summary>
    protected bool DecaysWeights(int index) => excludedFromWeightDecay is null || !excludedFromWeightDecay[index];

    /// <summary>The hyperparameters and the exclusions from weight decay, as a state records them.</summary>
    private Dictionary<string, double> StateHyperparameters()
    {
        var values = new Dictionary<string, double>(Hyperparameters());
        foreach (int index in WeightDecayExcluded) values[ExcludedFromWeightDecayKey + index.ToString(CultureInfo.InvariantCulture)] = 1;
        return values;
    }

    /// <summary>Applies one update to every parameter from its <see cref="Parameter{T}.Gradient"/> (which is left unchanged).</summary>
    public void Step()
    {
        if (StepCount >= MaxStepCount)
            throw new InvalidOperationException(
                $"The {Kind} optimizer has taken {StepCount} steps, the most it counts (2^53 = {MaxStepCount}: bias corrections take the step as a double, exact only up to there).");
        StepCount++;
        BeginStep(StepCount);
        if (UpdatesElementwise && totalElements >= TwoCoreElements && PairedWork.HasSecondCore)
        {
            PairedWork.Run(halves);
            return;
        }
        for (int p = 0; p < parameters.Length; p++) Update(p, parameters[p]);
    }

    /// <summary>The fewest parameter values a step splits over the two cores for (an elementwise update only).</summary>
    private const long TwoCoreElements = 1L << 16;

    /// <summary>
    /// Whether <see cref="Update(int, Parameter{T}, int, int)"/> updates any range of a parameter's elements on its own
    /// (each element's update reads only that element's value, gradient and state), so that a large step can update
    /// the first half of every parameter on one core and the second half on the other, with the same bits.
    /// </summary>
    protected virtual bool UpdatesElementwise => false;

    /// <summary>Updates the elements [start, start + count) of parameter number <paramref name="index"/> (see <see cref="UpdatesElementwise"/>).</summary>
    protected virtual void Update(int index, Parameter<T> parameter, int start, int count)
        => throw new NotSupportedException($"The {Kind} optimizer does not update parameters by ranges.");

    // Each parameter's elements split at a multiple of 16, so a vector of either width never straddles the halves.
    private void UpdateHalf(int part)
    {
        for (int p = 0; p < parameters.Length; p++)
        {
            int length = parameters[p].Length, half = length / 2 / 16 * 16;
            if (part == 0) Update(p, parameters[p], 0, half);
            else Update(p, parameters[p], half, length - half);
        }
    }

    private sealed class Halves(Optimizer<T> optimizer) : IPairedJob
    {
        public void RunPart(int part) => optimizer.UpdateHalf(part);
    }

    public void ZeroGradients()
    {
        foreach (Parameter<T> parameter in parameters) parameter.ZeroGradient();
    }

    /// <summary>Computes the scalars shared by all parameters for step <paramref name="step"/> (1-based).</summary>
    protected abstract void BeginStep(long step);

    /// <summary>Updates parameter number <paramref name="index"/> in place.</summary>
    protected abstract void Update(int index, Parameter<T> parameter);

    /// <summary>The hyperparameters besides the learning rate, as stored in a state and checked on import.</summary>
    protected abstract IReadOnlyDictionary<string, double> Hyperparameters();

    protected T[] Slot(int slot, int parameterIndex) => slots[slot][parameterIndex];

    public OptimizerState<T> ExportState()
    {
        var names = new string[parameters.Length];
        var exported = new List<OptimizerSlot<T>>(parameters.Length * slotNames.Length);
        for (int p = 0; p < parameters.Length; p++)
        {
            names[p] = parameters[p].Name;
            for (int s = 0; s < slotNames.Length; s++)
                exported.Add(new OptimizerSlot<T>(parameters[p].Name, slotNames[s], (T[])slots[s][p].Clone()));
        }
        return new OptimizerState<T>(Kind, StepCount, LearningRate, names, StateHyperparameters(), exported, InitialLearningRate, ExportScalars());
    }

    /// <summary>The running scalars a state carries besides its arrays (<see cref="OptimizerState{T}.Scalars"/>); none by default.</summary>
    protected virtual IReadOnlyDictionary<string, double> ExportScalars() => new Dictionary<string, double>();

    /// <summary>Checks and takes the scalars of an imported state, whose names <see cref="ImportState"/> has already matched
    /// with <see cref="ExportScalars"/>'s; throws <see cref="ArgumentException"/> for a value out of range, changing nothing.</summary>
    protected virtual void ImportScalars(IReadOnlyDictionary<string, double> scalars)
    {
    }

    /// <summary>
    /// Restores the step count, learning rate and state arrays. The state must come from the same kind of optimizer,
    /// over parameters with the same names and lengths, built with the same hyperparameters.
    /// </summary>
    public void ImportState(OptimizerState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Kind != Kind)
            throw new ArgumentException($"Optimizer state is for '{IO.Echo.Name(state.Kind)}', this optimizer is '{Kind}'.", nameof(state));
        if (state.ParameterNames.Count != parameters.Length)
            throw new ArgumentException($"Optimizer state has {state.ParameterNames.Count} parameters, this optimizer has {parameters.Length}.", nameof(state));
        for (int p = 0; p < parameters.Length; p++)
        {
            if (state.ParameterNames[p] != parameters[p].Name)
                throw new ArgumentException($"Optimizer state parameter {p} is '{IO.Echo.Name(state.ParameterNames[p])}', expected '{parameters[p].Name}'.", nameof(state));
        }
        IReadOnlyDictionary<string, double> own = StateHyperparameters();
        foreach ((string name, double value) in state.Hyperparameters)
            if (!own.ContainsKey(name))
                throw new ArgumentException(name.StartsWith(ExcludedFromWeightDecayKey, StringComparison.Ordinal)
                    ? $"Optimizer state excludes parameter {IO.Echo.Name(name[ExcludedFromWeightDecayKey.Length..])} from weight decay; this {Kind} optimizer does not (ExcludeFromWeightDecay before importing)."
                    : $"Optimizer state has hyperparameter {IO.Echo.Name(name)} = {value:R}, which this {Kind} optimizer was not built with.", nameof(state));
        foreach ((string name, double value) in own)
        {
            if (!state.Hyperparameters.TryGetValue(name, out double saved))
                throw new ArgumentException(name.StartsWith(ExcludedFromWeightDecayKey, StringComparison.Ordinal)
                    ? $"Optimizer state decays parameter {name[ExcludedFromWeightDecayKey.Length..]}, which this {Kind} optimizer excludes from weight decay."
                    : $"Optimizer state lacks hyperparameter '{name}'.", nameof(state));
            if (saved.CompareTo(value) != 0)
                throw new ArgumentException($"Optimizer state has {name} = {saved:R}, this optimizer was built with {value:R}.", nameof(state));
        }
        if (state.Slots.Count != parameters.Length * slotNames.Length)
            throw new ArgumentException(
                $"Optimizer state has {state.Slots.Count} arrays, expected {parameters.Length * slotNames.Length} ({parameters.Length} parameters × [{string.Join(", ", slotNames)}]).", nameof(state));
        for (int p = 0, j = 0; p < parameters.Length; p++)
        {
            for (int s = 0; s < slotNames.Length; s++, j++)
            {
                OptimizerSlot<T> slot = state.Slots[j];
                if (slot.ParameterName != parameters[p].Name || slot.SlotName != slotNames[s])
                    throw new ArgumentException($"Optimizer state array {j} is '{IO.Echo.Name(slot.ParameterName)}/{IO.Echo.Name(slot.SlotName)}', expected '{parameters[p].Name}/{slotNames[s]}'.", nameof(state));
                if (slot.Values.Length != parameters[p].Length)
                    throw new ArgumentException($"Optimizer state array '{slot}' holds {slot.Values.Length} values, parameter '{parameters[p].Name}' has {parameters[p].Length}.", nameof(state));
            }
        }
        if (state.Step > MaxStepCount)
            throw new ArgumentException($"Optimizer state has step {state.Step}; expected at most 2^53 = {MaxStepCount} (bias corrections take the step as a double, exact only up to there).", nameof(state));
        if (!(state.LearningRate >= 0) || !double.IsFinite(state.LearningRate))
            throw new ArgumentException($"Optimizer state has an invalid learning rate {state.LearningRate}.", nameof(state));
        if (state.InitialLearningRate is double initial && (!(initial >= 0) || !double.IsFinite(initial)))
            throw new ArgumentException($"Optimizer state has an invalid initial learning rate {initial}.", nameof(state));
        IReadOnlyCollection<string> ownScalars = ExportScalars().Keys.ToArray();
        foreach (string name in state.Scalars.Keys)
            if (!ownScalars.Contains(name))
                throw new ArgumentException($"Optimizer state has scalar '{IO.Echo.Name(name)}', which a {Kind} optimizer does not keep (expected [{string.Join(", ", ownScalars)}]).", nameof(state));
        foreach (string name in ownScalars)
            if (!state.Scalars.ContainsKey(name))
                throw new ArgumentException($"Optimizer state lacks scalar '{name}', which a {Kind} optimizer keeps.", nameof(state));
        ImportScalars(state.Scalars);

        for (int p = 0, j = 0; p < parameters.Length; p++)
            for (int s = 0; s < slotNames.Length; s++, j++)
                state.Slots[j].Values.CopyTo(slots[s][p], 0);
        StepCount = state.Step;
        LearningRate = state.LearningRate;
        if (state.InitialLearningRate is double savedInitial) InitialLearningRate = savedInitial;
    }

    protected static T Cast(double value) => T.CreateTruncating(value);

    protected static void CheckBeta(double value, string name)
    {
        if (!(value >= 0 && value < 1))
            throw new ArgumentOutOfRangeException(name, value, $"Invalid {name} {value}: must be in [0, 1).");
    }

    protected static void CheckNonNegative(double value, string name)
    {
        if (!(value >= 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, value, $"Invalid {name} {value}: must be finite and ≥ 0.");
    }

    protected static void CheckPositive(double value, string name)
    {
        if (!(value > 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, value, $"Invalid {name} {value}: must be finite and > 0.");
    }
}
