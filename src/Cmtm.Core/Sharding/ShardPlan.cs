namespace Cmtm.Sharding;

/// <summary>One unit of sharded work: a sequence (a video, a frames folder, a dataset sequence) and its frame count.</summary>
/// <param name="Name">The item's name, also the relative path of its outputs under the output root ('/' allowed, e.g. "class/video").</param>
/// <param name="Frames">Frames to process (the weight the split balances; 0 when unknown).</param>
public sealed record ShardItem(string Name, int Frames);

/// <summary>
/// The deterministic split of a work list into N shards, by sequence, balanced by frame count: the items in order of
/// decreasing frames (ties by name, ordinal) each go to the shard with the fewest frames so far (ties: fewer items,
/// then the lower index) — the longest-processing-time rule, whose busiest shard exceeds the least busy by at most
/// one item's frames. It depends only on the items' names and frame counts, never on their order or on the machine,
/// so every task of an array computes the same split on its own.
/// </summary>
public sealed class ShardPlan
{
    private readonly int[] shardOf;

    /// <summary>The items in the order given.</summary>
    public IReadOnlyList<ShardItem> Items { get; }
    /// <summary>Number of shards.</summary>
    public int Count { get; }

    private ShardPlan(IReadOnlyList<ShardItem> items, int count, int[] shardOf) { Items = items; Count = count; this.shardOf = shardOf; }

    /// <summary>The shard of the item at <paramref name="itemIndex"/> in <see cref="Items"/>.</summary>
    public int ShardOf(int itemIndex) => shardOf[itemIndex];

    /// <summary>The items of one shard, in the order given.</summary>
    public IReadOnlyList<ShardItem> ItemsOf(int shard) => Items.Where((_, i) => shardOf[i] == shard).ToList();

    /// <summary>Total frames of one shard.</summary>
    public long FramesOf(int shard) => ItemsOf(shard).Sum(i => (long)i.Frames);

    /// <summary>Splits <paramref name="items"/> (unique names) into <paramref name="count"/> shards.</summary>
    public static ShardPlan Split(IReadOnlyList<ShardItem> items, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), "at least one shard");
        var dup = items.GroupBy(i => i.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new CmtmException(dup.Key, "appears twice in the work list (each item needs outputs of its own)");
        var order = Enumerable.Range(0, items.Count)
            .OrderByDescending(i => Math.Max(items[i].Frames, 0)).ThenBy(i => items[i].Name, StringComparer.Ordinal).ToList();
        var frames = new long[count];
        var counts = new int[count];
        var shardOf = new int[items.Count];
        foreach (var i in order)
        {
            var best = 0;
            for (var s = 1; s < count; s++)
                if (frames[s] < frames[best] || (frames[s] == frames[best] && counts[s] < counts[best])) best = s;
            shardOf[i] = best;
            frames[best] += Math.Max(items[i].Frames, 0);
            counts[best]++;
        }
        return new ShardPlan(items, count, shardOf);
    }
}
