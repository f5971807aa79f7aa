using NumLstm.Layers;

namespace NumLstm.Models;

/// <summary>
/// Stateful streaming inference (Keras stateful=True): feed a sequence a step (or a chunk) at a time; the LSTM states
/// are kept inside the session between calls until <see cref="Reset"/>. Each call returns the model's output at every
/// step it was fed: for a model whose last recurrent layer returns sequences, the output at that step; for one whose last
/// recurrent layer returns only its last output, the output the model would give if the sequence ended at that step.
/// After the first call, Step and StepChunk allocate nothing. Sessions own all their buffers and only read the model, so
/// many sessions can serve one model from different threads (one thread per session at a time: a call while another runs
/// throws InvalidOperationException; do not train the model meanwhile). A Bidirectional layer or a goBackwards LSTM needs the whole sequence and cannot stream.
/// Masks come only from a Masking layer in the model: a step whose values all equal its mask value keeps every LSTM's
/// state (as a Keras stateful LSTM skips it) and outputs what the LSTM's zero_output_for_mask says. Dropout off.
/// With the model's <see cref="Sequential{T}.NonFiniteInputs"/> = Reject, a step or chunk holding a NaN or infinity throws
/// (naming the stream, the step within the call and the feature) before the state moves.
/// By default a session reads the model's parameters at every call, so it always sees the current weights. With
/// <c>packWeightsOnce</c> it copies every LSTM's W and U into a layout its step reads faster (one sequential stream)
/// when it is created and when <see cref="RefreshWeights"/> is called, and uses those copies until then; the results
/// are bitwise the same as without.
/// </summary>
public sealed class StreamingSession<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public const int DefaultMaxChunk = 64;
    private readonly InferenceRunner<T> runner;

    /// <param name="model">The model to stream through (read only).</param>
    /// <param name="batch">Independent streams advanced together (B).</param>
    /// <param name="maxChunk">The most steps one <see cref="StepChunk"/> call may feed.</param>
    /// <param name="packWeightsOnce">Copy every LSTM's input and recurrent weight matrices (W, U) now into the layout
    /// the step reads fastest, and keep the copies: a step of LSTM(32→128) at batch 1 reads 320 KB of weights, and the
    /// copy lets it read them as one stream. Changes to those matrices after this (training, loading weights) are not
    /// seen until <see cref="RefreshWeights"/>; biases, LayerNorm and Dense parameters are still read at every call.</param>
    public StreamingSession(Sequential<T> model, int batch = 1, int maxChunk = DefaultMaxChunk, bool packWeightsOnce = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (Layer<T> layer in model.Layers)
        {
            if (layer is Bidirectional<T>)
                throw new NotSupportedException($"Layer '{layer.Name}' is Bidirectional: its backward direction needs the whole sequence, so the model cannot stream. Use an InferencePlan instead.");
            if (layer is Lstm<T> { GoBackwards: true })
                throw new NotSupportedException($"LSTM '{layer.Name}' has goBackwards: it reads the sequence from the end, so the model cannot stream. Use an InferencePlan instead.");
        }
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "A session's batch size must be positive.");
        if (maxChunk <= 0) throw new ArgumentOutOfRangeException(nameof(maxChunk), maxChunk, "A session's maximum chunk length must be positive.");
        runner = new InferenceRunner<T>(model, batch, maxChunk, streaming: true, packWeightsOnce, nameof(batch), nameof(maxChunk));
        PacksWeightsOnce = packWeightsOnce;
    }

    /// <summary>Whether the session keeps copies of W and U between calls (see the constructor's packWeightsOnce).</summary>
    public bool PacksWeightsOnce { get; }

    /// <summary>
    /// Copies every LSTM's W and U again from the model's current parameters, for a session made with packWeightsOnce
    /// after those changed. Keeps the state (use <see cref="Reset"/> to forget it). Allocates nothing. A session
    /// without packWeightsOnce reads the current weights at every call, so this does nothing there.
    /// </summary>
    public void RefreshWeights() => runner.RefreshWeights();

    /// <summary>The engine under the session (tests reach the layers' buffers through it).</summary>
    internal InferenceRunner<T> Runner => runner;

    public Sequential<T> Model => runner.Model;
    /// <summary>B: the number of streams.</summary>
    public int Batch => runner.MaxBatch;
    public int MaxChunk => runner.MaxTime;
    public int InputFeatures => runner.Model.InputFeatures;
    public int OutputFeatures => runner.Model.OutputFeatures;
    /// <summary>Steps fed since creation or the last <see cref="Reset"/>.</summary>
    public long Position { get; private set; }

    /// <summary>Feeds one step: x [B, F] (for B = 1 just [F]). Returns that step's output [B, O], valid until the next call.</summary>
    public ReadOnlySpan<T> Step(ReadOnlySpan<T> x)
    {
        int f = InputFeatures, b = Batch;
        if (x.Length != b * f)
            throw new ArgumentException($"A step must be [B={b}, F={f}] ({b * f} values), got {x.Length}.", nameof(x));
        if (Model.NonFiniteInputs == NonFiniteInputs.Reject) NonFiniteCheck.Require(x, 1, f, nameof(x), NonFiniteCheck.ModelOption);   // before the state moves
        ReadOnlySpan<T> output = runner.Run(x, b, 1, default, resetState: false);
        Position++;
        return output;
    }

    /// <summary>
    /// Feeds T' steps at once: x [B, T', F] batch first (for B = 1 just [T', F]), T' = x.Length / (B·F) ≤ MaxChunk.
    /// Returns every step's output [B, T', O], the same as T' calls of <see cref="Step"/>, valid until the next call.
    /// </summary>
    public ReadOnlySpan<T> StepChunk(ReadOnlySpan<T> x)
    {
        int f = InputFeatures, b = Batch;
        if (x.Length == 0 || x.Length % (b * f) != 0)
            throw new ArgumentException($"A chunk must be [B={b}, T', F={f}] (a positive multiple of {b * f} values), got {x.Length}.", nameof(x));
        int time = x.Length / (b * f);
        if (time > MaxChunk)
            throw new ArgumentOutOfRangeException(nameof(x), time, $"A chunk may hold at most {MaxChunk} steps (the session's maxChunk), got {time}.");
        if (Model.NonFiniteInputs == NonFiniteInputs.Reject) NonFiniteCheck.Require(x, time, f, nameof(x), NonFiniteCheck.ModelOption);
        ReadOnlySpan<T> output = runner.Run(x, b, time, default, resetState: false);
        Position += time;
        return output;
    }

    /// <summary>Forgets the state: the next step starts a new sequence from zero state.</summary>
    public void Reset()
    {
        runner.ResetState();
        Position = 0;
    }
}
