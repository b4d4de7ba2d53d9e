namespace Cmtm;

/// <summary>
/// An error caused by the user's input (a file, an option, a dataset layout). The message is one line
/// naming the subject (usually a file path) and the problem; the CLI prints it and exits non-zero.
/// </summary>
public class CmtmException : Exception
{
    public string Subject { get; }
    public string Problem { get; }

    public CmtmException(string subject, string problem, Exception? inner = null)
        : base($"{subject}: {problem}", inner)
    {
        Subject = subject;
        Problem = problem;
    }
}
