using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

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
        int j = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var one = Vector256<T>.One;
            for (; j <= hidden - Vector256<T>.Count; j += Vector256<T>.Count)
            {
                var o = Vector256.Create(outputGate.Slice(j)); var y = Vector256.Create(tanhCell.Slice(j)); var d = Vector256.Create(dHidden.Slice(j));
                (d * y * o * (one - o)).CopyTo(dOutputPre.Slice(j));
                (d * o * (one - y * y)).CopyTo(dTanhArgument.Slice(j));
            }
        }
        for (; j < hidden; j++)
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
        int j = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var one = Vector256<T>.One;
            for (; j <= hidden - Vector256<T>.Count; j += Vector256<T>.Count)
            {
                var i = Vector256.Create(gates.Slice(j)); var f = Vector256.Create(gates.Slice(hidden + j));
                var g = Vector256.Create(gates.Slice(2 * hidden + j)); var dc = Vector256.Create(dCell.Slice(j));
                (dc * g * i * (one - i)).CopyTo(dGates.Slice(j));
                (dc * Vector256.Create(cellPrevious.Slice(j)) * f * (one - f)).CopyTo(dGates.Slice(hidden + j));
                (dc * i * (one - g * g)).CopyTo(dGates.Slice(2 * hidden + j));
                (dc * f).CopyTo(dCellPrevious.Slice(j));
            }
        }
        for (; j < hidden; j++)
        {
            T i = gates[j], f = gates[hidden + j], g = gates[2 * hidden + j], dc = dCell[j];
            dGates[j] = dc * g * i * (T.One - i);
            dGates[hidden + j] = dc * cellPrevious[j] * f * (T.One - f);
            dGates[2 * hidden + j] = dc * i * (T.One - g * g);
            dCellPrevious[j] = dc * f;
        }
    }

    /// <summary>
    /// One backward step of the plain cell (h = o ⊙ tanh(c)) for one row, (B3), (B4), (B7), (B8) in one pass:
    /// gates [4H] activations, tanhCell = tanh(c) [H], cellPrevious [H], dHidden [H] the total gradient at h;
    /// dCell [H] holds dc from the next step on entry and dc_prev on return; dGates [4H] is overwritten with the
    /// pre-activation gradients of i, f, g, o.
    /// </summary>
    public static void StepBackward<T>(ReadOnlySpan<T> gates, ReadOnlySpan<T> tanhCell, ReadOnlySpan<T> cellPrevious,
        ReadOnlySpan<T> dHidden, Span<T> dCell, Span<T> dGates, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gates.Length != 4 * hidden || dGates.Length != 4 * hidden || tanhCell.Length != hidden || cellPrevious.Length != hidden
            || dHidden.Length != hidden || dCell.Length != hidden)
            throw new ArgumentException($"LstmGates.StepBackward: expected gates [{4 * hidden}] and rows [{hidden}].");
        int j = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var one = Vector256<T>.One;
            for (; j <= hidden - Vector256<T>.Count; j += Vector256<T>.Count)
            {
                var i = Vector256.Create(gates.Slice(j)); var f = Vector256.Create(gates.Slice(hidden + j));
                var g = Vector256.Create(gates.Slice(2 * hidden + j)); var o = Vector256.Create(gates.Slice(3 * hidden + j));
                var y = Vector256.Create(tanhCell.Slice(j)); var dh = Vector256.Create(dHidden.Slice(j));
                var dc = Vector256.Create(dCell.Slice(j)) + dh * o * (one - y * y);
                (dc * g * i * (one - i)).CopyTo(dGates.Slice(j));
                (dc * Vector256.Create(cellPrevious.Slice(j)) * f * (one - f)).CopyTo(dGates.Slice(hidden + j));
                (dc * i * (one - g * g)).CopyTo(dGates.Slice(2 * hidden + j));
                (dh * y * o * (one - o)).CopyTo(dGates.Slice(3 * hidden + j));
                (dc * f).CopyTo(dCell.Slice(j));
            }
        }
        for (; j < hidden; j++)
        {
            T i = gates[j], f = gates[hidden + j], g = gates[2 * hidden + j], o = gates[3 * hidden + j], y = tanhCell[j], dh = dHidden[j];
            T dc = dCell[j] + dh * o * (T.One - y * y);
            dGates[j] = dc * g * i * (T.One - i);
            dGates[hidden + j] = dc * cellPrevious[j] * f * (T.One - f);
            dGates[2 * hidden + j] = dc * i * (T.One - g * g);
            dGates[3 * hidden + j] = dh * y * o * (T.One - o);
            dCell[j] = dc * f;
        }
    }
}
