using System.Diagnostics;
using Cmtm.Flow;
using Cmtm.Flow.Raft;
using Cmtm.IO;
using Cmtm.Tests.Support;
using Xunit.Abstractions;

namespace Cmtm.Tests.Flow;

/// <summary>Timings on a real 854x480 DAVIS pair (blackswan 00000 -> 00001). Excluded from the default suite.</summary>
[Trait("Category", "Benchmark")]
public class FlowBenchmarks(ITestOutputHelper output)
{
    private static (RgbFrame, RgbFrame) Pair()
    {
        var dir = Shared.DataPath("davis16-val", "JPEGImages", "480p", "blackswan");
        return (FolderFrameSource.Read(Path.Combine(dir, "00000.jpg"), 0), FolderFrameSource.Read(Path.Combine(dir, "00001.jpg"), 1));
    }

    private void Time(IFlowEstimator est, int runs)
    {
        var (a, b) = Pair();
        var sw = Stopwatch.StartNew();
        var warm = est.Estimate(a, b);
        output.WriteLine($"{est.Name}: first call {sw.Elapsed.TotalSeconds:F3} s ({warm.Width}x{warm.Height})");
        var times = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            sw.Restart();
            var f = est.Estimate(a, b);
            times.Add(sw.Elapsed.TotalSeconds);
            Assert.DoesNotContain(f.Data, float.IsNaN);
        }
        output.WriteLine($"{est.Name}: {string.Join(", ", times.Select(t => t.ToString("F3")))} s; median {times.Order().ElementAt(times.Count / 2):F3} s, threads {TorchSharp.torch.get_num_threads()}");
    }

    [Fact]
    public void Farneback854x480() => Time(new FarnebackFlow(), 5);

    [Fact]
    public void Raft854x480Iters20()
    {
        using var est = new RaftFlow(RaftCheckpoint.Load(Shared.Fixture("flow", "raft_large_seed0.pth")), iters: 20);
        Time(est, 2);
    }
}
