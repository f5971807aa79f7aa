using NumLstm.Kernels;

namespace NumLstm.Layers;

// Streaming steps of a plain float cell on two cores. At batch 1 a step is a GEMV over U (4H × H) and W, bound by how
// fast one core reads them from its L2; split by hidden units, each core reads half. The hidden units [0, m) run on the
// calling thread and [m, H) on the engine's second core (PairedWork): each half reads all of h_{t−1} and writes only its
// own columns of z (the four gate blocks), of c and of h_t, which goes to a second buffer copied back after both halves,
// so the halves share nothing they write. Every column is computed as in one pass (DotGemm's fixed dot-product order,
// the same gate arithmetic), so the result is bitwise the same on one thread or two.
public sealed partial class Lstm<T>
{
    /// <summary>Above this many multiply-adds per step (B·4H·H) a streaming step of a plain float cell splits its hidden units over two cores.</summary>
    internal const long ColumnSplitThreshold = 1L << 15;

    /// <summary>Whether streaming steps may split over two cores (tests turn it off to compare).</summary>
    internal bool StreamingColumnSplit { get; set; } = true;

    internal bool CanSplitColumns(int batch)
        => typeof(T) == typeof(float) && FastMath.IsSupported && CellNormalization.IsNone && StreamingColumnSplit && PairedWork.HasSecondCore
            && ColumnSplitPoint(Units) > 0 && (long)batch * 4 * Units * Units >= ColumnSplitThreshold;

    /// <summary>The first hidden unit of the second half: half of H rounded down to a whole vector of eight.</summary>
    internal static int ColumnSplitPoint(int h) => h / 2 / 8 * 8;

    /// <summary>One streaming step split by hidden units, as a reusable job; the spans as addresses pinned by the caller.</summary>
    internal sealed unsafe class ColumnSplitJob : IPairedJob
    {
        private Lstm<T>? layer;
        private int batch, time, tIn, projectionLength, maskLength;
        private T* input, inputWeights, projection, hidden, hiddenNext, cell, tanhCell, recurrent;
        private bool* mask;

        public void Set(Lstm<T> owner, int batchSize, int steps, int inputTime, T* x, T* w, T* projectionRows, int projectionRowsLength, T* hPrevious,
            T* hNext, T* cells, T* tanhRow, T* u, bool* stepMask, int stepMaskLength)
        {
            layer = owner; batch = batchSize; time = steps; tIn = inputTime; input = x; inputWeights = w;
            projection = projectionRows; projectionLength = projectionRowsLength;
            hidden = hPrevious; hiddenNext = hNext; cell = cells; tanhCell = tanhRow; recurrent = u;
            mask = stepMask; maskLength = stepMaskLength;
        }

        public void RunPart(int part)
        {
            int h = layer!.Units, g = 4 * h, split = ColumnSplitPoint(h);
            int j0 = part == 0 ? 0 : split, j1 = part == 0 ? split : h, count = j1 - j0;
            var hPrev = new ReadOnlySpan<T>(hidden, batch * h);
            var u = new ReadOnlySpan<T>(recurrent, g * h);
            int f = layer.InputFeatures;
            var x = new ReadOnlySpan<T>(input, batch * time * f);
            var w = new ReadOnlySpan<T>(inputWeights, g * f);
            var z = new Span<T>(projection, projectionLength);
            // (S1) z[·, k·H + j] (holding b) += x_t · W[k·H + j, ·], then (S2) += h_{t−1} · U[k·H + j, ·] for this half's units j,
            // one product per gate block: each element's sums in the order one whole-row product takes.
            for (int k = 0; k < 4; k++)
            {
                Span<T> zBlock = z.Slice(tIn * g + k * h + j0);
                DotGemm.MultiplyAddTransposed(batch, count, f, x.Slice(tIn * f), time * f, w.Slice((k * h + j0) * f, count * f), f, zBlock, time * g);
                DotGemm.MultiplyAddTransposed(batch, count, h, hPrev, h, u.Slice((k * h + j0) * h, count * h), h, zBlock, time * g);
            }
            Span<float> zf = MemoryMarshal.Cast<T, float>(z), tanhRow = new Span<float>(tanhCell, h);
            for (int bi = 0; bi < batch; bi++)
            {
                Span<float> cRow = new Span<float>((float*)cell + bi * h, h), hNextRow = new Span<float>((float*)hiddenNext + bi * h, h);
                if (maskLength == 0 || mask[bi * time + tIn])
                    LstmGates.ForwardStepColumns(zf.Slice((bi * time + tIn) * g, g), cRow, cRow, tanhRow, hNextRow, h, j0, j1);   // (S4)–(S7)
                else
                    new ReadOnlySpan<float>((float*)hidden + bi * h + j0, count).CopyTo(hNextRow.Slice(j0, count));                // (S9) h carried
            }
        }
    }
}
