using System.Diagnostics;
using System.Text.Json;
using Cmtm.Data.Sampling;
using Cmtm.Data.Synthetic;
using Cmtm.IO.Checkpoints;
using Cmtm.Model;
using Cmtm.Runtime;
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
/// Crash safety: real `cmtm train` processes are SIGKILLed at named points of the checkpoint writes (the kill-point hook,
/// <see cref="KillPoints"/>: while the pending model is written, between the model and the trainer state, while the
/// state is written, after the state committed but before the model's rename) and resumed with --resume each time; the
/// final checkpoint equals, tensor for tensor, that of an uninterrupted run with the same seed, and after every kill each
/// file in the run folder other than a temporary file is complete. Deterministic: the kills land where they are named,
/// whatever the machine's load.
/// </summary>
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class CrashSafetyTests(ITestOutputHelper output)
{
    private const int Epochs = 6;

    private static string[] TrainArgs(string data, string run, bool resume) =>
    [
        "train", "--arch", "cmtm-b0", "--resolution", "32", "--train", "synth=" + data, "--epochs", $"{Epochs}",
        "--samples-per-epoch", "2", "--batch-size", "1", "--lr", "1e-3", "--seed", "11", "--threads", "1", "--out", run,
        .. resume ? new[] { "--resume" } : [],
    ];

    /// <summary>Where each process dies (CMTM_KILL_AT): every step of a checkpoint save, the first process after one
    /// committed epoch (so there is something to resume).</summary>
    private static readonly string[] Plan =
    [
        "checkpoint model-written#2",      // the 2nd save's model is pending, its state not written: uncommitted
        "write last.train.safetensors#1",  // mid-write of the state: a temporary file, the old state still committed
        "checkpoint state-written#1",      // state committed, model still pending: resume finishes the rename
        "write last.safetensors.pending#2", // mid-write of a model: a temporary file
    ];

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public void SigkilledTrainingResumesToExactlyTheWeightsOfAnUninterruptedRun()
    {
        using var d = new Shared.TempDir();
        var data = d.File("synth");
        SyntheticDataset.Generate(data, 3, 3, 48, 48, 1, valVideos: 0);
        string reference = d.File("reference"), run = d.File("killed");
        Assert.Equal(0, ChildCli.Run(TrainArgs(data, reference, resume: false), timeoutSeconds: 300).Code);

        var log = new List<string>();
        var leftTemps = new List<string>();
        int tempsOfLastKill = 0;
        for (int k = 0; k <= Plan.Length; k++)
        {
            var env = new Dictionary<string, string?> { [KillPoints.EnvironmentVariable] = k < Plan.Length ? Plan[k] : null };
            using var child = new ChildCli(TrainArgs(data, run, resume: k > 0), environment: env);
            int code = child.WaitForExit(Patience);
            if (k == Plan.Length)
            {
                Assert.True(code == 0, $"final resume exited {code}\n{string.Join("\n", log)}\nstdout:\n{child.Out}\nstderr:\n{child.Err}");
            }
            else
            {
                // 137 = killed by SIGKILL: the process reached its kill point (it did not simply finish)
                Assert.True(code == 137, $"kill {k} ({Plan[k]}): exited {code}\nstdout:\n{child.Out}\nstderr:\n{child.Err}");
                log.Add($"kill {k}: {Plan[k]}; {child.Out.Split('\n').Count(l => l.Contains(" done: loss "))} epoch(s) finished in that process");
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

        // the kills inside the writes left half-written temporary files (two of the four points), and none survived
        Assert.True(leftTemps.Count >= 2, "the write kill points left no temporary file:\n" + string.Join("\n", log));
        Assert.DoesNotContain(Directory.GetFiles(run), f => Checkpoints.IsTemp(f) || f.EndsWith(".pending", StringComparison.Ordinal));
        // exactly the uninterrupted run's weights, optimiser state, RNG-driven epoch plan and per-epoch losses
        Checkpoints.AssertSameTensors(TrainCheckpoint.ModelPath(reference, "last"), TrainCheckpoint.ModelPath(run, "last"));
        Checkpoints.AssertSameTensors(TrainCheckpoint.StatePath(reference, "last"), TrainCheckpoint.StatePath(run, "last"));
        Assert.Equal($"{Epochs * 2}", SafeTensors.Describe(TrainCheckpoint.ModelPath(run, "last")).Metadata["step"]);
        static IEnumerable<string> Losses(string dir) => File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Select(l => string.Join(",", l.Split(',').Take(7)));
        Assert.Equal(Losses(reference), Losses(run));
        Assert.Equal(Epochs + 1, Losses(run).Count());
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
