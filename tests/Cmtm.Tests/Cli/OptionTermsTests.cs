namespace Cmtm.Tests.Cli;

/// <summary>The library names a setting by its own name (a train config's key); the CLI's error line names the option
/// the user typed.</summary>
[Collection("Console")]
public class OptionTermsTests
{
    [Fact]
    public void ALibrarySettingErrorIsReportedWithTheCommandsOptionName()
    {
        var options = new Cmtm.Training.TrainOptions { Train = ["synth=/nowhere"], Epochs = 0 };
        var e = Assert.Throws<CmtmException>(() => options.Validate());
        Assert.Equal("epochs", e.Subject);

        var (code, _, stderr) = CliHarness.Run("train", "--train", "synth=/nowhere", "--epochs", "0", "--out", Path.Combine(Path.GetTempPath(), "cmtm-never-" + Guid.NewGuid().ToString("N")));
        Assert.Equal(2, code);
        Assert.Equal("error: --epochs: 0 must be at least 1", stderr.Trim());

        // the flow estimator's settings (flow, raft-weights, iters) come out as each command's options
        var frames = Path.Combine(Cmtm.Model.ShippedModel.FindBesideAppOrInRepository("demo", AppContext.BaseDirectory, file: false)!,
            "davis-blackswan", "JPEGImages", "480p", "blackswan");
        var outDir = Path.Combine(Path.GetTempPath(), "cmtm-never-" + Guid.NewGuid().ToString("N"));
        (code, _, stderr) = CliHarness.Run("segment", frames, "--flow", "raft", "--out", outDir);
        Assert.Equal(2, code);
        Assert.StartsWith("error: --raft-weights: flow method raft needs a checkpoint", stderr.Trim());
        (code, _, stderr) = CliHarness.Run("segment", frames, "--flow", "bogus", "--out", outDir);
        Assert.StartsWith("error: --flow: unknown flow method 'bogus'", stderr.Trim());
        (code, _, stderr) = CliHarness.Run("flow", frames, "--method", "raft", "--out", outDir);
        Assert.StartsWith("error: --weights: flow method raft needs a checkpoint", stderr.Trim());
        (code, _, stderr) = CliHarness.Run("flow", frames, "--method", "raft", "--weights", "/nowhere/raft.pth", "--iters", "0", "--out", outDir);
        Assert.StartsWith("error: --iters: must be at least 1 (got 0)", stderr.Trim());
        Assert.False(Directory.Exists(outDir));

        // a subject that is no option of the command (a file, say) stays as the library wrote it
        (code, _, stderr) = CliHarness.Run("inspect", "/nowhere/model.pth");
        Assert.Equal(2, code);
        Assert.StartsWith("error: /nowhere/model.pth: ", stderr.Trim());
    }
}
