namespace NumLstm.Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.WriteLine("NumLstm benchmarks: verbs are added by later work.");
        return 0;
    }
}
