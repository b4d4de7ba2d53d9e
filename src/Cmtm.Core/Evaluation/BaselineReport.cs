using System.Globalization;
using System.Text;
using System.Text.Json;
using Cmtm.Data.Datasets;
using Cmtm.Data.Sampling;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;
using Cmtm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Evaluation;

/// <summary>
/// One row of a baseline table: a way to get a mask for every annotated frame of a dataset. Made by the factories:
/// a model run (<see cref="Model"/>), the same architecture untrained (<see cref="Untrained"/>), the motion threshold
/// (<see cref="MotionThreshold"/>) or a folder of masks written by any method (<see cref="ResultsFolder"/>).
/// </summary>
public abstract class BaselineMethod
{
    /// <summary>Short name: the table's row and column label, and the name of its results folder.</summary>
    public string Name { get; }
    /// <summary>What the row is, for the table's note column.</summary>
    public string Description { get; }

    private protected BaselineMethod(string name, string description) { Name = name; Description = description; }

    internal abstract EvaluationReport Score(BaselineContext context);

    /// <summary>A model run over every frame (results written to &lt;out&gt;/results/&lt;name&gt;/); the predictor is not disposed.</summary>
    public static BaselineMethod Model(string name, string description, FramePredictor predictor) => new ModelRun(name, description, _ => predictor, owned: false);

    /// <summary>
    /// The architecture of <paramref name="config"/> with random initialisation (<see cref="BaselineReport.UntrainedModel"/>,
    /// fixed <paramref name="seed"/>): what the model would score without training. Built when scored, then disposed.
    /// </summary>
    public static BaselineMethod Untrained(ModelConfig config, Device? device = null, long seed = 0) =>
        new ModelRun("untrained", $"{config.Name} at {config.Resolution} px, random initialisation (seed {seed}), not trained",
            _ => new FramePredictor(BaselineReport.UntrainedModel(config, seed, device), device, ownsModel: true), owned: true);

    /// <summary>
    /// <see cref="Validation.MotionThreshold"/> on each frame's flow image (flow colour far from the frame's median colour:
    /// &gt; mean + 1 std); a flow smaller than the annotation (half-size frames) gives a mask resized to it (nearest).
    /// </summary>
    public static BaselineMethod MotionThreshold() => new Motion();

    /// <summary>Masks written by any method: &lt;folder&gt;/&lt;sequence&gt;/&lt;stem&gt;.png, nonzero = foreground (<see cref="Evaluation.ResultsFolder"/>).</summary>
    public static BaselineMethod ResultsFolder(string name, string folder, string? description = null) =>
        new Folder(name, description ?? $"masks in {folder} (nonzero = foreground)", folder);

    private sealed class ModelRun(string name, string description, Func<BaselineContext, FramePredictor> predictor, bool owned) : BaselineMethod(name, description)
    {
        internal override EvaluationReport Score(BaselineContext c)
        {
            var p = predictor(c);
            try
            {
                return ModelEvaluation.Run(c.Dataset, p, DatasetFlows.FromFolder(c.FlowRoot), new ModelEvaluationOptions
                {
                    ResultsDir = c.ResultsDir(Name),
                    Overwrite = true, // inside the report's own folder, which the caller checked
                    Progress = c.Progress,
                    Scoring = c.Scoring,
                    Cancellation = c.Cancellation,
                });
            }
            finally { if (owned) p.Dispose(); }
        }
    }

    private sealed class Motion() : BaselineMethod("motion threshold",
        "flow colour distance from the frame's median flow colour > mean + 1 std (no learning)")
    {
        internal override EvaluationReport Score(BaselineContext c)
        {
            var folders = c.Dataset.Sequences.ToDictionary(s => s.Name, s => FlowSource.Folder(Path.Combine([c.FlowRoot, .. s.Name.Split('/')])));
            var provider = new DelegateResultsProvider(Name, (seq, frame, gt) =>
            {
                var flow = RgbImage.Load(folders[seq.Name].PathOf(Path.GetFileNameWithoutExtension(frame.Image ?? frame.Name)));
                var mask = Validation.MotionThreshold(flow);
                if (flow.Width != gt.Width || flow.Height != gt.Height) mask = PilResize.Nearest(mask, flow.Width, flow.Height, gt.Width, gt.Height);
                return new BinaryMask(gt.Width, gt.Height, mask);
            });
            return Evaluator.Evaluate(c.Dataset, provider, Evaluator.DefaultProtocol(c.Dataset.Kind), c.Scoring);
        }
    }

    private sealed class Folder(string name, string description, string folder) : BaselineMethod(name, description)
    {
        internal override EvaluationReport Score(BaselineContext c) =>
            Evaluator.Evaluate(c.Dataset, new Evaluation.ResultsFolder(folder), Evaluator.DefaultProtocol(c.Dataset.Kind), c.Scoring);
    }
}

/// <summary>What a <see cref="BaselineMethod"/> is scored on and with.</summary>
internal sealed record BaselineContext(DatasetRecord Dataset, string FlowRoot, string OutDir, EvaluationOptions Scoring,
    Func<string, ProgressLine>? Progress, CancellationToken Cancellation)
{
    public string ResultsDir(string method) => Path.Combine(OutDir, "results", BaselineReport.Slug(method));
}

public sealed record BaselineOptions
{
    /// <summary>The report's folder: results/&lt;method&gt;/ for model runs (baselines.md and baselines.json by <see cref="BaselineReport.Write"/>).</summary>
    public string OutDir { get; init; } = "";
    /// <summary>Flow images &lt;dir&gt;/&lt;sequence&gt;/&lt;stem&gt;.jpg|png for every frame (<see cref="BaselineReport.PrepareFlows"/>).</summary>
    public string FlowRoot { get; init; } = "";
    /// <summary>Where the flows come from, for the report ("Farneback, computed into ...").</summary>
    public string FlowDescription { get; init; } = "";
    /// <summary>Scoring threads.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Progress lines on stderr (model runs and scoring).</summary>
    public bool Progress { get; init; } = true;
    /// <summary>Receives one line as each method starts.</summary>
    public Action<string>? Say { get; init; }
    /// <summary>Extra lines for the report (e.g. which sequences were left out and why).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
    public CancellationToken Cancellation { get; init; }
}

public sealed record BaselineRow(string Name, string Description, EvaluationReport Report);

/// <summary>Every method scored on the same sequences with the same protocol.</summary>
public sealed record BaselineTable(string Dataset, string Root, string Flow, IReadOnlyList<string> Notes, IReadOnlyList<BaselineRow> Rows)
{
    public EvaluationProtocol Protocol => Rows[0].Report.Protocol;
    /// <summary>J&amp;F-Mean (DAVIS) or J-Mean (IoU protocol).</summary>
    public string Headline => Rows[0].Report.Headline;
    public IReadOnlyList<SequenceEvaluation> Sequences => Rows[0].Report.Sequences;
    /// <summary>The overall columns shown in the summary: J, F and J&amp;F (DAVIS) or J.</summary>
    public IReadOnlyList<string> SummaryColumns => Protocol == EvaluationProtocol.Davis2016 ? ["J-Mean", "F-Mean", "J&F-Mean"] : ["J-Mean"];
}

/// <summary>
/// A model's scores beside its baselines on the same sequences and protocol: the model, the same
/// architecture untrained, the motion threshold and published result masks, with per-sequence rows, as text,
/// markdown and JSON. Used by `cmtm demo` and `cmtm evaluate --baselines`.
/// </summary>
public static class BaselineReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// A dataset with the images and annotations of every frame. DAVIS: the split's sequences whose frames are on disk
    /// (the others are listed in <paramref name="withoutFrames"/>; none at all is an error); other datasets: every sequence.
    /// </summary>
    public static DatasetRecord LoadWithFrames(DatasetKind kind, string root, string split, out IReadOnlyList<string> withoutFrames)
    {
        if (kind is DatasetKind.YouTubeVos18 or DatasetKind.Dutsv2)
            throw new CmtmException(kind.ToString(), "is a training set; baselines are scored on davis16, fbms, yto and lvd");
        if (kind != DatasetKind.Davis16)
        {
            withoutFrames = [];
            return DatasetReader.Load(kind, root, DatasetParts.Images | DatasetParts.Annotations, split);
        }
        var all = DatasetReader.Davis(root, split, DatasetParts.Annotations);
        var imageRoot = DatasetReader.PartRoot(kind, root, DatasetParts.Images);
        var keep = all.Sequences.Where(s => Directory.Exists(Path.Combine(imageRoot, s.Name))).ToList();
        withoutFrames = all.Sequences.Where(s => !keep.Contains(s)).Select(s => s.Name).ToList();
        if (keep.Count == 0) throw new CmtmException(imageRoot, $"no sequence of the {split} split has frames");
        foreach (var s in keep)
            if (s.Frames.FirstOrDefault(f => f.Image == null) is { } missing)
                throw new CmtmException(Path.Combine(imageRoot, s.Name, missing.Name + ".jpg"), $"missing image of frame {missing.Name} of sequence '{s.Name}'");
        return all with { Sequences = keep };
    }

    /// <summary>Computes the flow images of every frame that has none yet into <paramref name="flowRoot"/> (resumable).</summary>
    public static DatasetFlowSummary PrepareFlows(DatasetRecord dataset, string flowRoot, IFlowEstimator estimator, Action<string>? say = null, bool progress = true)
    {
        return DatasetFlowExport.Run(dataset.Sequences, flowRoot, estimator, new FlowExportOptions { OutputDir = flowRoot }, say,
            progress ? FlowProgress.Printer($"flow ({estimator.Name})") : null);
    }

    /// <summary>A model of <paramref name="config"/> freshly initialised from <paramref name="seed"/> (in eval mode).</summary>
    public static VosModel UntrainedModel(ModelConfig config, long seed = 0, Device? device = null)
    {
        TorchSharp.torch.random.manual_seed(seed);
        var model = new VosModel(config);
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>Scores every method on <paramref name="dataset"/> (flows from <see cref="BaselineOptions.FlowRoot"/>).</summary>
    public static BaselineTable Run(DatasetRecord dataset, IReadOnlyList<BaselineMethod> methods, BaselineOptions options)
    {
        if (methods.Count == 0) throw new ArgumentException("no methods to score", nameof(methods));
        if (options.OutDir.Length == 0 || options.FlowRoot.Length == 0) throw new ArgumentException("OutDir and FlowRoot are required", nameof(options));
        var dup = methods.GroupBy(m => Slug(m.Name)).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new CmtmException(dup.First().Name, "two methods of the table share this name");
        DatasetFlows.FromFolder(options.FlowRoot).Validate(dataset); // every frame has a flow, before any model runs
        var rows = new List<BaselineRow>();
        for (var i = 0; i < methods.Count; i++)
        {
            var m = methods[i];
            options.Say?.Invoke($"[{i + 1}/{methods.Count}] {m.Name}: {m.Description}");
            var scoring = new EvaluationOptions
            {
                MaxParallelism = Math.Max(1, options.Threads),
                Cancellation = options.Cancellation,
                Progress = options.Progress ? EvaluationProgress.Printer($"scoring {m.Name}") : null,
            };
            var context = new BaselineContext(dataset, options.FlowRoot, options.OutDir, scoring,
                options.Progress ? label => new ProgressLine($"{m.Name}: {label}") : null, options.Cancellation);
            rows.Add(new BaselineRow(m.Name, m.Description, m.Score(context)));
        }
        return new BaselineTable(dataset.Kind, dataset.Root, options.FlowDescription, options.Notes, rows);
    }

    /// <summary>
    /// <see cref="Run"/> into a report folder <paramref name="target"/> that appears only complete (staged; an error leaves
    /// nothing): results/&lt;method&gt;/, baselines.md, baselines.json, and flows/ when <paramref name="flowRoot"/> is null
    /// (then computed with <paramref name="estimator"/>). <paramref name="options"/>' OutDir and FlowRoot are set here.
    /// </summary>
    public static BaselineTable RunInFolder(DatasetRecord dataset, IReadOnlyList<BaselineMethod> methods, string target, bool overwrite,
        string? flowRoot, IFlowEstimator? estimator, BaselineOptions options)
    {
        target = ModelEvaluation.CheckResultsTarget(target, overwrite);
        using var stage = StagedFolder.Create(target, "report folder");
        try
        {
            if (flowRoot == null)
            {
                if (estimator == null) throw new ArgumentException("flows need a folder or an estimator", nameof(estimator));
                flowRoot = Path.Combine(stage.Path, "flows");
                options.Say?.Invoke($"computing {estimator.Name} flows of {dataset.Sequences.Count} sequences ({dataset.FrameCount} frames)");
                PrepareFlows(dataset, flowRoot, estimator, progress: options.Progress);
                options = options with { FlowDescription = $"{estimator.Name}, computed into {Path.Combine(target, "flows")}" };
            }
            var table = Run(dataset, methods, options with { OutDir = stage.Path, FlowRoot = flowRoot });
            Write(table, stage.Path);
            stage.Commit();
            return table;
        }
        catch (Exception e)
        {
            stage.Dispose();
            var named = stage.AsTargetError(e);
            if (ReferenceEquals(named, e)) throw;
            throw named;
        }
    }

    /// <summary>A method name as a folder name: lower case, runs of other characters than letters and digits as '-'.</summary>
    public static string Slug(string name)
    {
        var sb = new StringBuilder();
        foreach (var ch in name.ToLowerInvariant())
            if (char.IsAsciiLetterOrDigit(ch)) sb.Append(ch);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
        var s = sb.ToString().Trim('-');
        return s.Length == 0 ? "method" : s;
    }

    /// <summary>Plain text for the console: overall numbers per method, then the headline per sequence.</summary>
    public static string Text(BaselineTable t) => ReportWriters.CompareTable(t.Rows.Select(r => (r.Name, r.Report)).ToList());

    /// <summary>Markdown: a summary table (one row per method, with what it is) and a per-sequence table of the headline metric.</summary>
    public static string Markdown(BaselineTable t)
    {
        var sb = new StringBuilder();
        var cols = t.SummaryColumns;
        sb.AppendLine($"| method | {string.Join(" | ", cols.Select(Short))} | what it is |");
        sb.AppendLine($"|---|{string.Concat(cols.Select(_ => "---:|"))}---|");
        foreach (var r in t.Rows)
            sb.AppendLine($"| {Cell(r.Name)} | {string.Join(" | ", cols.Select(c => F3(r.Report.Overall[c])))} | {Cell(r.Description)} |");
        sb.AppendLine();
        sb.AppendLine($"| sequence ({Short(t.Headline)}) | frames | {string.Join(" | ", t.Rows.Select(r => Cell(r.Name)))} |");
        sb.AppendLine($"|---|---:|{string.Concat(t.Rows.Select(_ => "---:|"))}");
        for (var i = 0; i < t.Sequences.Count; i++)
        {
            var s = t.Sequences[i];
            sb.AppendLine($"| {Cell(s.Name)} | {s.Frames.Count} | {string.Join(" | ", t.Rows.Select(r => F3(r.Report.Sequences[i].Metrics[t.Headline])))} |");
        }
        sb.AppendLine($"| **mean** | {t.Sequences.Sum(s => s.Frames.Count)} | {string.Join(" | ", t.Rows.Select(r => F3(r.Report.Overall[t.Headline])))} |");
        sb.AppendLine();
        sb.AppendLine($"{t.Sequences.Count} sequence{(t.Sequences.Count == 1 ? "" : "s")} of {t.Dataset} (`{t.Root}`); {Evaluator.ProtocolDescription(t.Protocol)}." +
                      (t.Flow.Length > 0 ? $" Flow: {t.Flow}." : ""));
        foreach (var n in t.Notes) sb.AppendLine().AppendLine(n);
        return sb.ToString();
    }

    /// <summary>
    /// {"dataset", "root", "protocol", "flow", "notes", "sequences": [names], "methods": [{"name", "description",
    /// "report": <see cref="ReportWriters.Json"/> without per-frame lists}]}.
    /// </summary>
    public static string Json(BaselineTable t)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("dataset", t.Dataset);
            w.WriteString("root", t.Root);
            w.WriteString("protocol", Evaluator.ProtocolDescription(t.Protocol));
            w.WriteString("flow", t.Flow);
            w.WriteStartArray("notes");
            foreach (var n in t.Notes) w.WriteStringValue(n);
            w.WriteEndArray();
            w.WriteStartArray("sequences");
            foreach (var s in t.Sequences) w.WriteStringValue(s.Name);
            w.WriteEndArray();
            w.WriteStartArray("methods");
            foreach (var r in t.Rows)
            {
                w.WriteStartObject();
                w.WriteString("name", r.Name);
                w.WriteString("description", r.Description);
                w.WritePropertyName("report");
                w.WriteRawValue(ReportWriters.Json(r.Report, perFrame: false).Trim());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    /// <summary>Writes &lt;dir&gt;/baselines.md and baselines.json (each atomically); returns their paths.</summary>
    public static (string Markdown, string Json) Write(BaselineTable t, string dir)
    {
        var md = Path.Combine(dir, "baselines.md");
        var json = Path.Combine(dir, "baselines.json");
        AtomicFile.WriteAllText(md, "# Scores beside baselines\n\n" + Markdown(t));
        AtomicFile.WriteAllText(json, Json(t));
        return (md, json);
    }

    private static string Short(string column) => column.Replace("-Mean", "");
    private static string F3(double v) => double.IsNaN(v) ? "nan" : v.ToString("0.000", Inv);
    private static string Cell(string s) => s.Replace("|", "\\|").Replace("\n", " ");
}
