using System.Globalization;
using System.Text;
using System.Text.Json;
using Cmtm.IO;

namespace Cmtm.Evaluation;

/// <summary>Text, JSON, CSV and PNG renderings of <see cref="EvaluationReport"/>s. Every file is written atomically.</summary>
public static class ReportWriters
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // ---------------------------------------------------------------- console table

    /// <summary>Plain-text table: one row per sequence, then the overall row (values with 3 decimals, like the official toolkit).</summary>
    public static string Table(EvaluationReport r)
    {
        var header = new List<string> { "Sequence" };
        header.AddRange(r.Columns);
        if (r.Protocol == EvaluationProtocol.Iou) header.Add("Frames");
        var rows = new List<string[]>();
        foreach (var s in r.Sequences)
        {
            var row = new List<string> { s.Name };
            row.AddRange(r.Columns.Select(c => F3(s.Metrics[c])));
            if (r.Protocol == EvaluationProtocol.Iou) row.Add(s.ValidFrames.ToString(Inv));
            rows.Add(row.ToArray());
        }
        var sb = new StringBuilder();
        var separatorAt = new List<int> { rows.Count };
        foreach (var (name, metrics) in r.Categories)
        {
            var row = new List<string> { $"class {name}" };
            row.AddRange(r.Columns.Select(c => F3(metrics[c])));
            if (r.Protocol == EvaluationProtocol.Iou) row.Add("");
            rows.Add(row.ToArray());
        }
        if (r.Categories.Count > 0) separatorAt.Add(rows.Count);
        var overall = new List<string> { "Overall" };
        overall.AddRange(r.Columns.Select(c => F3(r.Overall[c])));
        if (r.Protocol == EvaluationProtocol.Iou) overall.Add(r.Sequences.Sum(s => s.ValidFrames).ToString(Inv));
        rows.Add(overall.ToArray());
        sb.Append(Render(header.ToArray(), rows, separatorAt));
        if (r.Inference is { } inf)
            sb.AppendLine(FormattableString.Invariant($"Speed ({inf.Model}, flow {inf.Flow}): {inf.Frames} frames, model-only {inf.ModelFps:0.00} fps, end-to-end {inf.EndToEndFps:0.00} fps (decode + flow + model + write, {inf.TotalSeconds:0.0} s)"));
        return sb.ToString();
    }

    /// <summary>Side-by-side comparison: overall numbers per method, then the headline metric per sequence.</summary>
    public static string CompareTable(IReadOnlyList<(string Name, EvaluationReport Report)> methods)
    {
        if (methods.Count == 0) return "";
        var first = methods[0].Report;
        var sb = new StringBuilder();
        var header = new List<string> { "Method" };
        header.AddRange(first.Columns);
        var rows = methods.Select(m => new[] { m.Name }.Concat(first.Columns.Select(c => F3(m.Report.Overall[c]))).ToArray()).ToList();
        sb.Append(Render(header.ToArray(), rows, []));
        sb.AppendLine();
        var h2 = new List<string> { $"Sequence ({first.Headline})" };
        h2.AddRange(methods.Select(m => m.Name));
        var rows2 = new List<string[]>();
        for (var i = 0; i < first.Sequences.Count; i++)
        {
            var name = first.Sequences[i].Name;
            rows2.Add(new[] { name }.Concat(methods.Select(m => F3(m.Report.Sequences[i].Metrics[first.Headline]))).ToArray());
        }
        rows2.Add(new[] { "Overall" }.Concat(methods.Select(m => F3(m.Report.Overall[first.Headline]))).ToArray());
        sb.Append(Render(h2.ToArray(), rows2, [rows2.Count - 1]));
        return sb.ToString();
    }

    private static string Render(string[] header, List<string[]> rows, IReadOnlyCollection<int> separatorBefore)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd();
        var rule = new string('-', widths.Sum() + 2 * (widths.Length - 1));
        sb.AppendLine(Line(header));
        sb.AppendLine(rule);
        for (var i = 0; i < rows.Count; i++)
        {
            if (separatorBefore.Contains(i)) sb.AppendLine(rule);
            sb.AppendLine(Line(rows[i]));
        }
        return sb.ToString();
    }

    private static string F3(double v) => double.IsNaN(v) ? "nan" : v.ToString("0.000", Inv);

    // ---------------------------------------------------------------- JSON

    /// <summary>
    /// {"dataset", "protocol", "results", "frames", "seconds", "overall": {columns}, "inference": {"model", "flow",
    /// "frames", "model_seconds", "total_seconds", "model_fps", "end_to_end_fps"} (model-driven only), "sequences": {name:
    /// {columns, "frames", "valid_frames", "J_per_frame", "F_per_frame"}}, "categories": {...} (YouTube-Objects)}. NaN is null.
    /// </summary>
    public static string Json(EvaluationReport r, bool perFrame = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("dataset", r.Dataset);
            w.WriteString("protocol", r.Protocol == EvaluationProtocol.Davis2016 ? "davis2016" : "iou");
            w.WriteString("protocol_description", Evaluator.ProtocolDescription(r.Protocol));
            w.WriteString("results", r.Results);
            w.WriteNumber("frames", r.Frames);
            w.WriteNumber("seconds", Math.Round(r.Seconds, 3));
            w.WritePropertyName("overall");
            WriteMetrics(w, r.Columns, r.Overall);
            if (r.Inference is { } inf)
            {
                w.WriteStartObject("inference");
                w.WriteString("model", inf.Model);
                w.WriteString("flow", inf.Flow);
                w.WriteNumber("frames", inf.Frames);
                w.WriteNumber("model_seconds", Math.Round(inf.ModelSeconds, 3));
                w.WriteNumber("total_seconds", Math.Round(inf.TotalSeconds, 3));
                WriteNumber(w, "model_fps", Math.Round(inf.ModelFps, 3));
                WriteNumber(w, "end_to_end_fps", Math.Round(inf.EndToEndFps, 3));
                w.WriteEndObject();
            }
            if (r.Categories.Count > 0)
            {
                w.WriteStartObject("categories");
                foreach (var (name, m) in r.Categories)
                {
                    w.WritePropertyName(name);
                    WriteMetrics(w, r.Columns, m);
                }
                w.WriteEndObject();
            }
            w.WriteStartObject("sequences");
            foreach (var s in r.Sequences)
            {
                w.WriteStartObject(s.Name);
                foreach (var c in r.Columns) WriteNumber(w, c, s.Metrics[c]);
                if (s.Category != null) w.WriteString("category", s.Category);
                w.WriteNumber("frames", s.Frames.Count);
                w.WriteNumber("valid_frames", s.ValidFrames);
                if (perFrame)
                {
                    w.WriteStartArray("J_per_frame");
                    foreach (var f in s.Frames) WriteValue(w, f.J);
                    w.WriteEndArray();
                    if (r.Protocol == EvaluationProtocol.Davis2016)
                    {
                        w.WriteStartArray("F_per_frame");
                        foreach (var f in s.Frames) WriteValue(w, f.F);
                        w.WriteEndArray();
                    }
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static void WriteMetrics(Utf8JsonWriter w, IReadOnlyList<string> columns, IReadOnlyDictionary<string, double> m)
    {
        w.WriteStartObject();
        foreach (var c in columns) WriteNumber(w, c, m[c]);
        w.WriteEndObject();
    }

    private static void WriteNumber(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    private static void WriteValue(Utf8JsonWriter w, double v)
    {
        if (double.IsFinite(v)) w.WriteNumberValue(v);
        else w.WriteNullValue();
    }

    // ---------------------------------------------------------------- CSV

    /// <summary>CSV: header "Sequence,&lt;columns&gt;[,Frames]", one row per sequence, then "Overall" (full precision; NaN empty).</summary>
    /// <summary>Several methods' overall scores on one dataset, one row each (`cmtm compare --csv`); fields quoted as RFC 4180 says.</summary>
    public static string CompareCsv(IReadOnlyList<(string Name, EvaluationReport Report)> methods)
    {
        if (methods.Count == 0) return "";
        var cols = methods[0].Report.Columns;
        var sb = new StringBuilder("Method,").Append(string.Join(",", cols.Select(Quote))).Append('\n');
        foreach (var (name, r) in methods)
            sb.Append(Quote(name)).Append(',').Append(string.Join(",", cols.Select(c => Num(r.Overall[c])))).Append('\n');
        return sb.ToString();
    }

    public static string Csv(EvaluationReport r)
    {
        var sb = new StringBuilder();
        var iou = r.Protocol == EvaluationProtocol.Iou;
        sb.Append("Sequence,").Append(string.Join(",", r.Columns.Select(Quote)));
        if (iou) sb.Append(",Frames");
        sb.Append('\n');
        foreach (var s in r.Sequences)
        {
            sb.Append(Quote(s.Name)).Append(',').Append(string.Join(",", r.Columns.Select(c => Num(s.Metrics[c]))));
            if (iou) sb.Append(',').Append(s.ValidFrames.ToString(Inv));
            sb.Append('\n');
        }
        foreach (var (name, m) in r.Categories)
        {
            sb.Append(Quote("class " + name)).Append(',').Append(string.Join(",", r.Columns.Select(c => Num(m[c]))));
            if (iou) sb.Append(',');
            sb.Append('\n');
        }
        sb.Append("Overall,").Append(string.Join(",", r.Columns.Select(c => Num(r.Overall[c]))));
        if (iou) sb.Append(',').Append(r.Sequences.Sum(s => s.ValidFrames).ToString(Inv));
        sb.Append('\n');
        return sb.ToString();
    }

    private static string Num(double v) => double.IsFinite(v) ? v.ToString("R", Inv) : "";

    private static string Quote(string s) => s.IndexOfAny([',', '"', '\n']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    // ---------------------------------------------------------------- files

    public static void WriteJson(string path, EvaluationReport r) => AtomicFile.WriteAllText(path, Json(r));
    public static void WriteCsv(string path, EvaluationReport r) => AtomicFile.WriteAllText(path, Csv(r));
}
