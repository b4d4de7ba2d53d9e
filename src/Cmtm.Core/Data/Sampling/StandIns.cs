// TEMPORARY stand-ins for code that other helpers are landing on main (PngMask/PngCodec and the metrics of
// Cmtm.Evaluation, SafeTensors of Cmtm.IO.Checkpoints). Everything here is internal and is deleted once those
// land; callers use only these narrow entry points so switching is a one-line change per call site.
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Cmtm.IO;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Cmtm.Data.Sampling;

/// <summary>Stand-in for Cmtm.IO.PngMask: DAVIS palette PNG writing, mask reading as palette indices / gray levels.</summary>
internal static class MaskPng
{
    private static readonly byte[] Palette = BuildDavisPalette();

    private static byte[] BuildDavisPalette()
    {
        var p = new byte[256 * 3];
        for (int i = 0; i < 256; i++)
        {
            int r = 0, g = 0, b = 0, c = i;
            for (int j = 0; j < 8; j++)
            {
                r |= ((c >> 0) & 1) << (7 - j); g |= ((c >> 1) & 1) << (7 - j); b |= ((c >> 2) & 1) << (7 - j);
                c >>= 3;
            }
            p[3 * i] = (byte)r; p[3 * i + 1] = (byte)g; p[3 * i + 2] = (byte)b;
        }
        return p;
    }

    /// <summary>Writes an 8-bit palette PNG (DAVIS palette) of the given indices, atomically.</summary>
    public static void WriteIndexed(string path, byte[] indices, int width, int height)
    {
        using var ms = new MemoryStream();
        ms.Write(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 });
        var ihdr = new byte[13];
        BigEndian(ihdr, 0, (uint)width); BigEndian(ihdr, 4, (uint)height);
        ihdr[8] = 8; ihdr[9] = 3; // 8-bit, palette
        Chunk(ms, "IHDR", ihdr);
        Chunk(ms, "PLTE", Palette);
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
            for (int y = 0; y < height; y++) { z.WriteByte(0); z.Write(indices, y * width, width); }
        Chunk(ms, "IDAT", raw.ToArray());
        Chunk(ms, "IEND", Array.Empty<byte>());
        AtomicFile.WriteAllBytes(path, ms.ToArray());
    }

    private static void BigEndian(byte[] b, int o, uint v) { b[o] = (byte)(v >> 24); b[o + 1] = (byte)(v >> 16); b[o + 2] = (byte)(v >> 8); b[o + 3] = (byte)v; }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var len = new byte[4]; BigEndian(len, 0, (uint)data.Length);
        var td = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        var crc = new byte[4]; BigEndian(crc, 0, Crc32(td));
        s.Write(len); s.Write(td); s.Write(crc);
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    private static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>
    /// Reads a mask as 8-bit labels: palette PNGs (decoded by OpenCV to colours) are mapped back to DAVIS palette
    /// indices (unknown colours -&gt; 1); grayscale images return their gray levels.
    /// </summary>
    public static (byte[] Labels, int Width, int Height, bool Gray) Read(string path)
    {
        if (!File.Exists(path)) throw new CmtmException(path, "mask file not found");
        using var mat = Cv2.ImDecode(File.ReadAllBytes(path), ImreadModes.Unchanged);
        if (mat.Empty()) throw new CmtmException(path, "not a readable mask image");
        int w = mat.Cols, h = mat.Rows, ch = mat.Channels();
        if (mat.Depth() != MatType.CV_8U) throw new CmtmException(path, "mask is not 8-bit");
        using var cont = mat.Clone();
        var px = new byte[w * h * ch];
        System.Runtime.InteropServices.Marshal.Copy(cont.Data, px, 0, px.Length);
        var labels = new byte[w * h];
        if (ch == 1) { Array.Copy(px, labels, labels.Length); return (labels, w, h, true); }
        var lookup = new Dictionary<int, byte>();
        for (int i = 255; i >= 0; i--) lookup[(Palette[3 * i] << 16) | (Palette[3 * i + 1] << 8) | Palette[3 * i + 2]] = (byte)i;
        for (int i = 0; i < w * h; i++)
        {
            int b = px[ch * i], g = px[ch * i + 1], r = px[ch * i + 2];
            labels[i] = lookup.TryGetValue((r << 16) | (g << 8) | b, out var idx) ? idx : (byte)1;
        }
        return (labels, w, h, false);
    }
}

/// <summary>Stand-in for Cmtm.Evaluation: J, F (davis2017-evaluation definitions) on binary masks.</summary>
internal static class MaskMetrics
{
    public static double J(byte[] pred, byte[] gt)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < pred.Length; i++) { bool p = pred[i] != 0, g = gt[i] != 0; if (p && g) inter++; if (p || g) union++; }
        return union == 0 ? 1.0 : (double)inter / union;
    }

    public static double F(byte[] pred, byte[] gt, int w, int h, double boundTh = 0.008)
    {
        int r = boundTh >= 1 ? (int)boundTh : (int)Math.Ceiling(boundTh * Math.Sqrt((double)h * h + (double)w * w));
        var fb = Boundary(pred, w, h); var gb = Boundary(gt, w, h);
        var fd = Dilate(fb, w, h, r); var gd = Dilate(gb, w, h, r);
        long nf = fb.Count(b => b), ng = gb.Count(b => b), fMatch = 0, gMatch = 0;
        for (int i = 0; i < fb.Length; i++) { if (fb[i] && gd[i]) fMatch++; if (gb[i] && fd[i]) gMatch++; }
        double precision, recall;
        if (nf == 0 && ng > 0) { precision = 1; recall = 0; }
        else if (nf > 0 && ng == 0) { precision = 0; recall = 1; }
        else if (nf == 0 && ng == 0) { precision = 1; recall = 1; }
        else { precision = (double)fMatch / nf; recall = (double)gMatch / ng; }
        return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
    }

    private static bool[] Boundary(byte[] seg, int w, int h)
    {
        bool S(int y, int x) => y < h && x < w && seg[y * w + x] != 0;
        var b = new bool[w * h];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            bool s = S(y, x);
            b[y * w + x] = (s ^ S(y, x + 1)) || (s ^ S(y + 1, x)) || (s ^ S(y + 1, x + 1));
        }
        for (int x = 0; x < w; x++) b[(h - 1) * w + x] = S(h - 1, x) ^ S(h - 1, x + 1);
        for (int y = 0; y < h; y++) b[y * w + w - 1] = S(y, w - 1) ^ S(y + 1, w - 1);
        b[(h - 1) * w + w - 1] = false;
        return b;
    }

    private static bool[] Dilate(bool[] m, int w, int h, int r)
    {
        var offs = new List<(int, int)>();
        for (int dy = -r; dy <= r; dy++) for (int dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) offs.Add((dy, dx));
        var o = new bool[m.Length];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            if (!m[y * w + x]) continue;
            foreach (var (dy, dx) in offs)
            {
                int yy = y + dy, xx = x + dx;
                if (yy >= 0 && yy < h && xx >= 0 && xx < w) o[yy * w + xx] = true;
            }
        }
        return o;
    }
}

/// <summary>Stand-in for Cmtm.IO.Checkpoints.SafeTensors (F32/F64/I64 only).</summary>
internal static class SafeTensorsLite
{
    public static void Write(string path, IEnumerable<(string Key, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.Select(t => (t.Key, T: t.Tensor.detach().cpu().contiguous())).ToList();
        var header = new Dictionary<string, object>();
        if (metadata != null) header["__metadata__"] = metadata;
        long offset = 0;
        var blobs = new List<byte[]>();
        foreach (var (key, t) in items)
        {
            var dt = t.dtype switch { ScalarType.Float32 => "F32", ScalarType.Float64 => "F64", ScalarType.Int64 => "I64", _ => throw new NotSupportedException(t.dtype.ToString()) };
            var bytes = t.bytes.ToArray();
            header[key] = new Dictionary<string, object> { ["dtype"] = dt, ["shape"] = t.shape, ["data_offsets"] = new[] { offset, offset + bytes.Length } };
            offset += bytes.Length;
            blobs.Add(bytes);
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        AtomicFile.Write(path, s =>
        {
            s.Write(BitConverter.GetBytes((ulong)json.Length));
            s.Write(json);
            foreach (var b in blobs) s.Write(b);
        });
        foreach (var (_, t) in items) t.Dispose();
    }

    public static Cmtm.IO.Checkpoints.StateDict Read(string path, out Dictionary<string, string> metadata)
    {
        var all = File.ReadAllBytes(path);
        if (all.Length < 8) throw new CmtmException(path, "not a safetensors file (too short)");
        ulong n = BitConverter.ToUInt64(all, 0);
        if (n > (ulong)all.Length - 8) throw new CmtmException(path, "not a safetensors file (bad header length)");
        using var doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(all, 8, (int)n));
        metadata = new Dictionary<string, string>();
        var sd = new Cmtm.IO.Checkpoints.StateDict { Source = path };
        long dataStart = 8 + (long)n;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") { foreach (var m in p.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString()!; continue; }
            var dt = p.Value.GetProperty("dtype").GetString() switch { "F32" => ScalarType.Float32, "F64" => ScalarType.Float64, "I64" => ScalarType.Int64, var d => throw new CmtmException(path, $"unsupported dtype {d}") };
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offs = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var t = empty(shape, dt);
            t.bytes = new Span<byte>(all, (int)(dataStart + offs[0]), (int)(offs[1] - offs[0]));
            sd.Add(p.Name, t);
        }
        return sd;
    }
}
