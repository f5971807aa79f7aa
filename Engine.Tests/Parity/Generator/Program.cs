// Writes the libtorch known-answer fixtures that Engine.Tests/Parity/TorchParityTests checks NumLstm against.
// Run from the repository root (see Engine.Tests/Parity/README.md):
//     dotnet run -c Release --project Engine.Tests/Parity/Generator [-- <output folder>]
// The default output folder is Engine.Tests/Parity/Fixtures above the current directory.
using System.Globalization;
using NumLstm.Parity.Generator;
using TorchSharp;

torch.set_num_threads(1);
string folder = args.Length > 0 ? Path.GetFullPath(args[0]) : FixtureWriter.DefaultFolder();
Directory.CreateDirectory(folder);
Console.WriteLine($"libtorch {torch.__version__} (TorchSharp {typeof(torch).Assembly.GetName().Version}) → {folder}");

var written = LayerFixtures.Write(folder)
    .Concat(LossFixtures.Write(folder))
    .Concat(ModelFixtures.Write(folder))
    .Concat(OptimizerFixtures.Write(folder))
    .ToList();
long total = 0;
foreach (string path in written)
{
    long size = new FileInfo(path).Length;
    total += size;
    Console.WriteLine($"  {Path.GetFileName(path),-48} {size,8:N0} bytes");
}
Console.WriteLine($"  {written.Count} files, {total:N0} bytes");
