using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
        if (typeof(T) == typeof(float) && FastMath.IsSupported)
        {
            ActivateAndUpdateCellFloat(MemoryMarshal.Cast<T, float>(gates), MemoryMarshal.Cast<T, float>(cellPrevious), MemoryMarshal.Cast<T, float>(cell), hidden);
            return;
        }
        TensorPrimitives.Sigmoid(gates.Slice(0, 2 * hidden), gates.Slice(0, 2 * hidden));
        Activations.Tanh<T>(gates.Slice(2 * hidden, hidden), gates.Slice(2 * hidden, hidden));
        TensorPrimitives.Sigmoid(gates.Slice(3 * hidden, hidden), gates.Slice(3 * hidden, hidden));
        ReadOnlySpan<T> input = gates.Slice(0, hidden), forget = gates.Slice(hidden, hidden), candidate = gates.Slice(2 * hidden, hidden);
        TensorPrimitives.Multiply(forget, cellPrevious, cell);
        TensorPrimitives.MultiplyAdd(input, candidate, cell, cell);
    }

    /// <summary>
    /// One forward step of the plain cell for one row, (S4)–(S7): gates [4H] pre-activations in,
    /// activations out; cell [H] = f ⊙ cellPrevious + i ⊙ g; tanhCell [H] = tanh(cell); hidden [H] = o ⊙ tanhCell.
    /// cell may be the same span as cellPrevious. Float on Vector256 uses <see cref="FastMath"/>'s σ and tanh (a few
    /// ulp from TensorPrimitives'); other types and widths use TensorPrimitives.
    /// </summary>
    public static void ForwardStep<T>(Span<T> gates, ReadOnlySpan<T> cellPrevious, Span<T> cell, Span<T> tanhCell, Span<T> hidden, int h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gates.Length != 4 * h || cellPrevious.Length != h || cell.Length != h || tanhCell.Length != h || hidden.Length != h)
            throw new ArgumentException($"LstmGates.ForwardStep: expected gates [{4 * h}] and rows [{h}]; got {gates.Length}, {cellPrevious.Length}, {cell.Length}, {tanhCell.Length}, {hidden.Length}.");
        if (typeof(T) == typeof(float) && FastMath.IsSupported)
        {
            ForwardStepFloat(MemoryMarshal.Cast<T, float>(gates), MemoryMarshal.Cast<T, float>(cellPrevious), MemoryMarshal.Cast<T, float>(cell),
                MemoryMarshal.Cast<T, float>(tanhCell), MemoryMarshal.Cast<T, float>(hidden), h);
            return;
        }
        ActivateAndUpdateCell(gates, cellPrevious, cell, h);
        Activations.Tanh<T>(cell, tanhCell);
        TensorPrimitives.Multiply(gates.Slice(3 * h, h), tanhCell, hidden);
    }

    /// <summary>
    /// The inference form of <see cref="ForwardStep{T}"/> with the cell updated in place: the same c and h, bit for bit,
    /// but the activations and tanh(c) are not stored back in the vector columns (a plan never reads them again; training
    /// keeps them for backward and uses ForwardStep). gates and tanhCell are scratch afterwards.
    /// </summary>
    internal static void InferenceStep<T>(Span<T> gates, Span<T> cell, Span<T> tanhCell, Span<T> hidden, int h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(typeof(T) == typeof(float) && FastMath.IsSupported))
        {
            ForwardStep(gates, cell, cell, tanhCell, hidden, h);
            return;
        }
        if (gates.Length != 4 * h || cell.Length != h || tanhCell.Length != h || hidden.Length != h)
            throw new ArgumentException($"LstmGates.InferenceStep: expected gates [{4 * h}] and rows [{h}]; got {gates.Length}, {cell.Length}, {tanhCell.Length}, {hidden.Length}.");
        Span<float> z = MemoryMarshal.Cast<T, float>(gates), c = MemoryMarshal.Cast<T, float>(cell), hr = MemoryMarshal.Cast<T, float>(hidden);
        ref float zRef = ref MemoryMarshal.GetReference(z);
        ref float cRef = ref MemoryMarshal.GetReference(c);
        nuint full = (nuint)(h & ~7);
        ActivateGates(ref zRef, (nuint)h, 0, full);
        CellAndHidden(ref zRef, ref cRef, ref cRef, ref Unsafe.NullRef<float>(), ref MemoryMarshal.GetReference(hr), (nuint)h, 0, full);
        if ((int)full < h) ForwardStepTail(z, c, c, MemoryMarshal.Cast<T, float>(tanhCell), hr, h, (int)full, h);
    }

    private static void ForwardStepFloat(Span<float> gates, ReadOnlySpan<float> cellPrevious, Span<float> cell, Span<float> tanhCell, Span<float> hidden, int h)
        => ForwardStepColumnsUnchecked(gates, cellPrevious, cell, tanhCell, hidden, h, 0, h);

    /// <summary>
    /// <see cref="ForwardStep{T}"/> for the columns [start, end) of one float row only (start a multiple of 8), with the
    /// same arithmetic per column, so two calls over [0, m) and [m, h) equal one call over the row bit for bit. Spans are
    /// the whole row (gates [4H], the rest [H]); columns outside the range are neither read nor written. Needs
    /// <see cref="FastMath.IsSupported"/>.
    /// </summary>
    internal static void ForwardStepColumns(Span<float> gates, ReadOnlySpan<float> cellPrevious, Span<float> cell, Span<float> tanhCell, Span<float> hidden,
        int h, int start, int end)
    {
        if (gates.Length != 4 * h || cellPrevious.Length != h || cell.Length != h || tanhCell.Length != h || hidden.Length != h
            || start < 0 || start % 8 != 0 || end > h || start > end)
            throw new ArgumentException($"LstmGates.ForwardStepColumns: expected gates [{4 * h}], rows [{h}] and 0 ≤ start (a multiple of 8) ≤ end ≤ {h}; got start {start}, end {end}.");
        ForwardStepColumnsUnchecked(gates, cellPrevious, cell, tanhCell, hidden, h, start, end);
    }

    private static void ForwardStepColumnsUnchecked(Span<float> gates, ReadOnlySpan<float> cellPrevious, Span<float> cell, Span<float> tanhCell, Span<float> hidden,
        int h, int start, int end)
    {
        ref float z = ref MemoryMarshal.GetReference(gates);
        nuint full = (nuint)(start + ((end - start) & ~7));
        ActivateGates(ref z, (nuint)h, (nuint)start, full);
        CellAndHidden(ref z, ref MemoryMarshal.GetReference(cellPrevious), ref MemoryMarshal.GetReference(cell),
            ref MemoryMarshal.GetReference(tanhCell), ref MemoryMarshal.GetReference(hidden), (nuint)h, (nuint)start, full);
        if ((int)full < end) ForwardStepTail(gates, cellPrevious, cell, tanhCell, hidden, h, (int)full, end);
    }

    // Columns [j, end) of a float row (fewer than eight) as one vector per gate and row, loaded and stored under a lane
    // mask (the lanes past end read as zero and are neither read from memory nor written): the same operations per
    // column as ActivateGates and CellAndHidden, so every column gets the same bits, without a padded copy of the row
    // (the copy took about as long as the 96 columns before it at H = 100).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardStepTail(Span<float> gates, ReadOnlySpan<float> cellPrevious, Span<float> cell, Span<float> tanhCell, Span<float> hidden, int h, int j, int end)
    {
        Vector256<float> lanes = TailMask(end - j);
        fixed (float* z = gates)
        fixed (float* cp = cellPrevious)
        fixed (float* c = cell)
        fixed (float* y = tanhCell)
        fixed (float* hr = hidden)
        {
            (Vector256<float> o, Vector256<float> cNew) = ActivateAndUpdateCellLanes(z, cp, c, h, j, lanes);   // (S4), (S5)
            Vector256<float> t = FastMath.Tanh(cNew);                                                          // (S6)
            Avx.MaskStore(y + j, lanes, t);
            Avx.MaskStore(hr + j, lanes, o * t);                                                               // (S7)
        }
    }

    // The lanes [0, count) of a vector selected (sign bit set), for Avx.MaskLoad and MaskStore; 0 < count < 8.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TailMask(int count)
        => Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle();

    // The one definition of the float gate math, in two passes over the columns [j0, j1) (multiples of 8) of a row of
    // G = 4H values. ActivateGates is (S4): i, f, o = σ and g = tanh of the pre-activations, stored over them, one gate
    // block at a time. CellAndHidden is (S5)–(S7) from those activations: c = f ⊙ c_prev + i ⊙ g, tanh(c) into y
    // unless y is a null ref (inference), h = o ⊙ tanh(c). Each loop evaluates one function, so its constants stay in
    // registers and the core overlaps many columns' σ or tanh; one loop with all five kept the constants on the stack
    // and ran a long dependency chain per column: about 1.4–1.8 against 1.0–1.1 ns per gate value here.
    private static void ActivateGates(ref float z, nuint h, nuint j0, nuint j1)
    {
        SigmoidColumns(ref z, j0, j1);
        SigmoidColumns(ref z, h + j0, h + j1);
        TanhColumns(ref z, 2 * h + j0, 2 * h + j1);
        SigmoidColumns(ref z, 3 * h + j0, 3 * h + j1);
    }

    // σ over z[from, to) in place, to − from a multiple of 8. Not inlined: a loop of its own keeps its constants in registers.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    // Where AVX-512 runs natively (FastMath.Wide), 16 columns at a time and a last 8 at 256 bits: the same operations
    // per lane, so the same bits at either width.
    private static void SigmoidColumns(ref float z, nuint from, nuint to)
    {
        nuint j = from;
        if (FastMath.Wide)
            for (; j + 16 <= to; j += 16) FastMath.Sigmoid(Vector512.LoadUnsafe(ref z, j)).StoreUnsafe(ref z, j);
        for (; j < to; j += 8) FastMath.Sigmoid(Vector256.LoadUnsafe(ref z, j)).StoreUnsafe(ref z, j);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void TanhColumns(ref float z, nuint from, nuint to)
    {
        nuint j = from;
        if (FastMath.Wide)
            for (; j + 16 <= to; j += 16) FastMath.Tanh(Vector512.LoadUnsafe(ref z, j)).StoreUnsafe(ref z, j);
        for (; j < to; j += 8) FastMath.Tanh(Vector256.LoadUnsafe(ref z, j)).StoreUnsafe(ref z, j);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void CellAndHidden(ref float z, ref float cp, ref float c, ref float y, ref float hr, nuint h, nuint j0, nuint j1)
    {
        // With tanh(c) stored the pass is a training step's, writing rows of step buffers the caches last saw long ago:
        // it prefetches its eight streams (Prefetch.Ahead). Inference (no y) writes the same few rows every step.
        bool storeTanh = !Unsafe.IsNullRef(ref y);
        nuint j = j0;
        if (FastMath.Wide)
            for (; j + 16 <= j1; j += 16)
            {
                if (storeTanh) PrefetchCellAndHidden(ref z, ref cp, ref c, ref y, ref hr, h, j);
                Vector512<float> cNew = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref z, j), Vector512.LoadUnsafe(ref z, 2 * h + j),
                    Vector512.LoadUnsafe(ref z, h + j) * Vector512.LoadUnsafe(ref cp, j));   // NewCell's operations
                Vector512<float> t = FastMath.Tanh(cNew);
                cNew.StoreUnsafe(ref c, j);
                if (storeTanh) t.StoreUnsafe(ref y, j);
                (Vector512.LoadUnsafe(ref z, 3 * h + j) * t).StoreUnsafe(ref hr, j);
            }
        for (; j < j1; j += 8)
        {
            if (storeTanh) PrefetchCellAndHidden(ref z, ref cp, ref c, ref y, ref hr, h, j);
            Vector256<float> cNew = NewCell(ref z, ref cp, h, j);
            Vector256<float> t = FastMath.Tanh(cNew);
            cNew.StoreUnsafe(ref c, j);
            if (storeTanh) t.StoreUnsafe(ref y, j);
            (Vector256.LoadUnsafe(ref z, 3 * h + j) * t).StoreUnsafe(ref hr, j);
        }
    }

    // The streams CellAndHidden reads and writes at column j, Prefetch.DistanceBytes ahead.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchCellAndHidden(ref float z, ref float cp, ref float c, ref float y, ref float hr, nuint h, nuint j)
    {
        Prefetch.Ahead(ref z, j); Prefetch.Ahead(ref z, h + j); Prefetch.Ahead(ref z, 2 * h + j); Prefetch.Ahead(ref z, 3 * h + j);
        Prefetch.Ahead(ref cp, j); Prefetch.Ahead(ref c, j); Prefetch.Ahead(ref y, j); Prefetch.Ahead(ref hr, j);
    }

    // (S5) c = f ⊙ c_prev + i ⊙ g for the eight columns at j of an activated row.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> NewCell(ref float z, ref float cp, nuint h, nuint j)
        => Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref z, j), Vector256.LoadUnsafe(ref z, 2 * h + j),
            Vector256.LoadUnsafe(ref z, h + j) * Vector256.LoadUnsafe(ref cp, j));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ActivateAndUpdateCellFloat(Span<float> gates, ReadOnlySpan<float> cellPrevious, Span<float> cell, int h)
    {
        ref float z = ref MemoryMarshal.GetReference(gates);
        ref float cp = ref MemoryMarshal.GetReference(cellPrevious), c = ref MemoryMarshal.GetReference(cell);
        nuint full = (nuint)(h & ~7);
        ActivateGates(ref z, (nuint)h, 0, full);
        for (nuint j = 0; j < full; j += 8) NewCell(ref z, ref cp, (nuint)h, j).StoreUnsafe(ref c, j);
        if ((int)full < h) ActivateAndUpdateCellTail(gates, cellPrevious, cell, h, (int)full);
    }

    // ActivateAndUpdateCellFloat's last columns [j, h) (fewer than eight) under a lane mask, as ForwardStepTail.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ActivateAndUpdateCellTail(Span<float> gates, ReadOnlySpan<float> cellPrevious, Span<float> cell, int h, int j)
    {
        fixed (float* z = gates)
        fixed (float* cp = cellPrevious)
        fixed (float* c = cell)
            ActivateAndUpdateCellLanes(z, cp, c, h, j, TailMask(h - j));
    }

    // (S4) and (S5) for the selected lanes of the eight columns at j: i, f, o = σ and g = tanh stored over the
    // pre-activations, c = f ⊙ c_prev + i ⊙ g (NewCell's operations) stored into c (which may be c_prev: read first).
    // Returns o and c for the callers that go on to h.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector256<float> Output, Vector256<float> Cell) ActivateAndUpdateCellLanes(float* z, float* cp, float* c, int h, int j,
        Vector256<float> lanes)
    {
        float* input = z + j, forget = z + h + j, candidate = z + 2 * h + j, output = z + 3 * h + j;
        Vector256<float> i = FastMath.Sigmoid(Avx.MaskLoad(input, lanes));
        Vector256<float> f = FastMath.Sigmoid(Avx.MaskLoad(forget, lanes));
        Vector256<float> g = FastMath.Tanh(Avx.MaskLoad(candidate, lanes));
        Vector256<float> o = FastMath.Sigmoid(Avx.MaskLoad(output, lanes));
        Vector256<float> cNew = Vector256.FusedMultiplyAdd(i, g, f * Avx.MaskLoad(cp + j, lanes));
        Avx.MaskStore(input, lanes, i);
        Avx.MaskStore(forget, lanes, f);
        Avx.MaskStore(candidate, lanes, g);
        Avx.MaskStore(output, lanes, o);
        Avx.MaskStore(c + j, lanes, cNew);
        return (o, cNew);
    }

    /// <summary>
    /// (C1) and (S4)–(S7) for one row in one kernel: the summed gate pre-activations gates [4H] are layer-normalized
    /// (x̂ into normalized [4H], then γ ⊙ x̂ + β, γ and β [4H]), activated and the cell updated; cell, tanhCell and
    /// hidden as in <see cref="ForwardStep{T}"/>. Returns the row's (μ, ρ). The result is the same, bit for bit, as
    /// <see cref="LayerNormKernel.Forward{T}"/> followed by <see cref="ForwardStep{T}"/>; only the passes over the row
    /// are fewer (two for the statistics and one for x̂ and γ ⊙ x̂ + β, then the gate pass's).
    /// </summary>
    public static (T Mean, T InverseStd) NormalizedForwardStep<T>(Span<T> gates, T epsilon, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        Span<T> normalized, ReadOnlySpan<T> cellPrevious, Span<T> cell, Span<T> tanhCell, Span<T> hidden, int h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gates.Length != 4 * h || gamma.Length != 4 * h || beta.Length != 4 * h || normalized.Length != 4 * h
            || cellPrevious.Length != h || cell.Length != h || tanhCell.Length != h || hidden.Length != h)
            throw new ArgumentException($"LstmGates.NormalizedForwardStep: expected gates, γ, β, x̂ [{4 * h}] and rows [{h}]; got {gates.Length}, {gamma.Length}, {beta.Length}, {normalized.Length}, {cellPrevious.Length}, {cell.Length}, {tanhCell.Length}, {hidden.Length}.");
        if (typeof(T) == typeof(float) && FastMath.IsSupported)
        {
            (float mu, float rho) = LayerNormKernel.RowStatistics(MemoryMarshal.Cast<T, float>(gates), float.CreateTruncating(epsilon));
            NormalizedForwardStepFloat(MemoryMarshal.Cast<T, float>(gates), mu, rho, MemoryMarshal.Cast<T, float>(gamma), MemoryMarshal.Cast<T, float>(beta),
                MemoryMarshal.Cast<T, float>(normalized), MemoryMarshal.Cast<T, float>(cellPrevious), MemoryMarshal.Cast<T, float>(cell),
                MemoryMarshal.Cast<T, float>(tanhCell), MemoryMarshal.Cast<T, float>(hidden), h);
            return (T.CreateTruncating(mu), T.CreateTruncating(rho));
        }
        Span<T> statistics = stackalloc T[2];
        LayerNormKernel.Forward<T>(gates, 4 * h, epsilon, gamma, beta, gates, normalized, statistics.Slice(0, 1), statistics.Slice(1, 1));
        ForwardStep(gates, cellPrevious, cell, tanhCell, hidden, h);
        return (statistics[0], statistics[1]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void NormalizedForwardStepFloat(Span<float> gates, float mu, float rho, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> normalized, ReadOnlySpan<float> cellPrevious, Span<float> cell, Span<float> tanhCell, Span<float> hidden, int h)
    {
        ref float z = ref MemoryMarshal.GetReference(gates);
        ref float gr = ref MemoryMarshal.GetReference(gamma), br = ref MemoryMarshal.GetReference(beta), nr = ref MemoryMarshal.GetReference(normalized);
        Vector256<float> muV = Vector256.Create(mu), rhoV = Vector256.Create(rho);
        nuint full = (nuint)(h & ~7), hn = (nuint)h;
        for (nuint k = 0; k < 4; k++)
            for (nuint at = k * hn; at < k * hn + full; at += 8)
            {
                Vector256<float> xHat = (Vector256.LoadUnsafe(ref z, at) - muV) * rhoV;                      // (L2)
                xHat.StoreUnsafe(ref nr, at);
                (xHat * Vector256.LoadUnsafe(ref gr, at) + Vector256.LoadUnsafe(ref br, at)).StoreUnsafe(ref z, at);   // (L3)
            }
        // The last columns: normalized one by one with the same operations.
        for (int k = 0; k < 4; k++)
            for (int col = (int)full; col < h; col++)
            {
                int at = k * h + col;
                float xHat = (gates[at] - mu) * rho;
                normalized[at] = xHat;
                gates[at] = xHat * gamma[at] + beta[at];
            }
        ForwardStepColumnsUnchecked(gates, cellPrevious, cell, tanhCell, hidden, h, 0, h);
    }

    /// <summary>
    /// (C4)/(C5) with (S6)–(S7) for one row in one kernel: LN_c over the new cell state cell [H] (x̂ into normalized,
    /// γ, β [H]), tanhCell = tanh(γ ⊙ x̂ + β) and hidden = outputGate ⊙ tanhCell. With carry (C5, TF-Addons) the
    /// normalized state replaces cell, which the recurrence carries; without (C4, Ba et al.) cell is left as it is.
    /// Returns the row's (μ, ρ).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (T Mean, T InverseStd) NormalizedCellOutput<T>(Span<T> cell, T epsilon, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        Span<T> normalized, ReadOnlySpan<T> outputGate, Span<T> tanhCell, Span<T> hidden, bool carry)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = cell.Length;
        if (gamma.Length != h || beta.Length != h || normalized.Length != h || outputGate.Length != h || tanhCell.Length != h || hidden.Length != h)
            throw new ArgumentException($"LstmGates.NormalizedCellOutput: expected every row [{h}]; got γ {gamma.Length}, β {beta.Length}, x̂ {normalized.Length}, o {outputGate.Length}, tanh {tanhCell.Length}, h {hidden.Length}.");
        if (typeof(T) == typeof(float) && FastMath.IsSupported)
        {
            Span<float> c = MemoryMarshal.Cast<T, float>(cell);
            (float mu, float rho) = LayerNormKernel.RowStatistics<float>(c, float.CreateTruncating(epsilon));
            ReadOnlySpan<float> g = MemoryMarshal.Cast<T, float>(gamma), b = MemoryMarshal.Cast<T, float>(beta), o = MemoryMarshal.Cast<T, float>(outputGate);
            Span<float> n = MemoryMarshal.Cast<T, float>(normalized), y = MemoryMarshal.Cast<T, float>(tanhCell), hr = MemoryMarshal.Cast<T, float>(hidden);
            Vector256<float> muV = Vector256.Create(mu), rhoV = Vector256.Create(rho);
            int j = 0;
            for (; j <= h - 8; j += 8)
            {
                Vector256<float> xHat = (Vector256.Create((ReadOnlySpan<float>)c.Slice(j)) - muV) * rhoV;   // (L2)
                xHat.CopyTo(n.Slice(j));
                Vector256<float> value = xHat * Vector256.Create(g.Slice(j)) + Vector256.Create(b.Slice(j));   // (L3)
                if (carry) value.CopyTo(c.Slice(j));
                Vector256<float> t = FastMath.Tanh(value);
                t.CopyTo(y.Slice(j));
                (Vector256.Create(o.Slice(j)) * t).CopyTo(hr.Slice(j));
            }
            if (j < h)
            {
                // The last columns through the same vector code on a zero-padded copy.
                Span<float> pad = stackalloc float[8];
                pad.Clear();
                for (int col = j; col < h; col++)
                {
                    float xHat = (c[col] - mu) * rho;
                    n[col] = xHat;
                    pad[col - j] = xHat * g[col] + b[col];
                    if (carry) c[col] = pad[col - j];
                }
                Vector256<float> t = FastMath.Tanh(Vector256.Create((ReadOnlySpan<float>)pad));
                for (int col = j; col < h; col++) { y[col] = t[col - j]; hr[col] = o[col] * t[col - j]; }
            }
            return (T.CreateTruncating(mu), T.CreateTruncating(rho));
        }
        Span<T> statistics = stackalloc T[2];
        Span<T> target = carry ? cell : tanhCell;
        LayerNormKernel.Forward<T>(cell, h, epsilon, gamma, beta, target, normalized, statistics.Slice(0, 1), statistics.Slice(1, 1));
        Activations.Tanh<T>(target, tanhCell);
        TensorPrimitives.Multiply(outputGate, tanhCell, hidden);
        return (statistics[0], statistics[1]);
    }

    /// <summary>
    /// For h = o ⊙ y with y = tanh(a): dOutputPre = dh ⊙ y ⊙ o(1 − o) (the gradient at o's pre-activation) and
    /// dTanhArgument = dh ⊙ o ⊙ (1 − y²). Both overwritten.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
            ref T oRef = ref MemoryMarshal.GetReference(outputGate), yRef = ref MemoryMarshal.GetReference(tanhCell), dRef = ref MemoryMarshal.GetReference(dHidden);
            ref T dOutRef = ref MemoryMarshal.GetReference(dOutputPre), dArgRef = ref MemoryMarshal.GetReference(dTanhArgument);
            if (Vector512.IsHardwareAccelerated)
            {
                var one512 = Vector512<T>.One;   // the 256-bit loop's operations, 16 floats at a time: the same bits per lane
                for (; j <= hidden - Vector512<T>.Count; j += Vector512<T>.Count)
                {
                    nuint at = (nuint)j;
                    var o = Vector512.LoadUnsafe(ref oRef, at); var y = Vector512.LoadUnsafe(ref yRef, at); var d = Vector512.LoadUnsafe(ref dRef, at);
                    (d * y * o * (one512 - o)).StoreUnsafe(ref dOutRef, at);
                    (d * o * (one512 - y * y)).StoreUnsafe(ref dArgRef, at);
                }
            }
            for (; j <= hidden - Vector256<T>.Count; j += Vector256<T>.Count)
            {
                nuint at = (nuint)j;
                var o = Vector256.LoadUnsafe(ref oRef, at); var y = Vector256.LoadUnsafe(ref yRef, at); var d = Vector256.LoadUnsafe(ref dRef, at);
                (d * y * o * (one - o)).StoreUnsafe(ref dOutRef, at);
                (d * o * (one - y * y)).StoreUnsafe(ref dArgRef, at);
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
            ref T z = ref MemoryMarshal.GetReference(gates), dz = ref MemoryMarshal.GetReference(dGates);
            ref T cp = ref MemoryMarshal.GetReference(cellPrevious), dcRef = ref MemoryMarshal.GetReference(dCell), dcp = ref MemoryMarshal.GetReference(dCellPrevious);
            nuint h = (nuint)hidden;
            if (Vector512.IsHardwareAccelerated)
            {
                var one512 = Vector512<T>.One;   // the 256-bit loop's operations, 16 floats at a time: the same bits per lane
                for (; j <= hidden - Vector512<T>.Count; j += Vector512<T>.Count)
                {
                    nuint at = (nuint)j;
                    var i = Vector512.LoadUnsafe(ref z, at); var f = Vector512.LoadUnsafe(ref z, h + at);
                    var g = Vector512.LoadUnsafe(ref z, 2 * h + at); var dc = Vector512.LoadUnsafe(ref dcRef, at);
                    (dc * g * i * (one512 - i)).StoreUnsafe(ref dz, at);
                    (dc * Vector512.LoadUnsafe(ref cp, at) * f * (one512 - f)).StoreUnsafe(ref dz, h + at);
                    (dc * i * (one512 - g * g)).StoreUnsafe(ref dz, 2 * h + at);
                    (dc * f).StoreUnsafe(ref dcp, at);
                }
            }
            for (; j <= hidden - Vector256<T>.Count; j += Vector256<T>.Count)
            {
                nuint at = (nuint)j;
                var i = Vector256.LoadUnsafe(ref z, at); var f = Vector256.LoadUnsafe(ref z, h + at);
                var g = Vector256.LoadUnsafe(ref z, 2 * h + at); var dc = Vector256.LoadUnsafe(ref dcRef, at);
                (dc * g * i * (one - i)).StoreUnsafe(ref dz, at);
                (dc * Vector256.LoadUnsafe(ref cp, at) * f * (one - f)).StoreUnsafe(ref dz, h + at);
                (dc * i * (one - g * g)).StoreUnsafe(ref dz, 2 * h + at);
                (dc * f).StoreUnsafe(ref dcp, at);
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
    /// One backward step of a cell with a cell-state LayerNorm LN_c for one row, (B3), (B5) or (B6), (B7), (B8) in two
    /// vector passes, the same bits as <see cref="OutputBackward{T}"/>, then (carry) dCell + d(tanh arg) through
    /// LN_cᵀ (<see cref="LayerNormKernel.BackwardRow{T}"/>, overwriting) or (no carry) dCell + LN_cᵀ d(tanh arg), then
    /// <see cref="CellBackward{T}"/>. gates [4H] activations; tanhCell [H] the tanh of the normalized state;
    /// cellPrevious [H]; dHidden [H] the gradient at h; dCell [H] dc from the next step in, dc_prev out; dGates [4H]
    /// overwritten. LN_c: normalized [H] its x̂ for this row, rho its 1/σ, gamma [H], and its gradients dGamma, dBeta [H]
    /// accumulated. scratch [H]. Pass one: dO, d(tanh arg), LN_c's row sums and dγ, dβ; pass two: LN_cᵀ and the gate
    /// gradients. Needs <see cref="LayerNormKernel.HasRowKernels{T}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void NormalizedCellBackward<T>(ReadOnlySpan<T> gates, ReadOnlySpan<T> tanhCell, ReadOnlySpan<T> cellPrevious,
        ReadOnlySpan<T> dHidden, Span<T> dCell, Span<T> dGates, ReadOnlySpan<T> normalized, T rho, ReadOnlySpan<T> gamma,
        Span<T> dGamma, Span<T> dBeta, bool carry, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hidden = tanhCell.Length;
        if (gates.Length != 4 * hidden || dGates.Length != 4 * hidden || cellPrevious.Length != hidden || dHidden.Length != hidden
            || dCell.Length != hidden || normalized.Length != hidden || gamma.Length != hidden || dGamma.Length != hidden
            || dBeta.Length != hidden || scratch.Length < hidden || !LayerNormKernel.HasRowKernels<T>())
            throw new ArgumentException($"LstmGates.NormalizedCellBackward: expected gates [{4 * hidden}] and rows [{hidden}], on a machine with the LayerNorm row kernels.");
        ref T z = ref MemoryMarshal.GetReference(gates), dz = ref MemoryMarshal.GetReference(dGates), yRef = ref MemoryMarshal.GetReference(tanhCell);
        ref T cp = ref MemoryMarshal.GetReference(cellPrevious), dhRef = ref MemoryMarshal.GetReference(dHidden), dc = ref MemoryMarshal.GetReference(dCell);
        ref T nr = ref MemoryMarshal.GetReference(normalized), gr = ref MemoryMarshal.GetReference(gamma);
        ref T dgr = ref MemoryMarshal.GetReference(dGamma), dbr = ref MemoryMarshal.GetReference(dBeta), dyr = ref MemoryMarshal.GetReference(scratch);
        int lanes = Vector256<T>.Count, last = hidden - lanes;
        nuint h = (nuint)hidden;
        Vector256<T> one = Vector256<T>.One;

        // Pass one: (B3) dO and d(tanh arg) as OutputBackward; dy = d(tanh arg) (+ dc_next with carry); LN_c's sums.
        Vector256<T> sumV = Vector256<T>.Zero, sumXV = Vector256<T>.Zero;
        int j = 0;
        for (; j <= last; j += lanes)
        {
            nuint at = (nuint)j;
            Vector256<T> o = Vector256.LoadUnsafe(ref z, 3 * h + at), y = Vector256.LoadUnsafe(ref yRef, at), d = Vector256.LoadUnsafe(ref dhRef, at);
            (d * y * o * (one - o)).StoreUnsafe(ref dz, 3 * h + at);
            Vector256<T> dy = d * o * (one - y * y);
            if (carry) dy = Vector256.LoadUnsafe(ref dc, at) + dy;
            dy.StoreUnsafe(ref dyr, at);
            Vector256<T> xHat = Vector256.LoadUnsafe(ref nr, at);
            (Vector256.LoadUnsafe(ref dgr, at) + dy * xHat).StoreUnsafe(ref dgr, at);
            (Vector256.LoadUnsafe(ref dbr, at) + dy).StoreUnsafe(ref dbr, at);
            Vector256<T> dxHat = dy * Vector256.LoadUnsafe(ref gr, at);
            sumV += dxHat;
            sumXV += dxHat * xHat;
        }
        T sumDxHat = Vector256.Sum(sumV), sumDxHatXHat = Vector256.Sum(sumXV);
        for (; j < hidden; j++)
        {
            T o = Unsafe.Add(ref z, 3 * hidden + j), y = Unsafe.Add(ref yRef, j), d = Unsafe.Add(ref dhRef, j);
            Unsafe.Add(ref dz, 3 * hidden + j) = d * y * o * (T.One - o);
            T dy = d * o * (T.One - y * y);
            if (carry) dy = Unsafe.Add(ref dc, j) + dy;
            Unsafe.Add(ref dyr, j) = dy;
            T xHat = Unsafe.Add(ref nr, j);
            Unsafe.Add(ref dgr, j) += dy * xHat;
            Unsafe.Add(ref dbr, j) += dy;
            T dxHat = dy * Unsafe.Add(ref gr, j);
            sumDxHat += dxHat;
            sumDxHatXHat += dxHat * xHat;
        }

        // Pass two: (B5)/(B6) dc = LN_cᵀ dy (+ dc_next without carry), then (B7) and (B8) as CellBackward.
        T n = T.CreateTruncating(hidden);
        T meanDxHat = sumDxHat / n, meanDxHatXHat = sumDxHatXHat / n;
        Vector256<T> rhoV = Vector256.Create(rho), meanV = Vector256.Create(meanDxHat), meanXV = Vector256.Create(meanDxHatXHat);
        for (j = 0; j <= last; j += lanes)
        {
            nuint at = (nuint)j;
            Vector256<T> dxHat = Vector256.LoadUnsafe(ref dyr, at) * Vector256.LoadUnsafe(ref gr, at);
            Vector256<T> term = dxHat - meanV - Vector256.LoadUnsafe(ref nr, at) * meanXV;
            Vector256<T> previous = carry ? Vector256<T>.Zero : Vector256.LoadUnsafe(ref dc, at);
            Vector256<T> dcv = previous + rhoV * term;                                                   // (L4)
            Vector256<T> i = Vector256.LoadUnsafe(ref z, at), f = Vector256.LoadUnsafe(ref z, h + at), g = Vector256.LoadUnsafe(ref z, 2 * h + at);
            (dcv * g * i * (one - i)).StoreUnsafe(ref dz, at);
            (dcv * Vector256.LoadUnsafe(ref cp, at) * f * (one - f)).StoreUnsafe(ref dz, h + at);
            (dcv * i * (one - g * g)).StoreUnsafe(ref dz, 2 * h + at);
            (dcv * f).StoreUnsafe(ref dc, at);
        }
        for (; j < hidden; j++)
        {
            T previous = carry ? T.Zero : Unsafe.Add(ref dc, j);
            T dcs = previous + rho * (Unsafe.Add(ref dyr, j) * Unsafe.Add(ref gr, j) - meanDxHat - Unsafe.Add(ref nr, j) * meanDxHatXHat);
            T i = Unsafe.Add(ref z, j), f = Unsafe.Add(ref z, hidden + j), g = Unsafe.Add(ref z, 2 * hidden + j);
            Unsafe.Add(ref dz, j) = dcs * g * i * (T.One - i);
            Unsafe.Add(ref dz, hidden + j) = dcs * Unsafe.Add(ref cp, j) * f * (T.One - f);
            Unsafe.Add(ref dz, 2 * hidden + j) = dcs * i * (T.One - g * g);
            Unsafe.Add(ref dc, j) = dcs * f;
        }
    }

    /// <summary>
    /// One backward step of the plain cell (h = o ⊙ tanh(c)) for one row, (B3), (B4), (B7), (B8) in one pass:
    /// gates [4H] activations, tanhCell = tanh(c) [H], cellPrevious [H], dHidden [H] the total gradient at h;
    /// dCell [H] holds dc from the next step on entry and dc_prev on return; dGates [4H] is overwritten with the
    /// pre-activation gradients of i, f, g, o.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
            ref T z = ref MemoryMarshal.GetReference(gates), dz = ref MemoryMarshal.GetReference(dGates), yRef = ref MemoryMarshal.GetReference(tanhCell);
            ref T cp = ref MemoryMarshal.GetReference(cellPrevious), dhRef = ref MemoryMarshal.GetReference(dHidden), dcRef = ref MemoryMarshal.GetReference(dCell);
            nuint h = (nuint)hidden;
            if (Vector512.IsHardwareAccelerated)
            {
                // The same operations on 512 bits where AVX-512 runs natively: each lane's bits are the 256-bit loop's.
                var one512 = Vector512<T>.One;
                for (; j <= hidden - Vector512<T>.Count; j += Vector512<T>.Count)
                {
                    nuint at = (nuint)j;
                    PrefetchStepBackward(ref z, ref yRef, ref cp, ref dhRef, ref dcRef, ref dz, h, at);
                    var i = Vector512.LoadUnsafe(ref z, at); var f = Vector512.LoadUnsafe(ref z, h + at);
                    var g = Vector512.LoadUnsafe(ref z, 2 * h + at); var o = Vector512.LoadUnsafe(ref z, 3 * h + at);
                    var y = Vector512.LoadUnsafe(ref yRef, at); var dh = Vector512.LoadUnsafe(ref dhRef, at);
                    var dc = Vector512.LoadUnsafe(ref dcRef, at) + dh * o * (one512 - y * y);
                    (dc * g * i * (one512 - i)).StoreUnsafe(ref dz, at);
                    (dc * Vector512.LoadUnsafe(ref cp, at) * f * (one512 - f)).StoreUnsafe(ref dz, h + at);
                    (dc * i * (one512 - g * g)).StoreUnsafe(ref dz, 2 * h + at);
                    (dh * y * o * (one512 - o)).StoreUnsafe(ref dz, 3 * h + at);
                    (dc * f).StoreUnsafe(ref dcRef, at);
                }
            }
            for (; j <= hidden - Vector256<T>.Count; j += Vector256<T>.Count)
            {
                nuint at = (nuint)j;
                PrefetchStepBackward(ref z, ref yRef, ref cp, ref dhRef, ref dcRef, ref dz, h, at);
                var i = Vector256.LoadUnsafe(ref z, at); var f = Vector256.LoadUnsafe(ref z, h + at);
                var g = Vector256.LoadUnsafe(ref z, 2 * h + at); var o = Vector256.LoadUnsafe(ref z, 3 * h + at);
                var y = Vector256.LoadUnsafe(ref yRef, at); var dh = Vector256.LoadUnsafe(ref dhRef, at);
                var dc = Vector256.LoadUnsafe(ref dcRef, at) + dh * o * (one - y * y);
                (dc * g * i * (one - i)).StoreUnsafe(ref dz, at);
                (dc * Vector256.LoadUnsafe(ref cp, at) * f * (one - f)).StoreUnsafe(ref dz, h + at);
                (dc * i * (one - g * g)).StoreUnsafe(ref dz, 2 * h + at);
                (dh * y * o * (one - o)).StoreUnsafe(ref dz, 3 * h + at);
                (dc * f).StoreUnsafe(ref dcRef, at);
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

    // The twelve streams StepBackward reads and writes at column at, Prefetch.DistanceBytes ahead (Prefetch.Ahead): the
    // rows it reads were stored by the forward pass a whole loop earlier, and the gradient rows it writes are new.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchStepBackward<T>(ref T z, ref T y, ref T cp, ref T dh, ref T dc, ref T dz, nuint h, nuint at) where T : unmanaged
    {
        Prefetch.Ahead(ref z, at); Prefetch.Ahead(ref z, h + at); Prefetch.Ahead(ref z, 2 * h + at); Prefetch.Ahead(ref z, 3 * h + at);
        Prefetch.Ahead(ref y, at); Prefetch.Ahead(ref cp, at); Prefetch.Ahead(ref dh, at); Prefetch.Ahead(ref dc, at);
        Prefetch.Ahead(ref dz, at); Prefetch.Ahead(ref dz, h + at); Prefetch.Ahead(ref dz, 2 * h + at); Prefetch.Ahead(ref dz, 3 * h + at);
    }
}
