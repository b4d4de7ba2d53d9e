using System.CommandLine;
using Cmtm.Sharding;

namespace Cmtm.Cli.Commands;

/// <summary>
/// The one <c>--shard K/N</c> option of the commands that loop over videos (flow --dataset, segment --list,
/// evaluate --weights) and what they do with a shard's outcome.
/// </summary>
public static class ShardOptions
{
    public static Option<string?> Shard() => new("--shard")
    {
        Description = $"do shard K of N (0-based) of the sequences, split by sequence and balanced by frames; default: from {ShardEnvironment.SlurmIndex} " +
                      $"(count {ShardEnvironment.CountVariable}, else {ShardEnvironment.SlurmCount}) or {ShardEnvironment.KubernetesIndex} (count {ShardEnvironment.CountVariable}). " +
                      "Finished sequences are skipped, half-finished ones redone; a failing video fails only its item",
    };

    /// <summary>The shard from --shard or the scheduler's environment; null = not sharded.</summary>
    public static ShardSelection? Resolve(ParseResult p, Option<string?> shard) => ShardEnvironment.Resolve(p.GetValue(shard));

    /// <summary>The shard of a list run outside a job array: all of it.</summary>
    public static readonly ShardSelection WholeList = new(new ShardSpec(0, 1), "the whole list (no --shard, no job array)");

    /// <summary>Fails when --shard is given where it does not apply.</summary>
    public static void RejectFlag(ParseResult p, Option<string?> shard, string why)
    {
        if (p.GetValue(shard) != null) throw new CmtmException("--shard", why);
    }

    /// <summary>Run options printing item lines on stdout and item errors on stderr.</summary>
    public static ShardRunOptions RunOptions(string command, bool redo) => new()
    {
        Command = command, Redo = redo, Say = Console.Out.WriteLine, Error = Console.Error.WriteLine,
    };

    /// <summary>Prints the shard's closing line and the summary command; exit 0, or an error listing the failed items.</summary>
    public static int Finish(ShardReport report, string outputRoot)
    {
        var (summary, failure) = ShardRunner.Outcome(report);
        Console.Out.WriteLine(summary);
        Console.Out.WriteLine($"report: {new ShardState(outputRoot).ReportPath(new ShardSpec(report.Shard, report.Count))}; all shards: cmtm shards {outputRoot}");
        if (failure != null) throw new CmtmException($"shard {report.Shard}/{report.Count}", failure);
        return 0;
    }
}
