using Cmtm.Flow;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;

namespace Cmtm.Inference;

/// <summary>One `cmtm segment` run: input, model, flow and outputs (every CLI option of segment is a field).</summary>
public sealed record SegmentRequest
{
    /// <summary>Video file, frames folder or image glob (<see cref="FrameSources.Open"/>).</summary>
    public required string Input { get; init; }
    /// <summary>What to write and where; <see cref="SegmentOptions.Fps"/> is replaced by a video input's own frame rate.</summary>
    public required SegmentOptions Output { get; init; }
    /// <summary>Checkpoint; null = the shipped model (<see cref="ShippedModel.Choose"/>).</summary>
    public string? Weights { get; init; }
    /// <summary>auto (from the checkpoint) or cmtm-b0..b5 / fakeflow-b0..b5.</summary>
    public string Arch { get; init; } = "auto";
    /// <summary>Model input size; null = the checkpoint's.</summary>
    public int? Resolution { get; init; }
    /// <summary>farneback, raft, or a folder of flow images matched to frames by stem.</summary>
    public string Flow { get; init; } = "farneback";
    /// <summary>RAFT checkpoint for <see cref="Flow"/> = raft.</summary>
    public string? RaftWeights { get; init; }
    /// <summary>RAFT iterations.</summary>
    public int Iters { get; init; } = 20;
    /// <summary>cpu or cuda[:N].</summary>
    public string Device { get; init; } = "cpu";
    public Precision Precision { get; init; } = Precision.Fp32;
}

/// <summary>
/// The library entry point of `cmtm segment` (and of `cmtm serve`'s jobs, so the page's outputs equal the CLI's):
/// opens the input, checks the output folder and precomputed flows before the model loads, loads the model, runs
/// <see cref="Segmenter"/> with the chosen flow.
/// </summary>
public static class SegmentRun
{
    /// <param name="say">the run's header line (the CLI prints it on stdout).</param>
    /// <param name="note">notes and the shipped-model line (the CLI prints them on stderr); notes start with "note: ".</param>
    public static SegmentSummary Run(SegmentRequest r, Action<string>? say = null, Action<string>? note = null, ProgressLine? progress = null,
        CancellationToken cancel = default)
    {
        var device = TorchRuntime.ParseDevice(r.Device);
        var choice = ShippedModel.Choose(r.Weights);
        var source = FrameSources.Open(r.Input);
        // fail fast, before the model loads: output folder and precomputed flows covering every frame
        Segmenter.CheckOutputDir(r.Output.OutputDir, r.Output.Overwrite);
        using var flows = FlowSource.Open(r.Flow, method => FlowEstimators.Create(method, r.RaftWeights, r.Iters, device));
        if (source is FolderFrameSource folder) flows.CheckCovers(folder.Files.Select(f => Path.GetFileNameWithoutExtension(f)));
        var model = ModelCheckpoint.Load(choice.Path, r.Arch, r.Resolution, device, n => note?.Invoke("note: " + n));
        using var predictor = new FramePredictor(model, device, r.Precision, ownsModel: true);
        if (choice.UsingLine(model.Config) is string line) note?.Invoke(line);
        var segmenter = new Segmenter(predictor, flows);
        var fps = source is VideoFrameSource v && v.Fps > 0 ? v.Fps : r.Output.Fps;
        say?.Invoke($"segment: {source.Path} ({(source.Count is int n ? $"{n} frames" : "frame count unknown")}) with {model.Config.Name} @ {model.Config.Resolution} {r.Precision.Name()}, flow {flows.Description} -> {r.Output.OutputDir}");
        return segmenter.Run(source, r.Output with { Fps = fps, Note = r.Output.Note ?? (s => note?.Invoke("note: " + s)) }, progress, cancel);
    }
}
