using Cmtm.IO;

namespace Cmtm.Flow;

/// <summary>
/// Where each frame's flow colour image comes from - the one abstraction used by segment, evaluate, validation, the
/// demos, bench and serve: computed by an estimator (<see cref="Compute"/>: forward t -> t+1, the last frame backward),
/// read from a folder of flow images matched by frame stem (<see cref="Folder"/>), or supplied per frame by the caller
/// (<see cref="PerFrame"/>, e.g. a dataset's JPEGFlows paired by the dataset reader). <see cref="Open"/> is the single
/// place where a user's "folder or method" choice becomes one of them.
/// </summary>
public abstract class FlowSource : IDisposable
{
    /// <summary>Short text for logs and reports ("farneback", "folder DIR", ...).</summary>
    public abstract string Description { get; }

    /// <summary>Frames paired with their flow colour images, streamed (bounded memory).</summary>
    public abstract IEnumerable<(RgbFrame Frame, RgbFrame Flow)> Pair(IEnumerable<RgbFrame> frames);

    /// <summary>Checks before any work that every frame stem has a flow (a folder source; nothing for the others).</summary>
    public virtual void CheckCovers(IEnumerable<string> frameStems) { }

    /// <summary>Flows computed by <paramref name="estimator"/>; disposed with this source when <paramref name="owns"/>.</summary>
    public static FlowSource Compute(IFlowEstimator estimator, bool owns = false) => new Computed(estimator, owns);

    /// <summary>Flow images in <paramref name="folder"/> (*.jpg, *.jpeg, *.png), matched to frames by file stem.</summary>
    public static FlowImageFolder Folder(string folder) => new(folder);

    /// <summary>The flow image of each frame given by <paramref name="flowOf"/>, which throws a <see cref="CmtmException"/>
    /// naming the frame when it has none.</summary>
    public static FlowSource PerFrame(Func<RgbFrame, RgbFrame> flowOf, string description) => new Supplied(flowOf, description);

    /// <summary>
    /// A user's flow choice: an existing folder of flow images, else a method name for <paramref name="createEstimator"/>
    /// (e.g. <see cref="FlowEstimators.Create"/> with the RAFT settings), whose estimator the source then owns.
    /// </summary>
    public static FlowSource Open(string folderOrMethod, Func<string, IFlowEstimator> createEstimator) =>
        Directory.Exists(folderOrMethod) ? Folder(folderOrMethod) : Compute(createEstimator(folderOrMethod), owns: true);

    public virtual void Dispose() { }

    private sealed class Computed(IFlowEstimator estimator, bool owns) : FlowSource
    {
        public override string Description => estimator.Name;

        public override IEnumerable<(RgbFrame Frame, RgbFrame Flow)> Pair(IEnumerable<RgbFrame> frames)
        {
            foreach (var item in FlowSequence.Stream(frames, estimator, (frames as IFrameSource)?.Path))
            {
                var f = item.Flow!;
                yield return (item.Frame, new RgbFrame(item.Frame.Index, item.Frame.Stem, f.Width, f.Height, f.ToRgb(), item.Frame.Source + " (flow)"));
            }
        }

        public override void Dispose() { if (owns) estimator.Dispose(); }
    }

    private sealed class Supplied(Func<RgbFrame, RgbFrame> flowOf, string description) : FlowSource
    {
        public override string Description => description;

        public override IEnumerable<(RgbFrame Frame, RgbFrame Flow)> Pair(IEnumerable<RgbFrame> frames)
        {
            foreach (var frame in frames) yield return (frame, flowOf(frame));
        }
    }
}

/// <summary>
/// Precomputed flow images (e.g. a dataset's JPEGFlows folder, or <c>cmtm flow</c>'s output), matched to frames by file stem.
/// </summary>
public sealed class FlowImageFolder : FlowSource
{
    private readonly Dictionary<string, string> byStem;
    public string Path { get; }

    public FlowImageFolder(string folder)
    {
        Path = folder;
        if (!Directory.Exists(folder)) throw new CmtmException(folder, "flow folder does not exist");
        byStem = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(folder))
        {
            if (!FrameSources.ImageExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant())) continue;
            var stem = System.IO.Path.GetFileNameWithoutExtension(f);
            if (stem.StartsWith('.')) continue;
            if (!byStem.TryAdd(stem, f))
                throw new CmtmException(folder, $"two flow images share the stem '{stem}'");
        }
        if (byStem.Count == 0) throw new CmtmException(folder, "no flow images (*.jpg, *.jpeg, *.png) in folder");
    }

    public override string Description => "folder " + Path;

    public int Count => byStem.Count;

    /// <summary>Throws naming the first stem (in the given order) that has no flow image.</summary>
    public override void CheckCovers(IEnumerable<string> frameStems)
    {
        foreach (var s in frameStems)
            if (!byStem.ContainsKey(s))
                throw new CmtmException(Path, $"no flow image for frame '{s}' (flows are matched to frames by file stem; the folder has {Count})");
    }

    /// <summary>The flow image of the frame with file stem <paramref name="stem"/> (an error naming the folder if none).</summary>
    public string PathOf(string stem)
    {
        CheckCovers(new[] { stem });
        return byStem[stem];
    }

    public RgbFrame Read(RgbFrame frame) => FolderFrameSource.Read(PathOf(frame.Stem), frame.Index);

    public override IEnumerable<(RgbFrame Frame, RgbFrame Flow)> Pair(IEnumerable<RgbFrame> frames)
    {
        if (frames is FolderFrameSource folder) CheckCovers(folder.Files.Select(f => System.IO.Path.GetFileNameWithoutExtension(f)));
        foreach (var frame in frames) yield return (frame, Read(frame));
    }
}
