using Cmtm.IO;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;
using OpenCvSharp;

namespace Cmtm.Tests.Inference;

/// <summary>
/// The first 6 frames of DAVIS blackswan (854x480) copied to a temp folder, and an mp4 (mp4v) made from them.
/// Shared by the `cmtm segment` tests; the fixture checkpoint (random-weight CMTM-b0) runs at resolution 64 for speed.
/// </summary>
public sealed class BlackswanClip : IDisposable
{
    public const int Frames = 6, Width = 854, Height = 480;
    private readonly Shared.TempDir dir = new();
    public string FramesDir { get; }
    public string Video { get; }
    public static string Weights => Shared.Fixture("model", "cmtm_b0_r128.pth");

    public BlackswanClip()
    {
        FramesDir = Directory.CreateDirectory(Path.Combine(dir.Path, "blackswan")).FullName;
        for (var i = 0; i < Frames; i++)
            File.Copy(Shared.DataPath("davis16-val", "JPEGImages", "480p", "blackswan", $"{i:00000}.jpg"), Path.Combine(FramesDir, $"{i:00000}.jpg"));
        Video = Path.Combine(dir.Path, "blackswan.mp4");
        using var writer = new VideoWriter(Video, FourCC.MP4V, 24, new Size(Width, Height));
        Assert.True(writer.IsOpened(), "OpenCV cannot write mp4v");
        foreach (var f in Directory.GetFiles(FramesDir).Order(StringComparer.Ordinal))
        {
            using var m = Cv2.ImRead(f);
            writer.Write(m);
        }
        writer.Release();
    }

    public void Dispose() => dir.Dispose();

    /// <summary>Frames read back from a video file until the decoder stops, and the frame size.</summary>
    public static (int Count, int Width, int Height) PlayBack(string video)
    {
        using var cap = new VideoCapture(video, VideoCaptureAPIs.FFMPEG);
        Assert.True(cap.IsOpened(), $"cannot open {video}");
        using var m = new Mat();
        int n = 0, w = 0, h = 0;
        while (cap.Read(m) && !m.Empty()) { n++; w = m.Cols; h = m.Rows; }
        return (n, w, h);
    }
}

/// <summary>`cmtm segment`: real DAVIS frames folder and mp4 in, one mask per frame, overlay video, named errors.</summary>
[Collection("Console")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class SegmentCommandTests(BlackswanClip clip) : IClassFixture<BlackswanClip>
{
    private static string[] Masks(string outDir) =>
        Directory.GetFiles(outDir, "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    private static readonly string[] Stems = Enumerable.Range(0, BlackswanClip.Frames).Select(i => $"{i:00000}").ToArray();

    /// <summary>No output folder and no staging folder (".name.partial-PID") beside it.</summary>
    private static void AssertNoOutput(string outDir)
    {
        Assert.False(Directory.Exists(outDir), $"{outDir} exists");
        var parent = Path.GetDirectoryName(outDir)!;
        Assert.Empty(Directory.GetDirectories(parent, $".{Path.GetFileName(outDir)}.partial*"));
    }

    [Fact]
    public void FramesFolderGivesOneMaskPerFrameAndAnOverlayVideoThatPlaysBack()
    {
        using var d = new Shared.TempDir();
        var outDir = d.File("masks");
        var (code, stdout, stderr) = CliHarness.Run("segment", clip.FramesDir, "--weights", BlackswanClip.Weights, "--resolution", "64",
            "--out", outDir, "--overlay", "--threads", "2");
        Assert.True(code == 0, stderr + stdout);

        Assert.Equal(Stems.Select(s => s + ".png"), Masks(outDir));
        foreach (var m in Masks(outDir))
        {
            var png = PngCodec.Read(Path.Combine(outDir, m));
            Assert.Equal((BlackswanClip.Width, BlackswanClip.Height, PngColorType.Gray), (png.Width, png.Height, png.ColorType));
            Assert.All(png.Samples, v => Assert.True(v is 0 or 255));
        }
        Assert.Equal(Stems.Select(s => s + ".jpg"), Directory.GetFiles(Path.Combine(outDir, "overlay")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal((BlackswanClip.Frames, BlackswanClip.Width, BlackswanClip.Height), BlackswanClip.PlayBack(Path.Combine(outDir, "overlay.mp4")));
        Assert.Contains($"done: {BlackswanClip.Frames} frames", stdout);
        Assert.Matches(@"model-only \d+\.\d\d frames/s, end-to-end \d+\.\d\d frames/s", stdout);
        Assert.Empty(Directory.GetDirectories(d.Path, ".*"));
    }

    [Fact]
    public void Mp4GivesOneMaskPerDecodedFrameAndOverwriteReplacesTheFolder()
    {
        Assert.Equal((BlackswanClip.Frames, BlackswanClip.Width, BlackswanClip.Height), BlackswanClip.PlayBack(clip.Video));
        using var d = new Shared.TempDir();
        var outDir = d.File("masks");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "stale.txt"), "from an earlier run");
        var (code, stdout, stderr) = CliHarness.Run("segment", clip.Video, "--weights", BlackswanClip.Weights, "--resolution", "64",
            "--out", outDir, "--overlay", "--palette", "--overwrite", "--threads", "2");
        Assert.True(code == 0, stderr + stdout);
        Assert.False(File.Exists(Path.Combine(outDir, "stale.txt")));
        Assert.Equal(Stems.Select(s => s + ".png"), Masks(outDir));
        var png = PngCodec.Read(Path.Combine(outDir, "00003.png"));
        Assert.Equal((BlackswanClip.Width, BlackswanClip.Height, PngColorType.Palette), (png.Width, png.Height, png.ColorType));
        Assert.Equal((BlackswanClip.Frames, BlackswanClip.Width, BlackswanClip.Height), BlackswanClip.PlayBack(Path.Combine(outDir, "overlay.mp4")));
    }

    [Theory]
    [InlineData("noise")]     // random bytes named .mp4
    [InlineData("truncated")] // the first 60 % of a real mp4: the index (moov, written last by mp4v) is gone
    [InlineData("empty")]     // 0 bytes
    [InlineData("damaged")]   // the second half of the frame data (mdat) overwritten: the first frames decode, then it fails
    public void CorruptVideoIsANamedErrorWithoutOutput(string kind)
    {
        using var d = new Shared.TempDir();
        var bad = d.File(kind + ".mp4");
        var real = File.ReadAllBytes(clip.Video);
        var bytes = kind switch
        {
            "noise" => new byte[200_000],
            "truncated" => real[..(real.Length * 6 / 10)],
            "damaged" => (byte[])real.Clone(),
            _ => [],
        };
        if (kind == "noise") new Random(7).NextBytes(bytes);
        if (kind == "damaged")
        {
            int mdat = IndexOf(real, "mdat"u8), moov = IndexOf(real, "moov"u8);
            Assert.True(mdat > 0 && moov > mdat, "expected an mp4 with the frame data before the index");
            new Random(7).NextBytes(bytes.AsSpan(mdat + (moov - mdat) / 2, (moov - mdat) / 2 - 16));
        }
        File.WriteAllBytes(bad, bytes);
        var outDir = d.File("out");
        var (code, stdout, err) = CliHarness.Run("segment", bad, "--weights", BlackswanClip.Weights, "--resolution", "64", "--out", outDir);
        Assert.True(code == 2, stdout + err);
        Assert.StartsWith($"error: {bad}", err.Trim().Split('\n')[^1]); // progress lines may come first
        Assert.Contains(kind switch { "empty" => "video file is empty", "damaged" => "cannot decode frame", _ => "cannot open video" }, err);
        AssertNoOutput(outDir);
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);

    [Fact]
    public void EmptyFolderIsANamedErrorWithoutOutput()
    {
        using var d = new Shared.TempDir();
        var empty = Directory.CreateDirectory(d.File("frames")).FullName;
        File.WriteAllText(Path.Combine(empty, "notes.txt"), "not a frame");
        var (code, _, err) = CliHarness.Run("segment", empty, "--weights", BlackswanClip.Weights);
        Assert.Equal(2, code);
        Assert.Contains($"error: {empty}: no frames", err);
        AssertNoOutput(empty + "_masks");
    }

    [Fact]
    public void UnreadableFrameMidRunIsANamedErrorAndTheStagedOutputIsRemoved()
    {
        using var d = new Shared.TempDir();
        var frames = Directory.CreateDirectory(d.File("frames")).FullName;
        for (var i = 0; i < 3; i++) File.Copy(Path.Combine(clip.FramesDir, $"{i:00000}.jpg"), Path.Combine(frames, $"{i:00000}.jpg"));
        var broken = Path.Combine(frames, "00003.jpg");
        File.WriteAllBytes(broken, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5]); // a JPEG header and nothing else
        var outDir = d.File("out");
        var (code, stdout, err) = CliHarness.Run("segment", frames, "--weights", BlackswanClip.Weights, "--resolution", "64", "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains($"error: {broken}: cannot decode image", err);
        Assert.DoesNotContain("done:", stdout);
        AssertNoOutput(outDir);
    }

    [Fact]
    public void FlowFolderMissingAFrameNamesTheFirstFrameWithoutAFlow()
    {
        using var d = new Shared.TempDir();
        var flows = Directory.CreateDirectory(d.File("flows")).FullName;
        foreach (var s in Stems.Where(s => s is not "00002" and not "00004"))
            File.Copy(Path.Combine(clip.FramesDir, s + ".jpg"), Path.Combine(flows, s + ".jpg")); // any RGB image serves as a flow image
        var outDir = d.File("out");
        var (code, _, err) = CliHarness.Run("segment", clip.FramesDir, "--weights", BlackswanClip.Weights, "--flow", flows, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains($"error: {flows}: no flow image for frame '00002'", err);
        AssertNoOutput(outDir);
    }

    [Fact]
    public void NonEmptyOutputFolderNeedsOverwrite()
    {
        using var d = new Shared.TempDir();
        var outDir = Directory.CreateDirectory(d.File("out")).FullName;
        var keep = Path.Combine(outDir, "keep.png");
        File.WriteAllBytes(keep, [1, 2, 3]);
        var (code, _, err) = CliHarness.Run("segment", clip.FramesDir, "--weights", BlackswanClip.Weights, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains($"error: {outDir}: output folder is not empty (use --overwrite", err);
        Assert.Equal([keep], Directory.GetFileSystemEntries(outDir));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(keep));
        Assert.Empty(Directory.GetDirectories(d.Path, ".*"));
    }

    [Fact]
    public void ImageGlobSelectsMatchingFramesAndNamesTheDefaultOutputAfterTheFolder()
    {
        using var d = new Shared.TempDir();
        var frames = Directory.CreateDirectory(d.File("clip")).FullName;
        File.Copy(Path.Combine(clip.FramesDir, "00000.jpg"), Path.Combine(frames, "a0.jpg"));
        File.Copy(Path.Combine(clip.FramesDir, "00001.jpg"), Path.Combine(frames, "a1.jpg"));
        File.Copy(Path.Combine(clip.FramesDir, "00002.jpg"), Path.Combine(frames, "b0.jpg"));
        var source = FrameSources.Open(Path.Combine(frames, "a*.jpg"));
        Assert.Equal(2, source.Count);
        Assert.Equal(["a0", "a1"], source.Select(f => f.Stem));
        Assert.Equal(["a0", "a1", "b0"], FrameSources.Open(Path.Combine(frames, "??.jpg")).Select(f => f.Stem));
        var none = Assert.Throws<CmtmException>(() => FrameSources.Open(Path.Combine(frames, "z*.jpg")));
        Assert.Contains("match the pattern", none.Message);
        Assert.Contains(Path.Combine(frames, "z*.jpg"), none.Message);

        // default output of a glob is <folder>_masks (checked before the model loads)
        var defaultOut = Directory.CreateDirectory(frames + "_masks").FullName;
        File.WriteAllText(Path.Combine(defaultOut, "x.txt"), "x");
        var (code, _, err) = CliHarness.Run("segment", Path.Combine(frames, "a*.jpg"), "--weights", BlackswanClip.Weights);
        Assert.Equal(2, code);
        Assert.Contains($"error: {defaultOut}: output folder is not empty", err);
    }
}
