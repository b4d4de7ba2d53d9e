using Cmtm.IO;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Cmtm.Flow.Raft;

/// <summary>
/// utils.py InputPadder in 'sintel' mode (as demo.py uses it): replicate-pad H and W up to multiples of 8, split
/// evenly (the extra pixel goes to the bottom / right).
/// </summary>
public sealed class RaftPadder
{
    public int Height { get; }
    public int Width { get; }
    public int Top { get; }
    public int Bottom { get; }
    public int Left { get; }
    public int Right { get; }

    public RaftPadder(int height, int width)
    {
        Height = height; Width = width;
        int padH = ((height / 8 + 1) * 8 - height) % 8;
        int padW = ((width / 8 + 1) * 8 - width) % 8;
        Left = padW / 2; Right = padW - padW / 2;
        Top = padH / 2; Bottom = padH - padH / 2;
    }

    public int PaddedHeight => Height + Top + Bottom;
    public int PaddedWidth => Width + Left + Right;

    public Tensor Pad(Tensor x) =>
        F.pad(x, new long[] { Left, Right, Top, Bottom }, TorchSharp.PaddingModes.Replicate);

    public Tensor Unpad(Tensor x)
    {
        long ht = x.shape[^2], wd = x.shape[^1];
        return x[.., .., TensorIndex.Slice(Top, ht - Bottom), TensorIndex.Slice(Left, wd - Right)];
    }
}

/// <summary>
/// RAFT as an <see cref="IFlowEstimator"/>: frames (0..255 RGB) are padded as demo.py does, run through
/// <see cref="RaftModel"/> for <see cref="Iters"/> refinement steps in test mode, and the upsampled flow is cropped back
/// to the frame size. The estimator owns the model.
/// </summary>
public sealed class RaftFlow : IFlowEstimator
{
    public RaftModel Model { get; }
    public int Iters { get; }
    public Device Device { get; }

    public string Name => "raft";

    public RaftFlow(RaftModel model, int iters = 20, Device? device = null)
    {
        if (iters < 1) throw new CmtmException("iters", $"must be at least 1 (got {iters})");
        Model = model;
        Iters = iters;
        Device = device ?? CPU;
        Model.to(Device);
        Model.eval();
    }

    /// <summary>Smallest frame side RAFT accepts (padded to <see cref="RaftModel.MinPaddedSide"/>).</summary>
    public const int MinSide = RaftModel.MinPaddedSide - 7;

    public FlowField Estimate(RgbFrame from, RgbFrame to)
    {
        FlowEstimatorExtensions.CheckPair(from, to);
        if (from.Width < MinSide || from.Height < MinSide)
            throw new CmtmException(from.Source, $"frame is {from.Width}x{from.Height}; RAFT needs at least {MinSide} px per side (smaller inputs give NaN in the official code: the coarsest correlation level becomes 1 px)");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var padder = new RaftPadder(from.Height, from.Width);
        var a = padder.Pad(from.ToTensor255().to(Device));
        var f1 = CachedFeatures(from, padder);
        var f2 = CachedFeatures(to, padder);
        var (_, up) = Model.Refine(a, f1, f2, Iters);
        var flow = padder.Unpad(up);
        return FlowField.FromTensor(flow);
    }

    // fnet features of the last two frames seen (by reference): in a stream, frame t is image2 of pair (t-1, t) and
    // image1 of pair (t, t+1), and the backward pair of the last frame reuses both, so each frame is encoded once.
    private readonly List<(RgbFrame Frame, Tensor Features)> _cache = new();

    private Tensor CachedFeatures(RgbFrame frame, RaftPadder padder)
    {
        foreach (var (f, t) in _cache) if (ReferenceEquals(f, frame)) return t;
        Tensor feats;
        using (var scope = NewDisposeScope())
            feats = Model.Features(padder.Pad(frame.ToTensor255().to(Device))).DetachFromDisposeScope();
        _cache.Add((frame, feats));
        while (_cache.Count > 2) { _cache[0].Features.Dispose(); _cache.RemoveAt(0); }
        return feats;
    }

    public void Dispose()
    {
        foreach (var (_, t) in _cache) t.Dispose();
        _cache.Clear();
        Model.Dispose();
    }
}
