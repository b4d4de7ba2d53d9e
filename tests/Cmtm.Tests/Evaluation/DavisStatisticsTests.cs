using Cmtm.Evaluation;

namespace Cmtm.Tests.Evaluation;

public class DavisStatisticsTests
{
    // Edges worked out by hand from ids = uint8(round(linspace(1, n, 5) + 1e-10) - 1):
    // n = 4:  linspace 1, 1.75, 2.5, 3.25, 4 -> round 1, 2, 3 (2.5 + 1e-10 goes up), 3, 4 -> 0, 1, 2, 2, 3
    // n = 6:  1, 2.25, 3.5, 4.75, 6 -> 1, 2, 4, 5, 6 -> 0, 1, 3, 4, 5
    // n = 10: 1, 3.25, 5.5, 7.75, 10 -> 1, 3, 6, 8, 10 -> 0, 2, 5, 7, 9
    [Theory]
    [InlineData(4, new byte[] { 0, 1, 2, 2, 3 })]
    [InlineData(6, new byte[] { 0, 1, 3, 4, 5 })]
    [InlineData(10, new byte[] { 0, 2, 5, 7, 9 })]
    [InlineData(1, new byte[] { 0, 0, 0, 0, 0 })]
    public void DecayBinEdges(int n, byte[] expected) => Assert.Equal(expected, DavisStatistics.DecayBinEdges(n));

    [Fact]
    public void HalfRoundsUpBecauseOfEpsilon()
    {
        // n = 3: linspace 1, 1.5, 2, 2.5, 3; plain half-to-even would give 2, 2 for 1.5 and 2.5; +1e-10 gives 2, 3.
        Assert.Equal(new byte[] { 0, 1, 1, 2, 2 }, DavisStatistics.DecayBinEdges(3));
    }

    [Fact]
    public void MeanRecallDecay()
    {
        double[] x = [1.0, 0.9, 0.6, 0.4, 0.2, 0.1];
        var s = DavisStatistics.Compute(x);
        Assert.Equal(x.Average(), s.Mean, 1e-15);
        Assert.Equal(3 / 6.0, s.Recall, 1e-15);
        // edges 0,1,3,4,5: bin1 = x[0:2] = {1, .9}; bin4 = x[4:6] = {.2, .1}
        Assert.Equal(0.95 - 0.15, s.Decay, 1e-15);
    }

    [Fact]
    public void EmptyGivesNaN()
    {
        var s = DavisStatistics.Compute([]);
        Assert.True(double.IsNaN(s.Mean) && double.IsNaN(s.Recall) && double.IsNaN(s.Decay));
    }

    [Fact]
    public void NanFramesIgnoredByMeanButCountedByRecall()
    {
        var s = DavisStatistics.Compute([1.0, double.NaN, 0.0, 1.0]);
        Assert.Equal(2 / 3.0, s.Mean, 1e-15);
        Assert.Equal(0.5, s.Recall, 1e-15); // nanmean(x > 0.5): NaN > 0.5 is False, all 4 frames count
    }
}
