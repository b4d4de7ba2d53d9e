using Cmtm.IO.Checkpoints;
using Cmtm.Model;

namespace Cmtm.Flow.Raft;

/// <summary>Loads RAFT weights: official checkpoints (raft-things.pth, raft-sintel.pth, ... saved from
/// <c>DataParallel</c>, keys prefixed <c>module.</c>) or plain state dicts, .pth or safetensors.</summary>
public static class RaftCheckpoint
{
    /// <summary>A RAFT model in eval mode with all 179 tensors loaded strictly by name.</summary>
    public static RaftModel Load(string path)
    {
        using var state = CheckpointReader.Load(path);
        return Load(state, path);
    }

    public static RaftModel Load(StateDict state, string? source = null)
    {
        using var stripped = new StateDict { Source = source ?? state.Source };
        bool prefixed = state.Keys.Count > 0 && state.Keys.All(k => k.StartsWith("module.", StringComparison.Ordinal));
        foreach (var (k, v) in state.Items)
            stripped.Add(prefixed ? k["module.".Length..] : k, v.alias());
        var model = new RaftModel();
        try
        {
            ModuleLoader.Load(model, stripped, strict: true, source: source ?? state.Source);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return model;
    }
}
