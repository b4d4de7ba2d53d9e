using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;

namespace Cmtm.Serving;

/// <summary>A sample clip the page offers: a short name (what the client sends) and the video or frames folder it stands for.</summary>
public sealed record Sample(string Id, string Title, string Path);

/// <summary>What an input is, found by decoding it (not by its name): frame count, size and rate.</summary>
public sealed record InputProbe(int? Frames, int Width, int Height, double Fps);

/// <summary>The page's inputs: the sample list and the content check of uploads.</summary>
public static class Inputs
{
    /// <summary>File extensions an upload may have (the stored file gets the same, lower-case, after a generated name).</summary>
    public static readonly string[] UploadExtensions = [".mp4", ".webm", ".avi", ".mov", ".mkv"];

    /// <summary>
    /// The repository's demo clip (DAVIS-2016 val blackswan frames, when found) and the video files of
    /// <paramref name="samplesDir"/>; ids are "s0", "s1", ... so no client string names a file.
    /// </summary>
    public static IReadOnlyList<Sample> FindSamples(string? samplesDir)
    {
        var list = new List<(string Title, string Path)>();
        if (ShippedModel.FindBesideAppOrInRepository(VideoDemo.ClipFolder + "/JPEGImages/480p/blackswan", file: false) is string clip)
            list.Add(("blackswan (DAVIS-2016 val, 50 frames, 427x240)", clip));
        if (samplesDir != null && Directory.Exists(samplesDir))
            foreach (var f in Directory.EnumerateFiles(samplesDir).Where(f => FrameSources.VideoExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal))
                list.Add((System.IO.Path.GetFileName(f), System.IO.Path.GetFullPath(f)));
        return list.Select((s, i) => new Sample($"s{i}", s.Title, s.Path)).ToList();
    }

    /// <summary>
    /// Opens <paramref name="path"/> with the frame reader `cmtm segment` uses and decodes its first two frames: a
    /// <see cref="CmtmException"/> with the decoder's reason when it is not a readable video or frames folder, or
    /// when only one frame decodes (FFmpeg opens a still image as a one-frame stream).
    /// </summary>
    public static InputProbe Probe(string path)
    {
        var source = FrameSources.Open(path);
        using var frames = source.GetEnumerator();
        if (!frames.MoveNext()) throw new CmtmException(path, "no frames");
        var first = frames.Current;
        if (!frames.MoveNext()) throw new CmtmException(path, "only 1 frame decodes: not a video (an image?)");
        return new InputProbe(source.Count, first.Width, first.Height, source is VideoFrameSource v && v.Fps > 0 ? v.Fps : 24);
    }
}
