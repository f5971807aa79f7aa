using NumLstm.Kernels;

namespace NumLstm;

/// <summary>
/// Process-wide engine settings. There is one: whether the engine uses a second core. Results are bitwise the same
/// either way; only the time changes.
/// </summary>
public static class EngineSettings
{
    /// <summary>
    /// Whether the engine may run half of its work on its one background thread (the two directions of a Bidirectional,
    /// the row or column halves of an LSTM step, the halves of a large product). Default: true. With false every call
    /// runs on the calling thread alone, like <c>torch.set_num_threads(1)</c> or ONNX Runtime's
    /// <c>intra_op_num_threads = 1</c>: the choice for a host whose cores are shared with other busy processes (or
    /// virtual machines), where a hand-off can wait for the other core to be scheduled and a two-core streaming step
    /// can take longer than a one-core one. On a machine with one processor the engine never uses a second thread.
    /// Safe to change at any time from any thread; a job already handed over finishes on the thread that took it.
    /// </summary>
    public static bool UseSecondCore
    {
        get => PairedWork.Enabled;
        set => PairedWork.Enabled = value;
    }
}
