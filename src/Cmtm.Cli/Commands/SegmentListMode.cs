using System.CommandLine;
using System.CommandLine.Invocation;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.Model;
using Cmtm.Runtime;
using Cmtm.Sharding;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm segment --list FILE --out ROOT [--shard K/N]`: many inputs (<see cref="VideoList"/>), each into ROOT/&lt;name&gt;/,
/// as one shard of the list (the whole list when not sharded); `--flow DIR` then means DIR/&lt;name&gt;/ per input (e.g.
/// the folders `cmtm flow` wrote). Added to the segment command beside its single-input action.
/// </summary>
internal static class SegmentListMode
{
    /// <summary>The segment command's own options, read by the list mode too.</summary>
    public sealed record Options(Argument<string> Input, Option<string> Output, Option<FileInfo?> Weights, Option<string> Arch, Option<int?> Resolution,
        Option<string> Flow, Option<string?> RaftWeights, Option<int> Iters, Option<bool> Palette, Option<bool> Overlay, Option<bool> Logits,
        Option<bool> Overwrite, Option<string> Device, Option<int> Threads, Option<string> Precision);

    /// <summary>Adds --list and --shard to <paramref name="segment"/> and runs the list mode when --list is given.</summary>
    public static void Attach(Command segment, Options o)
    {
        var list = new Option<string?>("--list") { Description = "a text file of inputs (video files or frames folders, one per line; relative to the file's folder), each segmented into <--out>/<name>/; with --shard (or a job array) only this shard's inputs" };
        var shard = ShardOptions.Shard();
        segment.Options.Add(list);
        segment.Options.Add(shard);
        var single = (SynchronousCommandLineAction)segment.Action!;
        segment.SetAction(r =>
        {
            if (r.GetValue(list) is string file) return Run(r, file, shard, o);
            ShardOptions.RejectFlag(r, shard, "only applies with --list (a single input is one item)");
            if (r.GetValue(o.Input) == null) throw new CmtmException("input", "give a video, a frames folder or an image glob, or --list FILE with --out ROOT");
            return single.Invoke(r);
        });
    }

    private static int Run(ParseResult r, string listFile, Option<string?> shardOption, Options o)
    {
        if (r.GetValue(o.Input) is string input) throw new CmtmException(input, "give either an input or --list, not both");
        var outRoot = Path.GetFullPath(r.GetValue(o.Output) ?? throw new CmtmException("--out", "--list needs --out ROOT (each input goes to ROOT/<name>/)"));
        var shard = ShardOptions.Resolve(r, shardOption) ?? ShardOptions.WholeList;
        var entries = VideoList.Read(listFile);
        TorchRuntime.SetThreads(r.GetValue(o.Threads));
        var dev = TorchRuntime.ParseDevice(r.GetValue(o.Device));
        var prec = CommonOptions.ParsePrecision(r.GetValue(o.Precision), dev);
        var flowArg = r.GetValue(o.Flow)!;
        var model = CommonOptions.LoadModel(ShippedModel.Choose(r.GetValue(o.Weights)?.FullName), r.GetValue(o.Arch), r.GetValue(o.Resolution), dev);
        using var predictor = new FramePredictor(model, dev, prec, ownsModel: true);
        // --flow ROOT: each input's flow images in ROOT/<name>/ (flow --list's output), else a method for all inputs
        using var estimator = Directory.Exists(flowArg) ? null : FlowEstimators.Create(flowArg, r.GetValue(o.RaftWeights), r.GetValue(o.Iters), dev);
        var shared = estimator != null ? new Segmenter(predictor, estimator) : null;
        Console.WriteLine($"segment: {entries.Count} inputs of {listFile} with {model.Config.Name} @ {model.Config.Resolution} {prec.Name()}, flow {estimator?.Name ?? flowArg + "/<name>"} -> {outRoot}/<name>");
        var report = VideoList.Segment(entries, outRoot, e => shared ?? new Segmenter(predictor, FlowSource.Folder(Path.Combine(flowArg, e.Name))),
            new SegmentOptions
            {
                OutputDir = outRoot,
                Palette = r.GetValue(o.Palette),
                Overlay = r.GetValue(o.Overlay),
                Logits = r.GetValue(o.Logits),
                Note = n => Console.Error.WriteLine("note: " + n),
            }, shard, ShardOptions.RunOptions("segment", r.GetValue(o.Overwrite)), name => new ProgressLine(name));
        return ShardOptions.Finish(report, outRoot);
    }
}
