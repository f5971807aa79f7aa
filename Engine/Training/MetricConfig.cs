using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace NumLstm.Training;

/// <summary>
/// A metric as Keras 3's <c>compile(metrics=[...])</c> takes it: a string (<c>"accuracy"</c>, <c>"mae"</c>, <c>"AUC"</c>;
/// any of <see cref="Trainer.MetricNames"/>, which converts to this type implicitly and logs under the string as given,
/// as Keras' compile_utils.get_metric names it), or a configured metric object, Keras'
/// <c>keras.metrics.AUC(curve="PR")</c>, <c>Precision(thresholds=0.7)</c>, <c>Recall()</c>: <see cref="Auc"/>,
/// <see cref="Precision"/>, <see cref="Recall"/>, which log under the object's name (by default its class's snake_case
/// name: <c>auc</c>, <c>precision</c>, <c>recall</c>). An option left null takes Keras' default; an option the metric
/// does not have is refused when Fit or Evaluate resolves it (an ArgumentException naming the option and the value).
/// docs/math-losses-optimizers.md, "Precision, Recall and AUC".
/// </summary>
public sealed record MetricConfig
{
    public MetricConfig(string identifier)
    {
        ArgumentNullException.ThrowIfNull(identifier);
        Identifier = identifier;
    }

    /// <summary>The Keras string or class name: <c>"accuracy"</c>, <c>"mae"</c>, <c>"AUC"</c>, <c>"precision"</c>, …</summary>
    public string Identifier { get; }
    /// <summary>The name the metric logs under (Keras' <c>name=</c>); null: the identifier as given.</summary>
    public string? Name { get; init; }
    /// <summary>
    /// Keras' <c>thresholds</c>. Precision and Recall: one value in [0, 1], the prediction counting as positive when
    /// above it (null: 0.5; Keras' list of several gives one value each, NumLstm logs one and refuses it). AUC: the
    /// thresholds of the curve instead of <see cref="NumThresholds"/> evenly spaced ones, −ε and 1 + ε added at the ends.
    /// </summary>
    public IReadOnlyList<double>? Thresholds { get; init; }
    /// <summary>AUC's <c>num_thresholds</c> (null: 200), at least 2: thresholds i/(n − 1) for i = 1 … n − 2, with −ε and 1 + ε at the ends.</summary>
    public int? NumThresholds { get; init; }
    /// <summary>AUC's <c>curve</c>: <c>"ROC"</c> (null, Keras' default) or <c>"PR"</c> (Keras also takes <c>"roc"</c> and <c>"pr"</c>).</summary>
    public string? Curve { get; init; }
    /// <summary>AUC's <c>summation_method</c>: <c>"interpolation"</c> (null, Keras' default), <c>"minoring"</c> or
    /// <c>"majoring"</c> (Keras also takes them capitalized).</summary>
    public string? SummationMethod { get; init; }
    /// <summary>
    /// Whether the outputs are logits, to be passed through σ before the thresholds. AUC's <c>from_logits</c>: true is
    /// Keras' (σ on every output), false Keras' default (the outputs as they are). Precision and Recall take it too (Keras'
    /// never apply σ: false). Null (default, NumLstm's choice): the probabilities the model means, i.e. σ when the loss is
    /// a binary cross-entropy on logits, softmax over each row when it is a categorical or sparse categorical
    /// cross-entropy on logits, else the outputs as they are.
    /// </summary>
    public bool? FromLogits { get; init; }

    /// <summary>Keras' <c>keras.metrics.AUC(num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
    /// thresholds=None, from_logits=False)</c>, logged as <c>auc</c> unless named. <paramref name="fromLogits"/> null:
    /// see <see cref="FromLogits"/>.</summary>
    public static MetricConfig Auc(int numThresholds = 200, string curve = "ROC", string summationMethod = "interpolation", string? name = null,
        IReadOnlyList<double>? thresholds = null, bool? fromLogits = null)
        => new("AUC") { Name = name ?? "auc", NumThresholds = numThresholds, Curve = curve, SummationMethod = summationMethod, Thresholds = thresholds, FromLogits = fromLogits };

    /// <summary>Keras' <c>keras.metrics.Precision(thresholds=None, name=None)</c>, logged as <c>precision</c> unless named.</summary>
    public static MetricConfig Precision(double? thresholds = null, string? name = null, bool? fromLogits = null)
        => new("Precision") { Name = name ?? "precision", Thresholds = thresholds is double t ? [t] : null, FromLogits = fromLogits };

    /// <summary>Keras' <c>keras.metrics.Recall(thresholds=None, name=None)</c>, logged as <c>recall</c> unless named.</summary>
    public static MetricConfig Recall(double? thresholds = null, string? name = null, bool? fromLogits = null)
        => new("Recall") { Name = name ?? "recall", Thresholds = thresholds is double t ? [t] : null, FromLogits = fromLogits };

    /// <summary>A Keras metric string, as <c>compile(metrics=["auc"])</c> takes it.</summary>
    [return: NotNullIfNotNull(nameof(identifier))]
    public static implicit operator MetricConfig?(string? identifier) => identifier is null ? null : new MetricConfig(identifier);

    /// <summary>The name it logs under: <see cref="Name"/>, else the identifier as given.</summary>
    internal string LoggedName => Name ?? Identifier;

    public bool Equals(MetricConfig? other)
        => other is not null && Identifier == other.Identifier && Name == other.Name && NumThresholds == other.NumThresholds && Curve == other.Curve
            && SummationMethod == other.SummationMethod && FromLogits == other.FromLogits
            && (Thresholds ?? []).SequenceEqual(other.Thresholds ?? []) && (Thresholds is null) == (other.Thresholds is null);

    public override int GetHashCode() => HashCode.Combine(Identifier, Name, NumThresholds, Curve, SummationMethod, FromLogits, Thresholds?.Count);

    public override string ToString()
    {
        var options = new List<string>();
        if (Name is not null) options.Add($"name={Name}");
        if (Thresholds is not null) options.Add($"thresholds=[{string.Join(", ", Thresholds.Select(t => t.ToString("R", CultureInfo.InvariantCulture)))}]");
        if (NumThresholds is int n) options.Add($"num_thresholds={n}");
        if (Curve is not null) options.Add($"curve={Curve}");
        if (SummationMethod is not null) options.Add($"summation_method={SummationMethod}");
        if (FromLogits is bool logits) options.Add($"from_logits={logits}");
        return options.Count == 0 ? Identifier : $"{Identifier}({string.Join(", ", options)})";
    }
}
