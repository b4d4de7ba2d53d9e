using static TorchSharp.torch;

namespace Cmtm.Flow;

/// <summary>How a flow tensor is laid out.</summary>
public enum FlowLayout
{
    /// <summary>(2,H,W) or (1,2,H,W) channels-first; (H,W,2) channels-last; inferred from the shape.</summary>
    Auto,
    /// <summary>(2,H,W) or (1,2,H,W), as RAFT returns it.</summary>
    ChannelsFirst,
    /// <summary>(H,W,2), as numpy / .flo files hold it.</summary>
    ChannelsLast,
}

/// <summary>
/// Optical flow to RGB colours exactly as RAFT's <c>core/utils/flow_viz.py</c> <c>flow_to_image</c>
/// (Middlebury colour wheel with 55 hues, per-image normalisation by the maximum magnitude + 1e-5,
/// clip_flow None, RGB order). The arithmetic follows numpy 1.x promotion step by step so the bytes match:
/// u, v, the magnitude, atan2 and fk are float32; <c>rad_max + 1e-5</c> is a float64 scalar (scalar + Python
/// float) that numpy casts back to float32 for the array division; <c>f = fk - k0</c> (float32 - int32) and
/// the colour interpolation are float64; the result is <c>floor(255 * col)</c>.
/// The angle is <c>atan2(-v, -u)</c> with a true unary minus so that +0.0 becomes -0.0 (angle -pi, hue 0).
/// </summary>
public static class FlowColor
{
    public const int WheelSize = 55;

    /// <summary>The Middlebury wheel: 55 rows of (R,G,B) in 0..255 (RY 15, YG 6, GC 4, CB 11, BM 13, MR 6).</summary>
    public static IReadOnlyList<(byte R, byte G, byte B)> Wheel => WheelRows;

    private static readonly (byte R, byte G, byte B)[] WheelRows = MakeWheel();

    // Per-channel wheel divided by 255.0 (float64, as `tmp[k0] / 255.0`).
    private static readonly double[][] WheelUnit =
    {
        WheelRows.Select(c => c.R / 255.0).ToArray(),
        WheelRows.Select(c => c.G / 255.0).ToArray(),
        WheelRows.Select(c => c.B / 255.0).ToArray(),
    };

    private static (byte, byte, byte)[] MakeWheel()
    {
        const int RY = 15, YG = 6, GC = 4, CB = 11, BM = 13, MR = 6;
        var w = new double[WheelSize, 3];
        static double Ramp(int i, int n) => Math.Floor(255.0 * i / n); // np.floor(255*np.arange(0,n)/n)
        int col = 0;
        for (int i = 0; i < RY; i++) { w[col + i, 0] = 255; w[col + i, 1] = Ramp(i, RY); }
        col += RY;
        for (int i = 0; i < YG; i++) { w[col + i, 0] = 255 - Ramp(i, YG); w[col + i, 1] = 255; }
        col += YG;
        for (int i = 0; i < GC; i++) { w[col + i, 1] = 255; w[col + i, 2] = Ramp(i, GC); }
        col += GC;
        for (int i = 0; i < CB; i++) { w[col + i, 1] = 255 - Ramp(i, CB); w[col + i, 2] = 255; }
        col += CB;
        for (int i = 0; i < BM; i++) { w[col + i, 2] = 255; w[col + i, 0] = Ramp(i, BM); }
        col += BM;
        for (int i = 0; i < MR; i++) { w[col + i, 2] = 255 - Ramp(i, MR); w[col + i, 0] = 255; }
        var rows = new (byte, byte, byte)[WheelSize];
        for (int k = 0; k < WheelSize; k++) rows[k] = ((byte)w[k, 0], (byte)w[k, 1], (byte)w[k, 2]);
        return rows;
    }

    /// <summary>Colours a flow given as separate planes u (horizontal) and v (vertical), each H*W row-major.
    /// Returns H*W*3 bytes (RGB, row-major).</summary>
    public static byte[] ToRgb(ReadOnlySpan<float> u, ReadOnlySpan<float> v, int height, int width)
    {
        var dst = new byte[checked(height * width * 3)];
        ToRgb(u, v, 1, height, width, dst);
        return dst;
    }

    /// <summary>Colours an interleaved (H,W,2) flow (u then v per pixel, the .flo / numpy layout).
    /// Returns H*W*3 bytes (RGB, row-major).</summary>
    public static byte[] ToRgb(ReadOnlySpan<float> flowHw2, int height, int width)
    {
        var dst = new byte[checked(height * width * 3)];
        ToRgb(flowHw2, height, width, dst);
        return dst;
    }

    /// <summary>Colours an interleaved (H,W,2) flow into <paramref name="rgb"/> (H*W*3 bytes).</summary>
    public static void ToRgb(ReadOnlySpan<float> flowHw2, int height, int width, Span<byte> rgb)
    {
        int n = checked(height * width);
        if (flowHw2.Length != 2 * n) throw new ArgumentException($"flow has {flowHw2.Length} values, expected {2 * n} for {height}x{width}x2");
        ToRgb(flowHw2, flowHw2[1..], 2, height, width, rgb);
    }

    /// <summary>
    /// Colours a flow tensor: (H,W,2), (2,H,W) or (1,2,H,W), any float dtype/device (computed in float32 on
    /// the CPU). Returns a uint8 (H,W,3) RGB tensor.
    /// </summary>
    public static Tensor ToRgb(Tensor flow, FlowLayout layout = FlowLayout.Auto)
    {
        using var scope = NewDisposeScope();
        var hw2 = AsHw2(flow, layout).to(ScalarType.Float32).cpu().contiguous();
        int h = (int)hw2.shape[0], w = (int)hw2.shape[1];
        var values = hw2.data<float>().ToArray();
        var rgb = ToRgb(values, h, w);
        var result = tensor(rgb, new long[] { h, w, 3 }, ScalarType.Byte);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Returns a (H,W,2) view of a flow tensor in any supported layout.</summary>
    public static Tensor AsHw2(Tensor flow, FlowLayout layout = FlowLayout.Auto)
    {
        var t = flow;
        if (t.dim() == 4)
        {
            if (t.shape[0] != 1 || t.shape[1] != 2) throw new ArgumentException($"4-D flow must be (1,2,H,W), got ({string.Join(",", t.shape)})");
            if (layout == FlowLayout.ChannelsLast) throw new ArgumentException("4-D flow is channels-first");
            using var single = t[0];
            return single.permute(1, 2, 0);
        }
        if (t.dim() != 3) throw new ArgumentException($"flow must be (H,W,2), (2,H,W) or (1,2,H,W), got ({string.Join(",", t.shape)})");
        bool first = t.shape[0] == 2, last = t.shape[2] == 2;
        if (layout == FlowLayout.Auto)
        {
            if (first && last) throw new ArgumentException($"flow shape ({string.Join(",", t.shape)}) is ambiguous; pass the layout");
            if (!first && !last) throw new ArgumentException($"flow shape ({string.Join(",", t.shape)}) has no channel axis of size 2");
            layout = first ? FlowLayout.ChannelsFirst : FlowLayout.ChannelsLast;
        }
        if (layout == FlowLayout.ChannelsFirst)
        {
            if (!first) throw new ArgumentException($"channels-first flow must be (2,H,W), got ({string.Join(",", t.shape)})");
            return t.permute(1, 2, 0);
        }
        if (!last) throw new ArgumentException($"channels-last flow must be (H,W,2), got ({string.Join(",", t.shape)})");
        return t.alias();
    }

    /// <summary>Core: u[i*stride], v[i*stride] for pixel i.</summary>
    private static void ToRgb(ReadOnlySpan<float> u, ReadOnlySpan<float> v, int stride, int height, int width, Span<byte> rgb)
    {
        int n = checked(height * width);
        if (rgb.Length != 3 * n) throw new ArgumentException($"output has {rgb.Length} bytes, expected {3 * n}");
        if (u.Length < (n - 1) * stride + 1 || v.Length < (n - 1) * stride + 1)
            throw new ArgumentException($"flow planes are shorter than {height}x{width}");
        if (n == 0) return;

        // rad = sqrt(u^2 + v^2) in float32; rad_max = np.max(rad) (NaN propagates, as np.max does).
        float radMax = float.NegativeInfinity;
        bool nan = false;
        for (int i = 0; i < n; i++)
        {
            float uu = u[i * stride], vv = v[i * stride];
            float r = MathF.Sqrt(uu * uu + vv * vv);
            if (float.IsNaN(r)) nan = true;
            else if (r > radMax) radMax = r;
        }
        if (nan) radMax = float.NaN;
        // np.float32 scalar + 1e-5 -> float64 scalar (numpy 1.x); the float32 array / float64 scalar divides in float32.
        float denom = (float)((double)radMax + 1e-5);
        float pi = (float)Math.PI; // np.float32 / np.pi is a float32 division by float32(pi)
        const int ncols = WheelSize;
        var w0 = WheelUnit[0]; var w1 = WheelUnit[1]; var w2 = WheelUnit[2];

        for (int i = 0; i < n; i++)
        {
            float un = u[i * stride] / denom;
            float vn = v[i * stride] / denom;
            float rad = MathF.Sqrt(un * un + vn * vn);
            float a = MathF.Atan2(-vn, -un) / pi;          // unary minus: +0.0 -> -0.0
            float fk = (a + 1f) / 2f * (ncols - 1);
            int k0, k1;
            double f;
            if (float.IsNaN(fk))
            {
                // numpy: floor(nan).astype(int32) is INT_MIN -> tmp[k0] wraps; colour is NaN and uint8(NaN) is 0.
                for (int c = 0; c < 3; c++) rgb[3 * i + c] = 0;
                continue;
            }
            k0 = (int)MathF.Floor(fk);
            k1 = k0 + 1;
            if (k1 == ncols) k1 = 0;
            f = (double)fk - k0;
            bool inRange = rad <= 1f;
            for (int c = 0; c < 3; c++)
            {
                var wheel = c == 0 ? w0 : c == 1 ? w1 : w2;
                double col = (1 - f) * wheel[k0] + f * wheel[k1];
                col = inRange ? 1 - rad * (1 - col) : col * 0.75;
                rgb[3 * i + c] = (byte)Math.Floor(255 * col);
            }
        }
    }
}
