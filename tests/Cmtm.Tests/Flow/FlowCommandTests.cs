using Cmtm.Flow;
using Cmtm.Tests.Support;
using OpenCvSharp;

namespace Cmtm.Tests.Flow;

/// <summary>`cmtm flow` and `cmtm flow visualize` run in-process through the real command line parser.</summary>
[Collection("Console")]
public class FlowCommandTests
{
    private static int Cli(params string[] args) => Cmtm.Tests.Cli.CliHarness.Run(args).Code;

    /// <summary>n frames of one texture moving by (dx, dy) per frame, written as PNGs 00000.png ...</summary>
    private static void WriteMovingFrames(string dir, int n, int dx, int dy, int w = 160, int h = 120)
    {
        int pad = 8 + n * Math.Max(Math.Abs(dx), Math.Abs(dy));
        using var big = FarnebackFlowTests.Texture(w + 2 * pad, h + 2 * pad, 5);
        for (int i = 0; i < n; i++)
        {
            using var crop = new Mat(big, new Rect(pad - i * dx, pad - i * dy, w, h));
            Cv2.ImWrite(Path.Combine(dir, $"{i:D5}.png"), crop);
        }
    }

    private static string[] Files(string dir) => Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void FarnebackOnFramesFolderWritesOneImageAndFloPerFrameAndResumes()
    {
        using var tmp = new Shared.TempDir();
        var frames = Directory.CreateDirectory(tmp.File("frames")).FullName;
        WriteMovingFrames(frames, 4, 2, -1);
        var outDir = tmp.File("out");
        Assert.Equal(0, Cli("flow", frames, "--method", "farneback", "--out", outDir, "--flo", "--format", "png"));
        Assert.Equal(new[] { "00000.flo", "00000.png", "00001.flo", "00001.png", "00002.flo", "00002.png", "00003.flo", "00003.png" }, Files(outDir));

        var first = FloFile.Read(Path.Combine(outDir, "00000.flo"));
        Assert.True(FarnebackFlowTests.InteriorEpe(first, 2, -1, 16) < 0.1);
        var last = FloFile.Read(Path.Combine(outDir, "00003.flo")); // backward flow 3 -> 2
        Assert.True(FarnebackFlowTests.InteriorEpe(last, -2, 1, 16) < 0.1);
        Assert.Equal(first.ToRgb(), FlowColorTests.ReadPngRgb(Path.Combine(outDir, "00000.png")));

        // resume: existing outputs are not rewritten; a deleted one is recomputed
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(outDir, "00001.png"));
        File.Delete(Path.Combine(outDir, "00002.png"));
        Thread.Sleep(20);
        Assert.Equal(0, Cli("flow", frames, "--out", outDir, "--flo", "--format", "png"));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(outDir, "00001.png")));
        Assert.True(File.Exists(Path.Combine(outDir, "00002.png")));
        Assert.Equal(8, Files(outDir).Length);
    }

    [Fact]
    public void VideoInputWritesJpegsNamedByFrameNumber()
    {
        using var tmp = new Shared.TempDir();
        var frames = Directory.CreateDirectory(tmp.File("frames")).FullName;
        WriteMovingFrames(frames, 5, 1, 1);
        var video = tmp.File("clip.avi");
        using (var vw = new VideoWriter(video, FourCC.MJPG, 10, new Size(160, 120)))
            foreach (var f in Directory.GetFiles(frames).Order())
            {
                using var m = Cv2.ImRead(f);
                vw.Write(m);
            }
        var outDir = tmp.File("out");
        Assert.Equal(0, Cli("flow", video, "--out", outDir));
        Assert.Equal(new[] { "00000.jpg", "00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg" }, Files(outDir));
        using var img = Cv2.ImRead(Path.Combine(outDir, "00002.jpg"));
        Assert.Equal((160, 120), (img.Width, img.Height));
    }

    [Fact]
    public void VisualizeRendersFloExactlyAsFixture()
    {
        using var tmp = new Shared.TempDir();
        var png = tmp.File("v.png");
        Assert.Equal(0, Cli("flow", "visualize", Shared.Fixture("flow", "viz_case3.flo"), png));
        Assert.Equal(FlowColorTests.ReadPngRgb(Shared.Fixture("flow", "viz_case3_rgb.png")), FlowColorTests.ReadPngRgb(png));
        Assert.Equal(2, Cli("flow", "visualize", tmp.File("missing.flo"), tmp.File("x.png")));
        Assert.False(File.Exists(tmp.File("x.png")));
    }

    [Fact]
    public void RaftOnFixtureFramesMatchesOfficialFlow()
    {
        using var tmp = new Shared.TempDir();
        var frames = Directory.CreateDirectory(tmp.File("frames")).FullName;
        File.Copy(Shared.Fixture("flow", "raft_frame1.png"), Path.Combine(frames, "a.png"));
        File.Copy(Shared.Fixture("flow", "raft_frame2.png"), Path.Combine(frames, "b.png"));
        var outDir = tmp.File("out");
        Assert.Equal(0, Cli("flow", frames, "--method", "raft", "--weights", Shared.Fixture("flow", "raft_large_seed0.pth"),
            "--iters", "4", "--out", outDir, "--flo"));
        var got = FloFile.Read(Path.Combine(outDir, "a.flo"));
        var expected = FloFile.Read(Shared.Fixture("flow", "raft_expected_flow_up.flo"));
        double max = got.Data.Zip(expected.Data, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(max < 1e-3, $"max |diff| {max}"); // same tolerance as RaftParityTests
        Assert.True(File.Exists(Path.Combine(outDir, "b.flo"))); // last frame: backward flow
    }

    [Fact]
    public void BadInputsExitNonZeroWithoutPartialOutputs()
    {
        using var tmp = new Shared.TempDir();
        var empty = Directory.CreateDirectory(tmp.File("empty")).FullName;
        var outDir = tmp.File("out");
        Assert.Equal(2, Cli("flow", empty, "--out", outDir));
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any());

        var frames = Directory.CreateDirectory(tmp.File("frames")).FullName;
        WriteMovingFrames(frames, 3, 1, 0);
        File.WriteAllBytes(Path.Combine(frames, "00001.png"), new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3 });
        Assert.Equal(2, Cli("flow", frames, "--out", outDir));
        Assert.True(!Directory.Exists(outDir) || Directory.GetFiles(outDir).All(f => !Path.GetFileName(f).StartsWith('.')));
        Assert.False(Directory.Exists(outDir) && Directory.GetFiles(outDir).Any(f => f.EndsWith(".tmp")));

        var one = Directory.CreateDirectory(tmp.File("one")).FullName;
        WriteMovingFrames(one, 1, 0, 0);
        Assert.Equal(2, Cli("flow", one, "--out", tmp.File("out1")));

        Assert.Equal(2, Cli("flow", frames, "--out", outDir, "--method", "nope"));
        Assert.Equal(2, Cli("flow", frames, "--out", outDir, "--format", "bmp"));

        var small = Directory.CreateDirectory(tmp.File("small")).FullName;
        WriteMovingFrames(small, 2, 1, 0, w: 64, h: 48);
        Assert.Equal(2, Cli("flow", small, "--out", tmp.File("out2"), "--method", "raft", "--weights", Shared.Fixture("flow", "raft_large_seed0.pth")));
        Assert.False(Directory.Exists(tmp.File("out2")) && Directory.EnumerateFileSystemEntries(tmp.File("out2")).Any());
    }
}
