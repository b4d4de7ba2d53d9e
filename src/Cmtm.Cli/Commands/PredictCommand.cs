using System.CommandLine;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;

namespace Cmtm.Cli.Commands;

/// <summary>`cmtm predict`: one frame + its flow image -> a 0/255 mask (and optionally the logits as .npy).</summary>
public static class PredictCommand
{
    public static Command Create()
    {
        var weights = CommonOptions.Weights();
        var arch = CommonOptions.Arch();
        var resolution = CommonOptions.Resolution();
        var image = new Option<FileInfo>("--image") { Description = "RGB frame (PNG/JPEG, any size)", Required = true };
        var flow = new Option<FileInfo>("--flow") { Description = "optical flow rendered as an RGB colour-wheel image", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "output mask PNG (0/255)", Required = true };
        var logits = new Option<FileInfo?>("--logits") { Description = "also write float32 logits [2,H,W] as .npy" };
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var precision = CommonOptions.Precision();
        var cmd = new Command("predict", "Segment one frame from its image and flow image.")
        { weights, arch, resolution, image, flow, output, logits, device, threads, precision };
        cmd.SetAction(r =>
        {
            TorchRuntime.SetThreads(r.GetValue(threads));
            var dev = TorchRuntime.ParseDevice(r.GetValue(device));
            var prec = CommonOptions.ParsePrecision(r.GetValue(precision), dev);
            var w = ShippedModel.Choose(r.GetValue(weights)?.FullName);
            var img = RgbImage.Load(r.GetValue(image)!.FullName);
            var flo = RgbImage.Load(r.GetValue(flow)!.FullName);
            foreach (var (f, im) in new[] { (r.GetValue(image)!, img), (r.GetValue(flow)!, flo) })
                if (im.Note != null) Console.Error.WriteLine($"note: {f.FullName}: {im.Note}");
            var outPath = r.GetValue(output)!.FullName;
            if (!outPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new CmtmException(outPath, "--out must be a .png file");
            using var predictor = new FramePredictor(CommonOptions.LoadModel(w, r.GetValue(arch), r.GetValue(resolution), dev), dev, prec, ownsModel: true);
            using var pred = predictor.Predict(img, flo);
            var logitsPath = r.GetValue(logits)?.FullName;
            if (logitsPath != null) Npy.Save(logitsPath, pred.Logits);
            var mask = new BinaryMask(pred.Width, pred.Height, pred.Mask);
            try { PngMask.WriteGray(outPath, mask); }
            catch when (logitsPath != null)
            {
                File.Delete(logitsPath); // both outputs or neither
                throw;
            }
            Console.WriteLine($"{outPath}: {pred.Width}x{pred.Height}, foreground {100.0 * mask.CountForeground() / pred.Mask.Length:F2}% ({predictor.Model.Config.Name}, resolution {predictor.Model.Config.Resolution})");
            return 0;
        });
        return cmd;
    }
}
