// Makes the demo clip committed in demo/davis-<seq>/ from a DAVIS-2016 val copy (the project's ../shared/data/davis16-val):
// every frame of one sequence, 854x480 -> 427x240, in the DAVIS layout.
//   frames: OpenCV INTER_AREA (an exact 2x2 box average for 854x480 -> 427x240), JPEG quality 85 (4:2:0)
//   masks:  the 0/255 annotation averaged over each 2x2 box in floating point, then >= 128 -> 255 else 0
//           (as the half-size train copies of ../shared/data), 8-bit grayscale PNG
// Usage (from the repository root; .NET 10 runs a single .cs file):
//   dotnet run scripts/make-demo-clip.cs -- [DAVIS_VAL_ROOT] [SEQUENCE] [OUT]
// defaults: ../shared/data/davis16-val, blackswan, demo/davis-<SEQUENCE>. OUT must not exist; demo/davis-<seq>/README.md
// (source and attribution) is written by hand and kept.
// the CLI project brings the native OpenCV runtime (the library references managed packages only)
#:project ../src/Cmtm.Cli/Cmtm.Cli.csproj
using Cmtm.IO;
using OpenCvSharp;

var src = args.Length > 0 ? args[0] : Path.Combine("..", "shared", "data", "davis16-val");
var seq = args.Length > 1 ? args[1] : "blackswan";
var outRoot = args.Length > 2 ? args[2] : Path.Combine("demo", "davis-" + seq);
const int W = 427, H = 240;

var frameDir = Path.Combine(src, "JPEGImages", "480p", seq);
var annDir = Path.Combine(src, "Annotations", "480p", seq);
if (!Directory.Exists(frameDir) || !Directory.Exists(annDir)) { Console.Error.WriteLine($"error: {frameDir} or {annDir} not found"); return 2; }
var dstFrames = Path.Combine(outRoot, "JPEGImages", "480p", seq);
var dstMasks = Path.Combine(outRoot, "Annotations", "480p", seq);
if (Directory.Exists(dstFrames) || Directory.Exists(dstMasks)) { Console.Error.WriteLine($"error: {outRoot}: clip folders exist already"); return 2; }

long bytes = 0;
var frames = Directory.GetFiles(frameDir, "*.jpg").Order(StringComparer.Ordinal).ToList();
foreach (var f in frames)
{
    var stem = Path.GetFileNameWithoutExtension(f);
    var img = RgbImage.Load(f);
    using var rgb = Mat.FromPixelData(img.Height, img.Width, MatType.CV_8UC3, img.Pixels);
    using var small = new Mat();
    Cv2.Resize(rgb, small, new Size(W, H), interpolation: InterpolationFlags.Area);
    var pixels = new byte[W * H * 3];
    System.Runtime.InteropServices.Marshal.Copy(small.Data, pixels, 0, pixels.Length);
    var jpg = Path.Combine(dstFrames, stem + ".jpg");
    new RgbImage(W, H, pixels).Save(jpg, jpegQuality: 85);

    var gt = PngMask.Read(Path.Combine(annDir, stem + ".png"), MaskRule.ObjectIds);
    using var m = Mat.FromPixelData(gt.Height, gt.Width, MatType.CV_8UC1, gt.Data);
    using var m255 = new Mat();
    m.ConvertTo(m255, MatType.CV_32FC1, 255.0);
    using var avg = new Mat();
    Cv2.Resize(m255, avg, new Size(W, H), interpolation: InterpolationFlags.Area);
    var values = new float[W * H];
    System.Runtime.InteropServices.Marshal.Copy(avg.Data, values, 0, values.Length);
    var png = Path.Combine(dstMasks, stem + ".png");
    PngMask.WriteGray(png, new BinaryMask(W, H, values.Select(v => v >= 128f ? (byte)1 : (byte)0).ToArray()));
    bytes += new FileInfo(jpg).Length + new FileInfo(png).Length;
}
Directory.CreateDirectory(Path.Combine(outRoot, "ImageSets", "2016"));
File.WriteAllText(Path.Combine(outRoot, "ImageSets", "2016", "val.txt"), seq + "\n");
Console.WriteLine($"{outRoot}: {seq}, {frames.Count} frames + masks at {W}x{H}, {bytes / 1024.0 / 1024.0:0.00} MB");
return 0;
