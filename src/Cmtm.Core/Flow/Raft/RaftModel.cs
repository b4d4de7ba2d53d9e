using Cmtm.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Cmtm.Flow.Raft;

/// <summary>RAFT's numeric constants as long-lived Scalars (see <see cref="Scalars"/>), each of the type the C# literal
/// had in the operator it replaces, so the results are bit-identical.</summary>
internal static class RaftScalars
{
    public static readonly Scalar Int2 = 2.ToScalar();
    public static readonly Scalar Int8 = 8.ToScalar();
    public static readonly Scalar Float1 = 1f.ToScalar();
    public static readonly Scalar Quarter = 0.25.ToScalar();
}

// Port of RAFT (princeton-vl/RAFT @ 2888e15, core/raft.py, extractor.py, update.py, corr.py, utils/utils.py),
// large configuration: hidden 128, context 128, 4 correlation levels of radius 4, no dropout, float32.
// Module and parameter names equal the official ones (checkpoint keys without `module.`), so a state dict
// loads by name (see RaftCheckpoint.Load / Cmtm.Model.ModuleLoader).

/// <summary>extractor.py ResidualBlock with 'batch' or 'instance' normalisation.</summary>
internal sealed class RaftResidualBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly Module<Tensor, Tensor> norm1, norm2;
    private readonly Sequential? downsample;

    public RaftResidualBlock(int inPlanes, int planes, bool batchNorm, int stride) : base("ResidualBlock")
    {
        conv1 = Conv2d(inPlanes, planes, 3, stride: stride, padding: 1);
        conv2 = Conv2d(planes, planes, 3, padding: 1);
        norm1 = RaftNorm.Make(planes, batchNorm);
        norm2 = RaftNorm.Make(planes, batchNorm);
        register_module("conv1", conv1);
        register_module("conv2", conv2);
        register_module("norm1", norm1);
        register_module("norm2", norm2);
        if (stride != 1)
        {
            // In PyTorch one norm module is reachable as both `norm3` and `downsample.1`, so checkpoints hold both
            // keys with identical values. TorchSharp's state_dict lists a shared module only once, so here they are
            // two modules loaded from their own keys; forward uses `downsample.1`, `norm3` only mirrors the keys.
            register_module("norm3", RaftNorm.Make(planes, batchNorm));
            downsample = Sequential(Conv2d(inPlanes, planes, 1, stride: stride), RaftNorm.Make(planes, batchNorm));
            register_module("downsample", downsample);
        }
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = F.relu(norm1.forward(conv1.forward(x)));
        y = F.relu(norm2.forward(conv2.forward(y)));
        var skip = downsample != null ? downsample.forward(x) : x;
        return F.relu(skip.add(y, Scalars.Int1)).MoveToOuterDisposeScope();
    }
}

internal static class RaftNorm
{
    public static Module<Tensor, Tensor> Make(int planes, bool batchNorm) =>
        batchNorm ? BatchNorm2d(planes) : InstanceNorm2d(planes);
}

/// <summary>extractor.py BasicEncoder: 7x7/2 conv, 3 residual stages (64, 96/2, 128/2), 1x1 output conv: 1/8 resolution.</summary>
public sealed class RaftEncoder : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> norm1;
    private readonly Conv2d conv1, conv2;
    private readonly Sequential layer1, layer2, layer3;

    public RaftEncoder(int outputDim, bool batchNorm) : base("BasicEncoder")
    {
        norm1 = RaftNorm.Make(64, batchNorm);
        conv1 = Conv2d(3, 64, 7, stride: 2, padding: 3);
        layer1 = Sequential(new RaftResidualBlock(64, 64, batchNorm, 1), new RaftResidualBlock(64, 64, batchNorm, 1));
        layer2 = Sequential(new RaftResidualBlock(64, 96, batchNorm, 2), new RaftResidualBlock(96, 96, batchNorm, 1));
        layer3 = Sequential(new RaftResidualBlock(96, 128, batchNorm, 2), new RaftResidualBlock(128, 128, batchNorm, 1));
        conv2 = Conv2d(128, outputDim, 1);
        register_module("norm1", norm1);
        register_module("conv1", conv1);
        register_module("layer1", layer1);
        register_module("layer2", layer2);
        register_module("layer3", layer3);
        register_module("conv2", conv2);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = F.relu(norm1.forward(conv1.forward(x)));
        y = layer3.forward(layer2.forward(layer1.forward(y)));
        return conv2.forward(y).MoveToOuterDisposeScope();
    }
}

/// <summary>update.py BasicMotionEncoder: correlation (324 ch) + flow (2 ch) -> 128 motion features (126 + flow).</summary>
internal sealed class RaftMotionEncoder : Module<Tensor, Tensor, Tensor>
{
    private readonly Conv2d convc1, convc2, convf1, convf2, conv;

    public RaftMotionEncoder(int corrPlanes) : base("BasicMotionEncoder")
    {
        convc1 = Conv2d(corrPlanes, 256, 1);
        convc2 = Conv2d(256, 192, 3, padding: 1);
        convf1 = Conv2d(2, 128, 7, padding: 3);
        convf2 = Conv2d(128, 64, 3, padding: 1);
        conv = Conv2d(64 + 192, 128 - 2, 3, padding: 1);
        register_module("convc1", convc1);
        register_module("convc2", convc2);
        register_module("convf1", convf1);
        register_module("convf2", convf2);
        register_module("conv", conv);
    }

    public override Tensor forward(Tensor flow, Tensor corr)
    {
        using var scope = NewDisposeScope();
        var cor = F.relu(convc2.forward(F.relu(convc1.forward(corr))));
        var flo = F.relu(convf2.forward(F.relu(convf1.forward(flow))));
        var o = F.relu(conv.forward(cat(new[] { cor, flo }, 1)));
        return cat(new[] { o, flow }, 1).MoveToOuterDisposeScope();
    }
}

/// <summary>update.py SepConvGRU: a horizontal (1x5) then a vertical (5x1) ConvGRU step.</summary>
internal sealed class RaftSepConvGru : Module<Tensor, Tensor, Tensor>
{
    private readonly Conv2d convz1, convr1, convq1, convz2, convr2, convq2;

    public RaftSepConvGru(int hidden, int input) : base("SepConvGRU")
    {
        int c = hidden + input;
        convz1 = Conv2d(c, hidden, (1, 5), padding: (0, 2));
        convr1 = Conv2d(c, hidden, (1, 5), padding: (0, 2));
        convq1 = Conv2d(c, hidden, (1, 5), padding: (0, 2));
        convz2 = Conv2d(c, hidden, (5, 1), padding: (2, 0));
        convr2 = Conv2d(c, hidden, (5, 1), padding: (2, 0));
        convq2 = Conv2d(c, hidden, (5, 1), padding: (2, 0));
        register_module("convz1", convz1);
        register_module("convr1", convr1);
        register_module("convq1", convq1);
        register_module("convz2", convz2);
        register_module("convr2", convr2);
        register_module("convq2", convq2);
    }

    private static Tensor Step(Tensor h, Tensor x, Conv2d cz, Conv2d cr, Conv2d cq)
    {
        var hx = cat(new[] { h, x }, 1);
        var z = sigmoid(cz.forward(hx));
        var r = sigmoid(cr.forward(hx));
        var q = tanh(cq.forward(cat(new[] { r * h, x }, 1)));
        return z.negative().add(Scalars.Int1, Scalars.Int1).mul(h).add(z.mul(q), Scalars.Int1); // (1 - z) * h + z * q
    }

    public override Tensor forward(Tensor h, Tensor x)
    {
        using var scope = NewDisposeScope();
        h = Step(h, x, convz1, convr1, convq1);
        h = Step(h, x, convz2, convr2, convq2);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>update.py FlowHead: 3x3 conv 128->256, ReLU, 3x3 conv 256->2.</summary>
internal sealed class RaftFlowHead : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;

    public RaftFlowHead(int input, int hidden) : base("FlowHead")
    {
        conv1 = Conv2d(input, hidden, 3, padding: 1);
        conv2 = Conv2d(hidden, 2, 3, padding: 1);
        register_module("conv1", conv1);
        register_module("conv2", conv2);
    }

    public override Tensor forward(Tensor x)
    {
        using var h = F.relu(conv1.forward(x));
        return conv2.forward(h);
    }
}

/// <summary>update.py BasicUpdateBlock: motion encoder, SepConvGRU, flow head, and the convex-upsampling mask head.</summary>
public sealed class RaftUpdateBlock : Module
{
    private readonly RaftMotionEncoder encoder;
    private readonly RaftSepConvGru gru;
    private readonly RaftFlowHead flow_head;
    private readonly Sequential mask;

    public RaftUpdateBlock(int corrPlanes, int hidden = 128) : base("BasicUpdateBlock")
    {
        encoder = new RaftMotionEncoder(corrPlanes);
        gru = new RaftSepConvGru(hidden, 128 + hidden);
        flow_head = new RaftFlowHead(hidden, 256);
        mask = Sequential(Conv2d(128, 256, 3, padding: 1), ReLU(), Conv2d(256, 64 * 9, 1));
        register_module("encoder", encoder);
        register_module("gru", gru);
        register_module("flow_head", flow_head);
        register_module("mask", mask);
    }

    /// <summary>Returns (net, up_mask (scaled by 0.25), delta_flow).</summary>
    public (Tensor Net, Tensor Mask, Tensor Delta) Forward(Tensor net, Tensor inp, Tensor corr, Tensor flow)
    {
        using var scope = NewDisposeScope();
        var motion = encoder.forward(flow, corr);
        var x = cat(new[] { inp, motion }, 1);
        var h = gru.forward(net, x);
        var delta = flow_head.forward(h);
        var m = mask.forward(h).mul(RaftScalars.Quarter);
        return (h.MoveToOuterDisposeScope(), m.MoveToOuterDisposeScope(), delta.MoveToOuterDisposeScope());
    }
}

/// <summary>corr.py CorrBlock: all-pairs correlation pyramid (avg-pooled levels) and its windowed lookup.</summary>
public sealed class RaftCorrBlock : IDisposable
{
    private readonly Tensor[] pyramid;
    private readonly Tensor delta; // (1, 2r+1, 2r+1, 2): delta[i,j] = (lin[i], lin[j]) as torch.stack(meshgrid(dy, dx), -1)
    private readonly int radius;
    private readonly long batch, h1, w1;

    public RaftCorrBlock(Tensor fmap1, Tensor fmap2, int levels = 4, int radius = 4)
    {
        this.radius = radius;
        long dim = fmap1.shape[1];
        batch = fmap1.shape[0]; h1 = fmap1.shape[2]; w1 = fmap1.shape[3];
        pyramid = new Tensor[levels];
        using (var scope = NewDisposeScope())
        {
            var f1 = fmap1.view(batch, dim, h1 * w1);
            var f2 = fmap2.view(batch, dim, h1 * w1);
            var corr = matmul(f1.transpose(1, 2), f2).view(batch, h1, w1, 1, h1, w1);
            corr = corr / sqrt(tensor((float)dim));
            corr = corr.reshape(batch * h1 * w1, 1, h1, w1);
            pyramid[0] = corr.DetachFromDisposeScope(); // owned by this block
            for (int i = 1; i < levels; i++)
                pyramid[i] = F.avg_pool2d(pyramid[i - 1], 2, stride: 2).DetachFromDisposeScope();
            var lin = linspace(-radius, radius, 2 * radius + 1, dtype: ScalarType.Float32, device: fmap1.device);
            var mesh = meshgrid(new[] { lin, lin }, indexing: "ij");
            delta = stack(mesh, -1).view(1, 2 * radius + 1, 2 * radius + 1, 2).DetachFromDisposeScope();
        }
    }

    public int Levels => pyramid.Length;

    /// <summary>Correlation features (B, levels*(2r+1)^2, H1, W1) around coords (B,2,H1,W1) (x, y in 1/8 pixels).</summary>
    public Tensor Lookup(Tensor coords)
    {
        using var scope = NewDisposeScope();
        var c = coords.permute(0, 2, 3, 1);
        var outs = new Tensor[pyramid.Length];
        for (int i = 0; i < pyramid.Length; i++)
        {
            var corr = pyramid[i];
            using var scale = ((float)(1 << i)).ToScalar();
            var centroid = c.reshape(batch * h1 * w1, 1, 1, 2).div(scale);
            var coordsLvl = centroid.add(delta, Scalars.Int1);
            outs[i] = BilinearSampler(corr, coordsLvl).view(batch, h1, w1, -1);
        }
        return cat(outs, -1).permute(0, 3, 1, 2).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>utils.py bilinear_sampler: grid_sample with pixel coordinates, align_corners=True, zero padding.</summary>
    internal static Tensor BilinearSampler(Tensor img, Tensor coords)
    {
        using var scope = NewDisposeScope();
        long h = img.shape[^2], w = img.shape[^1];
        var parts = coords.split(new long[] { 1, 1 }, -1);
        using var wScale = ((float)(w - 1)).ToScalar();
        using var hScale = ((float)(h - 1)).ToScalar();
        var xg = parts[0].mul(RaftScalars.Int2).div(wScale).sub(Scalars.Int1); // 2 * x / (W - 1) - 1
        var yg = parts[1].mul(RaftScalars.Int2).div(hScale).sub(Scalars.Int1);
        var grid = cat(new[] { xg, yg }, -1);
        return F.grid_sample(img, grid, align_corners: true).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var p in pyramid) p?.Dispose();
        delta.Dispose();
    }
}

/// <summary>
/// RAFT (large): feature encoder fnet (instance norm, 256 ch), context encoder cnet (batch norm, 256 = hidden 128 +
/// context 128), all-pairs correlation pyramid (4 levels, radius 4), BasicUpdateBlock, convex upsampling x8.
/// Inputs are RGB float images with values 0..255, (B,3,H,W), H and W multiples of 8 (see <see cref="RaftFlow"/> for
/// padding). Call <c>eval()</c> after loading: cnet's BatchNorm must use its running statistics.
/// </summary>
public sealed class RaftModel : Module
{
    public const int HiddenDim = 128, ContextDim = 128, CorrLevels = 4, CorrRadius = 4;

    /// <summary>Smallest padded side: the 4th correlation level must be at least 2 px (a 1-px level divides by
    /// (H-1) = 0 in bilinear_sampler and the official code returns NaN).</summary>
    public const int MinPaddedSide = 128;

    private readonly RaftEncoder fnet, cnet;
    private readonly RaftUpdateBlock update_block;

    public RaftModel() : base("RAFT")
    {
        fnet = new RaftEncoder(256, batchNorm: false);
        cnet = new RaftEncoder(HiddenDim + ContextDim, batchNorm: true);
        update_block = new RaftUpdateBlock(CorrLevels * (2 * CorrRadius + 1) * (2 * CorrRadius + 1), HiddenDim);
        register_module("fnet", fnet);
        register_module("cnet", cnet);
        register_module("update_block", update_block);
    }

    public RaftEncoder FeatureEncoder => fnet;
    public RaftEncoder ContextEncoder => cnet;

    /// <summary>2 * (x / 255) - 1, as raft.py.</summary>
    public static Tensor Normalize(Tensor image255)
    {
        using var scope = NewDisposeScope();
        return image255.div(Scalars.Float255).mul(RaftScalars.Int2).sub(RaftScalars.Float1).MoveToOuterDisposeScope();
    }

    /// <summary>fnet features (B,256,H/8,W/8) of one image batch (0..255 input).
    /// raft.py runs fnet on cat([image1, image2]); InstanceNorm is per sample, so running each image alone gives the
    /// same result (parity tests: bit-identical here) at about half the CPU time of the batch-2 call, and lets a
    /// video reuse a frame's features for the next pair.</summary>
    public Tensor Features(Tensor image255)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return fnet.forward(Normalize(image255).contiguous()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// raft.py forward. Returns (flow_low (B,2,H/8,W/8), flow_up (B,2,H,W)). With <paramref name="predictions"/>
    /// every iteration's flow_up is appended (the test_mode=False output); the caller owns those tensors.
    /// </summary>
    public (Tensor FlowLow, Tensor FlowUp) Forward(Tensor image1, Tensor image2, int iters = 20, Tensor? flowInit = null,
        List<Tensor>? predictions = null, Action<int>? onIteration = null)
    {
        CheckSize(image1);
        using var scope = NewDisposeScope();
        var f1 = Features(image1);
        var f2 = Features(image2);
        var (low, up) = Refine(image1, f1, f2, iters, flowInit, predictions, onIteration);
        return (low.MoveToOuterDisposeScope(), up.MoveToOuterDisposeScope());
    }

    private static void CheckSize(Tensor image)
    {
        long ht = image.shape[2], wd = image.shape[3];
        if (ht % 8 != 0 || wd % 8 != 0)
            throw new ArgumentException($"RAFT input {wd}x{ht} must be a multiple of 8 (pad with RaftPadder)");
        if (ht < MinPaddedSide || wd < MinPaddedSide)
            throw new CmtmException("raft", $"input {wd}x{ht} is too small: RAFT needs at least {MinPaddedSide} px per side after padding (the coarsest correlation level would be 1 px and the official code returns NaN)");
    }

    /// <summary>The rest of raft.py forward given the fnet features of both images: context network on image1,
    /// correlation pyramid, <paramref name="iters"/> GRU updates with convex upsampling.</summary>
    public (Tensor FlowLow, Tensor FlowUp) Refine(Tensor image1, Tensor fmap1, Tensor fmap2, int iters = 20, Tensor? flowInit = null,
        List<Tensor>? predictions = null, Action<int>? onIteration = null)
    {
        if (iters < 1) throw new ArgumentOutOfRangeException(nameof(iters), "iters must be >= 1");
        CheckSize(image1);
        long n = image1.shape[0], ht = image1.shape[2], wd = image1.shape[3];

        using var outer = NewDisposeScope();
        using var _ = no_grad();
        Tensor net, inp, coords0, coords1, flowUp;
        RaftCorrBlock corrFn;
        using (var scope = NewDisposeScope())
        {
            var i1 = Normalize(image1).contiguous();
            corrFn = new RaftCorrBlock(fmap1, fmap2, CorrLevels, CorrRadius);
            var c = cnet.forward(i1);
            var parts = c.split(new long[] { HiddenDim, ContextDim }, 1);
            net = tanh(parts[0]).MoveToOuterDisposeScope();
            inp = F.relu(parts[1]).MoveToOuterDisposeScope();
            coords0 = CoordsGrid(n, ht / 8, wd / 8, image1.device).MoveToOuterDisposeScope();
            coords1 = CoordsGrid(n, ht / 8, wd / 8, image1.device);
            if (flowInit is not null) coords1 = coords1.add(flowInit, Scalars.Int1);
            coords1 = coords1.MoveToOuterDisposeScope();
        }
        flowUp = null!;
        try
        {
            for (int itr = 0; itr < iters; itr++)
            {
                using var scope = NewDisposeScope();
                var corr = corrFn.Lookup(coords1);
                var flow = coords1 - coords0;
                var (newNet, upMask, delta) = update_block.Forward(net, inp, corr, flow);
                var newCoords = coords1.add(delta, Scalars.Int1);
                var up = UpsampleFlow(newCoords - coords0, upMask);
                // hand the loop state to the outer scope and release the previous one
                net.Dispose(); coords1.Dispose(); flowUp?.Dispose();
                net = newNet.MoveToOuterDisposeScope();
                coords1 = newCoords.MoveToOuterDisposeScope();
                flowUp = up.MoveToOuterDisposeScope();
                if (predictions != null) predictions.Add(flowUp.clone().DetachFromDisposeScope());
                onIteration?.Invoke(itr);
            }
        }
        finally { corrFn.Dispose(); }
        var flowLow = (coords1 - coords0);
        return (flowLow.MoveToOuterDisposeScope(), flowUp.MoveToOuterDisposeScope());
    }

    /// <summary>utils.py coords_grid: (B,2,H,W), channel 0 = x, channel 1 = y.</summary>
    public static Tensor CoordsGrid(long batch, long ht, long wd, Device device)
    {
        using var scope = NewDisposeScope();
        var ys = Scalars.Arange(ht, device: device);
        var xs = Scalars.Arange(wd, device: device);
        var mesh = meshgrid(new[] { ys, xs }, indexing: "ij");
        var coords = stack(new[] { mesh[1], mesh[0] }, 0).to(ScalarType.Float32);
        return coords.unsqueeze(0).repeat(batch, 1, 1, 1).MoveToOuterDisposeScope();
    }

    /// <summary>raft.py upsample_flow: convex combination of 3x3 neighbours with softmax weights, x8.</summary>
    public static Tensor UpsampleFlow(Tensor flow, Tensor mask)
    {
        using var scope = NewDisposeScope();
        long n = flow.shape[0], h = flow.shape[2], w = flow.shape[3];
        var m = softmax(mask.view(n, 1, 9, 8, 8, h, w), 2);
        var up = F.unfold(flow.mul(RaftScalars.Int8), (3, 3), padding: (1, 1));
        up = up.view(n, 2, 9, 1, 1, h, w);
        up = sum(m * up, 2);
        up = up.permute(0, 1, 4, 2, 5, 3);
        return up.reshape(n, 2, 8 * h, 8 * w).MoveToOuterDisposeScope();
    }
}
