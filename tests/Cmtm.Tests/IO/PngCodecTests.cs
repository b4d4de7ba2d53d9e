using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Cmtm.IO;
using Cmtm.Tests.Support;
using OpenCvSharp;

namespace Cmtm.Tests.IO;

/// <summary>
/// PNG codec: round trips over every colour type / bit depth / filter / interlace, cross-checks against libpng
/// (through OpenCV) in both directions, the fixture and real-data PNGs, and the named errors for corrupt files.
/// </summary>
public class PngCodecTests
{
    private static PngImage Random(PngColorType ct, int depth, bool interlaced, int w, int h, int seed)
    {
        var rng = new Random(seed);
        var ch = PngImage.ChannelsOf(ct);
        var max = ct == PngColorType.Palette ? Math.Min(1 << depth, 7) : 1 << depth; // 7-entry palette
        var s = new ushort[w * h * ch];
        for (var i = 0; i < s.Length; i++) s[i] = (ushort)rng.Next(max);
        var pal = ct == PngColorType.Palette ? DavisPalette.Pascal(Math.Min(1 << depth, 7)) : [];
        return new PngImage(w, h, ct, depth, interlaced, s, pal);
    }

    public static IEnumerable<object[]> Formats()
    {
        foreach (var d in new[] { 1, 2, 4, 8, 16 }) yield return [PngColorType.Gray, d];
        foreach (var d in new[] { 1, 2, 4, 8 }) yield return [PngColorType.Palette, d];
        foreach (var ct in new[] { PngColorType.Rgb, PngColorType.GrayAlpha, PngColorType.Rgba })
            foreach (var d in new[] { 8, 16 }) yield return [ct, d];
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void RoundTripAllFormatsFiltersAndInterlace(PngColorType ct, int depth)
    {
        foreach (var interlaced in new[] { false, true })
            foreach (var (w, h) in new[] { (1, 1), (3, 2), (13, 11), (37, 9) })
                foreach (var cycle in new[] { false, true })
                {
                    var img = Random(ct, depth, interlaced, w, h, w * 31 + h);
                    var back = PngCodec.Decode(PngCodec.Encode(img, filterCycle: cycle));
                    Assert.Equal((w, h, ct, depth, interlaced), (back.Width, back.Height, back.ColorType, back.BitDepth, back.Interlaced));
                    Assert.Equal(img.Samples, back.Samples);
                    Assert.Equal(img.Palette, back.Palette);
                }
    }

    /// <summary>libpng (via OpenCV) decodes what we encode, including all five filters and Adam7.</summary>
    [Theory]
    [InlineData(PngColorType.Gray, 8)]
    [InlineData(PngColorType.Gray, 16)]
    [InlineData(PngColorType.Rgb, 8)]
    [InlineData(PngColorType.Rgb, 16)]
    [InlineData(PngColorType.Rgba, 8)]
    [InlineData(PngColorType.Palette, 4)]
    [InlineData(PngColorType.Palette, 8)]
    [InlineData(PngColorType.Gray, 1)]
    [InlineData(PngColorType.Gray, 4)]
    public void LibpngReadsOurFiles(PngColorType ct, int depth)
    {
        foreach (var interlaced in new[] { false, true })
        {
            var img = Random(ct, depth, interlaced, 29, 17, depth + (int)ct);
            var bytes = PngCodec.Encode(img, filterCycle: true);
            using var mat = Cv2.ImDecode(bytes, ImreadModes.Unchanged);
            Assert.False(mat.Empty());
            var (cvCh, cv16) = (mat.Channels(), mat.Depth() == MatType.CV_16U);
            var cv = ReadMat(mat);
            for (var y = 0; y < img.Height; y++)
                for (var x = 0; x < img.Width; x++)
                {
                    var o = (y * img.Width + x) * cvCh;
                    switch (ct)
                    {
                        case PngColorType.Palette: // OpenCV expands the palette to BGR
                            var idx = img[y, x];
                            Assert.Equal(img.Palette[3 * idx], cv[o + 2]);
                            Assert.Equal(img.Palette[3 * idx + 1], cv[o + 1]);
                            Assert.Equal(img.Palette[3 * idx + 2], cv[o]);
                            break;
                        case PngColorType.Gray when depth < 8: // libpng scales 1/2/4-bit gray to 8 bits
                            Assert.Equal(img[y, x] * 255 / ((1 << depth) - 1), cv[o]);
                            break;
                        case PngColorType.Gray:
                            Assert.True(cv16 == (depth == 16));
                            Assert.Equal(img[y, x], cv[o]);
                            break;
                        default: // RGB(A) -> BGR(A)
                            Assert.Equal(img[y, x, 0], cv[o + 2]);
                            Assert.Equal(img[y, x, 1], cv[o + 1]);
                            Assert.Equal(img[y, x, 2], cv[o]);
                            if (ct == PngColorType.Rgba) Assert.Equal(img[y, x, 3], cv[o + 3]);
                            break;
                    }
                }
        }
    }

    /// <summary>We decode what libpng (via OpenCV) encodes: 8/16-bit gray, BGR, BGRA, and 1-bit bilevel.</summary>
    [Theory]
    [InlineData(1, false, false)]
    [InlineData(1, true, false)]
    [InlineData(3, false, false)]
    [InlineData(3, true, false)]
    [InlineData(4, false, false)]
    [InlineData(1, false, true)]
    public void WeReadLibpngFiles(int channels, bool sixteen, bool bilevel)
    {
        const int w = 41, h = 23;
        var rng = new Random(channels * 7 + (sixteen ? 1 : 0));
        var vals = new int[w * h * channels];
        for (var i = 0; i < vals.Length; i++) vals[i] = bilevel ? rng.Next(2) * 255 : rng.Next(sixteen ? 65536 : 256);
        var type = sixteen ? MatType.CV_16UC(channels) : MatType.CV_8UC(channels);
        using var mat = new Mat(h, w, type);
        if (sixteen) { var a = vals.Select(v => (short)(ushort)v).ToArray(); Marshal.Copy(a, 0, mat.Data, a.Length); }
        else { var a = vals.Select(v => (byte)v).ToArray(); Marshal.Copy(a, 0, mat.Data, a.Length); }
        Cv2.ImEncode(".png", mat, out var bytes, bilevel ? [(int)ImwriteFlags.PngBilevel, 1] : []);
        var img = PngCodec.Decode(bytes);
        Assert.Equal(bilevel ? 1 : sixteen ? 16 : 8, img.BitDepth);
        for (var i = 0; i < w * h; i++)
            for (var c = 0; c < channels; c++)
            {
                var cvC = channels >= 3 && c < 3 ? 2 - c : c; // BGR(A) -> RGB(A)
                var expected = vals[i * channels + cvC];
                if (bilevel) expected = expected > 0 ? 1 : 0;
                Assert.Equal(expected, img.Samples[i * img.Channels + c]);
            }
    }

    private static int[] ReadMat(Mat mat)
    {
        var n = mat.Rows * mat.Cols * mat.Channels();
        if (mat.Depth() == MatType.CV_16U)
        {
            var a = new short[n];
            Marshal.Copy(mat.Data, a, 0, n);
            return a.Select(v => (int)(ushort)v).ToArray();
        }
        var b = new byte[n];
        Marshal.Copy(mat.Data, b, 0, n);
        return b.Select(v => (int)v).ToArray();
    }

    [Fact]
    public void FixturePalettesAndIndices()
    {
        // CMTM's 4-bit outputs: palette = utils.py DAVIS_PALETTE_4BIT, values = indices 0/1
        var res = PngCodec.Read(Shared.Fixture("metrics", "davis_mini", "results", "mini-band", "00000.png"));
        Assert.Equal((PngColorType.Palette, 4, 854, 480), (res.ColorType, res.BitDepth, res.Width, res.Height));
        Assert.Equal(DavisPalette.Cmtm4Bit(), res.Palette);
        Assert.Equal([0, 1], res.Samples.Distinct().Order().Select(v => (int)v));
        // davis2017 save_mask annotations: 8-bit, the full 256-entry PASCAL map
        var ann = PngCodec.Read(Shared.Fixture("metrics", "davis_mini", "Annotations", "480p", "mini-band", "00000.png"));
        Assert.Equal((PngColorType.Palette, 8), (ann.ColorType, ann.BitDepth));
        Assert.Equal(DavisPalette.Pascal(256), ann.Palette);
        Assert.Equal([0, 1], ann.Samples.Distinct().Order().Select(v => (int)v));
    }

    [Fact]
    public void RealRvosFrameGivesProposalIdsNotColours()
    {
        var img = PngCodec.Read(Shared.DataPath("rvos-davis16", "blackswan", "00000.png"));
        Assert.Equal(PngColorType.Palette, img.ColorType);
        var ids = img.Samples.Distinct().ToArray();
        Assert.Contains((ushort)0, ids);
        Assert.True(ids.Max() is >= 2 and <= 20, $"max id {ids.Max()}"); // data README: proposal ids 0..20
        var gt = PngCodec.Read(Shared.DataPath("davis16-val", "Annotations", "480p", "blackswan", "00000.png"));
        Assert.Equal((PngColorType.Gray, 8), (gt.ColorType, gt.BitDepth));
        Assert.Equal([0, 255], gt.Samples.Distinct().Order().Select(v => (int)v));
    }

    [Fact]
    public void PascalPaletteStandardEntries()
    {
        var p = DavisPalette.Pascal();
        Assert.Equal(768, p.Length);
        Assert.Equal(new byte[] { 0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128 }, p[..15]);
        Assert.Equal(new byte[] { 192, 0, 0 }, p[27..30]); // index 9
        Assert.Equal(new byte[] { 191, 0, 0 }, DavisPalette.Cmtm4Bit()[27..30]);
    }

    // ---------------------------------------------------------------- writers

    [Fact]
    public void WritersProduceExpectedFormatsAtomically()
    {
        using var dir = new Shared.TempDir();
        var mask = new BinaryMask(10, 7);
        for (var i = 0; i < mask.Data.Length; i += 3) mask.Data[i] = 1;
        var gray = dir.File("sub/gray.png");
        var pal = dir.File("sub/pal.png");
        PngMask.WriteGray(gray, mask);
        PngMask.WriteDavisPalette(pal, mask);
        Assert.Equal(["gray.png", "pal.png"], Directory.GetFiles(dir.File("sub")).Select(Path.GetFileName).Order()); // no temp files left
        var g = PngCodec.Read(gray);
        Assert.Equal((PngColorType.Gray, 8), (g.ColorType, g.BitDepth));
        Assert.Equal(mask.Data.Select(v => (ushort)(v * 255)), g.Samples);
        var p = PngCodec.Read(pal);
        Assert.Equal((PngColorType.Palette, 4), (p.ColorType, p.BitDepth));
        Assert.Equal(DavisPalette.Cmtm4Bit(), p.Palette);
        Assert.Equal(mask.Data.Select(v => (ushort)v), p.Samples);
        Assert.Equal(mask.Data, PngMask.Read(pal).Data);
        Assert.Equal(mask.Data, PngMask.Read(gray).Data);

        var idx = Enumerable.Range(0, 16 * 3).Select(i => (byte)(i % 256)).ToArray();
        var p8 = dir.File("p8.png");
        PngCodec.WritePalette(p8, 16, 3, idx, DavisPalette.Pascal(), 8);
        var back = PngCodec.Read(p8);
        Assert.Equal(idx.Select(v => (ushort)v), back.Samples);
        Assert.Throws<ArgumentException>(() => PngCodec.EncodePalette(2, 1, [0, 16], DavisPalette.Cmtm4Bit(), 4));
    }

    // ---------------------------------------------------------------- mask rules

    [Fact]
    public void MaskRules()
    {
        ushort[] idx = [0, 1, 2, 255, 9, 0];
        var pal = DavisPalette.Pascal();
        var img = new PngImage(6, 1, PngColorType.Palette, 8, false, idx, pal);
        Assert.Equal(new byte[] { 0, 1, 1, 1, 1, 0 }, PngMask.ToMask(img, MaskRule.Nonzero).Data);
        Assert.Equal(new byte[] { 0, 1, 1, 0, 1, 0 }, PngMask.ToMask(img, MaskRule.ObjectIds).Data); // 255 = void
        // PIL L of (128,0,0) = 38, (0,128,0) = 75, 255 -> (224,224,192) = 220, 9 -> (192,0,0) = 57
        Assert.Equal(new byte[] { 0, 0, 0, 1, 0, 0 }, PngMask.ToMask(img, MaskRule.Luminance).Data);
        Assert.Equal(220, PngMask.Luma(224, 224, 192));
        var gray = new PngImage(4, 1, PngColorType.Gray, 8, false, [0, 127, 128, 255], []);
        Assert.Equal(new byte[] { 0, 1, 1, 1 }, PngMask.ToMask(gray, MaskRule.ObjectIds).Data); // gray 0/255 GT: nonzero
        Assert.Equal(new byte[] { 0, 0, 1, 1 }, PngMask.ToMask(gray, MaskRule.Luminance).Data); // > 0.5
    }

    // ---------------------------------------------------------------- corrupt files

    private static byte[] SampleFile() => PngCodec.EncodeGray8(64, 48, Enumerable.Range(0, 64 * 48).Select(i => (byte)(i * 7)).ToArray());

    private static CmtmException ReadBad(byte[] bytes, string name = "bad.png")
    {
        using var dir = new Shared.TempDir();
        var path = dir.File(name);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CmtmException>(() => PngCodec.Read(path));
        Assert.Equal(path, e.Subject);
        Assert.StartsWith(path + ": ", e.Message);
        return e;
    }

    private static int ChunkOffset(byte[] png, string type)
    {
        var pos = 8;
        while (pos < png.Length)
        {
            var len = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos));
            if (System.Text.Encoding.ASCII.GetString(png, pos + 4, 4) == type) return pos;
            pos += 12 + len;
        }
        throw new InvalidOperationException(type);
    }

    [Fact]
    public void NotAPng() => Assert.Contains("not a PNG", ReadBad("hello world, not an image"u8.ToArray()).Problem);

    [Fact]
    public void MissingFileIsNamed()
    {
        var e = Assert.Throws<CmtmException>(() => PngCodec.Read("/nonexistent/x.png"));
        Assert.Equal("/nonexistent/x.png: file not found", e.Message);
    }

    [Fact]
    public void TruncatedInsideIdat()
    {
        var png = SampleFile();
        var idat = ChunkOffset(png, "IDAT");
        Assert.Contains("truncated", ReadBad(png[..(idat + 8 + 20)]).Problem);
    }

    [Fact]
    public void TruncatedImageDataWithValidChunks()
    {
        // A well-formed file whose IDAT holds too little data for the image: rebuild IDAT from half the zlib stream.
        var png = SampleFile();
        var full = PngCodec.Decode(png);
        var small = PngCodec.EncodeGray8(64, 20, full.Samples.Take(64 * 20).Select(v => (byte)v).ToArray());
        var idatSmall = ChunkOffset(small, "IDAT");
        var lenSmall = (int)BinaryPrimitives.ReadUInt32BigEndian(small.AsSpan(idatSmall));
        var ihdr = png[..(8 + 25)]; // signature + IHDR of the 64x48 image
        var forged = ihdr.Concat(small[idatSmall..(idatSmall + 12 + lenSmall)]).Concat(small[^12..]).ToArray();
        Assert.Contains("truncated image data", ReadBad(forged).Problem);
    }

    [Fact]
    public void BadCrcInCriticalChunkRejected()
    {
        var png = SampleFile();
        var idat = ChunkOffset(png, "IDAT");
        png[idat + 8 + 5] ^= 0x55;
        Assert.Contains("CRC mismatch in chunk IDAT", ReadBad(png).Problem);
    }

    [Fact]
    public void BadCrcInAncillaryChunkIgnored()
    {
        var png = SampleFile();
        // insert a tEXt chunk with a wrong CRC after IHDR
        var text = "tEXtComment\0hi"u8.ToArray();
        var chunk = new byte[4 + text.Length + 4];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)(text.Length - 4));
        text.CopyTo(chunk, 4);
        var withText = png[..33].Concat(chunk).Concat(png[33..]).ToArray();
        Assert.Equal(PngCodec.Decode(png).Samples, PngCodec.Decode(withText).Samples);
    }

    [Fact]
    public void MissingIendRejected()
    {
        var png = SampleFile();
        Assert.Contains("no IEND", ReadBad(png[..^12]).Problem);
    }

    [Fact]
    public void InvalidFilterTypeRejected()
    {
        // Build a raw stream with filter byte 9 and wrap it in a valid file.
        var raw = new byte[2 * (1 + 4)];
        raw[0] = 9;
        using var ms = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(ms, System.IO.Compression.CompressionLevel.Fastest, true)) z.Write(raw);
        var good = PngCodec.EncodeGray8(4, 2, new byte[8]);
        var idat = ChunkOffset(good, "IDAT");
        var len = (int)BinaryPrimitives.ReadUInt32BigEndian(good.AsSpan(idat));
        var body = ms.ToArray();
        var chunk = new byte[12 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)body.Length);
        "IDAT"u8.CopyTo(chunk.AsSpan(4));
        body.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + body.Length), System.IO.Hashing.Crc32.HashToUInt32(chunk.AsSpan(4, 4 + body.Length)));
        var forged = good[..idat].Concat(chunk).Concat(good[(idat + 12 + len)..]).ToArray();
        Assert.Contains("invalid filter type 9", ReadBad(forged).Problem);
    }

    [Fact]
    public void InvalidBitDepthRejected()
    {
        var png = SampleFile();
        png[8 + 8 + 8] = 3; // IHDR bit depth
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(8 + 8 + 13), System.IO.Hashing.Crc32.HashToUInt32(png.AsSpan(12, 17)));
        Assert.Contains("bit depth 3", ReadBad(png).Problem);
    }
}
