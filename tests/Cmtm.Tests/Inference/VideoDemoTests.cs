using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Inference;

/// <summary>
/// The real-video `cmtm demo` at toy size: a tiny random-weight checkpoint, a 4-frame clip cut from the
/// committed one, a toy DAVIS val folder with a published-masks folder beside it.
/// </summary>
[Collection("torch-global-state")] // the untrained baseline seeds torch's global RNG
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class VideoDemoTests
{
    [Fact]
    public void CommittedClipIsTheWholeBlackswanSequenceAt427x240WithBinaryMasksAndItsAttribution()
    {
        var ds = BaselineReport.LoadWithFrames(DatasetKind.Davis16, DemoClipData.Root, "val", out var without);
        Assert.Empty(without);
        var seq = Assert.Single(ds.Sequences);
        Assert.Equal(DemoClipData.Sequence, seq.Name);
        Assert.Equal(DemoClipData.Frames, seq.Frames.Count);
        foreach (var f in seq.Frames)
        {
            var img = RgbImage.Load(f.Image!);
            Assert.Equal((DemoClipData.Width, DemoClipData.Height), (img.Width, img.Height));
            var png = PngCodec.Read(f.Annotation!);
            Assert.Equal((DemoClipData.Width, DemoClipData.Height, PngColorType.Gray), (png.Width, png.Height, png.ColorType));
            Assert.All(png.Samples.Distinct(), v => Assert.Contains(v, new ushort[] { 0, 255 }));
            Assert.Contains((ushort)255, png.Samples);
        }
        var bytes = Directory.GetFiles(DemoClipData.Root, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.InRange(bytes, 1, 2_000_000);
        var readme = File.ReadAllText(Path.Combine(DemoClipData.Root, "README.md"));
        Assert.Contains("Perazzi", readme);
        Assert.Contains("CC BY 4.0", readme);
        Assert.Contains("scripts/make-demo-clip.cs", readme);
    }

    [Fact]
    public void DemoSegmentsTheClipScoresItAndTheValSequencesBesideTheBaselinesAndWritesTheReport()
    {
        using var d = new Shared.TempDir();
        var clip = DemoClipData.MakeDavis(d.File("clip"), new DemoClipData.Seq("blackswan", 0, 4));
        var val = DemoClipData.MakeDavis(d.File("data/davis16-val"),
            new DemoClipData.Seq("swan-a", 10, 3), new DemoClipData.Seq("swan-b", 30, 3), new DemoClipData.Seq("no-frames", 40, 3, Frames: false));
        DemoClipData.GroundTruthResults(val, d.File("data/rvos-davis16"), index: 3); // "published" masks equal to the ground truth
        var ckpt = DemoClipData.TinyCheckpoint(d.File("tiny.safetensors"), seed: 0);
        var said = new List<string>();
        var o = new VideoDemoOptions { Out = d.File("run"), Weights = ckpt, Clip = clip, Davis = val, Threads = 2, Progress = false };
        var r = VideoDemo.Run(o, said.Add);

        Assert.Equal(["model", "untrained", "motion threshold"], r.Clip.Rows.Select(x => x.Name));
        // the tiny checkpoint is the seed-0 initialisation: the segmented masks score exactly as the untrained run's
        Assert.Equal(r.Clip.Rows[1].Report.Overall["J&F-Mean"], r.Clip.Rows[0].Report.Overall["J&F-Mean"]);
        Assert.NotNull(r.Val);
        Assert.Equal(["model", "untrained", "motion threshold", "RVOS"], r.Val!.Rows.Select(x => x.Name));
        Assert.Equal(["swan-a", "swan-b"], r.Val.Sequences.Select(s => s.Name));
        Assert.Equal(r.Val.Rows[1].Report.Overall["J&F-Mean"], r.Val.Rows[0].Report.Overall["J&F-Mean"]);
        Assert.Equal(1.0, r.Val.Rows[3].Report.Overall["J&F-Mean"]);
        Assert.Null(r.ValNote);
        Assert.Contains(said, s => s.StartsWith($"using {ckpt} (cmtm-b0 at 64 px)"));

        // masks, overlay frames and an overlay video of every frame
        Assert.Equal(4, Directory.GetFiles(r.ClipDir, "*.png").Length);
        Assert.Equal(4, Directory.GetFiles(Path.Combine(r.ClipDir, "overlay"), "*.jpg").Length);
        var (played, vw, vh) = BlackswanClip.PlayBack(r.OverlayVideo);
        Assert.Equal((4, DemoClipData.Height), (played, vh));
        Assert.Equal(DemoClipData.Width - 1, vw); // MPEG-4 (mp4v) frames have an even width: FFmpeg drops the 427th column
        var strip = PngCodec.Read(r.Strip);
        Assert.Equal((4 * DemoClipData.Width + 3 * 4, DemoClipData.Height), (strip.Width, strip.Height));

        var report = File.ReadAllText(r.Report);
        Assert.Contains("![overlay frames of blackswan", report);
        Assert.Contains("(strip.png)", report);
        Assert.Contains("| RVOS | 1.000 | 1.000 | 1.000 |", report);
        Assert.Contains("| swan-b | 3 |", report);
        Assert.Contains("left out: no-frames", report);
        Assert.True(File.Exists(Path.Combine(r.RunDir, "val", "baselines.json")));
        Assert.True(File.Exists(Path.Combine(r.RunDir, "scores-clip", "baselines.md")));
        // flows went to the run folder, never into a dataset
        Assert.False(Directory.Exists(Path.Combine(val, "JPEGFlows")));
        Assert.False(Directory.Exists(Path.Combine(clip, "JPEGFlows")));
        Assert.Equal(6, Directory.GetFiles(Path.Combine(r.RunDir, "flows", "val"), "*.jpg", SearchOption.AllDirectories).Length);

        Assert.Throws<CmtmException>(() => VideoDemo.Run(o, _ => { })); // the run folder is not empty now
    }

    [Fact]
    public void WithoutValDataTheReportSaysSoAndTheClipIsStillScored()
    {
        using var d = new Shared.TempDir();
        var clip = DemoClipData.MakeDavis(d.File("clip"), new DemoClipData.Seq("blackswan", 5, 3));
        var r = VideoDemo.Run(new VideoDemoOptions
        {
            Out = d.File("run"), Weights = DemoClipData.TinyCheckpoint(d.File("t.safetensors")), Clip = clip, SkipVal = true, Threads = 2, Progress = false, StripFrames = 5,
        }, _ => { });
        Assert.Null(r.Val);
        Assert.Equal("DAVIS-2016 val not scored (--no-val).", r.ValNote);
        Assert.Contains(r.ValNote!, File.ReadAllText(r.Report));
        Assert.Equal(3 * DemoClipData.Width + 2 * 4, PngCodec.Read(r.Strip).Width); // at most one picture per frame
    }
}

/// <summary>`cmtm demo` through the real CLI with the model from CMTM_MODEL.</summary>
[Collection("Console")]
public class DemoCommandTests
{
    [Fact]
    public void DemoRunsWithTheModelFromCmtmModelAndSaysWhereEverythingIs()
    {
        using var d = new Shared.TempDir();
        var clip = DemoClipData.MakeDavis(d.File("clip"), new DemoClipData.Seq("blackswan", 0, 3));
        var ckpt = DemoClipData.TinyCheckpoint(d.File("tiny.safetensors"));
        using var env = new DemoClipData.EnvVar(ShippedModel.EnvironmentVariable, ckpt);
        var run = d.File("run");
        var (code, stdout, stderr) = CliHarness.Run("demo", "--out", run, "--clip", clip, "--no-val");
        Assert.True(code == 0, stderr + stdout);
        Assert.Single(stdout.Split('\n'), l => l.StartsWith($"demo: using the model {ckpt} from CMTM_MODEL (cmtm-b0 at 64 px)"));
        Assert.Contains($"report: {Path.Combine(run, "report.md")}", stdout);
        Assert.Contains($"overlay video: {Path.Combine(run, "blackswan", "overlay.mp4")}", stdout);
        Assert.Contains("motion threshold", stdout);
        Assert.True(File.Exists(Path.Combine(run, "strip.png")));
    }

    [Fact]
    public void SyntheticOnlyOptionsNeedSyntheticAndRealOnlyOptionsRefuseIt()
    {
        using var d = new Shared.TempDir();
        var (code, _, err) = CliHarness.Run("demo", "--out", d.File("a"), "--steps", "5");
        Assert.Equal(2, code);
        Assert.Equal("error: --steps: only applies with --synthetic", err.Trim());
        (code, _, err) = CliHarness.Run("demo", "--synthetic", "--out", d.File("b"), "--clip", d.Path);
        Assert.Equal(2, code);
        Assert.Equal("error: --clip: does not apply with --synthetic", err.Trim());
        Assert.Empty(Directory.GetFileSystemEntries(d.Path));
    }
}
