using System.Diagnostics;
using System.Text.Json;
using Cmtm.Data.Sampling;
using Cmtm.Data.Synthetic;
using Cmtm.IO.Checkpoints;
using Cmtm.Model;
using Cmtm.Tests.Support;
using Cmtm.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Cmtm.Tests.Reliability;

/// <summary>What the crash-safety tests compare: every tensor of two safetensors files, exactly.</summary>
internal static class Checkpoints
{
    public static void AssertSameTensors(string expectedPath, string actualPath)
    {
        using var a = SafeTensors.Read(expectedPath);
        using var b = SafeTensors.Read(actualPath);
        Assert.Equal(a.Keys.Order(StringComparer.Ordinal), b.Keys.Order(StringComparer.Ordinal));
        foreach (var k in a.Keys) Assert.True(Same(a[k], b[k]), $"{Path.GetFileName(actualPath)}: {k} differs from {expectedPath}");
    }

    /// <summary>Same dtype, shape and bytes (bit-exact, NaN-safe).</summary>
    public static bool Same(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope(); // keeps the chained temporaries reachable (and disposes them)
        var ca = a.detach().cpu().contiguous(); var cb = b.detach().cpu().contiguous();
        return ca.dtype == cb.dtype && ca.shape.SequenceEqual(cb.shape) && ca.bytes.SequenceEqual(cb.bytes);
    }

    /// <summary>AtomicFile's temporary files (".NAME.PID.GUID.tmp"): the only files a killed writer may leave half-written.</summary>
    public static bool IsTemp(string path) => Path.GetFileName(path).StartsWith('.') && path.EndsWith(".tmp", StringComparison.Ordinal);
}

/// <summary>
/// Issue 7 "crash safety": real `cmtm train` processes are SIGKILLed at seeded random points (after an epoch's
/// checkpoint, while the model file of a checkpoint is being written, while the trainer state is being written) and
/// resumed with --resume each time; the final checkpoint equals, tensor for tensor, that of an uninterrupted run with the
/// same seed, and after every kill each file in the run folder other than a temporary file is complete.
/// </summary>
public class CrashSafetyTests(ITestOutputHelper output)
{
    private const int Epochs = 6;

    private static string[] TrainArgs(string data, string run, bool resume) =>
    [
        "train", "--arch", "cmtm-b0", "--resolution", "32", "--train", "synth=" + data, "--epochs", $"{Epochs}",
        "--samples-per-epoch", "2", "--batch-size", "1", "--lr", "1e-3", "--seed", "11", "--threads", "1", "--out", run,
        .. resume ? new[] { "--resume" } : [],
    ];

    private enum KillAt { AfterAnEpoch, ModelWrite, StateWrite }

    /// <summary>The first kill comes after a committed epoch (there is something to resume); the others vary.</summary>
    private static readonly KillAt[] Plan = [KillAt.AfterAnEpoch, KillAt.StateWrite, KillAt.ModelWrite, KillAt.AfterAnEpoch];

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public void SigkilledTrainingResumesToExactlyTheWeightsOfAnUninterruptedRun()
    {
        using var d = new Shared.TempDir();
        var data = d.File("synth");
        SyntheticDataset.Generate(data, 3, 3, 48, 48, 1, valVideos: 0);
        string reference = d.File("reference"), run = d.File("killed");
        using var uninterrupted = new ChildCli(TrainArgs(data, reference, resume: false)); // runs beside the killed ones

        var rng = new Random(20240607);
        var clock = Stopwatch.StartNew();
        var log = new List<string>();
        var leftTemps = new List<string>();
        int tempsOfLastKill = 0;
        for (int k = 0; k <= Plan.Length; k++)
        {
            using var child = new ChildCli(TrainArgs(data, run, resume: k > 0));
            if (k == Plan.Length)
            {
                int code = child.WaitForExit(Patience);
                Assert.True(code == 0, $"final resume exited {code}\n{string.Join("\n", log)}\nstdout:\n{child.Out}\nstderr:\n{child.Err}");
            }
            else
            {
                bool triggered = Plan[k] switch
                {
                    KillAt.AfterAnEpoch => child.WaitForLine(l => l.Contains(" done: loss "), Patience),
                    KillAt.ModelWrite => WaitForFile(child, run, n => n.StartsWith(".last.safetensors.pending.")),
                    _ => WaitForFile(child, run, n => n.StartsWith(".last.train.safetensors.")),
                };
                Assert.True(triggered, $"kill {k} ({Plan[k]}): the run ended first\nstdout:\n{child.Out}\nstderr:\n{child.Err}");
                int delayMs = Plan[k] == KillAt.AfterAnEpoch ? rng.Next(0, 800) : rng.Next(0, 10);
                Thread.Sleep(delayMs);
                child.Kill();
                log.Add($"{clock.Elapsed.TotalSeconds:F1}s kill {k}: {Plan[k]} + {delayMs} ms; {child.Out.Split('\n').Count(l => l.Contains(" done: loss "))} epoch(s) finished in that process");
            }
            // the temporary files the previous kill left were removed by this process before it trained
            if (tempsOfLastKill > 0) Assert.Contains($"removed {tempsOfLastKill} temporary file(s) of an interrupted save", child.Out);
            if (k == Plan.Length) break;
            var temps = Directory.GetFiles(run).Where(Checkpoints.IsTemp).ToList();
            leftTemps.AddRange(temps);
            tempsOfLastKill = temps.Count;
            log[^1] += temps.Count > 0 ? $", left {string.Join(", ", temps.Select(Path.GetFileName))}" : "";
            AssertEveryFileIsComplete(run, log);
        }
        output.WriteLine(string.Join("\n", log));
        int refCode = uninterrupted.WaitForExit(Patience);
        Assert.True(refCode == 0, $"uninterrupted run exited {refCode}\n{uninterrupted.Err}");

        // kills during the writes did leave half-written temporary files, and none survived the resumes
        Assert.True(leftTemps.Count > 0, "no kill hit a checkpoint write:\n" + string.Join("\n", log));
        Assert.DoesNotContain(Directory.GetFiles(run), f => Checkpoints.IsTemp(f) || f.EndsWith(".pending", StringComparison.Ordinal));
        // exactly the uninterrupted run's weights, optimiser state, RNG-driven epoch plan and per-epoch losses
        Checkpoints.AssertSameTensors(TrainCheckpoint.ModelPath(reference, "last"), TrainCheckpoint.ModelPath(run, "last"));
        Checkpoints.AssertSameTensors(TrainCheckpoint.StatePath(reference, "last"), TrainCheckpoint.StatePath(run, "last"));
        Assert.Equal($"{Epochs * 2}", SafeTensors.Describe(TrainCheckpoint.ModelPath(run, "last")).Metadata["step"]);
        static IEnumerable<string> Losses(string dir) => File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Select(l => string.Join(",", l.Split(',').Take(7)));
        Assert.Equal(Losses(reference), Losses(run));
        Assert.Equal(Epochs + 1, Losses(run).Count());
    }

    /// <summary>Polls the run folder (every millisecond) for a file name; false if the process ended first.</summary>
    private static bool WaitForFile(ChildCli child, string dir, Func<string, bool> name)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Patience && !child.HasExited)
        {
            if (Directory.Exists(dir) && Directory.EnumerateFiles(dir).Any(f => name(Path.GetFileName(f)))) return true;
            Thread.Sleep(1);
        }
        return false;
    }

    /// <summary>Every file but the temporary ones reads back whole: checkpoints (including a pending model), metrics, config, progress.</summary>
    private static void AssertEveryFileIsComplete(string run, List<string> log)
    {
        var files = Directory.GetFiles(run).Where(f => !Checkpoints.IsTemp(f)).ToList();
        Assert.Contains(TrainCheckpoint.StatePath(run, "last"), files);
        foreach (var f in files)
        {
            var name = Path.GetFileName(f);
            try
            {
                if (name.EndsWith(".safetensors", StringComparison.Ordinal) || name.EndsWith(".pending", StringComparison.Ordinal))
                    using (SafeTensors.Read(f)) { }
                else if (name == "metrics.csv")
                    Assert.All(File.ReadAllLines(f), l => Assert.Equal(8, l.Split(',').Length));
                else if (name is "config.json" or "progress.json")
                    JsonDocument.Parse(File.ReadAllText(f)).Dispose();
                else if (name.EndsWith(".png", StringComparison.Ordinal))
                    Assert.True(File.ReadAllBytes(f).AsSpan(0, 8).SequenceEqual(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }));
                else Assert.Fail($"unexpected file {name}");
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"{name} is not complete after the kill ({e.Message})\n{string.Join("\n", log)}");
            }
        }
        log[^1] += $"; files: {string.Join(", ", files.Select(Path.GetFileName).Order(StringComparer.Ordinal))}";
    }
}

/// <summary>Checkpoints "last" of a CMTM-b0 at steps 1 and 2 (the weights moved in between), each in its own folder.</summary>
public sealed class TwoSaves : IDisposable
{
    public static readonly ModelConfig Config = ModelConfig.Parse("cmtm-b0", 32);
    private readonly Shared.TempDir dir = new();
    public string Step1 => Path.Combine(dir.Path, "step1");
    public string Step2 => Path.Combine(dir.Path, "step2");

    public TwoSaves()
    {
        torch.random.manual_seed(5);
        using var model = new VosModel(Config);
        using var adam = torch.optim.Adam(model.parameters(), 1e-3);
        var options = new TrainOptions { Arch = Config.Name, Resolution = Config.Resolution };
        TrainCheckpoint.Save(Step1, "last", model, adam, new TrainRng(1), new TrainProgressState { Epoch = 1, Step = 1 }, options);
        using (no_grad()) foreach (var p in model.parameters()) p.add_(0.5);
        TrainCheckpoint.Save(Step2, "last", model, adam, new TrainRng(2), new TrainProgressState { Epoch = 2, Step = 2 }, options);
    }

    /// <summary>A fresh copy of the step-1 folder to stage a crash in.</summary>
    public Shared.TempDir CopyOfStep1()
    {
        var copy = new Shared.TempDir();
        foreach (var f in Directory.GetFiles(Step1)) File.Copy(f, Path.Combine(copy.Path, Path.GetFileName(f)));
        return copy;
    }

    public void Dispose() => dir.Dispose();
}

/// <summary>
/// The two windows of a checkpoint save that a random kill rarely hits, set up file by file: the trainer state committed
/// with its model still pending (the resume completes the save), and a pending model whose state never committed (the
/// resume discards it and continues from the previous checkpoint).
/// </summary>
[Collection("torch-global-state")]
public class InterruptedSaveTests(TwoSaves saves) : IClassFixture<TwoSaves>
{
    private static string Model(string dir) => TrainCheckpoint.ModelPath(dir, "last");
    private static string State(string dir) => TrainCheckpoint.StatePath(dir, "last");
    private static string Pending(string dir) => TrainCheckpoint.PendingModelPath(dir, "last");

    private static TrainProgressState Resume(string dir, out Dictionary<string, Tensor> weights)
    {
        using var model = new VosModel(TwoSaves.Config);
        using var adam = torch.optim.Adam(model.parameters(), 1e-3);
        var state = TrainCheckpoint.Load(dir, "last", model, adam, new TrainRng(0));
        weights = model.state_dict().ToDictionary(e => e.Key, e => { using var detached = e.Value.detach(); return detached.clone(); });
        return state;
    }

    private static void AssertWeightsOf(string modelFile, Dictionary<string, Tensor> weights)
    {
        using var sd = SafeTensors.Read(modelFile);
        foreach (var (k, t) in sd.Items) Assert.True(Checkpoints.Same(t, weights[k]), $"{k} was not restored from {modelFile}");
    }

    [Fact]
    public void SaveLeavesNoPendingModel()
    {
        Assert.False(File.Exists(Pending(saves.Step1)) || File.Exists(Pending(saves.Step2)));
        Assert.Equal("2", SafeTensors.Describe(Model(saves.Step2)).Metadata["step"]);
    }

    [Theory]
    [InlineData(true)]  // killed between the commit (state renamed) and the pending model's rename: old model, new state, new pending
    [InlineData(false)] // killed while the new state was being written: the previous pair and the new model, pending
    public void ResumeAfterAKillInsideASaveCompletesACommittedSaveAndDiscardsAnUncommittedOne(bool stateCommitted)
    {
        using var crash = saves.CopyOfStep1();
        if (stateCommitted) File.Copy(State(saves.Step2), State(crash.Path), overwrite: true);
        File.Copy(Model(saves.Step2), Pending(crash.Path));
        var expected = stateCommitted ? saves.Step2 : saves.Step1;
        var state = Resume(crash.Path, out var weights);
        Assert.Equal(stateCommitted ? 2 : 1, state.Step);
        AssertWeightsOf(Model(expected), weights);
        Assert.False(File.Exists(Pending(crash.Path)));
        Assert.Equal(File.ReadAllBytes(Model(expected)), File.ReadAllBytes(Model(crash.Path)));
    }

    [Fact]
    public void ModelAndStateOfDifferentStepsWithoutAPendingModelAreANamedError()
    {
        using var crash = saves.CopyOfStep1();
        File.Copy(State(saves.Step2), State(crash.Path), overwrite: true);
        var e = Assert.Throws<CmtmException>(() => Resume(crash.Path, out _));
        Assert.Equal(Model(crash.Path), e.Subject);
        Assert.Contains("differs from trainer state step 2", e.Problem);
    }
}
