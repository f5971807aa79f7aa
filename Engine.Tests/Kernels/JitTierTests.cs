using System.Reflection;
using System.Reflection.Emit;
using NumLstm.Kernels;
using NumLstm.Layers;
using NumLstm.Models;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// Every method with a loop on the serving path (the kernels, the layers' inference passes, the streaming step's jobs,
/// the runner behind plans and sessions) is marked <see cref="MethodImplOptions.AggressiveOptimization"/>, so .NET
/// compiles it optimized on its first call instead of running it unoptimized (tier 0) for the first ~100 ms of calls,
/// when a W3 step took about 86 µs instead of 8 (docs/serving.md, "The first calls"). A loop is found in the IL (a branch
/// to an earlier instruction); the scanner is shown to find one in a method with a loop and none in one without.
/// </summary>
public class JitTierTests
{
    /// <summary>Whole types on the serving path: every method of theirs with a loop must be marked.</summary>
    private static readonly Type[] ServingTypes =
    {
        typeof(Activations), typeof(DotGemm), typeof(Gemm), typeof(GemmPacked), typeof(LayerNormKernel), typeof(LstmGates),
        typeof(PairedWork), typeof(FastMath), typeof(Lstm<>.ColumnSplitJob), typeof(InferenceRunner<>),
        typeof(BidirectionalInferenceBuffers<>), typeof(LstmInferenceBuffers<>), typeof(StreamingSession<>), typeof(InferencePlan<>),
        typeof(DirectionBalance),
    };

    /// <summary>The layers' inference methods (the layer types also hold training code, which is not in scope).</summary>
    private static readonly (Type Type, string Name)[] ServingMethods =
    {
        (typeof(Lstm<>), "InferenceForward"), (typeof(Lstm<>), "WriteStepOutputs"), (typeof(Lstm<>), "StepOnTwoCores"),
        (typeof(Lstm<>), "GateRow"), (typeof(Lstm<>), "NormalizeRow"), (typeof(Lstm<>), "StepProducts"),
        (typeof(Lstm<>), "StepRows"), (typeof(Lstm<>), "InferenceContinueRows"), (typeof(Lstm<>), "WriteLastOutputs"),
        (typeof(Bidirectional<>), "InferenceForward"), (typeof(Dense<>), "InferenceForward"), (typeof(LayerNorm<>), "InferenceForward"),
        (typeof(NonFiniteCheck), "AllFinite"),   // with a model's NonFiniteInputs = Reject
        (typeof(Masking<>), "Apply"), (typeof(Masking<>), "Keeps"),   // a Masking layer in a plan or session
    };

    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    private static IEnumerable<MethodInfo> ServingPath()
    {
        foreach (Type type in ServingTypes)
            foreach (MethodInfo method in type.GetMethods(Declared))
                yield return method;
        foreach ((Type type, string name) in ServingMethods)
        {
            MethodInfo[] found = type.GetMethods(Declared).Where(m => m.Name == name).ToArray();
            Assert.That(found, Is.Not.Empty, $"{type.Name}.{name} no longer exists: update this list");
            foreach (MethodInfo method in found) yield return method;
        }
    }

    [Test]
    public void EveryLoopOnTheServingPath_IsCompiledOptimizedOnItsFirstCall()
    {
        var loops = ServingPath().Where(HasLoop).ToList();
        Assert.That(loops, Has.Count.GreaterThan(40), "the scan found the kernels' loops");
        var unmarked = loops
            .Where(m => (m.MethodImplementationFlags & MethodImplAttributes.AggressiveOptimization) == 0)
            .Where(m => (m.MethodImplementationFlags & MethodImplAttributes.AggressiveInlining) == 0)   // compiled as part of its caller
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}")
            .ToList();
        Assert.That(unmarked, Is.Empty, "methods with a loop on the serving path without [MethodImpl(MethodImplOptions.AggressiveOptimization)]");
    }

    [Test]
    public void LoopScanner_FindsALoop_AndNoneWhereThereIsNone()
    {
        Assert.That(HasLoop(typeof(JitTierTests).GetMethod(nameof(SumWithLoop), Declared)!), Is.True);
        Assert.That(HasLoop(typeof(JitTierTests).GetMethod(nameof(SumWithoutLoop), Declared)!), Is.False);
        Assert.That(HasLoop(typeof(JitTierTests).GetMethod(nameof(WhileLoop), Declared)!), Is.True);
        // And an unmarked method with a loop would be reported.
        MethodInfo unmarked = typeof(JitTierTests).GetMethod(nameof(SumWithLoop), Declared)!;
        Assert.That(unmarked.MethodImplementationFlags & MethodImplAttributes.AggressiveOptimization, Is.EqualTo((MethodImplAttributes)0));
    }

    private static float SumWithLoop(float[] values)
    {
        float sum = 0;
        for (int k = 0; k < values.Length; k++) sum += values[k];
        return sum;
    }

    private static float SumWithoutLoop(float[] values) => values.Length > 1 ? values[0] + values[1] : 0;

    private static int WhileLoop(int n)
    {
        int steps = 0;
        while (n > 1) { n = n % 2 == 0 ? n / 2 : 3 * n + 1; steps++; }
        return steps;
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Whether the method's IL branches back to an earlier instruction (a loop).</summary>
    private static bool HasLoop(MethodInfo method)
    {
        byte[]? il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null) return false;
        int offset = 0;
        while (offset < il.Length)
        {
            int start = offset;
            short value = il[offset++];
            if (value == 0xFE) value = (short)(0xFE00 | il[offset++]);
            OpCode op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.ShortInlineBrTarget:
                {
                    int target = offset + 1 + (sbyte)il[offset];
                    if (target <= start) return true;
                    offset += 1;
                    break;
                }
                case OperandType.InlineBrTarget:
                {
                    int target = offset + 4 + BitConverter.ToInt32(il, offset);
                    if (target <= start) return true;
                    offset += 4;
                    break;
                }
                case OperandType.InlineSwitch:
                {
                    int count = BitConverter.ToInt32(il, offset);
                    int next = offset + 4 + 4 * count;
                    for (int k = 0; k < count; k++)
                        if (next + BitConverter.ToInt32(il, offset + 4 + 4 * k) <= start) return true;
                    offset = next;
                    break;
                }
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineI or OperandType.ShortInlineVar: offset += 1; break;
                case OperandType.InlineVar: offset += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: offset += 8; break;
                default: offset += 4; break;   // InlineI, ShortInlineR, tokens (method, field, type, string, signature)
            }
        }
        return false;
    }
}
