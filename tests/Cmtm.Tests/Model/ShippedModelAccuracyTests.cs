using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.Model;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Model;

/// <summary>
/// Regression guard for the committed model (models/cmtm-davis16-cpu.safetensors): on 8 real frames of the committed
/// blackswan clip (a DAVIS-2016 val sequence it never trained on; Farnebäck flow) its mean J must stay at the value
/// measured when it was committed minus a margin. Needs only the repository (no ../shared); a few seconds.
/// </summary>
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class ShippedModelAccuracyTests
{
    /// <summary>Measured with the committed model (sha256 in models/README.md) on frames 10-17, fp32, this test's code.</summary>
    private const double MeasuredJ = 0.697;
    /// <summary>Allowed drop: kernels of other CPUs round differently; a broken model or pipeline falls far below it.</summary>
    private const double Margin = 0.05;

    [Fact]
    public void ShippedModelSegmentsRealFramesAsWhenItWasCommitted()
    {
        var shipped = ShippedModel.Locate(null, AppContext.BaseDirectory); // the repository's model, not CMTM_MODEL
        using var d = new Shared.TempDir();
        var root = DemoClipData.MakeDavis(d.File("davis"), new DemoClipData.Seq("blackswan", 10, 8));
        var ds = BaselineReport.LoadWithFrames(DatasetKind.Davis16, root, "val", out _);
        using (var farneback = new FarnebackFlow()) BaselineReport.PrepareFlows(ds, d.File("flows"), farneback, progress: false);
        using var predictor = new FramePredictor(ModelCheckpoint.Load(shipped.Path), ownsModel: true);
        Assert.Equal("cmtm-b0", predictor.Model.Config.Name);
        var table = BaselineReport.Run(ds, [BaselineMethod.Model("shipped", "committed model", predictor)],
            new BaselineOptions { OutDir = d.File("out"), FlowRoot = d.File("flows"), Threads = 2, Progress = false });
        double j = table.Rows[0].Report.Overall["J-Mean"];
        Console.WriteLine($"shipped model on blackswan 10-17: J {j:F4}");
        Assert.True(j >= MeasuredJ - Margin, $"J {j:F4} fell below the committed model's {MeasuredJ:F4} - {Margin}");
    }
}
