using System.Diagnostics;
using Cmtm.Sharding;
using Cmtm.Tests.Reliability;
using Cmtm.Tests.Support;
using Xunit.Abstractions;

namespace Cmtm.Tests.Sharding;

/// <summary>
/// Issue 15's "Must show": a real single-node Slurm cluster on this machine (Debian's slurm-wlm and munge, installed by
/// scripts/setup-slurm.sh when missing; munged, slurmctld and slurmd started by scripts/slurm-local.sh under a temp
/// folder with free ports and this machine's CPUs, stopped at the end in every case) runs the committed
/// deploy/slurm-array.sh as an array of 3 tasks over 4 real DAVIS clips (flows, then masks with the shipped model); one
/// task is cancelled (scancel) mid-run after its first clip, `cmtm shards` names it, that index is resubmitted alone, and
/// the merged outputs equal a single-process run of the same script byte for byte.
/// </summary>
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class SlurmArrayTests(ITestOutputHelper output)
{
    /// <summary>4 DAVIS-2016 train clips, 4-6 frames at 427x240: split 3 ways by frames as 6 | 5 | 4+4.</summary>
    private static readonly (string Name, int Frames)[] Clips = [("bear", 6), ("bus", 5), ("rhino", 4), ("dog-agility", 4)];
    private const int Shards = 3;

    private sealed record Result(int Code, string Out, string Err);

    private static Result Run(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string?> env, string? cwd = null, int timeoutSeconds = 240)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd ?? "" };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var name in new[] { "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "JOB_COMPLETION_INDEX", "CMTM_SHARD_COUNT" })
            psi.Environment.Remove(name); // a test run inside a job array must not shard its own single-process run
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{file} {string.Join(" ", args)} did not finish within {timeoutSeconds} s");
        }
        p.WaitForExit();
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void ArrayOf3Tasks_OneCancelledAndResubmitted_EqualsTheSingleProcessRun()
    {
        var repo = DeployFilesTests.Repo;
        var script = Path.Combine(repo, "deploy", "slurm-array.sh");
        var clusterScript = Path.Combine(repo, "scripts", "slurm-local.sh");
        using var tmp = new Shared.TempDir();
        var cluster = Path.Combine(tmp.Path, "cluster");
        var clips = Path.Combine(tmp.Path, "clips");
        foreach (var (name, frames) in Clips)
        {
            var to = Directory.CreateDirectory(Path.Combine(clips, name)).FullName;
            for (var i = 0; i < frames; i++)
                File.Copy(Shared.DataPath("davis16-train", "JPEGImages", "480p", name, $"{i:00000}.jpg"), Path.Combine(to, $"{i:00000}.jpg"));
        }
        var list = Path.Combine(tmp.Path, "videos.txt");
        File.WriteAllLines(list, Clips.Select(c => Path.Combine("clips", c.Name)));
        var env = new Dictionary<string, string?> { ["CMTM"] = $"dotnet {ChildCli.Dll}", ["CMTM_DEBUG"] = null, ["SLURM_CONF"] = Path.Combine(cluster, "slurm.conf") };
        var plan = ShardPlan.Split(Clips.Select(c => new ShardItem(c.Name, c.Frames)).ToList(), Shards);
        var victim = Enumerable.Range(0, Shards).Single(k => plan.ItemsOf(k).Count == 2); // the shard with two clips
        var victimFirst = plan.ItemsOf(victim)[0].Name;

        // the single-process run: the same script, outside Slurm (no array variables: the whole list)
        var clock = Stopwatch.StartNew();
        var single = Run("bash", [script, list, Path.Combine(tmp.Path, "single")], env, tmp.Path);
        Assert.True(single.Code == 0, single.Out + single.Err);
        var singleSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var start = Run(clusterScript, ["start", cluster], env, timeoutSeconds: 300);
        Assert.True(start.Code == 0, start.Out + start.Err);
        output.WriteLine($"cluster up in {clock.Elapsed.TotalSeconds:0.0} s (including any install)");
        try
        {
            var outDir = Path.Combine(tmp.Path, "array");
            var logs = Directory.CreateDirectory(Path.Combine(tmp.Path, "logs")).FullName;
            string[] Sbatch(string array) => ["--parsable", $"--array={array}", "--cpus-per-task=1", $"--output={logs}/task-%a-%A.log", $"--chdir={tmp.Path}", script, list, outDir];
            clock.Restart();
            var submit = Run("sbatch", Sbatch($"0-{Shards - 1}"), env);
            Assert.True(submit.Code == 0, submit.Err);
            var job = submit.Out.Trim().Split(';')[0];

            // cancel the two-clip task once its first clip's masks are done (it is then on its second clip)
            var marker = new ShardState(Path.Combine(outDir, "masks")).DonePath(victimFirst);
            var until = DateTime.UtcNow.AddSeconds(150);
            while (!File.Exists(marker) && DateTime.UtcNow < until) Thread.Sleep(100);
            Assert.True(File.Exists(marker), "the first clip of the victim shard was not done in time:\n" + Logs(logs));
            var cancel = Run("scancel", [$"{job}_{victim}"], env);
            Assert.True(cancel.Code == 0, cancel.Err);
            WaitForJob(job, env, logs);
            var arraySeconds = clock.Elapsed.TotalSeconds;
            Assert.Contains("JobState=CANCELLED", Run("scontrol", ["show", "job", $"{job}_{victim}"], env).Out);
            Assert.False(File.Exists(new ShardState(Path.Combine(outDir, "masks")).DonePath(plan.ItemsOf(victim)[1].Name)));

            var status = Run("dotnet", [ChildCli.Dll, "shards", Path.Combine(outDir, "masks")], env);
            output.WriteLine(status.Out);
            Assert.Equal(1, status.Code);
            Assert.Contains($"shard {victim}/{Shards}: unfinished", status.Out);
            Assert.Contains($"sbatch --array={victim} --export=ALL,CMTM_SHARD_COUNT={Shards}", status.Out);

            // resubmit that index alone, with the array's full size
            clock.Restart();
            var again = Run("sbatch", ["--export=ALL,CMTM_SHARD_COUNT=" + Shards, .. Sbatch(victim.ToString())], env);
            Assert.True(again.Code == 0, again.Err);
            var job2 = again.Out.Trim().Split(';')[0];
            WaitForJob(job2, env, logs);
            var resubmitSeconds = clock.Elapsed.TotalSeconds;
            Assert.Contains("JobState=COMPLETED", Run("scontrol", ["show", "job", job2], env).Out);
            var log2 = File.ReadAllText(Path.Combine(logs, $"task-{victim}-{job2}.log"));
            Assert.Contains($"{victimFirst}: already done, skipped", log2);

            foreach (var part in new[] { "flows", "masks" })
            {
                var done = Run("dotnet", [ChildCli.Dll, "shards", Path.Combine(outDir, part)], env);
                Assert.True(done.Code == 0, done.Out + done.Err);
                MiniDavis.AssertSameFiles(Path.Combine(tmp.Path, "single", part), Path.Combine(outDir, part));
            }
            Assert.Equal(Clips.Sum(c => c.Frames), Directory.GetFiles(Path.Combine(outDir, "masks"), "*.png", SearchOption.AllDirectories).Length);
            var frames = Clips.Sum(c => c.Frames);
            output.WriteLine($"single process: {frames} frames (flows + masks) in {singleSeconds:0.0} s ({frames / singleSeconds:0.00} frames/s); " +
                             $"array of {Shards} on 2 CPUs with one task cancelled: {arraySeconds:0.0} s, resubmitted index: {resubmitSeconds:0.0} s");
        }
        finally
        {
            var stop = Run(clusterScript, ["stop", cluster], env, timeoutSeconds: 60);
            output.WriteLine("cluster stopped: " + stop.Code);
        }
    }

    private static void WaitForJob(string job, IReadOnlyDictionary<string, string?> env, string logs)
    {
        var until = DateTime.UtcNow.AddSeconds(180);
        while (DateTime.UtcNow < until)
        {
            var q = Run("squeue", ["-h", "-j", job], env);
            if (q.Code == 0 && q.Out.Trim().Length == 0) return;
            Thread.Sleep(250);
        }
        throw new TimeoutException($"job {job} still queued or running after 180 s:\n{Logs(logs)}");
    }

    private static string Logs(string dir) =>
        string.Join("\n", Directory.GetFiles(dir).Order().Select(f => $"== {Path.GetFileName(f)}\n{File.ReadAllText(f)}"));
}
