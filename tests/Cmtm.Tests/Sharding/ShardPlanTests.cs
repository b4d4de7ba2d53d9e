using Cmtm.Sharding;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Sharding;

/// <summary>The split: deterministic, every item in exactly one shard, balanced by frames.</summary>
public class ShardPlanTests
{
    /// <summary>The 30 DAVIS-2016 train sequences with their real frame counts (25-100 frames).</summary>
    private static List<ShardItem> DavisTrain()
    {
        var images = Shared.DataPath("davis16-train", "JPEGImages", "480p");
        return Directory.GetDirectories(images).Order(StringComparer.Ordinal)
            .Select(d => new ShardItem(Path.GetFileName(d), Directory.GetFiles(d, "*.jpg").Length)).ToList();
    }

    [Fact]
    public void EveryItemIsInExactlyOneShard_AndShardsAreBalancedByFrames()
    {
        var items = DavisTrain();
        Assert.Equal(30, items.Count);
        foreach (var n in new[] { 1, 2, 3, 4, 7, 8, 30, 40 })
        {
            var plan = ShardPlan.Split(items, n);
            var all = Enumerable.Range(0, n).SelectMany(plan.ItemsOf).Select(i => i.Name).ToList();
            Assert.Equal(items.Select(i => i.Name).Order(StringComparer.Ordinal), all.Order(StringComparer.Ordinal)); // each exactly once
            var frames = Enumerable.Range(0, n).Select(plan.FramesOf).ToList();
            Assert.Equal(items.Sum(i => i.Frames), frames.Sum());
            // longest-processing-time bound: the busiest shard exceeds the least busy by at most one item's frames
            if (n <= items.Count) Assert.True(frames.Max() - frames.Min() <= items.Max(i => i.Frames), $"{n} shards: {string.Join(", ", frames)}");
            if (n > items.Count) Assert.Equal(n - items.Count, Enumerable.Range(0, n).Count(s => plan.ItemsOf(s).Count == 0));
        }
        // 4 shards of the real train set (2,080 frames): each within 3 % of the mean (measured: 507, 528, 533, 511)
        var four = Enumerable.Range(0, 4).Select(ShardPlan.Split(items, 4).FramesOf).ToList();
        Assert.All(four, f => Assert.True(Math.Abs(f - four.Average()) <= 0.03 * four.Average(), string.Join(", ", four)));
    }

    [Fact]
    public void TheSplitDependsOnlyOnNamesAndFrames_NotOnTheOrder()
    {
        var items = DavisTrain();
        var reference = ShardPlan.Split(items, 4);
        string Signature(ShardPlan p) => string.Join("|", Enumerable.Range(0, 4).Select(s => string.Join(",", p.ItemsOf(s).Select(i => i.Name).Order(StringComparer.Ordinal))));
        var rng = new Random(7);
        for (var t = 0; t < 5; t++)
            Assert.Equal(Signature(reference), Signature(ShardPlan.Split(items.OrderBy(_ => rng.Next()).ToList(), 4)));
        // items keep their given order inside a shard
        var shard = reference.ItemsOf(1).Select(i => items.FindIndex(x => x.Name == i.Name)).ToList();
        Assert.Equal(shard.Order(), shard);
    }

    [Fact]
    public void ItemsWithoutAFrameCountAreSpreadToo_AndDuplicateNamesAreRejected()
    {
        var unknown = Enumerable.Range(0, 9).Select(i => new ShardItem($"v{i}", 0)).ToList();
        var plan = ShardPlan.Split(unknown, 3);
        Assert.All(Enumerable.Range(0, 3), s => Assert.Equal(3, plan.ItemsOf(s).Count));
        var e = Assert.Throws<CmtmException>(() => ShardPlan.Split([new ShardItem("a", 3), new ShardItem("a", 4)], 2));
        Assert.Contains("twice", e.Message);
    }
}
