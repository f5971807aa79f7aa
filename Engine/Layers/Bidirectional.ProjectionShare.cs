using System.Diagnostics;

namespace NumLstm.Layers;

/// <summary>
/// Evens out a Bidirectional's two directions at batch 1, where <see cref="DirectionBalance"/> has no rows to hand
/// over. Each direction first takes its input projection (S1) for all steps, then steps; at batch 1 the step reads U
/// from L2 and the projection is most of the rest (W2's second layer: about 85 of 275 µs). When one core has been the
/// slower of the two in the calls before (a host that shares it runs the same work 20–35 % slower here, for seconds at
/// a time: <c>CoreBalanceBenchmarks</c>), the other core takes the projection of the slower direction's last steps, after
/// its own projection and before its own steps; the slower direction projects only the rest, and before its first step
/// whose row the other core took it waits for them (or projects them itself if the other core has not started on them).
/// <para>
/// How many steps move (<see cref="Shift"/>, signed: above zero the forward direction's last steps, below zero the
/// backward's) follows the calls: after each call in which both cores ran, a quarter of half the gap between the two
/// directions' ends (a row moved shortens the one and lengthens the other), in rows at the rows' measured projection
/// cost, is added to it, up to half the steps, and fewer than <see cref="MinimumSteps"/> are not shared. Every row is
/// projected by the same product whichever core takes it, so the result is bitwise the same for every shift.
/// </para>
/// <para>
/// Used by a plan that packed W once (a plan packing W at every call packs it inside the direction's own part), without
/// separate gate norms (their projection rows are normalized where they are made) and with at least
/// <see cref="MinimumFeatures"/> input features; one call at a time.
/// </para>
/// </summary>
internal sealed class ProjectionShare<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // The state of a direction's late rows in a call: Open (nobody has them), Claimed (a core is projecting them), Done,
    // or Failed (the other core threw while projecting them: the owner projects them itself).
    private const int Open = 0, Claimed = 1, Done = 2, Failed = 3;

    /// <summary>Of the gap between the directions' ends, the share moved per call: damps the host's noise.</summary>
    internal const double Damping = 0.25;

    /// <summary>
    /// The fewest steps shared. Taking any of the other direction's rows costs the helping core one read of that
    /// direction's packed W from L3 (about as long as projecting five or six rows: W's F·G values at L3's rate against
    /// F·G multiply-adds a row at the FMA rate, whatever the shape), so a smaller share does not pay: in a quiet stretch,
    /// where the directions took the same time, W2 was level to 2 % slower with its second layer sharing 1–9 steps.
    /// </summary>
    internal const int MinimumSteps = 6;

    /// <summary>
    /// The fewest input features for which rows are shared. A row projected on the other core costs F·G multiply-adds
    /// there and then G values read across the cores by the owner, about as long as 16–32 multiply-adds a value here:
    /// with F = 32 (W2's first layer) that is as long as the work moved, and W2 took 0–3 % longer (once 7 %) with that
    /// layer sharing its limit of steps.
    /// </summary>
    internal const int MinimumFeatures = 64;

    private readonly Lstm<T>[] directions;
    private readonly LstmInferenceBuffers<T>[] buffers;
    private readonly int[] state = new int[2];
    private readonly int[] lateSteps = new int[2];
    private readonly long[] projectionTicks = new long[2], projectedRows = new long[2], endTicks = new long[2];
    private readonly int[] threadOf = new int[2];
    private double estimate;

    public ProjectionShare(Lstm<T> forward, LstmInferenceBuffers<T> forwardBuffers, Lstm<T> backward, LstmInferenceBuffers<T> backwardBuffers)
    {
        directions = new[] { forward, backward };
        buffers = new[] { forwardBuffers, backwardBuffers };
    }

    /// <summary>Whether the shift follows the calls (on by default); tests turn it off and set <see cref="Shift"/>.</summary>
    public bool Adaptive { get; set; } = true;

    /// <summary>
    /// Steps whose projection the other core takes in the next call: above zero the forward direction's last steps,
    /// below zero the backward direction's; clamped to half the call's steps.
    /// </summary>
    public int Shift { get; set; }

    /// <summary>Calls so far in which the other core projected some of a direction's rows (benchmarks read it).</summary>
    public long Shares { get; private set; }

    /// <summary>A new call of <paramref name="time"/> steps: sets each direction's late steps from <see cref="Shift"/>.</summary>
    public void Begin(int time)
    {
        int shift = Math.Clamp(Shift, -(time / 2), time / 2);
        lateSteps[0] = Math.Max(shift, 0);
        lateSteps[1] = Math.Max(-shift, 0);
        for (int side = 0; side < 2; side++)
        {
            Volatile.Write(ref state[side], Open);
            projectionTicks[side] = projectedRows[side] = endTicks[side] = 0;
            threadOf[side] = 0;
        }
    }

    /// <summary>The steps at the end of side's direction whose rows the other core may project.</summary>
    public int LateSteps(int side) => lateSteps[side];

    /// <summary>The rows [first, end) of x (batch 1: row = input time) that side's direction projects itself first.</summary>
    public (int First, int End) OwnRows(int side, int time)
    {
        int late = lateSteps[side];
        // Steps [time − late, time) read the rows [time − late, time) forwards, [0, late) backwards.
        return directions[side].GoBackwards ? (late, time) : (0, time - late);
    }

    private (int First, int End) LateRows(int side, int time)
    {
        int late = lateSteps[side];
        return directions[side].GoBackwards ? (0, late) : (time - late, time);
    }

    /// <summary>Side's own projection took <paramref name="ticks"/> for <paramref name="rows"/> rows.</summary>
    public void OwnProjected(int side, long ticks, int rows)
    {
        projectionTicks[side] = ticks;
        projectedRows[side] = rows;
    }

    /// <summary>
    /// Called by side's core after its own projection: projects the other direction's late rows, unless the other core
    /// got to them first.
    /// </summary>
    public void HelpOther(int side, ReadOnlySpan<T> x, int time)
    {
        int other = 1 - side;
        if (lateSteps[other] == 0 || Interlocked.CompareExchange(ref state[other], Claimed, Open) != Open) return;
        Project(other, x, time);
        Shares++;
    }

    /// <summary>
    /// Called by side's core before its first late step: returns once the late rows are projected (by the other core,
    /// or here if it has not started on them).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void EnsureLateRows(int side, ReadOnlySpan<T> x, int time)
    {
        if (Interlocked.CompareExchange(ref state[side], Claimed, Open) == Open)
        {
            Project(side, x, time);
            return;
        }
        while (true)
        {
            int seen = Volatile.Read(ref state[side]);
            if (seen == Done) return;
            if (seen == Failed)
            {
                // The other core threw (its error reaches the caller through PairedWork): the rows are this core's again.
                directions[side].ProjectRows(x, LateRows(side, time), buffers[side]);
                return;
            }
            Thread.SpinWait(1);
        }
    }

    // Projects side's late rows (claimed by this core), then publishes them.
    private void Project(int side, ReadOnlySpan<T> x, int time)
    {
        try { directions[side].ProjectRows(x, LateRows(side, time), buffers[side]); }
        catch
        {
            Volatile.Write(ref state[side], Failed);
            throw;
        }
        Volatile.Write(ref state[side], Done);   // publishes the rows
    }

    /// <summary>Side's direction is done (its core's part of the call, helping included).</summary>
    public void Finished(int side) => Record(side, Stopwatch.GetTimestamp(), Environment.CurrentManagedThreadId);

    /// <summary>Side's direction ended at <paramref name="ticks"/> on the thread <paramref name="threadId"/> (tests call it directly).</summary>
    internal void Record(int side, long ticks, int threadId)
    {
        endTicks[side] = ticks;
        threadOf[side] = threadId;
    }

    /// <summary>
    /// After the call: if both directions ran at once on two threads, moves <see cref="Shift"/> by a quarter of the gap
    /// between their ends (in rows at the rows' measured projection cost), towards helping the one that ended later.
    /// </summary>
    public void End(int time)
    {
        if (!Adaptive || threadOf[0] == 0 || threadOf[0] == threadOf[1]) return;
        double rowTicks = 0;
        int sides = 0;
        for (int side = 0; side < 2; side++)
            if (projectedRows[side] > 0)
            {
                rowTicks += (double)projectionTicks[side] / projectedRows[side];
                sides++;
            }
        if (sides == 0 || rowTicks <= 0) return;
        rowTicks /= sides;
        double gapRows = (endTicks[0] - endTicks[1]) / rowTicks;   // > 0: the forward direction ended later
        // Moving one row from the slower core to the faster shortens the one by a row and lengthens the other by a row.
        estimate = Math.Clamp(estimate + Damping * gapRows / 2, -(time / 2), time / 2);
        int steps = (int)Math.Round(estimate);
        Shift = Math.Abs(steps) < MinimumSteps ? 0 : steps;
    }
}
