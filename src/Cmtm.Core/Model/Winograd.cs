using Cmtm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Model;

/// <summary>
/// 3x3 convolution (stride 1, padding 1) by Winograd's minimal filtering F(4x4, 3x3) (Lavin &amp; Gray 2016): the input is
/// cut into overlapping 6x6 tiles (stride 4), each tile and each 3x3 filter is transformed to 36 "frequency" components,
/// the convolution becomes 36 independent matrix products (tiles x Cin) @ (Cin x Cout), and each product's 36
/// components are transformed back into a 4x4 output block. That is 4x fewer multiplications than direct convolution;
/// on the project's 2-core CPU the FakeFlow decoder's 256-channel convolutions at 32..128 px run 1.4-1.9x faster than
/// libtorch's oneDNN kernel (measured). Used for inference only (no gradient); the result equals the direct conv within
/// float32 rounding (measured max error 1.3-1.8e-5 against a float64 reference for outputs of magnitude ~2, direct
/// oneDNN 3-5e-6; parity tests run through it).
/// </summary>
public static class Winograd
{
    // Lavin & Gray's F(4x4, 3x3) matrices (interpolation points 0, +-1, +-2, infinity)
    private static readonly double[] Bt =
    {
        4, 0, -5, 0, 1, 0,
        0, -4, -4, 1, 1, 0,
        0, 4, -4, -1, 1, 0,
        0, -2, -1, 2, 1, 0,
        0, 2, -1, -2, 1, 0,
        0, 4, 0, -5, 0, 1,
    };
    private static readonly double[] G =
    {
        1 / 4.0, 0, 0,
        -1 / 6.0, -1 / 6.0, -1 / 6.0,
        -1 / 6.0, 1 / 6.0, -1 / 6.0,
        1 / 24.0, 1 / 12.0, 1 / 6.0,
        1 / 24.0, -1 / 12.0, 1 / 6.0,
        0, 0, 1,
    };
    private static readonly double[] At =
    {
        1, 1, 1, 1, 1, 0,
        0, 1, -1, 2, -2, 0,
        0, 1, 1, 4, 4, 0,
        0, 1, -1, 8, -8, 1,
    };

    /// <summary>Both-sided transforms as one matrix on the flattened tile: kron(M, M), rows (i,j), columns (k,l).</summary>
    private static float[] Kron(double[] m, int rows, int cols)
    {
        var k = new float[rows * rows * cols * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < rows; j++)
                for (int a = 0; a < cols; a++)
                    for (int b = 0; b < cols; b++)
                        k[(i * rows + j) * cols * cols + a * cols + b] = (float)(m[i * cols + a] * m[j * cols + b]);
        return k;
    }

    private static readonly float[] InputTransform = Kron(Bt, 6, 6);   // 36 x 36
    private static readonly float[] FilterTransform = Kron(G, 6, 3);   // 36 x 9
    private static readonly float[] OutputTransform = Kron(At, 4, 6);  // 16 x 36

    /// <summary>Floats of one chunk's transformed input (36 x tiles x Cin): bounds the working memory to a few 8 MB
    /// buffers besides the output and the transformed filters (speed measured flat from 2M to 8M floats).</summary>
    private const long ChunkFloats = 2L << 20;

    /// <summary>Whether <see cref="Conv3x3"/> is used for a conv (where it is faster than oneDNN, measured): 3x3, stride 1,
    /// padding 1, one group, float32, both channel counts at least 64, a feature map of at least 16x16, and no gradient
    /// (inference).</summary>
    public static bool Applies(Tensor x, Tensor weight, long stride, long padding, long groups) =>
        weight.dim() == 4 && weight.shape[2] == 3 && weight.shape[3] == 3 && stride == 1 && padding == 1 && groups == 1
        && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && weight.shape[0] >= 64 && weight.shape[1] >= 64
        && x.shape[2] >= 16 && x.shape[3] >= 16 && NoGradient.For(x, weight);

    /// <summary>x (B,Cin,H,W) in any memory layout, weight (Cout,Cin,3,3), bias (Cout) or null -> (B,Cout,H,W), channels-last.</summary>
    public static Tensor Conv3x3(Tensor x, Tensor weight, Tensor? bias)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3], co = weight.shape[0];
        if (weight.shape[1] != c) throw new ArgumentException($"conv weight expects {weight.shape[1]} input channels, got {c}");
        var dev = x.device;
        // U = (G (x) G) vec(g): (36, Cout, Cin), used transposed as (36, Cin, Cout)
        var u = tensor(FilterTransform, device: dev).view(36, 9).matmul(weight.reshape(co * c, 9).t()).view(36, co, c).transpose(1, 2);
        var bt = tensor(InputTransform, device: dev).view(36, 36);
        var at = tensor(OutputTransform, device: dev).view(16, 36);

        long th = (h + 3) / 4, tw = (w + 3) / 4;   // 4x4 output blocks
        var nhwc = x.permute(0, 2, 3, 1);
        var y = empty(new long[] { b, 4 * th, 4 * tw, co }, device: dev);
        long rowsPerChunk = Math.Max(1, ChunkFloats / (36 * b * tw * Math.Max(c, co)));
        for (long r0 = 0; r0 < th; r0 += rowsPerChunk)
        {
            using var chunk = NewDisposeScope();
            long rr = Math.Min(rowsPerChunk, th - r0), tiles = b * rr * tw;
            // input rows 4*r0-1 .. 4*(r0+rr)+1 (6x6 tiles of stride 4 over the zero-padded map), padded for this chunk only
            long top = 4 * r0 - 1, first = Math.Max(0, top), last = Math.Min(h, 4 * (r0 + rr) + 1);
            var rows = nn.functional.pad(nhwc.narrow(1, first, last - first),
                new long[] { 0, 0, 1, 1 + 4 * tw - w, first - top, 4 * (r0 + rr) + 1 - last }).contiguous(); // (B, 4rr+2, 4tw+2, C)
            long sB = rows.stride(0), sH = rows.stride(1), sW = rows.stride(2);
            var d = rows.as_strided(new long[] { b, rr, tw, 6, 6, c }, new long[] { sB, 4 * sH, 4 * sW, sH, sW, 1 })
                .permute(3, 4, 0, 1, 2, 5).reshape(36, tiles * c);
            var v = bt.matmul(d).view(36, tiles, c);
            var m = v.bmm(u);                                                  // (36, tiles, Cout)
            var o = at.matmul(m.view(36, tiles * co)).view(4, 4, b, rr, tw, co); // (i, j, b, row, col, Cout)
            y.narrow(1, 4 * r0, 4 * rr).copy_(o.permute(2, 3, 0, 4, 1, 5).reshape(b, 4 * rr, 4 * tw, co));
        }
        if (bias is not null) y.add_(bias, Scalars.Int1);
        return y.narrow(1, 0, h).narrow(2, 0, w).permute(0, 3, 1, 2).MoveToOuterDisposeScope();
    }
}
