using System.Globalization;
using Cmtm.IO;
using OpenCvSharp;

namespace Cmtm.Inference;

/// <summary>What a composited frame shows behind the object.</summary>
public enum BackgroundKind
{
    /// <summary>A solid colour.</summary>
    Color,
    /// <summary>A blurred copy of the frame itself.</summary>
    Blur,
    /// <summary>An image file, resized to the frame.</summary>
    Image,
}

/// <summary>
/// The background of composited cut-out frames (`--background COLOR|blur|IMAGE`): a colour (a name such as
/// <c>green</c>, <c>#00ff00</c> or <c>0,255,0</c>), <c>blur</c> (the frame blurred), or an existing image file.
/// </summary>
public sealed record CutoutBackground
{
    public BackgroundKind Kind { get; init; }
    /// <summary>The colour (R, G, B) of a <see cref="BackgroundKind.Color"/> background.</summary>
    public (byte R, byte G, byte B) Color { get; init; }
    /// <summary>The image file of an <see cref="BackgroundKind.Image"/> background.</summary>
    public string? ImagePath { get; init; }

    /// <summary>Colour names accepted by <see cref="Parse"/>.</summary>
    public static readonly IReadOnlyDictionary<string, (byte R, byte G, byte B)> Names = new Dictionary<string, (byte, byte, byte)>(StringComparer.OrdinalIgnoreCase)
    {
        ["black"] = (0, 0, 0), ["white"] = (255, 255, 255), ["gray"] = (128, 128, 128), ["grey"] = (128, 128, 128),
        ["red"] = (255, 0, 0), ["green"] = (0, 255, 0), ["blue"] = (0, 0, 255), ["yellow"] = (255, 255, 0),
        ["magenta"] = (255, 0, 255), ["cyan"] = (0, 255, 255),
    };

    /// <summary>
    /// Parses <c>blur</c>, a colour (name, <c>#rrggbb</c>, <c>r,g,b</c>) or an image file path (which must exist);
    /// anything else is a <see cref="CmtmException"/> naming <paramref name="subject"/>.
    /// </summary>
    public static CutoutBackground Parse(string spec, string subject = "--background")
    {
        var s = spec.Trim();
        if (s.Equals("blur", StringComparison.OrdinalIgnoreCase)) return new CutoutBackground { Kind = BackgroundKind.Blur };
        if (Names.TryGetValue(s, out var named)) return new CutoutBackground { Kind = BackgroundKind.Color, Color = named };
        if (s.Length == 7 && s[0] == '#' && int.TryParse(s[1..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hex))
            return new CutoutBackground { Kind = BackgroundKind.Color, Color = ((byte)(hex >> 16), (byte)(hex >> 8), (byte)hex) };
        var parts = s.Split(',');
        if (parts.Length == 3 && parts.All(p => byte.TryParse(p.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            return new CutoutBackground { Kind = BackgroundKind.Color, Color = (byte.Parse(parts[0].Trim()), byte.Parse(parts[1].Trim()), byte.Parse(parts[2].Trim())) };
        if (File.Exists(s)) return new CutoutBackground { Kind = BackgroundKind.Image, ImagePath = Path.GetFullPath(s) };
        throw new CmtmException(subject, $"'{spec}' is not a colour (a name like green, #rrggbb or r,g,b), 'blur', or an existing image file");
    }

    /// <summary>Short description for logs and job listings.</summary>
    public override string ToString() => Kind switch
    {
        BackgroundKind.Blur => "blur",
        BackgroundKind.Image => $"image {Path.GetFileName(ImagePath)}",
        _ => $"#{Color.R:x2}{Color.G:x2}{Color.B:x2}",
    };
}

/// <summary>Cut-out outputs of <see cref="Segmenter.Run"/> (see <see cref="SegmentOptions.Cutout"/>).</summary>
public sealed record CutoutOptions
{
    /// <summary>Write cutout/&lt;stem&gt;.png: the frame as RGBA, alpha = the mask.</summary>
    public bool Rgba { get; init; } = true;
    /// <summary>Soft edge in pixels (0 = the hard 0/255 mask): the alpha is the mask blurred by a Gaussian of 2N+1 px.</summary>
    public int Feather { get; init; }
    /// <summary>Also write composite.mp4 (mp4v): the object over this background; null = none.</summary>
    public CutoutBackground? Background { get; init; }
}

/// <summary>
/// The cut-out arithmetic: alpha from a mask (optionally feathered), RGBA frames, and the blend of the frame over a
/// background, <c>out = (frame*a + background*(255-a) + 127) / 255</c> per channel (integers, a = alpha 0..255).
/// One instance per run keeps the loaded background image.
/// </summary>
public sealed class Cutout
{
    /// <summary>Gaussian sigma (pixels) of the <see cref="BackgroundKind.Blur"/> background, per 100 px of the frame's longer side.</summary>
    public const double BlurSigmaPer100Px = 2.5;

    private readonly CutoutOptions options;
    private readonly RgbImage? image;
    private (int W, int H, byte[] Rgb)? resized;

    public Cutout(CutoutOptions options)
    {
        if (options.Feather < 0) throw new CmtmException("--feather", $"must be 0 or more pixels (got {options.Feather})");
        this.options = options;
        if (options.Background is { Kind: BackgroundKind.Image, ImagePath: string p }) image = RgbImage.Load(p);
    }

    /// <summary>Alpha (0..255, H*W) of a 0/1 mask; with <paramref name="feather"/> N &gt; 0 the 0/255 mask blurred by a (2N+1)-px Gaussian.</summary>
    public static byte[] Alpha(byte[] mask, int width, int height, int feather)
    {
        var alpha = new byte[mask.Length];
        for (var i = 0; i < alpha.Length; i++) alpha[i] = mask[i] != 0 ? (byte)255 : (byte)0;
        if (feather <= 0) return alpha;
        using var m = Mat.FromPixelData(height, width, MatType.CV_8UC1, alpha);
        using var soft = new Mat();
        Cv2.GaussianBlur(m, soft, new Size(2 * feather + 1, 2 * feather + 1), feather / 2.0, feather / 2.0, BorderTypes.Replicate);
        return RgbFrame.CopyBytes(soft);
    }

    /// <summary>RGBA bytes (H*W*4) of an RGB frame with the given alpha.</summary>
    public static byte[] Rgba(byte[] rgb, byte[] alpha)
    {
        var rgba = new byte[alpha.Length * 4];
        for (int i = 0, j = 0, k = 0; i < alpha.Length; i++, j += 3, k += 4)
        {
            rgba[k] = rgb[j]; rgba[k + 1] = rgb[j + 1]; rgba[k + 2] = rgb[j + 2]; rgba[k + 3] = alpha[i];
        }
        return rgba;
    }

    /// <summary>The frame over the background (both RGB, H*W*3): (f*a + b*(255-a) + 127) / 255 per channel.</summary>
    public static byte[] Composite(byte[] foreground, byte[] background, byte[] alpha)
    {
        if (foreground.Length != background.Length || foreground.Length != alpha.Length * 3)
            throw new ArgumentException("foreground, background and alpha sizes differ");
        var o = new byte[foreground.Length];
        for (int i = 0, j = 0; i < alpha.Length; i++, j += 3)
        {
            int a = alpha[i], b = 255 - a;
            for (var c = 0; c < 3; c++) o[j + c] = (byte)((foreground[j + c] * a + background[j + c] * b + 127) / 255);
        }
        return o;
    }

    /// <summary>The background for <paramref name="frame"/> as RGB bytes (H*W*3).</summary>
    public byte[] BackgroundFor(RgbFrame frame)
    {
        var bg = options.Background ?? throw new InvalidOperationException("no background configured");
        switch (bg.Kind)
        {
            case BackgroundKind.Color:
                var px = new byte[frame.Rgb.Length];
                for (var j = 0; j < px.Length; j += 3) { px[j] = bg.Color.R; px[j + 1] = bg.Color.G; px[j + 2] = bg.Color.B; }
                return px;
            case BackgroundKind.Blur:
            {
                using var rgb = Mat.FromPixelData(frame.Height, frame.Width, MatType.CV_8UC3, frame.Rgb);
                using var blurred = new Mat();
                var sigma = BlurSigmaPer100Px * Math.Max(frame.Width, frame.Height) / 100.0;
                Cv2.GaussianBlur(rgb, blurred, new Size(0, 0), sigma, sigma, BorderTypes.Reflect101);
                return RgbFrame.CopyBytes(blurred);
            }
            default:
                if (resized is { } r && r.W == frame.Width && r.H == frame.Height) return r.Rgb;
                using (var src = Mat.FromPixelData(image!.Height, image.Width, MatType.CV_8UC3, image.Pixels))
                using (var dst = new Mat())
                {
                    Cv2.Resize(src, dst, new Size(frame.Width, frame.Height), interpolation: InterpolationFlags.Area);
                    resized = (frame.Width, frame.Height, RgbFrame.CopyBytes(dst));
                }
                return resized.Value.Rgb;
        }
    }

    /// <summary>The outputs of one frame: the alpha, and the composited RGB frame when a background is set (else null).</summary>
    public (byte[] Alpha, byte[]? Composite) Apply(RgbFrame frame, byte[] mask)
    {
        var alpha = Alpha(mask, frame.Width, frame.Height, options.Feather);
        return (alpha, options.Background is null ? null : Composite(frame.Rgb, BackgroundFor(frame), alpha));
    }
}
