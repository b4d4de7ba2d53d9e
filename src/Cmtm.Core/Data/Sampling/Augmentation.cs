namespace Cmtm.Data.Sampling;

/// <summary>
/// Extra training augmentation beyond the official flips, for small datasets (DAVIS-2016 train alone): a random crop
/// of the frame (RandomResizedCrop-like: area fraction in [<see cref="CropScale"/>, 1], aspect ratio within 3/4..4/3
/// of the frame's) applied jointly to frame, flow image and mask before the resize to the model resolution, and a
/// colour jitter of the frame only (brightness, contrast, saturation factors in 1 ± <see cref="ColorJitter"/>).
/// The default (crop scale 1, jitter 0) is the official pipeline and draws no extra random numbers.
/// </summary>
public sealed record Augmentation(double CropScale = 1.0, double ColorJitter = 0.0)
{
    /// <summary>The official pipeline (flips only).</summary>
    public static readonly Augmentation None = new();

    public bool Crops => CropScale < 1.0;
    public bool Jitters => ColorJitter > 0.0;
    public bool Any => Crops || Jitters;

    /// <summary>Throws when a value is outside its range (names the option).</summary>
    public void Validate()
    {
        if (!(CropScale > 0 && CropScale <= 1)) throw new CmtmException("crop-scale", $"{CropScale} must be in (0, 1] (1 = no crop)");
        if (!(ColorJitter >= 0 && ColorJitter < 1)) throw new CmtmException("color-jitter", $"{ColorJitter} must be in [0, 1) (0 = none)");
    }

    /// <summary>A random crop rectangle (x, y, w, h) inside a width x height frame.</summary>
    public (int X, int Y, int W, int H) DrawCrop(TrainRng rng, int width, int height)
    {
        double area = rng.Uniform(CropScale, 1.0) * width * height;
        double logRatio = rng.Uniform(Math.Log(3.0 / 4.0), Math.Log(4.0 / 3.0));
        double aspect = (double)width / height * Math.Exp(logRatio);
        int w = Math.Clamp((int)Math.Round(Math.Sqrt(area * aspect)), 1, width);
        int h = Math.Clamp((int)Math.Round(Math.Sqrt(area / aspect)), 1, height);
        int x = rng.NextInt(width - w + 1), y = rng.NextInt(height - h + 1);
        return (x, y, w, h);
    }

    /// <summary>Copies the (x, y, w, h) rectangle of an interleaved width-wide image with <paramref name="channels"/> channels.</summary>
    public static byte[] Crop(byte[] src, int width, int channels, (int X, int Y, int W, int H) r)
    {
        var dst = new byte[r.W * r.H * channels];
        for (int y = 0; y < r.H; y++)
            Buffer.BlockCopy(src, ((r.Y + y) * width + r.X) * channels, dst, y * r.W * channels, r.W * channels);
        return dst;
    }

    /// <summary>Draws the three jitter factors (brightness, contrast, saturation).</summary>
    public (double Brightness, double Contrast, double Saturation) DrawJitter(TrainRng rng)
        => (rng.Uniform(1 - ColorJitter, 1 + ColorJitter), rng.Uniform(1 - ColorJitter, 1 + ColorJitter), rng.Uniform(1 - ColorJitter, 1 + ColorJitter));

    /// <summary>
    /// Applies brightness (scale), contrast (blend with the image's mean gray) and saturation (blend with each pixel's
    /// gray) to interleaved RGB bytes, as torchvision's ColorJitter does in that order; returns a new buffer.
    /// </summary>
    public static byte[] Jitter(byte[] rgb, (double Brightness, double Contrast, double Saturation) f)
    {
        int n = rgb.Length / 3;
        var v = new double[rgb.Length];
        for (int i = 0; i < rgb.Length; i++) v[i] = Math.Min(255, rgb[i] * f.Brightness);
        double mean = 0;
        for (int i = 0; i < n; i++) mean += Gray(v, i);
        mean /= n;
        for (int i = 0; i < v.Length; i++) v[i] = Math.Clamp((v[i] - mean) * f.Contrast + mean, 0, 255);
        var dst = new byte[rgb.Length];
        for (int i = 0; i < n; i++)
        {
            double g = Gray(v, i);
            for (int c = 0; c < 3; c++) dst[3 * i + c] = (byte)Math.Round(Math.Clamp((v[3 * i + c] - g) * f.Saturation + g, 0, 255));
        }
        return dst;
    }

    private static double Gray(double[] v, int i) => 0.299 * v[3 * i] + 0.587 * v[3 * i + 1] + 0.114 * v[3 * i + 2];
}
