using Cmtm.Model;

namespace Cmtm.Benchmarking;

/// <summary>
/// Floating-point operations of one frame (multiply-add = 2 FLOP), counted from the layer shapes: convolutions, linear
/// layers and the two attention products. Normalisations, activations, pooling and resizes are not counted (the
/// convention of the performance issue's table).
/// </summary>
public static class FlopCount
{
    public sealed record Breakdown(double Encoders, double Modulator, double Decoder)
    {
        public double Total => Encoders + Modulator + Decoder;
    }

    private static double Conv(long cin, long cout, long k, long outPixels, long groups = 1) => 2.0 * cin / groups * k * k * cout * outPixels;
    private static double Linear(long tokens, long cin, long cout) => 2.0 * tokens * cin * cout;

    /// <summary>One MiT encoder at a square input of side <paramref name="res"/>.</summary>
    public static double Encoder(MitConfig c, int res)
    {
        double f = 0;
        long side = res, cin = 3;
        for (int i = 0; i < 4; i++)
        {
            side /= MitConfig.Strides[i];
            long n = side * side, dim = c.Dims[i], r = c.SrRatios[i], m = n / (r * r);
            f += Conv(cin, dim, MitConfig.PatchSizes[i], n);
            double block = Linear(n, dim, dim)                        // query
                + (r > 1 ? Conv(dim, dim, r, m) : 0)                    // spatial reduction
                + 2 * Linear(m, dim, dim)                               // key, value
                + 2 * 2.0 * n * m * dim                                 // q k^T and attn v
                + Linear(n, dim, dim)                                   // output projection
                + Linear(n, dim, 4 * dim) + Conv(4 * dim, 4 * dim, 3, n, 4 * dim) + Linear(n, 4 * dim, dim); // Mix-FFN
            f += block * c.Depths[i];
            cin = dim;
        }
        return f;
    }

    public static double Modulator(ModelConfig cfg)
    {
        if (cfg.Architecture != Architecture.Cmtm) return 0;
        long d = cfg.ModulatorDim, t = cfg.TokensPerModality;
        bool both = cfg.Modulator.Streams == ModulatorStreams.Both;
        long l = both ? 2 * t + 2 : t + 1;
        double block = Linear(l, d, 3 * d) + 2 * 2.0 * l * l * d + Linear(l, d, d) + Linear(l, d, 4 * d) + Linear(l, 4 * d, d);
        return block * cfg.Modulator.Depth + Linear(l, d, d);
    }

    public static double Decoder(ModelConfig cfg)
    {
        int r = cfg.Resolution;
        var dims = cfg.Backbone.Dims;
        double Cbam(long px) => Conv(256, 256, 3, px) + 2 * 2 * Linear(1, 256, 256) + Conv(2, 16, 3, px) + Conv(16, 1, 3, px);
        long p32 = (long)(r / 32) * (r / 32), p16 = 4 * p32, p8 = 4 * p16, p4 = 4 * p8;
        double f = Conv(dims[3], 256, 1, p32) + Conv(256, 256, 3, p32) + Cbam(p32);
        f += Conv(dims[2], 256, 1, p16) + Conv(512, 256, 3, p16) + Cbam(p16);
        f += Conv(dims[1], 256, 1, p8) + Conv(512, 256, 3, p8) + Cbam(p8);
        f += Conv(dims[0], 256, 1, p4) + Conv(512, 256, 3, p4) + Cbam(p4) + Conv(256, 2, 3, p4);
        if (cfg.Architecture == Architecture.Cmtm) f += 2 * Conv(dims[2], dims[2], 1, p16);
        return f;
    }

    public static Breakdown For(ModelConfig cfg) => new(2 * Encoder(cfg.Backbone, cfg.Resolution), Modulator(cfg), Decoder(cfg));
}
