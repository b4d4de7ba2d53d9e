using Cmtm.Tests.Support;
using Cmtm.Training;

namespace Cmtm.Tests.Training;

/// <summary>
/// `cmtm demo` end to end at a toy size (the README's first command must keep working): data, training for a fixed
/// step count, the table with the untrained model, the motion baseline and the trained model on held-out videos and on
/// real DAVIS frames, the segmented clip with its overlay video, curves and the report.
/// </summary>
[Collection("torch-global-state")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class DemoTests
{
    [Fact]
    public void TinyDemoWritesTheTableClipCurvesAndReport()
    {
        using var d = new Shared.TempDir();
        var o = new DemoOptions
        {
            Out = d.File("demo"), TrainVideos = 4, ValVideos = 2, Frames = 4, Width = 48, Height = 32, Resolution = 32,
            Steps = 16, WarmupSteps = 2, Threads = 2, Davis = Shared.DataPath("davis16-val"), DavisSequences = 1, DavisFrames = 3,
        };
        var messages = new List<string>();
        var r = Demo.Run(o, messages.Add);

        Assert.Equal(16, r.Steps);
        Assert.Equal(new[] { "synthetic held-out", "synthetic held-out", "synthetic held-out", "DAVIS-16 val subset", "DAVIS-16 val subset" },
            r.Table.Select(row => row.Data));
        Assert.All(r.Table, row => Assert.InRange(row.JF, 0, 1));
        Assert.All(r.Table.Take(3), row => Assert.Equal(2, row.Sequences));
        Assert.Contains(r.Table, row => row.Method.StartsWith("motion-magnitude"));
        var clip = Directory.GetDirectories(r.RunDir, "clip-*").Single();
        Assert.Equal(4, Directory.GetFiles(clip, "*.png").Length);
        Assert.True(new FileInfo(Path.Combine(clip, "overlay.mp4")).Length > 0);
        Assert.True(File.Exists(Path.Combine(r.RunDir, "train", "loss.png")));
        var report = File.ReadAllText(r.Report);
        Assert.Contains("16 steps", report);
        Assert.Contains("cosine", report);
        Assert.Equal(r.Table.Count, report.Split('\n').Count(l => l.StartsWith("| ") && !l.StartsWith("| method")));
        // a second run into the same (now non-empty) folder is refused
        Assert.Throws<CmtmException>(() => Demo.Run(o, _ => { }));
    }
}
