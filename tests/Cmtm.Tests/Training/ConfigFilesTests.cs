using Cmtm.Model;
using Cmtm.Training;

namespace Cmtm.Tests.Training;

/// <summary>Every committed run configuration (configs/*.json) loads and validates: a recipe in the README or the model
/// card that no longer parses fails here, not in a user's two-hour run.</summary>
public class ConfigFilesTests
{
    [Fact]
    public void EveryCommittedConfigLoadsAndValidates()
    {
        var dir = ShippedModel.FindBesideAppOrInRepository("configs", AppContext.BaseDirectory, file: false)
                  ?? throw new DirectoryNotFoundException("configs/ not found above the test's folder");
        var files = Directory.GetFiles(dir, "*.json");
        Assert.Contains(files, f => Path.GetFileName(f) == "davis16-cpu.json");
        Assert.Contains(files, f => Path.GetFileName(f) == "davis16-cpu-stage2.json");
        foreach (var f in files)
        {
            var o = TrainOptions.Load(f);
            o.Validate();
            Assert.NotEmpty(o.Train);
        }
        Assert.Equal("runs/stage1.safetensors", TrainOptions.Load(Path.Combine(dir, "davis16-cpu-stage2.json")).Init);
    }
}
