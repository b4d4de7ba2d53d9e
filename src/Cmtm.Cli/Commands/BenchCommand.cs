using System.CommandLine;
using System.Text.Json;
using Cmtm.Benchmarking;
using Cmtm.IO;
using Cmtm.Runtime;

namespace Cmtm.Cli.Commands;

/// <summary>`cmtm bench`: model-only and end-to-end speed, memory, a training step, and the machine's matmul rate.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var arch = new Option<string?>("--arch") { Description = "cmtm-b0..b5 / fakeflow-b0..b5 (default: cmtm-b2, or the checkpoint's with --weights)" };
        var resolution = new Option<int?>("--resolution") { Description = "model input size (default: 512, or the checkpoint's with --weights)" };
        var frames = new Option<int>("--frames") { Description = "timed frames at batch 1 (after one warm-up frame)", DefaultValueFactory = _ => 5 };
        var batch = new Option<int>("--batch") { Description = "batch size of the batched throughput run (1 = skip)", DefaultValueFactory = _ => 4 };
        var threads = CommonOptions.Threads();
        var noTrain = new Option<bool>("--no-train") { Description = "skip the training-step measurement" };
        var noE2e = new Option<bool>("--no-e2e") { Description = "skip the end-to-end (decode + flow + model + write) runs" };
        var framesDir = new Option<string?>("--frames-dir") { Description = "real frames for the end-to-end runs (default: synthetic 854x480 JPEGs)" };
        var raftWeights = new Option<string?>("--raft-weights") { Description = "RAFT checkpoint for the raft end-to-end run (default: random weights; speed is the same)" };
        var json = new Option<string?>("--json") { Description = "write the results as JSON" };
        var bf16 = new Option<bool>("--bf16") { Description = "also time bf16 inference (batch 1) and compare it with fp32 on the same inputs: speed-up, max logit difference, mask IoU" };
        var weights = new Option<FileInfo?>("--weights") { Description = "measure this checkpoint instead of random weights (speed is the same; the bf16 mask comparison needs trained weights to mean much)" };
        var cmd = new Command("bench", "Measure inference and training speed, memory and end-to-end frames/s on this machine.")
        { arch, resolution, frames, batch, threads, noTrain, noE2e, framesDir, raftWeights, json, bf16, weights };
        cmd.SetAction(r =>
        {
            TorchRuntime.SetThreads(r.GetValue(threads));
            var result = Benchmark.Run(new BenchOptions
            {
                Arch = r.GetValue(arch) ?? (r.GetValue(weights) != null ? "auto" : "cmtm-b2"),
                Weights = r.GetValue(weights)?.FullName,
                Bf16 = r.GetValue(bf16),
                Resolution = r.GetValue(resolution),
                Frames = Math.Max(1, r.GetValue(frames)),
                Batch = r.GetValue(batch),
                Train = !r.GetValue(noTrain),
                EndToEnd = !r.GetValue(noE2e),
                FramesDir = r.GetValue(framesDir),
                RaftWeights = r.GetValue(raftWeights),
            }, Console.Error.WriteLine);
            Console.WriteLine($"machine: {result.Machine}; libtorch {result.LibTorch}; {result.Threads} threads; allocator: {result.Allocator}");
            Console.WriteLine($"{result.Arch} @ {result.Resolution}, input {result.Input}: {result.GflopPerFrame:0.0} GFLOP/frame; weights: {result.Weights}");
            Console.WriteLine($"model-only (batch 1): {result.SecondsPerFrame.Median:0.000} s/frame median ({result.FramesPerSecond:0.000} frames/s), p90 {result.SecondsPerFrame.P90:0.000}, min {result.SecondsPerFrame.Min:0.000}, max {result.SecondsPerFrame.Max:0.000}");
            Console.WriteLine("  stages (median s): " + string.Join(", ", result.StageSeconds.Select(kv => $"{kv.Key} {kv.Value:0.000}")));
            Console.WriteLine($"achieved {result.AchievedGflops:0.0} GFLOP/s = {100 * result.FractionOfMatmulRate:0}% of the fp32 matmul rate ({result.MatmulGflops:0.0} GFLOP/s)");
            if (result.Bf16 is { } h)
            {
                Console.WriteLine($"bf16 model-only (batch 1{(h.NativeBf16 ? "" : ", emulated: this CPU has no AVX-512-BF16/AMX")}): {h.SecondsPerFrame.Median:0.000} s/frame median ({h.FramesPerSecond:0.000} frames/s) = {h.SpeedupOverFp32:0.00}x fp32, p90 {h.SecondsPerFrame.P90:0.000}");
                Console.WriteLine("  stages (median s): " + string.Join(", ", h.StageSeconds.Select(kv => $"{kv.Key} {kv.Value:0.000}")));
                Console.WriteLine($"  vs fp32 on the same input: max |logit difference| {h.MaxAbsLogitDifference:g3} (max |logit| {h.MaxAbsLogit:g3}), foreground mask IoU {h.MaskIoU:0.0000}, pixel agreement {h.PixelAgreement:0.0000}");
            }
            if (result.BatchedFramesPerSecond is double b) Console.WriteLine($"batched (batch {result.Batch}): {b:0.000} frames/s");
            Console.WriteLine($"peak resident memory (model-only run): {result.PeakRssMb:0} MB");
            if (result.TrainStepSeconds is double t) Console.WriteLine($"training step (batch 2, {result.Resolution}x{result.Resolution}): {t:0.00} s");
            foreach (var (m, fps) in result.EndToEndFramesPerSecond)
                Console.WriteLine($"end-to-end with {m}: {fps:0.000} frames/s (model-only in that run {result.EndToEndModelFramesPerSecond[m]:0.000}; ratio {fps / result.EndToEndModelFramesPerSecond[m]:0.00})");
            if (r.GetValue(json) is string path)
                AtomicFile.WriteAllText(path, JsonFormat.Serialize(result));
            return 0;
        });
        return cmd;
    }
}
