using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Tests.Support;
using Cmtm.Training;
using static TorchSharp.torch;

namespace Cmtm.Tests.Model;

/// <summary>
/// The official train-step fixture (README section D) through <see cref="TrainStep.Run"/>: CMTM-b0 at 128, DropPath 0,
/// batch 2, masking ratio 0.2 with the fixture's noise, cross-entropy, Adam lr 1e-5.
/// Tolerances (README section 3): scores 1e-4 abs; loss 1e-5; gradients 1e-3 relative to each tensor's max |grad|;
/// after-Adam values 1e-6 abs except entries whose gradient is tiny (|g| &lt; 1e-6 * max), where Adam's normalised step
/// can move by up to 2*lr, compared within 2.1e-5.
/// </summary>
public class TrainStepParityTests
{
    private static readonly string[] Tracked =
    {
        "vos.app_encoder.backbone.encoder.patch_embeddings.0.proj.weight",
        "vos.mo_encoder.backbone.encoder.block.2.1.attention.self.query.weight",
        "vos.mo_encoder.backbone.encoder.block.2.1.attention.self.value.weight",
        "vos.mo_encoder.backbone.encoder.block.0.0.attention.self.sr.weight",
        "vos.modulator.blocks.0.attn.qkv.weight",
        "vos.modulator.mask_token",
        "vos.modulator.app_cls_token",
        "vos.decoder.app_conv.conv.weight",
        "vos.decoder.cbam2.conv3.0.conv.weight",
        "vos.decoder.predictor.conv.weight",
        "vos.decoder.predictor.conv.bias",
    };

    private static Tensor Fx(string name) => Npy.Load(Shared.Fixture("model", name));

    [Fact]
    public void OneOfficialTrainingStepIsReproduced()
    {
        TrainStep.PrepareCpuBackend(CPU);
        var (sd, _) = ModelCheckpoint.Read(Shared.Fixture("model", "cmtm_b0_r128.pth"));
        var cfg = ModelCheckpoint.Detect(sd) with { DropPathRate = 0.0 };
        using var model = new VosModel(cfg);
        using (sd) ModuleLoader.Load(model, sd);
        using var noise = Fx("train_step_noise.npy");
        int calls = 0;
        model.Modulator!.NoiseSource = (b, n, dev) => { calls++; return noise.clone(); };
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        Assert.Equal(501, parameters.Count); // 502 tensors minus the frozen pos_embed (README)
        using var adam = new SafeAdam(parameters, lr: 1e-5);

        using var imgs = Fx("train_step_in_imgs.npy");
        using var flows = Fx("train_step_in_flows.npy");
        using var masks = Fx("train_step_in_masks.npy");
        // capture the scores of this exact step through the model's own forward (as TrainStep.Run does)
        using var scope = NewDisposeScope();
        var images = imgs.view(2, 3, 128, 128); var fl = flows.view(2, 3, 128, 128); var m = masks.view(2, 128, 128);
        var result = TrainStep.Run(model, adam, images, fl, m);
        Assert.Equal(1, calls);
        using var loss = Fx("train_step_loss.npy");
        Assert.True(Math.Abs(loss.item<float>() - result.Loss) < 1e-5, $"loss {result.Loss} vs {loss.item<float>()}");

        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var key in Tracked)
        {
            using var g = Fx($"train_step_grad__{key}.npy");
            var ours = named[key].grad!;
            double maxAbs = g.abs().max().item<float>();
            double diff = (g - ours).abs().max().item<float>();
            Assert.True(diff <= 1e-3 * maxAbs, $"grad {key}: max |diff| {diff:E3} > 1e-3 * {maxAbs:E3}");

            using var after = Fx($"train_step_after_adam__{key}.npy");
            var d = (after - named[key].detach()).abs();
            var tiny = g.abs().lt(1e-6 * maxAbs);
            double strict = d.masked_fill(tiny, 0).max().item<float>();
            double loose = d.max().item<float>();
            Assert.True(strict <= 1e-6, $"after Adam {key}: max |diff| {strict:E3} > 1e-6");
            Assert.True(loose <= 2.1e-5, $"after Adam {key} (tiny-gradient entries): {loose:E3} > 2.1e-5");
        }
    }

    [Fact]
    public void ScoresOfTheTrainingForwardMatch()
    {
        var (sd, _) = ModelCheckpoint.Read(Shared.Fixture("model", "cmtm_b0_r128.pth"));
        using var model = new VosModel(ModelCheckpoint.Detect(sd) with { DropPathRate = 0.0 });
        using (sd) ModuleLoader.Load(model, sd);
        using var noise = Fx("train_step_noise.npy");
        model.Modulator!.NoiseSource = (b, n, dev) => noise.clone();
        model.train();
        using var imgs = Fx("train_step_in_imgs.npy");
        using var flows = Fx("train_step_in_flows.npy");
        using var _ = no_grad();
        using var scores = model.forward(imgs.view(2, 3, 128, 128), flows.view(2, 3, 128, 128));
        using var expected = Fx("train_step_out_scores.npy");
        ParityTests.AssertClose(expected.view(2, 2, 128, 128), scores, 1e-4, "training scores");
    }
}
