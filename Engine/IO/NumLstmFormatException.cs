namespace NumLstm.IO;

/// <summary>
/// The one exception the readers in <c>NumLstm.IO</c> throw for a file they cannot use: malformed, truncated,
/// hostile, of an unsupported kind, or unreadable (the I/O error is kept as <see cref="Exception.InnerException"/>).
/// The message names the file, the field and what was expected against what was found.
/// </summary>
public sealed class NumLstmFormatException : Exception
{
    public NumLstmFormatException()
        : base("The file is not in the expected format.")
    {
    }

    public NumLstmFormatException(string message)
        : base(message)
    {
    }

    public NumLstmFormatException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <param name="filePath">The file (or the caller's name for a stream); null when unknown.</param>
    /// <param name="field">The part of the file at fault, e.g. <c>header</c>, <c>tensor 'w' data_offsets</c>.</param>
    /// <param name="detail">What was expected and what was found.</param>
    /// <param name="innerException">The underlying failure, if any (an I/O or JSON error).</param>
    public NumLstmFormatException(string? filePath, string? field, string detail, Exception? innerException = null)
        : base(Compose(filePath, field, detail), innerException)
    {
        FilePath = filePath;
        Field = field;
    }

    /// <summary>The file at fault (or the name given for a stream); null when unknown.</summary>
    public string? FilePath { get; }

    /// <summary>The part of the file at fault, e.g. <c>header</c>, <c>shape</c>, <c>dtype</c>,
    /// <c>tensor 'lstm.weight_ih_l0' data_offsets</c>, <c>line 12, column 3 'price'</c>; null when unknown.</summary>
    public string? Field { get; }

    private static string Compose(string? filePath, string? field, string detail)
    {
        string where = filePath is null ? "Stream" : $"File '{filePath}'";
        return field is null ? $"{where}: {detail}" : $"{where}, {field}: {detail}";
    }
}
