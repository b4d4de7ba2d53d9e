using Cmtm.Runtime;
using Cmtm.Training;

namespace Cmtm.Tests.Runtime;

/// <summary>The one progress printer: throttled plain lines off a terminal, an in-place line on one, and training's
/// reporter built on it.</summary>
public class ProgressLineTests
{
    [Fact]
    public void PlainLinesAreThrottledAndTheFinalOneAlwaysPrints()
    {
        var w = new StringWriter();
        var p = new ProgressLine("flow", w, live: false) { Interval = TimeSpan.FromHours(1) };
        p.Report(1, 10);
        p.Report(2, 10); // within the interval: dropped
        p.Report(10, 10, final: true);
        var lines = w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("flow: 1/10 (", lines[0]);
        Assert.Contains("ETA", lines[0]);
        Assert.StartsWith("flow: 10/10 (", lines[1]);
    }

    [Fact]
    public void APermanentLineEndsTheLiveLineFirst()
    {
        var w = new StringWriter();
        var p = new ProgressLine("segment", w, live: true);
        p.Report(3, null, "frame 00003");
        p.Print("done");
        var text = w.ToString();
        Assert.StartsWith("\rsegment: 3 (", text);
        Assert.EndsWith("\ndone" + Environment.NewLine, text);
        Assert.DoesNotContain("\n", text.TrimEnd().Split("\ndone")[0]); // the live line was not a line of its own before
    }

    [Fact]
    public void TrainingReporterPrintsEpochLinesThroughTheSamePrinter()
    {
        var w = new StringWriter();
        var r = new ConsoleReporter(w, live: false) { PlainInterval = TimeSpan.FromHours(1) };
        var tick = new TrainTick(1, 2, 1, 4, 1, 8, 0.5, 0.25, 1.5, TimeSpan.FromSeconds(90));
        r.Step(tick);
        r.Step(tick with { Step = 2 }); // throttled
        r.Message("validating");
        var lines = w.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(new[] { "train: epoch 1/2 batch 1/4 step 1/8 loss 0.5000 IoU 0.250 1.50 it/s ETA 01:30", "train: validating" }, lines);
    }
}
