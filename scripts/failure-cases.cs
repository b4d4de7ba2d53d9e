// Makes models/failure-cases.jpg: for a few DAVIS-2016 val sequences, one frame with the model's mask tinted red and the
// annotation's outline in green, side by side in a grid (each tile 427x240, the sequence name written on it).
// Usage (from the repository root; .NET 10 runs a single .cs file):
//   ./cmtm evaluate --dataset davis16 --root ../shared/data/davis16-val --flows runs/flows/davis16-val --results-out runs/eval
//   dotnet run scripts/failure-cases.cs -- ../shared/data/davis16-val runs/eval models/failure-cases.jpg SEQ[:FRAME] ...
// FRAME defaults to the middle annotated frame of the sequence.
#:project ../src/Cmtm.Cli/Cmtm.Cli.csproj
using OpenCvSharp;

var (root, results, output) = (args[0], args[1], args[2]);
const int W = 427, H = 240;
var tiles = new List<Mat>();
foreach (var spec in args[3..])
{
    var parts = spec.Split(':');
    var seq = parts[0];
    var annotations = Directory.GetFiles(Path.Combine(root, "Annotations", "480p", seq), "*.png").Order(StringComparer.Ordinal).ToList();
    var stem = parts.Length > 1 ? parts[1] : Path.GetFileNameWithoutExtension(annotations[annotations.Count / 2]);
    var frameFile = Directory.GetFiles(Path.Combine(root, "JPEGImages", "480p", seq), stem + ".*").Single();
    using var frame = Cv2.ImRead(frameFile, ImreadModes.Color);
    using var tile = new Mat();
    Cv2.Resize(frame, tile, new Size(W, H), 0, 0, InterpolationFlags.Area);
    using var pred = Cv2.ImRead(Path.Combine(results, seq, stem + ".png"), ImreadModes.Grayscale);
    using var ann = Cv2.ImRead(Path.Combine(root, "Annotations", "480p", seq, stem + ".png"), ImreadModes.Grayscale);
    using var predSmall = new Mat(); Cv2.Resize(pred, predSmall, new Size(W, H), 0, 0, InterpolationFlags.Nearest);
    using var annSmall = new Mat(); Cv2.Resize(ann, annSmall, new Size(W, H), 0, 0, InterpolationFlags.Nearest);
    using var predBin = new Mat(); Cv2.Threshold(predSmall, predBin, 0, 255, ThresholdTypes.Binary);
    using var annBin = new Mat(); Cv2.Threshold(annSmall, annBin, 0, 255, ThresholdTypes.Binary);
    using var red = new Mat(tile.Size(), MatType.CV_8UC3, new Scalar(0, 0, 255));
    using var blend = new Mat(); Cv2.AddWeighted(tile, 0.5, red, 0.5, 0, blend);
    blend.CopyTo(tile, predBin);
    Cv2.FindContours(annBin, out var contours, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
    Cv2.DrawContours(tile, contours, -1, new Scalar(0, 255, 0), 2);
    Cv2.PutText(tile, $"{seq} {stem}", new Point(8, 22), HersheyFonts.HersheySimplex, 0.6, Scalar.White, 2);
    tiles.Add(tile.Clone());
}
var rows = new List<Mat>();
for (int i = 0; i < tiles.Count; i += 2)
{
    var pair = tiles.Skip(i).Take(2).ToList();
    if (pair.Count == 1) pair.Add(new Mat(H, W, MatType.CV_8UC3, Scalar.Black));
    var row = new Mat(); Cv2.HConcat(pair.ToArray(), row); rows.Add(row);
}
using var grid = new Mat(); Cv2.VConcat(rows.ToArray(), grid);
if (output.EndsWith(".png")) Cv2.ImWrite(output, grid); else Cv2.ImWrite(output, grid, new ImageEncodingParam(ImwriteFlags.JpegQuality, 80));
Console.WriteLine($"wrote {output} ({tiles.Count} tiles)");
