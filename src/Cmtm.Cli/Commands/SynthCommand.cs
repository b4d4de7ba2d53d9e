using System.CommandLine;
using System.Diagnostics;
using Cmtm.Data.Synthetic;

namespace Cmtm.Cli.Commands;

public static class SynthCommand
{
    public static Command Create()
    {
        var outOpt = new Option<string>("--out") { Description = "output folder (DAVIS layout); must not exist or be empty", Required = true };
        var videos = new Option<int>("--videos") { Description = "number of videos", DefaultValueFactory = _ => 40 };
        var frames = new Option<int>("--frames") { Description = "frames per video", DefaultValueFactory = _ => 24 };
        var size = new Option<string>("--size") { Description = "frame size WxH", DefaultValueFactory = _ => "160x120" };
        var seed = new Option<ulong>("--seed") { Description = "random seed (same seed -> same dataset)", DefaultValueFactory = _ => 1UL };
        var val = new Option<int>("--val-videos") { Description = "videos listed in ImageSets/2016/val.txt (default: a fifth)", DefaultValueFactory = _ => -1 };
        var cmd = new Command("synth", "Generate a synthetic video segmentation dataset in the DAVIS layout (frames, flow images, masks).")
        { outOpt, videos, frames, size, seed, val };
        cmd.SetAction(pr =>
        {
            var (w, h) = ParseSize(pr.GetValue(size)!);
            var sw = Stopwatch.StartNew();
            int total = pr.GetValue(videos);
            var lastPrint = Stopwatch.StartNew();
            var info = SyntheticDataset.Generate(pr.GetValue(outOpt)!, total, pr.GetValue(frames), w, h, pr.GetValue(seed), pr.GetValue(val),
                progress: (done, n) =>
                {
                    lock (lastPrint)
                        if (done == n || lastPrint.Elapsed.TotalSeconds >= 2)
                        {
                            double rate = done / sw.Elapsed.TotalSeconds;
                            Console.WriteLine($"synth: {done}/{n} videos, {rate:F1} videos/s, ETA {TimeSpan.FromSeconds((n - done) / Math.Max(rate, 1e-9)):mm\\:ss}");
                            lastPrint.Restart();
                        }
                });
            Console.WriteLine($"wrote {info.Train.Count} train + {info.Val.Count} val videos of {info.Frames} frames ({info.Width}x{info.Height}) to {info.Root} in {sw.Elapsed.TotalSeconds:F1}s");
            return 0;
        });
        return cmd;
    }

    public static (int W, int H) ParseSize(string s)
    {
        var p = s.ToLowerInvariant().Split('x');
        if (p.Length != 2 || !int.TryParse(p[0], out var w) || !int.TryParse(p[1], out var h) || w <= 0 || h <= 0)
            throw new CmtmException("--size", $"'{s}' is not of the form WxH (e.g. 160x120)");
        return (w, h);
    }
}
