using Cmtm.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Cmtm.Model;

/// <summary>FakeFlow's `Conv`: a conv (child `conv`), optionally followed by ReLU (`ConvRelu`).</summary>
public sealed class ConvUnit : Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly bool relu;
    private readonly int stride, padding;

    public ConvUnit(int cin, int cout, int kernel, int stride, int padding, bool relu) : base(relu ? "ConvRelu" : "Conv")
    {
        this.relu = relu;
        this.stride = stride;
        this.padding = padding;
        conv = Conv2d(cin, cout, kernel, stride: stride, padding: padding);
        register_module("conv", conv);
        using var _ = no_grad();
        init.kaiming_uniform_(conv.weight!);
        init.zeros_(conv.bias!);
    }

    public Tensor Weight => conv.weight!;

    /// <summary>The conv (by <see cref="Winograd"/> in inference where that is faster), then ReLU in place.</summary>
    public override Tensor forward(Tensor x)
    {
        var y = Winograd.Applies(x, conv.weight!, stride, padding, groups: 1) ? Winograd.Conv3x3(x, conv.weight!, conv.bias) : conv.forward(x);
        return relu ? y.relu_() : y;
    }

    public static ConvUnit Conv(int cin, int cout, int k, int s, int p) => new(cin, cout, k, s, p, relu: false);
    public static ConvUnit ConvRelu(int cin, int cout, int k, int s, int p) => new(cin, cout, k, s, p, relu: true);
}

/// <summary>
/// CBAM as in FakeFlow: conv1 (3x3), channel attention with a shared 2-layer 1x1 MLP over avg- and max-pooled
/// features (no reduction), spatial attention from [channel mean, channel max] through 2->16->1 3x3 convs.
/// </summary>
public sealed class Cbam : Module<Tensor, Tensor>
{
    private readonly ConvUnit conv1;
    private readonly Sequential conv2, conv3;

    public Cbam(int c) : base("CBAM")
    {
        conv1 = ConvUnit.Conv(c, c, 3, 1, 1);
        conv2 = Sequential(ConvUnit.ConvRelu(c, c, 1, 1, 0), ConvUnit.Conv(c, c, 1, 1, 0));
        conv3 = Sequential(ConvUnit.ConvRelu(2, 16, 3, 1, 1), ConvUnit.Conv(16, 1, 3, 1, 1));
        register_module("conv1", conv1);
        register_module("conv2", conv2);
        register_module("conv3", conv3);
    }

    /// <summary>In inference the two attention products are taken in place (autograd needs the unscaled features).</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = conv1.forward(input);
        bool inPlace = NoGradient.For(input, conv1.Weight);
        using (var avg = functional.adaptive_avg_pool2d(x, 1))
        using (var max = functional.adaptive_max_pool2d(x, new long[] { 1, 1 }))
        using (var c = conv2.forward(avg).add(conv2.forward(max), Scalars.Int1).sigmoid_())
            x = inPlace ? x.mul_(c) : x * c;
        using var pooled = cat(new[] { x.mean(new long[] { 1 }, keepdim: true), x.max(1, keepdim: true).values }, 1);
        using var s = conv3.forward(pooled).sigmoid_();
        return (inPlace ? x.mul_(s) : x * s).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The FakeFlow decoder (element-wise sum fusion of the two streams at every scale, CBAM refinement,
/// bicubic x2 up-sampling, 2-class predictor, bicubic x4 to the model resolution). With
/// <c>modulated = true</c> (CMTM) it has `app_conv` / `mo_conv` 1x1 convs and takes the modulator's tokens
/// in place of the stride-16 features.
/// </summary>
public sealed class FakeFlowDecoder : Module<Tensor, Tensor>
{
    private readonly ConvUnit conv1, blend1, conv2, blend2, conv3, blend3, conv4, blend4, predictor;
    private readonly Cbam cbam1, cbam2, cbam3, cbam4;
    private readonly ConvUnit? app_conv, mo_conv;

    public FakeFlowDecoder(int[] dims, bool modulated) : base("Decoder")
    {
        conv1 = ConvUnit.ConvRelu(dims[3], 256, 1, 1, 0);
        blend1 = ConvUnit.ConvRelu(256, 256, 3, 1, 1);
        cbam1 = new Cbam(256);
        conv2 = ConvUnit.ConvRelu(dims[2], 256, 1, 1, 0);
        blend2 = ConvUnit.ConvRelu(512, 256, 3, 1, 1);
        cbam2 = new Cbam(256);
        conv3 = ConvUnit.ConvRelu(dims[1], 256, 1, 1, 0);
        blend3 = ConvUnit.ConvRelu(512, 256, 3, 1, 1);
        cbam3 = new Cbam(256);
        conv4 = ConvUnit.ConvRelu(dims[0], 256, 1, 1, 0);
        blend4 = ConvUnit.ConvRelu(512, 256, 3, 1, 1);
        cbam4 = new Cbam(256);
        predictor = ConvUnit.Conv(256, 2, 3, 1, 1);
        register_module("conv1", conv1); register_module("blend1", blend1); register_module("cbam1", cbam1);
        register_module("conv2", conv2); register_module("blend2", blend2); register_module("cbam2", cbam2);
        register_module("conv3", conv3); register_module("blend3", blend3); register_module("cbam3", cbam3);
        register_module("conv4", conv4); register_module("blend4", blend4); register_module("cbam4", cbam4);
        register_module("predictor", predictor);
        if (modulated)
        {
            app_conv = ConvUnit.Conv(dims[2], dims[2], 1, 1, 0);
            mo_conv = ConvUnit.Conv(dims[2], dims[2], 1, 1, 0);
            register_module("app_conv", app_conv);
            register_module("mo_conv", mo_conv);
        }
    }

    /// <summary>Bicubic x<paramref name="factor"/> (align_corners false). In inference the 256-channel maps go through
    /// <see cref="BicubicMatmul"/> (interleaved whole-model runs: bf16 decoder ~8 % faster, float32 unchanged within
    /// noise); the 2-channel logits (where libtorch's kernel is faster) and training use interpolate.</summary>
    public static Tensor Up(Tensor x, int factor)
    {
        long h = x.shape[2] * factor, w = x.shape[3] * factor;
        return x.shape[1] >= 64 && BicubicMatmul.Applies(x)
            ? BicubicMatmul.Resize(x, h, w)
            : functional.interpolate(x, new[] { h, w }, mode: InterpolationMode.Bicubic, align_corners: false);
    }

    /// <summary>
    /// app, mo: the four stage features of each stream. appS16/moS16: the stride-16 inputs of the skip path
    /// (the encoder features for FakeFlow; the modulated token maps for CMTM). Returns (B,2,4*H4,4*W4) logits.
    /// </summary>
    public Tensor Forward(Tensor[] app, Tensor[] mo, Tensor? appS16 = null, Tensor? moS16 = null)
    {
        // every intermediate is disposed as soon as it is consumed: the 128x128x256 maps are 16 MB each per frame
        Tensor x;
        using (var sum = app[3].add(mo[3], Scalars.Int1))
        using (var c1 = conv1.forward(sum))
        using (var b1 = blend1.forward(c1))
            x = cbam1.forward(b1);
        Tensor skip16;
        if (app_conv is null)
            using (var sum = app[2].add(mo[2], Scalars.Int1)) skip16 = conv2.forward(sum);
        else
            using (var a = app_conv.forward(appS16 ?? throw new ArgumentNullException(nameof(appS16))))
            using (var m = mo_conv!.forward(moS16 ?? throw new ArgumentNullException(nameof(moS16))))
            using (var sum = a.add(m, Scalars.Int1))
                skip16 = conv2.forward(sum);
        x = Refine(x, skip16, blend2, cbam2);
        using (var sum = app[1].add(mo[1], Scalars.Int1)) x = Refine(x, conv3.forward(sum), blend3, cbam3);
        using (var sum = app[0].add(mo[0], Scalars.Int1)) x = Refine(x, conv4.forward(sum), blend4, cbam4);
        using (x)
        using (var p = predictor.forward(x))
            return Up(p, 4);
    }

    /// <summary>One decoder level: up-sample the deeper map x2, concatenate after the skip features, blend, CBAM.
    /// Takes ownership of (disposes) <paramref name="deeper"/> and <paramref name="skip"/>.</summary>
    private static Tensor Refine(Tensor deeper, Tensor skip, ConvUnit blend, Cbam cbam)
    {
        Tensor joined;
        using (deeper)
        using (skip)
        using (var up = Up(deeper, 2))
            joined = cat(new[] { skip, up }, 1);
        Tensor blended;
        using (joined) blended = blend.forward(joined);
        using (blended) return cbam.forward(blended);
    }

    public override Tensor forward(Tensor x) => throw new InvalidOperationException("use Forward(app, mo, ...)");
}
