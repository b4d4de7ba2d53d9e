using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.Flow;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;
using Cmtm.Training;

namespace Cmtm.Inference;

/// <summary>Settings of `cmtm demo` (the real-video demo).</summary>
public sealed record VideoDemoOptions
{
    /// <summary>Run folder (must not exist or be empty).</summary>
    public string Out { get; init; } = "runs/demo";
    /// <summary>Checkpoint to use; null = the shipped model (<see cref="ShippedModel"/>).</summary>
    public string? Weights { get; init; }
    /// <summary>DAVIS-layout folder whose first val sequence with frames is the clip; null = the repository's <see cref="VideoDemo.ClipFolder"/>.</summary>
    public string? Clip { get; init; }
    /// <summary>DAVIS-2016 val root (the sequences with frames are scored); null = shared data/davis16-val when present.</summary>
    public string? Davis { get; init; }
    /// <summary>Do not score the DAVIS-2016 val sequences even when they are present.</summary>
    public bool SkipVal { get; init; }
    public int Threads { get; init; } = 2;
    /// <summary>Overlay frames in the report's picture strip.</summary>
    public int StripFrames { get; init; } = 4;
    /// <summary>Frame rate of overlay.mp4 (DAVIS was filmed at 24; 12 plays the 50-frame clip at half speed).</summary>
    public double Fps { get; init; } = 12;
    /// <summary>Progress lines on stderr.</summary>
    public bool Progress { get; init; } = true;
}

public sealed record VideoDemoResult(string RunDir, string Report, string Model, string ClipDir, string OverlayVideo, string Strip,
    BaselineTable Clip, BaselineTable? Val, string? ValNote, TimeSpan Total);

/// <summary>
/// `cmtm demo`: the shipped model (or any checkpoint) on real video. Segments the committed DAVIS clip (masks, overlay
/// frames and overlay.mp4), scores it beside the untrained model and the motion threshold, and, when the DAVIS-2016 val
/// data is present (../shared or CMTM_SHARED), scores the val sequences that have frames beside the same baselines and
/// the published RVOS / OSVOS masks (<see cref="BaselineReport"/>); writes a picture strip and report.md. Flows are
/// computed with Farneback into the run folder (never into a dataset).
/// </summary>
public static class VideoDemo
{
    /// <summary>The committed demo clip, relative to the repository root (or to the executable's folder).</summary>
    public const string ClipFolder = "demo/davis-blackswan";

    public static VideoDemoResult Run(VideoDemoOptions o, Action<string> say, CancellationToken cancel = default)
    {
        var total = Stopwatch.StartNew();
        var run = Path.GetFullPath(o.Out);
        if (Directory.Exists(run) && Directory.EnumerateFileSystemEntries(run).Any())
            throw new CmtmException(run, "demo folder exists and is not empty (choose another --out)");
        var choice = ShippedModel.Choose(o.Weights);
        var clipRoot = o.Clip ?? ShippedModel.FindBesideAppOrInRepository(ClipFolder, file: false)
            ?? throw new CmtmException(ClipFolder, "demo clip not found beside the executable or in the repository");
        var clip = BaselineReport.LoadWithFrames(DatasetKind.Davis16, clipRoot, "val", out _);
        clip = clip with { Sequences = [clip.Sequences[0]] }; // the clip is the split's first sequence with frames
        TorchRuntime.SetThreads(o.Threads);
        Directory.CreateDirectory(run);

        var model = ModelCheckpoint.Load(choice.Path, note: n => say("note: " + n));
        using var predictor = new FramePredictor(model, ownsModel: true);
        var modelText = choice.UsingLine(model.Config) ?? $"using {choice.Path} ({model.Config.Name} at {model.Config.Resolution} px)";
        say(modelText);
        using var farneback = new FarnebackFlow();

        // the clip: flows, then masks + overlays of every frame, then scores beside the baselines
        var seq = clip.Sequences[0];
        var clipFlows = Path.Combine(run, "flows", "clip");
        say($"clip {seq.Name}: {seq.Frames.Count} frames from {clipRoot}; Farneback flows -> {clipFlows}");
        BaselineReport.PrepareFlows(clip, clipFlows, farneback, progress: o.Progress);
        var clipDir = Path.Combine(run, seq.Name);
        var frames = new FolderFrameSource(Path.GetDirectoryName(seq.Frames[0].Image!)!);
        var seg = new Segmenter(predictor, FlowSource.Folder(Path.Combine(clipFlows, seq.Name)))
            .Run(frames, new SegmentOptions { OutputDir = clipDir, Overlay = true, Fps = o.Fps }, o.Progress ? new ProgressLine($"segment {seq.Name}") : null, cancel);
        say($"segmented {seq.Name}: {seg.Frames} frames, model-only {seg.ModelFps:0.00} frames/s -> {clipDir}");
        var clipTable = BaselineReport.Run(clip, [
            BaselineMethod.ResultsFolder("model", run, $"{Path.GetFileName(choice.Path)}: {model.Config.Name} at {model.Config.Resolution} px (the masks in {seq.Name}/)"),
            BaselineMethod.Untrained(model.Config),
            BaselineMethod.MotionThreshold(),
        ], new BaselineOptions
        {
            OutDir = Path.Combine(run, "scores-clip"), FlowRoot = clipFlows, FlowDescription = "Farneback (OpenCV), computed into flows/clip/",
            Threads = o.Threads, Progress = o.Progress, Say = say, Cancellation = cancel,
        });
        BaselineReport.Write(clipTable, Path.Combine(run, "scores-clip"));
        var strip = Path.Combine(run, "strip.png");
        WriteStrip(Directory.GetFiles(Path.Combine(clipDir, "overlay"), "*.jpg").Order(StringComparer.Ordinal).ToList(), o.StripFrames, strip);

        // the DAVIS-2016 val sequences with frames, when present
        BaselineTable? val = null;
        string? valNote = null;
        var davis = o.SkipVal ? null : o.Davis ?? Demo.FindShared("data/davis16-val");
        if (o.SkipVal) valNote = "DAVIS-2016 val not scored (--no-val).";
        else if (davis == null) valNote = "DAVIS-2016 val not scored: no davis16-val folder found (../shared/data/davis16-val beside the repository, or CMTM_SHARED).";
        else
        {
            try { val = ScoreVal(davis, model, predictor, farneback, run, o, say, cancel); }
            catch (CmtmException e) { valNote = "DAVIS-2016 val not scored: " + e.Message; say(valNote); }
        }

        var report = WriteReport(run, modelText, clipRoot, seq, seg, clipTable, val, valNote, total.Elapsed, o.Fps);
        return new VideoDemoResult(run, report, choice.Path, clipDir, Path.Combine(clipDir, "overlay.mp4"), strip, clipTable, val, valNote, total.Elapsed);
    }

    private static BaselineTable ScoreVal(string davis, VosModel model, FramePredictor predictor, IFlowEstimator estimator, string run,
        VideoDemoOptions o, Action<string> say, CancellationToken cancel)
    {
        var ds = BaselineReport.LoadWithFrames(DatasetKind.Davis16, davis, "val", out var withoutFrames);
        var flows = Path.Combine(run, "flows", "val");
        say($"DAVIS-2016 val: {ds.Sequences.Count} sequences with frames ({ds.FrameCount} frames) from {davis}; Farneback flows -> {flows}");
        BaselineReport.PrepareFlows(ds, flows, estimator, progress: o.Progress);
        var methods = new List<BaselineMethod>
        {
            BaselineMethod.Model("model", $"{model.Config.Name} at {model.Config.Resolution} px (results in val/results/model/)", predictor),
            BaselineMethod.Untrained(model.Config),
            BaselineMethod.MotionThreshold(),
        };
        var data = Path.GetDirectoryName(Path.GetFullPath(davis).TrimEnd(Path.DirectorySeparatorChar))!;
        foreach (var (name, folder, what) in Published)
            if (Directory.Exists(Path.Combine(data, folder))) methods.Add(BaselineMethod.ResultsFolder(name, Path.Combine(data, folder), what));
        var notes = new List<string>();
        if (withoutFrames.Count > 0) notes.Add($"{withoutFrames.Count} val sequences have annotations but no frames here and are left out: {string.Join(", ", withoutFrames)}.");
        var table = BaselineReport.Run(ds, methods, new BaselineOptions
        {
            OutDir = Path.Combine(run, "val"), FlowRoot = flows, FlowDescription = "Farneback (OpenCV) on the frames as given, computed into flows/val/",
            Threads = o.Threads, Progress = o.Progress, Say = say, Notes = notes, Cancellation = cancel,
        });
        BaselineReport.Write(table, Path.Combine(run, "val"));
        return table;
    }

    /// <summary>The published result masks in the shared data folder beside davis16-val (see its README).</summary>
    private static readonly (string Name, string Folder, string What)[] Published =
    [
        ("RVOS", "rvos-davis16", "published RVOS masks (unsupervised, Ventura et al. CVPR 2019; DAVIS-2017 run), union of its proposals (index > 0)"),
        ("OSVOS", "osvos-davis16", "published OSVOS masks (semi-supervised: given the first frame's mask; Caelles et al. CVPR 2017; DAVIS-2017 run), index > 0"),
    ];

    /// <summary>
    /// A row of <paramref name="count"/> images taken evenly over <paramref name="images"/> (all of one size), 4 white
    /// pixels apart, written as PNG.
    /// </summary>
    public static void WriteStrip(IReadOnlyList<string> images, int count, string path)
    {
        if (images.Count == 0) throw new CmtmException(path, "no images for the picture strip");
        count = Math.Clamp(count, 1, images.Count);
        const int gap = 4;
        var picked = Enumerable.Range(0, count).Select(k => RgbImage.Load(images[(int)((k + 0.5) * images.Count / count)])).ToList();
        int w = picked[0].Width, h = picked[0].Height, width = count * w + (count - 1) * gap;
        var pixels = new byte[width * h * 3];
        Array.Fill(pixels, (byte)255);
        for (var k = 0; k < count; k++)
        {
            if (picked[k].Width != w || picked[k].Height != h) throw new CmtmException(images[k], $"strip images differ in size ({picked[k].Width}x{picked[k].Height}, {w}x{h})");
            for (var y = 0; y < h; y++)
                Array.Copy(picked[k].Pixels, y * w * 3, pixels, (y * width + k * (w + gap)) * 3, w * 3);
        }
        new RgbImage(width, h, pixels).Save(path);
    }

    private static string WriteReport(string run, string modelText, string clipRoot, SequenceRecord seq, SegmentSummary seg, BaselineTable clip,
        BaselineTable? val, string? valNote, TimeSpan total, double fps)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# CMTM.NET demo: real video").AppendLine();
        sb.AppendLine($"- model: {modelText}");
        sb.AppendLine($"- clip: `{clipRoot}` — DAVIS 2016 val `{seq.Name}`, {seq.Frames.Count} frames (source and licence in its README.md)");
        sb.AppendLine("- flow: Farneback (OpenCV), computed into `flows/`");
        sb.AppendLine(FormattableString.Invariant($"- segmenting the clip: {seg.Frames} frames, model-only {seg.ModelFps:0.00} frames/s, end-to-end {seg.EndToEndFps:0.00} frames/s; whole demo {total.TotalMinutes:0.0} min"));
        sb.AppendLine().AppendLine($"![overlay frames of {seq.Name}: the model's mask tinted red, its outline yellow](strip.png)").AppendLine();
        sb.AppendLine($"Masks: `{seq.Name}/*.png`; overlay video: `{seq.Name}/overlay.mp4` ({fps.ToString(inv)} frames/s); overlay frames: `{seq.Name}/overlay/`.").AppendLine();
        sb.AppendLine($"## The clip ({seq.Name}, 427x240 masks)").AppendLine();
        sb.Append(BaselineReport.Markdown(clip)).AppendLine();
        sb.AppendLine("## DAVIS-2016 val").AppendLine();
        if (val != null) sb.Append(BaselineReport.Markdown(val)).AppendLine();
        if (valNote != null) sb.AppendLine(valNote).AppendLine();
        sb.AppendLine("Tables as markdown and JSON (with every J/F statistic): `scores-clip/baselines.*`" + (val != null ? ", `val/baselines.*`" : "") + ".");
        var path = Path.Combine(run, "report.md");
        AtomicFile.WriteAllText(path, sb.ToString());
        return path;
    }
}
