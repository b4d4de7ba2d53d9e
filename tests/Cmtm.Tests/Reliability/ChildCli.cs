using System.Collections.Concurrent;
using System.Diagnostics;

namespace Cmtm.Tests.Reliability;

/// <summary>
/// The real `cmtm` as a child process (`dotnet cmtm.dll ...`, the build copied beside the test assembly), for what an
/// in-process run cannot show: a SIGKILL, or a process-wide resource limit. Output lines are collected as they come.
/// </summary>
public sealed class ChildCli : IDisposable
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "cmtm.dll");

    private readonly Process process;
    private readonly BlockingCollection<string> lines = new();
    private readonly ConcurrentQueue<string> stdout = new(), stderr = new();
    private readonly TaskCompletionSource stdoutClosed = new(), stderrClosed = new();

    /// <param name="args">cmtm arguments.</param>
    /// <param name="fileSizeLimitKb">
    /// Run under `ulimit -f` (RLIMIT_FSIZE, in KiB) with SIGXFSZ ignored, so a write beyond the limit fails with EFBIG
    /// as on a full disk instead of killing the process. .NET's W^X double mapping needs a large memory file, which the
    /// limit forbids, so it is switched off for that child.
    /// </param>
    /// <param name="environment">Extra environment variables of the child (null values remove one).</param>
    public ChildCli(IEnumerable<string> args, long? fileSizeLimitKb = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (fileSizeLimitKb is long kb)
        {
            psi.FileName = "bash";
            foreach (var a in new[] { "-c", $"trap '' XFSZ; ulimit -f {kb}; exec \"$0\" \"$@\"", "dotnet" }) psi.ArgumentList.Add(a);
            psi.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        }
        else psi.FileName = "dotnet";
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["CMTM_DEBUG"] = null;
        foreach (var (k, v) in environment ?? new Dictionary<string, string?>()) psi.Environment[k] = v;
        process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Collect(e.Data, stdout, stdoutClosed);
        process.ErrorDataReceived += (_, e) => Collect(e.Data, stderr, stderrClosed);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void Collect(string? line, ConcurrentQueue<string> into, TaskCompletionSource closed)
    {
        if (line == null) { closed.TrySetResult(); return; }
        into.Enqueue(line);
        if (into == stdout) lines.Add(line);
    }

    public int Pid => process.Id;
    public string Out => string.Join("\n", stdout);
    public string Err => string.Join("\n", stderr);

    /// <summary>Runs to the end; (exit code, stdout, stderr).</summary>
    public static (int Code, string Out, string Err) Run(IEnumerable<string> args, long? fileSizeLimitKb = null, int timeoutSeconds = 120,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        using var c = new ChildCli(args, fileSizeLimitKb, environment);
        int code = c.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds));
        return (code, c.Out, c.Err);
    }

    /// <summary>Waits for a stdout line matching <paramref name="match"/>; false if the process ended or time ran out first.</summary>
    public bool WaitForLine(Func<string, bool> match, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (lines.TryTake(out var line, 50)) { if (match(line)) return true; }
            else if (process.HasExited && stdoutClosed.Task.IsCompleted && lines.Count == 0) return false;
        }
        return false;
    }

    public bool HasExited => process.HasExited;

    /// <summary>SIGKILL (Process.Kill on Linux) and reap.</summary>
    public void Kill()
    {
        try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already gone */ }
        process.WaitForExit();
    }

    /// <summary>Exit code after the process ended and its output was read; kills it and fails on timeout.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            Kill();
            throw new TimeoutException($"cmtm did not finish within {timeout.TotalSeconds:F0} s\nstdout:\n{Out}\nstderr:\n{Err}");
        }
        Task.WaitAll(new Task[] { stdoutClosed.Task, stderrClosed.Task }, TimeSpan.FromSeconds(10));
        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!process.HasExited) Kill();
        process.Dispose();
    }
}
