using System.CommandLine;
using Cmtm.Training;

namespace Cmtm.Cli.Commands;

public static class DemoCommand
{
    public static Command Create()
    {
        var outOpt = new Option<string>("--out") { Description = "run folder (must not exist or be empty)", DefaultValueFactory = _ => $"runs/demo-{DateTime.Now:yyyyMMdd-HHmmss}" };
        var steps = new Option<int>("--steps") { Description = "training steps (5-9 minutes on the project's 2-core VM at the defaults, depending on its speed)", DefaultValueFactory = _ => new DemoOptions().Steps };
        var minutes = new Option<double>("--max-minutes") { Description = "optional wall-clock cap on training (0 = none)" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => 2 };
        var res = new Option<int>("--resolution") { Description = "model resolution (multiple of 32)", DefaultValueFactory = _ => 64 };
        var seed = new Option<ulong>("--seed") { Description = "seed for data and training", DefaultValueFactory = _ => 1UL };
        var davis = new Option<string?>("--davis") { Description = "DAVIS-2016 val folder (default: ../shared/data/davis16-val if present)" };
        var cmd = new Command("demo", "Generate synthetic videos, train a small CMTM for a few minutes, evaluate it against baselines, segment a clip, write a report.")
        { outOpt, steps, minutes, threads, res, seed, davis };
        cmd.SetAction(pr =>
        {
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler h = (_, e) => { if (!cts.IsCancellationRequested) { e.Cancel = true; cts.Cancel(); } };
            Console.CancelKeyPress += h;
            try
            {
                var o = new DemoOptions
                {
                    Out = pr.GetValue(outOpt)!, Steps = pr.GetValue(steps), MaxMinutes = pr.GetValue(minutes), Threads = pr.GetValue(threads),
                    Resolution = pr.GetValue(res), Seed = pr.GetValue(seed), Davis = pr.GetValue(davis),
                };
                var r = Demo.Run(o, m => Console.WriteLine("demo: " + m), cts.Token);
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
            finally { Console.CancelKeyPress -= h; }
        });
        return cmd;
    }
}
