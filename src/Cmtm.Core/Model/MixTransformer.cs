using Cmtm.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Cmtm.Model;

// Mix Transformer (SegFormer) encoder. Module and parameter names equal HuggingFace's SegformerModel
// (`encoder.patch_embeddings.0.proj.weight`, `encoder.block.2.1.attention.self.query.weight`, ...), which is
// what the official CMTM / FakeFlow checkpoints hold under `vos.app_encoder.backbone.` / `vos.mo_encoder.backbone.`.
// Every LayerNorm uses eps 1e-5 (HF creates them with the default).

/// <summary>Overlapping patch embedding: strided conv, flatten to tokens, LayerNorm.</summary>
public sealed class OverlapPatchEmbed : Module<Tensor, Tensor>
{
    private readonly Conv2d proj;
    private readonly LayerNorm layer_norm;

    public OverlapPatchEmbed(int inChannels, int dim, int patch, int stride) : base(nameof(OverlapPatchEmbed))
    {
        proj = Conv2d(inChannels, dim, patch, stride: stride, padding: patch / 2);
        layer_norm = LayerNorm(dim);
        register_module("proj", proj);
        register_module("layer_norm", layer_norm);
    }

    /// <summary>(B,Cin,H,W) -> (B,C,H',W') feature map (the caller flattens).</summary>
    public override Tensor forward(Tensor x) => proj.forward(x);

    public Tensor Norm(Tensor tokens) => layer_norm.forward(tokens);
}

/// <summary>Efficient self-attention: keys/values from a spatially reduced (conv stride sr + LayerNorm) token grid.</summary>
public sealed class EfficientSelfAttention : Module<Tensor, Tensor>
{
    private readonly Linear query, key, value;
    private readonly Conv2d? sr;
    private readonly LayerNorm? layer_norm;
    private readonly int heads, srRatio;
    public int H { get; set; }
    public int W { get; set; }

    public EfficientSelfAttention(int dim, int heads, int srRatio) : base(nameof(EfficientSelfAttention))
    {
        this.heads = heads;
        this.srRatio = srRatio;
        query = Linear(dim, dim);
        key = Linear(dim, dim);
        value = Linear(dim, dim);
        register_module("query", query);
        register_module("key", key);
        register_module("value", value);
        if (srRatio > 1)
        {
            sr = Conv2d(dim, dim, srRatio, stride: srRatio);
            layer_norm = LayerNorm(dim);
            register_module("sr", sr);
            register_module("layer_norm", layer_norm);
        }
    }

    /// <summary>
    /// The spatial-reduction conv (kernel = stride = r) on tokens (B,H*W,C) as one matrix product over non-overlapping
    /// r x r patches: same arithmetic as the conv, without the NCHW round trip (oneDNN is slow on it here).
    /// </summary>
    internal static Tensor SpatialReduce(Tensor x, Conv2d conv, int h, int w, int r)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[2];
        var patches = x.view(b, h / r, r, w / r, r, c).permute(0, 1, 3, 2, 4, 5).reshape(b, (h / r) * (w / r), r * r * c);
        var weight = conv.weight!.permute(0, 2, 3, 1).reshape(conv.weight!.shape[0], r * r * c);
        return functional.linear(patches, weight, conv.bias).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], n = x.shape[1], c = x.shape[2], d = c / heads;
        using var q = query.forward(x).view(b, n, heads, d).transpose(1, 2);
        Tensor kvIn = x;
        if (sr != null)
        {
            using var flat = SpatialReduce(x, sr, H, W, srRatio);
            kvIn = layer_norm!.forward(flat);
        }
        long m = kvIn.shape[1];
        using var k = key.forward(kvIn).view(b, m, heads, d).transpose(1, 2);
        using var v = value.forward(kvIn).view(b, m, heads, d).transpose(1, 2);
        if (!ReferenceEquals(kvIn, x)) kvIn.Dispose();
        using var ctx = functional.scaled_dot_product_attention(q, k, v);
        return ctx.transpose(1, 2).reshape(b, n, c);
    }
}

/// <summary>HF `SegformerAttention`: children `self` (efficient attention) and `output.dense`.</summary>
public sealed class MitAttention : Module<Tensor, Tensor>
{
    private readonly EfficientSelfAttention self;
    private readonly SelfOutput output;

    public MitAttention(int dim, int heads, int srRatio) : base(nameof(MitAttention))
    {
        self = new EfficientSelfAttention(dim, heads, srRatio);
        output = new SelfOutput(dim);
        register_module("self", self);
        register_module("output", output);
    }

    public Tensor Forward(Tensor x, int h, int w)
    {
        self.H = h; self.W = w;
        using var a = self.forward(x);
        return output.forward(a);
    }

    public override Tensor forward(Tensor x) => throw new InvalidOperationException("use Forward(x, h, w)");

    private sealed class SelfOutput : Module<Tensor, Tensor>
    {
        private readonly Linear dense;
        public SelfOutput(int dim) : base("SegformerSelfOutput") { dense = Linear(dim, dim); register_module("dense", dense); }
        public override Tensor forward(Tensor x) => dense.forward(x);
    }
}

/// <summary>Mix-FFN: Linear -> depthwise 3x3 conv on the token grid -> GELU (erf) -> Linear.</summary>
public sealed class MixFfn : Module<Tensor, Tensor>
{
    private readonly Linear dense1, dense2;
    private readonly DwConv dwconv;

    public MixFfn(int dim, int hidden) : base(nameof(MixFfn))
    {
        dense1 = Linear(dim, hidden);
        dwconv = new DwConv(hidden);
        dense2 = Linear(hidden, dim);
        register_module("dense1", dense1);
        register_module("dwconv", dwconv);
        register_module("dense2", dense2);
    }

    public Tensor Forward(Tensor x, int h, int w)
    {
        using var a = dense1.forward(x);
        using var conv = dwconv.ForwardTokens(a, h, w);
        using var act = functional.gelu(conv);
        return dense2.forward(act);
    }

    public override Tensor forward(Tensor x) => throw new InvalidOperationException("use Forward(x, h, w)");

    private sealed class DwConv : Module<Tensor, Tensor>
    {
        private readonly Conv2d dwconv;
        public DwConv(int dim) : base("SegformerDWConv") { dwconv = Conv2d(dim, dim, 3, padding: 1, groups: dim); register_module("dwconv", dwconv); }
        public override Tensor forward(Tensor x) => dwconv.forward(x);

        public Tensor ForwardTokens(Tensor tokens, int h, int w) => TokenDepthwiseConv.Forward(tokens, dwconv.weight!, dwconv.bias!, h, w);
    }
}

/// <summary>
/// The Mix-FFN's depthwise 3x3 conv (padding 1) applied directly to tokens (B,H*W,C), which are the channels-last
/// (NHWC) layout of the H x W grid, so no transpose is needed either way. Two implementations of the same conv:
/// <list type="bullet">
/// <item><see cref="OnNhwcView"/> (inference, no gradient): one conv2d on the NHWC view; libtorch runs oneDNN's
/// channels-last depthwise kernel and returns a channels-last result, which is again the token layout (measured ~10x
/// faster than the NCHW conv with its two transposes, and than the shifted sum);</item>
/// <item><see cref="ShiftedSum"/> (training): bias + the sum of 9 shifted, per-channel-weighted views, whose backward is
/// plain element-wise arithmetic (libtorch's CPU conv backward without oneDNN, which training needs, runs a grouped conv
/// as one small conv per channel).</item>
/// </list>
/// Both equal the NCHW conv (tested).
/// </summary>
public static class TokenDepthwiseConv
{
    public static Tensor Forward(Tensor tokens, Tensor weight, Tensor bias, int h, int w) =>
        NoGradient.For(tokens, weight)
            ? OnNhwcView(tokens, weight, bias, h, w)
            : ShiftedSum(tokens, weight, bias, h, w);

    public static Tensor OnNhwcView(Tensor tokens, Tensor weight, Tensor bias, int h, int w)
    {
        long b = tokens.shape[0], c = tokens.shape[2];
        using var nhwc = tokens.view(b, h, w, c).permute(0, 3, 1, 2);
        using var y = functional.conv2d(nhwc, weight, bias, padding: new long[] { 1, 1 }, groups: c);
        using var tok = y.permute(0, 2, 3, 1);
        return tok.reshape(b, (long)h * w, c);
    }

    public static Tensor ShiftedSum(Tensor tokens, Tensor weight, Tensor bias, int h, int w)
    {
        using var scope = NewDisposeScope();
        long b = tokens.shape[0], c = tokens.shape[2];
        var padded = functional.pad(tokens.view(b, h, w, c), new long[] { 0, 0, 1, 1, 1, 1 });
        var taps = weight.view(c, 9).t();
        var acc = bias.expand(b, h, w, c).clone();
        for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++)
                acc = acc.addcmul_(padded.narrow(1, dy, h).narrow(2, dx, w), taps[dy * 3 + dx], Scalars.Int1);
        return acc.view(b, (long)h * w, c).MoveToOuterDisposeScope();
    }
}

/// <summary>Per-sample stochastic depth (HF/timm semantics), active only in training mode.</summary>
public sealed class DropPath : Module<Tensor, Tensor>
{
    public double Rate { get; }
    public DropPath(double rate) : base(nameof(DropPath)) => Rate = rate;

    public override Tensor forward(Tensor x)
    {
        if (Rate <= 0 || !training) return x.alias();
        double keep = 1 - Rate;
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[0] = x.shape[0];
        using var keepScalar = keep.ToScalar();
        using var r = rand(shape, dtype: x.dtype, device: x.device).add_(keepScalar, Scalars.Int1).floor_();
        return x.div(keepScalar).mul_(r);
    }
}

/// <summary>Pre-norm transformer block of the MiT encoder (HF `SegformerLayer`).</summary>
public sealed class MitBlock : Module<Tensor, Tensor>
{
    private readonly LayerNorm layer_norm_1, layer_norm_2;
    private readonly MitAttention attention;
    private readonly MixFfn mlp;
    private readonly DropPath drop_path;

    public MitBlock(int dim, int heads, int srRatio, int mlpRatio, double dropPath) : base(nameof(MitBlock))
    {
        layer_norm_1 = LayerNorm(dim);
        attention = new MitAttention(dim, heads, srRatio);
        drop_path = new DropPath(dropPath);
        layer_norm_2 = LayerNorm(dim);
        mlp = new MixFfn(dim, dim * mlpRatio);
        register_module("layer_norm_1", layer_norm_1);
        register_module("attention", attention);
        register_module("drop_path", drop_path);
        register_module("layer_norm_2", layer_norm_2);
        register_module("mlp", mlp);
    }

    /// <summary>One scope per block: every temporary of the attention and the Mix-FFN (some are unnamed intermediates
    /// of chained calls) is freed when the block returns, not at the end of the frame.</summary>
    public Tensor Forward(Tensor x, int h, int w)
    {
        using var scope = NewDisposeScope();
        var y = drop_path.forward(attention.Forward(layer_norm_1.forward(x), h, w)).add_(x, Scalars.Int1);
        return drop_path.forward(mlp.Forward(layer_norm_2.forward(y), h, w)).add_(y, Scalars.Int1).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor x) => throw new InvalidOperationException("use Forward(x, h, w)");
}

/// <summary>
/// The MiT encoder proper (HF `SegformerEncoder`): returns the four stage outputs (B,C,H,W), post stage-norm, in
/// channels-last memory layout (call .contiguous() for NCHW memory).
/// </summary>
public sealed class MitEncoder : Module<Tensor, Tensor[]>
{
    private readonly ModuleList<OverlapPatchEmbed> patch_embeddings = new();
    private readonly ModuleList<ModuleList<MitBlock>> block = new();
    private readonly ModuleList<LayerNorm> layer_norm = new();
    public MitConfig Config { get; }

    public MitEncoder(MitConfig cfg, double dropPathRate) : base(nameof(MitEncoder))
    {
        Config = cfg;
        int total = cfg.Depths.Sum(), k = 0;
        for (int i = 0; i < 4; i++)
        {
            patch_embeddings.Add(new OverlapPatchEmbed(i == 0 ? 3 : cfg.Dims[i - 1], cfg.Dims[i], MitConfig.PatchSizes[i], MitConfig.Strides[i]));
            var blocks = new ModuleList<MitBlock>();
            for (int j = 0; j < cfg.Depths[i]; j++, k++)
            {
                // torch.linspace(0, rate, total) in float32, as HF computes the decays
                double rate = total > 1 ? (float)(dropPathRate * k / (total - 1)) : 0;
                blocks.Add(new MitBlock(cfg.Dims[i], cfg.Heads[i], cfg.SrRatios[i], cfg.MlpRatio, rate));
            }
            block.Add(blocks);
            layer_norm.Add(LayerNorm(cfg.Dims[i]));
        }
        register_module("patch_embeddings", patch_embeddings);
        register_module("block", block);
        register_module("layer_norm", layer_norm);
    }

    public override Tensor[] forward(Tensor x)
    {
        var outputs = new Tensor[4];
        Tensor current = x;
        for (int i = 0; i < 4; i++)
        {
            Tensor tokens;
            int h, w;
            using (var map = patch_embeddings[i].forward(current))
            {
                h = (int)map.shape[2]; w = (int)map.shape[3];
                using var flat = map.flatten(2).transpose(1, 2);
                tokens = patch_embeddings[i].Norm(flat);
            }
            foreach (var blk in block[i])
            {
                var next = blk.Forward(tokens, h, w);
                tokens.Dispose();
                tokens = next;
            }
            // the stage output as a (B,C,H,W) view of the token memory, i.e. channels-last strides, no copy: the next
            // patch embedding (oneDNN conv) and the decoder take channels-last input, and flattening it back to tokens
            // is again free
            using (tokens)
            using (var normed = layer_norm[i].forward(tokens))
                outputs[i] = normed.view(normed.shape[0], h, w, normed.shape[2]).permute(0, 3, 1, 2);
            current = outputs[i];
        }
        return outputs;
    }
}

/// <summary>HF `SegformerModel` wrapper: a single child named `encoder`.</summary>
public sealed class SegformerBackbone : Module<Tensor, Tensor[]>
{
    private readonly MitEncoder encoder;
    public SegformerBackbone(MitConfig cfg, double dropPathRate) : base(nameof(SegformerBackbone))
    {
        encoder = new MitEncoder(cfg, dropPathRate);
        register_module("encoder", encoder);
    }
    public override Tensor[] forward(Tensor x) => encoder.forward(x);
}

/// <summary>
/// One stream's encoder as in the official code: ImageNet normalisation (buffers `mean`, `std`, (1,3,1,1)) then
/// the MiT backbone; returns the stride 4/8/16/32 feature maps.
/// </summary>
public sealed class StreamEncoder : Module<Tensor, Tensor[]>
{
    private readonly SegformerBackbone backbone;

    public StreamEncoder(MitConfig cfg, double dropPathRate) : base(nameof(StreamEncoder))
    {
        using (var mean = tensor(new float[] { 0.485f, 0.456f, 0.406f })) register_buffer("mean", mean.view(1, 3, 1, 1));
        using (var std = tensor(new float[] { 0.229f, 0.224f, 0.225f })) register_buffer("std", std.view(1, 3, 1, 1));
        backbone = new SegformerBackbone(cfg, dropPathRate);
        register_module("backbone", backbone);
    }

    /// <summary>x: (B,3,H,W) RGB in [0,1].</summary>
    public override Tensor[] forward(Tensor x)
    {
        using var normalized = x.sub(get_buffer("mean")!).div_(get_buffer("std")!);
        return backbone.forward(normalized);
    }
}
