namespace NumLstm.Layers;

/// <summary>Activations a Dense layer can apply (Keras names).</summary>
public enum Activation
{
    Linear,
    Relu,
    Tanh,
    Sigmoid,
    Softmax,
}
