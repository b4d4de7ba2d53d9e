namespace Cmtm.IO.Checkpoints;

/// <summary>
/// A checkpoint file is malformed, truncated, uses an unsupported feature, or tries something unsafe
/// (e.g. a pickle that references a global outside the allow-list). The message names the file and the problem.
/// </summary>
public sealed class CheckpointFormatException : CmtmException
{
    public CheckpointFormatException(string subject, string problem, Exception? inner = null)
        : base(subject, problem, inner) { }
}
