using System.Diagnostics;

namespace Cmtm.Runtime;

/// <summary>One progress report as numbers (what <see cref="ProgressLine"/> prints, for a sink that is not a terminal).</summary>
/// <param name="EtaSeconds">null when the total or the rate is unknown.</param>
public sealed record ProgressReport(string Label, int Done, int? Total, double Rate, double? EtaSeconds, double Seconds, string? Detail, bool Final)
{
    /// <summary>The printed line: "label: done/total (rate/s, ETA ...) detail".</summary>
    public string Text =>
        $"{Label}: {Done}{(Total is int tt ? $"/{tt}" : "")} ({Rate:0.00}/s{(EtaSeconds is double eta ? $", ETA {ProgressLine.FormatEta(eta)}" : "")})" + (Detail is null ? "" : $" {Detail}");
}

/// <summary>
/// The one progress printer for long loops (segment, flow, evaluate, train, serve): count, rate and ETA. On a terminal
/// it redraws one line in place; otherwise (CI, pipes) it prints a plain line at most every <see cref="Interval"/> and
/// always at the end. Permanent lines (<see cref="Print"/>) first end the live line. With a sink (e.g. `cmtm serve`'s
/// event stream) each report goes to the sink as a <see cref="ProgressReport"/> instead, at the same moments.
/// </summary>
public sealed class ProgressLine
{
    private readonly string label;
    private readonly TextWriter writer;
    private readonly bool live;
    private readonly Action<ProgressReport>? sink;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private double lastPrint = double.NegativeInfinity;
    private bool dirty;

    /// <summary>The least time between two progress lines (default 0.2 s on a terminal, 5 s otherwise).</summary>
    public TimeSpan Interval { get; init; }

    /// <param name="label">Prefix of every count line ("segment", "flow" ...).</param>
    /// <param name="writer">Where to print (default standard error).</param>
    /// <param name="live">Redraw one line in place (default: when printing to standard error on a terminal).</param>
    public ProgressLine(string label, TextWriter? writer = null, bool? live = null)
    {
        this.label = label;
        this.writer = writer ?? Console.Error;
        this.live = live ?? (writer is null && !Console.IsErrorRedirected);
        Interval = TimeSpan.FromSeconds(this.live ? 0.2 : 5);
    }

    /// <summary>Reports go to <paramref name="sink"/> (at most every <see cref="Interval"/>, and always the final one); nothing is printed.</summary>
    public ProgressLine(string label, Action<ProgressReport> sink) : this(label, TextWriter.Null, live: false) => this.sink = sink;

    public double Seconds => clock.Elapsed.TotalSeconds;

    public static string FormatEta(double seconds) =>
        !double.IsFinite(seconds) ? "?" : seconds >= 3600 ? $"{seconds / 3600:0.0}h" : seconds >= 60 ? $"{seconds / 60:0.0}min" : $"{seconds:0}s";

    /// <summary>Reports <paramref name="done"/> of <paramref name="total"/> (null if unknown) with an optional detail text.</summary>
    public void Report(int done, int? total, string? detail = null, bool final = false) =>
        Report(done, total, Seconds > 0 ? done / Seconds : 0, detail, final);

    /// <summary>As above with the caller's own rate (items per second), e.g. one that leaves out skipped items.</summary>
    public void Report(int done, int? total, double rate, string? detail = null, bool final = false)
    {
        if (!Due(final)) return;
        var report = new ProgressReport(label, done, total, rate, total is int n && rate > 0 ? (n - done) / rate : null, Seconds, detail, final);
        if (sink != null) { sink(report); return; }
        Draw(report.Text, final);
    }

    /// <summary>Shows a caller-formatted progress text, throttled like <see cref="Report(int, int?, string?, bool)"/>.</summary>
    public void Show(string text, bool final = false)
    {
        if (Due(final)) Draw(text, final);
    }

    /// <summary>A permanent line (ends a live progress line first).</summary>
    public void Print(string line)
    {
        if (dirty) { writer.WriteLine(); dirty = false; }
        writer.WriteLine(line);
        lastPrint = Seconds; // the next progress line waits a full interval after it
    }

    private bool Due(bool final)
    {
        double t = Seconds;
        if (!final && t - lastPrint < Interval.TotalSeconds) return false;
        lastPrint = t;
        return true;
    }

    private void Draw(string text, bool final)
    {
        if (!live) { writer.WriteLine(text); return; }
        writer.Write("\r" + text.PadRight(Math.Min(Console.BufferWidth > 0 ? Console.BufferWidth - 1 : 100, 160)) + (final ? "\n" : ""));
        dirty = !final;
    }
}
