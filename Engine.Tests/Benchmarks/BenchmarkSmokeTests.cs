using System.Reflection;
using BenchmarkDotNet.Attributes;

namespace NumLstm.Tests.Benchmarks;

/// <summary>
/// Every BenchmarkDotNet class in Engine.Benchmarks, run the way BenchmarkDotNet would run it but once: for every
/// combination of its [Params]/[ParamsSource] values, [GlobalSetup], each [Benchmark] method once (it must return
/// without throwing, and a float result must be finite), [GlobalCleanup]. Timings are not looked at; this only keeps
/// the suite runnable.
/// </summary>
public class BenchmarkSmokeTests
{
    public static IEnumerable<TestCaseData> BenchmarkClasses()
        => typeof(NumLstm.Benchmarks.Program).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && t.GetMethods().Any(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
            .OrderBy(t => t.Name)
            .Select(t => new TestCaseData(t).SetArgDisplayNames(t.Name));

    [TestCaseSource(nameof(BenchmarkClasses))]
    public void EveryBenchmark_RunsOnce_ForEveryParameterValue(Type type)
    {
        var parameters = type.GetProperties()
            .Select(p => (Property: p, Values: ParameterValues(type, p)))
            .Where(p => p.Values is not null)
            .ToList();
        Assert.That(type.GetMethods().Count(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null), Is.GreaterThan(0));
        int runs = 0;
        foreach (object?[] combination in Combinations(parameters.Select(p => p.Values!).ToList()))
        {
            object instance = Activator.CreateInstance(type)!;
            for (int k = 0; k < parameters.Count; k++) parameters[k].Property.SetValue(instance, combination[k]);
            string where = $"{type.Name}({string.Join(", ", parameters.Select((p, k) => $"{p.Property.Name}={combination[k]}"))})";
            // The cleanup runs even when a benchmark fails: some setups change process-wide state (EngineSettings, the
            // thread's CPU set) that later tests must not inherit.
            try
            {
                Invoke<GlobalSetupAttribute>(type, instance);
                foreach (MethodInfo benchmark in type.GetMethods().Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
                {
                    Invoke<IterationSetupAttribute>(type, instance);
                    object? result = benchmark.Invoke(instance, null);
                    if (result is float value) Assert.That(float.IsFinite(value), Is.True, $"{where}.{benchmark.Name} returned {value}");
                    if (result is double number) Assert.That(double.IsFinite(number), Is.True, $"{where}.{benchmark.Name} returned {number}");
                    runs++;
                }
            }
            finally { Invoke<GlobalCleanupAttribute>(type, instance); }
        }
        Assert.That(runs, Is.GreaterThan(0));
    }

    private static object?[]? ParameterValues(Type type, PropertyInfo property)
    {
        if (property.GetCustomAttribute<ParamsAttribute>() is { } values) return values.Values;
        if (property.GetCustomAttribute<ParamsSourceAttribute>() is { } source)
        {
            const BindingFlags any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance;
            object? found = type.GetProperty(source.Name, any)?.GetValue(null) ?? type.GetMethod(source.Name, any)?.Invoke(null, null);
            return ((System.Collections.IEnumerable)found!).Cast<object?>().ToArray();
        }
        return null;
    }

    private static IEnumerable<object?[]> Combinations(List<object?[]> values)
    {
        IEnumerable<object?[]> result = new[] { Array.Empty<object?>() };
        foreach (object?[] options in values)
            result = result.SelectMany(prefix => options.Select(option => prefix.Append(option).ToArray()));
        return result;
    }

    private static void Invoke<TAttribute>(Type type, object instance) where TAttribute : Attribute
    {
        foreach (MethodInfo method in type.GetMethods().Where(m => m.GetCustomAttribute<TAttribute>() is not null))
            method.Invoke(instance, null);
    }
}
