using NumLstm.Kernels;

namespace NumLstm.Layers;

// The two-core time loop of a plain cell with each step's recurrent product split by slivers of U instead of by rows:
// both cores take every row, each its own half of U's slivers, and the core done first takes what is left of the
// other's (SliverClaims, GemmPacked.MultiplyClaimedSlivers). Split by rows (Lstm.RowSplit.cs) each core reads all of U
// at every step (LSTM(512)'s packed U is 4 MB, twice a core's L2 on the Intel machine); split by slivers each reads
// about half, and a core slowed by the host no longer holds the step to twice its half. The gate passes stay split by
// rows, so a step is two hand-offs: forward the product (z += h_{s−1} · Uᵀ) then the gates of each core's rows;
// backward the gates, then the product (dh += dA_s · U). Every element gets the operations it gets on one thread, in
// the same order (each sliver's FMA chains k block after k block, the rows' gate arithmetic), so the result is bitwise
// the one-thread result (LstmThreadingTests).
//   Measured on the Intel machine in one process, steps alternated with the row split's (docs/performance.md, sitting
// 41): W4's whole training step 0.923–0.950 of the row split's time (medians of three runs of 60 paired steps, 50–53
// faster), one LSTM(512) layer's forward and backward at B = 32, T = 100 0.958–0.969. Tried before this and not kept:
// fixed halves of the hidden units (each core its units' columns of the four gates, packed as column groups). With the
// gate passes split by units too, the products were 6–8 % faster but the gate passes 35–40 % slower (each core's share
// of a row in four pieces); with the gate passes by rows, as here, W4 and the layer were level (0.95–1.00).
public sealed partial class Lstm<T>
{
    /// <summary>Whether a training time loop split over two cores may split its step products by slivers of U (tests turn it off to compare).</summary>
    internal bool ClaimedStepProducts { get; set; } = true;

    /// <summary>
    /// From this many multiply-adds per step (B·4H²) a time loop split over two cores splits its step products by
    /// slivers. Measured (one layer's forward and backward, T = 100, medians of 40–60 paired calls, slivers / rows):
    /// H × B = 512 × 32 (33.6 M) 0.958 and 0.969, 256 × 64 (16.8 M) 0.975; 256 × 32 (8.4 M) 1.002, 192 × 48 (7.1 M) 1.004,
    /// 128 × 96 (6.3 M) 1.018, 128 × 32 (2.1 M) 1.021: below, a step's two hand-offs and its claims cost about what
    /// they save, and U (1 MB at H = 256 in float) stays in a core's L2 either way.
    /// </summary>
    internal const long ClaimedStepsThreshold = 1L << 24;

    /// <summary>
    /// Whether this batch's time loop (split over two cores, <see cref="SplitRows"/>) splits its step products by slivers
    /// of U: a plain cell without recurrent dropout, at least <see cref="ClaimedStepsThreshold"/> multiply-adds a step,
    /// the batch at most one packed row block, H and 4H whole slivers at 512 bits (<see cref="GemmPacked.CanClaimSlivers{T}"/>).
    /// </summary>
    internal bool ClaimsSteps(int batchSize, int h, bool recurrentDropout)
        => ClaimedStepProducts && !recurrentDropout && CellNormalization.IsNone && (long)batchSize * 4 * h * h >= ClaimedStepsThreshold
            && GemmPacked.CanClaimSlivers<T>(batchSize, 4 * h, h) && GemmPacked.CanClaimSlivers<T>(batchSize, h, 4 * h);

    /// <summary>
    /// A step of the time loop as a reusable job run twice per step (in the cache, so a step hands off without
    /// allocating): the product by slivers, and the gate pass by rows. The layer, the cache and the caller's spans as
    /// addresses pinned by the caller for the whole loop.
    /// </summary>
    internal sealed unsafe class ClaimedStepJob : IPairedJob
    {
        private Lstm<T>? layer;
        private LstmCache<T>? cache;
        private bool backward, product;
        private int spanLength, maskLength;
        private void* span;   // forward: output [B, T, H] or [B, H]; backward: output gradient (same shape)
        private bool* mask;   // forward: mask [B, T] or empty
        private readonly SliverClaims claims = new();

        /// <summary>Processing step the next <see cref="RunStep"/> computes.</summary>
        public int Step;

        public void SetForward(Lstm<T> owner, LstmCache<T> c, T* output, int outputLength, bool* inputMask, int inputMaskLength)
        {
            layer = owner; cache = c; backward = false;
            span = output; spanLength = outputLength; mask = inputMask; maskLength = inputMaskLength;
        }

        public void SetBackward(Lstm<T> owner, LstmCache<T> c, T* outputGradient, int outputGradientLength)
        {
            layer = owner; cache = c; backward = true;
            span = outputGradient; spanLength = outputGradientLength; mask = null; maskLength = 0;
        }

        /// <summary>Step <see cref="Step"/>: forward the product, then the gates; backward the gates, then the product.</summary>
        public void RunStep()
        {
            int h = layer!.Units, nr = GemmPacked.SliverWidth<T>();
            product = !backward;
            if (product) claims.Reset(4 * h / nr);
            PairedWork.Run(this);
            product = backward;
            if (product) claims.Reset(h / nr);
            PairedWork.Run(this);
        }

        public void RunPart(int part)
        {
            LstmCache<T> c = cache!;
            int batch = c.Batch, h = layer!.Units, g = 4 * h;
            if (product)
            {
                if (!backward)   // (S2) z (holding Ax + b) += h_{s−1} · Uᵀ
                    GemmPacked.MultiplyClaimedSlivers<T>(batch, g, h, c.HiddenStates.AsSpan(Step * batch * h, batch * h), h, c.PackedWeights,
                        c.Gates.AsSpan(Step * batch * g, batch * g), g, claims, part);
                else             // (B1) dh_prev += dA_s · U (inactive rows have dA = 0 and keep their dh)
                    GemmPacked.MultiplyClaimedSlivers<T>(batch, h, g, c.DGates.AsSpan(Step * batch * g, batch * g), g, c.PackedWeights,
                        c.DHidden.AsSpan(0, batch * h), h, claims, part);
                return;
            }
            int rows = (batch + 1) / 2, b0 = part * rows, b1 = Math.Min(batch, b0 + rows);
            if (!backward)
                layer.ForwardStep(c, Step, b0, b1, new ReadOnlySpan<bool>(mask, maskLength), new Span<T>(span, spanLength), recurrentDropout: false,
                    panel: 0, split: false, productDone: true);
            else
                layer.BackwardStep(c, Step, b0, b1, new ReadOnlySpan<T>(span, spanLength), panel: 0, split: false, part, productApart: true);
        }
    }
}

public sealed partial class LstmCache<T>
{
    /// <summary>The sliver-claiming step job of this cache's time loops (created on first use).</summary>
    internal Lstm<T>.ClaimedStepJob? ClaimedSteps;
}
