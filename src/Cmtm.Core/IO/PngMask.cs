namespace Cmtm.IO;

/// <summary>A binary mask: <see cref="Data"/> holds one byte per pixel, 1 = foreground, 0 = background, row-major.</summary>
public sealed class BinaryMask
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Data { get; }

    public BinaryMask(int width, int height, byte[]? data = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"invalid mask size {width}x{height}");
        Width = width;
        Height = height;
        Data = data ?? new byte[(long)width * height];
        if (Data.LongLength != (long)width * height) throw new ArgumentException($"{width}x{height} mask needs {(long)width * height} bytes, got {Data.Length}");
    }

    public bool this[int y, int x] => Data[y * Width + x] != 0;

    public long CountForeground()
    {
        long n = 0;
        foreach (var b in Data) n += b != 0 ? 1 : 0;
        return n;
    }

    public bool IsEmpty => !Data.AsSpan().ContainsAnyExcept((byte)0);

    public string SizeText => $"{Width}x{Height}";
}

/// <summary>How the values of a label PNG become foreground.</summary>
public enum MaskRule
{
    /// <summary>Any nonzero value is foreground (palette index, gray value, or any nonzero colour channel). Used for result folders.</summary>
    Nonzero,
    /// <summary>
    /// Object-id labels as the official DAVIS / YouTube-VOS / Long-Videos loaders read them (PIL mode P,
    /// index 255 = void -> 0, then nonzero -> 1). Palette PNGs: index not in {0, 255}. Non-palette PNGs
    /// (e.g. DAVIS-2016 GT stored as 8-bit gray 0/255): any nonzero value.
    /// </summary>
    ObjectIds,
    /// <summary>
    /// Grayscale thresholding as the official FBMS / YouTube-Objects loaders do (PIL convert('L'), / 255, > 0.5):
    /// luminance (of the palette colour for palette images, ITU-R 601 with PIL's fixed-point rounding for RGB)
    /// at 8 bits is greater than 127. 16-bit gray uses its high byte; bit depths below 8 are scaled to 8 bits.
    /// </summary>
    Luminance,
}

public static class PngMask
{
    /// <summary>
    /// Reads a PNG and converts it to a binary mask with <paramref name="rule"/>. When <paramref name="reuse"/> has
    /// the image's size its buffer is overwritten and it is returned (avoids large allocations in scoring loops).
    /// </summary>
    public static BinaryMask Read(string path, MaskRule rule = MaskRule.Nonzero, BinaryMask? reuse = null)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new CmtmException(path, "file not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CmtmException(path, $"cannot read file ({e.Message})", e); }
        return Decode(bytes, path, rule, reuse);
    }

    /// <summary>Decodes PNG bytes to a mask (fast path for single-channel images of depth &lt;= 8, the usual mask formats).</summary>
    public static BinaryMask Decode(ReadOnlySpan<byte> png, string name, MaskRule rule = MaskRule.Nonzero, BinaryMask? reuse = null) =>
        PngCodec.TryDecodeMask(png, name, (ct, depth, pal) => Lut(ct, depth, pal, rule), reuse) ?? ToMask(PngCodec.Decode(png, name), rule);

    /// <summary>Foreground lookup table over the 256 possible raw values of a single-channel image of depth &lt;= 8.</summary>
    internal static byte[] Lut(PngColorType ct, int bitDepth, byte[] palette, MaskRule rule)
    {
        var lut = new byte[256];
        for (var v = 0; v < 256; v++)
        {
            bool fg;
            if (ct == PngColorType.Palette)
                fg = rule switch
                {
                    MaskRule.ObjectIds => v != 0 && v != 255,
                    MaskRule.Luminance => 3 * v + 2 < palette.Length && Luma(palette[3 * v], palette[3 * v + 1], palette[3 * v + 2]) > 127,
                    _ => v != 0,
                };
            else
                fg = rule == MaskRule.Luminance ? v < 1 << bitDepth && To8Bit(v, bitDepth) > 127 : v != 0;
            lut[v] = fg ? (byte)1 : (byte)0;
        }
        return lut;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static BinaryMask ToMask(PngImage img, MaskRule rule)
    {
        var n = (long)img.Width * img.Height;
        var outp = new byte[n];
        var s = img.Samples;
        var ch = img.Channels;
        switch (img.ColorType)
        {
            case PngColorType.Palette when rule == MaskRule.ObjectIds:
                for (long i = 0; i < n; i++) outp[i] = s[i] != 0 && s[i] != 255 ? (byte)1 : (byte)0;
                break;
            case PngColorType.Palette when rule == MaskRule.Luminance:
            {
                var pal = img.Palette;
                var lut = new byte[256];
                for (var k = 0; k < pal.Length / 3; k++)
                    lut[k] = Luma(pal[3 * k], pal[3 * k + 1], pal[3 * k + 2]) > 127 ? (byte)1 : (byte)0;
                for (long i = 0; i < n; i++) outp[i] = lut[s[i] & 0xFF];
                break;
            }
            case PngColorType.Gray or PngColorType.GrayAlpha when rule == MaskRule.Luminance:
                for (long i = 0; i < n; i++) outp[i] = To8Bit(s[i * ch], img.BitDepth) > 127 ? (byte)1 : (byte)0;
                break;
            case PngColorType.Rgb or PngColorType.Rgba when rule == MaskRule.Luminance:
                for (long i = 0; i < n; i++)
                {
                    var k = i * ch;
                    outp[i] = Luma(To8Bit(s[k], img.BitDepth), To8Bit(s[k + 1], img.BitDepth), To8Bit(s[k + 2], img.BitDepth)) > 127 ? (byte)1 : (byte)0;
                }
                break;
            case PngColorType.Rgb or PngColorType.Rgba:
                for (long i = 0; i < n; i++)
                {
                    var k = i * ch;
                    outp[i] = (s[k] | s[k + 1] | s[k + 2]) != 0 ? (byte)1 : (byte)0;
                }
                break;
            default: // palette or gray(+alpha), nonzero
                for (long i = 0; i < n; i++) outp[i] = s[i * ch] != 0 ? (byte)1 : (byte)0;
                break;
        }
        return new BinaryMask(img.Width, img.Height, outp);
    }

    private static int To8Bit(int v, int bitDepth) => bitDepth switch
    {
        16 => v >> 8,
        8 => v,
        _ => v * 255 / ((1 << bitDepth) - 1),
    };

    /// <summary>PIL's RGB -> L conversion: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.</summary>
    public static int Luma(int r, int g, int b) => (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;

    /// <summary>Writes a mask as an 8-bit grayscale 0/255 PNG (atomically).</summary>
    public static void WriteGray(string path, BinaryMask mask)
    {
        var v = new byte[mask.Data.Length];
        for (var i = 0; i < v.Length; i++) v[i] = mask.Data[i] != 0 ? (byte)255 : (byte)0;
        PngCodec.WriteGray8(path, mask.Width, mask.Height, v);
    }

    /// <summary>Writes a mask as a 4-bit palette PNG with CMTM's 16-entry DAVIS palette, indices 0/1 (atomically).</summary>
    public static void WriteDavisPalette(string path, BinaryMask mask)
    {
        var v = new byte[mask.Data.Length];
        for (var i = 0; i < v.Length; i++) v[i] = mask.Data[i] != 0 ? (byte)1 : (byte)0;
        PngCodec.WritePalette(path, mask.Width, mask.Height, v, DavisPalette.Cmtm4Bit(), 4);
    }
}
