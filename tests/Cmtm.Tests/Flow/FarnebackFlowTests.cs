using Cmtm.Flow;
using Cmtm.IO;
using OpenCvSharp;

namespace Cmtm.Tests.Flow;

public class FarnebackFlowTests
{
    /// <summary>A smooth random texture (seeded noise blurred with sigma 2), 8-bit gray replicated to RGB.</summary>
    internal static Mat Texture(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var noise = new byte[width * height];
        rng.NextBytes(noise);
        using var m = Mat.FromPixelData(height, width, MatType.CV_8UC1, noise);
        using var blur = new Mat();
        Cv2.GaussianBlur(m, blur, new Size(0, 0), 2.0);
        using var norm = new Mat();
        Cv2.Normalize(blur, norm, 0, 255, NormTypes.MinMax);
        var bgr = new Mat();
        Cv2.CvtColor(norm, bgr, ColorConversionCodes.GRAY2BGR);
        return bgr;
    }

    /// <summary>Two crops of one texture: frame 2's content is frame 1's moved by (dx, dy).</summary>
    internal static (RgbFrame, RgbFrame) ShiftedPair(int w, int h, int dx, int dy, int seed = 1)
    {
        const int pad = 32;
        using var big = Texture(w + 2 * pad, h + 2 * pad, seed);
        using var c1 = new Mat(big, new Rect(pad, pad, w, h));
        using var c2 = new Mat(big, new Rect(pad - dx, pad - dy, w, h));
        return (RgbFrame.FromBgrMat(c1.Clone(), 0, "a", "a"), RgbFrame.FromBgrMat(c2.Clone(), 1, "b", "b"));
    }

    internal static double InteriorEpe(FlowField f, double dx, double dy, int margin)
    {
        double sum = 0; int n = 0;
        for (int y = margin; y < f.Height - margin; y++)
            for (int x = margin; x < f.Width - margin; x++)
            {
                int i = 2 * (y * f.Width + x);
                sum += Math.Sqrt(Math.Pow(f.Data[i] - dx, 2) + Math.Pow(f.Data[i + 1] - dy, 2));
                n++;
            }
        return sum / n;
    }

    [Theory]
    [InlineData(3, -2)]
    [InlineData(-5, 4)]
    [InlineData(0, 7)]
    public void RecoversKnownTranslation(int dx, int dy)
    {
        var (a, b) = ShiftedPair(160, 120, dx, dy);
        using var est = new FarnebackFlow();
        var flow = est.Estimate(a, b);
        Assert.Equal((160, 120), (flow.Width, flow.Height));
        double epe = InteriorEpe(flow, dx, dy, margin: 16);
        Assert.True(epe < 0.1, $"EPE {epe:F4} px for ({dx},{dy})");
        var back = est.Estimate(b, a);
        double epeBack = InteriorEpe(back, -dx, -dy, margin: 16);
        Assert.True(epeBack < 0.1, $"backward EPE {epeBack:F4} px");
    }

    [Fact]
    public void TensorOverloadReturnsNchw()
    {
        var (a, b) = ShiftedPair(64, 48, 2, 1);
        using var est = new FarnebackFlow();
        using var ta = a.ToTensor255();
        using var tb = b.ToTensor255();
        using var flow = est.Estimate(ta, tb);
        Assert.Equal(new long[] { 1, 2, 48, 64 }, flow.shape);
        var direct = est.Estimate(a, b);
        Assert.Equal(direct.Data, FlowField.FromTensor(flow).Data);
    }

    [Fact]
    public void MismatchedSizesAreANamedError()
    {
        var (a, _) = ShiftedPair(64, 48, 0, 0);
        var (c, _) = ShiftedPair(64, 40, 0, 0);
        using var est = new FarnebackFlow();
        var e = Assert.Throws<CmtmException>(() => est.Estimate(a, c));
        Assert.Contains("64x40", e.Message);
    }
}
