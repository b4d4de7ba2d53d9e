using Cmtm.Data.Synthetic;
using Cmtm.IO.Checkpoints;
using Cmtm.Model;
using Cmtm.Runtime;
using Cmtm.Tests.Support;
using Cmtm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Tests.Training;

/// <summary>Training tests use torch's global RNG and the process-wide oneDNN switch: they must not run beside others.</summary>
[CollectionDefinition("torch-global-state", DisableParallelization = true)]
public class TorchGlobalStateCollection { }

[Collection("torch-global-state")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class TrainingTests
{
    internal static readonly Lazy<string> Data = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), "cmtm-train-tests-" + Environment.ProcessId);
        if (!Directory.Exists(root)) SyntheticDataset.Generate(root, 4, 3, 48, 48, 5, valVideos: 1);
        return root;
    });

    internal static TrainOptions Tiny(string outDir, int epochs = 2) => new()
    {
        Arch = "cmtm-b0", Resolution = 32, Train = new() { "synth=" + Data.Value }, Epochs = epochs, SamplesPerEpoch = 8,
        BatchSize = 4, Lr = 1e-3, MaskRatio = 0.2, DropPath = 0.1, Seed = 7, Threads = 2, Out = outDir, ValEvery = 1000, SaveEvery = 1000,
    };

    private static Dictionary<string, float[]> Weights(string path)
    {
        using var sd = SafeTensors.Read(path, out _);
        return sd.Items.ToDictionary(e => e.Key, e => e.Value.to_type(ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void TinyRunLossDecreases()
    {
        using var d = new Shared.TempDir();
        using var trainer = new Trainer(Tiny(d.File("run"), epochs: 8) with { DropPath = 0, MaskRatio = 0 });
        var r = trainer.Run();
        Assert.Equal(8, r.CompletedEpochs);
        Assert.Equal(16, r.Steps);
        double first = r.Records.Take(2).Average(x => x.Loss), last = r.Records.TakeLast(2).Average(x => x.Loss);
        Assert.True(last < first * 0.9, $"loss did not decrease: first epochs {first:F4}, last epochs {last:F4}");
        Assert.True(File.Exists(d.File("run/metrics.csv")));
        Assert.True(File.Exists(d.File("run/loss.png")));
        Assert.Equal(9, File.ReadAllLines(d.File("run/metrics.csv")).Length);
    }

    [Theory]
    [InlineData(LrScheduleKind.Constant)]
    [InlineData(LrScheduleKind.Cosine)]
    public void ResumeAfterStopGivesTheSameWeightsAsAnUninterruptedRun(LrScheduleKind schedule)
    {
        using var d = new Shared.TempDir();
        TrainOptions Opts(string dir) => Tiny(d.File(dir), epochs: 2) with { LrSchedule = schedule, WarmupSteps = 1 };
        using (var full = new Trainer(Opts("full")))
        {
            Assert.False(full.Run().Stopped);
            // the last step (index 3 of 4) ran at the schedule's rate: cosine at 2/3 of the decay, constant at lr
            double expected = schedule == LrScheduleKind.Constant ? 1e-3 : 1e-3 * 0.5 * (1 + Math.Cos(Math.PI * 2 / 3));
            Assert.Equal(expected, full.Optimizer.ParamGroups.First().LearningRate, 12);
        }

        // stop in the middle of epoch 2 (after step 3 of 4), then resume in a fresh trainer
        using (var part = new Trainer(Opts("part")) { StopAfterStep = s => s == 3 })
        {
            var r = part.Run();
            Assert.True(r.Stopped);
            Assert.Equal(1, r.CompletedEpochs);
        }
        // a fresh run in the same folder without --resume is refused
        Assert.Throws<CmtmException>(() => new Trainer(Opts("part")));
        using (var resumed = new Trainer(Opts("part") with { Resume = true }))
        {
            var r = resumed.Run();
            Assert.False(r.Stopped);
            Assert.Equal(4, r.Steps);
        }
        var a = Weights(d.File("full/last.safetensors"));
        var b = Weights(d.File("part/last.safetensors"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys) Assert.True(a[k].AsSpan().SequenceEqual(b[k]), $"{k} differs after resume");
        // and the weights did change from the initial ones
        Assert.Equal(File.ReadAllLines(d.File("full/metrics.csv")).Skip(1).Select(l => string.Join(",", l.Split(',').Take(7))),
                     File.ReadAllLines(d.File("part/metrics.csv")).Skip(1).Select(l => string.Join(",", l.Split(',').Take(7))));
    }

    [Fact]
    public void LrScheduleWarmsUpLinearlyThenDecaysToZero()
    {
        var cos = new LrSchedule(LrScheduleKind.Cosine, 1e-3, TotalSteps: 110, WarmupSteps: 10);
        Assert.Equal(1e-4, cos.At(0), 15);
        Assert.Equal(1e-3, cos.At(9), 15);
        Assert.Equal(1e-3, cos.At(10), 15);
        Assert.Equal(0.5e-3, cos.At(60), 15);
        Assert.Equal(0, cos.At(110), 15);
        for (long s = 11; s <= 110; s++) Assert.True(cos.At(s) < cos.At(s - 1));
        var constant = new LrSchedule(LrScheduleKind.Constant, 1e-5, 100, 10);
        Assert.All(new long[] { 0, 5, 50, 99 }, s => Assert.Equal(1e-5, constant.At(s)));
    }

    [Theory]
    [InlineData(0.2, MaskingMode.Joint)]
    [InlineData(0.4, MaskingMode.Joint)]
    [InlineData(0.4, MaskingMode.PerModality)]
    [InlineData(0.75, MaskingMode.PerModality)]
    public void MaskingCountsThroughTheModulator(double ratio, MaskingMode mode)
    {
        var cfg = ModelConfig.Parse("cmtm-b0", 96) with { Modulator = new ModulatorOptions { MaskRatio = ratio, Masking = mode } };
        using var model = new VosModel(cfg);
        var mod = model.Modulator!;
        int n = cfg.TokensPerModality; // 36
        mod.train();
        using var app = randn(3, n, cfg.ModulatorDim); using var mo = randn(3, n, cfg.ModulatorDim);
        using (var _ = mod.forward(app, mo)) { }
        var mask = mod.LastMask!;
        Assert.Equal(new long[] { 3, 2 * n }, mask.shape);
        // official rule: keep int(len * (1 - r)) tokens of each drawn set; the rest is masked
        static long Masked(long len, double r) => len - (long)(len * (1 - r));
        for (int b = 0; b < 3; b++)
        {
            var row = mask[b];
            if (mode == MaskingMode.Joint)
            {
                Assert.Equal(Masked(2 * n, ratio), (long)row.sum().item<float>());
            }
            else
            {
                Assert.Equal(Masked(n, ratio), (long)row.narrow(0, 0, n).sum().item<float>());
                Assert.Equal(Masked(n, ratio), (long)row.narrow(0, n, n).sum().item<float>());
            }
        }
        if (mode == MaskingMode.Joint && ratio == 0.2)
            Assert.Equal(15, Masked(72, 0.2)); // 72 - int(57.6) = 15 = floor(0.2 * 72) + 1 (ceil when r*2N is fractional)
        mod.eval();
        using (var _ = mod.forward(app, mo)) { }
        Assert.Null(mod.LastMask); // no masking at inference
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Float32GradientsMatchFloat64WithOneDnnOff(bool oneDnnForward)
    {
        TrainStep.PrepareCpuBackend(CPU);
        Assert.False(TorchRuntime.MkldnnEnabled);
        var cfg = ModelConfig.Parse("cmtm-b0", 32) with { DropPathRate = 0, Modulator = new ModulatorOptions { MaskRatio = 0 } };
        torch.random.manual_seed(3);
        using var m32 = new VosModel(cfg);
        using var m64 = new VosModel(cfg);
        using (var sd = ModuleLoader.Export(m32)) ModuleLoader.Load(m64, sd);
        m64.to(ScalarType.Float64);
        m32.train(); m64.train();
        using var img = rand(2, 3, 32, 32); using var flo = rand(2, 3, 32, 32);
        using var masks = (rand(2, 32, 32) > 0.6).to_type(ScalarType.Int64);
        // the trainer's CPU path: forward with oneDNN, backward without (TrainStep.Run(oneDnnForward: true))
        TorchRuntime.MkldnnEnabled = oneDnnForward;
        using (var logits = m32.forward(img, flo))
        {
            TorchRuntime.MkldnnEnabled = false;
            using var l = TrainStep.Loss(logits, masks);
            l.backward();
        }
        using (var l = TrainStep.Loss(m64.forward(img.to_type(ScalarType.Float64), flo.to_type(ScalarType.Float64)), masks)) l.backward();
        var p32 = m32.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var p64 = m64.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        // 3x3 convs with few output channels (the oneDNN trap), the encoders' first convs, the modulator, the head
        var names = p32.Keys.Where(k => k.EndsWith("predictor.conv.weight") || k.Contains("cbam1.conv3") || k.Contains("patch_embeddings.0.proj.weight")
                                        || k.EndsWith("modulator.blocks.0.attn.qkv.weight") || k.Contains("blend1.conv.weight")
                                        || k.EndsWith("block.0.0.mlp.dwconv.dwconv.weight")).ToList();
        Assert.True(names.Count >= 6, string.Join(", ", names));
        foreach (var name in names)
        {
            var g32 = p32[name].grad!.to_type(ScalarType.Float64); var g64 = p64[name].grad!;
            double rel = (g32 - g64).norm().item<double>() / Math.Max(g64.norm().item<double>(), 1e-12);
            Assert.False(double.IsNaN(rel), $"{name}: NaN gradient");
            Assert.True(rel < 1e-3, $"{name}: float32 gradient deviates from float64 by {rel:E2} (relative L2)");
        }
    }
}
