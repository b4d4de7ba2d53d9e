using Cmtm.Data.Datasets;
using Cmtm.IO;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Data;

public class DatasetReaderTests
{
    /// <summary>Creates empty files (readers only list files; nothing is decoded).</summary>
    private static void Touch(string root, params string[] relative)
    {
        foreach (var r in relative)
        {
            var p = Path.Combine(root, r);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            File.WriteAllBytes(p, []);
        }
    }

    private static void DavisLayout(string root, string seq, int frames, bool flows = true)
    {
        for (var i = 0; i < frames; i++)
        {
            Touch(root, $"JPEGImages/480p/{seq}/{i:00000}.jpg", $"Annotations/480p/{seq}/{i:00000}.png");
            if (flows) Touch(root, $"JPEGFlows/480p/{seq}/{i:00000}.jpg");
        }
    }

    [Fact]
    public void DavisFullLayout()
    {
        using var d = new Shared.TempDir();
        Touch(d.Path, "ImageSets/2016/train.txt");
        File.WriteAllText(d.File("ImageSets/2016/train.txt"), "bear\nboat\n\n");
        DavisLayout(d.Path, "boat", 3);
        DavisLayout(d.Path, "bear", 2);
        var ds = DatasetReader.Davis(d.Path, "train", DatasetParts.All);
        Assert.Equal(["bear", "boat"], ds.Sequences.Select(s => s.Name));
        Assert.Equal(5, ds.FrameCount);
        var f = ds.Sequences[1].Frames[2];
        Assert.Equal("00002", f.Name);
        Assert.Equal(Path.Combine(d.Path, "JPEGImages", "480p", "boat", "00002.jpg"), f.Image);
        Assert.Equal(Path.Combine(d.Path, "JPEGFlows", "480p", "boat", "00002.jpg"), f.Flow);
        Assert.Equal(Path.Combine(d.Path, "Annotations", "480p", "boat", "00002.png"), f.Annotation);
        Assert.Equal(MaskRule.ObjectIds, ds.AnnotationRule);
    }

    [Fact]
    public void DavisNamesMissingPieces()
    {
        using var d = new Shared.TempDir();
        var e = Assert.Throws<CmtmException>(() => DatasetReader.Davis(d.Path));
        Assert.Equal(Path.Combine(d.Path, "ImageSets", "2016", "val.txt"), e.Subject);

        Touch(d.Path, "ImageSets/2016/val.txt");
        File.WriteAllText(d.File("ImageSets/2016/val.txt"), "cows\n");
        DavisLayout(d.Path, "cows", 3);
        File.Delete(d.File("JPEGFlows/480p/cows/00001.jpg"));
        e = Assert.Throws<CmtmException>(() => DatasetReader.Davis(d.Path, "val", DatasetParts.All));
        Assert.Equal(Path.Combine(d.Path, "JPEGFlows", "480p", "cows", "00001.jpg"), e.Subject);
        Assert.Contains("missing flow", e.Problem);
        // evaluation needs only annotations (+ ImageSets): fine, and the flow that exists is still attached
        var ds = DatasetReader.Davis(d.Path);
        Assert.Null(ds.Sequences[0].Frames[1].Flow);
        Assert.NotNull(ds.Sequences[0].Frames[2].Flow);

        // the old DAVIS-2016 path-pair list is rejected with an explanation
        File.WriteAllText(d.File("ImageSets/2016/val.txt"), "/JPEGImages/480p/cows/00000.jpg /Annotations/480p/cows/00000.png\n");
        e = Assert.Throws<CmtmException>(() => DatasetReader.Davis(d.Path));
        Assert.Contains("not a sequence name", e.Problem);
    }

    [Fact]
    public void RealDavisValAnnotationsOnly()
    {
        var root = Shared.DataPath("davis16-val");
        var ds = DatasetReader.Davis(root);
        Assert.Equal(20, ds.Sequences.Count);
        Assert.Equal(1376, ds.FrameCount);
        Assert.Equal(1376, ds.AnnotatedFrameCount);
        Assert.Equal(50, ds.Sequences.Single(s => s.Name == "blackswan").Frames.Count);
        Assert.NotNull(ds.Sequences.Single(s => s.Name == "blackswan").Frames[0].Image); // JPEGs present for 6 sequences
        Assert.Null(ds.Sequences.Single(s => s.Name == "bmx-trees").Frames[0].Image);
        // inference needs images: the data README says bmx-trees has no JPEGs here
        var e = Assert.Throws<CmtmException>(() => DatasetReader.Davis(root, "val", DatasetParts.Images | DatasetParts.Annotations));
        Assert.Equal(Path.Combine(root, "JPEGImages", "480p", "bmx-trees"), e.Subject);
    }

    [Fact]
    public void FbmsPairsBySortedOrderAndChecksCounts()
    {
        using var d = new Shared.TempDir();
        Touch(d.Path, "JPEGImages/cars1/cars1_01.jpg", "JPEGImages/cars1/cars1_20.jpg",
            "JPEGFlows/cars1/cars1_01.jpg", "JPEGFlows/cars1/cars1_20.jpg",
            "Annotations/cars1/cars1_01.png", "Annotations/cars1/cars1_20.png");
        var ds = DatasetReader.Fbms(d.Path, DatasetParts.All);
        Assert.Equal("fbms", ds.Kind);
        Assert.Equal(MaskRule.Luminance, ds.AnnotationRule);
        Assert.Equal(["cars1_01", "cars1_20"], ds.Sequences[0].Frames.Select(f => f.Name));
        Assert.EndsWith("cars1_20.png", ds.Sequences[0].Frames[1].Annotation);

        Touch(d.Path, "JPEGImages/cars1/cars1_40.jpg");
        var e = Assert.Throws<CmtmException>(() => DatasetReader.Fbms(d.Path, DatasetParts.All));
        Assert.Equal(Path.Combine(d.Path, "JPEGFlows", "cars1"), e.Subject);
        Assert.Contains("paired by sorted order", e.Problem);
        // annotations alone are still readable (images attached only when the counts match)
        var ann = DatasetReader.Fbms(d.Path);
        Assert.All(ann.Sequences[0].Frames, f => Assert.Null(f.Image));
    }

    [Fact]
    public void YouTubeObjectsClassesAndVideos()
    {
        using var d = new Shared.TempDir();
        Touch(d.Path, "Annotations/cat/0002/00001.png", "Annotations/aeroplane/0001/00001.png", "Annotations/aeroplane/0001/00011.png");
        var ds = DatasetReader.YouTubeObjects(d.Path);
        Assert.Equal(["aeroplane/0001", "cat/0002"], ds.Sequences.Select(s => s.Name));
        Assert.Equal(["aeroplane", "cat"], ds.Sequences.Select(s => s.Category));
        Assert.Equal(2, ds.Sequences[0].Frames.Count);
        var e = Assert.Throws<CmtmException>(() => DatasetReader.YouTubeObjects(d.Path, DatasetParts.All));
        Assert.Equal(Path.Combine(d.Path, "JPEGImages"), e.Subject);
    }

    [Fact]
    public void LongVideosUsesObjectIds()
    {
        using var d = new Shared.TempDir();
        Touch(d.Path, "Annotations/dressage/00000.png", "JPEGImages/dressage/00000.jpg", "JPEGFlows/dressage/00000.jpg");
        var ds = DatasetReader.LongVideos(d.Path, DatasetParts.All);
        Assert.Equal(MaskRule.ObjectIds, ds.AnnotationRule);
        Assert.NotNull(ds.Sequences[0].Frames[0].Flow);
    }

    [Fact]
    public void YouTubeVosWithAndWithoutList()
    {
        using var d = new Shared.TempDir();
        foreach (var v in new[] { "003234408d", "0043f083b5" })
            Touch(d.Path, $"train/JPEGImages/{v}/00000.jpg", $"train/JPEGImages/{v}/00005.jpg",
                $"train/JPEGFlows/{v}/00000.jpg", $"train/JPEGFlows/{v}/00005.jpg",
                $"train/Annotations/{v}/00000.png", $"train/Annotations/{v}/00005.png");
        var ds = DatasetReader.YouTubeVos18(d.Path);
        Assert.Equal(2, ds.Sequences.Count);
        Assert.Equal(4, ds.FrameCount);
        Touch(d.Path, "ImageSets/train.txt");
        File.WriteAllText(d.File("ImageSets/train.txt"), "0043f083b5\nmissing01\n");
        var e = Assert.Throws<CmtmException>(() => DatasetReader.YouTubeVos18(d.Path));
        Assert.Equal(Path.Combine(d.Path, "train", "JPEGImages", "missing01"), e.Subject);
    }

    [Fact]
    public void Dutsv2FlatFolders()
    {
        using var d = new Shared.TempDir();
        Touch(d.Path, "JPEGImages/a.jpg", "JPEGImages/b.jpg", "JPEGFlows/a.jpg", "JPEGFlows/b.jpg", "Annotations/a.png", "Annotations/b.png");
        var ds = DatasetReader.Dutsv2(d.Path);
        Assert.Single(ds.Sequences);
        Assert.Equal(["a", "b"], ds.Sequences[0].Frames.Select(f => f.Name));
        Directory.Delete(d.File("JPEGFlows"), true);
        var e = Assert.Throws<CmtmException>(() => DatasetReader.Dutsv2(d.Path));
        Assert.Equal(Path.Combine(d.Path, "JPEGFlows"), e.Subject);
    }

    [Fact]
    public void UnknownKindAndMissingRoot()
    {
        Assert.Equal("bogus", Assert.Throws<CmtmException>(() => DatasetReader.ParseKind("bogus")).Subject);
        Assert.Equal("/nonexistent/fbms", Assert.Throws<CmtmException>(() => DatasetReader.Fbms("/nonexistent/fbms")).Subject);
    }
}
