namespace NumLstm.Data;

/// <summary>
/// HAR-style smartphone activity windows rebuilt from UCI HAPT v2.1 raw signals: 128 steps × 9 channels
/// (body_acc xyz, body_gyro xyz, total_acc xyz), 6 activities, UCI HAR v1 subject split (train 7415, test 2996).
/// Not shipped (25 MB, no commercial use): loaded from a path. See docs/datasets.md.
/// </summary>
public static class Har
{
    public const int ClassCount = 6;
    public const int Steps = 128;
    private static readonly PackedSplitReader.Expected Shape = new("HAR", Steps, Features, ClassCount);

    public const int Features = 9;

    /// <summary>
    /// Loads both splits from <paramref name="directory"/> (<c>header.json</c>, <c>har_{train,test}_X.f32.gz</c>,
    /// <c>har_{train,test}_meta.csv</c>). Labels 1..6 become 0..5; <see cref="SequenceDataset.Groups"/> holds the
    /// subject id of each window, so a validation split can be taken by subject with
    /// <see cref="SequenceDataset.SplitByGroup"/> (windows overlap by 50 %, a random split would leak).
    /// Shapes, rows, class counts and SHA-256 are checked against header.json.
    /// The values are in physical units: standardize with statistics of the training split.
    /// </summary>
    public static (SequenceDataset Train, SequenceDataset Test) Load(string directory)
    {
        SequenceDataset train = PackedSplitReader.Read(directory, "train", lengthColumn: null, groupColumn: "subject", Shape);
        SequenceDataset test = PackedSplitReader.Read(directory, "test", lengthColumn: null, groupColumn: "subject", Shape);
        foreach (SequenceDataset data in new[] { train, test })
        {
            if (data.Steps != Steps || data.Features != Features || data.ClassCount != ClassCount)
                throw new InvalidDataException($"{Path.Combine(directory, PackedSplitReader.HeaderFileName)}: expected HAR [N, {Steps}, {Features}] with {ClassCount} classes, got [N, {data.Steps}, {data.Features}] with {data.ClassCount}.");
        }
        return (train, test);
    }
}
