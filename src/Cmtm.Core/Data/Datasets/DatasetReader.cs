using Cmtm.IO;

namespace Cmtm.Data.Datasets;

/// <summary>
/// Readers for the dataset layouts of the official CMTM / FakeFlow code. Each validates the
/// layout for the requested <see cref="DatasetParts"/> and throws a <see cref="CmtmException"/> naming the first
/// missing folder or file. They only list files; nothing is decoded.
/// </summary>
public static class DatasetReader
{
    public static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png"];
    public static readonly string[] AnnotationExtensions = [".png"];

    /// <summary>Whether a kind is read with the DAVIS layout (<see cref="Davis"/>): DAVIS-2016 and synthetic videos.</summary>
    public static bool IsDavisLayout(DatasetKind kind) => kind is DatasetKind.Davis16 or DatasetKind.Synthetic;

    /// <summary>A dataset kind by name or alias (davis16/davis, synth, fbms, yto, lvd, ytvos18/ytvos, dutsv2/duts); null if unknown.</summary>
    public static DatasetKind? TryParseKind(string name) => name.Trim().ToLowerInvariant() switch
    {
        "davis16" or "davis" or "davis2016" => DatasetKind.Davis16,
        "synth" or "synthetic" => DatasetKind.Synthetic,
        "fbms" => DatasetKind.Fbms,
        "yto" or "ytobj" or "youtube-objects" => DatasetKind.YouTubeObjects,
        "lvd" or "lvid" or "long-videos" => DatasetKind.LongVideos,
        "ytvos" or "ytvos18" or "youtube-vos" => DatasetKind.YouTubeVos18,
        "dutsv2" or "duts" => DatasetKind.Dutsv2,
        _ => null,
    };

    public static DatasetKind ParseKind(string name) =>
        TryParseKind(name) ?? throw new CmtmException(name, "unknown dataset (expected davis16, fbms, yto, lvd, ytvos18, dutsv2 or synth)");

    /// <summary>
    /// Loads any supported dataset; <paramref name="split"/> is used by DAVIS only. <paramref name="flows"/>: a folder
    /// holding the dataset's flow images in the dataset's own layout (<see cref="FlowRoot"/>), null = inside
    /// <paramref name="root"/>. <paramref name="skipSequencesWithoutImages"/> (DAVIS): listed sequences without an image
    /// folder are left out (<see cref="DatasetRecord.SkippedSequences"/>) instead of being an error.
    /// </summary>
    public static DatasetRecord Load(DatasetKind kind, string root, DatasetParts required, string split = "val", string? flows = null,
        bool skipSequencesWithoutImages = false) => kind switch
    {
        DatasetKind.Davis16 or DatasetKind.Synthetic => Davis(root, split, required, flows: flows, skipSequencesWithoutImages: skipSequencesWithoutImages),
        DatasetKind.Fbms => Fbms(root, required, flows),
        DatasetKind.YouTubeObjects => YouTubeObjects(root, required, flows),
        DatasetKind.LongVideos => LongVideos(root, required, flows),
        DatasetKind.YouTubeVos18 => YouTubeVos18(root, required, flows),
        DatasetKind.Dutsv2 => Dutsv2(root, required, flows),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>
    /// DAVIS (the DAVIS-2017 480p package used with the 2016 split): root/ImageSets/2016/{split}.txt (one sequence
    /// name per line), root/{JPEGImages,JPEGFlows}/480p/&lt;seq&gt;/%05d.jpg, root/Annotations/480p/&lt;seq&gt;/%05d.png.
    /// Frames are listed from JPEGImages when images are required (as the official test loader), otherwise from
    /// Annotations; the other parts are matched by file stem. Annotations: palette object ids (255 = void) or
    /// grayscale 0/255, nonzero -> foreground (<see cref="MaskRule.ObjectIds"/>). Flows come from
    /// <see cref="FlowRoot"/>; with <paramref name="skipSequencesWithoutImages"/> (and images required) a listed sequence
    /// without a JPEGImages folder is left out and named in <see cref="DatasetRecord.SkippedSequences"/>.
    /// </summary>
    public static DatasetRecord Davis(string root, string split = "val", DatasetParts required = DatasetParts.Annotations, string year = "2016",
        string? flows = null, bool skipSequencesWithoutImages = false)
    {
        RequireRoot(root, "DAVIS");
        var list = Path.Combine(root, "ImageSets", year, split + ".txt");
        if (!File.Exists(list))
            throw new CmtmException(list, $"missing sequence list (DAVIS layout: root/ImageSets/{year}/{split}.txt, one sequence name per line)");
        var names = new List<string>();
        foreach (var raw in File.ReadAllLines(list))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (line.Contains('/') || line.Contains(' ') || line.Contains('\\'))
                throw new CmtmException(list, $"line '{line}' is not a sequence name (expected the DAVIS-2017 ImageSets/{year} convention: one name per line, not path pairs)");
            names.Add(line);
        }
        if (names.Count == 0) throw new CmtmException(list, "lists no sequences");
        names.Sort(StringComparer.Ordinal);

        var parts = Parts(DatasetKind.Davis16, root, flows);
        parts.RequireTopLevel(required, "DAVIS");
        var sequences = new List<SequenceRecord>();
        var skipped = new List<string>();
        bool skip = skipSequencesWithoutImages && required.HasFlag(DatasetParts.Images);
        foreach (var seq in names)
        {
            if (skip && !Directory.Exists(SeqDir(parts.Images, seq))) { skipped.Add(seq); continue; }
            sequences.Add(MatchByStem(seq, parts, required, listFrom: required.HasFlag(DatasetParts.Images) ? DatasetParts.Images : DatasetParts.Annotations));
        }
        if (sequences.Count == 0) throw new CmtmException(parts.Images, $"none of the {names.Count} sequences of {list} has a frames folder here");
        return new DatasetRecord("davis16", root, MaskRule.ObjectIds, sequences) { SkippedSequences = skipped, Flows = flows };
    }

    /// <summary>
    /// FBMS test set: root (= FBMS/TestSet) /{JPEGImages,JPEGFlows,Annotations}/&lt;seq&gt;/; images, flows and
    /// masks are paired by sorted order (the official loader), so present parts must have equal counts.
    /// Masks: grayscale &gt; 0.5 (<see cref="MaskRule.Luminance"/>).
    /// </summary>
    public static DatasetRecord Fbms(string root, DatasetParts required = DatasetParts.Annotations, string? flows = null) =>
        FlatVideoSet(DatasetKind.Fbms, root, required, MaskRule.Luminance, flows);

    /// <summary>Long-Videos: root/{JPEGImages,JPEGFlows,Annotations}/&lt;seq&gt;/, paired by sorted order; palette masks, nonzero -> 1.</summary>
    public static DatasetRecord LongVideos(string root, DatasetParts required = DatasetParts.Annotations, string? flows = null) =>
        FlatVideoSet(DatasetKind.LongVideos, root, required, MaskRule.ObjectIds, flows);

    /// <summary>
    /// YouTube-Objects: root/{JPEGImages,JPEGFlows,Annotations}/&lt;class&gt;/&lt;video&gt;/, paired by sorted order;
    /// sequence names are "class/video" with <see cref="SequenceRecord.Category"/> = class; masks grayscale &gt; 0.5.
    /// </summary>
    public static DatasetRecord YouTubeObjects(string root, DatasetParts required = DatasetParts.Annotations, string? flows = null)
    {
        RequireRoot(root, "YouTube-Objects");
        var parts = Parts(DatasetKind.YouTubeObjects, root, flows);
        parts.RequireTopLevel(required, "YouTube-Objects (root/{JPEGImages,JPEGFlows,Annotations}/<class>/<video>/)");
        var listDir = parts.ListingDir(required);
        var sequences = new List<SequenceRecord>();
        foreach (var cls in SubDirs(listDir))
            foreach (var video in SubDirs(Path.Combine(listDir, cls)))
                sequences.Add(PairBySortedOrder(cls + "/" + video, parts, required) with { Category = cls });
        if (sequences.Count == 0) throw new CmtmException(listDir, "contains no <class>/<video> folders");
        return new DatasetRecord("yto", root, MaskRule.Luminance, sequences) { Flows = flows };
    }

    /// <summary>
    /// YouTube-VOS 2018 train: root/train/{JPEGImages,JPEGFlows,Annotations}/&lt;vid&gt;/ paired by sorted order; the
    /// video list is root/ImageSets/train.txt when present, otherwise the folders of train/JPEGImages (or
    /// Annotations). Palette masks, nonzero (and not 255) -> 1.
    /// </summary>
    public static DatasetRecord YouTubeVos18(string root, DatasetParts required = DatasetParts.All, string? flows = null)
    {
        RequireRoot(root, "YouTube-VOS 2018");
        var parts = Parts(DatasetKind.YouTubeVos18, root, flows);
        parts.RequireTopLevel(required, "YouTube-VOS 2018 (root/train/{JPEGImages,JPEGFlows,Annotations}/<video>/)");
        var list = Path.Combine(root, "ImageSets", "train.txt");
        List<string> names;
        if (File.Exists(list))
        {
            names = File.ReadAllLines(list).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
            if (names.Count == 0) throw new CmtmException(list, "lists no videos");
        }
        else names = SubDirs(parts.ListingDir(required)).ToList();
        var sequences = names.Select(n => PairBySortedOrder(n, parts, required)).ToList();
        if (sequences.Count == 0) throw new CmtmException(parts.ListingDir(required), "contains no video folders");
        return new DatasetRecord("ytvos18", root, MaskRule.ObjectIds, sequences) { Flows = flows };
    }

    /// <summary>
    /// DUTSv2: root/{JPEGImages,JPEGFlows,Annotations}/ flat folders paired by sorted order, returned as a single
    /// sequence named "DUTSv2". Masks grayscale &gt; 0.5.
    /// </summary>
    public static DatasetRecord Dutsv2(string root, DatasetParts required = DatasetParts.All, string? flows = null)
    {
        RequireRoot(root, "DUTSv2");
        var parts = Parts(DatasetKind.Dutsv2, root, flows);
        parts.RequireTopLevel(required, "DUTSv2 (root/{JPEGImages,JPEGFlows,Annotations}/ flat)");
        var seq = PairBySortedOrder("", parts, required) with { Name = "DUTSv2" };
        return new DatasetRecord("dutsv2", root, MaskRule.Luminance, [seq]) { Flows = flows };
    }

    /// <summary>
    /// The top-level folder of one part of a dataset (e.g. DAVIS flows: root/JPEGFlows/480p; YouTube-VOS:
    /// root/train/JPEGFlows), whether or not it exists.
    /// </summary>
    public static string PartRoot(DatasetKind kind, string root, DatasetParts part)
    {
        var name = part switch
        {
            DatasetParts.Images => "JPEGImages",
            DatasetParts.Flows => "JPEGFlows",
            DatasetParts.Annotations => "Annotations",
            _ => throw new ArgumentException("exactly one part expected", nameof(part)),
        };
        return kind switch
        {
            DatasetKind.Davis16 or DatasetKind.Synthetic => Path.Combine(root, name, "480p"),
            DatasetKind.YouTubeVos18 => Path.Combine(root, "train", name),
            _ => Path.Combine(root, name),
        };
    }

    /// <summary>
    /// The folder that holds a dataset's flow images: the kind's flow folder (<see cref="PartRoot"/>: DAVIS
    /// JPEGFlows/480p, YouTube-VOS train/JPEGFlows, the others JPEGFlows) under <paramref name="flows"/> when the flows
    /// are kept apart from the dataset (<c>--flows DIR</c>, e.g. beside a read-only dataset), else under
    /// <paramref name="root"/>. The one place that decides where a dataset frame's flow image is: the readers here (and so
    /// training sources, validation and model-driven evaluation) and <c>cmtm flow --dataset</c> all go through it.
    /// </summary>
    public static string FlowRoot(DatasetKind kind, string root, string? flows) => PartRoot(kind, flows ?? root, DatasetParts.Flows);

    /// <summary>How to compute a dataset's missing flow images (the `cmtm flow --dataset` command), or null for DUTSv2.</summary>
    public static string? FlowCommandHint(DatasetKind kind, string root, string? flows)
    {
        if (kind == DatasetKind.Dutsv2) return null; // simulated from depth (FakeFlow), not estimated
        var name = kind switch
        {
            DatasetKind.Davis16 => "davis16", DatasetKind.Synthetic => "synth", DatasetKind.Fbms => "fbms", DatasetKind.YouTubeObjects => "yto",
            DatasetKind.LongVideos => "lvd", _ => "ytvos",
        };
        var command = $"cmtm flow --dataset {name} --root {Quote(root)}";
        return flows != null
            ? $"compute them with `{command} --flows {Quote(flows)}`"
            : $"compute them with `{command} --flows DIR` and pass that folder as the dataset's flows (or without --flows to write them into the dataset)";
    }

    private static string Quote(string path) => path.Contains(' ') ? $"'{path}'" : path;

    // ------------------------------------------------------------------ helpers

    private static PartDirs Parts(DatasetKind kind, string root, string? flows) =>
        new(PartRoot(kind, root, DatasetParts.Images), FlowRoot(kind, root, flows), PartRoot(kind, root, DatasetParts.Annotations),
            FlowCommandHint(kind, root, flows));

    private static DatasetRecord FlatVideoSet(DatasetKind kind, string root, DatasetParts required, MaskRule rule, string? flows)
    {
        var label = kind == DatasetKind.Fbms ? "FBMS" : "Long-Videos";
        RequireRoot(root, label);
        var parts = Parts(kind, root, flows);
        parts.RequireTopLevel(required, $"{label} (root/{{JPEGImages,JPEGFlows,Annotations}}/<sequence>/)");
        var listDir = parts.ListingDir(required);
        var sequences = SubDirs(listDir).Select(s => PairBySortedOrder(s, parts, required)).ToList();
        if (sequences.Count == 0) throw new CmtmException(listDir, "contains no sequence folders");
        return new DatasetRecord(kind == DatasetKind.Fbms ? "fbms" : "lvd", root, rule, sequences) { Flows = flows };
    }

    private static void RequireRoot(string root, string what)
    {
        if (!Directory.Exists(root)) throw new CmtmException(root, $"{what} root folder not found");
    }

    private static IEnumerable<string> SubDirs(string dir) =>
        Directory.GetDirectories(dir).Select(Path.GetFileName).Where(n => n != null && !n.StartsWith('.')).Select(n => n!).OrderBy(n => n, StringComparer.Ordinal);

    private static string[] ListFiles(string dir, string[] extensions) =>
        Directory.Exists(dir)
            ? Directory.GetFiles(dir)
                .Where(f => !Path.GetFileName(f).StartsWith('.') && extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToArray()
            : [];

    private static string SeqDir(string partDir, string seq) =>
        seq.Length == 0 ? partDir : Path.Combine([partDir, .. seq.Split('/')]);

    /// <param name="FlowHint">appended to every problem with the flows (<see cref="FlowCommandHint"/>).</param>
    private sealed record PartDirs(string Images, string Flows, string Annotations, string? FlowHint)
    {
        /// <summary>A problem with one part, with the flow hint when the part is the flows.</summary>
        public string Problem(DatasetParts part, string text) => part == DatasetParts.Flows && FlowHint != null ? $"{text}; {FlowHint}" : text;

        public IEnumerable<(DatasetParts Part, string Dir, string[] Ext)> All()
        {
            yield return (DatasetParts.Images, Images, ImageExtensions);
            yield return (DatasetParts.Flows, Flows, ImageExtensions);
            yield return (DatasetParts.Annotations, Annotations, AnnotationExtensions);
        }

        public void RequireTopLevel(DatasetParts required, string layout)
        {
            if (required == DatasetParts.None)
                throw new ArgumentException("at least one dataset part must be required");
            foreach (var (part, dir, _) in All())
                if (required.HasFlag(part) && !Directory.Exists(dir))
                    throw new CmtmException(dir, Problem(part, $"missing {PartName(part)} folder (layout: {layout})"));
        }

        /// <summary>The folder whose sub-folders define the sequences: images if required, else annotations, else flows.</summary>
        public string ListingDir(DatasetParts required) =>
            required.HasFlag(DatasetParts.Images) ? Images : required.HasFlag(DatasetParts.Annotations) ? Annotations : Flows;
    }

    private static string PartName(DatasetParts p) => p switch
    {
        DatasetParts.Images => "image",
        DatasetParts.Flows => "flow",
        _ => "annotation",
    };

    /// <summary>Frames listed from one part; other parts matched by file stem (DAVIS naming).</summary>
    private static SequenceRecord MatchByStem(string seq, PartDirs parts, DatasetParts required, DatasetParts listFrom)
    {
        var files = new Dictionary<DatasetParts, Dictionary<string, string>>();
        foreach (var (part, dir, ext) in parts.All())
        {
            var sd = SeqDir(dir, seq);
            if (required.HasFlag(part) && !Directory.Exists(sd))
                throw new CmtmException(sd, parts.Problem(part, $"missing {PartName(part)} folder of sequence '{seq}'"));
            var byStem = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var f in ListFiles(sd, ext)) byStem.TryAdd(Path.GetFileNameWithoutExtension(f), f);
            files[part] = byStem;
        }
        var stems = files[listFrom].Keys.OrderBy(s => s, StringComparer.Ordinal).ToList();
        var listDir = SeqDir(listFrom == DatasetParts.Images ? parts.Images : parts.Annotations, seq);
        if (stems.Count == 0) throw new CmtmException(listDir, $"sequence '{seq}' has no {PartName(listFrom)} files");
        var frames = new List<FrameRecord>(stems.Count);
        foreach (var stem in stems)
        {
            string? Get(DatasetParts p)
            {
                if (files[p].TryGetValue(stem, out var f)) return f;
                if (required.HasFlag(p))
                {
                    var (dir, ext) = p switch
                    {
                        DatasetParts.Images => (parts.Images, ".jpg"),
                        DatasetParts.Flows => (parts.Flows, ".jpg"),
                        _ => (parts.Annotations, ".png"),
                    };
                    throw new CmtmException(Path.Combine(SeqDir(dir, seq), stem + ext), parts.Problem(p, $"missing {PartName(p)} of frame {stem} of sequence '{seq}'"));
                }
                return null;
            }
            frames.Add(new FrameRecord(stem, Get(DatasetParts.Images), Get(DatasetParts.Flows), Get(DatasetParts.Annotations)));
        }
        return new SequenceRecord(seq, frames);
    }

    /// <summary>Frames paired by sorted order across parts (FBMS, YouTube-Objects, Long-Videos, YouTube-VOS, DUTSv2).</summary>
    private static SequenceRecord PairBySortedOrder(string seq, PartDirs parts, DatasetParts required)
    {
        var lists = new Dictionary<DatasetParts, string[]>();
        foreach (var (part, dir, ext) in parts.All())
        {
            var sd = SeqDir(dir, seq);
            if (required.HasFlag(part) && !Directory.Exists(sd))
                throw new CmtmException(sd, parts.Problem(part, $"missing {PartName(part)} folder{(seq.Length > 0 ? $" of sequence '{seq}'" : "")}"));
            var files = ListFiles(sd, ext);
            if (required.HasFlag(part) && files.Length == 0)
                throw new CmtmException(sd, parts.Problem(part, $"contains no {PartName(part)} files ({string.Join("/", ext)})"));
            lists[part] = files;
        }
        // The reference count is that of the first required part; required parts must match it exactly;
        // optional parts are attached only when their counts match too (pairing is by index).
        var reference = new[] { DatasetParts.Images, DatasetParts.Annotations, DatasetParts.Flows }.First(p => required.HasFlag(p));
        var n = lists[reference].Length;
        foreach (var (part, dir, _) in parts.All())
        {
            if (part == reference || !required.HasFlag(part)) continue;
            if (lists[part].Length != n)
                throw new CmtmException(SeqDir(dir, seq), parts.Problem(part,
                    $"has {lists[part].Length} {PartName(part)} files but {SeqDir(parts.All().First(a => a.Part == reference).Dir, seq)} has {n} (frames are paired by sorted order, so the counts must be equal)"));
        }
        string[]? Use(DatasetParts p) => lists[p].Length == n ? lists[p] : null;
        var img = Use(DatasetParts.Images);
        var flo = Use(DatasetParts.Flows);
        var ann = Use(DatasetParts.Annotations);
        var frames = new List<FrameRecord>(n);
        for (var i = 0; i < n; i++)
        {
            var name = Path.GetFileNameWithoutExtension(lists[reference][i]);
            frames.Add(new FrameRecord(name, img?[i], flo?[i], ann?[i]));
        }
        return new SequenceRecord(seq, frames);
    }
}
