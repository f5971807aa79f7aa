using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// SplitTiming with a clock the test drives: which path each call takes, when the estimates move, and that a slow
/// machine (split steps slower than one core) is followed there and back.
/// </summary>
public class SplitTimingTests
{
    private long now;

    // Runs one call of the given steps, its duration per step depending on the path it was given.
    private bool Call(SplitTiming timing, int steps, long splitTicks, long singleTicks)
    {
        bool split = timing.Begin(steps);
        now += steps * (split ? splitTicks : singleTicks);
        timing.End();
        return split;
    }

    [Test]
    public void SplitsUntilBothPathsAreTimed_ThenProbesOneCore_AtTheEndOfTheShortFirstRound_ThenEveryRound()
    {
        var timing = new SplitTiming(() => now);
        var paths = Enumerable.Range(0, SplitTiming.FirstRound).Select(_ => Call(timing, 2, 100, 300)).ToArray();
        Assert.That(paths.Take(SplitTiming.FirstRound - SplitTiming.ProbeRun), Is.All.True, "the first calls split");
        Assert.That(paths.Skip(SplitTiming.FirstRound - SplitTiming.ProbeRun), Is.All.False, "the probe run takes one core");
        Assert.That(timing.SplitTicksPerStep, Is.EqualTo(100));
        Assert.That(timing.SingleTicksPerStep, Is.EqualTo(300), "timed in the second half of the probe run");
        Assert.That(timing.PrefersSplit, Is.True);

        paths = Enumerable.Range(0, SplitTiming.Round).Select(_ => Call(timing, 2, 100, 300)).ToArray();
        Assert.That(paths.Take(SplitTiming.Round - SplitTiming.ProbeRun), Is.All.True, "the next round splits");
        Assert.That(paths.Skip(SplitTiming.Round - SplitTiming.ProbeRun), Is.All.False, "and probes one core at its end");
    }

    [Test]
    public void CallsFarApart_WhoseSplitCallsAreSlow_MoveToOneCore_WithinTheFirstRound()
    {
        // The worker sleeps between such calls and each split call pays for waking it: 3000 ticks against 1100.
        var timing = new SplitTiming(() => now);
        for (int k = 0; k < SplitTiming.FirstRound; k++) Call(timing, 1, 3000, 1100);
        Assert.That(timing.PrefersSplit, Is.False);
        int splitCalls = Enumerable.Range(0, SplitTiming.Round).Count(_ => Call(timing, 1, 3000, 1100));
        Assert.That(splitCalls, Is.EqualTo(SplitTiming.ProbeRun), "only the probe run splits");
    }

    [Test]
    public void FollowsTheFasterPath_WhenTheMachineChanges_AndBack()
    {
        var timing = new SplitTiming(() => now);
        for (int k = 0; k < 2 * SplitTiming.Round; k++) Call(timing, 1, 100, 300);
        Assert.That(timing.PrefersSplit, Is.True);

        // Hand-offs become slow: split steps now take 500 ticks against 300 on one core.
        int rounds = 0;
        while (timing.PrefersSplit && rounds < 10)
        {
            for (int k = 0; k < SplitTiming.Round; k++) Call(timing, 1, 500, 300);
            rounds++;
        }
        Assert.That(timing.PrefersSplit, Is.False, "switched to one core");
        Assert.That(rounds, Is.LessThanOrEqualTo(1), "within a round");
        int splitCalls = Enumerable.Range(0, SplitTiming.Round).Count(_ => Call(timing, 1, 500, 300));
        Assert.That(splitCalls, Is.EqualTo(SplitTiming.ProbeRun), "only the probe run splits now");

        // Quiet again: the probe runs see split steps at 100 and bring the split path back.
        rounds = 0;
        while (!timing.PrefersSplit && rounds < 10)
        {
            for (int k = 0; k < SplitTiming.Round; k++) Call(timing, 1, 100, 300);
            rounds++;
        }
        Assert.That(timing.PrefersSplit, Is.True, "back to two cores");
        Assert.That(rounds, Is.LessThanOrEqualTo(3), "within a few rounds (eight timed probe calls a round)");
    }

    [Test]
    public void OnePreemptedCall_MovesTheEstimateAtMostFourfoldTowardsIt()
    {
        var timing = new SplitTiming(() => now);
        Call(timing, 1, 100, 300);   // call 0: timed, first estimate 100
        for (int k = 1; k < SplitTiming.TimeEvery; k++) Call(timing, 1, 100, 300);
        Call(timing, 1, 1_000_000, 300);   // a timed call preempted for a millisecond
        Assert.That(timing.SplitTicksPerStep, Is.EqualTo(100 + (400 - 100) / 8.0));
    }

    [Test]
    public void NotAdaptive_AlwaysSplits_AndTimesNothing()
    {
        var timing = new SplitTiming(() => now) { Adaptive = false };
        Assert.That(Enumerable.Range(0, 2 * SplitTiming.Round).All(_ => Call(timing, 1, 500, 100)), Is.True);
        Assert.That(timing.SplitTicksPerStep, Is.NaN);
    }

    [Test]
    public void AnExceptionBetweenBeginAndEnd_LeavesTheNextCallSound()
    {
        var timing = new SplitTiming(() => now);
        timing.Begin(1);   // the call throws before End
        now += 1_000_000;
        for (int k = 0; k < SplitTiming.Round; k++) Call(timing, 1, 100, 300);
        Assert.That(timing.SplitTicksPerStep, Is.LessThan(200), "the abandoned call is never folded in");
    }
}
