using Cmtm.Data.Datasets;
using Cmtm.Data.Sampling;
using Cmtm.Data.Synthetic;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Data;

public class AugmentationTests
{
    [Fact]
    public void CropsStayInsideTheFrameWithTheRequestedArea()
    {
        var aug = new Augmentation(CropScale: 0.4);
        var rng = new TrainRng(7);
        for (int i = 0; i < 500; i++)
        {
            var (x, y, w, h) = aug.DrawCrop(rng, 427, 240);
            Assert.InRange(x, 0, 427 - w); Assert.InRange(y, 0, 240 - h);
            Assert.InRange(w, 1, 427); Assert.InRange(h, 1, 240);
            // area at least the scale (minus rounding and the clamp to the frame, which can only shrink one side)
            Assert.InRange(w * h / (427.0 * 240), 0.4 * 0.75 - 0.01, 1.0);
        }
    }

    [Fact]
    public void CropCopiesTheRectangle()
    {
        var src = Enumerable.Range(0, 6 * 4 * 2).Select(i => (byte)i).ToArray(); // 6x4, 2 channels
        var c = Augmentation.Crop(src, 6, 2, (2, 1, 3, 2));
        Assert.Equal(new byte[] { 16, 17, 18, 19, 20, 21, 28, 29, 30, 31, 32, 33 }, c);
    }

    [Fact]
    public void JitterWithUnitFactorsIsIdentityAndBrightnessScales()
    {
        var rnd = new Random(1);
        var img = new byte[30 * 3]; rnd.NextBytes(img);
        Assert.Equal(img, Augmentation.Jitter(img, (1, 1, 1)));
        var gray = Enumerable.Repeat((byte)100, 12).ToArray();
        Assert.All(Augmentation.Jitter(gray, (0.5, 1, 1)), v => Assert.Equal(50, v));
        Assert.All(Augmentation.Jitter(gray, (1, 0.3, 1.7)), v => Assert.Equal(100, v)); // a flat gray image has no contrast or colour to change
        var red = new byte[] { 200, 0, 0 };
        var desat = Augmentation.Jitter(red, (1, 1, 0)); // saturation 0: the pixel's gray (0.299 * 200)
        Assert.All(desat, v => Assert.Equal(60, v));
    }

    [Fact]
    public void WholeFrameCropEqualsTheOfficialResize()
    {
        using var d = new Shared.TempDir();
        var root = Path.Combine(d.Path, "ds");
        SyntheticDataset.Generate(root, 2, 2, 40, 32, 3, valVideos: 0);
        var f = TrainingSource.Open(DatasetKind.Synthetic, root).Videos[0][1];
        var full = TrainSampler.Decode(f, false);
        var a = TrainSampler.CropResize(full, (0, 0, full.Width, full.Height), 24);
        var b = TrainSampler.Prepare(f, false, 24);
        Assert.Equal(b.Image, a.Image); Assert.Equal(b.Flow, a.Flow); Assert.Equal(b.Mask, a.Mask);
    }

    [Fact]
    public void AugmentedSamplesKeepMaskAndFrameAlignedAndAreDeterministic()
    {
        using var d = new Shared.TempDir();
        var root = Path.Combine(d.Path, "ds");
        SyntheticDataset.Generate(root, 3, 3, 64, 48, 5, valVideos: 0);
        var src = TrainingSource.Open(DatasetKind.Synthetic, root);
        PreparedSample[] Draw(ulong seed, Augmentation aug)
        {
            var s = new TrainSampler(new[] { src }, 32, new TrainRng(seed), cacheResized: true, augment: aug);
            s.BeginEpoch(6);
            return Enumerable.Range(0, 6).Select(_ => s.Next().Sample).ToArray();
        }
        var crop = new Augmentation(CropScale: 0.3);
        var x = Draw(4, crop); var y = Draw(4, crop);
        for (int i = 0; i < x.Length; i++) { Assert.Equal(x[i].Image, y[i].Image); Assert.Equal(x[i].Mask, y[i].Mask); }
        // crops differ from the official whole-frame samples and from each other
        var plain = Draw(4, Augmentation.None);
        Assert.Contains(Enumerable.Range(0, 6), i => !x[i].Mask.SequenceEqual(plain[i].Mask) || !x[i].Image.SequenceEqual(plain[i].Image));
        // jitter changes the frame only: the first sample draws video, frame and flips before its jitter, as the plain one
        var j = Draw(9, new Augmentation(CropScale: 1, ColorJitter: 0.4));
        var jPlain = Draw(9, Augmentation.None);
        Assert.Equal(jPlain[0].Flow, j[0].Flow); Assert.Equal(jPlain[0].Mask, j[0].Mask);
        Assert.NotEqual(jPlain[0].Image, j[0].Image);
        Assert.All(j, s => Assert.All(s.Mask, m => Assert.InRange(m, 0, 1)));
        Assert.Contains(Enumerable.Range(0, 6), i => !j[i].Image.SequenceEqual(jPlain[i].Image));
    }
}
