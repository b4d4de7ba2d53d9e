using System.Diagnostics;
using Cmtm.IO.Checkpoints;
using Cmtm.Tests.Support;
using Xunit.Abstractions;

namespace Cmtm.Tests.IO.Checkpoints;

[Trait("Category", "Benchmark")]
public class CheckpointBenchmarks(ITestOutputHelper output)
{
    /// <summary>Reads the 60 MB fixture several times; the best time must stay well under a second.</summary>
    [Fact]
    public void Read60MbPth()
    {
        var path = Shared.Fixture("model", "cmtm_b0_r128.pth");
        var times = new List<double>();
        for (int i = 0; i < 6; i++)
        {
            var sw = Stopwatch.StartNew();
            using var sd = PthReader.Read(path);
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        var sw2 = Stopwatch.StartNew();
        var info = PthReader.Describe(path);
        var describe = sw2.Elapsed.TotalMilliseconds;
        output.WriteLine($"read: {string.Join(", ", times.Select(t => $"{t:F0}"))} ms; describe {describe:F1} ms; {info.KeyCount} keys");
        Console.WriteLine($"read: {string.Join(", ", times.Select(t => $"{t:F0}"))} ms; describe {describe:F1} ms");
        Assert.True(times.Min() < 1000);
    }
}
