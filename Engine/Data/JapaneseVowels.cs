namespace NumLstm.Data;

/// <summary>
/// UCI Japanese Vowels (Kudo, Toyama and Shimbo 1999): 9 speakers, utterances of 7..29 frames of 12 LPC cepstrum
/// coefficients, zero-padded to T = 29. Train 270, test 370 sequences. Shipped with the project in
/// <c>Engine.Benchmarks/Data/japanese_vowels/</c>; see docs/datasets.md.
/// </summary>
public static class JapaneseVowels
{
    public const int ClassCount = 9;
    public const int Steps = 29;
    private static readonly PackedSplitReader.Expected Shape = new("Japanese Vowels", Steps, Features, ClassCount);

    public const int Features = 12;

    /// <summary>
    /// Loads both splits from <paramref name="directory"/> (the folder holding <c>header.json</c>,
    /// <c>jv_{train,test}_X.f32.gz</c> and <c>jv_{train,test}_meta.csv</c>). Labels become 0-based; lengths come
    /// from the meta <c>length</c> column. Shapes, row counts, class counts and the SHA-256 of the decompressed
    /// data are checked against header.json (<see cref="InvalidDataException"/> on any mismatch).
    /// </summary>
    public static (SequenceDataset Train, SequenceDataset Test) Load(string directory)
    {
        SequenceDataset train = PackedSplitReader.Read(directory, "train", lengthColumn: "length", groupColumn: null, Shape);
        SequenceDataset test = PackedSplitReader.Read(directory, "test", lengthColumn: "length", groupColumn: null, Shape);
        foreach (SequenceDataset data in new[] { train, test })
        {
            if (data.Steps != Steps || data.Features != Features || data.ClassCount != ClassCount)
                throw new InvalidDataException($"{Path.Combine(directory, PackedSplitReader.HeaderFileName)}: expected Japanese Vowels [N, {Steps}, {Features}] with {ClassCount} classes, got [N, {data.Steps}, {data.Features}] with {data.ClassCount}.");
        }
        return (train, test);
    }
}
