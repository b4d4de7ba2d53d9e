using System.Diagnostics;

namespace Cmtm.Sharding;

/// <summary>How <see cref="ShardRunner.Run"/> goes through a shard's items.</summary>
public sealed record ShardRunOptions
{
    /// <summary>The work, for the report ("segment", "flow --dataset davis16", ...).</summary>
    public required string Command { get; init; }
    /// <summary>Redo items already marked done (<c>--overwrite</c>); default: skip them.</summary>
    public bool Redo { get; init; }
    /// <summary>Receives a line per item (what is done, skipped, failed).</summary>
    public Action<string>? Say { get; init; }
    /// <summary>Receives the one-line error of each failed item ("error: FILE: problem").</summary>
    public Action<string>? Error { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// Runs one shard of a work list: the items <see cref="ShardPlan"/> gives this shard, one after the other, each through
/// the caller's work function, which must write the item's outputs atomically under the output root (a staging folder
/// renamed into place, or atomic files) and return the frames processed. An item marked done
/// (<see cref="ShardState"/>) is skipped; any other is (re)done from the start, so a re-run or a re-queued task finishes
/// exactly what is missing. A failing item (a bad video: any exception but cancellation) is reported with its one-line
/// error and the shard goes on with the others; the caller exits non-zero when <see cref="ShardReport.Failed"/> is
/// not empty. The shard's <see cref="ShardReport"/> is rewritten after every item.
/// </summary>
public static class ShardRunner
{
    /// <param name="outputRoot">The folder holding every item's outputs (and the <see cref="ShardState"/>).</param>
    /// <param name="work">Processes one item; returns the frames processed.</param>
    public static ShardReport Run(string outputRoot, ShardPlan plan, ShardSelection shard, Func<ShardItem, int> work, ShardRunOptions options)
    {
        var spec = shard.Spec;
        if (spec.Count != plan.Count) throw new ArgumentException($"the plan has {plan.Count} shards, the selection {spec.Count}", nameof(shard));
        var state = new ShardState(outputRoot);
        state.WritePlan(plan);
        var mine = plan.ItemsOf(spec.Index);
        var items = mine.Select(i => new ShardItemReport(i.Name, i.Frames, "pending")).ToArray();
        var clock = Stopwatch.StartNew();
        var report = new ShardReport
        {
            Shard = spec.Index, Count = spec.Count, Command = options.Command, Source = shard.Source,
            Started = DateTimeOffset.UtcNow, Items = items,
        };
        state.WriteReport(report);
        options.Say?.Invoke($"shard {spec} ({shard.Source}): {mine.Count} of {plan.Items.Count} items, {mine.Sum(i => (long)i.Frames)} frames -> {state.Root}");
        for (var i = 0; i < mine.Count; i++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            var item = mine[i];
            var head = $"[{i + 1}/{mine.Count}] {item.Name}";
            if (state.IsDone(item.Name) && !options.Redo)
            {
                items[i] = items[i] with { Status = "skipped" };
                options.Say?.Invoke($"{head}: already done, skipped");
            }
            else
            {
                if (state.IsDone(item.Name)) state.ClearDone(item.Name);
                var itemClock = Stopwatch.StartNew();
                try
                {
                    var frames = work(item);
                    state.MarkDone(item with { Frames = frames }, spec, itemClock.Elapsed.TotalSeconds);
                    items[i] = items[i] with { Frames = frames, Status = "done", Seconds = itemClock.Elapsed.TotalSeconds };
                    options.Say?.Invoke($"{head}: done, {frames} frames in {itemClock.Elapsed.TotalSeconds:0.0} s");
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    var message = OneLine(e);
                    items[i] = items[i] with { Status = "failed", Seconds = itemClock.Elapsed.TotalSeconds, Error = message };
                    options.Error?.Invoke($"error: {message}");
                    options.Say?.Invoke($"{head}: failed, going on with the others");
                }
            }
            report = report with { Seconds = clock.Elapsed.TotalSeconds, Items = items.ToArray() };
            state.WriteReport(report);
        }
        report = report with { Seconds = clock.Elapsed.TotalSeconds, Finished = DateTimeOffset.UtcNow, Items = items.ToArray() };
        state.WriteReport(report);
        return report;
    }

    /// <summary>The usual one-line error: a <see cref="CmtmException"/>'s message, else the type and message.</summary>
    private static string OneLine(Exception e)
    {
        while (e is AggregateException or System.Reflection.TargetInvocationException && e.InnerException != null) e = e.InnerException!;
        var text = e is CmtmException ? e.Message : $"internal error: {e.GetType().Name}: {e.Message}";
        return text.ReplaceLineEndings(" ");
    }

    /// <summary>
    /// The closing line of a shard: what it did and its throughput; null when nothing failed, else the error message
    /// listing the failed items (the caller exits non-zero with it).
    /// </summary>
    public static (string Summary, string? Failure) Outcome(ShardReport report)
    {
        int done = report.Items.Count(i => i.Status == "done"), skipped = report.Items.Count(i => i.Status == "skipped");
        var failed = report.Failed.Select(i => i.Name).ToList();
        var summary = $"shard {report.Shard}/{report.Count}: {report.Items.Count} items ({done} done now, {skipped} already done, {failed.Count} failed), " +
                      $"{report.Frames} frames in {report.Seconds:0.0} s ({report.FramesPerSecond:0.00} frames/s)";
        return (summary, failed.Count == 0 ? null : $"{failed.Count} of {report.Items.Count} items failed: {string.Join(", ", failed)} (see the errors above; re-run the shard to retry them)");
    }
}
