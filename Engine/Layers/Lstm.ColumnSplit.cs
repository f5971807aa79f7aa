using System.Numerics.Tensors;
using NumLstm.Kernels;

namespace NumLstm.Layers;

// Streaming steps of a plain float cell on two cores. At batch 1 a step is a GEMV over U (4H × H) and W, bound by how
// fast one core reads them from its L2; split by hidden units, each core reads half. The hidden units [0, m) run on the
// calling thread and [m, H) on the engine's second core (PairedWork): each half reads all of h_{t−1} and writes only its
// own columns of z (the four gate blocks), of c and of h_t, which goes to a second buffer copied back after both halves,
// so the halves share nothing they write. Every column is computed as in one pass (DotGemm's fixed dot-product order,
// the same gate arithmetic), so the result is bitwise the same on one thread or two.
// Inference plans at small batch split the same way with packed products: each half keeps Uᵀ's columns of its units
// (four gate blocks side by side, GemmPacked.PackColumnGroups), takes h_{t−1} times them into a scratch row block by KC
// block, and adds each block's sums into z as the whole-row product adds them, so the plan's result is bitwise the same
// split or not.
public sealed partial class Lstm<T>
{
    /// <summary>Above this many multiply-adds per step (B·4H·H) a streaming step of a plain float cell splits its hidden units over two cores.</summary>
    internal const long ColumnSplitThreshold = 1L << 15;

    /// <summary>Whether steps may split their hidden units over two cores: streaming steps, and small-batch plan steps (tests turn it off to compare).</summary>
    internal bool StepColumnSplit { get; set; } = true;

    internal bool CanSplitColumns(int batch)
        => typeof(T) == typeof(float) && FastMath.IsSupported && CellNormalization.IsNone && StepColumnSplit && PairedWork.HasSecondCore
            && ColumnSplitPoint(Units) > 0 && (long)batch * 4 * Units * Units >= ColumnSplitThreshold;

    /// <summary>The first hidden unit of the second half: half of H rounded down to a whole vector of eight.</summary>
    internal static int ColumnSplitPoint(int h) => h / 2 / 8 * 8;

    /// <summary>
    /// The packed plan step's split: half of H rounded up to a whole vector of eight, so the calling thread, which starts
    /// first, takes the larger half and the worker, which starts later and fetches h_{t−1} from the other core, the smaller.
    /// </summary>
    internal static int PackedSplitPoint(int h)
    {
        int up = (h / 2 + 7) / 8 * 8;
        return up < h ? up : ColumnSplitPoint(h);
    }

    /// <summary>Up to this batch a plan's steps may split their hidden units over two cores.</summary>
    internal const int PackedColumnSplitMaxBatch = 4;

    /// <summary>
    /// From this many multiply-adds per step (B·4H·H) a plan's step splits over two cores. Below it the hand-off, which
    /// on this kind of VM takes 0.3 µs in good stretches and 2–4 µs in bad ones, can cost more than the half product
    /// saves: one LSTM at batch 1 measured 2 % faster to 48 % slower at H = 100 and 128, and 4–25 % faster at
    /// H = 200, 17 % at 256, 31 % at 512 (docs/performance.md).
    /// </summary>
    internal const long PackedColumnSplitThreshold = 150_000;

    /// <summary>Whether this cell's plan buffers carry the per-half packed U (float, plain cell, wide enough to split at some batch ≤ 4).</summary>
    internal bool MaySplitPackedColumns
        => typeof(T) == typeof(float) && FastMath.IsSupported && CellNormalization.IsNone && PairedWork.MachineHasSecondCore
            && ColumnSplitPoint(Units) > 0 && (long)PackedColumnSplitMaxBatch * 4 * Units * Units >= PackedColumnSplitThreshold && GemmPacked.HasPackedLayout<T>()
            && PackedHalf(Units, 1).Width <= GemmPacked.NC;

    /// <summary>Whether a plan step at this batch splits its hidden units over two cores, given buffers that carry the halves.</summary>
    internal bool CanSplitPackedColumns(int batch, LstmInferenceBuffers<T> buffers)
        => buffers.PackedRecurrentHalves.Length > 0 && buffers.AllowColumnSplit && batch <= PackedColumnSplitMaxBatch && CanSplitColumns(batch)
            && (long)batch * 4 * Units * Units >= PackedColumnSplitThreshold;

    /// <summary>
    /// Where half part's packed Uᵀ columns sit in <see cref="LstmInferenceBuffers{T}.PackedRecurrentHalves"/>, and their
    /// width n' (four gate blocks of the half's units, each padded to a whole sliver).
    /// </summary>
    internal static (int Offset, int Width) PackedHalf(int h, int part)
    {
        int split = PackedSplitPoint(h), nr = GemmPacked.SliverWidth<T>();
        int lowWidth = 4 * RoundUp(split, nr), highWidth = 4 * RoundUp(h - split, nr);
        return part == 0 ? (0, lowWidth) : (h * lowWidth, highWidth);
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Elements the packed halves take.</summary>
    internal static int PackedHalvesLength(int h) => h * (PackedHalf(h, 0).Width + PackedHalf(h, 1).Width);

    /// <summary>Elements of the scratch rows the two halves' products go to ([batch, n'] each).</summary>
    internal static int HalfProductsLength(int h, int maxBatch) => Math.Min(maxBatch, PackedColumnSplitMaxBatch) * (PackedHalf(h, 0).Width + PackedHalf(h, 1).Width);

    /// <summary>Packs Uᵀ's columns of each half's units, the four gate blocks side by side.</summary>
    internal void PackRecurrentHalves(Span<T> halves)
    {
        int h = Units, split = PackedSplitPoint(h);
        for (int part = 0; part < 2; part++)
        {
            (int offset, int width) = PackedHalf(h, part);
            GemmPacked.PackColumnGroups(h, weightHh!.Value, h, groups: 4, groupStride: h, col0: part == 0 ? 0 : split,
                count: part == 0 ? split : h - split, halves.Slice(offset, h * width));
        }
    }

    /// <summary>One streaming step split by hidden units, as a reusable job; the spans as addresses pinned by the caller.</summary>
    internal sealed unsafe class ColumnSplitJob : IPairedJob
    {
        private Lstm<T>? layer;
        private int batch, time, tIn, projectionLength, maskLength, halvesLength, productsLength;
        private T* input, inputWeights, projection, hidden, hiddenNext, cell, tanhCell, recurrent, packedHalves, halfProducts;
        private bool* mask;

        /// <summary>The packed form: z already holds Ax + b, and h_{t−1}·Uᵀ comes from the per-half packed blocks.</summary>
        public void SetPacked(Lstm<T> owner, int batchSize, int steps, int inputTime, T* projectionRows, int projectionRowsLength, T* hPrevious,
            T* hNext, T* cells, T* tanhRow, T* halves, int halvesCount, T* products, int productsCount, bool* stepMask, int stepMaskLength)
        {
            Set(owner, batchSize, steps, inputTime, null, null, projectionRows, projectionRowsLength, hPrevious, hNext, cells, tanhRow, null,
                stepMask, stepMaskLength);
            packedHalves = halves; halvesLength = halvesCount; halfProducts = products; productsLength = productsCount;
        }

        public void Set(Lstm<T> owner, int batchSize, int steps, int inputTime, T* x, T* w, T* projectionRows, int projectionRowsLength, T* hPrevious,
            T* hNext, T* cells, T* tanhRow, T* u, bool* stepMask, int stepMaskLength)
        {
            layer = owner; batch = batchSize; time = steps; tIn = inputTime; input = x; inputWeights = w;
            projection = projectionRows; projectionLength = projectionRowsLength;
            hidden = hPrevious; hiddenNext = hNext; cell = cells; tanhCell = tanhRow; recurrent = u;
            mask = stepMask; maskLength = stepMaskLength;
            packedHalves = null; halvesLength = 0;
        }

        public void RunPart(int part)
        {
            int h = layer!.Units, g = 4 * h, split = packedHalves != null ? PackedSplitPoint(h) : ColumnSplitPoint(h);
            int j0 = part == 0 ? 0 : split, j1 = part == 0 ? split : h, count = j1 - j0;
            var hPrev = new ReadOnlySpan<T>(hidden, batch * h);
            var z = new Span<T>(projection, projectionLength);
            if (packedHalves != null)
            {
                // (S2) z[·, k·H + j] (holding Ax + b) += h_{t−1} · Uᵀ[·, k·H + j] for this half's units: per KC block of H,
                // the block's sums into the scratch rows, then added into z, as the whole-row product adds each block's sums.
                (int offset, int width) = PackedHalf(h, part);
                int groupWidth = width / 4;
                var packed = new ReadOnlySpan<T>(packedHalves, halvesLength).Slice(offset, h * width);
                var products = new Span<T>(halfProducts, productsLength).Slice(part == 0 ? 0 : batch * PackedHalf(h, 0).Width, batch * width);
                for (int pc = 0; pc < h; pc += GemmPacked.KC)
                {
                    int kc = Math.Min(GemmPacked.KC, h - pc);
                    Gemm.MultiplyPacked(Transpose.No, batch, width, kc, T.One, hPrev.Slice(pc), h, packed.Slice(pc * width, kc * width), T.Zero,
                        products, width);
                    for (int bi = 0; bi < batch; bi++)
                        for (int k = 0; k < 4; k++)
                        {
                            Span<T> zPart = z.Slice((bi * time + tIn) * g + k * h + j0, count);
                            TensorPrimitives.Add(zPart, products.Slice(bi * width + k * groupWidth, count), zPart);
                        }
                }
            }
            else
            {
                var u = new ReadOnlySpan<T>(recurrent, g * h);
                int f = layer.InputFeatures;
                var x = new ReadOnlySpan<T>(input, batch * time * f);
                var w = new ReadOnlySpan<T>(inputWeights, g * f);
                // (S1) z[·, k·H + j] (holding b) += x_t · W[k·H + j, ·], then (S2) += h_{t−1} · U[k·H + j, ·] for this half's units j,
                // one product per gate block: each element's sums in the order one whole-row product takes.
                for (int k = 0; k < 4; k++)
                {
                    Span<T> zBlock = z.Slice(tIn * g + k * h + j0);
                    DotGemm.MultiplyAddTransposed(batch, count, f, x.Slice(tIn * f), time * f, w.Slice((k * h + j0) * f, count * f), f, zBlock, time * g);
                    DotGemm.MultiplyAddTransposed(batch, count, h, hPrev, h, u.Slice((k * h + j0) * h, count * h), h, zBlock, time * g);
                }
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
