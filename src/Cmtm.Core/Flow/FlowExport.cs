using System.Diagnostics;
using Cmtm.IO;
using OpenCvSharp;

namespace Cmtm.Flow;

public enum FlowImageFormat { Jpeg, Png }

/// <summary>What <see cref="FlowExport.Run"/> writes per frame.</summary>
public sealed record FlowExportOptions
{
    /// <summary>Output folder; files are named after the frame stems. Dataset and list exports set it per sequence
    /// (<see cref="DatasetFlowExport"/>), so a template for them leaves it empty.</summary>
    public string OutputDir { get; init; } = "";
    /// <summary>Colour image format: JPEG like the datasets' JPEGFlows folders, or PNG (lossless).</summary>
    public FlowImageFormat Format { get; init; } = FlowImageFormat.Jpeg;
    /// <summary>JPEG quality (OpenCV's default 95).</summary>
    public int JpegQuality { get; init; } = 95;
    /// <summary>Also write the raw flow as Middlebury &lt;stem&gt;.flo.</summary>
    public bool WriteFlo { get; init; }
    /// <summary>Skip frames whose outputs all exist (resume an interrupted run).</summary>
    public bool SkipExisting { get; init; } = true;
}

/// <summary>Progress after each frame: frames done (computed + skipped) of Total (null if unknown).</summary>
public readonly record struct FlowProgress(int Done, int? Total, int Computed, int Skipped, double Seconds)
{
    /// <summary>Computed frames per second.</summary>
    public double Rate => Seconds > 0 ? Computed / Seconds : 0;
    public double EtaSeconds => Total is int t && Rate > 0 ? (t - Done) / Rate : double.NaN;

    /// <summary>Progress on stderr (count, computed frames/s, ETA), throttled, always the last frame.</summary>
    public static Action<FlowProgress> Printer(string label = "flow")
    {
        var line = new Runtime.ProgressLine(label);
        return p => line.Report(p.Done, p.Total, p.Rate, $"frames, {p.Skipped} skipped", final: p.Total is int t && p.Done >= t);
    }
}

public sealed record FlowExportSummary(int Frames, int Computed, int Skipped, double Seconds, string OutputDir);

/// <summary>
/// Streams a frame source through a flow estimator and writes, per frame, the flow colour image
/// (<see cref="FlowColor"/>) as &lt;stem&gt;.jpg / .png and optionally &lt;stem&gt;.flo. Every file is written
/// atomically, so an interrupted run leaves no partial file and can be resumed.
/// </summary>
public static class FlowExport
{
    public static string Extension(FlowImageFormat f) => f == FlowImageFormat.Png ? ".png" : ".jpg";

    public static string ImagePath(FlowExportOptions o, string stem) => Path.Combine(o.OutputDir, stem + Extension(o.Format));
    public static string FloPath(FlowExportOptions o, string stem) => Path.Combine(o.OutputDir, stem + ".flo");

    public static bool IsDone(FlowExportOptions o, string stem) =>
        File.Exists(ImagePath(o, stem)) && (!o.WriteFlo || File.Exists(FloPath(o, stem)));

    public static FlowExportSummary Run(IFrameSource source, IFlowEstimator estimator, FlowExportOptions options,
        Action<FlowProgress>? progress = null)
    {
        if (string.IsNullOrEmpty(options.OutputDir)) throw new ArgumentException("an output folder is required", nameof(options));
        var sw = Stopwatch.StartNew();
        int done = 0, computed = 0, skipped = 0;
        Func<RgbFrame, bool>? skip = options.SkipExisting ? f => IsDone(options, f.Stem) : null;
        foreach (var item in FlowSequence.Stream(source, estimator, source.Path, skip))
        {
            if (item.Flow is null) skipped++;
            else
            {
                Write(options, item.Frame.Stem, item.Flow);
                computed++;
            }
            done++;
            progress?.Invoke(new FlowProgress(done, source.Count, computed, skipped, sw.Elapsed.TotalSeconds));
        }
        return new FlowExportSummary(done, computed, skipped, sw.Elapsed.TotalSeconds, options.OutputDir);
    }

    /// <summary>
    /// <see cref="Run"/> after removing the temporary files that a killed writer left in the output folder
    /// (<see cref="AtomicFile.RemoveStaleTemps"/>): how a sharded task redoes a half-finished sequence.
    /// </summary>
    public static FlowExportSummary Resume(IFrameSource source, IFlowEstimator estimator, FlowExportOptions options, Action<FlowProgress>? progress = null)
    {
        AtomicFile.RemoveStaleTemps(options.OutputDir);
        return Run(source, estimator, options, progress);
    }

    /// <summary>Writes the outputs of one frame (colour image, optional .flo), each atomically.</summary>
    public static void Write(FlowExportOptions options, string stem, FlowField flow)
    {
        if (options.WriteFlo) FloFile.Write(FloPath(options, stem), flow);
        WriteColorImage(ImagePath(options, stem), flow, options.Format, options.JpegQuality);
    }

    /// <summary>Renders a flow with <see cref="FlowColor"/> and writes it as PNG or JPEG (by format) atomically.</summary>
    public static void WriteColorImage(string path, FlowField flow, FlowImageFormat format, int jpegQuality = 95)
    {
        var rgb = flow.ToRgb();
        var frame = new RgbFrame(0, Path.GetFileNameWithoutExtension(path), flow.Width, flow.Height, rgb, path);
        using var bgr = frame.ToBgrMat();
        var ext = Extension(format);
        var prms = format == FlowImageFormat.Jpeg
            ? new[] { new ImageEncodingParam(ImwriteFlags.JpegQuality, jpegQuality) }
            : Array.Empty<ImageEncodingParam>();
        byte[] bytes;
        try { Cv2.ImEncode(ext, bgr, out bytes, prms); }
        catch (OpenCVException e) { throw new CmtmException(path, $"cannot encode the flow image as {ext} ({e.Message})", e); }
        AtomicFile.WriteAllBytes(path, bytes);
    }

    /// <summary>Image format from a file name (.png, .jpg, .jpeg).</summary>
    public static FlowImageFormat FormatFromPath(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => FlowImageFormat.Png,
        ".jpg" or ".jpeg" => FlowImageFormat.Jpeg,
        var e => throw new CmtmException(path, $"unsupported image extension '{e}' (use .png or .jpg)"),
    };
}
