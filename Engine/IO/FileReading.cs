namespace NumLstm.IO;

/// <summary>Opening and reading helpers shared by the readers: every failure becomes a NumLstmFormatException.</summary>
internal static class FileReading
{
    public static FileStream Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // .NET reports a directory as "Access to the path is denied", which sends the reader to the permissions.
        if (Directory.Exists(path))
            throw new NumLstmFormatException(path, "file", "expected a file, found a directory.");
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new NumLstmFormatException(path, "file", $"cannot be opened for reading: {e.Message}", e);
        }
    }

    /// <summary>
    /// Opens a file whose readers bound every size in the header by the file's length: a pipe, FIFO or other stream
    /// that cannot seek is refused as a file that cannot be read, not as a programming error (opening a FIFO blocks
    /// until a writer opens it, as it does for NumPy).
    /// </summary>
    public static FileStream OpenSeekable(string path)
    {
        FileStream stream = Open(path);
        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw new NumLstmFormatException(path, "file", "expected a regular file whose length can be known before reading, found one that cannot seek (a pipe, FIFO or socket?).");
        }
        return stream;
    }

    public static long Length(Stream stream, string? name)
    {
        if (!stream.CanSeek || !stream.CanRead)
            throw new ArgumentException("The stream must be readable and seekable (its length bounds every size in the header).", nameof(stream));
        try
        {
            // A stream positioned past its end has nothing left, not a negative count ("found -848 bytes").
            return Math.Max(stream.Length - stream.Position, 0);
        }
        catch (IOException e)
        {
            throw new NumLstmFormatException(name, "file", $"cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; the caller has already checked them against the length.</summary>
    public static byte[] ReadExactly(Stream stream, long count, string? name, string field)
    {
        if (count > Array.MaxLength)
            throw new NumLstmFormatException(name, field, $"expected at most {Array.MaxLength} bytes (the largest array this reader loads), found {count}.");
        var bytes = new byte[count];
        try
        {
            stream.ReadExactly(bytes);
        }
        catch (EndOfStreamException e)
        {
            throw new NumLstmFormatException(name, field, $"expected {count} bytes, found fewer: the file ended (was it truncated or changed while read?).", e);
        }
        catch (IOException e)
        {
            throw new NumLstmFormatException(name, field, $"cannot be read: {e.Message}", e);
        }
        return bytes;
    }
}
