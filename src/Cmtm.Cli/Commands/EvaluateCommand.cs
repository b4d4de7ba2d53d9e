using System.CommandLine;
using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.Model;
using Cmtm.Runtime;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm evaluate --dataset davis16|fbms|yto|lvd --root R --results DIR [--json F] [--csv F] [--plot F.png]` scores a
/// results folder; without --results it is model-driven: `[--weights W] [--arch auto] [--resolution N]
/// [--flow DIR|farneback|raft] [--results-out DIR]` runs the model (--weights, else the shipped model) over the dataset
/// (<see cref="ModelEvaluation"/>), writes the results folder, scores it and reports fps.
/// Prints a plain-text table (one row per sequence + the overall row) on stdout, progress lines on stderr.
/// The bar chart is written to --plot, or, when only --json is given, next to the JSON as &lt;json stem&gt;.png;
/// nothing is ever written into the results folder.
/// With --baselines the model (or the --results folder) is scored beside the untrained model, the motion threshold and
/// the --published NAME=DIR masks on the dataset's sequences that have frames (<see cref="BaselineReport"/>): a
/// comparison table on stdout, baselines.md / baselines.json (and results, flows) in --results-out.
/// </summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "davis16 | fbms | yto | lvd", Required = true };
        var root = new Option<string>("--root") { Description = "dataset root (DAVIS: folder with ImageSets/ and Annotations/480p/)", Required = true };
        var results = new Option<string?>("--results") { Description = "results folder to score: <results>/<sequence>/<frame>.png (0/255 or palette; nonzero = foreground)" };
        var weights = new Option<FileInfo?>("--weights") { Description = $"run this checkpoint over the dataset (official CMTM/FakeFlow .pth or CMTM.NET .safetensors); without --results and --weights the shipped model ({ShippedModel.RepositoryPath}) runs" };
        var arch = CommonOptions.Arch();
        var resolution = CommonOptions.Resolution();
        var flow = new Option<string?>("--flow") { Description = "with a model or --baselines: a folder <dir>/<sequence>/<stem>.jpg|png, or farneback / raft to compute flows (default: the dataset's JPEGFlows when present, else farneback)" };
        var flows = new Option<string?>("--flows") { Description = "with a model: the dataset's flow images kept in a folder of their own, in the dataset's layout (DIR/JPEGFlows/480p/<seq>/<stem>.jpg for DAVIS; written by cmtm flow --dataset ... --flows DIR)" };
        var raftWeights = new Option<string?>("--raft-weights") { Description = "RAFT checkpoint for --flow raft" };
        var iters = new Option<int>("--iters") { Description = "RAFT iterations", DefaultValueFactory = _ => 20 };
        var resultsOut = new Option<string?>("--results-out") { Description = "with a model: where to write the results folder (default: ./<weights stem>_<dataset>_results); with --baselines: the report folder (default: ./<method>_<dataset>_baselines)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a non-empty --results-out folder" };
        var baselines = new Option<bool>("--baselines") { Description = "score beside the untrained model (same architecture, random init), the motion threshold and --published masks, on the sequences with frames; writes baselines.md and baselines.json" };
        var published = new Option<string[]>("--published") { Description = "with --baselines: NAME=DIR, a folder of another method's masks (<DIR>/<sequence>/<frame>.png, nonzero = foreground); repeatable", AllowMultipleArgumentsPerToken = false };
        var device = CommonOptions.Device();
        var precision = CommonOptions.Precision();
        var split = new Option<string>("--split") { Description = "DAVIS split (ImageSets/2016/<split>.txt)", DefaultValueFactory = _ => "val" };
        var json = new Option<string?>("--json") { Description = "write the report as JSON" };
        var csv = new Option<string?>("--csv") { Description = "write the per-sequence table as CSV" };
        var plot = new Option<string?>("--plot") { Description = "write a PNG bar chart of per-sequence J&F (DAVIS) / J (others); default: <json stem>.png when --json is given" };
        var threads = new Option<int>("--threads") { Description = "worker threads for scoring and libtorch (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var shard = ShardOptions.Shard();
        var cmd = new Command("evaluate", "Score a results folder against a dataset's ground truth exactly like the official toolkits (DAVIS-2016 J/F/J&F; IoU protocol for FBMS, YouTube-Objects, Long-Videos).")
        {
            dataset, root, results, split, json, csv, plot, threads,
            weights, arch, resolution, flow, raftWeights, iters, resultsOut, overwrite, device, precision, baselines, published, flows, shard,
        };
        cmd.SetAction(p =>
        {
            var resultsDir = p.GetValue(results);
            var w = p.GetValue(weights);
            var withBaselines = p.GetValue(baselines);
            var publishedDirs = p.GetValue(published) ?? [];
            if (publishedDirs.Length > 0 && !withBaselines) throw new CmtmException("--published", "only applies with --baselines");
            if (resultsDir != null && w != null) throw new CmtmException("--results", "give either --results (score a folder) or --weights (run the model), not both");
            if (resultsDir != null && !withBaselines)
                foreach (var (name, set) in new[] { ("--results-out", p.GetValue(resultsOut) != null), ("--flow", p.GetValue(flow) != null), ("--overwrite", p.GetValue(overwrite)) })
                    if (set) throw new CmtmException(name, "only applies with --weights");
            if (resultsDir != null && Precisions.Parse(p.GetValue(precision)) != Precision.Fp32) throw new CmtmException("--precision", "only applies with --weights");
            // no --results: a model runs, --weights or the shipped model (located now: a missing one fails before any work)
            var model = resultsDir == null ? ShippedModel.Choose(w?.FullName) : null;
            var datasetName = p.GetValue(dataset)!.ToLowerInvariant();
            var run = new ModelRun(p.GetValue(dataset)!, p.GetValue(root)!, p.GetValue(split)!, p.GetValue(threads), p.GetValue(arch), p.GetValue(resolution),
                p.GetValue(flow), p.GetValue(raftWeights), p.GetValue(iters), p.GetValue(device), p.GetValue(precision), p.GetValue(overwrite), p.GetValue(flows));
            if (model == null || withBaselines) ShardOptions.RejectFlag(p, shard, "only applies when a model runs over the dataset (--weights or the shipped model), without --baselines");
            if (withBaselines)
            {
                foreach (var (name, set) in new[] { ("--csv", p.GetValue(csv) != null), ("--plot", p.GetValue(plot) != null) })
                    if (set) throw new CmtmException(name, "does not apply with --baselines (the report is baselines.md and baselines.json; --json F writes a copy of the JSON)");
                var stem = model != null ? Path.GetFileNameWithoutExtension(model.Path) : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(resultsDir!)));
                var outDir = Path.GetFullPath(p.GetValue(resultsOut) ?? $"{stem}_{datasetName}_baselines");
                var table = RunBaselines(run, model, resultsDir, publishedDirs, outDir);
                Console.Out.Write(BaselineReport.Text(table));
                Console.Out.WriteLine($"{table.Dataset}: {table.Sequences.Count} sequences; {Evaluator.ProtocolDescription(table.Protocol)}");
                Console.Out.WriteLine($"wrote {Path.Combine(outDir, "baselines.md")} and baselines.json (results of the model runs in {Path.Combine(outDir, "results")})");
                if (p.GetValue(json) is string jsonCopy) { IO.AtomicFile.WriteAllText(jsonCopy, BaselineReport.Json(table)); Console.Out.WriteLine($"wrote {jsonCopy}"); }
                return 0;
            }
            EvaluationReport report;
            if (model != null)
            {
                var outDir = p.GetValue(resultsOut) ?? Path.GetFullPath($"{Path.GetFileNameWithoutExtension(model.Path)}_{datasetName}_results");
                if (ShardOptions.Resolve(p, shard) is { } shardOf)
                    return ShardOptions.Finish(RunModelShard(shardOf, run, model, outDir), outDir);
                report = RunModel(run, model, outDir);
            }
            else report = Evaluator.ScoreFolder(p.GetValue(dataset)!, p.GetValue(root)!, resultsDir!, p.GetValue(split)!, p.GetValue(threads));
            Console.Out.Write(ReportWriters.Table(report));
            Console.Out.WriteLine($"{report.Dataset}: {report.Frames} frames scored in {report.Seconds:0.00} s; {Evaluator.ProtocolDescription(report.Protocol)}");
            var jsonPath = p.GetValue(json);
            var csvPath = p.GetValue(csv);
            var plotPath = p.GetValue(plot) ?? (jsonPath != null ? Path.ChangeExtension(jsonPath, ".png") : null);
            if (jsonPath != null) { ReportWriters.WriteJson(jsonPath, report); Console.Out.WriteLine($"wrote {jsonPath}"); }
            if (csvPath != null) { ReportWriters.WriteCsv(csvPath, report); Console.Out.WriteLine($"wrote {csvPath}"); }
            if (plotPath != null) { ReportPlot.WriteBarChart(plotPath, report); Console.Out.WriteLine($"wrote {plotPath}"); }
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// The options of a model run over a dataset, parsed once (evaluate --weights, its shards, --baselines): dataset, root
    /// and split; threads; the checkpoint's architecture and resolution; flows (--flow folder or method with RAFT's
    /// weights and iterations, or --flows, the dataset's flows kept apart); device, precision; --overwrite.
    /// </summary>
    public sealed record ModelRun(string Dataset, string Root, string Split = "val", int Threads = 0, string? Arch = null, int? Resolution = null,
        string? Flow = null, string? RaftWeights = null, int Iters = 20, string? Device = null, string? Precision = null, bool Overwrite = false,
        string? FlowsRoot = null, bool Progress = true)
    {
        public DatasetKind Kind => DatasetReader.ParseKind(Dataset);

        /// <summary>--flow as a flow estimator (with --raft-weights, --iters, --device).</summary>
        public Cmtm.Flow.IFlowEstimator CreateEstimator(string method) => Cmtm.Flow.FlowEstimators.Create(method, RaftWeights, Iters, TorchRuntime.ParseDevice(Device));
    }

    /// <summary>
    /// Runs a checkpoint over the dataset, writes <paramref name="resultsOut"/> and scores it (see <see cref="ModelEvaluation"/>);
    /// masks are made at the annotations' size. DAVIS sequences without frames are skipped with a note.
    /// </summary>
    public static EvaluationReport RunModel(ModelRun o, ShippedModel.Choice weights, string resultsOut) =>
        WithModel(o, weights, resultsOut, sharded: false, ModelEvaluation.Run);

    /// <summary>
    /// As <see cref="RunModel"/> for one shard of the sequences (<see cref="ModelEvaluation.WriteShard"/>): writes this
    /// shard's sequences into the shared <paramref name="resultsOut"/> and scores nothing (score the merged folder with
    /// <c>cmtm evaluate --results</c> once <c>cmtm shards</c> says every shard is done).
    /// </summary>
    public static Sharding.ShardReport RunModelShard(Sharding.ShardSelection shard, ModelRun o, ShippedModel.Choice weights, string resultsOut) =>
        WithModel(o, weights, resultsOut, sharded: true, (ds, predictor, flows, options) => ModelEvaluation.WriteShard(ds, predictor, flows, options, shard,
            ShardOptions.RunOptions($"evaluate --dataset {o.Dataset}", o.Overwrite)));

    private static T WithModel<T>(ModelRun o, ShippedModel.Choice weights, string resultsOut, bool sharded,
        Func<DatasetRecord, FramePredictor, DatasetFlows, ModelEvaluationOptions, T> run)
    {
        TorchRuntime.SetThreads(o.Threads);
        var dev = TorchRuntime.ParseDevice(o.Device);
        var prec = CommonOptions.ParsePrecision(o.Precision, dev);
        var (flows, estimator) = DatasetFlows.Choose(o.Kind, o.Root, o.FlowsRoot, o.Flow, o.CreateEstimator, n => Console.Error.WriteLine("note: " + n));
        var (root, split, overwrite, threads, progress) = (o.Root, o.Split, o.Overwrite, o.Threads, o.Progress);
        using (estimator)
        {
            var ds = ModelEvaluation.LoadDataset(o.Kind, root, flows, split);
            if (ds.SkippedSequences.Count > 0)
                Console.Error.WriteLine($"note: {ds.SkippedSequences.Count} of {ds.SkippedSequences.Count + ds.Sequences.Count} sequences have no frames in {root} and are not scored: {string.Join(", ", ds.SkippedSequences)}");
            if (!sharded) ModelEvaluation.CheckResultsTarget(resultsOut, overwrite); // a shard shares the folder with the others
            var model = CommonOptions.LoadModel(weights, o.Arch, o.Resolution, dev);
            using var predictor = new FramePredictor(model, dev, prec, ownsModel: true);
            Console.Out.WriteLine($"evaluate: {ds.Kind} ({ds.Sequences.Count} sequences, {ds.FrameCount} frames) with {model.Config.Name} @ {model.Config.Resolution} {prec.Name()}, flow {flows.Description} -> {resultsOut}");
            return run(ds, predictor, flows, new ModelEvaluationOptions
            {
                ResultsDir = resultsOut,
                Overwrite = overwrite,
                Progress = progress ? label => new ProgressLine(label) : null,
                Scoring = new EvaluationOptions
                {
                    MaxParallelism = threads > 0 ? threads : Environment.ProcessorCount,
                    Progress = progress ? EvaluationProgress.Printer($"scoring {resultsOut}") : null,
                },
            });
        }
    }

    /// <summary>
    /// The model (or the results folder) beside the untrained model, the motion threshold and the published folders, on
    /// the dataset's sequences that have frames (<see cref="BaselineReport"/>); everything goes to <paramref name="outDir"/>
    /// (staged: it appears only complete): baselines.md, baselines.json, results/&lt;method&gt;/ and flows/ when computed.
    /// </summary>
    public static BaselineTable RunBaselines(ModelRun o, ShippedModel.Choice? model, string? resultsDir, IReadOnlyList<string> published, string outDir)
    {
        var (kind, root, split, threads, flow, overwrite, progress) = (o.Kind, o.Root, o.Split, o.Threads, o.Flow, o.Overwrite, o.Progress);
        TorchRuntime.SetThreads(threads);
        var dev = TorchRuntime.ParseDevice(o.Device);
        var prec = CommonOptions.ParsePrecision(o.Precision, dev);
        var others = new List<BaselineMethod> { BaselineMethod.MotionThreshold() };
        foreach (var spec in published)
        {
            var eq = spec.IndexOf('=');
            if (eq <= 0 || eq == spec.Length - 1) throw new CmtmException("--published", $"'{spec}' is not NAME=DIR");
            var dir = Path.GetFullPath(spec[(eq + 1)..]);
            if (!Directory.Exists(dir)) throw new CmtmException(dir, "published results folder not found");
            others.Add(BaselineMethod.ResultsFolder(spec[..eq], dir));
        }
        var ds = BaselineReport.LoadWithFrames(kind, root, split, out var withoutFrames);
        var notes = withoutFrames.Count == 0 ? new List<string>()
            : [$"{withoutFrames.Count} sequences of the split have no frames here and are left out: {string.Join(", ", withoutFrames)}."];
        if (withoutFrames.Count > 0) Console.Error.WriteLine("note: " + notes[0]);
        ModelEvaluation.CheckResultsTarget(outDir, overwrite); // before a model loads
        // flows: a folder given with --flow, else the dataset's JPEGFlows, else computed (--flow METHOD, default farneback) into the report folder
        var datasetFlows = DatasetReader.PartRoot(kind, root, DatasetParts.Flows);
        var flowRoot = flow != null && Directory.Exists(flow) ? Path.GetFullPath(flow) : flow == null && Directory.Exists(datasetFlows) ? datasetFlows : null;
        using var estimator = flowRoot == null ? o.CreateEstimator(flow ?? "farneback") : null;
        using var predictor = model == null ? null : new FramePredictor(CommonOptions.LoadModel(model, o.Arch, o.Resolution, dev), dev, prec, ownsModel: true);
        var methods = new List<BaselineMethod>();
        if (predictor != null)
        {
            var cfg = predictor.Model.Config;
            methods.Add(BaselineMethod.Model("model", $"{Path.GetFileName(model!.Path)}: {cfg.Name} at {cfg.Resolution} px, {prec.Name()}", predictor));
            methods.Add(BaselineMethod.Untrained(cfg, dev));
        }
        else methods.Add(BaselineMethod.ResultsFolder(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(resultsDir!))), Path.GetFullPath(resultsDir!)));
        methods.AddRange(others);
        return BaselineReport.RunInFolder(ds, methods, outDir, overwrite, flowRoot, estimator, new BaselineOptions
        {
            FlowDescription = flowRoot == null ? "" : $"flow images in {flowRoot}", Notes = notes, Progress = progress,
            Threads = threads > 0 ? threads : Environment.ProcessorCount, Say = s => Console.Error.WriteLine(s),
        });
    }
}
