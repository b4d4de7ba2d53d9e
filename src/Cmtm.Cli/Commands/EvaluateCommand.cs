using System.CommandLine;
using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.Inference;
using Cmtm.Model;
using Cmtm.Runtime;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm evaluate --dataset davis16|fbms|yto|lvd --root R --results DIR [--json F] [--csv F] [--plot F.png]`, or
/// model-driven: `--weights W [--arch auto] [--resolution N] [--flow DIR|farneback|raft] [--results-out DIR]` runs the
/// model over the dataset (<see cref="ModelEvaluation"/>), writes the results folder, scores it and reports fps.
/// Prints a plain-text table (one row per sequence + the overall row) on stdout, progress lines on stderr.
/// The bar chart is written to --plot, or, when only --json is given, next to the JSON as &lt;json stem&gt;.png;
/// nothing is ever written into the results folder.
/// </summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "davis16 | fbms | yto | lvd", Required = true };
        var root = new Option<string>("--root") { Description = "dataset root (DAVIS: folder with ImageSets/ and Annotations/480p/)", Required = true };
        var results = new Option<string?>("--results") { Description = "results folder to score: <results>/<sequence>/<frame>.png (0/255 or palette; nonzero = foreground)" };
        var weights = new Option<FileInfo?>("--weights") { Description = "run this checkpoint over the dataset instead of scoring --results (official CMTM/FakeFlow .pth or CMTM.NET .safetensors)" };
        var arch = CommonOptions.Arch();
        var resolution = CommonOptions.Resolution();
        var flow = new Option<string?>("--flow") { Description = "with --weights: a folder <dir>/<sequence>/<stem>.jpg|png, or farneback / raft to compute flows (default: the dataset's JPEGFlows when present, else farneback)" };
        var flows = new Option<string?>("--flows") { Description = "with --weights: the dataset's flow images kept in a folder of their own, in the dataset's layout (DIR/JPEGFlows/480p/<seq>/<stem>.jpg for DAVIS; written by cmtm flow --dataset ... --flows DIR)" };
        var raftWeights = new Option<string?>("--raft-weights") { Description = "RAFT checkpoint for --flow raft" };
        var iters = new Option<int>("--iters") { Description = "RAFT iterations", DefaultValueFactory = _ => 20 };
        var resultsOut = new Option<string?>("--results-out") { Description = "with --weights: where to write the results folder (default: ./<weights stem>_<dataset>_results)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "with --weights: replace a non-empty --results-out folder" };
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
            weights, arch, resolution, flow, flows, raftWeights, iters, resultsOut, overwrite, device, precision,
        };
        cmd.SetAction(p =>
        {
            var resultsDir = p.GetValue(results);
            var w = p.GetValue(weights);
            EvaluationReport report;
            if (w != null)
            {
                if (resultsDir != null) throw new CmtmException("--results", "give either --results (score a folder) or --weights (run the model), not both");
                var outDir = p.GetValue(resultsOut) ?? Path.GetFullPath($"{Path.GetFileNameWithoutExtension(w.Name)}_{p.GetValue(dataset)!.ToLowerInvariant()}_results");
                report = RunModel(p.GetValue(dataset)!, p.GetValue(root)!, w.FullName, outDir, p.GetValue(split)!, p.GetValue(threads),
                    p.GetValue(arch), p.GetValue(resolution), p.GetValue(flow), p.GetValue(raftWeights), p.GetValue(iters), p.GetValue(device), p.GetValue(overwrite), p.GetValue(precision),
                    flowsRoot: p.GetValue(flows));
            }
            else
            {
                if (resultsDir == null) throw new CmtmException("--results", "give --results DIR (a results folder to score) or --weights W (run a model over the dataset and score it)");
                foreach (var (name, set) in new[] { ("--results-out", p.GetValue(resultsOut) != null), ("--precision", Precisions.Parse(p.GetValue(precision)) != Precision.Fp32), ("--flow", p.GetValue(flow) != null), ("--flows", p.GetValue(flows) != null), ("--overwrite", p.GetValue(overwrite)) })
                    if (set) throw new CmtmException(name, "only applies with --weights");
                report = Run(p.GetValue(dataset)!, p.GetValue(root)!, resultsDir, p.GetValue(split)!, p.GetValue(threads));
            }
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
            Progress = progress ? ProgressPrinter($"scoring {resultsDir}") : null,
        };
        return Evaluator.Evaluate(ds, provider, Evaluator.DefaultProtocol(ds.Kind), options);
    }

    /// <summary>
    /// Runs a checkpoint over the dataset, writes <paramref name="resultsOut"/> and scores it (see <see cref="ModelEvaluation"/>);
    /// masks are made at the annotations' size. <paramref name="flowsRoot"/>: the dataset's flows kept in a folder of their
    /// own (<c>--flows</c>); <paramref name="flow"/>: a flat per-sequence folder or a method (<c>--flow</c>). DAVIS sequences
    /// without frames are skipped with a note.
    /// </summary>
    public static EvaluationReport RunModel(string datasetName, string root, string weights, string resultsOut, string split = "val", int threads = 0,
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
        else if (flow != null) flows = DatasetFlows.Estimate(estimator = FlowCommand.CreateEstimator(flow, raftWeights, iters, device));
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
            var model = ModelCheckpoint.Load(weights, arch, resolution, dev, n => Console.Error.WriteLine("note: " + n));
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
                    Progress = progress ? ProgressPrinter($"scoring {resultsOut}") : null,
                },
            });
        }
    }

    internal static Action<EvaluationProgress> ProgressPrinter(string what)
    {
        var line = new ProgressLine(what);
        return p => line.Report(p.Done, p.Total, p.Rate, "frames", final: p.Done >= p.Total);
    }
}
