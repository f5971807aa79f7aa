using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// <see cref="TrainingOptions.LossFunction"/>: a loss object, as Keras' <c>compile(loss=keras.losses.Huber(delta=0.5))</c>,
/// for the options a name cannot carry (Huber's δ).
/// </summary>
public class LossFunctionOptionTests
{
    private static SequenceDataset Rows(int count, int steps, int seed = 6)
    {
        var random = new Random(seed);
        float[] x = Enumerable.Range(0, count * steps * 2).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] targets = Enumerable.Range(0, count * 2).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        return SequenceDataset.ForRegression(x, count, steps, 2, targets, 2);
    }

    private static SequenceDataset Labelled(int count, int steps)
    {
        SequenceDataset rows = Rows(count, steps);
        return SequenceDataset.ForClassification(rows.X, count, steps, 2, Enumerable.Range(0, count).Select(n => n % 2).ToArray(), 2);
    }

    private static Sequential<float> Model(Activation activation = Activation.Linear)
        => ModelBuilder.Input(2).Lstm(4).Dense(2, activation).Build<float>(seed: 3);

    private static float[] Weights(Sequential<float> model) => model.Parameters.SelectMany(p => p.Value).ToArray();

    [Test]
    public void AHuberWithItsOwnDelta_IsTheLossTrainedAndLogged_AndTheValidationLoss()
    {
        SequenceDataset train = Rows(12, 3), validation = Rows(6, 3, seed: 9);
        var huber = new Huber<float>(0.25);
        Sequential<float> model = Model();
        float[] predictions = new Trainer(model).Predict(train, batchSize: 12);
        // Huber δ = 0.25 by hand over the one batch: ½e² for |e| ≤ δ, else δ(|e| − ½δ); mean over all elements.
        double expected = 0;
        for (int k = 0; k < predictions.Length; k++)
        {
            double e = Math.Abs(predictions[k] - train.Targets![k]);
            expected += e <= 0.25 ? 0.5 * e * e : 0.25 * (e - 0.125);
        }
        expected /= predictions.Length;
        var trainer = new Trainer(model, new Sgd<float>(model.Parameters.ToList(), 0.1));
        TrainingHistory history = trainer.Fit(train, new TrainingOptions { BatchSize = 12, Shuffle = false, LossFunction = huber, Validation = validation });
        Assert.That(history.Epochs[0].TrainLoss, Is.EqualTo(expected).Within(1e-6 * expected), "the loss before the step is Huber δ = 0.25's");
        Assert.That(history.MetricName, Is.EqualTo("mae"), "a regression loss object gets the default mae, as the names do");
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(trainer.Evaluate(validation, batchSize: 12, lossFunction: huber).Loss), "val_loss with the same object");
        Assert.That(history.Epochs[0].ValidationLoss, Is.Not.EqualTo(trainer.Evaluate(validation, "huber", batchSize: 12).Loss), "not the default δ = 1");
    }

    [Test]
    public void TheSameLossGivenByName_OrAsAnObject_TrainsBitForBit()
    {
        SequenceDataset data = Labelled(20, 4);
        var byName = new Trainer(Model());
        var byObject = new Trainer(Model());
        TrainingHistory a = byName.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 6, Seed = 3, Loss = "sparse_categorical_crossentropy", LabelSmoothing = 0.1 });
        TrainingHistory b = byObject.Fit(data, new TrainingOptions { Epochs = 2, BatchSize = 6, Seed = 3, LossFunction = new SoftmaxCrossEntropy<float>(fromLogits: true, labelSmoothing: 0.1) });
        Assert.That(Weights(byObject.Model), Is.EqualTo(Weights(byName.Model)));
        Assert.That(b.Epochs[1].BatchLosses, Is.EqualTo(a.Epochs[1].BatchLosses));
        Assert.That(b.MetricName, Is.EqualTo("accuracy"));
    }

    [Test]
    public void WithLossFromLogitsOrLabelSmoothing_ItIsRefused_NamingWhatWasSet()
    {
        SequenceDataset data = Rows(6, 2);
        var huber = new Huber<float>(0.5);
        foreach (TrainingOptions options in new[]
        {
            new TrainingOptions { LossFunction = huber, Loss = "mse" },
            new TrainingOptions { LossFunction = huber, FromLogits = false },
            new TrainingOptions { LossFunction = huber, LabelSmoothing = 0.1 },
        })
        {
            var e = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Fit(data, options))!;
            Assert.That(e.Message, Does.Contain("LossFunction ('huber') carries its own options"));
            Assert.That(e.ParamName, Is.EqualTo("LossFunction"));
        }
        var evaluate = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Evaluate(data, "mse", lossFunction: huber))!;
        Assert.That(evaluate.Message, Does.Contain("lossFunction ('huber') carries its own options"));
    }

    [Test]
    public void ATargetKindThatDoesNotFit_OrLogitsAfterASoftmax_IsRefused()
    {
        var kind = Assert.Throws<ArgumentException>(() => new Trainer(Model()).Fit(Labelled(6, 2), new TrainingOptions { LossFunction = new Huber<float>() }))!;
        Assert.That(kind.Message, Does.Contain("loss 'huber' needs real-valued targets, but the dataset is a Classification task"));
        var twice = Assert.Throws<ArgumentException>(() => new Trainer(Model(Activation.Softmax)).Fit(Labelled(6, 2),
            new TrainingOptions { LossFunction = new SoftmaxCrossEntropy<float>(fromLogits: true) }))!;
        Assert.That(twice.Message, Does.Contain("reads logits (fromLogits: true)").And.Contain("applies Softmax"));
        // Probabilities after the softmax are fine.
        Assert.DoesNotThrow(() => new Trainer(Model(Activation.Softmax)).Fit(Labelled(6, 2),
            new TrainingOptions { LossFunction = new SoftmaxCrossEntropy<float>(fromLogits: false) }));
    }
}
