using NumLstm.Data;
using NumLstm.IO;

namespace NumLstm.Tests.IO;

public class NpyDatasetTests
{
    private string folder = "";

    [SetUp]
    public void Create() => Directory.CreateDirectory(folder = Path.Combine(Path.GetTempPath(), "numlstm-npyds-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void Delete() => Directory.Delete(folder, true);

    private string P(string name) => Path.Combine(folder, name);

    [Test]
    public void LoadClassification_ReadsInputsLabelsAndLengths()
    {
        double[] x = Enumerable.Range(0, 2 * 3 * 2).Select(k => k * 0.5).ToArray();
        NpyFile.Write<double>(P("x.npy"), x, new[] { 2, 3, 2 });
        NpyFile.Write<long>(P("y.npy"), new long[] { 1, 0 }, new[] { 2 });
        NpyFile.Write<int>(P("len.npy"), new[] { 3, 2 }, new[] { 2 });
        SequenceDataset data = NpyDataset.LoadClassification(P("x.npy"), P("y.npy"), classCount: 2, lengthsPath: P("len.npy"));
        Assert.That(data.X, Is.EqualTo(x.Select(v => (float)v)));
        Assert.That(data.Labels, Is.EqualTo(new[] { 1, 0 }));
        Assert.That(data.Mask(), Is.EqualTo(new[] { true, true, true, true, true, false }));
    }

    [Test]
    public void LoadRegression_ReadsTargetWidths()
    {
        NpyFile.Write<float>(P("x.npy"), new float[4 * 5 * 1], new[] { 4, 5, 1 });
        NpyFile.Write<float>(P("t.npy"), new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, new[] { 4, 2 });
        SequenceDataset data = NpyDataset.LoadRegression(P("x.npy"), P("t.npy"));
        Assert.That(data.TargetWidth, Is.EqualTo(2));
        Assert.That(data.Targets, Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }));
    }

    [Test]
    public void MismatchedFiles_NameTheFileAndField()
    {
        NpyFile.Write<float>(P("x.npy"), new float[6], new[] { 2, 3, 1 });
        NpyFile.Write<int>(P("y.npy"), new[] { 0, 1, 2 }, new[] { 3 });
        var rows = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y.npy")));
        Assert.That(rows!.Message, Does.Contain("y.npy").And.Contain("2 rows"));
        NpyFile.Write<int>(P("y2.npy"), new[] { 0, 5 }, new[] { 2 });
        var label = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y2.npy"), classCount: 3));
        Assert.That(label!.Message, Does.Contain("labels[1]").And.Contain("found 5"));
        NpyFile.Write<float>(P("flat.npy"), new float[6], new[] { 6 });
        var rank = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadRegression(P("flat.npy"), P("y.npy")));
        Assert.That(rank!.Message, Does.Contain("flat.npy").And.Contain("[N, T, F]"));
        NpyFile.Write<int>(P("len.npy"), new[] { 3, 4 }, new[] { 2 });
        var length = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y2.npy"), 9, P("len.npy")));
        Assert.That(length!.Message, Does.Contain("lengths[1]"));
    }

    [Test]
    public void SampleWeights_AreRead_AsNOrNBy1_AnyNumericDTypeOrBool_AsKerasCastsToFloatx()
    {
        WriteX(3);
        NpyFile.Write<int>(P("y.npy"), new[] { 0, 1, 0 }, new[] { 3 });
        NpyFile.Write<double>(P("w.npy"), new[] { 0.5, 2.0, 0.1 }, new[] { 3 });
        SequenceDataset data = NpyDataset.LoadClassification(P("x.npy"), P("y.npy"), sampleWeightsPath: P("w.npy"));
        Assert.That(data.SampleWeights, Is.EqualTo(new[] { 0.5f, 2f, 0.1f }), "float64 rounded to float32");
        NpyFile.Write<float>(P("w1.npy"), new[] { 1f, 3f, 0f }, new[] { 3, 1 });
        NpyFile.Write<float>(P("t.npy"), new float[] { 1, 2, 3 }, new[] { 3 });
        Assert.That(NpyDataset.LoadRegression(P("x.npy"), P("t.npy"), sampleWeightsPath: P("w1.npy")).SampleWeights, Is.EqualTo(new[] { 1f, 3f, 0f }));
        NpyFile.Write<long>(P("wi.npy"), new long[] { 2, 0, 7 }, new[] { 3 });
        Assert.That(NpyDataset.LoadRegression(P("x.npy"), P("t.npy"), sampleWeightsPath: P("wi.npy")).SampleWeights, Is.EqualTo(new[] { 2f, 0f, 7f }));
        NpyFile.Write<bool>(P("wb.npy"), new[] { true, false, true }, new[] { 3 });
        Assert.That(NpyDataset.LoadRegression(P("x.npy"), P("t.npy"), sampleWeightsPath: P("wb.npy")).SampleWeights, Is.EqualTo(new[] { 1f, 0f, 1f }));
        Assert.That(NpyDataset.LoadRegression(P("x.npy"), P("t.npy")).SampleWeights, Is.Null);
    }

    [Test]
    public void BadSampleWeights_NameTheFileAndWhatWasExpected()
    {
        WriteX(3);
        NpyFile.Write<float>(P("t.npy"), new float[] { 1, 2, 3 }, new[] { 3 });
        void Refused(string file, string expected)
        {
            var e = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadRegression(P("x.npy"), P("t.npy"), sampleWeightsPath: P(file)))!;
            Assert.That(e.Message, Does.Contain(file).And.Contain(expected));
        }
        NpyFile.Write<float>(P("short.npy"), new[] { 1f, 2f }, new[] { 2 });
        Refused("short.npy", "expected sample weights as [N] or [N, 1] with N = 3, found (2)");
        NpyFile.Write<float>(P("wide.npy"), new float[6], new[] { 3, 2 });
        Refused("wide.npy", "found (3, 2)");
        NpyFile.Write<float>(P("negative.npy"), new[] { 1f, -1f, 2f }, new[] { 3 });
        Refused("negative.npy", "sample_weight[1]");
        NpyFile.Write<float>(P("nan.npy"), new[] { 1f, 1f, float.NaN }, new[] { 3 });
        Refused("nan.npy", "sample_weight[2]");
        NpyFile.Write<double>(P("huge.npy"), new[] { 1e39, 1, 1 }, new[] { 3 });
        Refused("huge.npy", "within float32's range");
    }

    private void WriteX(int n = 2, int t = 3, int f = 1) => NpyFile.Write<float>(P("x.npy"), new float[n * t * f], new[] { n, t, f });

    [TestCase(int.MaxValue)]
    [TestCase(1_000_000_000)]
    [TestCase(NpyDataset.MaxInferredClassCount)]
    public void InferredClassCount_IsBounded_NamingTheLabel(int label)
    {
        // [0, 2147483647] gave "expected a class index in 0..2147483647, found 0" (max + 1 overflowed); [0, 1e9] a
        // dataset of 1,000,000,001 classes from a 136-byte file.
        WriteX();
        NpyFile.Write<int>(P("y.npy"), new[] { 0, label }, new[] { 2 });
        var e = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y.npy")));
        SpecBytes.AssertNames(e, P("y.npy"), "labels[1]");
        Assert.That(e!.Message, Does.Contain($"found {label}").And.Contain($"below {NpyDataset.MaxInferredClassCount}").And.Contain("classCount"));
    }

    [Test]
    public void InferredClassCount_UpToTheBound_Loads()
    {
        WriteX();
        NpyFile.Write<int>(P("y.npy"), new[] { NpyDataset.MaxInferredClassCount - 1, 0 }, new[] { 2 });
        Assert.That(NpyDataset.LoadClassification(P("x.npy"), P("y.npy")).ClassCount, Is.EqualTo(NpyDataset.MaxInferredClassCount));
    }

    [Test]
    public void NegativeLabel_NamesTheLabel()
    {
        WriteX();
        NpyFile.Write<int>(P("y.npy"), new[] { 0, -1 }, new[] { 2 });
        var e = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y.npy")));
        SpecBytes.AssertNames(e, P("y.npy"), "labels[1]");
        Assert.That(e!.Message, Does.Contain("found -1"));
    }

    [Test]
    public void ClassCountBelowOne_IsAnArgumentError()
    {
        WriteX();
        NpyFile.Write<int>(P("y.npy"), new[] { 0, 0 }, new[] { 2 });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y.npy"), classCount: 0));
        Assert.That(e!.ParamName, Is.EqualTo("classCount"));
    }

    [Test]
    public void TargetsWithNoColumns_AreAFormatErrorNamingTheShape()
    {
        // np.zeros((2, 0), 'f4'): was an ArgumentOutOfRangeException about targetWidth from SequenceDataset.
        WriteX();
        NpyFile.Write<float>(P("t.npy"), Array.Empty<float>(), new[] { 2, 0 });
        var e = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadRegression(P("x.npy"), P("t.npy")));
        SpecBytes.AssertNames(e, P("t.npy"), "shape");
        Assert.That(e!.Message, Does.Contain("(2, 0)"));
    }

    [TestCase(0, 3, 1)]
    [TestCase(2, 0, 1)]
    [TestCase(2, 3, 0)]
    public void EmptyInputs_AreAFormatErrorNamingTheShape(int n, int t, int f)
    {
        WriteX(n, t, f);
        NpyFile.Write<float>(P("t.npy"), new float[n], new[] { n });
        var e = Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadRegression(P("x.npy"), P("t.npy")));
        SpecBytes.AssertNames(e, P("x.npy"), "shape");
    }

    [Test]
    public void LabelsOfTheWrongRankOrDtype_AreFormatErrors()
    {
        WriteX();
        NpyFile.Write<int>(P("scalar.npy"), new[] { 1 }, Array.Empty<int>());
        SpecBytes.AssertNames(Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("scalar.npy"))), P("scalar.npy"), "shape");
        NpyFile.Write<int>(P("column.npy"), new[] { 0, 1 }, new[] { 2, 1 });
        SpecBytes.AssertNames(Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("column.npy"))), P("column.npy"), "shape");
        NpyFile.Write<float>(P("float.npy"), new[] { 0f, 1f }, new[] { 2 });
        SpecBytes.AssertNames(Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("float.npy"))), P("float.npy"), "dtype");
        NpyFile.Write<float>(P("lengths.npy"), new[] { 1f, 2f }, new[] { 2 });
        NpyFile.Write<int>(P("y.npy"), new[] { 0, 1 }, new[] { 2 });
        SpecBytes.AssertNames(Assert.Throws<NumLstmFormatException>(() => NpyDataset.LoadClassification(P("x.npy"), P("y.npy"), lengthsPath: P("lengths.npy"))), P("lengths.npy"), "dtype");
    }

    [Test]
    public void TargetsPerStep_AreRead_AsLabelsNByT_OrTargetsNByTByK_WithStepWeights()
    {
        NpyFile.Write<float>(P("x.npy"), new float[2 * 3 * 1], new[] { 2, 3, 1 });
        NpyFile.Write<int>(P("y.npy"), new[] { 0, 1, 2, 2, 1, 0 }, new[] { 2, 3 });
        NpyFile.Write<float>(P("w.npy"), new[] { 1f, 0.5f, 0f, 2f, 2f, 1f }, new[] { 2, 3 });
        SequenceDataset labelled = NpyDataset.LoadClassification(P("x.npy"), P("y.npy"), sampleWeightsPath: P("w.npy"));
        Assert.That(labelled.TargetsPerStep, Is.True);
        Assert.That(labelled.ClassCount, Is.EqualTo(3));
        Assert.That(labelled.Labels, Is.EqualTo(new[] { 0, 1, 2, 2, 1, 0 }));
        Assert.That(labelled.SampleWeightsPerStep, Is.True);
        Assert.That(labelled.SampleWeights, Is.EqualTo(new[] { 1f, 0.5f, 0f, 2f, 2f, 1f }));

        NpyFile.Write<double>(P("t.npy"), Enumerable.Range(0, 12).Select(v => v * 0.5).ToArray(), new[] { 2, 3, 2 });
        SequenceDataset rows = NpyDataset.LoadRegression(P("x.npy"), P("t.npy"));
        Assert.That(rows.TargetsPerStep, Is.True);
        Assert.That(rows.TargetWidth, Is.EqualTo(2));
        Assert.That(rows.Targets, Is.EqualTo(Enumerable.Range(0, 12).Select(v => v * 0.5f)));
        // Targets [N, T] stay T values per sequence (the rank decides, not the sizes).
        NpyFile.Write<float>(P("t2.npy"), new float[6], new[] { 2, 3 });
        SequenceDataset wide = NpyDataset.LoadRegression(P("x.npy"), P("t2.npy"));
        Assert.That(wide.TargetsPerStep, Is.False);
        Assert.That(wide.TargetWidth, Is.EqualTo(3));

        // Shapes that fit neither, and a bad label, are named by file and position.
        NpyFile.Write<int>(P("y4.npy"), new int[8], new[] { 2, 4 });
        Assert.That(() => NpyDataset.LoadClassification(P("x.npy"), P("y4.npy")),
            Throws.InstanceOf<NumLstmFormatException>().With.Message.Contains("y4.npy").And.Message.Contains("one per step [N, T] = (2, 3), found (2, 4)"));
        NpyFile.Write<int>(P("ybad.npy"), new[] { 0, 1, 2, 2, 7, 0 }, new[] { 2, 3 });
        Assert.That(() => NpyDataset.LoadClassification(P("x.npy"), P("ybad.npy"), classCount: 3),
            Throws.InstanceOf<NumLstmFormatException>().With.Message.Contains("labels[1, 1]").And.Message.Contains("found 7"));
        NpyFile.Write<float>(P("t3.npy"), new float[2 * 4 * 1], new[] { 2, 4, 1 });
        Assert.That(() => NpyDataset.LoadRegression(P("x.npy"), P("t3.npy")),
            Throws.InstanceOf<NumLstmFormatException>().With.Message.Contains("[N, T, K] = (2, 3, K), found (2, 4, 1)"));
        NpyFile.Write<float>(P("w4.npy"), new float[8], new[] { 2, 4 });
        Assert.That(() => NpyDataset.LoadClassification(P("x.npy"), P("y.npy"), sampleWeightsPath: P("w4.npy")),
            Throws.InstanceOf<NumLstmFormatException>().With.Message.Contains("one per step [N, T] with N = 2, T = 3, found (2, 4)"));
        // A per-sequence dataset takes no [N, T] weights.
        NpyFile.Write<int>(P("y1.npy"), new[] { 0, 1 }, new[] { 2 });
        Assert.That(() => NpyDataset.LoadClassification(P("x.npy"), P("y1.npy"), sampleWeightsPath: P("w.npy")),
            Throws.InstanceOf<NumLstmFormatException>().With.Message.Contains("expected sample weights as [N] or [N, 1] with N = 2"));
    }

    [Test]
    public void TargetsPerStep_TakeKerasTrailingOne_OnLabelsAndStepWeights()
    {
        // Keras squeezes a trailing 1 off sparse labels of y_pred's rank (losses.py sparse_categorical_crossentropy:
        // `if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1: squeeze`, and the same in
        // sparse_categorical_accuracy), and off sample weights one rank above the loss values (loss.py
        // squeeze_or_expand_to_same_rank): labels [N, T, 1] and weights [N, T, 1] are per-step ones.
        NpyFile.Write<float>(P("x.npy"), new float[2 * 3 * 1], new[] { 2, 3, 1 });
        NpyFile.Write<int>(P("y.npy"), new[] { 0, 1, 2, 2, 1, 0 }, new[] { 2, 3, 1 });
        NpyFile.Write<float>(P("w.npy"), new[] { 1f, 0.5f, 0f, 2f, 2f, 1f }, new[] { 2, 3, 1 });
        SequenceDataset labelled = NpyDataset.LoadClassification(P("x.npy"), P("y.npy"), sampleWeightsPath: P("w.npy"));
        Assert.That(labelled.TargetsPerStep, Is.True);
        Assert.That(labelled.Labels, Is.EqualTo(new[] { 0, 1, 2, 2, 1, 0 }));
        Assert.That(labelled.SampleWeightsPerStep, Is.True);
        Assert.That(labelled.SampleWeights, Is.EqualTo(new[] { 1f, 0.5f, 0f, 2f, 2f, 1f }));
        NpyFile.Write<double>(P("t.npy"), new double[6], new[] { 2, 3, 1 });
        Assert.That(NpyDataset.LoadRegression(P("x.npy"), P("t.npy"), sampleWeightsPath: P("w.npy")).SampleWeightsPerStep, Is.True);
        // Another rank-3 label shape is named with both forms the reader takes.
        NpyFile.Write<int>(P("y2.npy"), new int[12], new[] { 2, 3, 2 });
        Assert.That(() => NpyDataset.LoadClassification(P("x.npy"), P("y2.npy")),
            Throws.InstanceOf<NumLstmFormatException>().With.Message.Contains("y2.npy").And.Message.Contains("[N, T] = (2, 3)").And.Message.Contains("found (2, 3, 2)"));
    }
}
