using Cmtm.Data.Datasets;
using System.Collections.Concurrent;
using Cmtm.IO;
using static TorchSharp.torch;

namespace Cmtm.Data.Sampling;

/// <summary>One prepared training example at the model resolution (R x R).</summary>
public sealed record PreparedSample(byte[] Image, byte[] Flow, byte[] Mask, int Size);

/// <summary>A training batch: images, flows (B,3,R,R) float32 [0,1], masks (B,R,R) int64 {0,1}; and where each came from.</summary>
public sealed class TrainBatch : IDisposable
{
    public required Tensor Images { get; init; }
    public required Tensor Flows { get; init; }
    public required Tensor Masks { get; init; }
    public required IReadOnlyList<DatasetKind> Kinds { get; init; }
    public void Dispose() { Images.Dispose(); Flows.Dispose(); Masks.Dispose(); }
}

/// <summary>
/// Draws training samples as the official datasets do: per epoch, each source contributes samples in proportion to its
/// share (stage 2: DUTSv2 : DAVIS = 3 : 1), concatenated and shuffled; every sample picks a random video, then a random
/// frame; image and flow are resized with Pillow bicubic, masks with nearest (palette ids: 255 -&gt; 0, nonzero -&gt; 1) or
/// bicubic + threshold 0.5 (DUTS); then joint random horizontal and vertical flips. Every random decision comes from
/// one <see cref="TrainRng"/>, whose state is part of the training checkpoint.
/// </summary>
public sealed class TrainSampler
{
    private readonly IReadOnlyList<TrainingSource> sources;
    private readonly int size;
    private readonly ConcurrentDictionary<string, PreparedSample>? cache;
    private readonly ConcurrentDictionary<string, FullSample>? fullCache;
    private int[] plan = Array.Empty<int>();
    private int position;

    public TrainRng Rng { get; }
    public int Resolution => size;
    /// <summary>Crop and colour jitter on top of the official flips (<see cref="Augmentation.None"/>: official only).</summary>
    public Augmentation Augment { get; }
    public IReadOnlyList<TrainingSource> Sources => sources;

    /// <param name="cacheResized">Keep decoded samples in memory (resized ones without cropping, full-size ones with it);
    /// decoding and resizing are deterministic, so this only saves time.</param>
    /// <param name="augment">Extra augmentation (default none: the official pipeline).</param>
    public TrainSampler(IReadOnlyList<TrainingSource> sources, int resolution, TrainRng rng, bool cacheResized = false, Augmentation? augment = null)
    {
        if (sources.Count == 0) throw new CmtmException("train", "no training dataset given");
        this.sources = sources; size = resolution; Rng = rng;
        Augment = augment ?? Augmentation.None;
        Augment.Validate();
        if (cacheResized) { cache = new ConcurrentDictionary<string, PreparedSample>(); fullCache = new ConcurrentDictionary<string, FullSample>(); }
    }

    /// <summary>How many samples of each source one epoch of <paramref name="samples"/> holds (largest remainder).</summary>
    public static int[] EpochCounts(IReadOnlyList<double> shares, int samples)
    {
        double total = shares.Sum();
        var exact = shares.Select(s => samples * s / total).ToArray();
        var counts = exact.Select(e => (int)Math.Floor(e)).ToArray();
        int left = samples - counts.Sum();
        foreach (var i in Enumerable.Range(0, shares.Count).OrderByDescending(i => exact[i] - counts[i]).ThenBy(i => i).Take(left)) counts[i]++;
        return counts;
    }

    /// <summary>Starts an epoch: the shuffled list of source indices (the ConcatDataset + shuffle of the official loader).</summary>
    public void BeginEpoch(int samples)
    {
        var counts = EpochCounts(sources.Select(s => s.Share).ToList(), samples);
        plan = counts.SelectMany((c, i) => Enumerable.Repeat(i, c)).ToArray();
        for (int i = plan.Length - 1; i > 0; i--) { int j = Rng.NextInt(i + 1); (plan[i], plan[j]) = (plan[j], plan[i]); }
        position = 0;
    }

    /// <summary>The next source index of the epoch plan (for tests of the mixing ratio).</summary>
    public int NextSourceIndex()
    {
        if (position >= plan.Length) throw new InvalidOperationException("epoch exhausted; call BeginEpoch");
        return plan[position++];
    }

    public int RemainingInEpoch => plan.Length - position;

    /// <summary>The current epoch's source order and how much of it was consumed (checkpointed for an exact resume).</summary>
    public (int[] Plan, int Position) EpochState => ((int[])plan.Clone(), position);

    public void RestoreEpoch(int[] savedPlan, int savedPosition)
    {
        if (savedPosition < 0 || savedPosition > savedPlan.Length || savedPlan.Any(i => i < 0 || i >= sources.Count))
            throw new ArgumentException("saved epoch plan does not match the training sources");
        plan = (int[])savedPlan.Clone(); position = savedPosition;
    }

    /// <summary>Draws the next sample of the epoch: random video, random frame, loaded, resized and flipped.</summary>
    public (PreparedSample Sample, DatasetKind Kind) Next()
    {
        var src = sources[NextSourceIndex()];
        var video = src.Videos[Rng.NextInt(src.Videos.Count)];
        var frame = video[Rng.NextInt(video.Count)];
        bool hflip = Rng.NextDouble() < 0.5, vflip = Rng.NextDouble() < 0.5;
        PreparedSample s;
        if (Augment.Crops)
        {
            var full = fullCache != null ? fullCache.GetOrAdd(frame.Image, _ => Decode(frame, src.GrayMasks)) : Decode(frame, src.GrayMasks);
            s = CropResize(full, Augment.DrawCrop(Rng, full.Width, full.Height), size);
        }
        else s = cache != null ? cache.GetOrAdd(frame.Image, _ => Prepare(frame, src.GrayMasks, size)) : Prepare(frame, src.GrayMasks, size);
        s = Flip(s, hflip, vflip);
        if (Augment.Jitters) s = s with { Image = Augmentation.Jitter(s.Image, Augment.DrawJitter(Rng)) };
        return (s, src.Kind);
    }

    /// <summary>A decoded training frame at its own size: RGB frame, flow image and {0,1} mask, all width x height.</summary>
    public sealed record FullSample(byte[] Image, byte[] Flow, byte[] Mask, int Width, int Height);

    /// <summary>Loads one example at the frame's size (flow bicubic- and mask nearest-resized to it when they differ;
    /// masks binarised as in <see cref="Prepare"/>).</summary>
    public static FullSample Decode(FrameFiles f, bool grayMask)
    {
        var img = RgbImage.Load(f.Image);
        var flo = RgbImage.Load(f.Flow);
        int w = img.Width, h = img.Height;
        var floPixels = flo.Width == w && flo.Height == h ? flo.Pixels : PilResize.Bicubic(flo.Pixels, flo.Width, flo.Height, 3, w, h);
        byte[] mask;
        if (grayMask)
        {
            var (gray, mw, mh) = GrayLevels(PngCodec.Read(f.Mask));
            var m = mw == w && mh == h ? gray : PilResize.Bicubic(gray, mw, mh, 1, w, h);
            mask = m.Select(v => v / 255.0 > 0.5 ? (byte)1 : (byte)0).ToArray();
        }
        else
        {
            var ids = PngMask.Read(f.Mask, MaskRule.ObjectIds);
            mask = ids.Width == w && ids.Height == h ? ids.Data : PilResize.Nearest(ids.Data, ids.Width, ids.Height, w, h);
        }
        return new FullSample(img.Pixels, floPixels, mask, w, h);
    }

    /// <summary>Crops the rectangle out of frame, flow and mask and resizes them to size x size (bicubic; mask nearest).</summary>
    public static PreparedSample CropResize(FullSample f, (int X, int Y, int W, int H) r, int size)
    {
        var img = PilResize.Bicubic(Augmentation.Crop(f.Image, f.Width, 3, r), r.W, r.H, 3, size, size);
        var flo = PilResize.Bicubic(Augmentation.Crop(f.Flow, f.Width, 3, r), r.W, r.H, 3, size, size);
        var mask = PilResize.Nearest(Augmentation.Crop(f.Mask, f.Width, 1, r), r.W, r.H, size, size);
        return new PreparedSample(img, flo, mask, size);
    }


    /// <summary>Draws <paramref name="batch"/> samples (fewer when the epoch ends) as tensors on <paramref name="device"/>.</summary>
    public TrainBatch NextBatch(int batch, Device? device = null)
    {
        int b = Math.Min(batch, RemainingInEpoch);
        if (b <= 0) throw new InvalidOperationException("epoch exhausted; call BeginEpoch");
        int r = size, n = r * r;
        var img = new byte[b * n * 3]; var flo = new byte[b * n * 3]; var msk = new long[b * n];
        var kinds = new DatasetKind[b];
        for (int i = 0; i < b; i++)
        {
            var (s, k) = Next();
            kinds[i] = k;
            Buffer.BlockCopy(s.Image, 0, img, i * n * 3, n * 3);
            Buffer.BlockCopy(s.Flow, 0, flo, i * n * 3, n * 3);
            for (int j = 0; j < n; j++) msk[i * n + j] = s.Mask[j];
        }
        return new TrainBatch { Images = ToTensor(img, b, r, device), Flows = ToTensor(flo, b, r, device), Masks = tensor(msk, new long[] { b, r, r }).to(device ?? CPU), Kinds = kinds };
    }

    /// <summary>(B,R,R,3) bytes -&gt; (B,3,R,R) float32 byte/255 (the official ToTensor).</summary>
    public static Tensor ToTensor(byte[] hwc, int b, int r, Device? device)
    {
        // every intermediate and the 255 held until libtorch is done with it (see Cmtm.Runtime.Scalars)
        using var u8 = tensor(hwc, new long[] { b, r, r, 3 }, ScalarType.Byte);
        using var nchw = u8.permute(0, 3, 1, 2);
        using var f = nchw.to_type(ScalarType.Float32);
        using var unit = f.div(Cmtm.Runtime.Scalars.Float255);
        var t = unit.contiguous();
        if (device is null || device.type == TorchSharp.DeviceType.CPU) return t;
        using (t) return t.to(device);
    }

    /// <summary>Loads and resizes one example (no flips).</summary>
    public static PreparedSample Prepare(FrameFiles f, bool grayMask, int size)
    {
        var img = RgbImage.Load(f.Image);
        var flo = RgbImage.Load(f.Flow);
        var imgR = PilResize.Bicubic(img.Pixels, img.Width, img.Height, 3, size, size);
        var floR = PilResize.Bicubic(flo.Pixels, flo.Width, flo.Height, 3, size, size);
        byte[] mask;
        if (grayMask)
        {
            // DUTS: mode 'L', bicubic, /255, > 0.5
            var (gray, mw, mh) = GrayLevels(PngCodec.Read(f.Mask));
            var m = PilResize.Bicubic(gray, mw, mh, 1, size, size);
            mask = m.Select(v => v / 255.0 > 0.5 ? (byte)1 : (byte)0).ToArray();
        }
        else
        {
            // palette ids (255 -> 0, nonzero -> 1, all objects merged), nearest; binarising first gives the same result
            var ids = PngMask.Read(f.Mask, MaskRule.ObjectIds);
            mask = PilResize.Nearest(ids.Data, ids.Width, ids.Height, size, size);
        }
        return new PreparedSample(imgR, floR, mask, size);
    }

    /// <summary>A mask image as PIL mode 'L' levels: gray scaled to 8 bits, colours (and palette colours) by PIL's luma.</summary>
    public static (byte[] Gray, int Width, int Height) GrayLevels(PngImage img)
    {
        int n = img.Width * img.Height, ch = img.Channels, depth = img.BitDepth;
        var s = img.Samples; var pal = img.Palette;
        var g = new byte[n];
        int To8(int v) => depth == 16 ? v >> 8 : depth == 8 ? v : v * 255 / ((1 << depth) - 1);
        for (int i = 0; i < n; i++)
        {
            g[i] = img.ColorType switch
            {
                PngColorType.Palette => 3 * s[i] + 2 < pal.Length ? (byte)PngMask.Luma(pal[3 * s[i]], pal[3 * s[i] + 1], pal[3 * s[i] + 2]) : (byte)0,
                PngColorType.Gray or PngColorType.GrayAlpha => (byte)To8(s[i * ch]),
                _ => (byte)PngMask.Luma(To8(s[i * ch]), To8(s[i * ch + 1]), To8(s[i * ch + 2])),
            };
        }
        return (g, img.Width, img.Height);
    }

    public static PreparedSample Flip(PreparedSample s, bool horizontal, bool vertical)
    {
        if (!horizontal && !vertical) return s;
        int r = s.Size;
        var img = new byte[s.Image.Length]; var flo = new byte[s.Flow.Length]; var m = new byte[s.Mask.Length];
        for (int y = 0; y < r; y++)
        {
            int sy = vertical ? r - 1 - y : y;
            for (int x = 0; x < r; x++)
            {
                int sx = horizontal ? r - 1 - x : x, d = y * r + x, o = sy * r + sx;
                m[d] = s.Mask[o];
                for (int c = 0; c < 3; c++) { img[3 * d + c] = s.Image[3 * o + c]; flo[3 * d + c] = s.Flow[3 * o + c]; }
            }
        }
        return new PreparedSample(img, flo, m, r);
    }
}
