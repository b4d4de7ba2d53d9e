using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cmtm.Data.Datasets;
using Cmtm.Data.Synthetic;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Training;

/// <summary>Settings of `cmtm demo` (the defaults take several minutes on a 2-core CPU).</summary>
public sealed record DemoOptions
{
    public string Out { get; init; } = "runs/demo";
    public int TrainVideos { get; init; } = 400;
    public int ValVideos { get; init; } = 12;
    public int Frames { get; init; } = 10;
    public int Width { get; init; } = 96;
    public int Height { get; init; } = 64;
    public string Arch { get; init; } = "cmtm-b0";
    public int Resolution { get; init; } = 64;
    public int BatchSize { get; init; } = 4;
    public double Lr { get; init; } = 1e-3;
    /// <summary>Optimisation steps (the budget; a fixed step count makes the run deterministic for a seed).</summary>
    public int Steps { get; init; } = 800;
    public int WarmupSteps { get; init; } = 40;
    /// <summary>Optional wall-clock cap in minutes (0 = none); stopping early ends the cosine schedule early.</summary>
    public double MaxMinutes { get; init; }
    public ulong Seed { get; init; } = 1;
    public int Threads { get; init; } = 2;
    /// <summary>DAVIS-2016 val folder with frames (only sequences with JPEGs are used); null = look for ../shared/data/davis16-val.</summary>
    public string? Davis { get; init; }
    public int DavisSequences { get; init; } = 2;
    public int DavisFrames { get; init; } = 12;
}

public sealed record DemoRow(string Method, string Data, double J, double F, double JF, int Sequences);

public sealed record DemoResult(string RunDir, IReadOnlyList<DemoRow> Table, TimeSpan Total, TimeSpan Training, long Steps, string Report, string? DavisNote);

/// <summary>
/// The README's first command: synthetic data, a short CMTM training run from random initialisation, evaluation on
/// held-out synthetic videos (and on real DAVIS frames when available) against the untrained model and a
/// motion-magnitude threshold, one segmented clip with masks and an overlay video, curves and a markdown report.
/// </summary>
public static class Demo
{
    /// <summary>Batches per (short) epoch: one metrics row and one `last` checkpoint per epoch.</summary>
    private const int BatchesPerEpoch = 8;

    public static DemoResult Run(DemoOptions o, Action<string> say, CancellationToken cancel = default)
    {
        var total = Stopwatch.StartNew();
        var run = Path.GetFullPath(o.Out);
        if (Directory.Exists(run) && Directory.EnumerateFileSystemEntries(run).Any())
            throw new CmtmException(run, "demo folder exists and is not empty (choose another --out)");
        Directory.CreateDirectory(run);
        var data = Path.Combine(run, "data");
        say($"generating {o.TrainVideos + o.ValVideos} synthetic videos ({o.Frames} frames, {o.Width}x{o.Height}) in {data}");
        SyntheticDataset.Generate(data, o.TrainVideos + o.ValVideos, o.Frames, o.Width, o.Height, o.Seed, o.ValVideos, maxParallel: o.Threads);

        var train = new TrainOptions
        {
            Arch = o.Arch, Resolution = o.Resolution, Train = new() { "synth=" + data }, Epochs = (o.Steps + BatchesPerEpoch - 1) / BatchesPerEpoch,
            SamplesPerEpoch = o.BatchSize * BatchesPerEpoch,
            BatchSize = o.BatchSize, Lr = o.Lr, LrSchedule = LrScheduleKind.Cosine, WarmupSteps = o.WarmupSteps,
            Seed = o.Seed, Threads = o.Threads, Out = Path.Combine(run, "train"), ValEvery = 100000, SaveEvery = 100000, CacheData = true,
        };
        var val = Validation.OpenDavis(data, "val");
        var rows = new List<DemoRow>();
        using var trainer = new Trainer(train);
        // the untrained model = the same initialisation before any step
        say("scoring the untrained model and the motion baseline on the held-out videos");
        var untrained = Validation.EvaluateModel(trainer.Model, val);
        rows.Add(Row("CMTM-b0, untrained (random init)", "synthetic held-out", untrained));
        var motion = Validation.EvaluateMotionThreshold(val);
        rows.Add(Row("motion-magnitude threshold", "synthetic held-out", motion));

        say($"training {o.Arch} at {o.Resolution}px for {train.Epochs * BatchesPerEpoch} steps (batch {o.BatchSize}, Adam lr {o.Lr} cosine, warm-up {o.WarmupSteps})");
        var clock = Stopwatch.StartNew();
        trainer.StopAfterStep = _ => (o.MaxMinutes > 0 && clock.Elapsed.TotalMinutes >= o.MaxMinutes) || cancel.IsCancellationRequested;
        var tr = trainer.Run(cancel, new ConsoleReporter { Prefix = "demo", PlainInterval = TimeSpan.FromSeconds(15) });
        var trainTime = clock.Elapsed;
        say($"trained {tr.Steps} steps in {trainTime.TotalMinutes:F1} min");

        var trained = Validation.EvaluateModel(trainer.Model, val);
        rows.Add(Row("CMTM-b0, trained (this run)", "synthetic held-out", trained));

        // real DAVIS frames, flows from Farneback
        string? davisNote = null;
        var davisRoot = o.Davis ?? FindShared("data/davis16-val");
        if (davisRoot != null && Directory.Exists(Path.Combine(davisRoot, "JPEGImages")))
        {
            try { rows.AddRange(EvaluateDavis(trainer.Model, davisRoot, run, o, say, out davisNote)); }
            catch (CmtmException e) { davisNote = "DAVIS skipped: " + e.Message; say(davisNote); }
        }
        else davisNote = "DAVIS skipped: no davis16-val folder with frames found (../shared/data/davis16-val).";

        // one held-out clip: masks + overlay video
        var clip = val.Sequences[0];
        var clipDir = Path.Combine(run, "clip-" + clip.Name);
        var frameDir = Path.GetDirectoryName(clip.Frames[0].Image)!;
        var flowDir = Path.GetDirectoryName(clip.Frames[0].Flow)!;
        using var predictor = new FramePredictor(trainer.Model);
        var seg = new Segmenter(predictor, FlowSource.Folder(flowDir));
        seg.Run(new FolderFrameSource(frameDir), new SegmentOptions { OutputDir = clipDir, Palette = true, Overlay = true, Fps = 6 });
        say($"segmented held-out clip {clip.Name} -> {clipDir}");

        var report = WriteReport(run, o, train.MaskRatio, rows, tr, trainTime, total.Elapsed, clip.Name, clipDir, davisNote);
        return new DemoResult(run, rows, total.Elapsed, trainTime, tr.Steps, report, davisNote);
    }

    private static DemoRow Row(string method, string data, ValidationResult r) => new(method, data, r.J, r.F, r.JF, r.SequenceCount);

    /// <summary>
    /// &lt;CMTM_SHARED&gt;/&lt;relative&gt; when that variable is set (the tests' convention), else walks up from the working
    /// folder and the app folder looking for shared/&lt;relative&gt;.
    /// </summary>
    public static string? FindShared(string relative)
    {
        if (Environment.GetEnvironmentVariable("CMTM_SHARED") is { Length: > 0 } env)
            return Directory.Exists(Path.Combine(env, relative)) ? Path.GetFullPath(Path.Combine(env, relative)) : null;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var p = Path.Combine(d.FullName, "shared", relative);
                if (Directory.Exists(p)) return p;
            }
        return null;
    }

    private static IEnumerable<DemoRow> EvaluateDavis(VosModel model, string root, string run, DemoOptions o, Action<string> say, out string note)
    {
        var names = File.ReadAllLines(Path.Combine(root, "ImageSets", "2016", "val.txt")).Select(l => l.Trim())
            .Where(n => n.Length > 0 && Directory.Exists(Path.Combine(root, "JPEGImages", "480p", n))).Take(o.DavisSequences).ToList();
        if (names.Count == 0) throw new CmtmException(root, "no sequence has frames");
        var flowRoot = Path.Combine(run, "davis-flows");
        var seqs = new List<SequenceRecord>();
        using var farneback = new FarnebackFlow();
        foreach (var n in names)
        {
            var frames = Directory.GetFiles(Path.Combine(root, "JPEGImages", "480p", n), "*.jpg").Order(StringComparer.Ordinal).Take(o.DavisFrames).ToList();
            say($"DAVIS {n}: Farneback flow for {frames.Count} frames");
            var list = new List<FrameRecord>();
            RgbImage? next = null;
            for (int i = 0; i < frames.Count; i++)
            {
                var a = i == 0 ? RgbImage.Load(frames[i]) : next!;
                next = RgbImage.Load(frames[i < frames.Count - 1 ? i + 1 : i - 1]);
                var ff = farneback.Estimate(new RgbFrame(i, "a", a.Width, a.Height, a.Pixels, frames[i]), new RgbFrame(i + 1, "b", next.Width, next.Height, next.Pixels, "next"));
                var stem = Path.GetFileNameWithoutExtension(frames[i]);
                var flowPath = Path.Combine(flowRoot, n, stem + ".jpg");
                new RgbImage(ff.Width, ff.Height, FlowColor.ToRgb(ff.Data, ff.Height, ff.Width)).Save(flowPath);
                list.Add(new FrameRecord(stem, frames[i], flowPath, Path.Combine(root, "Annotations", "480p", n, stem + ".png")));
                if (i == frames.Count - 1 || i + 1 >= frames.Count) { } // last frame used backward flow
            }
            seqs.Add(new SequenceRecord(n, list));
        }
        var subset = new DatasetRecord("davis16", root, MaskRule.ObjectIds, seqs);
        note = $"DAVIS: {names.Count} sequences ({string.Join(", ", names)}), first {o.DavisFrames} frames each, Farneback flow; first/last frame excluded.";
        var trained = Validation.EvaluateModel(model, subset);
        var motion = Validation.EvaluateMotionThreshold(subset);
        return new[] { Row("CMTM-b0, trained on synthetic only", "DAVIS-16 val subset", trained), Row("motion-magnitude threshold", "DAVIS-16 val subset", motion) };
    }

    private static string WriteReport(string run, DemoOptions o, double maskRatio, List<DemoRow> rows, TrainResult tr, TimeSpan trainTime, TimeSpan total,
        string clipName, string clipDir, string? davisNote)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# CMTM.NET demo report").AppendLine();
        sb.AppendLine($"- data: {o.TrainVideos} synthetic training videos, {o.ValVideos} held-out videos, {o.Frames} frames of {o.Width}x{o.Height} (seed {o.Seed})");
        sb.AppendLine($"- model: {o.Arch} at {o.Resolution}px, random initialisation; Adam lr {o.Lr.ToString(inv)} with cosine decay ({o.WarmupSteps} warm-up steps), token masking {maskRatio.ToString(inv)}, batch {o.BatchSize}, {o.Threads} threads");
        sb.AppendLine($"- training: {tr.Steps} steps in {trainTime.TotalMinutes.ToString("F1", inv)} min; whole demo {total.TotalMinutes.ToString("F1", inv)} min");
        sb.AppendLine().AppendLine("| method | data | J | F | J&F | sequences |").AppendLine("|---|---|---|---|---|---|");
        foreach (var r in rows)
            sb.AppendLine($"| {r.Method} | {r.Data} | {r.J.ToString("F3", inv)} | {r.F.ToString("F3", inv)} | {r.JF.ToString("F3", inv)} | {r.Sequences} |");
        sb.AppendLine().AppendLine("J, F: DAVIS-2016 protocol (first and last frame of each sequence excluded, mean over sequences).");
        if (davisNote != null) sb.AppendLine().AppendLine(davisNote);
        sb.AppendLine().AppendLine($"Segmented held-out clip `{clipName}`: masks and `overlay.mp4` in `{Path.GetRelativePath(run, clipDir)}/`.");
        sb.AppendLine().AppendLine("Curves: `train/loss.png`, `train/train_iou.png`; per-epoch numbers in `train/metrics.csv`.");
        var path = Path.Combine(run, "report.md");
        AtomicFile.WriteAllText(path, sb.ToString());
        return path;
    }
}
