using NumLstm.Data;
using NumLstm.Layers;
using NumLstm.Models;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// Training a model with a Masking layer on padded data. SequenceDataset.CopyBatch copies each sequence's T steps as the
/// dataset stores them, padding included (it writes no pad value of its own), and sets the mask from the lengths; the
/// datasets here pad with zeros (the dataset's documented convention) and no real step is all zeros, so Masking(0)
/// computes exactly the lengths' mask and training with it and UseMask = false is training without it and UseMask = true.
/// </summary>
public class MaskingTrainingTests
{
    private const int Steps = 8, Features = 2;

    /// <summary>Zero-padded variable-length sequences (lengths 1..T, some full); every real step has a nonzero value.</summary>
    private static SequenceDataset Padded(int count, int seed)
    {
        var random = new Random(seed);
        var x = new float[count * Steps * Features];
        var labels = new int[count];
        var lengths = new int[count];
        for (int n = 0; n < count; n++)
        {
            lengths[n] = n % 5 == 0 ? Steps : 1 + random.Next(Steps);
            double sum = 0;
            for (int t = 0; t < lengths[n]; t++)
            {
                float v = (float)(random.NextDouble() * 2 - 1);
                x[(n * Steps + t) * Features] = v;
                x[(n * Steps + t) * Features + 1] = 0.1f + (float)random.NextDouble();   // never zero: the step is real
                sum += v;
            }
            labels[n] = sum > 0 ? 1 : 0;
        }
        return SequenceDataset.ForClassification(x, count, Steps, Features, labels, 2, lengths);
    }

    private static ModelBuilder Layers(ModelBuilder input) => input.Lstm(6, returnSequences: true, dropout: 0.2, recurrentDropout: 0.1).Lstm(5).Dense(2);

    private static Sequential<float> WithMasking(int seed) => Layers(ModelBuilder.Input(Features).Masking(0.0)).Build<float>(seed);
    private static Sequential<float> WithoutMasking(int seed) => Layers(ModelBuilder.Input(Features)).Build<float>(seed);

    private static TrainingOptions Options(bool useMask, SequenceDataset? validation = null) => new()
    {
        Epochs = 3, BatchSize = 8, Seed = 13, UseMask = useMask, Validation = validation,
    };

    [Test]
    public void CopyBatch_CopiesThePaddingAsStored_AndTheMaskFromTheLengths()
    {
        SequenceDataset data = Padded(6, 1);
        int[] indices = { 0, 3, 4 };
        var x = new float[3 * Steps * Features];
        x.AsSpan().Fill(9f);
        var mask = new bool[3 * Steps];
        data.CopyBatch<float>(indices, x, mask, new int[3]);
        for (int b = 0; b < 3; b++)
        {
            Assert.That(x.AsSpan(b * Steps * Features, Steps * Features).ToArray(), Is.EqualTo(data.Sequence(indices[b]).ToArray()), $"row {b}");
            for (int t = 0; t < Steps; t++)
            {
                Assert.That(mask[b * Steps + t], Is.EqualTo(t < data.Length(indices[b])), $"mask row {b} step {t}");
                bool allZero = x[(b * Steps + t) * Features] == 0 && x[(b * Steps + t) * Features + 1] == 0;
                Assert.That(allZero, Is.EqualTo(!mask[b * Steps + t]), $"row {b} step {t}: zero exactly where padded");
            }
        }
        Assert.That(data.IsVariableLength, Is.True);
    }

    [Test]
    public void Fit_OfAMaskingModel_OnPaddedData_IsDeterministicForASeed()
    {
        SequenceDataset train = Padded(40, 2), validation = Padded(12, 3);
        (TrainingHistory History, float[] Weights) Run()
        {
            Sequential<float> model = WithMasking(seed: 4);
            TrainingHistory history = new Trainer(model).Fit(train, Options(useMask: false, validation));
            return (history, model.Parameters.SelectMany(p => p.Value).ToArray());
        }
        (TrainingHistory first, float[] firstWeights) = Run();
        (TrainingHistory second, float[] secondWeights) = Run();
        Assert.That(first.Epochs.Select(e => e.TrainLoss).All(double.IsFinite), Is.True);
        Assert.That(second.Epochs.SelectMany(e => e.BatchLosses), Is.EqualTo(first.Epochs.SelectMany(e => e.BatchLosses)), "batch losses");
        Assert.That(second.Epochs.Select(e => e.ValidationLoss), Is.EqualTo(first.Epochs.Select(e => e.ValidationLoss)), "validation losses");
        Assert.That(secondWeights, Is.EqualTo(firstWeights), "weights");
        Assert.That(firstWeights, Is.Not.EqualTo(WithMasking(seed: 4).Parameters.SelectMany(p => p.Value).ToArray()), "training moved the weights");
    }

    [Test]
    public void MaskingZero_WithoutTheDatasetsMask_TrainsAsTheModelWithoutMasking_WithIt()
    {
        SequenceDataset train = Padded(40, 5), validation = Padded(12, 6);
        Sequential<float> masking = WithMasking(seed: 7), plain = WithoutMasking(seed: 7);
        Assert.That(masking.Parameters.SelectMany(p => p.Value), Is.EqualTo(plain.Parameters.SelectMany(p => p.Value)), "the same initial weights");
        TrainingHistory a = new Trainer(masking).Fit(train, Options(useMask: false, validation));
        TrainingHistory b = new Trainer(plain).Fit(train, Options(useMask: true, validation));
        for (int e = 0; e < a.Epochs.Count; e++)
        {
            EpochRecord x = a.Epochs[e], y = b.Epochs[e];
            Assert.That(x.BatchLosses, Is.EqualTo(y.BatchLosses), $"epoch {e} batch losses");
            Assert.That(x.TrainLoss, Is.EqualTo(y.TrainLoss), $"epoch {e} loss");
            Assert.That(x.TrainMetric, Is.EqualTo(y.TrainMetric), $"epoch {e} accuracy");
            Assert.That(x.ValidationLoss, Is.EqualTo(y.ValidationLoss), $"epoch {e} validation loss");
            Assert.That(x.ValidationMetric, Is.EqualTo(y.ValidationMetric), $"epoch {e} validation accuracy");
            Assert.That(x.MaxGradientNorm, Is.EqualTo(y.MaxGradientNorm), $"epoch {e} gradient norm");
            foreach ((string layer, double norm) in y.MaxLayerGradientNorms)
                Assert.That(x.MaxLayerGradientNorms[layer], Is.EqualTo(norm), $"epoch {e} {layer}'s gradient norm");
            Assert.That(x.MaxLayerGradientNorms["masking_1"], Is.Zero, "Masking has no parameters");
        }
        Assert.That(a.Epochs.Count, Is.EqualTo(3));
        Assert.That(masking.Parameters.SelectMany(p => p.Value), Is.EqualTo(plain.Parameters.SelectMany(p => p.Value)), "the same weights after training");

        // The comparison can fail: the model without Masking and without the mask trains on the zeros as steps.
        Sequential<float> unmasked = WithoutMasking(seed: 7);
        TrainingHistory c = new Trainer(unmasked).Fit(train, Options(useMask: false, validation));
        Assert.That(c.Epochs[0].BatchLosses, Is.Not.EqualTo(b.Epochs[0].BatchLosses), "without any mask the padding counts");
        // Masking with the dataset's mask too: Masking's own mask replaces it, the same as without.
        Sequential<float> both = WithMasking(seed: 7);
        TrainingHistory d = new Trainer(both).Fit(train, Options(useMask: true, validation));
        Assert.That(d.Epochs.SelectMany(r => r.BatchLosses), Is.EqualTo(a.Epochs.SelectMany(r => r.BatchLosses)), "UseMask = true on a Masking model");
    }
}
