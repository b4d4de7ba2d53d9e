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
            sw.Restart(); BenchClock.Cpu();
            var f = est.Estimate(a, b);
            times.Add(sw.Elapsed.TotalSeconds);
            Assert.DoesNotContain(f.Data, float.IsNaN);
        }
        output.WriteLine($"{est.Name}: {string.Join(", ", times.Select(t => t.ToString("F3")))} s (cpu {BenchClock.Cpu():F2} s for {runs} runs); median {times.Order().ElementAt(times.Count / 2):F3} s, threads {TorchSharp.torch.get_num_threads()}");
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

/// <summary>Where RAFT's time goes at 856x480 (padded DAVIS frame), random weights.</summary>
[Trait("Category", "Benchmark")]
public class RaftStageBenchmarks(ITestOutputHelper output)
{

    [Fact]
    public void Stages()
    {
        using var model = new RaftModel();
        model.eval();
        using var _ = TorchSharp.torch.no_grad();
        using var img = TorchSharp.torch.rand(1, 3, 480, 856) * 255;
        var sw = Stopwatch.StartNew();
        for (int rep = 0; rep < 2; rep++)
        {
            sw.Restart(); BenchClock.Cpu();
            using (var f = model.FeatureEncoder.forward(TorchSharp.torch.cat(new[] { img, img }, 0))) { }
            output.WriteLine($"fnet x2: {sw.Elapsed.TotalSeconds:F3} s (cpu {BenchClock.Cpu():F2} s)");
        }
        for (int rep = 0; rep < 2; rep++)
        {
            sw.Restart(); BenchClock.Cpu();
            using (var f = model.FeatureEncoder.forward(img)) { }
            output.WriteLine($"fnet x1: {sw.Elapsed.TotalSeconds:F3} s (cpu {BenchClock.Cpu():F2} s)");
        }
        for (int rep = 0; rep < 2; rep++)
        {
            sw.Restart(); BenchClock.Cpu();
            using (var f = model.ContextEncoder.forward(TorchSharp.torch.cat(new[] { img, img }, 0))) { }
            output.WriteLine($"cnet x2: {sw.Elapsed.TotalSeconds:F3} s (cpu {BenchClock.Cpu():F2} s)");
        }
        using var x64 = TorchSharp.torch.randn(1, 64, 240, 428);
        using var conv = TorchSharp.torch.nn.Conv2d(64, 64, 3, padding: 1);
        for (int rep = 0; rep < 3; rep++)
        {
            sw.Restart(); BenchClock.Cpu();
            using (var y = conv.forward(x64)) { }
            output.WriteLine($"conv 64->64 3x3 at 240x428 (3.8 GMAC): {sw.Elapsed.TotalSeconds:F3} s, mkldnn {Cmtm.Runtime.TorchRuntime.MkldnnEnabled}");
        }
        using var inorm = TorchSharp.torch.nn.InstanceNorm2d(64);
        sw.Restart(); BenchClock.Cpu();
        using (var y = inorm.forward(x64)) { }
        output.WriteLine($"instance norm 64 at 240x428: {sw.Elapsed.TotalSeconds:F3} s (cpu {BenchClock.Cpu():F2} s)");
        sw.Restart(); BenchClock.Cpu();
        using (var c = model.ContextEncoder.forward(img)) { }
        output.WriteLine($"cnet: {sw.Elapsed.TotalSeconds:F3} s (cpu {BenchClock.Cpu():F2} s)");
        using var fm = TorchSharp.torch.randn(1, 256, 60, 107);
        sw.Restart(); BenchClock.Cpu();
        using var corr = new RaftCorrBlock(fm, fm);
        output.WriteLine($"corr pyramid: {sw.Elapsed.TotalSeconds:F3} s (cpu {BenchClock.Cpu():F2} s)");
        using var coords = RaftModel.CoordsGrid(1, 60, 107, TorchSharp.torch.CPU);
        sw.Restart(); BenchClock.Cpu();
        using (var l = corr.Lookup(coords)) { }
        output.WriteLine($"corr lookup: {sw.Elapsed.TotalSeconds:F3} s (cpu {BenchClock.Cpu():F2} s)");
        foreach (var iters in new[] { 1, 5 })
        {
            sw.Restart(); BenchClock.Cpu();
            var (a, b) = model.Forward(img, img, iters);
            a.Dispose(); b.Dispose();
            output.WriteLine($"forward iters {iters}: {sw.Elapsed.TotalSeconds:F3} s (cpu {BenchClock.Cpu():F2} s)");
        }
    }
}

/// <summary>Process CPU seconds since the previous call (robust when other processes share the cores).</summary>
internal static class BenchClock
{
    private static double _last = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
    public static double Cpu() { var now = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds; var d = now - _last; _last = now; return d; }
}
