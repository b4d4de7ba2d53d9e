namespace Cmtm.Data.Sampling;

/// <summary>
/// Pillow's Image.resize for 8-bit images, re-implemented: BICUBIC (a = -0.5, antialiased when down-scaling: the
/// kernel support grows with the scale), with Pillow's 22-bit fixed-point coefficients, horizontal pass first with
/// 8-bit clipping in between, then vertical; and NEAREST (source index floor((x + 0.5) * scale)). The official
/// dataset code resizes every image, flow image and mask this way before training.
/// </summary>
public static class PilResize
{
    private const int PrecisionBits = 32 - 8 - 2;

    private static double Bicubic(double x)
    {
        const double a = -0.5;
        if (x < 0) x = -x;
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    /// <summary>Pillow precompute_coeffs + normalize_coeffs_8bpc for one axis.</summary>
    private static (int[] Start, int[] Count, int[] Coeffs, int K) Coefficients(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize, filterScale = Math.Max(scale, 1.0);
        double support = 2.0 * filterScale;
        int k = (int)Math.Ceiling(support) * 2 + 1;
        var start = new int[outSize]; var count = new int[outSize]; var coeffs = new int[outSize * k];
        var pre = new double[k];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterScale;
            int xmin = (int)(center - support + 0.5); if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5); if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++) { double w = Bicubic((x + xmin - center + 0.5) * ss); pre[x] = w; ww += w; }
            for (int x = 0; x < xmax; x++)
            {
                double v = ww != 0 ? pre[x] / ww : pre[x];
                coeffs[xx * k + x] = (int)(v < 0 ? Math.Truncate(-0.5 + v * (1 << PrecisionBits)) : Math.Truncate(0.5 + v * (1 << PrecisionBits)));
            }
            start[xx] = xmin; count[xx] = xmax;
        }
        return (start, count, coeffs, k);
    }

    private static byte Clip8(long v)
    {
        long r = v >> PrecisionBits;
        return r < 0 ? (byte)0 : r > 255 ? (byte)255 : (byte)r;
    }

    /// <summary>Bicubic resize of an interleaved 8-bit image (H*W*C) to (outH, outW). Same size: an exact copy.</summary>
    public static byte[] Bicubic(byte[] src, int width, int height, int channels, int outWidth, int outHeight)
    {
        if (src.Length != width * height * channels) throw new ArgumentException("buffer size does not match the image size");
        var cur = src; int cw = width;
        if (outWidth != width)
        {
            var (st, cnt, kk, k) = Coefficients(width, outWidth);
            var dst = new byte[outWidth * height * channels];
            for (int y = 0; y < height; y++)
            for (int xx = 0; xx < outWidth; xx++)
            for (int c = 0; c < channels; c++)
            {
                long ss = 1L << (PrecisionBits - 1);
                int row = y * width;
                for (int x = 0; x < cnt[xx]; x++) ss += (long)cur[(row + st[xx] + x) * channels + c] * kk[xx * k + x];
                dst[(y * outWidth + xx) * channels + c] = Clip8(ss);
            }
            cur = dst; cw = outWidth;
        }
        if (outHeight != height)
        {
            var (st, cnt, kk, k) = Coefficients(height, outHeight);
            var dst = new byte[cw * outHeight * channels];
            for (int yy = 0; yy < outHeight; yy++)
            for (int x = 0; x < cw; x++)
            for (int c = 0; c < channels; c++)
            {
                long ss = 1L << (PrecisionBits - 1);
                for (int y = 0; y < cnt[yy]; y++) ss += (long)cur[((st[yy] + y) * cw + x) * channels + c] * kk[yy * k + y];
                dst[(yy * cw + x) * channels + c] = Clip8(ss);
            }
            cur = dst;
        }
        return ReferenceEquals(cur, src) ? (byte[])src.Clone() : cur;
    }

    /// <summary>Nearest-neighbour resize of a single-channel 8-bit image (Pillow NEAREST).</summary>
    public static byte[] Nearest(byte[] src, int width, int height, int outWidth, int outHeight)
    {
        if (src.Length != width * height) throw new ArgumentException("buffer size does not match the image size");
        double sx = (double)width / outWidth, sy = (double)height / outHeight;
        var dst = new byte[outWidth * outHeight];
        for (int y = 0; y < outHeight; y++)
        {
            int yi = Math.Min(height - 1, (int)((y + 0.5) * sy));
            for (int x = 0; x < outWidth; x++)
                dst[y * outWidth + x] = src[yi * width + Math.Min(width - 1, (int)((x + 0.5) * sx))];
        }
        return dst;
    }
}
