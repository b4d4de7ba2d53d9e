using Cmtm.IO;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;
using OpenCvSharp;

namespace Cmtm.Tests.Flow;

/// <summary>`cmtm flow --dataset davis16 --root R` fills R/JPEGFlows/480p for every split, resumably.</summary>
[Collection("Console")]
public class DatasetFlowsTests
{
    private static void WriteFrames(string dir, string sourceSeq, int count)
    {
        Directory.CreateDirectory(dir);
        var src = Shared.DataPath("davis16-val", "JPEGImages", "480p", sourceSeq);
        for (int i = 0; i < count; i++)
        {
            using var img = Cv2.ImRead(Path.Combine(src, $"{i:00000}.jpg"));
            using var small = new Mat();
            Cv2.Resize(img, small, new Size(160, 96), interpolation: InterpolationFlags.Area);
            Cv2.ImWrite(Path.Combine(dir, $"{i:00000}.jpg"), small);
        }
    }

    [Fact]
    public void FillsJpegFlowsForTrainAndValAndResumes()
    {
        using var root = new Shared.TempDir();
        var sets = Path.Combine(root.Path, "ImageSets", "2016");
        Directory.CreateDirectory(sets);
        File.WriteAllText(Path.Combine(sets, "train.txt"), "dog\n");
        File.WriteAllText(Path.Combine(sets, "val.txt"), "blackswan\n");
        WriteFrames(Path.Combine(root.Path, "JPEGImages", "480p", "dog"), "dog", 3);
        WriteFrames(Path.Combine(root.Path, "JPEGImages", "480p", "blackswan"), "blackswan", 4);

        var (code, stdout, stderr) = CliHarness.Run("flow", "--dataset", "davis16", "--root", root.Path, "--format", "png");
        Assert.True(code == 0, stderr);
        foreach (var (seq, n) in new[] { ("dog", 3), ("blackswan", 4) })
        {
            var files = Directory.GetFiles(Path.Combine(root.Path, "JPEGFlows", "480p", seq)).Select(Path.GetFileName).Order().ToArray();
            Assert.Equal(Enumerable.Range(0, n).Select(i => $"{i:00000}.png"), files);
            var flow = FolderFrameSource.Read(Path.Combine(root.Path, "JPEGFlows", "480p", seq, "00000.png"));
            Assert.Equal((160, 96), (flow.Width, flow.Height));
        }
        Assert.Contains("2 sequences, 7 frames (7 computed, 0 already present)", stdout);

        (code, stdout, stderr) = CliHarness.Run("flow", "--dataset", "davis16", "--root", root.Path, "--format", "png");
        Assert.True(code == 0, stderr);
        Assert.Contains("(0 computed, 7 already present)", stdout);
    }

    /// <summary>`--flows DIR`: the same layout under DIR, the dataset untouched (it may be read-only); listed sequences without frames are skipped.</summary>
    [Fact]
    public void FlowsOptionWritesIntoItsOwnFolderAndLeavesTheDatasetUntouched()
    {
        using var root = new Shared.TempDir();
        using var outside = new Shared.TempDir();
        var sets = Path.Combine(root.Path, "ImageSets", "2016");
        Directory.CreateDirectory(sets);
        File.WriteAllText(Path.Combine(sets, "train.txt"), "dog\n");
        File.WriteAllText(Path.Combine(sets, "val.txt"), "blackswan\nbmx-trees\n"); // bmx-trees: annotations only, as in ../shared
        WriteFrames(Path.Combine(root.Path, "JPEGImages", "480p", "dog"), "dog", 2);
        WriteFrames(Path.Combine(root.Path, "JPEGImages", "480p", "blackswan"), "blackswan", 3);
        static string[] Listing(string dir) => Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order().ToArray();
        var before = Listing(root.Path);

        var flows = Path.Combine(outside.Path, "f");
        var (code, stdout, stderr) = CliHarness.Run("flow", "--dataset", "davis16", "--root", root.Path, "--flows", flows);
        Assert.True(code == 0, stderr);
        Assert.Equal(before, Listing(root.Path));
        foreach (var (seq, n) in new[] { ("dog", 2), ("blackswan", 3) })
            Assert.Equal(Enumerable.Range(0, n).Select(i => $"{i:00000}.jpg"),
                Directory.GetFiles(Path.Combine(flows, "JPEGFlows", "480p", seq)).Select(Path.GetFileName).Order());
        Assert.Contains("val: 1 of 2 sequences have no frames here, skipped: bmx-trees", stdout);
        Assert.Contains("2 sequences, 5 frames (5 computed, 0 already present)", stdout);

        // --flows belongs to --dataset
        (code, _, stderr) = CliHarness.Run("flow", Path.Combine(root.Path, "JPEGImages", "480p", "dog"), "--out", outside.File("x"), "--flows", flows);
        Assert.Equal(2, code);
        Assert.Contains("--flows: only applies with --dataset", stderr);
    }

    [Fact]
    public void DatasetModeErrorsAreNamed()
    {
        using var root = new Shared.TempDir();
        var (code, _, stderr) = CliHarness.Run("flow", "--dataset", "davis16", "--root", root.Path);
        Assert.Equal(2, code);
        Assert.Contains(root.Path, stderr);
        (code, _, stderr) = CliHarness.Run("flow", "--dataset", "duts", "--root", root.Path);
        Assert.Equal(2, code);
        Assert.Contains("simulated", stderr);
    }
}
