namespace Cmtm.IO;

/// <summary>
/// An output folder that appears only complete: everything is written into a hidden staging folder
/// `.NAME.partial-PID` beside the target, which <see cref="Commit"/> renames into place (replacing an old target);
/// <see cref="Dispose"/> without a commit deletes it. Staging folders of processes that were killed (their PID is no
/// longer running) are removed when the next one is created for the same target.
/// </summary>
public sealed class StagedFolder : IDisposable
{
    public string Target { get; }
    /// <summary>Where to write until <see cref="Commit"/>.</summary>
    public string Path { get; }
    private bool done;

    private StagedFolder(string target, string path) { Target = target; Path = path; }

    /// <param name="target">Full path of the output folder.</param>
    /// <param name="what">What the folder is, for the error message ("output folder", "results folder").</param>
    public static StagedFolder Create(string target, string what = "output folder")
    {
        var parent = System.IO.Path.GetDirectoryName(target)!;
        try { Directory.CreateDirectory(parent); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CmtmException(parent, $"cannot create folder ({e.Message})", e); }
        RemoveStale(parent, System.IO.Path.GetFileName(target));
        var staging = System.IO.Path.Combine(parent, $".{System.IO.Path.GetFileName(target)}.partial-{WriterMark.Current}");
        try
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CmtmException(target, $"{what} is not writable ({e.Message.Replace(staging, target)})", e); }
        return new StagedFolder(target, staging);
    }

    /// <summary>Deletes `.NAME.partial-HOST-PID` folders in <paramref name="parent"/> whose writer on this host is gone
    /// (<see cref="WriterMark.IsStale"/>); returns how many.</summary>
    public static int RemoveStale(string parent, string name)
    {
        if (!Directory.Exists(parent)) return 0;
        int removed = 0;
        var prefix = $".{name}.partial-";
        foreach (var d in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            if (!WriterMark.IsStale(System.IO.Path.GetFileName(d)[prefix.Length..])) continue;
            try { Directory.Delete(d, recursive: true); removed++; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* left for the next clean-up */ }
        }
        return removed;
    }

    /// <summary>Replaces the target with the staged content.</summary>
    public void Commit()
    {
        if (Directory.Exists(Target)) Directory.Delete(Target, recursive: true);
        Directory.Move(Path, Target);
        done = true;
    }

    /// <summary>An error about a file in the staging folder, named as the output file it would have been.</summary>
    public Exception AsTargetError(Exception e) =>
        e is CmtmException ce && ce.Subject.StartsWith(Path, StringComparison.Ordinal)
            ? new CmtmException(Target + ce.Subject[Path.Length..], ce.Problem.Replace(Path, Target), e)
            : e;

    public void Dispose()
    {
        if (done) return;
        try { if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true); } catch { /* best effort */ }
        done = true;
    }
}
