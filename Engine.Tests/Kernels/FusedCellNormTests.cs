using System.Numerics.Tensors;
using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// The in-cell LayerNorm kernels fused into the gate pass: <see cref="LstmGates.NormalizedForwardStep{T}"/> against
/// LayerNorm followed by the plain gate pass (bit for bit) and against the scalar equations (C1), (S4)–(S7);
/// <see cref="LstmGates.NormalizedCellOutput{T}"/> against (C4)/(C5), (S6)–(S7); <see cref="LstmGates.ActivateAndUpdateCell{T}"/>
/// against (S4)–(S5); <see cref="LstmGates.NormalizedCellBackward{T}"/> against the separate backward steps (bit for bit); <see cref="LayerNormKernel.SeparateGatesForwardRow{T}"/> against the
/// passes it fuses (bit for bit) and against (C2) with (S3). Lengths around the vector width, so every tail is taken.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public class FusedCellNormTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Hidden = [1, 3, 7, 8, 9, 16, 17, 33, 100];
    private const double Epsilon = 1e-3;

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    [Test]
    public void NormalizedForwardStep_EqualsLayerNormThenTheGatePass_BitForBit([Values(false, true)] bool inPlaceCell)
    {
        foreach (int h in Hidden)
        {
            int g = 4 * h;
            T[] z = TestArrays.Uniform<T>(g, h, -4, 6), gamma = TestArrays.Uniform<T>(g, h + 1, 0.5, 1.5), beta = TestArrays.Uniform<T>(g, h + 2);
            T[] cellPrevious = TestArrays.Uniform<T>(h, h + 3, -2, 2);
            T eps = T.CreateTruncating(Epsilon);

            // Reference: the two kernels one after the other.
            T[] zRef = (T[])z.Clone(), normalizedRef = new T[g], mean = new T[1], rho = new T[1];
            T[] cellRef = new T[h], tanhRef = new T[h], hiddenRef = new T[h];
            LayerNormKernel.Forward<T>(zRef, g, eps, gamma, beta, zRef, normalizedRef, mean, rho);
            LstmGates.ForwardStep<T>(zRef, cellPrevious, cellRef, tanhRef, hiddenRef, h);

            T[] cp = (T[])cellPrevious.Clone(), normalized = new T[g];
            T[] cell = inPlaceCell ? cp : new T[h], tanhCell = new T[h + 1], hidden = new T[h + 1];
            tanhCell[h] = hidden[h] = TestArrays.Sentinel<T>();
            (T mu, T inverseStd) = LstmGates.NormalizedForwardStep<T>(z, eps, gamma, beta, normalized, cp, cell, tanhCell.AsSpan(0, h), hidden.AsSpan(0, h), h);

            Assert.That(mu, Is.EqualTo(mean[0]), $"μ (H={h})");
            Assert.That(inverseStd, Is.EqualTo(rho[0]), $"ρ (H={h})");
            Assert.That(normalized, Is.EqualTo(normalizedRef), $"x̂ (H={h})");
            Assert.That(z, Is.EqualTo(zRef), $"activated gates (H={h})");
            Assert.That(cell, Is.EqualTo(cellRef), $"cell (H={h})");
            Assert.That(tanhCell.AsSpan(0, h).ToArray(), Is.EqualTo(tanhRef), $"tanh(cell) (H={h})");
            Assert.That(hidden.AsSpan(0, h).ToArray(), Is.EqualTo(hiddenRef), $"hidden (H={h})");
            Assert.That(tanhCell[h], Is.EqualTo(TestArrays.Sentinel<T>()));
            Assert.That(hidden[h], Is.EqualTo(TestArrays.Sentinel<T>()));
        }
    }

    [Test]
    public void NormalizedForwardStep_MatchesTheScalarEquations()
    {
        foreach (int h in Hidden)
        {
            int g = 4 * h;
            T[] z = TestArrays.Uniform<T>(g, 2 * h, -4, 6), gamma = TestArrays.Uniform<T>(g, 2 * h + 1, 0.5, 1.5), beta = TestArrays.Uniform<T>(g, 2 * h + 2);
            T[] cellPrevious = TestArrays.Uniform<T>(h, 2 * h + 3, -2, 2);
            double[] x = TestArrays.ToDouble<T>(z), ga = TestArrays.ToDouble<T>(gamma), be = TestArrays.ToDouble<T>(beta), cp = TestArrays.ToDouble<T>(cellPrevious);
            double mu = x.Average(), rho = 1 / Math.Sqrt(x.Select(v => (v - mu) * (v - mu)).Average() + Epsilon);
            double[] y = x.Select((v, j) => (v - mu) * rho * ga[j] + be[j]).ToArray();
            double[] expectedCell = new double[h], expectedHidden = new double[h];
            for (int j = 0; j < h; j++)
            {
                expectedCell[j] = Sigmoid(y[h + j]) * cp[j] + Sigmoid(y[j]) * Math.Tanh(y[2 * h + j]);
                expectedHidden[j] = Sigmoid(y[3 * h + j]) * Math.Tanh(expectedCell[j]);
            }
            T[] normalized = new T[g], cell = new T[h], tanhCell = new T[h], hidden = new T[h];
            (T m, T r) = LstmGates.NormalizedForwardStep<T>(z, T.CreateTruncating(Epsilon), gamma, beta, normalized, cellPrevious, cell, tanhCell, hidden, h);
            double tolerance = 64 * (g + 4) * TestArrays.Epsilon<T>();
            Assert.That(double.CreateTruncating(m), Is.EqualTo(mu).Within(tolerance * 4), $"μ (H={h})");
            Assert.That(double.CreateTruncating(r), Is.EqualTo(rho).Within(tolerance * rho), $"ρ (H={h})");
            TestArrays.AssertClose<T>(normalized, x.Select(v => (v - mu) * rho).ToArray(), [], 0, tolerance * 4, $"x̂ (H={h})");
            TestArrays.AssertClose<T>(cell, expectedCell, [], 0, tolerance * 8, $"cell (H={h})");
            TestArrays.AssertClose<T>(hidden, expectedHidden, [], 0, tolerance * 8, $"hidden (H={h})");
        }
    }

    [Test]
    public void NormalizedCellOutput_MatchesTheScalarEquations([Values(false, true)] bool carry)
    {
        foreach (int h in Hidden)
        {
            T[] cell = TestArrays.Uniform<T>(h, 3 * h, -3, 3), gamma = TestArrays.Uniform<T>(h, 3 * h + 1, 0.5, 1.5), beta = TestArrays.Uniform<T>(h, 3 * h + 2);
            T[] outputGate = TestArrays.Uniform<T>(h, 3 * h + 3, 0.01, 0.99);
            double[] c = TestArrays.ToDouble<T>(cell), ga = TestArrays.ToDouble<T>(gamma), be = TestArrays.ToDouble<T>(beta), o = TestArrays.ToDouble<T>(outputGate);
            double mu = c.Average(), rho = 1 / Math.Sqrt(c.Select(v => (v - mu) * (v - mu)).Average() + Epsilon);
            double[] normalizedCell = c.Select((v, j) => (v - mu) * rho * ga[j] + be[j]).ToArray();
            double[] expectedTanh = normalizedCell.Select(Math.Tanh).ToArray();
            double[] expectedHidden = expectedTanh.Select((t, j) => o[j] * t).ToArray();
            T[] original = (T[])cell.Clone(), normalized = new T[h], tanhCell = new T[h], hidden = new T[h];

            LstmGates.NormalizedCellOutput<T>(cell, T.CreateTruncating(Epsilon), gamma, beta, normalized, outputGate, tanhCell, hidden, carry);

            double tolerance = 64 * (h + 4) * TestArrays.Epsilon<T>();
            TestArrays.AssertClose<T>(normalized, c.Select(v => (v - mu) * rho).ToArray(), [], 0, tolerance * 4, $"x̂ (H={h})");
            TestArrays.AssertClose<T>(tanhCell, expectedTanh, [], 0, tolerance * 8, $"tanh (H={h})");
            TestArrays.AssertClose<T>(hidden, expectedHidden, [], 0, tolerance * 8, $"hidden (H={h})");
            if (carry) TestArrays.AssertClose<T>(cell, normalizedCell, [], 0, tolerance * 8, $"carried LN_c(c) (H={h})");
            else Assert.That(cell, Is.EqualTo(original), $"c is carried un-normalized (H={h})");
        }
    }

    [Test]
    public void ActivateAndUpdateCell_MatchesTheScalarEquations_ForEveryTail()
    {
        foreach (int h in Hidden)
        {
            T[] gates = TestArrays.Uniform<T>(4 * h, 4 * h, -6, 6), cellPrevious = TestArrays.Uniform<T>(h, 4 * h + 1, -3, 3);
            double[] z = TestArrays.ToDouble<T>(gates), cp = TestArrays.ToDouble<T>(cellPrevious);
            double[] expectedGates = new double[4 * h], expectedCell = new double[h];
            for (int j = 0; j < h; j++)
            {
                double i = Sigmoid(z[j]), f = Sigmoid(z[h + j]), g = Math.Tanh(z[2 * h + j]), o = Sigmoid(z[3 * h + j]);
                (expectedGates[j], expectedGates[h + j], expectedGates[2 * h + j], expectedGates[3 * h + j]) = (i, f, g, o);
                expectedCell[j] = f * cp[j] + i * g;
            }
            T[] cell = new T[h + 1];
            cell[h] = TestArrays.Sentinel<T>();
            LstmGates.ActivateAndUpdateCell<T>(gates, cellPrevious, cell.AsSpan(0, h), h);
            double tolerance = 16 * TestArrays.Epsilon<T>();
            TestArrays.AssertClose<T>(gates, expectedGates, Enumerable.Repeat(1.0, 4 * h).ToArray(), tolerance, 0, $"gates (H={h})");
            TestArrays.AssertClose<T>(cell.AsSpan(0, h), expectedCell, [], 0, tolerance * 4, $"cell (H={h})");
            Assert.That(cell[h], Is.EqualTo(TestArrays.Sentinel<T>()));
        }
    }

    [Test]
    public void NormalizedCellBackward_EqualsTheSeparateSteps_BitForBit([Values(false, true)] bool carry)
    {
        if (!LayerNormKernel.HasRowKernels<T>()) Assert.Ignore("The fused backward needs the LayerNorm row kernels (Vector256 hardware).");
        foreach (int h in Hidden)
        {
            int g = 4 * h;
            T[] gates = TestArrays.Uniform<T>(g, 3 * h, 0.05, 0.95), tanhCell = TestArrays.Uniform<T>(h, 3 * h + 1, -0.9, 0.9);
            T[] cellPrevious = TestArrays.Uniform<T>(h, 3 * h + 2, -2, 2), dHidden = TestArrays.Uniform<T>(h, 3 * h + 3);
            T[] dCellNext = TestArrays.Uniform<T>(h, 3 * h + 4), normalized = TestArrays.Uniform<T>(h, 3 * h + 5, -2, 2);
            T[] gamma = TestArrays.Uniform<T>(h, 3 * h + 6, 0.5, 1.5), dGamma0 = TestArrays.Uniform<T>(h, 3 * h + 7), dBeta0 = TestArrays.Uniform<T>(h, 3 * h + 8);
            T rho = T.CreateTruncating(1.7);

            // Reference: what BackwardStep ran before, step by step: (B3); (B6) or (B5); (B7), (B8).
            T[] dGatesRef = new T[g], dTanhArg = new T[h], dcRaw = new T[h], dCellRef = (T[])dCellNext.Clone();
            T[] dGammaRef = (T[])dGamma0.Clone(), dBetaRef = (T[])dBeta0.Clone();
            LstmGates.OutputBackward<T>(gates.AsSpan(3 * h, h), tanhCell, dHidden, dGatesRef.AsSpan(3 * h, h), dTanhArg);
            if (carry)
            {
                System.Numerics.Tensors.TensorPrimitives.Add<T>(dCellRef, dTanhArg, dTanhArg);
                LayerNormKernel.BackwardRow<T>(dTanhArg, normalized, rho, gamma, dcRaw, dGammaRef, dBetaRef, overwrite: true);
            }
            else
            {
                dCellRef.CopyTo(dcRaw, 0);
                LayerNormKernel.BackwardRow<T>(dTanhArg, normalized, rho, gamma, dcRaw, dGammaRef, dBetaRef);
            }
            LstmGates.CellBackward<T>(gates, cellPrevious, dcRaw, dGatesRef, dCellRef, h);

            T[] dGates = new T[g], dCell = (T[])dCellNext.Clone(), dGamma = (T[])dGamma0.Clone(), dBeta = (T[])dBeta0.Clone(), scratch = new T[h];
            LstmGates.NormalizedCellBackward<T>(gates, tanhCell, cellPrevious, dHidden, dCell, dGates, normalized, rho, gamma, dGamma, dBeta, carry, scratch);

            Assert.That(dGates, Is.EqualTo(dGatesRef), $"gate gradients (H={h})");
            Assert.That(dCell, Is.EqualTo(dCellRef), $"dc_prev (H={h})");
            Assert.That(dGamma, Is.EqualTo(dGammaRef), $"dγ (H={h})");
            Assert.That(dBeta, Is.EqualTo(dBetaRef), $"dβ (H={h})");
        }
    }

    // A row LayerNorm of width g with γ in [0.5, 1.5] and β in [−1, 1] drawn from the seeds after seed, and its twin
    // (the same γ and β) when asked for.
    private static NormParameters<T> NewNorm(int g, int seed, NormParameters<T>? copyOf = null)
    {
        var norm = new NormParameters<T>("ln", g, T.CreateTruncating(Epsilon));
        (copyOf?.Gamma.Value ?? TestArrays.Uniform<T>(g, seed + 1, 0.5, 1.5)).CopyTo(norm.Gamma.Value, 0);
        (copyOf?.Beta.Value ?? TestArrays.Uniform<T>(g, seed + 2)).CopyTo(norm.Beta.Value, 0);
        return norm;
    }

    [Test]
    public void NormBackwardRowInPlace_EqualsTheBackwardIntoAnotherBuffer_BitForBit()
    {
        // LN_i's backward in the separate gate-norm cells overwrites dAx with dAx before the norm. Under the SIMD-off
        // run of these tests this takes the general kernel's path, which needs a copy of dy.
        foreach (int h in Hidden)
        {
            int g = 4 * h, rows = 3;
            T[] x = TestArrays.Uniform<T>(rows * g, 3 * h, -3, 5), y = new T[rows * g];
            NormParameters<T> reference = NewNorm(g, 3 * h), inPlace = NewNorm(g, 3 * h, reference);
            var cache = new NormCache<T>();
            cache.Ensure(rows, g);
            for (int r = 0; r < rows; r++) reference.ForwardRow(x.AsSpan(r * g, g), y.AsSpan(r * g, g), cache, r);

            T[] dy = TestArrays.Uniform<T>(rows * g, 3 * h + 3), expected = new T[rows * g], scratch = new T[g], copy = new T[g];
            T[] actual = (T[])dy.Clone();
            for (int r = 0; r < rows; r++)
            {
                reference.BackwardRowOverwrite(dy.AsSpan(r * g, g), expected.AsSpan(r * g, g), cache, r, scratch);
                inPlace.BackwardRowInPlace(actual.AsSpan(r * g, g), cache, r, scratch, copy);
            }
            Assert.That(actual, Is.EqualTo(expected), $"dx (H={h})");
            Assert.That(actual, Is.Not.EqualTo(dy), $"dx differs from dy (H={h})");
            Assert.That(inPlace.Gamma.Gradient, Is.EqualTo(reference.Gamma.Gradient), $"dγ (H={h})");
            Assert.That(inPlace.Beta.Gradient, Is.EqualTo(reference.Beta.Gradient), $"dβ (H={h})");
        }
    }

    [Test]
    public void NormForwardRowThenBias_EqualsTheRowAndThenTheBiasPass_BitForBit()
    {
        // Training's LN_i before the time loop: x ← LN_i(x) + b for each row of Ax, b added in the row kernel's last pass.
        foreach (int h in Hidden)
        {
            int g = 4 * h, rows = 3;
            NormParameters<T> norm = NewNorm(g, 7 * h);
            T[] x = TestArrays.Uniform<T>(rows * g, 7 * h, -3, 5), bias = TestArrays.Uniform<T>(g, 7 * h + 3, -2, 2);
            T[] expected = (T[])x.Clone(), actual = (T[])x.Clone();
            NormCache<T> expectedCache = new(), actualCache = new();
            expectedCache.Ensure(rows, g);
            actualCache.Ensure(rows, g);
            for (int r = 0; r < rows; r++)
            {
                Span<T> row = expected.AsSpan(r * g, g);
                norm.ForwardRow(row, row, expectedCache, r);
                TensorPrimitives.Add(row, bias, row);
                norm.ForwardRowInPlaceThenAdd(actual.AsSpan(r * g, g), bias, actualCache, r);
            }
            TestArrays.AssertSameBits<T>(actual, expected, $"LN(x) + b (H={h})");
            TestArrays.AssertSameBits<T>(actualCache.Normalized, expectedCache.Normalized, $"x̂ (H={h})");
            TestArrays.AssertSameBits<T>(actualCache.Mean, expectedCache.Mean, $"μ (H={h})");
            TestArrays.AssertSameBits<T>(actualCache.InverseStd, expectedCache.InverseStd, $"ρ (H={h})");
        }
    }

    [Test]
    public void NormBackwardRowInPlaceWithBias_EqualsTheBiasPassThenTheBackward_BitForBit()
    {
        // LN_i's backward after the loop takes db += dz with it: the same adds, row by row, as a pass over dz before.
        foreach (int h in Hidden)
        {
            int g = 4 * h, rows = 4;
            NormParameters<T> reference = NewNorm(g, 9 * h), fused = NewNorm(g, 9 * h, reference);
            // Gradients accumulate: start every one from values already there.
            foreach (var (from, to, seed) in new[] { (reference.Gamma, fused.Gamma, 9 * h + 3), (reference.Beta, fused.Beta, 9 * h + 4) })
            {
                TestArrays.Uniform<T>(g, seed).CopyTo(from.Gradient, 0);
                from.Gradient.CopyTo(to.Gradient, 0);
            }
            var cache = new NormCache<T>();
            cache.Ensure(rows, g);
            T[] x = TestArrays.Uniform<T>(rows * g, 9 * h, -3, 5), y = new T[rows * g];
            for (int r = 0; r < rows; r++) reference.ForwardRow(x.AsSpan(r * g, g), y.AsSpan(r * g, g), cache, r);

            T[] dz = TestArrays.Uniform<T>(rows * g, 9 * h + 5, -2, 2), expected = (T[])dz.Clone(), actual = (T[])dz.Clone();
            T[] expectedBias = TestArrays.Uniform<T>(g, 9 * h + 6), actualBias = (T[])expectedBias.Clone();
            T[] scratch = new T[g], copy = new T[g];
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(expectedBias, expected.AsSpan(r * g, g), expectedBias);
            for (int r = 0; r < rows; r++)
            {
                reference.BackwardRowInPlace(expected.AsSpan(r * g, g), cache, r, scratch, copy);
                fused.BackwardRowInPlace(actual.AsSpan(r * g, g), cache, r, scratch, copy, actualBias);
            }
            TestArrays.AssertSameBits<T>(actual, expected, $"dx (H={h})");
            TestArrays.AssertSameBits<T>(actualBias, expectedBias, $"db (H={h})");
            TestArrays.AssertSameBits<T>(fused.Gamma.Gradient, reference.Gamma.Gradient, $"dγ (H={h})");
            TestArrays.AssertSameBits<T>(fused.Beta.Gradient, reference.Beta.Gradient, $"dβ (H={h})");
            Assert.That(actualBias, Is.Not.EqualTo(TestArrays.Uniform<T>(g, 9 * h + 6)), $"db changed (H={h})");
        }
    }

    [Test]
    public void NormRowsWithABias_RejectABiasOfAnotherWidth_NamingIt()
    {
        var norm = new NormParameters<T>("cell.layernorm_i", 8, T.CreateTruncating(Epsilon));
        var cache = new NormCache<T>();
        cache.Ensure(1, 8);
        T[] row = new T[8], wide = new T[8], bias = new T[6];
        var e = Assert.Throws<ArgumentException>(() => norm.ForwardRowInPlaceThenAdd(row, bias, cache, 0));
        Assert.That(e!.Message, Does.Contain("cell.layernorm_i").And.Contain("[8]").And.Contain("6 values"));
        e = Assert.Throws<ArgumentException>(() => norm.BackwardRowInPlace(row, cache, 0, wide, wide, bias));
        Assert.That(e!.Message, Does.Contain("cell.layernorm_i").And.Contain("[8]").And.Contain("6 values"));
    }

    [Test]
    public void SeparateGatesForwardRow_EqualsBothLayerNormsAndTheBiasPassByPass_BitForBit()
    {
        // What the training step does for (C2): LN_i of Ax in place, b added, LN_h of Ah added into the row.
        if (!LayerNormKernel.HasRowKernels<T>()) Assert.Ignore("The fused row needs the LayerNorm row kernels (Vector256 hardware).");
        foreach (int h in Hidden)
        {
            int g = 4 * h;
            T epsilonI = T.CreateTruncating(Epsilon), epsilonH = T.CreateTruncating(1e-5);
            T[] ax = TestArrays.Uniform<T>(g, 5 * h, -3, 5), ah = TestArrays.Uniform<T>(g, 5 * h + 1, -2, 4), bias = TestArrays.Uniform<T>(g, 5 * h + 2);
            T[] gammaI = TestArrays.Uniform<T>(g, 5 * h + 3, 0.5, 1.5), betaI = TestArrays.Uniform<T>(g, 5 * h + 4);
            T[] gammaH = TestArrays.Uniform<T>(g, 5 * h + 5, 0.5, 1.5), betaH = TestArrays.Uniform<T>(g, 5 * h + 6);

            T[] expected = (T[])ax.Clone(), normalizedIRef = new T[g], normalizedHRef = new T[g];
            (T muI, T rhoI) = LayerNormKernel.ForwardRow<T>(expected, epsilonI, gammaI, betaI, expected, normalizedIRef);
            TensorPrimitives.Add(expected, bias, expected);
            (T muH, T rhoH) = LayerNormKernel.ForwardRow<T>(ah, epsilonH, gammaH, betaH, expected, normalizedHRef, addToY: true);

            T[] z = (T[])ax.Clone(), normalizedI = new T[g], normalizedH = new T[g];
            var statistics = LayerNormKernel.SeparateGatesForwardRow<T>(z, ah, bias, epsilonI, gammaI, betaI, normalizedI, epsilonH, gammaH, betaH, normalizedH);
            Assert.That(statistics, Is.EqualTo((muI, rhoI, muH, rhoH)), $"μ_i, ρ_i, μ_h, ρ_h (H={h})");
            Assert.That(z, Is.EqualTo(expected), $"z (H={h})");
            Assert.That(normalizedI, Is.EqualTo(normalizedIRef), $"x̂_i (H={h})");
            Assert.That(normalizedH, Is.EqualTo(normalizedHRef), $"x̂_h (H={h})");

            // Inference passes one scratch row for both x̂: z is the same.
            T[] zShared = (T[])ax.Clone(), scratch = new T[g];
            LayerNormKernel.SeparateGatesForwardRow<T>(zShared, ah, bias, epsilonI, gammaI, betaI, scratch, epsilonH, gammaH, betaH, scratch);
            Assert.That(zShared, Is.EqualTo(expected), $"z with one scratch row for both x̂ (H={h})");
        }
    }

    [Test]
    public void SeparateGatesForwardRow_MatchesTheScalarEquations()
    {
        // (C2) with (S3): z = (γ_i ⊙ x̂_i + β_i + b) + (γ_h ⊙ x̂_h + β_h), each x̂ with its own ε.
        foreach (int h in Hidden)
        {
            int g = 4 * h;
            const double epsilonH = 1e-5;
            T[] ax = TestArrays.Uniform<T>(g, 7 * h, -3, 5), ah = TestArrays.Uniform<T>(g, 7 * h + 1, -2, 4), bias = TestArrays.Uniform<T>(g, 7 * h + 2);
            T[] gammaI = TestArrays.Uniform<T>(g, 7 * h + 3, 0.5, 1.5), betaI = TestArrays.Uniform<T>(g, 7 * h + 4);
            T[] gammaH = TestArrays.Uniform<T>(g, 7 * h + 5, 0.5, 1.5), betaH = TestArrays.Uniform<T>(g, 7 * h + 6);
            double[] x = TestArrays.ToDouble<T>(ax), y = TestArrays.ToDouble<T>(ah), b = TestArrays.ToDouble<T>(bias);
            double[] gi = TestArrays.ToDouble<T>(gammaI), bi = TestArrays.ToDouble<T>(betaI), gh = TestArrays.ToDouble<T>(gammaH), bh = TestArrays.ToDouble<T>(betaH);
            double muI = x.Average(), rhoI = 1 / Math.Sqrt(x.Select(v => (v - muI) * (v - muI)).Average() + Epsilon);
            double muH = y.Average(), rhoH = 1 / Math.Sqrt(y.Select(v => (v - muH) * (v - muH)).Average() + epsilonH);
            double[] expected = x.Select((v, j) => (v - muI) * rhoI * gi[j] + bi[j] + b[j] + (y[j] - muH) * rhoH * gh[j] + bh[j]).ToArray();

            T[] z = (T[])ax.Clone(), normalizedI = new T[g], normalizedH = new T[g];
            var (m, r, mh, rh) = LayerNormKernel.SeparateGatesForwardRow<T>(z, ah, bias, T.CreateTruncating(Epsilon), gammaI, betaI, normalizedI,
                T.CreateTruncating(epsilonH), gammaH, betaH, normalizedH);
            double tolerance = 64 * (g + 4) * TestArrays.Epsilon<T>();
            Assert.That(double.CreateTruncating(m), Is.EqualTo(muI).Within(tolerance * 4), $"μ_i (H={h})");
            Assert.That(double.CreateTruncating(r), Is.EqualTo(rhoI).Within(tolerance * rhoI), $"ρ_i (H={h})");
            Assert.That(double.CreateTruncating(mh), Is.EqualTo(muH).Within(tolerance * 4), $"μ_h (H={h})");
            Assert.That(double.CreateTruncating(rh), Is.EqualTo(rhoH).Within(tolerance * rhoH), $"ρ_h (H={h})");
            TestArrays.AssertClose<T>(normalizedI, x.Select(v => (v - muI) * rhoI).ToArray(), [], 0, tolerance * 4, $"x̂_i (H={h})");
            TestArrays.AssertClose<T>(normalizedH, y.Select(v => (v - muH) * rhoH).ToArray(), [], 0, tolerance * 4, $"x̂_h (H={h})");
            TestArrays.AssertClose<T>(z, expected, [], 0, tolerance * 16, $"z (H={h})");
        }
    }

    [Test]
    public void FusedKernels_RejectWrongLengths_NamingThem()
    {
        T[] four = new T[8], row = new T[2], shortRow = new T[1];
        var e = Assert.Throws<ArgumentException>(() => LstmGates.NormalizedForwardStep<T>(four, T.One, four, four, four, row, row, row, shortRow, 2));
        Assert.That(e!.Message, Does.Contain("NormalizedForwardStep").And.Contain("[8]"));
        e = Assert.Throws<ArgumentException>(() => LstmGates.NormalizedCellOutput<T>(row, T.One, row, row, row, row, row, shortRow, carry: true));
        Assert.That(e!.Message, Does.Contain("NormalizedCellOutput").And.Contain("h 1"));
        e = Assert.Throws<ArgumentException>(() => LayerNormKernel.SeparateGatesForwardRow<T>(four, four, four, T.One, four, four, four, T.One, four, row, four));
        Assert.That(e!.Message, Does.Contain("SeparateGatesForwardRow").And.Contain("[8]").And.Contain("β_h 2"));
        if (LayerNormKernel.HasRowKernels<T>())
        {
            e = Assert.Throws<ArgumentException>(() => LstmGates.NormalizedCellBackward<T>(four, row, row, row, row, four, row, T.One, row, row, shortRow, true, row));
            Assert.That(e!.Message, Does.Contain("NormalizedCellBackward").And.Contain("[8]"));
        }
    }
}
