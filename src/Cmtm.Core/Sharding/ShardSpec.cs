using System.Globalization;

namespace Cmtm.Sharding;

/// <summary>
/// Shard <see cref="Index"/> of <see cref="Count"/> (0-based, as Slurm array indices from <c>--array=0-(N-1)</c> and
/// Kubernetes completion indices): which part of a work list one task of a job array does (<see cref="ShardPlan"/>).
/// </summary>
public readonly record struct ShardSpec(int Index, int Count)
{
    /// <summary>"K/N".</summary>
    public override string ToString() => $"{Index}/{Count}";

    /// <summary>File-name form, "shard-K-of-N".</summary>
    public string FileStem => $"shard-{Index}-of-{Count}";

    /// <summary>Parses "K/N" (0 &lt;= K &lt; N); <paramref name="subject"/> names the source in the error.</summary>
    public static ShardSpec Parse(string text, string subject = "shard")
    {
        var parts = text.Trim().Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var k)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            throw new CmtmException(subject, $"'{text}' is not K/N (shard K of N, 0-based: 0/4 ... 3/4)");
        return Create(k, n, subject);
    }

    /// <summary>Checks 0 &lt;= <paramref name="index"/> &lt; <paramref name="count"/>.</summary>
    public static ShardSpec Create(int index, int count, string subject)
    {
        if (count < 1) throw new CmtmException(subject, $"the shard count must be at least 1 (got {count})");
        if (index < 0 || index >= count)
            throw new CmtmException(subject, $"shard index {index} is outside 0..{count - 1} (indices are 0-based: submit the array as --array=0-{count - 1})");
        return new ShardSpec(index, count);
    }
}

/// <summary>The shard a process works on and where that came from (for its report and first output line).</summary>
public sealed record ShardSelection(ShardSpec Spec, string Source);

/// <summary>
/// Which shard this process is, when a command that loops over videos runs as one task of a job array: the
/// <c>--shard K/N</c> flag when given, else the scheduler's environment:
/// <list type="bullet">
/// <item>Slurm job arrays: K = <c>SLURM_ARRAY_TASK_ID</c>; N = <c>CMTM_SHARD_COUNT</c> when set, else
/// <c>SLURM_ARRAY_TASK_COUNT</c>, which is only trusted for a whole 0-based array (<c>--array=0-(N-1)</c>: task min 0,
/// max N-1). A resubmitted subset (<c>sbatch --array=1,3</c>) has a smaller count, so it needs CMTM_SHARD_COUNT=N.</item>
/// <item>Kubernetes indexed Jobs: K = <c>JOB_COMPLETION_INDEX</c>; N = <c>CMTM_SHARD_COUNT</c> (the Job's completions;
/// Kubernetes does not export it).</item>
/// </list>
/// Nothing set: not sharded (null).
/// </summary>
public static class ShardEnvironment
{
    public const string CountVariable = "CMTM_SHARD_COUNT";
    public const string SlurmIndex = "SLURM_ARRAY_TASK_ID";
    public const string SlurmCount = "SLURM_ARRAY_TASK_COUNT";
    public const string SlurmMin = "SLURM_ARRAY_TASK_MIN";
    public const string SlurmMax = "SLURM_ARRAY_TASK_MAX";
    public const string KubernetesIndex = "JOB_COMPLETION_INDEX";

    /// <summary>
    /// The shard from <paramref name="flag"/> (<c>--shard K/N</c>) or the environment read through
    /// <paramref name="env"/> (default: the process environment); null when neither says anything.
    /// </summary>
    public static ShardSelection? Resolve(string? flag, Func<string, string?>? env = null)
    {
        if (!string.IsNullOrWhiteSpace(flag)) return new ShardSelection(ShardSpec.Parse(flag), "--shard " + flag.Trim());
        env ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => env(name) is string v && v.Trim().Length > 0 ? v.Trim() : null;
        var explicitCount = Get(CountVariable) is string c ? (int?)Number(CountVariable, c) : null;

        if (Get(SlurmIndex) is string slurmIndex)
        {
            var k = Number(SlurmIndex, slurmIndex);
            int n;
            string source;
            if (explicitCount is int given) { n = given; source = $"{SlurmIndex}={k}, {CountVariable}={n}"; }
            else
            {
                var count = Get(SlurmCount) ?? throw new CmtmException(SlurmIndex,
                    $"is set but neither {SlurmCount} nor {CountVariable} is: set {CountVariable} to the number of shards");
                n = Number(SlurmCount, count);
                var min = Get(SlurmMin) is string mn ? Number(SlurmMin, mn) : 0;
                var max = Get(SlurmMax) is string mx ? Number(SlurmMax, mx) : n - 1;
                if (min != 0 || max != n - 1)
                    throw new CmtmException(SlurmCount, $"this array runs indices {min}..{max} as {n} tasks, not 0..{n - 1}: submit --array=0-{Math.Max(n - 1, 0)}, " +
                        $"or, when resubmitting some indices of a larger array, set {CountVariable} to its size (sbatch --array=... --export=ALL,{CountVariable}=N)");
                source = $"{SlurmIndex}={k}, {SlurmCount}={n}";
            }
            return new ShardSelection(ShardSpec.Create(k, n, SlurmIndex), "Slurm array: " + source);
        }
        if (Get(KubernetesIndex) is string kubeIndex)
        {
            var k = Number(KubernetesIndex, kubeIndex);
            var n = explicitCount ?? throw new CmtmException(KubernetesIndex,
                $"is set (a Kubernetes indexed Job) but {CountVariable} is not: set it to the Job's completions");
            return new ShardSelection(ShardSpec.Create(k, n, KubernetesIndex), $"Kubernetes indexed Job: {KubernetesIndex}={k}, {CountVariable}={n}");
        }
        return null;
    }

    private static int Number(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new CmtmException(name, $"'{value}' is not a non-negative integer");
}
