using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Inference;

/// <summary>Cut-outs: alpha = the mask, the blend computed by hand, and `cmtm segment --cutout --background`.</summary>
[Collection("Console")]
public class CutoutTests
{
    [Fact]
    public void AlphaEqualsTheMaskWithoutFeather()
    {
        byte[] mask = [0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1];
        var alpha = Cutout.Alpha(mask, 4, 3, feather: 0);
        Assert.Equal(mask.Select(m => (byte)(m * 255)), alpha);
        var rgb = Enumerable.Range(0, 36).Select(i => (byte)(i * 7)).ToArray();
        var rgba = Cutout.Rgba(rgb, alpha);
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(rgb[(3 * i)..(3 * i + 3)], rgba[(4 * i)..(4 * i + 3)]);
            Assert.Equal(alpha[i], rgba[4 * i + 3]);
        }
    }

    [Fact]
    public void CompositeEqualsTheHandComputedBlend()
    {
        // 2x2 frame, alpha 0 / 255 / 128 / 64 over the colour (10, 20, 30): out = (f*a + b*(255-a) + 127) / 255
        byte[] frame = [200, 100, 50, 200, 100, 50, 200, 100, 50, 0, 255, 90];
        byte[] alpha = [0, 255, 128, 64];
        var cut = new Cutout(new CutoutOptions { Background = CutoutBackground.Parse("10,20,30") });
        var f = new RgbFrame(0, "f", 2, 2, frame, "f");
        var bg = cut.BackgroundFor(f);
        Assert.Equal(new byte[] { 10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30 }, bg);
        // by hand, a = 128: R (200*128 + 10*127 + 127)/255 = 26997/255 = 105.9 -> 105, G 15467/255 -> 60, B 10337/255 -> 40;
        //          a = 64:  R (0*64 + 10*191 + 127)/255 = 2037/255 -> 7, G (255*64 + 20*191 + 127)/255 = 20267/255 -> 79, B 11617/255 -> 45
        byte[] expected = [10, 20, 30, 200, 100, 50, 105, 60, 40, 7, 79, 45];
        Assert.Equal(expected, Cutout.Composite(frame, bg, alpha));
        // through a run's Cutout (mask 0/1, no feather): background where 0, the frame where 1
        Assert.Equal(new byte[] { 10, 20, 30, 200, 100, 50, 200, 100, 50, 0, 255, 90 }, cut.Apply(f, [0, 1, 1, 1]).Composite);
    }

    [Fact]
    public void FeatherGivesASoftEdgeAndKeepsTheInterior()
    {
        const int w = 40, h = 30;
        var mask = new byte[w * h];
        for (var y = 10; y < 20; y++) for (var x = 10; x < 30; x++) mask[y * w + x] = 1;
        var alpha = Cutout.Alpha(mask, w, h, feather: 3);
        Assert.Equal(255, alpha[15 * w + 20]);        // interior, far from the edge
        Assert.Equal(0, alpha[2 * w + 2]);            // outside, far from the edge
        Assert.InRange(alpha[15 * w + 10], 60, 200);  // on the edge: in between
        Assert.InRange(alpha[15 * w + 9], 30, 180);
    }

    [Theory]
    [InlineData("green", BackgroundKind.Color, 0, 255, 0)]
    [InlineData("#102030", BackgroundKind.Color, 16, 32, 48)]
    [InlineData("1, 2, 3", BackgroundKind.Color, 1, 2, 3)]
    [InlineData("blur", BackgroundKind.Blur, 0, 0, 0)]
    public void BackgroundSpecsParse(string spec, BackgroundKind kind, byte r, byte g, byte b)
    {
        var bg = CutoutBackground.Parse(spec);
        Assert.Equal(kind, bg.Kind);
        Assert.Equal((r, g, b), bg.Color);
    }

    [Fact]
    public void AnUnknownBackgroundIsANamedError()
    {
        var e = Assert.Throws<CmtmException>(() => CutoutBackground.Parse("no-such-file.png"));
        Assert.StartsWith("--background: 'no-such-file.png' is not a colour", e.Message);
    }

    [Fact]
    public void SegmentCutoutWritesRgbaFramesWhoseAlphaIsTheMaskAndACompositeVideo()
    {
        using var d = new Shared.TempDir();
        var frames = Directory.CreateDirectory(d.File("clip")).FullName;
        for (var i = 0; i < 3; i++) File.Copy(DemoClipData.Frame(i), Path.Combine(frames, $"{i:00000}.jpg"));
        var weights = DemoClipData.TinyCheckpoint(d.File("tiny.safetensors"));
        var bgImage = d.File("bg.png");
        new RgbImage(8, 6, Enumerable.Repeat((byte)77, 8 * 6 * 3).ToArray()).Save(bgImage);
        var outDir = d.File("out");
        var (code, stdout, stderr) = CliHarness.Run("segment", frames, "--weights", weights, "--out", outDir, "--cutout", "--background", bgImage, "--threads", "2");
        Assert.True(code == 0, stderr + stdout);
        for (var i = 0; i < 3; i++)
        {
            var mask = PngCodec.Read(Path.Combine(outDir, $"{i:00000}.png"));
            var cut = PngCodec.Read(Path.Combine(outDir, "cutout", $"{i:00000}.png"));
            Assert.Equal((PngColorType.Rgba, DemoClipData.Width, DemoClipData.Height), (cut.ColorType, cut.Width, cut.Height));
            var rgb = RgbImage.Load(DemoClipData.Frame(i)).Pixels;
            for (var p = 0; p < mask.Samples.Length; p++)
            {
                Assert.Equal(mask.Samples[p], cut.Samples[4 * p + 3]);
                for (var c = 0; c < 3; c++) Assert.Equal(rgb[3 * p + c], cut.Samples[4 * p + c]);
            }
        }
        var (n, vw, vh) = BlackswanClip.PlayBack(Path.Combine(outDir, "composite.mp4"));
        Assert.Equal((3, DemoClipData.Width & ~1, DemoClipData.Height), (n, vw & ~1, vh)); // mp4v may drop an odd width's last column
        Assert.False(Directory.Exists(Path.Combine(outDir, "overlay")));
    }

    [Fact]
    public void FeatherWithoutACutoutIsANamedError()
    {
        using var d = new Shared.TempDir();
        var (code, _, stderr) = CliHarness.Run("segment", DemoClipData.Frame(0), "--feather", "2", "--out", d.File("o"));
        Assert.Equal(2, code);
        Assert.Equal("error: --feather: applies to --cutout or --background", stderr.Trim());
    }
}
