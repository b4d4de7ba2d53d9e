using Cmtm.IO;

namespace Cmtm.Inference;

/// <summary>
/// Precomputed flow images (e.g. a dataset's JPEGFlows folder), matched to frames by file stem.
/// </summary>
public sealed class FlowImageFolder
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

    public int Count => byStem.Count;

    /// <summary>Throws naming the first stem (in the given order) that has no flow image.</summary>
    public void CheckCovers(IEnumerable<string> stems)
    {
        foreach (var s in stems)
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
}
