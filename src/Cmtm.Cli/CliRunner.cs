using System.CommandLine;

namespace Cmtm.Cli;

/// <summary>Runs a parsed command line; turns user errors into one line on stderr and a non-zero exit code.</summary>
public static class CliRunner
{
    public const int UserError = 2;
    public const int InternalError = 3;

    public static int Run(RootCommand root, string[] args)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        var parsed = root.Parse(args);
        try
        {
            return parsed.Invoke(config);
        }
        catch (Exception e) when (Unwrap(e) is Cmtm.Training.TrainingFailedException tf)
        {
            // one line: where training stopped, the error, how to resume (the run folder keeps its last checkpoint)
            Console.Error.WriteLine($"error: {tf.Message}");
            if (Environment.GetEnvironmentVariable("CMTM_DEBUG") == "1") Console.Error.WriteLine(e);
            return tf.InnerException is CmtmException ? UserError : InternalError;
        }
        catch (Exception e) when (Unwrap(e) is CmtmException ce)
        {
            Console.Error.WriteLine($"error: {InOptionTerms(ce, parsed.CommandResult.Command)}");
            return UserError;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("interrupted");
            return 130;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"internal error: {Unwrap(e).GetType().Name}: {Unwrap(e).Message}");
            if (Environment.GetEnvironmentVariable("CMTM_DEBUG") == "1") Console.Error.WriteLine(e);
            return InternalError;
        }
    }

    /// <summary>
    /// The library names a setting by its own name ("epochs", "arch": the keys of a train config); when the command has
    /// an option of that name, the line names the option the user typed ("--epochs: ...").
    /// </summary>
    internal static string InOptionTerms(CmtmException e, Command command) =>
        command.Options.Any(o => o.Name == "--" + e.Subject) ? $"--{e.Subject}: {e.Problem}" : e.Message;

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException or System.Reflection.TargetInvocationException or TypeInitializationException && e.InnerException != null)
            e = e.InnerException!;
        return e;
    }
}
