using System.CommandLine;
using Cmtm.Data.Datasets;
using Cmtm.Evaluation;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm evaluate --dataset davis16|fbms|yto|lvd --root R --results DIR [--json F] [--csv F] [--plot F.png]`.
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
        var results = new Option<string>("--results") { Description = "results folder: <results>/<sequence>/<frame>.png (0/255 or palette; nonzero = foreground)", Required = true };
        var split = new Option<string>("--split") { Description = "DAVIS split (ImageSets/2016/<split>.txt)", DefaultValueFactory = _ => "val" };
        var json = new Option<string?>("--json") { Description = "write the report as JSON" };
        var csv = new Option<string?>("--csv") { Description = "write the per-sequence table as CSV" };
        var plot = new Option<string?>("--plot") { Description = "write a PNG bar chart of per-sequence J&F (DAVIS) / J (others); default: <json stem>.png when --json is given" };
        var threads = new Option<int>("--threads") { Description = "worker threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cmd = new Command("evaluate", "Score a results folder against a dataset's ground truth exactly like the official toolkits (DAVIS-2016 J/F/J&F; IoU protocol for FBMS, YouTube-Objects, Long-Videos).")
        {
            dataset, root, results, split, json, csv, plot, threads,
        };
        cmd.SetAction(p =>
        {
            var report = Run(p.GetValue(dataset)!, p.GetValue(root)!, p.GetValue(results)!, p.GetValue(split)!, p.GetValue(threads));
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

    internal static Action<EvaluationProgress> ProgressPrinter(string what) => p =>
    {
        var eta = double.IsFinite(p.EtaSeconds) ? $", ETA {p.EtaSeconds:0}s" : "";
        Console.Error.WriteLine($"{what}: {p.Done}/{p.Total} frames ({p.Rate:0.0} frames/s{eta})");
    };
}
