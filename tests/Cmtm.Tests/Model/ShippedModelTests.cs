using Cmtm.Model;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Model;

/// <summary>Where the shipped model is looked up: CMTM_MODEL, beside the executable, the repository's models/.</summary>
public class ShippedModelTests
{
    private static string Touch(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, [1, 2, 3]);
        return path;
    }

    [Fact]
    public void EnvironmentVariableWinsAndMustNameAnExistingFile()
    {
        using var d = new Shared.TempDir();
        var app = Directory.CreateDirectory(d.File("repo/.cmtm-build")).FullName;
        Touch(Path.Combine(app, "models", ShippedModel.FileName));
        var mine = Touch(d.File("mine.safetensors"));

        Assert.Equal(new ShippedModel.Location(mine, true), ShippedModel.Locate(mine, app));
        var missing = d.File("nope.safetensors");
        var e = Assert.Throws<CmtmException>(() => ShippedModel.Locate(missing, app));
        Assert.Equal(missing, e.Subject);
        Assert.Contains("CMTM_MODEL names a model file that does not exist", e.Problem);
        // empty = unset
        Assert.False(ShippedModel.Locate("", app).FromEnvironment);
    }

    [Fact]
    public void BesideTheExecutableComesBeforeTheRepositoryFolderFoundByWalkingUp()
    {
        using var d = new Shared.TempDir();
        var app = Directory.CreateDirectory(d.File("repo/src/Cmtm.Cli/bin/Release/net10.0")).FullName;
        var inRepo = Touch(d.File("repo/models/" + ShippedModel.FileName));
        Assert.Equal(new ShippedModel.Location(inRepo, false), ShippedModel.Locate(null, app));
        var beside = Touch(Path.Combine(app, "models", ShippedModel.FileName));
        Assert.Equal(beside, ShippedModel.Locate(null, app).Path);
    }

    [Fact]
    public void NoShippedModelIsOneLineNamingWhatWasLookedForAndTheWayOut()
    {
        using var d = new Shared.TempDir();
        var e = Assert.Throws<CmtmException>(() => ShippedModel.Locate(null, d.Path));
        Assert.Equal(ShippedModel.RepositoryPath, e.Subject);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("no shipped model found", e.Message);
        Assert.Contains("--weights", e.Message);
        Assert.Contains("CMTM_MODEL", e.Message);
    }

    [Fact]
    public void ChoiceSaysWhichModelIsUsedOnlyWhenWeightsAreOmitted()
    {
        using var d = new Shared.TempDir();
        var w = Touch(d.File("w.safetensors"));
        var cfg = ModelConfig.Parse("cmtm-b0", 192);
        Assert.Null(ShippedModel.Choose(w).UsingLine(cfg));
        Assert.Equal($"using the shipped model {ShippedModel.RepositoryPath} (cmtm-b0 at 192 px; see models/README.md); --weights takes any checkpoint",
            ShippedModel.UsingLine(new ShippedModel.Location("/x/" + ShippedModel.FileName, false), cfg));
        Assert.Equal($"using the model {w} from CMTM_MODEL (cmtm-b0 at 192 px); --weights takes any checkpoint",
            ShippedModel.UsingLine(new ShippedModel.Location(w, true), cfg));
    }
}
