using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// The engine's second core: both halves of a job run, the second on the worker thread when it is free and on the
/// caller when it is not (same results), nested requests and exceptions do not wedge it, and concurrent callers all
/// finish with their own results. These tests need two cores; on one, every job runs inline by design.
/// </summary>
[NonParallelizable]
public class PairedWorkTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>Writes call·1000 + j into its half of 64 values and notes which thread ran each half.</summary>
    private sealed class FillJob : IPairedJob
    {
        public const int Length = 64;
        public readonly double[] Values = new double[Length];
        public readonly int[] Threads = new int[2];
        public int Call;
        public Action<int>? BeforeFill;

        public void RunPart(int part)
        {
            Threads[part] = Environment.CurrentManagedThreadId;
            BeforeFill?.Invoke(part);
            for (int j = part * Length / 2; j < (part + 1) * Length / 2; j++) Values[j] = Call * 1000 + j;
        }

        public bool IsComplete() => Enumerable.Range(0, Length).All(j => Values[j] == Call * 1000 + j);
    }

    /// <summary>Part 0 waits (up to the patience) for part 1 to start, so a free worker surely takes part 1.</summary>
    private static FillJob JobThatWaitsForTheWorker(Action<int>? inPart1 = null)
    {
        var started = new ManualResetEventSlim();
        var job = new FillJob();
        job.BeforeFill = part =>
        {
            if (part == 0) { started.Wait(Patience); return; }
            started.Set();
            inPart1?.Invoke(part);
        };
        return job;
    }

    private static void RequireTwoCores()
    {
        if (!PairedWork.HasSecondCore) Assert.Ignore("one core: every job runs on the calling thread");
    }

    [Test]
    public void BothParts_Run_AndPartOneRunsOnTheWorker_WhenItIsFree()
    {
        RequireTwoCores();
        FillJob job = JobThatWaitsForTheWorker();
        job.Call = 3;
        PairedWork.Run(job);
        Assert.That(job.IsComplete(), Is.True);
        Assert.That(job.Threads[0], Is.EqualTo(Environment.CurrentManagedThreadId));
        Assert.That(job.Threads[1], Is.EqualTo(PairedWork.WorkerThreadId).And.Not.EqualTo(Environment.CurrentManagedThreadId));
    }

    [Test]
    public void BusyWorker_CallerRunsBothParts_WithTheSameResults()
    {
        RequireTwoCores();
        using var release = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        FillJob holder = JobThatWaitsForTheWorker(_ => { holding.Set(); release.Wait(Patience); });
        var holderThread = new Thread(() => PairedWork.Run(holder));
        holderThread.Start();
        try
        {
            Assert.That(holding.Wait(Patience), Is.True, "the worker took the holding job");
            var job = new FillJob { Call = 7 };
            PairedWork.Run(job);
            Assert.That(job.Threads, Is.EqualTo(new[] { Environment.CurrentManagedThreadId, Environment.CurrentManagedThreadId }));
            var alone = new FillJob { Call = 7 };
            alone.RunPart(0);
            alone.RunPart(1);
            Assert.That(job.Values, Is.EqualTo(alone.Values));
        }
        finally
        {
            release.Set();
            Assert.That(holderThread.Join(Patience), Is.True);
        }
        Assert.That(holder.IsComplete(), Is.True);
    }

    [Test]
    public void NestedRequests_FromInsideAJob_OnEitherThread_DoNotDeadlock()
    {
        RequireTwoCores();
        var inner = new[] { new FillJob { Call = 1 }, new FillJob { Call = 2 } };
        FillJob outer = JobThatWaitsForTheWorker(_ => PairedWork.Run(inner[1]));
        outer.Call = 5;
        var previous = outer.BeforeFill!;
        outer.BeforeFill = part => { previous(part); if (part == 0) PairedWork.Run(inner[0]); };
        var run = Task.Run(() => PairedWork.Run(outer));
        Assert.That(run.Wait(Patience), Is.True, "finished");
        Assert.That(outer.IsComplete() && inner[0].IsComplete() && inner[1].IsComplete(), Is.True);
        Assert.That(inner[1].Threads, Is.EqualTo(new[] { PairedWork.WorkerThreadId, PairedWork.WorkerThreadId }), "the worker's nested job ran inline there");
    }

    [Test]
    public void ExceptionInPartOne_SurfacesOnTheCaller_AndTheWorkerServesTheNextJob()
    {
        RequireTwoCores();
        FillJob failing = JobThatWaitsForTheWorker(_ => throw new InvalidOperationException("part one failed"));
        var thrown = Assert.Throws<InvalidOperationException>(() => PairedWork.Run(failing));
        Assert.That(thrown!.Message, Is.EqualTo("part one failed"));
        Assert.That(failing.Threads[1], Is.EqualTo(PairedWork.WorkerThreadId), "it was thrown on the worker");

        FillJob next = JobThatWaitsForTheWorker();
        next.Call = 4;
        PairedWork.Run(next);
        Assert.That(next.IsComplete(), Is.True);
        Assert.That(next.Threads[1], Is.EqualTo(PairedWork.WorkerThreadId));
    }

    [Test]
    public void ExceptionInPartZero_SurfacesOnTheCaller_OnlyAfterPartOneFinished()
    {
        RequireTwoCores();
        FillJob job = JobThatWaitsForTheWorker(_ => Thread.Sleep(50));
        var previous = job.BeforeFill!;
        job.BeforeFill = part => { previous(part); if (part == 0) throw new ArgumentException("part zero failed"); };
        var thrown = Assert.Throws<ArgumentException>(() => PairedWork.Run(job));
        Assert.That(thrown!.Message, Is.EqualTo("part zero failed"));
        Assert.That(job.Values.AsSpan(FillJob.Length / 2).ToArray(), Is.EqualTo(Enumerable.Range(FillJob.Length / 2, FillJob.Length / 2).Select(j => (double)j)),
            "the worker's half had finished: the caller's buffers are free when Run returns");
    }

    [Test]
    public void ManyConcurrentCallers_AllComplete_WithTheirOwnResults()
    {
        const int threads = 4, calls = 1000;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int onWorker = 0;
        var workers = Enumerable.Range(0, threads).Select(w => new Thread(() =>
        {
            // Part 0 takes a few microseconds, so the worker has time to pick up part 1 of some of the calls.
            var job = new FillJob { BeforeFill = part => { if (part == 0) Thread.SpinWait(5000); } };
            for (int call = 0; call < calls; call++)
            {
                job.Call = w * calls + call;
                Array.Clear(job.Values);
                PairedWork.Run(job);
                if (!job.IsComplete()) { failures.Enqueue($"thread {w}, call {call}"); return; }
                if (job.Threads[1] == PairedWork.WorkerThreadId) Interlocked.Increment(ref onWorker);
            }
        })).ToList();
        workers.ForEach(t => t.Start());
        Assert.That(workers.All(t => t.Join(Patience)), Is.True, "all callers finished");
        Assert.That(failures, Is.Empty);
        TestContext.Out.WriteLine($"{onWorker} of {threads * calls} second halves ran on the worker");
        if (PairedWork.HasSecondCore) Assert.That(onWorker, Is.GreaterThan(0), "the worker took part in the contention");
    }
}
