using System.Runtime.InteropServices;
using NumLstm.Kernels;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// SharedProduct: a second thread takes row blocks of a product the owner runs. Every helped product must equal the same
/// product on one thread, bit for bit, whichever blocks the helper took.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
[NonParallelizable]
public class SharedProductTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T[] Values(int length, int seed)
    {
        var random = new Random(seed);
        var values = new T[length];
        for (int k = 0; k < length; k++) values[k] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        return values;
    }

    // The owner runs product on its own thread with the share; this thread helps from the moment the owner has started
    // until it finishes. Retried until the helper got some row blocks; each attempt must give the expected bits.
    private static void HelpUntilHelped(SharedProduct<T> share, Action product, Func<T[]> result, T[] expected)
    {
        long helpedBefore = 0;
        // Whether the helper gets a block is up to the scheduler; on a loaded host (load 17 on 2 cores) 100 attempts were
        // seen to pass with none helped, so the budget is 1000 (it loops only until one block is helped).
        for (int attempt = 0; attempt < 1000 && share.HelpedBlocks == helpedBefore; attempt++)
        {
            using var started = new ManualResetEventSlim();
            using var helperReady = new ManualResetEventSlim();
            share.Reset();
            Exception? ownerError = null;
            var owner = new Thread(() =>
            {
                share.Start();
                try
                {
                    started.Set();
                    helperReady.Wait(TimeSpan.FromSeconds(10));
                    product();
                }
                catch (Exception e) { ownerError = e; }
                finally { share.Finish(); }
            });
            owner.Start();
            Assert.That(started.Wait(TimeSpan.FromSeconds(10)), Is.True, "the owner started");
            helperReady.Set();
            share.Help();
            owner.Join();
            Assert.That(ownerError, Is.Null);
            Assert.That(result(), Is.EqualTo(expected), $"attempt {attempt}, {share.HelpedBlocks} row blocks helped so far");
        }
        Assert.That(share.HelpedBlocks, Is.GreaterThan(0), "the helper never got a row block");
    }

    [Test]
    public void HelpedProduct_BothTransposed_GivesTheBitsOfOneThread()
    {
        if (GemmPacked.Best == GemmPacked.Width.None) Assert.Ignore("no vector width: the generic path has nothing to share");
        // dXᵀ = Wᵀ · dAᵀ as an LSTM's backward takes it: three row blocks of a (MC = 120) and four k blocks (KC = 256),
        // with a right edge (n = 203).
        const int m = 300, n = 203, k = 900;
        T[] a = Values(k * m, 1), b = Values(n * k, 2);
        T[] expected = new T[m * n];
        Gemm.Multiply(Transpose.Yes, Transpose.Yes, m, n, k, T.One, a, m, b, k, T.Zero, expected, n, allowParallel: false);
        T[] actual = new T[m * n];
        var share = new SharedProduct<T>();
        HelpUntilHelped(share, () => Gemm.Multiply(Transpose.Yes, Transpose.Yes, m, n, k, T.One, a, m, b, k, T.Zero, actual, n, allowParallel: false, share),
            () => actual, expected);
    }

    [Test]
    public void HelpedProduct_Accumulating_GivesTheBitsOfOneThread()
    {
        if (GemmPacked.Best == GemmPacked.Width.None) Assert.Ignore("no vector width: the generic path has nothing to share");
        // c += aᵀ · b (a weight gradient as written): the first k block adds to c, so the order of the k blocks shows.
        const int m = 250, n = 96, k = 700;
        T[] a = Values(k * m, 3), b = Values(k * n, 4), start = Values(m * n, 5);
        T[] expected = (T[])start.Clone();
        Gemm.Multiply(Transpose.Yes, Transpose.No, m, n, k, T.One, a, m, b, n, T.One, expected, n, allowParallel: false);
        T[] actual = new T[m * n];
        var share = new SharedProduct<T>();
        HelpUntilHelped(share, () =>
        {
            start.CopyTo(actual, 0);
            Gemm.Multiply(Transpose.Yes, Transpose.No, m, n, k, T.One, a, m, b, n, T.One, actual, n, allowParallel: false, share);
        }, () => actual, expected);
    }

    [Test]
    public void HelpedStackedProduct_GivesTheBitsOfOneThread()
    {
        if (GemmPacked.Best == GemmPacked.Width.None) Assert.Ignore("no vector width: no stacked product");
        // hᵀ · dA and xᵀ · dA with dA packed once for both, as an LSTM's weight gradients: row blocks of both products.
        const int m1 = 250, m2 = 70, n = 160, k = 600;
        T[] a1 = Values(k * m1, 6), a2 = Values(k * m2, 7), b = Values(k * n, 8);
        T[] expected1 = new T[m1 * n], expected2 = new T[m2 * n];
        GemmPacked.MultiplyStacked<T>(true, m1, m2, n, k, T.One, a1, m1, a2, m2, b, n, expected1, n, expected2, n);
        T[] actual1 = new T[m1 * n], actual2 = new T[m2 * n];
        var share = new SharedProduct<T>();
        HelpUntilHelped(share, () => GemmPacked.MultiplyStacked<T>(true, m1, m2, n, k, T.One, a1, m1, a2, m2, b, n, actual1, n, actual2, n, share),
            () => [.. actual1, .. actual2], [.. expected1, .. expected2]);
    }

    // Products split over the two cores (GemmPacked.MultiplyInTwoHalves): each half runs with its own share and the thread
    // done first helps the other. Column halves (n ≥ m) and row halves, stored and added, transposes.
    [TestCase(false, false, 600, 600, 520, false)]
    [TestCase(true, false, 1000, 96, 300, true)]
    [TestCase(false, true, 360, 720, 300, false)]
    public void SplitProduct_HalvesHelpEachOther_GivingTheBitsOfOneThread(bool transA, bool transB, int m, int n, int k, bool accumulate)
    {
        if (GemmPacked.Best == GemmPacked.Width.None) Assert.Ignore("no vector width: the generic path does not split");
        if (!PairedWork.HasSecondCore) Assert.Ignore("one core: both halves run on this thread, one after the other");
        T[] a = Values(m * k, 11), b = Values(k * n, 12), start = Values(m * n, 13);
        int lda = transA ? m : k, ldb = transB ? k : n;
        T[] expected = accumulate ? (T[])start.Clone() : new T[m * n];
        GemmPacked.MultiplyAccumulate(transA, transB, m, n, k, T.One, a, lda, b, ldb, expected, n, GemmPacked.Best, directB: false,
            parallel: false, overwrite: !accumulate);
        T[] actual = new T[m * n];
        long helpedBefore = GemmPacked.HalvesHelpedBlocks<T>();
        int attempt = 0;
        for (; attempt < 200 && GemmPacked.HalvesHelpedBlocks<T>() == helpedBefore; attempt++)
        {
            if (accumulate) start.CopyTo(actual, 0);
            else actual.AsSpan().Fill(T.NaN);   // stored: every element must be written, by one thread or the other
            GemmPacked.MultiplyAccumulate(transA, transB, m, n, k, T.One, a, lda, b, ldb, actual, n, GemmPacked.Best, directB: false,
                parallel: true, overwrite: !accumulate);
            bool sameBits = MemoryMarshal.AsBytes(actual.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(expected.AsSpan()));
            if (!sameBits) Assert.That(actual, Is.EqualTo(expected), $"attempt {attempt}, {GemmPacked.HalvesHelpedBlocks<T>() - helpedBefore} row blocks helped so far");
            Assert.That(sameBits, Is.True, $"attempt {attempt}: the bits differ (a zero's sign or a NaN's payload)");
        }
        TestContext.Out.WriteLine($"helped after {attempt} products: {GemmPacked.HalvesHelpedBlocks<T>() - helpedBefore} row blocks");
        Assert.That(GemmPacked.HalvesHelpedBlocks<T>(), Is.GreaterThan(helpedBefore), $"no half was ever helped in {attempt} products");
    }

    // Pre-packed products split over the two cores (GemmPacked.MultiplyPrepacked): above one row block of a the halves
    // help each other too. a read in place (not transposed, alpha = 1) or packed (transposed, or alpha ≠ 1), an edge
    // sliver in the second half (n = 600) and a k block too short to read in place (k = 520: 256, 256, 8); stored into
    // NaN, stored from a row addend (the bias of an LSTM's projection) and added.
    [TestCase(false, 600, 600, 520, 0, 1.0)]
    [TestCase(false, 1000, 96, 300, 1, 1.0)]
    [TestCase(true, 360, 720, 300, 2, 1.0)]
    [TestCase(false, 500, 256, 128, 2, 0.5)]
    public void PrepackedSplitProduct_HalvesHelpEachOther_GivingTheBitsOfOneThread(bool transA, int m, int n, int k, int cForm, double alphaValue)
    {
        if (!GemmPacked.HasPackedLayout<T>()) Assert.Ignore("no packed layout: the generic path does not split");
        if (!PairedWork.HasSecondCore) Assert.Ignore("one core: both halves run on this thread, one after the other");
        T alpha = T.CreateTruncating(alphaValue);
        T[] a = Values(m * k, 21), b = Values(n * k, 22), start = Values(m * n, 23), rowAddend = Values(n, 24);
        int lda = transA ? m : k;
        T[] packed = new T[GemmPacked.PackedLength<T>(k, n)];
        GemmPacked.PackWhole<T>(true, k, n, b, k, packed);
        bool overwrite = cForm != 2;
        ReadOnlySpan<T> addend = cForm == 1 ? rowAddend : default;
        T[] expected = cForm == 2 ? (T[])start.Clone() : new T[m * n];
        GemmPacked.MultiplyPrepacked(transA, m, n, k, alpha, a, lda, packed, expected, n, parallel: false, overwrite, addend);
        T[] actual = new T[m * n];
        long helpedBefore = GemmPacked.HalvesHelpedBlocks<T>();
        int attempt = 0;
        for (; attempt < 200 && GemmPacked.HalvesHelpedBlocks<T>() == helpedBefore; attempt++)
        {
            if (cForm == 2) start.CopyTo(actual, 0);
            else actual.AsSpan().Fill(T.NaN);   // stored: every element must be written, by one thread or the other
            GemmPacked.MultiplyPrepacked(transA, m, n, k, alpha, a, lda, packed, actual, n, parallel: true, overwrite, addend);
            bool sameBits = MemoryMarshal.AsBytes(actual.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(expected.AsSpan()));
            if (!sameBits) Assert.That(actual, Is.EqualTo(expected), $"attempt {attempt}, {GemmPacked.HalvesHelpedBlocks<T>() - helpedBefore} row blocks helped so far");
            Assert.That(sameBits, Is.True, $"attempt {attempt}: the bits differ (a zero's sign or a NaN's payload)");
        }
        TestContext.Out.WriteLine($"helped after {attempt} products: {GemmPacked.HalvesHelpedBlocks<T>() - helpedBefore} row blocks");
        Assert.That(GemmPacked.HalvesHelpedBlocks<T>(), Is.GreaterThan(helpedBefore), $"no half was ever helped in {attempt} products");
    }

    [Test]
    public void Help_ReturnsAtOnce_WhenTheOwnerHasNotStarted_AndWhenItIsDone()
    {
        var share = new SharedProduct<T>();
        share.Reset();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        share.Help();   // not started: the owner's work may yet run on this very thread
        share.Start();
        share.Finish();
        share.Help();   // done
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(share.HelpedBlocks, Is.EqualTo(0));
    }

    [Test]
    public void OwnerAlone_RunsEveryRowBlock_WithoutWaiting()
    {
        if (GemmPacked.Best == GemmPacked.Width.None) Assert.Ignore("no vector width");
        // Nobody helps: the owner claims every block itself and returns, the bits those of the product without a share.
        const int m = 260, n = 64, k = 300;
        T[] a = Values(k * m, 9), b = Values(n * k, 10);
        T[] expected = new T[m * n], actual = new T[m * n];
        Gemm.Multiply(Transpose.Yes, Transpose.Yes, m, n, k, T.One, a, m, b, k, T.Zero, expected, n, allowParallel: false);
        var share = new SharedProduct<T>();
        share.Reset();
        share.Start();
        Gemm.Multiply(Transpose.Yes, Transpose.Yes, m, n, k, T.One, a, m, b, k, T.Zero, actual, n, allowParallel: false, share);
        share.Finish();
        Assert.That(actual, Is.EqualTo(expected));
        Assert.That(share.HelpedBlocks, Is.EqualTo(0));
    }
}
