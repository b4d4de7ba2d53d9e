namespace Cmtm.Evaluation;

/// <summary>Mean, recall and decay of a per-frame measure (official <c>utils.db_statistics</c>).</summary>
public readonly record struct SequenceStatistics(double Mean, double Recall, double Decay);

public static class DavisStatistics
{
    /// <summary>
    /// davis2017 <c>db_statistics</c>, reproduced literally:
    /// M = nanmean(x); O = nanmean(x &gt; 0.5) (a NaN frame counts as "not above 0.5");
    /// D = nanmean(bin 1) - nanmean(bin 4) with bin k = x[ids[k] : ids[k+1] + 1] and
    /// ids = uint8(round(linspace(1, n, 5) + 1e-10) - 1) (np.round is half-to-even; the 1e-10 pushes .5 up).
    /// The uint8 cast (and uint8 + 1) wrap modulo 256 exactly as numpy does, which only matters for n &gt; 255.
    /// Empty input gives NaN for all three.
    /// </summary>
    public static SequenceStatistics Compute(ReadOnlySpan<double> x)
    {
        var n = x.Length;
        var mean = NanMean(x);
        var recall = double.NaN;
        if (n > 0)
        {
            var above = 0;
            foreach (var v in x) if (v > 0.5) above++;
            recall = above / (double)n;
        }
        var ids = DecayBinEdges(n);
        var d0 = NanMean(Slice(x, ids[0], (byte)(ids[1] + 1)));
        var d3 = NanMean(Slice(x, ids[3], (byte)(ids[4] + 1)));
        return new SequenceStatistics(mean, recall, d0 - d3);
    }

    /// <summary>ids = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.uint8).</summary>
    public static byte[] DecayBinEdges(int n)
    {
        var ids = new byte[5];
        var step = (n - 1) / 4.0; // numpy linspace: i * step + start, last element set to stop exactly
        for (var i = 0; i < 5; i++)
        {
            var v = i == 4 ? n : i * step + 1.0;
            var r = Math.Round(v + 1e-10, MidpointRounding.ToEven) - 1;
            ids[i] = unchecked((byte)(long)r);
        }
        return ids;
    }

    private static ReadOnlySpan<double> Slice(ReadOnlySpan<double> x, int start, int end)
    {
        start = Math.Min(start, x.Length);
        end = Math.Min(end, x.Length);
        return end <= start ? ReadOnlySpan<double>.Empty : x[start..end];
    }

    /// <summary>Mean over non-NaN values; NaN when there are none.</summary>
    public static double NanMean(ReadOnlySpan<double> x)
    {
        double s = 0;
        var c = 0;
        foreach (var v in x)
        {
            if (double.IsNaN(v)) continue;
            s += v;
            c++;
        }
        return c == 0 ? double.NaN : s / c;
    }
}
