using System.Text;

namespace Cmtm.Sharding;

/// <summary>One shard's state as read from the output root.</summary>
/// <param name="State">
/// "done" (every item done), "failed" (its task finished with failed items), "unfinished" (its task started and did not
/// finish: killed, preempted, out of time, or still running), "incomplete" (its task finished but items are not done), or
/// "not started" (no report).
/// </param>
public sealed record ShardStatus(int Shard, string State, int Items, int Done, IReadOnlyList<ShardItemReport> Failed,
    IReadOnlyList<string> Missing, ShardReport? Report);

/// <summary>The state of every shard of a sharded run (<c>cmtm shards ROOT</c>): what is done, what failed, what is missing.</summary>
public sealed record ShardSummary(string Root, int Count, int Items, int Done, IReadOnlyList<ShardStatus> Shards)
{
    /// <summary>The shards that still have items to do: the array indices to resubmit.</summary>
    public IReadOnlyList<int> ToResubmit => Shards.Where(s => s.Done < s.Items).Select(s => s.Shard).ToList();
    public bool Complete => Done == Items;

    /// <summary>Reads the plan for <paramref name="count"/> shards (default: the most recent plan) and every marker and report.</summary>
    public static ShardSummary Read(string root, int? count = null)
    {
        var state = new ShardState(root);
        if (!Directory.Exists(state.Root)) throw new CmtmException(state.Root, "output folder does not exist");
        var counts = state.PlannedCounts();
        var n = count ?? (counts.Count > 0 ? counts[0] : throw new CmtmException(state.Dir, "no shard has run here yet (no plan-N.json)"));
        var plan = state.ReadPlan(n) ?? throw new CmtmException(state.PlanPath(n),
            $"no plan for {n} shards here" + (counts.Count > 0 ? $" (plans: {string.Join(", ", counts.Order())} shards)" : ""));
        var shards = new List<ShardStatus>();
        for (var k = 0; k < n; k++)
        {
            var items = plan.Where(p => p.Shard == k).Select(p => p.Item.Name).ToList();
            var report = state.ReadReport(new ShardSpec(k, n));
            var notDone = items.Where(i => !state.IsDone(i)).ToList();
            var failed = report?.Failed.Where(f => notDone.Contains(f.Name, StringComparer.Ordinal)).ToList() ?? [];
            var missing = notDone.Where(i => !failed.Any(f => f.Name == i)).ToList();
            var st = notDone.Count == 0 ? "done"
                : report == null ? "not started"
                : report.Finished == null ? "unfinished"
                : failed.Count > 0 ? "failed" : "incomplete";
            shards.Add(new ShardStatus(k, st, items.Count, items.Count - notDone.Count, failed, missing, report));
        }
        return new ShardSummary(state.Root, n, plan.Count, shards.Sum(s => s.Done), shards);
    }

    /// <summary>Plain text: one line per shard, the failed and missing items, and the indices to resubmit.</summary>
    public string Text()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"{Root}: {Items} items in {Count} shards: {Done} done, {Shards.Sum(s => s.Failed.Count)} failed, {Shards.Sum(s => s.Missing.Count)} missing");
        foreach (var s in Shards)
        {
            var timing = s.Report is { } r ? $"; last task on {r.Host}: {r.Frames} frames in {r.Seconds:0.0} s ({r.FramesPerSecond:0.00} frames/s)" : "";
            var note = s.State == "unfinished" ? " (killed, preempted or out of time, or still running)" : "";
            sb.AppendLine($"shard {s.Shard}/{Count}: {s.State}{note}, {s.Done}/{s.Items} items done{timing}");
            foreach (var f in s.Failed) sb.AppendLine($"  failed: {f.Name}: {f.Error}");
            if (s.Missing.Count > 0) sb.AppendLine($"  missing: {string.Join(", ", s.Missing)}");
        }
        if (Complete) sb.AppendLine("all items done");
        else
        {
            var ids = string.Join(",", ToResubmit);
            sb.AppendLine($"resubmit shards {ids}: Slurm: sbatch --array={ids} --export=ALL,{ShardEnvironment.CountVariable}={Count} <job script>; " +
                          "Kubernetes: run the indexed Job again (done items are skipped in seconds)");
        }
        return sb.ToString();
    }
}
