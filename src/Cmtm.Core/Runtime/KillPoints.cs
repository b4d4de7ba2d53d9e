using System.Diagnostics;

namespace Cmtm.Runtime;

/// <summary>
/// A fault-injection hook for crash-safety tests: with <c>CMTM_KILL_AT=POINT</c> or <c>POINT#N</c> in the environment,
/// the process kills itself with SIGKILL (no cleanup, no finally blocks: a power cut as far as the files can tell) the
/// N-th time (default the first) execution reaches the named point. Points: <c>write NAME</c> (an atomic write of file
/// NAME has handed over its content but not flushed or renamed it), <c>checkpoint model-written</c> and
/// <c>checkpoint state-written</c> (between the steps of a training checkpoint). Without the variable it does nothing.
/// </summary>
public static class KillPoints
{
    public const string EnvironmentVariable = "CMTM_KILL_AT";
    private static readonly (string Point, int N)? Target = Parse(Environment.GetEnvironmentVariable(EnvironmentVariable));
    private static int hits;

    private static (string, int)? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        int hash = value.LastIndexOf('#');
        return hash > 0 && int.TryParse(value[(hash + 1)..], out var n) && n > 0 ? (value[..hash], n) : (value, 1);
    }

    /// <summary>Kills the process here when the environment names this point and its count is reached.</summary>
    public static void Reach(string point)
    {
        if (Target is not { } t || t.Point != point || Interlocked.Increment(ref hits) != t.N) return;
        Console.Out.Flush();
        using var self = Process.GetCurrentProcess();
        self.Kill(); // SIGKILL on Unix
        Thread.Sleep(Timeout.Infinite);
    }
}
