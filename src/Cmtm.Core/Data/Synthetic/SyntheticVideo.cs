using Cmtm.Data.Sampling;

namespace Cmtm.Data.Synthetic;

/// <summary>One rendered synthetic frame: RGB image, the true motion field to the next frame (backward for the last
/// frame), and the ground-truth mask of the salient moving object (visible part only).</summary>
public sealed class SyntheticFrame
{
    public required byte[] Rgb { get; init; }      // H*W*3
    public required float[] FlowU { get; init; }   // H*W, pixels
    public required float[] FlowV { get; init; }
    public required byte[] Mask { get; init; }     // H*W, 1 = target
}

/// <summary>Difficulty knobs of the generator (defaults: the `cmtm synth` / demo settings).</summary>
public sealed record SyntheticOptions
{
    /// <summary>Static look-alike objects (same texture family and shapes as the target, glued to the background).</summary>
    public int MaxDistractors { get; init; } = 2;
    /// <summary>Background patches whose flow moves (like water or foliage) although nothing salient is there.</summary>
    public int MaxFlowNoiseRegions { get; init; } = 3;
    /// <summary>Probability of an occluding pole in front of the scene.</summary>
    public double OccluderProbability { get; init; } = 0.5;
    /// <summary>Maximum camera speed in pixels per frame (at a 160-pixel-wide frame; scaled with the size).</summary>
    public double MaxCameraSpeed { get; init; } = 2.5;
    /// <summary>Relative speed of the target with respect to the background (pixels per frame at 160 px), range.</summary>
    public double MinTargetSpeed { get; init; } = 1.5;
    public double MaxTargetSpeed { get; init; } = 4.0;
    /// <summary>Standard deviation of per-pixel image noise (8-bit levels).</summary>
    public double ImageNoise { get; init; } = 4.0;
    /// <summary>Low-frequency flow error (fraction of the target speed), like an imperfect flow estimator.</summary>
    public double FlowNoise { get; init; } = 0.25;
    /// <summary>Blur of the flow field (radius as a fraction of the shorter side): real estimators such as RAFT give
    /// soft motion boundaries, so the exact object outline has to come from the appearance stream.</summary>
    public double FlowBlur { get; init; } = 0.03;
}

/// <summary>
/// Procedural videos for training and testing video object segmentation: one textured target object moving over a
/// textured background that itself moves (camera translation and zoom), with look-alike static distractors, an
/// occluding pole, background regions with spurious flow, scale change and rotation. Appearance alone cannot tell
/// the target from the distractors; motion alone cannot tell it from the flow-noise regions. Pure managed code,
/// deterministic for a given seed.
/// </summary>
public sealed class SyntheticVideo
{
    private readonly int w, h, frames;
    private readonly SyntheticOptions opt;
    private readonly double unit; // pixels per "160-px frame" pixel

    private readonly Texture bgTex, targetTex, occluderTex;
    private readonly Shape targetShape;
    private readonly (Shape Shape, Texture Tex, double X, double Y, double Scale, double Angle)[] distractors;
    private readonly (double X, double Y, double Rx, double Ry, double Amp, double Freq, double Phase)[] flowNoise;
    private readonly (bool Present, double X, double Width, double Tilt) occluder;
    // camera: image = c + s(t) * (world - c) - T(t)
    private readonly double camVx, camVy, camZoom, camWobble, camPhase;
    // target: position p(t), scale sigma(t), angle theta(t)
    private readonly double tx0, ty0, tvx, tvy, tax, tay, tScale0, tGrowth, tAngle0, tSpin;
    private readonly double brightnessDrift;
    private readonly ulong noiseSeed;
    private readonly (double Fx, double Fy, double Px, double Py)[] flowErr;

    public int Width => w;
    public int Height => h;
    public int FrameCount => frames;

    public SyntheticVideo(int width, int height, int frameCount, ulong seed, SyntheticOptions? options = null)
    {
        if (width < 32 || height < 32) throw new ArgumentException("frames must be at least 32x32");
        if (frameCount < 2) throw new ArgumentException("at least 2 frames");
        w = width; h = height; frames = frameCount; opt = options ?? new SyntheticOptions();
        unit = Math.Min(w, h * 1.6) / 160.0;
        var rng = new TrainRng(seed);
        noiseSeed = rng.NextULong();

        bgTex = Texture.Random(rng, background: true);
        targetTex = Texture.Random(rng, background: false);
        occluderTex = Texture.Solid(rng);
        targetShape = Shape.Random(rng);

        double size = Math.Min(w, h);
        tScale0 = size * rng.Uniform(0.4, 0.58);
        tGrowth = Math.Pow(rng.Uniform(0.7, 1.45), 1.0 / Math.Max(1, frames - 1)); // total scale change 0.7x..1.45x
        tAngle0 = rng.Uniform(0, 2 * Math.PI);
        tSpin = rng.Uniform(-0.04, 0.04);

        double camSpeed = rng.Uniform(0.3, 1.0) * opt.MaxCameraSpeed * unit, camDir = rng.Uniform(0, 2 * Math.PI);
        camVx = camSpeed * Math.Cos(camDir); camVy = camSpeed * Math.Sin(camDir);
        camZoom = Math.Pow(rng.Uniform(0.9, 1.12), 1.0 / Math.Max(1, frames - 1));
        camWobble = rng.Uniform(0, 1.0) * unit; camPhase = rng.Uniform(0, 2 * Math.PI);

        // target trajectory in world coordinates (so its speed is relative to the background); start it so that its
        // image-space path (own motion minus camera motion) is centred in the frame
        double speed = rng.Uniform(opt.MinTargetSpeed, opt.MaxTargetSpeed) * unit, dir = rng.Uniform(0, 2 * Math.PI);
        tvx = speed * Math.Cos(dir); tvy = speed * Math.Sin(dir);
        tax = rng.Uniform(-0.05, 0.05) * unit; tay = rng.Uniform(-0.05, 0.05) * unit;
        double travelX = (tvx - camVx) * (frames - 1) + 0.5 * tax * (frames - 1) * (frames - 1);
        double travelY = (tvy - camVy) * (frames - 1) + 0.5 * tay * (frames - 1) * (frames - 1);
        double margin = tScale0 * 0.6;
        double ix0 = Clamp(w / 2.0 - travelX / 2 + rng.Uniform(-0.15, 0.15) * w, margin, w - margin);
        double iy0 = Clamp(h / 2.0 - travelY / 2 + rng.Uniform(-0.15, 0.15) * h, margin, h - margin);
        (tx0, ty0) = ImageToWorld(0, ix0, iy0);

        int nd = rng.NextInt(opt.MaxDistractors + 1);
        distractors = new (Shape, Texture, double, double, double, double)[nd];
        for (int i = 0; i < nd; i++)
        {
            // same texture family as the target (often the very same texture), glued to the world
            var tex = rng.Chance(0.6) ? targetTex : Texture.Random(rng, background: false);
            var shape = rng.Chance(0.5) ? targetShape : Shape.Random(rng);
            distractors[i] = (shape, tex, rng.Uniform(0.1, 0.9) * w, rng.Uniform(0.1, 0.9) * h, size * rng.Uniform(0.3, 0.45), rng.Uniform(0, 2 * Math.PI));
        }
        int nf = opt.MaxFlowNoiseRegions == 0 ? 0 : 1 + rng.NextInt(opt.MaxFlowNoiseRegions);
        flowNoise = new (double, double, double, double, double, double, double)[nf];
        for (int i = 0; i < nf; i++)
            flowNoise[i] = (rng.Uniform(0, w), rng.Uniform(0, h), size * rng.Uniform(0.25, 0.45), size * rng.Uniform(0.25, 0.45),
                rng.Uniform(0.6, 1.0) * speed, rng.Uniform(0.2, 0.6), rng.Uniform(0, 2 * Math.PI));
        occluder = (rng.Chance(opt.OccluderProbability), rng.Uniform(0.2, 0.8) * w, size * rng.Uniform(0.06, 0.12), rng.Uniform(-0.3, 0.3));
        brightnessDrift = rng.Uniform(-0.15, 0.15) / Math.Max(1, frames - 1);
        flowErr = new (double, double, double, double)[3];
        for (int i = 0; i < flowErr.Length; i++)
            flowErr[i] = (rng.Uniform(0.5, 2.5) * 2 * Math.PI / w, rng.Uniform(0.5, 2.5) * 2 * Math.PI / h, rng.Uniform(0, 6.3), rng.Uniform(0, 6.3));
    }

    private static double Clamp(double v, double lo, double hi) => lo > hi ? (lo + hi) / 2 : Math.Min(hi, Math.Max(lo, v));

    // ---- motion model ----
    private double CamScale(double t) => Math.Pow(camZoom, t);
    private (double X, double Y) CamShift(double t) =>
        (camVx * t + camWobble * Math.Sin(0.4 * t + camPhase), camVy * t + camWobble * Math.Cos(0.3 * t + camPhase));

    private (double X, double Y) WorldToImage(double t, double wx, double wy)
    {
        double s = CamScale(t); var (sx, sy) = CamShift(t);
        return (w / 2.0 + s * (wx - w / 2.0) - sx, h / 2.0 + s * (wy - h / 2.0) - sy);
    }

    private (double X, double Y) ImageToWorld(double t, double x, double y)
    {
        double s = CamScale(t); var (sx, sy) = CamShift(t);
        return (w / 2.0 + (x - w / 2.0 + sx) / s, h / 2.0 + (y - h / 2.0 + sy) / s);
    }

    private (double X, double Y, double Scale, double Angle) TargetPose(double t)
    {
        var (x, y) = WorldToImage(t, tx0 + tvx * t + 0.5 * tax * t * t, ty0 + tvy * t + 0.5 * tay * t * t);
        return (x, y, tScale0 * Math.Pow(tGrowth, t) * CamScale(t), tAngle0 + tSpin * t);
    }

    private static (double U, double V) ToLocal(double x, double y, double cx, double cy, double scale, double angle)
    {
        double dx = (x - cx) / scale, dy = (y - cy) / scale, c = Math.Cos(angle), s = Math.Sin(angle);
        return (c * dx + s * dy, -s * dx + c * dy);
    }

    private static (double X, double Y) FromLocal(double u, double v, double cx, double cy, double scale, double angle)
    {
        double c = Math.Cos(angle), s = Math.Sin(angle);
        return (cx + scale * (c * u - s * v), cy + scale * (s * u + c * v));
    }

    /// <summary>Renders frame <paramref name="t"/> (0-based).</summary>
    public SyntheticFrame Render(int t)
    {
        if (t < 0 || t >= frames) throw new ArgumentOutOfRangeException(nameof(t));
        int n = w * h;
        var rgb = new byte[n * 3];
        var fu = new float[n]; var fv = new float[n];
        var mask = new byte[n];
        int t2 = t < frames - 1 ? t + 1 : t - 1; // forward flow; the last frame gets the backward flow
        var pose = TargetPose(t); var pose2 = TargetPose(t2);
        double s1 = CamScale(t), s2 = CamScale(t2);
        var sh1 = CamShift(t); var sh2 = CamShift(t2);
        double bright = 1 + brightnessDrift * t;
        double targetSpeed = Math.Sqrt(tvx * tvx + tvy * tvy);
        var noise = new TrainRng(noiseSeed ^ ((ulong)t * 0x9E3779B97F4A7C15UL));

        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            int i = y * w + x;
            double px = x + 0.5, py = y + 0.5;
            // world point under this pixel (background layer), its position in the other frame -> camera flow
            double wx = w / 2.0 + (px - w / 2.0 + sh1.X) / s1, wy = h / 2.0 + (py - h / 2.0 + sh1.Y) / s1;
            double bx2 = w / 2.0 + s2 * (wx - w / 2.0) - sh2.X, by2 = h / 2.0 + s2 * (wy - h / 2.0) - sh2.Y;
            double u = bx2 - px, v = by2 - py;
            (double R, double G, double B) col = bgTex.Sample(wx / Math.Min(w, h), wy / Math.Min(w, h));
            bool isTarget = false;

            // spurious background motion (only in the flow)
            foreach (var fnr in flowNoise)
            {
                var (fx, fy) = WorldToImage(t, fnr.X, fnr.Y);
                double dx = (px - fx) / fnr.Rx, dy = (py - fy) / fnr.Ry, r2 = dx * dx + dy * dy;
                if (r2 < 1)
                {
                    double fall = (1 - r2) * (1 - r2), ph = fnr.Freq * t + fnr.Phase;
                    u += fnr.Amp * fall * Math.Cos(ph + 1.5 * dy);
                    v += fnr.Amp * fall * Math.Sin(ph + 1.5 * dx);
                }
            }
            // distractors: rigid with the world (camera flow only)
            foreach (var d in distractors)
            {
                var (dx0, dy0) = WorldToImage(t, d.X, d.Y);
                var (lu, lv) = ToLocal(px, py, dx0, dy0, d.Scale * s1, d.Angle);
                if (d.Shape.Inside(lu, lv)) col = d.Tex.Sample(lu, lv);
            }
            // target
            {
                var (lu, lv) = ToLocal(px, py, pose.X, pose.Y, pose.Scale, pose.Angle);
                if (targetShape.Inside(lu, lv))
                {
                    col = targetTex.Sample(lu, lv);
                    var (qx, qy) = FromLocal(lu, lv, pose2.X, pose2.Y, pose2.Scale, pose2.Angle);
                    u = qx - px; v = qy - py;
                    isTarget = true;
                }
            }
            // occluding pole, in front of everything, rigid with the world
            if (occluder.Present)
            {
                double ox = occluder.X + occluder.Tilt * (wy - h / 2.0);
                if (Math.Abs(wx - ox) * s1 < occluder.Width / 2)
                {
                    col = occluderTex.Sample(wx / Math.Min(w, h), wy / Math.Min(w, h));
                    u = bx2 - px; v = by2 - py;
                    isTarget = false;
                }
            }
            // flow estimator error: smooth field proportional to the target speed
            double eu = 0, ev = 0;
            foreach (var e in flowErr) { eu += Math.Sin(e.Fx * px + e.Px + 0.2 * t); ev += Math.Cos(e.Fy * py + e.Py - 0.2 * t); }
            u += opt.FlowNoise * targetSpeed * eu / flowErr.Length;
            v += opt.FlowNoise * targetSpeed * ev / flowErr.Length;

            fu[i] = (float)u; fv[i] = (float)v;
            mask[i] = isTarget ? (byte)1 : (byte)0;
            double nz = opt.ImageNoise;
            rgb[3 * i] = ToByte(col.R * bright * 255 + nz * noise.Gaussian());
            rgb[3 * i + 1] = ToByte(col.G * bright * 255 + nz * noise.Gaussian());
            rgb[3 * i + 2] = ToByte(col.B * bright * 255 + nz * noise.Gaussian());
        }
        int radius = (int)Math.Round(opt.FlowBlur * Math.Min(w, h));
        if (radius > 0) { BoxBlur2(fu, w, h, radius); BoxBlur2(fv, w, h, radius); }
        return new SyntheticFrame { Rgb = rgb, FlowU = fu, FlowV = fv, Mask = mask };
    }

    /// <summary>Two passes of a separable box blur (clamped edges): close to a Gaussian of sigma ~ 0.8 r.</summary>
    private static void BoxBlur2(float[] a, int w, int h, int r)
    {
        var tmp = new float[a.Length];
        for (int pass = 0; pass < 2; pass++)
        {
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double sum = 0;
                    for (int k = -r; k <= r; k++) sum += a[y * w + Math.Clamp(x + k, 0, w - 1)];
                    tmp[y * w + x] = (float)(sum / (2 * r + 1));
                }
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double sum = 0;
                    for (int k = -r; k <= r; k++) sum += tmp[Math.Clamp(y + k, 0, h - 1) * w + x];
                    a[y * w + x] = (float)(sum / (2 * r + 1));
                }
        }
    }

    private static byte ToByte(double v) => (byte)Math.Clamp((int)Math.Round(v), 0, 255);

    // ---- appearance ----
    private sealed class Texture
    {
        private readonly int kind;
        private readonly (double R, double G, double B)[] colors;
        private readonly double freq, angle, phase;
        private readonly (double Kx, double Ky, double Ph, double A)[] waves;

        private Texture(int kind, (double, double, double)[] colors, double freq, double angle, double phase, (double, double, double, double)[] waves)
        { this.kind = kind; this.colors = colors; this.freq = freq; this.angle = angle; this.phase = phase; this.waves = waves; }

        private static (double, double, double) RandomColor(TrainRng rng, double satMin, double satMax)
        {
            double hue = rng.NextDouble(), sat = rng.Uniform(satMin, satMax), val = rng.Uniform(0.35, 0.95);
            return Hsv(hue, sat, val);
        }

        public static Texture Random(TrainRng rng, bool background)
        {
            var waves = new (double, double, double, double)[4];
            for (int i = 0; i < waves.Length; i++)
            {
                double f = background ? rng.Uniform(2, 9) : rng.Uniform(1, 4), a = rng.Uniform(0, 2 * Math.PI);
                waves[i] = (f * Math.Cos(a), f * Math.Sin(a), rng.Uniform(0, 2 * Math.PI), rng.Uniform(0.5, 1));
            }
            if (background)
            {
                // smooth multi-colour noise, sometimes with stripes (so stripes alone do not mean "object")
                var cols = new[] { RandomColor(rng, 0.1, 0.7), RandomColor(rng, 0.1, 0.7), RandomColor(rng, 0.1, 0.7) };
                return new Texture(rng.Chance(0.25) ? 1 : 0, cols, rng.Uniform(8, 20), rng.Uniform(0, Math.PI), rng.Uniform(0, 6.3), waves);
            }
            var oc = new[] { RandomColor(rng, 0.4, 1.0), RandomColor(rng, 0.2, 1.0), RandomColor(rng, 0.1, 0.6) };
            return new Texture(1 + rng.NextInt(3), oc, rng.Uniform(4, 9), rng.Uniform(0, Math.PI), rng.Uniform(0, 6.3), waves);
        }

        public static Texture Solid(TrainRng rng)
        {
            var c = RandomColor(rng, 0.0, 0.5);
            var c2 = (c.Item1 * 0.8, c.Item2 * 0.8, c.Item3 * 0.8);
            return new Texture(0, new[] { c, c2, c }, 1, 0, 0, new[] { (3.0, 1.0, 0.0, 1.0) });
        }

        public (double R, double G, double B) Sample(double u, double v)
        {
            double s = 0, norm = 0;
            foreach (var wv in waves) { s += wv.A * Math.Sin(wv.Kx * u * 2 * Math.PI / 4 + wv.Ky * v * 2 * Math.PI / 4 + wv.Ph); norm += wv.A; }
            s = 0.5 + 0.5 * s / norm; // [0,1]
            double c = Math.Cos(angle), sn = Math.Sin(angle), a = c * u + sn * v, b = -sn * u + c * v;
            switch (kind)
            {
                case 0: return s < 0.5 ? Mix(colors[0], colors[1], s * 2) : Mix(colors[1], colors[2], s * 2 - 1);
                case 1: // stripes modulated by the noise
                    {
                        double st = 0.5 + 0.5 * Math.Sin(freq * a + phase + 2 * s);
                        return Mix(colors[0], colors[1], Smooth(st));
                    }
                case 2: // checker
                    {
                        double ch = Math.Sin(freq * a + phase) * Math.Sin(freq * b);
                        return Mix(Mix(colors[0], colors[2], s * 0.5), colors[1], Smooth(0.5 + 2 * ch));
                    }
                default: // dots
                    {
                        double fa = a * freq / (2 * Math.PI), fb = b * freq / (2 * Math.PI);
                        double da = fa - Math.Floor(fa) - 0.5, db = fb - Math.Floor(fb) - 0.5;
                        double r = Math.Sqrt(da * da + db * db);
                        return Mix(colors[1], colors[0], Smooth((0.32 - r) * 8 + 0.5));
                    }
            }
        }

        private static double Smooth(double x) { x = Math.Clamp(x, 0, 1); return x * x * (3 - 2 * x); }

        private static (double, double, double) Mix((double R, double G, double B) a, (double R, double G, double B) b, double t) =>
            (a.R + (b.R - a.R) * t, a.G + (b.G - a.G) * t, a.B + (b.B - a.B) * t);

        private static (double, double, double) Hsv(double hue, double s, double v)
        {
            double h6 = hue * 6, f = h6 - Math.Floor(h6);
            double p = v * (1 - s), q = v * (1 - s * f), r = v * (1 - s * (1 - f));
            return ((int)Math.Floor(h6) % 6) switch
            {
                0 => (v, r, p), 1 => (q, v, p), 2 => (p, v, r), 3 => (p, q, v), 4 => (r, p, v), _ => (v, p, q),
            };
        }
    }

    private sealed class Shape
    {
        private readonly double[] amp, phase;
        private readonly double aspect;

        private Shape(double[] amp, double[] phase, double aspect) { this.amp = amp; this.phase = phase; this.aspect = aspect; }

        /// <summary>A star-convex blob r(theta) = 1 + sum a_k cos(k theta + phi_k), with an aspect ratio.</summary>
        public static Shape Random(TrainRng rng)
        {
            int k = 5;
            var a = new double[k]; var p = new double[k];
            for (int i = 0; i < k; i++) { a[i] = rng.Uniform(0, 0.22 / (1 + 0.5 * i)); p[i] = rng.Uniform(0, 2 * Math.PI); }
            return new Shape(a, p, rng.Uniform(0.55, 1.0));
        }

        public bool Inside(double u, double v)
        {
            u /= 0.5; v /= 0.5 * aspect; // unit radius 0.5 in local units
            double r2 = u * u + v * v;
            if (r2 > 2.5) return false;
            double th = Math.Atan2(v, u), r = 1;
            for (int i = 0; i < amp.Length; i++) r += amp[i] * Math.Cos((i + 2) * th + phase[i]);
            return r2 < r * r;
        }
    }
}
