using Cmtm.Flow;
using Cmtm.IO;
using Cmtm.Tests.Support;
using static TorchSharp.torch;

namespace Cmtm.Tests.Flow;

public class FloFileTests
{
    private static uint[] Bits(float[] a) => a.Select(BitConverter.SingleToUInt32Bits).ToArray();

    [Theory]
    [InlineData("viz_case1.flo", 1)]
    [InlineData("viz_case3.flo", 3)]
    public void ReadsFixtureWithExactBits(string file, int index)
    {
        var flo = FloFile.Read(Shared.Fixture("flow", file));
        Assert.Equal(64, flo.Width);
        Assert.Equal(48, flo.Height);
        using var flows = Npy.Load(Shared.Fixture("flow", "flows.npy"));
        var expected = flows[index].contiguous().data<float>().ToArray();
        Assert.Equal(Bits(expected), Bits(flo.Data));
        if (index == 1) Assert.All(flo.Data.Where((_, i) => i % 2 == 1), v => Assert.Equal(0u, BitConverter.SingleToUInt32Bits(v))); // v == +0.0
    }

    [Fact]
    public void ReadsRaftExpectedFlowUp()
    {
        var flo = FloFile.Read(Shared.Fixture("flow", "raft_expected_flow_up.flo"));
        Assert.Equal((160, 128), (flo.Width, flo.Height));
        using var up = Npy.Load(Shared.Fixture("flow", "raft_out_flow_up.npy"));
        using var fromFlo = flo.ToTensorNchw();
        Assert.Equal(up.shape, fromFlo.shape);
        Assert.Equal(Bits(up.data<float>().ToArray()), Bits(fromFlo.data<float>().ToArray()));
    }

    [Fact]
    public void WriteIsByteIdenticalToFixtureAndRoundTrips()
    {
        using var dir = new Shared.TempDir();
        foreach (var name in new[] { "viz_case1.flo", "viz_case3.flo", "raft_expected_flow_up.flo" })
        {
            var src = Shared.Fixture("flow", name);
            var flo = FloFile.Read(src);
            var outPath = dir.File(name);
            FloFile.Write(outPath, flo);
            Assert.Equal(File.ReadAllBytes(src), File.ReadAllBytes(outPath));
            Assert.Single(Directory.GetFiles(dir.Path, "*" + name + "*")); // no temp file left behind
        }
    }

    [Fact]
    public void TensorWriteKeepsSignedZeroAndNaN()
    {
        using var dir = new Shared.TempDir();
        var data = new[] { -0f, 0f, float.NaN, float.PositiveInfinity, 1.5e-42f, -3.25f };
        using var t = tensor(data, new long[] { 1, 3, 2 });
        FloFile.Write(dir.File("a.flo"), t, FlowLayout.ChannelsLast);
        var back = FloFile.Read(dir.File("a.flo"));
        Assert.Equal((3, 1), (back.Width, back.Height));
        Assert.Equal(Bits(data), Bits(back.Data));
    }

    private static string WriteBytes(Shared.TempDir dir, string name, byte[] bytes)
    {
        var p = dir.File(name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    [Fact]
    public void NamedErrors()
    {
        using var dir = new Shared.TempDir();
        var good = FloFile.Serialize(new FlowField(4, 3, new float[24]));

        var bad = (byte[])good.Clone(); bad[0] = (byte)'X';
        var e = Assert.Throws<CmtmException>(() => FloFile.Read(WriteBytes(dir, "magic.flo", bad)));
        Assert.Contains("bad magic", e.Message);
        Assert.Contains("magic.flo", e.Message);

        var huge = (byte[])good.Clone(); BitConverter.GetBytes(1_000_000).CopyTo(huge, 4);
        e = Assert.Throws<CmtmException>(() => FloFile.Read(WriteBytes(dir, "huge.flo", huge)));
        Assert.Contains("absurd .flo size", e.Message);

        var neg = (byte[])good.Clone(); BitConverter.GetBytes(-4).CopyTo(neg, 8);
        e = Assert.Throws<CmtmException>(() => FloFile.Read(WriteBytes(dir, "neg.flo", neg)));
        Assert.Contains("absurd .flo size", e.Message);

        e = Assert.Throws<CmtmException>(() => FloFile.Read(WriteBytes(dir, "trunc.flo", good[..^5])));
        Assert.Contains("truncated", e.Message);
        e = Assert.Throws<CmtmException>(() => FloFile.Read(WriteBytes(dir, "hdr.flo", good[..7])));
        Assert.Contains("truncated", e.Message);
        e = Assert.Throws<CmtmException>(() => FloFile.Read(WriteBytes(dir, "extra.flo", good.Concat(new byte[3]).ToArray())));
        Assert.Contains("trailing", e.Message);
        e = Assert.Throws<CmtmException>(() => FloFile.Read(dir.File("missing.flo")));
        Assert.Contains("missing.flo", e.Message);
    }
}
