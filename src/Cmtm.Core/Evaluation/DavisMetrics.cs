using System.Buffers;
using Cmtm.IO;

namespace Cmtm.Evaluation;

/// <summary>Everything <see cref="DavisMetrics.Boundary"/> computes for one frame (the F measure and its internals).</summary>
public readonly record struct BoundaryScore(double F, double Precision, double Recall, int BoundPix, long GtBoundaryPixels, long PredBoundaryPixels);

/// <summary>
/// The per-frame DAVIS measures, numerically identical to davis2017-evaluation's metrics.py
/// (<c>db_eval_iou</c>, <c>db_eval_boundary</c> / <c>f_measure</c>, <c>_seg2bmap</c>) without void pixels.
/// </summary>
public static class DavisMetrics
{
    public const double DefaultBoundTh = 0.008;

    /// <summary>J: |gt AND pred| / |gt OR pred|, 1 when the union is empty.</summary>
    public static double Iou(BinaryMask gt, BinaryMask pred)
    {
        CheckSameSize(gt, pred);
        return Iou(gt.Data, pred.Data);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static double Iou(ReadOnlySpan<byte> g, ReadOnlySpan<byte> p)
    {
        long inter = 0, union = 0;
        for (var i = 0; i < g.Length; i++)
        {
            bool a = g[i] != 0, b = p[i] != 0;
            inter += a & b ? 1 : 0;
            union += a | b ? 1 : 0;
        }
        return union == 0 ? 1.0 : (double)inter / union;
    }

    /// <summary>bound_pix = bound_th if bound_th >= 1 else ceil(bound_th * sqrt(H^2 + W^2)).</summary>
    public static int BoundPix(int height, int width, double boundTh = DefaultBoundTh)
    {
        if (boundTh >= 1)
        {
            if (boundTh != Math.Floor(boundTh)) throw new ArgumentException($"bound_th >= 1 must be a whole number of pixels, got {boundTh}");
            return (int)boundTh;
        }
        return (int)Math.Ceiling(boundTh * Math.Sqrt((double)height * height + (double)width * width));
    }

    /// <summary>
    /// The official <c>_seg2bmap</c>: b = (seg ^ east) | (seg ^ south) | (seg ^ south-east) with zeros outside the
    /// image, then the last row is overwritten with seg ^ east, the last column with seg ^ south, and the
    /// bottom-right pixel set to 0. Output is 0/1 per pixel.
    /// </summary>
    public static byte[] Seg2Bmap(BinaryMask seg)
    {
        var b = new byte[seg.Data.Length];
        Seg2Bmap(seg.Data, seg.Width, seg.Height, b);
        return b;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static long Seg2Bmap(ReadOnlySpan<byte> seg, int w, int h, Span<byte> b)
    {
        var one = System.Numerics.Vector<byte>.One;
        var vc = System.Numerics.Vector<byte>.Count;
        for (var y = 0; y < h; y++)
        {
            var row = seg.Slice(y * w, w);
            var outRow = b.Slice(y * w, w);
            if (y < h - 1)
            {
                var next = seg.Slice((y + 1) * w, w);
                var x = 0;
                if (System.Numerics.Vector.IsHardwareAccelerated)
                    for (; x + vc <= w - 1; x += vc)
                    {
                        var s0 = System.Numerics.Vector.Min(new System.Numerics.Vector<byte>(row[x..]), one);
                        var e = System.Numerics.Vector.Min(new System.Numerics.Vector<byte>(row[(x + 1)..]), one);
                        var so = System.Numerics.Vector.Min(new System.Numerics.Vector<byte>(next[x..]), one);
                        var se = System.Numerics.Vector.Min(new System.Numerics.Vector<byte>(next[(x + 1)..]), one);
                        ((s0 ^ e) | (s0 ^ so) | (s0 ^ se)).CopyTo(outRow[x..]);
                    }
                for (; x < w - 1; x++)
                {
                    var s0 = row[x] != 0;
                    var v = (s0 ^ (row[x + 1] != 0)) | (s0 ^ (next[x] != 0)) | (s0 ^ (next[x + 1] != 0));
                    outRow[x] = v ? (byte)1 : (byte)0;
                }
                // last column: seg ^ south
                outRow[w - 1] = (row[w - 1] != 0) ^ (next[w - 1] != 0) ? (byte)1 : (byte)0;
            }
            else
            {
                // last row: seg ^ east
                for (var x = 0; x < w - 1; x++)
                    outRow[x] = (row[x] != 0) ^ (row[x + 1] != 0) ? (byte)1 : (byte)0;
                outRow[w - 1] = 0; // bottom-right pixel
            }
        }
        return CountNonzero(b[..(w * h)]);
    }

    private static long CountNonzero(ReadOnlySpan<byte> b)
    {
        long n = 0;
        var i = 0;
        while ((i = IndexOfNonzero(b, i)) >= 0) { n++; i++; }
        return n;
    }

    private static int IndexOfNonzero(ReadOnlySpan<byte> b, int from)
    {
        if (from >= b.Length) return -1;
        var k = b[from..].IndexOfAnyExcept((byte)0);
        return k < 0 ? -1 : from + k;
    }

    /// <summary>Half widths of the skimage disk(r) rows: row dy spans dx in [-hw[|dy|], hw[|dy|]] (dx^2 + dy^2 &lt;= r^2).</summary>
    internal static int[] DiskHalfWidths(int r)
    {
        var hw = new int[r + 1];
        for (var dy = 0; dy <= r; dy++)
        {
            var k = 0;
            while ((long)(k + 1) * (k + 1) + (long)dy * dy <= (long)r * r) k++;
            hw[dy] = k;
        }
        return hw;
    }

    /// <summary>Number of pixels of skimage disk(r).</summary>
    public static int DiskArea(int r) => DiskHalfWidths(r).Select((k, dy) => (2 * k + 1) * (dy == 0 ? 1 : 2)).Sum();

    /// <summary>
    /// F: the boundary F-measure of <paramref name="pred"/> against <paramref name="gt"/> (official
    /// <c>db_eval_boundary(gt, pred)</c> -> <c>f_measure(pred, gt)</c>), including precision, recall and the
    /// special cases for empty boundaries. The cv2.dilate with the disk kernel is evaluated exactly but
    /// without materialising the dilation: a boundary pixel matches when some boundary pixel of the other
    /// mask lies inside the disk around it, answered per disk row from row prefix sums.
    /// </summary>
    public static BoundaryScore Boundary(BinaryMask gt, BinaryMask pred, double boundTh = DefaultBoundTh)
    {
        CheckSameSize(gt, pred);
        return Boundary(gt.Data, pred.Data, gt.Width, gt.Height, boundTh);
    }

    internal static BoundaryScore Boundary(ReadOnlySpan<byte> gt, ReadOnlySpan<byte> pred, int w, int h, double boundTh)
    {
        var boundPix = BoundPix(h, w, boundTh);
        var n = w * h;
        var pool = ArrayPool<byte>.Shared;
        var gtB = pool.Rent(n);
        var fgB = pool.Rent(n);
        try
        {
            Seg2Bmap(gt, w, h, gtB);
            Seg2Bmap(pred, w, h, fgB);
            var gtRows = new SparseRows(gtB, w, h);
            var fgRows = new SparseRows(fgB, w, h);
            long nGt = gtRows.Count, nFg = fgRows.Count;
            double precision, recall;
            if (nFg == 0 && nGt > 0) { precision = 1; recall = 0; }
            else if (nFg > 0 && nGt == 0) { precision = 0; recall = 1; }
            else if (nFg == 0 && nGt == 0) { precision = 1; recall = 1; }
            else
            {
                var hw = DiskHalfWidths(boundPix);
                long fgMatch = CountMatched(fgRows, gtRows, h, hw);
                long gtMatch = CountMatched(gtRows, fgRows, h, hw);
                precision = fgMatch / (double)nFg;
                recall = gtMatch / (double)nGt;
            }
            var f = precision + recall == 0 ? 0.0 : 2 * precision * recall / (precision + recall);
            return new BoundaryScore(f, precision, recall, boundPix, nGt, nFg);
        }
        finally
        {
            pool.Return(gtB);
            pool.Return(fgB);
        }
    }

    /// <summary>The set pixels of a 0/1 map as sorted column lists per row (CSR layout).</summary>
    private sealed class SparseRows
    {
        public readonly int[] RowStart;
        public readonly int[] Xs;
        public int Count => Xs.Length;

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public SparseRows(byte[] map, int w, int h)
        {
            RowStart = new int[h + 1];
            var xs = new List<int>();
            for (var y = 0; y < h; y++)
            {
                RowStart[y] = xs.Count;
                var row = map.AsSpan(y * w, w);
                var x = 0;
                while ((x = IndexOfNonzero(row, x)) >= 0) { xs.Add(x); x++; }
            }
            RowStart[h] = xs.Count;
            Xs = xs.ToArray();
        }

        public ReadOnlySpan<int> Row(int y) => Xs.AsSpan(RowStart[y], RowStart[y + 1] - RowStart[y]);
    }

    /// <summary>
    /// Counts pixels of <paramref name="a"/> that have a pixel of <paramref name="other"/> inside the skimage disk
    /// around them, i.e. |a AND cv2.dilate(other, disk)|: per disk row, a binary search in the other map's row.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static long CountMatched(SparseRows a, SparseRows other, int h, int[] hw)
    {
        var r = hw.Length - 1;
        long matched = 0;
        for (var y = 0; y < h; y++)
        {
            var xsA = a.Row(y);
            if (xsA.IsEmpty) continue;
            var y0 = Math.Max(0, y - r);
            var y1 = Math.Min(h - 1, y + r);
            foreach (var x in xsA)
            {
                for (var yy = y0; yy <= y1; yy++)
                {
                    var xsB = other.Row(yy);
                    if (xsB.IsEmpty) continue;
                    var k = hw[Math.Abs(yy - y)];
                    var lo = xsB.BinarySearch(x - k);
                    if (lo < 0) lo = ~lo;
                    if (lo < xsB.Length && xsB[lo] <= x + k) { matched++; break; }
                }
            }
        }
        return matched;
    }

    private static void CheckSameSize(BinaryMask a, BinaryMask b)
    {
        if (a.Width != b.Width || a.Height != b.Height)
            throw new ArgumentException($"mask sizes differ: {a.SizeText} vs {b.SizeText}");
    }
}
