using System.Security.Cryptography;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Layers;

/// <summary>
/// The weights a seeded model gets with Keras' default initializers, pinned by hash: seeded models, saved weights and
/// the placement study's results depend on them, so adding initializer options must not move a bit. The hashes were
/// computed at commit 7ef8022 (before the initializer options existed), not by the code they now check.
/// </summary>
public class DefaultWeightsPinTests
{
    // Every layer kind and every default initializer: Bidirectional and LSTM (glorot_uniform kernel, orthogonal recurrent
    // kernel, zeros bias with the forget slice at 1), LayerNorm (ones γ, zeros β), Dense (glorot_uniform, zeros), and an
    // in-cell LayerNorm (its γ and β).
    private static ModelSpec Spec(int seed) => ModelBuilder.Input(7)
        .Bidirectional(5, returnSequences: true).LayerNorm()
        .Lstm(6, returnSequences: true, cellNormalization: CellNormalization.TfAddons)
        .Lstm(4).Dense(3).ToSpec(seed);

    public static string Hash<T>(Sequential<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var sha = SHA256.Create();
        foreach (NamedParameter<T> p in model.NamedParameters)
        {
            byte[] name = System.Text.Encoding.UTF8.GetBytes(p.Name);
            sha.TransformBlock(name, 0, name.Length, null, 0);
            byte[] bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(p.Parameter.Value.AsSpan()).ToArray();
            sha.TransformBlock(bytes, 0, bytes.Length, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexString(sha.Hash!);
    }

    [TestCase(0, "D1BE1E4A791560B3B8DD532B384BEC2A4F94DD43DA0C63277150B9C28BAE2692", "52FBE6D8BCF17CF96404798A6DED9AFE8BE7D213032819F2C06FEE681BAB9688")]
    [TestCase(42, "D5E92F1F9E76F9BCCB01BA68538521E97B4A51A691EE7AFC29FEB8949B6EDE08", "2FD9D60AAE16B809A253F77B26DEDD03692C4DEB804E5796D84EF840B980162F")]
    public void DefaultInitializers_GiveTheWeightsOfTheStartCommit_BitForBit(int seed, string floatHash, string doubleHash)
    {
        Assert.That(Hash(Spec(seed).Build<float>()), Is.EqualTo(floatHash), "float");
        Assert.That(Hash(Spec(seed).Build<double>()), Is.EqualTo(doubleHash), "double");
    }
}
