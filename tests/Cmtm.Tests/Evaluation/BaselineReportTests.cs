using System.Text.Json;
using Cmtm.Data.Datasets;
using Cmtm.Data.Sampling;
using Cmtm.Evaluation;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Tests.Support;
using Cmtm.Training;

namespace Cmtm.Tests.Evaluation;

/// <summary>
/// The baseline report: the model, the untrained model, the motion threshold and published masks scored on
/// the same sequences with the same protocol, made from the repository's demo clip (no ../shared needed).
/// </summary>
[Collection("torch-global-state")] // the untrained model seeds torch's global RNG
public class BaselineReportTests
{
    private static readonly ModelConfig Tiny = ModelConfig.Parse("cmtm-b0", 64);

    private static BaselineOptions Options(string outDir, string flows) => new() { OutDir = outDir, FlowRoot = flows, Threads = 2, Progress = false };

    [Fact]
    public void EveryMethodIsScoredOnTheSequencesWithFramesAndTheTablesShowThemSideBySide()
    {
        using var d = new Shared.TempDir();
        var root = DemoClipData.MakeDavis(d.File("davis"),
            new DemoClipData.Seq("swan-a", 0, 3), new DemoClipData.Seq("swan-b", 20, 3), new DemoClipData.Seq("no-frames", 30, 3, Frames: false));
        var ds = BaselineReport.LoadWithFrames(DatasetKind.Davis16, root, "val", out var withoutFrames);
        Assert.Equal(["swan-a", "swan-b"], ds.Sequences.Select(s => s.Name));
        Assert.Equal(["no-frames"], withoutFrames);

        var flows = d.File("flows");
        using (var farneback = new FarnebackFlow())
        {
            Assert.Equal(6, BaselineReport.PrepareFlows(ds, flows, farneback, progress: false).Computed);
            Assert.Equal(0, BaselineReport.PrepareFlows(ds, flows, farneback, progress: false).Computed); // resumable: nothing left to do
        }
        var gt = DemoClipData.GroundTruthResults(root, d.File("gt-results"), index: 2);

        // the "model" is the untrained initialisation of the same seed: both rows must agree exactly
        using var predictor = new FramePredictor(BaselineReport.UntrainedModel(Tiny, seed: 0));
        var table = BaselineReport.Run(ds, [
            BaselineMethod.Model("model", "tiny random CMTM-b0", predictor),
            BaselineMethod.Untrained(Tiny, seed: 0),
            BaselineMethod.MotionThreshold(),
            BaselineMethod.ResultsFolder("published", gt),
        ], Options(d.File("out"), flows) with { Notes = ["1 sequence without frames left out"] });

        Assert.Equal(["model", "untrained", "motion threshold", "published"], table.Rows.Select(r => r.Name));
        Assert.All(table.Rows, r => Assert.Equal(["swan-a", "swan-b"], r.Report.Sequences.Select(s => s.Name)));
        Assert.All(table.Rows, r => Assert.Equal(EvaluationProtocol.Davis2016, r.Report.Protocol));
        foreach (var c in Evaluator.DavisColumns)
            Assert.Equal(table.Rows[0].Report.Overall[c], table.Rows[1].Report.Overall[c]);
        Assert.Equal(1.0, table.Rows[3].Report.Overall["J&F-Mean"]); // palette masks with index 2 are the ground truth: index > 0 is foreground
        Assert.Equal(3, Directory.GetFiles(d.File("out/results/model/swan-b"), "*.png").Length);
        Assert.Equal(3, Directory.GetFiles(d.File("out/results/untrained/swan-a"), "*.png").Length);

        // the motion row is Validation.MotionThreshold scored exactly as the trainer's validation scores it
        var withFlows = ds with { Sequences = ds.Sequences.Select(s => s with { Frames = s.Frames.Select(f => f with { Flow = Path.Combine(flows, s.Name, f.Name + ".jpg") }).ToList() }).ToList() };
        var direct = Validation.EvaluateMotionThreshold(withFlows);
        Assert.Equal(direct.J, table.Rows[2].Report.Overall["J-Mean"], 12);
        Assert.Equal(direct.F, table.Rows[2].Report.Overall["F-Mean"], 12);

        var md = BaselineReport.Markdown(table);
        var lines = md.Split('\n');
        Assert.Equal("| method | J | F | J&F | what it is |", lines[0]);
        Assert.Single(lines, l => l.StartsWith("| published | 1.000 | 1.000 | 1.000 |"));
        Assert.Single(lines, l => l.StartsWith("| sequence (J&F) | frames | model | untrained | motion threshold | published |"));
        Assert.Single(lines, l => l.StartsWith("| swan-b | 3 |"));
        Assert.Single(lines, l => l.StartsWith("| **mean** | 6 |") && l.EndsWith("| 1.000 |"));
        Assert.Contains("1 sequence without frames left out", md);

        var (mdPath, jsonPath) = BaselineReport.Write(table, d.File("out"));
        Assert.StartsWith("# ", File.ReadAllText(mdPath));
        using var doc = JsonDocument.Parse(File.ReadAllText(jsonPath));
        var methods = doc.RootElement.GetProperty("methods");
        Assert.Equal(4, methods.GetArrayLength());
        Assert.Equal(1.0, methods[3].GetProperty("report").GetProperty("overall").GetProperty("J&F-Mean").GetDouble());
        Assert.Equal(table.Rows[2].Report.Sequences[1].Metrics["J-Mean"],
            methods[2].GetProperty("report").GetProperty("sequences").GetProperty("swan-b").GetProperty("J-Mean").GetDouble(), 12);
        Assert.Equal(["swan-a", "swan-b"], doc.RootElement.GetProperty("sequences").EnumerateArray().Select(e => e.GetString()));

        var text = BaselineReport.Text(table);
        Assert.Contains("motion threshold", text);
        Assert.Contains("swan-a", text);
    }

    [Fact]
    public void MotionThresholdOfHalfSizeFramesIsScoredAtTheAnnotationSize()
    {
        using var d = new Shared.TempDir();
        var root = DemoClipData.MakeDavis(d.File("davis"), new DemoClipData.Seq("half", 10, 4, HalfFrames: true));
        var ds = BaselineReport.LoadWithFrames(DatasetKind.Davis16, root, "val", out _);
        var flows = d.File("flows");
        using (var farneback = new FarnebackFlow()) BaselineReport.PrepareFlows(ds, flows, farneback, progress: false);
        var table = BaselineReport.Run(ds, [BaselineMethod.MotionThreshold()], Options(d.File("out"), flows));

        // inner frames 1 and 2: the half-size flow's mask resized (nearest) to the 427x240 annotation
        var js = new List<double>();
        foreach (var i in new[] { 1, 2 })
        {
            var flow = RgbImage.Load(Path.Combine(flows, "half", $"{i:00000}.jpg"));
            Assert.Equal((213, 120), (flow.Width, flow.Height));
            var up = PilResize.Nearest(Validation.MotionThreshold(flow), 213, 120, DemoClipData.Width, DemoClipData.Height);
            js.Add(DavisMetrics.Iou(PngMask.Read(DemoClipData.Mask(10 + i), MaskRule.ObjectIds), new BinaryMask(DemoClipData.Width, DemoClipData.Height, up)));
        }
        Assert.Equal(js.Average(), table.Rows[0].Report.Overall["J-Mean"], 12);
        Assert.InRange(js.Average(), 0.05, 1); // the swan moves: the threshold finds some of it
    }

    [Fact]
    public void LoadWithFramesNeedsOneSequenceWithFramesAndNamesAMissingFrame()
    {
        using var d = new Shared.TempDir();
        var none = DemoClipData.MakeDavis(d.File("none"), new DemoClipData.Seq("a", 0, 3, Frames: false));
        Assert.Contains("no sequence of the val split has frames", Assert.Throws<CmtmException>(() => BaselineReport.LoadWithFrames(DatasetKind.Davis16, none, "val", out _)).Message);
        var gap = DemoClipData.MakeDavis(d.File("gap"), new DemoClipData.Seq("a", 0, 3));
        var missing = Path.Combine(gap, "JPEGImages", "480p", "a", "00001.jpg");
        File.Delete(missing);
        var e = Assert.Throws<CmtmException>(() => BaselineReport.LoadWithFrames(DatasetKind.Davis16, gap, "val", out _));
        Assert.Equal(missing, e.Subject);
    }

    [Theory]
    [InlineData("motion threshold", "motion-threshold")]
    [InlineData("RVOS", "rvos")]
    [InlineData("  a/b..c  ", "a-b-c")]
    [InlineData("***", "method")]
    public void SlugsAreFolderNames(string name, string slug) => Assert.Equal(slug, BaselineReport.Slug(name));
}
