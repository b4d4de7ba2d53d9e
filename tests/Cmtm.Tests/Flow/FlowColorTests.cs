using Cmtm.Flow;
using Cmtm.IO;
using Cmtm.Tests.Support;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Cmtm.Tests.Flow;

public class FlowColorTests
{
    internal static byte[] ReadPngRgb(string path)
    {
        using var bgr = Cv2.ImRead(path, ImreadModes.Color);
        Assert.False(bgr.Empty(), path);
        using var rgb = new Mat();
        Cv2.CvtColor(bgr, rgb, ColorConversionCodes.BGR2RGB);
        var bytes = new byte[rgb.Rows * rgb.Cols * 3];
        System.Runtime.InteropServices.Marshal.Copy(rgb.Data, bytes, 0, bytes.Length);
        return bytes;
    }

    private static int CountDiff(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        Assert.Equal(a.Length, b.Length);
        int d = 0;
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) d++;
        return d;
    }

    [Fact]
    public void WheelMatchesMiddlebury()
    {
        Assert.Equal(55, FlowColor.Wheel.Count);
        Assert.Equal(((byte)255, (byte)0, (byte)0), FlowColor.Wheel[0]);
        Assert.Equal(((byte)255, (byte)17, (byte)0), FlowColor.Wheel[1]);   // floor(255/15)
        Assert.Equal(((byte)255, (byte)255, (byte)0), FlowColor.Wheel[15]); // YG start
        Assert.Equal(((byte)0, (byte)255, (byte)0), FlowColor.Wheel[21]);   // GC start
        Assert.Equal(((byte)0, (byte)255, (byte)255), FlowColor.Wheel[25]); // CB start
        Assert.Equal(((byte)0, (byte)0, (byte)255), FlowColor.Wheel[36]);   // BM start
        Assert.Equal(((byte)255, (byte)0, (byte)255), FlowColor.Wheel[49]); // MR start
        Assert.Equal(((byte)255, (byte)0, (byte)43), FlowColor.Wheel[54]);  // README I: index 54
    }

    [Fact]
    public void AllSixFixtureCasesAreByteIdentical()
    {
        using var flows = Npy.Load(Shared.Fixture("flow", "flows.npy"));
        using var rgb = Npy.Load(Shared.Fixture("flow", "rgb.npy"));
        Assert.Equal(new long[] { 6, 48, 64, 2 }, flows.shape);
        for (int c = 0; c < 6; c++)
        {
            var flow = flows[c].contiguous().data<float>().ToArray();
            var expected = rgb[c].contiguous().data<byte>().ToArray();
            var got = FlowColor.ToRgb(flow, 48, 64);
            Assert.True(CountDiff(got, expected) == 0, $"case {c}: {CountDiff(got, expected)} bytes differ");
        }
    }

    [Fact]
    public void SeparatePlanesAndTensorOverloadsAgree()
    {
        using var flows = Npy.Load(Shared.Fixture("flow", "flows.npy"));
        using var rgb = Npy.Load(Shared.Fixture("flow", "rgb.npy"));
        for (int c = 0; c < 6; c++)
        {
            var u = flows[c, .., .., 0].contiguous().data<float>().ToArray();
            var v = flows[c, .., .., 1].contiguous().data<float>().ToArray();
            var expected = rgb[c].contiguous().data<byte>().ToArray();
            Assert.Equal(0, CountDiff(FlowColor.ToRgb(u, v, 48, 64), expected));
            using var hwc = FlowColor.ToRgb(flows[c]);
            Assert.Equal(new long[] { 48, 64, 3 }, hwc.shape);
            Assert.Equal(ScalarType.Byte, hwc.dtype);
            Assert.Equal(0, CountDiff(hwc.data<byte>().ToArray(), expected));
            using var chw = FlowColor.ToRgb(flows[c].permute(2, 0, 1).unsqueeze(0)); // RAFT layout (1,2,H,W)
            Assert.Equal(0, CountDiff(chw.data<byte>().ToArray(), expected));
        }
    }

    [Fact]
    public void TinySizeIsByteIdentical()
    {
        using var flows = Npy.Load(Shared.Fixture("flow", "flows_tinysize.npy"));
        using var rgb = Npy.Load(Shared.Fixture("flow", "rgb_tinysize.npy"));
        var got = FlowColor.ToRgb(flows.data<float>().ToArray(), 3, 5);
        Assert.Equal(rgb.data<byte>().ToArray(), got);
    }

    [Theory]
    [InlineData("viz_case1")]
    [InlineData("viz_case3")]
    public void FloFileRendersToFixturePng(string name)
    {
        var flo = FloFile.Read(Shared.Fixture("flow", name + ".flo"));
        var got = FlowColor.ToRgb(flo.Data, flo.Height, flo.Width);
        var expected = ReadPngRgb(Shared.Fixture("flow", name + "_rgb.png"));
        Assert.Equal(0, CountDiff(got, expected));
    }

    [Fact]
    public void PositiveZeroVerticalFlowIsRedNotMagenta()
    {
        // README I: v = +0.0 must map to atan2(-0.0, -u) = -pi -> hue 0 (255,0,0), not (255,0,43).
        var flow = new float[] { 3f, 0f, 3f, 0f };
        var rgb = FlowColor.ToRgb(flow, 1, 2);
        Assert.Equal(new byte[] { 255, 0, 0, 255, 0, 0 }, rgb.AsSpan(0, 6).ToArray());
    }

    [Fact]
    public void AmbiguousTensorShapeNeedsLayout()
    {
        using var t = zeros(2, 5, 2);
        Assert.Throws<ArgumentException>(() => FlowColor.ToRgb(t));
        using var r = FlowColor.ToRgb(t, FlowLayout.ChannelsLast);
        Assert.Equal(new long[] { 2, 5, 3 }, r.shape);
    }
}
