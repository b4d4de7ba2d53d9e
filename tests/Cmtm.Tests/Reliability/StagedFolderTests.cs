using System.Diagnostics;
using Cmtm.IO;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Reliability;

/// <summary>
/// The staging folder behind `cmtm segment` / `cmtm evaluate --results-out`: the target appears only on commit, an
/// abandoned stage leaves nothing, and the staging folder of a killed run (its process is gone) is removed by the next
/// run for the same target while a running process's is kept.
/// </summary>
public class StagedFolderTests
{
    private static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public void CommitMovesTheStageIntoPlaceAndRemovesKilledRunsLeftovers()
    {
        using var d = new Shared.TempDir();
        var target = d.File("masks");
        var dead = Directory.CreateDirectory(d.File($".masks.partial-{DeadPid()}")).FullName;
        File.WriteAllText(Path.Combine(dead, "00000.png"), "half-written");
        var live = Directory.CreateDirectory(d.File(".masks.partial-notapid")).FullName; // not a PID suffix: ignored
        var other = Directory.CreateDirectory(d.File($".other.partial-{DeadPid()}")).FullName; // another target: kept

        using (var stage = StagedFolder.Create(target))
        {
            Assert.False(Directory.Exists(dead), "the killed run's staging folder is still there");
            Assert.True(Directory.Exists(live));
            Assert.True(Directory.Exists(other));
            Assert.False(Directory.Exists(target));
            File.WriteAllText(Path.Combine(stage.Path, "00000.png"), "complete");
            stage.Commit();
            Assert.False(Directory.Exists(stage.Path));
        }
        Assert.Equal("complete", File.ReadAllText(Path.Combine(target, "00000.png")));
    }

    /// <summary>On a file system shared by several hosts (a job array's nodes), only this host's dead writers are
    /// cleaned up: another host's process id means nothing here, so its leftovers stay.</summary>
    [Fact]
    public void OnlyThisHostsDeadWritersLeftoversAreRemoved()
    {
        using var d = new Shared.TempDir();
        var dead = DeadPid();
        var mine = Directory.CreateDirectory(d.File($".masks.partial-{WriterMark.Host}-{dead}")).FullName;
        var legacy = Directory.CreateDirectory(d.File($".masks.partial-{dead}")).FullName; // a bare PID: this host's
        var otherHost = Directory.CreateDirectory(d.File($".masks.partial-{WriterMark.Host}x-{dead}")).FullName;
        var liveMine = Directory.CreateDirectory(d.File($".masks.partial-{WriterMark.Current}")).FullName;
        var tmpMine = d.File($".last.safetensors.{WriterMark.Host}-{dead}.{Guid.NewGuid():N}.tmp");
        var tmpOther = d.File($".last.safetensors.other-node-{dead}.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(tmpMine, "half"); File.WriteAllText(tmpOther, "half");

        Assert.Equal(2, StagedFolder.RemoveStale(d.Path, "masks"));
        Assert.False(Directory.Exists(mine));
        Assert.False(Directory.Exists(legacy));
        Assert.True(Directory.Exists(otherHost));
        Assert.True(Directory.Exists(liveMine));
        Assert.Equal(1, AtomicFile.RemoveStaleTemps(d.Path));
        Assert.False(File.Exists(tmpMine));
        Assert.True(File.Exists(tmpOther));
        Assert.Matches($@"^\.x\.{WriterMark.Host}-{Environment.ProcessId}\.[0-9a-f]{{32}}\.tmp$", AtomicFile.TempName("x"));
    }

    [Fact]
    public void AnAbandonedStageLeavesNothingAndKeepsAnOldTarget()
    {
        using var d = new Shared.TempDir();
        var target = Directory.CreateDirectory(d.File("masks")).FullName;
        File.WriteAllText(Path.Combine(target, "old.png"), "old");
        string staged;
        using (var stage = StagedFolder.Create(target))
        {
            staged = stage.Path;
            File.WriteAllText(Path.Combine(stage.Path, "new.png"), "new");
        }
        Assert.False(Directory.Exists(staged));
        Assert.Equal(new[] { "old.png" }, Directory.GetFiles(target).Select(Path.GetFileName));
    }

    [Fact]
    public void ARunningProcesssStageIsKept()
    {
        using var d = new Shared.TempDir();
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        try
        {
            var running = Directory.CreateDirectory(d.File($".masks.partial-{sleeper.Id}")).FullName;
            Assert.Equal(0, StagedFolder.RemoveStale(d.Path, "masks"));
            Assert.True(Directory.Exists(running));
        }
        finally { sleeper.Kill(); sleeper.WaitForExit(); }
    }
}
