using Cmtm.IO.Checkpoints;
using static TorchSharp.torch;

namespace Cmtm.Tests.IO.Checkpoints;

public class MitKeyMappingTests
{
    private const string Backbone = "vos.app_encoder.backbone.";

    private static StateDict FromManifest(string name, Func<string, string>? rename = null)
    {
        var sd = new StateDict { Source = name };
        using var g = manual_seed(7);
        foreach (var (key, shape, _) in PthFixtureTests.Manifest(name))
            sd.Add(rename?.Invoke(key) ?? key, randn(shape));
        return sd;
    }

    /// <summary>Encoder part of a CMTM manifest with the backbone prefix stripped (mean/std are not backbone keys).</summary>
    private static List<(string Key, long[] Shape)> ExpectedEncoder(string cmtmManifest) =>
        PthFixtureTests.Manifest(cmtmManifest)
            .Where(m => m.Key.StartsWith(Backbone))
            .Select(m => (m.Key[Backbone.Length..], m.Shape)).ToList();

    [Theory]
    [InlineData("mit_b0_nvlabs.json", "cmtm_b0.json")]
    [InlineData("mit_b2_nvlabs.json", "cmtm_b2.json")]
    public void NvlabsMapsOntoTheHfEncoderLayout(string nvlabs, string cmtm)
    {
        using var nv = FromManifest(nvlabs);
        Assert.True(MitKeyMapping.IsNvlabs(nv));
        using var hf = MitKeyMapping.FromNvlabs(nv);
        var expected = ExpectedEncoder(cmtm);
        Assert.Equal(expected.Select(e => e.Key), hf.Keys); // same names, in HF named_parameters() order
        foreach (var (k, shape) in expected) Assert.Equal(shape, hf[k].shape);
        Assert.All(hf.Keys, k => Assert.StartsWith(MitKeyMapping.EncoderPrefix, k));

        // kv rows [0, C) -> key, [C, 2C) -> value, weights and biases; other tensors are copied unchanged.
        foreach (var stage in new[] { 1, 4 })
        {
            var kvW = nv[$"block{stage}.0.attn.kv.weight"];
            var kvB = nv[$"block{stage}.0.attn.kv.bias"];
            long c = kvW.shape[1];
            var p = $"encoder.block.{stage - 1}.0.attention.self.";
            Assert.True(hf[p + "key.weight"].equal(kvW[..(int)c]).all().item<bool>());
            Assert.True(hf[p + "value.weight"].equal(kvW[(int)c..]).all().item<bool>());
            Assert.True(hf[p + "key.bias"].equal(kvB[..(int)c]).all().item<bool>());
            Assert.True(hf[p + "value.bias"].equal(kvB[(int)c..]).all().item<bool>());
        }
        Assert.True(hf["encoder.layer_norm.3.bias"].equal(nv["norm4.bias"]).all().item<bool>());
        Assert.True(hf["encoder.block.1.1.mlp.dense2.weight"].equal(nv["block2.1.mlp.fc2.weight"]).all().item<bool>());
        Assert.True(hf["encoder.patch_embeddings.0.layer_norm.weight"].equal(nv["patch_embed1.norm.weight"]).all().item<bool>());

        // The result owns copies: disposing the input leaves it intact.
        nv.Dispose();
        Assert.Equal(expected.Count, hf.Count);
        Assert.True(hf["encoder.layer_norm.0.weight"].isfinite().all().item<bool>());

        using var prefixed = MitKeyMapping.WithPrefix(MitKeyMapping.ToEncoder(hf), Backbone);
        Assert.Equal(expected.Select(e => Backbone + e.Key), prefixed.Keys);
    }

    [Fact]
    public void NvlabsUnknownKeyIsNamed()
    {
        using var nv = FromManifest("mit_b0_nvlabs.json");
        nv.Add("block1.0.attn.qkv.weight", zeros(3, 3));
        var e = Assert.Throws<CheckpointFormatException>(() => MitKeyMapping.FromNvlabs(nv));
        Assert.Contains("unknown key 'block1.0.attn.qkv.weight'", e.Message);
    }

    [Fact]
    public void HuggingFaceHubNamesAreStrippedAndHeadsDropped()
    {
        var expected = ExpectedEncoder("cmtm_b0.json");
        using var hub = new StateDict { Source = "hub" };
        foreach (var (k, s) in expected) hub.Add("segformer." + k, ones(s));
        hub.Add("classifier.weight", zeros(1000, 256));
        hub.Add("classifier.bias", zeros(1000));
        using var mapped = MitKeyMapping.ToEncoder(hub);
        Assert.Equal(expected.Select(e => e.Key), mapped.Keys);

        using var already = MitKeyMapping.FromHuggingFace(mapped); // keys already starting with encoder.
        Assert.Equal(expected.Select(e => e.Key), already.Keys);

        hub.Add("segformer.encoder.block.0.0.attention.self.qkv.weight", zeros(2));
        Assert.Contains("unknown key 'segformer.encoder.block.0.0.attention.self.qkv.weight'",
            Assert.Throws<CheckpointFormatException>(() => MitKeyMapping.FromHuggingFace(hub)).Message);
    }
}
