namespace Cmtm.IO;

/// <summary>PNG colour types (PNG spec 11.2.2).</summary>
public enum PngColorType : byte
{
    Gray = 0,
    Rgb = 2,
    Palette = 3,
    GrayAlpha = 4,
    Rgba = 6,
}

/// <summary>
/// A decoded PNG with its RAW sample values: palette images give palette INDICES (never expanded colours),
/// grayscale gives the gray value at the file's bit depth (0..2^depth-1), RGB(A) gives the channel values.
/// Samples are row-major, <see cref="Channels"/> interleaved per pixel.
/// </summary>
public sealed class PngImage
{
    public int Width { get; }
    public int Height { get; }
    public PngColorType ColorType { get; }
    public int BitDepth { get; }
    public bool Interlaced { get; }
    public ushort[] Samples { get; }
    /// <summary>PLTE entries as R,G,B triplets (palette images; optional in RGB images); empty when absent.</summary>
    public byte[] Palette { get; }

    public PngImage(int width, int height, PngColorType colorType, int bitDepth, bool interlaced, ushort[] samples, byte[] palette)
    {
        Width = width;
        Height = height;
        ColorType = colorType;
        BitDepth = bitDepth;
        Interlaced = interlaced;
        Samples = samples;
        Palette = palette;
        if (samples.Length != (long)width * height * Channels)
            throw new ArgumentException($"expected {(long)width * height * Channels} samples, got {samples.Length}");
    }

    public int Channels => ChannelsOf(ColorType);
    public int PaletteCount => Palette.Length / 3;

    public ushort this[int y, int x, int c = 0] => Samples[((long)y * Width + x) * Channels + c];

    public static int ChannelsOf(PngColorType t) => t switch
    {
        PngColorType.Gray => 1,
        PngColorType.Rgb => 3,
        PngColorType.Palette => 1,
        PngColorType.GrayAlpha => 2,
        PngColorType.Rgba => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };
}

/// <summary>Palettes used by DAVIS-style label PNGs.</summary>
public static class DavisPalette
{
    /// <summary>
    /// The standard DAVIS / PASCAL-VOC colour map (bit-interleaved: index 0 black, 1 (128,0,0), 2 (0,128,0),
    /// 3 (128,128,0), 4 (0,0,128), ..., 9 (192,0,0)), as R,G,B triplets for <paramref name="entries"/> indices.
    /// </summary>
    public static byte[] Pascal(int entries = 256)
    {
        if (entries is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(entries));
        var p = new byte[entries * 3];
        for (var i = 0; i < entries; i++)
        {
            int r = 0, g = 0, b = 0, c = i;
            for (var j = 0; j < 8; j++)
            {
                r |= ((c >> 0) & 1) << (7 - j);
                g |= ((c >> 1) & 1) << (7 - j);
                b |= ((c >> 2) & 1) << (7 - j);
                c >>= 3;
            }
            p[3 * i] = (byte)r;
            p[3 * i + 1] = (byte)g;
            p[3 * i + 2] = (byte)b;
        }
        return p;
    }

    /// <summary>
    /// CMTM's 16-entry palette (utils.py DAVIS_PALETTE_4BIT), used for its 4-bit DAVIS outputs. It equals the
    /// first 16 PASCAL entries except that 192 is written as 191.
    /// </summary>
    public static byte[] Cmtm4Bit()
    {
        var p = Pascal(16);
        for (var i = 0; i < p.Length; i++) if (p[i] == 192) p[i] = 191;
        return p;
    }
}
