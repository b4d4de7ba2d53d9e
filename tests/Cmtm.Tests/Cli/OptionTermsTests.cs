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

        // a subject that is no option of the command (a file, say) stays as the library wrote it
        (code, _, stderr) = CliHarness.Run("inspect", "/nowhere/model.pth");
        Assert.Equal(2, code);
        Assert.StartsWith("error: /nowhere/model.pth: ", stderr.Trim());
    }
}
