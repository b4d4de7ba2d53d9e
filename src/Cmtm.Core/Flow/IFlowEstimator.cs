using Cmtm.Flow.Raft;
using Cmtm.IO;
using static TorchSharp.torch;

namespace Cmtm.Flow;

/// <summary>
/// Dense optical flow between two RGB frames of equal size: <c>Estimate(a, b)</c> is the flow a -> b, i.e. for
/// each pixel p of a, a's content at p is found at p + flow(p) in b (u = +x right, v = +y down).
/// </summary>
public interface IFlowEstimator : IDisposable
{
    /// <summary>Short name ("farneback", "raft").</summary>
    string Name { get; }

    FlowField Estimate(RgbFrame from, RgbFrame to);
}

/// <summary>The one place a flow method name becomes an estimator (segment, evaluate, flow, bench, serve ...).</summary>
public static class FlowEstimators
{
    /// <summary>The method names <see cref="Create"/> takes.</summary>
    public static readonly IReadOnlyList<string> Methods = ["farneback", "raft"];

    /// <summary>
    /// An estimator by method name: "farneback" (OpenCV, no weights) or "raft" (the RAFT port with the weights at
    /// <paramref name="raftWeights"/>, <paramref name="raftIters"/> refinement iterations, on <paramref name="device"/>).
    /// Errors name the setting ("flow", "raft-weights", "iters"); the CLI names its option instead.
    /// </summary>
    public static IFlowEstimator Create(string method, string? raftWeights = null, int raftIters = 20, Device? device = null)
    {
        switch (method.ToLowerInvariant())
        {
            case "farneback":
                return new FarnebackFlow();
            case "raft":
                if (string.IsNullOrEmpty(raftWeights))
                    throw new CmtmException("raft-weights", "flow method raft needs a checkpoint: the official RAFT weights (raft-things.pth or raft-sintel.pth from princeton-vl/RAFT's download_models.sh) or any state dict with the same keys");
                if (raftIters < 1) throw new CmtmException("iters", $"must be at least 1 (got {raftIters})");
                return new RaftFlow(RaftCheckpoint.Load(raftWeights), raftIters, device);
            default:
                throw new CmtmException("flow", $"unknown flow method '{method}' (expected {string.Join(" or ", Methods)})");
        }
    }
}

public static class FlowEstimatorExtensions
{
    /// <summary>Flow between two frame tensors: uint8 (H,W,3) RGB, or float (3,H,W)/(1,3,H,W) in 0..255.
    /// Returns a (1,2,H,W) float32 tensor (RAFT layout).</summary>
    public static Tensor Estimate(this IFlowEstimator estimator, Tensor from, Tensor to)
    {
        var flow = estimator.Estimate(RgbFrame.FromTensor(from), RgbFrame.FromTensor(to));
        return flow.ToTensorNchw();
    }

    internal static void CheckPair(RgbFrame a, RgbFrame b)
    {
        if (a.Width != b.Width || a.Height != b.Height)
            throw new CmtmException(b.Source, $"frame is {b.Width}x{b.Height} but {a.Source} is {a.Width}x{a.Height}; flow needs frames of one size");
    }
}

/// <summary>A frame and the flow assigned to it (null when the caller asked to skip the frame).</summary>
public readonly record struct FramedFlow(RgbFrame Frame, FlowField? Flow, bool IsBackward);

/// <summary>
/// Streams (frame, flow) pairs over a frame sequence: frame t gets the forward flow t -> t+1, the last frame the
/// backward flow t -> t-1 (as the official UVOS flow-preparation scripts do), so every frame has a flow.
/// Only two frames are held at any time, so memory stays bounded for arbitrarily long videos.
/// </summary>
public static class FlowSequence
{
    /// <param name="skip">Frames for which it returns true are yielded with a null flow and the estimator is not
    /// called for them (resuming: their outputs exist already).</param>
    public static IEnumerable<FramedFlow> Stream(IEnumerable<RgbFrame> frames, IFlowEstimator estimator, string? source = null,
        Func<RgbFrame, bool>? skip = null)
    {
        RgbFrame? prev = null, prevPrev = null;
        foreach (var frame in frames)
        {
            if (prev != null)
            {
                FlowEstimatorExtensions.CheckPair(prev, frame);
                yield return skip?.Invoke(prev) == true
                    ? new FramedFlow(prev, null, false)
                    : new FramedFlow(prev, estimator.Estimate(prev, frame), false);
            }
            prevPrev = prev;
            prev = frame;
        }
        if (prev == null) throw new CmtmException(source ?? "<frames>", "no frames");
        if (prevPrev == null) throw new CmtmException(source ?? prev.Source, "a flow needs at least two frames, the input has one");
        yield return skip?.Invoke(prev) == true
            ? new FramedFlow(prev, null, true)
            : new FramedFlow(prev, estimator.Estimate(prev, prevPrev), true);
    }
}
