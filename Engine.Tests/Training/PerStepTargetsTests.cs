using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Losses;
using NumLstm.Models;
using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// Fit and Evaluate on a target per step (sequence labelling, sequence-to-sequence regression): a model whose last
/// recurrent layer returns sequences, Keras' <c>LSTM(return_sequences=True) → Dense</c> fitted on <c>y [N, T, ...]</c>.
/// The loss is Keras 3's: the mean over the B·T steps of each batch, or with a mask (the lengths', or a Masking layer's)
/// Σ s·m·l / valid (keras/src/losses/loss.py, apply_mask); the expected values here are computed in double from the
/// model's own predictions, as Keras' formula states them.
/// </summary>
public class PerStepTargetsTests
{
    private const int Steps = 6, Features = 2, Classes = 3;

    /// <summary>Per-step labels: the class of the running sum of feature 0 (below −0.3, between, above 0.3). Variable
    /// lengths when asked (1..T, every fifth full); padded steps hold zeros and the label <paramref name="padLabel"/>.</summary>
    private static SequenceDataset Labelled(int count, int seed, bool variable, int padLabel = 0)
    {
        var random = new Random(seed);
        var x = new float[count * Steps * Features];
        var labels = new int[count * Steps];
        int[]? lengths = variable ? new int[count] : null;
        for (int n = 0; n < count; n++)
        {
            int length = variable ? (n % 5 == 0 ? Steps : 1 + random.Next(Steps)) : Steps;
            if (lengths is not null) lengths[n] = length;
            double sum = 0;
            for (int t = 0; t < Steps; t++)
            {
                if (t >= length) { labels[n * Steps + t] = padLabel; continue; }
                float v = (float)(random.NextDouble() * 2 - 1);
                x[(n * Steps + t) * Features] = v;
                x[(n * Steps + t) * Features + 1] = 0.1f + (float)random.NextDouble();   // never all zero: a real step
                sum += v;
                labels[n * Steps + t] = sum < -0.3 ? 0 : sum > 0.3 ? 2 : 1;
            }
        }
        return SequenceDataset.ForClassificationPerStep(x, count, Steps, Features, labels, Classes, lengths);
    }

    /// <summary>Per-step regression targets [running mean of feature 0, feature 1 − 0.5]; padded steps hold <paramref name="pad"/>.</summary>
    private static SequenceDataset Rows(int count, int seed, bool variable, float pad = 0f)
    {
        SequenceDataset source = Labelled(count, seed, variable);
        var targets = new float[count * Steps * 2];
        for (int n = 0; n < count; n++)
        {
            double sum = 0;
            for (int t = 0; t < Steps; t++)
            {
                int r = n * Steps + t;
                if (t >= source.Length(n)) { targets[2 * r] = pad; targets[2 * r + 1] = -pad; continue; }
                sum += source.X[r * Features];
                targets[2 * r] = (float)(sum / (t + 1));
                targets[2 * r + 1] = source.X[r * Features + 1] - 0.5f;
            }
        }
        return SequenceDataset.ForRegressionPerStep(source.X, count, Steps, Features, targets, 2, source.Lengths);
    }

    private static ModelBuilder Tagger(ModelBuilder input, int outputs) => input.Lstm(8, returnSequences: true).Dense(outputs);

    private static Sequential<float> Model(int outputs, int seed, bool masking = false) =>
        Tagger(masking ? ModelBuilder.Input(Features).Masking(0.0) : ModelBuilder.Input(Features), outputs).Build<float>(seed);

    private static float[] Weights(Sequential<float> model) => model.Parameters.SelectMany(p => p.Value.ToArray()).ToArray();

    // Sparse categorical cross-entropy on logits, in double, of one row.
    private static double CrossEntropy(ReadOnlySpan<float> logits, int label)
    {
        double max = double.NegativeInfinity;
        foreach (float z in logits) max = Math.Max(max, z);
        double sum = 0;
        foreach (float z in logits) sum += Math.Exp(z - max);
        return Math.Log(sum) + max - logits[label];
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int k = 1; k < row.Length; k++) if (row[k] > row[best]) best = k;
        return best;
    }

    // Keras' loss over one batch of sequences [first, first + b) with the lengths' mask (or none): Σ s·m·l / valid, or the
    // mean over every step; and the accuracy's correct and counted steps.
    private static (double Loss, int Correct, int Counted) KerasBatch(SequenceDataset data, float[] predictions, int first, int b, bool masked, float[]? sampleWeights = null)
    {
        double sum = 0;
        int valid = 0, correct = 0;
        for (int n = first; n < first + b; n++)
            for (int t = 0; t < Steps; t++)
            {
                bool kept = !masked || t < data.Length(n);
                if (!kept) continue;
                int r = n * Steps + t;
                ReadOnlySpan<float> row = predictions.AsSpan(r * Classes, Classes);
                double weight = sampleWeights is null ? 1 : sampleWeights.Length == data.Count ? sampleWeights[n] : sampleWeights[r];
                sum += weight * CrossEntropy(row, data.Labels![r]);
                valid++;
                if (ArgMax(row) == data.Labels![r]) correct++;
            }
        return (sum / (masked ? valid : b * Steps), correct, valid);
    }

    [Test]
    public void Evaluate_WithoutAMask_IsTheMeanOverEveryStep_AndAccuracyCountsEveryStep()
    {
        SequenceDataset data = Labelled(10, 1, variable: false);
        var trainer = new Trainer(Model(Classes, seed: 2));
        float[] predictions = trainer.Predict(data);
        Assert.That(predictions, Has.Length.EqualTo(10 * Steps * Classes));
        (double loss, double accuracy) = trainer.Evaluate(data, batchSize: 10);
        (double expected, int correct, int counted) = KerasBatch(data, predictions, 0, 10, masked: false);
        Assert.That(counted, Is.EqualTo(10 * Steps));
        Assert.That(loss, Is.EqualTo(expected).Within(2e-7).Percent.Or.EqualTo(expected).Within(1e-6));
        Assert.That(accuracy, Is.EqualTo((double)correct / counted).Within(1e-12));
    }

    [Test]
    public void Evaluate_WithTheLengthsMask_IsTheMeanOverTheValidSteps_BatchByBatch()
    {
        SequenceDataset data = Labelled(12, 3, variable: true);
        Assert.That(data.IsVariableLength, Is.True);
        var trainer = new Trainer(Model(Classes, seed: 4));
        float[] predictions = trainer.Predict(data);   // the lengths' mask by default
        foreach (int batchSize in new[] { 12, 5 })
        {
            (double loss, double accuracy) = trainer.Evaluate(data, batchSize: batchSize);
            double expected = 0;
            int correct = 0, counted = 0;
            for (int first = 0; first < data.Count; first += batchSize)
            {
                int b = Math.Min(batchSize, data.Count - first);
                (double batchLoss, int c, int k) = KerasBatch(data, predictions, first, b, masked: true);
                expected += batchLoss * b;   // Keras' loss tracker: each batch's loss weighed by its batch size
                correct += c;
                counted += k;
            }
            expected /= data.Count;
            Assert.That(loss, Is.EqualTo(expected).Within(1e-6), $"batch size {batchSize}");
            Assert.That(accuracy, Is.EqualTo((double)correct / counted).Within(1e-12), $"batch size {batchSize}: accuracy over the valid steps");
        }
        // UseMask = false: every step counts, the padding's zeros and labels too (the model then also reads the padding).
        float[] unmaskedPredictions = trainer.Predict(data, useMask: false);
        (double unmaskedLoss, double unmaskedAccuracy) = trainer.Evaluate(data, batchSize: 12, useMask: false);
        (double unmaskedExpected, int unmaskedCorrect, int all) = KerasBatch(data, unmaskedPredictions, 0, 12, masked: false);
        Assert.That(all, Is.EqualTo(12 * Steps));
        Assert.That(unmaskedLoss, Is.EqualTo(unmaskedExpected).Within(1e-6));
        Assert.That(unmaskedAccuracy, Is.EqualTo((double)unmaskedCorrect / all).Within(1e-12));
    }

    [Test]
    public void Evaluate_Regression_IsTheMaskedMeanOfEachStepsMse_AndMae()
    {
        SequenceDataset data = Rows(9, 5, variable: true);
        var trainer = new Trainer(Model(2, seed: 6));
        float[] predictions = trainer.Predict(data);
        (double loss, double mae) = trainer.Evaluate(data, batchSize: 9);
        double squares = 0, absolutes = 0;
        int valid = 0;
        for (int n = 0; n < data.Count; n++)
            for (int t = 0; t < data.Length(n); t++)
            {
                int r = n * Steps + t;
                double e0 = predictions[2 * r] - data.Targets![2 * r], e1 = predictions[2 * r + 1] - data.Targets[2 * r + 1];
                squares += (e0 * e0 + e1 * e1) / 2;   // Keras' mse: the mean over the last axis, per step
                absolutes += (Math.Abs(e0) + Math.Abs(e1)) / 2;
                valid++;
            }
        Assert.That(valid, Is.LessThan(9 * Steps), "some steps are padding");
        Assert.That(loss, Is.EqualTo(squares / valid).Within(1e-6));
        Assert.That(mae, Is.EqualTo(absolutes / valid).Within(1e-6));
    }

    [Test]
    public void SampleWeights_PerSequence_WeighEachOfItsSteps_AndValidStillCountsSteps()
    {
        SequenceDataset plain = Labelled(8, 7, variable: true);
        var weights = new float[] { 1, 0.5f, 2, 0, 1.5f, 1, 3, 0.25f };
        SequenceDataset weighted = plain.WithSampleWeights(weights);
        var trainer = new Trainer(Model(Classes, seed: 8));
        float[] predictions = trainer.Predict(plain);
        (double loss, _) = trainer.Evaluate(weighted, batchSize: 8);
        (double expected, _, _) = KerasBatch(plain, predictions, 0, 8, masked: true, weights);
        Assert.That(loss, Is.EqualTo(expected).Within(1e-6), "Σ s·m·l / valid (Keras divides by the valid steps, not by Σ s)");

        // The same weights given per step, [N, T]: the same loss, bit for bit, and the same training.
        var perStep = new float[8 * Steps];
        for (int n = 0; n < 8; n++) perStep.AsSpan(n * Steps, Steps).Fill(weights[n]);
        SequenceDataset stepWeighted = plain.WithSampleWeights(perStep);
        Assert.That(stepWeighted.SampleWeightsPerStep, Is.True);
        Assert.That(weighted.SampleWeightsPerStep, Is.False);
        Assert.That(trainer.Evaluate(stepWeighted, batchSize: 8).Loss, Is.EqualTo(loss));
        var options = new TrainingOptions { Epochs = 2, BatchSize = 3, Seed = 9 };
        Sequential<float> a = Model(Classes, seed: 10), b = Model(Classes, seed: 10);
        TrainingHistory ha = new Trainer(a).Fit(weighted, options), hb = new Trainer(b).Fit(stepWeighted, options);
        Assert.That(hb.Epochs.SelectMany(e => e.BatchLosses), Is.EqualTo(ha.Epochs.SelectMany(e => e.BatchLosses)));
        Assert.That(Weights(b), Is.EqualTo(Weights(a)));

        // A weight per step that differs within a sequence: Σ s_bt·m_bt·l_bt / valid.
        var varying = new float[8 * Steps];
        for (int r = 0; r < varying.Length; r++) varying[r] = (r % 4) * 0.5f;
        (double stepLoss, _) = trainer.Evaluate(plain.WithSampleWeights(varying), batchSize: 8);
        (double stepExpected, _, _) = KerasBatch(plain, predictions, 0, 8, masked: true, varying);
        Assert.That(stepLoss, Is.EqualTo(stepExpected).Within(1e-6));
        Assert.That(stepLoss, Is.Not.EqualTo(loss).Within(1e-3), "the per-step weights are read per step");
    }

    [Test]
    public void TheWeightedMetric_WeighsEachValidStep_TheMetricLeavesThePaddingOut()
    {
        SequenceDataset plain = Labelled(8, 11, variable: true);
        var weights = new float[] { 1, 0.5f, 2, 0, 1.5f, 1, 3, 0.25f };
        var trainer = new Trainer(Model(Classes, seed: 12));
        float[] predictions = trainer.Predict(plain);
        (_, double accuracy, double weightedAccuracy) = trainer.EvaluateWeighted(plain.WithSampleWeights(weights), "accuracy", batchSize: 4);
        double correct = 0, counted = 0, weightedCorrect = 0, weightSum = 0;
        for (int n = 0; n < 8; n++)
            for (int t = 0; t < plain.Length(n); t++)
            {
                int r = n * Steps + t;
                bool right = ArgMax(predictions.AsSpan(r * Classes, Classes)) == plain.Labels![r];
                counted++;
                weightSum += weights[n];
                if (right) { correct++; weightedCorrect += weights[n]; }
            }
        Assert.That(accuracy, Is.EqualTo(correct / counted).Within(1e-12));
        Assert.That(weightedAccuracy, Is.EqualTo(weightedCorrect / weightSum).Within(1e-7));
    }

    [Test]
    public void ThePaddingsTargets_ChangeNothing_WhenMasked_AndChangeTraining_WhenNot()
    {
        var options = new TrainingOptions { Epochs = 2, BatchSize = 4, Seed = 3 };
        (TrainingHistory, float[]) Run(SequenceDataset data, bool? useMask)
        {
            Sequential<float> model = Model(Classes, seed: 14);
            TrainingHistory history = new Trainer(model).Fit(data, new TrainingOptions { Epochs = options.Epochs, BatchSize = options.BatchSize, Seed = options.Seed, UseMask = useMask });
            return (history, Weights(model));
        }
        SequenceDataset zeros = Labelled(16, 15, variable: true, padLabel: 0), twos = Labelled(16, 15, variable: true, padLabel: 2);
        Assert.That(zeros.X, Is.EqualTo(twos.X));
        Assert.That(zeros.Labels, Is.Not.EqualTo(twos.Labels), "the padding's labels differ");
        (TrainingHistory h0, float[] w0) = Run(zeros, null);
        (TrainingHistory h2, float[] w2) = Run(twos, null);
        Assert.That(h2.Epochs.SelectMany(e => e.BatchLosses), Is.EqualTo(h0.Epochs.SelectMany(e => e.BatchLosses)));
        Assert.That(h2.Epochs.Select(e => e.TrainMetric), Is.EqualTo(h0.Epochs.Select(e => e.TrainMetric)));
        Assert.That(w2, Is.EqualTo(w0), "the same weights: a masked step adds nothing to the gradient");
        Assert.That(w0, Is.Not.EqualTo(Weights(Model(Classes, seed: 14))), "training moved the weights");

        // Without the mask the padding's labels are targets like any other.
        (TrainingHistory u0, float[] uw0) = Run(zeros, false);
        (TrainingHistory u2, float[] uw2) = Run(twos, false);
        Assert.That(u2.Epochs[0].BatchLosses, Is.Not.EqualTo(u0.Epochs[0].BatchLosses));
        Assert.That(uw2, Is.Not.EqualTo(uw0));

        // Regression alike.
        SequenceDataset r0 = Rows(16, 15, variable: true, pad: 0f), r9 = Rows(16, 15, variable: true, pad: 9f);
        Sequential<float> m0 = Model(2, seed: 16), m9 = Model(2, seed: 16);
        TrainingHistory g0 = new Trainer(m0).Fit(r0, options), g9 = new Trainer(m9).Fit(r9, options);
        Assert.That(g9.Epochs.SelectMany(e => e.BatchLosses), Is.EqualTo(g0.Epochs.SelectMany(e => e.BatchLosses)));
        Assert.That(Weights(m9), Is.EqualTo(Weights(m0)));
    }

    [Test]
    public void AMaskingLayer_MasksTheLoss_AsTheLengthsMaskDoes()
    {
        SequenceDataset train = Labelled(20, 17, variable: true), validation = Labelled(7, 18, variable: true, padLabel: 1);
        Sequential<float> masking = Model(Classes, seed: 19, masking: true), plain = Model(Classes, seed: 19);
        Assert.That(Weights(masking), Is.EqualTo(Weights(plain)), "the same initial weights");
        TrainingHistory a = new Trainer(masking).Fit(train, new TrainingOptions { Epochs = 2, BatchSize = 6, Seed = 20, UseMask = false, Validation = validation });
        TrainingHistory b = new Trainer(plain).Fit(train, new TrainingOptions { Epochs = 2, BatchSize = 6, Seed = 20, UseMask = true, Validation = validation });
        Assert.That(a.Epochs.SelectMany(e => e.BatchLosses), Is.EqualTo(b.Epochs.SelectMany(e => e.BatchLosses)));
        Assert.That(a.Epochs.Select(e => e.ValidationLoss), Is.EqualTo(b.Epochs.Select(e => e.ValidationLoss)));
        Assert.That(a.Epochs.Select(e => e.ValidationMetric), Is.EqualTo(b.Epochs.Select(e => e.ValidationMetric)));
        Assert.That(Weights(masking), Is.EqualTo(Weights(plain)));
        // And the comparison can fail: the plain model without any mask trains on the padding.
        Sequential<float> unmasked = Model(Classes, seed: 19);
        TrainingHistory c = new Trainer(unmasked).Fit(train, new TrainingOptions { Epochs = 2, BatchSize = 6, Seed = 20, UseMask = false, Validation = validation });
        Assert.That(c.Epochs[0].BatchLosses, Is.Not.EqualTo(b.Epochs[0].BatchLosses));
    }

    [Test]
    public void Fit_LearnsAPerStepTask_AndARegressionPerStep()
    {
        SequenceDataset train = Labelled(192, 21, variable: true), test = Labelled(64, 22, variable: true);
        var trainer = new Trainer(Model(Classes, seed: 23));
        double before = trainer.Evaluate(test).Metric;
        TrainingHistory history = trainer.Fit(train, new TrainingOptions { Epochs = 30, BatchSize = 16, Seed = 24, LearningRate = 0.01 });
        double after = trainer.Evaluate(test).Metric;
        Assert.That(history.Epochs[^1].TrainLoss, Is.LessThan(history.Epochs[0].TrainLoss * 0.5));
        Assert.That(after, Is.GreaterThan(0.85), $"per-step accuracy on held-out sequences (before training {before:F3})");

        SequenceDataset rows = Rows(192, 25, variable: true), rowsTest = Rows(64, 26, variable: true);
        var regressor = new Trainer(Model(2, seed: 27));
        double start = regressor.Evaluate(rowsTest).Loss;
        regressor.Fit(rows, new TrainingOptions { Epochs = 30, BatchSize = 16, Seed = 28, LearningRate = 0.01 });
        Assert.That(regressor.Evaluate(rowsTest).Loss, Is.LessThan(start * 0.2), "held-out per-step mse");
    }

    [Test]
    public void Fit_StepsAlongTheMaskedLossGradient_AsFloat64ComputesIt()
    {
        // One SGD step over one batch (no shuffle): Δθ = −lr·g. g in float64 on a twin holding the same weights: the
        // model's own backward from MaskedSteps' gradient (checked against central differences in
        // PerStepLossGradientTests) with the output mask and per-sequence sample weights Fit uses.
        SequenceDataset data = Labelled(6, 34, variable: true).WithSampleWeights(new float[] { 1, 2, 0.5f, 1, 3, 0.25f });
        Sequential<float> model = Model(Classes, seed: 35);
        Sequential<double> twin = Tagger(ModelBuilder.Input(Features), Classes).Build<double>(35);
        for (int p = 0; p < model.NamedParameters.Count; p++)
        {
            float[] source = model.NamedParameters[p].Parameter.Value;
            double[] target = twin.NamedParameters[p].Parameter.Value;
            for (int k = 0; k < source.Length; k++) target[k] = source[k];
        }
        float[] before = Weights(model);
        const double rate = 0.5;
        new Trainer(model).Fit(data, new TrainingOptions
        {
            Epochs = 1, BatchSize = 6, Shuffle = false, LearningRate = rate,
            OptimizerFactory = (parameters, lr) => new Sgd<float>(parameters, lr),
        });
        float[] after = Weights(model);

        ModelCache<double> cache = twin.CreateCache();
        var x = data.X.Select(v => (double)v).ToArray();
        ReadOnlySpan<double> predictions = twin.Forward(new SequenceBatch<double>(x, 6, Steps, data.Mask()), cache, ForwardContext.Inference);
        var rowWeights = new float[6 * Steps];
        for (int r = 0; r < rowWeights.Length; r++) rowWeights[r] = data.SampleWeights![r / Steps];
        var gradient = new double[predictions.Length];
        MaskedSteps.Forward(new SoftmaxCrossEntropy<double>(), predictions, LossTargets<double>.FromLabels(data.Labels), twin.OutputMask(cache), rowWeights, gradient);
        twin.ZeroGradients();
        twin.Backward(gradient, cache);
        double[] expected = twin.Parameters.SelectMany(p => p.Gradient.ToArray()).ToArray();
        double largest = expected.Max(Math.Abs);
        Assert.That(largest, Is.GreaterThan(1e-3), "a gradient to compare");
        for (int k = 0; k < expected.Length; k++)
        {
            double step = (before[k] - (double)after[k]) / rate;
            Assert.That(step, Is.EqualTo(expected[k]).Within(1e-5 * largest + 1e-4 * Math.Abs(expected[k])), $"parameter value {k}");
        }
    }

    [Test]
    public void TheSeedModelReturningSequences_TrainsPerStep_ThePaddingMasked_ThroughBidirectionalLayerNormAndDropout()
    {
        // The seed model's shape with a Dense per step: BiLSTM(seq) → LN → BiLSTM(seq) → LN → Dropout → Dense, dropouts on.
        static Sequential<float> Seed() => ModelBuilder.Input(Features)
            .Bidirectional(4, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4).LayerNorm()
            .Bidirectional(5, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4).LayerNorm()
            .Dropout(0.2).Dense(Classes).Build<float>(36);
        SequenceDataset zeros = Labelled(24, 37, variable: true, padLabel: 0), twos = Labelled(24, 37, variable: true, padLabel: 2);
        var options = new TrainingOptions { Epochs = 3, BatchSize = 8, Seed = 38, LearningRate = 0.01 };
        Sequential<float> a = Seed(), b = Seed();
        TrainingHistory ha = new Trainer(a).Fit(zeros, options), hb = new Trainer(b).Fit(twos, options);
        Assert.That(hb.Epochs.SelectMany(e => e.BatchLosses), Is.EqualTo(ha.Epochs.SelectMany(e => e.BatchLosses)));
        Assert.That(Weights(b), Is.EqualTo(Weights(a)), "the mask reaches the loss through both Bidirectional layers, LayerNorm and Dropout");
        Assert.That(ha.Epochs[^1].TrainLoss, Is.LessThan(ha.Epochs[0].TrainLoss));
        // Evaluate (dropout off) against the masked mean by hand.
        var trainer = new Trainer(a);
        float[] predictions = trainer.Predict(zeros);
        (double loss, double accuracy) = trainer.Evaluate(zeros, batchSize: 24);
        (double expected, int correct, int counted) = KerasBatch(zeros, predictions, 0, 24, masked: true);
        Assert.That(loss, Is.EqualTo(expected).Within(1e-6));
        Assert.That(accuracy, Is.EqualTo((double)correct / counted).Within(1e-12));
    }

    [Test]
    public void ValidationSplit_HoldsOutTheLastSequences_WithTheirStepTargets()
    {
        SequenceDataset data = Labelled(20, 39, variable: true);
        Sequential<float> model = Model(Classes, seed: 40);
        var trainer = new Trainer(model);
        TrainingHistory history = trainer.Fit(data, new TrainingOptions { Epochs = 1, BatchSize = 5, Seed = 41, ValidationSplit = 0.25 });
        (SequenceDataset _, SequenceDataset heldOut) = data.SplitOrdered(0.75);
        Assert.That(heldOut.Count, Is.EqualTo(5));
        Assert.That(heldOut.TargetsPerStep, Is.True);
        (double loss, double accuracy) = trainer.Evaluate(heldOut, batchSize: 5);
        Assert.That(history.Epochs[0].ValidationLoss, Is.EqualTo(loss));
        Assert.That(history.Epochs[0].ValidationMetric, Is.EqualTo(accuracy));
    }

    [Test]
    public void MismatchedTargetsAndOutputs_AreRefused_NamingBoth()
    {
        SequenceDataset perStep = Labelled(4, 29, variable: false);
        var sequenceModel = new Trainer(Model(Classes, seed: 30));
        var vectorModel = new Trainer(ModelBuilder.Input(Features).Lstm(8).Dense(Classes).Build<float>(31));
        SequenceDataset perSequence = SequenceDataset.ForClassification(perStep.X, 4, Steps, Features, new[] { 0, 1, 2, 0 }, Classes);
        var options = new TrainingOptions { Epochs = 1 };
        Assert.That(() => vectorModel.Fit(perStep, options), Throws.ArgumentException.With.Message.Contains("a target per step").And.Message.Contains("returnSequences: true"));
        Assert.That(() => vectorModel.Evaluate(perStep), Throws.ArgumentException.With.Message.Contains("a target per step"));
        Assert.That(() => sequenceModel.Fit(perSequence, options), Throws.ArgumentException.With.Message.Contains("outputs a sequence").And.Message.Contains("ForClassificationPerStep"));
        Assert.That(() => sequenceModel.Fit(Rows(4, 29, variable: false), options),
            Throws.ArgumentException.With.Message.Contains("targets have width 2 but the model outputs 3 values per step"));
        Assert.That(() => sequenceModel.Fit(perStep, new TrainingOptions { ClassWeight = new Dictionary<int, double> { [0] = 2 } }),
            Throws.ArgumentException.With.Message.Contains("ClassWeight").And.Message.Contains("weight per step"));
        // Keras' R2Score raises for 3-D inputs: refused for targets per step, before any batch.
        Assert.That(() => new Trainer(Model(2, seed: 30)).Fit(Rows(4, 29, variable: false), new TrainingOptions { Epochs = 1, Metric = "r2_score" }),
            Throws.ArgumentException.With.Message.Contains("Metric 'r2_score' takes one target row per sequence"));
        // Predict needs no targets: a sequence model predicts [N, T, K] for either dataset.
        Assert.That(sequenceModel.Predict(perSequence), Has.Length.EqualTo(4 * Steps * Classes));
    }

    [Test]
    public void NonFiniteTargetsPerStep_AreNamedBySequenceStepAndColumn()
    {
        SequenceDataset rows = Rows(3, 32, variable: false);
        rows.Targets![(2 * Steps + 4) * 2 + 1] = float.NaN;
        Assert.That(() => new Trainer(Model(2, seed: 33)).Fit(rows, new TrainingOptions { Epochs = 1 }),
            Throws.ArgumentException.With.Message.Contains("at sequence 2, step 4, target 1"));
    }
}
