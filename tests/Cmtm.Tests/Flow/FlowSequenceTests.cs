using Cmtm.Flow;
using Cmtm.IO;

namespace Cmtm.Tests.Flow;

public class FlowSequenceTests
{
    /// <summary>Records calls and returns a constant flow whose u encodes (from.Index, to.Index).</summary>
    private sealed class FakeEstimator : IFlowEstimator
    {
        public List<(int, int)> Calls { get; } = new();
        public string Name => "fake";
        public FlowField Estimate(RgbFrame from, RgbFrame to)
        {
            Calls.Add((from.Index, to.Index));
            var d = new float[from.Width * from.Height * 2];
            Array.Fill(d, from.Index * 100 + to.Index);
            return new FlowField(from.Width, from.Height, d);
        }
        public void Dispose() { }
    }

    private static RgbFrame Frame(int i, int w = 4, int h = 3) => new(i, $"{i:D5}", w, h, new byte[w * h * 3], $"f{i}");

    [Fact]
    public void EveryFrameGetsAFlowAndTheLastIsBackward()
    {
        using var est = new FakeEstimator();
        var pulled = 0;
        IEnumerable<RgbFrame> Source() { for (int i = 0; i < 5; i++) { pulled++; yield return Frame(i); } }
        var seen = new List<FramedFlow>();
        foreach (var ff in FlowSequence.Stream(Source(), est))
        {
            // streaming: when frame t is emitted, at most t+2 frames have been decoded
            Assert.True(pulled <= ff.Frame.Index + 2, $"pulled {pulled} frames before emitting frame {ff.Frame.Index}");
            seen.Add(ff);
        }
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, seen.Select(s => s.Frame.Index));
        Assert.Equal(new[] { (0, 1), (1, 2), (2, 3), (3, 4), (4, 3) }, est.Calls);
        Assert.Equal(new[] { false, false, false, false, true }, seen.Select(s => s.IsBackward));
        Assert.Equal(403f, seen[^1].Flow!.Data[0]);
    }

    [Fact]
    public void SingleFrameAndEmptyInputsAreNamedErrors()
    {
        using var est = new FakeEstimator();
        var e = Assert.Throws<CmtmException>(() => FlowSequence.Stream(new[] { Frame(0) }, est, "one.mp4").ToList());
        Assert.Contains("at least two frames", e.Message);
        e = Assert.Throws<CmtmException>(() => FlowSequence.Stream(Array.Empty<RgbFrame>(), est, "none").ToList());
        Assert.Contains("none", e.Message);
    }

    [Fact]
    public void MixedSizesAreANamedError()
    {
        using var est = new FakeEstimator();
        var e = Assert.Throws<CmtmException>(() => FlowSequence.Stream(new[] { Frame(0), Frame(1, 5, 3) }, est).ToList());
        Assert.Contains("f1", e.Message);
    }
}
