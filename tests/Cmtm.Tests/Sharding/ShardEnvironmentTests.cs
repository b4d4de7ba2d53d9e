using Cmtm.Sharding;

namespace Cmtm.Tests.Sharding;

/// <summary>Which shard a task is: --shard, else Slurm array or Kubernetes indexed Job variables.</summary>
public class ShardEnvironmentTests
{
    private static ShardSelection? Resolve(string? flag, params (string Name, string Value)[] env)
    {
        var map = env.ToDictionary(e => e.Name, e => e.Value);
        return ShardEnvironment.Resolve(flag, n => map.GetValueOrDefault(n));
    }

    private static CmtmException Fails(string? flag, params (string, string)[] env) => Assert.Throws<CmtmException>(() => Resolve(flag, env));

    [Fact]
    public void TheFlagWins_AndNothingSetMeansNotSharded()
    {
        Assert.Null(Resolve(null));
        Assert.Null(Resolve(null, ("CMTM_SHARD_COUNT", "4"))); // a count alone names no shard
        var s = Resolve("2/5", ("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "4"))!;
        Assert.Equal(new ShardSpec(2, 5), s.Spec);
        Assert.Equal("--shard 2/5", s.Source);
        foreach (var bad in new[] { "2", "a/4", "1/0", "4/4", "-1/4", "1/4/2", " / " })
            Assert.StartsWith("shard:", Fails(bad).Message); // the CLI names it --shard (CliRunner.InOptionTerms)
        Assert.Contains("0-based", Fails("4/4").Message);
    }

    [Fact]
    public void SlurmArray_IndexAndCount_FromAWhole0BasedArray()
    {
        var s = Resolve(null, ("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_MAX", "3"))!;
        Assert.Equal(new ShardSpec(3, 4), s.Spec);
        Assert.Contains("Slurm", s.Source);
        // an array that does not start at 0 (--array=1-4) is refused rather than mis-split
        var e = Fails(null, ("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_MAX", "4"));
        Assert.StartsWith("SLURM_ARRAY_TASK_COUNT:", e.Message);
        Assert.Contains("--array=0-3", e.Message);
        Assert.StartsWith("SLURM_ARRAY_TASK_ID:", Fails(null, ("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "4")).Message);
        Assert.Contains("CMTM_SHARD_COUNT", Fails(null, ("SLURM_ARRAY_TASK_ID", "0")).Message);
    }

    [Fact]
    public void SlurmResubmittedSubset_NeedsTheFullCount()
    {
        // sbatch --array=1,3 of a 4-task array: Slurm says COUNT=2, MIN=1, MAX=3
        var subset = new[] { ("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "2"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_MAX", "3") };
        Assert.Contains("CMTM_SHARD_COUNT", Fails(null, subset).Message);
        var s = Resolve(null, [.. subset, ("CMTM_SHARD_COUNT", "4")])!;
        Assert.Equal(new ShardSpec(3, 4), s.Spec);
        // a single resubmitted index: --array=1 (COUNT=1, MIN=MAX=1)
        Assert.Equal(new ShardSpec(1, 4), Resolve(null, ("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "1"), ("CMTM_SHARD_COUNT", "4"))!.Spec);
        Assert.Contains("outside 0..3", Fails(null, ("SLURM_ARRAY_TASK_ID", "4"), ("CMTM_SHARD_COUNT", "4")).Message);
    }

    [Fact]
    public void KubernetesIndexedJob_IndexWithTheCountFromCmtmShardCount()
    {
        var s = Resolve(null, ("JOB_COMPLETION_INDEX", "2"), ("CMTM_SHARD_COUNT", "4"))!;
        Assert.Equal(new ShardSpec(2, 4), s.Spec);
        Assert.Contains("Kubernetes", s.Source);
        Assert.StartsWith("JOB_COMPLETION_INDEX:", Fails(null, ("JOB_COMPLETION_INDEX", "2")).Message);
        Assert.StartsWith("JOB_COMPLETION_INDEX:", Fails(null, ("JOB_COMPLETION_INDEX", "4"), ("CMTM_SHARD_COUNT", "4")).Message);
        Assert.StartsWith("CMTM_SHARD_COUNT:", Fails(null, ("JOB_COMPLETION_INDEX", "0"), ("CMTM_SHARD_COUNT", "four")).Message);
        // Slurm's variables come first when both are present
        Assert.Contains("Slurm", Resolve(null, ("JOB_COMPLETION_INDEX", "1"), ("SLURM_ARRAY_TASK_ID", "0"), ("CMTM_SHARD_COUNT", "2"))!.Source);
    }
}
