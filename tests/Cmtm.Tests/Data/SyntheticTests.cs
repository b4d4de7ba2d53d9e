using Cmtm.Data.Sampling;
using Cmtm.Data.Synthetic;
using Cmtm.Flow;
using Cmtm.IO;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Data;

public class SyntheticTests
{
    [Fact]
    public void SameSeedGivesIdenticalFramesAndDifferentSeedsDiffer()
    {
        var a = new SyntheticVideo(64, 48, 5, 42).Render(3);
        var b = new SyntheticVideo(64, 48, 5, 42).Render(3);
        var c = new SyntheticVideo(64, 48, 5, 43).Render(3);
        Assert.Equal(a.Rgb, b.Rgb);
        Assert.Equal(a.FlowU, b.FlowU);
        Assert.Equal(a.Mask, b.Mask);
        Assert.NotEqual(a.Rgb, c.Rgb);
    }

    [Fact]
    public void TargetIsVisibleAndMovesRelativeToTheBackground()
    {
        for (ulong seed = 1; seed <= 8; seed++)
        {
            var v = new SyntheticVideo(96, 64, 8, seed);
            for (int t = 0; t < v.FrameCount; t++)
            {
                var f = v.Render(t);
                int fg = f.Mask.Count(m => m == 1);
                Assert.True(fg > 20, $"seed {seed} frame {t}: only {fg} target pixels");
                Assert.True(fg < f.Mask.Length / 2, $"seed {seed} frame {t}: target covers {fg} of {f.Mask.Length}");
                // mean flow on the target differs from the mean background flow (the target has its own motion)
                double fu = 0, fv = 0, bu = 0, bv = 0; int nb = 0;
                for (int i = 0; i < f.Mask.Length; i++)
                    if (f.Mask[i] == 1) { fu += f.FlowU[i]; fv += f.FlowV[i]; } else { bu += f.FlowU[i]; bv += f.FlowV[i]; nb++; }
                double du = fu / fg - bu / nb, dv = fv / fg - bv / nb;
                Assert.True(Math.Sqrt(du * du + dv * dv) > 0.5, $"seed {seed} frame {t}: target flow equals background flow");
            }
        }
    }

    [Fact]
    public void DatasetIsWrittenInDavisLayoutDeterministically()
    {
        using var d1 = new Shared.TempDir();
        using var d2 = new Shared.TempDir();
        var info = SyntheticDataset.Generate(Path.Combine(d1.Path, "ds"), 5, 3, 48, 40, 7);
        SyntheticDataset.Generate(Path.Combine(d2.Path, "ds"), 5, 3, 48, 40, 7);
        Assert.Equal(4, info.Train.Count); Assert.Single(info.Val);
        var files1 = Directory.GetFiles(Path.Combine(d1.Path, "ds"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(d1.Path, f)).Order().ToList();
        var files2 = Directory.GetFiles(Path.Combine(d2.Path, "ds"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(d2.Path, f)).Order().ToList();
        Assert.Equal(files1, files2);
        Assert.Equal(5 * 3 * 3 + 2, files1.Count);
        foreach (var f in files1) Assert.Equal(File.ReadAllBytes(Path.Combine(d1.Path, f)), File.ReadAllBytes(Path.Combine(d2.Path, f)));
        Assert.Equal("synth-0004\n", File.ReadAllText(Path.Combine(d1.Path, "ds", "ImageSets", "2016", "val.txt")));

        // the annotation decodes to the rendered mask (palette index 1) and the flow image is the colour wheel of the field
        var video = new SyntheticVideo(48, 40, 3, SyntheticDataset.VideoSeed(7, 2));
        var frame = video.Render(2);
        var png = PngCodec.Read(Path.Combine(d1.Path, "ds", "Annotations", "480p", "synth-0002", "00002.png"));
        Assert.Equal(PngColorType.Palette, png.ColorType); Assert.Equal((48, 40), (png.Width, png.Height));
        Assert.Equal(frame.Mask.Select(m => (ushort)m).ToArray(), png.Samples);
        var flow = RgbImage.Load(Path.Combine(d1.Path, "ds", "JPEGFlows", "480p", "synth-0002", "00002.jpg"));
        var expected = FlowColor.ToRgb(frame.FlowU, frame.FlowV, 40, 48);
        double mad = expected.Zip(flow.Pixels, (a, b) => (double)Math.Abs(a - b)).Average();
        Assert.True(mad < 6, $"flow JPEG differs from the colour-coded field by {mad:F2} levels on average (JPEG q92)");
    }

    [Fact]
    public void ExistingNonEmptyOutputIsRefusedAndNothingPartialIsLeft()
    {
        using var d = new Shared.TempDir();
        File.WriteAllText(d.File("keep.txt"), "x");
        var e = Assert.Throws<CmtmException>(() => SyntheticDataset.Generate(d.Path, 2, 2, 32, 32, 1));
        Assert.Contains("not empty", e.Message);
        Assert.Single(Directory.GetFileSystemEntries(d.Path));
    }
}
