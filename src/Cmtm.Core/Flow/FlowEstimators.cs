using Cmtm.Flow.Raft;
using Cmtm.Runtime;

namespace Cmtm.Flow;

/// <summary>Flow estimators by name, as the commands and `cmtm serve` choose them.</summary>
public static class FlowEstimators
{
    /// <summary>The method names <see cref="Create"/> accepts.</summary>
    public static readonly string[] Methods = ["farneback", "raft"];

    /// <summary>
    /// <c>farneback</c>, or <c>raft</c> with a RAFT checkpoint (<paramref name="weights"/>) and <paramref name="iters"/>
    /// iterations on <paramref name="device"/>; a <see cref="CmtmException"/> for an unknown method or missing weights.
    /// </summary>
    public static IFlowEstimator Create(string method, string? weights, int iters, string? device)
    {
        switch (method.ToLowerInvariant())
        {
            case "farneback":
                return new FarnebackFlow();
            case "raft":
                if (string.IsNullOrEmpty(weights))
                    throw new CmtmException("--weights", "--method raft needs a checkpoint: the official RAFT weights (raft-things.pth or raft-sintel.pth from princeton-vl/RAFT's download_models.sh) or any state dict with the same keys");
                if (iters < 1) throw new CmtmException("--iters", $"must be at least 1 (got {iters})");
                var dev = TorchRuntime.ParseDevice(device);
                return new RaftFlow(RaftCheckpoint.Load(weights), iters, dev);
            default:
                throw new CmtmException("--method", $"unknown flow method '{method}' (expected farneback or raft)");
        }
    }
}
