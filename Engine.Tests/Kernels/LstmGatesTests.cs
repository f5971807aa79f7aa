using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>The vectorized backward gate kernels against the scalar equations (B3), (B4), (B7), (B8), on lengths around the vector width.</summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class LstmGatesTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Hidden = [1, 3, 4, 7, 8, 9, 16, 17, 33];

    [Test]
    public void ForwardStep_MatchesTheScalarEquations_ForEveryTail([Values(false, true)] bool inPlaceCell)
    {
        foreach (int h in Hidden)
        {
            T[] gates = TestArrays.Uniform<T>(4 * h, h, -6, 6), cellPrevious = TestArrays.Uniform<T>(h, h + 1, -3, 3);
            double[] z = TestArrays.ToDouble<T>(gates), cp = TestArrays.ToDouble<T>(cellPrevious);
            var expectedGates = new double[4 * h];
            double[] expectedCell = new double[h], expectedTanh = new double[h], expectedHidden = new double[h];
            for (int j = 0; j < h; j++)
            {
                double i = 1 / (1 + Math.Exp(-z[j])), f = 1 / (1 + Math.Exp(-z[h + j])), g = Math.Tanh(z[2 * h + j]), o = 1 / (1 + Math.Exp(-z[3 * h + j]));
                (expectedGates[j], expectedGates[h + j], expectedGates[2 * h + j], expectedGates[3 * h + j]) = (i, f, g, o);
                expectedCell[j] = f * cp[j] + i * g;
                expectedTanh[j] = Math.Tanh(expectedCell[j]);
                expectedHidden[j] = o * expectedTanh[j];
            }
            T[] cell = inPlaceCell ? cellPrevious : new T[h], tanhCell = new T[h + 1], hidden = new T[h + 1];
            tanhCell[h] = hidden[h] = TestArrays.Sentinel<T>();
            LstmGates.ForwardStep<T>(gates, cellPrevious, cell, tanhCell.AsSpan(0, h), hidden.AsSpan(0, h), h);
            var ones = Enumerable.Repeat(1.0, 4 * h).ToArray();
            double tolerance = 16 * TestArrays.Epsilon<T>();
            TestArrays.AssertClose<T>(gates, expectedGates, ones, tolerance, 0, $"gates (H={h})");
            TestArrays.AssertClose<T>(cell, expectedCell, ones.AsSpan(0, h), 0, tolerance * 4, $"cell (H={h})");
            TestArrays.AssertClose<T>(tanhCell.AsSpan(0, h), expectedTanh, ones.AsSpan(0, h), 0, tolerance * 4, $"tanh(cell) (H={h})");
            TestArrays.AssertClose<T>(hidden.AsSpan(0, h), expectedHidden, ones.AsSpan(0, h), 0, tolerance * 4, $"hidden (H={h})");
            Assert.That(tanhCell[h], Is.EqualTo(TestArrays.Sentinel<T>()));
            Assert.That(hidden[h], Is.EqualTo(TestArrays.Sentinel<T>()));
        }
    }

    [Test]
    public void InferenceStep_GivesForwardStepsCellAndHidden_BitForBit()
    {
        foreach (int h in Hidden.Concat([100, 200]))
        {
            T[] gates = TestArrays.Uniform<T>(4 * h, 3 * h, -6, 6), cellPrevious = TestArrays.Uniform<T>(h, 3 * h + 1, -3, 3);
            gates[0] = T.NaN;   // NaN passes through both alike
            T[] expectedCell = new T[h], expectedTanh = new T[h], expectedHidden = new T[h];
            LstmGates.ForwardStep<T>((T[])gates.Clone(), cellPrevious, expectedCell, expectedTanh, expectedHidden, h);

            T[] cell = (T[])cellPrevious.Clone(), hidden = new T[h + 1], tanhScratch = new T[h];
            hidden[h] = TestArrays.Sentinel<T>();
            LstmGates.InferenceStep<T>((T[])gates.Clone(), cell, tanhScratch, hidden.AsSpan(0, h), h);
            for (int j = 0; j < h; j++)
            {
                Assert.That(BitEqual(cell[j], expectedCell[j]), Is.True, $"cell[{j}] (H={h}): {cell[j]} vs {expectedCell[j]}");
                Assert.That(BitEqual(hidden[j], expectedHidden[j]), Is.True, $"hidden[{j}] (H={h}): {hidden[j]} vs {expectedHidden[j]}");
            }
            Assert.That(hidden[h], Is.EqualTo(TestArrays.Sentinel<T>()));
        }
        var e = Assert.Throws<ArgumentException>(() => LstmGates.InferenceStep<T>(new T[8], new T[2], new T[2], new T[1], 2));
        Assert.That(e!.Message, Does.Contain("[8]").And.Contain("[2]"));
    }

    private static bool BitEqual(T a, T b) => T.IsNaN(a) ? T.IsNaN(b) : a == b && T.IsNegative(a) == T.IsNegative(b);

    [Test]
    public void ForwardStep_PassesNaNThrough_AndSaturatesLargeInputs()
    {
        const int h = 9;
        T[] gates = new T[4 * h];
        gates.AsSpan().Fill(T.CreateTruncating(500.0));
        gates[2] = T.NaN;                          // i of column 2
        gates[3 * h + 5] = T.CreateTruncating(-500.0);   // o of column 5
        T[] cell = new T[h], tanhCell = new T[h], hidden = new T[h];
        LstmGates.ForwardStep<T>(gates, new T[h], cell, tanhCell, hidden, h);
        Assert.That(T.IsNaN(hidden[2]), Is.True, "NaN gate gives NaN output");
        Assert.That(double.CreateTruncating(T.Abs(hidden[5])), Is.LessThan(1e-30), "σ(−500) ≈ 0");
        Assert.That(hidden[0], Is.EqualTo(T.CreateTruncating(Math.Tanh(1.0))).Within(T.CreateTruncating(1e-6)), "σ(500)·tanh(σ(500)·tanh(500))");
    }

    // Pre-activations at ±1e30 and ±∞ give what PyTorch's cell gives in IEEE arithmetic: σ(−∞) = σ(−1e30) = 0 exactly
    // (1/(1 + e^{1e30}) = 1/∞), so a forget gate shut by −1e30 leaves nothing of even a huge c_{s−1} and 0·∞ is NaN;
    // NaN passes. Columns cycle through four cases, across the vector columns and the tail.
    [TestCase(9)]
    [TestCase(17)]
    [TestCase(35)]
    public void ForwardStep_AtSaturatedPreActivations_GivesTheIeeeCell(int h)
    {
        double inf = double.PositiveInfinity;
        (double I, double F, double G, double O, double CPrevious)[] cases =
        [
            (-inf, -inf, -inf, -inf, 3e38),       // all gates shut: c = 0·3e38 + 0·(−1) = 0, h = 0
            (1e30, -1e30, 1e30, 1e30, inf),       // f = 0 against c = ∞: 0·∞ = NaN
            (inf, inf, -1e30, inf, -0.5),         // all open: c = −0.5 − 1, h = tanh(−1.5)
            (-1e30, 1e30, double.NaN, -1e30, 2),  // NaN candidate: 0·NaN = NaN
        ];
        T[] gates = new T[4 * h], cellPrevious = new T[h];
        double[] expectedCell = new double[h], expectedHidden = new double[h];
        for (int j = 0; j < h; j++)
        {
            var (i, f, g, o, cPrevious) = cases[j % cases.Length];
            gates[j] = T.CreateTruncating(i); gates[h + j] = T.CreateTruncating(f);
            gates[2 * h + j] = T.CreateTruncating(g); gates[3 * h + j] = T.CreateTruncating(o);
            cellPrevious[j] = T.CreateTruncating(cPrevious);
            double c = NaiveKernels.Sigmoid(f) * cPrevious + NaiveKernels.Sigmoid(i) * Math.Tanh(g);   // (S4), (S5) in IEEE doubles
            expectedCell[j] = c;
            expectedHidden[j] = NaiveKernels.Sigmoid(o) * Math.Tanh(c);                                  // (S6), (S7)
        }
        T[] cell = new T[h], tanhCell = new T[h], hidden = new T[h];

        LstmGates.ForwardStep<T>(gates, cellPrevious, cell, tanhCell, hidden, h);

        for (int j = 0; j < h; j++)
        {
            foreach (var (actual, expected, name) in new[] { (cell[j], expectedCell[j], "c"), (hidden[j], expectedHidden[j], "h") })
            {
                double value = double.CreateTruncating(actual);
                string what = $"{name}[{j}] (case {j % cases.Length}) = {value:R}, IEEE gives {expected:R}";
                if (double.IsNaN(expected)) Assert.That(double.IsNaN(value), Is.True, what);
                else Assert.That(value, Is.EqualTo(expected).Within(4 * TestArrays.Epsilon<T>() * Math.Abs(expected)), what);
            }
        }
    }

    [Test]
    public void StepBackward_MatchesTheScalarEquations_ForEveryTail()
    {
        foreach (int h in Hidden)
        {
            // Gate activations in (0, 1) for σ and (−1, 1) for tanh, as the forward pass leaves them.
            T[] gates = TestArrays.Uniform<T>(4 * h, h, 0.01, 0.99);
            T[] candidate = TestArrays.Uniform<T>(h, h + 1, -0.99, 0.99);
            candidate.CopyTo(gates, 2 * h);
            T[] tanhCell = TestArrays.Uniform<T>(h, h + 2, -0.99, 0.99), cellPrevious = TestArrays.Uniform<T>(h, h + 3);
            T[] dHidden = TestArrays.Uniform<T>(h, h + 4), dCell = TestArrays.Uniform<T>(h, h + 5);
            double[] g = TestArrays.ToDouble<T>(gates), y = TestArrays.ToDouble<T>(tanhCell), cp = TestArrays.ToDouble<T>(cellPrevious);
            double[] dh = TestArrays.ToDouble<T>(dHidden), dcNext = TestArrays.ToDouble<T>(dCell);
            var expectedGates = new double[4 * h];
            var expectedCell = new double[h];
            for (int j = 0; j < h; j++)
            {
                double i = g[j], f = g[h + j], c = g[2 * h + j], o = g[3 * h + j];
                double dc = dcNext[j] + dh[j] * o * (1 - y[j] * y[j]);
                expectedGates[j] = dc * c * i * (1 - i);
                expectedGates[h + j] = dc * cp[j] * f * (1 - f);
                expectedGates[2 * h + j] = dc * i * (1 - c * c);
                expectedGates[3 * h + j] = dh[j] * y[j] * o * (1 - o);
                expectedCell[j] = dc * f;
            }
            T[] dGates = new T[4 * h + 2];
            dGates.AsSpan().Fill(TestArrays.Sentinel<T>());
            LstmGates.StepBackward<T>(gates, tanhCell, cellPrevious, dHidden, dCell, dGates.AsSpan(1, 4 * h), h);
            var ones = Enumerable.Repeat(1.0, 4 * h).ToArray();
            TestArrays.AssertClose<T>(dGates.AsSpan(1, 4 * h), expectedGates, ones, 0, 8 * TestArrays.Epsilon<T>(), $"dGates (H={h})");
            TestArrays.AssertClose<T>(dCell, expectedCell, ones.AsSpan(0, h), 0, 8 * TestArrays.Epsilon<T>(), $"dCell (H={h})");
            Assert.That(dGates[0], Is.EqualTo(TestArrays.Sentinel<T>()));
            Assert.That(dGates[^1], Is.EqualTo(TestArrays.Sentinel<T>()));
        }
    }

    // The vector loops (512 bits where AVX-512 runs natively, then 256, then scalar) do each column's operations in the
    // scalar loop's order, so every column has the bits the scalar formula gives in T, whichever loop took it.
    [Test]
    public void StepAndCellBackward_GiveEveryColumnTheScalarFormulasBits()
    {
        foreach (int h in Hidden.Append(40).Append(100))
        {
            T[] gates = TestArrays.Uniform<T>(4 * h, h + 7, 0.01, 0.99);
            TestArrays.Uniform<T>(h, h + 8, -0.99, 0.99).CopyTo(gates, 2 * h);
            T[] tanhCell = TestArrays.Uniform<T>(h, h + 9, -0.99, 0.99), cellPrevious = TestArrays.Uniform<T>(h, h + 10);
            T[] dHidden = TestArrays.Uniform<T>(h, h + 11), dCellNext = TestArrays.Uniform<T>(h, h + 12);
            T[] dGates = new T[4 * h], dCell = (T[])dCellNext.Clone();
            LstmGates.StepBackward<T>(gates, tanhCell, cellPrevious, dHidden, dCell, dGates, h);
            T[] dOutput = new T[h], dTanhArg = new T[h], dGatesSplit = new T[4 * h], dCellPrevious = new T[h];
            LstmGates.OutputBackward<T>(gates.AsSpan(3 * h), tanhCell, dHidden, dOutput, dTanhArg);
            LstmGates.CellBackward<T>(gates, cellPrevious, dCellNext, dGatesSplit, dCellPrevious, h);
            for (int j = 0; j < h; j++)
            {
                T i = gates[j], f = gates[h + j], g = gates[2 * h + j], o = gates[3 * h + j], y = tanhCell[j], dh = dHidden[j];
                T dc = dCellNext[j] + dh * o * (T.One - y * y);
                Assert.That(dGates[j], Is.EqualTo(dc * g * i * (T.One - i)), $"di (H={h}, j={j})");
                Assert.That(dGates[h + j], Is.EqualTo(dc * cellPrevious[j] * f * (T.One - f)), $"df (H={h}, j={j})");
                Assert.That(dGates[2 * h + j], Is.EqualTo(dc * i * (T.One - g * g)), $"dg (H={h}, j={j})");
                Assert.That(dGates[3 * h + j], Is.EqualTo(dh * y * o * (T.One - o)), $"do (H={h}, j={j})");
                Assert.That(dCell[j], Is.EqualTo(dc * f), $"dc_prev (H={h}, j={j})");
                T d = dCellNext[j];
                Assert.That(dOutput[j], Is.EqualTo(dh * y * o * (T.One - o)), $"OutputBackward do (H={h}, j={j})");
                Assert.That(dTanhArg[j], Is.EqualTo(dh * o * (T.One - y * y)), $"OutputBackward dtanh (H={h}, j={j})");
                Assert.That(dGatesSplit[j], Is.EqualTo(d * g * i * (T.One - i)), $"CellBackward di (H={h}, j={j})");
                Assert.That(dGatesSplit[h + j], Is.EqualTo(d * cellPrevious[j] * f * (T.One - f)), $"CellBackward df (H={h}, j={j})");
                Assert.That(dGatesSplit[2 * h + j], Is.EqualTo(d * i * (T.One - g * g)), $"CellBackward dg (H={h}, j={j})");
                Assert.That(dCellPrevious[j], Is.EqualTo(d * f), $"CellBackward dc_prev (H={h}, j={j})");
            }
        }
    }

    [Test]
    public void OutputAndCellBackward_MatchTheScalarEquations_ForEveryTail()
    {
        foreach (int h in Hidden)
        {
            T[] gates = TestArrays.Uniform<T>(4 * h, h, 0.01, 0.99);
            T[] tanhCell = TestArrays.Uniform<T>(h, h + 2, -0.99, 0.99), cellPrevious = TestArrays.Uniform<T>(h, h + 3);
            T[] dHidden = TestArrays.Uniform<T>(h, h + 4), dCell = TestArrays.Uniform<T>(h, h + 5);
            double[] g = TestArrays.ToDouble<T>(gates), y = TestArrays.ToDouble<T>(tanhCell), cp = TestArrays.ToDouble<T>(cellPrevious);
            double[] dh = TestArrays.ToDouble<T>(dHidden), dc = TestArrays.ToDouble<T>(dCell);
            var expectedOutput = new double[h]; var expectedTanhArg = new double[h];
            var expectedGates = new double[3 * h]; var expectedCell = new double[h];
            for (int j = 0; j < h; j++)
            {
                double i = g[j], f = g[h + j], c = g[2 * h + j], o = g[3 * h + j];
                expectedOutput[j] = dh[j] * y[j] * o * (1 - o);
                expectedTanhArg[j] = dh[j] * o * (1 - y[j] * y[j]);
                expectedGates[j] = dc[j] * c * i * (1 - i);
                expectedGates[h + j] = dc[j] * cp[j] * f * (1 - f);
                expectedGates[2 * h + j] = dc[j] * i * (1 - c * c);
                expectedCell[j] = dc[j] * f;
            }
            T[] dOutput = new T[h], dTanhArg = new T[h], dGates = new T[4 * h], dCellPrevious = new T[h];
            dGates.AsSpan(3 * h).Fill(TestArrays.Sentinel<T>());
            LstmGates.OutputBackward<T>(gates.AsSpan(3 * h), tanhCell, dHidden, dOutput, dTanhArg);
            LstmGates.CellBackward<T>(gates, cellPrevious, dCell, dGates, dCellPrevious, h);
            var ones = Enumerable.Repeat(1.0, 3 * h).ToArray();
            double tolerance = 8 * TestArrays.Epsilon<T>();
            TestArrays.AssertClose<T>(dOutput, expectedOutput, ones.AsSpan(0, h), 0, tolerance, $"dOutputPre (H={h})");
            TestArrays.AssertClose<T>(dTanhArg, expectedTanhArg, ones.AsSpan(0, h), 0, tolerance, $"dTanhArgument (H={h})");
            TestArrays.AssertClose<T>(dGates.AsSpan(0, 3 * h), expectedGates, ones, 0, tolerance, $"dGates (H={h})");
            TestArrays.AssertClose<T>(dCellPrevious, expectedCell, ones.AsSpan(0, h), 0, tolerance, $"dCellPrevious (H={h})");
            TestArrays.AssertUntouched<T>(dGates.AsSpan(3 * h), $"the o slice (H={h})");
        }
    }
}

/// <summary>
/// The float gate kernels' claim that a row's last columns (past its last full vector) get the vector columns'
/// arithmetic. Other types and machines take TensorPrimitives, whose last elements may go through other code (its
/// double tails differ in the last bit), so this is float only.
/// </summary>
public class LstmGatesTailTests
{
    // A row's last columns (past the last full vector) must get the same arithmetic as the vector columns: columns
    // [8, h) are given the inputs of columns [0, h − 8), and every output must then repeat bit for bit, through each
    // kernel with a tail (ForwardStep, InferenceStep, ActivateAndUpdateCell, and ForwardStepColumns ending mid-row).
    [Test]
    public void TailColumns_GetTheVectorColumnsBits([Values(9, 12, 15, 100, 203)] int h)
    {
        if (!FastMath.IsSupported) Assert.Ignore("The float FastMath gate kernels need AVX2 and FMA.");
        int full = h & ~7, rest = h - full, g = 4 * h;
        float[] gates = TestArrays.Uniform<float>(g, 7 * h, -6, 6), cellPrevious = TestArrays.Uniform<float>(h, 7 * h + 1, -3, 3);
        gates[1] = float.NaN;   // a NaN pre-activation repeats as NaN
        for (int k = 0; k < 4; k++) Array.Copy(gates, k * h, gates, k * h + full, rest);
        Array.Copy(cellPrevious, 0, cellPrevious, full, rest);

        float[] z = (float[])gates.Clone(), cell = new float[h], tanhCell = new float[h], hidden = new float[h];
        LstmGates.ForwardStep<float>(z, cellPrevious, cell, tanhCell, hidden, h);
        for (int k = 0; k < 4; k++) AssertRepeats(z.AsSpan(k * h, h), full, rest, $"ForwardStep gate {k}");
        AssertRepeats(cell, full, rest, "ForwardStep cell");
        AssertRepeats(tanhCell, full, rest, "ForwardStep tanh(c)");
        AssertRepeats(hidden, full, rest, "ForwardStep hidden");

        float[] inPlace = (float[])cellPrevious.Clone(), hiddenInference = new float[h];
        LstmGates.InferenceStep<float>((float[])gates.Clone(), inPlace, new float[h], hiddenInference, h);
        AssertRepeats(inPlace, full, rest, "InferenceStep cell");
        AssertRepeats(hiddenInference, full, rest, "InferenceStep hidden");

        float[] activated = (float[])gates.Clone(), updated = new float[h];
        LstmGates.ActivateAndUpdateCell<float>(activated, cellPrevious, updated, h);
        for (int k = 0; k < 4; k++) AssertRepeats(activated.AsSpan(k * h, h), full, rest, $"ActivateAndUpdateCell gate {k}");
        AssertRepeats(updated, full, rest, "ActivateAndUpdateCell cell");

        // The column-range kernel (two-core steps) over [0, full) and then its ragged end [full, h).
        float[] zf = (float[])gates.Clone(), cf = new float[h], yf = new float[h], hf = new float[h];
        if (full > 0) LstmGates.ForwardStepColumns(zf, cellPrevious, cf, yf, hf, h, 0, full);
        LstmGates.ForwardStepColumns(zf, cellPrevious, cf, yf, hf, h, full, h);
        AssertRepeats(cf, full, rest, "ForwardStepColumns cell");
        AssertRepeats(hf, full, rest, "ForwardStepColumns hidden");
    }

    private static void AssertRepeats(ReadOnlySpan<float> row, int full, int rest, string what)
    {
        for (int j = 0; j < rest; j++)
            Assert.That(BitConverter.SingleToInt32Bits(row[full + j]) == BitConverter.SingleToInt32Bits(row[j]) || (float.IsNaN(row[full + j]) && float.IsNaN(row[j])), Is.True, $"{what}: column {full + j} = {row[full + j]}, column {j} = {row[j]}");
    }
}
