using Cmtm.IO;
using Cmtm.Sharding;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Sharding;

/// <summary>
/// Idempotent, atomic per-item work: a re-run skips finished items and redoes the others, a failing item does
/// not stop the shard, and the summary says what is done, failed, unfinished and missing.
/// </summary>
public class ShardRunnerTests
{
    private static readonly List<ShardItem> Items = [new("a", 10), new("b", 9), new("c", 8), new("d", 7), new("bad", 6)];

    /// <summary>Work writing one output file per item atomically; "bad" fails while <paramref name="failBad"/>.</summary>
    private static Func<ShardItem, int> Work(string root, List<string> calls, bool failBad) => item =>
    {
        calls.Add(item.Name);
        if (failBad && item.Name == "bad") throw new CmtmException(Path.Combine(root, "bad.mp4"), "cannot open video");
        AtomicFile.WriteAllText(Path.Combine(root, item.Name, "out.txt"), item.Name);
        return item.Frames;
    };

    private static ShardRunOptions Options(bool redo = false) => new() { Command = "test", Redo = redo };

    [Fact]
    public void ReRunSkipsDoneItems_RedoesFailedAndHalfFinishedOnes()
    {
        using var tmp = new Shared.TempDir();
        var plan = ShardPlan.Split(Items, 2);
        var shard = plan.ShardOf(Items.FindIndex(i => i.Name == "bad"));
        var selection = new ShardSelection(new ShardSpec(shard, 2), "test");
        var mine = plan.ItemsOf(shard).Select(i => i.Name).ToList();
        Assert.True(mine.Count >= 2);

        var calls = new List<string>();
        var report = ShardRunner.Run(tmp.Path, plan, selection, Work(tmp.Path, calls, failBad: true), Options());
        Assert.Equal(mine, calls); // every item of the shard tried, in order, despite the failure
        Assert.NotNull(report.Finished);
        var failed = Assert.Single(report.Failed);
        Assert.Equal("bad", failed.Name);
        Assert.Contains("bad.mp4: cannot open video", failed.Error);
        var (_, failure) = ShardRunner.Outcome(report);
        Assert.Contains("bad", failure);
        Assert.False(new ShardState(tmp.Path).IsDone("bad"));

        // a task killed mid-item: outputs half written, no marker
        var half = mine.First(n => n != "bad");
        File.Delete(new ShardState(tmp.Path).DonePath(half));
        var summary = ShardSummary.Read(tmp.Path);
        var status = summary.Shards[shard];
        Assert.Equal("failed", status.State);
        Assert.Contains(half, status.Missing);
        Assert.Equal("not started", summary.Shards[1 - shard].State);
        Assert.Equal([0, 1], summary.ToResubmit);
        Assert.Contains("sbatch --array=0,1 --export=ALL,CMTM_SHARD_COUNT=2", summary.Text());

        calls.Clear();
        var stamp = mine.Where(n => n != "bad" && n != half).ToDictionary(n => n, n => File.GetLastWriteTimeUtc(Path.Combine(tmp.Path, n, "out.txt")));
        report = ShardRunner.Run(tmp.Path, plan, selection, Work(tmp.Path, calls, failBad: false), Options());
        Assert.Equal(mine.Where(n => n == "bad" || n == half), calls); // only what was not done
        Assert.Empty(report.Failed);
        Assert.All(stamp, s => Assert.Equal(s.Value, File.GetLastWriteTimeUtc(Path.Combine(tmp.Path, s.Key, "out.txt"))));
        Assert.Equal(mine.Count - 2, report.Items.Count(i => i.Status == "skipped"));

        // a third run does nothing; --overwrite (Redo) does everything again
        calls.Clear();
        ShardRunner.Run(tmp.Path, plan, selection, Work(tmp.Path, calls, failBad: false), Options());
        Assert.Empty(calls);
        ShardRunner.Run(tmp.Path, plan, selection, Work(tmp.Path, calls, failBad: false), Options(redo: true));
        Assert.Equal(mine, calls);

        // the other shard, then everything is done
        ShardRunner.Run(tmp.Path, plan, new ShardSelection(new ShardSpec(1 - shard, 2), "test"), Work(tmp.Path, calls, failBad: false), Options());
        summary = ShardSummary.Read(tmp.Path);
        Assert.True(summary.Complete);
        Assert.All(summary.Shards, s => Assert.Equal("done", s.State));
        Assert.Contains("all items done", summary.Text());
    }

    [Fact]
    public void AKilledTaskLeavesAnUnfinishedReport()
    {
        using var tmp = new Shared.TempDir();
        var plan = ShardPlan.Split(Items, 1);
        var selection = new ShardSelection(new ShardSpec(0, 1), "test");
        // cancellation (a stop request) ends the task between items, like a kill: no "finished" in its report
        using var cts = new CancellationTokenSource();
        Func<ShardItem, int> work = item => { cts.Cancel(); return Work(tmp.Path, [], false)(item); };
        Assert.ThrowsAny<OperationCanceledException>(() => ShardRunner.Run(tmp.Path, plan, selection, work, Options() with { Cancellation = cts.Token }));
        var status = ShardSummary.Read(tmp.Path).Shards[0];
        Assert.Equal("unfinished", status.State);
        Assert.Equal(1, status.Done);
        Assert.Equal(4, status.Missing.Count);
        Assert.Contains("killed, preempted or out of time", ShardSummary.Read(tmp.Path).Text());
    }
}
