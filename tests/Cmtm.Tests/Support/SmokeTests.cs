using Cmtm.IO;
using Cmtm.Runtime;
using static TorchSharp.torch;

namespace Cmtm.Tests.Support;

public class SmokeTests
{
    [Fact]
    public void LibTorchLoadsAndComputes()
    {
        using var t = ones(2, 3).sum();
        Assert.Equal(6f, t.item<float>());
    }

    [Fact]
    public void MkldnnSwitchRoundTrips()
    {
        var before = TorchRuntime.MkldnnEnabled;
        try
        {
            TorchRuntime.MkldnnEnabled = false;
            Assert.False(TorchRuntime.MkldnnEnabled);
            TorchRuntime.MkldnnEnabled = true;
            Assert.True(TorchRuntime.MkldnnEnabled);
        }
        finally { TorchRuntime.MkldnnEnabled = before; }
    }

    [Fact]
    public void NpyFixtureLoadsWithShapeAndDtype()
    {
        using var t = Npy.Load(Shared.Fixture("model", "cmtm_b0_r128_in_img.npy"));
        Assert.Equal(new long[] { 1, 3, 96, 160 }, t.shape);
        Assert.Equal(ScalarType.Float32, t.dtype);
        using var m = Npy.Load(Shared.Fixture("model", "cmtm_b0_r128_out_mask.npy"));
        Assert.Equal(ScalarType.Int64, m.dtype);
        Assert.InRange(m.to_type(ScalarType.Float64).mean().item<double>(), 0.49, 0.51); // README: fg fraction 0.5001
    }

    [Fact]
    public void NpyRoundTrip()
    {
        using var dir = new Shared.TempDir();
        using var a = arange(24, dtype: ScalarType.Float32).reshape(2, 3, 4);
        Npy.Save(dir.File("a.npy"), a);
        using var b = Npy.Load(dir.File("a.npy"));
        Assert.True(a.allclose(b, rtol: 0, atol: 0));
    }
}
