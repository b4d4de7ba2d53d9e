using Cmtm.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Cmtm.Model;

/// <summary>
/// Draws the uniform noise that decides which tokens are masked: (batch, count) in [0,1). The default uses
/// torch.rand (global generator, so a fixed seed reproduces a run); tests inject the official fixture's noise.
/// </summary>
public delegate Tensor MaskNoiseSource(long batch, long count, Device device);

/// <summary>The result of one masking draw (kept for inspection and tests).</summary>
public sealed record MaskDraw(Tensor Mask, Tensor IdsRestore) : IDisposable
{
    public void Dispose() { Mask.Dispose(); IdsRestore.Dispose(); }
}

/// <summary>
/// CMTM: Cross-Modal Token Modulation on the stride-16 tokens. Names equal the official state dict
/// (`app_cls_token`, `mo_cls_token`, `mask_token`, `pos_embed`, `blocks.{i}.*`, `norm`, `pred`).
/// Input: appearance and motion tokens (B,T,D); output: modulated tokens (B,2T,D) (appearance first).
/// Token masking happens only in training mode (the official code keys it on batch size != 1).
/// </summary>
public sealed class Modulator : Module<Tensor, Tensor, Tensor>
{
    private readonly ModuleList<ModulatorBlock> blocks = new();
    private readonly LayerNorm norm;
    private readonly Linear pred;
    private readonly ModulatorOptions options;
    private readonly int tokens, dim;

    /// <summary>Noise for the masking draw; replace to replay a fixed noise.</summary>
    public MaskNoiseSource NoiseSource { get; set; } = (b, n, device) => rand(b, n, device: device);

    /// <summary>The last call's masked input sequence (tokens + pos, masked = mask token), only when <see cref="KeepMaskedInput"/>.</summary>
    public Tensor? LastMaskedInput { get; private set; }
    public bool KeepMaskedInput { get; set; }
    /// <summary>The last call's binary mask (B, 2T) float, 1 = masked (null when no masking happened).</summary>
    public Tensor? LastMask { get; private set; }

    public ModulatorOptions Options => options;

    public Modulator(int dim, int tokensPerModality, ModulatorOptions options) : base(nameof(Modulator))
    {
        this.options = options;
        this.dim = dim;
        tokens = tokensPerModality;
        int grid = (int)Math.Round(Math.Sqrt(tokensPerModality));
        if (grid * grid != tokensPerModality) throw new ArgumentException("token count must be a square");

        register_parameter("app_cls_token", new Parameter(init.normal_(zeros(1, 1, dim), 0, 0.02)));
        register_parameter("mo_cls_token", new Parameter(init.normal_(zeros(1, 1, dim), 0, 0.02)));
        register_parameter("mask_token", new Parameter(init.normal_(zeros(1, 1, dim), 0, 0.02)));
        register_parameter("pos_embed", new Parameter(PositionalEmbedding.SinCos2D(dim, grid), requires_grad: false));
        if (options.ModalityEmbedding)
        {
            register_parameter("app_modality_embed", new Parameter(init.normal_(zeros(1, 1, dim), 0, 0.02)));
            register_parameter("mo_modality_embed", new Parameter(init.normal_(zeros(1, 1, dim), 0, 0.02)));
        }
        for (int i = 0; i < options.Depth; i++) blocks.Add(new ModulatorBlock(dim, options.Heads, options.MlpRatio));
        norm = LayerNorm(dim);
        pred = Linear(dim, dim);
        register_module("blocks", blocks);
        register_module("norm", norm);
        register_module("pred", pred);
        ModulatorBlock.XavierInit(pred);
    }

    private Parameter P(string name) => get_parameter(name)!;

    /// <summary>app, mo: (B,T,D). Returns (B,2T,D): modulated appearance tokens then motion tokens.</summary>
    public override Tensor forward(Tensor app, Tensor mo)
    {
        using var scope = NewDisposeScope();
        long b = app.shape[0];
        if (app.shape[1] != tokens || mo.shape[1] != tokens || app.shape[2] != dim)
            throw new ArgumentException($"modulator expects (B,{tokens},{dim}) tokens, got {string.Join("x", app.shape)}");
        var pos = P("pos_embed");
        var appIn = app.add(pos, Scalars.Int1);
        var moIn = mo.add(pos, Scalars.Int1);
        bool useApp = options.Streams != ModulatorStreams.MotionOnly;
        bool useMo = options.Streams != ModulatorStreams.AppearanceOnly;
        Tensor x = useApp && useMo ? cat(new[] { appIn, moIn }, 1) : useApp ? appIn : moIn;

        LastMask?.Dispose(); LastMask = null;
        if (training && options.MaskRatio > 0)
        {
            var mask = DrawMask(b, useApp && useMo, x.device);
            x = where(mask.unsqueeze(-1).to_type(ScalarType.Bool), P("mask_token").to_type(x.dtype), x);
            LastMask = mask.DetachFromDisposeScope();
        }
        if (options.ModalityEmbedding)
        {
            // paper variant: added after masking, so mask tokens still carry their modality
            if (useApp && useMo)
                x = x.add(cat(new[] { P("app_modality_embed").expand(1, tokens, dim), P("mo_modality_embed").expand(1, tokens, dim) }, 1), Scalars.Int1);
            else
                x = x.add(P(useApp ? "app_modality_embed" : "mo_modality_embed"), Scalars.Int1);
        }
        LastMaskedInput?.Dispose(); LastMaskedInput = null;
        if (KeepMaskedInput) LastMaskedInput = VosTrace.Keep(x);

        Tensor seq;
        if (useApp && useMo)
            seq = cat(new[] { P("app_cls_token").expand(b, 1, dim), P("mo_cls_token").expand(b, 1, dim), x }, 1);
        else
            seq = cat(new[] { P(useApp ? "app_cls_token" : "mo_cls_token").expand(b, 1, dim), x }, 1);

        foreach (var blk in blocks) seq = blk.Forward(seq, useApp && useMo ? tokens : -1);
        seq = pred.forward(norm.forward(seq));
        int clsCount = useApp && useMo ? 2 : 1;
        var recon = seq.narrow(1, clsCount, seq.shape[1] - clsCount);
        if (!(useApp && useMo))
        {
            // single-stream ablation: the other modality's tokens pass through unchanged
            recon = useApp ? cat(new[] { recon, mo }, 1) : cat(new[] { app, recon }, 1);
        }
        return recon.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Binary mask (B, n) float32, 1 = masked. Joint mode (official): one draw over all n tokens, keeping
    /// int(n*(1-ratio)) with the smallest noise. Per-modality mode (paper): the same rule applied to each half.
    /// </summary>
    public Tensor DrawMask(long batch, bool twoStreams, Device device)
    {
        long n = twoStreams ? 2L * tokens : tokens;
        if (options.Masking == MaskingMode.Joint || !twoStreams)
            return MaskFromNoise(NoiseSource(batch, n, device), options.MaskRatio);
        using var a = MaskFromNoise(NoiseSource(batch, tokens, device), options.MaskRatio);
        using var m = MaskFromNoise(NoiseSource(batch, tokens, device), options.MaskRatio);
        return cat(new[] { a, m }, 1);
    }

    /// <summary>Official random_masking: ids_shuffle = argsort(noise), keep the first int(N*(1-ratio)), unshuffle.</summary>
    public static Tensor MaskFromNoise(Tensor noise, double ratio)
    {
        using var scope = NewDisposeScope();
        long b = noise.shape[0], n = noise.shape[1];
        long keep = (long)(n * (1 - ratio));
        var idsShuffle = noise.argsort(dim: 1);
        var idsRestore = idsShuffle.argsort(dim: 1);
        var mask = ones(b, n, device: noise.device);
        mask[TensorIndex.Colon, TensorIndex.Slice(0, keep)] = zeros(1, device: noise.device);
        return mask.gather(1, idsRestore).MoveToOuterDisposeScope();
    }
}

/// <summary>Pre-norm transformer block of the modulator (timm-style: norm1, attn.qkv/proj, norm2, mlp.fc1/fc2).</summary>
public sealed class ModulatorBlock : Module<Tensor, Tensor>
{
    private readonly LayerNorm norm1, norm2;
    private readonly ModulatorAttention attn;
    private readonly Mlp mlp;

    public ModulatorBlock(int dim, int heads, int mlpRatio) : base(nameof(ModulatorBlock))
    {
        norm1 = LayerNorm(dim);
        attn = new ModulatorAttention(dim, heads);
        norm2 = LayerNorm(dim);
        mlp = new Mlp(dim, dim * mlpRatio);
        register_module("norm1", norm1);
        register_module("attn", attn);
        register_module("norm2", norm2);
        register_module("mlp", mlp);
    }

    internal static void XavierInit(Linear l)
    {
        using var _ = no_grad();
        init.xavier_uniform_(l.weight!);
        if (l.bias is not null) init.zeros_(l.bias);
    }

    /// <param name="tokensPerModality">T when the sequence is [app_cls, mo_cls, T app, T mo] (restricted cls attention); -1 for one stream.</param>
    public Tensor Forward(Tensor x, int tokensPerModality)
    {
        using var scope = NewDisposeScope(); // the block's temporaries are freed when it returns
        var y = x.add(attn.Forward(norm1.forward(x), tokensPerModality), Scalars.Int1);
        return y.add(mlp.forward(norm2.forward(y)), Scalars.Int1).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor x) => Forward(x, -1);

    private sealed class Mlp : Module<Tensor, Tensor>
    {
        private readonly Linear fc1, fc2;
        public Mlp(int dim, int hidden) : base("Mlp")
        {
            fc1 = Linear(dim, hidden); fc2 = Linear(hidden, dim);
            register_module("fc1", fc1); register_module("fc2", fc2);
            XavierInit(fc1); XavierInit(fc2);
        }
        public override Tensor forward(Tensor x) => fc2.forward(functional.gelu(fc1.forward(x)));
    }

    /// <summary>
    /// Multi-head self-attention with the official cls-token mask: row 0 (appearance cls) sees itself and the
    /// appearance tokens, row 1 (motion cls) itself and the motion tokens, every patch token sees everything.
    /// Computed exactly as that masked softmax, but without a mask tensor: the patch rows are one unmasked
    /// attention, each cls row attends over its own key subset.
    /// </summary>
    private sealed class ModulatorAttention : Module<Tensor, Tensor>
    {
        private readonly Linear qkv, proj;
        private readonly int heads;

        public ModulatorAttention(int dim, int heads) : base("Attention")
        {
            this.heads = heads;
            qkv = Linear(dim, dim * 3);
            proj = Linear(dim, dim);
            register_module("qkv", qkv);
            register_module("proj", proj);
            XavierInit(qkv); XavierInit(proj);
        }

        /// <summary>
        /// Softmax attention with scale head_dim^-0.5. Head dims below 16 (b0: 160/16 = 10) are zero-padded to 16, which
        /// libtorch's CPU kernel runs ~1.4x faster; q is pre-scaled by sqrt(16/d) so the result is unchanged (the padded
        /// key dims add nothing to q.k, the padded value dims are dropped). bf16 inputs are attended in float32: the CPU
        /// kernel is no faster in bf16 (2050 tokens, 16 heads of 16: 61 ms float32, 70 ms bf16, measured), so this makes
        /// the bf16 modulator ~10 % faster (interleaved whole-model runs, b0 and b2) and its softmax float32.
        /// </summary>
        private static Tensor Attend(Tensor q, Tensor k, Tensor v)
        {
            if (q.dtype == ScalarType.BFloat16)
            {
                using var s = NewDisposeScope();
                return Attend(q.to_type(ScalarType.Float32), k.to_type(ScalarType.Float32), v.to_type(ScalarType.Float32)).to_type(ScalarType.BFloat16).MoveToOuterDisposeScope();
            }
            long d = q.shape[^1];
            if (d >= 16) return functional.scaled_dot_product_attention(q, k, v);
            using var scope = NewDisposeScope();
            var pad = new long[] { 0, 16 - d };
            using var scale = ((float)Math.Sqrt(16.0 / d)).ToScalar();
            var qp = functional.pad(q.mul(scale), pad);
            var out16 = functional.scaled_dot_product_attention(qp, functional.pad(k, pad), functional.pad(v, pad));
            return out16.narrow(-1, 0, d).MoveToOuterDisposeScope();
        }

        public Tensor Forward(Tensor x, int t)
        {
            long b = x.shape[0], n = x.shape[1], c = x.shape[2], d = c / heads;
            var qkvOut = qkv.forward(x).view(b, n, 3, heads, d).permute(2, 0, 3, 1, 4);
            Tensor q = qkvOut[0], k = qkvOut[1], v = qkvOut[2];
            Tensor ctx;
            if (t < 0)
                ctx = Attend(q, k, v);
            else
            {
                var patches = Attend(q.narrow(2, 2, n - 2), k, v);
                var appCls = Attend(q.narrow(2, 0, 1),
                    cat(new[] { k.narrow(2, 0, 1), k.narrow(2, 2, t) }, 2), cat(new[] { v.narrow(2, 0, 1), v.narrow(2, 2, t) }, 2));
                var moCls = Attend(q.narrow(2, 1, 1),
                    cat(new[] { k.narrow(2, 1, 1), k.narrow(2, 2 + t, t) }, 2), cat(new[] { v.narrow(2, 1, 1), v.narrow(2, 2 + t, t) }, 2));
                ctx = cat(new[] { appCls, moCls, patches }, 2);
            }
            return proj.forward(ctx.transpose(1, 2).reshape(b, n, c));
        }

        public override Tensor forward(Tensor x) => Forward(x, -1);
    }
}
