using Cmtm.Data.Sampling;
using Cmtm.Flow;
using Cmtm.IO;

namespace Cmtm.Data.Synthetic;

/// <summary>What <see cref="SyntheticDataset.Generate"/> produced.</summary>
public sealed record SyntheticDatasetInfo(string Root, IReadOnlyList<string> Train, IReadOnlyList<string> Val, int Frames, int Width, int Height);

/// <summary>
/// Writes a synthetic dataset in the DAVIS layout: JPEGImages/480p/&lt;seq&gt;/%05d.jpg,
/// JPEGFlows/480p/&lt;seq&gt;/%05d.jpg (flow colour images of the known motion field, forward flow t-&gt;t+1, the last frame
/// backward), Annotations/480p/&lt;seq&gt;/%05d.png (DAVIS palette PNGs, index 1 = object) and ImageSets/2016/{train,val}.txt.
/// </summary>
public static class SyntheticDataset
{
    /// <param name="valVideos">How many of the videos (the last ones) go to val.txt.</param>
    /// <param name="progress">Called with (videos done, total) from worker threads.</param>
    public static SyntheticDatasetInfo Generate(string outDir, int videos, int frames, int width, int height, ulong seed,
        int valVideos = -1, SyntheticOptions? options = null, Action<int, int>? progress = null, int maxParallel = 0)
    {
        if (videos < 1) throw new CmtmException("videos", $"{videos} must be at least 1");
        if (frames < 2) throw new CmtmException("frames", $"{frames} must be at least 2");
        if (width < 32 || height < 32) throw new CmtmException("size", $"{width}x{height} is too small (at least 32x32)");
        if (valVideos < 0) valVideos = videos >= 5 ? Math.Max(1, videos / 5) : 0;
        if (valVideos > videos) throw new CmtmException("val-videos", $"{valVideos} exceeds the {videos} videos");
        var full = Path.GetFullPath(outDir);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new CmtmException(full, "output folder exists and is not empty");

        // build everything in a temporary sibling folder, then rename: no partial dataset is ever visible
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, AtomicFile.TempName(Path.GetFileName(full)));
        var names = Enumerable.Range(0, videos).Select(i => $"synth-{i:D4}").ToArray();
        try
        {
            int done = 0;
            var po = new ParallelOptions { MaxDegreeOfParallelism = maxParallel > 0 ? maxParallel : Environment.ProcessorCount };
            Parallel.For(0, videos, po, i =>
            {
                WriteVideo(tmp, names[i], new SyntheticVideo(width, height, frames, VideoSeed(seed, i), options));
                progress?.Invoke(Interlocked.Increment(ref done), videos);
            });
            var train = names.Take(videos - valVideos).ToArray();
            var val = names.Skip(videos - valVideos).ToArray();
            AtomicFile.WriteAllText(Path.Combine(tmp, "ImageSets", "2016", "train.txt"), string.Concat(train.Select(n => n + "\n")));
            AtomicFile.WriteAllText(Path.Combine(tmp, "ImageSets", "2016", "val.txt"), string.Concat(val.Select(n => n + "\n")));
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(tmp, full);
            return new SyntheticDatasetInfo(full, train, val, frames, width, height);
        }
        catch
        {
            try { if (Directory.Exists(tmp)) Directory.Delete(tmp, true); } catch { /* best effort */ }
            throw;
        }
    }

    /// <summary>The seed of video <paramref name="index"/> (independent of how many videos are generated).</summary>
    public static ulong VideoSeed(ulong seed, int index)
    {
        var r = new TrainRng(seed ^ (0xA0761D6478BD642FUL * (ulong)(index + 1)));
        return r.NextULong();
    }

    public static void WriteVideo(string root, string name, SyntheticVideo video)
    {
        for (int t = 0; t < video.FrameCount; t++)
        {
            var f = video.Render(t);
            var stem = $"{t:D5}";
            new RgbImage(video.Width, video.Height, f.Rgb).Save(Path.Combine(root, "JPEGImages", "480p", name, stem + ".jpg"), 92);
            var flowRgb = FlowColor.ToRgb(f.FlowU, f.FlowV, video.Height, video.Width);
            new RgbImage(video.Width, video.Height, flowRgb).Save(Path.Combine(root, "JPEGFlows", "480p", name, stem + ".jpg"), 92);
            PngMask.WriteDavisPalette(Path.Combine(root, "Annotations", "480p", name, stem + ".png"), new BinaryMask(video.Width, video.Height, f.Mask));
        }
    }
}
