using System.CommandLine;
using Cmtm.Flow;
using Cmtm.Flow.Raft;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Runtime;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm flow &lt;video|frames-dir&gt; --method farneback|raft [--weights raft.pth] [--iters N] --out DIR [--flo]
/// [--format jpg|png]` and `cmtm flow visualize in.flo out.png`; many videos: `--dataset KIND --root R [--flows DIR]` or
/// `--list FILE --out ROOT`, each optionally one shard of a job array (`--shard K/N`, <see cref="ShardOptions"/>).
/// </summary>
public static class FlowCommand
{
    public static Command Create()
    {
        var input = new Argument<string?>("input") { Description = "video file (mp4/avi/mkv/webm) or folder of frames (*.jpg/*.png, sorted by name); omit with --dataset", Arity = ArgumentArity.ZeroOrOne };
        var dataset = new Option<string?>("--dataset") { Description = "fill <root>/JPEGFlows for a whole dataset: davis16 (train and val), fbms, yto, lvd, ytvos" };
        var root = new Option<string?>("--root") { Description = "dataset root for --dataset" };
        var flows = new Option<string?>("--flows") { Description = "with --dataset: write the flows into this folder instead of the dataset, in the same layout (DIR/JPEGFlows/480p/<seq>/<stem>.jpg for DAVIS), e.g. for a read-only dataset; train reads them with KIND=ROOT,flows=DIR, evaluate with --flows DIR" };
        var method = new Option<string>("--method") { Description = "farneback (fast, CPU) or raft (accurate; needs --weights)", DefaultValueFactory = _ => "farneback" };
        var weights = new Option<string?>("--weights") { Description = "RAFT checkpoint (official raft-things.pth / raft-sintel.pth, or a plain state dict)" };
        var iters = new Option<int>("--iters") { Description = "RAFT refinement iterations", DefaultValueFactory = _ => 20 };
        var output = new Option<string?>("--out") { Description = "output folder: <stem>.jpg (or .png) per frame (not with --dataset)" };
        var flo = new Option<bool>("--flo") { Description = "also write the raw flow as <stem>.flo (Middlebury)" };
        var format = new Option<string>("--format") { Description = "flow image format: jpg (like the datasets' JPEGFlows) or png", DefaultValueFactory = _ => "jpg" };
        var overwrite = new Option<bool>("--overwrite") { Description = "recompute frames whose outputs exist (default: skip them, so runs resume)" };
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var list = new Option<string?>("--list") { Description = "a text file of inputs (video files or frames folders, one per line; relative to the file's folder): flows of each into <--out>/<name>/, the folders segment --list --flow <--out> reads; with --shard (or a job array) only this shard's inputs" };
        var shard = ShardOptions.Shard();
        var cmd = new Command("flow", "Compute optical flow for every frame of a video or frames folder (frame t -> t+1; the last frame gets t -> t-1) and write flow colour images named after the frames.")
        {
            input, dataset, root, flows, method, weights, iters, output, flo, format, overwrite, device, threads, list, shard,
        };
        cmd.Subcommands.Add(CreateVisualize());
        cmd.SetAction(p =>
        {
            TorchRuntime.SetThreads(p.GetValue(threads));
            FlowExportOptions Template() => new()
            {
                Format = ParseFormat(p.GetValue(format)!),
                WriteFlo = p.GetValue(flo),
                SkipExisting = !p.GetValue(overwrite),
            };
            IFlowEstimator Estimator()
            {
                // this command's options for the library's "flow" and "raft-weights" are --method and --weights
                try { return FlowEstimators.Create(p.GetValue(method)!, p.GetValue(weights), p.GetValue(iters), TorchRuntime.ParseDevice(p.GetValue(device))); }
                catch (CmtmException e) when (e.Subject is "flow" or "raft-weights")
                { throw new CmtmException(e.Subject == "flow" ? "--method" : "--weights", e.Problem); }
            }
            if (p.GetValue(dataset) is string kind)
            {
                if (p.GetValue(input) != null || p.GetValue(output) != null || p.GetValue(list) != null)
                    throw new CmtmException("--dataset", "takes --root (and --flows DIR) instead of an input, --list and --out (outputs go to <root>/JPEGFlows, or <flows>/JPEGFlows)");
                var datasetRoot = p.GetValue(root) ?? throw new CmtmException("--root", "--dataset needs --root");
                var shardOf = ShardOptions.Resolve(p, shard);
                using var est = Estimator();
                if (shardOf != null)
                {
                    var (sequences, flowRoot) = DatasetFlowExport.Sequences(kind, datasetRoot, Console.Out.WriteLine, p.GetValue(flows));
                    return ShardOptions.Finish(DatasetFlowExport.RunShard(sequences, flowRoot, est, Template(), shardOf,
                        ShardOptions.RunOptions($"flow --dataset {kind}", p.GetValue(overwrite)), FlowProgress.Printer()), flowRoot);
                }
                var total = DatasetFlowExport.Run(kind, datasetRoot, est, Template(), Console.Out.WriteLine, FlowProgress.Printer(), p.GetValue(flows));
                Console.Out.WriteLine($"done: {total.Sequences} sequences, {total.Frames} frames ({total.Computed} computed, {total.Skipped} already present) in {total.Seconds:0.0} s");
                return 0;
            }
            if (p.GetValue(flows) != null) throw new CmtmException("--flows", "only applies with --dataset (a video or frames folder writes to --out)");
            var outDir = p.GetValue(output) ?? throw new CmtmException("--out", "an output folder is required");
            if (p.GetValue(list) is string listFile)
            {
                if (p.GetValue(input) is string both) throw new CmtmException(both, "give either an input or --list, not both");
                var entries = VideoList.Read(listFile);
                var shardOf = ShardOptions.Resolve(p, shard) ?? ShardOptions.WholeList;
                using var est = Estimator();
                Console.Out.WriteLine($"flow: {entries.Count} inputs of {listFile} -> {Path.GetFullPath(outDir)}/<name> [{est.Name}]");
                return ShardOptions.Finish(VideoList.Flow(entries, outDir, est, Template() with { OutputDir = outDir }, shardOf,
                    ShardOptions.RunOptions("flow", p.GetValue(overwrite)), FlowProgress.Printer()), Path.GetFullPath(outDir));
            }
            ShardOptions.RejectFlag(p, shard, "only applies with --dataset or --list (a single video is one item)");
            var options = Template() with { OutputDir = outDir };
            var source = FrameSources.Open(p.GetValue(input) ?? throw new CmtmException("input", "give a video, a frames folder, --list FILE, or --dataset with --root"));
            using var estimator = Estimator();
            Console.Out.WriteLine($"flow: {source.Path} ({(source.Count is int n ? n == 1 ? "1 frame" : $"{n} frames" : "frame count unknown")}) -> {options.OutputDir} [{estimator.Name}]");
            var summary = FlowExport.Run(source, estimator, options, FlowProgress.Printer());
            Console.Out.WriteLine($"done: {summary.Frames} frames ({summary.Computed} computed, {summary.Skipped} already present) in {summary.Seconds:0.0} s"
                + (summary.Computed > 0 ? $", {summary.Computed / Math.Max(summary.Seconds, 1e-9):0.00} frames/s" : ""));
            return 0;
        });
        return cmd;
    }

    private static Command CreateVisualize()
    {
        var inFlo = new Argument<string>("flo") { Description = "Middlebury .flo file" };
        var outImg = new Argument<string>("image") { Description = "output image (.png or .jpg)" };
        var cmd = new Command("visualize", "Render a .flo file with the Middlebury colour wheel (exactly as RAFT's flow_to_image).") { inFlo, outImg };
        cmd.SetAction(p =>
        {
            var path = p.GetValue(outImg)!;
            var flow = FloFile.Read(p.GetValue(inFlo)!);
            FlowExport.WriteColorImage(path, flow, FlowExport.FormatFromPath(path));
            Console.Out.WriteLine($"wrote {path} ({flow.Width}x{flow.Height})");
            return 0;
        });
        return cmd;
    }

    internal static FlowImageFormat ParseFormat(string f) => f.ToLowerInvariant() switch
    {
        "jpg" or "jpeg" => FlowImageFormat.Jpeg,
        "png" => FlowImageFormat.Png,
        _ => throw new CmtmException("--format", $"unknown format '{f}' (expected jpg or png)"),
    };
}
