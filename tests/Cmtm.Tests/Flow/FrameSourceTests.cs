using Cmtm.IO;
using Cmtm.Tests.Support;
using OpenCvSharp;

namespace Cmtm.Tests.Flow;

public class FrameSourceTests
{
    private static void WriteImage(string path, int w, int h, byte value)
    {
        using var m = new Mat(h, w, MatType.CV_8UC3, new Scalar(value, value / 2, 255 - value));
        Cv2.ImWrite(path, m);
    }

    [Fact]
    public void FolderIsSortedByNameWithStemsAndRgbOrder()
    {
        using var dir = new Shared.TempDir();
        WriteImage(dir.File("00002.png"), 8, 6, 30);
        WriteImage(dir.File("00000.png"), 8, 6, 10);
        WriteImage(dir.File("00001.jpg"), 8, 6, 20);
        File.WriteAllText(dir.File("notes.txt"), "ignored");
        var src = FrameSources.Open(dir.Path);
        Assert.Equal(3, src.Count);
        var frames = src.ToList();
        Assert.Equal(new[] { "00000", "00001", "00002" }, frames.Select(f => f.Stem));
        Assert.Equal(new[] { 0, 1, 2 }, frames.Select(f => f.Index));
        // BGR (10,5,245) written -> RGB (245,5,10)
        Assert.Equal(new byte[] { 245, 5, 10 }, frames[0].Rgb[..3]);
        Assert.All(frames, f => Assert.Equal((8, 6), (f.Width, f.Height)));
    }

    [Fact]
    public void NamedErrorsForBadFolders()
    {
        using var dir = new Shared.TempDir();
        var e = Assert.Throws<CmtmException>(() => FrameSources.Open(dir.Path));
        Assert.Contains("no frames", e.Message);
        Assert.Contains(dir.Path, e.Message);

        e = Assert.Throws<CmtmException>(() => FrameSources.Open(dir.File("nope")));
        Assert.Contains("no such", e.Message);

        WriteImage(dir.File("a.png"), 8, 6, 1);
        File.WriteAllBytes(dir.File("b.jpg"), new byte[] { 0xFF, 0xD8, 0xFF, 1, 2, 3 });
        e = Assert.Throws<CmtmException>(() => FrameSources.Open(dir.Path).ToList());
        Assert.Contains("b.jpg", e.Message);
        Assert.Contains("cannot decode", e.Message);

        File.Delete(dir.File("b.jpg"));
        WriteImage(dir.File("c.png"), 9, 6, 1);
        e = Assert.Throws<CmtmException>(() => FrameSources.Open(dir.Path).ToList());
        Assert.Contains("c.png", e.Message);
        Assert.Contains("mixed frame sizes", e.Message);
    }

    [Fact]
    public void VideoFileRoundTripsFrameCountAndSize()
    {
        using var dir = new Shared.TempDir();
        var path = dir.File("clip.avi");
        using (var vw = new VideoWriter(path, FourCC.MJPG, 10, new Size(64, 48)))
        {
            Assert.True(vw.IsOpened());
            for (int i = 0; i < 7; i++)
            {
                using var m = new Mat(48, 64, MatType.CV_8UC3, new Scalar(20 * i, 100, 200));
                vw.Write(m);
            }
        }
        var src = FrameSources.Open(path);
        var frames = src.ToList();
        Assert.Equal(7, frames.Count);
        Assert.Equal("00000", frames[0].Stem);
        Assert.Equal("00006", frames[^1].Stem);
        Assert.All(frames, f => Assert.Equal((64, 48), (f.Width, f.Height)));
        Assert.InRange(frames[0].Rgb[0], 190, 210); // R = 200 (BGR scalar order), JPEG-compressed
    }

    [Fact]
    public void CorruptAndEmptyVideosAreNamedErrors()
    {
        using var dir = new Shared.TempDir();
        var empty = dir.File("empty.mp4");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        var e = Assert.Throws<CmtmException>(() => FrameSources.Open(empty).ToList());
        Assert.Contains("empty.mp4", e.Message);

        var junk = dir.File("junk.mp4");
        var bytes = new byte[4096];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(junk, bytes);
        e = Assert.Throws<CmtmException>(() => FrameSources.Open(junk).ToList());
        Assert.Contains("junk.mp4", e.Message);
    }
}
