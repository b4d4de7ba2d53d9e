using System.Diagnostics;
using Cmtm.Flow;
using Cmtm.IO;
using Cmtm.Runtime;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Cmtm.Inference;

/// <summary>What <see cref="Segmenter.Run"/> writes.</summary>
public sealed record SegmentOptions
{
    /// <summary>Output folder: &lt;stem&gt;.png masks, optional overlay.mp4, overlay/, logits/.</summary>
    public required string OutputDir { get; init; }
    /// <summary>DAVIS palette PNGs (index 0/1) instead of 0/255 grayscale.</summary>
    public bool Palette { get; init; }
    /// <summary>Write overlay.mp4 (mp4v) and overlay/&lt;stem&gt;.jpg.</summary>
    public bool Overlay { get; init; }
    /// <summary>Write logits/&lt;stem&gt;.npy (float32 [2,H,W]).</summary>
    public bool Logits { get; init; }
    /// <summary>Cut-outs: cutout/&lt;stem&gt;.png (RGBA, alpha = the mask) and/or composite.mp4 (the object over a background); null = none.</summary>
    public CutoutOptions? Cutout { get; init; }
    /// <summary>Also write each input frame as frames/&lt;stem&gt;.jpg (as decoded; `cmtm serve` shows them beside the outputs).</summary>
    public bool FrameImages { get; init; }
    /// <summary>Replace a non-empty output folder (otherwise that is an error).</summary>
    public bool Overwrite { get; init; }
    /// <summary>
    /// The size (width, height) of each frame's mask and logits; null (default) = the frame's own. Model-driven evaluation
    /// asks for the annotation's size, which may be larger than the frame (the logits are resized to it, then argmaxed).
    /// An overlay needs the mask at the frame's size.
    /// </summary>
    public Func<RgbFrame, (int Width, int Height)>? MaskSize { get; init; }
    /// <summary>Frame rate of the overlay video.</summary>
    public double Fps { get; init; } = 24;
    /// <summary>
    /// Receives "FILE: what was converted" for input frames or flow images that were not 8-bit RGB (grayscale, alpha,
    /// 16-bit), once per kind of conversion of frames and of flow images (naming the first file that needed it).
    /// </summary>
    public Action<string>? Note { get; init; }
}

public sealed record SegmentSummary(int Frames, double ModelSeconds, double TotalSeconds, string OutputDir)
{
    public double ModelFps => ModelSeconds > 0 ? Frames / ModelSeconds : 0;
    public double EndToEndFps => TotalSeconds > 0 ? Frames / TotalSeconds : 0;
}

/// <summary>
/// Video in, masks out: streams frames (bounded memory), gets each frame's flow from its <see cref="FlowSource"/>
/// (computed, a folder of flow images, or supplied per frame), runs the model, and writes the outputs into a staging
/// folder (<see cref="StagedFolder"/>) that replaces <see cref="SegmentOptions.OutputDir"/> only when every frame succeeded.
/// </summary>
public sealed class Segmenter
{
    private readonly FramePredictor predictor;
    private readonly FlowSource flows;

    /// <param name="flows">where each frame's flow comes from (not disposed here).</param>
    public Segmenter(FramePredictor predictor, FlowSource flows) { this.predictor = predictor; this.flows = flows; }

    /// <summary>Flows computed by <paramref name="estimator"/> (not disposed here).</summary>
    public Segmenter(FramePredictor predictor, IFlowEstimator estimator) : this(predictor, FlowSource.Compute(estimator)) { }

    /// <summary>The flow source this segmenter reads.</summary>
    public FlowSource Flows => flows;

    /// <summary>Frames paired with their flow colour images.</summary>
    public IEnumerable<(RgbFrame Frame, RgbFrame Flow)> Pairs(IFrameSource source) => flows.Pair(source);

    /// <summary>
    /// Checks that <paramref name="outputDir"/> may be written (not a file; absent or empty unless
    /// <paramref name="overwrite"/>), so callers can fail before loading a model; returns its full path.
    /// </summary>
    public static string CheckOutputDir(string outputDir, bool overwrite)
    {
        var target = Path.GetFullPath(outputDir);
        if (File.Exists(target)) throw new CmtmException(target, "output path is a file, expected a folder");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any() && !overwrite)
            throw new CmtmException(target, "output folder is not empty (use --overwrite to replace it)");
        return target;
    }

    public SegmentSummary Run(IFrameSource source, SegmentOptions options, ProgressLine? progress = null, CancellationToken cancel = default)
    {
        var target = CheckOutputDir(options.OutputDir, options.Overwrite);
        using var stage = StagedFolder.Create(target);
        var staging = stage.Path;

        VideoWriter? video = null, compositeVideo = null;
        var cutout = options.Cutout is { } co ? new Cutout(co) : null;
        var total = Stopwatch.StartNew();
        double modelSeconds = 0;
        int frames = 0;
        var notes = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            // decoding and flow of the next frame overlap the model's work on this one
            foreach (var (frame, flow) in Prefetch.Ahead(Pairs(source)))
            {
                cancel.ThrowIfCancellationRequested();
                foreach (var (input, role) in new[] { (frame, "frame"), (flow, "flow") })
                    if (input.Note != null && notes.Add(role + ": " + input.Note)) options.Note?.Invoke($"{input.Source}: {input.Note}");
                var sw = Stopwatch.StartNew();
                using var pred = predictor.Predict(frame, flow, options.MaskSize?.Invoke(frame));
                modelSeconds += sw.Elapsed.TotalSeconds;
                var mask = new BinaryMask(pred.Width, pred.Height, pred.Mask);
                var maskPath = Path.Combine(staging, frame.Stem + ".png");
                if (options.Palette) PngMask.WriteDavisPalette(maskPath, mask); else PngMask.WriteGray(maskPath, mask);
                if (options.Logits) Npy.Save(Path.Combine(staging, "logits", frame.Stem + ".npy"), pred.Logits);
                if ((options.Overlay || cutout != null) && (pred.Width != frame.Width || pred.Height != frame.Height))
                    throw new CmtmException(frame.Source, $"the {(options.Overlay ? "overlay" : "cut-out")} needs the mask at the frame's size {frame.Width}x{frame.Height}, not {pred.Width}x{pred.Height}");
                if (options.FrameImages)
                {
                    using var bgr = frame.ToBgrMat();
                    WriteJpeg(Path.Combine(staging, "frames", frame.Stem + ".jpg"), bgr);
                }
                if (options.Overlay)
                {
                    using var over = OverlayMat(frame, pred.Mask);
                    WriteJpeg(Path.Combine(staging, "overlay", frame.Stem + ".jpg"), over);
                    video ??= OpenVideo(Path.Combine(staging, "overlay.mp4"), options.Fps, frame.Width, frame.Height);
                    video.Write(over);
                }
                if (cutout != null)
                {
                    var (alpha, composite) = cutout.Apply(frame, pred.Mask);
                    if (options.Cutout!.Rgba) PngCodec.WriteRgba8(Path.Combine(staging, "cutout", frame.Stem + ".png"), frame.Width, frame.Height, Cutout.Rgba(frame.Rgb, alpha));
                    if (composite != null)
                    {
                        using var bgr = new RgbFrame(frame.Index, frame.Stem, frame.Width, frame.Height, composite, frame.Source).ToBgrMat();
                        compositeVideo ??= OpenVideo(Path.Combine(staging, "composite.mp4"), options.Fps, frame.Width, frame.Height);
                        compositeVideo.Write(bgr);
                    }
                }
                frames++;
                progress?.Report(frames, source.Count, $"model {frames / Math.Max(modelSeconds, 1e-9):0.00} fps");
            }
            foreach (var v in new[] { video, compositeVideo }) { v?.Release(); v?.Dispose(); }
            video = compositeVideo = null;
            progress?.Report(frames, source.Count, $"model {frames / Math.Max(modelSeconds, 1e-9):0.00} fps", final: true);
            stage.Commit();
            return new SegmentSummary(frames, modelSeconds, total.Elapsed.TotalSeconds, target);
        }
        catch (Exception e)
        {
            video?.Dispose();
            compositeVideo?.Dispose();
            stage.Dispose();
            // a write error names a file in the staging folder, which is gone: name it as the output it would have been
            var named = stage.AsTargetError(e);
            if (ReferenceEquals(named, e)) throw;
            throw named;
        }
    }

    private static VideoWriter OpenVideo(string path, double fps, int w, int h)
    {
        var writer = new VideoWriter(path, FourCC.MP4V, fps, new OpenCvSharp.Size(w, h));
        if (!writer.IsOpened()) { writer.Dispose(); throw new CmtmException(path, $"cannot open the {Path.GetFileNameWithoutExtension(path)} video for writing (mp4v)"); }
        return writer;
    }

    /// <summary>A BGR image as a JPEG (quality 90), atomically.</summary>
    private static void WriteJpeg(string path, Mat bgr)
    {
        Cv2.ImEncode(".jpg", bgr, out var jpg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
        AtomicFile.WriteAllBytes(path, jpg);
    }

    /// <summary>Frame with the foreground tinted red (50 %) and its outline drawn, as BGR.</summary>
    public static Mat OverlayMat(RgbFrame frame, byte[] mask)
    {
        var bgr = frame.ToBgrMat();
        using var m = Mat.FromPixelData(frame.Height, frame.Width, MatType.CV_8UC1, mask);
        using var m255 = new Mat();
        m.ConvertTo(m255, MatType.CV_8UC1, 255);
        using var red = new Mat(bgr.Size(), MatType.CV_8UC3, new Scalar(0, 0, 255));
        using var blended = new Mat();
        Cv2.AddWeighted(bgr, 0.5, red, 0.5, 0, blended);
        blended.CopyTo(bgr, m255);
        Cv2.FindContours(m255, out var contours, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
        Cv2.DrawContours(bgr, contours, -1, new Scalar(0, 255, 255), 2);
        return bgr;
    }
}
