using Cmtm.Data.Datasets;
using Cmtm.Data.Sampling;
using Cmtm.Data.Synthetic;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Data;

/// <summary>
/// A dataset's flow images kept in a folder of their own, in the dataset's layout (`KIND=ROOT,flows=DIR`, `--flows DIR`):
/// one function (<see cref="DatasetReader.FlowRoot"/>) decides where a frame's flow is, for training, validation and
/// evaluation; a missing flow names the file and the command that computes it.
/// </summary>
public class FlowsFolderTests
{
    [Theory]
    [InlineData("davis=/data/davis", DatasetKind.Davis16, "/data/davis", null, null)]
    [InlineData("duts=/d/DUTS:2.5", DatasetKind.Dutsv2, "/d/DUTS", 2.5, null)]
    [InlineData("davis=/data/davis,flows=/tmp/f/train", DatasetKind.Davis16, "/data/davis", null, "/tmp/f/train")]
    [InlineData("synth=s:3,flows=flows dir", DatasetKind.Synthetic, "s", 3.0, "flows dir")]
    public void TrainSpecsParseRootShareAndFlows(string spec, DatasetKind kind, string root, double? share, string? flows) =>
        Assert.Equal(new TrainingSpec(kind, root, share, flows), TrainingSource.ParseSpec(spec));

    [Theory]
    [InlineData("davis=/x,flows=", "flows= needs a folder")]
    [InlineData(",flows=/f", "the dataset folder is missing")]
    [InlineData("/x,flows=/f", "is not KIND=DIR")]
    public void BadSpecsAreNamed(string spec, string problem)
    {
        var e = Assert.Throws<CmtmException>(() => TrainingSource.ParseSpec(spec));
        Assert.Equal("train", e.Subject); // the setting's own name; the CLI says --train (CliRunner.InOptionTerms)
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void TrainingReadsTheFlowsFromTheirOwnFolderAndNamesAMissingOneWithTheCommand()
    {
        using var d = new Shared.TempDir();
        var root = d.File("ds");
        SyntheticDataset.Generate(root, 3, 2, 40, 32, 11, valVideos: 1);
        var flows = d.File("flows");
        Directory.CreateDirectory(flows);
        Directory.Move(Path.Combine(root, "JPEGFlows"), Path.Combine(flows, "JPEGFlows")); // the dataset keeps no flows

        var src = TrainingSource.Open(TrainingSource.ParseSpec($"synth={root},flows={flows}"));
        Assert.Equal(2, src.Videos.Count);
        Assert.All(src.Videos.SelectMany(v => v), f => Assert.StartsWith(Path.Combine(flows, "JPEGFlows", "480p") + "/", f.Flow));
        Assert.All(src.Videos.SelectMany(v => v), f => Assert.StartsWith(root + "/", f.Image));
        // the reader the validation and evaluation use agrees frame for frame
        var record = DatasetReader.Davis(root, "train", DatasetParts.All, flows: flows);
        Assert.Equal(src.Videos.SelectMany(v => v).Select(f => f.Flow), record.Sequences.SelectMany(s => s.Frames).Select(f => f.Flow));
        Assert.Equal(DatasetReader.FlowRoot(DatasetKind.Davis16, root, flows), Path.Combine(flows, "JPEGFlows", "480p"));

        // without flows=: the dataset has none; the error names the folder and says how to compute them
        var e = Assert.Throws<CmtmException>(() => TrainingSource.Open(DatasetKind.Synthetic, root));
        Assert.Equal(Path.Combine(root, "JPEGFlows", "480p"), e.Subject);
        Assert.Contains($"cmtm flow --dataset davis16 --root {root} --flows DIR", e.Problem);

        // one flow image missing: named, with the command that fills that folder
        var seq = record.Sequences[1].Name;
        var gone = Path.Combine(flows, "JPEGFlows", "480p", seq, "00001.jpg");
        File.Delete(gone);
        e = Assert.Throws<CmtmException>(() => TrainingSource.Open(TrainingSource.ParseSpec($"synth={root},flows={flows}")));
        Assert.Equal(gone, e.Subject);
        Assert.Contains("missing flow of frame 00001", e.Problem);
        Assert.Contains($"cmtm flow --dataset davis16 --root {root} --flows {flows}`", e.Problem);

        // a flows folder that does not exist
        e = Assert.Throws<CmtmException>(() => TrainingSource.Open(TrainingSource.ParseSpec($"synth={root},flows={d.File("nope")}")));
        Assert.Equal(d.File("nope"), e.Subject);
    }

    [Fact]
    public void DavisCanSkipListedSequencesWithoutFrames()
    {
        using var d = new Shared.TempDir();
        var root = d.File("ds");
        SyntheticDataset.Generate(root, 3, 2, 40, 32, 11, valVideos: 0);
        File.AppendAllText(Path.Combine(root, "ImageSets", "2016", "train.txt"), "zz-annotations-only\n");
        Directory.CreateDirectory(Path.Combine(root, "Annotations", "480p", "zz-annotations-only"));
        var e = Assert.Throws<CmtmException>(() => DatasetReader.Davis(root, "train", DatasetParts.Images | DatasetParts.Annotations));
        Assert.Contains("zz-annotations-only", e.Message);
        var ds = DatasetReader.Davis(root, "train", DatasetParts.Images | DatasetParts.Annotations, skipSequencesWithoutImages: true);
        Assert.Equal(3, ds.Sequences.Count);
        Assert.Equal(["zz-annotations-only"], ds.SkippedSequences);
    }
}
