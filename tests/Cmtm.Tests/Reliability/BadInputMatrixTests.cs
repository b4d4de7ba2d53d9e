using Cmtm.IO;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Inference;
using Cmtm.Tests.Support;
using OpenCvSharp;
using Xunit.Abstractions;

namespace Cmtm.Tests.Reliability;

/// <summary>
/// Issue 7's bad-input matrix in one place, each case through the real CLI (`cmtm segment` / `cmtm predict`): exit code 2,
/// exactly one stderr line `error: FILE: PROBLEM` naming the offending file, and nothing left behind (no output file or
/// folder, no staging folder, no temporary file). Grayscale, RGBA and 16-bit PNG inputs are not errors: they are converted
/// with a note and give the same mask as the equivalent 8-bit RGB input.
/// </summary>
[Collection("Console")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class BadInputMatrixTests(BlackswanClip clip, ITestOutputHelper output) : IClassFixture<BlackswanClip>
{
    private static string Weights => BlackswanClip.Weights;
    private static string Image => Shared.Fixture("model", "cmtm_b0_r128_png_img.png");
    private static string FlowImage => Shared.Fixture("model", "cmtm_b0_r128_png_flow.png");

    /// <summary>A command line, the subject and problem its error must name, and where output must not appear.</summary>
    private sealed record Case(string[] Args, string Subject, string Problem, string[] Outputs, long? FileSizeLimitKb = null);

    public static TheoryData<string> Cases => new()
    {
        "missing video", "missing checkpoint", "missing image", "unreadable image", "unreadable frame",
        "corrupt video", "zero-frame video (avi)", "zero-frame video (mp4)", "frames of mixed sizes", "fewer flow images than frames", "fewer flow images than video frames",
        "checkpoint of another architecture (segment)", "checkpoint of another architecture (predict)", "resolution not a multiple of 32",
        "output folder not writable (segment)", "output folder not writable (predict, logits written first)", "output path inside a file",
        "disk full (segment)", "disk full (predict)",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BadInputIsOneNamedErrorWithoutOutput(string name)
    {
        using var d = new Shared.TempDir();
        var c = Arrange(name, d);
        var before = Tree(d.Path);
        var (code, stdout, stderr) = c.FileSizeLimitKb is long kb ? ChildCli.Run(c.Args, kb) : CliHarness.Run(c.Args);

        Assert.True(code == 2, $"exit code {code}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        var errors = stderr.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).ToList();
        var line = Assert.Single(errors);
        output.WriteLine(line);
        Assert.True(line.StartsWith($"error: {c.Subject}: ", StringComparison.Ordinal) && line.Contains(c.Problem, StringComparison.Ordinal),
            $"expected 'error: {c.Subject}: ...{c.Problem}...', got '{line}'");
        Assert.Equal(before, Tree(d.Path)); // no output, staging folder or temporary file appeared
        Assert.All(c.Outputs, o => Assert.False(File.Exists(o) || Directory.Exists(o), $"{o} exists"));
    }

    private Case Arrange(string name, Shared.TempDir d)
    {
        string outDir = d.File("out"), mask = d.File("mask.png"), logits = d.File("logits.npy");
        string[] Segment(string input, string[]? more = null, string? output = null, string? weights = null, string resolution = "64") =>
            ["segment", input, "--weights", weights ?? Weights, "--resolution", resolution, "--out", output ?? outDir, "--threads", "1", .. more ?? []];
        string[] Predict(string[]? more = null, string? image = null, string? output = null) =>
            ["predict", "--weights", Weights, "--image", image ?? Image, "--flow", FlowImage, "--out", output ?? mask, "--threads", "1", .. more ?? []];
        switch (name)
        {
            case "missing video":
                return new(Segment(d.File("missing.mp4")), d.File("missing.mp4"), "no such video file or frames folder", [outDir]);
            case "missing checkpoint":
                return new(Segment(clip.FramesDir, weights: d.File("missing.pth")), d.File("missing.pth"), "file not found", [outDir]);
            case "missing image":
                return new(Predict(image: d.File("missing.png")), d.File("missing.png"), "file not found", [mask]);
            case "unreadable image":
            {
                var unreadable = Unreadable(d, Image, "unreadable.png");
                return new(Predict(image: unreadable), unreadable, "cannot read file", [mask]);
            }
            case "unreadable frame":
            {
                var frames = Frames(d, 3);
                var frame = Path.Combine(frames, "00001.jpg");
                File.Delete(frame);
                var target = Unreadable(d, Path.Combine(clip.FramesDir, "00001.jpg"), "unreadable.jpg");
                if (Environment.IsPrivilegedProcess) File.CreateSymbolicLink(frame, target); // to the sysctl
                else File.Move(target, frame);
                return new(Segment(frames), frame, "cannot read file", [outDir]);
            }
            case "corrupt video":
            {
                var bytes = new byte[200_000];
                new Random(7).NextBytes(bytes);
                File.WriteAllBytes(d.File("noise.mp4"), bytes);
                return new(Segment(d.File("noise.mp4")), d.File("noise.mp4"), "cannot open video", [outDir]);
            }
            case "zero-frame video (avi)":
            case "zero-frame video (mp4)":
            {
                // a container with a video stream and no frames (OpenCV writes the header and index on release)
                bool avi = name.EndsWith("(avi)");
                var video = d.File(avi ? "zero.avi" : "zero.mp4");
                using (var writer = new VideoWriter(video, avi ? FourCC.MJPG : FourCC.MP4V, 24, new Size(64, 48))) Assert.True(writer.IsOpened());
                Assert.True(new FileInfo(video).Length > 0, "expected a container without frames, not an empty file");
                // FFmpeg opens the AVI and finds no frame; it refuses to open an MP4 whose only stream has no samples
                return new(Segment(video), video, avi ? "video has no decodable frames" : "cannot open video (corrupt, without frames,", [outDir]);
            }
            case "frames of mixed sizes":
            {
                var frames = Frames(d, 3);
                var small = Path.Combine(frames, "00002.jpg");
                using (var m = Cv2.ImRead(small)) using (var half = m.Resize(new Size(m.Cols / 2, m.Rows / 2)))
                {
                    File.Delete(small); // the copy keeps the shared data's read-only mode
                    Assert.True(Cv2.ImWrite(small, half));
                }
                return new(Segment(frames), small, "mixed frame sizes are not supported", [outDir]);
            }
            case "fewer flow images than frames":
                return new(Segment(clip.FramesDir, ["--flow", FlowFolder(d, 4)]), d.File("flows"), "no flow image for frame '00004'", [outDir]);
            case "fewer flow images than video frames": // found mid-run, after 4 masks were staged
                return new(Segment(clip.Video, ["--flow", FlowFolder(d, 4)]), d.File("flows"), "no flow image for frame '00004'", [outDir]);
            case "checkpoint of another architecture (segment)":
                return new(Segment(clip.FramesDir, ["--arch", "fakeflow-b0"]), Weights, "checkpoint holds a cmtm-b0 model but --arch fakeflow-b0 was requested", [outDir]);
            case "checkpoint of another architecture (predict)":
                return new(Predict(["--arch", "cmtm-b2"]), Weights, "checkpoint holds a cmtm-b0 model but --arch cmtm-b2 was requested", [mask]);
            case "resolution not a multiple of 32":
                return new(Segment(clip.FramesDir, resolution: "100"), "--resolution", "100 is not a positive multiple of 32", [outDir]);
            case "output folder not writable (segment)":
            {
                var target = Path.Combine(NotWritableFolder(d), "masks-" + Guid.NewGuid().ToString("N")[..8]);
                return new(Segment(Frames(d, 2), output: target), target, "output folder is not writable", [target, outDir]);
            }
            case "output folder not writable (predict, logits written first)":
            {
                var target = Path.Combine(NotWritableFolder(d), "mask-" + Guid.NewGuid().ToString("N")[..8] + ".png");
                return new(Predict(["--logits", logits], output: target), target, "cannot write file", [target, logits]);
            }
            case "output path inside a file":
            {
                File.WriteAllText(d.File("notes.txt"), "a file, not a folder");
                var target = Path.Combine(d.File("notes.txt"), "masks");
                return new(Segment(Frames(d, 2), output: target), d.File("notes.txt"), "cannot create folder", [target]);
            }
            case "disk full (segment)": // 854x480 masks fit in 1000 KiB, the 3.3 MB logits of the first frame do not
                return new(Segment(Frames(d, 2), ["--logits"]), Path.Combine(outDir, "logits", "00000.npy"), "cannot write file", [outDir], FileSizeLimitKb: 1000);
            case "disk full (predict)": // the 128x128 logits are 131 KB
                return new(Predict(["--logits", logits]), logits, "cannot write file", [mask, logits], FileSizeLimitKb: 64);
            default:
                throw new ArgumentException(name);
        }
    }

    /// <summary>The first <paramref name="n"/> blackswan frames in a folder of the test's own.</summary>
    private string Frames(Shared.TempDir d, int n)
    {
        var dir = Directory.CreateDirectory(d.File("frames")).FullName;
        for (int i = 0; i < n; i++) File.Copy(Path.Combine(clip.FramesDir, $"{i:00000}.jpg"), Path.Combine(dir, $"{i:00000}.jpg"));
        return dir;
    }

    /// <summary>Flow images (any RGB image serves) for the first <paramref name="n"/> of the clip's frames.</summary>
    private string FlowFolder(Shared.TempDir d, int n)
    {
        var dir = Directory.CreateDirectory(d.File("flows")).FullName;
        for (int i = 0; i < n; i++) File.Copy(Path.Combine(clip.FramesDir, $"{i:00000}.jpg"), Path.Combine(dir, $"{i:00000}.jpg"));
        return dir;
    }

    /// <summary>
    /// A file that exists but cannot be read. chmod does not stop root, so as root it is a write-only sysctl
    /// (/proc/sys/vm/drop_caches, mode 0200: reading it is refused even for root); otherwise a copy with mode 000.
    /// </summary>
    private static string Unreadable(Shared.TempDir d, string copyOf, string name)
    {
        string path;
        if (Environment.IsPrivilegedProcess) path = "/proc/sys/vm/drop_caches";
        else
        {
            path = d.File(name);
            File.Copy(copyOf, path);
            File.SetUnixFileMode(path, UnixFileMode.None);
        }
        Assert.True(File.Exists(path), $"{path} does not exist");
        Assert.ThrowsAny<UnauthorizedAccessException>(() => File.ReadAllBytes(path));
        return path;
    }

    /// <summary>
    /// A folder nobody may create entries in: as root (chmod does not stop root) /sys, which refuses new files and
    /// folders even for root; otherwise a folder of the test with mode 555.
    /// </summary>
    private static string NotWritableFolder(Shared.TempDir d)
    {
        string dir;
        if (Environment.IsPrivilegedProcess) dir = "/sys";
        else
        {
            dir = Directory.CreateDirectory(d.File("read-only")).FullName;
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
                                      UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
        var probe = Path.Combine(dir, ".cmtm-probe-" + Guid.NewGuid().ToString("N"));
        Assert.ThrowsAny<Exception>(() => Directory.CreateDirectory(probe));
        Assert.False(Directory.Exists(probe));
        return dir;
    }

    /// <summary>Every file and folder below <paramref name="root"/> (relative paths, sorted).</summary>
    private static string[] Tree(string root) =>
        Directory.GetFileSystemEntries(root, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal).ToArray();

    // ---- conversions: not errors ----

    public static TheoryData<string, string> Conversions => new()
    {
        { "gray", "predict" }, { "rgba", "predict" }, { "rgb16", "predict" },
        { "gray", "segment" }, { "rgba", "segment" }, { "rgb16", "segment" },
    };

    /// <summary>
    /// The kind's PNG of an 8-bit BGR image, and the 8-bit RGB image it is equivalent to: gray replicated to three channels,
    /// the colour without its (varying) alpha, the 8-bit values of a 16-bit image scaled by 257.
    /// </summary>
    private static (Mat Variant, Mat Equivalent) Convert(Mat bgr, string kind)
    {
        var variant = new Mat(); var equivalent = new Mat();
        switch (kind)
        {
            case "gray":
                Cv2.CvtColor(bgr, variant, ColorConversionCodes.BGR2GRAY);
                Cv2.CvtColor(variant, equivalent, ColorConversionCodes.GRAY2BGR);
                break;
            case "rgba":
                Cv2.CvtColor(bgr, variant, ColorConversionCodes.BGR2BGRA);
                using (var alpha = new Mat(bgr.Size(), MatType.CV_8UC1))
                {
                    Cv2.Randu(alpha, 0, 256);
                    Cv2.InsertChannel(alpha, variant, 3);
                }
                bgr.CopyTo(equivalent);
                break;
            default:
                bgr.ConvertTo(variant, MatType.CV_16UC3, 257);
                bgr.CopyTo(equivalent);
                break;
        }
        return (variant, equivalent);
    }

    private static string NoteOf(string kind) => kind switch
    {
        "gray" => "grayscale converted to RGB",
        "rgba" => "RGBA converted to RGB (alpha dropped)",
        _ => "16-bit converted to 8-bit",
    };

    /// <summary>Writes the kind's PNG and its 8-bit RGB equivalent of <paramref name="source"/>; returns both paths.</summary>
    private static (string Variant, string Equivalent) WritePair(string kind, string source, string variantPath, string equivalentPath, Size? size = null)
    {
        using var read = Cv2.ImRead(source, ImreadModes.Color);
        using var bgr = size is Size s ? read.Resize(s, interpolation: InterpolationFlags.Area) : read.Clone();
        var (variant, equivalent) = Convert(bgr, kind);
        using (variant) using (equivalent)
        {
            Assert.True(Cv2.ImWrite(variantPath, variant));
            Assert.True(Cv2.ImWrite(equivalentPath, equivalent));
        }
        return (variantPath, equivalentPath);
    }

    [Theory]
    [MemberData(nameof(Conversions))]
    public void GrayRgbaAnd16BitPngAreConvertedWithANoteAndGiveTheMaskOfTheirRgbEquivalent(string kind, string command)
    {
        using var d = new Shared.TempDir();
        var variantDir = Directory.CreateDirectory(d.File(kind)).FullName;    // the kind's PNGs
        var rgbDir = Directory.CreateDirectory(d.File("rgb")).FullName;       // their 8-bit RGB equivalents
        var png = PngCodec.Read(WritePair(kind, Image, Path.Combine(variantDir, "probe.png"), Path.Combine(rgbDir, "probe.png")).Variant);
        Assert.Equal(kind switch { "gray" => PngColorType.Gray, "rgba" => PngColorType.Rgba, _ => PngColorType.Rgb }, png.ColorType);
        Assert.Equal(kind == "rgb16" ? 16 : 8, png.BitDepth);
        File.Delete(Path.Combine(variantDir, "probe.png")); File.Delete(Path.Combine(rgbDir, "probe.png"));

        if (command == "predict")
        {
            var image = WritePair(kind, Image, Path.Combine(variantDir, "image.png"), Path.Combine(rgbDir, "image.png"));
            var flow = WritePair(kind, FlowImage, Path.Combine(variantDir, "flow.png"), Path.Combine(rgbDir, "flow.png"));
            string[] Predict(string img, string flo, string output) =>
                ["predict", "--weights", Weights, "--image", img, "--flow", flo, "--out", output, "--threads", "1"];
            var (code, _, stderr) = CliHarness.Run(Predict(image.Variant, flow.Variant, d.File("variant.png")));
            Assert.True(code == 0, stderr);
            Assert.Contains($"note: {image.Variant}: {NoteOf(kind)}", stderr);
            Assert.Contains($"note: {flow.Variant}: {NoteOf(kind)}", stderr);
            Assert.DoesNotContain("error", stderr);
            (code, _, stderr) = CliHarness.Run(Predict(image.Equivalent, flow.Equivalent, d.File("rgb.png")));
            Assert.True(code == 0, stderr);
            Assert.DoesNotContain("converted", stderr);
            AssertSameMask(d.File("rgb.png"), d.File("variant.png"));
        }
        else
        {
            for (int i = 0; i < 3; i++) // a third of the DAVIS size keeps Farneback quick
                WritePair(kind, Path.Combine(clip.FramesDir, $"{i:00000}.jpg"), Path.Combine(variantDir, $"{i:00000}.png"), Path.Combine(rgbDir, $"{i:00000}.png"), new Size(284, 160));
            string[] Segment(string frames, string output) =>
                ["segment", frames, "--weights", Weights, "--resolution", "64", "--out", output, "--threads", "1"];
            var (code, stdout, stderr) = CliHarness.Run(Segment(variantDir, d.File("variant-masks")));
            Assert.True(code == 0, stderr + stdout);
            var notes = stderr.Split('\n').Where(l => l.Contains("converted")).ToList();
            Assert.Equal([$"note: {Path.Combine(variantDir, "00000.png")}: {NoteOf(kind)}"], notes); // once, not once per frame
            Assert.DoesNotContain("error", stderr);
            (code, stdout, stderr) = CliHarness.Run(Segment(rgbDir, d.File("rgb-masks")));
            Assert.True(code == 0, stderr + stdout);
            Assert.DoesNotContain("converted", stderr);
            for (int i = 0; i < 3; i++)
                AssertSameMask(Path.Combine(d.File("rgb-masks"), $"{i:00000}.png"), Path.Combine(d.File("variant-masks"), $"{i:00000}.png"));
        }
    }

    private static void AssertSameMask(string expected, string actual)
    {
        var a = PngMask.Read(expected); var b = PngMask.Read(actual);
        Assert.Equal((a.Width, a.Height), (b.Width, b.Height));
        Assert.True(a.Data.AsSpan().SequenceEqual(b.Data), $"{actual} differs from {expected}");
        Assert.Contains(a.Data, v => v != 0); // a mask with some foreground and some background compares something
        Assert.Contains(a.Data, v => v == 0);
    }
}
