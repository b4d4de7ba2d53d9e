using System.Diagnostics;

namespace Cmtm.IO;

/// <summary>
/// Writes a file so that readers never see a partial result: the content goes to a temporary file in the
/// same folder, is flushed to disk, then renamed over the target. On any failure the temporary file is removed
/// and the target is left as it was. A process killed mid-write (SIGKILL) leaves only its temporary file behind;
/// <see cref="RemoveStaleTemps"/> deletes those.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        try { Directory.CreateDirectory(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CmtmException(dir, $"cannot create output folder ({e.Message})", e); }
        var tmp = Path.Combine(dir, TempName(Path.GetFileName(full)));
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                Runtime.KillPoints.Reach("write " + Path.GetFileName(full));
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); } catch { /* best effort */ }
            if (e is CmtmException) throw;
            if (e is IOException or UnauthorizedAccessException) // the message names the temporary file, which is gone
                throw new CmtmException(full, $"cannot write file ({e.Message.Replace(tmp, full)})", e);
            if (IsFileTooLarge(e))
                throw new CmtmException(full, "cannot write file (larger than the file system or the process's file-size limit allows)", e);
            throw;
        }
    }

    /// <summary>
    /// .NET reports EFBIG from write(2) (the file exceeds the file system's maximum or RLIMIT_FSIZE) not as an
    /// IOException but as an ArgumentOutOfRangeException thrown by <see cref="RandomAccess"/>.
    /// </summary>
    private static bool IsFileTooLarge(Exception e) => e is ArgumentOutOfRangeException && e.TargetSite?.DeclaringType == typeof(RandomAccess);

    /// <summary>".NAME.HOST-PID.GUID.tmp": hidden, unique, and naming the writing process (<see cref="WriterMark"/>,
    /// <see cref="RemoveStaleTemps"/>).</summary>
    public static string TempName(string fileName) => $".{fileName}.{WriterMark.Current}.{Guid.NewGuid():N}.tmp";

    /// <summary>
    /// Deletes the temporary files in <paramref name="dir"/> left by writers on this host that were killed (their process
    /// is no longer running); returns how many were removed. Temporary files of running processes, and of other hosts
    /// sharing the file system, are kept (<see cref="WriterMark.IsStale"/>).
    /// </summary>
    public static int RemoveStaleTemps(string dir)
    {
        if (!Directory.Exists(dir)) return 0;
        int removed = 0;
        foreach (var f in Directory.EnumerateFiles(dir, ".*.tmp"))
        {
            var parts = Path.GetFileName(f).Split('.'); // "", NAME..., HOST-PID (or PID), GUID, "tmp"
            if (parts.Length < 5 || parts[^2].Length != 32 || !WriterMark.IsStale(parts[^3])) continue;
            try { File.Delete(f); removed++; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* left for the next clean-up */ }
        }
        return removed;
    }

    internal static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { return false; }
    }

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));
}
