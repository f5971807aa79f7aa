using System.Numerics.Tensors;

namespace NumLstm.Kernels;

/// <summary>
/// The LSTM gate math for one row, gate order i, f, g, o in a row of G = 4H values. Equations (S4)–(S7) and
/// (B3), (B7), (B8) in docs/math.md.
/// </summary>
public static class LstmGates
{
    /// <summary>
    /// gates [4H]: pre-activations in, activations out (σ on i, f, o; tanh on g). cell [H] = f ⊙ cellPrevious + i ⊙ g.
    /// </summary>
    public static void ActivateAndUpdateCell<T>(Span<T> gates, ReadOnlySpan<T> cellPrevious, Span<T> cell, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gates.Length != 4 * hidden || cellPrevious.Length != hidden || cell.Length != hidden)
            throw new ArgumentException($"LstmGates: expected gates [{4 * hidden}], cells [{hidden}]; got {gates.Length}, {cellPrevious.Length}, {cell.Length}.");
        TensorPrimitives.Sigmoid(gates.Slice(0, 2 * hidden), gates.Slice(0, 2 * hidden));
        TensorPrimitives.Tanh(gates.Slice(2 * hidden, hidden), gates.Slice(2 * hidden, hidden));
        TensorPrimitives.Sigmoid(gates.Slice(3 * hidden, hidden), gates.Slice(3 * hidden, hidden));
        ReadOnlySpan<T> input = gates.Slice(0, hidden), forget = gates.Slice(hidden, hidden), candidate = gates.Slice(2 * hidden, hidden);
        TensorPrimitives.Multiply(forget, cellPrevious, cell);
        TensorPrimitives.MultiplyAdd(input, candidate, cell, cell);
    }

    /// <summary>
    /// For h = o ⊙ y with y = tanh(a): dOutputPre = dh ⊙ y ⊙ o(1 − o) (the gradient at o's pre-activation) and
    /// dTanhArgument = dh ⊙ o ⊙ (1 − y²). Both overwritten.
    /// </summary>
    public static void OutputBackward<T>(ReadOnlySpan<T> outputGate, ReadOnlySpan<T> tanhCell, ReadOnlySpan<T> dHidden,
        Span<T> dOutputPre, Span<T> dTanhArgument)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hidden = outputGate.Length;
        if (tanhCell.Length != hidden || dHidden.Length != hidden || dOutputPre.Length != hidden || dTanhArgument.Length != hidden)
            throw new ArgumentException("LstmGates.OutputBackward: all spans must have length H.");
        for (int j = 0; j < hidden; j++)
        {
            T o = outputGate[j], y = tanhCell[j], d = dHidden[j];
            dOutputPre[j] = d * y * o * (T.One - o);
            dTanhArgument[j] = d * o * (T.One - y * y);
        }
    }

    /// <summary>
    /// From dCell (the gradient at c = f ⊙ c_prev + i ⊙ g), the pre-activation gradients of i, f, g into
    /// dGates[0, 3H) (overwritten; the o slice is left alone) and dCellPrevious = dCell ⊙ f (overwritten).
    /// </summary>
    public static void CellBackward<T>(ReadOnlySpan<T> gates, ReadOnlySpan<T> cellPrevious, ReadOnlySpan<T> dCell,
        Span<T> dGates, Span<T> dCellPrevious, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gates.Length != 4 * hidden || dGates.Length != 4 * hidden || cellPrevious.Length != hidden || dCell.Length != hidden || dCellPrevious.Length != hidden)
            throw new ArgumentException($"LstmGates.CellBackward: expected gates [{4 * hidden}] and cells [{hidden}].");
        for (int j = 0; j < hidden; j++)
        {
            T i = gates[j], f = gates[hidden + j], g = gates[2 * hidden + j], dc = dCell[j];
            dGates[j] = dc * g * i * (T.One - i);
            dGates[hidden + j] = dc * cellPrevious[j] * f * (T.One - f);
            dGates[2 * hidden + j] = dc * i * (T.One - g * g);
            dCellPrevious[j] = dc * f;
        }
    }
}
