using Cmtm.IO.Checkpoints;
using Cmtm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Model;

/// <summary>What a state-dict load found; printed by the CLI and thrown (strict mode) when not clean.</summary>
public sealed record LoadReport(IReadOnlyList<string> Loaded, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected,
    IReadOnlyList<string> ShapeMismatches)
{
    public bool Clean => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0;

    public string Describe(int maxNames = 8)
    {
        static string List(IReadOnlyList<string> xs, int max) =>
            string.Join(", ", xs.Take(max)) + (xs.Count > max ? $", ... ({xs.Count - max} more)" : "");
        var parts = new List<string>();
        if (Missing.Count > 0) parts.Add($"{Missing.Count} missing key(s): {List(Missing, maxNames)}");
        if (Unexpected.Count > 0) parts.Add($"{Unexpected.Count} unexpected key(s): {List(Unexpected, maxNames)}");
        if (ShapeMismatches.Count > 0) parts.Add($"{ShapeMismatches.Count} shape mismatch(es): {List(ShapeMismatches, maxNames)}");
        return parts.Count == 0 ? $"all {Loaded.Count} tensors loaded" : string.Join("; ", parts);
    }
}

/// <summary>Loads a <see cref="StateDict"/> into a module by name (parameters and persistent buffers).</summary>
public static class ModuleLoader
{
    /// <summary>
    /// Copies every matching tensor (converted to the module's dtype and device). Strict: any missing key,
    /// unexpected key or shape mismatch throws a <see cref="CmtmException"/> naming them, before anything is copied.
    /// Non-strict: loads what matches, skips the rest (shape mismatches still throw), and reports.
    /// </summary>
    public static LoadReport Load(nn.Module module, StateDict state, bool strict = true, string? source = null)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !target.ContainsKey(k)).ToList();
        var mismatches = new List<string>();
        foreach (var (key, value) in state.Items)
            if (target.TryGetValue(key, out var t) && !t.shape.SequenceEqual(value.shape))
                mismatches.Add($"{key} (checkpoint {Shape(value)}, model {Shape(t)})");
        var report = new LoadReport(Array.Empty<string>(), missing, unexpected, mismatches);
        if (mismatches.Count > 0 || (strict && !report.Clean))
            throw new CmtmException(source ?? state.Source, "checkpoint does not match the model: " + report.Describe());
        var loaded = new List<string>();
        using (no_grad())
        {
            foreach (var (key, value) in state.Items)
            {
                if (!target.TryGetValue(key, out var t)) continue;
                t.copy_(value);
                loaded.Add(key);
            }
        }
        return report with { Loaded = loaded };
    }

    /// <summary>The module's state (parameters and persistent buffers) as a StateDict of detached CPU copies.</summary>
    public static StateDict Export(nn.Module module)
    {
        var sd = new StateDict();
        foreach (var (k, v) in module.state_dict())
            sd.Add(k, TensorCopies.CpuClone(v));
        return sd;
    }

    public static string Shape(Tensor t) => "(" + string.Join(",", t.shape) + ")";
}
