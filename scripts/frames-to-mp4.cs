// Encodes a folder of frames (sorted *.jpg / *.png) into an mp4 (OpenCV's mp4v, as cmtm writes overlays), e.g. to try
// `cmtm segment video.mp4` on DAVIS frames:
//   dotnet run scripts/frames-to-mp4.cs -- ../shared/data/davis16-val/JPEGImages/480p/camel /tmp/camel.mp4 [FPS=24]
// the CLI project brings the native OpenCV runtime (the library references managed packages only)
#:project ../src/Cmtm.Cli/Cmtm.Cli.csproj
using OpenCvSharp;

if (args.Length < 2) { Console.Error.WriteLine("usage: frames-to-mp4.cs FRAMES_DIR OUT.mp4 [FPS]"); return 2; }
var files = Directory.EnumerateFiles(args[0]).Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
    .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToList();
if (files.Count == 0) { Console.Error.WriteLine($"error: {args[0]}: no frames"); return 2; }
double fps = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 24;
using var first = Cv2.ImRead(files[0]);
var tmp = args[1] + ".tmp.mp4";
using (var writer = new VideoWriter(tmp, FourCC.MP4V, fps, first.Size()))
{
    if (!writer.IsOpened()) { Console.Error.WriteLine($"error: {args[1]}: cannot open the mp4 writer"); return 1; }
    foreach (var f in files) { using var m = Cv2.ImRead(f); writer.Write(m); }
}
File.Move(tmp, args[1], overwrite: true);
Console.WriteLine($"wrote {args[1]}: {files.Count} frames {first.Width}x{first.Height} at {fps} fps");
return 0;
