namespace NumLstm.IO;

/// <summary>
/// Writes a file so that readers see either the previous content or the complete new content, never a torn mix.
/// </summary>
/// <remarks>
/// The content goes to a temporary file in the target's directory (<c>numlstm.tmp-</c> and 12 random hex digits, a name
/// whose length does not depend on the target's, so any name the file system allows can be written), is flushed to
/// disk (<see cref="FileStream.Flush(bool)"/> with <c>true</c>), then renamed over the target. A rename makes a new
/// file, so two things are carried over on purpose: an existing target's Unix permissions (a 0600 checkpoint stays
/// 0600; not on Windows; the owner is the writer's, as for any new file), and a symbolic link: the path is followed to
/// its final target, which is replaced, while the link itself stays a link (as <see cref="File.WriteAllBytes(string, byte[])"/>
/// writes through links).
/// If the writer or any file-system step fails, the temporary file is deleted, the target is left as it was and the
/// exception propagates: the writer's own exceptions unchanged, except I/O failures while it writes (a full disk, a
/// vanished folder), which become, like file-system failures, an <see cref="IOException"/> or
/// <see cref="UnauthorizedAccessException"/> naming the target path (the original kept as the inner exception).
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
        string targetPath = FinalTarget(fullPath);
        string tempPath = Path.Combine(Path.GetDirectoryName(targetPath)!, "numlstm.tmp-" + Convert.ToHexStringLower(RandomBytes(6)));
        UnixFileMode? mode = ExistingMode(fullPath, targetPath);
        bool moved = false;
        try
        {
            FileStream file = OpenTemp(fullPath, tempPath);
            try
            {
                if (mode is UnixFileMode keep)
                    FileSystemStep(fullPath, "keep the file's permissions", () =>
                    {
                        if (!OperatingSystem.IsWindows())
                            File.SetUnixFileMode(file.SafeFileHandle, keep);
                    });
                Stream stream = WrapForTests.Value?.Invoke(file) ?? file;
                FileSystemStep(fullPath, "write", () => writer(stream));
                FileSystemStep(fullPath, "flush to disk", () => { stream.Flush(); file.Flush(flushToDisk: true); });
            }
            finally
            {
                // A buffered FileStream flushes on Dispose; after a failed write that flush can throw too (disk full).
                try { file.Dispose(); }
                catch (IOException) { }
            }
            FileSystemStep(fullPath, "replace", () => File.Move(tempPath, targetPath, overwrite: true));
            moved = true;
        }
        finally
        {
            if (!moved)
                TryDelete(tempPath);
        }
    }

    // A symbolic link is followed to its final target (through chains of links, relative or absolute; a dangling link
    // to the file it names), so the rename replaces that file and leaves the link in place.
    private static string FinalTarget(string fullPath)
    {
        string target = fullPath;
        FileSystemStep(fullPath, "follow the symbolic link", () =>
        {
            var info = new FileInfo(fullPath);
            if (info.LinkTarget is not null)
                target = info.ResolveLinkTarget(returnFinalTarget: true)!.FullName;
        });
        return target;
    }

    private static UnixFileMode? ExistingMode(string fullPath, string targetPath)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(targetPath))
            return null;
        UnixFileMode? mode = null;
        FileSystemStep(fullPath, "read the file's permissions", () =>
        {
            try
            {
                if (!OperatingSystem.IsWindows())
                    mode = File.GetUnixFileMode(targetPath);
            }
            catch (FileNotFoundException)
            {
                // Removed meanwhile: the write makes a new file.
            }
        });
        return mode;
    }

    /// <summary>
    /// Test hook (fault injection): wraps the stream the writer sees, e.g. to fail after N bytes as a full disk does.
    /// Flows with the async context, so it affects only the test that sets it.
    /// </summary>
    internal static readonly AsyncLocal<Func<Stream, Stream>?> WrapForTests = new();

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
