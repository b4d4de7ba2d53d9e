using System.Text.Json;
using Cmtm.Flow.Raft;
using Cmtm.Tests.Support;
using static TorchSharp.torch;

namespace Cmtm.Tests.Flow;

public class RaftStructureTests
{
    [Fact]
    public void ParameterNamesAndShapesEqualTheOfficialManifest()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Shared.Fixture("manifests", "raft_large.json")));
        var expected = doc.RootElement.EnumerateArray()
            .Select(e => (Key: e[0].GetString()!, Shape: e[1].EnumerateArray().Select(x => x.GetInt64()).ToArray()))
            .ToList();
        Assert.Equal(179, expected.Count);
        Assert.All(expected, e => Assert.StartsWith("module.", e.Key));

        using var model = new RaftModel();
        var sd = model.state_dict();
        var want = expected.ToDictionary(e => e.Key["module.".Length..], e => e.Shape);
        var missing = want.Keys.Where(k => !sd.ContainsKey(k)).ToList();
        var extra = sd.Keys.Where(k => !want.ContainsKey(k)).ToList();
        Assert.True(missing.Count == 0, "missing in model: " + string.Join(", ", missing));
        Assert.True(extra.Count == 0, "not in checkpoint: " + string.Join(", ", extra));
        foreach (var (k, shape) in want)
            Assert.True(sd[k].shape.SequenceEqual(shape), $"{k}: model ({string.Join(",", sd[k].shape)}) vs manifest ({string.Join(",", shape)})");
        // 5257536 parameters (flow_meta.json; PyTorch counts the shared norm3 == downsample.1 once)
        Assert.Equal(5257536L, model.named_parameters().Where(p => !p.name.Contains(".norm3.")).Sum(p => p.parameter.numel()));
    }

    [Fact]
    public void TooSmallInputIsAClearError()
    {
        using var model = new RaftModel();
        model.eval();
        using var img = zeros(1, 3, 120, 160);
        var e = Assert.Throws<CmtmException>(() => model.Forward(img, img, iters: 1));
        Assert.Contains("too small", e.Message);
    }

    [Fact]
    public void PadderMatchesInputPadderSintelMode()
    {
        // utils.py InputPadder: pad_ht = (((ht // 8) + 1) * 8 - ht) % 8, split floor/ceil (sintel mode)
        var p = new RaftPadder(436, 1024);
        Assert.Equal((2, 2, 0, 0), (p.Top, p.Bottom, p.Left, p.Right));
        p = new RaftPadder(480, 854);
        Assert.Equal((0, 0, 1, 1), (p.Top, p.Bottom, p.Left, p.Right));
        p = new RaftPadder(123, 131);
        Assert.Equal((2, 3, 2, 3), (p.Top, p.Bottom, p.Left, p.Right));
        using var x = arange(123 * 131, dtype: ScalarType.Float32).view(1, 1, 123, 131);
        using var padded = p.Pad(x);
        Assert.Equal(new long[] { 1, 1, 128, 136 }, padded.shape);
        Assert.Equal(x[0, 0, 0, 0].item<float>(), padded[0, 0, 0, 0].item<float>()); // replicate
        using var back = p.Unpad(padded);
        Assert.True(back.equal(x).all().item<bool>());
    }
}
