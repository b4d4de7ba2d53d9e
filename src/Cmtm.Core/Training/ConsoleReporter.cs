using System.Diagnostics;

namespace Cmtm.Training;

/// <summary>
/// Prints training progress: a live line (rewritten in place) on a terminal, plain lines every
/// <see cref="PlainInterval"/> otherwise; one line per epoch in both cases.
/// </summary>
public sealed class ConsoleReporter : ITrainReporter
{
    private readonly TextWriter w;
    private readonly bool live;
    private readonly Stopwatch sinceLine = Stopwatch.StartNew();
    private bool dirty;
    public TimeSpan PlainInterval { get; init; } = TimeSpan.FromSeconds(10);
    public string Prefix { get; init; } = "train";

    public ConsoleReporter(TextWriter? writer = null, bool? live = null)
    {
        w = writer ?? Console.Out;
        this.live = live ?? (writer == null && !Console.IsOutputRedirected);
    }

    private static string Fmt(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}" : $"{t.Minutes:D2}:{t.Seconds:D2}";

    public void Step(TrainTick t)
    {
        var text = $"{Prefix}: epoch {t.Epoch}/{t.Epochs} batch {t.BatchInEpoch}/{t.BatchesPerEpoch} step {t.Step}/{t.TotalSteps} " +
                   $"loss {t.Loss:F4} IoU {t.Iou:F3} {t.ItPerSec:F2} it/s ETA {Fmt(t.Eta)}";
        if (live) { w.Write("\r" + text.PadRight(Math.Min(Console.BufferWidth > 0 ? Console.BufferWidth - 1 : 120, 160))); dirty = true; }
        else if (sinceLine.Elapsed >= PlainInterval) { w.WriteLine(text); sinceLine.Restart(); }
    }

    public void Epoch(EpochRecord r, bool validated, bool best)
    {
        EndLive();
        var v = validated ? $" | val J {r.ValJ:F3} F {r.ValF:F3} J&F {r.ValJF:F3}{(best ? " (best)" : "")}" : "";
        w.WriteLine($"{Prefix}: epoch {r.Epoch} done: loss {r.Loss:F4} IoU {r.TrainIou:F3} ({r.Seconds:F1}s){v}");
        sinceLine.Restart();
    }

    public void Message(string message) { EndLive(); w.WriteLine($"{Prefix}: {message}"); }

    private void EndLive() { if (dirty) { w.WriteLine(); dirty = false; } }
}
