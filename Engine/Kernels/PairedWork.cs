using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace NumLstm.Kernels;

/// <summary>
/// Work in two halves that write disjoint outputs (row halves of a step, column halves of a product, the two directions
/// of a Bidirectional). The job is an object the caller owns and reuses, its fields the arguments (spans cannot cross
/// threads, so they travel as pinned addresses or as the owner's arrays), so a hand-off allocates nothing.
/// </summary>
internal interface IPairedJob
{
    /// <summary>Runs half 0 or half 1. Either may run on either thread, and both may run on the same one.</summary>
    void RunPart(int part);

    /// <summary>
    /// Called on the worker right after it ran part 1, before the caller is released: whether the worker should then
    /// run <see cref="FollowUp"/>. A job that says yes must make the caller able to tell when the follow-up is done.
    /// </summary>
    bool BeginFollowUp() => false;

    /// <summary>
    /// Work the worker does for this job after releasing the caller (a streaming step's next recurrent product, computed
    /// while the caller returns to its own work). It must end by itself within microseconds, touch only what the job
    /// owns, and not throw; a job posted meanwhile waits for it, or is taken back by its caller.
    /// </summary>
    void FollowUp() { }
}

/// <summary>
/// The engine's second core: one persistent background thread that runs part 1 of a <see cref="IPairedJob"/> while the
/// calling thread runs part 0. One job at a time: a caller that finds the worker taken (another thread's job, or a
/// nested request from inside a job, on either thread) runs both parts itself, and a caller whose posted part 1 has
/// not been picked up when part 0 is done takes it back; so no call ever waits on a queue and nothing can deadlock.
/// Every part computes what it computes alone, so the result is bitwise the same on one thread or two.
/// <para>
/// Hand-offs are a few microseconds apart in an LSTM time loop (two per step), so both sides spin on the state for up to
/// <see cref="SpinTicks"/> before blocking on a semaphore: the worker after each job, the caller while it waits for
/// part 1. They poll after every Thread.SpinWait(1) (one pause, about 50 ns here): a round trip then costs about 0.2–0.4
/// µs beyond the work, against 0.9 µs when each poll waited SpinWait(20), which matters to a 4 µs streaming step. An
/// idle worker is blocked, not spinning. This static state is the one piece of global state in the engine (with
/// <see cref="EngineSettings.UseSecondCore"/>, which it backs), there because a core is global; thread-pool work items would allocate and create threads on the posting thread.
/// </para>
/// <para>
/// A job may ask for a follow-up (<see cref="IPairedJob.BeginFollowUp"/>): work the worker does after releasing the
/// caller, such as a streaming step's share of the next step's recurrent product, which needs only the state this step
/// left. The caller returns at once; a job posted meanwhile is picked up when the follow-up is done.
/// </para>
/// </summary>
internal static class PairedWork
{
    // state: Idle → Reserved (a caller owns the worker) → Posted → Running (the worker took part 1) → Finished → Idle,
    // or Posted → Reserved (the caller took part 1 back) → Idle. Only the owning caller moves it out of Finished and
    // Reserved, only the worker out of Running.
    private const int Idle = 0, Reserved = 1, Posted = 2, Running = 3, Finished = 4;
    private static int state;
    private static IPairedJob? posted;
    private static ExceptionDispatchInfo? workerError;
    private static int workerBlocked, callerBlocked;   // 1 while that side is (about to be) blocked on its semaphore
    private static readonly SemaphoreSlim WorkerWake = new(0), CallerWake = new(0);
    private static readonly Lock StartGate = new();
    private static Thread? worker;

    /// <summary>How long either side spins before blocking: 100 µs, a few LSTM steps' worth of hand-offs.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 10_000;

    internal static readonly bool MachineHasSecondCore = Environment.ProcessorCount > 1;
    private static volatile bool enabled = true;

    /// <summary>
    /// Whether jobs may use the second core: the machine has more than one processor and
    /// <see cref="EngineSettings.UseSecondCore"/> is on. Otherwise every job runs inline and callers take their
    /// one-thread paths.
    /// </summary>
    public static bool HasSecondCore => MachineHasSecondCore && enabled;

    /// <summary>Backs <see cref="EngineSettings.UseSecondCore"/>. A job already handed over finishes where it runs.</summary>
    internal static bool Enabled
    {
        get => enabled;
        set => enabled = value;
    }

    [ThreadStatic] private static bool runsInline;

    /// <summary>
    /// Tests: this thread's jobs run here, part 0, part 1 and then the follow-up, in the order the worker would take
    /// them, so what a follow-up leaves is there at every step, whatever the scheduler does. Per thread.
    /// </summary>
    internal static bool RunsInlineOnThisThread
    {
        get => runsInline;
        set => runsInline = value;
    }

    /// <summary>The worker's managed thread id (0 before it starts), for tests.</summary>
    internal static int WorkerThreadId { get; private set; }

    /// <summary>
    /// Runs part 0 here and part 1 on the worker (or here, after part 0, if the worker is taken or slow to start), and
    /// returns when both are done. An exception from either part is rethrown here, part 0's first; the worker stays usable.
    /// </summary>
    public static void Run(IPairedJob job)
    {
        if (runsInline)
        {
            job.RunPart(0);
            job.RunPart(1);
            if (job.BeginFollowUp()) job.FollowUp();
            return;
        }
        if (!HasSecondCore || Interlocked.CompareExchange(ref state, Reserved, Idle) != Idle)
        {
            job.RunPart(0);
            job.RunPart(1);
            return;
        }
        if (worker is null) Start();
        posted = job;
        Interlocked.Exchange(ref state, Posted);   // a full fence: publishes the job before workerBlocked is read
        if (Interlocked.Exchange(ref workerBlocked, 0) == 1) WorkerWake.Release();

        ExceptionDispatchInfo? callerError = null;
        try { job.RunPart(0); }
        catch (Exception e) { callerError = ExceptionDispatchInfo.Capture(e); }

        if (Interlocked.CompareExchange(ref state, Reserved, Posted) == Posted)
        {
            // Not picked up yet: take part 1 back and free the worker for the next caller.
            posted = null;
            Volatile.Write(ref state, Idle);
            callerError?.Throw();
            job.RunPart(1);
            return;
        }
        WaitForWorker();
        ExceptionDispatchInfo? error = workerError;
        workerError = null;
        posted = null;
        Volatile.Write(ref state, Idle);
        callerError?.Throw();
        error?.Throw();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WaitForWorker()
    {
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref state) != Finished)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(1); continue; }
            Interlocked.Exchange(ref callerBlocked, 1);
            if (Volatile.Read(ref state) != Finished) CallerWake.Wait();
            else if (Interlocked.Exchange(ref callerBlocked, 0) == 0) CallerWake.Wait();   // the worker released: consume it
            return;
        }
    }

    private static void Start()
    {
        lock (StartGate)
        {
            if (worker is not null) return;
            var thread = new Thread(Loop) { IsBackground = true, Name = "NumLstm second core" };
            thread.Start();
            WorkerThreadId = thread.ManagedThreadId;
            worker = thread;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // it never returns, so tiering would leave it in tier-0 code until OSR
    private static void Loop()
    {
        while (true)
        {
            WaitForJob();
            IPairedJob job = posted!;
            bool followUp = false;
            try
            {
                job.RunPart(1);
                followUp = job.BeginFollowUp();
            }
            catch (Exception e) { workerError = ExceptionDispatchInfo.Capture(e); }
            Interlocked.Exchange(ref state, Finished);   // a full fence: publishes the results before callerBlocked is read
            if (Interlocked.Exchange(ref callerBlocked, 0) == 1) CallerWake.Release();
            // The caller may post its next job (or another caller reserve the worker) from here on; it waits in Posted
            // until the follow-up is done, or its caller takes it back.
            if (followUp)
            {
                try { job.FollowUp(); }
                catch (Exception) { }   // only ever a head start: the job computes its next part in full when the follow-up did not finish
            }
        }
    }

    /// <summary>Returns once this thread has moved the state from Posted to Running.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WaitForJob()
    {
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetTimestamp() - start < SpinTicks)
            {
                if (Volatile.Read(ref state) == Posted && Interlocked.CompareExchange(ref state, Running, Posted) == Posted) return;
                Thread.SpinWait(1);
            }
            Interlocked.Exchange(ref workerBlocked, 1);
            if (Volatile.Read(ref state) != Posted) WorkerWake.Wait();
            else if (Interlocked.Exchange(ref workerBlocked, 0) == 0) WorkerWake.Wait();   // a caller released: consume it
        }
    }
}
