using System.Globalization;
using System.Text;
using Cmtm.IO;

namespace Cmtm.Training;

/// <summary>One epoch's record in metrics.csv (validation columns NaN when not validated that epoch).</summary>
public sealed record EpochRecord(int Epoch, long Step, double Loss, double TrainIou, double ValJ, double ValF, double ValJF, double Seconds);

/// <summary>metrics.csv and the PNG curves (loss, training IoU, validation J&amp;F) of a run folder.</summary>
public sealed class RunLog
{
    private readonly string dir;
    private readonly List<EpochRecord> records = new();
    public IReadOnlyList<EpochRecord> Records => records;
    public const string Header = "epoch,step,loss,train_iou,val_j,val_f,val_jf,seconds";

    public RunLog(string dir) { this.dir = dir; }

    public string CsvPath => Path.Combine(dir, "metrics.csv");

    /// <summary>Reloads metrics.csv keeping the epochs up to <paramref name="upToEpoch"/> (resume).</summary>
    public void LoadExisting(int upToEpoch)
    {
        records.Clear();
        if (!File.Exists(CsvPath)) return;
        foreach (var line in File.ReadLines(CsvPath).Skip(1))
        {
            var p = line.Split(',');
            if (p.Length != 8) throw new CmtmException(CsvPath, $"malformed line '{line}'");
            double D(int i) => double.Parse(p[i], CultureInfo.InvariantCulture);
            var r = new EpochRecord(int.Parse(p[0], CultureInfo.InvariantCulture), long.Parse(p[1], CultureInfo.InvariantCulture), D(2), D(3), D(4), D(5), D(6), D(7));
            if (r.Epoch <= upToEpoch) records.Add(r);
        }
    }

    public void Add(EpochRecord r) { records.Add(r); Write(); }

    public void Write()
    {
        var sb = new StringBuilder(Header).Append('\n');
        foreach (var r in records)
            sb.Append(string.Join(",", new object[] { r.Epoch, r.Step, F(r.Loss), F(r.TrainIou), F(r.ValJ), F(r.ValF), F(r.ValJF), F(r.Seconds) })).Append('\n');
        AtomicFile.WriteAllText(CsvPath, sb.ToString());
    }

    private static string F(double v) => v.ToString("G9", CultureInfo.InvariantCulture);

    /// <summary>Writes loss.png, train_iou.png and (when validated) val_jf.png; returns their paths.</summary>
    public IReadOnlyList<string> Plot()
    {
        var outs = new List<string>();
        if (records.Count == 0) return outs;
        outs.Add(PlotOne("loss.png", "Training loss (cross-entropy)", "loss", records.Select(r => ((double)r.Epoch, r.Loss))));
        outs.Add(PlotOne("train_iou.png", "Training IoU (foreground)", "IoU", records.Select(r => ((double)r.Epoch, r.TrainIou))));
        var val = records.Where(r => !double.IsNaN(r.ValJF)).ToList();
        if (val.Count > 0) outs.Add(PlotOne("val_jf.png", "Validation J&F (DAVIS 2016 protocol)", "J&F", val.Select(r => ((double)r.Epoch, r.ValJF))));
        return outs;
    }

    private string PlotOne(string file, string title, string ylabel, IEnumerable<(double X, double Y)> points)
    {
        var pts = points.Where(p => double.IsFinite(p.Y)).ToArray();
        var plt = new ScottPlot.Plot();
        if (pts.Length > 0)
        {
            var sc = plt.Add.Scatter(pts.Select(p => p.X).ToArray(), pts.Select(p => p.Y).ToArray());
            sc.MarkerSize = pts.Length > 60 ? 0 : 4;
        }
        plt.Title(title); plt.XLabel("epoch"); plt.YLabel(ylabel);
        var bytes = plt.GetImageBytes(720, 420, ScottPlot.ImageFormat.Png);
        var path = Path.Combine(dir, file);
        AtomicFile.WriteAllBytes(path, bytes);
        return path;
    }
}
