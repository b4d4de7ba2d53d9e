using System.Text.Json;
using Cmtm.IO;
using Cmtm.IO.Checkpoints;
using Cmtm.Tests.Model;
using Cmtm.Tests.Support;
using static TorchSharp.torch;

namespace Cmtm.Tests.Cli;

/// <summary>`cmtm predict` on the PNG fixtures (README section H) reproduces the official logits and mask.</summary>
[Collection("Console")]
public class PredictCommandTests
{
    private static string M(string name) => Shared.Fixture("model", name);

    private static void AssertMaskPng(string expectedPng, string ourPng, string marginNpy)
    {
        var expected = PngMask.Read(expectedPng);
        var ours = PngMask.Read(ourPng);
        Assert.Equal((expected.Width, expected.Height), (ours.Width, ours.Height));
        using var margin = Npy.Load(marginNpy);
        var m = margin.data<float>().ToArray();
        int compared = 0;
        for (int i = 0; i < m.Length; i++)
        {
            if (m[i] <= 1e-4f) continue; // README: compare only where the reference margin exceeds 1e-4
            compared++;
            Assert.True(expected.Data[i] == ours.Data[i], $"mask pixel {i} differs (margin {m[i]})");
        }
        Assert.True(compared > 15000);
    }

    [Fact]
    public void CmtmPredictReproducesLogitsAndMask()
    {
        using var dir = new Shared.TempDir();
        var (code, stdout, stderr) = CliHarness.Run("predict", "--weights", M("cmtm_b0_r128.pth"), "--arch", "cmtm-b0",
            "--resolution", "128", "--image", M("cmtm_b0_r128_png_img.png"), "--flow", M("cmtm_b0_r128_png_flow.png"),
            "--out", dir.File("mask.png"), "--logits", dir.File("logits.npy"));
        Assert.True(code == 0, stderr);
        Assert.Contains("cmtm-b0", stdout);
        using var expected = Npy.Load(M("cmtm_b0_r128_png_out_logits.npy"));
        using var ours = Npy.Load(dir.File("logits.npy"));
        ParityTests.AssertClose(expected[0], ours, 1e-4, "predict logits");
        AssertMaskPng(M("cmtm_b0_r128_png_out_mask.png"), dir.File("mask.png"), M("cmtm_b0_r128_png_margin.npy"));
    }

    /// <summary>`cmtm predict` of the FakeFlow PNG fixtures with the FakeFlow keys of the fixture checkpoint written as
    /// safetensors (README section H); writes dir/mask.png and dir/logits.npy.</summary>
    internal static (int Code, string Out, string Err) RunFakeFlowPredict(Shared.TempDir dir, params string[] extra)
    {
        var keys = JsonSerializer.Deserialize<string[]>(File.ReadAllText(M("fakeflow_b0_r128_keys.json")))!;
        using (var full = CheckpointReader.Load(M("cmtm_b0_r128.pth")))
            SafeTensors.Write(dir.File("fakeflow.safetensors"), keys.Select(k => (k, full[k])));
        return CliHarness.Run(["predict", "--weights", dir.File("fakeflow.safetensors"), "--arch", "fakeflow-b0",
            "--resolution", "128", "--image", M("fakeflow_b0_r128_png_img.png"), "--flow", M("fakeflow_b0_r128_png_flow.png"),
            "--out", dir.File("mask.png"), "--logits", dir.File("logits.npy"), .. extra]);
    }

    [Fact]
    public void FakeFlowPredictFromRestrictedSafetensors()
    {
        using var dir = new Shared.TempDir();
        var (code, _, stderr) = RunFakeFlowPredict(dir);
        Assert.True(code == 0, stderr);
        using var expected = Npy.Load(M("fakeflow_b0_r128_png_out_logits.npy"));
        using var ours = Npy.Load(dir.File("logits.npy"));
        ParityTests.AssertClose(expected[0], ours, 1e-4, "fakeflow predict logits");
        AssertMaskPng(M("fakeflow_b0_r128_png_out_mask.png"), dir.File("mask.png"), M("fakeflow_b0_r128_png_margin.npy"));
    }

    [Fact]
    public void WrongArchIsANamedErrorAndWritesNothing()
    {
        using var dir = new Shared.TempDir();
        var (code, _, stderr) = CliHarness.Run("predict", "--weights", M("cmtm_b0_r128.pth"), "--arch", "fakeflow-b2",
            "--image", M("cmtm_b0_r128_png_img.png"), "--flow", M("cmtm_b0_r128_png_flow.png"), "--out", dir.File("mask.png"));
        Assert.Equal(2, code);
        Assert.Contains("cmtm_b0_r128.pth", stderr);
        Assert.Contains("cmtm-b0", stderr);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void WithoutWeightsTheShippedModelRunsAndAMissingImageIsANamedError()
    {
        using var dir = new Shared.TempDir();
        // no --weights: the committed model (models/) runs and says so (a missing model: ShippedModelCliTests)
        var (code, _, stderr) = CliHarness.Run("predict", "--image", M("cmtm_b0_r128_png_img.png"),
            "--flow", M("cmtm_b0_r128_png_flow.png"), "--out", dir.File("shipped.png"));
        Assert.Equal(0, code);
        Assert.Contains("using the shipped model", stderr);
        Assert.True(File.Exists(dir.File("shipped.png")));
        File.Delete(dir.File("shipped.png"));
        (code, _, stderr) = CliHarness.Run("predict", "--weights", M("cmtm_b0_r128.pth"), "--image", dir.File("nope.png"),
            "--flow", M("cmtm_b0_r128_png_flow.png"), "--out", dir.File("mask.png"));
        Assert.Equal(2, code);
        Assert.Contains("nope.png", stderr);
        Assert.Contains("not found", stderr);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void GrayscaleInputIsConvertedWithANote()
    {
        using var dir = new Shared.TempDir();
        var rgb = RgbImage.Load(M("cmtm_b0_r128_png_img.png"));
        var gray = new byte[rgb.Width * rgb.Height];
        for (int i = 0; i < gray.Length; i++) gray[i] = rgb.Pixels[3 * i + 1];
        PngCodec.WriteGray8(dir.File("gray.png"), rgb.Width, rgb.Height, gray);
        var (code, _, stderr) = CliHarness.Run("predict", "--weights", M("cmtm_b0_r128.pth"), "--image", dir.File("gray.png"),
            "--flow", M("cmtm_b0_r128_png_flow.png"), "--out", dir.File("mask.png"));
        Assert.Equal(0, code);
        Assert.Contains("grayscale converted to RGB", stderr);
        Assert.True(File.Exists(dir.File("mask.png")));
    }
}
