using System.Diagnostics;

namespace NumLstm.Kernels;

/// <summary>
/// Chooses, call by call, between running a call's steps split over the two cores (<see cref="PairedWork"/>) and
/// running them all on the calling thread, by timing both as they run. The two give the same bits, so only speed is at
/// stake: on the 2-core Zen 3 VM of sittings 1–27 a split W3 step took about 3.2 µs against 4.9 µs on one core in quiet
/// stretches and 6.2 µs when its cores were slow to see each other's writes (a hand-off 0.5 µs or more instead of 0.1);
/// on the Zen 5 VM of sitting 33 one core took 2.5–2.7 µs and the split step 3.6–4.2 (1.85 µs once, sitting 32), so
/// which wins depends on the machine and the minute.
/// <para>
/// Calls come in rounds of <see cref="Round"/>, after a first round of <see cref="FirstRound"/>. Each round's calls take
/// the path with the lower estimate of time per step (splitting until both have one), except the last
/// <see cref="ProbeRun"/>, which take the other path: a run rather than
/// single calls, because after a few hundred microseconds without work the worker sleeps and the first split call after
/// that pays for waking it, and a path's first calls after a switch find the weights in the other core's cache. Timed
/// are every <see cref="TimeEvery"/>th call on the preferred path and the second half of each probe run; each timing moves
/// its path's estimate an eighth of the way towards what it measured, clamped to 4× the estimate so one preempted call
/// cannot swing it. So a change in the machine shows within a round or two, and the slower path costs 1.6 % of the
/// calls. One instance per set of buffers, used by one thread at a time (as the buffers are); no allocation.
/// </para>
/// </summary>
internal sealed class SplitTiming
{
    /// <summary>Calls per round (a power of two, as is <see cref="TimeEvery"/>).</summary>
    public const int Round = 1024;

    /// <summary>
    /// Calls in the first round, so the one-core path is timed early: a caller whose calls come far apart (the worker
    /// asleep between them, woken at every split call) finds split calls several times slower than one core, and
    /// should not pay that for a whole round first. Rounds of <see cref="Round"/> follow.
    /// </summary>
    public const int FirstRound = 64;

    /// <summary>Calls at the end of each round that take the path not preferred.</summary>
    public const int ProbeRun = 16;

    /// <summary>On the preferred path, every this many calls one is timed.</summary>
    public const int TimeEvery = 4;

    private readonly Func<long>? clock;
    private long started;
    private long calls;
    private int timedSteps;
    private bool timing, timedSplit;

    /// <param name="clock">Ticks of a monotonic clock (tests pass their own); Stopwatch's by default.</param>
    public SplitTiming(Func<long>? clock = null) => this.clock = clock;

    private long Now() => clock is null ? Stopwatch.GetTimestamp() : clock();

    /// <summary>Estimated clock ticks per step split over two cores, or NaN before the first timed split call.</summary>
    public double SplitTicksPerStep { get; private set; } = double.NaN;

    /// <summary>Estimated clock ticks per step on one core, or NaN before the first timed one-core call.</summary>
    public double SingleTicksPerStep { get; private set; } = double.NaN;

    /// <summary>Off: every call splits, untimed (tests and benchmarks that compare the paths).</summary>
    public bool Adaptive { get; set; } = true;

    /// <summary>Whether the path preferred now is the split one.</summary>
    public bool PrefersSplit => double.IsNaN(SingleTicksPerStep) || double.IsNaN(SplitTicksPerStep) || SplitTicksPerStep <= SingleTicksPerStep;

    /// <summary>Whether the call about to run its <paramref name="steps"/> steps should split them; pair with <see cref="End"/>.</summary>
    public bool Begin(int steps)
    {
        if (!Adaptive) return true;
        long call = calls++;
        int index = call < FirstRound ? (int)call : (int)((call - FirstRound) & (Round - 1));
        int probeIndex = index - ((call < FirstRound ? FirstRound : Round) - ProbeRun);
        bool probing = probeIndex >= 0, split = PrefersSplit != probing;
        timing = steps > 0 && (probing ? probeIndex >= ProbeRun / 2 : (index & (TimeEvery - 1)) == 0);
        if (timing)
        {
            timedSplit = split;
            timedSteps = steps;
            started = Now();
        }
        return split;
    }

    /// <summary>Ends the call <see cref="Begin"/> started, folding its time into the estimate if it was timed.</summary>
    public void End()
    {
        if (!timing) return;
        timing = false;
        double perStep = (double)(Now() - started) / timedSteps;
        double estimate = timedSplit ? SplitTicksPerStep : SingleTicksPerStep;
        estimate = double.IsNaN(estimate) ? perStep : estimate + (Math.Min(perStep, 4 * estimate) - estimate) / 8;
        if (timedSplit) SplitTicksPerStep = estimate;
        else SingleTicksPerStep = estimate;
    }
}
