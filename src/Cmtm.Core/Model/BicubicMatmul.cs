using static TorchSharp.torch;

namespace Cmtm.Model;

/// <summary>
/// torch's bicubic resize (A = -0.75, align_corners false, border taps clamped, no antialiasing) written as two matrix
/// products on a channels-last map: rows of the (out x in) interpolation matrix hold each output pixel's four cubic
/// weights at its clamped source taps, so Y = Mh · X · Mwᵀ per channel. libtorch's CPU bicubic kernel is slow on the
/// decoder's 256-channel maps, above all in bf16 (x2 of 256x64x64: 15-26 ms float32, 41 ms bf16; by the products 13 ms;
/// at 32x32 4.4 vs 1.3 ms; measured); the products compute the same sums in another order (float32 rounding only: max
/// error 5e-7 against a float64 reference, as interpolate's). Used in inference for the decoder's up-sampling; bf16
/// maps are resized in float32.
/// </summary>
public static class BicubicMatmul
{
    private const double A = -0.75;

    private static double Cubic1(double x) => ((A + 2) * x - (A + 3)) * x * x + 1;          // |x| <= 1
    private static double Cubic2(double x) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;    // 1 < |x| < 2

    /// <summary>(outSize x inSize) interpolation matrix of torch's upsample_bicubic2d along one axis (scale = in/out).</summary>
    public static float[] Matrix(int inSize, int outSize)
    {
        var m = new float[outSize * inSize];
        double scale = (double)inSize / outSize;
        for (int o = 0; o < outSize; o++)
        {
            double src = scale * (o + 0.5) - 0.5;        // area_pixel_compute_source_index (cubic: not clamped)
            int i0 = (int)Math.Floor(src);
            double t = src - i0;
            Span<double> w = stackalloc double[] { Cubic2(t + 1), Cubic1(t), Cubic1(1 - t), Cubic2(2 - t) };
            for (int k = 0; k < 4; k++)
            {
                int i = Math.Clamp(i0 - 1 + k, 0, inSize - 1);
                m[o * inSize + i] += (float)w[k];
            }
        }
        return m;
    }

    /// <summary>Whether <see cref="Resize"/> replaces interpolate: inference (no gradient), float32 or bf16 4-D maps.</summary>
    public static bool Applies(Tensor x) =>
        x.dim() == 4 && (x.dtype == ScalarType.Float32 || x.dtype == ScalarType.BFloat16) && NoGradient.For(x);

    /// <summary>x (B,C,H,W) in any layout -> (B,C,outH,outW), channels-last memory, in x's dtype (computed in float32).</summary>
    public static Tensor Resize(Tensor x, long outH, long outW)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var dev = x.device;
        var mh = tensor(Matrix((int)h, (int)outH), device: dev).view(outH, h);
        var mw = tensor(Matrix((int)w, (int)outW), device: dev).view(outW, w);
        var nhwc = x.permute(0, 2, 3, 1);
        if (nhwc.dtype != ScalarType.Float32) nhwc = nhwc.to_type(ScalarType.Float32);
        // along W: (B*H, W, C) -> (B*H, outW, C); along H: (B, H, outW*C) -> (B, outH, outW*C)
        var alongW = mw.matmul(nhwc.reshape(b * h, w, c));
        var both = mh.matmul(alongW.view(b, h, outW * c)).view(b, outH, outW, c);
        if (x.dtype != ScalarType.Float32) both = both.to_type(x.dtype);
        return both.permute(0, 3, 1, 2).MoveToOuterDisposeScope();
    }
}
