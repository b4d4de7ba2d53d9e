using System.Diagnostics;
using Cmtm.Model;
using Cmtm.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Cmtm.Tests.Training;

[Collection("torch-global-state")]
public class TrainingBenchmarks(ITestOutputHelper output)
{
    [Theory]
    [Trait("Category", "Benchmark")]
    [InlineData(32, 4, false)]
    [InlineData(64, 8, false)]
    public void StepTime(int res, int batch, bool onednn)
    {
        Cmtm.Runtime.TorchRuntime.MkldnnEnabled = onednn;
        set_num_threads(2);
        using var model = new VosModel(ModelConfig.Parse("cmtm-b0", res));
        using var opt = new SafeAdam(model.parameters(), 1e-4);
        using var img = rand(batch, 3, res, res); using var flo = rand(batch, 3, res, res);
        using var m = (rand(batch, res, res) > 0.5).to_type(ScalarType.Int64);
        TrainStep.Run(model, opt, img, flo, m, oneDnnForward: !onednn);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 3; i++) TrainStep.Run(model, opt, img, flo, m, oneDnnForward: !onednn);
        output.WriteLine($"res {res} batch {batch} oneDnnForward {!onednn}: {sw.Elapsed.TotalSeconds / 3:F3} s/step");
        sw.Restart();
        model.train();
        for (int i = 0; i < 3; i++) { using var y = model.forward(img, flo); }
        output.WriteLine($"train forward only: {sw.Elapsed.TotalSeconds / 3:F3} s");
        sw.Restart();
        using (no_grad()) { model.eval(); using var _ = model.forward(img[0..1], flo[0..1]); }
        output.WriteLine($"eval forward 1 frame: {sw.Elapsed.TotalSeconds:F3} s");
    }
}
