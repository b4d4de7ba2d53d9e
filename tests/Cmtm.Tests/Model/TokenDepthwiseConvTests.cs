using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Tests.Model;

/// <summary>
/// The Mix-FFN depthwise conv on tokens: both implementations (oneDNN conv on the NHWC view for inference, shifted sum
/// for training) equal libtorch's NCHW conv2d, for square and non-square grids and batch &gt; 1; the training path
/// stays differentiable. Tolerance 1e-5: float32 sums of 9 products in a different order.
/// </summary>
public class TokenDepthwiseConvTests
{
    private static Tensor Reference(Tensor tokens, Tensor weight, Tensor bias, int h, int w)
    {
        long b = tokens.shape[0], c = tokens.shape[2];
        using var nchw = tokens.transpose(1, 2).reshape(b, c, h, w).contiguous();
        using var y = nn.functional.conv2d(nchw, weight, bias, padding: new long[] { 1, 1 }, groups: c);
        return y.flatten(2).transpose(1, 2).contiguous();
    }

    [Theory]
    [InlineData(1, 8, 8, 32)]
    [InlineData(2, 6, 10, 64)]
    [InlineData(3, 16, 4, 160)]
    public void BothPathsEqualTheNchwConv(int b, int h, int w, int c)
    {
        manual_seed(7);
        using var tokens = randn(b, h * w, c);
        using var weight = randn(c, 1, 3, 3);
        using var bias = randn(c);
        using var reference = Reference(tokens, weight, bias, h, w);
        using (no_grad())
        {
            using var view = TokenDepthwiseConv.OnNhwcView(tokens, weight, bias, h, w);
            Assert.Equal(reference.shape, view.shape);
            Assert.True(view.sub(reference).abs().max().item<float>() < 1e-5f);
            using var dispatched = TokenDepthwiseConv.Forward(tokens, weight, bias, h, w);
            Assert.True(dispatched.sub(reference).abs().max().item<float>() < 1e-5f);
        }
        using var sum = TokenDepthwiseConv.ShiftedSum(tokens, weight, bias, h, w);
        Assert.True(sum.sub(reference).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void TrainingPathCarriesGradients()
    {
        manual_seed(3);
        using var tokens = randn(2, 24, 16).requires_grad_(true);
        using var weight = randn(16, 1, 3, 3).requires_grad_(true);
        using var bias = randn(16).requires_grad_(true);
        using var y = TokenDepthwiseConv.Forward(tokens, weight, bias, 4, 6);
        Assert.True(y.requires_grad);
        using var loss = y.square().sum();
        loss.backward();
        // d loss / d bias = sum of 2y over every position of its channel
        using var expected = y.detach().mul(2).sum(new long[] { 0, 1 });
        Assert.True(bias.grad!.sub(expected).abs().max().item<float>() < 1e-3f);
        Assert.True(weight.grad!.abs().sum().item<float>() > 0);
    }
}
