using Cmtm.Data.Datasets;

namespace Cmtm.Data.Sampling;

/// <summary>One training example on disk: frame, flow image and mask.</summary>
public sealed record FrameFiles(string Image, string Flow, string Mask);

/// <summary>
/// One training dataset: a list of videos (each a list of frames), or for DUTSv2 one "video" per image.
/// <see cref="Share"/> is its relative weight in an epoch (official stage 2: DUTSv2 3 : DAVIS 1).
/// </summary>
public sealed record TrainingSource(DatasetKind Kind, string Root, IReadOnlyList<IReadOnlyList<FrameFiles>> Videos, double Share)
{
    /// <summary>DUTS masks are gray saliency maps (bicubic + threshold); the others palette object ids (nearest).</summary>
    public bool GrayMasks => Kind == DatasetKind.Dutsv2;
    public int FrameCount => Videos.Sum(v => v.Count);

    /// <summary>The default epoch share of a kind: DUTSv2 3, everything else 1 (DUTSv2 : DAVIS = 384 : 128).</summary>
    public static double DefaultShare(DatasetKind kind) => kind == DatasetKind.Dutsv2 ? 3 : 1;

    /// <summary>The kinds training reads (the official stages' DAVIS, YouTube-VOS and DUTSv2, and synthetic videos).</summary>
    public static bool IsTrainingKind(DatasetKind kind) =>
        kind is DatasetKind.Davis16 or DatasetKind.YouTubeVos18 or DatasetKind.Dutsv2 or DatasetKind.Synthetic;

    /// <summary>A training kind by name (<see cref="DatasetReader.ParseKind"/>: davis, ytvos, duts, synth and their aliases).</summary>
    public static DatasetKind ParseKind(string s) =>
        DatasetReader.TryParseKind(s) is DatasetKind kind && IsTrainingKind(kind) ? kind
            : throw new CmtmException("train", $"unknown training dataset kind '{s}' (expected davis, ytvos, duts or synth)");

    /// <summary>Parses "KIND=DIR", "KIND=DIR:SHARE", each optionally followed by ",flows=FLOWDIR" (<see cref="DatasetSpec"/>).</summary>
    public static TrainingSpec ParseSpec(string spec)
    {
        var (rest, flows) = DatasetSpec.SplitFlows(spec, "train");
        int eq = rest.IndexOf('=');
        if (eq <= 0) throw new CmtmException("train", $"'{spec}' is not KIND=DIR[:SHARE][,flows=DIR] (kinds: davis, ytvos, duts, synth)");
        var kind = ParseKind(rest[..eq]);
        rest = rest[(eq + 1)..];
        double? share = null;
        int colon = rest.LastIndexOf(':');
        if (colon > 0 && double.TryParse(rest[(colon + 1)..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var sh))
        {
            if (sh <= 0) throw new CmtmException("train", $"share {sh} in '{spec}' must be positive");
            share = sh; rest = rest[..colon];
        }
        return new TrainingSpec(kind, rest, share, flows);
    }

    /// <summary>Opens a parsed <c>--train</c> spec.</summary>
    public static TrainingSource Open(TrainingSpec spec) => Open(spec.Kind, spec.Root, spec.Share, flows: spec.Flows);

    /// <summary>
    /// Reads a dataset's file lists with <see cref="DatasetReader"/> (image, flow and mask of every frame; DAVIS/synth:
    /// the 2016 <paramref name="split"/> list, sequences in sorted order, parts matched by file stem; YouTube-VOS and
    /// DUTSv2 paired by sorted order). <paramref name="flows"/>: a folder holding the dataset's flow images in the
    /// dataset's layout (<see cref="DatasetReader.FlowRoot"/>), null = the dataset's own.
    /// </summary>
    public static TrainingSource Open(DatasetKind kind, string root, double? share = null, string split = "train", string? flows = null)
    {
        if (!Directory.Exists(root)) throw new CmtmException(root, $"{kind} dataset folder not found");
        if (flows != null && !Directory.Exists(flows)) throw new CmtmException(flows, $"flow folder of the {kind} dataset {root} not found");
        static FrameFiles Files(FrameRecord f) => new(f.Image!, f.Flow!, f.Annotation!);
        var videos = kind switch
        {
            DatasetKind.Davis16 or DatasetKind.Synthetic => DatasetReader.Davis(root, split, DatasetParts.All, flows: flows).Sequences
                .Select(s => (IReadOnlyList<FrameFiles>)s.Frames.Select(Files).ToList()).ToList(),
            DatasetKind.YouTubeVos18 => DatasetReader.YouTubeVos18(root, DatasetParts.All, flows).Sequences
                .Select(s => (IReadOnlyList<FrameFiles>)s.Frames.Select(Files).ToList()).ToList(),
            // DUTSv2: each image is one "video"
            DatasetKind.Dutsv2 => DatasetReader.Dutsv2(root, DatasetParts.All, flows).Sequences.Single().Frames
                .Select(f => (IReadOnlyList<FrameFiles>)new[] { Files(f) }).ToList(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        if (videos.Count == 0) throw new CmtmException(root, $"{kind} dataset has no videos");
        return new TrainingSource(kind, root, videos, share ?? DefaultShare(kind));
    }
}

/// <summary>A parsed <c>--train</c> spec: dataset kind, root, epoch share (null = the kind's default) and flow folder (null = the dataset's own).</summary>
public sealed record TrainingSpec(DatasetKind Kind, string Root, double? Share, string? Flows);

/// <summary>
/// The ",flows=DIR" suffix of a dataset spec (<c>--train davis=ROOT,flows=DIR</c>, <c>--val ROOT,flows=DIR</c>): the
/// dataset's flow images are read from DIR in the dataset's own layout (<see cref="DatasetReader.FlowRoot"/>) instead of
/// from the dataset root, so a read-only dataset can be used with flows computed by
/// <c>cmtm flow --dataset KIND --root ROOT --flows DIR</c>.
/// </summary>
public static class DatasetSpec
{
    public const string FlowsKey = ",flows=";

    /// <summary>Splits "SPEC,flows=DIR" into (SPEC, DIR); (SPEC, null) without the suffix.</summary>
    public static (string Spec, string? Flows) SplitFlows(string spec, string setting)
    {
        int at = spec.LastIndexOf(FlowsKey, StringComparison.Ordinal);
        if (at < 0) return (spec, null);
        var flows = spec[(at + FlowsKey.Length)..];
        if (flows.Length == 0) throw new CmtmException(setting, $"'{spec}': flows= needs a folder");
        if (at == 0) throw new CmtmException(setting, $"'{spec}': the dataset folder is missing before ,flows=");
        return (spec[..at], flows);
    }
}
