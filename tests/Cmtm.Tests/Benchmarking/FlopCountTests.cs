using Cmtm.Benchmarking;
using Cmtm.Model;

namespace Cmtm.Tests.Benchmarking;

/// <summary>Our analytic FLOP count agrees with the performance issue's table (counted independently from the layer shapes).</summary>
public class FlopCountTests
{
    [Theory]
    [InlineData("fakeflow-b0", 90.2)]
    [InlineData("fakeflow-b1", 119.7)]
    [InlineData("fakeflow-b2", 158.9)]
    [InlineData("cmtm-b0", 106.2)]
    [InlineData("cmtm-b1", 162.2)]
    [InlineData("cmtm-b2", 201.4)]
    public void GflopPerFrameAt512MatchesTheIssueTable(string arch, double gflop)
    {
        var f = FlopCount.For(ModelConfig.Parse(arch, 512));
        Assert.InRange(f.Total / 1e9, gflop * 0.99, gflop * 1.01);
        Assert.InRange(f.Decoder / 1e9, 76, 80.5); // "the decoder is ~78 GFLOP in every configuration"
    }
}
