using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// Weight regularizers in Fit and Evaluate, as Keras 3 trains with them (trainers/trainer.py compute_loss: the compiled
/// loss plus sum(model.losses), in train_step and in test_step alike; layers/layer.py: only trainable weights are
/// regularized; base_optimizer.py: the gradient of that total is clipped, then stepped). Each claim is checked against a
/// twin model without regularizers built from the same seed, so the same initial weights and the same data gradient.
/// </summary>
public class RegularizationTrainingTests
{
    private const float Rate = 0.05f;

    private static Sequential<float> Model(bool regularized) => ModelBuilder.Input(2)
        .Lstm(3, kernelRegularizer: regularized ? WeightRegularizer.L2(0.2) : null, recurrentRegularizer: regularized ? WeightRegularizer.L1(0.1) : null)
        .LayerNorm(gammaRegularizer: regularized ? WeightRegularizer.L1L2(0.05, 0.3) : null)
        .Dense(2, kernelRegularizer: regularized ? WeightRegularizer.L2(0.5) : null, biasRegularizer: regularized ? WeightRegularizer.L1(0.2) : null)
        .Build<float>(seed: 11);

    private static SequenceDataset Data(int count = 6, int steps = 4)
    {
        var random = new Random(4);
        float[] x = Enumerable.Range(0, count * steps * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] y = Enumerable.Range(0, count * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        return SequenceDataset.ForRegression(x, count, steps, 2, y, 2);
    }

    private static TrainingOptions Options(int batchSize = 6) => new()
    {
        Epochs = 1, BatchSize = batchSize, Shuffle = false, Loss = "mse",
        OptimizerFactory = (parameters, rate) => new Sgd<float>(parameters, rate), LearningRate = Rate,
    };

    // The penalty of float weights, summed by hand in double.
    private static double Penalty(Sequential<float> model, IEnumerable<Parameter<float>>? over = null)
    {
        double total = 0;
        foreach (Parameter<float> p in over ?? model.Parameters)
        {
            if (p.Regularizer is not { } r) continue;
            foreach (float w in p.Value) total += r.L1Factor * Math.Abs((double)w) + r.L2Factor * (double)w * w;
        }
        return total;
    }

    [Test]
    public void Fit_AddsThePenaltyToTheLoss_AndItsGradientToTheStep()
    {
        Sequential<float> regularized = Model(true), plain = Model(false);
        Assert.That(regularized.Parameters.SelectMany(p => p.Value), Is.EqualTo(plain.Parameters.SelectMany(p => p.Value)), "same seed, same weights");
        float[][] before = regularized.Parameters.Select(p => (float[])p.Value.Clone()).ToArray();
        double penalty = Penalty(regularized);
        Assert.That(penalty, Is.GreaterThan(0.1));

        EpochRecord withPenalty = new Trainer(regularized).Fit(Data(), Options()).Epochs[0];
        EpochRecord without = new Trainer(plain).Fit(Data(), Options()).Epochs[0];

        Assert.That(withPenalty.TrainLoss - without.TrainLoss, Is.EqualTo(penalty).Within(1e-9 * penalty), "loss = mse + Σ penalty (one batch)");
        Assert.That(withPenalty.BatchLosses[0], Is.EqualTo(withPenalty.TrainLoss));
        // SGD: w' = w − lr·(g + l1·sign(w) + 2·l2·w); the twin took w − lr·g from the same w and g.
        List<Parameter<float>> stepped = regularized.Parameters.ToList(), twin = plain.Parameters.ToList();
        int changed = 0, expectedChanges = 0;
        for (int p = 0; p < stepped.Count; p++)
        {
            WeightRegularizer? r = stepped[p].Regularizer;
            for (int k = 0; k < stepped[p].Length; k++)
            {
                double w = before[p][k];
                double penaltyGradient = r is null ? 0 : r.L1Factor * Math.Sign(w) + 2 * r.L2Factor * w;
                Assert.That(stepped[p].Value[k], Is.EqualTo(twin[p].Value[k] - Rate * penaltyGradient).Within(2e-6), $"{stepped[p].Name}[{k}]");
                if (penaltyGradient != 0) { expectedChanges++; if (stepped[p].Value[k] != twin[p].Value[k]) changed++; }
            }
        }
        Assert.That(changed, Is.EqualTo(expectedChanges), "every value with a penalty gradient moved by it (the Dense bias, 0 under L1, has none)");
        Assert.That(expectedChanges, Is.GreaterThan(60));
    }

    [Test]
    public void Fit_TheEpochLoss_IsTheBatchSizeWeightedMeanOfTheBatchLossesWithTheirPenalties()
    {
        Sequential<float> regularized = Model(true);
        EpochRecord record = new Trainer(regularized).Fit(Data(count: 7), Options(batchSize: 3)).Epochs[0];
        Assert.That(record.BatchLosses, Has.Count.EqualTo(3));
        Assert.That(record.TrainLoss, Is.EqualTo((3 * record.BatchLosses[0] + 3 * record.BatchLosses[1] + record.BatchLosses[2]) / 7).Within(1e-12));
    }

    [Test]
    public void Evaluate_AndValidationLoss_IncludeThePenalty()
    {
        Sequential<float> regularized = Model(true), plain = Model(false);
        var trainer = new Trainer(regularized);
        SequenceDataset data = Data();
        (double loss, _) = trainer.Evaluate(data, "mse");
        (double plainLoss, _) = new Trainer(plain).Evaluate(data, "mse");
        Assert.That(loss - plainLoss, Is.EqualTo(Penalty(regularized)).Within(1e-9), "Keras' test_step adds sum(model.losses) too");

        // val_loss: the penalty at the weights after the epoch.
        TrainingHistory history = trainer.Fit(data, new TrainingOptions
        {
            Epochs = 1, BatchSize = 6, Shuffle = false, Loss = "mse", Validation = data,
            OptimizerFactory = (parameters, rate) => new Sgd<float>(parameters, rate), LearningRate = Rate,
        });
        plain.Parameters.Zip(regularized.Parameters).ToList().ForEach(pair => pair.Second.Value.CopyTo(pair.First.Value, 0));
        (double after, _) = new Trainer(plain).Evaluate(data, "mse");
        Assert.That(history.Epochs[0].ValidationLoss!.Value - after, Is.EqualTo(Penalty(regularized)).Within(1e-9));
    }

    [Test]
    public void FrozenParameters_AddNoPenalty_AndStayPut()
    {
        // Keras regularizes trainable weights only: here the parameters the optimizer steps. The Dense is frozen.
        Sequential<float> regularized = Model(true), plain = Model(false);
        Layer<float> dense = regularized.Layers[2];
        List<Parameter<float>> trained = regularized.Layers.Take(2).SelectMany(l => l.Parameters).ToList();
        double trainedPenalty = Penalty(regularized, trained);
        Assert.That(Penalty(regularized) - trainedPenalty, Is.GreaterThan(0.1), "the frozen Dense carries a penalty of its own");
        float[] denseBefore = dense.Parameters.SelectMany(p => p.Value).ToArray();
        var trainer = new Trainer(regularized, new Sgd<float>(trained, Rate));
        var twin = new Trainer(plain, new Sgd<float>(plain.Layers.Take(2).SelectMany(l => l.Parameters).ToList(), Rate));
        Assert.That(trainer.Evaluate(Data(), "mse").Loss - twin.Evaluate(Data(), "mse").Loss, Is.EqualTo(trainedPenalty).Within(1e-9),
            "Evaluate counts the trained parameters only too");
        TrainingOptions options = new() { Epochs = 1, BatchSize = 6, Shuffle = false, Loss = "mse" };
        double loss = trainer.Fit(Data(), options).Epochs[0].TrainLoss, twinLoss = twin.Fit(Data(), options).Epochs[0].TrainLoss;
        Assert.That(loss - twinLoss, Is.EqualTo(trainedPenalty).Within(1e-9));
        Assert.That(dense.Parameters.SelectMany(p => p.Value), Is.EqualTo(denseBefore));
    }

    [Test]
    public void TheClippedGradient_IncludesThePenalty()
    {
        // Keras clips the gradient of loss + penalty. With a clip value far below every gradient, each SGD step is exactly
        // ±lr·c: its sign is that of g + penalty gradient. A weight where the penalty flips the data gradient's sign shows
        // which was clipped.
        const double clip = 1e-6;
        Sequential<float> regularized = Model(true), plain = Model(false);
        float[][] before = regularized.Parameters.Select(p => (float[])p.Value.Clone()).ToArray();
        TrainingOptions Clipped() => new()
        {
            Epochs = 1, BatchSize = 6, Shuffle = false, Loss = "mse", Clip = ClipMode.Value, ClipValue = clip,
            OptimizerFactory = (parameters, rate) => new Sgd<float>(parameters, rate), LearningRate = 1,
        };
        new Trainer(regularized).Fit(Data(), Clipped());
        // The twin's unclipped data gradient, from one SGD step of rate 1 without clipping.
        new Trainer(plain).Fit(Data(), new TrainingOptions
        {
            Epochs = 1, BatchSize = 6, Shuffle = false, Loss = "mse", OptimizerFactory = (parameters, rate) => new Sgd<float>(parameters, rate), LearningRate = 1,
        });
        List<Parameter<float>> stepped = regularized.Parameters.ToList(), twin = plain.Parameters.ToList();
        int flipped = 0;
        for (int p = 0; p < stepped.Count; p++)
        {
            if (stepped[p].Regularizer is not { } r) continue;
            for (int k = 0; k < stepped[p].Length; k++)
            {
                double w = before[p][k], g = w - twin[p].Value[k];
                double total = g + r.L1Factor * Math.Sign(w) + 2 * r.L2Factor * w;
                if (Math.Abs(total) < 1e-3 || Math.Sign(total) == Math.Sign(g)) continue;
                flipped++;
                Assert.That(Math.Sign(w - stepped[p].Value[k]), Is.EqualTo(Math.Sign(total)), $"{stepped[p].Name}[{k}]: stepped along the clipped total gradient");
            }
        }
        Assert.That(flipped, Is.GreaterThan(3), "some weights have a penalty gradient that outweighs the data gradient");
    }

    [TestCase(ClipMode.GlobalNormKeras)]
    [TestCase(ClipMode.GlobalNorm)]
    public void GlobalNormClipping_CountsOnlyTheTrainedParameters(ClipMode mode)
    {
        // The LSTM frozen (the optimizer steps the Dense only): the Dense's step is its own gradient scaled to norm c, as
        // Keras clips its trainable variables' gradients and PyTorch's clip_grad_norm_ sees no gradient of a frozen one.
        const double clip = 1e-3;
        Sequential<float> clipped = Model(false), twin = Model(false);
        float[] before = clipped.Layers[2].Parameters.SelectMany(p => p.Value).ToArray();
        TrainingOptions Options(ClipMode m) => new() { Epochs = 1, BatchSize = 6, Shuffle = false, Loss = "mse", Clip = m, ClipValue = clip };
        new Trainer(clipped, new Sgd<float>(clipped.Layers[2].Parameters.ToList(), Rate)).Fit(Data(), Options(mode));
        new Trainer(twin, new Sgd<float>(twin.Layers[2].Parameters.ToList(), Rate)).Fit(Data(), Options(ClipMode.None));
        double[] gradient = before.Zip(twin.Layers[2].Parameters.SelectMany(p => p.Value), (w, after) => ((double)w - after) / Rate).ToArray();
        double norm = Math.Sqrt(gradient.Sum(g => g * g));
        Assert.That(norm, Is.GreaterThan(10 * clip), "the Dense's gradient is clipped");
        double scale = mode == ClipMode.GlobalNorm ? clip / (norm + 1e-6) : clip / norm;
        float[] after = clipped.Layers[2].Parameters.SelectMany(p => p.Value).ToArray();
        for (int k = 0; k < after.Length; k++)
            Assert.That(after[k], Is.EqualTo(before[k] - Rate * gradient[k] * scale).Within(1e-6), $"value {k}");
    }
}
