using System.Diagnostics;
using System.Text.Json.Serialization;
using Cmtm.Flow;
using Cmtm.Flow.Raft;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Benchmarking;

public sealed record BenchOptions
{
    public string Arch { get; init; } = "cmtm-b2";
    /// <summary>Model input size; null = 512, or the checkpoint's with <see cref="Weights"/>.</summary>
    public int? Resolution { get; init; }
    /// <summary>Timed frames of the batch-1 run (after <see cref="Warmup"/> untimed ones).</summary>
    public int Frames { get; init; } = 5;
    public int Warmup { get; init; } = 1;
    public int Batch { get; init; } = 4;
    public int FrameWidth { get; init; } = 854;
    public int FrameHeight { get; init; } = 480;
    public int TrainSteps { get; init; } = 2;
    public int TrainBatch { get; init; } = 2;
    public bool Train { get; init; } = true;
    public bool EndToEnd { get; init; } = true;
    public int EndToEndFrames { get; init; } = 6;
    /// <summary>Frames folder for the end-to-end run (default: synthetic frames).</summary>
    public string? FramesDir { get; init; }
    public string? RaftWeights { get; init; }
    public int RaftIters { get; init; } = 20;
    public string[] FlowMethods { get; init; } = { "farneback", "raft" };
    /// <summary>Also time bf16 inference (batch 1) and compare its logits and masks with fp32 on the same inputs.</summary>
    public bool Bf16 { get; init; }
    /// <summary>A checkpoint to measure instead of random weights (speed does not depend on the values; the bf16
    /// comparison of masks is only meaningful for trained weights).</summary>
    public string? Weights { get; init; }
}

/// <summary>bf16 against fp32 on the same inputs (see <see cref="Precision"/>).</summary>
public sealed record PrecisionComparison(
    string Precision, LatencyStats SecondsPerFrame, Dictionary<string, double> StageSeconds, double SpeedupOverFp32,
    double MaxAbsLogitDifference, double MaxAbsLogit, [property: JsonPropertyName("mask-iou")] double MaskIoU, double PixelAgreement, bool NativeBf16)
{
    public double FramesPerSecond => 1 / SecondsPerFrame.Median;
}

public sealed record LatencyStats(double Median, double P90, double Min, double Max)
{
    public static LatencyStats Of(IReadOnlyList<double> xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        double Q(double q) => s[Math.Min(s.Length - 1, (int)Math.Ceiling(q * s.Length) - 1)];
        return new LatencyStats(s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2, Q(0.9), s[0], s[^1]);
    }
}

public sealed record BenchResult
{
    public required string Machine { get; init; }
    public required int Threads { get; init; }
    [JsonPropertyName("libtorch")] public required string LibTorch { get; init; }
    public string Allocator { get; init; } = "";
    public required string Arch { get; init; }
    public required int Resolution { get; init; }
    public required string Input { get; init; }
    public required double GflopPerFrame { get; init; }
    public required double MatmulGflops { get; init; }
    public required LatencyStats SecondsPerFrame { get; init; }
    /// <summary>Median seconds per stage of a batch-1 frame (resize_in, encoders (both, concurrent), modulator, decoder, resize_out).</summary>
    public Dictionary<string, double> StageSeconds { get; init; } = new();
    public double FramesPerSecond => 1 / SecondsPerFrame.Median;
    public double AchievedGflops => GflopPerFrame / SecondsPerFrame.Median;
    public double FractionOfMatmulRate => AchievedGflops / MatmulGflops;
    public double? BatchedFramesPerSecond { get; init; }
    public int Batch { get; init; }
    public required double PeakRssMb { get; init; }
    public double? TrainStepSeconds { get; init; }
    public Dictionary<string, double> EndToEndFramesPerSecond { get; init; } = new();
    public Dictionary<string, double> EndToEndModelFramesPerSecond { get; init; } = new();
    public string Weights { get; init; } = "random";
    public PrecisionComparison? Bf16 { get; init; }
}

/// <summary>
/// Measures what `cmtm bench` reports: model-only latency (batch 1, a 480x854 frame resized to the model resolution and
/// the logits resized back, as the official evaluator times it), batched throughput, peak memory, a training step, the
/// machine's fp32 matmul rate, and end-to-end frames/s (decode + flow + model + write) per flow method.
/// Random weights: speed does not depend on the values.
/// </summary>
public static class Benchmark
{
    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"));
            if (line != null) return line[(line.IndexOf(':') + 1)..].Trim() + $", {Environment.ProcessorCount} logical CPUs";
        }
        catch (IOException) { }
        return $"{System.Runtime.InteropServices.RuntimeInformation.OSArchitecture}, {Environment.ProcessorCount} logical CPUs";
    }

    public static double PeakRssMb()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:"));
            if (line != null) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        }
        catch (IOException) { }
        return double.NaN;
    }

    /// <summary>fp32 matrix-multiply rate (GFLOP/s) on 2048x2048 matrices, median of 5.</summary>
    public static double MatmulGflops(int n = 2048)
    {
        using var a = randn(n, n); using var b = randn(n, n);
        var times = new List<double>();
        for (int i = 0; i < 6; i++)
        {
            var sw = Stopwatch.StartNew();
            using (var c = a.matmul(b)) using (var s = c.sum()) s.item<float>();
            if (i > 0) times.Add(sw.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / LatencyStats.Of(times).Median / 1e9;
    }

    public static BenchResult Run(BenchOptions o, Action<string> log)
    {
        using var model = o.Weights != null ? ModelCheckpoint.Load(o.Weights, o.Arch, o.Resolution) : new VosModel(ModelConfig.Parse(o.Arch, o.Resolution ?? 512));
        var cfg = model.Config;
        var flops = FlopCount.For(cfg);
        log($"{cfg.Name} @ {cfg.Resolution}: {flops.Total / 1e9:0.0} GFLOP/frame (encoders {flops.Encoders / 1e9:0.0}, modulator {flops.Modulator / 1e9:0.0}, decoder {flops.Decoder / 1e9:0.0})");
        model.eval();
        manual_seed(0);
        using var img = rand(1, 3, o.FrameHeight, o.FrameWidth);
        using var flo = rand(1, 3, o.FrameHeight, o.FrameWidth);
        var (latency, stageMedians, fp32Logits) = TimeFrames(model, img, flo, o, log, "");
        double peak = PeakRssMb();

        PrecisionComparison? bf16 = null;
        using (fp32Logits)
            if (o.Bf16) bf16 = CompareBf16(model, img, flo, fp32Logits, latency, o, log);

        double? batched = null;
        if (o.Batch > 1)
        {
            using var bi = rand(o.Batch, 3, o.FrameHeight, o.FrameWidth);
            using var bf = rand(o.Batch, 3, o.FrameHeight, o.FrameWidth);
            var sw = Stopwatch.StartNew();
            using (inference_mode()) using (NewDisposeScope()) model.forward(bi, bf)[0, 0, 0, 0].item<float>();
            batched = o.Batch / sw.Elapsed.TotalSeconds;
            log($"  batch {o.Batch}: {batched:0.000} frames/s");
        }

        double matmul = MatmulGflops();
        log($"  fp32 matmul rate: {matmul:0.0} GFLOP/s");

        double? train = o.Train ? TrainStepSeconds(cfg, o, log) : null;
        var e2e = new Dictionary<string, double>();
        var e2eModel = new Dictionary<string, double>();
        if (o.EndToEnd)
            foreach (var method in o.FlowMethods)
            {
                var (total, modelOnly) = EndToEnd(model, method, o, log);
                e2e[method] = total; e2eModel[method] = modelOnly;
            }

        return new BenchResult
        {
            Machine = CpuModel(),
            Threads = get_num_threads(),
            LibTorch = Cmtm.Runtime.TorchRuntime.LibTorchPackage,
            Allocator = Runtime.TorchRuntime.AllocatorNote,
            Arch = cfg.Name,
            Resolution = cfg.Resolution,
            Input = $"{o.FrameWidth}x{o.FrameHeight}",
            GflopPerFrame = flops.Total / 1e9,
            MatmulGflops = matmul,
            SecondsPerFrame = latency,
            StageSeconds = stageMedians,
            BatchedFramesPerSecond = batched,
            Batch = o.Batch,
            PeakRssMb = peak,
            TrainStepSeconds = train,
            EndToEndFramesPerSecond = e2e,
            EndToEndModelFramesPerSecond = e2eModel,
            Weights = o.Weights ?? "random",
            Bf16 = bf16,
        };
    }

    /// <summary>Times <see cref="BenchOptions.Warmup"/> + <see cref="BenchOptions.Frames"/> batch-1 frames (the first
    /// untimed) with a per-stage breakdown; returns the statistics and the last frame's logits (float32).</summary>
    private static (LatencyStats Latency, Dictionary<string, double> Stages, Tensor Logits) TimeFrames(
        VosModel model, Tensor img, Tensor flo, BenchOptions o, Action<string> log, string label)
    {
        var times = new List<double>();
        var stages = new Dictionary<string, List<double>>();
        Tensor? last = null;
        for (int i = 0; i < o.Warmup + o.Frames; i++)
        {
            var sw = Stopwatch.StartNew();
            double mark = 0;
            var frameStages = new List<(string, double)>();
            model.Net.StageDone = name => { double now = sw.Elapsed.TotalSeconds; frameStages.Add((name, now - mark)); mark = now; };
            last?.Dispose();
            using (inference_mode())
            using (NewDisposeScope())
            {
                var logits = model.forward(img, flo);
                logits[0, 0, 0, 0].item<float>();
                last = logits.MoveToOuterDisposeScope();
            }
            double s = sw.Elapsed.TotalSeconds;
            frameStages.Add(("resize_out", s - mark));
            model.Net.StageDone = null;
            if (i >= o.Warmup)
            {
                times.Add(s);
                foreach (var (name, d) in frameStages) (stages.TryGetValue(name, out var l) ? l : stages[name] = new()).Add(d);
                log($"  {label}frame {i - o.Warmup + 1}/{o.Frames}: {s:0.000} s ({string.Join(", ", frameStages.Select(f => $"{f.Item1} {f.Item2:0.000}"))})");
            }
        }
        return (LatencyStats.Of(times), stages.ToDictionary(kv => kv.Key, kv => LatencyStats.Of(kv.Value).Median), last!);
    }

    /// <summary>A bf16 copy of the model timed like the fp32 run, and its last frame compared with fp32's.</summary>
    private static PrecisionComparison CompareBf16(VosModel fp32, Tensor img, Tensor flo, Tensor fp32Logits, LatencyStats fp32Latency,
        BenchOptions o, Action<string> log)
    {
        if (Precisions.SpeedNote(Precision.Bf16, CPU) is string note) log("  note: " + note);
        using var model = new VosModel(fp32.Config);
        using (no_grad())
        {
            var target = model.state_dict();
            foreach (var (name, t) in fp32.state_dict()) target[name].copy_(t);
        }
        model.eval();
        model.UsePrecision(Precision.Bf16);
        var (latency, stages, logits) = TimeFrames(model, img, flo, o, log, "bf16 ");
        using (logits)
        using (var scope = NewDisposeScope())
        {
            double maxDiff = (logits - fp32Logits).abs().max().item<float>();
            double maxLogit = fp32Logits.abs().max().item<float>();
            var a = VosModel.ToMask(fp32Logits).to_type(ScalarType.Bool);
            var b = VosModel.ToMask(logits).to_type(ScalarType.Bool);
            long inter = a.logical_and(b).sum().item<long>(), union = a.logical_or(b).sum().item<long>();
            double agree = a.eq(b).to_type(ScalarType.Float64).mean().item<double>();
            var r = new PrecisionComparison("bf16", latency, stages, fp32Latency.Median / latency.Median, maxDiff, maxLogit,
                union == 0 ? 1.0 : (double)inter / union, agree, Precisions.CpuHasNativeBf16);
            log($"  bf16: {latency.Median:0.000} s/frame median ({r.SpeedupOverFp32:0.00}x fp32); max |logit diff| {maxDiff:g3}; mask IoU {r.MaskIoU:0.0000}");
            return r;
        }
    }

    private static double TrainStepSeconds(ModelConfig cfg, BenchOptions o, Action<string> log)
    {
        TrainStep.PrepareCpuBackend(CPU);
        try
        {
            using var model = new VosModel(cfg);
            using var adam = new SafeAdam(model.parameters().Where(p => p.requires_grad), lr: 1e-5);
            int r = cfg.Resolution;
            using var imgs = rand(o.TrainBatch, 3, r, r);
            using var flows = rand(o.TrainBatch, 3, r, r);
            using var masks = randint(0, 2, new long[] { o.TrainBatch, r, r });
            var times = new List<double>();
            for (int i = 0; i < o.TrainSteps + 1; i++)
            {
                var sw = Stopwatch.StartNew();
                TrainStep.Run(model, adam, imgs, flows, masks);
                if (i > 0) { times.Add(sw.Elapsed.TotalSeconds); log($"  train step (batch {o.TrainBatch}): {times[^1]:0.00} s"); }
            }
            return LatencyStats.Of(times).Median;
        }
        finally { Runtime.TorchRuntime.MkldnnEnabled = true; }
    }

    private static (double Total, double ModelOnly) EndToEnd(VosModel model, string method, BenchOptions o, Action<string> log)
    {
        var tmp = Path.Combine(Path.GetTempPath(), "cmtm-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var framesDir = o.FramesDir ?? WriteSyntheticFrames(Path.Combine(tmp, "frames"), o.EndToEndFrames, o.FrameWidth, o.FrameHeight);
            // speed does not depend on the weights: RAFT without a checkpoint runs with random ones
            IFlowEstimator estimator = method == "raft" && o.RaftWeights == null
                ? new RaftFlow(new RaftModel(), o.RaftIters)
                : FlowEstimators.Create(method, o.RaftWeights, o.RaftIters);
            using (estimator)
            {
                using var predictor = new FramePredictor(model);
                var source = new LimitedSource(FrameSources.Open(framesDir), o.EndToEndFrames);
                var summary = new Segmenter(predictor, estimator).Run(source, new SegmentOptions { OutputDir = Path.Combine(tmp, "out-" + method) });
                log($"  end-to-end ({method}, {summary.Frames} frames): {summary.EndToEndFps:0.000} frames/s (model-only {summary.ModelFps:0.000})");
                return (summary.EndToEndFps, summary.ModelFps);
            }
        }
        finally { try { Directory.Delete(tmp, true); } catch { } }
    }

    private sealed class LimitedSource(IFrameSource inner, int limit) : IFrameSource
    {
        public string Path => inner.Path;
        public int? Count => inner.Count is int n ? Math.Min(n, limit) : limit;
        public IEnumerator<RgbFrame> GetEnumerator() => inner.Take(limit).GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>Textured frames with a moving square, as JPEGs (so decoding is part of the end-to-end time).</summary>
    private static string WriteSyntheticFrames(string dir, int n, int w, int h)
    {
        var rng = new Random(0);
        var background = new byte[w * h * 3];
        rng.NextBytes(background);
        for (int t = 0; t < n; t++)
        {
            var px = (byte[])background.Clone();
            for (int y = h / 3; y < h / 3 + h / 4; y++)
                for (int x = w / 4 + 4 * t; x < w / 4 + 4 * t + w / 5; x++)
                    for (int c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = (byte)(c == 0 ? 200 : 40 + (x + y) % 50);
            using var mat = new RgbFrame(t, $"{t:00000}", w, h, px, "synthetic").ToBgrMat();
            OpenCvSharp.Cv2.ImEncode(".jpg", mat, out var jpg);
            AtomicFile.WriteAllBytes(System.IO.Path.Combine(dir, $"{t:00000}.jpg"), jpg);
        }
        return dir;
    }
}
