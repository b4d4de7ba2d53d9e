using System.CommandLine;
using Cmtm.Inference;
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
        var cutout = new Option<bool>("--cutout") { Description = "also write cutout/<stem>.png: the frame as RGBA with alpha = the mask" };
        var feather = new Option<int>("--feather") { Description = "soft edge of the cut-out's alpha in pixels (0 = the hard mask)", DefaultValueFactory = _ => 0 };
        var background = new Option<string?>("--background") { Description = "also write composite.mp4: the object over COLOR (green, #00ff00, 0,255,0), blur (the frame blurred) or an IMAGE file" };
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var precision = CommonOptions.Precision();
        var cmd = new Command("segment", "Segment the primary moving object in every frame of a video.")
        { input, weights, arch, flow, raftWeights, iters, resolution, output, palette, overlay, logits, cutout, feather, background, overwrite, device, threads, precision };
        cmd.SetAction(r =>
        {
            TorchRuntime.SetThreads(r.GetValue(threads));
            var prec = CommonOptions.ParsePrecision(r.GetValue(precision), TorchRuntime.ParseDevice(r.GetValue(device)));
            var inPath = r.GetValue(input)!;
            // default output: <input>_masks (for a glob 'dir/*.jpg': dir_masks)
            var inBase = Path.GetFileName(inPath).IndexOfAny(['*', '?']) >= 0 ? Path.GetDirectoryName(Path.GetFullPath(inPath))! : Path.GetFullPath(inPath);
            var bg = r.GetValue(background) is string b ? CutoutBackground.Parse(b) : null;
            if (r.GetValue(feather) != 0 && !r.GetValue(cutout) && bg == null) throw new CmtmException("--feather", "applies to --cutout or --background");
            var cut = r.GetValue(cutout) || bg != null ? new CutoutOptions { Rgba = r.GetValue(cutout), Feather = r.GetValue(feather), Background = bg } : null;
            var summary = SegmentRun.Run(new SegmentRequest
            {
                Input = inPath,
                Weights = r.GetValue(weights)?.FullName,
                Arch = r.GetValue(arch)!,
                Resolution = r.GetValue(resolution),
                Flow = r.GetValue(flow)!,
                RaftWeights = r.GetValue(raftWeights),
                Iters = r.GetValue(iters),
                Device = r.GetValue(device)!,
                Precision = prec,
                Output = new SegmentOptions
                {
                    OutputDir = r.GetValue(output) ?? Path.TrimEndingDirectorySeparator(inBase) + "_masks",
                    Palette = r.GetValue(palette),
                    Overlay = r.GetValue(overlay),
                    Logits = r.GetValue(logits),
                    Cutout = cut,
                    Overwrite = r.GetValue(overwrite),
                },
            }, Console.WriteLine, Console.Error.WriteLine, new ProgressLine("segment"));
            Console.WriteLine($"done: {summary.Frames} frames -> {summary.OutputDir}; model-only {summary.ModelFps:0.00} frames/s, end-to-end {summary.EndToEndFps:0.00} frames/s ({summary.TotalSeconds:0.0} s)");
            return 0;
        });
        // many inputs: --list FILE --out ROOT [--shard K/N] (SegmentListMode)
        SegmentListMode.Attach(cmd, new(input, output, weights, arch, resolution, flow, raftWeights, iters, palette, overlay, logits, overwrite, device, threads, precision));
        return cmd;
    }
}
