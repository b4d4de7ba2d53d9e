using System.Text;

namespace Cmtm.IO;

/// <summary>
/// Who is writing a temporary file or staging folder: "HOST-PID" in its name (<c>.NAME.HOST-PID.GUID.tmp</c>,
/// <c>.NAME.partial-HOST-PID</c>), so that clean-up after a killed writer is safe on a file system shared by several
/// machines (a job array's tasks on different nodes): a leftover is stale only when it was written on this host by a
/// process that no longer runs. Another host's leftovers are never removed here (a process id means nothing across
/// hosts); they are hidden files no reader takes for output. Names with a bare PID (before hosts were recorded) count
/// as this host's.
/// </summary>
public static class WriterMark
{
    /// <summary>The host name as used in marks: letters, digits and '-' only (no '.', which separates name parts).</summary>
    public static string Host { get; } = Sanitize(Environment.MachineName); // before Current, which reads it

    /// <summary>This process's mark, e.g. "node07-12345".</summary>
    public static string Current { get; } = $"{Host}-{Environment.ProcessId}";

    private static string Sanitize(string host)
    {
        var sb = new StringBuilder();
        foreach (var c in host) sb.Append(char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '-');
        return sb.Length > 0 ? sb.ToString() : "host";
    }

    /// <summary>Whether <paramref name="mark"/> ("HOST-PID" or a bare PID) names a dead writer on this host; false for
    /// a live one, another host's, or text that is no mark.</summary>
    public static bool IsStale(string mark)
    {
        int dash = mark.LastIndexOf('-');
        var (host, pidText) = dash < 0 ? (Host, mark) : (mark[..dash], mark[(dash + 1)..]);
        return host == Host && int.TryParse(pidText, out var pid) && pid > 0 && !AtomicFile.IsRunning(pid);
    }
}
