using Cmtm.Flow;
using Cmtm.IO;
using Cmtm.Runtime;
using Cmtm.Sharding;

namespace Cmtm.Inference;

/// <summary>One input of a video list and the name of its output folder.</summary>
/// <param name="Name">Output folder name under the output root: a video's file stem, a frames folder's name (a glob: its folder's).</param>
/// <param name="Input">Video file, frames folder or image glob (full path).</param>
/// <param name="Line">1-based line in the list file.</param>
public sealed record VideoListEntry(string Name, string Input, int Line);

/// <summary>
/// `cmtm segment --list FILE --out ROOT`: a text file of inputs (video files, frames folders or image globs), one per
/// line (blank lines and lines starting with '#' are ignored; relative paths are relative to the list file's folder),
/// segmented into ROOT/&lt;name&gt;/ each, as one shard of the list (<see cref="ShardRunner"/>).
/// </summary>
public static class VideoList
{
    /// <summary>Reads and checks the list (an error names the list file and the line); inputs are not opened here.</summary>
    public static IReadOnlyList<VideoListEntry> Read(string listFile)
    {
        if (!File.Exists(listFile)) throw new CmtmException(listFile, "video list not found");
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(listFile))!;
        var entries = new List<VideoListEntry>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(listFile);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var input = Path.GetFullPath(line, baseDir);
            var name = OutputName(input);
            if (name.Length == 0 || name.StartsWith('.'))
                throw new CmtmException(listFile, $"line {i + 1}: '{line}' gives no usable output folder name");
            if (seen.TryGetValue(name, out var first))
                throw new CmtmException(listFile, $"lines {first} and {i + 1} both give the output folder '{name}' (inputs must have different names)");
            seen[name] = i + 1;
            entries.Add(new VideoListEntry(name, input, i + 1));
        }
        if (entries.Count == 0) throw new CmtmException(listFile, "lists no inputs (one video file or frames folder per line)");
        return entries;
    }

    /// <summary>The output folder name of an input: a video's stem, a folder's name, a glob's folder's name.</summary>
    public static string OutputName(string input)
    {
        var trimmed = Path.TrimEndingDirectorySeparator(input);
        var file = Path.GetFileName(trimmed);
        if (file.IndexOfAny(['*', '?']) >= 0) return Path.GetFileName(Path.GetDirectoryName(trimmed) ?? "");
        return Directory.Exists(trimmed) ? file : Path.GetFileNameWithoutExtension(file);
    }

    /// <summary>
    /// The frames of an input for the split (a video's container estimate); 0 when it cannot be opened: such an item still
    /// gets a shard, where it fails with its error.
    /// </summary>
    public static int FrameCount(string input)
    {
        try { return FrameSources.Open(input).Count ?? 0; }
        catch (CmtmException) { return 0; }
    }

    /// <summary>
    /// Runs this shard of the list (<see cref="ShardRunner"/>, split by <see cref="FrameCount"/>): <paramref name="work"/>
    /// gets each input opened and its output folder <paramref name="outputRoot"/>/&lt;name&gt; and returns the frames
    /// processed; it must write that folder atomically (staged, or atomic files).
    /// </summary>
    public static ShardReport RunShard(IReadOnlyList<VideoListEntry> entries, string outputRoot, ShardSelection shard, ShardRunOptions run,
        Func<VideoListEntry, IFrameSource, string, int> work)
    {
        var root = Path.GetFullPath(outputRoot);
        if (File.Exists(root)) throw new CmtmException(root, "output path is a file, expected a folder");
        var plan = ShardPlan.Split(entries.Select(e => new ShardItem(e.Name, FrameCount(e.Input))).ToList(), shard.Spec.Count);
        var byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        return ShardRunner.Run(root, plan, shard, item =>
        {
            var entry = byName[item.Name];
            return work(entry, FrameSources.Open(entry.Input), Path.Combine(root, entry.Name));
        }, run);
    }

    /// <summary>
    /// Segments this shard's inputs into <paramref name="outputRoot"/>/&lt;name&gt;/ with <paramref name="template"/>'s
    /// outputs (each staged, replacing what a killed task left; a video's overlay at its own frame rate).
    /// </summary>
    /// <param name="segmenterFor">The segmenter of one input (e.g. with that input's flow folder).</param>
    /// <param name="progress">Makes the progress line of an input from its name; null = silent.</param>
    public static ShardReport Segment(IReadOnlyList<VideoListEntry> entries, string outputRoot, Func<VideoListEntry, Segmenter> segmenterFor,
        SegmentOptions template, ShardSelection shard, ShardRunOptions run, Func<string, ProgressLine>? progress = null) =>
        RunShard(entries, outputRoot, shard, run, (entry, source, outDir) =>
        {
            var options = template with
            {
                OutputDir = outDir, Overwrite = true,
                Fps = source is VideoFrameSource v && v.Fps > 0 ? v.Fps : template.Fps,
            };
            return segmenterFor(entry).Run(source, options, progress?.Invoke($"segment {entry.Name}"), run.Cancellation).Frames;
        });

    /// <summary>
    /// Flow images of this shard's inputs into <paramref name="outputRoot"/>/&lt;name&gt;/ (<see cref="FlowExport.Resume"/>:
    /// atomic files, frames already written kept unless <see cref="FlowExportOptions.SkipExisting"/> is off) — the folders
    /// <c>cmtm segment --list --flow ROOT</c> reads.
    /// </summary>
    public static ShardReport Flow(IReadOnlyList<VideoListEntry> entries, string outputRoot, IFlowEstimator estimator, FlowExportOptions template,
        ShardSelection shard, ShardRunOptions run, Action<FlowProgress>? progress = null) =>
        RunShard(entries, outputRoot, shard, run, (_, source, outDir) =>
            FlowExport.Resume(source, estimator, template with { OutputDir = outDir }, progress).Frames);
}
