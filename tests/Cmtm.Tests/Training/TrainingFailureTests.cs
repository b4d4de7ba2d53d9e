using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Cmtm.Cli;
using Cmtm.IO.Checkpoints;
using Cmtm.Tests.Reliability;
using Cmtm.Tests.Support;
using Cmtm.Training;

namespace Cmtm.Tests.Training;

/// <summary>Issue 12 item 0: an error during training says where it stopped and how to resume, and the run resumes.</summary>
[Collection("torch-global-state")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class TrainingFailureTests
{
    [Fact]
    public void AnErrorSaysWhereTrainingStoppedAndTheRunResumesToTheSameWeights()
    {
        using var d = new Shared.TempDir();
        string run = d.File("run");
        var options = TrainingTests.Tiny(run, epochs: 2); // 2 steps per epoch
        using (var failing = new Trainer(options) { StopAfterStep = s => s == 3 ? throw new InvalidOperationException("boom") : false })
        {
            var e = Assert.Throws<TrainingFailedException>(() => failing.Run());
            Assert.Equal((2, 3L, true), (e.Epoch, e.Step, e.Resumable));
            Assert.IsType<InvalidOperationException>(e.InnerException);
            Assert.Equal($"training failed in epoch 2 after step 3: InvalidOperationException: boom; resume with: cmtm train --resume --out {run}", e.Message);
        }
        // the progress file says where the last checkpoint is
        using (var progress = JsonDocument.Parse(File.ReadAllText(Trainer.ProgressPath(run))))
        {
            var p = progress.RootElement;
            Assert.Equal((1, 2, 2L, false), (p.GetProperty("epoch").GetInt32(), p.GetProperty("epochs").GetInt32(), p.GetProperty("step").GetInt64(), p.GetProperty("finished").GetBoolean()));
            Assert.Equal($"cmtm train --resume --out {run}", p.GetProperty("resume").GetString());
        }
        using (var resumed = new Trainer(options with { Resume = true }))
        {
            var r = resumed.Run();
            Assert.Equal((2, 4L), (r.CompletedEpochs, r.Steps));
        }
        using (var full = new Trainer(TrainingTests.Tiny(d.File("full"), epochs: 2))) full.Run();
        Checkpoints.AssertSameTensors(TrainCheckpoint.ModelPath(d.File("full"), "last"), TrainCheckpoint.ModelPath(run, "last"));
        Assert.Contains("\"finished\": true", File.ReadAllText(Trainer.ProgressPath(run)));
    }

    [Fact]
    public void AnErrorBeforeTheFirstCheckpointSaysToStartAgain()
    {
        using var d = new Shared.TempDir();
        using var failing = new Trainer(TrainingTests.Tiny(d.File("run"))) { StopAfterStep = _ => throw new IOException("disk gone") };
        var e = Assert.Throws<TrainingFailedException>(() => failing.Run());
        Assert.False(e.Resumable);
        Assert.Equal("training failed in epoch 1 after step 1: IOException: disk gone; no checkpoint was written yet: start the run again", e.Message);
    }
}

/// <summary>How the CLI reports a training failure: one line, exit code 3 (2 when the cause is a user error).</summary>
[Collection("Console")]
public class TrainingFailureCliTests
{
    private static (int Code, string Err) RunThrowing(Exception inner)
    {
        var root = new RootCommand("test");
        var cmd = new Command("fail");
        cmd.SetAction(new Func<ParseResult, int>(_ => throw new TrainingFailedException("/runs/r1", 4, 106, true, inner)));
        root.Subcommands.Add(cmd);
        var oldErr = Console.Error; var err = new StringWriter();
        Console.SetError(err);
        try { return (CliRunner.Run(root, ["fail"]), err.ToString()); }
        finally { Console.SetError(oldErr); }
    }

    [Fact]
    public void OneLineWithTheResumeCommand()
    {
        var (code, err) = RunThrowing(new System.Runtime.InteropServices.ExternalException("Unknown scalar type.\nException raised from ..."));
        Assert.Equal(CliRunner.InternalError, code);
        Assert.Equal("error: training failed in epoch 4 after step 106: ExternalException: Unknown scalar type.; resume with: cmtm train --resume --out /runs/r1",
                     err.TrimEnd('\n'));
        (code, err) = RunThrowing(new CmtmException("/runs/r1", "loss became NaN at step 107 (lower --lr?)"));
        Assert.Equal(CliRunner.UserError, code);
        Assert.StartsWith("error: training failed in epoch 4 after step 106: /runs/r1: loss became NaN", err);
    }
}

/// <summary>
/// scripts/run-cli.sh (what ./cmtm runs): a CLI process that dies by a signal, which .NET cannot report, still ends with
/// one line that names the signal and how to resume the run, and the exit code stays 128 + N.
/// </summary>
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class LauncherTests
{
    private static string Script()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "scripts", "run-cli.sh"))) return Path.Combine(d.FullName, "scripts", "run-cli.sh");
        throw new FileNotFoundException("scripts/run-cli.sh not found above the test assembly");
    }

    private static int ChildOf(int parent) =>
        Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsDigit)).Select(int.Parse!)
            .FirstOrDefault(pid =>
            {
                try { var stat = File.ReadAllText($"/proc/{pid}/stat"); return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]) == parent; }
                catch (IOException) { return false; }
            });

    [Fact]
    public void DeathBySignalIsReportedWithTheResumeCommandAndTheRunResumes()
    {
        using var d = new Shared.TempDir();
        string run = d.File("run");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Script(), ChildCli.Dll, "train", "--arch", "cmtm-b0", "--resolution", "32", "--train", "synth=" + TrainingTests.Data.Value,
                     "--epochs", "500", "--samples-per-epoch", "2", "--batch-size", "1", "--seed", "3", "--threads", "1", "--out", run })
            psi.ArgumentList.Add(a);
        using var launcher = Process.Start(psi)!;
        var errTask = launcher.StandardError.ReadToEndAsync();
        string? line;
        while ((line = launcher.StandardOutput.ReadLine()) != null && !line.Contains("epoch 1 done")) { }
        Assert.NotNull(line);
        int cli = ChildOf(launcher.Id);
        Assert.True(cli > 0, "the CLI process was not found");
        // what a libtorch abort does: abort() raises SIGABRT, and again with the default action if a handler returned
        // (the .NET runtime's own handler lets the first one pass)
        for (int i = 0; i < 10 && !launcher.HasExited; i++)
        {
            Process.Start("kill", ["-s", "ABRT", $"{cli}"])!.WaitForExit();
            launcher.WaitForExit(5_000);
        }
        launcher.StandardOutput.ReadToEnd();
        Assert.True(launcher.WaitForExit(60_000));
        var stderr = errTask.Result;
        Assert.Equal(134, launcher.ExitCode);
        var report = Assert.Single(stderr.Split('\n'), l => l.StartsWith("cmtm:", StringComparison.Ordinal));
        Assert.Matches($@"^cmtm: killed by signal 6 \(SIGABRT\) — a bug; please report it; the run in {System.Text.RegularExpressions.Regex.Escape(run)} " +
                       @"\(\d+ of 500 epochs complete, \d+ steps; checkpoint .*\) can be resumed with: \./cmtm train --resume --out " +
                       System.Text.RegularExpressions.Regex.Escape(run) + "$", report);
        Assert.DoesNotContain("Aborted", stderr);

        // the printed command works: --resume --out alone takes the run's own options (here with one more epoch)
        using var progress = JsonDocument.Parse(File.ReadAllText(Trainer.ProgressPath(run)));
        int done = progress.RootElement.GetProperty("epoch").GetInt32();
        var (code, stdout, err) = ChildCli.Run(["train", "--resume", "--out", run, "--epochs", $"{done + 1}"]);
        Assert.True(code == 0, err);
        Assert.Contains($"finished: {done + 1} epochs, {2 * (done + 1)} steps", stdout);
    }
}
