using System.CommandLine;
using Cmtm.Evaluation;
using Cmtm.Inference;
using Cmtm.Training;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm demo`: the shipped model on real video (<see cref="VideoDemo"/>); `cmtm demo --synthetic`: the synthetic
/// training demo (<see cref="Demo"/>: generate videos, train a small CMTM for a few minutes, evaluate, segment a clip).
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var outOpt = new Option<string>("--out") { Description = "run folder (must not exist or be empty)", DefaultValueFactory = _ => $"runs/demo-{DateTime.Now:yyyyMMdd-HHmmss}" };
        var synthetic = new Option<bool>("--synthetic") { Description = "the synthetic training demo instead: generate videos, train a small CMTM from scratch (several minutes on a 2-core CPU), evaluate, segment a clip" };
        var weights = CommonOptions.Weights();
        var clip = new Option<string?>("--clip") { Description = $"DAVIS-layout clip to segment and score (default: the repository's {VideoDemo.ClipFolder})" };
        var noVal = new Option<bool>("--no-val") { Description = "do not score the DAVIS-2016 val sequences even when ../shared is present" };
        var steps = new Option<int>("--steps") { Description = "--synthetic: training steps (several minutes on a 2-core CPU at the defaults)", DefaultValueFactory = _ => new DemoOptions().Steps };
        var minutes = new Option<double>("--max-minutes") { Description = "--synthetic: optional wall-clock cap on training (0 = none)" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => 2 };
        var res = new Option<int>("--resolution") { Description = "--synthetic: model resolution (multiple of 32)", DefaultValueFactory = _ => 64 };
        var seed = new Option<ulong>("--seed") { Description = "--synthetic: seed for data and training", DefaultValueFactory = _ => 1UL };
        var davis = new Option<string?>("--davis") { Description = "DAVIS-2016 val folder (default: ../shared/data/davis16-val if present, or under CMTM_SHARED)" };
        var cmd = new Command("demo", "Segment real video with the shipped model (a DAVIS clip in the repository): overlay video and frames, J&F against baselines, a picture strip in report.md. --synthetic: train a small CMTM on synthetic videos instead.")
        { outOpt, synthetic, weights, clip, noVal, steps, minutes, threads, res, seed, davis };
        cmd.SetAction(pr =>
        {
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler h = (_, e) => { if (!cts.IsCancellationRequested) { e.Cancel = true; cts.Cancel(); } };
            Console.CancelKeyPress += h;
            try
            {
                var given = (Option o) => pr.GetResult(o) is { Implicit: false };
                if (pr.GetValue(synthetic))
                {
                    foreach (var o in new Option[] { weights, clip, noVal })
                        if (given(o)) throw new CmtmException(o.Name, "does not apply with --synthetic");
                    return Synthetic(pr.GetValue(outOpt)!, pr.GetValue(steps), pr.GetValue(minutes), pr.GetValue(threads), pr.GetValue(res), pr.GetValue(seed), pr.GetValue(davis), cts.Token);
                }
                foreach (var o in new Option[] { steps, minutes, res, seed })
                    if (given(o)) throw new CmtmException(o.Name, "only applies with --synthetic");
                return Real(new VideoDemoOptions
                {
                    Out = pr.GetValue(outOpt)!, Weights = pr.GetValue(weights)?.FullName, Clip = pr.GetValue(clip), Davis = pr.GetValue(davis),
                    SkipVal = pr.GetValue(noVal), Threads = pr.GetValue(threads),
                }, cts.Token);
            }
            finally { Console.CancelKeyPress -= h; }
        });
        return cmd;
    }

    private static int Real(VideoDemoOptions o, CancellationToken cancel)
    {
        VideoDemoResult r;
        try { r = VideoDemo.Run(o, m => Console.WriteLine("demo: " + m), cancel); }
        catch (CmtmException e) when (o.Weights == null && e.Subject == Model.ShippedModel.RepositoryPath)
        {
            throw new CmtmException(e.Subject, e.Problem + "; or try `cmtm demo --synthetic` (trains a small model on synthetic videos)");
        }
        Console.WriteLine();
        Console.WriteLine($"{r.Clip.Sequences[0].Name} (the clip):");
        Console.Write(BaselineReport.Text(r.Clip));
        if (r.Val != null)
        {
            Console.WriteLine();
            Console.WriteLine($"DAVIS-2016 val ({r.Val.Sequences.Count} sequences with frames):");
            Console.Write(BaselineReport.Text(r.Val));
        }
        if (r.ValNote != null) Console.WriteLine(r.ValNote);
        Console.WriteLine();
        Console.WriteLine($"demo finished in {r.Total.TotalMinutes:F1} min");
        Console.WriteLine($"report: {r.Report} (tables and the picture strip {r.Strip})");
        Console.WriteLine($"overlay video: {r.OverlayVideo}; overlay frames: {Path.Combine(r.ClipDir, "overlay")}; masks: {r.ClipDir}");
        Console.WriteLine($"run folder: {r.RunDir} (flows/ Farneback flow images, scores-clip/" + (r.Val != null ? " and val/" : "") + " tables and the baselines' masks)");
        return 0;
    }

    private static int Synthetic(string outDir, int steps, double minutes, int threads, int res, ulong seed, string? davis, CancellationToken cancel)
    {
        var o = new DemoOptions
        {
            Out = outDir, Steps = steps, MaxMinutes = minutes, Threads = threads, Resolution = res, Seed = seed, Davis = davis,
        };
        var r = Demo.Run(o, m => Console.WriteLine("demo: " + m), cancel);
        Console.WriteLine();
        Console.WriteLine($"{"method",-38} {"data",-22} {"J",6} {"F",6} {"J&F",6}");
        foreach (var row in r.Table) Console.WriteLine($"{row.Method,-38} {row.Data,-22} {row.J,6:F3} {row.F,6:F3} {row.JF,6:F3}");
        if (r.DavisNote != null) Console.WriteLine(r.DavisNote);
        Console.WriteLine();
        Console.WriteLine($"demo finished in {r.Total.TotalMinutes:F1} min ({r.Steps} training steps in {r.Training.TotalMinutes:F1} min)");
        Console.WriteLine($"report: {r.Report}");
        Console.WriteLine($"run folder: {r.RunDir} (train/ checkpoints + curves, clip-*/ masks + overlay.mp4, data/ synthetic videos)");
        return 0;
    }
}
