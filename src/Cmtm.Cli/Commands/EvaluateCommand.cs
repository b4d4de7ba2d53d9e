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
        var cmd = new Command("evaluate", "Score a results folder against a dataset's ground truth exactly like the official toolkits (DAVIS-2016 J/F/J&F; IoU protocol for FBMS, YouTube-Objects, Long-Videos).")
        {
            dataset, root, results, split, json, csv, plot, threads,
            weights, arch, resolution, flow, raftWeights, iters, resultsOut, overwrite, device, precision, baselines, published, flows,
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
            if (withBaselines)
            {
                foreach (var (name, set) in new[] { ("--csv", p.GetValue(csv) != null), ("--plot", p.GetValue(plot) != null) })
                    if (set) throw new CmtmException(name, "does not apply with --baselines (the report is baselines.md and baselines.json; --json F writes a copy of the JSON)");
                var stem = model != null ? Path.GetFileNameWithoutExtension(model.Path) : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(resultsDir!)));
                var outDir = Path.GetFullPath(p.GetValue(resultsOut) ?? $"{stem}_{datasetName}_baselines");
                var table = RunBaselines(datasetName, p.GetValue(root)!, model, resultsDir, publishedDirs, outDir, p.GetValue(split)!, p.GetValue(threads),
                    p.GetValue(arch), p.GetValue(resolution), p.GetValue(flow), p.GetValue(raftWeights), p.GetValue(iters), p.GetValue(device), p.GetValue(overwrite), p.GetValue(precision));
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
                report = RunModel(p.GetValue(dataset)!, p.GetValue(root)!, model, outDir, p.GetValue(split)!, p.GetValue(threads),
                    p.GetValue(arch), p.GetValue(resolution), p.GetValue(flow), p.GetValue(raftWeights), p.GetValue(iters), p.GetValue(device), p.GetValue(overwrite), p.GetValue(precision),
                    flowsRoot: p.GetValue(flows));
            }
            else report = Run(p.GetValue(dataset)!, p.GetValue(root)!, resultsDir!, p.GetValue(split)!, p.GetValue(threads));
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

    /// <summary>Loads the dataset (annotations only), validates the results folder and scores it.</summary>
    public static EvaluationReport Run(string datasetName, string root, string resultsDir, string split = "val", int threads = 0, bool progress = true)
    {
        var kind = DatasetReader.ParseKind(datasetName);
        if (kind is DatasetKind.YouTubeVos18 or DatasetKind.Dutsv2)
            throw new CmtmException(datasetName, "is a training set; evaluate supports davis16, fbms, yto and lvd");
        var ds = DatasetReader.Load(kind, root, DatasetParts.Annotations, split);
        var provider = new ResultsFolder(resultsDir);
        var options = new EvaluationOptions
        {
            MaxParallelism = threads > 0 ? threads : Environment.ProcessorCount,
            Progress = progress ? EvaluationProgress.Printer($"scoring {resultsDir}") : null,
        };
        return Evaluator.Evaluate(ds, provider, Evaluator.DefaultProtocol(ds.Kind), options);
    }

    /// <summary>
    /// Runs a checkpoint over the dataset, writes <paramref name="resultsOut"/> and scores it (see <see cref="ModelEvaluation"/>);
    /// masks are made at the annotations' size. <paramref name="flowsRoot"/>: the dataset's flows kept in a folder of their
    /// own (<c>--flows</c>); <paramref name="flow"/>: a flat per-sequence folder or a method (<c>--flow</c>). DAVIS sequences
    /// without frames are skipped with a note.
    /// </summary>
    public static EvaluationReport RunModel(string datasetName, string root, ShippedModel.Choice weights, string resultsOut, string split = "val", int threads = 0,
        string? arch = null, int? resolution = null, string? flow = null, string? raftWeights = null, int iters = 20, string? device = null,
        bool overwrite = false, string? precision = null, bool progress = true, string? flowsRoot = null)
    {
        if (flowsRoot != null && flow != null) throw new CmtmException("--flows", "give either --flows (the dataset's flows in a folder of their own) or --flow, not both");
        var kind = DatasetReader.ParseKind(datasetName);
        TorchRuntime.SetThreads(threads);
        var dev = TorchRuntime.ParseDevice(device);
        var prec = CommonOptions.ParsePrecision(precision, dev);
        // Flows: the dataset's in a folder of their own (--flows), an explicit folder or method (--flow), else the
        // dataset's JPEGFlows when that folder exists, else Farneback.
        Flow.IFlowEstimator? estimator = null;
        DatasetFlows flows;
        var datasetFlows = DatasetReader.FlowRoot(kind, root, null);
        if (flowsRoot != null) flows = DatasetFlows.FromDataset(flowsRoot);
        else if (flow != null && Directory.Exists(flow)) flows = DatasetFlows.FromFolder(flow);
        else if (flow != null) flows = DatasetFlows.Estimate(estimator = FlowEstimators.Create(flow, raftWeights, iters, device));
        else if (Directory.Exists(datasetFlows)) flows = DatasetFlows.FromDataset();
        else
        {
            Console.Error.WriteLine($"note: {datasetFlows} not found; computing flows with farneback (use --flows DIR for flows computed by cmtm flow --dataset ... --flows DIR, or --flow raft --raft-weights F for RAFT flows)");
            flows = DatasetFlows.Estimate(estimator = new Flow.FarnebackFlow());
        }
        using (estimator)
        {
            var ds = ModelEvaluation.LoadDataset(kind, root, flows, split);
            if (ds.SkippedSequences.Count > 0)
                Console.Error.WriteLine($"note: {ds.SkippedSequences.Count} of {ds.SkippedSequences.Count + ds.Sequences.Count} sequences have no frames in {root} and are not scored: {string.Join(", ", ds.SkippedSequences)}");
            ModelEvaluation.CheckResultsTarget(resultsOut, overwrite);
            var model = CommonOptions.LoadModel(weights, arch, resolution, dev);
            using var predictor = new FramePredictor(model, dev, prec, ownsModel: true);
            Console.Out.WriteLine($"evaluate: {ds.Kind} ({ds.Sequences.Count} sequences, {ds.FrameCount} frames) with {model.Config.Name} @ {model.Config.Resolution} {prec.Name()}, flow {flows.Description} -> {resultsOut}");
            return ModelEvaluation.Run(ds, predictor, flows, new ModelEvaluationOptions
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
    public static BaselineTable RunBaselines(string datasetName, string root, ShippedModel.Choice? model, string? resultsDir, IReadOnlyList<string> published,
        string outDir, string split = "val", int threads = 0, string? arch = null, int? resolution = null, string? flow = null, string? raftWeights = null,
        int iters = 20, string? device = null, bool overwrite = false, string? precision = null, bool progress = true)
    {
        var kind = DatasetReader.ParseKind(datasetName);
        TorchRuntime.SetThreads(threads);
        var dev = TorchRuntime.ParseDevice(device);
        var prec = CommonOptions.ParsePrecision(precision, dev);
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
        using var estimator = flowRoot == null ? FlowEstimators.Create(flow ?? "farneback", raftWeights, iters, device) : null;
        using var predictor = model == null ? null : new FramePredictor(CommonOptions.LoadModel(model, arch, resolution, dev), dev, prec, ownsModel: true);
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
