using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Tests.Model;

/// <summary>
/// The two encoders run side by side in inference (<see cref="VosNet.ConcurrentEncoders"/>): the logits must equal the
/// sequential run bit for bit (each encoder's arithmetic is independent of the other), in inference mode and under
/// no_grad, and training (gradient recorded) stays sequential.
/// </summary>
public class ConcurrentEncoderTests
{
    [Theory]
    [InlineData("cmtm-b0", true)]
    [InlineData("fakeflow-b0", false)]
    public void ConcurrentAndSequentialEncodersGiveIdenticalLogits(string arch, bool inferenceMode)
    {
        manual_seed(21);
        using var model = new VosModel(ModelConfig.Parse(arch, 64));
        model.eval();
        using var img = rand(2, 3, 48, 80);
        using var flow = rand(2, 3, 48, 80);
        Tensor Run(bool concurrent, List<string> stages)
        {
            model.Net.ConcurrentEncoders = concurrent;
            model.Net.StageDone = stages.Add;
            try
            {
                using var mode = inferenceMode ? inference_mode() : null;
                using var _ = no_grad();
                return model.forward(img, flow);
            }
            finally { model.Net.StageDone = null; }
        }
        var concurrentStages = new List<string>();
        var sequentialStages = new List<string>();
        using var a = Run(true, concurrentStages);
        using var b = Run(false, sequentialStages);
        Assert.Contains("encoders", concurrentStages);
        Assert.DoesNotContain("app_encoder", concurrentStages);
        Assert.Contains("app_encoder", sequentialStages);
        Assert.Contains("mo_encoder", sequentialStages);
        Assert.Equal(a.shape, b.shape);
        using var diff = (a - b).abs().max();
        Assert.Equal(0f, diff.item<float>());
    }

    [Fact]
    public void TrainingRunsTheEncodersOneAfterTheOther()
    {
        manual_seed(22);
        using var model = new VosModel(ModelConfig.Parse("fakeflow-b0", 64));
        model.train();
        var stages = new List<string>();
        model.Net.StageDone = stages.Add;
        using var img = rand(2, 3, 64, 64);
        using var flow = rand(2, 3, 64, 64);
        using var logits = model.forward(img, flow);
        Assert.Equal(new[] { "resize_in", "app_encoder", "mo_encoder", "decoder" }, stages);
        Assert.True(logits.requires_grad);
    }
}
