using System.CommandLine;
using Cmtm.Reliability;
using Cmtm.Runtime;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm fuzz --cases N --seed S` (hidden, for developers): the checkpoint-reader fuzzer of issue 7 for longer runs than
/// the CI test. Prints counts per outcome and per mutation and every failing case; exit code 1 if any case failed.
/// </summary>
public static class FuzzCommand
{
    public static Command Create()
    {
        var cases = new Option<int>("--cases") { Description = "number of cases", DefaultValueFactory = _ => 10_000 };
        var seed = new Option<int>("--seed") { Description = "random seed (case i depends only on seed and i)", DefaultValueFactory = _ => 1 };
        var timeout = new Option<double>("--timeout") { Description = "seconds a single case may take", DefaultValueFactory = _ => 10 };
        var work = new Option<string?>("--work") { Description = "folder for the mutated files (default: a temporary folder, removed afterwards)" };
        var cmd = new Command("fuzz", "Fuzz the checkpoint readers (.pth, .safetensors) with mutated files; every case must load or fail with a named error.")
        {
            cases, seed, timeout, work,
        };
        cmd.Hidden = true;
        cmd.SetAction(p =>
        {
            int n = p.GetValue(cases), s = p.GetValue(seed);
            if (n < 1) throw new CmtmException("--cases", $"must be at least 1 (got {n})");
            var dir = p.GetValue(work) ?? Path.Combine(Path.GetTempPath(), $"cmtm-fuzz-{Environment.ProcessId}");
            bool temp = p.GetValue(work) == null;
            try
            {
                var fuzzer = new CheckpointFuzzer(s, dir) { CaseTimeout = TimeSpan.FromSeconds(p.GetValue(timeout)) };
                var progress = new ProgressLine("fuzz");
                int done = 0, failed = 0;
                var summary = fuzzer.Run(n, c =>
                {
                    done++;
                    if (!c.Ok) { failed++; Console.Out.WriteLine("FAIL " + c); }
                    progress.Report(done, n, $"{failed} failed");
                });
                progress.Report(done, n, $"{failed} failed", final: true);
                Console.Out.WriteLine($"fuzz: {summary.Cases.Count} cases (seed {s}) in {summary.Seconds:0.0} s");
                foreach (var (o, count) in summary.ByOutcome) Console.Out.WriteLine($"  {o,-13} {count}");
                Console.Out.WriteLine("  per mutation (loaded / rejected / failed):");
                foreach (var (m, l, r, f) in summary.ByMutation) Console.Out.WriteLine($"    {m,-34} {l,6} {r,6} {f,6}");
                return summary.Failures.Count == 0 ? 0 : 1;
            }
            finally
            {
                if (temp) try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }
        });
        return cmd;
    }
}
