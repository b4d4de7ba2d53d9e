using System.Text.Json;
using System.Text.Json.Serialization;
using Cmtm.IO;

namespace Cmtm.Sharding;

/// <summary>What one shard did with one item.</summary>
/// <param name="Status">"done" (processed by this task), "skipped" (done by an earlier task), "failed", or "pending" (not reached yet).</param>
/// <param name="Error">The one-line error of a failed item.</param>
public sealed record ShardItemReport(string Name, int Frames, string Status, double Seconds = 0, string? Error = null);

/// <summary>
/// The report one shard writes next to the outputs (<see cref="ShardState.ReportPath"/>), rewritten atomically after
/// every item: a task killed mid-run leaves its last report without <see cref="Finished"/>.
/// </summary>
public sealed record ShardReport
{
    public required int Shard { get; init; }
    public required int Count { get; init; }
    /// <summary>The work, e.g. "segment", "flow --dataset davis16".</summary>
    public required string Command { get; init; }
    /// <summary>Where the shard came from (<see cref="ShardSelection.Source"/>).</summary>
    public required string Source { get; init; }
    public string Host { get; init; } = Environment.MachineName;
    public int Pid { get; init; } = Environment.ProcessId;
    public required DateTimeOffset Started { get; init; }
    /// <summary>Null while running, and for a task that was killed.</summary>
    public DateTimeOffset? Finished { get; init; }
    /// <summary>Wall-clock seconds so far.</summary>
    public double Seconds { get; init; }
    public required IReadOnlyList<ShardItemReport> Items { get; init; }

    /// <summary>Frames processed by this task (items done now, not those skipped).</summary>
    public int Frames => Items.Where(i => i.Status == "done").Sum(i => i.Frames);
    /// <summary>Processed frames per wall-clock second of the task.</summary>
    public double FramesPerSecond => Seconds > 0 ? Frames / Seconds : 0;
    public IEnumerable<ShardItemReport> Failed => Items.Where(i => i.Status == "failed");
}

/// <summary>
/// The bookkeeping a sharded run keeps in its output root, in the hidden folder <see cref="FolderName"/> (readers of the
/// outputs, such as <c>cmtm evaluate --results</c>, skip hidden folders):
/// <list type="bullet">
/// <item><c>done/&lt;item&gt;.json</c>: written atomically only after the item's outputs are complete; an item is done
/// exactly when its marker exists, so a task killed mid-item leaves it not done and a later task redoes it.</item>
/// <item><c>plan-N.json</c>: the split into N shards (identical from every task; for the summary).</item>
/// <item><c>shard-K-of-N.json</c>: each shard's <see cref="ShardReport"/>.</item>
/// </list>
/// A shard writes only its own items' outputs and markers, its own report and the (shared, identical) plan.
/// </summary>
public sealed class ShardState(string root)
{
    public const string FolderName = ".cmtm-shards";

    /// <summary>How the shard files are written: the project's JSON style (<see cref="Cmtm.IO.JsonFormat"/>), nulls left out.</summary>
    public static readonly JsonSerializerOptions Json = new(Cmtm.IO.JsonFormat.Options) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>The output root.</summary>
    public string Root { get; } = Path.GetFullPath(root);
    public string Dir => Path.Combine(Root, FolderName);

    public string DonePath(string item) => Path.Combine([Dir, "done", .. item.Split('/')]) + ".json";
    public bool IsDone(string item) => File.Exists(DonePath(item));
    public string PlanPath(int count) => Path.Combine(Dir, $"plan-{count}.json");
    public string ReportPath(ShardSpec shard) => Path.Combine(Dir, shard.FileStem + ".json");

    /// <summary>Marks an item done (atomically), after its outputs are complete.</summary>
    public void MarkDone(ShardItem item, ShardSpec shard, double seconds) =>
        AtomicFile.WriteAllText(DonePath(item.Name), JsonSerializer.Serialize(new DoneMarker(item.Name, item.Frames, shard.ToString(), seconds, DateTimeOffset.UtcNow), Json));

    /// <summary>Removes an item's marker before it is redone.</summary>
    public void ClearDone(string item)
    {
        try { File.Delete(DonePath(item)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CmtmException(DonePath(item), $"cannot remove the done marker ({e.Message})", e); }
    }

    /// <summary>Writes the plan unless the same plan is there already.</summary>
    public void WritePlan(ShardPlan plan)
    {
        var text = JsonSerializer.Serialize(new PlanFile(plan.Count,
            plan.Items.Select((item, i) => new PlanEntry(item.Name, item.Frames, plan.ShardOf(i))).ToList()), Json);
        var path = PlanPath(plan.Count);
        if (File.Exists(path) && File.ReadAllText(path) == text) return;
        AtomicFile.WriteAllText(path, text);
    }

    /// <summary>The shard counts that have a plan here, most recently written first.</summary>
    public IReadOnlyList<int> PlannedCounts() =>
        !Directory.Exists(Dir) ? []
            : Directory.GetFiles(Dir, "plan-*.json").OrderByDescending(File.GetLastWriteTimeUtc)
                .Select(f => int.TryParse(Path.GetFileNameWithoutExtension(f)["plan-".Length..], out var n) ? n : 0).Where(n => n > 0).ToList();

    /// <summary>The items of the plan for <paramref name="count"/> shards with each one's shard; null if there is none.</summary>
    public IReadOnlyList<(ShardItem Item, int Shard)>? ReadPlan(int count)
    {
        var path = PlanPath(count);
        if (!File.Exists(path)) return null;
        var plan = Read<PlanFile>(path);
        return plan.Items.Select(e => (new ShardItem(e.Name, e.Frames), e.Shard)).ToList();
    }

    public void WriteReport(ShardReport report) =>
        AtomicFile.WriteAllText(ReportPath(new ShardSpec(report.Shard, report.Count)), JsonSerializer.Serialize(report, Json));

    /// <summary>A shard's last report, or null.</summary>
    public ShardReport? ReadReport(ShardSpec shard) => File.Exists(ReportPath(shard)) ? Read<ShardReport>(ReportPath(shard)) : null;

    private static T Read<T>(string path)
    {
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json) ?? throw new CmtmException(path, "empty file"); }
        catch (JsonException e) { throw new CmtmException(path, $"not a valid shard file ({e.Message})", e); }
    }

    private sealed record DoneMarker(string Name, int Frames, string Shard, double Seconds, DateTimeOffset Finished);
    private sealed record PlanEntry(string Name, int Frames, int Shard);
    private sealed record PlanFile(int Count, IReadOnlyList<PlanEntry> Items);
}
