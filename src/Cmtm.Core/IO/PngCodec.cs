using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace Cmtm.IO;

/// <summary>
/// A small, dependency-free PNG codec for label / mask images.
/// <para>Reading: every colour type (0, 2, 3, 4, 6), every legal bit depth (1, 2, 4, 8, 16), all five row filters and
/// Adam7 interlacing. Values are returned RAW (<see cref="PngImage"/>): palette images give indices, never colours.
/// Ancillary chunks (gAMA, tRNS, tIME, text, ...) are skipped.</para>
/// <para>Integrity policy: a CRC mismatch in a CRITICAL chunk (IHDR, PLTE, IDAT, IEND) is rejected as a corrupt
/// file; a CRC mismatch in an ancillary chunk is ignored together with the chunk (libpng's default behaviour).
/// Truncated files (a chunk running past the end, missing IEND, too little image data after inflating) and
/// corrupt zlib data are rejected. All problems are <see cref="CmtmException"/>s naming the file.</para>
/// <para>Writing: 8-bit grayscale (0/255 masks), 8-bit RGBA (cut-outs) and palette images (bit depth 1, 2, 4 or 8), always atomically
/// (<see cref="AtomicFile"/>).</para>
/// </summary>
public static class PngCodec
{
    private static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];
    private const long MaxSamples = 1L << 30;

    // ---------------------------------------------------------------- reading

    public static PngImage Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new CmtmException(path, "file not found"); }
        catch (DirectoryNotFoundException) { throw new CmtmException(path, "file not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CmtmException(path, $"cannot read file ({e.Message})", e); }
        return Decode(bytes, path);
    }

    /// <summary>
    /// Width and height from a PNG's header (the first 24 bytes: signature, IHDR length and type, width, height),
    /// without decoding the image; a <see cref="CmtmException"/> naming <paramref name="path"/> when it is not a PNG.
    /// </summary>
    public static (int Width, int Height) ReadSize(string path)
    {
        Span<byte> head = stackalloc byte[24];
        try
        {
            using var f = File.OpenRead(path);
            if (f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length) throw new CmtmException(path, "truncated file (no PNG header)");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new CmtmException(path, "file not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CmtmException(path, $"cannot read file ({e.Message})", e); }
        if (!head[..8].SequenceEqual(Signature)) throw new CmtmException(path, "not a PNG file (bad signature)");
        if (!head[12..16].SequenceEqual("IHDR"u8)) throw new CmtmException(path, "corrupt file (first chunk is not IHDR)");
        int width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(head[16..20]);
        int height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(head[20..24]);
        if (width <= 0 || height <= 0) throw new CmtmException(path, $"corrupt file (invalid size {width}x{height})");
        return (width, height);
    }

    /// <summary>Decodes PNG bytes; <paramref name="name"/> is used in error messages.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static PngImage Decode(ReadOnlySpan<byte> data, string name = "<png>")
    {
        var png = Inflate(data, name);
        try
        {
            var samples = new ushort[(long)png.Width * png.Height * png.Channels];
            var offset = 0;
            foreach (var p in png.Passes)
            {
                var (pw, ph) = PassSize(p, png.Width, png.Height);
                if (pw == 0 || ph == 0) continue;
                var rowBytes = RowBytes(pw, png.BitsPerPixel);
                for (var r = 0; r < ph; r++)
                {
                    var cur = png.UnfilterRow(offset, rowBytes, r);
                    offset += 1 + rowBytes;
                    ExtractRow(cur, samples, p.Y0 + r * p.DY, p.X0, p.DX, pw, png.Width, png.Channels, png.BitDepth);
                }
            }
            return new PngImage(png.Width, png.Height, png.ColorType, png.BitDepth, png.Interlaced, samples, png.Palette);
        }
        finally { png.Dispose(); }
    }

    /// <summary>
    /// Fast path for masks: non-interlaced single-channel images of depth &lt;= 8 are mapped through a 256-entry
    /// lookup table (built by <paramref name="lut"/> from colour type, bit depth and palette) straight from the
    /// unfiltered rows. Returns null for other formats (callers fall back to <see cref="Decode"/>).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static BinaryMask? TryDecodeMask(ReadOnlySpan<byte> data, string name, Func<PngColorType, int, byte[], byte[]> lut, BinaryMask? reuse = null)
    {
        var png = Inflate(data, name);
        try
        {
            if (png.Interlaced || png.Channels != 1 || png.BitDepth > 8) return null;
            var table = lut(png.ColorType, png.BitDepth, png.Palette);
            var w = png.Width;
            var mask = reuse != null && reuse.Width == w && reuse.Height == png.Height ? reuse.Data : new byte[(long)w * png.Height];
            var rowBytes = RowBytes(w, png.BitsPerPixel);
            var depth = png.BitDepth;
            for (var y = 0; y < png.Height; y++)
            {
                var cur = png.UnfilterRow(y * (1 + rowBytes), rowBytes, y);
                var dst = mask.AsSpan(y * w, w);
                if (depth == 8)
                    for (var x = 0; x < w; x++) dst[x] = table[cur[x]];
                else
                {
                    var m = (1 << depth) - 1;
                    var perByte = 8 / depth;
                    for (var x = 0; x < w; x++)
                        dst[x] = table[(cur[x / perByte] >> (8 - depth * (x % perByte + 1))) & m];
                }
            }
            return ReferenceEquals(mask, reuse?.Data) ? reuse : new BinaryMask(w, png.Height, mask);
        }
        finally { png.Dispose(); }
    }

    /// <summary>Header fields plus the inflated (still filtered) scanlines in a pooled buffer.</summary>
    private sealed class RawPng : IDisposable
    {
        public required int Width, Height, BitDepth;
        public required PngColorType ColorType;
        public required bool Interlaced;
        public required byte[] Palette;
        public required byte[] Raw;
        public required string Name;
        public int Channels => PngImage.ChannelsOf(ColorType);
        public int BitsPerPixel => Channels * BitDepth;
        public Pass[] Passes => Interlaced ? Adam7 : NoInterlace;
        private int _prevOffset = -1, _prevLength;

        /// <summary>Unfilters, in place, the row whose filter byte is at <paramref name="offset"/>; rows must be visited in order, the first row of each pass with <paramref name="rowInPass"/> 0.</summary>
        public Span<byte> UnfilterRow(int offset, int rowBytes, int rowInPass)
        {
            var cur = Raw.AsSpan(offset + 1, rowBytes);
            var prev = rowInPass == 0 ? Span<byte>.Empty : Raw.AsSpan(offset + 1 - (1 + rowBytes), rowBytes);
            Unfilter(Raw[offset], cur, prev, Math.Max(1, BitsPerPixel / 8), Name, rowInPass);
            return cur;
        }

        public void Dispose() => System.Buffers.ArrayPool<byte>.Shared.Return(Raw);
    }

    private static RawPng Inflate(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length < 8 || !data[..8].SequenceEqual(Signature))
            throw new CmtmException(name, "not a PNG file (bad signature)");
        var pos = 8;
        int width = 0, height = 0, bitDepth = 0;
        var colorType = PngColorType.Gray;
        var interlaced = false;
        var seenHeader = false;
        var seenEnd = false;
        byte[] palette = [];
        using var idat = new MemoryStream();
        while (pos < data.Length)
        {
            if (data.Length - pos < 12)
                throw new CmtmException(name, $"truncated file (incomplete chunk header at byte {pos})");
            var length = BinaryPrimitives.ReadUInt32BigEndian(data.Slice(pos, 4));
            var typeSpan = data.Slice(pos + 4, 4);
            var type = System.Text.Encoding.ASCII.GetString(typeSpan);
            if (length > int.MaxValue || (long)data.Length - pos - 12 < length)
                throw new CmtmException(name, $"truncated file (chunk {type} declares {length} bytes, only {Math.Max(0, data.Length - pos - 12)} remain)");
            var body = data.Slice(pos + 8, (int)length);
            var storedCrc = BinaryPrimitives.ReadUInt32BigEndian(data.Slice(pos + 8 + (int)length, 4));
            var critical = (typeSpan[0] & 0x20) == 0;
            var crcOk = Crc32.HashToUInt32(data.Slice(pos + 4, 4 + (int)length)) == storedCrc;
            pos += 12 + (int)length;
            if (!crcOk)
            {
                if (critical) throw new CmtmException(name, $"corrupt file (CRC mismatch in chunk {type})");
                continue; // ancillary chunk with a bad CRC: ignored
            }
            if (!seenHeader && type != "IHDR")
                throw new CmtmException(name, $"corrupt file (first chunk is {type}, expected IHDR)");
            switch (type)
            {
                case "IHDR":
                    if (seenHeader) throw new CmtmException(name, "corrupt file (two IHDR chunks)");
                    if (length != 13) throw new CmtmException(name, $"corrupt file (IHDR has {length} bytes, expected 13)");
                    seenHeader = true;
                    var w = BinaryPrimitives.ReadUInt32BigEndian(body);
                    var h = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    bitDepth = body[8];
                    var ct = body[9];
                    if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue)
                        throw new CmtmException(name, $"corrupt file (invalid size {w}x{h})");
                    width = (int)w;
                    height = (int)h;
                    if (ct is not (0 or 2 or 3 or 4 or 6))
                        throw new CmtmException(name, $"corrupt file (invalid colour type {ct})");
                    colorType = (PngColorType)ct;
                    var legal = colorType switch
                    {
                        PngColorType.Gray => bitDepth is 1 or 2 or 4 or 8 or 16,
                        PngColorType.Palette => bitDepth is 1 or 2 or 4 or 8,
                        _ => bitDepth is 8 or 16,
                    };
                    if (!legal) throw new CmtmException(name, $"corrupt file (bit depth {bitDepth} is invalid for colour type {ct})");
                    if (body[10] != 0) throw new CmtmException(name, $"unsupported compression method {body[10]}");
                    if (body[11] != 0) throw new CmtmException(name, $"unsupported filter method {body[11]}");
                    if (body[12] > 1) throw new CmtmException(name, $"unsupported interlace method {body[12]}");
                    interlaced = body[12] == 1;
                    if ((long)width * height * PngImage.ChannelsOf(colorType) > MaxSamples)
                        throw new CmtmException(name, $"image too large ({width}x{height})");
                    break;
                case "PLTE":
                    if (length % 3 != 0 || length == 0 || length > 768)
                        throw new CmtmException(name, $"corrupt file (PLTE has {length} bytes)");
                    palette = body.ToArray();
                    break;
                case "IDAT":
                    idat.Write(body);
                    break;
                case "IEND":
                    seenEnd = true;
                    break;
            }
            if (seenEnd) break;
        }
        if (!seenHeader) throw new CmtmException(name, "truncated file (no IHDR chunk)");
        if (!seenEnd) throw new CmtmException(name, "truncated file (no IEND chunk)");
        if (idat.Length == 0) throw new CmtmException(name, "corrupt file (no IDAT chunk)");
        if (colorType == PngColorType.Palette && palette.Length == 0)
            throw new CmtmException(name, "corrupt file (palette image without PLTE chunk)");

        var channels = PngImage.ChannelsOf(colorType);
        var bitsPerPixel = channels * bitDepth;
        var passes = interlaced ? Adam7 : NoInterlace;
        long expected = 0;
        foreach (var p in passes)
        {
            var (pw, ph) = PassSize(p, width, height);
            if (pw > 0 && ph > 0) expected += (long)ph * (1 + RowBytes(pw, bitsPerPixel));
        }
        if (expected > int.MaxValue) throw new CmtmException(name, $"image too large ({width}x{height})");
        var raw = System.Buffers.ArrayPool<byte>.Shared.Rent((int)expected);
        idat.Position = 0;
        int got;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress, leaveOpen: true);
            got = z.ReadAtLeast(raw.AsSpan(0, (int)expected), (int)expected, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(raw);
            throw new CmtmException(name, $"corrupt image data (zlib: {e.Message})", e);
        }
        if (got < expected)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(raw);
            throw new CmtmException(name, $"truncated image data ({got} of {expected} bytes after inflating IDAT)");
        }
        return new RawPng
        {
            Width = width, Height = height, BitDepth = bitDepth, ColorType = colorType, Interlaced = interlaced,
            Palette = palette, Raw = raw, Name = name,
        };
    }

    private readonly record struct Pass(int X0, int Y0, int DX, int DY);
    private static readonly Pass[] NoInterlace = [new(0, 0, 1, 1)];
    private static readonly Pass[] Adam7 =
    [
        new(0, 0, 8, 8), new(4, 0, 8, 8), new(0, 4, 4, 8), new(2, 0, 4, 4),
        new(0, 2, 2, 4), new(1, 0, 2, 2), new(0, 1, 1, 2),
    ];

    private static (int W, int H) PassSize(Pass p, int width, int height) =>
        (width <= p.X0 ? 0 : (width - p.X0 + p.DX - 1) / p.DX, height <= p.Y0 ? 0 : (height - p.Y0 + p.DY - 1) / p.DY);

    private static int RowBytes(int pixels, int bitsPerPixel) => (int)(((long)pixels * bitsPerPixel + 7) / 8);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Unfilter(byte filter, Span<byte> cur, ReadOnlySpan<byte> prev, int bpp, string name, int row)
    {
        switch (filter)
        {
            case 0: return;
            case 1:
                for (var i = bpp; i < cur.Length; i++) cur[i] += cur[i - bpp];
                return;
            case 2:
                if (prev.IsEmpty) return;
                for (var i = 0; i < cur.Length; i++) cur[i] += prev[i];
                return;
            case 3 when prev.IsEmpty:
                for (var i = bpp; i < cur.Length; i++) cur[i] += (byte)(cur[i - bpp] >> 1);
                return;
            case 4 when prev.IsEmpty: // Paeth with a zero row above is Sub
                for (var i = bpp; i < cur.Length; i++) cur[i] += cur[i - bpp];
                return;
            case 3:
                for (var i = 0; i < cur.Length; i++)
                    cur[i] += (byte)(((i >= bpp ? cur[i - bpp] : 0) + prev[i]) >> 1);
                return;
            case 4:
                for (var i = 0; i < cur.Length; i++)
                    cur[i] += Paeth(i >= bpp ? cur[i - bpp] : (byte)0, prev[i], i >= bpp ? prev[i - bpp] : (byte)0);
                return;
            default:
                throw new CmtmException(name, $"corrupt image data (invalid filter type {filter} in row {row})");
        }
    }

    private static byte Paeth(byte a, byte b, byte c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void ExtractRow(ReadOnlySpan<byte> row, ushort[] samples, int y, int x0, int dx, int count, int width, int channels, int bitDepth)
    {
        long baseIndex = (long)y * width;
        switch (bitDepth)
        {
            case 8:
                for (var i = 0; i < count; i++)
                {
                    var dst = (baseIndex + x0 + (long)i * dx) * channels;
                    for (var c = 0; c < channels; c++) samples[dst + c] = row[i * channels + c];
                }
                break;
            case 16:
                for (var i = 0; i < count; i++)
                {
                    var dst = (baseIndex + x0 + (long)i * dx) * channels;
                    for (var c = 0; c < channels; c++)
                    {
                        var k = 2 * (i * channels + c);
                        samples[dst + c] = (ushort)((row[k] << 8) | row[k + 1]);
                    }
                }
                break;
            default: // 1, 2, 4: single-channel only (gray or palette)
                var mask = (1 << bitDepth) - 1;
                var perByte = 8 / bitDepth;
                for (var i = 0; i < count; i++)
                {
                    var shift = 8 - bitDepth * (i % perByte + 1);
                    samples[baseIndex + x0 + (long)i * dx] = (ushort)((row[i / perByte] >> shift) & mask);
                }
                break;
        }
    }

    // ---------------------------------------------------------------- writing

    /// <summary>Writes an 8-bit grayscale PNG (e.g. a 0/255 mask) atomically.</summary>
    public static void WriteGray8(string path, int width, int height, ReadOnlySpan<byte> values)
    {
        var bytes = EncodeGray8(width, height, values);
        AtomicFile.WriteAllBytes(path, bytes);
    }

    /// <summary>
    /// Writes a palette PNG of bit depth 1, 2, 4 or 8 atomically. <paramref name="palette"/> holds R,G,B triplets
    /// (e.g. <see cref="DavisPalette.Cmtm4Bit"/> with bit depth 4, as CMTM writes its DAVIS outputs, or
    /// <see cref="DavisPalette.Pascal"/> with bit depth 8). Every index must be below the palette size.
    /// </summary>
    public static void WritePalette(string path, int width, int height, ReadOnlySpan<byte> indices, byte[] palette, int bitDepth)
    {
        var bytes = EncodePalette(width, height, indices, palette, bitDepth);
        AtomicFile.WriteAllBytes(path, bytes);
    }

    /// <summary>Writes an 8-bit RGBA PNG (R,G,B,A bytes per pixel, e.g. a cut-out whose alpha is a mask) atomically.</summary>
    public static void WriteRgba8(string path, int width, int height, ReadOnlySpan<byte> rgba)
    {
        CheckSize(width, height, rgba.Length / 4);
        if (rgba.Length % 4 != 0) throw new ArgumentException($"RGBA data of {rgba.Length} bytes is not 4 bytes per pixel");
        var s = new ushort[rgba.Length];
        for (var i = 0; i < s.Length; i++) s[i] = rgba[i];
        AtomicFile.WriteAllBytes(path, Encode(new PngImage(width, height, PngColorType.Rgba, 8, false, s, [])));
    }

    public static byte[] EncodeGray8(int width, int height, ReadOnlySpan<byte> values)
    {
        CheckSize(width, height, values.Length);
        var s = new ushort[values.Length];
        for (var i = 0; i < s.Length; i++) s[i] = values[i];
        return Encode(new PngImage(width, height, PngColorType.Gray, 8, false, s, []));
    }

    public static byte[] EncodePalette(int width, int height, ReadOnlySpan<byte> indices, byte[] palette, int bitDepth)
    {
        CheckSize(width, height, indices.Length);
        if (bitDepth is not (1 or 2 or 4 or 8)) throw new ArgumentException($"palette bit depth must be 1, 2, 4 or 8, got {bitDepth}");
        if (palette.Length == 0 || palette.Length % 3 != 0) throw new ArgumentException("palette must hold R,G,B triplets");
        var entries = palette.Length / 3;
        if (entries > 1 << bitDepth) throw new ArgumentException($"palette has {entries} entries, more than bit depth {bitDepth} allows");
        var s = new ushort[indices.Length];
        for (var i = 0; i < s.Length; i++)
        {
            if (indices[i] >= entries) throw new ArgumentException($"index {indices[i]} at pixel {i} is outside the {entries}-entry palette");
            s[i] = indices[i];
        }
        return Encode(new PngImage(width, height, PngColorType.Palette, bitDepth, false, s, palette));
    }

    private static void CheckSize(int width, int height, int length)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"invalid size {width}x{height}");
        if ((long)width * height != length) throw new ArgumentException($"{width}x{height} needs {(long)width * height} values, got {length}");
    }

    /// <summary>
    /// Encodes any <see cref="PngImage"/> (all colour types and bit depths, optionally Adam7). Row filters:
    /// <paramref name="filterCycle"/> false uses filter 0 (None) on every row; true cycles 0..4 by row (used by the
    /// tests to exercise every filter).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static byte[] Encode(PngImage image, bool filterCycle = false)
    {
        var channels = image.Channels;
        var bitDepth = image.BitDepth;
        var bitsPerPixel = channels * bitDepth;
        var bpp = Math.Max(1, bitsPerPixel / 8);
        using var rawStream = new MemoryStream();
        var passes = image.Interlaced ? Adam7 : NoInterlace;
        var maxSample = (1 << bitDepth) - 1;
        foreach (var p in passes)
        {
            var (pw, ph) = PassSize(p, image.Width, image.Height);
            if (pw == 0 || ph == 0) continue;
            var rowBytes = RowBytes(pw, bitsPerPixel);
            var prev = new byte[rowBytes];
            var cur = new byte[rowBytes];
            var filtered = new byte[rowBytes];
            for (var r = 0; r < ph; r++)
            {
                Array.Clear(cur);
                var y = p.Y0 + r * p.DY;
                for (var i = 0; i < pw; i++)
                {
                    var x = p.X0 + i * p.DX;
                    for (var c = 0; c < channels; c++)
                    {
                        int v = image[y, x, c];
                        if (v > maxSample) throw new ArgumentException($"sample {v} exceeds bit depth {bitDepth}");
                        var k = i * channels + c;
                        switch (bitDepth)
                        {
                            case 8: cur[k] = (byte)v; break;
                            case 16: cur[2 * k] = (byte)(v >> 8); cur[2 * k + 1] = (byte)v; break;
                            default:
                                var perByte = 8 / bitDepth;
                                cur[k / perByte] |= (byte)(v << (8 - bitDepth * (k % perByte + 1)));
                                break;
                        }
                    }
                }
                var filter = filterCycle ? (byte)(r % 5) : (byte)0;
                for (var i = 0; i < rowBytes; i++)
                {
                    int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
                    filtered[i] = filter switch
                    {
                        0 => cur[i],
                        1 => (byte)(cur[i] - a),
                        2 => (byte)(cur[i] - b),
                        3 => (byte)(cur[i] - ((a + b) >> 1)),
                        _ => (byte)(cur[i] - Paeth((byte)a, (byte)b, (byte)c)),
                    };
                }
                rawStream.WriteByte(filter);
                rawStream.Write(filtered);
                (prev, cur) = (cur, prev);
            }
        }
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            z.Write(rawStream.GetBuffer(), 0, (int)rawStream.Length);

        using var png = new MemoryStream();
        png.Write(Signature);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)image.Width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)image.Height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)image.ColorType;
        ihdr[12] = image.Interlaced ? (byte)1 : (byte)0;
        WriteChunk(png, "IHDR", ihdr);
        if (image.Palette.Length > 0) WriteChunk(png, "PLTE", image.Palette);
        WriteChunk(png, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void WriteChunk(Stream s, string type, ReadOnlySpan<byte> body)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(head, (uint)body.Length);
        System.Text.Encoding.ASCII.GetBytes(type, head[4..]);
        s.Write(head);
        s.Write(body);
        var crc = new Crc32();
        crc.Append(head[4..]);
        crc.Append(body);
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc.GetCurrentHashAsUInt32());
        s.Write(tail);
    }
}
