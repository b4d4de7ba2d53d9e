using System.Globalization;
using System.Text.Json;
using Cmtm.IO;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Evaluation;

/// <summary>`cmtm evaluate` / `cmtm compare` through Program.Main (stdout/stderr captured, so run alone).</summary>
[Collection("Console")]
public class EvaluateCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Cmtm.Tests.Cli.CliHarness.Run(args);

    private static string Mini => Shared.Fixture("metrics", "davis_mini");

    [Fact]
    public void EvaluateDavisMiniWritesTableJsonCsvPlot()
    {
        using var d = new Shared.TempDir();
        var json = d.File("out/report.json");
        var csv = d.File("out/report.csv");
        var (code, stdout, stderr) = Run("evaluate", "--dataset", "davis16", "--root", Mini, "--results", Path.Combine(Mini, "results"),
            "--json", json, "--csv", csv);
        Assert.True(code == 0, stderr);
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Mini, "expected.json")));
        var exp = expected.RootElement.GetProperty("overall");

        // console: official column names, one row per sequence, overall row with 3 decimals
        var lines = stdout.Split('\n');
        Assert.Contains("J&F-Mean  J-Mean  J-Recall  J-Decay  F-Mean  F-Recall  F-Decay", lines[0]);
        Assert.Contains(lines, l => l.StartsWith("mini-ellipse"));
        var overall = lines.Single(l => l.StartsWith("Overall")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(exp.GetProperty("J&F-Mean").GetDouble().ToString("0.000", CultureInfo.InvariantCulture), overall[1]);
        Assert.Equal(exp.GetProperty("F-Decay").GetDouble().ToString("0.000", CultureInfo.InvariantCulture), overall[7]);

        // JSON: {"overall": {...}, "sequences": {...}, "dataset", "protocol", "frames", "seconds"}
        using var report = JsonDocument.Parse(File.ReadAllText(json));
        var root = report.RootElement;
        Assert.Equal("davis16", root.GetProperty("dataset").GetString());
        Assert.Equal("davis2016", root.GetProperty("protocol").GetString());
        Assert.Equal(21, root.GetProperty("frames").GetInt32());
        Assert.True(root.GetProperty("seconds").GetDouble() >= 0);
        foreach (var p in exp.EnumerateObject())
            Assert.Equal(p.Value.GetDouble(), root.GetProperty("overall").GetProperty(p.Name).GetDouble(), 1e-12);
        var band = root.GetProperty("sequences").GetProperty("mini-band");
        Assert.Equal(expected.RootElement.GetProperty("sequences").GetProperty("mini-band").GetProperty("J-Mean").GetDouble(),
            band.GetProperty("J-Mean").GetDouble(), 1e-12);
        Assert.Equal(6, band.GetProperty("J_per_frame").GetArrayLength());

        // CSV: header + 3 sequences + overall, full precision
        var csvLines = File.ReadAllLines(csv);
        Assert.Equal("Sequence,J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay", csvLines[0]);
        Assert.Equal(5, csvLines.Length);
        Assert.Equal(exp.GetProperty("J-Mean").GetDouble(), double.Parse(csvLines[4].Split(',')[2], CultureInfo.InvariantCulture), 1e-15);

        // plot defaults to <json stem>.png next to the JSON; nothing is written into the results folder
        var plot = PngCodec.Read(d.File("out/report.png"));
        Assert.True(plot.Width >= 800 && plot.Height >= 400);
        Assert.Equal(3, Directory.GetDirectories(Path.Combine(Mini, "results")).Length);
        Assert.Empty(Directory.GetFiles(Path.Combine(Mini, "results")));
    }

    [Fact]
    public void MissingResultFrameExitsTwoNamingTheFile()
    {
        using var d = new Shared.TempDir();
        foreach (var seq in Directory.GetDirectories(Path.Combine(Mini, "results")))
        {
            var dst = d.File(Path.GetFileName(seq));
            Directory.CreateDirectory(dst);
            foreach (var f in Directory.GetFiles(seq)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        }
        var missing = d.File("mini-rects/00006.png");
        File.Delete(missing);
        var json = d.File("r.json");
        var (code, _, stderr) = Run("evaluate", "--dataset", "davis16", "--root", Mini, "--results", d.Path, "--json", json);
        Assert.Equal(2, code);
        Assert.Contains($"error: {missing}: missing result frame", stderr);
        Assert.False(File.Exists(json)); // no partial outputs
    }

    [Fact]
    public void CorruptResultExitsTwoNamingTheFile()
    {
        using var d = new Shared.TempDir();
        foreach (var seq in Directory.GetDirectories(Path.Combine(Mini, "results")))
        {
            var dst = d.File(Path.GetFileName(seq));
            Directory.CreateDirectory(dst);
            foreach (var f in Directory.GetFiles(seq)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        }
        var bad = d.File("mini-band/00002.png");
        var bytes = File.ReadAllBytes(bad);
        File.WriteAllBytes(bad, bytes[..(bytes.Length / 2)]);
        var (code, _, stderr) = Run("evaluate", "--dataset", "davis16", "--root", Mini, "--results", d.Path);
        Assert.Equal(2, code);
        Assert.Contains($"error: {bad}: truncated", stderr);
    }

    [Fact]
    public void BadRootExitsTwo()
    {
        var (code, _, stderr) = Run("evaluate", "--dataset", "davis16", "--root", "/nonexistent/davis", "--results", Mini);
        Assert.Equal(2, code);
        Assert.Contains("error: /nonexistent/davis: DAVIS root folder not found", stderr);
        (code, _, stderr) = Run("evaluate", "--dataset", "kitti", "--root", Mini, "--results", Mini);
        Assert.Equal(2, code);
        Assert.Contains("error: kitti: unknown dataset", stderr);
    }

    [Fact]
    public void CompareSideBySide()
    {
        var res = Path.Combine(Mini, "results");
        var gt = Path.Combine(Mini, "Annotations", "480p");
        var (code, stdout, stderr) = Run("compare", "--dataset", "davis16", "--root", Mini, res, gt, "--names", "cmtm,oracle");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n');
        var oracle = lines.Single(l => l.StartsWith("oracle")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("1.000", oracle[1]);
        Assert.Contains(lines, l => l.StartsWith("cmtm "));
        Assert.Contains(lines, l => l.StartsWith("Sequence (J&F-Mean)") && l.Contains("cmtm") && l.Contains("oracle"));

        (code, _, stderr) = Run("compare", "--dataset", "davis16", "--root", Mini, res, gt, "--names", "only-one");
        Assert.Equal(2, code);
        Assert.Contains("--names", stderr);

        // --csv: labels from folder names are quoted when they hold a comma or a quote
        using var d = new Shared.TempDir();
        var odd = Path.Combine(d.Path, "oracle, \"v2\"");
        Directory.CreateDirectory(odd);
        foreach (var dir in Directory.GetDirectories(gt))
        {
            var to = Directory.CreateDirectory(Path.Combine(odd, Path.GetFileName(dir))).FullName;
            foreach (var f in Directory.GetFiles(dir)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        }
        var csv = d.File("compare.csv");
        (code, _, stderr) = Run("compare", "--dataset", "davis16", "--root", Mini, odd, "--csv", csv);
        Assert.True(code == 0, stderr);
        var rows = File.ReadAllLines(csv);
        Assert.StartsWith("Method,J&F-Mean,", rows[0]);
        Assert.StartsWith("\"oracle, \"\"v2\"\"\",1,", rows[1]);
    }
}
