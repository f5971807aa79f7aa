using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using NumLstm.Data;
using NumLstm.Tests.Data;

namespace NumLstm.Tests.Reliability;

/// <summary>
/// Seeded mutations of a dataset folder (a copy of the shipped Japanese Vowels one) through
/// <see cref="JapaneseVowels.Load"/>: header.json values replaced by other kinds, extreme numbers, paths out of the
/// folder and unpaired surrogate escapes; keys deleted or repeated; raw characters changed; meta CSV bytes changed
/// (NUL, invalid UTF-8, digits); the gzip flipped or truncated. Every load either succeeds or throws one of the
/// documented exceptions (<see cref="InvalidDataException"/>, or <see cref="FileNotFoundException"/> for a file that
/// is not there) naming a file of the folder, within a time limit and an allocation bound (see docs/reliability.md).
/// </summary>
public sealed class DatasetFolderHostileTests
{
    private const int Mutations = 400;
    private const long AllocationBound = 32L << 20;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static readonly string[] Replacements =
    [
        "\"30\"", "null", "true", "[]", "{}", "-1", "0", "1.5", "2147483647", "2147483648", "-2147483648",
        "9223372036854775807", "1e300", "[1, 1, 536000000]", "[2147483647, 2147483647, 2147483647]",
        "\"../jv_test_X.f32.gz\"", "\"/etc/hostname\"", "\"\"", "\".\"", "\"jv\\ud800.gz\"", "\"\\udc00\"",
        "\"jv_test_X.f32.gz\"", "\"jv_test_meta.csv\"", "\"header.json\"", "\"0000\"",
    ];

    [Test]
    public void MutatedFolder_LoadsOrThrowsTheDocumentedException_WithinTheAllocationBound()
    {
        string root = Path.Combine(Path.GetTempPath(), "numlstm-folderfuzz-" + Guid.NewGuid().ToString("N"));
        string folder = Path.Combine(root, "jv");
        Directory.CreateDirectory(folder);
        try
        {
            var originals = new Dictionary<string, byte[]>();
            foreach (string file in Directory.GetFiles(DataPaths.JapaneseVowels))
            {
                string copy = Path.Combine(folder, Path.GetFileName(file));
                File.Copy(file, copy);
                originals[copy] = File.ReadAllBytes(copy);
            }
            // Valid files one level up, where a header that escaped the folder would find them.
            foreach (string name in new[] { "jv_train_X.f32.gz", "jv_test_X.f32.gz", "jv_train_meta.csv" })
                File.Copy(Path.Combine(folder, name), Path.Combine(root, name));

            var random = new Random(801);
            int loaded = 0, invalid = 0, missing = 0;
            long worstAllocation = 0;
            string worst = "";
            double slowest = 0;
            var watch = Stopwatch.StartNew();
            Task task = Task.Factory.StartNew(() =>
            {
                for (int k = 0; k < Mutations; k++)
                {
                    foreach (var (path, bytes) in originals)
                        File.WriteAllBytes(path, bytes);
                    string what = Mutate(random, folder, originals);
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    var one = Stopwatch.StartNew();
                    try
                    {
                        JapaneseVowels.Load(folder);
                        loaded++;
                    }
                    catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
                    {
                        Assert.That(e.Message, Does.Contain(folder), $"mutation {k} ({what}): the message names a file of the folder");
                        if (e is InvalidDataException) invalid++; else missing++;
                    }
                    catch (Exception e)
                    {
                        Assert.Fail($"mutation {k} ({what}) threw {e.GetType().Name}, not InvalidDataException: {e}");
                    }
                    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    if (allocated > worstAllocation)
                        (worstAllocation, worst) = (allocated, what);
                    slowest = Math.Max(slowest, one.Elapsed.TotalMilliseconds);
                    Assert.That(allocated, Is.LessThan(AllocationBound), $"mutation {k} ({what}): bytes allocated");
                }
            }, TaskCreationOptions.LongRunning);
            Assert.That(task.Wait(Limit), Is.True, $"the fuzz loop did not finish within {Limit.TotalSeconds} s (a hang?)");
            task.GetAwaiter().GetResult();
            TestContext.Out.WriteLine($"dataset folder: {Mutations} mutations, {loaded} loaded, {invalid} InvalidDataException, {missing} FileNotFoundException; " +
                $"worst allocation {worstAllocation / 1024} KB ({worst}), slowest load {slowest:F0} ms, {watch.Elapsed.TotalSeconds:F1} s");
            Assert.That(invalid, Is.GreaterThan(Mutations / 2));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // Applies one mutation to the folder's files and says which.
    private static string Mutate(Random random, string folder, Dictionary<string, byte[]> originals)
    {
        string headerPath = Path.Combine(folder, "header.json");
        string header = Encoding.UTF8.GetString(originals[headerPath]);
        switch (random.Next(8))
        {
            case 0:
            case 1: // a value somewhere in the header replaced by another kind or an extreme
            {
                JsonNode root = JsonNode.Parse(header)!;
                var slots = new List<(JsonNode Parent, object Key)>();
                Collect(root, slots);
                var (parent, key) = slots[random.Next(slots.Count)];
                string replacement = Replacements[random.Next(Replacements.Length)];
                // Written as text, so that escapes such as \ud800 reach the file as they are.
                const string marker = "\"__replaced__\"";
                if (key is string name) parent[name] = "__replaced__"; else parent[(int)key] = "__replaced__";
                File.WriteAllText(headerPath, root.ToJsonString().Replace(marker, replacement));
                return $"{Describe(parent, key)} = {replacement}";
            }
            case 2: // a key deleted
            {
                JsonNode root = JsonNode.Parse(header)!;
                var slots = new List<(JsonNode Parent, object Key)>();
                Collect(root, slots);
                var objects = slots.Where(s => s.Key is string).ToList();
                var (parent, key) = objects[random.Next(objects.Count)];
                parent.AsObject().Remove((string)key);
                File.WriteAllText(headerPath, root.ToJsonString());
                return $"{Describe(parent, key)} deleted";
            }
            case 3: // a line of the header repeated (a repeated key) or a character changed
            {
                var text = new StringBuilder(header);
                if (random.Next(2) == 0)
                {
                    string[] lines = header.Split('\n');
                    int line = 1 + random.Next(lines.Length - 2);
                    string repeated = lines[line].TrimEnd(',') + ",";
                    text = new StringBuilder(string.Join('\n', lines[..line].Append(repeated).Concat(lines[line..])));
                }
                else
                {
                    const string characters = "{}[],:\"\\ 0-";
                    text[random.Next(text.Length)] = characters[random.Next(characters.Length)];
                }
                File.WriteAllText(headerPath, text.ToString());
                return "header text edited";
            }
            case 4:
            case 5: // a byte of a meta file changed
            {
                string meta = Path.Combine(folder, random.Next(2) == 0 ? "jv_train_meta.csv" : "jv_test_meta.csv");
                byte[] bytes = (byte[])originals[meta].Clone();
                byte[] choices = [0x00, 0xFF, 0xC3, (byte)'0', (byte)'9', (byte)'-', (byte)',', (byte)'\n', (byte)'\r', 0x0B];
                bytes[random.Next(bytes.Length)] = choices[random.Next(choices.Length)];
                File.WriteAllBytes(meta, bytes);
                return $"{Path.GetFileName(meta)} byte changed";
            }
            case 6: // a zero-filled tail on a meta file
            {
                string meta = Path.Combine(folder, "jv_test_meta.csv");
                using var stream = new FileStream(meta, FileMode.Open);
                stream.SetLength(stream.Length - random.Next(3)); // sometimes the last line break is gone too
                stream.SetLength(stream.Length + random.Next(1, 6 << 20));
                return "jv_test_meta.csv with a zero-filled tail";
            }
            default: // the gzip flipped or truncated
            {
                string data = Path.Combine(folder, random.Next(2) == 0 ? "jv_train_X.f32.gz" : "jv_test_X.f32.gz");
                byte[] bytes = (byte[])originals[data].Clone();
                if (random.Next(2) == 0)
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                else
                    Array.Resize(ref bytes, random.Next(bytes.Length));
                File.WriteAllBytes(data, bytes);
                return $"{Path.GetFileName(data)} damaged";
            }
        }
    }

    private static void Collect(JsonNode node, List<(JsonNode Parent, object Key)> slots)
    {
        if (node is JsonObject obj)
        {
            foreach (var (name, child) in obj.ToList())
            {
                slots.Add((obj, name));
                if (child is not null) Collect(child, slots);
            }
        }
        else if (node is JsonArray array)
        {
            for (int k = 0; k < array.Count; k++)
            {
                slots.Add((array, k));
                if (array[k] is not null) Collect(array[k]!, slots);
            }
        }
    }

    private static string Describe(JsonNode parent, object key) => parent.GetPath() + (key is string name ? "." + name : $"[{key}]");
}
