using System.Text.Json;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Benchmarking;

/// <summary>`cmtm bench` at toy size (the real measurement is a command, not a timed test): the report and its JSON carry
/// every number the performance issue asks for, including the bf16 comparison.</summary>
[Collection("Console")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class BenchCommandTests
{
    [Fact]
    public void ReportsFp32AndBf16WithTheComparison()
    {
        using var dir = new Shared.TempDir();
        var json = dir.File("bench.json");
        var (code, stdout, stderr) = CliHarness.Run("bench", "--arch", "cmtm-b0", "--resolution", "64", "--frames", "2", "--batch", "2",
            "--no-train", "--no-e2e", "--bf16", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("model-only (batch 1):", stdout);
        Assert.Contains("bf16 model-only (batch 1", stdout);
        Assert.Contains("foreground mask IoU", stdout);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var r = doc.RootElement;
        Assert.Equal("cmtm-b0", r.GetProperty("arch").GetString());
        Assert.Equal(64, r.GetProperty("resolution").GetInt32());
        Assert.Equal("random", r.GetProperty("weights").GetString());
        Assert.True(r.GetProperty("seconds-per-frame").GetProperty("median").GetDouble() > 0);
        Assert.True(r.GetProperty("matmul-gflops").GetDouble() > 0);
        Assert.True(r.GetProperty("batched-frames-per-second").GetDouble() > 0);
        var stages = r.GetProperty("stage-seconds");
        foreach (var stage in new[] { "resize_in", "modulator", "decoder", "resize_out" })
            Assert.True(stages.TryGetProperty(stage, out _), stage);
        // one "encoders" stage when they run side by side (<= 2 threads), else one per encoder
        Assert.True(stages.TryGetProperty("encoders", out _) || (stages.TryGetProperty("app_encoder", out _) && stages.TryGetProperty("mo_encoder", out _)));

        var b = r.GetProperty("bf16");
        Assert.Equal("bf16", b.GetProperty("precision").GetString());
        Assert.True(b.GetProperty("seconds-per-frame").GetProperty("median").GetDouble() > 0);
        Assert.True(b.GetProperty("speedup-over-fp32").GetDouble() > 0);
        double diff = b.GetProperty("max-abs-logit-difference").GetDouble(), max = b.GetProperty("max-abs-logit").GetDouble();
        Assert.True(diff > 0 && diff <= 0.05 * max, $"bf16 logit difference {diff} vs max |logit| {max}");
        Assert.InRange(b.GetProperty("pixel-agreement").GetDouble(), 0.97, 1.0);
        Assert.InRange(b.GetProperty("mask-iou").GetDouble(), 0.0, 1.0);
    }

    [Fact]
    public void MeasuresACheckpointAtItsOwnArchitectureAndResolution()
    {
        using var dir = new Shared.TempDir();
        var json = dir.File("bench.json");
        var (code, _, stderr) = CliHarness.Run("bench", "--weights", Shared.Fixture("model", "cmtm_b0_r128.pth"), "--frames", "1",
            "--batch", "1", "--no-train", "--no-e2e", "--json", json);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("cmtm-b0", doc.RootElement.GetProperty("arch").GetString());
        Assert.Equal(128, doc.RootElement.GetProperty("resolution").GetInt32());
        Assert.EndsWith("cmtm_b0_r128.pth", doc.RootElement.GetProperty("weights").GetString());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("bf16").ValueKind);
    }
}
