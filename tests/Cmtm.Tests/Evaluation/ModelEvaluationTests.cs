using System.Text.Json;
using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Tests.Support;
using OpenCvSharp;

namespace Cmtm.Tests.Evaluation;

/// <summary>
/// A tiny DAVIS-layout dataset built from real DAVIS 2016 val data: 2 sequences x 3 frames, images and annotations
/// downscaled 4x (212x120); 3 frames per sequence so the DAVIS protocol (first and last frame dropped) scores one.
/// With <c>halfSizeFrames</c> the images are half the annotations' size (106x60), as the half-size val copies in
/// ../shared are. Tests run the fixture CMTM-b0 (random weights) at resolution 64 to stay fast on 2 busy cores.
/// </summary>
public sealed class TinyDavis : IDisposable
{
    public static readonly string[] Sequences = ["blackswan", "dog"];
    public const int FramesPerSequence = 3, Width = 212, Height = 120;
    /// <summary>The size of the images (the annotations are <see cref="Width"/> x <see cref="Height"/>).</summary>
    public int FrameWidth { get; }
    public int FrameHeight { get; }
    private readonly Shared.TempDir dir = new();
    public string Root => dir.Path;
    public static string Weights => Shared.Fixture("model", "cmtm_b0_r128.pth");
    public const int Resolution = 64;

    public TinyDavis(bool halfSizeFrames = false)
    {
        (FrameWidth, FrameHeight) = halfSizeFrames ? (Width / 2, Height / 2) : (Width, Height);
        Directory.CreateDirectory(Path.Combine(Root, "ImageSets", "2016"));
        File.WriteAllText(Path.Combine(Root, "ImageSets", "2016", "val.txt"), string.Join("\n", Sequences) + "\n");
        foreach (var seq in Sequences)
        {
            var img = Directory.CreateDirectory(Path.Combine(Root, "JPEGImages", "480p", seq)).FullName;
            var ann = Directory.CreateDirectory(Path.Combine(Root, "Annotations", "480p", seq)).FullName;
            for (var i = 0; i < FramesPerSequence; i++)
            {
                var stem = i.ToString("00000");
                using var src = Cv2.ImRead(Shared.DataPath("davis16-val", "JPEGImages", "480p", seq, stem + ".jpg"), ImreadModes.Color);
                using var small = new Mat();
                Cv2.Resize(src, small, new Size(FrameWidth, FrameHeight), interpolation: InterpolationFlags.Area);
                Cv2.ImWrite(Path.Combine(img, stem + ".jpg"), small);
                var gt = PngMask.Read(Shared.DataPath("davis16-val", "Annotations", "480p", seq, stem + ".png"), MaskRule.ObjectIds);
                using var g = Mat.FromPixelData(gt.Height, gt.Width, MatType.CV_8UC1, gt.Data);
                using var gs = new Mat();
                Cv2.Resize(g, gs, new Size(Width, Height), interpolation: InterpolationFlags.Nearest);
                var bytes = new byte[Width * Height];
                System.Runtime.InteropServices.Marshal.Copy(gs.Data, bytes, 0, bytes.Length);
                PngMask.WriteDavisPalette(Path.Combine(ann, stem + ".png"), new BinaryMask(Width, Height, bytes));
            }
        }
    }

    /// <summary>Adds root/JPEGFlows/480p/&lt;seq&gt;/%05d.jpg: Farneback flow images of the frames (as `cmtm flow` would);
    /// <paramref name="into"/>: &lt;into&gt;/&lt;seq&gt;/%05d.jpg instead.</summary>
    public void AddFlows(string? into = null)
    {
        using var est = new FarnebackFlow();
        foreach (var seq in Sequences)
        {
            var dst = Directory.CreateDirectory(into != null ? Path.Combine(into, seq) : Path.Combine(Root, "JPEGFlows", "480p", seq)).FullName;
            var frames = new FolderFrameSource(Path.Combine(Root, "JPEGImages", "480p", seq));
            foreach (var item in FlowSequence.Stream(frames, est))
                FlowExport.WriteColorImage(Path.Combine(dst, item.Frame.Stem + ".jpg"), item.Flow!, FlowExport.FormatFromPath(".jpg"));
        }
    }

    /// <summary>The fixture CMTM-b0 at <see cref="Resolution"/>, owned by the predictor.</summary>
    public static FramePredictor FixturePredictor() =>
        new(ModelCheckpoint.Load(Weights, resolution: Resolution), ownsModel: true);

    /// <summary>Model-driven evaluation of <paramref name="predictor"/> on this dataset with its own JPEGFlows, results into <paramref name="results"/>.</summary>
    public EvaluationReport EvaluateWithDatasetFlows(FramePredictor predictor, string results)
    {
        var flows = DatasetFlows.FromDataset();
        var record = ModelEvaluation.LoadDataset(DatasetKind.Davis16, Root, flows);
        return ModelEvaluation.Run(record, predictor, flows, new ModelEvaluationOptions { ResultsDir = results, Scoring = new EvaluationOptions { MaxParallelism = 1 } });
    }

    public void Dispose() => dir.Dispose();
}

/// <summary>Model-driven evaluation: run a checkpoint over a dataset, write the results folder, score it, report fps.</summary>
[Collection("Console")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class ModelEvaluationTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Cmtm.Tests.Cli.CliHarness.Run(args);

    [Fact]
    public void Bf16EvaluationIsNamedInTheReportAndPrecisionNeedsWeights()
    {
        using var ds = new TinyDavis();
        using var d = new Shared.TempDir();
        var json = d.File("report.json");
        var (code, stdout, stderr) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--weights", TinyDavis.Weights,
            "--results-out", d.File("res"), "--json", json, "--resolution", "64", "--precision", "bf16");
        Assert.True(code == 0, stderr + stdout);
        using (var doc = JsonDocument.Parse(File.ReadAllText(json)))
            Assert.Equal("cmtm-b0 @ 64 bf16", doc.RootElement.GetProperty("inference").GetProperty("model").GetString());

        var (code2, _, err2) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--results", d.File("res"), "--precision", "bf16");
        Assert.Equal(2, code2);
        Assert.Contains("--precision: only applies with --weights", err2);
        var (code3, _, err3) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--results", d.File("res"), "--precision", "FP32");
        Assert.True(code3 == 0, err3);
    }

    [Fact]
    public void EvaluateWithWeightsWritesPaletteResultsScoresThemAndReportsFps()
    {
        using var ds = new TinyDavis();
        using var d = new Shared.TempDir();
        var results = d.File("res");
        var json = d.File("report.json");
        // no JPEGFlows in the dataset -> flows computed with Farneback (with a note)
        var (code, stdout, stderr) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--weights", TinyDavis.Weights,
            "--results-out", results, "--json", json, "--threads", "2", "--resolution", "64");
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("computing flows with farneback", stderr);

        // results folder: <results>/<seq>/%05d.png, 4-bit DAVIS palette PNGs at the frame size, nothing else
        Assert.Equal(TinyDavis.Sequences, Directory.GetDirectories(results).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(Directory.GetFiles(results));
        foreach (var seq in TinyDavis.Sequences)
        {
            var files = Directory.GetFiles(Path.Combine(results, seq)).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(Enumerable.Range(0, TinyDavis.FramesPerSequence).Select(i => $"{i:00000}.png"), files);
            var png = PngCodec.Read(Path.Combine(results, seq, "00001.png"));
            Assert.Equal(PngColorType.Palette, png.ColorType);
            Assert.Equal(4, png.BitDepth);
            Assert.Equal((TinyDavis.Width, TinyDavis.Height), (png.Width, png.Height));
            Assert.All(png.Samples, v => Assert.True(v <= 1));
        }
        Assert.Empty(Directory.GetDirectories(d.Path, ".*partial*"));

        // JSON: official keys, values in range, inference timing with both fps
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("davis16", root.GetProperty("dataset").GetString());
        Assert.Equal(TinyDavis.Sequences.Length * TinyDavis.FramesPerSequence, root.GetProperty("frames").GetInt32());
        var overall = root.GetProperty("overall");
        Assert.Equal(Evaluator.DavisColumns, overall.EnumerateObject().Select(p => p.Name));
        foreach (var p in overall.EnumerateObject())
        {
            var v = p.Value.GetDouble();
            if (p.Name.EndsWith("Decay")) Assert.InRange(v, -1, 1); else Assert.InRange(v, 0, 1);
        }
        Assert.Equal((overall.GetProperty("J-Mean").GetDouble() + overall.GetProperty("F-Mean").GetDouble()) / 2, overall.GetProperty("J&F-Mean").GetDouble(), 1e-12);
        Assert.Equal(TinyDavis.Sequences, root.GetProperty("sequences").EnumerateObject().Select(p => p.Name));
        var inf = root.GetProperty("inference");
        Assert.Equal(TinyDavis.Sequences.Length * TinyDavis.FramesPerSequence, inf.GetProperty("frames").GetInt32());
        Assert.Equal("farneback", inf.GetProperty("flow").GetString());
        Assert.StartsWith("cmtm-b0 @ 64", inf.GetProperty("model").GetString());
        var modelFps = inf.GetProperty("model_fps").GetDouble();
        var e2eFps = inf.GetProperty("end_to_end_fps").GetDouble();
        Assert.True(modelFps > 0 && e2eFps > 0 && e2eFps <= modelFps * 1.001, $"model {modelFps} fps, end-to-end {e2eFps} fps");

        // console: table with the overall row and the speed line
        Assert.Contains(stdout.Split('\n'), l => l.StartsWith("Overall"));
        Assert.Contains("model-only", stdout);
        Assert.Contains("end-to-end", stdout);

        // the scores are those of the written folder, scored independently
        var rescored = EvaluateCommandRun(ds.Root, results);
        foreach (var c in Evaluator.DavisColumns)
            Assert.Equal(rescored.Overall[c], overall.GetProperty(c).GetDouble(), 1e-12);

        // a second run into the same folder needs --overwrite (checked before the model is loaded); the folder is untouched
        var before = File.GetLastWriteTimeUtc(Path.Combine(results, "dog", "00001.png"));
        var (code2, _, err2) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--weights", TinyDavis.Weights, "--results-out", results);
        Assert.Equal(2, code2);
        Assert.Contains("not empty", err2);
        Assert.Contains(results, err2);
        Assert.Equal(before, File.GetLastWriteTimeUtc(Path.Combine(results, "dog", "00001.png")));
    }

    private static EvaluationReport EvaluateCommandRun(string root, string results) =>
        Evaluator.ScoreFolder("davis16", root, results, progress: false);

    [Fact]
    public void DatasetFlowsAreUsedAndMasksEqualDirectPredictions()
    {
        using var ds = new TinyDavis();
        ds.AddFlows();
        using var d = new Shared.TempDir();
        using var predictor = TinyDavis.FixturePredictor();
        var results = d.File("res");
        var report = ds.EvaluateWithDatasetFlows(predictor, results);
        Assert.Equal("dataset JPEGFlows", report.Inference!.Flow);
        Assert.Equal(6, report.Inference.Frames);

        // the written mask of a frame is exactly the predictor's mask on (image, dataset flow image)
        var seq = "dog";
        var stem = "00001";
        var image = FolderFrameSource.Read(Path.Combine(ds.Root, "JPEGImages", "480p", seq, stem + ".jpg"));
        var flow = FolderFrameSource.Read(Path.Combine(ds.Root, "JPEGFlows", "480p", seq, stem + ".jpg"));
        using var pred = predictor.Predict(image, flow);
        var written = PngMask.Read(Path.Combine(results, seq, stem + ".png"));
        Assert.Equal(pred.Mask, written.Data);

        // J of that frame in the report equals the IoU of the written mask with the annotation
        var gt = PngMask.Read(Path.Combine(ds.Root, "Annotations", "480p", seq, stem + ".png"), MaskRule.ObjectIds);
        var j = report.Sequences.Single(s => s.Name == seq).Frames.Single(f => f.Frame == stem).J;
        Assert.Equal(DavisMetrics.Iou(gt, written), j, 1e-12);
    }

    /// <summary>FBMS layout (frames, masks paired by sorted order; grayscale masks): 0/255 results named by annotation stem, IoU protocol.</summary>
    [Fact]
    public void FbmsLayoutWritesGrayResultsNamedByAnnotationAndScoresIou()
    {
        using var ds = new TinyDavis();
        using var d = new Shared.TempDir();
        var root = d.File("fbms");
        foreach (var seq in TinyDavis.Sequences)
        {
            var img = Directory.CreateDirectory(Path.Combine(root, "JPEGImages", seq)).FullName;
            var ann = Directory.CreateDirectory(Path.Combine(root, "Annotations", seq)).FullName;
            for (var i = 0; i < TinyDavis.FramesPerSequence; i++)
            {
                File.Copy(Path.Combine(ds.Root, "JPEGImages", "480p", seq, $"{i:00000}.jpg"), Path.Combine(img, $"{seq}_{i:000}.jpg"));
                var gt = PngMask.Read(Path.Combine(ds.Root, "Annotations", "480p", seq, $"{i:00000}.png"), MaskRule.ObjectIds);
                PngMask.WriteGray(Path.Combine(ann, $"{seq}_{i:000}_gt.png"), gt); // annotation stems differ from image stems
            }
        }
        using var predictor = TinyDavis.FixturePredictor();
        using var farneback = new FarnebackFlow();
        var flows = DatasetFlows.Estimate(farneback);
        var record = ModelEvaluation.LoadDataset(DatasetKind.Fbms, root, flows);
        var results = d.File("res");
        var report = ModelEvaluation.Run(record, predictor, flows, new ModelEvaluationOptions { ResultsDir = results, Scoring = new EvaluationOptions { MaxParallelism = 1 } });

        Assert.Equal(EvaluationProtocol.Iou, report.Protocol);
        Assert.Equal(["J-Mean"], report.Columns);
        Assert.InRange(report.Overall["J-Mean"], 0, 1);
        Assert.Equal(6, report.Inference!.Frames);
        var png = PngCodec.Read(Path.Combine(results, "dog", "dog_001_gt.png"));
        Assert.Equal(PngColorType.Gray, png.ColorType);
        Assert.All(png.Samples, v => Assert.True(v is 0 or 255));
        Assert.Equal(3, Directory.GetFiles(Path.Combine(results, "blackswan")).Length);
    }

    [Fact]
    public void FlowFolderMissingAFrameIsANamedErrorBeforeAnyOutput()
    {
        using var ds = new TinyDavis();
        using var d = new Shared.TempDir();
        var flowDir = d.File("flows");
        ds.AddFlows(flowDir);
        File.Delete(Path.Combine(flowDir, "dog", "00001.jpg"));
        var results = d.File("res");
        var (code, _, err) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--weights", TinyDavis.Weights,
            "--flow", flowDir, "--results-out", results);
        Assert.Equal(2, code);
        Assert.Contains("'00001'", err);
        Assert.Contains(Path.Combine(flowDir, "dog"), err);
        Assert.False(Directory.Exists(results));
        Assert.Equal(["flows"], Directory.GetFileSystemEntries(d.Path).Select(Path.GetFileName));
    }

    /// <summary>`evaluate --weights --flows DIR`: the dataset's flows from a folder of their own, same layout; the same masks as with the flows inside the dataset.</summary>
    [Fact]
    public void FlowsFolderInTheDatasetLayoutGivesTheSameResultsAsTheDatasetsOwnFlows()
    {
        using var ds = new TinyDavis();
        using var d = new Shared.TempDir();
        var flows = d.File("flows");
        ds.AddFlows(Path.Combine(flows, "JPEGFlows", "480p"));
        var (code, stdout, stderr) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--weights", TinyDavis.Weights,
            "--flows", flows, "--results-out", d.File("outside"), "--resolution", "64", "--json", d.File("outside.json"));
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains($"flow dataset JPEGFlows in {flows}", stdout);
        ds.AddFlows();
        (code, stdout, stderr) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--weights", TinyDavis.Weights,
            "--results-out", d.File("inside"), "--resolution", "64");
        Assert.True(code == 0, stderr + stdout);
        foreach (var seq in TinyDavis.Sequences)
            for (var i = 0; i < TinyDavis.FramesPerSequence; i++)
                Assert.Equal(File.ReadAllBytes(Path.Combine(d.File("inside"), seq, $"{i:00000}.png")), File.ReadAllBytes(Path.Combine(d.File("outside"), seq, $"{i:00000}.png")));

        // a missing flow in that folder names the file and the command; --flows and --flow together are refused
        File.Delete(Path.Combine(flows, "JPEGFlows", "480p", "dog", "00002.jpg"));
        (code, _, stderr) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--weights", TinyDavis.Weights, "--flows", flows, "--results-out", d.File("third"));
        Assert.Equal(2, code);
        Assert.Contains(Path.Combine(flows, "JPEGFlows", "480p", "dog", "00002.jpg"), stderr);
        Assert.Contains($"cmtm flow --dataset davis16 --root {ds.Root} --flows {flows}", stderr);
        (code, _, stderr) = Run("evaluate", "--dataset", "davis16", "--root", ds.Root, "--weights", TinyDavis.Weights, "--flows", flows, "--flow", "farneback", "--results-out", d.File("third"));
        Assert.Equal(2, code);
        Assert.Contains("not both", stderr);
    }

    [Fact]
    public void ResultsAndWeightsTogetherOrNeitherWithoutAShippedModelAreErrors()
    {
        using var d = new Shared.TempDir();
        // neither: the shipped model runs; where there is none, the error says how to give one
        using (new DemoClipData.EnvVar(Cmtm.Model.ShippedModel.EnvironmentVariable, d.File("none.safetensors")))
        {
            var (code0, _, err0) = Run("evaluate", "--dataset", "davis16", "--root", d.Path);
            Assert.Equal(2, code0);
            Assert.Contains("--weights", err0);
        }
        var (code, _, err) = Run("evaluate", "--dataset", "davis16", "--root", d.Path, "--results", d.Path, "--weights", TinyDavis.Weights);
        Assert.Equal(2, code);
        Assert.Contains("not both", err);
    }
}
