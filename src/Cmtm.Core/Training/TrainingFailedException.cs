namespace Cmtm.Training;

/// <summary>
/// Training stopped by an error (any exception out of a step, a validation or a save): says in one line where it
/// stopped, what went wrong and how to go on. The run folder keeps its last committed checkpoint, so the run resumes
/// from there with <see cref="ResumeCommand"/> (the step in progress and the rest of its epoch are run again).
/// </summary>
public sealed class TrainingFailedException : Exception
{
    /// <summary>The run folder.</summary>
    public string RunDir { get; }
    /// <summary>The epoch in progress (1-based).</summary>
    public int Epoch { get; }
    /// <summary>Optimisation steps completed before the error.</summary>
    public long Step { get; }
    /// <summary>Whether the run folder holds a checkpoint to resume from.</summary>
    public bool Resumable { get; }

    public TrainingFailedException(string runDir, int epoch, long step, bool resumable, Exception inner)
        : base(Describe(runDir, epoch, step, resumable, inner), inner)
    {
        RunDir = runDir; Epoch = epoch; Step = step; Resumable = resumable;
    }

    /// <summary>The command that continues the run in <paramref name="runDir"/>.</summary>
    public static string ResumeCommand(string runDir) => $"cmtm train --resume --out {runDir}";

    private static string Describe(string runDir, int epoch, long step, bool resumable, Exception inner)
    {
        var what = inner is CmtmException ? inner.Message : $"{inner.GetType().Name}: {inner.Message}";
        var next = resumable ? $"resume with: {ResumeCommand(runDir)}" : "no checkpoint was written yet: start the run again";
        return $"training failed in epoch {epoch} after step {step}: {FirstLine(what)}; {next}";
    }

    // libtorch errors carry a native stack trace after the first line
    private static string FirstLine(string s) => s.Split('\n', 2)[0].TrimEnd();
}
