using Cmtm.Sharding;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Sharding;

/// <summary>
/// A small DAVIS-layout dataset in a temp folder: the first frames (and annotations) of 3 DAVIS-2016 train sequences
/// (427x240) listed as the "val" split, a video list of their frames folders plus a broken video.
/// </summary>
public sealed class MiniDavis : IDisposable
{
    public static readonly (string Name, int Frames)[] Sequences = [("bear", 5), ("bus", 4), ("rhino", 3)];
    private readonly Shared.TempDir dir = new();
    public string Root => Path.Combine(dir.Path, "davis");
    /// <summary>The frames folders and the broken video, one per line.</summary>
    public string List => Path.Combine(dir.Path, "videos.txt");
    public string Work(string name) => Path.Combine(dir.Path, name);
    public static string Weights => Shared.Fixture("model", "cmtm_b0_r128.pth");

    public MiniDavis()
    {
        Directory.CreateDirectory(Path.Combine(Root, "ImageSets", "2016"));
        File.WriteAllLines(Path.Combine(Root, "ImageSets", "2016", "val.txt"), Sequences.Select(s => s.Name));
        foreach (var (name, frames) in Sequences)
            foreach (var (part, ext) in new[] { ("JPEGImages", ".jpg"), ("Annotations", ".png") })
            {
                var to = Directory.CreateDirectory(Path.Combine(Root, part, "480p", name)).FullName;
                for (var i = 0; i < frames; i++)
                    File.Copy(Shared.DataPath("davis16-train", part, "480p", name, $"{i:00000}{ext}"), Path.Combine(to, $"{i:00000}{ext}"));
            }
        File.WriteAllBytes(Work("broken.mp4"), Enumerable.Repeat((byte)0x5a, 4096).ToArray());
        File.WriteAllLines(List, ["# three clips and a broken video", .. Sequences.Select(s => Path.Combine("davis", "JPEGImages", "480p", s.Name)), "", "broken.mp4"]);
    }

    public void Dispose() => dir.Dispose();

    /// <summary>Every file under <paramref name="root"/> except the shard bookkeeping, by relative path, with its bytes.</summary>
    public static SortedDictionary<string, byte[]> Files(string root) =>
        new(Directory.GetFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f))
            .Where(r => !r.Split('/').Contains(ShardState.FolderName))
            .ToDictionary(r => r, r => File.ReadAllBytes(Path.Combine(root, r))), StringComparer.Ordinal);

    public static void AssertSameFiles(string expected, string actual)
    {
        var a = Files(expected);
        var b = Files(actual);
        Assert.Equal(a.Keys, b.Keys);
        Assert.NotEmpty(a);
        foreach (var (k, v) in a) Assert.True(v.AsSpan().SequenceEqual(b[k]), $"{k} differs");
    }
}

/// <summary>
/// `--shard` in the commands that loop over videos, in-process on real DAVIS frames with the fixture
/// checkpoint at 64 px: merged shards equal the single run byte for byte, a re-run skips finished items, a broken video
/// fails only its item and the shard exits non-zero naming it, `cmtm shards` says what is missing.
/// </summary>
[Collection("Console")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class ShardCliTests(MiniDavis data) : IClassFixture<MiniDavis>
{
    private static (int Code, string Out, string Err) Cli(params string[] args) => CliHarness.Run(args);

    [Fact]
    public void SegmentList_ShardsMergeToTheSingleRun_ReRunSkipsDone_BrokenVideoFailsAlone()
    {
        string[] Segment(string outDir, params string[] more) =>
            ["segment", "--list", data.List, "--out", outDir, "--weights", MiniDavis.Weights, "--resolution", "64", "--threads", "1", .. more];
        var single = data.Work("seg-single");
        var whole = Cli(Segment(single));
        Assert.Equal(2, whole.Code);
        Assert.Contains("broken.mp4: cannot open video", whole.Err);
        Assert.Contains("1 of 4 items failed: broken", whole.Err);
        Assert.All(MiniDavis.Sequences, s => Assert.Equal(s.Frames, Directory.GetFiles(Path.Combine(single, s.Name), "*.png").Length));
        Assert.False(Directory.Exists(Path.Combine(single, "broken"))); // nothing half-written

        var sharded = data.Work("seg-sharded");
        var runs = Enumerable.Range(0, 2).Select(k => Cli(Segment(sharded, "--shard", $"{k}/2"))).ToList();
        var brokenShard = runs.FindIndex(r => r.Code != 0);
        Assert.True(brokenShard >= 0, string.Join("\n", runs.Select(r => r.Out + r.Err)));
        Assert.Equal(0, runs[1 - brokenShard].Code);
        Assert.Contains("items failed: broken", runs[brokenShard].Err);
        MiniDavis.AssertSameFiles(single, sharded);

        var summary = Cli("shards", sharded);
        Assert.Equal(1, summary.Code);
        Assert.Contains($"shard {brokenShard}/2: failed", summary.Out);
        Assert.Contains("failed: broken: ", summary.Out);
        Assert.Contains($"sbatch --array={brokenShard} --export=ALL,CMTM_SHARD_COUNT=2", summary.Out);

        // the same shard again: its finished clips are skipped (files untouched), the broken video is tried again
        var stamps = Directory.GetFiles(sharded, "*.png", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var again = Cli(Segment(sharded, "--shard", $"{brokenShard}/2"));
        Assert.Equal(2, again.Code);
        Assert.Contains("already done, skipped", again.Out);
        Assert.Contains("0 done now", again.Out);
        Assert.All(stamps, s => Assert.Equal(s.Value, File.GetLastWriteTimeUtc(s.Key)));

        // a shard index from the scheduler's environment, and --shard where it does not apply
        Assert.Equal(2, Cli("segment", data.List, "--shard", "0/2").Code);
        Assert.Contains("--list", Cli("segment", data.List, "--shard", "0/2").Err);
    }

    [Fact]
    public void FlowDataset_AndEvaluateWeights_ShardsMergeToTheSingleRun_AndTheMergeIsScoredAsIs()
    {
        var flowsSingle = data.Work("flows-single");
        Assert.Equal(0, Cli("flow", "--dataset", "davis16", "--root", data.Root, "--flows", flowsSingle).Code);
        var flowsSharded = data.Work("flows-sharded");
        for (var k = 0; k < 3; k++)
        {
            var r = Cli("flow", "--dataset", "davis16", "--root", data.Root, "--flows", flowsSharded, "--shard", $"{k}/3");
            Assert.True(r.Code == 0, r.Err);
            Assert.Contains($"shard {k}/3: 1 items", r.Out); // 3 sequences, 3 shards
        }
        MiniDavis.AssertSameFiles(flowsSingle, flowsSharded);
        Assert.Equal(0, Cli("shards", Path.Combine(flowsSharded, "JPEGFlows", "480p")).Code);

        string[] Evaluate(string outDir, params string[] more) =>
            ["evaluate", "--dataset", "davis16", "--root", data.Root, "--weights", MiniDavis.Weights, "--resolution", "64", "--flows", flowsSingle,
             "--results-out", outDir, "--threads", "1", .. more];
        var single = data.Work("eval-single");
        var whole = Cli(Evaluate(single, "--json", data.Work("single.json")));
        Assert.True(whole.Code == 0, whole.Err);
        var merged = data.Work("eval-merged");
        for (var k = 0; k < 2; k++)
        {
            var r = Cli(Evaluate(merged, "--shard", $"{k}/2"));
            Assert.True(r.Code == 0, r.Err);
            Assert.DoesNotContain("J&F", r.Out); // a shard scores nothing
        }
        MiniDavis.AssertSameFiles(single, merged);
        var scored = Cli("evaluate", "--dataset", "davis16", "--root", data.Root, "--results", merged, "--json", data.Work("merged.json"));
        Assert.True(scored.Code == 0, scored.Err);
        string Scores(string json) => System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("overall").GetRawText();
        Assert.Equal(Scores(data.Work("single.json")), Scores(data.Work("merged.json")));
        Assert.Contains("--shard", Cli("evaluate", "--dataset", "davis16", "--root", data.Root, "--results", merged, "--shard", "0/2").Err);
    }
}
