using System.Text.Json;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Evaluation;

/// <summary>`cmtm evaluate --baselines`: the entry point the model card's tables come from.</summary>
[Collection("Console")]
public class EvaluateBaselinesCliTests
{
    [Fact]
    public void ModelBesideUntrainedMotionAndPublishedMasksWithPerSequenceRowsInMarkdownAndJson()
    {
        using var d = new Shared.TempDir();
        var davis = DemoClipData.MakeDavis(d.File("davis"),
            new DemoClipData.Seq("swan-a", 0, 3), new DemoClipData.Seq("swan-b", 20, 3), new DemoClipData.Seq("nf", 30, 3, Frames: false));
        var published = DemoClipData.GroundTruthResults(davis, d.File("pub"), index: 5);
        var ckpt = DemoClipData.TinyCheckpoint(d.File("tiny.safetensors"));
        var outDir = d.File("out");
        var (code, stdout, stderr) = CliHarness.Run("evaluate", "--dataset", "davis16", "--root", davis, "--weights", ckpt, "--baselines",
            "--published", "RVOS=" + published, "--results-out", outDir, "--json", d.File("copy.json"), "--threads", "2");
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("note: 1 sequences of the split have no frames here and are left out: nf.", stderr);
        var lines = stdout.Split('\n');
        foreach (var m in new[] { "model", "untrained", "motion threshold", "RVOS" })
            Assert.Single(lines, l => l.StartsWith(m + " "));
        Assert.Equal(["Sequence", "(J&F-Mean)", "model", "untrained", "motion", "threshold", "RVOS"],
            lines.Single(l => l.StartsWith("Sequence (J&F-Mean)")).Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Single(lines, l => l.StartsWith("swan-b "));

        var md = File.ReadAllText(Path.Combine(outDir, "baselines.md"));
        Assert.Contains("| RVOS | 1.000 | 1.000 | 1.000 |", md);
        Assert.Contains("| swan-a | 3 |", md);
        Assert.Contains("left out: nf.", md);
        Assert.Contains($"farneback, computed into {Path.Combine(outDir, "flows")}", md);
        var json = File.ReadAllText(Path.Combine(outDir, "baselines.json"));
        Assert.Equal(json, File.ReadAllText(d.File("copy.json")));
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(["model", "untrained", "motion threshold", "RVOS"], doc.RootElement.GetProperty("methods").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
        Assert.Equal(6, Directory.GetFiles(Path.Combine(outDir, "flows"), "*.jpg", SearchOption.AllDirectories).Length);
        Assert.Equal(3, Directory.GetFiles(Path.Combine(outDir, "results", "untrained", "swan-b"), "*.png").Length);
        Assert.False(Directory.Exists(Path.Combine(davis, "JPEGFlows")));

        // a results folder beside the baselines (no model: no untrained row), with the flows of the first run
        var out2 = d.File("out2");
        (code, stdout, stderr) = CliHarness.Run("evaluate", "--dataset", "davis16", "--root", davis, "--results", published, "--baselines",
            "--flow", Path.Combine(outDir, "flows"), "--results-out", out2);
        Assert.True(code == 0, stderr + stdout);
        using var doc2 = JsonDocument.Parse(File.ReadAllText(Path.Combine(out2, "baselines.json")));
        Assert.Equal(["pub", "motion threshold"], doc2.RootElement.GetProperty("methods").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
        Assert.False(Directory.Exists(Path.Combine(out2, "flows")));

        // the report folder is not replaced without --overwrite, and nothing is left behind by a refused run
        (code, _, stderr) = CliHarness.Run("evaluate", "--dataset", "davis16", "--root", davis, "--results", published, "--baselines", "--results-out", out2);
        Assert.Equal(2, code);
        Assert.Contains("not empty", stderr);
    }

    [Fact]
    public void OptionsThatDoNotGoTogetherAreOneLineErrors()
    {
        using var d = new Shared.TempDir();
        foreach (var (args, expected) in new[]
        {
            (new[] { "--published", "A=" + d.Path }, "error: --published: only applies with --baselines"),
            (["--baselines", "--csv", d.File("x.csv")], "error: --csv: does not apply with --baselines"),
            (["--baselines", "--published", "nodir"], "error: --published: 'nodir' is not NAME=DIR"),
        })
        {
            var (code, _, err) = CliHarness.Run(["evaluate", "--dataset", "davis16", "--root", d.Path, "--results", d.Path, .. args]);
            Assert.Equal(2, code);
            Assert.StartsWith(expected, err.Trim());
            Assert.DoesNotContain('\n', err.Trim());
        }
    }
}
