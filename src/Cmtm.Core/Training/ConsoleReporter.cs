using Cmtm.Runtime;

namespace Cmtm.Training;

/// <summary>
/// Prints training progress through the one progress printer (<see cref="ProgressLine"/>): a live line on a terminal,
/// plain lines every <see cref="PlainInterval"/> otherwise; one permanent line per epoch in both cases.
/// </summary>
public sealed class ConsoleReporter : ITrainReporter
{
    private readonly TextWriter? writer;
    private readonly bool? live;
    private ProgressLine? line;

    /// <summary>The least time between two step lines when not on a terminal (default 10 s).</summary>
    public TimeSpan PlainInterval { get; init; } = TimeSpan.FromSeconds(10);
    public string Prefix { get; init; } = "train";

    /// <param name="writer">Where to print (default standard output).</param>
    /// <param name="live">Redraw the step line in place (default: standard output is a terminal).</param>
    public ConsoleReporter(TextWriter? writer = null, bool? live = null)
    {
        this.writer = writer;
        this.live = live;
    }

    // created on first use, so that the init-only settings above are in place
    private ProgressLine Line => line ??= CreateLine();

    private ProgressLine CreateLine()
    {
        bool isLive = live ?? (writer == null && !Console.IsOutputRedirected);
        return isLive ? new ProgressLine(Prefix, writer ?? Console.Out, true)
                      : new ProgressLine(Prefix, writer ?? Console.Out, false) { Interval = PlainInterval };
    }

    private static string Fmt(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}" : $"{t.Minutes:D2}:{t.Seconds:D2}";

    public void Step(TrainTick t) =>
        Line.Show($"{Prefix}: epoch {t.Epoch}/{t.Epochs} batch {t.BatchInEpoch}/{t.BatchesPerEpoch} step {t.Step}/{t.TotalSteps} " +
                  $"loss {t.Loss:F4} IoU {t.Iou:F3} {t.ItPerSec:F2} it/s ETA {Fmt(t.Eta)}");

    public void Epoch(EpochRecord r, bool validated, bool best)
    {
        var v = validated ? $" | val J {r.ValJ:F3} F {r.ValF:F3} J&F {r.ValJF:F3}{(best ? " (best)" : "")}" : "";
        Line.Print($"{Prefix}: epoch {r.Epoch} done: loss {r.Loss:F4} IoU {r.TrainIou:F3} ({r.Seconds:F1}s){v}");
    }

    public void Message(string message) => Line.Print($"{Prefix}: {message}");
}
