using Cmtm.Data.Datasets;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;
using Cmtm.Sharding;

namespace Cmtm.Evaluation;

/// <summary>
/// Where the flow image of each dataset frame comes from when a model is evaluated: the dataset's JPEGFlows (in the
/// dataset, or in a folder of their own in the same layout, <see cref="DatasetReader.FlowRoot"/>; paired with the frames
/// exactly as the dataset reader pairs them), a folder <c>&lt;dir&gt;/&lt;sequence&gt;/&lt;stem&gt;.jpg|png</c> matched by
/// frame stem, or an estimator run on the frames (forward flow, the last frame backward).
/// </summary>
public sealed class DatasetFlows
{
    private enum Kind { Dataset, Folder, Estimator }

    private readonly Kind kind;
    private readonly string? folder;
    private readonly IFlowEstimator? estimator;

    private DatasetFlows(Kind kind, string? folder, IFlowEstimator? estimator, string description, string? flowsRoot = null)
    {
        this.kind = kind; this.folder = folder; this.estimator = estimator; Description = description; FlowsRoot = flowsRoot;
    }

    /// <summary>With <see cref="FromDataset"/>: the folder holding the dataset's flows in its layout (null = the dataset root).</summary>
    public string? FlowsRoot { get; }

    /// <summary>Short text for reports: "dataset JPEGFlows", "folder DIR" or the estimator's name.</summary>
    public string Description { get; }

    /// <summary>
    /// The dataset's JPEGFlows (the reader then requires a flow for every frame), read from <paramref name="flowsRoot"/>
    /// in the dataset's layout when the flows are kept apart from the dataset (<c>--flows DIR</c>), else from the dataset.
    /// </summary>
    public static DatasetFlows FromDataset(string? flowsRoot = null)
    {
        if (flowsRoot != null && !Directory.Exists(flowsRoot)) throw new CmtmException(flowsRoot, "flow folder (--flows) does not exist");
        return new(Kind.Dataset, null, null, flowsRoot == null ? "dataset JPEGFlows" : "dataset JPEGFlows in " + flowsRoot, flowsRoot);
    }

    /// <summary>Flow images under <paramref name="root"/>/&lt;sequence&gt;/, matched to frames by file stem.</summary>
    public static DatasetFlows FromFolder(string root)
    {
        if (!Directory.Exists(root)) throw new CmtmException(root, "flow folder does not exist");
        return new(Kind.Folder, root, null, "folder " + root);
    }

    /// <summary>
    /// The flow choice of a model run over a dataset, made in one place: the dataset's flows kept in a folder of their own
    /// (<paramref name="flowsRoot"/>), else <paramref name="folderOrMethod"/> (a folder with one sub-folder per sequence,
    /// or a method for <paramref name="createEstimator"/>), else the dataset's JPEGFlows when that folder exists, else
    /// Farnebäck (said through <paramref name="note"/>). The estimator, when one is made, is the caller's to dispose.
    /// </summary>
    public static (DatasetFlows Flows, IFlowEstimator? Estimator) Choose(DatasetKind kind, string root, string? flowsRoot, string? folderOrMethod,
        Func<string, IFlowEstimator> createEstimator, Action<string>? note = null)
    {
        if (flowsRoot != null && folderOrMethod != null)
            throw new CmtmException("flows", "give either the dataset's flows in a folder of their own or a flow folder or method, not both");
        if (flowsRoot != null) return (FromDataset(flowsRoot), null);
        if (folderOrMethod != null && Directory.Exists(folderOrMethod)) return (FromFolder(folderOrMethod), null);
        if (folderOrMethod != null) { var e = createEstimator(folderOrMethod); return (Estimate(e), e); }
        var datasetFlows = DatasetReader.FlowRoot(kind, root, null);
        if (Directory.Exists(datasetFlows)) return (FromDataset(), null);
        note?.Invoke($"{datasetFlows} not found; computing flows with farneback (use --flows DIR for flows computed by cmtm flow --dataset ... --flows DIR, or --flow raft --raft-weights F for RAFT flows)");
        var farneback = new FarnebackFlow();
        return (Estimate(farneback), farneback);
    }

    /// <summary>Flows computed on the fly with <paramref name="estimator"/> (not disposed here).</summary>
    public static DatasetFlows Estimate(IFlowEstimator estimator) => new(Kind.Estimator, null, estimator, estimator.Name);

    /// <summary>The dataset parts this flow choice needs besides images and annotations.</summary>
    public DatasetParts RequiredParts => kind == Kind.Dataset ? DatasetParts.Flows : DatasetParts.None;

    /// <summary>Checks up front that every frame has a flow, naming the first one without.</summary>
    public void Validate(DatasetRecord dataset)
    {
        foreach (var seq in dataset.Sequences)
        {
            switch (kind)
            {
                case Kind.Dataset:
                    var missing = seq.Frames.FirstOrDefault(f => f.Flow == null);
                    if (missing != null)
                    {
                        var k = DatasetReader.ParseKind(dataset.Kind);
                        var hint = DatasetReader.FlowCommandHint(k, dataset.Root, dataset.Flows);
                        throw new CmtmException(DatasetReader.FlowRoot(k, dataset.Root, dataset.Flows),
                            $"no flow image for frame '{missing.Name}' of sequence '{seq.Name}'" + (hint != null ? "; " + hint : ""));
                    }
                    break;
                case Kind.Folder:
                    FolderOf(seq).CheckCovers(seq.Frames.Select(f => f.Image != null ? Path.GetFileNameWithoutExtension(f.Image) : f.Name));
                    break;
                case Kind.Estimator:
                    if (seq.Frames.Count < 2) throw new CmtmException(seq.Frames.FirstOrDefault()?.Image ?? seq.Name,
                        $"sequence '{seq.Name}' has {seq.Frames.Count} frame(s); computing flow needs at least two (pass precomputed flows with --flow DIR)");
                    break;
            }
        }
    }

    private FlowImageFolder FolderOf(SequenceRecord seq) => FlowSource.Folder(Path.Combine([folder!, .. seq.Name.Split('/')]));

    /// <summary>The flow source of one sequence whose frames come from <see cref="SequenceFrames"/>.</summary>
    public FlowSource For(SequenceRecord seq)
    {
        switch (kind)
        {
            case Kind.Dataset:
                return FlowSource.PerFrame(frame =>
                {
                    var flow = seq.Frames[frame.Index].Flow ?? throw new CmtmException(frame.Source, $"no flow image for frame '{seq.Frames[frame.Index].Name}' of sequence '{seq.Name}'");
                    return FolderFrameSource.Read(flow, frame.Index);
                }, Description);
            case Kind.Folder:
                var images = FolderOf(seq);
                return FlowSource.PerFrame(frame =>
                {
                    var imageStem = Path.GetFileNameWithoutExtension(seq.Frames[frame.Index].Image!);
                    return images.Read(new RgbFrame(frame.Index, imageStem, frame.Width, frame.Height, frame.Rgb, frame.Source));
                }, Description);
            default:
                return FlowSource.Compute(estimator!);
        }
    }
}

/// <summary>
/// The image frames of one dataset sequence, streamed one at a time. Each frame's <see cref="RgbFrame.Stem"/> is the
/// name its result must have (<see cref="ResultsFolder"/>: the annotation's stem, else the frame name), and
/// <see cref="RgbFrame.Index"/> its position in <see cref="SequenceRecord.Frames"/>.
/// </summary>
public sealed class SequenceFrames(SequenceRecord sequence) : IFrameSource
{
    public string Path => sequence.Frames.Count > 0 && sequence.Frames[0].Image is string f ? System.IO.Path.GetDirectoryName(f)! : sequence.Name;
    public int? Count => sequence.Frames.Count;

    public static string ResultStem(FrameRecord frame) =>
        frame.Annotation != null ? System.IO.Path.GetFileNameWithoutExtension(frame.Annotation) : frame.Name;

    public IEnumerator<RgbFrame> GetEnumerator()
    {
        RgbFrame? first = null;
        for (var i = 0; i < sequence.Frames.Count; i++)
        {
            var rec = sequence.Frames[i];
            var image = rec.Image ?? throw new CmtmException(rec.Name, $"frame '{rec.Name}' of sequence '{sequence.Name}' has no image");
            var read = FolderFrameSource.Read(image, i);
            var frame = new RgbFrame(i, ResultStem(rec), read.Width, read.Height, read.Rgb, read.Source);
            first ??= frame;
            FrameSources.CheckSize(first, frame);
            yield return frame;
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Speed of a model run over a dataset (model-only time excludes decoding, flow and writing).</summary>
public sealed record InferenceTiming(string Model, string Flow, int Frames, double ModelSeconds, double TotalSeconds)
{
    public double ModelFps => ModelSeconds > 0 ? Frames / ModelSeconds : 0;
    /// <summary>Decode + flow + model + write, over all frames.</summary>
    public double EndToEndFps => TotalSeconds > 0 ? Frames / TotalSeconds : 0;
}

public sealed record ModelEvaluationOptions
{
    /// <summary>Results folder to write (<c>&lt;results&gt;/&lt;sequence&gt;/&lt;stem&gt;.png</c>); replaced only when every sequence succeeded.</summary>
    public required string ResultsDir { get; init; }
    /// <summary>Replace a non-empty results folder (otherwise an error).</summary>
    public bool Overwrite { get; init; }
    /// <summary>DAVIS palette PNGs (index 0/1) instead of 0/255; null = palette for DAVIS only (as the official code).</summary>
    public bool? Palette { get; init; }
    /// <summary>Makes a progress line per sequence (label "model [i/n] seq"); null = silent.</summary>
    public Func<string, ProgressLine>? Progress { get; init; }
    /// <summary>Scoring options (threads, progress).</summary>
    public EvaluationOptions? Scoring { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// Model-driven evaluation: runs a <see cref="FramePredictor"/> over every frame of a dataset through
/// <see cref="Segmenter"/> (one sequence at a time, streamed), writes the results folder like the official code
/// (DAVIS palette PNGs, others 0/255) with each mask at its annotation's size (<see cref="MaskSize"/>: the logits are
/// resized to it, so frames smaller than their annotations are scored as they must be), then scores that folder with
/// <see cref="Evaluator"/>. The validation inside <c>cmtm train</c> is this same computation (<see cref="Training.Validation"/>).
/// </summary>
public static class ModelEvaluation
{
    /// <summary>
    /// Loads the dataset with the parts inference needs (images, annotations, and flows if they come from the dataset,
    /// from <see cref="DatasetFlows.FlowsRoot"/> when set). DAVIS sequences listed without a frames folder are left out
    /// and named in <see cref="DatasetRecord.SkippedSequences"/> (e.g. the 10 of the 20 DAVIS-2016 val sequences that
    /// ../shared holds annotations for but no frames); a model cannot run on them. Used by <c>cmtm evaluate --weights</c>
    /// and by the validation inside <c>cmtm train</c>.
    /// </summary>
    public static DatasetRecord LoadDataset(DatasetKind kind, string root, DatasetFlows flows, string split = "val")
    {
        if (kind is DatasetKind.YouTubeVos18 or DatasetKind.Dutsv2)
            throw new CmtmException(kind.ToString(), "is a training set; evaluate supports davis16, fbms, yto and lvd");
        var ds = DatasetReader.Load(kind, root, DatasetParts.Images | DatasetParts.Annotations | flows.RequiredParts, split,
            flows.FlowsRoot, skipSequencesWithoutImages: true);
        flows.Validate(ds);
        return ds;
    }

    /// <summary>
    /// The size each frame's mask must have to be scored: its annotation's (which may be larger than the frame, e.g.
    /// half-size frames with full-size DAVIS annotations), or the frame's own when it has no annotation.
    /// </summary>
    public static (int Width, int Height) MaskSize(SequenceRecord sequence, RgbFrame frame) =>
        sequence.Frames[frame.Index].Annotation is string annotation ? PngCodec.ReadSize(annotation) : (frame.Width, frame.Height);

    /// <summary>
    /// Checks that <paramref name="resultsDir"/> may be written (not a file; empty or absent unless
    /// <paramref name="overwrite"/>) so callers can fail before loading a model; returns the full path.
    /// </summary>
    public static string CheckResultsTarget(string resultsDir, bool overwrite)
    {
        var target = Path.GetFullPath(resultsDir);
        if (File.Exists(target)) throw new CmtmException(target, "results path is a file, expected a folder");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any() && !overwrite)
            throw new CmtmException(target, "results folder is not empty (use --overwrite to replace it)");
        return target;
    }

    /// <summary>Writes the results folder for <paramref name="dataset"/> (see <see cref="ModelEvaluationOptions.ResultsDir"/>).</summary>
    public static InferenceTiming WriteResults(DatasetRecord dataset, FramePredictor predictor, DatasetFlows flows, ModelEvaluationOptions options)
    {
        var target = CheckResultsTarget(options.ResultsDir, options.Overwrite);
        using var stage = StagedFolder.Create(target, "results folder");
        var staging = stage.Path;

        var palette = options.Palette ?? dataset.Kind == "davis16";
        int frames = 0;
        double modelSeconds = 0, totalSeconds = 0;
        try
        {
            for (var s = 0; s < dataset.Sequences.Count; s++)
            {
                var seq = dataset.Sequences[s];
                var summary = SegmentSequence(seq, predictor, flows, staging, palette, overwrite: false,
                    options.Progress?.Invoke($"model [{s + 1}/{dataset.Sequences.Count}] {seq.Name}"), options.Cancellation);
                frames += summary.Frames;
                modelSeconds += summary.ModelSeconds;
                totalSeconds += summary.TotalSeconds;
            }
            stage.Commit();
        }
        catch (Exception e)
        {
            stage.Dispose();
            var named = stage.AsTargetError(e);
            if (ReferenceEquals(named, e)) throw;
            throw named;
        }
        var m = predictor.Model.Config;
        return new InferenceTiming($"{m.Name} @ {m.Resolution} {predictor.Precision.Name()}", flows.Description, frames, modelSeconds, totalSeconds);
    }

    /// <summary>One sequence's masks into <c>&lt;resultsRoot&gt;/&lt;sequence&gt;</c> (staged: the folder appears only complete).</summary>
    private static SegmentSummary SegmentSequence(SequenceRecord seq, FramePredictor predictor, DatasetFlows flows, string resultsRoot, bool palette,
        bool overwrite, ProgressLine? progress, CancellationToken cancel) =>
        new Segmenter(predictor, flows.For(seq)).Run(new SequenceFrames(seq), new SegmentOptions
        {
            OutputDir = Path.Combine([resultsRoot, .. seq.Name.Split('/')]),
            Palette = palette,
            Overwrite = overwrite,
            MaskSize = frame => MaskSize(seq, frame),
        }, progress, cancel);

    /// <summary>
    /// One shard of the dataset's sequences (<see cref="ShardRunner"/>) into the shared results folder
    /// <see cref="ModelEvaluationOptions.ResultsDir"/>: each sequence of this shard not yet marked done is written to
    /// &lt;results&gt;/&lt;sequence&gt; (staged, replacing what a killed task left); nothing is scored. Once every shard
    /// is done, <c>cmtm evaluate --results</c> scores the merged folder.
    /// </summary>
    public static ShardReport WriteShard(DatasetRecord dataset, FramePredictor predictor, DatasetFlows flows, ModelEvaluationOptions options,
        ShardSelection shard, ShardRunOptions run)
    {
        var target = Path.GetFullPath(options.ResultsDir);
        if (File.Exists(target)) throw new CmtmException(target, "results path is a file, expected a folder");
        var palette = options.Palette ?? dataset.Kind == "davis16";
        var plan = ShardPlan.Split(dataset.Sequences.Select(s => new ShardItem(s.Name, s.Frames.Count)).ToList(), shard.Spec.Count);
        var byName = dataset.Sequences.ToDictionary(s => s.Name, StringComparer.Ordinal);
        return ShardRunner.Run(target, plan, shard, item =>
            SegmentSequence(byName[item.Name], predictor, flows, target, palette, overwrite: true,
                options.Progress?.Invoke($"model {item.Name}"), options.Cancellation).Frames, run with { Cancellation = options.Cancellation });
    }

    /// <summary>Writes the results folder and scores it; the report carries the <see cref="InferenceTiming"/>.</summary>
    public static EvaluationReport Run(DatasetRecord dataset, FramePredictor predictor, DatasetFlows flows, ModelEvaluationOptions options)
    {
        var timing = WriteResults(dataset, predictor, flows, options);
        var report = Evaluator.Evaluate(dataset, new ResultsFolder(Path.GetFullPath(options.ResultsDir)), Evaluator.DefaultProtocol(dataset.Kind), options.Scoring);
        return report with { Inference = timing };
    }
}
