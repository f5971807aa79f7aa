using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// A Bidirectional's directions train one per core, and the core done first helps the other: it takes the second half of
/// the other's batch rows for its last steps (forward and backward time loops), then row blocks of its gradient products
/// (SharedProductTests). Every value must come out bit for bit as on one core.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
[NonParallelizable]
public class TrainingBalanceTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T[] Values(int length, int seed)
    {
        var random = new Random(seed);
        var values = new T[length];
        for (int k = 0; k < length; k++) values[k] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        return values;
    }

    private const int Batch = 9, Time = 300, Features = 6, Units = 24;

    private static Lstm<T> Layer(bool returnSequences, bool goBackwards, int cell, double dropout)
    {
        var lstm = new Lstm<T>(Units, returnSequences, goBackwards, dropout, dropout,
            cellNormalization: cell == 0 ? null : cell == 1 ? CellNormalization.BaEtAl2016 : CellNormalization.KerasGates,
            zeroOutputForMask: returnSequences) { SplitProducts = false };
        lstm.Build(LayerShape.Sequence(Features), new Random(21));
        return lstm;
    }

    private static T[][] Gradients(Lstm<T> lstm) => lstm.Parameters.Select(p => p.Gradient.ToArray()).ToArray();

    // The owner runs pass on another thread with the cache's LoopBalance (side 1); this thread offers help as soon as the
    // owner's loop is open and, if the owner hands rows over, steps them with help(fromStep, fromRow). Returns the step
    // of the hand-over, or −1.
    private static int RunHelped(LstmCache<T> cache, DirectionBalance balance, Action pass, Action<int, int> help)
    {
        balance.Reset();
        cache.LoopBalance = balance;
        cache.LoopSide = 1;
        Exception? ownerError = null;
        var owner = new Thread(() =>
        {
            try { pass(); }
            catch (Exception e) { ownerError = e; }
        });
        owner.Start();
        var wait = System.Diagnostics.Stopwatch.StartNew();
        while (!balance.IsOpen(1) && owner.IsAlive && wait.ElapsedMilliseconds < 5000) Thread.SpinWait(1);
        int handedOverAt = -1;
        if (balance.TryHelp(1, out int fromStep, out int fromRow))
        {
            try
            {
                Assert.That(fromRow, Is.EqualTo(Batch - Batch / 2));
                help(fromStep, fromRow);
                handedOverAt = fromStep;
            }
            finally { balance.HelperFinished(1); }
        }
        owner.Join();
        cache.LoopBalance = null;
        Assert.That(ownerError, Is.Null);
        return handedOverAt;
    }

    private static bool[] Mask() => Enumerable.Range(0, Batch * Time).Select(k => k % 11 != 4 && k % 13 != 0).ToArray();   // rows start and end masked

    [TestCase(true, false, 0, 0.0)]
    [TestCase(false, true, 0, 0.0)]
    [TestCase(true, true, 0, 0.3)]   // input and recurrent dropout: per-gate masks, drawn before the loop
    [TestCase(true, false, 1, 0.0)]  // the Ba et al. cell: LN on both gate terms and the cell state, each row its own statistics
    [TestCase(false, false, 2, 0.2)] // LN on the summed gates
    public void ForwardLoop_RowsHandedOverMidSequence_GiveTheSameBits(bool returnSequences, bool goBackwards, int cell, double dropout)
    {
        Lstm<T> lstm = Layer(returnSequences, goBackwards, cell, dropout);
        T[] x = Values(Batch * Time * Features, 23);
        bool[] mask = Mask();
        T[] outputGradient = Values(lstm.OutputLength(Batch, Time), 24);
        T[] expectedOutput = new T[outputGradient.Length], expectedInputGradient = new T[x.Length];
        var reference = (LstmCache<T>)lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(x, Batch, Time, mask), expectedOutput, reference, new ForwardContext(true, new Random(22)));
        lstm.Backward(outputGradient, reference, expectedInputGradient);
        T[][] expectedGradients = Gradients(lstm);

        var cache = (LstmCache<T>)lstm.CreateCache();
        var balance = new DirectionBalance();
        var handedOverAt = new List<int>();
        for (int attempt = 0; attempt < 200 && handedOverAt.Count < 3; attempt++)   // on a busy machine the owner may finish before the offer, many times over
        {
            foreach (var p in lstm.Parameters) p.ZeroGradient();
            T[] output = new T[outputGradient.Length], inputGradient = new T[x.Length];
            int at = RunHelped(cache, balance,
                () => lstm.Forward(new SequenceBatch<T>(x, Batch, Time, mask), output, cache, new ForwardContext(true, new Random(22))),
                (fromStep, fromRow) => lstm.ForwardRowsFrom(cache, fromStep, fromRow, mask, output));
            if (at >= 0) handedOverAt.Add(at);
            lstm.Backward(outputGradient, cache, inputGradient);   // reads every row the forward kept
            string context = $"attempt {attempt}, rows handed over at step {at}";
            Assert.That(output, Is.EqualTo(expectedOutput), context);
            Assert.That(inputGradient, Is.EqualTo(expectedInputGradient), context);
            T[][] gradients = Gradients(lstm);
            for (int k = 0; k < gradients.Length; k++) Assert.That(gradients[k], Is.EqualTo(expectedGradients[k]), $"{lstm.Parameters[k].Name}, {context}");
        }
        Assert.That(handedOverAt, Is.Not.Empty, "no attempt handed rows over: the owner always finished before the offer");
        Assert.That(handedOverAt, Has.All.InRange(0, Time - 2));
    }

    [TestCase(true, false, 0, 0.0)]
    [TestCase(false, true, 0, 0.0)]
    [TestCase(true, true, 0, 0.3)]
    [TestCase(true, false, 1, 0.0)]  // cell LayerNorms sum their γ, β gradients over the rows in the loop: never handed over
    [TestCase(false, false, 2, 0.0)]
    public void BackwardLoop_RowsHandedOverMidSequence_GiveTheSameBits(bool returnSequences, bool goBackwards, int cell, double dropout)
    {
        Lstm<T> lstm = Layer(returnSequences, goBackwards, cell, dropout);
        T[] x = Values(Batch * Time * Features, 25);
        bool[] mask = Mask();
        T[] outputGradient = Values(lstm.OutputLength(Batch, Time), 26);
        T[] output = new T[outputGradient.Length], expectedInputGradient = new T[x.Length];
        var reference = (LstmCache<T>)lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(x, Batch, Time, mask), output, reference, new ForwardContext(true, new Random(27)));
        lstm.Backward(outputGradient, reference, expectedInputGradient);
        T[][] expectedGradients = Gradients(lstm);

        var cache = (LstmCache<T>)lstm.CreateCache();
        lstm.Forward(new SequenceBatch<T>(x, Batch, Time, mask), output, cache, new ForwardContext(true, new Random(27)));
        var balance = new DirectionBalance();
        var handedOverAt = new List<int>();
        for (int attempt = 0; attempt < (cell == 0 ? 200 : 5) && handedOverAt.Count < 3; attempt++)
        {
            foreach (var p in lstm.Parameters) p.ZeroGradient();
            T[] inputGradient = new T[x.Length];
            int at = RunHelped(cache, balance, () => lstm.Backward(outputGradient, cache, inputGradient),
                (fromStep, fromRow) => lstm.BackwardRowsFrom(cache, fromStep, fromRow, outputGradient));
            if (at >= 0) handedOverAt.Add(at);
            string context = $"attempt {attempt}, rows handed over at step {at}";
            Assert.That(inputGradient, Is.EqualTo(expectedInputGradient), context);
            T[][] gradients = Gradients(lstm);
            for (int k = 0; k < gradients.Length; k++) Assert.That(gradients[k], Is.EqualTo(expectedGradients[k]), $"{lstm.Parameters[k].Name}, {context}");
        }
        if (cell == 0) Assert.That(handedOverAt, Is.Not.Empty, "no attempt handed rows over: the owner always finished before the offer");
        else Assert.That(handedOverAt, Is.Empty, "a cell LayerNorm's backward loop must not be split");
    }

    // The whole path: a Bidirectional training with its directions on two cores and balance on gives the bits of the
    // same training with balance off, and of the directions one after the other, step after step (Adam in between).
    [TestCase(0, 0.0)]
    [TestCase(0, 0.2)]
    [TestCase(1, 0.0)]
    public void BidirectionalTraining_WithBalance_IsBitwiseTheSame(int cell, double dropout)
    {
        const int batch = 16, time = 40, f = 12;
        var results = new List<List<T[]>>();
        foreach ((bool parallel, bool balance) in new[] { (false, false), (true, false), (true, true) })
        {
            var stack = new StackSpec(f, new[] { 40, 130 }, Bidirectional: true, Dropout: dropout, RecurrentDropout: dropout, OutputUnits: 3);
            Sequential<T> model = stack.WithPlacement(cell == 1 ? LayerNormPlacement.InCell(CellNormalization.TfAddons) : LayerNormPlacement.AfterEachRecurrent).Build<T>();
            foreach (var layer in model.Layers.OfType<Bidirectional<T>>()) { layer.ParallelDirections = parallel; layer.BalanceDirections = balance; }
            var cache = model.CreateCache();
            var optimizer = new NumLstm.Optimizers.Adam<T>(model.Parameters.ToList(), 1e-2);
            var loss = new MeanSquaredError<T>();
            T[] x = Values(batch * time * f, 28);
            T[] targets = Values(model.OutputLength(batch, time), 29), gradient = new T[targets.Length];
            var run = new List<T[]>();
            for (int step = 0; step < 4; step++)
            {
                model.ZeroGradients();
                ReadOnlySpan<T> prediction = model.Forward(new SequenceBatch<T>(x, batch, time, default), cache, new ForwardContext(true, new Random(30 + step)));
                run.Add(prediction.ToArray());
                loss.Forward(prediction, targets, gradient);
                model.Backward(gradient, cache);
                run.AddRange(model.Parameters.Select(p => p.Gradient.ToArray()));
                optimizer.Step();
            }
            results.Add(run);
        }
        for (int k = 0; k < results[0].Count; k++)
        {
            Assert.That(results[1][k], Is.EqualTo(results[0][k]), $"array {k}: two cores without balance");
            Assert.That(results[2][k], Is.EqualTo(results[0][k]), $"array {k}: two cores with balance");
        }
    }
}
