using Cmtm.IO;

namespace Cmtm.Evaluation;

/// <summary>PNG bar chart (ScottPlot 5) of the per-sequence headline metric (J&amp;F-Mean for DAVIS, J-Mean otherwise).</summary>
public static class ReportPlot
{
    public static byte[] BarChartPng(EvaluationReport r, int width = 1200, int height = 600)
    {
        var plt = new ScottPlot.Plot();
        var names = r.Sequences.Select(s => s.Name).ToArray();
        var values = r.Sequences.Select(s => s.Metrics[r.Headline]).Select(v => double.IsFinite(v) ? v : 0).ToArray();
        var bars = plt.Add.Bars(values);
        bars.Color = ScottPlot.Color.FromHex("#4C72B0");
        var overall = r.Overall[r.Headline];
        if (double.IsFinite(overall))
        {
            var line = plt.Add.HorizontalLine(overall);
            line.LineColor = ScottPlot.Color.FromHex("#C44E52");
            line.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        var ticks = names.Select((n, i) => new ScottPlot.Tick(i, n)).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plt.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plt.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plt.Axes.Bottom.MinimumSize = 140;
        plt.Axes.SetLimitsY(0, 1.05);
        plt.Axes.SetLimitsX(-0.6, Math.Max(0.6, names.Length - 0.4));
        plt.Axes.Left.Label.Text = r.Headline;
        plt.Title($"{r.Dataset}: per-sequence {r.Headline} (overall {(double.IsFinite(overall) ? overall.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture) : "nan")})");
        return plt.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
    }

    public static void WriteBarChart(string path, EvaluationReport r) => AtomicFile.WriteAllBytes(path, BarChartPng(r));
}
