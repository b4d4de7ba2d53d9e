using System.Diagnostics;
using Cmtm.Data.Datasets;
using Cmtm.IO;

namespace Cmtm.Evaluation;

/// <summary>How per-frame scores become dataset numbers.</summary>
public enum EvaluationProtocol
{
    /// <summary>
    /// DAVIS 2016: J and F on every annotated frame; per sequence the first and last frames are dropped and
    /// mean / recall / decay computed (<see cref="DavisStatistics"/>); dataset numbers are means over sequences;
    /// J&amp;F-Mean = (J-Mean + F-Mean) / 2.
    /// </summary>
    Davis2016,
    /// <summary>
    /// The IoU protocol of the official run.py for FBMS / YouTube-Objects / Long-Videos: per-frame IoU, frames
    /// whose ground truth is empty skipped, per-sequence mean, dataset = mean over sequences (sequences without a
    /// valid frame are left out); YouTube-Objects also per class (mean over the class's sequences).
    /// </summary>
    Iou,
}

public readonly record struct EvaluationProgress(int Done, int Total, double Seconds)
{
    public double Rate => Seconds > 0 ? Done / Seconds : 0;
    public double EtaSeconds => Rate > 0 ? (Total - Done) / Rate : double.NaN;

    /// <summary>Progress on stderr for <see cref="EvaluationOptions.Progress"/>: frames scored, rate, ETA; always the last.</summary>
    public static Action<EvaluationProgress> Printer(string what)
    {
        var line = new Runtime.ProgressLine(what);
        return p => line.Report(p.Done, p.Total, p.Rate, "frames", final: p.Done >= p.Total);
    }
}

public sealed class EvaluationOptions
{
    public int MaxParallelism { get; init; } = Environment.ProcessorCount;
    public double BoundTh { get; init; } = DavisMetrics.DefaultBoundTh;
    /// <summary>Called (from worker threads, serialised) at most every <see cref="ProgressInterval"/> and once at the end.</summary>
    public Action<EvaluationProgress>? Progress { get; init; }
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(2);
    public CancellationToken Cancellation { get; init; }
}

public static class Evaluator
{
    public static readonly string[] DavisColumns = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"];
    public static readonly string[] IouColumns = ["J-Mean"];

    public static EvaluationProtocol DefaultProtocol(string datasetKind) =>
        datasetKind == "davis16" ? EvaluationProtocol.Davis2016 : EvaluationProtocol.Iou;

    public static string ProtocolDescription(EvaluationProtocol p) => p switch
    {
        EvaluationProtocol.Davis2016 => "DAVIS-2016: J and F (bound_th 0.008) per frame, first and last frame of each sequence excluded, davis2017 db_statistics per sequence, dataset = mean over sequences, J&F-Mean = (J-Mean + F-Mean) / 2",
        _ => "IoU: per-frame IoU, frames with empty ground truth skipped, mean per sequence, dataset = mean over sequences",
    };

    /// <summary>
    /// Scores a results folder (one PNG per annotated frame, <see cref="ResultsFolder"/>) against a dataset's
    /// annotations with the dataset's protocol: the whole of `cmtm evaluate --results` and of each `cmtm compare` column.
    /// <paramref name="threads"/> 0 = all cores; <paramref name="progress"/> prints a progress line on stderr.
    /// </summary>
    public static EvaluationReport ScoreFolder(string datasetName, string root, string resultsDir, string split = "val", int threads = 0, bool progress = true)
    {
        var kind = DatasetReader.ParseKind(datasetName);
        if (kind is DatasetKind.YouTubeVos18 or DatasetKind.Dutsv2)
            throw new CmtmException(datasetName, "is a training set; evaluation supports davis16, fbms, yto and lvd");
        var ds = DatasetReader.Load(kind, root, DatasetParts.Annotations, split);
        var options = new EvaluationOptions
        {
            MaxParallelism = threads > 0 ? threads : Environment.ProcessorCount,
            Progress = progress ? EvaluationProgress.Printer($"scoring {resultsDir}") : null,
        };
        return Evaluate(ds, new ResultsFolder(resultsDir), DefaultProtocol(ds.Kind), options);
    }

    public static EvaluationReport Evaluate(DatasetRecord dataset, IResultsProvider results, EvaluationProtocol protocol, EvaluationOptions? options = null)
    {
        options ??= new EvaluationOptions();
        var sw = Stopwatch.StartNew();
        results.Validate(dataset);

        var tasks = new List<(int Seq, int Frame)>();
        var perSeq = new FrameScore[dataset.Sequences.Count][];
        for (var s = 0; s < dataset.Sequences.Count; s++)
        {
            var annotated = dataset.Sequences[s].Frames.Where(f => f.Annotation != null).ToArray();
            perSeq[s] = new FrameScore[annotated.Length];
            for (var i = 0; i < annotated.Length; i++)
            {
                perSeq[s][i] = new FrameScore(annotated[i].Name, double.NaN, double.NaN, false);
                tasks.Add((s, i));
            }
        }
        var annotatedFrames = dataset.Sequences.Select(q => q.Frames.Where(f => f.Annotation != null).ToArray()).ToArray();

        var done = 0;
        var progressLock = new object();
        var lastReport = TimeSpan.Zero;
        var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.MaxParallelism), CancellationToken = options.Cancellation };
        try
        {
            // Each worker keeps its last two masks and decodes the next frames into them (no large allocations per frame).
            Parallel.For(0, tasks.Count, po, () => new Scratch(), (t, _, scratch) =>
            {
                var (s, i) = tasks[t];
                var seq = dataset.Sequences[s];
                var frame = annotatedFrames[s][i];
                var gt = scratch.Gt = PngMask.Read(frame.Annotation!, dataset.AnnotationRule, scratch.Gt);
                FrameScore score;
                if (protocol == EvaluationProtocol.Davis2016)
                {
                    var pred = scratch.Pred = results.Load(seq, frame, gt, scratch.Pred);
                    var j = DavisMetrics.Iou(gt, pred);
                    var f = DavisMetrics.Boundary(gt, pred, options.BoundTh).F;
                    score = new FrameScore(frame.Name, j, f, true);
                }
                else if (gt.IsEmpty)
                    score = new FrameScore(frame.Name, double.NaN, double.NaN, false);
                else
                {
                    var pred = scratch.Pred = results.Load(seq, frame, gt, scratch.Pred);
                    score = new FrameScore(frame.Name, DavisMetrics.Iou(gt, pred), double.NaN, true);
                }
                perSeq[s][i] = score;
                var d = Interlocked.Increment(ref done);
                if (options.Progress != null && (sw.Elapsed - lastReport >= options.ProgressInterval))
                    lock (progressLock)
                        if (sw.Elapsed - lastReport >= options.ProgressInterval)
                        {
                            lastReport = sw.Elapsed;
                            options.Progress(new EvaluationProgress(d, tasks.Count, sw.Elapsed.TotalSeconds));
                        }
                return scratch;
            }, _ => { });
        }
        catch (AggregateException ae)
        {
            var first = ae.Flatten().InnerExceptions.FirstOrDefault(e => e is CmtmException) ?? ae.Flatten().InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
            throw;
        }
        options.Progress?.Invoke(new EvaluationProgress(tasks.Count, tasks.Count, sw.Elapsed.TotalSeconds));

        var sequences = new List<SequenceEvaluation>();
        for (var s = 0; s < dataset.Sequences.Count; s++)
        {
            var seq = dataset.Sequences[s];
            sequences.Add(new SequenceEvaluation(seq.Name, seq.Category, perSeq[s], SequenceMetrics(perSeq[s], protocol)));
        }
        var overall = OverallMetrics(sequences, protocol);
        var categories = new Dictionary<string, IReadOnlyDictionary<string, double>>();
        if (sequences.Any(q => q.Category != null))
            foreach (var g in sequences.Where(q => q.Category != null).GroupBy(q => q.Category!).OrderBy(g => g.Key, StringComparer.Ordinal))
                categories[g.Key] = OverallMetrics(g.ToList(), protocol);
        sw.Stop();
        return new EvaluationReport(dataset.Kind, protocol, results.Description,
            protocol == EvaluationProtocol.Davis2016 ? DavisColumns : IouColumns,
            overall, sequences, categories, tasks.Count, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Per-sequence statistics of per-frame scores under <paramref name="protocol"/>.</summary>
    public static IReadOnlyDictionary<string, double> SequenceMetrics(IReadOnlyList<FrameScore> frames, EvaluationProtocol protocol)
    {
        var m = new Dictionary<string, double>();
        if (protocol == EvaluationProtocol.Davis2016)
        {
            // DAVIS 2016: drop first and last frame (python slice [1:-1])
            var inner = frames.Count > 2 ? frames.Skip(1).Take(frames.Count - 2).ToArray() : [];
            var j = DavisStatistics.Compute(inner.Select(f => f.J).ToArray());
            var f = DavisStatistics.Compute(inner.Select(x => x.F).ToArray());
            m["J&F-Mean"] = (j.Mean + f.Mean) / 2;
            m["J-Mean"] = j.Mean;
            m["J-Recall"] = j.Recall;
            m["J-Decay"] = j.Decay;
            m["F-Mean"] = f.Mean;
            m["F-Recall"] = f.Recall;
            m["F-Decay"] = f.Decay;
        }
        else
        {
            var valid = frames.Where(f => f.Valid).Select(f => f.J).ToArray();
            m["J-Mean"] = valid.Length == 0 ? double.NaN : valid.Average();
        }
        return m;
    }

    private static IReadOnlyDictionary<string, double> OverallMetrics(IReadOnlyList<SequenceEvaluation> sequences, EvaluationProtocol protocol)
    {
        var m = new Dictionary<string, double>();
        if (protocol == EvaluationProtocol.Davis2016)
        {
            // np.mean over sequences (NaN propagates, as in the official aggregation)
            foreach (var c in DavisColumns.Skip(1))
                m[c] = sequences.Count == 0 ? double.NaN : sequences.Sum(q => q.Metrics[c]) / sequences.Count;
            m["J&F-Mean"] = (m["J-Mean"] + m["F-Mean"]) / 2;
            return DavisColumns.ToDictionary(c => c, c => m[c]);
        }
        // IoU: sequences without a valid frame are skipped (the official YouTube-Objects loop `continue`s)
        var valid = sequences.Select(q => q.Metrics["J-Mean"]).Where(v => !double.IsNaN(v)).ToArray();
        m["J-Mean"] = valid.Length == 0 ? double.NaN : valid.Sum() / valid.Length;
        return m;
    }
}

internal sealed class Scratch
{
    public BinaryMask? Gt, Pred;
}

/// <summary>Scores of one annotated frame; <see cref="Valid"/> is false for frames the protocol skips (F is NaN under the IoU protocol).</summary>
public readonly record struct FrameScore(string Frame, double J, double F, bool Valid);

public sealed record SequenceEvaluation(string Name, string? Category, IReadOnlyList<FrameScore> Frames, IReadOnlyDictionary<string, double> Metrics)
{
    public int ValidFrames => Frames.Count(f => f.Valid);
}

public sealed record EvaluationReport(
    string Dataset,
    EvaluationProtocol Protocol,
    string Results,
    IReadOnlyList<string> Columns,
    IReadOnlyDictionary<string, double> Overall,
    IReadOnlyList<SequenceEvaluation> Sequences,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Categories,
    int Frames,
    double Seconds)
{
    /// <summary>The column shown in bar charts and comparisons: J&amp;F-Mean for DAVIS, J-Mean otherwise.</summary>
    public string Headline => Protocol == EvaluationProtocol.Davis2016 ? "J&F-Mean" : "J-Mean";

    /// <summary>Model run that produced the results (model-driven evaluation only), with model-only and end-to-end fps.</summary>
    public InferenceTiming? Inference { get; init; }
}
