using Cmtm.Evaluation;
using Cmtm.IO.Checkpoints;
using Cmtm.Model;
using Cmtm.Tests.Support;
using static TorchSharp.torch;

namespace Cmtm.Tests.Model;

public class CheckpointStorageTests
{
    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void HalfStorageHalvesTheFileAndLoadsTheRoundedWeights(ScalarType storage)
    {
        using var d = new Shared.TempDir();
        using var model = BaselineReport.UntrainedModel(ModelConfig.Parse("cmtm-b0", 64), 3);
        string full = Path.Combine(d.Path, "full.safetensors"), half = Path.Combine(d.Path, "half.safetensors");
        ModelCheckpoint.Save(full, model);
        ModelCheckpoint.Save(half, model, storage: storage);
        Assert.InRange(new FileInfo(half).Length, new FileInfo(full).Length * 0.45, new FileInfo(full).Length * 0.55);
        var (sd, cfg) = ModelCheckpoint.Read(half);
        using (sd)
        {
            Assert.Equal(model.Config, cfg);
            Assert.All(sd.Items.Where(kv => kv.Value.is_floating_point()), kv => Assert.Equal(storage, kv.Value.dtype));
        }
        using var loaded = ModelCheckpoint.Load(half);
        var ours = model.state_dict();
        foreach (var (k, v) in loaded.state_dict())
        {
            Assert.Equal(ScalarType.Float32, v.dtype);
            using var expected = ours[k].to_type(storage).to_type(ScalarType.Float32);
            Assert.True(expected.allclose(v, rtol: 0, atol: 0), $"{k} is not the {storage}-rounded weight");
        }
    }
}
