using Cmtm.Evaluation;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using OpenCvSharp;

namespace Cmtm.Tests.Support;

/// <summary>
/// Small DAVIS-layout datasets made from the repository's demo clip (demo/davis-blackswan: 50 frames and masks at
/// 427x240), so tests of the demo and of the baseline report need no ../shared; and tiny random-weight checkpoints.
/// </summary>
public static class DemoClipData
{
    public const string Sequence = "blackswan";
    public const int Width = 427, Height = 240, Frames = 50;

    /// <summary>The committed clip's root (found from the test binaries by walking up to the repository).</summary>
    public static string Root => ShippedModel.FindBesideAppOrInRepository(VideoDemo.ClipFolder, file: false)
        ?? throw new DirectoryNotFoundException($"{VideoDemo.ClipFolder} not found above {AppContext.BaseDirectory}");

    public static string Frame(int i) => Path.Combine(Root, "JPEGImages", "480p", Sequence, $"{i:00000}.jpg");
    public static string Mask(int i) => Path.Combine(Root, "Annotations", "480p", Sequence, $"{i:00000}.png");

    /// <summary>One sequence of a made dataset: clip frames Start.. Start+Count-1 renumbered from 00000.</summary>
    /// <param name="Frames">false: annotations only (as the val sequences without frames in ../shared).</param>
    /// <param name="HalfFrames">frames at half size (213x120) under full-size annotations (as the half-size val copies).</param>
    public sealed record Seq(string Name, int Start, int Count, bool Frames = true, bool HalfFrames = false);

    /// <summary>Writes root/{ImageSets/2016/val.txt, JPEGImages/480p, Annotations/480p} (annotations as 0/255 gray, like DAVIS 2016).</summary>
    public static string MakeDavis(string root, params Seq[] sequences)
    {
        Directory.CreateDirectory(Path.Combine(root, "ImageSets", "2016"));
        File.WriteAllText(Path.Combine(root, "ImageSets", "2016", "val.txt"), string.Join("\n", sequences.Select(s => s.Name)) + "\n");
        foreach (var s in sequences)
        {
            var ann = Directory.CreateDirectory(Path.Combine(root, "Annotations", "480p", s.Name)).FullName;
            var img = Path.Combine(root, "JPEGImages", "480p", s.Name);
            if (s.Frames) Directory.CreateDirectory(img);
            for (var i = 0; i < s.Count; i++)
            {
                var stem = $"{i:00000}";
                File.Copy(Mask(s.Start + i), Path.Combine(ann, stem + ".png"));
                if (!s.Frames) continue;
                if (!s.HalfFrames) { File.Copy(Frame(s.Start + i), Path.Combine(img, stem + ".jpg")); continue; }
                using var full = Cv2.ImRead(Frame(s.Start + i), ImreadModes.Color);
                using var half = new Mat();
                Cv2.Resize(full, half, new Size(Width / 2, Height / 2), interpolation: InterpolationFlags.Area);
                Cv2.ImWrite(Path.Combine(img, stem + ".jpg"), half);
            }
        }
        return root;
    }

    /// <summary>
    /// A results folder &lt;dir&gt;/&lt;seq&gt;/%05d.png holding each sequence's ground truth as palette PNGs whose object
    /// index is <paramref name="index"/> (as the published RVOS / OSVOS masks: foreground = index &gt; 0).
    /// </summary>
    public static string GroundTruthResults(string davisRoot, string dir, byte index = 2)
    {
        foreach (var seqDir in Directory.GetDirectories(Path.Combine(davisRoot, "Annotations", "480p")))
        {
            var dst = Directory.CreateDirectory(Path.Combine(dir, Path.GetFileName(seqDir))).FullName;
            foreach (var f in Directory.GetFiles(seqDir, "*.png"))
            {
                var gt = PngMask.Read(f, MaskRule.ObjectIds);
                PngCodec.WritePalette(Path.Combine(dst, Path.GetFileName(f)), gt.Width, gt.Height, gt.Data.Select(v => v != 0 ? index : (byte)0).ToArray(),
                    Enumerable.Range(0, 256 * 3).Select(i => (byte)(i * 37 % 256)).ToArray(), 8);
            }
        }
        return dir;
    }

    /// <summary>A random-weight CMTM-b0 checkpoint at <paramref name="resolution"/> (our safetensors format).</summary>
    public static string TinyCheckpoint(string path, int resolution = 64, long seed = 0)
    {
        using var model = BaselineReport.UntrainedModel(ModelConfig.Parse("cmtm-b0", resolution), seed);
        ModelCheckpoint.Save(path, model);
        return path;
    }

    /// <summary>Sets an environment variable for the lifetime of the object (tests in a collection that runs alone).</summary>
    public sealed class EnvVar : IDisposable
    {
        private readonly string name;
        private readonly string? old;
        public EnvVar(string name, string? value) { this.name = name; old = Environment.GetEnvironmentVariable(name); Environment.SetEnvironmentVariable(name, value); }
        public void Dispose() => Environment.SetEnvironmentVariable(name, old);
    }
}
