using System.Runtime.InteropServices;
using NumLstm.Kernels;
using NumLstm.Tests.TestSupport;

namespace NumLstm.Tests.Kernels;

/// <summary>
/// The training gate passes (<see cref="LstmGates.ForwardStep{T}"/> with tanh(c) kept, <see cref="LstmGates.StepBackward{T}"/>)
/// prefetch every stream of a row a few cache lines ahead of their loads and stores. Here each operand row ends on the
/// last bytes of a mapped page and the next page may not be touched at all (PROT_NONE): the passes must run without a
/// fault, touch nothing past their rows and give the bits they give on rows inside ordinary arrays. A read ahead done as
/// a load instead of a prefetch would kill the test process here.
/// </summary>
[TestFixture(typeof(float))]
[TestFixture(typeof(double))]
public unsafe class GatePassPrefetchTests<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>A buffer of length values that ends where an inaccessible page begins.</summary>
    private sealed class GuardedRow : IDisposable
    {
        private readonly nint mapping;
        private readonly nuint mappedBytes;
        public readonly T* Values;
        public readonly int Length;

        public GuardedRow(int length)
        {
            nuint page = (nuint)Environment.SystemPageSize, bytes = (nuint)(length * sizeof(T));
            nuint dataPages = (bytes + page - 1) / page;
            mappedBytes = (dataPages + 1) * page;
            mapping = Libc.mmap(0, mappedBytes, Libc.ProtReadWrite, Libc.MapPrivateAnonymous, -1, 0);
            if (mapping == Libc.MapFailed) throw new InvalidOperationException($"mmap failed: errno {Marshal.GetLastPInvokeError()}");
            nint guard = mapping + (nint)(dataPages * page);
            if (Libc.mprotect(guard, page, Libc.ProtNone) != 0) throw new InvalidOperationException($"mprotect failed: errno {Marshal.GetLastPInvokeError()}");
            Values = (T*)(guard - (nint)bytes);
            Length = length;
        }

        public Span<T> Span => new(Values, Length);

        public void Dispose() => Libc.munmap(mapping, mappedBytes);
    }

    private static void RequireLinux()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("Needs mmap and mprotect (Linux).");
    }

    [Test]
    public void ForwardStep_WithRowsEndingAtAnInaccessiblePage_RunsWithoutAFault_AndGivesTheBitsOfArrays([Values(16, 100, 512)] int h)
    {
        RequireLinux();
        T[] gates = TestArrays.Uniform<T>(4 * h, h, -6, 6), cellPrevious = TestArrays.Uniform<T>(h, h + 1, -3, 3);
        T[] expectedGates = (T[])gates.Clone(), expectedCell = new T[h], expectedTanh = new T[h], expectedHidden = new T[h];
        LstmGates.ForwardStep<T>(expectedGates, cellPrevious, expectedCell, expectedTanh, expectedHidden, h);

        using var z = new GuardedRow(4 * h);
        using var cp = new GuardedRow(h);
        using var c = new GuardedRow(h);
        using var y = new GuardedRow(h);
        using var hidden = new GuardedRow(h);
        gates.CopyTo(z.Span);
        cellPrevious.CopyTo(cp.Span);
        LstmGates.ForwardStep<T>(z.Span, cp.Span, c.Span, y.Span, hidden.Span, h);

        TestArrays.AssertSameBits<T>(z.Span, expectedGates, "gates");
        TestArrays.AssertSameBits<T>(c.Span, expectedCell, "cell");
        TestArrays.AssertSameBits<T>(y.Span, expectedTanh, "tanh(cell)");
        TestArrays.AssertSameBits<T>(hidden.Span, expectedHidden, "hidden");
    }

    [Test]
    public void StepBackward_WithRowsEndingAtAnInaccessiblePage_RunsWithoutAFault_AndGivesTheBitsOfArrays([Values(16, 100, 512)] int h)
    {
        RequireLinux();
        T[] gates = TestArrays.Uniform<T>(4 * h, h, 0.01, 0.99), tanhCell = TestArrays.Uniform<T>(h, h + 2, -0.99, 0.99);
        T[] cellPrevious = TestArrays.Uniform<T>(h, h + 3), dHidden = TestArrays.Uniform<T>(h, h + 4), dCell = TestArrays.Uniform<T>(h, h + 5);
        T[] expectedGradients = new T[4 * h], expectedCell = (T[])dCell.Clone();
        LstmGates.StepBackward<T>(gates, tanhCell, cellPrevious, dHidden, expectedCell, expectedGradients, h);

        using var z = new GuardedRow(4 * h);
        using var y = new GuardedRow(h);
        using var cp = new GuardedRow(h);
        using var dh = new GuardedRow(h);
        using var dc = new GuardedRow(h);
        using var dz = new GuardedRow(4 * h);
        gates.CopyTo(z.Span);
        tanhCell.CopyTo(y.Span);
        cellPrevious.CopyTo(cp.Span);
        dHidden.CopyTo(dh.Span);
        dCell.CopyTo(dc.Span);
        LstmGates.StepBackward<T>(z.Span, y.Span, cp.Span, dh.Span, dc.Span, dz.Span, h);

        TestArrays.AssertSameBits<T>(dz.Span, expectedGradients, "gate gradients");
        TestArrays.AssertSameBits<T>(dc.Span, expectedCell, "dc_prev");
    }
}

/// <summary>The Linux calls <see cref="GatePassPrefetchTests{T}"/> maps its guarded rows with.</summary>
internal static class Libc
{
    public const int ProtNone = 0, ProtReadWrite = 3, MapPrivateAnonymous = 0x22;
    public static readonly nint MapFailed = -1;

    [DllImport("libc", SetLastError = true)] public static extern nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);
    [DllImport("libc", SetLastError = true)] public static extern int mprotect(nint address, nuint length, int protection);
    [DllImport("libc", SetLastError = true)] public static extern int munmap(nint address, nuint length);
}
