namespace Cmtm.Tests.Cli;

/// <summary>Tests that redirect the process-wide Console (every CLI run) run alone, never beside other tests.</summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection { }

/// <summary>Runs the real CLI entry point in-process and captures its output and exit code.</summary>
public static class CliHarness
{
    private static readonly object Gate = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (Gate) // Console redirection is process-wide
        {
            var oldOut = Console.Out; var oldErr = Console.Error;
            var o = new StringWriter(); var e = new StringWriter();
            Console.SetOut(o); Console.SetError(e);
            try { return (Cmtm.Cli.Program.Main(args), o.ToString(), e.ToString()); }
            finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }
}
