using System.Runtime.InteropServices;
using Cmtm.Runtime;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Cmtm.IO;

/// <summary>One decoded video frame: 8-bit RGB, H*W*3 bytes row-major (HWC).</summary>
public sealed class RgbFrame
{
    /// <summary>0-based position in its sequence.</summary>
    public int Index { get; }
    /// <summary>Output name: the image file's stem, or a 5-digit frame number (00000) for videos.</summary>
    public string Stem { get; }
    public int Width { get; }
    public int Height { get; }
    public byte[] Rgb { get; }
    /// <summary>Where it came from (file, or "video.mp4#12"), for error messages.</summary>
    public string Source { get; }

    public RgbFrame(int index, string stem, int width, int height, byte[] rgb, string source)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"frame size {width}x{height} must be positive");
        if (rgb.Length != checked(width * height * 3)) throw new ArgumentException($"frame has {rgb.Length} bytes, expected {width * height * 3} for {width}x{height}x3");
        Index = index; Stem = stem; Width = width; Height = height; Rgb = rgb; Source = source;
    }

    /// <summary>From an 8-bit BGR (or gray / BGRA) OpenCV image.</summary>
    public static RgbFrame FromBgrMat(Mat bgr, int index, string stem, string source) =>
        FromImage(RgbImage.FromMat(bgr, source), index, stem, source); // the one conversion path (gray / alpha / 16-bit, with a note)

    /// <summary>A decoded image as a frame, keeping its conversion note.</summary>
    public static RgbFrame FromImage(RgbImage img, int index, string stem, string source) =>
        new(index, stem, img.Width, img.Height, img.Pixels, source) { Note = img.Note };

    /// <summary>What was converted when the frame was decoded (grayscale, alpha, 16-bit), or null.</summary>
    public string? Note { get; init; }

    /// <summary>An 8-bit BGR OpenCV Mat (new, caller disposes).</summary>
    public Mat ToBgrMat()
    {
        using var rgb = Mat.FromPixelData(Height, Width, MatType.CV_8UC3, Rgb);
        var bgr = new Mat();
        Cv2.CvtColor(rgb, bgr, ColorConversionCodes.RGB2BGR);
        return bgr;
    }

    /// <summary>(1,3,H,W) float32 tensor with values 0..255 (no normalisation).</summary>
    public Tensor ToTensor255()
    {
        // Every intermediate is held (and disposed) by a local: a chained temporary is unreachable while the native call
        // on it runs, and a GC at that moment let its finalizer free the tensor mid-call (a test-host crash in to_type).
        using var hwc = tensor(Rgb, new long[] { Height, Width, 3 }, ScalarType.Byte);
        using var chw = hwc.permute(2, 0, 1);
        using var nchw = chw.unsqueeze(0);
        using var f = nchw.to(ScalarType.Float32);
        return f.contiguous();
    }

    /// <summary>From a uint8 (H,W,3) RGB tensor, or a float (3,H,W)/(1,3,H,W) tensor with values 0..255.</summary>
    public static RgbFrame FromTensor(Tensor t, int index = 0, string stem = "frame", string source = "<tensor>")
    {
        using var scope = NewDisposeScope();
        Tensor hwc;
        if (t.dtype == ScalarType.Byte && t.dim() == 3 && t.shape[2] == 3) hwc = t;
        else
        {
            var chw = t.dim() == 4 && t.shape[0] == 1 ? t[0] : t;
            if (chw.dim() != 3 || chw.shape[0] != 3)
                throw new ArgumentException($"frame tensor must be uint8 (H,W,3) or (3,H,W)/(1,3,H,W) in 0..255, got {t.dtype} ({string.Join(",", t.shape)})");
            hwc = chw.permute(1, 2, 0).round().clamp(Scalars.Int0, Scalars.Int255).to(ScalarType.Byte);
        }
        hwc = hwc.cpu().contiguous();
        return new RgbFrame(index, stem, (int)hwc.shape[1], (int)hwc.shape[0], hwc.data<byte>().ToArray(), source);
    }

    internal static byte[] CopyBytes(Mat m)
    {
        int rowBytes = m.Cols * m.ElemSize();
        var bytes = new byte[rowBytes * m.Rows];
        if (m.IsContinuous()) Marshal.Copy(m.Data, bytes, 0, bytes.Length);
        else for (int r = 0; r < m.Rows; r++) Marshal.Copy(m.Ptr(r), bytes, r * rowBytes, rowBytes);
        return bytes;
    }
}

/// <summary>
/// A sequence of frames decoded one at a time (memory stays bounded by a frame or two, whatever the length).
/// Enumerating throws <see cref="CmtmException"/> naming the input for unreadable, empty or corrupt inputs and for
/// frames whose size differs from the first frame's.
/// </summary>
public interface IFrameSource : IEnumerable<RgbFrame>
{
    /// <summary>The video file or folder.</summary>
    string Path { get; }
    /// <summary>Number of frames if known up front (exact for folders, the container's estimate for videos).</summary>
    int? Count { get; }
}

public static class FrameSources
{
    public static readonly string[] ImageExtensions = { ".jpg", ".jpeg", ".png" };
    public static readonly string[] VideoExtensions = { ".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v" };

    /// <summary>
    /// Opens a frames folder (sorted *.jpg/*.jpeg/*.png), an image glob whose file-name part has '*' or '?' (e.g.
    /// 'dir/*.jpg'; the folder part is literal) or a video file.
    /// </summary>
    public static IFrameSource Open(string path)
    {
        if (Directory.Exists(path)) return new FolderFrameSource(path);
        if (File.Exists(path)) return new VideoFrameSource(path);
        var name = System.IO.Path.GetFileName(path);
        if (name.IndexOfAny(['*', '?']) >= 0)
        {
            var dir = System.IO.Path.GetDirectoryName(path);
            return new FolderFrameSource(string.IsNullOrEmpty(dir) ? "." : dir, name);
        }
        throw new CmtmException(path, "no such video file or frames folder");
    }

    internal static void CheckSize(RgbFrame first, RgbFrame f)
    {
        if (f.Width != first.Width || f.Height != first.Height)
            throw new CmtmException(f.Source, $"frame is {f.Width}x{f.Height} but the first frame ({first.Source}) is {first.Width}x{first.Height}; mixed frame sizes are not supported");
    }
}

/// <summary>Frames of a folder: *.jpg, *.jpeg, *.png sorted by file name (ordinal); stems name the outputs.</summary>
public sealed class FolderFrameSource : IFrameSource
{
    public string Path { get; }
    public IReadOnlyList<string> Files { get; }
    public int? Count => Files.Count;

    public FolderFrameSource(string folder) : this(folder, null) { }

    /// <summary>Only the images of <paramref name="folder"/> whose names match <paramref name="pattern"/> ('*', '?'; case-sensitive).</summary>
    public FolderFrameSource(string folder, string? pattern)
    {
        Path = pattern == null ? folder : System.IO.Path.Combine(folder, pattern);
        if (!Directory.Exists(folder)) throw new CmtmException(folder, "frames folder does not exist");
        var options = new EnumerationOptions { MatchCasing = MatchCasing.CaseSensitive, MatchType = MatchType.Simple };
        Files = (pattern == null ? Directory.EnumerateFiles(folder) : Directory.EnumerateFiles(folder, pattern, options))
            .Where(f => FrameSources.ImageExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
            .Where(f => !System.IO.Path.GetFileName(f).StartsWith('.'))
            .OrderBy(f => System.IO.Path.GetFileName(f), StringComparer.Ordinal)
            .ToList();
        if (Files.Count == 0)
            throw pattern == null ? new CmtmException(folder, "no frames (*.jpg, *.jpeg, *.png) in folder")
                : new CmtmException(Path, "no image files (*.jpg, *.jpeg, *.png) match the pattern");
        var dup = Files.GroupBy(f => System.IO.Path.GetFileNameWithoutExtension(f), StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new CmtmException(folder, $"two frames share the stem '{dup.Key}' ({string.Join(", ", dup.Select(System.IO.Path.GetFileName))})");
    }

    public IEnumerator<RgbFrame> GetEnumerator()
    {
        RgbFrame? first = null;
        for (int i = 0; i < Files.Count; i++)
        {
            var f = Read(Files[i], i);
            first ??= f;
            FrameSources.CheckSize(first, f);
            yield return f;
        }
    }

    /// <summary>Reads one image file as an RGB frame.</summary>
    public static RgbFrame Read(string file, int index = 0) => // the one image read path: missing, unreadable, corrupt, converted
        RgbFrame.FromImage(RgbImage.Load(file), index, System.IO.Path.GetFileNameWithoutExtension(file), file);

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Frames of a video file decoded with OpenCV (FFmpeg backend); stems are 00000, 00001, ...</summary>
public sealed class VideoFrameSource : IFrameSource
{
    public string Path { get; }
    public int? Count { get; }
    public double Fps { get; }

    public VideoFrameSource(string file)
    {
        Path = file;
        if (!File.Exists(file)) throw new CmtmException(file, "video file does not exist");
        if (new FileInfo(file).Length == 0) throw new CmtmException(file, "video file is empty (0 bytes)");
        using var cap = OpenCapture(file);
        int n = (int)cap.Get(VideoCaptureProperties.FrameCount);
        Count = n > 0 ? n : null;
        Fps = cap.Get(VideoCaptureProperties.Fps);
    }

    private static VideoCapture OpenCapture(string file)
    {
        var cap = new VideoCapture(file, VideoCaptureAPIs.FFMPEG);
        if (!cap.IsOpened())
        {
            cap.Dispose();
            throw new CmtmException(file, "cannot open video (corrupt, without frames, or an unsupported container/codec)");
        }
        return cap;
    }

    public IEnumerator<RgbFrame> GetEnumerator()
    {
        using var cap = OpenCapture(Path);
        using var bgr = new Mat();
        RgbFrame? first = null;
        int digits = Math.Max(5, (Count ?? 0).ToString().Length);
        for (int i = 0; ; i++)
        {
            bool ok;
            try { ok = cap.Read(bgr); }
            catch (OpenCVException e) { throw new CmtmException(Path, $"cannot decode frame {i} ({e.Message})", e); }
            if (!ok || bgr.Empty())
            {
                if (i == 0) throw new CmtmException(Path, "video has no decodable frames (corrupt or unsupported codec)");
                // MP4/MOV index every sample, so their frame count is exact: stopping early means corrupt data, not the end
                // (other containers may only estimate the count from the duration, so there the end is trusted).
                if (Count is int n && i < n && ExactCount(Path))
                    throw new CmtmException($"{Path}#{i}", $"cannot decode frame {i}: the video declares {n} frames (corrupt or truncated data)");
                yield break;
            }
            var f = RgbFrame.FromBgrMat(bgr, i, i.ToString().PadLeft(digits, '0'), $"{Path}#{i}");
            first ??= f;
            FrameSources.CheckSize(first, f);
            yield return f;
        }
    }

    private static bool ExactCount(string file) => System.IO.Path.GetExtension(file).ToLowerInvariant() is ".mp4" or ".mov" or ".m4v";

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
