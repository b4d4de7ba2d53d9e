using System.Text.Json;
using Cmtm.Model;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Model;

/// <summary>Our module tree's state-dict names and shapes equal the official checkpoints' (manifests at 512x512).</summary>
public class ManifestTests
{
    public static List<(string Key, long[] Shape, string DType)> ReadManifest(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Shared.Fixture("manifests", file)));
        return doc.RootElement.EnumerateArray().Select(e => (
            e[0].GetString()!,
            e[1].EnumerateArray().Select(x => x.GetInt64()).ToArray(),
            e[2].GetString()!)).ToList();
    }

    [Theory]
    [InlineData("cmtm-b0", "cmtm_b0.json")]
    [InlineData("cmtm-b1", "cmtm_b1.json")]
    [InlineData("cmtm-b2", "cmtm_b2.json")]
    [InlineData("fakeflow-b0", "fakeflow_b0.json")]
    [InlineData("fakeflow-b1", "fakeflow_b1.json")]
    [InlineData("fakeflow-b2", "fakeflow_b2.json")]
    public void StateDictKeysAndShapesEqualOfficialManifest(string arch, string manifest)
    {
        var expected = ReadManifest(manifest);
        using var model = new VosModel(ModelConfig.Parse(arch, 512));
        var ours = model.state_dict();
        Assert.Equal(expected.Select(e => e.Key).OrderBy(k => k, StringComparer.Ordinal),
                     ours.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (key, shape, dtype) in expected)
        {
            Assert.True(shape.SequenceEqual(ours[key].shape), $"{key}: manifest ({string.Join(",", shape)}) vs ours ({string.Join(",", ours[key].shape)})");
            Assert.Equal("float32", dtype);
        }
    }

    [Fact]
    public void ResolutionSetsTokenGridAndPosEmbed()
    {
        using var model = new VosModel(ModelConfig.Parse("cmtm-b0", 128));
        Assert.Equal(new long[] { 1, 64, 160 }, model.state_dict()["vos.modulator.pos_embed"].shape);
        Assert.Throws<CmtmException>(() => ModelConfig.Parse("cmtm-b0", 100));
    }
}
