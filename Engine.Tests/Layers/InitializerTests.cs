using NumLstm.Layers;

namespace NumLstm.Tests.Layers;

/// <summary>
/// Keras' Orthogonal initializer (<see cref="Initializers.OrthogonalTransposed{T}"/>): orthonormal columns, and the same
/// values, bit for bit, as the plain row-major modified Gram–Schmidt it was first written as (seeded models, saved
/// weights and the placement study's results depend on those values).
/// </summary>
public class InitializerTests
{
    [TestCase(8, 32)]    // the recurrent kernel (H, 4H): rows < cols
    [TestCase(100, 400)]
    [TestCase(40, 10)]   // rows > cols
    [TestCase(17, 17)]
    [TestCase(1, 5)]
    public void Orthogonal_EqualsTheRowMajorGramSchmidt_BitForBit_AndIsOrthonormal(int kerasRows, int kerasCols)
    {
        var values = new double[kerasRows * kerasCols];
        Initializers.OrthogonalTransposed<double>(values, kerasRows, kerasCols, new Random(11));
        double[] expected = RowMajorReference(kerasRows, kerasCols, new Random(11));
        for (int k = 0; k < values.Length; k++)
            Assert.That(BitConverter.DoubleToInt64Bits(values[k]), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected[k])), $"element {k}: {values[k]} vs {expected[k]}");

        // Stored [cols, rows]: for rows < cols its columns (length cols) are orthonormal, otherwise its rows are.
        int tall = Math.Max(kerasRows, kerasCols), narrow = Math.Min(kerasRows, kerasCols);
        double At(int t, int n) => kerasRows < kerasCols ? values[t * kerasRows + n] : values[n * kerasRows + t];
        for (int i = 0; i < narrow; i++)
            for (int j = 0; j <= i; j++)
            {
                double dot = 0;
                for (int t = 0; t < tall; t++) dot += At(t, i) * At(t, j);
                Assert.That(dot, Is.EqualTo(i == j ? 1.0 : 0.0).Within(1e-12), $"q{i}·q{j}");
            }

        var single = new float[values.Length];
        Initializers.OrthogonalTransposed<float>(single, kerasRows, kerasCols, new Random(11));
        Assert.That(single, Is.EqualTo(values.Select(v => (float)v).ToArray()), "float is the double values, rounded");
    }

    [Test]
    public void Orthogonal_RejectsASpanOfTheWrongSize()
    {
        var e = Assert.Throws<ArgumentException>(() => Initializers.OrthogonalTransposed<float>(new float[10], 3, 4, new Random(1)));
        Assert.That(e!.Message, Does.Contain("Orthogonal"));
    }

    /// <summary>The original implementation: q row-major tall × narrow, columns swept in place.</summary>
    private static double[] RowMajorReference(int kerasRows, int kerasCols, Random random)
    {
        int tall = Math.Max(kerasRows, kerasCols), narrow = Math.Min(kerasRows, kerasCols);
        var q = new double[tall * narrow];
        for (int k = 0; k < q.Length; k++) q[k] = Initializers.NextGaussian(random);
        for (int col = 0; col < narrow; col++)
        {
            for (int prev = 0; prev < col; prev++)
            {
                double dot = 0;
                for (int r = 0; r < tall; r++) dot += q[r * narrow + prev] * q[r * narrow + col];
                for (int r = 0; r < tall; r++) q[r * narrow + col] -= dot * q[r * narrow + prev];
            }
            double norm = 0;
            for (int r = 0; r < tall; r++) norm += q[r * narrow + col] * q[r * narrow + col];
            norm = Math.Sqrt(norm);
            for (int r = 0; r < tall; r++) q[r * narrow + col] /= norm;
        }
        var result = new double[kerasRows * kerasCols];
        for (int r = 0; r < kerasCols; r++)
            for (int c = 0; c < kerasRows; c++)
                result[r * kerasRows + c] = kerasRows < kerasCols ? q[r * narrow + c] : q[c * narrow + r];
        return result;
    }
}
