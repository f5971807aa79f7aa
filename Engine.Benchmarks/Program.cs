namespace NumLstm.Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == ReliabilityWorker.Verb) return ReliabilityWorker.Run(args);
        Console.WriteLine("NumLstm benchmarks: verbs are added by later work.");
        return 0;
    }
}
