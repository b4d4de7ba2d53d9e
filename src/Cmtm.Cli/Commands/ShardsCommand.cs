using System.CommandLine;
using Cmtm.Sharding;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm shards ROOT [--count N] [--json F]`: what the shards of a sharded run (flow --dataset, segment --list,
/// evaluate --weights with --shard or a job array) did in the output folder ROOT: per shard done / failed / unfinished /
/// not started, the failed items with their errors, the missing items, and the array indices to resubmit.
/// Exit 0 when every item is done, 1 otherwise.
/// </summary>
public static class ShardsCommand
{
    public static Command Create()
    {
        var root = new Argument<string>("root") { Description = "output folder of the sharded run (flow: the flow folder, e.g. FLOWS/JPEGFlows/480p; segment: --out; evaluate: --results-out)" };
        var count = new Option<int?>("--count") { Description = "the number of shards (default: that of the most recent plan in ROOT)" };
        var json = new Option<string?>("--json") { Description = "also write the summary as JSON" };
        var cmd = new Command("shards", "Summarise the shards of a sharded run: what is done, what failed, what is missing, which array indices to resubmit (exit 1 until everything is done).")
        { root, count, json };
        cmd.SetAction(p =>
        {
            var summary = ShardSummary.Read(p.GetValue(root)!, p.GetValue(count));
            Console.Out.Write(summary.Text());
            if (p.GetValue(json) is string path)
            {
                IO.AtomicFile.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(summary, ShardState.Json));
                Console.Out.WriteLine($"wrote {path}");
            }
            return summary.Complete ? 0 : 1;
        });
        return cmd;
    }
}
