using NumLstm.Kernels;

namespace NumLstm.Layers;

// The two-core time loop of a plain cell: each step's rows [0, half) run on the calling thread and [half, B) on the
// engine's second core (PairedWork). The job object lives in the cache, so a step hands off without allocating.
public sealed partial class Lstm<T>
{
    /// <summary>
    /// One step of the time loop split by rows, as a reusable job: the layer, the cache and the step's arguments as
    /// fields; the caller's spans (mask, output, output gradient) as addresses pinned by the caller for the whole loop.
    /// </summary>
    internal sealed unsafe class RowSplitJob : IPairedJob
    {
        private Lstm<T>? layer;
        private LstmCache<T>? cache;
        private bool backward, recurrentDropout;
        private int half, panel, spanLength, maskLength;
        private void* span;   // forward: output [B, T, H] or [B, H]; backward: output gradient (same shape)
        private bool* mask;   // forward: mask [B, T] or empty

        /// <summary>Processing step the next <see cref="PairedWork.Run"/> computes.</summary>
        public int Step;

        public void SetForward(Lstm<T> owner, LstmCache<T> c, T* output, int outputLength, bool* inputMask, int inputMaskLength,
            bool withRecurrentDropout, int panelLength)
        {
            layer = owner; cache = c; backward = false; half = (c.Batch + 1) / 2;
            span = output; spanLength = outputLength; mask = inputMask; maskLength = inputMaskLength;
            recurrentDropout = withRecurrentDropout; panel = panelLength;
        }

        public void SetBackward(Lstm<T> owner, LstmCache<T> c, T* outputGradient, int outputGradientLength, int panelLength)
        {
            layer = owner; cache = c; backward = true; half = (c.Batch + 1) / 2;
            span = outputGradient; spanLength = outputGradientLength; mask = null; maskLength = 0;
            recurrentDropout = c.RecurrentDropoutActive; panel = panelLength;
        }

        public void RunPart(int part)
        {
            int b0 = part * half, b1 = Math.Min(cache!.Batch, b0 + half);
            if (!backward)
                layer!.ForwardStep(cache, Step, b0, b1, new ReadOnlySpan<bool>(mask, maskLength), new Span<T>(span, spanLength), recurrentDropout, panel, false);
            else
                layer!.BackwardStep(cache, Step, b0, b1, new ReadOnlySpan<T>(span, spanLength), panel, false, part);
        }
    }
}

public sealed partial class LstmCache<T>
{
    /// <summary>The row-split step job of this cache's time loops (created on first use).</summary>
    internal Lstm<T>.RowSplitJob? RowSplit;
}
