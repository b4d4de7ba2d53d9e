using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Tests.Model;

/// <summary>
/// The bicubic resize by matrix products against torch's bicubic kernel run in float64 (the reference): up- and
/// down-scaling, non-square maps, batch 2, border clamping on tiny maps. Tolerance 2e-6 absolute for values of magnitude
/// ~4 (float32 rounding; interpolate itself is at 5-7e-7 here). bf16 input: within bf16 rounding of the float32 result.
/// </summary>
public class BicubicMatmulTests
{
    [Theory]
    [InlineData(1, 256, 16, 16, 32, 32)]
    [InlineData(2, 64, 13, 21, 26, 42)]
    [InlineData(1, 3, 3, 2, 12, 8)]     // every output reaches past both borders
    [InlineData(1, 8, 40, 30, 17, 9)]   // down-scaling (no antialiasing, like torch)
    [InlineData(1, 2, 32, 32, 128, 128)]
    public void EqualsTorchBicubic(int b, int c, int h, int w, int oh, int ow)
    {
        manual_seed(3);
        using var scope = NewDisposeScope();
        var x = randn(b, c, h, w).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        var reference = nn.functional.interpolate(x.to_type(ScalarType.Float64), new long[] { oh, ow }, mode: InterpolationMode.Bicubic, align_corners: false);
        using var _ = inference_mode();
        Assert.True(BicubicMatmul.Applies(x));
        var y = BicubicMatmul.Resize(x, oh, ow);
        Assert.Equal(reference.shape, y.shape);
        Assert.Equal(ScalarType.Float32, y.dtype);
        double err = y.to_type(ScalarType.Float64).sub(reference).abs().max().item<double>();
        Assert.True(err < 2e-6, $"max error {err:E2}");
    }

    [Fact]
    public void Bf16MapsAreResizedInFloat32AndReturnedAsBf16()
    {
        manual_seed(4);
        using var scope = NewDisposeScope();
        var x = randn(1, 64, 16, 16).to_type(ScalarType.BFloat16);
        using var _ = inference_mode();
        var y = BicubicMatmul.Resize(x, 32, 32);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        var reference = nn.functional.interpolate(x.to_type(ScalarType.Float64), new long[] { 32, 32 }, mode: InterpolationMode.Bicubic, align_corners: false);
        double err = y.to_type(ScalarType.Float64).sub(reference).abs().max().item<double>();
        Assert.True(err < 4.0 / 128, $"max error {err:E2} (bf16 keeps 8 significant bits of values up to ~4)");
    }

    [Fact]
    public void TrainingKeepsInterpolate()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 64, 8, 8).requires_grad_(true);
        Assert.False(BicubicMatmul.Applies(x));
        using (no_grad()) Assert.True(BicubicMatmul.Applies(x));
        Assert.False(BicubicMatmul.Applies(randn(1, 64, 8, 8, dtype: ScalarType.Float64)));
    }

    [Fact]
    public void MatrixRowsSumToOne()
    {
        foreach (var (i, o) in new[] { (16, 32), (7, 3), (1, 4), (128, 512) })
        {
            var m = BicubicMatmul.Matrix(i, o);
            for (int r = 0; r < o; r++)
                Assert.InRange(m.Skip(r * i).Take(i).Sum(), 1 - 1e-6, 1 + 1e-6);
        }
    }
}
