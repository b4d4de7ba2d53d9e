using Cmtm.Data.Datasets;
using Cmtm.IO;
using Cmtm.Sharding;

namespace Cmtm.Flow;

public sealed record DatasetFlowSummary(int Sequences, int Frames, int Computed, int Skipped, double Seconds);

/// <summary>
/// Fills a dataset's JPEGFlows folder (the layout the official loaders read) from its JPEGImages, sequence by
/// sequence, skipping frames whose flow exists (resumable). DAVIS covers every split listed in ImageSets/2016 and
/// skips listed sequences that have no frames folder (saying so). The flows go where the readers look for them
/// (<see cref="DatasetReader.FlowRoot"/>): into the dataset, or with <paramref name="flows"/> into
/// &lt;flows&gt;/JPEGFlows/... (same layout), which leaves a read-only dataset untouched.
/// </summary>
public static class DatasetFlowExport
{
    /// <param name="flows">a folder of its own for the flow images (same layout as inside the dataset), null = into the dataset.</param>
    public static DatasetFlowSummary Run(string kindName, string root, IFlowEstimator estimator, FlowExportOptions template,
        Action<string>? say = null, Action<FlowProgress>? progress = null, string? flows = null)
    {
        var (sequences, flowRoot) = Sequences(kindName, root, say, flows);
        return Run(sequences, flowRoot, estimator, template, say, progress);
    }

    /// <summary>
    /// The sequences whose flows <c>cmtm flow --dataset</c> computes (DAVIS: every split listed, skipping sequences
    /// without frames and saying so) and the folder their flows go to (<see cref="DatasetReader.FlowRoot"/>).
    /// </summary>
    public static (IReadOnlyList<SequenceRecord> Sequences, string FlowRoot) Sequences(string kindName, string root, Action<string>? say = null, string? flows = null)
    {
        var kind = DatasetReader.ParseKind(kindName);
        if (kind == DatasetKind.Dutsv2)
            throw new CmtmException("dataset", "DUTSv2 holds still images: its flows are simulated from depth (FakeFlow), not estimated from frames");
        var sequences = new List<SequenceRecord>();
        if (DatasetReader.IsDavisLayout(kind))
        {
            var splits = new[] { "train", "val" }.Where(s => File.Exists(Path.Combine(root, "ImageSets", "2016", s + ".txt"))).ToList();
            if (splits.Count == 0) throw new CmtmException(Path.Combine(root, "ImageSets", "2016"), "no train.txt or val.txt");
            foreach (var split in splits)
            {
                var ds = DatasetReader.Davis(root, split, DatasetParts.Images, skipSequencesWithoutImages: true);
                if (ds.SkippedSequences.Count > 0)
                    say?.Invoke($"{split}: {ds.SkippedSequences.Count} of {ds.SkippedSequences.Count + ds.Sequences.Count} sequences have no frames here, skipped: {string.Join(", ", ds.SkippedSequences)}");
                sequences.AddRange(ds.Sequences);
            }
        }
        else sequences.AddRange(DatasetReader.Load(kind, root, DatasetParts.Images).Sequences);
        return (sequences, DatasetReader.FlowRoot(kind, root, flows));
    }

    /// <summary>
    /// Flow images of <paramref name="sequences"/> (each with its frames' images) into
    /// <paramref name="flowRoot"/>/&lt;sequence&gt;/&lt;stem&gt;, any folder (e.g. a run folder when the dataset is read-only);
    /// frames whose flow exists are skipped.
    /// </summary>
    public static DatasetFlowSummary Run(IReadOnlyList<SequenceRecord> sequences, string flowRoot, IFlowEstimator estimator, FlowExportOptions template,
        Action<string>? say = null, Action<FlowProgress>? progress = null)
    {
        int frames = 0, computed = 0, skipped = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < sequences.Count; i++)
        {
            var seq = sequences[i];
            say?.Invoke($"[{i + 1}/{sequences.Count}] {seq.Name}: {seq.Frames.Count} frames -> {SequenceDir(flowRoot, seq)}");
            var summary = ExportSequence(seq, flowRoot, estimator, template, progress);
            frames += summary.Frames; computed += summary.Computed; skipped += summary.Skipped;
        }
        return new DatasetFlowSummary(sequences.Count, frames, computed, skipped, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// One shard of the sequences (<see cref="ShardRunner"/>): each sequence of this shard not yet marked done in
    /// <paramref name="flowRoot"/> is (re)computed; frames whose flow files exist are kept unless
    /// <see cref="FlowExportOptions.SkipExisting"/> is off (every file is written atomically, and temporary files of a
    /// killed task are removed first), and the sequence is marked done at its end.
    /// </summary>
    public static ShardReport RunShard(IReadOnlyList<SequenceRecord> sequences, string flowRoot, IFlowEstimator estimator, FlowExportOptions template,
        ShardSelection shard, ShardRunOptions run, Action<FlowProgress>? progress = null)
    {
        var plan = ShardPlan.Split(sequences.Select(s => new ShardItem(s.Name, s.Frames.Count)).ToList(), shard.Spec.Count);
        var byName = sequences.ToDictionary(s => s.Name, StringComparer.Ordinal);
        return ShardRunner.Run(flowRoot, plan, shard, item => ExportSequence(byName[item.Name], flowRoot, estimator, template, progress).Frames, run);
    }

    private static string SequenceDir(string flowRoot, SequenceRecord seq) => Path.Combine([flowRoot, .. seq.Name.Split('/')]);

    private static FlowExportSummary ExportSequence(SequenceRecord seq, string flowRoot, IFlowEstimator estimator, FlowExportOptions template, Action<FlowProgress>? progress)
    {
        var framesDir = Path.GetDirectoryName(seq.Frames[0].Image ?? throw new CmtmException(seq.Name, $"sequence '{seq.Name}' has no frame images"))!;
        return FlowExport.Resume(new FolderFrameSource(framesDir), estimator, template with { OutputDir = SequenceDir(flowRoot, seq) }, progress);
    }
}
