using static TorchSharp.torch;

namespace Cmtm.Model;

/// <summary>
/// The fixed 2-D sine-cosine table of the official code (MAE style): for token n = r*G + c the first D/2
/// dims encode the COLUMN c, the last D/2 the ROW r; each half is [sin(p*w_k), cos(p*w_k)] with
/// w_k = 1/10000^(k/(D/4)). Computed in float64, returned as float32 (1, G*G, D).
/// </summary>
public static class PositionalEmbedding
{
    public static Tensor SinCos2D(int dim, int grid)
    {
        if (dim % 4 != 0) throw new ArgumentException($"embedding dim {dim} must be divisible by 4");
        int quarter = dim / 4, half = dim / 2;
        var omega = new double[quarter];
        for (int k = 0; k < quarter; k++) omega[k] = 1.0 / Math.Pow(10000.0, k / (double)quarter);
        var table = new float[grid * grid * dim];
        for (int r = 0; r < grid; r++)
            for (int c = 0; c < grid; c++)
            {
                int baseIdx = (r * grid + c) * dim;
                for (int k = 0; k < quarter; k++)
                {
                    double pc = c * omega[k], pr = r * omega[k];
                    table[baseIdx + k] = (float)Math.Sin(pc);
                    table[baseIdx + quarter + k] = (float)Math.Cos(pc);
                    table[baseIdx + half + k] = (float)Math.Sin(pr);
                    table[baseIdx + half + quarter + k] = (float)Math.Cos(pr);
                }
            }
        using var flat = tensor(table);
        return flat.view(1, grid * grid, dim);
    }
}
