namespace Cmtm.Data.Sampling;

/// <summary>The training dataset kinds of the official code (synth = our generator's output, DAVIS layout).</summary>
public enum SourceKind { Davis, Ytvos, Duts, Synth }

/// <summary>One training example on disk: frame, flow image and mask.</summary>
public sealed record FrameFiles(string Image, string Flow, string Mask);

/// <summary>
/// One training dataset: a list of videos (each a list of frames), or for DUTSv2 one "video" per image.
/// <see cref="Share"/> is its relative weight in an epoch (official stage 2: DUTSv2 3 : DAVIS 1).
/// </summary>
public sealed record TrainingSource(SourceKind Kind, string Root, IReadOnlyList<IReadOnlyList<FrameFiles>> Videos, double Share)
{
    /// <summary>DUTS masks are gray saliency maps (bicubic + threshold); the others palette object ids (nearest).</summary>
    public bool GrayMasks => Kind == SourceKind.Duts;
    public int FrameCount => Videos.Sum(v => v.Count);

    /// <summary>The default epoch share of a kind: DUTSv2 3, everything else 1 (DUTSv2 : DAVIS = 384 : 128).</summary>
    public static double DefaultShare(SourceKind kind) => kind == SourceKind.Duts ? 3 : 1;

    public static SourceKind ParseKind(string s) => s.Trim().ToLowerInvariant() switch
    {
        "davis" or "davis16" => SourceKind.Davis,
        "ytvos" or "youtube-vos" => SourceKind.Ytvos,
        "duts" or "dutsv2" => SourceKind.Duts,
        "synth" or "synthetic" => SourceKind.Synth,
        _ => throw new CmtmException("--train", $"unknown dataset kind '{s}' (expected davis, ytvos, duts or synth)"),
    };

    /// <summary>Parses "KIND=DIR" or "KIND=DIR:SHARE".</summary>
    public static (SourceKind Kind, string Dir, double? Share) ParseSpec(string spec)
    {
        int eq = spec.IndexOf('=');
        if (eq <= 0) throw new CmtmException("--train", $"'{spec}' is not KIND=DIR (kinds: davis, ytvos, duts, synth)");
        var kind = ParseKind(spec[..eq]);
        var rest = spec[(eq + 1)..];
        double? share = null;
        int colon = rest.LastIndexOf(':');
        if (colon > 0 && double.TryParse(rest[(colon + 1)..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var sh))
        {
            if (sh <= 0) throw new CmtmException("--train", $"share {sh} in '{spec}' must be positive");
            share = sh; rest = rest[..colon];
        }
        return (kind, rest, share);
    }

    /// <summary>Reads a dataset's file lists (DAVIS/synth: the 2016 <paramref name="split"/> list).</summary>
    public static TrainingSource Open(SourceKind kind, string root, double? share = null, string split = "train")
    {
        if (!Directory.Exists(root)) throw new CmtmException(root, $"{kind} dataset folder not found");
        var videos = kind switch
        {
            SourceKind.Davis or SourceKind.Synth => OpenDavis(root, split),
            SourceKind.Ytvos => OpenYtvos(root),
            SourceKind.Duts => OpenDuts(root),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        if (videos.Count == 0) throw new CmtmException(root, $"{kind} dataset has no videos");
        return new TrainingSource(kind, root, videos, share ?? DefaultShare(kind));
    }

    private static string[] ReadList(string path)
    {
        if (!File.Exists(path)) throw new CmtmException(path, "sequence list not found");
        return File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
    }

    private static string[] Files(string dir, params string[] exts)
    {
        if (!Directory.Exists(dir)) throw new CmtmException(dir, "folder not found");
        return Directory.EnumerateFiles(dir).Where(f => exts.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToArray();
    }

    private static readonly string[] ImageExts = { ".jpg", ".jpeg", ".png" };

    /// <summary>DAVIS: root/ImageSets/2016/{split}.txt; frames paired by file stem (a flow and a mask for every frame).</summary>
    private static List<IReadOnlyList<FrameFiles>> OpenDavis(string root, string split)
    {
        var list = new List<IReadOnlyList<FrameFiles>>();
        foreach (var seq in ReadList(Path.Combine(root, "ImageSets", "2016", split + ".txt")))
        {
            var frames = new List<FrameFiles>();
            foreach (var img in Files(Path.Combine(root, "JPEGImages", "480p", seq), ImageExts))
            {
                var stem = Path.GetFileNameWithoutExtension(img);
                var flow = Path.Combine(root, "JPEGFlows", "480p", seq, stem + ".jpg");
                var mask = Path.Combine(root, "Annotations", "480p", seq, stem + ".png");
                if (!File.Exists(flow)) throw new CmtmException(flow, "flow image missing for a frame");
                if (!File.Exists(mask)) throw new CmtmException(mask, "annotation missing for a frame");
                frames.Add(new FrameFiles(img, flow, mask));
            }
            if (frames.Count == 0) throw new CmtmException(Path.Combine(root, "JPEGImages", "480p", seq), "sequence has no frames");
            list.Add(frames);
        }
        return list;
    }

    /// <summary>YouTube-VOS: root/ImageSets/train.txt; train/{JPEGImages,JPEGFlows,Annotations}/vid paired by sorted order.</summary>
    private static List<IReadOnlyList<FrameFiles>> OpenYtvos(string root)
    {
        var list = new List<IReadOnlyList<FrameFiles>>();
        foreach (var vid in ReadList(Path.Combine(root, "ImageSets", "train.txt")))
        {
            var imgs = Files(Path.Combine(root, "train", "JPEGImages", vid), ImageExts);
            var flows = Files(Path.Combine(root, "train", "JPEGFlows", vid), ImageExts);
            var masks = Files(Path.Combine(root, "train", "Annotations", vid), ".png");
            if (imgs.Length != flows.Length || imgs.Length != masks.Length || imgs.Length == 0)
                throw new CmtmException(Path.Combine(root, "train", "JPEGImages", vid), $"{imgs.Length} frames, {flows.Length} flows, {masks.Length} masks (must be equal and non-zero)");
            list.Add(imgs.Select((f, i) => new FrameFiles(f, flows[i], masks[i])).ToList());
        }
        return list;
    }

    /// <summary>DUTSv2: root/{JPEGImages,JPEGFlows,Annotations} flat, paired by sorted order; each image is one "video".</summary>
    private static List<IReadOnlyList<FrameFiles>> OpenDuts(string root)
    {
        var imgs = Files(Path.Combine(root, "JPEGImages"), ImageExts);
        var flows = Files(Path.Combine(root, "JPEGFlows"), ImageExts);
        var masks = Files(Path.Combine(root, "Annotations"), ".png");
        if (imgs.Length != flows.Length || imgs.Length != masks.Length)
            throw new CmtmException(root, $"DUTSv2 has {imgs.Length} images, {flows.Length} flows, {masks.Length} masks (must be equal)");
        return imgs.Select((f, i) => (IReadOnlyList<FrameFiles>)new[] { new FrameFiles(f, flows[i], masks[i]) }).ToList();
    }
}
