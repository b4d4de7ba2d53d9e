using System.Globalization;
using System.Text.Json;
using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.IO;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Evaluation;

/// <summary>
/// Parity with the official davis2017-evaluation metrics (fixtures/metrics, README section G).
/// Tolerance 1e-9 (brief: 1e-6): J, precision and recall are ratios of integer counts and F one formula on them,
/// so any counting difference would show up as >= 1e-7; the fixtures README reports exact re-runs.
/// </summary>
public class DavisMetricsParityTests
{
    private const double Tol = 1e-9;

    public static IEnumerable<object[]> Pairs()
    {
        var lines = File.ReadAllLines(Shared.Fixture("metrics", "pairs.csv")).Skip(1);
        foreach (var l in lines) yield return [l];
    }

    [Fact]
    public void PairsCsvHasAllCases()
    {
        Assert.Equal(55, File.ReadAllLines(Shared.Fixture("metrics", "pairs.csv")).Length - 1);
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void PairReproduced(string line)
    {
        var c = line.Split(',');
        double D(int i) => double.Parse(c[i], CultureInfo.InvariantCulture);
        var gtImg = PngCodec.Read(Shared.Fixture("metrics", c[1]));
        var predImg = PngCodec.Read(Shared.Fixture("metrics", c[2]));
        Assert.Equal(int.Parse(c[3]), gtImg.Height);
        Assert.Equal(int.Parse(c[4]), gtImg.Width);
        // README: binary = value > 127 (values are 0/255)
        var gt = Threshold(gtImg);
        var pred = Threshold(predImg);

        var j = DavisMetrics.Iou(gt, pred);
        var b = DavisMetrics.Boundary(gt, pred);
        Assert.Equal(D(6), j, Tol);
        Assert.Equal(D(7), b.F, Tol);
        Assert.Equal(int.Parse(c[8]), b.BoundPix);
        Assert.Equal(long.Parse(c[9]), b.GtBoundaryPixels);
        Assert.Equal(long.Parse(c[10]), b.PredBoundaryPixels);
        Assert.Equal(D(11), b.Precision, Tol);
        Assert.Equal(D(12), b.Recall, Tol);
    }

    private static BinaryMask Threshold(PngImage img)
    {
        Assert.Equal(PngColorType.Gray, img.ColorType);
        var m = new BinaryMask(img.Width, img.Height);
        for (var i = 0; i < m.Data.Length; i++) m.Data[i] = img.Samples[i] > 127 ? (byte)1 : (byte)0;
        return m;
    }

    [Theory]
    [InlineData(480, 854, 8)]
    [InlineData(100, 100, 2)]
    [InlineData(37, 53, 1)]
    public void BoundPixAsReadme(int h, int w, int expected) => Assert.Equal(expected, DavisMetrics.BoundPix(h, w));

    [Fact]
    public void DiskMatchesSkimage()
    {
        Assert.Equal(197, DavisMetrics.DiskArea(8));
        Assert.Equal(13, DavisMetrics.DiskArea(2));
        Assert.Equal(5, DavisMetrics.DiskArea(1));
    }

    [Fact]
    public void DavisMiniReproducedThroughReaderAndResultsFolder()
    {
        var root = Shared.Fixture("metrics", "davis_mini");
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "expected.json")));
        var ds = DatasetReader.Davis(root, "val");
        Assert.Equal(["mini-band", "mini-ellipse", "mini-rects"], ds.Sequences.Select(s => s.Name));
        var report = Evaluator.Evaluate(ds, new ResultsFolder(Path.Combine(root, "results")), EvaluationProtocol.Davis2016,
            new EvaluationOptions { MaxParallelism = 2 });

        var seqs = expected.RootElement.GetProperty("sequences");
        Assert.Equal(seqs.EnumerateObject().Count(), report.Sequences.Count);
        foreach (var s in report.Sequences)
        {
            var e = seqs.GetProperty(s.Name);
            Assert.Equal(e.GetProperty("n_frames").GetInt32(), s.Frames.Count);
            var ej = e.GetProperty("J_per_frame_all").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            var ef = e.GetProperty("F_per_frame_all").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            for (var i = 0; i < ej.Length; i++)
            {
                Assert.Equal(ej[i], s.Frames[i].J, 1e-12);
                Assert.Equal(ef[i], s.Frames[i].F, 1e-12);
            }
            foreach (var col in new[] { "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay" })
                Assert.Equal(e.GetProperty(col).GetDouble(), s.Metrics[col], 1e-12);
        }
        var overall = expected.RootElement.GetProperty("overall");
        foreach (var col in Evaluator.DavisColumns)
            Assert.Equal(overall.GetProperty(col).GetDouble(), report.Overall[col], 1e-12);
    }
}
