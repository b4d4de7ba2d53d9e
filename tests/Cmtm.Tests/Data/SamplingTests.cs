using Cmtm.Data.Datasets;
using Cmtm.Data.Sampling;
using Cmtm.Data.Synthetic;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Data;

public class SamplingTests
{
    [Fact]
    public void RngStateRoundTripsAndReplays()
    {
        var a = new TrainRng(5);
        for (int i = 0; i < 10; i++) a.NextULong();
        var saved = a.StateText;
        var x = Enumerable.Range(0, 20).Select(_ => a.NextInt(1000)).ToArray();
        var b = new TrainRng(99) { StateText = saved };
        Assert.Equal(x, Enumerable.Range(0, 20).Select(_ => b.NextInt(1000)).ToArray());
    }

    [Fact]
    public void EpochCountsFollowTheShares()
    {
        Assert.Equal(new[] { 384, 128 }, TrainSampler.EpochCounts(new[] { 3.0, 1.0 }, 512));
        Assert.Equal(new[] { 8, 3 }, TrainSampler.EpochCounts(new[] { 3.0, 1.0 }, 11)); // 8.25 / 2.75 -> largest remainder
        Assert.Equal(10, TrainSampler.EpochCounts(new[] { 1.0, 1.0, 1.0 }, 10).Sum());
    }

    [Fact]
    public void StageTwoMixingDrawsDutsToDavisThreeToOne()
    {
        var duts = new TrainingSource(DatasetKind.Dutsv2, "duts", new[] { (IReadOnlyList<FrameFiles>)new[] { new FrameFiles("a", "b", "c") } }, TrainingSource.DefaultShare(DatasetKind.Dutsv2));
        var davis = new TrainingSource(DatasetKind.Davis16, "davis", new[] { (IReadOnlyList<FrameFiles>)new[] { new FrameFiles("a", "b", "c") } }, TrainingSource.DefaultShare(DatasetKind.Davis16));
        var sampler = new TrainSampler(new[] { duts, davis }, 32, new TrainRng(1));
        sampler.BeginEpoch(512);
        var draws = Enumerable.Range(0, 512).Select(_ => sampler.NextSourceIndex()).ToArray();
        Assert.Equal(384, draws.Count(d => d == 0)); // exactly 3:1 per epoch
        // and shuffled: within the first quarter of the epoch the DUTS fraction is near 3/4 (binomial-ish tolerance)
        double firstQuarter = draws.Take(128).Count(d => d == 0) / 128.0;
        Assert.InRange(firstQuarter, 0.6, 0.9);
        // different epochs are differently ordered
        sampler.BeginEpoch(512);
        var next = Enumerable.Range(0, 512).Select(_ => sampler.NextSourceIndex()).ToArray();
        Assert.NotEqual(draws, next);
    }

    [Fact]
    public void PilBicubicKeepsSizeExactlyAndConstantsConstant()
    {
        var rnd = new Random(3);
        var img = new byte[20 * 10 * 3]; rnd.NextBytes(img);
        Assert.Equal(img, PilResize.Bicubic(img, 20, 10, 3, 20, 10));
        var flat = Enumerable.Repeat((byte)137, 50 * 30 * 3).ToArray();
        Assert.All(PilResize.Bicubic(flat, 50, 30, 3, 17, 23), v => Assert.Equal(137, v));
        Assert.All(PilResize.Bicubic(flat, 50, 30, 3, 91, 64), v => Assert.Equal(137, v));
    }

    [Fact]
    public void PilBicubicDownscaleIsAntialiased()
    {
        // a 1-pixel checkerboard halved: Pillow's widened kernel averages it to mid-grey (no aliasing to 0 or 255)
        int w = 64, h = 64;
        var img = new byte[w * h];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img[y * w + x] = (byte)(((x + y) & 1) * 255);
        var o = PilResize.Bicubic(img, w, h, 1, 16, 16);
        for (int y = 2; y < 14; y++) for (int x = 2; x < 14; x++) Assert.InRange(o[y * 16 + x], 120, 135);
    }

    [Fact]
    public void PilBicubicHandComputedUpscale()
    {
        // 2 -> 4 pixels: scale 0.5, support 2; output centre xx=0 at 0.25: taps x=0,1 (xmin 0, xmax 2)
        // weights k(0 - 0.25 + 0.5) = k(0.25), k(1.25) normalised; a=-0.5 cubic
        static double K(double x) { x = Math.Abs(x); return x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? (((x - 5) * x + 8) * x - 4) * -0.5 : 0; }
        var src = new byte[] { 0, 200 };
        var o = PilResize.Bicubic(src, 2, 1, 1, 4, 1);
        // xx=0: centre 0.25, taps k(0.25), k(1.25) < 0 -> negative result, clipped to 0
        Assert.True(K(1.25) < 0);
        Assert.Equal(0, o[0]);
        // xx=1: centre 0.75, taps k(-0.25), k(0.75): 200 * k(.75) / (k(.25) + k(.75)) = 41.43
        double expected1 = 200 * K(0.75) / (K(0.25) + K(0.75));
        Assert.Equal((int)Math.Round(expected1), o[1]);
        Assert.InRange(o[1] + o[2], 199, 201); // mirror symmetry
        Assert.Equal((int)Math.Round(200 * K(0.25) / (K(0.25) + K(1.25))), o[3]); // 217.65: overshoot kept (no clip needed)
    }

    [Fact]
    public void NearestPicksCentreSamples()
    {
        var src = Enumerable.Range(0, 8).Select(i => (byte)i).ToArray(); // 8x1
        Assert.Equal(new byte[] { 1, 3, 5, 7 }, PilResize.Nearest(src, 8, 1, 4, 1)); // floor((x+0.5)*2)
        Assert.Equal(new byte[] { 0, 0, 1, 1, 2, 2, 3, 3 }, PilResize.Nearest(new byte[] { 0, 1, 2, 3 }, 4, 1, 8, 1));
    }

    [Fact]
    public void SamplesAreResizedAndFlippedJointly()
    {
        using var d = new Shared.TempDir();
        var root = Path.Combine(d.Path, "ds");
        SyntheticDataset.Generate(root, 3, 2, 40, 32, 11, valVideos: 0);
        var src = TrainingSource.Open(DatasetKind.Synthetic, root);
        var s = TrainSampler.Prepare(src.Videos[0][0], false, 32);
        Assert.Equal(32 * 32 * 3, s.Image.Length); Assert.Equal(32 * 32, s.Mask.Length);
        Assert.Contains(s.Mask, m => m == 1);
        var f = TrainSampler.Flip(s, true, true);
        for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++)
        {
            Assert.Equal(s.Mask[y * 32 + x], f.Mask[(31 - y) * 32 + 31 - x]);
            Assert.Equal(s.Flow[3 * (y * 32 + x) + 1], f.Flow[3 * ((31 - y) * 32 + 31 - x) + 1]);
            Assert.Equal(s.Image[3 * (y * 32 + x)], f.Image[3 * ((31 - y) * 32 + 31 - x)]);
        }
        var sampler = new TrainSampler(new[] { src }, 32, new TrainRng(2));
        sampler.BeginEpoch(5);
        using var batch = sampler.NextBatch(4);
        Assert.Equal(new long[] { 4, 3, 32, 32 }, batch.Images.shape);
        Assert.Equal(new long[] { 4, 32, 32 }, batch.Masks.shape);
        Assert.Equal(1, sampler.RemainingInEpoch);
    }
}
