using System.Runtime.InteropServices;
using BenchmarkDotNet.Running;
using NumLstm.Benchmarks.Study;

namespace NumLstm.Benchmarks;

public static class Program
{
    private const string Usage = """
        NumLstm benchmarks and the LayerNorm-placement study.

        Usage: dotnet run -c Release --project Engine.Benchmarks -- <verb> [options]

        Verbs:
          compare [options]   the LayerNorm-placement study (default: about 3 minutes on 2 cores); compare --help
          bench [args]        BenchmarkDotNet benchmarks; arguments go to BenchmarkDotNet (e.g. bench --filter '*Gemm*')
          help                this text
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        string verb = args[0];
        string[] rest = args[1..];
        // Hidden verb: the child process of the kill-and-resume reliability test.
        if (verb == ReliabilityWorker.Verb) return ReliabilityWorker.Run(args);
        switch (verb)
        {
            case "compare":
                using (var cancellation = new CancellationTokenSource())
                {
                    // First Ctrl+C: finish cleanly (finished jobs are kept, the report is written); a second one kills the process.
                    ConsoleCancelEventHandler handler = (_, e) =>
                    {
                        if (cancellation.IsCancellationRequested) return;
                        e.Cancel = true;
                        Console.Error.WriteLine("\nStopping: running jobs are abandoned, finished ones are kept. Ctrl+C again to kill.");
                        cancellation.Cancel();
                    };
                    Console.CancelKeyPress += handler;
                    // SIGTERM (a CI time limit, `kill`) stops the same clean way.
                    using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
                    {
                        context.Cancel = true;
                        cancellation.Cancel();
                    });
                    try { return StudyCommand.Run(rest, Console.Out, Console.Error, cancellation.Token); }
                    finally { Console.CancelKeyPress -= handler; }
                }
            case "bench":
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest);
                return 0;
            case "help" or "--help" or "-h":
                Console.WriteLine(Usage);
                return 0;
            default:
                Console.Error.WriteLine($"Unknown verb '{verb}'.");
                Console.Error.WriteLine(Usage);
                return 2;
        }
    }
}
