using OpenCvSharp;
using static TorchSharp.torch;

namespace Cmtm.IO;

/// <summary>
/// An 8-bit RGB image in memory (row-major H x W x 3). Reading accepts any format OpenCV decodes; grayscale,
/// gray+alpha, RGBA and 16-bit inputs are converted (alpha dropped, 16-bit scaled to 8-bit) and the conversion is
/// reported in <see cref="Note"/>, never silently.
/// </summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }
    /// <summary>What was converted on load (null when the file was 8-bit RGB already).</summary>
    public string? Note { get; init; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        if (pixels.Length != width * height * 3) throw new ArgumentException("pixel buffer size does not match width*height*3");
        Width = width; Height = height; Pixels = pixels;
    }

    public static RgbImage Load(string path)
    {
        if (!File.Exists(path)) throw new CmtmException(path, "file not found");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CmtmException(path, $"cannot read file ({e.Message})", e); }
        using var mat = Cv2.ImDecode(bytes, ImreadModes.Unchanged);
        if (mat.Empty()) throw new CmtmException(path, "cannot decode image (unreadable or corrupt)");
        return FromMat(mat, path);
    }

    /// <summary>Converts an OpenCV image (BGR / BGRA / gray, 8 or 16 bit) to RGB8, with a note on conversions.</summary>
    public static RgbImage FromMat(Mat mat, string source)
    {
        var notes = new List<string>();
        Mat work = mat;
        var owned = new List<Mat>();
        try
        {
            if (work.Depth() == MatType.CV_16U)
            {
                var m8 = new Mat(); owned.Add(m8);
                work.ConvertTo(m8, MatType.MakeType(MatType.CV_8U, work.Channels()), 1.0 / 257.0);
                work = m8; notes.Add("16-bit converted to 8-bit");
            }
            else if (work.Depth() != MatType.CV_8U)
                throw new CmtmException(source, $"unsupported pixel depth (OpenCV depth {work.Depth()})");
            var rgb = new Mat(); owned.Add(rgb);
            switch (work.Channels())
            {
                case 1: Cv2.CvtColor(work, rgb, ColorConversionCodes.GRAY2RGB); notes.Add("grayscale converted to RGB"); break;
                case 2:
                    using (var gray = new Mat()) { Cv2.ExtractChannel(work, gray, 0); Cv2.CvtColor(gray, rgb, ColorConversionCodes.GRAY2RGB); }
                    notes.Add("gray+alpha converted to RGB (alpha dropped)"); break;
                case 3: Cv2.CvtColor(work, rgb, ColorConversionCodes.BGR2RGB); break;
                case 4: Cv2.CvtColor(work, rgb, ColorConversionCodes.BGRA2RGB); notes.Add("RGBA converted to RGB (alpha dropped)"); break;
                default: throw new CmtmException(source, $"unsupported channel count {work.Channels()}");
            }
            var pixels = RgbFrame.CopyBytes(rgb);
            return new RgbImage(rgb.Cols, rgb.Rows, pixels) { Note = notes.Count == 0 ? null : string.Join(", ", notes) };
        }
        finally { foreach (var m in owned) m.Dispose(); }
    }

    /// <summary>Writes the image (PNG/JPEG by extension) atomically.</summary>
    public void Save(string path, int jpegQuality = 95)
    {
        using var rgb = Mat.FromPixelData(Height, Width, MatType.CV_8UC3, Pixels);
        using var bgr = new Mat();
        Cv2.CvtColor(rgb, bgr, ColorConversionCodes.RGB2BGR);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is not (".png" or ".jpg" or ".jpeg" or ".bmp")) throw new CmtmException(path, "unsupported image extension (use .png or .jpg)");
        var prms = ext is ".jpg" or ".jpeg" ? new[] { new ImageEncodingParam(ImwriteFlags.JpegQuality, jpegQuality) } : Array.Empty<ImageEncodingParam>();
        Cv2.ImEncode(ext, bgr, out var buf, prms);
        AtomicFile.WriteAllBytes(path, buf);
    }
}
