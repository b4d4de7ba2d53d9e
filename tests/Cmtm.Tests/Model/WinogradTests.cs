using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Tests.Model;

/// <summary>
/// Winograd F(4x4,3x3) against a float64 direct convolution: sizes that are and are not multiples of the 4x4 output
/// block, batch 2, NCHW and channels-last inputs, with and without bias, several chunks. Tolerance: 5e-5 absolute for
/// outputs of magnitude ~1-3 (float32 Winograd rounding, measured 1.1-1.8e-5; oneDNN's direct conv is at 3-5e-6).
/// </summary>
public class WinogradTests
{
    [Theory]
    [InlineData(1, 64, 64, 16, 16, true)]
    [InlineData(2, 96, 80, 18, 23, true)]
    [InlineData(1, 128, 64, 37, 21, false)]
    [InlineData(1, 512, 256, 64, 64, true)] // 6 chunks of tile rows
    public void EqualsDirectConvolution(int b, int cin, int cout, int h, int w, bool channelsLast)
    {
        manual_seed(11);
        using var scope = NewDisposeScope();
        var x = randn(b, cin, h, w).relu_();
        if (channelsLast) x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        var weight = randn(cout, cin, 3, 3).mul_(Math.Sqrt(2.0 / (cin * 9)));
        var bias = randn(cout).mul_(0.1);
        var reference = nn.functional.conv2d(x.to_type(ScalarType.Float64), weight.to_type(ScalarType.Float64), bias.to_type(ScalarType.Float64),
            padding: new long[] { 1, 1 });
        using (no_grad())
        {
            Assert.True(Winograd.Applies(x, weight, 1, 1, 1));
            var y = Winograd.Conv3x3(x, weight, bias);
            Assert.Equal(reference.shape, y.shape);
            double err = y.to_type(ScalarType.Float64).sub(reference).abs().max().item<double>();
            Assert.True(err < 5e-5, $"max error {err:E2}");
            var noBias = Winograd.Conv3x3(x, weight, null);
            double errNoBias = noBias.to_type(ScalarType.Float64).add(bias.to_type(ScalarType.Float64).view(1, -1, 1, 1)).sub(reference).abs().max().item<double>();
            Assert.True(errNoBias < 5e-5, $"max error without bias {errNoBias:E2}");
        }
    }

    [Fact]
    public void NotUsedWhereItIsNotFasterOrNotExact()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = randn(1, 256, 32, 32);
        Assert.False(Winograd.Applies(x, randn(2, 256, 3, 3), 1, 1, 1));   // few output channels (the predictor)
        Assert.False(Winograd.Applies(randn(1, 2, 32, 32), randn(16, 2, 3, 3), 1, 1, 1)); // CBAM's spatial convs
        Assert.False(Winograd.Applies(x, randn(256, 256, 1, 1), 1, 0, 1)); // 1x1
        Assert.False(Winograd.Applies(x, randn(256, 256, 3, 3), 2, 1, 1)); // strided
        Assert.False(Winograd.Applies(randn(1, 256, 8, 8), randn(256, 256, 3, 3), 1, 1, 1)); // tiny map
        Assert.False(Winograd.Applies(x.to_type(ScalarType.Float64), randn(256, 256, 3, 3, dtype: ScalarType.Float64), 1, 1, 1));
    }

    [Fact]
    public void TrainingKeepsTheDifferentiableConv()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 64, 16, 16);
        var weight = randn(64, 64, 3, 3).requires_grad_(true);
        Assert.False(Winograd.Applies(x, weight, 1, 1, 1)); // gradient enabled and required
        using (no_grad()) Assert.True(Winograd.Applies(x, weight, 1, 1, 1));
    }
}
