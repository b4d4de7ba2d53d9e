using System.Diagnostics;
using System.Text.Json;
using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.IO;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Evaluation;

public class EvaluatorTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Literal transcription of f_measure: materialised seg2bmap, explicit disk dilation, counts.</summary>
    internal static BoundaryScore NaiveBoundary(BinaryMask gt, BinaryMask pred, double boundTh = 0.008)
    {
        int w = gt.Width, h = gt.Height;
        var r = DavisMetrics.BoundPix(h, w, boundTh);
        byte[] Bmap(BinaryMask m)
        {
            int S(int y, int x) => y < h && x < w ? m.Data[y * w + x] : 0;
            var b = new byte[w * h];
            for (var y = 0; y < h; y++)
                for (var x = 0; x < w; x++)
                    b[y * w + x] = (byte)((S(y, x) ^ S(y, x + 1)) | (S(y, x) ^ S(y + 1, x)) | (S(y, x) ^ S(y + 1, x + 1)));
            for (var x = 0; x < w; x++) b[(h - 1) * w + x] = (byte)(S(h - 1, x) ^ S(h - 1, x + 1));
            for (var y = 0; y < h; y++) b[y * w + w - 1] = (byte)(S(y, w - 1) ^ S(y + 1, w - 1));
            b[h * w - 1] = 0;
            return b;
        }
        byte[] Dilate(byte[] b)
        {
            var d = new byte[w * h];
            for (var y = 0; y < h; y++)
                for (var x = 0; x < w; x++)
                {
                    if (b[y * w + x] == 0) continue;
                    for (var dy = -r; dy <= r; dy++)
                        for (var dx = -r; dx <= r; dx++)
                            if (dx * dx + dy * dy <= r * r && y + dy >= 0 && y + dy < h && x + dx >= 0 && x + dx < w)
                                d[(y + dy) * w + x + dx] = 1;
                }
            return d;
        }
        var fg = Bmap(pred);
        var gb = Bmap(gt);
        var fgDil = Dilate(fg);
        var gtDil = Dilate(gb);
        long nFg = fg.Sum(v => v), nGt = gb.Sum(v => v), fgMatch = 0, gtMatch = 0;
        for (var i = 0; i < w * h; i++) { fgMatch += fg[i] & gtDil[i]; gtMatch += gb[i] & fgDil[i]; }
        double p, rc;
        if (nFg == 0 && nGt > 0) (p, rc) = (1, 0);
        else if (nFg > 0 && nGt == 0) (p, rc) = (0, 1);
        else if (nFg == 0 && nGt == 0) (p, rc) = (1, 1);
        else (p, rc) = (fgMatch / (double)nFg, gtMatch / (double)nGt);
        var f = p + rc == 0 ? 0 : 2 * p * rc / (p + rc);
        return new BoundaryScore(f, p, rc, r, nGt, nFg);
    }

    private static BinaryMask RandomBlobs(int w, int h, Random rng)
    {
        var m = new BinaryMask(w, h);
        var blobs = rng.Next(0, 4);
        for (var k = 0; k < blobs; k++)
        {
            int cx = rng.Next(w), cy = rng.Next(h), rx = rng.Next(1, w / 2 + 2), ry = rng.Next(1, h / 2 + 2);
            for (var y = 0; y < h; y++)
                for (var x = 0; x < w; x++)
                    if ((x - cx) * (double)(x - cx) / (rx * rx) + (y - cy) * (double)(y - cy) / (ry * ry) <= 1) m.Data[y * w + x] = 1;
        }
        for (var i = 0; i < m.Data.Length; i++) if (rng.NextDouble() < 0.01) m.Data[i] ^= 1;
        return m;
    }

    [Fact]
    public void FastBoundaryEqualsNaiveDilation()
    {
        var rng = new Random(7);
        foreach (var (w, h, th) in new[] { (1, 1, 0.008), (1, 9, 0.008), (9, 1, 0.008), (37, 53, 0.008), (120, 90, 0.008), (64, 48, 3.0), (200, 150, 0.05) })
            for (var k = 0; k < 6; k++)
            {
                var a = RandomBlobs(w, h, rng);
                var b = RandomBlobs(w, h, rng);
                var fast = DavisMetrics.Boundary(a, b, th);
                var slow = NaiveBoundary(a, b, th);
                Assert.Equal(slow, fast);
            }
    }

    [Fact]
    public void RealFrameBoundaryEqualsNaiveDilation()
    {
        var gt = PngMask.Read(Shared.DataPath("davis16-val", "Annotations", "480p", "dog", "00030.png"), MaskRule.ObjectIds);
        var pred = PngMask.Read(Shared.DataPath("rvos-davis16", "dog", "00030.png"));
        var fast = DavisMetrics.Boundary(gt, pred);
        Assert.Equal(NaiveBoundary(gt, pred), fast);
        Assert.Equal(8, fast.BoundPix);
        Assert.InRange(fast.F, 0.3, 1.0);
    }

    // ---------------------------------------------------------------- synthetic datasets

    private static BinaryMask Rect(int w, int h, int x0, int y0, int x1, int y1)
    {
        var m = new BinaryMask(w, h);
        for (var y = y0; y < y1; y++) for (var x = x0; x < x1; x++) m.Data[y * w + x] = 1;
        return m;
    }

    [Fact]
    public void IouProtocolSkipsEmptyGtFramesAndAveragesPerSequenceThenOverSequences()
    {
        using var dir = new Shared.TempDir();
        var root = dir.File("fbms");
        var res = dir.File("res");
        // seq "a": frames 0 (J = 0.5), 1 (empty GT: skipped), 2 (J = 1) -> 0.75 ; seq "b": one frame J = 0.25
        void Frame(string seq, string name, BinaryMask gt, BinaryMask pred)
        {
            PngMask.WriteGray(Path.Combine(root, "Annotations", seq, name + ".png"), gt);
            PngMask.WriteDavisPalette(Path.Combine(res, seq, name + ".png"), pred);
        }
        Frame("a", "a_001", Rect(8, 4, 0, 0, 4, 4), Rect(8, 4, 0, 0, 2, 4));
        Frame("a", "a_021", new BinaryMask(8, 4), Rect(8, 4, 0, 0, 8, 4));
        Frame("a", "a_041", Rect(8, 4, 2, 1, 5, 3), Rect(8, 4, 2, 1, 5, 3));
        Frame("b", "b_001", Rect(8, 4, 0, 0, 8, 1), Rect(8, 4, 0, 0, 2, 1));
        var ds = DatasetReader.Fbms(root);
        var r = Evaluator.Evaluate(ds, new ResultsFolder(res), EvaluationProtocol.Iou);
        Assert.Equal(0.75, r.Sequences[0].Metrics["J-Mean"], 1e-15);
        Assert.Equal(2, r.Sequences[0].ValidFrames);
        Assert.Equal(0.25, r.Sequences[1].Metrics["J-Mean"], 1e-15);
        Assert.Equal(0.5, r.Overall["J-Mean"], 1e-15);
        Assert.Equal(["J-Mean"], r.Columns);
        Assert.Contains("Overall", ReportWriters.Table(r));
        var plot = PngCodec.Decode(ReportPlot.BarChartPng(r, 640, 360));
        Assert.Equal((640, 360), (plot.Width, plot.Height));
        Assert.Equal("Sequence,J-Mean,Frames\na,0.75,2\nb,0.25,1\nOverall,0.5,3\n", ReportWriters.Csv(r));
    }

    [Fact]
    public void YouTubeObjectsPerClassAndTotalOverAllSequences()
    {
        using var dir = new Shared.TempDir();
        var root = dir.File("yto");
        var res = dir.File("res");
        void Seq(string cls, string video, double j)
        {
            // GT 4 pixels wide; prediction covers round(j * 4) of them -> J = j
            var gt = Rect(4, 1, 0, 0, 4, 1);
            var pred = Rect(4, 1, 0, 0, (int)Math.Round(j * 4), 1);
            PngMask.WriteGray(Path.Combine(root, "Annotations", cls, video, "00001.png"), gt);
            PngMask.WriteGray(Path.Combine(res, cls, video, "00001.png"), pred);
        }
        Seq("aeroplane", "0001", 1.0);
        Seq("aeroplane", "0002", 0.5);
        Seq("cat", "0001", 0.25);
        var r = Evaluator.Evaluate(DatasetReader.YouTubeObjects(root), new ResultsFolder(res), EvaluationProtocol.Iou);
        Assert.Equal(["aeroplane/0001", "aeroplane/0002", "cat/0001"], r.Sequences.Select(s => s.Name));
        Assert.Equal(0.75, r.Categories["aeroplane"]["J-Mean"], 1e-15);
        Assert.Equal(0.25, r.Categories["cat"]["J-Mean"], 1e-15);
        Assert.Equal(1.75 / 3, r.Overall["J-Mean"], 1e-15); // mean over ALL sequences, not of class means (0.5)
        using var json = JsonDocument.Parse(ReportWriters.Json(r));
        Assert.Equal(0.75, json.RootElement.GetProperty("categories").GetProperty("aeroplane").GetProperty("J-Mean").GetDouble(), 1e-15);
    }

    [Fact]
    public void MissingResultFrameIsNamed()
    {
        var root = Shared.Fixture("metrics", "davis_mini");
        using var dir = new Shared.TempDir();
        foreach (var seq in Directory.GetDirectories(Path.Combine(root, "results")))
        {
            var dst = Path.Combine(dir.Path, Path.GetFileName(seq));
            Directory.CreateDirectory(dst);
            foreach (var f in Directory.GetFiles(seq)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        }
        var missing = Path.Combine(dir.Path, "mini-ellipse", "00003.png");
        File.Delete(missing);
        var ds = DatasetReader.Davis(root);
        var e = Assert.Throws<CmtmException>(() => Evaluator.Evaluate(ds, new ResultsFolder(dir.Path), EvaluationProtocol.Davis2016));
        Assert.Equal(missing, e.Subject);

        // differently sized result frame
        PngMask.WriteGray(missing, new BinaryMask(427, 240));
        e = Assert.Throws<CmtmException>(() => Evaluator.Evaluate(ds, new ResultsFolder(dir.Path), EvaluationProtocol.Davis2016));
        Assert.Equal(missing, e.Subject);
        Assert.Contains("427x240", e.Problem);
        Assert.Contains("854x480", e.Problem);
    }

    [Fact]
    public void DelegateProviderPlugsIn()
    {
        // "predict" = the ground truth shifted right by 2 pixels; the report equals scoring those masks directly
        var ds = DatasetReader.Davis(Shared.Fixture("metrics", "davis_mini"));
        BinaryMask Shift(BinaryMask g)
        {
            var m = new BinaryMask(g.Width, g.Height);
            for (var y = 0; y < g.Height; y++)
                for (var x = 2; x < g.Width; x++) m.Data[y * g.Width + x] = g.Data[y * g.Width + x - 2];
            return m;
        }
        var r = Evaluator.Evaluate(ds, new DelegateResultsProvider("shift2", (_, _, gt) => Shift(gt)), EvaluationProtocol.Davis2016);
        var frame = ds.Sequences[0].Frames[3];
        var gt = PngMask.Read(frame.Annotation!, MaskRule.ObjectIds);
        Assert.Equal(DavisMetrics.Iou(gt, Shift(gt)), r.Sequences[0].Frames[3].J);
        Assert.Equal(DavisMetrics.Boundary(gt, Shift(gt)).F, r.Sequences[0].Frames[3].F);
        Assert.Equal("shift2", r.Results);
    }

    // ---------------------------------------------------------------- real data

    private static DatasetRecord DavisVal(params string[] only)
    {
        var ds = DatasetReader.Davis(Shared.DataPath("davis16-val"));
        return only.Length == 0 ? ds : ds with { Sequences = ds.Sequences.Where(s => only.Contains(s.Name)).ToList() };
    }

    [Fact]
    public void RealDavisSequencesSanity()
    {
        var ds = DavisVal("blackswan", "drift-straight");
        Assert.Equal([50, 50], ds.Sequences.Select(s => s.Frames.Count));

        // ground truth against itself: perfect
        var self = Evaluator.Evaluate(ds, new ResultsFolder(Shared.DataPath("davis16-val", "Annotations", "480p")), EvaluationProtocol.Davis2016);
        foreach (var c in new[] { "J&F-Mean", "J-Mean", "J-Recall", "F-Mean", "F-Recall" }) Assert.Equal(1.0, self.Overall[c]);
        Assert.Equal(0.0, self.Overall["J-Decay"]);

        var osvos = Evaluator.Evaluate(ds, new ResultsFolder(Shared.DataPath("osvos-davis16")), EvaluationProtocol.Davis2016);
        var drift = osvos.Sequences[1];
        // data README: osvos drift-straight/00049.png (last frame) is all background -> J = F = 0 there, excluded from the stats
        Assert.Equal(0.0, drift.Frames[49].J);
        Assert.Equal(0.0, drift.Frames[49].F);
        Assert.True(drift.Frames.Take(49).All(f => f.J > 0));
        foreach (var s in osvos.Sequences)
        {
            Assert.All(s.Frames, f => Assert.InRange(f.J, 0, 1));
            Assert.InRange(s.Metrics["J-Mean"], 0.3, 1.0);
            Assert.Equal((s.Metrics["J-Mean"] + s.Metrics["F-Mean"]) / 2, s.Metrics["J&F-Mean"], 1e-15);
            var inner = s.Frames.Skip(1).Take(48).Select(f => f.J).ToArray();
            Assert.Equal(inner.Average(), s.Metrics["J-Mean"], 1e-12);
        }
        // blackswan is an easy sequence: every method is > 0.8 J there
        Assert.InRange(osvos.Sequences[0].Metrics["J-Mean"], 0.8, 1.0);
    }

    [Fact]
    [Trait("Category", "Benchmark")]
    public void BenchmarkDavis16ValAllSequences()
    {
        var ds = DavisVal();
        Assert.Equal(20, ds.Sequences.Count);
        Assert.Equal(1376, ds.FrameCount);
        foreach (var method in new[] { "rvos-davis16", "osvos-davis16" })
        {
            var sw = Stopwatch.StartNew();
            var r = Evaluator.Evaluate(ds, new ResultsFolder(Shared.DataPath(method)), EvaluationProtocol.Davis2016);
            sw.Stop();
            output.WriteLine($"{method}: {r.Frames} frames in {sw.Elapsed.TotalSeconds:0.00} s ({r.Frames / sw.Elapsed.TotalSeconds:0} frames/s, {Environment.ProcessorCount} cores)");
            output.WriteLine(ReportWriters.Table(r));
            Assert.Equal(1376, r.Frames);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"took {sw.Elapsed}");
        }
    }
}
