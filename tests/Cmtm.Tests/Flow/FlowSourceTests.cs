using Cmtm.Flow;
using Cmtm.IO;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Flow;

/// <summary>The one flow-source abstraction: the "folder or method" choice, pairing by stem, and who disposes an estimator.</summary>
public class FlowSourceTests
{
    private sealed class CountingEstimator : IFlowEstimator
    {
        public int Calls, Disposed;
        public string Name => "counting";
        public FlowField Estimate(RgbFrame from, RgbFrame to) { Calls++; return new FarnebackFlow().Estimate(from, to); }
        public void Dispose() => Disposed++;
    }

    private static RgbFrame Frame(int i, string stem) => new(i, stem, 8, 6, Enumerable.Range(0, 8 * 6 * 3).Select(k => (byte)(k * (i + 3))).ToArray(), stem);

    [Fact]
    public void AFolderIsReadByStemAndAMethodIsComputedByAnOwnedEstimator()
    {
        using var d = new Shared.TempDir();
        var dir = Directory.CreateDirectory(d.File("flows")).FullName;
        foreach (var stem in new[] { "00000", "00001" })
            PngCodec.WriteGray8(Path.Combine(dir, stem + ".png"), 8, 6, Enumerable.Repeat((byte)(stem == "00000" ? 10 : 20), 8 * 6).ToArray());

        using (var folder = FlowSource.Open(dir, _ => throw new InvalidOperationException("a folder needs no estimator")))
        {
            Assert.IsType<FlowImageFolder>(folder);
            var pairs = folder.Pair([Frame(0, "00000"), Frame(1, "00001")]).ToList();
            Assert.Equal(new byte[] { 10, 20 }, pairs.Select(p => p.Flow.Rgb[0]));
            var e = Assert.Throws<CmtmException>(() => folder.CheckCovers(["00000", "00007"]));
            Assert.Contains("no flow image for frame '00007'", e.Message);
        }

        var est = new CountingEstimator();
        using (var computed = FlowSource.Open("counting", name => { Assert.Equal("counting", name); return est; }))
        {
            Assert.Equal("counting", computed.Description);
            var pairs = computed.Pair([Frame(0, "a"), Frame(1, "b"), Frame(2, "c")]).ToList();
            Assert.Equal(3, pairs.Count); // forward flow for all but the last, backward for the last
            Assert.Equal(3, est.Calls);
        }
        Assert.Equal(1, est.Disposed); // Open's estimator belongs to the source

        var lent = new CountingEstimator();
        using (FlowSource.Compute(lent)) { }
        Assert.Equal(0, lent.Disposed);
    }
}
