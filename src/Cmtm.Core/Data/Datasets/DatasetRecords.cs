using Cmtm.IO;

namespace Cmtm.Data.Datasets;

/// <summary>Which parts of a dataset a caller needs; readers fail (naming what is missing) only for required parts.</summary>
[Flags]
public enum DatasetParts
{
    None = 0,
    Images = 1,
    Flows = 2,
    Annotations = 4,
    /// <summary>What training needs: image, flow and mask of every frame.</summary>
    All = Images | Flows | Annotations,
    /// <summary>What inference needs: image and flow of every frame.</summary>
    Inputs = Images | Flows,
}

/// <summary>One frame: its name (file stem) and the paths of the parts that exist (null when absent).</summary>
public sealed record FrameRecord(string Name, string? Image, string? Flow, string? Annotation);

/// <summary>
/// One video (or, for DUTSv2, the whole image set): <see cref="Name"/> is its path relative to the dataset's
/// per-part folders with '/' separators (e.g. "blackswan", or "aeroplane/0001" for YouTube-Objects);
/// <see cref="Category"/> is the YouTube-Objects class (null elsewhere). Frames are in temporal (sorted) order.
/// </summary>
public sealed record SequenceRecord(string Name, IReadOnlyList<FrameRecord> Frames, string? Category = null);

/// <summary>
/// A validated dataset layout. <see cref="AnnotationRule"/> says how its annotation PNGs become binary masks,
/// as the official loader of that dataset does.
/// </summary>
public sealed record DatasetRecord(string Kind, string Root, MaskRule AnnotationRule, IReadOnlyList<SequenceRecord> Sequences)
{
    /// <summary>Listed sequences left out because they have no frames on disk (DAVIS read with <c>skipSequencesWithoutImages</c>).</summary>
    public IReadOnlyList<string> SkippedSequences { get; init; } = [];

    /// <summary>The folder the flows were read from when they are kept apart from the dataset (<c>--flows DIR</c>), else null.</summary>
    public string? Flows { get; init; }

    public int FrameCount => Sequences.Sum(s => s.Frames.Count);
    public int AnnotatedFrameCount => Sequences.Sum(s => s.Frames.Count(f => f.Annotation != null));
}

/// <summary>The dataset kinds understood by <see cref="DatasetReader"/>, for evaluation, training and flow export alike.</summary>
public enum DatasetKind
{
    Davis16,
    /// <summary>Videos made by <c>cmtm synth</c>: the DAVIS layout (<see cref="DatasetReader.IsDavisLayout"/>).</summary>
    Synthetic,
    Fbms,
    YouTubeObjects,
    LongVideos,
    YouTubeVos18,
    Dutsv2,
}
