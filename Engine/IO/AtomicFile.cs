namespace NumLstm.IO;

/// <summary>
/// Writes a file so that readers see either the previous content or the complete new content, never a torn mix.
/// </summary>
/// <remarks>
/// The content goes to a temporary file beside the target (<c>path + ".tmp-" + random</c>), is flushed to disk
/// (<see cref="FileStream.Flush(bool)"/> with <c>true</c>), then renamed over the target. If the writer or any
/// file-system step fails, the temporary file is deleted, the target is left as it was and the exception propagates:
/// the writer's own exception unchanged, file-system failures as <see cref="IOException"/> or
/// <see cref="UnauthorizedAccessException"/> naming the target path.
/// The containing directory is not fsync'ed (.NET has no portable call for it), so after a power loss the rename
/// itself may be lost; the target is then still the complete previous file.
/// </remarks>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> writer)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(writer);

        string fullPath = Path.GetFullPath(path);
        string tempPath = fullPath + ".tmp-" + Convert.ToHexStringLower(RandomBytes(6));
        bool moved = false;
        try
        {
            using (var stream = OpenTemp(fullPath, tempPath))
            {
                writer(stream);
                FileSystemStep(fullPath, "flush to disk", () => stream.Flush(flushToDisk: true));
            }
            FileSystemStep(fullPath, "replace", () => File.Move(tempPath, fullPath, overwrite: true));
            moved = true;
        }
        finally
        {
            if (!moved)
                TryDelete(tempPath);
        }
    }

    private static FileStream OpenTemp(string fullPath, string tempPath)
    {
        FileStream? stream = null;
        FileSystemStep(fullPath, "create a temporary file", () =>
            stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16));
        return stream!;
    }

    // Re-throws file-system failures with the target path in the message (the raw ones name the temporary file).
    private static void FileSystemStep(string fullPath, string step, Action action)
    {
        try
        {
            action();
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"Cannot write '{fullPath}': {step} failed: {e.Message}", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new DirectoryNotFoundException($"Cannot write '{fullPath}': the directory does not exist ({step} failed: {e.Message})", e);
        }
        catch (IOException e)
        {
            throw new IOException($"Cannot write '{fullPath}': {step} failed: {e.Message}", e);
        }
    }

    private static void TryDelete(string tempPath)
    {
        try
        {
            File.Delete(tempPath);
        }
        catch (IOException)
        {
            // The original failure is what the caller needs to see; a leftover temp file is the lesser harm.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        return bytes;
    }
}
