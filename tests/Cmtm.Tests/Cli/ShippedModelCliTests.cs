using System.Text.Json;
using Cmtm.Model;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Cli;

/// <summary>
/// `segment`, `predict` and `evaluate` without --weights use the shipped model and say so in one line;
/// here CMTM_MODEL points to a tiny random-weight checkpoint made by the test. No model: one error line, exit 2.
/// </summary>
[Collection("Console")]
public class ShippedModelCliTests
{
    private static string UsingLine(string path) => $"using the model {path} from CMTM_MODEL (cmtm-b0 at 64 px); --weights takes any checkpoint";

    private static int Count(string text, string line) => text.Split('\n').Count(l => l.TrimEnd('\r') == line);

    [Fact]
    public void SegmentPredictAndEvaluateWithoutWeightsUseTheShippedModelAndSaySoOnce()
    {
        using var d = new Shared.TempDir();
        var ckpt = DemoClipData.TinyCheckpoint(d.File("tiny.safetensors"));
        var frames = Directory.CreateDirectory(d.File("frames")).FullName;
        for (var i = 0; i < 3; i++) File.Copy(DemoClipData.Frame(i), Path.Combine(frames, $"{i:00000}.jpg"));
        var davis = DemoClipData.MakeDavis(d.File("davis"), new DemoClipData.Seq("blackswan", 0, 3));
        using var env = new DemoClipData.EnvVar(ShippedModel.EnvironmentVariable, ckpt);

        var (code, stdout, stderr) = CliHarness.Run("segment", frames, "--out", d.File("masks"), "--threads", "2");
        Assert.True(code == 0, stderr + stdout);
        Assert.Equal(1, Count(stderr, UsingLine(ckpt)));
        Assert.Equal(3, Directory.GetFiles(d.File("masks"), "*.png").Length);

        (code, stdout, stderr) = CliHarness.Run("predict", "--image", DemoClipData.Frame(0), "--flow", DemoClipData.Frame(1), "--out", d.File("m.png"));
        Assert.True(code == 0, stderr + stdout);
        Assert.Equal(1, Count(stderr, UsingLine(ckpt)));
        var mask = Cmtm.IO.PngCodec.Read(d.File("m.png"));
        Assert.Equal((DemoClipData.Width, DemoClipData.Height), (mask.Width, mask.Height));

        var json = d.File("r.json");
        (code, stdout, stderr) = CliHarness.Run("evaluate", "--dataset", "davis16", "--root", davis, "--results-out", d.File("res"), "--json", json, "--threads", "2");
        Assert.True(code == 0, stderr + stdout);
        Assert.Equal(1, Count(stderr, UsingLine(ckpt)));
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("cmtm-b0 @ 64 fp32", doc.RootElement.GetProperty("inference").GetProperty("model").GetString());
        Assert.Equal(3, Directory.GetFiles(d.File("res/blackswan"), "*.png").Length);

        // --weights still takes any checkpoint, and then nothing is said about the shipped model
        (code, stdout, stderr) = CliHarness.Run("predict", "--weights", ckpt, "--image", DemoClipData.Frame(0), "--flow", DemoClipData.Frame(1), "--out", d.File("m2.png"));
        Assert.True(code == 0, stderr + stdout);
        Assert.DoesNotContain("using the", stderr);
        // scoring a results folder needs no model at all, even when none can be found
        using var none = new DemoClipData.EnvVar(ShippedModel.EnvironmentVariable, d.File("missing.safetensors"));
        (code, stdout, stderr) = CliHarness.Run("evaluate", "--dataset", "davis16", "--root", davis, "--results", d.File("res"));
        Assert.True(code == 0, stderr + stdout);
        Assert.DoesNotContain("using the", stderr);
    }

    [Fact]
    public void MissingShippedModelIsOneErrorLineAndExitTwo()
    {
        using var d = new Shared.TempDir();
        var missing = d.File("missing.safetensors");
        var davis = DemoClipData.MakeDavis(d.File("davis"), new DemoClipData.Seq("blackswan", 0, 3));
        using var env = new DemoClipData.EnvVar(ShippedModel.EnvironmentVariable, missing);
        var expected = $"error: {missing}: CMTM_MODEL names a model file that does not exist (unset it to use the shipped model, or pass --weights)";
        foreach (var args in new[]
        {
            new[] { "segment", Path.GetDirectoryName(DemoClipData.Frame(0))!, "--out", d.File("masks") },
            ["predict", "--image", DemoClipData.Frame(0), "--flow", DemoClipData.Frame(1), "--out", d.File("m.png")],
            ["evaluate", "--dataset", "davis16", "--root", davis, "--results-out", d.File("res")],
            ["evaluate", "--dataset", "davis16", "--root", davis, "--baselines", "--results-out", d.File("base")],
            ["demo", "--out", d.File("demo"), "--no-val"],
        })
        {
            var (code, stdout, stderr) = CliHarness.Run(args);
            Assert.True(code == 2, $"{args[0]}: exit {code}\n{stderr}{stdout}");
            Assert.Equal(expected, stderr.TrimEnd('\n', '\r'));
        }
        Assert.Empty(Directory.GetFileSystemEntries(d.Path).Select(Path.GetFileName).Except(["davis"]));
    }
}
