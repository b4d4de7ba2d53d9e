using Cmtm.Data.Synthetic;
using Cmtm.IO.Checkpoints;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;
using Cmtm.Training;

namespace Cmtm.Tests.Reliability;

/// <summary>
/// Issue 12 item 6, through the real CLI (child processes): `cmtm train --resume --out DIR` takes every setting from
/// DIR/config.json, flags beside it override them, and `--epochs N` extends a finished k-epoch run to exactly the weights
/// of an uninterrupted N-epoch run with the constant schedule; with cosine the extension stretches the schedule (said in
/// a note) and so ends elsewhere.
/// </summary>
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class ResumeCliTests
{
    private static string[] Train(string data, string run, int epochs, string schedule) =>
    [
        "train", "--arch", "cmtm-b0", "--resolution", "32", "--train", "synth=" + data, "--epochs", $"{epochs}", "--samples-per-epoch", "2",
        "--batch-size", "1", "--lr", "1e-3", "--lr-schedule", schedule, "--seed", "5", "--threads", "1", "--out", run,
    ];

    private static (int Code, string Out, string Err) Cli(params string[] args) => ChildCli.Run(args, timeoutSeconds: 300);

    private static void AssertOk((int Code, string Out, string Err) r, string what) =>
        Assert.True(r.Code == 0, $"{what} exited {r.Code}\nstdout:\n{r.Out}\nstderr:\n{r.Err}");

    private static IEnumerable<string> Losses(string run) =>
        File.ReadAllLines(Path.Combine(run, "metrics.csv")).Select(l => string.Join(",", l.Split(',').Take(4)));

    [Fact]
    public void ResumeWithOnlyTheRunFolderExtendsAFinishedRunToTheWeightsOfAnUninterruptedOne()
    {
        using var d = new Shared.TempDir();
        var data = d.File("synth");
        SyntheticDataset.Generate(data, 3, 3, 48, 48, 2, valVideos: 0);
        string full = d.File("full"), part = d.File("part"), cosFull = d.File("cos-full"), cosPart = d.File("cos-part");

        using (var uninterrupted = new ChildCli(Train(data, full, 3, "constant"))) // beside the 1-epoch run
        {
            AssertOk(Cli(Train(data, part, 1, "constant")), "1-epoch run");
            Assert.True(uninterrupted.WaitForExit(TimeSpan.FromSeconds(300)) == 0, uninterrupted.Err);
        }
        // the README form: nothing but the run folder; the finished run has nothing left to do
        var r = Cli("train", "--resume", "--out", part);
        AssertOk(r, "bare resume");
        Assert.Contains("finished: 1 epochs, 2 steps", r.Out);
        // extended to 3 epochs: every other setting from part/config.json
        r = Cli("train", "--resume", "--out", part, "--epochs", "3");
        AssertOk(r, "resume --epochs 3");
        Assert.Contains("resumed", r.Out);
        Assert.Contains("finished: 3 epochs, 6 steps", r.Out);
        Assert.DoesNotContain("note:", r.Err);
        Checkpoints.AssertSameTensors(TrainCheckpoint.ModelPath(full, "last"), TrainCheckpoint.ModelPath(part, "last"));
        Checkpoints.AssertSameTensors(TrainCheckpoint.StatePath(full, "last"), TrainCheckpoint.StatePath(part, "last"));
        Assert.Equal(Losses(full), Losses(part));
        Assert.Equal(3, TrainOptions.Load(Path.Combine(part, "config.json")).Epochs); // the next resume continues the longer run

        // cosine: the extension stretches the decay (a note says so), so the weights differ from an uninterrupted run
        using (var uninterrupted = new ChildCli(Train(data, cosFull, 3, "cosine")))
        {
            AssertOk(Cli(Train(data, cosPart, 1, "cosine")), "1-epoch cosine run");
            Assert.True(uninterrupted.WaitForExit(TimeSpan.FromSeconds(300)) == 0, uninterrupted.Err);
        }
        r = Cli("train", "--resume", "--out", cosPart, "--epochs", "3");
        AssertOk(r, "cosine resume --epochs 3");
        Assert.Contains("note: the cosine schedule now spans 6 steps (was 2)", r.Err);
        using var a = SafeTensors.Read(TrainCheckpoint.ModelPath(cosFull, "last"));
        using var b = SafeTensors.Read(TrainCheckpoint.ModelPath(cosPart, "last"));
        Assert.Contains(a.Keys, k => !Checkpoints.Same(a[k], b[k]));
        // epoch 1's losses agree (each loss is taken before its step's update; step 0 ran at the full rate in both), while
        // step 1 ran at half the rate in the 2-step schedule (cos 1/2) and at 0.93 in the 6-step one (cos 1/6)
        Assert.Equal(Losses(cosFull).Take(2), Losses(cosPart).Take(2));
    }
}

/// <summary>Resume-form errors, before anything is trained (in-process CLI).</summary>
[Collection("Console")]
public class ResumeCliErrorTests
{
    [Fact]
    public void ResumeNeedsARunFolderAndKeepsTheWeightsShape()
    {
        using var d = new Shared.TempDir();
        var (code, _, err) = CliHarness.Run("train", "--resume");
        Assert.Equal(2, code);
        Assert.Contains("--resume: needs --out DIR", err);
        (code, _, err) = CliHarness.Run("train", "--resume", "--out", d.File("none"));
        Assert.Equal(2, code);
        Assert.Contains("the run folder does not exist", err);

        var run = d.File("run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "config.json"), new TrainOptions { Arch = "cmtm-b0", Resolution = 64, Train = ["synth=" + d.File("data")], Out = run }.ToJson());
        (code, _, err) = CliHarness.Run("train", "--resume", "--out", run, "--arch", "cmtm-b1");
        Assert.Equal(2, code);
        Assert.Contains("--arch: cannot change on --resume", err);
        (code, _, err) = CliHarness.Run("train", "--resume", "--out", run, "--resolution", "32");
        Assert.Equal(2, code);
        Assert.Contains("--resolution: cannot change on --resume", err);
        (code, _, err) = CliHarness.Run("train", "--resume", "--out", run, "--config", Path.Combine(run, "config.json"));
        Assert.Equal(2, code);
        Assert.Contains("--config: not with --resume", err);
        // the saved settings are used: the training set named in config.json is what is missing, not --train
        (code, _, err) = CliHarness.Run("train", "--resume", "--out", run);
        Assert.Equal(2, code);
        Assert.Contains(d.File("data"), err);
        Assert.DoesNotContain("at least one training dataset", err);
    }
}
