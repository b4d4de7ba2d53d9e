using System.CommandLine;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;

namespace Cmtm.Cli.Commands;

/// <summary>`cmtm segment`: a video, frames folder or image glob in; a mask per frame (and overlays) out.</summary>
public static class SegmentCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "video file (mp4/avi/mkv/webm), folder of frames, or an image glob like 'dir/*.jpg' (or --list FILE)", Arity = ArgumentArity.ZeroOrOne };
        var weights = CommonOptions.Weights();
        var arch = CommonOptions.Arch();
        var flow = new Option<string>("--flow") { Description = "farneback (default), raft, or a folder of flow images matched to frames by file stem", DefaultValueFactory = _ => "farneback" };
        var raftWeights = new Option<string?>("--raft-weights") { Description = "RAFT checkpoint for --flow raft (raft-things.pth / raft-sintel.pth)" };
        var iters = new Option<int>("--iters") { Description = "RAFT iterations", DefaultValueFactory = _ => 20 };
        var resolution = CommonOptions.Resolution();
        var output = new Option<string>("--out") { Description = "output folder (default: <input>_masks)" };
        var palette = new Option<bool>("--palette") { Description = "write DAVIS palette PNGs (index 0/1) instead of 0/255" };
        var overlay = new Option<bool>("--overlay") { Description = "also write overlay.mp4 (mp4v) and overlay/<stem>.jpg" };
        var logits = new Option<bool>("--logits") { Description = "also write logits/<stem>.npy (float32 [2,H,W])" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a non-empty output folder" };
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var precision = CommonOptions.Precision();
        var cmd = new Command("segment", "Segment the primary moving object in every frame of a video.")
        { input, weights, arch, flow, raftWeights, iters, resolution, output, palette, overlay, logits, overwrite, device, threads, precision };
        cmd.SetAction(r =>
        {
            TorchRuntime.SetThreads(r.GetValue(threads));
            var dev = TorchRuntime.ParseDevice(r.GetValue(device));
            var prec = CommonOptions.ParsePrecision(r.GetValue(precision), dev);
            var w = ShippedModel.Choose(r.GetValue(weights)?.FullName);
            var inPath = r.GetValue(input)!;
            var source = FrameSources.Open(inPath);
            // default output: <input>_masks (for a glob 'dir/*.jpg': dir_masks)
            var inBase = Path.GetFileName(inPath).IndexOfAny(['*', '?']) >= 0 ? Path.GetDirectoryName(Path.GetFullPath(inPath))! : Path.GetFullPath(inPath);
            var outDir = r.GetValue(output) ?? Path.TrimEndingDirectorySeparator(inBase) + "_masks";
            // fail fast, before the model loads: output folder and precomputed flows covering every frame
            Segmenter.CheckOutputDir(outDir, r.GetValue(overwrite));
            using var flows = CommonOptions.OpenFlowSource(r.GetValue(flow)!, r.GetValue(raftWeights), r.GetValue(iters), r.GetValue(device));
            if (source is FolderFrameSource folder) flows.CheckCovers(folder.Files.Select(f => Path.GetFileNameWithoutExtension(f)));
            var model = CommonOptions.LoadModel(w, r.GetValue(arch), r.GetValue(resolution), dev);
            using var predictor = new FramePredictor(model, dev, prec, ownsModel: true);
            var segmenter = new Segmenter(predictor, flows);
            var fps = source is VideoFrameSource v && v.Fps > 0 ? v.Fps : 24;
            Console.WriteLine($"segment: {source.Path} ({(source.Count is int n ? $"{n} frames" : "frame count unknown")}) with {model.Config.Name} @ {model.Config.Resolution} {prec.Name()}, flow {flows.Description} -> {outDir}");
            var summary = segmenter.Run(source, new SegmentOptions
            {
                OutputDir = outDir,
                Palette = r.GetValue(palette),
                Overlay = r.GetValue(overlay),
                Logits = r.GetValue(logits),
                Overwrite = r.GetValue(overwrite),
                Fps = fps,
                Note = n => Console.Error.WriteLine("note: " + n),
            }, new ProgressLine("segment"));
            Console.WriteLine($"done: {summary.Frames} frames -> {summary.OutputDir}; model-only {summary.ModelFps:0.00} frames/s, end-to-end {summary.EndToEndFps:0.00} frames/s ({summary.TotalSeconds:0.0} s)");
            return 0;
        });
        // many inputs: --list FILE --out ROOT [--shard K/N] (SegmentListMode)
        SegmentListMode.Attach(cmd, new(input, output, weights, arch, resolution, flow, raftWeights, iters, palette, overlay, logits, overwrite, device, threads, precision));
        return cmd;
    }
}
