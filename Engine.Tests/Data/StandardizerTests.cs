using NumLstm.Data;

namespace NumLstm.Tests.Data;

[TestFixture]
public class StandardizerTests
{
    [Test]
    public void Transform_OfTrain_HasMeanZeroStdOne_PerFeature_OverValidSteps()
    {
        var random = new Random(5);
        int count = 40, steps = 6, features = 3;
        var x = new float[count * steps * features];
        var lengths = new int[count];
        for (int n = 0; n < count; n++)
        {
            lengths[n] = random.Next(1, steps + 1);
            for (int t = 0; t < lengths[n]; t++)
                for (int f = 0; f < features; f++)
                    x[(n * steps + t) * features + f] = (float)(10 * f + (f + 1) * random.NextDouble() - 3);
        }
        var train = SequenceDataset.ForClassification(x, count, steps, features, new int[count], 1, lengths);
        SequenceDataset z = Standardizer.Fit(train).Transform(train);
        for (int f = 0; f < features; f++)
        {
            var values = new List<double>();
            for (int n = 0; n < count; n++)
                for (int t = 0; t < lengths[n]; t++)
                    values.Add(z.X[(n * steps + t) * features + f]);
            double mean = values.Average();
            double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
            Assert.That(mean, Is.EqualTo(0.0).Within(1e-5), $"feature {f} mean");
            Assert.That(std, Is.EqualTo(1.0).Within(1e-5), $"feature {f} std");
        }
    }

    [Test]
    public void Fit_OnNonFiniteData_NamesTheDataAndTheFeature()
    {
        float[] x = [1f, 2f, float.NaN, 4f, 5f, 6f];          // [N=3, T=1, F=2]: feature 0 holds the NaN
        var train = SequenceDataset.ForRegression(x, 3, 1, 2, [1f, 2f, float.PositiveInfinity], 1);
        var error = Assert.Throws<ArgumentException>(() => Standardizer.Fit(train));
        Assert.That(error!.ParamName, Is.EqualTo("train"));
        Assert.That(error.Message, Does.Contain("feature 0").And.Contain("NaN"));
        var target = Assert.Throws<ArgumentException>(() => TargetScaler.Fit(train));
        Assert.That(target!.ParamName, Is.EqualTo("train"));
        Assert.That(target.Message, Does.Contain("target column 0").And.Contain("std NaN"));
    }

    [Test]
    public void Fit_LeavesPaddedStepsOut_AndTransformKeepsThemZero()
    {
        // Two sequences, T = 3, F = 1. Valid values: {2, 4, 6} and {10}; padding zeros at (1,1), (1,2).
        // Valid steps only: mean 5.5, variance (12.25 + 2.25 + 0.25 + 20.25)/4 = 8.75.
        // With the padding counted it would be mean 22/6 ≈ 3.67: a different answer.
        var data = SequenceDataset.ForRegression([2f, 4f, 6f, 10f, 0f, 0f], 2, 3, 1, [0f, 0f], 1, lengths: [3, 1]);
        Standardizer scaler = Standardizer.Fit(data);
        Assert.That(scaler.Mean[0], Is.EqualTo(5.5f).Within(1e-6));
        Assert.That(scaler.Std[0], Is.EqualTo((float)Math.Sqrt(8.75)).Within(1e-6));
        SequenceDataset z = scaler.Transform(data);
        Assert.That(z.X[4], Is.EqualTo(0f));
        Assert.That(z.X[5], Is.EqualTo(0f));
        Assert.That(z.X[3], Is.EqualTo((float)(4.5 / Math.Sqrt(8.75))).Within(1e-6));
    }

    [Test]
    public void Fit_ConstantFeature_GetsStdOne_AndIsOnlyCentred()
    {
        var data = SequenceDataset.ForRegression([3f, 1f, 3f, 2f, 3f, 6f], 3, 1, 2, [0f, 0f, 0f], 1);
        Standardizer scaler = Standardizer.Fit(data);
        Assert.That(scaler.Std[0], Is.EqualTo(1f));
        Assert.That(scaler.Transform(data).X.Where((_, k) => k % 2 == 0), Is.All.EqualTo(0f));
    }

    [Test]
    public void Rebuilt_FromItsTwoArrays_TransformsTheSame_AndAppliesTrainStatsToOtherData()
    {
        var train = SequenceDataset.ForRegression([1f, 3f], 2, 1, 1, [0f, 0f], 1);
        var test = SequenceDataset.ForRegression([5f], 1, 1, 1, [0f], 1);
        Standardizer fitted = Standardizer.Fit(train);
        var rebuilt = new Standardizer(fitted.Mean, fitted.Std);
        Assert.That(rebuilt.Transform(test).X[0], Is.EqualTo(3f)); // (5 - 2) / 1
        double[] frame = [5.0];
        rebuilt.TransformInPlace<double>(frame);
        rebuilt.InverseTransformInPlace<double>(frame);
        Assert.That(frame[0], Is.EqualTo(5.0).Within(1e-12));
        Assert.Throws<ArgumentException>(() => new Standardizer([0f], [0f]));
        Assert.Throws<ArgumentException>(() => fitted.Transform(SequenceDataset.ForRegression([1f, 2f], 1, 1, 2, [0f], 1)));
    }

    [Test]
    public void TargetScaler_FitsPerColumn_AndInverseRestoresTargets()
    {
        // Column 0: {1, 3} mean 2 std 1; column 1: {10, 30} mean 20 std 10.
        var data = SequenceDataset.ForRegression([0f, 0f], 2, 1, 1, [1f, 10f, 3f, 30f], 2);
        TargetScaler scaler = TargetScaler.Fit(data);
        Assert.That(scaler.Mean, Is.EqualTo(new[] { 2f, 20f }));
        Assert.That(scaler.Std, Is.EqualTo(new[] { 1f, 10f }));
        SequenceDataset scaled = scaler.Transform(data);
        Assert.That(scaled.Targets, Is.EqualTo(new[] { -1f, -1f, 1f, 1f }));
        float[] back = (float[])scaled.Targets!.Clone();
        scaler.InverseTransformInPlace<float>(back);
        Assert.That(back, Is.EqualTo(data.Targets));

        TargetScaler pooled = TargetScaler.Fit(data, pooled: true);
        Assert.That(pooled.Mean, Is.EqualTo(new[] { 11f, 11f }));
        Assert.Throws<ArgumentException>(() => TargetScaler.Fit(SequenceDataset.ForClassification([0f], 1, 1, 1, [0], 1)));
    }
}
