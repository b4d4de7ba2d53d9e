namespace Cmtm.Data.Sampling;

/// <summary>
/// A small seeded random generator (xoshiro256**) whose whole state is four 64-bit words, so a training run can
/// checkpoint it and resume exactly. Used for every sampling/augmentation decision (video, frame, flips, mixing).
/// </summary>
public sealed class TrainRng
{
    private ulong s0, s1, s2, s3;

    public TrainRng(ulong seed)
    {
        // SplitMix64 expansion of the seed (the reference seeding procedure of xoshiro)
        ulong x = seed;
        s0 = SplitMix(ref x); s1 = SplitMix(ref x); s2 = SplitMix(ref x); s3 = SplitMix(ref x);
    }

    /// <summary>The four state words (copy); setting restores a saved state exactly.</summary>
    public ulong[] State
    {
        get => new[] { s0, s1, s2, s3 };
        set
        {
            if (value.Length != 4 || value.All(v => v == 0)) throw new ArgumentException("RNG state must be 4 words, not all zero");
            (s0, s1, s2, s3) = (value[0], value[1], value[2], value[3]);
        }
    }

    /// <summary>State as text ("hex hex hex hex") for checkpoint metadata.</summary>
    public string StateText
    {
        get => string.Join(' ', State.Select(v => v.ToString("x16")));
        set
        {
            var parts = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 4) throw new FormatException($"RNG state '{value}' is not 4 hex words");
            State = parts.Select(p => Convert.ToUInt64(p, 16)).ToArray();
        }
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Rotl(ulong x, int k) => (x << k) | (x >> (64 - k));

    public ulong NextULong()
    {
        ulong result = Rotl(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = Rotl(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [lo, hi).</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Uniform integer in [0, n) without modulo bias.</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), "n must be positive");
        ulong bound = (ulong)n, threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong r = NextULong();
            if (r >= threshold) return (int)(r % bound);
        }
    }

    public bool Chance(double p) => NextDouble() < p;

    /// <summary>Standard normal (Box-Muller, one value per call).</summary>
    public double Gaussian()
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
