namespace NumLstm;

/// <summary>
/// A named, shaped tensor of trainable values with its gradient buffer, both laid out in C order.
/// Names follow PyTorch's state_dict conventions within a layer (<c>weight_ih</c>, <c>bias</c>, ...);
/// the model prefixes them with the layer's name.
/// </summary>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Parameter(string name, params int[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        // The product checked after each factor: a long wraps too (65536^4 is 0), but not below Array.MaxLength · int.MaxValue.
        long length = 1;
        foreach (int dim in shape)
        {
            if (dim <= 0)
                throw new ArgumentException($"Parameter '{name}': every dimension must be positive, got [{string.Join(", ", shape)}].", nameof(shape));
            length *= dim;
            if (length > Array.MaxLength)
                throw new ArgumentException($"Parameter '{name}': shape [{string.Join(", ", shape)}] holds more than the maximum array length {Array.MaxLength} elements.", nameof(shape));
        }
        Name = name;
        Shape = (int[])shape.Clone();
        Value = new T[length];
        Gradient = new T[length];
    }

    public string Name { get; }
    public int[] Shape { get; }
    public T[] Value { get; }
    public T[] Gradient { get; }
    public int Length => Value.Length;
    /// <summary>The penalty this parameter adds to the training loss (Keras' kernel_regularizer and its kin), set by its
    /// layer when built from the layer's option; null for none. <see cref="Models.Sequential{T}.RegularizationPenalty"/> and
    /// <see cref="Models.Sequential{T}.AddRegularizationGradients"/> apply it.</summary>
    public Layers.WeightRegularizer? Regularizer { get; internal set; }
    /// <summary>The projection applied to this parameter after every optimizer step (Keras' kernel_constraint and its
    /// kin), set by its layer from the layer's option; null for none. <see cref="Models.Sequential{T}.ApplyConstraints"/> applies it.</summary>
    public Layers.WeightConstraint? Constraint { get; internal set; }

    public void ZeroGradient() => Array.Clear(Gradient);

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}
