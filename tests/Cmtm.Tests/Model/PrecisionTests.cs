using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;
using static TorchSharp.torch;

namespace Cmtm.Tests.Model;

/// <summary>
/// bf16 inference (`--precision bf16`) against the official fp32 outputs. bf16 keeps 8 significant bits (unit roundoff
/// 2^-9 = 0.2 %); weights and activations are rounded at every one of the ~60 layers, so the logits move by a few
/// per cent of their range (measured here: 1.1 % (CMTM-b0) and 1.2 % (FakeFlow-b0) of max |logit| for these random-weight
/// fixtures, 98.8-98.9 % of the pixels with the same class). Tolerance: 5 % of max |logit|, and at least 97 % of the
/// pixels with the same class. The fixtures' random weights give logits
/// with many near-zero margins, so the pixel agreement is a lower bound of what a trained model shows.
/// </summary>
[Collection("Console")]
public class PrecisionTests
{
    private static string M(string name) => Shared.Fixture("model", name);

    private static (double MaxDiff, double MaxLogit, double Agreement) Compare(Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(ScalarType.Float32, actual.dtype);
        Assert.True(expected.shape.SequenceEqual(actual.shape));
        double maxDiff = (expected - actual).abs().max().item<float>();
        double maxLogit = expected.abs().max().item<float>();
        double agree = expected.argmax(1).eq(actual.argmax(1)).to_type(ScalarType.Float64).mean().item<double>();
        return (maxDiff, maxLogit, agree);
    }

    private static void AssertBf16Close(Tensor expected, Tensor actual, string what)
    {
        var (d, m, a) = Compare(expected, actual);
        Assert.True(d <= 0.05 * m, $"{what}: max |logit diff| {d:g3} > 5% of max |logit| {m:g3}");
        Assert.True(d > 0, $"{what}: bf16 logits equal fp32 exactly, so bf16 did not run");
        Assert.True(a >= 0.97, $"{what}: only {a:P2} of the pixels keep their class");
    }

    [Fact]
    public void CmtmBf16LogitsStayCloseToTheOfficialLogits()
    {
        using var model = ModelCheckpoint.Load(M("cmtm_b0_r128.pth")).UsePrecision(Precision.Bf16);
        Assert.Equal(Precision.Bf16, model.Precision);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var img = Npy.Load(M("cmtm_b0_r128_in_img.npy"));
        using var flow = Npy.Load(M("cmtm_b0_r128_in_flow.npy"));
        using var expected = Npy.Load(M("cmtm_b0_r128_out_logits.npy"));
        using var _ = inference_mode();
        using var logits = model.forward(img, flow);
        AssertBf16Close(expected, logits, "cmtm-b0 bf16");
    }

    [Fact]
    public void PredictCommandRunsBf16()
    {
        using var dir = new Shared.TempDir();
        var (code, _, stderr) = PredictCommandTests.RunFakeFlowPredict(dir, "--precision", "bf16");
        Assert.True(code == 0, stderr);
        using var expected = Npy.Load(M("fakeflow_b0_r128_png_out_logits.npy"));
        using var ours = Npy.Load(dir.File("logits.npy"));
        AssertBf16Close(expected, ours.unsqueeze(0), "fakeflow-b0 bf16 (predict)");
        Assert.True(File.Exists(dir.File("mask.png")));
    }

    [Fact]
    public void UnknownPrecisionIsAOneLineErrorBeforeAnythingIsWritten()
    {
        using var dir = new Shared.TempDir();
        var (code, _, stderr) = CliHarness.Run("predict", "--weights", M("cmtm_b0_r128.pth"), "--image", M("cmtm_b0_r128_png_img.png"),
            "--flow", M("cmtm_b0_r128_png_flow.png"), "--out", dir.File("mask.png"), "--precision", "fp16");
        Assert.Equal(2, code);
        Assert.Contains("--precision: unknown precision 'fp16' (expected fp32 or bf16)", stderr);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void VersionSaysWhetherThisCpuHasNativeBf16()
    {
        var (code, stdout, _) = CliHarness.Run("version");
        Assert.Equal(0, code);
        Assert.Contains($"cpu native bf16 (AVX-512-BF16 / AMX, for --precision bf16): {(Precisions.CpuHasNativeBf16 ? "yes" : "no")}", stdout);
    }

    [Fact]
    public void PrecisionNamesParse()
    {
        Assert.Equal(Precision.Fp32, Precisions.Parse(null));
        Assert.Equal(Precision.Bf16, Precisions.Parse(" BF16 "));
        Assert.Equal(Precision.Bf16, Precisions.Parse("bfloat16"));
        Assert.Equal("bf16", Precision.Bf16.Name());
        Assert.Equal(ScalarType.BFloat16, Precision.Bf16.DType());
        Assert.Null(Precisions.SpeedNote(Precision.Fp32, CPU));
        Assert.Equal(Precisions.CpuHasNativeBf16, Precisions.SpeedNote(Precision.Bf16, CPU) == null);
    }
}
